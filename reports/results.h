/* results.jsonl (docs/agent.md): one attempt per line, from one or several
 * files (shards run elsewhere), merged into one list. Every malformed line is
 * an error naming FILE:LINE and what is wrong; nothing is skipped. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define RESULTS_ERROR (results_error_quark())
GQuark results_error_quark(void);
enum { RESULTS_ERROR_READ, RESULTS_ERROR_PARSE, RESULTS_ERROR_DUPLICATE };

typedef enum result_outcome {
    RESULT_DIRECT,
    RESULT_RELAYED,
    RESULT_FAILED,
    RESULT_N_OUTCOMES
} result_outcome_t;

typedef struct result_attempt {
    char *scenario;
    char *pair;      /* as written, or "nat_a/nat_b" */
    char *nat_a;     /* "public" for a host without a NAT */
    char *nat_b;
    bool easy_a;     /* endpoint-independent mapping, or no translation */
    bool easy_b;
    result_outcome_t outcome;
    char *technique; /* "none" unless direct */
    double time_to_direct_ms;     /* NAN when never direct */
    double time_to_first_byte_ms; /* NAN when unknown */
    int64_t attempt; /* -1 when absent */
    int64_t seed;    /* -1 when absent */
    char *pcap;      /* relative to dir, as written; NULL */
    char *error;     /* the runner's words for a failure; NULL */
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
/* PATH is a results.jsonl, or a directory holding one. */
bool results_add_path(results_t *r, const char *path, GError **error);

const char *result_outcome_name(result_outcome_t o);
/* "easy" side of a pair: no profile (public host), no translation (open,
 * firewall), or endpoint-independent mapping. Sets *easy; false with *why
 * (static text) when the profile says neither. */
bool results_profile_is_easy(const char *type, const char *mapping, bool *easy, const char **why);
