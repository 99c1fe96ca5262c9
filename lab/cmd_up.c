/* natlab up SCENARIO [--json] [--pcap]: bring a scenario's topology up and leave it up. */
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "common/addr.h"
#include "netns/topology.h"
#include "run/run_spec.h"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static int usage(FILE *out, int status)
{
    fprintf(out,
            "usage: natlab up SCENARIO [--json] [--pcap] [--pcap-dir DIR]\n"
            "  Builds the scenario's topology in network namespaces (natlab-NAME-*), starts a\n"
            "  natsim daemon per NAT and each host's 'run' command, prints the topology and\n"
            "  exits, leaving it up. Then: natlab exec NAME HOST -- CMD, natlab down NAME.\n"
            "  --json   print the topology as JSON (the same as STATE/topology.json)\n"
            "  --pcap   capture at every NAT into STATE/pcap/NAT/ (also: [scenario] pcap = on);\n"
            "           those files go away with 'natlab down'\n"
            "  --pcap-dir DIR  capture into DIR/NAT/{inside,outside}.pcap, kept after 'down'\n"
            "  Leftovers of killed runs are removed first. On an error or a signal, everything\n"
            "  made so far is removed. Needs root.\n"
            "environment:\n"
            "  NATLAB_NO_NAT_DAEMON=1   routers without natsim (tests of the topology itself)\n"
            "  NATLAB_NAT_EXE=PATH      run PATH nat ... instead of this binary's 'nat'\n"
            "  NATLAB_READY_TIMEOUT=D   how long a NAT daemon may take to be ready (default 5s)\n");
    return status;
}

static char *join_ips(const uint32_t *ips, unsigned n, const char *sep)
{
    GString *s = g_string_new(NULL);
    for (unsigned i = 0; i < n; i++) {
        char buf[ADDR_IP_STRLEN];
        g_string_append_printf(s, "%s%s", i ? sep : "", addr_ip_format(ips[i], buf));
    }
    return g_string_free(s, FALSE);
}

/* Rows of cells, printed with every column as wide as its widest cell. */
static void print_table(GPtrArray *rows)
{
    guint cols = 0;
    for (guint r = 0; r < rows->len; r++)
        cols = MAX(cols, g_strv_length(g_ptr_array_index(rows, r)));
    g_autofree int *width = g_new0(int, cols);
    for (guint r = 0; r < rows->len; r++) {
        char **row = g_ptr_array_index(rows, r);
        for (guint c = 0; row[c]; c++)
            width[c] = MAX(width[c], (int)strlen(row[c]));
    }
    for (guint r = 0; r < rows->len; r++) {
        char **row = g_ptr_array_index(rows, r);
        for (guint c = 0; row[c]; c++) {
            if (row[c + 1])
                printf("%-*s  ", width[c], row[c]);
            else
                printf("%s\n", row[c]);
        }
    }
}

static void print_human(const topology_t *t)
{
    const plan_t *p = topology_plan(t);
    printf("%s is up: scenario %s, seed %" G_GUINT64_FORMAT ", state in %s\n\n", p->prefix,
           p->scenario, p->seed, topology_state_dir(t));
    g_autoptr(topology_info_t) info = topology_info(t);
    if (p->nats->len > 0) {
        GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
        g_ptr_array_add(rows, g_strsplit("NAT namespace profile behind public-addresses lan "
                                         "daemon",
                                         " ", -1));
        for (guint i = 0; i < p->nats->len; i++) {
            const plan_nat_t *nat = plan_nat(p, i);
            char lan[32], buf[ADDR_IP_STRLEN];
            g_snprintf(lan, sizeof lan, "%s/%u", addr_ip_format(nat->lan_net, buf), nat->lan_len);
            int pid = topology_info_nat(info, i)->pid;
            char **row = g_new0(char *, 8);
            row[0] = g_strdup(nat->name);
            row[1] = g_strdup(nat->ns);
            row[2] = g_strdup_printf("%s (%s)", nat->profile->name,
                                     nat_type_name(nat->profile->type));
            row[3] = g_strdup(nat->parent < 0 ? "-" : plan_nat(p, (unsigned)nat->parent)->name);
            row[4] = join_ips(nat->wan, nat->n_wan, ",");
            row[5] = g_strdup(lan);
            row[6] = pid ? g_strdup_printf("pid %d", pid) : g_strdup("none");
            g_ptr_array_add(rows, row);
        }
        print_table(rows);
        g_ptr_array_free(rows, TRUE);
        printf("\n");
    }
    GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    g_ptr_array_add(rows, g_strsplit("HOST namespace nat addresses run", " ", -1));
    for (guint i = 0; i < p->hosts->len; i++) {
        const plan_host_t *host = plan_host(p, i);
        int pid = topology_info_host(info, i)->pid;
        char **row = g_new0(char *, 6);
        row[0] = g_strdup(host->name);
        row[1] = g_strdup(host->ns);
        row[2] = g_strdup(host->nat < 0 ? "-" : plan_nat(p, (unsigned)host->nat)->name);
        row[3] = join_ips(host->addrs, host->n_addrs, ",");
        row[4] = host->run ? g_strdup_printf("pid %d: %s", pid, host->run)
                           : g_strdup("-");
        g_ptr_array_add(rows, row);
    }
    print_table(rows);
    g_ptr_array_free(rows, TRUE);
    const char *name = p->scenario;
    printf("\nnatlab exec %s HOST -- CMD   runs CMD on a host (or NAT)\n"
           "natlab down %s                removes it all\n",
           name, name);
}

int cmd_up_main(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false;
    topology_options_t options = { .interrupted = &stop_signal };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(stdout, 0);
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--pcap") == 0)
            options.pcap = true;
        else if (strcmp(argv[i], "--pcap-dir") == 0 && i + 1 < argc)
            options.pcap_dir = argv[++i];
        else if (argv[i][0] == '-' || path)
            return usage(stderr, NATLAB_EXIT_USAGE);
        else
            path = argv[i];
    }
    if (!path)
        return usage(stderr, NATLAB_EXIT_USAGE);
    const char *no_daemon = g_getenv("NATLAB_NO_NAT_DAEMON");
    options.no_nat_daemons = no_daemon && strcmp(no_daemon, "") != 0 && strcmp(no_daemon, "0") != 0;
    options.nat_exe = g_getenv("NATLAB_NAT_EXE");
    const char *timeout = g_getenv("NATLAB_READY_TIMEOUT");
    if (timeout && !duration_parse(timeout, &options.ready_timeout)) {
        fprintf(stderr, "natlab up: NATLAB_READY_TIMEOUT=%s: allowed: a duration (%s)\n", timeout,
                DURATION_UNITS);
        return NATLAB_EXIT_USAGE;
    }

    g_autoptr(GError) error = NULL;
    g_autoptr(scenario_t) scenario = run_spec_load_scenario_file(path, &error);
    if (!scenario) {
        fprintf(stderr, "natlab up: %s\n", error->message);
        return 1;
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    g_autoptr(topology_t) t = topology_up(scenario, &options, &error);
    if (!t) {
        if (stop_signal) {
            fprintf(stderr, "natlab up: interrupted by %s; removed what it had made\n",
                    strsignal(stop_signal));
            return 128 + stop_signal;
        }
        fprintf(stderr, "natlab up: %s\n", error->message);
        return 1;
    }
    if (topology_reaped(t) > 0)
        fprintf(stderr, "natlab up: removed %u leftover%s of killed runs first\n",
                topology_reaped(t), topology_reaped(t) == 1 ? "" : "s");
    if (json) {
        g_autoptr(JsonNode) root = topology_to_json(t);
        g_autofree char *text = json_to_string(root, TRUE);
        printf("%s\n", text);
    } else {
        print_human(t);
    }
    return 0;
}
