/*
 * authlimit: slows down password guessing per IP address. Each failed
 * authentication from an address doubles the delay before its next failure
 * answer (starting at 250 ms, at most 10 s); an address with no failure for
 * 10 minutes starts over. The delay is served by pausing only the guessing
 * connection, so everyone else is unaffected. Shared by all workers.
 */
#ifndef TERN_XMPP_AUTHLIMIT_H
#define TERN_XMPP_AUTHLIMIT_H

#include <stdint.h>

struct authlimit;

/** Returns a new tracker. */
struct authlimit *authlimit_new(void);
/** Frees it. NULL-safe. */
void authlimit_free(struct authlimit *al);
/** Records a failure from ip ("a.b.c.d" or v6 text); returns the delay to apply, in ms. */
uint64_t authlimit_fail(struct authlimit *al, const char *ip, uint64_t now_ms);
/** Forgets ip after a successful login. */
void authlimit_ok(struct authlimit *al, const char *ip);

#endif
