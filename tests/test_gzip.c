/* test_gzip.c - bounded gunzip: round trips, truncated and corrupt input,
 * concatenated members, zlib-wrapped data, and bombs refused at the bound. */
#include "gzip_fixture.h"
#include "tbt_gzip.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Text-like, mildly compressible bytes. */
static uint8_t *sample(size_t n, unsigned seed)
{
    uint8_t *p = tbt_xmalloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)("abcdefgh \n{}\":,0123456789"[(x >> 16) % 25]);
    }
    return p;
}

static int gunzip(const void *in, size_t n, size_t max, uint8_t **out, size_t *outlen, tbt_error *err)
{
    *out = NULL;
    *outlen = 0;
    return tbt_gunzip(in, n, max, out, outlen, err);
}

START_TEST(test_round_trip)
{
    static const size_t sizes[] = {0, 1, 100, 4096, 1u << 20};
    for (size_t k = 0; k < TBT_ARRAY_LEN(sizes); k++) {
        size_t n = sizes[k];
        uint8_t *in = sample(n, (unsigned)k);
        tbt_buf z = TBT_BUF_INIT;
        ck_assert_int_eq(tbt_gzip(in, n, &z), 0);
        ck_assert_uint_ge(z.len, 18); /* gzip header + trailer */
        ck_assert_uint_eq((uint8_t)z.data[0], 0x1f);
        ck_assert_uint_eq((uint8_t)z.data[1], 0x8b);
        uint8_t *out;
        size_t outlen;
        tbt_error err = TBT_ERROR_INIT;
        int rc = gunzip(z.data, z.len, n + 1, &out, &outlen, &err);
        ck_assert_msg(rc == 0, "size %zu: %s", n, err.msg ? err.msg : "?");
        ck_assert_uint_eq(outlen, n);
        ck_assert(n == 0 || memcmp(out, in, n) == 0);
        free(out);
        tbt_buf_free(&z);
        free(in);
    }
}
END_TEST

START_TEST(test_exact_limit)
{
    uint8_t *in = sample(5000, 7);
    tbt_buf z = TBT_BUF_INIT;
    tbt_gzip(in, 5000, &z);
    uint8_t *out;
    size_t outlen;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(gunzip(z.data, z.len, 5000, &out, &outlen, &err), 0);
    ck_assert_uint_eq(outlen, 5000);
    free(out);
    ck_assert_int_eq(gunzip(z.data, z.len, 4999, &out, &outlen, &err), -E2BIG);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(err.msg);
    tbt_error_clear(&err);
    tbt_buf_free(&z);
    free(in);
}
END_TEST

START_TEST(test_truncated)
{
    uint8_t *in = sample(20000, 3);
    tbt_buf z = TBT_BUF_INIT;
    tbt_gzip(in, 20000, &z);
    /* every proper prefix fails, none crashes or yields data */
    for (size_t cut = 0; cut < z.len; cut += (cut < 64 ? 1 : 97)) {
        uint8_t *out;
        size_t outlen;
        tbt_error err = TBT_ERROR_INIT;
        int rc = gunzip(z.data, cut, 1u << 20, &out, &outlen, &err);
        ck_assert_msg(rc == -EINVAL, "prefix %zu of %zu: rc %d", cut, z.len, rc);
        ck_assert_ptr_null(out);
        ck_assert_ptr_nonnull(err.msg);
        tbt_error_clear(&err);
    }
    /* the trailer alone missing (CRC and size) */
    uint8_t *out;
    size_t outlen;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(gunzip(z.data, z.len - 8, 1u << 20, &out, &outlen, &err), -EINVAL);
    tbt_error_clear(&err);
    tbt_buf_free(&z);
    free(in);
}
END_TEST

START_TEST(test_corrupt)
{
    uint8_t *in = sample(20000, 4);
    tbt_buf z = TBT_BUF_INIT;
    tbt_gzip(in, 20000, &z);
    uint8_t *out;
    size_t outlen;
    tbt_error err = TBT_ERROR_INIT;

    /* not gzip at all */
    const char *junk = "this is not gzip data at all";
    ck_assert_int_eq(gunzip(junk, strlen(junk), 1u << 20, &out, &outlen, &err), -EINVAL);
    ck_assert_ptr_nonnull(err.msg);

    /* a flipped byte in the middle: bad deflate data or a CRC mismatch */
    uint8_t *bad = tbt_xmalloc(z.len);
    memcpy(bad, z.data, z.len);
    bad[z.len / 2] ^= 0x55;
    ck_assert_int_eq(gunzip(bad, z.len, 1u << 20, &out, &outlen, &err), -EINVAL);

    /* a wrong CRC-32 in the trailer */
    memcpy(bad, z.data, z.len);
    bad[z.len - 8] ^= 0x01;
    ck_assert_int_eq(gunzip(bad, z.len, 1u << 20, &out, &outlen, &err), -EINVAL);

    /* a wrong ISIZE in the trailer */
    memcpy(bad, z.data, z.len);
    bad[z.len - 1] ^= 0x01;
    ck_assert_int_eq(gunzip(bad, z.len, 1u << 20, &out, &outlen, &err), -EINVAL);

    /* trailing garbage after a complete member */
    tbt_buf g = TBT_BUF_INIT;
    tbt_buf_append(&g, z.data, z.len);
    tbt_buf_puts(&g, "garbage");
    ck_assert_int_eq(gunzip(g.data, g.len, 1u << 20, &out, &outlen, &err), -EINVAL);

    /* every single-byte corruption of a small member fails or succeeds
     * cleanly, never crashes */
    tbt_buf s = TBT_BUF_INIT;
    tbt_gzip((const uint8_t *)"hello, trace", 12, &s);
    for (size_t i = 0; i < s.len; i++) {
        for (unsigned v = 0; v < 256; v += 51) {
            memcpy(bad, s.data, s.len);
            bad[i] = (uint8_t)v;
            int rc = gunzip(bad, s.len, 64, &out, &outlen, &err);
            ck_assert(rc == 0 || rc == -EINVAL || rc == -E2BIG);
            if (rc == 0)
                free(out);
        }
    }
    tbt_error_clear(&err);
    tbt_buf_free(&s);
    tbt_buf_free(&g);
    free(bad);
    tbt_buf_free(&z);
    free(in);
}
END_TEST

START_TEST(test_concatenated_members)
{
    tbt_buf z = TBT_BUF_INIT;
    tbt_gzip((const uint8_t *)"first,", 6, &z);
    tbt_gzip((const uint8_t *)"second,", 7, &z);
    tbt_gzip((const uint8_t *)"", 0, &z);
    tbt_gzip((const uint8_t *)"third", 5, &z);
    uint8_t *out;
    size_t outlen;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(gunzip(z.data, z.len, 1024, &out, &outlen, &err), 0);
    ck_assert_uint_eq(outlen, 18);
    ck_assert(memcmp(out, "first,second,third", 18) == 0);
    free(out);
    /* the bound counts all members together */
    ck_assert_int_eq(gunzip(z.data, z.len, 17, &out, &outlen, &err), -E2BIG);
    tbt_error_clear(&err);
    tbt_buf_free(&z);
}
END_TEST

START_TEST(test_bomb_refused)
{
    tbt_buf z = TBT_BUF_INIT;
    gzip_zeros((size_t)64 << 20, &z); /* 64 MiB of zeros, ~64 KiB on the wire */
    ck_assert_uint_lt(z.len, 200000);
    uint8_t *out;
    size_t outlen;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(gunzip(z.data, z.len, (size_t)1 << 20, &out, &outlen, &err), -E2BIG);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(err.msg, "limit"));
    tbt_error_clear(&err);
    /* with room to spare the same body inflates fully */
    ck_assert_int_eq(gunzip(z.data, z.len, (size_t)64 << 20, &out, &outlen, &err), 0);
    ck_assert_uint_eq(outlen, (size_t)64 << 20);
    ck_assert(tbt_is_all_zero(out, outlen));
    free(out);
    tbt_buf_free(&z);
}
END_TEST

START_TEST(test_zlib_header_accepted)
{
    uint8_t *in = sample(3000, 9);
    uLongf zl = compressBound(3000);
    uint8_t *z = tbt_xmalloc(zl);
    ck_assert_int_eq(compress2(z, &zl, in, 3000, 6), Z_OK);
    ck_assert_uint_eq(z[0] & 0x0f, 8); /* zlib header: deflate */
    uint8_t *out;
    size_t outlen;
    tbt_error err = TBT_ERROR_INIT;
    ck_assert_int_eq(gunzip(z, zl, 3000, &out, &outlen, &err), 0);
    ck_assert_uint_eq(outlen, 3000);
    ck_assert(memcmp(out, in, 3000) == 0);
    free(out);
    ck_assert_int_eq(gunzip(z, zl, 2999, &out, &outlen, &err), -E2BIG);
    /* a bad Adler-32 */
    z[zl - 1] ^= 0x01;
    ck_assert_int_eq(gunzip(z, zl, 3000, &out, &outlen, &err), -EINVAL);
    tbt_error_clear(&err);
    free(z);
    free(in);
}
END_TEST

static Suite *gzip_suite(void)
{
    Suite *s = suite_create("gzip");
    TCase *tc = tcase_create("gzip");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_exact_limit);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_corrupt);
    tcase_add_test(tc, test_concatenated_members);
    tcase_add_test(tc, test_bomb_refused);
    tcase_add_test(tc, test_zlib_header_accepted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gzip_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
