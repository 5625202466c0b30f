/*
 * iplimit: per-IP-address accounting shared by all workers.
 *
 * Connections: at most `max` open connections per address (limits.max_conns_per_ip).
 * Authentication: each failure from an address doubles the delay before its
 * next failure answer (starting at 250 ms, at most 10 s); an address with no
 * failure for 10 minutes starts over. The delay is served by pausing only
 * the guessing connection, so everyone else is unaffected.
 */
#ifndef TERN_XMPP_IPLIMIT_H
#define TERN_XMPP_IPLIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct iplimit;

/** Returns a new tracker allowing max_conns connections per address. */
struct iplimit *iplimit_new(unsigned max_conns);
/** Frees it. NULL-safe. */
void iplimit_free(struct iplimit *il);
/** Counts a new connection from ip; returns false (and counts nothing) if ip is at its cap. */
bool iplimit_conn_open(struct iplimit *il, const char *ip);
/** Uncounts a connection counted by iplimit_conn_open. */
void iplimit_conn_close(struct iplimit *il, const char *ip);
/** Records a failed authentication from ip; returns the delay to apply, in ms. */
uint64_t iplimit_auth_fail(struct iplimit *il, const char *ip, uint64_t now_ms);
/** Forgets ip's failures after a successful login. */
void iplimit_auth_ok(struct iplimit *il, const char *ip);

#endif
