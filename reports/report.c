#include "report.h"

#include <errno.h>
#include <math.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports/population.h"
#include "reports/report_html.h"
#include "reports/report_kinds.h"
#include "reports/report_gnuplot.h"
#include "reports/report_path.h"
#include "reports/report_stats.h"
#include "reports/report_summary.h"
#include "reports/results.h"

G_DEFINE_QUARK(natlab-report-error-quark, report_error)

static char *canonical(const char *path)
{
    char *real = realpath(path, NULL);
    if (!real)
        return NULL;
    char *copy = g_strdup(real);
    free(real);
    return copy;
}

/* Links from the page to each capture, relative so the directory can move. */
static void link_pcaps(results_t *r, const char *out_real)
{
    for (guint i = 0; i < r->attempts->len; i++) {
        result_attempt_t *a = r->attempts->pdata[i];
        if (!a->row->pcap)
            continue;
        g_autofree char *path = g_build_filename(a->dir, a->row->pcap, NULL);
        g_autofree char *real = canonical(path);
        a->pcap_present = real && g_file_test(real, G_FILE_TEST_IS_REGULAR);
        if (!a->pcap_present)
            continue;
        g_autofree char *rel = report_path_relative(out_real, real);
        a->pcap_href = g_uri_escape_string(rel, "/", TRUE);
    }
}

static bool write_out(const char *dir, const char *name, const char *text, GError **error)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) err = NULL;
    if (!g_file_set_contents(path, text, -1, &err)) {
        g_set_error(error, REPORT_ERROR, REPORT_ERROR_WRITE, "%s", err->message);
        return false;
    }
    return true;
}

static bool load_inputs(results_t *r, const char *const *dirs, size_t n_dirs, GError **error)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (size_t i = 0; i < n_dirs; i++) {
        g_autofree char *file = g_file_test(dirs[i], G_FILE_TEST_IS_DIR)
                                    ? g_build_filename(dirs[i], "results.jsonl", NULL)
                                    : g_strdup(dirs[i]);
        char *real = canonical(file);
        if (!real) {
            int e = errno;
            g_set_error(error, REPORT_ERROR, REPORT_ERROR_INPUT, "%s: %s%s", file, g_strerror(e),
                        e == ENOENT ? " (want a directory holding results.jsonl from natlab run "
                                      "or natlab matrix)"
                                    : "");
            return false;
        }
        if (!g_hash_table_add(seen, real)) {
            g_set_error(error, REPORT_ERROR, REPORT_ERROR_INPUT,
                        "%s: given twice; each shard's results count once", file);
            return false;
        }
        if (!results_add_path(r, dirs[i], error))
            return false;
    }
    if (r->attempts->len == 0) {
        g_set_error(error, REPORT_ERROR, REPORT_ERROR_INPUT,
                    "no attempts in %s%s: nothing to report", dirs[0],
                    n_dirs > 1 ? " nor the other directories" : "");
        return false;
    }
    return true;
}

int report_build(const char *const *dirs, size_t n_dirs, const char *out_dir,
                 const char *population_file, GError **error)
{
    if (n_dirs == 0) {
        g_set_error(error, REPORT_ERROR, REPORT_ERROR_INPUT, "no results directory given");
        return -1;
    }
    if (!out_dir)
        out_dir = g_file_test(dirs[0], G_FILE_TEST_IS_DIR) ? dirs[0] : NULL;
    g_autofree char *parent = out_dir ? NULL : g_path_get_dirname(dirs[0]);
    if (!out_dir)
        out_dir = parent;

    g_autoptr(population_t) pop = population_file ? population_load_file(population_file, error)
                                                  : population_new_default();
    if (!pop)
        return -1;
    g_autoptr(results_t) results = results_new();
    if (!load_inputs(results, dirs, n_dirs, error))
        return -1;

    if (g_mkdir_with_parents(out_dir, 0755) != 0) {
        int e = errno;
        g_set_error(error, REPORT_ERROR, REPORT_ERROR_WRITE, "%s: %s", out_dir, g_strerror(e));
        return -1;
    }
    g_autofree char *out_real = canonical(out_dir);
    if (!out_real) {
        int e = errno;
        g_set_error(error, REPORT_ERROR, REPORT_ERROR_WRITE, "%s: %s", out_dir, g_strerror(e));
        return -1;
    }
    link_pcaps(results, out_real);

    g_autoptr(report_stats_t) stats = report_stats_new(results);
    g_autoptr(report_kinds_t) kinds = report_kinds_new(results, stats, pop);
    /* summary.json's population estimate is natlab's own agent's; each kind
     * has its own under "kinds" (docs/report.md). */
    const report_kind_t *own = report_kinds_find(kinds, "natlab");
    population_estimate_t est;
    population_estimate(pop, kinds->by_kind && own ? own->stats : stats, &est);
    if (kinds->by_kind && !own) {
        memset(&est, 0, sizeof est);
        est.direct = est.relayed = est.failed = est.direct_se = NAN;
    }

    if (!report_gnuplot_run(stats, kinds, out_real, error))
        return -1;
    g_autofree char *summary = report_summary_json_kinds(stats, kinds, results, pop, &est);
    g_autofree char *page = report_html_page_kinds(stats, kinds, results, pop, &est);
    /* The page last: once it is there, everything it refers to is too. */
    if (!write_out(out_real, "summary.json", summary, error) ||
        !write_out(out_real, "report.html", page, error))
        return -1;
    return 0;
}
