/* trigger_fixture.c - see trigger_fixture.h. */
#include "trigger_fixture.h"

#include <stdlib.h>
#include <string.h>

int fire_in(const char *trigger_yaml, tbt_vars *vars, tbt_trigger_response *resp, tbt_error *err, const char *dir)
{
    char *yaml = tbt_xasprintf("type: Test\nspec:\n  id: t\n  name: t\n  trigger:\n%s", trigger_yaml);
    tbt_defs *d = tbt_defs_new();
    memset(resp, 0, sizeof(*resp));
    int rc = tbt_defs_load_text(d, "t.yaml", yaml, strlen(yaml), err);
    free(yaml);
    if (rc) {
        tbt_defs_free(d);
        return rc;
    }
    const tbt_test_def *t = tbt_defs_find_test(d, "t");
    tbt_trigger trig;
    rc = tbt_trigger_parse(&t->trigger, &trig, err);
    if (rc == 0) {
        tbt_trigger_ctx ctx = {vars, TRACEPARENT, TRACESTATE, dir, 0};
        rc = trig.kind->fire(trig.cfg, &ctx, resp, err);
        tbt_trigger_destroy(&trig);
    }
    tbt_defs_free(d);
    return rc;
}

const char *extra(const tbt_trigger_response *r, const char *key)
{
    for (size_t i = 0; i < r->n_extra; i++)
        if (strcmp(r->extra_keys[i], key) == 0)
            return r->extra_values[i];
    return NULL;
}
