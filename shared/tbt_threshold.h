/*
 * tbt_threshold.h - campaign thresholds: "p95(trace.duration) < 300ms",
 * "pass_ratio >= 0.99", "failed == 0", parsed from YAML or the command line
 * and checked against the statistics of a finished campaign.
 *
 * Grammar (blanks - space, tab, CR, LF - allowed between the parts):
 *   threshold := METRIC OP VALUE
 *   METRIC    := pass_ratio | runs | passed | failed | errors
 *              | pN(SERIES) | min(SERIES) | max(SERIES) | mean(SERIES)
 *                (N a decimal number, 0 < N <= 100: p50, p99, p99.9, p100)
 *   SERIES    := trace.duration | verdict.latency
 *   OP        := < | <= | > | >= | == | !=
 *   VALUE     := a duration for series metrics (tbt_parse_duration: 300ms,
 *                1.5s, 2m, 250us; not negative, unit required), a ratio in
 *                [0, 1] or a percentage in [0%, 100%] for pass_ratio
 *                (0.99, 99%, 99.9%), a non-negative integer for counts.
 * Names are lower case. The threshold holds at most
 * TBT_THRESHOLD_MAX_TEXT bytes.
 *
 * Errors name the 1-based column (in characters) of the fault within the
 * threshold text and what was expected:
 *   threshold 'p95(trace.duraton) < 3s', column 5: unknown series
 *   'trace.duraton' (trace.duration, verdict.latency)
 */
#ifndef TBT_THRESHOLD_H
#define TBT_THRESHOLD_H

#include <stdbool.h>
#include <stdint.h>

#include "tbt_common.h"
#include "tbt_hist.h"

#define TBT_THRESHOLD_MAX_TEXT 1024

/* What a campaign measured. runs counts every run; passed, failed and
 * errors its outcomes. The histograms hold nanoseconds. */
typedef struct tbt_campaign_stats {
    uint64_t runs, passed, failed, errors;
    tbt_hist trace_duration;  /* trace.duration */
    tbt_hist verdict_latency; /* verdict.latency */
} tbt_campaign_stats;

typedef enum tbt_threshold_metric {
    TBT_THRESHOLD_PASS_RATIO, /* passed / runs */
    TBT_THRESHOLD_RUNS,
    TBT_THRESHOLD_PASSED,
    TBT_THRESHOLD_FAILED,
    TBT_THRESHOLD_ERRORS,
    TBT_THRESHOLD_PERCENTILE, /* pN(SERIES) */
    TBT_THRESHOLD_MIN,        /* min(SERIES) */
    TBT_THRESHOLD_MAX,        /* max(SERIES) */
    TBT_THRESHOLD_MEAN,       /* mean(SERIES) */
} tbt_threshold_metric;

typedef enum tbt_threshold_series {
    TBT_SERIES_NONE = 0, /* count and ratio metrics */
    TBT_SERIES_TRACE_DURATION,
    TBT_SERIES_VERDICT_LATENCY,
} tbt_threshold_series;

typedef enum tbt_threshold_op {
    TBT_OP_LT, /* <  */
    TBT_OP_LE, /* <= */
    TBT_OP_GT, /* >  */
    TBT_OP_GE, /* >= */
    TBT_OP_EQ, /* == */
    TBT_OP_NE, /* != */
} tbt_threshold_op;

typedef struct tbt_threshold {
    char *text; /* heap, the threshold as written */
    tbt_threshold_metric metric;
    tbt_threshold_series series;
    double percentile; /* N of pN, in (0, 100] */
    tbt_threshold_op op;
    union {
        uint64_t ns;    /* series metrics */
        double ratio;   /* pass_ratio, in [0, 1] */
        uint64_t count; /* runs, passed, failed, errors */
    } value;
} tbt_threshold;

/* Parse text into *out. Returns 0, or -EINVAL with err filled: message
 * "threshold 'TEXT', column N: WHAT", err->col = N, err->source_line the
 * text (blanks shown as spaces) and err->caret under the fault; err->line
 * is 0, as the text comes from no file. *out is written only on success and
 * then owns a copy of text (free with tbt_threshold_clear). */
int tbt_threshold_parse(const char *text, tbt_threshold *out, tbt_error *err);

/* The same, for a threshold read from a file: loc (may be NULL) is where
 * text starts, and err gets the file, line and column of the fault and the
 * file's source line (tbt_error_at); the message still names the column
 * within the threshold. */
int tbt_threshold_parse_at(const char *text, const tbt_loc *loc, tbt_threshold *out, tbt_error *err);

/* Release what t owns and zero it. Accepts NULL and zeroed thresholds. */
void tbt_threshold_clear(tbt_threshold *t);

/* Whether the threshold holds for s. *observed (may be NULL) receives the
 * measured value: nanoseconds for series metrics (the mean unrounded), the
 * ratio for pass_ratio (0 when no run), the count for counts. A series
 * metric over an empty histogram does not hold, and *observed is then NAN
 * (tbt_threshold_format_observed prints "no samples"). Durations and
 * counts are compared exactly as integers. */
bool tbt_threshold_check(const tbt_threshold *t, const tbt_campaign_stats *s, double *observed);

/* Append observed as the threshold's metric reads: "312ms" (the project's
 * tbt_format_duration, mean rounded to the nanosecond), "0.985" (shortest
 * exact decimal), "3"; "no samples" for NAN. Durations past INT64_MAX ns
 * (292 years) are printed in whole seconds. */
void tbt_threshold_format_observed(const tbt_threshold *t, double observed, tbt_buf *out);

#endif
