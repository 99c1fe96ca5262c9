/* --shard K/N: which scenarios this run takes. Whole scenarios, never parts
 * of one, so that each shard judges its expectations alone (a success rate
 * needs every attempt); round-robin by position, so shards stay balanced
 * when neighbouring scenarios cost alike (the matrix). Pure. */
#pragma once
#include <stdbool.h>

typedef struct run_shard {
    unsigned k, n; /* 1 <= k <= n */
} run_shard_t;

#define RUN_SHARD_ALL ((run_shard_t){ 1, 1 })

/* "K/N"; false on anything else (K from 1 to N, N from 1 to 10000). */
bool run_shard_parse(const char *text, run_shard_t *out);
/* Whether the scenario at `index` (0-based, in command-line order) is ours. */
bool run_shard_takes(run_shard_t shard, unsigned index);
