/* tbt_trigger_traceid.c - no call: the run evaluates an existing trace,
 * named by its id (an expression, e.g. ${var:TRACE_ID}). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tbt_trigger.h"

typedef struct traceid_cfg {
    tbt_field id;
} traceid_cfg;

static int traceid_parse(const tbt_ynode *block, void **out, tbt_error *err)
{
    static const char *const keys[] = {"id", NULL};
    traceid_cfg *c = tbt_xcalloc(1, sizeof(*c));
    int rc;
    if ((rc = tbt_trigger_check_keys(block, keys, "traceid", err)) ||
        (rc = tbt_trigger_field(block, "id", true, "traceid", &c->id, err))) {
        free(c);
        *out = NULL;
        return rc;
    }
    *out = c;
    return 0;
}

static int traceid_fire(const void *p, const tbt_trigger_ctx *ctx, tbt_trigger_response *resp, tbt_error *err)
{
    const traceid_cfg *c = p;
    char *id = NULL;
    int rc = tbt_trigger_resolve(&c->id, ctx, &id, err);
    if (rc)
        return rc;
    resp->start_unix_ns = resp->end_unix_ns = tbt_now_unix_ns();
    if (tbt_hex_decode(id, strlen(id), resp->trace_id, 16) != 0 || tbt_is_all_zero(resp->trace_id, 16)) {
        rc = tbt_error_set(err, -EINVAL, "traceid trigger: \"%s\" is not a trace id (32 hex digits, not all zero)", id);
        tbt_error_at(err, &c->id.loc, c->id.s, 0);
    } else {
        resp->has_trace_id = true;
    }
    free(id);
    return rc;
}

static void traceid_destroy(void *p)
{
    free(p);
}

const tbt_trigger_kind tbt_trigger_traceid = {"traceid", "traceid", traceid_parse, traceid_fire, traceid_destroy};
