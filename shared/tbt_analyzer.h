/*
 * tbt_analyzer.h - the instrumentation analyzer (Tracetest's "Analyzer"
 * resource and its linter) and the required gates of the TestRunner
 * resource. docs/analyzer.md describes every rule, the score and the gates.
 *
 * Three plugins, seven rules, run in one pass over the spans of a trace:
 *   standards: span-naming, required-attributes, attribute-naming,
 *              no-empty-attributes
 *   common:    prefer-dns
 *   security:  secure-https-protocol, no-api-key-leak
 *
 * A tbt_analyzer_config says which plugins and rules run, each rule's
 * weight (0..100) and error level (error, warning, disabled), and the
 * minimum score. Its defaults are Tracetest's defaults when no Analyzer
 * resource exists: the analyzer enabled, minimumScore 0, all three plugins
 * enabled, every rule at level error with weights span-naming 25,
 * required-attributes 25, attribute-naming 25, no-empty-attributes 25,
 * prefer-dns 100, secure-https-protocol 30, no-api-key-leak 70.
 * An Analyzer resource overrides what it names; plugins and rules it does
 * not list keep those defaults.
 *
 * Ownership: a config is a small self-contained heap object (no pointers
 * into the YAML or JSON it came from); free it with
 * tbt_analyzer_config_free. Results live in the caller's arena.
 * Nothing here prints. Configs are read-only during a run, so one config
 * may serve runs on several threads (each with its own trace and arena).
 */
#ifndef TBT_ANALYZER_H
#define TBT_ANALYZER_H

#include "tbt_model.h"
#include "tbt_result.h"
#include "tbt_trace.h"

struct cJSON;

typedef struct tbt_analyzer_config tbt_analyzer_config;

/* ---- required gates (TestRunner resource, --required-gates) ------------ */
typedef enum tbt_gates {
    TBT_GATE_TEST_SPECS = 1u << 0,     /* every spec of the test passed */
    TBT_GATE_ANALYZER_SCORE = 1u << 1, /* the score reached minimumScore */
    TBT_GATE_ANALYZER_RULES = 1u << 2, /* no rule at level error failed */
} tbt_gates;

/* Tracetest's default when no TestRunner resource exists: [test-specs]. */
#define TBT_GATES_DEFAULT ((unsigned)TBT_GATE_TEST_SPECS)
#define TBT_GATES_ALL ((unsigned)(TBT_GATE_TEST_SPECS | TBT_GATE_ANALYZER_SCORE | TBT_GATE_ANALYZER_RULES))

/* Parse a comma-separated list ("test-specs,analyzer-score"; blanks around
 * names allowed; "" is no gate at all) into a bitmask of tbt_gates. A bad
 * name or an empty item gives -EINVAL and "unknown gate 'x' (valid gates:
 * test-specs, analyzer-score, analyzer-rules)". *out is written only on
 * success. */
int tbt_gates_parse(const char *csv, unsigned *out, tbt_error *err);
/* "test-specs,analyzer-score" for a mask, in that fixed order ("" for 0). */
void tbt_gates_format(unsigned gates, tbt_buf *out);
/* Which gates of `required` the lint result fails (analyzer gates only;
 * test-specs is the runner's to judge). 0 when all pass. */
unsigned tbt_gates_lint_failed(unsigned required, const tbt_lint_result *r);

/* Read a TestRunner resource's spec map (id, name, requiredGates). Unknown
 * keys, a requiredGates that is not a list of known names, and duplicate
 * gates are -EINVAL at file:line:col; defs (may be NULL) supplies the
 * source line for the caret. */
int tbt_gates_from_resource(const tbt_ynode *spec, const tbt_defs *defs, unsigned *out, tbt_error *err);

/* ---- configuration ----------------------------------------------------- */
/* A new config holding Tracetest's defaults (never NULL). */
tbt_analyzer_config *tbt_analyzer_config_new(void);
void tbt_analyzer_config_free(tbt_analyzer_config *c);
tbt_analyzer_config *tbt_analyzer_config_copy(const tbt_analyzer_config *c);

/* Read an Analyzer resource's spec map:
 *   enabled: bool, minimumScore: 0..100,
 *   plugins: [{id, enabled, rules: [{id, weight: 0..100,
 *                                    errorLevel: error|warning|disabled}]}]
 * (id, name, description, and a rule's errorDescription and tips are
 * accepted and ignored, as Tracetest exports them). Unknown keys, plugin
 * or rule ids, wrong types, values out of range and a plugin or rule
 * listed twice are -EINVAL at the offending node's file:line:col, with the
 * valid choices in the message. On success *out is a new config (caller
 * frees); on error *out is NULL. defs may be NULL (no source line). */
int tbt_analyzer_config_parse(const tbt_ynode *spec, const tbt_defs *defs, tbt_analyzer_config **out,
                              tbt_error *err);

/* The Analyzer and TestRunner resources among everything loaded into defs
 * (type names "Analyzer" and "TestRunner"); NULL when absent. Two of one
 * kind is -EINVAL at the second, naming both locations. */
int tbt_analyzer_find_resources(const tbt_defs *defs, const tbt_resource_ref **analyzer,
                                const tbt_resource_ref **runner, tbt_error *err);

/* What a run needs from loaded definitions: the analyzer config (defaults
 * without an Analyzer resource) and the required gates (TBT_GATES_DEFAULT
 * without a TestRunner resource). On success *out is a new config the
 * caller frees and *gates is set (gates may be NULL); on error (see
 * tbt_analyzer_find_resources, tbt_analyzer_config_parse,
 * tbt_gates_from_resource) nothing is written. */
int tbt_analyzer_config_from_defs(const tbt_defs *defs, tbt_analyzer_config **out, unsigned *gates,
                                  tbt_error *err);

/* Accessors. The analyzer runs only when enabled (an Analyzer resource
 * with enabled: false switches it off: then a run records no lint result). */
bool tbt_analyzer_config_enabled(const tbt_analyzer_config *c);
int tbt_analyzer_config_minimum_score(const tbt_analyzer_config *c);
/* 0..100 (clamped). */
void tbt_analyzer_config_set_minimum_score(tbt_analyzer_config *c, int score);
void tbt_analyzer_config_set_enabled(tbt_analyzer_config *c, bool enabled);
/* Switch a plugin on or off; -ENOENT for an unknown plugin id. */
int tbt_analyzer_config_set_plugin(tbt_analyzer_config *c, const char *plugin, bool enabled);
/* Set one rule's level and weight (weight > 100 is -ERANGE); -ENOENT for
 * an unknown plugin or rule id (rule ids are unique across plugins; plugin
 * may be NULL). */
int tbt_analyzer_config_set_rule(tbt_analyzer_config *c, const char *plugin, const char *rule, tbt_lint_level level,
                                 unsigned weight);

/* "error", "warning", "disabled". */
const char *tbt_lint_level_name(tbt_lint_level l);

/* ---- running ----------------------------------------------------------- */
/* Lint the finalized trace t with cfg and fill *out; every string and
 * array of the result is allocated in arena (t is only read; lazily cached
 * text may be filled in). One pass over the spans: linear in spans and
 * attributes. The result lists every rule of every plugin in plugin order
 * (standards, common, security) then rule order; rules of a disabled
 * plugin, and disabled rules, have level TBT_LINT_DISABLED, pass and hold
 * no finding. At most TBT_LINT_MAX_FINDINGS findings are kept per rule,
 * one per span (listing all of that span's problems), in depth-first span
 * order; n_findings_total counts them all. Credentials found by
 * no-api-key-leak are never copied: findings show the attribute name and
 * a masked value ("Bearer ****").
 *
 * Score: for each enabled plugin, over its rules at level error or
 * warning, floor(100 * weight of passing rules / total weight); the score
 * is the floor of the mean over plugins whose total weight is above 0,
 * 100 when there is none. score_passed = score >= minimum score;
 * rules_passed = no rule at level error failed.
 *
 * Returns 0; -EINVAL when cfg is disabled (nothing is written). */
int tbt_analyzer_run(const tbt_analyzer_config *cfg, tbt_trace *t, tbt_arena *arena, tbt_lint_result *out);

/* ---- JSON (Kafka job and result messages) ------------------------------- */
/* The config as one compact JSON object, the Analyzer spec's own shape:
 * {"enabled":true,"minimumScore":0,"plugins":[{"id":"standards",
 * "enabled":true,"rules":[{"id":"span-naming","weight":25,
 * "errorLevel":"error"},...]},...]}. Appends to out. */
void tbt_analyzer_config_json(const tbt_analyzer_config *c, tbt_buf *out);

/* Decode that object from hostile bytes (at most TBT_ANALYZER_JSON_MAX):
 * every field type-checked and range-checked, unknown keys refused, plugins
 * and rules absent from the object keep their defaults. Errors are -EINVAL
 * (-E2BIG over the size bound) with a message that names the field, e.g.
 * "analyzer config plugins[0].rules[1].weight: expected a whole number
 * from 0 to 100, found 150". On success *out is a new config (caller
 * frees). */
#define TBT_ANALYZER_JSON_MAX (64u * 1024u)
int tbt_analyzer_config_from_json(const char *json, size_t len, tbt_analyzer_config **out, tbt_error *err);

/* The lint result as one compact JSON object:
 * {"score":72,"minimumScore":80,"scorePassed":false,"rulesPassed":false,
 *  "rules":[{"plugin":"standards","id":"span-naming","description":"...",
 *  "level":"error","weight":25,"passed":false,"findingsTotal":3,
 *  "findings":[{"spanId":"...","spanName":"...","message":"..."}]}]}
 * spanName is omitted when NULL. Always valid JSON (ill-formed UTF-8
 * becomes U+FFFD). Appends to out. */
void tbt_lint_result_json(const tbt_lint_result *r, tbt_buf *out);

/* Decode that object (a cJSON node from a message) into arena. Bounded:
 * at most 64 rules, TBT_LINT_MAX_FINDINGS findings per rule, strings of
 * at most 64 KiB; every field type-checked (the error names it). On
 * success *out points to a result in arena; on error *out is untouched and
 * -EINVAL is returned. */
int tbt_lint_result_from_cjson(const struct cJSON *node, tbt_arena *arena, const tbt_lint_result **out,
                               tbt_error *err);

#endif
