/* tbt_metrics_http.c - GET /metrics and /healthz over libmicrohttpd, and
 * the agent-side families (receivers, store). */
#include "tbt_metrics_http.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define METRICS_CONN_LIMIT 64u
#define METRICS_CONN_TIMEOUT_S 10u

struct tbt_metrics_http {
    tbt_metrics *m;
    struct MHD_Daemon *daemon;
    uint16_t port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype, const char *body,
                             size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Three calls per request, as MHD makes them: the headers (remembered),
 * body pieces (thrown away: no path here takes a body), the end (the
 * reply), so that a keep-alive connection survives a refused POST. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    tbt_metrics_http *h = cls;
    (void)version;
    (void)upload_data;
    static int seen;
    if (!*con_cls) {
        *con_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    bool metrics = strcmp(url, "/metrics") == 0, health = strcmp(url, "/healthz") == 0;
    if (!metrics && !health)
        return reply(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", "not found\n", 10);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "method not allowed\n", 19);
    if (health)
        return reply(c, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n", 3);
    tbt_buf b = TBT_BUF_INIT;
    tbt_metrics_expose(h->m, &b);
    enum MHD_Result rc = reply(c, MHD_HTTP_OK, TBT_METRICS_CONTENT_TYPE, tbt_buf_cstr(&b), b.len);
    tbt_buf_free(&b);
    return rc;
}

int tbt_metrics_http_start(tbt_metrics *m, const char *bind_addr, uint16_t port, tbt_metrics_http **out,
                           tbt_error *err)
{
    *out = NULL;
    if (!bind_addr || !*bind_addr)
        bind_addr = "127.0.0.1";
    struct sockaddr_storage sa;
    bool ipv6;
    int rc = tbt_http_bind_addr("metrics endpoint", bind_addr, port, &sa, &ipv6, err);
    if (rc)
        return rc;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | (ipv6 ? MHD_USE_IPv6 : 0);
    tbt_metrics_http *h = tbt_xcalloc(1, sizeof(*h));
    h->m = m;
    errno = 0;
    h->daemon = MHD_start_daemon(flags, port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_CONNECTION_LIMIT, METRICS_CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
                                 METRICS_CONN_TIMEOUT_S, MHD_OPTION_END);
    if (!h->daemon) {
        int e = errno ? errno : EIO;
        free(h);
        return tbt_error_set(err, -e, "metrics endpoint: cannot listen on %s port %u: %s", bind_addr, (unsigned)port,
                             strerror(e));
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : port;
    *out = h;
    return 0;
}

uint16_t tbt_metrics_http_port(const tbt_metrics_http *h)
{
    return h ? h->port : 0;
}

void tbt_metrics_http_stop(tbt_metrics_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}

/* ---- the receivers' families ------------------------------------------------------ */
void tbt_receiver_metrics_init(tbt_receiver_metrics *rm, tbt_metrics *m, const char *receiver)
{
    memset(rm, 0, sizeof(*rm));
    if (!m)
        return;
    static const char *const l_recv[] = {"receiver", NULL};
    static const char *const l_reason[] = {"receiver", "reason", NULL};
    tbt_metric_family *ingested = tbt_metrics_family(
        m, TBT_METRIC_COUNTER, "tbt_spans_ingested_total",
        "Spans stored in the trace store, by the receiver they came through (relay: from another agent over Kafka).",
        l_recv, NULL, 0);
    tbt_metric_family *rejected = tbt_metrics_family(
        m, TBT_METRIC_COUNTER, "tbt_spans_rejected_total",
        "Spans refused inside an accepted request (OTLP partial success: invalid ids, or the trace is over the "
        "store's spans per trace).",
        l_reason, NULL, 0);
    tbt_metric_family *refused = tbt_metrics_family(
        m, TBT_METRIC_COUNTER, "tbt_otlp_requests_rejected_total",
        "OTLP export requests refused whole (their spans are not counted: a refused request is not decoded): "
        "full = the store is full (503/UNAVAILABLE), malformed (400/INVALID_ARGUMENT), too_large "
        "(413/RESOURCE_EXHAUSTED), unsupported (404, 405, 415).",
        l_reason, NULL, 0);
    const char *v[] = {receiver, NULL};
    rm->spans = tbt_metrics_counter(ingested, v);
    v[1] = "partial";
    rm->spans_partial = tbt_metrics_counter(rejected, v);
    v[1] = "full";
    rm->full = tbt_metrics_counter(refused, v);
    v[1] = "malformed";
    rm->malformed = tbt_metrics_counter(refused, v);
    v[1] = "too_large";
    rm->too_large = tbt_metrics_counter(refused, v);
    if (strcmp(receiver, "relay") != 0) {
        v[1] = "unsupported";
        rm->unsupported = tbt_metrics_counter(refused, v);
    }
}

/* ---- the store, read at scrape time -------------------------------------------------- */
enum { S_BYTES, S_SPANS, S_TRACES, S_WATCHED, S_EVICTED, S_N };

static double store_figure(tbt_store *s, int which)
{
    tbt_store_figures st;
    tbt_store_stats(s, &st);
    switch (which) {
    case S_BYTES: return (double)st.bytes;
    case S_SPANS: return (double)st.spans;
    case S_TRACES: return (double)st.traces;
    case S_WATCHED: return (double)st.watched;
    default: return (double)st.evicted_traces;
    }
}

static void c_bytes(void *ud, tbt_metric_sink *k) { tbt_metric_sink_add(k, NULL, store_figure(ud, S_BYTES)); }
static void c_spans(void *ud, tbt_metric_sink *k) { tbt_metric_sink_add(k, NULL, store_figure(ud, S_SPANS)); }
static void c_traces(void *ud, tbt_metric_sink *k) { tbt_metric_sink_add(k, NULL, store_figure(ud, S_TRACES)); }
static void c_watched(void *ud, tbt_metric_sink *k) { tbt_metric_sink_add(k, NULL, store_figure(ud, S_WATCHED)); }
static void c_evicted(void *ud, tbt_metric_sink *k) { tbt_metric_sink_add(k, NULL, store_figure(ud, S_EVICTED)); }

static const struct {
    tbt_metric_type type;
    const char *name, *help;
    tbt_metric_collect_fn fn;
} store_families[S_N] = {
    {TBT_METRIC_GAUGE, "tbt_store_bytes", "Bytes of decoded spans the trace store holds.", c_bytes},
    {TBT_METRIC_GAUGE, "tbt_store_spans", "Spans the trace store holds.", c_spans},
    {TBT_METRIC_GAUGE, "tbt_store_traces", "Traces the trace store holds (watched or retained).", c_traces},
    {TBT_METRIC_GAUGE, "tbt_store_watched_traces", "Traces a running job is waiting on.", c_watched},
    {TBT_METRIC_COUNTER, "tbt_store_evicted_traces_total",
     "Unwatched traces evicted to make room for new spans (retention expiry not counted).", c_evicted},
};

void tbt_metrics_store_register(tbt_metrics *m, tbt_store *s, const tbt_store_limits *lim)
{
    if (!m || !s)
        return;
    for (int i = 0; i < S_N; i++)
        tbt_metrics_collector_add(tbt_metrics_family(m, store_families[i].type, store_families[i].name,
                                                     store_families[i].help, NULL, NULL, 0),
                                  store_families[i].fn, s);
    tbt_metric_family *f = tbt_metrics_family(m, TBT_METRIC_GAUGE, "tbt_store_limit_bytes",
                                              "The trace store's bound on decoded span bytes.", NULL, NULL, 0);
    tbt_store_limits d = tbt_store_default_limits();
    tbt_gauge_set(tbt_metrics_gauge(f, NULL), (double)(lim && lim->max_bytes ? lim->max_bytes : d.max_bytes));
}

void tbt_metrics_store_unregister(tbt_metrics *m, tbt_store *s)
{
    if (!m || !s)
        return;
    for (int i = 0; i < S_N; i++)
        tbt_metrics_collector_remove(tbt_metrics_family(m, store_families[i].type, store_families[i].name,
                                                        store_families[i].help, NULL, NULL, 0),
                                     store_families[i].fn, s);
}
