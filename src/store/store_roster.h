/*
 * store_roster: rosters and presence subscriptions (RFC 6121 §2-3),
 * roster versions (XEP-0237).
 */
#ifndef TERN_STORE_STORE_ROSTER_H
#define TERN_STORE_STORE_ROSTER_H

#include "store/store.h"

/*
 * One row per (user, contact bare JID). sub: 0 none, 1 to, 2 from, 3 both.
 * ask_out: a subscription request from user to contact is pending;
 * ask_in: one from contact to user is pending (in_stanza keeps it, as
 * serialized XML, to deliver at the next login); preapproved: RFC 6121
 * §3.4. shown: the item is in the user's roster (a row can exist only to
 * remember a pending inbound request, which the roster does not show).
 * groups: the group names joined with '\n'. ver: the roster version at the
 * item's last change; roster_ver holds each user's current version.
 * Rows go with their account.
 */
#define STORE_SCHEMA_ROSTER                                                                        \
    "CREATE TABLE roster ("                                                                        \
    " user TEXT NOT NULL, contact TEXT NOT NULL, name TEXT,"                                       \
    " sub INTEGER NOT NULL DEFAULT 0 CHECK (sub BETWEEN 0 AND 3),"                                 \
    " ask_out INTEGER NOT NULL DEFAULT 0, ask_in INTEGER NOT NULL DEFAULT 0,"                      \
    " preapproved INTEGER NOT NULL DEFAULT 0, shown INTEGER NOT NULL DEFAULT 1,"                   \
    " groups TEXT NOT NULL DEFAULT '', in_stanza TEXT, ver INTEGER NOT NULL DEFAULT 0,"            \
    " PRIMARY KEY (user, contact)) WITHOUT ROWID;"                                                 \
    "CREATE INDEX roster_contact ON roster (contact);"                                             \
    "CREATE TABLE roster_ver (user TEXT PRIMARY KEY NOT NULL, ver INTEGER NOT NULL);"              \
    "CREATE TRIGGER roster_purge AFTER DELETE ON accounts BEGIN"                                   \
    " DELETE FROM roster WHERE user = OLD.user;"                                                   \
    " DELETE FROM roster_ver WHERE user = OLD.user; END;"

/* subscription states (the roster table's sub column) */
enum store_sub { STORE_SUB_NONE = 0, STORE_SUB_TO = 1, STORE_SUB_FROM = 2, STORE_SUB_BOTH = 3 };

/**
 * Returns the subscription user has with contact (a bare JID): STORE_SUB_*
 * (STORE_SUB_NONE when there is no row), or -EIO. For other modules that
 * decide by subscription (PEP access, archive preferences).
 */
int store_roster_sub(struct store_db *db, const char *user, const char *contact);

/**
 * Calls fn for each contact allowed to see user's presence (subscription
 * from or both), in byte order. Returns 0, fn's non-zero return if it
 * stopped early, or -EIO.
 */
int store_roster_subscribers(struct store_db *db, const char *user,
                             int (*fn)(void *arg, const char *contact), void *arg);

#endif
