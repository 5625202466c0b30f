/* store_roster: the typed functions over the roster tables (store_roster.h). */
#include "store/store_roster.h"
#include "store/db.h"
#include "core/alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int store_roster_sub(struct store_db *db, const char *user, const char *contact)
{
    static const char sql[] = "SELECT sub FROM roster WHERE user = ?1 AND contact = ?2";
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    db_bind_text(st, 2, contact);
    int rc = sqlite3_step(st);
    int out = rc == SQLITE_ROW    ? sqlite3_column_int(st, 0)
              : rc == SQLITE_DONE ? STORE_SUB_NONE
                                  : db_fail(db, sql);
    db_done(st);
    return out;
}

int store_roster_subscribers(struct store_db *db, const char *user,
                             int (*fn)(void *arg, const char *contact), void *arg)
{
    static const char sql[] =
        "SELECT contact FROM roster WHERE user = ?1 AND sub IN (2, 3) ORDER BY contact";
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

void store_roster_item_fini(struct store_roster_item *it)
{
    if (!it)
        return;
    free(it->contact);
    free(it->name);
    free(it->groups);
    free(it->in_stanza);
    memset(it, 0, sizeof(*it));
}

#define ROW_COLS "contact, name, groups, sub, ask_out, ask_in, preapproved, shown, in_stanza, ver"

/* Fills it from the current row of st (columns as ROW_COLS), borrowing the strings. */
static void row_borrow(sqlite3_stmt *st, struct store_roster_item *it)
{
    const char *name = (const char *)sqlite3_column_text(st, 1);
    const char *groups = (const char *)sqlite3_column_text(st, 2);
    it->contact = (char *)sqlite3_column_text(st, 0);
    it->name = (char *)(name ? name : "");
    it->groups = (char *)(groups ? groups : "");
    it->sub = sqlite3_column_int(st, 3);
    it->ask_out = sqlite3_column_int(st, 4) != 0;
    it->ask_in = sqlite3_column_int(st, 5) != 0;
    it->preapproved = sqlite3_column_int(st, 6) != 0;
    it->shown = sqlite3_column_int(st, 7) != 0;
    it->in_stanza = (char *)sqlite3_column_text(st, 8);
    it->ver = sqlite3_column_int64(st, 9);
}

int store_roster_get(struct store_db *db, const char *user, const char *contact,
                     struct store_roster_item *out)
{
    static const char sql[] = "SELECT " ROW_COLS " FROM roster WHERE user = ?1 AND contact = ?2";
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    db_bind_text(st, 2, contact);
    int rc = sqlite3_step(st), err = 0;
    if (rc == SQLITE_ROW) {
        struct store_roster_item b;
        row_borrow(st, &b);
        *out = b;
        out->contact = xstrdup(b.contact ? b.contact : "");
        out->name = xstrdup(b.name);
        out->groups = xstrdup(b.groups);
        out->in_stanza = b.in_stanza ? xstrdup(b.in_stanza) : NULL;
    } else {
        err = rc == SQLITE_DONE ? -ENOENT : db_fail(db, sql);
    }
    db_done(st);
    return err;
}

/*
 * Runs sql (one bound user, a single int64 column) and reads the value into
 * *ver; no row gives 0.
 */
static int ver_query(struct store_db *db, const char *sql, const char *user, int64_t *ver)
{
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    int rc = sqlite3_step(st), err = 0;
    if (rc == SQLITE_ROW)
        *ver = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        *ver = 0;
    else
        err = db_fail(db, sql);
    db_done(st);
    return err;
}

/*
 * Adds one to user's roster version; writes the new value to *ver. A roster
 * starts at the current Unix time rather than at 1, so that an account that
 * is deleted and made again does not reuse versions a client may have kept.
 */
static int bump_version(struct store_db *db, const char *user, int64_t *ver)
{
    static const char sql[] = "INSERT INTO roster_ver (user, ver)"
                              " VALUES (?1, CAST(strftime('%s', 'now') AS INTEGER))"
                              " ON CONFLICT (user) DO UPDATE SET ver = ver + 1 RETURNING ver";
    return ver_query(db, sql, user, ver);
}

int store_roster_put(struct store_db *db, const char *user, struct store_roster_item *it)
{
    static const char sql[] = "INSERT OR REPLACE INTO roster (user, " ROW_COLS ")"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
    if (!it->contact || !it->contact[0] || it->sub < STORE_SUB_NONE || it->sub > STORE_SUB_BOTH)
        return -EINVAL;
    int64_t ver;
    int err = bump_version(db, user, &ver);
    if (err)
        return err;
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    db_bind_text(st, 2, it->contact);
    db_bind_text(st, 3, it->name && it->name[0] ? it->name : NULL);
    db_bind_text(st, 4, it->groups ? it->groups : "");
    sqlite3_bind_int(st, 5, it->sub);
    sqlite3_bind_int(st, 6, it->ask_out);
    sqlite3_bind_int(st, 7, it->ask_in);
    sqlite3_bind_int(st, 8, it->preapproved);
    sqlite3_bind_int(st, 9, it->shown);
    db_bind_text(st, 10, it->in_stanza);
    sqlite3_bind_int64(st, 11, ver);
    err = db_run(db, st);
    if (err == -EEXIST)
        err = -EIO; /* a CHECK failed: nothing a caller can fix */
    if (err == 0)
        it->ver = ver;
    return err;
}

int store_roster_del(struct store_db *db, const char *user, const char *contact, int64_t *ver)
{
    static const char sql[] = "DELETE FROM roster WHERE user = ?1 AND contact = ?2";
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    db_bind_text(st, 2, contact);
    int err = db_run(db, st);
    if (err)
        return err == -EEXIST ? -EIO : err;
    if (sqlite3_changes(db->h) == 0)
        return -ENOENT;
    int64_t v;
    err = bump_version(db, user, &v);
    if (err == 0 && ver)
        *ver = v;
    return err;
}

int store_roster_version(struct store_db *db, const char *user, int64_t *ver)
{
    static const char sql[] = "SELECT ver FROM roster_ver WHERE user = ?1";
    return ver_query(db, sql, user, ver);
}

int store_roster_count(struct store_db *db, const char *user, bool shown_only)
{
    static const char sql[] = "SELECT count(*) FROM roster WHERE user = ?1 AND shown >= ?2";
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    sqlite3_bind_int(st, 2, shown_only ? 1 : 0);
    int rc = sqlite3_step(st);
    int out = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : db_fail(db, sql);
    db_done(st);
    return out;
}

int store_roster_each(struct store_db *db, const char *user,
                      int (*fn)(void *arg, const struct store_roster_item *it), void *arg)
{
    static const char sql[] = "SELECT " ROW_COLS " FROM roster WHERE user = ?1 ORDER BY contact";
    sqlite3_stmt *st = db_stmt(db, sql);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, user);
    int rc = SQLITE_DONE, out = 0;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_roster_item it;
        row_borrow(st, &it);
        out = fn(arg, &it);
    }
    if (out == 0 && rc != SQLITE_DONE)
        out = db_fail(db, sql);
    db_done(st);
    return out;
}
