/* The bits of HTTP/1.1 and XML text UPnP IGD needs on both sides (natsim's
 * IGD server, the agent's control point): where a header block ends, a
 * header's value, XML escaping both ways. Pure text in, text out. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

/* The offset of the body after the first empty line, 0 when the header
 * block is not complete. Bare LF is accepted. */
size_t httptext_head_end(const char *text, size_t len);
/* The value of header `name` (case-insensitive) in [head, end), trimmed of
 * blanks and CR, into [*v, *ve); false if absent. */
bool httptext_header(const char *head, const char *end, const char *name, const char **v,
                     const char **ve);
/* The same as a new string; NULL if absent. */
char *httptext_header_dup(const char *head, const char *end, const char *name);
/* Appends `text` with & < > " ' escaped. */
void httptext_xml_escape(GString *s, const char *text);
/* The five predefined entities and numeric references below 128 decoded;
 * anything else left as it is. A new string. */
char *httptext_xml_unescape(const char *text, size_t len);
