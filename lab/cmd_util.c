/* Small pieces the subcommands share. */
#include <json-glib/json-glib.h>
#include <stdio.h>

#include "cmd.h"

void cmd_print_json(JsonNode *root)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_pretty(gen, TRUE);
    json_generator_set_root(gen, root);
    g_autofree char *text = json_generator_to_data(gen, NULL);
    printf("%s\n", text);
}
