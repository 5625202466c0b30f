/*
 * conn: the transport is chosen by whether c->ssl is set; the two paths
 * differ only in how bytes move (read/writev vs SSL_read/SSL_write), so they
 * sit side by side in xread/xflush rather than behind function pointers.
 *
 * Invariants: a conn is on ctx->dirty iff it has queued output and is not
 * DEAD; LOOP_OUT is registered only while a write would block; reads stop
 * while paused, closing, or waiting to switch to TLS (bytes after
 * <starttls/> must never be read as plaintext).
 */
#include "net/conn.h"
#include "core/alloc.h"
#include "core/log.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/err.h>

#define CONN_LINGER_MS 2000
#define CONN_READS     8 /* reads per readiness event, for fairness */

static uint64_t next_id(void)
{
    static _Atomic uint64_t id;
    return ++id;
}

static void update_events(struct conn *c)
{
    unsigned ev = 0;
    bool reading = c->state == CONN_HANDSHAKE ||
                   (c->state == CONN_OPEN && !c->paused && !c->throttled && !c->starttls_pending);
    if (reading)
        ev |= LOOP_IN;
    if (c->want_out)
        ev |= LOOP_OUT;
    loop_io_mod(c->ctx->loop, &c->io, ev);
}

static void finish(struct loop *l, struct task *t)
{
    struct conn *c = LIST_ENTRY(t, struct conn, close_task);
    (void)l;
    loop_timer_stop(c->ctx->loop, &c->linger);
    loop_timer_stop(c->ctx->loop, &c->throttle);
    loop_undefer(&c->read_task);
    loop_io_del(c->ctx->loop, &c->io);
    list_del(&c->dirty_link);
    if (c->ssl) {
        if (c->secure && c->state == CONN_CLOSING)
            SSL_shutdown(c->ssl); /* best effort close_notify, never waits */
        SSL_free(c->ssl);
        ERR_clear_error();
    }
    close(c->io.fd);
    for (size_t i = 0; i < c->out_n; i++)
        chunk_unref(c->out[(c->out_head + i) % c->out_cap].chunk);
    free(c->out);
    c->state = CONN_DEAD;
    if (c->ops->on_close)
        c->ops->on_close(c);
    free(c);
}

/* Closes at once, dropping queued output: for errors and a peer that went away. */
static void die(struct conn *c, const char *reason)
{
    if (c->state == CONN_DEAD)
        return;
    if (!c->close_reason)
        c->close_reason = reason;
    c->state = CONN_DEAD;
    c->want_out = false;
    loop_io_mod(c->ctx->loop, &c->io, 0);
    list_del(&c->dirty_link);
    loop_defer(c->ctx->loop, &c->close_task);
}

static void ssl_fail(struct conn *c, int err, const char *what)
{
    unsigned long e = ERR_peek_error();
    char buf[160] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    log_write(LOG_DEBUG, c->peer, "%s: ssl error %d %s", what, err, buf);
    die(c, err == SSL_ERROR_ZERO_RETURN ? "peer closed" : "tls error");
}

static void queue_drop_head(struct conn *c)
{
    struct conn_out *o = &c->out[c->out_head];
    c->out_bytes -= o->chunk->len - o->off;
    chunk_unref(o->chunk);
    c->out_head = (c->out_head + 1) % c->out_cap;
    c->out_n--;
}

/* Consumes n written bytes from the head of the queue. */
static void queue_advance(struct conn *c, size_t n)
{
    while (n > 0) {
        struct conn_out *o = &c->out[c->out_head];
        size_t left = o->chunk->len - o->off;
        if (n < left) {
            o->off += n;
            c->out_bytes -= n;
            return;
        }
        n -= left;
        queue_drop_head(c);
    }
}

static void start_tls(struct conn *c);

/* Writes as much as the socket takes. Returns false if the conn died. */
static bool xflush(struct conn *c)
{
    while (c->out_n > 0) {
        if (!c->ssl) {
            struct iovec iov[64];
            int n = 0;
            for (size_t i = 0; i < c->out_n && n < 64; i++) {
                struct conn_out *o = &c->out[(c->out_head + i) % c->out_cap];
                iov[n].iov_base = o->chunk->data + o->off;
                iov[n].iov_len = o->chunk->len - o->off;
                n++;
            }
            ssize_t w = writev(c->io.fd, iov, n);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                die(c, "write error");
                return false;
            }
            queue_advance(c, (size_t)w);
        } else {
            /* coalesce small chunks into one record; a retry repeats the same length */
            size_t len = c->tls_retry;
            if (!len) {
                for (size_t i = 0; i < c->out_n && len < sizeof(c->ctx->wbuf); i++) {
                    struct conn_out *o = &c->out[(c->out_head + i) % c->out_cap];
                    size_t take = o->chunk->len - o->off;
                    if (take > sizeof(c->ctx->wbuf) - len)
                        take = sizeof(c->ctx->wbuf) - len;
                    memcpy(c->ctx->wbuf + len, o->chunk->data + o->off, take);
                    len += take;
                }
            } else {
                size_t got = 0;
                for (size_t i = 0; i < c->out_n && got < len; i++) {
                    struct conn_out *o = &c->out[(c->out_head + i) % c->out_cap];
                    size_t take = o->chunk->len - o->off;
                    if (take > len - got)
                        take = len - got;
                    memcpy(c->ctx->wbuf + got, o->chunk->data + o->off, take);
                    got += take;
                }
            }
            ERR_clear_error();
            int w = SSL_write(c->ssl, c->ctx->wbuf, (int)len);
            if (w <= 0) {
                int err = SSL_get_error(c->ssl, w);
                if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
                    c->tls_retry = len;
                    break;
                }
                ssl_fail(c, err, "SSL_write");
                return false;
            }
            c->tls_retry = 0;
            queue_advance(c, (size_t)w);
        }
    }
    bool blocked = c->out_n > 0;
    if (blocked != c->want_out) {
        c->want_out = blocked;
        update_events(c);
    }
    if (!blocked) {
        list_del(&c->dirty_link);
        if (c->out_cap > 8) { /* shrink-on-idle */
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
            c->out_head = 0;
        }
        if (c->starttls_pending)
            start_tls(c);
        else if (c->state == CONN_CLOSING)
            loop_defer(c->ctx->loop, &c->close_task);
    }
    return c->state != CONN_DEAD;
}

static void handshake(struct conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->state = CONN_OPEN;
        c->secure = true;
        c->want_out = c->out_n > 0;
        update_events(c);
        log_write(LOG_DEBUG, c->peer, "tls established: %s %s", SSL_get_version(c->ssl),
                  SSL_get_cipher_name(c->ssl));
        if (c->ops->on_secure)
            c->ops->on_secure(c);
        /* the client may have sent its first bytes with the handshake's last flight */
        if (c->state == CONN_OPEN)
            loop_defer(c->ctx->loop, &c->read_task);
        return;
    }
    int err = SSL_get_error(c->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        bool want_out = err == SSL_ERROR_WANT_WRITE;
        if (want_out != c->want_out) {
            c->want_out = want_out;
            update_events(c);
        }
        return;
    }
    ssl_fail(c, err, "handshake");
}

static void start_tls(struct conn *c)
{
    c->starttls_pending = false;
    c->ssl = SSL_new(c->ctx->ssl_ctx);
    if (!c->ssl || !SSL_set_fd(c->ssl, c->io.fd)) {
        ssl_fail(c, 0, "SSL_new");
        return;
    }
    /* a server context accepts; a client one (tern-bench's) connects */
    if (SSL_is_server(c->ssl))
        SSL_set_accept_state(c->ssl);
    else
        SSL_set_connect_state(c->ssl);
    c->state = CONN_HANDSHAKE;
    update_events(c);
    handshake(c);
}

static void unthrottle(struct loop *l, struct timer *t)
{
    (void)l;
    struct conn *c = LIST_ENTRY(t, struct conn, throttle);
    c->throttled = false;
    update_events(c);
    /* TLS may hold decrypted bytes that epoll will not report again */
    if (c->ssl && c->state == CONN_OPEN)
        loop_defer(c->ctx->loop, &c->read_task);
}

/* Counts n bytes read; past the allowance, stops reading until it is back. */
static void meter(struct conn *c, size_t n)
{
    uint64_t wait = ratelimit_charge(&c->reads, n, loop_now(c->ctx->loop));
    if (!wait || c->state != CONN_OPEN)
        return;
    c->throttled = true;
    update_events(c);
    loop_timer_start(c->ctx->loop, &c->throttle, wait, unthrottle);
}

static void xread(struct conn *c)
{
    for (int i = 0; i < CONN_READS; i++) {
        if (c->state != CONN_OPEN || c->paused || c->throttled || c->starttls_pending)
            return;
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_read(c->ssl, c->ctx->scratch, CONN_SCRATCH);
            if (r <= 0) {
                int err = SSL_get_error(c->ssl, r);
                if (err == SSL_ERROR_WANT_READ)
                    return;
                if (err == SSL_ERROR_WANT_WRITE) {
                    c->want_out = true;
                    update_events(c);
                    return;
                }
                ssl_fail(c, err, "SSL_read");
                return;
            }
            n = r;
        } else {
            n = read(c->io.fd, c->ctx->scratch, CONN_SCRATCH);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return;
                die(c, errno == ECONNRESET ? "connection reset" : "read error");
                return;
            }
            if (n == 0) {
                die(c, "peer closed");
                return;
            }
        }
        c->ops->on_data(c, c->ctx->scratch, (size_t)n);
        meter(c, (size_t)n);
    }
    /* budget used up: TLS may hold decrypted bytes that epoll cannot see */
    if (c->ssl && c->state == CONN_OPEN && SSL_pending(c->ssl) > 0)
        loop_defer(c->ctx->loop, &c->read_task);
}

static void read_again(struct loop *l, struct task *t)
{
    (void)l;
    struct conn *c = LIST_ENTRY(t, struct conn, read_task);
    xread(c);
}

static void on_io(struct loop *l, struct loop_io *io, unsigned ev)
{
    (void)l;
    struct conn *c = LIST_ENTRY(io, struct conn, io);
    if (c->state == CONN_HANDSHAKE) {
        handshake(c);
        return;
    }
    if ((ev & LOOP_OUT) && c->state != CONN_DEAD) {
        /* a TLS write waiting on a read is retried here too */
        if (!xflush(c))
            return;
    }
    if ((ev & LOOP_IN) && c->state == CONN_OPEN) {
        if (c->tls_retry && c->out_n && !xflush(c))
            return;
        xread(c);
    } else if ((ev & LOOP_ERR) && c->state != CONN_DEAD) {
        die(c, "socket error");
    }
}

struct conn *conn_new(struct conn_ctx *ctx, int fd, bool tls, const struct conn_ops *ops,
                      void *owner, const char *peer)
{
    struct conn *c;
    XNEW(c);
    c->ctx = ctx;
    c->ops = ops;
    c->owner = owner;
    c->id = next_id();
    c->state = CONN_OPEN;
    list_init(&c->dirty_link);
    task_init(&c->close_task, finish);
    task_init(&c->read_task, read_again);
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    size_t burst = ctx->read_burst > ctx->read_rate ? ctx->read_burst : ctx->read_rate;
    ratelimit_init(&c->reads, ctx->read_rate, 1000, burst, loop_now(ctx->loop));
    int rc = loop_io_add(ctx->loop, &c->io, fd, LOOP_IN, on_io);
    if (rc < 0) {
        log_warn("epoll add fd %d: %s", fd, strerror(-rc));
        close(fd);
        free(c);
        return NULL;
    }
    if (tls)
        start_tls(c);
    return c;
}

void conn_send_chunk(struct conn *c, struct chunk *chunk)
{
    if (c->state == CONN_DEAD || c->state == CONN_CLOSING || chunk->len == 0)
        return;
    /* a burst queued within one loop iteration is not a slow reader: let the socket take
       what it can before judging (only in the plain open state, where a write is just a
       write) */
    if (c->out_bytes + chunk->len > c->ctx->out_max && c->state == CONN_OPEN &&
        !c->starttls_pending && !c->want_out && !xflush(c))
        return;
    if (c->out_bytes + chunk->len > c->ctx->out_max) {
        log_write(LOG_INFO, c->peer, "output queue over %zu bytes: closing", c->ctx->out_max);
        die(c, "output queue full");
        return;
    }
    if (c->out_n == c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 4;
        struct conn_out *o = xmalloc(cap * sizeof(*o));
        for (size_t i = 0; i < c->out_n; i++)
            o[i] = c->out[(c->out_head + i) % c->out_cap];
        free(c->out);
        c->out = o;
        c->out_cap = cap;
        c->out_head = 0;
    }
    struct conn_out *o = &c->out[(c->out_head + c->out_n) % c->out_cap];
    o->chunk = chunk_ref(chunk);
    o->off = 0;
    c->out_n++;
    c->out_bytes += chunk->len;
    if (list_empty(&c->dirty_link))
        list_push(&c->ctx->dirty, &c->dirty_link);
}

void conn_send(struct conn *c, const void *data, size_t len)
{
    if (c->state == CONN_DEAD || c->state == CONN_CLOSING || len == 0)
        return;
    struct chunk *ch = chunk_new(data, len);
    conn_send_chunk(c, ch);
    chunk_unref(ch);
}

void conn_starttls(struct conn *c)
{
    if (c->state != CONN_OPEN || c->ssl || !c->ctx->ssl_ctx)
        return;
    c->starttls_pending = true;
    update_events(c);
    if (c->out_n == 0)
        start_tls(c);
}

void conn_pause(struct conn *c, bool paused)
{
    if (c->paused == paused || c->state == CONN_DEAD)
        return;
    c->paused = paused;
    update_events(c);
    if (!paused && c->ssl)
        loop_defer(c->ctx->loop, &c->read_task);
}

static void linger_expired(struct loop *l, struct timer *t)
{
    (void)l;
    struct conn *c = LIST_ENTRY(t, struct conn, linger);
    die(c, NULL);
}

void conn_close(struct conn *c, const char *reason)
{
    if (c->state == CONN_DEAD || c->state == CONN_CLOSING)
        return;
    c->close_reason = reason;
    if (c->state == CONN_HANDSHAKE || c->out_n == 0) {
        c->state = CONN_CLOSING;
        loop_defer(c->ctx->loop, &c->close_task);
        return;
    }
    c->state = CONN_CLOSING;
    c->starttls_pending = false;
    update_events(c);
    loop_timer_start(c->ctx->loop, &c->linger, CONN_LINGER_MS, linger_expired);
}

void conn_abort(struct conn *c)
{
    loop_undefer(&c->close_task);
    if (c->state != CONN_CLOSING)
        c->state = CONN_DEAD;
    finish(c->ctx->loop, &c->close_task);
}

int conn_release(struct conn *c)
{
    if (c->state == CONN_HANDSHAKE || c->starttls_pending || c->tls_retry)
        return -EAGAIN;
    if (c->state != CONN_OPEN)
        return -EPIPE;
    loop_undefer(&c->read_task);
    /* the throttle timer belongs to this loop; the debt stays in the bucket and the next
       read on the new loop throttles again if it is still owed */
    loop_timer_stop(c->ctx->loop, &c->throttle);
    c->throttled = false;
    loop_io_del(c->ctx->loop, &c->io);
    list_del(&c->dirty_link);
    c->ctx = NULL;
    return 0;
}

int conn_adopt(struct conn *c, struct conn_ctx *ctx)
{
    c->ctx = ctx;
    int rc = loop_io_add(ctx->loop, &c->io, c->io.fd, 0, on_io);
    if (rc < 0) {
        c->state = CONN_DEAD;
        loop_defer(ctx->loop, &c->close_task);
        return rc;
    }
    update_events(c);
    if (c->out_n > 0)
        list_push(&ctx->dirty, &c->dirty_link);
    if (c->ssl && !c->paused)
        loop_defer(ctx->loop, &c->read_task); /* decrypted bytes epoll cannot see */
    return 0;
}

void conn_flush_all(struct conn_ctx *ctx)
{
    while (!list_empty(&ctx->dirty)) {
        struct list *n = ctx->dirty.next;
        struct conn *c = LIST_ENTRY(n, struct conn, dirty_link);
        /* take it off first: xflush re-adds nothing, and a blocked conn waits for LOOP_OUT */
        list_del(n);
        if (c->state == CONN_HANDSHAKE || c->starttls_pending) {
            if (c->starttls_pending)
                xflush(c);
            continue;
        }
        xflush(c);
    }
}

const char *conn_tls_version(const struct conn *c)
{
    return c->ssl && c->secure ? SSL_get_version(c->ssl) : "none";
}
