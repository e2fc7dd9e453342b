/*
 * tbt_report_lint.h - the analyzer's verdict for people and for programs
 * (docs/analyzer.md shows both). Like tbt_report.h: the functions append to
 * a caller-owned buffer and never print; span names and messages come from
 * the system under test and are made safe for the terminal (control
 * characters escaped, ill-formed UTF-8 replaced) or for JSON.
 */
#ifndef TBT_REPORT_LINT_H
#define TBT_REPORT_LINT_H

#include "tbt_result.h"

/* The score against the minimum, one line per rule grouped by plugin
 * (✔/✘, level, weight, how many spans break it), the failing rules'
 * findings (span name and id, message; 5 per rule, all kept ones with
 * verbose, which also lists disabled rules and each rule's description),
 * and a summary line. Rules at level warning are marked ⚠, not ✘. */
void tbt_report_lint_pretty(const tbt_lint_result *r, bool color, bool verbose, tbt_buf *out);

/* The result as one compact JSON object: the same schema as
 * tbt_lint_result_json (shared/tbt_analyzer.h), so that a run report can
 * embed it as "analyzer" and a consumer can read it back with
 * tbt_lint_result_from_cjson. */
void tbt_report_lint_json(const tbt_lint_result *r, tbt_buf *out);

#endif
