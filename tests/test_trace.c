/* test_trace.c - the trace model: de-duplication, tree building (orphans,
 * cycles, deep chains), depth-first order, span types, meta attributes and
 * resolved property look-ups. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_trace.h"

static const uint8_t TID[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};

static tbt_span *mk(tbt_trace *t, uint64_t id, uint64_t parent, const char *name, uint64_t start)
{
    tbt_span *s = tbt_trace_add_span(t);
    memcpy(s->trace_id, TID, 16);
    for (int i = 7; i >= 0; i--, id >>= 8)
        s->span_id[i] = (uint8_t)(id & 0xff);
    for (int i = 7; i >= 0; i--, parent >>= 8)
        s->parent_id[i] = (uint8_t)(parent & 0xff);
    s->name = name;
    s->start_ns = start;
    s->end_ns = start + 10;
    return s;
}

static tbt_kv *kvs(tbt_trace *t, size_t n)
{
    return tbt_arena_calloc(tbt_trace_arena(t), n, sizeof(tbt_kv));
}

static const char *order_names(tbt_trace *t, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 0; i < tbt_trace_span_count(t); i++) {
        strncat(buf, tbt_trace_span_at(t, i)->name, cap - strlen(buf) - 2);
        strncat(buf, " ", cap - strlen(buf) - 1);
    }
    return buf;
}

START_TEST(dfs_order_children_by_start)
{
    tbt_trace *t = tbt_trace_new();
    mk(t, 3, 1, "c", 30);
    mk(t, 1, 0, "root", 0);
    mk(t, 2, 1, "b", 20);
    mk(t, 4, 2, "b1", 25);
    mk(t, 5, 0, "root2", 5);
    size_t dups = 9;
    tbt_trace_finalize(t, &dups);
    ck_assert_uint_eq(dups, 0);
    char buf[256];
    ck_assert_str_eq(order_names(t, buf, sizeof(buf)), "root b b1 c root2 ");
    tbt_span *root = tbt_trace_span_at(t, 0);
    ck_assert_uint_eq(root->n_children, 2);
    ck_assert_uint_eq(root->subtree_end, 4);
    ck_assert_uint_eq(tbt_trace_span_at(t, 2)->depth, 2);
    ck_assert_str_eq(tbt_trace_span_at(t, 3)->parent_id_hex, "0000000000000001");
    ck_assert_str_eq(root->parent_id_hex, "");
    ck_assert_uint_eq(tbt_trace_id_count(t), 1);
    tbt_trace_free(t);
}
END_TEST

START_TEST(duplicates_keep_first)
{
    tbt_trace *t = tbt_trace_new();
    mk(t, 1, 0, "first", 0);
    mk(t, 1, 0, "again", 0);
    mk(t, 2, 1, "child", 1);
    mk(t, 2, 1, "child-again", 1);
    size_t dups = 0;
    tbt_trace_finalize(t, &dups);
    ck_assert_uint_eq(dups, 2);
    ck_assert_uint_eq(tbt_trace_span_count(t), 2);
    ck_assert_str_eq(tbt_trace_span_at(t, 0)->name, "first");
    /* finalize again after more spans arrive (a late duplicate, a new span) */
    mk(t, 1, 0, "late-dup", 0);
    mk(t, 3, 2, "grandchild", 2);
    tbt_trace_finalize(t, &dups);
    ck_assert_uint_eq(dups, 1);
    ck_assert_uint_eq(tbt_trace_span_count(t), 3);
    ck_assert_str_eq(tbt_trace_span_at(t, 2)->name, "grandchild");
    ck_assert_uint_eq(tbt_trace_span_at(t, 2)->depth, 2);
    tbt_trace_free(t);
}
END_TEST

START_TEST(orphans_and_cycles_become_roots)
{
    tbt_trace *t = tbt_trace_new();
    mk(t, 1, 0x99, "orphan", 10);
    mk(t, 2, 3, "cyc-a", 0);
    mk(t, 3, 2, "cyc-b", 5);
    mk(t, 4, 4, "self", 20);
    tbt_trace_finalize(t, NULL);
    ck_assert_uint_eq(tbt_trace_span_count(t), 4);
    /* every span is reachable exactly once */
    int seen[5] = {0};
    for (size_t i = 0; i < 4; i++) {
        tbt_span *s = tbt_trace_span_at(t, i);
        seen[s->span_id[7]]++;
        ck_assert_uint_eq(s->order, i);
    }
    for (int i = 1; i <= 4; i++)
        ck_assert_int_eq(seen[i], 1);
    /* roots first in start order (orphan, self), then the cycle, cut at its
     * earliest span: cyc-a becomes a root with cyc-b below it */
    char buf[128];
    ck_assert_str_eq(order_names(t, buf, sizeof(buf)), "orphan self cyc-a cyc-b ");
    ck_assert_ptr_null(tbt_trace_span_at(t, 2)->parent);
    ck_assert_ptr_eq(tbt_trace_span_at(t, 3)->parent, tbt_trace_span_at(t, 2));
    tbt_trace_free(t);
}
END_TEST

START_TEST(deep_chain_no_recursion)
{
    tbt_trace *t = tbt_trace_new();
    const size_t n = 200000;
    for (size_t i = 1; i <= n; i++)
        mk(t, i, i - 1, "s", i);
    tbt_trace_finalize(t, NULL);
    ck_assert_uint_eq(tbt_trace_span_count(t), n);
    ck_assert_uint_eq(tbt_trace_span_at(t, n - 1)->depth, n - 1);
    ck_assert_uint_eq(tbt_trace_span_at(t, 0)->subtree_end, n);
    tbt_trace_free(t);
}
END_TEST

START_TEST(span_types_fixed_order)
{
    tbt_trace *t = tbt_trace_new();
    const char *keys[][3] = {{"http.method", NULL, "http"},
                             {"db.system", NULL, "database"},
                             {"rpc.system", NULL, "rpc"},
                             {"messaging.system", NULL, "messaging"},
                             {"faas.trigger", NULL, "faas"},
                             {"exception.type", NULL, "exception"},
                             {"custom", NULL, "general"},
                             {"db.system", "http.route", "http"},
                             {"messaging.system", "rpc.method", "rpc"},
                             {"event_type", "http.route", "general"}};
    for (size_t i = 0; i < TBT_ARRAY_LEN(keys); i++) {
        tbt_span *s = mk(t, i + 1, 0, "x", i);
        s->n_attrs = keys[i][1] ? 2 : 1;
        s->attrs = kvs(t, s->n_attrs);
        s->attrs[0].key = keys[i][0];
        s->attrs[0].value = tbt_value_str("v");
        if (keys[i][1]) {
            s->attrs[1].key = keys[i][1];
            s->attrs[1].value = tbt_value_str("v");
        }
    }
    tbt_span *doc = mk(t, 100, 0, "documentLoad", 100);
    doc->n_attrs = 1;
    doc->attrs = kvs(t, 1);
    doc->attrs[0].key = "http.url";
    doc->attrs[0].value = tbt_value_str("x");
    tbt_trace_finalize(t, NULL);
    for (size_t i = 0; i < TBT_ARRAY_LEN(keys); i++)
        ck_assert_str_eq(tbt_trace_span_at(t, i)->type, keys[i][2]);
    ck_assert_str_eq(tbt_trace_span_at(t, TBT_ARRAY_LEN(keys))->type, "general");
    tbt_trace_free(t);
}
END_TEST

START_TEST(meta_attributes_and_lookup_order)
{
    tbt_trace *t = tbt_trace_new();
    tbt_resource *r = tbt_trace_new_resource(t);
    r->n_attrs = 2;
    r->attrs = kvs(t, 2);
    r->attrs[0].key = "service.name";
    r->attrs[0].value = tbt_value_str("svc");
    r->attrs[1].key = "shadowed";
    r->attrs[1].value = tbt_value_str("resource");
    tbt_scope *sc = tbt_trace_new_scope(t);
    sc->name = "lib";
    sc->version = "1.2";
    tbt_span *s = mk(t, 7, 0, "op", 1000);
    s->end_ns = 1000 + 2500000;
    s->kind = TBT_KIND_PRODUCER;
    s->status_code = TBT_STATUS_ERROR;
    s->status_message = "boom";
    s->resource = r;
    s->scope = sc;
    s->n_attrs = 2;
    s->attrs = kvs(t, 2);
    /* keys from a different buffer than the lookups: interning must match by text */
    char *k1 = tbt_arena_strdup(tbt_trace_arena(t), "shadowed");
    s->attrs[0].key = k1;
    s->attrs[0].value = tbt_value_str("span");
    s->attrs[1].key = "name";
    s->attrs[1].value = tbt_value_str("attribute-called-name");
    tbt_trace_finalize(t, NULL);
    s = tbt_trace_span_at(t, 0); /* finalize moved the span */
    tbt_value v;
    ck_assert(tbt_span_attr(t, s, "tracetest.span.duration", &v) && v.type == TBT_V_INT && v.u.i == 2500000);
    ck_assert(tbt_span_attr(t, s, "tracetest.span.status_code", &v));
    ck_assert_str_eq(v.u.s.ptr, "STATUS_CODE_ERROR");
    ck_assert(tbt_span_attr(t, s, "tracetest.span.kind", &v));
    ck_assert_str_eq(v.u.s.ptr, "producer");
    ck_assert(tbt_span_attr(t, s, "shadowed", &v));
    ck_assert_str_eq(v.u.s.ptr, "span");
    ck_assert(tbt_span_attr(t, s, "service.name", &v));
    ck_assert_str_eq(v.u.s.ptr, "svc");
    ck_assert(tbt_span_attr(t, s, "otel.scope.version", &v));
    ck_assert_str_eq(v.u.s.ptr, "1.2");
    /* attr:name prefers a real attribute; the selector property is the span name */
    ck_assert(tbt_span_attr(t, s, "name", &v));
    ck_assert_str_eq(v.u.s.ptr, "attribute-called-name");
    ck_assert(tbt_span_property(t, s, "name", &v));
    ck_assert_str_eq(v.u.s.ptr, "op");
    ck_assert(tbt_span_property(t, s, "kind", &v));
    ck_assert_str_eq(v.u.s.ptr, "producer");
    ck_assert(!tbt_span_attr(t, s, "missing", &v));
    ck_assert_ptr_null(tbt_trace_key(t, "missing"));
    ck_assert_ptr_nonnull(tbt_trace_key(t, "shadowed"));
    ck_assert(tbt_span_attr(t, s, "span.events", &v));
    ck_assert_str_eq(v.u.s.ptr, "[]");
    ck_assert_str_eq(s->service, "svc");
    tbt_trace_free(t);
}
END_TEST

START_TEST(value_text_forms)
{
    tbt_buf b = TBT_BUF_INIT;
    tbt_value d = tbt_value_double(99.99);
    tbt_value_to_text(&d, &b);
    ck_assert_str_eq(tbt_buf_cstr(&b), "99.99");
    tbt_buf_reset(&b);
    d = tbt_value_double(1.5);
    tbt_value_to_text(&d, &b);
    ck_assert_str_eq(tbt_buf_cstr(&b), "1.5");
    tbt_buf_reset(&b);
    d = tbt_value_double(3.0);
    tbt_value_to_text(&d, &b);
    ck_assert_str_eq(tbt_buf_cstr(&b), "3");
    tbt_buf_reset(&b);
    d = tbt_value_double(0.1 + 0.2);
    tbt_value_to_text(&d, &b);
    ck_assert_str_eq(tbt_buf_cstr(&b), "0.30000000000000004");
    tbt_buf_reset(&b);
    tbt_kv items[2] = {{"a", tbt_value_int(-5)}, {"b\"q", tbt_value_bool(true)}};
    tbt_value kv = {.type = TBT_V_KVLIST};
    kv.u.kv.items = items;
    kv.u.kv.n = 2;
    tbt_value_to_text(&kv, &b);
    ck_assert_str_eq(tbt_buf_cstr(&b), "{\"a\":-5,\"b\\\"q\":true}");
    tbt_buf_free(&b);
    char dur[48];
    tbt_format_duration(20600000, dur, sizeof(dur));
    ck_assert_str_eq(dur, "20.6ms");
    tbt_format_duration(120000000000LL, dur, sizeof(dur));
    ck_assert_str_eq(dur, "2m");
    tbt_format_duration(90000000000LL, dur, sizeof(dur));
    ck_assert_str_eq(dur, "90s");
    tbt_format_duration(1, dur, sizeof(dur));
    ck_assert_str_eq(dur, "1ns");
    int64_t ns;
    ck_assert_int_eq(tbt_parse_duration("1h30m", 5, &ns), 0);
    ck_assert(ns == 5400000000000LL);
    ck_assert_int_eq(tbt_parse_duration("20.6ms", 6, &ns), 0);
    ck_assert(ns == 20600000);
    ck_assert_int_ne(tbt_parse_duration("5 parsecs", 9, &ns), 0);
    ck_assert_int_ne(tbt_parse_duration("", 0, &ns), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, dfs_order_children_by_start);
    tcase_add_test(tc, duplicates_keep_first);
    tcase_add_test(tc, orphans_and_cycles_become_roots);
    tcase_add_test(tc, deep_chain_no_recursion);
    tcase_add_test(tc, span_types_fixed_order);
    tcase_add_test(tc, meta_attributes_and_lookup_order);
    tcase_add_test(tc, value_text_forms);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
