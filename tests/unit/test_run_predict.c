/* run_predict and run_matrix: the first-principles prediction for every
 * pair of the default presets (rfc-digest section 4), and the scenarios the
 * matrix generates from it. */
#include <math.h>
#include <string.h>

#include "run/run_matrix.h"
#include "run/run_predict.h"
#include "run/run_spec.h"
#include "testutil.h"

static const run_predict_agent_t defaults = RUN_PREDICT_AGENT_DEFAULTS;

static run_prediction_t predict(const char *a, const char *b, const run_predict_agent_t *agent)
{
    nat_profile_t *pa = strcmp(a, "public") ? nat_profile_new_preset(a, NULL) : NULL;
    nat_profile_t *pb = strcmp(b, "public") ? nat_profile_new_preset(b, NULL) : NULL;
    run_prediction_t p = run_predict(pa, pb, agent);
    /* Symmetric in its two sides. */
    run_prediction_t q = run_predict(pb, pa, agent);
    CU_ASSERT_EQUAL(p.outcome, q.outcome);
    CU_ASSERT_DOUBLE_EQUAL(p.p_direct, q.p_direct, 1e-12);
    nat_profile_free(pa);
    nat_profile_free(pb);
    return p;
}

static void expect(const char *a, const char *b, run_expect_outcome_t want, const char *technique)
{
    run_prediction_t p = predict(a, b, &defaults);
    if (p.outcome != want)
        fprintf(stderr, "%s x %s: %s\n", a, b, p.reason);
    CU_ASSERT_EQUAL(p.outcome, want);
    CU_ASSERT_STRING_EQUAL(p.technique ? p.technique : "-", technique ? technique : "-");
}
#define EXPECT expect

static void test_the_table(void)
{
    const char *none = NULL;
    /* Both keep one endpoint for every destination. */
    EXPECT("full-cone", "full-cone", RUN_EXPECT_DIRECT, "punch");
    EXPECT("port-restricted-cone", "port-restricted-cone", RUN_EXPECT_DIRECT, "punch");
    EXPECT("home-router", "cgnat", RUN_EXPECT_DIRECT, "punch");
    EXPECT("public", "symmetric", RUN_EXPECT_DIRECT, "punch");
    /* FC/EIF and RC/ADF admit the symmetric side's new port. */
    EXPECT("full-cone", "symmetric", RUN_EXPECT_DIRECT, "punch");
    EXPECT("cgnat", "symmetric", RUN_EXPECT_DIRECT, "punch");
    EXPECT("restricted-cone", "symmetric", RUN_EXPECT_DIRECT, "punch");
    EXPECT("restricted-cone", "symmetric-sequential", RUN_EXPECT_DIRECT, "punch");
    /* APDF needs the new port: predicted when sequential, birthday when random. */
    EXPECT("port-restricted-cone", "symmetric-sequential", RUN_EXPECT_DIRECT, "predicted");
    EXPECT("home-router", "symmetric-sequential", RUN_EXPECT_DIRECT, "predicted");
    EXPECT("port-restricted-cone", "symmetric", RUN_EXPECT_DIRECT, "birthday");
    EXPECT("home-router", "symmetric", RUN_EXPECT_DIRECT, "birthday");
    /* Neither side can aim. */
    EXPECT("symmetric", "symmetric", RUN_EXPECT_RELAYED, none);
    EXPECT("symmetric", "symmetric-sequential", RUN_EXPECT_RELAYED, none);
    /* Both sequential: each side predicts the other in its own NAT's order. */
    EXPECT("symmetric-sequential", "symmetric-sequential", RUN_EXPECT_DIRECT, "predicted");
    /* Random against anything per destination: the arithmetic says why. */
    CU_ASSERT_PTR_NOT_NULL(strstr(predict("symmetric", "symmetric", &defaults).reason, "53,710"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(predict("symmetric", "symmetric-sequential", &defaults).reason, "44,716"));
    /* No UDP out: natlab server over TCP relays (3478, or 443 through corporate)... */
    EXPECT("corporate", "symmetric", RUN_EXPECT_RELAYED, none);
    EXPECT("corporate", "corporate", RUN_EXPECT_RELAYED, none);
    /* ... and TCP punching goes direct where the SYNs can meet: udp-blocked
     * takes any SYN; corporate lets none out to a peer's port. */
    EXPECT("udp-blocked", "full-cone", RUN_EXPECT_DIRECT, "tcp-punch");
    EXPECT("udp-blocked", "symmetric", RUN_EXPECT_DIRECT, "tcp-punch");
    EXPECT("udp-blocked", "udp-blocked", RUN_EXPECT_DIRECT, "tcp-punch");
    EXPECT("udp-blocked", "corporate", RUN_EXPECT_RELAYED, none);
    run_predict_agent_t no_tcp_punch = defaults;
    no_tcp_punch.tcp_punch = false;
    CU_ASSERT_EQUAL(predict("udp-blocked", "full-cone", &no_tcp_punch).outcome, RUN_EXPECT_RELAYED);
    run_predict_agent_t udp_only = no_tcp_punch;
    udp_only.relay_tcp = false;
    CU_ASSERT_EQUAL(predict("udp-blocked", "full-cone", &udp_only).outcome, RUN_EXPECT_FAILED);
    nat_profile_t *walled = nat_profile_new_preset("corporate", NULL);
    CU_ASSERT_FATAL(nat_profile_set(walled, "allow-out-tcp", "80", NULL));
    CU_ASSERT_EQUAL(run_predict(walled, NULL, &defaults).outcome, RUN_EXPECT_FAILED);
    nat_profile_free(walled);
}

static void test_birthday_probability(void)
{
    /* n = 256, m = 1024, R = 64512: 1 - exp(-4.06) = 0.983. */
    run_prediction_t p = predict("port-restricted-cone", "symmetric", &defaults);
    CU_ASSERT_DOUBLE_EQUAL(p.p_direct, 1 - exp(-256.0 * 1024 / 64512), 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(run_predict_min_rate(&p, 5), 0.8, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(run_predict_min_rate(&p, 100), 0.96, 1e-9);
    /* n = m = 256 (the digest's example): about 64%. */
    run_predict_agent_t small = RUN_PREDICT_AGENT_DEFAULTS;
    small.birthday_probes = 256;
    p = predict("port-restricted-cone", "symmetric", &small);
    CU_ASSERT_DOUBLE_EQUAL(p.p_direct, 0.637, 0.001);
    run_prediction_t sure = predict("full-cone", "symmetric", &defaults);
    CU_ASSERT_DOUBLE_EQUAL(run_predict_min_rate(&sure, 5), 1, 1e-12);
}

static void test_what_the_agent_may_use(void)
{
    run_predict_agent_t no_tricks = RUN_PREDICT_AGENT_DEFAULTS;
    no_tricks.predict = no_tricks.birthday = false;
    CU_ASSERT_EQUAL(predict("port-restricted-cone", "symmetric", &no_tricks).outcome, RUN_EXPECT_RELAYED);
    CU_ASSERT_EQUAL(predict("port-restricted-cone", "symmetric-sequential", &no_tricks).outcome,
                    RUN_EXPECT_RELAYED);
    CU_ASSERT_EQUAL(predict("symmetric-sequential", "symmetric-sequential", &no_tricks).outcome,
                    RUN_EXPECT_RELAYED);
    /* Birthday probing alone finds a sequential NAT's ports too. */
    run_predict_agent_t birthday_only = no_tricks;
    birthday_only.birthday = true;
    run_prediction_t p = predict("port-restricted-cone", "symmetric-sequential", &birthday_only);
    CU_ASSERT_EQUAL(p.outcome, RUN_EXPECT_DIRECT);
    CU_ASSERT_STRING_EQUAL(p.technique, "birthday");
}

/* A stack without a relay fails where natlab's agent would be relayed; one
 * that does not punch is relayed everywhere UDP passes. */
static void test_relay_and_punch(void)
{
    run_predict_agent_t ice = RUN_PREDICT_AGENT_DEFAULTS;
    ice.predict = ice.birthday = false;
    CU_ASSERT_EQUAL(predict("full-cone", "symmetric", &ice).outcome, RUN_EXPECT_DIRECT);
    CU_ASSERT_EQUAL(predict("port-restricted-cone", "symmetric", &ice).outcome, RUN_EXPECT_RELAYED);
    run_predict_agent_t no_relay = ice;
    no_relay.relay = false;
    CU_ASSERT_EQUAL(predict("full-cone", "symmetric", &no_relay).outcome, RUN_EXPECT_DIRECT);
    run_prediction_t p = predict("port-restricted-cone", "symmetric", &no_relay);
    CU_ASSERT_EQUAL(p.outcome, RUN_EXPECT_FAILED);
    CU_ASSERT_PTR_NOT_NULL(strstr(p.reason, "no relay"));
    run_predict_agent_t relay_only = ice;
    relay_only.punch = relay_only.tcp_punch = false;
    CU_ASSERT_EQUAL(predict("full-cone", "full-cone", &relay_only).outcome, RUN_EXPECT_RELAYED);
    CU_ASSERT_EQUAL(predict("udp-blocked", "full-cone", &relay_only).outcome, RUN_EXPECT_RELAYED);
    relay_only.relay_tcp = false;
    CU_ASSERT_EQUAL(predict("udp-blocked", "full-cone", &relay_only).outcome, RUN_EXPECT_FAILED);
    relay_only.relay = false;
    CU_ASSERT_EQUAL(predict("full-cone", "full-cone", &relay_only).outcome, RUN_EXPECT_FAILED);
}

/* TCP punching from each side's TCP mapping and outbound rules: both keep
 * one mapping (whatever they answer an early SYN with), or one side takes
 * any SYN and the other may send to its port. */
static void test_tcp_punch(void)
{
    nat_profile_t *x = nat_profile_new_preset("port-restricted-cone", NULL);
    nat_profile_t *y = nat_profile_new_preset("port-restricted-cone", NULL);
    CU_ASSERT_FATAL(nat_profile_set(x, "allow-out-udp", "none", NULL));
    CU_ASSERT_FATAL(nat_profile_set(y, "allow-out-udp", "none", NULL));
    static const char *const answers[] = { "drop", "hold", "rst", "icmp" };
    for (unsigned i = 0; i < G_N_ELEMENTS(answers); i++) {
        CU_ASSERT_FATAL(nat_profile_set(x, "tcp-unsolicited-syn", answers[i], NULL));
        run_prediction_t p = run_predict(x, y, &defaults);
        CU_ASSERT_EQUAL(p.outcome, RUN_EXPECT_DIRECT);
        CU_ASSERT_STRING_EQUAL(p.technique ? p.technique : "", "tcp-punch");
    }
    /* Resets on both sides, and each NAT holds the SYN after its own
     * reset invalid (home-router's conntrack): only SYNs that cross meet.
     * One side that reopens (RFC 6146), or drops, is enough. */
    CU_ASSERT_FATAL(nat_profile_set(x, "tcp-unsolicited-syn", "rst", NULL));
    CU_ASSERT_FATAL(nat_profile_set(y, "tcp-unsolicited-syn", "rst", NULL));
    CU_ASSERT_FATAL(nat_profile_set(x, "tcp-reset-session", "invalid", NULL));
    CU_ASSERT_EQUAL(run_predict(x, y, &defaults).outcome, RUN_EXPECT_DIRECT);
    CU_ASSERT_FATAL(nat_profile_set(y, "tcp-reset-session", "invalid", NULL));
    run_prediction_t crossing = run_predict(x, y, &defaults);
    CU_ASSERT_EQUAL(crossing.outcome, RUN_EXPECT_ANY);
    ASSERT_CONTAINS(crossing.reason, "cross exactly");
    CU_ASSERT_FATAL(nat_profile_set(y, "tcp-unsolicited-syn", "drop", NULL));
    CU_ASSERT_EQUAL(run_predict(x, y, &defaults).outcome, RUN_EXPECT_DIRECT);
    CU_ASSERT_FATAL(nat_profile_set(y, "tcp-reset-session", "reopen", NULL));
    /* A TCP mapping per destination on one side: no SYN meets its peer's. */
    CU_ASSERT_FATAL(nat_profile_set(y, "tcp-mapping", "address-and-port-dependent", NULL));
    CU_ASSERT_EQUAL(run_predict(x, y, &defaults).outcome, RUN_EXPECT_RELAYED);
    /* ... unless the other side takes any SYN. */
    CU_ASSERT_EQUAL(run_predict(NULL, y, &defaults).outcome, RUN_EXPECT_DIRECT);
    /* UDP passes but no UDP pair opens (symmetric on both sides, TCP
     * endpoint-independent): TCP goes direct beside it. */
    nat_profile_t *s1 = nat_profile_new_preset("symmetric", NULL);
    nat_profile_t *s2 = nat_profile_new_preset("symmetric", NULL);
    CU_ASSERT_EQUAL(run_predict(s1, s2, &defaults).outcome, RUN_EXPECT_RELAYED);
    CU_ASSERT_FATAL(nat_profile_set(s1, "tcp-mapping", "endpoint-independent", NULL));
    CU_ASSERT_FATAL(nat_profile_set(s2, "tcp-mapping", "endpoint-independent", NULL));
    run_prediction_t p = run_predict(s1, s2, &defaults);
    CU_ASSERT_EQUAL(p.outcome, RUN_EXPECT_DIRECT);
    CU_ASSERT_STRING_EQUAL(p.technique ? p.technique : "", "tcp-punch");
    /* An outbound TCP allow-list stops the SYN to a peer's random port. */
    CU_ASSERT_FATAL(nat_profile_set(s2, "allow-out-tcp", "443", NULL));
    CU_ASSERT_EQUAL(run_predict(s1, s2, &defaults).outcome, RUN_EXPECT_RELAYED);
    nat_profile_free(s1);
    nat_profile_free(s2);
    nat_profile_free(x);
    nat_profile_free(y);
}

static void test_profiles_not_presets(void)
{
    /* APDM with port preservation punches like a cone. */
    nat_profile_t *a = nat_profile_new_preset("symmetric", NULL);
    nat_profile_t *b = nat_profile_new_preset("port-restricted-cone", NULL);
    a->allocation = NAT_ALLOC_PRESERVE;
    CU_ASSERT_EQUAL(run_predict(a, b, &defaults).outcome, RUN_EXPECT_DIRECT);
    /* ADF against arbitrary pooling over two addresses: the new port may come
     * from the other address. */
    nat_profile_t *rc = nat_profile_new_preset("restricted-cone", NULL);
    a->allocation = NAT_ALLOC_RANDOM;
    a->pooling = NAT_POOLING_ARBITRARY;
    a->public_ip_count = 2;
    CU_ASSERT_EQUAL(run_predict(rc, a, &defaults).outcome, RUN_EXPECT_RELAYED);
    nat_profile_free(a);
    nat_profile_free(b);
    nat_profile_free(rc);
}

static void test_matrix_scenarios(void)
{
    char *why = NULL;
    char **nats = run_matrix_parse_nats(NULL, &why);
    CU_ASSERT_PTR_NULL(nats);
    g_free(why);
    why = NULL;
    CU_ASSERT_PTR_NULL(run_matrix_parse_nats("full-cone,moon", &why));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "unknown preset 'moon'"));
    g_free(why);
    why = NULL;
    CU_ASSERT_PTR_NULL(run_matrix_parse_nats("cgnat,cgnat", &why));
    g_free(why);
    g_autofree char *list = g_strjoinv(",", (char **)run_matrix_default_nats);
    nats = run_matrix_parse_nats(list, &why);
    CU_ASSERT_PTR_NOT_NULL_FATAL(nats);
    CU_ASSERT_EQUAL(run_matrix_pairs(g_strv_length(nats)), 28);
    run_matrix_options_t o = { .repeat = 5, .seed = 7, .agent = RUN_PREDICT_AGENT_DEFAULTS };
    GHashTable *names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (unsigned k = 0; k < 28; k++) {
        char *text = run_matrix_scenario_text(nats, k, &o, &why);
        CU_ASSERT_PTR_NOT_NULL_FATAL(text);
        GError *error = NULL;
        run_spec_t *spec = run_spec_load_data(text, strlen(text), "matrix", &error);
        if (!spec)
            fprintf(stderr, "%s\n%s\n", error->message, text);
        CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
        CU_ASSERT_EQUAL(spec->repeat, 5);
        CU_ASSERT_FALSE(g_hash_table_contains(names, spec->scenario->name));
        g_hash_table_add(names, g_strdup(spec->scenario->name));
        if (strcmp(spec->scenario->name, "mx-prc-sym") == 0) {
            CU_ASSERT_EQUAL(spec->expect->outcome, RUN_EXPECT_DIRECT);
            CU_ASSERT_PTR_NOT_NULL(strstr(text, "success-rate >= 0.8\n"));
        }
        if (strcmp(spec->scenario->name, "mx-sym-sym") == 0)
            CU_ASSERT_EQUAL(spec->expect->outcome, RUN_EXPECT_RELAYED);
        if (strcmp(spec->scenario->name, "mx-seq-seq") == 0) {
            CU_ASSERT_EQUAL(spec->expect->outcome, RUN_EXPECT_DIRECT);
            CU_ASSERT_PTR_NULL(strstr(text, "success-rate")); /* every attempt */
        }
        if (strcmp(spec->scenario->name, "mx-sym-seq") == 0)
            CU_ASSERT_EQUAL(spec->expect->outcome, RUN_EXPECT_RELAYED);
        run_spec_free(spec);
        g_free(text);
    }
    CU_ASSERT_EQUAL(g_hash_table_size(names), 28);
    CU_ASSERT_TRUE(g_hash_table_contains(names, "mx-fc-fc"));
    CU_ASSERT_TRUE(g_hash_table_contains(names, "mx-cgn-cgn"));
    CU_ASSERT_PTR_NULL(run_matrix_scenario_text(nats, 28, &o, &why));
    g_free(why);
    g_hash_table_destroy(names);
    g_strfreev(nats);
}

/* natlab matrix --turn: every natlab pair says [agent] turn, and loads with
 * it; the prediction is the same (TURN replaces natlab's relay, punching
 * runs beside it); another kind's pairs never get it. */
static void test_matrix_turn(void)
{
    char *why = NULL;
    char **nats = run_matrix_parse_nats("full-cone,symmetric", &why);
    CU_ASSERT_PTR_NOT_NULL_FATAL(nats);
    for (run_turn_t t = RUN_TURN_UDP; t <= RUN_TURN_TCP; t++) {
        run_matrix_options_t o = { .repeat = 2, .seed = 7, .agent = RUN_PREDICT_AGENT_DEFAULTS,
                                   .turn = t };
        run_matrix_options_t plain = o;
        plain.turn = RUN_TURN_NONE;
        for (unsigned k = 0; k < 3; k++) {
            g_autofree char *text = run_matrix_scenario_text(nats, k, &o, &why);
            g_autofree char *without = run_matrix_scenario_text(nats, k, &plain, &why);
            CU_ASSERT_PTR_NOT_NULL_FATAL(text);
            g_autofree char *line = g_strdup_printf("listen = bob\nturn = %s\n", run_turn_name(t));
            ASSERT_CONTAINS(text, line);
            CU_ASSERT_PTR_NULL(strstr(without, "turn"));
            GError *error = NULL;
            g_autoptr(run_spec_t) spec = run_spec_load_data(text, strlen(text), "matrix", &error);
            g_autoptr(run_spec_t) spec0 = run_spec_load_data(without, strlen(without), "matrix", &error);
            CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
            CU_ASSERT_PTR_NOT_NULL_FATAL(spec0);
            CU_ASSERT_EQUAL(spec->turn, t);
            CU_ASSERT_EQUAL(spec->turn_address, 3);
            CU_ASSERT_EQUAL(spec->expect->outcome, spec0->expect->outcome);
            CU_ASSERT_STRING_EQUAL(spec->scenario->name, spec0->scenario->name);
        }
        o.kind_name = "libnice";
        o.kind_ref = "libnice";
        g_autofree char *kind = run_matrix_scenario_text(nats, 0, &o, &why);
        CU_ASSERT_PTR_NOT_NULL_FATAL(kind);
        CU_ASSERT_PTR_NULL(strstr(kind, "turn ="));
    }
    g_strfreev(nats);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "the digest's table, pair by pair", test_the_table },
        { "birthday probability and the rate to expect", test_birthday_probability },
        { "what the agent may use", test_what_the_agent_may_use },
        { "a stack without relay, or without punching", test_relay_and_punch },
        { "TCP punching", test_tcp_punch },
        { "profiles, not only presets", test_profiles_not_presets },
        { "the matrix's scenarios", test_matrix_scenarios },
        { "the matrix with --turn", test_matrix_turn },
        { NULL, NULL },
    };
    return test_run_suite("run_predict", cases);
}
