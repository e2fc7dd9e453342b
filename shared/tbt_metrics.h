/*
 * tbt_metrics.h - a small Prometheus metrics registry: counters, gauges and
 * histograms (fixed buckets, in seconds), each family with HELP, TYPE and a
 * fixed set of label names, exposed in the text format 0.0.4
 * (docs/metrics.md lists every family tbt registers).
 *
 * Updates are lock-free: a labelled child (one cell per label values) is
 * created once through the registry (locked) and cached by the caller, who
 * then updates it with relaxed C11 atomics: a counter add is one atomic
 * add, a histogram observation two (its bucket and its sum). Families and
 * children live until tbt_metrics_free; their pointers never move.
 *
 * Values computed at scrape time (store occupancy, Kafka lag) come from
 * collectors: a callback called during exposition, under the registry's
 * lock, that adds samples with any label values. It must not call back into
 * the registry.
 *
 * Threads: every function here is thread-safe. Exposition may run on one
 * thread (the HTTP endpoint) while others update, create children, or add
 * and remove collectors.
 */
#ifndef TBT_METRICS_H
#define TBT_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "tbt_common.h"

typedef enum tbt_metric_type { TBT_METRIC_COUNTER, TBT_METRIC_GAUGE, TBT_METRIC_HISTOGRAM } tbt_metric_type;

typedef struct tbt_metrics tbt_metrics;
typedef struct tbt_metric_family tbt_metric_family;

/* The cells, public so that updates inline to one atomic operation. */
typedef struct tbt_counter {
    _Atomic uint64_t v;
} tbt_counter;

typedef struct tbt_gauge {
    _Atomic uint64_t bits; /* a double's bits */
} tbt_gauge;

typedef struct tbt_histogram {
    const uint64_t *bounds_ns; /* the family's upper bounds, in ns, ascending */
    size_t n_bounds;
    _Atomic uint64_t *buckets; /* n_bounds + 1 (the last: +Inf), not cumulative */
    _Atomic uint64_t sum_ns;
} tbt_histogram;

/* A registry with process_start_time_seconds and tbt_build_info{version}
 * (TBT_VERSION) already in it. */
tbt_metrics *tbt_metrics_new(void);
/* Frees every family and child (takes NULL). No update may follow. */
void tbt_metrics_free(tbt_metrics *m);

/* The family `name`, created on first use: a family registered again with
 * the same type, label names (and buckets) is returned as is, so several
 * parts of the process (two embedded agents) can share it. labels: label
 * names, NULL-terminated (NULL: none). buckets: histogram upper bounds in
 * seconds, ascending, +Inf implied (NULL: the default, 5 ms to 60 s).
 * Returns NULL for an invalid name or label name, or a clash with an
 * existing family of that name: programming errors. A family without
 * labels has its one child (value 0) from the start. */
tbt_metric_family *tbt_metrics_family(tbt_metrics *m, tbt_metric_type type, const char *name, const char *help,
                                      const char *const *labels, const double *buckets, size_t n_buckets);

/* The child with these label values (as many as the family has label
 * names; NULL for none), created on first use. Values may hold any bytes
 * but NUL; they are escaped on exposition. NULL when the family is of
 * another type. Cache the pointer: the look-up takes the registry's lock. */
tbt_counter *tbt_metrics_counter(tbt_metric_family *f, const char *const *values);
tbt_gauge *tbt_metrics_gauge(tbt_metric_family *f, const char *const *values);
tbt_histogram *tbt_metrics_histogram(tbt_metric_family *f, const char *const *values);

/* ---- updates: lock-free, NULL-safe (a NULL cell counts nothing) ---------- */
static inline void tbt_counter_add(tbt_counter *c, uint64_t n)
{
    if (c)
        atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

static inline uint64_t tbt_counter_get(tbt_counter *c)
{
    return c ? atomic_load_explicit(&c->v, memory_order_relaxed) : 0;
}

void tbt_gauge_set(tbt_gauge *g, double v);
void tbt_gauge_add(tbt_gauge *g, double d); /* negative to subtract */
double tbt_gauge_get(tbt_gauge *g);

/* One observation of a duration in nanoseconds. */
void tbt_histogram_observe_ns(tbt_histogram *h, uint64_t ns);

/* ---- collectors: values computed at scrape time ---------------------------- */
typedef struct tbt_metric_sink tbt_metric_sink;
/* Add a sample (counter or gauge family) with these label values. */
void tbt_metric_sink_add(tbt_metric_sink *s, const char *const *values, double v);
typedef void (*tbt_metric_collect_fn)(void *ud, tbt_metric_sink *s);

/* Call fn(ud, sink) at every exposition of f (a counter or gauge family).
 * The same (fn, ud) added twice is counted, not called twice: two embedded
 * agents sharing one store register its figures once each, and the store
 * is reported once. Returns 0, or -EINVAL for a histogram family. */
int tbt_metrics_collector_add(tbt_metric_family *f, tbt_metric_collect_fn fn, void *ud);
/* Undo one tbt_metrics_collector_add; when it returns, fn is not running
 * and will not be called again (for the last reference). */
void tbt_metrics_collector_remove(tbt_metric_family *f, tbt_metric_collect_fn fn, void *ud);

/* ---- exposition ---------------------------------------------------------------- */
#define TBT_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Append every family, in registration order, in the text format 0.0.4:
 * # HELP / # TYPE, then one line per child in creation order (collector
 * samples after them); histograms as cumulative _bucket{le=...} lines
 * ending with +Inf, then _sum and _count. */
void tbt_metrics_expose(tbt_metrics *m, tbt_buf *out);

/* Helpers, exposed for tests: a label value (\\, \", \n escaped) and a
 * sample value (shortest text that reads back exactly; +Inf, -Inf, NaN). */
void tbt_metrics_escape_label(tbt_buf *b, const char *v);
void tbt_metrics_format_value(tbt_buf *b, double v);

#endif
