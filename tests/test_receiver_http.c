/* test_receiver_http.c - the OTLP/HTTP receiver over real TCP (libcurl and
 * raw sockets against a receiver on a free port): protobuf, JSON, gzip,
 * chunked uploads, keep-alive, every refusal (400, 404, 405, 413, 415, 503)
 * with its body, partial success, duplicates, concurrency, hostile input. */
#include "gzip_fixture.h"
#include "tbt_gzip.h"
#include "tbt_receiver.h"

#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- a store and a receiver on a free port ------------------------------ */

typedef struct rig {
    tbt_store *store;
    tbt_http_receiver *rx;
    uint16_t port;
} rig;

static void rig_start(rig *g, const tbt_store_limits *lim, size_t max_body)
{
    g->store = tbt_store_new(lim);
    ck_assert_ptr_nonnull(g->store);
    tbt_receiver_opts o = {.bind_addr = "127.0.0.1", .port = 0, .max_body_bytes = max_body, .threads = 2};
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_http_receiver_start(g->store, &o, &g->rx, &err);
    ck_assert_msg(rc == 0, "receiver start: %s", err.msg ? err.msg : "?");
    g->port = tbt_http_receiver_port(g->rx);
    ck_assert_uint_ne(g->port, 0);
}

static void rig_stop(rig *g)
{
    tbt_http_receiver_stop(g->rx);
    tbt_store_free(g->store);
}

static tbt_store_figures store_stats(rig *g)
{
    tbt_store_figures st;
    tbt_store_stats(g->store, &st);
    return st;
}

static tbt_receiver_stats rx_stats(rig *g)
{
    tbt_receiver_stats st;
    tbt_http_receiver_stats(g->rx, &st);
    return st;
}

static void encode_trace(size_t n, unsigned seed, tbt_otlp_format fmt, tbt_buf *out)
{
    tbt_trace *t = tbt_otlp_generate(n, seed);
    ck_assert_int_eq(tbt_otlp_encode(t, fmt, out), 0);
    tbt_trace_free(t);
}

/* ---- HTTP client (libcurl) ---------------------------------------------- */

typedef struct req {
    const char *method;  /* NULL: POST */
    const char *path;    /* NULL: /v1/traces */
    const char *ctype;   /* NULL: no Content-Type header */
    const char *cenc;    /* NULL: no Content-Encoding header */
    const void *body;
    size_t len;
    bool chunked;        /* Transfer-Encoding: chunked, fed in small pieces */
    bool expect;         /* Expect: 100-continue */
} req;

typedef struct reply {
    CURLcode cc;
    long status;
    tbt_buf body;
    char ctype[128];
    char retry_after[32];
    char allow[64];
    long connects; /* new connections this request opened */
    double seconds;
} reply;

typedef struct feed {
    const uint8_t *p;
    size_t left;
} feed;

static size_t on_read(char *dst, size_t size, size_t nitems, void *ud)
{
    feed *f = ud;
    size_t n = size * nitems;
    if (n > 1000)
        n = 1000; /* many small chunks */
    if (n > f->left)
        n = f->left;
    memcpy(dst, f->p, n);
    f->p += n;
    f->left -= n;
    return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    tbt_buf_append(ud, p, size * nmemb);
    return size * nmemb;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t cap)
{
    size_t k = strlen(name);
    if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return;
    const char *v = line + k + 1;
    size_t vn = n - k - 1;
    while (vn && (*v == ' ' || *v == '\t'))
        v++, vn--;
    while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
        vn--;
    if (vn >= cap)
        vn = cap - 1;
    memcpy(out, v, vn);
    out[vn] = '\0';
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    reply *r = ud;
    size_t n = size * nmemb;
    header_value(p, n, "Retry-After", r->retry_after, sizeof(r->retry_after));
    header_value(p, n, "Allow", r->allow, sizeof(r->allow));
    return n;
}

/* Send rq on h (a fresh handle when h is NULL). out->body is freed by
 * reply_free. */
static void http(CURL *h, uint16_t port, const req *rq, reply *out)
{
    memset(out, 0, sizeof(*out));
    bool own = h == NULL;
    if (own)
        h = curl_easy_init();
    ck_assert_ptr_nonnull(h);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, rq->path ? rq->path : "/v1/traces");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, out);

    struct curl_slist *hdrs = NULL;
    char line[256];
    if (rq->ctype) {
        snprintf(line, sizeof(line), "Content-Type: %s", rq->ctype);
        hdrs = curl_slist_append(hdrs, line);
    } else {
        hdrs = curl_slist_append(hdrs, "Content-Type:");
    }
    if (rq->cenc) {
        snprintf(line, sizeof(line), "Content-Encoding: %s", rq->cenc);
        hdrs = curl_slist_append(hdrs, line);
    }
    hdrs = curl_slist_append(hdrs, rq->expect ? "Expect: 100-continue" : "Expect:");

    feed f = {rq->body, rq->len};
    const char *method = rq->method ? rq->method : "POST";
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (rq->chunked) {
        hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &f);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
    } else {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->len);
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") && strcmp(method, "GET") ? method : NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

    out->cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &out->connects);
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &out->seconds);
    char *ct = NULL;
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    if (ct)
        snprintf(out->ctype, sizeof(out->ctype), "%s", ct);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (own)
        curl_easy_cleanup(h);
}

static void reply_free(reply *r)
{
    tbt_buf_free(&r->body);
}

/* POST body with content type ct; asserts the transfer itself worked. */
static void post(rig *g, const char *ct, const void *body, size_t len, reply *out)
{
    req rq = {.ctype = ct, .body = body, .len = len};
    http(NULL, g->port, &rq, out);
    ck_assert_msg(out->cc == CURLE_OK, "curl: %s", curl_easy_strerror(out->cc));
}

/* ---- protobuf by hand --------------------------------------------------- */

static void pb_varint(tbt_buf *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            c |= 0x80;
        tbt_buf_append(b, &c, 1);
    } while (v);
}

static void pb_len(tbt_buf *b, unsigned field, const void *p, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    tbt_buf_append(b, p, n);
}

static bool rd_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t c = *(*p)++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return true;
    }
    return false;
}

/* The varint field vf and the length-delimited field lf of one message.
 * Returns false on a malformed message or other wire types. */
static bool pb_pick(const uint8_t *p, size_t n, unsigned vf, uint64_t *vval, unsigned lf, const uint8_t **lval,
                    size_t *llen)
{
    const uint8_t *end = p + n;
    while (p < end) {
        uint64_t tag, v;
        if (!rd_varint(&p, end, &tag))
            return false;
        if ((tag & 7) == 0) {
            if (!rd_varint(&p, end, &v))
                return false;
            if ((tag >> 3) == vf)
                *vval = v;
        } else if ((tag & 7) == 2) {
            if (!rd_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return false;
            if ((tag >> 3) == lf) {
                *lval = p;
                *llen = (size_t)v;
            }
            p += v;
        } else {
            return false;
        }
    }
    return true;
}

/* google.rpc.Status {code = 1, message = 2}; *msg is a heap string. */
static void pb_status(const tbt_buf *b, uint64_t *code, char **msg)
{
    const uint8_t *m = NULL;
    size_t mlen = 0;
    *code = 0;
    ck_assert_msg(pb_pick((const uint8_t *)b->data, b->len, 1, code, 2, &m, &mlen), "malformed Status");
    *msg = tbt_xstrndup(m ? (const char *)m : "", mlen);
}

/* A request with one resource, one scope and the given spans; span ids of
 * all zero bytes make the span invalid. */
static void pb_request(tbt_buf *out, const uint8_t (*span_ids)[8], size_t n)
{
    static const uint8_t tid[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                    0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
    tbt_buf scope = TBT_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        tbt_buf span = TBT_BUF_INIT;
        pb_len(&span, 1, tid, 16);
        pb_len(&span, 2, span_ids[i], 8);
        pb_len(&span, 5, "op", 2);
        pb_varint(&span, 7u << 3 | 1); /* start_time_unix_nano, fixed64 */
        uint64_t t0 = 1718000000000000000ull + i;
        tbt_buf_append(&span, &t0, 8);
        pb_varint(&span, 8u << 3 | 1);
        uint64_t t1 = t0 + 1000;
        tbt_buf_append(&span, &t1, 8);
        pb_len(&scope, 2, span.data, span.len);
        tbt_buf_free(&span);
    }
    tbt_buf rs = TBT_BUF_INIT;
    pb_len(&rs, 2, scope.data, scope.len);
    pb_len(out, 1, rs.data, rs.len);
    tbt_buf_free(&rs);
    tbt_buf_free(&scope);
}

/* ---- raw sockets, for what curl will not send --------------------------- */

/* Length of a complete HTTP response at the start of in (0: incomplete). */
static size_t response_len(const char *in, size_t n)
{
    const char *eoh = memmem(in, n, "\r\n\r\n", 4);
    if (!eoh)
        return 0;
    size_t head = (size_t)(eoh - in) + 4, body = 0;
    for (const char *l = in; l < eoh; l = strstr(l, "\r\n") + 2) {
        if (strncasecmp(l, "Content-Length:", 15) == 0)
            body = strtoul(l + 15, NULL, 10);
    }
    return head + body <= n ? head + body : 0;
}

/* A connected TCP socket to the receiver; reads time out after 5 s. */
static int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void raw_send(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        p += w;
        len -= (size_t)w;
    }
}

/* Read until one complete response (or "100 Continue") arrived, the peer
 * closed, or 5 s passed. Caller frees. */
static char *raw_read(int fd)
{
    tbt_buf in = TBT_BUF_INIT;
    char buf[4096];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r <= 0)
            break;
        tbt_buf_append(&in, buf, (size_t)r);
        if (response_len(in.data, in.len))
            break;
    }
    tbt_buf_append(&in, "", 0);
    return tbt_buf_steal(&in);
}

/* Send raw bytes (then half-close when asked) and read one response. With
 * want_reply false the socket is closed right after sending. */
static char *raw_exchange(uint16_t port, const void *data, size_t len, bool half_close, bool want_reply)
{
    int fd = raw_connect(port);
    raw_send(fd, data, len);
    if (half_close)
        shutdown(fd, SHUT_WR);
    char *resp = want_reply ? raw_read(fd) : tbt_xstrdup("");
    close(fd);
    return resp;
}

/* The receiver still answers a valid request after abuse. */
static void assert_alive(rig *g)
{
    tbt_buf body = TBT_BUF_INIT;
    encode_trace(3, 999, TBT_OTLP_PROTOBUF, &body);
    reply r;
    post(g, "application/x-protobuf", body.data, body.len, &r);
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    tbt_buf_free(&body);
}

/* ---- success paths ------------------------------------------------------ */

START_TEST(test_protobuf_ok)
{
    rig g;
    rig_start(&g, NULL, 0);
    tbt_buf body = TBT_BUF_INIT;
    encode_trace(50, 1, TBT_OTLP_PROTOBUF, &body);
    reply r;
    post(&g, "application/x-protobuf", body.data, body.len, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body.len, 0);
    ck_assert_str_eq(r.ctype, "application/x-protobuf");
    tbt_store_figures st = store_stats(&g);
    ck_assert_uint_eq(st.spans, 50);
    ck_assert_uint_eq(st.ingested_spans, 50);
    tbt_receiver_stats rs = rx_stats(&g);
    ck_assert_uint_eq(rs.requests, 1);
    ck_assert_uint_eq(rs.ok, 1);
    ck_assert_uint_eq(rs.bytes_in, body.len);
    reply_free(&r);
    tbt_buf_free(&body);
    rig_stop(&g);
}
END_TEST

START_TEST(test_content_type_variants)
{
    rig g;
    rig_start(&g, NULL, 0);
    tbt_buf pb = TBT_BUF_INIT, js = TBT_BUF_INIT;
    encode_trace(5, 2, TBT_OTLP_PROTOBUF, &pb);
    encode_trace(5, 3, TBT_OTLP_JSON, &js);
    static const struct {
        const char *sent, *answered;
        bool json;
    } cases[] = {
        {"application/protobuf", "application/protobuf", false},
        {"application/x-protobuf; charset=binary", "application/x-protobuf", false},
        {"  Application/X-Protobuf ", "application/x-protobuf", false},
        {"application/json; charset=utf-8", "application/json", true},
        {"APPLICATION/JSON", "application/json", true},
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(cases); i++) {
        const tbt_buf *b = cases[i].json ? &js : &pb;
        reply r;
        post(&g, cases[i].sent, b->data, b->len, &r);
        ck_assert_msg(r.status == 200, "%s: %ld", cases[i].sent, r.status);
        ck_assert_str_eq(r.ctype, cases[i].answered);
        reply_free(&r);
    }
    ck_assert_uint_eq(store_stats(&g).ingested_spans, 10);
    ck_assert_uint_eq(store_stats(&g).duplicate_spans, 15);
    tbt_buf_free(&pb);
    tbt_buf_free(&js);
    rig_stop(&g);
}
END_TEST

START_TEST(test_json_ok)
{
    rig g;
    rig_start(&g, NULL, 0);
    tbt_buf body = TBT_BUF_INIT;
    encode_trace(40, 4, TBT_OTLP_JSON, &body);
    reply r;
    post(&g, "application/json", body.data, body.len, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.ctype, "application/json");
    ck_assert_str_eq(tbt_buf_cstr(&r.body), "{}");
    ck_assert_uint_eq(store_stats(&g).spans, 40);
    reply_free(&r);
    tbt_buf_free(&body);
    rig_stop(&g);
}
END_TEST

START_TEST(test_empty_request)
{
    rig g;
    rig_start(&g, NULL, 0);
    reply r;
    post(&g, "application/x-protobuf", "", 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body.len, 0);
    reply_free(&r);
    post(&g, "application/json", "{}", 2, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(tbt_buf_cstr(&r.body), "{}");
    reply_free(&r);
    ck_assert_uint_eq(store_stats(&g).spans, 0);
    rig_stop(&g);
}
END_TEST

START_TEST(test_gzip_ok)
{
    rig g;
    rig_start(&g, NULL, 0);
    tbt_buf pb = TBT_BUF_INIT, js = TBT_BUF_INIT, zpb = TBT_BUF_INIT, zjs = TBT_BUF_INIT;
    encode_trace(200, 5, TBT_OTLP_PROTOBUF, &pb);
    encode_trace(100, 6, TBT_OTLP_JSON, &js);
    tbt_gzip((const uint8_t *)pb.data, pb.len, &zpb);
    tbt_gzip((const uint8_t *)js.data, js.len, &zjs);
    ck_assert_uint_lt(zpb.len, pb.len);

    req rq = {.ctype = "application/x-protobuf", .cenc = "gzip", .body = zpb.data, .len = zpb.len};
    reply r;
    http(NULL, g.port, &rq, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body.len, 0);
    reply_free(&r);

    req rj = {.ctype = "application/json", .cenc = "GZIP", .body = zjs.data, .len = zjs.len};
    http(NULL, g.port, &rj, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(tbt_buf_cstr(&r.body), "{}");
    reply_free(&r);
    ck_assert_uint_eq(store_stats(&g).spans, 300);
    ck_assert_uint_eq(rx_stats(&g).bytes_in, zpb.len + zjs.len);

    /* identity is the same as no encoding */
    req ri = {.ctype = "application/x-protobuf", .cenc = "identity", .body = pb.data, .len = pb.len};
    http(NULL, g.port, &ri, &r);
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);

    /* a gzip body that is not gzip: bad data, 400 */
    req rb = {.ctype = "application/x-protobuf", .cenc = "gzip", .body = pb.data, .len = pb.len};
    http(NULL, g.port, &rb, &r);
    ck_assert_int_eq(r.status, 400);
    uint64_t code;
    char *msg;
    pb_status(&r.body, &code, &msg);
    ck_assert_uint_eq(code, 3);
    ck_assert_ptr_nonnull(strstr(msg, "gzip"));
    free(msg);
    reply_free(&r);

    tbt_buf_free(&pb);
    tbt_buf_free(&js);
    tbt_buf_free(&zpb);
    tbt_buf_free(&zjs);
    rig_stop(&g);
}
END_TEST

START_TEST(test_chunked_upload)
{
    rig g;
    rig_start(&g, NULL, 0);
    tbt_buf pb = TBT_BUF_INIT, js = TBT_BUF_INIT, zpb = TBT_BUF_INIT;
    encode_trace(1500, 7, TBT_OTLP_PROTOBUF, &pb);
    encode_trace(300, 8, TBT_OTLP_JSON, &js);
    encode_trace(700, 9, TBT_OTLP_PROTOBUF, &zpb);
    tbt_buf z = TBT_BUF_INIT;
    tbt_gzip((const uint8_t *)zpb.data, zpb.len, &z);

    req rq = {.ctype = "application/x-protobuf", .body = pb.data, .len = pb.len, .chunked = true};
    reply r;
    http(NULL, g.port, &rq, &r);
    ck_assert_msg(r.cc == CURLE_OK, "%s", curl_easy_strerror(r.cc));
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body.len, 0);
    reply_free(&r);

    req rj = {.ctype = "application/json", .body = js.data, .len = js.len, .chunked = true};
    http(NULL, g.port, &rj, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(tbt_buf_cstr(&r.body), "{}");
    reply_free(&r);

    /* what the OTel JS exporter does with compression on */
    req rz = {.ctype = "application/x-protobuf", .cenc = "gzip", .body = z.data, .len = z.len, .chunked = true};
    http(NULL, g.port, &rz, &r);
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);

    ck_assert_uint_eq(store_stats(&g).spans, 2500);
    tbt_buf_free(&pb);
    tbt_buf_free(&js);
    tbt_buf_free(&zpb);
    tbt_buf_free(&z);
    rig_stop(&g);
}
END_TEST

START_TEST(test_keep_alive)
{
    rig g;
    rig_start(&g, NULL, 0);
    CURL *h = curl_easy_init();
    tbt_buf body = TBT_BUF_INIT;
    reply r;
    for (unsigned i = 0; i < 6; i++) {
        tbt_buf_reset(&body);
        encode_trace(10, 100 + i, TBT_OTLP_PROTOBUF, &body);
        req rq = {.ctype = "application/x-protobuf", .body = body.data, .len = body.len, .chunked = i % 2 == 1};
        http(h, g.port, &rq, &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_int_eq(r.connects, i == 0 ? 1 : 0);
        reply_free(&r);
    }
    /* refusals keep the connection too: bad data, unknown type, wrong path */
    req bad = {.ctype = "application/x-protobuf", .body = "\x0a\xff", .len = 2};
    http(h, g.port, &bad, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_int_eq(r.connects, 0);
    reply_free(&r);
    req odd = {.ctype = "text/plain", .body = body.data, .len = body.len, .chunked = true};
    http(h, g.port, &odd, &r);
    ck_assert_int_eq(r.status, 415);
    ck_assert_int_eq(r.connects, 0);
    reply_free(&r);
    req lost = {.path = "/v1/logs", .ctype = "application/x-protobuf", .body = body.data, .len = body.len};
    http(h, g.port, &lost, &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_int_eq(r.connects, 0);
    reply_free(&r);
    req again = {.ctype = "application/x-protobuf", .body = body.data, .len = body.len};
    http(h, g.port, &again, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.connects, 0);
    reply_free(&r);
    ck_assert_uint_eq(store_stats(&g).ingested_spans, 60);
    curl_easy_cleanup(h);
    tbt_buf_free(&body);
    rig_stop(&g);
}
END_TEST

/* ---- bad data ----------------------------------------------------------- */

START_TEST(test_malformed_protobuf)
{
    rig g;
    rig_start(&g, NULL, 0);
    /* resource_spans claims 2^31 bytes; then a truncated varint */
    static const char *bodies[] = {"\x0a\x80\x80\x80\x80\x08xyz", "\x0a\x05\x12\x03\x12\x01", "\xff\xff\xff"};
    static const size_t lens[] = {9, 6, 3};
    for (size_t i = 0; i < TBT_ARRAY_LEN(bodies); i++) {
        reply r;
        post(&g, "application/x-protobuf", bodies[i], lens[i], &r);
        ck_assert_int_eq(r.status, 400);
        ck_assert_str_eq(r.ctype, "application/x-protobuf");
        uint64_t code;
        char *msg;
        pb_status(&r.body, &code, &msg);
        ck_assert_uint_eq(code, 3);
        ck_assert_msg(strlen(msg) > 0, "empty Status message");
        free(msg);
        reply_free(&r);
    }
    ck_assert_uint_eq(store_stats(&g).spans, 0);
    ck_assert_uint_eq(rx_stats(&g).bad_request, 3);
    rig_stop(&g);
}
END_TEST

START_TEST(test_malformed_json)
{
    rig g;
    rig_start(&g, NULL, 0);
    static const char *bodies[] = {
        "{\"resourceSpans\": [",
        "",
        "[1,2,3]",
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"zz\",\"spanId\":\"0102030405060708\"}]}]}]}",
    };
    for (size_t i = 0; i < TBT_ARRAY_LEN(bodies); i++) {
        reply r;
        post(&g, "application/json", bodies[i], strlen(bodies[i]), &r);
        ck_assert_str_eq(r.ctype, "application/json");
        cJSON *j = cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
        ck_assert_msg(j != NULL, "reply is not JSON: %s", tbt_buf_cstr(&r.body));
        if (r.status == 400) {
            cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "code");
            cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
            ck_assert(cJSON_IsNumber(code) && code->valuedouble == 3);
            ck_assert(cJSON_IsString(msg) && msg->valuestring[0]);
        } else {
            /* a bad hex id may be an invalid span rather than bad JSON */
            ck_assert_msg(i == 3 && r.status == 200, "case %zu: status %ld", i, r.status);
            ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(j, "partialSuccess"));
        }
        cJSON_Delete(j);
        reply_free(&r);
    }
    rig_stop(&g);
}
END_TEST

START_TEST(test_invalid_ids_partial_success)
{
    rig g;
    rig_start(&g, NULL, 0);
    static const uint8_t ids[3][8] = {{0}, {1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 3, 4, 5, 6, 7, 9}};
    tbt_buf body = TBT_BUF_INIT;
    pb_request(&body, ids, 3);
    reply r;
    post(&g, "application/x-protobuf", body.data, body.len, &r);
    ck_assert_int_eq(r.status, 200);
    /* ExportTraceServiceResponse.partial_success (1) {rejected_spans (1), error_message (2)} */
    const uint8_t *ps = NULL, *em = NULL;
    size_t pslen = 0, emlen = 0;
    uint64_t unused = 0, rejected = 0;
    ck_assert(pb_pick((const uint8_t *)r.body.data, r.body.len, 99, &unused, 1, &ps, &pslen));
    ck_assert_ptr_nonnull(ps);
    ck_assert(pb_pick(ps, pslen, 1, &rejected, 2, &em, &emlen));
    ck_assert_uint_eq(rejected, 1);
    ck_assert_uint_gt(emlen, 0);
    reply_free(&r);

    const char *json =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
        "{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"0000000000000000\",\"name\":\"bad\","
        "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\"},"
        "{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\",\"name\":\"good\","
        "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\"}]}]}]}";
    post(&g, "application/json", json, strlen(json), &r);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = cJSON_ParseWithLength(r.body.data, r.body.len);
    ck_assert_ptr_nonnull(j);
    cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "partialSuccess");
    cJSON *n = cJSON_GetObjectItemCaseSensitive(p, "rejectedSpans");
    cJSON *m = cJSON_GetObjectItemCaseSensitive(p, "errorMessage");
    ck_assert(cJSON_IsString(n)); /* int64 as a string, per OTLP/JSON */
    ck_assert_str_eq(n->valuestring, "1");
    ck_assert(cJSON_IsString(m) && m->valuestring[0]);
    cJSON_Delete(j);
    reply_free(&r);

    tbt_store_figures st = store_stats(&g);
    ck_assert_uint_eq(st.rejected_spans, 2);
    ck_assert_uint_eq(st.spans, 3);
    tbt_receiver_stats rs = rx_stats(&g);
    ck_assert_uint_eq(rs.partial, 2);
    ck_assert_uint_eq(rs.ok, 0);
    tbt_buf_free(&body);
    rig_stop(&g);
}
END_TEST

/* ---- refusals by route and headers -------------------------------------- */

START_TEST(test_unsupported_media_type)
{
    rig g;
    rig_start(&g, NULL, 0);
    tbt_buf body = TBT_BUF_INIT;
    encode_trace(5, 10, TBT_OTLP_PROTOBUF, &body);
    static const char *types[] = {"text/plain", NULL, "application/x-protobufx", "application/grpc",
                                  "multipart/form-data; boundary=x"};
    for (size_t i = 0; i < TBT_ARRAY_LEN(types); i++) {
        req rq = {.ctype = types[i], .body = body.data, .len = body.len};
        reply r;
        http(NULL, g.port, &rq, &r);
        ck_assert_msg(r.status == 415, "%s: %ld", types[i] ? types[i] : "(none)", r.status);
        ck_assert_ptr_nonnull(strstr(tbt_buf_cstr(&r.body), "content type"));
        reply_free(&r);
    }
    /* an unknown Content-Encoding: 415 with a Status in the request's type */
    req br = {.ctype = "application/json", .cenc = "br", .body = "{}", .len = 2};
    reply r;
    http(NULL, g.port, &br, &r);
    ck_assert_int_eq(r.status, 415);
    ck_assert_str_eq(r.ctype, "application/json");
    ck_assert_ptr_nonnull(strstr(tbt_buf_cstr(&r.body), "\"message\""));
    reply_free(&r);
    ck_assert_uint_eq(store_stats(&g).spans, 0);
    ck_assert_uint_eq(rx_stats(&g).unsupported, TBT_ARRAY_LEN(types) + 1);
    tbt_buf_free(&body);
    rig_stop(&g);
}
END_TEST

START_TEST(test_method_not_allowed)
{
    rig g;
    rig_start(&g, NULL, 0);
    static const char *methods[] = {"GET", "PUT", "DELETE", "PATCH"};
    for (size_t i = 0; i < TBT_ARRAY_LEN(methods); i++) {
        req rq = {.method = methods[i], .ctype = "application/json", .body = "{}", .len = 2};
        reply r;
        http(NULL, g.port, &rq, &r);
        ck_assert_msg(r.status == 405, "%s: %ld", methods[i], r.status);
        ck_assert_str_eq(r.allow, "POST");
        reply_free(&r);
    }
    rig_stop(&g);
}
END_TEST

START_TEST(test_not_found)
{
    rig g;
    rig_start(&g, NULL, 0);
    static const char *paths[] = {"/", "/v1/metrics", "/v1/logs", "/v1/traces/", "/v1/tracesx", "/V1/TRACES"};
    for (size_t i = 0; i < TBT_ARRAY_LEN(paths); i++) {
        req rq = {.path = paths[i], .ctype = "application/x-protobuf", .body = "", .len = 0};
        reply r;
        http(NULL, g.port, &rq, &r);
        ck_assert_msg(r.status == 404, "%s: %ld", paths[i], r.status);
        reply_free(&r);
    }
    /* a query string does not change the route */
    req rq = {.path = "/v1/traces?x=1", .ctype = "application/x-protobuf", .body = "", .len = 0};
    reply r;
    http(NULL, g.port, &rq, &r);
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    rig_stop(&g);
}
END_TEST

/* ---- size limits -------------------------------------------------------- */

#define SMALL_LIMIT ((size_t)64 << 10)

START_TEST(test_too_large_declared)
{
    rig g;
    rig_start(&g, NULL, SMALL_LIMIT);
    tbt_buf body = TBT_BUF_INIT;
    encode_trace(2000, 11, TBT_OTLP_PROTOBUF, &body);
    ck_assert_uint_gt(body.len, SMALL_LIMIT);
    /* Content-Length over the limit: refused before the body is read */
    req rq = {.ctype = "application/x-protobuf", .body = body.data, .len = body.len, .expect = true};
    reply r;
    http(NULL, g.port, &rq, &r);
    ck_assert_msg(r.cc == CURLE_OK, "%s", curl_easy_strerror(r.cc));
    ck_assert_int_eq(r.status, 413);
    uint64_t code;
    char *msg;
    pb_status(&r.body, &code, &msg);
    ck_assert_uint_eq(code, 8);
    ck_assert_ptr_nonnull(strstr(msg, "limit"));
    free(msg);
    reply_free(&r);
    ck_assert_uint_eq(rx_stats(&g).bytes_in, 0);
    ck_assert_uint_eq(rx_stats(&g).too_large, 1);

    /* a body of exactly the limit is accepted (as far as size goes) */
    tbt_buf exact = TBT_BUF_INIT;
    tbt_buf_append(&exact, body.data, SMALL_LIMIT);
    post(&g, "application/x-protobuf", exact.data, exact.len, &r);
    ck_assert_int_eq(r.status, 400); /* cut mid-message: bad data, not too large */
    reply_free(&r);
    tbt_buf_free(&exact);
    ck_assert_uint_eq(store_stats(&g).spans, 0);
    tbt_buf_free(&body);
    rig_stop(&g);
}
END_TEST

START_TEST(test_too_large_chunked)
{
    rig g;
    rig_start(&g, NULL, SMALL_LIMIT);
    tbt_buf body = TBT_BUF_INIT;
    encode_trace(2000, 12, TBT_OTLP_JSON, &body);
    ck_assert_uint_gt(body.len, 2 * SMALL_LIMIT);
    /* no length announced: the excess is drained, not kept, then 413 */
    req rq = {.ctype = "application/json", .body = body.data, .len = SMALL_LIMIT + SMALL_LIMIT / 2,
              .chunked = true};
    reply r;
    http(NULL, g.port, &rq, &r);
    ck_assert_msg(r.cc == CURLE_OK, "%s", curl_easy_strerror(r.cc));
    ck_assert_int_eq(r.status, 413);
    cJSON *j = cJSON_ParseWithLength(r.body.data, r.body.len);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(j, "code")->valueint, 8);
    cJSON_Delete(j);
    reply_free(&r);

    /* far past the limit: the receiver hangs up rather than read on */
    req huge = {.ctype = "application/json", .body = body.data, .len = body.len, .chunked = true};
    http(NULL, g.port, &huge, &r);
    ck_assert(r.cc != CURLE_OK || r.status == 413);
    reply_free(&r);
    ck_assert_uint_eq(store_stats(&g).spans, 0);
    assert_alive(&g);
    tbt_buf_free(&body);
    rig_stop(&g);
}
END_TEST

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

START_TEST(test_gzip_bomb)
{
    rig g;
    rig_start(&g, NULL, 0); /* default 16 MiB limit */
    tbt_buf bomb = TBT_BUF_INIT;
    gzip_zeros((size_t)100 << 20, &bomb);
    ck_assert_uint_lt(bomb.len, 200u << 10); /* ~100 KB on the wire */
    long rss0 = max_rss_kib();
    uint64_t t0 = tbt_now_mono_ns();
    req rq = {.ctype = "application/x-protobuf", .cenc = "gzip", .body = bomb.data, .len = bomb.len};
    reply r;
    http(NULL, g.port, &rq, &r);
    double secs = (double)(tbt_now_mono_ns() - t0) / 1e9;
    ck_assert_int_eq(r.status, 413);
    uint64_t code;
    char *msg;
    pb_status(&r.body, &code, &msg);
    ck_assert_uint_eq(code, 8);
    ck_assert_ptr_nonnull(strstr(msg, "limit"));
    free(msg);
    reply_free(&r);
    ck_assert_msg(secs < 10.0, "bomb took %.1f s", secs);
    /* inflating stops at the limit: far less than the 100 MB it expands to */
    long grown_mib = (max_rss_kib() - rss0) / 1024;
    ck_assert_msg(grown_mib < 64, "peak RSS grew by %ld MiB", grown_mib);
    ck_assert_uint_eq(rx_stats(&g).too_large, 1);
    tbt_buf_free(&bomb);
    rig_stop(&g);
}
END_TEST

/* ---- store policy ------------------------------------------------------- */

START_TEST(test_store_full)
{
    tbt_store_limits lim = tbt_store_default_limits();
    lim.max_bytes = 1;
    rig g;
    rig_start(&g, &lim, 0);
    tbt_buf body = TBT_BUF_INIT, js = TBT_BUF_INIT;
    encode_trace(20, 13, TBT_OTLP_PROTOBUF, &body);
    encode_trace(20, 13, TBT_OTLP_JSON, &js);
    reply r;
    post(&g, "application/x-protobuf", body.data, body.len, &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_msg(atoi(r.retry_after) >= 1, "Retry-After: '%s'", r.retry_after);
    uint64_t code;
    char *msg;
    pb_status(&r.body, &code, &msg);
    ck_assert_uint_eq(code, 14);
    ck_assert(msg[0]);
    free(msg);
    reply_free(&r);

    post(&g, "application/json", js.data, js.len, &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_msg(atoi(r.retry_after) >= 1, "Retry-After: '%s'", r.retry_after);
    cJSON *j = cJSON_ParseWithLength(r.body.data, r.body.len);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(j, "code")->valueint, 14);
    cJSON_Delete(j);
    reply_free(&r);

    ck_assert_uint_eq(store_stats(&g).refused_requests, 2);
    ck_assert_uint_eq(rx_stats(&g).busy, 2);
    tbt_buf_free(&body);
    tbt_buf_free(&js);
    rig_stop(&g);
}
END_TEST

START_TEST(test_duplicates)
{
    rig g;
    rig_start(&g, NULL, 0);
    tbt_buf body = TBT_BUF_INIT;
    encode_trace(30, 14, TBT_OTLP_PROTOBUF, &body);
    for (int i = 0; i < 3; i++) {
        reply r;
        post(&g, "application/x-protobuf", body.data, body.len, &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_uint_eq(r.body.len, 0); /* a re-send is not a partial success */
        reply_free(&r);
    }
    tbt_store_figures st = store_stats(&g);
    ck_assert_uint_eq(st.spans, 30);
    ck_assert_uint_eq(st.ingested_spans, 30);
    ck_assert_uint_eq(st.duplicate_spans, 60);
    ck_assert_uint_eq(rx_stats(&g).ok, 3);
    tbt_buf_free(&body);
    rig_stop(&g);
}
END_TEST

/* ---- concurrency -------------------------------------------------------- */

#define CONC_THREADS 4
#define CONC_REQUESTS 15
#define CONC_SPANS 20

typedef struct conc_arg {
    uint16_t port;
    unsigned id;
    int failures;
} conc_arg;

static void *conc_main(void *p)
{
    conc_arg *a = p;
    CURL *h = curl_easy_init();
    for (unsigned i = 0; i < CONC_REQUESTS; i++) {
        tbt_buf body = TBT_BUF_INIT;
        tbt_otlp_format fmt = i % 3 == 2 ? TBT_OTLP_JSON : TBT_OTLP_PROTOBUF;
        tbt_trace *t = tbt_otlp_generate(CONC_SPANS, 1000 + a->id * 100 + i);
        tbt_otlp_encode(t, fmt, &body);
        tbt_trace_free(t);
        req rq = {.ctype = fmt == TBT_OTLP_JSON ? "application/json" : "application/x-protobuf",
                  .body = body.data,
                  .len = body.len,
                  .chunked = i % 2 == 0};
        reply r;
        http(h, a->port, &rq, &r);
        if (r.cc != CURLE_OK || r.status != 200)
            a->failures++;
        reply_free(&r);
        tbt_buf_free(&body);
    }
    curl_easy_cleanup(h);
    return NULL;
}

START_TEST(test_concurrent_clients)
{
    rig g;
    rig_start(&g, NULL, 0);
    pthread_t th[CONC_THREADS];
    conc_arg args[CONC_THREADS];
    for (unsigned i = 0; i < CONC_THREADS; i++) {
        args[i] = (conc_arg){.port = g.port, .id = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, conc_main, &args[i]), 0);
    }
    for (unsigned i = 0; i < CONC_THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].failures, 0);
    }
    tbt_store_figures st = store_stats(&g);
    ck_assert_uint_eq(st.ingested_spans + st.duplicate_spans, CONC_THREADS * CONC_REQUESTS * CONC_SPANS);
    tbt_receiver_stats rs = rx_stats(&g);
    ck_assert_uint_eq(rs.requests, CONC_THREADS * CONC_REQUESTS);
    ck_assert_uint_eq(rs.ok, CONC_THREADS * CONC_REQUESTS);
    rig_stop(&g);
}
END_TEST

/* ---- hostile input ------------------------------------------------------ */

START_TEST(test_hostile_requests)
{
    rig g;
    rig_start(&g, NULL, SMALL_LIMIT);
    char *resp;

    /* a Content-Length far past the limit, no body sent: 413 at once */
    const char *big = "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: 99999999999\r\n\r\n";
    resp = raw_exchange(g.port, big, strlen(big), false, true);
    ck_assert_msg(strncmp(resp, "HTTP/1.1 413", 12) == 0, "%s", resp);
    free(resp);

    /* a Content-Length past 2^64 */
    const char *huge = "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 999999999999999999999999999\r\n\r\n";
    resp = raw_exchange(g.port, huge, strlen(huge), false, true);
    ck_assert_msg(strncmp(resp, "HTTP/1.1 4", 10) == 0, "%s", resp);
    free(resp);

    /* binary junk in the content type and encoding */
    const char junk[] = "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: \x01\x7f\xff\xfe;;;=\r\n"
                        "Content-Encoding: gzip, gzip\r\nContent-Length: 2\r\n\r\n{}";
    resp = raw_exchange(g.port, junk, sizeof(junk) - 1, true, true);
    ck_assert_msg(strncmp(resp, "HTTP/1.1 4", 10) == 0, "%s", resp);
    free(resp);

    /* a long content type: the echo in the message is bounded */
    tbt_buf longct = TBT_BUF_INIT;
    tbt_buf_puts(&longct, "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: ");
    for (int i = 0; i < 4000; i++)
        tbt_buf_putc(&longct, 'a');
    tbt_buf_puts(&longct, "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    resp = raw_exchange(g.port, longct.data, longct.len, true, true);
    ck_assert_msg(strncmp(resp, "HTTP/1.1 415", 12) == 0, "%.40s", resp);
    ck_assert_uint_lt(strlen(resp), 2000);
    free(resp);
    tbt_buf_free(&longct);

    /* headers larger than the connection's memory */
    tbt_buf bighdr = TBT_BUF_INIT;
    tbt_buf_puts(&bighdr, "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Pad: ");
    for (int i = 0; i < 100000; i++)
        tbt_buf_putc(&bighdr, 'p');
    tbt_buf_puts(&bighdr, "\r\nContent-Length: 2\r\n\r\n{}");
    resp = raw_exchange(g.port, bighdr.data, bighdr.len, true, true);
    ck_assert_msg(strncmp(resp, "HTTP/1.1 4", 10) == 0, "%.40s", resp);
    free(resp);
    tbt_buf_free(&bighdr);

    /* broken chunked framing */
    const char *chunks = "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n";
    resp = raw_exchange(g.port, chunks, strlen(chunks), true, true);
    ck_assert_msg(strncmp(resp, "HTTP/1.1 4", 10) == 0, "%s", resp);
    free(resp);

    /* a body cut short by a hang-up, and plain garbage */
    const char *cut = "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: 1000\r\n\r\n{\"resourceSpans\":";
    resp = raw_exchange(g.port, cut, strlen(cut), true, false);
    free(resp);
    const char garbage[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n";
    resp = raw_exchange(g.port, garbage, sizeof(garbage) - 1, true, false);
    free(resp);
    const char *h2 = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    resp = raw_exchange(g.port, h2, strlen(h2), true, false);
    free(resp);

    /* random bodies of both types go to the decoders and come back 200 or 400 */
    uint32_t x = 12345;
    for (int i = 0; i < 40; i++) {
        uint8_t buf[512];
        size_t n = (size_t)(i * 13 % 512);
        for (size_t k = 0; k < n; k++) {
            x = x * 1103515245u + 12345u;
            buf[k] = (uint8_t)(x >> 16);
        }
        reply r;
        post(&g, i % 2 ? "application/json" : "application/x-protobuf", buf, n, &r);
        ck_assert_msg(r.status == 200 || r.status == 400, "random body %d: %ld", i, r.status);
        reply_free(&r);
    }
    assert_alive(&g);
    rig_stop(&g);
}
END_TEST

START_TEST(test_inflight_budget)
{
    /* 64 KiB bodies, 16 x 64 KiB buffered at most across connections */
    rig g;
    rig_start(&g, NULL, SMALL_LIMIT);
    const char *hold = "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                       "Content-Length: 65536\r\nExpect: 100-continue\r\n\r\n";
    int fds[16];
    for (size_t i = 0; i < TBT_ARRAY_LEN(fds); i++) {
        fds[i] = raw_connect(g.port);
        raw_send(fds[i], hold, strlen(hold));
        /* "100 Continue" proves the headers were seen and the buffer taken */
        char *resp = raw_read(fds[i]);
        ck_assert_msg(strncmp(resp, "HTTP/1.1 100", 12) == 0, "%s", resp);
        free(resp);
    }
    tbt_buf body = TBT_BUF_INIT;
    encode_trace(3, 15, TBT_OTLP_PROTOBUF, &body);
    reply r;
    post(&g, "application/x-protobuf", body.data, body.len, &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_str_eq(r.retry_after, "1");
    uint64_t code;
    char *msg;
    pb_status(&r.body, &code, &msg);
    ck_assert_uint_eq(code, 14);
    free(msg);
    reply_free(&r);
    ck_assert_uint_eq(rx_stats(&g).busy, 1);

    /* the held requests end: their bytes come back to the budget */
    for (size_t i = 0; i < TBT_ARRAY_LEN(fds); i++)
        close(fds[i]);
    uint64_t deadline = tbt_now_mono_ns() + 10ull * 1000000000ull;
    long status = 0;
    while (status != 200 && tbt_now_mono_ns() < deadline) {
        post(&g, "application/x-protobuf", body.data, body.len, &r);
        status = r.status;
        reply_free(&r);
        if (status != 200)
            usleep(10 * 1000);
    }
    ck_assert_int_eq(status, 200);
    tbt_buf_free(&body);
    rig_stop(&g);
}
END_TEST

/* ---- lifecycle ---------------------------------------------------------- */

START_TEST(test_start_errors)
{
    rig g;
    rig_start(&g, NULL, 0);
    /* the port is taken */
    tbt_receiver_opts o = {.bind_addr = "127.0.0.1", .port = g.port};
    tbt_http_receiver *rx = NULL;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_lt(tbt_http_receiver_start(g.store, &o, &rx, &err), 0);
    ck_assert_ptr_null(rx);
    ck_assert_ptr_nonnull(err.msg);
    tbt_error_clear(&err);
    /* an address that does not resolve */
    tbt_receiver_opts bad = {.bind_addr = "no such host.invalid", .port = 0};
    ck_assert_int_eq(tbt_http_receiver_start(g.store, &bad, &rx, &err), -EINVAL);
    ck_assert_ptr_nonnull(err.msg);
    tbt_error_clear(&err);
    ck_assert_int_eq(tbt_http_receiver_start(NULL, &o, &rx, &err), -EINVAL);
    tbt_error_clear(&err);
    /* NULL is fine for the destructor and the accessors */
    tbt_http_receiver_stop(NULL);
    ck_assert_uint_eq(tbt_http_receiver_port(NULL), 0);
    rig_stop(&g);
}
END_TEST

START_TEST(test_stop_with_open_connections)
{
    rig g;
    rig_start(&g, NULL, 0);
    /* a keep-alive connection idle and one mid-body when the receiver stops */
    CURL *h = curl_easy_init();
    reply r;
    req rq = {.ctype = "application/json", .body = "{}", .len = 2};
    http(h, g.port, &rq, &r);
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(g.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    const char *part = "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 100\r\n\r\n{\"resourceSpans\":[";
    ck_assert_int_gt(send(fd, part, strlen(part), MSG_NOSIGNAL), 0);
    usleep(100 * 1000);
    rig_stop(&g); /* must not leak the half-read request */
    close(fd);
    curl_easy_cleanup(h);
}
END_TEST

static Suite *receiver_http_suite(void)
{
    Suite *s = suite_create("receiver_http");
    TCase *ok = tcase_create("accept");
    tcase_add_test(ok, test_protobuf_ok);
    tcase_add_test(ok, test_content_type_variants);
    tcase_add_test(ok, test_json_ok);
    tcase_add_test(ok, test_empty_request);
    tcase_add_test(ok, test_gzip_ok);
    tcase_add_test(ok, test_chunked_upload);
    tcase_add_test(ok, test_keep_alive);
    tcase_add_test(ok, test_duplicates);
    tcase_add_test(ok, test_concurrent_clients);
    suite_add_tcase(s, ok);

    TCase *bad = tcase_create("refuse");
    tcase_add_test(bad, test_malformed_protobuf);
    tcase_add_test(bad, test_malformed_json);
    tcase_add_test(bad, test_invalid_ids_partial_success);
    tcase_add_test(bad, test_unsupported_media_type);
    tcase_add_test(bad, test_method_not_allowed);
    tcase_add_test(bad, test_not_found);
    tcase_add_test(bad, test_too_large_declared);
    tcase_add_test(bad, test_too_large_chunked);
    tcase_add_test(bad, test_gzip_bomb);
    tcase_add_test(bad, test_store_full);
    tcase_add_test(bad, test_inflight_budget);
    tcase_add_test(bad, test_hostile_requests);
    suite_add_tcase(s, bad);

    TCase *life = tcase_create("lifecycle");
    tcase_add_test(life, test_start_errors);
    tcase_add_test(life, test_stop_with_open_connections);
    suite_add_tcase(s, life);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(receiver_http_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
