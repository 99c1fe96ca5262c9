/* A scenario's [expect] group: parsing each line and judging a scenario's
 * attempts against it, one line of explanation per expectation. Pure.
 *
 *   outcome = direct | relayed | failed | any     (any: direct or relayed)
 *   success-rate >= 0.95                           (or 95%; share of attempts
 *                                                   with the expected outcome)
 *   technique = predicted[, birthday ...]          (every direct attempt)
 *   METRIC[-STAT] <= VALUE  or  >= VALUE
 *     METRIC: time-to-direct, time-to-first-byte, duration (durations: 2s,
 *             500ms), probes-sent, path-changes (counts)
 *     STAT:   p50, p90, p95, p99, min, mean, max; none = every attempt (max
 *             for <=, min for >=)
 * A key file splits "success-rate >= 0.95" at '=': the key arrives as
 * "success-rate >" and the value as "0.95"; both forms are taken here.
 * Without `outcome`, attempts must deliver their data (any). Without
 * `success-rate`, every attempt must have the expected outcome. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#include "run_result.h"

typedef enum run_expect_outcome {
    RUN_EXPECT_DIRECT,
    RUN_EXPECT_RELAYED,
    RUN_EXPECT_FAILED,
    RUN_EXPECT_ANY,
} run_expect_outcome_t;

typedef struct run_expect run_expect_t;

typedef struct run_expectations {
    run_expect_outcome_t outcome;
    GPtrArray *items; /* run_expect_t *, in file order */
} run_expectations_t;

run_expectations_t *run_expectations_new(void);
void run_expectations_free(run_expectations_t *set);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(run_expectations_t, run_expectations_free)

/* Adds one line of [expect]. False with *why (what is allowed) when the key
 * or the value is not understood. */
bool run_expectations_add(run_expectations_t *set, const char *key, const char *value, char **why);
/* "success-rate >= 0.95": the line as a person wrote it. */
char *run_expect_line(const char *key, const char *value);

const char *run_expect_outcome_name(run_expect_outcome_t outcome);
bool run_expect_outcome_matches(run_expect_outcome_t expected, result_outcome_t outcome);

typedef struct run_verdict {
    bool ok;
    char *line; /* "success-rate >= 0.95: 3 of 5 attempts (60%) were direct; ..." */
} run_verdict_t;

/* One verdict per expectation (the implied outcome one included), in order. */
GPtrArray *run_expectations_judge(const run_expectations_t *set, result_t *const *results,
                                  size_t n);
void run_verdict_free(run_verdict_t *verdict);
