/*
 * tbt_vars.h - the run's variables: variable sets, --vars files, outputs of
 * earlier steps and of the current test. An ordered map from name to text;
 * a later set of the same name replaces the value in place.
 *
 * `env:NAME` and `var:NAME` both read it (as in Tracetest). Owns copies of
 * all names and values.
 */
#ifndef TBT_VARS_H
#define TBT_VARS_H

#include "tbt_common.h"

typedef struct tbt_vars tbt_vars;

tbt_vars *tbt_vars_new(void);
void tbt_vars_free(tbt_vars *v);
/* Copy: the new map owns its own strings. */
tbt_vars *tbt_vars_clone(const tbt_vars *v);
void tbt_vars_set(tbt_vars *v, const char *name, const char *value);
/* NULL when not defined. The pointer is valid until the next set of name. */
const char *tbt_vars_get(const tbt_vars *v, const char *name);
size_t tbt_vars_count(const tbt_vars *v);
const char *tbt_vars_name_at(const tbt_vars *v, size_t i);
const char *tbt_vars_value_at(const tbt_vars *v, size_t i);

#endif
