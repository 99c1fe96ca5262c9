#include "run_progress.h"

#include <math.h>
#include <string.h>

#include "run_stats.h"

char *run_progress_clock(double s)
{
    unsigned t = s > 0 ? (unsigned)(s + 0.5) : 0;
    if (t >= 3600)
        return g_strdup_printf("%u:%02u:%02u", t / 3600, t / 60 % 60, t % 60);
    return g_strdup_printf("%u:%02u", t / 60, t % 60);
}

char *run_progress_bar(const run_progress_t *p, unsigned width)
{
    unsigned filled = p->attempts_total ? width * p->attempts_done / p->attempts_total : 0;
    GString *s = g_string_new("[");
    for (unsigned i = 0; i < width; i++)
        g_string_append_c(s, i < filled ? '#' : '-');
    g_autofree char *clock = run_progress_clock(p->elapsed_s);
    g_string_append_printf(s, "] %u/%u attempts  direct %u  relayed %u  failed %u  scenarios %u/%u",
                           p->attempts_done, p->attempts_total, p->direct, p->relayed, p->failed,
                           p->scenarios_done, p->scenarios_total);
    if (p->running)
        g_string_append_printf(s, " (%u running)", p->running);
    g_string_append_printf(s, "  %s", clock);
    return g_string_free(s, FALSE);
}

static void append_ms(GString *s, const char *what, double ms)
{
    if (isnan(ms))
        return;
    if (ms < 1000)
        g_string_append_printf(s, "%s %.0f ms", what, ms);
    else
        g_string_append_printf(s, "%s %.2f s", what, ms / 1000);
}

char *run_progress_attempt_line(const result_t *r, unsigned repeat)
{
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "%s #%u/%u  %s", r->scenario, r->attempt, repeat,
                           result_outcome_name(r->outcome));
    if (r->outcome == RESULT_DIRECT)
        g_string_append_printf(s, " (%s)", r->technique);
    else if (r->outcome == RESULT_RELAYED && r->relay) /* [agent] turn: which relay */
        g_string_append_printf(s, " (%s)", r->relay);
    if (r->outcome != RESULT_FAILED) {
        append_ms(s, "  first byte", r->time_to_first_byte_ms);
        append_ms(s, ", direct", r->time_to_direct_ms);
    }
    if (!isnan(r->duration_ms))
        g_string_append_printf(s, "  [%.1f s]", r->duration_ms / 1000);
    if (r->error)
        g_string_append_printf(s, "  %s", r->error);
    return g_string_free(s, FALSE);
}

static char *ms_cell(double ms)
{
    if (isnan(ms))
        return g_strdup("-");
    return ms < 1000 ? g_strdup_printf("%.0fms", ms) : g_strdup_printf("%.2fs", ms / 1000);
}

static char **summary_cells(const run_summary_row_t *row)
{
    unsigned count[3] = { 0 };
    g_autofree double *ttd = g_new0(double, row->n ? row->n : 1);
    size_t m = 0;
    g_autoptr(GString) techniques = g_string_new(NULL);
    for (size_t i = 0; i < row->n; i++) {
        const result_t *r = row->results[i];
        count[r->outcome]++;
        if (r->outcome == RESULT_DIRECT && !isnan(r->time_to_direct_ms))
            ttd[m++] = r->time_to_direct_ms;
        if (r->outcome == RESULT_DIRECT && r->technique) {
            g_autofree char *needle = g_strdup_printf(",%s,", r->technique);
            g_autofree char *hay = g_strdup_printf(",%s,", techniques->str);
            if (!strstr(hay, needle))
                g_string_append_printf(techniques, "%s%s", techniques->len ? "," : "",
                                       r->technique);
        }
    }
    char **cells = g_new0(char *, 10);
    cells[0] = g_strdup(row->scenario);
    cells[1] = g_strdup(row->expected ? row->expected : "-");
    cells[2] = g_strdup_printf("%zu", row->n);
    cells[3] = g_strdup_printf("%u", count[RESULT_DIRECT]);
    cells[4] = g_strdup_printf("%u", count[RESULT_RELAYED]);
    cells[5] = g_strdup_printf("%u", count[RESULT_FAILED]);
    double p50 = m ? run_stats_percentile(ttd, m, 50) : NAN;
    double p95 = m ? run_stats_percentile(ttd, m, 95) : NAN;
    g_autofree char *a = ms_cell(p50), *b = ms_cell(p95);
    cells[6] = g_strdup_printf("%s/%s", a, b);
    cells[7] = g_strdup(techniques->len ? techniques->str : "-");
    cells[8] = g_strdup(row->verdict);
    return cells;
}

char *run_progress_summary(const run_summary_row_t *rows, size_t n)
{
    GPtrArray *table = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    g_ptr_array_add(table, g_strsplit("SCENARIO|EXPECTED|RUNS|DIRECT|RELAYED|FAILED|"
                                      "TO-DIRECT p50/p95|TECHNIQUE|RESULT",
                                      "|", -1));
    for (size_t i = 0; i < n; i++)
        g_ptr_array_add(table, summary_cells(&rows[i]));
    int width[9] = { 0 };
    for (guint r = 0; r < table->len; r++) {
        char **row = g_ptr_array_index(table, r);
        for (int c = 0; c < 9; c++)
            width[c] = MAX(width[c], (int)g_utf8_strlen(row[c], -1));
    }
    GString *s = g_string_new(NULL);
    for (guint r = 0; r < table->len; r++) {
        char **row = g_ptr_array_index(table, r);
        for (int c = 0; c < 9; c++) {
            /* Counts right-aligned, words left-aligned. */
            bool right = c >= 2 && c <= 5;
            if (c == 8)
                g_string_append_printf(s, "%s\n", row[c]);
            else
                g_string_append_printf(s, right ? "%*s  " : "%-*s  ", width[c], row[c]);
        }
    }
    g_ptr_array_free(table, TRUE);
    return g_string_free(s, FALSE);
}
