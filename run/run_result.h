/* One attempt's result: built from the agents' JSON events (docs/agent.md),
 * written as one results.jsonl row, read back for expectations and reports.
 * Pure: lines in, a struct and JSON out. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum run_outcome {
    RUN_OUTCOME_DIRECT,  /* data delivered, the final path direct or LAN */
    RUN_OUTCOME_RELAYED, /* data delivered, the final path the relay */
    RUN_OUTCOME_FAILED,  /* data not delivered, the agent failed, or the runner gave up */
} run_outcome_t;

const char *run_outcome_name(run_outcome_t outcome);
bool run_outcome_parse(const char *text, run_outcome_t *out);

typedef struct run_result {
    char *scenario;
    unsigned attempt; /* 1-based */
    uint64_t seed;
    char *pair;             /* "NAT_A/NAT_B" */
    char *nat_a, *nat_b;    /* preset or profile name; NULL: a public host */
    JsonNode *profile_a, *profile_b; /* NULL: a public host */
    char *expected;         /* the scenario's outcome expectation */
    run_outcome_t outcome;
    char *path;             /* direct, lan, relay or none */
    char *technique;        /* as in the direct event; "none" unless direct */
    double time_to_first_byte_ms, time_to_direct_ms; /* NAN: never */
    int64_t probes_sent, path_changes, sent, delivered;
    char *started;          /* ISO 8601, UTC */
    double duration_ms;
    char *pcap;             /* relative to the results file; NULL */
    char *error;            /* why it failed; NULL */

    /* While events come in. */
    bool registered, done, agent_failed;
    char *last_event;
} run_result_t;

run_result_t *run_result_new(void);
void run_result_free(run_result_t *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(run_result_t, run_result_free)

/* One stdout line of the connecting agent. Lines that are no JSON object
 * are ignored (false); so are events this runner does not use. */
bool run_result_feed(run_result_t *result, const char *line);
/* One stdout line of the listening agent: true when it is `registered`. */
bool run_result_listener_registered(const char *line);
/* The connecting agent has ended: exit status as waitpid reports it, or
 * `runner_error` when the runner stopped it (deadline, missing events). Sets
 * outcome, path, technique and error. */
void run_result_finish(run_result_t *result, int wait_status, const char *runner_error);

/* The results.jsonl row (docs/agent.md), and back. */
JsonNode *run_result_to_json(const run_result_t *result);
char *run_result_to_line(const run_result_t *result);
run_result_t *run_result_from_json(JsonNode *row, GError **error);
