#include "population.h"

#include <math.h>
#include <string.h>

#include "common/keyfile.h"

/* Shares of endpoints, by the preset that models their NAT. The reasoning
 * and the sources are in docs/report.md; the numbers are an estimate
 * anchored on published measurements, not a measurement. */
static const char default_text[] =
    "# natlab population model: the share of peers behind each NAT type.\n"
    "# Weights are relative (they are normalised); keys are NAT names as in\n"
    "# results.jsonl (preset names; \"public\" for a host without a NAT).\n"
    "[about]\n"
    "name = natlab default field mix (estimate)\n"
    "description = About 5% of peers without a NAT; of those behind one, about 82% endpoint-independent mapping (Ford et al. found 82% of NATs punchable), a third of mobile carriers symmetric; about 4% on networks that let no UDP out (RFC 9308: 3 to 5% of networks block UDP), whose pairs go through a relay over TCP\n"
    "sources = Ford, Srisuresh, Kegel 2005; Maier, Schneider, Feldmann 2011; Halkes, Pouwelse 2011; Klinec, Matyas 2014; Richter et al. 2016; RFC 9308 (2022); see docs/report.md\n"
    "\n"
    "[weights]\n"
    "no-nat = 5\n"
    "firewall = 3\n"
    "full-cone = 10\n"
    "restricted-cone = 10\n"
    "port-restricted-cone = 25\n"
    "home-router = 25\n"
    "cgnat = 7\n"
    "symmetric-sequential = 5\n"
    "symmetric = 10\n"
    "udp-blocked = 2\n"
    "corporate = 2\n";

const char *population_default_text(void)
{
    return default_text;
}

void population_free(population_t *p)
{
    if (!p)
        return;
    g_free(p->origin);
    g_free(p->name);
    g_free(p->description);
    g_free(p->sources);
    if (p->nats)
        g_ptr_array_free(p->nats, TRUE);
    if (p->weights)
        g_array_free(p->weights, TRUE);
    g_free(p);
}

static bool parse_weight(const char *text, double *out)
{
    if (!text || !*text)
        return false;
    char *end = NULL;
    double v = g_ascii_strtod(text, &end);
    if (end == text || *end != '\0' || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

population_t *population_load_data(const char *data, size_t len, const char *origin,
                                   GError **error)
{
    g_autoptr(keyfile_t) kf = keyfile_load_data(data, len, origin, error);
    if (!kf)
        return NULL;
    gsize ngroups = 0;
    g_auto(GStrv) groups = keyfile_groups(kf, &ngroups);
    for (gsize g = 0; g < ngroups; g++) {
        if (strcmp(groups[g], "about") != 0 && strcmp(groups[g], "weights") != 0) {
            keyfile_set_error(error, kf, groups[g], NULL, NULL,
                              "unknown group; allowed: [about], [weights]");
            return NULL;
        }
    }
    if (!keyfile_has_group(kf, "weights")) {
        g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_VALUE,
                    "%s: no [weights] group (NAT name = share)", origin);
        return NULL;
    }
    population_t *p = g_new0(population_t, 1);
    p->origin = g_strdup(origin);
    p->nats = g_ptr_array_new_with_free_func(g_free);
    p->weights = g_array_new(FALSE, FALSE, sizeof(double));

    gsize nkeys = 0;
    g_auto(GStrv) about = keyfile_keys(kf, "about", &nkeys);
    for (gsize i = 0; about && i < nkeys; i++) {
        char **slot = strcmp(about[i], "name") == 0          ? &p->name
                      : strcmp(about[i], "description") == 0 ? &p->description
                      : strcmp(about[i], "sources") == 0     ? &p->sources
                                                             : NULL;
        if (!slot) {
            keyfile_set_error(error, kf, "about", about[i], NULL,
                              "unknown key; allowed: name, description, sources");
            population_free(p);
            return NULL;
        }
        *slot = keyfile_get(kf, "about", about[i]);
    }
    if (!p->name)
        p->name = g_path_get_basename(origin);

    g_auto(GStrv) keys = keyfile_keys(kf, "weights", &nkeys);
    double sum = 0;
    for (gsize i = 0; i < nkeys; i++) {
        g_autofree char *value = keyfile_get(kf, "weights", keys[i]);
        double w;
        if (!parse_weight(value, &w)) {
            keyfile_set_error(error, kf, "weights", keys[i], value,
                              "want a share >= 0 (any scale; shares are normalised)");
            population_free(p);
            return NULL;
        }
        g_ptr_array_add(p->nats, g_strdup(keys[i]));
        g_array_append_val(p->weights, w);
        sum += w;
    }
    if (!(sum > 0)) {
        g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_VALUE,
                    "%s: [weights]: every share is 0; give at least one NAT a share", origin);
        population_free(p);
        return NULL;
    }
    for (guint i = 0; i < p->weights->len; i++)
        g_array_index(p->weights, double, i) /= sum;
    return p;
}

population_t *population_new_default(void)
{
    g_autoptr(GError) error = NULL;
    population_t *p = population_load_data(default_text, sizeof default_text - 1, "built-in",
                                           &error);
    g_assert(p); /* the text above is ours; tests load it too */
    return p;
}

double population_weight(const population_t *p, const char *nat)
{
    for (guint i = 0; i < p->nats->len; i++)
        if (strcmp(p->nats->pdata[i], nat) == 0)
            return g_array_index(p->weights, double, i);
    return 0;
}

typedef struct cell {
    size_t attempts, direct, relayed, failed;
} cell_t;

void population_estimate(const population_t *p, const report_stats_t *s,
                         population_estimate_t *out)
{
    memset(out, 0, sizeof *out);
    g_autoptr(GHashTable) cells = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    for (guint i = 0; i < s->pairs->len; i++) {
        const report_pair_t *rp = s->pairs->pdata[i];
        if (population_weight(p, rp->nat_a) <= 0 || population_weight(p, rp->nat_b) <= 0)
            continue;
        bool swap = strcmp(rp->nat_a, rp->nat_b) > 0;
        char *key = g_strdup_printf("%s\x1f%s", swap ? rp->nat_b : rp->nat_a,
                                    swap ? rp->nat_a : rp->nat_b);
        cell_t *c = g_hash_table_lookup(cells, key);
        if (!c) {
            c = g_new0(cell_t, 1);
            g_hash_table_insert(cells, key, c);
        } else {
            g_free(key);
        }
        c->attempts += rp->agg.attempts;
        c->direct += rp->agg.outcomes[RESULT_DIRECT];
        c->relayed += rp->agg.outcomes[RESULT_RELAYED];
        c->failed += rp->agg.outcomes[RESULT_FAILED];
    }

    double cov = 0, d = 0, r = 0, f = 0, var = 0;
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, cells);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        const cell_t *c = v;
        if (!c->attempts)
            continue;
        char *sep = strchr(k, '\x1f');
        g_autofree char *a = g_strndup(k, (gsize)(sep - (char *)k));
        double w = population_weight(p, a) * population_weight(p, sep + 1);
        if (strcmp(a, sep + 1) != 0)
            w *= 2;
        double n = (double)c->attempts, pd = (double)c->direct / n;
        cov += w;
        d += w * pd;
        r += w * (double)c->relayed / n;
        f += w * (double)c->failed / n;
        var += w * w * pd * (1 - pd) / n;
        out->cells++;
    }
    out->coverage = cov;
    if (cov > 0) {
        out->direct = d / cov;
        out->relayed = r / cov;
        out->failed = f / cov;
        out->direct_se = sqrt(var) / cov;
    } else {
        out->direct = out->relayed = out->failed = out->direct_se = NAN;
    }
}

static const population_published_t published[] = {
    { "Ford, Srisuresh and Kegel 2005",
      "share of 380 tested NATs that allowed UDP hole punching (NATs, not peer pairs)", "82%",
      0.82, 0.82, "https://bford.info/pub/net/p2pnat/" },
    { "Trautwein et al. 2025",
      "hole-punching success over 4.4 million libp2p DCUtR attempts in IPFS", "70% \u00b1 7.1%",
      0.629, 0.771, "https://arxiv.org/abs/2510.27500" },
    { "Tailscale 2025",
      "connections that end up direct; the rest ride DERP relays, over HTTPS where UDP is "
      "blocked, and count as relayed, not failed",
      "well north of 90%", 0.90, 1.0, "https://tailscale.com/blog/" },
    { "ZeroTier 2014", "traffic that must be relayed: 4% (ZeroTier) to 8% (Google)",
      "4-8% relayed", 0.92, 0.96, "https://www.zerotier.com/blog/the-state-of-nat-traversal/" },
};

const population_published_t *population_published(size_t *n)
{
    *n = G_N_ELEMENTS(published);
    return published;
}
