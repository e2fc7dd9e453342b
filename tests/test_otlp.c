/* test_otlp.c - OTLP protobuf and OTLP/JSON decoding, encoding, limits,
 * partial rejection, malformed input, and the trace generator. Fixtures live
 * in $TBT_TEST_DATA (tests/data). */
#include "tbt_otlp.h"

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TRACE_HEX "4bf92f3577b34da6a3ce929d0e0e4736"
#define T0 1718000000000000000ull

/* ---- helpers ------------------------------------------------------------ */

static char *data_path(const char *name)
{
    const char *dir = getenv("TBT_TEST_DATA");
    return tbt_xasprintf("%s/%s", dir ? dir : "tests/data", name);
}

static char *slurp(const char *name, size_t *len)
{
    char *path = data_path(name);
    char *data = NULL;
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_read_file(path, (size_t)64 << 20, &data, len, &err);
    ck_assert_msg(rc == 0, "%s", err.msg ? err.msg : "read failed");
    free(path);
    return data;
}

/* Decode text into a fresh trace; the trace is finalized when rc == 0. */
static tbt_trace *decode(tbt_otlp_format fmt, const void *buf, size_t len, const tbt_otlp_limits *lim, int *rc,
                         tbt_otlp_stats *st, tbt_error *err)
{
    tbt_trace *t = tbt_trace_new();
    *rc = tbt_otlp_decode(t, fmt, buf, len, lim, st, err);
    if (*rc == 0)
        tbt_trace_finalize(t, NULL);
    return t;
}

static tbt_trace *decode_json_ok(const char *json, tbt_otlp_stats *st)
{
    int rc;
    tbt_error err = TBT_ERROR_INIT;
    tbt_trace *t = decode(TBT_OTLP_JSON, json, strlen(json), NULL, &rc, st, &err);
    ck_assert_msg(rc == 0, "decode failed: %s", err.msg ? err.msg : "?");
    tbt_error_clear(&err);
    return t;
}

/* Expect a decode error; returns the message (caller frees). */
static char *decode_err(tbt_otlp_format fmt, const void *buf, size_t len, const tbt_otlp_limits *lim, int want,
                        tbt_error *keep)
{
    int rc;
    tbt_error err = TBT_ERROR_INIT;
    tbt_trace *t = decode(fmt, buf, len, lim, &rc, NULL, &err);
    ck_assert_msg(rc == want, "rc %d, want %d (%s)", rc, want, err.msg ? err.msg : "no message");
    ck_assert_ptr_nonnull(err.msg);
    char *m = tbt_xstrdup(err.msg);
    if (keep)
        tbt_error_move(keep, &err);
    tbt_error_clear(&err);
    tbt_trace_free(t);
    return m;
}

static tbt_span *span_by_id(tbt_trace *t, const char *trace_hex, const char *span_hex)
{
    uint8_t tid[16], sid[8];
    ck_assert_int_eq(tbt_hex_decode(trace_hex, strlen(trace_hex), tid, 16), 0);
    ck_assert_int_eq(tbt_hex_decode(span_hex, strlen(span_hex), sid, 8), 0);
    tbt_span *s = tbt_trace_find(t, tid, sid);
    ck_assert_msg(s != NULL, "span %s not found", span_hex);
    return s;
}

static const tbt_value *kv_get(const tbt_kv *kv, size_t n, const char *key)
{
    const tbt_value *v = tbt_kv_find(kv, n, key);
    ck_assert_msg(v != NULL, "attribute %s missing", key);
    return v;
}

static void assert_str(const tbt_value *v, const char *want)
{
    ck_assert_int_eq(v->type, TBT_V_STRING);
    ck_assert_uint_eq(v->u.s.len, strlen(want));
    ck_assert_str_eq(v->u.s.ptr, want);
}

static void assert_int(const tbt_value *v, int64_t want)
{
    ck_assert_int_eq(v->type, TBT_V_INT);
    ck_assert_int_eq(v->u.i, want);
}

static void assert_attr_text(tbt_trace *t, tbt_span *s, const char *key, const char *want)
{
    tbt_value v;
    ck_assert_msg(tbt_span_attr(t, s, key, &v), "tbt_span_attr(%s) not found", key);
    tbt_buf b = TBT_BUF_INIT;
    tbt_value_to_text(&v, &b);
    ck_assert_msg(strcmp(tbt_buf_cstr(&b), want) == 0, "%s = '%s', want '%s'", key, tbt_buf_cstr(&b), want);
    tbt_buf_free(&b);
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* ---- deep comparison (round trips) ------------------------------------- */

static bool value_eq(const tbt_value *a, const tbt_value *b);

static bool kvs_eq(const tbt_kv *a, size_t na, const tbt_kv *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(nz(a[i].key), nz(b[i].key)) != 0 || !value_eq(&a[i].value, &b[i].value))
            return false;
    return true;
}

static bool value_eq(const tbt_value *a, const tbt_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case TBT_V_EMPTY: return true;
    case TBT_V_STRING:
    case TBT_V_BYTES: return a->u.s.len == b->u.s.len && memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0;
    case TBT_V_BOOL: return a->u.b == b->u.b;
    case TBT_V_INT: return a->u.i == b->u.i;
    case TBT_V_DOUBLE: return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0 || (isnan(a->u.d) && isnan(b->u.d));
    case TBT_V_ARRAY:
        if (a->u.arr.n != b->u.arr.n)
            return false;
        for (size_t i = 0; i < a->u.arr.n; i++)
            if (!value_eq(&a->u.arr.items[i], &b->u.arr.items[i]))
                return false;
        return true;
    case TBT_V_KVLIST: return kvs_eq(a->u.kv.items, a->u.kv.n, b->u.kv.items, b->u.kv.n);
    }
    return false;
}

static void assert_same_resource(const tbt_resource *a, const tbt_resource *b)
{
    static const tbt_resource empty;
    a = a ? a : &empty;
    b = b ? b : &empty;
    ck_assert(kvs_eq(a->attrs, a->n_attrs, b->attrs, b->n_attrs));
    ck_assert_uint_eq(a->dropped_attrs, b->dropped_attrs);
    ck_assert_str_eq(nz(a->schema_url), nz(b->schema_url));
}

static void assert_same_scope(const tbt_scope *a, const tbt_scope *b)
{
    static const tbt_scope empty;
    a = a ? a : &empty;
    b = b ? b : &empty;
    ck_assert_str_eq(nz(a->name), nz(b->name));
    ck_assert_str_eq(nz(a->version), nz(b->version));
    ck_assert(kvs_eq(a->attrs, a->n_attrs, b->attrs, b->n_attrs));
    ck_assert_uint_eq(a->dropped_attrs, b->dropped_attrs);
    ck_assert_str_eq(nz(a->schema_url), nz(b->schema_url));
}

static void assert_same_trace(tbt_trace *a, tbt_trace *b)
{
    ck_assert_uint_eq(tbt_trace_span_count(a), tbt_trace_span_count(b));
    for (size_t i = 0; i < tbt_trace_span_count(a); i++) {
        const tbt_span *x = tbt_trace_span_at(a, i);
        const tbt_span *y = tbt_trace_find(b, x->trace_id, x->span_id);
        ck_assert_msg(y != NULL, "span %s lost", x->span_id_hex);
        ck_assert_uint_eq(x->order, y->order);
        ck_assert(memcmp(x->parent_id, y->parent_id, 8) == 0);
        ck_assert_str_eq(nz(x->name), nz(y->name));
        ck_assert_str_eq(nz(x->trace_state), nz(y->trace_state));
        ck_assert_int_eq(x->kind, y->kind);
        ck_assert_uint_eq(x->start_ns, y->start_ns);
        ck_assert_uint_eq(x->end_ns, y->end_ns);
        ck_assert_int_eq(x->status_code, y->status_code);
        ck_assert_str_eq(nz(x->status_message), nz(y->status_message));
        ck_assert_uint_eq(x->flags, y->flags);
        ck_assert_uint_eq(x->dropped_attrs, y->dropped_attrs);
        ck_assert_uint_eq(x->dropped_events, y->dropped_events);
        ck_assert_uint_eq(x->dropped_links, y->dropped_links);
        ck_assert_msg(kvs_eq(x->attrs, x->n_attrs, y->attrs, y->n_attrs), "attributes of %s differ", x->span_id_hex);
        ck_assert_uint_eq(x->n_events, y->n_events);
        for (size_t k = 0; k < x->n_events; k++) {
            ck_assert_uint_eq(x->events[k].time_ns, y->events[k].time_ns);
            ck_assert_str_eq(nz(x->events[k].name), nz(y->events[k].name));
            ck_assert_uint_eq(x->events[k].dropped_attrs, y->events[k].dropped_attrs);
            ck_assert(kvs_eq(x->events[k].attrs, x->events[k].n_attrs, y->events[k].attrs, y->events[k].n_attrs));
        }
        ck_assert_uint_eq(x->n_links, y->n_links);
        for (size_t k = 0; k < x->n_links; k++) {
            const tbt_link *p = &x->links[k], *q = &y->links[k];
            ck_assert(memcmp(p->trace_id, q->trace_id, 16) == 0);
            ck_assert(memcmp(p->span_id, q->span_id, 8) == 0);
            ck_assert_str_eq(nz(p->trace_state), nz(q->trace_state));
            ck_assert_uint_eq(p->flags, q->flags);
            ck_assert_uint_eq(p->dropped_attrs, q->dropped_attrs);
            ck_assert(kvs_eq(p->attrs, p->n_attrs, q->attrs, q->n_attrs));
        }
        assert_same_resource(x->resource, y->resource);
        assert_same_scope(x->scope, y->scope);
        ck_assert_str_eq(x->service, y->service);
        ck_assert_str_eq(x->type, y->type);
    }
}

/* ---- a tiny protobuf writer for hand-made wire input ------------------- */

static void w_varint(tbt_buf *b, uint64_t v)
{
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        tbt_buf_putc(b, (char)(c | (v ? 0x80 : 0)));
    } while (v);
}

static void w_tag(tbt_buf *b, unsigned num, unsigned wt)
{
    w_varint(b, (uint64_t)num << 3 | wt);
}

static void w_bytes(tbt_buf *b, unsigned num, const void *p, size_t n)
{
    w_tag(b, num, 2);
    w_varint(b, n);
    tbt_buf_append(b, p, n);
}

static void w_msg(tbt_buf *b, unsigned num, const tbt_buf *m)
{
    w_bytes(b, num, m->data ? m->data : "", m->len);
}

/* request { resource_spans { scope_spans { spans: span } } } */
static void w_wrap_span(tbt_buf *out, const tbt_buf *span)
{
    tbt_buf ss = TBT_BUF_INIT, rs = TBT_BUF_INIT;
    w_msg(&ss, 2, span);
    w_msg(&rs, 2, &ss);
    w_msg(out, 1, &rs);
    tbt_buf_free(&ss);
    tbt_buf_free(&rs);
}

static const uint8_t TID[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const uint8_t SID[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};

/* ---- the checkout fixture ---------------------------------------------- */

static void check_checkout(tbt_trace *t)
{
    ck_assert_uint_eq(tbt_trace_span_count(t), 8);
    ck_assert_uint_eq(tbt_trace_id_count(t), 1);

    /* root: api-gateway POST /checkout */
    tbt_span *root = tbt_trace_span_at(t, 0);
    ck_assert_str_eq(root->name, "POST /checkout");
    ck_assert_str_eq(root->trace_id_hex, TRACE_HEX);
    ck_assert_str_eq(root->span_id_hex, "e457b5a2e4d86bd1");
    ck_assert_str_eq(root->parent_id_hex, "");
    ck_assert_ptr_null(root->parent);
    ck_assert_ptr_null(root->trace_state);
    ck_assert_int_eq(root->kind, TBT_KIND_SERVER);
    ck_assert_uint_eq(root->start_ns, T0);
    ck_assert_uint_eq(root->end_ns, T0 + 187400000);
    ck_assert_uint_eq(root->flags, 769);
    ck_assert_int_eq(root->status_code, TBT_STATUS_UNSET);
    ck_assert_ptr_null(root->status_message);
    ck_assert_str_eq(root->service, "api-gateway");
    ck_assert_str_eq(root->type, "http");
    ck_assert_uint_eq(root->n_attrs, 11);
    assert_str(kv_get(root->attrs, root->n_attrs, "http.request.method"), "POST");
    assert_str(kv_get(root->attrs, root->n_attrs, "http.route"), "/checkout");
    assert_int(kv_get(root->attrs, root->n_attrs, "http.response.status_code"), 200);
    assert_int(kv_get(root->attrs, root->n_attrs, "server.port"), 8080);
    ck_assert_uint_eq(root->n_events, 0);
    ck_assert_uint_eq(root->n_links, 0);
    ck_assert_uint_eq(root->n_children, 1);

    /* resource and scope */
    const tbt_resource *r = root->resource;
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->n_attrs, 10);
    assert_str(kv_get(r->attrs, r->n_attrs, "service.name"), "api-gateway");
    assert_str(kv_get(r->attrs, r->n_attrs, "service.version"), "1.8.0");
    assert_str(kv_get(r->attrs, r->n_attrs, "telemetry.sdk.language"), "nodejs");
    assert_int(kv_get(r->attrs, r->n_attrs, "process.pid"), 1);
    ck_assert_str_eq(r->schema_url, "https://opentelemetry.io/schemas/1.24.0");
    ck_assert_str_eq(root->scope->name, "@opentelemetry/instrumentation-http");
    ck_assert_str_eq(root->scope->version, "0.52.1");
    ck_assert_uint_eq(root->scope->n_attrs, 0);

    /* meta attributes */
    assert_attr_text(t, root, "tracetest.span.name", "POST /checkout");
    assert_attr_text(t, root, "tracetest.span.type", "http");
    assert_attr_text(t, root, "tracetest.span.duration", "187400000");
    assert_attr_text(t, root, "tracetest.span.start_time", "1718000000000000000");
    assert_attr_text(t, root, "tracetest.span.end_time", "1718000000187400000");
    assert_attr_text(t, root, "tracetest.span.parent_id", "");
    assert_attr_text(t, root, "tracetest.span.id", "e457b5a2e4d86bd1");
    assert_attr_text(t, root, "tracetest.span.trace_id", TRACE_HEX);
    assert_attr_text(t, root, "tracetest.span.status_code", "STATUS_CODE_UNSET");
    assert_attr_text(t, root, "tracetest.span.status_description", "");
    assert_attr_text(t, root, "tracetest.span.kind", "server");
    assert_attr_text(t, root, "service.name", "api-gateway");
    assert_attr_text(t, root, "otel.scope.name", "@opentelemetry/instrumentation-http");
    assert_attr_text(t, root, "otel.scope.version", "0.52.1");
    assert_attr_text(t, root, "http.response.status_code", "200");

    /* client span to order-service */
    tbt_span *c1 = span_by_id(t, TRACE_HEX, "7d9f2c4a61b0e8f3");
    ck_assert_ptr_eq(c1->parent, root);
    ck_assert_str_eq(c1->name, "POST");
    ck_assert_int_eq(c1->kind, TBT_KIND_CLIENT);
    ck_assert_uint_eq(c1->flags, 257);
    ck_assert_ptr_eq(c1->resource, root->resource); /* shared by its ResourceSpans */
    ck_assert_ptr_eq(c1->scope, root->scope);
    assert_str(kv_get(c1->attrs, c1->n_attrs, "url.full"), "http://order-service:8081/orders");
    assert_int(kv_get(c1->attrs, c1->n_attrs, "http.response.status_code"), 201);
    assert_attr_text(t, c1, "tracetest.span.parent_id", "e457b5a2e4d86bd1");
    assert_attr_text(t, c1, "tracetest.span.kind", "client");

    /* order-service: server span and its children in start order */
    tbt_span *orders = span_by_id(t, TRACE_HEX, "3c1a9e5b7f2d4068");
    ck_assert_ptr_eq(orders->parent, c1);
    ck_assert_str_eq(orders->name, "POST /orders");
    ck_assert_str_eq(orders->service, "order-service");
    ck_assert_uint_eq(orders->depth, 2);
    ck_assert_uint_eq(orders->n_children, 2);
    tbt_span *db = orders->children[0];
    ck_assert_str_eq(db->span_id_hex, "9b8e7d6c5a4f3e21");
    ck_assert_str_eq(db->name, "pg.query:INSERT orders");
    ck_assert_int_eq(db->kind, TBT_KIND_CLIENT);
    ck_assert_str_eq(db->type, "database");
    ck_assert_ptr_eq(db->resource, orders->resource);
    ck_assert_ptr_ne(db->scope, orders->scope);
    ck_assert_str_eq(db->scope->name, "@opentelemetry/instrumentation-pg");
    assert_str(kv_get(db->attrs, db->n_attrs, "db.system"), "postgresql");
    assert_str(kv_get(db->attrs, db->n_attrs, "db.statement"),
               "INSERT INTO orders (id, customer_id, total, currency) VALUES ($1, $2, $3, $4)");
    assert_attr_text(t, db, "tracetest.span.type", "database");
    assert_attr_text(t, db, "tracetest.span.duration", "12700000");
    assert_attr_text(t, db, "service.name", "order-service");
    assert_attr_text(t, db, "otel.scope.version", "0.43.0");
    tbt_span *c2 = orders->children[1];
    ck_assert_str_eq(c2->span_id_hex, "51c3a7e9b2d4f680");
    assert_str(kv_get(c2->attrs, c2->n_attrs, "server.address"), "payment-service");

    /* payment-service */
    tbt_span *pay = span_by_id(t, TRACE_HEX, "a6f0b3c8d1e2f475");
    ck_assert_ptr_eq(pay->parent, c2);
    ck_assert_str_eq(pay->name, "POST /payments");
    ck_assert_str_eq(pay->service, "payment-service");
    assert_int(kv_get(pay->attrs, pay->n_attrs, "http.response.status_code"), 200);

    tbt_span *proc = span_by_id(t, TRACE_HEX, "0f1e2d3c4b5a6978");
    ck_assert_ptr_eq(proc->parent, pay);
    ck_assert_str_eq(proc->name, "process payment");
    ck_assert_int_eq(proc->kind, TBT_KIND_INTERNAL);
    ck_assert_int_eq(proc->status_code, TBT_STATUS_OK);
    ck_assert_str_eq(proc->type, "general");
    ck_assert_str_eq(proc->scope->name, "payment-service");
    ck_assert_str_eq(proc->scope->version, "1.2.0");
    assert_str(kv_get(proc->scope->attrs, proc->scope->n_attrs, "instrumentation.kind"), "manual");
    assert_attr_text(t, proc, "instrumentation.kind", "manual"); /* scope attribute fallback */
    assert_attr_text(t, proc, "tracetest.span.status_code", "STATUS_CODE_OK");
    assert_attr_text(t, proc, "tracetest.span.kind", "internal");
    const tbt_value *amount = kv_get(proc->attrs, proc->n_attrs, "payment.amount");
    ck_assert_int_eq(amount->type, TBT_V_DOUBLE);
    ck_assert(amount->u.d == 99.99);
    assert_attr_text(t, proc, "payment.amount", "99.99");
    assert_str(kv_get(proc->attrs, proc->n_attrs, "payment.currency"), "EUR");
    const tbt_value *tds = kv_get(proc->attrs, proc->n_attrs, "payment.3ds");
    ck_assert_int_eq(tds->type, TBT_V_BOOL);
    ck_assert(tds->u.b);
    assert_int(kv_get(proc->attrs, proc->n_attrs, "payment.attempt"), 1);
    const tbt_value *items = kv_get(proc->attrs, proc->n_attrs, "payment.items");
    ck_assert_int_eq(items->type, TBT_V_ARRAY);
    ck_assert_uint_eq(items->u.arr.n, 2);
    assert_str(&items->u.arr.items[0], "sku-1001");
    assert_str(&items->u.arr.items[1], "sku-2002");
    assert_attr_text(t, proc, "payment.items", "[\"sku-1001\",\"sku-2002\"]");
    const tbt_value *cust = kv_get(proc->attrs, proc->n_attrs, "payment.customer");
    ck_assert_int_eq(cust->type, TBT_V_KVLIST);
    ck_assert_uint_eq(cust->u.kv.n, 4);
    assert_str(kv_get(cust->u.kv.items, cust->u.kv.n, "id"), "c-1001");
    assert_str(kv_get(cust->u.kv.items, cust->u.kv.n, "tier"), "gold");
    assert_int(kv_get(cust->u.kv.items, cust->u.kv.n, "orders"), 12);
    const tbt_value *tags = kv_get(cust->u.kv.items, cust->u.kv.n, "tags");
    ck_assert_int_eq(tags->type, TBT_V_ARRAY);
    ck_assert_uint_eq(tags->u.arr.n, 3);
    assert_str(&tags->u.arr.items[0], "vip");
    ck_assert_int_eq(tags->u.arr.items[1].type, TBT_V_BOOL);
    ck_assert(tags->u.arr.items[1].u.b);
    ck_assert_int_eq(tags->u.arr.items[2].type, TBT_V_DOUBLE);
    ck_assert(tags->u.arr.items[2].u.d == 0.5);
    const tbt_value *tok = kv_get(proc->attrs, proc->n_attrs, "payment.token");
    ck_assert_int_eq(tok->type, TBT_V_BYTES);
    ck_assert_uint_eq(tok->u.s.len, 4);
    ck_assert(memcmp(tok->u.s.ptr, "\xde\xad\xbe\xef", 4) == 0);
    assert_attr_text(t, proc, "payment.token", "3q2+7w==");
    ck_assert_uint_eq(proc->n_events, 2);
    ck_assert_str_eq(proc->events[0].name, "fraud-check.fallback");
    ck_assert_uint_eq(proc->events[0].time_ns, T0 + 121000000);
    assert_str(kv_get(proc->events[0].attrs, proc->events[0].n_attrs, "fallback.rule"), "allow-below-100");
    ck_assert_str_eq(proc->events[1].name, "payment.authorized");
    ck_assert_uint_eq(proc->events[1].time_ns, T0 + 172000000);
    assert_str(kv_get(proc->events[1].attrs, proc->events[1].n_attrs, "auth.code"), "A1B2C3");
    ck_assert_uint_eq(proc->n_links, 1);
    const tbt_link *l = &proc->links[0];
    char hex[33];
    tbt_hex_encode(l->trace_id, 16, hex);
    ck_assert_str_eq(hex, "0af7651916cd43dd8448eb211c80319c");
    tbt_hex_encode(l->span_id, 8, hex);
    ck_assert_str_eq(hex, "b7ad6b7169203331");
    ck_assert_str_eq(l->trace_state, "rojo=00f067aa0ba902b7");
    ck_assert_uint_eq(l->flags, 1);
    assert_str(kv_get(l->attrs, l->n_attrs, "link.reason"), "cart-session");
    tbt_value ev;
    ck_assert(tbt_span_attr(t, proc, "span.events", &ev));
    ck_assert_ptr_nonnull(strstr(ev.u.s.ptr, "\"payment.authorized\""));

    /* the failing fraud check: error status and an exception event */
    tbt_span *fraud = span_by_id(t, TRACE_HEX, "c4d5e6f708192a3b");
    ck_assert_ptr_eq(fraud->parent, proc);
    ck_assert_uint_eq(fraud->depth, 6);
    ck_assert_str_eq(fraud->name, "GET");
    ck_assert_int_eq(fraud->status_code, TBT_STATUS_ERROR);
    ck_assert_str_eq(fraud->status_message, "503 Service Unavailable");
    assert_attr_text(t, fraud, "tracetest.span.status_code", "STATUS_CODE_ERROR");
    assert_attr_text(t, fraud, "tracetest.span.status_description", "503 Service Unavailable");
    assert_int(kv_get(fraud->attrs, fraud->n_attrs, "http.response.status_code"), 503);
    ck_assert_uint_eq(fraud->n_events, 1);
    const tbt_event *ex = &fraud->events[0];
    ck_assert_str_eq(ex->name, "exception");
    ck_assert_uint_eq(ex->time_ns, T0 + 119800000);
    assert_str(kv_get(ex->attrs, ex->n_attrs, "exception.type"), "Error");
    assert_str(kv_get(ex->attrs, ex->n_attrs, "exception.message"), "fraud-check upstream returned 503");
    const tbt_value *st = kv_get(ex->attrs, ex->n_attrs, "exception.stacktrace");
    ck_assert_ptr_nonnull(strstr(st->u.s.ptr, "\n    at scoreCustomer"));
    const tbt_value *esc = kv_get(ex->attrs, ex->n_attrs, "exception.escaped");
    ck_assert_int_eq(esc->type, TBT_V_BOOL);
    ck_assert(!esc->u.b);
}

START_TEST(test_checkout_json)
{
    char *path = data_path("checkout.otlp.json");
    tbt_trace *t = NULL;
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_otlp_load_file(path, &t, &err);
    ck_assert_msg(rc == 0, "%s", err.msg ? err.msg : "?");
    check_checkout(t);
    tbt_trace_free(t);
    free(path);
}
END_TEST

START_TEST(test_checkout_pb)
{
    char *path = data_path("checkout.otlp.pb");
    tbt_trace *t = NULL;
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_otlp_load_file(path, &t, &err);
    ck_assert_msg(rc == 0, "%s", err.msg ? err.msg : "?");
    check_checkout(t);
    tbt_trace_free(t);
    free(path);
}
END_TEST

/* checkout.otlp.pb is the encoder's output for checkout.otlp.json. With
 * TBT_REGEN_FIXTURES=1 the test rewrites it. */
START_TEST(test_checkout_pb_is_encoding_of_json)
{
    size_t jlen, plen;
    char *json = slurp("checkout.otlp.json", &jlen);
    int rc;
    tbt_trace *t = decode(TBT_OTLP_JSON, json, jlen, NULL, &rc, NULL, NULL);
    ck_assert_int_eq(rc, 0);
    tbt_buf b = TBT_BUF_INIT;
    ck_assert_int_eq(tbt_otlp_encode(t, TBT_OTLP_PROTOBUF, &b), 0);
    if (getenv("TBT_REGEN_FIXTURES")) {
        char *path = data_path("checkout.otlp.pb");
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(b.data, 1, b.len, f), b.len);
        fclose(f);
        free(path);
    }
    char *pb = slurp("checkout.otlp.pb", &plen);
    ck_assert_uint_eq(b.len, plen);
    ck_assert(memcmp(b.data, pb, plen) == 0);
    tbt_buf_free(&b);
    tbt_trace_free(t);
    free(json);
    free(pb);
}
END_TEST

/* ---- protoc-c cross-checks ---------------------------------------------- */

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest pb_request;

START_TEST(test_protoc_c_reads_our_encoding)
{
    tbt_trace *t = tbt_otlp_generate(500, 11);
    tbt_buf b = TBT_BUF_INIT;
    tbt_otlp_encode(t, TBT_OTLP_PROTOBUF, &b);
    pb_request *req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        NULL, b.len, (const uint8_t *)b.data);
    ck_assert_ptr_nonnull(req);
    size_t spans = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++) {
        const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[i];
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[j];
            for (size_t k = 0; k < ss->n_spans; k++, spans++) {
                const Opentelemetry__Proto__Trace__V1__Span *p = ss->spans[k];
                ck_assert_uint_eq(p->trace_id.len, 16);
                ck_assert_uint_eq(p->span_id.len, 8);
                const tbt_span *s = tbt_trace_find(t, p->trace_id.data, p->span_id.data);
                ck_assert_ptr_nonnull(s);
                ck_assert_str_eq(p->name, s->name);
                ck_assert_int_eq((int)p->kind, (int)s->kind);
                ck_assert_uint_eq(p->start_time_unix_nano, s->start_ns);
                ck_assert_uint_eq(p->end_time_unix_nano, s->end_ns);
                ck_assert_uint_eq(p->flags, s->flags);
                ck_assert_uint_eq(p->n_attributes, s->n_attrs);
                ck_assert_uint_eq(p->n_events, s->n_events);
                ck_assert_uint_eq(p->n_links, s->n_links);
                ck_assert_int_eq(p->status ? (int)p->status->code : 0, (int)s->status_code);
                const Opentelemetry__Proto__Common__V1__KeyValue *kv0 = p->attributes[0];
                ck_assert_str_eq(kv0->key, s->attrs[0].key);
                if (s->attrs[0].value.type == TBT_V_STRING)
                    ck_assert_str_eq(kv0->value->string_value, s->attrs[0].value.u.s.ptr);
                ck_assert_ptr_nonnull(rs->resource);
                ck_assert_uint_eq(rs->resource->n_attributes, s->resource->n_attrs);
                ck_assert_str_eq(ss->scope->name, s->scope->name);
            }
        }
    }
    ck_assert_uint_eq(spans, 500);

    /* And back: protoc-c's encoding of the same message decodes to the same
     * trace. */
    size_t n = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(req);
    uint8_t *packed = malloc(n);
    ck_assert_uint_eq(opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(req, packed), n);
    int rc;
    tbt_trace *t2 = decode(TBT_OTLP_PROTOBUF, packed, n, NULL, &rc, NULL, NULL);
    ck_assert_int_eq(rc, 0);
    assert_same_trace(t, t2);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
    free(packed);
    tbt_buf_free(&b);
    tbt_trace_free(t);
    tbt_trace_free(t2);
}
END_TEST

/* A message built with protoc-c's structs: every AnyValue kind, nested. */
START_TEST(test_we_read_protoc_c_message)
{
    Opentelemetry__Proto__Common__V1__AnyValue s1 = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
                                               i1 = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
                                               d1 = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
                                               b1 = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
                                               y1 = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
                                               a1 = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
                                               k1 = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
                                               e1 = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    s1.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    s1.string_value = "héllo";
    i1.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    i1.int_value = INT64_MIN;
    d1.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
    d1.double_value = -1.5e-300;
    b1.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
    b1.bool_value = 0; /* a set oneof member keeps its type even at the default value */
    y1.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE;
    y1.bytes_value.data = (uint8_t *)"\0\1\2";
    y1.bytes_value.len = 3;
    Opentelemetry__Proto__Common__V1__AnyValue *arr_items[] = {&s1, &i1, &e1};
    Opentelemetry__Proto__Common__V1__ArrayValue arr = OPENTELEMETRY__PROTO__COMMON__V1__ARRAY_VALUE__INIT;
    arr.n_values = 3;
    arr.values = arr_items;
    a1.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
    a1.array_value = &arr;
    Opentelemetry__Proto__Common__V1__KeyValue in1 = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT,
                                               in2 = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    in1.key = "nested";
    in1.value = &a1;
    in2.key = "d";
    in2.value = &d1;
    Opentelemetry__Proto__Common__V1__KeyValue *kl_items[] = {&in1, &in2};
    Opentelemetry__Proto__Common__V1__KeyValueList kl = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE_LIST__INIT;
    kl.n_values = 2;
    kl.values = kl_items;
    k1.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
    k1.kvlist_value = &kl;
    Opentelemetry__Proto__Common__V1__KeyValue kvs[6];
    Opentelemetry__Proto__Common__V1__AnyValue *vals[6] = {&s1, &i1, &d1, &b1, &y1, &k1};
    const char *keys[6] = {"s", "i", "d", "b", "y", "k"};
    Opentelemetry__Proto__Common__V1__KeyValue *kvp[6];
    for (int i = 0; i < 6; i++) {
        Opentelemetry__Proto__Common__V1__KeyValue init = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
        kvs[i] = init;
        kvs[i].key = (char *)keys[i];
        kvs[i].value = vals[i];
        kvp[i] = &kvs[i];
    }
    Opentelemetry__Proto__Trace__V1__Status status = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
    status.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    status.message = "boom";
    Opentelemetry__Proto__Trace__V1__Span span = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
    span.trace_id.data = (uint8_t *)TID;
    span.trace_id.len = 16;
    span.span_id.data = (uint8_t *)SID;
    span.span_id.len = 8;
    span.name = "op";
    span.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_PRODUCER;
    span.start_time_unix_nano = UINT64_MAX - 1;
    span.end_time_unix_nano = UINT64_MAX;
    span.n_attributes = 6;
    span.attributes = kvp;
    span.dropped_attributes_count = 7;
    span.dropped_events_count = 8;
    span.dropped_links_count = UINT32_MAX;
    span.flags = 0x301;
    span.trace_state = "a=b";
    span.status = &status;
    Opentelemetry__Proto__Trace__V1__Span *spans[] = {&span};
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ss.n_spans = 1;
    ss.spans = spans;
    ss.schema_url = "https://s";
    Opentelemetry__Proto__Trace__V1__ScopeSpans *sss[] = {&ss};
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    rs.n_scope_spans = 1;
    rs.scope_spans = sss;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rss[] = {&rs};
    pb_request req = OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req.n_resource_spans = 1;
    req.resource_spans = rss;
    size_t n = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&req);
    uint8_t *buf = malloc(n);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, buf);

    int rc;
    tbt_trace *t = decode(TBT_OTLP_PROTOBUF, buf, n, NULL, &rc, NULL, NULL);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(tbt_trace_span_count(t), 1);
    tbt_span *s = tbt_trace_span_at(t, 0);
    ck_assert_str_eq(s->name, "op");
    ck_assert_int_eq(s->kind, TBT_KIND_PRODUCER);
    ck_assert_uint_eq(s->start_ns, UINT64_MAX - 1);
    ck_assert_uint_eq(s->end_ns, UINT64_MAX);
    ck_assert_uint_eq(s->dropped_attrs, 7);
    ck_assert_uint_eq(s->dropped_events, 8);
    ck_assert_uint_eq(s->dropped_links, UINT32_MAX);
    ck_assert_uint_eq(s->flags, 0x301);
    ck_assert_str_eq(s->trace_state, "a=b");
    ck_assert_int_eq(s->status_code, TBT_STATUS_ERROR);
    ck_assert_str_eq(s->status_message, "boom");
    ck_assert_str_eq(s->scope->schema_url, "https://s");
    ck_assert_ptr_null(s->scope->name);
    ck_assert_uint_eq(s->resource->n_attrs, 0);
    assert_str(kv_get(s->attrs, s->n_attrs, "s"), "héllo");
    assert_int(kv_get(s->attrs, s->n_attrs, "i"), INT64_MIN);
    const tbt_value *d = kv_get(s->attrs, s->n_attrs, "d");
    ck_assert_int_eq(d->type, TBT_V_DOUBLE);
    ck_assert(d->u.d == -1.5e-300);
    const tbt_value *b = kv_get(s->attrs, s->n_attrs, "b");
    ck_assert_int_eq(b->type, TBT_V_BOOL);
    ck_assert(!b->u.b);
    const tbt_value *y = kv_get(s->attrs, s->n_attrs, "y");
    ck_assert_int_eq(y->type, TBT_V_BYTES);
    ck_assert_uint_eq(y->u.s.len, 3);
    ck_assert(memcmp(y->u.s.ptr, "\0\1\2", 3) == 0);
    const tbt_value *k = kv_get(s->attrs, s->n_attrs, "k");
    ck_assert_int_eq(k->type, TBT_V_KVLIST);
    const tbt_value *nested = kv_get(k->u.kv.items, k->u.kv.n, "nested");
    ck_assert_int_eq(nested->type, TBT_V_ARRAY);
    ck_assert_uint_eq(nested->u.arr.n, 3);
    assert_str(&nested->u.arr.items[0], "héllo");
    assert_int(&nested->u.arr.items[1], INT64_MIN);
    ck_assert_int_eq(nested->u.arr.items[2].type, TBT_V_EMPTY);
    assert_attr_text(t, s, "k", "{\"nested\":[\"héllo\",-9223372036854775808,null],\"d\":-1.5e-300}");

    /* Our encoding of it equals protoc-c's byte for byte (same field order,
     * minimal lengths, defaults omitted). */
    tbt_buf out = TBT_BUF_INIT;
    tbt_otlp_encode(t, TBT_OTLP_PROTOBUF, &out);
    ck_assert_uint_eq(out.len, n);
    ck_assert(memcmp(out.data, buf, n) == 0);
    tbt_buf_free(&out);
    tbt_trace_free(t);
    free(buf);
}
END_TEST

/* ---- JSON variants ------------------------------------------------------- */

START_TEST(test_json_variants)
{
    /* snake_case keys, upper-case hex, enum names, big integers as numbers,
     * NaN/Infinity doubles, nulls and unknown keys. */
    const char *json =
        "{\"resource_spans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"string_value\":"
        "\"svc\"}}],\"dropped_attributes_count\":\"3\",\"entityRefs\":[]},\"schema_url\":\"u\",\"extra\":{\"a\":[1,{}]},"
        "\"scope_spans\":[{\"scope\":{\"name\":\"sc\",\"version\":null,\"dropped_attributes_count\":1},"
        "\"spans\":[{\"trace_id\":\"4BF92F3577B34DA6A3CE929D0E0E4736\",\"span_id\":\"00F067AA0BA902B7\","
        "\"parent_span_id\":\"\",\"name\":\"n\",\"kind\":\"SPAN_KIND_CONSUMER\",\"start_time_unix_nano\":"
        "1718000000000000123,\"endTimeUnixNano\":\"18446744073709551615\",\"flags\":1,"
        "\"status\":{\"code\":\"STATUS_CODE_ERROR\",\"message\":\"bad\"},\"unknownField\":[[[]]],"
        "\"attributes\":[{\"key\":\"i\",\"value\":{\"int_value\":-9223372036854775808}},"
        "{\"key\":\"i2\",\"value\":{\"intValue\":42}},{\"key\":\"i3\",\"value\":{\"intValue\":\"-7\"}},"
        "{\"key\":\"nan\",\"value\":{\"doubleValue\":\"NaN\"}},{\"key\":\"inf\",\"value\":{\"double_value\":"
        "\"-Infinity\"}},{\"key\":\"dint\",\"value\":{\"doubleValue\":3}},"
        "{\"key\":\"by\",\"value\":{\"bytes_value\":\"-_8=\"}},{\"key\":\"empty\",\"value\":{}},"
        "{\"key\":\"nullv\",\"value\":null},{\"key\":\"kv\",\"value\":{\"kvlist_value\":{\"values\":[]}}},"
        "{\"key\":\"arr\",\"value\":{\"array_value\":{}}}],"
        "\"events\":[{\"time_unix_nano\":5,\"name\":\"e\",\"dropped_attributes_count\":2}],"
        "\"links\":[{\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\",\"span_id\":\"b7ad6b7169203331\","
        "\"trace_state\":\"x=y\",\"flags\":\"257\",\"attributes\":null}],\"dropped_links_count\":4}]}]}]}";
    tbt_otlp_stats st = {0};
    tbt_trace *t = decode_json_ok(json, &st);
    ck_assert_uint_eq(st.spans, 1);
    ck_assert_uint_eq(st.rejected_spans, 0);
    tbt_span *s = span_by_id(t, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    ck_assert_str_eq(s->parent_id_hex, "");
    ck_assert_int_eq(s->kind, TBT_KIND_CONSUMER);
    ck_assert_uint_eq(s->start_ns, 1718000000000000123ull); /* exact, though given as a JSON number */
    ck_assert_uint_eq(s->end_ns, UINT64_MAX);
    ck_assert_int_eq(s->status_code, TBT_STATUS_ERROR);
    ck_assert_str_eq(s->status_message, "bad");
    ck_assert_uint_eq(s->flags, 1);
    ck_assert_uint_eq(s->dropped_links, 4);
    ck_assert_uint_eq(s->resource->dropped_attrs, 3);
    ck_assert_str_eq(s->resource->schema_url, "u");
    ck_assert_str_eq(s->service, "svc");
    ck_assert_str_eq(s->scope->name, "sc");
    ck_assert_ptr_null(s->scope->version);
    ck_assert_uint_eq(s->scope->dropped_attrs, 1);
    assert_int(kv_get(s->attrs, s->n_attrs, "i"), INT64_MIN);
    assert_int(kv_get(s->attrs, s->n_attrs, "i2"), 42);
    assert_int(kv_get(s->attrs, s->n_attrs, "i3"), -7);
    ck_assert(isnan(kv_get(s->attrs, s->n_attrs, "nan")->u.d));
    const tbt_value *inf = kv_get(s->attrs, s->n_attrs, "inf");
    ck_assert(isinf(inf->u.d) && inf->u.d < 0);
    const tbt_value *dint = kv_get(s->attrs, s->n_attrs, "dint");
    ck_assert_int_eq(dint->type, TBT_V_DOUBLE);
    ck_assert(dint->u.d == 3.0);
    const tbt_value *by = kv_get(s->attrs, s->n_attrs, "by");
    ck_assert_int_eq(by->type, TBT_V_BYTES);
    ck_assert_uint_eq(by->u.s.len, 2);
    ck_assert(memcmp(by->u.s.ptr, "\xfb\xff", 2) == 0); /* URL-safe base64 accepted */
    ck_assert_int_eq(kv_get(s->attrs, s->n_attrs, "empty")->type, TBT_V_EMPTY);
    ck_assert_int_eq(kv_get(s->attrs, s->n_attrs, "nullv")->type, TBT_V_EMPTY);
    const tbt_value *kv = kv_get(s->attrs, s->n_attrs, "kv");
    ck_assert_int_eq(kv->type, TBT_V_KVLIST);
    ck_assert_uint_eq(kv->u.kv.n, 0);
    const tbt_value *arr = kv_get(s->attrs, s->n_attrs, "arr");
    ck_assert_int_eq(arr->type, TBT_V_ARRAY);
    ck_assert_uint_eq(arr->u.arr.n, 0);
    ck_assert_uint_eq(s->n_events, 1);
    ck_assert_uint_eq(s->events[0].time_ns, 5);
    ck_assert_uint_eq(s->events[0].dropped_attrs, 2);
    ck_assert_uint_eq(s->n_links, 1);
    ck_assert_uint_eq(s->links[0].flags, 257);
    ck_assert_str_eq(s->links[0].trace_state, "x=y");
    ck_assert_uint_eq(s->links[0].n_attrs, 0);

    /* JSON round trip keeps all of it, including NaN and -Infinity. */
    tbt_buf b = TBT_BUF_INIT;
    tbt_otlp_encode(t, TBT_OTLP_JSON, &b);
    tbt_trace *t2 = decode_json_ok(tbt_buf_cstr(&b), NULL);
    assert_same_trace(t, t2);
    tbt_buf_free(&b);
    tbt_trace_free(t2);
    tbt_trace_free(t);
    tbt_otlp_stats_clear(&st);
}
END_TEST

START_TEST(test_json_empty_requests)
{
    const char *ok[] = {"{}", "  {\"resourceSpans\":[]}\n", "{\"resourceSpans\":null}",
                        "\xEF\xBB\xBF{\"resourceSpans\":[{}]}", "{\"resourceSpans\":[{\"scopeSpans\":[{}]}]}",
                        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[]}]}]}"};
    for (size_t i = 0; i < TBT_ARRAY_LEN(ok); i++) {
        tbt_otlp_stats st = {0};
        tbt_trace *t = decode_json_ok(ok[i], &st);
        ck_assert_uint_eq(tbt_trace_span_count(t), 0);
        ck_assert_uint_eq(st.spans, 0);
        tbt_trace_free(t);
    }
    /* an empty protobuf request */
    int rc;
    tbt_otlp_stats st = {0};
    tbt_trace *t = decode(TBT_OTLP_PROTOBUF, "", 0, NULL, &rc, &st, NULL);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(tbt_trace_span_count(t), 0);
    tbt_trace_free(t);
    t = decode(TBT_OTLP_PROTOBUF, NULL, 0, NULL, &rc, &st, NULL);
    ck_assert_int_eq(rc, 0);
    tbt_trace_free(t);
    /* empty ResourceSpans and ScopeSpans */
    t = decode(TBT_OTLP_PROTOBUF, "\x0a\x00\x0a\x02\x12\x00", 6, NULL, &rc, &st, NULL);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(tbt_trace_span_count(t), 0);
    tbt_trace_free(t);
}
END_TEST

/* ---- partial success ----------------------------------------------------- */

#define JSPAN(tid, sid, extra) "{\"traceId\":\"" tid "\",\"spanId\":\"" sid "\",\"name\":\"x\"" extra "}"
#define GOOD_TID "4bf92f3577b34da6a3ce929d0e0e4736"

START_TEST(test_json_partial_rejection)
{
    const char *json = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
        JSPAN(GOOD_TID, "00f067aa0ba902b7", "") ","
        JSPAN("4bf92f3577b34da6a3ce929d0e0e47", "00f067aa0ba902b8", "") ","    /* short trace id */
        JSPAN("zzf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b9", "") ","  /* non-hex */
        JSPAN("00000000000000000000000000000000", "00f067aa0ba902ba", "") ","  /* all zero */
        JSPAN(GOOD_TID, "0000000000000000", "") ","                            /* all-zero span id */
        JSPAN(GOOD_TID, "00f067aa0ba902bb", ",\"parentSpanId\":\"abc\"") ","   /* bad parent */
        JSPAN(GOOD_TID, "00f067aa0ba902bc", ",\"links\":[{\"traceId\":\"" GOOD_TID "\",\"spanId\":\"1\"}]") ","
        "{\"spanId\":\"00f067aa0ba902bd\"},"                                    /* missing trace id */
        JSPAN(GOOD_TID, "00f067aa0ba902be", ",\"parentSpanId\":\"0000000000000000\"") /* zero parent: root */
        "]}]}]}";
    tbt_otlp_stats st = {0};
    tbt_trace *t = decode_json_ok(json, &st);
    ck_assert_uint_eq(st.spans, 2);
    ck_assert_uint_eq(st.rejected_spans, 7);
    ck_assert_uint_eq(tbt_trace_span_count(t), 2);
    ck_assert_ptr_nonnull(st.reject_reason);
    ck_assert_str_eq(st.reject_reason, "resourceSpans[0].scopeSpans[0].spans[1]: traceId must be 32 hex digits, got "
                                       "\"4bf92f3577b34da6a3ce929d0e0e47\"");
    /* stats accumulate across requests; the first reason stays */
    tbt_trace *t2 = decode_json_ok("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[" JSPAN(
                                       "00000000000000000000000000000000", "00f067aa0ba902b7", "") "]}]}]}",
                                   &st);
    ck_assert_uint_eq(st.rejected_spans, 8);
    ck_assert_ptr_nonnull(strstr(st.reject_reason, "spans[1]"));
    tbt_otlp_stats_clear(&st);
    ck_assert_uint_eq(st.rejected_spans, 0);
    ck_assert_ptr_null(st.reject_reason);
    tbt_otlp_stats_clear(NULL);

    /* each reason */
    static const struct {
        const char *span, *reason;
    } cases[] = {
        {JSPAN("zzf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b9", ""), "traceId must be 32 hex digits"},
        {JSPAN("00000000000000000000000000000000", "00f067aa0ba902ba", ""), "traceId is all zeroes"},
        {JSPAN(GOOD_TID, "0000000000000000", ""), "spanId is all zeroes"},
        {JSPAN(GOOD_TID, "00f067aa0ba9", ""), "spanId must be 16 hex digits"},
        {JSPAN(GOOD_TID, "00f067aa0ba902bb", ",\"parentSpanId\":\"abc\""), "parentSpanId must be 16 hex digits"},
        {JSPAN(GOOD_TID, "00f067aa0ba902bc", ",\"links\":[{\"traceId\":\"" GOOD_TID "\",\"spanId\":\"1\"}]"),
         "links[0].spanId must be 16 hex digits"},
        {JSPAN(GOOD_TID, "00f067aa0ba902bc", ",\"links\":[{\"spanId\":\"00f067aa0ba902bc\"}]"),
         "links[0].traceId is missing"},
        {"{\"spanId\":\"00f067aa0ba902bd\"}", "traceId is missing"},
        {"{\"traceId\":5,\"spanId\":\"00f067aa0ba902bd\"}", "traceId must be 32 hex digits, got a number"},
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(cases); i++) {
        char *doc = tbt_xasprintf("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[%s]}]}]}", cases[i].span);
        tbt_otlp_stats s1 = {0};
        tbt_trace *t3 = decode_json_ok(doc, &s1);
        ck_assert_uint_eq(s1.rejected_spans, 1);
        ck_assert_msg(strstr(s1.reject_reason, cases[i].reason) != NULL, "reason '%s' lacks '%s'", s1.reject_reason,
                      cases[i].reason);
        tbt_otlp_stats_clear(&s1);
        tbt_trace_free(t3);
        free(doc);
    }
    tbt_trace_free(t);
    tbt_trace_free(t2);
}
END_TEST

static void w_span(tbt_buf *span, size_t tid_len, const uint8_t *tid, size_t sid_len, const uint8_t *sid)
{
    w_bytes(span, 1, tid, tid_len);
    w_bytes(span, 2, sid, sid_len);
    w_bytes(span, 5, "x", 1);
}

START_TEST(test_pb_partial_rejection)
{
    static const uint8_t zero[16];
    tbt_buf req = TBT_BUF_INIT;
    struct {
        size_t tl;
        const uint8_t *t;
        size_t sl;
        const uint8_t *s;
        const char *reason;
    } cases[] = {
        {16, TID, 8, SID, NULL},
        {15, TID, 8, SID, "trace_id must be 16 bytes, got 15"},
        {16, zero, 8, SID, "trace_id is all zeroes"},
        {16, TID, 8, zero, "span_id is all zeroes"},
        {16, TID, 0, SID, "span_id must be 8 bytes, got 0"},
        {16, TID, 9, TID, "span_id must be 8 bytes, got 9"},
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(cases); i++) {
        tbt_buf span = TBT_BUF_INIT, one = TBT_BUF_INIT;
        w_span(&span, cases[i].tl, cases[i].t, cases[i].sl, cases[i].s);
        w_wrap_span(&req, &span);
        w_wrap_span(&one, &span);
        int rc;
        tbt_otlp_stats st = {0};
        tbt_trace *t = decode(TBT_OTLP_PROTOBUF, one.data, one.len, NULL, &rc, &st, NULL);
        ck_assert_int_eq(rc, 0);
        ck_assert_uint_eq(st.rejected_spans, cases[i].reason ? 1 : 0);
        if (cases[i].reason)
            ck_assert_msg(strstr(st.reject_reason, cases[i].reason) != NULL, "'%s' lacks '%s'", st.reject_reason,
                          cases[i].reason);
        tbt_otlp_stats_clear(&st);
        tbt_trace_free(t);
        tbt_buf_free(&span);
        tbt_buf_free(&one);
    }
    /* parent and link ids */
    tbt_buf span = TBT_BUF_INIT, link = TBT_BUF_INIT;
    w_span(&span, 16, TID, 8, SID);
    w_bytes(&span, 4, SID, 4);
    w_wrap_span(&req, &span);
    tbt_buf_reset(&span);
    w_span(&span, 16, TID, 8, SID);
    w_bytes(&link, 1, TID, 16);
    w_bytes(&link, 2, SID, 7);
    w_msg(&span, 13, &link);
    w_wrap_span(&req, &span);
    int rc;
    tbt_otlp_stats st = {0};
    tbt_trace *t = decode(TBT_OTLP_PROTOBUF, req.data, req.len, NULL, &rc, &st, NULL);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(st.spans, 1);
    ck_assert_uint_eq(st.rejected_spans, 7);
    ck_assert_str_eq(st.reject_reason, "resource_spans[1].scope_spans[0].spans[0]: trace_id must be 16 bytes, got 15");
    tbt_otlp_stats_clear(&st);
    tbt_trace_free(t);

    tbt_buf one = TBT_BUF_INIT;
    w_wrap_span(&one, &span);
    t = decode(TBT_OTLP_PROTOBUF, one.data, one.len, NULL, &rc, &st, NULL);
    ck_assert_str_eq(st.reject_reason, "resource_spans[0].scope_spans[0].spans[0]: links[0].span_id must be 8 bytes, got 7");
    tbt_otlp_stats_clear(&st);
    tbt_trace_free(t);
    tbt_buf_free(&one);
    tbt_buf_free(&span);
    tbt_buf_free(&link);
    tbt_buf_free(&req);
}
END_TEST

/* ---- malformed protobuf ------------------------------------------------- */

START_TEST(test_pb_truncations)
{
    size_t len;
    char *pb = slurp("checkout.otlp.pb", &len);
    size_t failed = 0;
    for (size_t n = 0; n < len; n++) {
        /* exact-size copy so ASan catches over-reads */
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, pb, n);
        int rc;
        tbt_error err = TBT_ERROR_INIT;
        tbt_trace *t = decode(TBT_OTLP_PROTOBUF, cut, n, NULL, &rc, NULL, &err);
        ck_assert(rc == 0 || rc == -EINVAL);
        if (rc) {
            failed++;
            ck_assert_msg(strncmp(err.msg, "invalid OTLP protobuf: ", 23) == 0, "%s", err.msg);
        }
        tbt_error_clear(&err);
        tbt_trace_free(t);
        free(cut);
    }
    /* Only cuts at a top-level ResourceSpans boundary are valid requests. */
    ck_assert_uint_ge(failed, len - 3);
    free(pb);

    char *m = decode_err(TBT_OTLP_PROTOBUF, "\x0a\x05\x12\x03", 4, NULL, -EINVAL, NULL);
    ck_assert_str_eq(m, "invalid OTLP protobuf: ExportTraceServiceRequest field 1: length 5 exceeds the 2 bytes left "
                        "(at byte 0)");
    free(m);
}
END_TEST

START_TEST(test_pb_wire_errors)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *msg;
    } cases[] = {
        {"\x0a\x04\x12\x02\x12\x00", 6, NULL}, /* fine: an empty span inside, rejected later */
        {"\x08\x01", 2, "ExportTraceServiceRequest.resource_spans (field 1) has wire type 0 (varint), expected 2"},
        {"\x0b", 1, "ExportTraceServiceRequest field 1: unsupported wire type 3"},
        {"\x0f\x00", 2, "unsupported wire type 7"},
        {"\x00\x00", 2, "invalid field number 0"},
        {"\x80", 1, "truncated field tag"},
        {"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11, "over-long field tag"},
        {"\x10\xff\xff", 3, "ExportTraceServiceRequest field 2: truncated varint"},
        {"\x11\x01\x02", 3, "truncated 8-byte value"},
        {"\x15\x01\x02", 3, "truncated 4-byte value"},
        {"\x0a\x80", 2, "truncated length"},
        {"\x0a\x02\x0a\x05", 4, "ResourceSpans field 1: length 5 exceeds the 0 bytes left"},
        {"\x0a\x02\x1a\x01", 4, "ResourceSpans field 3: length 1 exceeds"},
        {"\x0a\x02\x18\x01", 4, "ResourceSpans.schema_url (field 3) has wire type 0"},
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(cases); i++) {
        int rc;
        tbt_error err = TBT_ERROR_INIT;
        tbt_trace *t = decode(TBT_OTLP_PROTOBUF, cases[i].bytes, cases[i].len, NULL, &rc, NULL, &err);
        if (!cases[i].msg) {
            ck_assert_int_eq(rc, 0);
        } else {
            ck_assert_msg(rc == -EINVAL, "case %zu: rc %d", i, rc);
            ck_assert_msg(strstr(err.msg, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, err.msg,
                          cases[i].msg);
        }
        tbt_error_clear(&err);
        tbt_trace_free(t);
    }

    /* a wrong wire type deep inside a span */
    tbt_buf span = TBT_BUF_INIT, req = TBT_BUF_INIT;
    w_span(&span, 16, TID, 8, SID);
    w_tag(&span, 5, 0); /* name as a varint */
    w_varint(&span, 7);
    w_wrap_span(&req, &span);
    char *m = decode_err(TBT_OTLP_PROTOBUF, req.data, req.len, NULL, -EINVAL, NULL);
    ck_assert_ptr_nonnull(strstr(m, "Span.name (field 5) has wire type 0 (varint), expected 2 (length-delimited)"));
    free(m);
    tbt_buf_reset(&span);
    tbt_buf_reset(&req);
    w_span(&span, 16, TID, 8, SID);
    w_tag(&span, 7, 0); /* start time as a varint instead of fixed64 */
    w_varint(&span, 7);
    w_wrap_span(&req, &span);
    m = decode_err(TBT_OTLP_PROTOBUF, req.data, req.len, NULL, -EINVAL, NULL);
    ck_assert_ptr_nonnull(strstr(m, "Span.start_time_unix_nano (field 7) has wire type 0 (varint), expected 1"));
    free(m);
    /* unknown fields of every wire type are skipped */
    tbt_buf_reset(&span);
    tbt_buf_reset(&req);
    w_span(&span, 16, TID, 8, SID);
    w_tag(&span, 99, 0);
    w_varint(&span, 1);
    w_tag(&span, 100, 1);
    tbt_buf_append(&span, "12345678", 8);
    w_tag(&span, 101, 5);
    tbt_buf_append(&span, "1234", 4);
    w_bytes(&span, 102, "abc", 3);
    w_wrap_span(&req, &span);
    int rc;
    tbt_trace *t = decode(TBT_OTLP_PROTOBUF, req.data, req.len, NULL, &rc, NULL, NULL);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(tbt_trace_span_count(t), 1);
    tbt_trace_free(t);
    tbt_buf_free(&span);
    tbt_buf_free(&req);
}
END_TEST

/* proto3 merges repeated occurrences of a singular message field. */
START_TEST(test_pb_merge_semantics)
{
    tbt_buf kv1 = TBT_BUF_INIT, kv2 = TBT_BUF_INIT, val = TBT_BUF_INIT, res1 = TBT_BUF_INIT, res2 = TBT_BUF_INIT;
    w_bytes(&val, 1, "a", 1);
    w_bytes(&kv1, 1, "k1", 2);
    w_msg(&kv1, 2, &val);
    w_bytes(&kv2, 1, "k2", 2);
    w_msg(&kv2, 2, &val);
    w_msg(&res1, 1, &kv1);
    w_msg(&res2, 1, &kv2);
    tbt_buf span = TBT_BUF_INIT, ss = TBT_BUF_INIT, rs = TBT_BUF_INIT, req = TBT_BUF_INIT;
    w_span(&span, 16, TID, 8, SID);
    w_bytes(&span, 5, "renamed", 7); /* last value wins */
    w_msg(&ss, 2, &span);
    w_msg(&rs, 2, &ss);  /* spans before the resource */
    w_msg(&rs, 1, &res1);
    w_msg(&rs, 1, &res2);
    w_msg(&req, 1, &rs);
    int rc;
    tbt_trace *t = decode(TBT_OTLP_PROTOBUF, req.data, req.len, NULL, &rc, NULL, NULL);
    ck_assert_int_eq(rc, 0);
    tbt_span *s = tbt_trace_span_at(t, 0);
    ck_assert_str_eq(s->name, "renamed");
    ck_assert_uint_eq(s->resource->n_attrs, 2);
    ck_assert_str_eq(s->resource->attrs[0].key, "k1");
    ck_assert_str_eq(s->resource->attrs[1].key, "k2");
    tbt_trace_free(t);
    tbt_buf *bufs[] = {&kv1, &kv2, &val, &res1, &res2, &span, &ss, &rs, &req};
    for (size_t i = 0; i < TBT_ARRAY_LEN(bufs); i++)
        tbt_buf_free(bufs[i]);
}
END_TEST

/* ---- malformed JSON ------------------------------------------------------ */

START_TEST(test_json_syntax_errors)
{
    const char *doc = "{\n  \"resourceSpans\": [\n    {\"resource\": {} \"scopeSpans\": []}\n  ]\n}\n";
    tbt_error err = TBT_ERROR_INIT;
    char *m = decode_err(TBT_OTLP_JSON, doc, strlen(doc), NULL, -EINVAL, &err);
    ck_assert_str_eq(m, "invalid OTLP JSON: expected ',' or '}' after an object member");
    ck_assert_int_eq(err.line, 3);
    ck_assert_int_eq(err.col, 21);
    ck_assert_str_eq(err.source_line, "    {\"resource\": {} \"scopeSpans\": []}");
    ck_assert_int_eq(err.caret, 20);
    tbt_buf b = TBT_BUF_INIT;
    tbt_error_format(&err, &b);
    ck_assert_str_eq(tbt_buf_cstr(&b), "3:21: invalid OTLP JSON: expected ',' or '}' after an object member\n"
                                       "    " "    {\"resource\": {} \"scopeSpans\": []}\n"
                                       "    " "                    ^\n");
    tbt_buf_free(&b);
    tbt_error_clear(&err);
    free(m);

    static const struct {
        const char *doc;
        int line, col;
        const char *msg;
    } cases[] = {
        {"{\"resourceSpans\": [1,]}", 1, 22, "expected a value (trailing comma?)"},
        {"{\"resourceSpans\": [{}", 1, 22, "unexpected end of input, expected ',' or ']'"},
        {"{\"resourceSpans\": \"abc", 1, 19, "unterminated string"},
        {"{\"a\": \"x\\q\"}", 1, 9, "invalid escape in string"},
        {"{\"a\" 1}", 1, 6, "expected ':' after an object key"},
        {"{a: 1}", 1, 2, "expected a string key"},
        {"{\"a\": tru}", 1, 7, "expected a value (object, array, string, number, true, false or null)"},
        {"{\"a\": -}", 1, 7, "invalid number"},
        {"{\"a\": 1e}", 1, 7, "invalid number"},
        {"{} {}", 1, 4, "unexpected characters after the JSON value"},
        {"{}\n\n  x", 3, 3, "unexpected characters after the JSON value"},
        {"", 1, 1, "unexpected end of input, expected a value"},
        {"{\"a\":\n[1,\n2", 3, 2, "unexpected end of input, expected ',' or ']'"},
        /* a big integer (quoted before cJSON sees it) ahead of the fault */
        {"{\"a\": 12345678901234567890, \"b\": x}", 1, 34, "expected a value"},
        {"{\"a\": [12345678901234567890 1]}", 1, 29, "expected ',' or ']' after an array element"},
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(cases); i++) {
        tbt_error e = TBT_ERROR_INIT;
        m = decode_err(TBT_OTLP_JSON, cases[i].doc, strlen(cases[i].doc), NULL, -EINVAL, &e);
        ck_assert_msg(strstr(m, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, m, cases[i].msg);
        ck_assert_msg(e.line == cases[i].line && e.col == cases[i].col, "case %zu: at %d:%d, want %d:%d", i, e.line,
                      e.col, cases[i].line, cases[i].col);
        tbt_error_clear(&e);
        free(m);
    }
}
END_TEST

START_TEST(test_json_semantic_errors)
{
    static const struct {
        const char *doc, *msg;
    } cases[] = {
        {"[]", "invalid OTLP JSON: expected an ExportTraceServiceRequest object, got an array"},
        {"{\"resourceSpans\": {}}", "invalid OTLP JSON: resourceSpans: expected an array, got an object"},
        {"{\"resourceSpans\": [1]}", "invalid OTLP JSON: resourceSpans[0]: expected an object, got a number"},
        {"{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"name\": 5}]}]}]}",
         "invalid OTLP JSON: resourceSpans[0].scopeSpans[0].spans[0].name: expected a string, got a number"},
        {"{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"attributes\": [{\"key\": \"a\", \"value\": "
         "{\"intValue\": \"12a\"}}]}]}]}]}",
         "invalid OTLP JSON: resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue: expected an "
         "integer, got \"12a\""},
        {"{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"attributes\": [{\"key\": \"a\", \"value\": "
         "{\"intValue\": \"9223372036854775808\"}}]}]}]}]}",
         "intValue: \"9223372036854775808\" is out of range"},
        {"{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"attributes\": [{\"key\": \"a\", \"value\": "
         "{\"intValue\": 1.5}}]}]}]}]}",
         "intValue: expected an integer, got 1.5"},
        {"{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"kind\": \"SPAN_KIND_BOGUS\"}]}]}]}",
         "spans[0].kind: unknown enum value \"SPAN_KIND_BOGUS\""},
        {"{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"startTimeUnixNano\": \"-1\"}]}]}]}",
         "startTimeUnixNano: expected an unsigned integer, got \"-1\""},
        {"{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"droppedAttributesCount\": 4294967296}]}]}]}",
         "droppedAttributesCount: 4.29497e+09 is out of range"},
        {"{\"resourceSpans\": [{\"resource\": {\"attributes\": [{\"key\": \"b\", \"value\": {\"bytesValue\": "
         "\"!!\"}}]}}]}",
         "resourceSpans[0].resource.attributes[0].value.bytesValue: invalid base64"},
        {"{\"resourceSpans\": [{\"resource\": {\"attributes\": [{\"key\": \"b\", \"value\": {\"boolValue\": "
         "\"true\"}}]}}]}",
         "boolValue: expected true or false, got a string"},
        {"{\"resourceSpans\": [{\"scopeSpans\": [{\"scope\": {\"attributes\": [{\"key\": \"b\", \"value\": "
         "{\"arrayValue\": {\"values\": [{\"doubleValue\": \"x\"}]}}}]}}]}]}",
         "resourceSpans[0].scopeSpans[0].scope.attributes[0].value.arrayValue.values[0].doubleValue: expected a "
         "number"},
        {"{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"events\": [{\"attributes\": [3]}]}]}]}]}",
         "spans[0].events[0].attributes[0]: expected an object, got a number"},
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(cases); i++) {
        char *m = decode_err(TBT_OTLP_JSON, cases[i].doc, strlen(cases[i].doc), NULL, -EINVAL, NULL);
        ck_assert_msg(strstr(m, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, m, cases[i].msg);
        free(m);
    }
}
END_TEST

START_TEST(test_json_deep_nesting)
{
    /* past cJSON's nesting limit */
    tbt_buf b = TBT_BUF_INIT;
    tbt_buf_puts(&b, "{\"resourceSpans\":");
    for (int i = 0; i < 5000; i++)
        tbt_buf_putc(&b, '[');
    tbt_error err = TBT_ERROR_INIT;
    char *m = decode_err(TBT_OTLP_JSON, b.data, b.len, NULL, -EINVAL, &err);
    ck_assert_str_eq(m, "invalid OTLP JSON: nested deeper than 1000 levels");
    ck_assert_int_eq(err.col, 18 + 999);
    tbt_error_clear(&err);
    free(m);

    /* AnyValue nesting within cJSON's limit but past max_value_depth */
    tbt_buf_reset(&b);
    tbt_buf_puts(&b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"deep\",\"value\":");
    for (int i = 0; i < 100; i++)
        tbt_buf_puts(&b, "{\"arrayValue\":{\"values\":[");
    tbt_buf_puts(&b, "{\"intValue\":1}");
    for (int i = 0; i < 100; i++)
        tbt_buf_puts(&b, "]}}");
    tbt_buf_puts(&b, "}]}}]}");
    m = decode_err(TBT_OTLP_JSON, b.data, b.len, NULL, -E2BIG, NULL);
    ck_assert_ptr_nonnull(strstr(m, "nested deeper than max_value_depth 32"));
    free(m);
    /* with a higher bound it decodes */
    tbt_otlp_limits lim = tbt_otlp_default_limits();
    lim.max_value_depth = 101;
    int rc;
    tbt_trace *t = decode(TBT_OTLP_JSON, b.data, b.len, &lim, &rc, NULL, NULL);
    ck_assert_int_eq(rc, 0);
    tbt_trace_free(t);
    lim.max_value_depth = 100;
    t = decode(TBT_OTLP_JSON, b.data, b.len, &lim, &rc, NULL, NULL);
    ck_assert_int_eq(rc, -E2BIG);
    tbt_trace_free(t);
    tbt_buf_free(&b);
}
END_TEST

START_TEST(test_pb_deep_nesting)
{
    /* AnyValue{array_value{values: AnyValue{...}}} 3000 levels deep, built
     * inside out. Must fail on the depth bound, not the stack. */
    tbt_buf v = TBT_BUF_INIT, tmp = TBT_BUF_INIT;
    w_tag(&v, 3, 0);
    w_varint(&v, 1);
    for (int i = 0; i < 3000; i++) {
        tbt_buf arr = TBT_BUF_INIT;
        w_msg(&arr, 1, &v);
        tbt_buf_reset(&tmp);
        w_msg(&tmp, 5, &arr);
        tbt_buf_free(&arr);
        tbt_buf swap = v;
        v = tmp;
        tmp = swap;
    }
    tbt_buf kv = TBT_BUF_INIT, span = TBT_BUF_INIT, req = TBT_BUF_INIT;
    w_bytes(&kv, 1, "deep", 4);
    w_msg(&kv, 2, &v);
    w_span(&span, 16, TID, 8, SID);
    w_msg(&span, 9, &kv);
    w_wrap_span(&req, &span);
    char *m = decode_err(TBT_OTLP_PROTOBUF, req.data, req.len, NULL, -E2BIG, NULL);
    ck_assert_str_eq(m, "OTLP request over a limit: attribute value nested deeper than max_value_depth 32");
    free(m);
    tbt_buf *bufs[] = {&v, &tmp, &kv, &span, &req};
    for (size_t i = 0; i < TBT_ARRAY_LEN(bufs); i++)
        tbt_buf_free(bufs[i]);
}
END_TEST

/* ---- limits ------------------------------------------------------------- */

START_TEST(test_limits)
{
    size_t jlen, plen;
    char *json = slurp("checkout.otlp.json", &jlen);
    char *pb = slurp("checkout.otlp.pb", &plen);
    struct {
        tbt_otlp_limits lim;
        const char *msg;
    } cases[] = {
        {{7, 1024, 1 << 20, 32}, "more than max_spans 7 spans"},
        {{100, 9, 1 << 20, 32}, "more than max_attrs_per_span 9"},
        {{100, 1024, 64, 32}, "more than max_value_len 64"},
        {{100, 1024, 1 << 20, 2}, "nested deeper than max_value_depth 2"},
        {{100, 3, 1 << 20, 32}, "more than max_attrs_per_span 3"}, /* also arrays/kvlists */
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(cases); i++) {
        char *m = decode_err(TBT_OTLP_JSON, json, jlen, &cases[i].lim, -E2BIG, NULL);
        ck_assert_msg(strstr(m, cases[i].msg) != NULL, "json case %zu: '%s'", i, m);
        ck_assert_msg(strncmp(m, "OTLP request over a limit: ", 27) == 0, "%s", m);
        free(m);
        m = decode_err(TBT_OTLP_PROTOBUF, pb, plen, &cases[i].lim, -E2BIG, NULL);
        ck_assert_msg(strstr(m, cases[i].msg) != NULL, "pb case %zu: '%s'", i, m);
        free(m);
    }
    /* exactly at the bounds succeeds */
    tbt_otlp_limits at = {8, 11, 1 << 20, 3};
    int rc;
    tbt_trace *t = decode(TBT_OTLP_JSON, json, jlen, &at, &rc, NULL, NULL);
    ck_assert_int_eq(rc, 0);
    tbt_trace_free(t);
    t = decode(TBT_OTLP_PROTOBUF, pb, plen, &at, &rc, NULL, NULL);
    ck_assert_int_eq(rc, 0);
    /* spans already in the trace count */
    tbt_error err = TBT_ERROR_INIT;
    at.max_spans = 15;
    ck_assert_int_eq(tbt_otlp_decode(t, TBT_OTLP_PROTOBUF, (const uint8_t *)pb, plen, &at, NULL, &err), -E2BIG);
    tbt_error_clear(&err);
    tbt_trace_free(t);

    tbt_otlp_limits def = tbt_otlp_default_limits();
    ck_assert_uint_eq(def.max_spans, 1000000);
    ck_assert_uint_eq(def.max_attrs_per_span, 1024);
    ck_assert_uint_eq(def.max_value_len, 1 << 20);
    ck_assert_uint_eq(def.max_value_depth, 32);
    free(json);
    free(pb);
}
END_TEST

/* ---- round trips and the generator -------------------------------------- */

START_TEST(test_roundtrip_generated)
{
    tbt_trace *t = tbt_otlp_generate(3000, 42);
    for (int f = 0; f < 2; f++) {
        tbt_otlp_format fmt = f ? TBT_OTLP_JSON : TBT_OTLP_PROTOBUF;
        tbt_buf b = TBT_BUF_INIT;
        ck_assert_int_eq(tbt_otlp_encode(t, fmt, &b), 0);
        ck_assert_int_eq(tbt_otlp_sniff((const uint8_t *)b.data, b.len), fmt);
        int rc;
        tbt_otlp_stats st = {0};
        tbt_trace *t2 = decode(fmt, b.data, b.len, NULL, &rc, &st, NULL);
        ck_assert_int_eq(rc, 0);
        ck_assert_uint_eq(st.spans, 3000);
        ck_assert_uint_eq(st.rejected_spans, 0);
        assert_same_trace(t, t2);
        /* resources and scopes stay shared */
        ck_assert_ptr_eq(tbt_trace_span_at(t2, 0)->resource, tbt_trace_span_at(t2, 1)->resource);
        /* encoding the decoded trace gives the same bytes */
        tbt_buf b2 = TBT_BUF_INIT;
        tbt_otlp_encode(t2, fmt, &b2);
        ck_assert_uint_eq(b.len, b2.len);
        ck_assert(memcmp(b.data, b2.data, b.len) == 0);
        tbt_buf_free(&b);
        tbt_buf_free(&b2);
        tbt_trace_free(t2);
    }
    tbt_trace_free(t);
}
END_TEST

START_TEST(test_roundtrip_checkout_both_ways)
{
    size_t jlen;
    char *json = slurp("checkout.otlp.json", &jlen);
    int rc;
    tbt_trace *t = decode(TBT_OTLP_JSON, json, jlen, NULL, &rc, NULL, NULL);
    ck_assert_int_eq(rc, 0);
    tbt_buf pb = TBT_BUF_INIT, js = TBT_BUF_INIT;
    tbt_otlp_encode(t, TBT_OTLP_PROTOBUF, &pb);
    tbt_trace *t2 = decode(TBT_OTLP_PROTOBUF, pb.data, pb.len, NULL, &rc, NULL, NULL);
    ck_assert_int_eq(rc, 0);
    tbt_otlp_encode(t2, TBT_OTLP_JSON, &js);
    tbt_trace *t3 = decode(TBT_OTLP_JSON, js.data, js.len, NULL, &rc, NULL, NULL);
    ck_assert_int_eq(rc, 0);
    assert_same_trace(t, t2);
    assert_same_trace(t, t3);
    check_checkout(t3);
    /* OTLP/JSON conventions in the output */
    ck_assert_ptr_nonnull(strstr(js.data, "\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\""));
    ck_assert_ptr_nonnull(strstr(js.data, "\"startTimeUnixNano\":\"1718000000000000000\""));
    ck_assert_ptr_nonnull(strstr(js.data, "{\"intValue\":\"200\"}"));
    ck_assert_ptr_nonnull(strstr(js.data, "{\"doubleValue\":99.99}"));
    ck_assert_ptr_nonnull(strstr(js.data, "{\"bytesValue\":\"3q2+7w==\"}"));
    ck_assert_ptr_nonnull(strstr(js.data, "\"kind\":2"));
    ck_assert_ptr_nonnull(strstr(js.data, "\"status\":{\"message\":\"503 Service Unavailable\",\"code\":2}"));
    tbt_buf_free(&pb);
    tbt_buf_free(&js);
    tbt_trace_free(t);
    tbt_trace_free(t2);
    tbt_trace_free(t3);
    free(json);
}
END_TEST

START_TEST(test_roundtrip_edge_values)
{
    /* A hand-built trace: NULL resource/scope, odd values. */
    tbt_trace *t = tbt_trace_new();
    tbt_arena *a = tbt_trace_arena(t);
    tbt_span *s = tbt_trace_add_span(t);
    memcpy(s->trace_id, TID, 16);
    memcpy(s->span_id, SID, 8);
    s->name = "edge";
    s->kind = (tbt_span_kind)-3; /* open enum: unknown values survive */
    s->status_code = (tbt_status_code)7;
    tbt_kv *kv = tbt_arena_calloc(a, 6, sizeof(*kv));
    kv[0].key = "neg0";
    kv[0].value = tbt_value_double(-0.0);
    kv[1].key = "tiny";
    kv[1].value = tbt_value_double(5e-324);
    kv[2].key = "big";
    kv[2].value = tbt_value_double(1.7976931348623157e308);
    kv[3].key = "ctl";
    kv[3].value = tbt_value_str("tab\there \"q\" \\ \x01 é");
    kv[4].key = "";
    kv[4].value = tbt_value_str("");
    kv[5].key = "nobytes";
    kv[5].value.type = TBT_V_BYTES;
    kv[5].value.u.s.ptr = "";
    s->attrs = kv;
    s->n_attrs = 6;
    tbt_trace_finalize(t, NULL);
    for (int f = 0; f < 2; f++) {
        tbt_buf b = TBT_BUF_INIT;
        tbt_otlp_encode(t, f ? TBT_OTLP_JSON : TBT_OTLP_PROTOBUF, &b);
        int rc;
        tbt_trace *t2 = decode(f ? TBT_OTLP_JSON : TBT_OTLP_PROTOBUF, b.data, b.len, NULL, &rc, NULL, NULL);
        ck_assert_int_eq(rc, 0);
        assert_same_trace(t, t2);
        const tbt_value *neg0 = kv_get(tbt_trace_span_at(t2, 0)->attrs, 6, "neg0");
        ck_assert(signbit(neg0->u.d));
        tbt_buf_free(&b);
        tbt_trace_free(t2);
    }
    tbt_trace_free(t);
}
END_TEST

START_TEST(test_generate)
{
    tbt_trace *t = tbt_otlp_generate(5000, 1);
    ck_assert_uint_eq(tbt_trace_span_count(t), 5000);
    ck_assert_uint_eq(tbt_trace_id_count(t), 1);
    bool types[8] = {false};
    size_t links = 0, events = 0, errors = 0, roots = 0;
    unsigned maxdepth = 0;
    bool services[5] = {false};
    static const char *const names[5] = {"api-gateway", "order-service", "payment-service", "inventory-service",
                                         "notification-service"};
    bool kinds[6] = {false};
    for (size_t i = 0; i < 5000; i++) {
        tbt_span *s = tbt_trace_span_at(t, i);
        if (!s->parent)
            roots++;
        if (s->depth > maxdepth)
            maxdepth = s->depth;
        links += s->n_links;
        events += s->n_events;
        errors += s->status_code == TBT_STATUS_ERROR;
        kinds[s->kind] = true;
        ck_assert(s->end_ns >= s->start_ns);
        if (s->parent)
            ck_assert(s->start_ns >= s->parent->start_ns && s->end_ns <= s->parent->end_ns);
        for (size_t k = 0; k < s->n_attrs; k++)
            types[s->attrs[k].value.type] = true;
        for (int k = 0; k < 5; k++)
            if (strcmp(s->service, names[k]) == 0)
                services[k] = true;
        for (size_t k = 0; k < s->n_links; k++)
            ck_assert_ptr_nonnull(tbt_trace_find(t, s->links[k].trace_id, s->links[k].span_id));
    }
    ck_assert_uint_eq(roots, 1);
    ck_assert_uint_le(maxdepth, 10);
    ck_assert_uint_ge(maxdepth, 5);
    ck_assert_uint_gt(links, 0);
    ck_assert_uint_gt(events, 0);
    ck_assert_uint_gt(errors, 0);
    for (int k = TBT_V_STRING; k <= TBT_V_BYTES; k++)
        ck_assert_msg(types[k], "no attribute of type %s", tbt_vtype_name((tbt_vtype)k));
    for (int k = 0; k < 5; k++)
        ck_assert_msg(services[k], "service %s missing", names[k]);
    for (int k = 1; k < 6; k++)
        ck_assert_msg(kinds[k], "kind %d missing", k);
    assert_attr_text(t, tbt_trace_span_at(t, 0), "tracetest.span.name", "POST /checkout");

    /* deterministic per seed */
    tbt_trace *same = tbt_otlp_generate(5000, 1), *other = tbt_otlp_generate(5000, 2);
    tbt_buf a = TBT_BUF_INIT, b = TBT_BUF_INIT, c = TBT_BUF_INIT;
    tbt_otlp_encode(t, TBT_OTLP_PROTOBUF, &a);
    tbt_otlp_encode(same, TBT_OTLP_PROTOBUF, &b);
    tbt_otlp_encode(other, TBT_OTLP_PROTOBUF, &c);
    ck_assert(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    ck_assert(a.len != c.len || memcmp(a.data, c.data, a.len) != 0);
    tbt_buf_free(&a);
    tbt_buf_free(&b);
    tbt_buf_free(&c);
    tbt_trace_free(same);
    tbt_trace_free(other);
    tbt_trace_free(t);

    /* tiny sizes */
    for (size_t n = 1; n < 20; n++) {
        tbt_trace *x = tbt_otlp_generate(n, (unsigned)n);
        ck_assert_uint_eq(tbt_trace_span_count(x), n);
        tbt_trace_free(x);
    }
}
END_TEST

START_TEST(test_sniff)
{
    ck_assert_int_eq(tbt_otlp_sniff((const uint8_t *)"{}", 2), TBT_OTLP_JSON);
    ck_assert_int_eq(tbt_otlp_sniff((const uint8_t *)" \r\n\t{", 5), TBT_OTLP_JSON);
    ck_assert_int_eq(tbt_otlp_sniff((const uint8_t *)"\xEF\xBB\xBF{", 4), TBT_OTLP_JSON);
    ck_assert_int_eq(tbt_otlp_sniff((const uint8_t *)"\x0a\x00", 2), TBT_OTLP_PROTOBUF);
    ck_assert_int_eq(tbt_otlp_sniff((const uint8_t *)"[]", 2), TBT_OTLP_PROTOBUF);
    ck_assert_int_eq(tbt_otlp_sniff((const uint8_t *)"", 0), TBT_OTLP_PROTOBUF);
    ck_assert_int_eq(tbt_otlp_sniff((const uint8_t *)"  ", 2), TBT_OTLP_PROTOBUF);
}
END_TEST

START_TEST(test_load_file_errors)
{
    tbt_trace *t = (tbt_trace *)0x1;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_otlp_load_file("/nonexistent/x.otlp.json", &t, &err), -ENOENT);
    ck_assert_ptr_eq(t, (tbt_trace *)0x1);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/x.otlp.json"));
    tbt_error_clear(&err);

    char path[] = "/tmp/tbt_otlp_test_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *bad = "{\"resourceSpans\": [\n  {\"scopeSpans\": [}\n]}";
    ck_assert_int_eq(write(fd, bad, strlen(bad)), (int)strlen(bad));
    close(fd);
    ck_assert_int_eq(tbt_otlp_load_file(path, &t, &err), -EINVAL);
    ck_assert_str_eq(err.file, path);
    ck_assert_int_eq(err.line, 2);
    ck_assert_int_eq(err.col, 19);
    ck_assert_str_eq(err.msg, "invalid OTLP JSON: expected a value (trailing comma?)");
    tbt_error_clear(&err);

    /* rejected spans make a fixture load fail */
    FILE *f = fopen(path, "w");
    fputs("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"00\",\"spanId\":\"00f067aa0ba902b7\"}]}]}]}",
          f);
    fclose(f);
    ck_assert_int_eq(tbt_otlp_load_file(path, &t, &err), -EINVAL);
    ck_assert_str_eq(err.file, path);
    ck_assert_ptr_nonnull(strstr(err.msg, "1 span rejected: resourceSpans[0].scopeSpans[0].spans[0]: traceId must be "
                                          "32 hex digits"));
    tbt_error_clear(&err);

    /* protobuf garbage: the path and the byte offset */
    f = fopen(path, "wb");
    fputs("\x0a\x05\x12", f);
    fclose(f);
    ck_assert_int_eq(tbt_otlp_load_file(path, &t, &err), -EINVAL);
    ck_assert_str_eq(err.file, path);
    ck_assert_ptr_nonnull(strstr(err.msg, "invalid OTLP protobuf"));
    tbt_error_clear(&err);
    unlink(path);
}
END_TEST

START_TEST(test_decode_appends)
{
    /* Two requests into one trace: resources stay distinct objects, the
     * second request's duplicate spans are dropped by finalize. */
    size_t plen;
    char *pb = slurp("checkout.otlp.pb", &plen);
    tbt_trace *t = tbt_trace_new();
    tbt_otlp_stats st = {0};
    ck_assert_int_eq(tbt_otlp_decode(t, TBT_OTLP_PROTOBUF, (const uint8_t *)pb, plen, NULL, &st, NULL), 0);
    ck_assert_int_eq(tbt_otlp_decode(t, TBT_OTLP_PROTOBUF, (const uint8_t *)pb, plen, NULL, &st, NULL), 0);
    ck_assert_uint_eq(st.spans, 16);
    size_t dups = 0;
    tbt_trace_finalize(t, &dups);
    ck_assert_uint_eq(dups, 8);
    check_checkout(t);
    ck_assert_int_eq(tbt_otlp_decode(t, 99, (const uint8_t *)pb, plen, NULL, NULL, NULL), -EINVAL);
    tbt_buf b = TBT_BUF_INIT;
    ck_assert_int_eq(tbt_otlp_encode(t, 99, &b), -EINVAL);
    tbt_trace_free(t);
    free(pb);
}
END_TEST

static Suite *otlp_suite(void)
{
    Suite *s = suite_create("otlp");
    TCase *tc = tcase_create("fixtures");
    tcase_add_test(tc, test_checkout_json);
    tcase_add_test(tc, test_checkout_pb);
    tcase_add_test(tc, test_checkout_pb_is_encoding_of_json);
    tcase_add_test(tc, test_protoc_c_reads_our_encoding);
    tcase_add_test(tc, test_we_read_protoc_c_message);
    tcase_add_test(tc, test_decode_appends);
    suite_add_tcase(s, tc);

    tc = tcase_create("json");
    tcase_add_test(tc, test_json_variants);
    tcase_add_test(tc, test_json_empty_requests);
    tcase_add_test(tc, test_json_syntax_errors);
    tcase_add_test(tc, test_json_semantic_errors);
    tcase_add_test(tc, test_json_deep_nesting);
    suite_add_tcase(s, tc);

    tc = tcase_create("protobuf");
    tcase_add_test(tc, test_pb_truncations);
    tcase_add_test(tc, test_pb_wire_errors);
    tcase_add_test(tc, test_pb_merge_semantics);
    tcase_add_test(tc, test_pb_deep_nesting);
    suite_add_tcase(s, tc);

    tc = tcase_create("partial");
    tcase_add_test(tc, test_json_partial_rejection);
    tcase_add_test(tc, test_pb_partial_rejection);
    tcase_add_test(tc, test_limits);
    suite_add_tcase(s, tc);

    tc = tcase_create("roundtrip");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_roundtrip_generated);
    tcase_add_test(tc, test_roundtrip_checkout_both_ways);
    tcase_add_test(tc, test_roundtrip_edge_values);
    tcase_add_test(tc, test_generate);
    tcase_add_test(tc, test_sniff);
    tcase_add_test(tc, test_load_file_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(otlp_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures != 0;
}
