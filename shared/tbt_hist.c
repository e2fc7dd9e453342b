/* tbt_hist.c - log-linear histogram: bucket arithmetic, percentiles, JSON. */
#include "tbt_hist.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

/* The first power of two split into sub-buckets: 2^7 = TBT_HIST_LINEAR. */
#define FIRST_EXP 7u

void tbt_hist_init(tbt_hist *h)
{
    memset(h, 0, sizeof(*h));
}

size_t tbt_hist_bucket_index(uint64_t v)
{
    if (v < TBT_HIST_LINEAR)
        return (size_t)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    size_t sub = (size_t)(v >> (e - TBT_HIST_SUB_BITS)) & (TBT_HIST_SUB - 1u);
    return TBT_HIST_LINEAR + (size_t)(e - FIRST_EXP) * TBT_HIST_SUB + sub;
}

uint64_t tbt_hist_bucket_low(size_t i)
{
    if (i >= TBT_HIST_BUCKETS)
        i = TBT_HIST_BUCKETS - 1;
    if (i < TBT_HIST_LINEAR)
        return (uint64_t)i;
    size_t j = i - TBT_HIST_LINEAR;
    unsigned e = FIRST_EXP + (unsigned)(j / TBT_HIST_SUB);
    uint64_t sub = (uint64_t)(j % TBT_HIST_SUB);
    return ((uint64_t)1 << e) + (sub << (e - TBT_HIST_SUB_BITS));
}

uint64_t tbt_hist_bucket_high(size_t i)
{
    if (i >= TBT_HIST_BUCKETS)
        i = TBT_HIST_BUCKETS - 1;
    if (i < TBT_HIST_LINEAR)
        return (uint64_t)i;
    unsigned e = FIRST_EXP + (unsigned)((i - TBT_HIST_LINEAR) / TBT_HIST_SUB);
    /* The last bucket ends at UINT64_MAX: low + width - 1 never wraps. */
    return tbt_hist_bucket_low(i) + (((uint64_t)1 << (e - TBT_HIST_SUB_BITS)) - 1u);
}

void tbt_hist_record(tbt_hist *h, uint64_t v)
{
    h->counts[tbt_hist_bucket_index(v)]++;
    if (h->total == 0 || v < h->min)
        h->min = v;
    if (h->total == 0 || v > h->max)
        h->max = v;
    h->total++;
    h->sum += (double)v;
}

void tbt_hist_merge(tbt_hist *dst, const tbt_hist *src)
{
    if (src->total == 0)
        return;
    if (dst->total == 0) {
        dst->min = src->min;
        dst->max = src->max;
    } else {
        if (src->min < dst->min)
            dst->min = src->min;
        if (src->max > dst->max)
            dst->max = src->max;
    }
    /* Read src's totals before the loop: dst may be src. */
    uint64_t total = src->total;
    double sum = src->sum;
    for (size_t i = 0; i < TBT_HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->total += total;
    dst->sum += sum;
}

/* Nearest rank: ceil(p/100 * total), within [1, total]. A percentile given
 * in decimal (99.9) is not exact in binary, and the product can land a few
 * ulp above an integer (999.0000000000001 for 1000 values); shaving a few
 * ulp off first keeps such ranks at the integer people expect. */
static uint64_t nearest_rank(double p, uint64_t total)
{
    if (!(p > 0))
        return 1;
    if (p >= 100)
        return total;
    long double x = (long double)p / 100.0L * (long double)total;
    x -= x * (4.0L * (long double)DBL_EPSILON);
    long double r = ceill(x);
    if (r < 1)
        return 1;
    if (r >= (long double)total)
        return total;
    return (uint64_t)r;
}

uint64_t tbt_hist_percentile(const tbt_hist *h, double p)
{
    if (h->total == 0)
        return 0;
    uint64_t rank = nearest_rank(p, h->total);
    /* The smallest and the largest value are known exactly. */
    if (rank <= 1)
        return h->min;
    if (rank >= h->total)
        return h->max;
    uint64_t seen = 0;
    for (size_t i = 0; i < TBT_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = tbt_hist_bucket_high(i);
            if (v < h->min)
                v = h->min;
            if (v > h->max)
                v = h->max;
            return v;
        }
    }
    return h->max; /* counts disagree with total: only after a bad merge */
}

double tbt_hist_mean(const tbt_hist *h)
{
    return h->total ? h->sum / (double)h->total : 0.0;
}

void tbt_hist_to_json(const tbt_hist *h, tbt_buf *out)
{
    char sum[40];
    tbt_format_double(h->sum, sum, sizeof(sum));
    tbt_buf_printf(out, "{\"count\":%" PRIu64 ",\"min\":%" PRIu64 ",\"max\":%" PRIu64 ",\"sum\":%s,\"buckets\":[",
                   h->total, h->min, h->max, sum);
    bool first = true;
    for (size_t i = 0; i < TBT_HIST_BUCKETS; i++) {
        if (h->counts[i] == 0)
            continue;
        tbt_buf_printf(out, "%s[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]", first ? "" : ",", tbt_hist_bucket_low(i),
                       tbt_hist_bucket_high(i), h->counts[i]);
        first = false;
    }
    tbt_buf_puts(out, "]}");
}
