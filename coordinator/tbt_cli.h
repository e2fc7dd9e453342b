/*
 * tbt_cli.h - what every subcommand shares: a declarative option table
 * (getopt_long options and --help text come from the same rows, as in Fluent
 * Bit's config maps), exit codes, colour detection and definition loading.
 */
#ifndef TBT_CLI_H
#define TBT_CLI_H

#include "tbt_model.h"
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

#endif
