/*
 * arena: a bump allocator for memory that lives and dies together, such as
 * one stanza's element tree. Allocation aborts on OOM like alloc.h: the sizes
 * that reach an arena are already capped by whoever feeds it (the XML parser
 * caps stanza bytes), so the arena itself does not police them.
 * An arena is owned by one thread.
 */
#ifndef TERN_CORE_ARENA_H
#define TERN_CORE_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
    struct arena_block *head; /* newest block, NULL when empty */
    size_t used;              /* bytes handed out since the last reset */
};

/** Initializes an empty arena; no memory is taken until the first alloc. */
void arena_init(struct arena *a);
/** Frees every block. NULL-safe. */
void arena_fini(struct arena *a);
/** Frees everything handed out but keeps the first block for reuse. */
void arena_reset(struct arena *a);
/** Returns size bytes aligned for any type, valid until reset/fini. */
void *arena_alloc(struct arena *a, size_t size);
/** Returns size zeroed bytes. */
void *arena_zalloc(struct arena *a, size_t size);
/** Returns a NUL-terminated copy of len bytes at s, in the arena. */
char *arena_strndup(struct arena *a, const char *s, size_t len);
/** Returns a copy of the NUL-terminated s (NULL gives NULL), in the arena. */
char *arena_strdup(struct arena *a, const char *s);

#endif
