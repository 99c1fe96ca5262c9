/* The rendezvous and relay core of `natlab server`: agents register (the
 * server learns the endpoint each one's NAT maps it to), ask for a peer by
 * name, and both sides receive a session (id, key, role) and the other's
 * endpoints; RELAY messages of an active session are forwarded between its
 * two members. Pure: datagrams and `now` in, datagrams out; the key material
 * comes from the seeded rng passed at creation (the shell seeds it from
 * /dev/urandom, tests from a constant).
 *
 * No open relay and no amplification: a RELAY is forwarded only when its
 * session is active, the sender is the registered endpoint of one of its two
 * members, and the session's budget (packets and bytes per second, a token
 * bucket) allows; the forwarded datagram is never larger than the one
 * received. Everything else is dropped and counted. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentmsg.h"
#include "common/duration.h"
#include "common/rng.h"

typedef struct rendezvous_config {
    const uint8_t *secret; /* NULL/0: no authentication of agents (a closed lab) */
    size_t secret_len;
    usec_t registration_lifetime; /* a registration not refreshed for this long is gone; default 90s */
    usec_t session_idle;          /* a session without relayed traffic or re-CONNECT; default 10min */
    uint32_t relay_packets_per_s; /* per session; default 1000 */
    uint32_t relay_bytes_per_s;   /* per session; default 1 MB/s */
    unsigned max_registrations;   /* default 4096 */
} rendezvous_config_t;

enum rendezvous_drop {
    RENDEZVOUS_DROP_MALFORMED,      /* agentmsg_read failed other than auth */
    RENDEZVOUS_DROP_AUTH,           /* wrong tag */
    RENDEZVOUS_DROP_REPLAY,         /* a counter seen before from that agent */
    RENDEZVOUS_DROP_UNEXPECTED,     /* a type the server does not take */
    RENDEZVOUS_DROP_NOT_REGISTERED, /* CONNECT or RELAY from an unknown endpoint */
    RENDEZVOUS_DROP_NO_SESSION,     /* RELAY for a session that does not exist or not the sender's */
    RENDEZVOUS_DROP_RATE,           /* over the session's relay budget */
    RENDEZVOUS_DROP_FULL,           /* max_registrations reached */
    RENDEZVOUS_DROP_COUNT,
};

typedef struct rendezvous_stats {
    uint64_t registrations, connects, sessions, relayed_packets, relayed_bytes, errors_sent;
    uint64_t dropped[RENDEZVOUS_DROP_COUNT];
} rendezvous_stats_t;

/* One datagram to send: from the socket the request arrived on (replies) or
 * the primary socket (relay, PEER to the other side). */
typedef struct rendezvous_out {
    addr_endpoint_t to;
    size_t len;
    uint8_t data[AGENTMSG_MAX_SIZE];
} rendezvous_out_t;

#define RENDEZVOUS_OUT_MAX 2 /* PEER goes to both members */

typedef struct rendezvous rendezvous_t;

rendezvous_t *rendezvous_new(const rendezvous_config_t *config, uint64_t seed);
void rendezvous_free(rendezvous_t *r);

/* One datagram (agentmsg_claims() true) from `from`; returns how many of
 * out[0 .. RENDEZVOUS_OUT_MAX) to send. */
unsigned rendezvous_handle(rendezvous_t *r, addr_endpoint_t from, const uint8_t *data, size_t len,
                           usec_t now, rendezvous_out_t out[RENDEZVOUS_OUT_MAX]);
/* Forget expired registrations and sessions; returns the next deadline. */
usec_t rendezvous_expire(rendezvous_t *r, usec_t now);

const rendezvous_stats_t *rendezvous_stats(const rendezvous_t *r);
const char *rendezvous_drop_name(enum rendezvous_drop d);
