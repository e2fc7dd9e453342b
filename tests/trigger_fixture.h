/* trigger_fixture.h - what every trigger suite does to fire one trigger:
 * wrap a trigger block in a Test, load it, parse the trigger, fire it with
 * a fixed trace context. */
#ifndef TBT_TESTS_TRIGGER_FIXTURE_H
#define TBT_TESTS_TRIGGER_FIXTURE_H

#include "tbt_trigger.h"

/* The trace context every fixture firing carries. */
#define TRACEPARENT "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
#define TRACESTATE "tracetest=true"

/* Parse a Test whose trigger block is trigger_yaml (indented four spaces,
 * as under `spec.trigger`) and fire it; relative files resolve against dir
 * (NULL: the working directory). *resp is zeroed first, so it may always be
 * cleared with tbt_trigger_response_clear. */
int fire_in(const char *trigger_yaml, tbt_vars *vars, tbt_trigger_response *resp, tbt_error *err, const char *dir);

/* fire_in with files resolved against the working directory. */
static inline int fire(const char *trigger_yaml, tbt_vars *vars, tbt_trigger_response *resp, tbt_error *err)
{
    return fire_in(trigger_yaml, vars, resp, err, NULL);
}

/* The value of a trigger-specific response field, or NULL. */
const char *extra(const tbt_trigger_response *r, const char *key);

#endif
