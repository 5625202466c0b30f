/*
 * roster: rosters (RFC 6121 §2, jabber:iq:roster, with XEP-0237 versions)
 * and the presence subscription state machine (RFC 6121 §3 and the tables
 * of its Appendix A), which the presence module hands every subscription
 * stanza (subscribe, subscribed, unsubscribe, unsubscribed) to.
 *
 * Every change runs on the storage thread as one STORE_RUN request that
 * reads and writes both parties' rows (for two local accounts) in the same
 * transaction, so two users racing each other never see half a handshake.
 * The request collects what has to happen on the wire (roster pushes,
 * stanzas to deliver, presence to share or withdraw); the completion does
 * it on the asking worker once the transaction committed.
 */
#ifndef TERN_XMPP_MOD_ROSTER_H
#define TERN_XMPP_MOD_ROSTER_H

#include "core/arena.h"
#include "core/mailbox.h"
#include "xml/xml.h"
#include "xmpp/jid.h"

#include <stdbool.h>

#define NS_ROSTER "jabber:iq:roster"

/* Item limits (RFC 6121 §2.3.3 leaves them to the server): past them, not-acceptable. */
#define ROSTER_NAME_MAX   512 /* bytes of an item's name */
#define ROSTER_GROUP_MAX  512 /* bytes of one group name */
#define ROSTER_GROUPS_MAX 32  /* groups per item */
/* A pending inbound request larger than this is kept (and redelivered) without its payload. */
#define ROSTER_STANZA_MAX 2048 /* bytes */
/*
 * Pending inbound requests (hidden rows) an account may hold besides its
 * roster: up to roster.max_items of them; past that a new request is
 * refused with policy-violation.
 */

enum roster_type { ROSTER_SUBSCRIBE, ROSTER_SUBSCRIBED, ROSTER_UNSUBSCRIBE, ROSTER_UNSUBSCRIBED };

/** The subscription part of one roster row: sub is enum store_sub. */
struct roster_state {
    int sub;
    bool ask_out, ask_in, preapproved;
};

/* what a transition asks for */
#define ROSTER_CHANGED   0x1u /* the row changed (write it; push it if shown) */
#define ROSTER_ROUTE     0x2u /* outbound: route the stanza to the contact */
#define ROSTER_DELIVER   0x4u /* inbound: deliver the stanza to the user's resources */
#define ROSTER_AUTOREPLY 0x8u /* inbound subscribe: answer subscribed on the user's behalf */

/**
 * Applies a subscription stanza of type t that the user sends to the
 * contact to the user's row for the contact (RFC 6121 A.2, with §3.4
 * pre-approval: subscribed without a pending request pre-approves).
 * Returns ROSTER_* bits.
 */
unsigned roster_outbound(struct roster_state *st, enum roster_type t);
/**
 * Applies a subscription stanza of type t that the user receives from the
 * contact to the user's row for the contact (RFC 6121 A.3; subscribe to an
 * already approved or pre-approved contact is answered automatically).
 * Returns ROSTER_* bits.
 */
unsigned roster_inbound(struct roster_state *st, enum roster_type t);

/** Parses a presence type into *t; false when it is not a subscription type. */
bool roster_type_parse(const char *type, enum roster_type *t);

struct c2s;
struct store_db;
struct store_req;
struct worker;

/**
 * Prepares r as a STORE_RUN request of worker w: run runs on the storage
 * thread, done (the completion) on w with w as its context.
 */
void roster_req_init(struct store_req *r, struct worker *w, void (*done)(struct mail *m, void *ctx),
                     int (*run)(struct store_db *db, struct store_req *r));

/**
 * Handles subscription stanza p of type t from bound session s to to, a
 * JID of this domain with a local part other than s's own (the presence
 * module has checked that). Answers errors itself.
 */
void roster_subscription(struct c2s *s, struct xml_node *p, struct arena *a, const struct jid *to,
                         enum roster_type t);

#endif
