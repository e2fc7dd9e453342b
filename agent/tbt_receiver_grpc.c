/*
 * tbt_receiver_grpc.c - the OTLP/gRPC receiver: unary
 * /opentelemetry.proto.collector.trace.v1.TraceService/Export over h2c
 * (prior knowledge), one nghttp2 server session per connection, all of them
 * driven by one poll() loop thread per receiver.
 *
 * Threads: tbt_grpc_receiver_start/stop run on the owner's thread; every
 * connection, stream and nghttp2 call lives on the loop thread; only the
 * statistics (atomics) and the stop flag (atomic + eventfd) cross threads.
 * tbt_store_ingest runs on the loop thread (the store is thread-safe and
 * decodes outside its lock), so one request is decoded at a time per
 * receiver.
 *
 * Every quantity a client controls is bounded: connections (TBT_GRPC_MAX_CONNS,
 * extra ones are accepted and closed at once), concurrent streams
 * (SETTINGS_MAX_CONCURRENT_STREAMS), header fields per request (count and
 * bytes), DATA per stream (max_body_bytes + 5, checked as each chunk arrives
 * and against the message's length prefix as soon as it is known), DATA held
 * by all streams of the receiver together, inflated size (tbt_gunzip bounded
 * by max_body_bytes), pending output per connection (nghttp2 is only asked
 * for more frames once the previous ones reached the socket), CONTINUATION
 * frames per header block, and idle time.
 *
 * A refusal decided before a request ends (from its headers or its length
 * prefix) is sent when the request ends, or as soon as the stream passes
 * its DATA bound, followed by RST_STREAM(NO_ERROR) if the client is still
 * sending. Design notes: docs/receivers.md ("OTLP/gRPC").
 */
#include "tbt_receiver.h"

#include "tbt_gzip.h"
#include "tbt_metrics.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define TBT_GRPC_PATH "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#define TBT_GRPC_ACCEPT_ENCODING "gzip,identity"

#define TBT_GRPC_DEFAULT_MAX_BODY ((size_t)16 << 20)
#define TBT_GRPC_MAX_CONNS 256
#define TBT_GRPC_MAX_STREAMS 100
#define TBT_GRPC_MAX_HEADERS 64           /* fields per request (headers + trailers) */
#define TBT_GRPC_MAX_HEADER_BYTES 16384   /* name + value bytes per request */
#define TBT_GRPC_MAX_CONTINUATIONS 8      /* CONTINUATION frames per header block */
#define TBT_GRPC_STREAM_WINDOW (1 << 20)  /* SETTINGS_INITIAL_WINDOW_SIZE */
#define TBT_GRPC_CONN_WINDOW (16 << 20)   /* connection receive window */
#define TBT_GRPC_IDLE_NS (120ull * 1000000000ull)
#define TBT_GRPC_READ_CHUNK 16384
#define TBT_GRPC_READS_PER_WAKE 8         /* fairness between connections */
#define TBT_GRPC_OUT_BATCH 65536          /* gather frames up to this before send() */
#define TBT_GRPC_MAX_MESSAGE_TEXT 1024    /* grpc-message bytes before encoding */

/* gRPC status codes used here (grpc/doc/statuscodes.md). */
enum {
    GRPC_OK = 0,
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_UNIMPLEMENTED = 12,
    GRPC_INTERNAL = 13,
    GRPC_UNAVAILABLE = 14,
};

typedef struct grpc_conn grpc_conn;

/* One request stream. Created when its HEADERS begin, freed when nghttp2
 * closes it (or with its connection). */
typedef struct grpc_stream {
    struct grpc_stream *prev, *next; /* the connection's list */
    grpc_conn *conn;
    int32_t id;

    /* request headers */
    bool method_post, method_seen, path_ok;
    enum { CT_NONE, CT_GRPC, CT_OTHER } ctype;
    enum { ENC_IDENTITY, ENC_GZIP, ENC_OTHER } enc;
    char method[16];
    size_t nheaders, header_bytes;
    bool headers_too_big;

    /* request body: the raw DATA bytes (length-prefixed messages) */
    tbt_buf body;
    size_t received; /* DATA bytes of the request, kept or dropped */

    /* A refusal decided before the request ended; further DATA is dropped.
     * It is sent when the request ends, or at once when the client sends
     * more than a request may hold. */
    bool refused;
    int refuse_http, refuse_grpc;
    uint32_t refuse_retry_s;
    char *refuse_msg;

    bool responded;     /* a response was submitted */
    bool response_sent; /* its last HEADERS frame went out */
    bool reset;         /* RST_STREAM submitted */

    /* success response: the length-prefixed ExportTraceServiceResponse */
    tbt_buf resp;
    size_t resp_off;
} grpc_stream;

struct grpc_conn {
    tbt_grpc_receiver *r;
    size_t idx; /* position in r->conns */
    int fd;
    nghttp2_session *h2;
    grpc_stream *streams;
    uint8_t *out; /* frames produced by nghttp2, not yet written */
    size_t out_len, out_off, out_cap;
    uint64_t last_active_ns;
};

struct tbt_grpc_receiver {
    tbt_store *store;
    size_t max_body;
    size_t inflight, max_inflight; /* DATA bytes held by all streams (loop thread) */
    int listen_fd, wake_fd;
    uint16_t port;
    pthread_t thread;
    bool thread_started;
    int stop; /* atomic */
    uint64_t accept_pause_until_ns;
    grpc_conn *conns[TBT_GRPC_MAX_CONNS];
    size_t nconns;
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    tbt_receiver_stats stats; /* atomic fields */
    tbt_receiver_metrics m;   /* /metrics (all NULL: none) */
};

#define STAT_ADD(r, field, n) __atomic_fetch_add(&(r)->stats.field, (uint64_t)(n), __ATOMIC_RELAXED)

/* ---- small encoders ---------------------------------------------------- */

static void pb_varint(tbt_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        tmp[n++] = (uint8_t)(byte | (v ? 0x80 : 0));
    } while (v);
    tbt_buf_append(b, tmp, n);
}

static void pb_bytes(tbt_buf *b, unsigned field, const void *p, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    tbt_buf_append(b, p, n);
}

/* Append the 5-byte gRPC message prefix (uncompressed) and the message. */
static void grpc_frame(tbt_buf *out, const tbt_buf *msg)
{
    uint8_t hd[5] = {0, (uint8_t)(msg->len >> 24), (uint8_t)(msg->len >> 16), (uint8_t)(msg->len >> 8),
                     (uint8_t)msg->len};
    tbt_buf_append(out, hd, sizeof(hd));
    if (msg->len)
        tbt_buf_append(out, msg->data, msg->len);
}

/* grpc-message is percent-encoded: bytes outside printable ASCII and '%'
 * become %XX (the gRPC HTTP/2 protocol spec). */
static void percent_encode(tbt_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    if (n > TBT_GRPC_MAX_MESSAGE_TEXT)
        n = TBT_GRPC_MAX_MESSAGE_TEXT;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c <= 0x7e && c != '%') {
            tbt_buf_putc(out, (char)c);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            tbt_buf_append(out, esc, 3);
        }
    }
}

/* grpc-status-details-bin for UNAVAILABLE: a google.rpc.Status carrying a
 * google.rpc.RetryInfo, so OTLP exporters wait retry_after_s before the
 * retry. Unpadded base64, as the gRPC spec asks senders to emit. */
static void retry_details(tbt_buf *out, int code, const char *msg, uint32_t retry_after_s)
{
    tbt_buf dur = TBT_BUF_INIT, info = TBT_BUF_INIT, any = TBT_BUF_INIT, st = TBT_BUF_INIT;
    pb_varint(&dur, 1 << 3 | 0);
    pb_varint(&dur, retry_after_s);
    pb_bytes(&info, 1, dur.data, dur.len);
    static const char type_url[] = "type.googleapis.com/google.rpc.RetryInfo";
    pb_bytes(&any, 1, type_url, sizeof(type_url) - 1);
    pb_bytes(&any, 2, info.data, info.len);
    pb_varint(&st, 1 << 3 | 0);
    pb_varint(&st, (uint64_t)code);
    size_t mlen = strlen(msg);
    if (mlen > TBT_GRPC_MAX_MESSAGE_TEXT)
        mlen = TBT_GRPC_MAX_MESSAGE_TEXT;
    if (mlen)
        pb_bytes(&st, 2, msg, mlen);
    pb_bytes(&st, 3, any.data, any.len);
    tbt_base64_encode((const uint8_t *)st.data, st.len, out);
    while (out->len && out->data[out->len - 1] == '=')
        out->data[--out->len] = '\0';
    tbt_buf_free(&dur);
    tbt_buf_free(&info);
    tbt_buf_free(&any);
    tbt_buf_free(&st);
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}

/* ---- streams ----------------------------------------------------------- */

static void stream_drop_body(grpc_stream *s)
{
    tbt_grpc_receiver *r = s->conn->r;
    r->inflight -= s->body.len;
    tbt_buf_free(&s->body);
}

static void stream_free(grpc_stream *s)
{
    if (!s)
        return;
    grpc_conn *c = s->conn;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    stream_drop_body(s);
    tbt_buf_free(&s->resp);
    free(s->refuse_msg);
    free(s);
}

/* Past the request bound (max_body_bytes + 5 DATA bytes) a client that is
 * still sending after its answer went out gets RST_STREAM(NO_ERROR)
 * (RFC 9113 8.1: a complete response before the request ended). The RST
 * waits until the response HEADERS are out: nghttp2 marks a stream closing
 * as soon as RST_STREAM is queued and drops its unsent HEADERS. */
static bool stream_over_bound(const grpc_stream *s)
{
    return s->received > s->conn->r->max_body + 5;
}

static void stream_reset_if_over(grpc_stream *s)
{
    grpc_conn *c = s->conn;
    if (s->reset || !s->response_sent || !stream_over_bound(s) ||
        nghttp2_session_get_stream_remote_close(c->h2, s->id))
        return;
    s->reset = true;
    nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
}

/* Send the refusal as a trailers-only response (one HEADERS frame with
 * END_STREAM: :status, content-type, grpc-status, grpc-message). */
static void stream_send_refusal(grpc_stream *s)
{
    grpc_conn *c = s->conn;
    if (!s->refused || s->responded)
        return;
    s->responded = true;
    int http_status = s->refuse_http, grpc_status = s->refuse_grpc;
    const char *msg = s->refuse_msg;
    uint32_t retry_after_s = s->refuse_retry_s;

    char status[8], code[8];
    snprintf(status, sizeof(status), "%d", http_status);
    snprintf(code, sizeof(code), "%d", grpc_status);
    tbt_buf text = TBT_BUF_INIT, details = TBT_BUF_INIT;
    percent_encode(&text, msg ? msg : "");
    nghttp2_nv nva[6] = {
        NV(":status", status),
        NV("content-type", "application/grpc"),
        NV("grpc-status", code),
    };
    size_t n = 3;
    if (text.len)
        nva[n++] = (nghttp2_nv)NV("grpc-message", tbt_buf_cstr(&text));
    if (grpc_status == GRPC_UNIMPLEMENTED)
        nva[n++] = (nghttp2_nv)NV("grpc-accept-encoding", TBT_GRPC_ACCEPT_ENCODING);
    if (grpc_status == GRPC_UNAVAILABLE && retry_after_s) {
        retry_details(&details, grpc_status, msg ? msg : "", retry_after_s);
        nva[n++] = (nghttp2_nv)NV("grpc-status-details-bin", tbt_buf_cstr(&details));
    }
    /* nghttp2 copies the name/value pairs. */
    if (nghttp2_submit_response(c->h2, s->id, nva, n, NULL) != 0) {
        s->reset = true;
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    }
    tbt_buf_free(&text);
    tbt_buf_free(&details);
}

/* Refuse the request with an HTTP and a gRPC status. Buffered DATA is
 * released now. The answer goes out when the request has ended (request
 * ended: the caller is stream_process) or the client has sent more than a
 * request may hold; until then DATA is drained and dropped. Clients that
 * cannot read a response while they upload (libcurl 7.88 is one) hang or
 * fail on an early answer. */
static void stream_fail(grpc_stream *s, int http_status, int grpc_status, const char *msg, uint32_t retry_after_s)
{
    tbt_grpc_receiver *r = s->conn->r;
    if (s->refused || s->responded)
        return;
    s->refused = true;
    s->refuse_http = http_status;
    s->refuse_grpc = grpc_status;
    s->refuse_retry_s = retry_after_s;
    s->refuse_msg = tbt_xstrdup(msg ? msg : "");
    stream_drop_body(s);

    switch (grpc_status) {
    case GRPC_INVALID_ARGUMENT:
    case GRPC_INTERNAL:
        STAT_ADD(r, bad_request, 1);
        tbt_counter_add(r->m.malformed, 1);
        break;
    case GRPC_RESOURCE_EXHAUSTED:
        STAT_ADD(r, too_large, 1);
        tbt_counter_add(r->m.too_large, 1);
        break;
    case GRPC_UNAVAILABLE:
        STAT_ADD(r, busy, 1);
        tbt_counter_add(r->m.full, 1);
        break;
    default:
        STAT_ADD(r, unsupported, 1);
        tbt_counter_add(r->m.unsupported, 1);
        break;
    }
    if (stream_over_bound(s))
        stream_send_refusal(s);
}

static ssize_t resp_read(nghttp2_session *h2, int32_t stream_id, uint8_t *buf, size_t length, uint32_t *data_flags,
                         nghttp2_data_source *source, void *user_data)
{
    TBT_UNUSED(user_data);
    grpc_stream *s = source->ptr;
    size_t left = s->resp.len - s->resp_off;
    size_t n = left < length ? left : length;
    if (n)
        memcpy(buf, s->resp.data + s->resp_off, n);
    s->resp_off += n;
    if (s->resp_off == s->resp.len) {
        /* The status goes in trailers: end the DATA without END_STREAM and
         * submit them from here, as nghttp2 documents for trailers. */
        *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_nv trailers[] = {NV("grpc-status", "0")};
        if (nghttp2_submit_trailer(h2, stream_id, trailers, TBT_ARRAY_LEN(trailers)) != 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return (ssize_t)n;
}

/* The ExportTraceServiceResponse: empty on full success, partial_success
 * {rejected_spans, error_message} when spans were rejected. */
static void stream_succeed(grpc_stream *s, const tbt_ingest_result *res)
{
    grpc_conn *c = s->conn;
    tbt_grpc_receiver *r = c->r;
    s->responded = true;
    stream_drop_body(s);

    tbt_buf msg = TBT_BUF_INIT;
    tbt_counter_add(r->m.spans, res->accepted);
    if (res->rejected > 0) {
        tbt_counter_add(r->m.spans_partial, res->rejected);
        tbt_buf ps = TBT_BUF_INIT;
        pb_varint(&ps, 1 << 3 | 0);
        pb_varint(&ps, (uint64_t)res->rejected);
        size_t rlen = strnlen(res->reason, sizeof(res->reason));
        if (rlen)
            pb_bytes(&ps, 2, res->reason, rlen);
        pb_bytes(&msg, 1, ps.data, ps.len);
        tbt_buf_free(&ps);
        STAT_ADD(r, partial, 1);
    } else {
        STAT_ADD(r, ok, 1);
    }
    grpc_frame(&s->resp, &msg);
    tbt_buf_free(&msg);
    s->resp_off = 0;

    nghttp2_nv nva[] = {
        NV(":status", "200"),
        NV("content-type", "application/grpc"),
        NV("grpc-accept-encoding", TBT_GRPC_ACCEPT_ENCODING),
    };
    nghttp2_data_provider prd;
    prd.source.ptr = s;
    prd.read_callback = resp_read;
    if (nghttp2_submit_response(c->h2, s->id, nva, TBT_ARRAY_LEN(nva), &prd) != 0)
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The request headers are complete: refuse what we cannot serve before any
 * DATA is buffered. */
static void stream_check_headers(grpc_stream *s)
{
    if (s->headers_too_big) {
        stream_fail(s, 200, GRPC_RESOURCE_EXHAUSTED, "request headers too large", 0);
    } else if (!s->method_post) {
        char msg[64];
        snprintf(msg, sizeof(msg), "method %s not allowed, use POST", s->method_seen ? s->method : "(none)");
        stream_fail(s, 405, GRPC_UNIMPLEMENTED, msg, 0);
    } else if (s->ctype != CT_GRPC) {
        stream_fail(s, 415, GRPC_INVALID_ARGUMENT,
                    s->ctype == CT_NONE ? "missing content-type, expected application/grpc"
                                        : "unsupported content-type, expected application/grpc",
                    0);
    } else if (!s->path_ok) {
        stream_fail(s, 200, GRPC_UNIMPLEMENTED, "unknown method: only " TBT_GRPC_PATH " is served", 0);
    } else if (s->enc == ENC_OTHER) {
        stream_fail(s, 200, GRPC_UNIMPLEMENTED, "unsupported grpc-encoding, use gzip or identity", 0);
    }
}

/* Unwrap the request's one length-prefixed message and ingest it. Sets a
 * refusal or submits the success response. */
static void stream_unwrap_and_ingest(grpc_stream *s)
{
    tbt_grpc_receiver *r = s->conn->r;
    const uint8_t *b = (const uint8_t *)s->body.data;
    size_t n = s->body.len;
    if (n == 0) {
        stream_fail(s, 200, GRPC_INVALID_ARGUMENT, "unary call without a request message", 0);
        return;
    }
    if (n < 5) {
        stream_fail(s, 200, GRPC_INVALID_ARGUMENT, "truncated gRPC message prefix", 0);
        return;
    }
    uint8_t flag = b[0];
    uint32_t mlen = be32(b + 1);
    char msg[160];
    if (mlen > r->max_body) {
        snprintf(msg, sizeof(msg), "message of %u bytes exceeds the limit of %zu bytes", mlen, r->max_body);
        stream_fail(s, 200, GRPC_RESOURCE_EXHAUSTED, msg, 0);
        return;
    }
    if (n - 5 < mlen) {
        snprintf(msg, sizeof(msg), "truncated gRPC message: %zu of %u bytes", n - 5, mlen);
        stream_fail(s, 200, GRPC_INVALID_ARGUMENT, msg, 0);
        return;
    }
    if (n - 5 > mlen) {
        stream_fail(s, 200, GRPC_INVALID_ARGUMENT, "unary call with more than one request message", 0);
        return;
    }
    if (flag > 1) {
        snprintf(msg, sizeof(msg), "invalid gRPC compressed flag %u", flag);
        stream_fail(s, 200, GRPC_INTERNAL, msg, 0);
        return;
    }
    if (flag == 1 && s->enc != ENC_GZIP) {
        stream_fail(s, 200, GRPC_INTERNAL, "compressed message without grpc-encoding", 0);
        return;
    }

    const uint8_t *pb = b + 5;
    size_t pblen = mlen;
    uint8_t *inflated = NULL;
    tbt_error err = TBT_ERROR_INIT;
    if (flag == 1) {
        int rc = tbt_gunzip(pb, pblen, r->max_body, &inflated, &pblen, &err);
        if (rc < 0) {
            char *m = tbt_xasprintf("gzip: %s", err.msg ? err.msg : "invalid data");
            if (rc == -E2BIG)
                stream_fail(s, 200, GRPC_RESOURCE_EXHAUSTED, m, 0);
            else
                stream_fail(s, 200, GRPC_INVALID_ARGUMENT, m, 0);
            free(m);
            tbt_error_clear(&err);
            return;
        }
        pb = inflated;
    }

    tbt_ingest_result res;
    memset(&res, 0, sizeof(res));
    int rc = tbt_store_ingest(r->store, TBT_OTLP_PROTOBUF, pb, pblen, &res, &err);
    free(inflated);
    if (rc == 0) {
        stream_succeed(s, &res);
    } else {
        const char *m = err.msg ? err.msg : "request refused";
        if (rc == -E2BIG)
            stream_fail(s, 200, GRPC_RESOURCE_EXHAUSTED, m, 0);
        else if (rc == -EBUSY)
            stream_fail(s, 200, GRPC_UNAVAILABLE, m, res.retry_after_s ? res.retry_after_s : 1);
        else if (rc == -EINVAL)
            stream_fail(s, 200, GRPC_INVALID_ARGUMENT, m, 0);
        else
            stream_fail(s, 200, GRPC_INTERNAL, m, 0);
    }
    tbt_error_clear(&err);
}

/* The request ended (END_STREAM): unwrap its one message and ingest it;
 * answer with the result or with the refusal decided earlier. */
static void stream_process(grpc_stream *s)
{
    if (s->responded)
        return;
    if (!s->refused)
        stream_unwrap_and_ingest(s);
    stream_send_refusal(s);
}

/* ---- nghttp2 callbacks --------------------------------------------------- */

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame, void *user_data)
{
    grpc_conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    grpc_stream *s = tbt_xcalloc(1, sizeof(*s));
    s->conn = c;
    s->id = frame->hd.stream_id;
    s->next = c->streams;
    if (c->streams)
        c->streams->prev = s;
    c->streams = s;
    nghttp2_session_set_stream_user_data(h2, s->id, s);
    return 0;
}

static bool bytes_eq(const uint8_t *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(p, lit, l) == 0;
}

static bool bytes_prefix(const uint8_t *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && memcmp(p, lit, l) == 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data)
{
    TBT_UNUSED(flags);
    TBT_UNUSED(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    grpc_stream *s = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (!s || s->headers_too_big)
        return 0;
    s->nheaders++;
    s->header_bytes += namelen + valuelen;
    if (s->nheaders > TBT_GRPC_MAX_HEADERS || s->header_bytes > TBT_GRPC_MAX_HEADER_BYTES) {
        s->headers_too_big = true;
        return 0;
    }
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* client trailers: counted, otherwise ignored */

    if (bytes_eq(name, namelen, ":method")) {
        s->method_seen = true;
        s->method_post = bytes_eq(value, valuelen, "POST");
        size_t l = valuelen < sizeof(s->method) - 1 ? valuelen : sizeof(s->method) - 1;
        for (size_t i = 0; i < l; i++)
            s->method[i] = (value[i] >= 0x20 && value[i] < 0x7f) ? (char)value[i] : '?';
        s->method[l] = '\0';
    } else if (bytes_eq(name, namelen, ":path")) {
        s->path_ok = bytes_eq(value, valuelen, TBT_GRPC_PATH);
    } else if (bytes_eq(name, namelen, "content-type")) {
        /* application/grpc, application/grpc+proto, optionally with
         * parameters; other sub-types (+json) we cannot decode. */
        if (bytes_eq(value, valuelen, "application/grpc") || bytes_eq(value, valuelen, "application/grpc+proto") ||
            bytes_prefix(value, valuelen, "application/grpc;") ||
            bytes_prefix(value, valuelen, "application/grpc+proto;"))
            s->ctype = CT_GRPC;
        else
            s->ctype = CT_OTHER;
    } else if (bytes_eq(name, namelen, "grpc-encoding")) {
        if (bytes_eq(value, valuelen, "gzip"))
            s->enc = ENC_GZIP;
        else if (bytes_eq(value, valuelen, "identity"))
            s->enc = ENC_IDENTITY;
        else
            s->enc = ENC_OTHER;
    }
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *h2, uint8_t flags, int32_t stream_id, const uint8_t *data, size_t len,
                              void *user_data)
{
    TBT_UNUSED(flags);
    grpc_conn *c = user_data;
    tbt_grpc_receiver *r = c->r;
    STAT_ADD(r, bytes_in, len);
    grpc_stream *s = nghttp2_session_get_stream_user_data(h2, stream_id);
    if (!s || len == 0)
        return 0;
    s->received += len;
    if (s->refused) {
        if (stream_over_bound(s))
            stream_send_refusal(s);
        stream_reset_if_over(s);
        return 0;
    }
    if (s->responded)
        return 0;
    if (stream_over_bound(s)) {
        char msg[96];
        snprintf(msg, sizeof(msg), "request exceeds the limit of %zu bytes", r->max_body);
        stream_fail(s, 200, GRPC_RESOURCE_EXHAUSTED, msg, 0);
        return 0;
    }
    if (r->inflight + len > r->max_inflight) {
        stream_fail(s, 200, GRPC_UNAVAILABLE, "receiver busy: too many request bytes in flight", 1);
        return 0;
    }
    tbt_buf_append(&s->body, data, len);
    r->inflight += len;
    if (s->body.len >= 5) {
        uint32_t mlen = be32((const uint8_t *)s->body.data + 1);
        if (mlen > r->max_body) {
            char msg[128];
            snprintf(msg, sizeof(msg), "message of %u bytes exceeds the limit of %zu bytes", mlen, r->max_body);
            stream_fail(s, 200, GRPC_RESOURCE_EXHAUSTED, msg, 0);
        }
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *user_data)
{
    TBT_UNUSED(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    grpc_stream *s = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (!s)
        return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        STAT_ADD(s->conn->r, requests, 1);
        stream_check_headers(s);
    } else if (frame->hd.type == NGHTTP2_HEADERS && s->headers_too_big) {
        stream_fail(s, 200, GRPC_RESOURCE_EXHAUSTED, "request trailers too large", 0);
    }
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
        stream_process(s);
    return 0;
}

static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *frame, void *user_data)
{
    TBT_UNUSED(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    grpc_stream *s = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (s) {
        s->response_sent = true;
        stream_reset_if_over(s);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t stream_id, uint32_t error_code, void *user_data)
{
    TBT_UNUSED(error_code);
    TBT_UNUSED(user_data);
    grpc_stream *s = nghttp2_session_get_stream_user_data(h2, stream_id);
    if (s) {
        nghttp2_session_set_stream_user_data(h2, stream_id, NULL);
        stream_free(s);
    }
    return 0;
}

/* ---- connections ------------------------------------------------------- */

static void conn_close(grpc_conn *c)
{
    tbt_grpc_receiver *r = c->r;
    /* nghttp2_session_del does not call on_stream_close: free our streams
     * ourselves, after the session (it may still point at them). */
    nghttp2_session_del(c->h2);
    while (c->streams)
        stream_free(c->streams);
    close(c->fd);
    free(c->out);
    size_t last = r->nconns - 1;
    if (c->idx != last) {
        r->conns[c->idx] = r->conns[last];
        r->conns[c->idx]->idx = c->idx;
    }
    r->conns[last] = NULL;
    r->nconns--;
    free(c);
}

/* Write what nghttp2 has to send. Pending output is written first; nghttp2
 * is asked for more frames only when nothing is pending, so a client that
 * does not read costs at most one batch of memory. Returns false when the
 * connection is broken. */
static bool conn_flush(grpc_conn *c)
{
    for (;;) {
        while (c->out_off < c->out_len) {
            ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return errno == EAGAIN || errno == EWOULDBLOCK;
            }
            c->out_off += (size_t)n;
            c->last_active_ns = tbt_now_mono_ns();
        }
        c->out_off = c->out_len = 0;
        while (c->out_len < TBT_GRPC_OUT_BATCH) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(c->h2, &data);
            if (n < 0)
                return false;
            if (n == 0)
                break;
            if (c->out_len + (size_t)n > c->out_cap) {
                size_t need = c->out_len + (size_t)n;
                TBT_GROW(c->out, c->out_cap, need);
            }
            memcpy(c->out + c->out_len, data, (size_t)n);
            c->out_len += (size_t)n;
        }
        if (c->out_len == 0)
            return true;
    }
}

static bool conn_wants_io(const grpc_conn *c)
{
    return c->out_len > c->out_off || nghttp2_session_want_read(c->h2) || nghttp2_session_want_write(c->h2);
}

/* Handle poll events. Returns false when the connection should be closed. */
static bool conn_io(grpc_conn *c, short revents)
{
    if (revents & (POLLERR | POLLNVAL))
        return false;
    if (revents & (POLLIN | POLLHUP)) {
        uint8_t buf[TBT_GRPC_READ_CHUNK];
        for (int i = 0; i < TBT_GRPC_READS_PER_WAKE; i++) {
            ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
            if (n == 0) {
                conn_flush(c); /* a half-closing client may still read */
                return false;
            }
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                return false;
            }
            c->last_active_ns = tbt_now_mono_ns();
            ssize_t rv = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
            if (rv < 0) {
                /* Bad preface, flood, protocol error: nghttp2 has queued a
                 * GOAWAY where it could; send it if the socket takes it. */
                conn_flush(c);
                return false;
            }
            if ((size_t)n < sizeof(buf))
                break;
        }
    }
    if (!conn_flush(c))
        return false;
    return conn_wants_io(c);
}

static grpc_conn *conn_new(tbt_grpc_receiver *r, int fd)
{
    grpc_conn *c = tbt_xcalloc(1, sizeof(*c));
    c->r = r;
    c->fd = fd;
    c->last_active_ns = tbt_now_mono_ns();
    if (nghttp2_session_server_new2(&c->h2, r->cbs, c, r->opt) != 0) {
        free(c);
        return NULL;
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, TBT_GRPC_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, TBT_GRPC_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, TBT_GRPC_MAX_HEADER_BYTES},
    };
    if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, TBT_ARRAY_LEN(iv)) != 0 ||
        nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, TBT_GRPC_CONN_WINDOW) != 0) {
        nghttp2_session_del(c->h2);
        free(c);
        return NULL;
    }
    return c;
}

static void accept_conns(tbt_grpc_receiver *r)
{
    for (int i = 0; i < 64; i++) {
        int fd = accept4(r->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                /* The listener would stay readable: pause accepting instead
                 * of spinning until descriptors are free again. */
                r->accept_pause_until_ns = tbt_now_mono_ns() + 100000000ull;
            return;
        }
        if (r->nconns >= TBT_GRPC_MAX_CONNS) {
            close(fd); /* over the bound: refuse at once rather than queue */
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        grpc_conn *c = conn_new(r, fd);
        if (!c) {
            close(fd);
            continue;
        }
        c->idx = r->nconns;
        r->conns[r->nconns++] = c;
        /* Our SETTINGS go out at once; the client's preface is checked by
         * nghttp2 when its bytes arrive. */
        if (!conn_flush(c))
            conn_close(c);
    }
}

/* Idle connections get a GOAWAY and are closed. */
static void sweep_idle(tbt_grpc_receiver *r, uint64_t now)
{
    for (size_t i = r->nconns; i-- > 0;) {
        grpc_conn *c = r->conns[i];
        if (now - c->last_active_ns >= TBT_GRPC_IDLE_NS) {
            nghttp2_session_terminate_session(c->h2, NGHTTP2_NO_ERROR);
            conn_flush(c);
            conn_close(c);
        }
    }
}

static void *loop_main(void *arg)
{
    tbt_grpc_receiver *r = arg;
    struct pollfd pfd[TBT_GRPC_MAX_CONNS + 2];
    grpc_conn *pc[TBT_GRPC_MAX_CONNS + 2];
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        uint64_t now = tbt_now_mono_ns();
        size_t n = 0;
        pfd[n] = (struct pollfd){.fd = r->wake_fd, .events = POLLIN};
        pc[n++] = NULL;
        bool accepting = now >= r->accept_pause_until_ns;
        pfd[n] = (struct pollfd){.fd = accepting ? r->listen_fd : -1, .events = POLLIN};
        pc[n++] = NULL;
        uint64_t oldest = now;
        for (size_t i = 0; i < r->nconns; i++) {
            grpc_conn *c = r->conns[i];
            short ev = 0;
            if (nghttp2_session_want_read(c->h2))
                ev |= POLLIN;
            if (c->out_len > c->out_off || nghttp2_session_want_write(c->h2))
                ev |= POLLOUT;
            pfd[n] = (struct pollfd){.fd = c->fd, .events = ev};
            pc[n++] = c;
            if (c->last_active_ns < oldest)
                oldest = c->last_active_ns;
        }
        uint64_t wait_ns = 1000000000ull; /* at most 1 s between idle sweeps */
        if (r->nconns && oldest + TBT_GRPC_IDLE_NS > now && oldest + TBT_GRPC_IDLE_NS - now < wait_ns)
            wait_ns = oldest + TBT_GRPC_IDLE_NS - now;
        if (!accepting && r->accept_pause_until_ns - now < wait_ns)
            wait_ns = r->accept_pause_until_ns - now;
        int rv = poll(pfd, n, (int)(wait_ns / 1000000) + 1);
        if (rv < 0 && errno != EINTR)
            break;
        if (rv > 0) {
            if (pfd[0].revents) {
                uint64_t v;
                if (read(r->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
                    /* nothing to do: the stop flag is what matters */
                }
            }
            if (__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE))
                break;
            for (size_t i = 2; i < n; i++) {
                if (!pfd[i].revents)
                    continue;
                if (!conn_io(pc[i], pfd[i].revents))
                    conn_close(pc[i]); /* swap-removes from r->conns; pc[] holds pointers */
            }
            if (pfd[1].revents & POLLIN)
                accept_conns(r);
        }
        sweep_idle(r, tbt_now_mono_ns());
    }
    /* Shutting down: tell clients, best effort, and drop everything. */
    while (r->nconns) {
        grpc_conn *c = r->conns[r->nconns - 1];
        nghttp2_session_terminate_session(c->h2, NGHTTP2_NO_ERROR);
        conn_flush(c);
        conn_close(c);
    }
    return NULL;
}

/* ---- public API -------------------------------------------------------- */

static int listen_on(tbt_grpc_receiver *r, const char *addr, uint16_t port, tbt_error *err)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* Numeric addresses only (no DNS lookup on the start path), with
     * "localhost" as the one name and "*" for every interface. */
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST;
    const char *host = addr;
    if (strcmp(addr, "localhost") == 0)
        host = "127.0.0.1";
    else if (strcmp(addr, "*") == 0)
        host = NULL;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    int grc = getaddrinfo(host, portstr, &hints, &res);
    if (grc != 0)
        return tbt_error_set(err, -EINVAL, "grpc receiver: bad bind address %s: %s", addr, gai_strerror(grc));
    int last = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
            last = errno;
            close(fd);
            continue;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
            last = errno;
            close(fd);
            continue;
        }
        r->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
        r->listen_fd = fd;
        freeaddrinfo(res);
        return 0;
    }
    freeaddrinfo(res);
    return tbt_error_set(err, -last, "grpc receiver: cannot listen on %s:%u: %s", addr, port, strerror(last));
}

static void receiver_free(tbt_grpc_receiver *r)
{
    if (!r)
        return;
    if (r->listen_fd >= 0)
        close(r->listen_fd);
    if (r->wake_fd >= 0)
        close(r->wake_fd);
    nghttp2_session_callbacks_del(r->cbs);
    nghttp2_option_del(r->opt);
    free(r);
}

/* Start a receiver on its own loop thread. On success *out is the receiver
 * (stop it with tbt_grpc_receiver_stop) and 0 is returned; on error *out is
 * untouched, err says why, and a negative errno (-EADDRINUSE, -EINVAL, ...)
 * is returned. s is borrowed and must outlive the receiver. o may be NULL. */
int tbt_grpc_receiver_start(tbt_store *s, const tbt_receiver_opts *o, tbt_grpc_receiver **out, tbt_error *err)
{
    tbt_grpc_receiver *r = tbt_xcalloc(1, sizeof(*r));
    r->store = s;
    if (o && o->metrics)
        r->m = *o->metrics;
    r->listen_fd = r->wake_fd = -1;
    r->max_body = o && o->max_body_bytes ? o->max_body_bytes : TBT_GRPC_DEFAULT_MAX_BODY;
    if (r->max_body > UINT32_MAX)
        r->max_body = UINT32_MAX; /* a gRPC message length is 32 bits */
    /* All streams of the receiver together may hold a few maximal requests. */
    r->max_inflight = 4 * (r->max_body + 5);
    if (r->max_inflight < ((size_t)64 << 20))
        r->max_inflight = (size_t)64 << 20;
    const char *addr = o && o->bind_addr && *o->bind_addr ? o->bind_addr : "127.0.0.1";
    uint16_t port = o ? o->port : 0;
    int rc;

    if (nghttp2_session_callbacks_new(&r->cbs) != 0 || nghttp2_option_new(&r->opt) != 0) {
        rc = tbt_error_set(err, -ENOMEM, "grpc receiver: out of memory");
        goto error;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(r->cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(r->cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(r->cbs, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_frame_recv_callback(r->cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(r->cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(r->cbs, on_frame_send);
    nghttp2_option_set_max_continuations(r->opt, TBT_GRPC_MAX_CONTINUATIONS);

    r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->wake_fd < 0) {
        rc = tbt_error_set(err, -errno, "grpc receiver: eventfd: %s", strerror(errno));
        goto error;
    }
    rc = listen_on(r, addr, port, err);
    if (rc < 0)
        goto error;
    rc = pthread_create(&r->thread, NULL, loop_main, r);
    if (rc != 0) {
        rc = tbt_error_set(err, -rc, "grpc receiver: cannot start thread: %s", strerror(rc));
        goto error;
    }
    r->thread_started = true;
    *out = r;
    return 0;

error:
    receiver_free(r);
    return rc;
}

uint16_t tbt_grpc_receiver_port(const tbt_grpc_receiver *r)
{
    return r ? r->port : 0;
}

void tbt_grpc_receiver_stats(const tbt_grpc_receiver *r, tbt_receiver_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!r)
        return;
    st->requests = __atomic_load_n(&r->stats.requests, __ATOMIC_RELAXED);
    st->ok = __atomic_load_n(&r->stats.ok, __ATOMIC_RELAXED);
    st->partial = __atomic_load_n(&r->stats.partial, __ATOMIC_RELAXED);
    st->bad_request = __atomic_load_n(&r->stats.bad_request, __ATOMIC_RELAXED);
    st->too_large = __atomic_load_n(&r->stats.too_large, __ATOMIC_RELAXED);
    st->busy = __atomic_load_n(&r->stats.busy, __ATOMIC_RELAXED);
    st->unsupported = __atomic_load_n(&r->stats.unsupported, __ATOMIC_RELAXED);
    st->bytes_in = __atomic_load_n(&r->stats.bytes_in, __ATOMIC_RELAXED);
}

/* Stop the loop (promptly: the eventfd wakes it), close every connection
 * after a best-effort GOAWAY, join the thread and free r. Accepts NULL. */
void tbt_grpc_receiver_stop(tbt_grpc_receiver *r)
{
    if (!r)
        return;
    if (r->thread_started) {
        __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
        uint64_t one = 1;
        while (write(r->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
            ;
        pthread_join(r->thread, NULL);
    }
    receiver_free(r);
}
