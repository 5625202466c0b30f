/*
 * mailbox: a multi-producer single-consumer queue with an eventfd, the one
 * way work crosses threads (worker to worker, storage thread to worker).
 *
 * A message is any struct that embeds struct mail; the sender fills in fn
 * and posts it; the owner's loop sees the eventfd readable and drains the
 * mailbox, calling fn(m, ctx) for each message in the order posted (per
 * producer). Ownership of the message passes to the receiver with the post.
 * Posting is lock-free; draining takes the whole list at once.
 */
#ifndef TERN_CORE_MAILBOX_H
#define TERN_CORE_MAILBOX_H

#include <stddef.h>

struct mail;
/** Runs on the mailbox owner's thread; ctx is what the owner passed to drain. */
typedef void mail_fn(struct mail *m, void *ctx);

struct mail {
    struct mail *next;
    mail_fn *fn;
};

struct mailbox;

/** Returns a new empty mailbox (aborts if no eventfd can be had). */
struct mailbox *mailbox_new(void);
/** Frees the mailbox; messages still queued are dropped. NULL-safe. */
void mailbox_free(struct mailbox *mb);
/** Returns the eventfd that becomes readable when mail arrives. */
int mailbox_fd(const struct mailbox *mb);
/** Queues m (ownership passes on). Any thread. */
void mailbox_post(struct mailbox *mb, struct mail *m);
/** Owner thread: clears the eventfd and runs every queued message. Returns how many ran. */
size_t mailbox_drain(struct mailbox *mb, void *ctx);

#endif
