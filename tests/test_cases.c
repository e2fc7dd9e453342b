/*
 * test_cases.c - runs the data-driven case files in tests/cases/ (in the
 * spirit of jq's tests/jq.test): selector.test and expr.test against the
 * trace in tests/cases/trace.otlp.json. The format is described at the top
 * of each case file. Every failing case is printed with its file:line; the
 * test fails when any case fails.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_eval.h"
#include "tbt_otlp.h"

typedef struct runner {
    const char *file;
    tbt_trace *trace;
    tbt_vars *vars;
    tbt_span *span;  /* current span for expressions, NULL = empty span */
    size_t selected; /* selected count for the empty-span case */
    int cases, failures;
} runner;

static tbt_span *span_by_num(tbt_trace *t, unsigned long n)
{
    uint8_t id[8] = {0};
    for (int i = 7; i >= 0; i--, n >>= 8)
        id[i] = (uint8_t)(n & 0xff);
    for (size_t i = 0; i < tbt_trace_span_count(t); i++) {
        tbt_span *s = tbt_trace_span_at(t, i);
        if (memcmp(s->span_id, id, 8) == 0)
            return s;
    }
    return NULL;
}

static void failf(runner *r, int line, const char *fmt, ...) TBT_PRINTF(3, 4);
static void failf(runner *r, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: case failed: ", r->file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    r->failures++;
}

/* Collect the "!! " lines following line i into one text (joined by \n,
 * with a final \n), advancing *i past them. */
static char *collect_bang(char **lines, size_t n, size_t *i)
{
    tbt_buf b = TBT_BUF_INIT;
    while (*i + 1 < n && strncmp(lines[*i + 1], "!!", 2) == 0) {
        (*i)++;
        const char *t = lines[*i] + 2;
        if (*t == ' ')
            t++;
        tbt_buf_puts(&b, t);
        tbt_buf_putc(&b, '\n');
    }
    return tbt_buf_steal(&b);
}

/* The value of an optional "PREFIX text" line right after line i. */
static const char *next_directive(char **lines, size_t n, size_t *i, const char *prefix)
{
    size_t l = strlen(prefix);
    if (*i + 1 < n && strncmp(lines[*i + 1], prefix, l) == 0) {
        (*i)++;
        return lines[*i] + l;
    }
    return NULL;
}

static void case_select(runner *r, int line, const char *sel_src, const char *expect)
{
    tbt_selector *sel;
    tbt_error err = TBT_ERROR_INIT;
    if (tbt_selector_parse(sel_src, NULL, &sel, &err) != 0) {
        tbt_buf b = TBT_BUF_INIT;
        tbt_error_format(&err, &b);
        failf(r, line, "select %s: parse error: %s", sel_src, tbt_buf_cstr(&b));
        tbt_buf_free(&b);
        tbt_error_clear(&err);
        return;
    }
    tbt_span **spans;
    size_t n;
    if (tbt_selector_select(sel, r->trace, r->vars, &spans, &n, &err) != 0) {
        if (!expect || strncmp(expect, "error ", 6) != 0 || strcmp(err.msg, expect + 6) != 0)
            failf(r, line, "select %s: error: %s", sel_src, err.msg);
        tbt_error_clear(&err);
        tbt_selector_free(sel);
        return;
    }
    tbt_buf got = TBT_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        unsigned long num = 0;
        for (int k = 0; k < 8; k++)
            num = num << 8 | spans[i]->span_id[k];
        tbt_buf_printf(&got, "%s%lu", i ? " " : "", num);
    }
    if (n == 0)
        tbt_buf_puts(&got, "(none)");
    if (!expect)
        failf(r, line, "select %s: no '=> ' line", sel_src);
    else if (strcmp(tbt_buf_cstr(&got), expect) != 0)
        failf(r, line, "select %s: expected %s, got %s", sel_src, expect, tbt_buf_cstr(&got));
    tbt_buf_free(&got);
    free(spans);
    tbt_selector_free(sel);
}

static void case_parse_error(runner *r, int line, bool selector, const char *src, const char *expect)
{
    tbt_error err = TBT_ERROR_INIT;
    int rc;
    if (selector) {
        tbt_selector *sel = NULL;
        rc = tbt_selector_parse(src, NULL, &sel, &err);
        tbt_selector_free(sel);
    } else {
        tbt_assertion *a = NULL;
        rc = tbt_assertion_parse(src, NULL, &a, &err);
        tbt_assertion_free(a);
    }
    if (rc == 0) {
        failf(r, line, "'%s' parsed, expected an error:\n%s", src, expect);
        return;
    }
    tbt_buf b = TBT_BUF_INIT;
    tbt_error_format(&err, &b);
    if (strcmp(tbt_buf_cstr(&b), expect) != 0)
        failf(r, line, "'%s': expected error\n%sgot\n%s", src, expect, tbt_buf_cstr(&b));
    tbt_buf_free(&b);
    tbt_error_clear(&err);
}

static void case_assert(runner *r, int line, const char *kind, const char *src, const char *observed,
                        const char *warn, const char *error)
{
    tbt_assertion *a;
    tbt_error err = TBT_ERROR_INIT;
    if (tbt_assertion_parse(src, NULL, &a, &err) != 0) {
        tbt_buf b = TBT_BUF_INIT;
        tbt_error_format(&err, &b);
        failf(r, line, "%s: parse error: %s", src, tbt_buf_cstr(&b));
        tbt_buf_free(&b);
        tbt_error_clear(&err);
        return;
    }
    tbt_eval_ctx ctx = {.trace = r->trace, .span = r->span, .vars = r->vars,
                        .selected_count = r->span ? 1 : r->selected, .have_selection = true};
    tbt_assert_outcome o;
    int rc = tbt_assertion_eval(a, &ctx, &o);
    if (strcmp(kind, "error") == 0) {
        if (rc == 0)
            failf(r, line, "%s: expected an evaluation error, got %s (observed %s)", src, o.passed ? "pass" : "fail",
                  o.observed);
        else if (error && strcmp(o.error, error) != 0)
            failf(r, line, "%s: expected error '%s', got '%s'", src, error, o.error);
    } else if (rc != 0) {
        failf(r, line, "%s: evaluation error: %s", src, o.error);
    } else if ((strcmp(kind, "pass") == 0) != o.passed) {
        failf(r, line, "%s: expected %s, got %s (observed %s, expected %s)", src, kind, o.passed ? "pass" : "fail",
              o.observed, o.expected);
    } else if (observed && strcmp(o.observed, observed) != 0) {
        failf(r, line, "%s: observed '%s', expected '%s'", src, o.observed, observed);
    }
    if (warn && (!o.warning || strcmp(o.warning, warn) != 0))
        failf(r, line, "%s: expected warning '%s', got '%s'", src, warn, o.warning ? o.warning : "(none)");
    if (!warn && o.warning && rc == 0)
        failf(r, line, "%s: unexpected warning '%s'", src, o.warning);
    tbt_assert_outcome_clear(&o);
    tbt_assertion_free(a);
}

static void case_value(runner *r, int line, const char *src, const char *expect)
{
    tbt_expr *e;
    tbt_error err = TBT_ERROR_INIT;
    if (tbt_expr_parse(src, NULL, &e, &err) != 0) {
        failf(r, line, "value %s: parse error: %s", src, err.msg);
        tbt_error_clear(&err);
        return;
    }
    tbt_eval_ctx ctx = {.trace = r->trace, .span = r->span, .vars = r->vars, .selected_count = 1,
                        .have_selection = true};
    char *out = NULL;
    if (tbt_expr_eval_text(e, &ctx, &out, &err) != 0)
        failf(r, line, "value %s: error: %s", src, err.msg);
    else if (!expect)
        failf(r, line, "value %s: no '=> ' line", src);
    else if (expect[0] == '~' ? strlen(out) != strlen(expect + 1) : strcmp(out, expect) != 0)
        failf(r, line, "value %s: expected '%s', got '%s'", src, expect, out);
    free(out);
    tbt_error_clear(&err);
    tbt_expr_free(e);
}

static void run_file(runner *r, const char *path)
{
    char *text;
    size_t len;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_msg(tbt_read_file(path, 1 << 24, &text, &len, &err) == 0, "%s", err.msg);
    r->file = path;
    char **lines = NULL;
    size_t n = 0, cap = 0;
    for (char *p = text, *nl; p && *p; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        TBT_GROW(lines, cap, n + 1);
        lines[n++] = p;
    }
    for (size_t i = 0; i < n; i++) {
        char *l = lines[i];
        int line = (int)i + 1;
        if (l[0] == '\0' || l[0] == '#')
            continue;
        if (strncmp(l, "@span ", 6) == 0) {
            unsigned long num = strtoul(l + 6, NULL, 10);
            r->span = num ? span_by_num(r->trace, num) : NULL;
            r->selected = 0;
            if (num && !r->span)
                failf(r, line, "no span %lu", num);
            continue;
        }
        if (strncmp(l, "@var ", 5) == 0) {
            char *eq = strchr(l + 5, '=');
            if (eq) {
                *eq = '\0';
                tbt_vars_set(r->vars, l + 5, eq + 1);
            }
            continue;
        }
        r->cases++;
        if (strncmp(l, "select ", 7) == 0) {
            const char *exp = next_directive(lines, n, &i, "=> ");
            case_select(r, line, l + 7, exp);
        } else if (strncmp(l, "select-all", 10) == 0) {
            const char *exp = next_directive(lines, n, &i, "=> ");
            case_select(r, line, "", exp);
        } else if (strncmp(l, "bad-selector ", 13) == 0) {
            char *exp = collect_bang(lines, n, &i);
            case_parse_error(r, line, true, l + 13, exp);
            free(exp);
        } else if (strncmp(l, "bad ", 4) == 0) {
            char *exp = collect_bang(lines, n, &i);
            case_parse_error(r, line, false, l + 4, exp);
            free(exp);
        } else if (strncmp(l, "pass ", 5) == 0 || strncmp(l, "fail ", 5) == 0 || strncmp(l, "error ", 6) == 0) {
            char kind[8];
            size_t kl = strchr(l, ' ') - l;
            memcpy(kind, l, kl);
            kind[kl] = '\0';
            const char *src = l + kl + 1;
            const char *obs = NULL, *warn = NULL, *error = NULL;
            for (;;) {
                const char *d;
                if ((d = next_directive(lines, n, &i, "observed ")))
                    obs = d;
                else if ((d = next_directive(lines, n, &i, "warn ")))
                    warn = d;
                else if ((d = next_directive(lines, n, &i, "!! ")))
                    error = d;
                else
                    break;
            }
            case_assert(r, line, kind, src, obs, warn, error);
        } else if (strncmp(l, "value ", 6) == 0) {
            const char *exp = next_directive(lines, n, &i, "=> ");
            case_value(r, line, l + 6, exp);
        } else {
            r->cases--;
            failf(r, line, "unknown directive: %s", l);
        }
    }
    free(lines);
    free(text);
}

static void run_cases(const char *name)
{
    const char *dir = getenv("TBT_TEST_CASES");
    ck_assert_msg(dir != NULL, "TBT_TEST_CASES not set");
    char path[4096], tpath[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tpath, sizeof(tpath), "%s/trace.otlp.json", dir);
    runner r = {0};
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_msg(tbt_otlp_load_file(tpath, &r.trace, &err) == 0, "%s", err.msg);
    r.vars = tbt_vars_new();
    run_file(&r, path);
    printf("%s: %d cases, %d failed\n", name, r.cases, r.failures);
    tbt_vars_free(r.vars);
    tbt_trace_free(r.trace);
    ck_assert_msg(r.cases > 50, "%s: only %d cases", name, r.cases);
    ck_assert_msg(r.failures == 0, "%s: %d of %d cases failed (see stderr)", name, r.failures, r.cases);
}

START_TEST(selector_cases)
{
    run_cases("selector.test");
}
END_TEST

START_TEST(expr_cases)
{
    run_cases("expr.test");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cases");
    TCase *tc = tcase_create("data-driven");
    tcase_add_test(tc, selector_cases);
    tcase_add_test(tc, expr_cases);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
