#include "simqueue.h"

#include <string.h>

static gint packet_cmp(gconstpointer a, gconstpointer b, gpointer unused)
{
    const simqueue_packet_t *x = a, *y = b;
    (void)unused;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void simqueue_init(simqueue_t *q)
{
    g_queue_init(&q->queue);
    q->sent = 0;
}

void simqueue_clear(simqueue_t *q)
{
    g_queue_clear_full(&q->queue, g_free);
}

void simqueue_push(simqueue_t *q, usec_t at, int hop, int nat, addr_endpoint_t src,
                   addr_endpoint_t dst, const uint8_t *data, size_t len)
{
    g_assert(len <= SIMQUEUE_DATAGRAM_MAX);
    simqueue_packet_t *p = g_new(simqueue_packet_t, 1);
    p->at = at;
    p->seq = q->sent++;
    p->hop = hop;
    p->nat = nat;
    p->src = src;
    p->dst = dst;
    p->len = len;
    memcpy(p->data, data, len);
    g_queue_insert_sorted(&q->queue, p, packet_cmp, NULL);
}

bool simqueue_next(const simqueue_t *q, usec_t *at)
{
    const simqueue_packet_t *head = g_queue_peek_head((GQueue *)&q->queue);
    if (!head)
        return false;
    *at = head->at;
    return true;
}

simqueue_packet_t *simqueue_pop_due(simqueue_t *q, usec_t now)
{
    const simqueue_packet_t *head = g_queue_peek_head(&q->queue);
    return head && head->at <= now ? g_queue_pop_head(&q->queue) : NULL;
}
