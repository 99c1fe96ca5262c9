/* natlab: the front door. A table of subcommands; each lives in its own file. */
#include <glib.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static const struct {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
} subcommands[] = {
    { "presets", cmd_presets_main, "list the NAT presets and what each does [--json]" },
    { "profile", cmd_profile_main, "check FILE: validate a NAT profile and print it normalised" },
    { "nat", cmd_nat_main, "the NAT emulator daemon, inside a router namespace (see --help)" },
    { "up", cmd_up_main, "SCENARIO: bring a scenario's topology up and leave it up [--json]" },
    { "exec", cmd_exec_main, "SCENARIO HOST -- CMD: run CMD on a host of a topology that is up" },
    { "down", cmd_down_main, "SCENARIO | --all: stop and remove a topology (or every one)" },
    { "control", cmd_control_main, "SCENARIO NAT COMMAND: reboot, flush, set KEY VALUE, stats, mappings" },
    { "netcheck", cmd_netcheck_main, "--server HOST[:PORT]: classify the NAT in front of this host [--json]" },
    { "agent", cmd_agent_main, "--server HOST:PORT --name NAME listen | connect PEER: the punching agent" },
    { "turn", cmd_turn_main, "--server HOST:PORT --user U --password-file F: allocate on a TURN server, data through it" },
    { "server", cmd_server_main, "--address IP1 [--alt-address IP2]: STUN server (RFC 5780, RFC 3489 clients)" },
    { "run", cmd_run_main, "SCENARIO...: run scenarios with agents, judge their expectations" },
    { "kinds", cmd_kinds_main, "[--json] [FILE...]: the agent kinds, installed or not, versions, techniques" },
    { "matrix", cmd_matrix_main, "[--nats a,b,...]: every pair of NAT presets, predicted vs measured" },
    { "report", cmd_report_main, "DIR...: report.html, figures and summary.json from results.jsonl (shards merge)" },
    { "bench", cmd_bench_main, "engine: measure the NAT engine (lookups, inserts, memory, expiry)" },
};

static void usage(FILE *out)
{
    fprintf(out, "usage: natlab COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(subcommands); i++)
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\n'natlab COMMAND --help' tells more.\n");
}

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    if (argc < 2) {
        usage(stderr);
        return NATLAB_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("natlab %s\n", NATLAB_VERSION);
        return 0;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(subcommands); i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "natlab: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return NATLAB_EXIT_USAGE;
}
