/*
 * tbt_kafka.h - what the Kafka agent and the coordinator share: topic
 * names, client settings passed through as kcat does (-X key=value, or a
 * properties file), and creating the topics tbt needs.
 *
 * Topics (docs/distributed.md): tbt.jobs.<environment>, tbt.results,
 * tbt.agents (compacted heartbeats), tbt.spans.<environment> (the span
 * relay), tbt.dead-letter.
 */
#ifndef TBT_KAFKA_H
#define TBT_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "tbt_common.h"

#define TBT_TOPIC_RESULTS "tbt.results"
#define TBT_TOPIC_AGENTS "tbt.agents"
#define TBT_TOPIC_DEAD "tbt.dead-letter"
#define TBT_GROUP_PREFIX "tbt-agents."

/* librdkafka settings given by the user, in order ("key", "value" pairs). */
typedef struct tbt_kconf {
    char **kv; /* key0, value0, key1, value1, ... */
    size_t n, cap;
} tbt_kconf;

/* "key=value" (as kcat's -X). Code-loading properties are refused. */
int tbt_kconf_add(tbt_kconf *c, const char *kv, tbt_error *err);
/* A properties file: key=value lines, '#' comments, blank lines. */
int tbt_kconf_load_file(tbt_kconf *c, const char *path, tbt_error *err);
void tbt_kconf_free(tbt_kconf *c);

/* A configuration with bootstrap.servers = brokers, then defaults (pairs,
 * NULL-terminated: tbt's choices, e.g. for the consumer), then the user's
 * settings (which win). Errors name the property. */
rd_kafka_conf_t *tbt_kconf_build(const tbt_kconf *c, const char *brokers, const char *const *defaults,
                                 tbt_error *err);

/* An environment name must make a valid topic name: [A-Za-z0-9._-], 1-200. */
int tbt_kafka_check_env(const char *env, tbt_error *err);
/* "tbt.jobs.<env>" / "tbt.spans.<env>" (caller frees). */
char *tbt_topic_jobs(const char *env);
char *tbt_topic_spans(const char *env);

/* Create the topics (partitions each; compacted when the name is
 * tbt.agents) unless they exist. Waits at most timeout_ms. A broker that
 * refuses topic creation (no rights) is not an error: the topics may have
 * been created by an operator; a later subscribe tells. */
int tbt_kafka_ensure_topics(rd_kafka_t *rk, const char *const *topics, size_t n, int partitions, int timeout_ms,
                            tbt_error *err);

/* Partition count of a topic (metadata), or negative errno. */
int tbt_kafka_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms);

/* Close a consumer (leave its group, commit what auto-commit stored) and
 * destroy it, within timeout_ms: with the cluster gone, close would wait
 * for ever; past the deadline it is destroyed without the close. */
void tbt_kafka_consumer_destroy(rd_kafka_t *rk, int timeout_ms);

/* Wall clock in milliseconds since the epoch. */
int64_t tbt_now_unix_ms(void);

/* A process-unique id: host-pid-random. Caller frees. */
char *tbt_kafka_agent_id(void);

#endif
