/* One attempt's result: built from the agents' JSON events (docs/agent.md)
 * into the one results.jsonl row (common/result.h). Pure: lines in, a row
 * out. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#include "common/result.h"

/* The runner's names for the row and its outcome, kept for the runner's
 * files; they are common/result.h's, not copies. */
typedef result_t run_result_t;
typedef result_outcome_t run_outcome_t;
#define RUN_OUTCOME_DIRECT RESULT_DIRECT
#define RUN_OUTCOME_RELAYED RESULT_RELAYED
#define RUN_OUTCOME_FAILED RESULT_FAILED
#define run_outcome_name result_outcome_name
#define run_result_new result_new
#define run_result_free result_free
#define run_result_to_json result_to_json
#define run_result_to_line result_to_line
G_DEFINE_AUTOPTR_CLEANUP_FUNC(run_result_t, result_free)

/* What the connecting agent said so far, beside the row it fills. */
typedef struct run_events {
    bool registered, done, agent_failed;
    char *last_event; /* NULL before the first */
} run_events_t;

void run_events_clear(run_events_t *events);

/* One stdout line of the connecting agent. Lines that are no JSON object
 * are ignored (false); so are events this runner does not use. */
bool run_result_feed(run_result_t *result, run_events_t *events, const char *line);
/* One stdout line of the listening agent: true when it is `registered`. */
bool run_result_listener_registered(const char *line);
/* The connecting agent has ended: exit status as waitpid reports it, or
 * `runner_error` when the runner stopped it (deadline, missing events). Sets
 * outcome, path, technique and error. */
void run_result_finish(run_result_t *result, const run_events_t *events, int wait_status,
                       const char *runner_error);
