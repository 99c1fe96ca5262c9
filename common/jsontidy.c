#include "jsontidy.h"

#include <glib.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

/* Past the string that starts at p (a '"'), escapes included. */
static const char *string_end(const char *p)
{
    for (p++; *p && *p != '"';)
        p += p[0] == '\\' && p[1] ? 2 : 1;
    return *p ? p + 1 : p;
}

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

static void append_fixed(GString *out, const char *number, size_t len, int decimals)
{
    g_autofree char *copy = g_strndup(number, len);
    char format[8], buf[G_ASCII_DTOSTR_BUF_SIZE];
    g_snprintf(format, sizeof format, "%%.%df", decimals);
    g_string_append(out, g_ascii_formatd(buf, sizeof buf, format, g_ascii_strtod(copy, NULL)));
}

static int fixed_decimals(const jsontidy_fixed_t *fixed, const char *key, size_t len)
{
    for (; fixed && key && fixed->key; fixed++)
        if (strlen(fixed->key) == len && memcmp(fixed->key, key, len) == 0)
            return fixed->decimals;
    return -1;
}

static char *tidy(const char *text, const jsontidy_fixed_t *fixed)
{
    GString *out = g_string_sized_new(strlen(text));
    const char *p = text;
    const char *key = NULL; /* the member whose value comes next */
    size_t key_len = 0;
    while (*p) {
        if (*p == '"') { /* a string, escapes included, as it is */
            const char *start = p;
            p = string_end(p);
            g_string_append_len(out, start, p - start);
            const char *next = p;
            while (*next == ' ')
                next++;
            key = *next == ':' ? start + 1 : NULL;
            key_len = key ? (size_t)(p - start) - 2 : 0;
        } else if (*p == '-' || g_ascii_isdigit(*p)) {
            const char *start = p++;
            while (*p && (g_ascii_isdigit(*p) || strchr(".eE+-", *p)))
                p++;
            bool is_float = false;
            for (const char *c = start; c < p; c++)
                is_float |= *c == '.' || *c == 'e' || *c == 'E';
            int decimals = fixed_decimals(fixed, key, key_len);
            if (decimals >= 0)
                append_fixed(out, start, (size_t)(p - start), decimals);
            else if (is_float)
                append_shortest(out, start, (size_t)(p - start));
            else
                g_string_append_len(out, start, p - start);
            key = NULL;
        } else {
            if (*p != ':' && *p != ' ')
                key = NULL;
            g_string_append_c(out, *p++);
        }
    }
    return g_string_free(out, FALSE);
}

char *jsontidy_numbers(const char *text)
{
    return tidy(text, NULL);
}

char *jsontidy_line(JsonNode *node, const jsontidy_fixed_t *fixed)
{
    g_autofree char *text = json_to_string(node, FALSE);
    return tidy(text, fixed);
}

static void newline(GString *out, int depth)
{
    g_string_append_c(out, '\n');
    for (int i = 0; i < depth; i++)
        g_string_append(out, "  ");
}

/* From json-glib's one line to two-space indent: only the text between
 * strings changes. */
static char *indent(const char *text)
{
    GString *out = g_string_sized_new(strlen(text) * 2);
    int depth = 0;
    for (const char *p = text; *p;) {
        if (*p == '"') {
            const char *start = p;
            p = string_end(p);
            g_string_append_len(out, start, p - start);
        } else if (*p == '{' || *p == '[') {
            g_string_append_c(out, *p);
            if (p[1] == (*p == '{' ? '}' : ']')) {
                g_string_append_c(out, p[1]);
                p += 2;
                continue;
            }
            newline(out, ++depth);
            p++;
        } else if (*p == '}' || *p == ']') {
            newline(out, --depth);
            g_string_append_c(out, *p++);
        } else if (*p == ',') {
            g_string_append_c(out, *p++);
            newline(out, depth);
        } else if (*p == ':') {
            g_string_append(out, ": ");
            p++;
        } else {
            g_string_append_c(out, *p++);
        }
    }
    g_string_append_c(out, '\n');
    return g_string_free(out, FALSE);
}

char *jsontidy_pretty(JsonNode *node)
{
    g_autofree char *line = jsontidy_line(node, NULL);
    return indent(line);
}

void jsontidy_add_string(JsonBuilder *b, const char *key, const char *value)
{
    json_builder_set_member_name(b, key);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

void jsontidy_add_int(JsonBuilder *b, const char *key, int64_t value)
{
    json_builder_set_member_name(b, key);
    json_builder_add_int_value(b, value);
}

void jsontidy_add_double(JsonBuilder *b, const char *key, double value)
{
    json_builder_set_member_name(b, key);
    if (isfinite(value))
        json_builder_add_double_value(b, value);
    else
        json_builder_add_null_value(b);
}

void jsontidy_add_rounded(JsonBuilder *b, const char *key, double value, int decimals)
{
    if (!isfinite(value)) {
        jsontidy_add_double(b, key, NAN);
        return;
    }
    char format[8], buf[G_ASCII_DTOSTR_BUF_SIZE];
    g_snprintf(format, sizeof format, "%%.%df", decimals);
    double shown = g_ascii_strtod(g_ascii_formatd(buf, sizeof buf, format, value), NULL);
    if (shown == trunc(shown) && fabs(shown) < 1e15)
        jsontidy_add_int(b, key, (int64_t)shown); /* also -0 -> 0 */
    else
        jsontidy_add_double(b, key, shown);
}

const char *jsontidy_node_kind(JsonNode *n)
{
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return "null";
    if (JSON_NODE_HOLDS_OBJECT(n))
        return "an object";
    if (JSON_NODE_HOLDS_ARRAY(n))
        return "an array";
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_STRING)
        return "a string";
    if (t == G_TYPE_BOOLEAN)
        return "a boolean";
    return "a number";
}
