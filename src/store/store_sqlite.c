/*
 * store_sqlite: the SQLite backend, the synchronous half of store.h.
 *
 * One struct store_db wraps one connection, used by one thread at a time
 * (the storage thread in ternd, or ternctl), so SQLite's own mutexes are
 * off. ternd and ternctl share the file: WAL mode lets readers run next to
 * a writer, and a busy timeout makes a writer wait for the other process
 * instead of failing at once.
 *
 * Invariants:
 * - No SQL is ever built from data. Every statement that touches user data
 *   is prepared once at open, kept in db->st[], bound, stepped, and then
 *   reset with its bindings cleared before the function returns, whatever
 *   happened (so no statement is left "in progress" to block a COMMIT).
 * - The schema version lives in PRAGMA user_version. migrations[i] takes the
 *   database from version i to i + 1, each in its own transaction together
 *   with the version bump, so a crash leaves a database at some version,
 *   never between two. A database newer than migrations[] is refused.
 * - Errors: a SQLite failure is logged here, once, with what was being
 *   done, and returned as -EIO; "no such row" is -ENOENT and a duplicate key
 *   -EEXIST, neither logged (they are answers, not failures).
 */
#include "store/db.h"
#include "core/alloc.h"
#include "store/store_blob.h"
#include "store/store_msg.h"
#include "store/store_roster.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 5000 /* how long a writer waits for ternctl (or ternd) */
#define SHA1_LEN        20   /* bytes of a SCRAM-SHA-1 key */
#define SHA256_LEN      32   /* bytes of a SCRAM-SHA-256 key */

/*
 * Schema migrations, in order; never edit a step once released, add one.
 * Key lengths are checked by the table so a bad row cannot be written even
 * by hand; the user name is compared with BINARY collation (bytes), which
 * is right because it is stored already normalized.
 */
static const char *const migrations[] = {
    /* 1: accounts */
    "CREATE TABLE accounts ("
    " user TEXT PRIMARY KEY NOT NULL CHECK (length(user) > 0),"
    " created INTEGER NOT NULL,"
    " sha1_stored BLOB NOT NULL CHECK (length(sha1_stored) = 20),"
    " sha1_server BLOB NOT NULL CHECK (length(sha1_server) = 20),"
    " sha1_salt BLOB NOT NULL CHECK (length(sha1_salt) BETWEEN 1 AND 64),"
    " sha1_iter INTEGER NOT NULL CHECK (sha1_iter > 0),"
    " sha256_stored BLOB NOT NULL CHECK (length(sha256_stored) = 32),"
    " sha256_server BLOB NOT NULL CHECK (length(sha256_server) = 32),"
    " sha256_salt BLOB NOT NULL CHECK (length(sha256_salt) BETWEEN 1 AND 64),"
    " sha256_iter INTEGER NOT NULL CHECK (sha256_iter > 0)"
    ");",
    /* 2: the IM core (each domain's tables are in its own header) */
    STORE_SCHEMA_ROSTER STORE_SCHEMA_MSG STORE_SCHEMA_BLOB,
    /* 3: PEP node options */
    STORE_SCHEMA_BLOB_3,
    /* 4: archive rows remember the peer's resource */
    STORE_SCHEMA_MSG_RES,
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

enum stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_ROLLBACK_TO,
    ST_RELEASE,
    ST_VERSION,
    ST_N_BASE, /* the statements above are prepared before migrating */
    ST_ACC_GET = ST_N_BASE,
    ST_ACC_ADD,
    ST_ACC_UPDATE,
    ST_ACC_DEL,
    ST_ACC_LIST,
    ST_N
};

static const char *const stmt_sql[ST_N] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT req",
    [ST_ROLLBACK_TO] = "ROLLBACK TO req",
    [ST_RELEASE] = "RELEASE req",
    [ST_VERSION] = "PRAGMA user_version",
    [ST_ACC_GET] = "SELECT user, created, sha1_stored, sha1_server, sha1_salt, sha1_iter,"
                   " sha256_stored, sha256_server, sha256_salt, sha256_iter"
                   " FROM accounts WHERE user = ?1",
    [ST_ACC_ADD] = "INSERT INTO accounts (user, created, sha1_stored, sha1_server, sha1_salt,"
                   " sha1_iter, sha256_stored, sha256_server, sha256_salt, sha256_iter)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_ACC_UPDATE] = "UPDATE accounts SET sha1_stored = ?3, sha1_server = ?4, sha1_salt = ?5,"
                      " sha1_iter = ?6, sha256_stored = ?7, sha256_server = ?8,"
                      " sha256_salt = ?9, sha256_iter = ?10 WHERE user = ?1",
    [ST_ACC_DEL] = "DELETE FROM accounts WHERE user = ?1",
    [ST_ACC_LIST] = "SELECT user FROM accounts ORDER BY user",
};

/* Logs the connection's current error with context; returns -EIO. */
int db_fail(struct store_db *db, const char *what)
{
    log_error("store: %s: %s: %s (%d)", db->path, what, sqlite3_errmsg(db->h),
              sqlite3_extended_errcode(db->h));
    return -EIO;
}

static void st_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

void db_done(sqlite3_stmt *st)
{
    st_done(st);
}

sqlite3_stmt *db_stmt(struct store_db *db, const char *sql)
{
    for (unsigned i = 0; i < db->n_cache; i++)
        if (db->cache[i].sql == sql)
            return db->cache[i].st;
    if (db->n_cache == DB_STMT_CACHE) {
        log_error("store: more than %d distinct statements; raise DB_STMT_CACHE", DB_STMT_CACHE);
        return NULL;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        db_fail(db, sql);
        return NULL;
    }
    db->cache[db->n_cache].sql = sql;
    db->cache[db->n_cache].st = st;
    db->n_cache++;
    return st;
}

int db_run(struct store_db *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int err = 0;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = (rc & 0xff) == SQLITE_CONSTRAINT ? -EEXIST : db_fail(db, sqlite3_sql(st));
    st_done(st);
    return err;
}

int db_bind_text(sqlite3_stmt *st, int col, const char *s)
{
    return s ? sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, col);
}

char *db_col_strdup(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return xstrdup(t ? (const char *)t : "");
}

/* Runs a prepared statement that returns no rows. Returns 0 or -EIO (logged). */
static int st_exec(struct store_db *db, enum stmt i)
{
    sqlite3_stmt *st = db->st[i];
    int rc = sqlite3_step(st);
    int err = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_fail(db, stmt_sql[i]);
    st_done(st);
    return err;
}

/* Runs constant SQL (pragmas, migrations: never data). Returns 0 or -EIO (logged). */
static int exec_const(struct store_db *db, const char *sql)
{
    if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(db, sql);
    return 0;
}

/* Runs a constant pragma that returns one text row, copied into out. */
static int pragma_text(struct store_db *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, sql);
    int rc = sqlite3_step(st);
    int err = 0;
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, cap, "%s", t ? (const char *)t : "");
    } else {
        err = db_fail(db, sql);
    }
    sqlite3_finalize(st);
    return err;
}

static int prepare(struct store_db *db, enum stmt from, enum stmt to)
{
    for (int i = from; i < (int)to; i++) {
        if (sqlite3_prepare_v3(db->h, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &db->st[i],
                               NULL) != SQLITE_OK)
            return db_fail(db, stmt_sql[i]);
    }
    return 0;
}

/*
 * Brings the schema up to SCHEMA_VERSION, one step per transaction. The
 * version is read again under the write lock because ternd and ternctl may
 * open the same old database at the same moment; the loser of the race
 * finds the step done.
 */
static int migrate(struct store_db *db)
{
    for (;;) {
        int v = store_db_version(db);
        if (v < 0)
            return v;
        if (v > SCHEMA_VERSION) {
            log_error("store: %s: database schema version %d is newer than this tern knows "
                      "(%d); upgrade tern or restore a backup",
                      db->path, v, SCHEMA_VERSION);
            return -ENOTSUP;
        }
        if (v == SCHEMA_VERSION)
            return 0;
        int err = store_db_begin(db);
        if (err)
            return err;
        int now = store_db_version(db);
        if (now != v) {
            store_db_rollback(db);
            if (now < 0)
                return now;
            continue;
        }
        char bump[64];
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
        err = exec_const(db, migrations[v]);
        if (!err)
            err = exec_const(db, bump);
        if (!err)
            err = store_db_commit(db);
        if (err) {
            store_db_rollback(db);
            return err;
        }
        log_info("store: %s: schema migrated to version %d", db->path, v + 1);
    }
}

/*
 * The file is created here with mode 0600 so that it never exists, even for
 * a moment, with the umask's permissions: it holds password-equivalent keys.
 * SQLite gives the -wal and -shm files it creates the database file's mode.
 */
static int create_private(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        int err = errno;
        log_error("store: %s: %s", path, strerror(err));
        return -err;
    }
    struct stat sb;
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 077))
        log_warn("store: %s: readable by group or others (mode %03o); chmod 600 it", path,
                 (unsigned)(sb.st_mode & 0777));
    close(fd);
    return 0;
}

int store_db_open(const char *path, struct store_db **out)
{
    *out = NULL;
    int err = create_private(path);
    if (err)
        return err;

    struct store_db *db;
    XNEW(db);
    db->path = xstrdup(path);
    db->st = xcalloc(ST_N, sizeof(*db->st));
    /* NOMUTEX: one thread per handle, as the header says; no CREATE: done above */
    int rc = sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        /* without a handle (out of memory) there is no errmsg to ask for */
        if (db->h)
            db_fail(db, "open");
        else
            log_error("store: %s: open: %s", path, sqlite3_errstr(rc));
        err = -EIO;
        goto fail;
    }
    sqlite3_extended_result_codes(db->h, 1);
    sqlite3_busy_timeout(db->h, BUSY_TIMEOUT_MS);
    /* the schema is ours alone: refuse writable_schema tricks and functions in it */
    sqlite3_db_config(db->h, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db->h, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);

    char mode[16];
    err = pragma_text(db, "PRAGMA journal_mode = WAL", mode, sizeof(mode));
    if (err)
        goto fail;
    if (strcmp(mode, "wal") != 0) {
        log_error("store: %s: cannot use WAL mode (got \"%s\"); is it on a network filesystem?",
                  path, mode);
        err = -EIO;
        goto fail;
    }
    /*
     * FULL, not NORMAL: in WAL mode NORMAL syncs the WAL only at checkpoints,
     * so a commit survives kill -9 (the data is in the page cache) but not a
     * power cut. A message acked to a client (XEP-0198) must survive both,
     * so every COMMIT fsyncs the WAL. Group commit pays that fsync once per
     * batch, not once per message.
     */
    err = exec_const(db, "PRAGMA synchronous = FULL");
    if (!err)
        err = exec_const(db, "PRAGMA foreign_keys = ON");
    if (!err)
        err = prepare(db, 0, ST_N_BASE);
    if (!err)
        err = migrate(db);
    if (!err)
        err = prepare(db, ST_N_BASE, ST_N);
    if (err)
        goto fail;
    *out = db;
    return 0;
fail:
    store_db_close(db);
    return err;
}

void store_db_close(struct store_db *db)
{
    if (!db)
        return;
    for (int i = 0; i < ST_N; i++)
        sqlite3_finalize(db->st[i]);
    for (unsigned i = 0; i < db->n_cache; i++)
        sqlite3_finalize(db->cache[i].st);
    free(db->st);
    if (db->h && sqlite3_close(db->h) != SQLITE_OK)
        db_fail(db, "close");
    free(db->path);
    free(db);
}

int store_db_begin(struct store_db *db)
{
    return st_exec(db, ST_BEGIN);
}

int store_db_commit(struct store_db *db)
{
    return st_exec(db, ST_COMMIT);
}

int store_db_rollback(struct store_db *db)
{
    /* SQLite may already have rolled back by itself (disk full, I/O error) */
    if (sqlite3_get_autocommit(db->h))
        return 0;
    return st_exec(db, ST_ROLLBACK);
}

int store_db_savepoint(struct store_db *db)
{
    return st_exec(db, ST_SAVEPOINT);
}

int store_db_rollback_to(struct store_db *db)
{
    return st_exec(db, ST_ROLLBACK_TO);
}

int store_db_release(struct store_db *db)
{
    return st_exec(db, ST_RELEASE);
}

int store_db_version(struct store_db *db)
{
    sqlite3_stmt *st = db->st[ST_VERSION];
    int rc = sqlite3_step(st);
    int v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : db_fail(db, "read schema version");
    st_done(st);
    return v;
}

/* ---- accounts --------------------------------------------------------------------------- */

static bool user_ok(const char *user)
{
    size_t n = strnlen(user, STORE_USER_MAX + 1);
    return n > 0 && n <= STORE_USER_MAX;
}

static bool scram_ok(const struct store_scram *c)
{
    return c->salt_len > 0 && c->salt_len <= STORE_SALT_MAX && c->iterations > 0;
}

static bool account_ok(const struct store_account *a)
{
    return user_ok(a->user) && scram_ok(&a->sha1) && scram_ok(&a->sha256);
}

/* Binds ?1 user and ?3..?10 the credentials (ADD and UPDATE share the numbering). */
static int bind_account(sqlite3_stmt *st, const struct store_account *a)
{
    const struct {
        const struct store_scram *c;
        int len;
    } creds[2] = {{&a->sha1, SHA1_LEN}, {&a->sha256, SHA256_LEN}};
    int rc = sqlite3_bind_text(st, 1, a->user, -1, SQLITE_STATIC);
    for (int i = 0; i < 2 && rc == SQLITE_OK; i++) {
        int col = 3 + 4 * i;
        rc = sqlite3_bind_blob(st, col, creds[i].c->stored_key, creds[i].len, SQLITE_STATIC);
        if (rc == SQLITE_OK)
            rc =
                sqlite3_bind_blob(st, col + 1, creds[i].c->server_key, creds[i].len, SQLITE_STATIC);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_blob(st, col + 2, creds[i].c->salt, (int)creds[i].c->salt_len,
                                   SQLITE_STATIC);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, col + 3, creds[i].c->iterations);
    }
    return rc;
}

/* Copies a key or salt column; false if its length is not in [min, max]. */
static bool column_blob(sqlite3_stmt *st, int col, void *out, size_t min, size_t max, size_t *len)
{
    const void *p = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (!p || n < 0 || (size_t)n < min || (size_t)n > max)
        return false;
    memcpy(out, p, (size_t)n);
    if (len)
        *len = (size_t)n;
    return true;
}

static bool column_scram(sqlite3_stmt *st, int col, size_t key_len, struct store_scram *c)
{
    sqlite3_int64 iter = sqlite3_column_int64(st, col + 3);
    if (iter <= 0 || iter > (sqlite3_int64)UINT_MAX)
        return false;
    c->iterations = (unsigned)iter;
    return column_blob(st, col, c->stored_key, key_len, key_len, NULL) &&
           column_blob(st, col + 1, c->server_key, key_len, key_len, NULL) &&
           column_blob(st, col + 2, c->salt, 1, STORE_SALT_MAX, &c->salt_len);
}

int store_account_get(struct store_db *db, const char *user, struct store_account *out)
{
    memset(out, 0, sizeof(*out));
    if (!user_ok(user))
        return -ENOENT; /* no such name can have been stored */
    sqlite3_stmt *st = db->st[ST_ACC_GET];
    int err = 0;
    if (sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC) != SQLITE_OK) {
        err = db_fail(db, "bind account name");
        goto done;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        err = -ENOENT;
        goto done;
    }
    if (rc != SQLITE_ROW) {
        err = db_fail(db, "read account");
        goto done;
    }
    const unsigned char *name = sqlite3_column_text(st, 0);
    int name_len = sqlite3_column_bytes(st, 0);
    if (!name || name_len <= 0 || name_len > STORE_USER_MAX ||
        !column_scram(st, 2, SHA1_LEN, &out->sha1) ||
        !column_scram(st, 6, SHA256_LEN, &out->sha256)) {
        log_error("store: %s: account \"%s\": malformed row", db->path, user);
        memset(out, 0, sizeof(*out));
        err = -EIO;
        goto done;
    }
    memcpy(out->user, name, (size_t)name_len);
    out->user[name_len] = '\0';
    out->created = sqlite3_column_int64(st, 1);
done:
    st_done(st);
    return err;
}

int store_account_add(struct store_db *db, const struct store_account *a)
{
    if (!account_ok(a))
        return -EINVAL;
    sqlite3_stmt *st = db->st[ST_ACC_ADD];
    int err = 0;
    int64_t created = a->created ? a->created : (int64_t)time(NULL);
    if (bind_account(st, a) != SQLITE_OK || sqlite3_bind_int64(st, 2, created) != SQLITE_OK) {
        err = db_fail(db, "bind account");
        goto done;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
        err = -EEXIST;
    else if (rc != SQLITE_DONE)
        err = db_fail(db, "add account");
done:
    st_done(st);
    return err;
}

int store_account_update(struct store_db *db, const struct store_account *a)
{
    if (!account_ok(a))
        return -EINVAL;
    sqlite3_stmt *st = db->st[ST_ACC_UPDATE];
    int err = 0;
    if (bind_account(st, a) != SQLITE_OK) {
        err = db_fail(db, "bind account");
        goto done;
    }
    if (sqlite3_step(st) != SQLITE_DONE)
        err = db_fail(db, "update account");
    else if (sqlite3_changes(db->h) == 0)
        err = -ENOENT;
done:
    st_done(st);
    return err;
}

int store_account_del(struct store_db *db, const char *user)
{
    if (!user_ok(user))
        return -ENOENT;
    sqlite3_stmt *st = db->st[ST_ACC_DEL];
    int err = 0;
    if (sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC) != SQLITE_OK) {
        err = db_fail(db, "bind account name");
        goto done;
    }
    /* rows other tables keep for the account go with it: ON DELETE CASCADE */
    if (sqlite3_step(st) != SQLITE_DONE)
        err = db_fail(db, "delete account");
    else if (sqlite3_changes(db->h) == 0)
        err = -ENOENT;
done:
    st_done(st);
    return err;
}

int store_account_list(struct store_db *db, int (*fn)(void *arg, const char *user), void *arg)
{
    sqlite3_stmt *st = db->st[ST_ACC_LIST];
    int ret = 0;
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            ret = db_fail(db, "list accounts");
            break;
        }
        const unsigned char *name = sqlite3_column_text(st, 0);
        if (!name)
            continue;
        ret = fn(arg, (const char *)name);
        if (ret)
            break;
    }
    st_done(st);
    return ret;
}

int store_db_backup(struct store_db *db, const char *dest)
{
    /* O_EXCL: a backup never overwrites anything, least of all the live database */
    int fd = open(dest, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        int err = errno;
        if (err != EEXIST) /* the caller words that one for its user */
            log_error("store: backup to %s: %s", dest, strerror(err));
        return -err;
    }
    close(fd);
    sqlite3 *out = NULL;
    int err = -EIO;
    int rc = sqlite3_open_v2(dest, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_error("store: backup to %s: open: %s", dest, sqlite3_errstr(rc));
        goto out;
    }
    sqlite3_busy_timeout(out, BUSY_TIMEOUT_MS);
    sqlite3_backup *b = sqlite3_backup_init(out, "main", db->h, "main");
    if (!b) {
        log_error("store: backup to %s: %s", dest, sqlite3_errmsg(out));
        goto out;
    }
    /*
     * One step copies everything under one read transaction, so the copy is a
     * consistent snapshot; ternd's writers are not blocked (WAL). A busy source
     * (a writer holding the lock at the start) is retried for BUSY_TIMEOUT_MS.
     */
    for (int waited = 0;; waited += 50) {
        rc = sqlite3_backup_step(b, -1);
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || waited >= BUSY_TIMEOUT_MS)
            break;
        sqlite3_sleep(50);
    }
    int fin = sqlite3_backup_finish(b);
    if (rc == SQLITE_DONE && fin == SQLITE_OK)
        err = 0;
    else
        log_error("store: backup to %s: %s", dest, sqlite3_errstr(rc == SQLITE_DONE ? fin : rc));
out:
    if (sqlite3_close(out) != SQLITE_OK && err == 0)
        err = -EIO;
    if (err)
        unlink(dest); /* never leave a half copy that looks like a backup */
    return err;
}
