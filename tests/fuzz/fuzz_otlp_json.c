/* fuzz_otlp_json.c - libFuzzer harness for the OTLP/JSON decoder.
 *
 * Decodes the input into a fresh trace; when it decoded, finalizes, looks
 * up a few attributes on every span, and round-trips through both encoders:
 * the JSON encoding must decode to the same number of spans and re-encode to
 * the same bytes. Errors must carry a message; syntax errors a position. */
#include "tbt_otlp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = {
    "tracetest.span.name", "tracetest.span.duration", "tracetest.span.status_code", "span.events",
    "service.name",        "http.response.status_code", "otel.scope.version",       "payment.amount",
};

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                             \
        }                                                                        \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tbt_otlp_limits lim = tbt_otlp_default_limits();
    lim.max_spans = 20000;
    tbt_trace *t = tbt_trace_new();
    tbt_otlp_stats st = {0};
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_otlp_decode(t, TBT_OTLP_JSON, data, size, &lim, &st, &err);
    CHECK(rc == 0 || rc == -EINVAL || rc == -E2BIG);
    CHECK(rc == 0 || (err.msg && err.code == rc));
    if (rc) {
        tbt_buf b = TBT_BUF_INIT;
        tbt_error_format(&err, &b);
        tbt_buf_free(&b);
    }

    if (rc == 0) {
        tbt_trace_finalize(t, NULL);
        tbt_buf b = TBT_BUF_INIT;
        for (size_t i = 0; i < tbt_trace_span_count(t); i++) {
            tbt_span *s = tbt_trace_span_at(t, i);
            for (size_t k = 0; k < TBT_ARRAY_LEN(keys); k++) {
                tbt_value v;
                if (tbt_span_attr(t, s, keys[k], &v)) {
                    tbt_buf_reset(&b);
                    tbt_value_to_text(&v, &b);
                }
            }
        }
        tbt_buf_free(&b);
        size_t n = tbt_trace_span_count(t);

        tbt_buf js = TBT_BUF_INIT, js2 = TBT_BUF_INIT, pb = TBT_BUF_INIT;
        CHECK(tbt_otlp_encode(t, TBT_OTLP_JSON, &js) == 0);
        tbt_trace *t2 = tbt_trace_new();
        tbt_otlp_stats st2 = {0};
        CHECK(tbt_otlp_decode(t2, TBT_OTLP_JSON, (const uint8_t *)js.data, js.len, &lim, &st2, NULL) == 0);
        CHECK(st2.spans == n && st2.rejected_spans == 0);
        tbt_trace_finalize(t2, NULL);
        CHECK(tbt_otlp_encode(t2, TBT_OTLP_JSON, &js2) == 0);
        CHECK(js.len == js2.len && memcmp(js.data, js2.data, js.len) == 0);

        CHECK(tbt_otlp_encode(t, TBT_OTLP_PROTOBUF, &pb) == 0);
        tbt_trace *t3 = tbt_trace_new();
        tbt_otlp_stats st3 = {0};
        CHECK(tbt_otlp_decode(t3, TBT_OTLP_PROTOBUF, (const uint8_t *)pb.data, pb.len, &lim, &st3, NULL) == 0);
        CHECK(st3.spans == n && st3.rejected_spans == 0);

        tbt_otlp_stats_clear(&st2);
        tbt_otlp_stats_clear(&st3);
        tbt_trace_free(t2);
        tbt_trace_free(t3);
        tbt_buf_free(&js);
        tbt_buf_free(&js2);
        tbt_buf_free(&pb);
    }
    tbt_otlp_stats_clear(&st);
    tbt_error_clear(&err);
    tbt_trace_free(t);
    return 0;
}
