/* Unit tests for core/mailbox (threads, order, wake-ups), core/map and core/loop timers. */
#include "core/loop.h"
#include "core/mailbox.h"
#include "core/map.h"
#include "tap.h"

#include <poll.h>
#include <pthread.h>
#include <stdlib.h>

#define PRODUCERS    4
#define PER_PRODUCER 20000

struct msg {
    struct mail mail;
    int producer;
    int seq;
};

struct tally {
    int next[PRODUCERS]; /* next sequence number expected per producer */
    int received;
    int out_of_order;
};

static void on_msg(struct mail *m, void *ctx)
{
    struct msg *msg = (struct msg *)m;
    struct tally *t = ctx;
    if (msg->seq != t->next[msg->producer])
        t->out_of_order++;
    t->next[msg->producer] = msg->seq + 1;
    t->received++;
    free(msg);
}

struct producer {
    struct mailbox *mb;
    int id;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        struct msg *m = malloc(sizeof(*m));
        m->mail.fn = on_msg;
        m->producer = p->id;
        m->seq = i;
        mailbox_post(p->mb, &m->mail);
    }
    return NULL;
}

static void test_mailbox(void)
{
    struct mailbox *mb = mailbox_new();
    struct tally t = {0};
    is_int(mailbox_drain(mb, &t), 0, "an empty mailbox runs nothing");
    struct pollfd pfd = {.fd = mailbox_fd(mb), .events = POLLIN};
    is_int(poll(&pfd, 1, 0), 0, "eventfd not readable while empty");

    pthread_t th[PRODUCERS];
    struct producer p[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        p[i].mb = mb;
        p[i].id = i;
        pthread_create(&th[i], NULL, produce, &p[i]);
    }
    int wakeups = 0;
    while (t.received < PRODUCERS * PER_PRODUCER) {
        if (poll(&pfd, 1, 2000) <= 0)
            break; /* a lost wake-up: the check below fails */
        wakeups++;
        mailbox_drain(mb, &t);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    mailbox_drain(mb, &t);
    is_int(t.received, PRODUCERS * PER_PRODUCER, "every message arrives exactly once");
    is_int(t.out_of_order, 0, "each producer's messages arrive in posting order");
    ok(wakeups > 0, "the eventfd woke the consumer (%d wake-ups)", wakeups);
    is_int(poll(&pfd, 1, 0), 0, "eventfd cleared after the last drain");
    mailbox_free(mb);
    mailbox_free(NULL);
}

static void test_map(void)
{
    struct map m;
    map_init(&m);
    ok(map_get(&m, "x", 1) == NULL, "empty map finds nothing");
    static int vals[5000];
    char key[32];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof(key), "user%d@example.org", i);
        map_put(&m, key, (size_t)n, &vals[i]);
    }
    is_int(m.n, 5000, "5000 entries");
    int wrong = 0;
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof(key), "user%d@example.org", i);
        wrong += map_get(&m, key, (size_t)n) != &vals[i];
    }
    is_int(wrong, 0, "every key finds its value");
    for (int i = 0; i < 5000; i += 2) {
        int n = snprintf(key, sizeof(key), "user%d@example.org", i);
        map_del(&m, key, (size_t)n);
    }
    is_int(m.n, 2500, "half deleted");
    ok(map_get(&m, "user0@example.org", 17) == NULL, "a deleted key is gone");
    ok(map_get(&m, "user1@example.org", 17) == &vals[1], "a kept key survives tombstones");
    ok(map_put(&m, "user1@example.org", 17, &vals[2]) == &vals[1], "put returns the old value");
    map_fini(&m);
}

static void on_timer(struct loop *l, struct timer *t)
{
    (void)l;
    (void)t;
}

struct order_ctx {
    struct timer t;
    int id;
};

static int order[4], n_order;

static void on_order(struct loop *l, struct timer *t)
{
    struct order_ctx *c = (struct order_ctx *)t;
    order[n_order++] = c->id;
    if (n_order == 3)
        loop_stop(l);
}

static void test_timers(void)
{
    struct loop *l = loop_new();
    struct order_ctx c[4];
    unsigned delays[4] = {30, 10, 20, 15};
    for (int i = 0; i < 4; i++) {
        c[i].t.idx = 0;
        c[i].id = i;
        loop_timer_start(l, &c[i].t, delays[i], on_order);
    }
    loop_timer_stop(l, &c[3].t);
    ok(!timer_armed(&c[3].t), "a stopped timer is disarmed");
    loop_run(l);
    is_int(n_order, 3, "three timers fired, the stopped one did not");
    ok(order[0] == 1 && order[1] == 2 && order[2] == 0, "timers fire in deadline order");
    struct timer t = {0};
    loop_timer_start(l, &t, 1000, on_timer);
    loop_timer_start(l, &t, 1000, on_timer);
    ok(timer_armed(&t), "re-arming keeps one entry");
    loop_timer_stop(l, &t);
    loop_free(l);
}

int main(void)
{
    test_mailbox();
    test_map();
    test_timers();
    return tap_done();
}
