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
#include "run/run_spec.h"

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
    g_autofree char *name =
        scenario_resolve(arg, run_spec_load_scenario_file, &scenario, &error);
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
    g_autoptr(topology_info_t) info = topology_load(prefix, &error);
    if (!info) {
        fprintf(stderr, "natlab exec: %s; bring it up first: natlab up SCENARIO\n",
                error->message);
        return EXEC_FAILED;
    }
    const topology_info_node_t *o = topology_info_find(info, host);
    if (!o) {
        g_autofree char *names = topology_info_names(info, true, true);
        fprintf(stderr, "natlab exec: %s has no host or NAT '%s'; allowed: %s\n", name, host,
                names);
        return EXEC_FAILED;
    }
    const char *ns = o->ns;
    g_setenv("NATLAB_SCENARIO", name, TRUE);
    g_setenv("NATLAB_HOST", host, TRUE);
    g_setenv("NATLAB_NAMESPACE", ns, TRUE);
    for (guint i = 0; o->addresses[i]; i++) {
        char var[32];
        g_snprintf(var, sizeof var, "NATLAB_ADDRESS_%u", i + 1);
        g_setenv(var, o->addresses[i], TRUE);
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
