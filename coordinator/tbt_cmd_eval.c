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

enum { O_FILE = 1, O_TRACE, O_VARS, O_VAR, O_OUTPUT, O_JUNIT, O_COLOR, O_VERBOSE };

static const tbt_cli_opt eval_opts[] = {
    {"file", 'f', "PATH", "test or suite definition file, or a directory of them (repeatable)", O_FILE},
    {"trace", 't', "FILE", "captured trace: OTLP/JSON or OTLP protobuf (told apart by content)", O_TRACE},
    {"vars", 0, "FILE", "VariableSet file whose values the tests read as var:NAME (repeatable)", O_VARS},
    {"var", 0, "NAME=VALUE", "set one variable (repeatable; wins over --vars)", O_VAR},
    {"output", 'o', "FORMAT", "pretty (default) or json, on standard output", O_OUTPUT},
    {"junit", 0, "PATH", "also write a JUnit XML report to PATH", O_JUNIT},
    {"color", 0, "WHEN", "auto (default: on a terminal, unless NO_COLOR is set), always or never", O_COLOR},
    {"verbose", 'v', NULL, "show passing assertions, outputs and timings", O_VERBOSE},
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

int tbt_write_file(const char *path, const char *data, size_t len, tbt_error *err)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        int e = errno;
        return tbt_error_set(err, -e, "%s: %s", path, strerror(e));
    }
    size_t w = fwrite(data, 1, len, f);
    int c = fclose(f);
    if (w != len || c != 0)
        return tbt_error_set(err, -EIO, "%s: write failed", path);
    return 0;
}

int tbt_cmd_eval(int argc, char **argv)
{
    tbt_cli cli = {"tbt eval", "-f TEST.yaml --trace TRACE [options]",
                   "Evaluate Tracetest-compatible tests (or suites, step by step) against a captured trace.\n"
                   "Exit codes: 0 all passed, 1 error, 2 a spec failed, 3 definition file not found.",
                   eval_opts, TBT_ARRAY_LEN(eval_opts), argc, argv, 0};
    char **paths = NULL, **varfiles = NULL, **varkv = NULL;
    size_t n_paths = 0, cap_paths = 0, n_varfiles = 0, cap_varfiles = 0, n_varkv = 0, cap_varkv = 0;
    const char *trace_path = NULL, *output = "pretty", *junit = NULL, *color = NULL;
    bool verbose = false;
    int code = TBT_EXIT_ERROR;
    const char *arg;
    int id;
    while ((id = tbt_cli_next(&cli, &arg)) != -1) {
        switch (id) {
        case O_FILE:
            TBT_GROW(paths, cap_paths, n_paths + 1);
            paths[n_paths++] = (char *)arg;
            break;
        case O_TRACE: trace_path = arg; break;
        case O_VARS:
            TBT_GROW(varfiles, cap_varfiles, n_varfiles + 1);
            varfiles[n_varfiles++] = (char *)arg;
            break;
        case O_VAR:
            if (!strchr(arg, '=') || arg[0] == '=') {
                fprintf(stderr, "tbt eval: --var takes NAME=VALUE, got '%s'\n", arg);
                goto out;
            }
            TBT_GROW(varkv, cap_varkv, n_varkv + 1);
            varkv[n_varkv++] = (char *)arg;
            break;
        case O_OUTPUT: output = arg; break;
        case O_JUNIT: junit = arg; break;
        case O_COLOR: color = arg; break;
        case O_VERBOSE: verbose = true; break;
        case -3: code = TBT_EXIT_OK; goto out;
        default: goto out;
        }
    }
    if (cli.optind < argc) {
        fprintf(stderr, "tbt eval: unexpected argument '%s' (definition files go after -f)\n", argv[cli.optind]);
        goto out;
    }
    if (n_paths == 0 || !trace_path) {
        fprintf(stderr, "tbt eval: %s\nRun 'tbt eval --help' for the options.\n",
                n_paths == 0 ? "no definition given (-f FILE)" : "no trace given (--trace FILE)");
        goto out;
    }
    if (strcmp(output, "pretty") != 0 && strcmp(output, "json") != 0) {
        fprintf(stderr, "tbt eval: unknown output format '%s' (pretty or json)\n", output);
        goto out;
    }
    int use_color = tbt_cli_color(color, STDOUT_FILENO);
    if (use_color < 0) {
        fprintf(stderr, "tbt eval: --color takes auto, always or never, got '%s'\n", color);
        goto out;
    }
    code = tbt_eval_main(paths, n_paths, trace_path, varfiles, n_varfiles, varkv, n_varkv, output, junit,
                         use_color == 1, verbose);
out:
    free(paths);
    free(varfiles);
    free(varkv);
    return code;
}

int tbt_eval_main(char **paths, size_t n_paths, const char *trace_path, char **varfiles, size_t n_varfiles,
                  char **varkv, size_t n_varkv, const char *output, const char *junit, bool color, bool verbose)
{
    int code = TBT_EXIT_ERROR;
    tbt_error err = TBT_ERROR_INIT;
    tbt_error_list errs = TBT_ERROR_LIST_INIT;
    tbt_defs *defs = tbt_defs_new();
    tbt_vars *vars = tbt_vars_new();
    tbt_trace *trace = NULL;
    tbt_run_result *rr = tbt_run_result_new();
    char **files = NULL;
    size_t n_files = 0;
    int rc;
    for (size_t i = 0; i < n_paths; i++) {
        if ((rc = tbt_cli_collect_files(paths[i], &files, &n_files, &err)) != 0) {
            tbt_cli_print_error(&err);
            code = tbt_cli_exit_for(rc);
            goto out;
        }
    }
    for (size_t i = 0; i < n_files; i++) {
        if ((rc = tbt_defs_load_file(defs, files[i], &err)) != 0) {
            tbt_cli_print_error(&err);
            code = tbt_cli_exit_for(rc);
            goto out;
        }
    }
    if ((rc = tbt_defs_resolve(defs, &err)) != 0) {
        tbt_cli_print_error(&err);
        code = tbt_cli_exit_for(rc);
        goto out;
    }
    for (size_t i = 0; i < n_varfiles; i++) {
        if ((rc = tbt_cli_load_varsets(varfiles[i], vars, &err)) != 0) {
            tbt_cli_print_error(&err);
            code = tbt_cli_exit_for(rc);
            goto out;
        }
    }
    for (size_t i = 0; i < n_varkv; i++) {
        char *eq = strchr(varkv[i], '=');
        char *name = tbt_xstrndup(varkv[i], (size_t)(eq - varkv[i]));
        tbt_vars_set(vars, name, eq + 1);
        free(name);
    }
    if ((rc = tbt_otlp_load_file(trace_path, &trace, &err)) != 0) {
        tbt_cli_print_error(&err);
        goto out;
    }
    eval_source es = {trace};
    tbt_trace_source src = {&es, eval_acquire, NULL};
    if (tbt_runner_run(defs, files, n_files, vars, &src, rr, &errs) != 0) {
        tbt_buf b = TBT_BUF_INIT;
        tbt_error_list_format(&errs, &b);
        fputs(tbt_buf_cstr(&b), stderr);
        fprintf(stderr, "tbt: %zu error%s in the definitions; nothing was evaluated\n", errs.n, errs.n == 1 ? "" : "s");
        tbt_buf_free(&b);
        goto out;
    }
    if (rr->n_tests == 0) {
        fprintf(stderr, "tbt: the definition files hold no Test or TestSuite to run\n");
        goto out;
    }
    tbt_buf out = TBT_BUF_INIT;
    if (strcmp(output, "json") == 0) {
        tbt_report_json(rr, &out);
    } else {
        tbt_report_opts ro = {.color = color, .verbose = verbose};
        tbt_report_pretty(rr, &ro, &out);
    }
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    fflush(stdout);
    code = tbt_runner_exit_code(rr);
    if (junit) {
        tbt_buf_reset(&out);
        tbt_report_junit(rr, &out);
        if (tbt_write_file(junit, tbt_buf_cstr(&out), out.len, &err) != 0) {
            tbt_cli_print_error(&err);
            code = TBT_EXIT_ERROR;
        }
    }
    tbt_buf_free(&out);
out:
    tbt_cli_free_files(files, n_files);
    tbt_error_clear(&err);
    tbt_error_list_clear(&errs);
    tbt_run_result_free(rr);
    tbt_trace_free(trace);
    tbt_vars_free(vars);
    tbt_defs_free(defs);
    return code;
}
