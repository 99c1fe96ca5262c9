/* The figures drawn: report_plot's data and script written to a temporary
 * directory and run through gnuplot (shell). */
#pragma once
#include <glib.h>
#include <stdbool.h>

#include "report_plot.h"

/* Shell: data and script into a temporary directory, gnuplot over them. */
bool report_gnuplot_run(const report_stats_t *s, const char *out_dir, GError **error);
