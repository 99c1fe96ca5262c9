/* netcheck over TCP: against a server that answers STUN over TCP (RFC 8489
 * section 6.2.2; natlab server, coturn), the TCP side of the NAT:
 *   1. a Binding over a connection from a fresh port to A1:P1: is TCP
 *      allowed out at all, is there a NAT, OTHER-ADDRESS;
 *   2. mapping (RFC 5780 section 4.3 done with connections): the same local
 *      port (SO_REUSEADDR/SO_REUSEPORT) to A2:P1 and A2:P2;
 *   3. allocation: NETCHECK_TCP_ALLOC_CONNS fresh ports to A1:P1 (and to
 *      A2:P1 when the mapping depends on the destination), classified by
 *      netcheck_alloc like UDP's;
 *   4. concurrently, three NATLAB-CONNECT-BACK requests (stun.h) on the
 *      first connection, while this host listens on the first allocation
 *      connection's port (its mapping only ever talked to A1:P1; the first
 *      connection's talked to A2 in step 2) and on a fresh one: from A2 to
 *      that mapping (admitted: endpoint-independent filtering), from A1 to
 *      it (admitted: address-dependent), and from A2 to a port of the
 *      public address that never sent (unsolicited: what the NAT does with
 *      a SYN nothing admits). Without a NAT the allocation step opens just
 *      that one connection.
 * A pure core like netcheck.h's: the shell opens, listens and sends as the
 * core asks (netcheck_tcp_pop_op), reports what happened, frames the
 * stream and hands in whole messages, and calls the bookkeeping by the
 * deadline it returns. Every wait is bounded. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/duration.h"
#include "common/stun.h"
#include "natsim/nat_profile.h"
#include "netcheck_alloc.h"

/* A handshake or an answer that takes longer is lost: Linux retransmits a
 * SYN after 1 s and 3 s, so this covers two retransmissions. */
#define NETCHECK_TCP_STEP_TIMEOUT (4 * USEC_PER_SEC)
/* The server's bound (STUN_SERVER_CONNECT_BACK_TIMEOUT_MS) plus margin. */
#define NETCHECK_TCP_CONNECT_BACK_WAIT (12 * USEC_PER_SEC)
#define NETCHECK_TCP_ALLOC_CONNS 8
#define NETCHECK_TCP_MAX_CONNS (3 + 2 * NETCHECK_TCP_ALLOC_CONNS + 2)
/* An ICMP error this long after the SYN is a NAT that held it (RFC 5382
 * REQ-4 says 6 s) rather than one that answers at once. */
#define NETCHECK_TCP_HOLD_MIN_MS 3000

typedef enum netcheck_tcp_syn {
    NETCHECK_TCP_SYN_HOLD, /* held, then ICMP port unreachable */
    NETCHECK_TCP_SYN_DROP, /* silence */
    NETCHECK_TCP_SYN_RST,  /* a TCP RST */
    NETCHECK_TCP_SYN_ICMP, /* ICMP port unreachable at once */
} netcheck_tcp_syn_t;
const char *netcheck_tcp_syn_name(netcheck_tcp_syn_t syn);

enum netcheck_tcp_known {
    NETCHECK_TCP_KNOWN_ALLOWED = 1 << 0,
    NETCHECK_TCP_KNOWN_MAPPING = 1 << 1,
    NETCHECK_TCP_KNOWN_FILTERING = 1 << 2,
    NETCHECK_TCP_KNOWN_ALLOCATION = 1 << 3,
    NETCHECK_TCP_KNOWN_UNSOLICITED = 1 << 4,
};

/* Why the first connection got no answer. */
typedef enum netcheck_tcp_fail {
    NETCHECK_TCP_FAIL_NONE,
    NETCHECK_TCP_FAIL_REFUSED,     /* RST */
    NETCHECK_TCP_FAIL_UNREACHABLE, /* ICMP */
    NETCHECK_TCP_FAIL_TIMEOUT,     /* no handshake, or no answer */
    NETCHECK_TCP_FAIL_CLOSED,      /* connected, closed without an answer */
} netcheck_tcp_fail_t;

enum { NETCHECK_TCP_CB_FROM_OTHER, NETCHECK_TCP_CB_FROM_PRIMARY, NETCHECK_TCP_CB_UNSOLICITED,
       NETCHECK_TCP_CB_COUNT };

typedef struct netcheck_tcp_cb {
    bool sent, answered;
    addr_endpoint_t to;
    stun_connect_result_t result; /* outcome NONE: not answered */
} netcheck_tcp_cb_t;

typedef struct netcheck_tcp_result {
    bool ran;         /* the TCP tests were tried */
    uint32_t known;   /* enum netcheck_tcp_known */
    char error[200];  /* why something was not measured */

    bool allowed;     /* allow-out-tcp: all (true) or none */
    bool no_nat;      /* the server saw our own endpoint */
    bool unsolicited_ok; /* no NAT: the unsolicited SYN got in */
    bool connect_back; /* the server answered NATLAB-CONNECT-BACK */
    nat_dependence_t mapping, filtering;
    nat_allocation_t allocation;
    uint16_t sequential_step;
    netcheck_tcp_syn_t unsolicited;

    /* Evidence. */
    netcheck_tcp_fail_t fail;
    addr_endpoint_t server, other_address, local;
    addr_endpoint_t mapped[3];
    unsigned mapped_count;
    netcheck_sample_t samples[NETCHECK_MAX_SAMPLES];
    unsigned n_samples;
    netcheck_tcp_cb_t cb[NETCHECK_TCP_CB_COUNT];
    unsigned connections, answers;
    usec_t duration;
} netcheck_tcp_result_t;

typedef struct netcheck_tcp_config {
    addr_endpoint_t server; /* A1:P1 */
    bool udp_works;  /* the UDP tests got answers: a silent TCP means blocked */
    uint64_t seed;   /* transaction ids */
} netcheck_tcp_config_t;

/* What the core asks of the shell. */
typedef enum netcheck_tcp_op_kind {
    NETCHECK_TCP_OPEN,   /* connection `conn` to `to`, bound to `reuse`'s port (-1: fresh) */
    NETCHECK_TCP_LISTEN, /* listen as `conn` on `reuse`'s port (-1: fresh); accept and close */
    NETCHECK_TCP_SEND,   /* data on `conn` */
} netcheck_tcp_op_kind_t;

typedef struct netcheck_tcp_op {
    netcheck_tcp_op_kind_t kind;
    unsigned conn;
    int reuse;
    addr_endpoint_t to;
    size_t len;
    uint8_t data[STUN_MAX_MESSAGE];
} netcheck_tcp_op_t;

typedef struct netcheck_tcp netcheck_tcp_t;

netcheck_tcp_t *netcheck_tcp_new(const netcheck_tcp_config_t *config, usec_t now);
void netcheck_tcp_free(netcheck_tcp_t *t);
usec_t netcheck_tcp_bookkeeping(netcheck_tcp_t *t, usec_t now); /* INT64_MAX once done */
bool netcheck_tcp_pop_op(netcheck_tcp_t *t, netcheck_tcp_op_t *op);
/* OPEN done: connected (local = our endpoint), or `fail` says why not. */
void netcheck_tcp_opened(netcheck_tcp_t *t, unsigned conn, addr_endpoint_t local,
                         netcheck_tcp_fail_t fail, usec_t now);
/* LISTEN done (local 0:0: it failed). */
void netcheck_tcp_listening(netcheck_tcp_t *t, unsigned conn, addr_endpoint_t local, usec_t now);
/* One whole STUN message off `conn`'s stream. */
void netcheck_tcp_message(netcheck_tcp_t *t, unsigned conn, const uint8_t *data, size_t len,
                          usec_t now);
/* The peer closed `conn`, or its stream broke. */
void netcheck_tcp_closed(netcheck_tcp_t *t, unsigned conn, usec_t now);
bool netcheck_tcp_done(const netcheck_tcp_t *t);
const netcheck_tcp_result_t *netcheck_tcp_result(const netcheck_tcp_t *t);

/* The verdicts from the evidence in r (the core calls it when done; the
 * unit tests call it on made-up evidence). `udp_works` as in the config. */
void netcheck_tcp_classify(netcheck_tcp_result_t *r, bool udp_works);
