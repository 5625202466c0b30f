/* store_roster: the typed functions over the roster tables (store_roster.h). */
#include "store/store_roster.h"
#include "store/db.h"

#include <errno.h>

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
