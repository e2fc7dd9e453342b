/* tbt_kafka.c - client settings, topic names and topic creation shared by
 * the Kafka agent and the coordinator. */
#include "tbt_kafka.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

/* Properties that make librdkafka load code or run commands: a job
 * definition never reaches here, but a settings file shared by a team
 * should not be able to turn into code execution either. */
static bool forbidden(const char *key)
{
    return strcmp(key, "plugin.library.paths") == 0 || strcmp(key, "ssl.engine.location") == 0 ||
           strcmp(key, "sasl.kerberos.kinit.cmd") == 0;
}

static int add_pair(tbt_kconf *c, const char *key, size_t klen, const char *value, const char *where,
                    tbt_error *err)
{
    while (klen && (key[klen - 1] == ' ' || key[klen - 1] == '\t'))
        klen--;
    while (*value == ' ' || *value == '\t')
        value++;
    if (klen == 0)
        return tbt_error_set(err, -EINVAL, "%s: a Kafka setting needs a name before '='", where);
    char *k = tbt_xstrndup(key, klen);
    if (forbidden(k)) {
        int rc = tbt_error_set(err, -EPERM, "%s: the Kafka setting '%s' loads code and is not allowed", where, k);
        free(k);
        return rc;
    }
    TBT_GROW(c->kv, c->cap, c->n + 2);
    c->kv[c->n++] = k;
    c->kv[c->n++] = tbt_xstrdup(value);
    return 0;
}

int tbt_kconf_add(tbt_kconf *c, const char *kv, tbt_error *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq)
        return tbt_error_set(err, -EINVAL, "-X takes key=value (a librdkafka property), got '%s'", kv);
    return add_pair(c, kv, (size_t)(eq - kv), eq + 1, "-X", err);
}

int tbt_kconf_load_file(tbt_kconf *c, const char *path, tbt_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return tbt_error_set(err, -errno, "cannot read the Kafka settings file %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            continue;
        const char *eq = strchr(p, '=');
        char where[300];
        snprintf(where, sizeof(where), "%.256s:%d", path, lineno);
        if (!eq)
            rc = tbt_error_set(err, -EINVAL, "%s: expected key=value, got '%s'", where, p);
        else
            rc = add_pair(c, p, (size_t)(eq - p), eq + 1, where, err);
    }
    free(line);
    fclose(f);
    return rc;
}

void tbt_kconf_free(tbt_kconf *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->kv[i]);
    free(c->kv);
    memset(c, 0, sizeof(*c));
}

rd_kafka_conf_t *tbt_kconf_build(const tbt_kconf *c, const char *brokers, const char *const *defaults,
                                 tbt_error *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        goto bad_brokers;
    for (size_t i = 0; defaults && defaults[i]; i += 2) {
        if (rd_kafka_conf_set(conf, defaults[i], defaults[i + 1], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            tbt_error_set(err, -EINVAL, "Kafka setting %s=%s: %s", defaults[i], defaults[i + 1], errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    for (size_t i = 0; c && i + 1 < c->n; i += 2) {
        if (rd_kafka_conf_set(conf, c->kv[i], c->kv[i + 1], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            tbt_error_set(err, -EINVAL, "Kafka setting %s: %s", c->kv[i], errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    return conf;
bad_brokers:
    tbt_error_set(err, -EINVAL, "--brokers '%s': %s", brokers, errstr);
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int tbt_kafka_check_env(const char *env, tbt_error *err)
{
    size_t n = strlen(env);
    if (n == 0 || n > 200)
        return tbt_error_set(err, -EINVAL, "an environment name needs 1 to 200 characters, got '%s'", env);
    for (size_t i = 0; i < n; i++) {
        char ch = env[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                  ch == '_' || ch == '-';
        if (!ok)
            return tbt_error_set(err, -EINVAL,
                                 "environment '%s', character %zu: only letters, digits, '.', '_' and '-' "
                                 "(the name becomes part of Kafka topic names)",
                                 env, i + 1);
    }
    return 0;
}

char *tbt_topic_jobs(const char *env)
{
    return tbt_xasprintf("tbt.jobs.%s", env);
}

char *tbt_topic_spans(const char *env)
{
    return tbt_xasprintf("tbt.spans.%s", env);
}

/* Which of topics the cluster lacks (missing[i] set); -EHOSTUNREACH when
 * the cluster does not answer. */
static int find_missing(rd_kafka_t *rk, const char *const *topics, size_t n, bool *missing, size_t *n_missing,
                        int timeout_ms, tbt_error *err)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (e)
        return tbt_error_set(err, -EHOSTUNREACH, "Kafka is not reachable: %s", rd_kafka_err2str(e));
    *n_missing = 0;
    for (size_t i = 0; i < n; i++) {
        missing[i] = true;
        for (int k = 0; k < md->topic_cnt; k++)
            if (strcmp(md->topics[k].topic, topics[i]) == 0 && md->topics[k].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                md->topics[k].partition_cnt > 0)
                missing[i] = false;
        *n_missing += missing[i];
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* CreateTopics for the missing ones; errors are left to the caller's
 * second look (a cluster may refuse, or have no controller: the mock). */
static void create_topics(rd_kafka_t *rk, const char *const *topics, size_t n, const bool *missing, int partitions,
                          int timeout_ms)
{
    char errstr[512];
    rd_kafka_NewTopic_t **nt = tbt_xcalloc(n ? n : 1, sizeof(*nt));
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++) {
        if (!missing[i])
            continue;
        rd_kafka_NewTopic_t *t = rd_kafka_NewTopic_new(topics[i], partitions, -1, errstr, sizeof(errstr));
        if (!t)
            continue;
        if (strcmp(topics[i], TBT_TOPIC_AGENTS) == 0)
            rd_kafka_NewTopic_set_config(t, "cleanup.policy", "compact");
        nt[cnt++] = t;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_AdminOptions_set_request_timeout(ao, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(rk, nt, cnt, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    for (size_t i = 0; i < cnt; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
}

int tbt_kafka_ensure_topics(rd_kafka_t *rk, const char *const *topics, size_t n, int partitions, int timeout_ms,
                            tbt_error *err)
{
    bool *missing = tbt_xcalloc(n ? n : 1, sizeof(bool));
    size_t n_missing = 0;
    int rc = find_missing(rk, topics, n, missing, &n_missing, timeout_ms, err);
    if (rc == 0 && n_missing) {
        /* a real cluster creates them at once; a cluster without a
         * controller (librdkafka's mock) times out quickly and creates
         * topics when a producer asks for their metadata instead */
        create_topics(rk, topics, n, missing, partitions, 1500);
        for (size_t i = 0; i < n; i++)
            if (missing[i])
                tbt_kafka_partitions(rk, topics[i], timeout_ms);
        rc = find_missing(rk, topics, n, missing, &n_missing, timeout_ms, err);
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (missing[i])
                rc = tbt_error_set(err, -ENOENT,
                                   "the Kafka topic %s does not exist and could not be created (create it with %d "
                                   "partitions, or allow tbt to create topics)",
                                   topics[i], partitions);
    }
    free(missing);
    return rc;
}

int tbt_kafka_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const rd_kafka_metadata_t *md = NULL;
    int n = -ENOENT;
    if (rd_kafka_metadata(rk, 0, t, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        n = -ETIMEDOUT;
    } else {
        for (int i = 0; i < md->topic_cnt; i++)
            if (strcmp(md->topics[i].topic, topic) == 0 && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                md->topics[i].partition_cnt > 0)
                n = md->topics[i].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    return n;
}

void tbt_kafka_consumer_destroy(rd_kafka_t *rk, int timeout_ms)
{
    if (!rk)
        return;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(rk, q);
    bool closed = false;
    if (e) {
        rd_kafka_error_destroy(e);
    } else {
        int64_t until = tbt_now_unix_ms() + timeout_ms;
        while (!(closed = rd_kafka_consumer_closed(rk)) && tbt_now_unix_ms() < until) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 50);
            if (!ev)
                continue;
            if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                rd_kafka_assign(rk, NULL); /* revoked: give everything back */
            rd_kafka_event_destroy(ev);
        }
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy_flags(rk, closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

int64_t tbt_now_unix_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

char *tbt_kafka_agent_id(void)
{
    char host[128] = "host";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r))
        r = (uint32_t)tbt_now_unix_ms();
    return tbt_xasprintf("%s-%ld-%04x", host, (long)getpid(), (unsigned)(r & 0xffff));
}
