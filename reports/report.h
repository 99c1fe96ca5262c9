/* natlab report: results.jsonl files (one directory each, several shards
 * merged) -> report.html, heatmap/ttd-cdf/techniques .png and .svg, and
 * summary.json in one output directory (docs/report.md). */
#pragma once
#include <glib.h>
#include <stddef.h>

#define REPORT_ERROR (report_error_quark())
GQuark report_error_quark(void);
enum { REPORT_ERROR_INPUT, REPORT_ERROR_TOOL, REPORT_ERROR_WRITE };

/* dirs: directories holding results.jsonl (or the files themselves);
 * out_dir NULL: the first. population_file NULL: the built-in model.
 * Returns 0, or -1 with *error naming the file (and line) at fault. */
int report_build(const char *const *dirs, size_t n_dirs, const char *out_dir,
                 const char *population_file, GError **error);
