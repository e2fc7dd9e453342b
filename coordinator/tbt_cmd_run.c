/* tbt_cmd_run.c - `tbt run`: fire each test's trigger against the live
 * system, receive its spans on this process's own OTLP receivers (an
 * in-process agent), wait until the trace is complete, evaluate. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_agent.h"
#include "tbt_cli.h"
#include "tbt_commands.h"
#include "tbt_runner.h"

enum { O_OTLP_HTTP = 100, O_OTLP_GRPC, O_QUIET, O_TIMEOUT, O_SAVE };

static const tbt_cli_opt run_opts[] = {
    TBT_COMMON_OPT_ROWS,
    {"otlp-http", 0, "ADDR:PORT", "OTLP/HTTP receiver (default 127.0.0.1:4318; port 0 picks one; 'off')", O_OTLP_HTTP},
    {"otlp-grpc", 0, "ADDR:PORT", "OTLP/gRPC receiver (default 127.0.0.1:4317; port 0 picks one; 'off')", O_OTLP_GRPC},
    {"quiet-period", 0, "DURATION", "default wait after the last span (1s; a test's pollingProfile or completion wins)",
     O_QUIET},
    {"timeout", 0, "DURATION", "default time to wait for a trace (1m; a test's pollingProfile or completion wins)",
     O_TIMEOUT},
    {"save-traces", 0, "DIR", "write each evaluated trace to DIR/<trace id>.otlp.json (for tbt eval)", O_SAVE},
};

/* "host:port", ":port", "port" or "off". */
static int parse_addr(const char *s, bool *enabled, tbt_receiver_opts *ro, char **host_store)
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

static void agent_run(void *ud, const tbt_plan *plan, tbt_vars *vars, tbt_run_result *rr, tbt_test_result *res)
{
    tbt_agent_run(ud, plan, vars, rr, res);
}

int tbt_cmd_run(int argc, char **argv)
{
    tbt_cli cli = {"tbt run", "-f TEST.yaml [options]",
                   "Run Tracetest-compatible tests (or suites) against a live system: fire each trigger with a\n"
                   "traceparent, receive the spans on this process's OTLP receivers, wait until the trace is\n"
                   "complete, evaluate. Point the system's OTLP exporters at the receivers.\n"
                   "Exit codes: 0 all passed, 1 error, 2 a spec failed, 3 definition file not found.",
                   run_opts, TBT_ARRAY_LEN(run_opts), argc, argv, 0};
    tbt_common_opts co;
    tbt_common_init(&co);
    tbt_agent_opts ao = tbt_agent_default_opts();
    char *http_host = NULL, *grpc_host = NULL;
    int code = TBT_EXIT_ERROR;
    const char *arg;
    int id;
    while ((id = tbt_cli_next(&cli, &arg)) != -1) {
        if (id == -3) {
            code = TBT_EXIT_OK;
            goto out;
        }
        if (id < 0)
            goto out;
        int64_t ns;
        switch (id) {
        case O_OTLP_HTTP:
            free(http_host);
            http_host = NULL;
            if (parse_addr(arg, &ao.http, &ao.http_opts, &http_host) != 0) {
                fprintf(stderr, "tbt run: --otlp-http takes ADDR:PORT, PORT or off, got '%s'\n", arg);
                goto out;
            }
            break;
        case O_OTLP_GRPC:
            free(grpc_host);
            grpc_host = NULL;
            if (parse_addr(arg, &ao.grpc, &ao.grpc_opts, &grpc_host) != 0) {
                fprintf(stderr, "tbt run: --otlp-grpc takes ADDR:PORT, PORT or off, got '%s'\n", arg);
                goto out;
            }
            break;
        case O_QUIET:
        case O_TIMEOUT:
            if (tbt_parse_duration(arg, strlen(arg), &ns) != 0 || ns <= 0) {
                fprintf(stderr, "tbt run: --%s takes a duration such as 500ms or 2s, got '%s'\n",
                        id == O_QUIET ? "quiet-period" : "timeout", arg);
                goto out;
            }
            if (id == O_QUIET)
                ao.quiet_ns = (uint64_t)ns;
            else
                ao.timeout_ns = (uint64_t)ns;
            break;
        case O_SAVE:
            ao.save_dir = arg;
            break;
        default:
            if (tbt_common_opt(&co, cli.prog, id, arg) != 0)
                goto out;
        }
    }
    if (tbt_common_check(&co, &cli) != 0)
        goto out;
    if (!ao.http && !ao.grpc) {
        fprintf(stderr, "tbt run: both receivers are off: no span could arrive\n");
        goto out;
    }
    tbt_agent *agent = NULL;
    tbt_error err = TBT_ERROR_INIT;
    if (tbt_agent_start(&ao, &agent, &err) != 0) {
        tbt_cli_print_error(&err);
        tbt_error_clear(&err);
        goto out;
    }
    if (co.verbose || ao.http_opts.port == 0 || ao.grpc_opts.port == 0)
        fprintf(stderr, "tbt run: receiving OTLP on http %s:%u, grpc %s:%u\n",
                ao.http ? (ao.http_opts.bind_addr ? ao.http_opts.bind_addr : "127.0.0.1") : "off",
                tbt_agent_http_port(agent), ao.grpc ? (ao.grpc_opts.bind_addr ? ao.grpc_opts.bind_addr : "127.0.0.1") : "off",
                tbt_agent_grpc_port(agent));
    tbt_trace_source src = {.ud = agent, .run = agent_run};
    code = tbt_common_exec(&co, &src);
    tbt_agent_stop(agent);
out:
    free(http_host);
    free(grpc_host);
    tbt_common_free(&co);
    return code;
}
