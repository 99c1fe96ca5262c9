/* natlab matrix [--nats a,b,...] [--repeat N] [--out DIR] [-j N] [--turn T] [--sim]: every pair
 * of NAT presets against the first-principles prediction, then the report. */
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "run/run_kind_file.h"
#include "run/run_matrix.h"
#include "run/run_spec.h"

#define MATRIX_REPEAT_DEFAULT 5

static int usage(FILE *out, int status)
{
    g_autofree char *nats = g_strjoinv(",", (char **)run_matrix_default_nats);
    fprintf(out,
            "usage: natlab matrix [--nats a,b,...] [--repeat N] [--out DIR] [-j N] [--junit FILE]\n"
            "                     [--shard K/N] [--seed S] [--agent KEY=VALUE]... [--agent-kind a,b,...]\n"
            "                     [--turn udp|tcp] [--list] [--sim]\n"
            "  Every pair of the presets (default: %s),\n"
            "  N attempts each (default %d), each pair expected to do what theory predicts\n"
            "  (direct or relayed; rates for probabilistic techniques), then\n"
            "  'natlab report DIR'. Exit status 0 when every pair holds.\n"
            "  --out DIR          results (default: results/matrix)\n"
            "  --agent KEY=VALUE  an [agent] key for every pair (e.g. punch-timeout=5s)\n"
            "  --agent-kind a,b   the whole matrix once per agent kind (docs/agents.md):\n"
            "                     natlab (default), a built-in kind, or a kind file's path\n"
            "  --turn udp|tcp     natlab's agents relay through coturn on the server host\n"
            "                     over UDP or TCP ([agent] turn, docs/run.md)\n"
            "  --list             print each pair's generated scenario and exit\n"
            "  --sim              every attempt in memory on a virtual clock: no root, no\n"
            "                     namespaces, thousands of attempts a second, the same\n"
            "                     results.jsonl from the same --seed\n"
            "  Other options as in natlab run.\n",
            nats, MATRIX_REPEAT_DEFAULT);
    return status;
}

typedef struct matrix_kind {
    run_kind_t *kind; /* NULL: natlab */
    char *ref;        /* as [agent] kind says it: a name, or an absolute path */
} matrix_kind_t;

static void matrix_kind_free(matrix_kind_t *m)
{
    run_kind_free(m->kind);
    g_free(m->ref);
    g_free(m);
}

/* "natlab,libnice,./mine.kind" -> the kinds, each found and read once. */
static GPtrArray *parse_kinds(const char *list, char **why)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)matrix_kind_free);
    g_auto(GStrv) refs = g_strsplit(list ? list : RUN_KIND_NATLAB, ",", -1);
    g_autofree char *cwd = g_get_current_dir();
    for (int i = 0; refs[i]; i++) {
        const char *ref = g_strstrip(refs[i]);
        g_autoptr(GError) error = NULL;
        matrix_kind_t *m = g_new0(matrix_kind_t, 1);
        g_ptr_array_add(out, m);
        if (!*ref) {
            *why = g_strdup("an empty name; allowed: kind names or kind files, separated by "
                            "commas");
            g_ptr_array_free(out, TRUE);
            return NULL;
        }
        m->kind = run_kind_find(ref, cwd, &error);
        if (error) {
            *why = g_strdup(error->message);
            g_ptr_array_free(out, TRUE);
            return NULL;
        }
        m->ref = !m->kind || !run_kind_ref_is_path(ref)
                     ? g_strdup(ref)
                     : g_canonicalize_filename(ref, cwd);
        for (guint k = 0; k + 1 < out->len; k++) {
            const matrix_kind_t *o = g_ptr_array_index(out, k);
            const char *a = m->kind ? m->kind->name : RUN_KIND_NATLAB;
            const char *b = o->kind ? o->kind->name : RUN_KIND_NATLAB;
            if (strcmp(a, b) == 0) {
                *why = g_strdup_printf("kind %s is named twice", a);
                g_ptr_array_free(out, TRUE);
                return NULL;
            }
        }
    }
    return out;
}

/* Of the --agent keys, those every kind's peers take (send, interval). */
static char *kind_agent_keys(const char *keys)
{
    GString *out = g_string_new(NULL);
    g_auto(GStrv) lines = g_strsplit(keys, "\n", -1);
    for (int i = 0; lines[i]; i++)
        if (g_str_has_prefix(lines[i], "send = ") || g_str_has_prefix(lines[i], "interval = "))
            g_string_append_printf(out, "%s\n", lines[i]);
    return g_string_free(out, FALSE);
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
    const char *nat_list = NULL, *kind_list = NULL;
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
            else if (strcmp(kv[0], "tcp-punch") == 0)
                mo.agent.tcp_punch = strcmp(kv[1], "off") != 0;
        } else if (strcmp(argv[i], "--turn") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            if (!run_turn_parse(v, &mo.turn) || mo.turn == RUN_TURN_NONE) {
                fprintf(stderr, "natlab matrix: --turn '%s': allowed: udp, tcp (the transport "
                                "to coturn)\n", v);
                return NATLAB_EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--agent-kind") == 0 && i + 1 < argc) {
            kind_list = argv[++i];
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
    g_autoptr(GPtrArray) kinds = parse_kinds(kind_list, &why);
    if (!kinds) {
        fprintf(stderr, "natlab matrix: --agent-kind %s: %s\n", kind_list, why);
        return NATLAB_EXIT_USAGE;
    }
    if (o.sim && (kinds->len > 1 || ((matrix_kind_t *)g_ptr_array_index(kinds, 0))->kind)) {
        fprintf(stderr, "natlab matrix: --sim runs natlab's own agent's core; run other agent "
                        "kinds without --sim\n");
        return NATLAB_EXIT_USAGE;
    }
    /* The sim's agents meet over UDP only (sim/simnet models no TCP between them). */
    if (o.sim)
        mo.agent.tcp_punch = false;
    if (o.sim && mo.turn == RUN_TURN_TCP) {
        fprintf(stderr, "natlab matrix: --sim --turn tcp: sim mode's TURN server (sim/simturn) "
                        "speaks UDP only; use --turn udp, or run without --sim\n");
        return NATLAB_EXIT_USAGE;
    }
    printf("natlab matrix: seed %" G_GUINT64_FORMAT "\n", mo.seed);
    unsigned pairs = run_matrix_pairs(g_strv_length(nats));
    g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func((GDestroyNotify)run_spec_free);
    for (guint q = 0; q < kinds->len; q++) {
        const matrix_kind_t *mk = g_ptr_array_index(kinds, q);
        const run_kind_t *kind = mk->kind;
        run_matrix_options_t ko = mo;
        /* Another kind takes only the keys every kind's peers take. */
        g_autofree char *keys = kind ? kind_agent_keys(agent_keys->str) : NULL;
        if (kind) {
            ko.agent = run_kind_predict_agent(kind);
            ko.kind_name = kind->name;
            ko.kind_ref = mk->ref;
            ko.agent_keys = keys;
        }
        for (unsigned k = 0; k < pairs; k++) {
            g_autofree char *text = run_matrix_scenario_text(nats, k, &ko, &why);
            g_autoptr(GError) error = NULL;
            run_spec_t *spec =
                text ? run_spec_load_data(text, strlen(text), "matrix", &error) : NULL;
            if (spec && !run_spec_attach_kind(spec, "matrix", &error))
                g_clear_pointer(&spec, run_spec_free);
            if (!spec) {
                fprintf(stderr, "natlab matrix: %s\n", error ? error->message : why);
                return NATLAB_EXIT_USAGE;
            }
            if (list)
                printf("# ---- pair %u%s%s\n%s\n", k + 1, kind ? ", kind " : "",
                       kind ? kind->name : "", text);
            g_ptr_array_add(specs, spec);
        }
    }
    if (list)
        return 0;
    int status = cmd_run_specs(specs, "matrix", &o);
    if (status < 128 && status != NATLAB_EXIT_USAGE) /* a refusal ran nothing to report */
        report(o.out_dir);
    return status;
}
