/*
 * iplimit: a locked map ip -> record. A record lives while its address has
 * connections open, failures younger than the reset period, or a connection
 * rate bucket that has not refilled; records of none of these kinds are
 * dropped when the map is pruned (past `prune_at` entries, which then grows
 * with the live entries, so that pruning stays linear in total), so a spray
 * of addresses cannot grow it without bound. The unauthenticated count is one
 * atomic, outside the lock.
 */
#include "xmpp/iplimit.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/map.h"
#include "net/ratelimit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define IPLIMIT_BASE_MS   250
#define IPLIMIT_MAX_MS    10000
#define IPLIMIT_RESET_MS  (10 * 60 * 1000)
#define IPLIMIT_PRUNE     4096
#define IPLIMIT_PERIOD_MS 60000 /* conn_rate is per minute */

struct rec {
    unsigned conns;
    unsigned failures;
    uint64_t last_fail; /* ms */
    struct ratelimit opens;
};

struct iplimit {
    pthread_mutex_t lock;
    unsigned max_conns;
    unsigned conn_rate; /* per minute, 0: off */
    unsigned max_unauth;
    atomic_uint unauth;
    uint64_t now; /* ms, latest time seen, for pruning */
    size_t prune_at;
    struct map ips;
};

struct iplimit *iplimit_new(unsigned max_conns, unsigned conn_rate, unsigned max_unauth)
{
    struct iplimit *il;
    XNEW(il);
    pthread_mutex_init(&il->lock, NULL);
    il->max_conns = max_conns;
    il->conn_rate = conn_rate;
    il->max_unauth = max_unauth;
    il->prune_at = IPLIMIT_PRUNE;
    atomic_init(&il->unauth, 0);
    map_init(&il->ips);
    return il;
}

static void free_rec(void *arg, const void *key, size_t len, void *value)
{
    (void)arg;
    (void)key;
    (void)len;
    free(value);
}

void iplimit_free(struct iplimit *il)
{
    if (!il)
        return;
    map_each(&il->ips, free_rec, NULL);
    map_fini(&il->ips);
    pthread_mutex_destroy(&il->lock);
    free(il);
}

static bool stale(const struct iplimit *il, struct rec *r)
{
    return r->conns == 0 && (r->failures == 0 || il->now - r->last_fail >= IPLIMIT_RESET_MS) &&
           ratelimit_full(&r->opens, il->now);
}

static void keep_live(void *arg, const void *key, size_t len, void *value)
{
    struct iplimit *il = arg;
    /* map_each forbids changing the map it walks: il->ips is the new map here */
    if (stale(il, value))
        free(value);
    else
        map_put(&il->ips, key, len, value);
}

/* Returns ip's record, created if missing. Called with the lock held. */
static struct rec *get(struct iplimit *il, const char *ip, size_t len)
{
    struct rec *r = map_get(&il->ips, ip, len);
    if (r)
        return r;
    if (il->ips.n >= il->prune_at) {
        struct map old = il->ips;
        map_init(&il->ips);
        map_each(&old, keep_live, il);
        map_fini(&old);
        il->prune_at = il->ips.n * 2 > IPLIMIT_PRUNE ? il->ips.n * 2 : IPLIMIT_PRUNE;
    }
    XNEW(r);
    ratelimit_init(&r->opens, il->conn_rate, IPLIMIT_PERIOD_MS, il->conn_rate, il->now);
    map_put(&il->ips, ip, len, r);
    return r;
}

enum iplimit_verdict iplimit_conn_open_at(struct iplimit *il, const char *ip, uint64_t now_ms)
{
    size_t len = strlen(ip);
    pthread_mutex_lock(&il->lock);
    if (now_ms > il->now)
        il->now = now_ms;
    struct rec *r = get(il, ip, len);
    enum iplimit_verdict v = IPLIMIT_OK;
    if (r->conns >= il->max_conns)
        v = IPLIMIT_TOO_MANY;
    else if (!ratelimit_take(&r->opens, 1, now_ms))
        v = IPLIMIT_TOO_FAST;
    else
        r->conns++;
    pthread_mutex_unlock(&il->lock);
    return v;
}

bool iplimit_conn_open(struct iplimit *il, const char *ip)
{
    return iplimit_conn_open_at(il, ip, clock_ms()) == IPLIMIT_OK;
}

const char *iplimit_verdict_str(enum iplimit_verdict v)
{
    switch (v) {
    case IPLIMIT_OK:
        return "accepted";
    case IPLIMIT_TOO_MANY:
        return "too many connections from this address (limits.max_conns_per_ip)";
    case IPLIMIT_TOO_FAST:
        return "too many new connections per minute from this address "
               "(limits.conn_rate_per_ip)";
    }
    return "refused";
}

void iplimit_conn_close(struct iplimit *il, const char *ip)
{
    size_t len = strlen(ip);
    pthread_mutex_lock(&il->lock);
    struct rec *r = map_get(&il->ips, ip, len);
    if (r && r->conns > 0)
        r->conns--;
    if (r && stale(il, r))
        free(map_del(&il->ips, ip, len));
    pthread_mutex_unlock(&il->lock);
}

bool iplimit_unauth_enter(struct iplimit *il)
{
    unsigned n = atomic_load(&il->unauth);
    do {
        if (il->max_unauth && n >= il->max_unauth)
            return false;
    } while (!atomic_compare_exchange_weak(&il->unauth, &n, n + 1));
    return true;
}

void iplimit_unauth_leave(struct iplimit *il)
{
    unsigned n = atomic_load(&il->unauth);
    /* never below zero, even for an unbalanced call */
    while (n > 0 && !atomic_compare_exchange_weak(&il->unauth, &n, n - 1))
        ;
}

unsigned iplimit_unauth_count(struct iplimit *il)
{
    return atomic_load(&il->unauth);
}

uint64_t iplimit_auth_fail(struct iplimit *il, const char *ip, uint64_t now_ms)
{
    size_t len = strlen(ip);
    pthread_mutex_lock(&il->lock);
    if (now_ms > il->now)
        il->now = now_ms;
    struct rec *r = get(il, ip, len);
    if (r->failures && now_ms - r->last_fail >= IPLIMIT_RESET_MS)
        r->failures = 0;
    r->failures++;
    r->last_fail = now_ms;
    unsigned n = r->failures;
    pthread_mutex_unlock(&il->lock);
    uint64_t delay = IPLIMIT_BASE_MS;
    for (unsigned i = 1; i < n && delay < IPLIMIT_MAX_MS; i++)
        delay *= 2;
    return delay > IPLIMIT_MAX_MS ? IPLIMIT_MAX_MS : delay;
}

void iplimit_auth_ok(struct iplimit *il, const char *ip)
{
    size_t len = strlen(ip);
    pthread_mutex_lock(&il->lock);
    struct rec *r = map_get(&il->ips, ip, len);
    if (r) {
        r->failures = 0;
        if (stale(il, r))
            free(map_del(&il->ips, ip, len));
    }
    pthread_mutex_unlock(&il->lock);
}
