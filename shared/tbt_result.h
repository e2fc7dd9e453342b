/*
 * tbt_result.h - what a run produced: per test, per spec, per assertion,
 * per span. Everything the reports (pretty, JSON, JUnit, HTML) and the
 * coordinator's aggregation need.
 *
 * Ownership: a tbt_run_result owns an arena; every string and array of
 * every result in it lives there. tbt_run_result_free() releases all.
 */
#ifndef TBT_RESULT_H
#define TBT_RESULT_H

#include "tbt_common.h"

typedef struct tbt_span_result {
    const char *span_id;   /* hex, "" for the empty span (no match) */
    const char *span_name; /* may be NULL */
    const char *service;   /* may be NULL */
    const char *trace_id;  /* hex; differs from the test's for linked traces */
    bool passed;
    const char *observed;  /* the left side's value, NULL on error */
    const char *expected;  /* the right side's value, NULL on error */
    const char *error;     /* why it could not be evaluated, or NULL */
} tbt_span_result;

typedef struct tbt_assert_result {
    const char *assertion; /* source text */
    bool passed;
    tbt_span_result *spans;
    size_t n_spans;
    const char *warning;   /* e.g. the precedence note, or NULL */
} tbt_assert_result;

typedef struct tbt_spec_result {
    const char *name;      /* may be "" */
    const char *selector;
    bool passed;
    size_t n_selected;
    tbt_assert_result *asserts;
    size_t n_asserts;
    const char *error;     /* selector could not be evaluated, or NULL */
} tbt_spec_result;

typedef struct tbt_output_result {
    const char *name;
    const char *value;     /* NULL when unresolved */
    const char *warning;   /* why unresolved, or NULL */
} tbt_output_result;

/* ---- the instrumentation analyzer (shared/tbt_analyzer.h) ---- */
typedef enum tbt_lint_level {
    TBT_LINT_ERROR,    /* a failing rule counts against analyzer-rules */
    TBT_LINT_WARNING,  /* reported and scored, never fails a gate */
    TBT_LINT_DISABLED, /* not run */
} tbt_lint_level;

typedef struct tbt_lint_finding {
    const char *span_id;   /* hex, "" for a finding about the whole trace */
    const char *span_name; /* may be NULL */
    const char *message;   /* e.g. "attribute http.request.method missing" */
} tbt_lint_finding;

typedef struct tbt_lint_rule_result {
    const char *plugin;       /* standards, common, security */
    const char *id;           /* span-naming, ... */
    const char *description;  /* one line: what the rule checks */
    tbt_lint_level level;
    unsigned weight;
    bool passed;
    tbt_lint_finding *findings; /* at most TBT_LINT_MAX_FINDINGS kept */
    size_t n_findings;
    size_t n_findings_total;    /* all of them, kept or not */
} tbt_lint_rule_result;

#define TBT_LINT_MAX_FINDINGS 50

typedef struct tbt_lint_result {
    int score;          /* 0..100 */
    int minimum_score;  /* from the Analyzer resource, 0 when none */
    bool score_passed;  /* score >= minimum_score */
    bool rules_passed;  /* no rule at level error failed */
    tbt_lint_rule_result *rules; /* plugin order, then rule order */
    size_t n_rules;
} tbt_lint_result;

typedef enum tbt_test_status {
    TBT_TEST_PASSED,
    TBT_TEST_FAILED,  /* a spec failed */
    TBT_TEST_ERROR,   /* could not be run or evaluated (trigger, trace, definition) */
    TBT_TEST_SKIPPED, /* a suite stopped before this step */
} tbt_test_status;

typedef struct tbt_test_result {
    const char *id;
    const char *name;
    const char *file;
    const char *suite;       /* suite name when run as a step, else NULL */
    const char *environment; /* NULL for local runs */
    tbt_test_status status;
    const char *trace_id;    /* hex, may be "" */
    size_t n_spans;
    size_t n_traces;         /* distinct trace ids evaluated */
    tbt_spec_result *specs;
    size_t n_specs;
    tbt_output_result *outputs;
    size_t n_outputs;
    const char *error;       /* for TBT_TEST_ERROR */
    const char *completion;  /* why waiting for the trace stopped, or NULL */
    uint64_t trigger_ns;     /* trigger wall time, 0 when none */
    uint64_t trace_ns;       /* trigger start to trace complete, 0 when none */
    uint64_t eval_ns;        /* evaluation time */
    uint64_t span_extent_ns; /* the trace itself: earliest span start to latest span end, 0 when none */
    const tbt_lint_result *lint; /* the analyzer's verdict, NULL when it did not run */
    const char *trace_view;  /* the trace for the HTML report (shared/tbt_trace_view.h JSON), or NULL */
} tbt_test_result;

typedef struct tbt_run_result {
    tbt_arena *arena;
    tbt_test_result *tests;
    size_t n_tests, cap_tests;
    unsigned required_gates; /* tbt_gates bits (tbt_analyzer.h) deciding the verdict; 0: the
                                default, test-specs only */
} tbt_run_result;

tbt_run_result *tbt_run_result_new(void);
void tbt_run_result_free(tbt_run_result *r);
/* Empty r for reuse (every result and string of it gone; the arena keeps
 * its first block): a loop that decodes or runs one test at a time then
 * allocates nothing per test. */
void tbt_run_result_reset(tbt_run_result *r);
/* A zeroed test result appended to r (pointer valid until the next add). */
tbt_test_result *tbt_run_result_add(tbt_run_result *r);
/* counts */
size_t tbt_run_result_count(const tbt_run_result *r, tbt_test_status st);
bool tbt_run_result_passed(const tbt_run_result *r);
const char *tbt_test_status_name(tbt_test_status st);

#endif
