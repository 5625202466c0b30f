/*
 * arena: blocks chained newest first. A request larger than a block gets a
 * block of its own. reset() keeps one block so that a connection handling a
 * steady flow of small stanzas does not hit malloc for each one.
 */
#include "core/arena.h"
#include "core/alloc.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK 4096

struct arena_block {
    struct arena_block *next;
    size_t cap; /* bytes in data */
    size_t len; /* bytes used */
    alignas(max_align_t) unsigned char data[];
};

void arena_init(struct arena *a)
{
    a->head = NULL;
    a->used = 0;
}

void arena_fini(struct arena *a)
{
    if (!a)
        return;
    struct arena_block *b = a->head;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used = 0;
}

void arena_reset(struct arena *a)
{
    if (!a->head)
        return;
    /* keep the oldest block if it is a standard one */
    struct arena_block *b = a->head, *keep = NULL;
    while (b) {
        struct arena_block *next = b->next;
        if (!next && b->cap == ARENA_BLOCK - sizeof(struct arena_block))
            keep = b;
        else
            free(b);
        b = next;
    }
    a->head = keep;
    if (keep) {
        keep->next = NULL;
        keep->len = 0;
    }
    a->used = 0;
}

void *arena_alloc(struct arena *a, size_t size)
{
    const size_t align = alignof(max_align_t);
    size = (size + align - 1) & ~(align - 1);
    struct arena_block *b = a->head;
    if (!b || b->cap - b->len < size) {
        size_t cap = ARENA_BLOCK - sizeof(struct arena_block);
        if (size > cap / 2) {
            /* big allocation: its own block, linked behind the current one */
            struct arena_block *big = xmalloc(sizeof(*big) + size);
            big->cap = size;
            big->len = size;
            if (b) {
                big->next = b->next;
                b->next = big;
            } else {
                big->next = NULL;
                a->head = big;
            }
            a->used += size;
            return big->data;
        }
        b = xmalloc(sizeof(*b) + cap);
        b->cap = cap;
        b->len = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->len;
    b->len += size;
    a->used += size;
    return p;
}

void *arena_zalloc(struct arena *a, size_t size)
{
    void *p = arena_alloc(a, size);
    memset(p, 0, size);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}
