/*
 * alloc: allocation for small control objects. Every function here aborts the
 * process on out-of-memory, so callers never check for NULL. Memory whose size
 * a peer controls must not come from here unchecked: use the capped growth of
 * buf.h or arena.h, which turn an oversized request into a protocol error.
 */
#ifndef TERN_CORE_ALLOC_H
#define TERN_CORE_ALLOC_H

#include <stddef.h>

/** Returns new zeroed memory of n * size bytes; aborts on overflow or OOM. */
void *xcalloc(size_t n, size_t size);
/** Returns new uninitialized memory; aborts on OOM. */
void *xmalloc(size_t size);
/** Resizes p (may be NULL); aborts on OOM. */
void *xrealloc(void *p, size_t size);
/** Returns a new NUL-terminated copy of s (NULL gives NULL). */
char *xstrdup(const char *s);
/** Returns a new NUL-terminated copy of the len bytes at s. */
char *xstrndup(const char *s, size_t len);

/** Allocates one zeroed object of the pointed-to type. */
#define XNEW(ptr) ((ptr) = xcalloc(1, sizeof(*(ptr))))

#endif
