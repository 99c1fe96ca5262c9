/* natlab bench engine|forward: arguments, then the benchmark in bench/. */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench_engine.h"
#include "bench/bench_forward.h"
#include "cmd.h"

static int usage(FILE *out, int status)
{
    fprintf(out, "usage: natlab bench engine [--mappings N] [--lookups N] [--seed N]\n"
                 "  prints JSON: inserts_per_s, lookups_per_s, bytes_per_mapping, expiry cost,\n"
                 "  and for TCP connections tcp_connections_per_s, tcp_lookups_per_s,\n"
                 "  tcp_bytes_per_connection\n"
                 "       natlab bench forward [--seconds N] [--repeat N]\n"
                 "  (root) natsim against the kernel's MASQUERADE and plain routing in one\n"
                 "  topology: UDP packets/s at 64 bytes, Mbit/s at 1400, added round trip;\n"
                 "  TCP Mbit/s of one stream, connection setups/s; and the time of up and\n"
                 "  down of a two-NAT scenario\n");
    return status;
}

static bool parse_count(const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
    guint64 v;
    if (!g_ascii_string_to_unsigned(text, 10, min, max, &v, NULL))
        return false;
    *out = (uint32_t)v;
    return true;
}

static int bench_forward_cmd(int argc, char **argv)
{
    double seconds = 2.0;
    unsigned repeat = 3;
    for (int i = 1; i < argc; i += 2) {
        guint64 v;
        bool ok = i + 1 < argc && g_ascii_string_to_unsigned(argv[i + 1], 10, 1, 8, &v, NULL);
        if (ok && strcmp(argv[i], "--seconds") == 0)
            seconds = (double)v;
        else if (ok && strcmp(argv[i], "--repeat") == 0)
            repeat = (unsigned)v;
        else {
            fprintf(stderr, "usage: natlab bench forward [--seconds 1..8] [--repeat 1..8]\n");
            return NATLAB_EXIT_USAGE;
        }
    }
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) figures = bench_forward_run(seconds, repeat, &error);
    if (!figures) {
        fprintf(stderr, "natlab bench forward: %s\n", error->message);
        return 1;
    }
    cmd_print_json(figures);
    return 0;
}

int cmd_bench_main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--help") == 0)
        return usage(stdout, 0);
    if (argc >= 2 && strcmp(argv[1], "forward") == 0)
        return bench_forward_cmd(argc - 1, argv + 1);
    if (argc < 2 || strcmp(argv[1], "engine") != 0)
        return usage(stderr, NATLAB_EXIT_USAGE);
    uint32_t mappings = 1000000, lookups = 10000000, seed = 1;
    const uint32_t max_mappings = BENCH_PUBLIC_IPS * 60000u;
    for (int i = 2; i < argc; i += 2) {
        uint32_t *target = strcmp(argv[i], "--mappings") == 0 ? &mappings
                           : strcmp(argv[i], "--lookups") == 0 ? &lookups
                           : strcmp(argv[i], "--seed") == 0    ? &seed
                                                               : NULL;
        uint32_t max = target == &mappings ? max_mappings : UINT32_MAX;
        if (!target || i + 1 >= argc || !parse_count(argv[i + 1], 1, max, target)) {
            fprintf(stderr, "natlab bench: bad argument '%s'%s%s; --mappings takes 1..%u\n",
                    argv[i], i + 1 < argc ? " " : "", i + 1 < argc ? argv[i + 1] : "", max_mappings);
            return NATLAB_EXIT_USAGE;
        }
    }
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) figures = bench_engine_run(mappings, lookups, seed, &error);
    if (!figures) {
        fprintf(stderr, "natlab bench engine: %s\n", error->message);
        return 1;
    }
    cmd_print_json(figures);
    return 0;
}
