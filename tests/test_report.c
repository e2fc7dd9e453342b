/*
 * test_report.c - the three reports (pretty, JSON, JUnit) on hand-built
 * run results: passing and failing tests, several specs and spans, the
 * empty span, errors, skipped suite steps, warnings, and strings holding
 * quotes, markup, control characters and ill-formed UTF-8.
 *
 * Pretty output is compared byte for byte; JSON is parsed back with cJSON;
 * JUnit is checked for exact counts, escaping and well-formedness (no raw
 * control characters, valid UTF-8 only).
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_report.h"

/* ---- builders ------------------------------------------------------------ */

typedef struct sp {
    const char *id, *name, *service, *trace;
    bool passed;
    const char *observed, *expected, *error;
} sp;

typedef struct as {
    const char *text;
    const char *warning;
    const sp *spans;
    size_t n;
} as;

static const char *S(tbt_run_result *r, const char *s)
{
    return s ? tbt_arena_strdup(r->arena, s) : NULL;
}

static void set_assert(tbt_run_result *r, tbt_assert_result *a, const as *d)
{
    a->assertion = S(r, d->text);
    a->warning = S(r, d->warning);
    a->n_spans = d->n;
    a->spans = tbt_arena_calloc(r->arena, d->n ? d->n : 1, sizeof(*a->spans));
    a->passed = true;
    for (size_t i = 0; i < d->n; i++) {
        const sp *v = &d->spans[i];
        tbt_span_result *s = &a->spans[i];
        s->span_id = S(r, v->id);
        s->span_name = S(r, v->name);
        s->service = S(r, v->service);
        s->trace_id = S(r, v->trace);
        s->passed = v->passed;
        s->observed = S(r, v->observed);
        s->expected = S(r, v->expected);
        s->error = S(r, v->error);
        if (!v->passed)
            a->passed = false;
    }
}

/* Add a spec to t with the given assertions; passed = all passed. */
static tbt_spec_result *add_spec(tbt_run_result *r, tbt_test_result *t, const char *name, const char *selector,
                                 size_t n_selected, const as *asserts, size_t n)
{
    /* specs are appended one by one: grow by copying into the arena */
    tbt_spec_result *specs = tbt_arena_calloc(r->arena, t->n_specs + 1, sizeof(*specs));
    if (t->n_specs)
        memcpy(specs, t->specs, t->n_specs * sizeof(*specs));
    t->specs = specs;
    tbt_spec_result *s = &specs[t->n_specs++];
    s->name = S(r, name);
    s->selector = S(r, selector);
    s->n_selected = n_selected;
    s->n_asserts = n;
    s->asserts = tbt_arena_calloc(r->arena, n ? n : 1, sizeof(*s->asserts));
    s->passed = true;
    for (size_t i = 0; i < n; i++) {
        set_assert(r, &s->asserts[i], &asserts[i]);
        if (!s->asserts[i].passed)
            s->passed = false;
    }
    return s;
}

static tbt_test_result *add_test(tbt_run_result *r, const char *id, const char *name, tbt_test_status st,
                                 const char *trace_id)
{
    tbt_test_result *t = tbt_run_result_add(r);
    t->id = S(r, id);
    t->name = S(r, name);
    t->file = S(r, tbt_arena_sprintf(r->arena, "%s.yaml", id));
    t->status = st;
    t->trace_id = S(r, trace_id);
    return t;
}

static void add_output(tbt_run_result *r, tbt_test_result *t, const char *name, const char *value,
                       const char *warning)
{
    tbt_output_result *o = tbt_arena_calloc(r->arena, t->n_outputs + 1, sizeof(*o));
    if (t->n_outputs)
        memcpy(o, t->outputs, t->n_outputs * sizeof(*o));
    t->outputs = o;
    o[t->n_outputs].name = S(r, name);
    o[t->n_outputs].value = S(r, value);
    o[t->n_outputs].warning = S(r, warning);
    t->n_outputs++;
}

#define TRACE_A "0af7651916cd43dd8448eb211c80319c"
#define TRACE_B "4bf92f3577b34da6a3ce929d0e0e4736"
#define TRACE_C "11111111111111111111111111111111"

/* checkout (passes, environment) and payment (two specs, one failing on
 * two of three spans: a mismatch and an evaluation error). */
static void add_checkout_and_payment(tbt_run_result *r)
{
    tbt_test_result *t = add_test(r, "checkout", "checkout", TBT_TEST_PASSED, TRACE_A);
    t->environment = S(r, "eu-west");
    t->n_spans = 5;
    t->n_traces = 1;
    static const sp ok2[] = {
        {"aaaaaaaaaaaaaaa1", "GET /cart", "frontend", TRACE_A, true, "200", "200", NULL},
        {"aaaaaaaaaaaaaaa2", "GET /pay", "frontend", TRACE_A, true, "200", "200", NULL},
    };
    const as a1[] = {{"attr:http.status_code = 200", NULL, ok2, 2}};
    add_spec(r, t, "all http spans", "span[tracetest.span.type = \"http\"]", 2, a1, 1);

    t = add_test(r, "payment", "payment", TBT_TEST_FAILED, TRACE_B);
    t->n_spans = 9;
    t->n_traces = 1;
    static const sp db[] = {{"bbbbbbbbbbbbbbb1", "INSERT orders", "db", TRACE_B, true, "12ms", "100ms", NULL}};
    const as a2[] = {{"attr:tracetest.span.duration < 100ms", NULL, db, 1}};
    add_spec(r, t, "db spans", "span[tracetest.span.type = \"database\"]", 1, a2, 1);
    static const sp charge[] = {
        {"00f067aa0ba902b7", "POST /charge", "payment", TRACE_B, false, "500", "200", NULL},
        {"53995c3f42cd8ad8", "POST /charge", "payment", TRACE_B, false, NULL, NULL,
         "attribute \"http.status_code\" not found"},
        {"6e0c63257de34c92", "POST /charge", "payment", TRACE_B, true, "200", "200", NULL},
    };
    static const sp charge_x[] = {
        {"00f067aa0ba902b7", "POST /charge", "payment", TRACE_B, true, "1", "1", NULL},
        {"53995c3f42cd8ad8", "POST /charge", "payment", TRACE_B, true, "1", "1", NULL},
        {"6e0c63257de34c92", "POST /charge", "payment", TRACE_B, true, "1", "1", NULL},
    };
    const as a3[] = {{"attr:http.status_code = 200", NULL, charge, 3}, {"attr:x = 1", NULL, charge_x, 3}};
    add_spec(r, t, "", "span[name = \"charge\"]", 3, a3, 2);
}

/* A suite: the empty-span case, a test that could not run (multi-line
 * error) and a skipped step. */
static void add_suite(tbt_run_result *r)
{
    tbt_test_result *t = add_test(r, "absent", "absent", TBT_TEST_FAILED, TRACE_C);
    t->suite = S(r, "checkout flow");
    static const sp empty_fail[] = {
        {"", NULL, NULL, "", false, NULL, NULL, "attribute \"http.method\" not found: no span matched the selector"}};
    static const sp empty_ok[] = {{"", NULL, NULL, "", true, "0", "0", NULL}};
    const as a[] = {{"attr:http.method = \"GET\"", NULL, empty_fail, 1},
                    {"attr:tracetest.selected_spans.count = 0", NULL, empty_ok, 1}};
    add_spec(r, t, "", "span[name = \"missing\"]", 0, a, 2);

    t = add_test(r, "broken", "broken", TBT_TEST_ERROR, "");
    t->suite = S(r, "checkout flow");
    t->error = S(r, "broken.yaml:3:5: unknown key \"bogus\"\n    bogus: 1\n    ^");

    t = add_test(r, "later", "later", TBT_TEST_SKIPPED, "");
    t->suite = S(r, "checkout flow");
}

/* Warnings on an assertion of a passing spec and on an output; an output
 * with a value; completion and timings. */
static void add_warned(tbt_run_result *r)
{
    tbt_test_result *t = add_test(r, "warned", "warned", TBT_TEST_PASSED, TRACE_A);
    t->n_spans = 3;
    t->n_traces = 1;
    t->completion = S(r, "no new span for 500ms");
    t->trigger_ns = 12500000;
    t->trace_ns = 1500000000;
    t->eval_ns = 250000;
    static const sp one[] = {{"ccccccccccccccc1", "work", "svc", TRACE_A, true, "7", "7", NULL}};
    const as a[] = {{"attr:a + attr:b * 2 = 7", "Tracetest would compute 10 (left to right)", one, 1}};
    add_spec(r, t, "arith", "span[name = \"work\"]", 1, a, 1);
    add_output(r, t, "ORDER_ID", "42", NULL);
    add_output(r, t, "USER", NULL, "unresolved: the selector \"span[name = \\\"x\\\"]\" matched no span");
}

static char *pretty(const tbt_run_result *r, bool color, bool verbose)
{
    tbt_buf b = TBT_BUF_INIT;
    tbt_report_opts o = {.color = color, .verbose = verbose};
    tbt_report_pretty(r, &o, &b);
    return tbt_buf_steal(&b);
}

static char *json(const tbt_run_result *r)
{
    tbt_buf b = TBT_BUF_INIT;
    tbt_report_json(r, &b);
    return tbt_buf_steal(&b);
}

static char *junit(const tbt_run_result *r)
{
    tbt_buf b = TBT_BUF_INIT;
    tbt_report_junit(r, &b);
    return tbt_buf_steal(&b);
}

static bool valid_utf8(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = tbt_utf8_next(s + i, n - i, &cp);
        if (cp == 0xFFFD && !(l == 3 && memcmp(s + i, "\xEF\xBF\xBD", 3) == 0))
            return false;
        i += l;
    }
    return true;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* ---- UTF-8 helpers --------------------------------------------------------- */

static const struct {
    const char *in, *out;
    bool valid;
} utf8_cases[] = {
    {"plain ascii", "plain ascii", true},
    {"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
     true},
    {"\xef\xbf\xbd", "\xef\xbf\xbd", true},
    {"a\xff" "b", "a\xef\xbf\xbd" "b", false},
    /* a truncated sequence is one replacement (maximal subpart) */
    {"\xe2\x82" "A", "\xef\xbf\xbd" "A", false},
    {"x\xf0\x9f\x98", "x\xef\xbf\xbd", false},
    /* overlong, surrogate, past U+10FFFF: one per byte */
    {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd", false},
    {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", false},
    {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", false},
    {"\x80", "\xef\xbf\xbd", false},
};

START_TEST(utf8_sanitize)
{
    tbt_buf b = TBT_BUF_INIT;
    bool v = tbt_utf8_sanitize(&b, utf8_cases[_i].in, strlen(utf8_cases[_i].in));
    ck_assert_int_eq(v, utf8_cases[_i].valid);
    ck_assert_str_eq(tbt_buf_cstr(&b), utf8_cases[_i].out);
    tbt_buf_free(&b);
}
END_TEST

/* Every JSON string tbt writes (reports, OTLP/JSON traces, receiver replies)
 * goes through tbt_buf_json_str: the same replacements, inside quotes. */
START_TEST(json_str_replaces_ill_formed_utf8)
{
    tbt_buf b = TBT_BUF_INIT;
    tbt_buf_json_str(&b, utf8_cases[_i].in, strlen(utf8_cases[_i].in));
    char *want = tbt_xasprintf("\"%s\"", utf8_cases[_i].out);
    ck_assert_str_eq(tbt_buf_cstr(&b), want);
    free(want);
    tbt_buf_reset(&b);
    tbt_buf_json_str(&b, "\"\xff\n\xc3", 4);
    ck_assert_str_eq(tbt_buf_cstr(&b), "\"\\\"\xef\xbf\xbd\\n\xef\xbf\xbd\"");
    tbt_buf_free(&b);
}
END_TEST

START_TEST(utf8_decode)
{
    uint32_t cp;
    ck_assert_uint_eq(tbt_utf8_next("\xc3\xa9", 2, &cp), 2);
    ck_assert_uint_eq(cp, 0xe9);
    ck_assert_uint_eq(tbt_utf8_next("\xf4\x8f\xbf\xbf", 4, &cp), 4);
    ck_assert_uint_eq(cp, 0x10ffff);
    /* n bounds the read even when more bytes follow in memory */
    ck_assert_uint_eq(tbt_utf8_next("\xe6\x97\xa5", 2, &cp), 2);
    ck_assert_uint_eq(cp, 0xfffd);
    tbt_buf b = TBT_BUF_INIT;
    const uint32_t cps[] = {0x24, 0xa2, 0x20ac, 0x10348};
    for (size_t i = 0; i < TBT_ARRAY_LEN(cps); i++)
        tbt_utf8_put(&b, cps[i]);
    ck_assert_str_eq(tbt_buf_cstr(&b), "$\xc2\xa2\xe2\x82\xac\xf0\x90\x8d\x88");
    tbt_buf_free(&b);
}
END_TEST

/* ---- pretty ---------------------------------------------------------------- */

START_TEST(pretty_pass_and_fail)
{
    tbt_run_result *r = tbt_run_result_new();
    add_checkout_and_payment(r);
    char *s = pretty(r, false, false);
    ck_assert_str_eq(s, "✔ checkout [eu-west] (trace id: " TRACE_A ")\n"
                        "\t✔ all http spans\n"
                        "✘ payment (trace id: " TRACE_B ")\n"
                        "\t✔ db spans\n"
                        "\t✘ span[name = \"charge\"]\n"
                        "\t\t✘ attr:http.status_code = 200\n"
                        "\t\t\t✘ #00f067aa0ba902b7 POST /charge (payment): 500\n"
                        "\t\t\t✘ #53995c3f42cd8ad8 POST /charge (payment): error: attribute \"http.status_code\" "
                        "not found\n"
                        "\t\t✔ attr:x = 1\n"
                        "\n"
                        "2 tests: 1 passed, 1 failed, 0 errors; 3 specs: 2 passed, 1 failed\n");
    free(s);
    tbt_run_result_free(r);
}
END_TEST

START_TEST(pretty_suite_error_skipped_empty_span)
{
    tbt_run_result *r = tbt_run_result_new();
    add_suite(r);
    char *s = pretty(r, false, false);
    ck_assert_str_eq(s, "Suite: checkout flow\n"
                        "\t✘ absent (trace id: " TRACE_C ")\n"
                        "\t\t✘ span[name = \"missing\"]\n"
                        "\t\t\t✘ attr:http.method = \"GET\"\n"
                        "\t\t\t\t✘ (no span matched): error: attribute \"http.method\" not found: no span matched "
                        "the selector\n"
                        "\t\t\t✔ attr:tracetest.selected_spans.count = 0\n"
                        "\t✘ broken: error: broken.yaml:3:5: unknown key \"bogus\"\n"
                        "\t\t    bogus: 1\n"
                        "\t\t    ^\n"
                        "\t- later (skipped)\n"
                        "\n"
                        "3 tests: 0 passed, 1 failed, 1 error, 1 skipped; 1 spec: 0 passed, 1 failed\n");
    free(s);
    tbt_run_result_free(r);
}
END_TEST

START_TEST(pretty_warnings)
{
    tbt_run_result *r = tbt_run_result_new();
    add_warned(r);
    char *s = pretty(r, false, false);
    ck_assert_str_eq(s, "✔ warned (trace id: " TRACE_A ")\n"
                        "\t✔ arith\n"
                        "\t\t✔ attr:a + attr:b * 2 = 7\n"
                        "\t\t\t⚠ Tracetest would compute 10 (left to right)\n"
                        "\t⚠ output USER: unresolved: the selector \"span[name = \\\"x\\\"]\" matched no span\n"
                        "\n"
                        "1 test: 1 passed, 0 failed, 0 errors; 1 spec: 1 passed, 0 failed\n");
    free(s);
    tbt_run_result_free(r);
}
END_TEST

START_TEST(pretty_verbose)
{
    tbt_run_result *r = tbt_run_result_new();
    add_warned(r);
    add_checkout_and_payment(r);
    char *s = pretty(r, false, true);
    ck_assert_ptr_nonnull(strstr(s, "✔ warned (trace id: " TRACE_A ")\n"
                                    "\tcompletion: no new span for 500ms, 3 spans, trigger 12.5ms, trace 1.5s, "
                                    "eval 250us\n"
                                    "\t✔ arith (1 span)\n"));
    ck_assert_ptr_nonnull(strstr(s, "\toutput ORDER_ID = 42\n"));
    ck_assert_ptr_nonnull(strstr(s, "\t⚠ output USER: unresolved"));
    /* passing assertions of passing specs are listed; expected values too */
    ck_assert_ptr_nonnull(strstr(s, "\t✔ all http spans (2 spans)\n\t\t✔ attr:http.status_code = 200\n"));
    ck_assert_ptr_nonnull(strstr(s, "#00f067aa0ba902b7 POST /charge (payment): 500 (expected 200)\n"));
    free(s);
    tbt_run_result_free(r);
}
END_TEST

START_TEST(pretty_color)
{
    tbt_run_result *r = tbt_run_result_new();
    add_checkout_and_payment(r);
    add_warned(r);
    char *plain = pretty(r, false, false);
    ck_assert_ptr_null(strchr(plain, '\033'));
    char *s = pretty(r, true, false);
    ck_assert_ptr_nonnull(strstr(s, "\033[32m✔\033[0m checkout"));
    ck_assert_ptr_nonnull(strstr(s, "\033[31m✘\033[0m payment"));
    ck_assert_ptr_nonnull(strstr(s, "\033[2m (trace id: " TRACE_A ")\033[0m"));
    ck_assert_ptr_nonnull(strstr(s, "\033[2m#00f067aa0ba902b7\033[0m POST"));
    ck_assert_ptr_nonnull(strstr(s, "\033[33m⚠ Tracetest would compute"));
    free(s);
    free(plain);
    tbt_run_result_free(r);
}
END_TEST

START_TEST(pretty_empty_run)
{
    tbt_run_result *r = tbt_run_result_new();
    char *s = pretty(r, false, false);
    ck_assert_str_eq(s, "0 tests: 0 passed, 0 failed, 0 errors; 0 specs: 0 passed, 0 failed\n");
    free(s);
    /* no options: no colour, not verbose */
    add_checkout_and_payment(r);
    tbt_buf b = TBT_BUF_INIT;
    tbt_report_pretty(r, NULL, &b);
    s = pretty(r, false, false);
    ck_assert_str_eq(tbt_buf_cstr(&b), s);
    free(s);
    tbt_buf_free(&b);
    tbt_run_result_free(r);
}
END_TEST

START_TEST(pretty_long_values_cut)
{
    tbt_run_result *r = tbt_run_result_new();
    tbt_test_result *t = add_test(r, "big", "big", TBT_TEST_FAILED, TRACE_A);
    char body[1001];
    memset(body, 'x', 1000);
    body[1000] = '\0';
    body[199] = '\xc3'; /* a two-byte character across the limit */
    body[200] = '\xa9';
    const sp v[] = {{"ddddddddddddddd1", "resp", "svc", TRACE_A, false, body, "ok", NULL}};
    const as a[] = {{"attr:tracetest.response.body = \"ok\"", NULL, v, 1}};
    add_spec(r, t, "body", "span[name = \"resp\"]", 1, a, 1);
    char *s = pretty(r, false, false);
    char want[400];
    snprintf(want, sizeof(want), "(svc): %.199s… (1000 bytes)\n", body);
    ck_assert_ptr_nonnull(strstr(s, want));
    free(s);
    s = pretty(r, false, true);
    ck_assert_ptr_nonnull(strstr(s, body));
    free(s);
    tbt_run_result_free(r);
}
END_TEST

/* the same suite run for two environments gives two headers */
START_TEST(pretty_suite_per_environment)
{
    tbt_run_result *r = tbt_run_result_new();
    const char *envs[] = {"dev", "dev", "prod"};
    for (size_t i = 0; i < 3; i++) {
        tbt_test_result *t = add_test(r, "step", "step", TBT_TEST_PASSED, TRACE_A);
        t->suite = S(r, "flow");
        t->environment = S(r, envs[i]);
    }
    add_test(r, "alone", "alone", TBT_TEST_PASSED, TRACE_B);
    char *s = pretty(r, false, false);
    ck_assert_str_eq(s, "Suite: flow\n"
                        "\t✔ step [dev] (trace id: " TRACE_A ")\n"
                        "\t✔ step [dev] (trace id: " TRACE_A ")\n"
                        "Suite: flow\n"
                        "\t✔ step [prod] (trace id: " TRACE_A ")\n"
                        "✔ alone (trace id: " TRACE_B ")\n"
                        "\n"
                        "4 tests: 4 passed, 0 failed, 0 errors; 0 specs: 0 passed, 0 failed\n");
    free(s);
    tbt_run_result_free(r);
}
END_TEST

/* ---- JSON ------------------------------------------------------------------ */

static cJSON *parse_json(const char *s)
{
    cJSON *j = cJSON_Parse(s);
    ck_assert_msg(j != NULL, "invalid JSON near: %.80s", cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "?");
    return j;
}

static cJSON *get(const cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    ck_assert_msg(v != NULL, "missing key %s", k);
    return v;
}

static const char *gets(const cJSON *o, const char *k)
{
    cJSON *v = get(o, k);
    ck_assert_msg(cJSON_IsString(v), "%s is not a string", k);
    return v->valuestring;
}

static double getn(const cJSON *o, const char *k)
{
    cJSON *v = get(o, k);
    ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", k);
    return v->valuedouble;
}

static bool getb(const cJSON *o, const char *k)
{
    cJSON *v = get(o, k);
    ck_assert_msg(cJSON_IsBool(v), "%s is not a bool", k);
    return cJSON_IsTrue(v);
}

static cJSON *at(const cJSON *a, int i)
{
    cJSON *v = cJSON_GetArrayItem(a, i);
    ck_assert_msg(v != NULL, "no item %d", i);
    return v;
}

/* the object's keys, in order, joined by ',' */
static void expect_keys(const cJSON *o, const char *want)
{
    char got[512] = "";
    for (const cJSON *c = o->child; c; c = c->next) {
        if (*got)
            strcat(got, ",");
        strcat(got, c->string);
    }
    ck_assert_str_eq(got, want);
}

START_TEST(json_fields)
{
    tbt_run_result *r = tbt_run_result_new();
    add_checkout_and_payment(r);
    add_suite(r);
    add_warned(r);
    char *s = json(r);
    const char *head = "{\n  \"passed\": false,\n  \"summary\": {\n    \"tests\": 6,\n";
    ck_assert(strncmp(s, head, strlen(head)) == 0);
    ck_assert_int_eq(s[strlen(s) - 1], '\n');
    ck_assert_int_eq(s[strlen(s) - 2], '}');
    cJSON *j = parse_json(s);
    expect_keys(j, "passed,summary,tests");
    ck_assert(!getb(j, "passed"));
    cJSON *sum = get(j, "summary");
    expect_keys(sum, "tests,passed,failed,errors,skipped");
    ck_assert_int_eq((int)getn(sum, "tests"), 6);
    ck_assert_int_eq((int)getn(sum, "passed"), 2);
    ck_assert_int_eq((int)getn(sum, "failed"), 2);
    ck_assert_int_eq((int)getn(sum, "errors"), 1);
    ck_assert_int_eq((int)getn(sum, "skipped"), 1);

    cJSON *tests = get(j, "tests");
    ck_assert_int_eq(cJSON_GetArraySize(tests), 6);
    cJSON *t0 = at(tests, 0);
    expect_keys(t0, "id,name,file,environment,status,passed,traceId,spans,traces,timings,outputs,specs");
    ck_assert_str_eq(gets(t0, "environment"), "eu-west");
    ck_assert_str_eq(gets(t0, "status"), "passed");
    ck_assert(getb(t0, "passed"));
    ck_assert_str_eq(gets(t0, "file"), "checkout.yaml");
    ck_assert_int_eq((int)getn(t0, "spans"), 5);
    expect_keys(get(t0, "timings"), "");

    cJSON *t1 = at(tests, 1);
    ck_assert_str_eq(gets(t1, "status"), "failed");
    ck_assert(!getb(t1, "passed"));
    cJSON *specs = get(t1, "specs");
    ck_assert_int_eq(cJSON_GetArraySize(specs), 2);
    ck_assert_str_eq(gets(at(specs, 0), "name"), "db spans");
    cJSON *sp1 = at(specs, 1);
    expect_keys(sp1, "name,selector,passed,selectedSpans,assertions");
    ck_assert_str_eq(gets(sp1, "name"), "");
    ck_assert_str_eq(gets(sp1, "selector"), "span[name = \"charge\"]");
    ck_assert(!getb(sp1, "passed"));
    ck_assert_int_eq((int)getn(sp1, "selectedSpans"), 3);
    cJSON *a0 = at(get(sp1, "assertions"), 0);
    expect_keys(a0, "assertion,passed,spans");
    ck_assert_str_eq(gets(a0, "assertion"), "attr:http.status_code = 200");
    cJSON *spans = get(a0, "spans");
    ck_assert_int_eq(cJSON_GetArraySize(spans), 3);
    cJSON *s0 = at(spans, 0);
    expect_keys(s0, "spanId,spanName,service,traceId,observed,expected,passed,error");
    ck_assert_str_eq(gets(s0, "spanId"), "00f067aa0ba902b7");
    ck_assert_str_eq(gets(s0, "observed"), "500");
    ck_assert_str_eq(gets(s0, "expected"), "200");
    ck_assert(cJSON_IsNull(get(s0, "error")));
    cJSON *s1 = at(spans, 1);
    expect_keys(s1, "spanId,spanName,service,traceId,observed,passed,error");
    ck_assert(cJSON_IsNull(get(s1, "observed")));
    ck_assert_str_eq(gets(s1, "error"), "attribute \"http.status_code\" not found");
    ck_assert(!getb(s1, "passed"));

    /* the empty span: no name, service or trace id */
    cJSON *t2 = at(tests, 2);
    expect_keys(t2, "id,name,file,suite,status,passed,traceId,spans,traces,timings,outputs,specs");
    ck_assert_str_eq(gets(t2, "suite"), "checkout flow");
    cJSON *empty = at(get(at(get(at(get(t2, "specs"), 0), "assertions"), 0), "spans"), 0);
    expect_keys(empty, "spanId,observed,passed,error");
    ck_assert_str_eq(gets(empty, "spanId"), "");

    cJSON *t3 = at(tests, 3);
    ck_assert_str_eq(gets(t3, "status"), "error");
    ck_assert_str_eq(gets(t3, "error"), "broken.yaml:3:5: unknown key \"bogus\"\n    bogus: 1\n    ^");
    ck_assert_str_eq(gets(at(tests, 4), "status"), "skipped");

    cJSON *t5 = at(tests, 5);
    expect_keys(t5, "id,name,file,status,passed,traceId,spans,traces,completion,timings,outputs,specs");
    ck_assert_str_eq(gets(t5, "completion"), "no new span for 500ms");
    cJSON *tm = get(t5, "timings");
    expect_keys(tm, "triggerMs,traceMs,evalMs");
    ck_assert(getn(tm, "triggerMs") == 12.5);
    ck_assert(getn(tm, "traceMs") == 1500);
    ck_assert(getn(tm, "evalMs") == 0.25);
    ck_assert_ptr_nonnull(strstr(s, "\"triggerMs\": 12.5,\n"));
    cJSON *outs = get(t5, "outputs");
    expect_keys(at(outs, 0), "name,value");
    ck_assert_str_eq(gets(at(outs, 0), "value"), "42");
    expect_keys(at(outs, 1), "name,value,warning");
    ck_assert(cJSON_IsNull(get(at(outs, 1), "value")));
    cJSON *wa = at(get(at(get(t5, "specs"), 0), "assertions"), 0);
    expect_keys(wa, "assertion,passed,warning,spans");
    ck_assert_str_eq(gets(wa, "warning"), "Tracetest would compute 10 (left to right)");

    cJSON_Delete(j);
    free(s);
    tbt_run_result_free(r);
}
END_TEST

START_TEST(json_empty_run_and_timings)
{
    tbt_run_result *r = tbt_run_result_new();
    char *s = json(r);
    ck_assert_str_eq(s, "{\n"
                        "  \"passed\": true,\n"
                        "  \"summary\": {\n"
                        "    \"tests\": 0,\n"
                        "    \"passed\": 0,\n"
                        "    \"failed\": 0,\n"
                        "    \"errors\": 0,\n"
                        "    \"skipped\": 0\n"
                        "  },\n"
                        "  \"tests\": []\n"
                        "}\n");
    free(s);
    tbt_test_result *t = add_test(r, "t", "t", TBT_TEST_PASSED, "");
    t->trigger_ns = 1234;   /* 0.001234 ms: rounds to 0.001 */
    t->trace_ns = 400;      /* non-zero but rounds to 0 */
    t->eval_ns = 20600000;  /* 20.6 */
    s = json(r);
    ck_assert_ptr_nonnull(strstr(s, "      \"timings\": {\n"
                                    "        \"triggerMs\": 0.001,\n"
                                    "        \"traceMs\": 0,\n"
                                    "        \"evalMs\": 20.6\n"
                                    "      },\n"
                                    "      \"outputs\": [],\n"
                                    "      \"specs\": []\n"));
    ck_assert_ptr_nonnull(strstr(s, "\"id\": \"t\",\n"));
    cJSON_Delete(parse_json(s));
    free(s);
    tbt_run_result_free(r);
}
END_TEST

/* NULL strings in required places become null, never a crash */
START_TEST(json_null_fields)
{
    tbt_run_result *r = tbt_run_result_new();
    tbt_run_result_add(r); /* all zero: no id, name, file, trace id */
    char *s = json(r);
    cJSON *j = parse_json(s);
    cJSON *t = at(get(j, "tests"), 0);
    ck_assert(cJSON_IsNull(get(t, "id")));
    ck_assert(cJSON_IsNull(get(t, "name")));
    ck_assert_str_eq(gets(t, "traceId"), "");
    cJSON_Delete(j);
    free(s);
    char *p = pretty(r, false, false);
    ck_assert_str_eq(p, "✔ (unnamed test) (trace id: )\n\n"
                        "1 test: 1 passed, 0 failed, 0 errors; 0 specs: 0 passed, 0 failed\n");
    free(p);
    char *x = junit(r);
    ck_assert_ptr_nonnull(strstr(x, "<testsuite name=\"(unnamed test)\" tests=\"0\""));
    free(x);
    tbt_run_result_free(r);
}
END_TEST

/* ---- hostile bytes --------------------------------------------------------- */

#define WEIRD "q\"<a&b>'\x01\x1b[31m\x7f\xff\xc3(\xed\xa0\x80\xef\xbf\xbf\xc2\x9b\tcaf\xc3\xa9\nline2"

static tbt_run_result *weird_run(void)
{
    tbt_run_result *r = tbt_run_result_new();
    tbt_test_result *t = add_test(r, WEIRD, WEIRD, TBT_TEST_FAILED, TRACE_A);
    t->environment = S(r, WEIRD);
    t->completion = S(r, WEIRD);
    static const sp v[] = {{"eeeeeeeeeeeeeee1", WEIRD, WEIRD, TRACE_B, false, WEIRD, WEIRD, NULL},
                           {"eeeeeeeeeeeeeee2", WEIRD, WEIRD, TRACE_A, false, NULL, NULL, WEIRD}};
    const as a[] = {{WEIRD, WEIRD, v, 2}};
    add_spec(r, t, WEIRD, WEIRD, 2, a, 1);
    add_output(r, t, WEIRD, WEIRD, WEIRD);
    t = add_test(r, "e", WEIRD, TBT_TEST_ERROR, "");
    t->error = S(r, WEIRD);
    t = add_test(r, "k", WEIRD, TBT_TEST_SKIPPED, "");
    t->error = S(r, WEIRD);
    return r;
}

/* WEIRD after sanitizing: each ill-formed piece is one U+FFFD, the
 * non-character U+FFFF is kept (JSON allows it) */
#define WEIRD_JSON                                                                                                  \
    "q\"<a&b>'\x01\x1b[31m\x7f\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbf\xc2\x9b\tcaf" \
    "\xc3\xa9\nline2"

START_TEST(weird_json)
{
    tbt_run_result *r = weird_run();
    char *s = json(r);
    ck_assert(valid_utf8(s));
    cJSON *j = parse_json(s);
    cJSON *t = at(get(j, "tests"), 0);
    ck_assert_str_eq(gets(t, "name"), WEIRD_JSON);
    ck_assert_str_eq(gets(t, "environment"), WEIRD_JSON);
    cJSON *sp0 = at(get(at(get(at(get(t, "specs"), 0), "assertions"), 0), "spans"), 0);
    ck_assert_str_eq(gets(sp0, "observed"), WEIRD_JSON);
    ck_assert_str_eq(gets(sp0, "traceId"), TRACE_B);
    ck_assert_str_eq(gets(at(get(at(get(at(get(t, "specs"), 0), "assertions"), 0), "spans"), 1), "error"),
                     WEIRD_JSON);
    ck_assert_str_eq(gets(at(get(j, "tests"), 1), "error"), WEIRD_JSON);
    cJSON_Delete(j);
    free(s);
    tbt_run_result_free(r);
}
END_TEST

START_TEST(weird_pretty)
{
    tbt_run_result *r = weird_run();
    for (int verbose = 0; verbose < 2; verbose++) {
        char *s = pretty(r, false, verbose);
        ck_assert(valid_utf8(s));
        ck_assert_ptr_null(strchr(s, '\033'));
        ck_assert_ptr_null(strchr(s, '\x01'));
        ck_assert_ptr_null(strchr(s, '\x7f'));
        ck_assert_ptr_null(strstr(s, "\xc2\x9b")); /* C1 CSI */
        /* the test line: controls spelled out, continuation indented */
        ck_assert_ptr_nonnull(strstr(s, "✘ q\"<a&b>'\\x01\\x1b[31m\\x7f\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd"
                                        "\xef\xbf\xbd\xef\xbf\xbf\\u009b\tcaf\xc3\xa9\n\tline2 ["));
        ck_assert_ptr_nonnull(strstr(s, "- q\"<a&b>'"));
        free(s);
    }
    char *s = pretty(r, true, true);
    ck_assert(valid_utf8(s));
    /* only our own escape sequences: each starts a known colour */
    static const char *const ours[] = {"\033[0m", "\033[1m", "\033[2m", "\033[31m", "\033[32m", "\033[33m"};
    for (const char *p = strchr(s, '\033'); p; p = strchr(p + 1, '\033')) {
        bool known = false;
        for (size_t i = 0; i < TBT_ARRAY_LEN(ours); i++)
            known = known || strncmp(p, ours[i], strlen(ours[i])) == 0;
        ck_assert_msg(known, "foreign escape sequence: %.8s", p + 1);
    }
    free(s);
    tbt_run_result_free(r);
}
END_TEST

static void expect_wellformed_xml(const char *s)
{
    ck_assert(valid_utf8(s));
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        ck_assert_msg(*p >= 0x20 || *p == '\n', "raw control character 0x%02x in XML", *p);
    ck_assert_ptr_null(strstr(s, "\xef\xbf\xbe"));
    ck_assert_ptr_null(strstr(s, "\xef\xbf\xbf"));
    /* every '&' starts a reference */
    for (const char *p = strchr(s, '&'); p; p = strchr(p + 1, '&'))
        ck_assert(strncmp(p, "&lt;", 4) == 0 || strncmp(p, "&gt;", 4) == 0 || strncmp(p, "&amp;", 5) == 0 ||
                  strncmp(p, "&quot;", 6) == 0 || strncmp(p, "&apos;", 6) == 0 || strncmp(p, "&#", 2) == 0);
    /* '<' and '>' appear raw only around tags, never in values */
    ck_assert_uint_eq(count(s, "<"), count(s, ">"));
}

START_TEST(weird_junit)
{
    tbt_run_result *r = weird_run();
    char *s = junit(r);
    expect_wellformed_xml(s);
/* C0 controls become '?', U+FFFF becomes U+FFFD, tab and newline are
 * character references; DEL and C1 are legal XML 1.0 characters. */
#define WEIRD_XML                                                                                                   \
    "q&quot;&lt;a&amp;b&gt;&apos;??[31m\x7f\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"        \
    "\xef\xbf\xbd\xc2\x9b&#9;caf\xc3\xa9&#10;line2"
    ck_assert_ptr_nonnull(strstr(s, "<testsuite name=\"" WEIRD_XML " [" WEIRD_XML "] / " WEIRD_XML "\""));
    ck_assert_ptr_nonnull(strstr(s, "<testcase name=\"" WEIRD_XML " [#eeeeeeeeeeeeeee1]\" classname=\"" WEIRD_XML
                                    "\">\n      <failure type=\"" WEIRD_XML "\" message=\"" WEIRD_XML "\"/>"));
    ck_assert_ptr_nonnull(strstr(s, "<error message=\"" WEIRD_XML "\"/>"));
    ck_assert_ptr_nonnull(strstr(s, "<skipped message=\"" WEIRD_XML "\"/>"));
    /* ESC is not a legal XML character either */
    ck_assert_ptr_null(strchr(s, '\033'));
    free(s);
    tbt_run_result_free(r);
}
END_TEST

/* ---- JUnit ----------------------------------------------------------------- */

START_TEST(junit_counts)
{
    tbt_run_result *r = tbt_run_result_new();
    add_checkout_and_payment(r);
    add_suite(r);
    r->tests[0].trace_ns = 1500000000;
    r->tests[0].eval_ns = 2500000;
    r->tests[1].trigger_ns = 250000000;
    char *s = junit(r);
    expect_wellformed_xml(s);
    ck_assert(strncmp(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 39) == 0);
    /* checkout 2 + payment 1 + 6, absent 2, broken 1, later 1 */
    ck_assert_ptr_nonnull(strstr(s, "<testsuites name=\"tbt\" tests=\"13\" failures=\"1\" errors=\"3\" skipped=\"1\" "
                                    "time=\"1.753\">\n"));
    ck_assert_uint_eq(count(s, "<testcase "), 13);
    ck_assert_uint_eq(count(s, "<failure "), 1);
    ck_assert_uint_eq(count(s, "<error "), 3);
    ck_assert_uint_eq(count(s, "<skipped"), 1);
    ck_assert_uint_eq(count(s, "<testsuite "), 6);
    ck_assert_ptr_nonnull(
        strstr(s, "  <testsuite name=\"checkout [eu-west] / all http spans\" tests=\"2\" failures=\"0\" errors=\"0\" "
                  "skipped=\"0\">\n"
                  "    <testcase name=\"attr:http.status_code = 200 [#aaaaaaaaaaaaaaa1]\" classname=\"checkout\"/>\n"));
    ck_assert_ptr_nonnull(strstr(
        s, "  <testsuite name=\"payment / span[name = &quot;charge&quot;]\" tests=\"6\" failures=\"1\" errors=\"1\" "
           "skipped=\"0\">\n"
           "    <testcase name=\"attr:http.status_code = 200 [#00f067aa0ba902b7]\" classname=\"payment\">\n"
           "      <failure type=\"attr:http.status_code = 200\" message=\"500\"/>\n"
           "    </testcase>\n"
           "    <testcase name=\"attr:http.status_code = 200 [#53995c3f42cd8ad8]\" classname=\"payment\">\n"
           "      <error message=\"attribute &quot;http.status_code&quot; not found\"/>\n"
           "    </testcase>\n"));
    /* the empty span: no suffix */
    ck_assert_ptr_nonnull(strstr(s, "    <testcase name=\"attr:http.method = &quot;GET&quot;\" classname=\"absent\">\n"
                                    "      <error message=\"attribute &quot;http.method&quot; not found: no span "
                                    "matched the selector\"/>\n"));
    ck_assert_ptr_nonnull(strstr(s, "  <testsuite name=\"checkout flow / absent / span[name = &quot;missing&quot;]\""));
    /* an error test: one suite, one case; newlines kept as references */
    ck_assert_ptr_nonnull(strstr(s, "  <testsuite name=\"checkout flow / broken\" tests=\"1\" failures=\"0\" "
                                    "errors=\"1\" skipped=\"0\">\n"
                                    "    <testcase name=\"broken\" classname=\"broken\">\n"
                                    "      <error message=\"broken.yaml:3:5: unknown key &quot;bogus&quot;&#10;    "
                                    "bogus: 1&#10;    ^\"/>\n"));
    ck_assert_ptr_nonnull(strstr(s, "  <testsuite name=\"checkout flow / later\" tests=\"1\" failures=\"0\" "
                                    "errors=\"0\" skipped=\"1\">\n"
                                    "    <testcase name=\"later\" classname=\"later\">\n"
                                    "      <skipped/>\n"));
    ck_assert_str_eq(s + strlen(s) - strlen("</testsuites>\n"), "</testsuites>\n");
    free(s);
    tbt_run_result_free(r);
}
END_TEST

START_TEST(junit_spec_error_and_empty)
{
    tbt_run_result *r = tbt_run_result_new();
    char *s = junit(r);
    ck_assert_str_eq(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<testsuites name=\"tbt\" tests=\"0\" failures=\"0\" errors=\"0\" skipped=\"0\" "
                        "time=\"0.000\"/>\n");
    free(s);
    /* a selector that failed: every assertion is an error; a spec with
     * none still reports one */
    tbt_test_result *t = add_test(r, "sel", "sel", TBT_TEST_FAILED, TRACE_A);
    const as a[] = {{"attr:a = 1", NULL, NULL, 0}, {"attr:b = 2", NULL, NULL, 0}};
    tbt_spec_result *sp1 = add_spec(r, t, "bad", "span[x = ${var:NOPE}]", 0, a, 2);
    sp1->error = S(r, "variable NOPE is not defined");
    sp1->passed = false;
    sp1->asserts[0].passed = sp1->asserts[1].passed = false;
    tbt_spec_result *sp2 = add_spec(r, t, "", "span[y = ${var:NOPE}]", 0, NULL, 0);
    sp2->error = S(r, "variable NOPE is not defined");
    sp2->passed = false;
    s = junit(r);
    expect_wellformed_xml(s);
    ck_assert_ptr_nonnull(strstr(s, "tests=\"3\" failures=\"0\" errors=\"3\" skipped=\"0\" time=\"0.000\">"));
    ck_assert_ptr_nonnull(strstr(s, "<testcase name=\"attr:b = 2\" classname=\"sel\">\n"
                                    "      <error message=\"variable NOPE is not defined\"/>"));
    ck_assert_ptr_nonnull(strstr(s, "<testsuite name=\"sel / span[y = ${var:NOPE}]\" tests=\"1\" failures=\"0\" "
                                    "errors=\"1\" skipped=\"0\">\n"
                                    "    <testcase name=\"span[y = ${var:NOPE}]\" classname=\"sel\">\n"));
    free(s);
    /* pretty: the selector error on the spec line, nothing under it */
    s = pretty(r, false, false);
    ck_assert_str_eq(s, "✘ sel (trace id: " TRACE_A ")\n"
                        "\t✘ bad: error: variable NOPE is not defined\n"
                        "\t✘ span[y = ${var:NOPE}]: error: variable NOPE is not defined\n"
                        "\n"
                        "1 test: 0 passed, 1 failed, 0 errors; 2 specs: 0 passed, 2 failed\n");
    free(s);
    tbt_run_result_free(r);
}
END_TEST

static Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("utf8");
    tcase_add_loop_test(tc, utf8_sanitize, 0, (int)TBT_ARRAY_LEN(utf8_cases));
    tcase_add_loop_test(tc, json_str_replaces_ill_formed_utf8, 0, (int)TBT_ARRAY_LEN(utf8_cases));
    tcase_add_test(tc, utf8_decode);
    suite_add_tcase(s, tc);

    tc = tcase_create("pretty");
    tcase_add_test(tc, pretty_pass_and_fail);
    tcase_add_test(tc, pretty_suite_error_skipped_empty_span);
    tcase_add_test(tc, pretty_warnings);
    tcase_add_test(tc, pretty_verbose);
    tcase_add_test(tc, pretty_color);
    tcase_add_test(tc, pretty_empty_run);
    tcase_add_test(tc, pretty_long_values_cut);
    tcase_add_test(tc, pretty_suite_per_environment);
    suite_add_tcase(s, tc);

    tc = tcase_create("json");
    tcase_add_test(tc, json_fields);
    tcase_add_test(tc, json_empty_run_and_timings);
    tcase_add_test(tc, json_null_fields);
    suite_add_tcase(s, tc);

    tc = tcase_create("junit");
    tcase_add_test(tc, junit_counts);
    tcase_add_test(tc, junit_spec_error_and_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_add_test(tc, weird_json);
    tcase_add_test(tc, weird_pretty);
    tcase_add_test(tc, weird_junit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(report_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
