/* natlab matrix [--nats a,b,...] [--repeat N] [--out DIR] [-j N] [--sim]: every pair
 * of NAT presets against the first-principles prediction, then the report. */
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "run/run_matrix.h"
#include "run/run_spec.h"

#define MATRIX_REPEAT_DEFAULT 5

static int usage(FILE *out, int status)
{
    g_autofree char *nats = g_strjoinv(",", (char **)run_matrix_default_nats);
    fprintf(out,
            "usage: natlab matrix [--nats a,b,...] [--repeat N] [--out DIR] [-j N] [--junit FILE]\n"
            "                     [--shard K/N] [--seed S] [--agent KEY=VALUE]... [--list] [--sim]\n"
            "  Every pair of the presets (default: %s),\n"
            "  N attempts each (default %d), each pair expected to do what theory predicts\n"
            "  (direct, relayed, or any where it is fragile; rates for probabilistic\n"
            "  techniques), then 'natlab report DIR'. Exit status 0 when every pair holds.\n"
            "  --out DIR          results (default: results/matrix)\n"
            "  --agent KEY=VALUE  an [agent] key for every pair (e.g. punch-timeout=5s)\n"
            "  --list             print each pair's generated scenario and exit\n"
            "  --sim              every attempt in memory on a virtual clock: no root, no\n"
            "                     namespaces, thousands of attempts a second, the same\n"
            "                     results.jsonl from the same --seed\n"
            "  Other options as in natlab run.\n",
            nats, MATRIX_REPEAT_DEFAULT);
    return status;
}

/* Runs `natlab report DIR` from this binary; its absence is no error here
 * (it comes from another branch), so its usage text is kept quiet then. */
static void report(const char *dir)
{
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    char *argv[] = { self ? self : "/proc/self/exe", "report", (char *)dir, NULL };
    g_autofree char *out = NULL, *err = NULL;
    int status = 0;
    g_autoptr(GError) error = NULL;
    fflush(NULL);
    if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error)) {
        fprintf(stderr, "natlab matrix: natlab report: %s\n", error->message);
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == NATLAB_EXIT_USAGE && err &&
        strstr(err, "unknown command")) {
        printf("natlab matrix: no 'natlab report' in this build; the results are in "
               "%s/results.jsonl\n", dir);
        return;
    }
    fputs(out ? out : "", stdout);
    fputs(err ? err : "", stderr);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "natlab matrix: natlab report %s failed\n", dir);
}

int cmd_matrix_main(int argc, char **argv)
{
    cmd_run_options_t o = { .out_dir = "results/matrix", .shard = RUN_SHARD_ALL };
    const char *nat_list = NULL;
    bool list = false;
    g_autoptr(GString) agent_keys = g_string_new(NULL);
    run_matrix_options_t mo = { .agent = RUN_PREDICT_AGENT_DEFAULTS };
    for (int i = 1; i < argc; i++) {
        bool ok;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(stdout, 0);
        if (cmd_run_common_option(argc, argv, &i, &o, &ok)) {
            if (!ok)
                return usage(stderr, NATLAB_EXIT_USAGE);
        } else if (strcmp(argv[i], "--nats") == 0 && i + 1 < argc) {
            nat_list = argv[++i];
        } else if (strcmp(argv[i], "--agent") == 0 && i + 1 < argc && strchr(argv[i + 1], '=')) {
            g_auto(GStrv) kv = g_strsplit(argv[++i], "=", 2);
            g_string_append_printf(agent_keys, "%s = %s\n", g_strstrip(kv[0]), g_strstrip(kv[1]));
            /* The prediction follows what the agents are allowed to do. */
            if (strcmp(kv[0], "predict") == 0)
                mo.agent.predict = strcmp(kv[1], "off") != 0;
            else if (strcmp(kv[0], "birthday") == 0)
                mo.agent.birthday = strcmp(kv[1], "off") != 0;
            else if (strcmp(kv[0], "birthday-sockets") == 0)
                mo.agent.birthday_sockets = (unsigned)g_ascii_strtoull(kv[1], NULL, 10);
            else if (strcmp(kv[0], "birthday-probes") == 0)
                mo.agent.birthday_probes = (unsigned)g_ascii_strtoull(kv[1], NULL, 10);
        } else if (strcmp(argv[i], "--list") == 0) {
            list = true;
        } else {
            fprintf(stderr, "natlab matrix: unknown option %s\n", argv[i]);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
    }
    g_autofree char *why = NULL;
    g_autofree char *defaults = g_strjoinv(",", (char **)run_matrix_default_nats);
    g_auto(GStrv) nats = run_matrix_parse_nats(nat_list ? nat_list : defaults, &why);
    if (!nats) {
        fprintf(stderr, "natlab matrix: --nats %s: %s\n", nat_list, why);
        return NATLAB_EXIT_USAGE;
    }
    mo.repeat = o.repeat ? o.repeat : MATRIX_REPEAT_DEFAULT;
    o.repeat = 0;
    mo.seed = o.seed_set ? o.seed : (((uint64_t)g_random_int() << 32 | g_random_int()) >> 1);
    o.seed_set = false; /* each pair has its own, derived from this one */
    mo.agent_keys = agent_keys->str;
    printf("natlab matrix: seed %" G_GUINT64_FORMAT "\n", mo.seed);
    unsigned pairs = run_matrix_pairs(g_strv_length(nats));
    g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func((GDestroyNotify)run_spec_free);
    for (unsigned k = 0; k < pairs; k++) {
        g_autofree char *text = run_matrix_scenario_text(nats, k, &mo, &why);
        g_autoptr(GError) error = NULL;
        run_spec_t *spec = text ? run_spec_load_data(text, strlen(text), "matrix", &error) : NULL;
        if (!spec) {
            fprintf(stderr, "natlab matrix: %s\n", error ? error->message : why);
            return NATLAB_EXIT_USAGE;
        }
        if (list)
            printf("# ---- pair %u\n%s\n", k + 1, text);
        g_ptr_array_add(specs, spec);
    }
    if (list)
        return 0;
    int status = cmd_run_specs(specs, "matrix", &o);
    if (status < 128)
        report(o.out_dir);
    return status;
}
