/* test_trigger_amqp.c - the amqp trigger against a real RabbitMQ, started
 * on free loopback ports by tests/rabbitmq.sh for this run (state in a temp
 * dir, stopped by PID in the teardown, and by the script's watchdog should
 * this process die first). The test declares exchanges and queues with
 * rabbitmq-c, fires the trigger, and takes the message back with basic.get:
 * body, routing key, properties, the traceparent/tracestate headers and the
 * user's; then the ways a publish fails (credentials, vhost, exchange,
 * unroutable with mandatory, refused property, nothing listening, a peer
 * that never speaks AMQP, a broker that blocks publishers) and definition
 * errors with their positions.
 *
 * Skipped (exit 77) when rabbitmq-server is not installed or not root. */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "trigger_fixture.h"

#define RABBITMQ_SERVER "/usr/lib/rabbitmq/bin/rabbitmq-server"
static char state_dir[256];
static char script[1024];
static int rmq_port;
static char start_error[512];

/* ---- the broker ------------------------------------------------------------*/
static void broker_start(void)
{
    const char *root = getenv("TBT_SOURCE_ROOT");
    snprintf(script, sizeof(script), "%s/tests/rabbitmq.sh", root ? root : "..");
    snprintf(state_dir, sizeof(state_dir), "/tmp/tbt-amqp-test.XXXXXX");
    if (!mkdtemp(state_dir)) {
        snprintf(start_error, sizeof(start_error), "mkdtemp: %s", strerror(errno));
        return;
    }
    char *cmd = tbt_xasprintf("'%s' start '%s' %ld", script, state_dir, (long)getpid());
    uint64_t t0 = tbt_now_mono_ns();
    FILE *p = popen(cmd, "r");
    free(cmd);
    char line[64] = "";
    if (!p || !fgets(line, sizeof(line), p))
        line[0] = 0;
    int st = p ? pclose(p) : -1;
    rmq_port = st == 0 ? atoi(line) : 0;
    if (rmq_port <= 0) {
        snprintf(start_error, sizeof(start_error),
                 "tests/rabbitmq.sh could not start RabbitMQ (exit status %d; its reasons are above)", st);
        return;
    }
    fprintf(stderr, "rabbitmq: AMQP on 127.0.0.1:%d, ready %.1f s after start (state in %s)\n", rmq_port,
            (double)(tbt_now_mono_ns() - t0) / 1e9, state_dir);
}

static void broker_stop(void)
{
    if (!state_dir[0])
        return;
    uint64_t t0 = tbt_now_mono_ns();
    char *cmd = tbt_xasprintf("'%s' stop '%s' && rm -rf '%s'", script, state_dir, state_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "rabbitmq: stop reported a failure (state in %s)\n", state_dir);
    free(cmd);
    fprintf(stderr, "rabbitmq: stopped in %.1f s\n", (double)(tbt_now_mono_ns() - t0) / 1e9);
}

#define NEED_BROKER() ck_assert_msg(rmq_port > 0, "%s", start_error)

/* ---- a rabbitmq-c client for the test's own side ---------------------------*/
static amqp_connection_state_t client_open(void)
{
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    ck_assert_int_eq(amqp_socket_open(s, "127.0.0.1", rmq_port), AMQP_STATUS_OK);
    amqp_rpc_reply_t r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    ck_assert_int_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    ck_assert_ptr_nonnull(amqp_channel_open(c, 1));
    return c;
}

static void client_close(amqp_connection_state_t c)
{
    amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
}

/* An exclusive queue (gone with the connection), bound to a direct
 * exchange unless exchange is "". */
static void declare(amqp_connection_state_t c, const char *exchange, const char *queue, const char *key)
{
    if (*exchange) {
        ck_assert_ptr_nonnull(amqp_exchange_declare(c, 1, amqp_cstring_bytes(exchange), amqp_cstring_bytes("direct"),
                                                    0, 0, 1, 0, amqp_empty_table));
    }
    ck_assert_ptr_nonnull(amqp_queue_declare(c, 1, amqp_cstring_bytes(queue), 0, 0, 1, 0, amqp_empty_table));
    if (*exchange) {
        ck_assert_ptr_nonnull(amqp_queue_bind(c, 1, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
                                              amqp_cstring_bytes(key), amqp_empty_table));
    }
}

typedef struct got {
    char exchange[256], routing_key[256];
    amqp_message_t msg;
} got;

/* basic.get one message (the confirm came first, so it is there; a short
 * bounded retry covers a slow queue process). */
static void take(amqp_connection_state_t c, const char *queue, got *g)
{
    for (int tries = 0;; tries++) {
        amqp_rpc_reply_t r = amqp_basic_get(c, 1, amqp_cstring_bytes(queue), 1);
        ck_assert_int_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
        if (r.reply.id == AMQP_BASIC_GET_OK_METHOD) {
            const amqp_basic_get_ok_t *ok = r.reply.decoded;
            snprintf(g->exchange, sizeof(g->exchange), "%.*s", (int)ok->exchange.len, (const char *)ok->exchange.bytes);
            snprintf(g->routing_key, sizeof(g->routing_key), "%.*s", (int)ok->routing_key.len,
                     (const char *)ok->routing_key.bytes);
            break;
        }
        ck_assert_msg(tries < 40, "queue %s stayed empty", queue);
        usleep(50 * 1000);
    }
    ck_assert_int_eq(amqp_read_message(c, 1, &g->msg, 0).reply_type, AMQP_RESPONSE_NORMAL);
}

static bool queue_empty(amqp_connection_state_t c, const char *queue)
{
    amqp_rpc_reply_t r = amqp_basic_get(c, 1, amqp_cstring_bytes(queue), 1);
    ck_assert_int_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    return r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD;
}

static char *bytes(amqp_bytes_t b)
{
    return tbt_xstrndup(b.bytes ? (const char *)b.bytes : "", b.len);
}

static char *header(const got *g, const char *key)
{
    const amqp_table_t *t = &g->msg.properties.headers;
    for (int i = 0; i < t->num_entries; i++)
        if (t->entries[i].key.len == strlen(key) && memcmp(t->entries[i].key.bytes, key, strlen(key)) == 0) {
            ck_assert_int_eq(t->entries[i].value.kind, AMQP_FIELD_KIND_UTF8);
            return bytes(t->entries[i].value.value.bytes);
        }
    return NULL;
}

#define ASSERT_BYTES(b, want)                                                                                          \
    do {                                                                                                               \
        char *s_ = bytes(b);                                                                                           \
        ck_assert_str_eq(s_, want);                                                                                    \
        free(s_);                                                                                                      \
    } while (0)

#define ASSERT_HEADER(g, key, want)                                                                                    \
    do {                                                                                                               \
        char *h_ = header(g, key);                                                                                     \
        ck_assert_msg(h_ != NULL, "header %s missing", key);                                                           \
        ck_assert_str_eq(h_, want);                                                                                    \
        free(h_);                                                                                                      \
    } while (0)

/* ---- firing ----------------------------------------------------------------*/
static tbt_vars *vars_with_url(const char *user, const char *pass, const char *vhost)
{
    tbt_vars *v = tbt_vars_new();
    char *url = tbt_xasprintf("amqp://%s:%s@127.0.0.1:%d%s", user, pass, rmq_port, vhost);
    tbt_vars_set(v, "URL", url);
    free(url);
    return v;
}

static double since(uint64_t t0)
{
    return (double)(tbt_now_mono_ns() - t0) / 1e9;
}

/* ---- cases -----------------------------------------------------------------*/
START_TEST(publish_with_expressions_properties_and_headers)
{
    NEED_BROKER();
    amqp_connection_state_t c = client_open();
    declare(c, "tbt.orders", "orders-created", "order.created");
    tbt_vars *vars = vars_with_url("guest", "guest", "");
    tbt_vars_set(vars, "EXCHANGE", "tbt.orders");
    tbt_vars_set(vars, "KIND", "created");
    tbt_vars_set(vars, "CUSTOMER", "cust-42");
    tbt_vars_set(vars, "CORRELATION", "corr-7");
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    int rc = fire("    type: amqp\n"
                  "    amqp:\n"
                  "      url: ${var:URL}\n"
                  "      exchange: ${var:EXCHANGE}\n"
                  "      routingKey: order.${var:KIND}\n"
                  "      headers:\n"
                  "      - key: x-customer\n"
                  "        value: ${var:CUSTOMER}\n"
                  "      - key: x-attempt\n"
                  "        value: ${1 + 1}\n"
                  "      properties:\n"
                  "        contentType: application/json\n"
                  "        contentEncoding: utf-8\n"
                  "        deliveryMode: persistent\n"
                  "        priority: \"${2 + 3}\"\n"
                  "        correlationId: ${var:CORRELATION}\n"
                  "        replyTo: replies\n"
                  "        expiration: \"60000\"\n"
                  "        messageId: msg-${var:CUSTOMER}\n"
                  "        type: order.created\n"
                  "        userId: guest\n"
                  "        appId: tbt\n"
                  "      body: '{\"customer\": \"${var:CUSTOMER}\", \"n\": ${1 + 1}}'\n"
                  "      mandatory: true\n"
                  "      timeout: 5s\n",
                  vars, &resp, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);

    got g;
    take(c, "orders-created", &g);
    ck_assert_str_eq(g.exchange, "tbt.orders");
    ck_assert_str_eq(g.routing_key, "order.created");
    ASSERT_BYTES(g.msg.body, "{\"customer\": \"cust-42\", \"n\": 2}");
    const amqp_basic_properties_t *p = &g.msg.properties;
    ck_assert(p->_flags & AMQP_BASIC_HEADERS_FLAG);
    ASSERT_HEADER(&g, "traceparent", TRACEPARENT);
    ASSERT_HEADER(&g, "tracestate", "tracetest=true");
    ASSERT_HEADER(&g, "x-customer", "cust-42");
    ASSERT_HEADER(&g, "x-attempt", "2");
    ASSERT_BYTES(p->content_type, "application/json");
    ASSERT_BYTES(p->content_encoding, "utf-8");
    ck_assert_int_eq(p->delivery_mode, 2);
    ck_assert_int_eq(p->priority, 5);
    ASSERT_BYTES(p->correlation_id, "corr-7");
    ASSERT_BYTES(p->reply_to, "replies");
    ASSERT_BYTES(p->expiration, "60000");
    ASSERT_BYTES(p->message_id, "msg-cust-42");
    ASSERT_BYTES(p->type, "order.created");
    ASSERT_BYTES(p->user_id, "guest");
    ASSERT_BYTES(p->app_id, "tbt");
    amqp_destroy_message(&g.msg);

    ck_assert_str_eq(resp.status, "ack");
    ck_assert_int_eq(resp.status_code, 0);
    ck_assert_str_eq(resp.body, "{\"customer\": \"cust-42\", \"n\": 2}");
    ck_assert_uint_eq(resp.body_len, strlen(resp.body));
    ck_assert_str_eq(resp.headers_json, "[{\"Key\":\"traceparent\",\"Value\":\"" TRACEPARENT "\"},"
                                        "{\"Key\":\"tracestate\",\"Value\":\"tracetest=true\"},"
                                        "{\"Key\":\"x-customer\",\"Value\":\"cust-42\"},"
                                        "{\"Key\":\"x-attempt\",\"Value\":\"2\"}]");
    ck_assert_str_eq(extra(&resp, "amqp.confirm"), "ack");
    ck_assert_str_eq(extra(&resp, "amqp.exchange"), "tbt.orders");
    ck_assert_str_eq(extra(&resp, "amqp.routing_key"), "order.created");
    ck_assert_str_eq(extra(&resp, "amqp.delivery_tag"), "1");
    ck_assert(resp.start_unix_ns > 0 && resp.end_unix_ns >= resp.start_unix_ns);
    tbt_trigger_response_clear(&resp);
    tbt_vars_free(vars);
    client_close(c);
}
END_TEST

START_TEST(default_exchange_routes_by_queue_name)
{
    NEED_BROKER();
    amqp_connection_state_t c = client_open();
    declare(c, "", "plain-q", "");
    /* a trailing "/" means vhost "/" here, as in most clients */
    tbt_vars *vars = vars_with_url("guest", "guest", "/");
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    int rc = fire("    type: amqp\n    amqp:\n      url: ${var:URL}\n      routingKey: plain-q\n"
                  "      headers:\n      - key: traceparent\n        value: 00-ffffffffffffffffffffffffffffffff-"
                  "ffffffffffffffff-01\n      body: hello\n",
                  vars, &resp, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    got g;
    take(c, "plain-q", &g);
    ck_assert_str_eq(g.exchange, "");
    ck_assert_str_eq(g.routing_key, "plain-q");
    ASSERT_BYTES(g.msg.body, "hello");
    /* the run's trace context wins over a user's traceparent */
    ASSERT_HEADER(&g, "traceparent", TRACEPARENT);
    ck_assert_int_eq(g.msg.properties.headers.num_entries, 2);
    ck_assert(!(g.msg.properties._flags & AMQP_BASIC_DELIVERY_MODE_FLAG));
    amqp_destroy_message(&g.msg);
    ck_assert_str_eq(extra(&resp, "amqp.exchange"), "");
    ck_assert_str_eq(extra(&resp, "amqp.routing_key"), "plain-q");
    tbt_trigger_response_clear(&resp);

    /* %2F is "/" too, and an unroutable message without mandatory is
     * simply acknowledged (and dropped by the broker) */
    tbt_vars_free(vars);
    vars = vars_with_url("guest", "guest", "/%2F");
    rc = fire("    type: amqp\n    amqp:\n      url: ${var:URL}\n      routingKey: no-such-queue\n", vars, &resp,
              &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_str_eq(resp.status, "ack");
    ck_assert_str_eq(resp.body, "");
    tbt_trigger_response_clear(&resp);
    ck_assert(queue_empty(c, "plain-q"));
    tbt_vars_free(vars);
    client_close(c);
}
END_TEST

START_TEST(login_failures_are_explained)
{
    NEED_BROKER();
    tbt_vars *vars = vars_with_url("guest", "wrong", "");
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(fire("    type: amqp\n    amqp:\n      url: ${var:URL}\n      routingKey: q\n", vars, &resp, &err),
                     -EACCES);
    ck_assert_msg(strstr(err.msg, "amqp trigger: login refused for user 'guest' on vhost '/': check the credentials"),
                  "%s", err.msg);
    ck_assert_ptr_null(resp.status);
    tbt_error_clear(&err);
    tbt_vars_free(vars);

    vars = vars_with_url("guest", "guest", "/nope");
    ck_assert_int_eq(fire("    type: amqp\n    amqp:\n      url: ${var:URL}\n      routingKey: q\n", vars, &resp, &err),
                     -EACCES);
    ck_assert_msg(strstr(err.msg, "vhost 'nope' does not exist"), "%s", err.msg);
    tbt_error_clear(&err);
    tbt_vars_free(vars);
}
END_TEST

START_TEST(unknown_exchange_is_explained)
{
    NEED_BROKER();
    tbt_vars *vars = vars_with_url("guest", "guest", "");
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(fire("    type: amqp\n    amqp:\n      url: ${var:URL}\n      exchange: tbt.nope\n"
                          "      routingKey: k\n      body: x\n",
                          vars, &resp, &err),
                     -ENOENT);
    ck_assert_msg(strstr(err.msg, "amqp trigger: exchange 'tbt.nope' does not exist in vhost '/'"), "%s", err.msg);
    tbt_error_clear(&err);
    tbt_vars_free(vars);
}
END_TEST

START_TEST(mandatory_unroutable_is_an_error)
{
    NEED_BROKER();
    amqp_connection_state_t c = client_open();
    declare(c, "tbt.mandatory", "mandatory-q", "bound");
    tbt_vars *vars = vars_with_url("guest", "guest", "");
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(fire("    type: amqp\n    amqp:\n      url: ${var:URL}\n      exchange: tbt.mandatory\n"
                          "      routingKey: nowhere\n      mandatory: true\n      body: x\n",
                          vars, &resp, &err),
                     -ENOENT);
    ck_assert_msg(strstr(err.msg, "no queue is bound for routing key 'nowhere' on exchange 'tbt.mandatory'"), "%s",
                  err.msg);
    tbt_error_clear(&err);
    ck_assert_int_eq(fire("    type: amqp\n    amqp:\n      url: ${var:URL}\n"
                          "      routingKey: no-queue-of-that-name\n      mandatory: true\n",
                          vars, &resp, &err),
                     -ENOENT);
    ck_assert_msg(strstr(err.msg, "no queue is bound for routing key 'no-queue-of-that-name' on the default exchange"),
                  "%s", err.msg);
    tbt_error_clear(&err);
    /* the routed one still works on the same exchange */
    ck_assert_int_eq(fire("    type: amqp\n    amqp:\n      url: ${var:URL}\n      exchange: tbt.mandatory\n"
                          "      routingKey: bound\n      mandatory: true\n      body: y\n",
                          vars, &resp, &err),
                     0);
    tbt_trigger_response_clear(&resp);
    got g;
    take(c, "mandatory-q", &g);
    ASSERT_BYTES(g.msg.body, "y");
    amqp_destroy_message(&g.msg);
    tbt_vars_free(vars);
    client_close(c);
}
END_TEST

START_TEST(refused_property_is_explained)
{
    NEED_BROKER();
    tbt_vars *vars = vars_with_url("guest", "guest", "");
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    /* RabbitMQ checks user-id against the login */
    ck_assert_int_eq(fire("    type: amqp\n    amqp:\n      url: ${var:URL}\n      routingKey: q\n"
                          "      properties:\n        userId: somebody-else\n",
                          vars, &resp, &err),
                     -EINVAL);
    ck_assert_msg(strstr(err.msg, "amqp trigger: the broker refused the message: PRECONDITION_FAILED"), "%s", err.msg);
    tbt_error_clear(&err);
    tbt_vars_free(vars);
}
END_TEST

/* A loopback port nothing listens on. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t l = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

START_TEST(nothing_listening_is_refused_quickly)
{
    tbt_vars *vars = tbt_vars_new();
    int port = closed_port();
    char *url = tbt_xasprintf("amqp://guest:guest@127.0.0.1:%d/", port);
    tbt_vars_set(vars, "URL", url);
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    uint64_t t0 = tbt_now_mono_ns();
    ck_assert_int_eq(fire("    type: amqp\n    amqp:\n      url: ${var:URL}\n      routingKey: q\n", vars, &resp, &err),
                     -ECONNREFUSED);
    ck_assert_msg(since(t0) < 2.0, "took %.2f s", since(t0));
    char *want = tbt_xasprintf("amqp trigger: nothing answered at 127.0.0.1:%d (connection refused)", port);
    ck_assert_msg(strstr(err.msg, want), "%s", err.msg);
    ck_assert_ptr_null(resp.status);
    ck_assert(resp.end_unix_ns >= resp.start_unix_ns);
    free(want);
    free(url);
    tbt_error_clear(&err);
    tbt_vars_free(vars);
}
END_TEST

START_TEST(silent_peer_times_out)
{
    /* a socket that listens but never accepts: the kernel completes the
     * TCP handshake, nobody ever answers the AMQP header */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    socklen_t l = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    tbt_vars *vars = tbt_vars_new();
    char *url = tbt_xasprintf("amqp://127.0.0.1:%d", ntohs(a.sin_port));
    tbt_vars_set(vars, "URL", url);
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    uint64_t t0 = tbt_now_mono_ns();
    ck_assert_int_eq(fire("    type: amqp\n    amqp:\n      url: ${var:URL}\n      timeout: 700ms\n", vars, &resp, &err),
                     -ETIMEDOUT);
    double took = since(t0);
    ck_assert_msg(took >= 0.6 && took < 2.0 + 10.0, "took %.2f s", took);
    ck_assert_msg(strstr(err.msg, "did not complete the AMQP handshake"), "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "(700ms)"), "%s", err.msg);
    free(url);
    close(fd);
    tbt_error_clear(&err);
    tbt_vars_free(vars);
}
END_TEST

static void assert_parse_error(const char *block, const char *want, int line, int col)
{
    tbt_vars *vars = tbt_vars_new();
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(fire(block, vars, &resp, &err), -EINVAL);
    ck_assert_msg(strstr(err.msg, want), "%s", err.msg);
    ck_assert_msg(err.line == line && err.col == col, "%s at %d:%d, wanted %d:%d", err.msg, err.line, err.col, line,
                  col);
    tbt_error_clear(&err);
    tbt_vars_free(vars);
}

START_TEST(definition_errors_have_positions)
{
    /* lines 1-5 are the Test around the trigger block */
    assert_parse_error("    type: amqp\n    amqp:\n      url: amqp://h\n      routingkey: q\n",
                       "unknown key \"routingkey\" in amqp; expected one of: url, exchange, routingKey, headers, "
                       "properties, body, sslVerification, mandatory, timeout",
                       9, 7);
    assert_parse_error("    type: amqp\n    amqp:\n      url: amqp://h\n      properties:\n        persistent: true\n",
                       "unknown key \"persistent\" in amqp.properties; expected one of: contentType, contentEncoding, "
                       "deliveryMode, priority",
                       10, 9);
    assert_parse_error("    type: amqp\n    amqp:\n      url: amqp://h\n      properties:\n        deliveryMode: sometimes\n",
                       "amqp.properties.deliveryMode must be 1 (transient) or 2 (persistent), found \"sometimes\"", 10,
                       23);
    assert_parse_error("    type: amqp\n    amqp:\n      url: amqp://h\n      properties:\n        priority: 300\n",
                       "amqp.properties.priority must be an integer from 0 to 255", 10, 19);
    assert_parse_error("    type: amqp\n    amqp:\n      url: amqp://h\n      timeout: soon\n",
                       "amqp.timeout must be a positive duration", 9, 16);
    assert_parse_error("    type: amqp\n    amqp:\n      url: amqp://h\n      mandatory: yes please\n",
                       "amqp.mandatory must be true or false", 9, 18);
    assert_parse_error("    type: amqp\n    amqp:\n      routingKey: q\n", "amqp needs \"url\"", 8, 7);
    assert_parse_error("    type: amqp\n    amqp:\n      url: amqp://h\n      headers: {a: b}\n",
                       "amqp.headers must be a list of {key, value}", 9, 16);

    /* amqp is a known trigger type */
    tbt_vars *vars = tbt_vars_new();
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(fire("    type: rabbit\n    amqp:\n      url: amqp://h\n", vars, &resp, &err), -EINVAL);
    ck_assert_msg(strstr(err.msg, "\"rabbit\"") && strstr(err.msg, "amqp"), "%s", err.msg);
    ck_assert_int_eq(err.line, 6);
    tbt_error_clear(&err);
    ck_assert_ptr_nonnull(tbt_trigger_find("amqp"));
    ck_assert_ptr_nonnull(strstr(tbt_trigger_names(), "amqp"));

    /* values that only exist once resolved are checked when firing */
    tbt_vars_set(vars, "MODE", "3");
    ck_assert_int_eq(fire("    type: amqp\n    amqp:\n      url: amqp://127.0.0.1:1\n"
                          "      properties:\n        deliveryMode: ${var:MODE}\n",
                          vars, &resp, &err),
                     -EINVAL);
    ck_assert_msg(strstr(err.msg, "deliveryMode must be 1 (transient) or 2 (persistent), found \"3\""), "%s", err.msg);
    ck_assert_int_eq(err.line, 10);
    tbt_error_clear(&err);
    ck_assert_int_eq(fire("    type: amqp\n    amqp:\n      url: http://127.0.0.1:5672\n", vars, &resp, &err), -EINVAL);
    ck_assert_msg(strstr(err.msg, "invalid url 'http://127.0.0.1:5672': expected amqp://user:password@host:port/vhost"),
                  "%s", err.msg);
    tbt_error_clear(&err);
    tbt_vars_free(vars);
}
END_TEST

static void ctl(const char *args)
{
    char *cmd = tbt_xasprintf("'%s' ctl '%s' %s", script, state_dir, args);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    free(cmd);
}

/* Runs last: it leaves the broker blocking publishers if it fails midway. */
START_TEST(blocked_publisher_times_out)
{
    NEED_BROKER();
    /* a memory alarm: RabbitMQ stops reading from connections that publish */
    ctl("set_vm_memory_high_watermark 0");
    tbt_vars *vars = vars_with_url("guest", "guest", "");
    tbt_trigger_response resp;
    tbt_error err = TBT_ERROR_INIT;
    uint64_t t0 = tbt_now_mono_ns();
    ck_assert_int_eq(fire("    type: amqp\n    amqp:\n      url: ${var:URL}\n      routingKey: q\n      body: small\n"
                          "      timeout: 1s\n",
                          vars, &resp, &err),
                     -ETIMEDOUT);
    double took = since(t0);
    ck_assert_msg(took >= 0.9 && took < 2.5 + 10.0, "took %.2f s", took);
    ck_assert_msg(strstr(err.msg, "did not confirm the message (no basic.ack) within the trigger's timeout (1s)"), "%s",
                  err.msg);
    tbt_error_clear(&err);

    /* a body larger than the socket buffers: the publish itself blocks in
     * rabbitmq-c (which sends without a deadline) until the guard cuts it */
    size_t big_len = 16u << 20;
    char *big = tbt_xmalloc(big_len + 1);
    memset(big, 'x', big_len);
    big[big_len] = 0;
    tbt_vars_set(vars, "BIG", big);
    free(big);
    t0 = tbt_now_mono_ns();
    ck_assert_int_eq(fire("    type: amqp\n    amqp:\n      url: ${var:URL}\n      routingKey: q\n      body: ${var:BIG}\n"
                          "      timeout: 1s\n",
                          vars, &resp, &err),
                     -ETIMEDOUT);
    took = since(t0);
    ck_assert_msg(took < 3.0 + 10.0, "took %.2f s", took);
    ck_assert_msg(strstr(err.msg, "did not take the message within the trigger's timeout (1s)"), "%s", err.msg);
    tbt_error_clear(&err);
    tbt_vars_free(vars);
    ctl("set_vm_memory_high_watermark 0.9");
}
END_TEST

int main(void)
{
    if (access(RABBITMQ_SERVER, X_OK) != 0) {
        printf("SKIP: %s is not installed (scripts/setup.sh installs rabbitmq-server)\n", RABBITMQ_SERVER);
        return 77;
    }
    if (geteuid() != 0) {
        printf("SKIP: tests/rabbitmq.sh starts RabbitMQ as root only\n");
        return 77;
    }
    Suite *s = suite_create("trigger_amqp");
    TCase *tc = tcase_create("amqp");
    tcase_add_unchecked_fixture(tc, broker_start, broker_stop);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, publish_with_expressions_properties_and_headers);
    tcase_add_test(tc, default_exchange_routes_by_queue_name);
    tcase_add_test(tc, login_failures_are_explained);
    tcase_add_test(tc, unknown_exchange_is_explained);
    tcase_add_test(tc, mandatory_unroutable_is_an_error);
    tcase_add_test(tc, refused_property_is_explained);
    tcase_add_test(tc, nothing_listening_is_refused_quickly);
    tcase_add_test(tc, silent_peer_times_out);
    tcase_add_test(tc, definition_errors_have_positions);
    tcase_add_test(tc, blocked_publisher_times_out);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
