/*
 * tbt_metrics_http.h - the /metrics endpoint of `tbt agent` and `tbt run
 * --metrics ADDR:PORT`, and the agent-side families the receivers and the
 * store share (docs/metrics.md).
 *
 *   GET /metrics  200, the registry in the Prometheus text format 0.0.4
 *   GET /healthz  200 "ok"
 *   other paths   404; other methods on those paths 405 (Allow: GET, HEAD)
 *
 * libmicrohttpd, one internal thread: scrapes are rare and each is one
 * pass over the registry.
 */
#ifndef TBT_METRICS_HTTP_H
#define TBT_METRICS_HTTP_H

#include "tbt_metrics.h"
#include "tbt_receiver.h"

typedef struct tbt_metrics_http tbt_metrics_http;

/* Serve m on bind_addr (NULL: 127.0.0.1; IPv4 or IPv6) and port (0: a free
 * one, see tbt_metrics_http_port). m must outlive the server.
 * Errors: -EINVAL an address that does not resolve; -errno when the port
 * cannot be bound. */
int tbt_metrics_http_start(tbt_metrics *m, const char *bind_addr, uint16_t port, tbt_metrics_http **out,
                           tbt_error *err);
uint16_t tbt_metrics_http_port(const tbt_metrics_http *h);
/* Stop serving (waits for a scrape in progress). Takes NULL. */
void tbt_metrics_http_stop(tbt_metrics_http *h);

/* The families a receiver counts into (receiver = "http", "grpc" or
 * "relay"): tbt_spans_ingested_total, tbt_spans_rejected_total and
 * tbt_otlp_requests_rejected_total with this receiver's label, the
 * children created here once. */
void tbt_receiver_metrics_init(tbt_receiver_metrics *rm, tbt_metrics *m, const char *receiver);

/* The store's occupancy (tbt_store_bytes, _spans, _traces,
 * _watched_traces, _limit_bytes) and tbt_store_evicted_traces_total, read
 * at scrape time. Registering one store twice reports it once; each
 * register needs its unregister before the store is freed. */
void tbt_metrics_store_register(tbt_metrics *m, tbt_store *s, const tbt_store_limits *lim);
void tbt_metrics_store_unregister(tbt_metrics *m, tbt_store *s);

#endif
