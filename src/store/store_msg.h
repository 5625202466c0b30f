/*
 * store_msg: what keeps messages: offline storage (XEP-0160), the message
 * archive (XEP-0313) with its preferences, and block lists (XEP-0191),
 * which decide what may be stored for whom.
 */
#ifndef TERN_STORE_STORE_MSG_H
#define TERN_STORE_STORE_MSG_H

#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

/*
 * offline: messages waiting for user, delivered (and deleted) in id order.
 * archive: one row per message per party (user is the archive's owner,
 * peer the other side's bare JID); stamp in microseconds since the epoch;
 * sid the server-assigned stanza-id (XEP-0359), unique per owner; dir 0 in,
 * 1 out. archive_prefs: XEP-0313 default (always/never/roster) with the
 * always/never JID lists joined with '\n'. blocklist: XEP-0191 items.
 * Rows go with their account.
 */
#define STORE_SCHEMA_MSG                                                                           \
    "CREATE TABLE offline (id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL,"              \
    " sender TEXT NOT NULL, stamp INTEGER NOT NULL, xml TEXT NOT NULL);"                           \
    "CREATE INDEX offline_user ON offline (user, id);"                                             \
    "CREATE TABLE archive (id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL,"              \
    " peer TEXT NOT NULL, stamp INTEGER NOT NULL, sid TEXT NOT NULL,"                              \
    " dir INTEGER NOT NULL, xml TEXT NOT NULL);"                                                   \
    "CREATE UNIQUE INDEX archive_sid ON archive (user, sid);"                                      \
    "CREATE INDEX archive_user ON archive (user, id);"                                             \
    "CREATE INDEX archive_peer ON archive (user, peer, id);"                                       \
    "CREATE INDEX archive_stamp ON archive (stamp);"                                               \
    "CREATE TABLE archive_prefs (user TEXT PRIMARY KEY NOT NULL, dflt TEXT NOT NULL,"              \
    " always TEXT NOT NULL DEFAULT '', never TEXT NOT NULL DEFAULT '');"                           \
    "CREATE TABLE blocklist (user TEXT NOT NULL, jid TEXT NOT NULL,"                               \
    " PRIMARY KEY (user, jid)) WITHOUT ROWID;"                                                     \
    "CREATE TRIGGER msg_purge AFTER DELETE ON accounts BEGIN"                                      \
    " DELETE FROM offline WHERE user = OLD.user;"                                                  \
    " DELETE FROM archive WHERE user = OLD.user;"                                                  \
    " DELETE FROM archive_prefs WHERE user = OLD.user;"                                            \
    " DELETE FROM blocklist WHERE user = OLD.user; END;"

/* migration: the peer's resource in archive rows, for queries 'with' a full JID */
#define STORE_SCHEMA_MSG_RES "ALTER TABLE archive ADD COLUMN peer_res TEXT NOT NULL DEFAULT '';"

#define STORE_BLOCK_MAX 1000 /* items in one account's block list */

/** Returns 1 if the account user exists, 0 if not, or -EIO. */
int store_msg_user_exists(struct store_db *db, const char *user);

/* ---- offline messages (XEP-0160) -------------------------------------------------------- */

/**
 * Appends a message for user (xml: the serialized stanza; stamp: when it
 * arrived, microseconds since the epoch). max > 0 caps the rows user may
 * have. Returns 0, -EDQUOT when user already has max, -EINVAL for an empty
 * user or xml, or -EIO.
 */
int store_offline_add(struct store_db *db, const char *user, const char *sender, int64_t stamp,
                      const char *xml, unsigned max);
/** Returns how many messages wait for user, or -EIO. */
int store_offline_count(struct store_db *db, const char *user);
/** Called per offline message; a non-zero return stops the listing. xml is borrowed. */
typedef int store_offline_fn(void *arg, int64_t id, int64_t stamp, const char *xml);
/**
 * Calls fn for up to limit of user's messages with id > after, in id order.
 * Returns 0, fn's non-zero return if it stopped early, or -EIO.
 */
int store_offline_list(struct store_db *db, const char *user, int64_t after, unsigned limit,
                       store_offline_fn *fn, void *arg);
/** Deletes user's messages with id <= upto. Returns how many went, or -EIO. */
int store_offline_del(struct store_db *db, const char *user, int64_t upto);

/* ---- the archive (XEP-0313) ------------------------------------------------------------- */

/** One archived message as written. Strings are borrowed. */
struct store_arch {
    const char *user;     /* the archive's owner (local part) */
    const char *peer;     /* the other side's bare JID */
    const char *peer_res; /* its resource, "" if none */
    int64_t stamp;        /* microseconds since the epoch */
    const char *sid;      /* stanza-id (XEP-0359), unique per owner */
    int dir;              /* 0 received, 1 sent */
    const char *xml;      /* the stanza, serialized with its namespace */
};

/** Adds a row. Returns 0, -EEXIST (sid already used by user), -EINVAL, or -EIO. */
int store_archive_add(struct store_db *db, const struct store_arch *a);
/** Returns the row id of user's message sid (> 0), -ENOENT, or -EIO. */
int64_t store_archive_rowid(struct store_db *db, const char *user, const char *sid);

/** A query: the filters, then the page. */
struct store_arch_query {
    const char *user;
    const char *with;     /* bare JID or NULL */
    const char *with_res; /* with a full JID: its resource, else NULL */
    int64_t start, end;   /* stamp bounds (inclusive); INT64_MIN / INT64_MAX for none */
    int64_t after, below; /* row id bounds (exclusive); 0 / INT64_MAX for none */
    unsigned max;         /* rows per page */
    bool backward;        /* the last max rows before 'below' rather than the first after 'after' */
};
/** Called per row, in ascending id order whatever the direction; strings are borrowed. */
typedef int store_arch_fn(void *arg, int64_t id, int64_t stamp, const char *sid, const char *xml);
/**
 * Calls fn for the page q selects, oldest first. Returns the number of rows
 * given, fn's negative return if it failed, or -EIO.
 */
int store_archive_query(struct store_db *db, const struct store_arch_query *q, store_arch_fn *fn,
                        void *arg);
/** Counts the rows matching q's filters with after < id < below (q's page ignored), or -EIO. */
int64_t store_archive_count(struct store_db *db, const struct store_arch_query *q, int64_t after,
                            int64_t below);
/** Deletes every archived message older than stamp. Returns how many went, or -EIO. */
int64_t store_archive_expire(struct store_db *db, int64_t stamp);

/** Archive preferences (XEP-0313 §6): default and the two JID lists ('\n'-joined). */
struct store_arch_prefs {
    char dflt[8]; /* "always", "never" or "roster" */
    char *always; /* heap strings owned by the struct, "" if empty */
    char *never;
};
/** Reads user's preferences into p (defaults "always" and empty lists if unset). 0 or -EIO. */
int store_archive_prefs_get(struct store_db *db, const char *user, struct store_arch_prefs *p);
/** Replaces user's preferences. Returns 0, -EINVAL (bad default), or -EIO. */
int store_archive_prefs_set(struct store_db *db, const char *user,
                            const struct store_arch_prefs *p);
/** Frees p's lists. NULL-safe. */
void store_archive_prefs_fini(struct store_arch_prefs *p);
/**
 * Whether user's preferences keep messages exchanged with peer (a bare
 * JID): the never list, then the always list, then the default (roster:
 * peer is in user's roster with a subscription). Returns 1, 0, or -EIO.
 */
int store_archive_wants(struct store_db *db, const char *user, const char *peer);

/* ---- block lists (XEP-0191) ------------------------------------------------------------- */

/** Calls fn for each JID user blocks, in byte order. Returns 0, fn's return, or -EIO. */
int store_block_list(struct store_db *db, const char *user, int (*fn)(void *arg, const char *jid),
                     void *arg);
/** Adds jid (already blocked: no change). Returns 0, -ENOSPC past STORE_BLOCK_MAX, or -EIO. */
int store_block_add(struct store_db *db, const char *user, const char *jid);
/** Removes jid (NULL: every item). Returns how many went, or -EIO. */
int store_block_del(struct store_db *db, const char *user, const char *jid);
/**
 * Whether user blocks any of the n JIDs in cands (the forms a sender's JID
 * matches: full, bare, domain/resource, domain). Returns 1, 0, or -EIO.
 */
int store_blocked(struct store_db *db, const char *user, const char *const *cands, size_t n);

#endif
