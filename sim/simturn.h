/* A TURN server for sim mode (RFC 8656 over UDP, the parts natlab's client
 * uses): Allocate behind the long-term credential challenge (one realm,
 * one user, a fixed nonce), Refresh, CreatePermission, ChannelBind, Send
 * indications and ChannelData out, Data indications and ChannelData in,
 * permissions checked both ways. Relayed addresses are ports of the
 * server's own address, so two allocations relay to each other through
 * it. Pure: datagrams and `now` in, datagrams out. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/duration.h"

#define SIMTURN_RELAY_PORT_MIN 49152

typedef struct simturn simturn_t;

typedef struct simturn_config {
    addr_endpoint_t server;
    const char *username, *password, *realm;
} simturn_config_t;

/* One datagram to send: from src (the server or a relayed address) to dst. */
typedef struct simturn_out {
    addr_endpoint_t src, dst;
    size_t len;
    uint8_t data[1600];
} simturn_out_t;

typedef struct simturn_stats {
    uint64_t allocations, refused;        /* allocations made; requests with a bad key */
    uint64_t relayed_out, relayed_in;     /* datagrams to peers; from peers to clients */
    uint64_t denied;                      /* from or to a peer without a permission */
} simturn_stats_t;

simturn_t *simturn_new(const simturn_config_t *config);
void simturn_free(simturn_t *t);

/* A datagram from `from` to `to` (the server's address, or a relayed
 * address on it); appends what it causes to `out` (simturn_out_t). */
void simturn_handle(simturn_t *t, addr_endpoint_t from, addr_endpoint_t to, const uint8_t *data,
                    size_t len, usec_t now, GArray *out);
/* The server's address or one of its relayed addresses. */
bool simturn_owns(const simturn_t *t, uint32_t ip);
const simturn_stats_t *simturn_stats(const simturn_t *t);
