/*
 * tbt_campaign_def.h - the Campaign resource (a tbt extension): which test
 * or suite to run how many times, where, how fast, and the thresholds that
 * decide the verdict. docs/distributed.md describes it.
 */
#ifndef TBT_CAMPAIGN_DEF_H
#define TBT_CAMPAIGN_DEF_H

#include "tbt_coord.h"
#include "tbt_model.h"

typedef struct tbt_campaign_def {
    const char *name;
    tbt_unit unit; /* the test or suite (steps owned here) */
    char **envs;
    size_t n_envs;
    uint64_t runs;
    unsigned concurrency;
    double rate;
    uint64_t duration_ns;
    tbt_threshold *th;
    size_t n_th;
} tbt_campaign_def;

/* Read ref (a Campaign loaded into defs): errors at file:line:col. The
 * test may be a file relative to the campaign's (loaded into defs here) or
 * the id of a loaded Test or TestSuite. */
int tbt_campaign_def_load(tbt_defs *defs, const tbt_resource_ref *ref, tbt_campaign_def *out, tbt_error *err);
void tbt_campaign_def_clear(tbt_campaign_def *c);

#endif
