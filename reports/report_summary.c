#include "report_summary.h"

#include "common/jsontidy.h"

/* Shares to 4 decimals and milliseconds to 3: more would be noise. */
#define SHARE 4
#define MS 3

static void begin(JsonBuilder *b, const char *key, bool array)
{
    if (key)
        json_builder_set_member_name(b, key);
    if (array)
        json_builder_begin_array(b);
    else
        json_builder_begin_object(b);
}

static void add_agg(JsonBuilder *b, const report_agg_t *a)
{
    jsontidy_add_int(b, "attempts", (int64_t)a->attempts);
    jsontidy_add_int(b, "direct", (int64_t)a->outcomes[RESULT_DIRECT]);
    jsontidy_add_int(b, "relayed", (int64_t)a->outcomes[RESULT_RELAYED]);
    jsontidy_add_int(b, "failed", (int64_t)a->outcomes[RESULT_FAILED]);
    jsontidy_add_rounded(b, "direct_rate", report_agg_rate(a, RESULT_DIRECT), SHARE);
    jsontidy_add_rounded(b, "relayed_rate", report_agg_rate(a, RESULT_RELAYED), SHARE);
    jsontidy_add_rounded(b, "failed_rate", report_agg_rate(a, RESULT_FAILED), SHARE);
    jsontidy_add_rounded(b, "time_to_direct_p50_ms", a->p50, MS);
    jsontidy_add_rounded(b, "time_to_direct_p95_ms", a->p95, MS);
}

static void add_pair_names(JsonBuilder *b, const report_pair_t *p);

static void add_pairs(JsonBuilder *b, const GPtrArray *pairs)
{
    begin(b, "pairs", true);
    for (guint i = 0; i < pairs->len; i++) {
        const report_pair_t *p = pairs->pdata[i];
        begin(b, NULL, false);
        add_pair_names(b, p);
        add_agg(b, &p->agg);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static void add_estimate(JsonBuilder *b, const population_estimate_t *e)
{
    jsontidy_add_rounded(b, "expected_direct_rate", e->direct, SHARE);
    jsontidy_add_rounded(b, "expected_direct_rate_se", e->direct_se, SHARE);
    jsontidy_add_rounded(b, "expected_relayed_rate", e->relayed, SHARE);
    jsontidy_add_rounded(b, "expected_failed_rate", e->failed, SHARE);
    jsontidy_add_rounded(b, "coverage", e->coverage, SHARE);
    jsontidy_add_int(b, "pairs_used", (int64_t)e->cells);
}

static void add_pair_names(JsonBuilder *b, const report_pair_t *p)
{
    jsontidy_add_string(b, "pair", p->pair);
    jsontidy_add_string(b, "nat_a", p->nat_a);
    jsontidy_add_string(b, "nat_b", p->nat_b);
    jsontidy_add_string(b, "class", report_stats_class_name(p->cls));
}

static void add_kinds(JsonBuilder *b, const report_kinds_t *k)
{
    begin(b, "kinds", true);
    for (guint i = 0; i < k->kinds->len; i++) {
        const report_kind_t *kind = k->kinds->pdata[i];
        begin(b, NULL, false);
        jsontidy_add_string(b, "kind", kind->name);
        jsontidy_add_string(b, "version", kind->version);
        jsontidy_add_string(b, "heatmap", kind->figure);
        add_agg(b, &kind->stats->total);
        begin(b, "population", false);
        add_estimate(b, &kind->est);
        json_builder_end_object(b);
        begin(b, "pairs", true);
        for (guint j = 0; j < kind->stats->pairs->len; j++) {
            const report_pair_t *p = kind->stats->pairs->pdata[j];
            begin(b, NULL, false);
            add_pair_names(b, p);
            add_agg(b, &p->agg);
            jsontidy_add_string(b, "dominant",
                                report_kinds_dominant_name(report_kinds_dominant(&p->agg)));
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);

    begin(b, "differing_pairs", true);
    for (guint i = 0; i < k->differ->len; i++) {
        const report_kind_pair_t *kp = k->differ->pdata[i];
        begin(b, NULL, false);
        add_pair_names(b, kp->pair);
        begin(b, "kinds", true);
        for (guint j = 0; j < k->kinds->len; j++) {
            const report_kind_t *kind = k->kinds->pdata[j];
            const report_pair_t *p = report_kind_pair(kind, kp->pair->pair);
            if (!p)
                continue;
            begin(b, NULL, false);
            jsontidy_add_string(b, "kind", kind->name);
            jsontidy_add_int(b, "attempts", (int64_t)p->agg.attempts);
            jsontidy_add_int(b, "direct", (int64_t)p->agg.outcomes[RESULT_DIRECT]);
            jsontidy_add_int(b, "relayed", (int64_t)p->agg.outcomes[RESULT_RELAYED]);
            jsontidy_add_int(b, "failed", (int64_t)p->agg.outcomes[RESULT_FAILED]);
            jsontidy_add_rounded(b, "direct_rate", report_agg_rate(&p->agg, RESULT_DIRECT), SHARE);
            jsontidy_add_rounded(b, "time_to_direct_p50_ms", p->agg.p50, MS);
            jsontidy_add_string(b, "dominant",
                                report_kinds_dominant_name(report_kinds_dominant(&p->agg)));
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        begin(b, "differences", true);
        for (guint j = 0; j < kp->diffs->len; j++) {
            const report_kind_diff_t *d = &g_array_index(kp->diffs, report_kind_diff_t, j);
            begin(b, NULL, false);
            begin(b, "kinds", true);
            json_builder_add_string_value(b, ((report_kind_t *)k->kinds->pdata[d->a])->name);
            json_builder_add_string_value(b, ((report_kind_t *)k->kinds->pdata[d->b])->name);
            json_builder_end_array(b);
            json_builder_set_member_name(b, "dominant_outcome");
            json_builder_add_boolean_value(b, d->by_outcome);
            json_builder_set_member_name(b, "direct_rate");
            json_builder_add_boolean_value(b, d->by_rate);
            jsontidy_add_rounded(b, "z", d->z, 2);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

char *report_summary_json(const report_stats_t *s, const results_t *r, const population_t *p,
                          const population_estimate_t *e)
{
    return report_summary_json_kinds(s, NULL, r, p, e);
}

char *report_summary_json_kinds(const report_stats_t *s, const report_kinds_t *k,
                                const results_t *r, const population_t *p,
                                const population_estimate_t *e)
{
    bool by_kind = k && k->by_kind;
    g_autoptr(JsonBuilder) b = json_builder_new();
    begin(b, NULL, false);
    jsontidy_add_string(b, "generator", "natlab report " NATLAB_VERSION);
    begin(b, "sources", true);
    for (guint i = 0; i < r->origins->len; i++)
        json_builder_add_string_value(b, r->origins->pdata[i]);
    json_builder_end_array(b);

    begin(b, "total", false);
    add_agg(b, &s->total);
    json_builder_end_object(b);

    begin(b, "classes", true);
    for (int c = 0; c < PAIR_N_CLASSES; c++) {
        begin(b, NULL, false);
        jsontidy_add_string(b, "class", report_stats_class_name((pair_class_t)c));
        add_agg(b, &s->classes[c]);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);

    add_pairs(b, s->pairs);

    begin(b, "techniques", false);
    for (guint i = 0; i < s->techniques->len; i++) {
        const report_count_t *c = &g_array_index(s->techniques, report_count_t, i);
        jsontidy_add_int(b, c->name, (int64_t)c->count);
    }
    json_builder_end_object(b);

    begin(b, "scenarios", true);
    for (guint i = 0; i < s->scenarios->len; i++) {
        const report_scenario_t *sc = s->scenarios->pdata[i];
        begin(b, NULL, false);
        jsontidy_add_string(b, "scenario", sc->name);
        if (by_kind)
            jsontidy_add_string(b, "kind", sc->kind);
        add_agg(b, &sc->agg);
        add_pairs(b, sc->pairs);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);

    if (by_kind)
        add_kinds(b, k);

    begin(b, "population", false);
    jsontidy_add_string(b, "model", p->name);
    jsontidy_add_string(b, "file", p->origin);
    begin(b, "weights", false);
    for (guint i = 0; i < p->nats->len; i++)
        jsontidy_add_rounded(b, p->nats->pdata[i], g_array_index(p->weights, double, i), SHARE);
    json_builder_end_object(b);
    add_estimate(b, e);
    json_builder_end_object(b);

    size_t n;
    const population_published_t *pub = population_published(&n);
    begin(b, "published", true);
    for (size_t i = 0; i < n; i++) {
        begin(b, NULL, false);
        jsontidy_add_string(b, "source", pub[i].who);
        jsontidy_add_string(b, "measured", pub[i].what);
        jsontidy_add_string(b, "figure", pub[i].shown);
        jsontidy_add_rounded(b, "direct_low", pub[i].low, SHARE);
        jsontidy_add_rounded(b, "direct_high", pub[i].high, SHARE);
        jsontidy_add_string(b, "url", pub[i].url);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    return jsontidy_pretty(root);
}
