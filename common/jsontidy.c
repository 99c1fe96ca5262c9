#include "jsontidy.h"

#include <glib.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

static void append_shortest(GString *out, const char *number, size_t len)
{
    char *copy = g_strndup(number, len);
    double value = g_ascii_strtod(copy, NULL);
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    for (int digits = 1; digits <= 17; digits++) {
        char format[8]; /* g_ascii_formatd takes no '*' */
        g_snprintf(format, sizeof format, "%%.%dg", digits);
        g_ascii_formatd(buf, sizeof buf, format, value);
        if (g_ascii_strtod(buf, NULL) == value)
            break;
    }
    /* A whole number in exponent form only because few digits round-trip
     * (2.2e+02): plain digits read better and are never longer. */
    if (strpbrk(buf, "eE") && value == (double)(long long)value && fabs(value) < 1e17)
        g_snprintf(buf, sizeof buf, "%.0f", value);
    /* Keep a number that was a double looking like one ("2.0", not "2"). */
    bool was_float = strpbrk(copy, ".eE") != NULL;
    g_string_append(out, buf);
    if (was_float && !strpbrk(buf, ".eEn"))
        g_string_append(out, ".0");
    g_free(copy);
}

char *jsontidy_numbers(const char *text)
{
    GString *out = g_string_sized_new(strlen(text));
    const char *p = text;
    while (*p) {
        if (*p == '"') { /* a string, escapes included, as it is */
            const char *start = p++;
            while (*p && *p != '"')
                p += p[0] == '\\' && p[1] ? 2 : 1;
            if (*p)
                p++;
            g_string_append_len(out, start, p - start);
        } else if (*p == '-' || g_ascii_isdigit(*p)) {
            const char *start = p++;
            while (*p && (g_ascii_isdigit(*p) || strchr(".eE+-", *p)))
                p++;
            bool is_float = false;
            for (const char *c = start; c < p; c++)
                is_float |= *c == '.' || *c == 'e' || *c == 'E';
            if (is_float)
                append_shortest(out, start, (size_t)(p - start));
            else
                g_string_append_len(out, start, p - start);
        } else {
            g_string_append_c(out, *p++);
        }
    }
    return g_string_free(out, FALSE);
}
