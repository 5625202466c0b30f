/*
 * msg: what the message modules share — message.c (routing, RFC 6121
 * §8.5), offline.c (XEP-0160), mam.c (XEP-0313), carbons.c (XEP-0280) and
 * blocking.c (XEP-0191). message.c is the one route handler for
 * <message/>; it calls the others through the functions below.
 *
 * All functions run on the calling worker's thread unless said otherwise.
 */
#ifndef TERN_XMPP_MOD_MSG_H
#define TERN_XMPP_MOD_MSG_H

#include "core/arena.h"
#include "core/buf.h"
#include "core/chunk.h"
#include "xml/xml.h"
#include "xmpp/jid.h"
#include "xmpp/sessions.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NS_SID        "urn:xmpp:sid:0"
#define NS_CARBONS    "urn:xmpp:carbons:2"
#define NS_FORWARD    "urn:xmpp:forward:0"
#define NS_DELAY      "urn:xmpp:delay"
#define NS_HINTS      "urn:xmpp:hints"
#define NS_MAM        "urn:xmpp:mam:2"
#define NS_RSM        "http://jabber.org/protocol/rsm"
#define NS_XDATA      "jabber:x:data"
#define NS_BLOCKING   "urn:xmpp:blocking"
#define NS_BLOCK_ERR  "urn:xmpp:blocking:errors"
#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"

#define MSG_SID_LEN 16 /* characters of a server-assigned stanza-id */

enum msg_type { MSG_NORMAL, MSG_CHAT, MSG_HEADLINE, MSG_GROUPCHAT, MSG_ERROR };

/** What a message carries, for the storing and copying rules. */
struct msg_info {
    enum msg_type type;
    bool body;          /* a <body/> */
    bool state_only;    /* a chat state (XEP-0085) and nothing else worth keeping */
    bool no_store;      /* XEP-0334 <no-store/> */
    bool no_perm_store; /* XEP-0334 <no-permanent-store/> */
    bool store;         /* XEP-0334 <store/> */
    bool no_copy;       /* XEP-0334 <no-copy/> */
    bool private_;      /* XEP-0280 <private/> */
    bool receipt;       /* XEP-0184 receipt or XEP-0333 marker */
    bool keep;          /* a retraction (XEP-0424) or reaction (XEP-0444): kept like a body */
};

/** Fills *i from message m. */
void msg_classify(const struct xml_node *m, struct msg_info *i);
/** Whether m goes to offline storage when nobody is online (XEP-0160, XEP-0334). */
bool msg_offline_ok(const struct msg_info *i);
/** Whether m is archived (XEP-0313 §Business rules, XEP-0334). */
bool msg_archive_ok(const struct msg_info *i);
/** Whether m is copied to other resources (XEP-0280 §6). */
bool msg_carbon_ok(const struct msg_info *i);

/** Wall-clock time in microseconds since the epoch. */
int64_t msg_now_us(void);
/** Writes us as an XEP-0082 UTC timestamp with microseconds ("...T12:00:00.000000Z"). */
void msg_stamp(int64_t us, char *out, size_t cap);
/** Parses an XEP-0082 date-time into microseconds. Returns 0 or -EINVAL. */
int msg_parse_stamp(const char *s, int64_t *us);

/* per-thread lists of an account's resources, one per use that may be live at once */
enum msg_list { MSG_LIST_ROUTE, MSG_LIST_COPY, MSG_LIST_AUX, MSG_LIST_N };
struct worker;
/**
 * Lists the bound resources of jid's account (sessions_list) into this
 * thread's array which; *n gets how many (at most SESS_MAX_RESOURCES). The
 * array stays valid until the next call with the same which on this thread.
 */
struct sess_addr *msg_resources(struct worker *w, enum msg_list which, const struct jid *jid,
                                size_t *n);

struct c2s;
/**
 * Sends s an error stanza built from scratch (the request it answers is
 * gone, only its id is kept): <name type='error' id from to> with
 * <error type='type'><cond/></error>. id, from and to may be NULL.
 */
void msg_send_error(struct c2s *s, const char *name, const char *id, const char *from,
                    const char *to, const char *type, const char *cond);

/* ---- carbons.c -------------------------------------------------------------------------- */

/**
 * Sends a copy of m (as delivered, unchanged) wrapped as kind ("received"
 * or "sent") to each carbons-enabled resource of owner's account except
 * the connections in skip (n_skip of them). m is borrowed and left as it
 * was. peer, if non-NULL, is the sender of a received message: its copies
 * obey the owner's block list like the message itself.
 */
void carbons_copy(struct worker *w, const struct jid *owner, const char *kind,
                  const struct jid *peer, struct xml_node *m, struct arena *a, const uint64_t *skip,
                  size_t n_skip);

/* ---- blocking.c ------------------------------------------------------------------------- */

/**
 * Queues ch for the session at addr of account user unless user blocks
 * from. While the account's block list is still loading (the moment after
 * its first resource is bound), the chunk is held and delivered, or not,
 * when the list is there. Returns false if it was dropped as blocked.
 */
bool blocking_deliver(struct worker *w, const char *user, const struct jid *from,
                      const struct sess_addr *addr, struct chunk *ch);

/* ---- offline.c -------------------------------------------------------------------------- */

/**
 * Writes the offline copy of a stored stanza (xml) with an XEP-0203 delay
 * from domain stamped at us inserted as its last child, unless it already
 * carries one from domain. Returns a new chunk.
 */
struct chunk *offline_with_delay(const char *xml, const char *domain, int64_t us);

#endif
