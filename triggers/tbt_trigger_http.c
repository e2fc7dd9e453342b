/* tbt_trigger_http.c - the http trigger (Tracetest's httpRequest) on
 * libcurl: method, url, headers, body (inline or a file next to the
 * definition), auth (apiKey in a header or the query, basic, bearer),
 * sslVerification; injects traceparent and tracestate. */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tbt_trigger.h"
#include "tbt_trigger_curl.h"

#define HTTP_MAX_BODY (16u * 1024u * 1024u)

typedef struct http_cfg {
    tbt_field method, url, body;
    tbt_field_kv *headers;
    size_t n_headers;
    bool ssl_verify;
    tbt_trigger_auth auth;
} http_cfg;

static void http_destroy(void *p)
{
    http_cfg *c = p;
    if (!c)
        return;
    free(c->headers);
    free(c);
}


static int http_parse(const tbt_ynode *block, void **out, tbt_error *err)
{
    static const char *const keys[] = {"method", "url", "headers", "body", "auth", "sslVerification", NULL};
    http_cfg *c = tbt_xcalloc(1, sizeof(*c));
    c->ssl_verify = true;
    int rc;
    if ((rc = tbt_trigger_check_keys(block, keys, "httpRequest", err)) ||
        (rc = tbt_trigger_field(block, "url", true, "httpRequest", &c->url, err)) ||
        (rc = tbt_trigger_field(block, "method", false, "httpRequest", &c->method, err)) ||
        (rc = tbt_trigger_field(block, "body", false, "httpRequest", &c->body, err)) ||
        (rc = tbt_trigger_kv_list(block, "headers", "httpRequest", &c->headers, &c->n_headers, err)) ||
        (rc = tbt_trigger_bool(block, "sslVerification", "httpRequest", &c->ssl_verify, err)))
        goto fail;
    const tbt_ynode *auth = tbt_ymap_get(block, "auth");
    if (auth && !tbt_ynode_is_null(auth) && (rc = tbt_trigger_auth_parse(auth, "httpRequest.auth", true, &c->auth, err)))
        goto fail;
    *out = c;
    return 0;
fail:
    http_destroy(c);
    *out = NULL;
    return rc;
}

typedef struct collect {
    tbt_buf body;
    tbt_buf headers; /* JSON array being built */
    bool too_big;
} collect;

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    collect *c = ud;
    size_t n = sz * nm;
    if (c->body.len + n > HTTP_MAX_BODY) {
        c->too_big = true;
        return 0;
    }
    tbt_buf_append(&c->body, p, n);
    return n;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    collect *c = ud;
    size_t n = sz * nm;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* a new response (redirect, 100-continue): start the list again */
        tbt_buf_reset(&c->headers);
        return n;
    }
    const char *colon = memchr(p, ':', n);
    if (!colon)
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
    tbt_buf_puts(&c->headers, c->headers.len ? ",{\"Key\":" : "{\"Key\":");
    tbt_buf_json_str(&c->headers, p, kl);
    tbt_buf_puts(&c->headers, ",\"Value\":");
    tbt_buf_json_str(&c->headers, v, vl);
    tbt_buf_putc(&c->headers, '}');
    return n;
}

/* A body that names a file next to the definition is read from it. */
static char *body_from_file(const char *body, const char *base_dir, size_t *len)
{
    if (!body || !*body || strchr(body, '\n') || strlen(body) > 1024 || body[0] == '{' || body[0] == '[')
        return NULL;
    char *path = body[0] == '/' || !base_dir ? tbt_xstrdup(body) : tbt_xasprintf("%s/%s", base_dir, body);
    struct stat st;
    char *data = NULL;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        tbt_error e = TBT_ERROR_INIT;
        if (tbt_read_file(path, HTTP_MAX_BODY, &data, len, &e) != 0)
            data = NULL;
        tbt_error_clear(&e);
    }
    free(path);
    return data;
}

static int explain(CURLcode cc, CURL *h, const char *url, const char *errbuf, tbt_error *err)
{
    char *host = NULL;
    long port = 0;
    CURLU *u = curl_url();
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK) {
        curl_url_get(u, CURLUPART_HOST, &host, 0);
        char *ps = NULL;
        if (curl_url_get(u, CURLUPART_PORT, &ps, CURLU_DEFAULT_PORT) == CURLUE_OK && ps) {
            port = strtol(ps, NULL, 10);
            curl_free(ps);
        }
    }
    curl_url_cleanup(u);
    const char *hn = host ? host : "?";
    bool local = host && (strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0);
    int rc;
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
        rc = tbt_error_set(err, -EHOSTUNREACH, "http trigger: the host '%s' did not resolve (%s)", hn, url);
        break;
    case CURLE_COULDNT_CONNECT:
        rc = tbt_error_set(err, -ECONNREFUSED,
                           "http trigger: nothing answered at %s:%ld (connection refused)%s", hn, port,
                           local ? "; the target is localhost: is the service running on this machine, and on that "
                                   "port? (In a cluster, localhost is the agent's own pod.)"
                                 : "");
        break;
    case CURLE_OPERATION_TIMEDOUT:
        rc = tbt_error_set(err, -ETIMEDOUT, "http trigger: %s:%ld did not answer in time (%s)", hn, port, errbuf);
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        rc = tbt_error_set(err, -EPROTO,
                           "http trigger: TLS with %s failed: %s (for a self-signed certificate set "
                           "sslVerification: false)",
                           hn, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        rc = tbt_error_set(err, -EINVAL, "http trigger: invalid url '%s': %s", url,
                           errbuf[0] ? errbuf : curl_easy_strerror(cc));
        break;
    case CURLE_WRITE_ERROR:
        rc = tbt_error_set(err, -E2BIG, "http trigger: the response body is larger than %u bytes", HTTP_MAX_BODY);
        break;
    default:
        rc = tbt_error_set(err, -EIO, "http trigger: %s (%s)", errbuf[0] ? errbuf : curl_easy_strerror(cc), url);
    }
    TBT_UNUSED(h);
    curl_free(host);
    return rc;
}

static int http_fire(const void *p, const tbt_trigger_ctx *ctx, tbt_trigger_response *resp, tbt_error *err)
{
    const http_cfg *c = p;
    char *url = NULL, *method = NULL, *body = NULL, *ak = NULL, *av = NULL, *user = NULL, *pass = NULL,
         *token = NULL, *file_body = NULL;
    struct curl_slist *hl = NULL;
    CURL *h = NULL;
    collect col = {TBT_BUF_INIT, TBT_BUF_INIT, false};
    int rc;
    if ((rc = tbt_trigger_resolve(&c->url, ctx, &url, err)) || (rc = tbt_trigger_resolve(&c->method, ctx, &method, err)) ||
        (rc = tbt_trigger_resolve(&c->body, ctx, &body, err)))
        goto out;
    bool has_ct = false;
    for (size_t i = 0; i < c->n_headers; i++) {
        char *k = NULL, *v = NULL;
        if ((rc = tbt_trigger_resolve(&c->headers[i].key, ctx, &k, err)) ||
            (rc = tbt_trigger_resolve(&c->headers[i].value, ctx, &v, err))) {
            free(k);
            free(v);
            goto out;
        }
        if (strcasecmp(k, "content-type") == 0)
            has_ct = true;
        char *line = tbt_xasprintf("%s: %s", k, v ? v : "");
        hl = curl_slist_append(hl, line);
        free(line);
        free(k);
        free(v);
    }
    char *tp = tbt_xasprintf("traceparent: %s", ctx->traceparent);
    char *ts = tbt_xasprintf("tracestate: %s", ctx->tracestate ? ctx->tracestate : "tracetest=true");
    hl = curl_slist_append(hl, tp);
    hl = curl_slist_append(hl, ts);
    free(tp);
    free(ts);
    if (c->auth.type.s) {
        if (strcmp(c->auth.type.s, "apiKey") == 0) {
            if ((rc = tbt_trigger_resolve(&c->auth.apikey_key, ctx, &ak, err)) ||
                (rc = tbt_trigger_resolve(&c->auth.apikey_value, ctx, &av, err)))
                goto out;
            if (c->auth.apikey_in.s && strcmp(c->auth.apikey_in.s, "query") == 0) {
                CURLU *u = curl_url();
                char *q = tbt_xasprintf("%s=%s", ak, av);
                char *nu = NULL;
                if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
                    curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE) == CURLUE_OK &&
                    curl_url_get(u, CURLUPART_URL, &nu, 0) == CURLUE_OK) {
                    free(url);
                    url = tbt_xstrdup(nu);
                }
                curl_free(nu);
                curl_url_cleanup(u);
                free(q);
            } else {
                char *line = tbt_xasprintf("%s: %s", ak, av);
                hl = curl_slist_append(hl, line);
                free(line);
            }
        } else if (strcmp(c->auth.type.s, "bearer") == 0) {
            if ((rc = tbt_trigger_resolve(&c->auth.bearer_token, ctx, &token, err)))
                goto out;
            /* Tracetest sends the token verbatim; a bare token gets the
             * scheme RFC 6750 requires */
            char *line = strncasecmp(token, "Bearer ", 7) == 0 ? tbt_xasprintf("Authorization: %s", token)
                                                              : tbt_xasprintf("Authorization: Bearer %s", token);
            hl = curl_slist_append(hl, line);
            free(line);
        } else if (strcmp(c->auth.type.s, "basic") == 0) {
            if ((rc = tbt_trigger_resolve(&c->auth.basic_user, ctx, &user, err)) ||
                (rc = tbt_trigger_resolve(&c->auth.basic_pass, ctx, &pass, err)))
                goto out;
        }
    }
    size_t file_len = 0;
    file_body = body_from_file(body, ctx->base_dir, &file_len);
    if (body && !has_ct && (body[0] == '{' || body[0] == '['))
        hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    h = tbt_trigger_curl();
    if (!h) {
        rc = tbt_error_set(err, -ENOMEM, "http trigger: out of memory");
        goto out;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method && *method ? method : "GET");
    if (method && strcasecmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (file_body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, file_body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)file_len);
    } else if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    if (user) {
        curl_easy_setopt(h, CURLOPT_USERNAME, user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, pass ? pass : "");
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    }
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->ssl_verify ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->ssl_verify ? 2L : 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(ctx->timeout_ns ? ctx->timeout_ns / 1000000 : 30000));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &col);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &col);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    resp->start_unix_ns = tbt_now_unix_ns();
    CURLcode cc = curl_easy_perform(h);
    resp->end_unix_ns = tbt_now_unix_ns();
    if (cc != CURLE_OK) {
        rc = explain(cc, h, url, errbuf, err);
        goto out;
    }
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    resp->status_code = (int)code;
    resp->status = tbt_xasprintf("%ld", code);
    resp->body_len = col.body.len;
    resp->body = tbt_buf_steal(&col.body);
    tbt_buf hj = TBT_BUF_INIT;
    tbt_buf_putc(&hj, '[');
    tbt_buf_append(&hj, col.headers.data ? col.headers.data : "", col.headers.len);
    tbt_buf_putc(&hj, ']');
    resp->headers_json = tbt_buf_steal(&hj);
    rc = 0;
out:
    tbt_trigger_curl_release(h);
    curl_slist_free_all(hl);
    tbt_buf_free(&col.body);
    tbt_buf_free(&col.headers);
    free(url);
    free(method);
    free(body);
    free(file_body);
    free(ak);
    free(av);
    free(user);
    free(pass);
    free(token);
    return rc;
}

const tbt_trigger_kind tbt_trigger_http = {"http", "httpRequest", http_parse, http_fire, http_destroy};
