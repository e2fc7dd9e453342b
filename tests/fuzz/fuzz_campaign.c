/* fuzz_campaign.c - YAML streams loaded as definitions (file access off),
 * then every Campaign resource read as the coordinator reads it: the test
 * by id, environments, counts, rate, duration, thresholds. Errors are
 * formatted; everything is freed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_campaign_def.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tbt_error err = TBT_ERROR_INIT;
    tbt_buf out = TBT_BUF_INIT;
    tbt_defs *d = tbt_defs_new();
    tbt_defs_set_file_access(d, false);
    if (tbt_defs_load_text(d, "fuzz.yaml", (const char *)data, size, &err) == 0 && tbt_defs_resolve(d, &err) == 0) {
        for (size_t i = 0; i < tbt_defs_count(d); i++) {
            const tbt_resource_ref *ref = tbt_defs_at(d, i);
            if (ref->kind != TBT_RES_OTHER || strcmp(ref->type_name, "Campaign") != 0)
                continue;
            tbt_campaign_def c;
            tbt_error cerr = TBT_ERROR_INIT;
            if (tbt_campaign_def_load(d, ref, &c, &cerr) == 0) {
                if (!c.unit.n_steps || !c.unit.steps[0] || (!c.runs && !c.duration_ns))
                    abort(); /* a loaded campaign always has a test and an end */
                for (size_t k = 0; k < c.n_th; k++)
                    if (!c.th[k].text)
                        abort();
            } else {
                tbt_error_format(&cerr, &out);
            }
            tbt_error_clear(&cerr);
            tbt_campaign_def_clear(&c);
        }
    }
    tbt_error_format(&err, &out);
    tbt_error_clear(&err);
    tbt_buf_free(&out);
    tbt_defs_free(d);
    return 0;
}
