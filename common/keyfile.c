#include "keyfile.h"

#include <string.h>

struct keyfile {
    GKeyFile *kf;
    char *origin;
    char **lines;
};

G_DEFINE_QUARK(natlab-keyfile-error-quark, keyfile_error)

/* Translations ("key[de] = ...") are kept so that they reach the caller as
 * unknown keys, instead of vanishing or not depending on the user's locale. */
#define KEYFILE_FLAGS G_KEY_FILE_KEEP_TRANSLATIONS

static bool prefix_parses(const char *data, gsize len)
{
    GKeyFile *probe = g_key_file_new();
    bool ok = g_key_file_load_from_data(probe, data, len, KEYFILE_FLAGS, NULL);
    g_key_file_free(probe);
    return ok;
}

/* GLib names the bad line but not its number. GLib parses line by line, so
 * the shortest prefix of whole lines that fails to parse ends at the culprit;
 * a binary search finds it in O(log lines) parses. 0 if it cannot tell. */
static int parse_error_line(const char *data, gsize len)
{
    GArray *ends = g_array_new(FALSE, FALSE, sizeof(gsize));
    for (gsize i = 0; i < len; i++) {
        if (data[i] == '\n') {
            gsize end = i + 1;
            g_array_append_val(ends, end);
        }
    }
    if (len > 0 && data[len - 1] != '\n')
        g_array_append_val(ends, len);
    int line = 0;
    guint lo = 1, hi = ends->len;
    if (hi > 0 && !prefix_parses(data, g_array_index(ends, gsize, hi - 1))) {
        while (lo < hi) {
            guint mid = lo + (hi - lo) / 2;
            if (prefix_parses(data, g_array_index(ends, gsize, mid - 1)))
                lo = mid + 1;
            else
                hi = mid;
        }
        line = (int)lo;
    }
    g_array_free(ends, TRUE);
    return line;
}

static int key_line(const keyfile_t *kf, const char *group, const char *key, int nth);

/* GLib keeps the last of two equal keys without a word; in a profile or a
 * scenario that is almost always a mistake, so it is an error. */
static bool check_duplicates(const keyfile_t *kf, GError **error)
{
    gsize ngroups = 0;
    g_auto(GStrv) groups = g_key_file_get_groups(kf->kf, &ngroups);
    for (gsize g = 0; g < ngroups; g++) {
        gsize n = 0;
        g_auto(GStrv) keys = g_key_file_get_keys(kf->kf, groups[g], &n, NULL);
        g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
        for (gsize i = 0; i < n; i++) {
            if (g_hash_table_add(seen, keys[i]))
                continue;
            int first = key_line(kf, groups[g], keys[i], 1);
            int again = key_line(kf, groups[g], keys[i], 2);
            GString *msg = g_string_new(kf->origin);
            if (again > 0)
                g_string_append_printf(msg, ":%d", again);
            g_string_append_printf(msg, ": [%s] %s: set twice", groups[g], keys[i]);
            if (first > 0)
                g_string_append_printf(msg, " (first on line %d)", first);
            g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_PARSE, "%s; give each key once",
                        msg->str);
            g_string_free(msg, TRUE);
            return false;
        }
    }
    return true;
}

keyfile_t *keyfile_load_data(const char *data, gsize len, const char *origin, GError **error)
{
    keyfile_t *kf = g_new0(keyfile_t, 1);
    kf->origin = g_strdup(origin ? origin : "<input>");
    kf->kf = g_key_file_new();
    GError *local = NULL;
    if (!g_key_file_load_from_data(kf->kf, data, len, KEYFILE_FLAGS, &local)) {
        int line = parse_error_line(data, len);
        if (line > 0)
            g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_PARSE, "%s:%d: %s", kf->origin,
                        line, local->message);
        else
            g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_PARSE, "%s: %s", kf->origin,
                        local->message);
        g_error_free(local);
        keyfile_free(kf);
        return NULL;
    }
    char *copy = g_strndup(data, len);
    kf->lines = g_strsplit(copy, "\n", -1);
    g_free(copy);
    if (!check_duplicates(kf, error)) {
        keyfile_free(kf);
        return NULL;
    }
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

/* The line of the nth (1-based) occurrence of key in group; 0 if none. */
static int key_line(const keyfile_t *kf, const char *group, const char *key, int nth)
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
            if (*rest == '=' && --nth == 0)
                return i + 1;
        }
    }
    return 0;
}

int keyfile_line(const keyfile_t *kf, const char *group, const char *key)
{
    return key_line(kf, group, key, 1);
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
