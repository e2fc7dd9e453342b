/*
 * tbt_hist.h - a log-linear histogram of uint64_t values (nanoseconds) for
 * load-style campaigns, in the manner of HdrHistogram.
 *
 * Layout (fixed, the same in every process, so histograms from several
 * agents merge exactly by adding bucket counts):
 *  - values 0..127 have one bucket each (exact);
 *  - every power-of-two range [2^e, 2^(e+1)), e = 7..63, is split into 64
 *    equal sub-buckets of width 2^(e-6).
 * 128 + 57 * 64 = 3776 buckets cover the whole uint64_t range. A bucket's
 * width is at most 1/64 of its lowest value, so any value reported for a
 * bucket (its highest value) is within 1/64 (~1.6%) above the true value.
 *
 * A tbt_hist is a plain value (about 30 KB, no heap memory): it may be
 * copied, zeroed with tbt_hist_init and dropped without a destructor.
 * Not thread-safe: one writer at a time; merge per-thread histograms.
 */
#ifndef TBT_HIST_H
#define TBT_HIST_H

#include <stddef.h>
#include <stdint.h>

#include "tbt_common.h"

#define TBT_HIST_LINEAR 128u    /* values below this have a bucket each */
#define TBT_HIST_SUB_BITS 6u    /* 2^6 = 64 sub-buckets per power of two */
#define TBT_HIST_SUB (1u << TBT_HIST_SUB_BITS)
#define TBT_HIST_BUCKETS (TBT_HIST_LINEAR + (64u - 7u) * TBT_HIST_SUB) /* 3776 */

typedef struct tbt_hist {
    uint64_t counts[TBT_HIST_BUCKETS];
    uint64_t total; /* values recorded */
    uint64_t min;   /* exact smallest value; 0 when empty */
    uint64_t max;   /* exact largest value; 0 when empty */
    double sum;     /* sum of the values (for the mean) */
} tbt_hist;

/* Make h empty. */
void tbt_hist_init(tbt_hist *h);

/* Count one value. */
void tbt_hist_record(tbt_hist *h, uint64_t v);

/* Add every count of src to dst. The result equals recording both value
 * streams into one histogram (dst == src doubles every count). */
void tbt_hist_merge(tbt_hist *dst, const tbt_hist *src);

/* The nearest-rank percentile: with rank = ceil(p/100 * total), at least 1,
 * the rank-th smallest value as the highest value of its bucket, clamped to
 * [min, max]. So p0 (rank 1) is min and p100 is max exactly, and otherwise
 * the result r satisfies v <= r < v + v/64 for the true value v. p is
 * clamped to [0, 100] (NaN counts as 0); p/100 * total is taken to within
 * a few ulp, so that decimal fractions such as p99.9 of 1000 values give
 * rank 999, not 1000. Returns 0 for an empty histogram. */
uint64_t tbt_hist_percentile(const tbt_hist *h, double p);

/* sum / total, 0 for an empty histogram. */
double tbt_hist_mean(const tbt_hist *h);

/* The bucket holding v (0 .. TBT_HIST_BUCKETS-1). */
size_t tbt_hist_bucket_index(uint64_t v);
/* Lowest and highest value of bucket i (inclusive); i must be below
 * TBT_HIST_BUCKETS (larger i are treated as the last bucket). */
uint64_t tbt_hist_bucket_low(size_t i);
uint64_t tbt_hist_bucket_high(size_t i);

/* Append {"count":N,"min":..,"max":..,"sum":..,"buckets":[[low,high,count],...]}
 * with only the non-empty buckets, in ascending order. Integers are printed
 * exactly; sum as the shortest double that reads back. */
void tbt_hist_to_json(const tbt_hist *h, tbt_buf *out);

#endif
