/* tbt_cmd_run.c - `tbt run`: the coordinator. Every test (suites step by
 * step) becomes a job for every named environment on Kafka; agents run
 * them and publish results; the coordinator prints one report.
 *
 * With --brokers, the agents are `tbt agent` processes anywhere. Without,
 * tbt run starts librdkafka's mock cluster in-process and an agent per
 * environment in-process (receiving OTLP on this process's receivers), so
 * the single-machine path is the same Kafka code path. */
#include <errno.h>
#include <limits.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tbt_agent.h"
#include "tbt_campaign_def.h"
#include "tbt_cli.h"
#include "tbt_commands.h"
#include "tbt_coord.h"
#include "tbt_datastore.h"
#include "tbt_kagent.h"
#include "tbt_metrics_http.h"
#include "tbt_report.h"
#include "tbt_report_campaign.h"
#include "tbt_analyzer.h"
#include "tbt_msg.h"
#include "tbt_report_html.h"
#include "tbt_runner.h"

enum {
    O_OTLP_HTTP = 100,
    O_OTLP_GRPC,
    O_QUIET,
    O_TIMEOUT,
    O_SAVE,
    O_BROKERS,
    O_ENV,
    O_KAFKA_X,
    O_KAFKA_FILE,
    O_RUNS,
    O_CONCURRENCY,
    O_RATE,
    O_DURATION,
    O_THRESHOLD,
    O_JOB_TIMEOUT,
    O_AGENT_WAIT,
    O_PROGRESS,
    O_LOG_FORMAT,
    O_LOG_LEVEL,
    O_METRICS,
    O_DATASTORE,
};

static const tbt_cli_opt run_opts[] = {
    TBT_COMMON_OPT_ROWS,
    {"brokers", 0, "HOST:PORT,...", "Kafka bootstrap servers; agents (tbt agent) run the jobs. Without it: an embedded "
                                    "broker and agent in this process", O_BROKERS},
    {"env", 'e', "NAME,...", "environments to run every test in (repeatable; default 'local')", O_ENV},
    {"kafka-config", 0, "FILE", "librdkafka properties (key=value lines: TLS, SASL, ...)", O_KAFKA_FILE},
    {"kafka-set", 'X', "KEY=VALUE", "one librdkafka property, as kcat -X (repeatable; wins over --kafka-config)",
     O_KAFKA_X},
    {"runs", 'n', "N", "campaign: runs of every test per environment", O_RUNS},
    {"concurrency", 'c', "C", "runs in flight per environment (default 1; campaigns 16)", O_CONCURRENCY},
    {"rate", 0, "R[/s]", "campaign: start at most R runs per second per environment", O_RATE},
    {"duration", 0, "DURATION", "campaign: keep starting runs for this long", O_DURATION},
    {"threshold", 0, "EXPR", "campaign verdict, e.g. 'p95(trace.duration) < 300ms', 'pass_ratio >= 0.99' "
                             "(repeatable)", O_THRESHOLD},
    {"job-timeout", 0, "DURATION", "error a job without a result after this (default: the test's timeout + 1m)",
     O_JOB_TIMEOUT},
    {"agent-wait", 0, "DURATION", "wait this long for an environment's first agent (default 15s)", O_AGENT_WAIT},
    {"progress", 0, "WHEN", "campaign progress line on stderr: auto (a terminal), always, never", O_PROGRESS},
    {"log-format", 0, "FORMAT", "coordinator and embedded agent log lines: text (default), logfmt or json",
     O_LOG_FORMAT},
    {"log-level", 0, "LEVEL", "error, warn (default), info (= -v) or debug", O_LOG_LEVEL},
    {"metrics", 0, "ADDR:PORT", "serve Prometheus GET /metrics and /healthz there while the run lasts: the "
                                "coordinator's figures and, without --brokers, the embedded agent's (port 0 picks "
                                "one and logs it; off by default)", O_METRICS},
    {"otlp-http", 0, "ADDR:PORT", "embedded agent's OTLP/HTTP receiver (default 127.0.0.1:4318; port 0 picks one; "
                                  "'off')", O_OTLP_HTTP},
    {"otlp-grpc", 0, "ADDR:PORT", "embedded agent's OTLP/gRPC receiver (default 127.0.0.1:4317; port 0 picks one; "
                                  "'off')", O_OTLP_GRPC},
    {"quiet-period", 0, "DURATION", "embedded agent: default wait after the last span (1s; a test's pollingProfile "
                                    "or completion wins)", O_QUIET},
    {"timeout", 0, "DURATION", "embedded agent: default time to wait for a trace (1m)", O_TIMEOUT},
    {"save-traces", 0, "DIR", "embedded agent: write each evaluated trace to DIR/<trace id>.otlp.json", O_SAVE},
    {"datastore", 0, "FILE", "embedded agent: also fetch traces from this DataStore (jaeger, tempo; "
                             "docs/datastores.md); default: a DataStore among the -f definitions", O_DATASTORE},
};

/* "host:port", ":port", "port" or "off". */
int tbt_parse_listen(const char *s, bool *enabled, tbt_receiver_opts *ro, char **host_store)
{
    if (strcmp(s, "off") == 0) {
        *enabled = false;
        return 0;
    }
    const char *colon = strrchr(s, ':');
    const char *ps = colon ? colon + 1 : s;
    char *end = NULL;
    long port = strtol(ps, &end, 10);
    if (!*ps || *end || port < 0 || port > 65535)
        return -1;
    *enabled = true;
    ro->port = (uint16_t)port;
    if (colon && colon != s) {
        size_t hl = (size_t)(colon - s);
        if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']')
            *host_store = tbt_xstrndup(s + 1, hl - 2);
        else
            *host_store = tbt_xstrndup(s, hl);
        ro->bind_addr = *host_store;
    }
    return 0;
}

typedef struct run_ctx {
    const tbt_common_opts *co;
    tbt_coord_opts copts;
    tbt_agent_opts ao;
    bool embedded;
    bool env_defaulted; /* no --env: reports show no environment */
    bool runs_set, concurrency_set;
    bool th_borrowed; /* th points into the Campaign resource */
    tbt_threshold *th;
    size_t n_th;
    tbt_kconf kconf;
    tbt_metrics *metrics; /* --metrics, else NULL */
    tbt_receiver_metrics rm_http, rm_grpc;
    tbt_datastore *ds; /* --datastore, else NULL */
} run_ctx;

static void print_receivers(const tbt_agent_opts *ao, tbt_agent *agent)
{
    fprintf(stderr, "tbt run: receiving OTLP on http %s:%u, grpc %s:%u\n",
            ao->http ? (ao->http_opts.bind_addr ? ao->http_opts.bind_addr : "127.0.0.1") : "off",
            tbt_agent_http_port(agent), ao->grpc ? (ao->grpc_opts.bind_addr ? ao->grpc_opts.bind_addr : "127.0.0.1") : "off",
            tbt_agent_grpc_port(agent));
}

static int report_campaign(const run_ctx *x, const tbt_campaign_result *camp, const tbt_run_result *examples)
{
    tbt_buf out = TBT_BUF_INIT;
    if (strcmp(x->co->output, "json") == 0)
        tbt_report_campaign_json(camp, x->th, x->n_th, &out);
    else
        tbt_report_campaign_pretty(camp, x->th, x->n_th, x->co->use_color == 1, &out);
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    fflush(stdout);
    int code = tbt_campaign_exit_code(camp, x->th, x->n_th);
    if (x->co->report) {
        tbt_buf_reset(&out);
        tbt_report_html(examples && examples->n_tests ? examples : NULL, camp, x->th, x->n_th, &out);
        if (tbt_cli_write_report(x->co->report, &out))
            code = TBT_EXIT_ERROR;
    }
    if (x->co->junit) {
        tbt_buf_reset(&out);
        tbt_report_campaign_junit(camp, x->th, x->n_th, &out);
        if (tbt_cli_write_report(x->co->junit, &out))
            code = TBT_EXIT_ERROR;
    }
    tbt_buf_free(&out);
    return code == 0 ? TBT_EXEC_OK : code;
}

static bool named_file(char **files, size_t n, const char *file)
{
    char a[PATH_MAX], b[PATH_MAX];
    if (!realpath(file, a))
        return false;
    for (size_t i = 0; i < n; i++)
        if (realpath(files[i], b) && strcmp(a, b) == 0)
            return true;
    return false;
}

static int exec_units(run_ctx *x, tbt_defs *defs, char **files, size_t n_files, const tbt_vars *vars,
                      tbt_run_result *rr, tbt_error_list *errs, tbt_error *err);

static int exec_run(void *ud, const tbt_exec_env *env, tbt_defs *defs, char **files, size_t n_files,
                    const tbt_vars *vars, tbt_run_result *rr, tbt_error_list *errs, tbt_error *err)
{
    run_ctx *x = ud;
    /* agents lint the traces they receive: the configuration travels in
     * every job */
    tbt_buf an_json = TBT_BUF_INIT;
    if (env->analyzer) {
        tbt_analyzer_config_json(env->analyzer, &an_json);
        x->copts.analyzer_json = tbt_buf_cstr(&an_json);
    }
    int rc = exec_units(x, defs, files, n_files, vars, rr, errs, err);
    x->copts.analyzer_json = NULL;
    tbt_buf_free(&an_json);
    return rc;
}

static int exec_units(run_ctx *x, tbt_defs *defs, char **files, size_t n_files, const tbt_vars *vars,
                      tbt_run_result *rr, tbt_error_list *errs, tbt_error *err)
{
    tbt_unit *units = NULL;
    size_t n_units = 0;
    int rc = tbt_runner_units(defs, files, n_files, &units, &n_units, errs);
    if (rc != 0) {
        tbt_runner_units_free(units, n_units);
        return rc;
    }
    /* a Campaign resource among the files: run it (and only it) */
    tbt_campaign_def cdef = {0};
    const tbt_resource_ref *cref = NULL;
    for (size_t i = 0; i < tbt_defs_count(defs); i++) {
        const tbt_resource_ref *ref = tbt_defs_at(defs, i);
        if (ref->kind != TBT_RES_OTHER || strcmp(ref->type_name, "Campaign") != 0 || !named_file(files, n_files, ref->file))
            continue;
        if (cref) {
            tbt_runner_units_free(units, n_units);
            return tbt_error_set(err, -EPROTO, "%s and %s: one Campaign per tbt run", cref->file, ref->file);
        }
        cref = ref;
    }
    tbt_unit *all_units = units;
    size_t n_all = n_units;
    char **own_envs = x->copts.envs;
    size_t n_own_envs = x->copts.n_envs;
    if (cref) {
        if ((rc = tbt_campaign_def_load(defs, cref, &cdef, err)) != 0) {
            tbt_campaign_def_clear(&cdef);
            tbt_runner_units_free(units, n_units);
            return -EPROTO;
        }
        units = &cdef.unit;
        n_units = 1;
        x->copts.campaign = true;
        if (!x->runs_set)
            x->copts.runs = cdef.runs;
        if (!x->concurrency_set)
            x->copts.concurrency = cdef.concurrency ? cdef.concurrency : 16;
        if (x->copts.rate <= 0)
            x->copts.rate = cdef.rate;
        if (!x->copts.duration_ns)
            x->copts.duration_ns = cdef.duration_ns;
        if (x->env_defaulted && cdef.n_envs) {
            x->copts.envs = cdef.envs;
            x->copts.n_envs = cdef.n_envs;
            x->env_defaulted = false;
        }
        if (!x->n_th) {
            x->th = cdef.th;
            x->n_th = cdef.n_th;
            x->th_borrowed = true;
        }
    }
    if (n_units == 0) {
        tbt_runner_units_free(all_units, n_all);
        return tbt_error_set(err, -ENOENT, "the definition files hold no Test, TestSuite or Campaign to run");
    }
    /* the embedded cluster and agents: same code path as a real cluster */
    rd_kafka_t *mock_rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    tbt_agent *agent = NULL;
    tbt_datastore *defs_ds = NULL;
    tbt_kagent **kagents = NULL;
    char *bootstrap = NULL;
    if (x->embedded) {
        char errstr[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "2", errstr, sizeof(errstr));
        mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (mock_rk)
            mc = rd_kafka_mock_cluster_new(mock_rk, 1);
        if (!mc) {
            rc = tbt_error_set(err, -EIO, "could not start the embedded Kafka broker: %s", mock_rk ? "mock cluster" : errstr);
            goto out;
        }
        bootstrap = tbt_xstrdup(rd_kafka_mock_cluster_bootstraps(mc));
        /* the mock answers an empty fetch only after fetch.wait.max.ms,
         * even when records arrive meanwhile: poll it briskly */
        bool wait_set = false, size_set = false;
        for (size_t i = 0; i + 1 < x->kconf.n; i += 2) {
            wait_set |= strcmp(x->kconf.kv[i], "fetch.wait.max.ms") == 0;
            size_set |= strcmp(x->kconf.kv[i], "message.max.bytes") == 0;
        }
        if (!wait_set)
            tbt_kconf_add(&x->kconf, "fetch.wait.max.ms=5", err);
        /* results carrying big trace views (--report): the embedded broker
         * takes records far over a real cluster's default 1 MB */
        if (x->copts.want_view && !size_set) {
            tbt_kconf_add(&x->kconf, "message.max.bytes=10000000", err);
            x->copts.view_max_bytes = TBT_MSG_VIEW_LIMIT;
        }
        /* the mock has no controller for CreateTopics: make them here */
        rd_kafka_mock_topic_create(mc, TBT_TOPIC_RESULTS, 4, 1);
        rd_kafka_mock_topic_create(mc, TBT_TOPIC_AGENTS, 1, 1);
        rd_kafka_mock_topic_create(mc, TBT_TOPIC_DEAD, 1, 1);
        for (size_t i = 0; i < x->copts.n_envs; i++) {
            char *t = tbt_topic_jobs(x->copts.envs[i]);
            rd_kafka_mock_topic_create(mc, t, 4, 1);
            free(t);
        }
        x->copts.brokers = bootstrap;
        /* the trace backend: --datastore, else one among the definitions */
        if (!x->ds && (rc = tbt_datastore_from_defs(defs, &defs_ds, err)) != 0)
            goto out;
        x->ao.datastore = x->ds ? x->ds : defs_ds;
        if (!x->ao.http && !x->ao.grpc && !tbt_datastore_fetches(x->ao.datastore)) {
            rc = tbt_error_set(err, -EPROTO, "both receivers are off and no DataStore fetches traces: no span could "
                                             "arrive");
            goto out;
        }
        if ((rc = tbt_agent_start(&x->ao, &agent, err)) != 0)
            goto out;
        tbt_metrics_store_register(x->metrics, tbt_agent_store(agent), &x->ao.store);
        if (x->co->verbose || x->ao.http_opts.port == 0 || x->ao.grpc_opts.port == 0)
            print_receivers(&x->ao, agent);
        kagents = tbt_xcalloc(x->copts.n_envs, sizeof(*kagents));
        for (size_t i = 0; i < x->copts.n_envs; i++) {
            tbt_kagent_opts ko = tbt_kagent_default_opts();
            ko.brokers = bootstrap;
            ko.environment = x->copts.envs[i];
            ko.conf = &x->kconf;
            ko.concurrency = x->copts.concurrency;
            ko.relay = false; /* one agent per environment: nothing to relay */
            ko.trusted_files = true;
            ko.solo = true;
            ko.log_level = x->copts.log_level > TBT_LOG_WARN ? x->copts.log_level : TBT_LOG_WARN;
            ko.log_format = x->copts.log_format;
            ko.heartbeat_ms = 1000;
            ko.grace_ms = 2000;
            ko.metrics = x->metrics;
            char *id = tbt_xasprintf("embedded-%s", x->copts.envs[i]);
            ko.agent_id = id;
            rc = tbt_kagent_start(agent, &ko, &kagents[i], err);
            free(id);
            if (rc)
                goto out;
        }
    }
    tbt_campaign_result camp = {0};
    rc = tbt_coord_run(&x->copts, units, n_units, vars, rr, &camp, err);
    if (rc == 0 && x->copts.campaign)
        rc = report_campaign(x, &camp, rr);
    for (size_t i = 0; x->env_defaulted && i < rr->n_tests; i++)
        rr->tests[i].environment = NULL;
    tbt_campaign_result_clear(&camp);
    if (rc == -EINVAL)
        rc = -EPROTO; /* not a definition error */
out:
    for (size_t i = 0; kagents && i < x->copts.n_envs; i++)
        tbt_kagent_stop(kagents[i]);
    free(kagents);
    if (agent) {
        tbt_metrics_store_unregister(x->metrics, tbt_agent_store(agent));
        tbt_agent_stop(agent);
    }
    tbt_datastore_free(defs_ds);
    x->ao.datastore = NULL;
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (mock_rk)
        rd_kafka_destroy(mock_rk);
    free(bootstrap);
    tbt_runner_units_free(all_units, n_all);
    if (x->th_borrowed) {
        x->th = NULL;
        x->n_th = 0;
        x->th_borrowed = false;
    }
    x->copts.envs = own_envs;
    x->copts.n_envs = n_own_envs;
    tbt_campaign_def_clear(&cdef);
    return rc;
}

static int add_envs(tbt_coord_opts *c, const char *arg, char ***store, size_t *cap)
{
    char *copy = tbt_xstrdup(arg), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        size_t n = strlen(t);
        while (n && t[n - 1] == ' ')
            t[--n] = '\0';
        if (!*t)
            continue;
        tbt_error err = TBT_ERROR_INIT;
        if (tbt_kafka_check_env(t, &err) != 0) {
            fprintf(stderr, "tbt run: --env: %s\n", err.msg);
            tbt_error_clear(&err);
            free(copy);
            return -1;
        }
        bool dup = false;
        for (size_t i = 0; i < c->n_envs; i++)
            dup |= strcmp(c->envs[i], t) == 0;
        if (dup)
            continue;
        TBT_GROW(*store, *cap, c->n_envs + 1);
        (*store)[c->n_envs++] = tbt_xstrdup(t);
        c->envs = *store;
    }
    free(copy);
    return 0;
}

int tbt_cmd_run(int argc, char **argv)
{
    tbt_cli cli = {"tbt run", "-f TEST.yaml [options]",
                   "Run Tracetest-compatible tests (or suites) against a live system: an agent fires each trigger\n"
                   "with a traceparent, receives the spans on its OTLP receivers, waits until the trace is complete\n"
                   "and evaluates. With --brokers, jobs go over Kafka to `tbt agent`s of each --env; without, an\n"
                   "embedded broker and agent run in this process (point the system's OTLP exporters at it).\n"
                   "--runs/--duration make a campaign: many parallel runs, one verdict from --threshold.\n"
                   "Exit codes: 0 all passed, 1 error, 2 a spec or threshold failed, 3 definition file not found.",
                   run_opts, TBT_ARRAY_LEN(run_opts), argc, argv, 0};
    tbt_common_opts co;
    tbt_common_init(&co);
    run_ctx x = {.co = &co, .copts = tbt_coord_default_opts(), .ao = tbt_agent_default_opts()};
    char *http_host = NULL, *grpc_host = NULL, **envs = NULL;
    size_t cap_envs = 0, cap_th = 0;
    const char *progress = "auto";
    bool log_level_set = false;
    char *metrics_host = NULL;
    bool metrics_on = false;
    tbt_receiver_opts metrics_at = {0};
    tbt_metrics_http *mh = NULL;
    bool concurrency_set = false, receivers_set = false;
    int code = TBT_EXIT_ERROR;
    const char *arg;
    int id;
    tbt_error err = TBT_ERROR_INIT;
    while ((id = tbt_cli_next(&cli, &arg)) != -1) {
        if (id == -3) {
            code = TBT_EXIT_OK;
            goto out;
        }
        if (id < 0)
            goto out;
        char *end = NULL;
        switch (id) {
        case O_OTLP_HTTP:
        case O_OTLP_GRPC:
            receivers_set = true;
            if (tbt_cli_listen("tbt run", id == O_OTLP_HTTP, arg, &x.ao, id == O_OTLP_HTTP ? &http_host : &grpc_host))
                goto out;
            break;
        case O_QUIET:
            if (tbt_cli_duration("tbt run", "quiet-period", arg, &x.ao.quiet_ns) != 0)
                goto out;
            break;
        case O_TIMEOUT:
            if (tbt_cli_duration("tbt run", "timeout", arg, &x.ao.timeout_ns) != 0)
                goto out;
            break;
        case O_DATASTORE:
            tbt_datastore_free(x.ds);
            if (tbt_datastore_load_file(arg, &x.ds, &err) != 0) {
                tbt_cli_print_error(&err);
                code = err.code == -ENOENT ? TBT_EXIT_NOT_FOUND : TBT_EXIT_ERROR;
                goto out;
            }
            break;
        case O_SAVE:
            x.ao.save_dir = arg;
            break;
        case O_BROKERS:
            x.copts.brokers = arg;
            break;
        case O_ENV:
            if (add_envs(&x.copts, arg, &envs, &cap_envs) != 0)
                goto out;
            break;
        case O_KAFKA_X:
        case O_KAFKA_FILE:
            if ((id == O_KAFKA_X ? tbt_kconf_add(&x.kconf, arg, &err) : tbt_kconf_load_file(&x.kconf, arg, &err)) != 0) {
                fprintf(stderr, "tbt run: %s\n", err.msg);
                goto out;
            }
            break;
        case O_RUNS: {
            unsigned long long n = strtoull(arg, &end, 10);
            if (!*arg || *end || n < 1 || n > 100000000ull || arg[0] == '-') {
                fprintf(stderr, "tbt run: --runs takes a number from 1, got '%s'\n", arg);
                goto out;
            }
            x.copts.runs = n;
            x.copts.campaign = true;
            x.runs_set = true;
            break;
        }
        case O_CONCURRENCY: {
            unsigned long n = strtoul(arg, &end, 10);
            if (!*arg || *end || n < 1 || n > 10000 || arg[0] == '-') {
                fprintf(stderr, "tbt run: --concurrency takes 1 to 10000, got '%s'\n", arg);
                goto out;
            }
            x.copts.concurrency = (unsigned)n;
            concurrency_set = true;
            break;
        }
        case O_RATE: {
            double r = strtod(arg, &end);
            if (end && strcmp(end, "/s") == 0)
                end += 2;
            if (end == arg || *end || !(r > 0) || !isfinite(r) || r > 1e7) {
                fprintf(stderr, "tbt run: --rate takes runs per second such as 50 or 50/s, got '%s'\n", arg);
                goto out;
            }
            x.copts.rate = r;
            x.copts.campaign = true;
            break;
        }
        case O_DURATION:
            if (tbt_cli_duration("tbt run", "duration", arg, &x.copts.duration_ns) != 0)
                goto out;
            x.copts.campaign = true;
            break;
        case O_THRESHOLD:
            TBT_GROW(x.th, cap_th, x.n_th + 1);
            if (tbt_threshold_parse(arg, &x.th[x.n_th], &err) != 0) {
                fprintf(stderr, "tbt run: --threshold: %s\n", err.msg);
                goto out;
            }
            x.n_th++;
            x.copts.campaign = true;
            break;
        case O_JOB_TIMEOUT:
            if (tbt_cli_duration("tbt run", "job-timeout", arg, &x.copts.job_timeout_ns) != 0)
                goto out;
            break;
        case O_AGENT_WAIT:
            if (tbt_cli_duration("tbt run", "agent-wait", arg, &x.copts.agent_wait_ns) != 0)
                goto out;
            break;
        case O_LOG_FORMAT:
            if (tbt_cli_log_format("tbt run", arg, &x.copts.log_format) != 0)
                goto out;
            break;
        case O_METRICS:
            if (tbt_cli_metrics("tbt run", arg, &metrics_on, &metrics_at, &metrics_host) != 0)
                goto out;
            break;
        case O_LOG_LEVEL:
            if (tbt_cli_log_level("tbt run", arg, &x.copts.log_level) != 0)
                goto out;
            log_level_set = true;
            break;
        case O_PROGRESS:
            if (strcmp(arg, "auto") && strcmp(arg, "always") && strcmp(arg, "never")) {
                fprintf(stderr, "tbt run: --progress takes auto, always or never, got '%s'\n", arg);
                goto out;
            }
            progress = arg;
            break;
        default:
            if (tbt_common_opt(&co, cli.prog, id, arg) != 0)
                goto out;
        }
    }
    if (tbt_common_check(&co, &cli) != 0)
        goto out;
    /* both receivers off: only with a DataStore that fetches (--datastore
     * here, or one among the definitions: exec_run checks) */
    if (!x.ao.http && !x.ao.grpc && x.ds && !tbt_datastore_fetches(x.ds)) {
        fprintf(stderr, "tbt run: both receivers are off: no span could arrive\n");
        goto out;
    }
    x.embedded = !x.copts.brokers;
    if (!x.embedded && x.ds)
        fprintf(stderr, "tbt run: note: --datastore configures the embedded agent; with --brokers give it to the "
                        "agents (tbt agent --datastore)\n");
    if (!x.embedded && (receivers_set || x.ao.save_dir))
        fprintf(stderr, "tbt run: note: --otlp-*, --save-traces, --quiet-period and --timeout configure the embedded "
                        "agent; with --brokers the agents (tbt agent) have their own\n");
    if (x.copts.duration_ns && x.copts.runs == 1)
        x.copts.runs = 0; /* unbounded: the duration decides */
    x.concurrency_set = concurrency_set;
    if (!concurrency_set)
        x.copts.concurrency = x.copts.campaign ? 16 : 1;
    if (x.copts.n_envs == 0) {
        if (add_envs(&x.copts, "local", &envs, &cap_envs) != 0)
            goto out;
        x.env_defaulted = true;
    }
    x.copts.conf = &x.kconf;
    x.copts.want_view = co.report != NULL;
    if (!log_level_set)
        x.copts.log_level = co.verbose ? TBT_LOG_INFO : TBT_LOG_WARN;
    x.copts.progress = x.copts.campaign && (strcmp(progress, "always") == 0 ||
                                            (strcmp(progress, "auto") == 0 && isatty(STDERR_FILENO)));
    if (metrics_on) {
        x.metrics = tbt_metrics_new();
        tbt_receiver_metrics_init(&x.rm_http, x.metrics, "http");
        tbt_receiver_metrics_init(&x.rm_grpc, x.metrics, "grpc");
        x.ao.http_opts.metrics = &x.rm_http;
        x.ao.grpc_opts.metrics = &x.rm_grpc;
        x.copts.metrics = x.metrics;
        if (tbt_metrics_http_start(x.metrics, metrics_at.bind_addr, metrics_at.port, &mh, &err) != 0) {
            tbt_cli_print_error(&err);
            goto out;
        }
        const char *h = metrics_at.bind_addr ? metrics_at.bind_addr : "127.0.0.1";
        bool v6 = strchr(h, ':') != NULL;
        fprintf(stderr, "tbt run: metrics on http://%s%s%s:%u/metrics\n", v6 ? "[" : "", h, v6 ? "]" : "",
                tbt_metrics_http_port(mh));
    }
    code = tbt_common_exec_with(&co, exec_run, &x);
out:
    tbt_error_clear(&err);
    for (size_t i = 0; i < x.n_th; i++)
        tbt_threshold_clear(&x.th[i]);
    free(x.th);
    for (size_t i = 0; i < x.copts.n_envs; i++)
        free(envs[i]);
    free(envs);
    tbt_kconf_free(&x.kconf);
    free(http_host);
    free(grpc_host);
    tbt_datastore_free(x.ds);
    tbt_metrics_http_stop(mh);
    tbt_metrics_free(x.metrics);
    free(metrics_host);
    tbt_common_free(&co);
    return code;
}
