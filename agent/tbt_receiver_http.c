/*
 * tbt_receiver_http.c - OTLP/HTTP receiver: POST /v1/traces over HTTP/1.1
 * (libmicrohttpd, internal epoll thread pool, keep-alive), protobuf or JSON,
 * optionally gzip-compressed, handed to tbt_store_ingest.
 *
 * Threads: the access handler runs on MHD's pool threads, several requests at
 * once. Everything a request needs lives in its http_req (MHD's con_cls);
 * the receiver itself is read-only after start except for the atomic
 * counters. tbt_store is thread-safe.
 *
 * A request passes through three calls of the access handler:
 *  1. headers received (*con_cls == NULL): route, content type, encoding and
 *     Content-Length are checked. A declared length over the limit is
 *     answered 413 at once (a client that sent Expect: 100-continue never
 *     sends the body). Other refusals (404/405/415) are remembered and
 *     answered after the body has been drained, so a keep-alive connection
 *     survives them.
 *  2. body pieces: appended to a buffer bounded by max_body_bytes; past the
 *     bound the buffer is dropped and the rest drained without being kept
 *     (MHD cannot queue a reply while upload data is pending). Draining
 *     stops, and the connection is closed, after another max_body_bytes.
 *     All connections together buffer at most HTTP_INFLIGHT_FACTOR times
 *     max_body_bytes; a request that would go past that is answered 503.
 *  3. end of body (*upload_data_size == 0): gunzip (bounded), ingest, reply.
 */
#include "tbt_receiver.h"

#include "tbt_gzip.h"
#include "tbt_metrics.h"

#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define HTTP_DEFAULT_PORT 4318
#define HTTP_DEFAULT_MAX_BODY ((size_t)16 << 20)
#define HTTP_DEFAULT_THREADS 2u
#define HTTP_MAX_THREADS 256u
#define HTTP_CONN_LIMIT 1024u
#define HTTP_CONN_TIMEOUT_S 30u
/* Per-connection pool (headers + read buffer); also the size of the body
 * pieces MHD hands to the access handler. */
#define HTTP_CONN_MEMORY ((size_t)64 << 10)
/* Request bodies buffered by all connections together, in max_body units. */
#define HTTP_INFLIGHT_FACTOR 16u
/* A declared Content-Length is allocated up front only up to this much;
 * more is allocated as bytes actually arrive. */
#define HTTP_FIRST_ALLOC ((size_t)1 << 20)
/* Error messages sent back are cut to this many bytes. */
#define HTTP_MAX_MESSAGE 1024
#define TRACES_PATH "/v1/traces"

/* google.rpc.Code values used in Status bodies. */
enum {
    RPC_INVALID_ARGUMENT = 3,
    RPC_NOT_FOUND = 5,
    RPC_RESOURCE_EXHAUSTED = 8,
    RPC_UNIMPLEMENTED = 12,
    RPC_INTERNAL = 13,
    RPC_UNAVAILABLE = 14,
};

/* Content types the receiver speaks; CT_OTHER means answer in text/plain. */
typedef enum { CT_OTHER, CT_X_PROTOBUF, CT_PROTOBUF, CT_JSON } http_ctype;

static const char *const ctype_names[] = {
    [CT_OTHER] = "text/plain; charset=utf-8",
    [CT_X_PROTOBUF] = "application/x-protobuf",
    [CT_PROTOBUF] = "application/protobuf",
    [CT_JSON] = "application/json",
};

struct tbt_http_receiver {
    tbt_store *store;
    struct MHD_Daemon *daemon;
    size_t max_body;
    size_t inflight_max;         /* bound of inflight */
    _Atomic size_t inflight;     /* body buffer bytes held by all requests */
    uint16_t port;
    struct {
        _Atomic uint64_t requests, ok, partial, bad_request, too_large, busy, unsupported, bytes_in;
    } st;
    tbt_receiver_metrics m; /* /metrics (all NULL: none) */
};

/* One request (MHD's con_cls). Freed by on_completed. */
typedef struct http_req {
    tbt_http_receiver *r;
    http_ctype ctype;
    bool gzip;
    unsigned status;   /* a refusal decided before the body ended (0: none) */
    int rpc_code;      /* its google.rpc.Code */
    uint32_t retry_after_s; /* its Retry-After (0: none) */
    char *message;     /* its message (heap) */
    uint8_t *body;     /* raw (possibly compressed) body; NULL once refused */
    size_t len, cap;
    uint64_t drained;  /* bytes thrown away after a refusal */
} http_req;

static inline void count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---- response bodies ---------------------------------------------------- */

/* Error text as it goes on the wire: printable ASCII only (the message may
 * quote hostile input; protobuf strings must be UTF-8), bounded. */
static char *clean_message(const char *msg)
{
    if (!msg || !*msg)
        msg = "error";
    size_t n = strnlen(msg, HTTP_MAX_MESSAGE);
    char *out = tbt_xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)msg[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : (c == '\n' || c == '\t') ? ' ' : '?';
    }
    out[n] = '\0';
    return out;
}

static void pb_varint(tbt_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    tbt_buf_append(b, tmp, n);
}

static void pb_len_field(tbt_buf *b, unsigned field, const void *p, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    tbt_buf_append(b, p, n);
}

/* google.rpc.Status {code = 1, message = 2} in the request's encoding. */
static void status_body(tbt_buf *out, http_ctype ct, int code, const char *message)
{
    size_t mlen = strlen(message);
    switch (ct) {
    case CT_X_PROTOBUF:
    case CT_PROTOBUF:
        pb_varint(out, 1u << 3 | 0);
        pb_varint(out, (uint64_t)code);
        pb_len_field(out, 2, message, mlen);
        break;
    case CT_JSON:
        tbt_buf_printf(out, "{\"code\":%d,\"message\":", code);
        tbt_buf_json_str(out, message, mlen);
        tbt_buf_putc(out, '}');
        break;
    case CT_OTHER:
        tbt_buf_append(out, message, mlen);
        tbt_buf_putc(out, '\n');
        break;
    }
}

/* ExportTraceServiceResponse: empty for full success, else partial_success
 * (field 1) {rejected_spans = 1 (int64), error_message = 2}. */
static void export_body(tbt_buf *out, http_ctype ct, uint64_t rejected, const char *message)
{
    if (ct == CT_JSON) {
        if (rejected == 0) {
            tbt_buf_puts(out, "{}");
            return;
        }
        tbt_buf_printf(out, "{\"partialSuccess\":{\"rejectedSpans\":\"%llu\",\"errorMessage\":",
                       (unsigned long long)rejected);
        tbt_buf_json_str(out, message, strlen(message));
        tbt_buf_puts(out, "}}");
        return;
    }
    if (rejected == 0)
        return;
    tbt_buf inner = TBT_BUF_INIT;
    pb_varint(&inner, 1u << 3 | 0);
    pb_varint(&inner, rejected);
    pb_len_field(&inner, 2, message, strlen(message));
    pb_len_field(out, 1, inner.data, inner.len);
    tbt_buf_free(&inner);
}

/* ---- replies ------------------------------------------------------------ */

static enum MHD_Result send_reply(struct MHD_Connection *c, unsigned status, http_ctype ct, const tbt_buf *body,
                                  uint32_t retry_after_s)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(body->len, body->len ? body->data : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype_names[ct]);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, MHD_HTTP_METHOD_POST);
    if (retry_after_s) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%u", (unsigned)retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static void count_status(tbt_http_receiver *r, unsigned status)
{
    switch (status) {
    case MHD_HTTP_BAD_REQUEST: count(&r->st.bad_request, 1); tbt_counter_add(r->m.malformed, 1); break;
    case MHD_HTTP_CONTENT_TOO_LARGE: count(&r->st.too_large, 1); tbt_counter_add(r->m.too_large, 1); break;
    case MHD_HTTP_SERVICE_UNAVAILABLE: count(&r->st.busy, 1); tbt_counter_add(r->m.full, 1); break;
    case MHD_HTTP_NOT_FOUND:
    case MHD_HTTP_METHOD_NOT_ALLOWED:
    case MHD_HTTP_UNSUPPORTED_MEDIA_TYPE: count(&r->st.unsupported, 1); tbt_counter_add(r->m.unsupported, 1); break;
    default: break;
    }
}

/* An error reply with a Status body (text for unknown content types). */
static enum MHD_Result send_error(tbt_http_receiver *r, struct MHD_Connection *c, http_ctype ct, unsigned status,
                                  int rpc_code, const char *message, uint32_t retry_after_s)
{
    char *msg = clean_message(message);
    tbt_buf body = TBT_BUF_INIT;
    status_body(&body, ct, rpc_code, msg);
    count_status(r, status);
    enum MHD_Result rc = send_reply(c, status, ct, &body, retry_after_s);
    tbt_buf_free(&body);
    free(msg);
    return rc;
}

/* Free the body buffer and give its bytes back to the shared budget. */
static void body_drop(http_req *q)
{
    if (q->cap)
        atomic_fetch_sub_explicit(&q->r->inflight, q->cap, memory_order_relaxed);
    free(q->body);
    q->body = NULL;
    q->len = q->cap = 0;
}

/* Grow the body buffer to hold need bytes (need <= max_body). Returns false
 * when the receiver-wide budget has no room. */
static bool body_reserve(http_req *q, size_t need)
{
    tbt_http_receiver *r = q->r;
    if (need <= q->cap)
        return true;
    /* the first allocation is exact (a declared length, or the first
     * chunk); later ones double */
    size_t ncap = q->cap ? q->cap : need;
    while (ncap < need)
        ncap = ncap > r->max_body / 2 ? r->max_body : ncap * 2;
    if (ncap > r->max_body)
        ncap = r->max_body;
    size_t extra = ncap - q->cap;
    size_t before = atomic_fetch_add_explicit(&r->inflight, extra, memory_order_relaxed);
    if (before + extra > r->inflight_max) {
        atomic_fetch_sub_explicit(&r->inflight, extra, memory_order_relaxed);
        return false;
    }
    q->body = tbt_xrealloc(q->body, ncap);
    q->cap = ncap;
    return true;
}

/* Remember a refusal; it is sent once the body has been drained. */
static void refuse(http_req *q, unsigned status, int rpc_code, char *message)
{
    q->status = status;
    q->rpc_code = rpc_code;
    free(q->message);
    q->message = message;
    body_drop(q);
}

static void refuse_busy(http_req *q)
{
    refuse(q, MHD_HTTP_SERVICE_UNAVAILABLE, RPC_UNAVAILABLE,
           tbt_xasprintf("receiver busy: %zu bytes of request bodies in flight; retry later", q->r->inflight_max));
    q->retry_after_s = 1;
}

/* ---- header checks ------------------------------------------------------ */

/* Compare the media type of a header value (parameters and surrounding
 * blanks ignored, case-insensitive) with want. */
static bool media_is(const char *v, const char *want)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strcspn(v, ";");
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return n == strlen(want) && strncasecmp(v, want, n) == 0;
}

static http_ctype parse_ctype(const char *v)
{
    if (!v)
        return CT_OTHER;
    if (media_is(v, "application/x-protobuf"))
        return CT_X_PROTOBUF;
    if (media_is(v, "application/protobuf"))
        return CT_PROTOBUF;
    if (media_is(v, "application/json"))
        return CT_JSON;
    return CT_OTHER;
}

/* Check the request line and headers; may reply at once (413 on a declared
 * Content-Length over the limit). */
static enum MHD_Result req_begin(tbt_http_receiver *r, http_req *q, struct MHD_Connection *c, const char *url,
                                 const char *method)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *ce = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    q->ctype = parse_ctype(ct);

    if (!url || strcmp(url, TRACES_PATH) != 0) {
        refuse(q, MHD_HTTP_NOT_FOUND, RPC_NOT_FOUND, tbt_xstrdup("not found: only POST " TRACES_PATH " is served"));
    } else if (!method || strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        refuse(q, MHD_HTTP_METHOD_NOT_ALLOWED, RPC_UNIMPLEMENTED,
               tbt_xstrdup("method not allowed: use POST " TRACES_PATH));
    } else if (q->ctype == CT_OTHER) {
        char *m = clean_message(ct ? ct : "(none)");
        refuse(q, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, RPC_INVALID_ARGUMENT,
               tbt_xasprintf("unsupported content type %s: use application/x-protobuf, application/protobuf "
                             "or application/json",
                             m));
        free(m);
    } else if (ce && !media_is(ce, "identity") && !(media_is(ce, "gzip") || media_is(ce, "x-gzip"))) {
        char *m = clean_message(ce);
        refuse(q, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, RPC_INVALID_ARGUMENT,
               tbt_xasprintf("unsupported content encoding %s: use gzip or identity", m));
        free(m);
    } else {
        q->gzip = ce && (media_is(ce, "gzip") || media_is(ce, "x-gzip"));
    }

    /* MHD has validated Content-Length; it is absent for chunked bodies. */
    unsigned long long declared = 0;
    bool has_len = false;
    if (cl) {
        char *end = NULL;
        errno = 0;
        declared = strtoull(cl, &end, 10);
        has_len = errno == 0 && end != cl;
        if (errno == ERANGE) {
            declared = ULLONG_MAX;
            has_len = true;
        }
    }
    if (has_len && declared > r->max_body) {
        if (q->status) {
            /* not worth draining: refuse now, MHD closes the connection */
            unsigned st = q->status;
            q->status = 0;
            return send_error(r, c, q->ctype, st, q->rpc_code, q->message, q->retry_after_s);
        }
        char *m = tbt_xasprintf("request body of %llu bytes exceeds the %zu-byte limit", declared, r->max_body);
        enum MHD_Result rc = send_error(r, c, q->ctype, MHD_HTTP_CONTENT_TOO_LARGE, RPC_RESOURCE_EXHAUSTED, m, 0);
        free(m);
        return rc;
    }
    if (!q->status && has_len && declared > 0 &&
        !body_reserve(q, declared < HTTP_FIRST_ALLOC ? (size_t)declared : HTTP_FIRST_ALLOC))
        refuse_busy(q);
    return MHD_YES;
}

/* ---- body --------------------------------------------------------------- */

static enum MHD_Result req_body(tbt_http_receiver *r, http_req *q, const char *data, size_t n)
{
    count(&r->st.bytes_in, n);
    if (q->status) {
        q->drained += n;
        /* a refused body is read only so far; past that the client is
         * hanging up on nothing: close */
        return q->drained > r->max_body ? MHD_NO : MHD_YES;
    }
    if (n > r->max_body - q->len) {
        refuse(q, MHD_HTTP_CONTENT_TOO_LARGE, RPC_RESOURCE_EXHAUSTED,
               tbt_xasprintf("request body exceeds the %zu-byte limit", r->max_body));
        q->drained = n;
        return MHD_YES;
    }
    if (!body_reserve(q, q->len + n)) {
        refuse_busy(q);
        q->drained = n;
        return MHD_YES;
    }
    memcpy(q->body + q->len, data, n);
    q->len += n;
    return MHD_YES;
}

/* ---- end of request ----------------------------------------------------- */

static char *error_text(const tbt_error *err, const char *fallback)
{
    if (!err->msg)
        return tbt_xstrdup(fallback);
    if (err->line > 0)
        return tbt_xasprintf("%s (line %d, column %d)", err->msg, err->line, err->col);
    return tbt_xstrdup(err->msg);
}

static enum MHD_Result req_finish(tbt_http_receiver *r, http_req *q, struct MHD_Connection *c)
{
    if (q->status)
        return send_error(r, c, q->ctype, q->status, q->rpc_code, q->message, q->retry_after_s);

    tbt_error err = TBT_ERROR_INIT;
    const uint8_t *buf = q->body ? q->body : (const uint8_t *)"";
    size_t len = q->len;
    uint8_t *plain = NULL;
    enum MHD_Result ret;
    if (q->gzip) {
        size_t plen = 0;
        int rc = tbt_gunzip(buf, len, r->max_body, &plain, &plen, &err);
        if (rc != 0) {
            char *m = error_text(&err, "invalid gzip body");
            if (rc == -E2BIG)
                ret = send_error(r, c, q->ctype, MHD_HTTP_CONTENT_TOO_LARGE, RPC_RESOURCE_EXHAUSTED, m, 0);
            else
                ret = send_error(r, c, q->ctype, MHD_HTTP_BAD_REQUEST, RPC_INVALID_ARGUMENT, m, 0);
            free(m);
            tbt_error_clear(&err);
            return ret;
        }
        buf = plain;
        len = plen;
        /* the compressed copy is no longer needed while the store decodes */
        body_drop(q);
    }

    tbt_otlp_format fmt = q->ctype == CT_JSON ? TBT_OTLP_JSON : TBT_OTLP_PROTOBUF;
    tbt_ingest_result res;
    memset(&res, 0, sizeof(res));
    int rc = tbt_store_ingest(r->store, fmt, buf, len, &res, &err);
    free(plain);
    body_drop(q); /* the store keeps decoded copies, not the bytes */

    if (rc == 0) {
        tbt_buf body = TBT_BUF_INIT;
        char *m = NULL;
        tbt_counter_add(r->m.spans, res.accepted);
        if (res.rejected > 0) {
            tbt_counter_add(r->m.spans_partial, res.rejected);
            m = res.reason[0] ? clean_message(res.reason)
                              : tbt_xasprintf("%zu spans rejected", res.rejected);
            count(&r->st.partial, 1);
        } else {
            count(&r->st.ok, 1);
        }
        export_body(&body, q->ctype, res.rejected, m ? m : "");
        ret = send_reply(c, MHD_HTTP_OK, q->ctype, &body, 0);
        tbt_buf_free(&body);
        free(m);
    } else {
        char *m = error_text(&err, "request refused");
        switch (rc) {
        case -EINVAL:
            ret = send_error(r, c, q->ctype, MHD_HTTP_BAD_REQUEST, RPC_INVALID_ARGUMENT, m, 0);
            break;
        case -E2BIG:
            ret = send_error(r, c, q->ctype, MHD_HTTP_CONTENT_TOO_LARGE, RPC_RESOURCE_EXHAUSTED, m, 0);
            break;
        case -EBUSY:
            /* 503, not 429: the agent as a whole is out of room, not this
             * client over a rate; it is what UNAVAILABLE maps to over gRPC. */
            ret = send_error(r, c, q->ctype, MHD_HTTP_SERVICE_UNAVAILABLE, RPC_UNAVAILABLE, m,
                             res.retry_after_s ? res.retry_after_s : 1);
            break;
        default:
            ret = send_error(r, c, q->ctype, MHD_HTTP_INTERNAL_SERVER_ERROR, RPC_INTERNAL, m, 0);
            break;
        }
        free(m);
    }
    tbt_error_clear(&err);
    return ret;
}

/* ---- MHD callbacks ------------------------------------------------------ */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    tbt_http_receiver *r = cls;
    http_req *q = *con_cls;
    if (!q) {
        q = tbt_xcalloc(1, sizeof(*q));
        q->r = r;
        *con_cls = q;
        count(&r->st.requests, 1);
        return req_begin(r, q, c, url, method);
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return req_body(r, q, upload_data, n);
    }
    return req_finish(r, q, c);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    http_req *q = *con_cls;
    if (!q)
        return;
    body_drop(q);
    free(q->message);
    free(q);
    *con_cls = NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

int tbt_http_bind_addr(const char *what, const char *bind_addr, uint16_t port, struct sockaddr_storage *sa,
                       bool *ipv6, tbt_error *err)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(bind_addr, NULL, &hints, &ai);
    if (gai != 0 || !ai)
        return tbt_error_set(err, -EINVAL, "%s: cannot resolve bind address %s: %s", what, bind_addr,
                             gai ? gai_strerror(gai) : "no address");
    memset(sa, 0, sizeof(*sa));
    *ipv6 = ai->ai_family == AF_INET6;
    if (*ipv6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;
        memcpy(a6, ai->ai_addr, sizeof(*a6));
        a6->sin6_port = htons(port);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
        memcpy(a4, ai->ai_addr, sizeof(*a4));
        a4->sin_port = htons(port);
    }
    freeaddrinfo(ai);
    return 0;
}

int tbt_http_receiver_start(tbt_store *s, const tbt_receiver_opts *o, tbt_http_receiver **out, tbt_error *err)
{
    if (!s || !out)
        return tbt_error_set(err, -EINVAL, "http receiver: no store");
    const char *bind_addr = o && o->bind_addr && *o->bind_addr ? o->bind_addr : "127.0.0.1";
    uint16_t port = o ? o->port : HTTP_DEFAULT_PORT;
    size_t max_body = o && o->max_body_bytes ? o->max_body_bytes : HTTP_DEFAULT_MAX_BODY;
    unsigned threads = o && o->threads ? o->threads : HTTP_DEFAULT_THREADS;
    if (threads > HTTP_MAX_THREADS)
        threads = HTTP_MAX_THREADS;

    struct sockaddr_storage sa;
    bool ipv6;
    int rc = tbt_http_bind_addr("http receiver", bind_addr, port, &sa, &ipv6, err);
    if (rc)
        return rc;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD;
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_AUTO;
    if (ipv6)
        flags |= MHD_USE_IPv6;

    tbt_http_receiver *r = tbt_xcalloc(1, sizeof(*r));
    r->store = s;
    if (o && o->metrics)
        r->m = *o->metrics;
    r->max_body = max_body;
    r->inflight_max = max_body <= SIZE_MAX / HTTP_INFLIGHT_FACTOR ? max_body * HTTP_INFLIGHT_FACTOR : SIZE_MAX;
    errno = 0;
    /* MHD reads the pool size only when it is above 1 */
    r->daemon = MHD_start_daemon(flags, port, NULL, NULL, on_request, r,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0u,
                                 MHD_OPTION_CONNECTION_LIMIT, HTTP_CONN_LIMIT,
                                 MHD_OPTION_CONNECTION_TIMEOUT, HTTP_CONN_TIMEOUT_S,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONN_MEMORY,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, r,
                                 MHD_OPTION_END);
    if (!r->daemon) {
        int e = errno ? errno : EIO;
        free(r);
        return tbt_error_set(err, -e, "http receiver: cannot listen on %s port %u: %s", bind_addr, (unsigned)port,
                             strerror(e));
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT);
    r->port = info ? info->port : port;
    *out = r;
    return 0;
}

uint16_t tbt_http_receiver_port(const tbt_http_receiver *r)
{
    return r ? r->port : 0;
}

void tbt_http_receiver_stats(const tbt_http_receiver *r, tbt_receiver_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!r)
        return;
    tbt_http_receiver *w = (tbt_http_receiver *)r; /* atomic loads take non-const */
    st->requests = atomic_load_explicit(&w->st.requests, memory_order_relaxed);
    st->ok = atomic_load_explicit(&w->st.ok, memory_order_relaxed);
    st->partial = atomic_load_explicit(&w->st.partial, memory_order_relaxed);
    st->bad_request = atomic_load_explicit(&w->st.bad_request, memory_order_relaxed);
    st->too_large = atomic_load_explicit(&w->st.too_large, memory_order_relaxed);
    st->busy = atomic_load_explicit(&w->st.busy, memory_order_relaxed);
    st->unsupported = atomic_load_explicit(&w->st.unsupported, memory_order_relaxed);
    st->bytes_in = atomic_load_explicit(&w->st.bytes_in, memory_order_relaxed);
}

void tbt_http_receiver_stop(tbt_http_receiver *r)
{
    if (!r)
        return;
    /* closes every connection; on_completed frees each request's state */
    MHD_stop_daemon(r->daemon);
    free(r);
}
