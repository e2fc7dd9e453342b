/* tbt_datastore.c - the DataStore resource, the backend table, and what
 * the backends share: configuration helpers and a bounded HTTP GET. */
#include "tbt_datastore_private.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The agent's own receivers: a DataStore that says "spans are exported to
 * tbt" (Tracetest's otlp / agent types) fetches nothing. */
static const tbt_datastore_backend ds_otlp = {"otlp", NULL, NULL, NULL, NULL};
static const tbt_datastore_backend ds_agent = {"agent", NULL, NULL, NULL, NULL};

static const tbt_datastore_backend *const backends[] = {&tbt_datastore_jaeger, &tbt_datastore_tempo, &ds_otlp,
                                                        &ds_agent};

/* Tracetest's other types: named in the refusal so the user knows why. */
static const char *const tracetest_only[] = {"opensearch", "elasticapm", "signalfx", "awsxray", "datadog",
                                             "honeycomb",  "lightstep",  "newrelic", "signoz",  "dynatrace",
                                             "sumologic",  "azureappinsights", "instana"};

struct tbt_datastore {
    const tbt_datastore_backend *be;
    void *cfg;
    char *name, *describe;
    bool is_default;
    uint64_t poll_ns, timeout_ns;
    tbt_datastore_limits lim;
};

tbt_datastore_limits tbt_datastore_default_limits(void)
{
    tbt_datastore_limits l = {.max_response_bytes = 64u * 1024u * 1024u, .max_spans = 1000000, .max_json_depth = 64};
    return l;
}

/* ---- configuration helpers ---------------------------------------------------*/

int tbt_ds_fail(tbt_error *err, const tbt_defs *defs, const tbt_ynode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    tbt_error_set(err, -EINVAL, "%s", msg);
    free(msg);
    if (err && n && n->loc.file) {
        err->file = tbt_xstrdup(n->loc.file);
        err->line = n->loc.line;
        err->col = n->loc.col;
        if (defs)
            tbt_defs_error_source(defs, err);
    }
    return -EINVAL;
}

static bool scalar(const tbt_ynode *n)
{
    return n && n->type == TBT_Y_SCALAR && !tbt_ynode_is_null(n);
}

int tbt_ds_check_keys(const tbt_ynode *map, const char *const *keys, const char *where, const tbt_defs *defs,
                      tbt_error *err)
{
    if (!map || map->type != TBT_Y_MAP)
        return tbt_ds_fail(err, defs, map, "DataStore %s: expected a map, found %s", where, tbt_ynode_kind_name(map));
    for (size_t i = 0; i < map->n; i++) {
        const char *k = map->pairs[i].key->str;
        bool ok = false;
        for (size_t j = 0; keys[j] && !ok; j++)
            ok = strcmp(k, keys[j]) == 0;
        if (ok)
            continue;
        tbt_buf b = TBT_BUF_INIT;
        for (size_t j = 0; keys[j]; j++)
            tbt_buf_printf(&b, "%s%s", j ? ", " : "", keys[j]);
        int rc = tbt_ds_fail(err, defs, map->pairs[i].key, "DataStore %s: unknown field '%s' (valid: %s)", where, k,
                             tbt_buf_cstr(&b));
        tbt_buf_free(&b);
        return rc;
    }
    return 0;
}

int tbt_ds_string(const tbt_ynode *map, const char *key, const char *where, bool required, const tbt_defs *defs,
                  const char **out, tbt_error *err)
{
    const tbt_ynode *n = tbt_ymap_get(map, key);
    *out = NULL;
    if (!n || tbt_ynode_is_null(n)) {
        if (required)
            return tbt_ds_fail(err, defs, n ? n : map, "DataStore %s: '%s' is required", where, key);
        return 0;
    }
    if (n->type != TBT_Y_SCALAR || !n->len)
        return tbt_ds_fail(err, defs, n, "DataStore %s.%s: expected text, found %s", where, key,
                           n->type == TBT_Y_SCALAR ? "an empty string" : tbt_ynode_kind_name(n));
    *out = n->str;
    return 0;
}

int tbt_ds_bool(const tbt_ynode *map, const char *key, const char *where, const tbt_defs *defs, bool *out,
                tbt_error *err)
{
    const tbt_ynode *n = tbt_ymap_get(map, key);
    if (!n)
        return 0;
    if (scalar(n) && strcmp(n->str, "true") == 0)
        *out = true;
    else if (scalar(n) && strcmp(n->str, "false") == 0)
        *out = false;
    else
        return tbt_ds_fail(err, defs, n, "DataStore %s.%s: expected true or false, found %s", where, key,
                           scalar(n) ? n->str : tbt_ynode_kind_name(n));
    return 0;
}

int tbt_ds_tls_parse(const tbt_ynode *tls, const char *where, const tbt_defs *defs, tbt_ds_tls *out, tbt_error *err)
{
    if (!tls || tbt_ynode_is_null(tls))
        return 0;
    static const char *const keys[] = {"insecure", "insecureSkipVerify", "settings", NULL};
    static const char *const skeys[] = {"cAFile", "certFile", "keyFile", "serverName", NULL};
    char *w = tbt_xasprintf("%s.tls", where), *ws = tbt_xasprintf("%s.tls.settings", where);
    const char *ca = NULL, *cert = NULL, *key = NULL, *sni = NULL;
    const tbt_ynode *s = tbt_ymap_get(tls, "settings");
    int rc;
    out->present = true;
    if ((rc = tbt_ds_check_keys(tls, keys, w, defs, err)) || (rc = tbt_ds_bool(tls, "insecure", w, defs, &out->insecure, err)) ||
        (rc = tbt_ds_bool(tls, "insecureSkipVerify", w, defs, &out->skip_verify, err)))
        goto out;
    if (s && !tbt_ynode_is_null(s)) {
        if ((rc = tbt_ds_check_keys(s, skeys, ws, defs, err)) || (rc = tbt_ds_string(s, "cAFile", ws, false, defs, &ca, err)) ||
            (rc = tbt_ds_string(s, "certFile", ws, false, defs, &cert, err)) ||
            (rc = tbt_ds_string(s, "keyFile", ws, false, defs, &key, err)) ||
            (rc = tbt_ds_string(s, "serverName", ws, false, defs, &sni, err)))
            goto out;
        if (!cert != !key) {
            rc = tbt_ds_fail(err, defs, s, "DataStore %s: certFile and keyFile go together (a client certificate "
                                           "and its key)", ws);
            goto out;
        }
    }
    out->ca_file = ca ? tbt_xstrdup(ca) : NULL;
    out->cert_file = cert ? tbt_xstrdup(cert) : NULL;
    out->key_file = key ? tbt_xstrdup(key) : NULL;
    out->server_name = sni ? tbt_xstrdup(sni) : NULL;
out:
    free(w);
    free(ws);
    return rc;
}

static bool header_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 32 || *s == ':' || (unsigned char)*s >= 127)
            return false;
    return true;
}

static bool header_value_ok(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return false;
    return true;
}

static int add_header(tbt_ds_http *h, const tbt_ynode *kn, const char *k, const tbt_ynode *vn, const char *where,
                      const tbt_defs *defs, tbt_error *err)
{
    if (!header_name_ok(k))
        return tbt_ds_fail(err, defs, kn, "DataStore %s: '%s' is not a header name", where, k);
    if (!vn || vn->type != TBT_Y_SCALAR)
        return tbt_ds_fail(err, defs, vn ? vn : kn, "DataStore %s.%s: expected text, found %s", where, k,
                           tbt_ynode_kind_name(vn));
    /* the value is a secret (Authorization, X-Scope-OrgID): never quoted */
    if (!header_value_ok(vn->str))
        return tbt_ds_fail(err, defs, vn, "DataStore %s.%s: a header value cannot hold a line break", where, k);
    h->hdr_names = tbt_xrealloc(h->hdr_names, (h->n_hdrs + 1) * sizeof(char *));
    h->hdr_values = tbt_xrealloc(h->hdr_values, (h->n_hdrs + 1) * sizeof(char *));
    h->hdr_names[h->n_hdrs] = tbt_xstrdup(k);
    h->hdr_values[h->n_hdrs++] = tbt_xstrdup(vn->str);
    return 0;
}

int tbt_ds_headers_parse(const tbt_ynode *n, const char *where, const tbt_defs *defs, tbt_ds_http *h, tbt_error *err)
{
    if (!n || tbt_ynode_is_null(n))
        return 0;
    char *w = tbt_xasprintf("%s.headers", where);
    int rc = 0;
    if (n->type == TBT_Y_MAP) {
        for (size_t i = 0; i < n->n && !rc; i++)
            rc = add_header(h, n->pairs[i].key, n->pairs[i].key->str, n->pairs[i].value, w, defs, err);
    } else if (n->type == TBT_Y_SEQ) {
        static const char *const keys[] = {"key", "value", NULL};
        for (size_t i = 0; i < n->n && !rc; i++) {
            const tbt_ynode *e = n->items[i], *k = tbt_ymap_get(e, "key");
            if ((rc = tbt_ds_check_keys(e, keys, w, defs, err)))
                break;
            if (!scalar(k))
                rc = tbt_ds_fail(err, defs, k ? k : e, "DataStore %s: each header needs a key", w);
            else
                rc = add_header(h, k, k->str, tbt_ymap_get(e, "value"), w, defs, err);
        }
    } else {
        rc = tbt_ds_fail(err, defs, n, "DataStore %s: expected a map of header names to values, found %s", w,
                         tbt_ynode_kind_name(n));
    }
    free(w);
    return rc;
}

int tbt_ds_url_parse(const tbt_ynode *n, const char *where, bool bare_ok, bool https_default, const tbt_defs *defs,
                     char **out, tbt_error *err)
{
    *out = NULL;
    const char *s = n->str;
    const char *hostpart;
    tbt_buf b = TBT_BUF_INIT;
    if (strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0) {
        hostpart = strchr(s, ':') + 3;
        tbt_buf_puts(&b, s);
    } else if (bare_ok && !strstr(s, "://")) {
        hostpart = s;
        tbt_buf_printf(&b, "%s://%s", https_default ? "https" : "http", s);
    } else {
        return tbt_ds_fail(err, defs, n, "DataStore %s: expected %s, got \"%s\"", where,
                           bare_ok ? "http://host:port, https://host:port or host:port"
                                   : "an http:// or https:// URL",
                           s);
    }
    /* host: non-empty, no blanks; port (if any): 1..65535 */
    size_t hl = strcspn(hostpart, "/?#");
    const char *colon = NULL;
    bool bad = hl == 0;
    if (!bad && hostpart[0] == '[') {
        const char *rb = memchr(hostpart, ']', hl);
        bad = !rb;
        colon = rb && rb + 1 < hostpart + hl && rb[1] == ':' ? rb + 1 : NULL;
        bad |= rb && rb + 1 < hostpart + hl && rb[1] != ':';
    } else if (!bad) {
        colon = memchr(hostpart, ':', hl);
        bad = colon == hostpart;
    }
    for (size_t i = 0; i < hl && !bad; i++)
        bad = (unsigned char)hostpart[i] <= 32 || hostpart[i] == '@';
    if (!bad && colon) {
        char *end = NULL;
        long port = strtol(colon + 1, &end, 10);
        bad = end == colon + 1 || end != hostpart + hl || port < 1 || port > 65535;
    }
    for (const char *p = s; *p && !bad; p++)
        bad = (unsigned char)*p <= 32;
    if (bad) {
        tbt_buf_free(&b);
        return tbt_ds_fail(err, defs, n, "DataStore %s: \"%s\" is not a valid URL (host and optional port 1-65535)",
                           where, s);
    }
    while (b.len && b.data[b.len - 1] == '/')
        b.data[--b.len] = '\0';
    *out = tbt_buf_steal(&b);
    return 0;
}

void tbt_ds_http_clear(tbt_ds_http *h)
{
    free(h->base_url);
    for (size_t i = 0; i < h->n_hdrs; i++) {
        free(h->hdr_names[i]);
        free(h->hdr_values[i]);
    }
    free(h->hdr_names);
    free(h->hdr_values);
    free(h->tls.ca_file);
    free(h->tls.cert_file);
    free(h->tls.key_file);
    free(h->tls.server_name);
    memset(h, 0, sizeof(*h));
}

unsigned tbt_ds_json_depth(const uint8_t *buf, size_t len, unsigned max)
{
    unsigned d = 0, deepest = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = buf[i];
        if (c == '"') {
            for (i++; i < len && buf[i] != '"'; i++)
                if (buf[i] == '\\')
                    i++;
        } else if (c == '{' || c == '[') {
            if (++d > deepest && (deepest = d) > max)
                return deepest;
        } else if ((c == '}' || c == ']') && d) {
            d--;
        }
    }
    return deepest;
}

/* ---- HTTP ----------------------------------------------------------------*/

typedef struct sink {
    tbt_buf *b;
    size_t max;
    bool over;
} sink;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    sink *s = ud;
    size_t n = size * nmemb;
    if (s->b->len + n > s->max) {
        s->over = true;
        return 0; /* abort the transfer */
    }
    tbt_buf_append(s->b, p, n);
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    tbt_ds_response *r = ud;
    size_t n = size * nmemb;
    if (n > 13 && strncasecmp(p, "content-type:", 13) == 0) {
        const char *v = p + 13;
        size_t vn = n - 13;
        while (vn && (*v == ' ' || *v == '\t'))
            v++, vn--;
        while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
            vn--;
        if (vn >= sizeof(r->content_type))
            vn = sizeof(r->content_type) - 1;
        memcpy(r->content_type, v, vn);
        r->content_type[vn] = '\0';
    }
    return n;
}

/* "http://host:port/path" -> "host", "port" (defaults by scheme). */
static void url_host_port(const char *url, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *h = strstr(url, "://");
    bool https = strncasecmp(url, "https", 5) == 0;
    h = h ? h + 3 : url;
    size_t hl = strcspn(h, "/?#");
    const char *colon = NULL;
    if (h[0] == '[') {
        const char *rb = memchr(h, ']', hl);
        colon = rb && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(h, ':', hl);
    }
    size_t n = colon ? (size_t)(colon - h) : hl;
    snprintf(host, hcap, "%.*s", (int)n, h);
    if (colon)
        snprintf(port, pcap, "%.*s", (int)(h + hl - colon - 1), colon + 1);
    else
        snprintf(port, pcap, "%s", https ? "443" : "80");
}

int tbt_ds_http_get(const tbt_ds_http *h, const char *url, const char *accept, uint64_t timeout_ns, size_t max_bytes,
                    tbt_ds_response *r, tbt_error *err)
{
    memset(r, 0, sizeof(*r));
    CURL *c = curl_easy_init();
    if (!c)
        return tbt_error_set(err, -ENOMEM, "could not create an HTTP client");
    char errbuf[CURL_ERROR_SIZE] = "";
    sink sk = {&r->body, max_bytes, false};
    struct curl_slist *hl = NULL;
    char *line = NULL, *connect_to = NULL, *sni_url = NULL;
    struct curl_slist *ct = NULL;
    if (accept) {
        line = tbt_xasprintf("Accept: %s", accept);
        hl = curl_slist_append(hl, line);
        free(line);
    }
    for (size_t i = 0; i < h->n_hdrs; i++) {
        line = tbt_xasprintf("%s: %s", h->hdr_names[i], h->hdr_values[i]);
        hl = curl_slist_append(hl, line);
        free(line);
    }
    long ms = (long)(timeout_ns / 1000000ull);
    if (ms < 1)
        ms = 1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (h->tls.server_name && strncasecmp(url, "https://", 8) == 0) {
        /* check the certificate against serverName, connect to the URL's
         * host: ask for serverName, route it to the real host and port */
        char host[256], port[16];
        url_host_port(url, host, sizeof(host), port, sizeof(port));
        const char *rest = url + 8 + strcspn(url + 8, "/?#");
        sni_url = tbt_xasprintf("https://%s:%s%s", h->tls.server_name, port, rest);
        connect_to = tbt_xasprintf("%s:%s:%s:%s", h->tls.server_name, port, host, port);
        ct = curl_slist_append(NULL, connect_to);
        curl_easy_setopt(c, CURLOPT_URL, sni_url);
        curl_easy_setopt(c, CURLOPT_CONNECT_TO, ct);
    }
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms < 5000 ? ms : 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sk);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* gzip answers are welcome; the bound is on decoded bytes */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    if (h->tls.skip_verify) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (h->tls.ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->tls.ca_file);
    if (h->tls.cert_file)
        curl_easy_setopt(c, CURLOPT_SSLCERT, h->tls.cert_file);
    if (h->tls.key_file)
        curl_easy_setopt(c, CURLOPT_SSLKEY, h->tls.key_file);
    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    } else if (sk.over || cc == CURLE_FILESIZE_EXCEEDED) {
        rc = tbt_error_set(err, -E2BIG, "the answer is larger than the %zu-byte limit", max_bytes);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        char d[48];
        tbt_format_duration((int64_t)ms * 1000000, d, sizeof(d));
        rc = tbt_error_set(err, -ETIMEDOUT, "no answer within %s", d);
    } else if (cc == CURLE_COULDNT_CONNECT) {
        long oserr = 0;
        curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr);
        if (oserr == ECONNREFUSED)
            rc = tbt_error_set(err, -ECONNREFUSED, "connection refused (nothing listening there)");
        else
            rc = tbt_error_set(err, -EHOSTUNREACH, "could not connect: %s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else if (cc == CURLE_COULDNT_RESOLVE_HOST) {
        rc = tbt_error_set(err, -EHOSTUNREACH, "host did not resolve: %s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else {
        rc = tbt_error_set(err, -EIO, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
    }
    curl_slist_free_all(hl);
    curl_slist_free_all(ct);
    free(connect_to);
    free(sni_url);
    curl_easy_cleanup(c);
    return rc;
}

/* ---- the resource ----------------------------------------------------------*/

static const tbt_datastore_backend *backend_find(const char *name)
{
    for (size_t i = 0; i < TBT_ARRAY_LEN(backends); i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

static int duration_field(const tbt_ynode *spec, const char *key, const tbt_defs *defs, uint64_t *out, tbt_error *err)
{
    const tbt_ynode *n = tbt_ymap_get(spec, key);
    if (!n)
        return 0;
    int64_t ns;
    if (!scalar(n) || tbt_parse_duration(n->str, n->len, &ns) != 0 || ns < 1000000 || ns > 3600ll * 1000000000ll)
        return tbt_ds_fail(err, defs, n, "DataStore %s: expected a duration from 1ms to 1h such as 500ms or 2s", key);
    *out = (uint64_t)ns;
    return 0;
}

int tbt_datastore_parse(const tbt_ynode *spec, const tbt_defs *defs, tbt_datastore **out, tbt_error *err)
{
    *out = NULL;
    if (!spec || spec->type != TBT_Y_MAP)
        return tbt_ds_fail(err, defs, spec, "a DataStore's spec must be a map");
    const tbt_ynode *tn = tbt_ymap_get(spec, "type");
    if (!scalar(tn))
        return tbt_ds_fail(err, defs, tn ? tn : spec, "a DataStore needs 'type': jaeger, tempo, otlp or agent");
    const tbt_datastore_backend *be = backend_find(tn->str);
    if (!be) {
        for (size_t i = 0; i < TBT_ARRAY_LEN(tracetest_only); i++)
            if (strcmp(tn->str, tracetest_only[i]) == 0)
                return tbt_ds_fail(err, defs, tn,
                                   "DataStore type '%s' is not supported by tbt (jaeger, tempo, otlp, agent)", tn->str);
        return tbt_ds_fail(err, defs, tn, "unknown DataStore type '%s' (jaeger, tempo, otlp, agent)", tn->str);
    }
    const char *keys[] = {"id", "name", "type", "default", "createdAt", "pollInterval", "timeout", be->block, NULL};
    int rc;
    if ((rc = tbt_ds_check_keys(spec, keys, "spec", defs, err)) != 0)
        return rc;
    tbt_datastore *ds = tbt_xcalloc(1, sizeof(*ds));
    ds->be = be;
    ds->poll_ns = 1000000000ull;
    ds->timeout_ns = 10000000000ull;
    ds->lim = tbt_datastore_default_limits();
    const char *name = NULL;
    if ((rc = tbt_ds_string(spec, "name", "spec", false, defs, &name, err)) ||
        (rc = tbt_ds_bool(spec, "default", "spec", defs, &ds->is_default, err)) ||
        (rc = duration_field(spec, "pollInterval", defs, &ds->poll_ns, err)) ||
        (rc = duration_field(spec, "timeout", defs, &ds->timeout_ns, err)))
        goto fail;
    ds->name = tbt_xstrdup(name ? name : be->name);
    if (be->parse) {
        const tbt_ynode *block = tbt_ymap_get(spec, be->block);
        if (!block || tbt_ynode_is_null(block)) {
            rc = tbt_ds_fail(err, defs, spec, "a DataStore of type %s needs its '%s' block", be->name, be->block);
            goto fail;
        }
        if ((rc = be->parse(block, spec, defs, &ds->cfg, &ds->describe, err)) != 0)
            goto fail;
    } else {
        ds->describe = tbt_xasprintf("%s (the agent's own OTLP receivers)", be->name);
    }
    *out = ds;
    return 0;
fail:
    tbt_datastore_free(ds);
    return rc;
}

void tbt_datastore_free(tbt_datastore *ds)
{
    if (!ds)
        return;
    if (ds->cfg && ds->be->destroy)
        ds->be->destroy(ds->cfg);
    free(ds->name);
    free(ds->describe);
    free(ds);
}

int tbt_datastore_from_defs(const tbt_defs *defs, tbt_datastore **out, tbt_error *err)
{
    *out = NULL;
    tbt_datastore *chosen = NULL, *only = NULL;
    const tbt_resource_ref *chosen_ref = NULL, *first_ref = NULL;
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < tbt_defs_count(defs); i++) {
        const tbt_resource_ref *ref = tbt_defs_at(defs, i);
        if (ref->kind != TBT_RES_OTHER || strcmp(ref->type_name, "DataStore") != 0)
            continue;
        tbt_datastore *ds = NULL;
        if ((rc = tbt_datastore_parse(ref->def, defs, &ds, err)) != 0)
            goto fail;
        n++;
        if (!first_ref)
            first_ref = ref;
        if (ds->is_default) {
            if (chosen) {
                rc = tbt_error_set(err, -EINVAL, "two DataStores have default: true: %s:%d:%d and %s:%d:%d",
                                   chosen_ref->file, chosen_ref->loc.line, chosen_ref->loc.col, ref->file,
                                   ref->loc.line, ref->loc.col);
                tbt_datastore_free(ds);
                goto fail;
            }
            chosen = ds;
            chosen_ref = ref;
        } else if (!only) {
            only = ds;
        } else {
            tbt_datastore_free(ds);
        }
    }
    if (chosen) {
        tbt_datastore_free(only);
        *out = chosen;
        return 0;
    }
    if (n > 1) {
        rc = tbt_error_set(err, -EINVAL, "%zu DataStores and none has default: true (the first is at %s:%d:%d)", n,
                           first_ref->file, first_ref->loc.line, first_ref->loc.col);
        goto fail;
    }
    *out = only;
    return 0;
fail:
    tbt_datastore_free(chosen);
    tbt_datastore_free(only);
    return rc;
}

int tbt_datastore_load_file(const char *path, tbt_datastore **out, tbt_error *err)
{
    *out = NULL;
    tbt_defs *d = tbt_defs_new();
    int rc = tbt_defs_load_file(d, path, err);
    if (rc == 0 && (rc = tbt_datastore_from_defs(d, out, err)) == 0 && !*out)
        rc = tbt_error_set(err, -EINVAL, "%s holds no DataStore resource", path);
    tbt_defs_free(d);
    return rc;
}

const char *tbt_datastore_name(const tbt_datastore *ds)
{
    return ds->name;
}

const char *tbt_datastore_type(const tbt_datastore *ds)
{
    return ds->be->name;
}

const char *tbt_datastore_describe(const tbt_datastore *ds)
{
    return ds->describe;
}

bool tbt_datastore_fetches(const tbt_datastore *ds)
{
    return ds && ds->be->fetch;
}

uint64_t tbt_datastore_poll_ns(const tbt_datastore *ds)
{
    return ds->poll_ns;
}

uint64_t tbt_datastore_request_timeout_ns(const tbt_datastore *ds)
{
    return ds->timeout_ns;
}

int tbt_datastore_fetch(const tbt_datastore *ds, const uint8_t trace_id[16], uint64_t timeout_ns, tbt_trace **out,
                        tbt_error *err)
{
    *out = NULL;
    if (!ds->be->fetch)
        return tbt_error_set(err, -ENOTSUP, "%s: fetches nothing", ds->describe);
    tbt_ds_call call = {timeout_ns && timeout_ns < ds->timeout_ns ? timeout_ns : ds->timeout_ns, &ds->lim};
    int rc = ds->be->fetch(ds->cfg, trace_id, &call, out, err);
    if (rc != 0)
        tbt_error_prefix(err, "%s", ds->describe);
    return rc;
}
