/*
 * tbt_expr.h - the expression and assertion language.
 *
 *   assertion := expr COMPARATOR expr
 *   expr      := sum ("|" filter arg*)*
 *   sum       := product (("+" | "-") product)*
 *   product   := unary (("*" | "/") unary)*
 *   unary     := "-" unary | term
 *   term      := NUMBER | DURATION | STRING | attr:NAME | var:NAME | env:NAME
 *              | func "(" args ")" | "[" terms "]" | "(" expr ")"
 *   COMPARATOR: = != < <= > >= contains not-contains
 *
 * Strings take either quote; "${expr}" inside a string interpolates; a
 * backslash before the string's own quote escapes it, every other
 * backslash is kept (so regular expressions read as written).
 * Arithmetic has the usual precedence (Tracetest evaluates strictly left
 * to right; where that would give a different value, the outcome carries a
 * warning saying so).
 *
 * Parsing never looks at a trace; evaluation takes a context (span,
 * variables). Errors carry byte offsets into the source and are reported
 * at file:line:col through the tbt_loc given to the parser.
 */
#ifndef TBT_EXPR_H
#define TBT_EXPR_H

#include "tbt_trace.h"
#include "tbt_vars.h"

#define TBT_EXPR_MAX_LEN (64u * 1024u)
#define TBT_EXPR_MAX_DEPTH 64

typedef enum tbt_cmp {
    TBT_CMP_EQ,
    TBT_CMP_NE,
    TBT_CMP_LT,
    TBT_CMP_LE,
    TBT_CMP_GT,
    TBT_CMP_GE,
    TBT_CMP_CONTAINS,
    TBT_CMP_NOT_CONTAINS,
} tbt_cmp;

typedef struct tbt_expr tbt_expr;
typedef struct tbt_assertion tbt_assertion;

/* What an evaluation may look at. span NULL is the "empty span" used when
 * a selector matched nothing: attr: look-ups fail, except
 * tracetest.selected_spans.count. */
/* Interned attribute keys per attr: node, for many evaluations on one
 * trace (the key look-up is a hash of the name; per span it adds up). */
typedef struct tbt_key_cache {
    const void **nodes;
    tbt_prop_keys *keys;
    size_t n, cap;
} tbt_key_cache;
void tbt_key_cache_free(tbt_key_cache *kc);

typedef struct tbt_eval_ctx {
    tbt_trace *trace;
    tbt_span *span;
    const tbt_vars *vars;
    size_t selected_count;
    bool have_selection; /* selected_count is meaningful */
    tbt_arena *scratch;  /* optional: reused (reset) across evaluations */
    tbt_key_cache *keys; /* optional: valid for this trace only */
} tbt_eval_ctx;

typedef struct tbt_assert_outcome {
    bool passed;
    char *observed; /* heap: the left side's value as text, NULL on error */
    char *expected; /* heap: the right side's value as text, NULL on error */
    char *error;    /* heap: why it could not be evaluated, or NULL */
    char *warning;  /* heap: e.g. the precedence note, or NULL */
} tbt_assert_outcome;

/* Parse an assertion. src is copied. loc (may be NULL) places src in a
 * file for error positions. On error *out is NULL and err has the message,
 * file:line:col, the source line and the caret column. */
int tbt_assertion_parse(const char *src, const tbt_loc *loc, tbt_assertion **out, tbt_error *err);
void tbt_assertion_free(tbt_assertion *a);
const char *tbt_assertion_source(const tbt_assertion *a);
tbt_cmp tbt_assertion_comparator(const tbt_assertion *a);
/* true when the assertion reads attributes of a span (attr:). */
bool tbt_assertion_uses_span(const tbt_assertion *a);

/* Evaluate against ctx. Always fills out (caller clears it). Returns 0 when
 * it could be evaluated (passed or not), negative when out->error says why
 * not. */
int tbt_assertion_eval(const tbt_assertion *a, const tbt_eval_ctx *ctx, tbt_assert_outcome *out);
void tbt_assert_outcome_clear(tbt_assert_outcome *o);

/* The same, for hot loops: the strings are allocated in dst (an arena the
 * caller resets or keeps), nothing on the heap. */
typedef struct tbt_assert_view {
    bool passed;
    const char *observed, *expected, *error, *warning;
} tbt_assert_view;
int tbt_assertion_eval_in(const tbt_assertion *a, const tbt_eval_ctx *ctx, tbt_arena *dst, tbt_assert_view *out);

/* A single expression (outputs' values). */
int tbt_expr_parse(const char *src, const tbt_loc *loc, tbt_expr **out, tbt_error *err);
void tbt_expr_free(tbt_expr *e);
/* Evaluate to text (heap, caller frees). Arrays render as JSON. */
int tbt_expr_eval_text(const tbt_expr *e, const tbt_eval_ctx *ctx, char **out, tbt_error *err);

/* Interpolate every ${expr} in text (trigger fields, selector strings):
 * returns a heap string. Text without "${" is returned as a copy. */
int tbt_interpolate(const char *text, const tbt_loc *loc, const tbt_eval_ctx *ctx, char **out, tbt_error *err);

const char *tbt_cmp_name(tbt_cmp c);

#endif
