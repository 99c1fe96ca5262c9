/* natlab bench engine: the NAT engine's speed and memory at scale. A
 * benchmark measures and returns figures; it asserts nothing (goals live in
 * BENCHMARKS.md). */
#pragma once
#include <json-glib/json-glib.h>
#include <stdint.h>

/* Public addresses of the benchmarked NAT: mappings are at most 60,000 each. */
#define BENCH_PUBLIC_IPS 32

/* n mappings, `lookups` lookups in random order, expiry in three batches:
 * a JSON object of figures (inserts_per_s, lookups_per_s, bytes_per_mapping,
 * the reference GHashTable, expiry costs); NULL with *error if the engine
 * refuses a mapping or misses a lookup. */
JsonNode *bench_engine_run(uint32_t n, uint32_t lookups, uint64_t seed, GError **error);
