/* Unit tests for net/ratelimit: bursts, steady refill, debt and its delay, exact arithmetic. */
#include "net/ratelimit.h"
#include "tap.h"

static void test_burst_then_rate(void)
{
    struct ratelimit rl;
    ratelimit_init(&rl, 10, 1000, 20, 5000); /* 10 per second, 20 at once */
    int taken = 0;
    while (ratelimit_take(&rl, 1, 5000))
        taken++;
    is_int(taken, 20, "a full bucket gives its burst at once");
    ok(!ratelimit_take(&rl, 1, 5099), "nothing after 99 ms at 10/s");
    ok(ratelimit_take(&rl, 1, 5100), "one token after 100 ms");
    ok(!ratelimit_take(&rl, 1, 5100), "and only one");
    taken = 0;
    for (uint64_t t = 5100; t < 15100; t += 10)
        taken += ratelimit_take(&rl, 1, t);
    is_int(taken, 99, "steady state: 10/s for 10 s (the first token of the run was gone)");
    ok(!ratelimit_full(&rl, 15100), "an emptied bucket is not full");
    ok(ratelimit_full(&rl, 15100 + 2000), "full again after burst / rate seconds");
    taken = 0;
    while (ratelimit_take(&rl, 1, 100000))
        taken++;
    is_int(taken, 20, "a long pause refills only up to the burst");
}

static void test_charge(void)
{
    struct ratelimit rl;
    ratelimit_init(&rl, 1000, 1000, 4000, 0); /* bytes: 1000/s, 4000 burst */
    is_int(ratelimit_charge(&rl, 4000, 0), 0, "within the burst: no wait");
    is_int(ratelimit_charge(&rl, 500, 0), 500, "500 bytes of debt at 1000/s: 500 ms");
    is_int(ratelimit_charge(&rl, 1, 500), 1, "debt paid at 500 ms; one more byte: 1 ms");
    is_int(ratelimit_charge(&rl, 0, 501), 0, "paid again at 501 ms");
    is_int(ratelimit_charge(&rl, 16384, 501), 16384, "a big read waits its length / rate");
    ok(!ratelimit_take(&rl, 1, 10000), "take refuses while in debt");
    ok(ratelimit_take(&rl, 1, 16885 + 1), "and allows once the debt is paid and a token is in");
    /* rounding: 3 tokens per 1000 ms, a debt of one token waits 334 ms, not 333 */
    ratelimit_init(&rl, 3, 1000, 1, 0);
    is_int(ratelimit_charge(&rl, 2, 0), 334, "delays round up");
    is_int(ratelimit_charge(&rl, 0, 333), 1, "not paid at 333 ms");
    is_int(ratelimit_charge(&rl, 0, 334), 0, "paid at 334 ms");
}

static void test_per_minute(void)
{
    struct ratelimit rl;
    ratelimit_init(&rl, 120, 60000, 120, 1000); /* 120 per minute */
    int taken = 0;
    while (ratelimit_take(&rl, 1, 1000))
        taken++;
    is_int(taken, 120, "120 at once");
    ok(!ratelimit_take(&rl, 1, 1499), "none within 499 ms");
    ok(ratelimit_take(&rl, 1, 1500), "one every 500 ms");
}

static void test_unlimited_and_clock(void)
{
    struct ratelimit rl;
    ratelimit_init(&rl, 0, 1000, 0, 0);
    is_int(ratelimit_charge(&rl, 1000000000, 0), 0, "rate 0: unlimited charge");
    ok(ratelimit_take(&rl, 1000000000, 0), "rate 0: unlimited take");
    ok(ratelimit_full(&rl, 0), "rate 0: always full");
    ratelimit_init(&rl, 1, 1000, 0, 100);
    ok(ratelimit_take(&rl, 1, 100), "burst 0 holds one token");
    ok(!ratelimit_take(&rl, 1, 50), "time going backwards adds nothing");
    ratelimit_init(&rl, 1000000, 1000, 1000000, 0);
    ratelimit_charge(&rl, 1000000, 0);
    ok(ratelimit_full(&rl, UINT64_MAX / 2), "a huge gap does not overflow");
}

int main(void)
{
    test_burst_then_rate();
    test_charge();
    test_per_minute();
    test_unlimited_and_clock();
    return tap_done();
}
