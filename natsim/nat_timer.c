#include "nat_timer.h"

#include <glib.h>

void nat_timer_init(nat_timer_t *timer)
{
    timer->heap = NULL;
    timer->len = timer->cap = 0;
}

void nat_timer_destroy(nat_timer_t *timer)
{
    g_free(timer->heap);
    nat_timer_init(timer);
}

void nat_timer_clear(nat_timer_t *timer)
{
    timer->len = 0;
}

static inline void place(nat_timer_t *timer, nat_table_t *table, uint32_t pos, nat_timer_entry_t e)
{
    timer->heap[pos] = e;
    table->slab[e.mapping].heap_pos = pos;
}

static void sift_up(nat_timer_t *timer, nat_table_t *table, uint32_t pos)
{
    nat_timer_entry_t e = timer->heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (timer->heap[parent].deadline <= e.deadline)
            break;
        place(timer, table, pos, timer->heap[parent]);
        pos = parent;
    }
    place(timer, table, pos, e);
}

static void sift_down(nat_timer_t *timer, nat_table_t *table, uint32_t pos)
{
    nat_timer_entry_t e = timer->heap[pos];
    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= timer->len)
            break;
        if (child + 1 < timer->len && timer->heap[child + 1].deadline < timer->heap[child].deadline)
            child++;
        if (e.deadline <= timer->heap[child].deadline)
            break;
        place(timer, table, pos, timer->heap[child]);
        pos = child;
    }
    place(timer, table, pos, e);
}

void nat_timer_set(nat_timer_t *timer, nat_table_t *table, uint32_t idx, usec_t deadline)
{
    uint32_t pos = table->slab[idx].heap_pos;
    if (pos == NAT_TABLE_NIL) {
        if (timer->len == timer->cap) {
            timer->cap = timer->cap ? timer->cap * 2 : 64;
            timer->heap = g_renew(nat_timer_entry_t, timer->heap, timer->cap);
        }
        pos = timer->len++;
        timer->heap[pos] = (nat_timer_entry_t){ deadline, idx };
        sift_up(timer, table, pos);
        return;
    }
    usec_t old = timer->heap[pos].deadline;
    timer->heap[pos].deadline = deadline;
    if (deadline < old)
        sift_up(timer, table, pos);
    else
        sift_down(timer, table, pos);
}

void nat_timer_cancel(nat_timer_t *timer, nat_table_t *table, uint32_t idx)
{
    uint32_t pos = table->slab[idx].heap_pos;
    if (pos == NAT_TABLE_NIL)
        return;
    table->slab[idx].heap_pos = NAT_TABLE_NIL;
    timer->len--;
    if (pos == timer->len)
        return;
    nat_timer_entry_t last = timer->heap[timer->len];
    usec_t removed = timer->heap[pos].deadline;
    place(timer, table, pos, last);
    if (last.deadline < removed)
        sift_up(timer, table, pos);
    else
        sift_down(timer, table, pos);
}
