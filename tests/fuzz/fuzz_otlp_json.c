/* fuzz_otlp_json.c - libFuzzer harness for the OTLP/JSON decoder.
 *
 * Decodes the input into a fresh trace; when it decoded, finalizes, looks
 * up a few attributes on every span, and round-trips through both encoders
 * (otlp_fuzz.h): each encoding must decode to the same number of spans, and
 * the JSON encoding re-encode to the same bytes. Errors must carry a message; syntax errors a position. */
#include "otlp_fuzz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = {
    "tracetest.span.name", "tracetest.span.duration", "tracetest.span.status_code", "span.events",
    "service.name",        "http.response.status_code", "otel.scope.version",       "payment.amount",
};

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
        otlp_fuzz_poke_spans(t, keys, TBT_ARRAY_LEN(keys));
        otlp_fuzz_roundtrip(t, TBT_OTLP_JSON, &lim, true);
        otlp_fuzz_roundtrip(t, TBT_OTLP_PROTOBUF, &lim, false);
    }
    tbt_otlp_stats_clear(&st);
    tbt_error_clear(&err);
    tbt_trace_free(t);
    return 0;
}
