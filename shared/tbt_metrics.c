/* tbt_metrics.c - the metrics registry and its text exposition (Prometheus
 * text format 0.0.4). */
#include "tbt_metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tbt_config.h"

/* One label set's cell. The cell comes first: tbt_counter * etc. point at
 * the child itself. */
typedef struct child {
    union {
        tbt_counter c;
        tbt_gauge g;
        tbt_histogram h;
    } cell;
    char **values;
    struct child *next;
} child;

typedef struct collector {
    tbt_metric_collect_fn fn;
    void *ud;
    unsigned refs;
    struct collector *next;
} collector;

struct tbt_metric_family {
    tbt_metrics *m;
    tbt_metric_type type;
    char *name, *help;
    char **labels;
    size_t n_labels;
    double *bounds; /* histograms: seconds */
    uint64_t *bounds_ns;
    size_t n_bounds;
    child *children, **tail;
    collector *collectors;
    tbt_metric_family *next;
};

struct tbt_metrics {
    pthread_mutex_t mu;
    tbt_metric_family *families, **tail;
};

struct tbt_metric_sink {
    tbt_metric_family *f;
    tbt_buf *out;
};

static const double default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

/* ---- names ----------------------------------------------------------------------- */
static bool valid_name(const char *s, bool metric)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char ch = *p;
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || (metric && ch == ':');
        if (!alpha && !(p > s && ch >= '0' && ch <= '9'))
            return false;
    }
    /* label names starting with __ are reserved for Prometheus itself */
    return metric || strncmp(s, "__", 2) != 0;
}

/* ---- process figures ---------------------------------------------------------------- */
/* The process's start: /proc/self/stat's starttime (clock ticks after
 * boot) plus the boot time from /proc/stat; now when either is missing. */
static double process_start_seconds(void)
{
    double now = (double)tbt_now_unix_ns() / 1e9;
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return now;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: fields count from
     * the last ')' */
    char *p = strrchr(buf, ')');
    unsigned long long start_ticks = 0;
    if (!p)
        return now;
    p++;
    for (int field = 3; field <= 22 && p; field++) {
        while (*p == ' ')
            p++;
        if (field == 22)
            start_ticks = strtoull(p, NULL, 10);
        p = strchr(p, ' ');
    }
    f = fopen("/proc/stat", "r");
    if (!f)
        return now;
    unsigned long long btime = 0;
    char line[256];
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "btime %llu", &btime) == 1)
            break;
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (!btime || !start_ticks || hz <= 0)
        return now;
    return (double)btime + (double)start_ticks / (double)hz;
}

tbt_metrics *tbt_metrics_new(void)
{
    tbt_metrics *m = tbt_xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->mu, NULL);
    m->tail = &m->families;
    tbt_metric_family *f = tbt_metrics_family(m, TBT_METRIC_GAUGE, "process_start_time_seconds",
                                              "Start time of the process since unix epoch in seconds.", NULL, NULL, 0);
    tbt_gauge_set(tbt_metrics_gauge(f, NULL), process_start_seconds());
    static const char *const version_label[] = {"version", NULL};
    f = tbt_metrics_family(m, TBT_METRIC_GAUGE, "tbt_build_info", "tbt's version; the value is always 1.",
                           version_label, NULL, 0);
    const char *v[] = {TBT_VERSION};
    tbt_gauge_set(tbt_metrics_gauge(f, v), 1);
    return m;
}

static void child_free(child *c, size_t n_labels, tbt_metric_type type)
{
    for (size_t i = 0; i < n_labels; i++)
        free(c->values[i]);
    free(c->values);
    if (type == TBT_METRIC_HISTOGRAM)
        free((void *)c->cell.h.buckets);
    free(c);
}

void tbt_metrics_free(tbt_metrics *m)
{
    if (!m)
        return;
    tbt_metric_family *f = m->families;
    while (f) {
        tbt_metric_family *next = f->next;
        for (child *c = f->children; c;) {
            child *cn = c->next;
            child_free(c, f->n_labels, f->type);
            c = cn;
        }
        for (collector *k = f->collectors; k;) {
            collector *kn = k->next;
            free(k);
            k = kn;
        }
        for (size_t i = 0; i < f->n_labels; i++)
            free(f->labels[i]);
        free(f->labels);
        free(f->bounds);
        free(f->bounds_ns);
        free(f->name);
        free(f->help);
        free(f);
        f = next;
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* ---- families and children ------------------------------------------------------ */
static bool same_shape(const tbt_metric_family *f, tbt_metric_type type, const char *const *labels, size_t n_labels,
                       const double *buckets, size_t n_buckets)
{
    if (f->type != type || f->n_labels != n_labels)
        return false;
    for (size_t i = 0; i < n_labels; i++)
        if (strcmp(f->labels[i], labels[i]) != 0)
            return false;
    if (type != TBT_METRIC_HISTOGRAM)
        return true;
    if (f->n_bounds != n_buckets)
        return false;
    for (size_t i = 0; i < n_buckets; i++)
        if (f->bounds[i] != buckets[i])
            return false;
    return true;
}

static child *child_get(tbt_metric_family *f, const char *const *values);

tbt_metric_family *tbt_metrics_family(tbt_metrics *m, tbt_metric_type type, const char *name, const char *help,
                                      const char *const *labels, const double *buckets, size_t n_buckets)
{
    if (!m || !valid_name(name, true))
        return NULL;
    size_t n_labels = 0;
    while (labels && labels[n_labels]) {
        if (!valid_name(labels[n_labels], false) || (type == TBT_METRIC_HISTOGRAM && !strcmp(labels[n_labels], "le")))
            return NULL;
        n_labels++;
    }
    if (type == TBT_METRIC_HISTOGRAM && !buckets) {
        buckets = default_buckets;
        n_buckets = TBT_ARRAY_LEN(default_buckets);
    }
    if (type == TBT_METRIC_HISTOGRAM) {
        for (size_t i = 0; i < n_buckets; i++)
            if (!(buckets[i] >= 0) || !isfinite(buckets[i]) || (i && buckets[i] <= buckets[i - 1]))
                return NULL;
    } else {
        n_buckets = 0;
    }
    pthread_mutex_lock(&m->mu);
    tbt_metric_family *f;
    for (f = m->families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            break;
    if (f) {
        if (!same_shape(f, type, labels, n_labels, buckets, n_buckets))
            f = NULL;
        pthread_mutex_unlock(&m->mu);
        return f;
    }
    f = tbt_xcalloc(1, sizeof(*f));
    f->m = m;
    f->type = type;
    f->name = tbt_xstrdup(name);
    f->help = tbt_xstrdup(help ? help : "");
    f->n_labels = n_labels;
    f->labels = tbt_xcalloc(n_labels ? n_labels : 1, sizeof(char *));
    for (size_t i = 0; i < n_labels; i++)
        f->labels[i] = tbt_xstrdup(labels[i]);
    if (n_buckets) {
        f->n_bounds = n_buckets;
        f->bounds = tbt_xcalloc(n_buckets, sizeof(double));
        f->bounds_ns = tbt_xcalloc(n_buckets, sizeof(uint64_t));
        for (size_t i = 0; i < n_buckets; i++) {
            f->bounds[i] = buckets[i];
            double ns = buckets[i] * 1e9;
            f->bounds_ns[i] = ns >= 1.8e19 ? UINT64_MAX : (uint64_t)llround(ns);
        }
    }
    f->tail = &f->children;
    *m->tail = f;
    m->tail = &f->next;
    if (!n_labels)
        child_get(f, NULL);
    pthread_mutex_unlock(&m->mu);
    return f;
}

/* Called with the registry locked. */
static child *child_get(tbt_metric_family *f, const char *const *values)
{
    for (child *c = f->children; c; c = c->next) {
        size_t i = 0;
        while (i < f->n_labels && strcmp(c->values[i], values[i]) == 0)
            i++;
        if (i == f->n_labels)
            return c;
    }
    child *c = tbt_xcalloc(1, sizeof(*c));
    c->values = tbt_xcalloc(f->n_labels ? f->n_labels : 1, sizeof(char *));
    for (size_t i = 0; i < f->n_labels; i++)
        c->values[i] = tbt_xstrdup(values[i] ? values[i] : "");
    if (f->type == TBT_METRIC_HISTOGRAM) {
        c->cell.h.bounds_ns = f->bounds_ns;
        c->cell.h.n_bounds = f->n_bounds;
        c->cell.h.buckets = tbt_xcalloc(f->n_bounds + 1, sizeof(_Atomic uint64_t));
    }
    *f->tail = c;
    f->tail = &c->next;
    return c;
}

static child *child_of(tbt_metric_family *f, tbt_metric_type type, const char *const *values)
{
    if (!f || f->type != type || (f->n_labels && !values))
        return NULL;
    pthread_mutex_lock(&f->m->mu);
    child *c = child_get(f, values);
    pthread_mutex_unlock(&f->m->mu);
    return c;
}

tbt_counter *tbt_metrics_counter(tbt_metric_family *f, const char *const *values)
{
    child *c = child_of(f, TBT_METRIC_COUNTER, values);
    return c ? &c->cell.c : NULL;
}

tbt_gauge *tbt_metrics_gauge(tbt_metric_family *f, const char *const *values)
{
    child *c = child_of(f, TBT_METRIC_GAUGE, values);
    return c ? &c->cell.g : NULL;
}

tbt_histogram *tbt_metrics_histogram(tbt_metric_family *f, const char *const *values)
{
    child *c = child_of(f, TBT_METRIC_HISTOGRAM, values);
    return c ? &c->cell.h : NULL;
}

/* ---- updates ------------------------------------------------------------------------ */
static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

void tbt_gauge_set(tbt_gauge *g, double v)
{
    if (g)
        atomic_store_explicit(&g->bits, dbits(v), memory_order_relaxed);
}

void tbt_gauge_add(tbt_gauge *g, double d)
{
    if (!g)
        return;
    uint64_t old = atomic_load_explicit(&g->bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&g->bits, &old, dbits(bitsd(old) + d), memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

double tbt_gauge_get(tbt_gauge *g)
{
    return g ? bitsd(atomic_load_explicit(&g->bits, memory_order_relaxed)) : 0;
}

void tbt_histogram_observe_ns(tbt_histogram *h, uint64_t ns)
{
    if (!h)
        return;
    size_t i = 0;
    while (i < h->n_bounds && ns > h->bounds_ns[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

/* ---- collectors ----------------------------------------------------------------------- */
int tbt_metrics_collector_add(tbt_metric_family *f, tbt_metric_collect_fn fn, void *ud)
{
    if (!f || !fn || f->type == TBT_METRIC_HISTOGRAM)
        return -EINVAL;
    pthread_mutex_lock(&f->m->mu);
    collector **pp = &f->collectors;
    while (*pp && !((*pp)->fn == fn && (*pp)->ud == ud))
        pp = &(*pp)->next;
    if (*pp) {
        (*pp)->refs++;
    } else {
        collector *k = tbt_xcalloc(1, sizeof(*k));
        k->fn = fn;
        k->ud = ud;
        k->refs = 1;
        *pp = k;
    }
    pthread_mutex_unlock(&f->m->mu);
    return 0;
}

void tbt_metrics_collector_remove(tbt_metric_family *f, tbt_metric_collect_fn fn, void *ud)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->m->mu);
    for (collector **pp = &f->collectors; *pp; pp = &(*pp)->next) {
        collector *k = *pp;
        if (k->fn != fn || k->ud != ud)
            continue;
        if (--k->refs == 0) {
            *pp = k->next;
            free(k);
        }
        break;
    }
    pthread_mutex_unlock(&f->m->mu);
}

/* ---- exposition ------------------------------------------------------------------------- */
void tbt_metrics_escape_label(tbt_buf *b, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            tbt_buf_puts(b, "\\\\");
        else if (*p == '"')
            tbt_buf_puts(b, "\\\"");
        else if (*p == '\n')
            tbt_buf_puts(b, "\\n");
        else
            tbt_buf_putc(b, *p);
    }
}

static void escape_help(tbt_buf *b, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            tbt_buf_puts(b, "\\\\");
        else if (*p == '\n')
            tbt_buf_puts(b, "\\n");
        else
            tbt_buf_putc(b, *p);
    }
}

void tbt_metrics_format_value(tbt_buf *b, double v)
{
    if (isnan(v)) {
        tbt_buf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        tbt_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        tbt_buf_printf(b, "%.0f", v);
        return;
    }
    char s[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof(s), "%.*g", prec, v);
        if (strtod(s, NULL) == v)
            break;
    }
    tbt_buf_puts(b, s);
}

/* {a="x",b="y"[,le="..."]} or nothing. */
static void labels_out(tbt_buf *b, const tbt_metric_family *f, const char *const *values, const char *le)
{
    if (!f->n_labels && !le)
        return;
    tbt_buf_putc(b, '{');
    for (size_t i = 0; i < f->n_labels; i++) {
        tbt_buf_printf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
        tbt_metrics_escape_label(b, values[i] ? values[i] : "");
        tbt_buf_putc(b, '"');
    }
    if (le)
        tbt_buf_printf(b, "%sle=\"%s\"", f->n_labels ? "," : "", le);
    tbt_buf_putc(b, '}');
}

void tbt_metric_sink_add(tbt_metric_sink *s, const char *const *values, double v)
{
    if (!s || (s->f->n_labels && !values))
        return;
    tbt_buf_puts(s->out, s->f->name);
    labels_out(s->out, s->f, values, NULL);
    tbt_buf_putc(s->out, ' ');
    tbt_metrics_format_value(s->out, v);
    tbt_buf_putc(s->out, '\n');
}

static void histogram_out(tbt_buf *b, const tbt_metric_family *f, const child *c)
{
    const char *const *values = (const char *const *)c->values;
    uint64_t cum = 0;
    for (size_t i = 0; i <= f->n_bounds; i++) {
        cum += atomic_load_explicit(&c->cell.h.buckets[i], memory_order_relaxed);
        tbt_buf le = TBT_BUF_INIT;
        if (i < f->n_bounds)
            tbt_metrics_format_value(&le, f->bounds[i]);
        else
            tbt_buf_puts(&le, "+Inf");
        tbt_buf_printf(b, "%s_bucket", f->name);
        labels_out(b, f, values, tbt_buf_cstr(&le));
        tbt_buf_printf(b, " %llu\n", (unsigned long long)cum);
        tbt_buf_free(&le);
    }
    uint64_t sum_ns = atomic_load_explicit(&c->cell.h.sum_ns, memory_order_relaxed);
    tbt_buf_printf(b, "%s_sum", f->name);
    labels_out(b, f, values, NULL);
    tbt_buf_putc(b, ' ');
    tbt_metrics_format_value(b, (double)sum_ns / 1e9);
    tbt_buf_printf(b, "\n%s_count", f->name);
    labels_out(b, f, values, NULL);
    tbt_buf_printf(b, " %llu\n", (unsigned long long)cum);
}

void tbt_metrics_expose(tbt_metrics *m, tbt_buf *out)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&m->mu);
    for (tbt_metric_family *f = m->families; f; f = f->next) {
        tbt_buf_printf(out, "# HELP %s ", f->name);
        escape_help(out, f->help);
        tbt_buf_printf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
        /* a family without labels fed by collectors: their samples only */
        for (child *c = f->collectors && !f->n_labels ? NULL : f->children; c; c = c->next) {
            const char *const *values = (const char *const *)c->values;
            switch (f->type) {
            case TBT_METRIC_COUNTER:
                tbt_buf_puts(out, f->name);
                labels_out(out, f, values, NULL);
                tbt_buf_printf(out, " %llu\n", (unsigned long long)atomic_load_explicit(&c->cell.c.v,
                                                                                         memory_order_relaxed));
                break;
            case TBT_METRIC_GAUGE:
                tbt_buf_puts(out, f->name);
                labels_out(out, f, values, NULL);
                tbt_buf_putc(out, ' ');
                tbt_metrics_format_value(out, tbt_gauge_get((tbt_gauge *)&c->cell.g));
                tbt_buf_putc(out, '\n');
                break;
            case TBT_METRIC_HISTOGRAM:
                histogram_out(out, f, c);
                break;
            }
        }
        tbt_metric_sink sink = {f, out};
        for (collector *k = f->collectors; k; k = k->next)
            k->fn(k->ud, &sink);
    }
    pthread_mutex_unlock(&m->mu);
}
