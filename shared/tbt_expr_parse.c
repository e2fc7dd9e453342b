/* tbt_expr_parse.c - recursive-descent parser building the expression AST.
 * Every node keeps its byte range, so evaluation errors and warnings can
 * point at the exact sub-expression. */
#include "tbt_expr_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tbt_xunit_init(xunit *u, const char *src, size_t len, const tbt_loc *loc)
{
    memset(u, 0, sizeof(*u));
    u->arena = tbt_arena_new();
    u->src = tbt_xstrndup(src, len);
    u->len = len;
    if (loc) {
        u->loc = *loc;
        u->has_loc = true;
    }
}

int tbt_xunit_regex(xunit *u, const char *pat, size_t len, tbt_regex **out, size_t *err_off, tbt_error *err)
{
    int rc = tbt_regex_compile(pat, len, out, err_off, err);
    if (rc == 0) {
        TBT_GROW(u->regexes, u->cap_regexes, u->n_regexes + 1);
        u->regexes[u->n_regexes++] = *out;
    }
    return rc;
}

int tbt_xunit_jsonpath(xunit *u, const char *path, size_t len, tbt_jsonpath **out, size_t *err_off, tbt_error *err)
{
    int rc = tbt_jsonpath_compile(path, len, out, err_off, err);
    if (rc == 0) {
        TBT_GROW(u->paths, u->cap_paths, u->n_paths + 1);
        u->paths[u->n_paths++] = *out;
    }
    return rc;
}

void tbt_xunit_destroy(xunit *u)
{
    for (size_t i = 0; i < u->n_regexes; i++)
        tbt_regex_free(u->regexes[i]);
    for (size_t i = 0; i < u->n_paths; i++)
        tbt_jsonpath_free(u->paths[i]);
    free(u->regexes);
    free(u->paths);
    free(u->src);
    tbt_arena_free(u->arena);
    memset(u, 0, sizeof(*u));
}

int tbt_xparse_fail(xparser *p, size_t off, const char *fmt, ...)
{
    if (p->failed)
        return p->failed;
    va_list ap;
    va_start(ap, fmt);
    char *m = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    tbt_error_set(p->err, -EINVAL, "%s", m);
    free(m);
    tbt_error_at(p->err, p->u->has_loc ? &p->u->loc : NULL, p->u->src, off);
    p->failed = -EINVAL;
    return p->failed;
}

static xnode *new_node(xparser *p, xn_kind k, size_t off, size_t end)
{
    xnode *n = tbt_arena_alloc(p->u->arena, sizeof(*n));
    n->kind = k;
    n->off = off;
    n->end = end;
    return n;
}

static void describe(xparser *p, const xtok *t, char *buf, size_t cap)
{
    if (t->kind == XT_EOF) {
        /* inside "${...}" the lexer stops at the closing brace */
        if (t->off < p->u->len && p->u->src[t->off] == '}')
            snprintf(buf, cap, "'}'");
        else
            snprintf(buf, cap, "the end of the expression");
        return;
    }
    size_t l = t->end - t->off;
    if (l > 40)
        l = 40;
    snprintf(buf, cap, "'%.*s'", (int)l, p->u->src + t->off);
}

static int fail_tok(xparser *p, const xtok *t, const char *expected)
{
    if (t->kind == XT_ERROR && t->error)
        return tbt_xparse_fail(p, t->off, "%s", t->error);
    char found[64];
    describe(p, t, found, sizeof(found));
    return tbt_xparse_fail(p, t->off, "expected %s, found %s", expected, found);
}

static void add_kid(xparser *p, xnode *n, xnode *kid)
{
    xnode **nk = tbt_arena_alloc(p->u->arena, (n->n_kids + 1) * sizeof(xnode *));
    if (n->n_kids)
        memcpy(nk, n->kids, n->n_kids * sizeof(xnode *));
    nk[n->n_kids++] = kid;
    n->kids = nk;
}

xnode *tbt_xparse_string(xparser *p, size_t off, size_t end, char quote)
{
    const char *s = p->u->src;
    xnode *n = new_node(p, XN_STR, off, end);
    tbt_buf lit = TBT_BUF_INIT;
    xpart parts[64];
    size_t np = 0;
    xpart *heap = NULL;
    size_t heap_cap = 0;
#define PUSH_PART(pt)                                              \
    do {                                                           \
        if (np < TBT_ARRAY_LEN(parts)) {                           \
            parts[np++] = (pt);                                    \
        } else {                                                   \
            if (!heap) {                                           \
                heap_cap = np;                                     \
                heap = tbt_xmalloc(np * sizeof(xpart));            \
                memcpy(heap, parts, np * sizeof(xpart));           \
            }                                                      \
            TBT_GROW(heap, heap_cap, np + 1);                      \
            heap[np++] = (pt);                                     \
        }                                                          \
    } while (0)
    size_t i = off;
    while (i < end) {
        if (quote && s[i] == '\\' && i + 1 < end && s[i + 1] == quote) {
            tbt_buf_putc(&lit, quote);
            i += 2;
            continue;
        }
        if (s[i] == '$' && i + 1 < end && s[i + 1] == '{') {
            size_t e = tbt_xlex_interp_end(s, end, i);
            if (e == 0) {
                tbt_xparse_fail(p, i, "unterminated '${' in string");
                break;
            }
            if (lit.len) {
                xpart pt = {tbt_arena_strndup(p->u->arena, lit.data, lit.len), lit.len, NULL};
                PUSH_PART(pt);
                tbt_buf_reset(&lit);
            }
            xparser sub = *p;
            tbt_xlex_init(&sub.lx, s, e - 1, i + 2);
            xtok first = tbt_xlex_peek(&sub.lx);
            if (first.kind == XT_EOF) {
                tbt_xparse_fail(p, i, "empty '${}' in string");
                break;
            }
            xnode *inner = tbt_xparse_expr(&sub);
            if (!inner || sub.failed) {
                p->failed = sub.failed ? sub.failed : -EINVAL;
                break;
            }
            xtok rest = tbt_xlex_next(&sub.lx);
            if (rest.kind != XT_EOF) {
                fail_tok(&sub, &rest, "'}' to close '${'");
                p->failed = sub.failed;
                break;
            }
            xpart pt = {NULL, 0, inner};
            PUSH_PART(pt);
            i = e;
            continue;
        }
        tbt_buf_putc(&lit, s[i]);
        i++;
    }
    if (lit.len || np == 0) {
        xpart pt = {tbt_arena_strndup(p->u->arena, tbt_buf_cstr(&lit), lit.len), lit.len, NULL};
        PUSH_PART(pt);
    }
#undef PUSH_PART
    tbt_buf_free(&lit);
    n->parts = tbt_arena_memdup(p->u->arena, heap ? heap : parts, np * sizeof(xpart));
    n->n_parts = np;
    free(heap);
    tbt_xnode_set_constant(p->u->arena, n);
    return p->failed ? NULL : n;
}

static bool starts_term(const xtok *t)
{
    switch (t->kind) {
    case XT_NUM:
    case XT_DUR:
    case XT_STR:
    case XT_ATTR:
    case XT_VAR:
    case XT_ENV:
    case XT_IDENT:
    case XT_LBRACK:
    case XT_LPAREN:
    case XT_MINUS:
        return true;
    default:
        return false;
    }
}

static const char *fn_list = "uuid, firstName, lastName, fullName, email, phone, creditCard, creditCardCvv, "
                             "creditCardExpDate, randomInt, date, dateTime";

static xnode *parse_call(xparser *p, const xtok *name)
{
    char *fname = tbt_arena_strndup(p->u->arena, p->u->src + name->voff, name->vend - name->voff);
    int mn, mx;
    if (!tbt_xfunc_exists(fname, &mn, &mx)) {
        tbt_xparse_fail(p, name->off, "unknown function '%s'; functions are: %s", fname, fn_list);
        return NULL;
    }
    tbt_xlex_next(&p->lx); /* ( */
    xnode *n = new_node(p, XN_CALL, name->off, name->end);
    n->name = fname;
    xtok t = tbt_xlex_peek(&p->lx);
    if (t.kind != XT_RPAREN) {
        for (;;) {
            xnode *a = tbt_xparse_expr(p);
            if (!a)
                return NULL;
            add_kid(p, n, a);
            t = tbt_xlex_next(&p->lx);
            if (t.kind == XT_COMMA)
                continue;
            if (t.kind == XT_RPAREN)
                break;
            fail_tok(p, &t, "',' or ')' in the arguments of a function");
            return NULL;
        }
    } else {
        tbt_xlex_next(&p->lx);
    }
    n->end = t.end;
    if ((int)n->n_kids < mn || (int)n->n_kids > mx) {
        if (mn == mx)
            tbt_xparse_fail(p, name->off, "%s() takes %d argument%s, got %zu", fname, mn, mn == 1 ? "" : "s", n->n_kids);
        else
            tbt_xparse_fail(p, name->off, "%s() takes %d to %d arguments, got %zu", fname, mn, mx, n->n_kids);
        return NULL;
    }
    return n;
}

xnode *tbt_xparse_term(xparser *p)
{
    if (++p->depth > TBT_EXPR_MAX_DEPTH) {
        xtok t = tbt_xlex_peek(&p->lx);
        tbt_xparse_fail(p, t.off, "expression nested too deeply (more than %d levels)", TBT_EXPR_MAX_DEPTH);
        return NULL;
    }
    xnode *r = NULL;
    xtok t = tbt_xlex_next(&p->lx);
    switch (t.kind) {
    case XT_NUM:
        r = new_node(p, XN_NUM, t.off, t.end);
        r->num = t.num;
        r->is_int = t.is_int;
        r->ival = t.ival;
        break;
    case XT_DUR:
        r = new_node(p, XN_DUR, t.off, t.end);
        r->ns = t.ns;
        break;
    case XT_STR:
        r = tbt_xparse_string(p, t.voff, t.vend, p->u->src[t.off]);
        if (r) {
            r->off = t.off;
            r->end = t.end;
        }
        break;
    case XT_ATTR:
        r = new_node(p, XN_ATTR, t.off, t.end);
        r->name = tbt_arena_strndup(p->u->arena, p->u->src + t.voff, t.vend - t.voff);
        r->prop = tbt_prop_resolve(r->name, false);
        p->u->uses_attr = true;
        break;
    case XT_VAR:
    case XT_ENV:
        r = new_node(p, XN_VAR, t.off, t.end);
        r->name = tbt_arena_strndup(p->u->arena, p->u->src + t.voff, t.vend - t.voff);
        r->is_env = t.kind == XT_ENV;
        break;
    case XT_IDENT: {
        xtok nx = tbt_xlex_peek(&p->lx);
        size_t wl = t.vend - t.voff;
        const char *w = p->u->src + t.voff;
        if (nx.kind == XT_LPAREN) {
            r = parse_call(p, &t);
        } else if ((wl == 4 && !memcmp(w, "true", 4)) || (wl == 5 && !memcmp(w, "false", 5))) {
            r = new_node(p, XN_STR, t.off, t.end);
            r->parts = tbt_arena_alloc(p->u->arena, sizeof(xpart));
            r->parts[0].text = tbt_arena_strndup(p->u->arena, w, wl);
            r->parts[0].len = wl;
            r->n_parts = 1;
            tbt_xnode_set_constant(p->u->arena, r);
        } else {
            tbt_xparse_fail(p, t.off,
                            "unexpected word '%.*s': strings must be quoted (\"...\" or '...'), attributes "
                            "written attr:NAME, variables var:NAME",
                            (int)(wl > 40 ? 40 : wl), w);
        }
        break;
    }
    case XT_LBRACK: {
        r = new_node(p, XN_ARRAY, t.off, t.end);
        xtok nx = tbt_xlex_peek(&p->lx);
        if (nx.kind == XT_RBRACK) {
            tbt_xlex_next(&p->lx);
            r->end = nx.end;
            break;
        }
        for (;;) {
            xnode *it = tbt_xparse_expr(p);
            if (!it) {
                r = NULL;
                break;
            }
            add_kid(p, r, it);
            xtok sep = tbt_xlex_next(&p->lx);
            if (sep.kind == XT_COMMA)
                continue;
            if (sep.kind == XT_RBRACK) {
                r->end = sep.end;
                break;
            }
            fail_tok(p, &sep, "',' or ']' in a list");
            r = NULL;
            break;
        }
        break;
    }
    case XT_LPAREN: {
        r = tbt_xparse_expr(p);
        if (!r)
            break;
        xtok cl = tbt_xlex_next(&p->lx);
        if (cl.kind != XT_RPAREN) {
            fail_tok(p, &cl, "')'");
            r = NULL;
            break;
        }
        /* Parentheses end a chain: mark the node so the precedence check
         * treats it as one operand. */
        if (r->kind == XN_BIN) {
            xnode *g = new_node(p, XN_NEG, t.off, cl.end);
            g->op = '(';
            g->l = r;
            r = g;
        }
        break;
    }
    case XT_MINUS: {
        xnode *inner = tbt_xparse_term(p);
        if (!inner)
            break;
        if (inner->kind == XN_NUM) {
            inner->num = -inner->num;
            inner->ival = -inner->ival;
            inner->off = t.off;
            r = inner;
        } else if (inner->kind == XN_DUR) {
            inner->ns = -inner->ns;
            inner->off = t.off;
            r = inner;
        } else {
            r = new_node(p, XN_NEG, t.off, inner->end);
            r->op = '-';
            r->l = inner;
        }
        break;
    }
    default:
        fail_tok(p, &t, "a value (a number, a duration, a quoted string, attr:NAME, var:NAME, a function call or [list])");
        break;
    }
    p->depth--;
    if (r && (r->kind == XN_NUM || r->kind == XN_DUR))
        tbt_xnode_set_constant(p->u->arena, r);
    return p->failed ? NULL : r;
}

static int prec(char op)
{
    return op == '*' || op == '/' ? 2 : 1;
}

/* Build the conventional tree from operands and operators. */
static xnode *build_prec(xparser *p, xnode **ops_n, char *ops, size_t n)
{
    /* shunting-yard over at most two precedence levels */
    xnode **out = tbt_xmalloc(n * sizeof(xnode *));
    char *st = tbt_xmalloc(n);
    size_t no = 0, ns = 0;
    out[no++] = ops_n[0];
    for (size_t i = 1; i < n; i++) {
        char op = ops[i - 1];
        while (ns > 0 && prec(st[ns - 1]) >= prec(op)) {
            char o = st[--ns];
            xnode *r = out[--no], *l = out[--no];
            xnode *b = new_node(p, XN_BIN, l->off, r->end);
            b->op = o;
            b->l = l;
            b->r = r;
            out[no++] = b;
        }
        st[ns++] = op;
        out[no++] = ops_n[i];
    }
    while (ns > 0) {
        char o = st[--ns];
        xnode *r = out[--no], *l = out[--no];
        xnode *b = new_node(p, XN_BIN, l->off, r->end);
        b->op = o;
        b->l = l;
        b->r = r;
        out[no++] = b;
    }
    xnode *root = out[0];
    free(out);
    free(st);
    return root;
}

static xnode *build_l2r(xparser *p, xnode **ops_n, char *ops, size_t n)
{
    xnode *acc = ops_n[0];
    for (size_t i = 1; i < n; i++) {
        xnode *b = new_node(p, XN_BIN, acc->off, ops_n[i]->end);
        b->op = ops[i - 1];
        b->l = acc;
        b->r = ops_n[i];
        acc = b;
    }
    return acc;
}

static xnode *parse_arith(xparser *p)
{
    xnode *first = tbt_xparse_term(p);
    if (!first)
        return NULL;
    xnode *operands[1 + 256];
    char ops[256];
    size_t n = 1;
    operands[0] = first;
    for (;;) {
        xtok t = tbt_xlex_peek(&p->lx);
        char op = t.kind == XT_PLUS ? '+' : t.kind == XT_MINUS ? '-' : t.kind == XT_STAR ? '*' : t.kind == XT_SLASH ? '/' : 0;
        if (!op)
            break;
        if (n > 256) {
            tbt_xparse_fail(p, t.off, "too many operators in one expression (at most 256)");
            return NULL;
        }
        tbt_xlex_next(&p->lx);
        xnode *rhs = tbt_xparse_term(p);
        if (!rhs)
            return NULL;
        ops[n - 1] = op;
        operands[n++] = rhs;
    }
    if (n == 1)
        return first;
    xnode *tree = build_prec(p, operands, ops, n);
    bool low_seen = false, differs = false;
    for (size_t i = 0; i + 1 < n; i++) {
        if (prec(ops[i]) == 1)
            low_seen = true;
        else if (low_seen)
            differs = true;
    }
    if (differs) {
        tree->alt = build_l2r(p, operands, ops, n);
        p->u->precedence_differs = true;
    }
    return tree;
}

xnode *tbt_xparse_expr(xparser *p)
{
    xnode *e = parse_arith(p);
    if (!e)
        return NULL;
    for (;;) {
        xtok t = tbt_xlex_peek(&p->lx);
        if (t.kind != XT_PIPE)
            break;
        tbt_xlex_next(&p->lx);
        xtok name = tbt_xlex_next(&p->lx);
        if (name.kind != XT_IDENT) {
            fail_tok(p, &name, "a filter name after '|' (json_path, regex, regex_group, get_index, length, type)");
            return NULL;
        }
        char *fname = tbt_arena_strndup(p->u->arena, p->u->src + name.voff, name.vend - name.voff);
        xfilter f;
        int mn, mx;
        if (!tbt_xfilter_lookup(fname, &f, &mn, &mx)) {
            tbt_xparse_fail(p, name.off,
                            "unknown filter '%s'; filters are: json_path, regex, regex_group, get_index, length, type",
                            fname);
            return NULL;
        }
        xnode *pipe = new_node(p, XN_PIPE, e->off, name.end);
        pipe->filter = f;
        pipe->name = fname;
        pipe->l = e;
        for (;;) {
            xtok a = tbt_xlex_peek(&p->lx);
            if (!starts_term(&a) || a.kind == XT_LPAREN)
                break;
            if (a.kind == XT_IDENT) {
                /* a word here is a literal argument only for get_index last */
                break;
            }
            xnode *arg = tbt_xparse_term(p);
            if (!arg)
                return NULL;
            add_kid(p, pipe, arg);
            pipe->end = arg->end;
        }
        if ((int)pipe->n_kids < mn || (int)pipe->n_kids > mx) {
            if (mn == mx)
                tbt_xparse_fail(p, name.off, "filter %s takes %d argument%s, got %zu", fname, mn, mn == 1 ? "" : "s",
                                pipe->n_kids);
            else
                tbt_xparse_fail(p, name.off, "filter %s takes %d to %d arguments, got %zu", fname, mn, mx, pipe->n_kids);
            return NULL;
        }
        /* Compile constant patterns now, so a bad one is a parse error
         * pointing into the pattern. */
        if ((f == XF_REGEX || f == XF_REGEX_GROUP || f == XF_JSON_PATH) && pipe->n_kids == 1 &&
            pipe->kids[0]->kind == XN_STR && pipe->kids[0]->n_parts == 1 && !pipe->kids[0]->parts[0].expr) {
            const xpart *pt = &pipe->kids[0]->parts[0];
            size_t eo = 0;
            tbt_error perr = TBT_ERROR_INIT;
            int rc;
            if (f == XF_JSON_PATH)
                rc = tbt_xunit_jsonpath(p->u, pt->text, pt->len, &pipe->jp, &eo, &perr);
            else
                rc = tbt_xunit_regex(p->u, pt->text, pt->len, &pipe->re, &eo, &perr);
            if (rc != 0) {
                /* the pattern text equals the source between the quotes
                 * unless escapes were processed; offsets are then close */
                size_t at = pipe->kids[0]->off + 1 + eo;
                if (at > pipe->kids[0]->end)
                    at = pipe->kids[0]->off;
                tbt_xparse_fail(p, at, "%s", perr.msg);
                tbt_error_clear(&perr);
                return NULL;
            }
        }
        e = pipe;
    }
    return e;
}

const char *tbt_cmp_name(tbt_cmp c)
{
    switch (c) {
    case TBT_CMP_EQ: return "=";
    case TBT_CMP_NE: return "!=";
    case TBT_CMP_LT: return "<";
    case TBT_CMP_LE: return "<=";
    case TBT_CMP_GT: return ">";
    case TBT_CMP_GE: return ">=";
    case TBT_CMP_CONTAINS: return "contains";
    case TBT_CMP_NOT_CONTAINS: return "not-contains";
    }
    return "?";
}

static bool only_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

/* Set up a parse of src into u: bounds and blank input are errors. */
static int parse_begin(xparser *p, xunit *u, const char *src, size_t len, const tbt_loc *loc, tbt_error *err,
                       const char *what, const char *empty_msg)
{
    tbt_xunit_init(u, src, len, loc);
    memset(p, 0, sizeof(*p));
    p->u = u;
    p->err = err;
    tbt_xlex_init(&p->lx, u->src, len, 0);
    if (len > TBT_EXPR_MAX_LEN)
        return tbt_xparse_fail(p, 0, "%s longer than %u bytes", what, TBT_EXPR_MAX_LEN);
    if (only_blank(src))
        return tbt_xparse_fail(p, 0, "%s", empty_msg);
    return 0;
}

/* The input must end here; a comparator gets its own message. */
static int parse_end(xparser *p, const char *cmp_msg, const char *what)
{
    xtok t = tbt_xlex_next(&p->lx);
    if (t.kind == XT_EOF)
        return 0;
    if (t.kind == XT_CMP)
        return tbt_xparse_fail(p, t.off, "%s", cmp_msg);
    return fail_tok(p, &t, what);
}

int tbt_assertion_parse(const char *src, const tbt_loc *loc, tbt_assertion **out, tbt_error *err)
{
    *out = NULL;
    tbt_assertion *a = tbt_xcalloc(1, sizeof(*a));
    xparser p;
    if (parse_begin(&p, &a->u, src, strlen(src), loc, err, "assertion",
                    "empty assertion; expected e.g. attr:http.response.status_code = 200"))
        goto fail;
    a->left = tbt_xparse_expr(&p);
    if (!a->left)
        goto fail;
    xtok c = tbt_xlex_next(&p.lx);
    if (c.kind != XT_CMP) {
        fail_tok(&p, &c, "a comparator (=, !=, <, <=, >, >=, contains, not-contains)");
        goto fail;
    }
    a->cmp = c.cmp;
    a->cmp_off = c.off;
    a->right = tbt_xparse_expr(&p);
    if (!a->right ||
        parse_end(&p, "only one comparator is allowed in an assertion", "the end of the assertion"))
        goto fail;
    *out = a;
    return 0;
fail:
    tbt_assertion_free(a);
    return p.failed ? p.failed : -EINVAL;
}

void tbt_assertion_free(tbt_assertion *a)
{
    if (!a)
        return;
    tbt_xunit_destroy(&a->u);
    free(a);
}

const char *tbt_assertion_source(const tbt_assertion *a)
{
    return a->u.src;
}

tbt_cmp tbt_assertion_comparator(const tbt_assertion *a)
{
    return a->cmp;
}

bool tbt_assertion_uses_span(const tbt_assertion *a)
{
    return a->u.uses_attr;
}

int tbt_expr_parse(const char *src, const tbt_loc *loc, tbt_expr **out, tbt_error *err)
{
    *out = NULL;
    tbt_expr *e = tbt_xcalloc(1, sizeof(*e));
    xparser p;
    if (parse_begin(&p, &e->u, src, strlen(src), loc, err, "expression", "empty expression"))
        goto fail;
    e->root = tbt_xparse_expr(&p);
    if (!e->root || parse_end(&p, "a comparator is not allowed here: this is a value, not an assertion",
                              "the end of the expression"))
        goto fail;
    *out = e;
    return 0;
fail:
    tbt_expr_free(e);
    return p.failed ? p.failed : -EINVAL;
}

void tbt_expr_free(tbt_expr *e)
{
    if (!e)
        return;
    tbt_xunit_destroy(&e->u);
    free(e);
}
