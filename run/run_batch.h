/* The scenarios of one `natlab run` or `natlab matrix`, made ready for
 * run_pool: names that differ, --repeat and --seed applied, a seed for every
 * scenario that has none, this shard's share, and in sim mode only what the
 * sim can express. Pure: the shell passes the random source for seeds. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/rng.h"
#include "run_shard.h"

#define RUN_BATCH_ERROR (run_batch_error_quark())
GQuark run_batch_error_quark(void);
enum { RUN_BATCH_ERROR_NAME, RUN_BATCH_ERROR_SIM };

typedef struct run_batch_options {
    unsigned repeat; /* 0: the scenarios' own */
    uint64_t seed;
    bool seed_set;   /* --seed: every scenario runs with `seed` */
    run_shard_t shard;
    bool sim;
} run_batch_options_t;

/* `all` holds run_spec_t (not owned), in command-line order; they are
 * changed in place. Returns this shard's share (the same pointers), or NULL
 * with *error: two scenarios with one name (both files named), or one the
 * sim cannot express (run_simworker_check's FILE:LINE message). */
GPtrArray *run_batch_select(GPtrArray *all, const run_batch_options_t *options, rng_t *seeds,
                            GError **error);
