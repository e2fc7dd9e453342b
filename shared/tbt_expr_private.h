/*
 * tbt_expr_private.h - the expression language's tokens, AST and value
 * types, shared by tbt_expr_lex.c, tbt_expr_parse.c, tbt_expr_eval.c and
 * tbt_expr_func.c (and the selector, which reuses terms for its values).
 */
#ifndef TBT_EXPR_PRIVATE_H
#define TBT_EXPR_PRIVATE_H

#include "tbt_expr.h"
#include "tbt_jsonpath.h"
#include "tbt_regex.h"

/* ---- tokens ------------------------------------------------------------ */
typedef enum xtok_kind {
    XT_EOF,
    XT_NUM,
    XT_DUR,
    XT_STR,
    XT_ATTR,
    XT_VAR,
    XT_ENV,
    XT_IDENT,
    XT_LPAREN,
    XT_RPAREN,
    XT_LBRACK,
    XT_RBRACK,
    XT_COMMA,
    XT_PIPE,
    XT_PLUS,
    XT_MINUS,
    XT_STAR,
    XT_SLASH,
    XT_CMP,
    XT_ERROR,
} xtok_kind;

typedef struct xtok {
    xtok_kind kind;
    size_t off, end;   /* byte range in the source */
    size_t voff, vend; /* value range: string content, name after prefix */
    double num;
    bool is_int;
    int64_t ival;
    int64_t ns;
    tbt_cmp cmp;
    const char *error; /* XT_ERROR: static message */
} xtok;

typedef struct xlexer {
    const char *src;
    size_t len;
    size_t pos;
    xtok peeked;
    bool has_peek;
} xlexer;

void tbt_xlex_init(xlexer *lx, const char *src, size_t len, size_t start);
xtok tbt_xlex_next(xlexer *lx);
xtok tbt_xlex_peek(xlexer *lx);
const char *tbt_xtok_name(xtok_kind k);
/* End offset of the "${ ... }" whose "${" starts at off, or 0 when
 * unterminated. Skips nested quotes and braces. */
size_t tbt_xlex_interp_end(const char *src, size_t len, size_t off);

/* ---- values ------------------------------------------------------------ */
typedef enum xv_kind {
    XV_STR,
    XV_NUM,
    XV_DUR,
} xv_kind;

typedef struct xitem_s {
    xv_kind kind;
    bool typed;      /* number from a literal / a typed attribute / JSON */
    bool is_int;
    int64_t ival;
    double num;      /* NUM */
    int64_t ns;      /* DUR */
    const char *s;   /* text form (always set) */
    size_t len;
} xitem;
/* Give constant nodes their typed value (called by the parser). */

/* ---- AST ----------------------------------------------------------------*/
typedef enum xn_kind {
    XN_NUM,
    XN_DUR,
    XN_STR,
    XN_ATTR,
    XN_VAR,
    XN_CALL,
    XN_ARRAY,
    XN_BIN,
    XN_NEG,
    XN_PIPE,
} xn_kind;

typedef struct xnode xnode;

typedef struct xpart {
    const char *text; /* literal text (NUL-terminated) or NULL */
    size_t len;
    xnode *expr;      /* interpolated expression or NULL */
} xpart;

typedef enum xfilter {
    XF_JSON_PATH,
    XF_REGEX,
    XF_REGEX_GROUP,
    XF_GET_INDEX,
    XF_LENGTH,
    XF_TYPE,
    XF_COUNT,
} xfilter;

struct xnode {
    xn_kind kind;
    size_t off, end;
    /* NUM / DUR */
    double num;
    bool is_int;
    int64_t ival;
    int64_t ns;
    /* STR: parts; ATTR / VAR / CALL: name */
    const char *name;
    bool is_env;
    xpart *parts;
    size_t n_parts;
    /* CALL args, ARRAY items, PIPE filter args */
    xnode **kids;
    size_t n_kids;
    /* BIN / NEG / PIPE */
    char op;
    xnode *l, *r;
    xnode *alt; /* BIN chains: the left-to-right reading, when it differs */
    /* ATTR: resolved once at parse time */
    tbt_prop prop;
    /* NUM, DUR, constant STR: the value, typed once at parse time */
    struct xitem_s constant;
    /* PIPE */
    xfilter filter;
    tbt_regex *re;
    tbt_jsonpath *jp;
};

/* A parse unit: owns the arena of its nodes and the compiled regexes and
 * JSONPaths (freed with it). */
typedef struct xunit {
    tbt_arena *arena;
    char *src;
    size_t len;
    tbt_loc loc;
    bool has_loc;
    tbt_regex **regexes;
    size_t n_regexes, cap_regexes;
    tbt_jsonpath **paths;
    size_t n_paths, cap_paths;
    bool uses_attr;
    bool precedence_differs;
} xunit;

struct tbt_expr {
    xunit u;
    xnode *root;
};

struct tbt_assertion {
    xunit u;
    xnode *left, *right;
    tbt_cmp cmp;
    size_t cmp_off;
};

typedef struct xparser {
    xunit *u;
    xlexer lx;
    tbt_error *err;
    unsigned depth;
    int failed;
} xparser;

void tbt_xunit_init(xunit *u, const char *src, size_t len, const tbt_loc *loc);
/* Compile a constant pattern owned (freed) by the unit. */
int tbt_xunit_regex(xunit *u, const char *pat, size_t len, tbt_regex **out, size_t *err_off, tbt_error *err);
int tbt_xunit_jsonpath(xunit *u, const char *path, size_t len, tbt_jsonpath **out, size_t *err_off, tbt_error *err);
void tbt_xunit_destroy(xunit *u);
/* Fail at offset: sets err with position and the caret. */
int tbt_xparse_fail(xparser *p, size_t off, const char *fmt, ...) TBT_PRINTF(3, 4);
/* Give a constant node (NUM, DUR, STR without interpolation) its typed
 * value, formatted once (tbt_expr_eval.c). */
void tbt_xnode_set_constant(tbt_arena *a, xnode *n);
/* Parse a full expression (with pipes) / a single term starting at the
 * lexer's position. */
xnode *tbt_xparse_expr(xparser *p);
xnode *tbt_xparse_term(xparser *p);
/* Parse the text src[off..end) as a string with ${} interpolation parts
 * (raw: quotes already stripped; escapes of quote processed). */
xnode *tbt_xparse_string(xparser *p, size_t off, size_t end, char quote);

/* ---- values ------------------------------------------------------------ */


typedef struct xval {
    bool array;
    xitem *items;
    size_t n;
} xval;

typedef struct xeval {
    const tbt_eval_ctx *ctx;
    xunit *u;
    tbt_arena *arena; /* scratch for this evaluation */
    tbt_error *err;
    unsigned depth;
} xeval;

/* Value helpers (tbt_expr_eval.c). */
xitem tbt_xitem_from_text(xeval *ev, const char *s, size_t len);
xitem tbt_xitem_num(xeval *ev, double d, bool is_int, int64_t i);
xitem tbt_xitem_dur(xeval *ev, int64_t ns);
/* A JSON value as an item: numbers typed, strings typed by content, the
 * rest as their JSON text. (cJSON is declared by tbt_jsonpath.h.) */
xitem tbt_xitem_from_json(xeval *ev, const cJSON *j);
xval tbt_xval_single(xeval *ev, xitem it);
void tbt_xval_text(const xval *v, tbt_buf *out);
int tbt_xeval_node(xeval *ev, const xnode *n, xval *out);
/* A list stays a list; a single item whose text is a JSON array becomes a
 * list of its elements (returns 1); anything else returns 0. */
int tbt_xval_as_list(xeval *ev, const xval *v, xval *out);
int tbt_xeval_fail(xeval *ev, const xnode *n, const char *fmt, ...) TBT_PRINTF(3, 4);

/* Functions and filters (tbt_expr_func.c). */
bool tbt_xfunc_exists(const char *name, int *min_args, int *max_args);
int tbt_xfunc_call(xeval *ev, const xnode *call, const xval *args, size_t nargs, xval *out);
bool tbt_xfilter_lookup(const char *name, xfilter *f, int *min_args, int *max_args);
const char *tbt_xfilter_name(xfilter f);
int tbt_xfilter_apply(xeval *ev, const xnode *pipe, const xval *in, const xval *args, size_t nargs, xval *out);

#endif
