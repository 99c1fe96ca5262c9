/* The rendezvous and relay core of `natlab server`: agents register (the
 * server learns the endpoint each one's NAT maps it to), ask for a peer by
 * name, and both sides receive a session (id, key, role) and the other's
 * endpoints; RELAY messages of an active session are forwarded between its
 * two members. Pure: datagrams and `now` in, datagrams out; the key material
 * comes from the seeded rng passed at creation (the shell seeds it from
 * /dev/urandom, tests from a constant).
 *
 * No open relay and no amplification (the reasoning behind RFC 8656's
 * permissions, without TURN's allocations): a RELAY is forwarded only when
 * its session is active, the sender is the registered endpoint of one of
 * its two members, and the session's budget (packets and bytes per second, a
 * token bucket) allows; it goes only to the other member's registered
 * endpoint, and the forwarded datagram is never larger than the one
 * received. Everything else is dropped and counted; dropped RELAYs are never
 * answered.
 *
 * Identity: a name is held by one endpoint, an endpoint by one name. A
 * REGISTER of a known name from a new endpoint (its NAT rebooted) moves the
 * name there and sends the other member of each of its sessions a fresh PEER.
 * A REGISTER of a new name from an endpoint another name holds (a NAT that
 * reused a port) takes the endpoint; the old name keeps its sessions but
 * receives nothing until it registers again.
 *
 * Replays: one window (agentmsg_replay) per name over everything its agent
 * sends the server, so an agent's counter must keep rising across its
 * REGISTER, CONNECT and RELAY messages and across a restart within the
 * registration lifetime (start it from the wall clock in µs, not from 1).
 * Only REGISTER refreshes a registration; agents re-REGISTER every
 * keepalive. PEERs are larger than the CONNECT that causes them, but go only
 * to registered endpoints (with a secret: of agents that know it).
 *
 * Transports: the shell's UDP sockets are one transport (an agent may
 * register on one and send on another); with `first_stream_socket` set,
 * every socket index from it up is one TCP connection (common/agentframe.h
 * frames the messages) and a transport of its own. A client is its
 * endpoint *and* its transport, so a TCP client and a UDP client with the
 * same address and port are two clients; everything to a member leaves by
 * its own connection. When a connection closes (rendezvous_socket_closed)
 * its registrations are detached, as when another name takes an endpoint:
 * nothing more goes to them, and they keep their sessions until they expire
 * like UDP ones, so an agent that reconnects and re-REGISTERs within the
 * lifetime is a move (its peers get a fresh PEER), not a new session. The
 * relay forwards between transports; authentication, the replay window and
 * the session's token bucket are the same on both.
 *
 * A PEER lost on its way to the member asked for (UDP) would leave it
 * unaware of the session (the connector re-CONNECTs on its own); so the
 * server repeats the PEER of the member's newest session on its next
 * `peer_repeats` REGISTERs (its keepalives) until it shows it knows the
 * session by relaying in it (older sessions: an agent with one session at
 * a time has moved on). Agents ignore a PEER of a session they have with
 * nothing changed. PEERs go only to the REGISTER's own (authenticated)
 * source, at most `peer_repeats` per session.
 *
 * Expiry is lazy and exact: every lookup compares `now` with the deadline,
 * so rendezvous_expire() only reclaims memory and may run late. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/agentmsg.h"
#include "common/duration.h"
#include "common/rng.h"

/* Zero fields of the config take these. */
#define RENDEZVOUS_DEFAULT_LIFETIME (90 * USEC_PER_SEC)    /* 3 keepalives of 25 s and some */
#define RENDEZVOUS_DEFAULT_SESSION_IDLE (10 * USEC_PER_MIN)
#define RENDEZVOUS_DEFAULT_PACKETS_PER_S 1000
#define RENDEZVOUS_DEFAULT_BYTES_PER_S 1000000u /* a lab relay, not a bulk transport */
#define RENDEZVOUS_DEFAULT_MAX_REGISTRATIONS 4096
#define RENDEZVOUS_DEFAULT_PEER_REPEATS 3 /* keepalives of 25 s: over a minute of loss */
/* Stream socket indices run from first_stream_socket to below this past it. */
#define RENDEZVOUS_STREAM_SOCKETS_MAX 65535

/* Sessions one agent may be in at once; a CONNECT beyond it ends that
 * agent's least recently active session. Also bounds the PEER updates one
 * REGISTER can cause (RENDEZVOUS_OUT_MAX). */
#define RENDEZVOUS_SESSIONS_PER_AGENT 8

/* An ERROR answer is never larger than the request or this many bytes
 * (ERROR framing 39 + a short text), whichever is larger. */
#define RENDEZVOUS_ERROR_FLOOR 80

typedef struct rendezvous_config {
    const uint8_t *secret; /* NULL/0: no authentication of agents (a closed lab) */
    size_t secret_len;
    usec_t registration_lifetime; /* a registration not refreshed for this long is gone */
    usec_t session_idle;          /* a session without relayed traffic or re-CONNECT */
    uint32_t relay_packets_per_s; /* per session, both directions together; burst 1 s */
    uint32_t relay_bytes_per_s;   /* per session, datagram bytes; burst 1 s */
    unsigned max_registrations;
    unsigned first_stream_socket; /* 0: every socket is UDP; else sockets from it up are TCP
                                     connections, each its own transport */
    int peer_repeats;             /* 0: RENDEZVOUS_DEFAULT_PEER_REPEATS; < 0: none */
} rendezvous_config_t;

enum rendezvous_drop {
    RENDEZVOUS_DROP_MALFORMED,      /* agentmsg_read failed other than auth, or an empty name */
    RENDEZVOUS_DROP_AUTH,           /* wrong tag */
    RENDEZVOUS_DROP_REPLAY,         /* a counter seen before from that agent */
    RENDEZVOUS_DROP_UNEXPECTED,     /* a type the server does not take */
    RENDEZVOUS_DROP_NOT_REGISTERED, /* CONNECT or RELAY from an unknown endpoint */
    RENDEZVOUS_DROP_NO_SESSION,     /* RELAY for a session that does not exist or not the sender's */
    RENDEZVOUS_DROP_PEER_AWAY,      /* RELAY to a member whose endpoint another name took */
    RENDEZVOUS_DROP_RATE,           /* over the session's relay budget */
    RENDEZVOUS_DROP_FULL,           /* max_registrations reached */
    RENDEZVOUS_DROP_BAD_SOCKET,     /* a stream socket index beyond RENDEZVOUS_STREAM_SOCKETS_MAX */
    RENDEZVOUS_DROP_COUNT,
};

typedef struct rendezvous_stats {
    uint64_t registrations;    /* REGISTERs accepted, first or refresh */
    uint64_t endpoint_changes; /* of them, a known name from a new endpoint */
    uint64_t peer_updates;     /* PEERs sent because a member moved */
    uint64_t leaves;           /* REGISTERs with LEAVING from the name's own endpoint */
    uint64_t connects;         /* CONNECTs accepted from registered endpoints */
    uint64_t sessions;         /* sessions created */
    uint64_t relayed_packets, relayed_bytes; /* forwarded; bytes as sent */
    uint64_t errors_sent;
    uint64_t expired_registrations, expired_sessions, evicted_sessions;
    uint64_t stream_registrations; /* of registrations, over a TCP connection */
    uint64_t streams_closed;       /* registrations detached because their connection closed */
    uint64_t peer_repeats;         /* PEERs sent again on a REGISTER (see above) */
    uint64_t dropped[RENDEZVOUS_DROP_COUNT];
} rendezvous_stats_t;

/* One datagram to send: from socket `socket` (the shell's index; replies
 * leave by the socket the request arrived on, everything to a member by the
 * socket that member last registered on) to `to`. */
typedef struct rendezvous_out {
    unsigned socket;
    addr_endpoint_t to;
    size_t len;
    uint8_t data[AGENTMSG_MAX_SIZE];
} rendezvous_out_t;

/* A REGISTER from a new endpoint: REGISTERED + one PEER per session. */
#define RENDEZVOUS_OUT_MAX (1 + RENDEZVOUS_SESSIONS_PER_AGENT)

typedef struct rendezvous rendezvous_t;

/* NULL when config is NULL. */
rendezvous_t *rendezvous_new(const rendezvous_config_t *config, uint64_t seed);
void rendezvous_free(rendezvous_t *r);

/* One datagram (agentmsg_claims() true) that arrived on `socket` from
 * `from`; returns how many of out[0 .. RENDEZVOUS_OUT_MAX) to send. */
unsigned rendezvous_handle(rendezvous_t *r, unsigned socket, addr_endpoint_t from,
                           const uint8_t *data, size_t len, usec_t now,
                           rendezvous_out_t out[RENDEZVOUS_OUT_MAX]);
/* A stream socket (>= first_stream_socket) closed: detaches what registered
 * over it (they expire as UDP ones do); the index may then be reused. */
void rendezvous_socket_closed(rendezvous_t *r, unsigned socket);

/* Forgets expired registrations and sessions; returns the next deadline
 * (RENDEZVOUS_NEVER when nothing is left). */
#define RENDEZVOUS_NEVER INT64_MAX
usec_t rendezvous_expire(rendezvous_t *r, usec_t now);

const rendezvous_stats_t *rendezvous_stats(const rendezvous_t *r);
/* Live entries, including those expired but not yet reclaimed. */
unsigned rendezvous_registration_count(const rendezvous_t *r);
unsigned rendezvous_session_count(const rendezvous_t *r);
/* Registrations attached over a TCP connection now. */
unsigned rendezvous_stream_client_count(const rendezvous_t *r);
const char *rendezvous_drop_name(enum rendezvous_drop d);
