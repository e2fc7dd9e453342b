/* tbt_eval.c - test plans and their evaluation. */
#include "tbt_eval.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct plan_spec {
    const tbt_spec_def *def;
    tbt_selector *sel;
    size_t sel_index; /* in tbt_plan's selector list */
    bool has_sel_index;
    tbt_assertion **asserts;
    size_t n_asserts;
} plan_spec;

typedef struct plan_output {
    const tbt_output_def *def;
    tbt_selector *sel;
    tbt_expr *value;
} plan_output;

struct tbt_plan {
    const tbt_test_def *def;
    plan_spec *specs;
    size_t n_specs;
    plan_output *outputs;
    size_t n_outputs;
    const tbt_selector **selectors;
    bool *required;
    char **labels;
    size_t n_selectors;
};

static void add_selector(tbt_plan *p, const tbt_selector *s, bool required, char *label)
{
    p->selectors[p->n_selectors] = s;
    p->required[p->n_selectors] = required;
    p->labels[p->n_selectors] = label;
    p->n_selectors++;
}

static const char *str_or(const tbt_str *s, const char *dflt)
{
    return s->s ? s->s : dflt;
}

static void add_err(tbt_error_list *errs, const tbt_defs *defs, tbt_error *e)
{
    if (defs)
        tbt_defs_error_source(defs, e);
    tbt_error_list_add(errs, e);
}

int tbt_plan_compile(const tbt_test_def *def, const tbt_defs *defs, tbt_plan **out, tbt_error_list *errs)
{
    *out = NULL;
    size_t nerr0 = errs->n;
    tbt_plan *p = tbt_xcalloc(1, sizeof(*p));
    p->def = def;
    p->n_specs = def->n_specs;
    p->specs = tbt_xcalloc(def->n_specs ? def->n_specs : 1, sizeof(plan_spec));
    p->n_outputs = def->n_outputs;
    p->outputs = tbt_xcalloc(def->n_outputs ? def->n_outputs : 1, sizeof(plan_output));
    p->selectors = tbt_xcalloc(def->n_specs + def->n_outputs + 1, sizeof(tbt_selector *));
    p->required = tbt_xcalloc(def->n_specs + def->n_outputs + 1, sizeof(bool));
    p->labels = tbt_xcalloc(def->n_specs + def->n_outputs + 1, sizeof(char *));
    for (size_t i = 0; i < def->n_outputs; i++) {
        const tbt_output_def *od = &def->outputs[i];
        plan_output *po = &p->outputs[i];
        po->def = od;
        tbt_error e = TBT_ERROR_INIT;
        if (tbt_selector_parse(str_or(&od->selector, ""), &od->selector.loc, &po->sel, &e) != 0) {
            tbt_error_prefix(&e, "output '%s': invalid selector", str_or(&od->name, ""));
            add_err(errs, defs, &e);
        } else {
            add_selector(p, po->sel, true, tbt_xasprintf("output %s", str_or(&od->name, "")));
        }
        if (tbt_expr_parse(str_or(&od->value, ""), &od->value.loc, &po->value, &e) != 0) {
            tbt_error_prefix(&e, "output '%s': invalid value", str_or(&od->name, ""));
            add_err(errs, defs, &e);
        }
    }
    for (size_t i = 0; i < def->n_specs; i++) {
        const tbt_spec_def *sd = &def->specs[i];
        plan_spec *ps = &p->specs[i];
        ps->def = sd;
        tbt_error e = TBT_ERROR_INIT;
        if (tbt_selector_parse(str_or(&sd->selector, ""), &sd->selector.loc, &ps->sel, &e) != 0) {
            tbt_error_prefix(&e, "invalid selector");
            add_err(errs, defs, &e);
        } else {
            const char *nm = str_or(&sd->name, "");
            /* decided below, once the assertions are parsed */
            add_selector(p, ps->sel, true,
                         nm[0] ? tbt_xasprintf("spec \"%s\"", nm) : tbt_xasprintf("spec %zu", i + 1));
            ps->sel_index = p->n_selectors - 1;
            ps->has_sel_index = true;
        }
        ps->asserts = tbt_xcalloc(sd->n_assertions ? sd->n_assertions : 1, sizeof(tbt_assertion *));
        ps->n_asserts = sd->n_assertions;
        bool all_parsed = true;
        for (size_t k = 0; k < sd->n_assertions; k++) {
            if (tbt_assertion_parse(str_or(&sd->assertions[k], ""), &sd->assertions[k].loc, &ps->asserts[k], &e) != 0) {
                tbt_error_prefix(&e, "invalid assertion");
                add_err(errs, defs, &e);
                all_parsed = false;
            }
        }
        /* Completion waits for a spec's selector unless the spec would pass
         * with no span at all (attr:tracetest.selected_spans.count = 0
         * asserts absence: waiting cannot produce it). */
        if (ps->has_sel_index && all_parsed && sd->n_assertions > 0) {
            bool passes_empty = true;
            tbt_eval_ctx ec = {.selected_count = 0, .have_selection = true};
            for (size_t k = 0; k < sd->n_assertions && passes_empty; k++) {
                tbt_assert_outcome o;
                tbt_assertion_eval(ps->asserts[k], &ec, &o);
                passes_empty = o.passed;
                tbt_assert_outcome_clear(&o);
            }
            p->required[ps->sel_index] = !passes_empty;
        }
    }
    if (errs->n > nerr0) {
        tbt_plan_free(p);
        return -EINVAL;
    }
    *out = p;
    return 0;
}

void tbt_plan_free(tbt_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_specs; i++) {
        tbt_selector_free(p->specs[i].sel);
        for (size_t k = 0; k < p->specs[i].n_asserts; k++)
            tbt_assertion_free(p->specs[i].asserts[k]);
        free(p->specs[i].asserts);
    }
    for (size_t i = 0; i < p->n_outputs; i++) {
        tbt_selector_free(p->outputs[i].sel);
        tbt_expr_free(p->outputs[i].value);
    }
    free(p->specs);
    free(p->outputs);
    for (size_t i = 0; i < p->n_selectors; i++)
        free(p->labels[i]);
    free(p->labels);
    free(p->required);
    free(p->selectors);
    free(p);
}

const tbt_test_def *tbt_plan_def(const tbt_plan *p)
{
    return p->def;
}

size_t tbt_plan_selector_count(const tbt_plan *p)
{
    return p->n_selectors;
}

const tbt_selector *tbt_plan_selector_at(const tbt_plan *p, size_t i)
{
    return i < p->n_selectors ? p->selectors[i] : NULL;
}

bool tbt_plan_selector_required(const tbt_plan *p, size_t i)
{
    return i < p->n_selectors && p->required[i];
}

const char *tbt_plan_selector_label(const tbt_plan *p, size_t i)
{
    return i < p->n_selectors ? p->labels[i] : "";
}

static const char *adup(tbt_run_result *rr, const char *s)
{
    return s ? tbt_arena_strdup(rr->arena, s) : NULL;
}

static const char *error_text(tbt_run_result *rr, const tbt_error *e)
{
    tbt_buf b = TBT_BUF_INIT;
    tbt_error_format(e, &b);
    while (b.len && b.data[b.len - 1] == '\n')
        b.data[--b.len] = '\0';
    const char *s = tbt_arena_strdup(rr->arena, tbt_buf_cstr(&b));
    tbt_buf_free(&b);
    return s;
}

static void eval_outputs(const tbt_plan *p, tbt_trace *t, tbt_vars *vars, tbt_run_result *rr, tbt_test_result *out)
{
    out->n_outputs = p->n_outputs;
    out->outputs = tbt_arena_calloc(rr->arena, p->n_outputs ? p->n_outputs : 1, sizeof(tbt_output_result));
    for (size_t i = 0; i < p->n_outputs; i++) {
        const plan_output *po = &p->outputs[i];
        tbt_output_result *orr = &out->outputs[i];
        orr->name = adup(rr, str_or(&po->def->name, ""));
        tbt_span **spans = NULL;
        size_t n = 0;
        tbt_error e = TBT_ERROR_INIT;
        if (tbt_selector_select(po->sel, t, vars, &spans, &n, &e) != 0) {
            orr->warning = error_text(rr, &e);
            tbt_error_clear(&e);
            continue;
        }
        tbt_eval_ctx ctx = {.trace = t, .span = n ? spans[0] : NULL, .vars = vars, .selected_count = n,
                            .have_selection = true};
        char *val = NULL;
        if (tbt_expr_eval_text(po->value, &ctx, &val, &e) == 0) {
            orr->value = adup(rr, val);
            tbt_vars_set(vars, orr->name, val);
            free(val);
        } else if (n == 0) {
            orr->warning = tbt_arena_sprintf(rr->arena, "unresolved: the selector \"%s\" matched no span",
                                             tbt_selector_source(po->sel));
        } else {
            orr->warning = tbt_arena_sprintf(rr->arena, "unresolved: %s", e.msg ? e.msg : "evaluation failed");
        }
        tbt_error_clear(&e);
        free(spans);
    }
}

/* Per-span identity copied into the results once, however many
 * assertions look at the span (results outlive the trace). */
typedef struct span_info {
    char id[17];
    const char *name, *service, *trace_id;
} span_info;

/* Result texts repeat massively (span names, services, trace ids, "200",
 * "shop"): one copy of each distinct text per evaluation. */
typedef struct str_pool {
    const char **slots;
    size_t cap, n;
    const char *last; /* the previous answer: expected values repeat in a row */
} str_pool;

static uint64_t pool_hash(const char *s, size_t *len)
{
    uint64_t h = 1469598103934665603ull;
    const char *p = s;
    for (; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    *len = (size_t)(p - s);
    return h ^ (h >> 29);
}

static const char *pool_get(str_pool *sp, tbt_arena *a, const char *s)
{
    if (!s)
        return NULL;
    if (sp->last && strcmp(sp->last, s) == 0)
        return sp->last;
    if ((sp->n + 1) * 2 > sp->cap) {
        size_t ncap = sp->cap ? sp->cap * 2 : 1024;
        const char **ns = tbt_xcalloc(ncap, sizeof(*ns));
        for (size_t i = 0; i < sp->cap; i++) {
            if (!sp->slots[i])
                continue;
            size_t l;
            size_t j = pool_hash(sp->slots[i], &l) & (ncap - 1);
            while (ns[j])
                j = (j + 1) & (ncap - 1);
            ns[j] = sp->slots[i];
        }
        free(sp->slots);
        sp->slots = ns;
        sp->cap = ncap;
    }
    size_t len;
    size_t mask = sp->cap - 1;
    for (size_t j = pool_hash(s, &len) & mask;; j = (j + 1) & mask) {
        if (!sp->slots[j]) {
            sp->slots[j] = tbt_arena_strndup(a, s, len);
            sp->n++;
            return sp->last = sp->slots[j];
        }
        if (strcmp(sp->slots[j], s) == 0)
            return sp->last = sp->slots[j];
    }
}

typedef struct eval_state {
    str_pool pool;
    tbt_trace *t;
    const tbt_vars *vars;
    tbt_run_result *rr;
    span_info **info; /* by depth-first position, lazily */
    tbt_arena *scratch;
    tbt_arena *texts; /* per-span outcome texts before they are kept */
    tbt_key_cache keys;
} eval_state;

static const span_info *info_for(eval_state *es, tbt_span *sp)
{
    span_info **slot = &es->info[sp->order];
    if (!*slot) {
        span_info *si = tbt_arena_alloc(es->rr->arena, sizeof(*si));
        memcpy(si->id, sp->span_id_hex, sizeof(si->id));
        si->name = pool_get(&es->pool, es->rr->arena, sp->name);
        si->service = pool_get(&es->pool, es->rr->arena, sp->service);
        si->trace_id = pool_get(&es->pool, es->rr->arena, sp->trace_id_hex);
        *slot = si;
    }
    return *slot;
}

static void eval_assertion(eval_state *es, const tbt_assertion *a, tbt_span **spans, size_t n, tbt_assert_result *ar)
{
    tbt_run_result *rr = es->rr;
    ar->assertion = adup(rr, tbt_assertion_source(a));
    size_t runs = n ? n : 1;
    ar->n_spans = runs;
    ar->spans = tbt_arena_calloc(rr->arena, runs, sizeof(tbt_span_result));
    ar->passed = true;
    for (size_t i = 0; i < runs; i++) {
        tbt_span *sp = n ? spans[i] : NULL;
        tbt_eval_ctx ctx = {.trace = es->t, .span = sp, .vars = es->vars, .selected_count = n, .have_selection = true,
                            .scratch = es->scratch, .keys = &es->keys};
        tbt_assert_view o;
        tbt_assertion_eval_in(a, &ctx, es->texts, &o);
        tbt_span_result *sr = &ar->spans[i];
        if (sp) {
            const span_info *si = info_for(es, sp);
            sr->span_id = si->id;
            sr->span_name = si->name;
            sr->service = si->service;
            sr->trace_id = si->trace_id;
        } else {
            sr->span_id = "";
            sr->trace_id = "";
        }
        sr->passed = o.passed;
        sr->observed = pool_get(&es->pool, rr->arena, o.observed);
        sr->expected = pool_get(&es->pool, rr->arena, o.expected);
        sr->error = pool_get(&es->pool, rr->arena, o.error);
        if (o.warning && !ar->warning)
            ar->warning = adup(rr, o.warning);
        if (!o.passed)
            ar->passed = false;
        tbt_arena_reset(es->texts);
    }
}

void tbt_plan_evaluate(const tbt_plan *p, tbt_trace *t, tbt_vars *vars, tbt_run_result *rr, tbt_test_result *out)
{
    uint64_t t0 = tbt_now_mono_ns();
    const tbt_test_def *def = p->def;
    out->id = adup(rr, def->id.s);
    out->name = adup(rr, str_or(&def->name, str_or(&def->id, "(unnamed test)")));
    out->file = adup(rr, def->file);
    out->n_spans = tbt_trace_span_count(t);
    out->n_traces = tbt_trace_id_count(t);
    tbt_span *root = tbt_trace_span_at(t, 0);
    out->trace_id = adup(rr, root ? root->trace_id_hex : "");
    eval_outputs(p, t, vars, rr, out);
    out->n_specs = p->n_specs;
    out->specs = tbt_arena_calloc(rr->arena, p->n_specs ? p->n_specs : 1, sizeof(tbt_spec_result));
    size_t ns = p->n_specs ? p->n_specs : 1;
    const tbt_selector **sels = tbt_xcalloc(ns, sizeof(*sels));
    tbt_span ***lists = tbt_xcalloc(ns, sizeof(*lists));
    size_t *counts = tbt_xcalloc(ns, sizeof(*counts));
    int *rcs = tbt_xcalloc(ns, sizeof(*rcs));
    tbt_error *errs = tbt_xcalloc(ns, sizeof(*errs));
    for (size_t i = 0; i < p->n_specs; i++)
        sels[i] = p->specs[i].sel;
    tbt_select_ws *ws = tbt_select_ws_new();
    tbt_selector_select_many(sels, p->n_specs, t, vars, ws, lists, counts, rcs, errs);
    tbt_select_ws_free(ws);
    eval_state es = {.t = t, .vars = vars, .rr = rr, .scratch = tbt_arena_new(), .texts = tbt_arena_new()};
    es.info = tbt_xcalloc(out->n_spans ? out->n_spans : 1, sizeof(*es.info));
    bool all = true;
    for (size_t i = 0; i < p->n_specs; i++) {
        const plan_spec *ps = &p->specs[i];
        tbt_spec_result *sr = &out->specs[i];
        sr->name = adup(rr, str_or(&ps->def->name, ""));
        sr->selector = adup(rr, tbt_selector_source(ps->sel));
        sr->n_asserts = ps->n_asserts;
        sr->asserts = tbt_arena_calloc(rr->arena, ps->n_asserts ? ps->n_asserts : 1, sizeof(tbt_assert_result));
        if (rcs[i] != 0) {
            sr->error = error_text(rr, &errs[i]);
            sr->passed = false;
            all = false;
            for (size_t k = 0; k < ps->n_asserts; k++)
                sr->asserts[k].assertion = adup(rr, tbt_assertion_source(ps->asserts[k]));
            continue;
        }
        sr->n_selected = counts[i];
        sr->passed = true;
        for (size_t k = 0; k < ps->n_asserts; k++) {
            eval_assertion(&es, ps->asserts[k], lists[i], counts[i], &sr->asserts[k]);
            if (!sr->asserts[k].passed)
                sr->passed = false;
        }
        if (!sr->passed)
            all = false;
    }
    for (size_t i = 0; i < p->n_specs; i++) {
        free(lists[i]);
        tbt_error_clear(&errs[i]);
    }
    free(sels);
    free(lists);
    free(counts);
    free(rcs);
    free(errs);
    free(es.info);
    tbt_arena_free(es.scratch);
    tbt_arena_free(es.texts);
    free(es.pool.slots);
    tbt_key_cache_free(&es.keys);
    out->status = all ? TBT_TEST_PASSED : TBT_TEST_FAILED;
    out->eval_ns = tbt_now_mono_ns() - t0;
}
