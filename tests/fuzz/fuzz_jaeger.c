/* fuzz_jaeger.c - libFuzzer harness for the Jaeger query API answer
 * decoder (agent/tbt_datastore_jaeger.c), which reads what a remote
 * backend sent.
 *
 * Decodes the input; the result must be 0, -ENOENT, -EINVAL, -E2BIG or
 * -EIO with a message. When spans came out: finalize, look up attributes on
 * every span, and round-trip through the OTLP protobuf encoder (same span
 * count) and into a trace store (the agent's ingest path). */
#include "otlp_fuzz.h"

#include <errno.h>

#include "tbt_datastore.h"
#include "tbt_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = {"tracetest.span.name", "tracetest.span.duration", "tracetest.span.status_code",
                                   "span.events",         "service.name",            "otel.scope.name",
                                   "http.status_code",    "tracetest.span.kind"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tbt_datastore_limits lim = tbt_datastore_default_limits();
    lim.max_spans = 20000;
    tbt_trace *t = tbt_trace_new();
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_jaeger_decode(t, data, size, &lim, &err);
    CHECK(rc == 0 || rc == -ENOENT || rc == -EINVAL || rc == -E2BIG || rc == -EIO);
    CHECK(rc == 0 || (err.msg && err.code == rc));
    if (rc == 0) {
        size_t n = tbt_trace_span_count(t);
        CHECK(n > 0);
        /* the store takes the undecorated batch, as the agent does */
        tbt_store *st = tbt_store_new(NULL);
        tbt_ingest_result ir;
        tbt_trace *copy = tbt_trace_new();
        tbt_import memo = {0};
        for (size_t i = 0; i < n; i++)
            tbt_trace_import_span(copy, tbt_trace_span_at(t, i), &memo);
        tbt_import_done(&memo);
        CHECK(tbt_store_ingest_trace(st, copy, &ir, NULL) == 0);
        CHECK(ir.accepted + ir.duplicates == n);
        tbt_store_free(st);
        tbt_trace_finalize(t, NULL);
        otlp_fuzz_poke_spans(t, keys, TBT_ARRAY_LEN(keys));
        tbt_otlp_limits ol = tbt_otlp_default_limits();
        otlp_fuzz_roundtrip(t, TBT_OTLP_PROTOBUF, &ol, false);
    }
    tbt_error_clear(&err);
    tbt_trace_free(t);
    return 0;
}
