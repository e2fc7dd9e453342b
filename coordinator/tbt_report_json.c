/*
 * tbt_report_json.c - the run as JSON (docs/reports.md, "JSON"), and the
 * UTF-8 helpers every report uses.
 *
 * The key order is fixed and documented, so consumers that diff reports
 * (or jq pipelines in CI) see stable output. Optional keys are omitted;
 * "observed" and "error" of a span result are always present (null when
 * absent) because scripts test them first.
 */
#include "tbt_report.h"

#include <inttypes.h>
#include <string.h>

/* ---- UTF-8 ---------------------------------------------------------------- */

size_t tbt_report_utf8_next(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char c = p[0];
    size_t need;
    uint32_t v;
    /* The second byte's range excludes overlongs (E0, F0), surrogates (ED)
     * and values past U+10FFFF (F4); later bytes are plain continuations. */
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        v = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        v = c & 0x0Fu;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        v = c & 0x07u;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= n || p[i] < lo || p[i] > hi) {
            *cp = 0xFFFD;
            return i;
        }
        v = v << 6 | (p[i] & 0x3Fu);
        lo = 0x80;
        hi = 0xBF;
    }
    *cp = v;
    return need + 1;
}

void tbt_report_utf8_put(tbt_buf *out, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    tbt_buf_append(out, u, n);
}

bool tbt_report_utf8_sanitize(tbt_buf *out, const char *s, size_t n)
{
    bool valid = true;
    size_t start = 0, i = 0;
    while (i < n) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = tbt_report_utf8_next(s + i, n - i, &cp);
        /* A literal U+FFFD (EF BF BD) decodes to the same value; only
         * ill-formed input is replaced. */
        if (cp == 0xFFFD && !(l == 3 && memcmp(s + i, "\xEF\xBF\xBD", 3) == 0)) {
            tbt_buf_append(out, s + start, i - start);
            tbt_report_utf8_put(out, 0xFFFD);
            valid = false;
            start = i + l;
        }
        i += l;
    }
    tbt_buf_append(out, s + start, n - start);
    return valid;
}

/* ---- a small pretty-printing writer -------------------------------------- */

typedef struct jw {
    tbt_buf *b;
    int depth;
    bool first; /* nothing written yet in the innermost container */
    tbt_buf tmp;
} jw;

static void jw_indent(jw *w)
{
    tbt_buf_putc(w->b, '\n');
    for (int i = 0; i < w->depth; i++)
        tbt_buf_puts(w->b, "  ");
}

/* Before each member or element: the comma and the line break. */
static void jw_sep(jw *w)
{
    if (!w->first)
        tbt_buf_putc(w->b, ',');
    jw_indent(w);
    w->first = false;
}

static void jw_open(jw *w, char c)
{
    tbt_buf_putc(w->b, c);
    w->depth++;
    w->first = true;
}

static void jw_close(jw *w, char c)
{
    w->depth--;
    if (!w->first)
        jw_indent(w);
    tbt_buf_putc(w->b, c);
    w->first = false;
}

static void jw_key(jw *w, const char *k)
{
    jw_sep(w);
    tbt_buf_json_str(w->b, k, strlen(k));
    tbt_buf_puts(w->b, ": ");
}

/* A string value, or null for NULL. Ill-formed UTF-8 is replaced first so
 * the document stays valid JSON (RFC 8259 requires UTF-8). */
static void jw_str(jw *w, const char *s)
{
    if (!s) {
        tbt_buf_puts(w->b, "null");
        return;
    }
    size_t n = strlen(s);
    tbt_buf_reset(&w->tmp);
    if (tbt_report_utf8_sanitize(&w->tmp, s, n))
        tbt_buf_json_str(w->b, s, n);
    else
        tbt_buf_json_str(w->b, w->tmp.data, w->tmp.len);
}

static void jw_kstr(jw *w, const char *k, const char *s)
{
    jw_key(w, k);
    jw_str(w, s);
}

static void jw_kstr_opt(jw *w, const char *k, const char *s)
{
    if (s)
        jw_kstr(w, k, s);
}

static void jw_kbool(jw *w, const char *k, bool v)
{
    jw_key(w, k);
    tbt_buf_puts(w->b, v ? "true" : "false");
}

static void jw_ksize(jw *w, const char *k, size_t v)
{
    jw_key(w, k);
    tbt_buf_printf(w->b, "%zu", v);
}

/* Milliseconds with up to three decimals, by integer arithmetic so the
 * text is exact and locale-independent: 20600000 ns -> 20.6. */
static void jw_kms(jw *w, const char *k, uint64_t ns)
{
    if (!ns)
        return;
    uint64_t us = ns / 1000 + (ns % 1000 >= 500);
    uint64_t whole = us / 1000, frac = us % 1000;
    jw_key(w, k);
    if (!frac) {
        tbt_buf_printf(w->b, "%" PRIu64, whole);
        return;
    }
    char f[4] = {(char)('0' + frac / 100), (char)('0' + frac / 10 % 10), (char)('0' + frac % 10), '\0'};
    for (int i = 2; i > 0 && f[i] == '0'; i--)
        f[i] = '\0';
    tbt_buf_printf(w->b, "%" PRIu64 ".%s", whole, f);
}

/* ---- the report ------------------------------------------------------------ */

static void write_span(jw *w, const tbt_span_result *s)
{
    jw_sep(w);
    jw_open(w, '{');
    jw_kstr(w, "spanId", s->span_id ? s->span_id : "");
    jw_kstr_opt(w, "spanName", s->span_name);
    jw_kstr_opt(w, "service", s->service);
    if (s->trace_id && *s->trace_id)
        jw_kstr(w, "traceId", s->trace_id);
    jw_kstr(w, "observed", s->observed);
    jw_kstr_opt(w, "expected", s->expected);
    jw_kbool(w, "passed", s->passed);
    jw_kstr(w, "error", s->error);
    jw_close(w, '}');
}

static void write_assert(jw *w, const tbt_assert_result *a)
{
    jw_sep(w);
    jw_open(w, '{');
    jw_kstr(w, "assertion", a->assertion ? a->assertion : "");
    jw_kbool(w, "passed", a->passed);
    jw_kstr_opt(w, "warning", a->warning);
    jw_key(w, "spans");
    jw_open(w, '[');
    for (size_t i = 0; i < a->n_spans; i++)
        write_span(w, &a->spans[i]);
    jw_close(w, ']');
    jw_close(w, '}');
}

static void write_spec(jw *w, const tbt_spec_result *s)
{
    jw_sep(w);
    jw_open(w, '{');
    jw_kstr(w, "name", s->name ? s->name : "");
    jw_kstr(w, "selector", s->selector ? s->selector : "");
    jw_kbool(w, "passed", s->passed);
    jw_ksize(w, "selectedSpans", s->n_selected);
    jw_kstr_opt(w, "error", s->error);
    jw_key(w, "assertions");
    jw_open(w, '[');
    for (size_t i = 0; i < s->n_asserts; i++)
        write_assert(w, &s->asserts[i]);
    jw_close(w, ']');
    jw_close(w, '}');
}

static void write_test(jw *w, const tbt_test_result *t)
{
    jw_sep(w);
    jw_open(w, '{');
    jw_kstr(w, "id", t->id);
    jw_kstr(w, "name", t->name);
    jw_kstr(w, "file", t->file);
    jw_kstr_opt(w, "suite", t->suite);
    jw_kstr_opt(w, "environment", t->environment);
    jw_kstr(w, "status", tbt_test_status_name(t->status));
    jw_kbool(w, "passed", t->status == TBT_TEST_PASSED);
    jw_kstr(w, "traceId", t->trace_id ? t->trace_id : "");
    jw_ksize(w, "spans", t->n_spans);
    jw_ksize(w, "traces", t->n_traces);
    jw_kstr_opt(w, "error", t->error);
    jw_kstr_opt(w, "completion", t->completion);

    jw_key(w, "timings");
    jw_open(w, '{');
    jw_kms(w, "triggerMs", t->trigger_ns);
    jw_kms(w, "traceMs", t->trace_ns);
    jw_kms(w, "evalMs", t->eval_ns);
    jw_close(w, '}');

    jw_key(w, "outputs");
    jw_open(w, '[');
    for (size_t i = 0; i < t->n_outputs; i++) {
        const tbt_output_result *o = &t->outputs[i];
        jw_sep(w);
        jw_open(w, '{');
        jw_kstr(w, "name", o->name ? o->name : "");
        jw_kstr(w, "value", o->value);
        jw_kstr_opt(w, "warning", o->warning);
        jw_close(w, '}');
    }
    jw_close(w, ']');

    jw_key(w, "specs");
    jw_open(w, '[');
    for (size_t i = 0; i < t->n_specs; i++)
        write_spec(w, &t->specs[i]);
    jw_close(w, ']');
    jw_close(w, '}');
}

void tbt_report_json(const tbt_run_result *r, tbt_buf *out)
{
    jw w = {.b = out, .depth = 0, .first = true, .tmp = TBT_BUF_INIT};
    jw_open(&w, '{');
    jw_kbool(&w, "passed", tbt_run_result_passed(r));

    jw_key(&w, "summary");
    jw_open(&w, '{');
    jw_ksize(&w, "tests", r->n_tests);
    jw_ksize(&w, "passed", tbt_run_result_count(r, TBT_TEST_PASSED));
    jw_ksize(&w, "failed", tbt_run_result_count(r, TBT_TEST_FAILED));
    jw_ksize(&w, "errors", tbt_run_result_count(r, TBT_TEST_ERROR));
    jw_ksize(&w, "skipped", tbt_run_result_count(r, TBT_TEST_SKIPPED));
    jw_close(&w, '}');

    jw_key(&w, "tests");
    jw_open(&w, '[');
    for (size_t i = 0; i < r->n_tests; i++)
        write_test(&w, &r->tests[i]);
    jw_close(&w, ']');
    jw_close(&w, '}');
    tbt_buf_putc(out, '\n');
    tbt_buf_free(&w.tmp);
}
