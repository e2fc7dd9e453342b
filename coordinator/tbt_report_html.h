/*
 * tbt_report_html.h - one self-contained HTML file per invocation
 * (`--report PATH`): every test with its status, timings, completion
 * reason, specs and observed values, the analyzer's verdict when it ran,
 * and its trace as a waterfall; for a campaign, per test and environment
 * the pass ratio, percentiles, latency histograms, thresholds and the
 * most frequent failures. docs/html-report.md describes what it shows and
 * the embedded data.
 *
 * The page fetches nothing: the CSS and JavaScript (coordinator/html/,
 * embedded at build time) and the data are inline, and a
 * Content-Security-Policy forbids any network access. The data is JSON in
 * a <script type="application/json"> element with every '<' written as
 * \u003c, so no span name or attribute can close the element; the script
 * puts texts into the page with textContent only.
 */
#ifndef TBT_REPORT_HTML_H
#define TBT_REPORT_HTML_H

#include "tbt_coord.h"
#include "tbt_result.h"
#include "tbt_threshold.h"

/* Append the report to out. r (may be NULL for a campaign-only report)
 * supplies the tests; each test's trace_view (shared/tbt_trace_view.h
 * JSON, produced where the trace was) is embedded as is and drawn as a
 * waterfall, and a test without one says that no trace was kept. camp
 * (may be NULL) adds the campaign section, judged against th[0..n_th).
 * Only reads its inputs; always a well-formed page whatever bytes they
 * hold. */
void tbt_report_html(const tbt_run_result *r, const tbt_campaign_result *camp, const tbt_threshold *th, size_t n_th,
                     tbt_buf *out);

#endif
