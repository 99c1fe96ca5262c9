/* Seeded pseudo-random generator passed into every core that needs chance.
 * xoshiro256** seeded through splitmix64: fast, and the same seed gives the
 * same sequence on every machine, which is what makes runs replayable. */
#pragma once
#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng_t;

void rng_seed(rng_t *rng, uint64_t seed);
uint64_t rng_next(rng_t *rng);
/* Uniform in [0, bound); bound 0 yields 0. Unbiased (Lemire's method). */
uint32_t rng_below(rng_t *rng, uint32_t bound);
/* Uniform in [0, 1). */
double rng_unit(rng_t *rng);
