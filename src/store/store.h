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
 * The API is domain-shaped: accounts now; roster, offline messages, the
 * archive, rooms and private XML join it as features arrive.
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
 * Returns 0 and *out, or a negative errno with a message logged.
 */
int store_db_open(const char *path, struct store_db **out);
/** Closes the database. NULL-safe. */
void store_db_close(struct store_db *db);
/** Transaction control. Return 0 or -EIO. */
int store_db_begin(struct store_db *db);
int store_db_commit(struct store_db *db);
int store_db_rollback(struct store_db *db);
/** Returns the schema version the database is at. */
int store_db_version(struct store_db *db);

/** Reads an account. Returns 0, -ENOENT, or -EIO. */
int store_account_get(struct store_db *db, const char *user, struct store_account *out);
/** Creates an account. Returns 0, -EEXIST, or -EIO. */
int store_account_add(struct store_db *db, const struct store_account *a);
/** Replaces an existing account's credentials. Returns 0, -ENOENT, or -EIO. */
int store_account_update(struct store_db *db, const struct store_account *a);
/** Deletes an account and everything it owns. Returns 0, -ENOENT, or -EIO. */
int store_account_del(struct store_db *db, const char *user);
/** Calls fn for each account name in sorted order; stops early if fn returns non-zero. */
int store_account_list(struct store_db *db, int (*fn)(void *arg, const char *user), void *arg);

/* ---- the storage thread ----------------------------------------------------------------- */

enum store_op {
    STORE_ACCOUNT_GET,    /* in: user; out: account */
    STORE_ACCOUNT_ADD,    /* in: account */
    STORE_ACCOUNT_UPDATE, /* in: account */
    STORE_ACCOUNT_DEL,    /* in: user */
};

struct store_req {
    struct mail mail;      /* completion: fn runs on the reply mailbox's owner */
    struct mailbox *reply; /* where the finished request is posted */
    enum store_op op;
    int status; /* out: 0 or negative errno */
    /**
     * Optional: runs on the storage thread after the operation, before the
     * request is posted back. For CPU-heavy work that must stay off the
     * event loops (a PLAIN password check). May change status.
     */
    void (*after)(struct store_req *r);
    void *arg; /* for the requester */
    union {
        struct {
            char user[STORE_USER_MAX + 1];
            struct store_account account;
        } account;
    } u;
};

struct store;

/** Opens the database (see store_db_open) and starts the storage thread. Returns NULL on error. */
struct store *store_start(const char *path);
/** Queues r; its completion is posted to r->reply. Any thread. */
void store_submit(struct store *s, struct store_req *r);
/** Finishes every queued request (completions are still posted), commits, stops the thread and closes. NULL-safe. */
void store_stop(struct store *s);

#endif
