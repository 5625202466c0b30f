/*
 * mailbox: producers push onto an atomic singly linked stack (Treiber push,
 * no ABA since the only pop is "take all"); the consumer exchanges the head
 * with NULL and reverses the list to restore posting order. The eventfd is
 * written only when a push finds the stack empty, so a burst of posts costs
 * one wake-up.
 */
#include "core/mailbox.h"
#include "core/alloc.h"
#include "core/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct mailbox {
    _Atomic(struct mail *) head;
    int fd;
};

struct mailbox *mailbox_new(void)
{
    struct mailbox *mb;
    XNEW(mb);
    atomic_init(&mb->head, NULL);
    mb->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (mb->fd < 0) {
        log_error("eventfd: %s", strerror(errno));
        abort();
    }
    return mb;
}

void mailbox_free(struct mailbox *mb)
{
    if (!mb)
        return;
    close(mb->fd);
    free(mb);
}

int mailbox_fd(const struct mailbox *mb)
{
    return mb->fd;
}

void mailbox_post(struct mailbox *mb, struct mail *m)
{
    struct mail *old = atomic_load_explicit(&mb->head, memory_order_relaxed);
    do {
        m->next = old;
    } while (!atomic_compare_exchange_weak_explicit(&mb->head, &old, m, memory_order_release,
                                                    memory_order_relaxed));
    if (!old) {
        uint64_t one = 1;
        ssize_t w;
        do {
            w = write(mb->fd, &one, sizeof(one));
        } while (w < 0 && errno == EINTR);
        /* EAGAIN means the counter is saturated: the reader is woken anyway */
    }
}

size_t mailbox_drain(struct mailbox *mb, void *ctx)
{
    uint64_t v;
    ssize_t r;
    do {
        r = read(mb->fd, &v, sizeof(v));
    } while (r < 0 && errno == EINTR);
    size_t n = 0;
    for (;;) {
        struct mail *m = atomic_exchange_explicit(&mb->head, NULL, memory_order_acquire);
        if (!m)
            break;
        struct mail *rev = NULL;
        while (m) {
            struct mail *next = m->next;
            m->next = rev;
            rev = m;
            m = next;
        }
        while (rev) {
            struct mail *next = rev->next;
            rev->fn(rev, ctx);
            rev = next;
            n++;
        }
    }
    return n;
}
