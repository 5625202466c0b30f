/*
 * listen: accept4 in a bounded loop per readiness event. When the process is
 * out of descriptors the listener backs off for a second instead of spinning
 * on a readable socket it cannot accept from.
 */
#include "net/listen.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024
#define ACCEPT_BATCH   64

int listen_open(const char *addr, unsigned port)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        sl = sizeof(*sin);
    } else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        sl = sizeof(*sin6);
    } else {
        return -EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

void listen_format_peer(const struct sockaddr *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
        snprintf(out, cap, "%s:%u", ip, ntohs(s->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
        snprintf(out, cap, "[%s]:%u", ip, ntohs(s->sin6_port));
    } else {
        snprintf(out, cap, "unknown");
    }
}

static void resume(struct loop *l, struct timer *t)
{
    struct listener *ln = (struct listener *)((char *)t - offsetof(struct listener, backoff));
    loop_io_mod(l, &ln->io, LOOP_IN);
}

static void on_accept(struct loop *l, struct loop_io *io, unsigned ev)
{
    (void)ev;
    struct listener *ln = (struct listener *)io;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_warn("accept: %s: pausing new connections for 1 s", strerror(errno));
                loop_io_mod(l, io, 0);
                loop_timer_start(l, &ln->backoff, 1000, resume);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                log_warn("accept: %s", strerror(errno));
            }
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        char peer[64];
        listen_format_peer((struct sockaddr *)&ss, peer, sizeof(peer));
        ln->fn(ln, fd, peer);
    }
}

int listen_start(struct listener *ln, struct loop *loop, int fd, bool tls, listen_fn *fn, void *arg)
{
    ln->loop = loop;
    ln->tls = tls;
    ln->fn = fn;
    ln->arg = arg;
    ln->backoff.idx = 0;
    return loop_io_add(loop, &ln->io, fd, LOOP_IN, on_accept);
}

void listen_stop(struct listener *ln)
{
    if (!ln->io.live)
        return;
    loop_timer_stop(ln->loop, &ln->backoff);
    loop_io_del(ln->loop, &ln->io);
    close(ln->io.fd);
}
