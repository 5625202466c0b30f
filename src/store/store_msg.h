/*
 * store_msg: what keeps messages: offline storage (XEP-0160), the message
 * archive (XEP-0313) with its preferences, and block lists (XEP-0191),
 * which decide what may be stored for whom.
 */
#ifndef TERN_STORE_STORE_MSG_H
#define TERN_STORE_STORE_MSG_H

#include "store/store.h"

/*
 * offline: messages waiting for user, delivered (and deleted) in id order.
 * archive: one row per message per party (user is the archive's owner,
 * peer the other side's bare JID); stamp in microseconds since the epoch;
 * sid the server-assigned stanza-id (XEP-0359), unique per owner; dir 0 in,
 * 1 out. archive_prefs: XEP-0313 default (always/never/roster) with the
 * always/never JID lists joined with '\n'. blocklist: XEP-0191 items.
 * Rows go with their account.
 */
#define STORE_SCHEMA_MSG                                                                           \
    "CREATE TABLE offline (id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL,"              \
    " sender TEXT NOT NULL, stamp INTEGER NOT NULL, xml TEXT NOT NULL);"                           \
    "CREATE INDEX offline_user ON offline (user, id);"                                             \
    "CREATE TABLE archive (id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL,"              \
    " peer TEXT NOT NULL, stamp INTEGER NOT NULL, sid TEXT NOT NULL,"                              \
    " dir INTEGER NOT NULL, xml TEXT NOT NULL);"                                                   \
    "CREATE UNIQUE INDEX archive_sid ON archive (user, sid);"                                      \
    "CREATE INDEX archive_user ON archive (user, id);"                                             \
    "CREATE INDEX archive_peer ON archive (user, peer, id);"                                       \
    "CREATE INDEX archive_stamp ON archive (stamp);"                                               \
    "CREATE TABLE archive_prefs (user TEXT PRIMARY KEY NOT NULL, dflt TEXT NOT NULL,"              \
    " always TEXT NOT NULL DEFAULT '', never TEXT NOT NULL DEFAULT '');"                           \
    "CREATE TABLE blocklist (user TEXT NOT NULL, jid TEXT NOT NULL,"                               \
    " PRIMARY KEY (user, jid)) WITHOUT ROWID;"                                                     \
    "CREATE TRIGGER msg_purge AFTER DELETE ON accounts BEGIN"                                      \
    " DELETE FROM offline WHERE user = OLD.user;"                                                  \
    " DELETE FROM archive WHERE user = OLD.user;"                                                  \
    " DELETE FROM archive_prefs WHERE user = OLD.user;"                                            \
    " DELETE FROM blocklist WHERE user = OLD.user; END;"

#endif
