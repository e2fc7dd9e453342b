/*
 * bench_ingest.c - OTLP/HTTP protobuf ingest, beside the transport's limit.
 *
 * wrk (Debian's) posts ExportTraceServiceRequests of 100 realistic spans
 * (distinct trace ids, rotating over 2,000 prepared bodies) over loopback:
 *  1. to the agent's OTLP/HTTP receiver (decode, de-duplicate, store);
 *  2. to a libmicrohttpd handler with the same settings that reads the body
 *     and discards it (what the HTTP transport alone costs).
 * Both servers run in this process with the same worker threads (1 unless
 * given); the bench reports
 * requests/s and spans/s, and spans per CPU-second of this process (the
 * server side: wrk is a separate process), plus memory per retained span.
 *
 * Usage: bench_ingest [SECONDS] [CONNECTIONS] [THREADS]
 */
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tbt_metrics_http.h"
#include "tbt_receiver.h"

#define BODIES 2000
#define SPANS_PER_BODY 100

typedef struct discard_state {
    size_t bytes;
} discard_state;

static enum MHD_Result discard(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *data, size_t *size, void **state)
{
    TBT_UNUSED(cls);
    TBT_UNUSED(url);
    TBT_UNUSED(method);
    TBT_UNUSED(version);
    TBT_UNUSED(data);
    if (!*state) {
        *state = (void *)1;
        return MHD_YES;
    }
    if (*size) {
        *size = 0; /* read and drop */
        return MHD_YES;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/x-protobuf");
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* Run wrk against port; returns requests/s (0 on failure). */
static double run_wrk(const char *dir, uint16_t port, int seconds, int conns, double *cpu)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "wrk -t1 -c%d -d%ds -s %s/post.lua http://127.0.0.1:%u/v1/traces 2>&1", conns, seconds,
             dir, port);
    double c0 = cpu_s();
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    char line[512];
    double rps = 0;
    long non2xx = 0;
    while (fgets(line, sizeof(line), p)) {
        if (strncmp(line, "Requests/sec:", 13) == 0)
            rps = strtod(line + 13, NULL);
        if (strstr(line, "Non-2xx"))
            non2xx = strtol(strchr(line, ':') + 1, NULL, 10);
    }
    pclose(p);
    *cpu = cpu_s() - c0;
    if (non2xx)
        printf("  (%ld non-2xx responses)\n", non2xx);
    return rps;
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 5;
    int conns = argc > 2 ? atoi(argv[2]) : 8;
    unsigned threads = argc > 3 ? (unsigned)atoi(argv[3]) : 1;
    if (system("command -v wrk >/dev/null") != 0) {
        fprintf(stderr, "bench_ingest needs wrk (apt-get install wrk)\n");
        return 1;
    }
    char dir[] = "/tmp/tbt-ingest-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    /* bodies with distinct trace ids: the generator's seed picks the ids */
    size_t total_bytes = 0;
    for (int i = 0; i < BODIES; i++) {
        tbt_trace *t = tbt_otlp_generate(SPANS_PER_BODY, (unsigned)i + 1);
        tbt_buf b = TBT_BUF_INIT;
        tbt_otlp_encode(t, TBT_OTLP_PROTOBUF, &b);
        char path[256];
        snprintf(path, sizeof(path), "%s/b%d.pb", dir, i);
        FILE *f = fopen(path, "wb");
        fwrite(b.data, 1, b.len, f);
        fclose(f);
        total_bytes += b.len;
        tbt_buf_free(&b);
        tbt_trace_free(t);
    }
    char lua[256];
    snprintf(lua, sizeof(lua), "%s/post.lua", dir);
    FILE *f = fopen(lua, "w");
    fprintf(f,
            "local bodies = {}\n"
            "for i = 0, %d do local h = io.open('%s/b' .. i .. '.pb', 'rb'); bodies[i + 1] = h:read('*a'); h:close() end\n"
            "local n = 0\n"
            "request = function()\n"
            "  n = n %% #bodies + 1\n"
            "  return wrk.format('POST', nil, {['Content-Type'] = 'application/x-protobuf'}, bodies[n])\n"
            "end\n",
            BODIES - 1, dir);
    fclose(f);
    printf("requests: %d spans each, %.0f bytes on average, %d connections, %d s per run, %u server thread%s\n",
           SPANS_PER_BODY, (double)total_bytes / BODIES, conns, seconds, threads, threads == 1 ? "" : "s");

    /* a 64 MiB store holds ~800 of the 2,000 bodies: rotating through them
     * keeps it evicting and storing (steady state), not de-duplicating */
    tbt_store_limits lim = tbt_store_default_limits();
    lim.max_bytes = 64u * 1024 * 1024;
    tbt_store *store = tbt_store_new(&lim);
    tbt_receiver_opts ro = {.bind_addr = "127.0.0.1", .port = 0, .threads = threads};
    /* BENCH_METRICS=1: count for /metrics as `tbt agent --metrics` does */
    tbt_metrics *metrics = NULL;
    tbt_receiver_metrics rmet;
    if (getenv("BENCH_METRICS") && atoi(getenv("BENCH_METRICS"))) {
        metrics = tbt_metrics_new();
        tbt_receiver_metrics_init(&rmet, metrics, "http");
        ro.metrics = &rmet;
        printf("metrics: on\n");
    }
    tbt_http_receiver *rcv;
    tbt_error err = TBT_ERROR_INIT;
    if (tbt_http_receiver_start(store, &ro, &rcv, &err) != 0) {
        fprintf(stderr, "receiver: %s\n", err.msg);
        return 1;
    }
    double cpu;
    double rps = run_wrk(dir, tbt_http_receiver_port(rcv), seconds, conns, &cpu);
    double spans_s = rps * SPANS_PER_BODY;
    double spans_cpu = spans_s * seconds / (cpu > 0 ? cpu : 1);
    tbt_store_figures st;
    tbt_store_stats(store, &st);
    printf("tbt OTLP/HTTP receiver: %.0f requests/s = %.0f spans/s; server CPU %.2f s over %d s = %.0f spans per "
           "CPU-second\n",
           rps, spans_s, cpu, seconds, spans_cpu);
    printf("  store: %llu spans stored, %llu re-sends dropped, %llu traces evicted; %zu spans retained in %zu bytes = "
           "%.0f bytes per retained span\n",
           (unsigned long long)st.ingested_spans, (unsigned long long)st.duplicate_spans,
           (unsigned long long)st.evicted_traces, st.spans, st.bytes,
           st.spans ? (double)st.bytes / (double)st.spans : 0.0);
    tbt_http_receiver_stop(rcv);
    tbt_store_free(store);
    tbt_metrics_free(metrics);

    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, discard,
                                            NULL, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_THREAD_POOL_SIZE,
                                            threads, MHD_OPTION_END);
    uint16_t dport = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    double dcpu;
    double drps = run_wrk(dir, dport, seconds, conns, &dcpu);
    double dspans = drps * SPANS_PER_BODY;
    printf("discarding handler (transport limit): %.0f requests/s = %.0f spans/s; server CPU %.2f s = %.0f spans per "
           "CPU-second\n",
           drps, dspans, dcpu, dspans * seconds / (dcpu > 0 ? dcpu : 1));
    MHD_stop_daemon(d);
    printf("tbt ingest is %.0f%% of the transport limit (wall); goal >= 1M spans/s/core and >= 50%%\n",
           dspans > 0 ? 100.0 * spans_s / dspans : 0.0);
    char rm[300];
    snprintf(rm, sizeof(rm), "rm -rf %s", dir);
    if (system(rm) != 0)
        return 1;
    return 0;
}
