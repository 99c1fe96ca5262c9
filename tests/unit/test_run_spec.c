/* run_spec: the runner's groups of a scenario file and their errors
 * (FILE:LINE: [group] key = value: what is allowed). */
#include <string.h>

#include "run/run_spec.h"
#include "testutil.h"

static const char base[] = "[scenario]\n"            /* 1 */
                           "repeat = 4\n"            /* 2 */
                           "[nat home]\n"            /* 3 */
                           "preset = home-router\n"  /* 4 */
                           "[nat far]\n"             /* 5 */
                           "preset = symmetric\n"    /* 6 */
                           "[host alice]\n"          /* 7 */
                           "nat = home\n"            /* 8 */
                           "[host bob]\n"            /* 9 */
                           "nat = far\n";            /* 10 */

static run_spec_t *load(const char *extra, char **message)
{
    g_autofree char *text = g_strconcat(base, extra, NULL);
    GError *error = NULL;
    run_spec_t *spec = run_spec_load_data(text, strlen(text), "s.scn", &error);
    *message = error ? g_strdup(error->message) : NULL;
    g_clear_error(&error);
    return spec;
}

static void test_defaults(void)
{
    char *msg;
    run_spec_t *spec = load("", &msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    CU_ASSERT_EQUAL(spec->repeat, 4);
    CU_ASSERT_EQUAL(spec->connect, 0);
    CU_ASSERT_EQUAL(spec->listen, 1);
    /* The runner adds a public server host with two addresses. */
    CU_ASSERT_TRUE(spec->server_added);
    CU_ASSERT_TRUE(spec->start_server);
    const scenario_host_t *server = scenario_host(spec->scenario, (guint)spec->server);
    CU_ASSERT_STRING_EQUAL(server->name, "server");
    CU_ASSERT_EQUAL(server->addresses, 2);
    CU_ASSERT_EQUAL(server->nat_index, -1);
    CU_ASSERT_EQUAL(spec->expect->outcome, RUN_EXPECT_ANY);
    CU_ASSERT_EQUAL(spec->deadline, RUN_DEADLINE_DEFAULT);
    CU_ASSERT_FALSE(spec->mutates);
    run_spec_free(spec);
}

static void test_agent_flags_and_argv(void)
{
    char *msg;
    run_spec_t *spec = load("[agent]\nconnect = bob\nlisten = alice\nkeepalive = 5s\n"
                            "predict = off\nshare-local = on\nbirthday-probes = 64\nsend = 3\n"
                            "hold = 2s\n",
                            &msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    CU_ASSERT_EQUAL(spec->connect, 1);
    CU_ASSERT_EQUAL(spec->listen, 0);
    char **c = run_spec_agent_argv(spec, true, "198.19.1.1:3478", "bob-1", "alice-1", 9, NULL, NULL);
    g_autofree char *cl = g_strjoinv(" ", c);
    CU_ASSERT_STRING_EQUAL(cl, "agent --server 198.19.1.1:3478 --name bob-1 --seed 9 --json "
                               "--keepalive 5s --no-predict --share-local --birthday-probes 64 "
                               "connect alice-1 --send 3 --hold 2s");
    char **l = run_spec_agent_argv(spec, false, "198.19.1.1:3478", "alice-1", NULL, 8, NULL, NULL);
    g_autofree char *ll = g_strjoinv(" ", l);
    CU_ASSERT_STRING_EQUAL(ll, "agent --server 198.19.1.1:3478 --name alice-1 --seed 8 --json "
                               "--keepalive 5s --no-predict --share-local --birthday-probes 64 "
                               "listen --once");
    g_strfreev(c);
    g_strfreev(l);
    run_spec_free(spec);
}

/* [agent] turn: the transport to coturn, which gets an address of its own on
 * the server host after natlab server's; the agents get --turn and friends. */
static void test_turn(void)
{
    char *msg;
    run_spec_t *spec = load("[agent]\nturn = udp\nkeepalive = 5s\n", &msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    CU_ASSERT_EQUAL(spec->turn, RUN_TURN_UDP);
    CU_ASSERT_EQUAL(spec->turn_line, 12);
    const scenario_host_t *server = scenario_host(spec->scenario, (guint)spec->server);
    CU_ASSERT_EQUAL(server->addresses, 3);
    CU_ASSERT_EQUAL(spec->turn_address, 3);
    CU_ASSERT_EQUAL(run_spec_server_addresses(spec), 2);
    char **c = run_spec_agent_argv(spec, true, "198.19.1.1:3478", "alice-1", "bob-1", 9,
                                   "198.19.1.3", "/state/turn-password");
    g_autofree char *cl = g_strjoinv(" ", c);
    CU_ASSERT_STRING_EQUAL(cl, "agent --server 198.19.1.1:3478 --name alice-1 --seed 9 --json "
                               "--keepalive 5s --turn turn:198.19.1.3:3478?transport=udp "
                               "--turn-user natlab --turn-password-file /state/turn-password "
                               "connect bob-1");
    char **l = run_spec_agent_argv(spec, false, "198.19.1.1:3478", "bob-1", NULL, 8,
                                   "198.19.1.3", "/state/turn-password");
    g_autofree char *ll = g_strjoinv(" ", l);
    ASSERT_CONTAINS(ll, "--turn turn:198.19.1.3:3478?transport=udp --turn-user natlab "
                        "--turn-password-file /state/turn-password listen --once");
    g_strfreev(c);
    g_strfreev(l);
    run_spec_free(spec);

    /* A server host of the scenario's own: coturn after its one address. */
    spec = load("[host srv]\n[agent]\nserver = srv\nturn = tcp\n", &msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    CU_ASSERT_EQUAL(spec->turn, RUN_TURN_TCP);
    CU_ASSERT_EQUAL(scenario_host(spec->scenario, (guint)spec->server)->addresses, 2);
    CU_ASSERT_EQUAL(spec->turn_address, 2);
    CU_ASSERT_EQUAL(run_spec_server_addresses(spec), 1);
    c = run_spec_agent_argv(spec, true, "198.19.1.1:3478", "a", "b", 1, "198.19.1.2", "/p");
    cl = (g_free(cl), g_strjoinv(" ", c));
    ASSERT_CONTAINS(cl, "--turn turn:198.19.1.2:3478?transport=tcp ");
    g_strfreev(c);
    run_spec_free(spec);

    /* off: as without the key, byte for byte. */
    spec = load("[agent]\nturn = off\n", &msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    CU_ASSERT_EQUAL(spec->turn, RUN_TURN_NONE);
    CU_ASSERT_EQUAL(spec->turn_address, 0);
    CU_ASSERT_EQUAL(scenario_host(spec->scenario, (guint)spec->server)->addresses, 2);
    c = run_spec_agent_argv(spec, false, "198.19.1.1:3478", "a", NULL, 1, NULL, NULL);
    cl = (g_free(cl), g_strjoinv(" ", c));
    CU_ASSERT_STRING_EQUAL(cl, "agent --server 198.19.1.1:3478 --name a --seed 1 --json listen --once");
    g_strfreev(c);
    run_spec_free(spec);

    /* natlab up: the key checked, no address added. */
    g_autofree char *text = g_strconcat(base, "[host srv]\n[agent]\nserver = srv\nturn = udp\n", NULL);
    GError *error = NULL;
    g_autoptr(scenario_t) s = run_spec_load_scenario(text, strlen(text), "s.scn", NULL, &error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(scenario_host(s, 2)->addresses, 1);

    run_turn_t t;
    CU_ASSERT_TRUE(run_turn_parse("tcp", &t) && t == RUN_TURN_TCP);
    CU_ASSERT_FALSE(run_turn_parse("UDP", &t));
    CU_ASSERT_FALSE(run_turn_parse(NULL, &t));
    CU_ASSERT_PTR_NULL(run_turn_name(RUN_TURN_NONE));
    CU_ASSERT_STRING_EQUAL(run_turn_name(RUN_TURN_UDP), "udp");
}

static void test_turn_errors(void)
{
    static const struct {
        const char *extra, *message;
    } bad[] = {
        { "[agent]\nturn = coturn\n",
          "s.scn:12: [agent] turn = coturn: allowed: udp, tcp, off (natlab's agent relays through coturn" },
        { "[agent]\nturn = \n", "s.scn:12: [agent] turn = : allowed: udp, tcp, off" },
        { "[agent]\nkind = libnice\nturn = udp\n",
          "s.scn:13: [agent] turn = udp: a flag of natlab's own agent; kind libnice gets coturn "
          "from its kind file (servers = turn)" },
        { "[host srv]\nrun = sleep 1000\n[agent]\nserver = srv\nturn = tcp\n",
          "s.scn:15: [agent] turn = tcp: the runner starts coturn beside natlab server, but server "
          "host srv runs a program of its own (run =); allowed: no run key there, or no turn key" },
        { "[host srv]\naddresses = 8\n[agent]\nserver = srv\nturn = udp\n",
          "s.scn:15: [agent] turn = udp: coturn needs an address of its own on server host srv, "
          "which has 8 already; allowed: at most 7 addresses = there with turn" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        char *msg = NULL;
        run_spec_t *spec = load(bad[i].extra, &msg);
        CU_ASSERT_PTR_NULL(spec);
        run_spec_free(spec);
        ASSERT_CONTAINS(msg, bad[i].message);
        g_free(msg);
    }
}

static void test_events(void)
{
    char *msg;
    run_spec_t *spec = load("[event later]\nat = 10s\nnat = far\naction = change-ip\n"
                            "[event sooner]\nat = 2s\nnat = far\naction = set timeout 5s\n",
                            &msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    CU_ASSERT_EQUAL(spec->events->len, 2);
    CU_ASSERT_STRING_EQUAL(run_spec_event(spec, 0)->name, "sooner");
    CU_ASSERT_STRING_EQUAL(run_spec_event(spec, 0)->command, "set timeout 5s");
    CU_ASSERT_EQUAL(run_spec_event(spec, 1)->nat, 1);
    /* change-ip needs a spare address; set and change-ip change a NAT for good. */
    CU_ASSERT_EQUAL(scenario_nat(spec->scenario, 1)->spare_ips, 1);
    CU_ASSERT_EQUAL(scenario_nat(spec->scenario, 0)->spare_ips, 0);
    CU_ASSERT_TRUE(spec->mutates);
    CU_ASSERT_EQUAL(spec->hold, 15 * USEC_PER_SEC); /* last event + 5 s */
    CU_ASSERT_EQUAL(spec->deadline, 15 * USEC_PER_SEC + RUN_DEADLINE_DEFAULT);
    run_spec_free(spec);
}

static void test_attempt_seeds(void)
{
    CU_ASSERT_EQUAL(run_spec_attempt_seed(7, 1), run_spec_attempt_seed(7, 1));
    CU_ASSERT_NOT_EQUAL(run_spec_attempt_seed(7, 1), run_spec_attempt_seed(7, 2));
    CU_ASSERT_NOT_EQUAL(run_spec_attempt_seed(7, 1), run_spec_attempt_seed(8, 1));
    CU_ASSERT_TRUE(run_spec_attempt_seed(G_MAXINT64, 99) <= (uint64_t)G_MAXINT64);
}

static void test_errors(void)
{
    static const struct {
        const char *extra, *message;
    } bad[] = {
        { "[agent]\nconnect = carol\n", "s.scn:12: [agent] connect = carol: no such host; allowed: alice, bob" },
        { "[agent]\nkeepalive = often\n", "s.scn:12: [agent] keepalive = often: allowed: a duration above 0" },
        { "[agent]\nwarp = 9\n", "s.scn:12: [agent] warp = 9: unknown key; allowed keys: connect, listen, server, hold, kind, turn, keepalive" },
        { "[agent]\npredict = yes\n", "s.scn:12: [agent] predict = yes: allowed: on, off" },
        { "[agent]\nconnect = alice\nlisten = alice\n", "[agent] listen = alice: the listening host must differ" },
        { "[agent]\nserver = alice\n", "s.scn:12: [agent] server = alice: the server must be a public host" },
        { "[expect]\nsuccess-rate >= 2\n", "s.scn:12: [expect] success-rate >= 2: allowed: success-rate >= RATE" },
        { "[event x]\nat = 1s\nnat = moon\naction = reboot\n", "s.scn:13: [event x] nat = moon: no such NAT; allowed: home, far" },
        { "[event x]\nat = 1s\nnat = far\naction = explode\n", "s.scn:14: [event x] action = explode: allowed: reboot, flush, change-ip, set KEY VALUE" },
        { "[event x]\nat = 1s\nnat = far\naction = set timeout forever\n", "s.scn:14: [event x] action = set timeout forever: " },
        { "[event x]\nat = soon\nnat = far\naction = flush\n", "s.scn:12: [event x] at = soon: allowed: a duration" },
        { "[event x]\nnat = far\naction = flush\n", "[event x]: at is missing" },
        { "[event x]\nat = 1s\nnat = far\naction = flush\nwhen = now\n", "[event x] when = now: unknown key" },
        { "[agent]\nhold = 1s\n[event x]\nat = 3s\nnat = far\naction = flush\n", "[agent] hold = 1s: the session ends before the last event" },
        { "[scenario]\n", "" }, /* placeholder, replaced below */
    };
    for (unsigned i = 0; i + 1 < G_N_ELEMENTS(bad); i++) {
        char *msg = NULL;
        run_spec_t *spec = load(bad[i].extra, &msg);
        CU_ASSERT_PTR_NULL(spec);
        run_spec_free(spec);
        ASSERT_CONTAINS(msg, bad[i].message);
        g_free(msg);
    }
    const char *firewall = "[nat fw]\npreset = firewall\n[event x]\nat = 1s\nnat = fw\naction = change-ip\n";
    char *msg = NULL;
    CU_ASSERT_PTR_NULL(load(firewall, &msg));
    ASSERT_CONTAINS(msg, "NAT fw does not translate");
    g_free(msg);
    const char *repeat = "[scenario]\nrepeat = 0\n[host a]\n[host b]\n";
    GError *error = NULL;
    CU_ASSERT_PTR_NULL(run_spec_load_data(repeat, strlen(repeat), "r.scn", &error));
    ASSERT_CONTAINS(error->message, "r.scn:2: [scenario] repeat = 0: allowed: 1 to");
    g_clear_error(&error);
    const char *lonely = "[host a]\n";
    CU_ASSERT_PTR_NULL(run_spec_load_data(lonely, strlen(lonely), "l.scn", &error));
    ASSERT_CONTAINS(error->message, "l.scn: the runner needs two hosts besides the server");
    g_clear_error(&error);
}

/* What `natlab up` loads: every group checked as the runner checks it, the
 * topology as written (no server added, no spare address, one host is enough). */
static void test_load_scenario(void)
{
    static const char *const bad[] = { "[agent]\nconnect = carol\n", "[agent]\nwarp = 9\n",
                                       "[agent]\nserver = alice\n",
                                       "[expect]\nsuccess-rate >= 2\n",
                                       "[event x]\nat = 1s\nnat = moon\naction = reboot\n",
                                       "[agent]\nconnect = alice\nlisten = alice\n" };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *text = g_strconcat(base, bad[i], NULL);
        GError *a = NULL, *b = NULL;
        g_autoptr(run_spec_t) spec = run_spec_load_data(text, strlen(text), "s.scn", &a);
        g_autoptr(scenario_t) s = run_spec_load_scenario(text, strlen(text), "s.scn", NULL, &b);
        CU_ASSERT_PTR_NULL(spec);
        CU_ASSERT_PTR_NULL(s);
        CU_ASSERT_TRUE_FATAL(a && b);
        /* The same words; run may list the server host it adds among the hosts. */
        CU_ASSERT_TRUE(g_str_has_prefix(a->message, b->message));
        g_clear_error(&a);
        g_clear_error(&b);
    }
    const char *repeat = "[scenario]\nrepeat = -3\n[host a]\n";
    GError *error = NULL;
    CU_ASSERT_PTR_NULL(run_spec_load_scenario(repeat, strlen(repeat), "r.scn", NULL, &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    ASSERT_CONTAINS(error->message, "r.scn:2: [scenario] repeat = -3: allowed: 1 to");
    g_clear_error(&error);

    const char *lonely = "[host a]\n";
    g_autoptr(scenario_t) one = run_spec_load_scenario(lonely, strlen(lonely), "l.scn", NULL, &error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(one);
    CU_ASSERT_EQUAL(one->hosts->len, 1);
    g_autofree char *events = g_strconcat(base, "[event x]\nat = 1s\nnat = home\naction = change-ip\n",
                                          NULL);
    g_autoptr(scenario_t) s = run_spec_load_scenario(events, strlen(events), "e.scn", NULL, &error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->hosts->len, 2); /* no server host */
    CU_ASSERT_EQUAL(scenario_nat(s, 0)->spare_ips, 0);
    g_autoptr(run_spec_t) spec = run_spec_load_data(events, strlen(events), "e.scn", &error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    CU_ASSERT_EQUAL(scenario_nat(spec->scenario, 0)->spare_ips, 1);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "defaults: agents, server, expectation", test_defaults },
        { "[agent] keys become flags", test_agent_flags_and_argv },
        { "[agent] turn: coturn's address, the agents' flags", test_turn },
        { "[agent] turn: every refusal", test_turn_errors },
        { "[event] groups", test_events },
        { "attempt seeds", test_attempt_seeds },
        { "errors", test_errors },
        { "the scenario as natlab up loads it", test_load_scenario },
        { NULL, NULL },
    };
    return test_run_suite("run_spec", cases);
}
