/*
 * test_analyzer.c - the instrumentation analyzer on hand-built traces: each
 * rule passing and failing (old and new semantic-convention names), the
 * score with weights, disabled rules and plugins, warning against error
 * levels, minimumScore, Analyzer and TestRunner resources with their errors
 * at file:line:col (exact text), credentials never in any output, and the
 * JSON codecs (round trips, hostile input refused with the field named).
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_analyzer.h"
#include "tbt_otlp.h"
#include "tbt_report_lint.h"

/* ---- trace builder --------------------------------------------------------- */
typedef struct at {
    const char *k, *v; /* string attribute; v "[]" gives an empty array */
} at;

typedef struct sp {
    int id, parent;
    tbt_span_kind kind;
    const char *name;
    at attrs[8];
} sp;

static tbt_trace *build(const sp *spans, size_t n, const at *res)
{
    tbt_trace *t = tbt_trace_new();
    tbt_arena *a = tbt_trace_arena(t);
    tbt_resource *r = tbt_trace_new_resource(t);
    size_t nr = 0;
    while (res && res[nr].k)
        nr++;
    r->attrs = tbt_arena_calloc(a, nr ? nr : 1, sizeof(tbt_kv));
    for (size_t i = 0; i < nr; i++) {
        r->attrs[i].key = tbt_arena_strdup(a, res[i].k);
        r->attrs[i].value = tbt_value_str(tbt_arena_strdup(a, res[i].v));
        r->attrs[i].value.u.s.len = strlen(res[i].v);
    }
    r->n_attrs = nr;
    for (size_t i = 0; i < n; i++) {
        tbt_span *s = tbt_trace_add_span(t);
        s->trace_id[0] = 0xab;
        s->trace_id[15] = 1;
        s->span_id[7] = (uint8_t)spans[i].id;
        s->span_id[6] = (uint8_t)(spans[i].id >> 8);
        if (spans[i].parent)
            s->parent_id[7] = (uint8_t)spans[i].parent;
        s->kind = spans[i].kind;
        s->name = tbt_arena_strdup(a, spans[i].name);
        s->start_ns = 1000 + (uint64_t)i;
        s->end_ns = 2000 + (uint64_t)i;
        s->resource = r;
        size_t k = 0;
        while (k < 8 && spans[i].attrs[k].k)
            k++;
        s->attrs = tbt_arena_calloc(a, k ? k : 1, sizeof(tbt_kv));
        for (size_t j = 0; j < k; j++) {
            s->attrs[j].key = tbt_arena_strdup(a, spans[i].attrs[j].k);
            if (strcmp(spans[i].attrs[j].v, "[]") == 0) {
                s->attrs[j].value.type = TBT_V_ARRAY;
            } else {
                s->attrs[j].value = tbt_value_str(tbt_arena_strdup(a, spans[i].attrs[j].v));
                s->attrs[j].value.u.s.len = strlen(spans[i].attrs[j].v);
            }
        }
        s->n_attrs = k;
    }
    tbt_trace_finalize(t, NULL);
    return t;
}

static const at svc[] = {{"service.name", "shop"}, {NULL, NULL}};

/* A trace that follows the current conventions everywhere. */
static const sp good_new[] = {
    {1, 0, TBT_KIND_SERVER, "POST /orders",
     {{"http.request.method", "POST"}, {"http.route", "/orders"}, {"url.path", "/orders"}, {"url.scheme", "https"},
      {"server.address", "shop.example.com"}}},
    {2, 1, TBT_KIND_CLIENT, "POST",
     {{"http.request.method", "POST"}, {"url.full", "https://pay.example.com/charge"},
      {"server.address", "pay.example.com"}}},
    {3, 1, TBT_KIND_CLIENT, "INSERT shop.orders",
     {{"db.system.name", "postgresql"}, {"db.operation.name", "INSERT"}, {"db.namespace", "shop"},
      {"db.collection.name", "orders"}}},
    {4, 1, TBT_KIND_CLIENT, "inventory.Stock/Reserve",
     {{"rpc.system", "grpc"}, {"rpc.service", "inventory.Stock"}, {"rpc.method", "Reserve"},
      {"server.address", "inventory.example.com"}}},
    {5, 1, TBT_KIND_PRODUCER, "publish shipping",
     {{"messaging.system", "kafka"}, {"messaging.operation.name", "publish"},
      {"messaging.destination.name", "shipping"}}},
    {6, 1, TBT_KIND_INTERNAL, "compute total", {{"app.cart.total", "99.99"}}},
};

/* The same in the older conventions (Tracetest's own names). */
static const sp good_old[] = {
    {1, 0, TBT_KIND_SERVER, "POST /orders",
     {{"http.method", "POST"}, {"http.route", "/orders"}, {"http.target", "/orders"}, {"http.scheme", "https"},
      {"net.host.name", "shop.example.com"}}},
    {2, 1, TBT_KIND_CLIENT, "POST",
     {{"http.method", "POST"}, {"http.url", "https://pay.example.com/charge"}, {"net.peer.name", "pay.example.com"}}},
    {3, 1, TBT_KIND_CLIENT, "INSERT shop.orders",
     {{"db.system", "postgresql"}, {"db.operation", "INSERT"}, {"db.name", "shop"}, {"db.sql.table", "orders"}}},
    {4, 1, TBT_KIND_CLIENT, "inventory.Stock/Reserve",
     {{"rpc.system", "grpc"}, {"rpc.service", "inventory.Stock"}, {"rpc.method", "Reserve"},
      {"net.peer.name", "inventory.example.com"}}},
    {5, 1, TBT_KIND_PRODUCER, "shipping send",
     {{"messaging.system", "kafka"}, {"messaging.operation", "send"}, {"messaging.destination", "shipping"}}},
    {6, 2, TBT_KIND_CLIENT, "GET", {{"db.system", "redis"}, {"db.statement", "GET cart:1"}}},
};

typedef struct run {
    tbt_trace *t;
    tbt_arena *a;
    tbt_lint_result r;
} run;

static run *lint_with(const tbt_analyzer_config *cfg, const sp *spans, size_t n)
{
    run *x = calloc(1, sizeof(*x));
    x->t = build(spans, n, svc);
    x->a = tbt_arena_new();
    ck_assert_int_eq(tbt_analyzer_run(cfg, x->t, x->a, &x->r), 0);
    return x;
}

static run *lint(const sp *spans, size_t n)
{
    tbt_analyzer_config *cfg = tbt_analyzer_config_new();
    run *x = lint_with(cfg, spans, n);
    tbt_analyzer_config_free(cfg);
    return x;
}

static void run_free(run *x)
{
    tbt_trace_free(x->t);
    tbt_arena_free(x->a);
    free(x);
}

static const tbt_lint_rule_result *rule(const run *x, const char *id)
{
    for (size_t i = 0; i < x->r.n_rules; i++)
        if (strcmp(x->r.rules[i].id, id) == 0)
            return &x->r.rules[i];
    ck_abort_msg("no rule %s", id);
    return NULL;
}

/* The only finding of rule id: its message. */
static const char *only(const run *x, const char *id)
{
    const tbt_lint_rule_result *r = rule(x, id);
    ck_assert_msg(r->n_findings == 1 && r->n_findings_total == 1, "%s: %zu findings", id, r->n_findings_total);
    ck_assert(!r->passed);
    return r->findings[0].message;
}

/* ---- clean traces ------------------------------------------------------------ */
START_TEST(clean_trace_scores_100_new_names)
{
    run *x = lint(good_new, TBT_ARRAY_LEN(good_new));
    for (size_t i = 0; i < x->r.n_rules; i++)
        ck_assert_msg(x->r.rules[i].passed, "%s: %s", x->r.rules[i].id,
                      x->r.rules[i].n_findings ? x->r.rules[i].findings[0].message : "");
    ck_assert_int_eq(x->r.score, 100);
    ck_assert(x->r.rules_passed && x->r.score_passed);
    ck_assert_int_eq((int)x->r.n_rules, 7);
    ck_assert_str_eq(x->r.rules[0].plugin, "standards");
    ck_assert_str_eq(x->r.rules[4].id, "prefer-dns");
    ck_assert_str_eq(x->r.rules[6].id, "no-api-key-leak");
    run_free(x);
}
END_TEST

START_TEST(clean_trace_scores_100_old_names)
{
    run *x = lint(good_old, TBT_ARRAY_LEN(good_old));
    for (size_t i = 0; i < x->r.n_rules; i++)
        ck_assert_msg(x->r.rules[i].passed, "%s: %s", x->r.rules[i].id,
                      x->r.rules[i].n_findings ? x->r.rules[i].findings[0].message : "");
    ck_assert_int_eq(x->r.score, 100);
    run_free(x);
}
END_TEST

/* ---- each rule failing --------------------------------------------------------- */
START_TEST(span_naming_findings)
{
    static const sp spans[] = {
        {1, 0, TBT_KIND_SERVER, "handle order",
         {{"http.request.method", "POST"}, {"http.route", "/orders"}, {"url.path", "/o"}, {"url.scheme", "https"},
          {"server.address", "a.example"}}},
    };
    run *x = lint(spans, 1);
    ck_assert_str_eq(only(x, "span-naming"), "span name \"handle order\" does not follow the convention for http "
                                             "server spans: expected \"POST /orders\"");
    ck_assert_str_eq(rule(x, "span-naming")->findings[0].span_id, "0000000000000001");
    ck_assert_str_eq(rule(x, "span-naming")->findings[0].span_name, "handle order");
    run_free(x);

    static const sp db[] = {
        {1, 0, TBT_KIND_CLIENT, "pg.query:INSERT shop", {{"db.system", "postgresql"}, {"db.name", "shop"}}},
        {2, 0, TBT_KIND_CLIENT, "orders publish",
         {{"messaging.system", "kafka"}, {"messaging.operation.type", "publish"}, {"messaging.destination.name", "orders"}}},
        {3, 0, TBT_KIND_CLIENT, "Reserve", {{"rpc.system", "grpc"}, {"rpc.service", "inv.Stock"}, {"rpc.method", "Reserve"},
                                            {"server.address", "inv"}}},
    };
    x = lint(db, 3);
    const tbt_lint_rule_result *r = rule(x, "span-naming");
    ck_assert_int_eq((int)r->n_findings, 2);
    ck_assert_str_eq(r->findings[0].message, "span name \"pg.query:INSERT shop\" does not follow the convention for "
                                             "database spans: expected \"shop\" or \"postgresql\"");
    ck_assert_str_eq(r->findings[1].message, "span name \"Reserve\" does not follow the convention for rpc spans: "
                                             "expected \"inv.Stock/Reserve\"");
    run_free(x);
}
END_TEST

START_TEST(required_attributes_findings)
{
    static const sp spans[] = {
        {1, 0, TBT_KIND_CLIENT, "GET", {{"http.method", "GET"}}},
        {2, 0, TBT_KIND_CONSUMER, "orders process", {{"messaging.destination", "orders"}}},
        {3, 0, TBT_KIND_SERVER, "f", {{"faas.name", "f"}}},
    };
    run *x = lint(spans, 3);
    const tbt_lint_rule_result *r = rule(x, "required-attributes");
    ck_assert_int_eq((int)r->n_findings_total, 3);
    ck_assert_str_eq(r->findings[0].message,
                     "http client span misses url.full (or http.url), server.address (or net.peer.name)");
    ck_assert_str_eq(r->findings[1].message, "messaging consumer span misses messaging.system, "
                                             "messaging.operation.type (or messaging.operation) or "
                                             "messaging.operation.name");
    ck_assert_str_eq(r->findings[2].message, "faas server span misses faas.trigger");
    run_free(x);
}
END_TEST

START_TEST(attribute_naming_findings)
{
    static const sp spans[] = {
        {1, 0, TBT_KIND_INTERNAL, "work",
         {{"userId", "1"}, {"app.user", "ann"}, {"app.user.id", "7"}, {"http.request.header.x-request-id", "r"}}},
    };
    static const at bad_res[] = {{"service.name", "shop"}, {"Deployment", "eu"}, {NULL, NULL}};
    tbt_trace *t = build(spans, 1, bad_res);
    tbt_arena *a = tbt_arena_new();
    tbt_analyzer_config *cfg = tbt_analyzer_config_new();
    tbt_lint_result r;
    ck_assert_int_eq(tbt_analyzer_run(cfg, t, a, &r), 0);
    const tbt_lint_rule_result *rr = &r.rules[2];
    ck_assert_str_eq(rr->id, "attribute-naming");
    ck_assert_int_eq((int)rr->n_findings_total, 2);
    ck_assert_str_eq(rr->findings[0].message, "attribute \"userId\" is not lowercase dot-separated snake_case; "
                                              "attribute \"app.user\" is also the namespace of \"app.user.id\"");
    ck_assert_str_eq(rr->findings[1].message, "resource of service \"shop\": attribute \"Deployment\" is not "
                                              "lowercase dot-separated snake_case");
    tbt_analyzer_config_free(cfg);
    tbt_arena_free(a);
    tbt_trace_free(t);
}
END_TEST

START_TEST(no_empty_attributes_findings)
{
    static const sp spans[] = {
        {1, 0, TBT_KIND_INTERNAL, "work", {{"app.note", ""}, {"app.tags", "[]"}, {"app.ok", "x"}}},
    };
    run *x = lint(spans, 1);
    ck_assert_str_eq(only(x, "no-empty-attributes"), "attribute \"app.note\" is empty; attribute \"app.tags\" is empty");
    run_free(x);
}
END_TEST

START_TEST(prefer_dns_findings)
{
    static const sp spans[] = {
        {1, 0, TBT_KIND_CLIENT, "GET",
         {{"http.request.method", "GET"}, {"url.full", "https://user:pw@10.0.0.7:8443/x?ip=1.1.1.1"},
          {"server.address", "10.0.0.7"}}},
        {2, 0, TBT_KIND_SERVER, "GET", {{"http.method", "GET"}, {"net.host.name", "10.0.0.8"}}},
        {3, 0, TBT_KIND_CLIENT, "SELECT", {{"db.system", "mssql"}, {"db.connection_string", "Server=192.168.1.20;Password=hunter2"}}},
        {4, 0, TBT_KIND_CLIENT, "GET", {{"http.method", "GET"}, {"http.url", "https://[::1]:80/"}}},
        {5, 0, TBT_KIND_CLIENT, "GET", {{"http.method", "GET"}, {"http.url", "https://api.example.com/?ip=1.2.3.4"}}},
    };
    run *x = lint(spans, 5);
    const tbt_lint_rule_result *r = rule(x, "prefer-dns");
    ck_assert_int_eq((int)r->n_findings_total, 3);
    ck_assert_str_eq(r->findings[0].message,
                     "attribute url.full (or http.url) uses the IP address 10.0.0.7 instead of a DNS name; attribute "
                     "server.address (or net.peer.name) uses the IP address 10.0.0.7 instead of a DNS name");
    ck_assert_str_eq(r->findings[1].span_id, "0000000000000003");
    ck_assert_str_eq(r->findings[1].message,
                     "attribute db.connection_string uses the IP address 192.168.1.20 instead of a DNS name");
    ck_assert_str_eq(r->findings[2].message, "attribute url.full (or http.url) uses the IP address ::1 instead of a "
                                             "DNS name");
    for (size_t i = 0; i < r->n_findings; i++)
        ck_assert(!strstr(r->findings[i].message, "hunter2") && !strstr(r->findings[i].message, "pw@"));
    run_free(x);
}
END_TEST

START_TEST(secure_https_findings)
{
    static const sp spans[] = {
        {1, 0, TBT_KIND_SERVER, "GET", {{"http.method", "GET"}, {"http.scheme", "http"}}},
        {2, 0, TBT_KIND_CLIENT, "GET", {{"http.request.method", "GET"}, {"url.full", "http://u:secret@a.example/?k=v"}}},
        {3, 0, TBT_KIND_CLIENT, "GET", {{"http.request.method", "GET"}, {"url.full", "HTTPS://a.example/"}}},
    };
    run *x = lint(spans, 3);
    const tbt_lint_rule_result *r = rule(x, "secure-https-protocol");
    ck_assert_int_eq((int)r->n_findings_total, 2);
    ck_assert_str_eq(r->findings[0].message, "attribute url.scheme (or http.scheme) is \"http\", not \"https\"");
    ck_assert_str_eq(r->findings[1].message, "attribute url.full (or http.url) uses http://, not https://");
    run_free(x);
}
END_TEST

#define SECRET "s3cr3t-T0KEN-zz9"

START_TEST(api_key_leak_is_masked_everywhere)
{
    static const sp spans[] = {
        {1, 0, TBT_KIND_SERVER, "GET /",
         {{"http.request.method", "GET"}, {"http.request.header.authorization", "Bearer " SECRET},
          {"http.response.header.x-api-key", SECRET}}},
        {2, 0, TBT_KIND_CLIENT, "GET", {{"http.method", "GET"}, {"http.request.header.authorization", ""}}},
    };
    run *x = lint(spans, 2);
    ck_assert_str_eq(only(x, "no-api-key-leak"),
                     "attribute http.request.header.authorization records a credential: Bearer ****; attribute "
                     "http.response.header.x-api-key records a credential: ****");
    tbt_buf b = TBT_BUF_INIT;
    tbt_lint_result_json(&x->r, &b);
    tbt_report_lint_pretty(&x->r, true, true, &b);
    tbt_report_lint_pretty(&x->r, false, false, &b);
    ck_assert_ptr_null(strstr(tbt_buf_cstr(&b), SECRET));
    ck_assert_ptr_null(strstr(tbt_buf_cstr(&b), "T0KEN"));
    tbt_buf_free(&b);
    run_free(x);
}
END_TEST

/* tbt's addition: an API key in a URL's query string is a leak too */
START_TEST(api_key_in_query_string)
{
    static const sp spans[] = {
        {1, 0, TBT_KIND_CLIENT, "GET",
         {{"http.request.method", "GET"}, {"url.full", "https://api.example/v1/items?page=2&api_key=" SECRET}}},
        {2, 0, TBT_KIND_SERVER, "GET /x",
         {{"http.request.method", "GET"}, {"url.path", "/x"}, {"url.query", "Access_Token=" SECRET "&q=1"}}},
        /* names that only look alike, and an empty key, are not credentials */
        {3, 0, TBT_KIND_CLIENT, "GET",
         {{"http.request.method", "GET"}, {"url.full", "https://a.example/?monkey=1&keys=2&api_key=#frag"}}},
    };
    run *x = lint(spans, 3);
    const tbt_lint_rule_result *r = rule(x, "no-api-key-leak");
    ck_assert_int_eq((int)r->n_findings_total, 2);
    ck_assert_str_eq(r->findings[0].message,
                     "attribute url.full (or http.url) carries a credential in its query string (api_key=****)");
    ck_assert_str_eq(r->findings[1].message, "attribute url.query carries a credential in its query string "
                                             "(Access_Token=****)");
    tbt_buf b = TBT_BUF_INIT;
    tbt_lint_result_json(&x->r, &b);
    tbt_report_lint_pretty(&x->r, false, true, &b);
    ck_assert_ptr_null(strstr(tbt_buf_cstr(&b), SECRET));
    tbt_buf_free(&b);
    run_free(x);
}
END_TEST

START_TEST(findings_are_capped_and_counted)
{
    sp spans[60];
    memset(spans, 0, sizeof(spans));
    for (int i = 0; i < 60; i++) {
        spans[i].id = i + 1;
        spans[i].kind = TBT_KIND_INTERNAL;
        spans[i].name = "w";
        spans[i].attrs[0] = (at){"Bad", "x"};
    }
    run *x = lint(spans, 60);
    const tbt_lint_rule_result *r = rule(x, "attribute-naming");
    ck_assert_int_eq((int)r->n_findings, TBT_LINT_MAX_FINDINGS);
    ck_assert_int_eq((int)r->n_findings_total, 60);
    tbt_buf b = TBT_BUF_INIT;
    tbt_report_lint_pretty(&x->r, false, false, &b);
    ck_assert_ptr_nonnull(strstr(b.data, "\t\t... 55 more (-v shows 50)\n"));
    tbt_buf_reset(&b);
    tbt_report_lint_pretty(&x->r, false, true, &b);
    ck_assert_ptr_nonnull(strstr(b.data, "\t\t... 10 more (the first 50 are kept)\n"));
    tbt_buf_free(&b);
    run_free(x);
}
END_TEST

/* ---- score, levels, plugins ---------------------------------------------------- */
static const sp two_problems[] = {
    /* breaks span-naming (standards) and secure-https-protocol (security) */
    {1, 0, TBT_KIND_CLIENT, "call",
     {{"http.request.method", "GET"}, {"url.full", "http://a.example/"}, {"server.address", "a.example"}}},
};

START_TEST(score_with_default_weights)
{
    run *x = lint(two_problems, 1);
    /* standards 75 (25 of 100 failed), common 100, security 70 (30 of 100 failed) */
    ck_assert_int_eq(x->r.score, (75 + 100 + 70) / 3);
    ck_assert(!x->r.rules_passed);
    ck_assert(x->r.score_passed); /* minimum 0 */
    run_free(x);
}
END_TEST

START_TEST(score_with_custom_weights_levels_and_plugins)
{
    tbt_analyzer_config *c = tbt_analyzer_config_new();
    ck_assert_int_eq(tbt_analyzer_config_set_rule(c, "standards", "span-naming", TBT_LINT_ERROR, 50), 0);
    run *x = lint_with(c, two_problems, 1);
    /* standards: 75 of 125 pass -> 60 */
    ck_assert_int_eq(x->r.score, (60 + 100 + 70) / 3);
    run_free(x);

    /* a warning still costs score but does not fail analyzer-rules */
    ck_assert_int_eq(tbt_analyzer_config_set_rule(c, NULL, "secure-https-protocol", TBT_LINT_WARNING, 30), 0);
    ck_assert_int_eq(tbt_analyzer_config_set_rule(c, NULL, "span-naming", TBT_LINT_WARNING, 50), 0);
    x = lint_with(c, two_problems, 1);
    ck_assert(x->r.rules_passed);
    ck_assert_int_eq(x->r.score, (60 + 100 + 70) / 3);
    ck_assert_int_eq(rule(x, "span-naming")->level, TBT_LINT_WARNING);
    ck_assert(!rule(x, "span-naming")->passed);
    run_free(x);

    /* a disabled rule neither runs nor counts; a disabled plugin drops out of the mean */
    ck_assert_int_eq(tbt_analyzer_config_set_rule(c, NULL, "span-naming", TBT_LINT_DISABLED, 50), 0);
    ck_assert_int_eq(tbt_analyzer_config_set_plugin(c, "security", false), 0);
    x = lint_with(c, two_problems, 1);
    ck_assert_int_eq(x->r.score, 100);
    ck_assert(rule(x, "span-naming")->passed);
    ck_assert_int_eq((int)rule(x, "span-naming")->n_findings_total, 0);
    ck_assert_int_eq(rule(x, "secure-https-protocol")->level, TBT_LINT_DISABLED);
    ck_assert(x->r.rules_passed);
    run_free(x);

    /* every plugin off: nothing to score, 100 */
    tbt_analyzer_config_set_plugin(c, "standards", false);
    tbt_analyzer_config_set_plugin(c, "common", false);
    x = lint_with(c, two_problems, 1);
    ck_assert_int_eq(x->r.score, 100);
    run_free(x);

    ck_assert_int_eq(tbt_analyzer_config_set_rule(c, "common", "span-naming", TBT_LINT_ERROR, 1), -ENOENT);
    ck_assert_int_eq(tbt_analyzer_config_set_rule(c, NULL, "nope", TBT_LINT_ERROR, 1), -ENOENT);
    ck_assert_int_eq(tbt_analyzer_config_set_rule(c, NULL, "prefer-dns", TBT_LINT_ERROR, 101), -ERANGE);
    ck_assert_int_eq(tbt_analyzer_config_set_plugin(c, "nope", true), -ENOENT);
    tbt_analyzer_config_free(c);
}
END_TEST

START_TEST(minimum_score_and_gates)
{
    tbt_analyzer_config *c = tbt_analyzer_config_new();
    tbt_analyzer_config_set_minimum_score(c, 90);
    run *x = lint_with(c, two_problems, 1);
    ck_assert_int_eq(x->r.minimum_score, 90);
    ck_assert(!x->r.score_passed);
    ck_assert_uint_eq(tbt_gates_lint_failed(TBT_GATES_ALL, &x->r), TBT_GATE_ANALYZER_SCORE | TBT_GATE_ANALYZER_RULES);
    ck_assert_uint_eq(tbt_gates_lint_failed(TBT_GATE_ANALYZER_SCORE, &x->r), TBT_GATE_ANALYZER_SCORE);
    ck_assert_uint_eq(tbt_gates_lint_failed(TBT_GATE_TEST_SPECS, &x->r), 0);
    tbt_buf b = TBT_BUF_INIT;
    tbt_report_lint_pretty(&x->r, false, false, &b);
    ck_assert_ptr_nonnull(strstr(b.data, "Analyzer score 81/100 (minimum 90) \xe2\x9c\x98 below the minimum\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "Summary: score 81 is below the minimum 90; 2 rules failed at level error, "
                                         "0 at level warning\n"));
    tbt_buf_free(&b);
    run_free(x);
    tbt_analyzer_config_set_enabled(c, false);
    tbt_trace *t = build(two_problems, 1, svc);
    tbt_arena *a = tbt_arena_new();
    tbt_lint_result r;
    ck_assert_int_eq(tbt_analyzer_run(c, t, a, &r), -EINVAL);
    tbt_arena_free(a);
    tbt_trace_free(t);
    tbt_analyzer_config_free(c);
}
END_TEST

START_TEST(gates_parse)
{
    unsigned g = 99;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_gates_parse(" analyzer-rules , test-specs", &g, &err), 0);
    ck_assert_uint_eq(g, TBT_GATE_ANALYZER_RULES | TBT_GATE_TEST_SPECS);
    ck_assert_int_eq(tbt_gates_parse("", &g, &err), 0);
    ck_assert_uint_eq(g, 0);
    g = 5;
    ck_assert_int_eq(tbt_gates_parse("test-specs,analyzer-scor", &g, &err), -EINVAL);
    ck_assert_str_eq(err.msg, "unknown gate 'analyzer-scor' (valid gates: test-specs, analyzer-score, analyzer-rules)");
    ck_assert_uint_eq(g, 5);
    ck_assert_int_eq(tbt_gates_parse("test-specs,,analyzer-score", &g, &err), -EINVAL);
    ck_assert_str_eq(err.msg, "empty gate name in 'test-specs,,analyzer-score' (valid gates: test-specs, "
                              "analyzer-score, analyzer-rules)");
    tbt_buf b = TBT_BUF_INIT;
    tbt_gates_format(TBT_GATES_ALL, &b);
    ck_assert_str_eq(tbt_buf_cstr(&b), "test-specs,analyzer-score,analyzer-rules");
    tbt_buf_free(&b);
    tbt_error_clear(&err);
}
END_TEST

/* ---- resources --------------------------------------------------------------- */
/* Load text as a.yaml and read its Analyzer/TestRunner; the formatted error
 * (or "" on success) into *msg (caller frees). */
static int from_yaml(const char *text, tbt_analyzer_config **cfg, unsigned *gates, char **msg)
{
    tbt_defs *d = tbt_defs_new();
    tbt_defs_set_file_access(d, false);
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_defs_load_text(d, "a.yaml", text, strlen(text), &err);
    ck_assert_msg(rc == 0, "load: %s", err.msg);
    rc = tbt_analyzer_config_from_defs(d, cfg, gates, &err);
    tbt_buf b = TBT_BUF_INIT;
    if (rc)
        tbt_error_format(&err, &b);
    *msg = tbt_buf_steal(&b);
    if (!*msg)
        *msg = calloc(1, 1);
    tbt_error_clear(&err);
    tbt_defs_free(d);
    return rc;
}

START_TEST(analyzer_resource_applies)
{
    static const char text[] = "type: Analyzer\n"
                               "spec:\n"
                               "  id: current\n"
                               "  name: analyzer\n"
                               "  enabled: true\n"
                               "  minimumScore: 80\n"
                               "  plugins:\n"
                               "    - id: standards\n"
                               "      enabled: true\n"
                               "      rules:\n"
                               "        - id: span-naming\n"
                               "          weight: 50\n"
                               "          errorLevel: warning\n"
                               "    - id: security\n"
                               "      enabled: false\n"
                               "---\n"
                               "type: TestRunner\n"
                               "spec:\n"
                               "  id: current\n"
                               "  requiredGates: [analyzer-score, test-specs]\n";
    tbt_analyzer_config *c = NULL;
    unsigned g = 0;
    char *msg;
    ck_assert_int_eq(from_yaml(text, &c, &g, &msg), 0);
    ck_assert_uint_eq(g, TBT_GATE_ANALYZER_SCORE | TBT_GATE_TEST_SPECS);
    ck_assert_int_eq(tbt_analyzer_config_minimum_score(c), 80);
    tbt_buf b = TBT_BUF_INIT;
    tbt_analyzer_config_json(c, &b);
    ck_assert_str_eq(b.data,
                     "{\"enabled\":true,\"minimumScore\":80,\"plugins\":[{\"id\":\"standards\",\"enabled\":true,"
                     "\"rules\":[{\"id\":\"span-naming\",\"weight\":50,\"errorLevel\":\"warning\"},{\"id\":"
                     "\"required-attributes\",\"weight\":25,\"errorLevel\":\"error\"},{\"id\":\"attribute-naming\","
                     "\"weight\":25,\"errorLevel\":\"error\"},{\"id\":\"no-empty-attributes\",\"weight\":25,"
                     "\"errorLevel\":\"error\"}]},{\"id\":\"common\",\"enabled\":true,\"rules\":[{\"id\":"
                     "\"prefer-dns\",\"weight\":100,\"errorLevel\":\"error\"}]},{\"id\":\"security\",\"enabled\":"
                     "false,\"rules\":[{\"id\":\"secure-https-protocol\",\"weight\":30,\"errorLevel\":\"error\"},"
                     "{\"id\":\"no-api-key-leak\",\"weight\":70,\"errorLevel\":\"error\"}]}]}");
    tbt_buf_free(&b);
    tbt_analyzer_config_free(c);
    free(msg);

    /* nothing loaded: Tracetest's defaults */
    ck_assert_int_eq(from_yaml("type: VariableSet\nspec:\n  id: v\n  name: v\n  values: []\n", &c, &g, &msg), 0);
    ck_assert_uint_eq(g, TBT_GATES_DEFAULT);
    tbt_analyzer_config *d = tbt_analyzer_config_new();
    tbt_buf b1 = TBT_BUF_INIT, b2 = TBT_BUF_INIT;
    tbt_analyzer_config_json(c, &b1);
    tbt_analyzer_config_json(d, &b2);
    ck_assert_str_eq(b1.data, b2.data);
    tbt_buf_free(&b1);
    tbt_buf_free(&b2);
    tbt_analyzer_config_free(c);
    tbt_analyzer_config_free(d);
    free(msg);
}
END_TEST

typedef struct bad_case {
    const char *yaml;
    const char *error; /* formatted, exactly */
} bad_case;

static const bad_case bad_resources[] = {
    {"type: Analyzer\nspec:\n  minimumScore: 120\n",
     "a.yaml:3:17: Analyzer minimumScore: expected a whole number from 0 to 100, found 120\n"
     "      minimumScore: 120\n                    ^\n"},
    {"type: Analyzer\nspec:\n  enabled: yes\n",
     "a.yaml:3:12: Analyzer enabled: expected true or false, found 'yes'\n      enabled: yes\n               ^\n"},
    {"type: Analyzer\nspec:\n  minScore: 1\n",
     "a.yaml:3:3: Analyzer: unknown Analyzer field 'minScore' (id, name, description, enabled, minimumScore, "
     "plugins)\n      minScore: 1\n      ^\n"},
    {"type: Analyzer\nspec:\n  plugins:\n    - id: standard\n",
     "a.yaml:4:11: Analyzer plugins[0].id: unknown plugin 'standard' (standards, common, security)\n"
     "        - id: standard\n              ^\n"},
    {"type: Analyzer\nspec:\n  plugins:\n    - id: standards\n      rules:\n        - id: span-name\n",
     "a.yaml:6:15: Analyzer plugins[0].rules[0].id: unknown rule 'span-name' of plugin standards (span-naming, "
     "required-attributes, attribute-naming, no-empty-attributes)\n            - id: span-name\n"
     "                  ^\n"},
    {"type: Analyzer\nspec:\n  plugins:\n    - id: common\n      rules:\n        - id: no-api-key-leak\n",
     "a.yaml:6:15: Analyzer plugins[0].rules[0].id: rule 'no-api-key-leak' belongs to plugin security, not "
     "common\n            - id: no-api-key-leak\n                  ^\n"},
    {"type: Analyzer\nspec:\n  plugins:\n    - id: common\n      rules:\n        - id: prefer-dns\n"
     "          weight: \"50\"\n",
     "a.yaml:7:19: Analyzer plugins[0].rules[0].weight: expected a whole number from 0 to 100, found \"50\"\n"
     "              weight: \"50\"\n                      ^\n"},
    {"type: Analyzer\nspec:\n  plugins:\n    - id: common\n      rules:\n        - id: prefer-dns\n"
     "          errorLevel: fatal\n",
     "a.yaml:7:23: Analyzer plugins[0].rules[0].errorLevel: expected error, warning or disabled, found 'fatal'\n"
     "              errorLevel: fatal\n                          ^\n"},
    {"type: Analyzer\nspec:\n  plugins:\n    - id: common\n    - id: common\n",
     "a.yaml:5:11: Analyzer plugins[1].id: plugin 'common' is listed twice\n        - id: common\n"
     "              ^\n"},
    {"type: Analyzer\nspec:\n  plugins: standards\n",
     "a.yaml:3:12: Analyzer plugins: expected a list of plugins, found 'standards'\n      plugins: standards\n"
     "               ^\n"},
    {"type: TestRunner\nspec:\n  requiredGates: [test-specs, analyzer-scores]\n",
     "a.yaml:3:31: TestRunner requiredGates[1]: unknown gate 'analyzer-scores' (valid gates: test-specs, "
     "analyzer-score, analyzer-rules)\n      requiredGates: [test-specs, analyzer-scores]\n"
     "                                  ^\n"},
    {"type: TestRunner\nspec:\n  gates: []\n",
     "a.yaml:3:3: TestRunner: unknown TestRunner field 'gates' (id, name, description, requiredGates)\n"
     "      gates: []\n      ^\n"},
    {"type: Analyzer\nspec:\n  enabled: true\n---\ntype: Analyzer\nspec:\n  enabled: false\n",
     "a.yaml:5:1: a second Analyzer resource (the first is at a.yaml:1:1); at most one may be loaded\n"
     "    type: Analyzer\n    ^\n"},
};

START_TEST(resource_errors_at_file_line_col)
{
    const bad_case *bc = &bad_resources[_i];
    tbt_analyzer_config *c = (void *)1;
    unsigned g = 77;
    char *msg;
    ck_assert_int_eq(from_yaml(bc->yaml, &c, &g, &msg), -EINVAL);
    ck_assert_str_eq(msg, bc->error);
    ck_assert_ptr_eq(c, (void *)1);
    ck_assert_uint_eq(g, 77);
    free(msg);
}
END_TEST

/* ---- JSON ------------------------------------------------------------------------ */
START_TEST(config_json_round_trip)
{
    tbt_analyzer_config *c = tbt_analyzer_config_new();
    tbt_analyzer_config_set_minimum_score(c, 42);
    tbt_analyzer_config_set_plugin(c, "common", false);
    tbt_analyzer_config_set_rule(c, NULL, "no-empty-attributes", TBT_LINT_DISABLED, 0);
    tbt_analyzer_config_set_rule(c, NULL, "no-api-key-leak", TBT_LINT_WARNING, 99);
    tbt_buf a = TBT_BUF_INIT, b = TBT_BUF_INIT;
    tbt_analyzer_config_json(c, &a);
    tbt_analyzer_config *d = NULL;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_analyzer_config_from_json(a.data, a.len, &d, &err), 0);
    tbt_analyzer_config_json(d, &b);
    ck_assert_str_eq(a.data, b.data);
    ck_assert_int_eq(tbt_analyzer_config_minimum_score(d), 42);
    tbt_buf_free(&a);
    tbt_buf_free(&b);
    tbt_analyzer_config_free(c);
    tbt_analyzer_config_free(d);
}
END_TEST

typedef struct json_case {
    const char *json;
    int rc;
    const char *msg;
} json_case;

static const json_case bad_json[] = {
    {"{\"enabled\":1}", -EINVAL, "analyzer config enabled: expected true or false, found 1"},
    {"{\"minimumScore\":50.5}", -EINVAL,
     "analyzer config minimumScore: expected a whole number from 0 to 100, found a number that is not whole"},
    {"{\"plugins\":[{\"id\":\"security\",\"rules\":[{\"id\":\"no-api-key-leak\",\"weight\":\"70\"}]}]}", -EINVAL,
     "analyzer config plugins[0].rules[0].weight: expected a whole number from 0 to 100, found \"70\""},
    {"{\"plugins\":[{\"id\":\"security\",\"rules\":[{\"id\":\"no-api-key-leak\",\"weight\":1e300}]}]}", -EINVAL,
     "analyzer config plugins[0].rules[0].weight: expected a whole number from 0 to 100, found a number that is "
     "not whole"},
    {"{\"plugins\":[{\"id\":7}]}", -EINVAL,
     "analyzer config plugins[0].id: unknown plugin 7 (standards, common, security)"},
    {"{\"plugins\":[{\"enabled\":true}]}", -EINVAL, "analyzer config plugins[0]: plugin without an id"},
    {"{\"plugins\":[{\"id\":\"common\",\"rules\":[{\"id\":\"prefer-dns\",\"errorLevel\":null}]}]}", -EINVAL,
     "analyzer config plugins[0].rules[0].errorLevel: expected error, warning or disabled, found null"},
    {"{\"plugins\":[{\"id\":\"common\",\"rules\":{}}]}", -EINVAL,
     "analyzer config plugins[0].rules: expected a list of rules, found a map"},
    {"{\"extra\":true}", -EINVAL,
     "analyzer config: unknown Analyzer field 'extra' (id, name, description, enabled, minimumScore, plugins)"},
    {"[1,2]", -EINVAL, "analyzer config: expected a map ({enabled, minimumScore, plugins}), found a list"},
    {"{\"enabled\":", -EINVAL, "analyzer config: not valid JSON"},
};

START_TEST(hostile_config_json_refused)
{
    const json_case *jc = &bad_json[_i];
    tbt_analyzer_config *c = (void *)1;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_analyzer_config_from_json(jc->json, strlen(jc->json), &c, &err), jc->rc);
    ck_assert_str_eq(err.msg, jc->msg);
    ck_assert_ptr_null(c);
    tbt_error_clear(&err);
}
END_TEST

START_TEST(oversized_config_json_refused)
{
    size_t n = TBT_ANALYZER_JSON_MAX + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    tbt_analyzer_config *c = NULL;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_analyzer_config_from_json(big, n, &c, &err), -E2BIG);
    ck_assert_str_eq(err.msg, "analyzer config: 65537 bytes, more than the 65536 allowed");
    tbt_error_clear(&err);
    free(big);
}
END_TEST

START_TEST(result_json_round_trip)
{
    static const sp spans[] = {
        {1, 0, TBT_KIND_CLIENT, "call \"x\"\x01",
         {{"http.request.method", "GET"}, {"url.full", "http://10.1.1.1/"}, {"Bad Key", ""}}},
    };
    run *x = lint(spans, 1);
    tbt_buf a = TBT_BUF_INIT, b = TBT_BUF_INIT;
    tbt_lint_result_json(&x->r, &a);
    cJSON *j = cJSON_Parse(a.data);
    ck_assert_ptr_nonnull(j);
    tbt_arena *ar = tbt_arena_new();
    const tbt_lint_result *back = NULL;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_lint_result_from_cjson(j, ar, &back, &err), 0);
    tbt_lint_result_json(back, &b);
    ck_assert_str_eq(a.data, b.data);
    ck_assert_int_eq(back->score, x->r.score);
    ck_assert_str_eq(back->rules[2].findings[0].span_name, "call \"x\"?");

    /* hostile: the field is named */
    cJSON *rules = cJSON_GetObjectItem(j, "rules");
    cJSON *r1 = cJSON_GetArrayItem(rules, 1);
    cJSON_ReplaceItemInObject(r1, "weight", cJSON_CreateString("25"));
    const tbt_lint_result *none = NULL;
    ck_assert_int_eq(tbt_lint_result_from_cjson(j, ar, &none, &err), -EINVAL);
    ck_assert_str_eq(err.msg, "lint result: rules[1].weight: expected a whole number from 0 to 100");
    ck_assert_ptr_null(none);
    cJSON_ReplaceItemInObject(r1, "weight", cJSON_CreateNumber(25));
    cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(rules, 2), "findings"), 0);
    cJSON_DeleteItemFromObject(f0, "message");
    ck_assert_int_eq(tbt_lint_result_from_cjson(j, ar, &none, &err), -EINVAL);
    ck_assert_str_eq(err.msg, "lint result: rules[2].findings[0].message: expected a string");
    cJSON_ReplaceItemInObject(j, "score", cJSON_CreateNumber(101));
    ck_assert_int_eq(tbt_lint_result_from_cjson(j, ar, &none, &err), -EINVAL);
    ck_assert_str_eq(err.msg, "lint result: score: expected a whole number from 0 to 100");
    ck_assert_int_eq(tbt_lint_result_from_cjson(cJSON_GetObjectItem(j, "rules"), ar, &none, &err), -EINVAL);
    ck_assert_str_eq(err.msg, "lint result: : expected an object");

    tbt_error_clear(&err);
    cJSON_Delete(j);
    tbt_arena_free(ar);
    tbt_buf_free(&a);
    tbt_buf_free(&b);
    run_free(x);
}
END_TEST

START_TEST(pretty_report_exact)
{
    run *x = lint(two_problems, 1);
    tbt_buf b = TBT_BUF_INIT;
    tbt_report_lint_pretty(&x->r, false, false, &b);
    ck_assert_str_eq(b.data,
                     "Analyzer score 81/100 (minimum 0) \xe2\x9c\x94\n"
                     "\tstandards\n"
                     "\t\t\xe2\x9c\x98 span-naming            error    weight 25   1 span\n"
                     "\t\t\xe2\x9c\x94 required-attributes    error    weight 25\n"
                     "\t\t\xe2\x9c\x94 attribute-naming       error    weight 25\n"
                     "\t\t\xe2\x9c\x94 no-empty-attributes    error    weight 25\n"
                     "\tcommon\n"
                     "\t\t\xe2\x9c\x94 prefer-dns             error    weight 100\n"
                     "\tsecurity\n"
                     "\t\t\xe2\x9c\x98 secure-https-protocol  error    weight 30   1 span\n"
                     "\t\t\xe2\x9c\x94 no-api-key-leak        error    weight 70\n"
                     "Findings\n"
                     "\t\xe2\x9c\x98 standards/span-naming (error, 1 span)\n"
                     "\t\t#0000000000000001 call: span name \"call\" does not follow the convention for http client "
                     "spans: expected \"GET\"\n"
                     "\t\xe2\x9c\x98 security/secure-https-protocol (error, 1 span)\n"
                     "\t\t#0000000000000001 call: attribute url.full (or http.url) uses http://, not https://\n"
                     "Summary: score 81 reaches the minimum 0; 2 rules failed at level error, 0 at level warning\n");
    tbt_buf_free(&b);
    run_free(x);
}
END_TEST

/* The demo's captured traces: the analyzer runs on real JS SDK output. */
START_TEST(demo_traces_lint)
{
    const char *root = getenv("TBT_SOURCE_ROOT");
    if (!root)
        return;
    char path[4096];
    snprintf(path, sizeof(path), "%s/examples/traces/checkout-healthy.otlp.json", root);
    tbt_trace *t = NULL;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_otlp_load_file(path, &t, &err), 0);
    tbt_analyzer_config *c = tbt_analyzer_config_new();
    tbt_arena *a = tbt_arena_new();
    tbt_lint_result r;
    ck_assert_int_eq(tbt_analyzer_run(c, t, a, &r), 0);
    ck_assert_int_eq(r.score, 73);
    ck_assert_int_eq((int)r.rules[0].n_findings_total, 1); /* pg.query:INSERT shop */
    tbt_arena_free(a);
    tbt_analyzer_config_free(c);
    tbt_trace_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("analyzer");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, clean_trace_scores_100_new_names);
    tcase_add_test(tc, clean_trace_scores_100_old_names);
    tcase_add_test(tc, span_naming_findings);
    tcase_add_test(tc, required_attributes_findings);
    tcase_add_test(tc, attribute_naming_findings);
    tcase_add_test(tc, no_empty_attributes_findings);
    tcase_add_test(tc, prefer_dns_findings);
    tcase_add_test(tc, secure_https_findings);
    tcase_add_test(tc, api_key_leak_is_masked_everywhere);
    tcase_add_test(tc, api_key_in_query_string);
    tcase_add_test(tc, findings_are_capped_and_counted);
    tcase_add_test(tc, demo_traces_lint);
    suite_add_tcase(s, tc);
    tc = tcase_create("score");
    tcase_add_test(tc, score_with_default_weights);
    tcase_add_test(tc, score_with_custom_weights_levels_and_plugins);
    tcase_add_test(tc, minimum_score_and_gates);
    tcase_add_test(tc, pretty_report_exact);
    suite_add_tcase(s, tc);
    tc = tcase_create("config");
    tcase_add_test(tc, gates_parse);
    tcase_add_test(tc, analyzer_resource_applies);
    tcase_add_loop_test(tc, resource_errors_at_file_line_col, 0, (int)TBT_ARRAY_LEN(bad_resources));
    tcase_add_test(tc, config_json_round_trip);
    tcase_add_loop_test(tc, hostile_config_json_refused, 0, (int)TBT_ARRAY_LEN(bad_json));
    tcase_add_test(tc, oversized_config_json_refused);
    tcase_add_test(tc, result_json_round_trip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
