/* tbt_trigger_amqp.c - the amqp trigger (tbt's own; RabbitMQ, AMQP 0-9-1)
 * on rabbitmq-c: publishes one message with publisher confirms and waits
 * for the broker's verdict.
 *
 *   amqp:
 *     url: amqp://user:pass@host:port/vhost   (amqps:// for TLS)
 *     exchange: orders            ("" or absent: the default exchange)
 *     routingKey: order.created
 *     headers: [{key, value}]     (after the run's traceparent and tracestate)
 *     properties: {contentType, contentEncoding, deliveryMode, priority,
 *                  correlationId, replyTo, expiration, messageId, type,
 *                  userId, appId}
 *     body: '{"id": 1}'
 *     sslVerification: true       (amqps only)
 *     mandatory: false            (true: an unroutable message is an error)
 *     timeout: 10s                (connect + login + publish + confirm)
 *
 * The run's trace context travels in the message properties' headers table
 * (W3C traceparent/tracestate as strings), where the OpenTelemetry RabbitMQ
 * instrumentations look for it. Success means the broker confirmed the
 * message (basic.ack); the span then carries the confirm, exchange, routing
 * key and delivery tag as tracetest.response.amqp.*.
 *
 * Every wait is bounded: connect by amqp_socket_open_noblock, login by the
 * handshake timeout, channel RPCs by the RPC timeout, the confirm by
 * amqp_simple_wait_frame_noblock; the sends that rabbitmq-c performs without
 * a deadline (publish, close) are cut by a guard thread that shuts the
 * socket down when the overall deadline passes. */
#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tbt_trigger.h"

#define AMQP_DEFAULT_TIMEOUT_NS (10ull * 1000000000ull)
#define AMQP_FRAME_MAX 131072
#define AMQP_SHORTSTR_MAX 255
#define AMQP_HEADER_KEY_MAX 128

/* ---- the properties block --------------------------------------------------*/
enum {
    P_CONTENT_TYPE,
    P_CONTENT_ENCODING,
    P_DELIVERY_MODE,
    P_PRIORITY,
    P_CORRELATION_ID,
    P_REPLY_TO,
    P_EXPIRATION,
    P_MESSAGE_ID,
    P_TYPE,
    P_USER_ID,
    P_APP_ID,
    N_PROPS
};

/* One row per property: its YAML key, its flag, and where a string
 * property lives in amqp_basic_properties_t (0 for the two numeric ones). */
static const struct prop_def {
    const char *key;
    amqp_flags_t flag;
    size_t off;
} prop_defs[N_PROPS] = {
    [P_CONTENT_TYPE] = {"contentType", AMQP_BASIC_CONTENT_TYPE_FLAG, offsetof(amqp_basic_properties_t, content_type)},
    [P_CONTENT_ENCODING] = {"contentEncoding", AMQP_BASIC_CONTENT_ENCODING_FLAG,
                            offsetof(amqp_basic_properties_t, content_encoding)},
    [P_DELIVERY_MODE] = {"deliveryMode", AMQP_BASIC_DELIVERY_MODE_FLAG, 0},
    [P_PRIORITY] = {"priority", AMQP_BASIC_PRIORITY_FLAG, 0},
    [P_CORRELATION_ID] = {"correlationId", AMQP_BASIC_CORRELATION_ID_FLAG,
                          offsetof(amqp_basic_properties_t, correlation_id)},
    [P_REPLY_TO] = {"replyTo", AMQP_BASIC_REPLY_TO_FLAG, offsetof(amqp_basic_properties_t, reply_to)},
    [P_EXPIRATION] = {"expiration", AMQP_BASIC_EXPIRATION_FLAG, offsetof(amqp_basic_properties_t, expiration)},
    [P_MESSAGE_ID] = {"messageId", AMQP_BASIC_MESSAGE_ID_FLAG, offsetof(amqp_basic_properties_t, message_id)},
    [P_TYPE] = {"type", AMQP_BASIC_TYPE_FLAG, offsetof(amqp_basic_properties_t, type)},
    [P_USER_ID] = {"userId", AMQP_BASIC_USER_ID_FLAG, offsetof(amqp_basic_properties_t, user_id)},
    [P_APP_ID] = {"appId", AMQP_BASIC_APP_ID_FLAG, offsetof(amqp_basic_properties_t, app_id)},
};

typedef struct amqp_cfg {
    tbt_field url, exchange, routing_key, body, timeout;
    tbt_field_kv *headers;
    size_t n_headers;
    tbt_field props[N_PROPS];
    bool ssl_verify, mandatory;
} amqp_cfg;

static void amqp_destroy(void *p)
{
    amqp_cfg *c = p;
    if (!c)
        return;
    free(c->headers);
    free(c);
}

static bool is_expr(const char *s)
{
    return s && strstr(s, "${") != NULL;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* NULL when v is a valid value of property i (*u8 gets the numeric ones);
 * otherwise what a valid value looks like. */
static const char *prop_invalid(int i, const char *v, uint8_t *u8)
{
    switch (i) {
    case P_DELIVERY_MODE:
        if (strcmp(v, "1") == 0 || strcasecmp(v, "transient") == 0 || strcasecmp(v, "non-persistent") == 0)
            *u8 = 1;
        else if (strcmp(v, "2") == 0 || strcasecmp(v, "persistent") == 0)
            *u8 = 2;
        else
            return "1 (transient) or 2 (persistent)";
        return NULL;
    case P_PRIORITY:
        if (!all_digits(v) || strlen(v) > 3 || atoi(v) > 255)
            return "an integer from 0 to 255";
        *u8 = (uint8_t)atoi(v);
        return NULL;
    case P_EXPIRATION:
        /* RabbitMQ reads it as a per-message TTL in milliseconds and closes
         * the channel (PRECONDITION_FAILED) on anything else */
        if (!all_digits(v))
            return "a time-to-live in milliseconds, as digits (\"60000\")";
        break;
    default:
        break;
    }
    if (strlen(v) > AMQP_SHORTSTR_MAX)
        return "at most 255 bytes long";
    return NULL;
}

static int bad_prop(tbt_error *err, int i, const tbt_field *f, const char *v, const char *want)
{
    tbt_error_set(err, -EINVAL, "amqp.properties.%s must be %s, found \"%s\"", prop_defs[i].key, want, v);
    tbt_error_at(err, &f->loc, f->s, 0);
    return -EINVAL;
}

static int parse_timeout(const char *s, uint64_t *ns)
{
    int64_t v = 0;
    if (tbt_parse_duration(s, strlen(s), &v) != 0 || v <= 0)
        return -EINVAL;
    *ns = (uint64_t)v;
    return 0;
}

static int amqp_parse(const tbt_ynode *block, void **out, tbt_error *err)
{
    static const char *const keys[] = {"url",  "exchange",        "routingKey", "headers", "properties",
                                       "body", "sslVerification", "mandatory",  "timeout", NULL};
    amqp_cfg *c = tbt_xcalloc(1, sizeof(*c));
    c->ssl_verify = true;
    int rc;
    if ((rc = tbt_trigger_check_keys(block, keys, "amqp", err)) ||
        (rc = tbt_trigger_field(block, "url", true, "amqp", &c->url, err)) ||
        (rc = tbt_trigger_field(block, "exchange", false, "amqp", &c->exchange, err)) ||
        (rc = tbt_trigger_field(block, "routingKey", false, "amqp", &c->routing_key, err)) ||
        (rc = tbt_trigger_field(block, "body", false, "amqp", &c->body, err)) ||
        (rc = tbt_trigger_field(block, "timeout", false, "amqp", &c->timeout, err)) ||
        (rc = tbt_trigger_kv_list(block, "headers", "amqp", &c->headers, &c->n_headers, err)) ||
        (rc = tbt_trigger_bool(block, "sslVerification", "amqp", &c->ssl_verify, err)) ||
        (rc = tbt_trigger_bool(block, "mandatory", "amqp", &c->mandatory, err)))
        goto fail;
    uint64_t ns;
    if (c->timeout.s && !is_expr(c->timeout.s) && parse_timeout(c->timeout.s, &ns) != 0) {
        rc = tbt_error_set(err, -EINVAL, "amqp.timeout must be a positive duration such as 5s or 500ms, found \"%s\"",
                           c->timeout.s);
        tbt_error_at(err, &c->timeout.loc, c->timeout.s, 0);
        goto fail;
    }
    const tbt_ynode *props = tbt_ymap_get(block, "properties");
    if (props && !tbt_ynode_is_null(props)) {
        const char *pkeys[N_PROPS + 1];
        for (int i = 0; i < N_PROPS; i++)
            pkeys[i] = prop_defs[i].key;
        pkeys[N_PROPS] = NULL;
        if ((rc = tbt_trigger_check_keys(props, pkeys, "amqp.properties", err)))
            goto fail;
        for (int i = 0; i < N_PROPS; i++) {
            tbt_field *f = &c->props[i];
            if ((rc = tbt_trigger_field(props, prop_defs[i].key, false, "amqp.properties", f, err)))
                goto fail;
            uint8_t u8;
            const char *want;
            if (f->s && !is_expr(f->s) && (want = prop_invalid(i, f->s, &u8)) != NULL) {
                rc = bad_prop(err, i, f, f->s, want);
                goto fail;
            }
        }
    }
    *out = c;
    return 0;
fail:
    amqp_destroy(c);
    *out = NULL;
    return rc;
}

/* ---- resolving -------------------------------------------------------------*/
typedef struct amqp_msg {
    char *url, *exchange, *routing_key, *body, *timeout;
    char **hkeys, **hvals;
    size_t n_headers;
    char *props[N_PROPS];
} amqp_msg;

static void msg_free(amqp_msg *m)
{
    free(m->url);
    free(m->exchange);
    free(m->routing_key);
    free(m->body);
    free(m->timeout);
    for (size_t i = 0; i < m->n_headers; i++) {
        free(m->hkeys[i]);
        free(m->hvals[i]);
    }
    free(m->hkeys);
    free(m->hvals);
    for (int i = 0; i < N_PROPS; i++)
        free(m->props[i]);
}

static int too_long(tbt_error *err, const tbt_field *f, const char *what, const char *v, size_t max)
{
    tbt_error_set(err, -EINVAL, "amqp trigger: %s is %zu bytes long, AMQP allows at most %zu: \"%.40s...\"", what,
                  strlen(v), max, v);
    tbt_error_at(err, &f->loc, f->s, 0);
    return -EINVAL;
}

static int msg_resolve(const amqp_cfg *c, const tbt_trigger_ctx *ctx, amqp_msg *m, tbt_error *err)
{
    int rc;
    if ((rc = tbt_trigger_resolve(&c->url, ctx, &m->url, err)) ||
        (rc = tbt_trigger_resolve(&c->exchange, ctx, &m->exchange, err)) ||
        (rc = tbt_trigger_resolve(&c->routing_key, ctx, &m->routing_key, err)) ||
        (rc = tbt_trigger_resolve(&c->body, ctx, &m->body, err)) ||
        (rc = tbt_trigger_resolve(&c->timeout, ctx, &m->timeout, err)))
        return rc;
    if (!m->exchange)
        m->exchange = tbt_xstrdup("");
    if (!m->routing_key)
        m->routing_key = tbt_xstrdup("");
    if (strlen(m->exchange) > AMQP_SHORTSTR_MAX)
        return too_long(err, &c->exchange, "the exchange name", m->exchange, AMQP_SHORTSTR_MAX);
    if (strlen(m->routing_key) > AMQP_SHORTSTR_MAX)
        return too_long(err, &c->routing_key, "the routing key", m->routing_key, AMQP_SHORTSTR_MAX);
    m->hkeys = tbt_xcalloc(c->n_headers + 1, sizeof(char *));
    m->hvals = tbt_xcalloc(c->n_headers + 1, sizeof(char *));
    for (size_t i = 0; i < c->n_headers; i++) {
        m->n_headers++;
        if ((rc = tbt_trigger_resolve(&c->headers[i].key, ctx, &m->hkeys[i], err)) ||
            (rc = tbt_trigger_resolve(&c->headers[i].value, ctx, &m->hvals[i], err)))
            return rc;
        if (!m->hvals[i])
            m->hvals[i] = tbt_xstrdup("");
        if (!*m->hkeys[i]) {
            tbt_error_set(err, -EINVAL, "amqp trigger: a header key resolved to the empty string");
            tbt_error_at(err, &c->headers[i].key.loc, c->headers[i].key.s, 0);
            return -EINVAL;
        }
        if (strlen(m->hkeys[i]) > AMQP_HEADER_KEY_MAX)
            return too_long(err, &c->headers[i].key, "a header key", m->hkeys[i], AMQP_HEADER_KEY_MAX);
    }
    for (int i = 0; i < N_PROPS; i++) {
        if ((rc = tbt_trigger_resolve(&c->props[i], ctx, &m->props[i], err)))
            return rc;
        uint8_t u8;
        const char *want;
        if (m->props[i] && (want = prop_invalid(i, m->props[i], &u8)) != NULL)
            return bad_prop(err, i, &c->props[i], m->props[i], want);
    }
    return 0;
}

/* ---- the deadline guard ----------------------------------------------------*/
/* rabbitmq-c sends method and content frames with no deadline; a broker that
 * stops reading (a memory or disk alarm blocks publishers) would hold the
 * publish forever. The guard shuts the socket down at the deadline, which
 * makes any pending poll in the library return. It holds its own dup of the
 * descriptor, so the socket cannot be closed and its number reused while the
 * guard may still act on it. */
typedef struct guard {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int fd;
    struct timespec deadline; /* CLOCK_MONOTONIC */
    bool stop, running;
} guard;

static void *guard_main(void *p)
{
    guard *g = p;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        if (pthread_cond_timedwait(&g->cv, &g->mu, &g->deadline) == ETIMEDOUT && !g->stop) {
            shutdown(g->fd, SHUT_RDWR);
            break;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

static void guard_start(guard *g, int sockfd, uint64_t deadline_mono_ns)
{
    memset(g, 0, sizeof(*g));
    g->fd = sockfd >= 0 ? fcntl(sockfd, F_DUPFD_CLOEXEC, 0) : -1;
    if (g->fd < 0)
        return;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&g->mu, NULL);
    g->deadline.tv_sec = (time_t)(deadline_mono_ns / 1000000000ull);
    g->deadline.tv_nsec = (long)(deadline_mono_ns % 1000000000ull);
    if (pthread_create(&g->th, NULL, guard_main, g) == 0) {
        g->running = true;
        return;
    }
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    close(g->fd);
    g->fd = -1;
}

/* Stops the guard (a no-op when it never started, or twice). */
static void guard_stop(guard *g)
{
    if (!g->running) {
        if (g->fd >= 0)
            close(g->fd);
        g->fd = -1;
        return;
    }
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->th, NULL);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    close(g->fd);
    g->fd = -1;
    g->running = false;
}

/* ---- firing ----------------------------------------------------------------*/
typedef struct session {
    amqp_connection_state_t conn;
    const char *host, *user, *vhost, *exchange, *routing_key;
    int port;
    uint64_t deadline;   /* monotonic ns */
    uint64_t timeout_ns; /* for messages */
    bool logged_in;      /* the connection is open and ours to close */
    bool channel_open;
} session;

static const char *tls_cafile(void)
{
    const char *env = getenv("SSL_CERT_FILE");
    if (env && *env)
        return env;
    static const char *const bundles[] = {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                                          "/etc/ssl/cert.pem", "/etc/ssl/ca-bundle.pem"};
    for (size_t i = 0; i < TBT_ARRAY_LEN(bundles); i++)
        if (access(bundles[i], R_OK) == 0)
            return bundles[i];
    return NULL;
}

static struct timeval remaining_tv(const session *s)
{
    uint64_t now = tbt_now_mono_ns();
    uint64_t left = s->deadline > now ? s->deadline - now : 0;
    if (left < 1000000)
        left = 1000000; /* 1 ms: rabbitmq-c reads a zero timeval as "poll once" */
    struct timeval tv = {(time_t)(left / 1000000000ull), (suseconds_t)((left % 1000000000ull) / 1000)};
    return tv;
}

static bool past_deadline(const session *s)
{
    return tbt_now_mono_ns() >= s->deadline;
}

static const char *exchange_desc(const char *ex, char *buf, size_t cap)
{
    if (!*ex)
        return "the default exchange";
    snprintf(buf, cap, "exchange '%s'", ex);
    return buf;
}

static int timed_out(tbt_error *err, const session *s, const char *stage)
{
    char d[32];
    tbt_format_duration((int64_t)s->timeout_ns, d, sizeof(d));
    return tbt_error_set(err, -ETIMEDOUT, "amqp trigger: %s:%d did not %s within the trigger's timeout (%s)",
                         s->host, s->port, stage, d);
}

/* Why a TCP connect to host:port fails, asked once more with our own
 * socket: rabbitmq-c reports every refusal as a bare socket error. Returns
 * an errno, 0 when the connect now succeeds. */
static int connect_errno(const char *host, int port, int timeout_ms)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0 || !res)
        return EHOSTUNREACH;
    int e = ECONNREFUSED;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            e = 0;
        } else if (errno != EINPROGRESS) {
            e = errno;
        } else {
            struct pollfd pfd = {fd, POLLOUT, 0};
            int pr = poll(&pfd, 1, timeout_ms);
            socklen_t l = sizeof(e);
            if (pr == 0)
                e = ETIMEDOUT;
            else if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) != 0)
                e = errno;
        }
        close(fd);
        if (e == 0)
            break;
    }
    freeaddrinfo(res);
    return e;
}

static bool is_local(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

static int explain_open(int status, const session *s, bool ssl, tbt_error *err)
{
    switch (status) {
    case AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED:
        return tbt_error_set(err, -EHOSTUNREACH, "amqp trigger: the host '%s' did not resolve", s->host);
    case AMQP_STATUS_TIMEOUT:
        return timed_out(err, s, "accept a connection");
    case AMQP_STATUS_SSL_CONNECTION_FAILED:
        return tbt_error_set(err, -EPROTO,
                             "amqp trigger: the TLS handshake with %s:%d failed: is it a TLS (amqps) port? "
                             "(RabbitMQ's usual ports: 5672 plain, 5671 TLS)",
                             s->host, s->port);
    case AMQP_STATUS_SSL_PEER_VERIFY_FAILED:
        return tbt_error_set(err, -EPROTO,
                             "amqp trigger: the certificate of %s:%d is not trusted (for a self-signed certificate "
                             "set sslVerification: false; SSL_CERT_FILE names another CA bundle)",
                             s->host, s->port);
    case AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED:
        return tbt_error_set(err, -EPROTO,
                             "amqp trigger: the certificate of %s:%d is not valid for the name '%s' "
                             "(sslVerification: false skips the check)",
                             s->host, s->port, s->host);
    case AMQP_STATUS_SOCKET_ERROR:
    case AMQP_STATUS_TCP_ERROR: {
        /* asked within what is left of the budget, at most a second */
        uint64_t now = tbt_now_mono_ns(), left_ms = s->deadline > now ? (s->deadline - now) / 1000000 : 0;
        int e = connect_errno(s->host, s->port, (int)(left_ms < 1000 ? (left_ms ? left_ms : 1) : 1000));
        if (e == ECONNREFUSED || e == 0)
            return tbt_error_set(err, -ECONNREFUSED,
                                 "amqp trigger: nothing answered at %s:%d (connection refused)%s", s->host, s->port,
                                 is_local(s->host) ? "; the broker is localhost: is RabbitMQ running on this machine, "
                                                     "on that port? (In a cluster, localhost is the agent's own pod.)"
                                                   : "");
        return tbt_error_set(err, -e, "amqp trigger: could not connect to %s:%d (%s)", s->host, s->port, strerror(e));
    }
    default:
        return tbt_error_set(err, -EIO, "amqp trigger: could not %s %s:%d: %s", ssl ? "open TLS to" : "connect to",
                             s->host, s->port, amqp_error_string2(status));
    }
}

static char *bytes_str(amqp_bytes_t b)
{
    return tbt_xstrndup(b.bytes ? (const char *)b.bytes : "", b.len);
}

/* The broker closed the connection (channel 0): acknowledge, and say why. */
static int explain_connection_close(session *s, const amqp_connection_close_t *m, bool at_login, tbt_error *err)
{
    amqp_connection_close_ok_t ok = {0};
    amqp_send_method(s->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    s->logged_in = false;
    s->channel_open = false;
    char *text = bytes_str(m->reply_text);
    int rc;
    if (m->reply_code == AMQP_ACCESS_REFUSED && at_login)
        rc = tbt_error_set(err, -EACCES,
                           "amqp trigger: login refused for user '%s' on vhost '%s': check the credentials (%s)",
                           s->user, s->vhost, text);
    else if (m->reply_code == AMQP_NOT_ALLOWED && at_login)
        rc = tbt_error_set(err, -EACCES,
                           "amqp trigger: vhost '%s' does not exist on %s:%d or user '%s' may not use it (%s)",
                           s->vhost, s->host, s->port, s->user, text);
    else
        rc = tbt_error_set(err, -EIO, "amqp trigger: the broker at %s:%d closed the connection: %u %s", s->host,
                           s->port, (unsigned)m->reply_code, text);
    free(text);
    return rc;
}

/* The broker closed our channel: acknowledge, and say why. */
static int explain_channel_close(session *s, const amqp_channel_close_t *m, tbt_error *err)
{
    amqp_channel_close_ok_t ok = {0};
    amqp_send_method(s->conn, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    s->channel_open = false;
    char *text = bytes_str(m->reply_text);
    char eb[300];
    const char *ex = exchange_desc(s->exchange, eb, sizeof(eb));
    int rc;
    if (m->reply_code == AMQP_NOT_FOUND && *s->exchange)
        rc = tbt_error_set(err, -ENOENT, "amqp trigger: exchange '%s' does not exist in vhost '%s' (%s)", s->exchange,
                           s->vhost, text);
    else if (m->reply_code == AMQP_ACCESS_REFUSED)
        rc = tbt_error_set(err, -EACCES, "amqp trigger: user '%s' may not publish to %s in vhost '%s' (%s)", s->user,
                           ex, s->vhost, text);
    else if (m->reply_code == AMQP_PRECONDITION_FAILED)
        rc = tbt_error_set(err, -EINVAL, "amqp trigger: the broker refused the message: %s", text);
    else
        rc = tbt_error_set(err, -EIO, "amqp trigger: the broker closed the channel while publishing to %s: %u %s", ex,
                           (unsigned)m->reply_code, text);
    free(text);
    return rc;
}

/* A failed rabbitmq-c RPC (login, channel.open, confirm.select). */
static int explain_reply(session *s, amqp_rpc_reply_t r, const char *what, bool at_login, tbt_error *err)
{
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) {
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
            return explain_connection_close(s, r.reply.decoded, at_login, err);
        if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
            return explain_channel_close(s, r.reply.decoded, err);
        return tbt_error_set(err, -EPROTO, "amqp trigger: unexpected answer to %s from %s:%d (method 0x%08x)", what,
                             s->host, s->port, (unsigned)r.reply.id);
    }
    s->logged_in = false; /* the library closed the socket */
    int le = r.library_error;
    if (le == AMQP_STATUS_TIMEOUT || (le != AMQP_STATUS_OK && past_deadline(s)))
        return timed_out(err, s, at_login ? "complete the AMQP handshake (is it an AMQP 0-9-1 broker?)" : what);
    if (at_login && (le == AMQP_STATUS_CONNECTION_CLOSED || le == AMQP_STATUS_SOCKET_ERROR ||
                     le == AMQP_STATUS_SOCKET_CLOSED))
        /* brokers without authentication_failure_close just hang up */
        return tbt_error_set(err, -EACCES,
                             "amqp trigger: %s:%d hung up during login: is it an AMQP 0-9-1 broker, and are user '%s' "
                             "and its password right for vhost '%s'? (%s)",
                             s->host, s->port, s->user, s->vhost, amqp_error_string2(le));
    if (le == AMQP_STATUS_INCOMPATIBLE_AMQP_VERSION)
        return tbt_error_set(err, -EPROTO, "amqp trigger: %s:%d does not speak AMQP 0-9-1", s->host, s->port);
    if (le == AMQP_STATUS_BROKER_UNSUPPORTED_SASL_METHOD)
        return tbt_error_set(err, -EPROTO, "amqp trigger: %s:%d does not accept PLAIN logins", s->host, s->port);
    return tbt_error_set(err, -EIO, "amqp trigger: %s with %s:%d failed: %s", what, s->host, s->port,
                         amqp_error_string2(le));
}

static void table_entry(amqp_table_entry_t *e, const char *k, const char *v)
{
    e->key = amqp_cstring_bytes(k);
    e->value.kind = AMQP_FIELD_KIND_UTF8;
    e->value.value.bytes = amqp_cstring_bytes(v);
}

static void json_header(tbt_buf *b, const char *k, const char *v)
{
    tbt_buf_puts(b, b->len > 1 ? ",{\"Key\":" : "{\"Key\":");
    tbt_buf_json_str(b, k, strlen(k));
    tbt_buf_puts(b, ",\"Value\":");
    tbt_buf_json_str(b, v, strlen(v));
    tbt_buf_putc(b, '}');
}

/* Waits for the broker's verdict on delivery tag 1. */
static int wait_confirm(session *s, bool mandatory, tbt_error *err)
{
    char *returned = NULL; /* basic.return seen: the reply text */
    int rc = 0;
    for (;;) {
        amqp_frame_t f;
        struct timeval tv = remaining_tv(s);
        int st = past_deadline(s) ? AMQP_STATUS_TIMEOUT : amqp_simple_wait_frame_noblock(s->conn, &f, &tv);
        if (st == AMQP_STATUS_TIMEOUT || (st != AMQP_STATUS_OK && past_deadline(s))) {
            s->logged_in = s->channel_open = false;
            rc = timed_out(err, s, "confirm the message (no basic.ack)");
            break;
        }
        if (st != AMQP_STATUS_OK) {
            s->logged_in = s->channel_open = false;
            rc = tbt_error_set(err, -EIO, "amqp trigger: lost the connection to %s:%d waiting for the confirm: %s",
                               s->host, s->port, amqp_error_string2(st));
            break;
        }
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue; /* the returned message's header and body */
        amqp_method_number_t id = f.payload.method.id;
        void *d = f.payload.method.decoded;
        if (f.channel == 0 && id == AMQP_CONNECTION_CLOSE_METHOD) {
            rc = explain_connection_close(s, d, false, err);
            break;
        }
        if (f.channel != 1)
            continue;
        if (id == AMQP_CHANNEL_CLOSE_METHOD) {
            rc = explain_channel_close(s, d, err);
            break;
        }
        if (id == AMQP_BASIC_RETURN_METHOD) {
            /* the broker sends the ack right after the return */
            const amqp_basic_return_t *r = d;
            free(returned);
            returned = bytes_str(r->reply_text);
            continue;
        }
        if (id == AMQP_BASIC_NACK_METHOD) {
            rc = tbt_error_set(err, -EIO,
                               "amqp trigger: the broker refused the message (basic.nack): a queue it routes to may "
                               "be full with overflow reject-publish, or the broker failed to store it");
            break;
        }
        if (id == AMQP_BASIC_ACK_METHOD) {
            if (returned && mandatory) {
                char eb[300];
                if (*s->exchange)
                    rc = tbt_error_set(err, -ENOENT,
                                       "amqp trigger: no queue is bound for routing key '%s' on %s (%s; mandatory: "
                                       "true)",
                                       s->routing_key, exchange_desc(s->exchange, eb, sizeof(eb)), returned);
                else
                    rc = tbt_error_set(err, -ENOENT,
                                       "amqp trigger: no queue is bound for routing key '%s' on the default exchange: "
                                       "it routes to the queue of that name, and vhost '%s' has none (%s; mandatory: "
                                       "true)",
                                       s->routing_key, s->vhost, returned);
            }
            break;
        }
    }
    free(returned);
    return rc;
}

static int amqp_fire(const void *p, const tbt_trigger_ctx *ctx, tbt_trigger_response *resp, tbt_error *err)
{
    const amqp_cfg *c = p;
    amqp_msg m = {0};
    session s = {0};
    char *url = NULL;
    amqp_table_entry_t *entries = NULL;
    guard g = {.fd = -1};
    tbt_buf hj = TBT_BUF_INIT;
    struct amqp_connection_info ci;
    struct timeval tv;
    int rc, st;
    resp->start_unix_ns = tbt_now_unix_ns();
    if ((rc = msg_resolve(c, ctx, &m, err)))
        goto out;

    /* the overall budget: the block's timeout, capped by the run's */
    uint64_t timeout_ns = AMQP_DEFAULT_TIMEOUT_NS;
    if (m.timeout && parse_timeout(m.timeout, &timeout_ns) != 0) {
        rc = tbt_error_set(err, -EINVAL, "amqp.timeout must be a positive duration such as 5s or 500ms, found \"%s\"",
                           m.timeout);
        tbt_error_at(err, &c->timeout.loc, c->timeout.s, 0);
        goto out;
    }
    if (ctx->timeout_ns && ctx->timeout_ns < timeout_ns)
        timeout_ns = ctx->timeout_ns;
    s.timeout_ns = timeout_ns;
    s.deadline = tbt_now_mono_ns() + timeout_ns;

    url = tbt_xstrdup(m.url);
    amqp_default_connection_info(&ci);
    if (amqp_parse_url(url, &ci) != AMQP_STATUS_OK) {
        rc = tbt_error_set(err, -EINVAL,
                           "amqp trigger: invalid url '%s': expected amqp://user:password@host:port/vhost or amqps://... "
                           "(percent-encode '/' in a vhost as %%2F; no query parameters)",
                           m.url);
        tbt_error_at(err, &c->url.loc, c->url.s, 0);
        goto out;
    }
    /* "amqp://host/" names the vhost "" to rabbitmq-c; every user means "/" */
    s.vhost = ci.vhost && *ci.vhost ? ci.vhost : "/";
    s.host = ci.host;
    s.port = ci.port;
    s.user = ci.user;
    s.exchange = m.exchange;
    s.routing_key = m.routing_key;

    s.conn = amqp_new_connection();
    if (!s.conn) {
        rc = tbt_error_set(err, -ENOMEM, "amqp trigger: out of memory");
        goto out;
    }
    amqp_socket_t *sock = ci.ssl ? amqp_ssl_socket_new(s.conn) : amqp_tcp_socket_new(s.conn);
    if (!sock) {
        rc = tbt_error_set(err, -EIO, "amqp trigger: could not create a%s socket", ci.ssl ? " TLS" : "");
        goto out;
    }
    if (ci.ssl) {
        amqp_ssl_socket_set_verify_peer(sock, c->ssl_verify);
        amqp_ssl_socket_set_verify_hostname(sock, c->ssl_verify);
        const char *ca = c->ssl_verify ? tls_cafile() : NULL;
        if (ca && amqp_ssl_socket_set_cacert(sock, ca) != AMQP_STATUS_OK) {
            rc = tbt_error_set(err, -EIO, "amqp trigger: could not load the CA bundle %s", ca);
            goto out;
        }
    }
    tv = remaining_tv(&s);
    st = amqp_socket_open_noblock(sock, s.host, s.port, &tv);
    if (st != AMQP_STATUS_OK) {
        rc = explain_open(st, &s, ci.ssl, err);
        goto out;
    }
    guard_start(&g, amqp_get_sockfd(s.conn), s.deadline);

    tv = remaining_tv(&s);
    amqp_set_handshake_timeout(s.conn, &tv);
    amqp_rpc_reply_t r = amqp_login(s.conn, s.vhost, 0, AMQP_FRAME_MAX, 0, AMQP_SASL_METHOD_PLAIN, ci.user, ci.password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        rc = explain_reply(&s, r, "login", true, err);
        goto out;
    }
    s.logged_in = true;
    tv = remaining_tv(&s);
    amqp_set_rpc_timeout(s.conn, &tv);
    if (!amqp_channel_open(s.conn, 1)) {
        rc = explain_reply(&s, amqp_get_rpc_reply(s.conn), "opening a channel", false, err);
        goto out;
    }
    s.channel_open = true;
    tv = remaining_tv(&s);
    amqp_set_rpc_timeout(s.conn, &tv);
    if (!amqp_confirm_select(s.conn, 1)) {
        rc = explain_reply(&s, amqp_get_rpc_reply(s.conn), "enabling publisher confirms", false, err);
        goto out;
    }

    /* headers: the run's trace context, then the user's (a user's
     * traceparent/tracestate is replaced: the run waits for its own trace) */
    const char *tp = ctx->traceparent ? ctx->traceparent : "";
    const char *ts = ctx->tracestate ? ctx->tracestate : "tracetest=true";
    entries = tbt_xcalloc(m.n_headers + 2, sizeof(*entries));
    int n = 0;
    tbt_buf_putc(&hj, '[');
    table_entry(&entries[n++], "traceparent", tp);
    json_header(&hj, "traceparent", tp);
    table_entry(&entries[n++], "tracestate", ts);
    json_header(&hj, "tracestate", ts);
    for (size_t i = 0; i < m.n_headers; i++) {
        if (strcasecmp(m.hkeys[i], "traceparent") == 0 || strcasecmp(m.hkeys[i], "tracestate") == 0)
            continue;
        table_entry(&entries[n++], m.hkeys[i], m.hvals[i]);
        json_header(&hj, m.hkeys[i], m.hvals[i]);
    }
    tbt_buf_putc(&hj, ']');

    amqp_basic_properties_t props;
    memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_HEADERS_FLAG;
    props.headers.num_entries = n;
    props.headers.entries = entries;
    for (int i = 0; i < N_PROPS; i++) {
        if (!m.props[i])
            continue;
        props._flags |= prop_defs[i].flag;
        uint8_t u8 = 0;
        prop_invalid(i, m.props[i], &u8); /* validated in msg_resolve */
        if (i == P_DELIVERY_MODE)
            props.delivery_mode = u8;
        else if (i == P_PRIORITY)
            props.priority = u8;
        else
            *(amqp_bytes_t *)(void *)((char *)&props + prop_defs[i].off) = amqp_cstring_bytes(m.props[i]);
    }
    const char *body = m.body ? m.body : "";
    amqp_bytes_t body_bytes = {strlen(body), (void *)(uintptr_t)body};
    st = amqp_basic_publish(s.conn, 1, amqp_cstring_bytes(m.exchange), amqp_cstring_bytes(m.routing_key),
                            c->mandatory, 0, &props, body_bytes);
    if (st != AMQP_STATUS_OK) {
        s.logged_in = s.channel_open = false;
        if (past_deadline(&s))
            rc = timed_out(err, &s, "take the message");
        else
            rc = tbt_error_set(err, -EIO, "amqp trigger: publishing to %s:%d failed: %s", s.host, s.port,
                               amqp_error_string2(st));
        goto out;
    }
    if ((rc = wait_confirm(&s, c->mandatory, err)))
        goto out;

    resp->status = tbt_xstrdup("ack");
    resp->status_code = 0;
    resp->body_len = strlen(body);
    resp->body = tbt_xstrdup(body);
    resp->headers_json = tbt_buf_steal(&hj);
    tbt_trigger_response_extra(resp, "amqp.confirm", "ack");
    tbt_trigger_response_extra(resp, "amqp.exchange", m.exchange);
    tbt_trigger_response_extra(resp, "amqp.routing_key", m.routing_key);
    tbt_trigger_response_extra(resp, "amqp.delivery_tag", "1");
    rc = 0;
out:
    if (s.conn) {
        /* a polite close, bounded by what is left (and by the guard) */
        if (!past_deadline(&s)) {
            tv = remaining_tv(&s);
            amqp_set_rpc_timeout(s.conn, &tv);
            if (s.channel_open)
                amqp_channel_close(s.conn, 1, AMQP_REPLY_SUCCESS);
            if (s.logged_in)
                amqp_connection_close(s.conn, AMQP_REPLY_SUCCESS);
        }
        guard_stop(&g);
        amqp_destroy_connection(s.conn);
    }
    resp->end_unix_ns = tbt_now_unix_ns();
    tbt_buf_free(&hj);
    free(entries);
    free(url);
    msg_free(&m);
    return rc;
}

const tbt_trigger_kind tbt_trigger_amqp = {"amqp", "amqp", amqp_parse, amqp_fire, amqp_destroy};
