/*
 * store: the typed storage API and the storage thread.
 *
 * Workers never touch the database. They fill a struct store_req and
 * submit it; the storage thread takes everything queued, runs it in one
 * transaction (group commit), and posts each request back, with its status
 * set, to the mailbox named in the request. The completion (req->mail.fn)
 * then runs on the asking worker's thread. A request is owned by the store
 * between submit and completion.
 *
 * The same operations are plain synchronous functions on a struct store_db,
 * for the storage thread itself and for ternctl (which opens the database
 * directly; SQLite in WAL mode lets it work while ternd runs).
 *
 * The API is domain-shaped: accounts here; rosters in store_roster.h;
 * offline messages, the archive and block lists in store_msg.h; vCards,
 * private XML and PEP in store_blob.h. Their asynchronous form is one
 * op, STORE_RUN, whose run function calls the domain's typed functions
 * on the storage thread.
 */
#ifndef TERN_STORE_STORE_H
#define TERN_STORE_STORE_H

#include "core/mailbox.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_KEY_MAX  32   /* bytes of the largest SCRAM digest (SHA-256) */
#define STORE_SALT_MAX 64   /* bytes */
#define STORE_USER_MAX 1023 /* bytes of a JID local part */

/** One SCRAM credential (salted keys, never the password). */
struct store_scram {
    unsigned char stored_key[STORE_KEY_MAX];
    unsigned char server_key[STORE_KEY_MAX];
    unsigned char salt[STORE_SALT_MAX];
    size_t salt_len;
    unsigned iterations;
};

/** An account: the normalized local part and its credentials for both hashes. */
struct store_account {
    char user[STORE_USER_MAX + 1];
    struct store_scram sha1;   /* SCRAM-SHA-1 */
    struct store_scram sha256; /* SCRAM-SHA-256 */
    int64_t created;           /* unix seconds */
};

/* ---- synchronous backend API (storage thread, ternctl) ---------------------------------- */

struct store_db;

/**
 * Opens (creating if needed, mode 0600) the SQLite database at path, sets
 * WAL mode and a busy timeout, and applies pending schema migrations.
 * The handle belongs to one thread at a time (SQLite's own mutexes are off).
 * Returns 0 and *out, or a negative errno with a message logged: -ENOTSUP
 * if the database was written by a newer tern (its schema version is higher
 * than this code knows), -EIO for SQLite failures, or open(2)'s error.
 */
int store_db_open(const char *path, struct store_db **out);
/** Closes the database. NULL-safe. */
void store_db_close(struct store_db *db);
/**
 * Transaction control. begin takes the write lock at once (BEGIN IMMEDIATE),
 * waiting up to the busy timeout for another process (ternctl) to let go.
 * rollback is a no-op when no transaction is open. Return 0 or -EIO.
 */
int store_db_begin(struct store_db *db);
int store_db_commit(struct store_db *db);
int store_db_rollback(struct store_db *db);
/**
 * One savepoint level inside a transaction, so one request of a batch can
 * fail alone: savepoint opens it, rollback_to undoes what happened since
 * (the savepoint stays open), release closes it. Return 0 or -EIO (after an
 * -EIO the whole transaction must be rolled back).
 */
int store_db_savepoint(struct store_db *db);
int store_db_rollback_to(struct store_db *db);
int store_db_release(struct store_db *db);
/** Returns the schema version the database is at, or -EIO. */
int store_db_version(struct store_db *db);
/**
 * Writes a consistent copy of the whole database to dest (a new file, mode
 * 0600; an existing dest is refused with -EEXIST) with SQLite's online
 * backup API. Safe while ternd runs. Returns 0 or a negative errno; a
 * failed copy is removed.
 */
int store_db_backup(struct store_db *db, const char *dest);

/** Reads an account into out. Returns 0, -ENOENT, or -EIO (also for a corrupt row). */
int store_account_get(struct store_db *db, const char *user, struct store_account *out);
/**
 * Creates an account (a->created 0: now). Returns 0, -EEXIST, -EINVAL (empty
 * or unterminated user, salt_len 0 or over STORE_SALT_MAX, iterations 0), or -EIO.
 */
int store_account_add(struct store_db *db, const struct store_account *a);
/**
 * Replaces an existing account's credentials (created is kept).
 * Returns 0, -ENOENT, -EINVAL (as for add), or -EIO.
 */
int store_account_update(struct store_db *db, const struct store_account *a);
/** Deletes an account and everything it owns. Returns 0, -ENOENT, or -EIO. */
int store_account_del(struct store_db *db, const char *user);
/**
 * Calls fn for each account name in byte order (memcmp). fn must not call
 * store_account_list on the same db. Returns 0 when all were seen, fn's
 * non-zero return value if it stopped early, or -EIO.
 */
int store_account_list(struct store_db *db, int (*fn)(void *arg, const char *user), void *arg);

/* ---- the storage thread ----------------------------------------------------------------- */

enum store_op {
    STORE_ACCOUNT_GET,    /* in: user; out: account */
    STORE_ACCOUNT_ADD,    /* in: account */
    STORE_ACCOUNT_UPDATE, /* in: account */
    STORE_ACCOUNT_DEL,    /* in: user */
    STORE_RUN,            /* in: run (and whatever it reads through arg) */
};

struct store_req {
    struct mail mail;      /* completion: fn runs on the reply mailbox's owner */
    struct mailbox *reply; /* where the finished request is posted */
    enum store_op op;
    int status; /* out: 0 or negative errno */
    /**
     * Optional: runs on the storage thread after the operation's transaction
     * ended (status says how it went), before the request is posted back.
     * For CPU-heavy work that must stay off the event loops (a PLAIN
     * password check). May change status. Must not call store_stop.
     */
    void (*after)(struct store_req *r);
    void *arg; /* for the requester */
    /**
     * STORE_RUN: runs on the storage thread inside the batch's transaction
     * (in its own savepoint) and returns the status. It calls the typed
     * synchronous functions of a domain (store_roster.h, store_msg.h,
     * store_blob.h), reading its inputs and writing its outputs through
     * arg or a struct that embeds this request. Nothing here may touch a
     * worker's objects.
     */
    int (*run)(struct store_db *db, struct store_req *r);
    union {
        struct {
            char user[STORE_USER_MAX + 1];
            struct store_account account;
        } account;
    } u;
};

struct store;

/**
 * Opens the database (see store_db_open) and starts the storage thread
 * (all signals blocked in it). Returns NULL on error (logged).
 */
struct store *store_start(const char *path);
/**
 * Queues r (mail.fn, reply, op and the op's inputs filled in; the store owns
 * r until it is posted to r->reply). Requests run in submit order; a batch
 * is one transaction, each request inside its own savepoint. r is handed
 * back only after its batch committed (status -EIO for all if it did not):
 * first after runs, then r is posted. A request submitted once store_stop has begun is
 * posted back at once with -ESHUTDOWN. Any thread.
 */
void store_submit(struct store *s, struct store_req *r);
/**
 * Stops accepting, finishes every queued request (completions are still
 * posted), stops the thread and closes the database. NULL-safe. Call it once,
 * from a thread that is not the storage thread.
 */
void store_stop(struct store *s);

#endif
