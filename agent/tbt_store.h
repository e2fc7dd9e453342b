/*
 * tbt_store.h - the agent's trace store: spans received by the OTLP
 * receivers, indexed by trace id, until a job's verdict no longer needs them.
 *
 * Threads: tbt_store_ingest is called concurrently by the receivers (HTTP
 * thread pool, gRPC loop); watchers wait on other threads. Every function
 * here is thread-safe. Decoding happens outside the store's lock.
 *
 * Memory: a request is decoded once into a batch; the spans of a trace are
 * references into batches (no copy at ingest). A batch is freed when no
 * retained trace refers to it. tbt_store_snapshot copies a watched trace
 * (and the traces that link into it) into a new, finalized tbt_trace for
 * evaluation.
 *
 * Bounds and policy: the store holds at most max_bytes of batches and
 * max_spans spans. When a request would exceed them, unwatched traces are
 * evicted oldest first; if that is not enough, the request is refused with
 * -EBUSY (HTTP 429/503, gRPC UNAVAILABLE: the exporter retries), so a
 * watched trace never loses a span silently. A trace may hold at most
 * max_spans_per_trace spans: spans beyond it are refused (counted as
 * rejected: OTLP partial success) and the trace is marked overflowed, which
 * the watcher's verdict reports. Spans re-sent by an exporter (same trace id
 * and span id) are dropped as duplicates.
 * Unwatched traces are kept for retention_ns after their last span, so that
 * a trace that links to a watched one can still be pulled in.
 */
#ifndef TBT_STORE_H
#define TBT_STORE_H

#include "tbt_otlp.h"

typedef struct tbt_store_limits {
    size_t max_bytes;           /* decoded batch bytes; default 512 MiB */
    size_t max_spans;           /* spans held; default 2,000,000 */
    size_t max_spans_per_trace; /* default 1,000,000 */
    uint64_t retention_ns;      /* unwatched traces after their last span; default 120 s */
} tbt_store_limits;

tbt_store_limits tbt_store_default_limits(void);

typedef struct tbt_store tbt_store;

tbt_store *tbt_store_new(const tbt_store_limits *lim);
void tbt_store_free(tbt_store *s);

typedef struct tbt_ingest_result {
    size_t accepted;       /* spans stored */
    size_t duplicates;     /* spans already stored (re-sends), dropped silently */
    size_t rejected;       /* spans refused (invalid ids): OTLP partial success */
    char reason[256];      /* why spans were rejected, "" when none */
    uint32_t retry_after_s; /* for -EBUSY: a hint for Retry-After */
} tbt_ingest_result;

/* Decode an ExportTraceServiceRequest (fmt) and store its spans.
 * Returns 0 (possibly with res->rejected > 0: partial success);
 * -EINVAL malformed request (err says why; HTTP 400 / gRPC INVALID_ARGUMENT);
 * -E2BIG a limit of the request or of a trace was exceeded (HTTP 413 /
 *  gRPC RESOURCE_EXHAUSTED); -EBUSY the store is full (HTTP 429 or 503 with
 *  Retry-After / gRPC UNAVAILABLE). On error nothing of the request is kept. */
int tbt_store_ingest(tbt_store *s, tbt_otlp_format fmt, const uint8_t *buf, size_t len, tbt_ingest_result *res,
                     tbt_error *err);

/* Store the spans of an already-decoded trace (t not finalized; its spans
 * have non-zero ids), as tbt_store_ingest stores a request: duplicates of
 * stored spans are dropped, so polling a trace backend again adds only the
 * new spans. Takes t, also on error. Never relayed. Returns as
 * tbt_store_ingest (-EBUSY when the store is full). */
int tbt_store_ingest_trace(tbt_store *s, tbt_trace *t, tbt_ingest_result *res, tbt_error *err);

/* The span relay (docs/distributed.md): when set, fn is called after a
 * request was stored that holds spans of traces nobody here watches, with
 * the request as received (decompressed) and the ids (16 bytes each) of
 * those traces and of the traces their spans link to. It runs on the
 * receiver's thread, outside the store's lock, and must not block long. */
typedef void (*tbt_store_relay_fn)(void *ud, tbt_otlp_format fmt, const uint8_t *buf, size_t len,
                                   const uint8_t *trace_ids, size_t n_ids);
void tbt_store_set_relay(tbt_store *s, tbt_store_relay_fn fn, void *ud);
/* Store a request relayed by another agent: as tbt_store_ingest, but never
 * relayed again. */
int tbt_store_ingest_relayed(tbt_store *s, tbt_otlp_format fmt, const uint8_t *buf, size_t len,
                             tbt_ingest_result *res, tbt_error *err);
/* Whether any of the n trace ids (16 bytes each) is watched here. */
bool tbt_store_watches_any(tbt_store *s, const uint8_t *ids, size_t n);

/* Interest in one trace: its spans are retained until unwatched, and
 * waiters are woken when spans of it (or of a trace linking to it) arrive. */
typedef struct tbt_watch tbt_watch;

tbt_watch *tbt_store_watch(tbt_store *s, const uint8_t trace_id[16]);
/* The trace becomes an ordinary retained trace (evictable). Frees w. */
void tbt_store_unwatch(tbt_store *s, tbt_watch *w);

/* Block until spans arrived for w after *version (then *version is updated
 * and true returned), or until the monotonic deadline (false). */
bool tbt_store_wait(tbt_store *s, tbt_watch *w, uint64_t *version, uint64_t deadline_mono_ns);

typedef struct tbt_watch_info {
    size_t spans;              /* spans of the watched trace */
    size_t linked_traces;      /* traces pulled in through span links */
    size_t linked_spans;
    uint64_t last_span_mono_ns; /* arrival of the newest span (0: none yet) */
    uint64_t first_span_mono_ns;
    bool overflow;             /* spans were refused: over max_spans_per_trace */
} tbt_watch_info;

/* A new finalized trace with the watched trace's spans and those of traces
 * that link to it, transitively up to link_depth hops (0: none). info (may
 * be NULL) describes what was copied. Caller frees the trace. */
tbt_trace *tbt_store_snapshot(tbt_store *s, tbt_watch *w, unsigned link_depth, tbt_watch_info *info);
void tbt_store_watch_info(tbt_store *s, tbt_watch *w, tbt_watch_info *info);

typedef struct tbt_store_stats {
    size_t traces, watched, spans, bytes, batches;
    uint64_t ingested_spans, duplicate_spans, rejected_spans;
    uint64_t refused_requests, evicted_traces;
} tbt_store_figures;

void tbt_store_stats(tbt_store *s, tbt_store_figures *st);

/* Drop unwatched traces older than the retention (called by ingest too). */
void tbt_store_expire(tbt_store *s, uint64_t now_mono_ns);

#endif
