/* natlab matrix: every pair of the chosen presets as a generated scenario
 * whose [expect] is the first-principles prediction (run_predict). Pure:
 * preset names in, scenario text out; the runner loads the text like a file. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "run_predict.h"
#include "run_spec.h"

/* The translating presets, in the order of the matrix. */
extern const char *const run_matrix_default_nats[];

/* "a,b,c" -> preset names (checked, no duplicates); NULL with *why. */
char **run_matrix_parse_nats(const char *list, char **why);

/* The pairs of n presets, each unordered pair once, self pairs included:
 * n (n + 1) / 2 of them. */
unsigned run_matrix_pairs(unsigned n);

typedef struct run_matrix_options {
    unsigned repeat;
    uint64_t seed;             /* each pair's seed derives from it */
    const char *agent_keys;    /* extra [agent] lines, e.g. "punch-timeout = 5s\n"; NULL */
    run_predict_agent_t agent; /* what the agents may use, for the prediction */
    const char *kind_name;     /* another agent kind: its name (in scenario names); NULL: natlab */
    const char *kind_ref;      /* and how [agent] kind names it (name or absolute path) */
    run_turn_t turn;           /* `natlab matrix --turn`: [agent] turn of natlab's pairs */
} run_matrix_options_t;

/* The scenario of pair `index` (0-based, row by row over the upper triangle
 * of `nats`): NATs "a" and "b", hosts alice (connects, behind a) and bob
 * (listens, behind b), the predicted expectation, and the reasoning as
 * its description. Another kind's pairs are named mx-KIND-A-B and say
 * `[agent] kind` (and no turn: a kind's file says which servers it uses). NULL with *why if a name is no preset. */
char *run_matrix_scenario_text(char *const *nats, unsigned index,
                               const run_matrix_options_t *options, char **why);
