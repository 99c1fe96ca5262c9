/* TCP hole punching: two agents without a direct UDP path open one TCP
 * connection by simultaneous open (RFC 793 section 3.4; a NAT passes it by
 * RFC 5382 REQ-2), timed through the relay as libp2p's DCUtR does:
 *
 *   1. each side learns its TCP mapping: a connection from its punch port
 *      (the port its listener holds, SO_REUSEADDR/SO_REUSEPORT) to natlab
 *      server, a STUN Binding over it (RFC 8489 section 6.2.2), and a second
 *      to the server's other address: the same mapping is endpoint-
 *      independent (RFC 5780 section 4.3 over TCP), the mapping equal to our
 *      own address is no NAT at all;
 *   2. the controlling side sends OFFER (its mapping, a timestamp) through
 *      the relay; the other answers with its mapping, the timestamp echoed
 *      and how long it held the offer: the relayed round trip, RTT. With
 *      neither side open and one mapping per destination, no SYN can meet
 *      its peer's: the controlling side says so and ends there;
 *   3. attempt n: the controlling side sends SYNC and connects after a lead
 *      time, the other connects when SYNC arrives (RTT/2 later), so the two
 *      SYNs leave together and cross. Attempt 1 waits RTT/2 (they cross),
 *      attempt 2 not at all (ours goes first), attempt 3 a whole RTT (the
 *      peer's first): a NAT that answers an unsolicited SYN with a reset
 *      (home routers) loses only when its side's SYN is the later one.
 *
 * A SYN that reaches the listener (the peer is not behind a NAT, or its
 * NAT's filter admits it) is accepted as well. Whatever connection comes
 * up is only a candidate: the owner (agent/punch) proves it with a probe
 * and its answer under the session key before any data uses it.
 *
 * Pure: bytes, timestamps and the relay's messages in, connects, bytes,
 * closes, messages for the peer and events out. Connection ids are the
 * core's; the shell maps them to sockets. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/agentmsg.h"
#include "common/duration.h"

#define TCPPUNCH_PORTS_MAX 4
#define TCPPUNCH_CONNS_MAX 16
#define TCPPUNCH_ATTEMPTS_DEFAULT 3
#define TCPPUNCH_OUTPUT_MAX (AGENTMSG_MAX_SIZE + 8)

typedef struct tcppunch_config {
    bool controlling;             /* the connecting side times the attempts */
    uint16_t local_port;          /* the listener's; every connect binds it too */
    uint32_t local_ip;            /* our own address: a mapping equal to it is no NAT */
    uint32_t server_ip;           /* natlab server, for the mapping */
    uint16_t server_ports[TCPPUNCH_PORTS_MAX];
    unsigned n_server_ports;
    unsigned attempts;            /* 0: TCPPUNCH_ATTEMPTS_DEFAULT */
    uint64_t seed;                /* STUN transaction ids */
} tcppunch_config_t;

enum tcppunch_output_kind {
    TCPPUNCH_OUT_CONNECT, /* id, to: a TCP connect from local_port */
    TCPPUNCH_OUT_SEND,    /* id, data: the stream's next bytes */
    TCPPUNCH_OUT_CLOSE,   /* id */
    TCPPUNCH_OUT_MESSAGE, /* message: an AGENTMSG_TCP_PUNCH for the peer, through the relay */
    TCPPUNCH_OUT_UP,      /* id, to: a connection to the peer's side is up: prove it */
    TCPPUNCH_OUT_FRAME,   /* id, data: an agentmsg that came over a peer connection */
    TCPPUNCH_OUT_DOWN,    /* id: a peer connection that was up closed or broke */
    TCPPUNCH_OUT_EVENT,   /* attempt, to, lead, text: an attempt starts, or the end (done) */
};

typedef struct tcppunch_output {
    enum tcppunch_output_kind kind;
    unsigned id;
    addr_endpoint_t to;
    agentmsg_t message;   /* MESSAGE: type, phase and its fields */
    unsigned attempt;     /* EVENT: 0 when it is the end */
    usec_t lead;          /* EVENT: our SYN after the SYNC by this much */
    bool done;            /* EVENT: TCP punching ended without a connection */
    const char *text;     /* EVENT: valid until the next call */
    size_t len;
    uint8_t data[TCPPUNCH_OUTPUT_MAX];
} tcppunch_output_t;

typedef struct tcppunch tcppunch_t;

tcppunch_t *tcppunch_new(const tcppunch_config_t *config);
void tcppunch_free(tcppunch_t *t);

/* Learn our mapping and, when controlling, offer; idempotent. */
void tcppunch_start(tcppunch_t *t, usec_t now);
/* An AGENTMSG_TCP_PUNCH from the peer (authenticated by the caller). */
void tcppunch_message(tcppunch_t *t, const agentmsg_t *m, usec_t now);

/* The shell's word on connection `id`. */
void tcppunch_connected(tcppunch_t *t, unsigned id, usec_t now);
void tcppunch_broken(tcppunch_t *t, unsigned id, const char *reason, usec_t now);
void tcppunch_receive(tcppunch_t *t, unsigned id, const uint8_t *data, size_t len, usec_t now);
/* The listener accepted a connection from `from`: its id, or 0 (close it:
 * no punching under way). */
unsigned tcppunch_accepted(tcppunch_t *t, addr_endpoint_t from, usec_t now);

/* Bytes for a peer connection (an agentmsg, framed here); false: not up. */
bool tcppunch_send(tcppunch_t *t, unsigned id, const uint8_t *msg, size_t len);
/* The owner proved connection `id` and uses it: punching is done, the
 * connections still connecting and the mapping's are closed. */
void tcppunch_chosen(tcppunch_t *t, unsigned id, usec_t now);
/* Close everything and forget the exchange (a fallback, a new session):
 * tcppunch_start may begin again. */
void tcppunch_reset(tcppunch_t *t);

usec_t tcppunch_bookkeeping(tcppunch_t *t, usec_t now);
bool tcppunch_pop_output(tcppunch_t *t, tcppunch_output_t *out);

/* Started and neither chosen nor ended. */
bool tcppunch_active(const tcppunch_t *t);
/* The TCP mapping the server saw (port 0: not known). */
addr_endpoint_t tcppunch_mapped(const tcppunch_t *t);
