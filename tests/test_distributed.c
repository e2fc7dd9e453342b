/* test_distributed.c - the coordinator and the Kafka agent against
 * librdkafka's mock cluster in this process: a campaign counts every run
 * exactly once, also with broker request errors injected; a record that is
 * not a job is dead-lettered and the agent keeps going; an environment with
 * no agent is an error that names it; a suite's outputs flow between steps
 * sent as separate jobs; a test that cannot compile on the agent comes back
 * as an error result. */
#include <check.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tbt_agent.h"
#include "tbt_analyzer.h"
#include "tbt_coord.h"
#include "tbt_kagent.h"
#include "tbt_msg.h"
#include "tbt_runner.h"

/* Kafka API keys (the protocol's numbers) for error injection */
enum { API_PRODUCE = 0, API_FETCH = 1, API_OFFSET_COMMIT = 8, API_HEARTBEAT = 12 };

/* The system under test: answers every GET with its path (without the
 * leading slash), so a suite step can see what an earlier one sent. */
static struct MHD_Daemon *sut;
static uint16_t sut_port;

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state)
{
    (void)cls, (void)method, (void)version, (void)upload, (void)upload_size, (void)state;
    const char *body = url[0] == '/' ? url + 1 : url;
    if (strncmp(body, "sleep-", 6) == 0)
        usleep((useconds_t)atoi(body + 6) * 1000);
    static char big[65536];
    if (strncmp(body, "big-", 4) == 0) { /* a body of N bytes */
        size_t n = (size_t)atoi(body + 4);
        n = n < sizeof(big) - 1 ? n : sizeof(big) - 1;
        memset(big, 'x', n);
        big[n] = '\0';
        body = big;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static void sut_start(void)
{
    sut = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, answer,
                           NULL, MHD_OPTION_END);
    ck_assert_ptr_nonnull(sut);
    sut_port = MHD_get_daemon_info(sut, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static void sut_stop(void)
{
    MHD_stop_daemon(sut);
}

/* A test whose trace is only its trigger span: no waiting. */
static const char *noop_yaml = "type: Test\n"
                               "spec:\n"
                               "  id: noop\n"
                               "  name: noop\n"
                               "  trigger:\n"
                               "    type: http\n"
                               "    httpRequest:\n"
                               "      url: ${var:SUT}/ok\n"
                               "  skipTraceCollection: true\n"
                               "  specs:\n"
                               "  - selector: span[name=\"Tracetest trigger\"]\n"
                               "    assertions:\n"
                               "    - attr:tracetest.response.status = 200\n"
                               "    - attr:tracetest.response.body = \"ok\"\n";

typedef struct cluster {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    char *bootstrap;
    tbt_agent *agent;
    tbt_kagent *kagent;
    tbt_kconf conf;
    tbt_defs *defs;
    tbt_vars *vars;
    tbt_unit *units;
    size_t n_units;
    char path[64];
} cluster;

static void load_units(cluster *c, const char *yaml)
{
    strcpy(c->path, "/tmp/tbt-dist-XXXXXX.yaml");
    int fd = mkstemps(c->path, 5);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    c->defs = tbt_defs_new();
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_msg(tbt_defs_load_file(c->defs, c->path, &err) == 0 && tbt_defs_resolve(c->defs, &err) == 0, "%s",
                  err.msg);
    tbt_error_list errs = TBT_ERROR_LIST_INIT;
    char *files[] = {c->path};
    ck_assert_int_eq(tbt_runner_units(c->defs, files, 1, &c->units, &c->n_units, &errs), 0);
    tbt_error_list_clear(&errs);
    c->vars = tbt_vars_new();
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", sut_port);
    tbt_vars_set(c->vars, "SUT", url);
}

/* The environment's one agent (solo), with Kafka settings conf;
 * concurrency 0: the agent's default. */
static void start_agent(cluster *c, const tbt_kconf *conf, unsigned concurrency)
{
    tbt_error err = TBT_ERROR_INIT;
    tbt_agent_opts ao = tbt_agent_default_opts();
    ao.http_opts.port = 0;
    ao.grpc_opts.port = 0;
    ck_assert_msg(tbt_agent_start(&ao, &c->agent, &err) == 0, "%s", err.msg);
    tbt_kagent_opts ko = tbt_kagent_default_opts();
    ko.brokers = c->bootstrap;
    ko.environment = "t";
    ko.conf = conf;
    if (concurrency)
        ko.concurrency = concurrency;
    ko.solo = true;
    ko.log_level = TBT_LOG_ERROR;
    ko.heartbeat_ms = 500;
    ko.agent_id = "test-agent";
    ck_assert_msg(tbt_kagent_start(c->agent, &ko, &c->kagent, &err) == 0, "%s", err.msg);
}

static void start(cluster *c, const char *yaml, bool with_agent)
{
    memset(c, 0, sizeof(*c));
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
    c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    ck_assert_ptr_nonnull(c->rk);
    c->mc = rd_kafka_mock_cluster_new(c->rk, 3);
    ck_assert_ptr_nonnull(c->mc);
    c->bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(c->mc));
    const char *topics[] = {"tbt.jobs.t", TBT_TOPIC_RESULTS, TBT_TOPIC_DEAD, TBT_TOPIC_AGENTS, "tbt.spans.t"};
    for (size_t i = 0; i < TBT_ARRAY_LEN(topics); i++)
        rd_kafka_mock_topic_create(c->mc, topics[i], 4, 3);
    tbt_error err = TBT_ERROR_INIT;
    ck_assert(tbt_kconf_add(&c->conf, "fetch.wait.max.ms=5", &err) == 0);
    ck_assert(tbt_kconf_add(&c->conf, "log_level=0", &err) == 0);
    load_units(c, yaml);
    if (with_agent)
        start_agent(c, &c->conf, 8);
}

static void stop(cluster *c)
{
    if (c->kagent)
        tbt_kagent_stop(c->kagent);
    if (c->agent)
        tbt_agent_stop(c->agent);
    tbt_runner_units_free(c->units, c->n_units);
    tbt_vars_free(c->vars);
    tbt_defs_free(c->defs);
    unlink(c->path);
    tbt_kconf_free(&c->conf);
    rd_kafka_mock_cluster_destroy(c->mc);
    rd_kafka_destroy(c->rk);
    free(c->bootstrap);
}

static tbt_coord_opts copts(cluster *c)
{
    static char *envs[] = {"t"};
    tbt_coord_opts o = tbt_coord_default_opts();
    o.brokers = c->bootstrap;
    o.conf = &c->conf;
    o.envs = envs;
    o.n_envs = 1;
    o.agent_wait_ns = 10ull * 1000000000ull;
    o.job_timeout_ns = 60ull * 1000000000ull;
    return o;
}

static void campaign(cluster *c, uint64_t runs, tbt_campaign_result *camp)
{
    tbt_coord_opts o = copts(c);
    o.campaign = true;
    o.runs = runs;
    o.concurrency = 32;
    tbt_error err = TBT_ERROR_INIT;
    tbt_run_result *rr = tbt_run_result_new();
    ck_assert_msg(tbt_coord_run(&o, c->units, c->n_units, c->vars, rr, camp, &err) == 0, "%s", err.msg);
    tbt_run_result_free(rr);
}

START_TEST(campaign_counts_every_run_once)
{
    cluster c;
    start(&c, noop_yaml, true);
    tbt_campaign_result camp = {0};
    campaign(&c, 500, &camp);
    ck_assert_uint_eq(camp.n_rows, 1);
    ck_assert_uint_eq(camp.rows[0].stats.runs, 500);
    ck_assert_uint_eq(camp.rows[0].stats.passed, 500);
    ck_assert_uint_eq(camp.rows[0].stats.verdict_latency.total, 500);
    ck_assert_str_eq(camp.rows[0].environment, "t");
    tbt_campaign_result_clear(&camp);
    stop(&c);
}
END_TEST

static void *broker_up_later(void *mc)
{
    usleep(1500000);
    rd_kafka_mock_broker_set_up(mc, 2);
    return NULL;
}

START_TEST(broker_errors_injected)
{
    cluster c;
    start(&c, noop_yaml, true);
    /* retriable errors on produce (jobs, results), fetch and commits: the
     * clients retry, and the run still counts every result once */
    rd_kafka_mock_push_request_errors(c.mc, API_PRODUCE, 6, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
    rd_kafka_mock_push_request_errors(c.mc, API_FETCH, 4, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
    rd_kafka_mock_push_request_errors(c.mc, API_OFFSET_COMMIT, 3, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
    tbt_campaign_result camp = {0};
    campaign(&c, 300, &camp);
    ck_assert_uint_eq(camp.rows[0].stats.runs, 300);
    ck_assert_uint_eq(camp.rows[0].stats.passed, 300);
    tbt_campaign_result_clear(&camp);
    /* a broker going down and coming back while a campaign runs */
    rd_kafka_mock_broker_set_down(c.mc, 2);
    pthread_t up;
    pthread_create(&up, NULL, broker_up_later, c.mc);
    campaign(&c, 100, &camp);
    pthread_join(up, NULL);
    ck_assert_uint_eq(camp.rows[0].stats.runs, 100);
    ck_assert_uint_eq(camp.rows[0].stats.passed + camp.rows[0].stats.errors, 100);
    tbt_campaign_result_clear(&camp);
    stop(&c);
}
END_TEST

START_TEST(poison_is_dead_lettered)
{
    cluster c;
    start(&c, noop_yaml, true);
    char errstr[256];
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    rd_kafka_conf_set(pc, "bootstrap.servers", c.bootstrap, errstr, sizeof(errstr));
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof(errstr));
    ck_assert_ptr_nonnull(p);
    const char *poison[] = {"not json at all", "{\"version\":1,\"kind\":\"job\"}", "{\"version\":99,\"kind\":\"job\"}",
                            "[]", ""};
    for (size_t i = 0; i < TBT_ARRAY_LEN(poison); i++)
        ck_assert_int_eq(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("tbt.jobs.t"), RD_KAFKA_V_KEY("p", 1),
                                           RD_KAFKA_V_VALUE((void *)poison[i], strlen(poison[i])),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                         0);
    ck_assert_int_eq(rd_kafka_flush(p, 5000), 0);
    rd_kafka_destroy(p);
    tbt_kagent_stats st = {0};
    for (int i = 0; i < 200 && st.dead_lettered < TBT_ARRAY_LEN(poison); i++) {
        usleep(50000);
        tbt_kagent_stats_get(c.kagent, &st);
    }
    ck_assert_uint_eq(st.dead_lettered, TBT_ARRAY_LEN(poison));
    /* and the agent keeps going */
    tbt_campaign_result camp = {0};
    campaign(&c, 20, &camp);
    ck_assert_uint_eq(camp.rows[0].stats.passed, 20);
    tbt_campaign_result_clear(&camp);
    stop(&c);
}
END_TEST

START_TEST(no_agent_names_the_environment)
{
    cluster c;
    start(&c, noop_yaml, false);
    tbt_coord_opts o = copts(&c);
    o.agent_wait_ns = 500000000ull;
    tbt_error err = TBT_ERROR_INIT;
    tbt_run_result *rr = tbt_run_result_new();
    tbt_campaign_result camp = {0};
    ck_assert_int_eq(tbt_coord_run(&o, c.units, c.n_units, c.vars, rr, &camp, &err), -EHOSTDOWN);
    ck_assert_msg(strstr(err.msg, "no agent alive in environment 't'") != NULL, "%s", err.msg);
    tbt_error_clear(&err);
    tbt_run_result_free(rr);
    stop(&c);
}
END_TEST

START_TEST(suite_outputs_flow_between_jobs)
{
    static const char *suite = "type: Test\n"
                               "spec:\n"
                               "  id: first\n"
                               "  name: first\n"
                               "  trigger:\n"
                               "    type: http\n"
                               "    httpRequest:\n"
                               "      url: ${var:SUT}/alpha\n"
                               "  skipTraceCollection: true\n"
                               "  outputs:\n"
                               "  - name: FROM_FIRST\n"
                               "    selector: span[name=\"Tracetest trigger\"]\n"
                               "    value: attr:tracetest.response.body\n"
                               "---\n"
                               "type: Test\n"
                               "spec:\n"
                               "  id: second\n"
                               "  name: second\n"
                               "  trigger:\n"
                               "    type: http\n"
                               "    httpRequest:\n"
                               "      url: ${var:SUT}/${var:FROM_FIRST}-again\n"
                               "  skipTraceCollection: true\n"
                               "  specs:\n"
                               "  - selector: span[name=\"Tracetest trigger\"]\n"
                               "    assertions:\n"
                               "    - attr:tracetest.response.body = \"alpha-again\"\n"
                               "---\n"
                               "type: TestSuite\n"
                               "spec:\n"
                               "  id: s\n"
                               "  name: the suite\n"
                               "  steps: [first, second]\n";
    cluster c;
    start(&c, suite, true);
    /* run only the suite: the units are the two tests and the suite */
    ck_assert_uint_eq(c.n_units, 3);
    tbt_coord_opts o = copts(&c);
    tbt_error err = TBT_ERROR_INIT;
    tbt_run_result *rr = tbt_run_result_new();
    tbt_campaign_result camp = {0};
    ck_assert_msg(tbt_coord_run(&o, c.units + 2, 1, c.vars, rr, &camp, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(rr->n_tests, 2);
    ck_assert_str_eq(rr->tests[0].name, "first");
    ck_assert_str_eq(rr->tests[1].name, "second");
    ck_assert_str_eq(rr->tests[1].suite, "the suite");
    ck_assert_int_eq(rr->tests[0].status, TBT_TEST_PASSED);
    ck_assert_msg(rr->tests[1].status == TBT_TEST_PASSED, "second step: %s",
                  rr->tests[1].n_specs && rr->tests[1].specs[0].n_asserts && rr->tests[1].specs[0].asserts[0].n_spans
                      ? rr->tests[1].specs[0].asserts[0].spans[0].observed
                      : "?");
    ck_assert_str_eq(rr->tests[1].environment, "t");
    tbt_run_result_free(rr);
    stop(&c);
}
END_TEST

/* The HTML report's trace view and the analyzer's verdict travel in the
 * result; a result over the cluster's message size goes without its view
 * rather than not at all. */
static void run_once(cluster *c, bool view, tbt_run_result *rr)
{
    tbt_coord_opts o = copts(c);
    o.want_view = view;
    tbt_analyzer_config *an = tbt_analyzer_config_new();
    tbt_buf aj = TBT_BUF_INIT;
    tbt_analyzer_config_json(an, &aj);
    o.analyzer_json = tbt_buf_cstr(&aj);
    tbt_error err = TBT_ERROR_INIT;
    tbt_campaign_result camp = {0};
    ck_assert_msg(tbt_coord_run(&o, c->units, c->n_units, c->vars, rr, &camp, &err) == 0, "%s", err.msg);
    tbt_campaign_result_clear(&camp);
    tbt_buf_free(&aj);
    tbt_analyzer_config_free(an);
}

START_TEST(views_and_lint_travel_and_shrink)
{
    static const char *big = "type: Test\n"
                             "spec:\n"
                             "  id: big\n"
                             "  name: big\n"
                             "  trigger:\n"
                             "    type: http\n"
                             "    httpRequest:\n"
                             "      url: ${var:SUT}/big-${var:N}\n"
                             "  skipTraceCollection: true\n"
                             "  specs:\n"
                             "  - selector: span[name=\"Tracetest trigger\"]\n"
                             "    assertions:\n"
                             "    - attr:tracetest.response.status = 200\n";
    cluster c;
    tbt_error err = TBT_ERROR_INIT;
    memset(&c, 0, sizeof(c));
    /* the agent's (and coordinator's) producer takes records of 6000 bytes */
    start(&c, big, false);
    ck_assert(tbt_kconf_add(&c.conf, "message.max.bytes=6000", &err) == 0);
    start_agent(&c, &c.conf, 0);

    /* small: view and verdict arrive */
    tbt_vars_set(c.vars, "N", "100");
    tbt_run_result *rr = tbt_run_result_new();
    run_once(&c, true, rr);
    ck_assert_uint_eq(rr->n_tests, 1);
    ck_assert_int_eq(rr->tests[0].status, TBT_TEST_PASSED);
    ck_assert_ptr_nonnull(rr->tests[0].trace_view);
    ck_assert_ptr_nonnull(strstr(rr->tests[0].trace_view, "Tracetest trigger"));
    ck_assert_ptr_nonnull(rr->tests[0].lint);
    ck_assert_uint_eq(rr->tests[0].lint->n_rules, 7);
    tbt_run_result_free(rr);

    /* no view asked: none sent */
    rr = tbt_run_result_new();
    run_once(&c, false, rr);
    ck_assert_ptr_null(rr->tests[0].trace_view);
    tbt_run_result_free(rr);

    /* a 4 KB response body makes the view too big for 6000-byte records:
     * the result comes without it, and still passes */
    tbt_vars_set(c.vars, "N", "4000");
    rr = tbt_run_result_new();
    run_once(&c, true, rr);
    ck_assert_uint_eq(rr->n_tests, 1);
    ck_assert_msg(rr->tests[0].status == TBT_TEST_PASSED, "%s", rr->tests[0].error ? rr->tests[0].error : "?");
    ck_assert_ptr_null(rr->tests[0].trace_view);
    tbt_run_result_free(rr);
    stop(&c);
}
END_TEST

/* A result that cannot be produced at all (over message.max.bytes even as
 * an error) is let go: the agent does not count it in flight for ever, and
 * the coordinator errors the job at its deadline. */
START_TEST(unproducible_result_is_let_go)
{
    tbt_buf yaml = TBT_BUF_INIT;
    tbt_buf_puts(&yaml, "type: Test\nspec:\n  id: long\n  name: ");
    for (int i = 0; i < 1200; i++)
        tbt_buf_putc(&yaml, 'n');
    tbt_buf_puts(&yaml, "\n  trigger:\n    type: http\n    httpRequest:\n      url: ${var:SUT}/big-3000\n"
                        "  skipTraceCollection: true\n  specs:\n  - selector: span[name=\"Tracetest trigger\"]\n"
                        "    assertions:\n    - attr:tracetest.response.status = 200\n");
    cluster c;
    tbt_error err = TBT_ERROR_INIT;
    start(&c, tbt_buf_cstr(&yaml), false);
    tbt_buf_free(&yaml);
    /* the agent's producer takes 1,000-byte records; the coordinator's
     * (jobs of ~2 KB) takes the default */
    tbt_kconf small = {0};
    for (size_t i = 0; i + 1 < c.conf.n; i += 2) {
        char *kv = tbt_xasprintf("%s=%s", c.conf.kv[i], c.conf.kv[i + 1]);
        ck_assert(tbt_kconf_add(&small, kv, &err) == 0);
        free(kv);
    }
    ck_assert(tbt_kconf_add(&small, "message.max.bytes=1000", &err) == 0);
    start_agent(&c, &small, 0);
    tbt_coord_opts o = copts(&c);
    o.job_timeout_ns = 3ull * 1000000000ull;
    tbt_run_result *rr = tbt_run_result_new();
    tbt_campaign_result camp = {0};
    ck_assert_msg(tbt_coord_run(&o, c.units, c.n_units, c.vars, rr, &camp, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(rr->n_tests, 1);
    ck_assert_int_eq(rr->tests[0].status, TBT_TEST_ERROR);
    tbt_kagent_stats st;
    tbt_kagent_stats_get(c.kagent, &st);
    ck_assert_uint_eq(st.lost, 1);
    ck_assert_uint_eq(st.results, 0);
    tbt_campaign_result_clear(&camp);
    tbt_run_result_free(rr);
    stop(&c);
    tbt_kconf_free(&small);
}
END_TEST

/* --report with a campaign: agents send a view only for runs that fail,
 * and only until the row has its example; the coordinator keeps the first
 * as a test of rr. A campaign whose runs pass has no example. */
START_TEST(campaign_keeps_one_failing_example)
{
    static const char *flaky = "type: Test\n"
                               "spec:\n"
                               "  id: flaky\n"
                               "  name: flaky\n"
                               "  trigger:\n"
                               "    type: http\n"
                               "    httpRequest:\n"
                               "      url: ${var:SUT}/${var:PATH}\n"
                               "  skipTraceCollection: true\n"
                               "  specs:\n"
                               "  - selector: span[name=\"Tracetest trigger\"]\n"
                               "    assertions:\n"
                               "    - attr:tracetest.response.body = \"ok\"\n";
    cluster c;
    start(&c, flaky, true);
    for (int pass = 0; pass < 2; pass++) {
        tbt_vars_set(c.vars, "PATH", pass ? "ok" : "wrong");
        tbt_coord_opts o = copts(&c);
        o.campaign = true;
        o.runs = 40;
        o.concurrency = 8;
        o.want_view = true;
        tbt_error err = TBT_ERROR_INIT;
        tbt_run_result *rr = tbt_run_result_new();
        tbt_campaign_result camp = {0};
        ck_assert_msg(tbt_coord_run(&o, c.units, c.n_units, c.vars, rr, &camp, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(camp.rows[0].stats.runs, 40);
        if (pass) {
            ck_assert_uint_eq(camp.rows[0].stats.passed, 40);
            ck_assert_uint_eq(rr->n_tests, 0); /* passing runs send no view: no example */
        } else {
            ck_assert_uint_eq(camp.rows[0].stats.failed, 40);
            ck_assert_uint_eq(rr->n_tests, 1);
            ck_assert_int_eq(rr->tests[0].status, TBT_TEST_FAILED);
            ck_assert_ptr_nonnull(rr->tests[0].trace_view);
            ck_assert_str_eq(rr->tests[0].environment, "t");
        }
        tbt_campaign_result_clear(&camp);
        tbt_run_result_free(rr);
    }
    stop(&c);
}
END_TEST

START_TEST(results_are_deduplicated_by_job)
{
    /* two agents of the same environment both answer every job (each
     * assigned all partitions, as after a redelivery): the coordinator
     * counts each job once */
    cluster c;
    start(&c, noop_yaml, true);
    tbt_agent_opts ao = tbt_agent_default_opts();
    ao.http_opts.port = 0;
    ao.grpc_opts.port = 0;
    tbt_agent *a2 = NULL;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert(tbt_agent_start(&ao, &a2, &err) == 0);
    tbt_kagent_opts ko = tbt_kagent_default_opts();
    ko.brokers = c.bootstrap;
    ko.environment = "t";
    ko.conf = &c.conf;
    ko.solo = true;
    ko.log_level = TBT_LOG_ERROR;
    ko.agent_id = "twin";
    tbt_kagent *k2 = NULL;
    ck_assert_msg(tbt_kagent_start(a2, &ko, &k2, &err) == 0, "%s", err.msg);
    tbt_campaign_result camp = {0};
    campaign(&c, 200, &camp);
    ck_assert_uint_eq(camp.rows[0].stats.runs, 200);
    ck_assert_uint_eq(camp.rows[0].stats.passed, 200);
    ck_assert_uint_eq(camp.rows[0].stats.verdict_latency.total, 200);
    tbt_kagent_stats s1, s2;
    tbt_kagent_stats_get(c.kagent, &s1);
    tbt_kagent_stats_get(k2, &s2);
    ck_assert_uint_ge(s1.results + s2.results, 200);
    ck_assert_uint_gt(camp.duplicates, 0);
    tbt_campaign_result_clear(&camp);
    tbt_kagent_stop(k2);
    tbt_agent_stop(a2);
    stop(&c);
}
END_TEST

/* The committed offset of partition 0 of the jobs topic, -1 when none. */
static int64_t committed(cluster *c)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", c->bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "group.id", "tbt-agents.t", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "tbt.jobs.t", 0);
    int64_t off = -1;
    if (rd_kafka_committed(rk, l, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR && l->elems[0].offset >= 0)
        off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return off;
}

START_TEST(offsets_follow_the_finished_prefix)
{
    /* four jobs in one partition: the first takes 2 s, the three after it
     * finish at once. Until the first is done, nothing past it may be
     * committed: a crash then replays all four rather than losing one. */
    cluster c;
    start(&c, noop_yaml, true);
    const tbt_test_def *def = c.units[0].steps[0];
    char errstr[256];
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    rd_kafka_conf_set(pc, "bootstrap.servers", c.bootstrap, errstr, sizeof(errstr));
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof(errstr));
    for (int i = 0; i < 4; i++) {
        char jid[16], url[96];
        snprintf(jid, sizeof(jid), "j%d", i);
        /* the test's url is ${var:SUT}/ok: the first job's query string
         * swallows the /ok and its path makes the server wait 2 s */
        snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", sut_port, i == 0 ? "/sleep-2000?" : "");
        tbt_vars *v = tbt_vars_new();
        tbt_vars_set(v, "SUT", url);
        tbt_job job = {.run_id = "offsets", .job_id = jid, .environment = "t", .attempt = 1};
        tbt_buf b = TBT_BUF_INIT;
        tbt_job_encode(&job, def, v, &b);
        ck_assert_int_eq(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("tbt.jobs.t"), RD_KAFKA_V_PARTITION(0),
                                           RD_KAFKA_V_VALUE(b.data, b.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         0);
        tbt_buf_free(&b);
        tbt_vars_free(v);
    }
    ck_assert_int_eq(rd_kafka_flush(p, 5000), 0);
    rd_kafka_destroy(p);
    /* the three quick jobs are done well within a second; commits run
     * every 500 ms */
    tbt_kagent_stats st = {0};
    for (int i = 0; i < 100 && st.results < 3; i++) {
        usleep(20000);
        tbt_kagent_stats_get(c.kagent, &st);
    }
    ck_assert_uint_eq(st.results, 3);
    usleep(1000000);
    ck_assert_int_le(committed(&c), 0);
    for (int i = 0; i < 200 && st.results < 4; i++) {
        usleep(20000);
        tbt_kagent_stats_get(c.kagent, &st);
    }
    ck_assert_uint_eq(st.results, 4);
    int64_t off = -1;
    for (int i = 0; i < 50 && off != 4; i++) {
        usleep(100000);
        off = committed(&c);
    }
    ck_assert_int_eq(off, 4);
    stop(&c);
}
END_TEST

START_TEST(job_longer_than_max_poll_interval)
{
    /* an agent in a real group (not solo) with max.poll.interval.ms at
     * 4 s (the mock's first join alone takes 3 s) runs a 6 s job: it keeps
     * polling while the job runs, so it is not evicted, the job runs once
     * and its offset is committed */
    cluster c;
    start(&c, noop_yaml, false);
    tbt_error err = TBT_ERROR_INIT;
    ck_assert(tbt_kconf_add(&c.conf, "session.timeout.ms=3000", &err) == 0);
    ck_assert(tbt_kconf_add(&c.conf, "heartbeat.interval.ms=200", &err) == 0);
    ck_assert(tbt_kconf_add(&c.conf, "max.poll.interval.ms=4000", &err) == 0);
    tbt_agent_opts ao = tbt_agent_default_opts();
    ao.http_opts.port = 0;
    ao.grpc_opts.port = 0;
    ck_assert(tbt_agent_start(&ao, &c.agent, &err) == 0);
    tbt_kagent_opts ko = tbt_kagent_default_opts();
    ko.brokers = c.bootstrap;
    ko.environment = "t";
    ko.conf = &c.conf;
    ko.log_level = TBT_LOG_ERROR;
    ko.agent_id = "slow-agent";
    ko.log_level = getenv("TBT_TEST_VERBOSE") ? TBT_LOG_DEBUG : TBT_LOG_ERROR;
    ck_assert_msg(tbt_kagent_start(c.agent, &ko, &c.kagent, &err) == 0, "%s", err.msg);
    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/sleep-6000?", sut_port);
    tbt_vars *v = tbt_vars_new();
    tbt_vars_set(v, "SUT", url);
    tbt_job job = {.run_id = "slow", .job_id = "j0", .environment = "t", .attempt = 1};
    tbt_buf b = TBT_BUF_INIT;
    tbt_job_encode(&job, c.units[0].steps[0], v, &b);
    char errstr[256];
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    rd_kafka_conf_set(pc, "bootstrap.servers", c.bootstrap, errstr, sizeof(errstr));
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof(errstr));
    ck_assert_int_eq(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("tbt.jobs.t"), RD_KAFKA_V_PARTITION(0),
                                       RD_KAFKA_V_VALUE(b.data, b.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_END),
                     0);
    ck_assert_int_eq(rd_kafka_flush(p, 5000), 0);
    rd_kafka_destroy(p);
    tbt_buf_free(&b);
    tbt_vars_free(v);
    tbt_kagent_stats st = {0};
    for (int i = 0; i < 600 && st.results < 1; i++) {
        usleep(20000);
        tbt_kagent_stats_get(c.kagent, &st);
    }
    ck_assert_uint_eq(st.results, 1);
    int64_t off = -1;
    for (int i = 0; i < 50 && off != 1; i++) {
        usleep(100000);
        off = committed(&c);
    }
    ck_assert_int_eq(off, 1);
    usleep(1500000); /* an evicted member would get the job again */
    tbt_kagent_stats_get(c.kagent, &st);
    ck_assert_uint_eq(st.jobs, 1);
    ck_assert_uint_eq(st.results, 1);
    stop(&c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("distributed");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    /* in each test's own process: forking with a server thread running is
     * not safe under ASan */
    tcase_add_checked_fixture(tc, sut_start, sut_stop);
    tcase_add_test(tc, campaign_counts_every_run_once);
    tcase_add_test(tc, broker_errors_injected);
    tcase_add_test(tc, poison_is_dead_lettered);
    tcase_add_test(tc, no_agent_names_the_environment);
    tcase_add_test(tc, suite_outputs_flow_between_jobs);
    tcase_add_test(tc, results_are_deduplicated_by_job);
    tcase_add_test(tc, offsets_follow_the_finished_prefix);
    tcase_add_test(tc, job_longer_than_max_poll_interval);
    tcase_add_test(tc, views_and_lint_travel_and_shrink);
    tcase_add_test(tc, unproducible_result_is_let_go);
    tcase_add_test(tc, campaign_keeps_one_failing_example);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
