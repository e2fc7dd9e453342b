/*
 * tbt_model.c - Tracetest resources from YAML trees.
 *
 * Each place in a definition (a resource, a Test's spec, one item of
 * `specs`, ...) has a table of the keys it accepts; a key not in it is an
 * error that lists the table, so a typo never silently drops an assertion.
 * Trigger blocks and the raw-kept resources are the exception: the trigger
 * table and later stages validate those.
 *
 * Strings point into the YAML trees, which the tbt_defs keeps for its
 * lifetime; the structures live in the defs' arena.
 */
#include "tbt_model.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct defs_file {
    char *real;       /* realpath, heap; NULL for text loads */
    tbt_ydocs *docs;  /* owns the nodes every resource of the file points into */
    size_t first, count;
} defs_file;

struct tbt_defs {
    tbt_arena *arena;
    tbt_resource_ref *res;
    size_t n_res, res_cap;
    defs_file *files;
    size_t n_files, files_cap;
    bool no_files;
};

/* ---- names ------------------------------------------------------------- */
static const struct {
    const char *name;
    tbt_resource_kind kind;
} res_types[] = {
    {"Test", TBT_RES_TEST},
    {"TestSuite", TBT_RES_SUITE},
    {"Transaction", TBT_RES_SUITE},
    {"VariableSet", TBT_RES_VARSET},
    {"Environment", TBT_RES_VARSET},
    {"PollingProfile", TBT_RES_POLLING},
    {"DataStore", TBT_RES_OTHER},
    {"TestRunner", TBT_RES_OTHER},
    {"Analyzer", TBT_RES_OTHER},
    {"Campaign", TBT_RES_OTHER},
};

static const struct {
    const char *type;
    const char *block;
} trigger_types[] = {
    {"http", "httpRequest"},
    {"grpc", "grpc"},
    {"kafka", "kafka"},
    {"amqp", "amqp"},
    {"traceid", "traceid"},
};

const char *tbt_resource_kind_name(tbt_resource_kind k)
{
    switch (k) {
    case TBT_RES_TEST: return "Test";
    case TBT_RES_SUITE: return "TestSuite";
    case TBT_RES_VARSET: return "VariableSet";
    case TBT_RES_POLLING: return "PollingProfile";
    case TBT_RES_OTHER: return "Other";
    }
    return "?";
}

/* Accepted keys per place; NULL-terminated. */
static const char *const keys_resource[] = {"type", "spec", NULL};
static const char *const keys_test[] = {"id",      "name",    "description",         "trigger",        "specs",
                                        "outputs", "skipTraceCollection", "pollingProfile", "completion", NULL};
static const char *const keys_trigger[] = {"type", "httpRequest", "grpc", "kafka", "amqp", "traceid", NULL};
static const char *const keys_spec[] = {"name", "selector", "assertions", NULL};
static const char *const keys_output[] = {"name", "selector", "value", NULL};
static const char *const keys_suite[] = {"id", "name", "description", "steps", NULL};
static const char *const keys_varset[] = {"id", "name", "description", "values", NULL};
static const char *const keys_value[] = {"key", "value", NULL};
static const char *const keys_polling[] = {"id", "name", "default", "strategy", "periodic", NULL};
static const char *const keys_periodic[] = {"retryDelay", "timeout", "selectorMatchRetries", NULL};

#define DEFAULT_RETRY_DELAY_NS 5000000000LL
#define DEFAULT_TIMEOUT_NS 60000000000LL
#define DEFAULT_SELECTOR_MATCH_RETRIES 3
#define MAX_SELECTOR_MATCH_RETRIES 1000000

/* ---- load context and errors ------------------------------------------- */
typedef struct lctx {
    tbt_defs *d;
    tbt_ydocs *docs;
    tbt_error *err;
} lctx;

static int fail_at(lctx *c, const tbt_loc *loc, int code, const char *fmt, ...) TBT_PRINTF(4, 5);

static int fail_at(lctx *c, const tbt_loc *loc, int code, const char *fmt, ...)
{
    if (!c->err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    char *msg = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    tbt_error_set(c->err, code, "%s", msg);
    free(msg);
    tbt_ydocs_error_at(c->docs, loc, c->err);
    return code;
}

static void join_list(tbt_buf *b, const char *const *names)
{
    for (size_t i = 0; names[i]; i++) {
        if (i)
            tbt_buf_puts(b, ", ");
        tbt_buf_puts(b, names[i]);
    }
}

static bool in_list(const char *const *names, const char *s, size_t len)
{
    for (size_t i = 0; names[i]; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return true;
    return false;
}

/* A short printable rendering of a scalar for messages. */
static const char *shown(const tbt_ynode *n, char *buf, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n->len && k + 4 < cap; i++) {
        char ch = n->str[i];
        buf[k++] = (ch == '\n' || ch == '\0' || ch == '\t' || ch == '\r') ? ' ' : ch;
    }
    if (n->len > k && k + 4 <= cap) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = '\0';
    return buf;
}

static int check_keys(lctx *c, const tbt_ynode *map, const char *place, const char *const *keys)
{
    for (size_t i = 0; i < map->n; i++) {
        const tbt_ynode *k = map->pairs[i].key;
        if (in_list(keys, k->str, k->len) && strlen(k->str) == k->len)
            continue;
        tbt_buf b = TBT_BUF_INIT;
        join_list(&b, keys);
        char sb[80];
        int r = fail_at(c, &k->loc, -EINVAL, "unknown key \"%s\" in %s; expected one of: %s", shown(k, sb, sizeof(sb)),
                        place, tbt_buf_cstr(&b));
        tbt_buf_free(&b);
        return r;
    }
    return 0;
}

/* Location of a map's key, for "missing" and "empty" messages. */
static const tbt_loc *key_loc(const tbt_ynode *map, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < map->n; i++)
        if (map->pairs[i].key->len == kl && memcmp(map->pairs[i].key->str, key, kl) == 0)
            return &map->pairs[i].key->loc;
    return &map->loc;
}

static int missing(lctx *c, const tbt_ynode *map, const char *key, const char *place)
{
    return fail_at(c, &map->loc, -EINVAL, "missing \"%s\" in %s", key, place);
}

static int wrong_type(lctx *c, const tbt_ynode *n, const char *want, const char *what)
{
    return fail_at(c, &n->loc, -EINVAL, "expected %s for %s, found a %s", want, what, tbt_ynode_kind_name(n));
}

/* ---- typed getters ----------------------------------------------------- */
/* A scalar's text. null gives "" at the node's position; a sequence or map
 * is an error; so is a NUL byte (from a "\0" escape), which no later stage
 * could carry. */
static int get_str(lctx *c, const tbt_ynode *n, const char *what, tbt_str *out)
{
    if (n->type != TBT_Y_SCALAR)
        return wrong_type(c, n, "a string", what);
    out->loc = n->loc;
    if (tbt_ynode_is_null(n)) {
        out->s = "";
        out->len = 0;
        return 0;
    }
    if (memchr(n->str, '\0', n->len))
        return fail_at(c, &n->loc, -EINVAL, "%s contains a NUL character", what);
    out->s = n->str;
    out->len = n->len;
    return 0;
}

/* Optional string field: absent leaves *out zeroed (s == NULL). */
static int opt_str(lctx *c, const tbt_ynode *map, const char *key, tbt_str *out)
{
    memset(out, 0, sizeof(*out));
    const tbt_ynode *n = tbt_ymap_get(map, key);
    if (!n)
        return 0;
    char what[64];
    snprintf(what, sizeof(what), "\"%s\"", key);
    return get_str(c, n, what, out);
}

/* Required, non-empty string field. */
static int req_str(lctx *c, const tbt_ynode *map, const char *key, const char *place, tbt_str *out)
{
    int r = opt_str(c, map, key, out);
    if (r < 0)
        return r;
    if (!out->s)
        return missing(c, map, key, place);
    if (out->len == 0)
        return fail_at(c, &out->loc, -EINVAL, "\"%s\" in %s must not be empty", key, place);
    return 0;
}

static bool ieq(const tbt_ynode *n, const char *s)
{
    return n->len == strlen(s) && strncasecmp(n->str, s, n->len) == 0;
}

/* true/false in any case, unquoted: a quoted "true" is a string in YAML. */
static int get_bool(lctx *c, const tbt_ynode *n, const char *key, bool *out)
{
    if (n->type == TBT_Y_SCALAR && n->loc.style == TBT_STYLE_PLAIN && !n->tag) {
        if (ieq(n, "true")) {
            *out = true;
            return 0;
        }
        if (ieq(n, "false")) {
            *out = false;
            return 0;
        }
    }
    if (n->type == TBT_Y_SCALAR) {
        char sb[80];
        return fail_at(c, &n->loc, -EINVAL, "expected true or false for \"%s\", found \"%s\"", key,
                       shown(n, sb, sizeof(sb)));
    }
    char what[64];
    snprintf(what, sizeof(what), "\"%s\"", key);
    return wrong_type(c, n, "true or false", what);
}

static int get_duration(lctx *c, const tbt_ynode *n, const char *key, int64_t *out)
{
    char what[64];
    snprintf(what, sizeof(what), "\"%s\"", key);
    tbt_str s;
    int r = get_str(c, n, what, &s);
    if (r < 0)
        return r;
    int64_t ns;
    if (tbt_parse_duration(s.s, s.len, &ns) < 0 || ns <= 0) {
        char sb[80];
        return fail_at(c, &n->loc, -EINVAL,
                       "invalid duration \"%s\" for \"%s\"; "
                       "expected a positive Go duration like 500ms, 5s, 2m or 1h30m",
                       shown(n, sb, sizeof(sb)), key);
    }
    *out = ns;
    return 0;
}

static int get_count(lctx *c, const tbt_ynode *n, const char *key, int max, int *out)
{
    if (n->type != TBT_Y_SCALAR) {
        char what[64];
        snprintf(what, sizeof(what), "\"%s\"", key);
        return wrong_type(c, n, "a whole number", what);
    }
    long v = 0;
    bool ok = n->len > 0 && n->len < 12 && n->loc.style == TBT_STYLE_PLAIN;
    for (size_t i = 0; ok && i < n->len; i++) {
        if (n->str[i] < '0' || n->str[i] > '9')
            ok = false;
        else
            v = v * 10 + (n->str[i] - '0');
    }
    if (!ok || v > max) {
        char sb[80];
        return fail_at(c, &n->loc, -EINVAL, "expected a whole number from 0 to %d for \"%s\", found \"%s\"", max, key,
                       shown(n, sb, sizeof(sb)));
    }
    *out = (int)v;
    return 0;
}

/* A map value; null or absent gives NULL (no error unless required). */
static int get_map(lctx *c, const tbt_ynode *parent, const char *key, const tbt_ynode **out)
{
    *out = NULL;
    const tbt_ynode *n = tbt_ymap_get(parent, key);
    if (!n || tbt_ynode_is_null(n))
        return 0;
    if (n->type != TBT_Y_MAP) {
        char what[64];
        snprintf(what, sizeof(what), "\"%s\"", key);
        return wrong_type(c, n, "a map", what);
    }
    *out = n;
    return 0;
}

/* A sequence value; null or absent gives NULL. */
static int get_seq(lctx *c, const tbt_ynode *parent, const char *key, const tbt_ynode **out)
{
    *out = NULL;
    const tbt_ynode *n = tbt_ymap_get(parent, key);
    if (!n || tbt_ynode_is_null(n))
        return 0;
    if (n->type != TBT_Y_SEQ) {
        char what[64];
        snprintf(what, sizeof(what), "\"%s\"", key);
        return wrong_type(c, n, "a list", what);
    }
    *out = n;
    return 0;
}

static int item_map(lctx *c, const tbt_ynode *n, const char *what)
{
    if (n->type != TBT_Y_MAP)
        return wrong_type(c, n, "a map", what);
    return 0;
}

/* ---- resources --------------------------------------------------------- */
static int load_polling(lctx *c, const tbt_ynode *spec, const char *place, tbt_polling_def *p)
{
    int r = check_keys(c, spec, place, keys_polling);
    if (r < 0)
        return r;
    p->loc = spec->loc;
    p->file = c->docs->file;
    p->retry_delay_ns = DEFAULT_RETRY_DELAY_NS;
    p->timeout_ns = DEFAULT_TIMEOUT_NS;
    p->selector_match_retries = DEFAULT_SELECTOR_MATCH_RETRIES;
    if ((r = opt_str(c, spec, "id", &p->id)) < 0 || (r = opt_str(c, spec, "name", &p->name)) < 0 ||
        (r = opt_str(c, spec, "strategy", &p->strategy)) < 0)
        return r;
    const tbt_ynode *n = tbt_ymap_get(spec, "default");
    if (n && (r = get_bool(c, n, "default", &p->is_default)) < 0)
        return r;
    if (!p->strategy.s || p->strategy.len == 0) {
        p->strategy.s = "periodic";
        p->strategy.len = 8;
    } else if (strcmp(p->strategy.s, "periodic") != 0) {
        return fail_at(c, &p->strategy.loc, -EINVAL, "unsupported polling strategy \"%s\"; expected: periodic",
                       p->strategy.s);
    }
    const tbt_ynode *per;
    if ((r = get_map(c, spec, "periodic", &per)) < 0)
        return r;
    if (!per)
        return 0;
    if ((r = check_keys(c, per, "periodic", keys_periodic)) < 0)
        return r;
    if ((n = tbt_ymap_get(per, "retryDelay")) && (r = get_duration(c, n, "retryDelay", &p->retry_delay_ns)) < 0)
        return r;
    if ((n = tbt_ymap_get(per, "timeout")) && (r = get_duration(c, n, "timeout", &p->timeout_ns)) < 0)
        return r;
    if ((n = tbt_ymap_get(per, "selectorMatchRetries")) &&
        (r = get_count(c, n, "selectorMatchRetries", MAX_SELECTOR_MATCH_RETRIES, &p->selector_match_retries)) < 0)
        return r;
    return 0;
}

static int load_trigger(lctx *c, const tbt_ynode *n, tbt_trigger_def *t)
{
    int r = check_keys(c, n, "trigger", keys_trigger);
    if (r < 0)
        return r;
    t->node = n;
    t->loc = n->loc;
    if ((r = req_str(c, n, "type", "trigger", &t->type)) < 0)
        return r;
    for (size_t i = 0; i < TBT_ARRAY_LEN(trigger_types); i++) {
        if (strcmp(t->type.s, trigger_types[i].type) != 0)
            continue;
        const char *bname = trigger_types[i].block;
        const tbt_ynode *b = tbt_ymap_get(n, bname);
        if (!b || tbt_ynode_is_null(b))
            return fail_at(c, &n->loc, -EINVAL, "trigger of type \"%s\" needs a \"%s\" block", t->type.s, bname);
        if (b->type != TBT_Y_MAP) {
            char what[64];
            snprintf(what, sizeof(what), "\"%s\"", bname);
            return wrong_type(c, b, "a map", what);
        }
        t->block = b;
        return 0;
    }
    tbt_buf b = TBT_BUF_INIT;
    for (size_t i = 0; i < TBT_ARRAY_LEN(trigger_types); i++)
        tbt_buf_printf(&b, "%s%s", i ? ", " : "", trigger_types[i].type);
    char sb[80];
    tbt_ynode tmp = {.str = t->type.s, .len = t->type.len};
    r = fail_at(c, &t->type.loc, -EINVAL, "unknown trigger type \"%s\"; expected one of: %s",
                shown(&tmp, sb, sizeof(sb)), tbt_buf_cstr(&b));
    tbt_buf_free(&b);
    return r;
}

static int load_spec_item(lctx *c, const tbt_ynode *n, tbt_spec_def *s)
{
    int r = item_map(c, n, "an item of \"specs\"");
    if (r < 0 || (r = check_keys(c, n, "spec", keys_spec)) < 0)
        return r;
    s->loc = n->loc;
    if ((r = opt_str(c, n, "name", &s->name)) < 0 || (r = opt_str(c, n, "selector", &s->selector)) < 0)
        return r;
    if (!s->selector.s) {
        /* No selector: every span, as in Tracetest. */
        s->selector.s = "";
        s->selector.loc = n->loc;
    }
    const tbt_ynode *as;
    if ((r = get_seq(c, n, "assertions", &as)) < 0)
        return r;
    if (!as)
        return fail_at(c, tbt_ymap_get(n, "assertions") ? key_loc(n, "assertions") : &n->loc, -EINVAL,
                       "%s \"assertions\" in spec; a spec needs at least one assertion",
                       tbt_ymap_get(n, "assertions") ? "empty" : "missing");
    if (as->n == 0)
        return fail_at(c, &as->loc, -EINVAL, "empty \"assertions\" in spec; a spec needs at least one assertion");
    s->n_assertions = as->n;
    s->assertions = tbt_arena_calloc(c->d->arena, as->n, sizeof(*s->assertions));
    for (size_t i = 0; i < as->n; i++) {
        if ((r = get_str(c, as->items[i], "an assertion", &s->assertions[i])) < 0)
            return r;
        if (s->assertions[i].len == 0)
            return fail_at(c, &as->items[i]->loc, -EINVAL, "empty assertion");
    }
    return 0;
}

static int load_output_item(lctx *c, const tbt_ynode *n, tbt_output_def *o)
{
    int r = item_map(c, n, "an item of \"outputs\"");
    if (r < 0 || (r = check_keys(c, n, "output", keys_output)) < 0)
        return r;
    o->loc = n->loc;
    if ((r = req_str(c, n, "name", "output", &o->name)) < 0)
        return r;
    if ((r = opt_str(c, n, "selector", &o->selector)) < 0)
        return r;
    if (!o->selector.s)
        return missing(c, n, "selector", "output");
    return req_str(c, n, "value", "output", &o->value);
}

static int load_test(lctx *c, const tbt_ynode *spec, tbt_test_def *t)
{
    int r = check_keys(c, spec, "Test spec", keys_test);
    if (r < 0)
        return r;
    t->loc = spec->loc;
    t->file = c->docs->file;
    if ((r = opt_str(c, spec, "id", &t->id)) < 0 || (r = opt_str(c, spec, "name", &t->name)) < 0 ||
        (r = opt_str(c, spec, "description", &t->description)) < 0)
        return r;

    const tbt_ynode *n;
    if ((r = get_map(c, spec, "trigger", &n)) < 0)
        return r;
    if (!n)
        return missing(c, spec, "trigger", "Test spec");
    if ((r = load_trigger(c, n, &t->trigger)) < 0)
        return r;

    if ((r = get_seq(c, spec, "specs", &n)) < 0)
        return r;
    if (n && n->n) {
        t->n_specs = n->n;
        t->specs = tbt_arena_calloc(c->d->arena, n->n, sizeof(*t->specs));
        for (size_t i = 0; i < n->n; i++)
            if ((r = load_spec_item(c, n->items[i], &t->specs[i])) < 0)
                return r;
    }

    if ((r = get_seq(c, spec, "outputs", &n)) < 0)
        return r;
    if (n && n->n) {
        t->n_outputs = n->n;
        t->outputs = tbt_arena_calloc(c->d->arena, n->n, sizeof(*t->outputs));
        for (size_t i = 0; i < n->n; i++)
            if ((r = load_output_item(c, n->items[i], &t->outputs[i])) < 0)
                return r;
    }

    if ((n = tbt_ymap_get(spec, "skipTraceCollection")) &&
        (r = get_bool(c, n, "skipTraceCollection", &t->skip_trace_collection)) < 0)
        return r;

    n = tbt_ymap_get(spec, "pollingProfile");
    if (n && n->type == TBT_Y_MAP) {
        tbt_polling_def *p = tbt_arena_calloc(c->d->arena, 1, sizeof(*p));
        if ((r = load_polling(c, n, "pollingProfile", p)) < 0)
            return r;
        p->is_inline = true;
        t->polling = p;
    } else if (n && !tbt_ynode_is_null(n)) {
        if ((r = get_str(c, n, "\"pollingProfile\" (an id, a file or a map)", &t->polling_ref)) < 0)
            return r;
    }

    if ((r = get_map(c, spec, "completion", &n)) < 0)
        return r;
    t->completion = n;
    return 0;
}

static int load_suite(lctx *c, const tbt_ynode *spec, tbt_suite_def *s)
{
    int r = check_keys(c, spec, "TestSuite spec", keys_suite);
    if (r < 0)
        return r;
    s->loc = spec->loc;
    s->file = c->docs->file;
    if ((r = opt_str(c, spec, "id", &s->id)) < 0 || (r = opt_str(c, spec, "name", &s->name)) < 0 ||
        (r = opt_str(c, spec, "description", &s->description)) < 0)
        return r;
    const tbt_ynode *n;
    if ((r = get_seq(c, spec, "steps", &n)) < 0)
        return r;
    if (!n || n->n == 0)
        return fail_at(c, n ? &n->loc : &spec->loc, -EINVAL,
                       "%s \"steps\" in TestSuite spec; a suite needs at least one step", n ? "empty" : "missing");
    s->n_steps = n->n;
    s->steps = tbt_arena_calloc(c->d->arena, n->n, sizeof(*s->steps));
    for (size_t i = 0; i < n->n; i++) {
        if ((r = get_str(c, n->items[i], "a suite step (a test file or id)", &s->steps[i].ref)) < 0)
            return r;
        if (s->steps[i].ref.len == 0)
            return fail_at(c, &n->items[i]->loc, -EINVAL, "empty suite step");
    }
    return 0;
}

static int load_varset(lctx *c, const tbt_ynode *spec, tbt_varset_def *v)
{
    int r = check_keys(c, spec, "VariableSet spec", keys_varset);
    if (r < 0)
        return r;
    v->loc = spec->loc;
    v->file = c->docs->file;
    if ((r = opt_str(c, spec, "id", &v->id)) < 0 || (r = req_str(c, spec, "name", "VariableSet spec", &v->name)) < 0 ||
        (r = opt_str(c, spec, "description", &v->description)) < 0)
        return r;
    const tbt_ynode *n;
    if ((r = get_seq(c, spec, "values", &n)) < 0)
        return r;
    if (!n || n->n == 0)
        return 0;
    v->n_values = n->n;
    v->values = tbt_arena_calloc(c->d->arena, n->n, sizeof(*v->values));
    for (size_t i = 0; i < n->n; i++) {
        const tbt_ynode *it = n->items[i];
        tbt_kvstr *kv = &v->values[i];
        if ((r = item_map(c, it, "an item of \"values\"")) < 0 || (r = check_keys(c, it, "variable", keys_value)) < 0 ||
            (r = req_str(c, it, "key", "variable", &kv->key)) < 0 || (r = opt_str(c, it, "value", &kv->value)) < 0)
            return r;
        if (!kv->value.s) {
            kv->value.s = "";
            kv->value.loc = it->loc;
        }
        for (size_t k = 0; k < i; k++) {
            const tbt_kvstr *o = &v->values[k];
            if (o->key.len == kv->key.len && memcmp(o->key.s, kv->key.s, kv->key.len) == 0)
                return fail_at(c, &kv->key.loc, -EINVAL, "duplicate variable \"%s\" (first at line %d, column %d)",
                               kv->key.s, o->key.loc.line, o->key.loc.col);
        }
    }
    return 0;
}

/* One document into *ref. */
static int load_doc(lctx *c, const tbt_ynode *root, tbt_resource_ref *ref)
{
    if (root->type != TBT_Y_MAP)
        return fail_at(c, &root->loc, -EINVAL, "expected a resource (a map with \"type\" and \"spec\"), found a %s",
                       tbt_ynode_kind_name(root));
    int r = check_keys(c, root, "resource", keys_resource);
    if (r < 0)
        return r;
    tbt_str type;
    if ((r = opt_str(c, root, "type", &type)) < 0)
        return r;
    tbt_buf names = TBT_BUF_INIT;
    for (size_t i = 0; i < TBT_ARRAY_LEN(res_types); i++)
        tbt_buf_printf(&names, "%s%s", i ? ", " : "", res_types[i].name);
    if (!type.s || type.len == 0) {
        r = fail_at(c, type.s ? &type.loc : &root->loc, -EINVAL, "%s \"type\" in resource; expected one of: %s",
                    type.s ? "empty" : "missing", tbt_buf_cstr(&names));
        tbt_buf_free(&names);
        return r;
    }
    size_t ti = 0;
    while (ti < TBT_ARRAY_LEN(res_types) && strcmp(res_types[ti].name, type.s) != 0)
        ti++;
    if (ti == TBT_ARRAY_LEN(res_types)) {
        char sb[80];
        tbt_ynode tmp = {.str = type.s, .len = type.len};
        r = fail_at(c, &type.loc, -EINVAL, "unknown resource type \"%s\"; expected one of: %s",
                    shown(&tmp, sb, sizeof(sb)), tbt_buf_cstr(&names));
        tbt_buf_free(&names);
        return r;
    }
    tbt_buf_free(&names);

    const tbt_ynode *spec;
    if ((r = get_map(c, root, "spec", &spec)) < 0)
        return r;
    if (!spec)
        return fail_at(c, &root->loc, -EINVAL, "missing \"spec\" in %s resource", type.s);

    ref->kind = res_types[ti].kind;
    ref->type_name = type.s;
    ref->file = c->docs->file;
    ref->loc = root->loc;
    tbt_arena *a = c->d->arena;
    switch (ref->kind) {
    case TBT_RES_TEST: {
        tbt_test_def *t = tbt_arena_calloc(a, 1, sizeof(*t));
        ref->def = t;
        return load_test(c, spec, t);
    }
    case TBT_RES_SUITE: {
        tbt_suite_def *s = tbt_arena_calloc(a, 1, sizeof(*s));
        ref->def = s;
        return load_suite(c, spec, s);
    }
    case TBT_RES_VARSET: {
        tbt_varset_def *v = tbt_arena_calloc(a, 1, sizeof(*v));
        ref->def = v;
        return load_varset(c, spec, v);
    }
    case TBT_RES_POLLING: {
        tbt_polling_def *p = tbt_arena_calloc(a, 1, sizeof(*p));
        ref->def = p;
        return load_polling(c, spec, "PollingProfile spec", p);
    }
    case TBT_RES_OTHER:
        ref->def = (void *)spec;
        return 0;
    }
    return 0;
}

/* ---- ids --------------------------------------------------------------- */
static const tbt_str *ref_id(const tbt_resource_ref *r)
{
    switch (r->kind) {
    case TBT_RES_TEST: return &((const tbt_test_def *)r->def)->id;
    case TBT_RES_SUITE: return &((const tbt_suite_def *)r->def)->id;
    case TBT_RES_VARSET: return &((const tbt_varset_def *)r->def)->id;
    case TBT_RES_POLLING: return &((const tbt_polling_def *)r->def)->id;
    case TBT_RES_OTHER: return NULL;
    }
    return NULL;
}

static const tbt_resource_ref *find_kind(const tbt_defs *d, tbt_resource_kind k, const char *id, size_t n_res)
{
    if (!id || !*id)
        return NULL;
    for (size_t i = 0; i < n_res; i++) {
        if (d->res[i].kind != k)
            continue;
        const tbt_str *s = ref_id(&d->res[i]);
        if (s && s->s && strcmp(s->s, id) == 0)
            return &d->res[i];
    }
    return NULL;
}

/* Ids unique per kind and at most one default profile, over what is
 * loaded plus the new resources res[from..). */
static int check_unique(lctx *c, size_t from)
{
    tbt_defs *d = c->d;
    for (size_t i = from; i < d->n_res; i++) {
        const tbt_resource_ref *r = &d->res[i];
        const tbt_str *id = ref_id(r);
        if (id && id->s && id->len) {
            const tbt_resource_ref *o = find_kind(d, r->kind, id->s, i);
            if (o) {
                const tbt_str *oid = ref_id(o);
                return fail_at(c, &id->loc, -EINVAL, "duplicate %s id \"%s\" (also at %s:%d:%d)",
                               tbt_resource_kind_name(r->kind), id->s, oid->loc.file, oid->loc.line, oid->loc.col);
            }
        }
        if (r->kind == TBT_RES_POLLING && ((const tbt_polling_def *)r->def)->is_default) {
            for (size_t k = 0; k < i; k++) {
                const tbt_resource_ref *o = &d->res[k];
                if (o->kind == TBT_RES_POLLING && ((const tbt_polling_def *)o->def)->is_default)
                    return fail_at(c, &((const tbt_polling_def *)r->def)->loc, -EINVAL,
                                   "more than one default PollingProfile (the other is at %s:%d:%d)", o->loc.file,
                                   o->loc.line, o->loc.col);
            }
        }
    }
    return 0;
}

/* ---- loading ----------------------------------------------------------- */
tbt_defs *tbt_defs_new(void)
{
    tbt_defs *d = tbt_xcalloc(1, sizeof(*d));
    d->arena = tbt_arena_new();
    return d;
}

void tbt_defs_free(tbt_defs *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_files; i++) {
        free(d->files[i].real);
        tbt_ydocs_free(d->files[i].docs);
    }
    free(d->files);
    free(d->res);
    tbt_arena_free(d->arena);
    free(d);
}

void tbt_defs_set_file_access(tbt_defs *d, bool allowed)
{
    d->no_files = !allowed;
}

/* Takes docs (and real) in every case. On success *index is the file's
 * record. */
static int add_docs(tbt_defs *d, tbt_ydocs *docs, char *real, size_t *index, tbt_error *err)
{
    lctx c = {d, docs, err};
    size_t from = d->n_res;
    int r = 0;
    for (size_t i = 0; i < docs->n_docs && r == 0; i++) {
        if (!docs->docs[i])
            continue;
        tbt_resource_ref ref = {0};
        r = load_doc(&c, docs->docs[i], &ref);
        if (r == 0) {
            TBT_GROW(d->res, d->res_cap, d->n_res + 1);
            d->res[d->n_res++] = ref;
        }
    }
    if (r == 0 && d->n_res == from)
        r = tbt_error_set(err, -EINVAL, "%s: no resource; expected YAML documents with \"type\" and \"spec\"",
                          docs->file);
    if (r == 0)
        r = check_unique(&c, from);
    if (r < 0) {
        d->n_res = from;
        tbt_ydocs_free(docs);
        free(real);
        return r;
    }
    TBT_GROW(d->files, d->files_cap, d->n_files + 1);
    d->files[d->n_files] = (defs_file){real, docs, from, d->n_res - from};
    if (index)
        *index = d->n_files;
    d->n_files++;
    return 0;
}

int tbt_defs_load_text(tbt_defs *d, const char *file, const char *text, size_t len, tbt_error *err)
{
    tbt_ydocs *docs;
    int r = tbt_yaml_parse(file, text, len, &docs, err);
    if (r < 0)
        return r;
    return add_docs(d, docs, NULL, NULL, err);
}

static int load_file(tbt_defs *d, const char *path, size_t *index, tbt_error *err)
{
    if (d->no_files)
        return tbt_error_set(err, -EPERM, "%s: reading files is disabled", path);
    char *real = realpath(path, NULL);
    if (!real) {
        int e = errno;
        return tbt_error_set(err, -e, "%s: %s", path, strerror(e));
    }
    for (size_t i = 0; i < d->n_files; i++) {
        if (d->files[i].real && strcmp(d->files[i].real, real) == 0) {
            free(real);
            if (index)
                *index = i;
            return 0;
        }
    }
    tbt_ydocs *docs;
    int r = tbt_yaml_parse_file(path, &docs, err);
    if (r < 0) {
        free(real);
        return r;
    }
    return add_docs(d, docs, real, index, err);
}

int tbt_defs_load_file(tbt_defs *d, const char *path, tbt_error *err)
{
    return load_file(d, path, NULL, err);
}

/* ---- resolution -------------------------------------------------------- */
static bool is_path_like(const tbt_str *s)
{
    if (memchr(s->s, '/', s->len))
        return true;
    return (s->len > 5 && strcmp(s->s + s->len - 5, ".yaml") == 0) ||
           (s->len > 4 && strcmp(s->s + s->len - 4, ".yml") == 0);
}

/* The tree a location points into: by the name's pointer (exact even when
 * two texts were loaded under one name), else by its text. */
static const tbt_ydocs *docs_of(const tbt_defs *d, const char *file)
{
    if (!file)
        return NULL;
    for (size_t i = 0; i < d->n_files; i++)
        if (d->files[i].docs->file == file)
            return d->files[i].docs;
    for (size_t i = 0; i < d->n_files; i++)
        if (strcmp(d->files[i].docs->file, file) == 0)
            return d->files[i].docs;
    return NULL;
}

static int fail_ref(const tbt_defs *d, const tbt_loc *loc, tbt_error *err, int code, const char *fmt, ...)
    TBT_PRINTF(5, 6);

static int fail_ref(const tbt_defs *d, const tbt_loc *loc, tbt_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    char *msg = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    tbt_error_set(err, code, "%s", msg);
    free(msg);
    tbt_ydocs_error_at(docs_of(d, loc->file), loc, err);
    return code;
}

/* Load ref (relative to the directory of `from`) and return the only
 * resource of kind k in it. */
static int load_ref_file(tbt_defs *d, const char *from, const tbt_str *ref, tbt_resource_kind k, const char *what,
                         const tbt_resource_ref **out, tbt_error *err)
{
    char *path;
    const char *slash = from ? strrchr(from, '/') : NULL;
    const char *rel = ref->s;
    if (rel[0] != '/' && slash) {
        while (rel[0] == '.' && rel[1] == '/') {
            rel += 2;
            while (*rel == '/')
                rel++;
        }
    }
    if (ref->s[0] == '/' || !slash)
        path = tbt_xstrdup(ref->s);
    else
        path = tbt_xasprintf("%.*s/%s", (int)(slash - from), from, rel);
    if (d->no_files) {
        int r = fail_ref(d, &ref->loc, err, -EPERM, "cannot load %s \"%s\": reading files is disabled", what, path);
        free(path);
        return r;
    }
    size_t fi = 0;
    tbt_error sub = TBT_ERROR_INIT;
    int r = load_file(d, path, &fi, &sub);
    if (r < 0) {
        /* The file itself cannot be opened: say so at the reference. Any
         * other error is inside that file and already says where. */
        if (sub.line == 0 && !sub.file) {
            char *m = sub.msg;
            sub.msg = NULL;
            r = fail_ref(d, &ref->loc, err, r, "%s", m ? m : "cannot load");
            free(m);
            tbt_error_clear(&sub);
        } else {
            tbt_error_move(err, &sub);
        }
        free(path);
        return r;
    }
    const defs_file *f = &d->files[fi];
    const tbt_resource_ref *found = NULL;
    size_t count = 0;
    for (size_t i = f->first; i < f->first + f->count; i++) {
        if (d->res[i].kind == k) {
            if (!found)
                found = &d->res[i];
            count++;
        }
    }
    if (count == 0)
        r = fail_ref(d, &ref->loc, err, -EINVAL, "%s holds no %s", path, tbt_resource_kind_name(k));
    else if (count > 1)
        r = fail_ref(d, &ref->loc, err, -EINVAL, "%s holds %zu resources of type %s; a %s must name a file with one",
                     path, count, tbt_resource_kind_name(k), what);
    free(path);
    *out = found;
    return r;
}

static int resolve_step(tbt_defs *d, const tbt_suite_def *s, tbt_suite_step *st, tbt_error *err)
{
    if (is_path_like(&st->ref)) {
        const tbt_resource_ref *r = NULL;
        int rc = load_ref_file(d, s->file, &st->ref, TBT_RES_TEST, "suite step", &r, err);
        if (rc < 0)
            return rc;
        st->test = r->def;
        return 0;
    }
    st->test = tbt_defs_find_test(d, st->ref.s);
    if (!st->test)
        return fail_ref(d, &st->ref.loc, err, -ENOENT,
                        "unknown test \"%s\": no loaded Test has this id "
                        "(a file step ends in .yaml or .yml or holds a '/')",
                        st->ref.s);
    return 0;
}

static int resolve_polling(tbt_defs *d, tbt_test_def *t, tbt_error *err)
{
    t->polling = tbt_defs_find_polling(d, t->polling_ref.s);
    if (t->polling)
        return 0;
    if (!is_path_like(&t->polling_ref))
        return fail_ref(d, &t->polling_ref.loc, err, -ENOENT,
                        "unknown polling profile \"%s\": no loaded PollingProfile has this id", t->polling_ref.s);
    const tbt_resource_ref *r = NULL;
    int rc = load_ref_file(d, t->file, &t->polling_ref, TBT_RES_POLLING, "polling profile", &r, err);
    if (rc < 0)
        return rc;
    t->polling = r->def;
    return 0;
}

int tbt_defs_resolve(tbt_defs *d, tbt_error *err)
{
    /* d->res grows as step files are loaded; index, never hold pointers. */
    for (size_t i = 0; i < d->n_res; i++) {
        tbt_resource_kind k = d->res[i].kind;
        if (k == TBT_RES_SUITE) {
            tbt_suite_def *s = d->res[i].def;
            for (size_t j = 0; j < s->n_steps; j++) {
                if (s->steps[j].test)
                    continue;
                int r = resolve_step(d, s, &s->steps[j], err);
                if (r < 0)
                    return r;
            }
        } else if (k == TBT_RES_TEST) {
            tbt_test_def *t = d->res[i].def;
            if (t->polling_ref.s && !t->polling) {
                int r = resolve_polling(d, t, err);
                if (r < 0)
                    return r;
            }
        }
    }
    return 0;
}

/* ---- queries ----------------------------------------------------------- */
size_t tbt_defs_count(const tbt_defs *d)
{
    return d->n_res;
}

const tbt_resource_ref *tbt_defs_at(const tbt_defs *d, size_t i)
{
    return i < d->n_res ? &d->res[i] : NULL;
}

const tbt_test_def *tbt_defs_find_test(const tbt_defs *d, const char *id)
{
    const tbt_resource_ref *r = find_kind(d, TBT_RES_TEST, id, d->n_res);
    return r ? r->def : NULL;
}

const tbt_suite_def *tbt_defs_find_suite(const tbt_defs *d, const char *id)
{
    const tbt_resource_ref *r = find_kind(d, TBT_RES_SUITE, id, d->n_res);
    return r ? r->def : NULL;
}

const tbt_varset_def *tbt_defs_find_varset(const tbt_defs *d, const char *id)
{
    const tbt_resource_ref *r = find_kind(d, TBT_RES_VARSET, id, d->n_res);
    return r ? r->def : NULL;
}

const tbt_polling_def *tbt_defs_find_polling(const tbt_defs *d, const char *id)
{
    const tbt_resource_ref *r = find_kind(d, TBT_RES_POLLING, id, d->n_res);
    return r ? r->def : NULL;
}

const tbt_polling_def *tbt_defs_default_polling(const tbt_defs *d)
{
    for (size_t i = 0; i < d->n_res; i++)
        if (d->res[i].kind == TBT_RES_POLLING && ((const tbt_polling_def *)d->res[i].def)->is_default)
            return d->res[i].def;
    return NULL;
}

tbt_arena *tbt_defs_arena(tbt_defs *d)
{
    return d->arena;
}

void tbt_defs_error_source(const tbt_defs *d, tbt_error *err)
{
    if (!d || !err || !err->file || err->line < 1)
        return;
    const tbt_ydocs *docs = docs_of(d, err->file);
    if (!docs)
        return;
    size_t len;
    const char *line = tbt_ydocs_line(docs, err->line, &len);
    if (!line)
        return;
    free(err->source_line);
    err->source_line = tbt_xstrndup(line, len);
    for (size_t i = 0; i < len; i++)
        if (err->source_line[i] == '\0')
            err->source_line[i] = ' ';
    err->caret = err->col > 0 ? err->col - 1 : 0;
}
