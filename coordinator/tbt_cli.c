/* tbt_cli.c - shared command-line plumbing. */
#include "tbt_cli.h"

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
