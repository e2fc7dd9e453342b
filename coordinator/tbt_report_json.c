/*
 * tbt_report_json.c - the run as JSON (docs/reports.md, "JSON").
 *
 * The key order is fixed and documented, so consumers that diff reports
 * (or jq pipelines in CI) see stable output. Optional keys are omitted;
 * "observed" and "error" of a span result are always present (null when
 * absent) because scripts test them first.
 */
#include "tbt_report.h"

#include <inttypes.h>
#include <string.h>

#include "tbt_analyzer.h"
#include "tbt_runner.h"

/* ---- a small pretty-printing writer -------------------------------------- */

typedef struct jw {
    tbt_buf *b;
    int depth;
    bool first; /* nothing written yet in the innermost container */
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

/* A string value (ill-formed UTF-8 becomes U+FFFD in tbt_buf_json_str), or
 * null for NULL. */
static void jw_str(jw *w, const char *s)
{
    if (s)
        tbt_buf_json_str(w->b, s, strlen(s));
    else
        tbt_buf_puts(w->b, "null");
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
static void write_lint(jw *w, const tbt_lint_result *l)
{
    jw_key(w, "analyzer");
    jw_open(w, '{');
    jw_ksize(w, "score", (size_t)(l->score < 0 ? 0 : l->score));
    jw_ksize(w, "minimumScore", (size_t)(l->minimum_score < 0 ? 0 : l->minimum_score));
    jw_kbool(w, "scorePassed", l->score_passed);
    jw_kbool(w, "rulesPassed", l->rules_passed);
    jw_key(w, "rules");
    jw_open(w, '[');
    for (size_t i = 0; i < l->n_rules; i++) {
        const tbt_lint_rule_result *r = &l->rules[i];
        jw_sep(w);
        jw_open(w, '{');
        jw_kstr(w, "plugin", r->plugin ? r->plugin : "");
        jw_kstr(w, "id", r->id ? r->id : "");
        jw_kstr_opt(w, "description", r->description);
        jw_kstr(w, "level", tbt_lint_level_name(r->level));
        jw_ksize(w, "weight", r->weight);
        jw_kbool(w, "passed", r->passed);
        jw_ksize(w, "findingsTotal", r->n_findings_total);
        jw_key(w, "findings");
        jw_open(w, '[');
        for (size_t k = 0; k < r->n_findings; k++) {
            const tbt_lint_finding *f = &r->findings[k];
            jw_sep(w);
            jw_open(w, '{');
            jw_kstr(w, "spanId", f->span_id ? f->span_id : "");
            jw_kstr_opt(w, "spanName", f->span_name);
            jw_kstr(w, "message", f->message ? f->message : "");
            jw_close(w, '}');
        }
        jw_close(w, ']');
        jw_close(w, '}');
    }
    jw_close(w, ']');
    jw_close(w, '}');
}


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
    if (t->lint)
        write_lint(w, t->lint);
    jw_close(w, '}');
}

void tbt_report_json(const tbt_run_result *r, tbt_buf *out)
{
    jw w = {.b = out, .depth = 0, .first = true};
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
    if (r->required_gates) {
        jw_key(&w, "gates");
        jw_open(&w, '{');
        jw_key(&w, "required");
        jw_open(&w, '[');
        static const struct {
            unsigned bit;
            const char *name;
        } gates[] = {{TBT_GATE_TEST_SPECS, "test-specs"},
                     {TBT_GATE_ANALYZER_SCORE, "analyzer-score"},
                     {TBT_GATE_ANALYZER_RULES, "analyzer-rules"}};
        for (size_t i = 0; i < TBT_ARRAY_LEN(gates); i++)
            if (r->required_gates & gates[i].bit) {
                jw_sep(&w);
                jw_str(&w, gates[i].name);
            }
        jw_close(&w, ']');
        jw_kbool(&w, "passed", tbt_runner_exit_code(r) == 0);
        jw_close(&w, '}');
    }

    jw_key(&w, "tests");
    jw_open(&w, '[');
    for (size_t i = 0; i < r->n_tests; i++)
        write_test(&w, &r->tests[i]);
    jw_close(&w, ']');
    jw_close(&w, '}');
    tbt_buf_putc(out, '\n');
}
