/* tbt_analyzer_json.c - the analyzer config and the lint result as JSON, for
 * job and result messages. Decoders read hostile bytes: sizes and counts are
 * bounded, every field is type-checked and errors name the field. The
 * config decoder is the same validator as the Analyzer resource's, over a
 * cJSON adapter. */
#include "tbt_analyzer_private.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULES 64
#define MAX_STR (64u * 1024u)

/* ---- config -------------------------------------------------------------- */
void tbt_analyzer_config_json(const tbt_analyzer_config *c, tbt_buf *out)
{
    tbt_buf_printf(out, "{\"enabled\":%s,\"minimumScore\":%d,\"plugins\":[", c->enabled ? "true" : "false",
                   c->minimum_score);
    for (int p = 0; p < TBT_LP_N; p++) {
        tbt_buf_printf(out, "%s{\"id\":\"%s\",\"enabled\":%s,\"rules\":[", p ? "," : "", tbt_lint_plugins[p].id,
                       c->plugin_on[p] ? "true" : "false");
        bool first = true;
        for (int r = 0; r < TBT_LR_N; r++) {
            if (tbt_lint_rules[r].plugin != p)
                continue;
            tbt_buf_printf(out, "%s{\"id\":\"%s\",\"weight\":%u,\"errorLevel\":\"%s\"}", first ? "" : ",",
                           tbt_lint_rules[r].id, c->weight[r], tbt_lint_level_name(c->level[r]));
            first = false;
        }
        tbt_buf_puts(out, "]}");
    }
    tbt_buf_puts(out, "]}");
}

static tbt_tv j_view(const void *node)
{
    const cJSON *j = node;
    tbt_tv t = {TBT_TV_NULL, false, 0, NULL, false, 0};
    if (!j || cJSON_IsNull(j))
        return t;
    if (cJSON_IsBool(j)) {
        t.kind = TBT_TV_BOOL;
        t.b = cJSON_IsTrue(j);
        t.text = t.b ? "true" : "false";
    } else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        t.kind = TBT_TV_TEXT;
        t.text = NULL;
        if (isfinite(d) && d == floor(d) && fabs(d) < 1e12) {
            t.kind = TBT_TV_INT;
            t.i = (long long)d;
        }
    } else if (cJSON_IsString(j)) {
        t.kind = TBT_TV_TEXT;
        t.text = j->valuestring;
        t.quoted = true;
    } else if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
        t.kind = cJSON_IsArray(j) ? TBT_TV_SEQ : TBT_TV_MAP;
        t.n = (size_t)cJSON_GetArraySize(j);
    }
    return t;
}

/* cJSON's arrays and objects are linked lists: walking by index is
 * quadratic, which the size bound keeps small (64 KiB). */
static const void *j_map_at(const void *map, size_t i, const char **key)
{
    const cJSON *it = cJSON_GetArrayItem(map, (int)i);
    *key = it ? it->string : "";
    return it;
}

static const void *j_seq_at(const void *seq, size_t i)
{
    return cJSON_GetArrayItem(seq, (int)i);
}

int tbt_analyzer_config_from_json(const char *json, size_t len, tbt_analyzer_config **out, tbt_error *err)
{
    *out = NULL;
    if (len > TBT_ANALYZER_JSON_MAX)
        return tbt_error_set(err, -E2BIG, "analyzer config: %zu bytes, more than the %u allowed", len,
                             TBT_ANALYZER_JSON_MAX);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return tbt_error_set(err, -EINVAL, "analyzer config: not valid JSON");
    tbt_tree_ops ops = {j_view, j_map_at, j_seq_at, NULL, NULL, NULL, "analyzer config"};
    tbt_analyzer_config *c = tbt_analyzer_config_new();
    int rc = tbt_analyzer_parse_tree(&ops, root, c, err);
    cJSON_Delete(root);
    if (rc) {
        tbt_analyzer_config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* ---- result -------------------------------------------------------------- */
static void put_str(tbt_buf *b, const char *s)
{
    tbt_buf_json_str(b, s ? s : "", s ? strlen(s) : 0);
}

void tbt_lint_result_json(const tbt_lint_result *r, tbt_buf *out)
{
    tbt_buf_printf(out, "{\"score\":%d,\"minimumScore\":%d,\"scorePassed\":%s,\"rulesPassed\":%s,\"rules\":[", r->score,
                   r->minimum_score, r->score_passed ? "true" : "false", r->rules_passed ? "true" : "false");
    for (size_t i = 0; i < r->n_rules; i++) {
        const tbt_lint_rule_result *rr = &r->rules[i];
        tbt_buf_puts(out, i ? ",{\"plugin\":" : "{\"plugin\":");
        put_str(out, rr->plugin);
        tbt_buf_puts(out, ",\"id\":");
        put_str(out, rr->id);
        tbt_buf_puts(out, ",\"description\":");
        put_str(out, rr->description);
        tbt_buf_printf(out, ",\"level\":\"%s\",\"weight\":%u,\"passed\":%s,\"findingsTotal\":%zu,\"findings\":[",
                       tbt_lint_level_name(rr->level), rr->weight, rr->passed ? "true" : "false",
                       rr->n_findings_total);
        for (size_t k = 0; k < rr->n_findings; k++) {
            const tbt_lint_finding *f = &rr->findings[k];
            tbt_buf_puts(out, k ? ",{\"spanId\":" : "{\"spanId\":");
            put_str(out, f->span_id);
            if (f->span_name) {
                tbt_buf_puts(out, ",\"spanName\":");
                put_str(out, f->span_name);
            }
            tbt_buf_puts(out, ",\"message\":");
            put_str(out, f->message);
            tbt_buf_putc(out, '}');
        }
        tbt_buf_puts(out, "]}");
    }
    tbt_buf_puts(out, "]}");
}

typedef struct dctx {
    tbt_arena *a;
    tbt_error *err;
    char path[64];
} dctx;

static int dfail(dctx *d, const char *field, const char *fmt, ...) TBT_PRINTF(3, 4);

static int dfail(dctx *d, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = tbt_xvasprintf(fmt, ap);
    va_end(ap);
    tbt_error_set(d->err, -EINVAL, "lint result: %s%s%s: %s", d->path, d->path[0] && field[0] ? "." : "", field, msg);
    free(msg);
    return -EINVAL;
}

static int d_str(dctx *d, const cJSON *o, const char *field, bool optional, const char **out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, field);
    if (!j && optional) {
        *out = NULL;
        return 0;
    }
    if (!cJSON_IsString(j))
        return dfail(d, field, "expected a string");
    size_t n = strlen(j->valuestring);
    if (n > MAX_STR)
        return dfail(d, field, "longer than %u bytes", MAX_STR);
    *out = tbt_arena_strndup(d->a, j->valuestring, n);
    return 0;
}

static int d_bool(dctx *d, const cJSON *o, const char *field, bool *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, field);
    if (!cJSON_IsBool(j))
        return dfail(d, field, "expected true or false");
    *out = cJSON_IsTrue(j);
    return 0;
}

static int d_int(dctx *d, const cJSON *o, const char *field, double max, double *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, field);
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || j->valuedouble != floor(j->valuedouble) ||
        j->valuedouble < 0 || j->valuedouble > max)
        return dfail(d, field, "expected a whole number from 0 to %.0f", max);
    *out = j->valuedouble;
    return 0;
}

static int d_rule(dctx *d, const cJSON *o, tbt_lint_rule_result *rr)
{
    if (!cJSON_IsObject(o))
        return dfail(d, "", "expected an object");
    int rc;
    double v;
    const char *level;
    if ((rc = d_str(d, o, "plugin", false, &rr->plugin)) || (rc = d_str(d, o, "id", false, &rr->id)) ||
        (rc = d_str(d, o, "description", true, &rr->description)) || (rc = d_str(d, o, "level", false, &level)))
        return rc;
    if (tbt_lint_level_parse(level, &rr->level) != 0)
        return dfail(d, "level", "expected error, warning or disabled");
    if ((rc = d_int(d, o, "weight", 100, &v)))
        return rc;
    rr->weight = (unsigned)v;
    if ((rc = d_bool(d, o, "passed", &rr->passed)) || (rc = d_int(d, o, "findingsTotal", 1e15, &v)))
        return rc;
    rr->n_findings_total = (size_t)v;
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(o, "findings");
    if (!cJSON_IsArray(fs))
        return dfail(d, "findings", "expected an array");
    int n = cJSON_GetArraySize(fs);
    if (n > TBT_LINT_MAX_FINDINGS)
        return dfail(d, "findings", "more than %d findings", TBT_LINT_MAX_FINDINGS);
    if ((size_t)n > rr->n_findings_total)
        return dfail(d, "findingsTotal", "smaller than the number of findings");
    rr->findings = n ? tbt_arena_calloc(d->a, (size_t)n, sizeof(*rr->findings)) : NULL;
    size_t base = strlen(d->path);
    int i = 0;
    for (const cJSON *f = fs->child; f; f = f->next, i++) {
        snprintf(d->path + base, sizeof(d->path) - base, ".findings[%d]", i);
        if (!cJSON_IsObject(f))
            return dfail(d, "", "expected an object");
        tbt_lint_finding *x = &rr->findings[i];
        if ((rc = d_str(d, f, "spanId", false, &x->span_id)) || (rc = d_str(d, f, "spanName", true, &x->span_name)) ||
            (rc = d_str(d, f, "message", false, &x->message)))
            return rc;
    }
    d->path[base] = '\0';
    rr->n_findings = (size_t)n;
    return 0;
}

int tbt_lint_result_from_cjson(const cJSON *node, tbt_arena *arena, const tbt_lint_result **out, tbt_error *err)
{
    dctx d = {arena, err, ""};
    if (!cJSON_IsObject(node))
        return dfail(&d, "", "expected an object");
    tbt_lint_result *r = tbt_arena_calloc(arena, 1, sizeof(*r));
    double v;
    int rc;
    if ((rc = d_int(&d, node, "score", 100, &v)))
        return rc;
    r->score = (int)v;
    if ((rc = d_int(&d, node, "minimumScore", 100, &v)))
        return rc;
    r->minimum_score = (int)v;
    if ((rc = d_bool(&d, node, "scorePassed", &r->score_passed)) || (rc = d_bool(&d, node, "rulesPassed", &r->rules_passed)))
        return rc;
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(node, "rules");
    if (!cJSON_IsArray(rules))
        return dfail(&d, "rules", "expected an array");
    int n = cJSON_GetArraySize(rules);
    if (n > MAX_RULES)
        return dfail(&d, "rules", "more than %d rules", MAX_RULES);
    r->rules = n ? tbt_arena_calloc(arena, (size_t)n, sizeof(*r->rules)) : NULL;
    int i = 0;
    for (const cJSON *x = rules->child; x; x = x->next, i++) {
        snprintf(d.path, sizeof(d.path), "rules[%d]", i);
        if ((rc = d_rule(&d, x, &r->rules[i])))
            return rc;
    }
    r->n_rules = (size_t)n;
    *out = r;
    return 0;
}
