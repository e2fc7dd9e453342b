/*
 * tbt_datastore.h - trace backends: where an agent finds a test's trace
 * when it is not (only) exported to the agent's own OTLP receivers.
 * docs/datastores.md describes the resource, the mapping and the polling.
 *
 * A Tracetest `DataStore` resource names the backend:
 *
 *   type: DataStore
 *   spec:
 *     name: jaeger
 *     type: jaeger            # jaeger | tempo | otlp | agent
 *     default: true
 *     pollInterval: 1s        # tbt: how often a waiting run asks the backend
 *     timeout: 10s            # tbt: one request's time limit
 *     jaeger:
 *       endpoint: jaeger:16686            # Jaeger's HTTP query API
 *       tls: {insecure: true}
 *
 * Backends are rows of one table (tbt_datastore_private.h): {name, parse,
 * fetch, destroy}; jaeger and tempo fetch over HTTP with libcurl, otlp and
 * agent mean the agent's own receivers and fetch nothing.
 *
 * Errors follow tbt_common.h: 0 or a negative errno-style code, detail in
 * err (file:line:col for definitions). A tbt_datastore is read-only after
 * parsing: fetch may be called from several threads at once.
 */
#ifndef TBT_DATASTORE_H
#define TBT_DATASTORE_H

#include "tbt_model.h"
#include "tbt_trace.h"

/* What a fetched response may cost. Over a bound: -E2BIG naming it. */
typedef struct tbt_datastore_limits {
    size_t max_response_bytes; /* default 64 MiB */
    size_t max_spans;          /* spans in one response; default 1,000,000 */
    unsigned max_json_depth;   /* nesting of a JSON response; default 64 */
} tbt_datastore_limits;

tbt_datastore_limits tbt_datastore_default_limits(void);

typedef struct tbt_datastore tbt_datastore;

/* Parse the spec map of a DataStore resource. defs (may be NULL) supplies
 * source lines for error messages. Strings are copied: spec may be freed
 * afterwards. On success *out is new (tbt_datastore_free); on error *out is
 * NULL and err points at the offending node: unknown keys, wrong types, a
 * bad URL, a type tbt does not fetch from, Tempo's grpc client. */
int tbt_datastore_parse(const tbt_ynode *spec, const tbt_defs *defs, tbt_datastore **out, tbt_error *err);

/* The DataStore among the resources loaded into defs: the only one, or the
 * one with `default: true`. Returns 0 with *out NULL when there is none.
 * Errors: a DataStore that does not parse; two defaults (-EINVAL, naming
 * both locations); several and no default. */
int tbt_datastore_from_defs(const tbt_defs *defs, tbt_datastore **out, tbt_error *err);

/* Load a YAML file holding DataStore resources and choose as
 * tbt_datastore_from_defs does; a file without one is an error. */
int tbt_datastore_load_file(const char *path, tbt_datastore **out, tbt_error *err);

/* Accepts NULL. */
void tbt_datastore_free(tbt_datastore *ds);

const char *tbt_datastore_name(const tbt_datastore *ds); /* spec.name, else the type */
const char *tbt_datastore_type(const tbt_datastore *ds); /* "jaeger", "tempo", "otlp", "agent" */
/* "jaeger http://jaeger:16686": what messages call the backend. */
const char *tbt_datastore_describe(const tbt_datastore *ds);
/* false for otlp and agent: spans come to the receivers only. */
bool tbt_datastore_fetches(const tbt_datastore *ds);
/* How often a waiting run polls the backend (pollInterval, default 1 s). */
uint64_t tbt_datastore_poll_ns(const tbt_datastore *ds);
/* One request's time limit (timeout, default 10 s). */
uint64_t tbt_datastore_request_timeout_ns(const tbt_datastore *ds);

/* Ask the backend for trace_id, spending at most timeout_ns (0: the
 * DataStore's own request timeout). Returns 0 with *out a new trace (not
 * finalized; the caller owns it) holding at least one span; -ENOENT when
 * the backend does not have the trace (yet): HTTP 404 or an empty answer;
 * other negative codes for failures (connection refused, HTTP 5xx, a
 * malformed or oversized answer), err naming the backend first ("jaeger
 * http://host:16686: HTTP 503"). Header values are never put in messages.
 * Thread-safe. */
int tbt_datastore_fetch(const tbt_datastore *ds, const uint8_t trace_id[16], uint64_t timeout_ns, tbt_trace **out,
                        tbt_error *err);

/* ---- the response decoders (tests and fuzz harnesses call them) ---------- */

/* Decode a Jaeger query API answer ({"data": [trace...], "errors": ...})
 * into t (spans added, not finalized; strings copied into t's arena).
 * Returns 0 when spans were added; -ENOENT for "data": [] / null or a
 * "trace not found" error; -EINVAL malformed (err says what and where, as a
 * path like data[0].spans[3].tags[1].value); -E2BIG over a limit. lim may
 * be NULL (defaults). On error t may hold some spans: discard it. */
int tbt_jaeger_decode(tbt_trace *t, const uint8_t *buf, size_t len, const tbt_datastore_limits *lim, tbt_error *err);

/* Decode a Tempo trace-by-id answer into t: protobuf (tempopb.Trace, the
 * wire shape of OTLP TracesData; with v2, TraceByIDResponse wrapping it in
 * field 1) or JSON ({"batches": [...]}, {"resourceSpans": [...]}; v2:
 * {"trace": {...}}). Returns as tbt_jaeger_decode (-ENOENT: no span). */
int tbt_tempo_decode(tbt_trace *t, const uint8_t *buf, size_t len, bool protobuf, bool v2,
                     const tbt_datastore_limits *lim, tbt_error *err);

#endif
