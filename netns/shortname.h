/* Names the kernel keeps short, derived from the user's: an interface name
 * has at most 15 characters (IFNAMSIZ 16 with the NUL), and a namespace
 * name, a file under /run/netns, is kept short too. A name that fits is
 * kept; a longer one keeps its beginning and gets a hash of all of it, so
 * the same names give the same namespaces and interfaces every time. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#define SHORTNAME_HASH_CHARS 6 /* hex digits: 24 bits of FNV-1a */

/* `name` itself when it has at most `max` characters (max > HASH_CHARS + 1),
 * else its first max - 7 characters, '-' and 6 hex digits of a hash of the
 * name and `salt` (0 for the first try; the next salt after a collision). */
char *shortname_derive(const char *name, size_t max, unsigned salt);

/* Short names for `n` distinct names, distinct among themselves and from
 * every name in `reserved` (NULL-terminated, may be NULL): names that fit
 * keep themselves, the others are derived, each with the first salt that
 * collides with nothing taken before it (names in order). */
char **shortname_assign(const char *const *names, size_t n, size_t max,
                        const char *const *reserved);
