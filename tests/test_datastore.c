/* test_datastore.c - trace backends (Jaeger, Tempo): the DataStore
 * resource and its errors at file:line:col, the mapping of each backend's
 * answer onto the trace model, fetching from a fixture server replaying
 * recorded answers (not found then found, HTTP errors, garbage, slow, the
 * Tempo tenant header, bounds), and the agent end to end with spans served
 * only by the fixture backend. No real Jaeger or Tempo runs here. */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "datastore_fixture.h"
#include "tbt_agent.h"
#include "tbt_datastore_private.h"

#define JAEGER_TID "5b8aa5a2d2c872e8321cf37308d69df2"
#define TEMPO_TID "2f3e0cee77ae5dc9c17ade3689eb2e54"

/* ---- helpers -------------------------------------------------------------- */

/* Parse the DataStore(s) of a YAML text; returns rc, *ds and err filled. */
static int parse_text(const char *yaml, tbt_datastore **ds, tbt_error *err)
{
    tbt_defs *d = tbt_defs_new();
    int rc = tbt_defs_load_text(d, "ds.yaml", yaml, strlen(yaml), err);
    if (rc == 0)
        rc = tbt_datastore_from_defs(d, ds, err);
    tbt_defs_free(d);
    return rc;
}

/* "file:line:col: message" (first line of the formatted error). */
static char *first_line(const tbt_error *err)
{
    tbt_buf b = TBT_BUF_INIT;
    tbt_error_format(err, &b);
    char *s = tbt_buf_steal(&b);
    char *nl = s ? strchr(s, '\n') : NULL;
    if (nl)
        *nl = '\0';
    return s ? s : tbt_xstrdup("");
}

static void expect_parse_error(const char *yaml, const char *want)
{
    tbt_datastore *ds = NULL;
    tbt_error err = TBT_ERROR_INIT;
    int rc = parse_text(yaml, &ds, &err);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_ptr_null(ds);
    char *got = first_line(&err);
    ck_assert_str_eq(got, want);
    free(got);
    tbt_error_clear(&err);
}

static tbt_span *span_by_id(tbt_trace *t, const char *hex)
{
    for (size_t i = 0; i < tbt_trace_span_count(t); i++)
        if (strcmp(tbt_trace_span_at(t, i)->span_id_hex, hex) == 0)
            return tbt_trace_span_at(t, i);
    return NULL;
}

static const tbt_value *attr(const tbt_span *s, const char *key)
{
    return tbt_kv_find(s->attrs, s->n_attrs, key);
}

static const tbt_value *res_attr(const tbt_span *s, const char *key)
{
    return s->resource ? tbt_kv_find(s->resource->attrs, s->resource->n_attrs, key) : NULL;
}

static tbt_trace *decode_file(const char *name, int kind /* 0 jaeger, 1 tempo json, 2 tempo pb, 3 tempo v2 json */)
{
    size_t len = 0;
    char *buf = dsfx_read_data(name, &len);
    ck_assert_ptr_nonnull(buf);
    tbt_trace *t = tbt_trace_new();
    tbt_error err = TBT_ERROR_INIT;
    int rc = kind == 0 ? tbt_jaeger_decode(t, (const uint8_t *)buf, len, NULL, &err)
                       : tbt_tempo_decode(t, (const uint8_t *)buf, len, kind == 2, kind == 3, NULL, &err);
    ck_assert_msg(rc == 0, "%s: %s", name, err.msg ? err.msg : "?");
    tbt_trace_finalize(t, NULL);
    free(buf);
    tbt_error_clear(&err);
    return t;
}

static int decode_text(const char *json, const tbt_datastore_limits *lim, tbt_error *err)
{
    tbt_trace *t = tbt_trace_new();
    int rc = tbt_jaeger_decode(t, (const uint8_t *)json, strlen(json), lim, err);
    tbt_trace_free(t);
    return rc;
}

/* A DataStore for a fixture on port. */
static tbt_datastore *ds_for(const char *type_block, uint16_t port)
{
    char *yaml = tbt_xasprintf(type_block, port);
    tbt_datastore *ds = NULL;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_msg(parse_text(yaml, &ds, &err) == 0, "%s", err.msg ? err.msg : "?");
    free(yaml);
    return ds;
}

#define JAEGER_DS "type: DataStore\nspec:\n  name: jaeger\n  type: jaeger\n  pollInterval: 50ms\n  timeout: 2s\n" \
                  "  jaeger:\n    endpoint: 127.0.0.1:%u\n    tls:\n      insecure: true\n"
#define TEMPO_DS "type: DataStore\nspec:\n  name: tempo\n  type: tempo\n  pollInterval: 50ms\n  tempo:\n" \
                 "    type: http\n    http:\n      url: http://127.0.0.1:%u\n      headers:\n" \
                 "        X-Scope-OrgID: team-a\n        Authorization: Bearer s3cret\n"

static void hex_tid(const char *hex, uint8_t out[16])
{
    ck_assert_int_eq(tbt_hex_decode(hex, 32, out, 16), 0);
}

/* ---- the resource ---------------------------------------------------------- */

START_TEST(parse_jaeger_and_tempo)
{
    tbt_datastore *ds = NULL;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(parse_text("type: DataStore\nspec:\n  id: current\n  name: Jaeger\n  type: jaeger\n"
                                "  default: true\n  jaeger:\n    endpoint: jaeger:16686\n    tls:\n"
                                "      insecure: true\n",
                                &ds, &err),
                     0);
    ck_assert_str_eq(tbt_datastore_name(ds), "Jaeger");
    ck_assert_str_eq(tbt_datastore_type(ds), "jaeger");
    ck_assert_str_eq(tbt_datastore_describe(ds), "jaeger http://jaeger:16686");
    ck_assert(tbt_datastore_fetches(ds));
    ck_assert_uint_eq(tbt_datastore_poll_ns(ds), 1000000000ull);
    tbt_datastore_free(ds);
    /* tls without insecure: https */
    ck_assert_int_eq(parse_text("type: DataStore\nspec:\n  type: jaeger\n  jaeger:\n    endpoint: jaeger:16686\n"
                                "    tls:\n      insecureSkipVerify: true\n",
                                &ds, &err),
                     0);
    ck_assert_str_eq(tbt_datastore_describe(ds), "jaeger https://jaeger:16686");
    ck_assert_str_eq(tbt_datastore_name(ds), "jaeger");
    tbt_datastore_free(ds);
    ck_assert_int_eq(parse_text("type: DataStore\nspec:\n  type: tempo\n  pollInterval: 250ms\n  tempo:\n    type: http\n"
                                "    http:\n      url: https://tempo.example:3200/\n      headers:\n"
                                "        X-Scope-OrgID: t1\n",
                                &ds, &err),
                     0);
    ck_assert_str_eq(tbt_datastore_describe(ds), "tempo https://tempo.example:3200");
    ck_assert_uint_eq(tbt_datastore_poll_ns(ds), 250000000ull);
    tbt_datastore_free(ds);
    /* otlp / agent: the receivers, nothing fetched */
    ck_assert_int_eq(parse_text("type: DataStore\nspec:\n  name: otel\n  type: otlp\n", &ds, &err), 0);
    ck_assert(!tbt_datastore_fetches(ds));
    tbt_datastore_free(ds);
    /* no DataStore at all: none, no error */
    ck_assert_int_eq(parse_text("type: PollingProfile\nspec:\n  id: p\n  name: p\n  strategy: periodic\n", &ds, &err), 0);
    ck_assert_ptr_null(ds);
    tbt_error_clear(&err);
}
END_TEST

START_TEST(parse_errors_point_at_the_fault)
{
    expect_parse_error("type: DataStore\nspec:\n  type: jaeger\n  jaegr: {}\n  jaeger:\n    endpoint: j:16686\n",
                       "ds.yaml:4:3: DataStore spec: unknown field 'jaegr' (valid: id, name, type, default, "
                       "createdAt, pollInterval, timeout, jaeger)");
    expect_parse_error("type: DataStore\nspec:\n  type: jaeger\n  jaeger:\n    endpoint: j:16686\n    tsl: {}\n",
                       "ds.yaml:6:5: DataStore jaeger: unknown field 'tsl' (valid: endpoint, tls, headers)");
    expect_parse_error("type: DataStore\nspec:\n  type: jaeger\n  jaeger:\n    endpoint: [a]\n",
                       "ds.yaml:5:15: DataStore jaeger.endpoint: expected text, found sequence");
    expect_parse_error("type: DataStore\nspec:\n  type: jaeger\n  jaeger:\n    endpoint: ftp://jaeger:21\n",
                       "ds.yaml:5:15: DataStore jaeger.endpoint: expected http://host:port, https://host:port or "
                       "host:port, got \"ftp://jaeger:21\"");
    expect_parse_error("type: DataStore\nspec:\n  type: jaeger\n  jaeger:\n    endpoint: jaeger:99999\n",
                       "ds.yaml:5:15: DataStore jaeger.endpoint: \"jaeger:99999\" is not a valid URL (host and "
                       "optional port 1-65535)");
    expect_parse_error("type: DataStore\nspec:\n  type: jaeger\n  jaeger:\n    endpoint: j:1\n    tls:\n"
                       "      insecure: maybe\n",
                       "ds.yaml:7:17: DataStore jaeger.tls.insecure: expected true or false, found maybe");
    expect_parse_error("type: DataStore\nspec:\n  type: tempo\n  tempo:\n    type: grpc\n    grpc:\n"
                       "      endpoint: tempo:9095\n",
                       "ds.yaml:5:11: DataStore tempo.type: grpc is not supported, use type: http (Tempo's HTTP "
                       "API, port 3200 by default)");
    expect_parse_error("type: DataStore\nspec:\n  type: tempo\n  tempo:\n    type: http\n    http:\n"
                       "      url: tempo:3200\n      headers:\n        Bad Name: x\n",
                       "ds.yaml:9:9: DataStore tempo.http.headers: 'Bad Name' is not a header name");
    expect_parse_error("type: DataStore\nspec:\n  type: datadog\n",
                       "ds.yaml:3:9: DataStore type 'datadog' is not supported by tbt (jaeger, tempo, otlp, agent)");
    expect_parse_error("type: DataStore\nspec:\n  type: jaeger\n",
                       "ds.yaml:3:3: a DataStore of type jaeger needs its 'jaeger' block");
    expect_parse_error("type: DataStore\nspec:\n  type: otlp\n  pollInterval: often\n",
                       "ds.yaml:4:17: DataStore pollInterval: expected a duration from 1ms to 1h such as 500ms or 2s");
}
END_TEST

START_TEST(choosing_among_several)
{
    tbt_datastore *ds = NULL;
    tbt_error err = TBT_ERROR_INIT;
    /* the default one wins */
    ck_assert_int_eq(parse_text("type: DataStore\nspec:\n  name: a\n  type: otlp\n---\n"
                                "type: DataStore\nspec:\n  name: b\n  type: jaeger\n  default: true\n"
                                "  jaeger:\n    endpoint: j:16686\n",
                                &ds, &err),
                     0);
    ck_assert_str_eq(tbt_datastore_name(ds), "b");
    tbt_datastore_free(ds);
    expect_parse_error("type: DataStore\nspec:\n  name: a\n  type: otlp\n  default: true\n---\n"
                       "type: DataStore\nspec:\n  name: b\n  type: agent\n  default: true\n",
                       "two DataStores have default: true: ds.yaml:1:1 and ds.yaml:7:1");
    expect_parse_error("type: DataStore\nspec:\n  name: a\n  type: otlp\n---\n"
                       "type: DataStore\nspec:\n  name: b\n  type: agent\n",
                       "2 DataStores and none has default: true (the first is at ds.yaml:1:1)");
    tbt_error_clear(&err);
}
END_TEST

/* ---- mapping -------------------------------------------------------------- */

START_TEST(jaeger_mapping)
{
    tbt_trace *t = decode_file("jaeger-hotrod.json", 0);
    ck_assert_uint_eq(tbt_trace_span_count(t), 6);
    tbt_span *root = span_by_id(t, "7c3a5a4b2f0a1e01");
    ck_assert_ptr_nonnull(root);
    ck_assert_str_eq(root->trace_id_hex, JAEGER_TID);
    ck_assert_str_eq(root->name, "HTTP GET /dispatch");
    ck_assert_int_eq(root->kind, TBT_KIND_SERVER);
    ck_assert_str_eq(root->parent_id_hex, "");
    ck_assert_str_eq(root->service, "frontend");
    ck_assert_uint_eq(root->start_ns, 1700000000123456000ull);
    ck_assert_uint_eq(root->end_ns - root->start_ns, 735012000ull);
    ck_assert_uint_eq(root->flags, 1);
    ck_assert_int_eq(attr(root, "http.status_code")->type, TBT_V_INT);
    ck_assert_int_eq(attr(root, "http.status_code")->u.i, 200);
    ck_assert_str_eq(attr(root, "http.method")->u.s.ptr, "GET");
    ck_assert_ptr_null(attr(root, "span.kind")); /* became the kind */
    ck_assert_ptr_null(attr(root, "otel.library.name"));
    ck_assert_str_eq(root->scope->name, "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp");
    ck_assert_str_eq(root->scope->version, "0.45.0");
    ck_assert_str_eq(res_attr(root, "host.name")->u.s.ptr, "hotrod-7d9");
    ck_assert_uint_eq(root->n_events, 1);
    ck_assert_str_eq(root->events[0].name, "HTTP request received");
    ck_assert_uint_eq(root->events[0].time_ns, 1700000000123468000ull);
    ck_assert_uint_eq(root->events[0].n_attrs, 2); /* level, method: "event" became the name */
    /* CHILD_OF -> parent; logs -> events */
    tbt_span *sql = span_by_id(t, "7c3a5a4b2f0a1e03");
    ck_assert_str_eq(sql->parent_id_hex, "7c3a5a4b2f0a1e02");
    ck_assert_str_eq(sql->service, "mysql");
    ck_assert_int_eq(sql->kind, TBT_KIND_CLIENT);
    ck_assert_uint_eq(sql->n_events, 2);
    ck_assert_str_eq(sql->events[1].name, "Acquired lock with 0 transactions waiting behind");
    /* typed tags: float64, bool; process tags: int64 */
    tbt_span *drv = span_by_id(t, "7c3a5a4b2f0a1e04");
    ck_assert_int_eq(attr(drv, "driver.load")->type, TBT_V_DOUBLE);
    ck_assert(attr(drv, "driver.load")->u.d == 0.75);
    ck_assert_int_eq(attr(drv, "driver.available")->type, TBT_V_BOOL);
    ck_assert(attr(drv, "driver.available")->u.b);
    ck_assert_int_eq(res_attr(drv, "process.pid")->u.i, 4242);
    /* error / otel.status_code -> status; binary -> bytes */
    tbt_span *redis = span_by_id(t, "7c3a5a4b2f0a1e05");
    ck_assert_int_eq(redis->status_code, TBT_STATUS_ERROR);
    ck_assert_str_eq(redis->status_message, "redis timeout");
    ck_assert_ptr_null(attr(redis, "error"));
    ck_assert_int_eq(attr(redis, "checksum")->type, TBT_V_BYTES);
    ck_assert_uint_eq(attr(redis, "checksum")->u.s.len, 4);
    ck_assert(memcmp(attr(redis, "checksum")->u.s.ptr, "\x00\x01\xfe\xff", 4) == 0);
    /* FOLLOWS_FROM and other-trace references -> links; the CHILD_OF after
     * a FOLLOWS_FROM is still the parent; a 64-bit trace id is padded;
     * int64 beyond 2^53 kept exact */
    tbt_span *route = span_by_id(t, "7c3a5a4b2f0a1e06");
    ck_assert_str_eq(route->parent_id_hex, "7c3a5a4b2f0a1e01");
    ck_assert_uint_eq(route->n_links, 2);
    ck_assert_str_eq(tbt_kv_find(route->links[0].attrs, route->links[0].n_attrs, "opentracing.ref_type")->u.s.ptr,
                     "follows_from");
    uint8_t other[16];
    hex_tid("00000000000000000abcdef012345678", other);
    ck_assert(memcmp(route->links[1].trace_id, other, 16) == 0);
    ck_assert_int_eq(attr(route, "big.counter")->u.i, 9007199254740993ll);
    ck_assert_str_eq(route->service, "route");
    /* as assertions see it */
    tbt_value v;
    ck_assert(tbt_span_attr(t, redis, "tracetest.span.status_code", &v));
    tbt_trace_free(t);
}
END_TEST

static void check_tempo_trace(tbt_trace *t, bool with_payment)
{
    ck_assert_uint_eq(tbt_trace_span_count(t), with_payment ? 3 : 1);
    tbt_span *root = span_by_id(t, "a1a1a1a1a1a1a1a1");
    ck_assert_ptr_nonnull(root);
    ck_assert_str_eq(root->trace_id_hex, TEMPO_TID);
    ck_assert_int_eq(root->kind, TBT_KIND_SERVER);
    ck_assert_str_eq(root->service, "order-service");
    ck_assert_int_eq(attr(root, "http.response.status_code")->u.i, 201);
    ck_assert_str_eq(root->scope->name, "@opentelemetry/instrumentation-http");
    ck_assert_uint_eq(root->start_ns, 1700000100000000000ull);
    if (!with_payment)
        return;
    tbt_span *charge = span_by_id(t, "a1a1a1a1a1a1a1a2");
    ck_assert_str_eq(charge->parent_id_hex, "a1a1a1a1a1a1a1a1");
    ck_assert_int_eq(charge->kind, TBT_KIND_CLIENT);
    ck_assert_str_eq(charge->service, "payment-service");
    ck_assert_str_eq(charge->scope->name, "payments"); /* instrumentationLibrary, older Tempo */
    ck_assert(attr(charge, "payment.amount")->u.d == 99.99);
    ck_assert_int_eq(attr(charge, "payment.retry")->type, TBT_V_BOOL);
    ck_assert_int_eq(charge->status_code, TBT_STATUS_ERROR);
    ck_assert_str_eq(charge->status_message, "declined");
    ck_assert_uint_eq(charge->n_events, 1);
    ck_assert_str_eq(charge->events[0].name, "card declined");
    tbt_span *pub = span_by_id(t, "a1a1a1a1a1a1a1a3");
    ck_assert_int_eq(pub->kind, TBT_KIND_PRODUCER);
    ck_assert_uint_eq(pub->n_links, 1);
    uint8_t lt[16];
    hex_tid("00112233445566778899aabbccddeeff", lt);
    ck_assert(memcmp(pub->links[0].trace_id, lt, 16) == 0);
}

START_TEST(tempo_mapping_json_protobuf_v2)
{
    tbt_trace *t = decode_file("tempo-trace.json", 1);
    check_tempo_trace(t, true);
    tbt_trace_free(t);
    t = decode_file("tempo-trace.pb", 2);
    check_tempo_trace(t, true);
    tbt_trace_free(t);
    t = decode_file("tempo-trace-v2.json", 3);
    check_tempo_trace(t, false);
    tbt_trace_free(t);
    /* v2 protobuf: TraceByIDResponse wraps the trace in field 1 */
    size_t len = 0;
    char *pb = dsfx_read_data("tempo-trace.pb", &len);
    tbt_buf w = TBT_BUF_INIT;
    tbt_buf_putc(&w, 0x0a);
    size_t n = len;
    do {
        tbt_buf_putc(&w, (char)((n & 0x7f) | (n > 0x7f ? 0x80 : 0)));
        n >>= 7;
    } while (n);
    tbt_buf_append(&w, pb, len);
    tbt_buf_append(&w, "\x18\x01", 2); /* status = 1 after it */
    t = tbt_trace_new();
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_tempo_decode(t, (const uint8_t *)w.data, w.len, true, true, NULL, &err), 0);
    tbt_trace_finalize(t, NULL);
    check_tempo_trace(t, true);
    tbt_trace_free(t);
    /* an empty answer: not there yet */
    t = tbt_trace_new();
    ck_assert_int_eq(tbt_tempo_decode(t, (const uint8_t *)"", 0, true, false, NULL, &err), -ENOENT);
    ck_assert_int_eq(tbt_tempo_decode(t, (const uint8_t *)"{\"batches\":[]}", 14, false, false, NULL, &err), -ENOENT);
    ck_assert_int_eq(tbt_tempo_decode(t, (const uint8_t *)"\x0a\x05\x01", 3, true, true, NULL, &err), -EINVAL);
    ck_assert_str_eq(err.msg, "invalid Tempo answer: field 1 overruns the message at byte 2");
    tbt_trace_free(t);
    tbt_buf_free(&w);
    free(pb);
    tbt_error_clear(&err);
}
END_TEST

START_TEST(jaeger_malformed_and_bounds)
{
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(decode_text("{\"data\":[],\"errors\":null}", NULL, &err), -ENOENT);
    ck_assert_int_eq(decode_text("{\"data\":null,\"errors\":[{\"code\":404,\"msg\":\"trace not found\"}]}", NULL, &err),
                     -ENOENT);
    ck_assert_int_eq(decode_text("{\"data\":null,\"errors\":[{\"code\":500,\"msg\":\"storage down\"}]}", NULL, &err),
                     -EIO);
    ck_assert_str_eq(err.msg, "Jaeger answered with an error: storage down");
    ck_assert_int_eq(decode_text("{\"data\":[{\"spans\":[{\"traceID\":\"zz\",\"spanID\":\"01\",\"startTime\":1}]}]}",
                                 NULL, &err),
                     -EINVAL);
    ck_assert_str_eq(err.msg, "invalid Jaeger answer: data[0].spans[0].traceID: expected up to 32 hex digits, got \"zz\"");
    ck_assert_int_eq(decode_text("{\"data\":[{\"spans\":[{\"traceID\":\"1\",\"spanID\":\"2\",\"startTime\":1,"
                                 "\"tags\":[{\"key\":\"n\",\"type\":\"int64\",\"value\":\"x\"}]}]}]}",
                                 NULL, &err),
                     -EINVAL);
    ck_assert_str_eq(err.msg, "invalid Jaeger answer: data[0].spans[0].tags[0].value: an int64 tag needs a whole "
                              "number, got \"x\"");
    ck_assert_int_eq(decode_text("{\"data\":[{\"spans\":[{\"traceID\":\"1\",\"spanID\":\"2\",\"startTime\":1,"
                                 "\"processID\":\"p9\"}]}]}",
                                 NULL, &err),
                     -EINVAL);
    ck_assert_str_eq(err.msg,
                     "invalid Jaeger answer: data[0].spans[0].processID: \"p9\" is not among the trace's processes");
    ck_assert_int_eq(decode_text("{\"data\": [1, 2", NULL, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "invalid Jaeger answer: not JSON (near byte"));
    ck_assert_int_eq(decode_text("[]", NULL, &err), -EINVAL);
    ck_assert_str_eq(err.msg, "invalid Jaeger answer: the answer: expected an object {\"data\": [...]}, found an array");
    /* bounds */
    tbt_datastore_limits lim = tbt_datastore_default_limits();
    lim.max_spans = 2;
    size_t len;
    char *hotrod = dsfx_read_data("jaeger-hotrod.json", &len);
    ck_assert_int_eq(decode_text(hotrod, &lim, &err), -E2BIG);
    ck_assert_str_eq(err.msg, "the Jaeger answer holds more than 2 spans");
    lim = tbt_datastore_default_limits();
    lim.max_response_bytes = 1000;
    ck_assert_int_eq(decode_text(hotrod, &lim, &err), -E2BIG);
    ck_assert_str_eq(err.msg, "the Jaeger answer is larger than 1000 bytes");
    tbt_buf deep = TBT_BUF_INIT;
    tbt_buf_puts(&deep, "{\"data\":");
    for (int i = 0; i < 5000; i++)
        tbt_buf_putc(&deep, '[');
    ck_assert_int_eq(decode_text(deep.data, NULL, &err), -E2BIG);
    ck_assert_str_eq(err.msg, "the Jaeger answer nests deeper than 64 levels");
    tbt_buf_free(&deep);
    free(hotrod);
    tbt_error_clear(&err);
}
END_TEST

/* ---- fetching from the fixture ---------------------------------------------- */

START_TEST(jaeger_not_found_then_found_and_growing)
{
    dsfx_opts o = {.files = {"jaeger-hotrod-partial.json", "jaeger-hotrod.json"}, .n_files = 2,
                   .template_id = JAEGER_TID, .not_found_first = 2};
    dsfx *f = dsfx_start(&o);
    ck_assert_ptr_nonnull(f);
    tbt_datastore *ds = ds_for(JAEGER_DS, dsfx_port(f));
    uint8_t tid[16];
    hex_tid(JAEGER_TID, tid);
    tbt_trace *t = NULL;
    tbt_error err = TBT_ERROR_INIT;
    char want[128];
    snprintf(want, sizeof(want), "jaeger http://127.0.0.1:%u: HTTP 404: the trace is not there (yet)", dsfx_port(f));
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(tbt_datastore_fetch(ds, tid, 0, &t, &err), -ENOENT);
        ck_assert_str_eq(err.msg, want);
    }
    ck_assert_int_eq(tbt_datastore_fetch(ds, tid, 0, &t, &err), 0);
    ck_assert_uint_eq(tbt_trace_span_count(t), 3);
    /* into a store: the second, grown answer adds only the new spans */
    tbt_store *st = tbt_store_new(NULL);
    tbt_watch *w = tbt_store_watch(st, tid);
    tbt_ingest_result ir;
    ck_assert_int_eq(tbt_store_ingest_trace(st, t, &ir, &err), 0);
    ck_assert_uint_eq(ir.accepted, 3);
    ck_assert_int_eq(tbt_datastore_fetch(ds, tid, 0, &t, &err), 0);
    ck_assert_int_eq(tbt_store_ingest_trace(st, t, &ir, &err), 0);
    ck_assert_uint_eq(ir.accepted, 3);
    ck_assert_uint_eq(ir.duplicates, 3);
    ck_assert_int_eq(tbt_datastore_fetch(ds, tid, 0, &t, &err), 0);
    ck_assert_int_eq(tbt_store_ingest_trace(st, t, &ir, &err), 0);
    ck_assert_uint_eq(ir.accepted, 0);
    tbt_watch_info info;
    tbt_trace *snap = tbt_store_snapshot(st, w, 2, &info);
    ck_assert_uint_eq(tbt_trace_span_count(snap), 6);
    ck_assert_str_eq(span_by_id(snap, "7c3a5a4b2f0a1e03")->service, "mysql");
    tbt_trace_free(snap);
    char path[256], accept[128];
    dsfx_last_path(f, path, sizeof(path));
    ck_assert_str_eq(path, "/api/traces/" JAEGER_TID);
    dsfx_last_header(f, "Accept", accept, sizeof(accept));
    ck_assert_str_eq(accept, "application/json");
    ck_assert_uint_eq(dsfx_requests(f), 5);
    /* another trace id: 404 */
    uint8_t other[16];
    memset(other, 0x42, 16);
    ck_assert_int_eq(tbt_datastore_fetch(ds, other, 0, &t, &err), -ENOENT);
    tbt_store_unwatch(st, w);
    tbt_store_free(st);
    tbt_datastore_free(ds);
    dsfx_stop(f);
    tbt_error_clear(&err);
}
END_TEST

START_TEST(fetch_errors)
{
    uint8_t tid[16];
    hex_tid(JAEGER_TID, tid);
    tbt_trace *t = NULL;
    tbt_error err = TBT_ERROR_INIT;
    char want[200];
    /* HTTP 503 */
    dsfx_opts o = {.status = 503};
    dsfx *f = dsfx_start(&o);
    tbt_datastore *ds = ds_for(JAEGER_DS, dsfx_port(f));
    ck_assert_int_eq(tbt_datastore_fetch(ds, tid, 0, &t, &err), -EIO);
    snprintf(want, sizeof(want), "jaeger http://127.0.0.1:%u: HTTP 503", dsfx_port(f));
    ck_assert_str_eq(err.msg, want);
    tbt_datastore_free(ds);
    uint16_t gone = dsfx_port(f);
    dsfx_stop(f);
    /* nothing listening any more */
    ds = ds_for(JAEGER_DS, gone);
    ck_assert_int_eq(tbt_datastore_fetch(ds, tid, 0, &t, &err), -ECONNREFUSED);
    snprintf(want, sizeof(want), "jaeger http://127.0.0.1:%u: connection refused (nothing listening there)", gone);
    ck_assert_str_eq(err.msg, want);
    tbt_datastore_free(ds);
    /* garbage */
    dsfx_opts og = {.files = {"jaeger-hotrod.json"}, .n_files = 1, .garbage = true};
    f = dsfx_start(&og);
    ds = ds_for(JAEGER_DS, dsfx_port(f));
    ck_assert_int_eq(tbt_datastore_fetch(ds, tid, 0, &t, &err), -EINVAL);
    ck_assert_msg(strstr(err.msg, ": invalid Jaeger answer: not JSON (near byte 2 of 20)"), "%s", err.msg);
    tbt_datastore_free(ds);
    dsfx_stop(f);
    /* slow: the request's time limit */
    dsfx_opts os = {.files = {"jaeger-hotrod.json"}, .n_files = 1, .template_id = JAEGER_TID, .delay_ms = 5000};
    f = dsfx_start(&os);
    ds = ds_for(JAEGER_DS, dsfx_port(f));
    uint64_t t0 = tbt_now_mono_ns();
    ck_assert_int_eq(tbt_datastore_fetch(ds, tid, 200000000ull, &t, &err), -ETIMEDOUT);
    ck_assert(tbt_now_mono_ns() - t0 < 2000000000ull);
    snprintf(want, sizeof(want), "jaeger http://127.0.0.1:%u: no answer within 200ms", dsfx_port(f));
    ck_assert_str_eq(err.msg, want);
    tbt_datastore_free(ds);
    dsfx_stop(f);
    /* the HTTP GET's own size bound */
    dsfx_opts ob = {.files = {"jaeger-hotrod.json"}, .n_files = 1, .template_id = JAEGER_TID};
    f = dsfx_start(&ob);
    tbt_ds_http h = {0};
    char *url = tbt_xasprintf("http://127.0.0.1:%u/api/traces/%s", dsfx_port(f), JAEGER_TID);
    tbt_ds_response r;
    ck_assert_int_eq(tbt_ds_http_get(&h, url, NULL, 2000000000ull, 1024, &r, &err), -E2BIG);
    ck_assert_str_eq(err.msg, "the answer is larger than the 1024-byte limit");
    tbt_buf_free(&r.body);
    free(url);
    dsfx_stop(f);
    /* Tracetest's gRPC port: a hint at the HTTP one (nothing is expected
     * to listen on 16685 here; if something does, skip the wording) */
    ds = ds_for("type: DataStore\nspec:\n  type: jaeger\n  jaeger:\n    endpoint: 127.0.0.1:16685%.0u\n", 0);
    int rc = tbt_datastore_fetch(ds, tid, 500000000ull, &t, &err);
    ck_assert_int_ne(rc, 0);
    if (rc == -ECONNREFUSED)
        ck_assert_ptr_nonnull(strstr(err.msg, "(port 16685 is Jaeger's gRPC query port; tbt uses the HTTP query API, "
                                              "the UI's port, 16686 by default)"));
    tbt_datastore_free(ds);
    tbt_error_clear(&err);
}
END_TEST

START_TEST(tempo_fetch_protobuf_with_tenant)
{
    dsfx_opts o = {.files = {"tempo-trace.pb"}, .n_files = 1, .content_type = "application/protobuf",
                   .template_id = TEMPO_TID, .require_org = "team-a"};
    dsfx *f = dsfx_start(&o);
    ck_assert_ptr_nonnull(f);
    tbt_datastore *ds = ds_for(TEMPO_DS, dsfx_port(f));
    uint8_t tid[16];
    hex_tid(TEMPO_TID, tid);
    tbt_trace *t = NULL;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_msg(tbt_datastore_fetch(ds, tid, 0, &t, &err) == 0, "%s", err.msg);
    tbt_trace_finalize(t, NULL);
    check_tempo_trace(t, true);
    tbt_trace_free(t);
    char v[128];
    dsfx_last_header(f, "Accept", v, sizeof(v));
    ck_assert_str_eq(v, "application/protobuf");
    dsfx_last_header(f, "X-Scope-OrgID", v, sizeof(v));
    ck_assert_str_eq(v, "team-a");
    dsfx_last_header(f, "Authorization", v, sizeof(v));
    ck_assert_str_eq(v, "Bearer s3cret");
    tbt_datastore_free(ds);
    /* the wrong tenant: refused, and the message holds no header value */
    ds = ds_for("type: DataStore\nspec:\n  type: tempo\n  tempo:\n    type: http\n    http:\n"
                "      url: http://127.0.0.1:%u\n      headers:\n        X-Scope-OrgID: team-b\n",
                dsfx_port(f));
    ck_assert_int_eq(tbt_datastore_fetch(ds, tid, 0, &t, &err), -EIO);
    char want[128];
    snprintf(want, sizeof(want), "tempo http://127.0.0.1:%u: HTTP 401", dsfx_port(f));
    ck_assert_str_eq(err.msg, want);
    tbt_datastore_free(ds);
    dsfx_stop(f);
    /* JSON answer (older Tempo), and v2 */
    dsfx_opts oj = {.files = {"tempo-trace.json"}, .n_files = 1, .template_id = TEMPO_TID};
    f = dsfx_start(&oj);
    ds = ds_for(TEMPO_DS, dsfx_port(f));
    ck_assert_msg(tbt_datastore_fetch(ds, tid, 0, &t, &err) == 0, "%s", err.msg);
    tbt_trace_finalize(t, NULL);
    check_tempo_trace(t, true);
    tbt_trace_free(t);
    tbt_datastore_free(ds);
    dsfx_stop(f);
    dsfx_opts o2 = {.files = {"tempo-trace-v2.json"}, .n_files = 1, .template_id = TEMPO_TID};
    f = dsfx_start(&o2);
    ds = ds_for("type: DataStore\nspec:\n  type: tempo\n  tempo:\n    type: http\n    apiVersion: v2\n    http:\n"
                "      url: 127.0.0.1:%u\n",
                dsfx_port(f));
    ck_assert_msg(tbt_datastore_fetch(ds, tid, 0, &t, &err) == 0, "%s", err.msg);
    tbt_trace_finalize(t, NULL);
    check_tempo_trace(t, false);
    tbt_trace_free(t);
    dsfx_last_path(f, v, sizeof(v));
    ck_assert_str_eq(v, "/api/v2/traces/" TEMPO_TID);
    tbt_datastore_free(ds);
    dsfx_stop(f);
    tbt_error_clear(&err);
}
END_TEST

/* ---- the agent end to end --------------------------------------------------- */

/* The system under test: answers the trigger, exports nothing (its spans
 * reach tbt only through the backend). */
static enum MHD_Result sut_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                   const char *version, const char *data, size_t *size, void **state)
{
    (void)cls, (void)url, (void)method, (void)version, (void)data;
    if (!*state) {
        *state = (void *)1;
        return MHD_YES;
    }
    *size = 0;
    static const char body[] = "{\"dispatched\":true}";
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

typedef struct agent_run {
    tbt_defs *defs;
    tbt_plan *plan;
    tbt_run_result *rr;
    tbt_test_result *res;
    tbt_vars *vars;
} agent_run;

static void run_with(tbt_agent *a, agent_run *r, const char *yaml)
{
    memset(r, 0, sizeof(*r));
    r->defs = tbt_defs_new();
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_msg(tbt_defs_load_text(r->defs, "t.yaml", yaml, strlen(yaml), &err) == 0, "%s", err.msg);
    tbt_error_list errs = TBT_ERROR_LIST_INIT;
    ck_assert_int_eq(tbt_plan_compile(tbt_defs_find_test(r->defs, "t"), r->defs, &r->plan, &errs), 0);
    r->rr = tbt_run_result_new();
    r->res = tbt_run_result_add(r->rr);
    r->vars = tbt_vars_new();
    tbt_agent_run(a, r->plan, r->vars, r->rr, r->res);
}

static void run_free(agent_run *r)
{
    tbt_plan_free(r->plan);
    tbt_defs_free(r->defs);
    tbt_run_result_free(r->rr);
    tbt_vars_free(r->vars);
}

static tbt_agent *agent_with(const tbt_datastore *ds, bool receivers)
{
    tbt_agent_opts o = tbt_agent_default_opts();
    o.http = o.grpc = receivers;
    o.http_opts.port = o.grpc_opts.port = 0;
    o.quiet_ns = 100000000ull;
    o.datastore = ds;
    tbt_agent *a = NULL;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_msg(tbt_agent_start(&o, &a, &err) == 0, "%s", err.msg);
    return a;
}

START_TEST(agent_traceid_trigger_against_jaeger)
{
    dsfx_opts o = {.files = {"jaeger-hotrod.json"}, .n_files = 1, .template_id = JAEGER_TID, .not_found_first = 1};
    dsfx *f = dsfx_start(&o);
    tbt_datastore *ds = ds_for(JAEGER_DS, dsfx_port(f));
    tbt_agent *a = agent_with(ds, false); /* "instead of": no receiver at all */
    agent_run r;
    run_with(a, &r,
             "type: Test\nspec:\n  id: t\n  name: hotrod\n  trigger:\n    type: traceid\n    traceid:\n"
             "      id: " JAEGER_TID "\n  completion:\n    quietPeriod: 100ms\n    timeout: 20s\n  specs:\n"
             "  - selector: span[name=\"SQL SELECT\" service.name=\"mysql\"]\n    assertions:\n"
             "    - attr:tracetest.selected_spans.count = 1\n    - attr:sql.query contains \"customer_id=123\"\n"
             "  - selector: span[service.name=\"driver\" tracetest.span.status_code=\"STATUS_CODE_ERROR\"]\n"
             "    assertions:\n    - attr:name = \"GetDriver\"\n    - attr:tracetest.span.kind = \"client\"\n"
             "  - selector: span[name=\"HTTP GET /dispatch\"] span[name=\"SQL SELECT\"]\n    assertions:\n"
             "    - attr:tracetest.span.duration < 300ms\n");
    ck_assert_msg(r.res->status == TBT_TEST_PASSED, "%s: %s", tbt_test_status_name(r.res->status),
                  r.res->error ? r.res->error : r.res->completion);
    ck_assert_str_eq(r.res->trace_id, JAEGER_TID);
    ck_assert_uint_eq(r.res->n_spans, 6);
    ck_assert_uint_ge(dsfx_requests(f), 2); /* a 404 first, then the trace */
    run_free(&r);
    /* a failing assertion fails */
    run_with(a, &r,
             "type: Test\nspec:\n  id: t\n  name: hotrod\n  trigger:\n    type: traceid\n    traceid:\n"
             "      id: " JAEGER_TID "\n  completion:\n    quietPeriod: 100ms\n  specs:\n"
             "  - selector: span[name=\"SQL SELECT\"]\n    assertions:\n    - attr:tracetest.selected_spans.count = 2\n");
    ck_assert_int_eq(r.res->status, TBT_TEST_FAILED);
    ck_assert_str_eq(r.res->specs[0].asserts[0].spans[0].observed, "1");
    run_free(&r);
    tbt_agent_stop(a);
    tbt_datastore_free(ds);
    dsfx_stop(f);
}
END_TEST

START_TEST(agent_http_trigger_spans_only_in_the_backend)
{
    struct MHD_Daemon *sut = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
                                              sut_handler, NULL, MHD_OPTION_END);
    uint16_t sut_port = MHD_get_daemon_info(sut, MHD_DAEMON_INFO_BIND_PORT)->port;
    /* the backend knows the run's trace after a while, and it grows */
    dsfx_opts o = {.files = {"jaeger-hotrod-partial.json", "jaeger-hotrod.json"}, .n_files = 2,
                   .template_id = JAEGER_TID, .rewrite = true, .not_found_first = 2};
    dsfx *f = dsfx_start(&o);
    tbt_datastore *ds = ds_for(JAEGER_DS, dsfx_port(f));
    tbt_agent *a = agent_with(ds, true); /* receivers on too: both feed the store */
    agent_run r;
    char *yaml = tbt_xasprintf(
        "type: Test\nspec:\n  id: t\n  name: dispatch\n  trigger:\n    type: http\n    httpRequest:\n"
        "      url: http://127.0.0.1:%u/dispatch\n  completion:\n    quietPeriod: 100ms\n    timeout: 20s\n"
        "  specs:\n  - selector: span[name=\"Tracetest trigger\"]\n    assertions:\n"
        "    - attr:tracetest.response.status = 200\n"
        "  - selector: span[name=\"/driver.DriverService/FindNearest\"]\n    assertions:\n"
        "    - attr:driver.available = \"true\"\n",
        sut_port);
    run_with(a, &r, yaml);
    ck_assert_msg(r.res->status == TBT_TEST_PASSED, "%s: %s", tbt_test_status_name(r.res->status),
                  r.res->error ? r.res->error : r.res->completion);
    ck_assert_uint_eq(r.res->n_spans, 7); /* the trigger span + all six, the second answer's too */
    char path[256];
    dsfx_last_path(f, path, sizeof(path));
    ck_assert_str_eq(path + 12, r.res->trace_id); /* it asked for the run's own trace */
    run_free(&r);
    free(yaml);
    tbt_agent_stop(a);
    tbt_datastore_free(ds);
    dsfx_stop(f);
    MHD_stop_daemon(sut);
}
END_TEST

START_TEST(agent_timeout_names_the_backend_error)
{
    dsfx_opts o = {.status = 503};
    dsfx *f = dsfx_start(&o);
    tbt_datastore *ds = ds_for(JAEGER_DS, dsfx_port(f));
    tbt_agent *a = agent_with(ds, false);
    agent_run r;
    run_with(a, &r,
             "type: Test\nspec:\n  id: t\n  name: hotrod\n  trigger:\n    type: traceid\n    traceid:\n"
             "      id: " JAEGER_TID "\n  completion:\n    quietPeriod: 100ms\n    timeout: 400ms\n  specs:\n"
             "  - selector: span[name=\"SQL SELECT\"]\n    assertions:\n    - attr:tracetest.selected_spans.count = 1\n");
    ck_assert_int_eq(r.res->status, TBT_TEST_ERROR);
    char want[160];
    snprintf(want, sizeof(want), "polls of the trace backend, the last: jaeger http://127.0.0.1:%u: HTTP 503",
             dsfx_port(f));
    ck_assert_msg(strstr(r.res->error, want), "%s", r.res->error);
    ck_assert_ptr_nonnull(strstr(r.res->error, "timed out after 400ms waiting for trace " JAEGER_TID));
    ck_assert_uint_ge(dsfx_requests(f), 3); /* retried every pollInterval */
    run_free(&r);
    tbt_agent_stop(a);
    tbt_datastore_free(ds);
    dsfx_stop(f);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("datastore");
    TCase *tc = tcase_create("datastore");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, parse_jaeger_and_tempo);
    tcase_add_test(tc, parse_errors_point_at_the_fault);
    tcase_add_test(tc, choosing_among_several);
    tcase_add_test(tc, jaeger_mapping);
    tcase_add_test(tc, tempo_mapping_json_protobuf_v2);
    tcase_add_test(tc, jaeger_malformed_and_bounds);
    tcase_add_test(tc, jaeger_not_found_then_found_and_growing);
    tcase_add_test(tc, fetch_errors);
    tcase_add_test(tc, tempo_fetch_protobuf_with_tenant);
    tcase_add_test(tc, agent_traceid_trigger_against_jaeger);
    tcase_add_test(tc, agent_http_trigger_spans_only_in_the_backend);
    tcase_add_test(tc, agent_timeout_names_the_backend_error);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
