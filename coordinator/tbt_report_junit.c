/*
 * tbt_report_junit.c - JUnit XML in Tracetest's shape (docs/reports.md,
 * "JUnit").
 *
 * Mapping: a spec is a <testsuite>, each (assertion, span) pair a
 * <testcase>. Counts are written as attributes ahead of the elements they
 * count, so each testsuite's cases are rendered into a scratch buffer
 * first and the totals are summed while doing so.
 *
 * Well-formedness whatever the input: ill-formed UTF-8 and the
 * non-characters U+FFFE/U+FFFF (not XML 1.0 Chars) become U+FFFD, other
 * control characters are replaced by tbt_buf_xml_escape, and newlines,
 * carriage returns and tabs inside attribute values are written as
 * character references so that parsers do not normalise them to spaces.
 */
#include "tbt_report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_analyzer.h"

typedef struct counts {
    size_t tests, failures, errors, skipped;
} counts;

typedef struct jx {
    tbt_buf tmp;   /* scratch for escaping */
    tbt_buf cases; /* the current testsuite's testcases */
    counts suite;  /* the current testsuite's counts */
} jx;

/* Escaped attribute value (without the quotes). */
static void xml_attr(jx *x, tbt_buf *out, const char *s)
{
    if (!s || !*s)
        return;
    tbt_buf *t = &x->tmp;
    tbt_buf_reset(t);
    tbt_utf8_sanitize(t, s, strlen(s));
    char *d = t->data;
    size_t n = t->len;
    for (size_t i = 0; i + 2 < n; i++)
        if ((unsigned char)d[i] == 0xEF && (unsigned char)d[i + 1] == 0xBF &&
            ((unsigned char)d[i + 2] == 0xBE || (unsigned char)d[i + 2] == 0xBF))
            d[i + 2] = (char)0xBD;
    /* tbt_buf_xml_escape takes NUL-terminated text: cut the scratch copy
     * at each character that needs a reference, escape the piece, put the
     * character back. */
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? d[i] : '\0';
        if (i < n && c != '\n' && c != '\r' && c != '\t')
            continue;
        d[i] = '\0';
        tbt_buf_xml_escape(out, d + start);
        if (i < n) {
            tbt_buf_printf(out, "&#%d;", c);
            d[i] = c;
        }
        start = i + 1;
    }
}

static void attr(jx *x, tbt_buf *out, const char *name, const char *value)
{
    tbt_buf_printf(out, " %s=\"", name);
    xml_attr(x, out, value);
    tbt_buf_putc(out, '"');
}

static const char *test_name(const tbt_test_result *t)
{
    return t->name && *t->name ? t->name : t->id && *t->id ? t->id : "(unnamed test)";
}

static const char *spec_title(const tbt_spec_result *s)
{
    if (s->name && *s->name)
        return s->name;
    if (s->selector && *s->selector)
        return s->selector;
    return "(all spans)";
}

/* "[SUITE / ]TEST[ [ENV]]": unique per test of a run, so the same test in
 * two suites or two environments gives distinct testsuite names. */
static char *qualified_name(const tbt_test_result *t)
{
    return tbt_xasprintf("%s%s%s%s%s%s", t->suite ? t->suite : "", t->suite ? " / " : "", test_name(t),
                         t->environment ? " [" : "", t->environment ? t->environment : "",
                         t->environment ? "]" : "");
}

/* kind: NULL for a pass, else "failure", "error" or "skipped". */
static void testcase(jx *x, const tbt_test_result *t, const char *name, const char *span_id, const char *kind,
                     const char *type, const char *message)
{
    tbt_buf *b = &x->cases;
    x->suite.tests++;
    tbt_buf_puts(b, "    <testcase name=\"");
    xml_attr(x, b, name);
    if (span_id && *span_id) {
        tbt_buf_puts(b, " [#");
        xml_attr(x, b, span_id);
        tbt_buf_putc(b, ']');
    }
    tbt_buf_putc(b, '"');
    attr(x, b, "classname", test_name(t));
    if (!kind) {
        tbt_buf_puts(b, "/>\n");
        return;
    }
    tbt_buf_puts(b, ">\n      <");
    tbt_buf_puts(b, kind);
    if (strcmp(kind, "failure") == 0) {
        x->suite.failures++;
        attr(x, b, "type", type);
        attr(x, b, "message", message);
    } else if (strcmp(kind, "error") == 0) {
        x->suite.errors++;
        attr(x, b, "message", message);
    } else {
        x->suite.skipped++;
        if (message)
            attr(x, b, "message", message);
    }
    tbt_buf_puts(b, "/>\n    </testcase>\n");
}

/* Close the current testsuite: header with its counts, then its cases. */
static void flush_suite(jx *x, tbt_buf *out, counts *total, const char *name)
{
    tbt_buf_puts(out, "  <testsuite");
    attr(x, out, "name", name);
    tbt_buf_printf(out, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\"", x->suite.tests,
                   x->suite.failures, x->suite.errors, x->suite.skipped);
    if (x->cases.len) {
        tbt_buf_puts(out, ">\n");
        tbt_buf_append(out, x->cases.data, x->cases.len);
        tbt_buf_puts(out, "  </testsuite>\n");
    } else {
        tbt_buf_puts(out, "/>\n");
    }
    total->tests += x->suite.tests;
    total->failures += x->suite.failures;
    total->errors += x->suite.errors;
    total->skipped += x->suite.skipped;
    memset(&x->suite, 0, sizeof(x->suite));
    tbt_buf_reset(&x->cases);
}

static void spec_cases(jx *x, const tbt_test_result *t, const tbt_spec_result *s)
{
    if (s->error) {
        /* the selector failed: every assertion is an error, and a spec
         * without assertions still reports it */
        for (size_t i = 0; i < s->n_asserts; i++)
            testcase(x, t, s->asserts[i].assertion, NULL, "error", NULL, s->error);
        if (!s->n_asserts)
            testcase(x, t, s->selector && *s->selector ? s->selector : "(all spans)", NULL, "error", NULL,
                     s->error);
        return;
    }
    for (size_t i = 0; i < s->n_asserts; i++) {
        const tbt_assert_result *a = &s->asserts[i];
        const char *an = a->assertion ? a->assertion : "";
        if (!a->n_spans) {
            testcase(x, t, an, NULL, a->passed ? NULL : "failure", an, "");
            continue;
        }
        for (size_t k = 0; k < a->n_spans; k++) {
            const tbt_span_result *sr = &a->spans[k];
            if (sr->error)
                testcase(x, t, an, sr->span_id, "error", NULL, sr->error);
            else if (!sr->passed)
                testcase(x, t, an, sr->span_id, "failure", an, sr->observed ? sr->observed : "");
            else
                testcase(x, t, an, sr->span_id, NULL, NULL, NULL);
        }
    }
}

/* The analyzer's verdict as a testsuite "TEST / analyzer", when a gate
 * needs it: a testcase for the score and one per rule that ran; a
 * failure only where a required gate fails (a rule at level warning
 * never does). */
static void lint_suite(jx *x, tbt_buf *out, counts *total, const tbt_test_result *t, const char *qn,
                       unsigned gates)
{
    const tbt_lint_result *l = t->lint;
    char msg[96];
    snprintf(msg, sizeof(msg), "score %d below the minimum %d", l->score, l->minimum_score);
    testcase(x, t, "analyzer score", NULL, (gates & TBT_GATE_ANALYZER_SCORE) && !l->score_passed ? "failure" : NULL,
             "analyzer-score", msg);
    for (size_t i = 0; i < l->n_rules; i++) {
        const tbt_lint_rule_result *r = &l->rules[i];
        if (r->level == TBT_LINT_DISABLED)
            continue;
        char *name = tbt_xasprintf("%s/%s", r->plugin, r->id);
        bool fails = (gates & TBT_GATE_ANALYZER_RULES) && !r->passed && r->level == TBT_LINT_ERROR;
        tbt_buf m = TBT_BUF_INIT;
        for (size_t k = 0; fails && k < r->n_findings; k++)
            tbt_buf_printf(&m, "%s#%s %s", k ? "; " : "", r->findings[k].span_id, r->findings[k].message);
        if (fails && r->n_findings_total > r->n_findings)
            tbt_buf_printf(&m, "; and %zu more", r->n_findings_total - r->n_findings);
        testcase(x, t, name, NULL, fails ? "failure" : NULL, name, tbt_buf_cstr(&m));
        tbt_buf_free(&m);
        free(name);
    }
    char *sn = tbt_xasprintf("%s / analyzer", qn);
    flush_suite(x, out, total, sn);
    free(sn);
}

static void test_suites(jx *x, tbt_buf *out, counts *total, const tbt_test_result *t, unsigned gates)
{
    char *qn = qualified_name(t);
    if (t->lint && (gates & (TBT_GATE_ANALYZER_SCORE | TBT_GATE_ANALYZER_RULES)))
        lint_suite(x, out, total, t, qn, gates);
    if (t->status == TBT_TEST_ERROR || t->status == TBT_TEST_SKIPPED || !t->n_specs) {
        if (t->status == TBT_TEST_ERROR)
            testcase(x, t, test_name(t), NULL, "error", NULL, t->error ? t->error : "unknown error");
        else if (t->status == TBT_TEST_SKIPPED)
            testcase(x, t, test_name(t), NULL, "skipped", NULL, t->error);
        /* a test without specs still appears, as an empty testsuite */
        flush_suite(x, out, total, qn);
        free(qn);
        return;
    }
    for (size_t i = 0; i < t->n_specs; i++) {
        spec_cases(x, t, &t->specs[i]);
        char *name = tbt_xasprintf("%s / %s", qn, spec_title(&t->specs[i]));
        flush_suite(x, out, total, name);
        free(name);
    }
    free(qn);
}

void tbt_report_junit(const tbt_run_result *r, tbt_buf *out)
{
    jx x = {.tmp = TBT_BUF_INIT, .cases = TBT_BUF_INIT, .suite = {0, 0, 0, 0}};
    tbt_buf body = TBT_BUF_INIT;
    counts total = {0, 0, 0, 0};
    uint64_t ns = 0;
    for (size_t i = 0; i < r->n_tests; i++) {
        const tbt_test_result *t = &r->tests[i];
        test_suites(&x, &body, &total, t, r->required_gates);
        /* trace_ns runs from the trigger's start, so it covers the trigger */
        ns += (t->trace_ns ? t->trace_ns : t->trigger_ns) + t->eval_ns;
    }
    uint64_t ms = ns / 1000000 + (ns % 1000000 >= 500000);
    tbt_buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    tbt_buf_printf(out,
                   "<testsuites name=\"tbt\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\""
                   " time=\"%" PRIu64 ".%03" PRIu64 "\"",
                   total.tests, total.failures, total.errors, total.skipped, ms / 1000, ms % 1000);
    if (body.len) {
        tbt_buf_puts(out, ">\n");
        tbt_buf_append(out, body.data, body.len);
        tbt_buf_puts(out, "</testsuites>\n");
    } else {
        tbt_buf_puts(out, "/>\n");
    }
    tbt_buf_free(&body);
    tbt_buf_free(&x.cases);
    tbt_buf_free(&x.tmp);
}
