#include "report_stats.h"

#include "common/percentile.h"

#include <math.h>
#include <string.h>

static const char *const class_names[PAIR_N_CLASSES] = { "easy-easy", "easy-hard", "hard-hard" };

/* Axis order for names natlab knows, easiest first; other names follow by name. */
static const char *const known_nats[] = {
    "public", "no-nat", "firewall", "full-cone", "restricted-cone", "port-restricted-cone",
    "home-router", "cgnat", "symmetric-sequential", "symmetric", "udp-blocked",
};

const char *report_stats_class_name(pair_class_t c)
{
    return c < PAIR_N_CLASSES ? class_names[c] : "?";
}

pair_class_t report_stats_pair_class(bool easy_a, bool easy_b)
{
    if (easy_a && easy_b)
        return PAIR_EASY_EASY;
    return easy_a || easy_b ? PAIR_EASY_HARD : PAIR_HARD_HARD;
}

double report_agg_rate(const report_agg_t *a, result_outcome_t o)
{
    return a->attempts ? (double)a->outcomes[o] / (double)a->attempts : NAN;
}

static void agg_init(report_agg_t *a)
{
    memset(a, 0, sizeof *a);
    a->ttd = g_array_new(FALSE, FALSE, sizeof(double));
    a->p50 = a->p95 = NAN;
}

static void agg_clear(report_agg_t *a)
{
    if (a->ttd)
        g_array_free(a->ttd, TRUE);
    a->ttd = NULL;
}

static void agg_add(report_agg_t *a, const result_t *at)
{
    a->attempts++;
    a->outcomes[at->outcome]++;
    if (at->outcome == RESULT_DIRECT)
        g_array_append_val(a->ttd, at->time_to_direct_ms);
}

static gint cmp_double(gconstpointer x, gconstpointer y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static void agg_finish(report_agg_t *a)
{
    g_array_sort(a->ttd, cmp_double);
    a->p50 = percentile_nearest_rank((const double *)(void *)a->ttd->data, a->ttd->len, 50);
    a->p95 = percentile_nearest_rank((const double *)(void *)a->ttd->data, a->ttd->len, 95);
}

static void pair_free(gpointer p)
{
    report_pair_t *rp = p;
    if (!rp)
        return;
    g_free(rp->pair);
    g_free(rp->nat_a);
    g_free(rp->nat_b);
    agg_clear(&rp->agg);
    g_free(rp);
}

static void scenario_free(gpointer p)
{
    report_scenario_t *sc = p;
    if (!sc)
        return;
    g_free(sc->name);
    g_free(sc->kind);
    g_free(sc->key);
    agg_clear(&sc->agg);
    if (sc->pairs)
        g_ptr_array_free(sc->pairs, TRUE);
    if (sc->attempts)
        g_ptr_array_free(sc->attempts, TRUE);
    g_free(sc);
}

static void count_clear(gpointer p)
{
    g_free(((report_count_t *)p)->name);
}

void report_stats_free(report_stats_t *s)
{
    if (!s)
        return;
    agg_clear(&s->total);
    for (int c = 0; c < PAIR_N_CLASSES; c++)
        agg_clear(&s->classes[c]);
    if (s->pairs)
        g_ptr_array_free(s->pairs, TRUE);
    if (s->nats)
        g_ptr_array_free(s->nats, TRUE);
    if (s->scenarios)
        g_ptr_array_free(s->scenarios, TRUE);
    if (s->techniques)
        g_array_free(s->techniques, TRUE);
    g_free(s);
}

static report_pair_t *pair_get(GPtrArray *pairs, GHashTable *index, const result_t *at)
{
    report_pair_t *p = g_hash_table_lookup(index, at->pair);
    if (!p) {
        p = g_new0(report_pair_t, 1);
        p->pair = g_strdup(at->pair);
        p->nat_a = g_strdup(result_nat_name(at->nat_a));
        p->nat_b = g_strdup(result_nat_name(at->nat_b));
        p->cls = report_stats_pair_class(at->easy_a, at->easy_b);
        agg_init(&p->agg);
        g_ptr_array_add(pairs, p);
        g_hash_table_insert(index, p->pair, p);
    }
    return p;
}

/* rank: name -> GINT_TO_POINTER(position + 1) on the axes. */
static int rank_of(GHashTable *rank, const char *name)
{
    return GPOINTER_TO_INT(g_hash_table_lookup(rank, name));
}

static gint cmp_pair(gconstpointer x, gconstpointer y, gpointer data)
{
    const report_pair_t *a = *(report_pair_t *const *)x, *b = *(report_pair_t *const *)y;
    GHashTable *rank = data;
    int d = rank_of(rank, a->nat_a) - rank_of(rank, b->nat_a);
    if (!d)
        d = rank_of(rank, a->nat_b) - rank_of(rank, b->nat_b);
    return d ? d : strcmp(a->pair, b->pair);
}

static gint cmp_known_then_name(gconstpointer x, gconstpointer y)
{
    const char *a = *(const char *const *)x, *b = *(const char *const *)y;
    int ia = (int)G_N_ELEMENTS(known_nats), ib = ia;
    for (int i = 0; i < (int)G_N_ELEMENTS(known_nats); i++) {
        if (strcmp(a, known_nats[i]) == 0)
            ia = i;
        if (strcmp(b, known_nats[i]) == 0)
            ib = i;
    }
    return ia != ib ? ia - ib : strcmp(a, b);
}

static gint cmp_scenario(gconstpointer x, gconstpointer y)
{
    const report_scenario_t *a = *(report_scenario_t *const *)x;
    const report_scenario_t *b = *(report_scenario_t *const *)y;
    int d = strcmp(a->name, b->name);
    return d ? d : strcmp(a->kind, b->kind);
}

/* Techniques the agent names (docs/agent.md), in that order; others by name. */
static const char *const known_techniques[] = {
    "punch", "predicted", "birthday", "port-mapped", "lan", "hairpin",
};

static gint cmp_technique(gconstpointer x, gconstpointer y)
{
    const report_count_t *a = x, *b = y;
    int ia = (int)G_N_ELEMENTS(known_techniques), ib = ia;
    for (int i = 0; i < (int)G_N_ELEMENTS(known_techniques); i++) {
        if (strcmp(a->name, known_techniques[i]) == 0)
            ia = i;
        if (strcmp(b->name, known_techniques[i]) == 0)
            ib = i;
    }
    return ia != ib ? ia - ib : strcmp(a->name, b->name);
}

/* kind NULL: every row; otherwise the rows of that kind (result_kind_name),
 * on the axes of every row so that each kind's heatmap has the same cells. */
static report_stats_t *stats_new(const results_t *r, const char *kind)
{
    report_stats_t *s = g_new0(report_stats_t, 1);
    agg_init(&s->total);
    for (int c = 0; c < PAIR_N_CLASSES; c++)
        agg_init(&s->classes[c]);
    s->pairs = g_ptr_array_new_with_free_func(pair_free);
    s->nats = g_ptr_array_new_with_free_func(g_free);
    s->scenarios = g_ptr_array_new_with_free_func(scenario_free);
    s->techniques = g_array_new(FALSE, TRUE, sizeof(report_count_t));
    g_array_set_clear_func(s->techniques, count_clear);

    g_autoptr(GHashTable) pair_index = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) scenario_index = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) scenario_pairs = g_hash_table_new_full(
        g_direct_hash, g_direct_equal, NULL, (GDestroyNotify)g_hash_table_destroy);
    g_autoptr(GHashTable) nat_seen = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) technique_index = g_hash_table_new(g_str_hash, g_str_equal);

    for (guint i = 0; i < r->attempts->len; i++) {
        const result_t *at = ((const result_attempt_t *)r->attempts->pdata[i])->row;
        const char *names[2] = { result_nat_name(at->nat_a), result_nat_name(at->nat_b) };
        for (int k = 0; k < 2; k++) {
            if (!g_hash_table_contains(nat_seen, names[k])) {
                char *copy = g_strdup(names[k]);
                g_ptr_array_add(s->nats, copy);
                g_hash_table_add(nat_seen, copy);
            }
        }
    }

    for (guint i = 0; i < r->attempts->len; i++) {
        const result_attempt_t *located = r->attempts->pdata[i];
        const result_t *at = located->row;
        if (kind && strcmp(result_kind_name(at), kind) != 0)
            continue;
        agg_add(&s->total, at);
        report_pair_t *p = pair_get(s->pairs, pair_index, at);
        agg_add(&p->agg, at);
        agg_add(&s->classes[p->cls], at);

        /* A scenario's verdict is one kind's: the same name run by two kinds is two. */
        g_autofree char *scenario_key = at->kind ? g_strdup_printf("%s\x1f%s", at->scenario,
                                                                   at->kind)
                                                 : NULL;
        const char *key = scenario_key ? scenario_key : at->scenario;
        report_scenario_t *sc = g_hash_table_lookup(scenario_index, key);
        if (!sc) {
            sc = g_new0(report_scenario_t, 1);
            sc->name = g_strdup(at->scenario);
            sc->kind = g_strdup(result_kind_name(at));
            sc->key = g_strdup(key);
            agg_init(&sc->agg);
            sc->pairs = g_ptr_array_new_with_free_func(pair_free);
            sc->attempts = g_ptr_array_new();
            g_ptr_array_add(s->scenarios, sc);
            g_hash_table_insert(scenario_index, sc->key, sc);
            g_hash_table_insert(scenario_pairs, sc, g_hash_table_new(g_str_hash, g_str_equal));
        }
        agg_add(&sc->agg, at);
        g_ptr_array_add(sc->attempts, (gpointer)located);
        report_pair_t *sp = pair_get(sc->pairs, g_hash_table_lookup(scenario_pairs, sc), at);
        agg_add(&sp->agg, at);

        if (at->outcome == RESULT_DIRECT) {
            gpointer idx;
            if (g_hash_table_lookup_extended(technique_index, at->technique, NULL, &idx)) {
                g_array_index(s->techniques, report_count_t, GPOINTER_TO_UINT(idx)).count++;
            } else {
                report_count_t c = { g_strdup(at->technique), 1 };
                g_hash_table_insert(technique_index, c.name, GUINT_TO_POINTER(s->techniques->len));
                g_array_append_val(s->techniques, c);
            }
        }
    }

    g_ptr_array_sort(s->nats, cmp_known_then_name);
    g_autoptr(GHashTable) rank = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < s->nats->len; i++)
        g_hash_table_insert(rank, s->nats->pdata[i], GINT_TO_POINTER((int)i + 1));
    g_ptr_array_sort_with_data(s->pairs, cmp_pair, rank);
    g_ptr_array_sort(s->scenarios, cmp_scenario);
    g_array_sort(s->techniques, cmp_technique);

    agg_finish(&s->total);
    for (int c = 0; c < PAIR_N_CLASSES; c++)
        agg_finish(&s->classes[c]);
    for (guint i = 0; i < s->pairs->len; i++)
        agg_finish(&((report_pair_t *)s->pairs->pdata[i])->agg);
    for (guint i = 0; i < s->scenarios->len; i++) {
        report_scenario_t *sc = s->scenarios->pdata[i];
        agg_finish(&sc->agg);
        g_ptr_array_sort_with_data(sc->pairs, cmp_pair, rank);
        for (guint j = 0; j < sc->pairs->len; j++)
            agg_finish(&((report_pair_t *)sc->pairs->pdata[j])->agg);
    }
    return s;
}

report_stats_t *report_stats_new(const results_t *r)
{
    return stats_new(r, NULL);
}

report_stats_t *report_stats_new_kind(const results_t *r, const char *kind)
{
    return stats_new(r, kind);
}

const report_pair_t *report_stats_find_pair(const report_stats_t *s, const char *pair)
{
    for (guint i = 0; i < s->pairs->len; i++) {
        const report_pair_t *p = s->pairs->pdata[i];
        if (strcmp(p->pair, pair) == 0)
            return p;
    }
    return NULL;
}

const report_pair_t *report_stats_find(const report_stats_t *s, const char *nat_a,
                                       const char *nat_b)
{
    for (guint i = 0; i < s->pairs->len; i++) {
        const report_pair_t *p = s->pairs->pdata[i];
        if (strcmp(p->nat_a, nat_a) == 0 && strcmp(p->nat_b, nat_b) == 0)
            return p;
    }
    return NULL;
}

const char *report_stats_fmt(char *buf, size_t size, const char *format, double v)
{
    return g_ascii_formatd(buf, (gint)size, format, v);
}
