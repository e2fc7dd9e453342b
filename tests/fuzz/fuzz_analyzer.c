/* fuzz_analyzer.c - the analyzer's config parsers on hostile input. The
 * bytes are read three ways: as YAML definitions (file access off) whose
 * Analyzer and TestRunner resources are read as a run reads them; as the
 * JSON analyzer config of a job message; and as the JSON lint result of a
 * result message. A config that parses must survive a JSON round trip
 * unchanged, and a decoded result must re-encode as it decodes. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_analyzer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const tbt_analyzer_config *c)
{
    tbt_buf a = TBT_BUF_INIT, b = TBT_BUF_INIT;
    tbt_analyzer_config_json(c, &a);
    tbt_analyzer_config *d = NULL;
    if (tbt_analyzer_config_from_json(a.data, a.len, &d, NULL) != 0)
        abort();
    tbt_analyzer_config_json(d, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort();
    int m = tbt_analyzer_config_minimum_score(d);
    if (m < 0 || m > 100)
        abort();
    tbt_analyzer_config_free(d);
    tbt_buf_free(&a);
    tbt_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tbt_error err = TBT_ERROR_INIT;
    tbt_buf out = TBT_BUF_INIT;

    tbt_defs *d = tbt_defs_new();
    tbt_defs_set_file_access(d, false);
    if (tbt_defs_load_text(d, "fuzz.yaml", (const char *)data, size, &err) == 0) {
        tbt_analyzer_config *c = NULL;
        unsigned gates = 0;
        if (tbt_analyzer_config_from_defs(d, &c, &gates, &err) == 0) {
            if (!c || (gates & ~TBT_GATES_ALL))
                abort();
            round_trip(c);
            tbt_analyzer_config_free(c);
        }
    }
    tbt_error_format(&err, &out);
    tbt_error_clear(&err);
    tbt_defs_free(d);

    tbt_analyzer_config *c = NULL;
    if (tbt_analyzer_config_from_json((const char *)data, size, &c, &err) == 0) {
        round_trip(c);
        tbt_analyzer_config_free(c);
    } else if (c) {
        abort();
    }
    tbt_error_clear(&err);

    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (j) {
        tbt_arena *a = tbt_arena_new();
        const tbt_lint_result *r = NULL;
        if (tbt_lint_result_from_cjson(j, a, &r, &err) == 0) {
            tbt_buf x = TBT_BUF_INIT, y = TBT_BUF_INIT;
            tbt_lint_result_json(r, &x);
            cJSON *k = cJSON_Parse(x.data);
            const tbt_lint_result *r2 = NULL;
            if (!k || tbt_lint_result_from_cjson(k, a, &r2, NULL) != 0)
                abort();
            tbt_lint_result_json(r2, &y);
            if (x.len != y.len || memcmp(x.data, y.data, x.len) != 0)
                abort();
            cJSON_Delete(k);
            tbt_buf_free(&x);
            tbt_buf_free(&y);
        }
        tbt_error_clear(&err);
        tbt_arena_free(a);
        cJSON_Delete(j);
    }
    tbt_buf_free(&out);
    return 0;
}
