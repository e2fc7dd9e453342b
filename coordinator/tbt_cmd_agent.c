/* tbt_cmd_agent.c - `tbt agent`: take jobs of one environment from Kafka,
 * run them (trigger, receive the spans, evaluate), publish the results.
 * Runs until SIGINT or SIGTERM; then finishes or hands back its jobs. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_agent.h"
#include "tbt_cli.h"
#include "tbt_commands.h"
#include "tbt_datastore.h"
#include "tbt_kagent.h"
#include "tbt_metrics_http.h"

enum {
    O_BROKERS = 1,
    O_ENV,
    O_CONCURRENCY,
    O_KAFKA_X,
    O_KAFKA_FILE,
    O_OTLP_HTTP,
    O_OTLP_GRPC,
    O_QUIET,
    O_TIMEOUT,
    O_ID,
    O_HEARTBEAT,
    O_GRACE,
    O_NO_RELAY,
    O_FILES,
    O_VERBOSE,
    O_QUIET_LOG,
    O_VARS,
    O_VAR,
    O_LOG_FORMAT,
    O_LOG_LEVEL,
    O_METRICS,
    O_DATASTORE,
};

static const tbt_cli_opt agent_opts[] = {
    {"brokers", 'b', "HOST:PORT,...", "Kafka bootstrap servers (required)", O_BROKERS},
    {"environment", 'e', "NAME", "the environment this agent serves (required): its consumer group and topics",
     O_ENV},
    {"concurrency", 'c', "N", "jobs run at once (default 4)", O_CONCURRENCY},
    {"kafka-config", 0, "FILE", "librdkafka properties (key=value lines: TLS, SASL, ...)", O_KAFKA_FILE},
    {"kafka-set", 'X', "KEY=VALUE", "one librdkafka property, as kcat -X (repeatable; wins over --kafka-config)",
     O_KAFKA_X},
    {"otlp-http", 0, "ADDR:PORT", "OTLP/HTTP receiver (default 127.0.0.1:4318; port 0 picks one and logs it; 'off')",
     O_OTLP_HTTP},
    {"otlp-grpc", 0, "ADDR:PORT", "OTLP/gRPC receiver (default 127.0.0.1:4317; port 0 picks one and logs it; 'off')",
     O_OTLP_GRPC},
    {"quiet-period", 0, "DURATION", "default wait after the last span (1s)", O_QUIET},
    {"timeout", 0, "DURATION", "default time to wait for a trace (1m)", O_TIMEOUT},
    {"datastore", 0, "FILE", "also fetch each job's trace from this DataStore (jaeger, tempo; docs/datastores.md); "
                             "with both receivers off, only from it", O_DATASTORE},
    {"agent-id", 0, "ID", "this agent's id (default host-pid-random)", O_ID},
    {"heartbeat", 0, "DURATION", "heartbeat interval on tbt.agents (default 2s)", O_HEARTBEAT},
    {"grace", 0, "DURATION", "on SIGTERM: time to finish running jobs before handing them back (default 30s)",
     O_GRACE},
    {"no-relay", 0, NULL, "do not relay spans of other agents' traces over Kafka (one agent per environment)",
     O_NO_RELAY},
    {"allow-files", 0, NULL, "jobs may name files on this machine (request bodies, .proto) relative to the test's "
                             "path on the coordinator", O_FILES},
    {"vars", 0, "FILE", "VariableSet of this environment (its URLs, ...); a job's own variables win (repeatable)",
     O_VARS},
    {"var", 0, "NAME=VALUE", "one variable of this environment (repeatable; wins over --vars)", O_VAR},
    {"verbose", 'v', NULL, "log every job", O_VERBOSE},
    {"quiet", 'q', NULL, "log errors only", O_QUIET_LOG},
    {"log-format", 0, "FORMAT", "text (default), logfmt or json (one object per line)", O_LOG_FORMAT},
    {"log-level", 0, "LEVEL", "error, warn, info (default) or debug (= -v: every job)", O_LOG_LEVEL},
    {"metrics", 0, "ADDR:PORT", "serve Prometheus GET /metrics and /healthz there (port 0 picks one and logs it; "
                                "off by default)", O_METRICS},
};


int tbt_cmd_agent(int argc, char **argv)
{
    tbt_cli cli = {"tbt agent", "--brokers HOST:PORT --environment NAME [options]",
                   "Serve one environment: take its jobs from Kafka (consumer group tbt-agents.NAME, shared with\n"
                   "the environment's other agents), fire each trigger, receive the spans on this agent's OTLP\n"
                   "receivers (and, relayed over Kafka, those other agents of the environment received), evaluate,\n"
                   "publish the result. Runs until SIGINT or SIGTERM.",
                   agent_opts, TBT_ARRAY_LEN(agent_opts), argc, argv, 0};
    tbt_kagent_opts ko = tbt_kagent_default_opts();
    tbt_agent_opts ao = tbt_agent_default_opts();
    tbt_kconf kconf = {0};
    tbt_error err = TBT_ERROR_INIT;
    char *http_host = NULL, *grpc_host = NULL;
    tbt_datastore *ds = NULL; /* --datastore */
    /* --metrics */
    char *metrics_host = NULL;
    bool metrics_on = false;
    tbt_receiver_opts metrics_at = {0};
    tbt_metrics *reg = NULL;
    tbt_metrics_http *mh = NULL;
    tbt_receiver_metrics rm_http, rm_grpc;
    tbt_vars *vars = tbt_vars_new(), *kv_vars = tbt_vars_new();
    int code = TBT_EXIT_ERROR;
    const char *arg;
    int id;
    uint64_t ns;
    while ((id = tbt_cli_next(&cli, &arg)) != -1) {
        if (id == -3) {
            code = TBT_EXIT_OK;
            goto out;
        }
        if (id < 0)
            goto out;
        char *end = NULL;
        switch (id) {
        case O_BROKERS:
            ko.brokers = arg;
            break;
        case O_ENV:
            if (tbt_kafka_check_env(arg, &err) != 0) {
                fprintf(stderr, "tbt agent: --environment: %s\n", err.msg);
                goto out;
            }
            ko.environment = arg;
            break;
        case O_CONCURRENCY: {
            unsigned long n = strtoul(arg, &end, 10);
            if (!*arg || *end || n < 1 || n > 4096 || arg[0] == '-') {
                fprintf(stderr, "tbt agent: --concurrency takes 1 to 4096, got '%s'\n", arg);
                goto out;
            }
            ko.concurrency = (unsigned)n;
            break;
        }
        case O_KAFKA_X:
        case O_KAFKA_FILE:
            if ((id == O_KAFKA_X ? tbt_kconf_add(&kconf, arg, &err) : tbt_kconf_load_file(&kconf, arg, &err)) != 0) {
                fprintf(stderr, "tbt agent: %s\n", err.msg);
                goto out;
            }
            break;
        case O_OTLP_HTTP:
        case O_OTLP_GRPC:
            if (tbt_cli_listen("tbt agent", id == O_OTLP_HTTP, arg, &ao, id == O_OTLP_HTTP ? &http_host : &grpc_host))
                goto out;
            break;
        case O_QUIET:
            if (tbt_cli_duration("tbt agent", "quiet-period", arg, &ao.quiet_ns) != 0)
                goto out;
            break;
        case O_DATASTORE:
            tbt_datastore_free(ds);
            if (tbt_datastore_load_file(arg, &ds, &err) != 0) {
                tbt_cli_print_error(&err);
                goto out;
            }
            ao.datastore = ds;
            break;
        case O_TIMEOUT:
            if (tbt_cli_duration("tbt agent", "timeout", arg, &ao.timeout_ns) != 0)
                goto out;
            break;
        case O_ID:
            ko.agent_id = arg;
            break;
        case O_HEARTBEAT:
        case O_GRACE:
            if (tbt_cli_duration("tbt agent", id == O_HEARTBEAT ? "heartbeat" : "grace", arg, &ns) != 0)
                goto out;
            if (ns / 1000000 < (id == O_HEARTBEAT ? 100u : 0u) || ns / 1000000 > 3600000) {
                fprintf(stderr, "tbt agent: --%s: between %s and 1h\n", id == O_HEARTBEAT ? "heartbeat" : "grace",
                        id == O_HEARTBEAT ? "100ms" : "0s");
                goto out;
            }
            if (id == O_HEARTBEAT)
                ko.heartbeat_ms = (unsigned)(ns / 1000000);
            else
                ko.grace_ms = (unsigned)(ns / 1000000);
            break;
        case O_NO_RELAY:
            ko.relay = false;
            break;
        case O_FILES:
            ko.trusted_files = true;
            break;
        case O_VERBOSE:
            ko.log_level = TBT_LOG_DEBUG;
            break;
        case O_QUIET_LOG:
            ko.log_level = TBT_LOG_ERROR;
            break;
        case O_LOG_FORMAT:
            if (tbt_cli_log_format("tbt agent", arg, &ko.log_format) != 0)
                goto out;
            break;
        case O_METRICS:
            if (tbt_cli_metrics("tbt agent", arg, &metrics_on, &metrics_at, &metrics_host) != 0)
                goto out;
            break;
        case O_LOG_LEVEL:
            if (tbt_cli_log_level("tbt agent", arg, &ko.log_level) != 0)
                goto out;
            break;
        case O_VARS:
            if (tbt_cli_load_varsets(arg, vars, &err) != 0) {
                tbt_cli_print_error(&err);
                goto out;
            }
            break;
        case O_VAR: {
            const char *eq = strchr(arg, '=');
            if (!eq || eq == arg) {
                fprintf(stderr, "tbt agent: --var takes NAME=VALUE, got '%s'\n", arg);
                goto out;
            }
            char *name = tbt_xstrndup(arg, (size_t)(eq - arg));
            tbt_vars_set(kv_vars, name, eq + 1);
            free(name);
            break;
        }
        }
    }
    if (cli.optind < argc) {
        fprintf(stderr, "tbt agent: unexpected argument '%s'\n", argv[cli.optind]);
        goto out;
    }
    if (!ko.brokers || !ko.environment) {
        fprintf(stderr, "tbt agent: --brokers and --environment are required (see tbt agent --help)\n");
        goto out;
    }
    if (!ao.http && !ao.grpc && !tbt_datastore_fetches(ds)) {
        fprintf(stderr, "tbt agent: both receivers are off: no span could arrive\n");
        goto out;
    }
    ko.conf = &kconf;
    for (size_t i = 0; i < tbt_vars_count(kv_vars); i++)
        tbt_vars_set(vars, tbt_vars_name_at(kv_vars, i), tbt_vars_value_at(kv_vars, i));
    ko.vars = vars;
    /* signals go to sigwait below, not to librdkafka's threads */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (metrics_on) { /* after the mask: the endpoint's thread must not take SIGTERM */
        reg = tbt_metrics_new();
        tbt_receiver_metrics_init(&rm_http, reg, "http");
        tbt_receiver_metrics_init(&rm_grpc, reg, "grpc");
        ao.http_opts.metrics = &rm_http;
        ao.grpc_opts.metrics = &rm_grpc;
        ko.metrics = reg;
        if (tbt_metrics_http_start(reg, metrics_at.bind_addr, metrics_at.port, &mh, &err) != 0) {
            tbt_cli_print_error(&err);
            goto out;
        }
    }
    tbt_agent *agent = NULL;
    if (tbt_agent_start(&ao, &agent, &err) != 0) {
        tbt_cli_print_error(&err);
        goto out;
    }
    tbt_kagent *k = NULL;
    if (tbt_kagent_start(agent, &ko, &k, &err) != 0) {
        tbt_cli_print_error(&err);
        tbt_agent_stop(agent);
        goto out;
    }
    if (mh) {
        tbt_metrics_store_register(reg, tbt_agent_store(agent), &ao.store);
        const char *h = metrics_at.bind_addr ? metrics_at.bind_addr : "127.0.0.1";
        bool v6 = strchr(h, ':') != NULL;
        tbt_kagent_log(k, TBT_LOG_INFO, "metrics on http://%s%s%s:%u/metrics", v6 ? "[" : "", h, v6 ? "]" : "",
                       tbt_metrics_http_port(mh));
    }
    int sig = 0;
    sigwait(&set, &sig);
    tbt_kagent_stats st;
    tbt_kagent_stats_get(k, &st);
    tbt_kagent_log(k, TBT_LOG_INFO,
                   "stopping on signal %d: %llu jobs, %llu results, %llu dead-lettered, %llu past deadline; relay %llu "
                   "out, %llu in",
                   sig, (unsigned long long)st.jobs, (unsigned long long)st.results,
                   (unsigned long long)st.dead_lettered, (unsigned long long)st.expired,
                   (unsigned long long)st.relayed_out, (unsigned long long)st.relayed_in);
    tbt_kagent_stop(k);
    tbt_metrics_http_stop(mh);
    mh = NULL;
    tbt_metrics_store_unregister(reg, tbt_agent_store(agent));
    tbt_agent_stop(agent);
    code = TBT_EXIT_OK;
out:
    tbt_metrics_http_stop(mh);
    tbt_metrics_free(reg);
    free(metrics_host);
    tbt_vars_free(vars);
    tbt_vars_free(kv_vars);
    tbt_error_clear(&err);
    tbt_kconf_free(&kconf);
    free(http_host);
    free(grpc_host);
    tbt_datastore_free(ds);
    return code;
}
