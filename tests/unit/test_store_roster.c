/*
 * Unit tests for store_roster (the roster tables), on a fresh database in a
 * mkdtemp directory. Rows are written with raw SQL where the typed setters
 * are not the subject.
 */
#include "core/log.h"
#include "store/store.h"
#include "store/store_roster.h"
#include "tap.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    unlink(db_path);
    char p[160];
    snprintf(p, sizeof(p), "%s-wal", db_path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", db_path);
    unlink(p);
    rmdir(dir);
    return tap_done();
}
