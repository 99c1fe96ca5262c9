/* Generated results.jsonl for the report suites: each pair is built from
 * counts (direct, relayed, failed) and a time-to-direct ramp, so every
 * expectation follows from the construction, not from a stored answer.
 * Lines are shuffled with a seed and dealt to shards like `run --shard`.
 * Header-only so each suite stays one program. */
#pragma once
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/rng.h"
#include "reports/results.h"

#define FX_EIM "{\"type\":\"nat\",\"mapping\":\"endpoint-independent\",\"filtering\":\"address-and-port-dependent\"}"
#define FX_ADM "{\"type\":\"nat\",\"mapping\":\"address-dependent\"}"
#define FX_APDM "{\"type\":\"nat\",\"mapping\":\"address-and-port-dependent\",\"allocation\":\"random\"}"
#define FX_OPEN "{\"type\":\"open\"}"
#define FX_FIREWALL "{\"type\":\"firewall\",\"filtering\":\"address-and-port-dependent\"}"
#define FX_BLOCKED "{\"type\":\"blocked\"}"
#define FX_PUBLIC "null"

static const char *const fx_techniques[] = { "punch", "predicted", "birthday" };

typedef struct fx_pair {
    const char *scenario;
    const char *nat_a; /* NULL: a public host (nat null) */
    const char *profile_a;
    const char *nat_b;
    const char *profile_b;
    int direct, relayed, failed;
    double base_ms, step_ms; /* direct attempt k took base + k * step */
} fx_pair_t;

static inline double fx_ttd(const fx_pair_t *p, int k)
{
    return p->base_ms + k * p->step_ms;
}

/* Nearest rank over the ramp: the ceil(p% * n)-th smallest. */
static inline double fx_percentile(const fx_pair_t *p, double pct)
{
    int rank = (int)ceil(pct / 100.0 * p->direct);
    return fx_ttd(p, (rank < 1 ? 1 : rank) - 1);
}

static inline char *fx_nat_json(const char *nat)
{
    return nat ? g_strdup_printf("\"%s\"", nat) : g_strdup("null");
}

static inline char *fx_line(const fx_pair_t *p, int attempt, const char *outcome, double ttd,
                            const char *technique, const char *pcap)
{
    g_autofree char *a = fx_nat_json(p->nat_a);
    g_autofree char *b = fx_nat_json(p->nat_b);
    g_autofree char *pc = pcap ? g_strdup_printf("\"%s\"", pcap) : g_strdup("null");
    char ttd_text[G_ASCII_DTOSTR_BUF_SIZE];
    if (isnan(ttd))
        g_strlcpy(ttd_text, "null", sizeof ttd_text);
    else
        g_ascii_dtostr(ttd_text, sizeof ttd_text, ttd);
    return g_strdup_printf(
        "{\"scenario\": \"%s\", \"attempt\": %d, \"seed\": %d, \"nat_a\": %s, \"nat_b\": %s, "
        "\"profile_a\": %s, \"profile_b\": %s, \"outcome\": \"%s\", \"technique\": \"%s\", "
        "\"time_to_first_byte_ms\": 1.5, \"time_to_direct_ms\": %s, \"probes_sent\": 3, "
        "\"pcap\": %s, \"error\": null}",
        p->scenario ? p->scenario : "matrix", attempt, 1000 + attempt, a, b, p->profile_a,
        p->profile_b, outcome, technique, ttd_text, pc);
}

/* Every line of the pairs, shuffled by seed; attempt numbers are unique per
 * pair so that no two lines are the same attempt. */
static inline GPtrArray *fx_lines(const fx_pair_t *pairs, size_t n, uint64_t seed)
{
    GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < n; i++) {
        const fx_pair_t *p = &pairs[i];
        int attempt = 0;
        for (int k = 0; k < p->direct; k++, attempt++)
            g_ptr_array_add(lines, fx_line(p, attempt, "direct", fx_ttd(p, k),
                                           fx_techniques[k % 3], NULL));
        for (int k = 0; k < p->relayed; k++, attempt++)
            g_ptr_array_add(lines, fx_line(p, attempt, "relayed", NAN, "none", NULL));
        for (int k = 0; k < p->failed; k++, attempt++)
            g_ptr_array_add(lines, fx_line(p, attempt, "failed", NAN, "none", NULL));
    }
    rng_t rng;
    rng_seed(&rng, seed);
    for (guint i = lines->len; i > 1; i--) {
        guint j = rng_below(&rng, i);
        gpointer t = lines->pdata[i - 1];
        lines->pdata[i - 1] = lines->pdata[j];
        lines->pdata[j] = t;
    }
    return lines;
}

/* Shard k of n: lines k, k + n, k + 2n, ... each ending in '\n'. */
static inline char *fx_shard(const GPtrArray *lines, guint k, guint n)
{
    GString *s = g_string_new(NULL);
    for (guint i = k; i < lines->len; i += n)
        g_string_append_printf(s, "%s\n", (const char *)lines->pdata[i]);
    return g_string_free(s, FALSE);
}

/* Loads the pairs as n shards into new results; asserts it worked. */
static inline results_t *fx_results(const fx_pair_t *pairs, size_t npairs, guint shards,
                                    uint64_t seed)
{
    g_autoptr(GPtrArray) lines = fx_lines(pairs, npairs, seed);
    results_t *r = results_new();
    for (guint k = 0; k < shards; k++) {
        g_autofree char *text = fx_shard(lines, k, shards);
        g_autofree char *origin = g_strdup_printf("shard-%u/results.jsonl", k + 1);
        g_autofree char *dir = g_strdup_printf("shard-%u", k + 1);
        GError *error = NULL;
        if (!results_add_data(r, text, strlen(text), origin, dir, &error)) {
            fprintf(stderr, "fixture: %s\n", error->message);
            g_error_free(error);
        }
    }
    return r;
}
