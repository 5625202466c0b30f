/*
 * store_roster: rosters and presence subscriptions (RFC 6121 §2-3),
 * roster versions (XEP-0237).
 */
#ifndef TERN_STORE_STORE_ROSTER_H
#define TERN_STORE_STORE_ROSTER_H

#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

/*
 * One row per (user, contact bare JID). sub: 0 none, 1 to, 2 from, 3 both.
 * ask_out: a subscription request from user to contact is pending;
 * ask_in: one from contact to user is pending (in_stanza keeps it, as
 * serialized XML, to deliver at the next login); preapproved: RFC 6121
 * §3.4. shown: the item is in the user's roster (a row can exist only to
 * remember a pending inbound request, which the roster does not show).
 * groups: the group names joined with '\n'. ver: the roster version at the
 * item's last change; roster_ver holds each user's current version (a
 * counter that starts at the Unix time of the roster's first change).
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

/**
 * One roster row. Strings are NUL-terminated; what the store hands out from
 * store_roster_get is newly allocated (store_roster_item_fini frees it), what
 * store_roster_each passes is borrowed for the duration of the call.
 */
struct store_roster_item {
    char *contact; /* bare JID */
    char *name;    /* "" for none */
    char *groups;  /* group names joined with '\n', "" for none */
    int sub;       /* enum store_sub */
    bool ask_out;  /* user asked to subscribe to contact, not answered yet */
    bool ask_in;   /* contact asked to subscribe to user, not answered yet */
    bool preapproved;
    bool shown;      /* part of the roster the user sees */
    char *in_stanza; /* the pending inbound request as XML, NULL for none */
    int64_t ver;     /* roster version at the row's last change */
};

/** Frees the strings of an item filled by store_roster_get and zeroes it. NULL-safe. */
void store_roster_item_fini(struct store_roster_item *it);

/**
 * Reads user's row for contact into out (strings newly allocated).
 * Returns 0, -ENOENT (out zeroed), or -EIO.
 */
int store_roster_get(struct store_db *db, const char *user, const char *contact,
                     struct store_roster_item *out);

/**
 * Writes (inserts or replaces) user's row for it->contact, bumps user's
 * roster version and sets it->ver to the new version. Returns 0, -EINVAL
 * (no contact, sub out of range) or -EIO.
 */
int store_roster_put(struct store_db *db, const char *user, struct store_roster_item *it);

/**
 * Deletes user's row for contact and bumps user's roster version (the new
 * version goes to *ver when ver is not NULL). Returns 0, -ENOENT (nothing
 * changed) or -EIO.
 */
int store_roster_del(struct store_db *db, const char *user, const char *contact, int64_t *ver);

/** Reads user's current roster version into *ver (0 for a roster never changed). 0 or -EIO. */
int store_roster_version(struct store_db *db, const char *user, int64_t *ver);

/** Returns how many rows user has (only the shown ones if shown_only), or -EIO. */
int store_roster_count(struct store_db *db, const char *user, bool shown_only);

/**
 * Calls fn for each of user's rows (shown or not) in contact byte order; the
 * item is borrowed for the call. fn must not use db. Returns 0, fn's non-zero
 * return if it stopped early, or -EIO.
 */
int store_roster_each(struct store_db *db, const char *user,
                      int (*fn)(void *arg, const struct store_roster_item *it), void *arg);

#endif
