/* Datagrams in flight on a virtual clock (sim mode): released in order of
 * arrival time, ties in the order they were sent, so a run is the same for
 * the same seed. What a hop does with a datagram is the caller's: `hop` and
 * `nat` say where it is on its way. */
#pragma once
#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/duration.h"

#define SIMQUEUE_DATAGRAM_MAX 1500

typedef struct simqueue_packet {
    usec_t at;
    uint64_t seq;
    int hop, nat;
    addr_endpoint_t src, dst;
    size_t len;
    uint8_t data[SIMQUEUE_DATAGRAM_MAX];
} simqueue_packet_t;

typedef struct simqueue {
    GQueue queue;
    uint64_t sent; /* datagrams pushed so far */
} simqueue_t;

void simqueue_init(simqueue_t *q);
void simqueue_clear(simqueue_t *q);
/* A copy of data (at most SIMQUEUE_DATAGRAM_MAX bytes) arrives at `at`. */
void simqueue_push(simqueue_t *q, usec_t at, int hop, int nat, addr_endpoint_t src,
                   addr_endpoint_t dst, const uint8_t *data, size_t len);
/* The next datagram's arrival time; false when none is in flight. */
bool simqueue_next(const simqueue_t *q, usec_t *at);
/* The next datagram if it has arrived by `now` (the caller g_free()s it), else NULL. */
simqueue_packet_t *simqueue_pop_due(simqueue_t *q, usec_t now);
