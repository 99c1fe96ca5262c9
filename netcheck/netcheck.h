/* netcheck: classifies the NAT in front of this host (RFC 5780 discovery plus
 * port allocation, hairpinning, binding lifetime and NAT-PMP/PCP). A pure
 * core: the shell opens the sockets it is told to, reports their local
 * endpoints, hands in every datagram received with `now`, sends what the
 * core queues, and calls netcheck_bookkeeping() by the deadline it returns.
 * No clock, socket or random source of its own, so the unit tests run it
 * against natsim's engine and the STUN server core on a virtual clock.
 *
 * The order of work (docs/netcheck.md tells why):
 *   1. primary Binding from socket MAIN to A1:P1 (UDP works? NAT? OTHER-ADDRESS)
 *   2. a strictly serial chain of flows that may create mappings (mapping
 *      tests II and III, the filtering socket's test I, the allocation
 *      sockets, the hairpin sender): one at a time, so the order of the
 *      NAT's port choices is known;
 *   3. concurrently, the decisive probes whose silence is the answer
 *      (filtering II/III, hairpin, unsolicited inbound, NAT-PMP, PCP), each
 *      sent NETCHECK_DECISIVE_ATTEMPTS times so a silence means filtering,
 *      not loss;
 *   4. with a lifetime bound, the RFC 5780 section 4.6 lifetime search.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/duration.h"
#include "common/stun.h"
#include "natsim/nat_profile.h"
#include "netcheck_alloc.h"
#include "netcheck_tcp.h"

/* RFC 8489 section 6.2.1: RTO starts at 500 ms and doubles; Rc = 7 sends. */
#define NETCHECK_RTO_INITIAL (500 * USEC_PER_MSEC)
#define NETCHECK_ATTEMPTS 7
/* Bounds on the RTO once the path's RTT is measured (RFC 6298 estimate):
 * a diagnostic run against one server may go below 500 ms, and a doubling
 * interval never exceeds NETCHECK_RTO_CAP, so an unreachable server is
 * reported in seconds, not the 39.5 s of a full RFC 8489 transaction. */
#define NETCHECK_RTO_MIN (100 * USEC_PER_MSEC)
#define NETCHECK_RTO_MAX (500 * USEC_PER_MSEC)
#define NETCHECK_RTO_CAP (1000 * USEC_PER_MSEC)
/* A probe whose silence decides a verdict is sent this many times, RTO
 * apart: with 5% loss each way a round trip fails with p ~ 0.0975, and
 * seven failures in a row with p ~ 1e-7. */
#define NETCHECK_DECISIVE_ATTEMPTS 7
/* Fresh sockets for the allocation pattern; each gives one sample per
 * mapping (two under address(-and-port)-dependent mapping). Parity needs
 * n samples to be told from chance with p = 2^-n. */
#define NETCHECK_ALLOC_SOCKETS 12
/* Lifetime search: checks at T0 * r^k up to the bound (RFC 5780 4.6 done
 * in parallel: one fresh mapping per check time). */
#define NETCHECK_LIFETIME_FIRST (1 * USEC_PER_SEC)
#define NETCHECK_LIFETIME_RATIO 1.03
#define NETCHECK_LIFETIME_MAX_CHECKS 96
#define NETCHECK_MAX_SOCKETS (24 + NETCHECK_LIFETIME_MAX_CHECKS)
/* RFC 6886 section 3 / RFC 6887 section 19: the gateway's port. */
#define NETCHECK_PORT_MAPPING_PORT 5351

typedef struct netcheck_config {
    addr_endpoint_t server; /* the STUN server's primary endpoint A1:P1 */
    uint32_t gateway;       /* default gateway for NAT-PMP/PCP; 0: do not ask */
    usec_t lifetime_max;    /* 0: no lifetime search */
    uint64_t seed;          /* transaction ids and PCP nonces */
} netcheck_config_t;

/* What was measured, by field (wireguard-style bitmask of set fields). */
enum netcheck_known {
    NETCHECK_KNOWN_TYPE = 1 << 0,
    NETCHECK_KNOWN_MAPPING = 1 << 1,
    NETCHECK_KNOWN_FILTERING = 1 << 2,
    NETCHECK_KNOWN_ALLOCATION = 1 << 3,
    NETCHECK_KNOWN_FALLBACK = 1 << 4, /* preserve-fallback (and its step) */
    NETCHECK_KNOWN_PARITY = 1 << 5,
    NETCHECK_KNOWN_HAIRPIN = 1 << 6,
    NETCHECK_KNOWN_TIMEOUT = 1 << 7,
    NETCHECK_KNOWN_REFRESH = 1 << 8,
    NETCHECK_KNOWN_POOLING = 1 << 9,
    NETCHECK_KNOWN_PORT_MAPPING = 1 << 10,
    NETCHECK_KNOWN_ALG = 1 << 11,
};


/* A probe kind's tally, for the evidence. */
typedef struct netcheck_tally {
    unsigned sent, answered;
    usec_t first_sent, answered_at; /* relative to the start; answered_at -1: never */
    addr_endpoint_t answer_from;    /* the datagram's source */
} netcheck_tally_t;

#define NETCHECK_MAX_LIFE_POINTS (3 * NETCHECK_LIFETIME_MAX_CHECKS)

/* One lifetime check: was the mapping alive `after` its last refresh? */
typedef struct netcheck_life_point {
    usec_t after;
    bool alive;
    bool refresh_socket; /* the socket that also got inbound packets */
} netcheck_life_point_t;

typedef struct netcheck_result {
    uint32_t known; /* enum netcheck_known */
    bool udp_blocked; /* no answer at all from the server */
    char error[256];  /* why something could not be measured ("" if all went well) */

    nat_type_t type;
    nat_dependence_t mapping, filtering;
    nat_allocation_t allocation, preserve_fallback;
    uint16_t sequential_step; /* of allocation, or of the fallback */
    nat_parity_t parity;
    nat_hairpin_t hairpin;
    usec_t timeout;           /* estimate: the middle of (alive, dead] */
    usec_t timeout_alive, timeout_dead; /* the bracket; dead 0 = alive up to the bound */
    nat_refresh_t refresh;
    unsigned public_ips;      /* distinct external addresses seen (a lower bound) */
    nat_pooling_t pooling;
    unsigned port_mapping;    /* nat_port_mapping_flags */
    bool alg;                 /* MAPPED-ADDRESS != XOR-MAPPED-ADDRESS somewhere */
    bool double_nat;          /* the port-mapping external address differs from STUN's */
    bool origin_mismatch;     /* RESPONSE-ORIGIN differs from where the request went */
    bool unsolicited_ok;      /* no-NAT only: an unsolicited inbound packet arrived */

    /* Evidence. */
    uint32_t local_ip, gateway;
    addr_endpoint_t server, other_address; /* other 0:0 when the server gave none */
    addr_endpoint_t mapped[3];             /* tests I, II, III from socket MAIN */
    unsigned mapped_count;
    netcheck_tally_t filter[3];            /* tests I, II (change IP+port), III (change port) */
    netcheck_tally_t hairpin_probe, unsolicited, natpmp, pcp;
    addr_endpoint_t hairpin_source, hairpin_sender_local, hairpin_sender_mapped;
    uint32_t natpmp_external, pcp_external; /* 0: none */
    uint32_t natpmp_epoch, pcp_epoch;
    netcheck_tally_t upnp;   /* SSDP searches sent to the gateway, answers (the shell's) */
    bool upnp_igd;           /* the answer's description is an IGD (fetched over HTTP) */
    char upnp_location[160]; /* the answer's LOCATION, "" without one */
    netcheck_sample_t samples[NETCHECK_MAX_SAMPLES];
    unsigned n_samples;
    netcheck_life_point_t life[NETCHECK_MAX_LIFE_POINTS];
    unsigned n_life;
    unsigned probes_sent, probes_answered; /* datagrams sent / answers received */
    usec_t rtt;       /* smoothed round-trip time to the server */
    usec_t duration;  /* from start to the verdict */

    netcheck_tcp_result_t tcp; /* the TCP tests (netcheck_tcp.h), run by the shell after these */
} netcheck_result_t;

typedef struct netcheck netcheck_t;

/* One datagram to send: from socket `socket` to `to`. */
typedef struct netcheck_send {
    unsigned socket;
    addr_endpoint_t to;
    size_t len;
    uint8_t data[STUN_MAX_MESSAGE];
} netcheck_send_t;

netcheck_t *netcheck_new(const netcheck_config_t *config, usec_t now);
void netcheck_free(netcheck_t *nc);

/* How many sockets to open (fixed at creation); then, before the first
 * bookkeeping, the local endpoint of each (the host's address toward the
 * server and the bound port). */
unsigned netcheck_socket_count(const netcheck_t *nc);
void netcheck_set_local(netcheck_t *nc, unsigned socket, addr_endpoint_t local);

/* Runs timers: starts work, retransmits, gives up; queues datagrams.
 * Returns when it next needs to run (NETCHECK_NEVER once done). */
#define NETCHECK_NEVER INT64_MAX
usec_t netcheck_bookkeeping(netcheck_t *nc, usec_t now);
/* A datagram that arrived on `socket` from `from`. */
void netcheck_receive(netcheck_t *nc, unsigned socket, addr_endpoint_t from, const uint8_t *data,
                      size_t len, usec_t now);
/* An ICMP port/host unreachable for a datagram `socket` sent to `to`. */
void netcheck_unreachable(netcheck_t *nc, unsigned socket, addr_endpoint_t to, usec_t now);
/* The next datagram to send; false when none is queued. */
bool netcheck_pop_send(netcheck_t *nc, netcheck_send_t *out);

bool netcheck_done(const netcheck_t *nc);
/* Valid once done. */
const netcheck_result_t *netcheck_result(const netcheck_t *nc);
