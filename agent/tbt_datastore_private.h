/*
 * tbt_datastore_private.h - what the DataStore backends share with
 * tbt_datastore.c: the backend table row, the configuration helpers (errors
 * at file:line:col) and the bounded HTTP GET. Not for other modules.
 */
#ifndef TBT_DATASTORE_PRIVATE_H
#define TBT_DATASTORE_PRIVATE_H

#include "tbt_datastore.h"

/* TLS settings of a client block (Tracetest's `tls:` map). */
typedef struct tbt_ds_tls {
    bool present;     /* a tls: block was written */
    bool insecure;    /* tls.insecure: plain HTTP for a bare host:port */
    bool skip_verify; /* tls.insecureSkipVerify */
    char *ca_file, *cert_file, *key_file, *server_name;
} tbt_ds_tls;

/* An HTTP client: base URL (no trailing '/'), headers, TLS. */
typedef struct tbt_ds_http {
    char *base_url;
    char **hdr_names, **hdr_values;
    size_t n_hdrs;
    tbt_ds_tls tls;
} tbt_ds_http;

void tbt_ds_http_clear(tbt_ds_http *h);

/* What one fetch may spend. */
typedef struct tbt_ds_call {
    uint64_t timeout_ns;
    const tbt_datastore_limits *lim;
} tbt_ds_call;

typedef struct tbt_datastore_backend {
    const char *name;  /* the DataStore's type: "jaeger" */
    const char *block; /* the key of its block ("jaeger"), NULL: none */
    /* Validate the block (may be NULL when absent) and keep what fetch
     * needs in *cfg; *describe (heap) names the backend in messages.
     * Errors at file:line:col. NULL for backends without a block. */
    int (*parse)(const tbt_ynode *block, const tbt_ynode *spec, const tbt_defs *defs, void **cfg, char **describe,
                 tbt_error *err);
    /* As tbt_datastore_fetch, without the backend prefix on messages.
     * NULL: this backend fetches nothing (the agent's own receivers). */
    int (*fetch)(const void *cfg, const uint8_t trace_id[16], const tbt_ds_call *call, tbt_trace **out,
                 tbt_error *err);
    void (*destroy)(void *cfg);
} tbt_datastore_backend;

extern const tbt_datastore_backend tbt_datastore_jaeger;
extern const tbt_datastore_backend tbt_datastore_tempo;

/* ---- configuration helpers: every error points at the node ------------- */
int tbt_ds_fail(tbt_error *err, const tbt_defs *defs, const tbt_ynode *n, const char *fmt, ...) TBT_PRINTF(4, 5);
/* map must be a map whose keys are all in keys (NULL-terminated); where
 * names it in messages ("jaeger.tls"). */
int tbt_ds_check_keys(const tbt_ynode *map, const char *const *keys, const char *where, const tbt_defs *defs,
                      tbt_error *err);
/* A non-empty scalar (*out borrowed from the node; NULL when absent and not
 * required). */
int tbt_ds_string(const tbt_ynode *map, const char *key, const char *where, bool required, const tbt_defs *defs,
                  const char **out, tbt_error *err);
int tbt_ds_bool(const tbt_ynode *map, const char *key, const char *where, const tbt_defs *defs, bool *out,
                tbt_error *err);
int tbt_ds_tls_parse(const tbt_ynode *tls, const char *where, const tbt_defs *defs, tbt_ds_tls *out, tbt_error *err);
/* headers: a map {Name: value} or a list of {key, value}. */
int tbt_ds_headers_parse(const tbt_ynode *n, const char *where, const tbt_defs *defs, tbt_ds_http *h, tbt_error *err);
/* A base URL: http(s)://host[:port][/path] or, when bare_ok, host:port
 * (https when https_default). Trailing '/' dropped. *out heap. */
int tbt_ds_url_parse(const tbt_ynode *n, const char *where, bool bare_ok, bool https_default, const tbt_defs *defs,
                     char **out, tbt_error *err);

/* ---- HTTP ----------------------------------------------------------------*/
typedef struct tbt_ds_response {
    long status;
    tbt_buf body;
    char content_type[128];
} tbt_ds_response;

/* GET url with h's headers and TLS and the Accept header (may be NULL).
 * Returns 0 when an HTTP answer came (whatever its status), -E2BIG when its
 * body exceeds max_bytes, -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH or -EIO
 * with curl's reason. r->body is the caller's to free (also on error). */
int tbt_ds_http_get(const tbt_ds_http *h, const char *url, const char *accept, uint64_t timeout_ns, size_t max_bytes,
                    tbt_ds_response *r, tbt_error *err);

/* Deepest {/[ nesting of JSON text (strings skipped), stopping early
 * once it passes max. */
unsigned tbt_ds_json_depth(const uint8_t *buf, size_t len, unsigned max);

#endif
