/* test_receiver_grpc.c - the OTLP/gRPC receiver against a real HTTP/2
 * client (libcurl, h2c prior knowledge; grpc-status arrives in trailers
 * through the header callback) and against raw TCP clients that send
 * garbage, truncated or hostile HTTP/2. Every receiver binds port 0. */
#include "tbt_gzip.h"
#include "tbt_receiver.h"

#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define EXPORT_PATH "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

/* ---- fixture ------------------------------------------------------------ */

typedef struct fixture {
    tbt_store *store;
    tbt_grpc_receiver *rcv;
    uint16_t port;
} fixture;

static void fixture_start(fixture *f, size_t max_body, const tbt_store_limits *lim)
{
    f->store = tbt_store_new(lim);
    ck_assert_ptr_nonnull(f->store);
    tbt_receiver_opts o = {.bind_addr = "127.0.0.1", .port = 0, .max_body_bytes = max_body};
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_grpc_receiver_start(f->store, &o, &f->rcv, &err);
    ck_assert_msg(rc == 0, "start: %s", err.msg ? err.msg : "?");
    f->port = tbt_grpc_receiver_port(f->rcv);
    ck_assert_uint_ne(f->port, 0);
}

static void fixture_stop(fixture *f)
{
    tbt_grpc_receiver_stop(f->rcv);
    tbt_store_free(f->store);
}

static size_t store_spans(fixture *f)
{
    tbt_store_figures st;
    tbt_store_stats(f->store, &st);
    return st.spans;
}

/* ---- request bodies ------------------------------------------------------ */

/* An ExportTraceServiceRequest of n generated spans (one trace). */
static void gen_request(size_t n, unsigned seed, tbt_buf *out)
{
    tbt_trace *t = tbt_otlp_generate(n, seed);
    ck_assert_int_eq(tbt_otlp_encode(t, TBT_OTLP_PROTOBUF, out), 0);
    tbt_trace_free(t);
}

/* Append a gRPC message: flag, 4-byte big-endian length, payload. */
static void grpc_msg(tbt_buf *out, uint8_t flag, const void *p, size_t n)
{
    uint8_t hd[5] = {flag, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    tbt_buf_append(out, hd, 5);
    if (n)
        tbt_buf_append(out, p, n);
}

static void grpc_body(size_t nspans, unsigned seed, tbt_buf *body)
{
    tbt_buf pb = TBT_BUF_INIT;
    gen_request(nspans, seed, &pb);
    grpc_msg(body, 0, pb.data, pb.len);
    tbt_buf_free(&pb);
}

/* ---- the curl client ----------------------------------------------------- */

typedef struct reply {
    CURLcode cc;
    long http;
    int grpc_status; /* -1: none received */
    char grpc_message[640];
    bool details_bin;
    tbt_buf body;
} reply;

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = size * n;
    char line[600];
    size_t l = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
    memcpy(line, p, l);
    line[l] = '\0';
    while (l && (line[l - 1] == '\r' || line[l - 1] == '\n'))
        line[--l] = '\0';
    if (strncasecmp(line, "grpc-status:", 12) == 0)
        r->grpc_status = atoi(line + 12);
    else if (strncasecmp(line, "grpc-message:", 13) == 0) {
        const char *v = line + 13;
        while (*v == ' ')
            v++;
        snprintf(r->grpc_message, sizeof(r->grpc_message), "%s", v);
    } else if (strncasecmp(line, "grpc-status-details-bin:", 24) == 0)
        r->details_bin = true;
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    tbt_buf_append(&r->body, p, size * n);
    return size * n;
}

static CURL *client_new(void)
{
    CURL *h = curl_easy_init();
    ck_assert_ptr_nonnull(h);
    return h;
}

/* The HTTP version to ask for. libcurl 7.88 cannot reuse a prior-knowledge
 * h2c connection (curl issue #10634, fixed in 8.0: the second transfer
 * fails with "Error in the HTTP2 framing layer"); asking for plain HTTP/2
 * on a handle that already holds an h2 connection reuses it correctly. A
 * handle without a live connection must use prior knowledge, or curl would
 * try an HTTP/1.1 Upgrade. */
static long http_version(CURL *h)
{
    curl_socket_t sock = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &sock) == CURLE_OK && sock != CURL_SOCKET_BAD)
        return CURL_HTTP_VERSION_2_0;
    return CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
}

/* POST body to path over h2c. extra: additional header lines, NULL-ended. */
static void call_path(CURL *h, uint16_t port, const char *path, const char *ctype, const char *const *extra,
                      const void *body, size_t len, reply *r)
{
    memset(r, 0, sizeof(*r));
    r->grpc_status = -1;
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    struct curl_slist *hdrs = NULL;
    char ct[128];
    snprintf(ct, sizeof(ct), "content-type: %s", ctype);
    hdrs = curl_slist_append(hdrs, ct);
    hdrs = curl_slist_append(hdrs, "te: trailers");
    for (size_t i = 0; extra && extra[i]; i++)
        hdrs = curl_slist_append(hdrs, extra[i]);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, http_version(h));
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_VERBOSE, getenv("TBT_TEST_CURL_VERBOSE") ? 1L : 0L);
    r->cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->http);
    curl_slist_free_all(hdrs);
}

static void call(CURL *h, uint16_t port, const char *const *extra, const void *body, size_t len, reply *r)
{
    call_path(h, port, EXPORT_PATH, "application/grpc", extra, body, len, r);
}

/* One valid export on a fresh connection; asserts grpc-status 0. */
static void expect_valid_export(fixture *f, unsigned seed)
{
    tbt_buf body = TBT_BUF_INIT;
    grpc_body(5, seed, &body);
    CURL *h = client_new();
    reply r;
    call(h, f->port, NULL, body.data, body.len, &r);
    ck_assert_msg(r.cc == CURLE_OK, "curl: %s", curl_easy_strerror(r.cc));
    ck_assert_int_eq(r.grpc_status, 0);
    tbt_buf_free(&r.body);
    curl_easy_cleanup(h);
    tbt_buf_free(&body);
}

/* ---- an nghttp2 client ------------------------------------------------------
 * For what libcurl 7.88 cannot show: it fails a transfer whose stream is
 * reset while it still uploads (curl error 92) without handing over the
 * response that came before the RST_STREAM. gRPC clients read that
 * response; this client does too and records the RST. */

typedef struct h2call {
    int http;
    int grpc_status; /* -1: none */
    char grpc_message[256];
    bool rst; /* the server sent RST_STREAM */
    uint32_t rst_code;
    bool closed;
    const uint8_t *req;
    size_t req_len, req_off;
} h2call;

static ssize_t h2c_read(nghttp2_session *h2, int32_t sid, uint8_t *buf, size_t length, uint32_t *flags,
                        nghttp2_data_source *src, void *ud)
{
    h2call *c = ud;
    size_t n = c->req_len - c->req_off;
    if (n > length)
        n = length;
    memcpy(buf, c->req + c->req_off, n);
    c->req_off += n;
    if (c->req_off == c->req_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int h2c_header(nghttp2_session *h2, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                      const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    h2call *c = ud;
    char v[256];
    snprintf(v, sizeof(v), "%.*s", (int)vl, (const char *)value);
    if (nl == 7 && memcmp(name, ":status", 7) == 0)
        c->http = atoi(v);
    else if (nl == 11 && memcmp(name, "grpc-status", 11) == 0)
        c->grpc_status = atoi(v);
    else if (nl == 12 && memcmp(name, "grpc-message", 12) == 0)
        snprintf(c->grpc_message, sizeof(c->grpc_message), "%s", v);
    return 0;
}

static int h2c_frame(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
    h2call *c = ud;
    if (f->hd.type == NGHTTP2_RST_STREAM && f->hd.stream_id == 1) {
        c->rst = true;
        c->rst_code = f->rst_stream.error_code;
    }
    return 0;
}

static int h2c_close(nghttp2_session *h2, int32_t sid, uint32_t code, void *ud)
{
    h2call *c = ud;
    if (sid == 1)
        c->closed = true;
    return 0;
}

/* One export on a new connection: send headers and body (as flow control
 * allows), read until stream 1 is closed. extra: "name", "value" pairs,
 * NULL-ended. */
static void h2_call(uint16_t port, const char *const *extra, const void *body, size_t len, h2call *c)
{
    memset(c, 0, sizeof(*c));
    c->grpc_status = -1;
    c->req = body;
    c->req_len = len;
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, h2c_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2c_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2c_close);
    nghttp2_session *h2;
    ck_assert_int_eq(nghttp2_session_client_new(&h2, cbs, c), 0);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(h2, NGHTTP2_FLAG_NONE, NULL, 0);
    char authority[32];
    snprintf(authority, sizeof(authority), "127.0.0.1:%u", port);
    nghttp2_nv nva[16];
    size_t n = 0;
#define CNV(a, b) nva[n++] = (nghttp2_nv){(uint8_t *)(a), (uint8_t *)(b), strlen(a), strlen(b), NGHTTP2_NV_FLAG_NONE}
    CNV(":method", "POST");
    CNV(":scheme", "http");
    CNV(":path", EXPORT_PATH);
    CNV(":authority", authority);
    CNV("content-type", "application/grpc");
    CNV("te", "trailers");
    for (size_t i = 0; extra && extra[i]; i += 2)
        CNV(extra[i], extra[i + 1]);
#undef CNV
    nghttp2_data_provider prd = {.read_callback = h2c_read};
    ck_assert_int_eq(nghttp2_submit_request(h2, NULL, nva, n, &prd, NULL), 1);

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
    uint64_t deadline = tbt_now_mono_ns() + 10000000000ull;
    tbt_buf out = TBT_BUF_INIT;
    size_t out_off = 0;
    while (!c->closed && tbt_now_mono_ns() < deadline) {
        if (out_off == out.len) {
            tbt_buf_reset(&out);
            out_off = 0;
            const uint8_t *d;
            ssize_t k;
            while ((k = nghttp2_session_mem_send(h2, &d)) > 0)
                tbt_buf_append(&out, d, (size_t)k);
            ck_assert_int_ge(k, 0);
        }
        struct pollfd p = {.fd = fd, .events = POLLIN | (out_off < out.len ? POLLOUT : 0)};
        if (poll(&p, 1, 100) <= 0)
            continue;
        if (p.revents & POLLOUT) {
            ssize_t w = send(fd, out.data + out_off, out.len - out_off, MSG_NOSIGNAL);
            if (w > 0)
                out_off += (size_t)w;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            uint8_t buf[16384];
            ssize_t r = recv(fd, buf, sizeof(buf), 0);
            if (r <= 0 && !(r < 0 && errno == EAGAIN))
                break;
            if (r > 0 && nghttp2_session_mem_recv(h2, buf, (size_t)r) < 0)
                break;
        }
    }
    tbt_buf_free(&out);
    close(fd);
    nghttp2_session_del(h2);
}

/* ---- raw TCP clients ------------------------------------------------------ */

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void raw_send(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* the server may already have closed: that is fine */
        }
        c += w;
        n -= (size_t)w;
    }
}

/* Read until the server closes the connection; false after timeout_ms. */
static bool raw_wait_closed(int fd, int timeout_ms)
{
    uint64_t deadline = tbt_now_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    char buf[4096];
    for (;;) {
        uint64_t now = tbt_now_mono_ns();
        if (now >= deadline)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rv = poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
        if (rv <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            return true;
    }
}

static void frame(tbt_buf *b, uint8_t type, uint8_t flags, uint32_t stream, const void *payload, size_t n)
{
    uint8_t hd[9] = {(uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
                     (uint8_t)(stream >> 24 & 0x7f), (uint8_t)(stream >> 16), (uint8_t)(stream >> 8),
                     (uint8_t)stream};
    tbt_buf_append(b, hd, 9);
    if (n)
        tbt_buf_append(b, payload, n);
}

/* HPACK literal header field without indexing, new name (short strings). */
static void hpack_lit(tbt_buf *b, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    ck_assert(nl < 127 && vl < 127);
    tbt_buf_putc(b, 0);
    tbt_buf_putc(b, (char)nl);
    tbt_buf_append(b, name, nl);
    tbt_buf_putc(b, (char)vl);
    tbt_buf_append(b, value, vl);
}

/* Preface, empty SETTINGS, and the request HEADERS of an export on
 * stream 1 (END_HEADERS, not END_STREAM). */
static void raw_request_start(tbt_buf *b)
{
    tbt_buf_append(b, PREFACE, strlen(PREFACE));
    frame(b, 0x4, 0, 0, NULL, 0);
    tbt_buf hb = TBT_BUF_INIT;
    hpack_lit(&hb, ":method", "POST");
    hpack_lit(&hb, ":scheme", "http");
    hpack_lit(&hb, ":path", EXPORT_PATH);
    hpack_lit(&hb, ":authority", "127.0.0.1");
    hpack_lit(&hb, "content-type", "application/grpc");
    hpack_lit(&hb, "te", "trailers");
    frame(b, 0x1, 0x4, 1, hb.data, hb.len);
    tbt_buf_free(&hb);
}

/* ---- tests ------------------------------------------------------------- */

START_TEST(test_valid_export)
{
    fixture f;
    fixture_start(&f, 0, NULL);
    tbt_buf body = TBT_BUF_INIT;
    grpc_body(25, 7, &body);
    CURL *h = client_new();
    reply r;
    call(h, f.port, NULL, body.data, body.len, &r);
    ck_assert_msg(r.cc == CURLE_OK, "curl: %s", curl_easy_strerror(r.cc));
    ck_assert_int_eq(r.http, 200);
    ck_assert_int_eq(r.grpc_status, 0);
    /* an empty ExportTraceServiceResponse, length-prefixed */
    ck_assert_uint_eq(r.body.len, 5);
    ck_assert_mem_eq(r.body.data, "\0\0\0\0\0", 5);
    ck_assert_uint_eq(store_spans(&f), 25);

    tbt_receiver_stats st;
    tbt_grpc_receiver_stats(f.rcv, &st);
    ck_assert_uint_eq(st.requests, 1);
    ck_assert_uint_eq(st.ok, 1);
    ck_assert_uint_eq(st.bytes_in, body.len);

    /* an empty request (a zero-length message) succeeds too */
    tbt_buf_free(&r.body);
    call(h, f.port, NULL, "\0\0\0\0\0", 5, &r);
    ck_assert_int_eq(r.grpc_status, 0);
    tbt_buf_free(&r.body);

    curl_easy_cleanup(h);
    tbt_buf_free(&body);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_gzip_message)
{
    fixture f;
    fixture_start(&f, 0, NULL);
    tbt_buf pb = TBT_BUF_INIT, gz = TBT_BUF_INIT, body = TBT_BUF_INIT;
    gen_request(40, 11, &pb);
    ck_assert_int_eq(tbt_gzip((const uint8_t *)pb.data, pb.len, &gz), 0);
    grpc_msg(&body, 1, gz.data, gz.len);
    const char *const extra[] = {"grpc-encoding: gzip", NULL};
    CURL *h = client_new();
    reply r;
    call(h, f.port, extra, body.data, body.len, &r);
    ck_assert_msg(r.cc == CURLE_OK, "curl: %s", curl_easy_strerror(r.cc));
    ck_assert_int_eq(r.grpc_status, 0);
    ck_assert_uint_eq(store_spans(&f), 40);
    tbt_buf_free(&r.body);

    /* grpc-encoding gzip with an uncompressed message (flag 0) is fine */
    tbt_buf_reset(&body);
    grpc_body(3, 12, &body);
    call(h, f.port, extra, body.data, body.len, &r);
    ck_assert_int_eq(r.grpc_status, 0);
    ck_assert_uint_eq(store_spans(&f), 43);
    tbt_buf_free(&r.body);

    /* corrupt gzip data: bad data, not retryable */
    tbt_buf_reset(&body);
    grpc_msg(&body, 1, "\x1f\x8b\x08\x00garbage!", 12);
    call(h, f.port, extra, body.data, body.len, &r);
    ck_assert_int_eq(r.grpc_status, 3);
    ck_assert_str_ne(r.grpc_message, "");
    tbt_buf_free(&r.body);

    curl_easy_cleanup(h);
    tbt_buf_free(&pb);
    tbt_buf_free(&gz);
    tbt_buf_free(&body);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_connection_reuse)
{
    fixture f;
    fixture_start(&f, 0, NULL);
    CURL *h = client_new();
    for (unsigned i = 0; i < 5; i++) {
        tbt_buf body = TBT_BUF_INIT;
        grpc_body(10, 100 + i, &body);
        reply r;
        call(h, f.port, NULL, body.data, body.len, &r);
        ck_assert_msg(r.cc == CURLE_OK, "curl: %s", curl_easy_strerror(r.cc));
        ck_assert_int_eq(r.grpc_status, 0);
        long connects = -1;
        curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
        ck_assert_int_eq(connects, i == 0 ? 1 : 0);
        tbt_buf_free(&r.body);
        tbt_buf_free(&body);
    }
    ck_assert_uint_eq(store_spans(&f), 50);
    /* an error response (trailers-only, RST when needed) keeps the
     * connection usable too */
    reply r;
    call(h, f.port, NULL, "\0\0\0\0\x03\x0a\xff\xff", 8, &r);
    ck_assert_int_eq(r.grpc_status, 3);
    tbt_buf_free(&r.body);
    tbt_buf body = TBT_BUF_INIT;
    grpc_body(10, 200, &body);
    call(h, f.port, NULL, body.data, body.len, &r);
    ck_assert_int_eq(r.grpc_status, 0);
    long connects = -1;
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
    ck_assert_int_eq(connects, 0);
    tbt_buf_free(&r.body);
    tbt_buf_free(&body);
    curl_easy_cleanup(h);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_malformed_protobuf)
{
    fixture f;
    fixture_start(&f, 0, NULL);
    CURL *h = client_new();
    reply r;
    /* field 1 (resource_spans) claims 0x3fff bytes; 2 follow */
    static const uint8_t bad[] = {0x0a, 0xff, 0x7f, 0x01, 0x02};
    tbt_buf body = TBT_BUF_INIT;
    grpc_msg(&body, 0, bad, sizeof(bad));
    call(h, f.port, NULL, body.data, body.len, &r);
    ck_assert_msg(r.cc == CURLE_OK, "curl: %s", curl_easy_strerror(r.cc));
    ck_assert_int_eq(r.http, 200);
    ck_assert_int_eq(r.grpc_status, 3);
    ck_assert_str_ne(r.grpc_message, "");
    /* percent-encoded: never a raw control byte or a bare space-only text */
    for (const char *p = r.grpc_message; *p; p++)
        ck_assert((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
    ck_assert_uint_eq(store_spans(&f), 0);
    tbt_buf_free(&r.body);

    tbt_receiver_stats st;
    tbt_grpc_receiver_stats(f.rcv, &st);
    ck_assert_uint_eq(st.bad_request, 1);

    curl_easy_cleanup(h);
    tbt_buf_free(&body);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_framing_errors)
{
    fixture f;
    fixture_start(&f, 0, NULL);
    CURL *h = client_new();
    reply r;
    tbt_buf pb = TBT_BUF_INIT, body = TBT_BUF_INIT;
    gen_request(3, 21, &pb);

    /* two messages on a unary call */
    grpc_msg(&body, 0, pb.data, pb.len);
    grpc_msg(&body, 0, pb.data, pb.len);
    call(h, f.port, NULL, body.data, body.len, &r);
    ck_assert_int_eq(r.grpc_status, 3);
    ck_assert_str_ne(r.grpc_message, "");
    tbt_buf_free(&r.body);

    /* truncated message: the prefix promises more than arrives */
    tbt_buf_reset(&body);
    grpc_msg(&body, 0, pb.data, pb.len);
    body.data[4] = (char)(body.data[4] + 1);
    call(h, f.port, NULL, body.data, body.len, &r);
    ck_assert_int_eq(r.grpc_status, 3);
    tbt_buf_free(&r.body);

    /* truncated prefix; no message at all */
    call(h, f.port, NULL, "\0\0\0", 3, &r);
    ck_assert_int_eq(r.grpc_status, 3);
    tbt_buf_free(&r.body);
    call(h, f.port, NULL, "", 0, &r);
    ck_assert_int_eq(r.grpc_status, 3);
    tbt_buf_free(&r.body);

    /* compressed flag without grpc-encoding: INTERNAL per the gRPC spec */
    tbt_buf_reset(&body);
    grpc_msg(&body, 1, pb.data, pb.len);
    call(h, f.port, NULL, body.data, body.len, &r);
    ck_assert_int_eq(r.grpc_status, 13);
    tbt_buf_free(&r.body);

    /* an invalid flag value */
    body.data[0] = 7;
    call(h, f.port, NULL, body.data, body.len, &r);
    ck_assert_int_eq(r.grpc_status, 13);
    tbt_buf_free(&r.body);

    /* an encoding we do not speak */
    const char *const br[] = {"grpc-encoding: br", NULL};
    body.data[0] = 1;
    call(h, f.port, br, body.data, body.len, &r);
    ck_assert_int_eq(r.grpc_status, 12);
    tbt_buf_free(&r.body);

    ck_assert_uint_eq(store_spans(&f), 0);
    /* and the connection still serves */
    tbt_buf_reset(&body);
    grpc_msg(&body, 0, pb.data, pb.len);
    call(h, f.port, NULL, body.data, body.len, &r);
    ck_assert_int_eq(r.grpc_status, 0);
    ck_assert_uint_eq(store_spans(&f), 3);
    tbt_buf_free(&r.body);

    curl_easy_cleanup(h);
    tbt_buf_free(&pb);
    tbt_buf_free(&body);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_wrong_path_and_type)
{
    fixture f;
    fixture_start(&f, 0, NULL);
    tbt_buf body = TBT_BUF_INIT;
    grpc_body(3, 31, &body);
    CURL *h = client_new();
    reply r;
    call_path(h, f.port, "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", "application/grpc", NULL,
              body.data, body.len, &r);
    ck_assert_msg(r.cc == CURLE_OK, "curl: %s", curl_easy_strerror(r.cc));
    ck_assert_int_eq(r.http, 200);
    ck_assert_int_eq(r.grpc_status, 12);
    tbt_buf_free(&r.body);

    call_path(h, f.port, EXPORT_PATH, "application/json", NULL, body.data, body.len, &r);
    ck_assert_int_eq(r.http, 415);
    ck_assert_int_eq(r.grpc_status, 3);
    tbt_buf_free(&r.body);

    /* application/grpc+proto is gRPC's protobuf content type */
    call_path(h, f.port, EXPORT_PATH, "application/grpc+proto", NULL, body.data, body.len, &r);
    ck_assert_int_eq(r.grpc_status, 0);
    tbt_buf_free(&r.body);

    /* GET is not a gRPC call */
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "GET");
    call_path(h, f.port, EXPORT_PATH, "application/grpc", NULL, "", 0, &r);
    ck_assert_int_eq(r.http, 405);
    ck_assert_int_eq(r.grpc_status, 12);
    tbt_buf_free(&r.body);

    tbt_receiver_stats st;
    tbt_grpc_receiver_stats(f.rcv, &st);
    ck_assert_uint_eq(st.requests, 4);
    ck_assert_uint_eq(st.unsupported, 2);
    ck_assert_uint_eq(st.bad_request, 1);
    ck_assert_uint_eq(st.ok, 1);

    curl_easy_cleanup(h);
    tbt_buf_free(&body);
    fixture_stop(&f);
}
END_TEST

/* A request whose one span has an all-zero trace id: accepted with
 * partial_success {rejected_spans 1, error_message}. */
START_TEST(test_partial_success)
{
    fixture f;
    fixture_start(&f, 0, NULL);
    tbt_buf span = TBT_BUF_INIT, ss = TBT_BUF_INIT, rs = TBT_BUF_INIT, req = TBT_BUF_INIT, body = TBT_BUF_INIT;
    static const uint8_t zero_tid[16] = {0};
    static const uint8_t sid[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    tbt_buf_putc(&span, 0x0a);
    tbt_buf_putc(&span, 16);
    tbt_buf_append(&span, zero_tid, 16);
    tbt_buf_putc(&span, 0x12);
    tbt_buf_putc(&span, 8);
    tbt_buf_append(&span, sid, 8);
    tbt_buf_putc(&span, 0x2a);
    tbt_buf_putc(&span, 1);
    tbt_buf_putc(&span, 'x');
    tbt_buf_putc(&ss, 0x12);
    tbt_buf_putc(&ss, (char)span.len);
    tbt_buf_append(&ss, span.data, span.len);
    tbt_buf_putc(&rs, 0x12);
    tbt_buf_putc(&rs, (char)ss.len);
    tbt_buf_append(&rs, ss.data, ss.len);
    tbt_buf_putc(&req, 0x0a);
    tbt_buf_putc(&req, (char)rs.len);
    tbt_buf_append(&req, rs.data, rs.len);
    grpc_msg(&body, 0, req.data, req.len);

    CURL *h = client_new();
    reply r;
    call(h, f.port, NULL, body.data, body.len, &r);
    ck_assert_msg(r.cc == CURLE_OK, "curl: %s", curl_easy_strerror(r.cc));
    ck_assert_int_eq(r.grpc_status, 0);
    /* 5-byte prefix, then field 1 (partial_success) { 1: 1, 2: "..." } */
    ck_assert_uint_ge(r.body.len, 5 + 4);
    const uint8_t *b = (const uint8_t *)r.body.data;
    uint32_t mlen = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
    ck_assert_uint_eq(b[0], 0);
    ck_assert_uint_eq(mlen, r.body.len - 5);
    ck_assert_uint_eq(b[5], 0x0a);
    ck_assert_uint_eq(b[7], 0x08);
    ck_assert_uint_eq(b[8], 1);
    ck_assert_uint_eq(b[9], 0x12);
    ck_assert_uint_gt(b[10], 0);

    tbt_receiver_stats st;
    tbt_grpc_receiver_stats(f.rcv, &st);
    ck_assert_uint_eq(st.partial, 1);

    tbt_buf_free(&r.body);
    curl_easy_cleanup(h);
    tbt_buf_free(&span);
    tbt_buf_free(&ss);
    tbt_buf_free(&rs);
    tbt_buf_free(&req);
    tbt_buf_free(&body);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_oversized)
{
    fixture f;
    fixture_start(&f, 1024, NULL);
    reply r;
    h2call hc;

    /* a real message larger than max_body_bytes: answered as soon as the
     * client has sent more than a request may hold; reset if it is still
     * sending then */
    tbt_buf body = TBT_BUF_INIT;
    grpc_body(200, 41, &body);
    ck_assert_uint_gt(body.len, 64 * 1024);
    h2_call(f.port, NULL, body.data, body.len, &hc);
    ck_assert_int_eq(hc.http, 200);
    ck_assert_int_eq(hc.grpc_status, 8);
    ck_assert_str_ne(hc.grpc_message, "");
    ck_assert(hc.closed);
    ck_assert(!hc.rst || hc.rst_code == NGHTTP2_NO_ERROR);

    /* a small prefix followed by more DATA than the limit: more than the
     * stream window (1 MiB), so the client cannot finish before the RST */
    tbt_buf_reset(&body);
    grpc_msg(&body, 0, "\x0a\x00", 2);
    for (int i = 0; i < (2 << 20); i++)
        tbt_buf_putc(&body, 'x');
    h2_call(f.port, NULL, body.data, body.len, &hc);
    ck_assert_int_eq(hc.grpc_status, 8);
    ck_assert(hc.closed);
    ck_assert(hc.rst);
    ck_assert_uint_eq(hc.rst_code, NGHTTP2_NO_ERROR);

    /* a length prefix of 4 GiB with a few bytes behind it: refused at
     * once, answered when the (small) request ends */
    CURL *h = client_new();
    call(h, f.port, NULL, "\0\xff\xff\xff\xff\x0a\x00", 7, &r);
    ck_assert_msg(r.cc == CURLE_OK, "curl: %s", curl_easy_strerror(r.cc));
    ck_assert_int_eq(r.grpc_status, 8);
    tbt_buf_free(&r.body);

    tbt_receiver_stats st;
    tbt_grpc_receiver_stats(f.rcv, &st);
    ck_assert_uint_eq(st.too_large, 3);
    ck_assert_uint_eq(store_spans(&f), 0);

    /* small requests still pass, on the same connection too */
    tbt_buf_reset(&body);
    grpc_body(1, 42, &body);
    ck_assert_uint_le(body.len, 1024 + 5);
    call(h, f.port, NULL, body.data, body.len, &r);
    ck_assert_int_eq(r.grpc_status, 0);
    tbt_buf_free(&r.body);
    h2_call(f.port, NULL, body.data, body.len, &hc);
    ck_assert_int_eq(hc.grpc_status, 0);
    ck_assert(!hc.rst);

    curl_easy_cleanup(h);
    tbt_buf_free(&body);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_gzip_bomb)
{
    fixture f;
    fixture_start(&f, (size_t)1 << 20, NULL);
    size_t n = (size_t)64 << 20;
    uint8_t *zeros = calloc(1, n);
    ck_assert_ptr_nonnull(zeros);
    tbt_buf gz = TBT_BUF_INIT, body = TBT_BUF_INIT;
    ck_assert_int_eq(tbt_gzip(zeros, n, &gz), 0);
    free(zeros);
    ck_assert_uint_lt(gz.len, (size_t)1 << 20); /* under the wire limit */
    grpc_msg(&body, 1, gz.data, gz.len);
    const char *const extra[] = {"grpc-encoding: gzip", NULL};
    CURL *h = client_new();
    reply r;
    uint64_t t0 = tbt_now_mono_ns();
    call(h, f.port, extra, body.data, body.len, &r);
    uint64_t took = tbt_now_mono_ns() - t0;
    ck_assert_msg(r.cc == CURLE_OK, "curl: %s", curl_easy_strerror(r.cc));
    ck_assert_int_eq(r.grpc_status, 8);
    ck_assert_msg(took < 2000000000ull + 10000000000ull, "bomb took %llu ms", (unsigned long long)(took / 1000000));
    tbt_buf_free(&r.body);
    curl_easy_cleanup(h);
    tbt_buf_free(&gz);
    tbt_buf_free(&body);
    expect_valid_export(&f, 43);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_store_full)
{
    tbt_store_limits lim = tbt_store_default_limits();
    lim.max_bytes = 2048;
    fixture f;
    fixture_start(&f, 0, &lim);
    tbt_buf body = TBT_BUF_INIT;
    grpc_body(50, 51, &body);
    CURL *h = client_new();
    reply r;
    call(h, f.port, NULL, body.data, body.len, &r);
    ck_assert_msg(r.cc == CURLE_OK, "curl: %s", curl_easy_strerror(r.cc));
    ck_assert_int_eq(r.grpc_status, 14);
    ck_assert_str_ne(r.grpc_message, "");
    ck_assert(r.details_bin); /* RetryInfo for the exporter */
    tbt_receiver_stats st;
    tbt_grpc_receiver_stats(f.rcv, &st);
    ck_assert_uint_eq(st.busy, 1);
    tbt_buf_free(&r.body);
    curl_easy_cleanup(h);
    tbt_buf_free(&body);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_raw_garbage)
{
    fixture f;
    fixture_start(&f, 0, NULL);
    srand(1234);
    for (int round = 0; round < 20; round++) {
        int fd = raw_connect(f.port);
        uint8_t junk[512];
        for (size_t i = 0; i < sizeof(junk); i++)
            junk[i] = (uint8_t)rand();
        raw_send(fd, junk, sizeof(junk));
        if (round == 0)
            ck_assert_msg(raw_wait_closed(fd, 5000), "the receiver kept a garbage connection open");
        close(fd);
    }
    /* an HTTP/1.1 request is garbage to an h2c-only port */
    int fd = raw_connect(f.port);
    static const char h1[] = "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    raw_send(fd, h1, strlen(h1));
    ck_assert(raw_wait_closed(fd, 5000));
    close(fd);
    expect_valid_export(&f, 61);
    fixture_stop(&f);
}
END_TEST

START_TEST(test_raw_preface_then_close)
{
    fixture f;
    fixture_start(&f, 0, NULL);
    int fd = raw_connect(f.port);
    raw_send(fd, PREFACE, strlen(PREFACE));
    close(fd);
    /* half a preface */
    fd = raw_connect(f.port);
    raw_send(fd, PREFACE, 10);
    close(fd);
    expect_valid_export(&f, 71);
    fixture_stop(&f);
}
END_TEST

/* Hostile HTTP/2 after a valid preface: truncated frames, an oversized
 * frame, RST mid-request, disconnect mid-request, random frames. */
START_TEST(test_raw_hostile_frames)
{
    fixture f;
    fixture_start(&f, 4096, NULL);

    /* a truncated frame, then close */
    tbt_buf b = TBT_BUF_INIT;
    raw_request_start(&b);
    int fd = raw_connect(f.port);
    raw_send(fd, b.data, b.len - 7);
    close(fd);

    /* a frame far larger than SETTINGS_MAX_FRAME_SIZE: GOAWAY and close */
    tbt_buf_reset(&b);
    tbt_buf_append(&b, PREFACE, strlen(PREFACE));
    frame(&b, 0x4, 0, 0, NULL, 0);
    uint8_t big[9] = {0xff, 0xff, 0xff, 0x0, 0x0, 0, 0, 0, 1};
    tbt_buf_append(&b, big, 9);
    fd = raw_connect(f.port);
    raw_send(fd, b.data, b.len);
    ck_assert(raw_wait_closed(fd, 5000));
    close(fd);

    /* RST_STREAM in the middle of a request; the connection stays */
    tbt_buf_reset(&b);
    raw_request_start(&b);
    frame(&b, 0x0, 0, 1, "\0\0\0\x10\0\x0a\x0e", 7); /* 7 of 21 bytes */
    frame(&b, 0x3, 0, 1, "\0\0\0\x8", 4);            /* RST_STREAM CANCEL */
    fd = raw_connect(f.port);
    raw_send(fd, b.data, b.len);
    /* a huge length prefix on stream 3 of the same connection */
    tbt_buf hb = TBT_BUF_INIT;
    tbt_buf_reset(&b);
    hpack_lit(&hb, ":method", "POST");
    hpack_lit(&hb, ":scheme", "http");
    hpack_lit(&hb, ":path", EXPORT_PATH);
    hpack_lit(&hb, ":authority", "127.0.0.1");
    hpack_lit(&hb, "content-type", "application/grpc");
    frame(&b, 0x1, 0x4, 3, hb.data, hb.len);
    frame(&b, 0x0, 0x1, 3, "\0\xff\xff\xff\xf0\x0a", 6);
    raw_send(fd, b.data, b.len);
    close(fd); /* without reading the answer */

    /* disconnect in the middle of a request body */
    tbt_buf_reset(&b);
    raw_request_start(&b);
    frame(&b, 0x0, 0, 1, "\0\0\0\x10\0\x0a", 6);
    fd = raw_connect(f.port);
    raw_send(fd, b.data, b.len);
    close(fd);

    /* DATA on a stream that was never opened, and on stream 0 */
    tbt_buf_reset(&b);
    tbt_buf_append(&b, PREFACE, strlen(PREFACE));
    frame(&b, 0x4, 0, 0, NULL, 0);
    frame(&b, 0x0, 0, 5, "abc", 3);
    frame(&b, 0x0, 0, 0, "abc", 3);
    fd = raw_connect(f.port);
    raw_send(fd, b.data, b.len);
    ck_assert(raw_wait_closed(fd, 5000));
    close(fd);

    /* random frames after a valid preface and request HEADERS */
    srand(99);
    for (int round = 0; round < 100; round++) {
        tbt_buf_reset(&b);
        raw_request_start(&b);
        int frames = 1 + rand() % 6;
        for (int k = 0; k < frames; k++) {
            uint8_t payload[64];
            size_t n = (size_t)(rand() % (int)sizeof(payload));
            for (size_t i = 0; i < n; i++)
                payload[i] = (uint8_t)rand();
            frame(&b, (uint8_t)(rand() % 11), (uint8_t)rand(), (uint32_t)(rand() % 6), payload, n);
        }
        fd = raw_connect(f.port);
        raw_send(fd, b.data, b.len);
        close(fd);
    }
    tbt_buf_free(&b);
    tbt_buf_free(&hb);

    expect_valid_export(&f, 81);
    fixture_stop(&f);
}
END_TEST

/* More connections than the receiver keeps: the extra ones are closed,
 * nothing breaks, and once they go a new client is served. */
START_TEST(test_connection_bound)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 1024)
        return;
    fixture f;
    fixture_start(&f, 0, NULL);
    enum { N = 300 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = raw_connect(f.port);
    /* the receiver holds at most 256: one of the last ones is closed */
    ck_assert(raw_wait_closed(fds[N - 1], 5000));
    for (int i = 0; i < N; i++)
        close(fds[i]);
    /* the receiver notices the closes on its next loop turn */
    bool ok = false;
    for (int attempt = 0; attempt < 50 && !ok; attempt++) {
        tbt_buf body = TBT_BUF_INIT;
        grpc_body(2, 91, &body);
        CURL *h = client_new();
        reply r;
        call(h, f.port, NULL, body.data, body.len, &r);
        ok = r.grpc_status == 0;
        tbt_buf_free(&r.body);
        curl_easy_cleanup(h);
        tbt_buf_free(&body);
        if (!ok)
            usleep(20000);
    }
    ck_assert(ok);
    fixture_stop(&f);
}
END_TEST

typedef struct worker {
    uint16_t port;
    unsigned id;
    int failures;
    char why[800];
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    CURL *h = curl_easy_init();
    for (unsigned i = 0; i < 50; i++) {
        tbt_buf pb = TBT_BUF_INIT, body = TBT_BUF_INIT;
        tbt_trace *t = tbt_otlp_generate(4, 1000 * (w->id + 1) + i);
        tbt_otlp_encode(t, TBT_OTLP_PROTOBUF, &pb);
        tbt_trace_free(t);
        grpc_msg(&body, 0, pb.data, pb.len);
        reply r;
        call(h, w->port, NULL, body.data, body.len, &r);
        if (r.cc != CURLE_OK || r.grpc_status != 0) {
            if (!w->failures++)
                snprintf(w->why, sizeof(w->why), "request %u: curl %d, grpc-status %d %s", i, (int)r.cc,
                         r.grpc_status, r.grpc_message);
        }
        tbt_buf_free(&r.body);
        tbt_buf_free(&pb);
        tbt_buf_free(&body);
    }
    curl_easy_cleanup(h);
    return NULL;
}

START_TEST(test_concurrency)
{
    fixture f;
    fixture_start(&f, 0, NULL);
    worker w[4];
    pthread_t th[4];
    for (unsigned i = 0; i < 4; i++) {
        w[i] = (worker){.port = f.port, .id = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (unsigned i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(w[i].failures == 0, "worker %u: %d failures, first: %s", i, w[i].failures, w[i].why);
    }
    ck_assert_uint_eq(store_spans(&f), 4 * 50 * 4);
    tbt_receiver_stats st;
    tbt_grpc_receiver_stats(f.rcv, &st);
    ck_assert_uint_eq(st.requests, 200);
    ck_assert_uint_eq(st.ok, 200);
    fixture_stop(&f);
}
END_TEST

/* Stop ends the loop at once even with idle and half-sent clients. */
START_TEST(test_stop_prompt)
{
    fixture f;
    fixture_start(&f, 0, NULL);
    int idle = raw_connect(f.port);
    tbt_buf b = TBT_BUF_INIT;
    raw_request_start(&b);
    frame(&b, 0x0, 0, 1, "\0\0\0\x10\0", 5);
    int half = raw_connect(f.port);
    raw_send(half, b.data, b.len);
    tbt_buf_free(&b);
    usleep(50000);
    uint64_t t0 = tbt_now_mono_ns();
    fixture_stop(&f);
    uint64_t took = tbt_now_mono_ns() - t0;
    ck_assert_msg(took < 500000000ull + 10000000000ull, "stop took %llu ms", (unsigned long long)(took / 1000000));
    ck_assert(raw_wait_closed(idle, 1000));
    ck_assert(raw_wait_closed(half, 1000));
    close(idle);
    close(half);
}
END_TEST

START_TEST(test_start_errors)
{
    tbt_store *s = tbt_store_new(NULL);
    tbt_grpc_receiver *r = NULL;
    tbt_error err = TBT_ERROR_INIT;
    tbt_receiver_opts o = {.bind_addr = "not an address", .port = 0};
    ck_assert_int_lt(tbt_grpc_receiver_start(s, &o, &r, &err), 0);
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(err.msg);
    tbt_error_clear(&err);

    /* the same port twice */
    tbt_grpc_receiver *a = NULL;
    ck_assert_int_eq(tbt_grpc_receiver_start(s, NULL, &a, &err), 0);
    o = (tbt_receiver_opts){.port = tbt_grpc_receiver_port(a)};
    ck_assert_int_eq(tbt_grpc_receiver_start(s, &o, &r, &err), -EADDRINUSE);
    ck_assert_ptr_null(r);
    tbt_error_clear(&err);
    tbt_grpc_receiver_stop(a);
    tbt_grpc_receiver_stop(NULL);
    tbt_store_free(s);
}
END_TEST

static Suite *receiver_grpc_suite(void)
{
    Suite *s = suite_create("receiver_grpc");
    TCase *tc = tcase_create("grpc");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_valid_export);
    tcase_add_test(tc, test_gzip_message);
    tcase_add_test(tc, test_connection_reuse);
    tcase_add_test(tc, test_malformed_protobuf);
    tcase_add_test(tc, test_framing_errors);
    tcase_add_test(tc, test_wrong_path_and_type);
    tcase_add_test(tc, test_partial_success);
    tcase_add_test(tc, test_oversized);
    tcase_add_test(tc, test_gzip_bomb);
    tcase_add_test(tc, test_store_full);
    tcase_add_test(tc, test_raw_garbage);
    tcase_add_test(tc, test_raw_preface_then_close);
    tcase_add_test(tc, test_raw_hostile_frames);
    tcase_add_test(tc, test_connection_bound);
    tcase_add_test(tc, test_concurrency);
    tcase_add_test(tc, test_stop_prompt);
    tcase_add_test(tc, test_start_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(receiver_grpc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failures != 0;
}
