/* gzip_fixture.h - gzip bombs for the suites that must refuse them. */
#ifndef TBT_TESTS_GZIP_FIXTURE_H
#define TBT_TESTS_GZIP_FIXTURE_H

#include <stddef.h>

#include "tbt_common.h"

/* Append to out the gzip stream of n zero bytes, deflated as it goes so
 * that n may be far larger than memory. */
void gzip_zeros(size_t n, tbt_buf *out);

#endif
