/* JUnit XML for CI dashboards: one <testcase> per scenario, a <failure> that
 * lists its failed expectations one per line, an <error> when the scenario
 * could not run at all. Pure: text out. */
#pragma once
#include <glib.h>
#include <stdbool.h>

typedef struct run_junit_case {
    const char *name;      /* the scenario */
    double seconds;
    const char *error;     /* could not run (topology, server); NULL */
    GPtrArray *verdicts;   /* run_verdict_t * (run_expect.h) */
    const char *summary;   /* attempts and outcomes, for <system-out> */
} run_junit_case_t;

char *run_junit_text(const char *suite, const run_junit_case_t *cases, size_t n, double seconds);
