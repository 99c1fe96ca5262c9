/* The shell half of run_spec: reads scenario files, and the profile files
 * they name, from disk. */
#include "run_spec.h"

/* The whole file as a run (spec) or as `natlab up` (scenario) reads it. */
static bool load_file(const char *path, run_spec_t **spec, scenario_t **scenario, GError **error)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    if (!keyfile_read_file(path, &data, &len, error))
        return false;
    if (spec) {
        *spec = run_spec_load(data, len, path, keyfile_read_file, error);
        if (*spec && !run_spec_attach_kind(*spec, path, error))
            g_clear_pointer(spec, run_spec_free);
    }
    else
        *scenario = run_spec_load_scenario(data, len, path, keyfile_read_file, error);
    return true;
}

run_spec_t *run_spec_load_file(const char *path, GError **error)
{
    run_spec_t *spec = NULL;
    load_file(path, &spec, NULL, error);
    return spec;
}

scenario_t *run_spec_load_scenario_file(const char *path, GError **error)
{
    scenario_t *scenario = NULL;
    load_file(path, NULL, &scenario, error);
    return scenario;
}
