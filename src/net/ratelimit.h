/*
 * ratelimit: a token bucket, for rates a peer controls (bytes read per
 * connection, stanzas per session, new connections per address).
 *
 * The bucket holds up to `burst` tokens and refills at `rate` tokens per
 * `period` ms, evenly (not in steps). Two ways to spend:
 *
 *   ratelimit_charge  always takes (the balance may go into debt) and says
 *                     how long to wait until the debt is paid: for work that
 *                     already happened, where the answer is to stop reading
 *                     for a while (slow down, never buffer or drop).
 *   ratelimit_take    takes only if the tokens are there: for something that
 *                     can still be refused (a new connection).
 *
 * Integer arithmetic only, in units of 1/period token, so no rounding drift.
 * Time is passed in (monotonic ms) so that tests control it. Not locked: one
 * owner thread, or the caller's lock.
 */
#ifndef TERN_NET_RATELIMIT_H
#define TERN_NET_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
    int64_t units;   /* balance in 1/period tokens; negative is debt */
    uint64_t last;   /* ms of the last refill */
    uint64_t rate;   /* tokens per period; 0: unlimited */
    uint64_t period; /* ms */
    uint64_t burst;  /* tokens the bucket holds */
};

/**
 * Sets rl up full: rate tokens per period_ms (rate 0: no limit), at most
 * burst tokens (at least 1 is kept). period_ms must be > 0.
 */
void ratelimit_init(struct ratelimit *rl, uint64_t rate, uint64_t period_ms, uint64_t burst,
                    uint64_t now_ms);
/**
 * Spends n tokens, into debt if need be. Returns 0 when the balance is not
 * negative afterwards, else the ms until it is back at zero.
 */
uint64_t ratelimit_charge(struct ratelimit *rl, uint64_t n, uint64_t now_ms);
/** Spends n tokens if the balance holds them; returns whether it did. */
bool ratelimit_take(struct ratelimit *rl, uint64_t n, uint64_t now_ms);
/** Returns whether the bucket is full at now_ms (a caller may then forget it). */
bool ratelimit_full(struct ratelimit *rl, uint64_t now_ms);

#endif
