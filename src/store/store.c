/*
 * store: the storage thread, the asynchronous half of store.h.
 *
 * Workers submit requests; one thread owns the database and runs them.
 * Each time it wakes it takes everything queued (group commit) and runs it
 * as one transaction, so a burst of N writes costs one fsync instead of N:
 *
 *   BEGIN IMMEDIATE
 *     SAVEPOINT req; op 1; [ROLLBACK TO req if it failed]; RELEASE req
 *     SAVEPOINT req; op 2; ...
 *   COMMIT                      -> statuses stand
 *   (any of the above failed)   -> ROLLBACK, every request gets -EIO
 *   then, per request in order: after(r), mailbox_post(r->reply, r)
 *
 * A request's status is never reported before the COMMIT that made it
 * durable returned, which is what lets a worker ack a stored message. The
 * savepoint makes a failing request (a duplicate account) undo only its own
 * changes. If SQLite has rolled the whole transaction back by itself (disk
 * full, I/O error) the ROLLBACK TO fails and the batch fails as a whole.
 *
 * The queue is a mutex + condition variable with an intrusive FIFO linked
 * through req->mail.next, not a core mailbox: a mailbox's drain calls each
 * message's fn, and a request's fn is the requester's completion, which
 * must run on the requester's thread. The storage thread has nothing else
 * to wait for, so an eventfd and poll(2) would buy nothing, and the same
 * lock makes "stop accepting" exact: after store_stop sets the flag under
 * the lock, nothing more can be queued, so the thread can drain and exit.
 */
#include "store/store.h"
#include "core/alloc.h"
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct store {
    struct store_db *db; /* touched only by the storage thread once it runs */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    /* under lock: */
    struct mail *head, *tail; /* FIFO of queued requests, through mail.next */
    bool stopping;
};

static struct store_req *req_of(struct mail *m)
{
    return (struct store_req *)((char *)m - offsetof(struct store_req, mail));
}

static int run_op(struct store_db *db, struct store_req *r)
{
    switch (r->op) {
    case STORE_ACCOUNT_GET:
        return store_account_get(db, r->u.account.user, &r->u.account.account);
    case STORE_ACCOUNT_ADD:
        return store_account_add(db, &r->u.account.account);
    case STORE_ACCOUNT_UPDATE:
        return store_account_update(db, &r->u.account.account);
    case STORE_ACCOUNT_DEL:
        return store_account_del(db, r->u.account.user);
    case STORE_RUN:
        return r->run ? r->run(db, r) : -EINVAL;
    }
    return -EINVAL;
}

/* Runs one batch as one transaction; returns false if it had to be rolled back. */
static bool run_batch(struct store_db *db, struct mail *list)
{
    if (store_db_begin(db) != 0)
        return false;
    for (struct mail *m = list; m; m = m->next) {
        struct store_req *r = req_of(m);
        if (store_db_savepoint(db) != 0)
            goto fail;
        r->status = run_op(db, r);
        if (r->status != 0 && store_db_rollback_to(db) != 0)
            goto fail;
        if (store_db_release(db) != 0)
            goto fail;
    }
    if (store_db_commit(db) != 0)
        goto fail;
    return true;
fail:
    store_db_rollback(db);
    return false;
}

static void complete(struct mail *list, bool committed)
{
    size_t n = 0;
    for (struct mail *m = list; m; n++) {
        struct mail *next = m->next; /* the post below hands m (and its next) over */
        struct store_req *r = req_of(m);
        if (!committed)
            r->status = -EIO;
        if (r->after)
            r->after(r);
        mailbox_post(r->reply, &r->mail);
        m = next;
    }
    if (!committed)
        log_error("store: a batch of %zu requests was rolled back; all failed", n);
}

static void *store_main(void *arg)
{
    struct store *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->head && !s->stopping)
            pthread_cond_wait(&s->wake, &s->lock);
        struct mail *list = s->head;
        s->head = s->tail = NULL;
        pthread_mutex_unlock(&s->lock);
        /* stopping is only checked with an empty queue: queued work is finished first */
        if (!list)
            break;
        complete(list, run_batch(s->db, list));
    }
    return NULL;
}

struct store *store_start(const char *path)
{
    struct store *s;
    XNEW(s);
    if (store_db_open(path, &s->db) != 0) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);

    /* signals belong to the main thread's loop; the new thread inherits this mask */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&s->thread, NULL, store_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_error("store: cannot start the storage thread: %s", strerror(rc));
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        store_db_close(s->db);
        free(s);
        return NULL;
    }
    pthread_setname_np(s->thread, "tern-store");
    return s;
}

void store_submit(struct store *s, struct store_req *r)
{
    r->mail.next = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        pthread_mutex_unlock(&s->lock);
        r->status = -ESHUTDOWN;
        mailbox_post(r->reply, &r->mail);
        return;
    }
    bool was_empty = !s->head;
    if (s->tail)
        s->tail->next = &r->mail;
    else
        s->head = &r->mail;
    s->tail = &r->mail;
    /* the thread waits only when the queue is empty, so only that transition needs a wake */
    if (was_empty)
        pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

void store_stop(struct store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    store_db_close(s->db);
    free(s);
}
