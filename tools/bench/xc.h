/*
 * xc: one XMPP client session of tern-bench, on tern's own loop, connection
 * (net/conn.h, with a client TLS context) and stream parser (xml/parser.h).
 * It logs in the way a real client does and then only sends and receives
 * messages; it works against any RFC 6120 server (tern, Prosody, ejabberd).
 *
 *   CONNECT --header--> features --starttls--> proceed --TLS--> header
 *     --> features --auth (SCRAM-SHA-1/256 or PLAIN)--> challenge/response
 *     --> success --header--> features --bind--> [session] --> roster get
 *     --> <presence/> --> its echo (RFC 6121 §4.2.2: the server has recorded
 *     it, so messages to the bare JID find the session) --> BOUND (xc_ops.bound)
 *
 * SCRAM keys are derived once per (hash, salt, iterations) and kept in a
 * small cache, so accounts created with one shared salt (ternctl user import
 * --salt) cost one PBKDF2 per run; accounts with their own salts cost one
 * each login, on this process's CPU.
 *
 * Single-threaded: every xc belongs to the loop of its xc_env.
 */
#ifndef TERN_BENCH_XC_H
#define TERN_BENCH_XC_H

#include "core/loop.h"
#include "net/conn.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum xc_mech { XC_SCRAM_SHA1, XC_SCRAM_SHA256, XC_PLAIN };

enum xc_state {
    XC_CONNECTING, /* header sent, waiting for features */
    XC_TLS,        /* <starttls/> sent or handshaking */
    XC_AUTH,       /* <auth/> sent */
    XC_BIND,       /* bind, session, roster get in flight */
    XC_PRESENCE,   /* initial presence sent, waiting for the server to echo it */
    XC_BOUND,      /* initial presence echoed: ready */
    XC_CLOSED,
};

struct xc;

struct xc_ops {
    /** The session is ready (bound, roster fetched, initial presence sent and echoed). */
    void (*bound)(struct xc *x);
    /** A <message/> with a body arrived; body is NUL-terminated, error tells type='error'. */
    void (*message)(struct xc *x, const char *body, bool error);
    /** The connection is gone; reason is static text. x is freed after this returns. */
    void (*closed)(struct xc *x, const char *reason);
};

/** What every session of a run shares: target, credentials, the loop. */
struct xc_env {
    struct loop *loop;
    struct conn_ctx *cctx; /* ssl_ctx set for STARTTLS */
    struct sockaddr_in *dst;
    unsigned n_sources; /* source addresses 127.0.0.1 .. 127.0.0.n, 0: kernel's choice */
    const char *domain;
    const char *prefix; /* account names: prefix + number */
    const char *password;
    const char *resource;
    enum xc_mech mech;
    bool tls;
    const struct xc_ops *ops;
};

struct xc {
    struct xc_env *env;
    struct conn *conn;
    struct xml_parser *parser;
    enum xc_state state;
    unsigned num;   /* account number */
    void *owner;    /* the scenario's */
    uint64_t t0_us; /* when connect started */
    bool secure, authed, want_session, closing;
    bool ready; /* reached XC_BOUND once */
    bool by_us; /* closed by xc_close, not by the server or an error */
    char user[48];
    char cnonce[25];
    unsigned char server_sig[64]; /* SCRAM: expected ServerSignature */
    size_t server_sig_len;
    char *cfirst; /* SCRAM client-first-bare, until the challenge */
};

/** Monotonic time in microseconds. */
uint64_t xc_now_us(void);
/**
 * Starts a session for account prefix+num. Returns the new xc, or NULL with
 * errno's reason in *why (socket or connect failed, e.g. out of descriptors).
 */
struct xc *xc_start(struct xc_env *env, unsigned num, void *owner, const char **why);
/** Queues a chat message to account prefix+to; body must need no escaping (digits, spaces). */
void xc_send_msg(struct xc *x, unsigned to, const char *body);
/** Ends the stream politely and closes; ops->closed follows. Idempotent. */
void xc_close(struct xc *x);
/** Returns a new client TLS context that checks no certificate, or NULL. */
SSL_CTX *xc_tls_ctx(void);
/** Returns the mechanism's SASL name. */
const char *xc_mech_name(enum xc_mech m);

#endif
