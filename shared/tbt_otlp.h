/*
 * tbt_otlp.h - OTLP trace codec: ExportTraceServiceRequest / TracesData in
 * protobuf (application/x-protobuf) and OTLP/JSON, decoded into and encoded
 * from the tbt_trace model.
 *
 * Decoding reads hostile input: every length is bounds-checked, attribute
 * nesting is bounded, and the number of spans, attributes and value sizes
 * are capped by tbt_otlp_limits. Malformed encodings fail the whole request;
 * spans with invalid ids are skipped and counted (OTLP partial success).
 *
 * The protobuf codec is a hand-written bounds-checked reader/writer over the
 * field numbers of opentelemetry-proto v1.x (proto/); it never recurses
 * deeper than max_value_depth. The JSON codec (tbt_otlp_json.c) uses cJSON.
 *
 * Nothing here is thread-safe on a shared trace; distinct traces may be
 * decoded on distinct threads.
 */
#ifndef TBT_OTLP_H
#define TBT_OTLP_H

#include "tbt_trace.h"

typedef enum { TBT_OTLP_PROTOBUF, TBT_OTLP_JSON } tbt_otlp_format;

/* Bounds a decoder enforces. Exceeding any of them fails the request with
 * -E2BIG and a message naming the bound. */
typedef struct tbt_otlp_limits {
    /* Spans held by the trace after the request (those already in it count). */
    size_t max_spans;
    /* Entries of any one attribute list (span, event, link, resource, scope)
     * and items of any one array or kvlist value. */
    size_t max_attrs_per_span;
    /* Bytes of any one string or bytes value, key, name or trace state. */
    size_t max_value_len;
    /* Nesting of AnyValue: a scalar attribute is depth 1, the items of an
     * array attribute depth 2, and so on. */
    unsigned max_value_depth;
} tbt_otlp_limits;

/* 1,000,000 spans, 1024 attributes, 1 MiB per value, depth 32. */
tbt_otlp_limits tbt_otlp_default_limits(void);

/* What a decode accepted and refused. Counts are added to (so one record can
 * sum several requests); start from a zeroed struct. */
typedef struct tbt_otlp_stats {
    size_t spans;          /* spans added to the trace */
    size_t rejected_spans; /* spans skipped: invalid trace, span or link ids */
    char *reject_reason;   /* heap, the first reason seen, may be NULL */
} tbt_otlp_stats;

/* Free reject_reason and zero the record. Accepts NULL. */
void tbt_otlp_stats_clear(tbt_otlp_stats *stats);

/* Decode one ExportTraceServiceRequest (or TracesData, the same wire shape)
 * in buf[0..len) and add its spans to t with tbt_trace_add_span.
 *
 * Ownership: every string and array is copied into tbt_trace_arena(t); buf
 * is not referenced after the call. Equal short strings are stored once and
 * shared between spans, so treat them as read-only. Spans of one
 * ResourceSpans share one tbt_resource and spans of one ScopeSpans one
 * tbt_scope (never NULL for decoded spans; empty when absent on the wire).
 * Absent optional strings (trace_state, status message, schema_url, scope
 * name/version) are NULL; span and event names are "" when absent. Does not
 * finalize. lim may be NULL (defaults); stats and err may be NULL.
 *
 * Returns 0 on success, also when spans were rejected for invalid ids (they
 * are counted in stats->rejected_spans, and the first reason kept); an empty
 * request succeeds with no spans.
 * Errors: -EINVAL for a malformed encoding ("invalid OTLP protobuf: ..." /
 * "invalid OTLP JSON: ...", for JSON syntax errors with err->line/col and
 * the source line set), -E2BIG when a limit is exceeded. On error, t may
 * already hold some of the request's spans: discard it. */
int tbt_otlp_decode(tbt_trace *t, tbt_otlp_format fmt, const uint8_t *buf, size_t len, const tbt_otlp_limits *lim,
                    tbt_otlp_stats *stats, tbt_error *err);

/* TBT_OTLP_JSON when the first non-whitespace byte is '{', otherwise
 * TBT_OTLP_PROTOBUF. */
tbt_otlp_format tbt_otlp_sniff(const uint8_t *buf, size_t len);

/* Read the file at path (at most 256 MiB), sniff its format, decode it with
 * the default limits and finalize. On success *out is a new trace the caller
 * frees with tbt_trace_free and 0 is returned; spans rejected for invalid ids
 * make the load fail (a fixture file should be valid). On error *out is
 * untouched, a negative errno-style code is returned, and err carries the
 * path (err->file) and, for JSON syntax errors, line:col. */
int tbt_otlp_load_file(const char *path, tbt_trace **out, tbt_error *err);

/* Append an ExportTraceServiceRequest holding every span of t to out, in
 * protobuf or OTLP/JSON. Spans are grouped into ResourceSpans / ScopeSpans
 * by their resource and scope pointers, in order of first appearance; a
 * NULL resource or scope is encoded as an absent one. JSON follows OTLP/JSON:
 * lowerCamelCase keys, hex ids, 64-bit integers as decimal strings, enums as
 * integers, bytes as base64, default values omitted.
 * tbt_otlp_decode(tbt_otlp_encode(t)) yields the same spans, attributes,
 * events, links, resources and scopes (JSON loses only strings with
 * embedded NUL bytes). Returns 0 (-EINVAL for an unknown format). */
int tbt_otlp_encode(const tbt_trace *t, tbt_otlp_format fmt, tbt_buf *out);

/* A synthetic, finalized trace of n_spans spans (n_spans >= 1) for benches
 * and tests: one trace id; services api-gateway, order-service,
 * payment-service, inventory-service, notification-service, each its own
 * resource (service.name, service.version, telemetry.sdk.*, host.name,
 * process.pid) and scope; a tree of depth <= 10 with fan-out, made of HTTP
 * server/client, database, messaging producer/consumer (with links) and
 * internal spans whose attributes cover every value type (string, bool, int,
 * double, array, kvlist, bytes), some error spans with exception events.
 * The same (n_spans, seed) always gives the same trace. Caller frees. */
tbt_trace *tbt_otlp_generate(size_t n_spans, unsigned seed);

/* ---- internal: shared by tbt_otlp.c and tbt_otlp_json.c ---------------- */

/* The JSON backends of tbt_otlp_decode / tbt_otlp_encode. lim is non-NULL. */
int tbt_otlp_json_decode(tbt_trace *t, const uint8_t *buf, size_t len, const tbt_otlp_limits *lim,
                         tbt_otlp_stats *stats, tbt_error *err);
void tbt_otlp_json_encode(const tbt_trace *t, tbt_buf *out);

/* One ResourceSpans / ScopeSpans group of an encoding: spans[0..n) share
 * resource and scope. */
typedef struct tbt_otlp_group {
    const tbt_resource *resource;
    const tbt_scope *scope;
    size_t first, n; /* range in the order array */
} tbt_otlp_group;

/* Group t's spans for encoding. Returns the number of groups; *groups and
 * *order (span pointers, grouped, heap) are freed by the caller. Groups of
 * one resource are adjacent. */
size_t tbt_otlp_group_spans(const tbt_trace *t, tbt_otlp_group **groups, const tbt_span ***order);

/* Strings of one decode call shared by content: attribute keys and short
 * string values repeat in nearly every span, and one arena copy of each
 * saves a third of a decoded trace's memory. */
typedef struct tbt_otlp_strtab {
    struct tbt_otlp_strent *e;
    size_t cap, n;
    tbt_arena *a;
} tbt_otlp_strtab;

/* Strings up to this many bytes are interned; longer ones are copied. */
#define TBT_OTLP_INTERN_MAX 64

/* The arena copy (NUL-terminated) of s[0..n): shared when n is at most
 * TBT_OTLP_INTERN_MAX, fresh otherwise. "" for n == 0. */
const char *tbt_otlp_intern(tbt_otlp_strtab *tab, const char *s, size_t n);
void tbt_otlp_strtab_free(tbt_otlp_strtab *tab);

/* Record a rejected span: count it and keep the first reason. */
void tbt_otlp_reject(tbt_otlp_stats *stats, const char *fmt, ...) TBT_PRINTF(2, 3);

#endif
