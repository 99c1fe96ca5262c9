/* Sim mode as a library (sim/simnet) and as the runner's worker
 * (run_simworker): the same seed gives the same result, bit for bit; a few
 * outcomes; rows as the netns runner writes them; what the sim refuses. */
#include <CUnit/Basic.h>
#include <glib.h>
#include <math.h>
#include <string.h>

#include "natsim/nat_profile.h"
#include "sim/simnet.h"
#include "run/run_simworker.h"
#include "run/run_spec.h"
#include "testutil.h"

static simnet_result_t attempt(const char *a, const char *b, simnet_options_t o)
{
    g_autoptr(nat_profile_t) pa = a ? nat_profile_new_preset(a, NULL) : NULL;
    g_autoptr(nat_profile_t) pb = b ? nat_profile_new_preset(b, NULL) : NULL;
    o.nat[0] = pa;
    o.nat[1] = pb;
    simnet_result_t r;
    CU_ASSERT_FATAL(simnet_attempt(&o, &r));
    return r;
}

/* Same options, same seed: the same struct, byte for byte (birthday
 * probing and 5% loss make plenty of random choices). Other seeds take
 * other paths. */
static void test_determinism(void)
{
    static const char *const pairs[][2] = {
        { "port-restricted-cone", "symmetric" },
        { "symmetric", "symmetric-sequential" },
        { "home-router", "cgnat" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(pairs); i++) {
        simnet_options_t o = { .seed = 1234 + i, .loss = 0.05 };
        simnet_result_t x = attempt(pairs[i][0], pairs[i][1], o);
        simnet_result_t y = attempt(pairs[i][0], pairs[i][1], o);
        CU_ASSERT(memcmp(&x, &y, sizeof x) == 0);
        CU_ASSERT(x.packets > 0);
    }
    unsigned differ = 0;
    simnet_options_t o = { .seed = 1 };
    simnet_result_t first = attempt("port-restricted-cone", "symmetric", o);
    for (uint64_t seed = 2; seed < 10; seed++) {
        o.seed = seed;
        simnet_result_t r = attempt("port-restricted-cone", "symmetric", o);
        differ += r.ttd != first.ttd || r.packets != first.packets;
    }
    CU_ASSERT(differ > 0);
}

static void test_outcomes(void)
{
    simnet_options_t o = { .seed = 5 };
    simnet_result_t r = attempt("full-cone", "full-cone", o);
    CU_ASSERT(r.done && !r.failed);
    CU_ASSERT_EQUAL(r.path, PUNCH_PATH_DIRECT);
    CU_ASSERT_EQUAL(r.technique, AGENTMSG_TECHNIQUE_PUNCH);
    CU_ASSERT_EQUAL(r.sent, SIMNET_SEND_DEFAULT);
    CU_ASSERT_EQUAL(r.stats[0].delivered, SIMNET_SEND_DEFAULT);

    r = attempt("symmetric", "symmetric", o);
    CU_ASSERT(r.done);
    CU_ASSERT_EQUAL(r.path, PUNCH_PATH_RELAY);
    CU_ASSERT_EQUAL(r.ttd, 0);

    r = attempt(NULL, "symmetric-sequential", o); /* a public host */
    CU_ASSERT(r.done);
    CU_ASSERT_EQUAL(r.path, PUNCH_PATH_DIRECT);

    r = attempt("udp-blocked", "full-cone", o); /* natlab server over TCP */
    CU_ASSERT(r.done && !r.failed);
    CU_ASSERT_EQUAL(r.path, PUNCH_PATH_RELAY);
    CU_ASSERT_EQUAL(r.stats[0].delivered, r.sent);

    g_autoptr(nat_profile_t) walled = nat_profile_new_preset("corporate", NULL);
    CU_ASSERT_FATAL(nat_profile_set(walled, "allow-out-tcp", "80", NULL));
    simnet_options_t w = o;
    w.nat[0] = walled;
    CU_ASSERT_FATAL(simnet_attempt(&w, &r));
    CU_ASSERT(r.failed && !r.done);
    CU_ASSERT_PTR_NOT_NULL(r.failure);
    CU_ASSERT(r.failure && strstr(r.failure, "TCP 443"));
    CU_ASSERT_STRING_EQUAL(r.last_event, "failed");

    simnet_options_t lan = { .seed = 5, .same_nat = true };
    r = attempt("home-router", NULL, lan);
    CU_ASSERT(r.done);
    CU_ASSERT_EQUAL(r.path, PUNCH_PATH_LAN);

    /* A flush mid-session: the path dies, the relay carries it, direct again. */
    punch_config_t agent;
    punch_config_init(&agent);
    agent.keepalive = USEC_PER_SEC;
    simnet_event_t flush = { .at = 3 * USEC_PER_SEC, .host = 0, .action = SIMNET_FLUSH };
    simnet_options_t ev = { .seed = 5, .agent = &agent, .hold = 10 * USEC_PER_SEC,
                             .events = &flush, .n_events = 1 };
    r = attempt("cgnat", "home-router", ev); /* cgnat allocates at random: a new port */
    CU_ASSERT(r.done);
    CU_ASSERT_EQUAL(r.path, PUNCH_PATH_DIRECT);
    CU_ASSERT(r.stats[0].fallbacks + r.stats[1].fallbacks >= 1);
    CU_ASSERT(r.elapsed >= 10 * USEC_PER_SEC);

    /* A profile key set mid-session, checked by the NAT. */
    simnet_event_t set = { .at = USEC_PER_SEC, .host = 0, .action = SIMNET_SET,
                            .key = "timeout", .value = "no-such-duration" };
    simnet_options_t bad = { .seed = 5, .events = &set, .n_events = 1, .hold = 2 * USEC_PER_SEC };
    r = attempt("full-cone", "full-cone", bad);
    CU_ASSERT_PTR_NOT_NULL(r.event_error);

    /* The limit stops an attempt that cannot finish. */
    simnet_options_t short_limit = { .seed = 5, .limit = 5 * USEC_PER_MSEC };
    r = attempt("full-cone", "full-cone", short_limit);
    CU_ASSERT(!r.done && !r.failed);
    CU_ASSERT_EQUAL(r.elapsed, 5 * USEC_PER_MSEC);
}

static run_spec_t *spec_of(const char *text)
{
    g_autoptr(GError) error = NULL;
    run_spec_t *s = run_spec_load_data(text, strlen(text), "t.scn", &error);
    if (!s)
        fprintf(stderr, "%s\n", error->message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    return s;
}

/* A scenario's attempts as rows: the outcome, times and counts of the
 * agent's done event, started from the epoch on the scenario's virtual
 * clock, and the same row again from the same seed. */
static void test_worker_rows(void)
{
    g_autoptr(run_spec_t) spec = spec_of("[scenario]\nname = t\n[nat a]\npreset = full-cone\n"
                                         "[nat b]\npreset = symmetric\n[host alice]\nnat = a\n"
                                         "[host bob]\nnat = b\n[agent]\nsend = 4\n"
                                         "punch-timeout = 3s\n");
    usec_t clock = 0;
    g_autoptr(result_t) r = run_simworker_attempt(spec, 1, 77, &clock);
    CU_ASSERT_EQUAL(r->outcome, RESULT_DIRECT);
    CU_ASSERT_STRING_EQUAL(r->path, "direct");
    CU_ASSERT_STRING_EQUAL(r->technique, "punch");
    CU_ASSERT_EQUAL(r->sent, 4);
    CU_ASSERT_EQUAL(r->delivered, 4);
    CU_ASSERT(r->time_to_first_byte_ms > 0 && r->time_to_direct_ms > 0);
    CU_ASSERT_STRING_EQUAL(r->started, RUN_SIMWORKER_EPOCH);
    CU_ASSERT(clock > 0 && fabs(r->duration_ms - clock / 1000.0) < 1e-9);
    CU_ASSERT_PTR_NULL(r->error);
    usec_t again = 0;
    g_autoptr(result_t) same = run_simworker_attempt(spec, 1, 77, &again);
    g_autofree char *x = result_to_line(r), *y = result_to_line(same);
    CU_ASSERT_STRING_EQUAL(x, y);
    g_autoptr(result_t) next = run_simworker_attempt(spec, 2, 78, &clock);
    CU_ASSERT_STRING_NOT_EQUAL(next->started, RUN_SIMWORKER_EPOCH);

    /* Past the deadline: failed, in the runner's words. */
    simnet_result_t stuck = { .last_event = "session", .sent = 3, .elapsed = spec->deadline };
    g_autoptr(result_t) late = result_new();
    run_simworker_result(&stuck, spec, late);
    CU_ASSERT_EQUAL(late->outcome, RESULT_FAILED);
    CU_ASSERT(g_str_has_prefix(late->error, "deadline 60 s passed"));
    CU_ASSERT(strstr(late->error, "last event: session") != NULL);
    /* Delivered over the relay: relayed, no technique. */
    simnet_result_t relayed = { .done = true, .path = PUNCH_PATH_RELAY, .sent = 10,
                                 .stats[0].delivered = 10, .ttfb = 22000 };
    g_autoptr(result_t) rel = result_new();
    run_simworker_result(&relayed, spec, rel);
    CU_ASSERT_EQUAL(rel->outcome, RESULT_RELAYED);
    CU_ASSERT_STRING_EQUAL(rel->technique, "none");
    CU_ASSERT(isnan(rel->time_to_direct_ms));
    CU_ASSERT_DOUBLE_EQUAL(rel->time_to_first_byte_ms, 22.0, 1e-9);
}

/* [agent] turn = udp: the sim's TURN server (sim/simturn) relays a
 * symmetric pair; the row says so. turn = tcp is refused (UDP only). */
static void test_worker_turn(void)
{
    static const char text[] = "[scenario]\nname = t\n[nat a]\npreset = symmetric\n"
                               "[nat b]\npreset = symmetric\n[host alice]\nnat = a\n"
                               "[host bob]\nnat = b\n[agent]\nturn = udp\n";
    g_autoptr(run_spec_t) spec = spec_of(text);
    CU_ASSERT_PTR_NULL(run_simworker_check(spec));
    usec_t clock = 0;
    g_autoptr(result_t) r = run_simworker_attempt(spec, 1, 77, &clock);
    CU_ASSERT_EQUAL(r->outcome, RESULT_RELAYED);
    CU_ASSERT_EQUAL(r->delivered, r->sent);
    CU_ASSERT_STRING_EQUAL(r->relay, "turn");
    CU_ASSERT(r->turn_sent > 0 && r->turn_received > 0);
    /* Without the key: natlab's relay, and no TURN members. */
    g_autoptr(run_spec_t) plain = spec_of("[scenario]\nname = t\n[nat a]\npreset = symmetric\n"
                                          "[nat b]\npreset = symmetric\n[host alice]\nnat = a\n"
                                          "[host bob]\nnat = b\n");
    clock = 0;
    g_autoptr(result_t) p = run_simworker_attempt(plain, 1, 77, &clock);
    CU_ASSERT_EQUAL(p->outcome, RESULT_RELAYED);
    CU_ASSERT_PTR_NULL(p->relay);
    CU_ASSERT_EQUAL(p->turn_sent, 0);
    g_autofree char *tcp_text = g_strdup(text);
    memcpy(strstr(tcp_text, "turn = udp") + 7, "tcp", 3);
    g_autoptr(run_spec_t) tcp = spec_of(tcp_text);
    g_autofree char *why = run_simworker_check(tcp);
    ASSERT_CONTAINS(why, "t.scn:12: [agent] turn = tcp: sim mode's TURN server (sim/simturn) "
                         "speaks UDP only; use turn = udp, or run it without --sim");
}

static void test_refused(void)
{
    static const struct { const char *text, *want; } cases[] = {
        { "[nat cgn]\npreset = cgnat\n[nat home]\npreset = home-router\nbehind = cgn\n"
          "[host alice]\nnat = home\n[host bob]\n",
          "t.scn:3: [nat home] behind = cgn: sim mode cannot express a NAT behind another NAT" },
        { "[nat a]\npreset = full-cone\nlatency = 20ms\n[host alice]\nnat = a\n[host bob]\n",
          "t.scn:1: [nat a] latency: sim mode does not model" },
        { "[host alice]\n[host bob]\n[host carol]\nrun = sleep 1\n",
          "t.scn:3: [host carol] run = sleep 1: sim mode runs only the two agents" },
        { "[scenario]\npcap = on\n[host alice]\n[host bob]\n",
          "t.scn: [scenario] pcap = on: sim mode has no packets" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(run_spec_t) spec = spec_of(cases[i].text);
        g_autofree char *why = run_simworker_check(spec);
        CU_ASSERT_PTR_NOT_NULL(why);
        if (why && !g_str_has_prefix(why, cases[i].want))
            fprintf(stderr, "  got: %s\n  want: %s...\n", why, cases[i].want);
        CU_ASSERT(why && g_str_has_prefix(why, cases[i].want));
    }
    g_autoptr(run_spec_t) ok = spec_of("[nat a]\npreset = home-router\n[host alice]\nnat = a\n"
                                       "[host bob]\nnat = a\n[event e]\nat = 1s\nnat = a\n"
                                       "action = change-ip\n");
    g_autofree char *none = run_simworker_check(ok);
    CU_ASSERT_PTR_NULL(none);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "same seed, same result", test_determinism },
        { "outcomes and events", test_outcomes },
        { "worker rows", test_worker_rows },
        { "worker rows with TURN", test_worker_turn },
        { "what the sim refuses", test_refused },
        { NULL, NULL },
    };
    return test_run_suite("run_sim", cases);
}
