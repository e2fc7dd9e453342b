/* test_agent.c - the agent end to end in one process: a libmicrohttpd
 * "system under test" answers the trigger and exports spans of the
 * trigger's trace to the agent's OTLP/HTTP receiver (protobuf, like an
 * SDK), on the behaviour its path asks for. Checks completion: the quiet
 * period, late spans, waitFor, minSpans, the explained timeout, unmatched
 * selectors, the trigger span, the traceid trigger, skipTraceCollection. */
#include <check.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tbt_agent.h"

static tbt_agent *agent;
static struct MHD_Daemon *sut;
static uint16_t sut_port;

static void post_spans_linked(const uint8_t tid[16], const uint8_t parent[8], const char *const *names, size_t n,
                              uint8_t first_id, const uint8_t *link_tid, const char *service);

static void post_spans(const uint8_t tid[16], const uint8_t parent[8], const char *const *names, size_t n,
                       uint8_t first_id)
{
    post_spans_linked(tid, parent, names, n, first_id, NULL, "sut");
}

/* Spans of trace tid; with link_tid, each span links to that trace's span
 * 77..01 (a consumer that starts a new trace, as the messaging conventions
 * prefer). */
static void post_spans_linked(const uint8_t tid[16], const uint8_t parent[8], const char *const *names, size_t n,
                              uint8_t first_id, const uint8_t *link_tid, const char *service)
{
    tbt_trace *t = tbt_trace_new();
    tbt_resource *r = tbt_trace_new_resource(t);
    r->n_attrs = 1;
    r->attrs = tbt_arena_calloc(tbt_trace_arena(t), 1, sizeof(tbt_kv));
    r->attrs[0].key = "service.name";
    r->attrs[0].value = tbt_value_str(service);
    uint64_t now = tbt_now_unix_ns();
    for (size_t i = 0; i < n; i++) {
        tbt_span *s = tbt_trace_add_span(t);
        memcpy(s->trace_id, tid, 16);
        s->span_id[0] = 0x77;
        s->span_id[7] = (uint8_t)(first_id + i);
        memcpy(s->parent_id, parent, 8);
        s->name = names[i];
        s->kind = link_tid ? TBT_KIND_CONSUMER : TBT_KIND_INTERNAL;
        s->start_ns = now;
        s->end_ns = now + 1000;
        s->resource = r;
        if (link_tid) {
            s->links = tbt_arena_calloc(tbt_trace_arena(t), 1, sizeof(tbt_link));
            memcpy(s->links[0].trace_id, link_tid, 16);
            s->links[0].span_id[0] = 0x77;
            s->links[0].span_id[7] = 1;
            s->n_links = 1;
        }
    }
    tbt_trace_finalize(t, NULL);
    tbt_buf b = TBT_BUF_INIT;
    tbt_otlp_encode(t, TBT_OTLP_PROTOBUF, &b);
    CURL *h = curl_easy_init();
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/traces", tbt_agent_http_port(agent));
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, b.data ? b.data : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)b.len);
    curl_easy_perform(h);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    tbt_buf_free(&b);
    tbt_trace_free(t);
}

typedef struct later {
    uint8_t tid[16], parent[8];
    int delay_ms;
    const char *name;
    uint8_t id;
    bool consumer; /* a new trace linking to tid */
} later;

static void *post_later(void *arg)
{
    later *l = arg;
    struct timespec ts = {l->delay_ms / 1000, (long)(l->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    if (l->consumer) {
        static const char *const cons[] = {"process order", "send notification"};
        uint8_t tid2[16], none[8] = {0};
        memcpy(tid2, l->tid, 16);
        tid2[0] ^= 0xff;
        post_spans_linked(tid2, none, cons, 2, 1, l->tid, "consumer");
    } else {
        const char *names[1] = {l->name};
        post_spans(l->tid, l->parent, names, 1, l->id);
    }
    free(l);
    return NULL;
}

static void spawn_later(const uint8_t tid[16], const uint8_t parent[8], int delay_ms, const char *name, uint8_t id,
                        bool consumer)
{
    later *l = tbt_xcalloc(1, sizeof(*l));
    l->consumer = consumer;
    memcpy(l->tid, tid, 16);
    memcpy(l->parent, parent, 8);
    l->delay_ms = delay_ms;
    l->name = name;
    l->id = id;
    pthread_t th;
    pthread_create(&th, NULL, post_later, l);
    pthread_detach(th);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *data, size_t *size, void **state)
{
    TBT_UNUSED(cls);
    TBT_UNUSED(method);
    TBT_UNUSED(version);
    TBT_UNUSED(data);
    if (!*state) {
        *state = (void *)1;
        return MHD_YES;
    }
    *size = 0;
    const char *tp = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "traceparent");
    uint8_t tid[16], pid[8];
    if (tp && strlen(tp) == 55 && tbt_hex_decode(tp + 3, 32, tid, 16) == 0 && tbt_hex_decode(tp + 36, 16, pid, 8) == 0) {
        static const char *const three[] = {"handle", "charge", "store"};
        if (strcmp(url, "/ok") == 0) {
            post_spans(tid, pid, three, 3, 1);
        } else if (strcmp(url, "/late") == 0) {
            post_spans(tid, pid, three, 3, 1);
            spawn_later(tid, pid, 150, "charge", 9, false); /* a duplicate charge, in a later batch */
        } else if (strcmp(url, "/linked") == 0) {
            /* the producer's trace now; a consumer trace linking to it
             * 300 ms later, long after the producer's trace went quiet */
            static const char *const prod[] = {"publish order"};
            post_spans(tid, pid, prod, 1, 1);
            spawn_later(tid, pid, 300, NULL, 0, true);
        } else if (strcmp(url, "/waitfor") == 0) {
            post_spans(tid, pid, three, 1, 1);
            spawn_later(tid, pid, 250, "notify", 5, false);
        }
        /* /none: exports nothing */
    }
    const char *body = "{\"orderId\":\"ord-9\"}";
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    tbt_agent_opts o = tbt_agent_default_opts();
    o.http_opts.port = 0;
    o.grpc_opts.port = 0;
    o.quiet_ns = 100000000ull;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_msg(tbt_agent_start(&o, &agent, &err) == 0, "%s", err.msg);
    sut = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, handler, NULL,
                           MHD_OPTION_END);
    sut_port = MHD_get_daemon_info(sut, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static void teardown(void)
{
    MHD_stop_daemon(sut);
    tbt_agent_stop(agent);
    curl_global_cleanup();
}

typedef struct run {
    tbt_defs *defs;
    tbt_plan *plan;
    tbt_run_result *rr;
    tbt_test_result *res;
    tbt_vars *vars;
} run;

static void run_test(run *r, const char *path, const char *extra)
{
    memset(r, 0, sizeof(*r));
    char *yaml = tbt_xasprintf("type: Test\nspec:\n  id: t\n  name: agent test\n  trigger:\n    type: http\n"
                               "    httpRequest:\n      url: http://127.0.0.1:%u%s\n%s",
                               sut_port, path, extra);
    r->defs = tbt_defs_new();
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_msg(tbt_defs_load_text(r->defs, "t.yaml", yaml, strlen(yaml), &err) == 0, "%s", err.msg);
    free(yaml);
    tbt_error_list errs = TBT_ERROR_LIST_INIT;
    ck_assert_int_eq(tbt_plan_compile(tbt_defs_find_test(r->defs, "t"), r->defs, &r->plan, &errs), 0);
    r->rr = tbt_run_result_new();
    r->res = tbt_run_result_add(r->rr);
    r->vars = tbt_vars_new();
    tbt_agent_run(agent, r->plan, r->vars, r->rr, r->res);
}

static void run_done(run *r)
{
    tbt_plan_free(r->plan);
    tbt_defs_free(r->defs);
    tbt_run_result_free(r->rr);
    tbt_vars_free(r->vars);
}

START_TEST(complete_and_trigger_span)
{
    run r;
    run_test(&r, "/ok",
             "  outputs:\n  - name: ORDER\n    selector: span[name=\"Tracetest trigger\"]\n"
             "    value: attr:tracetest.response.body | json_path '$.orderId'\n"
             "  specs:\n  - selector: span[name=\"charge\"]\n    assertions:\n"
             "    - attr:tracetest.selected_spans.count = 1\n"
             "  - selector: span[name=\"Tracetest trigger\"]\n    assertions:\n"
             "    - attr:tracetest.response.status = 200\n    - attr:service.name = \"tracetest\"\n"
             "  - selector: span[name=\"Tracetest trigger\"] > span[service.name=\"sut\"]\n    assertions:\n"
             "    - attr:tracetest.selected_spans.count = 3\n");
    ck_assert_msg(r.res->status == TBT_TEST_PASSED, "%s / %s", tbt_test_status_name(r.res->status),
                  r.res->completion ? r.res->completion : r.res->error);
    ck_assert_ptr_nonnull(strstr(r.res->completion, "complete: 4/4 selectors matched, 3 spans, no new span for 100ms"));
    ck_assert_str_eq(r.res->outputs[0].value, "ord-9");
    ck_assert_uint_eq(strlen(r.res->trace_id), 32);
    ck_assert_uint_eq(r.res->n_spans, 4);
    tbt_agent_timing tm;
    tbt_agent_last_timing(&tm);
    ck_assert(tm.verdict_ns >= tm.condition_met_ns && tm.condition_met_ns > tm.trigger_end_ns);
    run_done(&r);
}
END_TEST

START_TEST(late_span_within_quiet_period_is_seen)
{
    run r;
    run_test(&r, "/late",
             "  completion:\n    quietPeriod: 400ms\n"
             "  specs:\n  - selector: span[name=\"charge\"]\n    assertions:\n"
             "    - attr:tracetest.selected_spans.count = 1\n");
    ck_assert_int_eq(r.res->status, TBT_TEST_FAILED);
    ck_assert_uint_eq(r.res->specs[0].n_selected, 2);
    ck_assert_str_eq(r.res->specs[0].asserts[0].spans[0].observed, "2");
    run_done(&r);
}
END_TEST

START_TEST(no_span_is_an_explained_error)
{
    run r;
    run_test(&r, "/none",
             "  completion:\n    timeout: 500ms\n"
             "  specs:\n  - selector: span[name=\"charge\"]\n    assertions:\n    - attr:x = 1\n");
    ck_assert_int_eq(r.res->status, TBT_TEST_ERROR);
    ck_assert_ptr_nonnull(strstr(r.res->error, "timed out after 500ms waiting for trace"));
    ck_assert_ptr_nonnull(strstr(r.res->error, "no span of it arrived"));
    ck_assert_ptr_nonnull(strstr(r.res->error, "never matched: span[name=\"charge\"] (spec 1)"));
    run_done(&r);
}
END_TEST

START_TEST(unmatched_selector_stops_after_retries)
{
    run r;
    uint64_t t0 = tbt_now_mono_ns();
    run_test(&r, "/ok",
             "  completion:\n    quietPeriod: 100ms\n    selectorMatchRetries: 2\n    timeout: 20s\n"
             "  specs:\n  - name: shipping\n    selector: span[name=\"ship\"]\n    assertions:\n    - attr:x = 1\n"
             "  - name: absent\n    selector: span[name=\"refund\"]\n    assertions:\n"
             "    - attr:tracetest.selected_spans.count = 0\n");
    ck_assert(tbt_now_mono_ns() - t0 < 5000000000ull); /* retries, not the 20 s timeout */
    ck_assert_int_eq(r.res->status, TBT_TEST_FAILED);
    ck_assert_ptr_nonnull(strstr(r.res->completion, "stopped waiting: 1 of 1 selectors still unmatched after 3 quiet"));
    ck_assert_ptr_nonnull(strstr(r.res->completion, "never matched: span[name=\"ship\"] (spec \"shipping\")"));
    ck_assert(r.res->specs[1].passed); /* absence asserted and true: no waiting for it */
    run_done(&r);
}
END_TEST

START_TEST(wait_for_a_later_span)
{
    run r;
    run_test(&r, "/waitfor",
             "  completion:\n    quietPeriod: 50ms\n    waitFor: span[name=\"notify\"]\n    minSpans: 2\n"
             "  specs:\n  - selector: span[name=\"handle\"]\n    assertions:\n"
             "    - attr:tracetest.selected_spans.count = 1\n");
    ck_assert_msg(r.res->status == TBT_TEST_PASSED, "%s", r.res->completion ? r.res->completion : r.res->error);
    ck_assert_uint_eq(r.res->n_spans, 3); /* the notify span was waited for */
    run_done(&r);
}
END_TEST

START_TEST(linked_consumer_trace_is_pulled_in)
{
    run r;
    run_test(&r, "/linked",
             "  completion:\n    quietPeriod: 100ms\n"
             "  specs:\n  - selector: span[name=\"publish order\"]\n    assertions:\n"
             "    - attr:tracetest.selected_spans.count = 1\n"
             "  - selector: span[name=\"send notification\" service.name=\"consumer\"]\n    assertions:\n"
             "    - attr:tracetest.selected_spans.count = 1\n    - attr:tracetest.span.kind = \"consumer\"\n");
    ck_assert_msg(r.res->status == TBT_TEST_PASSED, "%s", r.res->completion ? r.res->completion : r.res->error);
    ck_assert_uint_eq(r.res->n_traces, 2);
    ck_assert_ptr_nonnull(strstr(r.res->completion, "1 linked trace (2 spans)"));
    /* the report can tell which trace a span came from */
    const tbt_span_result *sr = &r.res->specs[1].asserts[0].spans[0];
    ck_assert_str_ne(sr->trace_id, r.res->trace_id);
    run_done(&r);
}
END_TEST

START_TEST(skip_trace_collection)
{
    run r;
    run_test(&r, "/none",
             "  skipTraceCollection: true\n"
             "  specs:\n  - selector: span[name=\"Tracetest trigger\"]\n    assertions:\n"
             "    - attr:tracetest.response.body contains \"ord-9\"\n");
    ck_assert_msg(r.res->status == TBT_TEST_PASSED, "%s", r.res->error ? r.res->error : r.res->completion);
    ck_assert_uint_eq(r.res->n_spans, 1);
    run_done(&r);
}
END_TEST

START_TEST(traceid_trigger_evaluates_a_stored_trace)
{
    uint8_t tid[16], pid[8] = {0};
    memset(tid, 0x3c, 16);
    static const char *const names[] = {"stored-root", "stored-child"};
    post_spans(tid, pid, names, 2, 1);
    char *yaml = tbt_xasprintf("type: Test\nspec:\n  id: tt\n  name: by trace id\n  trigger:\n    type: traceid\n"
                               "    traceid:\n      id: ${var:TID}\n  completion:\n    quietPeriod: 50ms\n"
                               "  specs:\n  - selector: span[name=~\"^stored-\"]\n    assertions:\n"
                               "    - attr:tracetest.selected_spans.count = 2\n");
    tbt_defs *d = tbt_defs_new();
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(tbt_defs_load_text(d, "tt.yaml", yaml, strlen(yaml), &err), 0);
    tbt_error_list errs = TBT_ERROR_LIST_INIT;
    tbt_plan *p;
    ck_assert_int_eq(tbt_plan_compile(tbt_defs_find_test(d, "tt"), d, &p, &errs), 0);
    tbt_run_result *rr = tbt_run_result_new();
    tbt_test_result *res = tbt_run_result_add(rr);
    tbt_vars *vars = tbt_vars_new();
    tbt_vars_set(vars, "TID", "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c");
    tbt_agent_run(agent, p, vars, rr, res);
    ck_assert_msg(res->status == TBT_TEST_PASSED, "%s", res->error ? res->error : res->completion);
    ck_assert_str_eq(res->trace_id, "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c");
    tbt_vars_free(vars);
    tbt_run_result_free(rr);
    tbt_plan_free(p);
    tbt_defs_free(d);
    free(yaml);
}
END_TEST

START_TEST(bad_completion_block_is_an_error)
{
    run r;
    run_test(&r, "/ok", "  completion:\n    quietPeriod: soon\n  specs:\n  - selector: span[]\n    assertions:\n"
                        "    - attr:x = 1\n");
    ck_assert_int_eq(r.res->status, TBT_TEST_ERROR);
    ck_assert_ptr_nonnull(strstr(r.res->error, "t.yaml:10:18: completion.quietPeriod must be a positive duration"));
    run_done(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("agent");
    TCase *tc = tcase_create("agent");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, complete_and_trigger_span);
    tcase_add_test(tc, late_span_within_quiet_period_is_seen);
    tcase_add_test(tc, no_span_is_an_explained_error);
    tcase_add_test(tc, unmatched_selector_stops_after_retries);
    tcase_add_test(tc, wait_for_a_later_span);
    tcase_add_test(tc, linked_consumer_trace_is_pulled_in);
    tcase_add_test(tc, skip_trace_collection);
    tcase_add_test(tc, traceid_trigger_evaluates_a_stored_trace);
    tcase_add_test(tc, bad_completion_block_is_an_error);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
