/* Port mapping over UPnP IGD in sim mode (sim/simnet: the agents' punch
 * cores behind natsim engines whose gateways answer SSDP and HTTP through
 * natsim's own nat_upnp core). A symmetric NAT that offers only UPnP goes
 * direct with technique port-mapped; the gateway that answers NAT-PMP or
 * PCP first wins the race; a reboot loses the mapping, which the agent
 * finds gone and re-creates; a mapping is renewed before its lease ends. */
#include <CUnit/Basic.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "agent/punch.h"
#include "natsim/nat_profile.h"
#include "sim/simnet.h"
#include "natsim_fixture.h"
#include "testutil.h"

#define SYM_UPNP "[nat]\npreset = symmetric\nport-mapping = upnp\n"

/* What the agents said about port mappings. */
typedef struct mapping_log {
    unsigned events[SIMNET_HOSTS], upnp[SIMNET_HOSTS], pcp[SIMNET_HOSTS], recreated[SIMNET_HOSTS];
    unsigned fallbacks;
    usec_t first_at[SIMNET_HOSTS], direct_after_recreate;
    addr_endpoint_t external[SIMNET_HOSTS];
    uint32_t lifetime_s;
    bool trace;
} mapping_log_t;

static void log_event(unsigned host, usec_t t, const punch_event_t *e, void *ctx)
{
    mapping_log_t *log = ctx;
    if (log->trace)
        fprintf(stderr, "  [%u %.3f] %s %s %s\n", host, (double)t / 1e6, punch_event_name(e->kind),
                agentmsg_technique_name(e->technique), e->reason ? e->reason : "");
    if (e->kind == PUNCH_EVENT_RELAY_FALLBACK)
        log->fallbacks++;
    if ((e->kind == PUNCH_EVENT_DIRECT || e->kind == PUNCH_EVENT_PATH_CHANGED) && host == 0 &&
        e->path == PUNCH_PATH_DIRECT && log->recreated[0] + log->recreated[1] && !log->direct_after_recreate)
        log->direct_after_recreate = t;
    if (e->kind != PUNCH_EVENT_PORT_MAPPING)
        return;
    if (!log->events[host]++)
        log->first_at[host] = t;
    log->upnp[host] += e->upnp;
    log->pcp[host] += e->pcp;
    log->recreated[host] += e->reason != NULL;
    log->external[host] = e->remote;
    log->lifetime_s = e->lifetime_s;
}

static simnet_result_t sim_run(simnet_options_t o, const char *a, const char *b, mapping_log_t *log)
{
    nat_profile_t *pa = profile_of(a), *pb = profile_of(b);
    o.nat[0] = pa;
    o.nat[1] = pb;
    log->trace = g_getenv("PUNCH_TRACE") != NULL;
    o.trace = log_event;
    o.trace_ctx = log;
    simnet_result_t r;
    g_assert(simnet_attempt(&o, &r));
    nat_profile_free(pa);
    nat_profile_free(pb);
    return r;
}

static bool direct_portmapped(const char *what, const simnet_result_t *r)
{
    bool ok = r->done && r->path == PUNCH_PATH_DIRECT && r->technique == AGENTMSG_TECHNIQUE_PORTMAP;
    if (!ok)
        fprintf(stderr, "%s: done %d path %s technique %s failure %s\n", what, r->done,
                punch_path_name(r->path), agentmsg_technique_name(r->technique),
                r->failure ? r->failure : "-");
    return ok;
}

/* A symmetric NAT offering only UPnP, on either side, against a symmetric
 * or a port-restricted-cone peer: direct through the UPnP mapping. */
static void test_symmetric_upnp(void)
{
    static const char *const peers[] = { "symmetric", "port-restricted-cone" };
    for (unsigned c = 0; c < G_N_ELEMENTS(peers); c++) {
        for (unsigned side = 0; side < 2; side++) {
            mapping_log_t log = { 0 };
            simnet_options_t o = { .seed = 130 + c * 2 + side };
            simnet_result_t r = sim_run(o, side ? peers[c] : SYM_UPNP, side ? SYM_UPNP : peers[c], &log);
            char what[80];
            g_snprintf(what, sizeof what, "upnp on side %u against %s", side, peers[c]);
            CU_ASSERT(direct_portmapped(what, &r));
            CU_ASSERT_EQUAL(log.upnp[side], 1);
            CU_ASSERT_EQUAL(log.events[!side], 0);
            CU_ASSERT(log.external[side].ip == ADDR_IP(198, 18, side + 1, 1));
            /* SSDP, the description, the address, the mapping and its check:
             * a handful of LAN round trips, well before punching ends. */
            CU_ASSERT(log.first_at[side] > 0 && log.first_at[side] < 50 * USEC_PER_MSEC);
            CU_ASSERT_EQUAL(r.stats[0].delivered, r.stats[0].data_sent);
        }
    }
    /* Switched off, the same pair relays. */
    punch_config_t agent;
    punch_config_init(&agent);
    agent.portmap = false;
    mapping_log_t log = { 0 };
    simnet_options_t o = { .seed = 139, .agent = &agent };
    simnet_result_t r = sim_run(o, SYM_UPNP, "symmetric", &log);
    CU_ASSERT(r.done && r.path == PUNCH_PATH_RELAY);
    CU_ASSERT_EQUAL(log.events[0], 0);
}

/* A gateway offering all three (the openwrt preset's set): PCP answers in
 * one round trip, UPnP needs several, so PCP wins and UPnP stops; a
 * gateway offering UPnP and NAT-PMP over a symmetric NAT goes direct. */
static void test_race(void)
{
    mapping_log_t log = { 0 };
    simnet_options_t o = { .seed = 141 };
    simnet_result_t r = sim_run(o, "[nat]\npreset = symmetric\nport-mapping = nat-pmp,pcp,upnp\n",
                                "symmetric", &log);
    CU_ASSERT(direct_portmapped("all three", &r));
    CU_ASSERT_EQUAL(log.events[0], 1);
    CU_ASSERT_EQUAL(log.upnp[0], 0);
    CU_ASSERT_EQUAL(log.pcp[0], 1);
}

/* The lease: natsim caps it at port-mapping-lifetime-max (10 s here); the
 * agent learns the granted lease from GetSpecificPortMappingEntry and
 * renews before half of it is over, so the mapping never lapses over 40 s
 * of data, and no renewal is reported as a new mapping. */
static void test_renewal(void)
{
    mapping_log_t log = { 0 };
    simnet_options_t o = { .seed = 150, .send = 10, .hold = 40 * USEC_PER_SEC };
    simnet_result_t r = sim_run(o, "[nat]\npreset = symmetric\nport-mapping = upnp\n"
                                   "port-mapping-lifetime-max = 10s\n",
                                "symmetric", &log);
    CU_ASSERT(direct_portmapped("renewal", &r));
    CU_ASSERT_EQUAL(log.events[0], 1);
    CU_ASSERT(log.lifetime_s >= 9 && log.lifetime_s <= 10);
    CU_ASSERT_EQUAL(log.fallbacks, 0);
    CU_ASSERT_EQUAL(r.stats[0].fallbacks, 0);
    CU_ASSERT_EQUAL(r.stats[0].delivered, r.stats[0].data_sent);
}

/* The gateway reboots mid-session and forgets every mapping, UPnP's too:
 * the direct path dies, the agent falls back to the relay, finds its
 * mapping gone (714), re-creates it (on the same external port, which is
 * free) and goes direct again; no message is lost. */
static void test_reboot(void)
{
    static const char *const peers[] = { "port-restricted-cone", "symmetric" };
    for (unsigned c = 0; c < G_N_ELEMENTS(peers); c++) {
        punch_config_t agent;
        punch_config_init(&agent);
        agent.keepalive = 2 * USEC_PER_SEC;
        simnet_event_t reboot = { .at = 5 * USEC_PER_SEC, .host = 0, .action = SIMNET_REBOOT };
        mapping_log_t log = { 0 };
        simnet_options_t o = { .seed = 160 + c, .send = 10, .hold = 20 * USEC_PER_SEC,
                               .events = &reboot, .n_events = 1, .agent = &agent };
        simnet_result_t r = sim_run(o, SYM_UPNP, peers[c], &log);
        CU_ASSERT(direct_portmapped(peers[c], &r));
        CU_ASSERT_EQUAL(log.upnp[0], 2);
        CU_ASSERT_EQUAL(log.recreated[0], 1);
        CU_ASSERT(log.fallbacks >= 1);
        CU_ASSERT(log.direct_after_recreate > 5 * USEC_PER_SEC);
        CU_ASSERT_EQUAL(r.stats[0].delivered, r.stats[0].data_sent);
        printf("  against %s: mapping re-created, direct again at %.2f s (reboot at 5 s)\n",
               peers[c], log.direct_after_recreate / 1e6);
    }
}

/* A NAT without UPnP: the searches go unanswered, nothing else changes. */
static void test_no_upnp(void)
{
    mapping_log_t log = { 0 };
    simnet_options_t o = { .seed = 170 };
    simnet_result_t r = sim_run(o, "symmetric", "symmetric", &log);
    CU_ASSERT(r.done && r.path == PUNCH_PATH_RELAY);
    CU_ASSERT_EQUAL(log.events[0] + log.events[1], 0);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "symmetric NAT with UPnP only", test_symmetric_upnp },
        { "NAT-PMP, PCP and UPnP race", test_race },
        { "lease renewal", test_renewal },
        { "reboot: mapping re-created", test_reboot },
        { "no UPnP", test_no_upnp },
        { NULL, NULL },
    };
    return test_run_suite("portmap_upnp", cases);
}
