/*
 * hist: a latency histogram in the manner of HdrHistogram — log-linear
 * buckets, so that any recorded value is known to within 1/64 (about 1.6%)
 * of itself from 1 to 2^63, in a fixed 30 KB with no allocation. Values are
 * plain unsigned integers; tern-bench records microseconds.
 *
 * Buckets: values below 128 each have their own bucket (exact). Above, every
 * power-of-two range [2^k, 2^(k+1)) is split into 64 equal buckets.
 * A quantile is reported as the highest value its bucket can hold (never
 * above the largest value recorded), so a percentile is never understated.
 *
 * Not thread-safe: one histogram per thread, merged afterwards.
 */
#ifndef TERN_BENCH_HIST_H
#define TERN_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6                     /* 64 buckets per power of two */
#define HIST_LINEAR   (2u << HIST_SUB_BITS) /* exact below 128 */
#define HIST_BUCKETS  (HIST_LINEAR + (64 - 7) * (1u << HIST_SUB_BITS))

struct hist {
    uint64_t n;   /* values recorded */
    uint64_t min; /* UINT64_MAX while empty */
    uint64_t max;
    double sum; /* for the mean */
    uint64_t counts[HIST_BUCKETS];
};

/** Empties h (caller's storage). */
void hist_init(struct hist *h);
/** Records one value. */
void hist_add(struct hist *h, uint64_t v);
/** Adds every value of src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);
/**
 * Returns the value at quantile q (0..1; 0.5 is the median, 1 the maximum):
 * the highest value of the bucket holding the ceil(q * n)-th smallest value,
 * capped at the largest value recorded. 0 when empty.
 */
uint64_t hist_quantile(const struct hist *h, double q);
/** Returns the mean of the values recorded (0 when empty). */
double hist_mean(const struct hist *h);
/** Returns the bucket index of v (exposed for tests). */
unsigned hist_bucket(uint64_t v);
/** Returns the lowest value that falls into bucket i (exposed for tests). */
uint64_t hist_bucket_low(unsigned i);

#endif
