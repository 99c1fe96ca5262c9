/* The shell half of run_spec: reads scenario files, and the profile files
 * they name, from disk. */
#include "run_spec.h"

run_spec_t *run_spec_load_file(const char *path, GError **error)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    if (!keyfile_read_file(path, &data, &len, error))
        return NULL;
    return run_spec_load(data, len, path, keyfile_read_file, error);
}

scenario_t *run_spec_load_scenario_file(const char *path, GError **error)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    if (!keyfile_read_file(path, &data, &len, error))
        return NULL;
    return run_spec_load_scenario(data, len, path, keyfile_read_file, error);
}
