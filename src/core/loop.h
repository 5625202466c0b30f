/*
 * loop: one event loop per thread (epoll), with timers, deferred tasks and
 * a before-sleep hook — the shape of Redis' ae.
 *
 * One iteration, in order:
 *   1. epoll_wait (timeout: 0 if tasks are pending, else until the next timer)
 *   2. run the I/O callbacks of ready descriptors
 *   3. run expired timers
 *   4. run deferred tasks (closes and frees happen here, never inside the
 *      object's own I/O callback, so no later event in the same batch can
 *      touch freed memory)
 *   5. run the before-sleep hook (output flushing: one writev per connection)
 *
 * Everything here belongs to the loop's thread; other threads talk to it
 * only through a mailbox (core/mailbox.h) registered as an fd.
 */
#ifndef TERN_CORE_LOOP_H
#define TERN_CORE_LOOP_H

#include "core/list.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOOP_IN  0x1u
#define LOOP_OUT 0x4u /* EPOLLOUT */
#define LOOP_ERR 0x8u /* EPOLLERR / EPOLLHUP, always reported */

struct loop;
struct loop_io;
struct timer;
struct task;

/** I/O callback: events is a mask of LOOP_IN / LOOP_OUT / LOOP_ERR. */
typedef void loop_io_fn(struct loop *l, struct loop_io *io, unsigned events);
typedef void timer_fn(struct loop *l, struct timer *t);
typedef void task_fn(struct loop *l, struct task *t);
typedef void loop_hook_fn(struct loop *l, void *arg);

/** A registered descriptor; embed it in the object that owns the fd. */
struct loop_io {
    int fd;
    unsigned events; /* registered mask */
    loop_io_fn *fn;
    bool live; /* cleared by loop_io_del: late events for it are dropped */
};

/** A one-shot timer; embed it. Re-arm from its callback for periodic work. */
struct timer {
    uint64_t when; /* ms, clock_ms() time */
    size_t idx;    /* heap position + 1, 0 when not armed */
    timer_fn *fn;
};

/** A task run once at step 4 of the current (or next) iteration; embed it. */
struct task {
    struct list link;
    task_fn *fn;
};

/** Returns a new loop (aborts if epoll cannot be had). */
struct loop *loop_new(void);
/** Frees the loop. Registered objects are not touched. NULL-safe. */
void loop_free(struct loop *l);
/** Runs iterations until loop_stop. */
void loop_run(struct loop *l);
/** Makes loop_run return after the current iteration. Loop thread only. */
void loop_stop(struct loop *l);
/** Returns the time cached at the start of this iteration (ms, monotonic). */
uint64_t loop_now(const struct loop *l);
/** Sets the before-sleep hook (one per loop). */
void loop_set_hook(struct loop *l, loop_hook_fn *fn, void *arg);
/** Returns whether loop_stop was called. */
bool loop_stopping(const struct loop *l);

/** Registers fd for events with callback fn. Returns 0 or negative errno. */
int loop_io_add(struct loop *l, struct loop_io *io, int fd, unsigned events, loop_io_fn *fn);
/** Changes the event mask (no syscall if unchanged). Returns 0 or negative errno. */
int loop_io_mod(struct loop *l, struct loop_io *io, unsigned events);
/** Unregisters io (the fd is not closed). Safe inside callbacks. */
void loop_io_del(struct loop *l, struct loop_io *io);

/** Arms t to fire in ms milliseconds (re-arms if armed). */
void loop_timer_start(struct loop *l, struct timer *t, uint64_t ms, timer_fn *fn);
/** Disarms t if armed. */
void loop_timer_stop(struct loop *l, struct timer *t);
/** Returns whether t is armed. */
static inline bool timer_armed(const struct timer *t)
{
    return t->idx != 0;
}

/** Initializes a task so it can be scheduled (unlinked). */
void task_init(struct task *t, task_fn *fn);
/** Schedules t for step 4 (once, however often called before it runs). */
void loop_defer(struct loop *l, struct task *t);
/** Unschedules t if pending. */
void loop_undefer(struct task *t);

#endif
