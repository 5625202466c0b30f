/*
 * iplimit: per-IP-address accounting shared by all workers, and the count of
 * connections that have not authenticated yet.
 *
 * Connections: at most `max_conns` open connections per address
 * (limits.max_conns_per_ip), and at most `conn_rate` new ones per minute per
 * address (limits.conn_rate_per_ip; a token bucket holding a minute's worth,
 * so a client that reconnects now and then never meets it).
 * Unauthenticated: at most `max_unauth` connections, from all addresses
 * together, between accept and successful authentication (limits.max_unauth),
 * so that a flood of idle handshakes cannot hold all memory and descriptors.
 * Authentication: each failure from an address doubles the delay before its
 * next failure answer (starting at 250 ms, at most 10 s); an address with no
 * failure for 10 minutes starts over. The delay is served by pausing only
 * the guessing connection, so everyone else is unaffected.
 *
 * Thread-safe: any worker may call any function.
 */
#ifndef TERN_XMPP_IPLIMIT_H
#define TERN_XMPP_IPLIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct iplimit;

/** Why a connection was refused (IPLIMIT_OK: it was not). */
enum iplimit_verdict { IPLIMIT_OK = 0, IPLIMIT_TOO_MANY, IPLIMIT_TOO_FAST };

/**
 * Returns a new tracker: max_conns connections per address, conn_rate new
 * connections per minute per address (0: no rate limit), max_unauth
 * unauthenticated connections in all (0: no cap).
 */
struct iplimit *iplimit_new(unsigned max_conns, unsigned conn_rate, unsigned max_unauth);
/** Frees it. NULL-safe. */
void iplimit_free(struct iplimit *il);
/** Counts a new connection from ip; returns false (and counts nothing) if it is refused. */
bool iplimit_conn_open(struct iplimit *il, const char *ip);
/** iplimit_conn_open with the time given (monotonic ms) and the reason for a refusal. */
enum iplimit_verdict iplimit_conn_open_at(struct iplimit *il, const char *ip, uint64_t now_ms);
/** A sentence for the log about a verdict ("too many connections from this address"). */
const char *iplimit_verdict_str(enum iplimit_verdict v);
/** Uncounts a connection counted by iplimit_conn_open. */
void iplimit_conn_close(struct iplimit *il, const char *ip);
/**
 * Counts a connection as unauthenticated; returns false (counting nothing)
 * when max_unauth are already. Call once per accepted connection; balance
 * each true with exactly one iplimit_unauth_leave (on authentication, or on
 * close for a connection that never authenticated).
 */
bool iplimit_unauth_enter(struct iplimit *il);
/** The connection authenticated or closed: it no longer counts as unauthenticated. */
void iplimit_unauth_leave(struct iplimit *il);
/** Returns how many connections count as unauthenticated now. */
unsigned iplimit_unauth_count(struct iplimit *il);
/** Records a failed authentication from ip; returns the delay to apply, in ms. */
uint64_t iplimit_auth_fail(struct iplimit *il, const char *ip, uint64_t now_ms);
/** Forgets ip's failures after a successful login. */
void iplimit_auth_ok(struct iplimit *il, const char *ip);

#endif
