/*
 * tbt_report_pretty.c - the terminal report (docs/reports.md, "Pretty").
 *
 * Indentation is by tabs, one per level (test, spec, assertion, span), as
 * Tracetest's CLI does; a suite header adds one level to its steps. Text
 * from the system under test goes through put_text(), which keeps the
 * terminal safe (no escape sequences get through) and indents the
 * continuation lines of multi-line values under their first line.
 */
#include "tbt_report.h"

#include <string.h>

#include "tbt_analyzer.h"
#include "tbt_report_lint.h"
#include "tbt_runner.h"

#define C_GREEN "\033[32m"
#define C_RED "\033[31m"
#define C_YELLOW "\033[33m"
#define C_DIM "\033[2m"
#define C_BOLD "\033[1m"
#define C_RESET "\033[0m"

#define MARK_PASS "\xe2\x9c\x94" /* ✔ */
#define MARK_FAIL "\xe2\x9c\x98" /* ✘ */
#define MARK_WARN "\xe2\x9a\xa0" /* ⚠ */

/* Observed and expected values longer than this are cut (not in verbose
 * mode): a response body of a megabyte helps no one on a terminal. */
#define VALUE_MAX 200

typedef struct pr {
    tbt_buf *b;
    bool color, verbose;
    int base; /* indentation added by an enclosing suite header */
} pr;

static void color_on(pr *p, const char *c)
{
    if (p->color)
        tbt_buf_puts(p->b, c);
}

static void color_off(pr *p)
{
    if (p->color)
        tbt_buf_puts(p->b, C_RESET);
}

static void indent(pr *p, int level)
{
    for (int i = 0; i < p->base + level; i++)
        tbt_buf_putc(p->b, '\t');
}

/* Append untrusted text. Ill-formed UTF-8 becomes U+FFFD; C0 controls
 * other than tab and newline, DEL and the C1 controls (U+0080..U+009F,
 * which include the 8-bit CSI) are shown as \xNN or \u00NN so a span name
 * cannot move the cursor or recolour the terminal. After each newline the
 * next line is indented to `level`. When max > 0, at most max bytes of
 * input are shown, followed by "… (N bytes)". Colour state is not touched:
 * the caller's colour stays on across the continuation lines' tabs. */
static void put_text_max(pr *p, const char *s, int level, size_t max)
{
    if (!s)
        return;
    size_t n = strlen(s), i = 0;
    size_t lim = max && n > max ? max : n;
    while (i < lim) {
        if (s[i] == '\n') {
            tbt_buf_putc(p->b, '\n');
            indent(p, level);
            i++;
        } else if (s[i] == '\t') {
            tbt_buf_putc(p->b, '\t');
            i++;
        } else {
            size_t l = tbt_term_put_char(p->b, s, n, i, lim);
            if (!l)
                break; /* never cut a character in half */
            i += l;
        }
    }
    if (i < n)
        tbt_buf_printf(p->b, "\xe2\x80\xa6 (%zu bytes)", n);
}

static void put_text(pr *p, const char *s, int level)
{
    put_text_max(p, s, level, 0);
}

static void put_value(pr *p, const char *s, int level)
{
    put_text_max(p, s, level, p->verbose ? 0 : VALUE_MAX);
}

static void mark(pr *p, bool ok)
{
    color_on(p, ok ? C_GREEN : C_RED);
    tbt_buf_puts(p->b, ok ? MARK_PASS : MARK_FAIL);
    color_off(p);
    tbt_buf_putc(p->b, ' ');
}

/* "⚠ text" on its own line at `level`, all yellow. */
static void warning_line(pr *p, int level, const char *prefix, const char *text)
{
    indent(p, level);
    color_on(p, C_YELLOW);
    tbt_buf_puts(p->b, MARK_WARN " ");
    if (prefix)
        put_text(p, prefix, level + 1);
    put_text(p, text, level + 1);
    color_off(p);
    tbt_buf_putc(p->b, '\n');
}

/* Rounded for reading: ms precision past a second, us past a millisecond. */
static void put_duration(pr *p, const char *label, uint64_t ns)
{
    uint64_t q = ns >= 1000000000u ? 1000000u : ns >= 1000000u ? 1000u : 1u;
    uint64_t v = (ns + q / 2) / q * q;
    char d[48];
    tbt_format_duration(v > INT64_MAX ? INT64_MAX : (int64_t)v, d, sizeof(d));
    tbt_buf_printf(p->b, "%s %s", label, d);
}

static const char *spec_title(const tbt_spec_result *s)
{
    if (s->name && *s->name)
        return s->name;
    if (s->selector && *s->selector)
        return s->selector;
    return "(all spans)";
}

static const char *test_name(const tbt_test_result *t)
{
    return t->name && *t->name ? t->name : t->id && *t->id ? t->id : "(unnamed test)";
}

/* "NAME [env]" */
static void test_title(pr *p, const tbt_test_result *t)
{
    put_text(p, test_name(t), 1);
    if (t->environment) {
        tbt_buf_puts(p->b, " [");
        put_text(p, t->environment, 1);
        tbt_buf_putc(p->b, ']');
    }
}

static void trace_id_part(pr *p, const tbt_test_result *t)
{
    color_on(p, C_DIM);
    tbt_buf_puts(p->b, " (trace id: ");
    put_text(p, t->trace_id ? t->trace_id : "", 1);
    tbt_buf_putc(p->b, ')');
    color_off(p);
}

/* verbose: completion reason, span count and timings on one dim line */
static void info_line(pr *p, const tbt_test_result *t)
{
    bool any = t->completion || t->n_spans || t->trigger_ns || t->trace_ns || t->eval_ns;
    if (!p->verbose || !any)
        return;
    indent(p, 1);
    color_on(p, C_DIM);
    const char *sep = "";
    if (t->completion) {
        tbt_buf_puts(p->b, "completion: ");
        put_text(p, t->completion, 2);
        sep = ", ";
    }
    if (t->n_spans) {
        tbt_buf_printf(p->b, "%s%zu span%s", sep, t->n_spans, t->n_spans == 1 ? "" : "s");
        if (t->n_traces > 1)
            tbt_buf_printf(p->b, " in %zu traces", t->n_traces);
        sep = ", ";
    }
    const struct {
        const char *label;
        uint64_t ns;
    } tm[] = {{"trigger", t->trigger_ns}, {"trace", t->trace_ns}, {"eval", t->eval_ns}};
    for (size_t i = 0; i < TBT_ARRAY_LEN(tm); i++) {
        if (!tm[i].ns)
            continue;
        tbt_buf_puts(p->b, sep);
        put_duration(p, tm[i].label, tm[i].ns);
        sep = ", ";
    }
    color_off(p);
    tbt_buf_putc(p->b, '\n');
}

static void span_line(pr *p, const tbt_test_result *t, const tbt_span_result *s)
{
    indent(p, 3);
    mark(p, s->passed && !s->error);
    if (!s->span_id || !*s->span_id) {
        tbt_buf_puts(p->b, "(no span matched)");
    } else {
        color_on(p, C_DIM);
        tbt_buf_putc(p->b, '#');
        put_text(p, s->span_id, 4);
        color_off(p);
        if (s->span_name) {
            tbt_buf_putc(p->b, ' ');
            put_text(p, s->span_name, 4);
        }
        if (s->service) {
            tbt_buf_puts(p->b, " (");
            put_text(p, s->service, 4);
            tbt_buf_putc(p->b, ')');
        }
        /* a span of a linked trace: say which trace */
        if (s->trace_id && *s->trace_id && t->trace_id && strcmp(s->trace_id, t->trace_id) != 0) {
            color_on(p, C_DIM);
            tbt_buf_puts(p->b, " [trace ");
            put_text(p, s->trace_id, 4);
            tbt_buf_putc(p->b, ']');
            color_off(p);
        }
    }
    if (s->error) {
        tbt_buf_puts(p->b, ": error: ");
        put_text(p, s->error, 4);
    } else if (s->observed) {
        tbt_buf_puts(p->b, ": ");
        put_value(p, s->observed, 4);
        if (p->verbose && s->expected) {
            tbt_buf_puts(p->b, " (expected ");
            put_value(p, s->expected, 4);
            tbt_buf_putc(p->b, ')');
        }
    }
    tbt_buf_putc(p->b, '\n');
}

static void assert_lines(pr *p, const tbt_test_result *t, const tbt_spec_result *sp, const tbt_assert_result *a)
{
    /* A passing spec lists its assertions only in verbose mode or when one
     * carries a warning (the warning needs its assertion for context). */
    if (sp->passed && !p->verbose && !a->warning)
        return;
    indent(p, 2);
    mark(p, a->passed);
    put_text(p, a->assertion ? a->assertion : "", 3);
    tbt_buf_putc(p->b, '\n');
    if (a->warning)
        warning_line(p, 3, NULL, a->warning);
    if (a->passed)
        return;
    for (size_t i = 0; i < a->n_spans; i++)
        if (!a->spans[i].passed || a->spans[i].error)
            span_line(p, t, &a->spans[i]);
}

static void spec_lines(pr *p, const tbt_test_result *t, const tbt_spec_result *s)
{
    indent(p, 1);
    mark(p, s->passed);
    put_text(p, spec_title(s), 2);
    if (p->verbose) {
        color_on(p, C_DIM);
        tbt_buf_printf(p->b, " (%zu span%s)", s->n_selected, s->n_selected == 1 ? "" : "s");
        color_off(p);
    }
    if (s->error) {
        /* the selector failed: nothing under it was evaluated */
        tbt_buf_puts(p->b, ": error: ");
        put_text(p, s->error, 2);
        tbt_buf_putc(p->b, '\n');
        return;
    }
    tbt_buf_putc(p->b, '\n');
    for (size_t i = 0; i < s->n_asserts; i++)
        assert_lines(p, t, s, &s->asserts[i]);
}

static void output_lines(pr *p, const tbt_test_result *t)
{
    for (size_t i = 0; i < t->n_outputs; i++) {
        const tbt_output_result *o = &t->outputs[i];
        if (p->verbose && o->value) {
            indent(p, 1);
            tbt_buf_puts(p->b, "output ");
            put_text(p, o->name, 2);
            tbt_buf_puts(p->b, " = ");
            put_value(p, o->value, 2);
            tbt_buf_putc(p->b, '\n');
        }
        if (o->warning) {
            indent(p, 1);
            color_on(p, C_YELLOW);
            tbt_buf_puts(p->b, MARK_WARN " output ");
            put_text(p, o->name, 2);
            tbt_buf_puts(p->b, ": ");
            put_text(p, o->warning, 2);
            color_off(p);
            tbt_buf_putc(p->b, '\n');
        }
    }
}

/* The analyzer's verdict: one line (score, failing rules); verbose adds
 * the analyzer's own report, indented under the test. */
static void lint_lines(pr *p, const tbt_lint_result *l)
{
    indent(p, 1);
    mark(p, l->score_passed && l->rules_passed);
    tbt_buf_printf(p->b, "analyzer: score %d/100 (minimum %d)", l->score, l->minimum_score);
    size_t failing = 0;
    for (size_t i = 0; i < l->n_rules; i++)
        failing += !l->rules[i].passed && l->rules[i].level != TBT_LINT_DISABLED;
    if (failing) {
        tbt_buf_printf(p->b, "; %zu rule%s failed: ", failing, failing == 1 ? "" : "s");
        size_t k = 0;
        for (size_t i = 0; i < l->n_rules; i++) {
            const tbt_lint_rule_result *r = &l->rules[i];
            if (r->passed || r->level == TBT_LINT_DISABLED)
                continue;
            tbt_buf_printf(p->b, "%s%s/%s", k++ ? ", " : "", r->plugin, r->id);
            if (r->level == TBT_LINT_WARNING)
                tbt_buf_puts(p->b, " (warning)");
        }
    }
    tbt_buf_putc(p->b, '\n');
    if (!p->verbose)
        return;
    tbt_buf full = TBT_BUF_INIT;
    tbt_report_lint_pretty(l, p->color, false, &full);
    const char *line = tbt_buf_cstr(&full);
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        indent(p, 2);
        tbt_buf_append(p->b, line, n);
        tbt_buf_putc(p->b, '\n');
        line += n + (nl != NULL);
    }
    tbt_buf_free(&full);
}

static void test_lines(pr *p, const tbt_test_result *t)
{
    indent(p, 0);
    switch (t->status) {
    case TBT_TEST_SKIPPED:
        color_on(p, C_DIM);
        tbt_buf_puts(p->b, "- ");
        test_title(p, t);
        if (t->error) {
            tbt_buf_puts(p->b, " (skipped: ");
            put_text(p, t->error, 1);
            tbt_buf_puts(p->b, ")");
        } else {
            tbt_buf_puts(p->b, " (skipped)");
        }
        color_off(p);
        tbt_buf_putc(p->b, '\n');
        return;
    case TBT_TEST_ERROR:
        mark(p, false);
        test_title(p, t);
        if (t->trace_id && *t->trace_id)
            trace_id_part(p, t);
        tbt_buf_puts(p->b, ": ");
        color_on(p, C_RED);
        tbt_buf_puts(p->b, "error:");
        color_off(p);
        tbt_buf_putc(p->b, ' ');
        put_text(p, t->error ? t->error : "unknown error", 1);
        tbt_buf_putc(p->b, '\n');
        info_line(p, t);
        break;
    case TBT_TEST_PASSED:
    case TBT_TEST_FAILED:
        mark(p, t->status == TBT_TEST_PASSED);
        test_title(p, t);
        trace_id_part(p, t);
        tbt_buf_putc(p->b, '\n');
        info_line(p, t);
        break;
    }
    /* an error test may still carry what was evaluated before it failed */
    for (size_t i = 0; i < t->n_specs; i++)
        spec_lines(p, t, &t->specs[i]);
    output_lines(p, t);
    if (t->lint)
        lint_lines(p, t->lint);
}

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

static void summary(pr *p, const tbt_run_result *r)
{
    size_t passed = tbt_run_result_count(r, TBT_TEST_PASSED);
    size_t failed = tbt_run_result_count(r, TBT_TEST_FAILED);
    size_t errors = tbt_run_result_count(r, TBT_TEST_ERROR);
    size_t skipped = tbt_run_result_count(r, TBT_TEST_SKIPPED);
    size_t specs = 0, specs_passed = 0;
    for (size_t i = 0; i < r->n_tests; i++) {
        specs += r->tests[i].n_specs;
        for (size_t k = 0; k < r->tests[i].n_specs; k++)
            specs_passed += r->tests[i].specs[k].passed;
    }
    if (r->n_tests)
        tbt_buf_putc(p->b, '\n');
    color_on(p, tbt_run_result_passed(r) ? C_GREEN : C_RED);
    tbt_buf_printf(p->b, "%zu %s: %zu passed, %zu failed, %zu %s", r->n_tests, plural(r->n_tests, "test", "tests"),
                   passed, failed, errors, plural(errors, "error", "errors"));
    if (skipped)
        tbt_buf_printf(p->b, ", %zu skipped", skipped);
    tbt_buf_printf(p->b, "; %zu %s: %zu passed, %zu failed", specs, plural(specs, "spec", "specs"), specs_passed,
                   specs - specs_passed);
    color_off(p);
    tbt_buf_putc(p->b, '\n');
    if (!r->required_gates)
        return;
    /* gates other than the default decide the verdict: say which, and
     * what they made of the run */
    size_t failing = 0;
    for (size_t i = 0; i < r->n_tests; i++)
        failing += tbt_runner_gates_failed(r, &r->tests[i]) != 0;
    tbt_buf g = TBT_BUF_INIT;
    tbt_gates_format(r->required_gates, &g);
    color_on(p, failing || errors ? C_RED : C_GREEN);
    tbt_buf_printf(p->b, "required gates %s: ", tbt_buf_cstr(&g));
    if (failing)
        tbt_buf_printf(p->b, "%zu %s failed them", failing, plural(failing, "test", "tests"));
    else
        tbt_buf_puts(p->b, errors ? "not judged (errors)" : "passed");
    if (!(r->required_gates & TBT_GATE_TEST_SPECS) && failed)
        tbt_buf_puts(p->b, "; failing specs do not decide the verdict (test-specs is not a required gate)");
    color_off(p);
    tbt_buf_putc(p->b, '\n');
    tbt_buf_free(&g);
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

void tbt_report_pretty(const tbt_run_result *r, const tbt_report_opts *o, tbt_buf *out)
{
    pr p = {.b = out, .color = o && o->color, .verbose = o && o->verbose, .base = 0};
    const tbt_test_result *prev = NULL;
    for (size_t i = 0; i < r->n_tests; i++) {
        const tbt_test_result *t = &r->tests[i];
        /* one header per run of a suite: the same suite run again for
         * another environment starts a new group */
        if (t->suite && !(prev && same_str(prev->suite, t->suite) && same_str(prev->environment, t->environment))) {
            p.base = 0;
            color_on(&p, C_BOLD);
            tbt_buf_puts(out, "Suite: ");
            put_text(&p, t->suite, 1);
            color_off(&p);
            tbt_buf_putc(out, '\n');
        }
        prev = t;
        p.base = t->suite ? 1 : 0;
        test_lines(&p, t);
    }
    summary(&p, r);
}
