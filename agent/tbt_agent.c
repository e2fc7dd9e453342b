/* tbt_agent.c - run one test against a live system: fire, wait for the
 * trace to be complete, evaluate. */
#include "tbt_agent.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "tbt_config.h"
#include "tbt_datastore.h"
#include "tbt_trace_view.h"
#include "tbt_trigger.h"

struct tbt_agent {
    tbt_agent_opts opts;
    tbt_store *store;
    tbt_http_receiver *http;
    tbt_grpc_receiver *grpc;
    char *save_dir;
};

static _Thread_local tbt_agent_timing last_timing;

void tbt_agent_last_timing(tbt_agent_timing *t)
{
    *t = last_timing;
}

tbt_agent_opts tbt_agent_default_opts(void)
{
    tbt_agent_opts o;
    memset(&o, 0, sizeof(o));
    o.http = o.grpc = true;
    o.http_opts.bind_addr = "127.0.0.1";
    o.http_opts.port = 4318;
    o.grpc_opts.bind_addr = "127.0.0.1";
    o.grpc_opts.port = 4317;
    o.store = tbt_store_default_limits();
    o.quiet_ns = TBT_DEFAULT_QUIET_NS;
    o.timeout_ns = TBT_DEFAULT_TIMEOUT_NS;
    o.link_depth = 2;
    return o;
}

int tbt_agent_start(const tbt_agent_opts *o, tbt_agent **out, tbt_error *err)
{
    tbt_agent *a = tbt_xcalloc(1, sizeof(*a));
    a->opts = o ? *o : tbt_agent_default_opts();
    a->store = tbt_store_new(&a->opts.store);
    a->save_dir = a->opts.save_dir ? tbt_xstrdup(a->opts.save_dir) : NULL;
    int rc = 0;
    if (a->opts.http && (rc = tbt_http_receiver_start(a->store, &a->opts.http_opts, &a->http, err)) != 0) {
        tbt_error_prefix(err, "OTLP/HTTP receiver on %s:%u", a->opts.http_opts.bind_addr ? a->opts.http_opts.bind_addr : "127.0.0.1",
                         a->opts.http_opts.port);
        goto fail;
    }
    if (a->opts.grpc && (rc = tbt_grpc_receiver_start(a->store, &a->opts.grpc_opts, &a->grpc, err)) != 0) {
        tbt_error_prefix(err, "OTLP/gRPC receiver on %s:%u", a->opts.grpc_opts.bind_addr ? a->opts.grpc_opts.bind_addr : "127.0.0.1",
                         a->opts.grpc_opts.port);
        goto fail;
    }
    *out = a;
    return 0;
fail:
    tbt_agent_stop(a);
    *out = NULL;
    return rc;
}

uint16_t tbt_agent_http_port(const tbt_agent *a)
{
    return a->http ? tbt_http_receiver_port(a->http) : 0;
}

uint16_t tbt_agent_grpc_port(const tbt_agent *a)
{
    return a->grpc ? tbt_grpc_receiver_port(a->grpc) : 0;
}

tbt_store *tbt_agent_store(tbt_agent *a)
{
    return a->store;
}

void tbt_agent_stop(tbt_agent *a)
{
    if (!a)
        return;
    if (a->http)
        tbt_http_receiver_stop(a->http);
    if (a->grpc)
        tbt_grpc_receiver_stop(a->grpc);
    tbt_store_free(a->store);
    free(a->save_dir);
    free(a);
}

/* ---- completion settings ------------------------------------------------- */
typedef struct completion {
    uint64_t quiet_ns, timeout_ns;
    int match_retries;
    size_t min_spans;
    unsigned link_depth;
    tbt_selector **wait_for; /* extra selectors from completion.waitFor */
    size_t n_wait_for;
    const char *source;      /* where the settings came from, for messages */
} completion;

static int dur_field(const tbt_ynode *map, const char *key, uint64_t *out, tbt_error *err)
{
    const tbt_ynode *n = tbt_ymap_get(map, key);
    if (!n)
        return 0;
    int64_t ns;
    if (n->type != TBT_Y_SCALAR || tbt_parse_duration(n->str, n->len, &ns) != 0 || ns <= 0) {
        tbt_error_set(err, -EINVAL, "completion.%s must be a positive duration such as 500ms or 2s", key);
        tbt_error_at(err, &n->loc, n->type == TBT_Y_SCALAR ? n->str : NULL, 0);
        return -EINVAL;
    }
    *out = (uint64_t)ns;
    return 0;
}

static int int_field(const tbt_ynode *map, const char *key, long max, long *out, tbt_error *err)
{
    const tbt_ynode *n = tbt_ymap_get(map, key);
    if (!n)
        return 0;
    char *end = NULL;
    long v = n->type == TBT_Y_SCALAR ? strtol(n->str, &end, 10) : -1;
    if (n->type != TBT_Y_SCALAR || !end || *end || v < 0 || v > max) {
        tbt_error_set(err, -EINVAL, "completion.%s must be a whole number from 0 to %ld", key, max);
        tbt_error_at(err, &n->loc, n->type == TBT_Y_SCALAR ? n->str : NULL, 0);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static void completion_free(completion *c)
{
    for (size_t i = 0; i < c->n_wait_for; i++)
        tbt_selector_free(c->wait_for[i]);
    free(c->wait_for);
}

static int completion_of(const tbt_agent *a, const tbt_test_def *def, completion *c, tbt_error *err)
{
    memset(c, 0, sizeof(*c));
    c->quiet_ns = a->opts.quiet_ns;
    c->timeout_ns = a->opts.timeout_ns;
    c->match_retries = 3;
    c->link_depth = a->opts.link_depth;
    c->source = "defaults";
    if (def->polling) {
        c->quiet_ns = (uint64_t)def->polling->retry_delay_ns;
        c->timeout_ns = (uint64_t)def->polling->timeout_ns;
        c->match_retries = def->polling->selector_match_retries;
        c->source = "pollingProfile";
    }
    const tbt_ynode *m = def->completion;
    if (!m)
        return 0;
    static const char *const keys[] = {"quietPeriod", "timeout", "selectorMatchRetries", "waitFor", "minSpans",
                                       "linkDepth", NULL};
    int rc;
    if ((rc = tbt_trigger_check_keys(m, keys, "completion", err)) || (rc = dur_field(m, "quietPeriod", &c->quiet_ns, err)) ||
        (rc = dur_field(m, "timeout", &c->timeout_ns, err)))
        return rc;
    long v = c->match_retries;
    if ((rc = int_field(m, "selectorMatchRetries", 1000, &v, err)))
        return rc;
    c->match_retries = (int)v;
    v = 0;
    if ((rc = int_field(m, "minSpans", 10000000, &v, err)))
        return rc;
    c->min_spans = (size_t)v;
    v = c->link_depth;
    if ((rc = int_field(m, "linkDepth", 16, &v, err)))
        return rc;
    c->link_depth = (unsigned)v;
    const tbt_ynode *wf = tbt_ymap_get(m, "waitFor");
    if (wf) {
        if (wf->type == TBT_Y_SCALAR) {
            c->wait_for = tbt_xcalloc(1, sizeof(tbt_selector *));
            if ((rc = tbt_selector_parse(wf->str, &wf->loc, &c->wait_for[0], err)))
                return rc;
            c->n_wait_for = 1;
        } else if (wf->type == TBT_Y_SEQ) {
            c->wait_for = tbt_xcalloc(wf->n ? wf->n : 1, sizeof(tbt_selector *));
            for (size_t i = 0; i < wf->n; i++) {
                const tbt_ynode *s = wf->items[i];
                if (s->type != TBT_Y_SCALAR) {
                    tbt_error_set(err, -EINVAL, "completion.waitFor takes selectors (strings)");
                    tbt_error_at(err, &s->loc, NULL, 0);
                    return -EINVAL;
                }
                if ((rc = tbt_selector_parse(s->str, &s->loc, &c->wait_for[c->n_wait_for], err)))
                    return rc;
                c->n_wait_for++;
            }
        } else {
            tbt_error_set(err, -EINVAL, "completion.waitFor takes a selector or a list of selectors");
            tbt_error_at(err, &wf->loc, NULL, 0);
            return -EINVAL;
        }
    }
    c->source = "completion";
    return 0;
}

/* ---- the trigger span -------------------------------------------------------*/
static void add_trigger_span(tbt_trace *t, const uint8_t trace_id[16], const uint8_t span_id[8],
                             const tbt_trigger_response *r, const char *kind)
{
    tbt_arena *ar = tbt_trace_arena(t);
    tbt_resource *res = tbt_trace_new_resource(t);
    res->n_attrs = 1;
    res->attrs = tbt_arena_calloc(ar, 1, sizeof(tbt_kv));
    res->attrs[0].key = "service.name";
    res->attrs[0].value = tbt_value_str("tracetest");
    tbt_scope *sc = tbt_trace_new_scope(t);
    sc->name = "tbt";
    sc->version = TBT_VERSION;
    tbt_span *s = tbt_trace_add_span(t);
    memcpy(s->trace_id, trace_id, 16);
    memcpy(s->span_id, span_id, 8);
    s->name = "Tracetest trigger";
    s->kind = TBT_KIND_INTERNAL;
    s->start_ns = r->start_unix_ns;
    s->end_ns = r->end_unix_ns;
    s->flags = 1;
    s->resource = res;
    s->scope = sc;
    size_t n = 1 + (r->status ? 1 : 0) + (r->body ? 1 : 0) + (r->headers_json ? 1 : 0) + r->n_extra;
    s->attrs = tbt_arena_calloc(ar, n, sizeof(tbt_kv));
    size_t k = 0;
    s->attrs[k].key = "tracetest.trigger.type";
    s->attrs[k++].value = tbt_value_str(tbt_arena_strdup(ar, kind));
    if (r->status) {
        s->attrs[k].key = "tracetest.response.status";
        s->attrs[k++].value = tbt_value_str(tbt_arena_strdup(ar, r->status));
    }
    if (r->body) {
        s->attrs[k].key = "tracetest.response.body";
        s->attrs[k].value.type = TBT_V_STRING;
        s->attrs[k].value.u.s.ptr = tbt_arena_strndup(ar, r->body, r->body_len);
        s->attrs[k++].value.u.s.len = r->body_len;
    }
    if (r->headers_json) {
        s->attrs[k].key = "tracetest.response.headers";
        s->attrs[k++].value = tbt_value_str(tbt_arena_strdup(ar, r->headers_json));
    }
    for (size_t i = 0; i < r->n_extra; i++) {
        s->attrs[k].key = tbt_arena_sprintf(ar, "tracetest.response.%s", r->extra_keys[i]);
        s->attrs[k++].value = tbt_value_str(tbt_arena_strdup(ar, r->extra_values[i]));
    }
    s->n_attrs = k;
}

/* ---- waiting ------------------------------------------------------------------*/
typedef struct wait_state {
    tbt_trace *trace;       /* latest snapshot, with the trigger span */
    tbt_watch_info info;
    bool *matched;          /* per plan selector, then per waitFor selector */
    size_t n_matched_req, n_req;
} wait_state;

static void check_selectors(const tbt_plan *plan, const completion *c, tbt_trace *t, const tbt_vars *vars,
                            bool *matched, size_t *n_req, size_t *n_ok)
{
    size_t np = tbt_plan_selector_count(plan), n = np + c->n_wait_for;
    const tbt_selector **sels = tbt_xcalloc(n ? n : 1, sizeof(*sels));
    for (size_t i = 0; i < np; i++)
        sels[i] = tbt_plan_selector_at(plan, i);
    for (size_t i = 0; i < c->n_wait_for; i++)
        sels[np + i] = c->wait_for[i];
    tbt_span ***outs = tbt_xcalloc(n ? n : 1, sizeof(*outs));
    size_t *cnt = tbt_xcalloc(n ? n : 1, sizeof(*cnt));
    int *rcs = tbt_xcalloc(n ? n : 1, sizeof(*rcs));
    tbt_error *errs = tbt_xcalloc(n ? n : 1, sizeof(*errs));
    tbt_select_ws *ws = tbt_select_ws_new();
    tbt_selector_select_many(sels, n, t, vars, ws, outs, cnt, rcs, errs);
    tbt_select_ws_free(ws);
    *n_req = *n_ok = 0;
    for (size_t i = 0; i < n; i++) {
        bool req = i >= np || tbt_plan_selector_required(plan, i);
        /* a selector that cannot be evaluated (undefined variable) will not
         * start matching by waiting: do not wait for it */
        matched[i] = cnt[i] > 0 || rcs[i] != 0;
        if (req) {
            (*n_req)++;
            if (matched[i])
                (*n_ok)++;
        }
        free(outs[i]);
        tbt_error_clear(&errs[i]);
    }
    free(sels);
    free(outs);
    free(cnt);
    free(rcs);
    free(errs);
}

static const char *fmt_dur(char *buf, size_t cap, uint64_t ns)
{
    if (ns >= 10000000ull) /* round to ms above 10 ms: this is for people */
        ns = ns / 1000000ull * 1000000ull;
    tbt_format_duration((int64_t)ns, buf, cap);
    return buf;
}

static void services_of(tbt_trace *t, tbt_buf *out)
{
    size_t n = tbt_trace_span_count(t), found = 0;
    const char *seen[32];
    for (size_t i = 0; i < n && found < 32; i++) {
        const char *svc = tbt_trace_span_at(t, i)->service;
        if (!svc || !*svc || strcmp(svc, "tracetest") == 0)
            continue;
        bool dup = false;
        for (size_t k = 0; k < found && !dup; k++)
            dup = strcmp(seen[k], svc) == 0;
        if (!dup)
            seen[found++] = svc;
    }
    for (size_t k = 0; k < found; k++)
        tbt_buf_printf(out, "%s%s", k ? ", " : "", seen[k]);
    if (!found)
        tbt_buf_puts(out, "none");
}

static void hex_id(const uint8_t *p, size_t n, char *out)
{
    tbt_hex_encode(p, n, out);
}

static void random_ids(uint8_t trace_id[16], uint8_t span_id[8])
{
    /* one system call for both ids (campaigns fire thousands a second) */
    uint8_t r[24];
    do {
        if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
            uint64_t x = tbt_now_mono_ns() ^ tbt_now_unix_ns();
            for (size_t i = 0; i < sizeof(r); i += 8) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                memcpy(r + i, &x, 8);
            }
        }
        memcpy(trace_id, r, 16);
        memcpy(span_id, r + 16, 8);
    } while (tbt_is_all_zero(trace_id, 16) || tbt_is_all_zero(span_id, 8));
}

static void save_trace(const tbt_agent *a, tbt_trace *t, const char *trace_hex)
{
    if (!a->save_dir)
        return;
    mkdir(a->save_dir, 0755);
    tbt_buf b = TBT_BUF_INIT;
    tbt_otlp_encode(t, TBT_OTLP_JSON, &b);
    char *path = tbt_xasprintf("%s/%s.otlp.json", a->save_dir, trace_hex);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(b.data ? b.data : "", 1, b.len, f);
        fclose(f);
    }
    free(path);
    tbt_buf_free(&b);
}

/* ---- a trace backend, polled while a run waits (docs/datastores.md) ---------*/
typedef struct ds_poller {
    const tbt_datastore *ds;  /* NULL: none, or one that fetches nothing */
    uint64_t next_ns;         /* next periodic poll (monotonic) */
    uint64_t quiet_end_ns;    /* also poll when the quiet period would end */
    uint64_t last_poll_ns;
    unsigned polls;
    bool last_failed;         /* an error, not "not there yet" */
    char last[384];           /* the last poll's outcome, for the reason */
} ds_poller;

/* Fetch the trace when a poll is due and store what came: the store drops
 * spans it holds already, so only new spans wake the wait and move the
 * quiet period. A failed poll is retried at the next one. */
static void ds_poll(tbt_agent *a, ds_poller *p, const uint8_t trace_id[16], uint64_t deadline)
{
    uint64_t now = tbt_now_mono_ns();
    if (!p->ds || now >= deadline || (now < p->next_ns && now < p->quiet_end_ns))
        return;
    tbt_trace *got = NULL;
    tbt_error e = TBT_ERROR_INIT;
    int rc = tbt_datastore_fetch(p->ds, trace_id, deadline - now, &got, &e);
    tbt_ingest_result ir = {0};
    if (rc == 0 && (rc = tbt_store_ingest_trace(a->store, got, &ir, &e)) == 0)
        snprintf(p->last, sizeof(p->last), "%s: %zu spans, %zu new", tbt_datastore_describe(p->ds),
                 ir.accepted + ir.duplicates, ir.accepted);
    else
        snprintf(p->last, sizeof(p->last), "%s", e.msg ? e.msg : "failed");
    p->last_failed = rc != 0 && rc != -ENOENT;
    tbt_error_clear(&e);
    p->polls++;
    p->last_poll_ns = tbt_now_mono_ns();
    p->next_ns = p->last_poll_ns + tbt_datastore_poll_ns(p->ds);
    p->quiet_end_ns = UINT64_MAX;
}

/* The watched trace's own duration: earliest start to latest end. */
static uint64_t span_extent(const tbt_trace *t, const uint8_t trace_id[16])
{
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; t && i < tbt_trace_span_count(t); i++) {
        const tbt_span *sp = tbt_trace_span_at(t, i);
        if (memcmp(sp->trace_id, trace_id, 16) != 0 || !sp->start_ns)
            continue;
        if (sp->start_ns < lo)
            lo = sp->start_ns;
        if (sp->end_ns > hi)
            hi = sp->end_ns;
    }
    return hi > lo && lo != UINT64_MAX ? hi - lo : 0;
}

void tbt_agent_run(tbt_agent *a, const tbt_plan *plan, tbt_vars *vars, tbt_run_result *rr, tbt_test_result *res)
{
    tbt_agent_run_with(a, plan, vars, NULL, rr, res);
}

void tbt_agent_run_with(tbt_agent *a, const tbt_plan *plan, tbt_vars *vars, const tbt_agent_run_opts *ro,
                        tbt_run_result *rr, tbt_test_result *res)
{
    const tbt_test_def *def = tbt_plan_def(plan);
    tbt_error err = TBT_ERROR_INIT;
    tbt_trigger trig = {0};
    completion comp;
    tbt_trigger_response resp;
    memset(&resp, 0, sizeof(resp));
    memset(&last_timing, 0, sizeof(last_timing));
    tbt_watch *w = NULL;
    tbt_trace *t = NULL;
    bool *matched = NULL;
    char *base_dir = NULL;
    res->id = def->id.s ? tbt_arena_strdup(rr->arena, def->id.s) : NULL;
    res->name = tbt_arena_strdup(rr->arena, def->name.s ? def->name.s : def->id.s ? def->id.s : "(unnamed test)");
    res->file = def->file ? tbt_arena_strdup(rr->arena, def->file) : NULL;
    if (completion_of(a, def, &comp, &err) != 0 || tbt_trigger_parse(&def->trigger, &trig, &err) != 0)
        goto error;
    if (def->file) {
        char *f = tbt_xstrdup(def->file);
        base_dir = tbt_xstrdup(dirname(f));
        free(f);
    }
    uint8_t trace_id[16], span_id[8];
    random_ids(trace_id, span_id);
    char trace_hex[33], span_hex[17];
    hex_id(trace_id, 16, trace_hex);
    hex_id(span_id, 8, span_hex);
    char traceparent[64];
    snprintf(traceparent, sizeof(traceparent), "00-%s-%s-01", trace_hex, span_hex);
    w = tbt_store_watch(a->store, trace_id);
    tbt_trigger_ctx tctx = {vars, traceparent, "tracetest=true", base_dir, 0};
    last_timing.trigger_start_ns = tbt_now_mono_ns();
    int frc = trig.kind->fire(trig.cfg, &tctx, &resp, &err);
    last_timing.trigger_end_ns = tbt_now_mono_ns();
    res->trigger_ns = last_timing.trigger_end_ns - last_timing.trigger_start_ns;
    if (frc != 0)
        goto error;
    if (resp.has_trace_id) {
        /* traceid trigger: evaluate that trace instead of ours */
        tbt_store_unwatch(a->store, w);
        memcpy(trace_id, resp.trace_id, 16);
        hex_id(trace_id, 16, trace_hex);
        w = tbt_store_watch(a->store, trace_id);
    }
    res->trace_id = tbt_arena_strdup(rr->arena, trace_hex);

    size_t np = tbt_plan_selector_count(plan), nsel = np + comp.n_wait_for;
    matched = tbt_xcalloc(nsel ? nsel : 1, sizeof(bool));
    uint64_t start = last_timing.trigger_start_ns, deadline = start + comp.timeout_ns, version = 0;
    int quiet_rounds = 0;
    size_t n_req = 0, n_ok = 0;
    tbt_watch_info info;
    const char *why = NULL;
    char d1[48], d2[48], d3[48];
    tbt_buf reason = TBT_BUF_INIT;
    ds_poller dsp = {.ds = tbt_datastore_fetches(a->opts.datastore) ? a->opts.datastore : NULL,
                     .quiet_end_ns = UINT64_MAX};
    for (;;) {
        ds_poll(a, &dsp, trace_id, deadline);
        tbt_trace_free(t);
        t = tbt_store_snapshot(a->store, w, comp.link_depth, &info);
        if (!resp.has_trace_id)
            add_trigger_span(t, trace_id, span_id, &resp, trig.kind->name);
        tbt_trace_finalize(t, NULL);
        uint64_t now = tbt_now_mono_ns();
        check_selectors(plan, &comp, t, vars, matched, &n_req, &n_ok);
        size_t spans = info.spans + info.linked_spans;
        uint64_t last = info.last_span_mono_ns ? info.last_span_mono_ns : last_timing.trigger_end_ns;
        if (last < last_timing.trigger_end_ns)
            last = last_timing.trigger_end_ns;
        bool quiet = now >= last + comp.quiet_ns;
        bool enough = spans >= comp.min_spans && (spans > 0 || def->skip_trace_collection);
        if (def->skip_trace_collection) {
            why = "skipTraceCollection: evaluated the trigger span only";
            tbt_buf_puts(&reason, why);
            break;
        }
        if (quiet && enough && n_ok == n_req) {
            last_timing.condition_met_ns = last + comp.quiet_ns;
            tbt_buf_printf(&reason, "complete: %zu/%zu selectors matched, %zu spans, no new span for %s after the last "
                                    "one (quiet period from %s)",
                           n_ok, n_req, spans, fmt_dur(d1, sizeof(d1), comp.quiet_ns), comp.source);
            if (info.linked_traces)
                tbt_buf_printf(&reason, "; %zu linked trace%s (%zu spans)", info.linked_traces,
                               info.linked_traces == 1 ? "" : "s", info.linked_spans);
            break;
        }
        if (quiet && spans > 0 && n_ok < n_req && quiet_rounds >= comp.match_retries) {
            last_timing.condition_met_ns = now;
            tbt_buf_printf(&reason, "stopped waiting: %zu of %zu selectors still unmatched after %d quiet period%s of "
                                    "%s (%zu spans received)",
                           n_req - n_ok, n_req, quiet_rounds + 1, quiet_rounds ? "s" : "",
                           fmt_dur(d1, sizeof(d1), comp.quiet_ns), spans);
            break;
        }
        if (now >= deadline) {
            last_timing.condition_met_ns = now;
            tbt_buf_printf(&reason, "timed out after %s waiting for trace %s: ", fmt_dur(d1, sizeof(d1), comp.timeout_ns),
                           trace_hex);
            if (spans == 0 && dsp.ds) {
                tbt_buf_printf(&reason, "no span of it arrived: %u poll%s of the trace backend, the last: %s", dsp.polls,
                               dsp.polls == 1 ? "" : "s", dsp.polls ? dsp.last : "none");
                if (a->http || a->grpc)
                    tbt_buf_printf(&reason, "; nor on this agent's receivers (OTLP/HTTP port %u, OTLP/gRPC port %u)",
                                   tbt_agent_http_port(a), tbt_agent_grpc_port(a));
            } else if (spans == 0) {
                tbt_buf_printf(&reason,
                               "no span of it arrived. Is the system instrumented, does it propagate the W3C "
                               "traceparent it received, and does it export to this agent (OTLP/HTTP port %u, "
                               "OTLP/gRPC port %u)?",
                               tbt_agent_http_port(a), tbt_agent_grpc_port(a));
            } else {
                tbt_buf_printf(&reason, "%zu spans received from ", spans);
                services_of(t, &reason);
                tbt_buf_printf(&reason, "; the last arrived %s after the trigger, %s ago",
                               fmt_dur(d2, sizeof(d2), last - last_timing.trigger_end_ns),
                               fmt_dur(d3, sizeof(d3), now - last));
                if (dsp.last_failed)
                    tbt_buf_printf(&reason, "; the trace backend's last answer: %s", dsp.last);
            }
            break;
        }
        if (quiet && enough && n_ok < n_req)
            quiet_rounds++; /* a quiet period passed with selectors unmatched */
        /* sleep until the quiet period ends, a span arrives, or the deadline */
        uint64_t until = quiet ? now + comp.quiet_ns : last + comp.quiet_ns;
        if (dsp.ds) {
            /* poll when the quiet period ends (unless a poll came after its
             * start): spans the backend got meanwhile must count */
            dsp.quiet_end_ns = last + comp.quiet_ns > dsp.last_poll_ns ? last + comp.quiet_ns : UINT64_MAX;
            if (dsp.next_ns < until)
                until = dsp.next_ns;
        }
        if (until > deadline)
            until = deadline;
        tbt_store_wait(a->store, w, &version, until);
    }
    /* name the selectors that never matched */
    if (n_ok < n_req) {
        tbt_buf_puts(&reason, "; never matched: ");
        bool first = true;
        for (size_t i = 0; i < nsel; i++) {
            bool req = i >= np || tbt_plan_selector_required(plan, i);
            if (!req || matched[i])
                continue;
            const char *src = i < np ? tbt_selector_source(tbt_plan_selector_at(plan, i))
                                     : tbt_selector_source(comp.wait_for[i - np]);
            tbt_buf_printf(&reason, "%s%s (%s)", first ? "" : ", ", src,
                           i < np ? tbt_plan_selector_label(plan, i) : "completion.waitFor");
            first = false;
        }
    }
    if (info.overflow)
        tbt_buf_printf(&reason, "; the trace exceeded the store's %zu spans per trace: spans were refused",
                       a->opts.store.max_spans_per_trace);
    res->completion = tbt_arena_strdup(rr->arena, tbt_buf_cstr(&reason));
    bool no_spans = info.spans + info.linked_spans == 0 && !def->skip_trace_collection;
    tbt_buf_free(&reason);
    res->trace_ns = tbt_now_mono_ns() - start;
    save_trace(a, t, trace_hex);
    if (no_spans) {
        res->status = TBT_TEST_ERROR;
        res->error = res->completion;
    } else {
        const char *completion_text = res->completion;
        uint64_t trig_ns = res->trigger_ns, trace_ns = res->trace_ns;
        tbt_plan_evaluate(plan, t, vars, rr, res);
        res->completion = completion_text;
        res->trigger_ns = trig_ns;
        res->trace_ns = trace_ns;
        res->trace_id = tbt_arena_strdup(rr->arena, trace_hex);
        res->span_extent_ns = span_extent(t, trace_id);
        if (ro) {
            tbt_trace_view_limits lim = {.max_bytes = ro->view_max_bytes};
            bool view = ro->trace_view && !(ro->view_on_failure && res->status == TBT_TEST_PASSED);
            tbt_result_keep_trace(t, ro->analyzer, view ? &lim : NULL, rr, res);
        }
    }
    last_timing.verdict_ns = tbt_now_mono_ns();
    goto out;
error:
    res->status = TBT_TEST_ERROR;
    {
        res->error = tbt_error_text(&err, rr->arena);
    }
out:
    if (w)
        tbt_store_unwatch(a->store, w);
    tbt_trace_free(t);
    free(matched);
    free(base_dir);
    tbt_trigger_response_clear(&resp);
    tbt_trigger_destroy(&trig);
    completion_free(&comp);
    tbt_error_clear(&err);
}
