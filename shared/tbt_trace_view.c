/*
 * tbt_trace_view.c - the trace as the HTML report's waterfall reads it
 * (format: docs/html-report.md, "The trace view").
 *
 * Compact on purpose: a span is one JSON array, and every text that repeats
 * (span names, services, trace ids, attribute keys and values) is an index
 * into one string table, so a 100k-span trace costs tens of bytes per span
 * without its attributes.
 *
 * The byte bound is met greedily over items in priority order: a span's
 * row, then (separately) its attributes. Spans are ranked by tier (an
 * assertion failed on it or below it, then asserted on it or below it,
 * then the rest), then depth, then depth-first position. A parent always
 * ranks before its children, so whatever prefix of rows fits is closed
 * under ancestors and the kept spans still form a tree. Costs are
 * measured by rendering each item once with the parent index at its widest
 * (the actual index is never longer), so the written view never exceeds
 * the estimate.
 */
#include "tbt_trace_view.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_analyzer.h"

enum {
    VF_ASSERTED = 1,     /* an assertion selected the span */
    VF_FAILED = 2,       /* an assertion failed on it */
    VF_LINKED = 4,       /* from a linked trace, not the test's */
    VF_NO_ATTRS = 8,     /* its attributes were left out to meet the bound */
    VF_ORPHAN = 16,      /* its parent id names a span not in the trace */
};

#define VIEW_DEFAULT_ATTR_VALUE 4096u

/* ---- string table: interned texts, emitted once as "strings" ---------- */

typedef struct strtab {
    const char **items; /* index -> text (in the view's arena) */
    size_t *lens;
    size_t n, cap;
    uint32_t *slots; /* open addressing: index + 1, 0 empty */
    size_t n_slots;
    tbt_arena *arena;
} strtab;

static uint64_t str_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 31);
}

static void strtab_rehash(strtab *t)
{
    size_t ns = t->n_slots ? t->n_slots * 2 : 1024;
    uint32_t *slots = tbt_xcalloc(ns, sizeof(*slots));
    for (size_t i = 0; i < t->n; i++) {
        size_t j = str_hash(t->items[i], t->lens[i]) & (ns - 1);
        while (slots[j])
            j = (j + 1) & (ns - 1);
        slots[j] = (uint32_t)(i + 1);
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = ns;
}

/* The index of s[0..n); *added is true when it was not in the table. */
static size_t strtab_intern(strtab *t, const char *s, size_t n, bool *added)
{
    if ((t->n + 1) * 2 > t->n_slots)
        strtab_rehash(t);
    size_t mask = t->n_slots - 1;
    size_t j = str_hash(s, n) & mask;
    for (; t->slots[j]; j = (j + 1) & mask) {
        size_t i = t->slots[j] - 1;
        if (t->lens[i] == n && memcmp(t->items[i], s, n) == 0) {
            *added = false;
            return i;
        }
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->items = tbt_xrealloc(t->items, t->cap * sizeof(*t->items));
        t->lens = tbt_xrealloc(t->lens, t->cap * sizeof(*t->lens));
    }
    char *copy = tbt_arena_alloc_raw(t->arena, n + 1); /* values may hold NUL bytes */
    memcpy(copy, s, n);
    copy[n] = '\0';
    t->items[t->n] = copy;
    t->lens[t->n] = n;
    t->slots[j] = (uint32_t)(t->n + 1);
    *added = true;
    return t->n++;
}

/* Forget the entries from index n on (an item that did not fit). */
static void strtab_truncate(strtab *t, size_t n)
{
    if (n >= t->n)
        return;
    t->n = n;
    memset(t->slots, 0, t->n_slots * sizeof(*t->slots));
    size_t mask = t->n_slots - 1;
    for (size_t i = 0; i < t->n; i++) {
        size_t j = str_hash(t->items[i], t->lens[i]) & mask;
        while (t->slots[j])
            j = (j + 1) & mask;
        t->slots[j] = (uint32_t)(i + 1);
    }
}

static void strtab_free(strtab *t)
{
    free(t->items);
    free(t->lens);
    free(t->slots);
}

/* ---- per-span bookkeeping ------------------------------------------------ */

typedef struct vspan {
    tbt_span *s;
    uint8_t flags;
    uint8_t tier;  /* 0 failed here or below, 1 asserted here or below, 2 rest */
    bool kept, attrs;
    long row;      /* index in the view's spans array, -1 when not kept */
    /* string indices, valid once kept */
    size_t name, service, trace, status_msg;
    bool has_status_msg;
    size_t *attr_idx; /* 2 per attribute (key, value), valid once attrs */
} vspan;

typedef struct view {
    tbt_trace *t;
    vspan *vs;
    size_t n;
    strtab tab;
    size_t max_value;
    uint64_t t0;      /* earliest span start */
    tbt_buf scratch;  /* rendering for measurement */
    tbt_buf text;     /* attribute value text */
    size_t parent_digits;
} view;

static size_t digits(size_t v)
{
    size_t d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* s cut at max bytes on a character boundary, "…" appended; into v->text. */
static void cut_text(view *v, const char *s, size_t n)
{
    tbt_buf_reset(&v->text);
    if (n <= v->max_value) {
        tbt_buf_append(&v->text, s, n);
        return;
    }
    size_t k = v->max_value;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    tbt_buf_append(&v->text, s, k);
    tbt_buf_puts(&v->text, "\xE2\x80\xA6");
}

/* Intern a text; the bytes a new entry adds to "strings" go to *cost. */
static size_t intern(view *v, const char *s, size_t n, size_t *cost)
{
    cut_text(v, s, n);
    bool added;
    size_t i = strtab_intern(&v->tab, v->text.data ? v->text.data : "", v->text.len, &added);
    if (added) {
        tbt_buf_reset(&v->scratch);
        tbt_buf_json_str(&v->scratch, v->tab.items[i], v->tab.lens[i]);
        *cost += v->scratch.len + 1; /* and its comma */
    }
    return i;
}

static size_t intern_cstr(view *v, const char *s, size_t *cost)
{
    return intern(v, s ? s : "", s ? strlen(s) : 0, cost);
}

static uint64_t span_dur(const tbt_span *s)
{
    return s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0;
}

/* The row without its attributes: [id,parent,name,svc,trace,kind,status,
 * flags,start,dur,events,links,statusMsg, then the attributes and "]". */
static void render_row_head(const view *v, const vspan *x, long parent, tbt_buf *out)
{
    const tbt_span *s = x->s;
    tbt_buf_printf(out, "[\"%s\",%ld,%zu,%zu,%zu,%d,%d,%u,%" PRIu64 ",%" PRIu64 ",%zu,%zu,", s->span_id_hex, parent,
                   x->name, x->service, x->trace, (int)s->kind, (int)s->status_code, (unsigned)x->flags,
                   s->start_ns >= v->t0 ? s->start_ns - v->t0 : 0, span_dur(s), s->n_events, s->n_links);
    if (x->has_status_msg)
        tbt_buf_printf(out, "%zu,", x->status_msg);
    else
        tbt_buf_puts(out, "-1,");
}

static void render_attrs(const vspan *x, tbt_buf *out)
{
    tbt_buf_putc(out, '[');
    for (size_t i = 0; i < x->s->n_attrs; i++)
        tbt_buf_printf(out, "%s%zu,%zu", i ? "," : "", x->attr_idx[2 * i], x->attr_idx[2 * i + 1]);
    tbt_buf_putc(out, ']');
}

/* Bytes the row adds (attributes as "0"), interning its texts. */
static size_t row_cost(view *v, vspan *x)
{
    size_t cost = 0;
    const tbt_span *s = x->s;
    x->name = intern_cstr(v, s->name, &cost);
    x->service = intern_cstr(v, s->service, &cost);
    x->trace = intern_cstr(v, s->trace_id_hex, &cost);
    x->has_status_msg = s->status_message && *s->status_message;
    if (x->has_status_msg)
        x->status_msg = intern_cstr(v, s->status_message, &cost);
    tbt_buf_reset(&v->scratch);
    /* widest parent index, and VF_NO_ATTRS set: the flags can only lose it */
    vspan tmp = *x;
    tmp.flags |= VF_NO_ATTRS;
    char widest[32];
    memset(widest, '9', v->parent_digits);
    widest[v->parent_digits] = '\0';
    render_row_head(v, &tmp, atol(widest), &v->scratch);
    return cost + v->scratch.len + 3; /* "0]" and the comma */
}

/* Bytes the attributes add over the "0" placeholder, interning them. */
static size_t attrs_cost(view *v, vspan *x)
{
    size_t cost = 0;
    const tbt_span *s = x->s;
    x->attr_idx = tbt_xcalloc(s->n_attrs ? 2 * s->n_attrs : 1, sizeof(size_t));
    tbt_buf val = TBT_BUF_INIT;
    for (size_t i = 0; i < s->n_attrs; i++) {
        x->attr_idx[2 * i] = intern_cstr(v, s->attrs[i].key, &cost);
        tbt_buf_reset(&val);
        tbt_value_to_text(&s->attrs[i].value, &val);
        x->attr_idx[2 * i + 1] = intern(v, val.data ? val.data : "", val.len, &cost);
    }
    tbt_buf_free(&val);
    tbt_buf_reset(&v->scratch);
    render_attrs(x, &v->scratch);
    return cost + v->scratch.len - 1;
}

static int by_rank(const void *a, const void *b)
{
    const vspan *x = *(const vspan *const *)a, *y = *(const vspan *const *)b;
    if (x->tier != y->tier)
        return x->tier < y->tier ? -1 : 1;
    if (x->s->depth != y->s->depth)
        return x->s->depth < y->s->depth ? -1 : 1;
    return x->s->order < y->s->order ? -1 : x->s->order > y->s->order;
}

static void mark_results(view *v, const tbt_test_result *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->n_specs; i++) {
        const tbt_spec_result *sr = &res->specs[i];
        for (size_t k = 0; k < sr->n_asserts; k++) {
            const tbt_assert_result *ar = &sr->asserts[k];
            for (size_t j = 0; j < ar->n_spans; j++) {
                const tbt_span_result *x = &ar->spans[j];
                uint8_t tid[16], sid[8];
                if (!x->span_id || !x->trace_id || strlen(x->span_id) != 16 || strlen(x->trace_id) != 32 ||
                    tbt_hex_decode(x->span_id, 16, sid, 8) != 0 || tbt_hex_decode(x->trace_id, 32, tid, 16) != 0)
                    continue;
                tbt_span *s = tbt_trace_find(v->t, tid, sid);
                if (!s || s->order >= v->n)
                    continue;
                v->vs[s->order].flags |= VF_ASSERTED;
                if (!x->passed)
                    v->vs[s->order].flags |= VF_FAILED;
            }
        }
    }
}

int tbt_trace_view_json(tbt_trace *t, const tbt_test_result *res, const tbt_trace_view_limits *limits, tbt_buf *out)
{
    view v;
    memset(&v, 0, sizeof(v));
    v.t = t;
    v.n = tbt_trace_span_count(t);
    v.tab.arena = tbt_arena_new();
    v.max_value = limits && limits->max_attr_value ? limits->max_attr_value : VIEW_DEFAULT_ATTR_VALUE;
    size_t budget = limits && limits->max_bytes ? limits->max_bytes : SIZE_MAX;
    v.parent_digits = digits(v.n) + 1; /* "-1" is as wide as a one-digit index */
    v.vs = tbt_xcalloc(v.n ? v.n : 1, sizeof(*v.vs));

    const char *test_trace = res && res->trace_id && *res->trace_id ? res->trace_id : NULL;
    if (!test_trace && v.n)
        test_trace = tbt_trace_span_at(t, 0)->trace_id_hex;
    uint64_t t1 = 0;
    v.t0 = UINT64_MAX;
    for (size_t i = 0; i < v.n; i++) {
        tbt_span *s = tbt_trace_span_at(t, i);
        vspan *x = &v.vs[i];
        x->s = s;
        x->row = -1;
        x->tier = 2;
        if (test_trace && strcmp(s->trace_id_hex, test_trace) != 0)
            x->flags |= VF_LINKED;
        if (!s->parent && !tbt_is_all_zero(s->parent_id, 8))
            x->flags |= VF_ORPHAN;
        if (s->start_ns < v.t0)
            v.t0 = s->start_ns;
        uint64_t e = s->end_ns > s->start_ns ? s->end_ns : s->start_ns;
        if (e > t1)
            t1 = e;
    }
    if (!v.n)
        v.t0 = 0;
    mark_results(&v, res);
    /* tiers, children before parents (reverse depth-first order) */
    for (size_t i = v.n; i-- > 0;) {
        vspan *x = &v.vs[i];
        uint8_t own = (x->flags & VF_FAILED) ? 0 : (x->flags & VF_ASSERTED) ? 1 : 2;
        if (own < x->tier)
            x->tier = own;
        if (x->s->parent && x->s->parent->order < v.n) {
            vspan *p = &v.vs[x->s->parent->order];
            if (x->tier < p->tier)
                p->tier = x->tier;
        }
    }
    vspan **rank = tbt_xcalloc(v.n ? v.n : 1, sizeof(*rank));
    for (size_t i = 0; i < v.n; i++)
        rank[i] = &v.vs[i];
    qsort(rank, v.n, sizeof(*rank), by_rank);

    /* the fixed part, with the counters at their widest */
    char head[512];
    int hl = snprintf(head, sizeof(head),
                      "{\"version\":1,\"traceId\":\"%s\",\"startUnixNs\":\"%" PRIu64 "\",\"durationNs\":%" PRIu64
                      ",\"spanCount\":%zu,\"omitted\":%zu,\"attrsOmitted\":%zu,\"columns\":[\"id\",\"parent\","
                      "\"name\",\"service\",\"trace\",\"kind\",\"status\",\"flags\",\"start\",\"duration\",\"events\","
                      "\"links\",\"statusMessage\",\"attributes\"],\"spans\":[],\"strings\":[]}",
                      "00000000000000000000000000000000", UINT64_MAX, UINT64_MAX, v.n, v.n, v.n);
    size_t used = hl > 0 ? (size_t)hl : 0;

    /* Items in priority order; within each stage the first that does not
     * fit ends the stage, and the strings it interned are forgotten. */
    bool rows_full = false;
    for (int stage = 0; stage < 3; stage++) {
        for (size_t r = 0; r < v.n && !rows_full; r++) {
            vspan *x = rank[r];
            if (x->tier != stage)
                continue;
            size_t mark = v.tab.n;
            size_t c = row_cost(&v, x);
            if (c > budget || used > budget - c) {
                strtab_truncate(&v.tab, mark);
                rows_full = true;
                break;
            }
            used += c;
            x->kept = true;
        }
        /* attributes: of failed spans, then of asserted ones, then the rest */
        for (size_t r = 0; r < v.n; r++) {
            vspan *x = rank[r];
            bool in_stage = stage == 0   ? (x->flags & VF_FAILED)
                            : stage == 1 ? (x->flags & (VF_FAILED | VF_ASSERTED)) == VF_ASSERTED
                                         : !(x->flags & (VF_FAILED | VF_ASSERTED));
            if (!x->kept || !in_stage || x->attrs)
                continue;
            size_t mark = v.tab.n;
            size_t c = attrs_cost(&v, x);
            if (c > budget || used > budget - c) {
                strtab_truncate(&v.tab, mark);
                break;
            }
            used += c;
            x->attrs = true;
        }
    }
    free(rank);

    size_t kept = 0, no_attrs = 0;
    for (size_t i = 0; i < v.n; i++) {
        vspan *x = &v.vs[i];
        if (!x->kept)
            continue;
        x->row = (long)kept++;
        if (!x->attrs && x->s->n_attrs) {
            x->flags |= VF_NO_ATTRS;
            no_attrs++;
        }
    }

    tbt_buf_printf(out,
                   "{\"version\":1,\"traceId\":\"%s\",\"startUnixNs\":\"%" PRIu64 "\",\"durationNs\":%" PRIu64
                   ",\"spanCount\":%zu,\"omitted\":%zu,\"attrsOmitted\":%zu,\"columns\":[\"id\",\"parent\","
                   "\"name\",\"service\",\"trace\",\"kind\",\"status\",\"flags\",\"start\",\"duration\",\"events\","
                   "\"links\",\"statusMessage\",\"attributes\"],\"spans\":[",
                   test_trace && strlen(test_trace) == 32 && strspn(test_trace, "0123456789abcdef") == 32 ? test_trace
                                                                                                           : "",
                   v.t0, t1 > v.t0 ? t1 - v.t0 : 0, v.n, v.n - kept, no_attrs);
    bool first = true;
    for (size_t i = 0; i < v.n; i++) {
        vspan *x = &v.vs[i];
        if (!x->kept)
            continue;
        if (!first)
            tbt_buf_putc(out, ',');
        first = false;
        long parent = x->s->parent && x->s->parent->order < v.n ? v.vs[x->s->parent->order].row : -1;
        render_row_head(&v, x, parent, out);
        if (x->attrs)
            render_attrs(x, out);
        else
            tbt_buf_putc(out, '0');
        tbt_buf_putc(out, ']');
    }
    tbt_buf_puts(out, "],\"strings\":[");
    for (size_t i = 0; i < v.tab.n; i++) {
        if (i)
            tbt_buf_putc(out, ',');
        tbt_buf_json_str(out, v.tab.items[i], v.tab.lens[i]);
    }
    tbt_buf_puts(out, "]}");

    for (size_t i = 0; i < v.n; i++)
        free(v.vs[i].attr_idx);
    free(v.vs);
    strtab_free(&v.tab);
    tbt_arena_free(v.tab.arena);
    tbt_buf_free(&v.scratch);
    tbt_buf_free(&v.text);
    return 0;
}

void tbt_result_keep_trace(tbt_trace *t, const struct tbt_analyzer_config *analyzer,
                           const tbt_trace_view_limits *view_limits, tbt_run_result *rr, tbt_test_result *res)
{
    if (analyzer && tbt_analyzer_config_enabled(analyzer)) {
        tbt_lint_result *lr = tbt_arena_calloc(rr->arena, 1, sizeof(*lr));
        if (tbt_analyzer_run(analyzer, t, rr->arena, lr) == 0)
            res->lint = lr;
    }
    if (view_limits) {
        tbt_buf b = TBT_BUF_INIT;
        tbt_trace_view_json(t, res, view_limits, &b);
        res->trace_view = tbt_arena_memdup(rr->arena, tbt_buf_cstr(&b), b.len + 1);
        tbt_buf_free(&b);
    }
}
