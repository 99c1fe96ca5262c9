/* Properties of the engine over seeded random traffic, checked against a
 * small model of what each external endpoint has earned. Every profile
 * variant runs under many seeds; a failure prints the seed to replay. */
#include "common/rng.h"
#include "natsim_fixture.h"
#include "testutil.h"

#define SEEDS 40
#define STEPS 4000
#define N_HOSTS 6
#define N_PORTS 4
#define N_REMOTE_IPS 4
#define N_REMOTE_PORTS 3

typedef struct model_entry {
    addr_endpoint_t owner;
    GHashTable *remotes; /* "ip:port" and "ip:*" strings contacted since creation */
    usec_t last_refresh;
    bool replied;
} model_entry_t;

typedef struct model {
    GHashTable *by_external; /* "ip:port" -> model_entry_t */
    const nat_profile_t *profile;
    unsigned failures;
    uint64_t seed;
    unsigned admitted, filtered;
} model_t;

static char *ep_key(addr_endpoint_t e)
{
    char buf[ADDR_ENDPOINT_STRLEN];
    return g_strdup(addr_endpoint_format(e, buf));
}

static char *ip_key(uint32_t ip)
{
    char buf[ADDR_IP_STRLEN];
    return g_strdup_printf("%s:*", addr_ip_format(ip, buf));
}

static void entry_free(gpointer p)
{
    model_entry_t *m = p;
    g_hash_table_destroy(m->remotes);
    g_free(m);
}

static void model_fail(model_t *m, const char *what)
{
    if (m->failures++ < 5)
        fprintf(stderr, "  property violated (seed %" G_GUINT64_FORMAT "): %s\n", m->seed, what);
}

static void model_outbound(model_t *m, addr_endpoint_t internal, addr_endpoint_t remote,
                           const nat_verdict_t *v, usec_t now)
{
    if (v->action != NAT_ACTION_FORWARD)
        return;
    char *key = ep_key(v->src);
    model_entry_t *entry = g_hash_table_lookup(m->by_external, key);
    if (v->created || !entry) {
        if (!v->created)
            model_fail(m, "an existing mapping the model never saw created");
        entry = g_new0(model_entry_t, 1);
        entry->remotes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_hash_table_replace(m->by_external, g_strdup(key), entry);
    } else if (!addr_endpoint_equal(entry->owner, internal)) {
        model_fail(m, "two internal endpoints share one live external endpoint");
    }
    entry->owner = internal;
    entry->last_refresh = now;
    g_hash_table_add(entry->remotes, ep_key(remote));
    g_hash_table_add(entry->remotes, ip_key(remote.ip));
    g_free(key);
}

static void model_inbound(model_t *m, addr_endpoint_t remote, addr_endpoint_t external,
                          const nat_verdict_t *v, usec_t now)
{
    const nat_profile_t *p = m->profile;
    char *key = ep_key(external);
    model_entry_t *entry = g_hash_table_lookup(m->by_external, key);
    g_free(key);
    if (v->action != NAT_ACTION_FORWARD) {
        m->filtered += v->reason == NAT_DROP_FILTERED;
        return;
    }
    m->admitted++;
    if (!entry) {
        model_fail(m, "inbound admitted to an endpoint never mapped");
        return;
    }
    if (!addr_endpoint_equal(v->dst, entry->owner))
        model_fail(m, "inbound delivered to an endpoint that does not own the mapping");
    usec_t life = (p->timeout_unreplied && !entry->replied) ? p->timeout_unreplied : p->timeout;
    if (now >= entry->last_refresh + life)
        model_fail(m, "inbound admitted after the mapping's timeout");
    char *rk = ep_key(remote), *ik = ip_key(remote.ip);
    if (p->filtering == NAT_ADDRESS_AND_PORT_DEPENDENT && !g_hash_table_contains(entry->remotes, rk))
        model_fail(m, "APDF admitted a remote endpoint never contacted");
    if (p->filtering == NAT_ADDRESS_DEPENDENT && !g_hash_table_contains(entry->remotes, ik))
        model_fail(m, "ADF admitted a remote address never contacted");
    g_free(rk);
    g_free(ik);
    /* Replied: the long timeout counts from the last refresh, as before. */
    entry->replied = true;
    if (p->refresh == NAT_REFRESH_BOTH)
        entry->last_refresh = now;
}

typedef struct census {
    model_t *model;
    GHashTable *externals, *keys, *per_host;
    GHashTable *blocks; /* "int_ip/block" */
} census_t;

static void census_visit(const nat_mapping_info_t *info, void *ctx)
{
    census_t *c = ctx;
    const nat_profile_t *p = c->model->profile;
    char *ext = ep_key(info->external);
    if (!g_hash_table_add(c->externals, ext))
        model_fail(c->model, "two live mappings share an external address:port");
    /* The mapping key: EIM -> one per internal endpoint; ADM adds the remote IP. */
    char *key = g_strdup_printf("%08x:%u/%08x:%u", info->internal.ip, info->internal.port,
                                p->mapping == NAT_ENDPOINT_INDEPENDENT ? 0 : info->remote.ip,
                                p->mapping == NAT_ADDRESS_AND_PORT_DEPENDENT ? info->remote.port : 0);
    if (!g_hash_table_add(c->keys, key))
        model_fail(c->model, p->mapping == NAT_ENDPOINT_INDEPENDENT
                                 ? "EIM gave one internal endpoint two live external endpoints"
                                 : "two live mappings for one mapping key");
    gpointer host = GUINT_TO_POINTER(info->internal.ip);
    g_hash_table_insert(c->per_host, host,
                        GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(c->per_host, host)) + 1));
    if (p->port_block)
        g_hash_table_add(c->blocks, g_strdup_printf("%08x/%u", info->internal.ip,
                                                    (info->external.port - p->port_min) / p->port_block));
    if (info->external.port < p->port_min || info->external.port > p->port_max)
        model_fail(c->model, "an external port outside the port range");
    if (p->port_parity == NAT_PARITY_PRESERVE && ((info->external.port ^ info->internal.port) & 1))
        model_fail(c->model, "port parity not preserved");
}

static void census_check(model_t *m, nat_engine_t *e)
{
    const nat_profile_t *p = m->profile;
    census_t c = {
        .model = m,
        .externals = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
        .keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
        .per_host = g_hash_table_new(g_direct_hash, g_direct_equal),
        .blocks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
    };
    nat_engine_foreach(e, census_visit, &c);
    GHashTableIter it;
    gpointer host, count;
    g_hash_table_iter_init(&it, c.per_host);
    while (g_hash_table_iter_next(&it, &host, &count)) {
        unsigned limit = p->port_quota ? p->port_quota : UINT_MAX;
        if (p->port_block)
            limit = MIN(limit, (unsigned)p->port_block * p->port_blocks_max);
        if (GPOINTER_TO_UINT(count) > limit)
            model_fail(m, "a subscriber holds more mappings than its quota");
        unsigned blocks = 0;
        GHashTableIter bit;
        gpointer bkey;
        g_hash_table_iter_init(&bit, c.blocks);
        char prefix[16];
        g_snprintf(prefix, sizeof prefix, "%08x/", GPOINTER_TO_UINT(host));
        while (g_hash_table_iter_next(&bit, &bkey, NULL))
            blocks += g_str_has_prefix(bkey, prefix);
        if (p->port_block && blocks > p->port_blocks_max)
            model_fail(m, "a subscriber holds more port blocks than allowed");
    }
    if (g_hash_table_size(c.externals) != nat_engine_stats(e)->active)
        model_fail(m, "the active gauge disagrees with the table");
    g_hash_table_destroy(c.externals);
    g_hash_table_destroy(c.keys);
    g_hash_table_destroy(c.per_host);
    g_hash_table_destroy(c.blocks);
}

static addr_endpoint_t random_internal(rng_t *r)
{
    return ep(HOST_A + rng_below(r, N_HOSTS), (uint16_t)(5000 + rng_below(r, N_PORTS)));
}

static addr_endpoint_t random_remote(rng_t *r)
{
    return ep(REMOTE_Y + rng_below(r, N_REMOTE_IPS), (uint16_t)(3478 + rng_below(r, N_REMOTE_PORTS)));
}

/* Runs random traffic on one profile under many seeds; returns violations. */
static unsigned run_property(const char *keys, unsigned *admitted_out, unsigned *filtered_out)
{
    unsigned failures = 0, admitted = 0, filtered = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        nat_engine_t *e = engine_from(keys, seed);
        model_t m = {
            .by_external = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, entry_free),
            .profile = nat_engine_profile(e),
            .seed = seed,
        };
        rng_t r;
        rng_seed(&r, seed * 7919);
        usec_t now = 0, step = m.profile->timeout / 8;
        GArray *recent = g_array_new(FALSE, FALSE, sizeof(addr_endpoint_t));
        for (int i = 0; i < STEPS; i++) {
            now += rng_below(&r, (uint32_t)MIN(step, (usec_t)UINT32_MAX));
            uint32_t what = rng_below(&r, 100);
            if (what < 55) {
                addr_endpoint_t from = random_internal(&r), to = random_remote(&r);
                nat_verdict_t v = out(e, from, to, now);
                model_outbound(&m, from, to, &v, now);
                if (v.action == NAT_ACTION_FORWARD)
                    g_array_append_val(recent, v.src);
            } else if (what < 95 && recent->len) {
                addr_endpoint_t to = g_array_index(recent, addr_endpoint_t, rng_below(&r, recent->len));
                addr_endpoint_t from = random_remote(&r);
                nat_verdict_t v = in(e, from, to, now);
                model_inbound(&m, from, to, &v, now);
            } else if (what < 98) {
                nat_engine_expire(e, now);
            } else {
                census_check(&m, e);
            }
        }
        census_check(&m, e);
        failures += m.failures;
        admitted += m.admitted;
        filtered += m.filtered;
        g_array_free(recent, TRUE);
        g_hash_table_destroy(m.by_external);
        nat_engine_free(e);
    }
    *admitted_out = admitted;
    *filtered_out = filtered;
    return failures;
}

static void check_profile(const char *keys)
{
    unsigned admitted, filtered;
    unsigned failures = run_property(keys, &admitted, &filtered);
    CU_ASSERT_EQUAL(failures, 0);
    /* The traffic must exercise both sides of the filter to mean anything. */
    CU_ASSERT_TRUE(admitted > 100);
    if (!strstr(keys, "endpoint-independent\n") && !strstr(keys, "full-cone") && !strstr(keys, "cgnat"))
        CU_ASSERT_TRUE(filtered > 100);
}

static void test_full_cone(void) { check_profile("preset = full-cone\ntimeout = 30s\n"); }
static void test_restricted_cone(void) { check_profile("preset = restricted-cone\ntimeout = 30s\n"); }
static void test_port_restricted(void) { check_profile("preset = port-restricted-cone\ntimeout = 30s\nrefresh = both\n"); }
static void test_symmetric(void) { check_profile("preset = symmetric\ntimeout = 30s\nport-range = 2000-2100\n"); }
static void test_symmetric_sequential(void) { check_profile("preset = symmetric-sequential\ntimeout = 20s\nsequential-step = 2\nport-parity = preserve\n"); }
static void test_adm_adf(void) { check_profile("mapping = address-dependent\nfiltering = address-dependent\nallocation = random\ntimeout = 30s\nhold-down = 10s\n"); }
static void test_apdm_eif(void) { check_profile("mapping = address-and-port-dependent\nfiltering = endpoint-independent\nallocation = preserve\npreserve-fallback = sequential\ntimeout = 30s\n"); }
static void test_home_router(void) { check_profile("preset = home-router\nport-range = 5000-5002\n"); }
static void test_cgnat(void) { check_profile("preset = cgnat\nport-block = 8\nport-blocks-max = 2\nport-range = 1024-1087\ntimeout = 30s\nhold-down = 5s\n"); }
static void test_quota(void) { check_profile("preset = symmetric\nport-quota = 5\npublic-ips = 3\npooling = arbitrary\ntimeout = 30s\n"); }
static void test_firewall(void) { check_profile("preset = firewall\ntimeout = 30s\n"); }

/* The sequential step is exact while no port collides, across hosts. */
static void test_sequential_step_exact(void)
{
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        rng_t r;
        rng_seed(&r, seed);
        unsigned step = 1 + rng_below(&r, 40);
        char keys[128];
        g_snprintf(keys, sizeof keys, "preset = symmetric-sequential\nsequential-step = %u\n", step);
        nat_engine_t *e = engine_from(keys, seed);
        uint32_t range = 65535 - 1024 + 1;
        int prev = -1;
        for (int i = 0; i < 500; i++) {
            nat_verdict_t v = out(e, random_internal(&r), ep(REMOTE_Y, (uint16_t)(1 + i)), 0);
            CU_ASSERT_TRUE(v.created);
            if (prev >= 0)
                CU_ASSERT_EQUAL(((uint32_t)v.src.port - 1024 + range - ((uint32_t)prev - 1024)) % range, step);
            prev = v.src.port;
        }
        nat_engine_free(e);
    }
}

int main(void)
{
    static const test_case_t cases[] = {
        { "full-cone", test_full_cone },
        { "restricted-cone", test_restricted_cone },
        { "port-restricted-cone, refresh both", test_port_restricted },
        { "symmetric, small range", test_symmetric },
        { "symmetric-sequential with parity", test_symmetric_sequential },
        { "ADM + ADF with hold-down", test_adm_adf },
        { "APDM + EIF, preserve", test_apdm_eif },
        { "home-router, 3 ports (exhaustion)", test_home_router },
        { "cgnat blocks", test_cgnat },
        { "port quota, arbitrary pooling", test_quota },
        { "firewall", test_firewall },
        { "sequential step exact across hosts", test_sequential_step_exact },
        { NULL, NULL },
    };
    return test_run_suite("nat_properties", cases);
}
