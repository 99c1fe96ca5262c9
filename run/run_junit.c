#include "run_junit.h"

#include <string.h>

#include "run_expect.h"

static void attr(GString *s, const char *name, const char *value)
{
    g_autofree char *esc = g_markup_escape_text(value ? value : "", -1);
    g_string_append_printf(s, " %s=\"%s\"", name, esc);
}

char *run_junit_text(const char *suite, const run_junit_case_t *cases, size_t n, double seconds)
{
    unsigned failures = 0, errors = 0;
    for (size_t i = 0; i < n; i++) {
        if (cases[i].error) {
            errors++;
            continue;
        }
        for (guint v = 0; cases[i].verdicts && v < cases[i].verdicts->len; v++)
            if (!((run_verdict_t *)g_ptr_array_index(cases[i].verdicts, v))->ok) {
                failures++;
                break;
            }
    }
    GString *s = g_string_new("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite");
    attr(s, "name", suite);
    char t[G_ASCII_DTOSTR_BUF_SIZE];
    g_string_append_printf(s, " tests=\"%zu\" failures=\"%u\" errors=\"%u\" time=\"%s\">\n", n,
                           failures, errors, g_ascii_formatd(t, sizeof t, "%.3f", seconds));
    for (size_t i = 0; i < n; i++) {
        const run_junit_case_t *c = &cases[i];
        g_string_append(s, "  <testcase");
        attr(s, "classname", suite);
        attr(s, "name", c->name);
        g_string_append_printf(s, " time=\"%s\">\n", g_ascii_formatd(t, sizeof t, "%.3f", c->seconds));
        g_autoptr(GString) failed = g_string_new(NULL);
        g_autoptr(GString) passed = g_string_new(NULL);
        for (guint v = 0; c->verdicts && v < c->verdicts->len; v++) {
            const run_verdict_t *vd = g_ptr_array_index(c->verdicts, v);
            g_string_append_printf(vd->ok ? passed : failed, "%s\n", vd->line);
        }
        if (c->error) {
            g_string_append(s, "    <error");
            attr(s, "message", c->error);
            g_string_append(s, "/>\n");
        } else if (failed->len) {
            g_autofree char *first = g_strndup(failed->str, strcspn(failed->str, "\n"));
            g_autofree char *body = g_markup_escape_text(failed->str, -1);
            g_string_append(s, "    <failure");
            attr(s, "message", first);
            g_string_append_printf(s, " type=\"expectation\">%s</failure>\n", body);
        }
        g_autofree char *out = g_markup_escape_text(c->summary ? c->summary : "", -1);
        g_autofree char *ok = g_markup_escape_text(passed->str, -1);
        g_string_append_printf(s, "    <system-out>%s\n%s</system-out>\n  </testcase>\n", out, ok);
    }
    g_string_append(s, "</testsuite>\n</testsuites>\n");
    return g_string_free(s, FALSE);
}
