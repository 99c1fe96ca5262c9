/* The report over several agent kinds (docs/agents.md, docs/report.md): each
 * kind's numbers, its heatmap, the table of pairs by kind, the pairs where
 * kinds differ, summary.json's "kinds" and "differing_pairs"; and natlab's
 * own rows alone giving the page, summary and figures they always gave.
 * Expectations follow from the fixture's counts; the arithmetic behind each
 * differing pair is written next to it. */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "report_fixture.h"
#include "reports/population.h"
#include "reports/report_html.h"
#include "reports/report_kinds.h"
#include "reports/report_plot.h"
#include "reports/report_stats.h"
#include "reports/report_summary.h"
#include "testutil.h"

typedef struct kind_pair {
    const char *kind; /* NULL: natlab's own agent, no "kind" member */
    const char *version;
    fx_pair_t p;
} kind_pair_t;

#define NL(...) { NULL, NULL, { "mx", __VA_ARGS__ } }
#define LN(...) { "libnice", "0.1.22", { "mx-libnice", __VA_ARGS__ } }
#define HD(v, ...) { "hyperdht", v, { "mx-hyperdht", __VA_ARGS__ } }

static const kind_pair_t fixture[] = {
    NL("full-cone", FX_EIM, "full-cone", FX_EIM, 19, 1, 0, 20, 2),
    NL("full-cone", FX_EIM, "symmetric", FX_APDM, 11, 6, 3, 150, 10),
    NL("symmetric", FX_APDM, "symmetric", FX_APDM, 1, 12, 7, 900, 1),
    NL(NULL, FX_PUBLIC, "symmetric", FX_APDM, 8, 2, 0, 40, 3),
    NL("cgnat", FX_EIM, "cgnat", FX_EIM, 30, 20, 0, 30, 1),
    NL("home-router", FX_EIM, "symmetric", FX_APDM, 0, 6, 0, 1, 1),
    LN("full-cone", FX_EIM, "full-cone", FX_EIM, 18, 2, 0, 25, 2),
    LN("full-cone", FX_EIM, "symmetric", FX_APDM, 0, 18, 2, 1, 1),
    LN("symmetric", FX_APDM, "symmetric", FX_APDM, 0, 20, 0, 1, 1),
    LN("cgnat", FX_EIM, "cgnat", FX_EIM, 45, 5, 0, 35, 1),
    LN("no-nat", FX_OPEN, "no-nat", FX_OPEN, 3, 0, 0, 5, 1),
    LN("restricted", FX_ADM, "blocked", FX_BLOCKED, 0, 5, 5, 1, 1),
    HD("6.21.0", NULL, FX_PUBLIC, "symmetric", FX_APDM, 0, 0, 10, 1, 1),
    HD("6.20.1", "home-router", FX_EIM, "symmetric", FX_APDM, 0, 0, 6, 1, 1),
    HD("6.21.0", "restricted", FX_ADM, "blocked", FX_BLOCKED, 0, 0, 10, 1, 1),
};
#define NFIX G_N_ELEMENTS(fixture)
#define NATLAB_ROWS 6 /* the first six are natlab's own */

/* The kinds in the report's order: natlab first, then by name. */
static const char *const kind_order[] = { "natlab", "hyperdht", "libnice" };

/* The pairs where kinds differ (docs/report.md), and how:
 * - full-cone/symmetric, natlab 11/6/3 (mostly direct) and libnice 0/18/2
 *   (mostly relayed); direct 0.55 against 0, pooled 11/40, z = 3.90.
 * - public/symmetric, natlab 8/2/0 (direct) and hyperdht 0/0/10 (failed);
 *   0.8 against 0, pooled 0.4, z = 3.65.
 * - cgnat/cgnat, both mostly direct, 30/50 against 45/50: pooled 0.75,
 *   z = -3.46: by rate only.
 * - home-router/symmetric, natlab 0/6/0 (relayed) and hyperdht 0/0/6
 *   (failed), both never direct: by outcome only.
 * Not differing: full-cone/full-cone (19/20 against 18/20, z = 0.60),
 * symmetric/symmetric (both mostly relayed; 1/20 against 0/20, z = 1.01),
 * restricted/blocked (libnice 0/5/5 has no dominant outcome, hyperdht fails;
 * both never direct), no-nat/no-nat (libnice alone). */
static const struct {
    const char *pair, *a, *b;
    bool by_outcome, by_rate;
} differ_want[] = {
    { "public/symmetric", "natlab", "hyperdht", true, true },
    { "full-cone/symmetric", "natlab", "libnice", true, true },
    { "home-router/symmetric", "natlab", "hyperdht", true, false },
    { "cgnat/cgnat", "natlab", "libnice", false, true },
};

/* A fixture row's JSON with the kind put in front. */
static results_t *results_of(const kind_pair_t *rows, size_t n, uint64_t seed)
{
    GString *text = g_string_new(NULL);
    for (size_t i = 0; i < n; i++) {
        g_autoptr(GPtrArray) lines = fx_lines(&rows[i].p, 1, seed + i);
        for (guint k = 0; k < lines->len; k++) {
            const char *l = lines->pdata[k];
            if (rows[i].kind)
                g_string_append_printf(text, "{\"kind\": \"%s\", \"kind_version\": \"%s\", %s\n",
                                       rows[i].kind, rows[i].version, l + 1);
            else
                g_string_append_printf(text, "%s\n", l);
        }
    }
    results_t *r = results_new();
    g_autoptr(GError) error = NULL;
    if (!results_add_data(r, text->str, text->len, "kinds/results.jsonl", "kinds", &error))
        fprintf(stderr, "fixture: %s\n", error->message);
    g_string_free(text, TRUE);
    return r;
}

static const char *name_of(const char *nat)
{
    return nat ? nat : "public";
}

static char *pair_name(const fx_pair_t *p)
{
    return g_strdup_printf("%s/%s", name_of(p->nat_a), name_of(p->nat_b));
}

static const char *kind_of(const kind_pair_t *row)
{
    return row->kind ? row->kind : "natlab";
}

typedef struct built {
    results_t *r;
    report_stats_t *s;
    population_t *pop;
    report_kinds_t *k;
} built_t;

static built_t build(const kind_pair_t *rows, size_t n)
{
    built_t b;
    b.r = results_of(rows, n, 40);
    b.s = report_stats_new(b.r);
    b.pop = population_new_default();
    b.k = report_kinds_new(b.r, b.s, b.pop);
    return b;
}

static void built_free(built_t *b)
{
    report_kinds_free(b->k);
    population_free(b->pop);
    report_stats_free(b->s);
    results_free(b->r);
}

static void test_kinds_found(void)
{
    built_t b = build(fixture, NFIX);
    CU_ASSERT_TRUE(b.k->by_kind);
    CU_ASSERT_EQUAL_FATAL(b.k->kinds->len, G_N_ELEMENTS(kind_order));
    for (guint i = 0; i < b.k->kinds->len; i++) {
        const report_kind_t *kind = b.k->kinds->pdata[i];
        CU_ASSERT_STRING_EQUAL(kind->name, kind_order[i]);
        g_autofree char *figure = g_strdup_printf("heatmap-%s", kind_order[i]);
        CU_ASSERT_STRING_EQUAL(kind->figure, figure);
        CU_ASSERT_PTR_EQUAL(report_kinds_find(b.k, kind_order[i]), kind);
        size_t attempts = 0, direct = 0;
        for (size_t f = 0; f < NFIX; f++) {
            if (strcmp(kind_of(&fixture[f]), kind->name) == 0) {
                attempts += (size_t)(fixture[f].p.direct + fixture[f].p.relayed +
                                     fixture[f].p.failed);
                direct += (size_t)fixture[f].p.direct;
            }
        }
        CU_ASSERT_EQUAL(kind->stats->total.attempts, attempts);
        CU_ASSERT_EQUAL(kind->stats->total.outcomes[RESULT_DIRECT], direct);
        /* The same axes for every kind: its heatmap cells line up with the others'. */
        CU_ASSERT_EQUAL_FATAL(kind->stats->nats->len, b.s->nats->len);
        for (guint j = 0; j < b.s->nats->len; j++)
            CU_ASSERT_STRING_EQUAL(kind->stats->nats->pdata[j], b.s->nats->pdata[j]);
    }
    const report_kind_t *natlab = b.k->kinds->pdata[0];
    const report_kind_t *hyperdht = b.k->kinds->pdata[1];
    const report_kind_t *libnice = b.k->kinds->pdata[2];
    CU_ASSERT_PTR_NULL(natlab->version);
    CU_ASSERT_STRING_EQUAL(natlab->title, "natlab");
    /* Shards of two builds: both versions, sorted. */
    CU_ASSERT_STRING_EQUAL(hyperdht->version, "6.20.1, 6.21.0");
    CU_ASSERT_STRING_EQUAL(libnice->title, "libnice 0.1.22");
    CU_ASSERT_PTR_NULL(report_kinds_find(b.k, "nebula"));
    /* Every kind's scenarios are its own. */
    CU_ASSERT_EQUAL(b.s->scenarios->len, 3);
    for (guint i = 0; i < b.s->scenarios->len; i++) {
        const report_scenario_t *sc = b.s->scenarios->pdata[i];
        const char *want = strcmp(sc->name, "mx") == 0 ? "natlab" : sc->name + 3;
        CU_ASSERT_STRING_EQUAL(sc->kind, want);
    }
    built_free(&b);
}

static void test_pairs_by_kind(void)
{
    built_t b = build(fixture, NFIX);
    for (guint i = 0; i < b.k->kinds->len; i++) {
        const report_kind_t *kind = b.k->kinds->pdata[i];
        size_t ran = 0;
        for (guint j = 0; j < b.s->pairs->len; j++) {
            const report_pair_t *all = b.s->pairs->pdata[j];
            const fx_pair_t *want = NULL;
            for (size_t f = 0; f < NFIX; f++) {
                g_autofree char *name = pair_name(&fixture[f].p);
                if (strcmp(kind_of(&fixture[f]), kind->name) == 0 &&
                    strcmp(name, all->pair) == 0)
                    want = &fixture[f].p;
            }
            const report_pair_t *got = report_kind_pair(kind, all->pair);
            if (!want) {
                CU_ASSERT_PTR_NULL(got);
                continue;
            }
            ran++;
            CU_ASSERT_PTR_NOT_NULL_FATAL(got);
            CU_ASSERT_EQUAL(got->agg.outcomes[RESULT_DIRECT], (size_t)want->direct);
            CU_ASSERT_EQUAL(got->agg.outcomes[RESULT_RELAYED], (size_t)want->relayed);
            CU_ASSERT_EQUAL(got->agg.outcomes[RESULT_FAILED], (size_t)want->failed);
            CU_ASSERT_TRUE(want->direct ? fabs(got->agg.p50 - fx_percentile(want, 50)) < 1e-9
                                        : isnan(got->agg.p50));
        }
        CU_ASSERT_EQUAL(ran, kind->stats->pairs->len);
    }
    built_free(&b);
}

static void test_dominant_and_noise(void)
{
    report_agg_t a = { 0 }, c = { 0 };
    CU_ASSERT_EQUAL(report_kinds_dominant(&a), RESULT_N_OUTCOMES); /* no attempts */
    a.attempts = 10;
    a.outcomes[RESULT_DIRECT] = 5;
    a.outcomes[RESULT_RELAYED] = 5;
    CU_ASSERT_EQUAL(report_kinds_dominant(&a), RESULT_N_OUTCOMES); /* a tie */
    CU_ASSERT_STRING_EQUAL(report_kinds_dominant_name(RESULT_N_OUTCOMES), "mixed");
    a.outcomes[RESULT_RELAYED] = 3;
    a.outcomes[RESULT_FAILED] = 2;
    CU_ASSERT_EQUAL(report_kinds_dominant(&a), RESULT_DIRECT);
    /* A tie below the most does not matter. */
    a.outcomes[RESULT_DIRECT] = 6;
    a.outcomes[RESULT_RELAYED] = 2;
    CU_ASSERT_EQUAL(report_kinds_dominant(&a), RESULT_DIRECT);
    CU_ASSERT_STRING_EQUAL(report_kinds_dominant_name(RESULT_FAILED), "failed");

    /* z by the formula, on either side of 1.96. */
    double z;
    c.attempts = 3;
    c.outcomes[RESULT_DIRECT] = 3;
    report_agg_t d = { .attempts = 3, .outcomes = { 0, 3, 0 } };
    CU_ASSERT_TRUE(report_kinds_rate_differs(&c, &d, &z)); /* 3/3 against 0/3 */
    CU_ASSERT_TRUE(fabs(z - 1 / sqrt(0.25 * (2.0 / 3))) < 1e-9);
    d.outcomes[RESULT_DIRECT] = 1;
    d.outcomes[RESULT_RELAYED] = 2;
    CU_ASSERT_FALSE(report_kinds_rate_differs(&c, &d, &z)); /* 3/3 against 1/3: z 1.73 */
    CU_ASSERT_TRUE(fabs(z - (1 - 1.0 / 3) / sqrt(4.0 / 6 * 2.0 / 6 * (2.0 / 3))) < 1e-9);
    /* Both always direct: no noise, no difference, z undefined. */
    d.outcomes[RESULT_DIRECT] = 3;
    d.outcomes[RESULT_RELAYED] = 0;
    CU_ASSERT_FALSE(report_kinds_rate_differs(&c, &d, &z));
    CU_ASSERT_TRUE(isnan(z));
    report_agg_t none = { 0 };
    CU_ASSERT_FALSE(report_kinds_rate_differs(&c, &none, &z));
    CU_ASSERT_TRUE(isnan(z));
}

static guint kind_index(const report_kinds_t *k, const char *name)
{
    for (guint i = 0; i < k->kinds->len; i++)
        if (strcmp(((const report_kind_t *)k->kinds->pdata[i])->name, name) == 0)
            return i;
    return G_MAXUINT;
}

static void test_differing_pairs(void)
{
    built_t b = build(fixture, NFIX);
    CU_ASSERT_EQUAL_FATAL(b.k->differ->len, G_N_ELEMENTS(differ_want));
    /* In the report's pair order, which is differ_want's. */
    for (guint i = 0; i < b.k->differ->len; i++) {
        const report_kind_pair_t *kp = b.k->differ->pdata[i];
        CU_ASSERT_STRING_EQUAL(kp->pair->pair, differ_want[i].pair);
        CU_ASSERT_EQUAL_FATAL(kp->diffs->len, 1);
        const report_kind_diff_t *d = &g_array_index(kp->diffs, report_kind_diff_t, 0);
        CU_ASSERT_EQUAL(d->a, kind_index(b.k, differ_want[i].a));
        CU_ASSERT_EQUAL(d->b, kind_index(b.k, differ_want[i].b));
        CU_ASSERT_EQUAL(d->by_outcome, differ_want[i].by_outcome);
        CU_ASSERT_EQUAL(d->by_rate, differ_want[i].by_rate);
    }
    const report_kind_pair_t *cg = b.k->differ->pdata[3];
    double z = g_array_index(cg->diffs, report_kind_diff_t, 0).z;
    CU_ASSERT_TRUE(fabs(z - (0.6 - 0.9) / sqrt(0.75 * 0.25 * (2.0 / 50))) < 1e-9);
    built_free(&b);
}

/* One heatmap per kind, on the report's axes, titled with the kind and its
 * version; no heatmap of every kind pooled. */
static void test_heatmap_per_kind(void)
{
    built_t b = build(fixture, NFIX);
    g_autofree char *script = report_plot_script_kinds(b.s, b.k, "/d", "/out");
    for (guint i = 0; i < b.k->kinds->len; i++) {
        const report_kind_t *kind = b.k->kinds->pdata[i];
        for (int t = 0; t < 2; t++) {
            g_autofree char *out = g_strdup_printf("set output '/out/heatmap-%s.%s'", kind->name,
                                                   t ? "svg" : "png");
            ASSERT_CONTAINS(script, out);
        }
        g_autofree char *title = g_strdup_printf("set title '%s: direct-connection rate",
                                                 kind->title);
        ASSERT_CONTAINS(script, title);
        g_autofree char *data_file = report_plot_heatmap_file(i);
        g_autofree char *data_path = g_strdup_printf("'/d/%s'", data_file);
        ASSERT_CONTAINS(script, data_path);

        /* Its data: one cell per pair it ran, at the report's axes. */
        g_autofree char *data = report_plot_heatmap_data(kind->stats);
        g_auto(GStrv) lines = g_strsplit(data, "\n", -1);
        guint cells = 0;
        for (char **l = lines; *l; l++) {
            int x, y;
            double rate;
            unsigned n;
            if (!**l || **l == '#')
                continue;
            CU_ASSERT_EQUAL_FATAL(sscanf(*l, "%d %d %lf %u", &x, &y, &rate, &n), 4);
            CU_ASSERT_FATAL(x >= 0 && y >= 0 && (guint)x < b.s->nats->len &&
                            (guint)y < b.s->nats->len);
            const report_pair_t *p = report_stats_find(kind->stats, b.s->nats->pdata[y],
                                                       b.s->nats->pdata[x]);
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            CU_ASSERT_EQUAL(n, p->agg.attempts);
            CU_ASSERT_TRUE(fabs(rate - report_agg_rate(&p->agg, RESULT_DIRECT)) < 1e-6);
            cells++;
        }
        CU_ASSERT_EQUAL(cells, kind->stats->pairs->len);
    }
    CU_ASSERT_PTR_NULL(strstr(script, "set output '/out/heatmap.png'"));
    ASSERT_CONTAINS(script, "set output '/out/ttd-cdf.svg'");
    ASSERT_CONTAINS(script, "set output '/out/techniques.svg'");
    built_free(&b);
}

/* The row of a pair in the pairs-by-kind table. */
static char *table_row(const char *page, const char *pair)
{
    g_autofree char *key = g_strdup_printf("<tr data-pair=\"%s\">", pair);
    const char *start = strstr(page, key);
    if (!start)
        return NULL;
    const char *end = strstr(start, "</tr>");
    return end ? g_strndup(start, (gsize)(end - start)) : NULL;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_html_by_kind(void)
{
    built_t b = build(fixture, NFIX);
    population_estimate_t e;
    population_estimate(b.pop, b.s, &e);
    g_autofree char *page = report_html_page_kinds(b.s, b.k, b.r, b.pop, &e);
    ASSERT_CONTAINS(page, "<section id=\"kinds\">");
    ASSERT_CONTAINS(page, "<a href=\"#kinds\">kinds</a>");
    /* A heatmap per kind, titled with it; no pooled one; the other two figures. */
    for (guint i = 0; i < b.k->kinds->len; i++) {
        const report_kind_t *kind = b.k->kinds->pdata[i];
        g_autofree char *img = g_strdup_printf("<img src=\"%s.svg\"", kind->figure);
        ASSERT_CONTAINS(page, img);
        g_autofree char *title = g_strdup_printf("<h3>Success-rate heatmap: %s</h3>", kind->title);
        ASSERT_CONTAINS(page, title);
        g_autofree char *field = g_strdup_printf("<b>%s</b> under the model", kind->title);
        ASSERT_CONTAINS(page, field);
    }
    CU_ASSERT_PTR_NULL(strstr(page, "<img src=\"heatmap.svg\""));
    CU_ASSERT_EQUAL(count(page, "<img "), b.k->kinds->len + REPORT_PLOT_N - 1);
    CU_ASSERT_EQUAL(count(page, "<script"), 1);

    /* The table: every pair, each kind's counts or "not run", differing marked. */
    for (guint j = 0; j < b.s->pairs->len; j++) {
        const report_pair_t *all = b.s->pairs->pdata[j];
        g_autofree char *row = table_row(page, all->pair);
        CU_ASSERT_PTR_NOT_NULL_FATAL(row);
        const char *at = row;
        for (guint i = 0; i < b.k->kinds->len; i++) {
            const report_kind_t *kind = b.k->kinds->pdata[i];
            const report_pair_t *p = report_kind_pair(kind, all->pair);
            g_autofree char *cell =
                p ? g_strdup_printf("data-kind=\"%s\"><span class=\"direct\">%zu</span> / <span "
                                    "class=\"relayed\">%zu</span> / <span class=\"failed\">%zu"
                                    "</span>",
                                    kind->name, p->agg.outcomes[RESULT_DIRECT],
                                    p->agg.outcomes[RESULT_RELAYED], p->agg.outcomes[RESULT_FAILED])
                  : g_strdup_printf("data-kind=\"%s\">not run", kind->name);
            const char *found = strstr(at, cell);
            if (!found)
                fprintf(stderr, "%s: no '%s' after column %u\n", all->pair, cell, i);
            CU_ASSERT_PTR_NOT_NULL_FATAL(found); /* and in the kinds' order */
            at = found + 1;
        }
        bool differs = false;
        for (size_t w = 0; w < G_N_ELEMENTS(differ_want); w++)
            differs |= strcmp(differ_want[w].pair, all->pair) == 0;
        CU_ASSERT_EQUAL(strstr(row, "href=\"#kinds-differ\"") != NULL, differs);
    }
    /* Where they differ: exactly those pairs, each saying how. */
    CU_ASSERT_EQUAL(count(page, "<tr data-differ="), G_N_ELEMENTS(differ_want));
    for (size_t w = 0; w < G_N_ELEMENTS(differ_want); w++) {
        g_autofree char *tr = g_strdup_printf("<tr data-differ=\"%s\">", differ_want[w].pair);
        ASSERT_CONTAINS(page, tr);
    }
    ASSERT_CONTAINS(page, "natlab and hyperdht: mostly direct against mostly failed; direct "
                          "80.0% against 0.0%, beyond noise (z = 3.65)");
    ASSERT_CONTAINS(page, "natlab and libnice: direct 60.0% against 90.0%, beyond noise "
                          "(z = -3.46)");
    ASSERT_CONTAINS(page, "natlab and hyperdht: mostly relayed against mostly failed</td>");
    ASSERT_CONTAINS(page, "4 of 7 pairs that two or more kinds ran differ");
    /* Scenarios stay per scenario, each saying its kind. */
    ASSERT_CONTAINS(page, "mx-libnice <span class=\"note\">(libnice)</span></h3>");
    built_free(&b);
}

static JsonObject *parse(JsonParser *parser, const char *text)
{
    g_autoptr(GError) error = NULL;
    if (!json_parser_load_from_data(parser, text, -1, &error))
        return NULL;
    return json_node_get_object(json_parser_get_root(parser));
}

static void test_summary_by_kind(void)
{
    built_t b = build(fixture, NFIX);
    population_estimate_t e;
    population_estimate(b.pop, b.s, &e);
    g_autofree char *text = report_summary_json_kinds(b.s, b.k, b.r, b.pop, &e);
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *root = parse(parser, text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    JsonArray *kinds = json_object_get_array_member(root, "kinds");
    CU_ASSERT_PTR_NOT_NULL_FATAL(kinds);
    CU_ASSERT_EQUAL_FATAL(json_array_get_length(kinds), G_N_ELEMENTS(kind_order));
    for (guint i = 0; i < json_array_get_length(kinds); i++) {
        JsonObject *o = json_array_get_object_element(kinds, i);
        const report_kind_t *kind = b.k->kinds->pdata[i];
        CU_ASSERT_STRING_EQUAL(json_object_get_string_member(o, "kind"), kind_order[i]);
        CU_ASSERT_EQUAL(json_object_get_null_member(o, "version"), kind->version == NULL);
        if (kind->version) {
            CU_ASSERT_STRING_EQUAL(json_object_get_string_member(o, "version"), kind->version);
        }
        CU_ASSERT_STRING_EQUAL(json_object_get_string_member(o, "heatmap"), kind->figure);
        CU_ASSERT_EQUAL(json_object_get_int_member(o, "attempts"),
                        (gint64)kind->stats->total.attempts);
        JsonObject *pop = json_object_get_object_member(o, "population");
        CU_ASSERT_TRUE(fabs(json_object_get_double_member(pop, "expected_direct_rate") -
                            kind->est.direct) <= 0.00005);
        JsonArray *pairs = json_object_get_array_member(o, "pairs");
        CU_ASSERT_EQUAL_FATAL(json_array_get_length(pairs), kind->stats->pairs->len);
        for (guint j = 0; j < json_array_get_length(pairs); j++) {
            JsonObject *po = json_array_get_object_element(pairs, j);
            const fx_pair_t *want = NULL;
            for (size_t f = 0; f < NFIX; f++) {
                g_autofree char *name = pair_name(&fixture[f].p);
                if (strcmp(kind_of(&fixture[f]), kind_order[i]) == 0 &&
                    strcmp(name, json_object_get_string_member(po, "pair")) == 0)
                    want = &fixture[f].p;
            }
            CU_ASSERT_PTR_NOT_NULL_FATAL(want);
            CU_ASSERT_EQUAL(json_object_get_int_member(po, "direct"), want->direct);
            CU_ASSERT_EQUAL(json_object_get_int_member(po, "relayed"), want->relayed);
            CU_ASSERT_EQUAL(json_object_get_int_member(po, "failed"), want->failed);
        }
    }
    JsonArray *differ = json_object_get_array_member(root, "differing_pairs");
    CU_ASSERT_PTR_NOT_NULL_FATAL(differ);
    CU_ASSERT_EQUAL_FATAL(json_array_get_length(differ), G_N_ELEMENTS(differ_want));
    for (guint i = 0; i < json_array_get_length(differ); i++) {
        JsonObject *o = json_array_get_object_element(differ, i);
        CU_ASSERT_STRING_EQUAL(json_object_get_string_member(o, "pair"), differ_want[i].pair);
        JsonArray *ds = json_object_get_array_member(o, "differences");
        CU_ASSERT_EQUAL_FATAL(json_array_get_length(ds), 1);
        JsonObject *d = json_array_get_object_element(ds, 0);
        JsonArray *two = json_object_get_array_member(d, "kinds");
        CU_ASSERT_STRING_EQUAL(json_array_get_string_element(two, 0), differ_want[i].a);
        CU_ASSERT_STRING_EQUAL(json_array_get_string_element(two, 1), differ_want[i].b);
        CU_ASSERT_EQUAL(json_object_get_boolean_member(d, "dominant_outcome"),
                        differ_want[i].by_outcome);
        CU_ASSERT_EQUAL(json_object_get_boolean_member(d, "direct_rate"), differ_want[i].by_rate);
        /* Each kind that ran the pair, with its counts and dominant outcome. */
        JsonArray *per = json_object_get_array_member(o, "kinds");
        CU_ASSERT_EQUAL(json_array_get_length(per), 2);
    }
    JsonObject *first = json_array_get_object_element(differ, 0); /* public/symmetric */
    JsonObject *hd = json_array_get_object_element(json_object_get_array_member(first, "kinds"), 1);
    CU_ASSERT_STRING_EQUAL(json_object_get_string_member(hd, "kind"), "hyperdht");
    CU_ASSERT_EQUAL(json_object_get_int_member(hd, "failed"), 10);
    CU_ASSERT_STRING_EQUAL(json_object_get_string_member(hd, "dominant"), "failed");
    /* Scenarios say their kind. */
    JsonArray *sc = json_object_get_array_member(root, "scenarios");
    for (guint i = 0; i < json_array_get_length(sc); i++)
        CU_ASSERT_TRUE(json_object_has_member(json_array_get_object_element(sc, i), "kind"));
    built_free(&b);
}

/* natlab's own rows alone: the page, summary.json and the figures are the
 * ones the report made before kinds existed. */
static void test_natlab_only_unchanged(void)
{
    built_t b = build(fixture, NATLAB_ROWS);
    CU_ASSERT_FALSE(b.k->by_kind);
    CU_ASSERT_EQUAL(b.k->kinds->len, 1);
    population_estimate_t e;
    population_estimate(b.pop, b.s, &e);
    g_autofree char *page = report_html_page(b.s, b.r, b.pop, &e);
    g_autofree char *page_k = report_html_page_kinds(b.s, b.k, b.r, b.pop, &e);
    CU_ASSERT_STRING_EQUAL(page_k, page);
    CU_ASSERT_PTR_NULL(strstr(page_k, "id=\"kinds\""));
    g_autofree char *sum = report_summary_json(b.s, b.r, b.pop, &e);
    g_autofree char *sum_k = report_summary_json_kinds(b.s, b.k, b.r, b.pop, &e);
    CU_ASSERT_STRING_EQUAL(sum_k, sum);
    CU_ASSERT_PTR_NULL(strstr(sum_k, "\"kinds\""));
    CU_ASSERT_PTR_NULL(strstr(sum_k, "\"kind\""));
    g_autofree char *plot = report_plot_script(b.s, "/d", "/out");
    g_autofree char *plot_k = report_plot_script_kinds(b.s, b.k, "/d", "/out");
    CU_ASSERT_STRING_EQUAL(plot_k, plot);
    ASSERT_CONTAINS(plot_k, "set output '/out/heatmap.png'");
    built_free(&b);
}

/* One kind other than natlab alone is still shown as that kind. */
static void test_one_other_kind(void)
{
    built_t b = build(fixture + NATLAB_ROWS, 6); /* libnice's rows */
    CU_ASSERT_TRUE(b.k->by_kind);
    CU_ASSERT_EQUAL_FATAL(b.k->kinds->len, 1);
    CU_ASSERT_STRING_EQUAL(((report_kind_t *)b.k->kinds->pdata[0])->name, "libnice");
    CU_ASSERT_EQUAL(b.k->differ->len, 0);
    population_estimate_t e;
    population_estimate(b.pop, b.s, &e);
    g_autofree char *page = report_html_page_kinds(b.s, b.k, b.r, b.pop, &e);
    ASSERT_CONTAINS(page, "<img src=\"heatmap-libnice.svg\"");
    ASSERT_CONTAINS(page, "0 of 0 pairs that two or more kinds ran differ");
    CU_ASSERT_PTR_NULL(strstr(page, "<tr data-differ="));
    built_free(&b);
}

/* The same attempt (scenario, pair, number, seed) of two kinds is two
 * attempts, not a shard given twice; the scenario is two scenarios. */
static void test_same_attempt_two_kinds(void)
{
    static const kind_pair_t twins[] = {
        { NULL, NULL, { "matrix", "full-cone", FX_EIM, "symmetric", FX_APDM, 3, 1, 0, 10, 1 } },
        { "libnice", "0.1.22",
          { "matrix", "full-cone", FX_EIM, "symmetric", FX_APDM, 3, 1, 0, 10, 1 } },
    };
    built_t b = build(twins, 2);
    CU_ASSERT_EQUAL(b.r->attempts->len, 8);
    CU_ASSERT_EQUAL_FATAL(b.s->scenarios->len, 2);
    const report_scenario_t *s0 = b.s->scenarios->pdata[0], *s1 = b.s->scenarios->pdata[1];
    CU_ASSERT_STRING_EQUAL(s0->name, "matrix");
    CU_ASSERT_STRING_EQUAL(s1->name, "matrix");
    CU_ASSERT_STRING_EQUAL(s0->kind, "libnice"); /* by name, then kind */
    CU_ASSERT_STRING_EQUAL(s1->kind, "natlab");
    CU_ASSERT_EQUAL(s0->agg.attempts, 4);
    CU_ASSERT_EQUAL(s1->agg.attempts, 4);
    built_free(&b);
}

/* Kind names come from rows: file names stay plain and distinct, titles
 * are quoted for gnuplot and escaped for the page. */
static void test_odd_kind_names(void)
{
    static const kind_pair_t odd[] = {
        { "My Stack", "it's 1.0",
          { "a", "full-cone", FX_EIM, "symmetric", FX_APDM, 1, 1, 0, 10, 1 } },
        { "my_stack", "<2>", { "b", "full-cone", FX_EIM, "symmetric", FX_APDM, 1, 1, 0, 10, 1 } },
    };
    built_t b = build(odd, 2);
    CU_ASSERT_EQUAL_FATAL(b.k->kinds->len, 2);
    CU_ASSERT_STRING_EQUAL(((report_kind_t *)b.k->kinds->pdata[0])->figure, "heatmap-my_stack");
    CU_ASSERT_STRING_EQUAL(((report_kind_t *)b.k->kinds->pdata[1])->figure, "heatmap-my_stack-2");
    g_autofree char *script = report_plot_script_kinds(b.s, b.k, "/d", "/out");
    ASSERT_CONTAINS(script, "set title 'My Stack it''s 1.0: direct");
    population_estimate_t e;
    population_estimate(b.pop, b.s, &e);
    g_autofree char *page = report_html_page_kinds(b.s, b.k, b.r, b.pop, &e);
    CU_ASSERT_PTR_NULL(strstr(page, "<2>"));
    ASSERT_CONTAINS(page, "my_stack &lt;2&gt;");
    ASSERT_CONTAINS(page, "My Stack it&#39;s 1.0");
    built_free(&b);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "kinds: order, versions, totals, shared axes", test_kinds_found },
        { "each kind's numbers per pair", test_pairs_by_kind },
        { "dominant outcome and the noise test", test_dominant_and_noise },
        { "the pairs where kinds differ, and how", test_differing_pairs },
        { "one heatmap per kind", test_heatmap_per_kind },
        { "page: kinds, pairs by kind, where they differ", test_html_by_kind },
        { "summary.json: kinds and differing_pairs", test_summary_by_kind },
        { "natlab's rows alone: as before, byte for byte", test_natlab_only_unchanged },
        { "one kind other than natlab", test_one_other_kind },
        { "the same attempt of two kinds is two", test_same_attempt_two_kinds },
        { "odd kind names: files, gnuplot, HTML", test_odd_kind_names },
        { NULL, NULL },
    };
    return test_run_suite("report_kinds", cases);
}
