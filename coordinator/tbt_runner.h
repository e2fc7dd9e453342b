/*
 * tbt_runner.h - running what the user named: every Test and TestSuite of
 * the given files, in order, each suite step by step with variables (and
 * outputs) flowing from one step to the next.
 *
 * Where a test's trace comes from is the caller's business: `tbt eval`
 * hands out one captured trace, `tbt run` fires the trigger and waits for
 * the spans. A trace-source failure (trigger or trace) is an ERROR for the
 * test and stops its suite; a failing assertion does not.
 */
#ifndef TBT_RUNNER_H
#define TBT_RUNNER_H

#include "tbt_eval.h"
#include "tbt_trace_view.h"

typedef struct tbt_trace_source {
    void *ud;
    /* Produce the trace for plan (vars resolved for this step). Returns 0
     * and *trace, or negative with err set. May fill timing and
     * completion fields of res. */
    int (*acquire)(void *ud, const tbt_plan *plan, tbt_vars *vars, tbt_trace **trace, tbt_test_result *res,
                   tbt_run_result *rr, tbt_error *err);
    /* Give the trace back (free it if it was made for this test). */
    void (*release)(void *ud, tbt_trace *trace);
    /* Or, instead of acquire/release: run the whole test (trigger, wait,
     * evaluate) and fill res; a TBT_TEST_ERROR result stops a suite. */
    void (*run)(void *ud, const tbt_plan *plan, tbt_vars *vars, tbt_run_result *rr, tbt_test_result *res);
    /* An HTML report is wanted: with acquire/release, the runner stores
     * each test's trace view (res->trace_view, in rr's arena) after the
     * evaluation and before the release, bounded by view_limits. */
    bool want_view;
    tbt_trace_view_limits view_limits;
    /* Lint each trace after the evaluation (res->lint), or NULL. */
    const struct tbt_analyzer_config *analyzer;
} tbt_trace_source;

/* Compile every test that will run (all errors reported in errs), then run
 * the Tests and TestSuites defined in `files` (realpaths compared) in load
 * order. Results are appended to rr. Returns 0, or -EINVAL when
 * compilation failed (nothing was run). */
int tbt_runner_run(tbt_defs *defs, char **files, size_t n_files, const tbt_vars *base, const tbt_trace_source *src,
                   tbt_run_result *rr, tbt_error_list *errs);

/* What tbt_runner_run would run, for a runner of its own (the
 * coordinator): every Test and TestSuite of files (realpaths) in load
 * order, each a list of steps (one for a Test). Every test is compiled
 * (errors in errs, -EINVAL). */
typedef struct tbt_unit {
    const char *suite; /* NULL for a Test */
    const char *file;
    const tbt_test_def **steps;
    size_t n_steps;
} tbt_unit;
int tbt_runner_units(tbt_defs *defs, char **files, size_t n_files, tbt_unit **out, size_t *n,
                     tbt_error_list *errs);
void tbt_runner_units_free(tbt_unit *u, size_t n);

/* The exit code for a finished run: 1 any error; else 2 when a test
 * fails a required gate (rr->required_gates: test-specs by default, the
 * analyzer's score and rules when asked) or a suite step was skipped;
 * else 0. */
int tbt_runner_exit_code(const tbt_run_result *rr);
/* The required gates test t fails (tbt_gates bits), 0 when none. */
unsigned tbt_runner_gates_failed(const tbt_run_result *rr, const tbt_test_result *t);

#endif
