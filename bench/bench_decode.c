/* bench_decode.c - OTLP decode throughput.
 *
 * Generates a synthetic trace (tbt_otlp_generate), encodes it as protobuf
 * and as OTLP/JSON, then decodes each encoding several times into fresh
 * traces and prints the best and median times, spans/s, bytes per span and
 * the decoded trace's memory per span.
 *
 * Usage: bench_decode [SPANS [RUNS [protobuf|json]]]
 *        (defaults: 100000 spans, 7 runs, both formats) */
#include "tbt_otlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* CPU time of this thread: on a loaded machine it varies less than the
 * wall clock. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void rate(char *out, size_t cap, size_t n, uint64_t ns)
{
    double per_s = ns ? (double)n * 1e9 / (double)ns : 0;
    if (per_s >= 1e6)
        snprintf(out, cap, "%.2fM", per_s / 1e6);
    else
        snprintf(out, cap, "%.1fk", per_s / 1e3);
}

/* Decode buf `runs` times; prints one line; returns the last decoded trace
 * (finalized) for memory figures. */
static tbt_trace *bench(const char *label, tbt_otlp_format fmt, const tbt_buf *buf, size_t n, int runs)
{
    uint64_t *t = calloc((size_t)runs, sizeof(*t));
    uint64_t *c = calloc((size_t)runs, sizeof(*c));
    tbt_otlp_limits lim = tbt_otlp_default_limits();
    tbt_trace *last = NULL;
    for (int r = 0; r < runs; r++) {
        tbt_trace *tr = tbt_trace_new();
        tbt_error err = TBT_ERROR_INIT;
        tbt_otlp_stats st = {0};
        uint64_t c0 = cpu_ns(), t0 = tbt_now_mono_ns();
        int rc = tbt_otlp_decode(tr, fmt, (const uint8_t *)buf->data, buf->len, &lim, &st, &err);
        t[r] = tbt_now_mono_ns() - t0;
        c[r] = cpu_ns() - c0;
        if (rc || st.spans != n) {
            fprintf(stderr, "%s: decode failed (%d): %s\n", label, rc, err.msg ? err.msg : "wrong span count");
            exit(1);
        }
        tbt_otlp_stats_clear(&st);
        if (r == runs - 1) {
            last = tr;
        } else {
            tbt_trace_free(tr);
        }
    }
    qsort(t, (size_t)runs, sizeof(*t), cmp_u64);
    qsort(c, (size_t)runs, sizeof(*c), cmp_u64);
    char r1[32];
    rate(r1, sizeof(r1), n, t[0]);
    printf("otlp %s decode: %zu spans in %.1f ms = %s spans/s (best of %d; median %.1f ms; %.0f MB/s; "
           "cpu best %.1f ms, median %.1f ms)\n",
           label, n, ms(t[0]), r1, runs, ms(t[runs / 2]), (double)buf->len / ((double)t[0] / 1e9) / 1e6, ms(c[0]),
           ms(c[runs / 2]));
    free(t);
    free(c);
    return last;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 100000;
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    const char *only = argc > 3 ? argv[3] : "";
    if (n == 0 || runs < 1) {
        fprintf(stderr, "usage: bench_decode [SPANS [RUNS]]\n");
        return 2;
    }

    uint64_t t0 = tbt_now_mono_ns();
    tbt_trace *t = tbt_otlp_generate(n, 1);
    uint64_t gen_ns = tbt_now_mono_ns() - t0;
    printf("generate: %zu spans in %.1f ms (%zu trace, max depth", n, ms(gen_ns), tbt_trace_id_count(t));
    unsigned depth = 0;
    for (size_t i = 0; i < n; i++)
        if (tbt_trace_span_at(t, i)->depth > depth)
            depth = tbt_trace_span_at(t, i)->depth;
    printf(" %u)\n", depth);

    tbt_buf pb = TBT_BUF_INIT, js = TBT_BUF_INIT;
    t0 = tbt_now_mono_ns();
    tbt_otlp_encode(t, TBT_OTLP_PROTOBUF, &pb);
    uint64_t enc_pb = tbt_now_mono_ns() - t0;
    t0 = tbt_now_mono_ns();
    tbt_otlp_encode(t, TBT_OTLP_JSON, &js);
    uint64_t enc_js = tbt_now_mono_ns() - t0;
    printf("otlp protobuf encoding: %.1f MB = %.0f bytes/span (encoded in %.1f ms)\n", (double)pb.len / 1e6,
           (double)pb.len / (double)n, ms(enc_pb));
    printf("otlp json encoding: %.1f MB = %.0f bytes/span (encoded in %.1f ms)\n", (double)js.len / 1e6,
           (double)js.len / (double)n, ms(enc_js));

    tbt_trace *d = NULL;
    if (strcmp(only, "json") == 0)
        goto json;
    d = bench("protobuf", TBT_OTLP_PROTOBUF, &pb, n, runs);
    size_t mem_decoded = tbt_trace_memory(d);
    t0 = tbt_now_mono_ns();
    tbt_trace_finalize(d, NULL);
    uint64_t fin_ns = tbt_now_mono_ns() - t0;
    size_t mem = tbt_trace_memory(d);
    printf("trace memory: %.1f MB = %.0f bytes/span decoded, %.1f MB = %.0f bytes/span after finalize "
           "(finalize %.1f ms)\n",
           (double)mem_decoded / 1e6, (double)mem_decoded / (double)n, (double)mem / 1e6, (double)mem / (double)n,
           ms(fin_ns));
    tbt_trace_free(d);

json:
    if (strcmp(only, "protobuf") != 0) {
        d = bench("json", TBT_OTLP_JSON, &js, n, runs);
        tbt_trace_free(d);
    }

    tbt_buf_free(&pb);
    tbt_buf_free(&js);
    tbt_trace_free(t);
    return 0;
}
