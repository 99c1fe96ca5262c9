/* natlab down SCENARIO | --all: stop and remove a topology, or every natlab one. */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "netns/netns.h"
#include "netns/plan.h"
#include "netns/topology.h"
#include "run/run_spec.h"

static int usage(FILE *out, int status)
{
    fprintf(out,
            "usage: natlab down SCENARIO | --all\n"
            "  Stops the topology's processes (SIGTERM, SIGKILL after 3 s; also anything else\n"
            "  running in its namespaces), deletes its namespaces and its state. SCENARIO is\n"
            "  the scenario file or its name. --all removes every natlab topology and every\n"
            "  natlab-* namespace (and only those). Needs root.\n");
    return status;
}

int cmd_down_main(int argc, char **argv)
{
    if (argc != 2)
        return usage(stderr, NATLAB_EXIT_USAGE);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return usage(stdout, 0);
    g_autofree char *missing = netns_preflight();
    if (strcmp(argv[1], "--all") == 0) {
        if (missing) {
            fprintf(stderr, "natlab down: %s\n", missing);
            return 1;
        }
        unsigned n = topology_down_all(TOPOLOGY_STOP_GRACE);
        printf("natlab down: removed %u topolog%s or stray namespace%s\n", n, n == 1 ? "y" : "ies",
               n == 1 ? "" : "s");
        return 0;
    }
    if (argv[1][0] == '-')
        return usage(stderr, NATLAB_EXIT_USAGE);

    g_autoptr(GError) error = NULL;
    g_autoptr(scenario_t) scenario = NULL;
    g_autofree char *name =
        scenario_resolve(argv[1], run_spec_load_scenario_file, &scenario, &error);
    if (!name) {
        fprintf(stderr, "natlab down: %s\n", error->message);
        return 1;
    }
    /* After the file: a broken scenario is named as up names it, root or not. */
    if (missing) {
        fprintf(stderr, "natlab down: %s\n", missing);
        return 1;
    }
    /* Without state, the file still says which namespaces would be its own. */
    g_auto(GStrv) fallback = NULL;
    if (scenario) {
        g_autoptr(plan_t) plan = plan_new(scenario, NULL, 0, NULL);
        if (plan)
            fallback = plan_namespaces(plan);
    }
    g_autofree char *prefix = plan_prefix(name, NULL);
    bool was_up = false;
    if (!topology_down(prefix, fallback, TOPOLOGY_STOP_GRACE, &was_up, &error)) {
        fprintf(stderr, "natlab down: %s\n", error->message);
        return 1;
    }
    printf("natlab down: %s %s\n", prefix, was_up ? "is down" : "was not up");
    return 0;
}
