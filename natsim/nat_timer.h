/* Mapping deadlines as a binary min-heap. Each live or held mapping has
 * exactly one entry; refreshing a mapping does not touch the heap (its entry
 * fires early and is re-armed), so the per-packet path stays O(1) and expiry
 * costs O(log n) per mapping that actually comes due. */
#pragma once
#include <stdint.h>

#include "nat_table.h"

#define NAT_TIMER_NEVER INT64_MAX

typedef struct nat_timer_entry {
    usec_t deadline;
    uint32_t mapping;
} nat_timer_entry_t;

typedef struct nat_timer {
    nat_timer_entry_t *heap;
    uint32_t len, cap;
} nat_timer_t;

void nat_timer_init(nat_timer_t *timer);
void nat_timer_destroy(nat_timer_t *timer);
void nat_timer_clear(nat_timer_t *timer);
/* Arms (or moves) the mapping's entry; keeps slab[idx].heap_pos current. */
void nat_timer_set(nat_timer_t *timer, nat_table_t *table, uint32_t idx, usec_t deadline);
void nat_timer_cancel(nat_timer_t *timer, nat_table_t *table, uint32_t idx);
static inline usec_t nat_timer_next(const nat_timer_t *timer)
{
    return timer->len ? timer->heap[0].deadline : NAT_TIMER_NEVER;
}
static inline uint32_t nat_timer_top(const nat_timer_t *timer)
{
    return timer->heap[0].mapping;
}
