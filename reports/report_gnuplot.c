#include "report_gnuplot.h"

#include <glib.h>
#include <glib/gstdio.h>

#include "report.h"

static bool write_file(const char *dir, const char *name, const char *text, GError **error)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    return g_file_set_contents(path, text, -1, error);
}

static void remove_tree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_unlink(path);
    }
    g_rmdir(dir);
}

/* Data, script and gnuplot in TMP; *keep when TMP should stay for a reader. */
static bool plot_in(const report_stats_t *s, const report_kinds_t *k, const char *gnuplot,
                    const char *tmp, const char *out_dir, bool *keep, GError **error)
{
    g_autofree char *heat = report_plot_heatmap_data(s);
    g_autofree char *tech = report_plot_techniques_data(s);
    /* gnuplot runs in TMP and names its data files relative to it: the SVGs
     * carry a data file's name in a <title>, and a random directory there
     * would make two reports of the same rows differ. */
    g_autofree char *out_abs = g_canonicalize_filename(out_dir, NULL);
    g_autofree char *script = report_plot_script_kinds(s, k, ".", out_abs);
    for (guint i = 0; k && k->by_kind && i < k->kinds->len; i++) {
        const report_kind_t *kind = k->kinds->pdata[i];
        g_autofree char *data = report_plot_heatmap_data(kind->stats);
        g_autofree char *name = report_plot_heatmap_file(i);
        if (!write_file(tmp, name, data, error))
            return false;
    }
    if (!write_file(tmp, "heatmap.dat", heat, error) ||
        !write_file(tmp, "techniques.dat", tech, error) ||
        !write_file(tmp, "figures.gp", script, error))
        return false;
    for (int c = 0; c < PAIR_N_CLASSES; c++) {
        g_autofree char *cdf = report_plot_cdf_data(s, (pair_class_t)c);
        g_autofree char *name = g_strdup_printf("cdf-%d.dat", c);
        if (cdf && !write_file(tmp, name, cdf, error))
            return false;
    }
    g_autofree char *script_path = g_build_filename(tmp, "figures.gp", NULL);
    const char *argv[] = { gnuplot, script_path, NULL };
    g_autofree char *out = NULL, *err = NULL;
    int status = 0;
    if (!g_spawn_sync(tmp, (char **)argv, NULL, G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL, &out,
                      &err, &status, error))
        return false;
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_strchomp(err);
        g_set_error(error, REPORT_ERROR, REPORT_ERROR_TOOL, "gnuplot failed on %s: %s",
                    script_path, err && *err ? err : "no message");
        *keep = true;
        return false;
    }
    return true;
}

bool report_gnuplot_run(const report_stats_t *s, const report_kinds_t *k, const char *out_dir,
                        GError **error)
{
    g_autofree char *gnuplot = g_find_program_in_path("gnuplot");
    if (!gnuplot) {
        g_set_error(error, REPORT_ERROR, REPORT_ERROR_TOOL,
                    "gnuplot not found in PATH; it draws the figures (Debian: apt-get install "
                    "gnuplot-nox)");
        return false;
    }
    g_autofree char *tmp = g_dir_make_tmp("natlab-report-XXXXXX", error);
    if (!tmp)
        return false;
    bool keep = false;
    bool ok = plot_in(s, k, gnuplot, tmp, out_dir, &keep, error);
    if (!keep)
        remove_tree(tmp);
    return ok;
}
