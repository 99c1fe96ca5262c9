#include "report_kinds.h"

#include <math.h>
#include <string.h>

static void kind_free(gpointer p)
{
    report_kind_t *k = p;
    if (!k)
        return;
    g_free(k->name);
    g_free(k->version);
    g_free(k->title);
    g_free(k->figure);
    report_stats_free(k->stats);
    g_free(k);
}

static void kind_pair_free(gpointer p)
{
    report_kind_pair_t *kp = p;
    if (!kp)
        return;
    g_array_free(kp->diffs, TRUE);
    g_free(kp);
}

void report_kinds_free(report_kinds_t *k)
{
    if (!k)
        return;
    if (k->kinds)
        g_ptr_array_free(k->kinds, TRUE);
    if (k->differ)
        g_ptr_array_free(k->differ, TRUE);
    g_free(k);
}

static gint cmp_kind_name(gconstpointer x, gconstpointer y)
{
    const char *a = *(const char *const *)x, *b = *(const char *const *)y;
    bool na = strcmp(a, "natlab") == 0, nb = strcmp(b, "natlab") == 0;
    if (na != nb)
        return na ? -1 : 1;
    return strcmp(a, b);
}

static gint cmp_string(gconstpointer x, gconstpointer y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* A file name from a kind's name: kind files allow [a-z0-9-] (docs/agents.md),
 * rows may say anything, so anything else becomes '_' and a clash gets a number. */
static char *figure_stem(const char *name, GHashTable *taken)
{
    GString *s = g_string_new("heatmap-");
    for (const char *p = name; *p && s->len < 48; p++)
        g_string_append_c(s, g_ascii_isalnum(*p) || *p == '-' ? g_ascii_tolower(*p) : '_');
    g_autofree char *base = g_string_free(s, FALSE);
    char *stem = g_strdup(base);
    for (int n = 2; g_hash_table_contains(taken, stem); n++) {
        g_free(stem);
        stem = g_strdup_printf("%s-%d", base, n);
    }
    g_hash_table_add(taken, g_strdup(stem));
    return stem;
}

result_outcome_t report_kinds_dominant(const report_agg_t *a)
{
    result_outcome_t best = RESULT_N_OUTCOMES;
    size_t most = 0;
    bool tie = false;
    for (int o = 0; o < RESULT_N_OUTCOMES; o++) {
        if (a->outcomes[o] > most) {
            most = a->outcomes[o];
            best = (result_outcome_t)o;
            tie = false;
        } else if (most > 0 && a->outcomes[o] == most) {
            tie = true;
        }
    }
    return tie ? RESULT_N_OUTCOMES : best;
}

const char *report_kinds_dominant_name(result_outcome_t o)
{
    return o < RESULT_N_OUTCOMES ? result_outcome_name(o) : "mixed";
}

bool report_kinds_rate_differs(const report_agg_t *a, const report_agg_t *b, double *z)
{
    *z = NAN;
    if (!a->attempts || !b->attempts)
        return false;
    double na = (double)a->attempts, nb = (double)b->attempts;
    double pa = (double)a->outcomes[RESULT_DIRECT] / na;
    double pb = (double)b->outcomes[RESULT_DIRECT] / nb;
    double pool = (double)(a->outcomes[RESULT_DIRECT] + b->outcomes[RESULT_DIRECT]) / (na + nb);
    double se = sqrt(pool * (1 - pool) * (1 / na + 1 / nb));
    if (!(se > 0))
        return false; /* both always direct or both never: no difference */
    *z = (pa - pb) / se;
    return fabs(*z) > REPORT_KINDS_Z;
}

bool report_kinds_compare(const report_agg_t *a, const report_agg_t *b, report_kind_diff_t *out)
{
    memset(out, 0, sizeof *out);
    result_outcome_t da = report_kinds_dominant(a), db = report_kinds_dominant(b);
    out->by_outcome = da != RESULT_N_OUTCOMES && db != RESULT_N_OUTCOMES && da != db;
    out->by_rate = report_kinds_rate_differs(a, b, &out->z);
    return out->by_outcome || out->by_rate;
}

const report_kind_t *report_kinds_find(const report_kinds_t *k, const char *name)
{
    for (guint i = 0; i < k->kinds->len; i++) {
        const report_kind_t *kind = k->kinds->pdata[i];
        if (strcmp(kind->name, name) == 0)
            return kind;
    }
    return NULL;
}

const report_pair_t *report_kind_pair(const report_kind_t *kind, const char *pair)
{
    return report_stats_find_pair(kind->stats, pair);
}

report_kinds_t *report_kinds_new(const results_t *r, const report_stats_t *all,
                                 const population_t *pop)
{
    report_kinds_t *k = g_new0(report_kinds_t, 1);
    k->kinds = g_ptr_array_new_with_free_func(kind_free);
    k->differ = g_ptr_array_new_with_free_func(kind_pair_free);

    /* name -> GHashTable of its versions */
    g_autoptr(GHashTable) versions = g_hash_table_new_full(
        g_str_hash, g_str_equal, NULL, (GDestroyNotify)g_hash_table_destroy);
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    for (guint i = 0; i < r->attempts->len; i++) {
        const result_t *row = ((const result_attempt_t *)r->attempts->pdata[i])->row;
        const char *name = result_kind_name(row);
        GHashTable *v = g_hash_table_lookup(versions, name);
        if (!v) {
            v = g_hash_table_new(g_str_hash, g_str_equal);
            g_hash_table_insert(versions, (gpointer)name, v);
            g_ptr_array_add(names, (gpointer)name);
        }
        if (row->kind_version && *row->kind_version)
            g_hash_table_add(v, row->kind_version);
        if (row->kind)
            k->by_kind = true;
    }
    g_ptr_array_sort(names, cmp_kind_name);

    g_autoptr(GHashTable) taken = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < names->len; i++) {
        const char *name = names->pdata[i];
        report_kind_t *kind = g_new0(report_kind_t, 1);
        kind->name = g_strdup(name);
        /* Shards from machines with different builds: every version is shown. */
        g_autoptr(GPtrArray) vs = g_ptr_array_new();
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, g_hash_table_lookup(versions, name));
        while (g_hash_table_iter_next(&it, &v, NULL))
            g_ptr_array_add(vs, v);
        g_ptr_array_sort(vs, cmp_string);
        if (vs->len) {
            g_ptr_array_add(vs, NULL);
            kind->version = g_strjoinv(", ", (char **)vs->pdata);
        }
        kind->title = kind->version ? g_strdup_printf("%s %s", name, kind->version)
                                    : g_strdup(name);
        kind->figure = figure_stem(name, taken);
        kind->stats = report_stats_new_kind(r, name);
        population_estimate(pop, kind->stats, &kind->est);
        g_ptr_array_add(k->kinds, kind);
    }

    for (guint i = 0; i < all->pairs->len; i++) {
        const report_pair_t *p = all->pairs->pdata[i];
        GArray *diffs = g_array_new(FALSE, FALSE, sizeof(report_kind_diff_t));
        for (guint a = 0; a < k->kinds->len; a++) {
            const report_pair_t *pa = report_kind_pair(k->kinds->pdata[a], p->pair);
            for (guint b = a + 1; pa && b < k->kinds->len; b++) {
                const report_pair_t *pb = report_kind_pair(k->kinds->pdata[b], p->pair);
                report_kind_diff_t d;
                if (pb && report_kinds_compare(&pa->agg, &pb->agg, &d)) {
                    d.a = a;
                    d.b = b;
                    g_array_append_val(diffs, d);
                }
            }
        }
        if (diffs->len == 0) {
            g_array_free(diffs, TRUE);
            continue;
        }
        report_kind_pair_t *kp = g_new0(report_kind_pair_t, 1);
        kp->pair = p;
        kp->diffs = diffs;
        g_ptr_array_add(k->differ, kp);
    }
    return k;
}
