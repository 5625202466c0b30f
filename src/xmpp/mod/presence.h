/*
 * presence: delivery primitives of the presence module that the roster
 * module uses for the effects of subscription changes. All run on the
 * calling worker and read the session registry; none blocks.
 */
#ifndef TERN_XMPP_MOD_PRESENCE_H
#define TERN_XMPP_MOD_PRESENCE_H

#include "core/chunk.h"
#include "xmpp/jid.h"

#include <stdbool.h>

struct worker;

/**
 * Returns a new chunk holding presence p (serialized without a 'to'
 * attribute, as the registry keeps it) addressed to to, with p's tag.
 */
struct chunk *presence_to(struct worker *w, const struct chunk *p, const char *to);

/**
 * Queues ch (borrowed) on every available resource of to's account, unless
 * that account blocks from (XEP-0191). Returns how many resources got it.
 */
size_t presence_deliver(struct worker *w, const struct jid *from, const struct jid *to,
                        struct chunk *ch);

/**
 * Shares the presence of from's account with to's account (both bare,
 * local): when available, the last presence of each of from's available
 * resources goes to to's available resources; otherwise each of them sends
 * unavailable presence instead (the flow of presence stopped).
 */
void presence_share(struct worker *w, const struct jid *from, const struct jid *to, bool available);

#endif
