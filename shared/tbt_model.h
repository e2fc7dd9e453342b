/*
 * tbt_model.h - Tracetest-compatible test definitions.
 *
 * Resources read (type and alias): Test, TestSuite (Transaction),
 * VariableSet (Environment), PollingProfile. Also accepted and kept raw for
 * later issues: DataStore, TestRunner, Analyzer, Campaign.
 *
 * Every string carries its source location (tbt_str.loc) so that later
 * stages (selector and expression parsing, trigger resolution) report
 * errors at file:line:col.
 *
 * Ownership: a tbt_defs owns every resource loaded into it, all allocated
 * in its arena, and the YAML trees they came from (trigger blocks are kept
 * as raw YAML nodes for the trigger table to parse).
 */
#ifndef TBT_MODEL_H
#define TBT_MODEL_H

#include "tbt_yaml.h"

typedef struct tbt_str {
    const char *s; /* NULL when absent */
    size_t len;
    tbt_loc loc;
} tbt_str;

typedef struct tbt_kvstr {
    tbt_str key;
    tbt_str value;
} tbt_kvstr;

typedef struct tbt_spec_def {
    tbt_str name;      /* may be absent */
    tbt_str selector;  /* "" selects every span */
    tbt_str *assertions;
    size_t n_assertions;
    tbt_loc loc;
} tbt_spec_def;

typedef struct tbt_output_def {
    tbt_str name;
    tbt_str selector;
    tbt_str value;
    tbt_loc loc;
} tbt_output_def;

typedef struct tbt_polling_def {
    tbt_str id, name;
    bool is_default;
    tbt_str strategy;          /* "periodic" */
    int64_t retry_delay_ns;    /* default 5s */
    int64_t timeout_ns;        /* default 1m */
    int selector_match_retries; /* default 3 */
    tbt_loc loc;
} tbt_polling_def;

typedef struct tbt_trigger_def {
    tbt_str type;              /* http, grpc, kafka, amqp, traceid */
    const tbt_ynode *node;     /* the whole `trigger:` map, for the trigger table */
    tbt_loc loc;
} tbt_trigger_def;

typedef struct tbt_test_def {
    tbt_str id, name, description;
    tbt_trigger_def trigger;
    tbt_spec_def *specs;
    size_t n_specs;
    tbt_output_def *outputs;
    size_t n_outputs;
    bool skip_trace_collection;
    /* pollingProfile: either a reference (id or relative file path) or an
     * inline profile (tbt extension); polling is resolved by the loader
     * when it can be, else NULL. */
    tbt_str polling_ref;
    const tbt_polling_def *polling;
    const tbt_ynode *completion; /* tbt extension `completion:` block, raw */
    const char *file;            /* definition file */
    tbt_loc loc;
} tbt_test_def;

typedef struct tbt_suite_step {
    tbt_str ref;              /* as written: relative path or test id */
    const tbt_test_def *test; /* resolved by tbt_defs_resolve */
} tbt_suite_step;

typedef struct tbt_suite_def {
    tbt_str id, name, description;
    tbt_suite_step *steps;
    size_t n_steps;
    const char *file;
    tbt_loc loc;
} tbt_suite_def;

typedef struct tbt_varset_def {
    tbt_str id, name, description;
    tbt_kvstr *values;
    size_t n_values;
    const char *file;
    tbt_loc loc;
} tbt_varset_def;

typedef enum tbt_resource_kind {
    TBT_RES_TEST,
    TBT_RES_SUITE,
    TBT_RES_VARSET,
    TBT_RES_POLLING,
    TBT_RES_OTHER, /* DataStore, TestRunner, Analyzer, Campaign: kept raw */
} tbt_resource_kind;

typedef struct tbt_resource_ref {
    tbt_resource_kind kind;
    const char *type_name; /* as written in the file */
    void *def;             /* tbt_test_def*, ... or the raw spec node */
    const char *file;
    tbt_loc loc;
} tbt_resource_ref;

typedef struct tbt_defs tbt_defs;

tbt_defs *tbt_defs_new(void);
void tbt_defs_free(tbt_defs *d);

/* Load every document of a YAML file into d (in file order). Unknown keys,
 * missing required fields, wrong types and bad durations are errors at
 * file:line:col. A file that does not exist gives -ENOENT (the CLI maps
 * that to exit code 3). Loading the same file twice is a no-op. */
int tbt_defs_load_file(tbt_defs *d, const char *path, tbt_error *err);
/* Same, from memory (file names the source). */
int tbt_defs_load_text(tbt_defs *d, const char *file, const char *text, size_t len, tbt_error *err);

/* Resolve suite steps (relative paths are loaded relative to the suite's
 * file; otherwise matched against loaded test ids) and polling profile
 * references. Errors name the step's location. */
int tbt_defs_resolve(tbt_defs *d, tbt_error *err);

/* All resources in load order. */
size_t tbt_defs_count(const tbt_defs *d);
const tbt_resource_ref *tbt_defs_at(const tbt_defs *d, size_t i);
const tbt_test_def *tbt_defs_find_test(const tbt_defs *d, const char *id);
const tbt_polling_def *tbt_defs_find_polling(const tbt_defs *d, const char *id);
/* The profile with default: true, or NULL. */
const tbt_polling_def *tbt_defs_default_polling(const tbt_defs *d);
tbt_arena *tbt_defs_arena(tbt_defs *d);

#endif
