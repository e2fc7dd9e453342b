/* tbt_cmd_lint.c - `tbt lint`: run the instrumentation analyzer alone on a
 * captured trace (docs/analyzer.md). The adopter's first step, "audit your
 * instrumentation", without a test or a running system. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_analyzer.h"
#include "tbt_cli.h"
#include "tbt_commands.h"
#include "tbt_otlp.h"
#include "tbt_report_lint.h"

enum { O_TRACE = 1, O_FILE, O_MIN, O_GATES, O_OUTPUT, O_COLOR, O_VERBOSE };

static const tbt_cli_opt lint_opts[] = {
    {"trace", 't', "FILE", "captured trace: OTLP/JSON or OTLP protobuf (told apart by content)", O_TRACE},
    {"file", 'f', "PATH", "Analyzer / TestRunner resource file, or a directory of definitions (repeatable)", O_FILE},
    {"minimum-score", 0, "N", "minimum score 0..100 (wins over the Analyzer resource's minimumScore)", O_MIN},
    {"required-gates", 0, "LIST", "gates that decide the exit code: analyzer-score,analyzer-rules (default: both)",
     O_GATES},
    {"output", 'o', "FORMAT", "pretty (default) or json, on standard output", O_OUTPUT},
    {"color", 0, "WHEN", "auto (default: on a terminal, unless NO_COLOR is set), always or never", O_COLOR},
    {"verbose", 'v', NULL, "every kept finding and each rule's description", O_VERBOSE},
};

#define LINT_GATES ((unsigned)(TBT_GATE_ANALYZER_SCORE | TBT_GATE_ANALYZER_RULES))

static int load_config(char **paths, size_t n_paths, tbt_defs *defs, tbt_analyzer_config **cfg, unsigned *gates,
                       bool *has_runner, tbt_error *err)
{
    char **files = NULL;
    size_t n_files = 0;
    int rc = 0;
    for (size_t i = 0; i < n_paths && rc == 0; i++)
        rc = tbt_cli_collect_files(paths[i], &files, &n_files, err);
    for (size_t i = 0; i < n_files && rc == 0; i++)
        rc = tbt_defs_load_file(defs, files[i], err);
    tbt_cli_free_files(files, n_files);
    if (rc)
        return rc;
    const tbt_resource_ref *runner = NULL;
    if ((rc = tbt_analyzer_find_resources(defs, NULL, &runner, err)) != 0)
        return rc;
    *has_runner = runner != NULL;
    return tbt_analyzer_config_from_defs(defs, cfg, gates, err);
}

int tbt_cmd_lint(int argc, char **argv)
{
    tbt_cli cli = {"tbt lint", "--trace TRACE [-f ANALYZER.yaml]... [options]",
                   "Audit a trace's instrumentation with the analyzer (Tracetest's Analyzer rules: standards,\n"
                   "common, security) and score it. An Analyzer resource among the -f files configures it;\n"
                   "a TestRunner resource's requiredGates (test-specs ignored) decide the exit code unless\n"
                   "--required-gates is given.\n"
                   "Exit codes: 0 passed, 1 error, 2 a required gate failed, 3 trace or definition file not found.",
                   lint_opts, TBT_ARRAY_LEN(lint_opts), argc, argv, 0};
    const char *trace_path = NULL, *output = "pretty", *color = NULL, *min_arg = NULL, *gates_arg = NULL;
    bool verbose = false;
    char **paths = NULL;
    size_t n_paths = 0, cap_paths = 0;
    int code = TBT_EXIT_ERROR;
    tbt_error err = TBT_ERROR_INIT;
    tbt_defs *defs = NULL;
    tbt_analyzer_config *cfg = NULL;
    tbt_trace *trace = NULL;
    tbt_arena *arena = NULL;
    tbt_buf out = TBT_BUF_INIT;
    const char *arg;
    int id;
    while ((id = tbt_cli_next(&cli, &arg)) != -1) {
        if (id == -3) {
            code = TBT_EXIT_OK;
            goto done;
        }
        switch (id) {
        case O_TRACE: trace_path = arg; break;
        case O_FILE:
            TBT_GROW(paths, cap_paths, n_paths + 1);
            paths[n_paths++] = (char *)arg;
            break;
        case O_MIN: min_arg = arg; break;
        case O_GATES: gates_arg = arg; break;
        case O_OUTPUT: output = arg; break;
        case O_COLOR: color = arg; break;
        case O_VERBOSE: verbose = true; break;
        default: goto done;
        }
    }
    if (cli.optind < argc) {
        fprintf(stderr, "tbt lint: unexpected argument '%s' (the trace goes after --trace)\n", argv[cli.optind]);
        goto done;
    }
    if (!trace_path) {
        fprintf(stderr, "tbt lint: no trace given (--trace FILE)\nRun 'tbt lint --help' for the options.\n");
        goto done;
    }
    if (strcmp(output, "pretty") != 0 && strcmp(output, "json") != 0) {
        fprintf(stderr, "tbt lint: unknown output format '%s' (pretty or json)\n", output);
        goto done;
    }
    int use_color = tbt_cli_color(color, 1);
    if (use_color < 0) {
        fprintf(stderr, "tbt lint: --color takes auto, always or never, got '%s'\n", color);
        goto done;
    }
    long min_score = -1;
    if (min_arg) {
        char *end = NULL;
        min_score = strtol(min_arg, &end, 10);
        if (!min_arg[0] || *end || min_score < 0 || min_score > 100) {
            fprintf(stderr, "tbt lint: --minimum-score takes a whole number from 0 to 100, got '%s'\n", min_arg);
            goto done;
        }
    }
    unsigned gates = LINT_GATES;
    bool gates_given = false;
    if (gates_arg) {
        if (tbt_gates_parse(gates_arg, &gates, &err) != 0) {
            fprintf(stderr, "tbt lint: --required-gates: %s\n", err.msg);
            goto done;
        }
        gates_given = true;
    }

    defs = tbt_defs_new();
    unsigned res_gates = 0;
    bool has_runner = false;
    int rc = load_config(paths, n_paths, defs, &cfg, &res_gates, &has_runner, &err);
    if (rc) {
        tbt_cli_print_error(&err);
        code = tbt_cli_exit_for(rc);
        goto done;
    }
    if (!gates_given && has_runner)
        gates = res_gates;
    gates &= LINT_GATES; /* test-specs: no test runs here */
    if (min_score >= 0)
        tbt_analyzer_config_set_minimum_score(cfg, (int)min_score);
    if (!tbt_analyzer_config_enabled(cfg)) {
        fprintf(stderr, "tbt lint: the Analyzer resource disables the analyzer (enabled: false); nothing was "
                        "checked\n");
        code = TBT_EXIT_OK;
        goto done;
    }

    if ((rc = tbt_otlp_load_file(trace_path, &trace, &err)) != 0) {
        tbt_cli_print_error(&err);
        code = rc == -ENOENT ? TBT_EXIT_NOT_FOUND : TBT_EXIT_ERROR;
        goto done;
    }
    arena = tbt_arena_new();
    tbt_lint_result res;
    tbt_analyzer_run(cfg, trace, arena, &res);
    unsigned failed = tbt_gates_lint_failed(gates, &res);

    if (strcmp(output, "json") == 0) {
        tbt_buf_puts(&out, "{\"trace\":");
        tbt_buf_json_str(&out, trace_path, strlen(trace_path));
        tbt_buf_printf(&out, ",\"spans\":%zu,\"requiredGates\":[", tbt_trace_span_count(trace));
        tbt_buf g = TBT_BUF_INIT;
        for (unsigned bit = 1; bit <= TBT_GATE_ANALYZER_RULES; bit <<= 1) {
            if (!(gates & bit))
                continue;
            tbt_buf_reset(&g);
            tbt_gates_format(bit, &g);
            tbt_buf_printf(&out, "%s\"%s\"", out.data[out.len - 1] == '[' ? "" : ",", tbt_buf_cstr(&g));
        }
        tbt_buf_puts(&out, "],\"failedGates\":[");
        bool first = true;
        for (unsigned bit = 1; bit <= TBT_GATE_ANALYZER_RULES; bit <<= 1) {
            if (!(failed & bit))
                continue;
            tbt_buf_reset(&g);
            tbt_gates_format(bit, &g);
            tbt_buf_printf(&out, "%s\"%s\"", first ? "" : ",", tbt_buf_cstr(&g));
            first = false;
        }
        tbt_buf_free(&g);
        tbt_buf_printf(&out, "],\"passed\":%s,\"analyzer\":", failed ? "false" : "true");
        tbt_report_lint_json(&res, &out);
        tbt_buf_puts(&out, "}\n");
    } else {
        tbt_buf_printf(&out, "Trace %s: %zu spans\n", trace_path, tbt_trace_span_count(trace));
        tbt_report_lint_pretty(&res, use_color == 1, verbose, &out);
        tbt_buf g = TBT_BUF_INIT;
        tbt_gates_format(gates, &g);
        if (!gates)
            tbt_buf_puts(&out, "Required gates: none\n");
        else if (!failed)
            tbt_buf_printf(&out, "Required gates %s: passed\n", tbt_buf_cstr(&g));
        else {
            tbt_buf f = TBT_BUF_INIT;
            tbt_gates_format(failed, &f);
            tbt_buf_printf(&out, "Required gates %s: %s failed\n", tbt_buf_cstr(&g), tbt_buf_cstr(&f));
            tbt_buf_free(&f);
        }
        tbt_buf_free(&g);
    }
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    fflush(stdout);
    code = failed ? TBT_EXIT_FAILED : TBT_EXIT_OK;
done:
    tbt_buf_free(&out);
    tbt_arena_free(arena);
    tbt_trace_free(trace);
    tbt_analyzer_config_free(cfg);
    tbt_defs_free(defs);
    tbt_error_clear(&err);
    free(paths);
    return code;
}
