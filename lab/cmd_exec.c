/* natlab exec SCENARIO HOST [--] CMD...: run a program in a host's namespace. */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "netns/netns.h"
#include "netns/plan.h"
#include "netns/topology.h"

/* Like env(1) and timeout(1): 125 when natlab exec itself fails, 126 when
 * CMD cannot run, 127 when it is not found, else CMD's own status. */
#define EXEC_FAILED 125

static int usage(FILE *out, int status)
{
    fprintf(out,
            "usage: natlab exec SCENARIO HOST [--] [CMD [ARG...]]\n"
            "  Runs CMD (default: $SHELL) in the namespace of HOST (a host or a NAT router) of\n"
            "  a topology that 'natlab up' brought up. stdin/stdout/stderr pass through; the\n"
            "  exit status is CMD's (125: natlab exec failed, 126: CMD cannot run, 127: not\n"
            "  found). CMD sees NATLAB_SCENARIO, NATLAB_HOST, NATLAB_NAMESPACE and\n"
            "  NATLAB_ADDRESS_1... SCENARIO is the scenario file or its name.\n");
    return status;
}

/* The object named `name` among the topology's hosts and NATs. */
static JsonObject *find_object(JsonObject *root, const char *name, bool *is_nat, GString *names)
{
    const char *lists[] = { "hosts", "nats" };
    for (int l = 0; l < 2; l++) {
        JsonArray *a = json_object_get_array_member(root, lists[l]);
        for (guint i = 0; a && i < json_array_get_length(a); i++) {
            JsonObject *o = json_array_get_object_element(a, i);
            const char *n = json_object_get_string_member(o, "name");
            g_string_append_printf(names, "%s%s", names->len ? ", " : "", n);
            if (strcmp(n, name) == 0) {
                *is_nat = l == 1;
                return o;
            }
        }
    }
    return NULL;
}

int cmd_exec_main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return usage(stdout, 0);
    if (argc < 3)
        return usage(stderr, EXEC_FAILED);
    const char *arg = argv[1], *host = argv[2];
    char **cmd = argv + 3;
    if (cmd[0] && strcmp(cmd[0], "--") == 0)
        cmd++;
    const char *shell = g_getenv("SHELL");
    char *shell_argv[] = { (char *)(shell && shell[0] ? shell : "/bin/sh"), NULL };
    if (!cmd[0])
        cmd = shell_argv;

    g_autoptr(GError) error = NULL;
    g_autoptr(scenario_t) scenario = NULL;
    g_autofree char *name = scenario_resolve(arg, &scenario, &error);
    if (!name) {
        fprintf(stderr, "natlab exec: %s\n", error->message);
        return EXEC_FAILED;
    }
    g_autofree char *missing = netns_preflight();
    if (missing) {
        fprintf(stderr, "natlab exec: %s\n", missing);
        return EXEC_FAILED;
    }
    g_autofree char *prefix = plan_prefix(name, NULL);
    g_autoptr(JsonNode) root = topology_load(prefix, &error);
    if (!root) {
        fprintf(stderr, "natlab exec: %s; bring it up first: natlab up SCENARIO\n",
                error->message);
        return EXEC_FAILED;
    }
    bool is_nat = false;
    g_autoptr(GString) names = g_string_new(NULL);
    JsonObject *o = find_object(json_node_get_object(root), host, &is_nat, names);
    if (!o) {
        fprintf(stderr, "natlab exec: %s has no host or NAT '%s'; allowed: %s\n", name, host,
                names->str);
        return EXEC_FAILED;
    }
    const char *ns = json_object_get_string_member(o, "namespace");
    JsonArray *addrs =
        json_object_get_array_member(o, is_nat ? "public_addresses" : "addresses");
    g_setenv("NATLAB_SCENARIO", name, TRUE);
    g_setenv("NATLAB_HOST", host, TRUE);
    g_setenv("NATLAB_NAMESPACE", ns, TRUE);
    for (guint i = 0; addrs && i < json_array_get_length(addrs); i++) {
        char var[32];
        g_snprintf(var, sizeof var, "NATLAB_ADDRESS_%u", i + 1);
        g_setenv(var, json_array_get_string_element(addrs, i), TRUE);
    }
    int err = netns_enter(ns);
    if (err < 0) {
        fprintf(stderr, "natlab exec: cannot enter namespace %s: %s\n", ns, g_strerror(-err));
        return EXEC_FAILED;
    }
    fflush(NULL);
    execvp(cmd[0], cmd);
    err = errno;
    fprintf(stderr, "natlab exec: %s: %s\n", cmd[0], g_strerror(err));
    return err == ENOENT ? 127 : 126;
}
