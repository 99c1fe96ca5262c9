#include "keyfile.h"

keyfile_t *keyfile_load_file(const char *path, GError **error)
{
    char *data = NULL;
    gsize len = 0;
    if (!keyfile_read_file(path, &data, &len, error))
        return NULL;
    keyfile_t *kf = keyfile_load_data(data, len, path, error);
    g_free(data);
    return kf;
}
