/* tbt_selector_eval.c - selecting spans. One pass over the depth-first
 * order per step: "descendant of a previous match" is an interval test
 * (a subtree is a contiguous range of the depth-first order), so a chain of
 * k steps costs O(k * spans) whatever the shape of the trace. */
#include "tbt_selector_private.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct rfilter {
    const sel_filter *f;
    const char *text;
    size_t len;
    bool is_num;
    double num;
    bool is_dur;
    int64_t ns;
    const tbt_regex *re;
    tbt_regex *owned;
} rfilter;

typedef struct sel_run {
    tbt_trace *t;
    tbt_buf scratch;
} sel_run;

static int resolve_filter(const tbt_selector *s, const sel_filter *f, const tbt_vars *vars, tbt_arena *a, rfilter *r,
                          tbt_error *err)
{
    memset(r, 0, sizeof(*r));
    r->f = f;
    const xnode *v = f->value;
    if (v->kind == XN_NUM) {
        r->is_num = true;
        r->num = v->num;
        char buf[48];
        if (v->is_int)
            snprintf(buf, sizeof(buf), "%lld", (long long)v->ival);
        else
            tbt_format_double(v->num, buf, sizeof(buf));
        r->text = tbt_arena_strdup(a, buf);
        r->len = strlen(r->text);
    } else if (v->kind == XN_DUR) {
        r->is_dur = true;
        r->ns = v->ns;
        r->is_num = true;
        r->num = (double)v->ns;
        char buf[48];
        snprintf(buf, sizeof(buf), "%lld", (long long)v->ns);
        r->text = tbt_arena_strdup(a, buf);
        r->len = strlen(r->text);
    } else if (f->constant) {
        r->text = v->parts[0].text;
        r->len = v->parts[0].len;
    } else {
        tbt_eval_ctx ctx = {.vars = vars};
        xeval ev = {.ctx = &ctx, .u = (xunit *)&s->u, .arena = a, .err = err};
        xval out;
        int rc = tbt_xeval_node(&ev, v, &out);
        if (rc != 0)
            return rc;
        tbt_buf b = TBT_BUF_INIT;
        tbt_xval_text(&out, &b);
        r->text = tbt_arena_strndup(a, tbt_buf_cstr(&b), b.len);
        r->len = b.len;
        tbt_buf_free(&b);
        if (!out.array && out.n == 1 && out.items[0].kind == XV_NUM && v->kind == XN_VAR) {
            r->is_num = true;
            r->num = out.items[0].num;
        }
    }
    if (f->op == SEL_MATCH || f->op == SEL_NOT_MATCH) {
        if (f->re) {
            r->re = f->re;
        } else {
            size_t eo = 0;
            tbt_error e = TBT_ERROR_INIT;
            if (tbt_regex_compile(r->text, r->len, &r->owned, &eo, &e) != 0) {
                tbt_error_set(err, -EINVAL, "%s (after substituting variables: \"%s\")", e.msg, r->text);
                tbt_error_at(err, s->u.has_loc ? &s->u.loc : NULL, s->u.src, f->value_off);
                tbt_error_clear(&e);
                return -EINVAL;
            }
            r->re = r->owned;
        }
    }
    return 0;
}

static bool filter_matches(sel_run *run, const rfilter *r, tbt_span *sp)
{
    const sel_filter *f = r->f;
    tbt_value v;
    bool found = tbt_span_property(run->t, sp, f->prop, &v);
    bool positive;
    sel_op op = f->op;
    bool negated = op == SEL_NE || op == SEL_NOT_CONTAINS || op == SEL_NOT_MATCH;
    if (!found)
        return negated;
    const char *text;
    size_t len;
    if (v.type == TBT_V_STRING) {
        text = v.u.s.ptr;
        len = v.u.s.len;
    } else {
        tbt_buf_reset(&run->scratch);
        tbt_value_to_text(&v, &run->scratch);
        text = tbt_buf_cstr(&run->scratch);
        len = run->scratch.len;
    }
    switch (op) {
    case SEL_EQ:
    case SEL_NE: {
        double d;
        if (r->is_num && tbt_value_as_number(&v, &d))
            positive = d == r->num;
        else
            positive = len == r->len && memcmp(text, r->text, len) == 0;
        break;
    }
    case SEL_CONTAINS:
    case SEL_NOT_CONTAINS:
        positive = r->len == 0 || (r->len <= len && memmem(text, len, r->text, r->len) != NULL);
        break;
    case SEL_MATCH:
    case SEL_NOT_MATCH:
        positive = tbt_regex_search(r->re, text, len);
        break;
    default: {
        double d, w;
        if (!tbt_value_as_number(&v, &d))
            return false;
        if (r->is_num)
            w = r->num;
        else if (!tbt_text_is_number(r->text, r->len, &w))
            return false;
        positive = op == SEL_LT ? d < w : op == SEL_LE ? d <= w : op == SEL_GT ? d > w : d >= w;
        return positive;
    }
    }
    return negated ? !positive : positive;
}

static bool step_matches(sel_run *run, const rfilter *rf, size_t n, tbt_span *sp)
{
    for (size_t i = 0; i < n; i++)
        if (!filter_matches(run, &rf[i], sp))
            return false;
    return true;
}

static int cmp_order(const void *a, const void *b)
{
    const tbt_span *x = *(tbt_span *const *)a, *y = *(tbt_span *const *)b;
    return x->order < y->order ? -1 : x->order > y->order;
}

static size_t apply_pseudo(const sel_step *st, tbt_span **list, size_t n)
{
    switch (st->pseudo) {
    case SEL_FIRST:
        return n ? 1 : 0;
    case SEL_LAST:
        if (n)
            list[0] = list[n - 1];
        return n ? 1 : 0;
    case SEL_NTH:
        if ((size_t)st->nth <= n) {
            list[0] = list[st->nth - 1];
            return 1;
        }
        return 0;
    default:
        return n;
    }
}

int tbt_selector_select(const tbt_selector *s, tbt_trace *t, const tbt_vars *vars, tbt_span ***out, size_t *nout,
                        tbt_error *err)
{
    size_t n = tbt_trace_span_count(t);
    *out = NULL;
    *nout = 0;
    if (s->all) {
        tbt_span **all = tbt_xmalloc((n ? n : 1) * sizeof(*all));
        for (size_t i = 0; i < n; i++)
            all[i] = tbt_trace_span_at(t, i);
        *out = all;
        *nout = n;
        return 0;
    }
    int rc = 0;
    tbt_arena *a = tbt_arena_new();
    sel_run run = {.t = t};
    bool *selected = tbt_xcalloc(n ? n : 1, sizeof(bool));
    tbt_span **cur = tbt_xmalloc((n ? n : 1) * sizeof(*cur));
    tbt_span **next = tbt_xmalloc((n ? n : 1) * sizeof(*next));
    int32_t *cover = tbt_xmalloc((n + 1) * sizeof(*cover));
    for (size_t c = 0; c < s->n_chains && rc == 0; c++) {
        const sel_chain *ch = &s->chains[c];
        size_t ncur = 0;
        for (size_t k = 0; k < ch->n_steps && rc == 0; k++) {
            const sel_step *st = &ch->steps[k];
            rfilter *rf = st->n_filters ? tbt_arena_calloc(a, st->n_filters, sizeof(rfilter)) : NULL;
            for (size_t i = 0; i < st->n_filters && rc == 0; i++)
                rc = resolve_filter(s, &st->filters[i], vars, a, &rf[i], err);
            if (rc != 0) {
                for (size_t i = 0; i < st->n_filters; i++)
                    tbt_regex_free(rf[i].owned);
                break;
            }
            size_t nn = 0;
            if (k == 0) {
                for (size_t i = 0; i < n; i++) {
                    tbt_span *sp = tbt_trace_span_at(t, i);
                    if (step_matches(&run, rf, st->n_filters, sp))
                        next[nn++] = sp;
                }
            } else if (st->combinator == SEL_DESCENDANT) {
                /* cover[i] > 0 when position i is strictly inside the
                 * subtree of a previous match */
                memset(cover, 0, (n + 1) * sizeof(*cover));
                for (size_t i = 0; i < ncur; i++) {
                    cover[cur[i]->order + 1]++;
                    cover[cur[i]->subtree_end]--;
                }
                int32_t acc = 0;
                for (size_t i = 0; i < n; i++) {
                    acc += cover[i];
                    if (acc <= 0)
                        continue;
                    tbt_span *sp = tbt_trace_span_at(t, i);
                    if (step_matches(&run, rf, st->n_filters, sp))
                        next[nn++] = sp;
                }
            } else {
                for (size_t i = 0; i < ncur; i++) {
                    /* children of each previous match, in depth-first order */
                    tbt_span *p = cur[i];
                    for (size_t j = 0; j < p->n_children; j++)
                        if (step_matches(&run, rf, st->n_filters, p->children[j]))
                            next[nn++] = p->children[j];
                }
                /* a match may sit inside another's subtree: restore the
                 * depth-first order that pseudo-classes count in */
                qsort(next, nn, sizeof(*next), cmp_order);
            }
            for (size_t i = 0; i < st->n_filters; i++)
                tbt_regex_free(rf[i].owned);
            nn = apply_pseudo(st, next, nn);
            tbt_span **tmp = cur;
            cur = next;
            next = tmp;
            ncur = nn;
        }
        for (size_t i = 0; i < ncur && rc == 0; i++)
            selected[cur[i]->order] = true;
    }
    if (rc == 0) {
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++)
            cnt += selected[i];
        tbt_span **res = tbt_xmalloc((cnt ? cnt : 1) * sizeof(*res));
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (selected[i])
                res[k++] = tbt_trace_span_at(t, i);
        *out = res;
        *nout = cnt;
    }
    free(selected);
    free(cur);
    free(next);
    free(cover);
    tbt_buf_free(&run.scratch);
    tbt_arena_free(a);
    return rc;
}
