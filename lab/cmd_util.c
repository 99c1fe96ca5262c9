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

char *cmd_read_secret(const char *path, size_t *len, GError **error)
{
    char *data = NULL;
    gsize n = 0;
    GError *local = NULL;
    if (!g_file_get_contents(path, &data, &n, &local)) {
        g_set_error(error, G_FILE_ERROR, local->code, "--secret: %s", local->message);
        g_error_free(local);
        return NULL;
    }
    /* `echo secret > file` and editors add a newline the other side's file may lack. */
    if (n > 0 && data[n - 1] == '\n')
        n--;
    if (n > 0 && data[n - 1] == '\r')
        n--;
    if (n == 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "--secret: %s is empty", path);
        g_free(data);
        return NULL;
    }
    *len = n;
    return data;
}
