/* tbt_report_lint.c - the analyzer's verdict on a terminal and as JSON. */
#include "tbt_report_lint.h"

#include <string.h>

#include "tbt_analyzer.h"

#define C_GREEN "\033[32m"
#define C_RED "\033[31m"
#define C_YELLOW "\033[33m"
#define C_DIM "\033[2m"
#define C_BOLD "\033[1m"
#define C_RESET "\033[0m"

#define MARK_PASS "\xe2\x9c\x94" /* ✔ */
#define MARK_FAIL "\xe2\x9c\x98" /* ✘ */
#define MARK_WARN "\xe2\x9a\xa0" /* ⚠ */
#define MARK_OFF "-"

#define FINDINGS_SHOWN 5 /* per rule, unless verbose */

typedef struct lp {
    tbt_buf *b;
    bool color;
} lp;

static void on(lp *p, const char *c)
{
    if (p->color)
        tbt_buf_puts(p->b, c);
}

static void off(lp *p)
{
    if (p->color)
        tbt_buf_puts(p->b, C_RESET);
}

/* Untrusted text on one line: ill-formed UTF-8 becomes U+FFFD, C0 and C1
 * controls and DEL are shown as \xNN / \u00NN, so nothing moves the cursor
 * or recolours the terminal. */
static void put_safe(lp *p, const char *s)
{
    if (!s)
        return;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;)
        i += tbt_term_put_char(p->b, s, n, i, n);
}

static const char *spans_word(size_t n)
{
    return n == 1 ? "span" : "spans";
}

static void rule_line(lp *p, const tbt_lint_rule_result *r, bool verbose)
{
    tbt_buf_puts(p->b, "\t\t");
    if (r->level == TBT_LINT_DISABLED) {
        on(p, C_DIM);
        tbt_buf_printf(p->b, MARK_OFF " %-22s disabled", r->id);
        off(p);
    } else {
        const char *c = r->passed ? C_GREEN : r->level == TBT_LINT_WARNING ? C_YELLOW : C_RED;
        const char *m = r->passed ? MARK_PASS : r->level == TBT_LINT_WARNING ? MARK_WARN : MARK_FAIL;
        on(p, c);
        tbt_buf_printf(p->b, "%s %-22s", m, r->id);
        off(p);
        tbt_buf_printf(p->b, " %-8s weight %u", tbt_lint_level_name(r->level), r->weight);
        if (!r->passed)
            tbt_buf_printf(p->b, "%s  %zu %s", r->weight < 10 ? "  " : r->weight < 100 ? " " : "",
                           r->n_findings_total, spans_word(r->n_findings_total));
    }
    tbt_buf_putc(p->b, '\n');
    if (verbose && r->description) {
        tbt_buf_puts(p->b, "\t\t  ");
        on(p, C_DIM);
        put_safe(p, r->description);
        off(p);
        tbt_buf_putc(p->b, '\n');
    }
}

void tbt_report_lint_pretty(const tbt_lint_result *r, bool color, bool verbose, tbt_buf *out)
{
    lp p = {out, color};
    tbt_buf_puts(out, "");
    on(&p, C_BOLD);
    tbt_buf_printf(out, "Analyzer score %d/100", r->score);
    off(&p);
    tbt_buf_printf(out, " (minimum %d) ", r->minimum_score);
    on(&p, r->score_passed ? C_GREEN : C_RED);
    tbt_buf_puts(out, r->score_passed ? MARK_PASS : MARK_FAIL " below the minimum");
    off(&p);
    tbt_buf_putc(out, '\n');

    const char *plugin = NULL;
    for (size_t i = 0; i < r->n_rules; i++) {
        const tbt_lint_rule_result *rr = &r->rules[i];
        if (!plugin || strcmp(plugin, rr->plugin ? rr->plugin : "") != 0) {
            plugin = rr->plugin ? rr->plugin : "";
            tbt_buf_putc(out, '\t');
            put_safe(&p, plugin);
            tbt_buf_putc(out, '\n');
        }
        rule_line(&p, rr, verbose);
    }

    size_t failed_error = 0, failed_warning = 0;
    bool header = false;
    for (size_t i = 0; i < r->n_rules; i++) {
        const tbt_lint_rule_result *rr = &r->rules[i];
        if (rr->passed || rr->level == TBT_LINT_DISABLED)
            continue;
        if (rr->level == TBT_LINT_ERROR)
            failed_error++;
        else
            failed_warning++;
        if (!header) {
            tbt_buf_puts(out, "Findings\n");
            header = true;
        }
        bool warn = rr->level == TBT_LINT_WARNING;
        tbt_buf_putc(out, '\t');
        on(&p, warn ? C_YELLOW : C_RED);
        tbt_buf_printf(out, "%s ", warn ? MARK_WARN : MARK_FAIL);
        put_safe(&p, rr->plugin);
        tbt_buf_putc(out, '/');
        put_safe(&p, rr->id);
        off(&p);
        tbt_buf_printf(out, " (%s, %zu %s)\n", tbt_lint_level_name(rr->level), rr->n_findings_total,
                       spans_word(rr->n_findings_total));
        size_t shown = verbose ? rr->n_findings : (rr->n_findings < FINDINGS_SHOWN ? rr->n_findings : FINDINGS_SHOWN);
        for (size_t k = 0; k < shown; k++) {
            const tbt_lint_finding *f = &rr->findings[k];
            tbt_buf_puts(out, "\t\t");
            on(&p, C_DIM);
            if (f->span_id && f->span_id[0]) {
                tbt_buf_putc(out, '#');
                put_safe(&p, f->span_id);
            } else {
                tbt_buf_puts(out, "(trace)");
            }
            off(&p);
            if (f->span_name) {
                tbt_buf_putc(out, ' ');
                put_safe(&p, f->span_name);
            }
            tbt_buf_puts(out, ": ");
            put_safe(&p, f->message);
            tbt_buf_putc(out, '\n');
        }
        if (rr->n_findings_total > shown) {
            tbt_buf_printf(out, "\t\t... %zu more", rr->n_findings_total - shown);
            if (!verbose && rr->n_findings > shown)
                tbt_buf_printf(out, " (-v shows %zu)", rr->n_findings);
            else if (rr->n_findings_total > rr->n_findings)
                tbt_buf_printf(out, " (the first %zu are kept)", rr->n_findings);
            tbt_buf_putc(out, '\n');
        }
    }

    tbt_buf_puts(out, "Summary: ");
    if (r->score_passed)
        tbt_buf_printf(out, "score %d reaches the minimum %d", r->score, r->minimum_score);
    else
        tbt_buf_printf(out, "score %d is below the minimum %d", r->score, r->minimum_score);
    if (!failed_error && !failed_warning)
        tbt_buf_puts(out, "; every rule passed\n");
    else
        tbt_buf_printf(out, "; %zu rule%s failed at level error, %zu at level warning\n", failed_error,
                       failed_error == 1 ? "" : "s", failed_warning);
}

void tbt_report_lint_json(const tbt_lint_result *r, tbt_buf *out)
{
    tbt_lint_result_json(r, out);
}
