/* The punch core in sim mode (sim/simnet: two agents behind natsim
 * engines, the server cores, NAT-PMP/PCP, seeded loss, a virtual clock).
 * Every pair of presets must deliver all its data and end on the path
 * first principles predict (rfc-digest section 4); reboots, short mapping
 * timeouts, loss, one shared NAT, port mapping, spoofed and replayed
 * probes, and UDP blocked are each a test. */
#include <CUnit/Basic.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agent/punch.h"
#include "natsim/nat_profile.h"
#include "sim/simnet.h"
#include "natsim_fixture.h"
#include "testutil.h"

static void trace(unsigned host, usec_t t, const punch_event_t *e, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "  [%u %.3f] %s %s %s\n", host, (double)t / 1e6, punch_event_name(e->kind),
            agentmsg_technique_name(e->technique), e->reason ? e->reason : "");
}

/* One attempt: a in front of the connector, b in front of the listener
 * (NULL: a public host; with o.same_nat, a in front of both). */
static simnet_result_t sim_run(simnet_options_t o, const char *a, const char *b)
{
    nat_profile_t *pa = a ? profile_of(a) : NULL, *pb = b ? profile_of(b) : NULL;
    o.nat[0] = pa;
    o.nat[1] = pb;
    if (g_getenv("PUNCH_TRACE"))
        o.trace = trace;
    simnet_result_t r;
    g_assert(simnet_attempt(&o, &r));
    if (g_getenv("PUNCH_STEPS"))
        fprintf(stderr, "  %llu steps, %llu packets, %.3f s virtual\n", (unsigned long long)r.steps,
                (unsigned long long)r.packets, (double)r.elapsed / 1e6);
    nat_profile_free(pa);
    nat_profile_free(pb);
    return r;
}

/* ---- the matrix ---- */

/* rfc-digest section 4 with this agent's techniques: a direct path needs
 * one endpoint-independent mapping (birthday probing covers APDF against
 * random ports, prediction sequential ports); two endpoint-dependent
 * mappings relay, except sequential against sequential, where both sides
 * predict in the order their own NATs allocate. */
typedef enum expectation { EXPECT_DIRECT, EXPECT_RELAYED, EXPECT_ANY } expectation_t;

static bool eim(const char *preset)
{
    if (strcmp(preset, "public") == 0)
        return true;
    nat_profile_t *p = profile_of(preset);
    bool r = p->mapping == NAT_ENDPOINT_INDEPENDENT || p->type != NAT_TYPE_NAT;
    nat_profile_free(p);
    return r;
}

static expectation_t predict(const char *a, const char *b)
{
    if (eim(a) || eim(b))
        return EXPECT_DIRECT;
    if (strcmp(a, "symmetric-sequential") == 0 && strcmp(b, "symmetric-sequential") == 0)
        return EXPECT_DIRECT;
    return EXPECT_RELAYED;
}

/* "public": a host on the emulated internet itself (no-nat). */
static const char *const translating[] = { "full-cone", "restricted-cone", "port-restricted-cone",
                                           "symmetric", "symmetric-sequential", "home-router",
                                           "cgnat", "public", NULL };

static void test_matrix(void)
{
    unsigned attempts = g_getenv("PUNCH_ATTEMPTS") ? (unsigned)atoi(g_getenv("PUNCH_ATTEMPTS")) : 4;
    unsigned pairs = 0, total = 0, wrong = 0;
    for (unsigned i = 0; translating[i]; i++) {
        for (unsigned j = 0; translating[j]; j++) {
            const char *a = translating[i], *b = translating[j];
            expectation_t want = predict(a, b);
            unsigned direct = 0, delivered = 0, birthday = 0, predicted = 0;
            usec_t worst_ttd = 0;
            for (unsigned k = 0; k < attempts; k++) {
                simnet_options_t o = { .seed = 1000 * i + 100 * j + k + 1 };
                simnet_result_t r = sim_run(o, strcmp(a, "public") ? a : NULL,
                                             strcmp(b, "public") ? b : NULL);
                delivered += r.done;
                bool is_direct = r.path == PUNCH_PATH_DIRECT;
                direct += is_direct;
                birthday += r.technique == AGENTMSG_TECHNIQUE_BIRTHDAY;
                predicted += r.technique == AGENTMSG_TECHNIQUE_PREDICTED;
                if (is_direct && r.ttd > worst_ttd && r.technique != AGENTMSG_TECHNIQUE_BIRTHDAY)
                    worst_ttd = r.ttd;
                total++;
                bool ok = r.done && !r.failed &&
                          (want == EXPECT_ANY || (want == EXPECT_DIRECT) == is_direct);
                if (!ok) {
                    wrong++;
                    fprintf(stderr, "  %s -> %s seed %llu: %s, %s via %s\n", a, b,
                            (unsigned long long)o.seed, r.done ? "delivered" : "NOT delivered",
                            punch_path_name(r.path), agentmsg_technique_name(r.technique));
                }
            }
            pairs++;
            printf("  %-21s -> %-21s %u/%u delivered, %u direct (%u birthday, %u predicted), "
                   "worst time to direct %.0f ms\n",
                   a, b, delivered, attempts, direct, birthday, predicted, worst_ttd / 1000.0);
            /* Cone pairs go direct within a second on a clean path. */
            if (want == EXPECT_DIRECT && eim(a) && eim(b))
                CU_ASSERT(worst_ttd < USEC_PER_SEC);
        }
    }
    printf("  %u pairs, %u attempts, %u not as predicted\n", pairs, total, wrong);
    CU_ASSERT_EQUAL(wrong, 0);
}

/* The acceptance figure: port-restricted-cone against random symmetric goes
 * direct by birthday probing in at least 90% of attempts at the default
 * budget (expected 1 - exp(-256 * 1024 / 64512) = 98%). */
static void test_birthday_rate(void)
{
    unsigned attempts = 40, direct = 0, birthday = 0;
    for (unsigned k = 0; k < attempts; k++) {
        simnet_options_t o = { .seed = 7000 + k };
        simnet_result_t r = sim_run(o, "port-restricted-cone", "symmetric");
        CU_ASSERT(r.done);
        direct += r.path == PUNCH_PATH_DIRECT;
        birthday += r.technique == AGENTMSG_TECHNIQUE_BIRTHDAY;
    }
    printf("  port-restricted-cone -> symmetric: %u/%u direct, %u by birthday\n", direct, attempts,
           birthday);
    CU_ASSERT(direct * 10 >= attempts * 9);
    CU_ASSERT_EQUAL(birthday, direct);
}


static bool expect_outcome(const char *what, const simnet_result_t *r, bool delivered,
                           enum punch_path_kind path, uint8_t technique)
{
    bool ok = r->done == delivered && r->path == path &&
              (technique == AGENTMSG_TECHNIQUE_NONE || r->technique == technique);
    if (!ok)
        fprintf(stderr, "  %s: %s, %s via %s (expected %s via %s)\n", what,
                r->done ? "delivered" : "not delivered", punch_path_name(r->path),
                agentmsg_technique_name(r->technique), punch_path_name(path),
                agentmsg_technique_name(technique));
    return ok;
}

/* Behind udp-blocked nothing reaches the server over UDP: the agent says
 * so within the registration's retries, then registers over TCP and the
 * session is relayed (tests/unit/test_punch_tcp.c has the rest). */
static void test_udp_blocked(void)
{
    simnet_options_t o = { .seed = 3 };
    simnet_result_t r = sim_run(o, "udp-blocked", "full-cone");
    CU_ASSERT(!r.failed);
    CU_ASSERT(r.done);
    CU_ASSERT(r.elapsed <= 7 * USEC_PER_SEC);
    if (r.elapsed > 7 * USEC_PER_SEC)
        fprintf(stderr, "  done after %.3f s\n", r.elapsed / 1e6);
    CU_ASSERT_EQUAL(r.path, PUNCH_PATH_RELAY);
    CU_ASSERT_EQUAL(r.stats[0].delivered, r.sent);
}

/* 5% loss on every internet hop: every message still arrives (retransmitted
 * over whichever path is current) and the path is the predicted one. */
static void test_loss(void)
{
    static const struct { const char *a, *b; enum punch_path_kind path; } cases[] = {
        { "full-cone", "port-restricted-cone", PUNCH_PATH_DIRECT },
        { "port-restricted-cone", "port-restricted-cone", PUNCH_PATH_DIRECT },
        { "symmetric-sequential", "home-router", PUNCH_PATH_DIRECT },
        { "port-restricted-cone", "symmetric", PUNCH_PATH_DIRECT },
        { "symmetric", "symmetric", PUNCH_PATH_RELAY },
    };
    unsigned wrong = 0, runs = 0, retransmitted = 0;
    for (unsigned c = 0; c < G_N_ELEMENTS(cases); c++) {
        for (unsigned k = 0; k < 8; k++) {
            simnet_options_t o = { .loss = 0.05, .seed = 500 + 10 * c + k, .send = 40 };
            simnet_result_t r = sim_run(o, cases[c].a, cases[c].b);
            runs++;
            retransmitted += (unsigned)r.stats[0].data_retransmitted;
            /* Birthday probing is a chance of about 98% per attempt. */
            bool lucky = strcmp(cases[c].b, "symmetric") == 0 && cases[c].path == PUNCH_PATH_DIRECT &&
                         r.done && r.path == PUNCH_PATH_RELAY;
            if (!lucky && !expect_outcome(cases[c].a, &r, true, cases[c].path, AGENTMSG_TECHNIQUE_NONE))
                wrong++;
            CU_ASSERT(r.done);
        }
    }
    printf("  %u runs at 5%% loss, %u not as predicted, %u retransmissions\n", runs, wrong, retransmitted);
    CU_ASSERT(retransmitted > 0); /* the loss was real */
    CU_ASSERT(wrong <= 1);
}

/* Time to first byte is one relay round trip: the first echo comes back
 * over the relay before any direct path could be proven. */
static void test_first_byte(void)
{
    simnet_options_t o = { .seed = 9 };
    simnet_result_t r = sim_run(o, "port-restricted-cone", "port-restricted-cone");
    usec_t relay_rtt = 4 * (SIMNET_LAN_DELAY + SIMNET_WAN_DELAY);
    CU_ASSERT(r.done);
    CU_ASSERT(r.ttfb >= relay_rtt);
    CU_ASSERT(r.ttfb <= relay_rtt + 2 * USEC_PER_MSEC);
    CU_ASSERT(r.ttd > 0 && r.ttd < USEC_PER_SEC);
}

/* A NAT reboot mid-session: the direct path dies, the session falls back
 * to the relay (no message lost), re-registers and punches again. */
static void test_reboot(void)
{
    /* moves: a reboot gives that NAT's host another external port (random
     * allocation); port preservation gives the same one back, and the path
     * may survive without a fallback. */
    static const struct { const char *a, *b; uint8_t technique; bool moves[2]; } cases[] = {
        { "cgnat", "home-router", AGENTMSG_TECHNIQUE_PUNCH, { true, false } },
        { "[nat]\npreset = symmetric\nport-mapping = pcp\n", "port-restricted-cone",
          AGENTMSG_TECHNIQUE_PORTMAP, { true, false } },
        { "[nat]\npreset = symmetric\nport-mapping = nat-pmp\n", "symmetric",
          AGENTMSG_TECHNIQUE_PORTMAP, { true, true } },
    };
    for (unsigned c = 0; c < G_N_ELEMENTS(cases); c++) {
        for (unsigned which = 0; which < 2; which++) {
            simnet_event_t reboot = { .at = 5 * USEC_PER_SEC, .host = which, .action = SIMNET_REBOOT };
            punch_config_t agent;
            punch_config_init(&agent);
            agent.keepalive = 2 * USEC_PER_SEC;
            simnet_options_t o = { .seed = 40 + c, .send = 10, .hold = 20 * USEC_PER_SEC,
                                    .events = &reboot, .n_events = 1, .agent = &agent };
            simnet_result_t r = sim_run(o, cases[c].a, cases[c].b);
            char what[64];
            g_snprintf(what, sizeof what, "reboot of NAT %u, case %u", which, c);
            CU_ASSERT(expect_outcome(what, &r, true, PUNCH_PATH_DIRECT, cases[c].technique));
            if (cases[c].moves[which])
                CU_ASSERT(r.stats[0].fallbacks + r.stats[1].fallbacks >= 1);
            CU_ASSERT_EQUAL(r.stats[0].delivered, r.stats[0].data_sent);
        }
    }
}

/* The NAT's public address changes mid-session (every mapping lost, a new
 * address): the agent sees its endpoint move, falls back, and goes direct
 * again from the new address. */
static void test_address_change(void)
{
    punch_config_t agent;
    punch_config_init(&agent);
    agent.keepalive = 2 * USEC_PER_SEC;
    simnet_event_t change = { .at = 4 * USEC_PER_SEC, .host = 0, .action = SIMNET_CHANGE_IP };
    simnet_options_t o = { .seed = 21, .hold = 15 * USEC_PER_SEC, .events = &change, .n_events = 1,
                            .agent = &agent };
    simnet_result_t r = sim_run(o, "port-restricted-cone", "home-router");
    CU_ASSERT_PTR_NULL(r.event_error);
    CU_ASSERT(expect_outcome("address change", &r, true, PUNCH_PATH_DIRECT, AGENTMSG_TECHNIQUE_NONE));
    CU_ASSERT(r.stats[0].fallbacks >= 1);
    CU_ASSERT_EQUAL(r.stats[0].delivered, r.stats[0].data_sent);
}

/* A mapping timeout (5 s) shorter than the keepalive (25 s) with sparse
 * data: the path dies between messages; the agent notices (its mapping
 * moved), shortens its keepalive below the timeout and stays direct. */
static void test_short_timeout(void)
{
    simnet_options_t o = { .seed = 77, .send = 12, .interval = 8 * USEC_PER_SEC,
                            .limit = 300 * USEC_PER_SEC };
    simnet_result_t r = sim_run(o, "[nat]\npreset = port-restricted-cone\ntimeout = 5s\n",
                                 "[nat]\npreset = home-router\ntimeout = 5s\ntimeout-unreplied = 5s\n");
    CU_ASSERT(expect_outcome("short timeout", &r, true, PUNCH_PATH_DIRECT, AGENTMSG_TECHNIQUE_NONE));
    CU_ASSERT(r.keepalive_events[0] >= 1);
    CU_ASSERT(r.last_keepalive[0] > 0 && r.last_keepalive[0] < 5 * USEC_PER_SEC);
    printf("  keepalive came down to %.2f s / %.2f s after %u / %u changes\n",
           r.last_keepalive[0] / 1e6, r.last_keepalive[1] / 1e6, r.keepalive_events[0],
           r.keepalive_events[1]);
}

/* Two hosts behind one NAT: LAN by broadcast discovery, LAN by shared host
 * candidates, hairpin when neither, relay when the NAT does not hairpin. */
static void test_same_nat(void)
{
    static const struct {
        const char *nat;
        bool broadcast, share;
        enum punch_path_kind path;
        uint8_t technique;
    } cases[] = {
        { "home-router", true, false, PUNCH_PATH_LAN, AGENTMSG_TECHNIQUE_LAN },
        { "home-router", false, true, PUNCH_PATH_LAN, AGENTMSG_TECHNIQUE_LAN },
        { "home-router", false, false, PUNCH_PATH_DIRECT, AGENTMSG_TECHNIQUE_HAIRPIN },
        { "symmetric", false, false, PUNCH_PATH_RELAY, AGENTMSG_TECHNIQUE_NONE },
        { "symmetric", true, false, PUNCH_PATH_LAN, AGENTMSG_TECHNIQUE_LAN },
    };
    for (unsigned c = 0; c < G_N_ELEMENTS(cases); c++) {
        punch_config_t agent;
        punch_config_init(&agent);
        agent.broadcast = cases[c].broadcast;
        agent.share_local = cases[c].share;
        simnet_options_t o = { .same_nat = true, .seed = 60 + c, .agent = &agent };
        simnet_result_t r = sim_run(o, cases[c].nat, NULL);
        char what[80];
        g_snprintf(what, sizeof what, "same NAT %s broadcast %d share %d", cases[c].nat,
                   cases[c].broadcast, cases[c].share);
        CU_ASSERT(expect_outcome(what, &r, true, cases[c].path, cases[c].technique));
    }
}

/* The connector's path changes: how many left the LAN for a path through
 * the NAT, and the round trip of the last one. */
typedef struct path_log {
    unsigned left_lan;
    usec_t rtt;
    enum punch_path_kind path;
} path_log_t;

static void log_paths(unsigned host, usec_t t, const punch_event_t *e, void *ctx)
{
    path_log_t *log = ctx;
    (void)t;
    if (host != 0 || e->kind != PUNCH_EVENT_PATH_CHANGED)
        return;
    log->left_lan += e->from == PUNCH_PATH_LAN && e->path == PUNCH_PATH_DIRECT;
    log->rtt = e->rtt;
    log->path = e->path;
}

/* Two hosts on one LAN whose hairpin through their NAT is faster than the
 * LAN itself (5 ms each way between the hosts, 0.5 ms to the gateway): the
 * LAN path still wins, by structure (one hop, no NAT state), not by round
 * trip. The control run, without LAN candidates, measures the hairpin. */
static void test_lan_beats_hairpin(void)
{
    punch_config_t agent;
    punch_config_init(&agent);
    agent.broadcast = false;
    path_log_t hairpin = { 0 }, lan = { 0 };
    simnet_options_t o = { .same_nat = true, .seed = 71, .agent = &agent,
                           .neighbour_delay = 5 * USEC_PER_MSEC, .hold = 3 * USEC_PER_SEC,
                           .trace = log_paths, .trace_ctx = &hairpin };
    agent.share_local = false;
    simnet_result_t r = sim_run(o, "home-router", NULL);
    CU_ASSERT(expect_outcome("control: no LAN candidates", &r, true, PUNCH_PATH_DIRECT,
                             AGENTMSG_TECHNIQUE_HAIRPIN));
    agent.share_local = true;
    o.trace_ctx = &lan;
    r = sim_run(o, "home-router", NULL);
    CU_ASSERT(expect_outcome("LAN against a faster hairpin", &r, true, PUNCH_PATH_LAN,
                             AGENTMSG_TECHNIQUE_LAN));
    CU_ASSERT_EQUAL(lan.left_lan, 0);
    CU_ASSERT_EQUAL(lan.path, PUNCH_PATH_LAN);
    /* The premise: the hairpin's round trip is lower than the LAN's. */
    CU_ASSERT(hairpin.rtt > 0 && hairpin.rtt < lan.rtt);
    if (lan.left_lan || !(hairpin.rtt < lan.rtt))
        fprintf(stderr, "  hairpin %.1f ms, LAN %.1f ms, %u switches from the LAN to the NAT\n",
                hairpin.rtt / 1000.0, lan.rtt / 1000.0, lan.left_lan);
}

/* A symmetric NAT that offers PCP or NAT-PMP goes direct through the
 * mapping, even against another symmetric NAT. */
static void test_port_mapping(void)
{
    static const char *const with[] = { "[nat]\npreset = symmetric\nport-mapping = pcp\n",
                                         "[nat]\npreset = symmetric\nport-mapping = nat-pmp\n" };
    for (unsigned c = 0; c < 2; c++) {
        for (int side = 0; side < 2; side++) {
            simnet_options_t o = { .seed = 90 + c };
            simnet_result_t r = sim_run(o, side ? "symmetric" : with[c], side ? with[c] : "symmetric");
            CU_ASSERT(expect_outcome(with[c], &r, true, PUNCH_PATH_DIRECT, AGENTMSG_TECHNIQUE_PORTMAP));
        }
    }
    /* Switched off, the same pair relays. */
    punch_config_t agent;
    punch_config_init(&agent);
    agent.portmap = false;
    simnet_options_t o = { .seed = 95, .agent = &agent };
    simnet_result_t r = sim_run(o, with[0], "symmetric");
    CU_ASSERT(expect_outcome("no port mapping", &r, true, PUNCH_PATH_RELAY, AGENTMSG_TECHNIQUE_NONE));
}

/* Replayed, forged and malformed datagrams aimed at an agent are dropped and
 * counted, and the session goes on. */
static void inject(simnet_t *s, void *ctx)
{
    (void)ctx;
    addr_endpoint_t src, dst;
    size_t len = 0;
    const uint8_t *probe = simnet_captured_probe(s, &src, &dst, &len);
    g_assert(probe);
    /* the same probe again: a replay */
    simnet_inject(s, src, dst, probe, len);
    /* a forged tag */
    uint8_t forged[AGENTMSG_MAX_SIZE];
    memcpy(forged, probe, len);
    forged[len - 1] ^= 0x5a;
    forged[8] ^= 0x01; /* a new counter, so only the tag can catch it */
    simnet_inject(s, src, dst, forged, len);
    /* junk */
    static const uint8_t junk[] = { AGENTMSG_MAGIC, 1, 16, 0, 1, 2, 3 };
    simnet_inject(s, src, dst, junk, sizeof junk);
}

static void test_spoofed_and_replayed(void)
{
    simnet_options_t o = { .seed = 31, .hold = 3 * USEC_PER_SEC, .hook = inject,
                            .hook_at = 2 * USEC_PER_SEC };
    simnet_result_t r = sim_run(o, "port-restricted-cone", "port-restricted-cone");
    CU_ASSERT(expect_outcome("after injection", &r, true, PUNCH_PATH_DIRECT, AGENTMSG_TECHNIQUE_NONE));
    uint64_t replay = 0, auth = 0, malformed = 0;
    for (unsigned h = 0; h < SIMNET_HOSTS; h++) {
        replay += r.stats[h].dropped[PUNCH_DROP_REPLAY];
        auth += r.stats[h].dropped[PUNCH_DROP_AUTH];
        malformed += r.stats[h].dropped[PUNCH_DROP_MALFORMED];
    }
    CU_ASSERT_EQUAL(replay, 1);
    CU_ASSERT_EQUAL(auth, 1);
    CU_ASSERT_EQUAL(malformed, 1);
}

/* With the server's secret, both sides derive the session key; an agent
 * with another secret is never registered. */
static void test_secret(void)
{
    static const uint8_t secret[] = "lab secret";
    punch_config_t agent;
    punch_config_init(&agent);
    agent.secret = secret;
    agent.secret_len = sizeof secret - 1;
    simnet_options_t o = { .seed = 12, .agent = &agent, .secret = secret,
                            .secret_len = sizeof secret - 1 };
    simnet_result_t r = sim_run(o, "full-cone", "port-restricted-cone");
    CU_ASSERT(expect_outcome("with a secret", &r, true, PUNCH_PATH_DIRECT, AGENTMSG_TECHNIQUE_NONE));
    static const uint8_t other[] = "another secret";
    agent.secret = other;
    agent.secret_len = sizeof other - 1;
    r = sim_run(o, "full-cone", "port-restricted-cone");
    CU_ASSERT(r.failed);
    CU_ASSERT(r.stats[0].registrations == 0);
}


/* ---- the hard pairs ---- */

/* Every event of both agents, for the tests below. */
typedef struct events {
    usec_t session[SIMNET_HOSTS], gave_up[SIMNET_HOSTS];
    const char *reason[SIMNET_HOSTS];
    unsigned gave_ups;
} events_t;

static void record(unsigned host, usec_t t, const punch_event_t *e, void *ctx)
{
    events_t *ev = ctx;
    if (g_getenv("PUNCH_TRACE"))
        trace(host, t, e, NULL);
    if (e->kind == PUNCH_EVENT_SESSION && !ev->session[host])
        ev->session[host] = t;
    if (e->kind == PUNCH_EVENT_PUNCH_GAVE_UP) {
        ev->gave_up[host] = t;
        ev->reason[host] = e->reason;
        ev->gave_ups++;
    }
}

static simnet_result_t sim_record(simnet_options_t o, const char *a, const char *b, events_t *ev)
{
    memset(ev, 0, sizeof *ev);
    nat_profile_t *pa = profile_of(a), *pb = profile_of(b);
    o.nat[0] = pa;
    o.nat[1] = pb;
    o.trace = record;
    o.trace_ctx = ev;
    simnet_result_t r;
    g_assert(simnet_attempt(&o, &r));
    nat_profile_free(pa);
    nat_profile_free(pb);
    return r;
}

#define SEQ_STEP_3 "[nat]\nmapping = address-and-port-dependent\n" \
                   "filtering = address-and-port-dependent\nallocation = sequential\n" \
                   "sequential-step = 3\n"

/* Sequential against sequential: each side's j-th new mapping points at the
 * other's j-th, so every attempt without other traffic goes direct by
 * prediction (issue 13: at least 95% over 20), whatever the steps. */
static void test_sequential_pair(void)
{
    const char *peers[] = { "symmetric-sequential", SEQ_STEP_3 };
    for (unsigned i = 0; i < G_N_ELEMENTS(peers); i++) {
        unsigned direct = 0;
        for (unsigned k = 0; k < 20; k++) {
            events_t ev;
            simnet_options_t o = { .seed = 700 + k };
            simnet_result_t r = sim_record(o, "symmetric-sequential", peers[i], &ev);
            direct += expect_outcome("seq x seq", &r, true, PUNCH_PATH_DIRECT,
                                     AGENTMSG_TECHNIQUE_PREDICTED);
            CU_ASSERT(r.ttd < USEC_PER_SEC);
        }
        printf("  symmetric-sequential x %s: %u/20 direct\n", i ? "step 3" : "itself", direct);
        CU_ASSERT_EQUAL(direct, 20);
    }
    /* 5% loss on the internet: lost probes, bindings and words through the
     * relay are sent again, and nothing else may take a port meanwhile; a
     * lost PEER (seeds 813, 818, 833) is a new session after a re-CONNECT. */
    unsigned direct = 0, attempts = 100;
    for (unsigned k = 0; k < attempts; k++) {
        events_t ev;
        simnet_options_t o = { .seed = 800 + k, .loss = 0.05 };
        simnet_result_t r = sim_record(o, "symmetric-sequential", "symmetric-sequential", &ev);
        CU_ASSERT(r.done);
        bool ok = r.path == PUNCH_PATH_DIRECT && r.technique == AGENTMSG_TECHNIQUE_PREDICTED;
        direct += ok;
        if (!ok || !r.done)
            fprintf(stderr, "  seed %llu: %s, %s (last event %s)\n", (unsigned long long)o.seed,
                    r.done ? "delivered" : "NOT delivered", punch_path_name(r.path),
                    r.last_event ? r.last_event : "-");
    }
    printf("  at 5%% loss: %u/%u direct\n", direct, attempts);
    CU_ASSERT(direct >= attempts * 95 / 100);
}

static void noisy_neighbour(simnet_t *sim, void *ctx)
{
    simnet_cross_traffic(sim, 1, *(unsigned *)ctx);
}

static void noisy_connector(simnet_t *sim, void *ctx)
{
    simnet_cross_traffic(sim, 0, *(unsigned *)ctx);
}

/* A neighbour behind the listener's NAT takes ports of its sequence. Before
 * the session (the listener waits, its NAT serves others) that is what the
 * fresh look just before punching is for: still direct. Between that look
 * and the probes a few new mappings are absorbed by the controlling side's
 * widening aims; more than the window breaks the prediction, and the agents
 * say why and settle on the relay within seconds, the data all delivered.
 * Times: both register at 33 ms, the session starts at 44 ms, the fresh look
 * is answered at 55 ms, the peer's word arrives at 66 ms. */
static void test_sequential_cross_traffic(void)
{
    static const struct {
        usec_t at;
        unsigned host, ports;
        bool direct;
    } cases[] = {
        { 38 * USEC_PER_MSEC, 1, 40, true },  /* before the look */
        { 58 * USEC_PER_MSEC, 1, 5, true },   /* between the look and the probes */
        { 58 * USEC_PER_MSEC, 0, 5, true },   /* on the controlling side */
        { 58 * USEC_PER_MSEC, 1, 14, true },
        { 58 * USEC_PER_MSEC, 1, 40, false }, /* more than the window */
        { 58 * USEC_PER_MSEC, 0, 40, false },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        events_t ev;
        unsigned ports = cases[i].ports;
        simnet_options_t o = { .seed = 41, .hook = cases[i].host ? noisy_neighbour : noisy_connector,
                               .hook_ctx = &ports, .hook_at = cases[i].at };
        simnet_result_t r = sim_record(o, "symmetric-sequential", "symmetric-sequential", &ev);
        char what[64];
        g_snprintf(what, sizeof what, "seq x seq, %u new mappings on NAT %u at %.0f ms", ports,
                   cases[i].host, cases[i].at / 1000.0);
        if (cases[i].direct) {
            CU_ASSERT(expect_outcome(what, &r, true, PUNCH_PATH_DIRECT, AGENTMSG_TECHNIQUE_PREDICTED));
            CU_ASSERT_EQUAL(ev.gave_ups, 0);
        } else {
            CU_ASSERT(expect_outcome(what, &r, true, PUNCH_PATH_RELAY, AGENTMSG_TECHNIQUE_NONE));
            CU_ASSERT(ev.gave_up[0] && ev.gave_up[0] - ev.session[0] <= 3100 * USEC_PER_MSEC);
            CU_ASSERT(ev.reason[0] && strstr(ev.reason[0], "cross-traffic"));
        }
    }
}

/* Random against random, and random against sequential, have no technique
 * with a real chance: both sides stop punching after the grace and say so
 * with the arithmetic, instead of waiting out the punch timeout (10 s). */
static void test_hopeless_pairs(void)
{
    static const struct {
        const char *a, *b, *figure;
    } cases[] = {
        { "symmetric", "symmetric", "53,710" },
        { "symmetric", "symmetric-sequential", "44,716" },
        { "symmetric-sequential", "symmetric", "44,716" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        events_t ev;
        simnet_options_t o = { .seed = 50 + i };
        simnet_result_t r = sim_record(o, cases[i].a, cases[i].b, &ev);
        CU_ASSERT(expect_outcome(cases[i].a, &r, true, PUNCH_PATH_RELAY, AGENTMSG_TECHNIQUE_NONE));
        for (unsigned h = 0; h < SIMNET_HOSTS; h++) {
            CU_ASSERT(ev.gave_up[h] && ev.gave_up[h] - ev.session[h] <= 2100 * USEC_PER_MSEC);
            CU_ASSERT(ev.reason[h] && strstr(ev.reason[h], cases[i].figure));
        }
        CU_ASSERT(r.elapsed < 4 * USEC_PER_SEC);
    }
    /* The classification sees mappings, not filters: two random mappings
     * that filter endpoint-independently still meet within the grace. */
    events_t ev;
    simnet_options_t o = { .seed = 60 };
    const char *eif = "[nat]\nmapping = address-and-port-dependent\n"
                      "filtering = endpoint-independent\nallocation = random\n";
    simnet_result_t r = sim_record(o, eif, eif, &ev);
    CU_ASSERT(expect_outcome("random EIF x random EIF", &r, true, PUNCH_PATH_DIRECT,
                             AGENTMSG_TECHNIQUE_NONE));
    /* A port mapping is a way in: no early stop while one exists. */
    r = sim_record(o, "symmetric", "[nat]\nmapping = address-and-port-dependent\n"
                                   "filtering = address-and-port-dependent\n"
                                   "allocation = random\nport-mapping = nat-pmp,pcp\n", &ev);
    CU_ASSERT(expect_outcome("symmetric x symmetric with PCP", &r, true, PUNCH_PATH_DIRECT,
                             AGENTMSG_TECHNIQUE_PORTMAP));
}

int main(void)
{
    static const test_case_t cases[] = {
        { "matrix of presets", test_matrix },
        { "birthday probing rate", test_birthday_rate },
        { "UDP blocked", test_udp_blocked },
        { "5% loss", test_loss },
        { "time to first byte", test_first_byte },
        { "NAT reboot mid-session", test_reboot },
        { "public address change mid-session", test_address_change },
        { "mapping timeout shorter than the keepalive", test_short_timeout },
        { "two hosts behind one NAT", test_same_nat },
        { "LAN beats a faster hairpin", test_lan_beats_hairpin },
        { "NAT-PMP and PCP mappings", test_port_mapping },
        { "spoofed, replayed and malformed", test_spoofed_and_replayed },
        { "shared secret", test_secret },
        { "sequential against sequential", test_sequential_pair },
        { "sequential with cross-traffic", test_sequential_cross_traffic },
        { "random pairs give up early", test_hopeless_pairs },
        { NULL, NULL },
    };
    return test_run_suite("punch", cases);
}
