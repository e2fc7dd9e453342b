/* tbt_store.c - received spans by trace id; see tbt_store.h for the policy. */
#include "tbt_store.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct batch {
    size_t refs;  /* span references held by buckets */
    size_t bytes;
    tbt_trace *t; /* decoded request, never finalized */
} batch;

typedef struct span_ref {
    batch *b;
    const tbt_span *s;
} span_ref;

typedef struct bucket bucket;
struct bucket {
    uint8_t trace_id[16];
    bucket *hnext;             /* hash chain */
    bucket *prev, *next;       /* age list (unwatched only), oldest first */
    span_ref *spans;
    size_t n, cap;
    uint64_t *ids;             /* span ids seen (dedupe), open addressing, 0 = empty */
    size_t ids_n, ids_cap;
    uint8_t (*linked_from)[16]; /* traces whose spans link into this one */
    size_t n_lf, cap_lf;
    uint8_t (*links_to)[16];
    size_t n_lt, cap_lt;
    uint64_t first_ns, last_ns;
    uint64_t version;
    unsigned watchers;
    bool overflow;
    bool in_age_list;
};

struct tbt_watch {
    uint8_t trace_id[16];
};

struct tbt_store {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    tbt_store_limits lim;
    bucket **table;
    size_t table_cap, n_buckets, n_watched;
    bucket *oldest, *newest; /* age list of unwatched buckets */
    size_t spans, bytes, batches;
    tbt_store_figures counters;
    tbt_store_relay_fn relay;
    void *relay_ud;
};

tbt_store_limits tbt_store_default_limits(void)
{
    tbt_store_limits l = {
        .max_bytes = 512u * 1024u * 1024u,
        .max_spans = 2000000,
        .max_spans_per_trace = 1000000,
        .retention_ns = 120ull * 1000000000ull,
    };
    return l;
}

tbt_store *tbt_store_new(const tbt_store_limits *lim)
{
    /* Batches come and go at thousands per second: keep freed memory in
     * the heap instead of returning it to the kernel after every request
     * (glibc's trimming and mmap'd blocks cost a page fault per 4 KiB on
     * the next request). The store's own bounds cap what is held. */
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
    tbt_store *s = tbt_xcalloc(1, sizeof(*s));
    s->lim = lim ? *lim : tbt_store_default_limits();
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->table_cap = 1024;
    s->table = tbt_xcalloc(s->table_cap, sizeof(bucket *));
    return s;
}

static void batch_release(tbt_store *s, batch *b)
{
    if (--b->refs == 0) {
        s->bytes -= b->bytes;
        s->batches--;
        tbt_trace_free(b->t);
        free(b);
    }
}

static void bucket_free(tbt_store *s, bucket *b)
{
    for (size_t i = 0; i < b->n; i++)
        batch_release(s, b->spans[i].b);
    s->spans -= b->n;
    free(b->spans);
    free(b->ids);
    free(b->linked_from);
    free(b->links_to);
    free(b);
}

void tbt_store_free(tbt_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->table_cap; i++) {
        bucket *b = s->table[i];
        while (b) {
            bucket *n = b->hnext;
            bucket_free(s, b);
            b = n;
        }
    }
    free(s->table);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static size_t tid_hash(const uint8_t id[16])
{
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
    return (size_t)(h ^ (h >> 31));
}

static bucket *bucket_find(tbt_store *s, const uint8_t id[16])
{
    for (bucket *b = s->table[tid_hash(id) & (s->table_cap - 1)]; b; b = b->hnext)
        if (memcmp(b->trace_id, id, 16) == 0)
            return b;
    return NULL;
}

static void age_unlink(tbt_store *s, bucket *b)
{
    if (!b->in_age_list)
        return;
    if (b->prev)
        b->prev->next = b->next;
    else
        s->oldest = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        s->newest = b->prev;
    b->prev = b->next = NULL;
    b->in_age_list = false;
}

static void age_push(tbt_store *s, bucket *b)
{
    if (b->watchers)
        return;
    age_unlink(s, b);
    b->prev = s->newest;
    b->next = NULL;
    if (s->newest)
        s->newest->next = b;
    else
        s->oldest = b;
    s->newest = b;
    b->in_age_list = true;
}

static void table_grow(tbt_store *s)
{
    size_t ncap = s->table_cap * 2;
    bucket **nt = tbt_xcalloc(ncap, sizeof(bucket *));
    for (size_t i = 0; i < s->table_cap; i++) {
        bucket *b = s->table[i];
        while (b) {
            bucket *n = b->hnext;
            size_t j = tid_hash(b->trace_id) & (ncap - 1);
            b->hnext = nt[j];
            nt[j] = b;
            b = n;
        }
    }
    free(s->table);
    s->table = nt;
    s->table_cap = ncap;
}

static bucket *bucket_get(tbt_store *s, const uint8_t id[16], uint64_t now)
{
    bucket *b = bucket_find(s, id);
    if (b)
        return b;
    if (s->n_buckets + 1 > s->table_cap)
        table_grow(s);
    b = tbt_xcalloc(1, sizeof(*b));
    memcpy(b->trace_id, id, 16);
    b->first_ns = b->last_ns = now;
    size_t j = tid_hash(id) & (s->table_cap - 1);
    b->hnext = s->table[j];
    s->table[j] = b;
    s->n_buckets++;
    age_push(s, b);
    return b;
}

static void bucket_remove(tbt_store *s, bucket *b)
{
    bucket **pp = &s->table[tid_hash(b->trace_id) & (s->table_cap - 1)];
    while (*pp && *pp != b)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = b->hnext;
    age_unlink(s, b);
    s->n_buckets--;
    s->counters.evicted_traces++;
    bucket_free(s, b);
}

/* Returns false when the span id was seen already. */
static bool ids_add(bucket *b, const uint8_t span_id[8])
{
    uint64_t v;
    memcpy(&v, span_id, 8);
    if (v == 0)
        v = 1; /* all-zero ids are rejected by the decoder; keep 0 as "empty" */
    if ((b->ids_n + 1) * 2 > b->ids_cap) {
        size_t ncap = b->ids_cap ? b->ids_cap * 2 : 16;
        uint64_t *ni = tbt_xcalloc(ncap, sizeof(uint64_t));
        for (size_t i = 0; i < b->ids_cap; i++) {
            if (!b->ids[i])
                continue;
            size_t j = (size_t)((b->ids[i] * 0x9E3779B97F4A7C15ull) >> 7) & (ncap - 1);
            while (ni[j])
                j = (j + 1) & (ncap - 1);
            ni[j] = b->ids[i];
        }
        free(b->ids);
        b->ids = ni;
        b->ids_cap = ncap;
    }
    size_t mask = b->ids_cap - 1;
    for (size_t j = (size_t)((v * 0x9E3779B97F4A7C15ull) >> 7) & mask;; j = (j + 1) & mask) {
        if (!b->ids[j]) {
            b->ids[j] = v;
            b->ids_n++;
            return true;
        }
        if (b->ids[j] == v)
            return false;
    }
}

static void add_tid(uint8_t (**arr)[16], size_t *n, size_t *cap, const uint8_t id[16])
{
    for (size_t i = 0; i < *n; i++)
        if (memcmp((*arr)[i], id, 16) == 0)
            return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *arr = tbt_xrealloc(*arr, *cap * 16);
    }
    memcpy((*arr)[(*n)++], id, 16);
}

/* Spans arrived in b: wake whoever watches b or a trace b links to (up to
 * a few hops: a consumer's trace may link to a producer's that links on). */
static void bump(tbt_store *s, bucket *b, unsigned depth)
{
    b->version++;
    if (depth == 0)
        return;
    for (size_t i = 0; i < b->n_lt; i++) {
        bucket *t = bucket_find(s, b->links_to[i]);
        if (t && t != b)
            bump(s, t, depth - 1);
    }
}

void tbt_store_expire(tbt_store *s, uint64_t now)
{
    pthread_mutex_lock(&s->mu);
    while (s->oldest && s->oldest->last_ns + s->lim.retention_ns < now)
        bucket_remove(s, s->oldest);
    pthread_mutex_unlock(&s->mu);
}

void tbt_store_set_relay(tbt_store *s, tbt_store_relay_fn fn, void *ud)
{
    pthread_mutex_lock(&s->mu);
    s->relay = fn;
    s->relay_ud = ud;
    pthread_mutex_unlock(&s->mu);
}

bool tbt_store_watches_any(tbt_store *s, const uint8_t *ids, size_t n)
{
    bool yes = false;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n && !yes && s->n_watched; i++) {
        bucket *b = bucket_find(s, ids + 16 * i);
        yes = b && b->watchers > 0;
    }
    pthread_mutex_unlock(&s->mu);
    return yes;
}

/* Remember id in the relay list unless it is there (lists are short: the
 * traces of one request). */
static void relay_note(uint8_t **ids, size_t *n, size_t *cap, const uint8_t id[16])
{
    for (size_t i = *n; i-- > 0;)
        if (memcmp(*ids + 16 * i, id, 16) == 0)
            return;
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        *ids = tbt_xrealloc(*ids, *cap * 16);
    }
    memcpy(*ids + 16 * (*n)++, id, 16);
}

static int store_batch(tbt_store *s, tbt_trace *t, tbt_otlp_format fmt, const uint8_t *buf, size_t len,
                       bool may_relay, tbt_ingest_result *res, tbt_error *err);

static int ingest(tbt_store *s, tbt_otlp_format fmt, const uint8_t *buf, size_t len, bool may_relay,
                  tbt_ingest_result *res, tbt_error *err)
{
    memset(res, 0, sizeof(*res));
    /* decode outside the lock */
    tbt_trace *t = tbt_trace_new();
    tbt_otlp_limits ol = tbt_otlp_default_limits();
    if (ol.max_spans > s->lim.max_spans)
        ol.max_spans = s->lim.max_spans;
    tbt_otlp_stats st = {0};
    int rc = tbt_otlp_decode(t, fmt, buf, len, &ol, &st, err);
    if (rc != 0) {
        tbt_otlp_stats_clear(&st);
        tbt_trace_free(t);
        return rc;
    }
    res->rejected = st.rejected_spans;
    if (st.reject_reason)
        snprintf(res->reason, sizeof(res->reason), "%s", st.reject_reason);
    tbt_otlp_stats_clear(&st);
    return store_batch(s, t, fmt, buf, len, may_relay, res, err);
}

/* Store the decoded (not finalized) trace t as one batch; takes t. buf is
 * the request for the relay (NULL: nothing to relay). */
static int store_batch(tbt_store *s, tbt_trace *t, tbt_otlp_format fmt, const uint8_t *buf, size_t len,
                       bool may_relay, tbt_ingest_result *res, tbt_error *err)
{
    size_t n = tbt_trace_span_count(t);
    batch *bt = tbt_xcalloc(1, sizeof(*bt));
    bt->t = t;
    bt->bytes = tbt_trace_memory(t);
    uint64_t now = tbt_now_mono_ns();

    pthread_mutex_lock(&s->mu);
    s->counters.rejected_spans += res->rejected;
    while (s->oldest && s->oldest->last_ns + s->lim.retention_ns < now)
        bucket_remove(s, s->oldest);
    /* make room: evict unwatched traces oldest first, else refuse */
    while ((s->bytes + bt->bytes > s->lim.max_bytes || s->spans + n > s->lim.max_spans) && s->oldest)
        bucket_remove(s, s->oldest);
    if (s->bytes + bt->bytes > s->lim.max_bytes || s->spans + n > s->lim.max_spans) {
        s->counters.refused_requests++;
        pthread_mutex_unlock(&s->mu);
        tbt_trace_free(t);
        free(bt);
        res->retry_after_s = 1;
        return tbt_error_set(err, -EBUSY,
                             "the trace store is full (%zu spans, %zu bytes held by watched traces); retry later",
                             s->spans, s->bytes);
    }
    bool wake = false;
    tbt_store_relay_fn relay = may_relay ? s->relay : NULL;
    void *relay_ud = s->relay_ud;
    uint8_t *rids = NULL;
    size_t n_rids = 0, cap_rids = 0;
    for (size_t i = 0; i < n; i++) {
        const tbt_span *sp = tbt_trace_span_at(t, i);
        bucket *b = bucket_get(s, sp->trace_id, now);
        if (relay && !b->watchers) {
            /* not ours: another agent of the environment may be waiting
             * for it, or for a trace it links to */
            relay_note(&rids, &n_rids, &cap_rids, sp->trace_id);
            for (size_t k = 0; k < sp->n_links; k++)
                relay_note(&rids, &n_rids, &cap_rids, sp->links[k].trace_id);
        }
        if (!ids_add(b, sp->span_id)) {
            res->duplicates++;
            continue;
        }
        if (b->n >= s->lim.max_spans_per_trace) {
            b->overflow = true;
            res->rejected++;
            if (!res->reason[0])
                snprintf(res->reason, sizeof(res->reason), "trace %02x%02x%02x%02x... holds more than %zu spans",
                         sp->trace_id[0], sp->trace_id[1], sp->trace_id[2], sp->trace_id[3],
                         s->lim.max_spans_per_trace);
            continue;
        }
        TBT_GROW(b->spans, b->cap, b->n + 1);
        b->spans[b->n].b = bt;
        b->spans[b->n].s = sp;
        b->n++;
        bt->refs++;
        s->spans++;
        b->last_ns = now;
        for (size_t k = 0; k < sp->n_links; k++) {
            const uint8_t *lt = sp->links[k].trace_id;
            if (memcmp(lt, sp->trace_id, 16) == 0)
                continue;
            bucket *target = bucket_get(s, lt, now);
            add_tid(&target->linked_from, &target->n_lf, &target->cap_lf, sp->trace_id);
            add_tid(&b->links_to, &b->n_lt, &b->cap_lt, lt);
        }
        if (b->watchers)
            wake = true;
        bump(s, b, 4);
        age_push(s, b);
    }
    res->accepted = bt->refs;
    s->counters.ingested_spans += bt->refs;
    s->counters.duplicate_spans += res->duplicates;
    if (bt->refs) {
        s->bytes += bt->bytes;
        s->batches++;
    } else {
        tbt_trace_free(t);
        free(bt);
    }
    if (wake || s->n_watched)
        pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (n_rids)
        relay(relay_ud, fmt, buf, len, rids, n_rids);
    free(rids);
    return 0;
}

int tbt_store_ingest(tbt_store *s, tbt_otlp_format fmt, const uint8_t *buf, size_t len, tbt_ingest_result *res,
                     tbt_error *err)
{
    return ingest(s, fmt, buf, len, true, res, err);
}

int tbt_store_ingest_trace(tbt_store *s, tbt_trace *t, tbt_ingest_result *res, tbt_error *err)
{
    memset(res, 0, sizeof(*res));
    return store_batch(s, t, TBT_OTLP_PROTOBUF, NULL, 0, false, res, err);
}

int tbt_store_ingest_relayed(tbt_store *s, tbt_otlp_format fmt, const uint8_t *buf, size_t len,
                             tbt_ingest_result *res, tbt_error *err)
{
    return ingest(s, fmt, buf, len, false, res, err);
}

tbt_watch *tbt_store_watch(tbt_store *s, const uint8_t trace_id[16])
{
    tbt_watch *w = tbt_xcalloc(1, sizeof(*w));
    memcpy(w->trace_id, trace_id, 16);
    pthread_mutex_lock(&s->mu);
    bucket *b = bucket_get(s, trace_id, tbt_now_mono_ns());
    if (b->watchers++ == 0) {
        age_unlink(s, b);
        s->n_watched++;
    }
    pthread_mutex_unlock(&s->mu);
    return w;
}

void tbt_store_unwatch(tbt_store *s, tbt_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&s->mu);
    bucket *b = bucket_find(s, w->trace_id);
    if (b && --b->watchers == 0) {
        s->n_watched--;
        b->last_ns = tbt_now_mono_ns();
        age_push(s, b);
    }
    pthread_mutex_unlock(&s->mu);
    free(w);
}

/* The watched bucket, and the ones linking into it to depth, in BFS order. */
static size_t collect(tbt_store *s, bucket *root, unsigned depth, bucket ***out)
{
    size_t n = 0, cap = 8, head = 0;
    bucket **q = tbt_xmalloc(cap * sizeof(*q));
    unsigned *lvl = tbt_xmalloc(cap * sizeof(*lvl));
    q[n] = root;
    lvl[n++] = 0;
    while (head < n) {
        bucket *b = q[head];
        unsigned l = lvl[head++];
        if (l >= depth)
            continue;
        for (size_t i = 0; i < b->n_lf; i++) {
            bucket *f = bucket_find(s, b->linked_from[i]);
            if (!f)
                continue;
            bool seen = false;
            for (size_t k = 0; k < n && !seen; k++)
                seen = q[k] == f;
            if (seen)
                continue;
            if (n == cap) {
                cap *= 2;
                q = tbt_xrealloc(q, cap * sizeof(*q));
                lvl = tbt_xrealloc(lvl, cap * sizeof(*lvl));
            }
            q[n] = f;
            lvl[n++] = l + 1;
        }
    }
    free(lvl);
    *out = q;
    return n;
}

static void info_of(tbt_store *s, bucket *b, unsigned depth, tbt_watch_info *info)
{
    memset(info, 0, sizeof(*info));
    if (!b)
        return;
    bucket **bs;
    size_t nb = collect(s, b, depth, &bs);
    info->spans = b->n;
    info->overflow = b->overflow;
    for (size_t i = 0; i < nb; i++) {
        if (bs[i]->n == 0)
            continue;
        if (i > 0) {
            info->linked_traces++;
            info->linked_spans += bs[i]->n;
        }
        if (bs[i]->last_ns > info->last_span_mono_ns)
            info->last_span_mono_ns = bs[i]->last_ns;
        if (!info->first_span_mono_ns || bs[i]->first_ns < info->first_span_mono_ns)
            info->first_span_mono_ns = bs[i]->first_ns;
    }
    if (b->n == 0 && info->linked_spans == 0)
        info->last_span_mono_ns = info->first_span_mono_ns = 0;
    free(bs);
}

void tbt_store_watch_info(tbt_store *s, tbt_watch *w, tbt_watch_info *info)
{
    pthread_mutex_lock(&s->mu);
    info_of(s, bucket_find(s, w->trace_id), 4, info);
    pthread_mutex_unlock(&s->mu);
}

bool tbt_store_wait(tbt_store *s, tbt_watch *w, uint64_t *version, uint64_t deadline)
{
    pthread_mutex_lock(&s->mu);
    bool got = false;
    for (;;) {
        bucket *b = bucket_find(s, w->trace_id);
        if (b && b->version != *version) {
            *version = b->version;
            got = true;
            break;
        }
        uint64_t now = tbt_now_mono_ns();
        if (now >= deadline)
            break;
        struct timespec ts = {(time_t)(deadline / 1000000000ull), (long)(deadline % 1000000000ull)};
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return got;
}

tbt_trace *tbt_store_snapshot(tbt_store *s, tbt_watch *w, unsigned link_depth, tbt_watch_info *info)
{
    tbt_trace *t = tbt_trace_new();
    tbt_import memo = {0};
    pthread_mutex_lock(&s->mu);
    bucket *root = bucket_find(s, w->trace_id);
    if (root) {
        bucket **bs;
        size_t nb = collect(s, root, link_depth, &bs);
        for (size_t i = 0; i < nb; i++)
            for (size_t k = 0; k < bs[i]->n; k++)
                tbt_trace_import_span(t, bs[i]->spans[k].s, &memo);
        free(bs);
    }
    if (info)
        info_of(s, root, link_depth, info);
    pthread_mutex_unlock(&s->mu);
    tbt_import_done(&memo);
    tbt_trace_finalize(t, NULL);
    return t;
}

void tbt_store_stats(tbt_store *s, tbt_store_figures *st)
{
    pthread_mutex_lock(&s->mu);
    *st = s->counters;
    st->traces = s->n_buckets;
    st->watched = s->n_watched;
    st->spans = s->spans;
    st->bytes = s->bytes;
    st->batches = s->batches;
    pthread_mutex_unlock(&s->mu);
}
