#include "results.h"

bool results_add_path(results_t *r, const char *path, GError **error)
{
    g_autofree char *file = NULL;
    g_autofree char *dir = NULL;
    if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
        file = g_build_filename(path, "results.jsonl", NULL);
        dir = g_strdup(path);
    } else {
        file = g_strdup(path);
        dir = g_path_get_dirname(path);
    }
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) ferr = NULL;
    if (!g_file_get_contents(file, &data, &len, &ferr)) {
        g_set_error(error, RESULTS_ERROR, RESULTS_ERROR_READ, "%s", ferr->message);
        return false;
    }
    return results_add_data(r, data, len, file, dir, error);
}
