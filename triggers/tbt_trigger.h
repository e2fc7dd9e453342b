/*
 * tbt_trigger.h - what starts a test's trace: one table per trigger kind
 * (http, traceid; grpc, kafka, amqp next), registered in one list. The
 * runner never switches on a trigger type: it finds the kind by name,
 * parses the definition's block once, and fires it per run.
 *
 * Every field of a trigger block is an expression string first, so
 * ${var:X}, ${env:X} and ${uuid()} work in all of them; fields are resolved
 * when the trigger fires, with the run's variables.
 */
#ifndef TBT_TRIGGER_H
#define TBT_TRIGGER_H

#include "tbt_expr.h"
#include "tbt_model.h"

/* What the trigger needs from the run. */
typedef struct tbt_trigger_ctx {
    const tbt_vars *vars;
    const char *traceparent; /* W3C: 00-<trace id>-<span id>-01 */
    const char *tracestate;  /* tracetest=true */
    const char *base_dir;    /* directory of the definition (relative file paths) */
    uint64_t timeout_ns;     /* overall; 0 = the kind's default */
} tbt_trigger_ctx;

/* What happened: becomes the "Tracetest trigger" span's
 * tracetest.response.* attributes. All strings heap; cleared by
 * tbt_trigger_response_clear. */
typedef struct tbt_trigger_response {
    uint64_t start_unix_ns, end_unix_ns;
    char *status;       /* "200"; the gRPC code for grpc */
    int status_code;
    char *body;
    size_t body_len;
    char *headers_json; /* [{"Key": ..., "Value": ...}] */
    /* extra tracetest.response.* attributes (kafka partition/offset, ...) */
    char **extra_keys, **extra_values;
    size_t n_extra;
    /* a traceid trigger names the trace to evaluate instead of starting one */
    bool has_trace_id;
    uint8_t trace_id[16];
} tbt_trigger_response;

void tbt_trigger_response_clear(tbt_trigger_response *r);
void tbt_trigger_response_extra(tbt_trigger_response *r, const char *key, const char *value);

typedef struct tbt_trigger_kind {
    const char *name;  /* "http" */
    const char *block; /* "httpRequest" */
    /* Validate the block (unknown keys, wrong types: errors at file:line:col)
     * and keep what fire needs. *cfg is owned by the caller, freed with
     * destroy. The block's nodes outlive cfg (they belong to the defs). */
    int (*parse)(const tbt_ynode *block, void **cfg, tbt_error *err);
    /* Resolve the fields with ctx->vars and fire. Returns 0 when the call
     * happened (whatever its status), negative with a helpful reason in err
     * when it could not (host did not resolve, connection refused, TLS). */
    int (*fire)(const void *cfg, const tbt_trigger_ctx *ctx, tbt_trigger_response *resp, tbt_error *err);
    void (*destroy)(void *cfg);
} tbt_trigger_kind;

/* The registered kinds. */
const tbt_trigger_kind *tbt_trigger_find(const char *name);
/* "http, traceid" for messages. */
const char *tbt_trigger_names(void);

/* A parsed trigger of a test definition. */
typedef struct tbt_trigger {
    const tbt_trigger_kind *kind;
    void *cfg;
} tbt_trigger;

int tbt_trigger_parse(const tbt_trigger_def *def, tbt_trigger *out, tbt_error *err);
void tbt_trigger_destroy(tbt_trigger *t);

/* ---- helpers for the kinds' parsers ---------------------------------------*/
typedef struct tbt_field {
    const char *s; /* NULL when absent */
    tbt_loc loc;
} tbt_field;

/* Check that map only has keys from allowed (NULL-terminated); an unknown
 * key is an error at its position listing the valid ones. `where` names the
 * block in messages. */
int tbt_trigger_check_keys(const tbt_ynode *map, const char *const *allowed, const char *where, tbt_error *err);
/* A scalar field (NULL/absent allowed unless required). */
int tbt_trigger_field(const tbt_ynode *map, const char *key, bool required, const char *where, tbt_field *out,
                      tbt_error *err);
/* A list of {key, value} maps (headers, metadata). */
typedef struct tbt_field_kv {
    tbt_field key, value;
} tbt_field_kv;
int tbt_trigger_kv_list(const tbt_ynode *map, const char *key, const char *where, tbt_field_kv **out, size_t *n,
                        tbt_error *err);
/* The `auth` block the http and grpc triggers share. */
typedef struct tbt_trigger_auth {
    tbt_field type; /* type.s == NULL: no auth */
    tbt_field apikey_key, apikey_value, apikey_in;
    tbt_field basic_user, basic_pass;
    tbt_field bearer_token;
} tbt_trigger_auth;
/* Parse `auth: {type: apiKey|basic|bearer, apiKey: {key, value, in?},
 * basic: {username|user, password}, bearer: {token}}`; where names the
 * block in messages ("httpRequest.auth"); with_in accepts apiKey.in
 * (header|query). Errors at file:line:col. */
int tbt_trigger_auth_parse(const tbt_ynode *auth, const char *where, bool with_in, tbt_trigger_auth *a,
                           tbt_error *err);

/* Resolve a field's ${...} with the run's variables (heap result). */
int tbt_trigger_resolve(const tbt_field *f, const tbt_trigger_ctx *ctx, char **out, tbt_error *err);
/* A scalar's boolean value (true/false); *out untouched when absent. */
int tbt_trigger_bool(const tbt_ynode *map, const char *key, const char *where, bool *out, tbt_error *err);

#endif
