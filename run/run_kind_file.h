/* The shell half of run_kind: where the built-in kinds live, reading kind
 * files, and running a kind's `check` and `version` commands. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#include "run_kind.h"

/* $NATLAB_KINDS_DIR, else the source tree's kinds/. */
const char *run_kind_dir(void);
/* The directory of the running natlab binary (NATLAB_BIN_DIR for peers). */
char *run_kind_bin_dir(void);
/* "natlab" and the names of kinds/ *.kind, sorted, comma separated. */
char *run_kind_builtin_names(void);
/* A kind by name (built in) or by path (relative to `base_dir`). NULL for
 * natlab. Errors: no such kind (with the list), or the file's own errors. */
run_kind_t *run_kind_find(const char *ref, const char *base_dir, GError **error);
/* Runs `check` (or `version`) in the kind's directory; false with *why
 * ("agent kind X is not installed (`CHECK` failed: ...): install with: ...").
 * natlab (NULL) is always installed. */
bool run_kind_installed(const run_kind_t *kind, char **why);
/* The first line `version` prints; NULL when there is no version command or
 * it fails. */
char *run_kind_version(const run_kind_t *kind);
/* The environment a kind's commands run with: this one plus NATLAB_KIND,
 * NATLAB_KIND_DIR and NATLAB_BIN_DIR. */
char **run_kind_environ(const run_kind_t *kind);
