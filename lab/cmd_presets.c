/* natlab presets [--json]: every preset with its dimensions. */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "natsim/nat_profile.h"

static int print_json(void)
{
    size_t n;
    const nat_preset_info_t *presets = nat_profile_presets(&n);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    for (size_t i = 0; i < n; i++) {
        g_autoptr(nat_profile_t) p = nat_profile_new_preset(presets[i].name, NULL);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, presets[i].name);
        json_builder_set_member_name(b, "description");
        json_builder_add_string_value(b, presets[i].description);
        json_builder_set_member_name(b, "profile");
        json_builder_add_value(b, nat_profile_to_json_node(p));
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    cmd_print_json(root);
    return 0;
}

static int print_table(void)
{
    size_t n;
    const nat_preset_info_t *presets = nat_profile_presets(&n);
    for (size_t i = 0; i < n; i++) {
        g_autoptr(nat_profile_t) p = nat_profile_new_preset(presets[i].name, NULL);
        g_autofree char *summary = nat_profile_summary(p);
        printf("%-22s %s\n", presets[i].name, summary);
        printf("%-22s %s\n", "", presets[i].description);
    }
    printf("\nA profile file names a preset and overrides any key:\n"
           "  [nat]\n  preset = home-router\n  timeout = 30s\n"
           "'natlab profile check FILE' prints every key of the result.\n");
    return 0;
}

int cmd_presets_main(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: natlab presets [--json]\n");
            return 0;
        } else {
            fprintf(stderr, "natlab presets: unknown argument '%s'; allowed: --json\n", argv[i]);
            return NATLAB_EXIT_USAGE;
        }
    }
    return json ? print_json() : print_table();
}
