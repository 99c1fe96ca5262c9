/* The figures drawn: report_plot's data and script written to a temporary
 * directory and run through gnuplot (shell). */
#pragma once
#include <glib.h>
#include <stdbool.h>

#include "report_plot.h"

/* Shell: data and script into a temporary directory, gnuplot over them.
 * k: the kinds (report_plot_script_kinds); NULL: one heatmap of every row. */
bool report_gnuplot_run(const report_stats_t *s, const report_kinds_t *k, const char *out_dir,
                        GError **error);
