/* fuzz_datastore.c - libFuzzer harness for the rest of what the trace
 * backends read: the DataStore resource (YAML, as `tbt run -f` and
 * --datastore load it, file access off) and Tempo's trace-by-id answers
 * (JSON v1 and v2, protobuf v1 and v2: what a remote backend sent).
 *
 * The first byte picks the reader (0 resource, then tempo json, json v2,
 * protobuf, protobuf v2); the rest is its input. Every reader must come
 * back with 0 or a negative code with a message; decoded spans must
 * finalize. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_datastore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                                     \
    do {                                                                                                             \
        if (!(c))                                                                                                    \
            abort();                                                                                                 \
    } while (0)

static void resource(const uint8_t *data, size_t size)
{
    tbt_error err = TBT_ERROR_INIT;
    tbt_buf out = TBT_BUF_INIT;
    tbt_defs *d = tbt_defs_new();
    tbt_defs_set_file_access(d, false);
    if (tbt_defs_load_text(d, "fuzz.yaml", (const char *)data, size, &err) == 0 && tbt_defs_resolve(d, &err) == 0) {
        tbt_datastore *ds = NULL;
        tbt_error derr = TBT_ERROR_INIT;
        int rc = tbt_datastore_from_defs(d, &ds, &derr);
        CHECK(rc <= 0);
        if (rc == 0 && ds) {
            CHECK(tbt_datastore_type(ds) && tbt_datastore_name(ds) && tbt_datastore_describe(ds));
            tbt_datastore_free(ds);
        } else if (rc < 0) {
            CHECK(derr.msg != NULL);
            tbt_error_format(&derr, &out);
        }
        tbt_error_clear(&derr);
    }
    tbt_error_format(&err, &out);
    tbt_error_clear(&err);
    tbt_buf_free(&out);
    tbt_defs_free(d);
}

static void tempo(const uint8_t *data, size_t size, bool protobuf, bool v2)
{
    tbt_datastore_limits lim = tbt_datastore_default_limits();
    lim.max_spans = 20000;
    tbt_trace *t = tbt_trace_new();
    tbt_error err = TBT_ERROR_INIT;
    int rc = tbt_tempo_decode(t, data, size, protobuf, v2, &lim, &err);
    CHECK(rc == 0 || rc == -ENOENT || rc == -EINVAL || rc == -E2BIG || rc == -EIO);
    CHECK(rc == 0 || err.msg);
    if (rc == 0) {
        CHECK(tbt_trace_span_count(t) > 0);
        CHECK(tbt_trace_finalize(t, NULL) == 0);
    }
    tbt_error_clear(&err);
    tbt_trace_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 5) {
    case 0:
        resource(data + 1, size - 1);
        break;
    case 1:
        tempo(data + 1, size - 1, false, false);
        break;
    case 2:
        tempo(data + 1, size - 1, false, true);
        break;
    case 3:
        tempo(data + 1, size - 1, true, false);
        break;
    default:
        tempo(data + 1, size - 1, true, true);
    }
    return 0;
}
