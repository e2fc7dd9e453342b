/* test_trigger_kafka.c - the kafka trigger against librdkafka's mock
 * cluster (real Kafka protocol on loopback TCP ports, in this process):
 * each message the trigger produces is consumed back with a real consumer
 * and compared field by field (key, value, partition, offset, record
 * headers incl. traceparent/tracestate) with what the trigger reported.
 * Failures: a closed port, a port that never answers, a topic the cluster
 * does not have, a partition it does not have, a partition leader that is
 * down, SASL and TLS against a
 * broker without either, bad configuration, and parse errors with
 * positions. */
#include <check.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "trigger_fixture.h"

/* Bounds on how long a failing trigger takes prove it does not hang; the
 * slack keeps them true under valgrind and on a loaded machine (how fast it
 * fails is a figure for benches, not an assertion). */
#define SLACK_NS 10000000000ull

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;
static const char *bootstraps;

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    TBT_UNUSED(rk);
    TBT_UNUSED(level);
    TBT_UNUSED(fac);
    TBT_UNUSED(buf);
}

static void setup(void)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    ck_assert_msg(mock_rk != NULL, "%s", errstr);
    mock = rd_kafka_mock_cluster_new(mock_rk, 3);
    ck_assert_ptr_nonnull(mock);
    bootstraps = rd_kafka_mock_cluster_bootstraps(mock);
    ck_assert_int_eq(rd_kafka_mock_topic_create(mock, "orders", 4, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    ck_assert_int_eq(rd_kafka_mock_topic_create(mock, "payments", 4, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    /* the mock creates any topic it is asked about; this one it refuses */
    rd_kafka_mock_topic_set_error(mock, "missing", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
}

static void teardown(void)
{
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_rk);
    mock = NULL;
    mock_rk = NULL;
    bootstraps = NULL;
}

/* ---- reading the message back --------------------------------------------------*/
#define MAX_HDRS 8
typedef struct seen {
    bool found;
    char key[128], value[512];
    bool key_null;
    int32_t partition;
    int64_t offset, timestamp;
    size_t n_hdrs;
    char hname[MAX_HDRS][64], hvalue[MAX_HDRS][128];
} seen;

static void copy_bytes(char *dst, size_t cap, const void *p, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, p, n);
    dst[n] = '\0';
}

/* Consume topic (one partition, or all four with partition -1) from the
 * start until a message whose value is `value` shows up (10 s at most). */
static seen consume(const char *topic, int32_t partition, const char *value)
{
    seen s;
    memset(&s, 0, sizeof(s));
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "group.id", "tbt-test", errstr, sizeof(errstr)), RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)), RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", errstr, sizeof(errstr)), RD_KAFKA_CONF_OK);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    ck_assert_msg(c != NULL, "%s", errstr);
    rd_kafka_poll_set_consumer(c);
    /* assign, not subscribe: no group join (the mock delays the first one) */
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(4);
    for (int32_t p = 0; p < 4; p++)
        if (partition < 0 || p == partition)
            rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    ck_assert_int_eq(rd_kafka_assign(c, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    uint64_t deadline = tbt_now_mono_ns() + 10ull * 1000000000ull;
    while (!s.found && tbt_now_mono_ns() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (!m->err && m->len == strlen(value) && memcmp(m->payload, value, m->len) == 0) {
            s.found = true;
            s.key_null = m->key == NULL;
            copy_bytes(s.key, sizeof(s.key), m->key, m->key_len);
            copy_bytes(s.value, sizeof(s.value), m->payload, m->len);
            s.partition = m->partition;
            s.offset = m->offset;
            s.timestamp = rd_kafka_message_timestamp(m, NULL);
            rd_kafka_headers_t *h = NULL;
            if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                const char *name;
                const void *val;
                size_t len;
                for (size_t i = 0; s.n_hdrs < MAX_HDRS && rd_kafka_header_get_all(h, i, &name, &val, &len) == 0;
                     i++, s.n_hdrs++) {
                    copy_bytes(s.hname[s.n_hdrs], sizeof(s.hname[0]), name, strlen(name));
                    copy_bytes(s.hvalue[s.n_hdrs], sizeof(s.hvalue[0]), val, val ? len : 0);
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return s;
}

static const char *header(const seen *s, const char *name, int *count)
{
    const char *v = NULL;
    *count = 0;
    for (size_t i = 0; i < s->n_hdrs; i++)
        if (strcmp(s->hname[i], name) == 0) {
            v = s->hvalue[i];
            (*count)++;
        }
    return v;
}

static void check_headers(const seen *s)
{
    int n;
    const char *tp = header(s, "traceparent", &n);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(tp, TRACEPARENT);
    const char *ts = header(s, "tracestate", &n);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(ts, "tracetest=true");
}

/* The trigger's report and the consumer agree on where the message is. */
static void check_where(const tbt_trigger_response *r, const seen *s, const char *topic)
{
    char num[32];
    snprintf(num, sizeof(num), "%d", (int)s->partition);
    ck_assert_str_eq(extra(r, "kafka.partition"), num);
    snprintf(num, sizeof(num), "%lld", (long long)s->offset);
    ck_assert_str_eq(extra(r, "kafka.offset"), num);
    ck_assert_str_eq(extra(r, "kafka.topic"), topic);
}

/* ---- cases ----------------------------------------------------------------------*/

START_TEST(kafka_fields_are_expressions)
{
    tbt_vars *vars = tbt_vars_new();
    tbt_vars_set(vars, "BROKERS", bootstraps);
    tbt_vars_set(vars, "TOPIC", "orders");
    tbt_vars_set(vars, "ORDER", "ord-7");
    tbt_vars_set(vars, "TENANT", "acme");
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    uint64_t before_ms = tbt_now_unix_ns() / 1000000;
    int rc = fire("    type: kafka\n    kafka:\n      brokerUrls:\n      - ${var:BROKERS}\n      topic: ${var:TOPIC}\n"
                  "      messageKey: key-${var:ORDER}\n"
                  "      messageValue: '{\"order\": \"${var:ORDER}\", \"n\": ${1 + 1}}'\n"
                  "      headers:\n      - key: x-tenant\n        value: ${var:TENANT}\n"
                  "      - key: traceparent\n        value: 00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01\n"
                  "      - key: x-empty\n",
                  vars, &resp, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    const char *value = "{\"order\": \"ord-7\", \"n\": 2}";
    ck_assert_int_eq(resp.status_code, 0);
    ck_assert_str_eq(resp.status, "0");
    ck_assert_str_eq(resp.body, value);
    ck_assert_uint_eq(resp.body_len, strlen(value));
    ck_assert_str_eq(resp.headers_json, "[{\"Key\":\"traceparent\",\"Value\":\"" TRACEPARENT "\"},"
                                        "{\"Key\":\"tracestate\",\"Value\":\"tracetest=true\"},"
                                        "{\"Key\":\"x-tenant\",\"Value\":\"acme\"},"
                                        "{\"Key\":\"x-empty\",\"Value\":\"\"}]");
    ck_assert(resp.start_unix_ns > 0 && resp.end_unix_ns >= resp.start_unix_ns);

    seen s = consume("orders", -1, value);
    ck_assert_msg(s.found, "the message did not reach topic orders");
    ck_assert_str_eq(s.key, "key-ord-7");
    ck_assert_str_eq(s.value, value);
    check_headers(&s);
    int n;
    ck_assert_str_eq(header(&s, "x-tenant", &n), "acme");
    ck_assert_int_eq(n, 1);
    header(&s, "x-empty", &n);
    ck_assert_int_eq(n, 1);
    check_where(&resp, &s, "orders");
    /* the record's CreateTime is the producer's clock */
    ck_assert(s.timestamp >= (int64_t)before_ms - 1000 && s.timestamp <= (int64_t)(resp.end_unix_ns / 1000000) + 1000);
    /* the acknowledgement's timestamp: the record's CreateTime, or the
     * broker's LogAppendTime when the topic uses it (the mock cluster
     * always answers a fixed LogAppendTime of 1234) */
    long long ts = strtoll(extra(&resp, "kafka.timestamp"), NULL, 10);
    ck_assert_msg(ts == s.timestamp || ts == 1234, "kafka.timestamp %lld, record %lld", ts, (long long)s.timestamp);
    tbt_trigger_response_clear(&resp);
    tbt_vars_free(vars);
}
END_TEST

START_TEST(kafka_explicit_partition)
{
    tbt_vars *vars = tbt_vars_new();
    tbt_vars_set(vars, "BROKERS", bootstraps);
    tbt_vars_set(vars, "P", "3");
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    /* brokerUrls as one comma-separated string; partition a literal */
    int rc = fire("    type: kafka\n    kafka:\n      brokerUrls: ${var:BROKERS}\n      topic: payments\n"
                  "      partition: 2\n      messageValue: pay-${uuid()}\n      timeout: 5s\n",
                  vars, &resp, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_str_eq(extra(&resp, "kafka.partition"), "2");
    char *v1 = tbt_xstrdup(resp.body);
    ck_assert(strlen(v1) > 10 && strncmp(v1, "pay-", 4) == 0);
    seen s = consume("payments", 2, v1);
    ck_assert_msg(s.found, "no message with value %s in payments/2", v1);
    ck_assert_int_eq(s.partition, 2);
    ck_assert(s.key_null); /* no messageKey: no key */
    check_headers(&s);
    check_where(&resp, &s, "payments");
    int64_t first_offset = s.offset;
    tbt_trigger_response_clear(&resp);

    /* partition from an expression; the next offset in that partition */
    rc = fire("    type: kafka\n    kafka:\n      brokerUrls: ${var:BROKERS}\n      topic: payments\n"
              "      partition: ${var:P}\n      messageKey: k\n      messageValue: second\n",
              vars, &resp, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_str_eq(extra(&resp, "kafka.partition"), "3");
    s = consume("payments", 3, "second");
    ck_assert(s.found);
    ck_assert_int_eq(s.partition, 3);
    check_where(&resp, &s, "payments");
    tbt_trigger_response_clear(&resp);

    rc = fire("    type: kafka\n    kafka:\n      brokerUrls: ${var:BROKERS}\n      topic: payments\n"
              "      partition: 2\n      messageValue: third\n",
              vars, &resp, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    char num[32];
    snprintf(num, sizeof(num), "%lld", (long long)first_offset + 1);
    ck_assert_str_eq(extra(&resp, "kafka.offset"), num);
    tbt_trigger_response_clear(&resp);
    free(v1);
    tbt_vars_free(vars);
}
END_TEST

START_TEST(kafka_config_passes_through)
{
    tbt_vars *vars = tbt_vars_new();
    tbt_vars_set(vars, "BROKERS", bootstraps);
    tbt_vars_set(vars, "CODEC", "gzip");
    tbt_vars_set(vars, "ACKS", "maybe");
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    int rc = fire("    type: kafka\n    kafka:\n      brokerUrls: [\"${var:BROKERS}\"]\n      topic: orders\n"
                  "      messageValue: compressed\n      config:\n      - key: compression.type\n"
                  "        value: ${var:CODEC}\n      - key: client.id\n        value: checkout-test\n",
                  vars, &resp, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    seen s = consume("orders", -1, "compressed");
    ck_assert(s.found);
    check_where(&resp, &s, "orders");
    tbt_trigger_response_clear(&resp);

    /* a bad value only known when the trigger fires: named, with its position */
    rc = fire("    type: kafka\n    kafka:\n      brokerUrls: [\"${var:BROKERS}\"]\n      topic: orders\n"
              "      config:\n      - key: acks\n        value: ${var:ACKS}\n",
              vars, &resp, &err);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "kafka trigger: invalid configuration acks=maybe"));
    ck_assert_int_eq(err.line, 11);
    ck_assert_int_eq(err.col, 14);
    tbt_error_clear(&err);
    tbt_trigger_response_clear(&resp);
    tbt_vars_free(vars);
}
END_TEST

/* A port nothing listens on: bind one, close it. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

START_TEST(kafka_broker_down)
{
    tbt_vars *vars = tbt_vars_new();
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    int port = closed_port();
    char *y = tbt_xasprintf("    type: kafka\n    kafka:\n      brokerUrls: [127.0.0.1:%d]\n      topic: orders\n"
                            "      messageValue: lost\n      timeout: 2s\n",
                            port);
    uint64_t t0 = tbt_now_mono_ns();
    int rc = fire(y, vars, &resp, &err);
    uint64_t took = tbt_now_mono_ns() - t0;
    ck_assert_int_eq(rc, -ECONNREFUSED);
    char *want = tbt_xasprintf("kafka trigger: no broker answered at 127.0.0.1:%d", port);
    ck_assert_msg(strstr(err.msg, want) && strstr(err.msg, "Connection refused"), "%s", err.msg);
    ck_assert_msg(took < 2500000000ull + SLACK_NS, "took %llu ms", (unsigned long long)(took / 1000000));
    ck_assert_ptr_null(extra(&resp, "kafka.offset"));
    tbt_error_clear(&err);
    tbt_trigger_response_clear(&resp);
    free(want);
    free(y);

    /* a listener that accepts but never speaks Kafka: the timeout ends it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    y = tbt_xasprintf("    type: kafka\n    kafka:\n      brokerUrls: 127.0.0.1:%d\n      topic: orders\n"
                      "      timeout: 1500ms\n",
                      ntohs(a.sin_port));
    t0 = tbt_now_mono_ns();
    rc = fire(y, vars, &resp, &err);
    took = tbt_now_mono_ns() - t0;
    close(fd);
    ck_assert_int_eq(rc, -ETIMEDOUT);
    want = tbt_xasprintf("kafka trigger: no broker answered at 127.0.0.1:%d", ntohs(a.sin_port));
    ck_assert_msg(strstr(err.msg, want), "%s", err.msg);
    ck_assert_msg(took < 2000000000ull + SLACK_NS, "took %llu ms", (unsigned long long)(took / 1000000));
    tbt_error_clear(&err);
    tbt_trigger_response_clear(&resp);
    free(want);
    free(y);
    tbt_vars_free(vars);
}
END_TEST

START_TEST(kafka_unknown_topic_and_partition)
{
    tbt_vars *vars = tbt_vars_new();
    tbt_vars_set(vars, "BROKERS", bootstraps);
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    uint64_t t0 = tbt_now_mono_ns();
    int rc = fire("    type: kafka\n    kafka:\n      brokerUrls: ${var:BROKERS}\n      topic: missing\n"
                  "      messageValue: x\n      timeout: 3s\n",
                  vars, &resp, &err);
    uint64_t took = tbt_now_mono_ns() - t0;
    ck_assert_int_eq(rc, -ENOENT);
    ck_assert_str_eq(err.msg,
                     "kafka trigger: topic 'missing' does not exist on the cluster (and auto-creation is off)");
    ck_assert_msg(took < 3500000000ull + SLACK_NS, "took %llu ms", (unsigned long long)(took / 1000000));
    ck_assert_int_eq(resp.status_code, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    tbt_error_clear(&err);
    tbt_trigger_response_clear(&resp);

    rc = fire("    type: kafka\n    kafka:\n      brokerUrls: ${var:BROKERS}\n      topic: orders\n"
              "      partition: 9\n      messageValue: x\n      timeout: 3s\n",
              vars, &resp, &err);
    ck_assert_int_eq(rc, -ENOENT);
    ck_assert_str_eq(err.msg, "kafka trigger: topic 'orders' has no partition 9");
    tbt_error_clear(&err);
    tbt_trigger_response_clear(&resp);
    tbt_vars_free(vars);
}
END_TEST

/* The bootstrap brokers answer, but the partition's leader is down. */
START_TEST(kafka_leader_unreachable)
{
    ck_assert_int_eq(rd_kafka_mock_topic_create(mock, "lead2", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    ck_assert_int_eq(rd_kafka_mock_partition_set_leader(mock, "lead2", 0, 2), RD_KAFKA_RESP_ERR_NO_ERROR);
    ck_assert_int_eq(rd_kafka_mock_broker_set_down(mock, 2), RD_KAFKA_RESP_ERR_NO_ERROR);
    tbt_vars *vars = tbt_vars_new();
    tbt_vars_set(vars, "BROKERS", bootstraps);
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    uint64_t t0 = tbt_now_mono_ns();
    int rc = fire("    type: kafka\n    kafka:\n      brokerUrls: ${var:BROKERS}\n      topic: lead2\n"
                  "      messageValue: x\n      timeout: 2s\n",
                  vars, &resp, &err);
    uint64_t took = tbt_now_mono_ns() - t0;
    rd_kafka_mock_broker_set_up(mock, 2);
    ck_assert_int_eq(rc, -EHOSTUNREACH);
    ck_assert_msg(strstr(err.msg, "answered, but the message to topic 'lead2' was not acknowledged within 2s: a broker "
                                  "it named cannot be reached from here") &&
                      strstr(err.msg, "/2: ") && strstr(err.msg, "advertised.listeners"),
                  "%s", err.msg);
    ck_assert_msg(took < 3000000000ull + SLACK_NS, "took %llu ms", (unsigned long long)(took / 1000000));
    tbt_error_clear(&err);
    tbt_trigger_response_clear(&resp);
    tbt_vars_free(vars);
}
END_TEST

/* The mock cluster has neither SASL nor TLS: a SASL/PLAIN client's
 * handshake is refused and a TLS client is hung up on, which exercises the
 * failure paths (not a real password or certificate check). */
START_TEST(kafka_sasl_and_tls_failures)
{
    tbt_vars *vars = tbt_vars_new();
    tbt_vars_set(vars, "BROKERS", bootstraps);
    tbt_vars_set(vars, "PASS", "s3cret");
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    uint64_t t0 = tbt_now_mono_ns();
    int rc = fire("    type: kafka\n    kafka:\n      brokerUrls: ${var:BROKERS}\n      topic: orders\n"
                  "      messageValue: x\n      timeout: 5s\n      authentication:\n        type: plain\n"
                  "        plain:\n          username: alice\n          password: ${var:PASS}\n",
                  vars, &resp, &err);
    uint64_t took = tbt_now_mono_ns() - t0;
    ck_assert_int_eq(rc, -EACCES);
    ck_assert_msg(strstr(err.msg, "kafka trigger: authentication failed for user 'alice': ") && strstr(err.msg, "SASL"),
                  "%s", err.msg);
    ck_assert_msg(took < 2000000000ull + SLACK_NS, "an authentication failure must not hang (%llu ms)",
                  (unsigned long long)(took / 1000000));
    tbt_error_clear(&err);
    tbt_trigger_response_clear(&resp);

    /* sslVerification: true speaks TLS; the mock's listeners are plaintext */
    t0 = tbt_now_mono_ns();
    rc = fire("    type: kafka\n    kafka:\n      brokerUrls: ${var:BROKERS}\n      topic: orders\n"
              "      timeout: 5s\n      sslVerification: true\n",
              vars, &resp, &err);
    took = tbt_now_mono_ns() - t0;
    ck_assert_int_eq(rc, -EPROTO);
    char *want = tbt_xasprintf("kafka trigger: TLS with %s failed: ", bootstraps);
    ck_assert_msg(strstr(err.msg, want) && strstr(err.msg, "is this a TLS listener?"), "%s", err.msg);
    ck_assert_msg(took < 3000000000ull + SLACK_NS, "a TLS failure must not hang (%llu ms)",
                  (unsigned long long)(took / 1000000));
    free(want);
    tbt_error_clear(&err);
    tbt_trigger_response_clear(&resp);
    tbt_vars_free(vars);
}
END_TEST

static void parse_fails(const char *block, int code, const char *msg, int line, int col)
{
    tbt_vars *vars = tbt_vars_new();
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    char *y = tbt_xasprintf("    type: kafka\n    kafka:\n%s", block);
    int rc = fire(y, vars, &resp, &err);
    ck_assert_msg(rc == code, "rc %d for:\n%s\n%s", rc, y, err.msg ? err.msg : "");
    ck_assert_msg(strstr(err.msg, msg), "got: %s\nwant: %s", err.msg, msg);
    if (line) {
        ck_assert_int_eq(err.line, line);
        ck_assert_int_eq(err.col, col);
    }
    tbt_error_clear(&err);
    tbt_trigger_response_clear(&resp);
    free(y);
    tbt_vars_free(vars);
}

START_TEST(kafka_parse_errors_have_positions)
{
    /* the trigger block starts at line 8 of the generated file */
    parse_fails("      brokerUrls: [a:1]\n      topc: orders\n", -EINVAL,
                "unknown key \"topc\" in kafka; expected one of: brokerUrls, topic, headers, messageKey, messageValue, "
                "partition, sslVerification, authentication, config, timeout",
                9, 7);
    parse_fails("      brokerUrls: [a:1]\n", -EINVAL, "kafka needs \"topic\"", 0, 0);
    parse_fails("      topic: t\n", -EINVAL, "kafka needs \"brokerUrls\"", 0, 0);
    parse_fails("      topic: t\n      brokerUrls: []\n", -EINVAL, "kafka.brokerUrls is empty", 9, 19);
    parse_fails("      topic: t\n      brokerUrls:\n        host: a\n", -EINVAL,
                "kafka.brokerUrls must be a list of \"host:port\" strings, found a map", 10, 9);
    parse_fails("      topic: t\n      brokerUrls:\n      - a:1\n      - {host: b}\n", -EINVAL,
                "kafka.brokerUrls[1] must be a \"host:port\" string", 11, 9);
    parse_fails("      topic: t\n      brokerUrls: a:1\n      partition: first\n", -EINVAL,
                "kafka.partition must be a partition number", 10, 18);
    parse_fails("      topic: t\n      brokerUrls: a:1\n      timeout: soon\n", -EINVAL,
                "kafka.timeout must be a positive duration", 10, 16);
    parse_fails("      topic: t\n      brokerUrls: a:1\n      sslVerification: yes please\n", -EINVAL,
                "kafka.sslVerification must be true or false", 0, 0);
    parse_fails("      topic: t\n      brokerUrls: a:1\n      authentication:\n        type: scram\n", -EINVAL,
                "kafka.authentication.type must be plain (SASL/PLAIN), found \"scram\"", 11, 15);
    parse_fails("      topic: t\n      brokerUrls: a:1\n      authentication:\n        type: plain\n", -EINVAL,
                "needs a \"plain\" block", 11, 15);
    parse_fails("      topic: t\n      brokerUrls: a:1\n      authentication:\n        type: plain\n        plain:\n"
                "          user: bob\n",
                -EINVAL, "unknown key \"user\" in kafka.authentication.plain; expected one of: username, password", 13,
                11);
    parse_fails("      topic: t\n      brokerUrls: a:1\n      headers:\n      - name: a\n", -EINVAL,
                "unknown key \"name\" in kafka.headers", 11, 9);
    parse_fails(
        "      topic: t\n      brokerUrls: a:1\n      config:\n      - key: no.such.property\n        value: 1\n",
        -EINVAL, "kafka.config: librdkafka rejects no.such.property=1: No such configuration property", 11, 14);
    parse_fails("      topic: t\n      brokerUrls: a:1\n      config:\n      - key: plugin.library.paths\n"
                "        value: /tmp/evil.so\n",
                -EPERM, "\"plugin.library.paths\" loads code from disk", 11, 14);
    /* the registry names kafka among the supported kinds */
    ck_assert_ptr_nonnull(strstr(tbt_trigger_names(), "kafka"));
    ck_assert_ptr_nonnull(tbt_trigger_find("kafka"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trigger_kafka");
    TCase *tc = tcase_create("kafka");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, kafka_fields_are_expressions);
    tcase_add_test(tc, kafka_explicit_partition);
    tcase_add_test(tc, kafka_config_passes_through);
    tcase_add_test(tc, kafka_broker_down);
    tcase_add_test(tc, kafka_unknown_topic_and_partition);
    tcase_add_test(tc, kafka_leader_unreachable);
    tcase_add_test(tc, kafka_sasl_and_tls_failures);
    tcase_add_test(tc, kafka_parse_errors_have_positions);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
