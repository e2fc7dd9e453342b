/*
 * html_fixture.c - inputs for tests/integration/test_html_report.sh:
 *
 *   html_fixture trace N SEED OUT.json   a synthetic N-span trace as OTLP/JSON
 *                                         (tbt_otlp_generate, deterministic)
 *   html_fixture campaign OUT.html        a campaign report (two environments,
 *                                         histograms, thresholds, failures)
 *
 * The campaign report is built from a hand-filled tbt_campaign_result, as
 * tbt run's coordinator would fill it, so the browser check sees the
 * campaign section without a Kafka cluster.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_commands.h"
#include "tbt_otlp.h"
#include "tbt_report_html.h"

static int write_out(const char *path, tbt_buf *b)
{
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_write_file(path, tbt_buf_cstr(b), b->len, &err);
    if (rc != 0)
        fprintf(stderr, "html_fixture: %s\n", err.msg);
    tbt_error_clear(&err);
    return rc == 0 ? 0 : 1;
}

static int gen_trace(const char *n_text, const char *seed_text, const char *path)
{
    char *end;
    unsigned long n = strtoul(n_text, &end, 10);
    if (*end || n == 0 || n > 1000000) {
        fprintf(stderr, "html_fixture: span count must be 1..1000000, got '%s'\n", n_text);
        return 2;
    }
    unsigned long seed = strtoul(seed_text, &end, 10);
    if (*end) {
        fprintf(stderr, "html_fixture: bad seed '%s'\n", seed_text);
        return 2;
    }
    tbt_trace *t = tbt_otlp_generate(n, (unsigned)seed);
    tbt_buf b = TBT_BUF_INIT;
    int rc = tbt_otlp_encode(t, TBT_OTLP_JSON, &b);
    if (rc == 0)
        rc = write_out(path, &b);
    else
        fprintf(stderr, "html_fixture: encoding failed (%d)\n", rc);
    tbt_buf_free(&b);
    tbt_trace_free(t);
    return rc ? 1 : 0;
}

static void fill_row(tbt_campaign_row *r, const char *env, uint64_t runs, uint64_t failed, uint64_t base_ns)
{
    r->test = "Checkout under load";
    r->file = "examples/checkout.yaml";
    r->environment = env;
    r->stats.runs = runs;
    r->stats.failed = failed;
    r->stats.passed = runs - failed;
    tbt_hist_init(&r->stats.trace_duration);
    tbt_hist_init(&r->stats.verdict_latency);
    /* a skewed latency distribution with a slow tail */
    uint64_t x = 88172645463325252ull;
    for (uint64_t i = 0; i < runs; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t jitter = x % base_ns;
        uint64_t v = base_ns + jitter / 2 + (i % 20 == 0 ? 3 * base_ns : 0);
        tbt_hist_record(&r->stats.trace_duration, v);
        tbt_hist_record(&r->stats.verdict_latency, 200000 + x % 300000);
    }
    r->elapsed_ns = 10ull * 1000000000ull;
    if (failed) {
        r->n_failures = 2;
        r->failures = tbt_xcalloc(2, sizeof(*r->failures));
        r->failures[0].spec = tbt_xstrdup("The payment is processed quickly");
        r->failures[0].example = tbt_xstrdup("attr:tracetest.span.duration < 300ms (observed 603.1ms)");
        r->failures[0].count = failed - failed / 4;
        r->failures[1].spec = tbt_xstrdup("Database calls are fast");
        r->failures[1].example = tbt_xstrdup("attr:tracetest.span.duration < 50ms (observed 96.2ms)");
        r->failures[1].count = failed / 4;
    }
}

static int gen_campaign(const char *path)
{
    tbt_campaign_result c;
    memset(&c, 0, sizeof(c));
    c.n_rows = 2;
    c.rows = tbt_xcalloc(2, sizeof(*c.rows));
    fill_row(&c.rows[0], "eu-west", 500, 0, 120000000ull);
    fill_row(&c.rows[1], "us-east", 500, 40, 250000000ull);
    const char *texts[] = {"pass_ratio >= 0.95", "p95(trace.duration) < 400ms"};
    tbt_threshold th[2];
    for (size_t i = 0; i < 2; i++) {
        tbt_error err = TBT_ERROR_INIT;
        if (tbt_threshold_parse(texts[i], &th[i], &err) != 0) {
            fprintf(stderr, "html_fixture: %s\n", err.msg);
            return 1;
        }
    }
    tbt_buf b = TBT_BUF_INIT;
    tbt_report_html(NULL, &c, th, 2, &b);
    int rc = write_out(path, &b);
    tbt_buf_free(&b);
    for (size_t i = 0; i < 2; i++)
        tbt_threshold_clear(&th[i]);
    tbt_campaign_result_clear(&c);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "trace") == 0)
        return gen_trace(argv[2], argv[3], argv[4]);
    if (argc == 3 && strcmp(argv[1], "campaign") == 0)
        return gen_campaign(argv[2]);
    fprintf(stderr, "usage: html_fixture trace N SEED OUT.json | html_fixture campaign OUT.html\n");
    return 2;
}
