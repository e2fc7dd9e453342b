/*
 * bench_lint.c - analyzer speed on a large trace.
 *
 * Lints a generated trace (tbt_otlp_generate: HTTP, database, messaging and
 * internal spans over five services) with the default configuration (every
 * rule of the three plugins on) and prints spans per second, best of N runs,
 * beside the findings each rule produced, so a change that makes a rule
 * cheaper by checking less shows up.
 *
 * Usage: bench_lint [SPANS] [RUNS]
 */
#include <stdlib.h>

#include "tbt_analyzer.h"
#include "tbt_otlp.h"

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (n == 0 || runs <= 0) {
        fprintf(stderr, "usage: bench_lint [SPANS] [RUNS]\n");
        return 1;
    }
    tbt_trace *t = tbt_otlp_generate(n, 42);
    tbt_analyzer_config *cfg = tbt_analyzer_config_new();
    tbt_arena *a = tbt_arena_new();
    uint64_t best = UINT64_MAX;
    tbt_lint_result res;
    for (int i = 0; i < runs; i++) {
        tbt_arena_reset(a);
        uint64_t t0 = tbt_now_mono_ns();
        tbt_analyzer_run(cfg, t, a, &res);
        uint64_t dt = tbt_now_mono_ns() - t0;
        if (dt < best)
            best = dt;
    }
    size_t spans = tbt_trace_span_count(t);
    printf("lint: %zu spans, best of %d: %.2f ms, %.0f spans/s, score %d\n", spans, runs, (double)best / 1e6,
           (double)spans / ((double)best / 1e9), res.score);
    for (size_t i = 0; i < res.n_rules; i++)
        printf("  %-22s %zu spans\n", res.rules[i].id, res.rules[i].n_findings_total);
    tbt_arena_free(a);
    tbt_analyzer_config_free(cfg);
    tbt_trace_free(t);
    return 0;
}
