/* nat_profile: presets, every key and value, errors that name file, line,
 * key, value and what is allowed, cross-key checks, and the normalised
 * key-file and JSON outputs. */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "common/addr.h"
#include "natsim/nat_profile.h"
#include "testutil.h"

#define ORIGIN "test.ini"
/* Keys under test go on line 4 of the file, after a comment and a blank line. */
#define PREAMBLE "[nat]\n# under test\n\n"
#define KEY_LINE ORIGIN ":4:"

static const char *const preset_names[] = {
    "full-cone", "restricted-cone", "port-restricted-cone", "symmetric", "symmetric-sequential",
    "home-router", "openwrt", "cgnat", "no-nat", "firewall", "udp-blocked", "corporate",
};

/* Loads PREAMBLE + keys; NULL (with the reason on stderr) when it fails. */
static nat_profile_t *load(const char *keys)
{
    g_autofree char *text = g_strconcat(PREAMBLE, keys, NULL);
    GError *error = NULL;
    nat_profile_t *p = nat_profile_load_data(text, strlen(text), ORIGIN, &error);
    if (!p) {
        fprintf(stderr, "\n  unexpected error for '%s': %s\n", keys, error->message);
        g_error_free(error);
    }
    return p;
}

/* Loads PREAMBLE + keys expecting an error; returns its message ("" if none). */
static char *load_error(const char *keys)
{
    g_autofree char *text = g_strconcat(PREAMBLE, keys, NULL);
    GError *error = NULL;
    nat_profile_t *p = nat_profile_load_data(text, strlen(text), ORIGIN, &error);
    if (p) {
        fprintf(stderr, "\n  '%s' was accepted\n", keys);
        nat_profile_free(p);
    }
    CU_ASSERT_PTR_NULL(p);
    if (!error)
        return g_strdup("");
    char *msg = g_strdup(error->message);
    g_error_free(error);
    return msg;
}

static bool impairment_equal(const nat_impairment_t *a, const nat_impairment_t *b)
{
    return a->latency == b->latency && a->jitter == b->jitter && a->loss == b->loss &&
           a->reorder == b->reorder;
}

/* Every field but the name. */
static bool profile_equal(const nat_profile_t *a, const nat_profile_t *b)
{
    return a->type == b->type && a->mapping == b->mapping && a->filtering == b->filtering &&
           a->allocation == b->allocation && a->preserve_fallback == b->preserve_fallback &&
           a->sequential_step == b->sequential_step && a->port_min == b->port_min &&
           a->port_max == b->port_max && a->port_parity == b->port_parity &&
           a->timeout == b->timeout && a->timeout_unreplied == b->timeout_unreplied &&
           a->hold_down == b->hold_down && a->refresh == b->refresh &&
           a->hairpin == b->hairpin && a->public_ip_count == b->public_ip_count &&
           memcmp(a->public_ips, b->public_ips, sizeof a->public_ips) == 0 &&
           a->pooling == b->pooling && a->port_block == b->port_block &&
           a->port_blocks_max == b->port_blocks_max && a->port_quota == b->port_quota &&
           a->port_mapping == b->port_mapping &&
           a->port_mapping_lifetime_max == b->port_mapping_lifetime_max &&
           impairment_equal(&a->inbound, &b->inbound) &&
           impairment_equal(&a->outbound, &b->outbound) &&
           memcmp(&a->tcp, &b->tcp, sizeof a->tcp) == 0 &&
           a->tcp_established_timeout == b->tcp_established_timeout &&
           a->tcp_transitory_timeout == b->tcp_transitory_timeout &&
           a->tcp_unsolicited_syn == b->tcp_unsolicited_syn &&
           a->tcp_no_session == b->tcp_no_session && a->tcp_ports == b->tcp_ports &&
           memcmp(&a->allow_out_udp, &b->allow_out_udp, sizeof a->allow_out_udp) == 0 &&
           memcmp(&a->allow_out_tcp, &b->allow_out_tcp, sizeof a->allow_out_tcp) == 0 &&
           a->refused == b->refused;
}

/* ---- presets ----------------------------------------------------------- */

static void test_presets_list(void)
{
    size_t n = 0;
    const nat_preset_info_t *presets = nat_profile_presets(&n);
    CU_ASSERT_EQUAL_FATAL(n, G_N_ELEMENTS(preset_names));
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_STRING_EQUAL(presets[i].name, preset_names[i]);
        CU_ASSERT_TRUE(presets[i].description && strlen(presets[i].description) > 10);
    }
}

static void test_presets_load_and_validate(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(preset_names); i++) {
        GError *error = NULL;
        g_autoptr(nat_profile_t) p = nat_profile_new_preset(preset_names[i], &error);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_PTR_NULL(error);
        CU_ASSERT_STRING_EQUAL(p->name, preset_names[i]);
        CU_ASSERT_TRUE(nat_profile_validate(p, NULL));

        /* The same through a file that names the preset. */
        g_autofree char *keys = g_strdup_printf("preset = %s\n", preset_names[i]);
        g_autoptr(nat_profile_t) q = load(keys);
        CU_ASSERT_PTR_NOT_NULL_FATAL(q);
        CU_ASSERT_TRUE(profile_equal(p, q));
    }
}

static const char *description_of(const char *name)
{
    size_t n = 0;
    const nat_preset_info_t *presets = nat_profile_presets(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(presets[i].name, name) == 0)
            return presets[i].description;
    return "";
}

static nat_profile_t *preset(const char *name)
{
    nat_profile_t *p = nat_profile_new_preset(name, NULL);
    CU_ASSERT_PTR_NOT_NULL(p);
    return p;
}

static void test_preset_dimensions(void)
{
    /* Each preset is what its description says. */
    g_autoptr(nat_profile_t) full = preset("full-cone");
    ASSERT_CONTAINS(description_of("full-cone"), "EIM + EIF");
    CU_ASSERT_EQUAL(full->type, NAT_TYPE_NAT);
    CU_ASSERT_EQUAL(full->mapping, NAT_ENDPOINT_INDEPENDENT);
    CU_ASSERT_EQUAL(full->filtering, NAT_ENDPOINT_INDEPENDENT);

    g_autoptr(nat_profile_t) rc = preset("restricted-cone");
    ASSERT_CONTAINS(description_of("restricted-cone"), "EIM + ADF");
    CU_ASSERT_EQUAL(rc->type, NAT_TYPE_NAT);
    CU_ASSERT_EQUAL(rc->mapping, NAT_ENDPOINT_INDEPENDENT);
    CU_ASSERT_EQUAL(rc->filtering, NAT_ADDRESS_DEPENDENT);

    g_autoptr(nat_profile_t) prc = preset("port-restricted-cone");
    ASSERT_CONTAINS(description_of("port-restricted-cone"), "EIM + APDF");
    CU_ASSERT_EQUAL(prc->type, NAT_TYPE_NAT);
    CU_ASSERT_EQUAL(prc->mapping, NAT_ENDPOINT_INDEPENDENT);
    CU_ASSERT_EQUAL(prc->filtering, NAT_ADDRESS_AND_PORT_DEPENDENT);

    g_autoptr(nat_profile_t) sym = preset("symmetric");
    ASSERT_CONTAINS(description_of("symmetric"), "APDM + APDF, random");
    CU_ASSERT_EQUAL(sym->type, NAT_TYPE_NAT);
    CU_ASSERT_EQUAL(sym->mapping, NAT_ADDRESS_AND_PORT_DEPENDENT);
    CU_ASSERT_EQUAL(sym->filtering, NAT_ADDRESS_AND_PORT_DEPENDENT);
    CU_ASSERT_EQUAL(sym->allocation, NAT_ALLOC_RANDOM);

    g_autoptr(nat_profile_t) seq = preset("symmetric-sequential");
    ASSERT_CONTAINS(description_of("symmetric-sequential"), "APDM + APDF, ports counted up by 1");
    CU_ASSERT_EQUAL(seq->mapping, NAT_ADDRESS_AND_PORT_DEPENDENT);
    CU_ASSERT_EQUAL(seq->filtering, NAT_ADDRESS_AND_PORT_DEPENDENT);
    CU_ASSERT_EQUAL(seq->allocation, NAT_ALLOC_SEQUENTIAL);
    CU_ASSERT_EQUAL(seq->sequential_step, 1);

    g_autoptr(nat_profile_t) home = preset("home-router");
    const char *home_desc = description_of("home-router");
    ASSERT_CONTAINS(home_desc, "EIM + APDF with port preservation");
    ASSERT_CONTAINS(home_desc, "30 s until the first reply, 3 min after");
    CU_ASSERT_EQUAL(home->mapping, NAT_ENDPOINT_INDEPENDENT);
    CU_ASSERT_EQUAL(home->filtering, NAT_ADDRESS_AND_PORT_DEPENDENT);
    CU_ASSERT_EQUAL(home->allocation, NAT_ALLOC_PRESERVE);
    CU_ASSERT_EQUAL(home->timeout_unreplied, 30 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(home->timeout, 3 * USEC_PER_MIN);
    CU_ASSERT_EQUAL(home->hairpin, NAT_HAIRPIN_ON);

    g_autoptr(nat_profile_t) cgn = preset("cgnat");
    const char *cgn_desc = description_of("cgnat");
    ASSERT_CONTAINS(cgn_desc, "EIM + EIF, two paired public addresses");
    ASSERT_CONTAINS(cgn_desc, "random ports in per-subscriber blocks of 512 (at most 4)");
    ASSERT_CONTAINS(cgn_desc, "2 min hold-down");
    CU_ASSERT_EQUAL(cgn->type, NAT_TYPE_NAT);
    CU_ASSERT_EQUAL(cgn->mapping, NAT_ENDPOINT_INDEPENDENT);
    CU_ASSERT_EQUAL(cgn->filtering, NAT_ENDPOINT_INDEPENDENT);
    CU_ASSERT_EQUAL(cgn->allocation, NAT_ALLOC_RANDOM);
    CU_ASSERT_EQUAL(cgn->public_ip_count, 2);
    CU_ASSERT_EQUAL(cgn->public_ips[0], 0); /* the topology assigns them */
    CU_ASSERT_EQUAL(cgn->pooling, NAT_POOLING_PAIRED);
    CU_ASSERT_EQUAL(cgn->port_block, 512);
    CU_ASSERT_EQUAL(cgn->port_blocks_max, 4);
    CU_ASSERT_EQUAL(cgn->hold_down, 2 * USEC_PER_MIN);

    g_autoptr(nat_profile_t) open = preset("no-nat");
    ASSERT_CONTAINS(description_of("no-nat"), "no translation, no filtering");
    CU_ASSERT_EQUAL(open->type, NAT_TYPE_OPEN);

    g_autoptr(nat_profile_t) fw = preset("firewall");
    ASSERT_CONTAINS(description_of("firewall"), "no translation, APDF");
    CU_ASSERT_EQUAL(fw->type, NAT_TYPE_FIREWALL);
    CU_ASSERT_EQUAL(fw->filtering, NAT_ADDRESS_AND_PORT_DEPENDENT);

    g_autoptr(nat_profile_t) blocked = preset("udp-blocked");
    ASSERT_CONTAINS(description_of("udp-blocked"), "drops every UDP packet");
    CU_ASSERT_EQUAL(blocked->type, NAT_TYPE_BLOCKED);
}

static void test_preset_summaries(void)
{
    static const struct {
        const char *preset, *prefix;
    } cases[] = {
        { "full-cone", "EIM/EIF preserve" },
        { "restricted-cone", "EIM/ADF preserve" },
        { "port-restricted-cone", "EIM/APDF preserve" },
        { "symmetric", "APDM/APDF random" },
        { "symmetric-sequential", "APDM/APDF sequential(+1)" },
        { "no-nat", "no NAT, no filter" },
        { "firewall", "no NAT, APDF firewall" },
        { "udp-blocked", "UDP blocked" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(nat_profile_t) p = preset(cases[i].preset);
        g_autofree char *s = nat_profile_summary(p);
        if (!g_str_has_prefix(s, cases[i].prefix))
            fprintf(stderr, "\n  summary of %s: '%s'\n", cases[i].preset, s);
        CU_ASSERT_TRUE(g_str_has_prefix(s, cases[i].prefix));
    }
    g_autoptr(nat_profile_t) cgn = preset("cgnat");
    g_autofree char *s = nat_profile_summary(cgn);
    ASSERT_CONTAINS(s, "2 IPs paired");
    ASSERT_CONTAINS(s, "blocks 512x4");
    ASSERT_CONTAINS(s, "tcp 124min hold SYN");
    g_autoptr(nat_profile_t) home = preset("home-router");
    g_autofree char *hs = nat_profile_summary(home);
    ASSERT_CONTAINS(hs, "tcp 120h rst SYN");
    g_autoptr(nat_profile_t) corp = preset("corporate");
    g_autofree char *cs = nat_profile_summary(corp);
    ASSERT_CONTAINS(cs, "tcp out: 80,443, udp out: 53");
}

static void test_unknown_preset(void)
{
    GError *error = NULL;
    CU_ASSERT_PTR_NULL(nat_profile_new_preset("linksys", &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    CU_ASSERT_TRUE(g_error_matches(error, NAT_PROFILE_ERROR, NAT_PROFILE_ERROR_UNKNOWN_PRESET));
    ASSERT_CONTAINS(error->message, "linksys");
    for (size_t i = 0; i < G_N_ELEMENTS(preset_names); i++)
        ASSERT_CONTAINS(error->message, preset_names[i]);
    g_error_free(error);

    g_autofree char *msg = load_error("preset = linksys\n");
    ASSERT_CONTAINS(msg, KEY_LINE);
    ASSERT_CONTAINS(msg, "preset = linksys");
    ASSERT_CONTAINS(msg, "allowed");
    for (size_t i = 0; i < G_N_ELEMENTS(preset_names); i++)
        ASSERT_CONTAINS(msg, preset_names[i]);
}

static void test_preset_with_overrides(void)
{
    g_autoptr(nat_profile_t) p =
        load("preset = symmetric\nallocation = sequential\nsequential-step = 2\nhairpin = on\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->mapping, NAT_ADDRESS_AND_PORT_DEPENDENT); /* from the preset */
    CU_ASSERT_EQUAL(p->allocation, NAT_ALLOC_SEQUENTIAL);       /* overridden */
    CU_ASSERT_EQUAL(p->sequential_step, 2);
    CU_ASSERT_EQUAL(p->hairpin, NAT_HAIRPIN_ON);

    /* The preset is the base wherever the line stands. */
    g_autoptr(nat_profile_t) q = load("timeout = 1min\npreset = home-router\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT_EQUAL(q->timeout, USEC_PER_MIN);
    CU_ASSERT_EQUAL(q->timeout_unreplied, 30 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(q->allocation, NAT_ALLOC_PRESERVE);

    /* Overriding the type drops what the preset set for other types. */
    g_autoptr(nat_profile_t) r = load("preset = cgnat\ntype = firewall\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(r->type, NAT_TYPE_FIREWALL);
    CU_ASSERT_EQUAL(r->filtering, NAT_ENDPOINT_INDEPENDENT);

    /* Without a preset, the defaults: RFC 4787's recommendations. */
    g_autoptr(nat_profile_t) d = load("");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_EQUAL(d->type, NAT_TYPE_NAT);
    CU_ASSERT_EQUAL(d->mapping, NAT_ENDPOINT_INDEPENDENT);
    CU_ASSERT_EQUAL(d->timeout, 5 * USEC_PER_MIN);
    CU_ASSERT_EQUAL(d->port_min, 1024);
    CU_ASSERT_EQUAL(d->port_max, 65535);
    CU_ASSERT_STRING_EQUAL(d->name, ORIGIN);
}

/* ---- every key, every allowed value ------------------------------------ */

/* Loads "key = value" alone; NULL if rejected. */
static nat_profile_t *load_kv(const char *key, const char *value)
{
    g_autofree char *keys = g_strdup_printf("%s = %s\n", key, value);
    return load(keys);
}

/* An enum key: each name i parses to i (read back through `field`). */
static void check_enum_key(const char *key, const char *const *names, size_t count,
                           size_t offset, size_t size)
{
    for (size_t i = 0; i < count; i++) {
        g_autoptr(nat_profile_t) p = load_kv(key, names[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        int got = size == sizeof(int) ? *(int *)((char *)p + offset) : -1;
        if (got != (int)i)
            fprintf(stderr, "\n  %s = %s gave %d, want %zu\n", key, names[i], got, i);
        CU_ASSERT_EQUAL(got, (int)i);
    }
}

#define ENUM_KEY(key, names, field)                                                        \
    check_enum_key(key, names, G_N_ELEMENTS(names), offsetof(nat_profile_t, field),       \
                   sizeof(((nat_profile_t *)0)->field))

static void test_enum_keys(void)
{
    static const char *const types[] = { "nat", "firewall", "open", "blocked" };
    static const char *const deps[] = { "endpoint-independent", "address-dependent",
                                        "address-and-port-dependent" };
    static const char *const allocs[] = { "preserve", "sequential", "random" };
    static const char *const parities[] = { "ignore", "preserve" };
    static const char *const refreshes[] = { "outbound", "both" };
    static const char *const hairpins[] = { "off", "on", "internal-source" };
    static const char *const poolings[] = { "paired", "arbitrary" };
    ENUM_KEY("type", types, type);
    ENUM_KEY("mapping", deps, mapping);
    ENUM_KEY("filtering", deps, filtering);
    ENUM_KEY("allocation", allocs, allocation);
    ENUM_KEY("port-parity", parities, port_parity);
    ENUM_KEY("refresh", refreshes, refresh);
    ENUM_KEY("hairpin", hairpins, hairpin);
    ENUM_KEY("pooling", poolings, pooling);

    g_autoptr(nat_profile_t) s = load_kv("preserve-fallback", "sequential");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->preserve_fallback, NAT_ALLOC_SEQUENTIAL);
    g_autoptr(nat_profile_t) r = load_kv("preserve-fallback", "random");
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(r->preserve_fallback, NAT_ALLOC_RANDOM);

    /* The names the output uses are the names the parser takes. */
    CU_ASSERT_STRING_EQUAL(nat_type_name(NAT_TYPE_FIREWALL), "firewall");
    CU_ASSERT_STRING_EQUAL(nat_dependence_name(NAT_ADDRESS_DEPENDENT), "address-dependent");
    CU_ASSERT_STRING_EQUAL(nat_allocation_name(NAT_ALLOC_SEQUENTIAL), "sequential");
    CU_ASSERT_STRING_EQUAL(nat_hairpin_name(NAT_HAIRPIN_INTERNAL_SOURCE), "internal-source");
    CU_ASSERT_STRING_EQUAL(nat_pooling_name(NAT_POOLING_ARBITRARY), "arbitrary");
    CU_ASSERT_STRING_EQUAL(nat_refresh_name(NAT_REFRESH_BOTH), "both");
    CU_ASSERT_STRING_EQUAL(nat_parity_name(NAT_PARITY_PRESERVE), "preserve");
}

static void test_number_keys(void)
{
    g_autoptr(nat_profile_t) a = load_kv("sequential-step", "1");
    CU_ASSERT_TRUE(a && a->sequential_step == 1);
    g_autoptr(nat_profile_t) b = load_kv("sequential-step", "32767");
    CU_ASSERT_TRUE(b && b->sequential_step == 32767);
    g_autoptr(nat_profile_t) c = load_kv("port-block", "0");
    CU_ASSERT_TRUE(c && c->port_block == 0);
    g_autoptr(nat_profile_t) d = load_kv("port-block", "512");
    CU_ASSERT_TRUE(d && d->port_block == 512);
    g_autoptr(nat_profile_t) e = load_kv("port-blocks-max", "65535");
    CU_ASSERT_TRUE(e && e->port_blocks_max == 65535);
    g_autoptr(nat_profile_t) f = load_kv("port-quota", "0");
    CU_ASSERT_TRUE(f && f->port_quota == 0);
    g_autoptr(nat_profile_t) g = load_kv("port-quota", "65535");
    CU_ASSERT_TRUE(g && g->port_quota == 65535);
    g_autoptr(nat_profile_t) h = load_kv("port-range", "2000-3000");
    CU_ASSERT_TRUE(h && h->port_min == 2000 && h->port_max == 3000);
    g_autoptr(nat_profile_t) i = load_kv("port-range", "1-65535");
    CU_ASSERT_TRUE(i && i->port_min == 1 && i->port_max == 65535);
    g_autoptr(nat_profile_t) j = load_kv("port-range", "40000 - 40001");
    CU_ASSERT_TRUE(j && j->port_min == 40000 && j->port_max == 40001);
    g_autoptr(nat_profile_t) k = load_kv("port-range", "7000-7000");
    CU_ASSERT_TRUE(k && k->port_min == 7000 && k->port_max == 7000);
}

static void test_duration_keys(void)
{
    g_autoptr(nat_profile_t) a = load_kv("timeout", "30s");
    CU_ASSERT_TRUE(a && a->timeout == 30 * USEC_PER_SEC);
    g_autoptr(nat_profile_t) b = load_kv("timeout", "2h");
    CU_ASSERT_TRUE(b && b->timeout == 2 * USEC_PER_HOUR);
    g_autoptr(nat_profile_t) c = load_kv("timeout-unreplied", "0");
    CU_ASSERT_TRUE(c && c->timeout_unreplied == 0);
    g_autoptr(nat_profile_t) d = load_kv("timeout-unreplied", "20s");
    CU_ASSERT_TRUE(d && d->timeout_unreplied == 20 * USEC_PER_SEC);
    g_autoptr(nat_profile_t) e = load_kv("hold-down", "2min");
    CU_ASSERT_TRUE(e && e->hold_down == 2 * USEC_PER_MIN);
    g_autoptr(nat_profile_t) f = load_kv("port-mapping-lifetime-max", "1h");
    CU_ASSERT_TRUE(f && f->port_mapping_lifetime_max == USEC_PER_HOUR);
    g_autoptr(nat_profile_t) g = load_kv("timeout", "30s   # RFC 4787 says 2 min; we are mean");
    CU_ASSERT_TRUE(g && g->timeout == 30 * USEC_PER_SEC);
}

/* RFC 5508 REQ-2: an ICMP query mapping lives at least 60 s by default. */
static void test_icmp_timeout_key(void)
{
    g_autoptr(nat_profile_t) d = load("");
    CU_ASSERT_TRUE(d && d->icmp_timeout == 60 * USEC_PER_SEC);
    g_autoptr(nat_profile_t) a = load_kv("icmp-timeout", "90s");
    CU_ASSERT_TRUE(a && a->icmp_timeout == 90 * USEC_PER_SEC);
    g_autofree char *text = nat_profile_to_keyfile(a);
    ASSERT_CONTAINS(text, "\nicmp-timeout = 90s\n");
    g_autofree char *json = nat_profile_to_json(a);
    ASSERT_CONTAINS(json, "\"icmp-timeout\":\"90s\"");
    /* At its default the key is in the text but not in the JSON that
     * results.jsonl rows carry. */
    g_autofree char *dtext = nat_profile_to_keyfile(d);
    ASSERT_CONTAINS(dtext, "\nicmp-timeout = 1min\n");
    g_autofree char *djson = nat_profile_to_json(d);
    CU_ASSERT_PTR_NULL(strstr(djson, "icmp-timeout"));
    g_autofree char *summary = nat_profile_summary(a);
    ASSERT_CONTAINS(summary, "icmp 90s");
}

static void test_impairment_keys(void)
{
    /* The plain keys set both directions; the suffixed ones one. */
    g_autoptr(nat_profile_t) a = load("latency = 50ms\njitter = 250us\nloss = 0.05\nreorder = 1%\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(a->inbound.latency, 50 * USEC_PER_MSEC);
    CU_ASSERT_EQUAL(a->outbound.latency, 50 * USEC_PER_MSEC);
    CU_ASSERT_EQUAL(a->inbound.jitter, 250);
    CU_ASSERT_EQUAL(a->outbound.jitter, 250);
    CU_ASSERT_EQUAL(a->inbound.loss, 0.05);
    CU_ASSERT_EQUAL(a->outbound.loss, 0.05);
    CU_ASSERT_EQUAL(a->inbound.reorder, 0.01);
    CU_ASSERT_EQUAL(a->outbound.reorder, 0.01);

    g_autoptr(nat_profile_t) b =
        load("latency-inbound = 10ms\nlatency-outbound = 20ms\njitter-inbound = 1ms\n"
             "jitter-outbound = 2ms\nloss-inbound = 0.1\nloss-outbound = 20%\n"
             "reorder-inbound = 0.3\nreorder-outbound = 0\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(b->inbound.latency, 10 * USEC_PER_MSEC);
    CU_ASSERT_EQUAL(b->outbound.latency, 20 * USEC_PER_MSEC);
    CU_ASSERT_EQUAL(b->inbound.jitter, 1 * USEC_PER_MSEC);
    CU_ASSERT_EQUAL(b->outbound.jitter, 2 * USEC_PER_MSEC);
    CU_ASSERT_EQUAL(b->inbound.loss, 0.1);
    CU_ASSERT_EQUAL(b->outbound.loss, 0.2);
    CU_ASSERT_EQUAL(b->inbound.reorder, 0.3);
    CU_ASSERT_EQUAL(b->outbound.reorder, 0.0);

    /* Edges of a probability. */
    static const struct {
        const char *text;
        double want;
    } probs[] = { { "0", 0.0 }, { "1", 1.0 }, { "0%", 0.0 }, { "100%", 1.0 }, { "0.5%", 0.005 } };
    for (size_t i = 0; i < G_N_ELEMENTS(probs); i++) {
        g_autoptr(nat_profile_t) p = load_kv("loss", probs[i].text);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_DOUBLE_EQUAL(p->inbound.loss, probs[i].want, 1e-12);
    }
}

static void test_loss_percent(void)
{
    g_autoptr(nat_profile_t) pct = load_kv("loss", "5%");
    g_autoptr(nat_profile_t) frac = load_kv("loss", "0.05");
    CU_ASSERT_PTR_NOT_NULL_FATAL(pct);
    CU_ASSERT_PTR_NOT_NULL_FATAL(frac);
    CU_ASSERT_EQUAL(pct->inbound.loss, 0.05);
    CU_ASSERT_EQUAL(pct->inbound.loss, frac->inbound.loss);
    CU_ASSERT_TRUE(profile_equal(pct, frac));
}

static void test_port_mapping_key(void)
{
    static const struct {
        const char *text;
        unsigned want;
    } cases[] = {
        { "none", 0 },
        { "nat-pmp", NAT_PORT_MAPPING_NATPMP },
        { "pcp", NAT_PORT_MAPPING_PCP },
        { "nat-pmp,pcp", NAT_PORT_MAPPING_NATPMP | NAT_PORT_MAPPING_PCP },
        { "pcp, nat-pmp", NAT_PORT_MAPPING_NATPMP | NAT_PORT_MAPPING_PCP },
        { "upnp", NAT_PORT_MAPPING_UPNP },
        { "upnp,nat-pmp,pcp", NAT_PORT_MAPPING_NATPMP | NAT_PORT_MAPPING_PCP | NAT_PORT_MAPPING_UPNP },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(nat_profile_t) p = load_kv("port-mapping", cases[i].text);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL(p->port_mapping, cases[i].want);
    }
}

static void test_public_ips(void)
{
    g_autoptr(nat_profile_t) one = load_kv("public-ips", "1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(one);
    CU_ASSERT_EQUAL(one->public_ip_count, 1);
    CU_ASSERT_EQUAL(one->public_ips[0], 0);

    g_autoptr(nat_profile_t) many = load_kv("public-ips", "256");
    CU_ASSERT_PTR_NOT_NULL_FATAL(many);
    CU_ASSERT_EQUAL(many->public_ip_count, NAT_PROFILE_MAX_PUBLIC_IPS);

    g_autoptr(nat_profile_t) list = load_kv("public-ips", "198.18.0.1, 198.18.0.7,198.19.1.1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(list);
    CU_ASSERT_EQUAL(list->public_ip_count, 3);
    CU_ASSERT_EQUAL(list->public_ips[0], ADDR_IP(198, 18, 0, 1));
    CU_ASSERT_EQUAL(list->public_ips[1], ADDR_IP(198, 18, 0, 7));
    CU_ASSERT_EQUAL(list->public_ips[2], ADDR_IP(198, 19, 1, 1));
    CU_ASSERT_EQUAL(list->public_ips[3], 0);
    g_autofree char *text = nat_profile_to_keyfile(list);
    ASSERT_CONTAINS(text, "\npublic-ips = 198.18.0.1,198.18.0.7,198.19.1.1\n");

    g_autoptr(nat_profile_t) single = load_kv("public-ips", "203.0.113.5");
    CU_ASSERT_PTR_NOT_NULL_FATAL(single);
    CU_ASSERT_EQUAL(single->public_ip_count, 1);
    CU_ASSERT_EQUAL(single->public_ips[0], ADDR_IP(203, 0, 113, 5));

    /* A count after a list forgets the list. */
    g_autoptr(nat_profile_t) p = nat_profile_copy(list);
    CU_ASSERT_TRUE(nat_profile_set(p, "public-ips", "2", NULL));
    CU_ASSERT_EQUAL(p->public_ip_count, 2);
    CU_ASSERT_EQUAL(p->public_ips[0], 0);

    g_autofree char *dup = load_error("public-ips = 198.18.0.1,198.18.0.2,198.18.0.1\n");
    ASSERT_CONTAINS(dup, KEY_LINE);
    ASSERT_CONTAINS(dup, "public-ips = 198.18.0.1,198.18.0.2,198.18.0.1");
    ASSERT_CONTAINS(dup, "distinct");
}

/* A rejected value: the message names file:line, key, value and what is allowed. */
typedef struct bad_value {
    const char *key, *value;
    const char *allowed[4]; /* substrings the message must hold besides "allowed" */
} bad_value_t;

static void test_bad_values(void)
{
    static const bad_value_t cases[] = {
        { "type", "router", { "nat", "firewall", "open", "blocked" } },
        { "mapping", "sideways",
          { "endpoint-independent", "address-dependent", "address-and-port-dependent" } },
        { "filtering", "EIF",
          { "endpoint-independent", "address-dependent", "address-and-port-dependent" } },
        { "allocation", "linear", { "preserve", "sequential", "random" } },
        { "preserve-fallback", "preserve", { "sequential", "random" } },
        { "sequential-step", "0", { "1", "32767" } },
        { "sequential-step", "32768", { "1", "32767" } },
        { "sequential-step", "-1", { "1", "32767" } },
        { "sequential-step", "two", { "1", "32767" } },
        { "port-range", "1024", { "LOW-HIGH", "65535" } },
        { "port-range", "0-100", { "LOW-HIGH" } },
        { "port-range", "5000-4000", { "LOW <= HIGH" } },
        { "port-range", "1024-65536", { "65535" } },
        { "port-range", "1-2-3", { "LOW-HIGH" } },
        { "port-range", "a-b", { "LOW-HIGH" } },
        { "port-parity", "odd", { "ignore", "preserve" } },
        { "timeout", "0", { "positive duration", "ms", "min" } },
        { "timeout", "30", { "duration", "us, ms, s, min, h" } },
        { "timeout", "1.5s", { "duration" } },
        { "timeout", "-30s", { "duration" } },
        { "timeout-unreplied", "soon", { "duration", "30s" } },
        { "icmp-timeout", "0", { "positive duration", "ms", "min" } },
        { "icmp-timeout", "a while", { "duration" } },
        { "hold-down", "forever", { "duration" } },
        { "refresh", "inbound", { "outbound", "both" } },
        { "hairpin", "yes", { "off", "on", "internal-source" } },
        { "public-ips", "0", { "count from 1 to 256", "IPv4" } },
        { "public-ips", "257", { "count from 1 to 256" } },
        { "public-ips", "198.18.0", { "IPv4" } },
        { "public-ips", "0.0.0.0", { "IPv4" } },
        { "public-ips", "nat.example", { "IPv4" } },
        { "pooling", "random", { "paired", "arbitrary" } },
        { "port-block", "65536", { "0", "65535" } },
        { "port-block", "-1", { "65535" } },
        { "port-blocks-max", "0", { "1", "65535" } },
        { "port-quota", "65536", { "0", "65535" } },
        { "port-quota", "lots", { "65535" } },
        { "port-mapping", "igd", { "none", "nat-pmp", "pcp", "upnp" } },
        { "port-mapping", "nat-pmp,upnpd", { "nat-pmp,pcp,upnp" } },
        { "port-mapping", ",", { "none" } },
        { "port-mapping-lifetime-max", "0s", { "positive duration" } },
        { "latency", "50", { "duration" } },
        { "jitter", "5 ms", { "duration" } },
        { "loss", "5", { "probability from 0 to 1", "100%" } },
        { "loss", "150%", { "probability" } },
        { "loss", "-0.1", { "probability" } },
        { "loss", "lots", { "0.05", "5%" } },
        { "loss", "nan", { "probability" } },
        { "loss", "0.05%%", { "probability" } },
        { "reorder", "1.01", { "probability" } },
        { "latency-inbound", "x", { "duration" } },
        { "latency-outbound", "1d", { "duration" } },
        { "jitter-inbound", "1w", { "duration" } },
        { "jitter-outbound", "-1ms", { "duration" } },
        { "loss-inbound", "2", { "probability" } },
        { "loss-outbound", "%", { "probability" } },
        { "reorder-inbound", "0.5.5", { "probability" } },
        { "reorder-outbound", "1e3", { "probability" } },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const bad_value_t *c = &cases[i];
        g_autofree char *keys = g_strdup_printf("%s = %s\n", c->key, c->value);
        g_autofree char *msg = load_error(keys);
        g_autofree char *kv = g_strdup_printf("[nat] %s = %s:", c->key, c->value);
        ASSERT_CONTAINS(msg, KEY_LINE);
        ASSERT_CONTAINS(msg, kv);
        ASSERT_CONTAINS(msg, "allowed");
        for (size_t j = 0; j < G_N_ELEMENTS(c->allowed) && c->allowed[j]; j++)
            ASSERT_CONTAINS(msg, c->allowed[j]);
    }
}

/* Every enum key's message, byte for byte: file:line, key, value, then the
 * allowed names in table order. */
static void test_enum_errors_exact(void)
{
    static const char *const cases[][3] = {
        { "type", "router", "nat, firewall, open, blocked" },
        { "mapping", "sideways", "endpoint-independent, address-dependent, address-and-port-dependent" },
        { "filtering", "EIF", "endpoint-independent, address-dependent, address-and-port-dependent" },
        { "allocation", "linear", "preserve, sequential, random" },
        { "preserve-fallback", "preserve", "sequential, random" },
        { "port-parity", "odd", "ignore, preserve" },
        { "refresh", "inbound", "outbound, both" },
        { "hairpin", "yes", "off, on, internal-source" },
        { "pooling", "random", "paired, arbitrary" },
        { "tcp-unsolicited-syn", "reject", "hold, drop, rst, icmp" },
        { "tcp-no-session", "loose", "drop, rst, pickup" },
        { "tcp-reset-session", "drop", "reopen, invalid" },
        { "tcp-ports", "one", "separate, shared" },
        { "refused", "rst", "drop, reject" },
        { "tcp-mapping", "sideways", "endpoint-independent, address-dependent, address-and-port-dependent" },
        { "tcp-hairpin", "yes", "off, on, internal-source" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *keys = g_strdup_printf("%s = %s\n", cases[i][0], cases[i][1]);
        g_autofree char *msg = load_error(keys);
        g_autofree char *want = g_strdup_printf(KEY_LINE " [nat] %s = %s: allowed: %s", cases[i][0],
                                                cases[i][1], cases[i][2]);
        CU_ASSERT_STRING_EQUAL(msg, want);
    }
}

static void test_every_key_covered(void)
{
    /* Keep the tables above honest: every key the parser knows is listed. */
    static const char *const tested[] = {
        "preset", "type", "mapping", "filtering", "allocation", "preserve-fallback",
        "sequential-step", "port-range", "port-parity", "timeout", "timeout-unreplied",
        "icmp-timeout", "hold-down", "refresh", "hairpin", "public-ips", "pooling", "port-block",
        "port-blocks-max", "port-quota", "port-mapping", "port-mapping-lifetime-max", "latency",
        "jitter", "loss", "reorder", "latency-inbound", "latency-outbound", "jitter-inbound",
        "jitter-outbound", "loss-inbound", "loss-outbound", "reorder-inbound", "reorder-outbound",
        "tcp-mapping", "tcp-filtering", "tcp-allocation", "tcp-preserve-fallback",
        "tcp-sequential-step", "tcp-port-range", "tcp-port-parity", "tcp-hairpin", "tcp-port-quota",
        "tcp-established-timeout", "tcp-transitory-timeout", "tcp-unsolicited-syn",
        "tcp-no-session", "tcp-reset-session", "tcp-ports", "allow-out-udp", "allow-out-tcp", "refused",
    };
    const char *const *keys = nat_profile_keys();
    size_t n = 0;
    for (; keys[n]; n++) {
        bool found = false;
        for (size_t j = 0; j < G_N_ELEMENTS(tested); j++)
            found = found || strcmp(keys[n], tested[j]) == 0;
        if (!found)
            fprintf(stderr, "\n  key '%s' has no test\n", keys[n]);
        CU_ASSERT_TRUE(found);
    }
    CU_ASSERT_EQUAL(n, G_N_ELEMENTS(tested));
    CU_ASSERT_STRING_EQUAL(keys[0], "preset");
}

static void test_unknown_key(void)
{
    g_autofree char *msg = load_error("colour = blue\n");
    ASSERT_CONTAINS(msg, KEY_LINE);
    ASSERT_CONTAINS(msg, "[nat] colour = blue:");
    ASSERT_CONTAINS(msg, "unknown key; allowed keys:");
    for (const char *const *k = nat_profile_keys(); *k; k++)
        ASSERT_CONTAINS(msg, *k);

    /* Close misspellings too; keys are case-sensitive. */
    g_autofree char *a = load_error("Timeout = 30s\n");
    ASSERT_CONTAINS(a, "[nat] Timeout = 30s: unknown key");
    g_autofree char *b = load_error("port_range = 1024-2047\n");
    ASSERT_CONTAINS(b, "unknown key");
    g_autofree char *c = load_error("timeout[de] = 30s\n");
    ASSERT_CONTAINS(c, "unknown key");
}

static void test_scope(void)
{
    /* Keys that have no meaning for the type are mistakes, not no-ops. */
    g_autofree char *a = load_error("type = firewall\nmapping = endpoint-independent\n");
    ASSERT_CONTAINS(a, ORIGIN ":5:");
    ASSERT_CONTAINS(a, "[nat] mapping = endpoint-independent:");
    ASSERT_CONTAINS(a, "type = firewall");

    /* Order does not matter: the type is known before the check. */
    g_autofree char *b = load_error("hairpin = on\ntype = firewall\n");
    ASSERT_CONTAINS(b, KEY_LINE);
    ASSERT_CONTAINS(b, "[nat] hairpin = on:");

    g_autofree char *c = load_error("type = open\ntimeout = 30s\n");
    ASSERT_CONTAINS(c, "[nat] timeout = 30s:");
    ASSERT_CONTAINS(c, "type = open");
    g_autofree char *d = load_error("preset = no-nat\nfiltering = address-dependent\n");
    ASSERT_CONTAINS(d, "[nat] filtering = address-dependent:");
    g_autofree char *e = load_error("preset = udp-blocked\nrefresh = both\n");
    ASSERT_CONTAINS(e, "type = blocked");
    g_autofree char *f = load_error("preset = firewall\npublic-ips = 2\n");
    ASSERT_CONTAINS(f, "[nat] public-ips = 2:");

    /* What a firewall does understand. */
    g_autoptr(nat_profile_t) fw =
        load("type = firewall\nfiltering = address-dependent\ntimeout = 1min\n"
             "timeout-unreplied = 10s\nrefresh = both\nlatency = 5ms\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fw);
    CU_ASSERT_EQUAL(fw->filtering, NAT_ADDRESS_DEPENDENT);
    CU_ASSERT_EQUAL(fw->refresh, NAT_REFRESH_BOTH);
    /* An open network may still be slow and lossy. */
    g_autoptr(nat_profile_t) open = load("type = open\nlatency = 80ms\nloss = 1%\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(open);
    CU_ASSERT_EQUAL(open->outbound.latency, 80 * USEC_PER_MSEC);
}

static void test_cross_key(void)
{
    g_autofree char *a = load_error("timeout = 30s\ntimeout-unreplied = 1min\n");
    ASSERT_CONTAINS(a, ORIGIN);
    ASSERT_CONTAINS(a, "timeout-unreplied");
    ASSERT_CONTAINS(a, "must not exceed timeout");
    g_autoptr(nat_profile_t) a_ok = load("timeout = 30s\ntimeout-unreplied = 30s\n");
    CU_ASSERT_PTR_NOT_NULL(a_ok);
    g_autofree char *a_fw = load_error("type = firewall\ntimeout = 10s\ntimeout-unreplied = 11s\n");
    ASSERT_CONTAINS(a_fw, "timeout-unreplied");

    g_autofree char *b = load_error("port-range = 1024-1535\nport-block = 1024\n");
    ASSERT_CONTAINS(b, "port-block 1024 is larger than port-range 1024-1535 (512 ports)");
    g_autoptr(nat_profile_t) b_ok = load("port-range = 1024-1535\nport-block = 512\n");
    CU_ASSERT_PTR_NOT_NULL(b_ok);

    g_autofree char *c = load_error("port-range = 5000-5000\nport-parity = preserve\n");
    ASSERT_CONTAINS(c, "port-range 5000-5000");
    ASSERT_CONTAINS(c, "port-parity = preserve");
    g_autoptr(nat_profile_t) c_ok = load("port-range = 5000-5001\nport-parity = preserve\n");
    CU_ASSERT_PTR_NOT_NULL(c_ok);
    g_autofree char *c_block = load_error("port-block = 1\nport-parity = preserve\n");
    ASSERT_CONTAINS(c_block, "port-block 1");

    g_autofree char *d =
        load_error("allocation = sequential\nport-range = 5000-5009\nsequential-step = 10\n");
    ASSERT_CONTAINS(d, "sequential-step 10 must be smaller than the port-range size 10");
    g_autofree char *d_over =
        load_error("allocation = sequential\nport-range = 5000-5009\nsequential-step = 11\n");
    ASSERT_CONTAINS(d_over, "sequential-step 11");
    g_autoptr(nat_profile_t) d_ok =
        load("allocation = sequential\nport-range = 5000-5009\nsequential-step = 9\n");
    CU_ASSERT_PTR_NOT_NULL(d_ok);

    /* The same checks on a struct built by hand. */
    g_autoptr(nat_profile_t) p = preset("home-router");
    p->timeout_unreplied = p->timeout + 1;
    GError *error = NULL;
    CU_ASSERT_FALSE(nat_profile_validate(p, &error));
    CU_ASSERT_TRUE(g_error_matches(error, NAT_PROFILE_ERROR, NAT_PROFILE_ERROR_INVALID));
    g_clear_error(&error);
    p->timeout_unreplied = 0;
    p->port_min = p->port_max = 4000;
    p->port_parity = NAT_PARITY_PRESERVE;
    CU_ASSERT_FALSE(nat_profile_validate(p, NULL));
    p->port_parity = NAT_PARITY_IGNORE;
    CU_ASSERT_TRUE(nat_profile_validate(p, NULL));
}

/* ---- output ------------------------------------------------------------ */

/* Every key set, both directions different, so everything is printed. */
static const char all_keys[] = "type = nat\n"
                               "mapping = address-dependent\n"
                               "filtering = endpoint-independent\n"
                               "allocation = preserve\n"
                               "preserve-fallback = sequential\n"
                               "sequential-step = 3\n"
                               "port-range = 2000-60000\n"
                               "port-parity = preserve\n"
                               "timeout = 90s\n"
                               "timeout-unreplied = 20s\n"
                               "icmp-timeout = 2min\n"
                               "hold-down = 1min\n"
                               "refresh = both\n"
                               "hairpin = internal-source\n"
                               "public-ips = 198.18.0.1,198.18.0.2\n"
                               "pooling = arbitrary\n"
                               "port-block = 256\n"
                               "port-blocks-max = 8\n"
                               "port-quota = 1000\n"
                               "port-mapping = nat-pmp,pcp\n"
                               "port-mapping-lifetime-max = 2h\n"
                               "latency-inbound = 20ms\n"
                               "latency-outbound = 30ms\n"
                               "jitter-inbound = 5ms\n"
                               "jitter-outbound = 250us\n"
                               "loss-inbound = 1%\n"
                               "loss-outbound = 0.02\n"
                               "reorder-inbound = 0.001\n"
                               "reorder-outbound = 0.5%\n"
                               "tcp-mapping = address-and-port-dependent\n"
                               "tcp-filtering = address-dependent\n"
                               "tcp-allocation = sequential\n"
                               "tcp-preserve-fallback = random\n"
                               "tcp-sequential-step = 2\n"
                               "tcp-port-parity = ignore\n"
                               "tcp-hairpin = off\n"
                               "tcp-port-quota = 500\n"
                               "tcp-established-timeout = 1h\n"
                               "tcp-transitory-timeout = 30s\n"
                               "tcp-unsolicited-syn = rst\n"
                               "tcp-no-session = pickup\n"
                               "tcp-ports = shared\n"
                               "allow-out-udp = 53,1000-2000\n"
                               "allow-out-tcp = none\n"
                               "refused = reject\n";

/* to_keyfile -> load -> to_keyfile gives the same text and the same profile. */
static void check_round_trip(const nat_profile_t *p, const char *what)
{
    g_autofree char *text = nat_profile_to_keyfile(p);
    CU_ASSERT_TRUE(g_str_has_prefix(text, "[nat]\n"));
    GError *error = NULL;
    g_autoptr(nat_profile_t) again = nat_profile_load_data(text, strlen(text), "normalised", &error);
    if (!again) {
        fprintf(stderr, "\n  %s: normalised text does not load: %s\n%s", what, error->message,
                text);
        g_error_free(error);
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(again);
    g_autofree char *text2 = nat_profile_to_keyfile(again);
    if (strcmp(text, text2) != 0)
        fprintf(stderr, "\n  %s: round trip differs\n%s---\n%s", what, text, text2);
    CU_ASSERT_STRING_EQUAL(text, text2);
    if (!profile_equal(p, again))
        fprintf(stderr, "\n  %s: profile differs after a round trip\n%s", what, text);
    CU_ASSERT_TRUE(profile_equal(p, again));
}

static void test_round_trip_presets(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(preset_names); i++) {
        g_autoptr(nat_profile_t) p = preset(preset_names[i]);
        check_round_trip(p, preset_names[i]);
    }
}

static void test_round_trip_all_keys(void)
{
    g_autoptr(nat_profile_t) p = load(all_keys);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    check_round_trip(p, "all keys");

    /* Every key is printed, and nothing else. */
    g_autofree char *text = nat_profile_to_keyfile(p);
    const char *const *keys = nat_profile_keys();
    for (size_t i = 0; keys[i]; i++) {
        bool both_dirs = strcmp(keys[i], "latency") == 0 || strcmp(keys[i], "jitter") == 0 ||
                         strcmp(keys[i], "loss") == 0 || strcmp(keys[i], "reorder") == 0;
        /* tcp-port-range cannot go with port-block: test_tcp_keys has it. */
        if (strcmp(keys[i], "preset") == 0 || both_dirs || strcmp(keys[i], "tcp-port-range") == 0)
            continue;
        g_autofree char *line = g_strdup_printf("\n%s = ", keys[i]);
        ASSERT_CONTAINS(text, line);
    }
    ASSERT_CONTAINS(text, "\nsequential-step = 3\n");
    ASSERT_CONTAINS(text, "\nloss-inbound = 0.01\n");
    ASSERT_CONTAINS(text, "\nreorder-outbound = 0.005\n");
    ASSERT_CONTAINS(text, "\ntimeout = 90s\n");
    ASSERT_CONTAINS(text, "\nport-mapping-lifetime-max = 2h\n");

    /* The symmetric form, and a few odd spellings that normalise. */
    g_autoptr(nat_profile_t) q =
        load("preset = cgnat\nallocation = sequential\nsequential-step = 7\nlatency = 1500ms\n"
             "loss = 5%\nport-mapping = pcp, nat-pmp\ntimeout = 300s\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    check_round_trip(q, "cgnat overrides");
    g_autofree char *qt = nat_profile_to_keyfile(q);
    ASSERT_CONTAINS(qt, "\nlatency = 1500ms\n");
    ASSERT_CONTAINS(qt, "\nloss = 0.05\n");
    ASSERT_CONTAINS(qt, "\nport-mapping = nat-pmp,pcp\n");
    ASSERT_CONTAINS(qt, "\ntimeout = 5min\n");
}

static void test_normalised_keys_by_type(void)
{
    /* Only keys with meaning for the type are printed. */
    g_autoptr(nat_profile_t) open = preset("no-nat");
    g_autofree char *ot = nat_profile_to_keyfile(open);
    CU_ASSERT_TRUE(g_str_has_prefix(ot, "[nat]\ntype = open\n"));
    CU_ASSERT_PTR_NULL(strstr(ot, "timeout"));
    CU_ASSERT_PTR_NULL(strstr(ot, "mapping"));
    ASSERT_CONTAINS(ot, "\nlatency = 0s\n");

    g_autoptr(nat_profile_t) fw = preset("firewall");
    g_autofree char *ft = nat_profile_to_keyfile(fw);
    ASSERT_CONTAINS(ft, "\nfiltering = address-and-port-dependent\n");
    ASSERT_CONTAINS(ft, "\ntimeout = ");
    CU_ASSERT_PTR_NULL(strstr(ft, "\nmapping"));
    CU_ASSERT_PTR_NULL(strstr(ft, "\nhairpin"));

    g_autoptr(nat_profile_t) blocked = preset("udp-blocked");
    g_autofree char *bt = nat_profile_to_keyfile(blocked);
    CU_ASSERT_STRING_EQUAL(bt, "[nat]\ntype = blocked\n");
}

/* The JSON object has the key file's keys, in order, with the same values. */
static void check_json_matches(const nat_profile_t *p, const char *what)
{
    g_autofree char *json = nat_profile_to_json(p);
    CU_ASSERT_PTR_NULL(strchr(json, '\n'));
    g_autoptr(JsonParser) parser = json_parser_new();
    GError *error = NULL;
    if (!json_parser_load_from_data(parser, json, -1, &error)) {
        fprintf(stderr, "\n  %s: JSON does not parse: %s\n%s\n", what, error->message, json);
        g_error_free(error);
        CU_FAIL_FATAL("JSON does not parse");
    }
    JsonNode *root = json_parser_get_root(parser);
    CU_ASSERT_FATAL(JSON_NODE_HOLDS_OBJECT(root));
    JsonObject *obj = json_node_get_object(root);

    g_autofree char *text = nat_profile_to_keyfile(p);
    g_autoptr(keyfile_t) kf = keyfile_load_data(text, strlen(text), "normalised", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kf);
    gsize n = 0;
    g_auto(GStrv) keys = keyfile_keys(kf, "nat", &n);
    GList *members = json_object_get_members(obj);
    /* The JSON leaves out the keys that were added after results rows were
     * first written, when they hold their defaults: they must be exactly those. */
    static const char *const omissible[][2] = {
        { "icmp-timeout", "1min" },           { "tcp-established-timeout", "124min" },
        { "tcp-transitory-timeout", "4min" }, { "tcp-unsolicited-syn", "hold" },
        { "tcp-no-session", "drop" },         { "tcp-ports", "separate" },
        { "allow-out-udp", "all" },           { "allow-out-tcp", "all" },
        { "refused", "drop" },                { "tcp-reset-session", "reopen" },
    };
    gsize omitted = 0;
    for (gsize i = 0; i < n; i++) {
        if (json_object_has_member(obj, keys[i]))
            continue;
        g_autofree char *value = keyfile_get(kf, "nat", keys[i]);
        bool allowed = false;
        for (size_t k = 0; k < G_N_ELEMENTS(omissible); k++)
            allowed = allowed || (strcmp(keys[i], omissible[k][0]) == 0 &&
                                  strcmp(value, omissible[k][1]) == 0);
        if (!allowed)
            fprintf(stderr, "\n  %s: JSON lacks %s = %s\n", what, keys[i], value);
        CU_ASSERT_TRUE(allowed);
        omitted++;
    }
    CU_ASSERT_EQUAL(g_list_length(members) + omitted, n);
    GList *m = members;
    for (gsize i = 0; i < n && m; i++, m = m->next) {
        while (i < n && !json_object_has_member(obj, keys[i]))
            i++;
        if (i == n)
            break;
        CU_ASSERT_STRING_EQUAL(m->data, keys[i]);
        g_autofree char *value = keyfile_get(kf, "nat", keys[i]);
        JsonNode *node = json_object_get_member(obj, keys[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(node);
        CU_ASSERT_FATAL(JSON_NODE_HOLDS_VALUE(node));
        GType t = json_node_get_value_type(node);
        if (t == G_TYPE_STRING) {
            CU_ASSERT_STRING_EQUAL(json_node_get_string(node), value);
        } else if (t == G_TYPE_INT64) {
            g_autofree char *num = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
            CU_ASSERT_STRING_EQUAL(num, value);
        } else if (t == G_TYPE_DOUBLE) {
            CU_ASSERT_DOUBLE_EQUAL(json_node_get_double(node), g_ascii_strtod(value, NULL),
                                   1e-12);
        } else {
            fprintf(stderr, "\n  %s: %s has JSON type %s\n", what, keys[i], g_type_name(t));
            CU_FAIL("unexpected JSON type");
        }
    }
    g_list_free(members);
}

static void test_json_output(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(preset_names); i++) {
        g_autoptr(nat_profile_t) p = preset(preset_names[i]);
        check_json_matches(p, preset_names[i]);
    }
    g_autoptr(nat_profile_t) all = load(all_keys);
    CU_ASSERT_PTR_NOT_NULL_FATAL(all);
    check_json_matches(all, "all keys");

    /* Numbers are numbers, names are strings. */
    g_autoptr(nat_profile_t) cgn = preset("cgnat");
    g_autoptr(JsonNode) node = nat_profile_to_json_node(cgn);
    JsonObject *obj = json_node_get_object(node);
    CU_ASSERT_EQUAL(json_object_get_int_member(obj, "port-block"), 512);
    CU_ASSERT_EQUAL(json_object_get_int_member(obj, "public-ips"), 2);
    CU_ASSERT_STRING_EQUAL(json_object_get_string_member(obj, "mapping"), "endpoint-independent");
    CU_ASSERT_STRING_EQUAL(json_object_get_string_member(obj, "hold-down"), "2min");
    CU_ASSERT_DOUBLE_EQUAL(json_object_get_double_member(obj, "loss"), 0.0, 1e-12);
}

/* TCP keys: overrides reach the TCP view and only it; defaults per RFC 5382. */
static void test_tcp_keys(void)
{
    g_autoptr(nat_profile_t) d = load("mapping = endpoint-independent\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_EQUAL(d->tcp_established_timeout, (2 * 60 + 4) * USEC_PER_MIN); /* REQ-5 */
    CU_ASSERT_EQUAL(d->tcp_transitory_timeout, 4 * USEC_PER_MIN);
    CU_ASSERT_EQUAL(d->tcp_unsolicited_syn, NAT_TCP_UNSOLICITED_HOLD);             /* REQ-4 */
    CU_ASSERT_TRUE(d->allow_out_tcp.all && d->allow_out_udp.all);

    g_autoptr(nat_profile_t) p = load("mapping = endpoint-independent\nallocation = preserve\n"
                                      "tcp-mapping = address-and-port-dependent\n"
                                      "tcp-allocation = random\ntcp-port-range = 30000-30999\n"
                                      "tcp-hairpin = off\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    nat_profile_t view;
    nat_profile_tcp_view(p, &view);
    CU_ASSERT_EQUAL(view.mapping, NAT_ADDRESS_AND_PORT_DEPENDENT);
    CU_ASSERT_EQUAL(view.allocation, NAT_ALLOC_RANDOM);
    CU_ASSERT_EQUAL(view.port_min, 30000);
    CU_ASSERT_EQUAL(view.port_max, 30999);
    CU_ASSERT_EQUAL(view.hairpin, NAT_HAIRPIN_OFF);
    CU_ASSERT_EQUAL(view.filtering, p->filtering); /* not overridden: follows */
    CU_ASSERT_EQUAL(p->mapping, NAT_ENDPOINT_INDEPENDENT);
    CU_ASSERT_EQUAL(p->port_min, 1024);
    check_round_trip(p, "tcp overrides");
    check_json_matches(p, "tcp overrides");

    /* A block holds every protocol's ports. */
    g_autofree char *msg = load_error("port-block = 512\ntcp-port-range = 2000-3000\n");
    ASSERT_CONTAINS(msg, "tcp-port-range cannot differ from port-range when port-block is set");
    /* The TCP view must be valid on its own. */
    g_autofree char *msg2 = load_error("tcp-port-range = 4000-4000\ntcp-port-parity = preserve\n");
    ASSERT_CONTAINS(msg2, "for TCP: port-range 4000-4000 holds only one parity");

    g_autoptr(nat_profile_t) allow = load("allow-out-tcp = 80,443,8000-8080\nallow-out-udp = none\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(allow);
    CU_ASSERT_TRUE(nat_allow_has(&allow->allow_out_tcp, 443));
    CU_ASSERT_TRUE(nat_allow_has(&allow->allow_out_tcp, 8080));
    CU_ASSERT_FALSE(nat_allow_has(&allow->allow_out_tcp, 8081));
    CU_ASSERT_FALSE(nat_allow_has(&allow->allow_out_tcp, 22));
    CU_ASSERT_FALSE(nat_allow_has(&allow->allow_out_udp, 53));
    g_autofree char *text = nat_profile_to_keyfile(allow);
    ASSERT_CONTAINS(text, "\nallow-out-tcp = 80,443,8000-8080\n");
    ASSERT_CONTAINS(text, "\nallow-out-udp = none\n");
    static const char *const bad_allow[] = { "0", "443-80", "http", "70000", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17" };
    for (size_t i = 0; i < G_N_ELEMENTS(bad_allow); i++) {
        g_autofree char *keys = g_strdup_printf("allow-out-tcp = %s\n", bad_allow[i]);
        g_autofree char *m = load_error(keys);
        g_autofree char *want = g_strdup_printf("[nat] allow-out-tcp = %s: allowed: all, none, or up to 16 ports", bad_allow[i]);
        ASSERT_CONTAINS(m, want);
    }
}

/* ---- set, groups, foreign keys, files ---------------------------------- */

static void test_set(void)
{
    g_autoptr(nat_profile_t) p = preset("home-router");
    GError *error = NULL;
    CU_ASSERT_TRUE(nat_profile_set(p, "timeout", "45s", &error));
    CU_ASSERT_PTR_NULL(error);
    CU_ASSERT_EQUAL(p->timeout, 45 * USEC_PER_SEC);
    CU_ASSERT_TRUE(nat_profile_set(p, "filtering", "endpoint-independent", NULL));
    CU_ASSERT_EQUAL(p->filtering, NAT_ENDPOINT_INDEPENDENT);
    CU_ASSERT_STRING_EQUAL(p->name, "home-router");

    g_autofree char *before = nat_profile_to_keyfile(p);
    g_autoptr(nat_profile_t) copy = nat_profile_copy(p);

    /* A bad value, an unknown key, a broken cross-key check: nothing changes. */
    CU_ASSERT_FALSE(nat_profile_set(p, "mapping", "sideways", &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    ASSERT_CONTAINS(error->message, "mapping = sideways");
    ASSERT_CONTAINS(error->message, "allowed");
    g_clear_error(&error);
    CU_ASSERT_FALSE(nat_profile_set(p, "colour", "blue", &error));
    ASSERT_CONTAINS(error->message, "unknown key");
    g_clear_error(&error);
    CU_ASSERT_FALSE(nat_profile_set(p, "timeout-unreplied", "1h", &error));
    ASSERT_CONTAINS(error->message, "must not exceed timeout");
    g_clear_error(&error);
    CU_ASSERT_FALSE(nat_profile_set(p, "loss", "2", NULL));

    g_autofree char *after = nat_profile_to_keyfile(p);
    CU_ASSERT_STRING_EQUAL(before, after);
    CU_ASSERT_TRUE(profile_equal(p, copy));
    CU_ASSERT_STRING_EQUAL(p->name, "home-router");

    /* "preset" through set starts over from that preset. */
    CU_ASSERT_TRUE(nat_profile_set(p, "preset", "symmetric", NULL));
    g_autoptr(nat_profile_t) sym = preset("symmetric");
    CU_ASSERT_TRUE(profile_equal(p, sym));
}

static void test_copy_and_free(void)
{
    g_autoptr(nat_profile_t) p = preset("cgnat");
    nat_profile_t *c = nat_profile_copy(p);
    CU_ASSERT_TRUE(profile_equal(p, c));
    CU_ASSERT_PTR_NOT_EQUAL(c->name, p->name);
    CU_ASSERT_STRING_EQUAL(c->name, p->name);
    nat_profile_free(c);
    nat_profile_free(NULL);
}

static void test_groups(void)
{
    const char extra[] = "[nat]\ntype = nat\n[extra]\nx = 1\n";
    GError *error = NULL;
    CU_ASSERT_PTR_NULL(nat_profile_load_data(extra, strlen(extra), ORIGIN, &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    ASSERT_CONTAINS(error->message, ORIGIN);
    ASSERT_CONTAINS(error->message, "[extra]");
    ASSERT_CONTAINS(error->message, "only [nat]");
    g_clear_error(&error);

    const char none[] = "[router]\ntype = nat\n";
    CU_ASSERT_PTR_NULL(nat_profile_load_data(none, strlen(none), ORIGIN, &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    ASSERT_CONTAINS(error->message, "no [nat] group");
    g_clear_error(&error);

    CU_ASSERT_PTR_NULL(nat_profile_load_data("", 0, ORIGIN, &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    ASSERT_CONTAINS(error->message, "no [nat] group");
    g_clear_error(&error);

    const char syntax[] = "[nat]\ntype = nat\nnot a key\n";
    CU_ASSERT_PTR_NULL(nat_profile_load_data(syntax, strlen(syntax), ORIGIN, &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    ASSERT_CONTAINS(error->message, ORIGIN ":3:");
    g_clear_error(&error);

    g_autofree char *dup = load_error("timeout = 30s\ntimeout = 60s\n");
    ASSERT_CONTAINS(dup, ORIGIN ":5:");
    ASSERT_CONTAINS(dup, "timeout");
}

static void test_apply_group_foreign_keys(void)
{
    /* A scenario's [nat-a] group mixes profile keys with its own. */
    const char text[] = "[nat-a]\npreset = symmetric\nbehind = nat-b\ntimeout = 1min\n";
    g_autoptr(keyfile_t) kf = keyfile_load_data(text, strlen(text), "scenario.ini", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kf);
    static const char *const foreign[] = { "behind", NULL };

    g_autoptr(nat_profile_t) p = preset("full-cone");
    GError *error = NULL;
    CU_ASSERT_TRUE(nat_profile_apply_group(p, kf, "nat-a", foreign, &error));
    CU_ASSERT_PTR_NULL(error);
    CU_ASSERT_EQUAL(p->mapping, NAT_ADDRESS_AND_PORT_DEPENDENT);
    CU_ASSERT_EQUAL(p->timeout, USEC_PER_MIN);

    /* Without the list, "behind" is just an unknown key. */
    g_autoptr(nat_profile_t) q = preset("full-cone");
    CU_ASSERT_FALSE(nat_profile_apply_group(q, kf, "nat-a", NULL, &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    ASSERT_CONTAINS(error->message, "scenario.ini:3: [nat-a] behind = nat-b: unknown key");
    g_clear_error(&error);

    /* Cross-key errors name the group. */
    const char bad[] = "[nat-b]\ntimeout = 10s\ntimeout-unreplied = 20s\n";
    g_autoptr(keyfile_t) kb = keyfile_load_data(bad, strlen(bad), "scenario.ini", NULL);
    g_autoptr(nat_profile_t) r = preset("full-cone");
    CU_ASSERT_FALSE(nat_profile_apply_group(r, kb, "nat-b", foreign, &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    ASSERT_CONTAINS(error->message, "scenario.ini: [nat-b]: timeout-unreplied");
    g_clear_error(&error);

    /* A group that is not there changes nothing. */
    g_autoptr(nat_profile_t) s = preset("full-cone");
    g_autoptr(nat_profile_t) full = preset("full-cone");
    CU_ASSERT_TRUE(nat_profile_apply_group(s, kf, "absent", foreign, NULL));
    CU_ASSERT_TRUE(profile_equal(s, full));
}

int main(void)
{
    static const test_case_t cases[] = {
        { "presets list", test_presets_list },
        { "presets load and validate", test_presets_load_and_validate },
        { "preset dimensions", test_preset_dimensions },
        { "preset summaries", test_preset_summaries },
        { "unknown preset", test_unknown_preset },
        { "preset with overrides", test_preset_with_overrides },
        { "enum keys", test_enum_keys },
        { "number keys", test_number_keys },
        { "duration keys", test_duration_keys },
        { "icmp-timeout: default 60 s, parsed, shown", test_icmp_timeout_key },
        { "impairment keys", test_impairment_keys },
        { "loss percent", test_loss_percent },
        { "port-mapping key", test_port_mapping_key },
        { "public-ips", test_public_ips },
        { "bad values", test_bad_values },
        { "enum errors, byte for byte", test_enum_errors_exact },
        { "every key covered", test_every_key_covered },
        { "unknown key", test_unknown_key },
        { "scope", test_scope },
        { "cross key", test_cross_key },
        { "round trip presets", test_round_trip_presets },
        { "round trip all keys", test_round_trip_all_keys },
        { "normalised keys by type", test_normalised_keys_by_type },
        { "json output", test_json_output },
        { "tcp keys", test_tcp_keys },
        { "set", test_set },
        { "copy and free", test_copy_and_free },
        { "groups", test_groups },
        { "apply group foreign keys", test_apply_group_foreign_keys },
        { NULL, NULL },
    };
    return test_run_suite("nat_profile", cases);
}
