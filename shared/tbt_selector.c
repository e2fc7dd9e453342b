/* tbt_selector.c - selector lexer and parser. Values are parsed as terms of
 * the expression language, so interpolation and variables behave the same
 * in both languages. */
#include "tbt_selector_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct sparser {
    tbt_selector *sel;
    const char *s;
    size_t len, pos;
    tbt_error *err;
    int failed;
} sparser;

static int sfail(sparser *p, size_t off, const char *fmt, ...) TBT_PRINTF(3, 4);
static int sfail(sparser *p, size_t off, const char *fmt, ...)
{
    if (p->failed)
        return p->failed;
    va_list ap;
    va_start(ap, fmt);
    char *m = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    tbt_error_set(p->err, -EINVAL, "%s", m);
    free(m);
    tbt_error_at(p->err, p->sel->u.has_loc ? &p->sel->u.loc : NULL, p->s, off);
    p->failed = -EINVAL;
    return p->failed;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_blank(sparser *p)
{
    while (p->pos < p->len && is_blank(p->s[p->pos]))
        p->pos++;
}

static bool is_prop_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == '/' || c == '@' || (unsigned char)c >= 0x80;
}

static const char *found(sparser *p, char *buf, size_t cap)
{
    if (p->pos >= p->len)
        return "the end of the selector";
    size_t e = p->pos;
    while (e < p->len && e - p->pos < 20 && !is_blank(p->s[e]))
        e++;
    if (e == p->pos)
        e++;
    snprintf(buf, cap, "'%.*s'", (int)(e - p->pos), p->s + p->pos);
    return buf;
}

static const struct {
    const char *tok;
    sel_op op;
    bool word;
} ops[] = {
    {"not-contains", SEL_NOT_CONTAINS, true}, {"contains", SEL_CONTAINS, true}, {"!=", SEL_NE, false},
    {"=~", SEL_MATCH, false},                 {"!~", SEL_NOT_MATCH, false},     {"<=", SEL_LE, false},
    {">=", SEL_GE, false},                    {"=", SEL_EQ, false},             {"<", SEL_LT, false},
    {">", SEL_GT, false},
};

const char *tbt_sel_op_name(sel_op op)
{
    for (size_t i = 0; i < TBT_ARRAY_LEN(ops); i++)
        if (ops[i].op == op)
            return ops[i].tok;
    return "?";
}

static int parse_filter(sparser *p, sel_step *st)
{
    char fb[48];
    size_t ps = p->pos;
    while (p->pos < p->len && is_prop_char(p->s[p->pos]))
        p->pos++;
    if (p->pos == ps) {
        if (p->pos < p->len && (p->s[p->pos] == '"' || p->s[p->pos] == '\''))
            return sfail(p, p->pos, "expected an attribute name, found a string; write span[name=\"...\"]");
        return sfail(p, p->pos, "expected an attribute name, found %s", found(p, fb, sizeof(fb)));
    }
    if (p->s[p->pos - 1] == '.' || p->s[ps] == '.')
        return sfail(p, p->s[ps] == '.' ? ps : p->pos - 1, "an attribute name cannot start or end with '.'");
    sel_filter f;
    memset(&f, 0, sizeof(f));
    f.prop = tbt_arena_strndup(p->sel->u.arena, p->s + ps, p->pos - ps);
    f.prop_off = ps;
    skip_blank(p);
    size_t oo = p->pos;
    bool got = false;
    for (size_t i = 0; i < TBT_ARRAY_LEN(ops); i++) {
        size_t l = strlen(ops[i].tok);
        if (p->pos + l <= p->len && memcmp(p->s + p->pos, ops[i].tok, l) == 0) {
            if (ops[i].word && p->pos + l < p->len && is_prop_char(p->s[p->pos + l]))
                continue;
            f.op = ops[i].op;
            p->pos += l;
            got = true;
            break;
        }
    }
    if (!got) {
        if (p->pos < p->len && p->s[p->pos] == ']')
            return sfail(p, p->pos, "expected an operator (=, !=, contains, not-contains, =~, !~, <, <=, >, >=) and a "
                                    "value after '%s'", f.prop);
        return sfail(p, p->pos, "expected an operator (=, !=, contains, not-contains, =~, !~, <, <=, >, >=), found %s",
                     found(p, fb, sizeof(fb)));
    }
    f.op_off = oo;
    if (f.op == SEL_EQ && p->pos < p->len && p->s[p->pos] == '=')
        return sfail(p, oo, "'==' is not a comparator; use '='");
    skip_blank(p);
    if (p->pos >= p->len || p->s[p->pos] == ']' || p->s[p->pos] == ',')
        return sfail(p, p->pos, "expected a value after '%s'", tbt_sel_op_name(f.op));
    /* the value: one term of the expression language */
    xparser xp = {.u = &p->sel->u, .err = p->err};
    tbt_xlex_init(&xp.lx, p->s, p->len, p->pos);
    xtok first = tbt_xlex_peek(&xp.lx);
    if (first.kind == XT_ATTR)
        return sfail(p, first.off, "attr: cannot be used in a selector value (there is no current span)");
    if (first.kind == XT_LBRACK || first.kind == XT_LPAREN || first.kind == XT_MINUS) {
        if (first.kind != XT_MINUS)
            return sfail(p, first.off, "expected a string, a number, true, false or ${...} as the value");
    }
    size_t vstart = p->pos;
    if (p->s[p->pos] == '$' && p->pos + 1 < p->len && p->s[p->pos + 1] == '{') {
        /* a bare ${expr}: parse it as an interpolated string */
        size_t e = tbt_xlex_interp_end(p->s, p->len, p->pos);
        if (e == 0)
            return sfail(p, p->pos, "unterminated '${'");
        f.value = tbt_xparse_string(&xp, p->pos, e, 0);
        if (!f.value) {
            p->failed = xp.failed ? xp.failed : -EINVAL;
            return p->failed;
        }
        f.value->off = p->pos;
        f.value->end = e;
        p->pos = e;
    } else {
        f.value = tbt_xparse_term(&xp);
        if (!f.value) {
            p->failed = xp.failed ? xp.failed : -EINVAL;
            return p->failed;
        }
        p->pos = xp.lx.has_peek ? xp.lx.peeked.off : xp.lx.pos;
        if (f.value->kind != XN_STR && f.value->kind != XN_NUM && f.value->kind != XN_DUR && f.value->kind != XN_VAR)
            return sfail(p, vstart, "expected a string, a number, true, false or ${...} as the value");
    }
    f.value_off = vstart;
    f.constant = f.value->kind == XN_NUM || f.value->kind == XN_DUR ||
                 (f.value->kind == XN_STR && f.value->n_parts == 1 && !f.value->parts[0].expr);
    if (!f.constant)
        p->sel->uses_vars = true;
    if (f.op == SEL_MATCH || f.op == SEL_NOT_MATCH) {
        if (f.value->kind != XN_STR && f.value->kind != XN_VAR)
            return sfail(p, vstart, "=~ and !~ take a regular expression in quotes");
        if (f.constant) {
            size_t eo = 0;
            tbt_error e = TBT_ERROR_INIT;
            if (tbt_xunit_regex(&p->sel->u, f.value->parts[0].text, f.value->parts[0].len, &f.re, &eo, &e) != 0) {
                int rc = sfail(p, vstart + 1 + eo, "%s", e.msg);
                tbt_error_clear(&e);
                return rc;
            }
        }
    }
    if (f.value->kind == XN_NUM)
        f.num_typed = true;
    TBT_GROW(st->filters, st->cap_filters, st->n_filters + 1);
    st->filters[st->n_filters++] = f;
    return 0;
}

static int parse_step(sparser *p, sel_step *st)
{
    char fb[48];
    st->off = p->pos;
    if (p->len - p->pos < 4 || memcmp(p->s + p->pos, "span", 4) != 0 ||
        (p->pos + 4 < p->len && is_prop_char(p->s[p->pos + 4]))) {
        return sfail(p, p->pos, "expected 'span[', found %s", found(p, fb, sizeof(fb)));
    }
    p->pos += 4;
    if (p->pos >= p->len || p->s[p->pos] != '[')
        return sfail(p, p->pos, "expected '[' after 'span', found %s", found(p, fb, sizeof(fb)));
    p->pos++;
    skip_blank(p);
    while (p->pos < p->len && p->s[p->pos] != ']') {
        if (parse_filter(p, st))
            return p->failed;
        skip_blank(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            skip_blank(p);
            if (p->pos < p->len && p->s[p->pos] == ']')
                return sfail(p, p->pos, "expected a filter after ','");
        }
    }
    if (p->pos >= p->len)
        return sfail(p, p->pos, "missing ']' to close 'span['");
    p->pos++; /* ] */
    if (p->pos < p->len && p->s[p->pos] == ':') {
        size_t po = p->pos;
        p->pos++;
        size_t ws = p->pos;
        while (p->pos < p->len && (is_prop_char(p->s[p->pos]) && p->s[p->pos] != '.'))
            p->pos++;
        size_t wl = p->pos - ws;
        const char *w = p->s + ws;
        st->pseudo_off = po;
        if (wl == 5 && !memcmp(w, "first", 5)) {
            st->pseudo = SEL_FIRST;
        } else if (wl == 4 && !memcmp(w, "last", 4)) {
            st->pseudo = SEL_LAST;
        } else if (wl == 9 && (!memcmp(w, "nth_child", 9) || !memcmp(w, "nth-child", 9))) {
            st->pseudo = SEL_NTH;
            if (p->pos >= p->len || p->s[p->pos] != '(')
                return sfail(p, p->pos, "expected '(' after :nth_child");
            p->pos++;
            skip_blank(p);
            size_t ns = p->pos;
            while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
                p->pos++;
            if (p->pos == ns || p->pos - ns > 9)
                return sfail(p, ns, "expected a positive whole number in :nth_child(N)");
            st->nth = strtol(p->s + ns, NULL, 10);
            if (st->nth < 1)
                return sfail(p, ns, ":nth_child counts from 1");
            skip_blank(p);
            if (p->pos >= p->len || p->s[p->pos] != ')')
                return sfail(p, p->pos, "expected ')' to close :nth_child(");
            p->pos++;
        } else {
            return sfail(p, po, "unknown pseudo-class ':%.*s'; expected :first, :last or :nth_child(N)", (int)(wl > 30 ? 30 : wl),
                         w);
        }
    }
    return 0;
}

int tbt_selector_parse(const char *src, const tbt_loc *loc, tbt_selector **out, tbt_error *err)
{
    *out = NULL;
    size_t len = strlen(src);
    tbt_selector *sel = tbt_xcalloc(1, sizeof(*sel));
    tbt_xunit_init(&sel->u, src, len, loc);
    sparser p = {.sel = sel, .s = sel->u.src, .len = len, .err = err};
    if (len > TBT_SELECTOR_MAX_LEN) {
        sfail(&p, 0, "selector longer than %u bytes", TBT_SELECTOR_MAX_LEN);
        goto fail;
    }
    skip_blank(&p);
    if (p.pos >= p.len) {
        sel->all = true;
        *out = sel;
        return 0;
    }
    for (;;) {
        TBT_GROW(sel->chains, sel->cap_chains, sel->n_chains + 1);
        sel_chain *ch = &sel->chains[sel->n_chains++];
        memset(ch, 0, sizeof(*ch));
        sel_comb comb = SEL_DESCENDANT;
        for (;;) {
            TBT_GROW(ch->steps, ch->cap_steps, ch->n_steps + 1);
            sel_step *st = &ch->steps[ch->n_steps++];
            memset(st, 0, sizeof(*st));
            st->combinator = comb;
            if (parse_step(&p, st))
                goto fail;
            size_t before = p.pos;
            skip_blank(&p);
            if (p.pos >= p.len || p.s[p.pos] == ',')
                break;
            if (p.s[p.pos] == '>') {
                comb = SEL_CHILD;
                p.pos++;
                skip_blank(&p);
            } else if (p.pos > before) {
                comb = SEL_DESCENDANT;
            } else {
                char fb[48];
                sfail(&p, p.pos, "expected ',', a space or '>' after ']', found %s", found(&p, fb, sizeof(fb)));
                goto fail;
            }
            if (p.pos >= p.len) {
                sfail(&p, p.pos, "expected 'span[' after '%s'", comb == SEL_CHILD ? ">" : "a space");
                goto fail;
            }
        }
        skip_blank(&p);
        if (p.pos >= p.len)
            break;
        p.pos++; /* ',' */
        skip_blank(&p);
        if (p.pos >= p.len) {
            sfail(&p, p.pos, "expected a selector after ','");
            goto fail;
        }
    }
    *out = sel;
    return 0;
fail:
    tbt_selector_free(sel);
    return p.failed ? p.failed : -EINVAL;
}

void tbt_selector_free(tbt_selector *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_chains; i++) {
        for (size_t k = 0; k < s->chains[i].n_steps; k++)
            free(s->chains[i].steps[k].filters);
        free(s->chains[i].steps);
    }
    free(s->chains);
    tbt_xunit_destroy(&s->u);
    free(s);
}

const char *tbt_selector_source(const tbt_selector *s)
{
    return s->u.src;
}

bool tbt_selector_uses_vars(const tbt_selector *s)
{
    return s->uses_vars;
}
