#include "population.h"

#include "common/keyfile.h"

population_t *population_load_file(const char *path, GError **error)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    if (!keyfile_read_file(path, &data, &len, error))
        return NULL;
    return population_load_data(data, len, path, error);
}
