/* fuzz_selector.c - the selector parser and evaluator on arbitrary text. */
#include <stdlib.h>
#include <string.h>

#include "tbt_otlp.h"
#include "tbt_selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tbt_trace *trace;
static tbt_vars *vars;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!trace) {
        trace = tbt_otlp_generate(64, 7);
        vars = tbt_vars_new();
        tbt_vars_set(vars, "SERVICE", "order-service");
        tbt_vars_set(vars, "RE", "^(a|b");
    }
    char *src = tbt_xstrndup((const char *)data, size);
    tbt_selector *sel = NULL;
    tbt_error err = TBT_ERROR_INIT;
    tbt_loc loc = {"fuzz.yaml", 3, 15, TBT_STYLE_DOUBLE};
    if (tbt_selector_parse(src, (size & 1) ? &loc : NULL, &sel, &err) == 0) {
        tbt_span **spans = NULL;
        size_t n = 0;
        if (tbt_selector_select(sel, trace, vars, &spans, &n, &err) == 0)
            free(spans);
        tbt_selector_free(sel);
    }
    tbt_buf b = TBT_BUF_INIT;
    tbt_error_format(&err, &b);
    tbt_buf_free(&b);
    tbt_error_clear(&err);
    free(src);
    return 0;
}
