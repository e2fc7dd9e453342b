/* tbt_trigger_grpc.c - the grpc trigger (Tracetest's `grpc` block): a unary
 * call over HTTP/2 through libcurl (h2c with prior knowledge, or TLS). The
 * request is JSON, encoded with the service's own .proto, which tbt reads
 * itself (tbt_proto.h; docs/grpc-trigger.md says why no protoc). Metadata,
 * auth (as metadata), traceparent and tracestate go out as HTTP/2 headers;
 * grpc-status and grpc-message come back as trailers. */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_proto.h"
#include "tbt_trigger.h"
#include "tbt_trigger_curl.h"

#define GRPC_MAX_BODY (16u * 1024u * 1024u)
#define GRPC_DEFAULT_TIMEOUT_NS (30ull * 1000000000ull)

typedef struct grpc_cfg {
    tbt_field proto_file, address, service, method, request, timeout;
    tbt_field_kv *metadata;
    size_t n_metadata;
    bool tls, tls_set, ssl_verify;
    tbt_trigger_auth auth;
    tbt_proto *proto; /* parsed at parse time when the .proto is inline and constant */
} grpc_cfg;

static void grpc_destroy(void *p)
{
    grpc_cfg *c = p;
    if (!c)
        return;
    tbt_proto_free(c->proto);
    free(c->metadata);
    free(c);
}

static int fail_field(tbt_error *err, const tbt_field *f, int rc)
{
    if (f->s && !err->source_line)
        tbt_error_at(err, &f->loc, f->s, 0);
    return rc;
}


/* protobufFile holds the .proto itself, or names a file next to the definition. */
static bool is_inline_proto(const char *s)
{
    return strchr(s, '\n') || strstr(s, "syntax") || strstr(s, "message ") || strstr(s, "service ");
}

static int check_method(const tbt_proto *p, const char *service, const char *method, const tbt_proto_method **out,
                        tbt_error *err)
{
    int rc = tbt_proto_find_method(p, service, method, out, err);
    if (rc)
        return rc;
    if ((*out)->client_streaming || (*out)->server_streaming)
        return tbt_error_set(err, -ENOTSUP,
                             "%s/%s is a %s streaming method; the grpc trigger makes unary calls only", (*out)->service,
                             (*out)->name,
                             (*out)->client_streaming && (*out)->server_streaming ? "bidirectional"
                             : (*out)->client_streaming                          ? "client"
                                                                                 : "server");
    return 0;
}

static int grpc_parse(const tbt_ynode *block, void **out, tbt_error *err)
{
    static const char *const keys[] = {"protobufFile", "address", "service", "method", "request", "metadata",
                                       "auth", "tls", "sslVerification", "timeout", NULL};
    grpc_cfg *c = tbt_xcalloc(1, sizeof(*c));
    c->ssl_verify = true;
    int rc;
    if ((rc = tbt_trigger_check_keys(block, keys, "grpc", err)) ||
        (rc = tbt_trigger_field(block, "protobufFile", true, "grpc", &c->proto_file, err)) ||
        (rc = tbt_trigger_field(block, "address", true, "grpc", &c->address, err)) ||
        (rc = tbt_trigger_field(block, "service", false, "grpc", &c->service, err)) ||
        (rc = tbt_trigger_field(block, "method", true, "grpc", &c->method, err)) ||
        (rc = tbt_trigger_field(block, "request", false, "grpc", &c->request, err)) ||
        (rc = tbt_trigger_field(block, "timeout", false, "grpc", &c->timeout, err)) ||
        (rc = tbt_trigger_kv_list(block, "metadata", "grpc", &c->metadata, &c->n_metadata, err)) ||
        (rc = tbt_trigger_bool(block, "sslVerification", "grpc", &c->ssl_verify, err)))
        goto fail;
    if (tbt_ymap_get(block, "tls") && !tbt_ynode_is_null(tbt_ymap_get(block, "tls"))) {
        if ((rc = tbt_trigger_bool(block, "tls", "grpc", &c->tls, err)))
            goto fail;
        c->tls_set = true;
    }
    const tbt_ynode *auth = tbt_ymap_get(block, "auth");
    if (auth && !tbt_ynode_is_null(auth) && (rc = tbt_trigger_auth_parse(auth, "grpc.auth", false, &c->auth, err)))
        goto fail;
    if (c->timeout.s && !strstr(c->timeout.s, "${")) {
        int64_t ns;
        if (tbt_parse_duration(c->timeout.s, strlen(c->timeout.s), &ns) != 0 || ns <= 0) {
            rc = tbt_error_set(err, -EINVAL, "grpc.timeout must be a duration like 30s or 500ms, found \"%s\"",
                               c->timeout.s);
            tbt_error_at(err, &c->timeout.loc, c->timeout.s, 0);
            goto fail;
        }
    }
    /* An inline, constant .proto is read now, so its mistakes and a wrong
     * method show before any run. */
    const char *pf = c->proto_file.s;
    if (is_inline_proto(pf) && !strstr(pf, "${")) {
        if ((rc = tbt_proto_parse(pf, strlen(pf), NULL, &c->proto_file.loc, NULL, &c->proto, err)))
            goto fail;
        if (!strstr(c->method.s, "${") && (!c->service.s || !strstr(c->service.s, "${"))) {
            const tbt_proto_method *m;
            if ((rc = check_method(c->proto, c->service.s, c->method.s, &m, err))) {
                tbt_error_prefix(err, "grpc.method");
                tbt_error_at(err, &c->method.loc, c->method.s, 0);
                goto fail;
            }
        }
    }
    *out = c;
    return 0;
fail:
    grpc_destroy(c);
    *out = NULL;
    return rc;
}

typedef struct collect {
    tbt_buf body;
    tbt_buf headers; /* JSON array items being built */
    char *grpc_status, *grpc_message, *content_type;
    bool too_big;
} collect;

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    collect *c = ud;
    size_t n = sz * nm;
    if (c->body.len + n > GRPC_MAX_BODY + 5) {
        c->too_big = true;
        return 0;
    }
    tbt_buf_append(&c->body, p, n);
    return n;
}

/* grpc-message is percent-encoded (gRPC over HTTP/2, "Responses"). */
static char *percent_decode(const char *s, size_t n)
{
    tbt_buf b = TBT_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (s[i] == '%' && i + 2 < n && sscanf(s + i + 1, "%2x", &v) == 1) {
            tbt_buf_putc(&b, (char)v);
            i += 2;
        } else {
            tbt_buf_putc(&b, s[i]);
        }
    }
    return tbt_buf_steal(&b);
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    collect *c = ud;
    size_t n = sz * nm;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        tbt_buf_reset(&c->headers);
        return n;
    }
    const char *colon = memchr(p, ':', n);
    if (!colon || colon == p)
        return n;
    size_t kl = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vl = n - kl - 1;
    while (vl && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    if (kl == 11 && strncasecmp(p, "grpc-status", kl) == 0) {
        free(c->grpc_status);
        c->grpc_status = tbt_xstrndup(v, vl);
    } else if (kl == 12 && strncasecmp(p, "grpc-message", kl) == 0) {
        free(c->grpc_message);
        c->grpc_message = percent_decode(v, vl);
    } else if (kl == 12 && strncasecmp(p, "content-type", kl) == 0) {
        free(c->content_type);
        c->content_type = tbt_xstrndup(v, vl);
    }
    tbt_buf_puts(&c->headers, c->headers.len ? ",{\"Key\":" : "{\"Key\":");
    tbt_buf_json_str(&c->headers, p, kl);
    tbt_buf_puts(&c->headers, ",\"Value\":");
    tbt_buf_json_str(&c->headers, v, vl);
    tbt_buf_putc(&c->headers, '}');
    return n;
}

static int explain(CURLcode cc, const char *host, long port, bool tls, const char *errbuf, tbt_error *err)
{
    bool local = strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
                 strcmp(host, "[::1]") == 0;
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
        return tbt_error_set(err, -EHOSTUNREACH, "grpc trigger: the host '%s' did not resolve", host);
    case CURLE_COULDNT_CONNECT:
        return tbt_error_set(err, -ECONNREFUSED, "grpc trigger: nothing answered at %s:%ld (connection refused)%s",
                             host, port,
                             local ? "; the target is localhost: is the gRPC server running on this machine, and on "
                                     "that port? (In a cluster, localhost is the agent's own pod.)"
                                   : "");
    case CURLE_OPERATION_TIMEDOUT:
        return tbt_error_set(err, -ETIMEDOUT, "grpc trigger: %s:%ld did not answer in time (%s)", host, port, why);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return tbt_error_set(err, -EPROTO,
                             "grpc trigger: TLS with %s:%ld failed: %s (for a self-signed certificate set "
                             "sslVerification: false; for a plaintext server use tls: false)",
                             host, port, why);
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_WEIRD_SERVER_REPLY:
        return tbt_error_set(err, -EPROTO,
                             "grpc trigger: %s:%ld did not speak HTTP/2 %s (%s)%s", host, port,
                             tls ? "over TLS" : "in plaintext (h2c)", why,
                             tls ? "; if the server is plaintext, use tls: false" : "; if the server uses TLS, use an "
                                                                                    "https:// address or tls: true");
    case CURLE_WRITE_ERROR:
        return tbt_error_set(err, -E2BIG, "grpc trigger: the reply is larger than %u bytes", GRPC_MAX_BODY);
    default:
        return tbt_error_set(err, -EIO, "grpc trigger: %s (%s:%ld)", why, host, port);
    }
}

/* "host:port", "http://host:port", "https://host:port", "dns:///host:port". */
static int split_address(const char *addr, bool *tls, char **hostport, tbt_error *err)
{
    const char *a = addr;
    if (strncmp(a, "https://", 8) == 0) {
        *tls = true;
        a += 8;
    } else if (strncmp(a, "http://", 7) == 0) {
        a += 7;
    } else if (strncmp(a, "grpc://", 7) == 0) {
        a += 7;
    } else if (strncmp(a, "grpcs://", 8) == 0) {
        *tls = true;
        a += 8;
    } else if (strncmp(a, "dns:///", 7) == 0) {
        a += 7;
    }
    size_t n = strcspn(a, "/?#");
    if (n == 0 || a[n] == '?' || a[n] == '#' || (a[n] == '/' && a[n + 1]))
        return tbt_error_set(err, -EINVAL,
                             "grpc.address must be host:port (or http://host:port, https://host:port), found \"%s\"",
                             addr);
    const char *colon = memrchr(a, ':', n);
    if (!colon || colon == a || colon + 1 == a + n || a[n - 1] == ']')
        return tbt_error_set(err, -EINVAL, "grpc.address needs a port: host:port, found \"%s\"", addr);
    *hostport = tbt_xstrndup(a, n);
    return 0;
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s + 32);
}

static struct curl_slist *add_md(struct curl_slist *hl, const char *k, const char *v)
{
    char *key = tbt_xstrdup(k);
    lower(key);
    char *line = tbt_xasprintf("%s: %s", key, v ? v : "");
    hl = curl_slist_append(hl, line);
    free(line);
    free(key);
    return hl;
}

typedef struct fire_state {
    char *pf, *address, *service, *method, *request, *timeout, *hostport, *url;
    char *ak, *av, *user, *pass, *token;
    tbt_proto *proto; /* when parsed at fire time */
    tbt_buf frame;
    struct curl_slist *hl;
    CURL *h;
    collect col;
} fire_state;

static void fire_state_free(fire_state *s)
{
    if (s->h)
        curl_easy_cleanup(s->h);
    curl_slist_free_all(s->hl);
    tbt_buf_free(&s->frame);
    tbt_buf_free(&s->col.body);
    tbt_buf_free(&s->col.headers);
    free(s->col.grpc_status);
    free(s->col.grpc_message);
    free(s->col.content_type);
    tbt_proto_free(s->proto);
    char *strs[] = {s->pf, s->address, s->service, s->method, s->request, s->timeout, s->hostport, s->url,
                    s->ak, s->av, s->user, s->pass, s->token};
    for (size_t i = 0; i < TBT_ARRAY_LEN(strs); i++)
        free(strs[i]);
}

static int load_proto(const grpc_cfg *c, fire_state *s, const tbt_trigger_ctx *ctx, const tbt_proto **out,
                      tbt_error *err)
{
    if (c->proto) {
        *out = c->proto;
        return 0;
    }
    int rc;
    if (is_inline_proto(s->pf)) {
        rc = tbt_proto_parse(s->pf, strlen(s->pf), NULL, &c->proto_file.loc, ctx->base_dir, &s->proto, err);
    } else {
        char *path = s->pf[0] == '/' || !ctx->base_dir ? tbt_xstrdup(s->pf) : tbt_xasprintf("%s/%s", ctx->base_dir, s->pf);
        rc = tbt_proto_parse_file(path, &s->proto, err);
        if (rc == -ENOENT) {
            tbt_error_set(err, rc, "grpc.protobufFile: cannot read \"%s\" (paths are relative to the definition's "
                                   "directory; the .proto text itself may be given inline)",
                          path);
            tbt_error_at(err, &c->proto_file.loc, c->proto_file.s, 0);
        }
        free(path);
    }
    *out = s->proto;
    return rc;
}

static int grpc_fire(const void *p, const tbt_trigger_ctx *ctx, tbt_trigger_response *resp, tbt_error *err)
{
    const grpc_cfg *c = p;
    fire_state s;
    memset(&s, 0, sizeof(s));
    int rc;
    if ((rc = tbt_trigger_resolve(&c->proto_file, ctx, &s.pf, err)) ||
        (rc = tbt_trigger_resolve(&c->address, ctx, &s.address, err)) ||
        (rc = tbt_trigger_resolve(&c->service, ctx, &s.service, err)) ||
        (rc = tbt_trigger_resolve(&c->method, ctx, &s.method, err)) ||
        (rc = tbt_trigger_resolve(&c->request, ctx, &s.request, err)) ||
        (rc = tbt_trigger_resolve(&c->timeout, ctx, &s.timeout, err)))
        goto out;
    uint64_t timeout_ns = ctx->timeout_ns ? ctx->timeout_ns : GRPC_DEFAULT_TIMEOUT_NS;
    if (s.timeout) {
        int64_t ns;
        if (tbt_parse_duration(s.timeout, strlen(s.timeout), &ns) != 0 || ns <= 0) {
            rc = tbt_error_set(err, -EINVAL, "grpc.timeout must be a duration like 30s or 500ms, found \"%s\"",
                               s.timeout);
            fail_field(err, &c->timeout, rc);
            goto out;
        }
        timeout_ns = (uint64_t)ns;
    }
    const tbt_proto *proto;
    if ((rc = load_proto(c, &s, ctx, &proto, err)))
        goto out;
    const tbt_proto_method *m;
    if ((rc = check_method(proto, s.service, s.method, &m, err))) {
        tbt_error_prefix(err, "grpc.method");
        fail_field(err, &c->method, rc);
        goto out;
    }
    /* the request: JSON, encoded with the method's input type, in one frame */
    const char *rq = s.request && *s.request ? s.request : "{}";
    cJSON *json = cJSON_ParseWithLength(rq, strlen(rq));
    if (!json) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= rq && at <= rq + strlen(rq) ? (size_t)(at - rq) : 0;
        rc = tbt_error_set(err, -EINVAL, "grpc.request is not valid JSON (near byte %zu)", off);
        fail_field(err, &c->request, rc);
        goto out;
    }
    tbt_buf msg = TBT_BUF_INIT;
    rc = tbt_proto_encode_json(m->input, json, &msg, err);
    cJSON_Delete(json);
    if (rc) {
        tbt_buf_free(&msg);
        tbt_error_prefix(err, "grpc.request (%s)", tbt_proto_message_name(m->input));
        fail_field(err, &c->request, rc);
        goto out;
    }
    uint8_t hdr[5] = {0, (uint8_t)(msg.len >> 24), (uint8_t)(msg.len >> 16), (uint8_t)(msg.len >> 8),
                      (uint8_t)msg.len};
    tbt_buf_append(&s.frame, hdr, 5);
    tbt_buf_append(&s.frame, msg.data ? msg.data : "", msg.len);
    tbt_buf_free(&msg);

    bool tls = c->tls;
    if ((rc = split_address(s.address, &tls, &s.hostport, err))) {
        fail_field(err, &c->address, rc);
        goto out;
    }
    if (c->tls_set)
        tls = c->tls;
    s.url = tbt_xasprintf("%s://%s/%s/%s", tls ? "https" : "http", s.hostport, m->service, m->name);

    s.hl = curl_slist_append(s.hl, "content-type: application/grpc");
    s.hl = curl_slist_append(s.hl, "te: trailers");
    s.hl = curl_slist_append(s.hl, "user-agent: tbt-grpc/1");
    s.hl = curl_slist_append(s.hl, "Accept:");
    s.hl = curl_slist_append(s.hl, "Expect:");
    {
        uint64_t ms = timeout_ns / 1000000;
        char *line = ms < 100000000 ? tbt_xasprintf("grpc-timeout: %llum", (unsigned long long)(ms ? ms : 1))
                                    : tbt_xasprintf("grpc-timeout: %lluS", (unsigned long long)(ms / 1000));
        s.hl = curl_slist_append(s.hl, line);
        free(line);
    }
    s.hl = add_md(s.hl, "traceparent", ctx->traceparent);
    s.hl = add_md(s.hl, "tracestate", ctx->tracestate ? ctx->tracestate : "tracetest=true");
    for (size_t i = 0; i < c->n_metadata; i++) {
        char *k = NULL, *v = NULL;
        if ((rc = tbt_trigger_resolve(&c->metadata[i].key, ctx, &k, err)) ||
            (rc = tbt_trigger_resolve(&c->metadata[i].value, ctx, &v, err))) {
            free(k);
            free(v);
            goto out;
        }
        if (!*k || strpbrk(k, ": \t\r\n") || (v && strpbrk(v, "\r\n"))) {
            rc = tbt_error_set(err, -EINVAL, "grpc.metadata: \"%s\" is not a valid metadata key/value", k);
            fail_field(err, &c->metadata[i].key, rc);
            free(k);
            free(v);
            goto out;
        }
        s.hl = add_md(s.hl, k, v);
        free(k);
        free(v);
    }
    if (c->auth.type.s) {
        if (strcmp(c->auth.type.s, "apiKey") == 0) {
            if ((rc = tbt_trigger_resolve(&c->auth.apikey_key, ctx, &s.ak, err)) ||
                (rc = tbt_trigger_resolve(&c->auth.apikey_value, ctx, &s.av, err)))
                goto out;
            s.hl = add_md(s.hl, s.ak, s.av);
        } else if (strcmp(c->auth.type.s, "bearer") == 0) {
            if ((rc = tbt_trigger_resolve(&c->auth.bearer_token, ctx, &s.token, err)))
                goto out;
            /* Tracetest sends the token verbatim; a bare token gets the scheme */
            char *v = strncasecmp(s.token, "Bearer ", 7) == 0 ? tbt_xstrdup(s.token)
                                                              : tbt_xasprintf("Bearer %s", s.token);
            s.hl = add_md(s.hl, "authorization", v);
            free(v);
        } else if (strcmp(c->auth.type.s, "basic") == 0) {
            if ((rc = tbt_trigger_resolve(&c->auth.basic_user, ctx, &s.user, err)) ||
                (rc = tbt_trigger_resolve(&c->auth.basic_pass, ctx, &s.pass, err)))
                goto out;
            char *up = tbt_xasprintf("%s:%s", s.user, s.pass ? s.pass : "");
            tbt_buf b = TBT_BUF_INIT;
            tbt_buf_puts(&b, "Basic ");
            tbt_base64_encode((const uint8_t *)up, strlen(up), &b);
            s.hl = add_md(s.hl, "authorization", tbt_buf_cstr(&b));
            tbt_buf_free(&b);
            free(up);
        }
    }

    tbt_trigger_curl_init();
    s.h = curl_easy_init();
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(s.h, CURLOPT_URL, s.url);
    curl_easy_setopt(s.h, CURLOPT_HTTP_VERSION,
                     tls ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_easy_setopt(s.h, CURLOPT_POST, 1L);
    curl_easy_setopt(s.h, CURLOPT_POSTFIELDS, s.frame.data);
    curl_easy_setopt(s.h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s.frame.len);
    curl_easy_setopt(s.h, CURLOPT_HTTPHEADER, s.hl);
    curl_easy_setopt(s.h, CURLOPT_SSL_VERIFYPEER, c->ssl_verify ? 1L : 0L);
    curl_easy_setopt(s.h, CURLOPT_SSL_VERIFYHOST, c->ssl_verify ? 2L : 0L);
    curl_easy_setopt(s.h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(s.h, CURLOPT_TIMEOUT_MS, (long)(timeout_ns / 1000000 + 1000));
    curl_easy_setopt(s.h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s.h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(s.h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s.h, CURLOPT_WRITEDATA, &s.col);
    curl_easy_setopt(s.h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(s.h, CURLOPT_HEADERDATA, &s.col);
    resp->start_unix_ns = tbt_now_unix_ns();
    CURLcode cc = curl_easy_perform(s.h);
    resp->end_unix_ns = tbt_now_unix_ns();
    if (cc != CURLE_OK) {
        char *host = tbt_xstrdup(s.hostport);
        char *colon = strrchr(host, ':');
        long port = colon ? strtol(colon + 1, NULL, 10) : 0;
        if (colon)
            *colon = 0;
        rc = explain(s.col.too_big ? CURLE_WRITE_ERROR : cc, host, port, tls, errbuf, err);
        free(host);
        goto out;
    }
    long http = 0;
    curl_easy_getinfo(s.h, CURLINFO_RESPONSE_CODE, &http);
    if (!s.col.grpc_status) {
        rc = tbt_error_set(err, -EPROTO,
                           "grpc trigger: the server at %s did not answer with gRPC (HTTP status %ld, content-type %s)",
                           s.hostport, http, s.col.content_type ? s.col.content_type : "none");
        goto out;
    }
    char *end;
    long code = strtol(s.col.grpc_status, &end, 10);
    if (*end || end == s.col.grpc_status || code < 0 || code > 1000) {
        rc = tbt_error_set(err, -EPROTO, "grpc trigger: the server sent an invalid grpc-status \"%.20s\"",
                           s.col.grpc_status);
        goto out;
    }
    /* the reply: at most one length-prefixed message for a unary call */
    tbt_buf body = TBT_BUF_INIT;
    const uint8_t *b = (const uint8_t *)s.col.body.data;
    size_t bl = s.col.body.len;
    if (bl > 0) {
        if (bl < 5) {
            rc = tbt_error_set(err, -EPROTO, "grpc trigger: the reply frame is truncated (%zu bytes)", bl);
            goto out;
        }
        uint32_t len = ((uint32_t)b[1] << 24) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 8) | b[4];
        if (b[0] & 1) {
            rc = tbt_error_set(err, -EPROTO, "grpc trigger: the server compressed its reply, which tbt did not offer");
            goto out;
        }
        if (len > bl - 5 || len > GRPC_MAX_BODY) {
            rc = tbt_error_set(err, -EPROTO, "grpc trigger: the reply frame says %u bytes but %zu arrived", len, bl - 5);
            goto out;
        }
        if ((rc = tbt_proto_decode_json(m->output, b + 5, len, &body, err))) {
            tbt_buf_free(&body);
            tbt_error_prefix(err, "grpc trigger");
            goto out;
        }
    }
    resp->status_code = (int)code;
    resp->status = tbt_xasprintf("%ld", code);
    resp->body_len = body.len;
    resp->body = tbt_buf_steal(&body);
    tbt_buf hj = TBT_BUF_INIT;
    tbt_buf_putc(&hj, '[');
    tbt_buf_append(&hj, s.col.headers.data ? s.col.headers.data : "", s.col.headers.len);
    tbt_buf_putc(&hj, ']');
    resp->headers_json = tbt_buf_steal(&hj);
    if (code != 0 && s.col.grpc_message && *s.col.grpc_message)
        tbt_trigger_response_extra(resp, "grpc.message", s.col.grpc_message);
    rc = 0;
out:
    fire_state_free(&s);
    return rc;
}

const tbt_trigger_kind tbt_trigger_grpc = {"grpc", "grpc", grpc_parse, grpc_fire, grpc_destroy};
