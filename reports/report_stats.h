/* From attempts to what the report shows: counts and rates per pair, per
 * scenario and per pair class, times to direct and their percentiles, and
 * which technique won. Pure: the same results give the same numbers. */
#pragma once
#include <glib.h>
#include <stddef.h>

#include "reports/results.h"

/* Pair class from the two sides' mapping (docs/report.md): both easy,
 * one easy, none. A public host and a NAT that translates nothing are easy. */
typedef enum pair_class {
    PAIR_EASY_EASY,
    PAIR_EASY_HARD,
    PAIR_HARD_HARD,
    PAIR_N_CLASSES
} pair_class_t;

pair_class_t report_stats_pair_class(bool easy_a, bool easy_b);
const char *report_stats_class_name(pair_class_t c);

typedef struct report_agg {
    size_t attempts;
    size_t outcomes[RESULT_N_OUTCOMES];
    GArray *ttd; /* double: time to direct of each direct attempt, sorted */
    double p50;  /* percentile_nearest_rank; NAN without direct attempts */
    double p95;
} report_agg_t;

/* outcomes[o] / attempts; NAN without attempts. */
double report_agg_rate(const report_agg_t *a, result_outcome_t o);

typedef struct report_pair {
    char *pair;
    char *nat_a;
    char *nat_b;
    pair_class_t cls;
    report_agg_t agg;
} report_pair_t;

typedef struct report_scenario {
    char *name;
    char *kind;          /* result_kind_name of its rows: scenarios are per kind */
    char *key;           /* name, or name and kind for a kind other than natlab */
    report_agg_t agg;
    GPtrArray *pairs;    /* report_pair_t (owned), in the stats' pair order */
    GPtrArray *attempts; /* result_attempt_t (borrowed), in input order */
} report_scenario_t;

typedef struct report_count {
    char *name;
    size_t count;
} report_count_t;

typedef struct report_stats {
    report_agg_t total;
    report_agg_t classes[PAIR_N_CLASSES];
    GPtrArray *pairs;     /* report_pair_t over every scenario */
    GPtrArray *nats;      /* char *: the matrix axes, easiest first */
    GPtrArray *scenarios; /* report_scenario_t, by name, then kind */
    GArray *techniques;   /* report_count_t over direct attempts */
} report_stats_t;

/* The attempts must outlive the stats (scenarios borrow them). */
report_stats_t *report_stats_new(const results_t *r);
void report_stats_free(report_stats_t *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(report_stats_t, report_stats_free)

/* The rows of one agent kind (result_kind_name), on the axes (nats) of
 * every row, so that kinds' heatmaps have the same cells. */
report_stats_t *report_stats_new_kind(const results_t *r, const char *kind);

/* The pair by its "pair" name, or NULL. */
const report_pair_t *report_stats_find_pair(const report_stats_t *s, const char *pair);

/* The pair a_name/b_name in that order, or NULL. */
const report_pair_t *report_stats_find(const report_stats_t *s, const char *nat_a,
                                       const char *nat_b);

/* printf of one double in the C locale (natlab sets the user's locale, and
 * gnuplot, JSON and the page all want '.'); returns buf. */
const char *report_stats_fmt(char *buf, size_t size, const char *format, double v);
