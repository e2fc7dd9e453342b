/* tbt_trace.c - span storage, tree building, meta attributes. */
#include "tbt_trace.h"

#include <stdlib.h>
#include <string.h>

/* Span structs are allocated in chunks while the trace is built, then laid
 * out again, contiguous and in depth-first order, by finalize: every pass of
 * the evaluator then walks memory sequentially (a 100,000-span trace does
 * not fit in cache, and the passes are memory-bound). */
typedef struct span_chunk {
    struct span_chunk *next;
    size_t n, cap;
    tbt_span spans[];
} span_chunk;

#define SPAN_CHUNK 1024

struct tbt_trace {
    tbt_arena *arena;
    span_chunk *chunks; /* spans added since the last finalize */
    tbt_span *layout;   /* spans as of the last finalize, depth-first */
    tbt_span **spans; /* depth-first order after finalize */
    size_t n, cap;
    /* open-addressing index on (trace_id, span_id) */
    tbt_span **index;
    size_t index_cap;
    size_t n_trace_ids;
    bool finalized;
    /* interned attribute keys: open addressing on the string */
    const char **keys;
    size_t keys_cap, n_keys;
};

tbt_trace *tbt_trace_new(void)
{
    tbt_trace *t = tbt_xcalloc(1, sizeof(*t));
    t->arena = tbt_arena_new();
    return t;
}

void tbt_trace_free(tbt_trace *t)
{
    if (!t)
        return;
    tbt_arena_free(t->arena);
    for (span_chunk *ch = t->chunks, *nx; ch; ch = nx) {
        nx = ch->next;
        free(ch);
    }
    free(t->layout);
    free(t->spans);
    free(t->index);
    free(t->keys);
    free(t);
}

tbt_arena *tbt_trace_arena(tbt_trace *t)
{
    return t->arena;
}

static tbt_span *span_slot(tbt_trace *t)
{
    TBT_GROW(t->spans, t->cap, t->n + 1);
    span_chunk *ch = t->chunks;
    if (!ch || ch->n == ch->cap) {
        /* grow with the trace: a 100-span request must not pay for 1024 */
        size_t cap = ch ? ch->cap * 2 : 16;
        if (cap > SPAN_CHUNK)
            cap = SPAN_CHUNK;
        ch = tbt_xmalloc(sizeof(*ch) + cap * sizeof(tbt_span));
        ch->n = 0;
        ch->cap = cap;
        ch->next = t->chunks;
        t->chunks = ch;
    }
    tbt_span *s = &ch->spans[ch->n++];
    t->spans[t->n++] = s;
    t->finalized = false;
    return s;
}

tbt_span *tbt_trace_add_span(tbt_trace *t)
{
    tbt_span *s = span_slot(t);
    memset(s, 0, sizeof(*s));
    return s;
}

tbt_span *tbt_trace_add_span_copy(tbt_trace *t, const tbt_span *src)
{
    tbt_span *s = span_slot(t);
    *s = *src;
    return s;
}

tbt_resource *tbt_trace_new_resource(tbt_trace *t)
{
    return tbt_arena_alloc(t->arena, sizeof(tbt_resource));
}

tbt_scope *tbt_trace_new_scope(tbt_trace *t)
{
    return tbt_arena_alloc(t->arena, sizeof(tbt_scope));
}

static uint64_t span_hash(const uint8_t trace_id[16], const uint8_t span_id[8])
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 8; i++)
        h = (h ^ span_id[i]) * 1099511628211ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ trace_id[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static bool same_id(const tbt_span *s, const uint8_t trace_id[16], const uint8_t span_id[8])
{
    return memcmp(s->span_id, span_id, 8) == 0 && memcmp(s->trace_id, trace_id, 16) == 0;
}

tbt_span *tbt_trace_find(const tbt_trace *t, const uint8_t trace_id[16], const uint8_t span_id[8])
{
    if (!t->index_cap)
        return NULL;
    size_t mask = t->index_cap - 1;
    for (size_t i = span_hash(trace_id, span_id) & mask;; i = (i + 1) & mask) {
        tbt_span *s = t->index[i];
        if (!s)
            return NULL;
        if (same_id(s, trace_id, span_id))
            return s;
    }
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ^ (h >> 31);
}

static const char *intern(tbt_trace *t, const char *key)
{
    if (!key)
        return NULL;
    if ((t->n_keys + 1) * 2 > t->keys_cap) {
        size_t ncap = t->keys_cap ? t->keys_cap * 2 : 256;
        const char **nk = tbt_xcalloc(ncap, sizeof(*nk));
        for (size_t i = 0; i < t->keys_cap; i++) {
            if (!t->keys[i])
                continue;
            size_t j = str_hash(t->keys[i]) & (ncap - 1);
            while (nk[j])
                j = (j + 1) & (ncap - 1);
            nk[j] = t->keys[i];
        }
        free(t->keys);
        t->keys = nk;
        t->keys_cap = ncap;
    }
    size_t mask = t->keys_cap - 1;
    for (size_t j = str_hash(key) & mask;; j = (j + 1) & mask) {
        if (!t->keys[j]) {
            t->keys[j] = key;
            t->n_keys++;
            return key;
        }
        if (t->keys[j] == key || strcmp(t->keys[j], key) == 0)
            return t->keys[j];
    }
}

const char *tbt_trace_key(const tbt_trace *t, const char *key)
{
    if (!t->keys_cap || !key)
        return NULL;
    size_t mask = t->keys_cap - 1;
    for (size_t j = str_hash(key) & mask;; j = (j + 1) & mask) {
        if (!t->keys[j])
            return NULL;
        if (strcmp(t->keys[j], key) == 0)
            return t->keys[j];
    }
}

static inline uint64_t bloom_bit(const char *ikey)
{
    return 1ull << (((uint64_t)(uintptr_t)ikey * 0x9E3779B97F4A7C15ull) >> 58);
}

static uint64_t intern_kvs(tbt_trace *t, tbt_kv *kv, size_t n)
{
    uint64_t bloom = 0;
    for (size_t i = 0; i < n; i++) {
        kv[i].key = intern(t, kv[i].key);
        bloom |= bloom_bit(kv[i].key);
    }
    return bloom;
}

static void intern_span(tbt_trace *t, tbt_span *s)
{
    if (s->interned)
        return;
    s->key_bloom = intern_kvs(t, s->attrs, s->n_attrs);
    if (s->resource && !s->resource->interned) {
        tbt_resource *r = (tbt_resource *)s->resource;
        r->key_bloom = intern_kvs(t, r->attrs, r->n_attrs);
        r->interned = true;
    }
    if (s->scope && !s->scope->interned) {
        tbt_scope *sc = (tbt_scope *)s->scope;
        intern_kvs(t, sc->attrs, sc->n_attrs);
        sc->interned = true;
    }
    s->interned = true;
}

static int cmp_start(const void *a, const void *b)
{
    const tbt_span *x = *(tbt_span *const *)a, *y = *(tbt_span *const *)b;
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    int c = memcmp(x->trace_id, y->trace_id, 16);
    if (c)
        return c;
    return memcmp(x->span_id, y->span_id, 8);
}

static int cmp_trace_id(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

/* Depth-first walk from root, iterative (hostile traces can be 100k deep),
 * writing spans to out in visiting order. */
static size_t dfs_from(tbt_span *root, tbt_span **out, size_t pos, tbt_span ***stack, size_t *stack_cap)
{
    size_t sp = 0;
    TBT_GROW(*stack, *stack_cap, 1);
    (*stack)[sp++] = root;
    root->depth = 0;
    while (sp > 0) {
        tbt_span *s = (*stack)[--sp];
        s->order = pos;
        out[pos++] = s;
        TBT_GROW(*stack, *stack_cap, sp + s->n_children);
        /* Push children in reverse so the earliest is visited first. */
        for (size_t i = s->n_children; i-- > 0;) {
            s->children[i]->depth = s->depth + 1;
            (*stack)[sp++] = s->children[i];
        }
    }
    return pos;
}

/* Copy the spans into one block in depth-first order and re-point
 * everything at the copies; the chunks and the previous block go. */
static void relayout(tbt_trace *t)
{
    tbt_span *lay = tbt_big_alloc((t->n ? t->n : 1) * sizeof(tbt_span));
    for (size_t i = 0; i < t->n; i++)
        lay[i] = *t->spans[i];
    for (size_t i = 0; i < t->n; i++) {
        tbt_span *s = &lay[i];
        if (s->parent)
            s->parent = &lay[s->parent->order];
        for (size_t k = 0; k < s->n_children; k++)
            s->children[k] = &lay[s->children[k]->order];
        t->spans[i] = s;
    }
    for (size_t i = 0; i < t->index_cap; i++)
        if (t->index[i])
            t->index[i] = &lay[t->index[i]->order];
    for (span_chunk *ch = t->chunks, *nx; ch; ch = nx) {
        nx = ch->next;
        free(ch);
    }
    t->chunks = NULL;
    free(t->layout);
    t->layout = lay;
}

static void compute_subtree_end(tbt_span **order, size_t n)
{
    /* Walk backwards: a span's subtree ends where its last child's does. */
    for (size_t i = n; i-- > 0;) {
        tbt_span *s = order[i];
        s->subtree_end = s->n_children ? s->children[s->n_children - 1]->subtree_end : s->order + 1;
    }
}

int tbt_trace_finalize(tbt_trace *t, size_t *dups)
{
    size_t ndup = 0;
    /* 1. index, dropping duplicates (first copy wins) */
    size_t cap = 16;
    while (cap < t->n * 2)
        cap <<= 1;
    free(t->index);
    t->index = tbt_xcalloc(cap, sizeof(*t->index));
    t->index_cap = cap;
    size_t keep = 0;
    for (size_t k = 0; k < t->n; k++) {
        tbt_span *s = t->spans[k];
        size_t mask = cap - 1;
        size_t i = span_hash(s->trace_id, s->span_id) & mask;
        bool dup = false;
        while (t->index[i]) {
            if (same_id(t->index[i], s->trace_id, s->span_id)) {
                dup = true;
                break;
            }
            i = (i + 1) & mask;
        }
        if (dup) {
            ndup++;
            continue;
        }
        t->index[i] = s;
        t->spans[keep++] = s;
    }
    t->n = keep;

    /* 2. sort by start time, link parents, count children */
    if (t->n)
        qsort(t->spans, t->n, sizeof(*t->spans), cmp_start);
    for (size_t k = 0; k < t->n; k++) {
        tbt_span *s = t->spans[k];
        s->n_children = 0;
        s->children = NULL;
        s->parent = NULL;
        tbt_hex_encode(s->trace_id, 16, s->trace_id_hex);
        tbt_hex_encode(s->span_id, 8, s->span_id_hex);
        if (tbt_is_all_zero(s->parent_id, 8))
            s->parent_id_hex[0] = '\0';
        else
            tbt_hex_encode(s->parent_id, 8, s->parent_id_hex);
    }
    for (size_t k = 0; k < t->n; k++) {
        tbt_span *s = t->spans[k];
        if (tbt_is_all_zero(s->parent_id, 8) || memcmp(s->parent_id, s->span_id, 8) == 0)
            continue;
        tbt_span *p = tbt_trace_find(t, s->trace_id, s->parent_id);
        if (p) {
            s->parent = p;
            p->n_children++;
        }
    }
    for (size_t k = 0; k < t->n; k++) {
        tbt_span *s = t->spans[k];
        if (s->n_children) {
            s->children = tbt_arena_calloc(t->arena, s->n_children, sizeof(tbt_span *));
            s->n_children = 0;
        }
    }
    for (size_t k = 0; k < t->n; k++) {
        tbt_span *s = t->spans[k];
        if (s->parent)
            s->parent->children[s->parent->n_children++] = s;
        s->order = SIZE_MAX;
        intern_span(t, s);
        s->type = tbt_span_type_of(s);
        const tbt_value *svc = s->resource ? tbt_kv_find(s->resource->attrs, s->resource->n_attrs, "service.name") : NULL;
        s->service = svc && svc->type == TBT_V_STRING ? svc->u.s.ptr : "";
    }

    /* 3. depth-first order from the roots (in start order); spans caught in
     * parent cycles are unreachable: break each cycle at its earliest span. */
    tbt_span **out = tbt_xmalloc((t->n ? t->n : 1) * sizeof(*out));
    tbt_span **stack = NULL;
    size_t stack_cap = 0, pos = 0;
    for (size_t k = 0; k < t->n; k++)
        if (!t->spans[k]->parent)
            pos = dfs_from(t->spans[k], out, pos, &stack, &stack_cap);
    for (size_t k = 0; pos < t->n && k < t->n; k++) {
        tbt_span *s = t->spans[k];
        if (s->order != SIZE_MAX)
            continue;
        /* detach s from its parent: it becomes a root */
        tbt_span *p = s->parent;
        for (size_t i = 0; i < p->n_children; i++) {
            if (p->children[i] == s) {
                memmove(&p->children[i], &p->children[i + 1], (p->n_children - i - 1) * sizeof(tbt_span *));
                p->n_children--;
                break;
            }
        }
        s->parent = NULL;
        pos = dfs_from(s, out, pos, &stack, &stack_cap);
    }
    free(stack);
    if (t->n)
        memcpy(t->spans, out, t->n * sizeof(*out));
    free(out);
    relayout(t);
    compute_subtree_end(t->spans, t->n);

    /* 4. distinct trace ids */
    uint8_t(*ids)[16] = tbt_xmalloc((t->n ? t->n : 1) * 16);
    for (size_t k = 0; k < t->n; k++)
        memcpy(ids[k], t->spans[k]->trace_id, 16);
    qsort(ids, t->n, 16, cmp_trace_id);
    size_t distinct = 0;
    for (size_t k = 0; k < t->n; k++)
        if (k == 0 || memcmp(ids[k], ids[k - 1], 16) != 0)
            distinct++;
    free(ids);
    t->n_trace_ids = distinct;
    t->finalized = true;
    if (dups)
        *dups = ndup;
    return 0;
}

size_t tbt_trace_span_count(const tbt_trace *t)
{
    return t->n;
}

tbt_span *tbt_trace_span_at(const tbt_trace *t, size_t i)
{
    return i < t->n ? t->spans[i] : NULL;
}

size_t tbt_trace_id_count(const tbt_trace *t)
{
    return t->n_trace_ids;
}

size_t tbt_trace_memory(const tbt_trace *t)
{
    size_t chunks = 0;
    for (const span_chunk *ch = t->chunks; ch; ch = ch->next)
        chunks += sizeof(*ch) + ch->cap * sizeof(tbt_span);
    return tbt_arena_used(t->arena) + chunks + (t->layout ? t->n * sizeof(tbt_span) : 0) + t->cap * sizeof(*t->spans) +
           t->index_cap * sizeof(*t->index) + t->keys_cap * sizeof(*t->keys) + sizeof(*t);
}

const char *tbt_span_kind_name(tbt_span_kind k)
{
    switch (k) {
    case TBT_KIND_INTERNAL: return "internal";
    case TBT_KIND_SERVER: return "server";
    case TBT_KIND_CLIENT: return "client";
    case TBT_KIND_PRODUCER: return "producer";
    case TBT_KIND_CONSUMER: return "consumer";
    default: return "unspecified";
    }
}

const char *tbt_status_code_name(tbt_status_code c)
{
    switch (c) {
    case TBT_STATUS_OK: return "STATUS_CODE_OK";
    case TBT_STATUS_ERROR: return "STATUS_CODE_ERROR";
    default: return "STATUS_CODE_UNSET";
    }
}

static bool has_prefix_attr(const tbt_span *s, const char *prefix)
{
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < s->n_attrs; i++)
        if (s->attrs[i].key && strncmp(s->attrs[i].key, prefix, pl) == 0)
            return true;
    return false;
}

const char *tbt_span_type_of(const tbt_span *s)
{
    static const struct {
        const char *prefix, *type;
    } rules[] = {{"http.", "http"},           {"db.", "database"}, {"rpc.", "rpc"},
                 {"messaging.", "messaging"}, {"faas.", "faas"},   {"exception.", "exception"}};
    if (tbt_kv_find(s->attrs, s->n_attrs, "event_type") || (s->name && strcmp(s->name, "documentLoad") == 0))
        return "general";
    for (size_t i = 0; i < TBT_ARRAY_LEN(rules); i++)
        if (has_prefix_attr(s, rules[i].prefix))
            return rules[i].type;
    return "general";
}

static const char *events_json(tbt_trace *t, tbt_span *s)
{
    if (s->events_json)
        return s->events_json;
    tbt_buf b = TBT_BUF_INIT;
    tbt_buf_putc(&b, '[');
    for (size_t i = 0; i < s->n_events; i++) {
        const tbt_event *e = &s->events[i];
        if (i)
            tbt_buf_putc(&b, ',');
        tbt_buf_puts(&b, "{\"name\":");
        const char *nm = e->name ? e->name : "";
        tbt_buf_json_str(&b, nm, strlen(nm));
        tbt_buf_printf(&b, ",\"timestamp\":%llu,\"attributes\":", (unsigned long long)e->time_ns);
        tbt_value kv = {.type = TBT_V_KVLIST};
        kv.u.kv.items = e->attrs;
        kv.u.kv.n = e->n_attrs;
        tbt_value_to_json(&kv, &b);
        tbt_buf_putc(&b, '}');
    }
    tbt_buf_putc(&b, ']');
    s->events_json = tbt_arena_strndup(t->arena, tbt_buf_cstr(&b), b.len);
    tbt_buf_free(&b);
    return s->events_json;
}

bool tbt_span_attr(tbt_trace *t, tbt_span *s, const char *key, tbt_value *out)
{
    tbt_prop p = tbt_prop_resolve(key, false);
    tbt_prop_keys k = tbt_trace_prop_keys(t, &p);
    return tbt_span_get(t, s, &p, &k, out);
}

bool tbt_span_property(tbt_trace *t, tbt_span *s, const char *key, tbt_value *out)
{
    tbt_prop p = tbt_prop_resolve(key, true);
    tbt_prop_keys k = tbt_trace_prop_keys(t, &p);
    return tbt_span_get(t, s, &p, &k, out);
}

static const struct {
    const char *name;
    tbt_prop_kind kind;
} meta_props[] = {
    {"tracetest.span.name", TBT_PROP_NAME},
    {"tracetest.span.type", TBT_PROP_TYPE},
    {"tracetest.span.duration", TBT_PROP_DURATION},
    {"tracetest.span.start_time", TBT_PROP_START},
    {"tracetest.span.end_time", TBT_PROP_END},
    {"tracetest.span.parent_id", TBT_PROP_PARENT_ID},
    {"tracetest.span.id", TBT_PROP_SPAN_ID},
    {"tracetest.span.trace_id", TBT_PROP_TRACE_ID},
    {"tracetest.span.status_code", TBT_PROP_STATUS_CODE},
    {"tracetest.span.status_description", TBT_PROP_STATUS_DESC},
    {"tracetest.span.kind", TBT_PROP_KIND},
    {"span.events", TBT_PROP_EVENTS},
};

static const char *const semconv_pairs[][2] = {
    /* {older name, newer name} */
    {"db.system", "db.system.name"},
    {"db.statement", "db.query.text"},
    {"db.name", "db.namespace"},
    {"db.operation", "db.operation.name"},
    {"db.sql.table", "db.collection.name"},
    {"http.method", "http.request.method"},
    {"http.status_code", "http.response.status_code"},
    {"http.url", "url.full"},
    {"http.target", "url.path"},
    {"http.scheme", "url.scheme"},
    {"http.user_agent", "user_agent.original"},
    {"http.request_content_length", "http.request.body.size"},
    {"http.response_content_length", "http.response.body.size"},
    {"net.peer.name", "server.address"},
    {"net.peer.port", "server.port"},
    {"net.host.name", "server.address"},
    {"net.sock.peer.addr", "network.peer.address"},
    {"net.protocol.version", "network.protocol.version"},
    {"messaging.destination", "messaging.destination.name"},
    {"messaging.operation", "messaging.operation.type"},
    {"messaging.kafka.consumer.group", "messaging.consumer.group.name"},
    {"messaging.kafka.destination.partition", "messaging.destination.partition.id"},
    {"messaging.kafka.partition", "messaging.destination.partition.id"},
    {"messaging.rabbitmq.routing_key", "messaging.rabbitmq.destination.routing_key"},
    {"messaging.message_id", "messaging.message.id"},
    {"messaging.message_payload_size_bytes", "messaging.message.body.size"},
    {"rpc.grpc.status_code", "rpc.response.status_code"},
    {"exception.type", "error.type"},
};

const char *tbt_semconv_alias(const char *key)
{
    for (size_t i = 0; i < TBT_ARRAY_LEN(semconv_pairs); i++) {
        if (strcmp(key, semconv_pairs[i][0]) == 0)
            return semconv_pairs[i][1];
        if (strcmp(key, semconv_pairs[i][1]) == 0)
            return semconv_pairs[i][0];
    }
    return NULL;
}

tbt_prop tbt_prop_resolve(const char *key, bool selector)
{
    tbt_prop p = {TBT_PROP_ATTR, TBT_PROP_NONE, key, tbt_semconv_alias(key)};
    for (size_t i = 0; i < TBT_ARRAY_LEN(meta_props); i++) {
        if (strcmp(key, meta_props[i].name) == 0) {
            p.kind = meta_props[i].kind;
            return p;
        }
    }
    if (strcmp(key, "name") == 0 || strcmp(key, "kind") == 0) {
        tbt_prop_kind k = key[0] == 'n' ? TBT_PROP_NAME : TBT_PROP_KIND;
        if (selector)
            p.kind = k;
        else
            p.fallback = k;
    } else if (strcmp(key, "otel.scope.name") == 0) {
        p.fallback = TBT_PROP_SCOPE_NAME;
    } else if (strcmp(key, "otel.scope.version") == 0) {
        p.fallback = TBT_PROP_SCOPE_VERSION;
    }
    return p;
}

static const tbt_value *kv_find_ptr(const tbt_kv *kv, size_t n, const char *ikey)
{
    for (size_t i = 0; i < n; i++)
        if (kv[i].key == ikey)
            return &kv[i].value;
    return NULL;
}

static bool get_field(tbt_trace *t, tbt_span *s, tbt_prop_kind k, tbt_value *out)
{
    switch (k) {
    case TBT_PROP_NAME: *out = tbt_value_str(s->name ? s->name : ""); return true;
    case TBT_PROP_KIND: *out = tbt_value_str(tbt_span_kind_name(s->kind)); return true;
    case TBT_PROP_TYPE: *out = tbt_value_str(s->type ? s->type : tbt_span_type_of(s)); return true;
    case TBT_PROP_DURATION:
        *out = tbt_value_int(s->end_ns >= s->start_ns ? (int64_t)(s->end_ns - s->start_ns) : 0);
        return true;
    case TBT_PROP_START: *out = tbt_value_int((int64_t)s->start_ns); return true;
    case TBT_PROP_END: *out = tbt_value_int((int64_t)s->end_ns); return true;
    case TBT_PROP_PARENT_ID: *out = tbt_value_str(s->parent_id_hex); return true;
    case TBT_PROP_SPAN_ID: *out = tbt_value_str(s->span_id_hex); return true;
    case TBT_PROP_TRACE_ID: *out = tbt_value_str(s->trace_id_hex); return true;
    case TBT_PROP_STATUS_CODE: *out = tbt_value_str(tbt_status_code_name(s->status_code)); return true;
    case TBT_PROP_STATUS_DESC: *out = tbt_value_str(s->status_message ? s->status_message : ""); return true;
    case TBT_PROP_EVENTS: *out = tbt_value_str(events_json(t, s)); return true;
    case TBT_PROP_SCOPE_NAME:
        if (!s->scope || !s->scope->name)
            return false;
        *out = tbt_value_str(s->scope->name);
        return true;
    case TBT_PROP_SCOPE_VERSION:
        if (!s->scope || !s->scope->version)
            return false;
        *out = tbt_value_str(s->scope->version);
        return true;
    default: return false;
    }
}

tbt_prop_keys tbt_trace_prop_keys(const tbt_trace *t, const tbt_prop *p)
{
    tbt_prop_keys k = {NULL, NULL};
    if (p->kind == TBT_PROP_ATTR) {
        k.key = tbt_trace_key(t, p->key);
        k.alias = p->alias ? tbt_trace_key(t, p->alias) : NULL;
    }
    return k;
}

static const tbt_value *find_attr(const tbt_span *s, const char *ikey)
{
    const tbt_value *v = NULL;
    if (s->interned) {
        uint64_t bit = bloom_bit(ikey);
        if (s->key_bloom & bit)
            v = kv_find_ptr(s->attrs, s->n_attrs, ikey);
        if (!v && s->resource && (s->resource->key_bloom & bit))
            v = kv_find_ptr(s->resource->attrs, s->resource->n_attrs, ikey);
        if (!v && s->scope)
            v = kv_find_ptr(s->scope->attrs, s->scope->n_attrs, ikey);
    } else {
        v = tbt_kv_find(s->attrs, s->n_attrs, ikey);
        if (!v && s->resource)
            v = tbt_kv_find(s->resource->attrs, s->resource->n_attrs, ikey);
        if (!v && s->scope)
            v = tbt_kv_find(s->scope->attrs, s->scope->n_attrs, ikey);
    }
    return v;
}

bool tbt_span_get(tbt_trace *t, tbt_span *s, const tbt_prop *p, const tbt_prop_keys *k, tbt_value *out)
{
    if (p->kind != TBT_PROP_ATTR)
        return get_field(t, s, p->kind, out);
    const tbt_value *v = k->key ? find_attr(s, k->key) : NULL;
    if (!v && k->alias)
        v = find_attr(s, k->alias);
    if (v) {
        *out = *v;
        return true;
    }
    return p->fallback != TBT_PROP_NONE && get_field(t, s, p->fallback, out);
}

/* ---- deep copies ---------------------------------------------------------*/
static void copy_value(tbt_arena *a, tbt_value *dst, const tbt_value *src);

static tbt_kv *copy_kvs(tbt_arena *a, const tbt_kv *src, size_t n)
{
    if (!n)
        return NULL;
    tbt_kv *kv = tbt_arena_alloc(a, n * sizeof(*kv));
    for (size_t i = 0; i < n; i++) {
        kv[i].key = tbt_arena_strdup(a, src[i].key);
        copy_value(a, &kv[i].value, &src[i].value);
    }
    return kv;
}

static void copy_value(tbt_arena *a, tbt_value *dst, const tbt_value *src)
{
    *dst = *src;
    switch (src->type) {
    case TBT_V_STRING:
    case TBT_V_BYTES:
        dst->u.s.ptr = tbt_arena_strndup(a, src->u.s.ptr, src->u.s.len);
        break;
    case TBT_V_ARRAY:
        if (src->u.arr.n) {
            dst->u.arr.items = tbt_arena_alloc(a, src->u.arr.n * sizeof(tbt_value));
            for (size_t i = 0; i < src->u.arr.n; i++)
                copy_value(a, &dst->u.arr.items[i], &src->u.arr.items[i]);
        }
        break;
    case TBT_V_KVLIST:
        dst->u.kv.items = copy_kvs(a, src->u.kv.items, src->u.kv.n);
        break;
    default:
        break;
    }
}

/* pointer map, open addressing (resources and scopes: one per received
 * request, so thousands for a large trace) */
static size_t memo_slot(const void *p, size_t mask)
{
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & mask;
}

static void *memo_find(tbt_import *m, const void *from)
{
    if (!m->cap)
        return NULL;
    for (size_t i = memo_slot(from, m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->from[i])
            return NULL;
        if (m->from[i] == from)
            return m->to[i];
    }
}

static void memo_add(tbt_import *m, const void *from, void *to)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        const void **nf = tbt_xcalloc(ncap, sizeof(*nf));
        void **nt = tbt_xcalloc(ncap, sizeof(*nt));
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->from[i])
                continue;
            size_t j = memo_slot(m->from[i], ncap - 1);
            while (nf[j])
                j = (j + 1) & (ncap - 1);
            nf[j] = m->from[i];
            nt[j] = m->to[i];
        }
        free(m->from);
        free(m->to);
        m->from = nf;
        m->to = nt;
        m->cap = ncap;
    }
    size_t j = memo_slot(from, m->cap - 1);
    while (m->from[j])
        j = (j + 1) & (m->cap - 1);
    m->from[j] = from;
    m->to[j] = to;
    m->n++;
}

void tbt_import_done(tbt_import *memo)
{
    free(memo->from);
    free(memo->to);
    memset(memo, 0, sizeof(*memo));
}

tbt_span *tbt_trace_import_span(tbt_trace *dst, const tbt_span *src, tbt_import *memo)
{
    tbt_arena *a = dst->arena;
    tbt_span *s = tbt_trace_add_span(dst);
    memcpy(s->trace_id, src->trace_id, 16);
    memcpy(s->span_id, src->span_id, 8);
    memcpy(s->parent_id, src->parent_id, 8);
    s->trace_state = tbt_arena_strdup(a, src->trace_state);
    s->name = tbt_arena_strdup(a, src->name);
    s->kind = src->kind;
    s->start_ns = src->start_ns;
    s->end_ns = src->end_ns;
    s->status_code = src->status_code;
    s->status_message = tbt_arena_strdup(a, src->status_message);
    s->flags = src->flags;
    s->attrs = copy_kvs(a, src->attrs, src->n_attrs);
    s->n_attrs = src->n_attrs;
    s->dropped_attrs = src->dropped_attrs;
    s->dropped_events = src->dropped_events;
    s->dropped_links = src->dropped_links;
    if (src->n_events) {
        s->events = tbt_arena_alloc(a, src->n_events * sizeof(tbt_event));
        for (size_t i = 0; i < src->n_events; i++) {
            const tbt_event *e = &src->events[i];
            s->events[i].time_ns = e->time_ns;
            s->events[i].name = tbt_arena_strdup(a, e->name);
            s->events[i].attrs = copy_kvs(a, e->attrs, e->n_attrs);
            s->events[i].n_attrs = e->n_attrs;
            s->events[i].dropped_attrs = e->dropped_attrs;
        }
        s->n_events = src->n_events;
    }
    if (src->n_links) {
        s->links = tbt_arena_alloc(a, src->n_links * sizeof(tbt_link));
        for (size_t i = 0; i < src->n_links; i++) {
            const tbt_link *l = &src->links[i];
            memcpy(s->links[i].trace_id, l->trace_id, 16);
            memcpy(s->links[i].span_id, l->span_id, 8);
            s->links[i].trace_state = tbt_arena_strdup(a, l->trace_state);
            s->links[i].attrs = copy_kvs(a, l->attrs, l->n_attrs);
            s->links[i].n_attrs = l->n_attrs;
            s->links[i].dropped_attrs = l->dropped_attrs;
            s->links[i].flags = l->flags;
        }
        s->n_links = src->n_links;
    }
    if (src->resource) {
        tbt_resource *r = memo_find(memo, src->resource);
        if (!r) {
            r = tbt_trace_new_resource(dst);
            r->attrs = copy_kvs(a, src->resource->attrs, src->resource->n_attrs);
            r->n_attrs = src->resource->n_attrs;
            r->dropped_attrs = src->resource->dropped_attrs;
            r->schema_url = tbt_arena_strdup(a, src->resource->schema_url);
            memo_add(memo, src->resource, r);
        }
        s->resource = r;
    }
    if (src->scope) {
        tbt_scope *sc = memo_find(memo, src->scope);
        if (!sc) {
            sc = tbt_trace_new_scope(dst);
            sc->name = tbt_arena_strdup(a, src->scope->name);
            sc->version = tbt_arena_strdup(a, src->scope->version);
            sc->attrs = copy_kvs(a, src->scope->attrs, src->scope->n_attrs);
            sc->n_attrs = src->scope->n_attrs;
            sc->dropped_attrs = src->scope->dropped_attrs;
            sc->schema_url = tbt_arena_strdup(a, src->scope->schema_url);
            memo_add(memo, src->scope, sc);
        }
        s->scope = sc;
    }
    return s;
}
