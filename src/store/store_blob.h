/*
 * store_blob: per-account XML documents: vcard-temp (XEP-0054), private XML
 * storage (XEP-0049), and PEP nodes and items (XEP-0163).
 */
#ifndef TERN_STORE_STORE_BLOB_H
#define TERN_STORE_STORE_BLOB_H

#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

/*
 * vcard: the user's vCard as serialized XML and the SHA-1 of its photo
 * (XEP-0153), "" if none. private: one serialized element per (user, ns).
 * pep_node: a node of the user's PEP service with its access model
 * ("presence", "open", "roster", "whitelist") and max_items; pep_item: its
 * items, seq increasing with each publish (the newest has the highest).
 * Rows go with their account.
 */
#define STORE_SCHEMA_BLOB                                                                          \
    "CREATE TABLE vcard (user TEXT PRIMARY KEY NOT NULL, xml TEXT NOT NULL,"                       \
    " photo_hash TEXT NOT NULL DEFAULT '');"                                                       \
    "CREATE TABLE private (user TEXT NOT NULL, ns TEXT NOT NULL, xml TEXT NOT NULL,"               \
    " PRIMARY KEY (user, ns)) WITHOUT ROWID;"                                                      \
    "CREATE TABLE pep_node (user TEXT NOT NULL, node TEXT NOT NULL, access TEXT NOT NULL,"         \
    " max_items INTEGER NOT NULL, PRIMARY KEY (user, node)) WITHOUT ROWID;"                        \
    "CREATE TABLE pep_item (user TEXT NOT NULL, node TEXT NOT NULL, item TEXT NOT NULL,"           \
    " seq INTEGER NOT NULL, stamp INTEGER NOT NULL, xml TEXT NOT NULL,"                            \
    " PRIMARY KEY (user, node, item)) WITHOUT ROWID;"                                              \
    "CREATE TRIGGER blob_purge AFTER DELETE ON accounts BEGIN"                                     \
    " DELETE FROM vcard WHERE user = OLD.user;"                                                    \
    " DELETE FROM private WHERE user = OLD.user;"                                                  \
    " DELETE FROM pep_node WHERE user = OLD.user;"                                                 \
    " DELETE FROM pep_item WHERE user = OLD.user; END;"

/*
 * Migration 3: a PEP node's pubsub#persist_items (0: only the newest item
 * is kept) and pubsub#send_last_published_item (0: never; 1: on_sub_and_presence).
 */
#define STORE_SCHEMA_BLOB_3                                                                        \
    "ALTER TABLE pep_node ADD COLUMN persist INTEGER NOT NULL DEFAULT 1;"                          \
    "ALTER TABLE pep_node ADD COLUMN send_last INTEGER NOT NULL DEFAULT 1;"

#define STORE_PEP_NODE_MAX 256 /* bytes of a node name */
#define STORE_PEP_ID_MAX   256 /* bytes of an item id */
#define STORE_PHOTO_HASH   40  /* hex characters of a SHA-1 photo hash */

/* ---- vcard-temp ------------------------------------------------------------------------- */

/**
 * Reads user's vCard: *xml gets a new heap string (caller frees), hash (cap
 * STORE_PHOTO_HASH + 1, may be NULL) its photo hash. Returns 0, -ENOENT, -EIO.
 */
int store_vcard_get(struct store_db *db, const char *user, char **xml, char *hash);
/** Stores (replacing) user's vCard and its photo hash ("" for none). Returns 0 or -EIO. */
int store_vcard_set(struct store_db *db, const char *user, const char *xml, const char *hash);

/* ---- private XML storage ---------------------------------------------------------------- */

/** Reads the element stored for (user, ns) into *xml (new heap string). 0, -ENOENT, -EIO. */
int store_private_get(struct store_db *db, const char *user, const char *ns, char **xml);
/** Stores (replacing) the element for (user, ns). Returns 0 or -EIO. */
int store_private_set(struct store_db *db, const char *user, const char *ns, const char *xml);
/** Returns how many namespaces user has stored, or -EIO. */
int store_private_count(struct store_db *db, const char *user);

/* ---- PEP -------------------------------------------------------------------------------- */

/** A node's configuration. access is "presence", "open", "roster" or "whitelist". */
struct store_pep_node {
    char node[STORE_PEP_NODE_MAX + 1];
    char access[16];
    unsigned max_items; /* >= 1 */
    bool persist;       /* false: only the newest item is kept */
    bool send_last;     /* send the newest item to contacts coming online */
};

/** One item, as the listing functions hand it out (strings borrowed for the call). */
struct store_pep_item {
    const char *owner; /* store_pep_last only: the node's user */
    const char *node;
    const char *id;
    const char *xml; /* the payload, serialized */
    int64_t stamp;   /* unix seconds of the publish */
};

typedef int store_pep_item_fn(void *arg, const struct store_pep_item *it);

/** Reads one node's configuration into out. Returns 0, -ENOENT, -EIO. */
int store_pep_node_get(struct store_db *db, const char *user, const char *node,
                       struct store_pep_node *out);
/** Creates or reconfigures a node (items beyond the new limits are dropped). 0 or -EIO. */
int store_pep_node_put(struct store_db *db, const char *user, const struct store_pep_node *n);
/** Deletes a node and its items. Returns 0, -ENOENT, -EIO. */
int store_pep_node_del(struct store_db *db, const char *user, const char *node);
/** Returns how many nodes user has, or -EIO. */
int store_pep_node_count(struct store_db *db, const char *user);
/**
 * Calls fn for each of user's nodes in byte order of name. Returns 0, fn's
 * non-zero return if it stopped early, or -EIO.
 */
int store_pep_nodes(struct store_db *db, const char *user,
                    int (*fn)(void *arg, const struct store_pep_node *n), void *arg);
/**
 * Publishes (or replaces, making it the newest) item id with payload xml on
 * an existing node, then drops the oldest items beyond keep (>= 1).
 * Returns 0 or -EIO.
 */
int store_pep_item_put(struct store_db *db, const char *user, const char *node, const char *id,
                       const char *xml, unsigned keep);
/** Deletes one item. Returns 0, -ENOENT, -EIO. */
int store_pep_item_del(struct store_db *db, const char *user, const char *node, const char *id);
/** Reads one item (fn called once). Returns 0, -ENOENT, fn's non-zero return, -EIO. */
int store_pep_item_get(struct store_db *db, const char *user, const char *node, const char *id,
                       store_pep_item_fn *fn, void *arg);
/**
 * Calls fn for the max newest items of a node (max 0: all), oldest first.
 * Returns 0, fn's non-zero return, or -EIO.
 */
int store_pep_items(struct store_db *db, const char *user, const char *node, unsigned max,
                    store_pep_item_fn *fn, void *arg);
/**
 * The newest item of every node whose newest item goes to contact when it
 * comes online (send_last set): contact's own nodes (contact is a local
 * user, bare the bare JID) and the nodes other than whitelist of each local
 * user who has contact in their roster with subscription from or both
 * (this reads the roster table). Order: owner, then node. Returns 0, fn's
 * non-zero return, or -EIO.
 */
int store_pep_last(struct store_db *db, const char *contact, const char *bare,
                   store_pep_item_fn *fn, void *arg);

#endif
