/*
 * map: keys are copied into the slot (one allocation per entry), hashes are
 * kept so probes compare lengths and hashes before bytes.
 */
#include "core/map.h"
#include "core/alloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct map_slot {
    char *key; /* NULL: empty; TOMB: deleted */
    size_t len;
    uint64_t hash;
    void *value;
};

static char tomb_mark;
#define TOMB (&tomb_mark)

uint64_t map_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

void map_init(struct map *m)
{
    memset(m, 0, sizeof(*m));
}

void map_fini(struct map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != TOMB)
            free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static struct map_slot *find(const struct map *m, const void *key, size_t len, uint64_t h)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct map_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != TOMB && s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
}

static void grow(struct map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    if (m->n * 10 < m->cap * 3) /* mostly tombstones: rehash at the same size */
        cap = m->cap;
    struct map_slot *old = m->slots;
    size_t old_cap = m->cap;
    m->slots = xcalloc(cap, sizeof(*m->slots));
    m->cap = cap;
    m->used = m->n;
    for (size_t i = 0; i < old_cap; i++) {
        struct map_slot *s = &old[i];
        if (!s->key || s->key == TOMB)
            continue;
        size_t j = s->hash & (cap - 1);
        while (m->slots[j].key)
            j = (j + 1) & (cap - 1);
        m->slots[j] = *s;
    }
    free(old);
}

void *map_get(const struct map *m, const void *key, size_t len)
{
    struct map_slot *s = find(m, key, len, map_hash(key, len));
    return s ? s->value : NULL;
}

void *map_put(struct map *m, const void *key, size_t len, void *value)
{
    uint64_t h = map_hash(key, len);
    struct map_slot *s = find(m, key, len, h);
    if (s) {
        void *old = s->value;
        s->value = value;
        return old;
    }
    if ((m->used + 1) * 10 > m->cap * 7)
        grow(m);
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].key && m->slots[i].key != TOMB)
        i = (i + 1) & mask;
    s = &m->slots[i];
    if (!s->key)
        m->used++;
    s->key = xmalloc(len ? len : 1);
    memcpy(s->key, key, len);
    s->len = len;
    s->hash = h;
    s->value = value;
    m->n++;
    return NULL;
}

void *map_del(struct map *m, const void *key, size_t len)
{
    struct map_slot *s = find(m, key, len, map_hash(key, len));
    if (!s)
        return NULL;
    void *v = s->value;
    free(s->key);
    s->key = TOMB;
    s->value = NULL;
    m->n--;
    return v;
}

void map_each(const struct map *m, void (*fn)(void *arg, const void *key, size_t len, void *value),
              void *arg)
{
    for (size_t i = 0; i < m->cap; i++) {
        struct map_slot *s = &m->slots[i];
        if (s->key && s->key != TOMB)
            fn(arg, s->key, s->len, s->value);
    }
}
