/* nat_nfqstat: the kernel's per-queue drops read from the text of
 * /proc/net/netfilter/nfnetlink_queue, and the "nfqueue" member of the stats
 * the control socket and the exit file report. */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "natsim/nat_control.h"
#include "natsim/nat_nfqstat.h"
#include "testutil.h"

/* As the kernel prints it: queue, port id, waiting, copy mode, copy range,
 * queue dropped, user dropped, last id, 1. Queues 100-102 are ours (port
 * 4242); queue 7 belongs to another socket, queue 103 is not ours. */
static const char PROC[] = "    7   1111     0 2 65535    50    60      999  1\n"
                           "  100   4242     3 2 65535    12     1     4000  1\n"
                           "  101   4242     0 2 65535     0     2     1234  1\n"
                           "  102   4242     0 2 65535     5     0        9  1\n"
                           "  103   4242     0 2 65535   700   800        9  1\n";

static void test_parse_sums_our_queues(void)
{
    nat_nfqstat_t s = { .received = 9, .enobufs = 2 };
    CU_ASSERT_TRUE(nat_nfqstat_parse_proc(&s, PROC, 100, 3, 4242));
    CU_ASSERT_TRUE(s.kernel);
    CU_ASSERT_EQUAL(s.queue_dropped, 17);
    CU_ASSERT_EQUAL(s.user_dropped, 3);
    CU_ASSERT_EQUAL(s.received, 9); /* the socket's counters stay */
    CU_ASSERT_EQUAL(nat_nfqstat_drops(&s), 2 + 17 + 3);
}

static void test_parse_refuses(void)
{
    nat_nfqstat_t s = { .enobufs = 4 };
    CU_ASSERT_FALSE(nat_nfqstat_parse_proc(&s, "", 100, 3, 4242));
    CU_ASSERT_FALSE(nat_nfqstat_parse_proc(&s, NULL, 100, 3, 4242));
    CU_ASSERT_FALSE(nat_nfqstat_parse_proc(&s, PROC, 100, 3, 4243)); /* another port id */
    CU_ASSERT_FALSE(nat_nfqstat_parse_proc(&s, PROC, 200, 3, 4242));
    CU_ASSERT_FALSE(nat_nfqstat_parse_proc(&s, "  100 4242 0 2 65535 x 1 2 1\n", 100, 3, 4242));
    CU_ASSERT_FALSE(nat_nfqstat_parse_proc(&s, "  100 4242 0 2\n", 100, 3, 4242));
    CU_ASSERT_FALSE(s.kernel);
    CU_ASSERT_EQUAL(s.queue_dropped, 0);
    CU_ASSERT_EQUAL(nat_nfqstat_drops(&s), 4); /* ENOBUFS only */
}

static char *json_text(const nat_nfqstat_t *s)
{
    g_autoptr(JsonNode) node = nat_nfqstat_json(s);
    return json_to_string(node, FALSE);
}

static void test_json(void)
{
    nat_nfqstat_t s = { .received = 10, .verdicts = 9, .sends = 3, .enobufs = 1 };
    g_autofree char *socket_only = json_text(&s);
    CU_ASSERT_STRING_EQUAL(socket_only,
                           "{\"received\":10,\"verdicts\":9,\"sends\":3,\"enobufs\":1,\"drops\":1}");
    CU_ASSERT_TRUE(nat_nfqstat_parse_proc(&s, PROC, 100, 1, 4242));
    g_autofree char *with_kernel = json_text(&s);
    CU_ASSERT_STRING_EQUAL(with_kernel, "{\"received\":10,\"verdicts\":9,\"sends\":3,\"enobufs\":1,"
                                        "\"queue_dropped\":12,\"user_dropped\":1,\"drops\":14}");
}

static void fake_queue(void *ctx, nat_nfqstat_t *out)
{
    (*(int *)ctx)++;
    *out = (nat_nfqstat_t){ .received = 5, .enobufs = 1 };
    nat_nfqstat_parse_proc(out, PROC, 101, 2, 4242);
}

/* The control socket's `stats` and the file at exit: the router's counters
 * with "nfqueue" added; without a queue (sim mode), the router's alone. */
static void test_control_stats(void)
{
    g_autoptr(nat_profile_t) p = nat_profile_new_preset("full-cone", NULL);
    uint32_t ip = 0xC6120001;
    g_autoptr(nat_engine_t) e = nat_engine_new(p, &ip, 1, 1, 0, NULL);
    g_autoptr(nat_router_t) r = nat_router_new(e, 1);
    int calls = 0;
    nat_control_target_t t = { e, r, NULL, 0, NULL, &calls, fake_queue, NULL };
    g_autofree char *reply = nat_control_execute(&t, "stats", 1);
    CU_ASSERT_EQUAL(calls, 1);
    g_autoptr(JsonParser) parser = json_parser_new();
    CU_ASSERT_TRUE_FATAL(json_parser_load_from_data(parser, reply, -1, NULL));
    JsonObject *root = json_node_get_object(json_parser_get_root(parser));
    CU_ASSERT_TRUE(json_object_has_member(root, "engine"));
    JsonObject *q = json_object_get_object_member(root, "nfqueue");
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT_EQUAL(json_object_get_int_member(q, "received"), 5);
    CU_ASSERT_EQUAL(json_object_get_int_member(q, "queue_dropped"), 5);
    CU_ASSERT_EQUAL(json_object_get_int_member(q, "user_dropped"), 2);
    CU_ASSERT_EQUAL(json_object_get_int_member(q, "drops"), 8);

    t.queue_stats = NULL;
    g_autofree char *plain = nat_control_stats_json(&t);
    g_autofree char *router = nat_router_stats_json(r);
    CU_ASSERT_STRING_EQUAL(plain, router);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "parse sums our queues", test_parse_sums_our_queues },
        { "parse refuses what is not ours", test_parse_refuses },
        { "json", test_json },
        { "control stats carry nfqueue", test_control_stats },
        { NULL, NULL },
    };
    return test_run_suite("nat_nfqstat", cases);
}
