#include "run_shard.h"

#include <glib.h>

bool run_shard_parse(const char *text, run_shard_t *out)
{
    if (!text)
        return false;
    g_auto(GStrv) parts = g_strsplit(text, "/", 3);
    guint64 k, n;
    if (g_strv_length(parts) != 2 ||
        !g_ascii_string_to_unsigned(parts[1], 10, 1, 10000, &n, NULL) ||
        !g_ascii_string_to_unsigned(parts[0], 10, 1, n, &k, NULL))
        return false;
    *out = (run_shard_t){ (unsigned)k, (unsigned)n };
    return true;
}

bool run_shard_takes(run_shard_t shard, unsigned index)
{
    return index % shard.n == shard.k - 1;
}
