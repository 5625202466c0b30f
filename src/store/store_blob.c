/*
 * store_blob: the typed functions over the per-account XML tables
 * (store_blob.h): vCards, private XML and PEP nodes and items.
 *
 * XML is stored as the text the module serialized; nothing here parses it.
 * A PEP node keeps at most its max_items items (one when not persistent):
 * every publish and every reconfiguration trims the oldest (lowest seq).
 */
#include "store/store_blob.h"
#include "store/db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Returns sql's prepared statement with up to three text parameters bound
 * (?1 a, ?2 b, ?3 c; a NULL one is left unbound), or NULL (logged).
 */
static sqlite3_stmt *prep(struct store_db *db, const char *sql, const char *a, const char *b,
                          const char *c)
{
    sqlite3_stmt *st = db_stmt(db, sql);
    const char *v[3] = {a, b, c};
    for (int i = 0; st && i < 3; i++)
        if (v[i])
            db_bind_text(st, i + 1, v[i]);
    return st;
}

/* Steps a one-row SELECT: 0 with a row, -ENOENT without, -EIO (logged) on failure. */
static int step_row(struct store_db *db, sqlite3_stmt *st, const char *sql)
{
    int rc = sqlite3_step(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : db_fail(db, sql);
}

/* Runs a statement that changes rows: 0 when it changed one, -ENOENT when none, else -EIO. */
static int run_changed(struct store_db *db, sqlite3_stmt *st)
{
    int err = db_run(db, st);
    if (err)
        return err;
    return sqlite3_changes(db->h) > 0 ? 0 : -ENOENT;
}

/* Returns the single integer of a COUNT query on user, or -EIO. */
static int count_of(struct store_db *db, const char *sql, const char *user)
{
    sqlite3_stmt *st = prep(db, sql, user, NULL, NULL);
    if (!st)
        return -EIO;
    int err = step_row(db, st, sql);
    int n = err == 0 ? sqlite3_column_int(st, 0) : err == -ENOENT ? 0 : err;
    db_done(st);
    return n;
}

/* ---- vcard ------------------------------------------------------------------------------ */

int store_vcard_get(struct store_db *db, const char *user, char **xml, char *hash)
{
    static const char sql[] = "SELECT xml, photo_hash FROM vcard WHERE user = ?1";
    sqlite3_stmt *st = prep(db, sql, user, NULL, NULL);
    if (!st)
        return -EIO;
    int err = step_row(db, st, sql);
    if (err == 0) {
        *xml = db_col_strdup(st, 0);
        if (hash) {
            const unsigned char *h = sqlite3_column_text(st, 1);
            snprintf(hash, STORE_PHOTO_HASH + 1, "%s", h ? (const char *)h : "");
        }
    }
    db_done(st);
    return err;
}

int store_vcard_set(struct store_db *db, const char *user, const char *xml, const char *hash)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO vcard (user, xml, photo_hash) VALUES (?1, ?2, ?3)";
    sqlite3_stmt *st = prep(db, sql, user, xml, hash ? hash : "");
    return st ? db_run(db, st) : -EIO;
}

/* ---- private ---------------------------------------------------------------------------- */

int store_private_get(struct store_db *db, const char *user, const char *ns, char **xml)
{
    static const char sql[] = "SELECT xml FROM private WHERE user = ?1 AND ns = ?2";
    sqlite3_stmt *st = prep(db, sql, user, ns, NULL);
    if (!st)
        return -EIO;
    int err = step_row(db, st, sql);
    if (err == 0)
        *xml = db_col_strdup(st, 0);
    db_done(st);
    return err;
}

int store_private_set(struct store_db *db, const char *user, const char *ns, const char *xml)
{
    static const char sql[] = "INSERT OR REPLACE INTO private (user, ns, xml) VALUES (?1, ?2, ?3)";
    sqlite3_stmt *st = prep(db, sql, user, ns, xml);
    return st ? db_run(db, st) : -EIO;
}

int store_private_count(struct store_db *db, const char *user)
{
    static const char sql[] = "SELECT count(*) FROM private WHERE user = ?1";
    return count_of(db, sql, user);
}

/* ---- PEP nodes -------------------------------------------------------------------------- */

#define NODE_COLS "node, access, max_items, persist, send_last"

static void node_row(sqlite3_stmt *st, struct store_pep_node *out)
{
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(out->node, sizeof(out->node), "%s", t ? (const char *)t : "");
    t = sqlite3_column_text(st, 1);
    snprintf(out->access, sizeof(out->access), "%s", t ? (const char *)t : "");
    int max = sqlite3_column_int(st, 2);
    out->max_items = max > 0 ? (unsigned)max : 1;
    out->persist = sqlite3_column_int(st, 3) != 0;
    out->send_last = sqlite3_column_int(st, 4) != 0;
}

int store_pep_node_get(struct store_db *db, const char *user, const char *node,
                       struct store_pep_node *out)
{
    static const char sql[] = "SELECT " NODE_COLS " FROM pep_node WHERE user = ?1 AND node = ?2";
    sqlite3_stmt *st = prep(db, sql, user, node, NULL);
    if (!st)
        return -EIO;
    int err = step_row(db, st, sql);
    if (err == 0)
        node_row(st, out);
    db_done(st);
    return err;
}

/* Drops a node's oldest items beyond keep. Returns 0 or -EIO. */
static int trim(struct store_db *db, const char *user, const char *node, unsigned keep)
{
    static const char sql[] =
        "DELETE FROM pep_item WHERE user = ?1 AND node = ?2 AND seq <= (SELECT seq FROM pep_item"
        " WHERE user = ?1 AND node = ?2 ORDER BY seq DESC LIMIT 1 OFFSET ?3)";
    sqlite3_stmt *st = prep(db, sql, user, node, NULL);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 3, keep ? keep : 1);
    return db_run(db, st);
}

int store_pep_node_put(struct store_db *db, const char *user, const struct store_pep_node *n)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO pep_node (user, " NODE_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    sqlite3_stmt *st = prep(db, sql, user, n->node, n->access);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 4, n->max_items ? n->max_items : 1);
    sqlite3_bind_int(st, 5, n->persist);
    sqlite3_bind_int(st, 6, n->send_last);
    int err = db_run(db, st);
    return err ? err : trim(db, user, n->node, n->persist ? n->max_items : 1);
}

int store_pep_node_del(struct store_db *db, const char *user, const char *node)
{
    static const char items[] = "DELETE FROM pep_item WHERE user = ?1 AND node = ?2";
    static const char sql[] = "DELETE FROM pep_node WHERE user = ?1 AND node = ?2";
    sqlite3_stmt *st = prep(db, items, user, node, NULL);
    if (!st)
        return -EIO;
    int err = db_run(db, st);
    if (err)
        return err;
    st = prep(db, sql, user, node, NULL);
    return st ? run_changed(db, st) : -EIO;
}

int store_pep_node_count(struct store_db *db, const char *user)
{
    static const char sql[] = "SELECT count(*) FROM pep_node WHERE user = ?1";
    return count_of(db, sql, user);
}

int store_pep_nodes(struct store_db *db, const char *user,
                    int (*fn)(void *arg, const struct store_pep_node *n), void *arg)
{
    static const char sql[] = "SELECT " NODE_COLS " FROM pep_node WHERE user = ?1 ORDER BY node";
    sqlite3_stmt *st = prep(db, sql, user, NULL, NULL);
    if (!st)
        return -EIO;
    int rc = SQLITE_DONE, out = 0;
    struct store_pep_node n;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        node_row(st, &n);
        out = fn(arg, &n);
    }
    if (out == 0 && rc != SQLITE_DONE)
        out = db_fail(db, sql);
    db_done(st);
    return out;
}

/* ---- PEP items -------------------------------------------------------------------------- */

int store_pep_item_put(struct store_db *db, const char *user, const char *node, const char *id,
                       const char *xml, unsigned keep)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO pep_item (user, node, item, seq, stamp, xml) VALUES (?1, ?2, ?3,"
        " (SELECT coalesce(max(seq), 0) + 1 FROM pep_item WHERE user = ?1 AND node = ?2), ?4, ?5)";
    sqlite3_stmt *st = prep(db, sql, user, node, id);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
    db_bind_text(st, 5, xml);
    int err = db_run(db, st);
    return err ? err : trim(db, user, node, keep);
}

int store_pep_item_del(struct store_db *db, const char *user, const char *node, const char *id)
{
    static const char sql[] = "DELETE FROM pep_item WHERE user = ?1 AND node = ?2 AND item = ?3";
    sqlite3_stmt *st = prep(db, sql, user, node, id);
    return st ? run_changed(db, st) : -EIO;
}

/*
 * Hands each row of st (columns: owner, node, item, xml, stamp) to fn.
 * Returns 0, fn's non-zero return, -ENOENT when want_row and there was none, or -EIO.
 */
static int each_item(struct store_db *db, sqlite3_stmt *st, const char *sql, bool want_row,
                     store_pep_item_fn *fn, void *arg)
{
    int rc = SQLITE_DONE, out = 0;
    bool any = false;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_pep_item it = {
            .owner = (const char *)sqlite3_column_text(st, 0),
            .node = (const char *)sqlite3_column_text(st, 1),
            .id = (const char *)sqlite3_column_text(st, 2),
            .xml = (const char *)sqlite3_column_text(st, 3),
            .stamp = sqlite3_column_int64(st, 4),
        };
        if (!it.owner || !it.node || !it.id || !it.xml)
            continue; /* NOT NULL columns: cannot happen, but never hand out NULL */
        any = true;
        out = fn(arg, &it);
    }
    if (out == 0 && rc != SQLITE_DONE)
        out = db_fail(db, sql);
    db_done(st);
    return out == 0 && want_row && !any ? -ENOENT : out;
}

int store_pep_item_get(struct store_db *db, const char *user, const char *node, const char *id,
                       store_pep_item_fn *fn, void *arg)
{
    static const char sql[] = "SELECT user, node, item, xml, stamp FROM pep_item"
                              " WHERE user = ?1 AND node = ?2 AND item = ?3";
    sqlite3_stmt *st = prep(db, sql, user, node, id);
    return st ? each_item(db, st, sql, true, fn, arg) : -EIO;
}

int store_pep_items(struct store_db *db, const char *user, const char *node, unsigned max,
                    store_pep_item_fn *fn, void *arg)
{
    static const char sql[] =
        "SELECT user, node, item, xml, stamp FROM (SELECT * FROM pep_item WHERE user = ?1 AND"
        " node = ?2 ORDER BY seq DESC LIMIT ?3) ORDER BY seq";
    sqlite3_stmt *st = prep(db, sql, user, node, NULL);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 3, max ? (sqlite3_int64)max : -1);
    return each_item(db, st, sql, false, fn, arg);
}

int store_pep_last(struct store_db *db, const char *contact, const char *bare,
                   store_pep_item_fn *fn, void *arg)
{
    static const char sql[] =
        "SELECT n.user, n.node, i.item, i.xml, i.stamp FROM pep_node n JOIN pep_item i"
        " ON i.user = n.user AND i.node = n.node"
        " WHERE n.send_last = 1 AND (n.user = ?1 OR (n.access <> 'whitelist' AND n.user IN"
        " (SELECT user FROM roster WHERE contact = ?2 AND sub IN (2, 3))))"
        " AND i.seq = (SELECT max(seq) FROM pep_item WHERE user = n.user AND node = n.node)"
        " ORDER BY n.user, n.node";
    sqlite3_stmt *st = prep(db, sql, contact, bare, NULL);
    return st ? each_item(db, st, sql, false, fn, arg) : -EIO;
}
