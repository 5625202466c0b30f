/*
 * server: builds the shared state, runs one thread per worker, and stops
 * them in order. Start-up does everything that can fail (ports, TLS files,
 * database) before the first thread runs, so a bad config fails fast with
 * one clear message instead of a half-started server.
 *
 * Stop sequence (server_stop):
 *   1. post a stop mail to every worker: it closes its listeners, ends every
 *      stream with </stream:stream>, ends detached (stream management)
 *      sessions at once, and leaves its loop once its last session is gone
 *      (or after WORKER_STOP_MS)
 *   2. join the workers, end what sessions remain
 *   3. stop the store: it finishes its queue and commits
 *   4. drain the mailboxes of completions and deliveries that came late
 * Every session ends on its worker before step 3, and a session that ends
 * hands its unacknowledged stanzas to the undelivered hook (offline
 * storage), so their writes are queued before the store's last commit.
 */
#include "xmpp/server.h"
#include "conf/conf.h"
#include "core/alloc.h"
#include "core/log.h"
#include "store/store.h"
#include "xmpp/iplimit.h"
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/sessions.h"
#include "net/tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WORKER_STOP_MS 3000

static void on_mailbox(struct loop *l, struct loop_io *io, unsigned ev)
{
    (void)l;
    (void)ev;
    struct worker *w = (struct worker *)((char *)io - offsetof(struct worker, mb_io));
    mailbox_drain(w->mb, w);
}

static void before_sleep(struct loop *l, void *arg)
{
    (void)l;
    struct worker *w = arg;
    conn_flush_all(&w->cctx);
}

static void on_listen(struct listener *ln, int fd, const char *peer)
{
    c2s_accept(ln->arg, fd, ln->tls, peer);
}

static void stop_deadline(struct loop *l, struct timer *t)
{
    (void)t;
    loop_stop(l);
}

static void on_stop_mail(struct mail *m, void *ctx)
{
    struct worker *w = ctx;
    free(m);
    w->stopping = true;
    listen_stop(&w->ln_c2s);
    listen_stop(&w->ln_tls);
    struct list *it = w->c2s_all.next;
    while (it != &w->c2s_all) {
        struct c2s *s = LIST_ENTRY(it, struct c2s, link);
        it = it->next;
        c2s_shutdown(s);
    }
    if (w->n_c2s == 0)
        loop_stop(w->loop);
    else
        loop_timer_start(w->loop, &w->stop_deadline, WORKER_STOP_MS, stop_deadline);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    loop_run(w->loop);
    w->done = true;
    /* flush the goodbyes that made it into queues, then end what is left */
    conn_flush_all(&w->cctx);
    while (!list_empty(&w->c2s_all)) {
        struct c2s *s = LIST_ENTRY(w->c2s_all.next, struct c2s, link);
        if (s->conn)
            conn_abort(s->conn);
        else
            c2s_shutdown(s); /* detached: ends at once */
    }
    atomic_fetch_sub(&w->srv->running, 1);
    return NULL;
}

static int worker_init(struct server *srv, struct worker *w, unsigned id)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->srv = srv;
    w->loop = loop_new();
    w->mb = mailbox_new();
    map_init(&w->c2s_by_id);
    list_init(&w->c2s_all);
    buf_init(&w->out, 0);
    w->cctx.loop = w->loop;
    w->cctx.ssl_ctx = srv->ssl_ctx;
    w->cctx.out_max = srv->conf->limits.max_out;
    w->cctx.read_rate = srv->conf->limits.read_rate;
    w->cctx.read_burst = srv->conf->limits.max_stanza;
    list_init(&w->cctx.dirty);
    loop_set_hook(w->loop, before_sleep, w);
    int rc = loop_io_add(w->loop, &w->mb_io, mailbox_fd(w->mb), LOOP_IN, on_mailbox);
    if (rc < 0)
        return rc;
    rc = listen_start(&w->ln_c2s, w->loop, srv->fd_c2s[id], false, on_listen, w);
    srv->fd_c2s[id] = -1;
    if (rc < 0)
        return rc;
    if (srv->fd_tls[id] >= 0) {
        rc = listen_start(&w->ln_tls, w->loop, srv->fd_tls[id], true, on_listen, w);
        srv->fd_tls[id] = -1;
    }
    return rc;
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
}

int server_init(struct server *srv, const struct conf *conf)
{
    memset(srv, 0, sizeof(*srv));
    for (size_t i = 0; i < 256; i++)
        srv->fd_c2s[i] = srv->fd_tls[i] = -1;
    srv->conf = conf;
    srv->domain = conf->domain;
    srv->n_workers = conf->workers ? conf->workers : online_cpus();
    srv->xml_limits.max_stanza = conf->limits.max_stanza;
    srv->xml_limits.max_depth = conf->limits.max_depth;
    srv->xml_limits.max_attrs = conf->limits.max_attrs;

    char err[512];
    int rc = tls_selfsigned(conf->tls.cert, conf->tls.key, conf->domain, err, sizeof(err));
    if (rc < 0) {
        log_error("tls: %s", err);
        return rc;
    }
    if (rc == 1)
        log_info("created a self-signed certificate for %s: %s (key %s)", conf->domain,
                 conf->tls.cert, conf->tls.key);
    srv->ssl_ctx = tls_ctx_new(conf->tls.cert, conf->tls.key, err, sizeof(err));
    if (!srv->ssl_ctx) {
        log_error("tls: %s", err);
        return -EINVAL;
    }
    for (unsigned i = 0; i < srv->n_workers; i++) {
        srv->fd_c2s[i] = listen_open(conf->c2s.bind, conf->c2s.port);
        if (srv->fd_c2s[i] < 0) {
            log_error("cannot listen on %s:%u: %s", conf->c2s.bind, conf->c2s.port,
                      strerror(-srv->fd_c2s[i]));
            return srv->fd_c2s[i];
        }
        if (conf->c2s.tls_port) {
            srv->fd_tls[i] = listen_open(conf->c2s.bind, conf->c2s.tls_port);
            if (srv->fd_tls[i] < 0) {
                log_error("cannot listen on %s:%u: %s", conf->c2s.bind, conf->c2s.tls_port,
                          strerror(-srv->fd_tls[i]));
                return srv->fd_tls[i];
            }
        }
    }
    srv->store = store_start(conf->store.path);
    if (!srv->store)
        return -EIO;
    srv->sessions = sessions_new();
    srv->iplimit = iplimit_new(conf->limits.max_conns_per_ip, conf->limits.conn_rate_per_ip,
                               conf->limits.max_unauth);
    srv->workers = xcalloc(srv->n_workers, sizeof(*srv->workers));
    for (unsigned i = 0; i < srv->n_workers; i++) {
        rc = worker_init(srv, &srv->workers[i], i);
        if (rc < 0) {
            log_error("worker %u: %s", i, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

int server_start(struct server *srv)
{
    for (unsigned i = 0; i < srv->n_workers; i++) {
        struct worker *w = &srv->workers[i];
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            log_error("pthread_create: %s", strerror(rc));
            return -rc;
        }
        atomic_fetch_add(&srv->running, 1);
    }
    return 0;
}

void server_stop(struct server *srv)
{
    if (!srv->workers)
        return;
    for (unsigned i = 0; i < srv->n_workers; i++) {
        struct mail *m;
        XNEW(m);
        m->fn = on_stop_mail;
        mailbox_post(srv->workers[i].mb, m);
    }
    for (unsigned i = 0; i < srv->n_workers; i++)
        if (srv->workers[i].thread)
            pthread_join(srv->workers[i].thread, NULL);
    store_stop(srv->store);
    srv->store = NULL;
    for (unsigned i = 0; i < srv->n_workers; i++)
        mailbox_drain(srv->workers[i].mb, &srv->workers[i]);
}

void server_fini(struct server *srv)
{
    for (unsigned i = 0; srv->workers && i < srv->n_workers; i++) {
        struct worker *w = &srv->workers[i];
        listen_stop(&w->ln_c2s);
        listen_stop(&w->ln_tls);
        if (w->mb_io.live)
            loop_io_del(w->loop, &w->mb_io);
        mailbox_drain(w->mb, w);
        mailbox_free(w->mb);
        loop_free(w->loop);
        map_fini(&w->c2s_by_id);
        buf_fini(&w->out);
    }
    for (size_t i = 0; i < 256; i++) {
        if (srv->fd_c2s[i] >= 0)
            close(srv->fd_c2s[i]);
        if (srv->fd_tls[i] >= 0)
            close(srv->fd_tls[i]);
    }
    free(srv->workers);
    store_stop(srv->store);
    sessions_free(srv->sessions);
    iplimit_free(srv->iplimit);
    SSL_CTX_free(srv->ssl_ctx);
    memset(srv, 0, sizeof(*srv));
}
