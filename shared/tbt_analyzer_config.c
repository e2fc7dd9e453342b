/* tbt_analyzer_config.c - the analyzer's configuration: the plugin and rule
 * tables with Tracetest's defaults, the Analyzer spec validator (shared by
 * the YAML and JSON front ends), the TestRunner resource and the required
 * gates. */
#include "tbt_analyzer_private.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const tbt_lint_plugin_def tbt_lint_plugins[TBT_LP_N] = {
    {"standards", "OTel semantic conventions"},
    {"common", "Common problems"},
    {"security", "Security"},
};

const tbt_lint_rule_def tbt_lint_rules[TBT_LR_N] = {
    {TBT_LP_STANDARDS, "span-naming",
     "span names identify a class of spans, as the semantic conventions name http, database, rpc and messaging spans",
     25},
    {TBT_LP_STANDARDS, "required-attributes",
     "spans carry the attributes their type requires (old or new semantic-convention names)", 25},
    {TBT_LP_STANDARDS, "attribute-naming",
     "attribute keys are lowercase dot-separated snake_case, and no key is also another key's namespace", 25},
    {TBT_LP_STANDARDS, "no-empty-attributes", "no attribute has an empty value", 25},
    {TBT_LP_COMMON, "prefer-dns", "endpoints are named by DNS names, not IP addresses", 100},
    {TBT_LP_SECURITY, "secure-https-protocol", "HTTP spans use https", 30},
    {TBT_LP_SECURITY, "no-api-key-leak", "HTTP spans record no credentials in their headers", 70},
};

int tbt_lint_plugin_index(const char *id)
{
    for (int i = 0; i < TBT_LP_N; i++)
        if (id && strcmp(id, tbt_lint_plugins[i].id) == 0)
            return i;
    return -1;
}

int tbt_lint_rule_index(const char *id)
{
    for (int i = 0; i < TBT_LR_N; i++)
        if (id && strcmp(id, tbt_lint_rules[i].id) == 0)
            return i;
    return -1;
}

static const char *const level_names[] = {"error", "warning", "disabled"};

const char *tbt_lint_level_name(tbt_lint_level l)
{
    return (unsigned)l < TBT_ARRAY_LEN(level_names) ? level_names[l] : "?";
}

int tbt_lint_level_parse(const char *s, tbt_lint_level *out)
{
    for (size_t i = 0; i < TBT_ARRAY_LEN(level_names); i++) {
        if (s && strcmp(s, level_names[i]) == 0) {
            *out = (tbt_lint_level)i;
            return 0;
        }
    }
    return -1;
}

/* ---- config ---------------------------------------------------------------*/
tbt_analyzer_config *tbt_analyzer_config_new(void)
{
    tbt_analyzer_config *c = tbt_xcalloc(1, sizeof(*c));
    c->enabled = true;
    c->minimum_score = 0;
    for (int i = 0; i < TBT_LP_N; i++)
        c->plugin_on[i] = true;
    for (int i = 0; i < TBT_LR_N; i++) {
        c->level[i] = TBT_LINT_ERROR;
        c->weight[i] = tbt_lint_rules[i].weight;
    }
    return c;
}

void tbt_analyzer_config_free(tbt_analyzer_config *c)
{
    free(c);
}

tbt_analyzer_config *tbt_analyzer_config_copy(const tbt_analyzer_config *c)
{
    tbt_analyzer_config *d = tbt_xmalloc(sizeof(*d));
    *d = *c;
    return d;
}

bool tbt_analyzer_config_enabled(const tbt_analyzer_config *c)
{
    return c->enabled;
}

int tbt_analyzer_config_minimum_score(const tbt_analyzer_config *c)
{
    return c->minimum_score;
}

void tbt_analyzer_config_set_minimum_score(tbt_analyzer_config *c, int score)
{
    c->minimum_score = score < 0 ? 0 : score > 100 ? 100 : score;
}

void tbt_analyzer_config_set_enabled(tbt_analyzer_config *c, bool enabled)
{
    c->enabled = enabled;
}

int tbt_analyzer_config_set_plugin(tbt_analyzer_config *c, const char *plugin, bool enabled)
{
    int p = tbt_lint_plugin_index(plugin);
    if (p < 0)
        return -ENOENT;
    c->plugin_on[p] = enabled;
    return 0;
}

int tbt_analyzer_config_set_rule(tbt_analyzer_config *c, const char *plugin, const char *rule, tbt_lint_level level,
                                 unsigned weight)
{
    int r = tbt_lint_rule_index(rule);
    if (r < 0 || (plugin && tbt_lint_plugin_index(plugin) != tbt_lint_rules[r].plugin))
        return -ENOENT;
    if (weight > 100 || (unsigned)level > TBT_LINT_DISABLED)
        return -ERANGE;
    c->level[r] = level;
    c->weight[r] = weight;
    return 0;
}

/* ---- the validator ----------------------------------------------------------*/
typedef struct vctx {
    const tbt_tree_ops *ops;
    tbt_error *err;
    char path[96];
} vctx;

static int vfail(vctx *v, const void *node, const char *fmt, ...) TBT_PRINTF(3, 4);

static int vfail(vctx *v, const void *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    tbt_error_set(v->err, -EINVAL, "%s%s%s: %s", v->ops->prefix, v->path[0] ? " " : "", v->path, msg);
    free(msg);
    if (v->err && v->ops->locate)
        v->ops->locate(v->ops->ud, node, v->err);
    return -EINVAL;
}

/* What a node is, for "found ..." (bounded, so a megabyte string does not
 * end up in a message). */
static void found(const tbt_tv *t, char *out, size_t cap)
{
    switch (t->kind) {
    case TBT_TV_NULL: snprintf(out, cap, "null"); return;
    case TBT_TV_SEQ: snprintf(out, cap, "a list"); return;
    case TBT_TV_MAP: snprintf(out, cap, "a map"); return;
    case TBT_TV_INT: snprintf(out, cap, "%lld", t->i); return;
    default: break;
    }
    if (!t->text) {
        snprintf(out, cap, "a number that is not whole");
        return;
    }
    const char *s = t->text;
    size_t n = strlen(s);
    int shown = (int)(n > 40 ? 40 : n);
    /* cut on a character boundary */
    while (shown > 0 && shown < (int)n && ((unsigned char)s[shown] & 0xC0) == 0x80)
        shown--;
    snprintf(out, cap, "%s%.*s%s%s", t->quoted ? "\"" : "'", shown, s, (size_t)shown < n ? "..." : "",
             t->quoted ? "\"" : "'");
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

static size_t path_push(vctx *v, const char *fmt, ...) TBT_PRINTF(2, 3);

static size_t path_push(vctx *v, const char *fmt, ...)
{
    size_t len = strlen(v->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->path + len, sizeof(v->path) - len, fmt, ap);
    va_end(ap);
    return len;
}

static void path_pop(vctx *v, size_t len)
{
    v->path[len] = '\0';
}

/* Keys a map may hold: -EINVAL at the first other one. */
static int check_keys(vctx *v, const void *map, const tbt_tv *t, const char *const *known, size_t n_known,
                      const char *what)
{
    for (size_t i = 0; i < t->n; i++) {
        const char *key = NULL;
        v->ops->map_at(map, i, &key);
        bool ok = false;
        for (size_t k = 0; k < n_known && !ok; k++)
            ok = key && strcmp(key, known[k]) == 0;
        if (ok)
            continue;
        char shown[64], list[256] = "";
        tbt_tv kt = {TBT_TV_TEXT, false, 0, key ? key : "", false, 0};
        found(&kt, shown, sizeof(shown));
        for (size_t k = 0; k < n_known; k++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", k ? ", " : "", known[k]);
        vfail(v, NULL, "unknown %s field %s (%s)", what, shown, list);
        if (v->err && v->ops->locate_key)
            v->ops->locate_key(v->ops->ud, map, i, v->err);
        return -EINVAL;
    }
    return 0;
}

static const void *field(vctx *v, const void *map, const tbt_tv *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++) {
        const char *key = NULL;
        const void *val = v->ops->map_at(map, i, &key);
        if (key && strcmp(key, name) == 0)
            return val;
    }
    return NULL;
}

static int get_bool(vctx *v, const void *node, const char *name, bool *out)
{
    tbt_tv t = v->ops->view(node);
    size_t at = path_push(v, "%s%s", v->path[0] ? "." : "", name);
    if (t.kind != TBT_TV_BOOL) {
        char f[64];
        found(&t, f, sizeof(f));
        return vfail(v, node, "expected true or false, found %s", f);
    }
    path_pop(v, at);
    *out = t.b;
    return 0;
}

static int get_percent(vctx *v, const void *node, const char *name, int *out)
{
    tbt_tv t = v->ops->view(node);
    size_t at = path_push(v, "%s%s", v->path[0] ? "." : "", name);
    if (t.kind != TBT_TV_INT || t.i < 0 || t.i > 100) {
        char f[64];
        found(&t, f, sizeof(f));
        return vfail(v, node, "expected a whole number from 0 to 100, found %s", f);
    }
    path_pop(v, at);
    *out = (int)t.i;
    return 0;
}

static int get_id(vctx *v, const void *map, const tbt_tv *mt, const char *what, const void **node, const char **out)
{
    *node = field(v, map, mt, "id");
    if (!*node)
        return vfail(v, map, "%s without an id", what);
    tbt_tv t = v->ops->view(*node);
    if (t.kind == TBT_TV_SEQ || t.kind == TBT_TV_MAP || t.kind == TBT_TV_NULL) {
        char f[64];
        found(&t, f, sizeof(f));
        size_t at = path_push(v, ".id");
        int rc = vfail(v, *node, "expected a %s id, found %s", what, f);
        path_pop(v, at);
        return rc;
    }
    *out = t.text;
    return 0;
}

static void list_ids(char *out, size_t cap, int plugin)
{
    out[0] = '\0';
    for (int i = 0; i < (plugin < 0 ? TBT_LP_N : TBT_LR_N); i++) {
        if (plugin >= 0 && tbt_lint_rules[i].plugin != plugin)
            continue;
        const char *id = plugin < 0 ? tbt_lint_plugins[i].id : tbt_lint_rules[i].id;
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? ", " : "", id);
    }
}

static int parse_rule(vctx *v, const void *rn, int plugin, int *seen, tbt_analyzer_config *cfg)
{
    static const char *const known[] = {"id", "weight", "errorLevel", "name", "description", "errorDescription", "tips"};
    tbt_tv t = v->ops->view(rn);
    if (t.kind != TBT_TV_MAP) {
        char f[64];
        found(&t, f, sizeof(f));
        return vfail(v, rn, "expected a rule ({id, weight, errorLevel}), found %s", f);
    }
    int rc = check_keys(v, rn, &t, known, TBT_ARRAY_LEN(known), "analyzer rule");
    if (rc)
        return rc;
    const void *idn;
    const char *id;
    if ((rc = get_id(v, rn, &t, "rule", &idn, &id)) != 0)
        return rc;
    int r = tbt_lint_rule_index(id);
    char f[64], list[256];
    tbt_tv it = v->ops->view(idn);
    found(&it, f, sizeof(f));
    list_ids(list, sizeof(list), plugin);
    size_t at = path_push(v, ".id");
    if (r < 0)
        return vfail(v, idn, "unknown rule %s of plugin %s (%s)", f, tbt_lint_plugins[plugin].id, list);
    if (tbt_lint_rules[r].plugin != plugin)
        return vfail(v, idn, "rule %s belongs to plugin %s, not %s", f, tbt_lint_plugins[tbt_lint_rules[r].plugin].id,
                     tbt_lint_plugins[plugin].id);
    if (seen[r] >= 0)
        return vfail(v, idn, "rule %s is listed twice in this plugin", f);
    path_pop(v, at);
    seen[r] = 1;
    const void *x;
    if ((x = field(v, rn, &t, "weight"))) {
        int w;
        if ((rc = get_percent(v, x, "weight", &w)) != 0)
            return rc;
        cfg->weight[r] = (unsigned)w;
    }
    if ((x = field(v, rn, &t, "errorLevel"))) {
        tbt_tv lt = v->ops->view(x);
        tbt_lint_level level;
        if (lt.kind != TBT_TV_TEXT || tbt_lint_level_parse(lt.text, &level) != 0) {
            found(&lt, f, sizeof(f));
            at = path_push(v, ".errorLevel");
            return vfail(v, x, "expected error, warning or disabled, found %s", f);
        }
        cfg->level[r] = level;
    }
    return 0;
}

static int parse_plugin(vctx *v, const void *pn, int *seen_plugins, tbt_analyzer_config *cfg)
{
    static const char *const known[] = {"id", "enabled", "rules", "name", "description"};
    tbt_tv t = v->ops->view(pn);
    if (t.kind != TBT_TV_MAP) {
        char f[64];
        found(&t, f, sizeof(f));
        return vfail(v, pn, "expected a plugin ({id, enabled, rules}), found %s", f);
    }
    int rc = check_keys(v, pn, &t, known, TBT_ARRAY_LEN(known), "analyzer plugin");
    if (rc)
        return rc;
    const void *idn;
    const char *id;
    if ((rc = get_id(v, pn, &t, "plugin", &idn, &id)) != 0)
        return rc;
    int p = tbt_lint_plugin_index(id);
    char f[64], list[256];
    tbt_tv it = v->ops->view(idn);
    found(&it, f, sizeof(f));
    size_t at = path_push(v, ".id");
    if (p < 0) {
        list_ids(list, sizeof(list), -1);
        return vfail(v, idn, "unknown plugin %s (%s)", f, list);
    }
    if (seen_plugins[p])
        return vfail(v, idn, "plugin %s is listed twice", f);
    path_pop(v, at);
    seen_plugins[p] = 1;
    const void *x;
    if ((x = field(v, pn, &t, "enabled")) && (rc = get_bool(v, x, "enabled", &cfg->plugin_on[p])) != 0)
        return rc;
    if ((x = field(v, pn, &t, "rules"))) {
        tbt_tv rt = v->ops->view(x);
        at = path_push(v, ".rules");
        if (rt.kind == TBT_TV_NULL) {
            path_pop(v, at);
            return 0;
        }
        if (rt.kind != TBT_TV_SEQ) {
            found(&rt, f, sizeof(f));
            return vfail(v, x, "expected a list of rules, found %s", f);
        }
        int seen[TBT_LR_N];
        for (int i = 0; i < TBT_LR_N; i++)
            seen[i] = -1;
        for (size_t i = 0; i < rt.n; i++) {
            size_t at2 = path_push(v, "[%zu]", i);
            if ((rc = parse_rule(v, v->ops->seq_at(x, i), p, seen, cfg)) != 0)
                return rc;
            path_pop(v, at2);
        }
        path_pop(v, at);
    }
    return 0;
}

int tbt_analyzer_parse_tree(const tbt_tree_ops *ops, const void *root, tbt_analyzer_config *cfg, tbt_error *err)
{
    static const char *const known[] = {"id", "name", "description", "enabled", "minimumScore", "plugins"};
    vctx v = {ops, err, ""};
    tbt_tv t = ops->view(root);
    if (t.kind != TBT_TV_MAP) {
        char f[64];
        found(&t, f, sizeof(f));
        return vfail(&v, root, "expected a map ({enabled, minimumScore, plugins}), found %s", f);
    }
    int rc = check_keys(&v, root, &t, known, TBT_ARRAY_LEN(known), "Analyzer");
    if (rc)
        return rc;
    const void *x;
    if ((x = field(&v, root, &t, "enabled")) && (rc = get_bool(&v, x, "enabled", &cfg->enabled)) != 0)
        return rc;
    if ((x = field(&v, root, &t, "minimumScore")) &&
        (rc = get_percent(&v, x, "minimumScore", &cfg->minimum_score)) != 0)
        return rc;
    if ((x = field(&v, root, &t, "plugins"))) {
        tbt_tv pt = ops->view(x);
        path_push(&v, "plugins");
        if (pt.kind == TBT_TV_NULL)
            return 0;
        if (pt.kind != TBT_TV_SEQ) {
            char f[64];
            found(&pt, f, sizeof(f));
            return vfail(&v, x, "expected a list of plugins, found %s", f);
        }
        int seen[TBT_LP_N] = {0};
        for (size_t i = 0; i < pt.n; i++) {
            size_t at = path_push(&v, "[%zu]", i);
            if ((rc = parse_plugin(&v, ops->seq_at(x, i), seen, cfg)) != 0)
                return rc;
            path_pop(&v, at);
        }
    }
    return 0;
}

/* ---- the YAML front end -------------------------------------------------------*/
static bool plain(const tbt_ynode *n)
{
    return n->loc.style == TBT_STYLE_PLAIN || n->loc.style == TBT_STYLE_NONE;
}

static tbt_tv y_view(const void *node)
{
    const tbt_ynode *n = node;
    tbt_tv t = {TBT_TV_NULL, false, 0, NULL, false, 0};
    if (!n || tbt_ynode_is_null(n))
        return t;
    if (n->type == TBT_Y_SEQ || n->type == TBT_Y_MAP) {
        t.kind = n->type == TBT_Y_SEQ ? TBT_TV_SEQ : TBT_TV_MAP;
        t.n = n->n;
        return t;
    }
    t.kind = TBT_TV_TEXT;
    t.text = n->str;
    t.quoted = !plain(n);
    if (t.quoted)
        return t;
    const char *s = n->str;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") || !strcmp(s, "false") ||
        !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        t.kind = TBT_TV_BOOL;
        t.b = s[0] == 't' || s[0] == 'T';
        return t;
    }
    size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
    size_t digits = strspn(s + i, "0123456789");
    if (digits > 0 && digits <= 12 && s[i + digits] == '\0') {
        t.kind = TBT_TV_INT;
        t.i = strtoll(s, NULL, 10);
    }
    return t;
}

static const void *y_map_at(const void *map, size_t i, const char **key)
{
    const tbt_ynode *m = map;
    *key = m->pairs[i].key->str;
    return m->pairs[i].value;
}

static const void *y_seq_at(const void *seq, size_t i)
{
    return ((const tbt_ynode *)seq)->items[i];
}

static void y_place(const tbt_defs *defs, const tbt_loc *loc, tbt_error *err)
{
    free(err->file);
    err->file = loc->file ? tbt_xstrdup(loc->file) : NULL;
    err->line = loc->line;
    err->col = loc->col;
    if (defs)
        tbt_defs_error_source(defs, err);
}

static void y_locate(void *ud, const void *node, tbt_error *err)
{
    if (node)
        y_place(ud, &((const tbt_ynode *)node)->loc, err);
}

static void y_locate_key(void *ud, const void *map, size_t i, tbt_error *err)
{
    y_place(ud, &((const tbt_ynode *)map)->pairs[i].key->loc, err);
}

int tbt_analyzer_config_parse(const tbt_ynode *spec, const tbt_defs *defs, tbt_analyzer_config **out,
                              tbt_error *err)
{
    *out = NULL;
    tbt_tree_ops ops = {y_view, y_map_at, y_seq_at, y_locate, y_locate_key, (void *)defs, "Analyzer"};
    tbt_analyzer_config *c = tbt_analyzer_config_new();
    int rc = tbt_analyzer_parse_tree(&ops, spec, c, err);
    if (rc) {
        tbt_analyzer_config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* ---- gates ------------------------------------------------------------------- */
static const struct {
    const char *name;
    unsigned bit;
} gate_names[] = {
    {"test-specs", TBT_GATE_TEST_SPECS},
    {"analyzer-score", TBT_GATE_ANALYZER_SCORE},
    {"analyzer-rules", TBT_GATE_ANALYZER_RULES},
};

#define GATE_LIST "test-specs, analyzer-score, analyzer-rules"

static unsigned gate_bit(const char *s, size_t n)
{
    for (size_t i = 0; i < TBT_ARRAY_LEN(gate_names); i++)
        if (strlen(gate_names[i].name) == n && memcmp(gate_names[i].name, s, n) == 0)
            return gate_names[i].bit;
    return 0;
}

int tbt_gates_parse(const char *csv, unsigned *out, tbt_error *err)
{
    unsigned mask = 0;
    const char *p = csv ? csv : "";
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0') {
        *out = 0;
        return 0;
    }
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        unsigned bit = gate_bit(s, n);
        if (!bit) {
            int shown = n > 40 ? 40 : (int)n;
            return n ? tbt_error_set(err, -EINVAL, "unknown gate '%.*s' (valid gates: " GATE_LIST ")", shown, s)
                     : tbt_error_set(err, -EINVAL, "empty gate name in '%.60s' (valid gates: " GATE_LIST ")", csv);
        }
        mask |= bit;
        if (!end)
            break;
        p = end + 1;
    }
    *out = mask;
    return 0;
}

void tbt_gates_format(unsigned gates, tbt_buf *out)
{
    bool first = true;
    for (size_t i = 0; i < TBT_ARRAY_LEN(gate_names); i++) {
        if (!(gates & gate_names[i].bit))
            continue;
        if (!first)
            tbt_buf_putc(out, ',');
        tbt_buf_puts(out, gate_names[i].name);
        first = false;
    }
    if (first)
        tbt_buf_puts(out, "");
}

unsigned tbt_gates_lint_failed(unsigned required, const tbt_lint_result *r)
{
    unsigned failed = 0;
    if (!r)
        return 0;
    if ((required & TBT_GATE_ANALYZER_SCORE) && !r->score_passed)
        failed |= TBT_GATE_ANALYZER_SCORE;
    if ((required & TBT_GATE_ANALYZER_RULES) && !r->rules_passed)
        failed |= TBT_GATE_ANALYZER_RULES;
    return failed;
}

int tbt_gates_from_resource(const tbt_ynode *spec, const tbt_defs *defs, unsigned *out, tbt_error *err)
{
    tbt_tree_ops ops = {y_view, y_map_at, y_seq_at, y_locate, y_locate_key, (void *)defs, "TestRunner"};
    static const char *const known[] = {"id", "name", "description", "requiredGates"};
    vctx v = {&ops, err, ""};
    tbt_tv t = y_view(spec);
    if (t.kind != TBT_TV_MAP) {
        char f[64];
        found(&t, f, sizeof(f));
        return vfail(&v, spec, "expected a map ({requiredGates}), found %s", f);
    }
    int rc = check_keys(&v, spec, &t, known, TBT_ARRAY_LEN(known), "TestRunner");
    if (rc)
        return rc;
    const tbt_ynode *g = field(&v, spec, &t, "requiredGates");
    unsigned mask = TBT_GATES_DEFAULT;
    if (g) {
        tbt_tv gt = y_view(g);
        path_push(&v, "requiredGates");
        mask = 0;
        if (gt.kind != TBT_TV_SEQ && gt.kind != TBT_TV_NULL) {
            char f[64];
            found(&gt, f, sizeof(f));
            return vfail(&v, g, "expected a list of gates (" GATE_LIST "), found %s", f);
        }
        for (size_t i = 0; i < gt.n; i++) {
            tbt_tv it = y_view(g->items[i]);
            unsigned bit = it.kind == TBT_TV_TEXT ? gate_bit(it.text, strlen(it.text)) : 0;
            char f[64];
            found(&it, f, sizeof(f));
            path_push(&v, "[%zu]", i);
            if (!bit)
                return vfail(&v, g->items[i], "unknown gate %s (valid gates: " GATE_LIST ")", f);
            if (mask & bit)
                return vfail(&v, g->items[i], "gate %s is listed twice", f);
            path_pop(&v, strlen("requiredGates"));
            mask |= bit;
        }
    }
    *out = mask;
    return 0;
}

/* ---- from loaded definitions ---------------------------------------------------- */
int tbt_analyzer_find_resources(const tbt_defs *defs, const tbt_resource_ref **analyzer,
                                const tbt_resource_ref **runner, tbt_error *err)
{
    const tbt_resource_ref *found_of[2] = {NULL, NULL};
    static const char *const types[2] = {"Analyzer", "TestRunner"};
    for (size_t i = 0; defs && i < tbt_defs_count(defs); i++) {
        const tbt_resource_ref *r = tbt_defs_at(defs, i);
        if (r->kind != TBT_RES_OTHER || !r->type_name)
            continue;
        for (int k = 0; k < 2; k++) {
            if (strcmp(r->type_name, types[k]) != 0)
                continue;
            if (found_of[k]) {
                const tbt_loc *a = &found_of[k]->loc;
                tbt_error_set(err, -EINVAL,
                              "a second %s resource (the first is at %s:%d:%d); at most one may be loaded",
                              types[k], a->file ? a->file : "?", a->line, a->col);
                if (err) {
                    err->file = r->loc.file ? tbt_xstrdup(r->loc.file) : NULL;
                    err->line = r->loc.line;
                    err->col = r->loc.col;
                    tbt_defs_error_source(defs, err);
                }
                return -EINVAL;
            }
            found_of[k] = r;
        }
    }
    if (analyzer)
        *analyzer = found_of[0];
    if (runner)
        *runner = found_of[1];
    return 0;
}

int tbt_analyzer_config_from_defs(const tbt_defs *defs, tbt_analyzer_config **out, unsigned *gates,
                                  tbt_error *err)
{
    const tbt_resource_ref *a = NULL, *r = NULL;
    int rc = tbt_analyzer_find_resources(defs, &a, &r, err);
    if (rc)
        return rc;
    unsigned g = TBT_GATES_DEFAULT;
    if (r && (rc = tbt_gates_from_resource(r->def, defs, &g, err)) != 0)
        return rc;
    tbt_analyzer_config *c = NULL;
    if (a) {
        if ((rc = tbt_analyzer_config_parse(a->def, defs, &c, err)) != 0)
            return rc;
    } else {
        c = tbt_analyzer_config_new();
    }
    *out = c;
    if (gates)
        *gates = g;
    return 0;
}
