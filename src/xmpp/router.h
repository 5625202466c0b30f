/*
 * router: decides where a stanza from a bound client goes (RFC 6120 §10,
 * RFC 6121 §8): to a module (IQs for the server or the sender's account), to
 * online sessions of a local user (serialized once into a refcounted chunk,
 * handed to other workers through their mailboxes), or back as an error.
 */
#ifndef TERN_XMPP_ROUTER_H
#define TERN_XMPP_ROUTER_H

#include "core/arena.h"
#include "core/chunk.h"
#include "xml/xml.h"
#include "xmpp/sessions.h"

struct c2s;
struct worker;

/*
 * Chunk tags (struct chunk.tag), set by whoever serializes a stanza for
 * delivery, read by the receiving session:
 * CHUNK_TAG_STORE  a message that belongs in offline storage if the
 *                  session ends without acknowledging it (XEP-0198);
 * CHUNK_TAG_LOW    may be held back while the client is inactive (XEP-0352):
 *                  presence, or a message carrying only a chat state.
 */
#define CHUNK_TAG_STORE 0x1u
#define CHUNK_TAG_LOW   0x2u

/** Routes st (its from already stamped by the session) sent by bound session s. */
void router_route(struct c2s *s, struct xml_node *st, struct arena *a);
/** Serializes st once (jabber:client) into a new chunk (tag 0), or NULL if it is too large. */
struct chunk *router_serialize(struct worker *w, const struct xml_node *st);
/** Answers st with a stanza error (never an error to an error). */
void router_error(struct c2s *s, struct xml_node *st, struct arena *a, const char *type,
                  const char *cond);
/** Queues chunk for the session at addr, on this worker or through another's mailbox. */
void router_deliver(struct worker *w, const struct sess_addr *addr, struct chunk *chunk);
/** Asks the worker holding addr to close that session with a <conflict/> stream error. */
void router_kick(struct worker *w, const struct sess_addr *addr);

#endif
