/* chunk: refcount with acquire/release ordering so the freeing thread sees all writes. */
#include "core/chunk.h"
#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

struct chunk *chunk_new(const void *data, size_t len)
{
    struct chunk *c = xmalloc(sizeof(*c) + len + 1);
    atomic_init(&c->refs, 1);
    c->tag = 0;
    c->len = len;
    memcpy(c->data, data, len);
    c->data[len] = '\0';
    return c;
}

struct chunk *chunk_ref(struct chunk *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void chunk_unref(struct chunk *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        free(c);
}
