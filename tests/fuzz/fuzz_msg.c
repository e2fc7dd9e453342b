/* fuzz_msg.c - job and result messages as they come off a Kafka topic:
 * decode as a job (and load its definition with file access off) and as a
 * result; a decoded result is encoded again, and that encoding must decode
 * and re-encode to the same bytes (the writer emits valid JSON whatever the
 * strings hold). */
#include <stdlib.h>
#include <string.h>

#include "tbt_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    tbt_error err = TBT_ERROR_INIT;
    tbt_job job;
    if (tbt_job_decode(s, size, &job, &err) == 0) {
        tbt_defs *d = tbt_defs_new();
        const tbt_test_def *def;
        tbt_job_load(&job, d, &def, &err);
        tbt_defs_free(d);
        tbt_job_clear(&job);
    }
    tbt_error_clear(&err);
    tbt_run_result *rr = tbt_run_result_new();
    tbt_test_result res;
    tbt_result_meta meta;
    if (tbt_result_decode(s, size, rr, &res, &meta, &err) == 0) {
        tbt_job j = {.run_id = meta.run_id, .job_id = meta.job_id, .environment = meta.environment,
                     .attempt = meta.attempt};
        tbt_buf a = TBT_BUF_INIT, b = TBT_BUF_INIT;
        tbt_result_encode(&j, meta.agent_id, &res, &a);
        tbt_run_result *rr2 = tbt_run_result_new();
        tbt_test_result res2;
        tbt_result_meta meta2;
        tbt_error e2 = TBT_ERROR_INIT;
        if (tbt_result_decode(a.data, a.len, rr2, &res2, &meta2, &e2) != 0)
            abort(); /* what we wrote must read back */
        tbt_job j2 = {.run_id = meta2.run_id, .job_id = meta2.job_id, .environment = meta2.environment,
                      .attempt = meta2.attempt};
        tbt_result_encode(&j2, meta2.agent_id, &res2, &b);
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
            abort(); /* and be stable */
        tbt_result_meta_clear(&meta2);
        tbt_error_clear(&e2);
        tbt_run_result_free(rr2);
        tbt_buf_free(&a);
        tbt_buf_free(&b);
        tbt_result_meta_clear(&meta);
    }
    tbt_error_clear(&err);
    tbt_run_result_free(rr);
    return 0;
}
