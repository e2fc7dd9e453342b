/* tbt_trigger_kafka.c - the kafka trigger (Tracetest's `kafka` block) on
 * librdkafka: one message (key, value, record headers, optionally a fixed
 * partition) to one topic, with the run's traceparent and tracestate as
 * record headers. It waits for the broker's acknowledgement and records
 * where the message landed (tracetest.response.kafka.partition, .offset,
 * .topic, .timestamp). SASL/PLAIN and TLS map to librdkafka properties; the
 * tbt extension `config` passes any other property through.
 *
 * Every fire builds its own producer and destroys it before returning, so
 * fires on different threads share nothing; librdkafka's callbacks
 * (delivery report, error) run on the firing thread, from rd_kafka_poll. */
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_trigger.h"

#define KAFKA_DEFAULT_TIMEOUT_NS (30ull * 1000000000ull)
#define KAFKA_MAX_TIMEOUT_NS (24ull * 3600ull * 1000000000ull)
#define NS_PER_MS 1000000ull

typedef struct kafka_cfg {
    tbt_field *brokers; /* each may hold several, comma-separated */
    size_t n_brokers;
    tbt_field topic, key, value, partition, timeout;
    tbt_field_kv *headers, *config;
    size_t n_headers, n_config;
    bool tls;
    tbt_field auth_type, user, pass;
} kafka_cfg;

static void kafka_destroy(void *p)
{
    kafka_cfg *c = p;
    if (!c)
        return;
    free(c->brokers);
    free(c->headers);
    free(c->config);
    free(c);
}

/* An error at a node's position (maps and lists too, which tbt_error_at
 * cannot place). */
static int fail_node(tbt_error *err, const tbt_ynode *n, int code)
{
    if (err && n) {
        free(err->file);
        err->file = n->loc.file ? tbt_xstrdup(n->loc.file) : NULL;
        err->line = n->loc.line;
        err->col = n->loc.col;
    }
    return code;
}

static int fail_field(tbt_error *err, const tbt_field *f, int code)
{
    tbt_error_at(err, &f->loc, f->s, 0);
    return code;
}

static bool has_expr(const char *s)
{
    return s && strstr(s, "${") != NULL;
}

/* Properties that load code from disk: not something a test definition
 * (possibly from a remote peer) may ask for. */
static bool config_forbidden(const char *key)
{
    return strcmp(key, "plugin.library.paths") == 0 || strcmp(key, "ssl.engine.location") == 0;
}

static int parse_brokers(const tbt_ynode *block, kafka_cfg *c, tbt_error *err)
{
    const tbt_ynode *n = tbt_ymap_get(block, "brokerUrls");
    if (!n || tbt_ynode_is_null(n) || n->type == TBT_Y_SCALAR) {
        c->brokers = tbt_xcalloc(1, sizeof(tbt_field));
        c->n_brokers = 1;
        return tbt_trigger_field(block, "brokerUrls", true, "kafka", &c->brokers[0], err);
    }
    if (n->type != TBT_Y_SEQ) {
        tbt_error_set(err, -EINVAL, "kafka.brokerUrls must be a list of \"host:port\" strings, found a %s",
                      tbt_ytype_name(n->type));
        return fail_node(err, n, -EINVAL);
    }
    if (n->n == 0) {
        tbt_error_set(err, -EINVAL, "kafka.brokerUrls is empty: list at least one broker as \"host:port\"");
        return fail_node(err, n, -EINVAL);
    }
    c->brokers = tbt_xcalloc(n->n, sizeof(tbt_field));
    for (size_t i = 0; i < n->n; i++) {
        const tbt_ynode *it = n->items[i];
        if (it->type != TBT_Y_SCALAR || tbt_ynode_is_null(it)) {
            tbt_error_set(err, -EINVAL, "kafka.brokerUrls[%zu] must be a \"host:port\" string, found a %s", i,
                          tbt_ynode_kind_name(it));
            return fail_node(err, it, -EINVAL);
        }
        c->brokers[i].s = it->str;
        c->brokers[i].loc = it->loc;
        c->n_brokers++;
    }
    return 0;
}

static int parse_auth(const tbt_ynode *auth, kafka_cfg *c, tbt_error *err)
{
    static const char *const keys[] = {"type", "plain", NULL};
    static const char *const pk[] = {"username", "password", NULL};
    int rc;
    if ((rc = tbt_trigger_check_keys(auth, keys, "kafka.authentication", err)) ||
        (rc = tbt_trigger_field(auth, "type", true, "kafka.authentication", &c->auth_type, err)))
        return rc;
    if (strcmp(c->auth_type.s, "plain") != 0) {
        tbt_error_set(err, -EINVAL,
                      "kafka.authentication.type must be plain (SASL/PLAIN), found \"%s\"; for other SASL mechanisms "
                      "set sasl.mechanism and its properties in kafka.config",
                      c->auth_type.s);
        return fail_field(err, &c->auth_type, -EINVAL);
    }
    const tbt_ynode *p = tbt_ymap_get(auth, "plain");
    if (!p || tbt_ynode_is_null(p)) {
        tbt_error_set(err, -EINVAL,
                      "kafka.authentication of type plain needs a \"plain\" block with username and "
                      "password");
        return fail_field(err, &c->auth_type, -EINVAL);
    }
    if ((rc = tbt_trigger_check_keys(p, pk, "kafka.authentication.plain", err)) ||
        (rc = tbt_trigger_field(p, "username", true, "kafka.authentication.plain", &c->user, err)) ||
        (rc = tbt_trigger_field(p, "password", false, "kafka.authentication.plain", &c->pass, err)))
        return rc;
    return 0;
}

/* partition: empty or -1 = librdkafka's partitioner; else 0..INT32_MAX. */
static int partition_value(const char *s, int32_t *out)
{
    while (*s == ' ')
        s++;
    if (!*s) {
        *out = RD_KAFKA_PARTITION_UA;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    while (*end == ' ')
        end++;
    if (errno || *end || v < -1 || v > INT32_MAX)
        return -EINVAL;
    *out = (int32_t)v;
    return 0;
}

static int timeout_value(const char *s, uint64_t *out)
{
    int64_t ns;
    if (tbt_parse_duration(s, strlen(s), &ns) != 0 || ns <= 0 || (uint64_t)ns > KAFKA_MAX_TIMEOUT_NS)
        return -EINVAL;
    *out = (uint64_t)ns;
    return 0;
}

static int bad_partition(tbt_error *err, const tbt_field *f, const char *value)
{
    tbt_error_set(err, -EINVAL,
                  "kafka.partition must be a partition number (0, 1, ...) or -1 for the default partitioner, "
                  "found \"%s\"",
                  value);
    return fail_field(err, f, -EINVAL);
}

static int bad_timeout(tbt_error *err, const tbt_field *f, const char *value)
{
    tbt_error_set(err, -EINVAL,
                  "kafka.timeout must be a positive duration of at most 24h (\"10s\", \"500ms\"), "
                  "found \"%s\"",
                  value);
    return fail_field(err, f, -EINVAL);
}

/* Literal config entries are checked now, so a typo in a property name is
 * reported with its position before anything runs. */
static int check_config(const kafka_cfg *c, tbt_error *err)
{
    rd_kafka_conf_t *conf = NULL;
    int rc = 0;
    for (size_t i = 0; i < c->n_config && rc == 0; i++) {
        const tbt_field_kv *kv = &c->config[i];
        if (has_expr(kv->key.s))
            continue;
        if (config_forbidden(kv->key.s)) {
            tbt_error_set(err, -EPERM, "kafka.config: \"%s\" loads code from disk and is not allowed in a test",
                          kv->key.s);
            rc = fail_field(err, &kv->key, -EPERM);
            break;
        }
        if (has_expr(kv->value.s))
            continue;
        if (!conf)
            conf = rd_kafka_conf_new();
        char errstr[512];
        if (rd_kafka_conf_set(conf, kv->key.s, kv->value.s ? kv->value.s : "", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            tbt_error_set(err, -EINVAL, "kafka.config: librdkafka rejects %s=%s: %s", kv->key.s,
                          kv->value.s ? kv->value.s : "", errstr);
            rc = fail_field(err, &kv->key, -EINVAL);
        }
    }
    if (conf)
        rd_kafka_conf_destroy(conf);
    return rc;
}

static int kafka_parse(const tbt_ynode *block, void **out, tbt_error *err)
{
    static const char *const keys[] = {"brokerUrls", "topic",           "headers",        "messageKey", "messageValue",
                                       "partition",  "sslVerification", "authentication", "config",     "timeout",
                                       NULL};
    kafka_cfg *c = tbt_xcalloc(1, sizeof(*c));
    int rc;
    if ((rc = tbt_trigger_check_keys(block, keys, "kafka", err)) || (rc = parse_brokers(block, c, err)) ||
        (rc = tbt_trigger_field(block, "topic", true, "kafka", &c->topic, err)) ||
        (rc = tbt_trigger_field(block, "messageKey", false, "kafka", &c->key, err)) ||
        (rc = tbt_trigger_field(block, "messageValue", false, "kafka", &c->value, err)) ||
        (rc = tbt_trigger_field(block, "partition", false, "kafka", &c->partition, err)) ||
        (rc = tbt_trigger_field(block, "timeout", false, "kafka", &c->timeout, err)) ||
        (rc = tbt_trigger_kv_list(block, "headers", "kafka", &c->headers, &c->n_headers, err)) ||
        (rc = tbt_trigger_kv_list(block, "config", "kafka", &c->config, &c->n_config, err)) ||
        (rc = tbt_trigger_bool(block, "sslVerification", "kafka", &c->tls, err)))
        goto fail;
    const tbt_ynode *auth = tbt_ymap_get(block, "authentication");
    if (auth && !tbt_ynode_is_null(auth) && (rc = parse_auth(auth, c, err)))
        goto fail;
    int32_t part;
    uint64_t tmo;
    if (c->partition.s && !has_expr(c->partition.s) && partition_value(c->partition.s, &part) != 0) {
        rc = bad_partition(err, &c->partition, c->partition.s);
        goto fail;
    }
    if (c->timeout.s && !has_expr(c->timeout.s) && timeout_value(c->timeout.s, &tmo) != 0) {
        rc = bad_timeout(err, &c->timeout, c->timeout.s);
        goto fail;
    }
    if ((rc = check_config(c, err)))
        goto fail;
    *out = c;
    return 0;
fail:
    kafka_destroy(c);
    *out = NULL;
    return rc;
}

/* ---- fire -------------------------------------------------------------------*/

/* Written by the callbacks, which librdkafka runs from rd_kafka_poll on the
 * firing thread. */
typedef struct kafka_state {
    bool delivered;
    rd_kafka_resp_err_t dr_err;
    int32_t partition;
    int64_t offset, timestamp_ms;
    /* the latest transport-level reasons (not the "N/N brokers are down"
     * summary): about a bootstrap broker, and about a broker the cluster's
     * metadata named */
    char *bootstrap_reason, *broker_reason;
    bool all_down;
    char *auth_reason, *tls_reason, *fatal_reason;
} kafka_state;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    kafka_state *st = opaque;
    TBT_UNUSED(rk);
    if (st->delivered)
        return;
    st->delivered = true;
    st->dr_err = m->err;
    st->partition = m->partition;
    st->offset = m->offset;
    st->timestamp_ms = rd_kafka_message_timestamp(m, NULL);
}

static void keep(char **slot, const char *reason)
{
    free(*slot);
    *slot = tbt_xstrdup(reason ? reason : "");
}

/* The broker a librdkafka reason is about: "host:port/bootstrap: ..." or
 * "sasl_ssl://host:port/3: ...". */
static bool reason_is_bootstrap(const char *reason)
{
    const char *colon = strstr(reason, ": ");
    const char *b = strstr(reason, "/bootstrap");
    return b && (!colon || b < colon);
}

static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    kafka_state *st = opaque;
    rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)code;
    switch (e) {
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN: st->all_down = true; break;
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
    case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE: keep(&st->auth_reason, reason); break;
    case RD_KAFKA_RESP_ERR__SSL: keep(&st->tls_reason, reason); break;
    case RD_KAFKA_RESP_ERR__FATAL: {
        char buf[512];
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        keep(&st->fatal_reason, buf[0] ? buf : reason);
        break;
    }
    default: keep(reason && reason_is_bootstrap(reason) ? &st->bootstrap_reason : &st->broker_reason, reason);
    }
}

/* librdkafka logs to stderr by default; library code does not print. With
 * the user's own `debug` property, its output is what they asked for. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    TBT_UNUSED(rk);
    TBT_UNUSED(level);
    TBT_UNUSED(fac);
    TBT_UNUSED(buf);
}

static void state_free(kafka_state *st)
{
    free(st->bootstrap_reason);
    free(st->broker_reason);
    free(st->auth_reason);
    free(st->tls_reason);
    free(st->fatal_reason);
}

/* The bootstrap list: each entry may hold several brokers, comma-separated;
 * blanks around them are dropped. */
static int resolve_brokers(const kafka_cfg *c, const tbt_trigger_ctx *ctx, char **out, tbt_error *err)
{
    tbt_buf b = TBT_BUF_INIT;
    for (size_t i = 0; i < c->n_brokers; i++) {
        char *s = NULL;
        int rc = tbt_trigger_resolve(&c->brokers[i], ctx, &s, err);
        if (rc) {
            tbt_buf_free(&b);
            return rc;
        }
        for (char *save = NULL, *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ' || *tok == '\t')
                tok++;
            size_t n = strlen(tok);
            while (n && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
                n--;
            if (!n)
                continue;
            if (b.len)
                tbt_buf_putc(&b, ',');
            tbt_buf_append(&b, tok, n);
        }
        free(s);
    }
    if (!b.len) {
        tbt_buf_free(&b);
        tbt_error_set(err, -EINVAL, "kafka trigger: brokerUrls resolved to no broker (expected \"host:port\")");
        return fail_field(err, &c->brokers[0], -EINVAL);
    }
    *out = tbt_buf_steal(&b);
    return 0;
}

static int set_prop(rd_kafka_conf_t *conf, const char *key, const char *value, const tbt_field *where, tbt_error *err)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
        return 0;
    tbt_error_set(err, -EINVAL, "kafka trigger: invalid configuration %s=%s: %s", key, value, errstr);
    if (where)
        fail_field(err, where, -EINVAL);
    return -EINVAL;
}

static int set_prop_ms(rd_kafka_conf_t *conf, const char *key, uint64_t ms, tbt_error *err)
{
    char v[32];
    snprintf(v, sizeof(v), "%" PRIu64, ms);
    return set_prop(conf, key, v, NULL, err);
}

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* The producer's configuration: our defaults first, then the user's
 * `config` entries, which win. */
static int build_conf(const kafka_cfg *c, const tbt_trigger_ctx *ctx, const char *brokers, const char *user,
                      const char *pass, uint64_t timeout_ms, rd_kafka_conf_t *conf, bool *user_debug, tbt_error *err)
{
    int rc;
    const char *proto = c->auth_type.s ? (c->tls ? "sasl_ssl" : "sasl_plaintext") : (c->tls ? "ssl" : "plaintext");
    if ((rc = set_prop(conf, "client.id", "tbt", NULL, err)) ||
        (rc = set_prop(conf, "bootstrap.servers", brokers, &c->brokers[0], err)) ||
        (rc = set_prop(conf, "acks", "all", NULL, err)) ||
        (rc = set_prop(conf, "enable.idempotence", "false", NULL, err)) ||
        (rc = set_prop(conf, "linger.ms", "0", NULL, err)) ||
        (rc = set_prop(conf, "security.protocol", proto, NULL, err)) ||
        (rc = set_prop_ms(conf, "message.timeout.ms", timeout_ms, err)) ||
        (rc = set_prop_ms(conf, "socket.timeout.ms", clamp_u64(timeout_ms, 10, 300000), err)) ||
        (rc = set_prop_ms(conf, "socket.connection.setup.timeout.ms", clamp_u64(timeout_ms, 1000, INT32_MAX), err)) ||
        /* a broker that is restarting gets retried more than once in a short timeout */
        (rc = set_prop_ms(conf, "reconnect.backoff.max.ms", 1000, err)) ||
        /* librdkafka waits this long before it believes a topic does not
         * exist (30 s by default, longer than the whole timeout) */
        (rc = set_prop_ms(conf, "topic.metadata.propagation.max.ms", clamp_u64(timeout_ms / 3, 1000, 10000), err)))
        return rc;
    if (c->tls && ((rc = set_prop(conf, "enable.ssl.certificate.verification", "true", NULL, err)) ||
                   (rc = set_prop(conf, "ssl.endpoint.identification.algorithm", "https", NULL, err))))
        return rc;
    if (c->auth_type.s && ((rc = set_prop(conf, "sasl.mechanism", "PLAIN", NULL, err)) ||
                           (rc = set_prop(conf, "sasl.username", user, &c->user, err)) ||
                           (rc = set_prop(conf, "sasl.password", pass ? pass : "", NULL, err))))
        return rc;
    for (size_t i = 0; i < c->n_config; i++) {
        char *k = NULL, *v = NULL;
        if ((rc = tbt_trigger_resolve(&c->config[i].key, ctx, &k, err)) ||
            (rc = tbt_trigger_resolve(&c->config[i].value, ctx, &v, err))) {
            free(k);
            free(v);
            return rc;
        }
        if (config_forbidden(k)) {
            tbt_error_set(err, -EPERM, "kafka.config: \"%s\" loads code from disk and is not allowed in a test", k);
            rc = fail_field(err, &c->config[i].key, -EPERM);
        } else {
            rc = set_prop(conf, k, v ? v : "", &c->config[i].key, err);
            if (strcmp(k, "debug") == 0)
                *user_debug = true;
        }
        free(k);
        free(v);
        if (rc)
            return rc;
    }
    return 0;
}

/* Record headers: the run's trace context first, then the user's (a user
 * traceparent/tracestate is replaced by the run's, as in Tracetest). */
static int build_headers(const kafka_cfg *c, const tbt_trigger_ctx *ctx, rd_kafka_headers_t *h, tbt_buf *json,
                         tbt_error *err)
{
    const char *tp = ctx->traceparent, *ts = ctx->tracestate ? ctx->tracestate : "tracetest=true";
    const char *names[2] = {"traceparent", "tracestate"}, *values[2] = {tp, ts};
    tbt_buf_putc(json, '[');
    bool first = true;
    for (size_t i = 0; i < 2; i++) {
        if (!values[i])
            continue;
        rd_kafka_header_add(h, names[i], -1, values[i], -1);
        tbt_buf_puts(json, first ? "{\"Key\":" : ",{\"Key\":");
        tbt_buf_json_str(json, names[i], strlen(names[i]));
        tbt_buf_puts(json, ",\"Value\":");
        tbt_buf_json_str(json, values[i], strlen(values[i]));
        tbt_buf_putc(json, '}');
        first = false;
    }
    for (size_t i = 0; i < c->n_headers; i++) {
        char *k = NULL, *v = NULL;
        int rc;
        if ((rc = tbt_trigger_resolve(&c->headers[i].key, ctx, &k, err)) ||
            (rc = tbt_trigger_resolve(&c->headers[i].value, ctx, &v, err))) {
            free(k);
            free(v);
            return rc;
        }
        if ((strcmp(k, "traceparent") != 0 || !tp) && strcmp(k, "tracestate") != 0) {
            rd_kafka_header_add(h, k, -1, v, v ? -1 : 0);
            tbt_buf_puts(json, first ? "{\"Key\":" : ",{\"Key\":");
            tbt_buf_json_str(json, k, strlen(k));
            tbt_buf_puts(json, ",\"Value\":");
            tbt_buf_json_str(json, v ? v : "", v ? strlen(v) : 0);
            tbt_buf_putc(json, '}');
            first = false;
        }
        free(k);
        free(v);
    }
    tbt_buf_putc(json, ']');
    return 0;
}

/* No broker ever returned metadata: nothing usable answered at the
 * bootstrap addresses. */
static int explain_unreachable(const kafka_state *st, const char *brokers, const char *tmo, bool timed_out,
                               tbt_error *err)
{
    const char *r = st->bootstrap_reason ? st->bootstrap_reason : st->broker_reason ? st->broker_reason : "";
    /* librdkafka reports a TLS handshake the peer hangs up on as a
     * disconnect "in state SSL_HANDSHAKE" */
    if (strstr(r, "SSL"))
        return tbt_error_set(err, -EPROTO,
                             "kafka trigger: TLS with %s failed: %s (sslVerification: true turns TLS on: is this a "
                             "TLS listener?)",
                             brokers, r);
    int code = strstr(r, "Connection refused")  ? -ECONNREFUSED
               : strstr(r, "Failed to resolve") ? -EHOSTUNREACH
                                                : -ETIMEDOUT;
    if (timed_out)
        return tbt_error_set(err, code, "kafka trigger: no broker answered at %s within %s (%s)", brokers, tmo,
                             *r ? r : "nothing answered in the Kafka protocol");
    return tbt_error_set(err, code, "kafka trigger: no broker answered at %s: all of them are down (%s)", brokers,
                         *r ? r : "nothing answered in the Kafka protocol");
}

/* Why the message was not delivered: err is the delivery report's error, or
 * RD_KAFKA_RESP_ERR__TIMED_OUT when none came within the timeout. */
static int explain(rd_kafka_t *rk, rd_kafka_resp_err_t e, const kafka_state *st, const char *brokers, const char *topic,
                   int32_t partition, const char *user, uint64_t timeout_ns, tbt_error *err)
{
    char tmo[48];
    tbt_format_duration((int64_t)timeout_ns, tmo, sizeof(tmo));
    if (st->fatal_reason)
        return tbt_error_set(err, -EIO, "kafka trigger: the producer failed: %s", st->fatal_reason);
    if (st->auth_reason || e == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED)
        return tbt_error_set(err, -EACCES, "kafka trigger: authentication failed for user '%s': %s",
                             user ? user : "(none)", st->auth_reason ? st->auth_reason : rd_kafka_err2str(e));
    if (st->tls_reason)
        return tbt_error_set(err, -EPROTO,
                             "kafka trigger: TLS with %s failed: %s (sslVerification: true turns TLS on and "
                             "verifies the broker's certificate; name a CA with ssl.ca.location in kafka.config)",
                             brokers, st->tls_reason);
    switch (e) {
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return tbt_error_set(
            err, -ENOENT, "kafka trigger: topic '%s' does not exist on the cluster (and auto-creation is off)", topic);
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        return tbt_error_set(err, -ENOENT, "kafka trigger: topic '%s' has no partition %" PRId32, topic, partition);
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        return tbt_error_set(err, -EACCES, "kafka trigger: user '%s' may not write to topic '%s' (%s)",
                             user ? user : "(none)", topic, rd_kafka_err2str(e));
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return tbt_error_set(err, -E2BIG, "kafka trigger: the message is too large for topic '%s' (%s)", topic,
                             rd_kafka_err2str(e));
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        /* no metadata ever arrived: no broker answered */
        if (rd_kafka_controllerid(rk, 0) < 0)
            return explain_unreachable(st, brokers, tmo, true, err);
        if (st->broker_reason)
            return tbt_error_set(err, -EHOSTUNREACH,
                                 "kafka trigger: the cluster at %s answered, but the message to topic '%s' was not "
                                 "acknowledged within %s: a broker it named cannot be reached from here (%s); if the "
                                 "cluster runs in containers, check the brokers' advertised.listeners",
                                 brokers, topic, tmo, st->broker_reason);
        return tbt_error_set(err, -ETIMEDOUT,
                             "kafka trigger: the cluster at %s did not acknowledge the message to topic '%s' within "
                             "%s (%s%s%s)",
                             brokers, topic, tmo, rd_kafka_err2str(e), st->bootstrap_reason ? "; last error: " : "",
                             st->bootstrap_reason ? st->bootstrap_reason : "");
    default:
        return tbt_error_set(err, -EIO, "kafka trigger: the message to topic '%s' was not delivered: %s (%s)", topic,
                             rd_kafka_err2str(e), rd_kafka_err2name(e));
    }
}

static int kafka_fire(const void *p, const tbt_trigger_ctx *ctx, tbt_trigger_response *resp, tbt_error *err)
{
    const kafka_cfg *c = p;
    char *brokers = NULL, *topic = NULL, *key = NULL, *value = NULL, *part_s = NULL, *tmo_s = NULL, *user = NULL,
         *pass = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_headers_t *hdrs = NULL;
    tbt_buf hjson = TBT_BUF_INIT;
    kafka_state st;
    memset(&st, 0, sizeof(st));
    int32_t partition = RD_KAFKA_PARTITION_UA;
    int rc;
    if ((rc = resolve_brokers(c, ctx, &brokers, err)) || (rc = tbt_trigger_resolve(&c->topic, ctx, &topic, err)) ||
        (rc = tbt_trigger_resolve(&c->key, ctx, &key, err)) ||
        (rc = tbt_trigger_resolve(&c->value, ctx, &value, err)) ||
        (rc = tbt_trigger_resolve(&c->partition, ctx, &part_s, err)) ||
        (rc = tbt_trigger_resolve(&c->timeout, ctx, &tmo_s, err)) ||
        (rc = tbt_trigger_resolve(&c->user, ctx, &user, err)) || (rc = tbt_trigger_resolve(&c->pass, ctx, &pass, err)))
        goto out;
    if (!*topic) {
        rc = tbt_error_set(err, -EINVAL, "kafka trigger: topic resolved to an empty name");
        fail_field(err, &c->topic, rc);
        goto out;
    }
    if (part_s && partition_value(part_s, &partition) != 0) {
        rc = bad_partition(err, &c->partition, part_s);
        goto out;
    }
    uint64_t timeout_ns = ctx->timeout_ns ? ctx->timeout_ns : KAFKA_DEFAULT_TIMEOUT_NS;
    if (tmo_s) {
        uint64_t t;
        if (timeout_value(tmo_s, &t) != 0) {
            rc = bad_timeout(err, &c->timeout, tmo_s);
            goto out;
        }
        if (!ctx->timeout_ns || t < ctx->timeout_ns)
            timeout_ns = t;
    }
    uint64_t timeout_ms = timeout_ns / NS_PER_MS ? timeout_ns / NS_PER_MS : 1;

    conf = rd_kafka_conf_new();
    bool user_debug = false;
    if ((rc = build_conf(c, ctx, brokers, user, pass, timeout_ms, conf, &user_debug, err)))
        goto out;
    rd_kafka_conf_set_opaque(conf, &st);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    if (!user_debug)
        rd_kafka_conf_set_log_cb(conf, on_log);
    char errstr[512];
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rc = tbt_error_set(err, -EINVAL, "kafka trigger: could not create a producer for %s: %s", brokers, errstr);
        goto out;
    }
    conf = NULL; /* rd_kafka_new took it */

    hdrs = rd_kafka_headers_new(c->n_headers + 2);
    if ((rc = build_headers(c, ctx, hdrs, &hjson, err)))
        goto out;

    uint64_t start = tbt_now_mono_ns(), deadline = start + timeout_ns;
    resp->start_unix_ns = tbt_now_unix_ns();
    const char *v = value ? value : "";
    rd_kafka_resp_err_t e =
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                          RD_KAFKA_V_VALUE((void *)v, strlen(v)), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        hdrs = NULL; /* the message owns them now */
        /* Poll rather than flush: an authentication or TLS failure will
         * not heal, so it ends the wait at once. */
        for (;;) {
            uint64_t now = tbt_now_mono_ns();
            if (st.delivered || now >= deadline || st.auth_reason || st.tls_reason || st.fatal_reason)
                break;
            /* every broker tried and none ever answered (no metadata yet) */
            if (st.all_down && rd_kafka_controllerid(rk, 0) < 0)
                break;
            uint64_t left_ms = (deadline - now + NS_PER_MS - 1) / NS_PER_MS;
            rd_kafka_poll(rk, (int)(left_ms < 100 ? left_ms : 100));
        }
        if (!st.delivered)
            rd_kafka_poll(rk, 0); /* the reasons queued behind the one that ended the wait */
        if (!st.delivered)
            e = st.all_down && !st.auth_reason && !st.tls_reason && !st.fatal_reason && tbt_now_mono_ns() < deadline
                    ? RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN
                    : RD_KAFKA_RESP_ERR__TIMED_OUT;
        else
            e = st.dr_err;
    }
    resp->end_unix_ns = tbt_now_unix_ns();
    resp->status_code = (int)e;
    resp->status = tbt_xasprintf("%d", (int)e);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
            rc = explain_unreachable(&st, brokers, "", false, err);
        else
            rc = explain(rk, e, &st, brokers, topic, partition, user, timeout_ns, err);
        goto out;
    }
    resp->body_len = strlen(v);
    resp->body = tbt_xstrdup(v);
    resp->headers_json = tbt_buf_steal(&hjson);
    char num[32];
    snprintf(num, sizeof(num), "%" PRId32, st.partition);
    tbt_trigger_response_extra(resp, "kafka.partition", num);
    snprintf(num, sizeof(num), "%" PRId64, st.offset);
    tbt_trigger_response_extra(resp, "kafka.offset", num);
    tbt_trigger_response_extra(resp, "kafka.topic", topic);
    if (st.timestamp_ms >= 0) {
        snprintf(num, sizeof(num), "%" PRId64, st.timestamp_ms);
        tbt_trigger_response_extra(resp, "kafka.timestamp", num);
    }
    rc = 0;
out:
    if (hdrs)
        rd_kafka_headers_destroy(hdrs);
    if (rk) {
        /* rd_kafka_destroy waits for queued messages: drop them first, and
         * serve their (purged) delivery reports while st still exists */
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(rk, 0);
        rd_kafka_destroy(rk);
    }
    if (conf)
        rd_kafka_conf_destroy(conf);
    state_free(&st);
    tbt_buf_free(&hjson);
    free(brokers);
    free(topic);
    free(key);
    free(value);
    free(part_s);
    free(tmo_s);
    free(user);
    free(pass);
    return rc;
}

const tbt_trigger_kind tbt_trigger_kafka = {"kafka", "kafka", kafka_parse, kafka_fire, kafka_destroy};
