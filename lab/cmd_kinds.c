/* natlab kinds [--json] [FILE...]: the agent kinds (docs/agents.md), built in
 * and named by file: whether each is installed, its version, techniques and
 * servers. */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "run/run_kind_file.h"

typedef struct row {
    const char *name, *description;
    char *techniques, *servers, *version, *missing;
} row_t;

static char *servers_text(const run_kind_t *k)
{
    GString *s = g_string_new(NULL);
    if (k->servers & RUN_KIND_SERVER_NATLAB)
        g_string_append(s, "natlab server");
    if (k->servers & RUN_KIND_SERVER_TURN)
        g_string_append(s, "coturn");
    if (k->server)
        g_string_append_printf(s, "%s%s", s->len ? " + " : "", "its own");
    if (!s->len)
        g_string_append(s, "none");
    return g_string_free(s, FALSE);
}

static void row_fill(row_t *r, const run_kind_t *k)
{
    if (!k) {
        *r = (row_t){ .name = RUN_KIND_NATLAB,
                      .description = "natlab's own punching agent (docs/agent.md)",
                      .techniques = run_kind_techniques_text(RUN_KIND_PUNCH | RUN_KIND_PREDICT |
                                                             RUN_KIND_BIRTHDAY |
                                                             RUN_KIND_PORT_MAPPING | RUN_KIND_RELAY |
                                                             RUN_KIND_RELAY_TCP),
                      .servers = g_strdup("natlab server"),
                      .version = g_strdup(NATLAB_VERSION) };
        return;
    }
    *r = (row_t){ .name = k->name, .description = k->description ? k->description : "" };
    r->techniques = run_kind_techniques_text(k->techniques);
    r->servers = servers_text(k);
    if (run_kind_installed(k, &r->missing))
        r->version = run_kind_version(k);
}

static void row_clear(row_t *r)
{
    g_free(r->techniques);
    g_free(r->servers);
    g_free(r->version);
    g_free(r->missing);
}

int cmd_kinds_main(int argc, char **argv)
{
    bool json = false;
    g_autoptr(GPtrArray) refs = g_ptr_array_new_with_free_func(g_free);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--help") == 0 || argv[i][0] == '-') {
            fprintf(strcmp(argv[i], "--help") == 0 ? stdout : stderr,
                    "usage: natlab kinds [--json] [FILE.kind...]\n"
                    "  The agent kinds natlab run and matrix can drive (docs/agents.md): natlab,\n"
                    "  the built-in ones (%s), and the kind files named; whether each is\n"
                    "  installed (else how to install it), its version, techniques, servers.\n",
                    run_kind_dir());
            return strcmp(argv[i], "--help") == 0 ? 0 : NATLAB_EXIT_USAGE;
        } else {
            g_ptr_array_add(refs, g_strdup(argv[i]));
        }
    }
    if (refs->len == 0) {
        g_autofree char *names = run_kind_builtin_names();
        g_auto(GStrv) list = g_strsplit(names, ", ", -1);
        for (int i = 0; list[i]; i++)
            g_ptr_array_add(refs, g_strdup(list[i]));
    }
    g_autofree char *cwd = g_get_current_dir();
    g_autoptr(GPtrArray) kinds = g_ptr_array_new_with_free_func((GDestroyNotify)run_kind_free);
    for (guint i = 0; i < refs->len; i++) {
        g_autoptr(GError) error = NULL;
        run_kind_t *k = run_kind_find(g_ptr_array_index(refs, i), cwd, &error);
        if (error) {
            fprintf(stderr, "natlab kinds: %s\n", error->message);
            return 1;
        }
        g_ptr_array_add(kinds, k);
    }
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    if (!json)
        printf("%-16s %-10s %-24s %-46s %s\n", "KIND", "INSTALLED", "VERSION", "TECHNIQUES",
               "SERVERS");
    for (guint i = 0; i < kinds->len; i++) {
        row_t r;
        row_fill(&r, g_ptr_array_index(kinds, i));
        if (json) {
            json_builder_begin_object(b);
            const char *keys[] = { "name", "description", "techniques", "servers", "version",
                                   "not_installed" };
            const char *vals[] = { r.name, r.description, r.techniques, r.servers, r.version,
                                   r.missing };
            for (size_t k = 0; k < G_N_ELEMENTS(keys); k++) {
                json_builder_set_member_name(b, keys[k]);
                if (vals[k])
                    json_builder_add_string_value(b, vals[k]);
                else
                    json_builder_add_null_value(b);
            }
            json_builder_set_member_name(b, "installed");
            json_builder_add_boolean_value(b, !r.missing);
            json_builder_end_object(b);
        } else {
            printf("%-16s %-10s %-24s %-46s %s\n", r.name, r.missing ? "no" : "yes",
                   r.version ? r.version : "-", r.techniques, r.servers);
            if (r.missing)
                printf("  %s\n", r.missing);
        }
        row_clear(&r);
    }
    json_builder_end_array(b);
    if (json) {
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        cmd_print_json(root);
    }
    return 0;
}
