/* tbt_vars.c - ordered variable map (small: linear search is fine). */
#include "tbt_vars.h"

#include <stdlib.h>
#include <string.h>

typedef struct tbt_var {
    char *name;
    char *value;
} tbt_var;

struct tbt_vars {
    tbt_var *items;
    size_t n, cap;
};

tbt_vars *tbt_vars_new(void)
{
    return tbt_xcalloc(1, sizeof(tbt_vars));
}

void tbt_vars_free(tbt_vars *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        free(v->items[i].name);
        free(v->items[i].value);
    }
    free(v->items);
    free(v);
}

tbt_vars *tbt_vars_clone(const tbt_vars *v)
{
    tbt_vars *c = tbt_vars_new();
    for (size_t i = 0; v && i < v->n; i++)
        tbt_vars_set(c, v->items[i].name, v->items[i].value);
    return c;
}

void tbt_vars_set(tbt_vars *v, const char *name, const char *value)
{
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp(v->items[i].name, name) == 0) {
            free(v->items[i].value);
            v->items[i].value = tbt_xstrdup(value);
            return;
        }
    }
    TBT_GROW(v->items, v->cap, v->n + 1);
    v->items[v->n].name = tbt_xstrdup(name);
    v->items[v->n].value = tbt_xstrdup(value);
    v->n++;
}

const char *tbt_vars_get(const tbt_vars *v, const char *name)
{
    for (size_t i = 0; v && i < v->n; i++)
        if (strcmp(v->items[i].name, name) == 0)
            return v->items[i].value;
    return NULL;
}

size_t tbt_vars_count(const tbt_vars *v)
{
    return v ? v->n : 0;
}

const char *tbt_vars_name_at(const tbt_vars *v, size_t i)
{
    return i < v->n ? v->items[i].name : NULL;
}

const char *tbt_vars_value_at(const tbt_vars *v, size_t i)
{
    return i < v->n ? v->items[i].value : NULL;
}
