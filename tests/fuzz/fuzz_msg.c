/* fuzz_msg.c - job and result messages as they come off a Kafka topic:
 * decode as a job (and load its definition with file access off) and as a
 * result. */
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
    if (tbt_result_decode(s, size, rr, &res, &meta, &err) == 0)
        tbt_result_meta_clear(&meta);
    tbt_error_clear(&err);
    tbt_run_result_free(rr);
    return 0;
}
