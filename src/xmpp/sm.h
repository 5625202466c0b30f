/*
 * sm: the bookkeeping of stream management (XEP-0198) and client state
 * indication (XEP-0352) for one session, without any I/O: c2s.c owns the
 * protocol (what is sent when) and calls these.
 *
 * - The unacked queue holds every stanza sent to the client since <enable/>
 *   that it has not acknowledged, oldest first, as references to the same
 *   refcounted chunks the connection writes. Counts on the wire are 32-bit
 *   and wrap (XEP-0198 §4: h is modulo 2^32); the queue length is the truth.
 * - Inbound stanzas are counted from 1 (64-bit, never wraps in practice).
 *   A storage write for inbound stanza #t takes a hold with ticket t; the
 *   count the session may acknowledge is min(in, lowest ticket held - 1).
 *   Tickets are taken in increasing order, so the holds form a FIFO and the
 *   lowest is its head: O(1) per stanza, whatever order they end in.
 * - The CSI queue holds stanzas the client need not see while inactive. A
 *   presence replaces the earlier held presence of the same sender.
 */
#ifndef TERN_XMPP_SM_H
#define TERN_XMPP_SM_H

#include "core/chunk.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SM_NS           "urn:xmpp:sm:3"
#define SM_CSI_NS       "urn:xmpp:csi:0"
#define SM_ID_MAX       64  /* bytes of a resumption id, NUL included */
#define SM_CSI_MAX      100 /* stanzas held for an inactive client before all are flushed */
#define SM_HOLDS_SHRINK 64  /* hold ring capacity kept when it empties */
#define SM_OWED_MAX     8   /* <r/> waiting on storage before the oldest is answered anyway */

/** A FIFO of chunk references (a ring that grows). */
struct sm_queue {
    struct chunk **v;
    size_t head, n, cap;
};

/** Appends a new reference to ch. */
void sm_queue_push(struct sm_queue *q, struct chunk *ch);
/** Removes the oldest entry and returns its reference (the caller unrefs), or NULL. */
struct chunk *sm_queue_pop(struct sm_queue *q);
/** Returns the i-th oldest entry (borrowed), i < q->n. */
struct chunk *sm_queue_at(const struct sm_queue *q, size_t i);
/** Removes entry i, dropping its reference; later entries keep their order. */
void sm_queue_remove(struct sm_queue *q, size_t i);
/** Drops every reference and frees the ring. NULL-safe. */
void sm_queue_fini(struct sm_queue *q);

struct sm_hold {
    uint64_t ticket;
    bool done;
};

struct sm {
    bool resumable;
    char id[SM_ID_MAX]; /* resumption id, "" when not resumable */
    uint64_t in;        /* inbound stanzas counted since <enable/> */
    uint32_t out_acked; /* h of the client's last acknowledgement (mod 2^32) */
    struct sm_queue unacked;
    struct sm_hold *holds; /* ring of storage writes still out, by ticket */
    size_t holds_head, holds_n, holds_cap;
    uint32_t acked_sent;        /* h of the last <a/> sent */
    uint64_t owed[SM_OWED_MAX]; /* <r/> not answered yet: the inbound count each covers */
    unsigned owed_n;
    bool req_out;     /* our <r/> is waiting for the client's <a/> */
    size_t since_req; /* stanzas queued since our last <r/> */
};

/** Returns a new state with nothing counted. */
struct sm *sm_new(void);
/** Frees m and every reference it holds. NULL-safe. */
void sm_free(struct sm *m);
/** Records that the client handled h stanzas: drops acked ones. Returns how many, or -ERANGE
 *  when h counts more than were ever sent (nothing changes then). */
int sm_ack(struct sm *m, uint32_t h);
/** Returns the h of the last stanza sent (acked + queued, mod 2^32). */
uint32_t sm_sent(const struct sm *m);
/** Counts one inbound stanza; returns its ticket. */
uint64_t sm_count_in(struct sm *m);
/** Takes a hold on the inbound stanza counted last; returns its ticket (0 if none counted). */
uint64_t sm_hold(struct sm *m);
/** Releases a hold. Returns true if the acknowledgeable count moved. */
bool sm_release(struct sm *m, uint64_t ticket);
/** Returns how many inbound stanzas may be acknowledged: never past a held one. */
uint64_t sm_durable(const struct sm *m);
/** Returns the h the session may acknowledge (sm_durable modulo 2^32). */
uint32_t sm_ack_value(const struct sm *m);
/** Returns whether every inbound stanza counted may be acknowledged. */
bool sm_all_durable(const struct sm *m);
/**
 * Records a <r/> from the client: its <a/> is owed until every inbound
 * stanza before it is durable. Returns false when SM_OWED_MAX answers were
 * owed already: the oldest is then forgotten and must be answered now.
 */
bool sm_request(struct sm *m);
/** Returns true (and forgets it) when the oldest owed <a/> may go out now. */
bool sm_answer_due(struct sm *m);

/**
 * Holds ch (a new reference) for an inactive client. A presence replaces
 * the held presence from the same sender. Returns true when the queue is
 * past SM_CSI_MAX and should be flushed.
 */
bool sm_csi_hold(struct sm_queue *held, struct chunk *ch);
/**
 * Finds the value of the first start tag's `from` attribute in a serialized
 * stanza (as escaped by the serializer). Returns its length and sets *v, or
 * -1 when there is none.
 */
int sm_chunk_from(const struct chunk *ch, const char **v);

#endif
