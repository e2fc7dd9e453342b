/* tbt_msg.c - job and result messages (JSON via cJSON). */
#include "tbt_msg.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_analyzer.h"

/* ---- encoding helpers ---------------------------------------------------- */
static cJSON *ynode_json(const tbt_ynode *n, unsigned depth)
{
    if (!n || depth > 64)
        return cJSON_CreateNull();
    switch (n->type) {
    case TBT_Y_SCALAR:
        /* plain true/false stay booleans (the loader reads quoted ones as
         * strings); everything else is text, as the loader sees it */
        if (n->loc.style == TBT_STYLE_PLAIN && n->str &&
            (strcmp(n->str, "true") == 0 || strcmp(n->str, "false") == 0))
            return cJSON_CreateBool(n->str[0] == 't');
        return cJSON_CreateString(n->str ? n->str : "");
    case TBT_Y_SEQ: {
        cJSON *a = cJSON_CreateArray();
        for (size_t i = 0; i < n->n; i++)
            cJSON_AddItemToArray(a, ynode_json(n->items[i], depth + 1));
        return a;
    }
    case TBT_Y_MAP: {
        cJSON *o = cJSON_CreateObject();
        for (size_t i = 0; i < n->n; i++)
            cJSON_AddItemToObject(o, n->pairs[i].key->str, ynode_json(n->pairs[i].value, depth + 1));
        return o;
    }
    }
    return cJSON_CreateNull();
}

static void add_str(cJSON *o, const char *k, const tbt_str *s)
{
    if (s->s)
        cJSON_AddStringToObject(o, k, s->s);
}

static char *dur_text(int64_t ns)
{
    char buf[48];
    tbt_format_duration(ns, buf, sizeof(buf));
    return tbt_xstrdup(buf);
}

static cJSON *definition_json(const tbt_test_def *def)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "type", "Test");
    cJSON *spec = cJSON_AddObjectToObject(root, "spec");
    add_str(spec, "id", &def->id);
    add_str(spec, "name", &def->name);
    add_str(spec, "description", &def->description);
    cJSON_AddItemToObject(spec, "trigger", ynode_json(def->trigger.node, 0));
    if (def->skip_trace_collection)
        cJSON_AddBoolToObject(spec, "skipTraceCollection", true);
    if (def->polling) {
        /* inline: the agent has no access to the coordinator's files */
        cJSON *pp = cJSON_AddObjectToObject(spec, "pollingProfile");
        cJSON_AddStringToObject(pp, "strategy", "periodic");
        cJSON *per = cJSON_AddObjectToObject(pp, "periodic");
        char *rd = dur_text(def->polling->retry_delay_ns), *to = dur_text(def->polling->timeout_ns);
        cJSON_AddStringToObject(per, "retryDelay", rd);
        cJSON_AddStringToObject(per, "timeout", to);
        cJSON_AddNumberToObject(per, "selectorMatchRetries", def->polling->selector_match_retries);
        free(rd);
        free(to);
    }
    if (def->completion)
        cJSON_AddItemToObject(spec, "completion", ynode_json(def->completion, 0));
    if (def->n_outputs) {
        cJSON *outs = cJSON_AddArrayToObject(spec, "outputs");
        for (size_t i = 0; i < def->n_outputs; i++) {
            cJSON *o = cJSON_CreateObject();
            add_str(o, "name", &def->outputs[i].name);
            add_str(o, "selector", &def->outputs[i].selector);
            add_str(o, "value", &def->outputs[i].value);
            cJSON_AddItemToArray(outs, o);
        }
    }
    cJSON *specs = cJSON_AddArrayToObject(spec, "specs");
    for (size_t i = 0; i < def->n_specs; i++) {
        const tbt_spec_def *sd = &def->specs[i];
        cJSON *s = cJSON_CreateObject();
        add_str(s, "name", &sd->name);
        cJSON_AddStringToObject(s, "selector", sd->selector.s ? sd->selector.s : "");
        cJSON *as = cJSON_AddArrayToObject(s, "assertions");
        for (size_t k = 0; k < sd->n_assertions; k++)
            cJSON_AddItemToArray(as, cJSON_CreateString(sd->assertions[k].s ? sd->assertions[k].s : ""));
        cJSON_AddItemToArray(specs, s);
    }
    return root;
}

static void print_into(cJSON *root, tbt_buf *out)
{
    char *s = cJSON_PrintUnformatted(root);
    tbt_buf_puts(out, s ? s : "{}");
    cJSON_free(s);
    cJSON_Delete(root);
}

char *tbt_job_definition(const tbt_test_def *def)
{
    cJSON *d = definition_json(def);
    char *text = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    char *copy = tbt_xstrdup(text ? text : "{}");
    cJSON_free(text);
    return copy;
}

static int job_encode(const tbt_job *job, const tbt_test_def *def, const char *def_json, const tbt_vars *vars,
                      tbt_buf *out);

int tbt_job_encode(const tbt_job *job, const tbt_test_def *def, const tbt_vars *vars, tbt_buf *out)
{
    return job_encode(job, def, NULL, vars, out);
}

int tbt_job_encode_with(const tbt_job *job, const tbt_test_def *def, const char *def_json, const tbt_vars *vars,
                        tbt_buf *out)
{
    return job_encode(job, def, def_json, vars, out);
}

static int job_encode(const tbt_job *job, const tbt_test_def *def, const char *def_json, const tbt_vars *vars,
                      tbt_buf *out)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "version", TBT_MSG_VERSION);
    cJSON_AddStringToObject(root, "kind", "job");
    cJSON_AddStringToObject(root, "runId", job->run_id ? job->run_id : "");
    cJSON_AddStringToObject(root, "jobId", job->job_id ? job->job_id : "");
    cJSON_AddNumberToObject(root, "attempt", job->attempt > 0 ? job->attempt : 1);
    cJSON_AddStringToObject(root, "environment", job->environment ? job->environment : "");
    if (job->deadline_unix_ms > 0)
        cJSON_AddNumberToObject(root, "deadlineUnixMs", (double)job->deadline_unix_ms);
    if (job->suite) {
        cJSON *su = cJSON_AddObjectToObject(root, "suite");
        cJSON_AddStringToObject(su, "name", job->suite);
        cJSON_AddNumberToObject(su, "step", job->step);
        cJSON_AddNumberToObject(su, "steps", job->steps);
    }
    if (job->want_view || job->analyzer) {
        cJSON *want = cJSON_AddObjectToObject(root, "want");
        if (job->want_view)
            cJSON_AddNumberToObject(want, "traceViewMaxBytes",
                                    (double)(job->view_max_bytes ? job->view_max_bytes : TBT_MSG_VIEW_MAX_BYTES));
        if (job->want_view && job->view_on_failure)
            cJSON_AddBoolToObject(want, "traceViewOnFailure", true);
        if (job->analyzer)
            cJSON_AddItemToObject(want, "analyzer", cJSON_CreateRaw(job->analyzer));
    }
    cJSON *test = cJSON_AddObjectToObject(root, "test");
    add_str(test, "id", &def->id);
    add_str(test, "name", &def->name);
    if (def->file)
        cJSON_AddStringToObject(test, "file", def->file);
    cJSON_AddItemToObject(test, "definition", def_json ? cJSON_CreateRaw(def_json) : definition_json(def));
    cJSON *vo = cJSON_AddObjectToObject(root, "vars");
    for (size_t i = 0; i < tbt_vars_count(vars); i++)
        cJSON_AddStringToObject(vo, tbt_vars_name_at(vars, i), tbt_vars_value_at(vars, i));
    print_into(root, out);
    return 0;
}

/* ---- decoding helpers ------------------------------------------------------ */
static int bad(tbt_error *err, const char *what, const char *field)
{
    return tbt_error_set(err, -EINVAL, "invalid %s message: %s", what, field);
}

static cJSON *parse_root(const char *json, size_t len, const char *what, tbt_error *err, int *rc)
{
    if (len > TBT_MSG_MAX_BYTES) {
        *rc = tbt_error_set(err, -E2BIG, "%s message of %zu bytes, over the %u-byte limit", what, len,
                            TBT_MSG_MAX_BYTES);
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        *rc = bad(err, what, "not a JSON object");
        return NULL;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble != floor(v->valuedouble)) {
        cJSON_Delete(root);
        *rc = bad(err, what, "\"version\" must be a positive whole number");
        return NULL;
    }
    if (v->valuedouble > TBT_MSG_VERSION) {
        double version = v->valuedouble;
        cJSON_Delete(root);
        *rc = tbt_error_set(err, -EPROTO, "%s message version %.0f is newer than this tbt understands (%d): upgrade",
                            what, version, TBT_MSG_VERSION);
        return NULL;
    }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(root, "kind");
    if (!cJSON_IsString(k) || strcmp(k->valuestring, what) != 0) {
        cJSON_Delete(root);
        *rc = tbt_error_set(err, -EINVAL, "invalid %s message: \"kind\" must be \"%s\"", what, what);
        return NULL;
    }
    *rc = 0;
    return root;
}

static const char *get_str(const cJSON *o, const char *k, bool required, const char *what, tbt_error *err, int *rc)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v) {
        if (required) {
            char *f = tbt_xasprintf("\"%s\" is missing", k);
            *rc = bad(err, what, f);
            free(f);
        }
        return NULL;
    }
    if (!cJSON_IsString(v)) {
        char *f = tbt_xasprintf("\"%s\" must be a string", k);
        *rc = bad(err, what, f);
        free(f);
        return NULL;
    }
    return v->valuestring;
}

static bool get_int(const cJSON *o, const char *k, int64_t lo, int64_t hi, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v)
        return true;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi)
        return false;
    *out = (int64_t)v->valuedouble;
    return true;
}

static char *dup_or_null(const char *s)
{
    return s ? tbt_xstrdup(s) : NULL;
}

void tbt_job_clear(tbt_job *job)
{
    if (!job)
        return;
    free(job->run_id);
    free(job->job_id);
    free(job->environment);
    free(job->test_id);
    free(job->test_name);
    free(job->test_file);
    free(job->definition);
    free(job->suite);
    free(job->analyzer);
    tbt_vars_free(job->vars);
    memset(job, 0, sizeof(*job));
}

int tbt_job_decode(const char *json, size_t len, tbt_job *out, tbt_error *err)
{
    memset(out, 0, sizeof(*out));
    int rc;
    cJSON *root = parse_root(json, len, "job", err, &rc);
    if (!root)
        return rc;
    rc = 0;
    const char *run = get_str(root, "runId", true, "job", err, &rc);
    const char *jid = rc ? NULL : get_str(root, "jobId", true, "job", err, &rc);
    const char *env = rc ? NULL : get_str(root, "environment", false, "job", err, &rc);
    int64_t attempt = 1, deadline = 0;
    if (rc == 0 && (!run || !*run || !jid || !*jid))
        rc = bad(err, "job", "\"runId\" and \"jobId\" must not be empty");
    if (rc == 0 && !get_int(root, "attempt", 1, 1000000, &attempt))
        rc = bad(err, "job", "\"attempt\" must be a whole number from 1");
    if (rc == 0 && !get_int(root, "deadlineUnixMs", 0, INT64_C(1) << 52, &deadline))
        rc = bad(err, "job", "\"deadlineUnixMs\" must be a whole number of milliseconds");
    const cJSON *test = cJSON_GetObjectItemCaseSensitive(root, "test");
    const cJSON *defn = test ? cJSON_GetObjectItemCaseSensitive(test, "definition") : NULL;
    if (rc == 0 && (!cJSON_IsObject(test) || !cJSON_IsObject(defn)))
        rc = bad(err, "job", "\"test.definition\" must be an object");
    const cJSON *vars = cJSON_GetObjectItemCaseSensitive(root, "vars");
    if (rc == 0 && vars && !cJSON_IsObject(vars))
        rc = bad(err, "job", "\"vars\" must be an object of strings");
    if (rc == 0) {
        out->vars = tbt_vars_new();
        for (const cJSON *v = vars ? vars->child : NULL; v && rc == 0; v = v->next) {
            if (!cJSON_IsString(v) || !v->string)
                rc = bad(err, "job", "\"vars\" must be an object of strings");
            else
                tbt_vars_set(out->vars, v->string, v->valuestring);
        }
    }
    const cJSON *suite = cJSON_GetObjectItemCaseSensitive(root, "suite");
    if (rc == 0 && suite) {
        const char *sn = cJSON_IsObject(suite) ? get_str(suite, "name", true, "job", err, &rc) : NULL;
        int64_t step = 0, steps = 0;
        if (rc == 0 && (!cJSON_IsObject(suite) || !sn || !get_int(suite, "step", 1, 100000, &step) ||
                        !get_int(suite, "steps", 1, 100000, &steps)))
            rc = bad(err, "job", "\"suite\" must be {name, step, steps}");
        if (rc == 0) {
            out->suite = tbt_xstrdup(sn);
            out->step = (int)step;
            out->steps = (int)steps;
        }
    }
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(root, "want");
    if (rc == 0 && want) {
        int64_t vmax = 0;
        const cJSON *an = cJSON_IsObject(want) ? cJSON_GetObjectItemCaseSensitive(want, "analyzer") : NULL;
        if (!cJSON_IsObject(want))
            rc = bad(err, "job", "\"want\" must be an object");
        else if (!get_int(want, "traceViewMaxBytes", 0, TBT_MSG_VIEW_LIMIT, &vmax))
            rc = bad(err, "job", "\"want.traceViewMaxBytes\" must be a whole number up to 7340032");
        else if (an && !cJSON_IsObject(an))
            rc = bad(err, "job", "\"want.analyzer\" must be an object");
        if (rc == 0) {
            out->want_view = cJSON_GetObjectItemCaseSensitive(want, "traceViewMaxBytes") != NULL;
            out->view_on_failure = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(want, "traceViewOnFailure"));
            out->view_max_bytes = (size_t)vmax;
            if (an) {
                char *t = cJSON_PrintUnformatted(an);
                out->analyzer = tbt_xstrdup(t ? t : "{}");
                cJSON_free(t);
            }
        }
    }
    if (rc == 0) {
        out->run_id = tbt_xstrdup(run);
        out->job_id = tbt_xstrdup(jid);
        out->environment = tbt_xstrdup(env ? env : "");
        out->attempt = (int)attempt;
        out->deadline_unix_ms = deadline;
        int r2 = 0;
        out->test_id = dup_or_null(get_str(test, "id", false, "job", err, &r2));
        out->test_name = dup_or_null(get_str(test, "name", false, "job", err, &r2));
        out->test_file = dup_or_null(get_str(test, "file", false, "job", err, &r2));
        char *d = cJSON_PrintUnformatted(defn);
        out->definition = tbt_xstrdup(d ? d : "{}");
        cJSON_free(d);
        if (r2)
            tbt_error_clear(err); /* informational fields: ignore a wrong type */
    }
    cJSON_Delete(root);
    if (rc)
        tbt_job_clear(out);
    return rc;
}

static int job_load(const tbt_job *job, tbt_defs *defs, bool trusted, const tbt_test_def **out, tbt_error *err)
{
    *out = NULL;
    tbt_defs_set_file_access(defs, trusted);
    char *name = trusted && job->test_file && *job->test_file
                     ? tbt_xstrdup(job->test_file)
                     : tbt_xasprintf("job %s", job->job_id ? job->job_id : "?");
    int rc = tbt_defs_load_text(defs, name, job->definition, strlen(job->definition), err);
    free(name);
    if (rc == 0)
        rc = tbt_defs_resolve(defs, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < tbt_defs_count(defs); i++) {
        const tbt_resource_ref *r = tbt_defs_at(defs, i);
        if (r->kind == TBT_RES_TEST) {
            *out = r->def;
            return 0;
        }
    }
    return tbt_error_set(err, -EINVAL, "invalid job message: the definition holds no Test");
}

int tbt_job_load(const tbt_job *job, tbt_defs *defs, const tbt_test_def **out, tbt_error *err)
{
    return job_load(job, defs, false, out, err);
}

int tbt_job_load_trusted(const tbt_job *job, tbt_defs *defs, const tbt_test_def **out, tbt_error *err)
{
    return job_load(job, defs, true, out, err);
}

/* ---- results ---------------------------------------------------------------- */
/* ---- the result, written straight into the buffer ------------------------
 * (no cJSON tree: a campaign encodes one result per run, and building the
 * tree was a sixth of an agent's CPU per job). Strings go through
 * tbt_buf_json_str, so the message is valid JSON whatever bytes they hold. */
typedef struct rw {
    tbt_buf *b;
    bool first;
} rw;

static void rw_key(rw *w, const char *k)
{
    if (!w->first)
        tbt_buf_putc(w->b, ',');
    w->first = false;
    tbt_buf_json_str(w->b, k, strlen(k));
    tbt_buf_putc(w->b, ':');
}

static void rw_open(rw *w, const char *k, char c)
{
    if (k)
        rw_key(w, k);
    else if (!w->first)
        tbt_buf_putc(w->b, ',');
    tbt_buf_putc(w->b, c);
    w->first = true;
}

static void rw_close(rw *w, char c)
{
    tbt_buf_putc(w->b, c);
    w->first = false;
}

static void rw_str(rw *w, const char *k, const char *v)
{
    if (!v)
        return; /* absent, as the decoder reads a missing member */
    rw_key(w, k);
    tbt_buf_json_str(w->b, v, strlen(v));
}

static void rw_u64(rw *w, const char *k, uint64_t v)
{
    rw_key(w, k);
    tbt_buf_printf(w->b, "%" PRIu64, v);
}

static void rw_bool(rw *w, const char *k, bool v)
{
    rw_key(w, k);
    tbt_buf_puts(w->b, v ? "true" : "false");
}

static void rw_raw(rw *w, const char *k, const char *json)
{
    rw_key(w, k);
    tbt_buf_puts(w->b, json);
}

int tbt_result_encode(const tbt_job *job, const char *agent_id, const tbt_test_result *res, tbt_buf *out)
{
    rw w = {out, true};
    rw_open(&w, NULL, '{');
    rw_u64(&w, "version", TBT_MSG_VERSION);
    rw_str(&w, "kind", "result");
    rw_str(&w, "runId", job->run_id ? job->run_id : "");
    rw_str(&w, "jobId", job->job_id ? job->job_id : "");
    rw_u64(&w, "attempt", job->attempt > 0 ? (uint64_t)job->attempt : 1);
    rw_str(&w, "environment", job->environment ? job->environment : "");
    rw_str(&w, "agentId", agent_id ? agent_id : "");
    rw_open(&w, "test", '{');
    rw_str(&w, "id", res->id);
    rw_str(&w, "name", res->name);
    rw_str(&w, "file", res->file);
    rw_str(&w, "suite", res->suite);
    rw_str(&w, "status", tbt_test_status_name(res->status));
    rw_str(&w, "traceId", res->trace_id);
    rw_u64(&w, "spans", res->n_spans);
    rw_u64(&w, "traces", res->n_traces);
    rw_str(&w, "error", res->error);
    rw_str(&w, "completion", res->completion);
    rw_u64(&w, "triggerNs", res->trigger_ns);
    rw_u64(&w, "traceNs", res->trace_ns);
    rw_u64(&w, "evalNs", res->eval_ns);
    if (res->span_extent_ns)
        rw_u64(&w, "traceDurationNs", res->span_extent_ns);
    rw_open(&w, "outputs", '[');
    for (size_t i = 0; i < res->n_outputs; i++) {
        rw_open(&w, NULL, '{');
        rw_str(&w, "name", res->outputs[i].name);
        rw_str(&w, "value", res->outputs[i].value);
        rw_str(&w, "warning", res->outputs[i].warning);
        rw_close(&w, '}');
    }
    rw_close(&w, ']');
    rw_open(&w, "specs", '[');
    for (size_t i = 0; i < res->n_specs; i++) {
        const tbt_spec_result *sp = &res->specs[i];
        rw_open(&w, NULL, '{');
        rw_str(&w, "name", sp->name);
        rw_str(&w, "selector", sp->selector);
        rw_bool(&w, "passed", sp->passed);
        rw_u64(&w, "selectedSpans", sp->n_selected);
        rw_str(&w, "error", sp->error);
        rw_open(&w, "assertions", '[');
        for (size_t k = 0; k < sp->n_asserts; k++) {
            const tbt_assert_result *a = &sp->asserts[k];
            rw_open(&w, NULL, '{');
            rw_str(&w, "assertion", a->assertion);
            rw_bool(&w, "passed", a->passed);
            rw_str(&w, "warning", a->warning);
            rw_open(&w, "spans", '[');
            for (size_t j = 0; j < a->n_spans; j++) {
                const tbt_span_result *r = &a->spans[j];
                rw_open(&w, NULL, '{');
                rw_str(&w, "spanId", r->span_id);
                rw_str(&w, "spanName", r->span_name);
                rw_str(&w, "service", r->service);
                rw_str(&w, "traceId", r->trace_id);
                rw_bool(&w, "passed", r->passed);
                rw_str(&w, "observed", r->observed);
                rw_str(&w, "expected", r->expected);
                rw_str(&w, "error", r->error);
                rw_close(&w, '}');
            }
            rw_close(&w, ']');
            rw_close(&w, '}');
        }
        rw_close(&w, ']');
        rw_close(&w, '}');
    }
    rw_close(&w, ']');
    if (res->lint) {
        tbt_buf lj = TBT_BUF_INIT;
        tbt_lint_result_json(res->lint, &lj);
        rw_raw(&w, "analyzer", tbt_buf_cstr(&lj));
        tbt_buf_free(&lj);
    }
    if (res->trace_view)
        rw_raw(&w, "traceView", res->trace_view);
    rw_close(&w, '}');
    rw_close(&w, '}');
    return 0;
}

void tbt_result_meta_clear(tbt_result_meta *m)
{
    if (!m)
        return;
    free(m->run_id);
    free(m->job_id);
    free(m->environment);
    free(m->agent_id);
    memset(m, 0, sizeof(*m));
}

/* An optional string member copied into the arena; wrong types fail. */
static int a_str(tbt_run_result *rr, const cJSON *o, const char *k, const char **out, tbt_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v)) {
        char *f = tbt_xasprintf("\"%s\" must be a string", k);
        int rc = bad(err, "result", f);
        free(f);
        return rc;
    }
    *out = tbt_arena_strdup(rr->arena, v->valuestring);
    return 0;
}

static uint64_t a_u64(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1.8e19 ? (uint64_t)v->valuedouble : 0;
}

static bool a_bool(const cJSON *o, const char *k)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static const cJSON *a_array(const cJSON *o, const char *k, size_t max, size_t *n, int *rc, tbt_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    *n = 0;
    if (!v)
        return NULL;
    if (!cJSON_IsArray(v) || (size_t)cJSON_GetArraySize(v) > max) {
        char *f = tbt_xasprintf("\"%s\" must be a list of at most %zu items", k, max);
        *rc = bad(err, "result", f);
        free(f);
        return NULL;
    }
    *n = (size_t)cJSON_GetArraySize(v);
    return v;
}

int tbt_result_decode(const char *json, size_t len, tbt_run_result *rr, tbt_test_result *out, tbt_result_meta *meta,
                      tbt_error *err)
{
    memset(out, 0, sizeof(*out));
    memset(meta, 0, sizeof(*meta));
    int rc;
    cJSON *root = parse_root(json, len, "result", err, &rc);
    if (!root)
        return rc;
    rc = 0;
    const char *run = get_str(root, "runId", true, "result", err, &rc);
    const char *jid = rc ? NULL : get_str(root, "jobId", true, "result", err, &rc);
    const char *env = rc ? NULL : get_str(root, "environment", false, "result", err, &rc);
    const char *agent = rc ? NULL : get_str(root, "agentId", false, "result", err, &rc);
    int64_t attempt = 1;
    if (rc == 0 && !get_int(root, "attempt", 1, 1000000, &attempt))
        rc = bad(err, "result", "\"attempt\" must be a whole number from 1");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "test");
    if (rc == 0 && !cJSON_IsObject(t))
        rc = bad(err, "result", "\"test\" must be an object");
    const char *status = NULL;
    if (rc == 0 && (rc = a_str(rr, t, "status", &status, err)) == 0) {
        if (!status)
            rc = bad(err, "result", "\"test.status\" is missing");
        else if (!strcmp(status, "passed"))
            out->status = TBT_TEST_PASSED;
        else if (!strcmp(status, "failed"))
            out->status = TBT_TEST_FAILED;
        else if (!strcmp(status, "error"))
            out->status = TBT_TEST_ERROR;
        else if (!strcmp(status, "skipped"))
            out->status = TBT_TEST_SKIPPED;
        else
            rc = bad(err, "result", "\"test.status\" must be passed, failed, error or skipped");
    }
    if (rc == 0)
        rc = a_str(rr, t, "id", &out->id, err) || a_str(rr, t, "name", &out->name, err) ||
                     a_str(rr, t, "file", &out->file, err) || a_str(rr, t, "suite", &out->suite, err) ||
                     a_str(rr, t, "traceId", &out->trace_id, err) || a_str(rr, t, "error", &out->error, err) ||
                     a_str(rr, t, "completion", &out->completion, err)
                 ? -EINVAL
                 : 0;
    if (rc == 0) {
        out->n_spans = (size_t)a_u64(t, "spans");
        out->n_traces = (size_t)a_u64(t, "traces");
        out->trigger_ns = a_u64(t, "triggerNs");
        out->trace_ns = a_u64(t, "traceNs");
        out->eval_ns = a_u64(t, "evalNs");
        out->span_extent_ns = a_u64(t, "traceDurationNs");
        out->environment = env && *env ? tbt_arena_strdup(rr->arena, env) : NULL;
    }
    size_t n_out = 0, n_specs = 0;
    const cJSON *outs = rc ? NULL : a_array(t, "outputs", 10000, &n_out, &rc, err);
    if (rc == 0 && n_out) {
        out->outputs = tbt_arena_calloc(rr->arena, n_out, sizeof(tbt_output_result));
        size_t i = 0;
        for (const cJSON *o = outs->child; o && rc == 0; o = o->next, i++) {
            if (!cJSON_IsObject(o)) {
                rc = bad(err, "result", "\"outputs\" items must be objects");
                break;
            }
            if (a_str(rr, o, "name", &out->outputs[i].name, err) || a_str(rr, o, "value", &out->outputs[i].value, err) ||
                a_str(rr, o, "warning", &out->outputs[i].warning, err))
                rc = -EINVAL;
        }
        out->n_outputs = n_out;
    }
    const cJSON *specs = rc ? NULL : a_array(t, "specs", 100000, &n_specs, &rc, err);
    if (rc == 0 && n_specs) {
        out->specs = tbt_arena_calloc(rr->arena, n_specs, sizeof(tbt_spec_result));
        size_t i = 0;
        for (const cJSON *so = specs->child; so && rc == 0; so = so->next, i++) {
            tbt_spec_result *s = &out->specs[i];
            if (!cJSON_IsObject(so)) {
                rc = bad(err, "result", "\"specs\" items must be objects");
                break;
            }
            if (a_str(rr, so, "name", &s->name, err) || a_str(rr, so, "selector", &s->selector, err) ||
                a_str(rr, so, "error", &s->error, err)) {
                rc = -EINVAL;
                break;
            }
            s->passed = a_bool(so, "passed");
            s->n_selected = (size_t)a_u64(so, "selectedSpans");
            size_t n_as = 0;
            const cJSON *as = a_array(so, "assertions", 100000, &n_as, &rc, err);
            if (rc || !n_as)
                continue;
            s->asserts = tbt_arena_calloc(rr->arena, n_as, sizeof(tbt_assert_result));
            s->n_asserts = n_as;
            size_t k = 0;
            for (const cJSON *ao = as->child; ao && rc == 0; ao = ao->next, k++) {
                tbt_assert_result *a = &s->asserts[k];
                if (!cJSON_IsObject(ao) || a_str(rr, ao, "assertion", &a->assertion, err) ||
                    a_str(rr, ao, "warning", &a->warning, err)) {
                    rc = rc ? rc : bad(err, "result", "\"assertions\" items must be objects");
                    break;
                }
                a->passed = a_bool(ao, "passed");
                size_t n_sp = 0;
                const cJSON *sp = a_array(ao, "spans", 10000000, &n_sp, &rc, err);
                if (rc || !n_sp)
                    continue;
                a->spans = tbt_arena_calloc(rr->arena, n_sp, sizeof(tbt_span_result));
                a->n_spans = n_sp;
                size_t j = 0;
                for (const cJSON *ro = sp->child; ro && rc == 0; ro = ro->next, j++) {
                    tbt_span_result *r = &a->spans[j];
                    if (!cJSON_IsObject(ro) || a_str(rr, ro, "spanId", &r->span_id, err) ||
                        a_str(rr, ro, "spanName", &r->span_name, err) || a_str(rr, ro, "service", &r->service, err) ||
                        a_str(rr, ro, "traceId", &r->trace_id, err) || a_str(rr, ro, "observed", &r->observed, err) ||
                        a_str(rr, ro, "expected", &r->expected, err) || a_str(rr, ro, "error", &r->error, err)) {
                        rc = rc ? rc : bad(err, "result", "\"spans\" items must be objects");
                        break;
                    }
                    if (!r->span_id)
                        r->span_id = "";
                    if (!r->trace_id)
                        r->trace_id = "";
                    r->passed = a_bool(ro, "passed");
                }
            }
        }
        out->n_specs = n_specs;
    }
    const cJSON *lint = rc ? NULL : cJSON_GetObjectItemCaseSensitive(t, "analyzer");
    if (lint && tbt_lint_result_from_cjson(lint, rr->arena, &out->lint, err) != 0)
        rc = -EINVAL;
    const cJSON *view = rc ? NULL : cJSON_GetObjectItemCaseSensitive(t, "traceView");
    if (view && !cJSON_IsObject(view))
        rc = bad(err, "result", "\"test.traceView\" must be an object");
    else if (view) {
        /* kept as text: the HTML report embeds it as it is */
        char *v = cJSON_PrintUnformatted(view);
        out->trace_view = v ? tbt_arena_strdup(rr->arena, v) : NULL;
        cJSON_free(v);
    }
    if (rc == 0) {
        meta->run_id = tbt_xstrdup(run);
        meta->job_id = tbt_xstrdup(jid);
        meta->environment = tbt_xstrdup(env ? env : "");
        meta->agent_id = tbt_xstrdup(agent ? agent : "");
        meta->attempt = (int)attempt;
    } else if (!err || !err->msg) {
        rc = bad(err, "result", "malformed");
    }
    cJSON_Delete(root);
    if (rc)
        memset(out, 0, sizeof(*out));
    return rc;
}
