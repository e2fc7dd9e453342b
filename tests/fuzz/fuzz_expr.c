/* fuzz_expr.c - the assertion and expression parsers and the evaluator on
 * arbitrary text, and string interpolation. */
#include <stdlib.h>
#include <string.h>

#include "tbt_expr.h"
#include "tbt_otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tbt_trace *trace;
static tbt_vars *vars;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!trace) {
        trace = tbt_otlp_generate(32, 3);
        vars = tbt_vars_new();
        tbt_vars_set(vars, "A", "42");
        tbt_vars_set(vars, "J", "{\"a\":[1,2,{\"b\":\"c\"}]}");
        tbt_vars_set(vars, "D", "20.5ms");
    }
    char *src = tbt_xstrndup((const char *)data, size);
    tbt_error err = TBT_ERROR_INIT;
    tbt_span *sp = tbt_trace_span_count(trace) ? tbt_trace_span_at(trace, size % tbt_trace_span_count(trace)) : NULL;
    tbt_eval_ctx ctx = {.trace = trace, .span = (size & 2) ? NULL : sp, .vars = vars, .selected_count = 1,
                        .have_selection = true};
    tbt_assertion *a = NULL;
    if (tbt_assertion_parse(src, NULL, &a, &err) == 0) {
        tbt_assert_outcome o;
        tbt_assertion_eval(a, &ctx, &o);
        tbt_assert_outcome_clear(&o);
        tbt_assertion_free(a);
    }
    tbt_error_clear(&err);
    tbt_expr *e = NULL;
    tbt_loc loc = {"fuzz.yaml", 9, 7, TBT_STYLE_PLAIN};
    if (tbt_expr_parse(src, &loc, &e, &err) == 0) {
        char *out = NULL;
        if (tbt_expr_eval_text(e, &ctx, &out, &err) == 0)
            free(out);
        tbt_expr_free(e);
    }
    tbt_buf b = TBT_BUF_INIT;
    tbt_error_format(&err, &b);
    tbt_buf_free(&b);
    tbt_error_clear(&err);
    char *out = NULL;
    if (tbt_interpolate(src, NULL, &ctx, &out, &err) == 0)
        free(out);
    tbt_error_clear(&err);
    free(src);
    return 0;
}
