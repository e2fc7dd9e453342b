/* tbt_datastore_jaeger.c - Jaeger's HTTP query API as a trace source:
 * GET {endpoint}/api/traces/{id}, the JSON the Jaeger UI reads, mapped onto
 * tbt's trace model the way the OpenTelemetry Collector's Jaeger translator
 * does (docs/datastores.md lists the rules).
 *
 *   {"data": [{"traceID", "spans": [{traceID, spanID, operationName,
 *     references: [{refType, traceID, spanID}], flags, startTime (µs),
 *     duration (µs), tags: [{key, type, value}], logs: [{timestamp,
 *     fields}], processID, warnings}], "processes": {"p1": {serviceName,
 *     tags}}}], "errors": [{code, msg}]}
 *
 * Tracetest's Jaeger DataStore talks gRPC to the query service (16685);
 * tbt talks to its HTTP API (16686, the UI's port). */
#include "tbt_datastore_private.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_otlp.h"

typedef struct jaeger_cfg {
    tbt_ds_http http;
    bool grpc_port; /* endpoint ends in :16685: hint at the HTTP port */
} jaeger_cfg;

static void jaeger_destroy(void *p)
{
    jaeger_cfg *c = p;
    if (!c)
        return;
    tbt_ds_http_clear(&c->http);
    free(c);
}

static int jaeger_parse(const tbt_ynode *block, const tbt_ynode *spec, const tbt_defs *defs, void **out,
                        char **describe, tbt_error *err)
{
    TBT_UNUSED(spec);
    static const char *const keys[] = {"endpoint", "tls", "headers", NULL};
    jaeger_cfg *c = tbt_xcalloc(1, sizeof(*c));
    const char *ep = NULL;
    int rc;
    if ((rc = tbt_ds_check_keys(block, keys, "jaeger", defs, err)) ||
        (rc = tbt_ds_string(block, "endpoint", "jaeger", true, defs, &ep, err)) ||
        (rc = tbt_ds_tls_parse(tbt_ymap_get(block, "tls"), "jaeger", defs, &c->http.tls, err)) ||
        (rc = tbt_ds_headers_parse(tbt_ymap_get(block, "headers"), "jaeger", defs, &c->http, err)))
        goto fail;
    /* a bare host:port is plain HTTP unless tls says insecure: false */
    if ((rc = tbt_ds_url_parse(tbt_ymap_get(block, "endpoint"), "jaeger.endpoint", true,
                               c->http.tls.present && !c->http.tls.insecure, defs, &c->http.base_url, err)))
        goto fail;
    size_t n = strlen(c->http.base_url);
    c->grpc_port = n >= 6 && strcmp(c->http.base_url + n - 6, ":16685") == 0;
    *describe = tbt_xasprintf("jaeger %s", c->http.base_url);
    *out = c;
    return 0;
fail:
    jaeger_destroy(c);
    *out = NULL;
    return rc;
}

/* ---- decoding ----------------------------------------------------------------*/

/* Where in the answer: "data[0].spans[3].tags[1].value" (tbt_common.h). */
typedef tbt_jpath jp;
#define JP_KEY TBT_JPATH_KEY
#define JP_IDX TBT_JPATH_IDX

typedef struct jdec {
    tbt_trace *t;
    tbt_arena *a;
    const tbt_datastore_limits *lim;
    tbt_error *err;
    size_t spans;
    tbt_otlp_limits ol; /* per-list and per-value bounds, as for OTLP input */
} jdec;

static int bad(jdec *d, const jp *where, const char *fmt, ...) TBT_PRINTF(3, 4);
static int bad(jdec *d, const jp *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    tbt_buf b = TBT_BUF_INIT;
    tbt_jpath_render(where, &b);
    tbt_error_set(d->err, -EINVAL, "invalid Jaeger answer: %s: %s", b.len ? tbt_buf_cstr(&b) : "the answer", m);
    tbt_buf_free(&b);
    free(m);
    return -EINVAL;
}

static const char *jtype(const cJSON *v)
{
    if (!v)
        return "nothing";
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsArray(v))
        return "an array";
    return "an object";
}

static const cJSON *field(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* Jaeger ids are hex, without leading zero padding for 64-bit trace ids
 * ("%016x" of the low half when the high half is zero): right-align. */
static int hex_id(jdec *d, const cJSON *v, const jp *where, uint8_t *out, size_t n)
{
    memset(out, 0, n);
    if (!cJSON_IsString(v))
        return bad(d, where, "expected up to %zu hex digits, found %s", 2 * n, jtype(v));
    const char *s = v->valuestring;
    size_t len = strlen(s);
    char buf[33];
    if (len == 0 || len > 2 * n)
        return bad(d, where, "expected up to %zu hex digits, got \"%.40s\"", 2 * n, s);
    memset(buf, '0', 2 * n - len);
    memcpy(buf + 2 * n - len, s, len);
    if (tbt_hex_decode(buf, 2 * n, out, n) != 0)
        return bad(d, where, "expected up to %zu hex digits, got \"%.40s\"", 2 * n, s);
    if (tbt_is_all_zero(out, n))
        return bad(d, where, "the id is all zeroes");
    return 0;
}

/* A non-negative integer: a JSON number, or (over 15 digits) the string
 * the big-integer pass made of it. */
static int u64_of(jdec *d, const cJSON *v, const jp *where, uint64_t *out)
{
    if (cJSON_IsNumber(v)) {
        double x = v->valuedouble;
        if (!(x >= 0) || x >= 9223372036854775807.0 || x != (double)(uint64_t)x)
            return bad(d, where, "expected a whole number from 0, got %g", x);
        *out = (uint64_t)x;
        return 0;
    }
    if (cJSON_IsString(v) && v->valuestring[0] >= '0' && v->valuestring[0] <= '9') {
        char *end = NULL;
        errno = 0;
        unsigned long long x = strtoull(v->valuestring, &end, 10);
        if (!*end && errno == 0 && x <= 9223372036854775807ull) {
            *out = x;
            return 0;
        }
    }
    return bad(d, where, "expected a whole number from 0, found %s", jtype(v));
}

static int too_long(jdec *d, const jp *where, size_t n)
{
    tbt_buf b = TBT_BUF_INIT;
    tbt_jpath_render(where, &b);
    tbt_error_set(d->err, -E2BIG, "the Jaeger answer's %s holds %zu bytes, over the %zu-byte limit",
                  tbt_buf_cstr(&b), n, d->ol.max_value_len);
    tbt_buf_free(&b);
    return -E2BIG;
}

static int str_of(jdec *d, const cJSON *v, const jp *where, const char **out)
{
    if (!cJSON_IsString(v))
        return bad(d, where, "expected a string, found %s", jtype(v));
    size_t n = strlen(v->valuestring);
    if (n > d->ol.max_value_len)
        return too_long(d, where, n);
    *out = tbt_arena_strndup(d->a, v->valuestring, n);
    return 0;
}

/* {key, type, value} -> a typed attribute. */
static int tag_of(jdec *d, const cJSON *tag, const jp *where, tbt_kv *kv)
{
    if (!cJSON_IsObject(tag))
        return bad(d, where, "expected an object {key, type, value}, found %s", jtype(tag));
    const cJSON *k = field(tag, "key"), *ty = field(tag, "type"), *v = field(tag, "value");
    jp wk = JP_KEY(where, "key"), wt = JP_KEY(where, "type"), w = JP_KEY(where, "value");
    int rc = str_of(d, k, &wk, &kv->key);
    if (rc)
        return rc;
    const char *type = cJSON_IsString(ty) ? ty->valuestring : NULL;
    if (ty && !type)
        return bad(d, &wt, "expected a string, found %s", jtype(ty));
    if (!type) /* not written: as the JSON value says */
        type = cJSON_IsBool(v) ? "bool" : cJSON_IsNumber(v) ? "float64" : "string";
    if (strcmp(type, "string") == 0) {
        if (!cJSON_IsString(v))
            return bad(d, &w, "a string tag needs a string, found %s", jtype(v));
        kv->value.type = TBT_V_STRING;
        kv->value.u.s.len = strlen(v->valuestring);
        if (kv->value.u.s.len > d->ol.max_value_len)
            return too_long(d, &w, kv->value.u.s.len);
        kv->value.u.s.ptr = tbt_arena_strndup(d->a, v->valuestring, kv->value.u.s.len);
    } else if (strcmp(type, "bool") == 0) {
        if (cJSON_IsBool(v))
            kv->value = tbt_value_bool(cJSON_IsTrue(v));
        else if (cJSON_IsString(v) && (!strcmp(v->valuestring, "true") || !strcmp(v->valuestring, "false")))
            kv->value = tbt_value_bool(v->valuestring[0] == 't');
        else
            return bad(d, &w, "a bool tag needs true or false, found %s", jtype(v));
    } else if (strcmp(type, "int64") == 0) {
        int64_t i;
        if (cJSON_IsNumber(v) && v->valuedouble < 9.2e18 && v->valuedouble > -9.2e18 &&
            v->valuedouble == (double)(int64_t)v->valuedouble) {
            i = (int64_t)v->valuedouble;
        } else if (cJSON_IsString(v)) {
            char *end = NULL;
            errno = 0;
            long long x = strtoll(v->valuestring, &end, 10);
            if (end == v->valuestring || *end || errno)
                return bad(d, &w, "an int64 tag needs a whole number, got \"%.40s\"", v->valuestring);
            i = x;
        } else {
            return bad(d, &w, "an int64 tag needs a whole number, found %s", jtype(v));
        }
        kv->value = tbt_value_int(i);
    } else if (strcmp(type, "float64") == 0) {
        if (!cJSON_IsNumber(v))
            return bad(d, &w, "a float64 tag needs a number, found %s", jtype(v));
        kv->value = tbt_value_double(v->valuedouble);
    } else if (strcmp(type, "binary") == 0) {
        uint8_t *raw = NULL;
        size_t n = 0;
        if (!cJSON_IsString(v) || tbt_base64_decode(v->valuestring, strlen(v->valuestring), &raw, &n) != 0)
            return bad(d, &w, "a binary tag needs base64 text");
        if (n > d->ol.max_value_len) {
            free(raw);
            return too_long(d, &w, n);
        }
        kv->value.type = TBT_V_BYTES;
        char *p = tbt_arena_alloc(d->a, n + 1);
        if (n)
            memcpy(p, raw, n);
        kv->value.u.s.ptr = p;
        kv->value.u.s.len = n;
        free(raw);
    } else {
        return bad(d, &wt, "unknown tag type \"%.40s\" (string, bool, int64, float64, binary)", type);
    }
    return 0;
}

static int tags_of(jdec *d, const cJSON *arr, const jp *where, tbt_kv **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!arr || cJSON_IsNull(arr))
        return 0;
    if (!cJSON_IsArray(arr))
        return bad(d, where, "expected an array, found %s", jtype(arr));
    size_t cnt = (size_t)cJSON_GetArraySize(arr), i = 0;
    if (!cnt)
        return 0;
    if (cnt > d->ol.max_attrs_per_span) {
        tbt_buf b = TBT_BUF_INIT;
        tbt_jpath_render(where, &b);
        tbt_error_set(d->err, -E2BIG, "the Jaeger answer's %s holds %zu entries, over the limit of %zu",
                      tbt_buf_cstr(&b), cnt, d->ol.max_attrs_per_span);
        tbt_buf_free(&b);
        return -E2BIG;
    }
    *out = tbt_arena_calloc(d->a, cnt, sizeof(tbt_kv));
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        jp w = JP_IDX(where, NULL, i);
        int rc = tag_of(d, e, &w, &(*out)[i]);
        if (rc)
            return rc;
    }
    *n = cnt;
    return 0;
}

/* processes: {"p1": {serviceName, tags}} -> one resource each. */
typedef struct proc {
    const char *id;
    tbt_resource *res;
} proc;

static int resource_of(jdec *d, const cJSON *p, const jp *where, tbt_resource **out)
{
    if (!cJSON_IsObject(p))
        return bad(d, where, "expected an object {serviceName, tags}, found %s", jtype(p));
    tbt_resource *r = tbt_trace_new_resource(d->t);
    tbt_kv *tags;
    size_t n;
    jp wt = JP_KEY(where, "tags"), ws = JP_KEY(where, "serviceName");
    int rc = tags_of(d, field(p, "tags"), &wt, &tags, &n);
    if (rc)
        return rc;
    const cJSON *sn = field(p, "serviceName");
    const char *svc = NULL;
    if (sn && (rc = str_of(d, sn, &ws, &svc)))
        return rc;
    r->attrs = tbt_arena_calloc(d->a, n + 1, sizeof(tbt_kv));
    if (svc) {
        r->attrs[r->n_attrs].key = "service.name";
        r->attrs[r->n_attrs++].value = tbt_value_str(svc);
    }
    for (size_t i = 0; i < n; i++)
        if (!svc || strcmp(tags[i].key, "service.name") != 0)
            r->attrs[r->n_attrs++] = tags[i];
    *out = r;
    return 0;
}

static bool tag_is(const tbt_kv *kv, const char *key)
{
    return strcmp(kv->key, key) == 0;
}

static const char *tag_text(const tbt_kv *kv)
{
    return kv->value.type == TBT_V_STRING ? kv->value.u.s.ptr : NULL;
}

/* span.kind, otel.status_code / error, otel.status_description,
 * otel.scope.* / otel.library.*, w3c.tracestate become the span's own
 * fields (and leave the attributes), as the Collector's translator does. */
static void special_tags(jdec *d, tbt_span *s, tbt_kv *tags, size_t *n)
{
    static const char *const kinds[] = {"", "internal", "server", "client", "producer", "consumer"};
    const char *scope_name = NULL, *scope_version = NULL;
    bool error_tag = false, status_set = false;
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        const tbt_kv *kv = &tags[i];
        const char *txt = tag_text(kv);
        bool drop = true;
        if (tag_is(kv, "span.kind") && txt) {
            drop = false;
            for (size_t j = 1; j < TBT_ARRAY_LEN(kinds); j++)
                if (strcmp(txt, kinds[j]) == 0) {
                    s->kind = (tbt_span_kind)j;
                    drop = true;
                }
        } else if (tag_is(kv, "otel.status_code") && txt) {
            status_set = true;
            s->status_code = strcmp(txt, "ERROR") == 0 ? TBT_STATUS_ERROR
                             : strcmp(txt, "OK") == 0  ? TBT_STATUS_OK
                                                       : TBT_STATUS_UNSET;
        } else if (tag_is(kv, "otel.status_description") && txt) {
            s->status_message = txt;
        } else if (tag_is(kv, "error") && (kv->value.type == TBT_V_BOOL || txt)) {
            error_tag = kv->value.type == TBT_V_BOOL ? kv->value.u.b : strcmp(txt, "true") == 0;
        } else if ((tag_is(kv, "otel.scope.name") || tag_is(kv, "otel.library.name")) && txt) {
            scope_name = txt;
        } else if ((tag_is(kv, "otel.scope.version") || tag_is(kv, "otel.library.version")) && txt) {
            scope_version = txt;
        } else if (tag_is(kv, "w3c.tracestate") && txt) {
            s->trace_state = txt;
        } else {
            drop = false;
        }
        if (!drop)
            tags[k++] = *kv;
    }
    *n = k;
    if (!status_set && error_tag)
        s->status_code = TBT_STATUS_ERROR;
    if (scope_name || scope_version) {
        tbt_scope *sc = tbt_trace_new_scope(d->t);
        sc->name = scope_name;
        sc->version = scope_version;
        s->scope = sc;
    }
}

static int logs_of(jdec *d, const cJSON *arr, const jp *where, tbt_span *s)
{
    if (!arr || cJSON_IsNull(arr))
        return 0;
    if (!cJSON_IsArray(arr))
        return bad(d, where, "expected an array, found %s", jtype(arr));
    size_t cnt = (size_t)cJSON_GetArraySize(arr), i = 0;
    if (!cnt)
        return 0;
    s->events = tbt_arena_calloc(d->a, cnt, sizeof(tbt_event));
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        tbt_event *ev = &s->events[i];
        jp w = JP_IDX(where, NULL, i);
        if (!cJSON_IsObject(e))
            return bad(d, &w, "expected an object {timestamp, fields}, found %s", jtype(e));
        uint64_t us = 0;
        jp wts = JP_KEY(&w, "timestamp"), wf = JP_KEY(&w, "fields");
        int rc = u64_of(d, field(e, "timestamp"), &wts, &us);
        if (rc)
            return rc;
        if (us > UINT64_MAX / 1000)
            return bad(d, &wts, "out of range");
        ev->time_ns = us * 1000;
        if ((rc = tags_of(d, field(e, "fields"), &wf, &ev->attrs, &ev->n_attrs)))
            return rc;
        /* the OpenTelemetry → Jaeger exporters put the event's name in an
         * "event" field */
        ev->name = "";
        size_t k = 0;
        for (size_t j = 0; j < ev->n_attrs; j++) {
            if (!ev->name[0] && strcmp(ev->attrs[j].key, "event") == 0 && tag_text(&ev->attrs[j]))
                ev->name = tag_text(&ev->attrs[j]);
            else
                ev->attrs[k++] = ev->attrs[j];
        }
        ev->n_attrs = k;
    }
    s->n_events = cnt;
    return 0;
}

/* CHILD_OF in the same trace: the parent (the first one); FOLLOWS_FROM and
 * references into other traces: links, tagged opentracing.ref_type. */
static int refs_of(jdec *d, const cJSON *arr, const jp *where, tbt_span *s)
{
    if (!arr || cJSON_IsNull(arr))
        return 0;
    if (!cJSON_IsArray(arr))
        return bad(d, where, "expected an array, found %s", jtype(arr));
    size_t cnt = (size_t)cJSON_GetArraySize(arr), i = 0;
    if (!cnt)
        return 0;
    s->links = tbt_arena_calloc(d->a, cnt, sizeof(tbt_link));
    bool have_parent = false;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        jp w = JP_IDX(where, NULL, i);
        if (!cJSON_IsObject(e))
            return bad(d, &w, "expected an object {refType, traceID, spanID}, found %s", jtype(e));
        const cJSON *rt = field(e, "refType");
        uint8_t tid[16], sid[8];
        jp wt = JP_KEY(&w, "traceID"), ws = JP_KEY(&w, "spanID"), wr = JP_KEY(&w, "refType");
        int rc;
        if ((rc = hex_id(d, field(e, "traceID"), &wt, tid, 16)) || (rc = hex_id(d, field(e, "spanID"), &ws, sid, 8)))
            return rc;
        if (rt && !cJSON_IsString(rt))
            return bad(d, &wr, "expected CHILD_OF or FOLLOWS_FROM, found %s", jtype(rt));
        bool child_of = !rt || strcmp(rt->valuestring, "CHILD_OF") == 0;
        if (rt && !child_of && strcmp(rt->valuestring, "FOLLOWS_FROM") != 0)
            return bad(d, &wr, "expected CHILD_OF or FOLLOWS_FROM, got \"%.40s\"", rt->valuestring);
        if (child_of && !have_parent && memcmp(tid, s->trace_id, 16) == 0) {
            memcpy(s->parent_id, sid, 8);
            have_parent = true;
            continue;
        }
        tbt_link *l = &s->links[s->n_links++];
        memcpy(l->trace_id, tid, 16);
        memcpy(l->span_id, sid, 8);
        l->attrs = tbt_arena_calloc(d->a, 1, sizeof(tbt_kv));
        l->attrs[0].key = "opentracing.ref_type";
        l->attrs[0].value = tbt_value_str(child_of ? "child_of" : "follows_from");
        l->n_attrs = 1;
    }
    return 0;
}

static int span_of(jdec *d, const cJSON *js, const jp *where, proc *procs, size_t n_procs)
{
    if (!cJSON_IsObject(js))
        return bad(d, where, "expected a span object, found %s", jtype(js));
    if (d->spans >= d->lim->max_spans)
        return tbt_error_set(d->err, -E2BIG, "the Jaeger answer holds more than %zu spans", d->lim->max_spans);
    tbt_span s;
    memset(&s, 0, sizeof(s));
    jp wt = JP_KEY(where, "traceID"), ws = JP_KEY(where, "spanID"), wo = JP_KEY(where, "operationName"),
       wst = JP_KEY(where, "startTime"), wd = JP_KEY(where, "duration"), wf = JP_KEY(where, "flags"),
       wr = JP_KEY(where, "references"), wps = JP_KEY(where, "parentSpanID"), wtg = JP_KEY(where, "tags"),
       wl = JP_KEY(where, "logs"), wp = JP_KEY(where, "process"), wpi = JP_KEY(where, "processID");
    int rc;
    if ((rc = hex_id(d, field(js, "traceID"), &wt, s.trace_id, 16)) ||
        (rc = hex_id(d, field(js, "spanID"), &ws, s.span_id, 8)))
        return rc;
    const cJSON *on = field(js, "operationName");
    s.name = "";
    if (on && (rc = str_of(d, on, &wo, &s.name)))
        return rc;
    uint64_t start = 0, dur = 0;
    if ((rc = u64_of(d, field(js, "startTime"), &wst, &start)))
        return rc;
    const cJSON *dj = field(js, "duration");
    if (dj && (rc = u64_of(d, dj, &wd, &dur)))
        return rc;
    if (start > UINT64_MAX / 1000 || dur > UINT64_MAX / 1000 || start * 1000 > UINT64_MAX - dur * 1000)
        return bad(d, &wd, "startTime + duration is out of range");
    s.start_ns = start * 1000;
    s.end_ns = s.start_ns + dur * 1000;
    const cJSON *fl = field(js, "flags");
    if (fl) {
        uint64_t f;
        if ((rc = u64_of(d, fl, &wf, &f)))
            return rc;
        s.flags = (uint32_t)f;
    }
    if ((rc = refs_of(d, field(js, "references"), &wr, &s)))
        return rc;
    const cJSON *psid = field(js, "parentSpanID"); /* deprecated, still written by some */
    if (psid && tbt_is_all_zero(s.parent_id, 8) && cJSON_IsString(psid) &&
        strspn(psid->valuestring, "0") != strlen(psid->valuestring) && (rc = hex_id(d, psid, &wps, s.parent_id, 8)))
        return rc;
    if ((rc = tags_of(d, field(js, "tags"), &wtg, &s.attrs, &s.n_attrs)))
        return rc;
    special_tags(d, &s, s.attrs, &s.n_attrs);
    if ((rc = logs_of(d, field(js, "logs"), &wl, &s)))
        return rc;
    /* the process: by id from the trace's processes, or inline */
    const cJSON *pid = field(js, "processID"), *inl = field(js, "process");
    if (inl && !cJSON_IsNull(inl)) {
        tbt_resource *r;
        if ((rc = resource_of(d, inl, &wp, &r)))
            return rc;
        s.resource = r;
    } else if (pid) {
        if (!cJSON_IsString(pid))
            return bad(d, &wpi, "expected a string, found %s", jtype(pid));
        for (size_t i = 0; i < n_procs && !s.resource; i++)
            if (strcmp(procs[i].id, pid->valuestring) == 0)
                s.resource = procs[i].res;
        if (!s.resource)
            return bad(d, &wpi, "\"%.40s\" is not among the trace's processes", pid->valuestring);
    }
    tbt_trace_add_span_copy(d->t, &s);
    d->spans++;
    return 0;
}

static int trace_of(jdec *d, const cJSON *tr, const jp *where)
{
    if (!cJSON_IsObject(tr))
        return bad(d, where, "expected a trace object {traceID, spans, processes}, found %s", jtype(tr));
    const cJSON *ps = field(tr, "processes");
    jp wps = JP_KEY(where, "processes"), wsp = JP_KEY(where, "spans");
    proc *procs = NULL;
    size_t n_procs = 0;
    int rc = 0;
    if (ps && !cJSON_IsNull(ps)) {
        if (!cJSON_IsObject(ps))
            return bad(d, &wps, "expected an object, found %s", jtype(ps));
        procs = tbt_xcalloc((size_t)cJSON_GetArraySize(ps) + 1, sizeof(*procs));
        for (const cJSON *p = ps->child; p; p = p->next) {
            jp w = JP_KEY(&wps, p->string);
            procs[n_procs].id = p->string;
            if ((rc = resource_of(d, p, &w, &procs[n_procs].res)))
                goto out;
            n_procs++;
        }
    }
    const cJSON *spans = field(tr, "spans");
    if (spans && !cJSON_IsNull(spans) && !cJSON_IsArray(spans)) {
        rc = bad(d, &wsp, "expected an array, found %s", jtype(spans));
        goto out;
    }
    size_t i = 0;
    for (const cJSON *s = spans && cJSON_IsArray(spans) ? spans->child : NULL; s; s = s->next, i++) {
        jp w = JP_IDX(where, "spans", i);
        if ((rc = span_of(d, s, &w, procs, n_procs)))
            goto out;
    }
out:
    free(procs);
    return rc;
}

/* Quote integer literals of 16+ digits so that cJSON keeps them exact
 * (int64 tags, µs timestamps past 2^53 are rare but legal). Outside
 * strings every number is a value. NULL when nothing needed quoting. */
static char *quote_big_ints(const uint8_t *s, size_t len, size_t *outlen)
{
    tbt_buf b = TBT_BUF_INIT;
    size_t copied = 0;
    bool any = false;
    for (size_t i = 0; i < len;) {
        if (s[i] == '"') {
            for (i++; i < len && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
            i++;
            continue;
        }
        if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
            size_t start = i;
            if (s[i] == '-')
                i++;
            while (i < len && s[i] >= '0' && s[i] <= '9')
                i++;
            bool frac = i < len && (s[i] == '.' || s[i] == 'e' || s[i] == 'E');
            if (!frac && i - start >= 16) {
                tbt_buf_append(&b, s + copied, start - copied);
                tbt_buf_putc(&b, '"');
                tbt_buf_append(&b, s + start, i - start);
                tbt_buf_putc(&b, '"');
                copied = i;
                any = true;
            }
            continue;
        }
        i++;
    }
    if (!any) {
        tbt_buf_free(&b);
        return NULL;
    }
    tbt_buf_append(&b, s + copied, len > copied ? len - copied : 0);
    *outlen = b.len;
    return tbt_buf_steal(&b);
}

int tbt_jaeger_decode(tbt_trace *t, const uint8_t *buf, size_t len, const tbt_datastore_limits *lim, tbt_error *err)
{
    tbt_datastore_limits dl = tbt_datastore_default_limits();
    if (!lim)
        lim = &dl;
    if (len > lim->max_response_bytes)
        return tbt_error_set(err, -E2BIG, "the Jaeger answer is larger than %zu bytes", lim->max_response_bytes);
    if (tbt_ds_json_depth(buf, len, lim->max_json_depth) > lim->max_json_depth)
        return tbt_error_set(err, -E2BIG, "the Jaeger answer nests deeper than %u levels", lim->max_json_depth);
    size_t qlen = 0;
    char *quoted = quote_big_ints(buf, len, &qlen);
    const char *text = quoted ? quoted : (const char *)buf;
    size_t tlen = quoted ? qlen : len;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, tlen, &end, 0);
    jdec d = {t, tbt_trace_arena(t), lim, err, 0, tbt_otlp_default_limits()};
    int rc = 0;
    if (!root) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        rc = tbt_error_set(err, -EINVAL, "invalid Jaeger answer: not JSON (near byte %zu of %zu)", off, tlen);
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        rc = bad(&d, NULL, "expected an object {\"data\": [...]}, found %s", jtype(root));
        goto out;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    const cJSON *errs = cJSON_GetObjectItemCaseSensitive(root, "errors");
    if (errs && !cJSON_IsNull(errs) && cJSON_IsArray(errs) && errs->child) {
        /* {"code": 404, "msg": "trace not found"}: not there yet */
        const cJSON *e = errs->child;
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "msg");
        bool not_found = (cJSON_IsNumber(code) && code->valuedouble == 404) ||
                         (cJSON_IsString(msg) && strstr(msg->valuestring, "not found"));
        if (not_found && (!data || cJSON_IsNull(data) || (cJSON_IsArray(data) && !data->child))) {
            rc = tbt_error_set(err, -ENOENT, "trace not found");
            goto out;
        }
        if (!data || cJSON_IsNull(data) || (cJSON_IsArray(data) && !data->child)) {
            rc = tbt_error_set(err, -EIO, "Jaeger answered with an error: %.200s",
                               cJSON_IsString(msg) ? msg->valuestring : "(no message)");
            goto out;
        }
    }
    if (!data || cJSON_IsNull(data)) {
        rc = tbt_error_set(err, -ENOENT, "no data");
        goto out;
    }
    if (!cJSON_IsArray(data)) {
        jp w = JP_KEY(NULL, "data");
        rc = bad(&d, &w, "expected an array of traces, found %s", jtype(data));
        goto out;
    }
    size_t i = 0;
    for (const cJSON *tr = data->child; tr; tr = tr->next, i++) {
        jp w = JP_IDX(NULL, "data", i);
        if ((rc = trace_of(&d, tr, &w)))
            goto out;
    }
    if (d.spans == 0)
        rc = tbt_error_set(err, -ENOENT, "no span in the answer");
out:
    cJSON_Delete(root);
    free(quoted);
    return rc;
}

/* ---- fetching ----------------------------------------------------------------*/

static int jaeger_fetch(const void *p, const uint8_t trace_id[16], const tbt_ds_call *call, tbt_trace **out,
                        tbt_error *err)
{
    const jaeger_cfg *c = p;
    char hex[33];
    tbt_hex_encode(trace_id, 16, hex);
    char *url = tbt_xasprintf("%s/api/traces/%s", c->http.base_url, hex);
    tbt_ds_response r;
    int rc = tbt_ds_http_get(&c->http, url, "application/json", call->timeout_ns, call->lim->max_response_bytes, &r,
                             err);
    free(url);
    if (rc == 0) {
        if (r.status == 404) {
            rc = tbt_error_set(err, -ENOENT, "HTTP 404: the trace is not there (yet)");
        } else if (r.status != 200) {
            rc = tbt_error_set(err, -EIO, "HTTP %ld", r.status);
        } else {
            tbt_trace *t = tbt_trace_new();
            rc = tbt_jaeger_decode(t, (const uint8_t *)r.body.data, r.body.len, call->lim, err);
            if (rc == 0)
                *out = t;
            else
                tbt_trace_free(t);
        }
    }
    if (rc != 0 && rc != -ENOENT && c->grpc_port && err && err->msg) {
        char *m = tbt_xasprintf("%s (port 16685 is Jaeger's gRPC query port; tbt uses the HTTP query API, the UI's "
                                "port, 16686 by default)",
                                err->msg);
        free(err->msg);
        err->msg = m;
    }
    tbt_buf_free(&r.body);
    return rc;
}

const tbt_datastore_backend tbt_datastore_jaeger = {"jaeger", "jaeger", jaeger_parse, jaeger_fetch, jaeger_destroy};
