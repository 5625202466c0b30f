/*
 * db: what the SQLite backend files of src/store share (never included
 * outside src/store). store_sqlite.c opens the database and runs the
 * migrations; each domain file (store_roster.c, store_msg.c, ...) holds the
 * typed functions of its domain, declared in its own header, and its part
 * of the schema as a macro that store_sqlite.c puts into the migrations.
 *
 * Rules for a domain file (the same as store_sqlite.c's):
 * - no SQL is built from data: statements are constant strings, prepared
 *   once by db_stmt() and kept; every value is bound;
 * - a statement is reset and its bindings cleared (db_done) before the
 *   function returns, whatever happened;
 * - a SQLite failure is logged once with db_fail() and returned as -EIO;
 *   "no such row" is -ENOENT, a duplicate -EEXIST, neither logged;
 * - functions run inside the caller's transaction (the storage thread's
 *   batch, or ternctl's): they never BEGIN or COMMIT.
 */
#ifndef TERN_STORE_DB_H
#define TERN_STORE_DB_H

#include "store/store.h"

#include <sqlite3.h>

#define DB_STMT_CACHE 128 /* distinct statements a database can hold prepared */

struct db_cached {
    const char *sql; /* the constant string itself: looked up by address */
    sqlite3_stmt *st;
};

struct store_db {
    sqlite3 *h;
    char *path;        /* for messages */
    sqlite3_stmt **st; /* store_sqlite.c's own table */
    struct db_cached cache[DB_STMT_CACHE];
    unsigned n_cache;
};

/** Logs the connection's current error with what was being done; returns -EIO. */
int db_fail(struct store_db *db, const char *what);
/**
 * Returns the prepared statement for sql, a string constant (it is looked
 * up by address and must live forever), preparing it on first use. Returns
 * NULL after logging if it cannot be prepared.
 */
sqlite3_stmt *db_stmt(struct store_db *db, const char *sql);
/** Resets st and clears its bindings. */
void db_done(sqlite3_stmt *st);
/**
 * Steps st (bound) once and finishes it: returns 0 for SQLITE_DONE or a row,
 * -EEXIST for a constraint violation, else -EIO (logged).
 */
int db_run(struct store_db *db, sqlite3_stmt *st);
/** Binds text (NULL binds SQL NULL); returns the SQLite result code. */
int db_bind_text(sqlite3_stmt *st, int col, const char *s);
/** Copies column col (text, may be NULL) into a new heap string ("" for NULL). */
char *db_col_strdup(sqlite3_stmt *st, int col);

#endif
