/*
 * tbt_kagent.h - the agent over Kafka (`tbt agent`, and the embedded agent
 * of `tbt run`): it takes jobs from tbt.jobs.<environment> in the consumer
 * group of its environment, runs each with the agent library
 * (tbt_agent_run), and publishes the result on tbt.results.
 *
 * Delivery (docs/distributed.md): at least once. An offset is stored only
 * after the job's result was acknowledged by Kafka; jobs run concurrently
 * and finish out of order, so per partition only the contiguous prefix of
 * finished jobs is stored. The consumer keeps polling while jobs run (the
 * partitions paused when every slot is busy), so a job longer than
 * max.poll.interval.ms does not get the agent evicted. A message that is
 * not a job is logged and dead-lettered on tbt.dead-letter, and its offset
 * stored: never retried forever, never fatal.
 *
 * Heartbeats go to the compacted tbt.agents topic (agent id, environment,
 * version, load); a stopping agent writes a tombstone. Spans of traces this
 * agent does not watch are relayed on tbt.spans.<environment>, and the
 * relayed spans of traces it watches are taken from there, so a job's
 * verdict sees every span whichever agent of the environment received it.
 */
#ifndef TBT_KAGENT_H
#define TBT_KAGENT_H

#include <stdio.h>

#include "tbt_agent.h"
#include "tbt_kafka.h"
#include "tbt_metrics.h"
#include "tbt_log.h"


typedef struct tbt_kagent_opts {
    const char *brokers;
    const char *environment;
    const char *agent_id;  /* NULL: host-pid-random */
    const tbt_kconf *conf; /* the user's librdkafka settings (may be NULL) */
    unsigned concurrency;  /* jobs run at once (default 4) */
    unsigned heartbeat_ms; /* default 2000 */
    unsigned grace_ms;     /* on stop: time to finish in-flight jobs (default 30000) */
    bool relay;            /* the span relay (default on) */
    bool trusted_files;    /* jobs may name files (request bodies, .proto) on this machine */
    bool solo;             /* the environment's only agent (embedded): take every partition of the
                            * jobs topic directly instead of joining the group (no rebalance wait);
                            * offsets are committed to the group all the same */
    const tbt_vars *vars;  /* this environment's variables (e.g. its URLs); a job's variables win */
    tbt_log_level log_level; /* info (default): lifecycle; debug: every job; warn, error: less */
    FILE *log;             /* default stderr */
    tbt_metrics *metrics;  /* /metrics registry (NULL: none): jobs, trigger and job durations, relay,
                            * Kafka lag (docs/metrics.md); it must outlive the agent */
    tbt_log_format log_format; /* text (default), logfmt or JSON lines: ts, level, agent, environment, msg.
                                * Kafka settings (passwords) are never logged. */
} tbt_kagent_opts;

tbt_kagent_opts tbt_kagent_default_opts(void);

typedef struct tbt_kagent tbt_kagent;

/* Connect, create the topics if missing, join the environment's group,
 * start the job loop, the workers and the relay on threads of their own.
 * The agent a (receivers, store) must outlive the Kafka agent. */
int tbt_kagent_start(tbt_agent *a, const tbt_kagent_opts *o, tbt_kagent **out, tbt_error *err);

/* Stop: take no more jobs, finish the in-flight ones within the grace
 * period (their results published, offsets stored), leave the group. Jobs
 * still running after the grace period are handed back: their offsets are
 * not stored, so the group redelivers them. Frees k. */
void tbt_kagent_stop(tbt_kagent *k);

const char *tbt_kagent_id(const tbt_kagent *k);
/* A line in the agent's log, in its format (fields agent, environment). */
void tbt_kagent_log(const tbt_kagent *k, tbt_log_level level, const char *fmt, ...) TBT_PRINTF(3, 4);

typedef struct tbt_kagent_stats {
    uint64_t jobs, results, dead_lettered, expired, relayed_out, relayed_in, relay_dropped;
    uint64_t lost; /* results that could not be produced (their jobs are redelivered) */
} tbt_kagent_stats;
void tbt_kagent_stats_get(tbt_kagent *k, tbt_kagent_stats *st);

#endif
