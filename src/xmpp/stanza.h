/*
 * stanza: building replies and errors for stanzas (RFC 6120 §8.3).
 * Everything is allocated in the arena of the stanza being answered.
 */
#ifndef TERN_XMPP_STANZA_H
#define TERN_XMPP_STANZA_H

#include "core/arena.h"
#include "xml/xml.h"

#include <stdbool.h>

/** Returns whether st is a stanza (message, presence or iq in jabber:client). */
bool stanza_is(const struct xml_node *st);
/** Returns whether st is of type "error" (which is never answered with an error). */
bool stanza_is_error(const struct xml_node *st);
/**
 * Returns a new <iq type='result'/> answering iq: same id, to = iq's from,
 * from = iq's to (omitted if iq had none).
 */
struct xml_node *stanza_result(struct arena *a, const struct xml_node *iq);
/**
 * Returns the error reply to st: the same element with to/from swapped,
 * type='error', the original children kept, and
 * <error type='TYPE'><COND xmlns='...stanzas'/></error> appended.
 * type is "cancel", "modify", "auth", "wait" or "continue". st is reused
 * (changed in place) and returned.
 */
struct xml_node *stanza_error(struct arena *a, struct xml_node *st, const char *type,
                              const char *cond);

#endif
