/* fuzz_otlp_pb.c - libFuzzer harness for the OTLP protobuf decoder.
 *
 * Decodes the input into a fresh trace, then (when it decoded) finalizes,
 * looks up a few attributes on every span and round-trips the trace through
 * both encoders. Also a differential check against protoc-c's generated
 * unpack: a request we accept must unpack there too, a request protoc-c
 * accepts must not be called malformed by us, and both must see the same
 * number of spans. protoc-c is laxer than the protobuf spec (and Go, and the
 * Collector) in three ways we do not copy: it takes field number 0, field
 * numbers past 2^29-1, and a bool of any wire type. */
#include "otlp_fuzz.h"

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = {
    "tracetest.span.name", "tracetest.span.duration", "tracetest.span.parent_id", "span.events",
    "service.name",        "http.response.status_code", "otel.scope.name",        "k",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tbt_otlp_limits lim = tbt_otlp_default_limits();
    lim.max_spans = 20000;
    tbt_trace *t = tbt_trace_new();
    tbt_otlp_stats st = {0};
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_otlp_decode(t, TBT_OTLP_PROTOBUF, data, size, &lim, &st, &err);
    CHECK(rc == 0 || rc == -EINVAL || rc == -E2BIG);
    CHECK(rc == 0 || (err.msg && err.code == rc));

    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(NULL, size, data);
    if (rc == 0)
        CHECK(req != NULL);
    if (req) {
        CHECK(rc != -EINVAL || strstr(err.msg, "invalid field number") ||
              strstr(err.msg, "bool_value (field 2) has wire type"));
        size_t n = 0;
        for (size_t i = 0; i < req->n_resource_spans; i++)
            for (size_t j = 0; j < req->resource_spans[i]->n_scope_spans; j++)
                n += req->resource_spans[i]->scope_spans[j]->n_spans;
        if (rc == 0)
            CHECK(n == st.spans + st.rejected_spans);
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
    }

    if (rc == 0) {
        tbt_trace_finalize(t, NULL);
        otlp_fuzz_poke_spans(t, keys, TBT_ARRAY_LEN(keys));
        otlp_fuzz_roundtrip(t, TBT_OTLP_PROTOBUF, &lim, true);
        otlp_fuzz_roundtrip(t, TBT_OTLP_JSON, &lim, false);
    }
    tbt_otlp_stats_clear(&st);
    tbt_error_clear(&err);
    tbt_trace_free(t);
    return 0;
}
