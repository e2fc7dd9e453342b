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
    tbt_prop prop;
    tbt_prop_keys keys;
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

static int resolve_filter(const tbt_selector *s, tbt_trace *t, const sel_filter *f, const tbt_vars *vars, tbt_arena *a,
                          rfilter *r, tbt_error *err)
{
    memset(r, 0, sizeof(*r));
    r->f = f;
    r->prop = tbt_prop_resolve(f->prop, true);
    r->keys = tbt_trace_prop_keys(t, &r->prop);
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
        if (rc != 0) {
            tbt_error_at(err, s->u.has_loc ? &s->u.loc : NULL, s->u.src, f->value_off);
            return rc;
        }
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
    bool found = tbt_span_get(run->t, sp, &r->prop, &r->keys, &v);
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

struct tbt_select_ws {
    size_t cap;
    bool *selected;
    tbt_span **cur, **next;
    int32_t *cover;
    tbt_arena *arena;
    tbt_buf scratch;
};

tbt_select_ws *tbt_select_ws_new(void)
{
    tbt_select_ws *ws = tbt_xcalloc(1, sizeof(*ws));
    ws->arena = tbt_arena_new();
    return ws;
}

void tbt_select_ws_free(tbt_select_ws *ws)
{
    if (!ws)
        return;
    free(ws->selected);
    free(ws->cur);
    free(ws->next);
    free(ws->cover);
    tbt_buf_free(&ws->scratch);
    tbt_arena_free(ws->arena);
    free(ws);
}

static void ws_fit(tbt_select_ws *ws, size_t n)
{
    if (n + 1 <= ws->cap)
        return;
    size_t cap = n + 1;
    free(ws->selected);
    free(ws->cur);
    free(ws->next);
    free(ws->cover);
    ws->selected = tbt_xcalloc(cap, sizeof(bool));
    ws->cur = tbt_xmalloc(cap * sizeof(tbt_span *));
    ws->next = tbt_xmalloc(cap * sizeof(tbt_span *));
    ws->cover = tbt_xmalloc(cap * sizeof(int32_t));
    ws->cap = cap;
}

int tbt_selector_select(const tbt_selector *s, tbt_trace *t, const tbt_vars *vars, tbt_span ***out, size_t *nout,
                        tbt_error *err)
{
    tbt_select_ws *ws = tbt_select_ws_new();
    int rc = tbt_selector_select_ws(s, t, vars, ws, out, nout, err);
    tbt_select_ws_free(ws);
    return rc;
}

int tbt_selector_select_ws(const tbt_selector *s, tbt_trace *t, const tbt_vars *vars, tbt_select_ws *ws,
                           tbt_span ***out, size_t *nout, tbt_error *err)
{
    int rc = 0;
    tbt_selector_select_many(&s, 1, t, vars, ws, out, nout, &rc, err);
    return rc;
}

/* The first step of one chain of one selector, matched during the shared
 * pass. */
typedef struct head {
    size_t sel;
    const sel_chain *ch;
    rfilter *rf;
    size_t nf;
    tbt_span **list;
    size_t n, cap;
} head;

static void free_rfilters(rfilter *rf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tbt_regex_free(rf[i].owned);
}

/* Steps 1.. of a chain, starting from the matches of step 0 in cur. */
static int chain_rest(const tbt_selector *s, const sel_chain *ch, tbt_trace *t, const tbt_vars *vars,
                      tbt_select_ws *ws, sel_run *run, tbt_span ***curp, size_t *ncurp, tbt_error *err)
{
    size_t n = tbt_trace_span_count(t);
    tbt_span **cur = *curp, **next = cur == ws->cur ? ws->next : ws->cur;
    size_t ncur = *ncurp;
    int32_t *cover = ws->cover;
    int rc = 0;
    for (size_t k = 1; k < ch->n_steps && rc == 0; k++) {
        const sel_step *st = &ch->steps[k];
        rfilter *rf = st->n_filters ? tbt_arena_calloc(ws->arena, st->n_filters, sizeof(rfilter)) : NULL;
        for (size_t i = 0; i < st->n_filters && rc == 0; i++)
            rc = resolve_filter(s, t, &st->filters[i], vars, ws->arena, &rf[i], err);
        if (rc != 0) {
            free_rfilters(rf, st->n_filters);
            break;
        }
        size_t nn = 0;
        if (st->combinator == SEL_DESCENDANT) {
            /* cover[i] > 0 when position i is strictly inside the subtree
             * of a previous match; only the range from the first match to
             * the end of the last subtree is walked */
            if (ncur > 0) {
                size_t lo = cur[0]->order + 1, hi = 0;
                for (size_t i = 0; i < ncur; i++)
                    if (cur[i]->subtree_end > hi)
                        hi = cur[i]->subtree_end;
                if (hi > n)
                    hi = n;
                memset(cover + lo, 0, (hi - lo + 1) * sizeof(*cover));
                for (size_t i = 0; i < ncur; i++) {
                    cover[cur[i]->order + 1]++;
                    cover[cur[i]->subtree_end]--;
                }
                int32_t acc = 0;
                for (size_t i = lo; i < hi; i++) {
                    acc += cover[i];
                    if (acc <= 0)
                        continue;
                    tbt_span *sp = tbt_trace_span_at(t, i);
                    if (step_matches(run, rf, st->n_filters, sp))
                        next[nn++] = sp;
                }
            }
        } else {
            for (size_t i = 0; i < ncur; i++) {
                tbt_span *p = cur[i];
                for (size_t j = 0; j < p->n_children; j++)
                    if (step_matches(run, rf, st->n_filters, p->children[j]))
                        next[nn++] = p->children[j];
            }
            /* a match may sit inside another's subtree: restore the
             * depth-first order that pseudo-classes count in */
            qsort(next, nn, sizeof(*next), cmp_order);
        }
        free_rfilters(rf, st->n_filters);
        nn = apply_pseudo(st, next, nn);
        tbt_span **tmp = cur;
        cur = next;
        next = tmp;
        ncur = nn;
    }
    *curp = cur;
    *ncurp = ncur;
    return rc;
}

void tbt_selector_select_many(const tbt_selector *const *sels, size_t n_sels, tbt_trace *t, const tbt_vars *vars,
                              tbt_select_ws *ws, tbt_span ***outs, size_t *nouts, int *rcs, tbt_error *errs)
{
    size_t n = tbt_trace_span_count(t);
    ws_fit(ws, n);
    sel_run run = {.t = t, .scratch = ws->scratch};
    head *heads = NULL;
    size_t n_heads = 0, cap_heads = 0;
    for (size_t i = 0; i < n_sels; i++) {
        outs[i] = NULL;
        nouts[i] = 0;
        rcs[i] = 0;
        const tbt_selector *s = sels[i];
        if (s->all)
            continue;
        size_t first = n_heads;
        for (size_t c = 0; c < s->n_chains && rcs[i] == 0; c++) {
            const sel_step *st = &s->chains[c].steps[0];
            TBT_GROW(heads, cap_heads, n_heads + 1);
            head *h = &heads[n_heads++];
            memset(h, 0, sizeof(*h));
            h->sel = i;
            h->ch = &s->chains[c];
            h->nf = st->n_filters;
            h->rf = st->n_filters ? tbt_arena_calloc(ws->arena, st->n_filters, sizeof(rfilter)) : NULL;
            for (size_t k = 0; k < st->n_filters && rcs[i] == 0; k++)
                rcs[i] = resolve_filter(s, t, &st->filters[k], vars, ws->arena, &h->rf[k], &errs[i]);
        }
        if (rcs[i] != 0) {
            for (size_t h = first; h < n_heads; h++)
                free_rfilters(heads[h].rf, heads[h].nf);
            n_heads = first;
        }
    }
    /* the shared pass: each span is loaded once for every first step */
    for (size_t i = 0; i < n && n_heads; i++) {
        tbt_span *sp = tbt_trace_span_at(t, i);
        for (size_t h = 0; h < n_heads; h++) {
            head *hd = &heads[h];
            if (step_matches(&run, hd->rf, hd->nf, sp)) {
                TBT_GROW(hd->list, hd->cap, hd->n + 1);
                hd->list[hd->n++] = sp;
            }
        }
    }
    size_t h = 0;
    for (size_t i = 0; i < n_sels; i++) {
        const tbt_selector *s = sels[i];
        if (s->all) {
            tbt_span **all = tbt_xmalloc((n ? n : 1) * sizeof(*all));
            for (size_t k = 0; k < n; k++)
                all[k] = tbt_trace_span_at(t, k);
            outs[i] = all;
            nouts[i] = n;
            continue;
        }
        if (rcs[i] != 0)
            continue;
        size_t n_sel = 0;
        bool single = s->n_chains == 1;
        for (; h < n_heads && heads[h].sel == i && rcs[i] == 0; h++) {
            head *hd = &heads[h];
            free_rfilters(hd->rf, hd->nf);
            size_t ncur = apply_pseudo(&hd->ch->steps[0], hd->list, hd->n);
            if (ncur)
                memcpy(ws->cur, hd->list, ncur * sizeof(tbt_span *));
            tbt_span **cur = ws->cur;
            rcs[i] = chain_rest(s, hd->ch, t, vars, ws, &run, &cur, &ncur, &errs[i]);
            if (rcs[i] != 0)
                break;
            if (single) {
                outs[i] = tbt_xmalloc((ncur ? ncur : 1) * sizeof(tbt_span *));
                if (ncur)
                    memcpy(outs[i], cur, ncur * sizeof(tbt_span *));
                nouts[i] = ncur;
                continue;
            }
            for (size_t k = 0; k < ncur; k++) {
                if (!ws->selected[cur[k]->order]) {
                    ws->selected[cur[k]->order] = true;
                    n_sel++;
                }
            }
        }
        for (; h < n_heads && heads[h].sel == i; h++)
            free_rfilters(heads[h].rf, heads[h].nf);
        if (!single) {
            tbt_span **res = rcs[i] == 0 ? tbt_xmalloc((n_sel ? n_sel : 1) * sizeof(*res)) : NULL;
            size_t k = 0;
            for (size_t x = 0; x < n; x++) {
                if (ws->selected[x]) {
                    if (res)
                        res[k++] = tbt_trace_span_at(t, x);
                    ws->selected[x] = false;
                }
            }
            if (res) {
                outs[i] = res;
                nouts[i] = k;
            }
        }
    }
    for (size_t k = 0; k < n_heads; k++)
        free(heads[k].list);
    free(heads);
    ws->scratch = run.scratch;
    tbt_arena_reset(ws->arena);
}
