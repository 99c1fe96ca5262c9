/* The one way natlab writes JSON: json-glib builds the tree and prints it,
 * jsontidy fixes what json-glib prints badly. json-glib prints every double
 * with 17 significant digits (0.80000000000000004), which is exact but
 * unreadable: each number outside strings becomes the shortest decimal that
 * reads back as the same double (as Python's repr), unless its member is
 * listed with a fixed count of decimals. Everything else is copied as it is. */
#pragma once
#include <json-glib/json-glib.h>
#include <stdint.h>

/* Members whose numbers keep a fixed count of decimals ("12.500"), for
 * readers of a stream that has always looked so. A list ends at key NULL. */
typedef struct jsontidy_fixed {
    const char *key;
    int decimals;
} jsontidy_fixed_t;

char *jsontidy_numbers(const char *text);
/* The node on one line, as json-glib prints it, numbers tidied. */
char *jsontidy_line(JsonNode *node, const jsontidy_fixed_t *fixed);
/* The node indented by two spaces, "key": value, empty containers as {}
 * and [], numbers tidied, and a final newline. */
char *jsontidy_pretty(JsonNode *node);

/* Members for a JsonBuilder: NULL strings and NAN doubles become null. */
void jsontidy_add_string(JsonBuilder *b, const char *key, const char *value);
void jsontidy_add_int(JsonBuilder *b, const char *key, int64_t value);
void jsontidy_add_double(JsonBuilder *b, const char *key, double value);
/* value printed with `decimals` and read back, so that it shows those digits
 * at most ("%.4f" of 0.81549 is 0.8155; whole numbers as integers, 2 not
 * 2.0); NAN and infinities become null. */
void jsontidy_add_rounded(JsonBuilder *b, const char *key, double value, int decimals);

/* "null", "an object", "an array", "a string", "a boolean" or "a number",
 * for errors about a member. */
const char *jsontidy_node_kind(JsonNode *node);
