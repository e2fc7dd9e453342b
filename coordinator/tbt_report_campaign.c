/* tbt_report_campaign.c - a campaign's verdict per test and environment:
 * pass ratio, percentiles of trace.duration and verdict.latency from the
 * merged histograms, the failing specs ranked, and the thresholds. */
#include <inttypes.h>
#include <string.h>

#include "tbt_report_campaign.h"

static const double pcts[] = {50, 90, 95, 99};

static void human(uint64_t ns, char *out, size_t cap)
{
    if (ns < 1000000ull)
        snprintf(out, cap, "%.0fus", (double)ns / 1e3);
    else if (ns < 1000000000ull)
        snprintf(out, cap, "%.1fms", (double)ns / 1e6);
    else
        snprintf(out, cap, "%.2fs", (double)ns / 1e9);
}

static double ratio(const tbt_campaign_stats *s)
{
    return s->runs ? (double)s->passed / (double)s->runs : 0.0;
}

static double per_second(const tbt_campaign_row *r)
{
    return r->elapsed_ns ? (double)r->stats.runs / ((double)r->elapsed_ns / 1e9) : 0.0;
}

bool tbt_campaign_row_passed(const tbt_campaign_row *r, const tbt_threshold *th, size_t n_th)
{
    if (r->stats.runs == 0)
        return false;
    if (n_th == 0)
        return r->stats.passed == r->stats.runs;
    for (size_t i = 0; i < n_th; i++) {
        double obs;
        if (!tbt_threshold_check(&th[i], &r->stats, &obs))
            return false;
    }
    return true;
}

int tbt_campaign_exit_code(const tbt_campaign_result *c, const tbt_threshold *th, size_t n_th)
{
    bool errors = false, failed = false;
    for (size_t i = 0; i < c->n_rows; i++) {
        const tbt_campaign_row *r = &c->rows[i];
        if (r->stats.runs == 0)
            errors = true;
        if (n_th) {
            if (!tbt_campaign_row_passed(r, th, n_th))
                failed = true;
        } else {
            errors |= r->stats.errors > 0;
            failed |= r->stats.failed > 0;
        }
    }
    return errors ? 1 : failed ? 2 : 0;
}

static void series(tbt_buf *out, const char *name, const tbt_hist *h, bool color)
{
    tbt_buf_printf(out, "    %-16s", name);
    if (!h->total) {
        tbt_buf_puts(out, "no data\n");
        return;
    }
    char v[32];
    for (size_t i = 0; i < TBT_ARRAY_LEN(pcts); i++) {
        human(tbt_hist_percentile(h, pcts[i]), v, sizeof(v));
        tbt_buf_printf(out, " p%g %s%s%s", pcts[i], color ? "\033[1m" : "", v, color ? "\033[0m" : "");
    }
    human(h->max, v, sizeof(v));
    tbt_buf_printf(out, "  max %s\n", v);
}

void tbt_report_campaign_pretty(const tbt_campaign_result *c, const tbt_threshold *th, size_t n_th, bool color,
                                tbt_buf *out)
{
    const char *g = color ? "\033[32m" : "", *red = color ? "\033[31m" : "", *dim = color ? "\033[2m" : "",
               *rs = color ? "\033[0m" : "";
    const char *prev = NULL;
    for (size_t i = 0; i < c->n_rows; i++) {
        const tbt_campaign_row *r = &c->rows[i];
        if (!prev || strcmp(prev, r->test) != 0)
            tbt_buf_printf(out, "%sCampaign: %s%s %s(%s)%s\n", color ? "\033[1m" : "", r->test, rs, dim,
                           r->file ? r->file : "", rs);
        prev = r->test;
        bool ok = tbt_campaign_row_passed(r, th, n_th);
        tbt_buf_printf(out,
                       "  %s%s%s %s: %" PRIu64 " runs, %" PRIu64 " passed, %" PRIu64 " failed, %" PRIu64
                       " errors · pass ratio %.4f · %.1f runs/s\n",
                       ok ? g : red, ok ? "✔" : "✘", rs, r->environment, r->stats.runs, r->stats.passed,
                       r->stats.failed, r->stats.errors, ratio(&r->stats), per_second(r));
        series(out, "trace.duration", &r->stats.trace_duration, color);
        series(out, "verdict.latency", &r->stats.verdict_latency, color);
        size_t shown = r->n_failures < 5 ? r->n_failures : 5;
        if (shown)
            tbt_buf_puts(out, "    failing specs:\n");
        for (size_t k = 0; k < shown; k++)
            tbt_buf_printf(out, "      %s%" PRIu64 "×%s %s%s%s%s\n", red, r->failures[k].count, rs, r->failures[k].spec,
                           r->failures[k].example && *r->failures[k].example ? " — " : "",
                           r->failures[k].example ? r->failures[k].example : "", "");
        if (r->n_failures > shown)
            tbt_buf_printf(out, "      … and %zu more\n", r->n_failures - shown);
        if (r->first_error)
            tbt_buf_printf(out, "    %serror%s (e.g.): %s\n", red, rs, r->first_error);
        for (size_t k = 0; k < n_th; k++) {
            double obs = 0;
            bool pass = tbt_threshold_check(&th[k], &r->stats, &obs);
            tbt_buf v = TBT_BUF_INIT;
            tbt_threshold_format_observed(&th[k], obs, &v);
            tbt_buf_printf(out, "    %s%s%s %s %s(observed %s)%s\n", pass ? g : red, pass ? "✔" : "✘", rs, th[k].text,
                           dim, tbt_buf_cstr(&v), rs);
            tbt_buf_free(&v);
        }
    }
    int code = tbt_campaign_exit_code(c, th, n_th);
    tbt_buf_printf(out, "\n%s%s%s", code ? red : g, code ? "CAMPAIGN FAILED" : "CAMPAIGN PASSED", rs);
    if (c->duplicates)
        tbt_buf_printf(out, " %s(%" PRIu64 " duplicate results from redelivered jobs counted once)%s", dim,
                       c->duplicates, rs);
    tbt_buf_puts(out, "\n");
}

static void jstr(tbt_buf *out, const char *s)
{
    if (!s) {
        tbt_buf_puts(out, "null");
        return;
    }
    tbt_buf_json_str(out, s, strlen(s));
}

static void jseries(tbt_buf *out, const tbt_hist *h)
{
    tbt_buf_printf(out, "{\"count\":%" PRIu64, h->total);
    if (h->total) {
        for (size_t i = 0; i < TBT_ARRAY_LEN(pcts); i++)
            tbt_buf_printf(out, ",\"p%g\":%" PRIu64, pcts[i], tbt_hist_percentile(h, pcts[i]));
        tbt_buf_printf(out, ",\"min\":%" PRIu64 ",\"max\":%" PRIu64 ",\"mean\":%.0f", h->min, h->max, tbt_hist_mean(h));
    }
    tbt_buf_puts(out, ",\"unit\":\"ns\",\"histogram\":");
    tbt_hist_to_json(h, out);
    tbt_buf_puts(out, "}");
}

void tbt_report_campaign_json(const tbt_campaign_result *c, const tbt_threshold *th, size_t n_th, tbt_buf *out)
{
    tbt_buf_puts(out, "{\"campaign\":[");
    for (size_t i = 0; i < c->n_rows; i++) {
        const tbt_campaign_row *r = &c->rows[i];
        tbt_buf_puts(out, i ? ",\n" : "\n");
        tbt_buf_puts(out, "{\"test\":");
        jstr(out, r->test);
        tbt_buf_puts(out, ",\"file\":");
        jstr(out, r->file);
        tbt_buf_puts(out, ",\"environment\":");
        jstr(out, r->environment);
        tbt_buf_printf(out,
                       ",\"passed\":%s,\"runs\":%" PRIu64 ",\"passedRuns\":%" PRIu64 ",\"failedRuns\":%" PRIu64
                       ",\"errorRuns\":%" PRIu64 ",\"passRatio\":%.6f,\"runsPerSecond\":%.3f,\"duplicates\":%" PRIu64,
                       tbt_campaign_row_passed(r, th, n_th) ? "true" : "false", r->stats.runs, r->stats.passed,
                       r->stats.failed, r->stats.errors, ratio(&r->stats), per_second(r), r->duplicates);
        tbt_buf_puts(out, ",\"traceDuration\":");
        jseries(out, &r->stats.trace_duration);
        tbt_buf_puts(out, ",\"verdictLatency\":");
        jseries(out, &r->stats.verdict_latency);
        tbt_buf_puts(out, ",\"failingSpecs\":[");
        for (size_t k = 0; k < r->n_failures; k++) {
            tbt_buf_puts(out, k ? ",{\"spec\":" : "{\"spec\":");
            jstr(out, r->failures[k].spec);
            tbt_buf_printf(out, ",\"count\":%" PRIu64 ",\"example\":", r->failures[k].count);
            jstr(out, r->failures[k].example);
            tbt_buf_puts(out, "}");
        }
        tbt_buf_puts(out, "],\"error\":");
        jstr(out, r->first_error);
        tbt_buf_puts(out, ",\"thresholds\":[");
        for (size_t k = 0; k < n_th; k++) {
            double obs = 0;
            bool pass = tbt_threshold_check(&th[k], &r->stats, &obs);
            tbt_buf_puts(out, k ? ",{\"threshold\":" : "{\"threshold\":");
            jstr(out, th[k].text);
            tbt_buf_printf(out, ",\"passed\":%s,\"observed\":%.6g}", pass ? "true" : "false", obs);
        }
        tbt_buf_puts(out, "]}");
    }
    tbt_buf_printf(out, "\n],\"duplicates\":%" PRIu64 ",\"passed\":%s}\n", c->duplicates,
                   tbt_campaign_exit_code(c, th, n_th) == 0 ? "true" : "false");
}

static void xml(tbt_buf *out, const char *s)
{
    tbt_buf tmp = TBT_BUF_INIT;
    tbt_utf8_sanitize(&tmp, s ? s : "", strlen(s ? s : ""));
    for (const char *p = tbt_buf_cstr(&tmp); *p; p++) {
        switch (*p) {
        case '<': tbt_buf_puts(out, "&lt;"); break;
        case '>': tbt_buf_puts(out, "&gt;"); break;
        case '&': tbt_buf_puts(out, "&amp;"); break;
        case '"': tbt_buf_puts(out, "&quot;"); break;
        default:
            if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t')
                tbt_buf_printf(out, "&#x%x;", 0xfffd);
            else
                tbt_buf_putc(out, *p);
        }
    }
    tbt_buf_free(&tmp);
}

void tbt_report_campaign_junit(const tbt_campaign_result *c, const tbt_threshold *th, size_t n_th, tbt_buf *out)
{
    size_t fails = 0, errors = 0;
    for (size_t i = 0; i < c->n_rows; i++) {
        if (c->rows[i].stats.runs == 0)
            errors++; /* nothing ran: an error, not a verdict */
        else
            fails += !tbt_campaign_row_passed(&c->rows[i], th, n_th);
    }
    tbt_buf_printf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"tbt campaign\" tests=\"%zu\" "
                        "failures=\"%zu\" errors=\"%zu\">\n  <testsuite name=\"campaign\" tests=\"%zu\" failures=\"%zu\" "
                        "errors=\"%zu\">\n",
                   c->n_rows, fails, errors, c->n_rows, fails, errors);
    for (size_t i = 0; i < c->n_rows; i++) {
        const tbt_campaign_row *r = &c->rows[i];
        tbt_buf_puts(out, "    <testcase classname=\"");
        xml(out, r->environment);
        tbt_buf_puts(out, "\" name=\"");
        xml(out, r->test);
        tbt_buf_printf(out, "\" time=\"%.3f\">\n", (double)r->elapsed_ns / 1e9);
        if (r->stats.runs == 0) {
            tbt_buf_puts(out, "      <error message=\"no run completed");
            if (r->first_error) {
                tbt_buf_puts(out, ": ");
                xml(out, r->first_error);
            }
            tbt_buf_puts(out, "\"/>\n");
        } else if (!tbt_campaign_row_passed(r, th, n_th)) {
            tbt_buf msg = TBT_BUF_INIT;
            tbt_buf_printf(&msg, "%" PRIu64 " runs, %" PRIu64 " passed, %" PRIu64 " failed, %" PRIu64 " errors",
                           r->stats.runs, r->stats.passed, r->stats.failed, r->stats.errors);
            for (size_t k = 0; k < n_th; k++) {
                double obs = 0;
                if (tbt_threshold_check(&th[k], &r->stats, &obs))
                    continue;
                tbt_buf v = TBT_BUF_INIT;
                tbt_threshold_format_observed(&th[k], obs, &v);
                tbt_buf_printf(&msg, "; %s (observed %s)", th[k].text, tbt_buf_cstr(&v));
                tbt_buf_free(&v);
            }
            tbt_buf_puts(out, "      <failure message=\"");
            xml(out, tbt_buf_cstr(&msg));
            tbt_buf_puts(out, "\">");
            for (size_t k = 0; k < r->n_failures; k++) {
                tbt_buf line = TBT_BUF_INIT;
                tbt_buf_printf(&line, "%" PRIu64 "x %s: %s\n", r->failures[k].count, r->failures[k].spec,
                               r->failures[k].example ? r->failures[k].example : "");
                xml(out, tbt_buf_cstr(&line));
                tbt_buf_free(&line);
            }
            tbt_buf_puts(out, "</failure>\n");
            tbt_buf_free(&msg);
        }
        tbt_buf_puts(out, "    </testcase>\n");
    }
    tbt_buf_puts(out, "  </testsuite>\n</testsuites>\n");
}
