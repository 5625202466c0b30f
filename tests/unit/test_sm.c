/* Unit tests for xmpp/sm: the unacked queue, h wrap-around, durable holds, CSI holding. */
#include "tap.h"
#include "xmpp/sm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct chunk *mk(const char *s)
{
    return chunk_new(s, strlen(s));
}

static void test_queue(void)
{
    struct sm_queue q = {0};
    struct chunk *c[20];
    for (int i = 0; i < 20; i++) {
        char b[32];
        snprintf(b, sizeof(b), "<message id=\"%d\"/>", i);
        c[i] = mk(b);
    }
    /* push/pop across the ring's wrap and growth keeps FIFO order */
    for (int i = 0; i < 5; i++)
        sm_queue_push(&q, c[i]);
    for (int i = 0; i < 3; i++) {
        struct chunk *ch = sm_queue_pop(&q);
        ok(ch == c[i], "pop %d in order", i);
        chunk_unref(ch);
    }
    for (int i = 5; i < 20; i++)
        sm_queue_push(&q, c[i]);
    is_int((int)q.n, 17, "17 queued");
    ok(sm_queue_at(&q, 0) == c[3] && sm_queue_at(&q, 16) == c[19], "at() after growth");
    sm_queue_remove(&q, 1); /* c[4] */
    ok(sm_queue_at(&q, 0) == c[3] && sm_queue_at(&q, 1) == c[5], "remove keeps order");
    is_int((int)q.n, 16, "16 after remove");
    /* the queue holds its own references */
    is_int((int)atomic_load(&c[10]->refs), 2, "queue holds a reference");
    sm_queue_fini(&q);
    is_int((int)atomic_load(&c[10]->refs), 1, "fini drops it");
    ok(sm_queue_pop(&q) == NULL, "empty pop is NULL");
    for (int i = 0; i < 20; i++)
        chunk_unref(c[i]);
}

static void push_n(struct sm *m, int n)
{
    for (int i = 0; i < n; i++) {
        struct chunk *ch = mk("<message/>");
        sm_queue_push(&m->unacked, ch);
        chunk_unref(ch);
    }
}

static void test_ack(void)
{
    struct sm *m = sm_new();
    push_n(m, 5);
    is_int((int)sm_sent(m), 5, "5 sent");
    is_int(sm_ack(m, 2), 2, "ack 2");
    is_int((int)m->unacked.n, 3, "3 left");
    is_int(sm_ack(m, 2), 0, "same h again acks nothing");
    is_int(sm_ack(m, 6), -ERANGE, "h past what was sent is refused");
    is_int((int)m->unacked.n, 3, "refusal changes nothing");
    is_int(sm_ack(m, 1), -ERANGE, "h going back is refused");
    is_int(sm_ack(m, 5), 3, "ack all");
    is_int((int)m->unacked.n, 0, "none left");
    sm_free(m);

    /* h is modulo 2^32 (XEP-0198 §4) */
    m = sm_new();
    m->out_acked = UINT32_MAX - 2;
    push_n(m, 6);
    is_int((int)sm_sent(m), 3, "sent count wraps");
    is_int(sm_ack(m, UINT32_MAX), 2, "ack below the wrap");
    is_int(sm_ack(m, 1), 2, "ack across the wrap");
    is_int((int)m->unacked.n, 2, "2 left after the wrap");
    is_int(sm_ack(m, 4), -ERANGE, "too high after the wrap");
    is_int(sm_ack(m, 3), 2, "ack the rest");
    sm_free(m);
}

static void test_holds(void)
{
    struct sm *m = sm_new();
    is_int((int)sm_hold(m), 0, "nothing counted: no ticket");
    for (int i = 0; i < 3; i++)
        sm_count_in(m);
    is_int((int)sm_ack_value(m), 3, "no hold: everything acked");
    ok(sm_all_durable(m), "all durable");
    uint64_t t3 = sm_hold(m);
    is_int((int)t3, 3, "ticket is the stanza's number");
    sm_count_in(m);
    sm_count_in(m);
    uint64_t t5 = sm_hold(m);
    uint64_t t5b = sm_hold(m); /* two writes for one stanza (offline and archive) */
    sm_count_in(m);
    is_int((int)sm_ack_value(m), 2, "ack stops before the first held stanza");
    is_int((int)sm_durable(m), 2, "durable count agrees");
    ok(!sm_release(m, t5), "releasing a later hold does not move the ack");
    is_int((int)sm_ack_value(m), 2, "still 2");
    ok(sm_release(m, t3), "releasing the first moves it");
    is_int((int)sm_ack_value(m), 4, "now up to the other write of stanza 5");
    ok(!sm_release(m, 99), "unknown ticket");
    ok(sm_release(m, t5b), "last hold released");
    is_int((int)sm_ack_value(m), 6, "everything acked");
    ok(sm_all_durable(m), "all durable again");
    ok(!sm_release(m, t5), "a ticket is released once");
    ok(!sm_release(m, 0), "ticket 0 is no hold");

    /* many holds, released in order, keep O(1) per stanza and the ring shrinks */
    for (int i = 0; i < 1000; i++) {
        sm_count_in(m);
        sm_hold(m);
    }
    is_int((int)sm_ack_value(m), 6, "1000 held");
    for (uint64_t t = 7; t <= 1006; t++)
        sm_release(m, t);
    is_int((int)sm_ack_value(m), 1006, "all released");
    ok(m->holds_cap <= SM_HOLDS_SHRINK, "ring given back");

    /* the acknowledged value wraps like h */
    m->in = (uint64_t)UINT32_MAX + 5;
    is_int((int)sm_ack_value(m), 4, "ack value is modulo 2^32");
    sm_free(m);
}

static void test_owed(void)
{
    struct sm *m = sm_new();
    sm_count_in(m);
    ok(sm_request(m), "a request with room");
    ok(sm_answer_due(m), "nothing held: due at once");
    ok(!sm_answer_due(m), "answered once");
    uint64_t t2 = (sm_count_in(m), sm_hold(m)); /* stanza 2 is being stored */
    sm_request(m);                              /* covers 2 */
    sm_count_in(m);
    uint64_t t3 = sm_hold(m);
    sm_request(m); /* covers 3 */
    ok(!sm_answer_due(m), "held: not due");
    sm_release(m, t2);
    ok(sm_answer_due(m), "first due once stanza 2 is stored");
    ok(!sm_answer_due(m), "second still waits for stanza 3");
    sm_release(m, t3);
    ok(sm_answer_due(m), "second due");
    ok(!sm_answer_due(m), "none owed");
    sm_count_in(m);
    uint64_t t4 = sm_hold(m);
    for (int i = 0; i < SM_OWED_MAX; i++)
        ok(sm_request(m), "room for request %d", i);
    ok(!sm_request(m), "full: the oldest must be answered now");
    is_int((int)m->owed_n, SM_OWED_MAX, "still at most SM_OWED_MAX owed");
    sm_release(m, t4);
    int due = 0;
    while (sm_answer_due(m))
        due++;
    is_int(due, SM_OWED_MAX, "all the rest due after the release");
    sm_free(m);
}

static void test_from(void)
{
    struct chunk *ch = mk("<presence from=\"a@x/r\" to=\"b@x\"><show>away</show></presence>");
    const char *v;
    int n = sm_chunk_from(ch, &v);
    ok(n == 5 && memcmp(v, "a@x/r", 5) == 0, "from of a presence");
    chunk_unref(ch);
    ch = mk("<message to=\"b@x\"><body>from=\"x\"</body></message>");
    is_int(sm_chunk_from(ch, &v), -1, "only the start tag counts");
    chunk_unref(ch);
    ch = mk("<presence xfrom=\"a\"/>");
    is_int(sm_chunk_from(ch, &v), -1, "attribute name must match exactly");
    chunk_unref(ch);
}

static void test_csi(void)
{
    struct sm_queue held = {0};
    struct chunk *p1 = mk("<presence from=\"a@x/r\"/>");
    struct chunk *p2 = mk("<presence from=\"b@x/r\"/>");
    struct chunk *p3 = mk("<presence from=\"a@x/r\" type=\"unavailable\"/>");
    struct chunk *cs = mk("<message from=\"a@x/r\"><active/></message>");
    ok(!sm_csi_hold(&held, p1), "hold p1");
    ok(!sm_csi_hold(&held, p2), "hold p2");
    ok(!sm_csi_hold(&held, cs), "hold a chat state");
    ok(!sm_csi_hold(&held, p3), "hold p3");
    is_int((int)held.n, 3, "p3 replaced p1");
    ok(sm_queue_at(&held, 0) == p2 && sm_queue_at(&held, 1) == cs && sm_queue_at(&held, 2) == p3,
       "order: p2, chat state, p3");
    ok(!sm_csi_hold(&held, cs), "messages are not merged");
    is_int((int)held.n, 4, "4 held");
    bool over = false;
    for (int i = 0; i < SM_CSI_MAX && !over; i++)
        over = sm_csi_hold(&held, cs);
    ok(over, "past SM_CSI_MAX asks for a flush");
    sm_queue_fini(&held);
    chunk_unref(p1);
    chunk_unref(p2);
    chunk_unref(p3);
    chunk_unref(cs);
}

int main(void)
{
    test_queue();
    test_ack();
    test_holds();
    test_owed();
    test_from();
    test_csi();
    return tap_done();
}
