/*
 * test_hist: the latency histogram of tern-bench (tools/bench/hist.c):
 * bucket layout, precision bounds, quantiles against a sorted reference,
 * merge.
 */
#include "../../tools/bench/hist.h"
#include "tap.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

static struct hist h1, h2, h3;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The exact ceil(q*n)-th smallest value of a sorted array. */
static uint64_t ref_quantile(const uint64_t *v, size_t n, double q)
{
    double r = q * (double)n;
    size_t rank = (size_t)r;
    if ((double)rank < r)
        rank++;
    if (rank == 0)
        rank = 1;
    return v[rank - 1];
}

static void test_layout(void)
{
    bool exact = true;
    for (uint64_t v = 0; v < 128; v++)
        exact = exact && hist_bucket(v) == v && hist_bucket_low((unsigned)v) == v;
    ok(exact, "values below 128 have their own bucket");

    bool contiguous = true, monotone = true, precise = true;
    for (unsigned i = 128; i + 1 < HIST_BUCKETS; i++) {
        uint64_t lo = hist_bucket_low(i), next = hist_bucket_low(i + 1);
        contiguous = contiguous && hist_bucket(lo) == i && hist_bucket(next - 1) == i &&
                     hist_bucket(next) == i + 1;
        monotone = monotone && next > lo;
        /* the bucket's width is at most 1/64 of its lowest value */
        precise = precise && (next - lo) * 64 <= lo;
    }
    ok(contiguous, "every bucket starts where the previous one ends");
    ok(monotone, "bucket bounds increase");
    ok(precise, "bucket width at most 1/64 of its values");
    is_int(hist_bucket(UINT64_MAX), HIST_BUCKETS - 1, "the largest value has the last bucket");
    is_int(hist_bucket(128), 128, "128 starts the log part");
    is_int(hist_bucket(1000), hist_bucket(1007), "1000 and 1007 share a bucket (width 8)");
    ok(hist_bucket(1000) != hist_bucket(1008), "1008 is in the next bucket");
}

static void test_empty(void)
{
    hist_init(&h1);
    is_int(h1.n, 0, "empty: no values");
    is_int(hist_quantile(&h1, 0.5), 0, "empty: median 0");
    is_int(hist_quantile(&h1, 1.0), 0, "empty: max 0");
    ok(hist_mean(&h1) == 0, "empty: mean 0");
}

static void test_quantiles(void)
{
    enum { N = 20000 };
    static uint64_t v[N];
    unsigned seed = 12345;
    hist_init(&h1);
    for (size_t i = 0; i < N; i++) {
        /* a long tail: mostly hundreds of µs, some up to seconds */
        seed = seed * 1103515245u + 12345u;
        uint64_t x = (seed >> 8) % 1000;
        if (i % 100 == 0)
            x = x * 1000 + 17;
        v[i] = 50 + x;
        hist_add(&h1, v[i]);
    }
    qsort(v, N, sizeof(v[0]), cmp_u64);
    is_int(h1.n, N, "count");
    is_int(h1.min, v[0], "min exact");
    is_int(h1.max, v[N - 1], "max exact");
    is_int(hist_quantile(&h1, 1.0), v[N - 1], "q=1 is the max");
    is_int(hist_quantile(&h1, 0.0), v[0], "q=0 is the min");
    const double qs[] = {0.5, 0.9, 0.99, 0.999};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        uint64_t want = ref_quantile(v, N, qs[i]), got = hist_quantile(&h1, qs[i]);
        ok(got >= want && (got - want) * 64 <= want, "q=%.3f: %llu within 1/64 above %llu", qs[i],
           (unsigned long long)got, (unsigned long long)want);
    }
    double sum = 0;
    for (size_t i = 0; i < N; i++)
        sum += (double)v[i];
    ok(hist_mean(&h1) > sum / N - 1e-6 && hist_mean(&h1) < sum / N + 1e-6, "mean exact");
}

static void test_small_exact(void)
{
    hist_init(&h1);
    for (uint64_t v = 1; v <= 100; v++)
        hist_add(&h1, v);
    is_int(hist_quantile(&h1, 0.5), 50, "1..100: median 50");
    is_int(hist_quantile(&h1, 0.9), 90, "1..100: p90 90");
    is_int(hist_quantile(&h1, 0.99), 99, "1..100: p99 99");
    is_int(hist_quantile(&h1, 0.999), 100, "1..100: p99.9 100");
}

static void test_merge(void)
{
    hist_init(&h1);
    hist_init(&h2);
    hist_init(&h3);
    for (uint64_t v = 0; v < 5000; v += 3) {
        hist_add(v % 2 ? &h1 : &h2, v * 7);
        hist_add(&h3, v * 7);
    }
    hist_merge(&h1, &h2);
    is_int(h1.n, h3.n, "merge: count");
    is_int(h1.min, h3.min, "merge: min");
    is_int(h1.max, h3.max, "merge: max");
    bool same = true;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        same = same && h1.counts[i] == h3.counts[i];
    ok(same, "merge: the same buckets as recording everything in one");
    is_int(hist_quantile(&h1, 0.99), hist_quantile(&h3, 0.99), "merge: same p99");
}

int main(void)
{
    test_layout();
    test_empty();
    test_quantiles();
    test_small_exact();
    test_merge();
    return tap_done();
}
