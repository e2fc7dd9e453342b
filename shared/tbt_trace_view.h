/*
 * tbt_trace_view.h - a trace reduced to what a person looks at in the HTML
 * report's waterfall: per span its ids, parent, name, service, kind,
 * status, start and duration relative to the trace, the trace it belongs
 * to (linked traces are marked) and its attributes. Compact JSON text,
 * produced where the trace is (the in-process agent, `tbt eval`, a Kafka
 * agent that ships it inside its result) and embedded by the HTML report
 * as is. The format is documented in docs/html-report.md.
 *
 * Bounded: a view never exceeds limits->max_bytes. Past the bound the
 * attributes of spans nobody asserted on go first, then spans (a span an
 * assertion failed on is kept before any other), and the view says how
 * many spans it left out ("omitted"). Nothing is dropped silently.
 */
#ifndef TBT_TRACE_VIEW_H
#define TBT_TRACE_VIEW_H

#include "tbt_result.h"
#include "tbt_trace.h"

/* The bound `--report` uses per test: every span of a 100k-span trace
 * fits (about 65 bytes a span), with the attributes of as many spans as
 * the rest allows, asserted ones first (docs/html-report.md). */
#define TBT_TRACE_VIEW_REPORT_MAX_BYTES ((size_t)8 << 20)

typedef struct tbt_trace_view_limits {
    size_t max_bytes;       /* 0: unbounded (local runs) */
    size_t max_attr_value;  /* longer attribute values are cut (with "…"), 0: 4096 */
} tbt_trace_view_limits;

/* Append the view of t (finalized) to out. res (may be NULL) is the
 * test's result: spans its assertions selected or failed on are marked
 * and kept first when the view must shrink. Always valid JSON (texts
 * through tbt_buf_json_str, so any bytes become valid UTF-8). The bound
 * holds for any max_bytes above the empty view (about 350 bytes), which
 * is written whole even past it. Returns 0. */
int tbt_trace_view_json(tbt_trace *t, const tbt_test_result *res, const tbt_trace_view_limits *limits, tbt_buf *out);

/* What a run keeps of its evaluated trace t for the reports, in rr's arena:
 * the analyzer's verdict (res->lint; analyzer NULL or disabled: none) and
 * the view (res->trace_view; view_limits NULL: none). Shared by `tbt eval`'s runner
 * and the agent. */
struct tbt_analyzer_config;
void tbt_result_keep_trace(tbt_trace *t, const struct tbt_analyzer_config *analyzer,
                           const tbt_trace_view_limits *view_limits, tbt_run_result *rr, tbt_test_result *res);

#endif
