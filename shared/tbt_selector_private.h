/* tbt_selector_private.h - the selector AST, shared by the parser
 * (tbt_selector.c) and the evaluator (tbt_selector_eval.c). */
#ifndef TBT_SELECTOR_PRIVATE_H
#define TBT_SELECTOR_PRIVATE_H

#include "tbt_expr_private.h"
#include "tbt_selector.h"

typedef enum sel_op {
    SEL_EQ,
    SEL_NE,
    SEL_CONTAINS,
    SEL_NOT_CONTAINS,
    SEL_MATCH,
    SEL_NOT_MATCH,
    SEL_LT,
    SEL_LE,
    SEL_GT,
    SEL_GE,
} sel_op;

typedef enum sel_comb {
    SEL_DESCENDANT,
    SEL_CHILD,
} sel_comb;

typedef enum sel_pseudo {
    SEL_NONE,
    SEL_FIRST,
    SEL_LAST,
    SEL_NTH,
} sel_pseudo;

typedef struct sel_filter {
    const char *prop;
    sel_op op;
    xnode *value;     /* a term: STR (maybe interpolated), NUM, DUR, VAR */
    bool constant;
    bool num_typed;   /* the value was written as a number */
    tbt_regex *re;    /* compiled when constant */
    size_t prop_off, op_off, value_off;
} sel_filter;

typedef struct sel_step {
    sel_comb combinator; /* relation to the previous step (ignored on the first) */
    sel_filter *filters;
    size_t n_filters, cap_filters;
    sel_pseudo pseudo;
    long nth;
    size_t off, pseudo_off;
} sel_step;

typedef struct sel_chain {
    sel_step *steps;
    size_t n_steps, cap_steps;
} sel_chain;

struct tbt_selector {
    xunit u;
    bool all;
    bool uses_vars;
    sel_chain *chains;
    size_t n_chains, cap_chains;
};

const char *tbt_sel_op_name(sel_op op);

#endif
