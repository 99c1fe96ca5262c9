#include "report_plot.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "reports/report.h"

const char *const report_plot_names[REPORT_PLOT_N] = { "heatmap", "ttd-cdf", "techniques" };

/* Red (never direct) through yellow to green (always direct). */
#define PALETTE "set palette defined (0 '#d73027', 0.5 '#fee08b', 1 '#1a9850')\n"
#define COLOR_RELAYED 0xf28e2b
#define COLOR_FAILED 0xd62728
#define COLOR_TECHNIQUE 0x1a9850
#define CDF_FLOOR_MS 0.01 /* log axis: a time of 0 (LAN) is drawn here */

static const unsigned class_colors[PAIR_N_CLASSES] = { 0x1a9850, 0x4e79a7, 0xd62728 };

/* A gnuplot single-quoted string: '' is a quote; a line break would end the
 * command, so control characters become '?'. Tic labels are printf formats
 * of their position, so there a '%' is doubled. */
static void quote_string(GString *out, const char *s, bool tic)
{
    g_string_append_c(out, '\'');
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            g_string_append(out, "''");
        else if (*p == '%' && tic)
            g_string_append(out, "%%");
        else if ((unsigned char)*p < 0x20 || *p == 0x7f)
            g_string_append_c(out, '?');
        else
            g_string_append_c(out, *p);
    }
    g_string_append_c(out, '\'');
}

static void quote(GString *out, const char *s)
{
    quote_string(out, s, false);
}

static void quote_tic(GString *out, const char *s)
{
    quote_string(out, s, true);
}

static void append_num(GString *out, const char *format, double v)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    g_string_append(out, report_stats_fmt(buf, sizeof buf, format, v));
}

static int nat_index(const report_stats_t *s, const char *name)
{
    for (guint i = 0; i < s->nats->len; i++)
        if (strcmp(s->nats->pdata[i], name) == 0)
            return (int)i;
    return -1;
}

char *report_plot_heatmap_data(const report_stats_t *s)
{
    GString *out = g_string_new("# x(nat_b) y(nat_a) direct_rate attempts label count\n");
    for (guint i = 0; i < s->pairs->len; i++) {
        const report_pair_t *p = s->pairs->pdata[i];
        double rate = report_agg_rate(&p->agg, RESULT_DIRECT);
        g_string_append_printf(out, "%d %d ", nat_index(s, p->nat_b), nat_index(s, p->nat_a));
        append_num(out, "%.6f", rate);
        g_string_append_printf(out, " %zu \"", p->agg.attempts);
        append_num(out, "%.0f", rate * 100);
        g_string_append_printf(out, "%%\" \"n=%zu\"\n", p->agg.attempts);
    }
    return g_string_free(out, FALSE);
}

char *report_plot_cdf_data(const report_stats_t *s, pair_class_t c)
{
    const report_agg_t *a = &s->classes[c];
    if (a->ttd->len == 0)
        return NULL;
    GString *out = g_string_new("# time_to_direct_ms share_of_class_attempts_direct_by_then\n");
    const double *t = (const double *)(void *)a->ttd->data;
    append_num(out, "%.6g", fmax(t[0], CDF_FLOOR_MS));
    g_string_append(out, " 0\n");
    for (guint k = 0; k < a->ttd->len; k++) {
        append_num(out, "%.6g", fmax(t[k], CDF_FLOOR_MS));
        g_string_append_c(out, ' ');
        append_num(out, "%.6f", (double)(k + 1) / (double)a->attempts);
        g_string_append_c(out, '\n');
    }
    return g_string_free(out, FALSE);
}

static void technique_row(GString *out, int index, size_t count, size_t total, unsigned rgb)
{
    double share = total ? (double)count / (double)total : 0;
    g_string_append_printf(out, "%d %zu ", index, count);
    append_num(out, "%.6f", share);
    g_string_append_printf(out, " %u \"%zu (", rgb, count);
    append_num(out, "%.0f", share * 100);
    g_string_append(out, "%)\"\n");
}

char *report_plot_techniques_data(const report_stats_t *s)
{
    GString *out = g_string_new("# index attempts share_of_all rgb label\n");
    size_t total = s->total.attempts;
    guint i = 0;
    for (; i < s->techniques->len; i++) {
        const report_count_t *c = &g_array_index(s->techniques, report_count_t, i);
        technique_row(out, (int)i, c->count, total, COLOR_TECHNIQUE);
    }
    technique_row(out, (int)i, s->total.outcomes[RESULT_RELAYED], total, COLOR_RELAYED);
    technique_row(out, (int)i + 1, s->total.outcomes[RESULT_FAILED], total, COLOR_FAILED);
    return g_string_free(out, FALSE);
}

static void path_in(GString *out, const char *dir, const char *file)
{
    g_autofree char *path = g_build_filename(dir, file, NULL);
    quote(out, path);
}

/* kind: the kind's title for its own heatmap, NULL for the one of every row. */
static void heatmap_body(GString *g, const report_stats_t *s, const char *data_dir,
                         const char *data_file, const char *kind)
{
    int n = (int)s->nats->len;
    if (kind) {
        g_autofree char *title = g_strdup_printf("%s: direct-connection rate per NAT pair "
                                                 "(grey: pair not run)", kind);
        g_string_append(g, "set title ");
        quote(g, title);
        g_string_append_c(g, '\n');
    } else {
        g_string_append(g, "set title 'Direct-connection rate per NAT pair (grey: pair not "
                           "run)'\n");
    }
    g_string_append(g, "set xlabel 'NAT in front of peer B'\n"
                       "set ylabel 'NAT in front of peer A'\n");
    g_string_append_printf(g, "set xrange [-0.5:%d.5]\nset yrange [%d.5:-0.5]\n", n - 1, n - 1);
    GString *tics = g_string_new(NULL);
    for (int i = 0; i < n; i++) {
        g_string_append(tics, i ? ", " : "");
        quote_tic(tics, s->nats->pdata[i]);
        g_string_append_printf(tics, " %d", i);
    }
    g_string_append_printf(g, "set xtics (%s) rotate by 30 right nomirror\n", tics->str);
    g_string_append_printf(g, "set ytics (%s) nomirror\n", tics->str);
    g_string_free(tics, TRUE);
    g_string_append(g, "set cbrange [0:1]\nset cbtics ('0%%' 0, '25%%' 0.25, "
                       "'50%%' 0.5, '75%%' 0.75, '100%%' 1)\nset cblabel 'attempts that ended direct'\n" PALETTE
                       "set object 1 rectangle from graph 0,0 to graph 1,1 behind "
                       "fillcolor rgb '#e6e6e6' fillstyle solid noborder\n"
                       "unset key\nset size ratio -1\n");
    g_string_append(g, "plot ");
    path_in(g, data_dir, data_file);
    g_string_append(g, " using 1:2:(0.5):(0.5):3 with boxxyerror fillstyle solid 1.0 noborder "
                       "fillcolor palette, \\\n  '' using 1:($2-0.1):5 with labels font ',9', \\\n"
                       "  '' using 1:($2+0.25):6 with labels font ',7' textcolor rgb '#333333'\n");
    g_string_append(g, "unset object 1\nunset xtics\nunset ytics\nunset cbtics\nunset cblabel\n"
                       "set size noratio\nset xtics\nset ytics\n");
}

static void cdf_body(GString *g, const report_stats_t *s, const char *data_dir)
{
    g_string_append(g, "set title 'Time to direct by pair class (the curve ends at the class''s "
                       "direct rate)'\nset xlabel 'time to direct (ms, log scale)'\n"
                       "set ylabel 'share of the class''s attempts direct by then'\n"
                       "set yrange [0:1]\nset key bottom right\nset grid\n");
    GString *plots = g_string_new(NULL);
    for (int c = 0; c < PAIR_N_CLASSES; c++) {
        const report_agg_t *a = &s->classes[c];
        if (a->ttd->len == 0)
            continue;
        g_autofree char *file = g_strdup_printf("cdf-%d.dat", c);
        g_autofree char *title = g_strdup_printf(
            "%s: %zu attempts, %zu direct", report_stats_class_name((pair_class_t)c), a->attempts,
            a->outcomes[RESULT_DIRECT]);
        g_string_append(plots, plots->len ? ", \\\n  " : "");
        path_in(plots, data_dir, file);
        g_string_append_printf(plots, " using 1:2 with steps linewidth 2 linecolor rgb '#%06x' "
                                      "title ", class_colors[c]);
        quote(plots, title);
    }
    if (plots->len) {
        g_string_append_printf(g, "set logscale x\nplot %s\nunset logscale x\n", plots->str);
    } else {
        g_string_append(g, "set label 1 'no attempt ended direct' at graph 0.5, 0.5 center\n"
                           "set xrange [0:1]\nplot 1/0 notitle\nunset label 1\nset xrange [*:*]\n");
    }
    g_string_free(plots, TRUE);
    g_string_append(g, "unset grid\nset yrange [*:*]\n");
}

static void techniques_body(GString *g, const report_stats_t *s, const char *data_dir)
{
    g_string_append(g, "set title 'How attempts ended: the technique that won, or relayed, "
                       "or failed'\nset xlabel ''\nset ylabel 'attempts'\nset yrange [0:*]\n"
                       "set offsets 0, 0, graph 0.1, 0\nset style fill solid 0.9 border -1\n"
                       "set boxwidth 0.7\nunset key\nset grid ytics\n");
    GString *tics = g_string_new(NULL);
    guint i = 0;
    for (; i < s->techniques->len; i++) {
        g_string_append(tics, i ? ", " : "");
        quote_tic(tics, g_array_index(s->techniques, report_count_t, i).name);
        g_string_append_printf(tics, " %u", i);
    }
    g_string_append_printf(g, "set xtics (%s%s'relayed' %u, 'failed' %u)\n", tics->str,
                           i ? ", " : "", i, i + 1);
    g_string_append_printf(g, "set xrange [-0.6:%u.6]\n", i + 1);
    g_string_free(tics, TRUE);
    g_string_append(g, "plot ");
    path_in(g, data_dir, "techniques.dat");
    g_string_append(g, " using 1:2:4 with boxes linecolor rgb variable, \\\n"
                       "  '' using 1:2:5 with labels offset 0, 0.8 font ',9'\n");
    g_string_append(g, "unset grid\nset offsets 0, 0, 0, 0\nset xrange [*:*]\nset yrange [*:*]\n"
                       "set xtics\n");
}

char *report_plot_heatmap_file(guint kind)
{
    return g_strdup_printf("heatmap-%u.dat", kind);
}

static void figure_head(GString *g, const char *terminal, const char *out_dir, const char *name,
                        const char *ext)
{
    g_autofree char *file = g_strdup_printf("%s.%s", name, ext);
    g_string_append_printf(g, "reset\nset terminal %s\nset output ", terminal);
    path_in(g, out_dir, file);
    g_string_append_c(g, '\n');
}

char *report_plot_script(const report_stats_t *s, const char *data_dir, const char *out_dir)
{
    return report_plot_script_kinds(s, NULL, data_dir, out_dir);
}

char *report_plot_script_kinds(const report_stats_t *s, const report_kinds_t *k,
                               const char *data_dir, const char *out_dir)
{
    static const struct {
        const char *ext, *terminal;
    } terms[] = {
        { "png", "pngcairo size 960,760 noenhanced font 'DejaVu Sans,10' background '#ffffff'" },
        { "svg", "svg size 960,760 noenhanced font 'DejaVu Sans,10' background '#ffffff'" },
    };
    GString *g = g_string_new("# natlab report: the figures (generated; any edit is lost)\n"
                              "set encoding utf8\n");
    for (guint t = 0; t < G_N_ELEMENTS(terms); t++) {
        for (int f = 0; f < REPORT_PLOT_N; f++) {
            if (f == 0 && k && k->by_kind) {
                for (guint i = 0; i < k->kinds->len; i++) {
                    const report_kind_t *kind = k->kinds->pdata[i];
                    g_autofree char *data = report_plot_heatmap_file(i);
                    figure_head(g, terms[t].terminal, out_dir, kind->figure, terms[t].ext);
                    heatmap_body(g, kind->stats, data_dir, data, kind->title);
                    g_string_append(g, "set output\n");
                }
                continue;
            }
            figure_head(g, terms[t].terminal, out_dir, report_plot_names[f], terms[t].ext);
            if (f == 0)
                heatmap_body(g, s, data_dir, "heatmap.dat", NULL);
            else if (f == 1)
                cdf_body(g, s, data_dir);
            else
                techniques_body(g, s, data_dir);
            g_string_append(g, "set output\n");
        }
    }
    return g_string_free(g, FALSE);
}
