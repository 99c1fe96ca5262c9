#include "results.h"

#include <string.h>

G_DEFINE_QUARK(natlab-results-error-quark, results_error)

static void attempt_free(gpointer p)
{
    result_attempt_t *a = p;
    if (!a)
        return;
    result_free(a->row);
    g_free(a->pcap_href);
    g_free(a);
}

results_t *results_new(void)
{
    results_t *r = g_new0(results_t, 1);
    r->attempts = g_ptr_array_new_with_free_func(attempt_free);
    r->origins = g_ptr_array_new_with_free_func(g_free);
    r->dirs = g_ptr_array_new_with_free_func(g_free);
    r->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return r;
}

void results_free(results_t *r)
{
    if (!r)
        return;
    if (r->attempts)
        g_ptr_array_free(r->attempts, TRUE);
    if (r->origins)
        g_ptr_array_free(r->origins, TRUE);
    if (r->dirs)
        g_ptr_array_free(r->dirs, TRUE);
    if (r->seen)
        g_hash_table_destroy(r->seen);
    g_free(r);
}

/* The same record twice (a shard passed twice, or copied into two
 * directories) would count twice; only records that say which attempt they
 * are can be told apart, so only those are checked. */
static char *attempt_identity(const result_t *row)
{
    if (!(row->has & RESULT_HAS_ATTEMPT))
        return NULL;
    int64_t seed = row->has & RESULT_HAS_SEED ? (int64_t)row->seed : -1;
    /* Two kinds' attempts are two attempts, whatever else they share. */
    return g_strdup_printf("%s\x1f%s\x1f%s\x1f%u\x1f%" G_GINT64_FORMAT "\x1f%s",
                           result_kind_name(row), row->scenario, row->pair, row->attempt, seed,
                           row->started ? row->started : "");
}

bool results_add_data(results_t *r, const char *data, size_t len, const char *origin,
                      const char *dir, GError **error)
{
    char *kept_origin = g_strdup(origin);
    char *kept_dir = g_strdup(dir ? dir : ".");
    g_ptr_array_add(r->origins, kept_origin);
    g_ptr_array_add(r->dirs, kept_dir);
    guint first_new = r->attempts->len;
    g_autoptr(GPtrArray) new_keys = g_ptr_array_new();
    g_autoptr(JsonParser) parser = json_parser_new();
    int line = 0;
    bool ok = true;

    for (size_t pos = 0; pos < len && ok;) {
        const char *start = data + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl ? 1 : 0);
        line++;
        if (n > 0 && start[n - 1] == '\r')
            n--;
        result_t *row = result_from_line(parser, start, n, !nl, kept_origin, line, error);
        if (!row) {
            ok = false;
            break;
        }
        result_attempt_t *a = g_new0(result_attempt_t, 1);
        a->row = row;
        a->origin = kept_origin;
        a->dir = kept_dir;
        a->line = line;
        char *id = attempt_identity(row);
        if (id) {
            const char *where = g_hash_table_lookup(r->seen, id);
            if (where) {
                g_set_error(error, RESULTS_ERROR, RESULTS_ERROR_DUPLICATE,
                            "%s:%d: the same attempt as %s (scenario %s, pair %s, attempt %u); "
                            "is a shard given twice?",
                            kept_origin, line, where, row->scenario, row->pair, row->attempt);
                g_free(id);
                attempt_free(a);
                ok = false;
                break;
            }
            g_hash_table_insert(r->seen, id, g_strdup_printf("%s:%d", kept_origin, line));
            g_ptr_array_add(new_keys, id);
        }
        g_ptr_array_add(r->attempts, a);
    }
    if (!ok) {
        for (guint i = 0; i < new_keys->len; i++)
            g_hash_table_remove(r->seen, new_keys->pdata[i]);
        g_ptr_array_remove_range(r->attempts, first_new, r->attempts->len - first_new);
        g_ptr_array_remove_index(r->origins, r->origins->len - 1);
        g_ptr_array_remove_index(r->dirs, r->dirs->len - 1);
    }
    return ok;
}
