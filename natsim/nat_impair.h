/* Link impairments for one direction of a NAT: latency, jitter, loss and
 * reordering, done by natsim itself because the kernel has no netem. A pure
 * core: the shell passes `now` (monotonic microseconds) in, asks for a
 * verdict per packet, parks held packets (nfqueue ids, sim-mode buffers) in
 * the queue below and releases what is due when its timer fires.
 *
 * Decisions, per packet, in this order:
 *   1. loss:    dropped with probability `loss`;
 *   2. delay:   latency + a uniform integer offset in [-jitter, +jitter],
 *               clamped at 0;
 *   3. reorder: with probability `reorder` the packet is held back by an
 *               extra latency + jitter + 1 ms (NAT_IMPAIR_REORDER_GAP), more
 *               than any ordinary packet waits, so every packet arriving
 *               within 1 ms after it (often longer) overtakes it;
 *   4. order:   every other packet leaves in arrival order: its release time
 *               is never earlier than the previous ordinary packet's, even
 *               when jitter drew a shorter delay. Jitter thus stretches gaps
 *               but never reorders; reordering happens only when asked for.
 *               This is what a real link does (one queue, variable service
 *               time) and keeps jitter and reorder independent knobs.
 *               Reordered packets do not move this floor.
 * Same seed and same calls give the same decisions. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/duration.h"
#include "nat_profile.h"

#define NAT_IMPAIR_NEVER INT64_MAX
#define NAT_IMPAIR_REORDER_GAP USEC_PER_MSEC
#define NAT_IMPAIR_DELAY_MAX USEC_PER_HOUR /* latency and jitter are clamped to it */
/* Held packets stay in the kernel's nfqueue until their verdict and count
 * against its maxlen (1024 by default), so the default stays within it. */
#define NAT_IMPAIR_DEFAULT_CAPACITY 1024

typedef enum nat_impair_verdict {
    NAT_IMPAIR_DROP,     /* lost: give the packet an NF_DROP verdict */
    NAT_IMPAIR_PASS_NOW, /* forward at once; *release_at == now */
    NAT_IMPAIR_HOLD,     /* push it and release it at *release_at (> now) */
} nat_impair_verdict_t;

const char *nat_impair_verdict_name(nat_impair_verdict_t verdict);

typedef struct nat_impair_stats {
    uint64_t passed;           /* PASS_NOW verdicts */
    uint64_t dropped_loss;     /* DROP verdicts */
    uint64_t held;             /* HOLD verdicts */
    uint64_t reordered;        /* HOLD verdicts that were held back to be overtaken */
    uint64_t dropped_overflow; /* pushes refused because the queue was full */
    uint64_t released;         /* handles returned by nat_impair_pop_due */
} nat_impair_stats_t;

typedef struct nat_impair nat_impair_t;

/* cfg NULL: no impairment. Out-of-range values are clamped (durations into
 * [0, NAT_IMPAIR_DELAY_MAX], probabilities into [0, 1], NaN to 0). */
nat_impair_t *nat_impair_new(const nat_impairment_t *cfg, uint64_t seed);
/* Held handles are forgotten, not released: drain with pop_due first. */
void nat_impair_free(nat_impair_t *imp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(nat_impair_t, nat_impair_free)

/* Replaces the configuration from the next decision on; held packets keep
 * their release times and the arrival-order floor stays. */
void nat_impair_set(nat_impair_t *imp, const nat_impairment_t *cfg);
const nat_impairment_t *nat_impair_config(const nat_impair_t *imp);

/* The verdict for one packet arriving at `now`. *release_at is set to now
 * for PASS_NOW and DROP, to the release time for HOLD. */
nat_impair_verdict_t nat_impair_decide(nat_impair_t *imp, usec_t now, usec_t *release_at);

/* The held-packet queue: handles come back in release order, packets due at
 * the same time in push order. The handle is opaque (NULL is fine). */

/* Queues a handle; false when the queue is at capacity: the packet is then
 * counted in dropped_overflow and the caller must drop it. */
bool nat_impair_push(nat_impair_t *imp, usec_t release_at, void *handle);
/* Takes the earliest handle due at `now` (release_at <= now); false when none
 * is due. Call until false. pop_due(imp, NAT_IMPAIR_NEVER, ...) drains all. */
bool nat_impair_pop_due(nat_impair_t *imp, usec_t now, void **handle);
/* When the earliest held packet is due; NAT_IMPAIR_NEVER when empty. */
usec_t nat_impair_next_deadline(const nat_impair_t *imp);
size_t nat_impair_count(const nat_impair_t *imp);
/* The most handles held at once (NAT_IMPAIR_DEFAULT_CAPACITY at first).
 * Lowering it below the current count refuses pushes until the queue
 * drains below it; nothing held is dropped. */
void nat_impair_set_capacity(nat_impair_t *imp, size_t capacity);
size_t nat_impair_capacity(const nat_impair_t *imp);

const nat_impair_stats_t *nat_impair_stats(const nat_impair_t *imp);
