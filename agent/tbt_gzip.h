/*
 * tbt_gzip.h - bounded gzip decompression for request bodies (HTTP
 * Content-Encoding: gzip, gRPC message compression). A body that would
 * inflate past max_out is refused as soon as it does (a gzip bomb costs at
 * most max_out bytes), never truncated.
 */
#ifndef TBT_GZIP_H
#define TBT_GZIP_H

#include "tbt_common.h"

/* Inflate in[0..n) (gzip, or zlib when the header says so). On success
 * *out is a heap buffer of *outlen bytes (caller frees). Errors: -EINVAL
 * corrupt or truncated data, -E2BIG more than max_out bytes. */
int tbt_gunzip(const uint8_t *in, size_t n, size_t max_out, uint8_t **out, size_t *outlen, tbt_error *err);
/* Compress (gzip) for tests and clients. Returns 0. */
int tbt_gzip(const uint8_t *in, size_t n, tbt_buf *out);

#endif
