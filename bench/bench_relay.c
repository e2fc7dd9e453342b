/* bench_relay.c - what the span relay costs (docs/distributed.md): two
 * agents of one environment over librdkafka's mock cluster; spans arrive
 * at agent A while agent B watches their trace, so they reach B only
 * through tbt.spans.<environment>.
 *
 *   bench_relay [LATENCY_SAMPLES] [THROUGHPUT_BATCHES] [SPANS_PER_BATCH]
 *
 * Latency: one batch at a time, from A's ingest returning to B's watcher
 * waking (median, p99), against the same wake-up when the batch goes to B
 * directly. Throughput: batches ingested at A as fast as possible until B
 * holds every span: spans/s through the relay. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_agent.h"
#include "tbt_hist.h"
#include "tbt_kagent.h"

typedef struct side {
    tbt_agent *agent;
    tbt_kagent *k;
} side;

static void start_side(side *s, const char *bootstrap, tbt_kconf *kc, const char *id)
{
    tbt_error err = TBT_ERROR_INIT;
    tbt_agent_opts ao = tbt_agent_default_opts();
    ao.http_opts.port = 0;
    ao.grpc = false;
    if (tbt_agent_start(&ao, &s->agent, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    tbt_kagent_opts ko = tbt_kagent_default_opts();
    ko.brokers = bootstrap;
    ko.environment = "relay";
    ko.conf = kc;
    ko.solo = true; /* no jobs are sent: the group does not matter here */
    ko.log_level = TBT_LOG_ERROR;
    ko.agent_id = id;
    if (tbt_kagent_start(s->agent, &ko, &s->k, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
}

static void trace_id_of(const tbt_trace *t, uint8_t id[16])
{
    memcpy(id, tbt_trace_span_at(t, 0)->trace_id, 16);
}

/* Ingest one encoded batch at `at`, wait until `watcher` sees it; ns. */
static uint64_t one(tbt_store *at, tbt_store *watcher, const tbt_buf *b, const uint8_t id[16])
{
    tbt_watch *w = tbt_store_watch(watcher, id);
    uint64_t version = 0;
    tbt_ingest_result ir;
    tbt_error err = TBT_ERROR_INIT;
    uint64_t t0 = tbt_now_mono_ns();
    if (tbt_store_ingest(at, TBT_OTLP_PROTOBUF, (const uint8_t *)b->data, b->len, &ir, &err) != 0) {
        fprintf(stderr, "ingest: %s\n", err.msg);
        exit(1);
    }
    bool got = tbt_store_wait(watcher, w, &version, t0 + 5000000000ull);
    uint64_t dt = tbt_now_mono_ns() - t0;
    tbt_store_unwatch(watcher, w);
    return got ? dt : 0;
}

static void report(const char *what, const tbt_hist *h, size_t lost)
{
    printf("  %-32s median %8.3f ms  p99 %8.3f ms  max %8.3f ms  (%llu samples, %zu lost)\n", what,
           (double)tbt_hist_percentile(h, 50) / 1e6, (double)tbt_hist_percentile(h, 99) / 1e6, (double)h->max / 1e6,
           (unsigned long long)h->total, lost);
}

int main(int argc, char **argv)
{
    size_t samples = argc > 1 ? strtoul(argv[1], NULL, 10) : 300;
    size_t batches = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000;
    size_t per = argc > 3 ? strtoul(argv[3], NULL, 10) : 100;
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
    const char *topics[] = {"tbt.jobs.relay", "tbt.spans.relay", TBT_TOPIC_RESULTS, TBT_TOPIC_AGENTS, TBT_TOPIC_DEAD};
    for (size_t i = 0; i < TBT_ARRAY_LEN(topics); i++)
        rd_kafka_mock_topic_create(mc, topics[i], 4, 1);
    tbt_kconf kc = {0};
    tbt_error err = TBT_ERROR_INIT;
    tbt_kconf_add(&kc, "log_level=0", &err);
    side a, b;
    start_side(&a, bootstrap, &kc, "agent-a");
    start_side(&b, bootstrap, &kc, "agent-b");
    tbt_store *sa = tbt_agent_store(a.agent), *sb = tbt_agent_store(b.agent);
    printf("span relay over the mock cluster (1 broker, producer linger.ms 2, relay fetch.wait.max.ms 10), 2 cores\n");

    tbt_hist direct, relayed;
    tbt_hist_init(&direct);
    tbt_hist_init(&relayed);
    size_t lost_d = 0, lost_r = 0;
    for (size_t i = 0; i < samples; i++) {
        tbt_trace *t = tbt_otlp_generate(10, (unsigned)(1000 + 2 * i));
        tbt_buf buf = TBT_BUF_INIT;
        tbt_otlp_encode(t, TBT_OTLP_PROTOBUF, &buf);
        uint8_t id[16];
        trace_id_of(t, id);
        uint64_t d = one(sb, sb, &buf, id);
        d ? tbt_hist_record(&direct, d) : (void)lost_d++;
        tbt_trace_free(t);
        tbt_buf_free(&buf);
        t = tbt_otlp_generate(10, (unsigned)(1001 + 2 * i));
        tbt_otlp_encode(t, TBT_OTLP_PROTOBUF, &buf);
        trace_id_of(t, id);
        uint64_t r = one(sa, sb, &buf, id);
        r ? tbt_hist_record(&relayed, r) : (void)lost_r++;
        tbt_trace_free(t);
        tbt_buf_free(&buf);
    }
    printf("latency, batch of 10 spans ingested -> watcher woken:\n");
    report("direct (spans at the owner)", &direct, lost_d);
    report("relayed (spans at another agent)", &relayed, lost_r);

    /* throughput: every batch a trace of its own, all watched by B */
    tbt_buf *bufs = calloc(batches, sizeof(tbt_buf));
    tbt_watch **ws = calloc(batches, sizeof(tbt_watch *));
    size_t total = 0;
    for (size_t i = 0; i < batches; i++) {
        tbt_trace *t = tbt_otlp_generate(per, (unsigned)(500000 + i));
        tbt_otlp_encode(t, TBT_OTLP_PROTOBUF, &bufs[i]);
        uint8_t id[16];
        trace_id_of(t, id);
        ws[i] = tbt_store_watch(sb, id);
        total += tbt_trace_span_count(t);
        tbt_trace_free(t);
    }
    tbt_store_figures f0;
    tbt_store_stats(sb, &f0);
    uint64_t t0 = tbt_now_mono_ns();
    for (size_t i = 0; i < batches; i++) {
        tbt_ingest_result ir;
        if (tbt_store_ingest(sa, TBT_OTLP_PROTOBUF, (const uint8_t *)bufs[i].data, bufs[i].len, &ir, &err) != 0) {
            fprintf(stderr, "ingest: %s\n", err.msg);
            return 1;
        }
    }
    uint64_t t_in = tbt_now_mono_ns() - t0;
    tbt_store_figures f;
    do {
        tbt_store_stats(sb, &f);
    } while (f.ingested_spans - f0.ingested_spans < total && tbt_now_mono_ns() - t0 < 60000000000ull);
    uint64_t t_all = tbt_now_mono_ns() - t0;
    printf("throughput: %zu batches x %zu spans ingested at A in %.3f s; all %llu/%zu at B after %.3f s: "
           "%.0f spans/s through the relay\n",
           batches, per, (double)t_in / 1e9, (unsigned long long)(f.ingested_spans - f0.ingested_spans), total,
           (double)t_all / 1e9, (double)total / ((double)t_all / 1e9));
    tbt_kagent_stats st;
    tbt_kagent_stats_get(a.k, &st);
    printf("agent A relayed %llu batches; ", (unsigned long long)st.relayed_out);
    tbt_kagent_stats_get(b.k, &st);
    printf("agent B took %llu, dropped %llu\n", (unsigned long long)st.relayed_in, (unsigned long long)st.relay_dropped);
    for (size_t i = 0; i < batches; i++) {
        tbt_store_unwatch(sb, ws[i]);
        tbt_buf_free(&bufs[i]);
    }
    free(bufs);
    free(ws);
    tbt_kagent_stop(a.k);
    tbt_kagent_stop(b.k);
    tbt_agent_stop(a.agent);
    tbt_agent_stop(b.agent);
    tbt_kconf_free(&kc);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
