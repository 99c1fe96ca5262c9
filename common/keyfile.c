#include "keyfile.h"

#include <string.h>

struct keyfile {
    GKeyFile *kf;
    char *origin;
    char **lines;
};

G_DEFINE_QUARK(natlab-keyfile-error-quark, keyfile_error)

keyfile_t *keyfile_load_data(const char *data, gsize len, const char *origin, GError **error)
{
    keyfile_t *kf = g_new0(keyfile_t, 1);
    kf->origin = g_strdup(origin ? origin : "<input>");
    kf->kf = g_key_file_new();
    GError *local = NULL;
    if (!g_key_file_load_from_data(kf->kf, data, len, G_KEY_FILE_NONE, &local)) {
        g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_PARSE, "%s: %s", kf->origin,
                    local->message);
        g_error_free(local);
        keyfile_free(kf);
        return NULL;
    }
    char *copy = g_strndup(data, len);
    kf->lines = g_strsplit(copy, "\n", -1);
    g_free(copy);
    return kf;
}

keyfile_t *keyfile_load_file(const char *path, GError **error)
{
    char *data = NULL;
    gsize len = 0;
    GError *local = NULL;
    if (!g_file_get_contents(path, &data, &len, &local)) {
        g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_PARSE, "%s", local->message);
        g_error_free(local);
        return NULL;
    }
    keyfile_t *kf = keyfile_load_data(data, len, path, error);
    g_free(data);
    return kf;
}

void keyfile_free(keyfile_t *kf)
{
    if (!kf)
        return;
    if (kf->kf)
        g_key_file_free(kf->kf);
    g_strfreev(kf->lines);
    g_free(kf->origin);
    g_free(kf);
}

const char *keyfile_origin(const keyfile_t *kf)
{
    return kf->origin;
}

gchar **keyfile_groups(const keyfile_t *kf, gsize *length)
{
    return g_key_file_get_groups(kf->kf, length);
}

gchar **keyfile_keys(const keyfile_t *kf, const char *group, gsize *length)
{
    return g_key_file_get_keys(kf->kf, group, length, NULL);
}

bool keyfile_has_group(const keyfile_t *kf, const char *group)
{
    return g_key_file_has_group(kf->kf, group);
}

char *keyfile_get(const keyfile_t *kf, const char *group, const char *key)
{
    char *raw = g_key_file_get_value(kf->kf, group, key, NULL);
    if (!raw)
        return NULL;
    /* GLib only knows whole-line comments; "30s   # why" is common in our files. */
    for (char *p = raw; *p; p++) {
        if (*p == '#' && (p == raw || g_ascii_isspace(p[-1]))) {
            *p = '\0';
            break;
        }
    }
    return g_strstrip(raw);
}

int keyfile_line(const keyfile_t *kf, const char *group, const char *key)
{
    bool in_group = false;
    size_t key_len = strlen(key);
    for (int i = 0; kf->lines && kf->lines[i]; i++) {
        const char *line = kf->lines[i];
        while (g_ascii_isspace(*line))
            line++;
        if (*line == '[') {
            const char *close = strrchr(line, ']');
            in_group = close && (size_t)(close - line - 1) == strlen(group) &&
                       strncmp(line + 1, group, (size_t)(close - line - 1)) == 0;
            continue;
        }
        if (in_group && strncmp(line, key, key_len) == 0) {
            const char *rest = line + key_len;
            while (*rest == ' ' || *rest == '\t')
                rest++;
            if (*rest == '=')
                return i + 1;
        }
    }
    return 0;
}

void keyfile_set_error(GError **error, const keyfile_t *kf, const char *group, const char *key,
                       const char *value, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    int line = key ? keyfile_line(kf, group, key) : 0;
    GString *where = g_string_new(kf->origin);
    if (line > 0)
        g_string_append_printf(where, ":%d", line);
    if (key && value)
        g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_VALUE, "%s: [%s] %s = %s: %s",
                    where->str, group, key, value, why);
    else if (key)
        g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_VALUE, "%s: [%s] %s: %s", where->str,
                    group, key, why);
    else
        g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_VALUE, "%s: [%s]: %s", where->str,
                    group, why);
    g_string_free(where, TRUE);
    g_free(why);
}
