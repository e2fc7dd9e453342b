/* tbt_runner.c - tests and suites, in order. */
#include "tbt_runner.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_analyzer.h"
#include "tbt_cli.h"

typedef struct compiled {
    const tbt_test_def *def;
    tbt_plan *plan;
} compiled;

typedef struct runner {
    tbt_defs *defs;
    compiled *items;
    size_t n, cap;
    tbt_error_list *errs;
} runner;

static tbt_plan *plan_for(runner *r, const tbt_test_def *def)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->items[i].def == def)
            return r->items[i].plan;
    tbt_plan *p = NULL;
    tbt_plan_compile(def, r->defs, &p, r->errs);
    TBT_GROW(r->items, r->cap, r->n + 1);
    r->items[r->n].def = def;
    r->items[r->n].plan = p;
    r->n++;
    return p;
}

static bool named(char **real, size_t n, const char *file)
{
    char buf[PATH_MAX];
    const char *f = realpath(file, buf) ? buf : file;
    for (size_t i = 0; i < n; i++)
        if (strcmp(real[i], f) == 0)
            return true;
    return false;
}

static void run_test(const tbt_trace_source *src, tbt_plan *plan, tbt_vars *vars, tbt_run_result *rr,
                     const char *suite)
{
    const tbt_test_def *def = tbt_plan_def(plan);
    tbt_test_result *res = tbt_run_result_add(rr);
    res->suite = suite ? tbt_arena_strdup(rr->arena, suite) : NULL;
    if (src->run) {
        src->run(src->ud, plan, vars, rr, res);
        return;
    }
    tbt_trace *t = NULL;
    tbt_error err = TBT_ERROR_INIT;
    if (src->acquire(src->ud, plan, vars, &t, res, rr, &err) != 0) {
        res->id = def->id.s ? tbt_arena_strdup(rr->arena, def->id.s) : NULL;
        res->name = tbt_arena_strdup(rr->arena, def->name.s ? def->name.s : def->id.s ? def->id.s : "(unnamed test)");
        res->file = tbt_arena_strdup(rr->arena, def->file);
        res->status = TBT_TEST_ERROR;
        res->error = tbt_error_text(&err, rr->arena);
        tbt_error_clear(&err);
        return;
    }
    /* acquire may have set completion/timings; evaluation fills the rest */
    tbt_plan_evaluate(plan, t, vars, rr, res);
    tbt_result_keep_trace(t, src->analyzer, src->want_view ? &src->view_limits : NULL, rr, res);
    if (src->release)
        src->release(src->ud, t);
}

int tbt_runner_run(tbt_defs *defs, char **files, size_t n_files, const tbt_vars *base, const tbt_trace_source *src,
                   tbt_run_result *rr, tbt_error_list *errs)
{
    runner r = {.defs = defs, .errs = errs};
    char **real = tbt_xcalloc(n_files ? n_files : 1, sizeof(char *));
    for (size_t i = 0; i < n_files; i++) {
        char buf[PATH_MAX];
        real[i] = tbt_xstrdup(realpath(files[i], buf) ? buf : files[i]);
    }
    size_t nerr0 = errs->n;
    /* compile first: a bad definition anywhere stops the run before any
     * trigger fires */
    for (size_t i = 0; i < tbt_defs_count(defs); i++) {
        const tbt_resource_ref *ref = tbt_defs_at(defs, i);
        if (!named(real, n_files, ref->file))
            continue;
        if (ref->kind == TBT_RES_TEST) {
            plan_for(&r, ref->def);
        } else if (ref->kind == TBT_RES_SUITE) {
            const tbt_suite_def *s = ref->def;
            for (size_t k = 0; k < s->n_steps; k++)
                if (s->steps[k].test)
                    plan_for(&r, s->steps[k].test);
        }
    }
    int rc = errs->n > nerr0 ? -EINVAL : 0;
    for (size_t i = 0; rc == 0 && i < tbt_defs_count(defs); i++) {
        const tbt_resource_ref *ref = tbt_defs_at(defs, i);
        if (!named(real, n_files, ref->file))
            continue;
        if (ref->kind == TBT_RES_TEST) {
            tbt_vars *vars = tbt_vars_clone(base);
            run_test(src, plan_for(&r, ref->def), vars, rr, NULL);
            tbt_vars_free(vars);
        } else if (ref->kind == TBT_RES_SUITE) {
            const tbt_suite_def *s = ref->def;
            const char *sname = s->name.s ? s->name.s : s->id.s ? s->id.s : "(unnamed suite)";
            tbt_vars *vars = tbt_vars_clone(base);
            bool stopped = false;
            for (size_t k = 0; k < s->n_steps; k++) {
                tbt_plan *p = plan_for(&r, s->steps[k].test);
                if (stopped) {
                    const tbt_test_def *def = tbt_plan_def(p);
                    tbt_test_result *res = tbt_run_result_add(rr);
                    res->suite = tbt_arena_strdup(rr->arena, sname);
                    res->id = def->id.s ? tbt_arena_strdup(rr->arena, def->id.s) : NULL;
                    res->name = tbt_arena_strdup(rr->arena, def->name.s ? def->name.s : "(unnamed test)");
                    res->file = tbt_arena_strdup(rr->arena, def->file);
                    res->status = TBT_TEST_SKIPPED;
                    res->error = "an earlier step of the suite could not run";
                    continue;
                }
                run_test(src, p, vars, rr, sname);
                if (rr->tests[rr->n_tests - 1].status == TBT_TEST_ERROR)
                    stopped = true;
            }
            tbt_vars_free(vars);
        }
    }
    for (size_t i = 0; i < r.n; i++)
        tbt_plan_free(r.items[i].plan);
    free(r.items);
    for (size_t i = 0; i < n_files; i++)
        free(real[i]);
    free(real);
    return rc;
}

int tbt_runner_units(tbt_defs *defs, char **files, size_t n_files, tbt_unit **out, size_t *n_out,
                     tbt_error_list *errs)
{
    runner r = {.defs = defs, .errs = errs};
    tbt_unit *units = NULL;
    size_t n = 0, cap = 0;
    size_t nerr0 = errs->n;
    char **real = tbt_xcalloc(n_files ? n_files : 1, sizeof(char *));
    for (size_t i = 0; i < n_files; i++) {
        char buf[PATH_MAX];
        real[i] = tbt_xstrdup(realpath(files[i], buf) ? buf : files[i]);
    }
    for (size_t i = 0; i < tbt_defs_count(defs); i++) {
        const tbt_resource_ref *ref = tbt_defs_at(defs, i);
        if (!named(real, n_files, ref->file))
            continue;
        if (ref->kind != TBT_RES_TEST && ref->kind != TBT_RES_SUITE)
            continue;
        TBT_GROW(units, cap, n + 1);
        tbt_unit *u = &units[n++];
        memset(u, 0, sizeof(*u));
        u->file = ref->file;
        if (ref->kind == TBT_RES_TEST) {
            u->steps = tbt_xcalloc(1, sizeof(*u->steps));
            u->steps[u->n_steps++] = ref->def;
            plan_for(&r, ref->def);
        } else {
            const tbt_suite_def *s = ref->def;
            u->suite = s->name.s ? s->name.s : s->id.s ? s->id.s : "(unnamed suite)";
            u->steps = tbt_xcalloc(s->n_steps ? s->n_steps : 1, sizeof(*u->steps));
            for (size_t k = 0; k < s->n_steps; k++)
                if (s->steps[k].test) {
                    u->steps[u->n_steps++] = s->steps[k].test;
                    plan_for(&r, s->steps[k].test);
                }
        }
    }
    for (size_t i = 0; i < r.n; i++)
        tbt_plan_free(r.items[i].plan);
    free(r.items);
    for (size_t i = 0; i < n_files; i++)
        free(real[i]);
    free(real);
    *out = units;
    *n_out = n;
    return errs->n > nerr0 ? -EINVAL : 0;
}

void tbt_runner_units_free(tbt_unit *u, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(u[i].steps);
    free(u);
}

unsigned tbt_runner_gates_failed(const tbt_run_result *rr, const tbt_test_result *t)
{
    unsigned gates = rr->required_gates ? rr->required_gates : TBT_GATES_DEFAULT, failed = 0;
    /* unlike Tracetest, a failing spec fails the verdict only when
     * test-specs is a required gate */
    if ((gates & TBT_GATE_TEST_SPECS) && t->status == TBT_TEST_FAILED)
        failed |= TBT_GATE_TEST_SPECS;
    if (t->lint)
        failed |= tbt_gates_lint_failed(gates, t->lint);
    return failed;
}

int tbt_runner_exit_code(const tbt_run_result *rr)
{
    if (tbt_run_result_count(rr, TBT_TEST_ERROR) > 0)
        return TBT_EXIT_ERROR;
    if (tbt_run_result_count(rr, TBT_TEST_SKIPPED) > 0)
        return TBT_EXIT_FAILED;
    for (size_t i = 0; i < rr->n_tests; i++)
        if (tbt_runner_gates_failed(rr, &rr->tests[i]))
            return TBT_EXIT_FAILED;
    return TBT_EXIT_OK;
}
