/*
 * chunk: an immutable, reference-counted byte string for fan-out. A stanza
 * is serialized once into a chunk and the same chunk is queued on every
 * target connection, on any worker; the last unref frees it.
 */
#ifndef TERN_CORE_CHUNK_H
#define TERN_CORE_CHUNK_H

#include <stdatomic.h>
#include <stddef.h>

struct chunk {
    atomic_uint refs;
    unsigned tag; /* the creator's marks (xmpp: what kind of stanza); set before sharing */
    size_t len;
    char data[]; /* len bytes (plus a NUL for logging) */
};

/** Returns a new chunk holding a copy of len bytes, with one reference. */
struct chunk *chunk_new(const void *data, size_t len);
/** Takes one more reference; returns c. Any thread. */
struct chunk *chunk_ref(struct chunk *c);
/** Drops one reference, freeing on the last. NULL-safe. Any thread. */
void chunk_unref(struct chunk *c);

#endif
