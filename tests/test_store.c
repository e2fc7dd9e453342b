/* test_store.c - the agent's trace store: ingest, de-duplication, watches and
 * wake-ups, snapshots with linked traces, bounds, eviction, retention,
 * concurrency. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_store.h"

/* An encoded request with spans of the given trace (byte t), ids base..base+n-1,
 * optionally each linking to trace link_to (0: none). */
static void make_request(tbt_buf *out, tbt_otlp_format fmt, uint8_t t, uint64_t base, size_t n, uint8_t link_to)
{
    tbt_trace *tr = tbt_trace_new();
    tbt_resource *r = tbt_trace_new_resource(tr);
    r->n_attrs = 1;
    r->attrs = tbt_arena_calloc(tbt_trace_arena(tr), 1, sizeof(tbt_kv));
    r->attrs[0].key = "service.name";
    r->attrs[0].value = tbt_value_str("svc");
    for (size_t i = 0; i < n; i++) {
        tbt_span *s = tbt_trace_add_span(tr);
        memset(s->trace_id, t, 16);
        uint64_t id = base + i;
        for (int k = 7; k >= 0; k--, id >>= 8)
            s->span_id[k] = (uint8_t)(id & 0xff);
        s->name = "op";
        s->start_ns = 1000 + i;
        s->end_ns = 2000 + i;
        s->resource = r;
        if (link_to) {
            s->links = tbt_arena_calloc(tbt_trace_arena(tr), 1, sizeof(tbt_link));
            memset(s->links[0].trace_id, link_to, 16);
            s->links[0].span_id[7] = 1;
            s->n_links = 1;
        }
    }
    tbt_trace_finalize(tr, NULL);
    tbt_buf_reset(out);
    tbt_otlp_encode(tr, fmt, out);
    tbt_trace_free(tr);
}

static int ingest(tbt_store *s, tbt_buf *b, tbt_otlp_format fmt, tbt_ingest_result *res)
{
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_store_ingest(s, fmt, (const uint8_t *)b->data, b->len, res, &err);
    tbt_error_clear(&err);
    return rc;
}

START_TEST(ingest_dedupe_snapshot)
{
    tbt_store *s = tbt_store_new(NULL);
    tbt_buf b = TBT_BUF_INIT;
    tbt_ingest_result res;
    uint8_t tid[16];
    memset(tid, 0xaa, 16);
    tbt_watch *w = tbt_store_watch(s, tid);
    make_request(&b, TBT_OTLP_PROTOBUF, 0xaa, 1, 10, 0);
    ck_assert_int_eq(ingest(s, &b, TBT_OTLP_PROTOBUF, &res), 0);
    ck_assert_uint_eq(res.accepted, 10);
    /* the exporter re-sends the same request (lost acknowledgement) */
    ck_assert_int_eq(ingest(s, &b, TBT_OTLP_PROTOBUF, &res), 0);
    ck_assert_uint_eq(res.accepted, 0);
    ck_assert_uint_eq(res.duplicates, 10);
    make_request(&b, TBT_OTLP_JSON, 0xaa, 8, 5, 0); /* 8, 9, 10 duplicate; 11, 12 new */
    ck_assert_int_eq(ingest(s, &b, TBT_OTLP_JSON, &res), 0);
    ck_assert_uint_eq(res.accepted, 2);
    ck_assert_uint_eq(res.duplicates, 3);
    make_request(&b, TBT_OTLP_PROTOBUF, 0xbb, 1, 4, 0); /* another trace */
    ck_assert_int_eq(ingest(s, &b, TBT_OTLP_PROTOBUF, &res), 0);
    tbt_watch_info info;
    tbt_trace *t = tbt_store_snapshot(s, w, 0, &info);
    ck_assert_uint_eq(tbt_trace_span_count(t), 12);
    ck_assert_uint_eq(info.spans, 12);
    tbt_value v;
    ck_assert(tbt_span_attr(t, tbt_trace_span_at(t, 0), "service.name", &v));
    ck_assert_str_eq(v.u.s.ptr, "svc");
    tbt_trace_free(t);
    tbt_store_figures st;
    tbt_store_stats(s, &st);
    ck_assert_uint_eq(st.spans, 16);
    ck_assert_uint_eq(st.traces, 2);
    ck_assert_uint_eq(st.watched, 1);
    ck_assert(st.duplicate_spans == 13);
    tbt_store_unwatch(s, w);
    tbt_buf_free(&b);
    tbt_store_free(s);
}
END_TEST

START_TEST(invalid_requests_keep_nothing)
{
    tbt_store *s = tbt_store_new(NULL);
    tbt_ingest_result res;
    tbt_error err = TBT_ERROR_INIT;
    const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
    ck_assert_int_eq(tbt_store_ingest(s, TBT_OTLP_PROTOBUF, junk, sizeof(junk), &res, &err), -EINVAL);
    ck_assert_ptr_nonnull(err.msg);
    tbt_error_clear(&err);
    const char *bad = "{\"resourceSpans\": [";
    ck_assert_int_eq(tbt_store_ingest(s, TBT_OTLP_JSON, (const uint8_t *)bad, strlen(bad), &res, &err), -EINVAL);
    tbt_error_clear(&err);
    ck_assert_int_eq(tbt_store_ingest(s, TBT_OTLP_PROTOBUF, (const uint8_t *)"", 0, &res, &err), 0);
    tbt_store_figures st;
    tbt_store_stats(s, &st);
    ck_assert_uint_eq(st.spans, 0);
    ck_assert_uint_eq(st.batches, 0);
    tbt_store_free(s);
}
END_TEST

typedef struct sender {
    tbt_store *s;
    uint8_t t;
    int delay_ms;
} sender;

static void *send_later(void *arg)
{
    sender *sd = arg;
    struct timespec ts = {0, sd->delay_ms * 1000000L};
    nanosleep(&ts, NULL);
    tbt_buf b = TBT_BUF_INIT;
    tbt_ingest_result res;
    make_request(&b, TBT_OTLP_PROTOBUF, sd->t, 100, 3, 0);
    ingest(sd->s, &b, TBT_OTLP_PROTOBUF, &res);
    tbt_buf_free(&b);
    return NULL;
}

START_TEST(wait_wakes_on_arrival_and_times_out)
{
    tbt_store *s = tbt_store_new(NULL);
    uint8_t tid[16];
    memset(tid, 0xcc, 16);
    tbt_watch *w = tbt_store_watch(s, tid);
    uint64_t version = 0;
    uint64_t t0 = tbt_now_mono_ns();
    ck_assert(!tbt_store_wait(s, w, &version, t0 + 50000000ull)); /* nothing: times out */
    ck_assert(tbt_now_mono_ns() - t0 >= 50000000ull);
    sender sd = {s, 0xcc, 20};
    pthread_t th;
    pthread_create(&th, NULL, send_later, &sd);
    uint64_t t1 = tbt_now_mono_ns();
    ck_assert(tbt_store_wait(s, w, &version, t1 + 10000000000ull));
    ck_assert(tbt_now_mono_ns() - t1 < 5000000000ull); /* woken by the arrival, not the deadline */
    pthread_join(th, NULL);
    tbt_watch_info info;
    tbt_store_watch_info(s, w, &info);
    ck_assert_uint_eq(info.spans, 3);
    ck_assert(info.last_span_mono_ns >= t1);
    /* spans of another trace do not wake this watcher */
    sender other = {s, 0xdd, 1};
    pthread_create(&th, NULL, send_later, &other);
    pthread_join(th, NULL);
    ck_assert(!tbt_store_wait(s, w, &version, tbt_now_mono_ns() + 20000000ull));
    tbt_store_unwatch(s, w);
    tbt_store_free(s);
}
END_TEST

START_TEST(linked_traces_pulled_in)
{
    tbt_store *s = tbt_store_new(NULL);
    tbt_buf b = TBT_BUF_INIT;
    tbt_ingest_result res;
    uint8_t tid[16];
    memset(tid, 0x01, 16);
    tbt_watch *w = tbt_store_watch(s, tid);
    uint64_t version = 0;
    make_request(&b, TBT_OTLP_PROTOBUF, 0x01, 1, 2, 0);    /* producer's trace */
    ingest(s, &b, TBT_OTLP_PROTOBUF, &res);
    ck_assert(tbt_store_wait(s, w, &version, tbt_now_mono_ns() + 1000000000ull));
    make_request(&b, TBT_OTLP_PROTOBUF, 0x02, 1, 3, 0x01); /* consumer: new trace linking to it */
    ingest(s, &b, TBT_OTLP_PROTOBUF, &res);
    /* the consumer's spans wake the watcher of the linked-to trace */
    ck_assert(tbt_store_wait(s, w, &version, tbt_now_mono_ns() + 1000000000ull));
    make_request(&b, TBT_OTLP_PROTOBUF, 0x03, 1, 4, 0x02); /* a hop further */
    ingest(s, &b, TBT_OTLP_PROTOBUF, &res);
    tbt_watch_info info;
    tbt_trace *t0 = tbt_store_snapshot(s, w, 0, &info);
    ck_assert_uint_eq(tbt_trace_span_count(t0), 2);
    tbt_trace *t1 = tbt_store_snapshot(s, w, 1, &info);
    ck_assert_uint_eq(tbt_trace_span_count(t1), 5);
    ck_assert_uint_eq(info.linked_traces, 1);
    ck_assert_uint_eq(info.linked_spans, 3);
    tbt_trace *t2 = tbt_store_snapshot(s, w, 2, &info);
    ck_assert_uint_eq(tbt_trace_span_count(t2), 9);
    ck_assert_uint_eq(tbt_trace_id_count(t2), 3);
    tbt_trace_free(t0);
    tbt_trace_free(t1);
    tbt_trace_free(t2);
    tbt_store_unwatch(s, w);
    tbt_buf_free(&b);
    tbt_store_free(s);
}
END_TEST

START_TEST(full_store_evicts_unwatched_then_refuses)
{
    tbt_store_limits lim = tbt_store_default_limits();
    lim.max_spans = 100;
    tbt_store *s = tbt_store_new(&lim);
    tbt_buf b = TBT_BUF_INIT;
    tbt_ingest_result res;
    uint8_t tid[16];
    memset(tid, 0x10, 16);
    tbt_watch *w = tbt_store_watch(s, tid);
    make_request(&b, TBT_OTLP_PROTOBUF, 0x10, 1, 60, 0); /* watched */
    ck_assert_int_eq(ingest(s, &b, TBT_OTLP_PROTOBUF, &res), 0);
    make_request(&b, TBT_OTLP_PROTOBUF, 0x20, 1, 30, 0); /* unwatched */
    ck_assert_int_eq(ingest(s, &b, TBT_OTLP_PROTOBUF, &res), 0);
    make_request(&b, TBT_OTLP_PROTOBUF, 0x30, 1, 30, 0); /* evicts 0x20 to fit */
    ck_assert_int_eq(ingest(s, &b, TBT_OTLP_PROTOBUF, &res), 0);
    tbt_store_figures st;
    tbt_store_stats(s, &st);
    ck_assert_uint_eq(st.spans, 90);
    ck_assert(st.evicted_traces >= 1);
    make_request(&b, TBT_OTLP_PROTOBUF, 0x10, 100, 50, 0); /* watched spans that do not fit */
    ck_assert_int_eq(ingest(s, &b, TBT_OTLP_PROTOBUF, &res), -EBUSY);
    ck_assert_uint_eq(res.retry_after_s, 1);
    tbt_store_stats(s, &st);
    ck_assert_uint_eq(st.refused_requests, 1);
    /* the watched trace kept every span it had */
    tbt_watch_info info;
    tbt_store_watch_info(s, w, &info);
    ck_assert_uint_eq(info.spans, 60);
    tbt_store_unwatch(s, w);
    tbt_buf_free(&b);
    tbt_store_free(s);
}
END_TEST

START_TEST(per_trace_cap_marks_overflow)
{
    tbt_store_limits lim = tbt_store_default_limits();
    lim.max_spans_per_trace = 5;
    tbt_store *s = tbt_store_new(&lim);
    tbt_buf b = TBT_BUF_INIT;
    tbt_ingest_result res;
    uint8_t tid[16];
    memset(tid, 0x44, 16);
    tbt_watch *w = tbt_store_watch(s, tid);
    make_request(&b, TBT_OTLP_PROTOBUF, 0x44, 1, 8, 0);
    ck_assert_int_eq(ingest(s, &b, TBT_OTLP_PROTOBUF, &res), 0);
    ck_assert_uint_eq(res.accepted, 5);
    ck_assert_uint_eq(res.rejected, 3);
    ck_assert_ptr_nonnull(strstr(res.reason, "more than 5 spans"));
    tbt_watch_info info;
    tbt_store_watch_info(s, w, &info);
    ck_assert(info.overflow);
    tbt_store_unwatch(s, w);
    tbt_buf_free(&b);
    tbt_store_free(s);
}
END_TEST

START_TEST(retention_expires_unwatched)
{
    tbt_store_limits lim = tbt_store_default_limits();
    lim.retention_ns = 1000000; /* 1 ms */
    tbt_store *s = tbt_store_new(&lim);
    tbt_buf b = TBT_BUF_INIT;
    tbt_ingest_result res;
    make_request(&b, TBT_OTLP_PROTOBUF, 0x55, 1, 3, 0);
    ingest(s, &b, TBT_OTLP_PROTOBUF, &res);
    uint8_t tid[16];
    memset(tid, 0x66, 16);
    tbt_watch *w = tbt_store_watch(s, tid);
    make_request(&b, TBT_OTLP_PROTOBUF, 0x66, 1, 3, 0);
    ingest(s, &b, TBT_OTLP_PROTOBUF, &res);
    tbt_store_expire(s, tbt_now_mono_ns() + 10000000ull);
    tbt_store_figures st;
    tbt_store_stats(s, &st);
    ck_assert_uint_eq(st.traces, 1); /* only the watched one */
    ck_assert_uint_eq(st.spans, 3);
    tbt_store_unwatch(s, w);
    tbt_store_expire(s, tbt_now_mono_ns() + 10000000ull);
    tbt_store_stats(s, &st);
    ck_assert_uint_eq(st.traces, 0);
    ck_assert_uint_eq(st.bytes, 0);
    tbt_buf_free(&b);
    tbt_store_free(s);
}
END_TEST

typedef struct hammer {
    tbt_store *s;
    int id;
} hammer;

static void *hammer_run(void *arg)
{
    hammer *h = arg;
    tbt_buf b = TBT_BUF_INIT;
    tbt_ingest_result res;
    for (int i = 0; i < 50; i++) {
        make_request(&b, TBT_OTLP_PROTOBUF, (uint8_t)(0x70 + h->id), (uint64_t)i * 10 + 1, 10, 0);
        ingest(h->s, &b, TBT_OTLP_PROTOBUF, &res);
    }
    tbt_buf_free(&b);
    return NULL;
}

START_TEST(concurrent_ingest)
{
    tbt_store *s = tbt_store_new(NULL);
    uint8_t tid[16];
    memset(tid, 0x70, 16);
    tbt_watch *w = tbt_store_watch(s, tid);
    pthread_t th[4];
    hammer hs[4];
    for (int i = 0; i < 4; i++) {
        hs[i].s = s;
        hs[i].id = i;
        pthread_create(&th[i], NULL, hammer_run, &hs[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    tbt_store_figures st;
    tbt_store_stats(s, &st);
    ck_assert_uint_eq(st.spans, 2000);
    tbt_trace *t = tbt_store_snapshot(s, w, 0, NULL);
    ck_assert_uint_eq(tbt_trace_span_count(t), 500);
    tbt_trace_free(t);
    tbt_store_unwatch(s, w);
    tbt_store_free(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ingest_dedupe_snapshot);
    tcase_add_test(tc, invalid_requests_keep_nothing);
    tcase_add_test(tc, wait_wakes_on_arrival_and_times_out);
    tcase_add_test(tc, linked_traces_pulled_in);
    tcase_add_test(tc, full_store_evicts_unwatched_then_refuses);
    tcase_add_test(tc, per_trace_cap_marks_overflow);
    tcase_add_test(tc, retention_expires_unwatched);
    tcase_add_test(tc, concurrent_ingest);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
