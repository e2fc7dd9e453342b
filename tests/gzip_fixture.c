/* gzip_fixture.c - see gzip_fixture.h. */
#include "gzip_fixture.h"

#include <check.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

void gzip_zeros(size_t n, tbt_buf *out)
{
    static uint8_t zeros[1 << 16];
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    ck_assert_int_eq(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
    uint8_t obuf[1 << 14];
    size_t left = n;
    int flush;
    do {
        size_t now = left < sizeof(zeros) ? left : sizeof(zeros);
        left -= now;
        flush = left ? Z_NO_FLUSH : Z_FINISH;
        zs.next_in = zeros;
        zs.avail_in = (uInt)now;
        do {
            zs.next_out = obuf;
            zs.avail_out = sizeof(obuf);
            deflate(&zs, flush);
            tbt_buf_append(out, obuf, sizeof(obuf) - zs.avail_out);
        } while (zs.avail_out == 0);
    } while (flush != Z_FINISH);
    deflateEnd(&zs);
}
