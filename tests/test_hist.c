/* test_hist.c - campaign statistics: the log-linear histogram (bucket
 * layout, nearest-rank percentiles against a sorted reference, exact
 * merges, JSON) and thresholds (every metric and comparison parsed and
 * checked on constructed statistics, every error with its message and
 * column). */
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_hist.h"
#include "tbt_threshold.h"

#define MS 1000000ull
#define US 1000ull
#define SEC 1000000000ull

/* ---- helpers ------------------------------------------------------------ */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* Spread over every magnitude: a random value shifted right by 0..63. */
static uint64_t rng_value(void)
{
    return rng() >> (rng() % 64);
}

/* Latency-like: 1us .. ~1s, log-uniform. */
static uint64_t rng_latency(void)
{
    return (uint64_t)(1000.0 * pow(10.0, 6.0 * (double)(rng() % 1000000) / 1e6));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static tbt_hist *hist_new(void)
{
    tbt_hist *h = tbt_xmalloc(sizeof(*h));
    tbt_hist_init(h);
    return h;
}

static void assert_same_hist(const tbt_hist *a, const tbt_hist *b)
{
    ck_assert(memcmp(a->counts, b->counts, sizeof(a->counts)) == 0);
    ck_assert_uint_eq(a->total, b->total);
    ck_assert_uint_eq(a->min, b->min);
    ck_assert_uint_eq(a->max, b->max);
    /* the sum is a double added in another order */
    ck_assert(fabs(a->sum - b->sum) <= 1e-12 * fabs(b->sum));
}

/* ---- histogram ---------------------------------------------------------- */
START_TEST(buckets_tile_the_range)
{
    ck_assert_uint_eq(TBT_HIST_BUCKETS, 3776);
    ck_assert_uint_eq(tbt_hist_bucket_low(0), 0);
    ck_assert(tbt_hist_bucket_high(TBT_HIST_BUCKETS - 1) == UINT64_MAX);
    for (size_t i = 0; i < TBT_HIST_BUCKETS; i++) {
        uint64_t lo = tbt_hist_bucket_low(i), hi = tbt_hist_bucket_high(i);
        ck_assert_msg(lo <= hi, "bucket %zu", i);
        ck_assert_uint_eq(tbt_hist_bucket_index(lo), i);
        ck_assert_uint_eq(tbt_hist_bucket_index(hi), i);
        if (i + 1 < TBT_HIST_BUCKETS)
            ck_assert_msg(tbt_hist_bucket_low(i + 1) == hi + 1, "gap after bucket %zu", i);
        if (i < 128) {
            ck_assert_msg(lo == i && hi == i, "bucket %zu is exact", i);
        } else {
            /* width at most 1/64 of the lowest value: relative error < 1.6% */
            uint64_t width = hi - lo + 1;
            ck_assert_msg(width <= lo / 64, "bucket %zu: width %llu, low %llu", i, (unsigned long long)width,
                          (unsigned long long)lo);
        }
    }
}
END_TEST

START_TEST(every_value_falls_in_its_bucket)
{
    uint64_t edges[] = {0, 1, 127, 128, 129, 255, 256, 257, 1000, 65535, 65536, (1ull << 32) - 1, 1ull << 32,
                        (1ull << 63) - 1, 1ull << 63, UINT64_MAX - 1, UINT64_MAX};
    for (size_t k = 0; k < TBT_ARRAY_LEN(edges) + 200000; k++) {
        uint64_t v = k < TBT_ARRAY_LEN(edges) ? edges[k] : rng_value();
        size_t i = tbt_hist_bucket_index(v);
        ck_assert_uint_lt(i, TBT_HIST_BUCKETS);
        ck_assert_msg(tbt_hist_bucket_low(i) <= v && v <= tbt_hist_bucket_high(i), "value %llu", (unsigned long long)v);
        /* the value reported for the bucket is within 1/64 above v */
        ck_assert(tbt_hist_bucket_high(i) - v <= v / 64);
    }
    ck_assert_uint_eq(tbt_hist_bucket_index(UINT64_MAX), TBT_HIST_BUCKETS - 1);
    ck_assert_uint_eq(tbt_hist_bucket_index(127), 127);
    ck_assert_uint_eq(tbt_hist_bucket_index(128), 128);
    ck_assert_uint_eq(tbt_hist_bucket_index(129), 128);
    ck_assert_uint_eq(tbt_hist_bucket_index(130), 129);
}
END_TEST

/* Percentiles as num/den percent, so that the reference rank
 * ceil(p/100 * n) is computed exactly in integers. */
static const struct {
    uint64_t num, den;
} percents[] = {{0, 1},  {1, 10},  {1, 1},   {10, 1},  {25, 1}, {50, 1},    {75, 1},     {90, 1},
                {95, 1}, {99, 1},  {999, 10}, {9999, 100}, {100, 1}, {333, 10}, {6667, 100}, {1, 2}};

static void check_against_reference(size_t n, uint64_t (*gen)(void))
{
    uint64_t *vals = tbt_xmalloc(n * sizeof(*vals));
    tbt_hist *h = hist_new();
    for (size_t i = 0; i < n; i++) {
        vals[i] = gen();
        tbt_hist_record(h, vals[i]);
    }
    qsort(vals, n, sizeof(*vals), cmp_u64);
    ck_assert_uint_eq(h->total, n);
    ck_assert_uint_eq(h->min, vals[0]);
    ck_assert_uint_eq(h->max, vals[n - 1]);
    for (size_t k = 0; k < TBT_ARRAY_LEN(percents); k++) {
        uint64_t d = percents[k].den * 100;
        uint64_t rank = (percents[k].num * n + d - 1) / d;
        if (rank < 1)
            rank = 1;
        uint64_t want = vals[rank - 1];
        double p = (double)percents[k].num / (double)percents[k].den;
        uint64_t got = tbt_hist_percentile(h, p);
        ck_assert_msg(want <= got && got - want <= want / 64, "n=%zu p%g: got %llu, want %llu (rank %llu)", n, p,
                      (unsigned long long)got, (unsigned long long)want, (unsigned long long)rank);
        ck_assert(tbt_hist_bucket_index(got) == tbt_hist_bucket_index(want));
    }
    ck_assert_uint_eq(tbt_hist_percentile(h, 0), vals[0]);
    ck_assert_uint_eq(tbt_hist_percentile(h, 100), vals[n - 1]);
    free(h);
    free(vals);
}

START_TEST(percentiles_match_nearest_rank)
{
    size_t sizes[] = {1, 2, 3, 7, 10, 99, 1000, 1001, 20000};
    for (size_t i = 0; i < TBT_ARRAY_LEN(sizes); i++) {
        check_against_reference(sizes[i], rng_latency);
        check_against_reference(sizes[i], rng_value);
    }
}
END_TEST

START_TEST(percentile_ranks_are_exact_for_decimals)
{
    tbt_hist *h = hist_new();
    for (uint64_t v = 1; v <= 100; v++)
        tbt_hist_record(h, v);
    ck_assert_uint_eq(tbt_hist_percentile(h, 0), 1);
    ck_assert_uint_eq(tbt_hist_percentile(h, 0.5), 1);
    ck_assert_uint_eq(tbt_hist_percentile(h, 1), 1);
    ck_assert_uint_eq(tbt_hist_percentile(h, 1.01), 2);
    ck_assert_uint_eq(tbt_hist_percentile(h, 50), 50);
    ck_assert_uint_eq(tbt_hist_percentile(h, 99), 99);
    ck_assert_uint_eq(tbt_hist_percentile(h, 99.9), 100);
    ck_assert_uint_eq(tbt_hist_percentile(h, 100), 100);
    /* out of range and NaN clamp to [0, 100] */
    ck_assert_uint_eq(tbt_hist_percentile(h, -5), 1);
    ck_assert_uint_eq(tbt_hist_percentile(h, 250), 100);
    ck_assert_uint_eq(tbt_hist_percentile(h, NAN), 1);

    /* p99.9 of 1000 values is the 999th, not the 1000th, although
     * 99.9 / 100 * 1000 is 999.0000000000001 in doubles */
    tbt_hist_init(h);
    for (int i = 0; i < 999; i++)
        tbt_hist_record(h, 5);
    tbt_hist_record(h, 100);
    ck_assert_uint_eq(tbt_hist_percentile(h, 99.9), 5);
    ck_assert_uint_eq(tbt_hist_percentile(h, 99.91), 100);
    free(h);
}
END_TEST

START_TEST(p0_and_p100_are_exact)
{
    tbt_hist *h = hist_new();
    /* both ends inside wide buckets */
    uint64_t vals[] = {123456789, 987654321, 555555555, 123456790};
    for (size_t i = 0; i < TBT_ARRAY_LEN(vals); i++)
        tbt_hist_record(h, vals[i]);
    ck_assert_uint_eq(tbt_hist_percentile(h, 0), 123456789);
    ck_assert_uint_eq(tbt_hist_percentile(h, 100), 987654321);
    /* rank 2 lies in min's bucket: its high end, within [min, max] */
    uint64_t p50 = tbt_hist_percentile(h, 50);
    ck_assert_uint_eq(p50, tbt_hist_bucket_high(tbt_hist_bucket_index(123456790)));
    /* one value: every percentile is that value */
    tbt_hist_init(h);
    tbt_hist_record(h, 1000001);
    ck_assert_uint_eq(tbt_hist_percentile(h, 0), 1000001);
    ck_assert_uint_eq(tbt_hist_percentile(h, 50), 1000001);
    ck_assert_uint_eq(tbt_hist_percentile(h, 100), 1000001);
    free(h);
}
END_TEST

START_TEST(merge_equals_recording_everything)
{
    tbt_hist *a = hist_new(), *b = hist_new(), *all = hist_new(), *empty = hist_new();
    for (int i = 0; i < 50000; i++) {
        uint64_t v = i % 3 ? rng_latency() : rng_value();
        tbt_hist_record(i % 2 ? a : b, v);
        tbt_hist_record(all, v);
    }
    tbt_hist_merge(a, b);
    assert_same_hist(a, all);
    ck_assert_uint_eq(tbt_hist_percentile(a, 99), tbt_hist_percentile(all, 99));

    /* merging an empty histogram changes nothing; into one copies */
    tbt_hist_merge(a, empty);
    assert_same_hist(a, all);
    tbt_hist_merge(empty, all);
    assert_same_hist(empty, all);

    /* merging into itself doubles every count */
    tbt_hist_init(b);
    tbt_hist_record(b, 7);
    tbt_hist_record(b, 1000);
    tbt_hist_merge(b, b);
    ck_assert_uint_eq(b->total, 4);
    ck_assert_uint_eq(b->counts[7], 2);
    ck_assert_uint_eq(b->counts[tbt_hist_bucket_index(1000)], 2);
    ck_assert(b->sum == 2014);
    ck_assert_uint_eq(b->min, 7);
    ck_assert_uint_eq(b->max, 1000);

    /* the min of one side and the max of the other */
    tbt_hist_init(a);
    tbt_hist_init(b);
    tbt_hist_record(a, 50);
    tbt_hist_record(a, 60);
    tbt_hist_record(b, 10);
    tbt_hist_record(b, 55);
    tbt_hist_merge(a, b);
    ck_assert_uint_eq(a->min, 10);
    ck_assert_uint_eq(a->max, 60);
    free(a);
    free(b);
    free(all);
    free(empty);
}
END_TEST

START_TEST(empty_histogram)
{
    tbt_hist *h = hist_new();
    ck_assert_uint_eq(h->total, 0);
    ck_assert_uint_eq(tbt_hist_percentile(h, 0), 0);
    ck_assert_uint_eq(tbt_hist_percentile(h, 50), 0);
    ck_assert_uint_eq(tbt_hist_percentile(h, 100), 0);
    ck_assert(tbt_hist_mean(h) == 0);
    tbt_buf b = TBT_BUF_INIT;
    tbt_hist_to_json(h, &b);
    ck_assert_str_eq(b.data, "{\"count\":0,\"min\":0,\"max\":0,\"sum\":0,\"buckets\":[]}");
    tbt_buf_free(&b);
    free(h);
}
END_TEST

START_TEST(huge_values)
{
    tbt_hist *h = hist_new();
    tbt_hist_record(h, UINT64_MAX);
    tbt_hist_record(h, UINT64_MAX - 1);
    tbt_hist_record(h, 1ull << 63);
    tbt_hist_record(h, 0);
    ck_assert_uint_eq(h->counts[TBT_HIST_BUCKETS - 1], 2);
    ck_assert_uint_eq(h->counts[0], 1);
    ck_assert(h->max == UINT64_MAX);
    ck_assert(tbt_hist_percentile(h, 100) == UINT64_MAX);
    ck_assert(tbt_hist_percentile(h, 75) == UINT64_MAX); /* rank 3: last bucket, clamped to max */
    ck_assert(tbt_hist_percentile(h, 50) == tbt_hist_bucket_high(tbt_hist_bucket_index(1ull << 63)));
    ck_assert_uint_eq(tbt_hist_percentile(h, 0), 0);
    ck_assert(tbt_hist_mean(h) > 1.15e19 && tbt_hist_mean(h) < 1.16e19);
    tbt_buf b = TBT_BUF_INIT;
    tbt_hist_to_json(h, &b);
    ck_assert_str_eq(b.data, "{\"count\":4,\"min\":0,\"max\":18446744073709551615,\"sum\":4.611686018427388e+19,"
                             "\"buckets\":[[0,0,1],[9223372036854775808,9367487224930631679,1],"
                             "[18302628885633695744,18446744073709551615,2]]}");
    tbt_buf_free(&b);
    free(h);
}
END_TEST

START_TEST(json_output)
{
    tbt_hist *h = hist_new();
    ck_assert(tbt_hist_mean(h) == 0);
    tbt_hist_record(h, 3);
    tbt_hist_record(h, 1000);
    tbt_hist_record(h, 200);
    tbt_hist_record(h, 3);
    ck_assert(tbt_hist_mean(h) == 301.5);
    tbt_buf b = TBT_BUF_INIT;
    tbt_hist_to_json(h, &b);
    ck_assert_str_eq(b.data, "{\"count\":4,\"min\":3,\"max\":1000,\"sum\":1206,"
                             "\"buckets\":[[3,3,2],[200,201,1],[1000,1007,1]]}");

    /* random data: valid JSON, ascending disjoint buckets summing to count */
    tbt_hist_init(h);
    for (int i = 0; i < 5000; i++)
        tbt_hist_record(h, rng_latency());
    tbt_buf_reset(&b);
    tbt_hist_to_json(h, &b);
    cJSON *doc = cJSON_Parse(b.data);
    ck_assert_ptr_nonnull(doc);
    ck_assert(cJSON_GetObjectItem(doc, "count")->valuedouble == 5000);
    ck_assert(cJSON_GetObjectItem(doc, "min")->valuedouble == (double)h->min);
    const cJSON *buckets = cJSON_GetObjectItem(doc, "buckets");
    ck_assert(cJSON_IsArray(buckets));
    double sum = 0, prev_high = -1;
    const cJSON *bk;
    cJSON_ArrayForEach(bk, buckets)
    {
        ck_assert_int_eq(cJSON_GetArraySize(bk), 3);
        double lo = cJSON_GetArrayItem(bk, 0)->valuedouble, hi = cJSON_GetArrayItem(bk, 1)->valuedouble;
        double c = cJSON_GetArrayItem(bk, 2)->valuedouble;
        ck_assert(lo > prev_high && lo <= hi && c > 0);
        prev_high = hi;
        sum += c;
    }
    ck_assert(sum == 5000);
    cJSON_Delete(doc);
    tbt_buf_free(&b);
    free(h);
}
END_TEST

/* ---- thresholds: parsing ------------------------------------------------ */
static const struct {
    const char *text;
    tbt_threshold_metric metric;
    tbt_threshold_series series;
    double percentile;
    tbt_threshold_op op;
    uint64_t ns_or_count; /* series metrics and counts */
    double ratio;         /* pass_ratio */
} parse_cases[] = {
    {"p95(trace.duration) < 300ms", TBT_THRESHOLD_PERCENTILE, TBT_SERIES_TRACE_DURATION, 95, TBT_OP_LT, 300 * MS, 0},
    {"p99(verdict.latency) <= 2s", TBT_THRESHOLD_PERCENTILE, TBT_SERIES_VERDICT_LATENCY, 99, TBT_OP_LE, 2 * SEC, 0},
    {"p99.9(trace.duration) > 1.5s", TBT_THRESHOLD_PERCENTILE, TBT_SERIES_TRACE_DURATION, 99.9, TBT_OP_GT,
     1500 * MS, 0},
    {"p100(trace.duration)>=2m", TBT_THRESHOLD_PERCENTILE, TBT_SERIES_TRACE_DURATION, 100, TBT_OP_GE, 120 * SEC, 0},
    {"p0.5 ( verdict.latency ) == 250us", TBT_THRESHOLD_PERCENTILE, TBT_SERIES_VERDICT_LATENCY, 0.5, TBT_OP_EQ,
     250 * US, 0},
    {"p50(trace.duration) != 1h 30m", TBT_THRESHOLD_PERCENTILE, TBT_SERIES_TRACE_DURATION, 50, TBT_OP_NE,
     5400 * SEC, 0},
    {"max(trace.duration) < 1s", TBT_THRESHOLD_MAX, TBT_SERIES_TRACE_DURATION, 0, TBT_OP_LT, SEC, 0},
    {"min(verdict.latency) >= 5µs", TBT_THRESHOLD_MIN, TBT_SERIES_VERDICT_LATENCY, 0, TBT_OP_GE, 5 * US, 0},
    {"mean(verdict.latency) < 500ms", TBT_THRESHOLD_MEAN, TBT_SERIES_VERDICT_LATENCY, 0, TBT_OP_LT, 500 * MS, 0},
    {"mean(trace.duration) <= 0", TBT_THRESHOLD_MEAN, TBT_SERIES_TRACE_DURATION, 0, TBT_OP_LE, 0, 0},
    {"max(trace.duration) < 7ns", TBT_THRESHOLD_MAX, TBT_SERIES_TRACE_DURATION, 0, TBT_OP_LT, 7, 0},
    {"pass_ratio >= 0.99", TBT_THRESHOLD_PASS_RATIO, TBT_SERIES_NONE, 0, TBT_OP_GE, 0, 0.99},
    {"pass_ratio>=99%", TBT_THRESHOLD_PASS_RATIO, TBT_SERIES_NONE, 0, TBT_OP_GE, 0, 0.99},
    {"pass_ratio > 99.9%", TBT_THRESHOLD_PASS_RATIO, TBT_SERIES_NONE, 0, TBT_OP_GT, 0, 0.999},
    {"pass_ratio == 100%", TBT_THRESHOLD_PASS_RATIO, TBT_SERIES_NONE, 0, TBT_OP_EQ, 0, 1},
    {"pass_ratio != 5%", TBT_THRESHOLD_PASS_RATIO, TBT_SERIES_NONE, 0, TBT_OP_NE, 0, 0.05},
    {"pass_ratio < .5", TBT_THRESHOLD_PASS_RATIO, TBT_SERIES_NONE, 0, TBT_OP_LT, 0, 0.5},
    {"pass_ratio <= 1", TBT_THRESHOLD_PASS_RATIO, TBT_SERIES_NONE, 0, TBT_OP_LE, 0, 1},
    {"pass_ratio > 0", TBT_THRESHOLD_PASS_RATIO, TBT_SERIES_NONE, 0, TBT_OP_GT, 0, 0},
    {"failed == 0", TBT_THRESHOLD_FAILED, TBT_SERIES_NONE, 0, TBT_OP_EQ, 0, 0},
    {"errors <= 2", TBT_THRESHOLD_ERRORS, TBT_SERIES_NONE, 0, TBT_OP_LE, 2, 0},
    {"runs >= 100", TBT_THRESHOLD_RUNS, TBT_SERIES_NONE, 0, TBT_OP_GE, 100, 0},
    {"passed > 18446744073709551614", TBT_THRESHOLD_PASSED, TBT_SERIES_NONE, 0, TBT_OP_GT, UINT64_MAX - 1, 0},
    {"  runs\t!=\n007 \n", TBT_THRESHOLD_RUNS, TBT_SERIES_NONE, 0, TBT_OP_NE, 7, 0},
};

START_TEST(thresholds_parse)
{
    for (size_t i = 0; i < TBT_ARRAY_LEN(parse_cases); i++) {
        tbt_threshold t;
        tbt_error err = TBT_ERROR_INIT;
        const char *text = parse_cases[i].text;
        ck_assert_msg(tbt_threshold_parse(text, &t, &err) == 0, "%s: %s", text, err.msg);
        ck_assert_str_eq(t.text, text);
        ck_assert_msg(t.metric == parse_cases[i].metric, "%s: metric", text);
        ck_assert_msg(t.series == parse_cases[i].series, "%s: series", text);
        ck_assert_msg(t.op == parse_cases[i].op, "%s: op", text);
        if (t.metric == TBT_THRESHOLD_PERCENTILE)
            ck_assert_msg(t.percentile == parse_cases[i].percentile, "%s: percentile %g", text, t.percentile);
        if (t.metric == TBT_THRESHOLD_PASS_RATIO)
            ck_assert_msg(t.value.ratio == parse_cases[i].ratio, "%s: ratio %.17g", text, t.value.ratio);
        else if (t.series != TBT_SERIES_NONE)
            ck_assert_msg(t.value.ns == parse_cases[i].ns_or_count, "%s: ns", text);
        else
            ck_assert_msg(t.value.count == parse_cases[i].ns_or_count, "%s: count", text);
        tbt_threshold_clear(&t);
        ck_assert_ptr_null(t.text);
    }
    tbt_threshold_clear(NULL);
}
END_TEST

/* ---- thresholds: checking ----------------------------------------------- */
/* 200 runs: 197 passed, 2 failed, 1 error. trace.duration: 1ms .. 100ms in
 * 1ms steps. verdict.latency: nine of 100us and one of 2s. */
static tbt_campaign_stats *campaign(void)
{
    tbt_campaign_stats *s = tbt_xcalloc(1, sizeof(*s));
    s->runs = 200;
    s->passed = 197;
    s->failed = 2;
    s->errors = 1;
    tbt_hist_init(&s->trace_duration);
    tbt_hist_init(&s->verdict_latency);
    for (uint64_t i = 1; i <= 100; i++)
        tbt_hist_record(&s->trace_duration, i * MS);
    for (int i = 0; i < 9; i++)
        tbt_hist_record(&s->verdict_latency, 100 * US);
    tbt_hist_record(&s->verdict_latency, 2 * SEC);
    return s;
}

static const struct {
    const char *text;
    bool holds;
    const char *observed;
} check_cases[] = {
    {"pass_ratio >= 0.985", true, "0.985"},
    {"pass_ratio >= 0.99", false, "0.985"},
    {"pass_ratio >= 99%", false, "0.985"},
    {"pass_ratio == 98.5%", true, "0.985"},
    {"pass_ratio > 0.985", false, "0.985"},
    {"pass_ratio != 1", true, "0.985"},
    {"pass_ratio < 100%", true, "0.985"},
    {"pass_ratio <= 0.9", false, "0.985"},
    {"runs >= 100", true, "200"},
    {"runs == 200", true, "200"},
    {"runs < 200", false, "200"},
    {"passed > 196", true, "197"},
    {"passed != 197", false, "197"},
    {"failed == 0", false, "2"},
    {"failed <= 2", true, "2"},
    {"errors <= 2", true, "1"},
    {"errors > 1", false, "1"},
    /* p95 is the 95th value, 95ms, reported as its bucket's high end */
    {"p95(trace.duration) < 300ms", true, "95.420415ms"},
    {"p95(trace.duration) < 96ms", true, "95.420415ms"},
    {"p95(trace.duration) <= 95ms", false, "95.420415ms"},
    {"p95(trace.duration) > 95ms", true, "95.420415ms"},
    {"p100(trace.duration) == 100ms", true, "100ms"},
    {"max(trace.duration) < 1s", true, "100ms"},
    {"max(trace.duration) < 100ms", false, "100ms"},
    {"min(trace.duration) >= 1ms", true, "1ms"},
    {"min(trace.duration) != 1ms", false, "1ms"},
    {"mean(trace.duration) < 51ms", true, "50.5ms"},
    {"mean(trace.duration) == 50.5ms", true, "50.5ms"},
    {"mean(trace.duration) < 50ms", false, "50.5ms"},
    {"mean(verdict.latency) < 500ms", true, "200.09ms"},
    {"p99(verdict.latency) <= 2s", true, "2s"},
    {"p99(verdict.latency) < 2s", false, "2s"},
    {"p90(verdict.latency) < 100us", false, "100.351us"},
    {"p90(verdict.latency) <= 101us", true, "100.351us"},
    {"p0.1(verdict.latency) == 100us", true, "100us"},
    {"max(verdict.latency) > 2s", false, "2s"},
};

START_TEST(thresholds_check)
{
    tbt_campaign_stats *s = campaign();
    tbt_buf b = TBT_BUF_INIT;
    for (size_t i = 0; i < TBT_ARRAY_LEN(check_cases); i++) {
        tbt_threshold t;
        tbt_error err = TBT_ERROR_INIT;
        ck_assert_msg(tbt_threshold_parse(check_cases[i].text, &t, &err) == 0, "%s", err.msg);
        double observed = -1;
        bool holds = tbt_threshold_check(&t, s, &observed);
        tbt_buf_reset(&b);
        tbt_threshold_format_observed(&t, observed, &b);
        ck_assert_msg(holds == check_cases[i].holds && strcmp(tbt_buf_cstr(&b), check_cases[i].observed) == 0,
                      "%s: %s, observed %s", check_cases[i].text, holds ? "holds" : "fails", tbt_buf_cstr(&b));
        ck_assert(tbt_threshold_check(&t, s, NULL) == holds);
        tbt_threshold_clear(&t);
    }
    tbt_buf_free(&b);
    free(s);
}
END_TEST

START_TEST(thresholds_on_an_empty_campaign)
{
    tbt_campaign_stats *s = tbt_xcalloc(1, sizeof(*s));
    tbt_hist_init(&s->trace_duration);
    tbt_hist_init(&s->verdict_latency);
    static const struct {
        const char *text;
        bool holds;
        const char *observed;
    } cases[] = {
        /* a series metric over no samples never holds, whatever the op */
        {"p95(trace.duration) < 1s", false, "no samples"},
        {"p95(trace.duration) >= 0", false, "no samples"},
        {"mean(verdict.latency) != 1s", false, "no samples"},
        {"max(verdict.latency) < 1h", false, "no samples"},
        /* pass_ratio of no run is 0 */
        {"pass_ratio >= 0", true, "0"},
        {"pass_ratio > 0", false, "0"},
        {"runs == 0", true, "0"},
        {"runs >= 1", false, "0"},
    };
    tbt_buf b = TBT_BUF_INIT;
    for (size_t i = 0; i < TBT_ARRAY_LEN(cases); i++) {
        tbt_threshold t;
        ck_assert(tbt_threshold_parse(cases[i].text, &t, NULL) == 0);
        double observed = 0;
        bool holds = tbt_threshold_check(&t, s, &observed);
        tbt_buf_reset(&b);
        tbt_threshold_format_observed(&t, observed, &b);
        ck_assert_msg(holds == cases[i].holds && strcmp(tbt_buf_cstr(&b), cases[i].observed) == 0,
                      "%s: %s, observed %s", cases[i].text, holds ? "holds" : "fails", tbt_buf_cstr(&b));
        if (t.series != TBT_SERIES_NONE)
            ck_assert(isnan(observed));
        tbt_threshold_clear(&t);
    }
    /* durations beyond what an int64_t holds still format */
    tbt_threshold t;
    ck_assert(tbt_threshold_parse("max(trace.duration) < 1s", &t, NULL) == 0);
    tbt_hist_record(&s->trace_duration, UINT64_MAX);
    double observed;
    ck_assert(!tbt_threshold_check(&t, s, &observed));
    tbt_buf_reset(&b);
    tbt_threshold_format_observed(&t, observed, &b);
    ck_assert_str_eq(b.data, "18446744074s");
    tbt_threshold_clear(&t);
    tbt_buf_free(&b);
    free(s);
}
END_TEST

/* ---- thresholds: errors ------------------------------------------------- */
#define METRICS "pass_ratio, runs, passed, failed, errors, pN(SERIES), min(SERIES), max(SERIES), mean(SERIES)"
#define RATIO "a number in [0, 1] or a percentage like 99%"

static const struct {
    const char *text;
    int col;
    const char *msg; /* after "threshold 'TEXT', column N: " */
} error_cases[] = {
    {"", 1, "expected a metric (" METRICS "), found the end of the threshold"},
    {"   ", 1, "expected a metric (" METRICS "), found the end of the threshold"},
    {"<= 3s", 1, "expected a metric (" METRICS "), found '<='"},
    {"latency < 3s", 1, "unknown metric 'latency' (" METRICS ")"},
    {"P95(trace.duration) < 3s", 1, "unknown metric 'P95' (" METRICS ")"},
    {"trace.duration < 3s", 1, "unknown metric 'trace.duration' (" METRICS ")"},
    {"p95x(trace.duration) < 3s", 1, "invalid percentile 'p95x' (pN with 0 < N <= 100, e.g. p99.9)"},
    {"p9.9.9(trace.duration) < 3s", 1, "invalid percentile 'p9.9.9' (pN with 0 < N <= 100, e.g. p99.9)"},
    {"p0(trace.duration) < 3s", 1, "percentile 'p0' is out of range (pN with 0 < N <= 100, e.g. p99.9)"},
    {"p100.1(trace.duration) < 3s", 1, "percentile 'p100.1' is out of range (pN with 0 < N <= 100, e.g. p99.9)"},
    {"p95 < 3s", 5, "expected '(' after 'p95', found '<'"},
    {"mean", 5, "expected '(' after 'mean', found the end of the threshold"},
    {"p95(", 5, "expected a series (trace.duration, verdict.latency), found the end of the threshold"},
    {"p95() < 3s", 5, "expected a series (trace.duration, verdict.latency), found ')'"},
    {"p95(trace.duraton) < 3s", 5, "unknown series 'trace.duraton' (trace.duration, verdict.latency)"},
    {"max( latency ) < 3s", 6, "unknown series 'latency' (trace.duration, verdict.latency)"},
    {"mean(trace.duration < 3s", 21, "expected ')' after 'trace.duration', found '<'"},
    {"min(trace.durée) < 3s", 5, "unknown series 'trace.durée' (trace.duration, verdict.latency)"},
    {"mïn(trace.duration) < 3s", 1, "unknown metric 'mïn' (" METRICS ")"},
    {"max(trace.duration\t< 3s", 20, "expected ')' after 'trace.duration', found '<'"},
    {"max(trace.duration)", 20, "expected a comparison (<, <=, >, >=, ==, !=), found the end of the threshold"},
    {"p95(trace.duration) ≤ 3s", 21, "expected a comparison (<, <=, >, >=, ==, !=), found '≤'"},
    {"runs = 5", 6, "expected a comparison (<, <=, >, >=, ==, !=), found '='"},
    {"runs => 5", 6, "expected a comparison (<, <=, >, >=, ==, !=), found '=>'"},
    {"runs(trace.duration) >= 1", 5, "expected a comparison (<, <=, >, >=, ==, !=), found '(trace.duration)'"},
    {"runs 100", 6, "expected a comparison (<, <=, >, >=, ==, !=), found '100'"},
    {"runs >=", 8, "expected a count (a non-negative integer), found the end of the threshold"},
    {"pass_ratio >=  ", 14, "expected a ratio (" RATIO "), found the end of the threshold"},
    {"p95(trace.duration) <", 22, "expected a duration (e.g. 300ms, 1.5s, 2m, 250us), found the end of the threshold"},
    {"p95(trace.duration) < 300", 23, "duration '300' needs a unit (ns, us, ms, s, m, h)"},
    {"p95(trace.duration) < 1.5", 23, "duration '1.5' needs a unit (ns, us, ms, s, m, h)"},
    {"p95(trace.duration) < 3 parsecs", 23, "invalid duration '3 parsecs' (e.g. 300ms, 1.5s, 2m, 250us)"},
    {"p95(trace.duration) < 3sec", 23, "invalid duration '3sec' (e.g. 300ms, 1.5s, 2m, 250us)"},
    {"p95(trace.duration) < -1s", 23, "duration '-1s' is negative"},
    {"p95(trace.duration) < 300ms and more", 29, "unexpected 'and' after the value"},
    {"mean(verdict.latency) == 5µs x", 30, "unexpected 'x' after the value"},
    {"pass_ratio >= 1.5", 15, "ratio 1.5 is out of range (" RATIO ")"},
    {"pass_ratio >= 99", 15, "ratio 99 is out of range (" RATIO ")"},
    {"pass_ratio >= 150%", 15, "percentage 150% is out of range (0% to 100%)"},
    {"pass_ratio >= high", 15, "invalid ratio 'high' (" RATIO ")"},
    {"pass_ratio >= -0.5", 15, "invalid ratio '-0.5' (" RATIO ")"},
    {"pass_ratio >= 1e-2", 15, "invalid ratio '1e-2' (" RATIO ")"},
    {"pass_ratio >= %", 15, "invalid ratio '%' (" RATIO ")"},
    {"pass_ratio >= 0.99 %", 20, "unexpected '%' after the value"},
    {"runs >= -1", 9, "invalid count '-1' (a non-negative integer)"},
    {"runs >= 1.5", 9, "invalid count '1.5' (a non-negative integer)"},
    {"runs >= 1k", 9, "invalid count '1k' (a non-negative integer)"},
    {"runs >= 18446744073709551616", 9, "count 18446744073709551616 is too large (at most 18446744073709551615)"},
    {"failed == 0 0", 13, "unexpected '0' after the value"},
    {"errors <= 2 # at most two", 13, "unexpected '#' after the value"},
};

START_TEST(threshold_errors)
{
    for (size_t i = 0; i < TBT_ARRAY_LEN(error_cases); i++) {
        tbt_threshold t;
        memset(&t, 0xAB, sizeof(t));
        tbt_error err = TBT_ERROR_INIT;
        const char *text = error_cases[i].text;
        ck_assert_int_eq(tbt_threshold_parse(text, &t, &err), -EINVAL);
        /* blanks are shown as spaces */
        char *shown = tbt_xstrdup(text);
        for (char *c = shown; *c; c++)
            if (*c == '\t' || *c == '\n')
                *c = ' ';
        char *want = tbt_xasprintf("threshold '%s', column %d: %s", shown, error_cases[i].col, error_cases[i].msg);
        ck_assert_str_eq(err.msg, want);
        ck_assert_int_eq(err.code, -EINVAL);
        ck_assert_int_eq(err.col, error_cases[i].col);
        ck_assert_int_eq(err.caret, error_cases[i].col - 1);
        ck_assert_int_eq(err.line, 0);
        ck_assert_ptr_null(err.file);
        ck_assert_str_eq(err.source_line, shown);
        /* *out is untouched on failure */
        unsigned char pattern[sizeof(t)];
        memset(pattern, 0xAB, sizeof(pattern));
        ck_assert(memcmp(&t, pattern, sizeof(t)) == 0);
        free(want);
        free(shown);
        tbt_error_clear(&err);
        /* err may be NULL */
        ck_assert_int_eq(tbt_threshold_parse(text, &t, NULL), -EINVAL);
    }
}
END_TEST

START_TEST(threshold_error_display)
{
    tbt_threshold t;
    tbt_error err = TBT_ERROR_INIT;
    tbt_buf b = TBT_BUF_INIT;

    /* command line: the text, its column and a caret */
    ck_assert_int_eq(tbt_threshold_parse("p95(trace.duraton) < 3s", &t, &err), -EINVAL);
    tbt_error_format(&err, &b);
    ck_assert_str_eq(b.data, "threshold 'p95(trace.duraton) < 3s', column 5: unknown series 'trace.duraton' "
                             "(trace.duration, verdict.latency)\n"
                             "    p95(trace.duraton) < 3s\n"
                             "        ^\n");

    /* from a file: file:line:col of the fault as well */
    tbt_loc loc = {"campaign.yaml", 7, 9, TBT_STYLE_PLAIN};
    ck_assert_int_eq(tbt_threshold_parse_at("p95(trace.duraton) < 3s", &loc, &t, &err), -EINVAL);
    ck_assert_str_eq(err.file, "campaign.yaml");
    ck_assert_int_eq(err.line, 7);
    ck_assert_int_eq(err.col, 13);
    tbt_buf_reset(&b);
    tbt_error_format(&err, &b);
    ck_assert_str_eq(b.data, "campaign.yaml:7:13: threshold 'p95(trace.duraton) < 3s', column 5: unknown series "
                             "'trace.duraton' (trace.duration, verdict.latency)\n"
                             "    p95(trace.duraton) < 3s\n"
                             "        ^\n");
    loc.style = TBT_STYLE_DOUBLE;
    ck_assert_int_eq(tbt_threshold_parse_at("runs >= x", &loc, &t, &err), -EINVAL);
    ck_assert_int_eq(err.col, 18); /* the opening quote, then column 9 */
    ck_assert_str_eq(err.msg, "threshold 'runs >= x', column 9: invalid count 'x' (a non-negative integer)");
    ck_assert_int_eq(tbt_threshold_parse_at("runs >= 1", &loc, &t, &err), 0);
    tbt_threshold_clear(&t);

    /* over-long text: refused, quoted only in part */
    char *big = tbt_xmalloc(TBT_THRESHOLD_MAX_TEXT + 2);
    memset(big, 'a', TBT_THRESHOLD_MAX_TEXT + 1);
    big[TBT_THRESHOLD_MAX_TEXT + 1] = '\0';
    ck_assert_int_eq(tbt_threshold_parse(big, &t, &err), -EINVAL);
    ck_assert_str_eq(err.msg, "threshold 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...', column 1025: longer than the "
                              "1024-byte limit");
    ck_assert_int_eq(err.col, 1025);
    ck_assert_ptr_null(err.source_line);
    /* exactly at the limit it is read (and here refused for its content) */
    big[TBT_THRESHOLD_MAX_TEXT] = '\0';
    ck_assert_int_eq(tbt_threshold_parse(big, &t, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "column 1: unknown metric 'aaaa"));
    free(big);

    tbt_error_clear(&err);
    tbt_buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hist");
    TCase *tc = tcase_create("histogram");
    tcase_add_test(tc, buckets_tile_the_range);
    tcase_add_test(tc, every_value_falls_in_its_bucket);
    tcase_add_test(tc, percentiles_match_nearest_rank);
    tcase_add_test(tc, percentile_ranks_are_exact_for_decimals);
    tcase_add_test(tc, p0_and_p100_are_exact);
    tcase_add_test(tc, merge_equals_recording_everything);
    tcase_add_test(tc, empty_histogram);
    tcase_add_test(tc, huge_values);
    tcase_add_test(tc, json_output);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("threshold");
    tcase_add_test(tt, thresholds_parse);
    tcase_add_test(tt, thresholds_check);
    tcase_add_test(tt, thresholds_on_an_empty_campaign);
    tcase_add_test(tt, threshold_errors);
    tcase_add_test(tt, threshold_error_display);
    suite_add_tcase(s, tt);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
