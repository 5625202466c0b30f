/*
 * sessions: the registry of bound resources, shared by all workers.
 *
 * It maps a bare JID to its online resources and, for each, where the
 * session lives (worker, connection id), its presence priority and its last
 * available presence (serialized, for answering probes and new subscribers
 * without asking the session's worker). It is
 * written at bind/unbind/presence and read on every routed stanza, so it is
 * sharded by bare JID with one mutex per shard and every call copies out
 * what it returns; no pointer into it ever escapes a lock.
 *
 * This is the one shared structure besides mailboxes and the storage queue
 * (doc/design.md): a session's object stays on its worker; only its address
 * (worker, conn id) is shared here.
 */
#ifndef TERN_XMPP_SESSIONS_H
#define TERN_XMPP_SESSIONS_H

#include "core/chunk.h"
#include "xmpp/jid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Where a bound resource lives. */
struct sess_addr {
    unsigned worker;
    uint64_t conn_id;
    int priority;   /* from the last available presence */
    bool available; /* has sent available presence */
    uint32_t flags; /* SESS_F_*: what the session asked for */
    char resource[JID_PART_MAX + 1];
};

/* flags, each set by the module named */
#define SESS_F_ROSTER   0x01u /* requested the roster: gets roster pushes (roster) */
#define SESS_F_CARBONS  0x02u /* enabled message carbons (carbons) */
#define SESS_F_INACTIVE 0x04u /* client state indication: inactive (csi) */

#define SESS_MAX_RESOURCES 64 /* per account; binding more fails with resource-constraint */

struct sessions;

/** Returns a new empty registry. */
struct sessions *sessions_new(void);
/** Frees it. NULL-safe. */
void sessions_free(struct sessions *s);
/**
 * Binds jid (full) to addr. If that full JID was bound, the old address is
 * replaced and copied to *old and 1 is returned (the caller kicks it with a
 * <conflict/> stream error). Returns 0 if new, or -ENOSPC when the account
 * has SESS_MAX_RESOURCES resources already.
 */
int sessions_bind(struct sessions *s, const struct jid *jid, const struct sess_addr *addr,
                  struct sess_addr *old);
/** Removes jid's binding if it still belongs to conn_id. */
void sessions_unbind(struct sessions *s, const struct jid *jid, uint64_t conn_id);
/** Records presence for jid's binding (if it belongs to conn_id). */
void sessions_set_presence(struct sessions *s, const struct jid *jid, uint64_t conn_id,
                           bool available, int priority);
/** Sets the bits of mask in jid's binding flags to value's (if it belongs to conn_id). */
void sessions_set_flags(struct sessions *s, const struct jid *jid, uint64_t conn_id, uint32_t mask,
                        uint32_t value);
/** Looks up a full JID. Returns true and fills *out if bound. */
bool sessions_get(struct sessions *s, const struct jid *jid, struct sess_addr *out);
/** Copies up to max bindings of jid's bare JID into out; returns how many there are in total. */
size_t sessions_list(struct sessions *s, const struct jid *jid, struct sess_addr *out, size_t max);

/**
 * Records the last available presence of jid's binding (if it belongs to
 * conn_id): presence is a serialized <presence/> without a 'to' attribute;
 * the registry takes its own reference. NULL forgets it (unavailable).
 */
void sessions_set_last(struct sessions *s, const struct jid *jid, uint64_t conn_id,
                       struct chunk *presence);

/** A bound, available resource and its last presence (a reference the caller drops). */
struct sess_presence {
    struct sess_addr addr;
    struct chunk *presence;
};

/**
 * Copies up to max of the available resources of jid's bare JID that have a
 * recorded presence into out, each with a new reference to that presence
 * (chunk_unref each). Returns how many there are in total.
 */
size_t sessions_presences(struct sessions *s, const struct jid *jid, struct sess_presence *out,
                          size_t max);

#endif
