/*
 * tbt_analyzer_private.h - what tbt_analyzer.c (rules, YAML) and
 * tbt_analyzer_json.c (JSON codecs) share: the plugin and rule tables, the
 * config's layout, and one validator for the Analyzer spec that walks
 * either tree (YAML nodes or cJSON) through a small adapter, so that both
 * front ends accept the same documents and word their errors the same way.
 */
#ifndef TBT_ANALYZER_PRIVATE_H
#define TBT_ANALYZER_PRIVATE_H

#include "tbt_analyzer.h"

enum { TBT_LP_STANDARDS, TBT_LP_COMMON, TBT_LP_SECURITY, TBT_LP_N };
enum {
    TBT_LR_SPAN_NAMING,
    TBT_LR_REQUIRED_ATTRIBUTES,
    TBT_LR_ATTRIBUTE_NAMING,
    TBT_LR_NO_EMPTY_ATTRIBUTES,
    TBT_LR_PREFER_DNS,
    TBT_LR_SECURE_HTTPS,
    TBT_LR_NO_API_KEY_LEAK,
    TBT_LR_N,
};

typedef struct tbt_lint_plugin_def {
    const char *id;
    const char *name;
} tbt_lint_plugin_def;

typedef struct tbt_lint_rule_def {
    int plugin;
    const char *id;
    const char *description;
    unsigned weight; /* Tracetest's default */
} tbt_lint_rule_def;

extern const tbt_lint_plugin_def tbt_lint_plugins[TBT_LP_N];
extern const tbt_lint_rule_def tbt_lint_rules[TBT_LR_N];

struct tbt_analyzer_config {
    bool enabled;
    int minimum_score;
    bool plugin_on[TBT_LP_N];
    tbt_lint_level level[TBT_LR_N];
    unsigned weight[TBT_LR_N];
};

/* -1 when unknown. */
int tbt_lint_plugin_index(const char *id);
int tbt_lint_rule_index(const char *id);
/* 0 and *out, or -1. */
int tbt_lint_level_parse(const char *s, tbt_lint_level *out);

/* ---- one validator, two trees ------------------------------------------ */
typedef enum tbt_tv_kind {
    TBT_TV_NULL,
    TBT_TV_BOOL,
    TBT_TV_INT,  /* a whole number (i) */
    TBT_TV_TEXT, /* any other scalar: strings, fractions, quoted numbers */
    TBT_TV_SEQ,
    TBT_TV_MAP,
} tbt_tv_kind;

typedef struct tbt_tv {
    tbt_tv_kind kind;
    bool b;
    long long i;
    const char *text; /* the scalar as written (NULL for seq and map) */
    bool quoted;      /* the scalar was a string (quoted in YAML, a JSON string) */
    size_t n;         /* items of a seq, pairs of a map */
} tbt_tv;

typedef struct tbt_tree_ops {
    tbt_tv (*view)(const void *node);
    /* i-th pair of a map: value node, key text in *key */
    const void *(*map_at)(const void *map, size_t i, const char **key);
    const void *(*seq_at)(const void *seq, size_t i);
    /* put node's position into err (may do nothing) */
    void (*locate)(void *ud, const void *node, tbt_error *err);
    /* put the position of the i-th key of map into err (may do nothing) */
    void (*locate_key)(void *ud, const void *map, size_t i, tbt_error *err);
    void *ud;
    const char *prefix; /* "Analyzer" or "analyzer config" */
} tbt_tree_ops;

/* Apply the Analyzer spec at root onto cfg. -EINVAL with err set (message
 * "PREFIX PATH: ...", position from ops->locate). */
int tbt_analyzer_parse_tree(const tbt_tree_ops *ops, const void *root, tbt_analyzer_config *cfg, tbt_error *err);

#endif
