/* bench_dispatch.c - dispatch throughput: jobs per second from the
 * coordinator through Kafka to an agent and results back, with a test whose
 * trigger does no I/O (a traceid trigger, skipTraceCollection), so what is
 * measured is tbt's own path: job encoding, produce, fetch, decode,
 * compile (cached), run, result encoding, produce, fetch, decode,
 * aggregation.
 *
 *   bench_dispatch [RUNS] [CONCURRENCY] [AGENT_WORKERS] [REPEATS]
 *
 * In one process against librdkafka's mock cluster (one broker), like
 * `tbt run` without --brokers. Prints runs/s for each repeat and the best. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tbt_agent.h"
#include "tbt_coord.h"
#include "tbt_kagent.h"
#include "tbt_runner.h"

static const char *noop = "type: Test\n"
                          "spec:\n"
                          "  id: noop\n"
                          "  name: dispatch only\n"
                          "  trigger:\n"
                          "    type: traceid\n"
                          "    traceid:\n"
                          "      id: 0af7651916cd43dd8448eb211c80319c\n"
                          "  skipTraceCollection: true\n"
                          "  specs:\n"
                          "  - selector: span[name=\"nothing\"]\n"
                          "    assertions:\n"
                          "    - attr:tracetest.selected_spans.count = 0\n";

int main(int argc, char **argv)
{
    unsigned long runs = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
    unsigned conc = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 256;
    unsigned workers = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 2;
    int repeats = argc > 4 ? atoi(argv[4]) : 3;
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
    rd_kafka_mock_topic_create(mc, "tbt.jobs.bench", 4, 1);
    rd_kafka_mock_topic_create(mc, TBT_TOPIC_RESULTS, 4, 1);
    rd_kafka_mock_topic_create(mc, TBT_TOPIC_AGENTS, 1, 1);
    rd_kafka_mock_topic_create(mc, TBT_TOPIC_DEAD, 1, 1);

    char path[] = "/tmp/tbt-bench-XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    if (fd < 0 || write(fd, noop, strlen(noop)) != (ssize_t)strlen(noop))
        return 1;
    close(fd);
    tbt_defs *defs = tbt_defs_new();
    tbt_error err = TBT_ERROR_INIT;
    if (tbt_defs_load_file(defs, path, &err) || tbt_defs_resolve(defs, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    tbt_error_list errs = TBT_ERROR_LIST_INIT;
    tbt_unit *units = NULL;
    size_t n_units = 0;
    char *files[] = {path};
    tbt_runner_units(defs, files, 1, &units, &n_units, &errs);

    tbt_kconf kc = {0};
    tbt_kconf_add(&kc, "fetch.wait.max.ms=5", &err);
    tbt_kconf_add(&kc, "log_level=0", &err);
    tbt_agent_opts ao = tbt_agent_default_opts();
    ao.http_opts.port = 0;
    ao.grpc = false;
    tbt_agent *agent = NULL;
    if (tbt_agent_start(&ao, &agent, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    tbt_kagent_opts ko = tbt_kagent_default_opts();
    ko.brokers = bootstrap;
    ko.environment = "bench";
    ko.conf = &kc;
    ko.concurrency = workers;
    ko.solo = true;
    ko.log_level = TBT_LOG_ERROR;
    ko.relay = false;
    tbt_kagent *k = NULL;
    if (tbt_kagent_start(agent, &ko, &k, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    char *envs[] = {"bench"};
    tbt_coord_opts o = tbt_coord_default_opts();
    o.brokers = bootstrap;
    o.conf = &kc;
    o.envs = envs;
    o.n_envs = 1;
    o.campaign = true;
    o.runs = runs;
    o.concurrency = conc;
    tbt_vars *vars = tbt_vars_new();
    printf("dispatch: %lu runs, %u in flight, %u agent workers, mock cluster (1 broker), 2 cores\n", runs, conc, workers);
    double best = 0;
    for (int r = 0; r < repeats; r++) {
        tbt_run_result *rr = tbt_run_result_new();
        tbt_campaign_result camp = {0};
        uint64_t t0 = tbt_now_mono_ns();
        if (tbt_coord_run(&o, units, n_units, vars, rr, &camp, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double wall = (double)(tbt_now_mono_ns() - t0) / 1e9;
        const tbt_campaign_row *row = &camp.rows[0];
        double rate = (double)row->stats.runs / ((double)row->elapsed_ns / 1e9);
        printf("  run %d: %llu results (%llu passed) in %.3f s of dispatch (%.3f s with connecting): %.0f jobs/s\n",
               r + 1, (unsigned long long)row->stats.runs, (unsigned long long)row->stats.passed,
               (double)row->elapsed_ns / 1e9, wall, rate);
        if (rate > best)
            best = rate;
        tbt_campaign_result_clear(&camp);
        tbt_run_result_free(rr);
    }
    printf("best: %.0f jobs/s (goal >= 50,000)\n", best);
    tbt_kagent_stop(k);
    tbt_agent_stop(agent);
    tbt_vars_free(vars);
    tbt_runner_units_free(units, n_units);
    tbt_error_list_clear(&errs);
    tbt_defs_free(defs);
    tbt_kconf_free(&kc);
    unlink(path);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
