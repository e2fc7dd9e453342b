/*
 * tbt_coord.h - the coordinator: publish every test (suites step by step)
 * as jobs for every named environment on Kafka, collect the agents'
 * results, and turn them into one run result (a row per test and
 * environment) or, for a campaign, per-environment statistics.
 *
 * Exactly-once counting over at-least-once delivery: results are keyed by
 * (run id, job id) and the first one counts; a redelivered job's result is
 * a duplicate. A job without a result by its deadline, or an environment
 * with no live agent (no heartbeat on tbt.agents), becomes an error result
 * that says so: the coordinator never hangs.
 */
#ifndef TBT_COORD_H
#define TBT_COORD_H

#include <stdio.h>

#include "tbt_hist.h"
#include "tbt_kafka.h"
#include "tbt_log.h"
#include "tbt_metrics.h"
#include "tbt_result.h"
#include "tbt_runner.h"
#include "tbt_threshold.h"
#include "tbt_vars.h"

typedef struct tbt_coord_opts {
    const char *brokers;
    const tbt_kconf *conf;
    char **envs;
    size_t n_envs;
    bool campaign;          /* aggregate (runs > 1, a duration, or a Campaign) */
    uint64_t runs;          /* per test and environment (campaign; 0 with a duration: unbounded) */
    unsigned concurrency;   /* runs in flight per environment (default 64) */
    double rate;            /* runs started per second per environment, 0: as fast as concurrency allows */
    uint64_t duration_ns;   /* campaign: start runs for this long */
    uint64_t job_timeout_ns; /* 0: the test's timeout + 60 s */
    uint64_t agent_wait_ns; /* how long to wait for an environment's first heartbeat (default 15 s) */
    bool progress;          /* live progress line on stderr */
    bool want_view;         /* ask agents for trace views (HTML report; not for campaigns) */
    size_t view_max_bytes;  /* their bound (0: TBT_MSG_VIEW_MAX_BYTES, for 1 MB Kafka records) */
    const char *analyzer_json; /* analyzer configuration for agents (tbt_analyzer.h JSON), or NULL */
    tbt_log_level log_level;   /* default warn; info with -v */
    tbt_log_format log_format; /* text (default), logfmt, json */
    FILE *log;              /* default stderr */
    tbt_metrics *metrics;   /* /metrics registry (NULL: none): jobs published, results, timeouts, agents
                             * alive, result latency (docs/metrics.md); it must outlive the run */
} tbt_coord_opts;

tbt_coord_opts tbt_coord_default_opts(void);

/* Per test (unit) and environment, for campaigns. */
typedef struct tbt_spec_failure {
    char *spec;    /* spec name or selector */
    char *example; /* one failing assertion with its observed value */
    uint64_t count;
} tbt_spec_failure;

typedef struct tbt_campaign_row {
    const char *test;  /* name of the test or suite */
    const char *file;
    const char *environment;
    tbt_campaign_stats stats;
    uint64_t duplicates; /* results received twice (redeliveries), not counted */
    uint64_t elapsed_ns; /* first start to last result */
    tbt_spec_failure *failures; /* ranked, most frequent first */
    size_t n_failures;
    char *first_error;          /* an example error (status error) */
    char *example;              /* the result message of a failing run with its trace view (--report), or NULL */
    size_t example_len;
} tbt_campaign_row;

typedef struct tbt_campaign_result {
    tbt_campaign_row *rows; /* unit-major, then environment */
    size_t n_rows;
    uint64_t duplicates;
} tbt_campaign_result;

void tbt_campaign_result_clear(tbt_campaign_result *c);

/* Run units on every environment. Non-campaign results are appended to rr
 * in unit, environment, step order; campaign statistics go to camp (and,
 * with want_view, one example failing run per row, with its trace view,
 * to rr).
 * Returns 0, or negative with err when the run could not happen at all
 * (Kafka unreachable, no agent alive in an environment: err names it). */
int tbt_coord_run(const tbt_coord_opts *o, const tbt_unit *units, size_t n_units, const tbt_vars *base,
                  tbt_run_result *rr, tbt_campaign_result *camp, tbt_error *err);

#endif
