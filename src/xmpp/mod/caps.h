/*
 * caps: Entity Capabilities (XEP-0115). A client announces what it can do
 * as a hash (<c hash='sha-1' node='...' ver='...'/> in its presence) of its
 * disco#info; the server asks the client for that disco#info once, checks
 * that it hashes to ver (§5.1 verification string, §5.4 processing), and
 * then knows every other client announcing the same ver without asking.
 *
 * The cache is shared by all workers (one mutex; values are copied out, so
 * no pointer into it escapes the lock). It keeps at most CAPS_CACHE_MAX
 * verified entries; when full it starts over, which costs only queries.
 * What is cached per ver is whatever the caller derives from the disco#info
 * (PEP keeps the list of +notify nodes), as an opaque byte string.
 */
#ifndef TERN_XMPP_MOD_CAPS_H
#define TERN_XMPP_MOD_CAPS_H

#include "xml/xml.h"

#include <stdbool.h>
#include <stddef.h>

#define CAPS_NS        "http://jabber.org/protocol/caps"
#define CAPS_CACHE_MAX 1024 /* verified vers kept */
#define CAPS_VER_MAX   128  /* bytes of a ver we accept (base64 of SHA-512 is 88) */

/**
 * Computes the XEP-0115 ver of a disco#info <query/> with the named hash
 * ("sha-1", "sha-224", "sha-256", "sha-384", "sha-512"), base64, into out
 * (NUL-terminated). Per §5.4 a query with two equal identities, two equal
 * features, or two extended forms of one FORM_TYPE is unusable; forms
 * without a FORM_TYPE are left out. Returns the length, -ENOTSUP for
 * another hash, -EINVAL for an unusable query, or -ENOBUFS if cap is short.
 */
int caps_ver(const struct xml_node *query, const char *hash, char *out, size_t cap);

/** Whether caps_ver knows the hash named (and so a ver made with it can be checked). */
bool caps_hash_known(const char *hash);

/**
 * Looks up hash+ver. On a hit returns true and *val gets a new heap copy of
 * the value (caller frees; NUL-terminated, *len bytes before the NUL).
 * Any thread.
 */
bool caps_cache_get(const char *hash, const char *ver, char **val, size_t *len);
/** Stores (replacing) the value for hash+ver (copied). Any thread. */
void caps_cache_put(const char *hash, const char *ver, const char *val, size_t len);
/** Empties the cache (frees everything). Any thread. */
void caps_cache_clear(void);

#endif
