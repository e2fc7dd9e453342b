/* test_metrics.c - the metrics registry and /metrics: the exposition text
 * exactly (labels escaped, values, HELP escaping, cumulative histogram
 * buckets with +Inf, _sum, _count), families shared and clashing,
 * collectors counted once, increments from many threads summing exactly,
 * the HTTP endpoint on a free port (200 /metrics and /healthz, 404, 405),
 * and the OTLP/HTTP receiver counting spans and refused requests. */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_config.h"
#include "tbt_metrics.h"
#include "tbt_metrics_http.h"
#include "tbt_receiver.h"

/* The exposition without the two families every registry starts with. */
static char *expose_own(tbt_metrics *m)
{
    tbt_buf b = TBT_BUF_INIT;
    tbt_metrics_expose(m, &b);
    const char *s = tbt_buf_cstr(&b);
    ck_assert_msg(strncmp(s, "# HELP process_start_time_seconds ", 34) == 0, "%s", s);
    const char *bi = "# TYPE tbt_build_info gauge\ntbt_build_info{version=\"" TBT_VERSION "\"} 1\n";
    const char *p = strstr(s, bi);
    ck_assert_msg(p != NULL, "%s", s);
    char *own = tbt_xstrdup(p + strlen(bi));
    tbt_buf_free(&b);
    return own;
}

START_TEST(counters_and_gauges_exact)
{
    tbt_metrics *m = tbt_metrics_new();
    static const char *const labels[] = {"path", "code", NULL};
    tbt_metric_family *f = tbt_metrics_family(m, TBT_METRIC_COUNTER, "t_requests_total", "Requests.", labels, NULL, 0);
    ck_assert_ptr_nonnull(f);
    const char *v1[] = {"/a", "200"};
    const char *v2[] = {"C:\\dir \"quoted\"\nnext", "500"};
    tbt_counter *c1 = tbt_metrics_counter(f, v1), *c2 = tbt_metrics_counter(f, v2);
    ck_assert_ptr_eq(tbt_metrics_counter(f, v1), c1); /* one child per label values */
    tbt_counter_add(c1, 3);
    tbt_counter_add(c1, 4);
    tbt_counter_add(c2, 1);
    tbt_metric_family *g = tbt_metrics_family(m, TBT_METRIC_GAUGE, "t_temperature", "Line one\nback\\slash \"q\".",
                                              NULL, NULL, 0);
    tbt_gauge_set(tbt_metrics_gauge(g, NULL), 0.1);
    tbt_gauge_add(tbt_metrics_gauge(g, NULL), -2.6);
    tbt_metric_family *u = tbt_metrics_family(m, TBT_METRIC_COUNTER, "t_untouched_total", "Never counted.", NULL,
                                              NULL, 0);
    ck_assert_ptr_nonnull(u);
    static const char *const one[] = {"k", NULL};
    tbt_metric_family *e = tbt_metrics_family(m, TBT_METRIC_GAUGE, "t_empty", "No child yet.", one, NULL, 0);
    ck_assert_ptr_nonnull(e);
    char *text = expose_own(m);
    ck_assert_str_eq(text, "# HELP t_requests_total Requests.\n"
                           "# TYPE t_requests_total counter\n"
                           "t_requests_total{path=\"/a\",code=\"200\"} 7\n"
                           "t_requests_total{path=\"C:\\\\dir \\\"quoted\\\"\\nnext\",code=\"500\"} 1\n"
                           "# HELP t_temperature Line one\\nback\\\\slash \"q\".\n"
                           "# TYPE t_temperature gauge\n"
                           "t_temperature -2.5\n"
                           "# HELP t_untouched_total Never counted.\n"
                           "# TYPE t_untouched_total counter\n"
                           "t_untouched_total 0\n"
                           "# HELP t_empty No child yet.\n"
                           "# TYPE t_empty gauge\n");
    free(text);
    tbt_metrics_free(m);
}
END_TEST

START_TEST(values_are_formatted_exactly)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0, "0"}, {3, "3"}, {-7, "-7"}, {0.1, "0.1"}, {1e-7, "1e-07"}, {2.5e20, "2.5e+20"},
        {1.0 / 3.0, "0.3333333333333333"}, {1e300 * 1e300, "+Inf"}, {-1e300 * 1e300, "-Inf"},
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(cases); i++) {
        tbt_buf b = TBT_BUF_INIT;
        tbt_metrics_format_value(&b, cases[i].v);
        ck_assert_str_eq(tbt_buf_cstr(&b), cases[i].text);
        tbt_buf_free(&b);
    }
    tbt_buf b = TBT_BUF_INIT;
    tbt_metrics_format_value(&b, strtod("nan", NULL));
    ck_assert_str_eq(tbt_buf_cstr(&b), "NaN");
    tbt_buf_free(&b);
}
END_TEST

START_TEST(histograms_are_cumulative)
{
    tbt_metrics *m = tbt_metrics_new();
    static const double bounds[] = {0.1, 0.5, 1};
    static const char *const labels[] = {"trigger", NULL};
    tbt_metric_family *f = tbt_metrics_family(m, TBT_METRIC_HISTOGRAM, "t_duration_seconds", "Durations.", labels,
                                              bounds, 3);
    const char *http[] = {"http"}, *grpc[] = {"grpc"};
    tbt_histogram *h = tbt_metrics_histogram(f, http);
    tbt_histogram_observe_ns(h, 50000000);   /* 0.05 */
    tbt_histogram_observe_ns(h, 100000000);  /* 0.1: on the bound, counts in le="0.1" */
    tbt_histogram_observe_ns(h, 300000000);  /* 0.3 */
    tbt_histogram_observe_ns(h, 2000000000); /* 2: only in +Inf */
    tbt_metrics_histogram(f, grpc);
    char *text = expose_own(m);
    ck_assert_str_eq(text, "# HELP t_duration_seconds Durations.\n"
                           "# TYPE t_duration_seconds histogram\n"
                           "t_duration_seconds_bucket{trigger=\"http\",le=\"0.1\"} 2\n"
                           "t_duration_seconds_bucket{trigger=\"http\",le=\"0.5\"} 3\n"
                           "t_duration_seconds_bucket{trigger=\"http\",le=\"1\"} 3\n"
                           "t_duration_seconds_bucket{trigger=\"http\",le=\"+Inf\"} 4\n"
                           "t_duration_seconds_sum{trigger=\"http\"} 2.45\n"
                           "t_duration_seconds_count{trigger=\"http\"} 4\n"
                           "t_duration_seconds_bucket{trigger=\"grpc\",le=\"0.1\"} 0\n"
                           "t_duration_seconds_bucket{trigger=\"grpc\",le=\"0.5\"} 0\n"
                           "t_duration_seconds_bucket{trigger=\"grpc\",le=\"1\"} 0\n"
                           "t_duration_seconds_bucket{trigger=\"grpc\",le=\"+Inf\"} 0\n"
                           "t_duration_seconds_sum{trigger=\"grpc\"} 0\n"
                           "t_duration_seconds_count{trigger=\"grpc\"} 0\n");
    free(text);
    /* without labels, the default buckets */
    tbt_metric_family *d = tbt_metrics_family(m, TBT_METRIC_HISTOGRAM, "t_default_seconds", "D.", NULL, NULL, 0);
    tbt_histogram_observe_ns(tbt_metrics_histogram(d, NULL), 7000000);
    tbt_buf b = TBT_BUF_INIT;
    tbt_metrics_expose(m, &b);
    ck_assert_ptr_nonnull(strstr(tbt_buf_cstr(&b), "t_default_seconds_bucket{le=\"0.005\"} 0\n"
                                                   "t_default_seconds_bucket{le=\"0.01\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(tbt_buf_cstr(&b), "t_default_seconds_bucket{le=\"60\"} 1\n"
                                                   "t_default_seconds_bucket{le=\"+Inf\"} 1\n"
                                                   "t_default_seconds_sum 0.007\n"
                                                   "t_default_seconds_count 1\n"));
    tbt_buf_free(&b);
    tbt_metrics_free(m);
}
END_TEST

START_TEST(families_are_shared_or_refused)
{
    tbt_metrics *m = tbt_metrics_new();
    static const char *const l1[] = {"environment", NULL};
    static const char *const l2[] = {"env", NULL};
    static const char *const le[] = {"le", NULL};
    static const char *const bad[] = {"__reserved", NULL};
    tbt_metric_family *f = tbt_metrics_family(m, TBT_METRIC_COUNTER, "t_jobs_total", "Jobs.", l1, NULL, 0);
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_eq(tbt_metrics_family(m, TBT_METRIC_COUNTER, "t_jobs_total", "Other help.", l1, NULL, 0), f);
    ck_assert_ptr_null(tbt_metrics_family(m, TBT_METRIC_GAUGE, "t_jobs_total", "Jobs.", l1, NULL, 0));
    ck_assert_ptr_null(tbt_metrics_family(m, TBT_METRIC_COUNTER, "t_jobs_total", "Jobs.", l2, NULL, 0));
    ck_assert_ptr_null(tbt_metrics_family(m, TBT_METRIC_COUNTER, "t_jobs_total", "Jobs.", NULL, NULL, 0));
    ck_assert_ptr_null(tbt_metrics_family(m, TBT_METRIC_COUNTER, "9starts_with_digit", "x", NULL, NULL, 0));
    ck_assert_ptr_null(tbt_metrics_family(m, TBT_METRIC_COUNTER, "has-dash", "x", NULL, NULL, 0));
    ck_assert_ptr_null(tbt_metrics_family(m, TBT_METRIC_HISTOGRAM, "t_h_seconds", "x", le, NULL, 0));
    ck_assert_ptr_null(tbt_metrics_family(m, TBT_METRIC_COUNTER, "t_c_total", "x", bad, NULL, 0));
    static const double unsorted[] = {1, 0.5};
    ck_assert_ptr_null(tbt_metrics_family(m, TBT_METRIC_HISTOGRAM, "t_h_seconds", "x", NULL, unsorted, 2));
    /* a child of the wrong type, or without its label values */
    ck_assert_ptr_null(tbt_metrics_gauge(f, (const char *[]){"eu"}));
    ck_assert_ptr_null(tbt_metrics_counter(f, NULL));
    ck_assert_ptr_null(tbt_metrics_counter(NULL, NULL));
    tbt_counter_add(NULL, 1); /* NULL cells count nothing */
    tbt_gauge_set(NULL, 1);
    tbt_histogram_observe_ns(NULL, 1);
    tbt_metrics_free(m);
}
END_TEST

static void collect_two(void *ud, tbt_metric_sink *s)
{
    const char *a[] = {"a\"b"}, *b[] = {(const char *)ud};
    tbt_metric_sink_add(s, a, 1);
    tbt_metric_sink_add(s, b, 2.5);
}

static void collect_one(void *ud, tbt_metric_sink *s)
{
    tbt_metric_sink_add(s, NULL, *(double *)ud);
}

START_TEST(collectors_are_called_once_per_scrape)
{
    tbt_metrics *m = tbt_metrics_new();
    static const char *const l[] = {"part", NULL};
    tbt_metric_family *f = tbt_metrics_family(m, TBT_METRIC_GAUGE, "t_lag", "Lag.", l, NULL, 0);
    ck_assert_int_eq(tbt_metrics_collector_add(f, collect_two, "x"), 0);
    ck_assert_int_eq(tbt_metrics_collector_add(f, collect_two, "x"), 0); /* the same twice: once */
    double v = 42;
    tbt_metric_family *u = tbt_metrics_family(m, TBT_METRIC_GAUGE, "t_bytes", "Bytes.", NULL, NULL, 0);
    tbt_metrics_collector_add(u, collect_one, &v);
    tbt_metric_family *h = tbt_metrics_family(m, TBT_METRIC_HISTOGRAM, "t_h_seconds", "H.", NULL, NULL, 0);
    ck_assert_int_eq(tbt_metrics_collector_add(h, collect_one, &v), -EINVAL);
    char *text = expose_own(m);
    ck_assert_ptr_nonnull(strstr(text, "# TYPE t_lag gauge\nt_lag{part=\"a\\\"b\"} 1\nt_lag{part=\"x\"} 2.5\n"
                                       "# HELP t_bytes Bytes.\n# TYPE t_bytes gauge\nt_bytes 42\n# HELP"));
    free(text);
    tbt_metrics_collector_remove(f, collect_two, "x");
    text = expose_own(m);
    ck_assert_ptr_nonnull(strstr(text, "t_lag{part=\"x\"} 2.5\n"));
    free(text);
    tbt_metrics_collector_remove(f, collect_two, "x");
    tbt_metrics_collector_remove(u, collect_one, &v);
    text = expose_own(m);
    ck_assert_ptr_null(strstr(text, "t_lag{"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE t_bytes gauge\nt_bytes 0\n")); /* its own child again */
    free(text);
    tbt_metrics_free(m);
}
END_TEST

/* ---- threads ----------------------------------------------------------------- */
#define THREADS 8
#define ROUNDS 100000

typedef struct hammer {
    tbt_metric_family *cf, *hf;
    tbt_gauge *g;
    int id;
} hammer;

static void *hammer_main(void *p)
{
    hammer *h = p;
    /* every thread looks its children up itself: creation races too */
    const char *v[] = {h->id % 2 ? "odd" : "even"};
    tbt_counter *c = tbt_metrics_counter(h->cf, v);
    tbt_histogram *hist = tbt_metrics_histogram(h->hf, NULL);
    for (int i = 0; i < ROUNDS; i++) {
        tbt_counter_add(c, 1);
        tbt_histogram_observe_ns(hist, (uint64_t)(i % 3) * 1000000000ull); /* 0, 1, 2 s */
        tbt_gauge_add(h->g, 1);
    }
    return NULL;
}

static void *scraper_main(void *p)
{
    tbt_metrics *m = p;
    for (int i = 0; i < 50; i++) {
        tbt_buf b = TBT_BUF_INIT;
        tbt_metrics_expose(m, &b);
        tbt_buf_free(&b);
    }
    return NULL;
}

START_TEST(concurrent_updates_sum_exactly)
{
    tbt_metrics *m = tbt_metrics_new();
    static const char *const l[] = {"parity", NULL};
    static const double bounds[] = {0.5, 1.5};
    hammer hs[THREADS];
    pthread_t t[THREADS], scraper;
    tbt_metric_family *cf = tbt_metrics_family(m, TBT_METRIC_COUNTER, "t_ops_total", "Ops.", l, NULL, 0);
    tbt_metric_family *hf = tbt_metrics_family(m, TBT_METRIC_HISTOGRAM, "t_op_seconds", "Op.", NULL, bounds, 2);
    tbt_gauge *g = tbt_metrics_gauge(tbt_metrics_family(m, TBT_METRIC_GAUGE, "t_level", "L.", NULL, NULL, 0), NULL);
    pthread_create(&scraper, NULL, scraper_main, m);
    for (int i = 0; i < THREADS; i++) {
        hs[i] = (hammer){cf, hf, g, i};
        pthread_create(&t[i], NULL, hammer_main, &hs[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_join(scraper, NULL);
    char *text = expose_own(m);
    char want[2048];
    /* rounds % 3: 33,334 zeros, 33,333 ones, 33,333 twos per thread */
    unsigned long long zeros = THREADS * 33334ull, ones = THREADS * 33333ull, twos = THREADS * 33333ull;
    /* children are listed in creation order, which the threads race for */
    snprintf(want, sizeof(want), "t_ops_total{parity=\"even\"} %llu\n", THREADS / 2ull * ROUNDS);
    ck_assert_msg(strstr(text, want) != NULL, "%s", text);
    snprintf(want, sizeof(want), "t_ops_total{parity=\"odd\"} %llu\n", THREADS / 2ull * ROUNDS);
    ck_assert_msg(strstr(text, want) != NULL, "%s", text);
    snprintf(want, sizeof(want),
             "t_op_seconds_bucket{le=\"0.5\"} %llu\nt_op_seconds_bucket{le=\"1.5\"} %llu\n"
             "t_op_seconds_bucket{le=\"+Inf\"} %llu\nt_op_seconds_sum %llu\nt_op_seconds_count %llu\n",
             zeros, zeros + ones, zeros + ones + twos, ones + 2 * twos, zeros + ones + twos);
    ck_assert_msg(strstr(text, want) != NULL, "%s", text);
    snprintf(want, sizeof(want), "t_level %llu\n", (unsigned long long)THREADS * ROUNDS);
    ck_assert_msg(strstr(text, want) != NULL, "%s", text);
    free(text);
    tbt_metrics_free(m);
}
END_TEST

/* ---- HTTP ---------------------------------------------------------------------- */
typedef struct http_resp {
    long status;
    tbt_buf body;
    char ctype[256], allow[256];
} http_resp;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    tbt_buf_append(&((http_resp *)ud)->body, p, size * n);
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    http_resp *r = ud;
    size_t len = size * n;
    char line[256];
    snprintf(line, sizeof(line), "%.*s", (int)(len < 255 ? len : 255), p);
    line[strcspn(line, "\r\n")] = '\0';
    if (strncasecmp(line, "Content-Type: ", 14) == 0)
        snprintf(r->ctype, sizeof(r->ctype), "%s", line + 14);
    if (strncasecmp(line, "Allow: ", 7) == 0)
        snprintf(r->allow, sizeof(r->allow), "%s", line + 7);
    return len;
}

static void request(const char *method, uint16_t port, const char *path, const char *ctype, const char *body,
                    http_resp *r)
{
    memset(r, 0, sizeof(*r));
    CURL *h = curl_easy_init();
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    struct curl_slist *hdrs = NULL;
    if (ctype) {
        char hl[128];
        snprintf(hl, sizeof(hl), "Content-Type: %s", ctype);
        hdrs = curl_slist_append(hdrs, hl);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(h);
    ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
}

START_TEST(endpoint_serves_metrics)
{
    tbt_metrics *m = tbt_metrics_new();
    tbt_counter_add(tbt_metrics_counter(tbt_metrics_family(m, TBT_METRIC_COUNTER, "t_hits_total", "Hits.", NULL,
                                                           NULL, 0),
                                        NULL),
                    5);
    tbt_metrics_http *mh = NULL;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_metrics_http_start(m, "127.0.0.1", 0, &mh, &err), 0);
    uint16_t port = tbt_metrics_http_port(mh);
    ck_assert_uint_gt(port, 0);
    http_resp r;
    request("GET", port, "/metrics", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
    tbt_buf want = TBT_BUF_INIT;
    tbt_metrics_expose(m, &want);
    ck_assert_str_eq(tbt_buf_cstr(&r.body), tbt_buf_cstr(&want));
    ck_assert_ptr_nonnull(strstr(tbt_buf_cstr(&r.body), "\nt_hits_total 5\n"));
    tbt_buf_free(&want);
    tbt_buf_free(&r.body);
    request("HEAD", port, "/metrics", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    tbt_buf_free(&r.body);
    request("GET", port, "/healthz", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(tbt_buf_cstr(&r.body), "ok\n");
    tbt_buf_free(&r.body);
    request("GET", port, "/metrics/x", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    tbt_buf_free(&r.body);
    request("GET", port, "/", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    tbt_buf_free(&r.body);
    request("POST", port, "/metrics", "text/plain", "a body to be thrown away", &r);
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(r.allow, "GET, HEAD");
    tbt_buf_free(&r.body);
    request("DELETE", port, "/healthz", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 405);
    tbt_buf_free(&r.body);
    tbt_metrics_http_stop(mh);
    /* a bad address is an error that names it */
    ck_assert_int_eq(tbt_metrics_http_start(m, "no-such-host.invalid", 0, &mh, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "no-such-host.invalid"));
    tbt_error_clear(&err);
    tbt_metrics_free(m);
}
END_TEST

START_TEST(receiver_counts_spans_and_refusals)
{
    tbt_metrics *m = tbt_metrics_new();
    tbt_receiver_metrics rm;
    tbt_receiver_metrics_init(&rm, m, "http");
    tbt_store_limits lim = tbt_store_default_limits();
    tbt_store *s = tbt_store_new(&lim);
    tbt_metrics_store_register(m, s, &lim);
    tbt_metrics_store_register(m, s, &lim); /* twice: reported once */
    tbt_receiver_opts ro = {.bind_addr = "127.0.0.1", .port = 0, .metrics = &rm};
    tbt_http_receiver *r = NULL;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_http_receiver_start(s, &ro, &r, &err), 0);
    uint16_t port = tbt_http_receiver_port(r);
    const char *json = "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
                       "{\"stringValue\":\"svc\"}}]},\"scopeSpans\":[{\"spans\":["
                       "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060708\","
                       "\"name\":\"a\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\"},"
                       "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060709\","
                       "\"name\":\"b\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\"}]}]}]}";
    http_resp h;
    request("POST", port, "/v1/traces", "application/json", json, &h);
    ck_assert_int_eq(h.status, 200);
    tbt_buf_free(&h.body);
    request("POST", port, "/v1/traces", "application/json", "{not json", &h);
    ck_assert_int_eq(h.status, 400);
    tbt_buf_free(&h.body);
    request("POST", port, "/v1/traces", "text/csv", "a,b", &h);
    ck_assert_int_eq(h.status, 415);
    tbt_buf_free(&h.body);
    tbt_buf b = TBT_BUF_INIT;
    tbt_metrics_expose(m, &b);
    const char *t = tbt_buf_cstr(&b);
    ck_assert_msg(strstr(t, "\ntbt_spans_ingested_total{receiver=\"http\"} 2\n") != NULL, "%s", t);
    ck_assert_msg(strstr(t, "\ntbt_otlp_requests_rejected_total{receiver=\"http\",reason=\"malformed\"} 1\n"), "%s", t);
    ck_assert_msg(strstr(t, "\ntbt_otlp_requests_rejected_total{receiver=\"http\",reason=\"unsupported\"} 1\n"), "%s",
                  t);
    ck_assert_msg(strstr(t, "\ntbt_spans_rejected_total{receiver=\"http\",reason=\"partial\"} 0\n"), "%s", t);
    ck_assert_msg(strstr(t, "# TYPE tbt_store_spans gauge\ntbt_store_spans 2\n# HELP"), "%s", t);
    ck_assert_msg(strstr(t, "# TYPE tbt_store_traces gauge\ntbt_store_traces 1\n# HELP"), "%s", t);
    ck_assert_msg(strstr(t, "# TYPE tbt_store_evicted_traces_total counter\ntbt_store_evicted_traces_total 0\n"), "%s",
                  t);
    char lb[96];
    snprintf(lb, sizeof(lb), "\ntbt_store_limit_bytes %zu\n", lim.max_bytes);
    ck_assert_msg(strstr(t, lb), "%s", t);
    tbt_buf_free(&b);
    tbt_http_receiver_stop(r);
    tbt_metrics_store_unregister(m, s);
    tbt_metrics_store_unregister(m, s);
    tbt_store_free(s);
    tbt_buf_reset(&b);
    tbt_metrics_expose(m, &b); /* the store is gone: nothing reads it */
    ck_assert_ptr_nonnull(strstr(tbt_buf_cstr(&b), "\ntbt_store_spans 0\n"));
    tbt_buf_free(&b);
    tbt_metrics_free(m);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("registry");
    tcase_add_test(tc, counters_and_gauges_exact);
    tcase_add_test(tc, values_are_formatted_exactly);
    tcase_add_test(tc, histograms_are_cumulative);
    tcase_add_test(tc, families_are_shared_or_refused);
    tcase_add_test(tc, collectors_are_called_once_per_scrape);
    tcase_add_test(tc, concurrent_updates_sum_exactly);
    suite_add_tcase(s, tc);
    TCase *th = tcase_create("http");
    tcase_add_test(th, endpoint_serves_metrics);
    tcase_add_test(th, receiver_counts_spans_and_refusals);
    suite_add_tcase(s, th);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
