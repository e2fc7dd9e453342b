/*
 * tbt_report_campaign.h - the reports of a load-style campaign (terminal,
 * JSON, JUnit): per test and environment the runs, the pass ratio, the
 * percentiles of trace.duration and verdict.latency (from histograms merged
 * exactly), the failing specs ranked, and each threshold with the value
 * observed. docs/distributed.md describes them.
 */
#ifndef TBT_REPORT_CAMPAIGN_H
#define TBT_REPORT_CAMPAIGN_H

#include "tbt_coord.h"

/* A row passes when it ran and every threshold holds (with no thresholds:
 * every run passed). */
bool tbt_campaign_row_passed(const tbt_campaign_row *r, const tbt_threshold *th, size_t n_th);
/* 0 every row passed; 2 a threshold (or, without thresholds, a spec)
 * failed; 1 a row had no run, or (without thresholds) a run errored. */
int tbt_campaign_exit_code(const tbt_campaign_result *c, const tbt_threshold *th, size_t n_th);

void tbt_report_campaign_pretty(const tbt_campaign_result *c, const tbt_threshold *th, size_t n_th, bool color,
                                tbt_buf *out);
void tbt_report_campaign_json(const tbt_campaign_result *c, const tbt_threshold *th, size_t n_th, tbt_buf *out);
void tbt_report_campaign_junit(const tbt_campaign_result *c, const tbt_threshold *th, size_t n_th, tbt_buf *out);

#endif
