/*
 * sm: queues and counters for stream management and client state
 * indication (see sm.h). Pure bookkeeping: no sockets, no loop, no clock,
 * so every rule here has a unit test (tests/unit/test_sm.c).
 */
#include "xmpp/sm.h"
#include "core/alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- chunk FIFO -------------------------------------------------------------------------- */

void sm_queue_push(struct sm_queue *q, struct chunk *ch)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        struct chunk **v = xmalloc(cap * sizeof(*v));
        for (size_t i = 0; i < q->n; i++)
            v[i] = q->v[(q->head + i) % q->cap];
        free(q->v);
        q->v = v;
        q->cap = cap;
        q->head = 0;
    }
    q->v[(q->head + q->n) % q->cap] = chunk_ref(ch);
    q->n++;
}

struct chunk *sm_queue_pop(struct sm_queue *q)
{
    if (q->n == 0)
        return NULL;
    struct chunk *ch = q->v[q->head];
    q->head = (q->head + 1) % q->cap;
    if (--q->n == 0) {
        q->head = 0;
        if (q->cap > 64) { /* a burst is over: give the ring back */
            free(q->v);
            q->v = NULL;
            q->cap = 0;
        }
    }
    return ch;
}

struct chunk *sm_queue_at(const struct sm_queue *q, size_t i)
{
    return q->v[(q->head + i) % q->cap];
}

void sm_queue_remove(struct sm_queue *q, size_t i)
{
    chunk_unref(sm_queue_at(q, i));
    for (size_t j = i; j + 1 < q->n; j++)
        q->v[(q->head + j) % q->cap] = q->v[(q->head + j + 1) % q->cap];
    q->n--;
    if (q->n == 0)
        q->head = 0;
}

void sm_queue_fini(struct sm_queue *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n; i++)
        chunk_unref(sm_queue_at(q, i));
    free(q->v);
    memset(q, 0, sizeof(*q));
}

/* ---- counters ---------------------------------------------------------------------------- */

struct sm *sm_new(void)
{
    struct sm *m;
    XNEW(m);
    return m;
}

void sm_free(struct sm *m)
{
    if (!m)
        return;
    sm_queue_fini(&m->unacked);
    free(m->holds);
    free(m);
}

int sm_ack(struct sm *m, uint32_t h)
{
    uint32_t diff = h - m->out_acked; /* modulo 2^32 */
    if (diff > m->unacked.n)
        return -ERANGE;
    for (uint32_t i = 0; i < diff; i++)
        chunk_unref(sm_queue_pop(&m->unacked));
    m->out_acked = h;
    return (int)diff;
}

uint32_t sm_sent(const struct sm *m)
{
    return m->out_acked + (uint32_t)m->unacked.n;
}

uint64_t sm_count_in(struct sm *m)
{
    return ++m->in;
}

static struct sm_hold *hold_at(const struct sm *m, size_t i)
{
    return &m->holds[(m->holds_head + i) % m->holds_cap];
}

uint64_t sm_hold(struct sm *m)
{
    if (m->in == 0)
        return 0;
    if (m->holds_n == m->holds_cap) {
        size_t cap = m->holds_cap ? m->holds_cap * 2 : 8;
        struct sm_hold *v = xmalloc(cap * sizeof(*v));
        for (size_t i = 0; i < m->holds_n; i++)
            v[i] = *hold_at(m, i);
        free(m->holds);
        m->holds = v;
        m->holds_cap = cap;
        m->holds_head = 0;
    }
    struct sm_hold *h = &m->holds[(m->holds_head + m->holds_n) % m->holds_cap];
    h->ticket = m->in;
    h->done = false;
    m->holds_n++;
    return m->in;
}

bool sm_release(struct sm *m, uint64_t ticket)
{
    if (ticket == 0 || m->holds_n == 0)
        return false;
    /* usually the head: writes end in the order they were submitted */
    size_t i = 0;
    while (i < m->holds_n && (hold_at(m, i)->ticket != ticket || hold_at(m, i)->done))
        i++;
    if (i == m->holds_n)
        return false;
    hold_at(m, i)->done = true;
    if (i != 0)
        return false;
    uint64_t before = m->holds[m->holds_head].ticket;
    while (m->holds_n > 0 && hold_at(m, 0)->done) {
        m->holds_head = (m->holds_head + 1) % m->holds_cap;
        m->holds_n--;
    }
    if (m->holds_n == 0) {
        m->holds_head = 0;
        if (m->holds_cap > SM_HOLDS_SHRINK) {
            free(m->holds);
            m->holds = NULL;
            m->holds_cap = 0;
        }
        return true;
    }
    return hold_at(m, 0)->ticket != before;
}

uint64_t sm_durable(const struct sm *m)
{
    uint64_t v = m->in;
    if (m->holds_n > 0 && hold_at(m, 0)->ticket - 1 < v)
        v = hold_at(m, 0)->ticket - 1;
    return v;
}

uint32_t sm_ack_value(const struct sm *m)
{
    return (uint32_t)sm_durable(m); /* h is modulo 2^32 */
}

bool sm_all_durable(const struct sm *m)
{
    return m->holds_n == 0;
}

static void owed_pop(struct sm *m)
{
    memmove(m->owed, m->owed + 1, (m->owed_n - 1) * sizeof(m->owed[0]));
    m->owed_n--;
}

bool sm_request(struct sm *m)
{
    bool room = m->owed_n < SM_OWED_MAX;
    if (!room)
        owed_pop(m);
    m->owed[m->owed_n++] = m->in;
    return room;
}

bool sm_answer_due(struct sm *m)
{
    if (m->owed_n == 0 || sm_durable(m) < m->owed[0])
        return false;
    owed_pop(m);
    return true;
}

/* ---- client state indication ------------------------------------------------------------- */

static bool is_presence(const struct chunk *ch)
{
    return ch->len > 9 && memcmp(ch->data, "<presence", 9) == 0 &&
           (ch->data[9] == ' ' || ch->data[9] == '>' || ch->data[9] == '/');
}

int sm_chunk_from(const struct chunk *ch, const char **v)
{
    const char *end = memchr(ch->data, '>', ch->len);
    if (!end)
        return -1;
    size_t tag = (size_t)(end - ch->data);
    for (size_t i = 0; i + 7 <= tag; i++) {
        if (memcmp(ch->data + i, " from=", 6) != 0)
            continue;
        char quote = ch->data[i + 6];
        if (quote != '"' && quote != '\'')
            continue;
        const char *start = ch->data + i + 7;
        const char *close = memchr(start, quote, (size_t)(end - start));
        if (!close)
            return -1;
        *v = start;
        return (int)(close - start);
    }
    return -1;
}

bool sm_csi_hold(struct sm_queue *held, struct chunk *ch)
{
    const char *from;
    int len;
    if (is_presence(ch) && (len = sm_chunk_from(ch, &from)) >= 0) {
        for (size_t i = 0; i < held->n; i++) {
            struct chunk *old = sm_queue_at(held, i);
            const char *of;
            if (is_presence(old) && sm_chunk_from(old, &of) == len &&
                memcmp(of, from, (size_t)len) == 0) {
                sm_queue_remove(held, i);
                break; /* at most one is held per sender */
            }
        }
    }
    sm_queue_push(held, ch);
    return held->n > SM_CSI_MAX;
}
