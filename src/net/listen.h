/*
 * listen: TCP listeners. Each worker opens its own socket on the same
 * address with SO_REUSEPORT and the kernel spreads new connections across
 * workers; an accepted connection stays on the worker that accepted it.
 */
#ifndef TERN_NET_LISTEN_H
#define TERN_NET_LISTEN_H

#include "core/loop.h"

#include <stdbool.h>
#include <sys/socket.h>

struct listener;
/** A new connection: fd is non-blocking and owned by the callee; peer is "ip:port". */
typedef void listen_fn(struct listener *ln, int fd, const char *peer);

struct listener {
    struct loop_io io;
    struct loop *loop;
    struct timer backoff; /* accept paused after EMFILE/ENFILE */
    bool tls;             /* a direct TLS port */
    listen_fn *fn;
    void *arg;
};

/**
 * Opens a listening socket on addr:port (IPv4 or IPv6 literal) with
 * SO_REUSEADDR and SO_REUSEPORT. Returns the fd or a negative errno.
 */
int listen_open(const char *addr, unsigned port);
/** Starts accepting on fd (taken) in loop, calling fn. Returns 0 or negative errno. */
int listen_start(struct listener *ln, struct loop *loop, int fd, bool tls, listen_fn *fn,
                 void *arg);
/** Stops accepting and closes the socket. */
void listen_stop(struct listener *ln);
/** Formats a socket address as "ip:port" (IPv6 as "[ip]:port"). */
void listen_format_peer(const struct sockaddr *sa, char *out, size_t cap);

#endif
