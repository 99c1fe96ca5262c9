/* What the terminal shows while scenarios run and after: a progress bar
 * (redrawn on a terminal), one plain line per attempt otherwise, and the
 * summary table at the end. Pure: counts and results in, text out. */
#pragma once
#include <glib.h>

#include "run_result.h"

typedef struct run_progress {
    unsigned attempts_total, attempts_done;
    unsigned direct, relayed, failed;
    unsigned scenarios_total, scenarios_done, running;
    double elapsed_s;
} run_progress_t;

/* "[########------------]  37/140 attempts  direct 30  relayed 5  failed 2
 *  scenarios 7/28 (4 running)  1:23" — no newline. */
char *run_progress_bar(const run_progress_t *progress, unsigned width);
/* "mx-fc-prc #3/5  direct (punch)  first byte 2 ms, direct 410 ms  [1.2 s]" */
char *run_progress_attempt_line(const result_t *result, unsigned repeat);
/* 83 s -> "1:23". */
char *run_progress_clock(double seconds);

typedef struct run_summary_row {
    const char *scenario;
    const char *expected; /* the outcome expected */
    result_t *const *results;
    size_t n;
    const char *verdict;  /* PASS, FAIL, ERROR, STOPPED */
} run_summary_row_t;

/* The table: scenario, expected, attempts, direct/relayed/failed, time to
 * direct p50/p95, the techniques seen, verdict. */
char *run_progress_summary(const run_summary_row_t *rows, size_t n);
