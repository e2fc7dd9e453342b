/* tbt_analyzer.c - the analyzer's rules, run in one pass over the spans.
 *
 * Each rule looks at one span at a time and reports at most one finding per
 * span (listing all of that span's problems), so a rule's finding count is
 * the number of spans that break it. Attribute look-ups go through the
 * trace's interned keys (a pointer compare per attribute, and a miss costs
 * one bloom-filter test), and per-key work (is this key well formed, is one
 * of its namespaces also a key) is done once per distinct key, so a 100k-span
 * trace is linted in one linear pass. Messages are formatted only for the
 * findings kept (TBT_LINT_MAX_FINDINGS per rule). docs/analyzer.md is the
 * user-facing description of every rule. */
#include "tbt_analyzer_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Attributes the rules read, by their older semantic-convention name; the
 * newer name (tbt_semconv_alias) is read when the older one is absent. */
enum {
    A_HTTP_METHOD,
    A_HTTP_ROUTE,
    A_URL_TEMPLATE,
    A_HTTP_URL,
    A_HTTP_TARGET,
    A_HTTP_SCHEME,
    A_NET_PEER_NAME,
    A_NET_HOST_NAME,
    A_DB_SYSTEM,
    A_DB_OPERATION,
    A_DB_NAME,
    A_DB_TABLE,
    A_DB_STATEMENT,
    A_DB_SUMMARY,
    A_DB_CONN,
    A_RPC_SYSTEM,
    A_RPC_SERVICE,
    A_RPC_METHOD,
    A_MSG_SYSTEM,
    A_MSG_OPERATION,
    A_MSG_OPERATION_NAME,
    A_MSG_DEST,
    A_MSG_DEST_TEMPLATE,
    A_FAAS_TRIGGER,
    A_FAAS_INVOKED_NAME,
    A_FAAS_INVOKED_PROVIDER,
    A_N,
};

static const char *const attr_keys[A_N] = {
    "http.method",   "http.route",        "url.template",  "http.url",         "http.target",
    "http.scheme",   "net.peer.name",     "net.host.name", "db.system",        "db.operation",
    "db.name",       "db.sql.table",      "db.statement",  "db.query.summary", "db.connection_string",
    "rpc.system",    "rpc.service",       "rpc.method",    "messaging.system", "messaging.operation",
    "messaging.operation.name", "messaging.destination", "messaging.destination.template", "faas.trigger",
    "faas.invoked_name", "faas.invoked_provider",
};

/* Header attributes whose value is a credential (no-api-key-leak). */
static const char *const secret_headers[] = {
    "authorization", "proxy-authorization", "x-api-key", "x-auth-token",
    "proxy_authorization", "x_api_key", "x_auth_token",
};
#define N_SECRET_KEYS (2 * TBT_ARRAY_LEN(secret_headers))

#define MAX_PROBLEMS 8 /* problems listed in one finding's message */
#define SHOW_MAX 120   /* bytes of a name or value shown in a message */

typedef struct acc {
    tbt_lint_finding *f;
    size_t n, total;
} acc;

/* Per distinct attribute key (attribute-naming): computed once. */
typedef struct kinfo {
    const char *key;     /* the interned key (hash key) */
    bool bad_name;
    size_t n_ns;
    const char **ns;     /* keys of the trace that are namespaces of key */
} kinfo;

typedef struct problem {
    int kind;
    const char *a, *b;
} problem;

typedef struct lint {
    const tbt_analyzer_config *cfg;
    tbt_trace *t;
    tbt_arena *a;
    bool on[TBT_LR_N];
    acc acc[TBT_LR_N];
    tbt_prop props[A_N];
    tbt_prop_keys keys[A_N];
    const char *secret_key[N_SECRET_KEYS]; /* interned; NULL when absent from the trace */
    const char *secret_name[N_SECRET_KEYS];
    size_t n_secret;
    kinfo *km;           /* open addressing by key pointer */
    size_t km_cap, km_n;
    const void **res;    /* resources seen (open addressing) */
    size_t res_cap, res_n;
    tbt_buf msg;
    problem pr[MAX_PROBLEMS];
    size_t n_pr, n_pr_total;
} lint;

/* ---- small helpers ------------------------------------------------------- */
static size_t ptr_hash(const void *p)
{
    return (size_t)(((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull) >> 17);
}

/* Append s for a message: control characters become '?', at most max
 * bytes (cut on a character boundary, then "..."). */
static void show(tbt_buf *b, const char *s, size_t max)
{
    if (!s)
        s = "";
    size_t n = strlen(s), lim = n > max ? max : n;
    while (lim < n && lim > 0 && ((unsigned char)s[lim] & 0xC0) == 0x80)
        lim--;
    for (size_t i = 0; i < lim; i++) {
        unsigned char c = (unsigned char)s[i];
        tbt_buf_putc(b, (c < 0x20 || c == 0x7f) ? '?' : (char)c);
    }
    if (lim < n)
        tbt_buf_puts(b, "...");
}

static void show_q(tbt_buf *b, const char *s)
{
    tbt_buf_putc(b, '"');
    show(b, s, SHOW_MAX);
    tbt_buf_putc(b, '"');
}

/* "url.full (or http.url)": the newer name first. */
static void attr_name(lint *L, int a, tbt_buf *b)
{
    if (L->props[a].alias)
        tbt_buf_printf(b, "%s (or %s)", L->props[a].alias, attr_keys[a]);
    else
        tbt_buf_puts(b, attr_keys[a]);
}

static bool has(lint *L, tbt_span *s, int a, tbt_value *v)
{
    if (!L->keys[a].key && !L->keys[a].alias)
        return false;
    return tbt_span_get(L->t, s, &L->props[a], &L->keys[a], v);
}

/* The attribute as text (strings as stored, other types rendered into the
 * result arena); NULL when absent. */
static const char *text(lint *L, tbt_span *s, int a)
{
    tbt_value v;
    if (!has(L, s, a, &v))
        return NULL;
    if (v.type == TBT_V_STRING)
        return v.u.s.ptr;
    return tbt_value_text(&v, L->a, NULL);
}

static tbt_lint_finding *add_finding(lint *L, int rule, const tbt_span *s)
{
    acc *a = &L->acc[rule];
    a->total++;
    if (a->n >= TBT_LINT_MAX_FINDINGS)
        return NULL;
    if (!a->f)
        a->f = tbt_arena_calloc(L->a, TBT_LINT_MAX_FINDINGS, sizeof(*a->f));
    tbt_lint_finding *f = &a->f[a->n++];
    f->span_id = tbt_arena_strdup(L->a, s ? s->span_id_hex : "");
    if (s && s->name) {
        tbt_buf_reset(&L->msg);
        tbt_buf_puts(&L->msg, "");
        show(&L->msg, s->name, 256);
        f->span_name = tbt_arena_strndup(L->a, L->msg.data, L->msg.len);
    }
    tbt_buf_reset(&L->msg);
    tbt_buf_puts(&L->msg, "");
    return f;
}

static void finish(lint *L, tbt_lint_finding *f)
{
    f->message = tbt_arena_strndup(L->a, L->msg.data ? L->msg.data : "", L->msg.len);
}

static void pr_reset(lint *L)
{
    L->n_pr = L->n_pr_total = 0;
}

static void pr_add(lint *L, int kind, const char *a, const char *b)
{
    L->n_pr_total++;
    if (L->n_pr < MAX_PROBLEMS)
        L->pr[L->n_pr++] = (problem){kind, a, b};
}

static void pr_more(lint *L)
{
    if (L->n_pr_total > L->n_pr)
        tbt_buf_printf(&L->msg, " and %zu more", L->n_pr_total - L->n_pr);
}

static const char *kind_word(tbt_span_kind k)
{
    switch (k) {
    case TBT_KIND_SERVER: return "server ";
    case TBT_KIND_CLIENT: return "client ";
    case TBT_KIND_PRODUCER: return "producer ";
    case TBT_KIND_CONSUMER: return "consumer ";
    case TBT_KIND_INTERNAL: return "internal ";
    default: return "";
    }
}

/* ---- span-naming --------------------------------------------------------- */
#define MAX_CANDS 8
typedef struct cand {
    const char *p[5];
    size_t n;
} cand;

typedef struct cands {
    cand c[MAX_CANDS];
    size_t n;
} cands;

static void cand_add(cands *cs, const char *a, const char *b, const char *c, const char *d, const char *e)
{
    const char *parts[5] = {a, b, c, d, e};
    if (cs->n == MAX_CANDS)
        return;
    cand *x = &cs->c[cs->n];
    x->n = 0;
    for (int i = 0; i < 5 && parts[i]; i++)
        x->p[x->n++] = parts[i];
    cs->n++;
}

static bool cand_eq(const cand *c, const char *name)
{
    const char *s = name;
    for (size_t i = 0; i < c->n; i++) {
        size_t l = strlen(c->p[i]);
        if (strncmp(s, c->p[i], l) != 0)
            return false;
        s += l;
    }
    return *s == '\0';
}

static void name_finding(lint *L, tbt_span *s, const char *what, const cands *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        if (cand_eq(&cs->c[i], s->name ? s->name : ""))
            return;
    tbt_lint_finding *f = add_finding(L, TBT_LR_SPAN_NAMING, s);
    if (!f)
        return;
    tbt_buf_puts(&L->msg, "span name ");
    show_q(&L->msg, s->name);
    tbt_buf_printf(&L->msg, " does not follow the convention for %s spans: expected ", what);
    for (size_t i = 0; i < cs->n; i++) {
        if (i)
            tbt_buf_puts(&L->msg, " or ");
        tbt_buf cat = TBT_BUF_INIT;
        for (size_t k = 0; k < cs->c[i].n; k++)
            tbt_buf_puts(&cat, cs->c[i].p[k]);
        show_q(&L->msg, tbt_buf_cstr(&cat));
        tbt_buf_free(&cat);
    }
    finish(L, f);
}

static bool ieq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

static void rule_span_naming(lint *L, tbt_span *s)
{
    cands cs = {.n = 0};
    const char *type = s->type ? s->type : "";
    if (strcmp(type, "http") == 0) {
        const char *m = text(L, s, A_HTTP_METHOD);
        if (!m)
            return; /* required-attributes reports it */
        if (strcmp(m, "_OTHER") == 0)
            m = "HTTP";
        if (s->kind == TBT_KIND_SERVER) {
            const char *route = text(L, s, A_HTTP_ROUTE);
            if (route)
                cand_add(&cs, m, " ", route, NULL, NULL);
            else
                cand_add(&cs, m, NULL, NULL, NULL, NULL);
            name_finding(L, s, "http server", &cs);
        } else if (s->kind == TBT_KIND_CLIENT) {
            const char *tmpl = text(L, s, A_URL_TEMPLATE);
            cand_add(&cs, m, NULL, NULL, NULL, NULL);
            if (tmpl)
                cand_add(&cs, m, " ", tmpl, NULL, NULL);
            name_finding(L, s, "http client", &cs);
        }
    } else if (strcmp(type, "database") == 0) {
        const char *sys = text(L, s, A_DB_SYSTEM), *op = text(L, s, A_DB_OPERATION);
        const char *ns = text(L, s, A_DB_NAME), *tbl = text(L, s, A_DB_TABLE);
        const char *sum = text(L, s, A_DB_SUMMARY);
        if (ieq(sys, "redis")) {
            /* Redis spans are named after the command: the statement starts
             * with the span name (Tracetest's rule). */
            const char *st = text(L, s, A_DB_STATEMENT);
            size_t nl = s->name ? strlen(s->name) : 0;
            if (st && st[0]) {
                if (nl && strncasecmp(st, s->name, nl) == 0)
                    return;
                tbt_lint_finding *f = add_finding(L, TBT_LR_SPAN_NAMING, s);
                if (f) {
                    tbt_buf_puts(&L->msg, "span name ");
                    show_q(&L->msg, s->name);
                    tbt_buf_puts(&L->msg, " does not follow the convention for redis spans: expected the command "
                                          "the statement starts with");
                    finish(L, f);
                }
                return;
            }
        }
        if (sum)
            cand_add(&cs, sum, NULL, NULL, NULL, NULL);
        if (op && ns && tbl)
            cand_add(&cs, op, " ", ns, ".", tbl);
        if (op && tbl)
            cand_add(&cs, op, " ", tbl, NULL, NULL);
        if (op && ns)
            cand_add(&cs, op, " ", ns, NULL, NULL);
        if (tbl)
            cand_add(&cs, tbl, NULL, NULL, NULL, NULL);
        if (ns)
            cand_add(&cs, ns, NULL, NULL, NULL, NULL);
        if (sys)
            cand_add(&cs, sys, NULL, NULL, NULL, NULL);
        if (cs.n)
            name_finding(L, s, "database", &cs);
    } else if (strcmp(type, "rpc") == 0) {
        const char *svc = text(L, s, A_RPC_SERVICE), *meth = text(L, s, A_RPC_METHOD);
        if (svc && meth) {
            cand_add(&cs, svc, "/", meth, NULL, NULL);
            name_finding(L, s, "rpc", &cs);
        }
    } else if (strcmp(type, "messaging") == 0) {
        const char *op = text(L, s, A_MSG_OPERATION_NAME);
        const char *op2 = text(L, s, A_MSG_OPERATION);
        const char *dest = text(L, s, A_MSG_DEST), *tmpl = text(L, s, A_MSG_DEST_TEMPLATE);
        const char *ops[2] = {op, op2 && (!op || strcmp(op, op2) != 0) ? op2 : NULL};
        for (int i = 0; i < 2; i++) {
            if (!ops[i])
                continue;
            if (dest) {
                cand_add(&cs, ops[i], " ", dest, NULL, NULL);
                cand_add(&cs, dest, " ", ops[i], NULL, NULL);
            }
            if (tmpl)
                cand_add(&cs, ops[i], " ", tmpl, NULL, NULL);
            if (!dest && !tmpl)
                cand_add(&cs, ops[i], NULL, NULL, NULL, NULL);
        }
        if (cs.n)
            name_finding(L, s, "messaging", &cs);
    }
}

/* ---- required-attributes ------------------------------------------------ */
typedef struct req {
    const char *type;
    int kind;     /* TBT_KIND_* or -1 for any */
    int attr[2];  /* either satisfies; -1 unused */
} req;

static const req required[] = {
    {"http", -1, {A_HTTP_METHOD, -1}},
    {"http", TBT_KIND_CLIENT, {A_HTTP_URL, -1}},
    {"http", TBT_KIND_CLIENT, {A_NET_PEER_NAME, -1}},
    {"http", TBT_KIND_SERVER, {A_HTTP_TARGET, -1}},
    {"http", TBT_KIND_SERVER, {A_HTTP_SCHEME, -1}},
    {"http", TBT_KIND_SERVER, {A_NET_HOST_NAME, -1}},
    {"database", -1, {A_DB_SYSTEM, -1}},
    {"rpc", -1, {A_RPC_SYSTEM, -1}},
    {"rpc", -1, {A_NET_PEER_NAME, -1}},
    {"messaging", -1, {A_MSG_SYSTEM, -1}},
    {"messaging", -1, {A_MSG_OPERATION, A_MSG_OPERATION_NAME}},
    {"faas", TBT_KIND_SERVER, {A_FAAS_TRIGGER, -1}},
    {"faas", TBT_KIND_CLIENT, {A_FAAS_INVOKED_NAME, -1}},
    {"faas", TBT_KIND_CLIENT, {A_FAAS_INVOKED_PROVIDER, -1}},
};

static void rule_required(lint *L, tbt_span *s)
{
    const char *type = s->type ? s->type : "";
    if (strcmp(type, "general") == 0 || strcmp(type, "exception") == 0)
        return;
    int missing[TBT_ARRAY_LEN(required)];
    size_t n = 0;
    for (size_t i = 0; i < TBT_ARRAY_LEN(required); i++) {
        const req *r = &required[i];
        if (strcmp(r->type, type) != 0 || (r->kind >= 0 && (int)s->kind != r->kind))
            continue;
        tbt_value v;
        if (has(L, s, r->attr[0], &v) || (r->attr[1] >= 0 && has(L, s, r->attr[1], &v)))
            continue;
        missing[n++] = (int)i;
    }
    if (!n)
        return;
    tbt_lint_finding *f = add_finding(L, TBT_LR_REQUIRED_ATTRIBUTES, s);
    if (!f)
        return;
    tbt_buf_printf(&L->msg, "%s %sspan misses ", type, kind_word(s->kind));
    for (size_t i = 0; i < n; i++) {
        const req *r = &required[missing[i]];
        if (i)
            tbt_buf_puts(&L->msg, ", ");
        attr_name(L, r->attr[0], &L->msg);
        if (r->attr[1] >= 0) {
            tbt_buf_puts(&L->msg, " or ");
            attr_name(L, r->attr[1], &L->msg);
        }
    }
    finish(L, f);
}

/* ---- attribute-naming and no-empty-attributes ---------------------------- */
/* ^([a-z0-9_]+\.)+[a-z0-9_]+$, with '-' also allowed in the last segment of
 * the semantic conventions' header and metadata templates, whose last
 * segment is a header name as sent (http.request.header.x-api-key). */
static bool good_name(const char *k)
{
    static const char *const templates[] = {"http.request.header.", "http.response.header.",
                                            "rpc.grpc.request.metadata.", "rpc.grpc.response.metadata.",
                                            "rpc.connect_rpc.request.metadata.",
                                            "rpc.connect_rpc.response.metadata."};
    size_t dash_from = (size_t)-1;
    for (size_t i = 0; i < TBT_ARRAY_LEN(templates); i++) {
        size_t l = strlen(templates[i]);
        if (strncmp(k, templates[i], l) == 0)
            dash_from = l;
    }
    bool dot = false;
    size_t seg = 0;
    for (size_t i = 0; k[i]; i++) {
        char c = k[i];
        if (c == '.') {
            if (seg == 0)
                return false;
            dot = true;
            seg = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || (c == '-' && i >= dash_from)))
            return false;
        seg++;
    }
    return dot && seg > 0;
}

static kinfo *key_info(lint *L, const char *key)
{
    if (L->km_n * 2 >= L->km_cap) {
        size_t cap = L->km_cap ? L->km_cap * 2 : 256;
        kinfo *km = tbt_xcalloc(cap, sizeof(*km));
        for (size_t i = 0; i < L->km_cap; i++) {
            if (!L->km[i].key)
                continue;
            size_t j = ptr_hash(L->km[i].key) & (cap - 1);
            while (km[j].key)
                j = (j + 1) & (cap - 1);
            km[j] = L->km[i];
        }
        free(L->km);
        L->km = km;
        L->km_cap = cap;
    }
    size_t j = ptr_hash(key) & (L->km_cap - 1);
    while (L->km[j].key) {
        if (L->km[j].key == key)
            return &L->km[j];
        j = (j + 1) & (L->km_cap - 1);
    }
    kinfo *ki = &L->km[j];
    L->km_n++;
    ki->key = key;
    ki->bad_name = !good_name(key);
    /* every proper dot-prefix that is itself a key somewhere in the trace */
    size_t len = strlen(key);
    for (size_t i = 1; i < len; i++) {
        if (key[i] != '.')
            continue;
        char *pfx = tbt_xstrndup(key, i);
        const char *ik = tbt_trace_key(L->t, pfx);
        free(pfx);
        if (!ik)
            continue;
        const char **ns = tbt_arena_alloc(L->a, (ki->n_ns + 1) * sizeof(*ns));
        if (ki->n_ns)
            memcpy(ns, ki->ns, ki->n_ns * sizeof(*ns));
        ns[ki->n_ns++] = ik;
        ki->ns = ns;
    }
    return ki;
}

static bool kv_has(const tbt_kv *kv, size_t n, const char *ikey, bool interned)
{
    for (size_t i = 0; i < n; i++)
        if (interned ? kv[i].key == ikey : strcmp(kv[i].key, ikey) == 0)
            return true;
    return false;
}

static bool value_empty(const tbt_value *v)
{
    switch (v->type) {
    case TBT_V_EMPTY: return true;
    case TBT_V_STRING:
    case TBT_V_BYTES: return v->u.s.len == 0;
    case TBT_V_ARRAY: return v->u.arr.n == 0;
    case TBT_V_KVLIST: return v->u.kv.n == 0;
    default: return false;
    }
}

enum { PK_BAD_NAME, PK_NAMESPACE, PK_EMPTY };

static void attrs_naming(lint *L, const tbt_kv *kv, size_t n, bool interned)
{
    for (size_t i = 0; i < n; i++) {
        kinfo *ki = key_info(L, kv[i].key);
        if (ki->bad_name)
            pr_add(L, PK_BAD_NAME, kv[i].key, NULL);
        for (size_t k = 0; k < ki->n_ns; k++)
            if (kv_has(kv, n, ki->ns[k], interned))
                pr_add(L, PK_NAMESPACE, ki->ns[k], kv[i].key);
    }
}

static void attrs_empty(lint *L, const tbt_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (value_empty(&kv[i].value))
            pr_add(L, PK_EMPTY, kv[i].key, NULL);
}

static void problems_finding(lint *L, int rule, tbt_span *s, bool resource)
{
    if (!L->n_pr_total)
        return;
    tbt_lint_finding *f = add_finding(L, rule, s);
    if (!f)
        return;
    if (resource) {
        tbt_buf_puts(&L->msg, "resource");
        if (s->service && s->service[0]) {
            tbt_buf_puts(&L->msg, " of service ");
            show_q(&L->msg, s->service);
        }
        tbt_buf_puts(&L->msg, ": ");
    }
    for (size_t i = 0; i < L->n_pr; i++) {
        const problem *p = &L->pr[i];
        if (i)
            tbt_buf_puts(&L->msg, "; ");
        tbt_buf_puts(&L->msg, "attribute ");
        show_q(&L->msg, p->a);
        switch (p->kind) {
        case PK_BAD_NAME: tbt_buf_puts(&L->msg, " is not lowercase dot-separated snake_case"); break;
        case PK_NAMESPACE:
            tbt_buf_puts(&L->msg, " is also the namespace of ");
            show_q(&L->msg, p->b);
            break;
        case PK_EMPTY: tbt_buf_puts(&L->msg, " is empty"); break;
        }
    }
    pr_more(L);
    finish(L, f);
}

/* true the first time r is seen */
static bool resource_first(lint *L, const tbt_resource *r)
{
    if (L->res_n * 2 >= L->res_cap) {
        size_t cap = L->res_cap ? L->res_cap * 2 : 64;
        const void **t = tbt_xcalloc(cap, sizeof(*t));
        for (size_t i = 0; i < L->res_cap; i++) {
            if (!L->res[i])
                continue;
            size_t j = ptr_hash(L->res[i]) & (cap - 1);
            while (t[j])
                j = (j + 1) & (cap - 1);
            t[j] = L->res[i];
        }
        free(L->res);
        L->res = t;
        L->res_cap = cap;
    }
    size_t j = ptr_hash(r) & (L->res_cap - 1);
    while (L->res[j]) {
        if (L->res[j] == r)
            return false;
        j = (j + 1) & (L->res_cap - 1);
    }
    L->res[j] = r;
    L->res_n++;
    return true;
}

/* ---- prefer-dns ---------------------------------------------------------- */
static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Dotted-quad IPv4 at s[0..n): exact. */
static bool ipv4_exact(const char *s, size_t n)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part) {
            if (i >= n || s[i] != '.')
                return false;
            i++;
        }
        size_t st = i;
        unsigned v = 0;
        while (i < n && is_digit(s[i]) && i - st < 3)
            v = v * 10 + (unsigned)(s[i++] - '0');
        if (i == st || v > 255 || (i < n && is_digit(s[i])))
            return false;
    }
    return i == n;
}

static bool ipv6_exact(const char *s, size_t n)
{
    size_t colons = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ':')
            colons++;
        else if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' || c == '%'))
            return false;
    }
    return colons >= 2;
}

/* An IPv4 address anywhere in s (not glued to other digits or dots):
 * start and length through *at and *len. */
static bool find_ipv4(const char *s, size_t *at, size_t *len)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]) || (i > 0 && (is_digit(s[i - 1]) || s[i - 1] == '.')))
            continue;
        size_t e = i;
        while (e < n && (is_digit(s[e]) || s[e] == '.'))
            e++;
        while (e > i && s[e - 1] == '.')
            e--;
        if (ipv4_exact(s + i, e - i)) {
            *at = i;
            *len = e - i;
            return true;
        }
    }
    return false;
}

/* The host of a URL ("scheme://user@host:port/path"), as [at, at+len). */
static bool url_host(const char *u, size_t *at, size_t *len)
{
    const char *p = strstr(u, "://");
    if (!p)
        return false;
    p += 3;
    size_t end = strcspn(p, "/?#");
    const char *at_sign = memchr(p, '@', end);
    const char *h = at_sign ? at_sign + 1 : p;
    size_t hl = end - (size_t)(h - p);
    if (hl && h[0] == '[') {
        const char *close = memchr(h, ']', hl);
        if (!close)
            return false;
        *at = (size_t)(h + 1 - u);
        *len = (size_t)(close - h - 1);
        return true;
    }
    const char *colon = memchr(h, ':', hl);
    *at = (size_t)(h - u);
    *len = colon ? (size_t)(colon - h) : hl;
    return true;
}

static void dns_problem(lint *L, int attr, const char *v, size_t at, size_t len, const char **ips, int *n)
{
    (void)attr;
    ips[*n] = tbt_arena_strndup(L->a, v + at, len > 64 ? 64 : len);
    (*n)++;
}

static void rule_prefer_dns(lint *L, tbt_span *s)
{
    const char *ips[4];
    int attrs[4], n = 0;
    size_t at, len;
    const char *u = text(L, s, A_HTTP_URL);
    if (u && url_host(u, &at, &len) && (ipv4_exact(u + at, len) || ipv6_exact(u + at, len))) {
        attrs[n] = A_HTTP_URL;
        dns_problem(L, A_HTTP_URL, u, at, len, ips, &n);
    }
    const char *c = text(L, s, A_DB_CONN);
    if (c && find_ipv4(c, &at, &len)) {
        attrs[n] = A_DB_CONN;
        dns_problem(L, A_DB_CONN, c, at, len, ips, &n);
    }
    if (s->kind == TBT_KIND_CLIENT) {
        const char *p = text(L, s, A_NET_PEER_NAME);
        if (p && (ipv4_exact(p, strlen(p)) || ipv6_exact(p, strlen(p)))) {
            attrs[n] = A_NET_PEER_NAME;
            dns_problem(L, A_NET_PEER_NAME, p, 0, strlen(p), ips, &n);
        }
    }
    if (!n)
        return;
    tbt_lint_finding *f = add_finding(L, TBT_LR_PREFER_DNS, s);
    if (!f)
        return;
    for (int i = 0; i < n; i++) {
        if (i)
            tbt_buf_puts(&L->msg, "; ");
        tbt_buf_puts(&L->msg, "attribute ");
        attr_name(L, attrs[i], &L->msg);
        tbt_buf_puts(&L->msg, " uses the IP address ");
        show(&L->msg, ips[i], 64);
        tbt_buf_puts(&L->msg, " instead of a DNS name");
    }
    finish(L, f);
}

/* ---- secure-https-protocol ----------------------------------------------- */
static void rule_secure_https(lint *L, tbt_span *s)
{
    if (!s->type || strcmp(s->type, "http") != 0)
        return;
    const char *sch = text(L, s, A_HTTP_SCHEME), *u = text(L, s, A_HTTP_URL);
    bool bad_scheme = sch && sch[0] && strcasecmp(sch, "https") != 0;
    bool bad_url = u && u[0] && strncasecmp(u, "https://", 8) != 0;
    if (!bad_scheme && !bad_url)
        return;
    tbt_lint_finding *f = add_finding(L, TBT_LR_SECURE_HTTPS, s);
    if (!f)
        return;
    if (bad_scheme) {
        tbt_buf_puts(&L->msg, "attribute ");
        attr_name(L, A_HTTP_SCHEME, &L->msg);
        tbt_buf_puts(&L->msg, " is ");
        tbt_buf_putc(&L->msg, '"');
        show(&L->msg, sch, 16);
        tbt_buf_puts(&L->msg, "\", not \"https\"");
    }
    if (bad_url) {
        if (bad_scheme)
            tbt_buf_puts(&L->msg, "; ");
        tbt_buf_puts(&L->msg, "attribute ");
        attr_name(L, A_HTTP_URL, &L->msg);
        /* only the scheme is shown: the rest of a URL may hold credentials */
        const char *p = strstr(u, "://");
        size_t sl = p ? (size_t)(p - u) : 0;
        bool plain = sl > 0 && sl <= 16;
        for (size_t i = 0; plain && i < sl; i++)
            plain = (u[i] >= 'a' && u[i] <= 'z') || (u[i] >= 'A' && u[i] <= 'Z') || is_digit(u[i]) ||
                    u[i] == '+' || u[i] == '-' || u[i] == '.';
        if (plain)
            tbt_buf_printf(&L->msg, " uses %.*s://, not https://", (int)sl, u);
        else
            tbt_buf_puts(&L->msg, " does not start with https://");
    }
    finish(L, f);
}

/* ---- no-api-key-leak ----------------------------------------------------- */
/* A credential shown without its secret: a known authentication scheme
 * keeps its (canonical) name, everything else is stars. */
static void mask_str(tbt_buf *b, const char *s, size_t n)
{
    static const char *const schemes[] = {"Basic", "Bearer", "Digest", "Negotiate", "NTLM", "ApiKey", "Token",
                                          "OAuth", "AWS4-HMAC-SHA256", "HOBA", "Mutual", "SCRAM-SHA-256", "Key"};
    size_t i = 0;
    while (i < n && s[i] == ' ')
        i++;
    for (size_t k = 0; k < TBT_ARRAY_LEN(schemes); k++) {
        size_t l = strlen(schemes[k]);
        if (n - i > l + 1 && strncasecmp(s + i, schemes[k], l) == 0 && s[i + l] == ' ') {
            tbt_buf_printf(b, "%s ****", schemes[k]);
            return;
        }
    }
    tbt_buf_puts(b, "****");
}

static bool secret_value(const tbt_value *v)
{
    if (v->type == TBT_V_STRING || v->type == TBT_V_BYTES)
        return v->u.s.len > 0;
    if (v->type == TBT_V_ARRAY) {
        for (size_t i = 0; i < v->u.arr.n; i++)
            if (secret_value(&v->u.arr.items[i]))
                return true;
        return false;
    }
    return !value_empty(v);
}

static void mask_value(tbt_buf *b, const tbt_value *v)
{
    if (v->type == TBT_V_STRING) {
        mask_str(b, v->u.s.ptr, v->u.s.len);
    } else if (v->type == TBT_V_ARRAY) {
        tbt_buf_putc(b, '[');
        for (size_t i = 0; i < v->u.arr.n && i < 4; i++) {
            if (i)
                tbt_buf_puts(b, ", ");
            mask_value(b, &v->u.arr.items[i]);
        }
        if (v->u.arr.n > 4)
            tbt_buf_puts(b, ", ...");
        tbt_buf_putc(b, ']');
    } else {
        tbt_buf_puts(b, "****");
    }
}

/* Query parameters that carry a credential (tbt's addition: Tracetest looks
 * at headers only, but an API key in the URL is recorded in url.full). */
static const char *const secret_params[] = {"api_key", "apikey", "api-key", "access_token", "token", "auth",
                                            "key", "password", "secret", "client_secret", "sig", "signature"};

/* The first credential parameter of url's query string: its name in
 * *name (length *nlen), or false. */
static bool query_secret(const char *url, const char **name, size_t *nlen)
{
    const char *q = url ? strchr(url, '?') : NULL;
    while (q && *q) {
        const char *p = q + 1, *end = p + strcspn(p, "&#"), *eq = memchr(p, '=', (size_t)(end - p));
        if (eq && eq + 1 < end) {
            size_t l = (size_t)(eq - p);
            for (size_t k = 0; k < TBT_ARRAY_LEN(secret_params); k++)
                if (strlen(secret_params[k]) == l && strncasecmp(p, secret_params[k], l) == 0) {
                    *name = p;
                    *nlen = l;
                    return true;
                }
        }
        q = *end == '&' ? end : NULL;
    }
    return false;
}

static void rule_api_key_leak(lint *L, tbt_span *s)
{
    if (!s->type || strcmp(s->type, "http") != 0)
        return;
    /* the URL: a credential in its query string (url.full / http.url,
     * http.target, or url.query, which has no '?') */
    for (int u = 0; u < 3; u++) {
        const char *url = NULL, *label = NULL;
        char *tmp = NULL;
        if (u < 2) {
            url = text(L, s, u == 0 ? A_HTTP_URL : A_HTTP_TARGET);
            label = u == 0 ? "url.full (or http.url)" : "http.target (or url.path)";
        } else {
            for (size_t i = 0; i < s->n_attrs && !url; i++)
                if (strcmp(s->attrs[i].key, "url.query") == 0 && s->attrs[i].value.type == TBT_V_STRING)
                    url = tmp = tbt_xasprintf("?%.*s", (int)s->attrs[i].value.u.s.len, s->attrs[i].value.u.s.ptr);
            label = "url.query";
        }
        const char *pname;
        size_t plen;
        bool leak = query_secret(url, &pname, &plen);
        tbt_lint_finding *f = leak ? add_finding(L, TBT_LR_NO_API_KEY_LEAK, s) : NULL;
        if (f) {
            tbt_buf_printf(&L->msg, "attribute %s carries a credential in its query string (%.*s=****)", label,
                           (int)(plen > 64 ? 64 : plen), pname);
            finish(L, f);
        }
        free(tmp);
        if (leak)
            return;
    }
    if (!L->n_secret)
        return;
    const tbt_value *found[N_SECRET_KEYS];
    const char *names[N_SECRET_KEYS];
    size_t n = 0;
    for (size_t k = 0; k < L->n_secret; k++) {
        const char *ik = L->secret_key[k];
        for (size_t i = 0; i < s->n_attrs; i++) {
            const char *key = s->attrs[i].key;
            if (s->interned ? key == ik : strcmp(key, ik) == 0) {
                if (secret_value(&s->attrs[i].value)) {
                    found[n] = &s->attrs[i].value;
                    names[n++] = L->secret_name[k];
                }
                break;
            }
        }
    }
    if (!n)
        return;
    tbt_lint_finding *f = add_finding(L, TBT_LR_NO_API_KEY_LEAK, s);
    if (!f)
        return;
    for (size_t i = 0; i < n; i++) {
        if (i)
            tbt_buf_puts(&L->msg, "; ");
        tbt_buf_printf(&L->msg, "attribute %s records a credential: ", names[i]);
        mask_value(&L->msg, found[i]);
    }
    finish(L, f);
}

/* ---- the run ------------------------------------------------------------- */
static void setup(lint *L)
{
    for (int a = 0; a < A_N; a++) {
        L->props[a] = tbt_prop_resolve(attr_keys[a], false);
        L->props[a].fallback = TBT_PROP_NONE;
        L->keys[a] = tbt_trace_prop_keys(L->t, &L->props[a]);
    }
    static const char *const pfx[] = {"http.request.header.", "http.response.header."};
    for (size_t p = 0; p < 2; p++) {
        for (size_t h = 0; h < TBT_ARRAY_LEN(secret_headers); h++) {
            char name[64];
            snprintf(name, sizeof(name), "%s%s", pfx[p], secret_headers[h]);
            const char *ik = tbt_trace_key(L->t, name);
            if (!ik)
                continue;
            L->secret_key[L->n_secret] = ik;
            L->secret_name[L->n_secret++] = tbt_arena_strdup(L->a, name);
        }
    }
}

static void score(const tbt_analyzer_config *cfg, tbt_lint_result *out)
{
    int sum = 0, counted = 0;
    for (int p = 0; p < TBT_LP_N; p++) {
        if (!cfg->plugin_on[p])
            continue;
        unsigned total = 0, pass = 0;
        for (size_t i = 0; i < out->n_rules; i++) {
            const tbt_lint_rule_result *r = &out->rules[i];
            if (tbt_lint_rules[i].plugin != p || r->level == TBT_LINT_DISABLED)
                continue;
            total += r->weight;
            if (r->passed)
                pass += r->weight;
        }
        if (total) {
            sum += (int)(100u * pass / total);
            counted++;
        }
    }
    out->score = counted ? sum / counted : 100;
}

int tbt_analyzer_run(const tbt_analyzer_config *cfg, tbt_trace *t, tbt_arena *arena, tbt_lint_result *out)
{
    if (!cfg->enabled)
        return -EINVAL;
    lint L;
    memset(&L, 0, sizeof(L));
    L.cfg = cfg;
    L.t = t;
    L.a = arena;
    for (int r = 0; r < TBT_LR_N; r++)
        L.on[r] = cfg->plugin_on[tbt_lint_rules[r].plugin] && cfg->level[r] != TBT_LINT_DISABLED;
    setup(&L);

    size_t n = tbt_trace_span_count(t);
    for (size_t i = 0; i < n; i++) {
        tbt_span *s = tbt_trace_span_at(t, i);
        if (L.on[TBT_LR_SPAN_NAMING])
            rule_span_naming(&L, s);
        if (L.on[TBT_LR_REQUIRED_ATTRIBUTES])
            rule_required(&L, s);
        bool new_res = s->resource && (L.on[TBT_LR_ATTRIBUTE_NAMING] || L.on[TBT_LR_NO_EMPTY_ATTRIBUTES]) &&
                       resource_first(&L, s->resource);
        if (L.on[TBT_LR_ATTRIBUTE_NAMING]) {
            pr_reset(&L);
            attrs_naming(&L, s->attrs, s->n_attrs, s->interned);
            problems_finding(&L, TBT_LR_ATTRIBUTE_NAMING, s, false);
            if (new_res) {
                pr_reset(&L);
                attrs_naming(&L, s->resource->attrs, s->resource->n_attrs, s->resource->interned);
                problems_finding(&L, TBT_LR_ATTRIBUTE_NAMING, s, true);
            }
        }
        if (L.on[TBT_LR_NO_EMPTY_ATTRIBUTES]) {
            pr_reset(&L);
            attrs_empty(&L, s->attrs, s->n_attrs);
            problems_finding(&L, TBT_LR_NO_EMPTY_ATTRIBUTES, s, false);
            if (new_res) {
                pr_reset(&L);
                attrs_empty(&L, s->resource->attrs, s->resource->n_attrs);
                problems_finding(&L, TBT_LR_NO_EMPTY_ATTRIBUTES, s, true);
            }
        }
        if (L.on[TBT_LR_PREFER_DNS])
            rule_prefer_dns(&L, s);
        if (L.on[TBT_LR_SECURE_HTTPS])
            rule_secure_https(&L, s);
        if (L.on[TBT_LR_NO_API_KEY_LEAK])
            rule_api_key_leak(&L, s);
    }

    memset(out, 0, sizeof(*out));
    out->rules = tbt_arena_calloc(arena, TBT_LR_N, sizeof(*out->rules));
    out->n_rules = TBT_LR_N;
    out->rules_passed = true;
    for (int r = 0; r < TBT_LR_N; r++) {
        tbt_lint_rule_result *rr = &out->rules[r];
        rr->plugin = tbt_lint_plugins[tbt_lint_rules[r].plugin].id;
        rr->id = tbt_lint_rules[r].id;
        rr->description = tbt_lint_rules[r].description;
        rr->level = L.on[r] ? cfg->level[r] : TBT_LINT_DISABLED;
        rr->weight = cfg->weight[r];
        rr->findings = L.acc[r].f;
        rr->n_findings = L.acc[r].n;
        rr->n_findings_total = L.acc[r].total;
        rr->passed = L.acc[r].total == 0;
        if (!rr->passed && rr->level == TBT_LINT_ERROR)
            out->rules_passed = false;
    }
    score(cfg, out);
    out->minimum_score = cfg->minimum_score;
    out->score_passed = out->score >= out->minimum_score;
    free(L.km);
    free(L.res);
    tbt_buf_free(&L.msg);
    return 0;
}
