/*
 * mod: the module registry. Each feature module (a file in src/xmpp/mod/) has an
 * init function, called once by mods_init() (xmpp/mod/modules.h) before the
 * workers start, that registers what it handles:
 *   - IQ handlers by payload namespace and scope (server, own account,
 *     another local account) and the disco features it adds;
 *   - the one route handler for <message/> and the one for <presence/>
 *     (the message and presence modules own those stanzas entirely);
 *   - session event listeners (bound, available, unbound);
 *   - the handler for stanzas a session could not take (undelivered).
 * After start the registry is read-only, so workers read it freely.
 */
#ifndef TERN_XMPP_MOD_H
#define TERN_XMPP_MOD_H

#include "core/arena.h"
#include "core/chunk.h"
#include "xml/xml.h"
#include "xmpp/jid.h"

#include <stdbool.h>

struct c2s;
struct worker;

/** An IQ addressed to the server, to the sender's own account, or to another local account. */
struct mod_iq {
    struct c2s *s;            /* the asking session (bound) */
    struct xml_node *iq;      /* from already stamped */
    struct xml_node *payload; /* the first child element */
    struct arena *a;          /* the stanza's arena */
    bool to_account;          /* addressed to an account's bare JID (own or peer), not the server */
    const struct jid *to;     /* MOD_ACCOUNT: the sender's bare JID; MOD_PEER: the target's */
    bool peer;                /* MOD_PEER: the account is not the sender's */
};

/** Handles an IQ of type get or set; must answer it (result or error). */
typedef void mod_iq_fn(struct mod_iq *q);

/*
 * MOD_PEER: an IQ to the bare JID of another local account (vCard, PEP
 * items, disco of a contact), answered by the server on that account's
 * behalf; the handler decides what the sender may see.
 */
enum mod_scope { MOD_SERVER = 1, MOD_ACCOUNT = 2, MOD_BOTH = 3, MOD_PEER = 4 };

/** Registers fn for IQs whose payload is in namespace ns (startup only). */
void mod_iq_register(const char *ns, enum mod_scope scope, mod_iq_fn *fn);
/** Adds a disco#info feature for the server and/or account (startup only). */
void mod_feature(const char *var, enum mod_scope scope);
/** Returns the handler for ns at scope, or NULL. */
mod_iq_fn *mod_iq_find(const char *ns, enum mod_scope scope);
/** Calls fn for each feature of scope, in registration order. */
void mod_features_each(enum mod_scope scope, void (*fn)(void *arg, const char *var), void *arg);

/*
 * Route handlers. A message or presence from a bound session whose 'to' is
 * absent or a JID of this domain (checked and parsed: to, NULL when absent)
 * goes to the handler registered for its element name. from is stamped.
 */
typedef void mod_route_fn(struct c2s *s, struct xml_node *st, struct arena *a,
                          const struct jid *to);
/** Registers the handler for "message" or "presence" (startup only; one each). */
void mod_route_register(const char *name, mod_route_fn *fn);
/** Returns the handler for name, or NULL. */
mod_route_fn *mod_route_find(const char *name);

/*
 * Session events, delivered on the session's worker in registration order:
 * MOD_EV_BOUND     a resource was bound (the bind result is sent);
 * MOD_EV_AVAILABLE the session sent its initial available presence
 *                  (emitted by the presence module);
 * MOD_EV_UNBOUND   the session ends for good, while its registry entry
 *                  still exists (with stream management, only when it can
 *                  no longer be resumed); the connection may already be
 *                  gone, so listeners must not write to it. Every module
 *                  frees its per-session state (c2s.h slots) here.
 */
enum mod_event { MOD_EV_BOUND, MOD_EV_AVAILABLE, MOD_EV_UNBOUND, MOD_EV_N };
typedef void mod_event_fn(struct c2s *s);
/** Adds a listener for ev (startup only). */
void mod_on(enum mod_event ev, mod_event_fn *fn);
/** Calls every listener of ev for s. */
void mod_emit(enum mod_event ev, struct c2s *s);

/*
 * Undelivered stanzas: when a session ends (without resumption) with
 * serialized stanzas it never acknowledged, it hands each one tagged
 * CHUNK_TAG_STORE (xmpp/router.h) to this handler, which puts messages
 * into offline storage. to is the ended session's full JID. Runs on the
 * session's worker; the handler takes its own reference if it keeps ch.
 */
typedef void mod_undelivered_fn(struct worker *w, const struct jid *to, struct chunk *ch);
/** Registers the handler (startup only; one). */
void mod_undelivered_register(mod_undelivered_fn *fn);
/** Hands ch to the handler; without one, the stanza is dropped with a log line. */
void mod_undelivered(struct worker *w, const struct jid *to, struct chunk *ch);

/*
 * Answers to the server's own IQs. A module that sends an IQ from the
 * server (or from an account) to a client gives it an id starting with a
 * prefix it registered; a result or error with such an id comes back to
 * fn (the router drops other answers). prefix must be unique and constant.
 */
typedef void mod_iq_answer_fn(struct c2s *s, struct xml_node *iq, struct arena *a);
void mod_iq_answer_register(const char *prefix, mod_iq_answer_fn *fn);
/** Returns the handler whose prefix starts id, or NULL. */
mod_iq_answer_fn *mod_iq_answer_find(const char *id);

/*
 * Presence observers: the presence module calls them with every presence
 * a session broadcasts (available with its payload, or unavailable), after
 * recording it, so that PEP can follow entity capabilities (XEP-0115).
 */
typedef void mod_presence_fn(struct c2s *s, struct xml_node *presence, struct arena *a);
void mod_presence_observe(mod_presence_fn *fn);
void mod_presence_emit(struct c2s *s, struct xml_node *presence, struct arena *a);

/*
 * Blocking (XEP-0191): whether the account user (a local part) blocks jid
 * (its bare JID or full JID). Registered by the blocking module; without
 * one nothing is blocked. Any worker; must not block (answers from memory).
 */
typedef bool mod_blocked_fn(const char *user, const struct jid *jid);
void mod_blocked_register(mod_blocked_fn *fn);
bool mod_blocked(const char *user, const struct jid *jid);

/*
 * Before authentication (in-band registration, XEP-0077): an IQ whose
 * payload namespace has a pre-auth handler is given to it instead of being
 * refused, and the stream features of an unauthenticated stream include
 * feature (a constant XML snippet) when enabled() says so for s (e.g. only
 * over TLS, only when configured).
 */
typedef void mod_preauth_fn(struct c2s *s, struct xml_node *iq, struct arena *a);
void mod_preauth_register(const char *ns, const char *feature, bool (*enabled)(struct c2s *s),
                          mod_preauth_fn *fn);
/** Returns the handler for ns if it is enabled for s, or NULL. */
mod_preauth_fn *mod_preauth_find(struct c2s *s, const char *ns);
/** Calls fn with the feature snippet of each pre-auth handler enabled for s. */
void mod_preauth_features(struct c2s *s, void (*fn)(void *arg, const char *xml), void *arg);

#endif
