/* The shell half of scenario: reads scenario files, and the profile files
 * they name, from disk. */
#include "scenario.h"

#include <string.h>

scenario_t *scenario_load_file(const char *path, GError **error)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    if (!keyfile_read_file(path, &data, &len, error))
        return NULL;
    return scenario_load(data, len, path, keyfile_read_file, error);
}

char *scenario_resolve(const char *arg, scenario_load_file_fn *load, scenario_t **scenario,
                       GError **error)
{
    *scenario = NULL;
    if (g_file_test(arg, G_FILE_TEST_IS_REGULAR)) {
        *scenario = (load ? load : scenario_load_file)(arg, error);
        return *scenario ? g_strdup((*scenario)->name) : NULL;
    }
    if (!strchr(arg, '/') && scenario_name_valid(arg))
        return g_strdup(arg);
    g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_PARSE,
                "%s: no such scenario file, and not a scenario name (1 to %d of "
                SCENARIO_NAME_CHARS ")",
                arg, SCENARIO_NAME_MAX);
    return NULL;
}
