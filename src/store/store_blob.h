/*
 * store_blob: per-account XML documents: vcard-temp (XEP-0054), private XML
 * storage (XEP-0049), and PEP nodes and items (XEP-0163).
 */
#ifndef TERN_STORE_STORE_BLOB_H
#define TERN_STORE_STORE_BLOB_H

#include "store/store.h"

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

#endif
