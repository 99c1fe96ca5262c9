/* summary.json: the report's numbers for programs (per pair: attempts,
 * direct rate, relayed, failed, p50/p95 time to direct; per class and
 * scenario; techniques; the population estimate). Numbers are printed
 * with the digits they deserve, not %.17g, so the file diffs well. */
#pragma once

#include "reports/population.h"
#include "reports/report_kinds.h"
#include "reports/report_stats.h"
#include "reports/results.h"

char *report_summary_json(const report_stats_t *s, const results_t *r, const population_t *p,
                          const population_estimate_t *e);
/* The same; with rows of kinds other than natlab (k->by_kind) each
 * scenario says its kind, and "kinds" and "differing_pairs" follow the
 * scenarios (docs/report.md). e: the estimate over natlab's own rows. */
char *report_summary_json_kinds(const report_stats_t *s, const report_kinds_t *k,
                                const results_t *r, const population_t *p,
                                const population_estimate_t *e);
