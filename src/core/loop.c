/*
 * loop: epoll backend, binary min-heap of timers, FIFO of deferred tasks.
 *
 * Invariants: a timer's idx is its heap slot + 1 (0 = not armed); a task is
 * on the deferred list iff its link is non-empty. Callbacks may arm/disarm
 * timers, defer tasks and (de)register fds freely.
 */
#include "core/loop.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define LOOP_BATCH 256

struct loop {
    int epfd;
    bool stop;
    uint64_t now;
    struct timer **heap;
    size_t heap_n, heap_cap;
    struct list tasks;
    loop_hook_fn *hook;
    void *hook_arg;
};

struct loop *loop_new(void)
{
    struct loop *l;
    XNEW(l);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        log_error("epoll_create1: %s", strerror(errno));
        abort();
    }
    list_init(&l->tasks);
    l->now = clock_ms();
    return l;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    close(l->epfd);
    free(l->heap);
    free(l);
}

void loop_stop(struct loop *l)
{
    l->stop = true;
}

bool loop_stopping(const struct loop *l)
{
    return l->stop;
}

uint64_t loop_now(const struct loop *l)
{
    return l->now;
}

void loop_set_hook(struct loop *l, loop_hook_fn *fn, void *arg)
{
    l->hook = fn;
    l->hook_arg = arg;
}

static uint32_t to_epoll(unsigned ev)
{
    return (ev & LOOP_IN ? EPOLLIN | EPOLLRDHUP : 0) | (ev & LOOP_OUT ? EPOLLOUT : 0);
}

int loop_io_add(struct loop *l, struct loop_io *io, int fd, unsigned events, loop_io_fn *fn)
{
    io->fd = fd;
    io->events = events;
    io->fn = fn;
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = io};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    io->live = true;
    return 0;
}

int loop_io_mod(struct loop *l, struct loop_io *io, unsigned events)
{
    if (!io->live || io->events == events)
        return 0;
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = io};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
        return -errno;
    io->events = events;
    return 0;
}

void loop_io_del(struct loop *l, struct loop_io *io)
{
    if (!io->live)
        return;
    /* ENOENT/EBADF only if the owner already closed the fd: nothing left to do */
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->live = false;
}

/* ---- timers: binary min-heap on `when` ---- */

static void heap_set(struct loop *l, size_t i, struct timer *t)
{
    l->heap[i] = t;
    t->idx = i + 1;
}

static void heap_up(struct loop *l, size_t i)
{
    struct timer *t = l->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (l->heap[p]->when <= t->when)
            break;
        heap_set(l, i, l->heap[p]);
        i = p;
    }
    heap_set(l, i, t);
}

static void heap_down(struct loop *l, size_t i)
{
    struct timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->heap_n)
            break;
        if (c + 1 < l->heap_n && l->heap[c + 1]->when < l->heap[c]->when)
            c++;
        if (t->when <= l->heap[c]->when)
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, t);
}

void loop_timer_stop(struct loop *l, struct timer *t)
{
    if (!t->idx)
        return;
    size_t i = t->idx - 1;
    t->idx = 0;
    l->heap_n--;
    if (i == l->heap_n)
        return;
    struct timer *moved = l->heap[l->heap_n];
    heap_set(l, i, moved);
    heap_down(l, i);
    heap_up(l, moved->idx - 1);
}

void loop_timer_start(struct loop *l, struct timer *t, uint64_t ms, timer_fn *fn)
{
    loop_timer_stop(l, t);
    t->fn = fn;
    t->when = clock_ms() + ms;
    if (l->heap_n == l->heap_cap) {
        l->heap_cap = l->heap_cap ? l->heap_cap * 2 : 64;
        l->heap = xrealloc(l->heap, l->heap_cap * sizeof(*l->heap));
    }
    l->heap[l->heap_n] = t;
    t->idx = ++l->heap_n;
    heap_up(l, l->heap_n - 1);
}

static void run_timers(struct loop *l)
{
    while (l->heap_n && l->heap[0]->when <= l->now) {
        struct timer *t = l->heap[0];
        loop_timer_stop(l, t);
        t->fn(l, t);
    }
}

/* ---- deferred tasks ---- */

void task_init(struct task *t, task_fn *fn)
{
    list_init(&t->link);
    t->fn = fn;
}

void loop_defer(struct loop *l, struct task *t)
{
    if (list_empty(&t->link))
        list_push(&l->tasks, &t->link);
}

void loop_undefer(struct task *t)
{
    list_del(&t->link);
}

static void run_tasks(struct loop *l)
{
    /* tasks deferred by tasks run in the next iteration (epoll timeout 0) */
    struct list batch;
    list_init(&batch);
    if (list_empty(&l->tasks))
        return;
    batch.next = l->tasks.next;
    batch.prev = l->tasks.prev;
    batch.next->prev = &batch;
    batch.prev->next = &batch;
    list_init(&l->tasks);
    while (!list_empty(&batch)) {
        struct task *t = LIST_ENTRY(batch.next, struct task, link);
        list_del(&t->link);
        t->fn(l, t);
    }
}

static int next_timeout(struct loop *l)
{
    if (!list_empty(&l->tasks) || l->stop)
        return 0;
    if (!l->heap_n)
        return -1;
    uint64_t now = clock_ms();
    if (l->heap[0]->when <= now)
        return 0;
    uint64_t d = l->heap[0]->when - now;
    return d > 60000 ? 60000 : (int)d;
}

void loop_run(struct loop *l)
{
    struct epoll_event evs[LOOP_BATCH];
    while (!l->stop) {
        int n = epoll_wait(l->epfd, evs, LOOP_BATCH, next_timeout(l));
        if (n < 0) {
            if (errno != EINTR) {
                log_error("epoll_wait: %s", strerror(errno));
                abort();
            }
            n = 0;
        }
        l->now = clock_ms();
        for (int i = 0; i < n; i++) {
            struct loop_io *io = evs[i].data.ptr;
            if (!io->live)
                continue;
            unsigned ev = 0;
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP))
                ev |= LOOP_IN;
            if (evs[i].events & EPOLLOUT)
                ev |= LOOP_OUT;
            if (evs[i].events & (EPOLLERR | EPOLLHUP))
                ev |= LOOP_ERR | LOOP_IN;
            io->fn(l, io, ev);
        }
        run_timers(l);
        run_tasks(l);
        if (l->hook)
            l->hook(l, l->hook_arg);
    }
}
