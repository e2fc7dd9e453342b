/* tbt_otlp.c - OTLP protobuf decoder/encoder, format sniffing, file
 * loading. The OTLP/JSON codec is in tbt_otlp_json.c, the synthetic trace
 * generator in tbt_otlp_gen.c.
 *
 * The protobuf reader is hand-written rather than protoc-c's unpack: it
 * copies straight into the trace's arena (no intermediate message tree),
 * checks every length against the bytes left, rejects wrong wire types for
 * known fields the way protoc-c does, and only recurses for AnyValue, whose
 * depth is bounded. protoc-c's unpack has no depth bound, so a few MiB of
 * nested ArrayValues would exhaust the stack. */
#include "tbt_otlp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define OTLP_MAX_FILE ((size_t)256 << 20)

tbt_otlp_limits tbt_otlp_default_limits(void)
{
    tbt_otlp_limits l = {
        .max_spans = 1000000,
        .max_attrs_per_span = 1024,
        .max_value_len = (size_t)1 << 20,
        .max_value_depth = 32,
    };
    return l;
}

void tbt_otlp_stats_clear(tbt_otlp_stats *stats)
{
    if (!stats)
        return;
    free(stats->reject_reason);
    memset(stats, 0, sizeof(*stats));
}

void tbt_otlp_reject(tbt_otlp_stats *stats, const char *fmt, ...)
{
    if (!stats)
        return;
    stats->rejected_spans++;
    if (!stats->reject_reason) {
        va_list ap;
        va_start(ap, fmt);
        stats->reject_reason = tbt_xvasprintf(fmt, ap);
        va_end(ap);
    }
}

tbt_otlp_format tbt_otlp_sniff(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = buf[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        /* A UTF-8 byte order mark is whitespace to a JSON sender. */
        if (c == 0xEF && i + 2 < len && buf[i + 1] == 0xBB && buf[i + 2] == 0xBF) {
            i += 2;
            continue;
        }
        return c == '{' ? TBT_OTLP_JSON : TBT_OTLP_PROTOBUF;
    }
    return TBT_OTLP_PROTOBUF;
}

/* ======================================================================
 * string interning
 * ====================================================================== */

struct tbt_otlp_strent {
    uint64_t h;
    size_t len;
    const char *s;
};

static uint64_t str_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 32);
}

const char *tbt_otlp_intern(tbt_otlp_strtab *tab, const char *s, size_t n)
{
    if (n == 0)
        return "";
    if (n > TBT_OTLP_INTERN_MAX)
        return tbt_arena_strndup(tab->a, s, n);
    if (2 * (tab->n + 1) > tab->cap) {
        size_t cap = tab->cap ? 2 * tab->cap : 1024;
        struct tbt_otlp_strent *e = tbt_xcalloc(cap, sizeof(*e));
        for (size_t i = 0; i < tab->cap; i++) {
            if (!tab->e[i].s)
                continue;
            size_t k = tab->e[i].h & (cap - 1);
            while (e[k].s)
                k = (k + 1) & (cap - 1);
            e[k] = tab->e[i];
        }
        free(tab->e);
        tab->e = e;
        tab->cap = cap;
    }
    uint64_t h = str_hash(s, n);
    size_t mask = tab->cap - 1;
    for (size_t k = h & mask;; k = (k + 1) & mask) {
        struct tbt_otlp_strent *e = &tab->e[k];
        if (!e->s) {
            e->h = h;
            e->len = n;
            e->s = tbt_arena_strndup(tab->a, s, n);
            tab->n++;
            return e->s;
        }
        if (e->h == h && e->len == n && memcmp(e->s, s, n) == 0)
            return e->s;
    }
}

void tbt_otlp_strtab_free(tbt_otlp_strtab *tab)
{
    free(tab->e);
    memset(tab, 0, sizeof(*tab));
}

/* ======================================================================
 * protobuf reader
 * ====================================================================== */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

typedef struct pb_field {
    uint32_t num;
    int wt;
    uint64_t v;         /* VARINT, I64, I32 */
    const uint8_t *ptr; /* LEN */
    size_t len;
    const uint8_t *at; /* first byte of the tag */
} pb_field;

typedef struct pb_rd {
    const uint8_t *p, *end;
} pb_rd;

/* Where in the request the current span is, for messages. */
typedef struct pb_path {
    size_t rs, ss, sp;
} pb_path;

typedef struct pbdec {
    tbt_trace *t;
    tbt_arena *a;
    const uint8_t *base;
    const tbt_otlp_limits *lim;
    tbt_otlp_stats *stats;
    tbt_error *err;
    pb_path path;
    tbt_otlp_strtab strs;
    /* Scratch stacks. A nested list is complete (copied to the arena and
     * popped) before its parent pushes its next entry, so one stack per
     * element type serves every level. */
    tbt_kv *kv;
    size_t n_kv, cap_kv;
    tbt_value *val;
    size_t n_val, cap_val;
    tbt_event *ev;
    size_t n_ev, cap_ev;
    tbt_link *ln;
    size_t n_ln, cap_ln;
    /* First id problem of the span being decoded ("" when none). */
    char why[192];
} pbdec;

static int pb_fail(pbdec *d, const uint8_t *at, const char *fmt, ...) TBT_PRINTF(3, 4);
static int pb_fail(pbdec *d, const uint8_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    tbt_error_set(d->err, -EINVAL, "invalid OTLP protobuf: %s (at byte %zu)", m, (size_t)(at - d->base));
    free(m);
    return -EINVAL;
}

static int pb_limit(pbdec *d, const char *fmt, ...) TBT_PRINTF(2, 3);
static int pb_limit(pbdec *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    tbt_error_set(d->err, -E2BIG, "OTLP request over a limit: %s", m);
    free(m);
    return -E2BIG;
}

static int rd_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return -1;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return -2;
}

static uint64_t rd_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

static const char *wt_name(int wt)
{
    switch (wt) {
    case WT_VARINT: return "varint";
    case WT_I64: return "64-bit";
    case WT_LEN: return "length-delimited";
    case WT_I32: return "32-bit";
    default: return "group";
    }
}

/* Next field of the message in r. Returns 1 with *f filled, 0 at the end of
 * the message, or a negative code with d->err set. */
static int pb_next(pbdec *d, pb_rd *r, pb_field *f, const char *msg)
{
    if (r->p >= r->end)
        return 0;
    f->at = r->p;
    uint64_t key;
    int rc = rd_varint(&r->p, r->end, &key);
    if (rc)
        return pb_fail(d, f->at, "%s: %s field tag", msg, rc == -1 ? "truncated" : "over-long");
    if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff)
        return pb_fail(d, f->at, "%s: invalid field number %llu", msg, (unsigned long long)(key >> 3));
    f->num = (uint32_t)(key >> 3);
    f->wt = (int)(key & 7);
    size_t left;
    switch (f->wt) {
    case WT_VARINT:
        rc = rd_varint(&r->p, r->end, &f->v);
        if (rc)
            return pb_fail(d, f->at, "%s field %u: %s varint", msg, f->num, rc == -1 ? "truncated" : "over-long");
        break;
    case WT_I64:
    case WT_I32: {
        unsigned n = f->wt == WT_I64 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n)
            return pb_fail(d, f->at, "%s field %u: truncated %u-byte value", msg, f->num, n);
        f->v = rd_le(r->p, n);
        r->p += n;
        break;
    }
    case WT_LEN: {
        uint64_t len;
        rc = rd_varint(&r->p, r->end, &len);
        if (rc)
            return pb_fail(d, f->at, "%s field %u: %s length", msg, f->num, rc == -1 ? "truncated" : "over-long");
        left = (size_t)(r->end - r->p);
        if (len > left)
            return pb_fail(d, f->at, "%s field %u: length %llu exceeds the %zu bytes left", msg, f->num,
                           (unsigned long long)len, left);
        f->ptr = r->p;
        f->len = (size_t)len;
        r->p += len;
        break;
    }
    default:
        return pb_fail(d, f->at, "%s field %u: unsupported wire type %d", msg, f->num, f->wt);
    }
    return 1;
}

/* A known field must carry its declared wire type (protoc-c refuses the
 * message otherwise). */
static int pb_want(pbdec *d, const pb_field *f, int wt, const char *field)
{
    if (f->wt == wt)
        return 0;
    return pb_fail(d, f->at, "%s (field %u) has wire type %d (%s), expected %d (%s)", field, f->num, f->wt,
                   wt_name(f->wt), wt, wt_name(wt));
}

/* Copy a string/bytes field into the arena (NUL-terminated). */
static int pb_str(pbdec *d, const pb_field *f, const char *field, const char **out, size_t *outlen)
{
    int rc = pb_want(d, f, WT_LEN, field);
    if (rc)
        return rc;
    if (f->len > d->lim->max_value_len)
        return pb_limit(d, "%s is %zu bytes, more than max_value_len %zu", field, f->len, d->lim->max_value_len);
    *out = tbt_otlp_intern(&d->strs, (const char *)f->ptr, f->len);
    if (outlen)
        *outlen = f->len;
    return 0;
}

/* Optional string: NULL when empty. */
static int pb_opt_str(pbdec *d, const pb_field *f, const char *field, const char **out)
{
    int rc = pb_str(d, f, field, out, NULL);
    if (rc == 0 && !**out)
        *out = NULL;
    return rc;
}

static int pb_u32(pbdec *d, const pb_field *f, const char *field, uint32_t *out)
{
    int rc = pb_want(d, f, WT_VARINT, field);
    if (rc == 0)
        *out = (uint32_t)f->v;
    return rc;
}

static void *grow_push(void **items, size_t *n, size_t *cap, size_t size)
{
    tbt_grow(items, cap, *n + 1, size);
    return (char *)*items + (*n)++ * size;
}

/* Arena copy of stack[base..n) appended to an existing arena array (the
 * proto3 merge of a repeated field seen in several occurrences of its
 * message). Pops the stack back to base. */
static void *pb_collect(pbdec *d, void *stack, size_t *n, size_t base, size_t size, void *old, size_t n_old,
                        size_t *n_out)
{
    size_t add = *n - base;
    if (add == 0) {
        *n_out = n_old;
        return old;
    }
    char *arr = tbt_arena_alloc_raw(d->a, (n_old + add) * size);
    if (n_old)
        memcpy(arr, old, n_old * size);
    memcpy(arr + n_old * size, (char *)stack + base * size, add * size);
    *n = base;
    *n_out = n_old + add;
    return arr;
}

static int dec_anyvalue(pbdec *d, const uint8_t *p, size_t n, tbt_value *v, unsigned depth);

static int dec_keyvalue(pbdec *d, const uint8_t *p, size_t n, tbt_kv *kv, unsigned depth)
{
    pb_rd r = {p, p + n};
    pb_field f = {0};
    int rc;
    kv->key = "";
    while ((rc = pb_next(d, &r, &f, "KeyValue")) > 0) {
        switch (f.num) {
        case 1: rc = pb_str(d, &f, "KeyValue.key", &kv->key, NULL); break;
        case 2:
            rc = pb_want(d, &f, WT_LEN, "KeyValue.value");
            if (rc == 0)
                rc = dec_anyvalue(d, f.ptr, f.len, &kv->value, depth);
            break;
        default: rc = 0; break;
        }
        if (rc)
            return rc;
    }
    return rc;
}

/* Append one attribute list entry (KeyValue bytes in f) to the kv stack,
 * n_before entries already counted against the limit. */
static int push_attr(pbdec *d, const pb_field *f, const char *field, size_t count, unsigned depth)
{
    int rc = pb_want(d, f, WT_LEN, field);
    if (rc)
        return rc;
    if (count >= d->lim->max_attrs_per_span)
        return pb_limit(d, "%s: more than max_attrs_per_span %zu entries", field, d->lim->max_attrs_per_span);
    tbt_kv kv;
    memset(&kv, 0, sizeof(kv));
    rc = dec_keyvalue(d, f->ptr, f->len, &kv, depth);
    if (rc)
        return rc;
    *(tbt_kv *)grow_push((void **)&d->kv, &d->n_kv, &d->cap_kv, sizeof(tbt_kv)) = kv;
    return 0;
}

static int dec_array(pbdec *d, const uint8_t *p, size_t n, tbt_value *v, unsigned depth)
{
    pb_rd r = {p, p + n};
    pb_field f = {0};
    int rc;
    size_t base = d->n_val;
    while ((rc = pb_next(d, &r, &f, "ArrayValue")) > 0) {
        if (f.num != 1)
            continue;
        if ((rc = pb_want(d, &f, WT_LEN, "ArrayValue.values")))
            break;
        if (v->u.arr.n + (d->n_val - base) >= d->lim->max_attrs_per_span) {
            rc = pb_limit(d, "array value with more than max_attrs_per_span %zu items", d->lim->max_attrs_per_span);
            break;
        }
        tbt_value item;
        memset(&item, 0, sizeof(item));
        if ((rc = dec_anyvalue(d, f.ptr, f.len, &item, depth + 1)))
            break;
        *(tbt_value *)grow_push((void **)&d->val, &d->n_val, &d->cap_val, sizeof(tbt_value)) = item;
    }
    if (rc) {
        d->n_val = base;
        return rc;
    }
    v->u.arr.items = pb_collect(d, d->val, &d->n_val, base, sizeof(tbt_value), v->u.arr.items, v->u.arr.n, &v->u.arr.n);
    return 0;
}

static int dec_kvlist(pbdec *d, const uint8_t *p, size_t n, tbt_value *v, unsigned depth)
{
    pb_rd r = {p, p + n};
    pb_field f = {0};
    int rc;
    size_t base = d->n_kv;
    while ((rc = pb_next(d, &r, &f, "KeyValueList")) > 0) {
        if (f.num != 1)
            continue;
        if ((rc = push_attr(d, &f, "KeyValueList.values", v->u.kv.n + (d->n_kv - base), depth + 1)))
            break;
    }
    if (rc) {
        d->n_kv = base;
        return rc;
    }
    v->u.kv.items = pb_collect(d, d->kv, &d->n_kv, base, sizeof(tbt_kv), v->u.kv.items, v->u.kv.n, &v->u.kv.n);
    return 0;
}

static int dec_anyvalue(pbdec *d, const uint8_t *p, size_t n, tbt_value *v, unsigned depth)
{
    if (depth > d->lim->max_value_depth)
        return pb_limit(d, "attribute value nested deeper than max_value_depth %u", d->lim->max_value_depth);
    pb_rd r = {p, p + n};
    pb_field f = {0};
    int rc;
    while ((rc = pb_next(d, &r, &f, "AnyValue")) > 0) {
        switch (f.num) {
        case 1:
            rc = pb_str(d, &f, "AnyValue.string_value", &v->u.s.ptr, &v->u.s.len);
            v->type = TBT_V_STRING;
            break;
        case 7:
            /* Bytes are mostly digests and ids, unique: not interned. */
            if ((rc = pb_want(d, &f, WT_LEN, "AnyValue.bytes_value")))
                break;
            if (f.len > d->lim->max_value_len) {
                rc = pb_limit(d, "AnyValue.bytes_value is %zu bytes, more than max_value_len %zu", f.len,
                              d->lim->max_value_len);
                break;
            }
            v->type = TBT_V_BYTES;
            v->u.s.ptr = tbt_arena_strndup(d->a, (const char *)f.ptr, f.len);
            v->u.s.len = f.len;
            break;
        case 2:
            if ((rc = pb_want(d, &f, WT_VARINT, "AnyValue.bool_value")) == 0) {
                v->type = TBT_V_BOOL;
                v->u.b = f.v != 0;
            }
            break;
        case 3:
            if ((rc = pb_want(d, &f, WT_VARINT, "AnyValue.int_value")) == 0) {
                v->type = TBT_V_INT;
                v->u.i = (int64_t)f.v;
            }
            break;
        case 4:
            if ((rc = pb_want(d, &f, WT_I64, "AnyValue.double_value")) == 0) {
                v->type = TBT_V_DOUBLE;
                memcpy(&v->u.d, &f.v, sizeof(double));
            }
            break;
        case 5:
            if ((rc = pb_want(d, &f, WT_LEN, "AnyValue.array_value")))
                break;
            /* A repeated occurrence of the same message member merges. */
            if (v->type != TBT_V_ARRAY) {
                memset(&v->u, 0, sizeof(v->u));
                v->type = TBT_V_ARRAY;
            }
            rc = dec_array(d, f.ptr, f.len, v, depth);
            break;
        case 6:
            if ((rc = pb_want(d, &f, WT_LEN, "AnyValue.kvlist_value")))
                break;
            if (v->type != TBT_V_KVLIST) {
                memset(&v->u, 0, sizeof(v->u));
                v->type = TBT_V_KVLIST;
            }
            rc = dec_kvlist(d, f.ptr, f.len, v, depth);
            break;
        default: rc = 0; break;
        }
        if (rc)
            return rc;
    }
    return rc;
}

/* Attribute-list owner: the arrays a message's attributes merge into. */
static int finish_attrs(pbdec *d, size_t base, tbt_kv **attrs, size_t *n_attrs)
{
    *attrs = pb_collect(d, d->kv, &d->n_kv, base, sizeof(tbt_kv), *attrs, *n_attrs, n_attrs);
    return 0;
}

static void span_why(pbdec *d, const char *fmt, ...) TBT_PRINTF(2, 3);
static void span_why(pbdec *d, const char *fmt, ...)
{
    if (d->why[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->why, sizeof(d->why), fmt, ap);
    va_end(ap);
}

/* Check an id field: exact length and not all zero. */
static void check_id(pbdec *d, const char *what, const uint8_t *p, size_t n, size_t want)
{
    if (n != want)
        span_why(d, "%s must be %zu bytes, got %zu", what, want, n);
    else if (tbt_is_all_zero(p, n))
        span_why(d, "%s is all zeroes", what);
}

static int dec_event(pbdec *d, const uint8_t *p, size_t n, tbt_event *e)
{
    pb_rd r = {p, p + n};
    pb_field f = {0};
    int rc;
    size_t base = d->n_kv;
    e->name = "";
    while ((rc = pb_next(d, &r, &f, "Span.Event")) > 0) {
        switch (f.num) {
        case 1:
            if ((rc = pb_want(d, &f, WT_I64, "Span.Event.time_unix_nano")) == 0)
                e->time_ns = f.v;
            break;
        case 2: rc = pb_str(d, &f, "Span.Event.name", &e->name, NULL); break;
        case 3: rc = push_attr(d, &f, "Span.Event.attributes", d->n_kv - base, 1); break;
        case 4: rc = pb_u32(d, &f, "Span.Event.dropped_attributes_count", &e->dropped_attrs); break;
        default: rc = 0; break;
        }
        if (rc) {
            d->n_kv = base;
            return rc;
        }
    }
    if (rc) {
        d->n_kv = base;
        return rc;
    }
    return finish_attrs(d, base, &e->attrs, &e->n_attrs);
}

static int dec_link(pbdec *d, const uint8_t *p, size_t n, tbt_link *l, size_t idx)
{
    pb_rd r = {p, p + n};
    pb_field f = {0};
    int rc;
    size_t base = d->n_kv;
    const uint8_t *tid = NULL, *sid = NULL;
    size_t tid_len = 0, sid_len = 0;
    while ((rc = pb_next(d, &r, &f, "Span.Link")) > 0) {
        switch (f.num) {
        case 1:
            if ((rc = pb_want(d, &f, WT_LEN, "Span.Link.trace_id")) == 0) {
                tid = f.ptr;
                tid_len = f.len;
            }
            break;
        case 2:
            if ((rc = pb_want(d, &f, WT_LEN, "Span.Link.span_id")) == 0) {
                sid = f.ptr;
                sid_len = f.len;
            }
            break;
        case 3: rc = pb_opt_str(d, &f, "Span.Link.trace_state", &l->trace_state); break;
        case 4: rc = push_attr(d, &f, "Span.Link.attributes", d->n_kv - base, 1); break;
        case 5: rc = pb_u32(d, &f, "Span.Link.dropped_attributes_count", &l->dropped_attrs); break;
        case 6:
            if ((rc = pb_want(d, &f, WT_I32, "Span.Link.flags")) == 0)
                l->flags = (uint32_t)f.v;
            break;
        default: rc = 0; break;
        }
        if (rc)
            break;
    }
    if (rc) {
        d->n_kv = base;
        return rc;
    }
    char what[48];
    snprintf(what, sizeof(what), "links[%zu].trace_id", idx);
    check_id(d, what, tid, tid_len, 16);
    snprintf(what, sizeof(what), "links[%zu].span_id", idx);
    check_id(d, what, sid, sid_len, 8);
    if (tid_len == 16)
        memcpy(l->trace_id, tid, 16);
    if (sid_len == 8)
        memcpy(l->span_id, sid, 8);
    return finish_attrs(d, base, &l->attrs, &l->n_attrs);
}

static int dec_status(pbdec *d, const uint8_t *p, size_t n, tbt_span *s)
{
    pb_rd r = {p, p + n};
    pb_field f = {0};
    int rc;
    while ((rc = pb_next(d, &r, &f, "Status")) > 0) {
        switch (f.num) {
        case 2: rc = pb_opt_str(d, &f, "Status.message", &s->status_message); break;
        case 3:
            if ((rc = pb_want(d, &f, WT_VARINT, "Status.code")) == 0)
                s->status_code = (tbt_status_code)(int32_t)f.v;
            break;
        default: rc = 0; break;
        }
        if (rc)
            return rc;
    }
    return rc;
}

static int dec_span(pbdec *d, const uint8_t *p, size_t n, const tbt_resource *res, const tbt_scope *sc)
{
    tbt_span s;
    memset(&s, 0, sizeof(s));
    s.name = "";
    s.resource = res;
    s.scope = sc;
    size_t kv_base = d->n_kv, ev_base = d->n_ev, ln_base = d->n_ln;
    const uint8_t *tid = NULL, *sid = NULL, *pid = NULL;
    size_t tid_len = 0, sid_len = 0, pid_len = 0;
    pb_rd r = {p, p + n};
    pb_field f = {0};
    int rc;
    d->why[0] = '\0';
    while ((rc = pb_next(d, &r, &f, "Span")) > 0) {
        switch (f.num) {
        case 1:
        case 2:
        case 4: {
            static const char *const names[] = {"", "Span.trace_id", "Span.span_id", "", "Span.parent_span_id"};
            if ((rc = pb_want(d, &f, WT_LEN, names[f.num])))
                break;
            if (f.num == 1) {
                tid = f.ptr;
                tid_len = f.len;
            } else if (f.num == 2) {
                sid = f.ptr;
                sid_len = f.len;
            } else {
                pid = f.ptr;
                pid_len = f.len;
            }
            break;
        }
        case 3: rc = pb_opt_str(d, &f, "Span.trace_state", &s.trace_state); break;
        case 5: rc = pb_str(d, &f, "Span.name", &s.name, NULL); break;
        case 6:
            if ((rc = pb_want(d, &f, WT_VARINT, "Span.kind")) == 0)
                s.kind = (tbt_span_kind)(int32_t)f.v;
            break;
        case 7:
            if ((rc = pb_want(d, &f, WT_I64, "Span.start_time_unix_nano")) == 0)
                s.start_ns = f.v;
            break;
        case 8:
            if ((rc = pb_want(d, &f, WT_I64, "Span.end_time_unix_nano")) == 0)
                s.end_ns = f.v;
            break;
        case 9: rc = push_attr(d, &f, "Span.attributes", d->n_kv - kv_base, 1); break;
        case 10: rc = pb_u32(d, &f, "Span.dropped_attributes_count", &s.dropped_attrs); break;
        case 11: {
            if ((rc = pb_want(d, &f, WT_LEN, "Span.events")))
                break;
            tbt_event e;
            memset(&e, 0, sizeof(e));
            if ((rc = dec_event(d, f.ptr, f.len, &e)) == 0)
                *(tbt_event *)grow_push((void **)&d->ev, &d->n_ev, &d->cap_ev, sizeof(e)) = e;
            break;
        }
        case 12: rc = pb_u32(d, &f, "Span.dropped_events_count", &s.dropped_events); break;
        case 13: {
            if ((rc = pb_want(d, &f, WT_LEN, "Span.links")))
                break;
            tbt_link l;
            memset(&l, 0, sizeof(l));
            if ((rc = dec_link(d, f.ptr, f.len, &l, d->n_ln - ln_base)) == 0)
                *(tbt_link *)grow_push((void **)&d->ln, &d->n_ln, &d->cap_ln, sizeof(l)) = l;
            break;
        }
        case 14: rc = pb_u32(d, &f, "Span.dropped_links_count", &s.dropped_links); break;
        case 15:
            if ((rc = pb_want(d, &f, WT_LEN, "Span.status")) == 0)
                rc = dec_status(d, f.ptr, f.len, &s);
            break;
        case 16:
            if ((rc = pb_want(d, &f, WT_I32, "Span.flags")) == 0)
                s.flags = (uint32_t)f.v;
            break;
        default: rc = 0; break;
        }
        if (rc)
            break;
    }
    if (rc)
        goto out;

    check_id(d, "trace_id", tid, tid_len, 16);
    check_id(d, "span_id", sid, sid_len, 8);
    if (pid_len != 0 && pid_len != 8)
        span_why(d, "parent_span_id must be empty or 8 bytes, got %zu", pid_len);
    if (d->why[0]) {
        tbt_otlp_reject(d->stats, "resource_spans[%zu].scope_spans[%zu].spans[%zu]: %s", d->path.rs, d->path.ss,
                        d->path.sp, d->why);
        goto out;
    }
    if (tbt_trace_span_count(d->t) >= d->lim->max_spans) {
        rc = pb_limit(d, "more than max_spans %zu spans", d->lim->max_spans);
        goto out;
    }
    memcpy(s.trace_id, tid, 16);
    memcpy(s.span_id, sid, 8);
    if (pid_len == 8)
        memcpy(s.parent_id, pid, 8);
    finish_attrs(d, kv_base, &s.attrs, &s.n_attrs);
    s.events = pb_collect(d, d->ev, &d->n_ev, ev_base, sizeof(tbt_event), NULL, 0, &s.n_events);
    s.links = pb_collect(d, d->ln, &d->n_ln, ln_base, sizeof(tbt_link), NULL, 0, &s.n_links);
    tbt_trace_add_span_copy(d->t, &s);
    if (d->stats)
        d->stats->spans++;
out:
    d->n_kv = kv_base;
    d->n_ev = ev_base;
    d->n_ln = ln_base;
    return rc;
}

static int dec_resource(pbdec *d, const uint8_t *p, size_t n, tbt_resource *res)
{
    pb_rd r = {p, p + n};
    pb_field f = {0};
    int rc;
    size_t base = d->n_kv;
    while ((rc = pb_next(d, &r, &f, "Resource")) > 0) {
        switch (f.num) {
        case 1: rc = push_attr(d, &f, "Resource.attributes", res->n_attrs + d->n_kv - base, 1); break;
        case 2: rc = pb_u32(d, &f, "Resource.dropped_attributes_count", &res->dropped_attrs); break;
        default: rc = 0; break;
        }
        if (rc)
            break;
    }
    if (rc) {
        d->n_kv = base;
        return rc;
    }
    return finish_attrs(d, base, &res->attrs, &res->n_attrs);
}

static int dec_scope(pbdec *d, const uint8_t *p, size_t n, tbt_scope *sc)
{
    pb_rd r = {p, p + n};
    pb_field f = {0};
    int rc;
    size_t base = d->n_kv;
    while ((rc = pb_next(d, &r, &f, "InstrumentationScope")) > 0) {
        switch (f.num) {
        case 1: rc = pb_opt_str(d, &f, "InstrumentationScope.name", &sc->name); break;
        case 2: rc = pb_opt_str(d, &f, "InstrumentationScope.version", &sc->version); break;
        case 3: rc = push_attr(d, &f, "InstrumentationScope.attributes", sc->n_attrs + d->n_kv - base, 1); break;
        case 4: rc = pb_u32(d, &f, "InstrumentationScope.dropped_attributes_count", &sc->dropped_attrs); break;
        default: rc = 0; break;
        }
        if (rc)
            break;
    }
    if (rc) {
        d->n_kv = base;
        return rc;
    }
    return finish_attrs(d, base, &sc->attrs, &sc->n_attrs);
}

static int dec_scope_spans(pbdec *d, const uint8_t *p, size_t n, const tbt_resource *res)
{
    tbt_scope *sc = tbt_trace_new_scope(d->t);
    pb_rd r = {p, p + n};
    pb_field f = {0};
    int rc;
    d->path.sp = 0;
    while ((rc = pb_next(d, &r, &f, "ScopeSpans")) > 0) {
        switch (f.num) {
        case 1:
            if ((rc = pb_want(d, &f, WT_LEN, "ScopeSpans.scope")) == 0)
                rc = dec_scope(d, f.ptr, f.len, sc);
            break;
        case 2:
            if ((rc = pb_want(d, &f, WT_LEN, "ScopeSpans.spans")) == 0)
                rc = dec_span(d, f.ptr, f.len, res, sc);
            d->path.sp++;
            break;
        case 3: rc = pb_opt_str(d, &f, "ScopeSpans.schema_url", &sc->schema_url); break;
        default: rc = 0; break;
        }
        if (rc)
            return rc;
    }
    return rc;
}

static int dec_resource_spans(pbdec *d, const uint8_t *p, size_t n)
{
    tbt_resource *res = tbt_trace_new_resource(d->t);
    pb_rd r = {p, p + n};
    pb_field f = {0};
    int rc;
    d->path.ss = 0;
    while ((rc = pb_next(d, &r, &f, "ResourceSpans")) > 0) {
        switch (f.num) {
        case 1:
            if ((rc = pb_want(d, &f, WT_LEN, "ResourceSpans.resource")) == 0)
                rc = dec_resource(d, f.ptr, f.len, res);
            break;
        case 2:
            if ((rc = pb_want(d, &f, WT_LEN, "ResourceSpans.scope_spans")) == 0)
                rc = dec_scope_spans(d, f.ptr, f.len, res);
            d->path.ss++;
            break;
        case 3: rc = pb_opt_str(d, &f, "ResourceSpans.schema_url", &res->schema_url); break;
        default: rc = 0; break;
        }
        if (rc)
            return rc;
    }
    return rc;
}

static int pb_decode(tbt_trace *t, const uint8_t *buf, size_t len, const tbt_otlp_limits *lim, tbt_otlp_stats *stats,
                     tbt_error *err)
{
    pbdec d;
    memset(&d, 0, sizeof(d));
    d.t = t;
    d.a = tbt_trace_arena(t);
    d.base = buf;
    d.lim = lim;
    d.stats = stats;
    d.err = err;
    d.strs.a = d.a;
    pb_rd r = {buf, buf + len};
    pb_field f = {0};
    int rc;
    while ((rc = pb_next(&d, &r, &f, "ExportTraceServiceRequest")) > 0) {
        if (f.num != 1)
            continue;
        if ((rc = pb_want(&d, &f, WT_LEN, "ExportTraceServiceRequest.resource_spans")))
            break;
        if ((rc = dec_resource_spans(&d, f.ptr, f.len)))
            break;
        d.path.rs++;
    }
    tbt_otlp_strtab_free(&d.strs);
    free(d.kv);
    free(d.val);
    free(d.ev);
    free(d.ln);
    return rc;
}

int tbt_otlp_decode(tbt_trace *t, tbt_otlp_format fmt, const uint8_t *buf, size_t len, const tbt_otlp_limits *lim,
                    tbt_otlp_stats *stats, tbt_error *err)
{
    tbt_otlp_limits def = tbt_otlp_default_limits();
    if (!lim)
        lim = &def;
    if (!buf)
        len = 0;
    static const uint8_t empty[1];
    if (!buf)
        buf = empty;
    switch (fmt) {
    case TBT_OTLP_PROTOBUF: return pb_decode(t, buf, len, lim, stats, err);
    case TBT_OTLP_JSON: return tbt_otlp_json_decode(t, buf, len, lim, stats, err);
    }
    return tbt_error_set(err, -EINVAL, "unknown OTLP format %d", (int)fmt);
}

int tbt_otlp_load_file(const char *path, tbt_trace **out, tbt_error *err)
{
    char *data = NULL;
    size_t len = 0;
    int rc = tbt_read_file(path, OTLP_MAX_FILE, &data, &len, err);
    if (rc)
        return rc;
    tbt_trace *t = tbt_trace_new();
    tbt_otlp_stats st = {0};
    const uint8_t *buf = (const uint8_t *)(data ? data : "");
    rc = tbt_otlp_decode(t, tbt_otlp_sniff(buf, len), buf, len, NULL, &st, err);
    if (rc == 0 && st.rejected_spans)
        rc = tbt_error_set(err, -EINVAL, "%zu span%s rejected: %s", st.rejected_spans, st.rejected_spans == 1 ? "" : "s",
                           st.reject_reason ? st.reject_reason : "invalid ids");
    tbt_otlp_stats_clear(&st);
    free(data);
    if (rc) {
        if (err) {
            free(err->file);
            err->file = tbt_xstrdup(path);
        }
        tbt_trace_free(t);
        return rc;
    }
    tbt_trace_finalize(t, NULL);
    *out = t;
    return 0;
}

/* ======================================================================
 * grouping (shared with the JSON encoder)
 * ====================================================================== */

typedef struct group_slot {
    const void *res, *scope;
    size_t id; /* group id + 1; 0 = empty slot */
} group_slot;

static size_t ptr_hash(const void *a, const void *b)
{
    uint64_t h = (uint64_t)(uintptr_t)a * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)(uintptr_t)b * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 31));
}

/* Index of key (a, b) in the table, inserting it with id next_id + 1 when
 * absent (*inserted set). cap is a power of two, larger than the entries. */
static size_t slot_find(group_slot *tab, size_t cap, const void *a, const void *b, size_t next_id, bool *inserted)
{
    size_t mask = cap - 1;
    for (size_t i = ptr_hash(a, b) & mask;; i = (i + 1) & mask) {
        if (!tab[i].id) {
            tab[i].res = a;
            tab[i].scope = b;
            tab[i].id = next_id + 1;
            *inserted = true;
            return tab[i].id - 1;
        }
        if (tab[i].res == a && tab[i].scope == b) {
            *inserted = false;
            return tab[i].id - 1;
        }
    }
}

size_t tbt_otlp_group_spans(const tbt_trace *t, tbt_otlp_group **groups, const tbt_span ***order)
{
    size_t n = tbt_trace_span_count(t);
    size_t cap = 16;
    while (cap < 2 * n + 2)
        cap <<= 1;
    group_slot *res_tab = tbt_xcalloc(cap, sizeof(*res_tab));
    group_slot *grp_tab = tbt_xcalloc(cap, sizeof(*grp_tab));
    size_t *span_grp = tbt_xmalloc((n ? n : 1) * sizeof(*span_grp));
    tbt_otlp_group *g = NULL;
    size_t *g_res = NULL, n_g = 0, cap_g = 0, cap_gr = 0, n_res = 0;
    for (size_t i = 0; i < n; i++) {
        const tbt_span *s = tbt_trace_span_at(t, i);
        bool ins;
        size_t r = slot_find(res_tab, cap, s->resource, NULL, n_res, &ins);
        if (ins)
            n_res++;
        size_t gi = slot_find(grp_tab, cap, s->resource, s->scope, n_g, &ins);
        if (ins) {
            TBT_GROW(g, cap_g, n_g + 1);
            TBT_GROW(g_res, cap_gr, n_g + 1);
            g[n_g].resource = s->resource;
            g[n_g].scope = s->scope;
            g[n_g].n = 0;
            g_res[n_g] = r;
            n_g++;
        }
        g[gi].n++;
        span_grp[i] = gi;
    }
    /* Order groups by resource (first appearance), then first appearance:
     * a counting sort over resource ordinals keeps group order stable. */
    size_t *res_count = tbt_xcalloc(n_res + 1, sizeof(size_t));
    for (size_t k = 0; k < n_g; k++)
        res_count[g_res[k] + 1]++;
    for (size_t k = 0; k < n_res; k++)
        res_count[k + 1] += res_count[k];
    tbt_otlp_group *sorted = tbt_xmalloc((n_g ? n_g : 1) * sizeof(*sorted));
    size_t *new_pos = tbt_xmalloc((n_g ? n_g : 1) * sizeof(size_t));
    for (size_t k = 0; k < n_g; k++) {
        size_t pos = res_count[g_res[k]]++;
        sorted[pos] = g[k];
        new_pos[k] = pos;
    }
    size_t first = 0;
    for (size_t k = 0; k < n_g; k++) {
        sorted[k].first = first;
        first += sorted[k].n;
        sorted[k].n = 0;
    }
    const tbt_span **ord = tbt_xmalloc((n ? n : 1) * sizeof(*ord));
    for (size_t i = 0; i < n; i++) {
        tbt_otlp_group *gg = &sorted[new_pos[span_grp[i]]];
        ord[gg->first + gg->n++] = tbt_trace_span_at(t, i);
    }
    free(res_tab);
    free(grp_tab);
    free(span_grp);
    free(g);
    free(g_res);
    free(res_count);
    free(new_pos);
    *groups = sorted;
    *order = ord;
    return n_g;
}

/* ======================================================================
 * protobuf writer
 * ====================================================================== */

static void put_varint(tbt_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        tmp[n++] = (uint8_t)(c | (v ? 0x80 : 0));
    } while (v);
    tbt_buf_append(b, tmp, n);
}

static void put_tag(tbt_buf *b, uint32_t num, int wt)
{
    put_varint(b, (uint64_t)num << 3 | (uint64_t)wt);
}

static void put_fixed(tbt_buf *b, uint32_t num, uint64_t v, unsigned n)
{
    uint8_t tmp[8];
    put_tag(b, num, n == 8 ? WT_I64 : WT_I32);
    for (unsigned i = 0; i < n; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    tbt_buf_append(b, tmp, n);
}

static void put_uint(tbt_buf *b, uint32_t num, uint64_t v)
{
    if (!v)
        return;
    put_tag(b, num, WT_VARINT);
    put_varint(b, v);
}

static void put_bytes(tbt_buf *b, uint32_t num, const void *p, size_t n)
{
    put_tag(b, num, WT_LEN);
    put_varint(b, n);
    tbt_buf_append(b, p, n);
}

static void put_str(tbt_buf *b, uint32_t num, const char *s)
{
    if (s && *s)
        put_bytes(b, num, s, strlen(s));
}

/* Nested message: tag, then one reserved length byte; msg_end writes the
 * real length, moving the body when it needs more than one byte. */
static size_t msg_begin(tbt_buf *b, uint32_t num)
{
    put_tag(b, num, WT_LEN);
    tbt_buf_putc(b, 0);
    return b->len;
}

static void msg_end(tbt_buf *b, size_t body)
{
    size_t len = b->len - body;
    if (len < 0x80) {
        b->data[body - 1] = (char)len;
        return;
    }
    uint8_t tmp[10];
    size_t k = 0;
    for (uint64_t v = len; v; v >>= 7)
        tmp[k++] = (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
    static const char pad[10];
    tbt_buf_append(b, pad, k - 1);
    memmove(b->data + body - 1 + k, b->data + body, len);
    memcpy(b->data + body - 1, tmp, k);
}

static void put_anyvalue_body(tbt_buf *b, const tbt_value *v);

static void put_keyvalue(tbt_buf *b, uint32_t num, const tbt_kv *kv)
{
    size_t m = msg_begin(b, num);
    put_str(b, 1, kv->key);
    if (kv->value.type != TBT_V_EMPTY) {
        size_t mv = msg_begin(b, 2);
        put_anyvalue_body(b, &kv->value);
        msg_end(b, mv);
    }
    msg_end(b, m);
}

static void put_attrs(tbt_buf *b, uint32_t num, const tbt_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_keyvalue(b, num, &kv[i]);
}

static void put_anyvalue_body(tbt_buf *b, const tbt_value *v)
{
    size_t m;
    switch (v->type) {
    case TBT_V_EMPTY: break;
    case TBT_V_STRING: put_bytes(b, 1, v->u.s.ptr, v->u.s.len); break;
    case TBT_V_BOOL:
        put_tag(b, 2, WT_VARINT);
        put_varint(b, v->u.b ? 1 : 0);
        break;
    case TBT_V_INT:
        put_tag(b, 3, WT_VARINT);
        put_varint(b, (uint64_t)v->u.i);
        break;
    case TBT_V_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->u.d, sizeof(bits));
        put_fixed(b, 4, bits, 8);
        break;
    }
    case TBT_V_ARRAY:
        m = msg_begin(b, 5);
        for (size_t i = 0; i < v->u.arr.n; i++) {
            size_t mi = msg_begin(b, 1);
            put_anyvalue_body(b, &v->u.arr.items[i]);
            msg_end(b, mi);
        }
        msg_end(b, m);
        break;
    case TBT_V_KVLIST:
        m = msg_begin(b, 6);
        put_attrs(b, 1, v->u.kv.items, v->u.kv.n);
        msg_end(b, m);
        break;
    case TBT_V_BYTES: put_bytes(b, 7, v->u.s.ptr, v->u.s.len); break;
    }
}

static void put_span(tbt_buf *b, const tbt_span *s)
{
    size_t m = msg_begin(b, 2);
    put_bytes(b, 1, s->trace_id, 16);
    put_bytes(b, 2, s->span_id, 8);
    put_str(b, 3, s->trace_state);
    if (!tbt_is_all_zero(s->parent_id, 8))
        put_bytes(b, 4, s->parent_id, 8);
    put_str(b, 5, s->name);
    put_uint(b, 6, (uint64_t)(int64_t)(int32_t)s->kind);
    if (s->start_ns)
        put_fixed(b, 7, s->start_ns, 8);
    if (s->end_ns)
        put_fixed(b, 8, s->end_ns, 8);
    put_attrs(b, 9, s->attrs, s->n_attrs);
    put_uint(b, 10, s->dropped_attrs);
    for (size_t i = 0; i < s->n_events; i++) {
        const tbt_event *e = &s->events[i];
        size_t me = msg_begin(b, 11);
        if (e->time_ns)
            put_fixed(b, 1, e->time_ns, 8);
        put_str(b, 2, e->name);
        put_attrs(b, 3, e->attrs, e->n_attrs);
        put_uint(b, 4, e->dropped_attrs);
        msg_end(b, me);
    }
    put_uint(b, 12, s->dropped_events);
    for (size_t i = 0; i < s->n_links; i++) {
        const tbt_link *l = &s->links[i];
        size_t ml = msg_begin(b, 13);
        put_bytes(b, 1, l->trace_id, 16);
        put_bytes(b, 2, l->span_id, 8);
        put_str(b, 3, l->trace_state);
        put_attrs(b, 4, l->attrs, l->n_attrs);
        put_uint(b, 5, l->dropped_attrs);
        if (l->flags)
            put_fixed(b, 6, l->flags, 4);
        msg_end(b, ml);
    }
    put_uint(b, 14, s->dropped_links);
    if (s->status_code || (s->status_message && *s->status_message)) {
        size_t ms = msg_begin(b, 15);
        put_str(b, 2, s->status_message);
        put_uint(b, 3, (uint64_t)(int64_t)(int32_t)s->status_code);
        msg_end(b, ms);
    }
    if (s->flags)
        put_fixed(b, 16, s->flags, 4);
    msg_end(b, m);
}

static void pb_encode(const tbt_trace *t, tbt_buf *out)
{
    tbt_otlp_group *g;
    const tbt_span **ord;
    size_t n_g = tbt_otlp_group_spans(t, &g, &ord);
    for (size_t k = 0; k < n_g;) {
        const tbt_resource *res = g[k].resource;
        size_t mrs = msg_begin(out, 1);
        if (res && (res->n_attrs || res->dropped_attrs)) {
            size_t mr = msg_begin(out, 1);
            put_attrs(out, 1, res->attrs, res->n_attrs);
            put_uint(out, 2, res->dropped_attrs);
            msg_end(out, mr);
        }
        for (; k < n_g && g[k].resource == res; k++) {
            const tbt_scope *sc = g[k].scope;
            size_t mss = msg_begin(out, 2);
            if (sc && (sc->name || sc->version || sc->n_attrs || sc->dropped_attrs)) {
                size_t msc = msg_begin(out, 1);
                put_str(out, 1, sc->name);
                put_str(out, 2, sc->version);
                put_attrs(out, 3, sc->attrs, sc->n_attrs);
                put_uint(out, 4, sc->dropped_attrs);
                msg_end(out, msc);
            }
            for (size_t i = 0; i < g[k].n; i++)
                put_span(out, ord[g[k].first + i]);
            put_str(out, 3, sc ? sc->schema_url : NULL);
            msg_end(out, mss);
        }
        put_str(out, 3, res ? res->schema_url : NULL);
        msg_end(out, mrs);
    }
    free(g);
    free(ord);
}

int tbt_otlp_encode(const tbt_trace *t, tbt_otlp_format fmt, tbt_buf *out)
{
    switch (fmt) {
    case TBT_OTLP_PROTOBUF:
        pb_encode(t, out);
        /* Keep the documented NUL termination even for an empty request. */
        tbt_buf_append(out, "", 0);
        return 0;
    case TBT_OTLP_JSON: tbt_otlp_json_encode(t, out); return 0;
    }
    return -EINVAL;
}

