/* What the report computes from attempts: per pair, class and scenario
 * counts, nearest-rank percentiles, techniques, the population estimate, the
 * figures' data, summary.json and the page. Expectations come from how the
 * fixture was built (report_fixture.h), never from a stored answer. */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "common/percentile.h"
#include "common/rng.h"
#include "natsim/nat_profile.h"
#include "report_fixture.h"
#include "reports/population.h"
#include "reports/report_path.h"
#include "reports/report_html.h"
#include "reports/report_plot.h"
#include "reports/report_stats.h"
#include "reports/report_summary.h"
#include "testutil.h"

static const fx_pair_t pairs[] = {
    { NULL, "full-cone", FX_EIM, "full-cone", FX_EIM, 19, 1, 0, 20, 2 },
    { NULL, "full-cone", FX_EIM, "symmetric", FX_APDM, 11, 6, 3, 150, 10 },
    { NULL, "symmetric", FX_APDM, "full-cone", FX_EIM, 5, 4, 1, 300, 7 },
    { NULL, "symmetric", FX_APDM, "symmetric", FX_APDM, 1, 12, 7, 900, 1 },
    { NULL, NULL, FX_PUBLIC, "symmetric", FX_APDM, 8, 2, 0, 40, 3 },
    { NULL, "restricted", FX_ADM, "blocked", FX_BLOCKED, 0, 5, 5, 1, 1 },
    { "double-nat", "full-cone", FX_EIM, "symmetric", FX_APDM, 3, 0, 2, 500, 50 },
};
#define NPAIRS G_N_ELEMENTS(pairs)

static bool close_to(double a, double b)
{
    return (isnan(a) && isnan(b)) || fabs(a - b) < 1e-9;
}

/* Sums over the fixture's pairs that match a predicate. */
typedef struct sums {
    size_t attempts, direct, relayed, failed;
} sums_t;

static void add(sums_t *s, const fx_pair_t *p)
{
    s->attempts += (size_t)(p->direct + p->relayed + p->failed);
    s->direct += (size_t)p->direct;
    s->relayed += (size_t)p->relayed;
    s->failed += (size_t)p->failed;
}

static bool side_easy(const char *profile)
{
    return strcmp(profile, FX_EIM) == 0 || strcmp(profile, FX_PUBLIC) == 0 ||
           strcmp(profile, FX_OPEN) == 0 || strcmp(profile, FX_FIREWALL) == 0;
}

static const char *name_of(const char *nat)
{
    return nat ? nat : "public";
}

static sums_t pair_sums(const char *pair_name)
{
    sums_t s = { 0 };
    for (size_t i = 0; i < NPAIRS; i++) {
        g_autofree char *name = g_strdup_printf("%s/%s", name_of(pairs[i].nat_a),
                                                name_of(pairs[i].nat_b));
        if (strcmp(name, pair_name) == 0)
            add(&s, &pairs[i]);
    }
    return s;
}

static void test_pairs_classes_total(void)
{
    for (guint shards = 1; shards <= 4; shards++) {
        g_autoptr(results_t) r = fx_results(pairs, NPAIRS, shards, 100 + shards);
        g_autoptr(report_stats_t) s = report_stats_new(r);
        sums_t total = { 0 }, cls[PAIR_N_CLASSES] = { { 0 } };
        for (size_t i = 0; i < NPAIRS; i++) {
            add(&total, &pairs[i]);
            add(&cls[report_stats_pair_class(side_easy(pairs[i].profile_a),
                                             side_easy(pairs[i].profile_b))],
                &pairs[i]);
        }
        CU_ASSERT_EQUAL(s->total.attempts, total.attempts);
        CU_ASSERT_EQUAL(s->total.outcomes[RESULT_DIRECT], total.direct);
        CU_ASSERT_EQUAL(s->total.outcomes[RESULT_RELAYED], total.relayed);
        CU_ASSERT_EQUAL(s->total.outcomes[RESULT_FAILED], total.failed);
        for (int c = 0; c < PAIR_N_CLASSES; c++) {
            CU_ASSERT_EQUAL(s->classes[c].attempts, cls[c].attempts);
            CU_ASSERT_EQUAL(s->classes[c].outcomes[RESULT_DIRECT], cls[c].direct);
            CU_ASSERT_EQUAL(s->classes[c].ttd->len, cls[c].direct);
        }
        /* The two scenarios' pair full-cone/symmetric is one pair across scenarios. */
        CU_ASSERT_EQUAL(s->pairs->len, NPAIRS - 1);
        for (guint i = 0; i < s->pairs->len; i++) {
            const report_pair_t *p = s->pairs->pdata[i];
            sums_t want = pair_sums(p->pair);
            CU_ASSERT_EQUAL(p->agg.attempts, want.attempts);
            CU_ASSERT_EQUAL(p->agg.outcomes[RESULT_DIRECT], want.direct);
            CU_ASSERT_EQUAL(p->agg.outcomes[RESULT_RELAYED], want.relayed);
            CU_ASSERT_EQUAL(p->agg.outcomes[RESULT_FAILED], want.failed);
            CU_ASSERT_TRUE(close_to(report_agg_rate(&p->agg, RESULT_DIRECT),
                                    (double)want.direct / (double)want.attempts));
        }
        CU_ASSERT_EQUAL(s->scenarios->len, 2);
    }
}

static void test_pair_percentiles(void)
{
    g_autoptr(results_t) r = fx_results(pairs, NPAIRS, 3, 7);
    g_autoptr(report_stats_t) s = report_stats_new(r);
    /* Per scenario every pair is one fixture pair, so its ramp is known. */
    for (guint i = 0; i < s->scenarios->len; i++) {
        const report_scenario_t *sc = s->scenarios->pdata[i];
        for (guint j = 0; j < sc->pairs->len; j++) {
            const report_pair_t *p = sc->pairs->pdata[j];
            const fx_pair_t *f = NULL;
            for (size_t k = 0; k < NPAIRS; k++) {
                if (strcmp(name_of(pairs[k].nat_a), p->nat_a) == 0 &&
                    strcmp(name_of(pairs[k].nat_b), p->nat_b) == 0 &&
                    strcmp(pairs[k].scenario ? pairs[k].scenario : "matrix", sc->name) == 0)
                    f = &pairs[k];
            }
            CU_ASSERT_PTR_NOT_NULL_FATAL(f);
            if (f->direct == 0) {
                CU_ASSERT_TRUE(isnan(p->agg.p50) && isnan(p->agg.p95));
                continue;
            }
            CU_ASSERT_TRUE(close_to(p->agg.p50, fx_percentile(f, 50)));
            CU_ASSERT_TRUE(close_to(p->agg.p95, fx_percentile(f, 95)));
        }
    }
}

/* The definition, checked on random data: the result is a value of the
 * set, at least p% of the values are <= it, and fewer than p% are < it. */
static void test_percentile_definition(void)
{
    rng_t rng;
    rng_seed(&rng, 2026);
    for (int round = 0; round < 300; round++) {
        size_t n = 1 + rng_below(&rng, 40);
        double v[40];
        for (size_t i = 0; i < n; i++)
            v[i] = (double)rng_below(&rng, 20); /* ties on purpose */
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
                double t = v[j];
                v[j] = v[j - 1];
                v[j - 1] = t;
            }
        double p = 1 + rng_below(&rng, 100);
        double got = percentile_nearest_rank(v, n, p);
        size_t le = 0, lt = 0;
        bool member = false;
        for (size_t i = 0; i < n; i++) {
            le += v[i] <= got;
            lt += v[i] < got;
            member |= v[i] == got;
        }
        CU_ASSERT_TRUE(member);
        CU_ASSERT_TRUE((double)le >= p / 100 * (double)n - 1e-9);
        CU_ASSERT_TRUE((double)lt < p / 100 * (double)n);
    }
    CU_ASSERT_TRUE(isnan(percentile_nearest_rank(NULL, 0, 50)));
}

static void test_techniques(void)
{
    g_autoptr(results_t) r = fx_results(pairs, NPAIRS, 2, 8);
    g_autoptr(report_stats_t) s = report_stats_new(r);
    size_t want[3] = { 0 }, sum = 0;
    for (size_t i = 0; i < NPAIRS; i++)
        for (int k = 0; k < pairs[i].direct; k++)
            want[k % 3]++;
    CU_ASSERT_EQUAL(s->techniques->len, 3);
    for (guint i = 0; i < s->techniques->len; i++) {
        const report_count_t *c = &g_array_index(s->techniques, report_count_t, i);
        CU_ASSERT_STRING_EQUAL(c->name, fx_techniques[i]); /* the agent's order */
        CU_ASSERT_EQUAL(c->count, want[i]);
        sum += c->count;
    }
    CU_ASSERT_EQUAL(sum, s->total.outcomes[RESULT_DIRECT]);
}

static void test_axes_order(void)
{
    g_autoptr(results_t) r = fx_results(pairs, NPAIRS, 1, 9);
    g_autoptr(report_stats_t) s = report_stats_new(r);
    /* Names natlab knows first, easiest first; others after, by name. */
    const char *want[] = { "public", "full-cone", "symmetric", "blocked", "restricted" };
    CU_ASSERT_EQUAL_FATAL(s->nats->len, G_N_ELEMENTS(want));
    for (size_t i = 0; i < G_N_ELEMENTS(want); i++)
        CU_ASSERT_STRING_EQUAL(s->nats->pdata[i], want[i]);
}

static population_t *population_from(const char *text)
{
    g_autoptr(GError) error = NULL;
    population_t *p = population_load_data(text, strlen(text), "test.pop", &error);
    if (!p)
        fprintf(stderr, "population: %s\n", error->message);
    return p;
}

/* The estimate by its definition, from the fixture's counts. */
static void test_population_estimate(void)
{
    g_autoptr(results_t) r = fx_results(pairs, NPAIRS, 2, 10);
    g_autoptr(report_stats_t) s = report_stats_new(r);
    const double w_fc = 3, w_sym = 1, w_pub = 0, w_other = 4; /* "other" never measured */
    g_autofree char *text = g_strdup_printf("[weights]\nfull-cone = %g\nsymmetric = %g\n"
                                            "public = %g\nother = %g\n",
                                            w_fc, w_sym, w_pub, w_other);
    g_autoptr(population_t) pop = population_from(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pop);
    double total = w_fc + w_sym + w_pub + w_other;
    double fc = w_fc / total, sym = w_sym / total;
    CU_ASSERT_TRUE(close_to(population_weight(pop, "full-cone"), fc));
    CU_ASSERT_TRUE(close_to(population_weight(pop, "nobody"), 0));

    /* Cells: {fc,fc}, {fc,sym} (both orders and both scenarios pooled), {sym,sym}. */
    sums_t ff = { 0 }, fs = { 0 }, ss = { 0 };
    for (size_t i = 0; i < NPAIRS; i++) {
        const char *a = name_of(pairs[i].nat_a), *b = name_of(pairs[i].nat_b);
        bool afc = !strcmp(a, "full-cone"), bfc = !strcmp(b, "full-cone");
        bool asy = !strcmp(a, "symmetric"), bsy = !strcmp(b, "symmetric");
        if (afc && bfc)
            add(&ff, &pairs[i]);
        else if ((afc && bsy) || (asy && bfc))
            add(&fs, &pairs[i]);
        else if (asy && bsy)
            add(&ss, &pairs[i]);
    }
    double W[3] = { fc * fc, 2 * fc * sym, sym * sym };
    const sums_t *c[3] = { &ff, &fs, &ss };
    double cov = 0, d = 0, rel = 0, var = 0;
    for (int i = 0; i < 3; i++) {
        double n = (double)c[i]->attempts, pd = (double)c[i]->direct / n;
        cov += W[i];
        d += W[i] * pd;
        rel += W[i] * (double)c[i]->relayed / n;
        var += W[i] * W[i] * pd * (1 - pd) / n;
    }
    population_estimate_t e;
    population_estimate(pop, s, &e);
    CU_ASSERT_EQUAL(e.cells, 3);
    CU_ASSERT_TRUE(close_to(e.coverage, cov));
    CU_ASSERT_TRUE(close_to(e.direct, d / cov));
    CU_ASSERT_TRUE(close_to(e.relayed, rel / cov));
    CU_ASSERT_TRUE(close_to(e.direct + e.relayed + e.failed, 1));
    CU_ASSERT_TRUE(close_to(e.direct_se, sqrt(var) / cov));

    /* Nothing weighted was measured: no estimate, and it says so. */
    g_autoptr(population_t) none = population_from("[weights]\nother = 1\n");
    population_estimate(none, s, &e);
    CU_ASSERT_TRUE(isnan(e.direct));
    CU_ASSERT_EQUAL(e.cells, 0);
    CU_ASSERT_TRUE(close_to(e.coverage, 0));
}

/* Networks that let no UDP out are peers like any other: their pairs count
 * whatever the outcome (relayed over TCP is relayed, failed is failed), and
 * only a pair nobody measured is left out of the coverage. */
static const fx_pair_t blocked_pairs[] = {
    { NULL, "home-router", FX_EIM, "home-router", FX_EIM, 9, 1, 0, 30, 2 },
    { NULL, "home-router", FX_EIM, "udp-blocked", FX_BLOCKED, 0, 6, 0, 1, 1 },
    { "other", "udp-blocked", FX_BLOCKED, "home-router", FX_EIM, 0, 3, 1, 1, 1 },
    { NULL, "corporate", FX_APDM, "udp-blocked", FX_BLOCKED, 0, 4, 0, 1, 1 },
    { NULL, "corporate", FX_APDM, "corporate", FX_APDM, 0, 0, 2, 1, 1 },
};

static void test_population_blocked(void)
{
    g_autoptr(results_t) r = fx_results(blocked_pairs, G_N_ELEMENTS(blocked_pairs), 2, 14);
    g_autoptr(report_stats_t) s = report_stats_new(r);
    /* symmetric is in the model but no pair with it was measured. */
    g_autoptr(population_t) pop = population_from("[weights]\nhome-router = 6\n"
                                                  "udp-blocked = 2\ncorporate = 2\n"
                                                  "symmetric = 1\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(pop);
    double h = 6.0 / 11, u = 2.0 / 11, c = 2.0 / 11;
    CU_ASSERT_TRUE(close_to(population_weight(pop, "udp-blocked"), u));
    CU_ASSERT_TRUE(close_to(population_weight(pop, "corporate"), c));

    /* Cells {home,home}, {home,udp} (both orders pooled), {corp,udp}, {corp,corp}. */
    const struct {
        double w;
        size_t n, direct, relayed, failed;
    } cell[] = {
        { h * h, 10, 9, 1, 0 },
        { 2 * h * u, 10, 0, 9, 1 },
        { 2 * c * u, 4, 0, 4, 0 },
        { c * c, 2, 0, 0, 2 },
    };
    double cov = 0, d = 0, rel = 0, f = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(cell); i++) {
        double n = (double)cell[i].n;
        cov += cell[i].w;
        d += cell[i].w * (double)cell[i].direct / n;
        rel += cell[i].w * (double)cell[i].relayed / n;
        f += cell[i].w * (double)cell[i].failed / n;
    }
    population_estimate_t e;
    population_estimate(pop, s, &e);
    CU_ASSERT_EQUAL(e.cells, G_N_ELEMENTS(cell));
    CU_ASSERT_TRUE(close_to(e.coverage, cov));
    CU_ASSERT_TRUE(e.coverage < 1); /* the pairs with symmetric */
    CU_ASSERT_TRUE(close_to(e.direct, d / cov));
    CU_ASSERT_TRUE(close_to(e.relayed, rel / cov));
    CU_ASSERT_TRUE(close_to(e.failed, f / cov));
    CU_ASSERT_TRUE(e.failed > 0); /* corporate/corporate failed: counted, not dropped */

    /* Without symmetric, {home,corp} and {udp,udp} are still missing:
     * 0.6^2 + 2*0.6*0.2 + 2*0.2*0.2 + 0.2^2 of the pairs measured. */
    g_autoptr(population_t) three = population_from("[weights]\nhome-router = 6\n"
                                                    "udp-blocked = 2\ncorporate = 2\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(three);
    population_estimate(three, s, &e);
    CU_ASSERT_EQUAL(e.cells, G_N_ELEMENTS(cell));
    CU_ASSERT_TRUE(close_to(e.coverage, 0.72));
}

static const fx_pair_t blocked_full[] = {
    { NULL, "home-router", FX_EIM, "home-router", FX_EIM, 2, 0, 0, 30, 2 },
    { NULL, "home-router", FX_EIM, "udp-blocked", FX_BLOCKED, 0, 2, 0, 1, 1 },
    { NULL, "udp-blocked", FX_BLOCKED, "udp-blocked", FX_BLOCKED, 0, 2, 0, 1, 1 },
};

static void test_population_blocked_full(void)
{
    g_autoptr(results_t) r = fx_results(blocked_full, G_N_ELEMENTS(blocked_full), 1, 15);
    g_autoptr(report_stats_t) s = report_stats_new(r);
    g_autoptr(population_t) pop = population_from("[weights]\nhome-router = 3\n"
                                                  "udp-blocked = 1\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(pop);
    population_estimate_t e;
    population_estimate(pop, s, &e);
    CU_ASSERT_EQUAL(e.cells, 3);
    CU_ASSERT_TRUE(close_to(e.coverage, 1));
    /* Only {home,home} is direct: 9/16 of the pairs; the rest relayed, none failed. */
    CU_ASSERT_TRUE(close_to(e.direct, 9.0 / 16));
    CU_ASSERT_TRUE(close_to(e.relayed, 7.0 / 16));
    CU_ASSERT_TRUE(close_to(e.failed, 0));
}

static void test_population_default(void)
{
    g_autoptr(population_t) p = population_new_default();
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    double sum = 0;
    size_t npresets;
    const nat_preset_info_t *presets = nat_profile_presets(&npresets);
    for (guint i = 0; i < p->nats->len; i++) {
        sum += g_array_index(p->weights, double, i);
        bool preset = false; /* every default key is a preset natlab matrix can run */
        for (size_t k = 0; k < npresets; k++)
            preset |= strcmp(presets[k].name, p->nats->pdata[i]) == 0;
        if (!preset)
            fprintf(stderr, "default population: %s is no preset\n",
                    (const char *)p->nats->pdata[i]);
        CU_ASSERT_TRUE(preset);
    }
    CU_ASSERT_TRUE(close_to(sum, 1));
    /* Networks that let no UDP out are part of the field (RFC 9308: 3-5%). */
    double blocked = population_weight(p, "udp-blocked") + population_weight(p, "corporate");
    CU_ASSERT_TRUE(blocked >= 0.03 && blocked <= 0.05);
    CU_ASSERT_TRUE(population_weight(p, "udp-blocked") > 0);
    CU_ASSERT_TRUE(population_weight(p, "corporate") > 0);
    CU_ASSERT_PTR_NOT_NULL(p->sources);
    size_t n;
    const population_published_t *pub = population_published(&n);
    CU_ASSERT_EQUAL(n, 4);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_TRUE(pub[i].low >= 0 && pub[i].low <= pub[i].high && pub[i].high <= 1);
}

static void expect_population_error(const char *text, const char *want)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(population_t) p = population_load_data(text, strlen(text), "my.pop", &error);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    if (!strstr(error->message, want))
        fprintf(stderr, "got \"%s\", want \"%s\"\n", error->message, want);
    CU_ASSERT_PTR_NOT_NULL(strstr(error->message, want));
}

static void test_population_errors(void)
{
    expect_population_error("[weights]\nfull-cone = 1\nsymmetric = -2\n",
                            "my.pop:3: [weights] symmetric = -2: want a share >= 0");
    expect_population_error("[weights]\nfull-cone = lots\n", "my.pop:2: [weights] full-cone");
    expect_population_error("[weights]\nfull-cone = 0\n", "every share is 0");
    expect_population_error("[about]\nname = x\n", "no [weights] group");
    expect_population_error("[weights]\na = 1\n[wieghts]\nb = 1\n", "[wieghts]: unknown group");
    expect_population_error("[about]\nauthor = me\n[weights]\na = 1\n",
                            "my.pop:2: [about] author: unknown key");
}

static void test_plot_data(void)
{
    g_autoptr(results_t) r = fx_results(pairs, NPAIRS, 2, 11);
    g_autoptr(report_stats_t) s = report_stats_new(r);
    g_autofree char *heat = report_plot_heatmap_data(s);
    g_auto(GStrv) lines = g_strsplit(heat, "\n", -1);
    guint rows = 0;
    for (char **l = lines; *l; l++) {
        if (!**l || **l == '#')
            continue;
        int x, y;
        double rate;
        size_t n;
        CU_ASSERT_EQUAL_FATAL(sscanf(*l, "%d %d %lf %zu", &x, &y, &rate, &n), 4);
        const report_pair_t *p = report_stats_find(s, s->nats->pdata[y], s->nats->pdata[x]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL(n, p->agg.attempts);
        CU_ASSERT_TRUE(fabs(rate - report_agg_rate(&p->agg, RESULT_DIRECT)) < 1e-6);
        rows++;
    }
    CU_ASSERT_EQUAL(rows, s->pairs->len);

    for (int c = 0; c < PAIR_N_CLASSES; c++) {
        g_autofree char *cdf = report_plot_cdf_data(s, (pair_class_t)c);
        if (s->classes[c].ttd->len == 0) {
            CU_ASSERT_PTR_NULL(cdf);
            continue;
        }
        CU_ASSERT_PTR_NOT_NULL_FATAL(cdf);
        /* Non-decreasing in both columns; the last share is the class's direct rate. */
        g_auto(GStrv) cl = g_strsplit(cdf, "\n", -1);
        double last_t = 0, last_y = 0;
        guint points = 0;
        for (char **l = cl; *l; l++) {
            double t, y;
            if (!**l || **l == '#')
                continue;
            CU_ASSERT_EQUAL_FATAL(sscanf(*l, "%lf %lf", &t, &y), 2);
            CU_ASSERT_TRUE(t >= last_t && y >= last_y);
            last_t = t;
            last_y = y;
            points++;
        }
        CU_ASSERT_EQUAL(points, s->classes[c].ttd->len + 1);
        CU_ASSERT_TRUE(fabs(last_y - report_agg_rate(&s->classes[c], RESULT_DIRECT)) < 1e-6);
    }
}

/* Names come from users' files: quotes, percent signs and line breaks must
 * not break the gnuplot script. */
static void test_plot_script_quoting(void)
{
    static const fx_pair_t odd[] = {
        { NULL, "it's 100%", FX_EIM, "two\nlines", FX_APDM, 2, 1, 0, 10, 1 },
    };
    /* JSON needs the line break escaped; the name itself holds a real one. */
    g_autoptr(GPtrArray) lines = fx_lines(odd, 1, 1);
    GString *text = g_string_new(NULL);
    for (guint i = 0; i < lines->len; i++) {
        g_autofree char *l = g_strdup(lines->pdata[i]);
        char *nl = strstr(l, "two\nlines");
        g_string_append_len(text, l, nl ? nl - l + 3 : (gssize)strlen(l));
        if (nl)
            g_string_append_printf(text, "\\n%s", nl + 4);
        g_string_append_c(text, '\n');
    }
    g_autoptr(results_t) r = results_new();
    g_autoptr(GError) error = NULL;
    CU_ASSERT_TRUE_FATAL(results_add_data(r, text->str, text->len, "odd", ".", &error));
    g_string_free(text, TRUE);
    g_autoptr(report_stats_t) s = report_stats_new(r);
    g_autofree char *script = report_plot_script(s, "/tmp/d'ir", "/out");
    CU_ASSERT_PTR_NOT_NULL(strstr(script, "'it''s 100%%' 0"));
    CU_ASSERT_PTR_NOT_NULL(strstr(script, "'two?lines' 1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(script, "'/tmp/d''ir/heatmap.dat'"));
    CU_ASSERT_PTR_NULL(strstr(script, "two\nlines"));
    for (int f = 0; f < REPORT_PLOT_N; f++)
        for (int t = 0; t < 2; t++) {
            g_autofree char *out = g_strdup_printf("set output '/out/%s.%s'", report_plot_names[f],
                                                   t ? "svg" : "png");
            CU_ASSERT_PTR_NOT_NULL(strstr(script, out));
        }
}

static JsonObject *member_object(JsonObject *o, const char *key)
{
    JsonNode *n = json_object_get_member(o, key);
    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static void test_summary_json(void)
{
    g_autoptr(results_t) r = fx_results(pairs, NPAIRS, 3, 12);
    g_autoptr(report_stats_t) s = report_stats_new(r);
    g_autoptr(population_t) pop = population_new_default();
    population_estimate_t e;
    population_estimate(pop, s, &e);
    g_autofree char *text = report_summary_json(s, r, pop, &e);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    CU_ASSERT_TRUE_FATAL(json_parser_load_from_data(parser, text, -1, &error));
    JsonObject *root = json_node_get_object(json_parser_get_root(parser));
    JsonArray *jp = json_object_get_array_member(root, "pairs");
    CU_ASSERT_EQUAL_FATAL(json_array_get_length(jp), s->pairs->len);
    for (guint i = 0; i < json_array_get_length(jp); i++) {
        JsonObject *o = json_array_get_object_element(jp, i);
        const char *name = json_object_get_string_member(o, "pair");
        sums_t want = pair_sums(name);
        CU_ASSERT_EQUAL(json_object_get_int_member(o, "attempts"), (gint64)want.attempts);
        CU_ASSERT_EQUAL(json_object_get_int_member(o, "direct"), (gint64)want.direct);
        CU_ASSERT_EQUAL(json_object_get_int_member(o, "relayed"), (gint64)want.relayed);
        CU_ASSERT_EQUAL(json_object_get_int_member(o, "failed"), (gint64)want.failed);
        double rate = json_object_get_double_member(o, "direct_rate");
        CU_ASSERT_TRUE(fabs(rate - (double)want.direct / (double)want.attempts) <= 0.00005);
        JsonNode *p50 = json_object_get_member(o, "time_to_direct_p50_ms");
        CU_ASSERT_EQUAL(JSON_NODE_HOLDS_NULL(p50), want.direct == 0);
    }
    JsonObject *total = member_object(root, "total");
    CU_ASSERT_PTR_NOT_NULL_FATAL(total);
    CU_ASSERT_EQUAL(json_object_get_int_member(total, "attempts"), (gint64)s->total.attempts);
    CU_ASSERT_EQUAL(json_array_get_length(json_object_get_array_member(root, "sources")), 3);
    JsonObject *popj = member_object(root, "population");
    CU_ASSERT_PTR_NOT_NULL_FATAL(popj);
    CU_ASSERT_TRUE(fabs(json_object_get_double_member(popj, "expected_direct_rate") - e.direct) <=
                   0.00005);
    /* Printed with the digits they deserve: no %.17g tails. */
    CU_ASSERT_PTR_NULL(strstr(text, "00000000"));
    CU_ASSERT_PTR_NULL(strstr(text, "99999999"));
}

static void test_html_escape(void)
{
    rng_t rng;
    rng_seed(&rng, 77);
    const char alphabet[] = "ab<>&\"' \xc3\xa9;#";
    for (int round = 0; round < 200; round++) {
        char in[33];
        size_t n = rng_below(&rng, 32);
        for (size_t i = 0; i < n; i++) {
            char c = alphabet[rng_below(&rng, sizeof alphabet - 1)];
            in[i] = (c & 0x80) ? 'x' : c; /* keep it valid UTF-8 */
        }
        in[n] = '\0';
        g_autofree char *out = report_html_escape(in);
        CU_ASSERT_PTR_NULL(strpbrk(out, "<>\"'"));
        /* Every '&' starts an entity; undoing them gives the input back. */
        GString *back = g_string_new(NULL);
        for (const char *p = out; *p;) {
            static const char *const ent[][2] = {
                { "&amp;", "&" }, { "&lt;", "<" }, { "&gt;", ">" }, { "&quot;", "\"" }, { "&#39;", "'" },
            };
            bool matched = *p != '&';
            for (size_t k = 0; k < G_N_ELEMENTS(ent) && *p == '&'; k++) {
                if (g_str_has_prefix(p, ent[k][0])) {
                    g_string_append(back, ent[k][1]);
                    p += strlen(ent[k][0]);
                    matched = true;
                    break;
                }
            }
            CU_ASSERT_TRUE(matched);
            if (!matched)
                break;
            if (*p && *p != '&')
                g_string_append_c(back, *p++);
        }
        CU_ASSERT_STRING_EQUAL(back->str, in);
        g_string_free(back, TRUE);
    }
}

static void test_html_page(void)
{
    static const fx_pair_t hostile[] = {
        { "<script>alert(1)</script>", "<b>nat</b>", FX_EIM, "a&b", FX_APDM, 3, 1, 1, 10, 5 },
    };
    g_autoptr(results_t) r = fx_results(hostile, 1, 1, 13);
    result_attempt_t *first = r->attempts->pdata[0];
    first->row->pcap = g_strdup("pcaps/a b.pcap");
    first->pcap_href = g_strdup("pcaps/a%20b.pcap");
    first->pcap_present = true;
    result_attempt_t *second = r->attempts->pdata[1];
    second->row->pcap = g_strdup("pcaps/gone.pcap");
    g_autoptr(report_stats_t) s = report_stats_new(r);
    g_autoptr(population_t) pop = population_new_default();
    population_estimate_t e;
    population_estimate(pop, s, &e);
    g_autofree char *page = report_html_page(s, r, pop, &e);

    CU_ASSERT_PTR_NULL(strstr(page, "<script>alert"));
    CU_ASSERT_PTR_NULL(strstr(page, "<b>nat</b>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(page, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    CU_ASSERT_PTR_NOT_NULL(strstr(page, "&lt;b&gt;nat&lt;/b&gt;/a&amp;b"));
    /* One script of our own, three figures, each a file beside the page. */
    size_t scripts = 0, imgs = 0;
    for (const char *p = page; (p = strstr(p, "<script")); p++)
        scripts++;
    for (const char *p = page; (p = strstr(p, "<img ")); p++)
        imgs++;
    CU_ASSERT_EQUAL(scripts, 1);
    CU_ASSERT_EQUAL(imgs, REPORT_PLOT_N);
    for (int f = 0; f < REPORT_PLOT_N; f++) {
        g_autofree char *src = g_strdup_printf("<img src=\"%s.svg\"", report_plot_names[f]);
        CU_ASSERT_PTR_NOT_NULL(strstr(page, src));
    }
    /* Offline: nothing is loaded from elsewhere (links to sources are not loads). */
    CU_ASSERT_PTR_NULL(strstr(page, "src=\"http"));
    CU_ASSERT_PTR_NULL(strstr(page, "<link"));
    CU_ASSERT_PTR_NULL(strstr(page, "@import"));
    CU_ASSERT_PTR_NOT_NULL(strstr(page, "<a href=\"pcaps/a%20b.pcap\">pcaps/a b.pcap</a>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(page, "pcaps/gone.pcap (missing)"));
    CU_ASSERT_PTR_NULL(strstr(page, "href=\"pcaps/gone.pcap\""));
    size_t n;
    const population_published_t *pub = population_published(&n);
    for (size_t i = 0; i < n; i++) {
        g_autofree char *who = report_html_escape(pub[i].who);
        CU_ASSERT_PTR_NOT_NULL(strstr(page, who));
    }
}

/* Joining FROM and the relative path, then resolving "..", gives TO back. */
static void test_relative_path(void)
{
    static const char *const parts[] = { "a", "b", "c" };
    rng_t rng;
    rng_seed(&rng, 5);
    for (int round = 0; round < 500; round++) {
        GString *from = g_string_new(NULL), *to = g_string_new(NULL);
        for (guint i = 0, n = rng_below(&rng, 4); i < n; i++)
            g_string_append_printf(from, "/%s", parts[rng_below(&rng, 3)]);
        for (guint i = 0, n = 1 + rng_below(&rng, 4); i < n; i++)
            g_string_append_printf(to, "/%s", parts[rng_below(&rng, 3)]);
        const char *f = from->len ? from->str : "/";
        g_autofree char *rel = report_path_relative(f, to->str);
        CU_ASSERT_FALSE(g_path_is_absolute(rel));
        g_autofree char *joined = g_build_filename(f, rel, NULL);
        g_auto(GStrv) comps = g_strsplit(joined, "/", -1);
        g_autoptr(GPtrArray) stack = g_ptr_array_new();
        for (char **c = comps; *c; c++) {
            if (!**c || strcmp(*c, ".") == 0)
                continue;
            if (strcmp(*c, "..") == 0) {
                if (stack->len)
                    g_ptr_array_remove_index(stack, stack->len - 1);
            } else {
                g_ptr_array_add(stack, *c);
            }
        }
        GString *norm = g_string_new(NULL);
        for (guint i = 0; i < stack->len; i++)
            g_string_append_printf(norm, "/%s", (const char *)stack->pdata[i]);
        if (strcmp(norm->str, to->str) != 0)
            fprintf(stderr, "from %s to %s: %s -> %s\n", f, to->str, rel, norm->str);
        CU_ASSERT_STRING_EQUAL(norm->str, to->str);
        g_string_free(norm, TRUE);
        g_string_free(from, TRUE);
        g_string_free(to, TRUE);
    }
}

int main(void)
{
    static const test_case_t cases[] = {
        { "pairs, classes, total from the construction", test_pairs_classes_total },
        { "p50/p95 to direct per pair", test_pair_percentiles },
        { "nearest-rank percentile by its definition", test_percentile_definition },
        { "techniques counted over direct attempts", test_techniques },
        { "matrix axes: easiest first", test_axes_order },
        { "population estimate by its definition", test_population_estimate },
        { "built-in population: presets, sums to 1", test_population_default },
        { "population: blocked pairs count, unmeasured ones do not", test_population_blocked },
        { "population: every pair measured is coverage 1", test_population_blocked_full },
        { "population file errors name FILE:LINE", test_population_errors },
        { "figure data: heatmap and CDF", test_plot_data },
        { "gnuplot script: quoting users' names", test_plot_script_quoting },
        { "summary.json agrees with the construction", test_summary_json },
        { "HTML escaping round trip", test_html_escape },
        { "page: escaped, offline, figures, pcap links", test_html_page },
        { "relative links resolve back", test_relative_path },
        { NULL, NULL },
    };
    return test_run_suite("report_stats", cases);
}
