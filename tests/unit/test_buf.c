/* Unit tests for core/buf and core/arena. */
#include "core/arena.h"
#include "core/buf.h"
#include "tap.h"

#include <errno.h>
#include <stdint.h>

static void test_buf(void)
{
    struct buf b;
    buf_init(&b, 16);
    is_int(buf_puts(&b, "hello"), 0, "append within the limit");
    is_int(buf_printf(&b, " %d", 42), 0, "printf within the limit");
    is_str(b.data, "hello 42", "content is NUL-terminated");
    is_int(buf_append(&b, "0123456789", 10), -ENOBUFS, "append past the limit fails");
    is_int(b.len, 8, "a failed append leaves the buffer alone");
    buf_consume(&b, 6);
    is_str(b.data, "42", "consume moves the rest to the front");
    buf_consume(&b, 2);
    is_int(b.len, 0, "consume everything empties");
    buf_shrink(&b);
    ok(b.data == NULL, "shrink gives memory back when empty");
    is_int(buf_append(&b, "x", 1), 0, "usable after shrink");
    buf_fini(&b);
    buf_fini(NULL);

    struct buf u;
    buf_init(&u, 0);
    for (int i = 0; i < 10000; i++)
        buf_append(&u, "abcd", 4);
    is_int(u.len, 40000, "unlimited buffer grows");
    buf_fini(&u);
}

static void test_arena(void)
{
    struct arena a;
    arena_init(&a);
    char *s = arena_strdup(&a, "stanza");
    is_str(s, "stanza", "strdup copies");
    void *big = arena_alloc(&a, 100000);
    ok(big != NULL && ((uintptr_t)big % sizeof(void *)) == 0, "big allocation is aligned");
    int misaligned = 0;
    for (int i = 0; i < 1000; i++)
        misaligned += ((uintptr_t)arena_alloc(&a, 13) % sizeof(void *)) != 0;
    is_int(misaligned, 0, "small allocations stay aligned across blocks");
    is_str(s, "stanza", "earlier allocations survive growth");
    arena_reset(&a);
    is_int(a.used, 0, "reset forgets usage");
    is_str(arena_strndup(&a, "abcdef", 3), "abc", "strndup after reset");
    arena_fini(&a);
    arena_fini(NULL);
}

int main(void)
{
    test_buf();
    test_arena();
    return tap_done();
}
