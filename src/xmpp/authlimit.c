/*
 * authlimit: a locked map ip -> record. The map is pruned of stale records
 * when it grows past AUTHLIMIT_PRUNE entries, so a spray of addresses cannot
 * grow it without bound.
 */
#include "xmpp/authlimit.h"
#include "core/alloc.h"
#include "core/map.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define AUTHLIMIT_BASE_MS  250
#define AUTHLIMIT_MAX_MS   10000
#define AUTHLIMIT_RESET_MS (10 * 60 * 1000)
#define AUTHLIMIT_PRUNE    4096
#define AUTHLIMIT_HARD_MAX 65536

struct rec {
    unsigned failures;
    uint64_t last; /* ms */
};

struct authlimit {
    pthread_mutex_t lock;
    struct map ips;
};

struct authlimit *authlimit_new(void)
{
    struct authlimit *al;
    XNEW(al);
    pthread_mutex_init(&al->lock, NULL);
    map_init(&al->ips);
    return al;
}

static void free_rec(void *arg, const void *key, size_t len, void *value)
{
    (void)arg;
    (void)key;
    (void)len;
    free(value);
}

void authlimit_free(struct authlimit *al)
{
    if (!al)
        return;
    map_each(&al->ips, free_rec, NULL);
    map_fini(&al->ips);
    pthread_mutex_destroy(&al->lock);
    free(al);
}

struct prune_ctx {
    uint64_t now;
    struct map *fresh;
};

static void keep_fresh(void *arg, const void *key, size_t len, void *value)
{
    struct prune_ctx *p = arg;
    struct rec *r = value;
    if (p->now - r->last < AUTHLIMIT_RESET_MS && p->fresh->n < AUTHLIMIT_HARD_MAX)
        map_put(p->fresh, key, len, r);
    else
        free(r);
}

uint64_t authlimit_fail(struct authlimit *al, const char *ip, uint64_t now_ms)
{
    size_t len = strlen(ip);
    pthread_mutex_lock(&al->lock);
    if (al->ips.n >= AUTHLIMIT_PRUNE) {
        struct map fresh;
        map_init(&fresh);
        struct prune_ctx p = {now_ms, &fresh};
        map_each(&al->ips, keep_fresh, &p);
        map_fini(&al->ips);
        al->ips = fresh;
    }
    struct rec *r = map_get(&al->ips, ip, len);
    if (!r) {
        XNEW(r);
        map_put(&al->ips, ip, len, r);
    } else if (now_ms - r->last >= AUTHLIMIT_RESET_MS) {
        r->failures = 0;
    }
    r->failures++;
    r->last = now_ms;
    unsigned n = r->failures;
    pthread_mutex_unlock(&al->lock);
    uint64_t delay = AUTHLIMIT_BASE_MS;
    for (unsigned i = 1; i < n && delay < AUTHLIMIT_MAX_MS; i++)
        delay *= 2;
    return delay > AUTHLIMIT_MAX_MS ? AUTHLIMIT_MAX_MS : delay;
}

void authlimit_ok(struct authlimit *al, const char *ip)
{
    pthread_mutex_lock(&al->lock);
    free(map_del(&al->ips, ip, strlen(ip)));
    pthread_mutex_unlock(&al->lock);
}
