/*
 * sessions: SESS_SHARDS maps of bare JID -> struct user (a small array of
 * bindings). Contention is low: two workers touch the same shard only for
 * accounts hashing together, and every critical section is a few copies.
 */
#include "xmpp/sessions.h"
#include "core/alloc.h"
#include "core/chunk.h"
#include "core/map.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESS_SHARDS 64

/* One binding: its address and its last available presence (a reference, or NULL). */
struct res {
    struct sess_addr a;
    struct chunk *last;
};

struct user {
    size_t n;
    struct res res[]; /* n entries, grown by realloc */
};

struct shard {
    pthread_mutex_t lock;
    struct map users; /* bare JID -> struct user * */
};

struct sessions {
    struct shard shards[SESS_SHARDS];
};

struct sessions *sessions_new(void)
{
    struct sessions *s;
    XNEW(s);
    for (int i = 0; i < SESS_SHARDS; i++) {
        pthread_mutex_init(&s->shards[i].lock, NULL);
        map_init(&s->shards[i].users);
    }
    return s;
}

static void free_user(void *arg, const void *key, size_t len, void *value)
{
    (void)arg;
    (void)key;
    (void)len;
    struct user *u = value;
    for (size_t i = 0; i < u->n; i++)
        chunk_unref(u->res[i].last);
    free(u);
}

void sessions_free(struct sessions *s)
{
    if (!s)
        return;
    for (int i = 0; i < SESS_SHARDS; i++) {
        map_each(&s->shards[i].users, free_user, NULL);
        map_fini(&s->shards[i].users);
        pthread_mutex_destroy(&s->shards[i].lock);
    }
    free(s);
}

/* Locks the shard of jid's bare JID; writes the bare JID to bare and its length to *len. */
static struct shard *lock_shard(struct sessions *s, const struct jid *jid, char *bare, size_t cap,
                                size_t *len)
{
    int n = jid_bare(jid, bare, cap);
    *len = n > 0 ? (size_t)n : 0;
    struct shard *sh = &s->shards[map_hash(bare, *len) % SESS_SHARDS];
    pthread_mutex_lock(&sh->lock);
    return sh;
}

static struct res *find_res(struct user *u, const char *resource)
{
    for (size_t i = 0; u && i < u->n; i++)
        if (strcmp(u->res[i].a.resource, resource) == 0)
            return &u->res[i];
    return NULL;
}

int sessions_bind(struct sessions *s, const struct jid *jid, const struct sess_addr *addr,
                  struct sess_addr *old)
{
    char bare[JID_BUF];
    size_t len;
    struct shard *sh = lock_shard(s, jid, bare, sizeof(bare), &len);
    struct user *u = map_get(&sh->users, bare, len);
    struct res *r = find_res(u, jid_resource(jid));
    int rc = 0;
    if (r) {
        *old = r->a;
        rc = 1;
    } else if (u && u->n >= SESS_MAX_RESOURCES) {
        rc = -ENOSPC;
    } else {
        size_t n = u ? u->n : 0;
        u = xrealloc(u, sizeof(*u) + (n + 1) * sizeof(u->res[0]));
        u->n = n + 1;
        map_put(&sh->users, bare, len, u);
        r = &u->res[n];
        r->last = NULL;
    }
    if (rc >= 0) {
        r->a = *addr;
        snprintf(r->a.resource, sizeof(r->a.resource), "%s", jid_resource(jid));
        chunk_unref(r->last); /* the new session has said nothing yet */
        r->last = NULL;
    }
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

void sessions_unbind(struct sessions *s, const struct jid *jid, uint64_t conn_id)
{
    char bare[JID_BUF];
    size_t len;
    struct shard *sh = lock_shard(s, jid, bare, sizeof(bare), &len);
    struct user *u = map_get(&sh->users, bare, len);
    struct res *r = find_res(u, jid_resource(jid));
    if (r && r->a.conn_id == conn_id) {
        chunk_unref(r->last);
        *r = u->res[u->n - 1];
        if (--u->n == 0) {
            map_del(&sh->users, bare, len);
            free(u);
        }
    }
    pthread_mutex_unlock(&sh->lock);
}

void sessions_set_presence(struct sessions *s, const struct jid *jid, uint64_t conn_id,
                           bool available, int priority)
{
    char bare[JID_BUF];
    size_t len;
    struct shard *sh = lock_shard(s, jid, bare, sizeof(bare), &len);
    struct res *r = find_res(map_get(&sh->users, bare, len), jid_resource(jid));
    if (r && r->a.conn_id == conn_id) {
        r->a.available = available;
        r->a.priority = priority;
    }
    pthread_mutex_unlock(&sh->lock);
}

void sessions_set_flags(struct sessions *s, const struct jid *jid, uint64_t conn_id, uint32_t mask,
                        uint32_t value)
{
    char bare[JID_BUF];
    size_t len;
    struct shard *sh = lock_shard(s, jid, bare, sizeof(bare), &len);
    struct res *r = find_res(map_get(&sh->users, bare, len), jid_resource(jid));
    if (r && r->a.conn_id == conn_id)
        r->a.flags = (r->a.flags & ~mask) | (value & mask);
    pthread_mutex_unlock(&sh->lock);
}

bool sessions_get(struct sessions *s, const struct jid *jid, struct sess_addr *out)
{
    char bare[JID_BUF];
    size_t len;
    struct shard *sh = lock_shard(s, jid, bare, sizeof(bare), &len);
    struct res *r = find_res(map_get(&sh->users, bare, len), jid_resource(jid));
    if (r)
        *out = r->a;
    pthread_mutex_unlock(&sh->lock);
    return r != NULL;
}

size_t sessions_list(struct sessions *s, const struct jid *jid, struct sess_addr *out, size_t max)
{
    char bare[JID_BUF];
    size_t len;
    struct shard *sh = lock_shard(s, jid, bare, sizeof(bare), &len);
    struct user *u = map_get(&sh->users, bare, len);
    size_t n = u ? u->n : 0;
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = u->res[i].a;
    pthread_mutex_unlock(&sh->lock);
    return n;
}

void sessions_set_last(struct sessions *s, const struct jid *jid, uint64_t conn_id,
                       struct chunk *presence)
{
    char bare[JID_BUF];
    size_t len;
    struct shard *sh = lock_shard(s, jid, bare, sizeof(bare), &len);
    struct res *r = find_res(map_get(&sh->users, bare, len), jid_resource(jid));
    struct chunk *drop = NULL;
    if (r && r->a.conn_id == conn_id) {
        drop = r->last;
        r->last = presence ? chunk_ref(presence) : NULL;
    }
    pthread_mutex_unlock(&sh->lock);
    chunk_unref(drop);
}

size_t sessions_presences(struct sessions *s, const struct jid *jid, struct sess_presence *out,
                          size_t max)
{
    char bare[JID_BUF];
    size_t len, n = 0;
    struct shard *sh = lock_shard(s, jid, bare, sizeof(bare), &len);
    struct user *u = map_get(&sh->users, bare, len);
    for (size_t i = 0; u && i < u->n; i++) {
        if (!u->res[i].a.available || !u->res[i].last)
            continue;
        if (n < max) {
            out[n].addr = u->res[i].a;
            out[n].presence = chunk_ref(u->res[i].last);
        }
        n++;
    }
    pthread_mutex_unlock(&sh->lock);
    return n;
}
