/*
 * test_report_html.c - the trace view (shared/tbt_trace_view.h) and the
 * HTML report (coordinator/tbt_report_html.h):
 *  - hostile span names and attributes (markup that would end a <script>,
 *    quotes, ill-formed UTF-8) round-trip through the view and the page's
 *    embedded JSON, parsed back with cJSON, and cannot end their element;
 *  - the view's byte bound holds for every bound tried, the failing span
 *    and its ancestors are kept first, and what was left out is counted;
 *  - the page references nothing on the network and carries its CSP;
 *  - the campaign section embeds the histogram buckets.
 * What the page looks like is checked in a browser by
 * tests/integration/test_html_report.sh.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_otlp.h"
#include "tbt_report_html.h"
#include "tbt_trace_view.h"

#define HOSTILE_NAME "</script><script>alert(\"x\")</script> <!-- \"q\" \xff\xfe bad \xc3"
#define HOSTILE_NAME_CLEAN "</script><script>alert(\"x\")</script> <!-- \"q\" \xEF\xBF\xBD\xEF\xBF\xBD bad \xEF\xBF\xBD"

static tbt_resource *resource(tbt_trace *t, const char *service)
{
    tbt_resource *r = tbt_trace_new_resource(t);
    r->attrs = tbt_arena_calloc(tbt_trace_arena(t), 1, sizeof(tbt_kv));
    r->n_attrs = 1;
    r->attrs[0].key = "service.name";
    r->attrs[0].value = tbt_value_str(service);
    return r;
}

static void add_span(tbt_trace *t, const tbt_resource *res, uint8_t tid, uint8_t id, uint8_t parent,
                     const char *name, uint64_t start_ms, uint64_t end_ms, const char *attr_key, const char *attr_val)
{
    tbt_span *s = tbt_trace_add_span(t);
    memset(s->trace_id, 0x11, 16);
    s->trace_id[15] = tid;
    s->span_id[7] = id;
    s->parent_id[7] = parent;
    s->name = name;
    s->resource = res;
    s->kind = TBT_KIND_SERVER;
    s->start_ns = 1000000000000ull + start_ms * 1000000ull;
    s->end_ns = 1000000000000ull + end_ms * 1000000ull;
    if (attr_key) {
        s->attrs = tbt_arena_calloc(tbt_trace_arena(t), 1, sizeof(tbt_kv));
        s->n_attrs = 1;
        s->attrs[0].key = attr_key;
        s->attrs[0].value = tbt_value_str(attr_val);
    }
}

/* A result whose one assertion passed on `ok` (may be NULL) and failed on
 * `bad`, as tbt_plan_evaluate would record it. */
static tbt_test_result *result_for(tbt_run_result *rr, const tbt_trace *t, const tbt_span *ok, const tbt_span *bad)
{
    tbt_test_result *res = tbt_run_result_add(rr);
    res->name = "hostile";
    res->status = TBT_TEST_FAILED;
    res->trace_id = tbt_arena_strdup(rr->arena, tbt_trace_span_at(t, 0)->trace_id_hex);
    res->n_spans = tbt_trace_span_count(t);
    res->n_traces = tbt_trace_id_count(t);
    res->n_specs = 1;
    res->specs = tbt_arena_calloc(rr->arena, 1, sizeof(*res->specs));
    tbt_spec_result *sp = &res->specs[0];
    sp->name = "spec";
    sp->selector = "span[name=\"x\"]";
    sp->n_selected = ok ? 2 : 1;
    sp->n_asserts = 1;
    sp->asserts = tbt_arena_calloc(rr->arena, 1, sizeof(*sp->asserts));
    tbt_assert_result *a = &sp->asserts[0];
    a->assertion = "attr:tracetest.span.duration < 1ms";
    a->n_spans = ok ? 2 : 1;
    a->spans = tbt_arena_calloc(rr->arena, 2, sizeof(*a->spans));
    const tbt_span *list[2] = {bad, ok};
    for (size_t i = 0; i < a->n_spans; i++) {
        tbt_span_result *x = &a->spans[i];
        x->span_id = list[i]->span_id_hex;
        x->span_name = list[i]->name;
        x->service = list[i]->service;
        x->trace_id = list[i]->trace_id_hex;
        x->passed = i == 1;
        x->observed = i == 1 ? "0.5ms" : "</script>\"obs\"";
        x->expected = "1ms";
    }
    return res;
}

static cJSON *parse(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    ck_assert_msg(j != NULL, "not JSON near: %.80s", cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "?");
    return j;
}

static const char *str_at(cJSON *view, int idx)
{
    cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItem(view, "strings"), idx);
    ck_assert_ptr_nonnull(s);
    ck_assert(cJSON_IsString(s));
    return s->valuestring;
}

static int row_int(cJSON *row, int col)
{
    cJSON *c = cJSON_GetArrayItem(row, col);
    ck_assert(cJSON_IsNumber(c));
    return c->valueint;
}

/* the text of <script ... id="ID">...</script> */
static char *script_text(const char *html, const char *id)
{
    char open[128];
    snprintf(open, sizeof(open), "id=\"%s\">", id);
    const char *p = strstr(html, open);
    if (!p)
        return NULL;
    p += strlen(open);
    const char *e = strstr(p, "</script>");
    ck_assert_ptr_nonnull(e);
    return tbt_xstrndup(p, (size_t)(e - p));
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static tbt_trace *hostile_trace(void)
{
    tbt_trace *t = tbt_trace_new();
    tbt_resource *api = resource(t, "api</script>"), *linked = resource(t, "notifier \"svc\"");
    add_span(t, api, 1, 1, 0, "root", 0, 100, "http.method", "GET");
    add_span(t, api, 1, 2, 1, HOSTILE_NAME, 10, 60, "note", "</script><!-- \xc3\x28 \"quoted\" \\ end");
    add_span(t, api, 1, 3, 1, "sibling", 20, 30, NULL, NULL);
    add_span(t, linked, 2, 9, 0, "consumer", 120, 150, "k", "v");
    tbt_trace_finalize(t, NULL);
    return t;
}

static const tbt_span *span_named(const tbt_trace *t, uint8_t id)
{
    for (size_t i = 0; i < tbt_trace_span_count(t); i++) {
        const tbt_span *s = tbt_trace_span_at(t, i);
        if (s->span_id[7] == id)
            return s;
    }
    ck_abort_msg("no span %u", id);
    return NULL;
}

START_TEST(view_round_trips_hostile_text)
{
    tbt_trace *t = hostile_trace();
    tbt_run_result *rr = tbt_run_result_new();
    const tbt_span *bad = span_named(t, 2);
    tbt_test_result *res = result_for(rr, t, span_named(t, 9), bad);
    tbt_buf b = TBT_BUF_INIT;
    ck_assert_int_eq(tbt_trace_view_json(t, res, NULL, &b), 0);
    cJSON *v = parse(tbt_buf_cstr(&b));
    ck_assert_int_eq(cJSON_GetObjectItem(v, "spanCount")->valueint, 4);
    ck_assert_int_eq(cJSON_GetObjectItem(v, "omitted")->valueint, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(v, "traceId")->valuestring, "11111111111111111111111111111101");
    cJSON *rows = cJSON_GetObjectItem(v, "spans");
    ck_assert_int_eq(cJSON_GetArraySize(rows), 4);
    bool saw_bad = false, saw_linked = false;
    cJSON *row;
    int idx = 0;
    cJSON_ArrayForEach(row, rows) {
        const char *id = cJSON_GetArrayItem(row, 0)->valuestring;
        int parent = row_int(row, 1), flags = row_int(row, 7);
        ck_assert_int_lt(parent, idx); /* parents first */
        if (strcmp(id, bad->span_id_hex) == 0) {
            saw_bad = true;
            ck_assert_str_eq(str_at(v, row_int(row, 2)), HOSTILE_NAME_CLEAN);
            ck_assert_str_eq(str_at(v, row_int(row, 3)), "api</script>");
            ck_assert_int_eq(flags & 3, 3); /* asserted, failed */
            cJSON *attrs = cJSON_GetArrayItem(row, 13);
            ck_assert_int_eq(cJSON_GetArraySize(attrs), 2);
            ck_assert_str_eq(str_at(v, cJSON_GetArrayItem(attrs, 0)->valueint), "note");
            ck_assert_str_eq(str_at(v, cJSON_GetArrayItem(attrs, 1)->valueint),
                             "</script><!-- \xEF\xBF\xBD( \"quoted\" \\ end");
        }
        if (strcmp(id, "0000000000000009") == 0) {
            saw_linked = true;
            ck_assert_int_eq(flags & 7, 5); /* asserted, passed, linked */
            ck_assert_int_eq(parent, -1);
            ck_assert_str_eq(str_at(v, row_int(row, 4)), "11111111111111111111111111111102");
        } else {
            ck_assert_int_eq(flags & 4, 0);
        }
        idx++;
    }
    ck_assert(saw_bad && saw_linked);
    cJSON_Delete(v);

    /* the page: hostile text cannot end its element, and parses back */
    res->trace_view = tbt_arena_strdup(rr->arena, tbt_buf_cstr(&b));
    tbt_buf html = TBT_BUF_INIT;
    tbt_report_html(rr, NULL, NULL, 0, &html);
    const char *h = tbt_buf_cstr(&html);
    ck_assert_uint_eq(count(h, "</script>"), 3); /* data, one view, the script */
    ck_assert_uint_eq(count(h, "<script"), 3);
    ck_assert_uint_eq(count(h, "<!--"), 0);
    char *data = script_text(h, "tbt-data"), *view = script_text(h, "tbt-view-0");
    ck_assert_ptr_nonnull(data);
    ck_assert_ptr_nonnull(view);
    ck_assert_ptr_null(strchr(data, '<'));
    ck_assert_ptr_null(strchr(view, '<'));
    cJSON *d = parse(data), *v2 = parse(view);
    cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "run"), "tests"), 0);
    cJSON *sr = cJSON_GetArrayItem(
        cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(t0, "specs"), 0), "assertions"),
                               0),
            "spans"),
        0);
    ck_assert_str_eq(cJSON_GetObjectItem(sr, "spanName")->valuestring, HOSTILE_NAME_CLEAN);
    ck_assert_str_eq(cJSON_GetObjectItem(sr, "observed")->valuestring, "</script>\"obs\"");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(d, "extra"), 0), "hasView")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(d, "campaign")));
    /* the embedded view is the view, character for character */
    char *again = cJSON_PrintUnformatted(v2);
    cJSON *orig = parse(tbt_buf_cstr(&b));
    char *want = cJSON_PrintUnformatted(orig);
    ck_assert_str_eq(again, want);
    free(again);
    free(want);
    cJSON_Delete(orig);
    cJSON_Delete(d);
    cJSON_Delete(v2);
    free(data);
    free(view);
    tbt_buf_free(&html);
    tbt_buf_free(&b);
    tbt_run_result_free(rr);
    tbt_trace_free(t);
}
END_TEST

START_TEST(page_is_self_contained)
{
    tbt_trace *t = hostile_trace();
    tbt_run_result *rr = tbt_run_result_new();
    tbt_test_result *res = result_for(rr, t, NULL, span_named(t, 2));
    tbt_buf b = TBT_BUF_INIT;
    tbt_trace_view_json(t, res, NULL, &b);
    res->trace_view = tbt_arena_strdup(rr->arena, tbt_buf_cstr(&b));
    tbt_run_result_add(rr)->name = "no view"; /* a test without a trace */
    tbt_buf html = TBT_BUF_INIT;
    tbt_report_html(rr, NULL, NULL, 0, &html);
    const char *h = tbt_buf_cstr(&html);
    ck_assert(strncmp(h, "<!DOCTYPE html>", 15) == 0);
    ck_assert_ptr_nonnull(strstr(h, "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                                    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"));
    /* nothing that loads from elsewhere */
    const char *banned[] = {"src=\"http", "src='http", "src=http", "href=\"http", "href='http", "src=\"//",
                            "href=\"//", "url(http", "url(//", "@import", "fetch(", "XMLHttpRequest", "WebSocket",
                            "EventSource", "sendBeacon", "<link", "<iframe", "<img", "import("};
    for (size_t i = 0; i < TBT_ARRAY_LEN(banned); i++)
        ck_assert_msg(strstr(h, banned[i]) == NULL, "the page holds %s", banned[i]);
    /* the only URL is the SVG namespace, which createElementNS needs */
    for (const char *p = h; (p = strstr(p, "http://")) != NULL; p++)
        ck_assert_msg(strncmp(p, "http://www.w3.org/2000/svg", 26) == 0, "a URL in the page: %.60s", p);
    ck_assert_ptr_null(strstr(h, "https://"));
    ck_assert_ptr_null(script_text(h, "tbt-view-1"));
    tbt_buf_free(&html);
    tbt_buf_free(&b);
    tbt_run_result_free(rr);
    tbt_trace_free(t);
}
END_TEST

/* a generated trace, the last span (deepest in depth-first order) failed */
typedef struct big {
    tbt_trace *t;
    tbt_run_result *rr;
    tbt_test_result *res;
    const tbt_span *bad;
    size_t full;
} big;

static big big_new(size_t n)
{
    big g;
    g.t = tbt_otlp_generate(n, 7);
    g.rr = tbt_run_result_new();
    g.bad = tbt_trace_span_at(g.t, tbt_trace_span_count(g.t) - 1);
    ck_assert_uint_gt(g.bad->depth, 1);
    g.res = result_for(g.rr, g.t, tbt_trace_span_at(g.t, n / 2), g.bad);
    tbt_buf b = TBT_BUF_INIT;
    tbt_trace_view_json(g.t, g.res, NULL, &b);
    g.full = b.len;
    cJSON *v = parse(tbt_buf_cstr(&b));
    ck_assert_int_eq(cJSON_GetObjectItem(v, "omitted")->valueint, 0);
    ck_assert_int_eq(cJSON_GetObjectItem(v, "attrsOmitted")->valueint, 0);
    cJSON_Delete(v);
    tbt_buf_free(&b);
    return g;
}

static void big_free(big *g)
{
    tbt_run_result_free(g->rr);
    tbt_trace_free(g->t);
}

/* Check a bounded view: within max, valid, the failing span and its
 * ancestors kept, counts consistent. Returns rows kept. */
static size_t check_bounded(big *g, size_t max, size_t *attrs_omitted)
{
    tbt_trace_view_limits lim = {.max_bytes = max};
    tbt_buf b = TBT_BUF_INIT;
    tbt_trace_view_json(g->t, g->res, &lim, &b);
    ck_assert_msg(b.len <= max, "view of %zu bytes over the bound %zu", b.len, max);
    cJSON *v = parse(tbt_buf_cstr(&b));
    size_t n = tbt_trace_span_count(g->t);
    cJSON *rows = cJSON_GetObjectItem(v, "spans");
    size_t kept = (size_t)cJSON_GetArraySize(rows);
    ck_assert_int_eq(cJSON_GetObjectItem(v, "spanCount")->valueint, (int)n);
    ck_assert_int_eq(cJSON_GetObjectItem(v, "omitted")->valueint, (int)(n - kept));
    *attrs_omitted = (size_t)cJSON_GetObjectItem(v, "attrsOmitted")->valueint;
    int bad_row = -1, idx = 0;
    cJSON *row;
    cJSON_ArrayForEach(row, rows) {
        ck_assert_int_lt(row_int(row, 1), idx);
        if (strcmp(cJSON_GetArrayItem(row, 0)->valuestring, g->bad->span_id_hex) == 0)
            bad_row = idx;
        idx++;
    }
    if (kept > g->bad->depth) {
        /* the failing span and its whole ancestry: depth + 1 rows */
        ck_assert_int_ge(bad_row, 0);
        ck_assert(row_int(cJSON_GetArrayItem(rows, bad_row), 7) & 2);
        int depth = 0;
        for (int r = bad_row; row_int(cJSON_GetArrayItem(rows, r), 1) >= 0; r = row_int(cJSON_GetArrayItem(rows, r), 1))
            depth++;
        ck_assert_int_eq(depth, (int)g->bad->depth);
    }
    cJSON_Delete(v);
    tbt_buf_free(&b);
    return kept;
}

START_TEST(view_bound_holds)
{
    big g = big_new(2000);
    size_t omitted_attrs;
    /* just under the full size: every span, some attributes left out */
    size_t kept = check_bounded(&g, g.full - 1, &omitted_attrs);
    ck_assert_uint_eq(kept, 2000);
    ck_assert_uint_gt(omitted_attrs, 0);
    /* a quarter: spans left out, the failing one kept */
    kept = check_bounded(&g, g.full / 4, &omitted_attrs);
    ck_assert_uint_lt(kept, 2000);
    ck_assert_uint_gt(kept, g.bad->depth);
    /* every bound from tiny to full */
    for (size_t max = 400; max < g.full; max = max * 3 / 2)
        check_bounded(&g, max, &omitted_attrs);
    big_free(&g);
}
END_TEST

START_TEST(view_cuts_long_values)
{
    tbt_trace *t = tbt_trace_new();
    char *longv = tbt_arena_alloc(tbt_trace_arena(t), 10001);
    memset(longv, 'x', 10000);
    longv[4095] = '\xc3'; /* a two-byte character across the cut */
    longv[4096] = '\xa9';
    add_span(t, resource(t, "svc"), 1, 1, 0, "root", 0, 1, "big", longv);
    tbt_trace_finalize(t, NULL);
    tbt_buf b = TBT_BUF_INIT;
    tbt_trace_view_json(t, NULL, NULL, &b);
    cJSON *v = parse(tbt_buf_cstr(&b));
    cJSON *attrs = cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(v, "spans"), 0), 13);
    const char *val = str_at(v, cJSON_GetArrayItem(attrs, 1)->valueint);
    ck_assert_uint_eq(strlen(val), 4095 + 3);
    ck_assert_str_eq(val + 4095, "\xE2\x80\xA6");
    cJSON_Delete(v);
    tbt_buf_free(&b);
    tbt_trace_free(t);
}
END_TEST

START_TEST(campaign_section_embeds_histograms)
{
    tbt_campaign_result c;
    memset(&c, 0, sizeof(c));
    c.n_rows = 1;
    c.rows = tbt_xcalloc(1, sizeof(*c.rows));
    tbt_campaign_row *r = &c.rows[0];
    r->test = "load </script>";
    r->environment = "eu-west";
    r->stats.runs = r->stats.passed = 100;
    tbt_hist_init(&r->stats.trace_duration);
    tbt_hist_init(&r->stats.verdict_latency);
    for (uint64_t i = 1; i <= 100; i++)
        tbt_hist_record(&r->stats.trace_duration, i * 1000000ull);
    tbt_threshold th;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_threshold_parse("p95(trace.duration) < 300ms", &th, &err), 0);
    tbt_buf html = TBT_BUF_INIT;
    tbt_report_html(NULL, &c, &th, 1, &html);
    char *data = script_text(tbt_buf_cstr(&html), "tbt-data");
    cJSON *d = parse(data);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(d, "run")));
    cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "campaign"), "campaign"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(row, "test")->valuestring, "load </script>");
    cJSON *buckets = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(row, "traceDuration"), "histogram"), "buckets");
    ck_assert_int_gt(cJSON_GetArraySize(buckets), 10);
    /* the observed value as the terminal report words it */
    double obs = 0;
    tbt_threshold_check(&th, &r->stats, &obs);
    tbt_buf want = TBT_BUF_INIT;
    tbt_threshold_format_observed(&th, obs, &want);
    ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(d, "campaignObserved"), 0), 0)->valuestring,
                     tbt_buf_cstr(&want));
    tbt_buf_free(&want);
    cJSON_Delete(d);
    free(data);
    tbt_buf_free(&html);
    tbt_threshold_clear(&th);
    tbt_campaign_result_clear(&c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("report_html");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, view_round_trips_hostile_text);
    tcase_add_test(tc, page_is_self_contained);
    tcase_add_test(tc, view_bound_holds);
    tcase_add_test(tc, view_cuts_long_values);
    tcase_add_test(tc, campaign_section_embeds_histograms);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
