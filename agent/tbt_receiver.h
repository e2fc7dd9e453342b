/*
 * tbt_receiver.h - the agent's OTLP receivers. Both feed one tbt_store.
 *
 *  - OTLP/HTTP (default port 4318): POST /v1/traces, protobuf
 *    (application/x-protobuf, application/protobuf) or JSON
 *    (application/json), Content-Encoding gzip, keep-alive, HTTP/1.1
 *    (libmicrohttpd, thread pool + epoll).
 *  - OTLP/gRPC (default port 4317): h2c unary
 *    /opentelemetry.proto.collector.trace.v1.TraceService/Export with gzip
 *    message compression (nghttp2 server sessions on one loop thread).
 *
 * Responses follow ../shared/reference/otlp.md (summarised in
 * docs/receivers.md): 200 with an empty ExportTraceServiceResponse, or with
 * partial_success when spans were rejected; 400 + google.rpc.Status on bad
 * data; 413 / RESOURCE_EXHAUSTED over the size limit; 429 or 503 with
 * Retry-After / UNAVAILABLE when the store is full; 415 for an unknown
 * content type; 404/405 for other paths and methods.
 */
#ifndef TBT_RECEIVER_H
#define TBT_RECEIVER_H

#include "tbt_store.h"

/* Where a receiver counts for /metrics (tbt_receiver_metrics_init in
 * tbt_metrics_http.h fills it; NULL members count nothing): one relaxed
 * atomic add per request, not per span. */
struct tbt_counter;
typedef struct tbt_receiver_metrics {
    struct tbt_counter *spans;         /* spans stored */
    struct tbt_counter *spans_partial; /* spans refused in an accepted request (partial success) */
    struct tbt_counter *full, *malformed, *too_large, *unsupported; /* requests refused whole */
} tbt_receiver_metrics;

typedef struct tbt_receiver_opts {
    const char *bind_addr;   /* default "127.0.0.1" */
    uint16_t port;           /* 0 picks a free port (see *_port()) */
    size_t max_body_bytes;   /* after decompression; default 16 MiB */
    unsigned threads;        /* HTTP worker threads; default 2 */
    const tbt_receiver_metrics *metrics; /* NULL: none; must outlive the receiver */
} tbt_receiver_opts;

typedef struct tbt_receiver_stats {
    uint64_t requests, ok, partial, bad_request, too_large, busy, unsupported;
    uint64_t bytes_in;
} tbt_receiver_stats;

typedef struct tbt_http_receiver tbt_http_receiver;
int tbt_http_receiver_start(tbt_store *s, const tbt_receiver_opts *o, tbt_http_receiver **out, tbt_error *err);
/* The socket address a libmicrohttpd server of tbt binds (the OTLP/HTTP
 * receiver, the metrics endpoint): bind_addr resolved (a name or a literal,
 * IPv4 or IPv6) with port. *ipv6 says which family (MHD_USE_IPv6). Returns
 * 0, or -EINVAL with "WHAT: cannot resolve bind address ...". */
struct sockaddr_storage;
int tbt_http_bind_addr(const char *what, const char *bind_addr, uint16_t port, struct sockaddr_storage *sa,
                       bool *ipv6, tbt_error *err);
uint16_t tbt_http_receiver_port(const tbt_http_receiver *r);
void tbt_http_receiver_stats(const tbt_http_receiver *r, tbt_receiver_stats *st);
void tbt_http_receiver_stop(tbt_http_receiver *r);

typedef struct tbt_grpc_receiver tbt_grpc_receiver;
int tbt_grpc_receiver_start(tbt_store *s, const tbt_receiver_opts *o, tbt_grpc_receiver **out, tbt_error *err);
uint16_t tbt_grpc_receiver_port(const tbt_grpc_receiver *r);
void tbt_grpc_receiver_stats(const tbt_grpc_receiver *r, tbt_receiver_stats *st);
void tbt_grpc_receiver_stop(tbt_grpc_receiver *r);

#endif
