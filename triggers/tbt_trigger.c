/* tbt_trigger.c - the trigger table and the helpers the kinds share. */
#include "tbt_trigger.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

extern const tbt_trigger_kind tbt_trigger_http;
extern const tbt_trigger_kind tbt_trigger_traceid;
extern const tbt_trigger_kind tbt_trigger_grpc;
extern const tbt_trigger_kind tbt_trigger_kafka;
extern const tbt_trigger_kind tbt_trigger_amqp;

static const tbt_trigger_kind *const kinds[] = {
    &tbt_trigger_http,
    &tbt_trigger_traceid,
    &tbt_trigger_grpc,
    &tbt_trigger_kafka,
    &tbt_trigger_amqp,
};

const tbt_trigger_kind *tbt_trigger_find(const char *name)
{
    for (size_t i = 0; i < TBT_ARRAY_LEN(kinds); i++)
        if (strcmp(kinds[i]->name, name) == 0)
            return kinds[i];
    return NULL;
}

const char *tbt_trigger_names(void)
{
    return "http, grpc, traceid, kafka, amqp";
}

void tbt_trigger_response_clear(tbt_trigger_response *r)
{
    if (!r)
        return;
    free(r->status);
    free(r->body);
    free(r->headers_json);
    for (size_t i = 0; i < r->n_extra; i++) {
        free(r->extra_keys[i]);
        free(r->extra_values[i]);
    }
    free(r->extra_keys);
    free(r->extra_values);
    memset(r, 0, sizeof(*r));
}

void tbt_trigger_response_extra(tbt_trigger_response *r, const char *key, const char *value)
{
    r->extra_keys = tbt_xrealloc(r->extra_keys, (r->n_extra + 1) * sizeof(char *));
    r->extra_values = tbt_xrealloc(r->extra_values, (r->n_extra + 1) * sizeof(char *));
    r->extra_keys[r->n_extra] = tbt_xstrdup(key);
    r->extra_values[r->n_extra] = tbt_xstrdup(value);
    r->n_extra++;
}

static int fail_at(tbt_error *err, const tbt_ynode *n, const char *fmt, const char *a, const char *b)
{
    tbt_error_set(err, -EINVAL, fmt, a, b);
    if (n) {
        free(err->file);
        err->file = n->loc.file ? tbt_xstrdup(n->loc.file) : NULL;
        err->line = n->loc.line;
        err->col = n->loc.col;
    }
    return -EINVAL;
}

int tbt_trigger_parse(const tbt_trigger_def *def, tbt_trigger *out, tbt_error *err)
{
    memset(out, 0, sizeof(*out));
    const char *type = def->type.s ? def->type.s : "";
    const tbt_trigger_kind *k = tbt_trigger_find(type);
    if (!k) {
        tbt_error_set(err, -EINVAL, "trigger type '%s' is not supported by this version (supported: %s)", type,
                      tbt_trigger_names());
        free(err->file);
        err->file = def->type.loc.file ? tbt_xstrdup(def->type.loc.file) : NULL;
        err->line = def->type.loc.line;
        err->col = def->type.loc.col;
        return -EINVAL;
    }
    out->kind = k;
    return k->parse(def->block, &out->cfg, err);
}

void tbt_trigger_destroy(tbt_trigger *t)
{
    if (t && t->kind && t->cfg)
        t->kind->destroy(t->cfg);
    if (t)
        memset(t, 0, sizeof(*t));
}

int tbt_trigger_check_keys(const tbt_ynode *map, const char *const *allowed, const char *where, tbt_error *err)
{
    if (!map || map->type != TBT_Y_MAP)
        return fail_at(err, map, "%s must be a map%s", where, "");
    for (size_t i = 0; i < map->n; i++) {
        const char *key = map->pairs[i].key->str;
        bool ok = false;
        for (size_t k = 0; allowed[k] && !ok; k++)
            ok = strcmp(allowed[k], key) == 0;
        if (ok)
            continue;
        tbt_buf list = TBT_BUF_INIT;
        for (size_t k = 0; allowed[k]; k++)
            tbt_buf_printf(&list, "%s%s", k ? ", " : "", allowed[k]);
        char *msg = tbt_xasprintf("unknown key \"%s\" in %s; expected one of: %s", key, where, tbt_buf_cstr(&list));
        tbt_buf_free(&list);
        int rc = fail_at(err, map->pairs[i].key, "%s%s", msg, "");
        free(msg);
        return rc;
    }
    return 0;
}

int tbt_trigger_field(const tbt_ynode *map, const char *key, bool required, const char *where, tbt_field *out,
                      tbt_error *err)
{
    memset(out, 0, sizeof(*out));
    const tbt_ynode *n = tbt_ymap_get(map, key);
    if (!n || tbt_ynode_is_null(n)) {
        if (required)
            return fail_at(err, map, "%s needs \"%s\"", where, key);
        return 0;
    }
    if (n->type != TBT_Y_SCALAR) {
        char *w = tbt_xasprintf("%s.%s", where, key);
        int rc = fail_at(err, n, "%s must be a string, found a %s", w, tbt_ytype_name(n->type));
        free(w);
        return rc;
    }
    out->s = n->str;
    out->loc = n->loc;
    return 0;
}

int tbt_trigger_bool(const tbt_ynode *map, const char *key, const char *where, bool *out, tbt_error *err)
{
    tbt_field f;
    int rc = tbt_trigger_field(map, key, false, where, &f, err);
    if (rc || !f.s)
        return rc;
    if (strcasecmp(f.s, "true") == 0)
        *out = true;
    else if (strcasecmp(f.s, "false") == 0)
        *out = false;
    else {
        tbt_error_set(err, -EINVAL, "%s.%s must be true or false, found \"%s\"", where, key, f.s);
        tbt_error_at(err, &f.loc, f.s, 0);
        return -EINVAL;
    }
    return 0;
}

int tbt_trigger_kv_list(const tbt_ynode *map, const char *key, const char *where, tbt_field_kv **out, size_t *n,
                        tbt_error *err)
{
    *out = NULL;
    *n = 0;
    const tbt_ynode *l = tbt_ymap_get(map, key);
    if (!l || tbt_ynode_is_null(l))
        return 0;
    char *w = tbt_xasprintf("%s.%s", where, key);
    int rc = 0;
    if (l->type != TBT_Y_SEQ) {
        rc = fail_at(err, l, "%s must be a list of {key, value}, found a %s", w, tbt_ytype_name(l->type));
        goto out;
    }
    *out = tbt_xcalloc(l->n ? l->n : 1, sizeof(tbt_field_kv));
    static const char *const kv_keys[] = {"key", "value", NULL};
    for (size_t i = 0; i < l->n && rc == 0; i++) {
        const tbt_ynode *item = l->items[i];
        if ((rc = tbt_trigger_check_keys(item, kv_keys, w, err)) != 0)
            break;
        if ((rc = tbt_trigger_field(item, "key", true, w, &(*out)[i].key, err)) != 0)
            break;
        if ((rc = tbt_trigger_field(item, "value", false, w, &(*out)[i].value, err)) != 0)
            break;
        (*n)++;
    }
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
out:
    free(w);
    return rc;
}

int tbt_trigger_resolve(const tbt_field *f, const tbt_trigger_ctx *ctx, char **out, tbt_error *err)
{
    if (!f->s) {
        *out = NULL;
        return 0;
    }
    tbt_eval_ctx ec = {.vars = ctx->vars};
    return tbt_interpolate(f->s, &f->loc, &ec, out, err);
}

int tbt_trigger_auth_parse(const tbt_ynode *auth, const char *where, bool with_in, tbt_trigger_auth *a,
                           tbt_error *err)
{
    static const char *const keys[] = {"type", "apiKey", "basic", "bearer", NULL};
    memset(a, 0, sizeof(*a));
    int rc;
    if ((rc = tbt_trigger_check_keys(auth, keys, where, err)) || (rc = tbt_trigger_field(auth, "type", true, where, &a->type, err)))
        return rc;
    const char *t = a->type.s;
    char *w = NULL;
    const tbt_ynode *n = NULL;
    if (strcmp(t, "apiKey") == 0 || strcmp(t, "basic") == 0 || strcmp(t, "bearer") == 0) {
        n = tbt_ymap_get(auth, t);
        if (!n || tbt_ynode_is_null(n)) {
            tbt_error_set(err, -EINVAL, "%s of type %s needs a \"%s\" block", where, t, t);
            tbt_error_at(err, &a->type.loc, t, 0);
            return -EINVAL;
        }
        w = tbt_xasprintf("%s.%s", where, t);
    }
    if (strcmp(t, "apiKey") == 0) {
        static const char *const with[] = {"key", "value", "in", NULL}, *const without[] = {"key", "value", NULL};
        if (!(rc = tbt_trigger_check_keys(n, with_in ? with : without, w, err)) &&
            !(rc = tbt_trigger_field(n, "key", true, w, &a->apikey_key, err)) &&
            !(rc = tbt_trigger_field(n, "value", true, w, &a->apikey_value, err)) && with_in &&
            !(rc = tbt_trigger_field(n, "in", false, w, &a->apikey_in, err)) && a->apikey_in.s &&
            strcmp(a->apikey_in.s, "header") != 0 && strcmp(a->apikey_in.s, "query") != 0) {
            tbt_error_set(err, -EINVAL, "%s.in must be header or query, found \"%s\"", w, a->apikey_in.s);
            tbt_error_at(err, &a->apikey_in.loc, a->apikey_in.s, 0);
            rc = -EINVAL;
        }
    } else if (strcmp(t, "basic") == 0) {
        static const char *const bk[] = {"username", "user", "password", NULL};
        if (!(rc = tbt_trigger_check_keys(n, bk, w, err)) &&
            !(rc = tbt_trigger_field(n, "username", false, w, &a->basic_user, err)) &&
            !(rc = tbt_trigger_field(n, "password", false, w, &a->basic_pass, err)) && !a->basic_user.s)
            rc = tbt_trigger_field(n, "user", true, w, &a->basic_user, err);
    } else if (strcmp(t, "bearer") == 0) {
        static const char *const bk[] = {"token", NULL};
        if (!(rc = tbt_trigger_check_keys(n, bk, w, err)))
            rc = tbt_trigger_field(n, "token", true, w, &a->bearer_token, err);
    } else {
        tbt_error_set(err, -EINVAL, "%s.type must be apiKey, basic or bearer, found \"%s\"", where, t);
        tbt_error_at(err, &a->type.loc, t, 0);
        rc = -EINVAL;
    }
    free(w);
    return rc;
}
