#include "report_path.h"

#include <glib.h>

char *report_path_relative(const char *from_dir, const char *to_path)
{
    g_auto(GStrv) from = g_strsplit(from_dir, "/", -1);
    g_auto(GStrv) to = g_strsplit(to_path, "/", -1);
    /* Empty parts come from the leading '/' and from "/" itself. */
    g_autoptr(GPtrArray) f = g_ptr_array_new();
    g_autoptr(GPtrArray) t = g_ptr_array_new();
    for (char **p = from; *p; p++)
        if (**p)
            g_ptr_array_add(f, *p);
    for (char **p = to; *p; p++)
        if (**p)
            g_ptr_array_add(t, *p);
    guint common = 0;
    while (common < f->len && common < t->len &&
           strcmp(f->pdata[common], t->pdata[common]) == 0)
        common++;
    GString *out = g_string_new(NULL);
    for (guint i = common; i < f->len; i++)
        g_string_append(out, "../");
    for (guint i = common; i < t->len; i++) {
        g_string_append(out, t->pdata[i]);
        if (i + 1 < t->len)
            g_string_append_c(out, '/');
    }
    if (out->len == 0)
        g_string_append_c(out, '.');
    return g_string_free(out, FALSE);
}
