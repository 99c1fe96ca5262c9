/* Kind files (run/run_kind): what they say, and each mistake named by line. */
#include <glib.h>
#include <string.h>

#include "run/run_kind.h"
#include "testutil.h"

static const char good[] = "[kind]\n"
                           "name = mystack\n"
                           "description = my app\n"
                           "techniques = punch, relay\n"
                           "servers = turn\n"
                           "server = ./boot.sh   # a bootstrap\n"
                           "server-ready = udp:49737, tcp:8080\n"
                           "listen = exec ./peer listen\n"
                           "connect = exec ./peer connect\n"
                           "version = ./peer --version\n"
                           "install = apt-get install mystack\n";

static run_kind_t *load(const char *text, GError **error)
{
    return run_kind_load(text, strlen(text), "my.kind", "/opt/kinds", error);
}

static void test_good_file(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(run_kind_t) k = load(good, &error);
    CU_ASSERT_PTR_NULL(error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    CU_ASSERT_STRING_EQUAL(k->name, "mystack");
    CU_ASSERT_STRING_EQUAL(k->dir, "/opt/kinds");
    CU_ASSERT_EQUAL(k->techniques, RUN_KIND_PUNCH | RUN_KIND_RELAY);
    CU_ASSERT_EQUAL(k->servers, RUN_KIND_SERVER_TURN);
    CU_ASSERT_STRING_EQUAL(k->server, "./boot.sh");
    CU_ASSERT_EQUAL_FATAL(k->server_ready->len, 2);
    run_kind_socket_t s0 = g_array_index(k->server_ready, run_kind_socket_t, 0);
    run_kind_socket_t s1 = g_array_index(k->server_ready, run_kind_socket_t, 1);
    CU_ASSERT(!s0.tcp && s0.port == 49737);
    CU_ASSERT(s1.tcp && s1.port == 8080);
    CU_ASSERT_STRING_EQUAL(k->connect, "exec ./peer connect");
    CU_ASSERT_PTR_NULL(k->check);
    g_autofree char *t = run_kind_techniques_text(k->techniques);
    CU_ASSERT_STRING_EQUAL(t, "punch, relay");
}

/* The prediction counts on what the kind says it has, nothing more. */
static void test_predict_agent(void)
{
    g_autoptr(run_kind_t) k = load(good, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    run_predict_agent_t a = run_kind_predict_agent(k);
    CU_ASSERT(a.punch && a.relay && !a.predict && !a.birthday);
    run_predict_agent_t natlab = run_kind_predict_agent(NULL);
    CU_ASSERT(natlab.punch && natlab.relay && natlab.predict && natlab.birthday && natlab.relay_tcp &&
              natlab.tcp_punch);
    CU_ASSERT_FALSE(a.relay_tcp);
    CU_ASSERT_FALSE(a.tcp_punch);
    g_autofree char *text = g_strjoinv("techniques = punch, relay, tcp-punch\n",
                                       (char *[]){ "[kind]\nname = t\n",
                                                   "listen = x\nconnect = y\n", NULL });
    g_autoptr(run_kind_t) t = load(text, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_TRUE(run_kind_predict_agent(t).tcp_punch);
    g_autofree char *names = run_kind_techniques_text(t->techniques);
    CU_ASSERT_STRING_EQUAL(names, "punch, relay, tcp-punch");
}

static void test_errors(void)
{
    static const struct {
        const char *from, *to, *why;
    } edits[] = {
        { "name = mystack", "name = My Stack", "my.kind:2: [kind] name = My Stack: allowed: 1 to 32" },
        { "name = mystack", "name = natlab", "natlab is the built-in kind" },
        { "techniques = punch, relay", "techniques = punch, teleport",
          "my.kind:4: [kind] techniques = punch, teleport: unknown 'teleport'; allowed: punch, "
          "predict, birthday, port-mapping, relay, relay-tcp" },
        { "techniques = punch, relay", "techniques = punch, punch", "repeated 'punch'" },
        { "servers = turn", "servers = turn, natlab", "both listen on port 3478" },
        { "servers = turn", "servers = stun", "unknown 'stun'; allowed: natlab, turn" },
        { "udp:49737", "udp:0", "'udp:0'; allowed: udp:PORT or tcp:PORT" },
        { "tcp:8080", "sctp:8080", "'sctp:8080'" },
        { "server = ./boot.sh   # a bootstrap\n", "", "nothing to wait for" },
        { "listen = exec ./peer listen\n", "", "[kind] has no listen; required" },
        { "description", "descripton", "my.kind:3: [kind] descripton = my app: unknown key" },
        { "[kind]", "[kinds]", "no [kind] group" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(edits); i++) {
        GString *text = g_string_new(good);
        CU_ASSERT_FATAL(g_string_replace(text, edits[i].from, edits[i].to, 1) == 1);
        g_autoptr(GError) error = NULL;
        g_autoptr(run_kind_t) k = load(text->str, &error);
        CU_ASSERT_PTR_NULL(k);
        CU_ASSERT_PTR_NOT_NULL_FATAL(error);
        ASSERT_CONTAINS(error->message, edits[i].why);
        g_string_free(text, TRUE);
    }
    g_autoptr(GError) error = NULL;
    g_autoptr(run_kind_t) k = load("[kind]\nname = a\n[extra]\nx = 1\n", &error);
    CU_ASSERT_PTR_NULL(k);
    ASSERT_CONTAINS(error ? error->message : NULL, "[extra]: unknown group");
}

static void test_refs(void)
{
    CU_ASSERT_FALSE(run_kind_ref_is_path("libnice"));
    CU_ASSERT_TRUE(run_kind_ref_is_path("./mine.kind"));
    CU_ASSERT_TRUE(run_kind_ref_is_path("mine.kind"));
    CU_ASSERT_TRUE(run_kind_ref_is_path("/opt/x"));
    CU_ASSERT_TRUE(run_kind_name_valid("lib-nice2"));
    CU_ASSERT_FALSE(run_kind_name_valid("-x"));
    CU_ASSERT_FALSE(run_kind_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

int main(void)
{
    static const test_case_t cases[] = {
        { "a kind file, every key", test_good_file },
        { "the prediction follows the techniques", test_predict_agent },
        { "mistakes: FILE:LINE and what is allowed", test_errors },
        { "names and paths", test_refs },
        { NULL, NULL },
    };
    return test_run_suite("run_kind", cases);
}
