/* tbt_datastore_tempo.c - Grafana Tempo's HTTP API as a trace source:
 * GET {url}/api/traces/{id} (or /api/v2/traces/{id} with apiVersion: v2),
 * asking for protobuf: tempopb.Trace has the wire shape of OTLP TracesData
 * (repeated ResourceSpans in field 1), so tbt's own OTLP decoder reads it.
 * A JSON answer ({"batches": [...]}, base64 ids, as Tempo's jsonpb writes
 * it) goes through the OTLP/JSON decoder, which accepts those forms.
 *
 * Tracetest's Tempo DataStore may use Tempo's gRPC API; tbt does not. */
#include "tbt_datastore_private.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tbt_otlp.h"

typedef struct tempo_cfg {
    tbt_ds_http http;
    bool v2;
} tempo_cfg;

static void tempo_destroy(void *p)
{
    tempo_cfg *c = p;
    if (!c)
        return;
    tbt_ds_http_clear(&c->http);
    free(c);
}

static int tempo_parse(const tbt_ynode *block, const tbt_ynode *spec, const tbt_defs *defs, void **out,
                       char **describe, tbt_error *err)
{
    TBT_UNUSED(spec);
    static const char *const keys[] = {"type", "http", "grpc", "apiVersion", NULL};
    static const char *const hkeys[] = {"url", "headers", "tls", NULL};
    tempo_cfg *c = tbt_xcalloc(1, sizeof(*c));
    const char *type = NULL, *api = NULL, *url = NULL;
    const tbt_ynode *h = tbt_ymap_get(block, "http");
    int rc;
    if ((rc = tbt_ds_check_keys(block, keys, "tempo", defs, err)) ||
        (rc = tbt_ds_string(block, "type", "tempo", false, defs, &type, err)) ||
        (rc = tbt_ds_string(block, "apiVersion", "tempo", false, defs, &api, err)))
        goto fail;
    if (type && strcmp(type, "grpc") == 0) {
        rc = tbt_ds_fail(err, defs, tbt_ymap_get(block, "type"),
                         "DataStore tempo.type: grpc is not supported, use type: http (Tempo's HTTP API, port 3200 "
                         "by default)");
        goto fail;
    }
    if (type && strcmp(type, "http") != 0) {
        rc = tbt_ds_fail(err, defs, tbt_ymap_get(block, "type"), "DataStore tempo.type: expected http, got \"%s\"",
                         type);
        goto fail;
    }
    if (api && strcmp(api, "v1") != 0 && strcmp(api, "v2") != 0) {
        rc = tbt_ds_fail(err, defs, tbt_ymap_get(block, "apiVersion"),
                         "DataStore tempo.apiVersion: expected v1 or v2, got \"%s\"", api);
        goto fail;
    }
    c->v2 = api && strcmp(api, "v2") == 0;
    if (!h || tbt_ynode_is_null(h)) {
        rc = tbt_ds_fail(err, defs, block, "DataStore tempo: the 'http' block with the url is required");
        goto fail;
    }
    if ((rc = tbt_ds_check_keys(h, hkeys, "tempo.http", defs, err)) ||
        (rc = tbt_ds_string(h, "url", "tempo.http", true, defs, &url, err)) ||
        (rc = tbt_ds_tls_parse(tbt_ymap_get(h, "tls"), "tempo.http", defs, &c->http.tls, err)) ||
        (rc = tbt_ds_headers_parse(tbt_ymap_get(h, "headers"), "tempo.http", defs, &c->http, err)) ||
        (rc = tbt_ds_url_parse(tbt_ymap_get(h, "url"), "tempo.http.url", true,
                               c->http.tls.present && !c->http.tls.insecure, defs, &c->http.base_url, err)))
        goto fail;
    *describe = tbt_xasprintf("tempo %s", c->http.base_url);
    *out = c;
    return 0;
fail:
    tempo_destroy(c);
    *out = NULL;
    return rc;
}

/* ---- decoding ----------------------------------------------------------------*/

static bool varint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*off >= len)
            return false;
        uint8_t b = p[(*off)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* TraceByIDResponse {Trace trace = 1; ...}: the bytes of field 1 (the last
 * one wins, as protobuf merges; an absent trace is empty). */
static int unwrap_v2(const uint8_t *p, size_t len, const uint8_t **inner, size_t *inner_len, tbt_error *err)
{
    size_t off = 0;
    *inner = p;
    *inner_len = 0;
    while (off < len) {
        uint64_t key, v;
        if (!varint(p, len, &off, &key))
            return tbt_error_set(err, -EINVAL, "invalid Tempo answer: truncated field key at byte %zu", off);
        unsigned wt = (unsigned)(key & 7);
        if (wt == 0) {
            if (!varint(p, len, &off, &v))
                return tbt_error_set(err, -EINVAL, "invalid Tempo answer: truncated varint at byte %zu", off);
        } else if (wt == 2) {
            if (!varint(p, len, &off, &v) || v > len - off)
                return tbt_error_set(err, -EINVAL, "invalid Tempo answer: field %llu overruns the message at byte %zu",
                                     (unsigned long long)(key >> 3), off);
            if ((key >> 3) == 1) {
                *inner = p + off;
                *inner_len = (size_t)v;
            }
            off += (size_t)v;
        } else if (wt == 1 || wt == 5) {
            size_t n = wt == 1 ? 8 : 4;
            if (len - off < n)
                return tbt_error_set(err, -EINVAL, "invalid Tempo answer: truncated fixed field at byte %zu", off);
            off += n;
        } else {
            return tbt_error_set(err, -EINVAL, "invalid Tempo answer: wire type %u at byte %zu", wt, off);
        }
    }
    return 0;
}

int tbt_tempo_decode(tbt_trace *t, const uint8_t *buf, size_t len, bool protobuf, bool v2,
                     const tbt_datastore_limits *lim, tbt_error *err)
{
    tbt_datastore_limits dl = tbt_datastore_default_limits();
    if (!lim)
        lim = &dl;
    if (len > lim->max_response_bytes)
        return tbt_error_set(err, -E2BIG, "the Tempo answer is larger than %zu bytes", lim->max_response_bytes);
    tbt_otlp_limits ol = tbt_otlp_default_limits();
    if (ol.max_spans > lim->max_spans)
        ol.max_spans = lim->max_spans;
    tbt_otlp_stats st = {0};
    char *printed = NULL;
    cJSON *root = NULL;
    int rc;
    if (protobuf) {
        const uint8_t *p = buf;
        size_t n = len;
        if (v2 && (rc = unwrap_v2(buf, len, &p, &n, err)) != 0)
            return rc;
        rc = tbt_otlp_decode(t, TBT_OTLP_PROTOBUF, p, n, &ol, &st, err);
    } else {
        if (tbt_ds_json_depth(buf, len, lim->max_json_depth) > lim->max_json_depth)
            return tbt_error_set(err, -E2BIG, "the Tempo answer nests deeper than %u levels", lim->max_json_depth);
        const uint8_t *p = buf;
        size_t n = len;
        if (v2) {
            /* {"trace": {...}, "status": ...}: decode the trace object */
            root = cJSON_ParseWithLength((const char *)buf, len);
            if (!cJSON_IsObject(root)) {
                cJSON_Delete(root);
                return tbt_error_set(err, -EINVAL, "invalid Tempo answer: expected a JSON object {\"trace\": ...}");
            }
            cJSON *tr = cJSON_GetObjectItemCaseSensitive(root, "trace");
            if (!tr || cJSON_IsNull(tr)) {
                cJSON_Delete(root);
                return tbt_error_set(err, -ENOENT, "no trace in the answer");
            }
            printed = cJSON_PrintUnformatted(tr);
            p = (const uint8_t *)(printed ? printed : "");
            n = strlen((const char *)p);
        }
        rc = tbt_otlp_decode(t, TBT_OTLP_JSON, p, n, &ol, &st, err);
    }
    if (rc == -EINVAL && err && err->msg)
        tbt_error_prefix(err, "invalid Tempo answer");
    if (rc == 0 && tbt_trace_span_count(t) == 0)
        rc = st.rejected_spans ? tbt_error_set(err, -EINVAL, "invalid Tempo answer: all %zu spans refused: %s",
                                               st.rejected_spans, st.reject_reason ? st.reject_reason : "?")
                               : tbt_error_set(err, -ENOENT, "no span in the answer");
    tbt_otlp_stats_clear(&st);
    cJSON_free(printed);
    cJSON_Delete(root);
    return rc;
}

/* ---- fetching ----------------------------------------------------------------*/

static int tempo_fetch(const void *p, const uint8_t trace_id[16], const tbt_ds_call *call, tbt_trace **out,
                       tbt_error *err)
{
    const tempo_cfg *c = p;
    char hex[33];
    tbt_hex_encode(trace_id, 16, hex);
    char *url = tbt_xasprintf("%s/api/%straces/%s", c->http.base_url, c->v2 ? "v2/" : "", hex);
    tbt_ds_response r;
    int rc = tbt_ds_http_get(&c->http, url, "application/protobuf", call->timeout_ns, call->lim->max_response_bytes,
                             &r, err);
    free(url);
    if (rc == 0) {
        if (r.status == 404) {
            rc = tbt_error_set(err, -ENOENT, "HTTP 404: the trace is not there (yet)");
        } else if (r.status != 200) {
            rc = tbt_error_set(err, -EIO, "HTTP %ld", r.status);
        } else {
            /* protobuf unless the answer says JSON (older Tempo ignores
             * Accept) or starts like it */
            bool json = strncasecmp(r.content_type, "application/json", 16) == 0 ||
                        (!strstr(r.content_type, "protobuf") &&
                         tbt_otlp_sniff((const uint8_t *)r.body.data, r.body.len) == TBT_OTLP_JSON);
            tbt_trace *t = tbt_trace_new();
            rc = tbt_tempo_decode(t, (const uint8_t *)(r.body.data ? r.body.data : ""), r.body.len, !json, c->v2,
                                  call->lim, err);
            if (rc == 0)
                *out = t;
            else
                tbt_trace_free(t);
        }
    }
    tbt_buf_free(&r.body);
    return rc;
}

const tbt_datastore_backend tbt_datastore_tempo = {"tempo", "tempo", tempo_parse, tempo_fetch, tempo_destroy};
