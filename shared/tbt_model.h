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
    tbt_str id, name;          /* absent (s == NULL) allowed */
    bool is_default;
    tbt_str strategy;          /* "periodic" */
    int64_t retry_delay_ns;    /* default 5s */
    int64_t timeout_ns;        /* default 1m */
    int selector_match_retries; /* default 3 */
    bool is_inline;            /* a Test's own pollingProfile map */
    const char *file;
    tbt_loc loc;
} tbt_polling_def;

typedef struct tbt_trigger_def {
    tbt_str type;              /* http, grpc, kafka, amqp, traceid */
    const tbt_ynode *node;     /* the whole `trigger:` map, for the trigger table */
    const tbt_ynode *block;    /* its block named after the type (httpRequest for
                                * http, else the type's name); always a map.
                                * Not validated: the trigger table does that. */
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
    tbt_str polling_ref;            /* s == NULL when absent or inline */
    const tbt_polling_def *polling; /* inline, or resolved by tbt_defs_resolve */
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

/* "Test", "TestSuite", "VariableSet", "PollingProfile", "Other". */
const char *tbt_resource_kind_name(tbt_resource_kind k);

typedef struct tbt_resource_ref {
    tbt_resource_kind kind;
    const char *type_name; /* as written in the file */
    void *def;             /* tbt_test_def*, tbt_suite_def*, tbt_varset_def*,
                            * tbt_polling_def*, or for TBT_RES_OTHER the
                            * spec map (const tbt_ynode*), unvalidated */
    const char *file;
    tbt_loc loc;
} tbt_resource_ref;

typedef struct tbt_defs tbt_defs;

tbt_defs *tbt_defs_new(void);
void tbt_defs_free(tbt_defs *d);

/* Allow (default) or forbid reading files: with access off,
 * tbt_defs_load_file fails with -EPERM and suite steps or polling
 * references that name files are errors. For fuzzing and for definitions
 * that came from an untrusted peer. */
void tbt_defs_set_file_access(tbt_defs *d, bool allowed);

/* Load every document of a YAML file into d (in file order). Unknown keys,
 * missing required fields, wrong types and bad durations are errors at
 * file:line:col. A file that does not exist gives -ENOENT with
 * "PATH: No such file or directory" (the CLI maps that to exit code 3).
 * Loading the same file (by realpath) twice is a no-op. A file with no
 * resource is an error. Loading is all or nothing: on error nothing of the
 * file is added. Ids must be unique per kind across everything loaded, and
 * at most one PollingProfile may be the default. */
int tbt_defs_load_file(tbt_defs *d, const char *path, tbt_error *err);
/* Same, from memory (file names the source). */
int tbt_defs_load_text(tbt_defs *d, const char *file, const char *text, size_t len, tbt_error *err);

/* Resolve suite steps and polling profile references; safe to call again
 * after loading more. A step that ends in .yaml or .yml or contains '/' is
 * a path relative to the suite file's directory (loaded here; it must hold
 * exactly one Test), otherwise a loaded Test's id. A pollingProfile
 * reference is a loaded PollingProfile's id, else (when path-like) a file
 * relative to the test's holding exactly one PollingProfile. Errors are at
 * the step's or reference's location; a missing step file gives -ENOENT
 * ("PATH: No such file or directory" at the step), and so does an id that
 * no loaded resource has. Files loaded here
 * become resources of d like any other. */
int tbt_defs_resolve(tbt_defs *d, tbt_error *err);

/* All resources in load order. */
size_t tbt_defs_count(const tbt_defs *d);
const tbt_resource_ref *tbt_defs_at(const tbt_defs *d, size_t i);
/* Find by id (first loaded wins; ids are unique per kind anyway). */
const tbt_test_def *tbt_defs_find_test(const tbt_defs *d, const char *id);
const tbt_suite_def *tbt_defs_find_suite(const tbt_defs *d, const char *id);
const tbt_varset_def *tbt_defs_find_varset(const tbt_defs *d, const char *id);
const tbt_polling_def *tbt_defs_find_polling(const tbt_defs *d, const char *id);
/* The profile with default: true, or NULL. */
const tbt_polling_def *tbt_defs_default_polling(const tbt_defs *d);
tbt_arena *tbt_defs_arena(tbt_defs *d);

/* When err points into a file loaded into d (err->file and err->line set),
 * replace err's source line with that line of the file and put the caret
 * at err->col. Use after tbt_error_at(err, &str.loc, str.s, offset), which
 * only knows the string, so that a selector or expression error shows the
 * real line of the definition. Leaves err alone otherwise. */
void tbt_defs_error_source(const tbt_defs *d, tbt_error *err);

#endif
