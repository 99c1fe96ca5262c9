/* The report by agent kind (docs/agents.md): each kind's own numbers and
 * heatmap, a table of pairs by kind, and the pairs where kinds differ
 * (docs/report.md gives the definition). Rows without a kind are natlab's
 * own agent. Pure: results in, numbers out. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#include "reports/population.h"
#include "reports/report_stats.h"
#include "reports/results.h"

/* |z| above this is "beyond noise": two-sided 5% for two proportions. */
#define REPORT_KINDS_Z 1.96

typedef struct report_kind {
    char *name;    /* result_kind_name: "natlab", "libnice", ... */
    char *version; /* its rows' kind_version values, distinct, ", "-joined; NULL: none given */
    char *title;   /* "libnice 0.1.22", or the name alone */
    char *figure;  /* its heatmap's file stem: "heatmap-libnice" */
    report_stats_t *stats;     /* its rows, on the report's axes */
    population_estimate_t est; /* the population model over its pairs */
} report_kind_t;

/* Two kinds that differ on a pair, and how. */
typedef struct report_kind_diff {
    guint a, b;         /* indices into kinds, a < b */
    bool by_outcome;    /* both have a dominant outcome, and they differ */
    bool by_rate;       /* direct rates differ beyond noise */
    double z;           /* the two-proportion z of direct rates; NAN when undefined */
} report_kind_diff_t;

typedef struct report_kind_pair {
    const report_pair_t *pair; /* the report's pair over every kind (borrowed) */
    GArray *diffs;             /* report_kind_diff_t, by a then b */
} report_kind_pair_t;

typedef struct report_kinds {
    GPtrArray *kinds;  /* report_kind_t: natlab first, then by name */
    bool by_kind;      /* some row names a kind other than natlab: the report shows kinds */
    GPtrArray *differ; /* report_kind_pair_t, in the report's pair order */
} report_kinds_t;

/* all: the stats of every row (report_stats_new of r); both must outlive
 * the result. */
report_kinds_t *report_kinds_new(const results_t *r, const report_stats_t *all,
                                 const population_t *pop);
void report_kinds_free(report_kinds_t *k);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(report_kinds_t, report_kinds_free)

/* The kind by name, or NULL. */
const report_kind_t *report_kinds_find(const report_kinds_t *k, const char *name);
/* The kind's numbers for a pair ("NAT_A/NAT_B"), or NULL when it did not run it. */
const report_pair_t *report_kind_pair(const report_kind_t *kind, const char *pair);

/* The outcome with the most attempts; RESULT_N_OUTCOMES ("mixed") when two
 * tie for most or there are no attempts. */
result_outcome_t report_kinds_dominant(const report_agg_t *a);
const char *report_kinds_dominant_name(result_outcome_t o);
/* Two-proportion z-test of direct rates, pooled: true when |z| > REPORT_KINDS_Z.
 * *z is NAN when either has no attempts or the pooled rate is 0 or 1. */
bool report_kinds_rate_differs(const report_agg_t *a, const report_agg_t *b, double *z);
/* Whether two kinds' numbers on one pair differ, and how; false when not. */
bool report_kinds_compare(const report_agg_t *a, const report_agg_t *b, report_kind_diff_t *out);
