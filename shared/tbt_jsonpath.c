/* tbt_jsonpath.c - a small JSONPath compiler and evaluator over cJSON. */
#include "tbt_jsonpath.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    JP_CHILD,     /* .name / ['name'] / ["a","b"] */
    JP_WILDCARD,  /* .* / [*] */
    JP_INDEX,     /* [N], [a,b] of numbers */
    JP_SLICE,     /* [a:b] */
    JP_FILTER,    /* [?(...)] */
} jp_kind;

typedef enum { F_EXISTS, F_EQ, F_NE, F_LT, F_LE, F_GT, F_GE } jp_fop;

typedef struct jp_step {
    jp_kind kind;
    bool recursive; /* preceded by .. */
    char **names;
    size_t n_names;
    long *indexes;
    size_t n_indexes;
    long slice_start, slice_end;
    bool has_start, has_end;
    /* filter */
    char **fpath; /* relative path under @ (child names) */
    size_t n_fpath;
    jp_fop fop;
    cJSON *literal;
} jp_step;

struct tbt_jsonpath {
    jp_step *steps;
    size_t n, cap;
};

typedef struct {
    const char *s;
    size_t len, pos;
    tbt_error *err;
    size_t *err_offset;
} jp_parser;

static int jp_fail(jp_parser *p, const char *what)
{
    if (p->err_offset)
        *p->err_offset = p->pos;
    if (p->pos >= p->len)
        return tbt_error_set(p->err, -EINVAL, "invalid JSONPath: %s, found the end of the path", what);
    return tbt_error_set(p->err, -EINVAL, "invalid JSONPath: %s, found '%c'", what, p->s[p->pos]);
}

static void skip_ws(jp_parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'))
        p->pos++;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '$' || c == '@' || (unsigned char)c >= 0x80;
}

static char *parse_name(jp_parser *p)
{
    size_t st = p->pos;
    while (p->pos < p->len && is_name_char(p->s[p->pos]))
        p->pos++;
    if (p->pos == st)
        return NULL;
    return tbt_xstrndup(p->s + st, p->pos - st);
}

static char *parse_quoted(jp_parser *p)
{
    char q = p->s[p->pos];
    tbt_buf b = TBT_BUF_INIT;
    p->pos++;
    while (p->pos < p->len && p->s[p->pos] != q) {
        if (p->s[p->pos] == '\\' && p->pos + 1 < p->len)
            p->pos++;
        tbt_buf_putc(&b, p->s[p->pos]);
        p->pos++;
    }
    if (p->pos >= p->len) {
        tbt_buf_free(&b);
        return NULL;
    }
    p->pos++;
    return tbt_buf_steal(&b);
}

static bool parse_long(jp_parser *p, long *out)
{
    size_t st = p->pos;
    if (p->pos < p->len && p->s[p->pos] == '-')
        p->pos++;
    size_t ds = p->pos;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
        p->pos++;
    if (p->pos == ds || p->pos - st > 18) {
        p->pos = st;
        return false;
    }
    char tmp[24];
    memcpy(tmp, p->s + st, p->pos - st);
    tmp[p->pos - st] = '\0';
    *out = strtol(tmp, NULL, 10);
    return true;
}

static void step_free(jp_step *s)
{
    for (size_t i = 0; i < s->n_names; i++)
        free(s->names[i]);
    free(s->names);
    free(s->indexes);
    for (size_t i = 0; i < s->n_fpath; i++)
        free(s->fpath[i]);
    free(s->fpath);
    cJSON_Delete(s->literal);
}

static void add_name(jp_step *s, char *name)
{
    s->names = tbt_xrealloc(s->names, (s->n_names + 1) * sizeof(char *));
    s->names[s->n_names++] = name;
}

static int parse_filter(jp_parser *p, jp_step *st)
{
    /* at '?' */
    p->pos++;
    skip_ws(p);
    bool paren = p->pos < p->len && p->s[p->pos] == '(';
    if (paren)
        p->pos++;
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != '@')
        return jp_fail(p, "expected '@' in filter");
    p->pos++;
    st->kind = JP_FILTER;
    while (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        char *n = parse_name(p);
        if (!n)
            return jp_fail(p, "expected a member name after '.'");
        st->fpath = tbt_xrealloc(st->fpath, (st->n_fpath + 1) * sizeof(char *));
        st->fpath[st->n_fpath++] = n;
    }
    skip_ws(p);
    static const struct {
        const char *tok;
        jp_fop op;
    } ops[] = {{"==", F_EQ}, {"!=", F_NE}, {"<=", F_LE}, {">=", F_GE}, {"<", F_LT}, {">", F_GT}};
    st->fop = F_EXISTS;
    for (size_t i = 0; i < TBT_ARRAY_LEN(ops); i++) {
        size_t l = strlen(ops[i].tok);
        if (p->pos + l <= p->len && memcmp(p->s + p->pos, ops[i].tok, l) == 0) {
            st->fop = ops[i].op;
            p->pos += l;
            break;
        }
    }
    if (st->fop != F_EXISTS) {
        skip_ws(p);
        if (p->pos < p->len && (p->s[p->pos] == '\'' || p->s[p->pos] == '"')) {
            char *str = parse_quoted(p);
            if (!str)
                return jp_fail(p, "unterminated string in filter");
            st->literal = cJSON_CreateString(str);
            free(str);
        } else {
            size_t s0 = p->pos;
            while (p->pos < p->len && p->s[p->pos] != ')' && p->s[p->pos] != ']' && p->s[p->pos] != ' ')
                p->pos++;
            char *lit = tbt_xstrndup(p->s + s0, p->pos - s0);
            st->literal = cJSON_Parse(lit);
            free(lit);
            if (!st->literal || cJSON_IsArray(st->literal) || cJSON_IsObject(st->literal)) {
                p->pos = s0;
                return jp_fail(p, "expected a string, number, true, false or null in filter");
            }
        }
        skip_ws(p);
    }
    if (paren) {
        if (p->pos >= p->len || p->s[p->pos] != ')')
            return jp_fail(p, "expected ')' to close the filter");
        p->pos++;
        skip_ws(p);
    }
    return 0;
}

static int parse_bracket(jp_parser *p, jp_step *st)
{
    /* at '[' */
    p->pos++;
    skip_ws(p);
    if (p->pos >= p->len)
        return jp_fail(p, "expected a subscript after '['");
    char c = p->s[p->pos];
    int rc = 0;
    if (c == '*') {
        st->kind = JP_WILDCARD;
        p->pos++;
    } else if (c == '?') {
        rc = parse_filter(p, st);
    } else if (c == '\'' || c == '"') {
        st->kind = JP_CHILD;
        for (;;) {
            skip_ws(p);
            if (p->pos >= p->len || (p->s[p->pos] != '\'' && p->s[p->pos] != '"'))
                return jp_fail(p, "expected a quoted member name");
            char *n = parse_quoted(p);
            if (!n)
                return jp_fail(p, "unterminated quoted member name");
            add_name(st, n);
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                continue;
            }
            break;
        }
    } else {
        long a;
        bool has_a = parse_long(p, &a);
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ':') {
            st->kind = JP_SLICE;
            st->has_start = has_a;
            st->slice_start = has_a ? a : 0;
            p->pos++;
            skip_ws(p);
            long b;
            st->has_end = parse_long(p, &b);
            st->slice_end = st->has_end ? b : 0;
        } else if (has_a) {
            st->kind = JP_INDEX;
            for (;;) {
                st->indexes = tbt_xrealloc(st->indexes, (st->n_indexes + 1) * sizeof(long));
                st->indexes[st->n_indexes++] = a;
                skip_ws(p);
                if (p->pos < p->len && p->s[p->pos] == ',') {
                    p->pos++;
                    skip_ws(p);
                    if (!parse_long(p, &a))
                        return jp_fail(p, "expected an index");
                    continue;
                }
                break;
            }
        } else {
            return jp_fail(p, "expected '*', an index, a slice, a quoted name or a filter");
        }
    }
    if (rc)
        return rc;
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != ']')
        return jp_fail(p, "expected ']'");
    p->pos++;
    return 0;
}

void tbt_jsonpath_free(tbt_jsonpath *jp)
{
    if (!jp)
        return;
    for (size_t i = 0; i < jp->n; i++)
        step_free(&jp->steps[i]);
    free(jp->steps);
    free(jp);
}

int tbt_jsonpath_compile(const char *path, size_t len, tbt_jsonpath **out, size_t *err_offset, tbt_error *err)
{
    jp_parser p = {path, len, 0, err, err_offset};
    tbt_jsonpath *jp = tbt_xcalloc(1, sizeof(*jp));
    *out = NULL;
    skip_ws(&p);
    if (p.pos < p.len && p.s[p.pos] == '$')
        p.pos++;
    int rc = 0;
    while (p.pos < p.len) {
        skip_ws(&p);
        if (p.pos >= p.len)
            break;
        TBT_GROW(jp->steps, jp->cap, jp->n + 1);
        jp_step *st = &jp->steps[jp->n];
        memset(st, 0, sizeof(*st));
        jp->n++;
        char c = p.s[p.pos];
        if (c == '.') {
            p.pos++;
            if (p.pos < p.len && p.s[p.pos] == '.') {
                st->recursive = true;
                p.pos++;
            }
            if (p.pos < p.len && p.s[p.pos] == '*') {
                st->kind = JP_WILDCARD;
                p.pos++;
            } else if (p.pos < p.len && p.s[p.pos] == '[' && st->recursive) {
                rc = parse_bracket(&p, st);
            } else {
                char *n = parse_name(&p);
                if (!n) {
                    rc = jp_fail(&p, "expected a member name, '*' or '[' after '.'");
                    break;
                }
                st->kind = JP_CHILD;
                add_name(st, n);
            }
        } else if (c == '[') {
            rc = parse_bracket(&p, st);
        } else if (jp->n == 1 && is_name_char(c)) {
            /* a bare first name: "name.x" means "$.name.x" */
            char *n = parse_name(&p);
            st->kind = JP_CHILD;
            add_name(st, n);
        } else {
            rc = jp_fail(&p, "expected '.', '..' or '['");
        }
        if (rc)
            break;
    }
    if (rc) {
        tbt_jsonpath_free(jp);
        return rc;
    }
    *out = jp;
    return 0;
}

/* ---- evaluation -------------------------------------------------------- */
typedef struct {
    const cJSON **items;
    size_t n, cap;
} nodelist;

static void nl_push(nodelist *l, const cJSON *n)
{
    if (l->n >= TBT_JSONPATH_MAX_RESULTS)
        return;
    TBT_GROW(l->items, l->cap, l->n + 1);
    l->items[l->n++] = n;
}

static int json_cmp(const cJSON *a, const cJSON *b, bool *comparable)
{
    *comparable = true;
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble < b->valuedouble ? -1 : a->valuedouble > b->valuedouble ? 1 : 0;
    if (cJSON_IsString(a) && cJSON_IsString(b))
        return strcmp(a->valuestring, b->valuestring);
    if (cJSON_IsBool(a) && cJSON_IsBool(b))
        return cJSON_IsTrue(a) == cJSON_IsTrue(b) ? 0 : 1;
    if (cJSON_IsNull(a) && cJSON_IsNull(b))
        return 0;
    *comparable = false;
    return 1;
}

static bool filter_ok(const jp_step *st, const cJSON *n)
{
    const cJSON *cur = n;
    for (size_t i = 0; i < st->n_fpath && cur; i++)
        cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, st->fpath[i]) : NULL;
    if (!cur)
        return false;
    if (st->fop == F_EXISTS)
        return true;
    bool comparable;
    int c = json_cmp(cur, st->literal, &comparable);
    switch (st->fop) {
    case F_EQ: return comparable && c == 0;
    case F_NE: return !comparable || c != 0;
    case F_LT: return comparable && c < 0;
    case F_LE: return comparable && c <= 0;
    case F_GT: return comparable && c > 0;
    case F_GE: return comparable && c >= 0;
    default: return false;
    }
}

static void apply_step(const jp_step *st, const cJSON *n, nodelist *out)
{
    switch (st->kind) {
    case JP_CHILD:
        if (cJSON_IsObject(n))
            for (size_t i = 0; i < st->n_names; i++) {
                const cJSON *c = cJSON_GetObjectItemCaseSensitive(n, st->names[i]);
                if (c)
                    nl_push(out, c);
            }
        break;
    case JP_WILDCARD:
        if (cJSON_IsObject(n) || cJSON_IsArray(n))
            for (const cJSON *c = n->child; c; c = c->next)
                nl_push(out, c);
        break;
    case JP_INDEX:
        if (cJSON_IsArray(n)) {
            long sz = cJSON_GetArraySize(n);
            for (size_t i = 0; i < st->n_indexes; i++) {
                long ix = st->indexes[i] < 0 ? sz + st->indexes[i] : st->indexes[i];
                if (ix >= 0 && ix < sz)
                    nl_push(out, cJSON_GetArrayItem(n, (int)ix));
            }
        }
        break;
    case JP_SLICE:
        if (cJSON_IsArray(n)) {
            long sz = cJSON_GetArraySize(n);
            long a = st->has_start ? st->slice_start : 0, b = st->has_end ? st->slice_end : sz;
            if (a < 0)
                a += sz;
            if (b < 0)
                b += sz;
            if (a < 0)
                a = 0;
            if (b > sz)
                b = sz;
            long i = 0;
            for (const cJSON *c = n->child; c && i < b; c = c->next, i++)
                if (i >= a)
                    nl_push(out, c);
        }
        break;
    case JP_FILTER:
        if (cJSON_IsArray(n) || cJSON_IsObject(n))
            for (const cJSON *c = n->child; c; c = c->next)
                if (filter_ok(st, c))
                    nl_push(out, c);
        break;
    }
}

static void descend(const jp_step *st, const cJSON *n, nodelist *out, unsigned depth)
{
    if (depth > 512)
        return;
    apply_step(st, n, out);
    if (cJSON_IsObject(n) || cJSON_IsArray(n))
        for (const cJSON *c = n->child; c; c = c->next)
            descend(st, c, out, depth + 1);
}

size_t tbt_jsonpath_eval(const tbt_jsonpath *jp, const cJSON *doc, const cJSON ***out, size_t *n, size_t *cap)
{
    nodelist cur = {0}, next = {0};
    nl_push(&cur, doc);
    for (size_t i = 0; i < jp->n; i++) {
        next.n = 0;
        for (size_t k = 0; k < cur.n; k++) {
            if (jp->steps[i].recursive)
                descend(&jp->steps[i], cur.items[k], &next, 0);
            else
                apply_step(&jp->steps[i], cur.items[k], &next);
        }
        nodelist t = cur;
        cur = next;
        next = t;
    }
    size_t added = 0;
    for (size_t k = 0; k < cur.n; k++) {
        TBT_GROW(*out, *cap, *n + 1);
        (*out)[(*n)++] = cur.items[k];
        added++;
    }
    free(cur.items);
    free(next.items);
    return added;
}
