/*
 * tbt_agent.h - the agent as a library: "run this test, give me the
 * result". It owns a trace store and the OTLP receivers; a run fires the
 * test's trigger with a traceparent it chose, waits until the trace is
 * complete, and evaluates it. `tbt run` uses it in-process; the Kafka agent
 * (tbt agent) wraps the same call.
 *
 * Completion (docs/completion.md): the trace is complete when every
 * required selector matches (the specs' and outputs' selectors, except
 * specs that would pass with no span at all) and no new
 * span arrived for the quiet period. A PollingProfile maps onto this
 * (timeout → timeout, retryDelay → quiet period, selectorMatchRetries →
 * how many more quiet periods to wait for unmatched selectors); a test may
 * state its own condition in a `completion:` block. On timeout the result
 * says exactly why: spans received, services seen, selectors that never
 * matched, when the last span arrived.
 *
 * Threads: tbt_agent_run may be called from several threads at once.
 */
#ifndef TBT_AGENT_H
#define TBT_AGENT_H

#include "tbt_eval.h"
#include "tbt_receiver.h"

#define TBT_DEFAULT_QUIET_NS (1000ull * 1000000ull)     /* 1 s */
#define TBT_DEFAULT_TIMEOUT_NS (60ull * 1000000000ull)  /* 1 m, as Tracetest */

typedef struct tbt_agent_opts {
    bool http, grpc;             /* which receivers to start (both by default) */
    tbt_receiver_opts http_opts; /* default 127.0.0.1:4318 */
    tbt_receiver_opts grpc_opts; /* default 127.0.0.1:4317 */
    tbt_store_limits store;
    uint64_t quiet_ns;           /* default quiet period (TBT_DEFAULT_QUIET_NS) */
    uint64_t timeout_ns;         /* default timeout (TBT_DEFAULT_TIMEOUT_NS) */
    unsigned link_depth;         /* traces linking in, default 2 hops */
    const char *save_dir;        /* write each evaluated trace there as OTLP/JSON */
    /* A trace backend (tbt_datastore.h) polled every pollInterval while a
     * run waits, its spans stored as if received; NULL: none. Borrowed: it
     * must outlive the agent. With both receivers off it is the only
     * source ("instead of"); otherwise both feed the store. */
    const struct tbt_datastore *datastore;
} tbt_agent_opts;

/* Defaults as above. */
tbt_agent_opts tbt_agent_default_opts(void);

typedef struct tbt_agent tbt_agent;

/* Start the store and receivers. Errors: a port in use, bad address. */
int tbt_agent_start(const tbt_agent_opts *o, tbt_agent **out, tbt_error *err);
uint16_t tbt_agent_http_port(const tbt_agent *a);
uint16_t tbt_agent_grpc_port(const tbt_agent *a);
tbt_store *tbt_agent_store(tbt_agent *a);
void tbt_agent_stop(tbt_agent *a);

/* Run one test: fire, wait for completion, evaluate into *res (strings in
 * rr's arena). base_dir resolves relative files (request bodies). vars is
 * read and receives the outputs. Never fails: a trigger or trace problem
 * is a TBT_TEST_ERROR result with the reason. */
void tbt_agent_run(tbt_agent *a, const tbt_plan *plan, tbt_vars *vars, tbt_run_result *rr, tbt_test_result *res);

/* What a run produces beyond the verdict (all off by default). */
struct tbt_analyzer_config;
typedef struct tbt_agent_run_opts {
    bool trace_view;          /* res->trace_view for the HTML report */
    size_t view_max_bytes;    /* its bound, 0: none (tbt_trace_view.h) */
    bool view_on_failure;     /* ... only when the test does not pass */
    const struct tbt_analyzer_config *analyzer; /* run the analyzer: res->lint; NULL: not */
} tbt_agent_run_opts;

/* tbt_agent_run with per-run options (ro may be NULL). */
void tbt_agent_run_with(tbt_agent *a, const tbt_plan *plan, tbt_vars *vars, const tbt_agent_run_opts *ro,
                        tbt_run_result *rr, tbt_test_result *res);

/* What the completion wait measured for the last run on this thread (for
 * benches): when the condition was met and when the verdict was ready. */
typedef struct tbt_agent_timing {
    uint64_t trigger_start_ns, trigger_end_ns, condition_met_ns, verdict_ns; /* monotonic */
} tbt_agent_timing;
void tbt_agent_last_timing(tbt_agent_timing *t);

#endif
