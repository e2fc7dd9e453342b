/*
 * bench_eval.c - evaluation speed on a large trace.
 *
 * Evaluates a test of 20 specs (mixed selectors: attribute filters,
 * regexes, numeric comparisons, descendant and child chains, pseudo-classes,
 * a union) on a generated 100,000-span trace, and prints the time beside
 * the floor: one plain linear pass over the same spans in which hand-written
 * C checks each span against the first-step filters of all 20 specs (the
 * work any evaluator must do at least once per span). Best of N runs.
 *
 * Usage: bench_eval [SPANS] [RUNS]
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tbt_eval.h"
#include "tbt_otlp.h"

static const char test_yaml[] =
    "type: Test\n"
    "spec:\n"
    "  id: bench\n"
    "  name: twenty specs\n"
    "  trigger:\n"
    "    type: traceid\n"
    "    traceid:\n"
    "      id: ${var:TRACE_ID}\n"
    "  specs:\n"
    "  - selector: span[tracetest.span.type=\"http\" kind=\"server\"]\n"
    "    assertions: [\"attr:http.response.status_code < 600\"]\n"
    "  - selector: span[name=\"process payment\"]\n"
    "    assertions: [\"attr:payment.amount = 99.99\", \"attr:tracetest.selected_spans.count >= 1\"]\n"
    "  - selector: span[tracetest.span.type=\"database\"]\n"
    "    assertions: [\"attr:tracetest.span.duration < 5s\"]\n"
    "  - selector: span[db.system=\"postgresql\" db.operation=\"INSERT\"]\n"
    "    assertions: [\"attr:db.statement contains 'INSERT'\"]\n"
    "  - selector: span[kind=\"server\"] span[tracetest.span.type=\"database\"]\n"
    "    assertions: [\"attr:db.name = 'shop'\"]\n"
    "  - selector: span[messaging.system=\"kafka\" kind=\"producer\"]\n"
    "    assertions: [\"attr:messaging.destination.name != ''\"]\n"
    "  - selector: span[kind=\"consumer\"]\n"
    "    assertions: [\"attr:messaging.operation = 'process'\"]\n"
    "  - selector: span[name=\"POST /checkout\"] span[name=\"process payment\"]\n"
    "    assertions: [\"attr:payment.currency = 'EUR'\"]\n"
    "  - selector: span[http.response.status_code>=500]\n"
    "    assertions: [\"attr:tracetest.span.status_code = 'STATUS_CODE_ERROR'\"]\n"
    "  - selector: span[service.name=\"payment-service\"]\n"
    "    assertions: [\"attr:tracetest.span.duration < 10s\"]\n"
    "  - selector: span[name=~\"^pg\\.query:SELECT\"]\n"
    "    assertions: [\"attr:db.response.returned_rows <= 50\"]\n"
    "  - selector: span[tracetest.span.type=\"http\" kind=\"client\"] > span[kind=\"server\"]\n"
    "    assertions: [\"attr:http.route contains '/'\"]\n"
    "  - selector: span[name=\"POST /checkout\"]:first\n"
    "    assertions: [\"attr:tracetest.span.duration > 0\"]\n"
    "  - selector: span[app.user.vip=true]\n"
    "    assertions: [\"attr:app.cart.total > 0\"]\n"
    "  - selector: span[tracetest.span.type=\"messaging\"]:last\n"
    "    assertions: [\"attr:messaging.kafka.destination.partition < 12\"]\n"
    "  - selector: span[server.address=\"postgres.shop.svc\"]\n"
    "    assertions: [\"attr:server.port = 5432\"]\n"
    "  - selector: span[kind=\"internal\"]\n"
    "    assertions: [\"attr:tracetest.span.duration >= 0\"]\n"
    "  - selector: span[name=\"POST /checkout\"] span[kind=\"client\"] span[tracetest.span.type=\"database\"]\n"
    "    assertions: [\"attr:db.user = 'app'\"]\n"
    "  - selector: span[db.operation=\"UPDATE\"], span[db.operation=\"INSERT\"]\n"
    "    assertions: [\"attr:db.sql.table != ''\"]\n"
    "  - selector: span[tracetest.span.status_code=\"STATUS_CODE_ERROR\"]\n"
    "    assertions: [\"attr:tracetest.span.status_description != ''\"]\n";

static bool attr_is(const tbt_span *s, const char *key, const char *val)
{
    const tbt_value *v = tbt_kv_find(s->attrs, s->n_attrs, key);
    if (!v && s->resource)
        v = tbt_kv_find(s->resource->attrs, s->resource->n_attrs, key);
    return v && v->type == TBT_V_STRING && strcmp(v->u.s.ptr, val) == 0;
}

static int64_t attr_int(const tbt_span *s, const char *key)
{
    const tbt_value *v = tbt_kv_find(s->attrs, s->n_attrs, key);
    return v && v->type == TBT_V_INT ? v->u.i : -1;
}

/* The floor: one pass, each span checked against the 20 first-step filters. */
static size_t floor_pass(tbt_trace *t)
{
    size_t hits = 0, n = tbt_trace_span_count(t);
    for (size_t i = 0; i < n; i++) {
        const tbt_span *s = tbt_trace_span_at(t, i);
        const char *ty = s->type;
        hits += strcmp(ty, "http") == 0 && s->kind == TBT_KIND_SERVER;
        hits += strcmp(s->name, "process payment") == 0;
        hits += strcmp(ty, "database") == 0;
        hits += attr_is(s, "db.system", "postgresql") && attr_is(s, "db.operation", "INSERT");
        hits += s->kind == TBT_KIND_SERVER;
        hits += attr_is(s, "messaging.system", "kafka") && s->kind == TBT_KIND_PRODUCER;
        hits += s->kind == TBT_KIND_CONSUMER;
        hits += strcmp(s->name, "POST /checkout") == 0;
        hits += attr_int(s, "http.response.status_code") >= 500;
        hits += attr_is(s, "service.name", "payment-service");
        hits += strncmp(s->name, "pg.query:SELECT", 15) == 0;
        hits += strcmp(ty, "http") == 0 && s->kind == TBT_KIND_CLIENT;
        hits += strcmp(s->name, "POST /checkout") == 0;
        hits += tbt_kv_find(s->attrs, s->n_attrs, "app.user.vip") != NULL;
        hits += strcmp(ty, "messaging") == 0;
        hits += attr_is(s, "server.address", "postgres.shop.svc");
        hits += s->kind == TBT_KIND_INTERNAL;
        hits += strcmp(s->name, "POST /checkout") == 0;
        hits += attr_is(s, "db.operation", "UPDATE") || attr_is(s, "db.operation", "INSERT");
        hits += s->status_code == TBT_STATUS_ERROR;
    }
    return hits;
}

/* CPU time of this thread: robust when other processes share the cores */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

int main(int argc, char **argv)
{
    size_t spans = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    tbt_trace *t = tbt_otlp_generate(spans, 42);
    tbt_defs *defs = tbt_defs_new();
    tbt_error err = TBT_ERROR_INIT;
    if (tbt_defs_load_text(defs, "bench.yaml", test_yaml, strlen(test_yaml), &err) != 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    const tbt_test_def *def = tbt_defs_find_test(defs, "bench");
    tbt_error_list errs = TBT_ERROR_LIST_INIT;
    tbt_plan *plan;
    if (tbt_plan_compile(def, defs, &plan, &errs) != 0) {
        tbt_buf b = TBT_BUF_INIT;
        tbt_error_list_format(&errs, &b);
        fprintf(stderr, "%s", tbt_buf_cstr(&b));
        return 1;
    }
    uint64_t best_eval = UINT64_MAX, best_floor = UINT64_MAX, cpu_eval = UINT64_MAX, cpu_floor = UINT64_MAX;
    size_t selected = 0, asserted = 0, hits = 0;
    bool passed = false;
    for (int r = 0; r < runs; r++) {
        tbt_vars *vars = tbt_vars_new();
        tbt_run_result *rr = tbt_run_result_new();
        tbt_test_result *res = tbt_run_result_add(rr);
        uint64_t c0 = cpu_ns(), t0 = tbt_now_mono_ns();
        tbt_plan_evaluate(plan, t, vars, rr, res);
        uint64_t c1 = cpu_ns(), t1 = tbt_now_mono_ns();
        hits = floor_pass(t);
        uint64_t c2 = cpu_ns(), t2 = tbt_now_mono_ns();
        if (c1 - c0 < cpu_eval)
            cpu_eval = c1 - c0;
        if (c2 - c1 < cpu_floor)
            cpu_floor = c2 - c1;
        if (t1 - t0 < best_eval)
            best_eval = t1 - t0;
        if (t2 - t1 < best_floor)
            best_floor = t2 - t1;
        selected = asserted = 0;
        for (size_t i = 0; i < res->n_specs; i++) {
            selected += res->specs[i].n_selected;
            for (size_t k = 0; k < res->specs[i].n_asserts; k++)
                asserted += res->specs[i].asserts[k].n_spans;
        }
        passed = res->status == TBT_TEST_PASSED;
        if (r == 0)
            for (size_t i = 0; i < res->n_specs; i++)
                if (!res->specs[i].passed)
                    printf("failing spec: %s (%zu spans)\n", res->specs[i].selector, res->specs[i].n_selected);
        tbt_run_result_free(rr);
        tbt_vars_free(vars);
    }
    /* where the time goes: selection alone */
    {
        size_t ns = tbt_plan_selector_count(plan);
        const tbt_selector **sels = tbt_xcalloc(ns, sizeof(*sels));
        for (size_t i = 0; i < ns; i++)
            sels[i] = tbt_plan_selector_at(plan, i);
        tbt_span ***outs = tbt_xcalloc(ns, sizeof(*outs));
        size_t *cnt = tbt_xcalloc(ns, sizeof(*cnt));
        int *rcs = tbt_xcalloc(ns, sizeof(*rcs));
        tbt_error *errs2 = tbt_xcalloc(ns, sizeof(*errs2));
        uint64_t best = UINT64_MAX;
        for (int r = 0; r < runs; r++) {
            tbt_select_ws *ws = tbt_select_ws_new();
            tbt_vars *vars = tbt_vars_new();
            uint64_t c0 = cpu_ns();
            tbt_selector_select_many(sels, ns, t, vars, ws, outs, cnt, rcs, errs2);
            uint64_t c1 = cpu_ns();
            if (c1 - c0 < best)
                best = c1 - c0;
            for (size_t i = 0; i < ns; i++)
                free(outs[i]);
            tbt_vars_free(vars);
            tbt_select_ws_free(ws);
        }
        printf("of which selecting (all 20 selectors): %.2f ms CPU\n", ms(best));
        free(sels);
        free(outs);
        free(cnt);
        free(rcs);
        free(errs2);
    }
    printf("trace: %zu spans, %zu bytes held (%.0f bytes/span)\n", tbt_trace_span_count(t), tbt_trace_memory(t),
           (double)tbt_trace_memory(t) / (double)tbt_trace_span_count(t));
    printf("evaluate 20 specs: %.2f ms wall, %.2f ms CPU (best of %d); %zu spans selected, %zu assertion "
           "evaluations, verdict %s\n",
           ms(best_eval), ms(cpu_eval), runs, selected, asserted, passed ? "passed" : "failed");
    printf("floor (one hand-written pass, 20 predicates per span): %.2f ms wall, %.2f ms CPU (%zu hits)\n",
           ms(best_floor), ms(cpu_floor), hits);
    printf("ratio: %.2fx the floor (wall), %.2fx (CPU); goal <= 50 ms and <= 3x\n", (double)best_eval / (double)best_floor,
           (double)cpu_eval / (double)cpu_floor);
    tbt_plan_free(plan);
    tbt_defs_free(defs);
    tbt_trace_free(t);
    return 0;
}
