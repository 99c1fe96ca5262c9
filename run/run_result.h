/* One attempt's result: built from the agents' JSON events (docs/agent.md)
 * into the one results.jsonl row (common/result.h). Pure: lines in, a row
 * out. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#include "common/result.h"


/* What the connecting agent said so far, beside the row it fills. */
typedef struct run_events {
    bool registered, done, agent_failed;
    char *last_event; /* NULL before the first */
} run_events_t;

void run_events_clear(run_events_t *events);

/* One stdout line of the connecting agent. Lines that are no JSON object
 * are ignored (false); so are events this runner does not use. */
bool run_result_feed(result_t *result, run_events_t *events, const char *line);
/* One stdout line of the listening agent: true when it is `registered`. */
bool run_result_listener_registered(const char *line);
/* The connecting agent has ended: exit status as waitpid reports it, or
 * `runner_error` when the runner stopped it (deadline, missing events). Sets
 * outcome, path, technique and error. */
void run_result_finish(result_t *result, const run_events_t *events, int wait_status,
                       const char *runner_error);
