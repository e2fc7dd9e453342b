/* tbt_coord.c - the coordinator: jobs out, results in, one verdict. */
#include "tbt_coord.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tbt_msg.h"

enum { JOB_PUBLISHED, JOB_DONE };

typedef struct job {
    size_t chain, step;
    int64_t deadline_ms;
    uint64_t published_ns;
    uint8_t state;
} job;

/* What one step of a non-campaign chain ended with. */
typedef struct step_out {
    char *json; /* the result message */
    size_t len;
    char *error; /* or an error the coordinator found (timeout, no agent) */
    bool skipped;
} step_out;

typedef struct chain {
    size_t unit, env;
    size_t step;
    tbt_vars *vars;
    bool stopped, all_passed;
    size_t job;
    step_out *out; /* non-campaign: one per step */
} chain;

typedef struct env_state {
    const char *name;
    char *topic;
    size_t in_flight;      /* chains running */
    uint64_t started;      /* chains started */
    uint64_t *unit_runs;   /* chains started per unit */
    size_t next_unit;
    uint64_t next_start_ns;
    bool exhausted;
    int64_t last_alive_ms; /* newest heartbeat of any live agent */
    /* /metrics children (NULL without a registry: updates are no-ops) */
    tbt_counter *m_published, *m_results[4], *m_timeouts;
    tbt_gauge *m_in_flight, *m_alive;
} env_state;

typedef struct agent_seen {
    char *id, *env;
    int64_t last_ms;
    unsigned hb_ms;
    bool gone;
} agent_seen;

typedef struct coord {
    tbt_run_result *scratch; /* each result is decoded into it, then dropped */
    const tbt_coord_opts *o;
    const tbt_unit *units;
    size_t n_units;
    const tbt_vars *base;
    char ***def_json; /* per unit and step: the encoded definition */
    char run_id[33];
    rd_kafka_t *producer, *results, *agents;
    env_state *envs;
    chain *chains;
    size_t n_chains, cap_chains;
    job *jobs;
    size_t n_jobs, cap_jobs;
    size_t *flight; /* published jobs awaiting a result (done ones are dropped by check_deadlines) */
    size_t n_flight, cap_flight;
    agent_seen *seen;
    size_t n_seen, cap_seen;
    size_t chains_done, chains_total; /* total: 0 when unbounded */
    uint64_t failed, errors, duplicates;
    uint64_t t0_ns, last_progress_ns;
    bool progress_shown;
    tbt_campaign_result *camp;
    uint64_t *row_first_ns, *row_last_ns;
    tbt_error *err;
    tbt_counter *m_duplicates;
    tbt_histogram *m_latency;
} coord;

tbt_coord_opts tbt_coord_default_opts(void)
{
    tbt_coord_opts o = {
        .runs = 1,
        .concurrency = 64,
        .agent_wait_ns = 15ull * 1000000000ull,
    };
    return o;
}

static void clog_(const coord *c, tbt_log_level level, const char *fmt, ...) TBT_PRINTF(3, 4);

static void clog_(const coord *c, tbt_log_level level, const char *fmt, ...)
{
    if (level > c->o->log_level)
        return;
    FILE *f = c->o->log ? c->o->log : stderr;
    if (c->progress_shown)
        fputs("\r\033[K", f);
    tbt_logger l = {.f = f,
                    .format = c->o->log_format,
                    .level = c->o->log_level,
                    .prefix = "tbt coordinator",
                    .keys = {"component", "run"},
                    .values = {"coordinator", c->run_id},
                    .n_fields = 2};
    va_list ap;
    va_start(ap, fmt);
    tbt_vlogf(&l, level, fmt, ap);
    va_end(ap);
}

/* ---- liveness: heartbeats on tbt.agents ----------------------------------------- */
static agent_seen *seen_get(coord *c, const char *id, size_t len)
{
    for (size_t i = 0; i < c->n_seen; i++)
        if (strlen(c->seen[i].id) == len && memcmp(c->seen[i].id, id, len) == 0)
            return &c->seen[i];
    TBT_GROW(c->seen, c->cap_seen, c->n_seen + 1);
    agent_seen *a = &c->seen[c->n_seen++];
    memset(a, 0, sizeof(*a));
    a->id = tbt_xstrndup(id, len);
    return a;
}

static void on_heartbeat(coord *c, const rd_kafka_message_t *m)
{
    if (!m->key || !m->key_len)
        return;
    agent_seen *a = seen_get(c, m->key, m->key_len);
    if (!m->payload) { /* tombstone: the agent stopped */
        a->gone = true;
        return;
    }
    cJSON *j = cJSON_ParseWithLength(m->payload, m->len);
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(j, "environment");
    const cJSON *sent = cJSON_GetObjectItemCaseSensitive(j, "sentUnixMs");
    const cJSON *hb = cJSON_GetObjectItemCaseSensitive(j, "heartbeatMs");
    if (cJSON_IsString(env) && cJSON_IsNumber(sent)) {
        free(a->env);
        a->env = tbt_xstrdup(env->valuestring);
        a->last_ms = (int64_t)sent->valuedouble;
        a->hb_ms = cJSON_IsNumber(hb) && hb->valuedouble >= 100 && hb->valuedouble < 3600000
                       ? (unsigned)hb->valuedouble
                       : 2000;
        a->gone = false;
    }
    cJSON_Delete(j);
}

/* Agents of env alive now (heartbeat younger than 3 of its intervals). */
static size_t alive(coord *c, const char *env, int64_t *newest)
{
    int64_t now = tbt_now_unix_ms();
    size_t n = 0;
    if (newest)
        *newest = 0;
    for (size_t i = 0; i < c->n_seen; i++) {
        const agent_seen *a = &c->seen[i];
        if (!a->env || strcmp(a->env, env) != 0)
            continue;
        if (newest && a->last_ms > *newest)
            *newest = a->last_ms;
        if (!a->gone && now - a->last_ms < 3 * (int64_t)a->hb_ms)
            n++;
    }
    return n;
}

static void poll_agents(coord *c, int timeout_ms)
{
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(c->agents, timeout_ms)) != NULL) {
        if (!m->err)
            on_heartbeat(c, m);
        rd_kafka_message_destroy(m);
        timeout_ms = 0;
    }
}

/* ---- Kafka set-up ------------------------------------------------------------------ */
static rd_kafka_t *consumer(coord *c, const char *what)
{
    static const char *const defaults[] = {
        "enable.auto.commit", "false", "fetch.wait.max.ms", "10", "fetch.min.bytes", "1",
        "enable.partition.eof", "false", "log_level", "3", NULL,
    };
    rd_kafka_conf_t *conf = tbt_kconf_build(c->o->conf, c->o->brokers, defaults, c->err);
    if (!conf)
        return NULL;
    char errstr[512], group[128];
    snprintf(group, sizeof(group), "tbt-coordinator.%s.%s", what, c->run_id);
    rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        tbt_error_set(c->err, -EINVAL, "Kafka consumer: %s", errstr);
    }
    return rk;
}

/* Assign every partition of topic: from its current end (results: only
 * what this run produces) or from the beginning (heartbeats). */
static int assign_all(coord *c, rd_kafka_t *rk, const char *topic, bool from_end)
{
    int n = tbt_kafka_partitions(rk, topic, 10000);
    if (n <= 0)
        return tbt_error_set(c->err, -EHOSTUNREACH, "cannot read the partitions of %s from %s (is Kafka reachable?)",
                             topic, c->o->brokers);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++) {
        int64_t lo = 0, hi = 0;
        if (from_end) {
            rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 10000);
            if (e) {
                rd_kafka_topic_partition_list_destroy(l);
                return tbt_error_set(c->err, -EHOSTUNREACH, "offsets of %s: %s", topic, rd_kafka_err2str(e));
            }
        }
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = from_end ? hi : RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return 0;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

static int connect_kafka(coord *c)
{
    static const char *const pdefaults[] = {
        "acks", "all", "enable.idempotence", "true", "linger.ms", "2", "log_level", "3", NULL,
    };
    rd_kafka_conf_t *pc = tbt_kconf_build(c->o->conf, c->o->brokers, pdefaults, c->err);
    if (!pc)
        return -EINVAL;
    rd_kafka_conf_set_dr_msg_cb(pc, on_delivery);
    rd_kafka_conf_set_opaque(pc, c);
    char errstr[512];
    c->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof(errstr));
    if (!c->producer) {
        rd_kafka_conf_destroy(pc);
        return tbt_error_set(c->err, -EINVAL, "Kafka producer: %s", errstr);
    }
    const char **topics = tbt_xcalloc(c->o->n_envs + 3, sizeof(char *));
    size_t nt = 0;
    for (size_t i = 0; i < c->o->n_envs; i++)
        topics[nt++] = c->envs[i].topic;
    topics[nt++] = TBT_TOPIC_RESULTS;
    topics[nt++] = TBT_TOPIC_AGENTS;
    topics[nt++] = TBT_TOPIC_DEAD;
    int rc = tbt_kafka_ensure_topics(c->producer, topics, nt, 4, 10000, c->err);
    free(topics);
    if (rc)
        return rc;
    if (!(c->results = consumer(c, "results")) || !(c->agents = consumer(c, "agents")))
        return -EINVAL;
    if ((rc = assign_all(c, c->results, TBT_TOPIC_RESULTS, true)) != 0 ||
        (rc = assign_all(c, c->agents, TBT_TOPIC_AGENTS, false)) != 0)
        return rc;
    return 0;
}

/* ---- jobs --------------------------------------------------------------------------- */
static uint64_t test_timeout_ns(const tbt_test_def *def)
{
    uint64_t t = def->polling && def->polling->timeout_ns > 0 ? (uint64_t)def->polling->timeout_ns
                                                              : 60ull * 1000000000ull;
    return t + 60ull * 1000000000ull;
}

static void step_error(coord *c, chain *ch, size_t step, const char *fmt, ...);
static void chain_step_done(coord *c, chain *ch, tbt_test_status st, const tbt_test_result *res);
static size_t row_of(const coord *c, const chain *ch);

static void publish(coord *c, size_t ci)
{
    chain *ch = &c->chains[ci];
    const tbt_unit *u = &c->units[ch->unit];
    const tbt_test_def *def = u->steps[ch->step];
    TBT_GROW(c->jobs, c->cap_jobs, c->n_jobs + 1);
    size_t ji = c->n_jobs++;
    job *j = &c->jobs[ji];
    memset(j, 0, sizeof(*j));
    j->chain = ci;
    j->step = ch->step;
    uint64_t tmo = c->o->job_timeout_ns ? c->o->job_timeout_ns : test_timeout_ns(def);
    j->deadline_ms = tbt_now_unix_ms() + (int64_t)(tmo / 1000000);
    j->published_ns = tbt_now_mono_ns();
    j->state = JOB_PUBLISHED;
    tbt_counter_add(c->envs[ch->env].m_published, 1);
    ch->job = ji;
    char jid[32];
    snprintf(jid, sizeof(jid), "%zu", ji);
    tbt_job jm = {
        .run_id = c->run_id,
        .job_id = jid,
        .environment = (char *)c->envs[ch->env].name,
        .attempt = 1,
        .deadline_unix_ms = j->deadline_ms,
        .suite = (char *)u->suite,
        .step = (int)ch->step + 1,
        .steps = (int)u->n_steps,
        /* a view per run is for reading one run; a campaign reports
         * numbers, and one failing run per row as an example */
        .want_view = c->o->want_view && (!c->camp || !c->camp->rows[row_of(c, ch)].example),
        .view_on_failure = c->camp != NULL,
        .view_max_bytes = c->o->view_max_bytes,
        /* a campaign's verdict is its thresholds: no per-run lint */
        .analyzer = c->o->campaign ? NULL : (char *)c->o->analyzer_json,
    };
    tbt_buf b = TBT_BUF_INIT;
    char **dj = &c->def_json[ch->unit][ch->step];
    if (!*dj)
        *dj = tbt_job_definition(def);
    tbt_job_encode_with(&jm, def, *dj, ch->vars, &b);
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "tbt-kind", -1, "job", -1);
    rd_kafka_header_add(h, "tbt-run-id", -1, c->run_id, -1);
    rd_kafka_resp_err_t e;
    for (;;) {
        /* keyed by job id: a run's jobs spread over the partitions, so
         * every agent of the environment gets a share */
        e = rd_kafka_producev(c->producer, RD_KAFKA_V_TOPIC(c->envs[ch->env].topic), RD_KAFKA_V_KEY(jid, strlen(jid)),
                              RD_KAFKA_V_VALUE(b.data, b.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)(ji + 1)), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(c->producer, 5);
    }
    tbt_buf_free(&b);
    j = &c->jobs[ji]; /* a delivery report may have published (and grown jobs) */
    TBT_GROW(c->flight, c->cap_flight, c->n_flight + 1);
    c->flight[c->n_flight++] = ji;
    if (e) {
        rd_kafka_headers_destroy(h);
        j->state = JOB_DONE;
        step_error(c, ch, ch->step, "could not publish the job to %s: %s", c->envs[ch->env].topic, rd_kafka_err2str(e));
    }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    coord *c = opaque;
    size_t ji = (size_t)(uintptr_t)m->_private;
    if (!ji || !m->err)
        return;
    job *j = &c->jobs[ji - 1];
    if (j->state != JOB_PUBLISHED)
        return;
    j->state = JOB_DONE;
    chain *ch = &c->chains[j->chain];
    step_error(c, ch, j->step, "could not publish the job to %s: %s", c->envs[ch->env].topic,
               rd_kafka_err2str(m->err));
}

/* ---- chains: one run of a unit (a Test, or a suite's steps in order) in one environment */
static size_t row_of(const coord *c, const chain *ch)
{
    return ch->unit * c->o->n_envs + ch->env;
}

static void chain_finish(coord *c, chain *ch)
{
    env_state *e = &c->envs[ch->env];
    e->in_flight--;
    tbt_gauge_set(e->m_in_flight, (double)e->in_flight);
    c->chains_done++;
    if (c->camp) {
        tbt_campaign_row *row = &c->camp->rows[row_of(c, ch)];
        row->stats.runs++;
        if (ch->all_passed)
            row->stats.passed++;
        c->row_last_ns[row_of(c, ch)] = tbt_now_mono_ns();
        tbt_vars_free(ch->vars);
        ch->vars = NULL;
    }
}

static void start_chain(coord *c, size_t env, size_t unit)
{
    TBT_GROW(c->chains, c->cap_chains, c->n_chains + 1);
    size_t ci = c->n_chains++;
    chain *ch = &c->chains[ci];
    memset(ch, 0, sizeof(*ch));
    ch->unit = unit;
    ch->env = env;
    ch->all_passed = true;
    ch->vars = tbt_vars_clone(c->base);
    c->envs[env].in_flight++;
    tbt_gauge_set(c->envs[env].m_in_flight, (double)c->envs[env].in_flight);
    c->envs[env].started++;
    c->envs[env].unit_runs[unit]++;
    if (!c->camp)
        ch->out = tbt_xcalloc(c->units[unit].n_steps ? c->units[unit].n_steps : 1, sizeof(step_out));
    if (c->camp && !c->row_first_ns[row_of(c, ch)])
        c->row_first_ns[row_of(c, ch)] = tbt_now_mono_ns();
    if (c->units[unit].n_steps == 0) {
        chain_finish(c, ch);
        return;
    }
    publish(c, ci);
}

static void record_failures(tbt_campaign_row *row, const tbt_test_result *res)
{
    for (size_t i = 0; i < res->n_specs; i++) {
        const tbt_spec_result *sp = &res->specs[i];
        if (sp->passed)
            continue;
        const char *name = sp->name && *sp->name ? sp->name : sp->selector ? sp->selector : "(spec)";
        tbt_spec_failure *f = NULL;
        for (size_t k = 0; k < row->n_failures; k++)
            if (strcmp(row->failures[k].spec, name) == 0)
                f = &row->failures[k];
        if (!f) {
            row->failures = tbt_xrealloc(row->failures, (row->n_failures + 1) * sizeof(*row->failures));
            f = &row->failures[row->n_failures++];
            memset(f, 0, sizeof(*f));
            f->spec = tbt_xstrdup(name);
            tbt_buf b = TBT_BUF_INIT;
            if (sp->error) {
                tbt_buf_puts(&b, sp->error);
            } else {
                for (size_t a = 0; a < sp->n_asserts && !b.len; a++) {
                    const tbt_assert_result *ar = &sp->asserts[a];
                    if (ar->passed)
                        continue;
                    tbt_buf_puts(&b, ar->assertion ? ar->assertion : "");
                    for (size_t s = 0; s < ar->n_spans; s++)
                        if (!ar->spans[s].passed) {
                            if (ar->spans[s].observed)
                                tbt_buf_printf(&b, " (observed %s)", ar->spans[s].observed);
                            else if (ar->spans[s].error)
                                tbt_buf_printf(&b, " (%s)", ar->spans[s].error);
                            break;
                        }
                }
            }
            f->example = tbt_buf_steal(&b);
        }
        f->count++;
    }
}

/* A step's result (res, or NULL when the coordinator produced an error). */
static void chain_step_done(coord *c, chain *ch, tbt_test_status st, const tbt_test_result *res)
{
    const tbt_unit *u = &c->units[ch->unit];
    if (st == TBT_TEST_FAILED)
        c->failed++;
    if (st == TBT_TEST_ERROR)
        c->errors++;
    if (st != TBT_TEST_PASSED)
        ch->all_passed = false;
    if (c->camp) {
        tbt_campaign_row *row = &c->camp->rows[row_of(c, ch)];
        if (st == TBT_TEST_FAILED)
            row->stats.failed++;
        if (st == TBT_TEST_ERROR) {
            row->stats.errors++;
            if (!row->first_error && res && res->error)
                row->first_error = tbt_xstrdup(res->error);
        }
        if (res && res->span_extent_ns)
            tbt_hist_record(&row->stats.trace_duration, res->span_extent_ns);
        if (res && (res->trace_ns || res->eval_ns))
            tbt_hist_record(&row->stats.verdict_latency, res->trace_ns + res->eval_ns);
        if (res && st == TBT_TEST_FAILED)
            record_failures(row, res);
    }
    if (res && ch->vars) {
        for (size_t i = 0; i < res->n_outputs; i++)
            if (res->outputs[i].name && res->outputs[i].value)
                tbt_vars_set(ch->vars, res->outputs[i].name, res->outputs[i].value);
    }
    if (st == TBT_TEST_ERROR)
        ch->stopped = true;
    ch->step++;
    if (ch->step < u->n_steps && !ch->stopped) {
        publish(c, (size_t)(ch - c->chains));
        return;
    }
    for (; ch->step < u->n_steps; ch->step++)
        if (ch->out)
            ch->out[ch->step].skipped = true;
    chain_finish(c, ch);
}

static void step_error(coord *c, chain *ch, size_t step, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    if (ch->out)
        ch->out[step].error = msg;
    else {
        if (c->camp) {
            tbt_campaign_row *row = &c->camp->rows[row_of(c, ch)];
            if (!row->first_error && msg)
                row->first_error = tbt_xstrdup(msg);
        }
        free(msg);
    }
    chain_step_done(c, ch, TBT_TEST_ERROR, NULL);
}

static void on_result(coord *c, const rd_kafka_message_t *m)
{
    if (!c->scratch)
        c->scratch = tbt_run_result_new();
    tbt_run_result *rr = c->scratch;
    tbt_run_result_reset(rr);
    tbt_test_result res;
    tbt_result_meta meta = {0};
    tbt_error err = TBT_ERROR_INIT;
    memset(&res, 0, sizeof(res));
    if (tbt_result_decode(m->payload, m->len, rr, &res, &meta, &err) != 0) {
        clog_(c, TBT_LOG_WARN, "%s partition %d offset %lld: not a result (%s): ignored", TBT_TOPIC_RESULTS, (int)m->partition,
              (long long)m->offset, err.msg ? err.msg : "?");
        goto out;
    }
    if (!meta.run_id || strcmp(meta.run_id, c->run_id) != 0)
        goto out; /* another run's */
    char *end = NULL;
    unsigned long long ji = strtoull(meta.job_id ? meta.job_id : "", &end, 10);
    if (!meta.job_id || !*meta.job_id || *end || ji >= c->n_jobs) {
        clog_(c, TBT_LOG_WARN, "a result of this run names an unknown job '%s': ignored", meta.job_id ? meta.job_id : "");
        goto out;
    }
    job *j = &c->jobs[ji];
    chain *ch = &c->chains[j->chain];
    if (j->state != JOB_PUBLISHED || j->step != ch->step) {
        /* a redelivered job ran twice, or the result came after the
         * deadline: the first outcome stands */
        c->duplicates++;
        tbt_counter_add(c->m_duplicates, 1);
        if (c->camp)
            c->camp->rows[row_of(c, ch)].duplicates++;
        goto out;
    }
    j->state = JOB_DONE; /* check_deadlines drops it from the flight list */
    if (c->camp && res.trace_view && res.status != TBT_TEST_PASSED) {
        tbt_campaign_row *row = &c->camp->rows[row_of(c, ch)];
        if (!row->example) {
            row->example = tbt_xstrndup(m->payload, m->len);
            row->example_len = m->len;
        }
    }
    tbt_counter_add(c->envs[ch->env].m_results[res.status <= TBT_TEST_SKIPPED ? res.status : TBT_TEST_ERROR], 1);
    tbt_histogram_observe_ns(c->m_latency, tbt_now_mono_ns() - j->published_ns);
    if (ch->out) {
        ch->out[j->step].json = tbt_xstrndup(m->payload, m->len);
        ch->out[j->step].len = m->len;
    }
    clog_(c, TBT_LOG_DEBUG, "job %llu (%s) on %s by %s: %s", ji, res.name ? res.name : "?", c->envs[ch->env].name,
          meta.agent_id ? meta.agent_id : "?", tbt_test_status_name(res.status));
    chain_step_done(c, ch, res.status, &res);
out:
    tbt_error_clear(&err);
    tbt_result_meta_clear(&meta);
}

/* ---- deadlines and dead environments ------------------------------------------------ */
static void check_deadlines(coord *c)
{
    int64_t now = tbt_now_unix_ms();
    for (size_t ei = 0; ei < c->o->n_envs; ei++)
        if (alive(c, c->envs[ei].name, NULL))
            c->envs[ei].last_alive_ms = now;
    for (size_t ei = 0; c->o->metrics && ei < c->o->n_envs; ei++)
        tbt_gauge_set(c->envs[ei].m_alive, (double)alive(c, c->envs[ei].name, NULL));
    for (size_t i = 0; i < c->n_flight;) {
        size_t ji = c->flight[i];
        job *j = &c->jobs[ji];
        chain *ch = &c->chains[j->chain];
        env_state *e = &c->envs[ch->env];
        if (j->state != JOB_PUBLISHED) {
            c->flight[i] = c->flight[--c->n_flight];
            continue;
        }
        bool late = now > j->deadline_ms;
        /* no live agent for 10 s: the environment's agents are gone */
        bool dead = now - e->last_alive_ms > 10000;
        if (!late && !dead) {
            i++;
            continue;
        }
        j->state = JOB_DONE;
        c->flight[i] = c->flight[--c->n_flight];
        size_t n_alive = alive(c, e->name, NULL);
        if (!dead)
            tbt_counter_add(e->m_timeouts, 1);
        if (dead)
            step_error(c, ch, j->step,
                       "no agent of environment '%s' is alive: none sent a heartbeat on %s for %.1f s (the job "
                       "stays on %s for the next agent)",
                       e->name, TBT_TOPIC_AGENTS, (double)(now - e->last_alive_ms) / 1000.0, e->topic);
        else
            step_error(c, ch, j->step,
                       "no result from environment '%s' before the job's deadline (%.0f s after publishing; %zu "
                       "agent%s alive)",
                       e->name, (double)(tbt_now_mono_ns() - j->published_ns) / 1e9, n_alive,
                       n_alive == 1 ? "" : "s");
    }
}

/* ---- scheduling ------------------------------------------------------------------------- */
static bool unit_wants_more(const coord *c, const env_state *e, size_t unit, uint64_t now)
{
    if (!c->camp)
        return e->unit_runs[unit] < 1;
    if (c->o->duration_ns && now - c->t0_ns >= c->o->duration_ns)
        return false;
    return !c->o->runs || e->unit_runs[unit] < c->o->runs;
}

static void launch(coord *c)
{
    uint64_t now = tbt_now_mono_ns();
    for (size_t ei = 0; ei < c->o->n_envs; ei++) {
        env_state *e = &c->envs[ei];
        while (!e->exhausted && e->in_flight < c->o->concurrency) {
            if (c->o->rate > 0 && now < e->next_start_ns)
                break;
            size_t pick = c->n_units;
            for (size_t k = 0; k < c->n_units; k++) {
                size_t u = (e->next_unit + k) % c->n_units;
                if (unit_wants_more(c, e, u, now)) {
                    pick = u;
                    break;
                }
            }
            if (pick == c->n_units) {
                e->exhausted = true;
                break;
            }
            e->next_unit = (pick + 1) % c->n_units;
            if (c->o->rate > 0)
                e->next_start_ns = (e->next_start_ns ? e->next_start_ns : now) + (uint64_t)(1e9 / c->o->rate);
            start_chain(c, ei, pick);
        }
    }
}

static bool all_done(const coord *c)
{
    for (size_t ei = 0; ei < c->o->n_envs; ei++)
        if (!c->envs[ei].exhausted || c->envs[ei].in_flight)
            return false;
    return true;
}

static void progress(coord *c, bool final)
{
    if (!c->o->progress)
        return;
    uint64_t now = tbt_now_mono_ns();
    if (!final && now - c->last_progress_ns < 250000000ull)
        return;
    c->last_progress_ns = now;
    FILE *f = c->o->log ? c->o->log : stderr;
    double secs = (double)(now - c->t0_ns) / 1e9;
    double rate = secs > 0 ? (double)c->chains_done / secs : 0;
    fprintf(f, "\r\033[Kruns %zu", c->chains_done);
    if (c->chains_total)
        fprintf(f, "/%zu", c->chains_total);
    fprintf(f, " done · %" PRIu64 " failed · %" PRIu64 " errors · %.1f runs/s", c->failed, c->errors, rate);
    if (c->chains_total && rate > 0 && c->chains_done < c->chains_total)
        fprintf(f, " · ETA %.0fs", (double)(c->chains_total - c->chains_done) / rate);
    else if (c->o->duration_ns && !c->chains_total) {
        double left = (double)c->o->duration_ns / 1e9 - secs;
        fprintf(f, " · %.0fs left", left > 0 ? left : 0);
    }
    if (final)
        fputc('\n', f);
    fflush(f);
    c->progress_shown = !final;
}

/* ---- results, in order ------------------------------------------------------------------- */
static void synth(tbt_run_result *rr, const tbt_unit *u, size_t step, const char *env, tbt_test_status st,
                  const char *why)
{
    const tbt_test_def *def = u->steps[step];
    tbt_test_result *res = tbt_run_result_add(rr);
    res->suite = u->suite ? tbt_arena_strdup(rr->arena, u->suite) : NULL;
    res->id = def->id.s ? tbt_arena_strdup(rr->arena, def->id.s) : NULL;
    res->name = tbt_arena_strdup(rr->arena, def->name.s ? def->name.s : def->id.s ? def->id.s : "(unnamed test)");
    res->file = def->file ? tbt_arena_strdup(rr->arena, def->file) : NULL;
    res->environment = tbt_arena_strdup(rr->arena, env);
    res->status = st;
    res->error = tbt_arena_strdup(rr->arena, why);
}

static void collect(coord *c, tbt_run_result *rr)
{
    for (size_t u = 0; u < c->n_units; u++)
        for (size_t ei = 0; ei < c->o->n_envs; ei++)
            for (size_t ci = 0; ci < c->n_chains; ci++) {
                chain *ch = &c->chains[ci];
                if (ch->unit != u || ch->env != ei)
                    continue;
                const tbt_unit *un = &c->units[u];
                for (size_t s = 0; s < un->n_steps; s++) {
                    step_out *so = &ch->out[s];
                    if (so->json) {
                        tbt_test_result *res = tbt_run_result_add(rr);
                        tbt_result_meta meta = {0};
                        tbt_error err = TBT_ERROR_INIT;
                        if (tbt_result_decode(so->json, so->len, rr, res, &meta, &err) != 0) {
                            rr->n_tests--;
                            synth(rr, un, s, c->envs[ei].name, TBT_TEST_ERROR, "unreadable result");
                        } else if (!res->environment) {
                            res->environment = tbt_arena_strdup(rr->arena, c->envs[ei].name);
                        }
                        if (un->suite && !res->suite)
                            res->suite = tbt_arena_strdup(rr->arena, un->suite);
                        tbt_result_meta_clear(&meta);
                        tbt_error_clear(&err);
                    } else if (so->error) {
                        synth(rr, un, s, c->envs[ei].name, TBT_TEST_ERROR, so->error);
                    } else {
                        synth(rr, un, s, c->envs[ei].name, TBT_TEST_SKIPPED,
                              "an earlier step of the suite could not run");
                    }
                }
            }
}

/* Campaigns with --report: each row's example failing run, as a test of
 * rr (the HTML report draws its trace under the campaign). */
static void collect_examples(coord *c, tbt_run_result *rr)
{
    for (size_t i = 0; i < c->camp->n_rows; i++) {
        const tbt_campaign_row *row = &c->camp->rows[i];
        if (!row->example)
            continue;
        tbt_test_result *res = tbt_run_result_add(rr);
        tbt_result_meta meta = {0};
        tbt_error err = TBT_ERROR_INIT;
        if (tbt_result_decode(row->example, row->example_len, rr, res, &meta, &err) != 0)
            rr->n_tests--;
        else if (!res->environment && row->environment)
            res->environment = tbt_arena_strdup(rr->arena, row->environment);
        tbt_result_meta_clear(&meta);
        tbt_error_clear(&err);
    }
}

static int cmp_fail(const void *a, const void *b)
{
    const tbt_spec_failure *x = a, *y = b;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : strcmp(x->spec, y->spec);
}

/* ---- metrics (docs/metrics.md) ----------------------------------------------------------- */
static void metrics_init(coord *c)
{
    tbt_metrics *m = c->o->metrics;
    if (!m)
        return;
    static const char *const l_env[] = {"environment", NULL};
    static const char *const l_env_status[] = {"environment", "status", NULL};
    static const char *const statuses[] = {"passed", "failed", "error", "skipped"};
    tbt_metric_family *published = tbt_metrics_family(m, TBT_METRIC_COUNTER, "tbt_coordinator_jobs_published_total",
                                                      "Jobs handed to Kafka, per environment.", l_env, NULL, 0);
    tbt_metric_family *results = tbt_metrics_family(
        m, TBT_METRIC_COUNTER, "tbt_coordinator_results_total",
        "Results received from agents and counted (the first per job), by the test's status.", l_env_status, NULL, 0);
    tbt_metric_family *in_flight = tbt_metrics_family(
        m, TBT_METRIC_GAUGE, "tbt_coordinator_jobs_in_flight",
        "Runs in flight per environment: a job published and its result not yet back.", l_env, NULL, 0);
    tbt_metric_family *timeouts = tbt_metrics_family(
        m, TBT_METRIC_COUNTER, "tbt_coordinator_job_timeouts_total",
        "Jobs without a result by their deadline (an error result); jobs of an environment whose agents all "
        "stopped are not counted here.", l_env, NULL, 0);
    tbt_metric_family *agents = tbt_metrics_family(
        m, TBT_METRIC_GAUGE, "tbt_coordinator_agents_alive",
        "Agents of the environment whose last heartbeat is younger than 3 of their intervals.", l_env, NULL, 0);
    for (size_t i = 0; i < c->o->n_envs; i++) {
        env_state *e = &c->envs[i];
        const char *v[] = {e->name, NULL};
        e->m_published = tbt_metrics_counter(published, v);
        e->m_in_flight = tbt_metrics_gauge(in_flight, v);
        e->m_timeouts = tbt_metrics_counter(timeouts, v);
        e->m_alive = tbt_metrics_gauge(agents, v);
        for (int s = 0; s < 4; s++) {
            v[1] = statuses[s];
            e->m_results[s] = tbt_metrics_counter(results, v);
        }
    }
    c->m_duplicates = tbt_metrics_counter(
        tbt_metrics_family(m, TBT_METRIC_COUNTER, "tbt_coordinator_duplicate_results_total",
                           "Results of jobs already counted (redelivered jobs, results after the deadline): dropped.",
                           NULL, NULL, 0),
        NULL);
    c->m_latency = tbt_metrics_histogram(
        tbt_metrics_family(m, TBT_METRIC_HISTOGRAM, "tbt_coordinator_result_latency_seconds",
                           "From publishing a job to receiving its (first) result.", NULL, NULL, 0),
        NULL);
}

/* ---- the run ------------------------------------------------------------------------------- */
static int wait_for_agents(coord *c)
{
    uint64_t until = tbt_now_mono_ns() + c->o->agent_wait_ns;
    bool waited = false;
    for (;;) {
        poll_agents(c, 50);
        tbt_buf missing = TBT_BUF_INIT;
        size_t n_missing = 0;
        for (size_t ei = 0; ei < c->o->n_envs; ei++)
            if (!alive(c, c->envs[ei].name, NULL)) {
                tbt_buf_printf(&missing, "%s'%s'", n_missing ? ", " : "", c->envs[ei].name);
                n_missing++;
            }
        if (!n_missing) {
            tbt_buf_free(&missing);
            return 0;
        }
        if (tbt_now_mono_ns() >= until) {
            int rc = tbt_error_set(
                c->err, -EHOSTDOWN,
                "no agent alive in environment%s %s: no heartbeat on %s at %s within %.0f s. Start one with: tbt "
                "agent --brokers %s --environment NAME",
                n_missing == 1 ? "" : "s", tbt_buf_cstr(&missing), TBT_TOPIC_AGENTS, c->o->brokers,
                (double)c->o->agent_wait_ns / 1e9, c->o->brokers);
            tbt_buf_free(&missing);
            return rc;
        }
        if (!waited)
            clog_(c, TBT_LOG_INFO, "waiting for an agent in environment%s %s", n_missing == 1 ? "" : "s",
                  tbt_buf_cstr(&missing));
        waited = true;
        tbt_buf_free(&missing);
    }
}

int tbt_coord_run(const tbt_coord_opts *o, const tbt_unit *units, size_t n_units, const tbt_vars *base,
                  tbt_run_result *rr, tbt_campaign_result *camp, tbt_error *err)
{
    coord cs = {.o = o, .units = units, .n_units = n_units, .base = base, .err = err,
                .camp = o->campaign ? camp : NULL};
    coord *c = &cs;
    uint8_t rnd[16];
    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
        for (size_t i = 0; i < sizeof(rnd); i++)
            rnd[i] = (uint8_t)(tbt_now_mono_ns() >> (i % 8));
    for (int i = 0; i < 16; i++)
        snprintf(c->run_id + 2 * i, 3, "%02x", rnd[i]);
    int rc = 0;
    c->def_json = tbt_xcalloc(n_units ? n_units : 1, sizeof(char **));
    for (size_t u = 0; u < n_units; u++)
        c->def_json[u] = tbt_xcalloc(units[u].n_steps ? units[u].n_steps : 1, sizeof(char *));
    c->envs = tbt_xcalloc(o->n_envs ? o->n_envs : 1, sizeof(env_state));
    for (size_t i = 0; i < o->n_envs; i++) {
        if ((rc = tbt_kafka_check_env(o->envs[i], err)) != 0)
            goto out;
        c->envs[i].name = o->envs[i];
        c->envs[i].topic = tbt_topic_jobs(o->envs[i]);
        c->envs[i].unit_runs = tbt_xcalloc(n_units ? n_units : 1, sizeof(uint64_t));
    }
    metrics_init(c);
    if (c->camp) {
        memset(camp, 0, sizeof(*camp));
        camp->n_rows = n_units * o->n_envs;
        camp->rows = tbt_xcalloc(camp->n_rows ? camp->n_rows : 1, sizeof(*camp->rows));
        c->row_first_ns = tbt_xcalloc(camp->n_rows ? camp->n_rows : 1, sizeof(uint64_t));
        c->row_last_ns = tbt_xcalloc(camp->n_rows ? camp->n_rows : 1, sizeof(uint64_t));
        for (size_t u = 0; u < n_units; u++)
            for (size_t ei = 0; ei < o->n_envs; ei++) {
                tbt_campaign_row *row = &camp->rows[u * o->n_envs + ei];
                const tbt_test_def *d0 = units[u].n_steps ? units[u].steps[0] : NULL;
                row->test = units[u].suite                  ? units[u].suite
                            : d0 && d0->name.s              ? d0->name.s
                            : d0 && d0->id.s                ? d0->id.s
                                                            : "(unnamed test)";
                row->file = units[u].file;
                row->environment = o->envs[ei];
                tbt_hist_init(&row->stats.trace_duration);
                tbt_hist_init(&row->stats.verdict_latency);
            }
        c->chains_total = o->runs ? (size_t)(o->runs * n_units * o->n_envs) : 0;
    } else {
        c->chains_total = n_units * o->n_envs;
    }
    if ((rc = connect_kafka(c)) != 0 || (rc = wait_for_agents(c)) != 0)
        goto out;
    clog_(c, TBT_LOG_DEBUG, "run %s: %zu test%s × %zu environment%s", c->run_id, n_units, n_units == 1 ? "" : "s", o->n_envs,
          o->n_envs == 1 ? "" : "s");
    c->t0_ns = tbt_now_mono_ns();
    for (size_t ei = 0; ei < o->n_envs; ei++)
        c->envs[ei].last_alive_ms = tbt_now_unix_ms();
    for (;;) {
        launch(c);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->results, 5);
        while (m) {
            if (!m->err)
                on_result(c, m);
            rd_kafka_message_destroy(m);
            m = rd_kafka_consumer_poll(c->results, 0);
        }
        rd_kafka_poll(c->producer, 0);
        poll_agents(c, 0);
        check_deadlines(c);
        progress(c, false);
        if (all_done(c))
            break;
    }
    progress(c, true);
    if (c->camp) {
        for (size_t i = 0; i < camp->n_rows; i++) {
            tbt_campaign_row *row = &camp->rows[i];
            if (row->n_failures > 1)
                qsort(row->failures, row->n_failures, sizeof(*row->failures), cmp_fail);
            row->elapsed_ns = c->row_last_ns[i] > c->row_first_ns[i] ? c->row_last_ns[i] - c->row_first_ns[i] : 0;
        }
        camp->duplicates = c->duplicates;
        collect_examples(c, rr);
    } else {
        collect(c, rr);
    }
    if (c->duplicates)
        clog_(c, TBT_LOG_INFO, "%" PRIu64 " duplicate result%s (redelivered jobs) ignored", c->duplicates,
              c->duplicates == 1 ? "" : "s");
out:
    if (c->producer) {
        rd_kafka_flush(c->producer, 5000);
        rd_kafka_destroy(c->producer);
    }
    tbt_kafka_consumer_destroy(c->results, 2000);
    tbt_kafka_consumer_destroy(c->agents, 2000);
    for (size_t i = 0; i < c->n_chains; i++) {
        chain *ch = &c->chains[i];
        tbt_vars_free(ch->vars);
        if (ch->out) {
            for (size_t s = 0; s < c->units[ch->unit].n_steps; s++) {
                free(ch->out[s].json);
                free(ch->out[s].error);
            }
            free(ch->out);
        }
    }
    for (size_t u = 0; u < n_units; u++) {
        for (size_t k = 0; k < units[u].n_steps; k++)
            free(c->def_json[u][k]);
        free(c->def_json[u]);
    }
    free(c->def_json);
    tbt_run_result_free(c->scratch);
    free(c->chains);
    free(c->jobs);
    free(c->flight);
    for (size_t i = 0; i < c->n_seen; i++) {
        free(c->seen[i].id);
        free(c->seen[i].env);
    }
    free(c->seen);
    for (size_t i = 0; i < o->n_envs; i++) {
        free(c->envs[i].topic);
        free(c->envs[i].unit_runs);
    }
    free(c->envs);
    free(c->row_first_ns);
    free(c->row_last_ns);
    return rc;
}

void tbt_campaign_result_clear(tbt_campaign_result *cr)
{
    for (size_t i = 0; i < cr->n_rows; i++) {
        for (size_t k = 0; k < cr->rows[i].n_failures; k++) {
            free(cr->rows[i].failures[k].spec);
            free(cr->rows[i].failures[k].example);
        }
        free(cr->rows[i].failures);
        free(cr->rows[i].first_error);
        free(cr->rows[i].example);
    }
    free(cr->rows);
    memset(cr, 0, sizeof(*cr));
}
