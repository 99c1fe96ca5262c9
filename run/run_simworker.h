/* A scenario in sim mode (`natlab run/matrix --sim`), pure: what
 * run_worker_sim runs in the process run_pool forks, every attempt in memory
 * (sim/simnet) instead of namespaces. Rows go to the parent on the same pipe,
 * so results.jsonl, verdicts, the summary and JUnit are the netns runner's.
 *
 * A row's outcome comes from the sim the way run_result derives it from the
 * agent's done event; duration_ms is virtual time; `started` is
 * RUN_SIMWORKER_EPOCH plus the scenario's virtual clock (its attempts back to
 * back), so the same seed gives the same file, byte for byte. */
#pragma once
#include <stdint.h>

#include "run_result.h"
#include "sim/simnet.h"
#include "run_spec.h"

#define RUN_SIMWORKER_EPOCH "2000-01-01T00:00:00Z"

/* NULL when sim mode can express the scenario: two agents, each behind at
 * most one NAT (or both behind one), NATs without impairments, no other
 * programs, events reboot/flush/change-ip/set. Otherwise "FILE:LINE: [group]
 * key = value: what the sim cannot express" (g_free it). */
char *run_simworker_check(const run_spec_t *spec);

/* One attempt (pure): the row without run_worker_fill_row's columns.
 * *clock: the scenario's virtual time before it (µs), advanced past it. */
result_t *run_simworker_attempt(const run_spec_t *spec, unsigned attempt, uint64_t seed,
                                    usec_t *clock);

/* The sim result as the agent's done event and the runner see it: outcome,
 * path, technique, times, counts, error. */
void run_simworker_result(const simnet_result_t *sim, const run_spec_t *spec, result_t *row);
