/* tbt_expr_eval.c - values, arithmetic, comparison and assertion outcome.
 *
 * A value is a list of items (Tracetest's model): one item for scalars,
 * several for arrays and multi-match filters. Each item has a text form and
 * a kind: number, duration (ns) or string. Text read from attributes and
 * variables is typed by its content (a complete decimal number is a number,
 * "200ms" a duration), as Tracetest does. */
#include "tbt_expr_private.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- items ------------------------------------------------------------- */
static bool text_is_plain_number(const char *s, size_t n)
{
    /* -?[0-9]+(\.[0-9]+)? : Tracetest's number type, plus a sign */
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    size_t d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == d)
        return false;
    if (i < n && s[i] == '.') {
        i++;
        size_t f = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == f)
            return false;
    }
    return i == n;
}

static bool text_is_duration(const char *s, size_t n, int64_t *ns)
{
    /* [0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h), optionally with one blank */
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    size_t d = i;
    while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
        i++;
    if (i == d || i == n)
        return false;
    if (s[i] == ' ')
        i++;
    size_t u = i;
    while (i < n && s[i] >= 'a' && s[i] <= 'z')
        i++;
    if (i != n || u == n)
        return false;
    size_t ul = n - u;
    const char *un = s + u;
    bool ok = (ul == 2 && (!memcmp(un, "ns", 2) || !memcmp(un, "us", 2) || !memcmp(un, "ms", 2))) ||
              (ul == 1 && (un[0] == 's' || un[0] == 'm' || un[0] == 'h'));
    return ok && tbt_parse_duration(s, n, ns) == 0;
}

xitem tbt_xitem_from_text(xeval *ev, const char *s, size_t len)
{
    xitem it;
    memset(&it, 0, sizeof(it));
    it.kind = XV_STR;
    it.s = s;
    it.len = len;
    int64_t ns;
    if (text_is_plain_number(s, len)) {
        it.kind = XV_NUM;
        tbt_text_is_number(s, len, &it.num);
        bool frac = memchr(s, '.', len) != NULL;
        if (!frac && len <= 18) {
            char tmp[24];
            memcpy(tmp, s, len);
            tmp[len] = '\0';
            it.is_int = true;
            it.ival = strtoll(tmp, NULL, 10);
        }
    } else if (text_is_duration(s, len, &ns)) {
        it.kind = XV_DUR;
        it.ns = ns;
    }
    TBT_UNUSED(ev);
    return it;
}

xitem tbt_xitem_num(xeval *ev, double d, bool is_int, int64_t i)
{
    xitem it;
    memset(&it, 0, sizeof(it));
    it.kind = XV_NUM;
    it.typed = true;
    it.is_int = is_int;
    it.ival = i;
    it.num = is_int ? (double)i : d;
    char buf[48];
    if (is_int) {
        /* integers are formatted by hand: this runs once per span */
        char *e = buf + sizeof(buf), *q = e;
        uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
        do {
            *--q = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (i < 0)
            *--q = '-';
        it.len = (size_t)(e - q);
        it.s = tbt_arena_strndup(ev->arena, q, it.len);
        return it;
    }
    tbt_format_double(d, buf, sizeof(buf));
    it.len = strlen(buf);
    it.s = tbt_arena_strndup(ev->arena, buf, it.len);
    return it;
}

xitem tbt_xitem_dur(xeval *ev, int64_t ns)
{
    xitem it;
    memset(&it, 0, sizeof(it));
    it.kind = XV_DUR;
    it.typed = true;
    it.ns = ns;
    char buf[48];
    tbt_format_duration(ns, buf, sizeof(buf));
    it.len = strlen(buf);
    it.s = tbt_arena_strndup(ev->arena, buf, it.len);
    return it;
}

void tbt_xnode_set_constant(tbt_arena *a, xnode *n)
{
    xeval ev = {.arena = a};
    if (n->kind == XN_NUM)
        n->constant = tbt_xitem_num(&ev, n->num, n->is_int, n->ival);
    else if (n->kind == XN_DUR)
        n->constant = tbt_xitem_dur(&ev, n->ns);
    else if (n->kind == XN_STR && n->n_parts == 1 && !n->parts[0].expr)
        n->constant = tbt_xitem_from_text(&ev, n->parts[0].text, n->parts[0].len);
}

xval tbt_xval_single(xeval *ev, xitem it)
{
    xval v;
    v.array = false;
    v.n = 1;
    v.items = tbt_arena_alloc(ev->arena, sizeof(xitem));
    v.items[0] = it;
    return v;
}

static void item_json(const xitem *it, tbt_buf *out)
{
    if (it->kind == XV_NUM)
        tbt_buf_append(out, it->s, it->len);
    else
        tbt_buf_json_str(out, it->s, it->len);
}

void tbt_xval_text(const xval *v, tbt_buf *out)
{
    if (!v->array && v->n == 1) {
        tbt_buf_append(out, v->items[0].s, v->items[0].len);
        return;
    }
    tbt_buf_putc(out, '[');
    for (size_t i = 0; i < v->n; i++) {
        if (i)
            tbt_buf_puts(out, ", ");
        item_json(&v->items[i], out);
    }
    tbt_buf_putc(out, ']');
}

int tbt_xeval_fail(xeval *ev, const xnode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    tbt_error_set(ev->err, -EINVAL, "%s", m);
    free(m);
    /* Evaluation errors are reported per span with their message only; the
     * position is not computed here, where it would cost a copy of the
     * source line for every span that lacks an attribute. */
    TBT_UNUSED(n);
    return -EINVAL;
}

/* ---- attribute and variable look-up -------------------------------------*/
static xitem item_from_value(xeval *ev, const tbt_value *v)
{
    switch (v->type) {
    case TBT_V_INT: return tbt_xitem_num(ev, 0, true, v->u.i);
    case TBT_V_DOUBLE: return tbt_xitem_num(ev, v->u.d, false, 0);
    case TBT_V_STRING: return tbt_xitem_from_text(ev, v->u.s.ptr, v->u.s.len);
    default: {
        size_t len;
        const char *s = tbt_value_text(v, ev->arena, &len);
        xitem it;
        memset(&it, 0, sizeof(it));
        it.kind = XV_STR;
        it.s = s;
        it.len = len;
        return it;
    }
    }
}

void tbt_key_cache_free(tbt_key_cache *kc)
{
    if (!kc)
        return;
    free(kc->nodes);
    free(kc->keys);
    memset(kc, 0, sizeof(*kc));
}

static tbt_prop_keys cached_keys(const tbt_eval_ctx *c, const xnode *n)
{
    tbt_key_cache *kc = c->keys;
    if (!kc)
        return tbt_trace_prop_keys(c->trace, &n->prop);
    for (size_t i = 0; i < kc->n; i++)
        if (kc->nodes[i] == n)
            return kc->keys[i];
    if (kc->n == kc->cap) {
        kc->cap = kc->cap ? kc->cap * 2 : 16;
        kc->nodes = tbt_xrealloc(kc->nodes, kc->cap * sizeof(*kc->nodes));
        kc->keys = tbt_xrealloc(kc->keys, kc->cap * sizeof(*kc->keys));
    }
    kc->nodes[kc->n] = n;
    kc->keys[kc->n] = tbt_trace_prop_keys(c->trace, &n->prop);
    return kc->keys[kc->n++];
}

static int eval_attr(xeval *ev, const xnode *n, xval *out)
{
    const tbt_eval_ctx *c = ev->ctx;
    if (strcmp(n->name, "tracetest.selected_spans.count") == 0) {
        if (!c->have_selection)
            return tbt_xeval_fail(ev, n, "attr:tracetest.selected_spans.count is only defined in a spec");
        *out = tbt_xval_single(ev, tbt_xitem_num(ev, 0, true, (int64_t)c->selected_count));
        return 0;
    }
    if (!c->span) {
        if (c->have_selection)
            return tbt_xeval_fail(ev, n, "attribute '%s' has no value: the selector matched no span", n->name);
        return tbt_xeval_fail(ev, n, "attribute '%s' cannot be read here: there is no span", n->name);
    }
    tbt_value v;
    /* attr:name and attr:kind read the span's own fields unless an
     * attribute of that name exists (the prop's fallback) */
    tbt_prop_keys keys = cached_keys(c, n);
    if (!tbt_span_get(c->trace, c->span, &n->prop, &keys, &v))
        return tbt_xeval_fail(ev, n, "attribute '%s' not found on span %s (%s)", n->name, c->span->span_id_hex,
                              c->span->name ? c->span->name : "");
    *out = tbt_xval_single(ev, item_from_value(ev, &v));
    return 0;
}

static int eval_var(xeval *ev, const xnode *n, xval *out)
{
    const char *v = tbt_vars_get(ev->ctx->vars, n->name);
    if (!v)
        return tbt_xeval_fail(ev, n, "variable '%s' is not defined (define it in a VariableSet, with --vars, or as an "
                                     "output of an earlier step)",
                              n->name);
    *out = tbt_xval_single(ev, tbt_xitem_from_text(ev, v, strlen(v)));
    return 0;
}

/* ---- arithmetic -------------------------------------------------------- */
static int arith(xeval *ev, const xnode *n, const xval *l, const xval *r, xval *out)
{
    if (l->array || r->array || l->n != 1 || r->n != 1)
        return tbt_xeval_fail(ev, n, "'%c' needs single values, not lists", n->op);
    const xitem *a = &l->items[0], *b = &r->items[0];
    if (a->kind == XV_STR || b->kind == XV_STR) {
        const xitem *bad = a->kind == XV_STR ? a : b;
        return tbt_xeval_fail(ev, n, "'%c' needs numbers or durations, got the string \"%.*s\"", n->op,
                              (int)(bad->len > 60 ? 60 : bad->len), bad->s);
    }
    char op = n->op;
    if (a->kind == XV_DUR || b->kind == XV_DUR) {
        /* numbers next to durations are nanoseconds for + and -, factors
         * for * and / */
        long double x = a->kind == XV_DUR ? (long double)a->ns : (long double)a->num;
        long double y = b->kind == XV_DUR ? (long double)b->ns : (long double)b->num;
        long double res;
        bool dur_result = true;
        switch (op) {
        case '+': res = x + y; break;
        case '-': res = x - y; break;
        case '*':
            if (a->kind == XV_DUR && b->kind == XV_DUR)
                return tbt_xeval_fail(ev, n, "cannot multiply two durations");
            res = x * y;
            break;
        default:
            if (y == 0)
                return tbt_xeval_fail(ev, n, "division by zero");
            res = x / y;
            /* a duration divided by a duration (a number next to a
             * duration counts as nanoseconds) is a plain ratio */
            if (b->kind == XV_DUR)
                dur_result = false;
            break;
        }
        if (dur_result) {
            if (res > 9.2e18L || res < -9.2e18L)
                return tbt_xeval_fail(ev, n, "duration out of range");
            *out = tbt_xval_single(ev, tbt_xitem_dur(ev, (int64_t)llroundl(res)));
        } else {
            *out = tbt_xval_single(ev, tbt_xitem_num(ev, (double)res, false, 0));
        }
        return 0;
    }
    if (a->is_int && b->is_int && op != '/') {
        long long rr;
        bool ovf = op == '+' ? __builtin_add_overflow((long long)a->ival, (long long)b->ival, &rr)
                   : op == '-' ? __builtin_sub_overflow((long long)a->ival, (long long)b->ival, &rr)
                               : __builtin_mul_overflow((long long)a->ival, (long long)b->ival, &rr);
        if (!ovf) {
            *out = tbt_xval_single(ev, tbt_xitem_num(ev, 0, true, rr));
            return 0;
        }
    }
    double x = a->num, y = b->num, res;
    switch (op) {
    case '+': res = x + y; break;
    case '-': res = x - y; break;
    case '*': res = x * y; break;
    default:
        if (y == 0)
            return tbt_xeval_fail(ev, n, "division by zero");
        res = x / y;
        if (a->is_int && b->is_int && fmod(x, y) == 0 && fabs(res) < 9e18) {
            *out = tbt_xval_single(ev, tbt_xitem_num(ev, 0, true, (int64_t)res));
            return 0;
        }
    }
    *out = tbt_xval_single(ev, tbt_xitem_num(ev, res, false, 0));
    return 0;
}

/* ---- node evaluation ----------------------------------------------------*/
int tbt_xeval_node(xeval *ev, const xnode *n, xval *out)
{
    if (++ev->depth > 4 * TBT_EXPR_MAX_DEPTH)
        return tbt_xeval_fail(ev, n, "expression nested too deeply");
    int rc = 0;
    switch (n->kind) {
    case XN_NUM:
    case XN_DUR:
        /* constants were typed and formatted once, at parse time */
        out->array = false;
        out->n = 1;
        out->items = (xitem *)&n->constant;
        break;
    case XN_STR: {
        if (n->n_parts == 1 && !n->parts[0].expr) {
            out->array = false;
            out->n = 1;
            out->items = (xitem *)&n->constant;
            break;
        }
        tbt_buf b = TBT_BUF_INIT;
        for (size_t i = 0; i < n->n_parts && rc == 0; i++) {
            if (!n->parts[i].expr) {
                tbt_buf_append(&b, n->parts[i].text, n->parts[i].len);
                continue;
            }
            xval v;
            rc = tbt_xeval_node(ev, n->parts[i].expr, &v);
            if (rc == 0)
                tbt_xval_text(&v, &b);
        }
        if (rc == 0) {
            char *s = tbt_arena_strndup(ev->arena, tbt_buf_cstr(&b), b.len);
            *out = tbt_xval_single(ev, tbt_xitem_from_text(ev, s, b.len));
        }
        tbt_buf_free(&b);
        break;
    }
    case XN_ATTR:
        rc = eval_attr(ev, n, out);
        break;
    case XN_VAR:
        rc = eval_var(ev, n, out);
        break;
    case XN_ARRAY: {
        xval v = {true, NULL, 0};
        if (n->n_kids)
            v.items = tbt_arena_alloc(ev->arena, n->n_kids * sizeof(xitem));
        for (size_t i = 0; i < n->n_kids && rc == 0; i++) {
            xval k;
            rc = tbt_xeval_node(ev, n->kids[i], &k);
            if (rc == 0 && (k.array || k.n != 1))
                rc = tbt_xeval_fail(ev, n->kids[i], "a list item must be a single value");
            if (rc == 0)
                v.items[v.n++] = k.items[0];
        }
        if (rc == 0)
            *out = v;
        break;
    }
    case XN_CALL: {
        xval *args = n->n_kids ? tbt_arena_alloc(ev->arena, n->n_kids * sizeof(xval)) : NULL;
        for (size_t i = 0; i < n->n_kids && rc == 0; i++)
            rc = tbt_xeval_node(ev, n->kids[i], &args[i]);
        if (rc == 0)
            rc = tbt_xfunc_call(ev, n, args, n->n_kids, out);
        break;
    }
    case XN_NEG: {
        xval v;
        rc = tbt_xeval_node(ev, n->l, &v);
        if (rc != 0)
            break;
        if (n->op == '(') {
            *out = v;
            break;
        }
        xnode zero = *n;
        zero.op = '-';
        xval z = tbt_xval_single(ev, tbt_xitem_num(ev, 0, true, 0));
        rc = arith(ev, &zero, &z, &v, out);
        break;
    }
    case XN_BIN: {
        xval l, r;
        rc = tbt_xeval_node(ev, n->l, &l);
        if (rc == 0)
            rc = tbt_xeval_node(ev, n->r, &r);
        if (rc == 0)
            rc = arith(ev, n, &l, &r, out);
        break;
    }
    case XN_PIPE: {
        xval in;
        rc = tbt_xeval_node(ev, n->l, &in);
        xval *args = n->n_kids ? tbt_arena_alloc(ev->arena, n->n_kids * sizeof(xval)) : NULL;
        for (size_t i = 0; i < n->n_kids && rc == 0; i++)
            rc = tbt_xeval_node(ev, n->kids[i], &args[i]);
        if (rc == 0)
            rc = tbt_xfilter_apply(ev, n, &in, args, n->n_kids, out);
        break;
    }
    }
    ev->depth--;
    return rc;
}

/* ---- comparison ---------------------------------------------------------*/
static bool item_eq(const xitem *a, const xitem *b)
{
    if ((a->kind == XV_DUR || b->kind == XV_DUR) && a->kind != XV_STR && b->kind != XV_STR) {
        int64_t x = a->kind == XV_DUR ? a->ns : (a->is_int ? a->ival : (int64_t)llround(a->num));
        int64_t y = b->kind == XV_DUR ? b->ns : (b->is_int ? b->ival : (int64_t)llround(b->num));
        return x == y;
    }
    if (a->kind == XV_NUM && b->kind == XV_NUM && (a->typed || b->typed)) {
        if (a->is_int && b->is_int)
            return a->ival == b->ival;
        return a->num == b->num;
    }
    return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

xitem tbt_xitem_from_json(xeval *ev, const cJSON *j)
{
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9e15)
            return tbt_xitem_num(ev, d, true, (int64_t)d);
        return tbt_xitem_num(ev, d, false, 0);
    }
    if (cJSON_IsString(j))
        return tbt_xitem_from_text(ev, tbt_arena_strdup(ev->arena, j->valuestring), strlen(j->valuestring));
    char *p = cJSON_PrintUnformatted(j);
    char *s = tbt_arena_strdup(ev->arena, p ? p : "null");
    cJSON_free(p);
    xitem it;
    memset(&it, 0, sizeof(it));
    it.kind = XV_STR;
    it.s = s;
    it.len = strlen(s);
    return it;
}

/* Parse an item's text as a JSON array or object; NULL otherwise. */
static cJSON *item_json_container(const xitem *it)
{
    size_t i = 0;
    while (i < it->len && (it->s[i] == ' ' || it->s[i] == '\n' || it->s[i] == '\t'))
        i++;
    if (i >= it->len || (it->s[i] != '[' && it->s[i] != '{'))
        return NULL;
    cJSON *j = cJSON_ParseWithLength(it->s, it->len);
    if (j && !cJSON_IsArray(j) && !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

int tbt_xval_as_list(xeval *ev, const xval *v, xval *out)
{
    if (v->array || v->n != 1) {
        *out = *v;
        return 1;
    }
    cJSON *j = item_json_container(&v->items[0]);
    if (!j || !cJSON_IsArray(j)) {
        cJSON_Delete(j);
        return 0;
    }
    size_t n = (size_t)cJSON_GetArraySize(j);
    out->array = true;
    out->n = 0;
    out->items = n ? tbt_arena_alloc(ev->arena, n * sizeof(xitem)) : NULL;
    for (const cJSON *c = j->child; c; c = c->next)
        out->items[out->n++] = tbt_xitem_from_json(ev, c);
    cJSON_Delete(j);
    return 1;
}

static bool json_eq(const cJSON *a, const cJSON *b);

static bool json_scalar_eq(const cJSON *a, const cJSON *b)
{
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble == b->valuedouble;
    if (cJSON_IsNumber(a) && cJSON_IsString(b)) {
        double d;
        return tbt_text_is_number(b->valuestring, strlen(b->valuestring), &d) && d == a->valuedouble;
    }
    if (cJSON_IsString(a) && cJSON_IsNumber(b))
        return json_scalar_eq(b, a);
    if (cJSON_IsString(a) && cJSON_IsString(b))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsBool(a) && cJSON_IsBool(b))
        return cJSON_IsTrue(a) == cJSON_IsTrue(b);
    if (cJSON_IsNull(a) && cJSON_IsNull(b))
        return true;
    return false;
}

static bool json_eq(const cJSON *a, const cJSON *b)
{
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
            return false;
        for (const cJSON *c = b->child; c; c = c->next) {
            const cJSON *o = cJSON_GetObjectItemCaseSensitive(a, c->string);
            if (!o || !json_eq(o, c))
                return false;
        }
        return true;
    }
    if (cJSON_IsArray(a) && cJSON_IsArray(b)) {
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
            return false;
        for (const cJSON *x = a->child, *y = b->child; x && y; x = x->next, y = y->next)
            if (!json_eq(x, y))
                return false;
        return true;
    }
    return json_scalar_eq(a, b);
}

/* Subset matching: every key of `sub` is in `sup` with a matching value;
 * every item of a `sub` array matches some item of the `sup` array. */
static bool json_contains(const cJSON *sup, const cJSON *sub)
{
    if (cJSON_IsObject(sup) && cJSON_IsObject(sub)) {
        for (const cJSON *c = sub->child; c; c = c->next) {
            const cJSON *o = cJSON_GetObjectItemCaseSensitive(sup, c->string);
            if (!o || !json_contains(o, c))
                return false;
        }
        return true;
    }
    if (cJSON_IsArray(sup) && cJSON_IsArray(sub)) {
        for (const cJSON *c = sub->child; c; c = c->next) {
            bool found = false;
            for (const cJSON *o = sup->child; o && !found; o = o->next)
                found = json_contains(o, c);
            if (!found)
                return false;
        }
        return true;
    }
    if (cJSON_IsArray(sup) && !cJSON_IsArray(sub) && !cJSON_IsObject(sub)) {
        for (const cJSON *o = sup->child; o; o = o->next)
            if (json_scalar_eq(o, sub))
                return true;
        return false;
    }
    return json_eq(sup, sub);
}

static cJSON *item_to_json(const xitem *it)
{
    cJSON *c = item_json_container(it);
    if (c)
        return c;
    if (it->kind == XV_NUM)
        return cJSON_CreateNumber(it->num);
    char *s = tbt_xstrndup(it->s, it->len);
    c = cJSON_CreateString(s);
    free(s);
    return c;
}

static bool val_eq(xeval *ev, const xval *l, const xval *r)
{
    xval la, ra;
    bool lal = tbt_xval_as_list(ev, l, &la), ral = tbt_xval_as_list(ev, r, &ra);
    if ((l->array || r->array) && lal && ral) {
        if (la.n != ra.n)
            return false;
        for (size_t i = 0; i < la.n; i++)
            if (!item_eq(&la.items[i], &ra.items[i]))
                return false;
        return true;
    }
    if (l->array || r->array || l->n != 1 || r->n != 1) {
        tbt_buf a = TBT_BUF_INIT, b = TBT_BUF_INIT;
        tbt_xval_text(l, &a);
        tbt_xval_text(r, &b);
        bool eq = a.len == b.len && memcmp(tbt_buf_cstr(&a), tbt_buf_cstr(&b), a.len) == 0;
        tbt_buf_free(&a);
        tbt_buf_free(&b);
        return eq;
    }
    const xitem *x = &l->items[0], *y = &r->items[0];
    if (item_eq(x, y))
        return true;
    /* two JSON documents: equal by structure (key order, number spelling) */
    cJSON *jx = item_json_container(x);
    if (!jx)
        return false;
    cJSON *jy = item_json_container(y);
    bool eq = jy && json_eq(jx, jy);
    cJSON_Delete(jx);
    cJSON_Delete(jy);
    return eq;
}

static bool val_contains(xeval *ev, const xval *l, const xval *r)
{
    if (l->array) {
        /* membership; a list on the right: every item is a member */
        xval ra;
        if (r->array || (r->n == 1 && tbt_xval_as_list(ev, r, &ra) && ra.array)) {
            if (r->array)
                ra = *r;
            for (size_t k = 0; k < ra.n; k++) {
                bool found = false;
                for (size_t i = 0; i < l->n && !found; i++)
                    found = item_eq(&l->items[i], &ra.items[k]);
                if (!found)
                    return false;
            }
            return true;
        }
        for (size_t i = 0; i < l->n; i++)
            if (r->n == 1 && item_eq(&l->items[i], &r->items[0]))
                return true;
        return false;
    }
    if (l->n != 1 || r->n != 1) {
        if (r->array && l->n == 1) {
            cJSON *jl = item_json_container(&l->items[0]);
            if (!jl)
                return false;
            bool all = true;
            for (size_t k = 0; k < r->n && all; k++) {
                cJSON *jr = item_to_json(&r->items[k]);
                all = jr && json_contains(jl, jr);
                cJSON_Delete(jr);
            }
            cJSON_Delete(jl);
            return all;
        }
        return false;
    }
    const xitem *x = &l->items[0], *y = &r->items[0];
    cJSON *jl = item_json_container(x);
    if (jl) {
        cJSON *jr = item_to_json(y);
        bool c = jr && json_contains(jl, jr);
        cJSON_Delete(jl);
        cJSON_Delete(jr);
        if (c)
            return true;
    }
    if (y->len == 0)
        return true;
    return y->len <= x->len && memmem(x->s, x->len, y->s, y->len) != NULL;
}

static int val_order(xeval *ev, const tbt_assertion *a, const xval *l, const xval *r, int *cmp)
{
    if (l->array || r->array || l->n != 1 || r->n != 1)
        return tbt_xeval_fail(ev, a->left, "'%s' compares single values, not lists", tbt_cmp_name(a->cmp));
    const xitem *x = &l->items[0], *y = &r->items[0];
    if (x->kind == XV_STR || y->kind == XV_STR) {
        const xitem *bad = x->kind == XV_STR ? x : y;
        return tbt_xeval_fail(ev, x->kind == XV_STR ? a->left : a->right,
                              "'%s' compares numbers or durations; \"%.*s\" is neither", tbt_cmp_name(a->cmp),
                              (int)(bad->len > 60 ? 60 : bad->len), bad->s);
    }
    if (x->kind == XV_DUR || y->kind == XV_DUR) {
        long double p = x->kind == XV_DUR ? (long double)x->ns : (x->is_int ? (long double)x->ival : (long double)x->num);
        long double q = y->kind == XV_DUR ? (long double)y->ns : (y->is_int ? (long double)y->ival : (long double)y->num);
        *cmp = p < q ? -1 : p > q ? 1 : 0;
        return 0;
    }
    if (x->is_int && y->is_int)
        *cmp = x->ival < y->ival ? -1 : x->ival > y->ival ? 1 : 0;
    else
        *cmp = x->num < y->num ? -1 : x->num > y->num ? 1 : 0;
    return 0;
}

/* Text of a value for reports: durations (and numbers compared with
 * durations) read as durations. */
static const char *display(tbt_arena *dst, const xval *v, bool as_duration)
{
    if (as_duration && !v->array && v->n == 1 && v->items[0].kind != XV_STR) {
        const xitem *it = &v->items[0];
        int64_t ns = it->kind == XV_DUR ? it->ns : (it->is_int ? it->ival : (int64_t)llround(it->num));
        char tmp[48];
        tbt_format_duration(ns, tmp, sizeof(tmp));
        return tbt_arena_strdup(dst, tmp);
    }
    if (!v->array && v->n == 1)
        return tbt_arena_strndup(dst, v->items[0].s, v->items[0].len);
    tbt_buf b = TBT_BUF_INIT;
    tbt_xval_text(v, &b);
    const char *s = tbt_arena_strndup(dst, tbt_buf_cstr(&b), b.len);
    tbt_buf_free(&b);
    return s;
}

static bool is_dur(const xval *v)
{
    return !v->array && v->n == 1 && v->items[0].kind == XV_DUR;
}

void tbt_assert_outcome_clear(tbt_assert_outcome *o)
{
    if (!o)
        return;
    free(o->observed);
    free(o->expected);
    free(o->error);
    free(o->warning);
    memset(o, 0, sizeof(*o));
}

static int eval_side_pair(xeval *ev, const tbt_assertion *a, xval *l, xval *r)
{
    int rc = tbt_xeval_node(ev, a->left, l);
    if (rc == 0)
        rc = tbt_xeval_node(ev, a->right, r);
    return rc;
}

/* Find BIN nodes whose left-to-right reading differs and evaluate both. */
static void precedence_check(xeval *ev, const xnode *n, tbt_buf *warn)
{
    if (!n)
        return;
    if (n->kind == XN_BIN && n->alt) {
        xval a, b;
        tbt_error e1 = TBT_ERROR_INIT, e2 = TBT_ERROR_INIT;
        tbt_error *saved = ev->err;
        ev->err = &e1;
        int r1 = tbt_xeval_node(ev, n, &a);
        ev->err = &e2;
        int r2 = tbt_xeval_node(ev, n->alt, &b);
        ev->err = saved;
        if (r1 == 0 && r2 == 0 && !val_eq(ev, &a, &b)) {
            tbt_buf ta = TBT_BUF_INIT, tb = TBT_BUF_INIT;
            tbt_xval_text(&a, &ta);
            tbt_xval_text(&b, &tb);
            tbt_buf_printf(warn,
                           "%s'%.*s' is %s with operator precedence (tbt); Tracetest reads it left to right as %s. "
                           "Add parentheses to say which you mean",
                           warn->len ? "; " : "", (int)(n->end - n->off), ev->u->src + n->off, tbt_buf_cstr(&ta),
                           tbt_buf_cstr(&tb));
            tbt_buf_free(&ta);
            tbt_buf_free(&tb);
        }
        tbt_error_clear(&e1);
        tbt_error_clear(&e2);
    }
    precedence_check(ev, n->l, warn);
    precedence_check(ev, n->r, warn);
    for (size_t i = 0; i < n->n_kids; i++)
        precedence_check(ev, n->kids[i], warn);
    for (size_t i = 0; i < n->n_parts; i++)
        precedence_check(ev, n->parts[i].expr, warn);
}

int tbt_assertion_eval_in(const tbt_assertion *a, const tbt_eval_ctx *ctx, tbt_arena *dst, tbt_assert_view *out)
{
    memset(out, 0, sizeof(*out));
    tbt_error err = TBT_ERROR_INIT;
    tbt_assertion *mut = (tbt_assertion *)a;
    tbt_arena *arena = ctx->scratch && ctx->scratch != dst ? ctx->scratch : tbt_arena_new();
    xeval ev = {.ctx = ctx, .u = &mut->u, .arena = arena, .err = &err};
    xval l, r;
    int rc = eval_side_pair(&ev, a, &l, &r);
    if (rc == 0) {
        bool dur = is_dur(&l) || is_dur(&r);
        out->observed = display(dst, &l, dur);
        out->expected = display(dst, &r, dur);
        switch (a->cmp) {
        case TBT_CMP_EQ: out->passed = val_eq(&ev, &l, &r); break;
        case TBT_CMP_NE: out->passed = !val_eq(&ev, &l, &r); break;
        case TBT_CMP_CONTAINS: out->passed = val_contains(&ev, &l, &r); break;
        case TBT_CMP_NOT_CONTAINS: out->passed = !val_contains(&ev, &l, &r); break;
        default: {
            int c = 0;
            rc = val_order(&ev, a, &l, &r, &c);
            if (rc == 0)
                out->passed = a->cmp == TBT_CMP_LT ? c < 0 : a->cmp == TBT_CMP_LE ? c <= 0 : a->cmp == TBT_CMP_GT ? c > 0 : c >= 0;
            break;
        }
        }
    }
    if (rc != 0) {
        out->passed = false;
        out->observed = out->expected = NULL;
        out->error = tbt_arena_strdup(dst, err.msg ? err.msg : "evaluation failed");
    }
    if (a->u.precedence_differs) {
        tbt_buf w = TBT_BUF_INIT;
        precedence_check(&ev, a->left, &w);
        precedence_check(&ev, a->right, &w);
        if (w.len)
            out->warning = tbt_arena_strndup(dst, w.data, w.len);
        tbt_buf_free(&w);
    }
    tbt_error_clear(&err);
    if (arena == ctx->scratch)
        tbt_arena_reset(arena);
    else
        tbt_arena_free(arena);
    return rc;
}

int tbt_assertion_eval(const tbt_assertion *a, const tbt_eval_ctx *ctx, tbt_assert_outcome *out)
{
    memset(out, 0, sizeof(*out));
    tbt_arena *dst = tbt_arena_new();
    tbt_assert_view v;
    int rc = tbt_assertion_eval_in(a, ctx, dst, &v);
    out->passed = v.passed;
    out->observed = v.observed ? tbt_xstrdup(v.observed) : NULL;
    out->expected = v.expected ? tbt_xstrdup(v.expected) : NULL;
    out->error = v.error ? tbt_xstrdup(v.error) : NULL;
    out->warning = v.warning ? tbt_xstrdup(v.warning) : NULL;
    tbt_arena_free(dst);
    return rc;
}

int tbt_expr_eval_text(const tbt_expr *e, const tbt_eval_ctx *ctx, char **out, tbt_error *err)
{
    tbt_expr *mut = (tbt_expr *)e;
    xeval ev = {.ctx = ctx, .u = &mut->u, .arena = tbt_arena_new(), .err = err};
    xval v;
    *out = NULL;
    int rc = tbt_xeval_node(&ev, e->root, &v);
    if (rc == 0) {
        tbt_buf b = TBT_BUF_INIT;
        if (v.array) {
            tbt_buf_putc(&b, '[');
            for (size_t i = 0; i < v.n; i++) {
                if (i)
                    tbt_buf_putc(&b, ',');
                item_json(&v.items[i], &b);
            }
            tbt_buf_putc(&b, ']');
        } else {
            tbt_xval_text(&v, &b);
        }
        *out = tbt_buf_steal(&b);
    }
    tbt_arena_free(ev.arena);
    return rc;
}

int tbt_interpolate(const char *text, const tbt_loc *loc, const tbt_eval_ctx *ctx, char **out, tbt_error *err)
{
    *out = NULL;
    if (!strstr(text, "${")) {
        *out = tbt_xstrdup(text);
        return 0;
    }
    size_t len = strlen(text);
    xunit u;
    tbt_xunit_init(&u, text, len, loc);
    xparser p = {.u = &u, .err = err};
    tbt_xlex_init(&p.lx, u.src, len, 0);
    xnode *n = tbt_xparse_string(&p, 0, len, 0);
    int rc = p.failed ? p.failed : (n ? 0 : -EINVAL);
    if (rc == 0) {
        xeval ev = {.ctx = ctx, .u = &u, .arena = tbt_arena_new(), .err = err};
        xval v;
        rc = tbt_xeval_node(&ev, n, &v);
        if (rc == 0) {
            tbt_buf b = TBT_BUF_INIT;
            tbt_xval_text(&v, &b);
            *out = tbt_buf_steal(&b);
        }
        tbt_arena_free(ev.arena);
    }
    tbt_xunit_destroy(&u);
    return rc;
}
