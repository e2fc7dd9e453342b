/* fuzz_jsonpath.c - JSONPath compile + evaluate: the first line of the input
 * is the path, the rest the JSON document. */
#include <stdlib.h>
#include <string.h>

#include "tbt_jsonpath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    size_t plen = nl ? (size_t)(nl - s) : size;
    tbt_jsonpath *jp = NULL;
    size_t eo = 0;
    tbt_error err = TBT_ERROR_INIT;
    if (tbt_jsonpath_compile(s, plen, &jp, &eo, &err) == 0) {
        if (nl) {
            cJSON *doc = cJSON_ParseWithLength(nl + 1, size - plen - 1);
            if (doc) {
                const cJSON **m = NULL;
                size_t n = 0, cap = 0;
                tbt_jsonpath_eval(jp, doc, &m, &n, &cap);
                free(m);
                cJSON_Delete(doc);
            }
        }
        tbt_jsonpath_free(jp);
    }
    tbt_error_clear(&err);
    return 0;
}
