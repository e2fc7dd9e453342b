/* otlp_fuzz.h - what the two OTLP decoder harnesses check on every trace
 * they decoded: attribute lookups on every span, and a round trip through
 * both encoders (each decodes to the same number of spans; the harness's
 * own format also re-encodes to the same bytes). Header-only: each harness is one
 * source file plus the replay driver or libFuzzer. */
#ifndef TBT_FUZZ_OTLP_FUZZ_H
#define TBT_FUZZ_OTLP_FUZZ_H

#include "tbt_otlp.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                                   \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* Look up each of keys on every span (rendering what is found), and the
 * span's own first attribute, which must be found. */
static inline void otlp_fuzz_poke_spans(tbt_trace *t, const char *const *keys, size_t n_keys)
{
    tbt_buf b = TBT_BUF_INIT;
    for (size_t i = 0; i < tbt_trace_span_count(t); i++) {
        tbt_span *s = tbt_trace_span_at(t, i);
        for (size_t k = 0; k < n_keys; k++) {
            tbt_value v;
            if (tbt_span_attr(t, s, keys[k], &v)) {
                tbt_buf_reset(&b);
                tbt_value_to_text(&v, &b);
            }
        }
        if (s->n_attrs) {
            tbt_value v;
            CHECK(tbt_span_attr(t, s, s->attrs[0].key, &v));
        }
    }
    tbt_buf_free(&b);
}

/* Encode t (finalized) in fmt, decode that, and require the same span
 * count with nothing rejected; with same_bytes, the re-encoding of the
 * decoded trace must also be byte-identical to the first encoding. Across
 * formats that does not hold: a string holding U+0000 comes back from
 * OTLP/JSON cut at the NUL (cJSON strings are NUL-terminated), and bytes
 * that are not UTF-8, which the protobuf decoder keeps, are written into
 * JSON as U+FFFD (libFuzzer finds both within a minute). */
static inline void otlp_fuzz_roundtrip(tbt_trace *t, tbt_otlp_format fmt, const tbt_otlp_limits *lim, bool same_bytes)
{
    size_t n = tbt_trace_span_count(t);
    tbt_buf enc = TBT_BUF_INIT, enc2 = TBT_BUF_INIT;
    CHECK(tbt_otlp_encode(t, fmt, &enc) == 0);
    tbt_trace *t2 = tbt_trace_new();
    tbt_otlp_stats st = {0};
    CHECK(tbt_otlp_decode(t2, fmt, (const uint8_t *)enc.data, enc.len, lim, &st, NULL) == 0);
    CHECK(st.spans == n && st.rejected_spans == 0);
    if (same_bytes) {
        tbt_trace_finalize(t2, NULL);
        CHECK(tbt_otlp_encode(t2, fmt, &enc2) == 0);
        CHECK(enc.len == enc2.len && memcmp(enc.data, enc2.data, enc.len) == 0);
    }
    tbt_otlp_stats_clear(&st);
    tbt_trace_free(t2);
    tbt_buf_free(&enc);
    tbt_buf_free(&enc2);
}

#endif
