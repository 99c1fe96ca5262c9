#include "nat_profile.h"

#include "common/keyfile.h"

nat_profile_t *nat_profile_load_file(const char *path, GError **error)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    if (!keyfile_read_file(path, &data, &len, error))
        return NULL;
    return nat_profile_load_data(data, len, path, error);
}
