/*
 * c2s: one client-to-server XMPP session — the stream state machine on top
 * of a net/conn and an xml/parser.
 *
 *   HEADER --<stream>--> features
 *     not secure: <starttls/> --> <proceed/>, TLS handshake, restart --> HEADER
 *     secure, not authed: <auth/> (SASL, storage lookup off the loop) ...
 *         --> <success/>, restart --> HEADER
 *     authed: <iq><bind/></iq> --> BOUND: stanzas are routed
 *     authed: <resume/> (XEP-0198) --> the stream is handed to the
 *         detached session it names, on that session's worker
 *   any --stream error / </stream:stream> / peer gone--> closed
 *   BOUND with resumable stream management --peer gone--> detached: no
 *       connection, still in the registry, stanzas queue up until a
 *       <resume/> adopts it or sm.resume_timeout ends it
 *
 * A c2s belongs to its worker's thread. Other workers reach it only by
 * posting to that worker's mailbox with its id. The one exception to "a
 * connection never moves": a stream that resumes a session held by another
 * worker is handed over, connection and parser, to that worker (c2s.c).
 */
#ifndef TERN_XMPP_C2S_H
#define TERN_XMPP_C2S_H

#include "core/arena.h"
#include "core/chunk.h"
#include "core/list.h"
#include "core/loop.h"
#include "store/store.h"
#include "xml/parser.h"
#include "xmpp/jid.h"
#include "xmpp/sasl.h"
#include "xmpp/server.h"

#include <stdbool.h>
#include <stdint.h>

#define XMPP_NS_STREAMS "urn:ietf:params:xml:ns:xmpp-streams"
#define XMPP_NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define XMPP_NS_TLS     "urn:ietf:params:xml:ns:xmpp-tls"
#define XMPP_NS_SASL    "urn:ietf:params:xml:ns:xmpp-sasl"
#define XMPP_NS_BIND    "urn:ietf:params:xml:ns:xmpp-bind"
#define XMPP_NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"

enum c2s_state { C2S_HEADER, C2S_OPEN, C2S_BOUND, C2S_CLOSED };

/*
 * Per-session state of feature modules: one slot each, owned (allocated on
 * demand, freed on MOD_EV_UNBOUND) by the module named. An idle session
 * pays one pointer per slot.
 */
enum c2s_slot {
    C2S_SLOT_ROSTER,  /* mod/roster.c, mod/presence.c */
    C2S_SLOT_MESSAGE, /* mod/message.c, carbons, mam, offline, blocking */
    C2S_SLOT_PEP,     /* mod/pep.c */
    C2S_SLOT_SM,      /* stream management (c2s.c, struct sm) */
    C2S_SLOT_CSI,     /* client state indication (c2s.c) */
    C2S_SLOT_N
};
struct sm_resume;

enum c2s_sasl { SASL_NONE, SASL_SCRAM, SASL_PLAIN, SASL_DELAYED_FAILURE };

struct c2s {
    struct worker *w;
    struct conn *conn; /* NULL while detached */
    uint64_t id;       /* the session's id: its first connection's id, kept on resumption */
    enum c2s_state state;
    bool detached; /* stream management: conn is gone, state stays BOUND, resumption may come */
    bool ending;   /* the session ends with its connection (no detaching) */
    bool sm_wait;  /* resumed, waiting for held storage writes before <resumed/> */
    bool header_sent;
    bool secure;
    bool authed;
    bool unauth;    /* counted in limits.max_unauth (iplimit_unauth_enter) until authed or closed */
    bool available; /* sent available presence */
    struct xml_parser *parser;
    struct jid jid;                /* full JID once bound; local part + domain once authed */
    char user[STORE_USER_MAX + 1]; /* authenticated local part */
    /* SASL in progress */
    enum c2s_sasl sasl;
    struct scram_server *scram; /* allocated only during a SCRAM exchange */
    struct store_req *pending;  /* outstanding storage request, NULL if none */
    unsigned auth_failures;
    bool suspended;          /* the parser holds unparsed input until resumed */
    struct timer auth_timer; /* delays a failure answer (per-IP slow-down) */
    /* timers: handshake deadline, then idle ping / ping deadline */
    struct timer timer;
    uint64_t last_rx;         /* ms, loop time of the last bytes read */
    bool ping_out;            /* a server ping is waiting for an answer */
    struct task task;         /* deferred: resumption hand-over, end of a detached session */
    struct task ack_task;     /* deferred: one <r/> per loop iteration at most */
    struct sm_resume *resume; /* a <resume/> being handed to the session it names */
    struct list link;         /* worker->c2s_all */
    void *slot[C2S_SLOT_N];   /* modules' per-session state */
    char ctx[160];            /* log context: "c2s#ID ip:port [jid]" */
};

/** Creates the session for a newly accepted socket (fd taken). */
void c2s_accept(struct worker *w, int fd, bool tls, const char *peer);
/** Queues a serialized stanza (refcounted) for the client. */
void c2s_send_chunk(struct c2s *s, struct chunk *chunk);
/** Serializes n (in the jabber:client context) and queues it. */
void c2s_send_node(struct c2s *s, const struct xml_node *n);
/** Sends a stream error with condition cond (and optional text), then closes. */
void c2s_stream_error(struct c2s *s, const char *cond, const char *text);
/**
 * Server shutdown: sends </stream:stream> and closes; the session ends when
 * the connection is gone. A detached session ends at once (s is freed).
 * Either way its unacknowledged stanzas go to the undelivered hook.
 */
void c2s_shutdown(struct c2s *s);
/*
 * Durable acknowledgement (XEP-0198 and DESIGN.md): a module that hands the
 * inbound stanza being handled to storage calls c2s_durable_hold(s) before
 * returning; when the write's transaction ended (committed or failed) it
 * calls c2s_durable_done() on s's worker with the ticket. The session never
 * acknowledges (<a h=.../>) a stanza past one still held.
 */
uint64_t c2s_durable_hold(struct c2s *s);
/** Releases ticket of session conn_id (which may be gone: then nothing happens). */
void c2s_durable_done(struct worker *w, uint64_t conn_id, uint64_t ticket);
/** Returns this worker's session for an id (struct c2s id), or NULL. */
struct c2s *c2s_find(struct worker *w, uint64_t id);

#endif
