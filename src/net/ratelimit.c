/*
 * ratelimit: the balance is kept in units of 1/period token, so refilling
 * elapsed ms adds exactly elapsed * rate units and a token costs period
 * units. Elapsed time is clamped to what fills the bucket, which also keeps
 * the products far from overflow for any rate and burst a config allows.
 */
#include "net/ratelimit.h"

void ratelimit_init(struct ratelimit *rl, uint64_t rate, uint64_t period_ms, uint64_t burst,
                    uint64_t now_ms)
{
    rl->rate = rate;
    rl->period = period_ms ? period_ms : 1;
    rl->burst = burst ? burst : 1;
    rl->units = (int64_t)(rl->burst * rl->period);
    rl->last = now_ms;
}

static void refill(struct ratelimit *rl, uint64_t now_ms)
{
    if (now_ms <= rl->last)
        return;
    int64_t full = (int64_t)(rl->burst * rl->period);
    uint64_t elapsed = now_ms - rl->last;
    rl->last = now_ms;
    /* enough time to go from the balance to full: no need to count further */
    uint64_t need = (uint64_t)(full - rl->units) / rl->rate + 1;
    if (elapsed >= need) {
        rl->units = full;
        return;
    }
    rl->units += (int64_t)(elapsed * rl->rate);
    if (rl->units > full)
        rl->units = full;
}

uint64_t ratelimit_charge(struct ratelimit *rl, uint64_t n, uint64_t now_ms)
{
    if (!rl->rate)
        return 0;
    refill(rl, now_ms);
    rl->units -= (int64_t)(n * rl->period);
    if (rl->units >= 0)
        return 0;
    return ((uint64_t)-rl->units + rl->rate - 1) / rl->rate;
}

bool ratelimit_take(struct ratelimit *rl, uint64_t n, uint64_t now_ms)
{
    if (!rl->rate)
        return true;
    refill(rl, now_ms);
    int64_t cost = (int64_t)(n * rl->period);
    if (rl->units < cost)
        return false;
    rl->units -= cost;
    return true;
}

bool ratelimit_full(struct ratelimit *rl, uint64_t now_ms)
{
    if (!rl->rate)
        return true;
    refill(rl, now_ms);
    return rl->units >= (int64_t)(rl->burst * rl->period);
}
