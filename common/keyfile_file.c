#include "keyfile.h"

bool keyfile_read_file(const char *path, char **data, gsize *len, GError **error)
{
    GError *local = NULL;
    if (!g_file_get_contents(path, data, len, &local)) {
        g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_PARSE, "%s", local->message);
        g_error_free(local);
        return false;
    }
    return true;
}

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
