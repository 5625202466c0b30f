/*
 * iplimit: a locked map ip -> record. A record lives while its address has
 * connections open or failures younger than the reset period; records of
 * neither kind are dropped when the map is pruned (past IPLIMIT_PRUNE
 * entries), so a spray of addresses cannot grow it without bound.
 */
#include "xmpp/iplimit.h"
#include "core/alloc.h"
#include "core/map.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define IPLIMIT_BASE_MS  250
#define IPLIMIT_MAX_MS   10000
#define IPLIMIT_RESET_MS (10 * 60 * 1000)
#define IPLIMIT_PRUNE    4096

struct rec {
    unsigned conns;
    unsigned failures;
    uint64_t last_fail; /* ms */
};

struct iplimit {
    pthread_mutex_t lock;
    unsigned max_conns;
    uint64_t now; /* ms, latest time seen, for pruning */
    struct map ips;
};

struct iplimit *iplimit_new(unsigned max_conns)
{
    struct iplimit *il;
    XNEW(il);
    pthread_mutex_init(&il->lock, NULL);
    il->max_conns = max_conns;
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

static bool stale(const struct iplimit *il, const struct rec *r)
{
    return r->conns == 0 && (r->failures == 0 || il->now - r->last_fail >= IPLIMIT_RESET_MS);
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
    if (il->ips.n >= IPLIMIT_PRUNE) {
        struct map old = il->ips;
        map_init(&il->ips);
        map_each(&old, keep_live, il);
        map_fini(&old);
    }
    XNEW(r);
    map_put(&il->ips, ip, len, r);
    return r;
}

bool iplimit_conn_open(struct iplimit *il, const char *ip)
{
    size_t len = strlen(ip);
    pthread_mutex_lock(&il->lock);
    struct rec *r = get(il, ip, len);
    bool ok = r->conns < il->max_conns;
    if (ok)
        r->conns++;
    pthread_mutex_unlock(&il->lock);
    return ok;
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

uint64_t iplimit_auth_fail(struct iplimit *il, const char *ip, uint64_t now_ms)
{
    size_t len = strlen(ip);
    pthread_mutex_lock(&il->lock);
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
