/*
 * hist: log-linear buckets (see hist.h). Index of v >= 128: the position of
 * its highest set bit k (7..63) picks the power-of-two range, the next six
 * bits below it pick one of 64 equal sub-buckets.
 */
#include "hist.h"

#include <string.h>

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

unsigned hist_bucket(uint64_t v)
{
    if (v < HIST_LINEAR)
        return (unsigned)v;
    unsigned k = 63u - (unsigned)__builtin_clzll(v); /* 7..63 */
    unsigned shift = k - HIST_SUB_BITS;
    unsigned sub = (unsigned)(v >> shift) - (1u << HIST_SUB_BITS); /* 0..63 */
    return HIST_LINEAR + (k - 7) * (1u << HIST_SUB_BITS) + sub;
}

uint64_t hist_bucket_low(unsigned i)
{
    if (i < HIST_LINEAR)
        return i;
    unsigned j = i - HIST_LINEAR;
    unsigned k = j / (1u << HIST_SUB_BITS) + 7;
    unsigned sub = j % (1u << HIST_SUB_BITS);
    return ((uint64_t)sub + (1u << HIST_SUB_BITS)) << (k - HIST_SUB_BITS);
}

/* The highest value bucket i holds. */
static uint64_t bucket_high(unsigned i)
{
    if (i + 1 >= HIST_BUCKETS)
        return UINT64_MAX;
    return hist_bucket_low(i + 1) - 1;
}

void hist_add(struct hist *h, uint64_t v)
{
    h->counts[hist_bucket(v)]++;
    h->n++;
    h->sum += (double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->n += src->n;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->n == 0)
        return 0;
    if (q <= 0)
        return h->min;
    if (q >= 1)
        return h->max;
    /* the rank-th smallest value, 1-based: ceil(q * n) */
    double r = q * (double)h->n;
    uint64_t rank = (uint64_t)r;
    if ((double)rank < r)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = bucket_high(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

double hist_mean(const struct hist *h)
{
    return h->n ? h->sum / (double)h->n : 0;
}
