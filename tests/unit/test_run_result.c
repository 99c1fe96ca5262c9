/* run_result: the documented agent events (docs/agent.md) -> an attempt's
 * outcome and its results.jsonl row, and back. */
#include <math.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>

#include "run/run_result.h"
#include "testutil.h"

#define EXITED(n) ((n) << 8) /* a wait status: exited with n */

static const char *const direct_run[] = {
    "{\"t_ms\":1.0,\"event\":\"registered\",\"name\":\"a\",\"mapped\":\"198.18.1.1:4000\"}",
    "not json at all",
    "{\"t_ms\":2.5,\"event\":\"session\",\"peer\":\"b\",\"role\":\"controlling\",\"candidates\":[]}",
    "{\"t_ms\":3.0,\"event\":\"first-byte\",\"path\":\"relay\",\"rtt_ms\":1}",
    "{\"t_ms\":310.4,\"event\":\"direct\",\"path\":\"direct\",\"technique\":\"predicted\"}",
    "{\"t_ms\":311,\"event\":\"path-changed\",\"from\":\"relay\",\"to\":\"direct\",\"reason\":\"x\"}",
    "{\"t_ms\":900,\"event\":\"done\",\"sent\":10,\"delivered\":10,\"echoed\":10,\"probes_sent\":"
    "14,\"path_changes\":1,\"path\":\"direct\",\"technique\":\"predicted\","
    "\"time_to_first_byte_ms\":2.1,\"time_to_direct_ms\":310.4}",
    NULL,
};

/* What the last feed's agent said, for run_result_finish. */
static run_events_t events;

static result_t *feed(const char *const *lines)
{
    result_t *r = result_new();
    run_events_clear(&events);
    for (int i = 0; lines[i]; i++)
        run_result_feed(r, &events, lines[i]);
    return r;
}

static void test_direct(void)
{
    result_t *r = feed(direct_run);
    CU_ASSERT_TRUE(events.registered);
    run_result_finish(r, &events, EXITED(0), NULL);
    CU_ASSERT_EQUAL(r->outcome, RESULT_DIRECT);
    CU_ASSERT_STRING_EQUAL(r->technique, "predicted");
    CU_ASSERT_DOUBLE_EQUAL(r->time_to_direct_ms, 310.4, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r->time_to_first_byte_ms, 2.1, 1e-9);
    CU_ASSERT_EQUAL(r->probes_sent, 14);
    CU_ASSERT_PTR_NULL(r->error);
    result_free(r);
}

static void test_relayed_and_failed(void)
{
    const char *relayed[] = {
        "{\"t_ms\":3.0,\"event\":\"first-byte\",\"path\":\"relay\"}",
        "{\"t_ms\":900,\"event\":\"done\",\"sent\":10,\"delivered\":10,\"path\":\"relay\","
        "\"technique\":\"none\",\"time_to_direct_ms\":null}",
        NULL,
    };
    result_t *r = feed(relayed);
    run_result_finish(r, &events, EXITED(0), NULL);
    CU_ASSERT_EQUAL(r->outcome, RESULT_RELAYED);
    CU_ASSERT_TRUE(isnan(r->time_to_direct_ms));
    result_free(r);

    const char *failed[] = {
        "{\"t_ms\":5000,\"event\":\"failed\",\"reason\":\"no UDP path: the server does not answer\"}",
        "{\"t_ms\":5000,\"event\":\"done\",\"sent\":10,\"delivered\":0,\"path\":\"none\"}",
        NULL,
    };
    r = feed(failed);
    run_result_finish(r, &events, EXITED(1), NULL);
    CU_ASSERT_EQUAL(r->outcome, RESULT_FAILED);
    CU_ASSERT_STRING_EQUAL(r->error, "the agent failed: no UDP path: the server does not answer");
    result_free(r);

    /* Delivered only part of the data, without a failed event. */
    const char *partial[] = {
        "{\"t_ms\":900,\"event\":\"done\",\"sent\":10,\"delivered\":7,\"path\":\"direct\","
        "\"technique\":\"punch\"}",
        NULL,
    };
    r = feed(partial);
    run_result_finish(r, &events, EXITED(1), NULL);
    CU_ASSERT_EQUAL(r->outcome, RESULT_FAILED);
    CU_ASSERT_STRING_EQUAL(r->error, "7 of 10 messages delivered (exit status 1)");
    CU_ASSERT_STRING_EQUAL(r->technique, "none");
    result_free(r);
}

static void test_crash_and_deadline(void)
{
    const char *lines[] = { direct_run[0], direct_run[2], NULL };
    result_t *r = feed(lines);
    run_result_finish(r, &events, SIGSEGV, NULL); /* a wait status: killed by SIGSEGV */
    CU_ASSERT_EQUAL(r->outcome, RESULT_FAILED);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->error, "killed by signal 11"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r->error, "last event: session"));
    result_free(r);
    r = feed(lines);
    run_result_finish(r, &events, EXITED(0), NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->error, "before its done event"));
    result_free(r);
    /* The runner's reason wins over what the agent said. */
    r = feed(direct_run);
    run_result_finish(r, &events, SIGKILL, "deadline 30 s passed");
    CU_ASSERT_EQUAL(r->outcome, RESULT_FAILED);
    CU_ASSERT_STRING_EQUAL(r->error, "deadline 30 s passed");
    result_free(r);
}

static void test_row_round_trip(void)
{
    result_t *r = feed(direct_run);
    run_result_finish(r, &events, EXITED(0), NULL);
    r->scenario = g_strdup("mx-fc-sym");
    r->attempt = 3;
    r->seed = 1234;
    r->pair = g_strdup("full-cone/symmetric");
    r->nat_a = g_strdup("full-cone");
    r->expected = g_strdup("direct");
    r->duration_ms = 1520;
    char *line = result_to_line(r);
    CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"scenario\":\"mx-fc-sym\",\"attempt\":3,\"seed\":1234"));
    CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"nat_b\":null,\"profile_a\":null"));
    CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"outcome\":\"direct\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"pcap\":null,\"error\":null"));
    JsonNode *node = json_from_string(line, NULL);
    result_t *back = result_from_json(node, "row", 1, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_EQUAL(back->outcome, RESULT_DIRECT);
    CU_ASSERT_EQUAL(back->attempt, 3);
    CU_ASSERT_EQUAL(back->seed, 1234);
    CU_ASSERT_STRING_EQUAL(back->technique, "predicted");
    CU_ASSERT_DOUBLE_EQUAL(back->time_to_direct_ms, 310.4, 1e-6);
    CU_ASSERT_PTR_NULL(back->nat_b);
    json_node_unref(node);
    node = json_from_string("{\"scenario\":\"x\",\"outcome\":\"sideways\"}", NULL);
    GError *error = NULL;
    CU_ASSERT_PTR_NULL(result_from_json(node, "row", 1, &error));
    CU_ASSERT_PTR_NOT_NULL(error);
    g_clear_error(&error);
    json_node_unref(node);
    result_free(back);
    result_free(r);
    g_free(line);
}

/* natlab's rows read as before; another kind's carry its name and version. */
static void test_row_kind(void)
{
    result_t *r = feed(direct_run);
    run_result_finish(r, &events, EXITED(0), NULL);
    r->scenario = g_strdup("mx-nice-fc-sym");
    r->pair = g_strdup("public/public");
    g_autofree char *natlab = result_to_line(r);
    CU_ASSERT_PTR_NULL(strstr(natlab, "kind"));
    CU_ASSERT_STRING_EQUAL(result_kind_name(r), "natlab");
    r->kind = g_strdup("libnice");
    r->kind_version = g_strdup("0.1.21");
    g_autofree char *line = result_to_line(r);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(line, "\"scenario\":\"mx-nice-fc-sym\",\"kind\":\"libnice\",\"kind_version\":\"0.1.21\""));
    JsonNode *node = json_from_string(line, NULL);
    GError *error = NULL;
    result_t *back = result_from_json(node, "row", 1, &error);
    CU_ASSERT_PTR_NULL(error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_STRING_EQUAL(result_kind_name(back), "libnice");
    CU_ASSERT_STRING_EQUAL(back->kind_version, "0.1.21");
    result_free(back);
    json_node_unref(node);
    GString *said = g_string_new(line);
    g_string_replace(said, "\"libnice\"", "\"natlab\"", 1);
    node = json_from_string(said->str, NULL);
    back = result_from_json(node, "row", 1, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_PTR_NULL(back->kind);
    result_free(back);
    json_node_unref(node);
    g_string_replace(said, "\"natlab\"", "\"\"", 1);
    node = json_from_string(said->str, NULL);
    g_string_free(said, TRUE);
    CU_ASSERT_PTR_NULL(result_from_json(node, "row", 7, &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    CU_ASSERT_PTR_NOT_NULL(strstr(error->message, "row:7: \"kind\" is empty"));
    g_clear_error(&error);
    json_node_unref(node);
    result_free(r);
}

/* With [agent] turn: done's relay and TURN counts in the row, beside the
 * transport; rows without TURN have none of these members. */
static void test_row_turn(void)
{
    const char *turn_run[] = {
        "{\"t_ms\":3.0,\"event\":\"first-byte\",\"path\":\"relay\",\"relay\":\"turn\"}",
        "{\"t_ms\":900,\"event\":\"done\",\"sent\":10,\"delivered\":10,\"path\":\"relay\","
        "\"technique\":\"none\",\"time_to_direct_ms\":null,\"relay\":\"turn\","
        "\"turn_sent\":12,\"turn_received\":11}",
        NULL,
    };
    result_t *r = feed(turn_run);
    run_result_finish(r, &events, EXITED(0), NULL);
    CU_ASSERT_EQUAL(r->outcome, RESULT_RELAYED);
    CU_ASSERT_STRING_EQUAL(r->relay, "turn");
    CU_ASSERT_EQUAL(r->turn_sent, 12);
    CU_ASSERT_EQUAL(r->turn_received, 11);
    r->scenario = g_strdup("mx-sym-sym");
    r->pair = g_strdup("symmetric/symmetric");
    /* The transport comes from the scenario (run_worker_fill_row): without
     * it the row reads as rows always did. */
    g_autofree char *plain = result_to_line(r);
    CU_ASSERT_PTR_NULL(strstr(plain, "turn"));
    CU_ASSERT_PTR_NULL(strstr(plain, "\"relay\":"));
    r->turn = g_strdup("tcp");
    g_autofree char *line = result_to_line(r);
    ASSERT_CONTAINS(line, "\"delivered\":10,\"turn\":\"tcp\",\"relay\":\"turn\",\"turn_sent\":12,"
                          "\"turn_received\":11,\"expected\"");
    JsonNode *node = json_from_string(line, NULL);
    GError *error = NULL;
    result_t *back = result_from_json(node, "row", 1, &error);
    CU_ASSERT_PTR_NULL(error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_STRING_EQUAL(back->turn, "tcp");
    CU_ASSERT_STRING_EQUAL(back->relay, "turn");
    CU_ASSERT_EQUAL(back->turn_received, 11);
    g_autofree char *again = result_to_line(back);
    ASSERT_CONTAINS(again, "\"turn\":\"tcp\",\"relay\":\"turn\",\"turn_sent\":12,\"turn_received\":11");
    result_free(back);
    json_node_unref(node);
    /* An attempt that never said done: the transport, relay unknown. */
    result_t *late = result_new();
    late->turn = g_strdup("udp");
    g_autofree char *none = result_to_line(late);
    ASSERT_CONTAINS(none, "\"turn\":\"udp\",\"relay\":null,\"turn_sent\":0");
    result_free(late);
    result_free(r);
}

/* Another kind's peer: one result line (docs/agents.md), checked. */
static result_t *kind_run(const char *const *lines, int status, const char *runner_error,
                          bool stopped_after_result)
{
    result_t *r = result_new();
    run_events_clear(&events);
    for (int i = 0; lines[i]; i++)
        run_result_feed_kind(r, &events, lines[i]);
    run_result_finish_kind(r, &events, status, runner_error, stopped_after_result);
    return r;
}

static void test_kind_results(void)
{
    const char *direct[] = { "nice: gathering", "{\"log\":\"no outcome here\"}",
                             "{\"outcome\":\"direct\",\"technique\":\"srflx\","
                             "\"time_to_first_byte_ms\":41.5,\"time_to_direct_ms\":63,"
                             "\"sent\":10,\"delivered\":10}",
                             "{\"outcome\":\"failed\",\"reason\":\"a second line is ignored\"}", NULL };
    result_t *r = kind_run(direct, EXITED(0), NULL, false);
    CU_ASSERT_EQUAL(r->outcome, RESULT_DIRECT);
    CU_ASSERT_STRING_EQUAL(r->path, "direct");
    CU_ASSERT_STRING_EQUAL(r->technique, "srflx");
    CU_ASSERT_DOUBLE_EQUAL(r->time_to_direct_ms, 63, 1e-9);
    CU_ASSERT_EQUAL(r->delivered, 10);
    CU_ASSERT_PTR_NULL(r->error);
    result_free(r);
    /* Lingering after the result and stopped by the runner: still direct. */
    r = kind_run(direct, SIGTERM, NULL, true);
    CU_ASSERT_EQUAL(r->outcome, RESULT_DIRECT);
    result_free(r);
    r = kind_run(direct, EXITED(3), NULL, false);
    CU_ASSERT_EQUAL(r->outcome, RESULT_FAILED);
    ASSERT_CONTAINS(r->error, "exited with status 3 after reporting direct");
    CU_ASSERT_STRING_EQUAL(r->technique, "none");
    result_free(r);

    const char *relayed[] = { "{\"outcome\":\"relayed\",\"sent\":5,\"delivered\":5}", NULL };
    r = kind_run(relayed, EXITED(0), NULL, false);
    CU_ASSERT_EQUAL(r->outcome, RESULT_RELAYED);
    CU_ASSERT_STRING_EQUAL(r->path, "relay");
    CU_ASSERT_STRING_EQUAL(r->technique, "none");
    CU_ASSERT_TRUE(isnan(r->time_to_direct_ms));
    result_free(r);

    const char *failed[] = { "{\"outcome\":\"failed\",\"reason\":\"ICE failed\"}", NULL };
    r = kind_run(failed, EXITED(1), NULL, false);
    CU_ASSERT_EQUAL(r->outcome, RESULT_FAILED);
    CU_ASSERT_STRING_EQUAL(r->error, "the stack failed: ICE failed");
    result_free(r);

    const char *short_of[] = { "{\"outcome\":\"relayed\",\"sent\":10,\"delivered\":7}", NULL };
    r = kind_run(short_of, EXITED(0), NULL, false);
    CU_ASSERT_EQUAL(r->outcome, RESULT_FAILED);
    CU_ASSERT_STRING_EQUAL(r->error, "7 of 10 messages delivered");
    result_free(r);
}

static void test_kind_no_or_bad_result(void)
{
    const char *nothing[] = { "starting", "{\"event\":\"done\",\"path\":\"direct\"}", NULL };
    result_t *r = kind_run(nothing, SIGKILL, "deadline 60 s passed: stopped the peers", false);
    CU_ASSERT_STRING_EQUAL(r->error, "no result: deadline 60 s passed: stopped the peers");
    result_free(r);
    r = kind_run(nothing, SIGSEGV, NULL, false);
    ASSERT_CONTAINS(r->error, "no result: the connecting peer was killed by signal 11");
    result_free(r);
    r = kind_run(nothing, EXITED(0), NULL, false);
    CU_ASSERT_STRING_EQUAL(r->error, "no result: the connecting peer exited with status 0 without one");
    result_free(r);
    static const struct {
        const char *line, *why;
    } bad[] = {
        { "{\"outcome\":\"sideways\"}", "\"outcome\" is \"sideways\"; allowed: direct, relayed, failed" },
        { "{\"outcome\":null}", "\"outcome\" is null" },
        { "{\"outcome\":7}", "\"outcome\" is not a string" },
        { "{\"outcome\":\"relayed\",\"sent\":3,\"delivered\":4}", "\"delivered\" (4) is more than \"sent\" (3)" },
        { "{\"outcome\":\"relayed\",\"time_to_first_byte_ms\":-1}", "\"time_to_first_byte_ms\" is negative" },
        { "{\"outcome\":\"relayed\",\"sent\":\"ten\"}", "\"sent\" is not a number" },
        { "{\"outcome\":\"relayed\",\"path\":\"direct\"}", "\"path\" \"direct\" does not go with outcome relayed" },
        { "{\"outcome\":\"direct\",\"path\":\"wormhole\"}", "allowed: direct, lan, relay, none" },
        { "{\"outcome\":\"direct\",\"time_to_direct_ms\":5}", "outcome direct needs \"technique\"" },
        { "{\"outcome\":\"direct\",\"technique\":\"punch\"}", "outcome direct needs \"time_to_direct_ms\"" },
        { "{\"outcome\":\"relayed\",\"sent\":2.5}", "whole numbers" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        const char *lines[] = { bad[i].line, NULL };
        r = kind_run(lines, EXITED(0), NULL, false);
        CU_ASSERT_EQUAL(r->outcome, RESULT_FAILED);
        ASSERT_CONTAINS(r->error, "malformed result from the connecting peer: ");
        ASSERT_CONTAINS(r->error, bad[i].why);
        ASSERT_CONTAINS(r->error, bad[i].line);
        result_free(r);
    }
    run_events_clear(&events);
}

static void test_listener_registered(void)
{
    CU_ASSERT_TRUE(run_result_listener_registered(direct_run[0]));
    CU_ASSERT_FALSE(run_result_listener_registered(direct_run[2]));
    CU_ASSERT_FALSE(run_result_listener_registered("registered"));
    CU_ASSERT_FALSE(run_result_listener_registered("[1,2]"));
}

int main(void)
{
    static const test_case_t cases[] = {
        { "direct: events to outcome", test_direct },
        { "relayed, failed, partly delivered", test_relayed_and_failed },
        { "crash, no done event, deadline", test_crash_and_deadline },
        { "rows with TURN", test_row_turn },
        { "results row and back", test_row_round_trip },
        { "results row: the agent kind", test_row_kind },
        { "another kind's result line", test_kind_results },
        { "another kind: no result, a malformed one", test_kind_no_or_bad_result },
        { "listener registered", test_listener_registered },
        { NULL, NULL },
    };
    return test_run_suite("run_result", cases);
}
