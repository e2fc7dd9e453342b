/*
 * tbt_report.h - the three renderings of a run result: the terminal
 * ("pretty"), JSON and JUnit XML. docs/reports.md describes each format.
 *
 * Every function appends to a caller-owned tbt_buf and never prints: the
 * command line decides where the bytes go (stdout, a --junit file) and
 * whether colour is wanted (a terminal, NO_COLOR unset). The result is
 * only read; it may hold any bytes (span names and attribute values come
 * from the system under test), and every output stays well-formed:
 * invalid UTF-8 becomes U+FFFD, control characters are escaped for the
 * format at hand.
 */
#ifndef TBT_REPORT_H
#define TBT_REPORT_H

#include "tbt_result.h"

typedef struct tbt_report_opts {
    bool color;   /* ANSI colours (green pass, red fail, yellow warning, dim ids) */
    bool verbose; /* every assertion, outputs, timings and completion reason */
} tbt_report_opts;

/* Tracetest-like terminal output: one line per test and per spec; for a
 * failed spec every assertion and, under a failed one, every failing span
 * with its observed value; warnings; a summary line. o may be NULL
 * (no colour, not verbose). */
void tbt_report_pretty(const tbt_run_result *r, const tbt_report_opts *o, tbt_buf *out);

/* The run as one pretty-printed JSON object (2-space indentation, trailing
 * newline); specs, assertions and spans in evaluation order. Always valid
 * JSON, whatever bytes the result holds. */
void tbt_report_json(const tbt_run_result *r, tbt_buf *out);

/* JUnit XML in Tracetest's shape: one <testsuite> per spec, one <testcase>
 * per assertion x span, <failure> on a mismatch, <error> when a span, a
 * selector or the whole test could not be evaluated, <skipped/> for suite
 * steps that did not run. Always well-formed XML 1.0. */
void tbt_report_junit(const tbt_run_result *r, tbt_buf *out);

#endif
