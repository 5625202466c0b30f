/*
 * Unit tests for store_msg (offline messages, the archive and its
 * preferences, block lists), on a fresh database in a mkdtemp directory.
 */
#include "core/log.h"
#include "store/store.h"
#include "store/store_msg.h"
#include "tap.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static char db_path[128];

static void raw_exec(const char *sql)
{
    sqlite3 *h;
    sqlite3_open(db_path, &h);
    int rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    sqlite3_close(h);
    ok(rc == SQLITE_OK, "raw: %s", sql);
}

static void add_account(struct store_db *db, const char *user)
{
    struct store_account a = {0};
    snprintf(a.user, sizeof(a.user), "%s", user);
    a.sha1.salt_len = a.sha256.salt_len = 4;
    a.sha1.iterations = a.sha256.iterations = 4096;
    is_int(store_account_add(db, &a), 0, "account %s", user);
}

struct seen {
    char text[4096];
    int64_t last;
    int n;
};

static int offline_collect(void *arg, int64_t id, int64_t stamp, const char *xml)
{
    struct seen *s = arg;
    char line[256];
    snprintf(line, sizeof(line), "%lld:%s;", (long long)stamp, xml);
    strcat(s->text, line);
    s->last = id;
    s->n++;
    return 0;
}

static void test_offline(struct store_db *db)
{
    add_account(db, "alice");
    is_int(store_msg_user_exists(db, "alice"), 1, "alice exists");
    is_int(store_msg_user_exists(db, "nobody"), 0, "nobody does not");
    is_int(store_offline_count(db, "alice"), 0, "no offline messages");
    is_int(store_offline_add(db, "alice", "bob@x/r", 10, "<m>1</m>", 3), 0, "add 1");
    is_int(store_offline_add(db, "alice", "bob@x/r", 20, "<m>2</m>", 3), 0, "add 2");
    is_int(store_offline_add(db, "alice", NULL, 30, "<m>3</m>", 3), 0, "add 3 (no sender)");
    is_int(store_offline_add(db, "alice", "bob@x", 40, "<m>4</m>", 3), -EDQUOT, "quota");
    is_int(store_offline_add(db, "bob", "alice@x", 40, "<m>b</m>", 0), 0, "no quota");
    is_int(store_offline_add(db, "", "x", 1, "<m/>", 0), -EINVAL, "empty user");
    is_int(store_offline_add(db, "bob", "x", 1, "", 0), -EINVAL, "empty xml");
    is_int(store_offline_count(db, "alice"), 3, "three for alice");

    struct seen s = {0};
    is_int(store_offline_list(db, "alice", 0, 2, offline_collect, &s), 0, "list 2");
    is_str(s.text, "10:<m>1</m>;20:<m>2</m>;", "first page in order");
    int64_t mid = s.last;
    memset(&s, 0, sizeof(s));
    is_int(store_offline_list(db, "alice", mid, 10, offline_collect, &s), 0, "list rest");
    is_str(s.text, "30:<m>3</m>;", "the rest");
    is_int(store_offline_del(db, "alice", mid), 2, "delete up to the first page");
    is_int(store_offline_count(db, "alice"), 1, "one left");
    is_int(store_offline_count(db, "bob"), 1, "bob's untouched");
    is_int(store_offline_del(db, "alice", INT64_MAX), 1, "delete the rest");
    is_int(store_offline_del(db, "alice", INT64_MAX), 0, "nothing left to delete");
}

struct page {
    char sids[1024];
    int n;
};

static int arch_collect(void *arg, int64_t id, int64_t stamp, const char *sid, const char *xml)
{
    (void)id;
    (void)stamp;
    (void)xml;
    struct page *p = arg;
    strcat(p->sids, sid);
    strcat(p->sids, ",");
    p->n++;
    return 0;
}

static int arch_fail(void *arg, int64_t id, int64_t stamp, const char *sid, const char *xml)
{
    (void)arg;
    (void)id;
    (void)stamp;
    (void)sid;
    (void)xml;
    return -ENOMEM;
}

static void test_archive(struct store_db *db)
{
    /* alice: s1..s6, alternating peers bob (res a) and carol; stamps 100..600 */
    for (int i = 1; i <= 6; i++) {
        char sid[16], xml[32];
        snprintf(sid, sizeof(sid), "s%d", i);
        snprintf(xml, sizeof(xml), "<message>%d</message>", i);
        struct store_arch a = {
            "alice", i % 2 ? "bob@x" : "carol@x", i % 2 ? "a" : "", i * 100, sid, i % 2, xml};
        is_int(store_archive_add(db, &a), 0, "archive %s", sid);
    }
    struct store_arch dup = {"alice", "bob@x", "", 1, "s1", 0, "<m/>"};
    is_int(store_archive_add(db, &dup), -EEXIST, "a sid is unique per owner");
    dup.user = "bob";
    is_int(store_archive_add(db, &dup), 0, "the same sid for another owner");
    dup.sid = "";
    is_int(store_archive_add(db, &dup), -EINVAL, "empty sid");

    int64_t r1 = store_archive_rowid(db, "alice", "s1");
    int64_t r4 = store_archive_rowid(db, "alice", "s4");
    ok(r1 > 0 && r4 > r1, "row ids follow insertion");
    is_int(store_archive_rowid(db, "alice", "nope"), -ENOENT, "unknown sid");
    is_int(store_archive_rowid(db, "carol", "s1"), -ENOENT, "another owner's sid");

    struct store_arch_query q = {"alice", NULL, NULL, INT64_MIN, INT64_MAX, 0, INT64_MAX, 4, false};
    struct page p = {0};
    is_int(store_archive_query(db, &q, arch_collect, &p), 4, "first page of 4");
    is_str(p.sids, "s1,s2,s3,s4,", "forward, oldest first");
    q.after = r4;
    memset(&p, 0, sizeof(p));
    is_int(store_archive_query(db, &q, arch_collect, &p), 2, "after s4");
    is_str(p.sids, "s5,s6,", "the rest");
    q.after = 0;
    q.backward = true;
    q.max = 2;
    memset(&p, 0, sizeof(p));
    is_int(store_archive_query(db, &q, arch_collect, &p), 2, "last page");
    is_str(p.sids, "s5,s6,", "backward pages are still oldest first");
    q.below = r4;
    memset(&p, 0, sizeof(p));
    store_archive_query(db, &q, arch_collect, &p);
    is_str(p.sids, "s2,s3,", "before s4");
    q.below = INT64_MAX;
    q.backward = false;
    q.max = 10;
    q.with = "bob@x";
    memset(&p, 0, sizeof(p));
    store_archive_query(db, &q, arch_collect, &p);
    is_str(p.sids, "s1,s3,s5,", "with a bare JID");
    q.with_res = "a";
    memset(&p, 0, sizeof(p));
    store_archive_query(db, &q, arch_collect, &p);
    is_str(p.sids, "s1,s3,s5,", "with a full JID");
    q.with = "carol@x";
    memset(&p, 0, sizeof(p));
    store_archive_query(db, &q, arch_collect, &p);
    is_str(p.sids, "", "carol has no resource a");
    q.with = NULL;
    q.with_res = NULL;
    q.start = 200;
    q.end = 400;
    memset(&p, 0, sizeof(p));
    store_archive_query(db, &q, arch_collect, &p);
    is_str(p.sids, "s2,s3,s4,", "start and end are inclusive");
    is_int(store_archive_count(db, &q, 0, INT64_MAX), 3, "count with the time filter");
    is_int(store_archive_count(db, &q, 0, r4), 2, "count below s4");
    q.start = INT64_MIN;
    q.end = INT64_MAX;
    is_int(store_archive_count(db, &q, 0, INT64_MAX), 6, "count all");
    is_int(store_archive_count(db, &q, r1, INT64_MAX), 5, "count after s1");
    is_int(store_archive_query(db, &q, arch_fail, NULL), -ENOMEM, "fn's error stops it");

    is_int(store_archive_expire(db, 300), 3, "expire older than 300 (two of alice, bob's)");
    q.max = 10;
    memset(&p, 0, sizeof(p));
    store_archive_query(db, &q, arch_collect, &p);
    is_str(p.sids, "s3,s4,s5,s6,", "what is left");
}

static void test_prefs(struct store_db *db)
{
    struct store_arch_prefs p;
    is_int(store_archive_prefs_get(db, "alice", &p), 0, "get unset prefs");
    is_str(p.dflt, "always", "default always");
    is_str(p.always, "", "empty always");
    is_str(p.never, "", "empty never");
    store_archive_prefs_fini(&p);
    is_int(store_archive_wants(db, "alice", "bob@x"), 1, "always by default");

    struct store_arch_prefs set = {"roster", "carol@x\ndave@x", "bob@x"};
    is_int(store_archive_prefs_set(db, "alice", &set), 0, "set");
    is_int(store_archive_prefs_get(db, "alice", &p), 0, "get");
    is_str(p.dflt, "roster", "default roster");
    is_str(p.always, "carol@x\ndave@x", "always list");
    is_str(p.never, "bob@x", "never list");
    store_archive_prefs_fini(&p);
    store_archive_prefs_fini(NULL);

    raw_exec("INSERT INTO roster (user, contact, sub) VALUES ('alice', 'eve@x', 3),"
             " ('alice', 'bob@x', 3)");
    is_int(store_archive_wants(db, "alice", "bob@x"), 0, "never wins over the roster");
    is_int(store_archive_wants(db, "alice", "dave@x"), 1, "always list");
    is_int(store_archive_wants(db, "alice", "dave@xx"), 0, "whole lines only");
    is_int(store_archive_wants(db, "alice", "eve@x"), 1, "roster: in the roster");
    is_int(store_archive_wants(db, "alice", "zed@x"), 0, "roster: not in the roster");
    struct store_arch_prefs never = {"never", "", ""};
    is_int(store_archive_prefs_set(db, "alice", &never), 0, "set never");
    is_int(store_archive_wants(db, "alice", "eve@x"), 0, "never");
    struct store_arch_prefs bad = {"often", "", ""};
    is_int(store_archive_prefs_set(db, "alice", &bad), -EINVAL, "bad default");
}

static int block_collect(void *arg, const char *jid)
{
    strcat(arg, jid);
    strcat(arg, ";");
    return 0;
}

static void test_blocklist(struct store_db *db)
{
    char seen[256] = "";
    is_int(store_block_list(db, "alice", block_collect, seen), 0, "empty list");
    is_str(seen, "", "nothing blocked");
    is_int(store_block_add(db, "alice", "bob@x"), 0, "block bob");
    is_int(store_block_add(db, "alice", "bob@x"), 0, "block bob again");
    is_int(store_block_add(db, "alice", "evil.example"), 0, "block a domain");
    is_int(store_block_add(db, "carol", "bob@x"), 0, "carol blocks bob");
    is_int(store_block_list(db, "alice", block_collect, seen), 0, "list");
    is_str(seen, "bob@x;evil.example;", "in byte order");
    const char *c1[] = {"bob@x/r", "bob@x", "x/r", "x"};
    is_int(store_blocked(db, "alice", c1, 4), 1, "bob's full JID matches the bare item");
    const char *c2[] = {"z@evil.example/r", "z@evil.example", "evil.example/r", "evil.example"};
    is_int(store_blocked(db, "alice", c2, 4), 1, "domain item");
    const char *c3[] = {"dave@x/r", "dave@x", NULL, "x"};
    is_int(store_blocked(db, "alice", c3, 4), 0, "dave is not blocked");
    is_int(store_block_del(db, "alice", "bob@x"), 1, "unblock bob");
    is_int(store_blocked(db, "alice", c1, 4), 0, "bob no longer blocked");
    is_int(store_block_del(db, "alice", "bob@x"), 0, "unblock bob again");
    is_int(store_block_del(db, "alice", NULL), 1, "unblock all");
    seen[0] = '\0';
    store_block_list(db, "carol", block_collect, seen);
    is_str(seen, "bob@x;", "carol's list untouched");

    int err = 0;
    for (int i = 0; i < STORE_BLOCK_MAX && !err; i++) {
        char jid[32];
        snprintf(jid, sizeof(jid), "u%d@x", i);
        err = store_block_add(db, "dave", jid);
    }
    is_int(err, 0, "up to the cap");
    is_int(store_block_add(db, "dave", "one-more@x"), -ENOSPC, "past the cap");
    is_int(store_block_add(db, "dave", "u7@x"), 0, "re-adding at the cap is fine");
}

static void test_purge(struct store_db *db)
{
    is_int(store_offline_add(db, "alice", "bob@x", 1, "<m/>", 0), 0, "offline row");
    is_int(store_block_add(db, "alice", "bob@x"), 0, "block row");
    is_int(store_account_del(db, "alice"), 0, "delete alice");
    is_int(store_offline_count(db, "alice"), 0, "offline rows went with the account");
    char seen[64] = "";
    store_block_list(db, "alice", block_collect, seen);
    is_str(seen, "", "block list went with the account");
    struct store_arch_query q = {"alice", NULL,      NULL, INT64_MIN, INT64_MAX,
                                 0,       INT64_MAX, 10,   false};
    is_int(store_archive_count(db, &q, 0, INT64_MAX), 0, "archive went with the account");
}

int main(void)
{
    log_set_level(LOG_ERROR);
    snprintf(dir, sizeof(dir), "/tmp/tern-test-msg-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(db_path, sizeof(db_path), "%s/tern.db", dir);
    struct store_db *db;
    if (ok(store_db_open(db_path, &db) == 0, "open")) {
        test_offline(db);
        test_archive(db);
        test_prefs(db);
        test_blocklist(db);
        test_purge(db);
        store_db_close(db);
    }
    unlink(db_path);
    char p[160];
    snprintf(p, sizeof(p), "%s-wal", db_path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", db_path);
    unlink(p);
    rmdir(dir);
    return tap_done();
}
