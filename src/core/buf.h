/*
 * buf: a growable byte buffer with an optional hard cap. Used for output
 * assembly, serialization and anything a peer can make grow: past the cap an
 * append fails with -ENOBUFS and the caller turns that into a protocol error.
 * The buffer keeps a NUL after the used bytes so it can be read as a string.
 */
#ifndef TERN_CORE_BUF_H
#define TERN_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;   /* NULL until the first append */
    size_t len;   /* bytes used */
    size_t cap;   /* bytes allocated */
    size_t limit; /* max len, 0 = no limit */
};

/** Initializes an empty buffer whose length may never exceed limit (0: none). */
void buf_init(struct buf *b, size_t limit);
/** Frees the memory; the buffer is empty and reusable afterwards. NULL-safe. */
void buf_fini(struct buf *b);
/** Empties the buffer but keeps its memory. */
void buf_reset(struct buf *b);
/** Makes room for n more bytes. Returns 0 or -ENOBUFS past the limit. */
int buf_reserve(struct buf *b, size_t n);
/** Appends len bytes. Returns 0 or -ENOBUFS. */
int buf_append(struct buf *b, const void *data, size_t len);
/** Appends a NUL-terminated string. Returns 0 or -ENOBUFS. */
int buf_puts(struct buf *b, const char *s);
/** Appends printf-style text. Returns 0 or -ENOBUFS. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** va_list form of buf_printf. */
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/** Removes the first n bytes (n <= len), moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);
/** Gives memory back when the buffer is empty (shrink-on-idle). */
void buf_shrink(struct buf *b);

#endif
