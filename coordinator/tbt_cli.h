/*
 * tbt_cli.h - what every subcommand shares: a declarative option table
 * (getopt_long options and --help text come from the same rows, as in Fluent
 * Bit's config maps), exit codes, colour detection and definition loading.
 */
#ifndef TBT_CLI_H
#define TBT_CLI_H

#include "tbt_log.h"
#include "tbt_model.h"
#include "tbt_result.h"
#include "tbt_vars.h"

/* Exit codes, as Tracetest's CLI. */
enum {
    TBT_EXIT_OK = 0,
    TBT_EXIT_ERROR = 1,
    TBT_EXIT_FAILED = 2,
    TBT_EXIT_NOT_FOUND = 3,
};

typedef struct tbt_cli_opt {
    const char *name;   /* long name without -- */
    char short_name;    /* 0 when none */
    const char *arg;    /* metavar, NULL for a flag */
    const char *help;
    int id;             /* returned by tbt_cli_next */
} tbt_cli_opt;

typedef struct tbt_cli {
    const char *prog;    /* "tbt eval" */
    const char *usage;   /* one-line synopsis after prog */
    const char *summary; /* what the command does */
    const tbt_cli_opt *opts;
    size_t n_opts;
    int argc;
    char **argv;
    int optind;
} tbt_cli;

/* Iterate options: returns the option's id and sets *arg, -1 at the end of
 * options, -2 on an error (already printed to stderr with a hint).
 * -h/--help prints help and returns -3. */
int tbt_cli_next(tbt_cli *c, const char **arg);
void tbt_cli_help(const tbt_cli *c, FILE *f);
/* Remaining positional arguments start at c->optind. */

/* Colour for stdout: --color=always/never/auto; auto is on for a terminal
 * unless NO_COLOR is set (any value) or TERM=dumb. Returns -1 for a bad
 * value. */
int tbt_cli_color(const char *mode, int fd);

/* Collect YAML files: a file is taken as is; a directory is walked
 * recursively for *.yaml and *.yml (sorted). Missing paths → -ENOENT with
 * the message in err. */
int tbt_cli_collect_files(const char *path, char ***files, size_t *n, tbt_error *err);
void tbt_cli_free_files(char **files, size_t n);

/* Load --vars files (VariableSet resources, or KEY=VALUE lines handled by
 * the caller) into vars. */
int tbt_cli_load_varsets(const char *path, tbt_vars *vars, tbt_error *err);

/* Print an error (formatted, with position and caret) to stderr, prefixed
 * with "tbt: " when it carries no file position. */
void tbt_cli_print_error(const tbt_error *err);

/* Map a negative errno from definition loading to an exit code. */
int tbt_cli_exit_for(int rc);

/* ---- what eval and run share: definitions, variables, reports ----------- */
enum {
    TBT_O_FILE = 1,
    TBT_O_VARS,
    TBT_O_VAR,
    TBT_O_OUTPUT,
    TBT_O_JUNIT,
    TBT_O_COLOR,
    TBT_O_VERBOSE,
    TBT_O_REPORT,
    TBT_O_GATES,
};

#define TBT_COMMON_OPT_ROWS                                                                                     \
    {"file", 'f', "PATH", "test or suite definition file, or a directory of them (repeatable)", TBT_O_FILE},      \
        {"vars", 0, "FILE", "VariableSet file whose values the tests read as var:NAME (repeatable)", TBT_O_VARS}, \
        {"var", 0, "NAME=VALUE", "set one variable (repeatable; wins over --vars)", TBT_O_VAR},                 \
        {"output", 'o', "FORMAT", "pretty (default) or json, on standard output", TBT_O_OUTPUT},                \
        {"junit", 0, "PATH", "also write a JUnit XML report to PATH", TBT_O_JUNIT},                              \
        {"report", 0, "PATH", "also write a self-contained HTML report to PATH", TBT_O_REPORT},                  \
        {"required-gates", 0, "GATES", "what decides the verdict: test-specs (default), analyzer-score, "           \
                                       "analyzer-rules, comma-separated (wins over a TestRunner resource)",        \
         TBT_O_GATES},                                                                                             \
        {"color", 0, "WHEN", "auto (default: on a terminal, unless NO_COLOR is set), always or never", TBT_O_COLOR}, \
        {"verbose", 'v', NULL, "show passing assertions, outputs, timings and why waiting stopped", TBT_O_VERBOSE}

typedef struct tbt_common_opts {
    char **paths, **varfiles, **varkv;
    size_t n_paths, cap_paths, n_varfiles, cap_varfiles, n_varkv, cap_varkv;
    const char *output, *junit, *color;
    const char *report; /* --report: the HTML report's path, or NULL */
    const char *gates;  /* --required-gates as given, or NULL */
    bool verbose;
    int use_color;
} tbt_common_opts;

void tbt_common_init(tbt_common_opts *o);
void tbt_common_free(tbt_common_opts *o);
/* Take one of the shared options; prints and returns -1 on a bad value. */
int tbt_common_opt(tbt_common_opts *o, const char *prog, int id, const char *arg);
/* After the options: positional arguments, -f given, valid -o/--color. */
int tbt_common_check(tbt_common_opts *o, const tbt_cli *cli);
struct tbt_trace_source;
/* Load the definitions and variables, run everything with src, print the
 * report, write JUnit; returns the exit code. */
int tbt_common_exec(const tbt_common_opts *o, const struct tbt_trace_source *src);
/* The same with a runner of one's own: fn fills rr (returns 0), or returns
 * -EINVAL with definition errors in errs, another negative errno with err
 * set, or a positive exit code (TBT_EXEC_OK for 0) when it printed its own
 * report. */
#define TBT_EXEC_OK 1000
/* What the definitions and flags decided for the whole run, beyond the
 * tests: the analyzer to run on every trace (NULL: none) and the required
 * gates (also in rr->required_gates). */
struct tbt_analyzer_config;
typedef struct tbt_exec_env {
    const struct tbt_analyzer_config *analyzer;
    unsigned gates;
} tbt_exec_env;
typedef int (*tbt_exec_fn)(void *ud, const tbt_exec_env *env, tbt_defs *defs, char **files, size_t n_files,
                           const tbt_vars *vars, tbt_run_result *rr, tbt_error_list *errs, tbt_error *err);
int tbt_common_exec_with(const tbt_common_opts *o, tbt_exec_fn fn, void *ud);
/* A positive duration option ("500ms", "2s"): 0, or -1 after printing
 * "PROG: --OPT takes a duration ..." to stderr. */
int tbt_cli_duration(const char *prog, const char *opt, const char *arg, uint64_t *ns);
/* --log-format, --log-level and --metrics, shared by `tbt run` and `tbt
 * agent`: 0, or -1 after printing "PROG: --OPT takes ..., got 'ARG'". For
 * --metrics, *host holds the allocated bind address (freed and replaced). */
int tbt_cli_log_format(const char *prog, const char *arg, tbt_log_format *out);
int tbt_cli_log_level(const char *prog, const char *arg, tbt_log_level *out);
struct tbt_receiver_opts;
int tbt_cli_metrics(const char *prog, const char *arg, bool *on, struct tbt_receiver_opts *at, char **host);
struct tbt_agent_opts;
/* --otlp-http / --otlp-grpc (http selects which) into ao; *host holds the
 * allocated bind address (freed and replaced). 0, or -1 after printing. */
int tbt_cli_listen(const char *prog, bool http, const char *arg, struct tbt_agent_opts *ao, char **host);

/* Write a report file (--junit, --report): 0, or TBT_EXIT_ERROR after
 * printing why it could not be written. */
int tbt_cli_write_report(const char *path, const tbt_buf *report);

/* Print rr as -o asks, write --junit and --report; the exit code. */
int tbt_common_report(const tbt_common_opts *o, const tbt_run_result *rr);

#endif
