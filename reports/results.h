/* results.jsonl (docs/agent.md): one attempt per line, from one or several
 * files (shards run elsewhere), merged into one list. Every malformed line is
 * an error naming FILE:LINE and what is wrong; nothing is skipped. Rows are
 * common/result.h's; this adds where each came from. Pure: text in. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#include "common/result.h"

#define RESULTS_ERROR (results_error_quark())
GQuark results_error_quark(void);
enum { RESULTS_ERROR_READ, RESULTS_ERROR_DUPLICATE };

typedef struct result_attempt {
    result_t *row;
    const char *origin; /* the file (owned by the results) */
    const char *dir;    /* its directory */
    int line;
    /* Filled by the report's shell: a link from the output directory. */
    char *pcap_href;
    bool pcap_present;
} result_attempt_t;

typedef struct results {
    GPtrArray *attempts; /* result_attempt_t */
    GPtrArray *origins;  /* char *, one per text added: the file names */
    GPtrArray *dirs;     /* char *, the directory of each */
    GHashTable *seen;    /* identity of an attempt -> "FILE:LINE" */
} results_t;

results_t *results_new(void);
void results_free(results_t *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(results_t, results_free)

/* Adds the lines of one file's text; origin names it in errors, dir is where
 * its pcap paths are relative to. On error nothing of this text is kept. */
bool results_add_data(results_t *r, const char *data, size_t len, const char *origin,
                      const char *dir, GError **error);
/* PATH is a results.jsonl, or a directory holding one (results_file.c). */
bool results_add_path(results_t *r, const char *path, GError **error);
