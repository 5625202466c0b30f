/*
 * store_msg: the typed functions over the offline, archive, archive_prefs
 * and blocklist tables (store_msg.h). Archive pages are read by row id,
 * which is the order messages were archived in: stanza-ids are random, so
 * RSM positions (after-id, before-id) are turned into row ids first.
 */
#include "store/store_msg.h"
#include "core/alloc.h"
#include "store/db.h"
#include "store/store_roster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_msg_user_exists(struct store_db *db, const char *user)
{
    static const char sql[] = "SELECT 1 FROM accounts WHERE user = ?1";
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    int rc = sqlite3_step(st);
    int out = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_fail(db, sql);
    db_done(st);
    return out;
}

/* ---- offline ---------------------------------------------------------------------------- */

/* Runs sql, a count with ?1 the user, and returns the count or -EIO. */
static int count_of(struct store_db *db, const char *sql, const char *user)
{
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    int rc = sqlite3_step(st);
    int out = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : db_fail(db, sql);
    db_done(st);
    return out;
}

int store_offline_count(struct store_db *db, const char *user)
{
    static const char sql[] = "SELECT count(*) FROM offline WHERE user = ?1";
    return count_of(db, sql, user);
}

int store_offline_add(struct store_db *db, const char *user, const char *sender, int64_t stamp,
                      const char *xml, unsigned max)
{
    static const char sql[] =
        "INSERT INTO offline (user, sender, stamp, xml) VALUES (?1, ?2, ?3, ?4)";
    if (!user[0] || !xml[0])
        return -EINVAL;
    if (max > 0) {
        int n = store_offline_count(db, user);
        if (n < 0)
            return n;
        if ((unsigned)n >= max)
            return -EDQUOT;
    }
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    db_bind_text(st, 2, sender ? sender : "");
    sqlite3_bind_int64(st, 3, stamp);
    db_bind_text(st, 4, xml);
    return db_run(db, st);
}

int store_offline_list(struct store_db *db, const char *user, int64_t after, unsigned limit,
                       store_offline_fn *fn, void *arg)
{
    static const char sql[] = "SELECT id, stamp, xml FROM offline WHERE user = ?1 AND id > ?2"
                              " ORDER BY id LIMIT ?3";
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int64(st, 3, limit);
    int rc = SQLITE_DONE, out = 0;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *xml = sqlite3_column_text(st, 2);
        out = fn(arg, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                 xml ? (const char *)xml : "");
    }
    if (out == 0 && rc != SQLITE_DONE)
        out = db_fail(db, sql);
    db_done(st);
    return out;
}

int store_offline_del(struct store_db *db, const char *user, int64_t upto)
{
    static const char sql[] = "DELETE FROM offline WHERE user = ?1 AND id <= ?2";
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    sqlite3_bind_int64(st, 2, upto);
    int err = db_run(db, st);
    return err ? err : sqlite3_changes(db->h);
}

/* ---- archive ---------------------------------------------------------------------------- */

int store_archive_add(struct store_db *db, const struct store_arch *a)
{
    static const char sql[] = "INSERT INTO archive (user, peer, peer_res, stamp, sid, dir, xml)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    if (!a->user[0] || !a->peer[0] || !a->sid[0] || !a->xml[0])
        return -EINVAL;
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, a->user);
    db_bind_text(st, 2, a->peer);
    db_bind_text(st, 3, a->peer_res ? a->peer_res : "");
    sqlite3_bind_int64(st, 4, a->stamp);
    db_bind_text(st, 5, a->sid);
    sqlite3_bind_int(st, 6, a->dir);
    db_bind_text(st, 7, a->xml);
    return db_run(db, st);
}

int64_t store_archive_rowid(struct store_db *db, const char *user, const char *sid)
{
    static const char sql[] = "SELECT id FROM archive WHERE user = ?1 AND sid = ?2";
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    db_bind_text(st, 2, sid);
    int rc = sqlite3_step(st);
    int64_t out = rc == SQLITE_ROW    ? sqlite3_column_int64(st, 0)
                  : rc == SQLITE_DONE ? -ENOENT
                                      : db_fail(db, sql);
    db_done(st);
    return out;
}

/* The filters shared by the page and count statements: ?1..?5, then the id bounds ?6, ?7. */
#define ARCH_FILTER                                                                                \
    " FROM archive WHERE user = ?1 AND (?2 IS NULL OR peer = ?2)"                                  \
    " AND (?3 IS NULL OR peer_res = ?3) AND stamp >= ?4 AND stamp <= ?5 AND id > ?6 AND id < ?7"

static void bind_filter(sqlite3_stmt *st, const struct store_arch_query *q, int64_t after,
                        int64_t below)
{
    db_bind_text(st, 1, q->user);
    db_bind_text(st, 2, q->with);
    db_bind_text(st, 3, q->with_res);
    sqlite3_bind_int64(st, 4, q->start);
    sqlite3_bind_int64(st, 5, q->end);
    sqlite3_bind_int64(st, 6, after);
    sqlite3_bind_int64(st, 7, below);
}

int store_archive_query(struct store_db *db, const struct store_arch_query *q, store_arch_fn *fn,
                        void *arg)
{
    /* backward pages are read newest first, then given oldest first */
    static const char fwd[] = "SELECT id, stamp, sid, xml" ARCH_FILTER " ORDER BY id ASC LIMIT ?8";
    static const char bwd[] =
        "SELECT id, stamp, sid, xml FROM (SELECT id, stamp, sid, xml" ARCH_FILTER
        " ORDER BY id DESC LIMIT ?8) ORDER BY id ASC";
    const char *sql = q->backward ? bwd : fwd;
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    bind_filter(st, q, q->after, q->below);
    sqlite3_bind_int64(st, 8, q->max);
    int rc = SQLITE_DONE, n = 0, err = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *sid = sqlite3_column_text(st, 2);
        const unsigned char *xml = sqlite3_column_text(st, 3);
        err = fn(arg, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                 sid ? (const char *)sid : "", xml ? (const char *)xml : "");
        if (err < 0)
            break;
        n++;
    }
    if (err == 0 && rc != SQLITE_DONE)
        err = db_fail(db, sql);
    db_done(st);
    return err < 0 ? err : n;
}

int64_t store_archive_count(struct store_db *db, const struct store_arch_query *q, int64_t after,
                            int64_t below)
{
    static const char sql[] = "SELECT count(*)" ARCH_FILTER;
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    bind_filter(st, q, after, below);
    int rc = sqlite3_step(st);
    int64_t out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : db_fail(db, sql);
    db_done(st);
    return out;
}

int64_t store_archive_expire(struct store_db *db, int64_t stamp)
{
    static const char sql[] = "DELETE FROM archive WHERE stamp < ?1";
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, stamp);
    int err = db_run(db, st);
    return err ? err : sqlite3_changes64(db->h);
}

static bool dflt_ok(const char *d)
{
    return strcmp(d, "always") == 0 || strcmp(d, "never") == 0 || strcmp(d, "roster") == 0;
}

int store_archive_prefs_get(struct store_db *db, const char *user, struct store_arch_prefs *p)
{
    static const char sql[] = "SELECT dflt, always, never FROM archive_prefs WHERE user = ?1";
    memset(p, 0, sizeof(*p));
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    int rc = sqlite3_step(st), err = 0;
    const unsigned char *d = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    snprintf(p->dflt, sizeof(p->dflt), "%s",
             d && dflt_ok((const char *)d) ? (const char *)d : "always");
    if (rc == SQLITE_ROW) {
        p->always = db_col_strdup(st, 1);
        p->never = db_col_strdup(st, 2);
    } else {
        if (rc != SQLITE_DONE)
            err = db_fail(db, sql);
        p->always = xstrdup("");
        p->never = xstrdup("");
    }
    db_done(st);
    return err;
}

int store_archive_prefs_set(struct store_db *db, const char *user, const struct store_arch_prefs *p)
{
    static const char sql[] = "INSERT OR REPLACE INTO archive_prefs (user, dflt, always, never)"
                              " VALUES (?1, ?2, ?3, ?4)";
    if (!dflt_ok(p->dflt))
        return -EINVAL;
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    db_bind_text(st, 2, p->dflt);
    db_bind_text(st, 3, p->always ? p->always : "");
    db_bind_text(st, 4, p->never ? p->never : "");
    return db_run(db, st);
}

void store_archive_prefs_fini(struct store_arch_prefs *p)
{
    if (!p)
        return;
    free(p->always);
    free(p->never);
    p->always = p->never = NULL;
}

/* Whether the '\n'-joined list holds jid as one whole line. */
static bool list_has(const char *list, const char *jid)
{
    size_t n = strlen(jid);
    for (const char *p = list; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == n && memcmp(p, jid, n) == 0)
            return true;
        if (!nl)
            break;
        p = nl + 1;
    }
    return false;
}

int store_archive_wants(struct store_db *db, const char *user, const char *peer)
{
    struct store_arch_prefs p;
    int err = store_archive_prefs_get(db, user, &p);
    int out;
    if (err)
        out = err;
    else if (list_has(p.never, peer))
        out = 0;
    else if (list_has(p.always, peer))
        out = 1;
    else if (strcmp(p.dflt, "always") == 0)
        out = 1;
    else if (strcmp(p.dflt, "never") == 0)
        out = 0;
    else {
        int sub = store_roster_sub(db, user, peer);
        out = sub < 0 ? sub : sub != STORE_SUB_NONE;
    }
    store_archive_prefs_fini(&p);
    return out;
}

/* ---- block lists ------------------------------------------------------------------------ */

int store_block_list(struct store_db *db, const char *user, int (*fn)(void *arg, const char *jid),
                     void *arg)
{
    static const char sql[] = "SELECT jid FROM blocklist WHERE user = ?1 ORDER BY jid";
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    int rc = SQLITE_DONE, out = 0;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        out = fn(arg, (const char *)sqlite3_column_text(st, 0));
    if (out == 0 && rc != SQLITE_DONE)
        out = db_fail(db, sql);
    db_done(st);
    return out;
}

static int block_count(struct store_db *db, const char *user)
{
    static const char sql[] = "SELECT count(*) FROM blocklist WHERE user = ?1";
    return count_of(db, sql, user);
}

int store_block_add(struct store_db *db, const char *user, const char *jid)
{
    static const char sql[] = "INSERT OR IGNORE INTO blocklist (user, jid) VALUES (?1, ?2)";
    int n = block_count(db, user);
    if (n < 0)
        return n;
    if (n >= STORE_BLOCK_MAX) {
        int there = store_blocked(db, user, &jid, 1);
        return there < 0 ? there : there ? 0 : -ENOSPC;
    }
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    db_bind_text(st, 2, jid);
    return db_run(db, st);
}

int store_block_del(struct store_db *db, const char *user, const char *jid)
{
    static const char one[] = "DELETE FROM blocklist WHERE user = ?1 AND jid = ?2";
    static const char all[] = "DELETE FROM blocklist WHERE user = ?1";
    sqlite3_stmt *st = db_stmt(db, jid ? one : all);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    if (jid)
        db_bind_text(st, 2, jid);
    int err = db_run(db, st);
    return err ? err : sqlite3_changes(db->h);
}

int store_blocked(struct store_db *db, const char *user, const char *const *cands, size_t n)
{
    static const char sql[] = "SELECT 1 FROM blocklist WHERE user = ?1 AND jid = ?2";
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    int out = 0;
    for (size_t i = 0; i < n && out == 0; i++) {
        if (!cands[i])
            continue;
        db_bind_text(st, 1, user);
        db_bind_text(st, 2, cands[i]);
        int rc = sqlite3_step(st);
        out = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_fail(db, sql);
        db_done(st);
    }
    return out;
}
