#include "httptext.h"

#include <stdlib.h>
#include <string.h>

size_t httptext_head_end(const char *t, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (t[i] != '\n')
            continue;
        if (t[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && t[i + 1] == '\r' && t[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

bool httptext_header(const char *head, const char *end, const char *name, const char **v,
                     const char **ve)
{
    size_t n = strlen(name);
    for (const char *line = head; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > n && g_ascii_strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *a = line + n + 1, *b = eol;
            while (a < b && g_ascii_isspace(*a))
                a++;
            while (b > a && g_ascii_isspace(b[-1]))
                b--;
            *v = a;
            *ve = b;
            return true;
        }
        line = eol + 1;
    }
    return false;
}

char *httptext_header_dup(const char *head, const char *end, const char *name)
{
    const char *v, *ve;
    return httptext_header(head, end, name, &v, &ve) ? g_strndup(v, (gsize)(ve - v)) : NULL;
}

void httptext_xml_escape(GString *s, const char *text)
{
    for (const char *c = text; *c; c++) {
        switch (*c) {
        case '&': g_string_append(s, "&amp;"); break;
        case '<': g_string_append(s, "&lt;"); break;
        case '>': g_string_append(s, "&gt;"); break;
        case '"': g_string_append(s, "&quot;"); break;
        case '\'': g_string_append(s, "&apos;"); break;
        default: g_string_append_c(s, *c);
        }
    }
}

char *httptext_xml_unescape(const char *text, size_t len)
{
    static const struct {
        const char *ent;
        char c;
    } ents[] = {
        { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&apos;", '\'' },
    };
    GString *s = g_string_sized_new(len);
    for (size_t i = 0; i < len; i++) {
        bool done = false;
        for (size_t k = 0; text[i] == '&' && k < G_N_ELEMENTS(ents) && !done; k++) {
            size_t n = strlen(ents[k].ent);
            if (i + n <= len && memcmp(text + i, ents[k].ent, n) == 0) {
                g_string_append_c(s, ents[k].c);
                i += n - 1;
                done = true;
            }
        }
        if (!done && text[i] == '&' && i + 3 < len && text[i + 1] == '#') {
            /* Digits only up to the end of `text`: it need not be terminated. */
            size_t j = i + 2;
            unsigned long v = 0;
            while (j < len && j < i + 6 && g_ascii_isdigit(text[j]))
                v = v * 10 + (unsigned long)(text[j++] - '0');
            if (j > i + 2 && j < len && text[j] == ';' && v > 0 && v < 128) {
                g_string_append_c(s, (char)v);
                i = j;
                done = true;
            }
        }
        if (!done)
            g_string_append_c(s, text[i]);
    }
    return g_string_free(s, FALSE);
}
