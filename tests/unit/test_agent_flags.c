/* The agent's --turn URI (RFC 7065 without TLS): host, port (3478 when
 * absent) and transport; every bad form named with the flag, the value and
 * the accepted form. --server-tcp-ports and its refusals. */
#include <glib.h>
#include <string.h>

#include "agent/agent_flags.h"
#include "testutil.h"

static void test_turn_uri_good(void)
{
    static const struct { const char *uri, *host; uint16_t port; bool tcp; } cases[] = {
        { "turn:198.19.1.1:3478", "198.19.1.1", 3478, false },
        { "turn:198.19.1.1", "198.19.1.1", 3478, false },
        { "turn:turn.example:443?transport=tcp", "turn.example", 443, true },
        { "turn:198.19.1.1?transport=udp", "198.19.1.1", 3478, false },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *host = NULL;
        uint16_t port = 0;
        bool tcp = !cases[i].tcp;
        GError *error = NULL;
        CU_ASSERT_TRUE_FATAL(agent_flags_turn_uri(cases[i].uri, &host, &port, &tcp, &error));
        CU_ASSERT_STRING_EQUAL(host, cases[i].host);
        CU_ASSERT_EQUAL(port, cases[i].port);
        CU_ASSERT_EQUAL(tcp, cases[i].tcp);
        CU_ASSERT_PTR_NULL(error);
        g_free(host);
    }
}

static void test_turn_uri_bad(void)
{
    static const struct { const char *uri, *why; } cases[] = {
        { "198.19.1.1:3478", "does not start with 'turn:'" },
        { "turns:198.19.1.1", "TLS (turns:) is not supported" },
        { "turn:198.19.1.1:3478?transport=sctp", "transport=udp or transport=tcp" },
        { "turn:198.19.1.1:0", "port is not a number from 1 to 65535" },
        { "turn:198.19.1.1:65536", "port is not a number" },
        { "turn:198.19.1.1:x", "port is not a number" },
        { "turn::3478", "no host" },
        { "turn:", "no host" },
        { "turn:user@198.19.1.1", "no host" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *host = NULL;
        uint16_t port;
        bool tcp;
        GError *error = NULL;
        CU_ASSERT_FALSE(agent_flags_turn_uri(cases[i].uri, &host, &port, &tcp, &error));
        CU_ASSERT_PTR_NULL(host);
        CU_ASSERT_PTR_NOT_NULL_FATAL(error);
        g_autofree char *start = g_strdup_printf("--turn '%s': ", cases[i].uri);
        CU_ASSERT(g_str_has_prefix(error->message, start));
        ASSERT_CONTAINS(error->message, cases[i].why);
        ASSERT_CONTAINS(error->message, "expected turn:HOST:PORT[?transport=udp|tcp]");
        g_error_free(error);
    }
}

/* --server-tcp-ports: the order to try; duplicates, 0, too many refused. */
static void test_server_tcp_ports(void)
{
    punch_config_t c;
    punch_config_init(&c);
    CU_ASSERT_EQUAL(agent_flags_parse(&c, "--server-tcp-ports", "443,3478,80", NULL), 2);
    CU_ASSERT_EQUAL(c.n_server_tcp_ports, 3);
    CU_ASSERT(c.server_tcp_ports[0] == 443 && c.server_tcp_ports[1] == 3478 && c.server_tcp_ports[2] == 80);
    static const char *const bad[] = { "", "0", "443,443", "1,2,3,4,5", "70000", "443,", "x" };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        GError *error = NULL;
        CU_ASSERT_EQUAL(agent_flags_parse(&c, "--server-tcp-ports", bad[i], &error), -1);
        if (error) {
            ASSERT_CONTAINS(error->message, "--server-tcp-ports");
            ASSERT_CONTAINS(error->message, "distinct ports 1-65535");
            g_error_free(error);
        }
    }
    CU_ASSERT_EQUAL(c.n_server_tcp_ports, 3); /* a refused value changes nothing */
}

int main(void)
{
    static const test_case_t cases[] = {
        { "--turn URIs accepted", test_turn_uri_good },
        { "--turn URIs refused, with the reason", test_turn_uri_bad },
        { "--server-tcp-ports", test_server_tcp_ports },
        { NULL, NULL },
    };
    return test_run_suite("agent_flags", cases);
}
