/* A TURN client (RFC 8656) over UDP or TCP to the server: an allocation
 * with long-term credentials (RFC 8489 9.2: the 401 challenge, 438 stale
 * nonces), its refreshes, permissions and channel bindings for the peers it
 * talks to, data both ways (Send/Data indications until a channel is bound,
 * ChannelData after). Pure: bytes from the server and `now` in, bytes to
 * the server and peers' data out; transaction ids from the seed. A server
 * that lies (no usable XOR-RELAYED-ADDRESS, another realm, a 401 after
 * authenticating, stale nonces without end, no answer) ends in
 * TURN_FAILED with a reason, never a loop. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/duration.h"

#define TURN_LIFETIME_DEFAULT 600      /* seconds asked for (RFC 8656 7.2: 10 min) */
#define TURN_PERMISSION_REFRESH (240 * USEC_PER_SEC) /* permissions last 300 s (9) */
#define TURN_CHANNEL_REFRESH (540 * USEC_PER_SEC)    /* bindings last 600 s (12) */
#define TURN_RTO (500 * USEC_PER_MSEC)  /* first retransmission over UDP (RFC 8489 6.2.1) */
#define TURN_UDP_TRIES 5                /* then it gives up: 15.5 s */
#define TURN_TCP_TIMEOUT (10 * USEC_PER_SEC)
#define TURN_STALE_NONCE_MAX 3          /* 438s in a row for one request */
#define TURN_KEEPALIVE (15 * USEC_PER_SEC) /* UDP: a Binding indication after this much silence
                                              (RFC 8656 3.7 suggests 15 s) */

typedef enum turn_state { TURN_ALLOCATING, TURN_READY, TURN_FAILED, TURN_CLOSED } turn_state_t;

typedef struct turn_config {
    addr_endpoint_t server;
    const char *username, *password;
    const char *realm;    /* the realm expected; NULL: take the server's */
    bool tcp;             /* a stream to the server (RFC 8656 3.1) */
    uint64_t seed;
    uint32_t lifetime_s;  /* 0: TURN_LIFETIME_DEFAULT */
} turn_config_t;

typedef struct turn turn_t;

turn_t *turn_new(const turn_config_t *config, usec_t now);
void turn_free(turn_t *turn);

/* Bytes from the server: one datagram over UDP, the stream's next bytes
 * over TCP (messages may be split or joined anyhow). */
void turn_receive(turn_t *turn, const uint8_t *data, size_t len, usec_t now);
/* Data to a peer through the relay. Permission and channel are made on
 * the way; data waits (up to a bound) until the permission is there.
 * False when the allocation is not usable or the queue is full. */
bool turn_send(turn_t *turn, addr_endpoint_t peer, const uint8_t *data, size_t len, usec_t now);
/* A permission for the peer's address before any data (its packets to the
 * relayed address are dropped by the server until there is one). */
void turn_permit(turn_t *turn, uint32_t peer_ip, usec_t now);
/* A Refresh now, not at half the lifetime: is the allocation still ours?
 * (After a NAT reboot the server sees another 5-tuple and answers 437
 * Allocation Mismatch, RFC 8656 7.2: TURN_FAILED.) */
void turn_refresh(turn_t *turn, usec_t now);
/* Deallocates (a Refresh with lifetime 0). */
void turn_close(turn_t *turn, usec_t now);

/* The next bytes for the server; false when there are none. */
bool turn_pop_output(turn_t *turn, uint8_t *buf, size_t cap, size_t *len);
/* The next data a peer sent to our relayed address. */
bool turn_pop_data(turn_t *turn, addr_endpoint_t *peer, uint8_t *buf, size_t cap, size_t *len);
/* Retransmissions and refreshes due by `now`; when to call again. */
usec_t turn_bookkeeping(turn_t *turn, usec_t now);

turn_state_t turn_state(const turn_t *turn);
const char *turn_error(const turn_t *turn);  /* why TURN_FAILED; NULL otherwise */
addr_endpoint_t turn_relayed(const turn_t *turn); /* the relayed transport address */
addr_endpoint_t turn_mapped(const turn_t *turn);  /* our address as the server saw it */
const char *turn_realm(const turn_t *turn);
/* Responses dropped: wrong transaction, bad MESSAGE-INTEGRITY, malformed. */
unsigned turn_dropped(const turn_t *turn);
