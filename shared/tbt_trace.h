/*
 * tbt_trace.h - the trace model: a set of spans (possibly from several
 * trace ids, when linked traces are pulled in), their tree, and the
 * Tracetest meta attributes.
 *
 * Building: tbt_trace_new(), then tbt_trace_add_span() for each span
 * (fields filled by the caller, strings and arrays allocated from
 * tbt_trace_arena()), then tbt_trace_finalize(), which de-duplicates
 * (trace_id, span_id), links parents and children (children ordered by
 * start time), computes the depth-first order and each span's type.
 * After finalize the trace is read-only except for lazily cached text.
 *
 * Ownership: the trace owns every span and everything in its arena;
 * tbt_trace_free() releases all of it. Not thread-safe.
 */
#ifndef TBT_TRACE_H
#define TBT_TRACE_H

#include "tbt_value.h"

typedef enum tbt_span_kind {
    TBT_KIND_UNSPECIFIED = 0,
    TBT_KIND_INTERNAL = 1,
    TBT_KIND_SERVER = 2,
    TBT_KIND_CLIENT = 3,
    TBT_KIND_PRODUCER = 4,
    TBT_KIND_CONSUMER = 5,
} tbt_span_kind;

typedef enum tbt_status_code {
    TBT_STATUS_UNSET = 0,
    TBT_STATUS_OK = 1,
    TBT_STATUS_ERROR = 2,
} tbt_status_code;

typedef struct tbt_event {
    uint64_t time_ns;
    const char *name;
    tbt_kv *attrs;
    size_t n_attrs;
    uint32_t dropped_attrs;
} tbt_event;

typedef struct tbt_link {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    const char *trace_state;
    tbt_kv *attrs;
    size_t n_attrs;
    uint32_t dropped_attrs;
    uint32_t flags;
} tbt_link;

/* Attributes shared by all spans of one ResourceSpans / ScopeSpans. */
typedef struct tbt_resource {
    tbt_kv *attrs;
    size_t n_attrs;
    uint32_t dropped_attrs;
    const char *schema_url;
    bool interned; /* set by finalize once its keys are interned */
    uint64_t key_bloom; /* one bit per interned key: look-ups skip misses */
} tbt_resource;

typedef struct tbt_scope {
    const char *name;
    const char *version;
    tbt_kv *attrs;
    size_t n_attrs;
    uint32_t dropped_attrs;
    const char *schema_url;
    bool interned;
} tbt_scope;

typedef struct tbt_span tbt_span;

struct tbt_span {
    /* Hot fields first: selection and assertions read these for every span,
     * so they share the first cache line. */
    const char *name;
    const char *type;       /* computed: http, database, rpc, messaging,
                               faas, exception, general */
    tbt_kv *attrs;
    size_t n_attrs;
    const tbt_resource *resource; /* may be NULL */
    tbt_span_kind kind;
    tbt_status_code status_code;
    bool interned;           /* computed: attribute keys point into the key table */
    uint64_t key_bloom;      /* computed: a bit per attribute key (misses cost one load) */
    uint64_t start_ns, end_ns;
    const tbt_scope *scope;  /* may be NULL */

    /* ---- filled by the builder ---- */
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8]; /* all zero: no parent */
    const char *trace_state;
    const char *status_message;
    uint32_t flags;
    uint32_t dropped_attrs, dropped_events, dropped_links;
    tbt_event *events;
    size_t n_events;
    tbt_link *links;
    size_t n_links;

    /* ---- computed by tbt_trace_finalize ---- */
    size_t order;           /* position in depth-first order */
    size_t subtree_end;     /* order of the last span of this subtree + 1 */
    tbt_span *parent;       /* NULL for roots and orphans */
    tbt_span **children;    /* ordered by start time, then span id */
    size_t n_children;
    unsigned depth;
    const char *service;    /* resource service.name or "" */
    const char *events_json; /* cached JSON of span.events, lazily */
    char trace_id_hex[33];
    char span_id_hex[17];
    char parent_id_hex[17]; /* "" when no parent */
};

typedef struct tbt_trace tbt_trace;

tbt_trace *tbt_trace_new(void);
void tbt_trace_free(tbt_trace *t);
tbt_arena *tbt_trace_arena(tbt_trace *t);
/* A zeroed span owned by the trace. The pointer is valid until the next
 * tbt_trace_finalize(), which moves every span (use tbt_trace_span_at or
 * tbt_trace_find afterwards). */
tbt_span *tbt_trace_add_span(tbt_trace *t);
/* The same, initialised as a copy of *src (a decoder builds the span on
 * its stack, then stores it once). */
tbt_span *tbt_trace_add_span_copy(tbt_trace *t, const tbt_span *src);
tbt_resource *tbt_trace_new_resource(tbt_trace *t);
tbt_scope *tbt_trace_new_scope(tbt_trace *t);

/* Properties resolved once, looked up per span without string compares:
 * finalize interns every attribute key of the trace, so an attribute
 * look-up compares pointers. */
typedef enum tbt_prop_kind {
    TBT_PROP_ATTR,
    TBT_PROP_NAME,
    TBT_PROP_KIND,
    TBT_PROP_TYPE,
    TBT_PROP_DURATION,
    TBT_PROP_START,
    TBT_PROP_END,
    TBT_PROP_PARENT_ID,
    TBT_PROP_SPAN_ID,
    TBT_PROP_TRACE_ID,
    TBT_PROP_STATUS_CODE,
    TBT_PROP_STATUS_DESC,
    TBT_PROP_EVENTS,
    TBT_PROP_SCOPE_NAME,
    TBT_PROP_SCOPE_VERSION,
    TBT_PROP_NONE,
} tbt_prop_kind;

typedef struct tbt_prop {
    tbt_prop_kind kind;
    tbt_prop_kind fallback; /* for ATTR: what to read when no such attribute */
    const char *key;        /* the name as written (borrowed) */
    const char *alias;      /* the same attribute under the other semantic-
                               convention name (db.statement <-> db.query.text),
                               read when the written name is absent; or NULL */
} tbt_prop;

/* A property's keys interned for one trace (NULL: no span has it). */
typedef struct tbt_prop_keys {
    const char *key, *alias;
} tbt_prop_keys;

/* Resolve a property name. For selectors (selector=true) "name" and "kind"
 * are the span's own; for attr: they are attributes first, then the span's
 * fields. */
tbt_prop tbt_prop_resolve(const char *key, bool selector);
/* The trace's interned copy of an attribute key, NULL when no span has
 * such an attribute (then every look-up misses). */
const char *tbt_trace_key(const tbt_trace *t, const char *key);
tbt_prop_keys tbt_trace_prop_keys(const tbt_trace *t, const tbt_prop *p);
/* Look up p on s, with k = tbt_trace_prop_keys(t, p). */
bool tbt_span_get(tbt_trace *t, tbt_span *s, const tbt_prop *p, const tbt_prop_keys *k, tbt_value *out);
/* The other semantic-convention name of an attribute, or NULL. Older
 * OpenTelemetry instrumentations write db.statement, http.status_code,
 * messaging.destination...; newer ones db.query.text,
 * http.response.status_code, messaging.destination.name. Definitions written
 * for one keep working against the other (docs/languages.md lists them). */
const char *tbt_semconv_alias(const char *key);

/* Link, order and index the spans. Duplicate (trace_id, span_id) pairs keep
 * the first copy; the count of dropped duplicates is returned through
 * dups (may be NULL). Returns 0. May be called again after more spans were
 * added. */
int tbt_trace_finalize(tbt_trace *t, size_t *dups);

/* Spans in depth-first order (roots by start time, children by start time).
 * Orphans (parent id set but not present) are roots. */
size_t tbt_trace_span_count(const tbt_trace *t);
tbt_span *tbt_trace_span_at(const tbt_trace *t, size_t i);
tbt_span *tbt_trace_find(const tbt_trace *t, const uint8_t trace_id[16], const uint8_t span_id[8]);
/* Number of distinct trace ids among the spans, and the first span's one. */
size_t tbt_trace_id_count(const tbt_trace *t);

/* Look up a property on a span as `attr:` sees it (tbt_span_property: as
 * selectors see it):
 *  - the tracetest.span.* meta attributes (name, type, duration,
 *    start_time, end_time, parent_id, status_code, status_description,
 *    kind, id, trace_id),
 *  - "span.events" (JSON array),
 *  - span attributes, then resource attributes, then scope attributes
 *    ("otel.scope.name", "otel.scope.version" too).
 * Fills *out (strings may point into the trace's arena) and returns true
 * when found. */
bool tbt_span_attr(tbt_trace *t, tbt_span *s, const char *key, tbt_value *out);
/* For attr:, "name" and "kind" are attributes first, then the span's own
 * fields; for selectors they are always the span's own. */
bool tbt_span_property(tbt_trace *t, tbt_span *s, const char *key, tbt_value *out);

const char *tbt_span_kind_name(tbt_span_kind k);      /* "server", ... */
const char *tbt_status_code_name(tbt_status_code c);  /* STATUS_CODE_ERROR */
/* Span type by the reference's fixed rule. */
const char *tbt_span_type_of(const tbt_span *s);

/* Deep copies of spans between traces (the agent's store snapshots a
 * watched trace out of its received batches). The memo shares one copy of
 * each resource and scope; tbt_import_done frees it. */
typedef struct tbt_import {
    const void **from;
    void **to;
    size_t n, cap;
} tbt_import;
tbt_span *tbt_trace_import_span(tbt_trace *dst, const tbt_span *src, tbt_import *memo);
void tbt_import_done(tbt_import *memo);

/* Bytes held by the trace (arena + indexes), for memory figures. */
size_t tbt_trace_memory(const tbt_trace *t);

#endif
