/*
 * tbt_eval.h - turning a test definition and a trace into a verdict.
 *
 * A plan is a compiled Test: every selector and assertion parsed once (all
 * their errors reported together, each at file:line:col). Evaluating a
 * plan against a trace follows the reference semantics:
 *  - outputs first, in order: the value is evaluated on the first span the
 *    output's selector matched and becomes a variable (for this test's
 *    assertions and later suite steps); with no match it is unresolved
 *    (a warning) unless the value is constant;
 *  - each assertion of a spec is evaluated once per selected span and
 *    passes only if it passes on every span; with no selected span it is
 *    evaluated once against the empty span (so
 *    `attr:tracetest.selected_spans.count = 0` asserts absence);
 *  - a spec passes when all its assertions pass; the test when all specs do.
 */
#ifndef TBT_EVAL_H
#define TBT_EVAL_H

#include "tbt_expr.h"
#include "tbt_model.h"
#include "tbt_result.h"
#include "tbt_selector.h"

typedef struct tbt_plan tbt_plan;

/* Compile def. defs (may be NULL) is used to show the definition's own
 * source line in errors. On failure every error is in errs and *out is
 * NULL. The plan borrows def (keep the tbt_defs alive). */
int tbt_plan_compile(const tbt_test_def *def, const tbt_defs *defs, tbt_plan **out, tbt_error_list *errs);
void tbt_plan_free(tbt_plan *p);
const tbt_test_def *tbt_plan_def(const tbt_plan *p);

/* Selectors of the specs and outputs, for the agent's completion check. */
size_t tbt_plan_selector_count(const tbt_plan *p);
const tbt_selector *tbt_plan_selector_at(const tbt_plan *p, size_t i);
/* Whether completion should wait for selector i to match: false for specs
 * that would pass with no span at all (attr:tracetest.selected_spans.count
 * = 0: absence is the expected outcome). */
bool tbt_plan_selector_required(const tbt_plan *p, size_t i);
/* What the selector is for, for messages: "spec NAME" or "output NAME". */
const char *tbt_plan_selector_label(const tbt_plan *p, size_t i);

/* Evaluate against trace t (finalized). vars is read and receives the
 * outputs. Results are written into *out with strings in rr's arena.
 * Sets out->status to PASSED or FAILED, never ERROR: a selector or
 * assertion that cannot be evaluated fails its spec with the reason. */
void tbt_plan_evaluate(const tbt_plan *p, tbt_trace *t, tbt_vars *vars, tbt_run_result *rr, tbt_test_result *out);

#endif
