/* tbt_cmd_eval.c - `tbt eval`: evaluate definitions against a captured
 * trace (OTLP JSON or protobuf). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tbt_cli.h"
#include "tbt_commands.h"
#include "tbt_otlp.h"
#include "tbt_report.h"
#include "tbt_runner.h"

enum { O_TRACE = 100 };


static const tbt_cli_opt eval_opts[] = {
    TBT_COMMON_OPT_ROWS,
    {"trace", 't', "FILE", "captured trace: OTLP/JSON or OTLP protobuf (told apart by content)", O_TRACE},
};

typedef struct eval_source {
    tbt_trace *trace;
} eval_source;

static int eval_acquire(void *ud, const tbt_plan *plan, tbt_vars *vars, tbt_trace **trace, tbt_test_result *res,
                        tbt_run_result *rr, tbt_error *err)
{
    TBT_UNUSED(plan);
    TBT_UNUSED(vars);
    TBT_UNUSED(err);
    eval_source *s = ud;
    res->completion = tbt_arena_strdup(rr->arena, "captured trace (tbt eval)");
    *trace = s->trace;
    return 0;
}

int tbt_cmd_eval(int argc, char **argv)
{
    tbt_cli cli = {"tbt eval", "-f TEST.yaml --trace TRACE [options]",
                   "Evaluate Tracetest-compatible tests (or suites, step by step) against a captured trace.\n"
                   "Exit codes: 0 all passed, 1 error, 2 a spec failed, 3 definition file not found.",
                   eval_opts, TBT_ARRAY_LEN(eval_opts), argc, argv, 0};
    tbt_common_opts co;
    tbt_common_init(&co);
    const char *trace_path = NULL;
    int code = TBT_EXIT_ERROR;
    const char *arg;
    int id;
    while ((id = tbt_cli_next(&cli, &arg)) != -1) {
        if (id == -3) {
            code = TBT_EXIT_OK;
            goto out;
        }
        if (id < 0)
            goto out;
        if (id == O_TRACE) {
            trace_path = arg;
            continue;
        }
        if (tbt_common_opt(&co, cli.prog, id, arg) != 0)
            goto out;
    }
    if (tbt_common_check(&co, &cli) != 0)
        goto out;
    if (!trace_path) {
        fprintf(stderr, "tbt eval: no trace given (--trace FILE)\nRun 'tbt eval --help' for the options.\n");
        goto out;
    }
    tbt_trace *trace = NULL;
    tbt_error err = TBT_ERROR_INIT;
    if (tbt_otlp_load_file(trace_path, &trace, &err) != 0) {
        tbt_cli_print_error(&err);
        tbt_error_clear(&err);
        goto out;
    }
    eval_source es = {trace};
    tbt_trace_source src = {.ud = &es, .acquire = eval_acquire, .want_view = co.report != NULL,
                            .view_limits = {.max_bytes = TBT_TRACE_VIEW_REPORT_MAX_BYTES}};
    code = tbt_common_exec(&co, &src);
    tbt_trace_free(trace);
out:
    tbt_common_free(&co);
    return code;
}
