/*
 * conn: one client connection on one worker's loop — the socket, its
 * transport (plain or TLS, behind one small vtable), and its output queue.
 *
 * Reading: when the socket is readable the connection reads (decrypting if
 * TLS) into the worker's scratch buffer and hands the bytes to the owner's
 * on_data callback; nothing is buffered here. Writing: conn_send*() queue
 * refcounted chunks; the worker flushes every connection with queued output
 * once per loop iteration (conn_flush_all from the before-sleep hook), with
 * one writev for plain sockets. Output past out_max closes the connection,
 * once the socket itself takes no more (a reader that keeps up never meets the
 * cap however much is queued for it within one loop iteration).
 * Input is metered (ctx->read_rate): a connection that has sent more than its
 * allowance stops being read until the average is back ("throttled"), so a
 * fast sender is slowed by TCP flow control and nothing is buffered here.
 *
 * States:
 *
 *   accept --plain--> OPEN --conn_starttls()--> (flush) --> HANDSHAKE --> OPEN(tls)
 *   accept --tls----> HANDSHAKE --ok--> OPEN(tls)
 *   any --conn_close()--> CLOSING (flush what is queued, bounded) --> deferred free
 *
 * The owner's on_close runs once, from a deferred task (never inside its own
 * callback); after it returns the conn is freed.
 */
#ifndef TERN_NET_CONN_H
#define TERN_NET_CONN_H

#include "core/chunk.h"
#include "core/list.h"
#include "core/loop.h"
#include "net/ratelimit.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONN_SCRATCH 16384 /* bytes read per read call */

/** Per-worker state shared by that worker's connections. */
struct conn_ctx {
    struct loop *loop;
    SSL_CTX *ssl_ctx;           /* NULL: no TLS */
    struct list dirty;          /* connections with output to flush */
    size_t out_max;             /* bytes queued per connection before it is dropped */
    size_t read_rate;           /* bytes per second read per connection, 0: unlimited */
    size_t read_burst;          /* bytes read at once before read_rate applies */
    char scratch[CONN_SCRATCH]; /* read buffer */
    char wbuf[CONN_SCRATCH];    /* TLS write coalescing */
};

enum conn_state { CONN_OPEN, CONN_HANDSHAKE, CONN_CLOSING, CONN_DEAD };

struct conn;

struct conn_ops {
    /** Decrypted bytes arrived. The owner may call any conn function, including close. */
    void (*on_data)(struct conn *c, const char *data, size_t len);
    /** A TLS handshake finished (after STARTTLS or on a direct TLS port). */
    void (*on_secure)(struct conn *c);
    /** The connection is gone (peer closed, error, or conn_close). Free owner state here. */
    void (*on_close)(struct conn *c);
};

struct conn_out {
    struct chunk *chunk;
    size_t off; /* bytes of chunk already written */
};

struct conn {
    struct loop_io io;
    struct conn_ctx *ctx;
    const struct conn_ops *ops;
    void *owner; /* the protocol layer's object */
    uint64_t id; /* unique in the process */
    enum conn_state state;
    SSL *ssl;              /* NULL for plain */
    bool secure;           /* TLS established */
    bool starttls_pending; /* switch to TLS once the queue is flushed */
    bool paused;           /* reading stopped by the owner */
    bool throttled;        /* reading stopped until the read allowance is back */
    bool want_out;         /* LOOP_OUT registered */
    size_t tls_retry;      /* length of an SSL_write to repeat exactly, 0 if none */
    struct conn_out *out;  /* ring of queued chunks */
    size_t out_head, out_n, out_cap;
    size_t out_bytes;
    struct list dirty_link;
    struct task close_task;
    struct task read_task;    /* reads again: TLS bytes epoll cannot see, or unpause */
    struct timer linger;      /* bounds the final flush on close */
    struct timer throttle;    /* ends a throttled pause */
    struct ratelimit reads;   /* bytes read, against ctx->read_rate */
    char peer[64];            /* "ip:port" */
    const char *close_reason; /* static string for the log */
};

/**
 * Takes ownership of the accepted non-blocking socket fd and registers it.
 * With tls the handshake starts at once (direct TLS). Returns the new conn
 * or NULL (fd closed) if the loop refused it.
 */
struct conn *conn_new(struct conn_ctx *ctx, int fd, bool tls, const struct conn_ops *ops,
                      void *owner, const char *peer);
/** Queues len bytes (copied into a new chunk). */
void conn_send(struct conn *c, const void *data, size_t len);
/** Queues a reference to chunk (the caller keeps its own). */
void conn_send_chunk(struct conn *c, struct chunk *chunk);
/** Switches to TLS after everything queued so far is written (STARTTLS). */
void conn_starttls(struct conn *c);
/** Stops or restarts reading from the socket. */
void conn_pause(struct conn *c, bool paused);
/**
 * Closes: stops reading, flushes what is queued (for at most 2 s), shuts TLS
 * and the socket down, then runs on_close and frees from a deferred task.
 * reason is a static string for the log. Idempotent.
 */
void conn_close(struct conn *c, const char *reason);
/**
 * Frees the connection now (on_close runs first), dropping queued output.
 * Only for teardown after the loop stopped: never from a callback.
 */
void conn_abort(struct conn *c);
/**
 * Takes an open connection off its worker's loop so that another worker can
 * adopt it (stream resumption moves a client to the worker that holds its
 * session). Queued output stays queued. Only outside c's own callbacks (from
 * a deferred task or a mailbox message), and only while c is open: returns
 * -EPIPE when it is closing or dead, -EAGAIN during a TLS handshake or
 * STARTTLS switch (then nothing changed). After 0 the caller owns c until
 * conn_adopt, and no thread touches it meanwhile.
 */
int conn_release(struct conn *c);
/** Puts a released connection on ctx's loop; call on ctx's thread. Returns 0 or -errno
 *  (then c is closed as if the peer had gone). */
int conn_adopt(struct conn *c, struct conn_ctx *ctx);
/** Flushes every connection of ctx with queued output. Before-sleep hook. */
void conn_flush_all(struct conn_ctx *ctx);
/** Returns the negotiated TLS version name, or "none". */
const char *conn_tls_version(const struct conn *c);

#endif
