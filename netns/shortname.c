#include "shortname.h"

#include <stdint.h>
#include <string.h>

static uint32_t fnv1a(const char *name, unsigned salt)
{
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    for (unsigned i = 0; salt && i < 4; i++)
        h = (h ^ ((salt >> (8 * i)) & 0xff)) * 16777619u;
    return h;
}

char *shortname_derive(const char *name, size_t max, unsigned salt)
{
    size_t n = strlen(name);
    if (n <= max)
        return g_strdup(name);
    g_assert(max > SHORTNAME_HASH_CHARS + 1);
    int keep = (int)(max - SHORTNAME_HASH_CHARS - 1);
    uint32_t h = fnv1a(name, salt) & ((1u << (4 * SHORTNAME_HASH_CHARS)) - 1);
    return g_strdup_printf("%.*s-%0*x", keep, name, SHORTNAME_HASH_CHARS, h);
}

char **shortname_assign(const char *const *names, size_t n, size_t max,
                        const char *const *reserved)
{
    char **out = g_new0(char *, n + 1);
    g_autoptr(GHashTable) taken = g_hash_table_new(g_str_hash, g_str_equal);
    for (size_t i = 0; reserved && reserved[i]; i++)
        g_hash_table_add(taken, (gpointer)reserved[i]);
    /* Names that fit first: a derived name must never take one of them. */
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) <= max) {
            out[i] = g_strdup(names[i]);
            g_hash_table_add(taken, out[i]);
        }
    for (size_t i = 0; i < n; i++) {
        if (out[i])
            continue;
        for (unsigned salt = 0; !out[i] || g_hash_table_contains(taken, out[i]); salt++) {
            g_free(out[i]);
            out[i] = shortname_derive(names[i], max, salt);
        }
        g_hash_table_add(taken, out[i]);
    }
    return out;
}
