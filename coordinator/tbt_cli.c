/* tbt_cli.c - shared command-line plumbing. */
#include "tbt_cli.h"

#include "tbt_agent.h"
#include "tbt_analyzer.h"
#include "tbt_commands.h"
#include "tbt_report.h"
#include "tbt_report_html.h"
#include "tbt_runner.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *short_spec(const tbt_cli *c)
{
    tbt_buf b = TBT_BUF_INIT;
    tbt_buf_puts(&b, ":h");
    for (size_t i = 0; i < c->n_opts; i++) {
        if (!c->opts[i].short_name)
            continue;
        tbt_buf_putc(&b, c->opts[i].short_name);
        if (c->opts[i].arg)
            tbt_buf_putc(&b, ':');
    }
    return tbt_buf_steal(&b);
}

int tbt_cli_next(tbt_cli *c, const char **arg)
{
    struct option *lo = tbt_xcalloc(c->n_opts + 2, sizeof(*lo));
    for (size_t i = 0; i < c->n_opts; i++) {
        lo[i].name = c->opts[i].name;
        lo[i].has_arg = c->opts[i].arg ? required_argument : no_argument;
        lo[i].val = 1000 + (int)i;
    }
    lo[c->n_opts].name = "help";
    lo[c->n_opts].val = 'h';
    char *ss = short_spec(c);
    if (c->optind == 0) {
        optind = 1;
        c->optind = 1;
    }
    opterr = 0;
    int prev = optind;
    int r = getopt_long(c->argc, c->argv, ss, lo, NULL);
    int out;
    *arg = optarg;
    if (r == -1) {
        out = -1;
    } else if (r == 'h') {
        tbt_cli_help(c, stdout);
        out = -3;
    } else if (r == '?' || r == ':') {
        const char *bad = prev < c->argc ? c->argv[prev] : "?";
        if (r == ':')
            fprintf(stderr, "%s: option '%s' needs a value\n", c->prog, bad);
        else if (optopt && optopt < 1000)
            fprintf(stderr, "%s: unknown option '-%c'\n", c->prog, optopt);
        else
            fprintf(stderr, "%s: unknown option '%s'\n", c->prog, bad);
        fprintf(stderr, "Run '%s --help' for the options.\n", c->prog);
        out = -2;
    } else if (r >= 1000) {
        out = c->opts[r - 1000].id;
    } else {
        out = -2;
        for (size_t i = 0; i < c->n_opts; i++)
            if (c->opts[i].short_name == r)
                out = c->opts[i].id;
    }
    c->optind = optind;
    free(ss);
    free(lo);
    return out;
}

void tbt_cli_help(const tbt_cli *c, FILE *f)
{
    fprintf(f, "Usage: %s %s\n\n%s\n\nOptions:\n", c->prog, c->usage, c->summary);
    for (size_t i = 0; i < c->n_opts; i++) {
        const tbt_cli_opt *o = &c->opts[i];
        char left[64];
        if (o->short_name)
            snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        else
            snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(f, "  %-28s %s\n", left, o->help);
    }
    fprintf(f, "  %-28s %s\n", "-h, --help", "show this help");
}

int tbt_cli_color(const char *mode, int fd)
{
    if (!mode || strcmp(mode, "auto") == 0) {
        const char *nc = getenv("NO_COLOR");
        if (nc && nc[0]) /* no-color.org: set and non-empty */
            return 0;
        const char *term = getenv("TERM");
        if (term && strcmp(term, "dumb") == 0)
            return 0;
        return isatty(fd) ? 1 : 0;
    }
    if (strcmp(mode, "always") == 0)
        return 1;
    if (strcmp(mode, "never") == 0)
        return 0;
    return -1;
}

static bool is_yaml(const char *name)
{
    size_t l = strlen(name);
    return (l > 5 && strcmp(name + l - 5, ".yaml") == 0) || (l > 4 && strcmp(name + l - 4, ".yml") == 0);
}

static int walk(const char *dir, char ***files, size_t *n, size_t *cap, int depth, tbt_error *err)
{
    if (depth > 32)
        return tbt_error_set(err, -ELOOP, "%s: directories nested too deeply", dir);
    struct dirent **names;
    int k = scandir(dir, &names, NULL, alphasort);
    if (k < 0) {
        int e = errno;
        return tbt_error_set(err, -e, "%s: %s", dir, strerror(e));
    }
    int rc = 0;
    for (int i = 0; i < k; i++) {
        const char *nm = names[i]->d_name;
        if (rc == 0 && nm[0] != '.') {
            char *path = tbt_xasprintf("%s/%s", dir, nm);
            struct stat st;
            if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
                rc = walk(path, files, n, cap, depth + 1, err);
                free(path);
            } else if (is_yaml(nm)) {
                TBT_GROW(*files, *cap, *n + 1);
                (*files)[(*n)++] = path;
            } else {
                free(path);
            }
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int tbt_cli_collect_files(const char *path, char ***files, size_t *n, tbt_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        return tbt_error_set(err, -e, "%s: %s", path, strerror(e));
    }
    size_t cap = *n;
    if (S_ISDIR(st.st_mode)) {
        size_t before = *n;
        int rc = walk(path, files, n, &cap, 0, err);
        if (rc == 0 && *n == before)
            return tbt_error_set(err, -ENOENT, "%s: no .yaml or .yml files in this directory", path);
        return rc;
    }
    TBT_GROW(*files, cap, *n + 1);
    (*files)[(*n)++] = tbt_xstrdup(path);
    return 0;
}

void tbt_cli_free_files(char **files, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
}

int tbt_cli_load_varsets(const char *path, tbt_vars *vars, tbt_error *err)
{
    tbt_defs *d = tbt_defs_new();
    int rc = tbt_defs_load_file(d, path, err);
    if (rc == 0) {
        size_t found = 0;
        for (size_t i = 0; i < tbt_defs_count(d); i++) {
            const tbt_resource_ref *r = tbt_defs_at(d, i);
            if (r->kind != TBT_RES_VARSET)
                continue;
            const tbt_varset_def *vs = r->def;
            for (size_t k = 0; k < vs->n_values; k++)
                tbt_vars_set(vars, vs->values[k].key.s, vs->values[k].value.s ? vs->values[k].value.s : "");
            found++;
        }
        if (found == 0)
            rc = tbt_error_set(err, -EINVAL, "%s: no VariableSet in this file", path);
    }
    tbt_defs_free(d);
    return rc;
}

void tbt_cli_print_error(const tbt_error *err)
{
    tbt_buf b = TBT_BUF_INIT;
    if (!err->file && err->line == 0)
        tbt_buf_puts(&b, "tbt: ");
    tbt_error_format(err, &b);
    fputs(tbt_buf_cstr(&b), stderr);
    tbt_buf_free(&b);
}

int tbt_cli_exit_for(int rc)
{
    return rc == -ENOENT ? TBT_EXIT_NOT_FOUND : TBT_EXIT_ERROR;
}

/* ---- shared by eval and run ------------------------------------------------*/
void tbt_common_init(tbt_common_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->output = "pretty";
}

void tbt_common_free(tbt_common_opts *o)
{
    free(o->paths);
    free(o->varfiles);
    free(o->varkv);
    memset(o, 0, sizeof(*o));
}

int tbt_common_opt(tbt_common_opts *o, const char *prog, int id, const char *arg)
{
    switch (id) {
    case TBT_O_FILE:
        TBT_GROW(o->paths, o->cap_paths, o->n_paths + 1);
        o->paths[o->n_paths++] = (char *)arg;
        return 0;
    case TBT_O_VARS:
        TBT_GROW(o->varfiles, o->cap_varfiles, o->n_varfiles + 1);
        o->varfiles[o->n_varfiles++] = (char *)arg;
        return 0;
    case TBT_O_VAR:
        if (!strchr(arg, '=') || arg[0] == '=') {
            fprintf(stderr, "%s: --var takes NAME=VALUE, got '%s'\n", prog, arg);
            return -1;
        }
        TBT_GROW(o->varkv, o->cap_varkv, o->n_varkv + 1);
        o->varkv[o->n_varkv++] = (char *)arg;
        return 0;
    case TBT_O_OUTPUT:
        o->output = arg;
        return 0;
    case TBT_O_JUNIT:
        o->junit = arg;
        return 0;
    case TBT_O_COLOR:
        o->color = arg;
        return 0;
    case TBT_O_VERBOSE:
        o->verbose = true;
        return 0;
    case TBT_O_REPORT:
        o->report = arg;
        return 0;
    case TBT_O_GATES: {
        unsigned g;
        tbt_error err = TBT_ERROR_INIT;
        if (tbt_gates_parse(arg, &g, &err) != 0) {
            fprintf(stderr, "%s: --required-gates: %s\n", prog, err.msg);
            tbt_error_clear(&err);
            return -1;
        }
        o->gates = arg;
        return 0;
    }
    default:
        return -1;
    }
}

int tbt_common_check(tbt_common_opts *o, const tbt_cli *cli)
{
    if (cli->optind < cli->argc) {
        fprintf(stderr, "%s: unexpected argument '%s' (definition files go after -f)\n", cli->prog,
                cli->argv[cli->optind]);
        return -1;
    }
    if (o->n_paths == 0) {
        fprintf(stderr, "%s: no definition given (-f FILE)\nRun '%s --help' for the options.\n", cli->prog, cli->prog);
        return -1;
    }
    if (strcmp(o->output, "pretty") != 0 && strcmp(o->output, "json") != 0) {
        fprintf(stderr, "%s: unknown output format '%s' (pretty or json)\n", cli->prog, o->output);
        return -1;
    }
    o->use_color = tbt_cli_color(o->color, 1);
    if (o->use_color < 0) {
        fprintf(stderr, "%s: --color takes auto, always or never, got '%s'\n", cli->prog, o->color);
        return -1;
    }
    return 0;
}

int tbt_common_exec_with(const tbt_common_opts *o, tbt_exec_fn fn, void *ud)
{
    int code = TBT_EXIT_ERROR;
    tbt_error err = TBT_ERROR_INIT;
    tbt_error_list errs = TBT_ERROR_LIST_INIT;
    tbt_defs *defs = tbt_defs_new();
    tbt_vars *vars = tbt_vars_new();
    tbt_run_result *rr = tbt_run_result_new();
    tbt_analyzer_config *analyzer = NULL;
    char **files = NULL;
    size_t n_files = 0;
    int rc;
    for (size_t i = 0; i < o->n_paths; i++) {
        if ((rc = tbt_cli_collect_files(o->paths[i], &files, &n_files, &err)) != 0) {
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
    for (size_t i = 0; i < o->n_varfiles; i++) {
        if ((rc = tbt_cli_load_varsets(o->varfiles[i], vars, &err)) != 0) {
            tbt_cli_print_error(&err);
            code = tbt_cli_exit_for(rc);
            goto out;
        }
    }
    for (size_t i = 0; i < o->n_varkv; i++) {
        char *eq = strchr(o->varkv[i], '=');
        char *name = tbt_xstrndup(o->varkv[i], (size_t)(eq - o->varkv[i]));
        tbt_vars_set(vars, name, eq + 1);
        free(name);
    }
    /* the analyzer runs when an Analyzer resource asks for it or a gate
     * needs its verdict */
    const tbt_resource_ref *an_ref = NULL, *runner_ref = NULL;
    tbt_exec_env env = {0};
    if ((rc = tbt_analyzer_find_resources(defs, &an_ref, &runner_ref, &err)) != 0 ||
        (rc = tbt_analyzer_config_from_defs(defs, &analyzer, &env.gates, &err)) != 0 ||
        (o->gates && (rc = tbt_gates_parse(o->gates, &env.gates, &err)) != 0)) {
        tbt_cli_print_error(&err);
        goto out;
    }
    bool analyzer_gates = env.gates & (TBT_GATE_ANALYZER_SCORE | TBT_GATE_ANALYZER_RULES);
    if (analyzer_gates && !tbt_analyzer_config_enabled(analyzer)) {
        fprintf(stderr, "tbt: the required gates include the analyzer, but the Analyzer resource (%s) disables it\n",
                an_ref ? an_ref->file : "?");
        goto out;
    }
    if ((an_ref || analyzer_gates) && tbt_analyzer_config_enabled(analyzer))
        env.analyzer = analyzer;
    rr->required_gates = env.gates == TBT_GATES_DEFAULT ? 0 : env.gates;
    rc = fn(ud, &env, defs, files, n_files, vars, rr, &errs, &err);
    if (rc > 0) { /* the runner reported on its own (campaigns) */
        code = rc == TBT_EXEC_OK ? TBT_EXIT_OK : rc;
        goto out;
    }
    if (rc != 0 && (rc != -EINVAL || errs.n == 0)) {
        tbt_cli_print_error(&err);
        goto out;
    }
    if (rc == -EINVAL) {
        tbt_buf b = TBT_BUF_INIT;
        tbt_error_list_format(&errs, &b);
        fputs(tbt_buf_cstr(&b), stderr);
        fprintf(stderr, "tbt: %zu error%s in the definitions; nothing was run\n", errs.n, errs.n == 1 ? "" : "s");
        tbt_buf_free(&b);
        goto out;
    }
    if (rr->n_tests == 0) {
        fprintf(stderr, "tbt: the definition files hold no Test or TestSuite to run\n");
        goto out;
    }
    code = tbt_common_report(o, rr);
out:
    tbt_cli_free_files(files, n_files);
    tbt_error_clear(&err);
    tbt_error_list_clear(&errs);
    tbt_run_result_free(rr);
    tbt_analyzer_config_free(analyzer);
    tbt_vars_free(vars);
    tbt_defs_free(defs);
    return code;
}

static int run_source(void *ud, const tbt_exec_env *env, tbt_defs *defs, char **files, size_t n_files,
                      const tbt_vars *vars, tbt_run_result *rr, tbt_error_list *errs, tbt_error *err)
{
    (void)err;
    tbt_trace_source src = *(const tbt_trace_source *)ud;
    src.analyzer = env->analyzer;
    return tbt_runner_run(defs, files, n_files, vars, &src, rr, errs);
}

int tbt_common_exec(const tbt_common_opts *o, const struct tbt_trace_source *src)
{
    return tbt_common_exec_with(o, run_source, (void *)src);
}

int tbt_cli_log_format(const char *prog, const char *arg, tbt_log_format *out)
{
    if (tbt_log_parse_format(arg, out) == 0)
        return 0;
    fprintf(stderr, "%s: --log-format takes text, logfmt or json, got '%s'\n", prog, arg);
    return -1;
}

int tbt_cli_log_level(const char *prog, const char *arg, tbt_log_level *out)
{
    if (tbt_log_parse_level(arg, out) == 0)
        return 0;
    fprintf(stderr, "%s: --log-level takes error, warn, info or debug, got '%s'\n", prog, arg);
    return -1;
}

int tbt_cli_metrics(const char *prog, const char *arg, bool *on, struct tbt_receiver_opts *at, char **host)
{
    free(*host);
    *host = NULL;
    at->bind_addr = NULL;
    if (tbt_parse_listen(arg, on, at, host) == 0)
        return 0;
    fprintf(stderr, "%s: --metrics takes ADDR:PORT, PORT or off, got '%s'\n", prog, arg);
    return -1;
}

int tbt_cli_write_report(const char *path, const tbt_buf *report)
{
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_write_file(path, report->data ? report->data : "", report->len, &err);
    if (rc)
        tbt_cli_print_error(&err);
    tbt_error_clear(&err);
    return rc ? TBT_EXIT_ERROR : 0;
}

int tbt_common_report(const tbt_common_opts *o, const tbt_run_result *rr)
{
    tbt_buf out = TBT_BUF_INIT;
    if (strcmp(o->output, "json") == 0) {
        tbt_report_json(rr, &out);
    } else {
        tbt_report_opts ro = {.color = o->use_color == 1, .verbose = o->verbose};
        tbt_report_pretty(rr, &ro, &out);
    }
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    fflush(stdout);
    int code = tbt_runner_exit_code(rr);
    if (o->junit) {
        tbt_buf_reset(&out);
        tbt_report_junit(rr, &out);
        if (tbt_cli_write_report(o->junit, &out))
            code = TBT_EXIT_ERROR;
    }
    if (o->report) {
        tbt_buf_reset(&out);
        tbt_report_html(rr, NULL, NULL, 0, &out);
        if (tbt_cli_write_report(o->report, &out))
            code = TBT_EXIT_ERROR;
    }
    tbt_buf_free(&out);
    return code;
}

int tbt_cli_duration(const char *prog, const char *opt, const char *arg, uint64_t *out)
{
    int64_t ns;
    if (tbt_parse_duration(arg, strlen(arg), &ns) != 0 || ns <= 0) {
        fprintf(stderr, "%s: --%s takes a duration such as 500ms, 2s or 5m, got '%s'\n", prog, opt, arg);
        return -1;
    }
    *out = (uint64_t)ns;
    return 0;
}

int tbt_cli_listen(const char *prog, bool http, const char *arg, struct tbt_agent_opts *ao, char **host)
{
    free(*host);
    *host = NULL;
    if (tbt_parse_listen(arg, http ? &ao->http : &ao->grpc, http ? &ao->http_opts : &ao->grpc_opts, host) != 0) {
        fprintf(stderr, "%s: --otlp-%s takes ADDR:PORT, PORT or off, got '%s'\n", prog, http ? "http" : "grpc", arg);
        return -1;
    }
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
