/* The datagrams of natlab's own protocol between agents and the server
 * (register, connect, relay) and between two agents (probes, data). A pure
 * codec: no sockets, no clock; authentication is HMAC-SHA256 (GLib's GHmac)
 * truncated to 16 bytes over everything before the tag.
 *
 *   0               1               2               3
 *  +---------------+---------------+---------------+---------------+
 *  |  magic 0xE4   |  version 1    |     type      |     flags     |
 *  +---------------+---------------+---------------+---------------+
 *  |                  counter (64 bits, per sender)                |
 *  +---------------------------------------------------------------+
 *  |                  session id (64 bits, 0: none)                |
 *  +---------------------------------------------------------------+
 *  |  body (by type) ...                                           |
 *  +---------------------------------------------------------------+
 *  |                  tag (16 bytes)                               |
 *  +---------------------------------------------------------------+
 *
 * The magic byte sits in 192..255, the range RFC 7983 leaves to no other
 * protocol on a shared port (STUN 0..3, DTLS 20..63, TURN channels 64..79,
 * RTP 128..191), so STUN and this protocol share the server's sockets.
 *
 * Keys: messages to and from the server carry a tag keyed with the server's
 * secret (empty without `--secret`: integrity only, no authentication).
 * Peer messages (PROBE .. BYE) are keyed with the session key. With a
 * secret, the session key is derived from it and the session id
 * (agentmsg_session_key), so it never crosses the network; without one the
 * server hands it out in PEER. The counter feeds a replay window
 * (agentmsg_replay). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"

#define AGENTMSG_MAGIC 0xE4
#define AGENTMSG_VERSION 1
#define AGENTMSG_HEADER_SIZE 20
#define AGENTMSG_TAG_SIZE 16
#define AGENTMSG_KEY_SIZE 32
#define AGENTMSG_NAME_MAX 32
#define AGENTMSG_CANDIDATES_MAX 8
#define AGENTMSG_PAYLOAD_MAX 1200 /* fits any path MTU of the lab with room for RELAY framing */
#define AGENTMSG_MAX_SIZE 1400
/* The one message a RELAY carries: what is left of AGENTMSG_MAX_SIZE after
 * the header, the 16-bit length and the tag. */
#define AGENTMSG_RELAY_PAYLOAD_MAX (AGENTMSG_MAX_SIZE - AGENTMSG_HEADER_SIZE - 2 - AGENTMSG_TAG_SIZE)

enum agentmsg_type {
    /* agent <-> server */
    AGENTMSG_REGISTER = 1,   /* name, NAT observations, candidates */
    AGENTMSG_REGISTERED = 2, /* the mapped endpoint seen, registration lifetime */
    AGENTMSG_CONNECT = 3,    /* the peer's name */
    AGENTMSG_PEER = 4,       /* to both sides: session, role, the other's endpoints, key */
    AGENTMSG_ERROR = 5,      /* code, text */
    AGENTMSG_RELAY = 6,      /* session id + one peer message, forwarded to the other side */
    /* agent <-> agent (directly, or inside RELAY) */
    AGENTMSG_PROBE = 16,     /* technique, sender's socket, target aimed at, timestamp */
    AGENTMSG_PROBE_ACK = 17, /* echoed counter and timestamp, the source observed */
    AGENTMSG_DATA = 18,      /* seq, payload */
    AGENTMSG_DATA_ACK = 19,  /* seq */
    AGENTMSG_ANNOUNCE = 20,  /* LAN broadcast: the sender's LAN endpoint */
    AGENTMSG_BYE = 21,
    AGENTMSG_TCP_PUNCH = 22, /* through the relay: TCP simultaneous open (agent/tcppunch) */
};

/* AGENTMSG_TCP_PUNCH phases (agent/tcppunch.h has the exchange). */
enum agentmsg_tcp_phase {
    AGENTMSG_TCP_OFFER = 1,   /* the controlling side's TCP mapping; timestamp for the RTT */
    AGENTMSG_TCP_ANSWER = 2,  /* the other's (port 0: it has none); the offer's timestamp
                                 echoed and how long it was held before the answer */
    AGENTMSG_TCP_SYNC = 3,    /* connect now (attempt n) */
    AGENTMSG_TCP_ABANDON = 4, /* no more attempts */
};

/* What a side learnt of its NAT's TCP mapping from two connections to the
 * server's two addresses (RFC 5780 section 4.3 over TCP). */
enum agentmsg_tcp_mapping {
    AGENTMSG_TCP_MAPPING_UNKNOWN = 0,
    AGENTMSG_TCP_MAPPING_OPEN = 1,        /* no translation: the listener is reachable as is */
    AGENTMSG_TCP_MAPPING_INDEPENDENT = 2, /* one external endpoint for every destination */
    AGENTMSG_TCP_MAPPING_DEPENDENT = 3,   /* a new one per destination: not punchable */
    AGENTMSG_TCP_MAPPING_RESTRICTED = 4,  /* the second look did not get out: an outbound
                                             allow-list stops SYNs to a peer's port too */
};

enum agentmsg_flag {
    AGENTMSG_FLAG_KEEPALIVE = 1 << 0, /* PROBE: a keepalive on an established path */
    AGENTMSG_FLAG_ECHO = 1 << 1,      /* DATA: an echo of the peer's data */
    AGENTMSG_FLAG_KEY_DERIVED = 1 << 2, /* PEER: the key field is unused, derive it */
    AGENTMSG_FLAG_LEAVING = 1 << 3,   /* REGISTER: the agent goes away; end its sessions */
};

enum agentmsg_candidate_type {
    AGENTMSG_CANDIDATE_HOST = 1,    /* a LAN address (only with --share-local) */
    AGENTMSG_CANDIDATE_SRFLX = 2,   /* the mapping the server saw */
    AGENTMSG_CANDIDATE_PORTMAP = 3, /* a NAT-PMP/PCP mapping */
    AGENTMSG_CANDIDATE_RELAY = 4,   /* a TURN relayed address (RFC 8656), reached through the
                                       peer's own allocation, never probed directly */
};

enum agentmsg_mapping {
    AGENTMSG_MAPPING_UNKNOWN = 0,
    AGENTMSG_MAPPING_INDEPENDENT = 1, /* one external endpoint for every destination */
    AGENTMSG_MAPPING_SEQUENTIAL = 2,  /* endpoint-dependent, ports counted by `step` */
    AGENTMSG_MAPPING_RANDOM = 3,      /* endpoint-dependent, ports unpredictable */
    AGENTMSG_MAPPING_NO_UDP = 4,      /* no UDP path: registered over TCP, relay only */
};

/* How a direct path was found, from the aim of the probe that opened it. */
enum agentmsg_technique {
    AGENTMSG_TECHNIQUE_NONE = 0,
    AGENTMSG_TECHNIQUE_PUNCH = 1,     /* simultaneous punching to the server-reflexive endpoint */
    AGENTMSG_TECHNIQUE_PREDICTED = 2, /* a predicted port of a sequential symmetric NAT */
    AGENTMSG_TECHNIQUE_BIRTHDAY = 3,  /* random ports against many sockets */
    AGENTMSG_TECHNIQUE_PORTMAP = 4,   /* a NAT-PMP/PCP mapping */
    AGENTMSG_TECHNIQUE_LAN = 5,       /* a LAN address, shared or broadcast */
    AGENTMSG_TECHNIQUE_HAIRPIN = 6,   /* the peer's mapping on our own NAT (same public address) */
    AGENTMSG_TECHNIQUE_PEER_REFLEXIVE = 7, /* a source we had not aimed at (RFC 8445 prflx) */
    AGENTMSG_TECHNIQUE_TCP_PUNCH = 8, /* a TCP connection by simultaneous open (RFC 5382 REQ-2) */
    AGENTMSG_TECHNIQUE_COUNT = 9,
};

enum agentmsg_error_code {
    AGENTMSG_ERROR_UNKNOWN_PEER = 1,
    AGENTMSG_ERROR_NOT_REGISTERED = 2,
    AGENTMSG_ERROR_RATE_LIMITED = 3,
    AGENTMSG_ERROR_NO_SESSION = 4,
    AGENTMSG_ERROR_FULL = 5,
};

typedef struct agentmsg_candidate {
    uint8_t type;
    addr_endpoint_t endpoint;
} agentmsg_candidate_t;

/* What an agent learnt about its own NAT from two Binding requests to the
 * server's two addresses (RFC 5780 section 4.3, test I and II). */
typedef struct agentmsg_nat {
    uint8_t mapping;     /* enum agentmsg_mapping */
    int16_t step;        /* SEQUENTIAL: the port difference between two new mappings */
    uint16_t last_port;  /* the most recent external port the server saw allocated */
} agentmsg_nat_t;

/* One message. Which fields a type carries is listed beside them; the rest
 * is ignored on write and zero after a read. */
typedef struct agentmsg {
    uint8_t type;
    uint8_t flags;
    uint64_t counter;
    uint64_t session;
    char name[AGENTMSG_NAME_MAX + 1];  /* REGISTER: own; CONNECT, PEER: the peer's */
    agentmsg_nat_t nat;                /* REGISTER: own; PEER: the peer's */
    addr_endpoint_t endpoint;          /* REGISTERED: mapped; PEER: peer's mapped; PROBE: target;
                                          PROBE_ACK: source observed; ANNOUNCE: sender's LAN;
                                          TCP_PUNCH OFFER, ANSWER: the sender's TCP mapping */
    uint8_t n_candidates;              /* REGISTER, PEER */
    agentmsg_candidate_t candidates[AGENTMSG_CANDIDATES_MAX];
    uint8_t key[AGENTMSG_KEY_SIZE];    /* PEER, unless KEY_DERIVED */
    uint8_t role;                      /* PEER: 1 controlling (the connecting side), 0 controlled */
    uint16_t lifetime_s;               /* REGISTERED */
    uint8_t code;                      /* ERROR */
    uint8_t technique;                 /* PROBE, PROBE_ACK */
    uint16_t socket;                   /* PROBE: the sender's socket index */
    uint64_t echo_counter;             /* PROBE_ACK: the probe's counter */
    uint64_t timestamp;                /* PROBE, TCP_PUNCH: sender's clock (µs); PROBE_ACK: echoed */
    uint64_t echo_timestamp;           /* TCP_PUNCH ANSWER: the offer's timestamp */
    uint32_t hold_us;                  /* TCP_PUNCH ANSWER: offer received to answer sent */
    uint8_t phase;                     /* TCP_PUNCH: enum agentmsg_tcp_phase */
    uint8_t attempt;                   /* TCP_PUNCH SYNC: 1, 2, ... */
    uint8_t tcp_mapping;               /* TCP_PUNCH OFFER, ANSWER: enum agentmsg_tcp_mapping */
    uint32_t seq;                      /* DATA, DATA_ACK */
    const uint8_t *payload;            /* DATA: data; RELAY: the inner message; ERROR: text */
    size_t payload_len;
} agentmsg_t;

enum agentmsg_read_result {
    AGENTMSG_OK = 0,
    AGENTMSG_ERR_SHORT,     /* shorter than header + tag */
    AGENTMSG_ERR_MAGIC,
    AGENTMSG_ERR_VERSION,
    AGENTMSG_ERR_TYPE,
    AGENTMSG_ERR_BODY,      /* a field runs past the end, a count or length out of range */
    AGENTMSG_ERR_AUTH,      /* the tag does not match */
    AGENTMSG_ERR_COUNT,
};

const char *agentmsg_read_result_name(enum agentmsg_read_result r);
const char *agentmsg_technique_name(uint8_t technique);
const char *agentmsg_mapping_name(uint8_t mapping);

/* The first byte says whether a datagram is ours (for the server's demux). */
bool agentmsg_claims(const uint8_t *data, size_t len);
/* Type and session id without checking the tag: to pick the key. */
bool agentmsg_peek(const uint8_t *data, size_t len, uint8_t *type, uint64_t *session);

/* Bytes written, 0 when it does not fit `cap` or a field is out of range
 * (what agentmsg_read would refuse: a name too long, a mapping or technique
 * unknown, too many candidates, a payload too long). Every message read
 * writes back to the same bytes.
 * `payload` of a RELAY may be another message written by agentmsg_write. */
size_t agentmsg_write(const agentmsg_t *msg, const uint8_t *key, size_t key_len, uint8_t *out,
                      size_t cap);
/* Checks every length before reading, then the tag (constant time). On
 * success `out->payload` points into `data`. */
enum agentmsg_read_result agentmsg_read(const uint8_t *data, size_t len, const uint8_t *key,
                                        size_t key_len, agentmsg_t *out);

/* Recomputes the tag of a written message over everything before it, as a
 * sender would: for tests and fuzzers that change a message's bytes. */
void agentmsg_retag(uint8_t *msg, size_t len, const uint8_t *key, size_t key_len);

/* HMAC-SHA256(secret, "natlab-session" || session id): the session key both
 * agents compute when they share the server's secret. */
void agentmsg_session_key(const uint8_t *secret, size_t secret_len, uint64_t session,
                          uint8_t out[AGENTMSG_KEY_SIZE]);

/* A sliding window over a sender's counters (as IPsec's RFC 4303 section
 * 3.4.3): a counter seen before, or older than 64 behind the newest, is a
 * replay. Counters start at 1. */
typedef struct agentmsg_replay {
    uint64_t newest;
    uint64_t seen; /* bit i: newest - i was seen */
} agentmsg_replay_t;

/* True (and recorded) when `counter` is new. Call only after the tag checked. */
bool agentmsg_replay_accept(agentmsg_replay_t *window, uint64_t counter);
