/* fuzz_threshold.c - the threshold parser on arbitrary text, each parsed
 * threshold checked against a campaign and an empty one; and the input's
 * bytes as histogram values, with the histogram's invariants asserted
 * (bucket bounds, percentiles ordered within [min, max], merge exact). */
#include <stdlib.h>
#include <string.h>

#include "tbt_threshold.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tbt_campaign_stats *campaign, *empty;
static tbt_hist *ha, *hb, *hall;

#define CHECK(c)                                                                                                       \
    do {                                                                                                               \
        if (!(c))                                                                                                      \
            abort();                                                                                                   \
    } while (0)

static void setup(void)
{
    campaign = tbt_xcalloc(1, sizeof(*campaign));
    campaign->runs = 1000;
    campaign->passed = 990;
    campaign->failed = 7;
    campaign->errors = 3;
    for (uint64_t i = 1; i <= 1000; i++) {
        tbt_hist_record(&campaign->trace_duration, i * i * 997);
        tbt_hist_record(&campaign->verdict_latency, 250000 + i * 1000);
    }
    empty = tbt_xcalloc(1, sizeof(*empty));
    ha = tbt_xcalloc(1, sizeof(*ha));
    hb = tbt_xcalloc(1, sizeof(*hb));
    hall = tbt_xcalloc(1, sizeof(*hall));
}

static void check_threshold(const tbt_threshold *t, const tbt_campaign_stats *s)
{
    double observed;
    bool holds = tbt_threshold_check(t, s, &observed);
    CHECK(tbt_threshold_check(t, s, NULL) == holds);
    tbt_buf b = TBT_BUF_INIT;
    tbt_threshold_format_observed(t, observed, &b);
    CHECK(b.len > 0);
    tbt_buf_free(&b);
}

static void fuzz_threshold(const uint8_t *data, size_t size)
{
    char *src = tbt_xstrndup((const char *)data, size);
    tbt_threshold t;
    tbt_error err = TBT_ERROR_INIT;
    tbt_loc loc = {"campaign.yaml", 4, 11, TBT_STYLE_DOUBLE};
    int rc = tbt_threshold_parse_at(src, (size & 1) ? &loc : NULL, &t, &err);
    if (rc == 0) {
        CHECK(strcmp(t.text, src) == 0);
        CHECK(t.op <= TBT_OP_NE);
        if (t.metric == TBT_THRESHOLD_PERCENTILE)
            CHECK(t.percentile > 0 && t.percentile <= 100);
        if (t.metric == TBT_THRESHOLD_PASS_RATIO)
            CHECK(t.value.ratio >= 0 && t.value.ratio <= 1);
        check_threshold(&t, campaign);
        check_threshold(&t, empty);
        tbt_threshold_clear(&t);
    } else {
        CHECK(rc < 0 && err.msg && strncmp(err.msg, "threshold '", 11) == 0 && err.col >= 1);
        tbt_buf b = TBT_BUF_INIT;
        tbt_error_format(&err, &b);
        tbt_buf_free(&b);
    }
    tbt_error_clear(&err);
    free(src);
}

static void fuzz_hist(const uint8_t *data, size_t size)
{
    tbt_hist_init(ha);
    tbt_hist_init(hb);
    tbt_hist_init(hall);
    for (size_t i = 0; i + 8 <= size; i += 8) {
        uint64_t v;
        memcpy(&v, data + i, 8);
        v >>= data[i] % 64; /* reach every magnitude */
        size_t k = tbt_hist_bucket_index(v);
        CHECK(k < TBT_HIST_BUCKETS && tbt_hist_bucket_low(k) <= v && v <= tbt_hist_bucket_high(k));
        tbt_hist_record((i / 8) % 3 ? ha : hb, v);
        tbt_hist_record(hall, v);
    }
    tbt_hist_merge(ha, hb);
    CHECK(memcmp(ha->counts, hall->counts, sizeof(ha->counts)) == 0);
    CHECK(ha->total == hall->total && ha->min == hall->min && ha->max == hall->max);
    if (hall->total == 0) {
        CHECK(tbt_hist_percentile(hall, 50) == 0);
        return;
    }
    CHECK(tbt_hist_percentile(hall, 0) == hall->min);
    CHECK(tbt_hist_percentile(hall, 100) == hall->max);
    static const double ps[] = {0, 0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100};
    uint64_t prev = 0;
    for (size_t i = 0; i < TBT_ARRAY_LEN(ps); i++) {
        uint64_t v = tbt_hist_percentile(hall, ps[i]);
        CHECK(v >= hall->min && v <= hall->max && v >= prev);
        CHECK(tbt_hist_percentile(ha, ps[i]) == v);
        prev = v;
    }
    tbt_buf b = TBT_BUF_INIT;
    tbt_hist_to_json(hall, &b);
    CHECK(b.len > 0 && b.data[b.len - 1] == '}');
    tbt_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!campaign)
        setup();
    fuzz_threshold(data, size);
    fuzz_hist(data, size);
    return 0;
}
