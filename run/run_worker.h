/* One scenario in a process of its own (shell): its topology (once, or once
 * per attempt when events change a NAT for good), the server, the attempts
 * one after another with the NATs flushed between them, and the topology
 * removed on every way out. Reports to the parent as JSON lines on a pipe:
 *   {"type": "row", "row": {...}}        an attempt's results.jsonl row
 *   {"type": "error", "message": "..."}  the scenario could not run */
#pragma once
#include <signal.h>

#include "run_result.h"
#include "run_spec.h"

typedef struct run_worker_env {
    const char *natlab_exe; /* this binary, for the server */
    const char *agent_exe;  /* the agents' binary (NATLAB_AGENT_EXE or this one) */
    const char *nat_exe;    /* NATLAB_NAT_EXE; NULL: this one */
    const char *out_dir;    /* logs in OUT/logs/SCENARIO/, captures in OUT/pcap/SCENARIO/ */
    const char *run_id;     /* distinct per parallel scenario */
    int report_fd;
    volatile sig_atomic_t *interrupted;
} run_worker_env_t;

/* The exit status for the worker process: 0 when every attempt ran. */
int run_worker(run_spec_t *spec, const run_worker_env_t *env);
/* The same in sim mode: every attempt in memory (run_simworker), rows to
 * env->report_fd. */
int run_worker_sim(const run_spec_t *spec, const run_worker_env_t *env);

/* The pipe to the parent, for the sim worker too: one row, or why the
 * scenario could not run. */
void run_worker_report_row(const run_worker_env_t *env, const result_t *result);
void run_worker_report_error(const run_worker_env_t *env, const char *message);
/* The row's scenario, NATs (names and profiles), pair, expectation, pcap. */
void run_worker_fill_row(const run_spec_t *spec, result_t *result);

/* The scenario's NAT in front of a host: its index, or -1 for a public host. */
int run_worker_nat_of(const run_spec_t *spec, int host);
