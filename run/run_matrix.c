#include "run_matrix.h"

#include <string.h>

#include "run_spec.h"

const char *const run_matrix_default_nats[] = {
    "full-cone", "restricted-cone", "port-restricted-cone", "symmetric",
    "symmetric-sequential", "home-router", "cgnat", NULL,
};

/* Short names keep scenario (and namespace) names within 20 characters. */
static const struct {
    const char *preset, *abbrev;
} abbrevs[] = {
    { "full-cone", "fc" },          { "restricted-cone", "rc" },
    { "port-restricted-cone", "prc" }, { "symmetric", "sym" },
    { "symmetric-sequential", "seq" }, { "home-router", "home" },
    { "cgnat", "cgn" },             { "no-nat", "open" },
    { "firewall", "fw" },           { "udp-blocked", "blocked" },
};

static const char *abbrev(const char *preset)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(abbrevs); i++)
        if (strcmp(abbrevs[i].preset, preset) == 0)
            return abbrevs[i].abbrev;
    return preset;
}

char **run_matrix_parse_nats(const char *list, char **why)
{
    g_auto(GStrv) names = g_strsplit(list ? list : "", ",", -1);
    GPtrArray *out = g_ptr_array_new();
    for (int i = 0; names[i]; i++) {
        const char *name = g_strstrip(names[i]);
        g_autoptr(GError) error = NULL;
        g_autoptr(nat_profile_t) p = name[0] ? nat_profile_new_preset(name, &error) : NULL;
        bool dup = false;
        for (guint k = 0; k < out->len; k++)
            dup |= strcmp(g_ptr_array_index(out, k), name) == 0;
        if (!p || dup) {
            *why = dup ? g_strdup_printf("%s is named twice", name)
                   : error ? g_strdup(error->message)
                           : g_strdup("an empty name; allowed: preset names separated by commas");
            g_ptr_array_add(out, NULL);
            g_strfreev((char **)g_ptr_array_free(out, FALSE));
            return NULL;
        }
        g_ptr_array_add(out, g_strdup(name));
    }
    if (out->len == 0) {
        *why = g_strdup("no presets; allowed: preset names separated by commas");
        g_ptr_array_free(out, TRUE);
        return NULL;
    }
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

unsigned run_matrix_pairs(unsigned n)
{
    return n * (n + 1) / 2;
}

char *run_matrix_scenario_text(char *const *nats, unsigned index,
                               const run_matrix_options_t *o, char **why)
{
    unsigned n = g_strv_length((char **)nats), i = 0, j = 0, at = 0;
    for (i = 0; i < n; i++)
        for (j = i; j < n; j++)
            if (at++ == index)
                goto found;
    *why = g_strdup_printf("pair %u of %u presets does not exist", index, n);
    return NULL;
found:;
    g_autoptr(GError) error = NULL;
    g_autoptr(nat_profile_t) a = nat_profile_new_preset(nats[i], &error);
    g_autoptr(nat_profile_t) b = a ? nat_profile_new_preset(nats[j], &error) : NULL;
    if (!b) {
        *why = g_strdup(error->message);
        return NULL;
    }
    run_prediction_t p = run_predict(a, b, &o->agent);
    double rate = run_predict_min_rate(&p, o->repeat);
    GString *s = g_string_new(NULL);
    g_autofree char *name =
        o->kind_name ? g_strdup_printf("mx-%s-%s-%s", o->kind_name, abbrev(nats[i]), abbrev(nats[j]))
                     : g_strdup_printf("mx-%s-%s", abbrev(nats[i]), abbrev(nats[j]));
    if (strlen(name) > SCENARIO_NAME_MAX)
        name[SCENARIO_NAME_MAX] = '\0';
    g_string_append_printf(s,
                           "[scenario]\nname = %s\ndescription = %s vs %s: %s\nrepeat = %u\n"
                           "seed = %" G_GUINT64_FORMAT "\n\n",
                           name, nats[i], nats[j], p.reason, o->repeat,
                           run_spec_attempt_seed(o->seed, 1000 + index));
    g_string_append_printf(s, "[nat a]\npreset = %s\n\n[nat b]\npreset = %s\n\n", nats[i], nats[j]);
    g_string_append(s, "[host alice]\nnat = a\n\n[host bob]\nnat = b\n\n");
    g_string_append(s, "[agent]\nconnect = alice\nlisten = bob\n");
    if (o->kind_ref)
        g_string_append_printf(s, "kind = %s\n", o->kind_ref);
    else if (o->turn != RUN_TURN_NONE)
        g_string_append_printf(s, "turn = %s\n", run_turn_name(o->turn));
    g_string_append_printf(s, "%s\n", o->agent_keys ? o->agent_keys : "");
    g_string_append_printf(s, "[expect]\noutcome = %s\n", run_expect_outcome_name(p.outcome));
    if (rate < 1) {
        char r[G_ASCII_DTOSTR_BUF_SIZE], pd[G_ASCII_DTOSTR_BUF_SIZE];
        g_string_append_printf(s, "# P(direct) = %s per attempt; %u attempts\n"
                                  "success-rate >= %s\n",
                               g_ascii_formatd(pd, sizeof pd, "%.3f", p.p_direct), o->repeat,
                               g_ascii_formatd(r, sizeof r, "%.4g", rate));
    }
    return g_string_free(s, FALSE);
}
