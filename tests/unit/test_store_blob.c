/*
 * Unit tests for store_blob (vCards, private XML, PEP nodes and items), on a
 * fresh database in a mkdtemp directory. Roster rows and accounts, which
 * are not the subject, are written with raw SQL.
 */
#include "core/log.h"
#include "store/store.h"
#include "store/store_blob.h"
#include "tap.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static char db_path[128];

static int raw_sql(const char *sql)
{
    sqlite3 *h;
    sqlite3_open(db_path, &h);
    int rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    sqlite3_close(h);
    return rc;
}

/* Collects "owner/node/id=xml;" for each item. */
static int collect(void *arg, const struct store_pep_item *it)
{
    char *out = arg;
    size_t n = strlen(out);
    snprintf(out + n, 1024 - n, "%s/%s/%s=%s;", it->owner, it->node, it->id, it->xml);
    return 0;
}

static int stop_at_first(void *arg, const struct store_pep_item *it)
{
    (void)it;
    ++*(int *)arg;
    return 9;
}

static int collect_nodes(void *arg, const struct store_pep_node *n)
{
    char *out = arg;
    size_t len = strlen(out);
    snprintf(out + len, 512 - len, "%s:%s:%u:%d:%d;", n->node, n->access, n->max_items, n->persist,
             n->send_last);
    return 0;
}

static void test_vcard_private(struct store_db *db)
{
    char *xml = NULL, hash[STORE_PHOTO_HASH + 1] = "x";
    is_int(store_vcard_get(db, "alice", &xml, hash), -ENOENT, "no vCard yet");
    is_int(store_vcard_set(db, "alice", "<vCard xmlns='vcard-temp'/>", ""), 0, "set");
    is_int(store_vcard_get(db, "alice", &xml, hash), 0, "get");
    is_str(xml, "<vCard xmlns='vcard-temp'/>", "same XML back");
    is_str(hash, "", "no photo");
    free(xml);
    is_int(store_vcard_set(db, "alice", "<vCard xmlns='vcard-temp'><FN>A</FN></vCard>",
                           "0123456789abcdef0123456789abcdef01234567"),
           0, "replace");
    is_int(store_vcard_get(db, "alice", &xml, hash), 0, "get again");
    is_str(xml, "<vCard xmlns='vcard-temp'><FN>A</FN></vCard>", "replaced");
    is_str(hash, "0123456789abcdef0123456789abcdef01234567", "photo hash kept");
    free(xml);
    is_int(store_vcard_get(db, "bob", &xml, NULL), -ENOENT, "per user");

    is_int(store_private_count(db, "alice"), 0, "no private data");
    is_int(store_private_get(db, "alice", "a:b", &xml), -ENOENT, "no element");
    is_int(store_private_set(db, "alice", "a:b", "<x xmlns='a:b'>1</x>"), 0, "set private");
    is_int(store_private_set(db, "alice", "a:c", "<y xmlns='a:c'/>"), 0, "another ns");
    is_int(store_private_set(db, "alice", "a:b", "<x xmlns='a:b'>2</x>"), 0, "replace");
    is_int(store_private_count(db, "alice"), 2, "two namespaces");
    is_int(store_private_get(db, "alice", "a:b", &xml), 0, "get private");
    is_str(xml, "<x xmlns='a:b'>2</x>", "the newest");
    free(xml);
    is_int(store_private_get(db, "bob", "a:b", &xml), -ENOENT, "per user");
}

static void test_pep_nodes(struct store_db *db)
{
    struct store_pep_node n = {.node = "urn:xmpp:avatar:metadata",
                               .access = "presence",
                               .max_items = 2,
                               .persist = true,
                               .send_last = true},
                          got;
    is_int(store_pep_node_get(db, "alice", n.node, &got), -ENOENT, "no node");
    is_int(store_pep_node_count(db, "alice"), 0, "no nodes");
    is_int(store_pep_node_put(db, "alice", &n), 0, "create");
    is_int(store_pep_node_get(db, "alice", n.node, &got), 0, "read back");
    is_str(got.access, "presence", "access");
    is_int(got.max_items, 2, "max_items");
    ok(got.persist && got.send_last, "flags");

    char seen[1024] = "";
    for (int i = 1; i <= 3; i++) {
        char id[16], xml[32];
        snprintf(id, sizeof(id), "i%d", i);
        snprintf(xml, sizeof(xml), "<p>%d</p>", i);
        is_int(store_pep_item_put(db, "alice", n.node, id, xml, 2), 0, "publish %s", id);
    }
    is_int(store_pep_items(db, "alice", n.node, 0, collect, seen), 0, "items");
    is_str(seen,
           "alice/urn:xmpp:avatar:metadata/i2=<p>2</p>;alice/urn:xmpp:avatar:metadata/i3=<p>3</p>;",
           "oldest dropped beyond keep, oldest first");
    is_int(store_pep_item_put(db, "alice", n.node, "i2", "<p>2b</p>", 2), 0, "republish i2");
    seen[0] = '\0';
    store_pep_items(db, "alice", n.node, 1, collect, seen);
    is_str(seen, "alice/urn:xmpp:avatar:metadata/i2=<p>2b</p>;", "a republished item is newest");
    seen[0] = '\0';
    is_int(store_pep_item_get(db, "alice", n.node, "i3", collect, seen), 0, "one item");
    is_str(seen, "alice/urn:xmpp:avatar:metadata/i3=<p>3</p>;", "by id");
    is_int(store_pep_item_get(db, "alice", n.node, "nope", collect, seen), -ENOENT, "missing id");
    int calls = 0;
    is_int(store_pep_items(db, "alice", n.node, 0, stop_at_first, &calls), 9, "fn stops it");
    is_int(calls, 1, "after one");

    is_int(store_pep_item_del(db, "alice", n.node, "i3"), 0, "retract");
    is_int(store_pep_item_del(db, "alice", n.node, "i3"), -ENOENT, "retract again");

    /* reconfiguring to non-persistent keeps only the newest */
    store_pep_item_put(db, "alice", n.node, "i4", "<p>4</p>", 2);
    n.persist = false;
    n.send_last = false;
    strcpy(n.access, "open");
    is_int(store_pep_node_put(db, "alice", &n), 0, "reconfigure");
    seen[0] = '\0';
    store_pep_items(db, "alice", n.node, 0, collect, seen);
    is_str(seen, "alice/urn:xmpp:avatar:metadata/i4=<p>4</p>;", "trimmed to one");

    struct store_pep_node m = {.node = "a", .access = "whitelist", .max_items = 5, .persist = true};
    store_pep_node_put(db, "alice", &m);
    is_int(store_pep_node_count(db, "alice"), 2, "two nodes");
    char names[512] = "";
    is_int(store_pep_nodes(db, "alice", collect_nodes, names), 0, "list");
    is_str(names, "a:whitelist:5:1:0;urn:xmpp:avatar:metadata:open:2:0:0;",
           "in order, with config");
    is_int(store_pep_node_del(db, "alice", n.node), 0, "delete node");
    is_int(store_pep_node_del(db, "alice", n.node), -ENOENT, "delete again");
    seen[0] = '\0';
    store_pep_items(db, "alice", n.node, 0, collect, seen);
    is_str(seen, "", "its items went with it");
    store_pep_node_del(db, "alice", "a");
}

static void test_pep_last(struct store_db *db)
{
    /* bob sees alice (from), not carol (to only from carol's side), and his own */
    ok(raw_sql("INSERT INTO roster (user, contact, sub) VALUES ('alice', 'bob@x', 2),"
               " ('carol', 'bob@x', 1), ('dave', 'bob@x', 3)") == SQLITE_OK,
       "roster rows");
    struct store_pep_node pres = {
        .node = "nick", .access = "presence", .max_items = 5, .persist = true, .send_last = true};
    struct store_pep_node wl = {.node = "bookmarks",
                                .access = "whitelist",
                                .max_items = 5,
                                .persist = true,
                                .send_last = true};
    struct store_pep_node never = {
        .node = "quiet", .access = "open", .max_items = 5, .persist = true, .send_last = false};
    const char *owners[] = {"alice", "bob", "carol", "dave"};
    for (size_t i = 0; i < 4; i++) {
        store_pep_node_put(db, owners[i], &pres);
        store_pep_node_put(db, owners[i], &wl);
        store_pep_node_put(db, owners[i], &never);
        store_pep_item_put(db, owners[i], "nick", "old", "<n>old</n>", 5);
        store_pep_item_put(db, owners[i], "nick", "new", "<n>new</n>", 5);
        store_pep_item_put(db, owners[i], "bookmarks", "b", "<b/>", 5);
        store_pep_item_put(db, owners[i], "quiet", "q", "<q/>", 5);
    }
    char seen[1024] = "";
    is_int(store_pep_last(db, "bob", "bob@x", collect, seen), 0, "last items");
    is_str(seen,
           "alice/nick/new=<n>new</n>;bob/bookmarks/b=<b/>;bob/nick/new=<n>new</n>;"
           "dave/nick/new=<n>new</n>;",
           "newest of each visible node, whitelist only for the owner, never skipped");

    /* everything goes with the account */
    ok(raw_sql("INSERT INTO accounts VALUES ('alice', 1, zeroblob(20), zeroblob(20), x'01', 1,"
               " zeroblob(32), zeroblob(32), x'01', 1)") == SQLITE_OK,
       "account row");
    store_vcard_set(db, "alice", "<v/>", "");
    is_int(store_account_del(db, "alice"), 0, "account deleted");
    is_int(store_pep_node_count(db, "alice"), 0, "nodes purged");
    char *xml = NULL;
    is_int(store_vcard_get(db, "alice", &xml, NULL), -ENOENT, "vCard purged");
    is_int(store_private_count(db, "alice"), 0, "private purged");
    seen[0] = '\0';
    store_pep_items(db, "alice", "nick", 0, collect, seen);
    is_str(seen, "", "items purged");
}

int main(void)
{
    log_set_level(LOG_ERROR);
    snprintf(dir, sizeof(dir), "/tmp/tern-test-blob-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(db_path, sizeof(db_path), "%s/tern.db", dir);
    struct store_db *db;
    if (ok(store_db_open(db_path, &db) == 0, "open")) {
        test_vcard_private(db);
        test_pep_nodes(db);
        test_pep_last(db);
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
