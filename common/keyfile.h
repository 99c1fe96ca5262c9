/* GLib key files with what users of natlab need on top: line numbers in every
 * error, and inline "# comments" after a value. */
#pragma once
#include <glib.h>
#include <stdbool.h>

typedef struct keyfile keyfile_t;

#define KEYFILE_ERROR (keyfile_error_quark())
GQuark keyfile_error_quark(void);
enum { KEYFILE_ERROR_PARSE, KEYFILE_ERROR_VALUE };

keyfile_t *keyfile_load_data(const char *data, gsize len, const char *origin, GError **error);
/* How a core gets the bytes of a file it only knows by name (a profile a
 * scenario refers to): shells pass keyfile_read_file, tests their own. */
typedef bool keyfile_read_fn(const char *path, char **data, gsize *len, GError **error);
/* Shell (keyfile_file.c): reads a whole file; errors name the path
 * (KEYFILE_ERROR_PARSE). Cores take the bytes, never the path. */
bool keyfile_read_file(const char *path, char **data, gsize *len, GError **error);
keyfile_t *keyfile_load_file(const char *path, GError **error);
void keyfile_free(keyfile_t *kf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(keyfile_t, keyfile_free)

const char *keyfile_origin(const keyfile_t *kf);
gchar **keyfile_groups(const keyfile_t *kf, gsize *length);
gchar **keyfile_keys(const keyfile_t *kf, const char *group, gsize *length);
bool keyfile_has_group(const keyfile_t *kf, const char *group);
/* The value with an inline comment and surrounding blanks removed; NULL if absent. */
char *keyfile_get(const keyfile_t *kf, const char *group, const char *key);
/* 1-based line of the key in its group; 0 if unknown. */
int keyfile_line(const keyfile_t *kf, const char *group, const char *key);

/* "FILE:LINE: [group] key = value: WHY" with the caller's reason, for errors. */
void keyfile_set_error(GError **error, const keyfile_t *kf, const char *group, const char *key,
                       const char *value, const char *fmt, ...) G_GNUC_PRINTF(6, 7);
