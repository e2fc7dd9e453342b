/*
 * tbt_jsonpath.h - JSONPath for the json_path filter.
 *
 * Supported (the forms Tracetest users write, Goessner/RFC 9535 style):
 *   $ (optional at the start: ".a" means "$.a"), .name, .*, ..name, ..*,
 *   ['name'], ["a","b"] (union), [N] and [-N], [*], [start:end],
 *   [?(@.x)], [?(@.a.b OP literal)] with OP one of == != < <= > >=, and
 *   literals 'str', "str", numbers, true, false, null.
 * Results come in document order; `..` visits a node before its
 * descendants.
 */
#ifndef TBT_JSONPATH_H
#define TBT_JSONPATH_H

#include "tbt_common.h"
#include <cjson/cJSON.h>

#define TBT_JSONPATH_MAX_RESULTS 100000

typedef struct tbt_jsonpath tbt_jsonpath;

/* Compile path[0..len). On failure -EINVAL, err says what was expected and
 * *err_offset where (byte offset into path). */
int tbt_jsonpath_compile(const char *path, size_t len, tbt_jsonpath **out, size_t *err_offset, tbt_error *err);
void tbt_jsonpath_free(tbt_jsonpath *p);

/* Evaluate on doc; matches (borrowed pointers into doc) are appended to
 * *out (a heap array grown with TBT_GROW; caller frees). Returns the
 * number of matches (at most TBT_JSONPATH_MAX_RESULTS). */
size_t tbt_jsonpath_eval(const tbt_jsonpath *p, const cJSON *doc, const cJSON ***out, size_t *n, size_t *cap);

#endif
