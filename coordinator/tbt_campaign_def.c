/* tbt_campaign_def.c - the Campaign resource: a load-style campaign written
 * down next to the tests it runs.
 *
 *   type: Campaign
 *   spec:
 *     id: checkout-load
 *     name: Checkout under load
 *     test: checkout.yaml        # a file relative to this one, or a Test or TestSuite id
 *     environments: [eu-west, us-east]
 *     runs: 1000                 # per environment
 *     concurrency: 32            # runs in flight per environment
 *     rate: 50/s                 # optional
 *     duration: 2m               # optional
 *     thresholds:
 *       - p95(trace.duration) < 300ms
 *       - pass_ratio >= 0.99
 *
 * Command-line flags (--runs, --concurrency, --rate, --duration, --env,
 * --threshold) win over the resource. */
#include "tbt_campaign_def.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_yaml.h"

static int fail_at(tbt_error *err, const tbt_defs *defs, const tbt_ynode *n, const char *fmt, ...) TBT_PRINTF(4, 5);

static int fail_at(tbt_error *err, const tbt_defs *defs, const tbt_ynode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    tbt_error_set(err, -EINVAL, "%s", msg);
    free(msg);
    if (n) {
        err->file = n->loc.file ? tbt_xstrdup(n->loc.file) : NULL;
        err->line = n->loc.line;
        err->col = n->loc.col;
        tbt_defs_error_source(defs, err);
    }
    return -EINVAL;
}

static bool scalar(const tbt_ynode *n)
{
    return n && n->type == TBT_Y_SCALAR && !tbt_ynode_is_null(n);
}

static bool path_like(const char *s)
{
    size_t n = strlen(s);
    return strchr(s, '/') || (n > 5 && strcmp(s + n - 5, ".yaml") == 0) || (n > 4 && strcmp(s + n - 4, ".yml") == 0);
}

/* The Test or TestSuite the campaign names, as a unit. */
static int find_unit(tbt_defs *defs, const tbt_resource_ref *ref, const tbt_ynode *tn, tbt_unit *u, tbt_error *err)
{
    const char *name = tn->str;
    const char *file = NULL;
    char *path = NULL;
    if (path_like(name)) {
        char *dir = tbt_xstrdup(ref->file);
        path = name[0] == '/' ? tbt_xstrdup(name) : tbt_xasprintf("%s/%s", dirname(dir), name);
        free(dir);
        tbt_error lerr = TBT_ERROR_INIT;
        if (tbt_defs_load_file(defs, path, &lerr) != 0 || tbt_defs_resolve(defs, &lerr) != 0) {
            tbt_buf b = TBT_BUF_INIT;
            tbt_error_format(&lerr, &b);
            while (b.len && b.data[b.len - 1] == '\n')
                b.data[--b.len] = '\0';
            int rc = fail_at(err, defs, tn, "campaign test '%s': %s", name, tbt_buf_cstr(&b));
            tbt_buf_free(&b);
            tbt_error_clear(&lerr);
            free(path);
            return rc;
        }
        char real[PATH_MAX];
        file = realpath(path, real) ? tbt_arena_strdup(tbt_defs_arena(defs), real) : NULL;
    }
    memset(u, 0, sizeof(*u));
    for (size_t i = 0; i < tbt_defs_count(defs) && !u->n_steps; i++) {
        const tbt_resource_ref *r = tbt_defs_at(defs, i);
        if (r->kind != TBT_RES_TEST && r->kind != TBT_RES_SUITE)
            continue;
        if (file) {
            char real[PATH_MAX];
            if (!realpath(r->file, real) || strcmp(real, file) != 0)
                continue;
        }
        if (r->kind == TBT_RES_TEST) {
            const tbt_test_def *t = r->def;
            if (!file && !(t->id.s && strcmp(t->id.s, name) == 0))
                continue;
            u->file = r->file;
            u->steps = tbt_xcalloc(1, sizeof(*u->steps));
            u->steps[u->n_steps++] = t;
        } else {
            const tbt_suite_def *s = r->def;
            if (!file && !(s->id.s && strcmp(s->id.s, name) == 0))
                continue;
            u->file = r->file;
            u->suite = s->name.s ? s->name.s : s->id.s ? s->id.s : "(unnamed suite)";
            u->steps = tbt_xcalloc(s->n_steps ? s->n_steps : 1, sizeof(*u->steps));
            for (size_t k = 0; k < s->n_steps; k++)
                if (s->steps[k].test)
                    u->steps[u->n_steps++] = s->steps[k].test;
        }
    }
    free(path);
    if (!u->n_steps) {
        free(u->steps);
        return file ? fail_at(err, defs, tn, "campaign test '%s': the file holds no Test or TestSuite", name)
                    : fail_at(err, defs, tn,
                              "campaign test '%s': no loaded Test or TestSuite has this id (name a file relative "
                              "to the campaign, or load the test with -f)",
                              name);
    }
    return 0;
}

static int positive(const tbt_defs *defs, const tbt_ynode *n, const char *what, double max, double *out,
                    tbt_error *err)
{
    char *end = NULL;
    double v = scalar(n) ? strtod(n->str, &end) : NAN;
    if (end && strcmp(end, "/s") == 0 && strcmp(what, "rate") == 0)
        end += 2;
    if (!scalar(n) || end == n->str || *end || !(v > 0) || v > max || !isfinite(v))
        return fail_at(err, defs, n, "campaign %s: expected a positive number%s", what,
                       strcmp(what, "rate") == 0 ? " of runs per second (e.g. 50 or 50/s)" : "");
    *out = v;
    return 0;
}

int tbt_campaign_def_load(tbt_defs *defs, const tbt_resource_ref *ref, tbt_campaign_def *out, tbt_error *err)
{
    memset(out, 0, sizeof(*out));
    const tbt_ynode *spec = ref->def;
    if (!spec || spec->type != TBT_Y_MAP)
        return fail_at(err, defs, spec, "a Campaign's spec must be a map");
    static const char *const known[] = {"id",          "name",     "description", "test", "environments", "runs",
                                        "concurrency", "rate",     "duration",    "thresholds"};
    for (size_t i = 0; i < spec->n; i++) {
        bool ok = false;
        for (size_t k = 0; k < TBT_ARRAY_LEN(known); k++)
            ok |= strcmp(spec->pairs[i].key->str, known[k]) == 0;
        if (!ok)
            return fail_at(err, defs, spec->pairs[i].key,
                           "unknown Campaign field '%s' (test, environments, runs, concurrency, rate, duration, "
                           "thresholds, id, name, description)",
                           spec->pairs[i].key->str);
    }
    const tbt_ynode *n = tbt_ymap_get(spec, "name");
    const tbt_ynode *id = tbt_ymap_get(spec, "id");
    out->name = scalar(n) ? n->str : scalar(id) ? id->str : "(unnamed campaign)";
    const tbt_ynode *tn = tbt_ymap_get(spec, "test");
    if (!scalar(tn))
        return fail_at(err, defs, tn ? tn : spec, "a Campaign needs 'test': a file or the id of a Test or TestSuite");
    int rc = find_unit(defs, ref, tn, &out->unit, err);
    if (rc)
        return rc;
    const tbt_ynode *envs = tbt_ymap_get(spec, "environments");
    if (envs) {
        if (envs->type != TBT_Y_SEQ || envs->n == 0)
            return fail_at(err, defs, envs, "campaign environments: expected a list of names");
        out->envs = tbt_xcalloc(envs->n, sizeof(char *));
        for (size_t i = 0; i < envs->n; i++) {
            tbt_error e2 = TBT_ERROR_INIT;
            if (!scalar(envs->items[i]) || tbt_kafka_check_env(envs->items[i]->str, &e2) != 0) {
                rc = fail_at(err, defs, envs->items[i], "campaign environments: %s",
                             e2.msg ? e2.msg : "expected a name");
                tbt_error_clear(&e2);
                return rc;
            }
            out->envs[out->n_envs++] = tbt_xstrdup(envs->items[i]->str);
        }
    }
    double v;
    const tbt_ynode *x;
    if ((x = tbt_ymap_get(spec, "runs"))) {
        if ((rc = positive(defs, x, "runs", 1e8, &v, err)) != 0 || v != floor(v))
            return rc ? rc : fail_at(err, defs, x, "campaign runs: expected a whole number");
        out->runs = (uint64_t)v;
    }
    if ((x = tbt_ymap_get(spec, "concurrency"))) {
        if ((rc = positive(defs, x, "concurrency", 10000, &v, err)) != 0 || v != floor(v))
            return rc ? rc : fail_at(err, defs, x, "campaign concurrency: expected a whole number");
        out->concurrency = (unsigned)v;
    }
    if ((x = tbt_ymap_get(spec, "rate")) && (rc = positive(defs, x, "rate", 1e7, &out->rate, err)) != 0)
        return rc;
    if ((x = tbt_ymap_get(spec, "duration"))) {
        int64_t ns;
        if (!scalar(x) || tbt_parse_duration(x->str, x->len, &ns) != 0 || ns <= 0)
            return fail_at(err, defs, x, "campaign duration: expected a duration such as 30s or 5m");
        out->duration_ns = (uint64_t)ns;
    }
    const tbt_ynode *th = tbt_ymap_get(spec, "thresholds");
    if (th) {
        if (th->type != TBT_Y_SEQ)
            return fail_at(err, defs, th, "campaign thresholds: expected a list such as [\"pass_ratio >= 0.99\"]");
        out->th = tbt_xcalloc(th->n ? th->n : 1, sizeof(tbt_threshold));
        for (size_t i = 0; i < th->n; i++) {
            if (!scalar(th->items[i]))
                return fail_at(err, defs, th->items[i], "campaign thresholds: expected text");
            if (tbt_threshold_parse_at(th->items[i]->str, &th->items[i]->loc, &out->th[out->n_th], err) != 0) {
                tbt_defs_error_source(defs, err);
                return -EINVAL;
            }
            out->n_th++;
        }
    }
    if (!out->runs && !out->duration_ns)
        return fail_at(err, defs, spec, "a Campaign needs 'runs' or 'duration'");
    return 0;
}

void tbt_campaign_def_clear(tbt_campaign_def *c)
{
    free(c->unit.steps);
    for (size_t i = 0; i < c->n_envs; i++)
        free(c->envs[i]);
    free(c->envs);
    for (size_t i = 0; i < c->n_th; i++)
        tbt_threshold_clear(&c->th[i]);
    free(c->th);
    memset(c, 0, sizeof(*c));
}
