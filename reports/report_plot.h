/* The report's figures, drawn by gnuplot: heatmap (direct rate per pair),
 * ttd-cdf (time to direct by pair class), techniques (how attempts ended),
 * each as PNG and SVG; with several agent kinds, one heatmap per kind. The
 * data and the script are plain text made here (pure); report_gnuplot_run
 * writes them to a temporary directory and runs gnuplot once for every file. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#include "reports/report_kinds.h"
#include "reports/report_stats.h"

/* Figure base names, in the order the page shows them. */
#define REPORT_PLOT_N 3
extern const char *const report_plot_names[REPORT_PLOT_N];

/* "x y rate attempts "rate%" "n=N"" per measured pair; x is nat_b's and y
 * nat_a's index on the axes (stats->nats). */
char *report_plot_heatmap_data(const report_stats_t *s);
/* Steps of the class's CDF: "ms share", share = direct by then / attempts of
 * the class. NULL when the class has no direct attempt. */
char *report_plot_cdf_data(const report_stats_t *s, pair_class_t c);
/* "index count share rgb "label"" per technique, then relayed and failed. */
char *report_plot_techniques_data(const report_stats_t *s);
/* The script, reading DATA_DIR/{heatmap,cdf-N,techniques}.dat and writing
 * OUT_DIR/NAME.{png,svg}. */
char *report_plot_script(const report_stats_t *s, const char *data_dir, const char *out_dir);
/* The same, and with rows of kinds other than natlab (k->by_kind) one
 * heatmap per kind instead of one of every row: kind i's heatmap data
 * (report_plot_heatmap_data of its stats) in DATA_DIR/report_plot_heatmap_file(i),
 * drawn to OUT_DIR/KIND_FIGURE.{png,svg}. k NULL: as report_plot_script. */
char *report_plot_script_kinds(const report_stats_t *s, const report_kinds_t *k,
                               const char *data_dir, const char *out_dir);
char *report_plot_heatmap_file(guint kind);

