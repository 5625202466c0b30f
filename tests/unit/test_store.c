/*
 * Unit tests for store (the SQLite backend and the storage thread), in a
 * fresh mkdtemp directory. Raw SQLite is used only to look at the file from
 * outside (journal mode, user_version) and to play the other process.
 */
#include "core/log.h"
#include "core/mailbox.h"
#include "store/store.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[64];
static char db_path[128];

/* ---- helpers ---------------------------------------------------------------------------- */

static void make_account(struct store_account *a, const char *user, unsigned char seed)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->user, sizeof(a->user), "%s", user);
    memset(a->sha1.stored_key, seed, sizeof(a->sha1.stored_key));
    memset(a->sha1.server_key, seed + 1, sizeof(a->sha1.server_key));
    memset(a->sha1.salt, seed + 2, 16);
    a->sha1.salt_len = 16;
    a->sha1.iterations = 4096;
    memset(a->sha256.stored_key, seed + 3, sizeof(a->sha256.stored_key));
    memset(a->sha256.server_key, seed + 4, sizeof(a->sha256.server_key));
    memset(a->sha256.salt, seed + 5, STORE_SALT_MAX);
    a->sha256.salt_len = STORE_SALT_MAX;
    a->sha256.iterations = 8192;
    a->created = 1700000000;
}

/* Compares what the store keeps: SHA-1 keys are 20 bytes, SHA-256 keys 32. */
static bool scram_eq(const struct store_scram *a, const struct store_scram *b, size_t key_len)
{
    return memcmp(a->stored_key, b->stored_key, key_len) == 0 &&
           memcmp(a->server_key, b->server_key, key_len) == 0 && a->salt_len == b->salt_len &&
           memcmp(a->salt, b->salt, a->salt_len) == 0 && a->iterations == b->iterations;
}

static bool account_eq(const struct store_account *a, const struct store_account *b)
{
    return strcmp(a->user, b->user) == 0 && a->created == b->created &&
           scram_eq(&a->sha1, &b->sha1, 20) && scram_eq(&a->sha256, &b->sha256, 32);
}

static int raw_int(const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_open_v2(db_path, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return v;
}

static void raw_exec(const char *sql)
{
    sqlite3 *h;
    int rc = sqlite3_open_v2(db_path, &h, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    sqlite3_close(h);
    if (rc != SQLITE_OK)
        printf("# raw sql failed: %s\n", sql);
}

static void rm_dir_files(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
}

static unsigned file_mode(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (unsigned)(sb.st_mode & 0777) : 0xffff;
}

struct names {
    char seen[8][32];
    int n, stop_after;
};

static int collect(void *arg, const char *user)
{
    struct names *nm = arg;
    if (nm->n < 8)
        snprintf(nm->seen[nm->n], sizeof(nm->seen[0]), "%s", user);
    nm->n++;
    return nm->stop_after && nm->n == nm->stop_after ? 7 : 0;
}

static int count_accounts(void)
{
    return raw_int("SELECT count(*) FROM accounts");
}

/* ---- the synchronous backend ------------------------------------------------------------ */

static void test_open(void)
{
    struct store_db *db = NULL;
    /* umask 0 would leave a world-readable file if the store relied on it */
    mode_t old = umask(0);
    int rc = store_db_open(db_path, &db);
    umask(old);
    is_int(rc, 0, "open creates the database");
    is_int(file_mode(db_path), 0600, "the file is created 0600 whatever the umask");
    int v = store_db_version(db);
    ok(v >= 1, "schema version is at least 1 (got %d)", v);
    is_int(raw_int("PRAGMA user_version"), v, "store_db_version is PRAGMA user_version");

    struct store_account a;
    make_account(&a, "alice", 1);
    is_int(store_account_add(db, &a), 0, "add alice");
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", db_path);
    is_int(file_mode(wal), 0600, "the WAL file is 0600 too");
    store_db_close(db);
    store_db_close(NULL);

    sqlite3 *h;
    sqlite3_open(db_path, &h);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL);
    sqlite3_step(st);
    is_str((const char *)sqlite3_column_text(st, 0), "wal", "the database is in WAL mode");
    sqlite3_finalize(st);
    sqlite3_close(h);

    is_int(store_db_open(db_path, &db), 0, "reopen");
    is_int(store_db_version(db), v, "reopen keeps the version");
    struct store_account got;
    is_int(store_account_get(db, "alice", &got), 0, "reopen keeps the data");
    ok(account_eq(&got, &a), "and the row is intact");
    store_db_close(db);
    rm_dir_files();
}

static void test_accounts(void)
{
    struct store_db *db = NULL;
    is_int(store_db_open(db_path, &db), 0, "open");

    struct store_account a, got;
    make_account(&a, "alice", 10);
    is_int(store_account_add(db, &a), 0, "add");
    struct store_account dup;
    make_account(&dup, "alice", 50);
    is_int(store_account_add(db, &dup), -EEXIST, "add of an existing name is -EEXIST");
    is_int(store_account_get(db, "alice", &got), 0, "get");
    ok(account_eq(&got, &a), "get returns what add stored, not the refused duplicate");
    is_int(store_account_get(db, "bob", &got), -ENOENT, "get of a missing name is -ENOENT");
    is_str(got.user, "", "a failed get leaves no stale data");
    is_int(store_account_get(db, "ALICE", &got), -ENOENT, "names are compared as bytes");

    struct store_account b;
    make_account(&b, "bob", 20);
    b.created = 0;
    time_t before = time(NULL);
    is_int(store_account_add(db, &b), 0, "add with created 0");
    store_account_get(db, "bob", &got);
    ok(got.created >= before && got.created <= time(NULL) + 1, "created 0 means now");

    struct store_account upd;
    make_account(&upd, "alice", 30);
    upd.sha1.salt_len = 1;
    upd.sha256.iterations = 100000;
    upd.created = 1;
    is_int(store_account_update(db, &upd), 0, "update");
    store_account_get(db, "alice", &got);
    ok(scram_eq(&got.sha1, &upd.sha1, 20) && scram_eq(&got.sha256, &upd.sha256, 32),
       "update replaces the credentials");
    is_int(got.created, a.created, "update keeps created");
    struct store_account ghost;
    make_account(&ghost, "ghost", 40);
    is_int(store_account_update(db, &ghost), -ENOENT, "update of a missing name is -ENOENT");
    is_int(store_account_get(db, "ghost", &got), -ENOENT, "update does not create");

    struct store_account bad;
    make_account(&bad, "", 1);
    is_int(store_account_add(db, &bad), -EINVAL, "empty name refused");
    make_account(&bad, "x", 1);
    bad.sha1.salt_len = 0;
    is_int(store_account_add(db, &bad), -EINVAL, "empty salt refused");
    bad.sha1.salt_len = STORE_SALT_MAX + 1;
    is_int(store_account_add(db, &bad), -EINVAL, "oversized salt refused");
    make_account(&bad, "x", 1);
    bad.sha256.iterations = 0;
    is_int(store_account_update(db, &bad), -EINVAL, "zero iterations refused");
    memset(bad.user, 'u', sizeof(bad.user));
    bad.sha256.iterations = 1;
    is_int(store_account_add(db, &bad), -EINVAL, "unterminated name refused");
    is_int(store_account_get(db, "x", &got), -ENOENT, "refused adds wrote nothing");

    /* a name full of SQL is data, never code */
    struct store_account evil;
    make_account(&evil, "x'); DROP TABLE accounts; --", 60);
    is_int(store_account_add(db, &evil), 0, "add a name full of quotes");
    is_int(store_account_get(db, evil.user, &got), 0, "and read it back");
    ok(account_eq(&got, &evil), "intact");
    is_int(store_account_del(db, evil.user), 0, "and delete it");

    struct store_account c;
    make_account(&c, "carol", 70);
    store_account_add(db, &c);
    make_account(&c, "aaron", 71);
    store_account_add(db, &c);
    struct names nm = {0};
    is_int(store_account_list(db, collect, &nm), 0, "list");
    is_int(nm.n, 4, "list sees every account");
    is_str(nm.seen[0], "aaron", "list is sorted (1)");
    is_str(nm.seen[1], "alice", "list is sorted (2)");
    is_str(nm.seen[2], "bob", "list is sorted (3)");
    is_str(nm.seen[3], "carol", "list is sorted (4)");
    struct names early = {.stop_after = 2};
    is_int(store_account_list(db, collect, &early), 7, "list returns fn's non-zero value");
    is_int(early.n, 2, "and stops there");
    struct names again = {0};
    store_account_list(db, collect, &again);
    is_int(again.n, 4, "an early stop leaves the statement reusable");

    is_int(store_account_del(db, "bob"), 0, "del");
    is_int(store_account_get(db, "bob", &got), -ENOENT, "deleted account is gone");
    is_int(store_account_del(db, "bob"), -ENOENT, "del again is -ENOENT");
    is_int(store_account_del(db, "nobody"), -ENOENT, "del of a never-seen name is -ENOENT");

    /* explicit transactions and savepoints */
    is_int(store_db_begin(db), 0, "begin");
    make_account(&c, "tx1", 80);
    store_account_add(db, &c);
    is_int(store_db_savepoint(db), 0, "savepoint");
    make_account(&c, "tx2", 81);
    store_account_add(db, &c);
    is_int(store_db_rollback_to(db), 0, "rollback to savepoint");
    is_int(store_db_release(db), 0, "release");
    is_int(store_db_rollback(db), 0, "rollback");
    is_int(store_account_get(db, "tx1", &got), -ENOENT, "rollback undoes the transaction");
    is_int(store_db_rollback(db), 0, "rollback without a transaction is a no-op");
    is_int(store_db_begin(db), 0, "begin");
    make_account(&c, "tx1", 80);
    store_account_add(db, &c);
    is_int(store_db_savepoint(db), 0, "savepoint");
    make_account(&c, "tx2", 81);
    store_account_add(db, &c);
    store_db_rollback_to(db);
    store_db_release(db);
    is_int(store_db_commit(db), 0, "commit");
    is_int(store_account_get(db, "tx1", &got), 0, "commit keeps work before the savepoint");
    is_int(store_account_get(db, "tx2", &got), -ENOENT, "and not what was rolled back to");
    is_int(store_db_commit(db), -EIO, "commit without a transaction is an error");

    store_db_close(db);
    rm_dir_files();
}

static void test_refused(void)
{
    struct store_db *db = NULL;
    is_int(store_db_open(db_path, &db), 0, "open");
    int v = store_db_version(db);
    store_db_close(db);
    raw_exec("PRAGMA user_version = 9999");
    db = (struct store_db *)1;
    is_int(store_db_open(db_path, &db), -ENOTSUP, "a database from a newer tern is refused");
    ok(db == NULL, "and no handle is returned");
    is_int(raw_int("PRAGMA user_version"), 9999, "and it is left alone");
    rm_dir_files();
    raw_exec("PRAGMA user_version = 0");
    is_int(store_db_open(db_path, &db), 0, "a version-0 database is migrated");
    is_int(store_db_version(db), v, "to the current version");
    store_db_close(db);
    rm_dir_files();

    FILE *f = fopen(db_path, "w");
    fputs("this is not an SQLite database, but it is long enough to have a header........"
          "................................................................................",
          f);
    fclose(f);
    is_int(store_db_open(db_path, &db), -EIO, "a file that is not a database is refused");
    rm_dir_files();

    char missing[192];
    snprintf(missing, sizeof(missing), "%s/no/such/dir/tern.db", dir);
    is_int(store_db_open(missing, &db), -ENOENT, "a missing directory gives open's errno");
    ok(store_start(missing) == NULL, "store_start fails the same way");
}

/* ---- the storage thread ----------------------------------------------------------------- */

struct treq {
    struct store_req req;
    int completions;
    int hook_runs;
    bool hook_on_other_thread;
    bool hook_before_completion;
    pthread_t owner; /* the thread that drains the reply mailbox */
};

static struct treq *treq_of(struct mail *m)
{
    return (struct treq *)((char *)m - offsetof(struct treq, req.mail));
}

/* ctx: the drainer's counter of completions */
static void on_done(struct mail *m, void *ctx)
{
    struct treq *t = treq_of(m);
    t->completions++;
    t->hook_before_completion = t->hook_runs == (t->req.after ? 1 : 0);
    (*(int *)ctx)++;
}

static void hook(struct store_req *r)
{
    struct treq *t = (struct treq *)((char *)r - offsetof(struct treq, req));
    t->hook_runs++;
    t->hook_on_other_thread = !pthread_equal(pthread_self(), t->owner);
    /* what a PLAIN check does: turn a found account into a refusal */
    if (r->op == STORE_ACCOUNT_GET && r->status == 0 && r->arg)
        r->status = -EACCES;
}

static void treq_init(struct treq *t, struct mailbox *reply, enum store_op op, const char *user,
                      unsigned char seed)
{
    memset(t, 0, sizeof(*t));
    t->req.mail.fn = on_done;
    t->req.reply = reply;
    t->req.op = op;
    t->req.status = 12345;
    t->owner = pthread_self();
    snprintf(t->req.u.account.user, sizeof(t->req.u.account.user), "%s", user);
    make_account(&t->req.u.account.account, user, seed);
}

/*
 * Drains mb until want completions were counted (or 20 s pass with nothing:
 * a lost completion). Returns the count.
 */
static int drain_until(struct mailbox *mb, int want)
{
    int count = 0;
    while (count < want) {
        struct pollfd p = {.fd = mailbox_fd(mb), .events = POLLIN};
        int n = poll(&p, 1, 20000);
        if (n == 0)
            break;
        if (n > 0)
            mailbox_drain(mb, &count);
    }
    return count;
}

#define PER_THREAD 400

struct producer {
    struct store *s;
    int id;
    struct treq *reqs; /* 3 * PER_THREAD */
    int drained;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    struct mailbox *mb = mailbox_new();
    char name[64];
    for (int i = 0; i < PER_THREAD; i++) {
        struct treq *own = &p->reqs[3 * i];
        struct treq *shared = own + 1;
        struct treq *get = own + 2;
        snprintf(name, sizeof(name), "t%d-%d", p->id, i);
        treq_init(own, mb, STORE_ACCOUNT_ADD, name, (unsigned char)i);
        /* both producers add each shared-N: exactly one may win */
        snprintf(name, sizeof(name), "shared-%d", i);
        treq_init(shared, mb, STORE_ACCOUNT_ADD, name, (unsigned char)p->id);
        /* submitted after its add by the same thread, so it must see it */
        snprintf(name, sizeof(name), "t%d-%d", p->id, i);
        treq_init(get, mb, STORE_ACCOUNT_GET, name, 0);
        memset(&get->req.u.account.account, 0, sizeof(get->req.u.account.account));
        get->req.after = hook;
        get->req.arg = (i % 2) ? p : NULL; /* odd ones: the hook refuses */
        store_submit(p->s, &own->req);
        store_submit(p->s, &shared->req);
        store_submit(p->s, &get->req);
    }
    p->drained = drain_until(mb, 3 * PER_THREAD);
    /* a duplicate completion would show up now, or in the per-request counts */
    struct pollfd pf = {.fd = mailbox_fd(mb), .events = POLLIN};
    if (poll(&pf, 1, 50) > 0)
        mailbox_drain(mb, &p->drained);
    mailbox_free(mb);
    return NULL;
}

static void test_thread_concurrent(void)
{
    struct store *s = store_start(db_path);
    ok(s != NULL, "store_start");
    if (!s)
        return;
    struct producer p[2];
    pthread_t th[2];
    for (int k = 0; k < 2; k++) {
        p[k].s = s;
        p[k].id = k;
        p[k].reqs = calloc(3 * PER_THREAD, sizeof(struct treq));
        p[k].drained = 0;
        pthread_create(&th[k], NULL, produce, &p[k]);
    }
    for (int k = 0; k < 2; k++)
        pthread_join(th[k], NULL);

    int once = 0, own_ok = 0, get_ok = 0, get_content = 0, hooks_ok = 0, won = 0, lost = 0;
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < PER_THREAD; i++) {
            struct treq *own = &p[k].reqs[3 * i], *get = own + 2;
            for (int j = 0; j < 3; j++)
                once += own[j].completions == 1;
            own_ok += own->req.status == 0;
            int want = (i % 2) ? -EACCES : 0;
            get_ok += get->req.status == want;
            get_content += strcmp(get->req.u.account.account.user, own->req.u.account.user) == 0 &&
                           get->req.u.account.account.sha1.stored_key[0] == (unsigned char)i;
            hooks_ok += get->hook_runs == 1 && get->hook_on_other_thread &&
                        get->hook_before_completion && own->hook_runs == 0;
        }
    }
    for (int i = 0; i < PER_THREAD; i++) {
        int a = p[0].reqs[3 * i + 1].req.status, b = p[1].reqs[3 * i + 1].req.status;
        won += (a == 0) + (b == 0);
        lost += (a == -EEXIST) + (b == -EEXIST);
    }
    is_int(p[0].drained + p[1].drained, 2 * 3 * PER_THREAD, "as many completions as requests");
    is_int(once, 2 * 3 * PER_THREAD, "every request completed exactly once");
    is_int(own_ok, 2 * PER_THREAD, "every add of a fresh name succeeded");
    is_int(get_ok, 2 * PER_THREAD, "every get found its account (hook refusals included)");
    is_int(get_content, 2 * PER_THREAD, "and returned its content");
    is_int(hooks_ok, 2 * PER_THREAD, "after ran once, on the storage thread, before completion");
    is_int(won, PER_THREAD, "each contested name was added once");
    is_int(lost, PER_THREAD, "and refused once with -EEXIST");
    store_stop(s);
    is_int(count_accounts(), 3 * PER_THREAD, "everything acknowledged is in the file");
    free(p[0].reqs);
    free(p[1].reqs);
    rm_dir_files();
}

static atomic_int gate, held;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Holds the storage thread until the test has queued the next batch behind it. */
static void hold(struct store_req *r)
{
    (void)r;
    atomic_store(&held, 1);
    while (!atomic_load(&gate))
        sleep_ms(1);
}

/* Queues a request that holds the storage thread, and waits until it does. */
static void hold_thread(struct store *s, struct treq *t, struct mailbox *mb)
{
    atomic_store(&gate, 0);
    atomic_store(&held, 0);
    treq_init(t, mb, STORE_ACCOUNT_GET, "existing", 0);
    t->req.after = hold;
    store_submit(s, &t->req);
    while (!atomic_load(&held))
        sleep_ms(1);
}

static void *stopper(void *arg)
{
    store_stop(arg);
    return NULL;
}

static void test_thread_batch(void)
{
    struct store_db *db;
    store_db_open(db_path, &db);
    struct store_account a;
    make_account(&a, "existing", 1);
    store_account_add(db, &a);
    store_db_close(db);

    struct store *s = store_start(db_path);
    struct mailbox *mb = mailbox_new();
    struct treq first, r[8];
    /* the thread sits in first's hook, so the eight below form one batch */
    hold_thread(s, &first, mb);
    treq_init(&r[0], mb, STORE_ACCOUNT_ADD, "a", 1);
    treq_init(&r[1], mb, STORE_ACCOUNT_ADD, "existing", 2); /* -EEXIST */
    treq_init(&r[2], mb, STORE_ACCOUNT_ADD, "b", 3);
    treq_init(&r[3], mb, STORE_ACCOUNT_DEL, "missing", 0); /* -ENOENT */
    treq_init(&r[4], mb, STORE_ACCOUNT_ADD, "b", 4);       /* -EEXIST within the batch */
    treq_init(&r[5], mb, STORE_ACCOUNT_UPDATE, "nobody", 5);
    treq_init(&r[6], mb, STORE_ACCOUNT_ADD, "c", 6);
    treq_init(&r[7], mb, STORE_ACCOUNT_DEL, "c", 0); /* removes what r[6] added */
    for (int i = 0; i < 8; i++)
        store_submit(s, &r[i].req);
    atomic_store(&gate, 1);
    is_int(drain_until(mb, 9), 9, "all completions of the batch arrived");
    is_int(first.req.status, 0, "the holding request succeeded");
    const int want[8] = {0, -EEXIST, 0, -ENOENT, -EEXIST, -ENOENT, 0, 0};
    int right = 0;
    for (int i = 0; i < 8; i++) {
        right += r[i].req.status == want[i];
        if (r[i].req.status != want[i])
            printf("# request %d: status %d, want %d\n", i, r[i].req.status, want[i]);
    }
    is_int(right, 8, "each request of the batch got its own status");

    /* store_stop while N requests wait behind a held thread: all of them still run */
    enum { N = 300 };
    struct treq *many = calloc(N, sizeof(*many));
    hold_thread(s, &first, mb);
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "late-%d", i);
        treq_init(&many[i], mb, STORE_ACCOUNT_ADD, name, 9);
        store_submit(s, &many[i].req);
    }
    pthread_t th;
    pthread_create(&th, NULL, stopper, s);
    sleep_ms(200); /* lets store_stop set its flag; the probe below shows that it did */
    struct treq probe;
    treq_init(&probe, mb, STORE_ACCOUNT_ADD, "probe", 1);
    store_submit(s, &probe.req);
    is_int(probe.req.status, -ESHUTDOWN, "a request submitted during store_stop is refused");
    atomic_store(&gate, 1);
    pthread_join(th, NULL);
    int ran = 0;
    mailbox_drain(mb, &ran);
    is_int(ran, N + 2, "store_stop posted every queued request (and the refused one)");
    int good = 0;
    for (int i = 0; i < N; i++)
        good += many[i].req.status == 0 && many[i].completions == 1;
    is_int(good, N, "and ran them all");
    free(many);

    store_db_open(db_path, &db);
    struct store_account got;
    is_int(store_account_get(db, "a", &got), 0, "a is stored");
    is_int(store_account_get(db, "b", &got), 0, "b is stored despite the failed duplicate");
    is_int(got.sha1.stored_key[0], 3, "and it is the first b, not the refused one");
    is_int(store_account_get(db, "c", &got), -ENOENT, "c was added and deleted");
    is_int(store_account_get(db, "existing", &got), 0, "existing survived its duplicate");
    is_int(got.sha1.stored_key[0], 1, "unchanged");
    is_int(store_account_get(db, "late-299", &got), 0, "the last late request is stored");
    is_int(store_account_get(db, "probe", &got), -ENOENT, "the refused one is not");
    store_db_close(db);
    mailbox_free(mb);
    rm_dir_files();
}

/* Another process holds the write lock: first past the busy timeout, then briefly. */
struct locker {
    int hold_ms;
    atomic_int locked;
};

static void *lock_db(void *arg)
{
    struct locker *l = arg;
    sqlite3 *h;
    sqlite3_open_v2(db_path, &h, SQLITE_OPEN_READWRITE, NULL);
    sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    atomic_store(&l->locked, 1);
    sleep_ms(l->hold_ms);
    sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(h);
    return NULL;
}

static void test_thread_locked(void)
{
    struct store *s = store_start(db_path);
    struct mailbox *mb = mailbox_new();
    struct treq r[3];
    const char *names[3] = {"x", "y", "z"};

    /*
     * Held longer than the 5 s busy timeout: the batch fails as a whole. The
     * storage thread is held first (before the lock) so the three form one batch.
     */
    struct treq first;
    hold_thread(s, &first, mb);
    struct locker l = {.hold_ms = 7000};
    pthread_t th;
    pthread_create(&th, NULL, lock_db, &l);
    while (!atomic_load(&l.locked))
        sleep_ms(1);
    for (int i = 0; i < 3; i++) {
        treq_init(&r[i], mb, STORE_ACCOUNT_ADD, names[i], 1);
        r[i].req.after = hook; /* runs even for a failed batch */
        store_submit(s, &r[i].req);
    }
    atomic_store(&gate, 1);
    is_int(drain_until(mb, 4), 4, "completions of a failed batch arrive");
    int eio = 0, hooked = 0;
    for (int i = 0; i < 3; i++) {
        eio += r[i].req.status == -EIO;
        hooked += r[i].hook_runs == 1;
    }
    is_int(eio, 3, "a batch that cannot commit fails every request with -EIO");
    is_int(hooked, 3, "after still runs for each");
    pthread_join(th, NULL);

    /* held for a moment: the busy timeout waits it out */
    l.hold_ms = 300;
    atomic_store(&l.locked, 0);
    pthread_create(&th, NULL, lock_db, &l);
    while (!atomic_load(&l.locked))
        sleep_ms(1);
    for (int i = 0; i < 3; i++) {
        treq_init(&r[i], mb, STORE_ACCOUNT_ADD, names[i], 1);
        store_submit(s, &r[i].req);
    }
    drain_until(mb, 3);
    int fine = 0;
    for (int i = 0; i < 3; i++)
        fine += r[i].req.status == 0;
    is_int(fine, 3, "a writer in another process is waited for");
    pthread_join(th, NULL);
    store_stop(s);
    store_stop(NULL);
    mailbox_free(mb);
    is_int(count_accounts(), 3, "the failed batch left nothing, the next one everything");
    rm_dir_files();
}

static void test_backup(void)
{
    struct store_db *db = NULL, *copy = NULL;
    char dest[160];
    snprintf(dest, sizeof(dest), "%s/backup.db", dir);
    is_int(store_db_open(db_path, &db), 0, "open");
    struct store_account a, got;
    make_account(&a, "backed-up", 7);
    store_account_del(db, "backed-up");
    is_int(store_account_add(db, &a), 0, "add an account to back up");
    is_int(store_db_backup(db, dest), 0, "backup written");
    struct stat sb;
    ok(stat(dest, &sb) == 0 && (sb.st_mode & 0777) == 0600, "backup file is mode 0600");
    is_int(store_db_backup(db, dest), -EEXIST, "an existing file is never overwritten");
    is_int(store_account_del(db, "backed-up"), 0, "the live copy changes afterwards");
    is_int(store_db_open(dest, &copy), 0, "the backup opens as a database");
    is_int(store_account_get(copy, "backed-up", &got), 0, "the backup holds the account");
    ok(account_eq(&a, &got), "with the same credentials");
    is_int(store_db_version(copy), store_db_version(db), "at the same schema version");
    store_db_close(copy);
    store_db_close(db);
    unlink(dest);
    char wal[200];
    snprintf(wal, sizeof(wal), "%s-wal", dest);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", dest);
    unlink(wal);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    snprintf(dir, sizeof(dir), "/tmp/tern-test-store-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(db_path, sizeof(db_path), "%s/tern.db", dir);
    test_open();
    test_accounts();
    test_refused();
    test_thread_concurrent();
    test_thread_batch();
    test_thread_locked();
    test_backup();
    rm_dir_files();
    rmdir(dir);
    return tap_done();
}
