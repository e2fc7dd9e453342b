/* tbt_gzip.c - zlib-backed, bounded. */
#include "tbt_gzip.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int tbt_gunzip(const uint8_t *in, size_t n, size_t max_out, uint8_t **out, size_t *outlen, tbt_error *err)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* 32 + MAX_WBITS: accept gzip and zlib headers */
    if (inflateInit2(&zs, 32 + MAX_WBITS) != Z_OK)
        return tbt_error_set(err, -ENOMEM, "gzip: cannot initialise zlib");
    size_t cap = n * 4 + 1024;
    if (cap > max_out + 1)
        cap = max_out + 1;
    uint8_t *buf = tbt_xmalloc(cap);
    size_t have = 0;
    int rc = 0;
    zs.next_in = (Bytef *)in;
    size_t left_in = n;
    for (;;) {
        if (have == cap) {
            if (cap > max_out) {
                rc = tbt_error_set(err, -E2BIG, "gzip body inflates past the %zu-byte limit", max_out);
                break;
            }
            size_t ncap = cap * 2;
            if (ncap > max_out + 1)
                ncap = max_out + 1;
            buf = tbt_xrealloc(buf, ncap);
            cap = ncap;
        }
        /* zlib counts in uInt: feed and drain in slices */
        uInt in_now = left_in > (1u << 30) ? (1u << 30) : (uInt)left_in;
        zs.avail_in = in_now;
        size_t room = cap - have;
        zs.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
        zs.next_out = buf + have;
        int z = inflate(&zs, Z_NO_FLUSH);
        left_in -= in_now - zs.avail_in;
        have = (size_t)(zs.next_out - buf);
        if (z == Z_STREAM_END) {
            if (left_in > 0) {
                /* concatenated gzip members are legal: start the next one */
                if (inflateReset(&zs) != Z_OK) {
                    rc = tbt_error_set(err, -EINVAL, "gzip: corrupt data");
                    break;
                }
                continue;
            }
            break;
        }
        if (z == Z_BUF_ERROR && left_in == 0 && zs.avail_out > 0) {
            rc = tbt_error_set(err, -EINVAL, "gzip: truncated data");
            break;
        }
        if (z != Z_OK && z != Z_BUF_ERROR) {
            rc = tbt_error_set(err, -EINVAL, "gzip: corrupt data (%s)", zs.msg ? zs.msg : "inflate failed");
            break;
        }
        if (have > max_out) {
            rc = tbt_error_set(err, -E2BIG, "gzip body inflates past the %zu-byte limit", max_out);
            break;
        }
    }
    inflateEnd(&zs);
    if (rc == 0 && have > max_out)
        rc = tbt_error_set(err, -E2BIG, "gzip body inflates past the %zu-byte limit", max_out);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *outlen = have;
    return 0;
}

int tbt_gzip(const uint8_t *in, size_t n, tbt_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    uLong bound = deflateBound(&zs, (uLong)n);
    size_t start = out->len;
    tbt_buf_append(out, NULL, 0);
    if (out->cap < start + bound + 1) {
        out->data = tbt_xrealloc(out->data, start + bound + 1);
        out->cap = start + bound + 1;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = (Bytef *)out->data + start;
    zs.avail_out = (uInt)bound;
    deflate(&zs, Z_FINISH);
    out->len = start + zs.total_out;
    out->data[out->len] = '\0';
    deflateEnd(&zs);
    return 0;
}
