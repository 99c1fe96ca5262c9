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
    /* Another kind's peer (docs/agents.md): its result line was seen; what
     * was wrong with it, NULL if nothing. */
    bool reported;
    char *malformed;
} run_events_t;

void run_events_clear(run_events_t *events);

/* One stdout line of the connecting agent. Lines that are no JSON object
 * are ignored (false); so are events this runner does not use. */
bool run_result_feed(result_t *result, run_events_t *events, const char *line);
/* One stdout line of another kind's connecting peer (docs/agents.md): true
 * for its result line, the first JSON object with "outcome" (later ones are
 * ignored); checked, and filled into the row. Every other line: false. */
bool run_result_feed_kind(result_t *result, run_events_t *events, const char *line);
/* The peer has ended (wait status), or the runner stopped it: `runner_error`
 * (no result by the deadline), or `stopped_after_result` (it lingered after
 * its result and was stopped: not its fault). */
void run_result_finish_kind(result_t *result, const run_events_t *events, int wait_status,
                            const char *runner_error, bool stopped_after_result);

/* One stdout line of the listening agent: true when it is `registered`. */
bool run_result_listener_registered(const char *line);
/* The connecting agent has ended: exit status as waitpid reports it, or
 * `runner_error` when the runner stopped it (deadline, missing events). Sets
 * outcome, path, technique and error. */
void run_result_finish(result_t *result, const run_events_t *events, int wait_status,
                       const char *runner_error);
