/*
 * Unit tests for store_roster (the roster tables), on a fresh database in a
 * mkdtemp directory. Rows are written with raw SQL where the typed setters
 * are not the subject.
 */
#include "core/log.h"
#include "store/store.h"
#include "store/store_roster.h"
#include "tap.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char dir[64];
static char db_path[128];

static int collect(void *arg, const char *contact)
{
    char *out = arg;
    strcat(out, contact);
    strcat(out, ";");
    return 0;
}

static int stop_first(void *arg, const char *contact)
{
    (void)contact;
    ++*(int *)arg;
    return 7;
}

static void test_subscriptions(void)
{
    struct store_db *db;
    if (!ok(store_db_open(db_path, &db) == 0, "open"))
        return;
    sqlite3 *h;
    sqlite3_open(db_path, &h);
    int rc = sqlite3_exec(h,
                          "INSERT INTO roster (user, contact, sub) VALUES"
                          " ('alice', 'bob@x', 3), ('alice', 'carol@x', 1),"
                          " ('alice', 'dave@x', 2), ('alice', 'eve@x', 0), ('bob', 'alice@x', 3)",
                          NULL, NULL, NULL);
    sqlite3_close(h);
    ok(rc == SQLITE_OK, "rows written");
    is_int(store_roster_sub(db, "alice", "bob@x"), STORE_SUB_BOTH, "both");
    is_int(store_roster_sub(db, "alice", "carol@x"), STORE_SUB_TO, "to");
    is_int(store_roster_sub(db, "alice", "dave@x"), STORE_SUB_FROM, "from");
    is_int(store_roster_sub(db, "alice", "eve@x"), STORE_SUB_NONE, "none");
    is_int(store_roster_sub(db, "alice", "zed@x"), STORE_SUB_NONE, "no row is none");
    is_int(store_roster_sub(db, "nobody", "bob@x"), STORE_SUB_NONE, "no roster is none");

    char seen[256] = "";
    is_int(store_roster_subscribers(db, "alice", collect, seen), 0, "subscribers: all seen");
    is_str(seen, "bob@x;dave@x;", "only from and both, in order");
    int calls = 0;
    is_int(store_roster_subscribers(db, "alice", stop_first, &calls), 7, "fn's value stops it");
    is_int(calls, 1, "after one call");
    seen[0] = '\0';
    is_int(store_roster_subscribers(db, "nobody", collect, seen), 0, "empty roster");
    is_str(seen, "", "no subscribers");
    store_db_close(db);
}

struct seen {
    char text[512];
    int n;
};

static int collect_items(void *arg, const struct store_roster_item *it)
{
    struct seen *s = arg;
    char line[128];
    snprintf(line, sizeof(line), "%s:%d%s%s%s%s|%s|%s;", it->contact, it->sub,
             it->ask_out ? "o" : "", it->ask_in ? "i" : "", it->preapproved ? "p" : "",
             it->shown ? "s" : "", it->name, it->in_stanza ? it->in_stanza : "-");
    strcat(s->text, line);
    s->n++;
    return 0;
}

static int stop_item(void *arg, const struct store_roster_item *it)
{
    (void)it;
    ++*(int *)arg;
    return 5;
}

static void test_items(void)
{
    struct store_db *db;
    if (!ok(store_db_open(db_path, &db) == 0, "open"))
        return;
    int64_t ver = -1;
    is_int(store_roster_version(db, "carol", &ver), 0, "version of an empty roster");
    is_int(ver, 0, "is 0");
    struct store_roster_item it, got;
    is_int(store_roster_get(db, "carol", "x@y", &got), -ENOENT, "get: no row");
    ok(got.contact == NULL, "out zeroed");

    memset(&it, 0, sizeof(it));
    it.contact = "x@y";
    it.name = "Ex";
    it.groups = "A\nB";
    it.sub = STORE_SUB_TO;
    it.ask_in = true;
    it.shown = true;
    it.in_stanza = "<presence type='subscribe'/>";
    int64_t t0 = (int64_t)time(NULL);
    is_int(store_roster_put(db, "carol", &it), 0, "put");
    ok(it.ver >= t0 && it.ver <= (int64_t)time(NULL), "the first version is the time");
    int64_t v1 = it.ver;
    is_int(store_roster_get(db, "carol", "x@y", &got), 0, "get");
    is_str(got.contact, "x@y", "contact");
    is_str(got.name, "Ex", "name");
    is_str(got.groups, "A\nB", "groups");
    is_int(got.sub, STORE_SUB_TO, "sub");
    ok(!got.ask_out && got.ask_in && !got.preapproved && got.shown, "flags");
    is_str(got.in_stanza, "<presence type='subscribe'/>", "in_stanza");
    is_int(got.ver, v1, "row version");
    store_roster_item_fini(&got);
    ok(got.contact == NULL && got.name == NULL, "fini zeroes");
    store_roster_item_fini(NULL);

    /* replace: the version moves on, NULL and "" name and in_stanza read back as none */
    it.name = "";
    it.groups = NULL;
    it.in_stanza = NULL;
    it.ask_in = false;
    it.ask_out = true;
    it.preapproved = true;
    is_int(store_roster_put(db, "carol", &it), 0, "put again");
    is_int(it.ver, v1 + 1, "then one more");
    is_int(store_roster_get(db, "carol", "x@y", &got), 0, "get again");
    is_str(got.name, "", "no name");
    is_str(got.groups, "", "no groups");
    ok(got.in_stanza == NULL, "no stanza");
    ok(got.ask_out && !got.ask_in && got.preapproved, "flags replaced");
    store_roster_item_fini(&got);
    is_int(store_roster_sub(db, "carol", "x@y"), STORE_SUB_TO, "sub sees the row");

    struct store_roster_item hidden = {.contact = "h@y", .sub = STORE_SUB_NONE, .ask_in = true};
    is_int(store_roster_put(db, "carol", &hidden), 0, "put a hidden row");
    struct store_roster_item other = {.contact = "a@y", .sub = STORE_SUB_BOTH, .shown = true};
    is_int(store_roster_put(db, "dan", &other), 0, "another user's row");
    ok(other.ver < v1 + 2, "versions are per user");
    is_int(store_roster_count(db, "carol", true), 1, "one shown");
    is_int(store_roster_count(db, "carol", false), 2, "two rows");
    is_int(store_roster_count(db, "nobody", false), 0, "none");
    is_int(store_roster_version(db, "carol", &ver), 0, "version");
    is_int(ver, v1 + 2, "three changes");

    struct seen seen = {"", 0};
    is_int(store_roster_each(db, "carol", collect_items, &seen), 0, "each");
    is_str(seen.text, "h@y:0i||-;x@y:1ops||-;", "every row in contact order");
    int calls = 0;
    is_int(store_roster_each(db, "carol", stop_item, &calls), 5, "fn's value stops it");
    is_int(calls, 1, "after one call");

    struct store_roster_item bad = {.contact = "b@y", .sub = 4};
    is_int(store_roster_put(db, "carol", &bad), -EINVAL, "sub out of range");
    bad.sub = 0;
    bad.contact = "";
    is_int(store_roster_put(db, "carol", &bad), -EINVAL, "empty contact");
    bad.contact = NULL;
    is_int(store_roster_put(db, "carol", &bad), -EINVAL, "no contact");
    is_int(store_roster_version(db, "carol", &ver), 0, "version");
    is_int(ver, v1 + 2, "refused writes change nothing");

    int64_t dv = 0;
    is_int(store_roster_del(db, "carol", "x@y", &dv), 0, "del");
    is_int(dv, v1 + 3, "del bumps the version");
    is_int(store_roster_del(db, "carol", "x@y", &dv), -ENOENT, "del again");
    is_int(store_roster_del(db, "carol", "h@y", NULL), 0, "del without version out");
    is_int(store_roster_count(db, "carol", false), 0, "empty");
    is_int(store_roster_version(db, "carol", &ver), 0, "version");
    is_int(ver, v1 + 4, "and del without version out too");

    /* rows and version go with the account */
    struct store_account acc = {.created = 1};
    snprintf(acc.user, sizeof(acc.user), "dan");
    acc.sha1.salt_len = acc.sha256.salt_len = 4;
    acc.sha1.iterations = acc.sha256.iterations = 4096;
    is_int(store_account_add(db, &acc), 0, "account dan");
    is_int(store_account_del(db, "dan"), 0, "delete dan");
    is_int(store_roster_count(db, "dan", false), 0, "rows purged");
    is_int(store_roster_version(db, "dan", &ver), 0, "version");
    is_int(ver, 0, "version purged");
    store_db_close(db);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    snprintf(dir, sizeof(dir), "/tmp/tern-test-roster-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(db_path, sizeof(db_path), "%s/tern.db", dir);
    test_subscriptions();
    test_items();
    unlink(db_path);
    char p[160];
    snprintf(p, sizeof(p), "%s-wal", db_path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", db_path);
    unlink(p);
    rmdir(dir);
    return tap_done();
}
