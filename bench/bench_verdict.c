/*
 * bench_verdict.c - what the agent itself adds to a verdict.
 *
 * An in-process system under test (a libmicrohttpd server) answers the
 * trigger and exports three spans of the trigger's trace to the agent's
 * OTLP/HTTP receiver (protobuf over loopback, like an SDK). The agent runs
 * the test N times with a short quiet period; for each run the bench
 * records the time from the moment the completion condition was met (the
 * quiet period after the last span elapsed, all selectors matched) to the
 * verdict being ready, and the whole trigger-to-verdict time.
 *
 * Usage: bench_verdict [RUNS] [QUIET_MS]
 */
#include <curl/curl.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_agent.h"
#include "tbt_otlp.h"

static uint16_t otlp_port;

/* Export 3 spans of the trace named by traceparent to the agent. */
static void export_spans(const char *traceparent)
{
    uint8_t tid[16], pid[8];
    if (strlen(traceparent) < 55 || tbt_hex_decode(traceparent + 3, 32, tid, 16) ||
        tbt_hex_decode(traceparent + 36, 16, pid, 8))
        return;
    tbt_trace *t = tbt_trace_new();
    tbt_resource *r = tbt_trace_new_resource(t);
    r->n_attrs = 1;
    r->attrs = tbt_arena_calloc(tbt_trace_arena(t), 1, sizeof(tbt_kv));
    r->attrs[0].key = "service.name";
    r->attrs[0].value = tbt_value_str("bench-sut");
    uint64_t now = tbt_now_unix_ns();
    const char *names[3] = {"GET /", "process payment", "pg.query:SELECT"};
    for (int i = 0; i < 3; i++) {
        tbt_span *s = tbt_trace_add_span(t);
        memcpy(s->trace_id, tid, 16);
        s->span_id[7] = (uint8_t)(i + 1);
        s->span_id[0] = 0x5a;
        if (i == 0)
            memcpy(s->parent_id, pid, 8);
        else
            s->parent_id[7] = 1, s->parent_id[0] = 0x5a;
        s->name = names[i];
        s->kind = i == 0 ? TBT_KIND_SERVER : TBT_KIND_INTERNAL;
        s->start_ns = now;
        s->end_ns = now + 1000000;
        s->resource = r;
    }
    tbt_trace_finalize(t, NULL);
    tbt_buf b = TBT_BUF_INIT;
    tbt_otlp_encode(t, TBT_OTLP_PROTOBUF, &b);
    CURL *h = curl_easy_init();
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/traces", otlp_port);
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, b.data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)b.len);
    curl_easy_perform(h);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    tbt_buf_free(&b);
    tbt_trace_free(t);
}

static enum MHD_Result sut(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                           const char *version, const char *data, size_t *size, void **state)
{
    TBT_UNUSED(cls);
    TBT_UNUSED(url);
    TBT_UNUSED(method);
    TBT_UNUSED(version);
    TBT_UNUSED(data);
    if (!*state) {
        *state = (void *)1;
        return MHD_YES;
    }
    *size = 0;
    const char *tp = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "traceparent");
    if (tp)
        export_spans(tp);
    struct MHD_Response *r = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 1000;
    int quiet_ms = argc > 2 ? atoi(argv[2]) : 20;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, sut, NULL,
                                            MHD_OPTION_END);
    uint16_t sut_port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    tbt_agent_opts ao = tbt_agent_default_opts();
    ao.http_opts.port = 0;
    ao.grpc = false;
    ao.quiet_ns = (uint64_t)quiet_ms * 1000000ull;
    tbt_agent *a;
    tbt_error err = TBT_ERROR_INIT;
    if (tbt_agent_start(&ao, &a, &err) != 0) {
        fprintf(stderr, "agent: %s\n", err.msg);
        return 1;
    }
    otlp_port = tbt_agent_http_port(a);
    char *yaml = tbt_xasprintf("type: Test\nspec:\n  id: v\n  name: verdict\n  trigger:\n    type: http\n"
                               "    httpRequest:\n      method: GET\n      url: http://127.0.0.1:%u/\n"
                               "  specs:\n  - selector: span[name=\"process payment\"]\n    assertions:\n"
                               "    - attr:tracetest.selected_spans.count = 1\n"
                               "  - selector: span[service.name=\"bench-sut\"]\n    assertions:\n"
                               "    - attr:tracetest.span.duration < 1s\n",
                               sut_port);
    tbt_defs *defs = tbt_defs_new();
    tbt_defs_load_text(defs, "bench.yaml", yaml, strlen(yaml), &err);
    tbt_error_list errs = TBT_ERROR_LIST_INIT;
    tbt_plan *plan;
    tbt_plan_compile(tbt_defs_find_test(defs, "v"), defs, &plan, &errs);
    uint64_t *added = tbt_xcalloc((size_t)runs, sizeof(uint64_t)), *total = tbt_xcalloc((size_t)runs, sizeof(uint64_t));
    int passed = 0;
    for (int i = 0; i < runs; i++) {
        tbt_run_result *rr = tbt_run_result_new();
        tbt_test_result *res = tbt_run_result_add(rr);
        tbt_vars *vars = tbt_vars_new();
        tbt_agent_run(a, plan, vars, rr, res);
        tbt_agent_timing tm;
        tbt_agent_last_timing(&tm);
        added[i] = tm.verdict_ns - tm.condition_met_ns;
        total[i] = tm.verdict_ns - tm.trigger_start_ns;
        passed += res->status == TBT_TEST_PASSED;
        if (i == 0 && res->status != TBT_TEST_PASSED)
            fprintf(stderr, "first run: %s / %s\n", tbt_test_status_name(res->status),
                    res->error ? res->error : res->completion);
        tbt_vars_free(vars);
        tbt_run_result_free(rr);
    }
    qsort(added, (size_t)runs, sizeof(uint64_t), cmp_u64);
    qsort(total, (size_t)runs, sizeof(uint64_t), cmp_u64);
    size_t p50 = (size_t)runs / 2, p99 = (size_t)((double)runs * 0.99);
    if (p99 >= (size_t)runs)
        p99 = (size_t)runs - 1;
    printf("%d runs, %d passed, quiet period %d ms\n", runs, passed, quiet_ms);
    printf("agent-added latency (condition met -> verdict): median %.3f ms, p99 %.3f ms, max %.3f ms\n",
           (double)added[p50] / 1e6, (double)added[p99] / 1e6, (double)added[runs - 1] / 1e6);
    printf("trigger-to-verdict: median %.2f ms, p99 %.2f ms\n", (double)total[p50] / 1e6, (double)total[p99] / 1e6);
    free(added);
    free(total);
    free(yaml);
    tbt_plan_free(plan);
    tbt_defs_free(defs);
    tbt_agent_stop(a);
    MHD_stop_daemon(d);
    curl_global_cleanup();
    return 0;
}
