/*
 * server: the process-wide XMPP state and the worker threads.
 *
 * There is one struct server. It is built by main before any thread starts
 * and is read-only afterwards, except for the fields that say how they are
 * shared. Each worker owns an event loop, a mailbox, its listeners and its
 * connections; a connection never changes worker. Work crosses workers only
 * through mailboxes; the session registry (sessions.h) is the one shared
 * table, behind its own locks.
 */
#ifndef TERN_XMPP_SERVER_H
#define TERN_XMPP_SERVER_H

#include "core/buf.h"
#include "core/list.h"
#include "core/loop.h"
#include "core/mailbox.h"
#include "core/map.h"
#include "net/conn.h"
#include "net/listen.h"
#include "xml/parser.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct conf;
struct store;
struct sessions;
struct iplimit;

struct worker {
    unsigned id;
    struct server *srv;
    struct loop *loop;
    struct mailbox *mb;
    struct loop_io mb_io;
    struct conn_ctx cctx;
    struct listener ln_c2s, ln_tls;
    struct map c2s_by_id; /* conn id (8 bytes) -> struct c2s *, this worker's sessions */
    struct list c2s_all;  /* every struct c2s of this worker */
    size_t n_c2s;
    struct buf out; /* serialization scratch, reset per use */
    struct timer stop_deadline;
    bool stopping;
    bool done; /* the loop returned: what arrives now is torn down, not served */
    pthread_t thread;
};

struct server {
    const struct conf *conf;
    const char *domain;
    struct store *store;
    SSL_CTX *ssl_ctx;
    struct sessions *sessions;
    struct iplimit *iplimit;
    struct xml_limits xml_limits;
    unsigned n_workers;
    struct worker *workers;
    int fd_c2s[256], fd_tls[256]; /* listening sockets, one per worker */
    atomic_uint running;          /* workers still running */
};

/**
 * Builds the server for conf: opens listeners (one per worker, so a port in
 * use fails here, before anything runs), the TLS context, and the store.
 * Returns 0, or a negative errno after logging why.
 */
int server_init(struct server *srv, const struct conf *conf);
/** Starts the worker threads. Returns 0 or a negative errno. */
int server_start(struct server *srv);
/**
 * Graceful stop: every worker stops accepting, sends </stream:stream> to
 * each client, waits (bounded) for them to go, then exits; then the store
 * finishes its queue. Call from the main thread; returns when all is down.
 */
void server_stop(struct server *srv);
/** Frees what server_init built. */
void server_fini(struct server *srv);

#endif
