/* The parent of a run (shell): one worker process per scenario, at most
 * `jobs` at a time; their rows into OUT/results.jsonl; progress on the
 * terminal (a redrawn bar) or as plain lines; each scenario judged against
 * its expectations when its last attempt is in; the summary table and the
 * JUnit file at the end. Ctrl-C (SIGINT, SIGTERM, SIGHUP) stops the workers,
 * which remove their topologies; a worker that dies has its topology removed
 * here. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#include "run_spec.h"

typedef struct run_pool_options {
    const char *suite;      /* "run" or "matrix": JUnit suite and messages */
    const char *out_dir;
    const char *junit;      /* NULL: none */
    unsigned jobs;
    bool tty;               /* redraw a bar (stdout is a terminal) */
    bool sim;               /* attempts in memory (run_simworker), rows in scenario order */
    const char *natlab_exe;
    const char *agent_exe;
    const char *nat_exe;
} run_pool_options_t;

/* The exit status: 0 when every expectation of every scenario holds, 1 when
 * one does not or a scenario could not run, 128 + signal when interrupted. */
int run_pool(GPtrArray *specs, const run_pool_options_t *options);
