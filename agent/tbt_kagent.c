/* tbt_kagent.c - the agent over Kafka: job loop, workers, offsets, dead
 * letters, heartbeats and the span relay. */
#include "tbt_kagent.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "tbt_analyzer.h"
#include "tbt_config.h"
#include "tbt_metrics_http.h"
#include "tbt_msg.h"
#include "tbt_trigger.h"

/* One consumed record: a job to run, or a record that was not a job. */
typedef struct slot {
    int32_t partition;
    int64_t offset;
    unsigned gen; /* assignment generation the offset belongs to */
    tbt_job job;
    tbt_buf result;
    int tries;
    struct slot *next;
    uint64_t received_ns;   /* metrics: job received → result published */
    tbt_test_status status; /* of the result */
} slot;

/* Offsets of one partition in consumption order, each done or not. */
typedef struct ptrack {
    int32_t partition;
    struct {
        int64_t off;
        bool done;
    } *e;
    size_t head, n, cap;
} ptrack;

/* A worker's compiled test: campaigns send the same definition many times. */
typedef struct plan_cache {
    char *definition, *file;
    tbt_defs *defs;
    tbt_plan *plan;
    tbt_histogram *trigger_h; /* metrics: tbt_trigger_duration_seconds{trigger} of the plan's kind */
    tbt_run_result *rr;       /* reused for every job of this worker */
} plan_cache;

struct tbt_kagent {
    tbt_kagent_opts o;
    tbt_agent *agent;
    char *id, *jobs_topic, *spans_topic;
    char *log_prefix;
    tbt_logger log;
    rd_kafka_t *producer, *consumer, *relay_consumer;
    pthread_t loop_thread, relay_thread, *workers;
    atomic_bool stopping, relay_stop;
    bool relay_running;

    /* job queue (main thread → workers) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    slot *qhead, *qtail;
    slot *lost; /* results that could not be produced: the loop thread lets them go */
    bool workers_quit;

    /* main thread only */
    ptrack *tracks;
    size_t n_tracks, cap_tracks;
    unsigned gen;
    size_t in_flight; /* consumed and not yet done */
    bool paused;

    atomic_uint_fast64_t n_jobs, n_results, n_dead, n_expired, n_relay_out, n_relay_in, n_relay_drop, n_lost;

    /* /metrics (docs/metrics.md): children created at start, all NULL
     * without a registry (updates are then no-ops) */
    struct {
        tbt_counter *received, *completed[4], *expired, *dead_undecodable, *dead_wrong_env;
        tbt_counter *relay_in, *relay_out;
        tbt_gauge *in_flight;
        tbt_histogram *job_duration;
        tbt_metric_family *trigger, *lag, *lag_stored;
        tbt_receiver_metrics relay;
        pthread_mutex_t lag_mu; /* lag: the stats callback → scrapes */
        struct {
            int32_t partition;
            int64_t lag, lag_stored;
        } *lag_v;
        size_t n_lag;
    } m;
};

tbt_kagent_opts tbt_kagent_default_opts(void)
{
    tbt_kagent_opts o = {
        .concurrency = 4,
        .heartbeat_ms = 2000,
        .grace_ms = 30000,
        .relay = true,
        .log_level = TBT_LOG_INFO,
    };
    return o;
}

void tbt_kagent_log(const tbt_kagent *k, tbt_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tbt_vlogf(&k->log, level, fmt, ap);
    va_end(ap);
}

#define klog tbt_kagent_log

/* ---- offsets: the contiguous prefix of finished jobs per partition --------- */
static ptrack *track_of(tbt_kagent *k, int32_t partition, bool create)
{
    for (size_t i = 0; i < k->n_tracks; i++)
        if (k->tracks[i].partition == partition)
            return &k->tracks[i];
    if (!create)
        return NULL;
    TBT_GROW(k->tracks, k->cap_tracks, k->n_tracks + 1);
    ptrack *t = &k->tracks[k->n_tracks++];
    memset(t, 0, sizeof(*t));
    t->partition = partition;
    return t;
}

static void tracks_reset(tbt_kagent *k)
{
    for (size_t i = 0; i < k->n_tracks; i++)
        free(k->tracks[i].e);
    k->n_tracks = 0;
    k->gen++;
}

static void track_add(tbt_kagent *k, int32_t partition, int64_t off)
{
    ptrack *t = track_of(k, partition, true);
    if (t->head > 0 && t->head == t->n) {
        t->head = t->n = 0;
    } else if (t->head > 64 && t->head * 2 > t->n) {
        memmove(t->e, t->e + t->head, (t->n - t->head) * sizeof(*t->e));
        t->n -= t->head;
        t->head = 0;
    }
    TBT_GROW(t->e, t->cap, t->n + 1);
    t->e[t->n].off = off;
    t->e[t->n].done = false;
    t->n++;
}

static void store_offset(tbt_kagent *k, int32_t partition, int64_t next)
{
    if (!k->consumer)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, k->jobs_topic, partition)->offset = next;
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(k->consumer, l);
    if (e)
        klog(k, TBT_LOG_DEBUG, "offset %lld of partition %d not stored: %s", (long long)next, (int)partition,
             rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
}

/* A job of (partition, off) is done: store the offset after the longest
 * finished prefix. Offsets of an older assignment are dropped: the
 * partition may belong to another agent now, which replays the job. */
static void track_done(tbt_kagent *k, int32_t partition, int64_t off, unsigned gen)
{
    k->in_flight--;
    if (gen != k->gen)
        return;
    ptrack *t = track_of(k, partition, false);
    if (!t)
        return;
    for (size_t i = t->head; i < t->n; i++)
        if (t->e[i].off == off) {
            t->e[i].done = true;
            break;
        }
    int64_t next = -1;
    while (t->head < t->n && t->e[t->head].done)
        next = t->e[t->head++].off + 1;
    if (next >= 0)
        store_offset(k, partition, next);
}

/* ---- producing --------------------------------------------------------------- */
static int produce(tbt_kagent *k, const char *topic, const char *key, const void *val, size_t len,
                   rd_kafka_headers_t *hdrs, void *opaque)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            k->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
                return -EMSGSIZE; /* the caller may shrink it */
            klog(k, TBT_LOG_ERROR, "cannot produce to %s: %s", topic, rd_kafka_err2str(e));
            return -EIO;
        }
        /* back-pressure: wait for deliveries to drain the queue */
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

/* A result over the cluster's message.max.bytes: first without its trace
 * view (the HTML report then says no trace was kept), then as an error
 * result that says why, so the run learns the verdict either way. Returns
 * false when there is nothing left to shrink. */
static bool shrink_result(tbt_kagent *k, slot *s)
{
    cJSON *root = cJSON_ParseWithLength(s->result.data, s->result.len);
    cJSON *t = root ? cJSON_GetObjectItemCaseSensitive(root, "test") : NULL;
    bool shrunk = false;
    if (t && cJSON_GetObjectItemCaseSensitive(t, "traceView")) {
        cJSON_DeleteItemFromObjectCaseSensitive(t, "traceView");
        shrunk = true;
    } else if (t && cJSON_GetObjectItemCaseSensitive(t, "specs")) {
        size_t was = s->result.len;
        static const char *const heavy[] = {"specs", "outputs", "analyzer", "completion"};
        for (size_t i = 0; i < TBT_ARRAY_LEN(heavy); i++)
            cJSON_DeleteItemFromObjectCaseSensitive(t, heavy[i]);
        cJSON_DeleteItemFromObjectCaseSensitive(t, "status");
        cJSON_AddStringToObject(t, "status", "error");
        char *why = tbt_xasprintf("the result (%zu bytes) is larger than the Kafka cluster takes (message.max.bytes): "
                                  "raise it for the agents' producer (-X message.max.bytes=...) and the brokers",
                                  was);
        cJSON_DeleteItemFromObjectCaseSensitive(t, "error");
        cJSON_AddStringToObject(t, "error", why);
        free(why);
        s->status = TBT_TEST_ERROR;
        shrunk = true;
    }
    if (shrunk) {
        char *txt = cJSON_PrintUnformatted(root);
        tbt_buf_reset(&s->result);
        tbt_buf_puts(&s->result, txt ? txt : "");
        cJSON_free(txt);
        klog(k, TBT_LOG_WARN, "the result of job %s is too large for the cluster: sent without %s", s->job.job_id,
             s->status == TBT_TEST_ERROR ? "its evaluation (as an error)" : "its trace view");
    }
    cJSON_Delete(root);
    return shrunk;
}

static void produce_result(tbt_kagent *k, slot *s)
{
    for (;;) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(2);
        rd_kafka_header_add(h, "tbt-kind", -1, "result", -1);
        rd_kafka_header_add(h, "tbt-run-id", -1, s->job.run_id, -1);
        /* keyed by run id: one run's results in one partition, in order */
        int rc = produce(k, TBT_TOPIC_RESULTS, s->job.run_id, s->result.data, s->result.len, h, s);
        if (rc == -EMSGSIZE && shrink_result(k, s))
            continue;
        if (rc != 0) {
            klog(k, TBT_LOG_ERROR, "result of job %s lost: it will be redelivered after a restart", s->job.job_id);
            /* its offset stays unstored; the loop thread, which owns the
             * in-flight count, lets the slot go */
            pthread_mutex_lock(&k->mu);
            s->next = k->lost;
            k->lost = s;
            pthread_mutex_unlock(&k->mu);
        }
        return;
    }
}

static void slot_free(slot *s)
{
    tbt_job_clear(&s->job);
    tbt_buf_free(&s->result);
    free(s);
}

/* On the loop thread: results a worker could not produce. Like a delivery
 * that gave up: no longer in flight, offset not stored (redelivered). */
static void drop_lost(tbt_kagent *k)
{
    pthread_mutex_lock(&k->mu);
    slot *s = k->lost;
    k->lost = NULL;
    pthread_mutex_unlock(&k->mu);
    while (s) {
        slot *next = s->next;
        atomic_fetch_add(&k->n_lost, 1);
        k->in_flight--;
        if (s->result.len)
            tbt_gauge_add(k->m.in_flight, -1);
        slot_free(s);
        s = next;
    }
}

/* Delivery reports, on the job loop's thread (rd_kafka_poll there). */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    tbt_kagent *k = opaque;
    slot *s = m->_private;
    if (!s)
        return; /* heartbeats, relayed spans */
    if (m->err && !s->result.len) {
        klog(k, TBT_LOG_ERROR, "dead-lettering offset %lld of partition %d failed (%s): skipped", (long long)s->offset,
             (int)s->partition, rd_kafka_err2str(m->err));
    } else if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && shrink_result(k, s)) {
            produce_result(k, s); /* the broker's limit is below the producer's */
            return;
        }
        if (++s->tries <= 5 && !atomic_load(&k->stopping)) {
            klog(k, TBT_LOG_WARN, "publishing the %s of job %s failed (%s): retrying", s->result.len ? "result" : "dead letter",
                 s->job.job_id ? s->job.job_id : "?", rd_kafka_err2str(m->err));
            produce_result(k, s);
            return;
        }
        klog(k, TBT_LOG_ERROR, "giving up publishing for offset %lld of partition %d: the job will be redelivered",
             (long long)s->offset, (int)s->partition);
        k->in_flight--; /* its offset stays unstored: the prefix stops here */
        if (s->result.len)
            tbt_gauge_add(k->m.in_flight, -1);
        slot_free(s);
        return;
    }
    if (s->result.len) {
        atomic_fetch_add(&k->n_results, 1);
        tbt_counter_add(k->m.completed[s->status], 1);
        tbt_histogram_observe_ns(k->m.job_duration, tbt_now_mono_ns() - s->received_ns);
        tbt_gauge_add(k->m.in_flight, -1);
    }
    track_done(k, s->partition, s->offset, s->gen);
    slot_free(s);
}

/* ---- workers ------------------------------------------------------------------ */
/* Forget the compiled test (the worker's run result stays). */
static void cache_clear(plan_cache *c)
{
    tbt_plan_free(c->plan);
    tbt_defs_free(c->defs);
    free(c->definition);
    free(c->file);
    tbt_run_result *rr = c->rr;
    memset(c, 0, sizeof(*c));
    c->rr = rr;
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Compile the job's test (or reuse the last compilation). */
static tbt_plan *plan_for(tbt_kagent *k, plan_cache *c, const tbt_job *job, tbt_error *err)
{
    const char *file = k->o.trusted_files ? job->test_file : NULL;
    if (c->plan && strcmp(c->definition, job->definition) == 0 && same(c->file, file))
        return c->plan;
    cache_clear(c);
    c->defs = tbt_defs_new();
    const tbt_test_def *def = NULL;
    int rc = k->o.trusted_files ? tbt_job_load_trusted(job, c->defs, &def, err)
                                : tbt_job_load(job, c->defs, &def, err);
    if (rc == 0) {
        tbt_error_list errs = TBT_ERROR_LIST_INIT;
        if (tbt_plan_compile(def, c->defs, &c->plan, &errs) != 0 || !c->plan) {
            tbt_buf b = TBT_BUF_INIT;
            tbt_error_list_format(&errs, &b);
            tbt_error_set(err, -EINVAL, "the test does not compile:\n%s", tbt_buf_cstr(&b));
            tbt_buf_free(&b);
            tbt_plan_free(c->plan);
            c->plan = NULL;
        }
        tbt_error_list_clear(&errs);
    }
    if (!c->plan) {
        cache_clear(c);
        return NULL;
    }
    c->definition = tbt_xstrdup(job->definition);
    c->file = file ? tbt_xstrdup(file) : NULL;
    /* the trigger's kind as a label: only registered kinds (a bounded set) */
    const tbt_trigger_kind *kind = tbt_trigger_find(tbt_plan_def(c->plan)->trigger.type.s ? tbt_plan_def(c->plan)->trigger.type.s : "");
    const char *tv[] = {kind ? kind->name : NULL};
    c->trigger_h = kind && k->m.trigger ? tbt_metrics_histogram(k->m.trigger, tv) : NULL;
    return c->plan;
}

static void run_job(tbt_kagent *k, plan_cache *cache, slot *s)
{
    if (!cache->rr)
        cache->rr = tbt_run_result_new();
    tbt_run_result *rr = cache->rr;
    tbt_run_result_reset(rr);
    tbt_test_result *res = tbt_run_result_add(rr);
    tbt_error err = TBT_ERROR_INIT;
    tbt_plan *plan = plan_for(k, cache, &s->job, &err);
    if (plan) {
        tbt_vars *vars = k->o.vars ? tbt_vars_clone(k->o.vars) : tbt_vars_new();
        for (size_t i = 0; i < tbt_vars_count(s->job.vars); i++)
            tbt_vars_set(vars, tbt_vars_name_at(s->job.vars, i), tbt_vars_value_at(s->job.vars, i));
        tbt_agent_run_opts ro = {.trace_view = s->job.want_view,
                                 .view_on_failure = s->job.view_on_failure,
                                 .view_max_bytes = s->job.view_max_bytes ? s->job.view_max_bytes
                                                                         : TBT_MSG_VIEW_MAX_BYTES};
        /* the coordinator's analyzer configuration (checked like any input) */
        tbt_analyzer_config *an = NULL;
        tbt_error aerr = TBT_ERROR_INIT;
        if (s->job.analyzer &&
            tbt_analyzer_config_from_json(s->job.analyzer, strlen(s->job.analyzer), &an, &aerr) != 0)
            klog(k, TBT_LOG_WARN, "job %s: analyzer configuration refused, not linting: %s", s->job.job_id,
                 aerr.msg ? aerr.msg : "?");
        tbt_error_clear(&aerr);
        ro.analyzer = an;
        tbt_agent_run_with(k->agent, plan, vars, &ro, rr, res);
        tbt_analyzer_config_free(an);
        tbt_vars_free(vars);
        if (res->trigger_ns) /* 0: the trigger never fired */
            tbt_histogram_observe_ns(cache->trigger_h, res->trigger_ns);
    } else {
        /* a job that parses but whose test cannot run: an error result,
         * so the coordinator learns why instead of waiting */
        res->status = TBT_TEST_ERROR;
        res->name = tbt_arena_strdup(rr->arena, s->job.test_name ? s->job.test_name
                                                : s->job.test_id   ? s->job.test_id
                                                                   : "(unnamed test)");
        res->id = s->job.test_id ? tbt_arena_strdup(rr->arena, s->job.test_id) : NULL;
        res->error = tbt_error_text(&err, rr->arena);
        tbt_error_clear(&err);
    }
    if (s->job.suite)
        res->suite = tbt_arena_strdup(rr->arena, s->job.suite);
    res->environment = tbt_arena_strdup(rr->arena, k->o.environment);
    s->status = res->status <= TBT_TEST_SKIPPED ? res->status : TBT_TEST_ERROR;
    tbt_result_encode(&s->job, k->id, res, &s->result);
    klog(k, TBT_LOG_DEBUG, "job %s (%s) %s", s->job.job_id, res->name ? res->name : "?", tbt_test_status_name(res->status));
    produce_result(k, s);
}

static void *worker_main(void *p)
{
    tbt_kagent *k = p;
    plan_cache cache = {0};
    pthread_mutex_lock(&k->mu);
    for (;;) {
        while (!k->qhead && !k->workers_quit)
            pthread_cond_wait(&k->cv, &k->mu);
        if (!k->qhead)
            break;
        slot *s = k->qhead;
        k->qhead = s->next;
        if (!k->qhead)
            k->qtail = NULL;
        pthread_mutex_unlock(&k->mu);
        run_job(k, &cache, s);
        pthread_mutex_lock(&k->mu);
    }
    pthread_mutex_unlock(&k->mu);
    cache_clear(&cache);
    tbt_run_result_free(cache.rr);
    return NULL;
}

/* ---- the job loop ------------------------------------------------------------- */
static void dead_letter(tbt_kagent *k, const rd_kafka_message_t *m, slot *s, const char *why)
{
    klog(k, TBT_LOG_WARN, "partition %d offset %lld is not a job (%s): dead-lettered on %s", (int)m->partition,
         (long long)m->offset, why, TBT_TOPIC_DEAD);
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    char num[32];
    rd_kafka_header_add(h, "tbt-error", -1, why, -1);
    rd_kafka_header_add(h, "tbt-source-topic", -1, k->jobs_topic, -1);
    snprintf(num, sizeof(num), "%d", (int)m->partition);
    rd_kafka_header_add(h, "tbt-source-partition", -1, num, -1);
    snprintf(num, sizeof(num), "%lld", (long long)m->offset);
    rd_kafka_header_add(h, "tbt-source-offset", -1, num, -1);
    rd_kafka_header_add(h, "tbt-agent", -1, k->id, -1);
    atomic_fetch_add(&k->n_dead, 1);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        k->producer, RD_KAFKA_V_TOPIC(TBT_TOPIC_DEAD), RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_OPAQUE(s), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h);
        klog(k, TBT_LOG_WARN, "dead-lettering failed (%s): skipping the record", rd_kafka_err2str(e));
        track_done(k, s->partition, s->offset, s->gen);
        slot_free(s);
    }
}

static void take(tbt_kagent *k, rd_kafka_message_t *m)
{
    slot *s = tbt_xcalloc(1, sizeof(*s));
    s->partition = m->partition;
    s->offset = m->offset;
    s->gen = k->gen;
    track_add(k, m->partition, m->offset);
    k->in_flight++;
    tbt_error err = TBT_ERROR_INIT;
    s->received_ns = tbt_now_mono_ns();
    if (tbt_job_decode(m->payload ? m->payload : "", m->len, &s->job, &err) != 0) {
        tbt_counter_add(k->m.dead_undecodable, 1);
        dead_letter(k, m, s, err.msg ? err.msg : "not a job message");
        tbt_error_clear(&err);
        return;
    }
    atomic_fetch_add(&k->n_jobs, 1);
    tbt_counter_add(k->m.received, 1);
    if (s->job.environment[0] && strcmp(s->job.environment, k->o.environment) != 0) {
        tbt_counter_add(k->m.dead_wrong_env, 1);
        dead_letter(k, m, s, "the job is for another environment");
        return;
    }
    if (s->job.deadline_unix_ms > 0 && tbt_now_unix_ms() > s->job.deadline_unix_ms) {
        /* the coordinator stopped waiting: running it would only load
         * the system under test */
        klog(k, TBT_LOG_WARN, "job %s of run %s is past its deadline: skipped", s->job.job_id, s->job.run_id);
        atomic_fetch_add(&k->n_expired, 1);
        tbt_counter_add(k->m.expired, 1);
        track_done(k, s->partition, s->offset, s->gen);
        slot_free(s);
        return;
    }
    klog(k, TBT_LOG_DEBUG, "job %s of run %s (partition %d offset %lld, attempt %d)", s->job.job_id, s->job.run_id,
         (int)m->partition, (long long)m->offset, s->job.attempt);
    tbt_gauge_add(k->m.in_flight, 1);
    pthread_mutex_lock(&k->mu);
    if (k->qtail)
        k->qtail->next = s;
    else
        k->qhead = s;
    k->qtail = s;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

static void set_paused(tbt_kagent *k, bool pause)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(k->consumer, &l) == RD_KAFKA_RESP_ERR_NO_ERROR && l) {
        if (l->cnt) {
            if (pause)
                rd_kafka_pause_partitions(k->consumer, l);
            else
                rd_kafka_resume_partitions(k->consumer, l);
        }
        rd_kafka_topic_partition_list_destroy(l);
    }
    k->paused = pause;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    tbt_kagent *k = opaque;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        klog(k, TBT_LOG_INFO, "assigned %d partition%s of %s", parts->cnt, parts->cnt == 1 ? "" : "s", k->jobs_topic);
        tracks_reset(k);
        rd_kafka_assign(rk, parts);
        k->paused = false;
    } else {
        klog(k, TBT_LOG_INFO, "partitions revoked (%d)", parts ? parts->cnt : 0);
        /* commit what is stored before the partitions move on */
        rd_kafka_commit(rk, NULL, 0);
        tracks_reset(k);
        rd_kafka_assign(rk, NULL);
        k->paused = false;
    }
}

static void heartbeat(tbt_kagent *k, bool leaving)
{
    if (leaving) {
        produce(k, TBT_TOPIC_AGENTS, k->id, NULL, 0, NULL, NULL);
        return;
    }
    tbt_buf b = TBT_BUF_INIT;
    tbt_buf_printf(&b, "{\"agentId\":");
    tbt_buf_json_str(&b, k->id, strlen(k->id));
    tbt_buf_printf(&b, ",\"environment\":");
    tbt_buf_json_str(&b, k->o.environment, strlen(k->o.environment));
    tbt_buf_printf(&b,
                   ",\"version\":\"%s\",\"inFlight\":%zu,\"concurrency\":%u,\"load\":%.3f,"
                   "\"heartbeatMs\":%u,\"otlpHttpPort\":%u,\"otlpGrpcPort\":%u,\"sentUnixMs\":%lld}",
                   TBT_VERSION, k->in_flight, k->o.concurrency, (double)k->in_flight / k->o.concurrency,
                   k->o.heartbeat_ms, tbt_agent_http_port(k->agent), tbt_agent_grpc_port(k->agent),
                   (long long)tbt_now_unix_ms());
    produce(k, TBT_TOPIC_AGENTS, k->id, b.data, b.len, NULL, NULL);
    tbt_buf_free(&b);
}

static void *loop_main(void *p)
{
    tbt_kagent *k = p;
    int64_t next_beat = 0;
    while (!atomic_load(&k->stopping)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->consumer, 20);
        if (m) {
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
                take(k, m);
            else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                klog(k, TBT_LOG_ERROR, "consuming %s: %s", k->jobs_topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        }
        rd_kafka_poll(k->producer, 0);
        drop_lost(k);
        /* jobs wait in memory until a worker is free; past a large
         * backlog the partitions are paused (the consumer keeps polling,
         * so a long job never exceeds max.poll.interval.ms) and resumed
         * at half of it: hysteresis, because every pause drops what
         * librdkafka prefetched and a resume refetches after a backoff */
        size_t high = 64 * (size_t)k->o.concurrency < 4096 ? 4096 : 64 * (size_t)k->o.concurrency, low = high / 2;
        if (!k->paused && k->in_flight >= high)
            set_paused(k, true);
        else if (k->paused && k->in_flight <= low)
            set_paused(k, false);
        int64_t now = tbt_now_unix_ms();
        if (now >= next_beat) {
            heartbeat(k, false);
            next_beat = now + k->o.heartbeat_ms;
        }
    }
    /* stopping: no new jobs; finish what runs within the grace period,
     * polling on so the group keeps us and deliveries store offsets */
    set_paused(k, true);
    int64_t until = tbt_now_unix_ms() + k->o.grace_ms;
    if (k->in_flight)
        klog(k, TBT_LOG_INFO, "stopping: finishing %zu job%s (grace %u ms)", k->in_flight, k->in_flight == 1 ? "" : "s",
             k->o.grace_ms);
    while (k->in_flight && tbt_now_unix_ms() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->consumer, 0);
        if (m)
            rd_kafka_message_destroy(m); /* paused: fetched before the pause; redelivered */
        rd_kafka_poll(k->producer, 20);
        drop_lost(k);
    }
    if (k->in_flight) {
        klog(k, TBT_LOG_WARN, "stopping: %zu job%s still running after the grace period: handed back to the group",
             k->in_flight, k->in_flight == 1 ? "" : "s");
        tracks_reset(k); /* their offsets will not be stored */
    }
    heartbeat(k, true);
    return NULL;
}

/* ---- the span relay ------------------------------------------------------------- */
static void relay_out(void *ud, tbt_otlp_format fmt, const uint8_t *buf, size_t len, const uint8_t *ids, size_t n)
{
    tbt_kagent *k = ud;
    char key[33];
    for (int i = 0; i < 16; i++)
        snprintf(key + 2 * i, 3, "%02x", ids[i]);
    rd_kafka_headers_t *h = rd_kafka_headers_new(3);
    rd_kafka_header_add(h, "tbt-format", -1, fmt == TBT_OTLP_JSON ? "json" : "protobuf", -1);
    rd_kafka_header_add(h, "tbt-trace-ids", -1, ids, (ssize_t)(16 * n));
    rd_kafka_header_add(h, "tbt-agent", -1, k->id, -1);
    if (produce(k, k->spans_topic, key, buf, len, h, NULL) == 0) {
        atomic_fetch_add(&k->n_relay_out, 1);
        tbt_counter_add(k->m.relay_out, 1);
    }
}

static void relay_in(tbt_kagent *k, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t vlen = 0;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    if (rd_kafka_header_get_last(h, "tbt-agent", &v, &vlen) == RD_KAFKA_RESP_ERR_NO_ERROR && v &&
        vlen == strlen(k->id) && memcmp(v, k->id, vlen) == 0)
        return; /* our own */
    if (rd_kafka_header_get_last(h, "tbt-trace-ids", &v, &vlen) != RD_KAFKA_RESP_ERR_NO_ERROR || !v || !vlen ||
        vlen % 16 != 0)
        return;
    if (!tbt_store_watches_any(tbt_agent_store(k->agent), v, vlen / 16))
        return;
    tbt_otlp_format fmt = TBT_OTLP_PROTOBUF;
    const void *f = NULL;
    size_t flen = 0;
    if (rd_kafka_header_get_last(h, "tbt-format", &f, &flen) == RD_KAFKA_RESP_ERR_NO_ERROR && f && flen == 4 &&
        memcmp(f, "json", 4) == 0)
        fmt = TBT_OTLP_JSON;
    tbt_ingest_result ir;
    tbt_error err = TBT_ERROR_INIT;
    int irc = tbt_store_ingest_relayed(tbt_agent_store(k->agent), fmt, m->payload, m->len, &ir, &err);
    if (irc == 0) {
        atomic_fetch_add(&k->n_relay_in, 1);
        tbt_counter_add(k->m.relay_in, 1);
        tbt_counter_add(k->m.relay.spans, ir.accepted);
        if (ir.rejected)
            tbt_counter_add(k->m.relay.spans_partial, ir.rejected);
    } else {
        atomic_fetch_add(&k->n_relay_drop, 1);
        tbt_counter_add(irc == -EBUSY ? k->m.relay.full : irc == -E2BIG ? k->m.relay.too_large : k->m.relay.malformed,
                        1);
        klog(k, TBT_LOG_WARN, "relayed spans dropped: %s", err.msg ? err.msg : "?");
    }
    tbt_error_clear(&err);
}

static void *relay_main(void *p)
{
    tbt_kagent *k = p;
    while (!atomic_load(&k->relay_stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->relay_consumer, 50);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
            relay_in(k, m);
        else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            klog(k, TBT_LOG_INFO, "consuming %s: %s", k->spans_topic, rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

/* Read the relay topic from its current end: spans relayed from now on. */
static int relay_start(tbt_kagent *k, tbt_error *err)
{
    static const char *const defaults[] = {
        "enable.auto.commit", "false", "fetch.wait.max.ms", "10", "fetch.min.bytes", "1",
        "log_level", "3", NULL,
    };
    rd_kafka_conf_t *conf = tbt_kconf_build(k->o.conf, k->o.brokers, defaults, err);
    if (!conf)
        return -EINVAL;
    char errstr[512], group[300];
    snprintf(group, sizeof(group), "tbt-relay.%s", k->id);
    rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr));
    k->relay_consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!k->relay_consumer) {
        rd_kafka_conf_destroy(conf);
        return tbt_error_set(err, -EINVAL, "Kafka relay consumer: %s", errstr);
    }
    int n = tbt_kafka_partitions(k->relay_consumer, k->spans_topic, 10000);
    if (n <= 0)
        return tbt_error_set(err, -EHOSTUNREACH, "cannot read the partitions of %s (is Kafka reachable?)",
                             k->spans_topic);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(k->relay_consumer, k->spans_topic, i, &lo, &hi, 10000);
        if (e) {
            rd_kafka_topic_partition_list_destroy(l);
            return tbt_error_set(err, -EHOSTUNREACH, "offsets of %s: %s", k->spans_topic, rd_kafka_err2str(e));
        }
        rd_kafka_topic_partition_list_add(l, k->spans_topic, i)->offset = hi;
    }
    rd_kafka_assign(k->relay_consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (pthread_create(&k->relay_thread, NULL, relay_main, k) != 0)
        return tbt_error_set(err, -EAGAIN, "cannot start the relay thread");
    k->relay_running = true;
    tbt_store_set_relay(tbt_agent_store(k->agent), relay_out, k);
    return 0;
}

/* ---- metrics (docs/metrics.md) ------------------------------------------------------ */
/* Kafka lag from librdkafka's statistics (statistics.interval.ms): per
 * partition of the jobs topic, consumer_lag (high watermark − the consumed
 * position) and consumer_lag_stored (− the stored offset: jobs not yet
 * finished). Served on the job loop's thread by rd_kafka_consumer_poll. */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    tbt_kagent *k = opaque;
    cJSON *j = cJSON_ParseWithLength(json, len);
    const cJSON *topics = cJSON_GetObjectItemCaseSensitive(j, "topics");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(topics, k->jobs_topic);
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(t, "partitions");
    pthread_mutex_lock(&k->m.lag_mu);
    k->m.n_lag = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, parts)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(p, "partition");
        const cJSON *lag = cJSON_GetObjectItemCaseSensitive(p, "consumer_lag");
        const cJSON *lag_stored = cJSON_GetObjectItemCaseSensitive(p, "consumer_lag_stored");
        const cJSON *desired = cJSON_GetObjectItemCaseSensitive(p, "desired");
        /* -1: the internal UA partition; not desired: not assigned here;
         * lag -1: not known yet */
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || !cJSON_IsTrue(desired) || !cJSON_IsNumber(lag) ||
            lag->valuedouble < 0 || k->m.n_lag >= 4096)
            continue;
        k->m.lag_v = tbt_xrealloc(k->m.lag_v, (k->m.n_lag + 1) * sizeof(*k->m.lag_v));
        k->m.lag_v[k->m.n_lag].partition = (int32_t)id->valuedouble;
        k->m.lag_v[k->m.n_lag].lag = (int64_t)lag->valuedouble;
        k->m.lag_v[k->m.n_lag].lag_stored =
            cJSON_IsNumber(lag_stored) ? (int64_t)lag_stored->valuedouble : -1;
        k->m.n_lag++;
    }
    pthread_mutex_unlock(&k->m.lag_mu);
    cJSON_Delete(j);
    return 0; /* librdkafka frees json */
}

static void lag_emit(tbt_kagent *k, tbt_metric_sink *sink, bool stored)
{
    pthread_mutex_lock(&k->m.lag_mu);
    for (size_t i = 0; i < k->m.n_lag; i++) {
        char part[16];
        snprintf(part, sizeof(part), "%d", (int)k->m.lag_v[i].partition);
        const char *v[] = {k->jobs_topic, part};
        int64_t lag = stored ? k->m.lag_v[i].lag_stored : k->m.lag_v[i].lag;
        if (lag >= 0)
            tbt_metric_sink_add(sink, v, (double)lag);
    }
    pthread_mutex_unlock(&k->m.lag_mu);
}

static void lag_collect(void *ud, tbt_metric_sink *sink)
{
    lag_emit(ud, sink, false);
}

static void lag_stored_collect(void *ud, tbt_metric_sink *sink)
{
    lag_emit(ud, sink, true);
}

/* The job consumer reports statistics every second unless the user set
 * statistics.interval.ms (0 turns the lag off). */
static void metrics_stats_conf(tbt_kagent *k, rd_kafka_conf_t *conf)
{
    bool user_set = false;
    for (size_t i = 0; k->o.conf && i + 1 < k->o.conf->n; i += 2)
        user_set |= strcmp(k->o.conf->kv[i], "statistics.interval.ms") == 0;
    char errstr[256];
    if (!user_set)
        rd_kafka_conf_set(conf, "statistics.interval.ms", "1000", errstr, sizeof(errstr));
    rd_kafka_conf_set_stats_cb(conf, on_stats);
}

static void metrics_init(tbt_kagent *k)
{
    pthread_mutex_init(&k->m.lag_mu, NULL);
    tbt_metrics *m = k->o.metrics;
    if (!m)
        return;
    static const char *const l_env[] = {"environment", NULL};
    static const char *const l_env_status[] = {"environment", "status", NULL};
    static const char *const l_reason[] = {"reason", NULL};
    static const char *const l_trigger[] = {"trigger", NULL};
    static const char *const l_dir[] = {"direction", NULL};
    static const char *const l_lag[] = {"topic", "partition", NULL};
    static const char *const statuses[] = {"passed", "failed", "error", "skipped"};
    const char *env[] = {k->o.environment, NULL};
    k->m.received = tbt_metrics_counter(
        tbt_metrics_family(m, TBT_METRIC_COUNTER, "tbt_agent_jobs_received_total",
                           "Job records taken from the environment's jobs topic that decode as jobs.", l_env, NULL, 0),
        env);
    tbt_metric_family *f = tbt_metrics_family(
        m, TBT_METRIC_COUNTER, "tbt_agent_jobs_completed_total",
        "Jobs whose result Kafka acknowledged, by the test's status.", l_env_status, NULL, 0);
    for (int i = 0; i < 4; i++) {
        env[1] = statuses[i];
        k->m.completed[i] = tbt_metrics_counter(f, env);
    }
    k->m.expired = tbt_metrics_counter(
        tbt_metrics_family(m, TBT_METRIC_COUNTER, "tbt_agent_jobs_expired_total",
                           "Jobs skipped because they were past their deadline when taken (no result is published).",
                           l_env, NULL, 0),
        env);
    k->m.in_flight = tbt_metrics_gauge(
        tbt_metrics_family(m, TBT_METRIC_GAUGE, "tbt_agent_jobs_in_flight",
                           "Jobs taken and not yet finished: queued for a worker, running, or publishing the result.",
                           NULL, NULL, 0),
        NULL);
    f = tbt_metrics_family(m, TBT_METRIC_COUNTER, "tbt_agent_dead_letters_total",
                           "Records of the jobs topic dead-lettered on tbt.dead-letter: undecodable (not a job "
                           "message), wrong_environment (a job for another environment).",
                           l_reason, NULL, 0);
    const char *r[] = {"undecodable"};
    k->m.dead_undecodable = tbt_metrics_counter(f, r);
    r[0] = "wrong_environment";
    k->m.dead_wrong_env = tbt_metrics_counter(f, r);
    k->m.trigger = tbt_metrics_family(m, TBT_METRIC_HISTOGRAM, "tbt_trigger_duration_seconds",
                                      "Wall time of firing a job's trigger (the call to the system under test), by "
                                      "trigger kind.",
                                      l_trigger, NULL, 0);
    k->m.job_duration = tbt_metrics_histogram(
        tbt_metrics_family(m, TBT_METRIC_HISTOGRAM, "tbt_job_duration_seconds",
                           "From taking a job off Kafka to Kafka acknowledging its result.", NULL, NULL, 0),
        NULL);
    f = tbt_metrics_family(m, TBT_METRIC_COUNTER, "tbt_relay_batches_total",
                           "OTLP requests relayed over tbt.spans.<environment>: out = produced for other agents, in "
                           "= taken from other agents for a trace watched here.",
                           l_dir, NULL, 0);
    const char *d[] = {"in"};
    k->m.relay_in = tbt_metrics_counter(f, d);
    d[0] = "out";
    k->m.relay_out = tbt_metrics_counter(f, d);
    tbt_receiver_metrics_init(&k->m.relay, m, "relay");
    k->m.lag = tbt_metrics_family(m, TBT_METRIC_GAUGE, "tbt_kafka_consumer_lag",
                                  "Jobs-topic records not yet consumed (librdkafka consumer_lag: high watermark minus "
                                  "the consumed position), per assigned partition.",
                                  l_lag, NULL, 0);
    k->m.lag_stored = tbt_metrics_family(m, TBT_METRIC_GAUGE, "tbt_kafka_consumer_lag_stored",
                                         "Jobs-topic records whose jobs are not finished (librdkafka "
                                         "consumer_lag_stored: high watermark minus the stored offset).",
                                         l_lag, NULL, 0);
    tbt_metrics_collector_add(k->m.lag, lag_collect, k);
    tbt_metrics_collector_add(k->m.lag_stored, lag_stored_collect, k);
}

/* After the consumer is gone (no more statistics); before k is freed. */
static void metrics_fini(tbt_kagent *k)
{
    tbt_metrics_collector_remove(k->m.lag, lag_collect, k);
    tbt_metrics_collector_remove(k->m.lag_stored, lag_stored_collect, k);
    free(k->m.lag_v);
    pthread_mutex_destroy(&k->m.lag_mu);
}

/* ---- start / stop ---------------------------------------------------------------- */
static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    (void)rk;
    tbt_kagent *k = opaque;
    klog(k, code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || code == RD_KAFKA_RESP_ERR__FATAL ? 0 : 1, "kafka: %s",
         reason);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    tbt_kagent *k = rd_kafka_opaque(rk);
    klog(k, level <= 3 ? 0 : 2, "librdkafka %s: %s", fac, buf);
}

/* A producer (delivery reports: on_delivery) or the job consumer
 * (rebalances: on_rebalance), logging through the agent. */
static rd_kafka_t *client(tbt_kagent *k, rd_kafka_type_t type, const char *const *defaults, tbt_error *err)
{
    rd_kafka_conf_t *conf = tbt_kconf_build(k->o.conf, k->o.brokers, defaults, err);
    if (!conf)
        return NULL;
    if (type == RD_KAFKA_PRODUCER)
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    else
        rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_opaque(conf, k);
    if (type == RD_KAFKA_CONSUMER && k->o.metrics)
        metrics_stats_conf(k, conf);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        tbt_error_set(err, -EINVAL, "Kafka %s: %s", type == RD_KAFKA_PRODUCER ? "producer" : "consumer", errstr);
    }
    return rk;
}

int tbt_kagent_start(tbt_agent *a, const tbt_kagent_opts *o, tbt_kagent **out, tbt_error *err)
{
    *out = NULL;
    if (tbt_kafka_check_env(o->environment ? o->environment : "", err) != 0)
        return -EINVAL;
    tbt_kagent *k = tbt_xcalloc(1, sizeof(*k));
    k->o = *o;
    if (!k->o.concurrency)
        k->o.concurrency = 1;
    if (!k->o.heartbeat_ms)
        k->o.heartbeat_ms = 2000;
    if (!k->o.log)
        k->o.log = stderr;
    k->agent = a;
    k->id = o->agent_id ? tbt_xstrdup(o->agent_id) : tbt_kafka_agent_id();
    k->log_prefix = tbt_xasprintf("tbt agent %s [%s]", k->id, o->environment);
    k->log = (tbt_logger){.f = k->o.log,
                          .format = o->log_format,
                          .level = o->log_level,
                          .prefix = k->log_prefix,
                          .keys = {"agent", "environment"},
                          .values = {k->id, k->o.environment},
                          .n_fields = 2};
    k->jobs_topic = tbt_topic_jobs(o->environment);
    k->spans_topic = tbt_topic_spans(o->environment);
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    metrics_init(k);
    int rc = 0;

    static const char *const pdefaults[] = {
        "acks", "all", "enable.idempotence", "true", "linger.ms", "2", "log_level", "4", NULL,
    };
    if (!(k->producer = client(k, RD_KAFKA_PRODUCER, pdefaults, err))) {
        rc = -EINVAL;
        goto fail;
    }
    const char *topics[] = {k->jobs_topic, TBT_TOPIC_RESULTS, TBT_TOPIC_AGENTS, TBT_TOPIC_DEAD, k->spans_topic};
    if ((rc = tbt_kafka_ensure_topics(k->producer, topics, TBT_ARRAY_LEN(topics) - !o->relay, 4, 10000, err)) != 0)
        goto fail;

    char group[300];
    snprintf(group, sizeof(group), TBT_GROUP_PREFIX "%s", o->environment);
    const char *cdefaults[] = {
        "group.id", group, "enable.auto.offset.store", "false", "enable.auto.commit", "true",
        "auto.commit.interval.ms", "500", "auto.offset.reset", "earliest", "fetch.wait.max.ms", "100",
        "queued.min.messages", "1000",
        "log_level", "4", NULL,
    };
    if (!(k->consumer = client(k, RD_KAFKA_CONSUMER, cdefaults, err))) {
        rc = -EINVAL;
        goto fail;
    }
    if (o->relay && (rc = relay_start(k, err)) != 0)
        goto fail;
    rd_kafka_poll_set_consumer(k->consumer);
    rd_kafka_resp_err_t e;
    if (o->solo) {
        int np = tbt_kafka_partitions(k->consumer, k->jobs_topic, 10000);
        if (np <= 0) {
            rc = tbt_error_set(err, -EHOSTUNREACH, "cannot read the partitions of %s", k->jobs_topic);
            goto fail;
        }
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
        for (int i = 0; i < np; i++)
            rd_kafka_topic_partition_list_add(l, k->jobs_topic, i)->offset = RD_KAFKA_OFFSET_STORED;
        tracks_reset(k);
        e = rd_kafka_assign(k->consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
    } else {
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, k->jobs_topic, RD_KAFKA_PARTITION_UA);
        e = rd_kafka_subscribe(k->consumer, sub);
        rd_kafka_topic_partition_list_destroy(sub);
    }
    if (e) {
        rc = tbt_error_set(err, -EINVAL, "subscribing to %s: %s", k->jobs_topic, rd_kafka_err2str(e));
        goto fail;
    }
    k->workers = tbt_xcalloc(k->o.concurrency, sizeof(pthread_t));
    for (unsigned i = 0; i < k->o.concurrency; i++)
        pthread_create(&k->workers[i], NULL, worker_main, k);
    pthread_create(&k->loop_thread, NULL, loop_main, k);
    klog(k, TBT_LOG_INFO, "taking jobs from %s in group %s (concurrency %u); OTLP on http :%u, grpc :%u", k->jobs_topic,
         group, k->o.concurrency, tbt_agent_http_port(a), tbt_agent_grpc_port(a));
    *out = k;
    return 0;
fail:
    if (k->relay_running) {
        atomic_store(&k->relay_stop, true);
        pthread_join(k->relay_thread, NULL);
        tbt_store_set_relay(tbt_agent_store(a), NULL, NULL);
    }
    tbt_kafka_consumer_destroy(k->relay_consumer, 5000);
    if (k->consumer)
        rd_kafka_destroy(k->consumer);
    if (k->producer)
        rd_kafka_destroy(k->producer);
    free(k->id);
    free(k->log_prefix);
    free(k->jobs_topic);
    free(k->spans_topic);
    metrics_fini(k);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    free(k);
    return rc;
}

void tbt_kagent_stop(tbt_kagent *k)
{
    if (!k)
        return;
    atomic_store(&k->stopping, true);
    pthread_join(k->loop_thread, NULL);
    /* leave the group: with nothing more stored, unfinished jobs go to
     * another agent of the environment */
    tbt_kafka_consumer_destroy(k->consumer, 10000);
    k->consumer = NULL; /* late deliveries store no offset (see track_done) */
    pthread_mutex_lock(&k->mu);
    k->workers_quit = true;
    /* queued jobs that no worker started are handed back as well */
    while (k->qhead) {
        slot *s = k->qhead;
        k->qhead = s->next;
        tbt_gauge_add(k->m.in_flight, -1);
        slot_free(s);
    }
    k->qtail = NULL;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
    for (unsigned i = 0; i < k->o.concurrency; i++)
        pthread_join(k->workers[i], NULL);
    if (k->relay_running) {
        tbt_store_set_relay(tbt_agent_store(k->agent), NULL, NULL);
        atomic_store(&k->relay_stop, true);
        pthread_join(k->relay_thread, NULL);
    }
    tbt_kafka_consumer_destroy(k->relay_consumer, 5000);
    /* results of jobs that finished late still go out (their offsets are
     * not stored: the redelivered job's result is a duplicate the
     * coordinator drops) */
    rd_kafka_flush(k->producer, 10000);
    rd_kafka_destroy(k->producer);
    drop_lost(k);
    tracks_reset(k);
    free(k->tracks);
    free(k->workers);
    klog(k, TBT_LOG_INFO, "stopped");
    free(k->id);
    free(k->log_prefix);
    free(k->jobs_topic);
    free(k->spans_topic);
    metrics_fini(k);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    free(k);
}

const char *tbt_kagent_id(const tbt_kagent *k)
{
    return k->id;
}

void tbt_kagent_stats_get(tbt_kagent *k, tbt_kagent_stats *st)
{
    st->jobs = atomic_load(&k->n_jobs);
    st->results = atomic_load(&k->n_results);
    st->dead_lettered = atomic_load(&k->n_dead);
    st->expired = atomic_load(&k->n_expired);
    st->relayed_out = atomic_load(&k->n_relay_out);
    st->relayed_in = atomic_load(&k->n_relay_in);
    st->relay_dropped = atomic_load(&k->n_relay_drop);
    st->lost = atomic_load(&k->n_lost);
}
