/* Sim mode: one attempt in memory on a virtual clock. Two agents (punch
 * cores; host 0 connects, host 1 listens and echoes) behind natsim engines,
 * the STUN and rendezvous cores as the server, NAT-PMP/PCP and UPnP IGD
 * (SSDP, and HTTP as one exchange per request) on the gateways,
 * seeded loss on the internet hops. Pure: no sockets, clocks or randomness
 * of its own; everything follows from the options and their seed, so the
 * same options give the same result, bit for bit.
 *
 * Addresses: the server 198.19.1.1 and .2 (ports 3478, 3479), NAT i's public
 * addresses 198.18.(i+1).1.., its LAN 10.(i+1).0.0/24 with the gateway at .1,
 * public hosts 198.19.2.(h+1), the TURN server (with `turn`) 198.19.3.1:3478,
 * reached from each agent's TURN socket (port 39999). Delays each way: 0.5 ms on a LAN, 5 ms on
 * the internet. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/punch.h"
#include "common/addr.h"
#include "common/duration.h"
#include "natsim/nat_profile.h"
#include "sim/simturn.h"

#define SIMNET_HOSTS 2
#define SIMNET_LAN_DELAY 500                    /* µs, each way */
#define SIMNET_WAN_DELAY (5 * USEC_PER_MSEC)    /* µs, each way */
#define SIMNET_SEND_DEFAULT 10
#define SIMNET_INTERVAL_DEFAULT (100 * USEC_PER_MSEC)
#define SIMNET_LIMIT_DEFAULT (60 * USEC_PER_SEC)

typedef enum simnet_action {
    SIMNET_REBOOT,    /* every mapping lost, a new NAT-PMP/PCP epoch */
    SIMNET_FLUSH,     /* every mapping lost */
    SIMNET_CHANGE_IP, /* the first public address moves to a spare one */
    SIMNET_SET,       /* a profile key changes (key, value) */
} simnet_action_t;

typedef struct simnet_event {
    usec_t at;         /* after the start */
    unsigned host;     /* acts on the NAT in front of this host (no-op for a public host) */
    simnet_action_t action;
    const char *key, *value; /* SIMNET_SET */
} simnet_event_t;

typedef struct simnet simnet_t;

typedef struct simnet_options {
    const nat_profile_t *nat[SIMNET_HOSTS]; /* in front of each host; NULL: a public host */
    bool same_nat;           /* both hosts behind nat[0] (one LAN) */
    double loss;             /* on every internet hop, 0..1 */
    uint64_t seed;
    unsigned send;           /* messages the connector sends; 0: SIMNET_SEND_DEFAULT */
    usec_t interval;         /* between them; 0: SIMNET_INTERVAL_DEFAULT */
    usec_t hold;             /* keep the session (and data flowing) at least this long */
    usec_t limit;            /* stop the attempt after; 0: SIMNET_LIMIT_DEFAULT */
    usec_t neighbour_delay;  /* one way, host to host on one LAN (not via the gateway); 0: SIMNET_LAN_DELAY */
    const punch_config_t *agent; /* knobs for both agents; NULL: punch_config_init's */
    const simnet_event_t *events; /* by time */
    unsigned n_events;
    const uint8_t *secret;   /* the server's */
    size_t secret_len;
    bool turn;               /* a TURN server (sim/simturn), both agents --turn over UDP */
    const char *turn_password; /* the agents'; NULL: the right one */
    usec_t turn_down_at;     /* the TURN server drops everything from then on; 0: never */
    /* For tests: called once at hook_at (after the events due then). */
    void (*hook)(simnet_t *sim, void *ctx);
    usec_t hook_at;
    void *hook_ctx;
    /* Every agent event as it happens; t from the start. NULL: none. */
    void (*trace)(unsigned host, usec_t t, const punch_event_t *event, void *ctx);
    void *trace_ctx;
} simnet_options_t;

typedef struct simnet_result {
    bool done;               /* the connector finished: all delivered and echoed, settled, held */
    bool failed;             /* the connector's core failed (no server, refused) */
    const char *failure;     /* its failed event's reason (static); NULL */
    const char *last_event;  /* the connector's last event (static name); NULL: none */
    const char *event_error; /* an event the NAT refused (static); NULL */
    enum punch_path_kind path;
    bool relay_turn;         /* the connector's relay path runs through TURN (punch_relay_is_turn) */
    uint8_t technique;
    usec_t ttfb, ttd;        /* as punch_time_to_*: 0 never */
    usec_t elapsed;          /* virtual time from the start to the end */
    unsigned sent;           /* messages the connector sent */
    punch_stats_t stats[SIMNET_HOSTS];
    uint64_t wan_packets, packets, steps;
    uint64_t server_relayed; /* RELAYs the natlab server forwarded */
    simturn_stats_t turn;
    unsigned keepalive_events[SIMNET_HOSTS];
    usec_t last_keepalive[SIMNET_HOSTS];
} simnet_result_t;

/* One attempt. False (with *out zeroed) only when a profile is refused by
 * the engine or an agent cannot be built. */
bool simnet_attempt(const simnet_options_t *options, simnet_result_t *out);

/* For hooks: a datagram put on the internet now (no loss), and the last
 * probe seen there between the two hosts (NULL: none yet). */
void simnet_inject(simnet_t *sim, addr_endpoint_t src, addr_endpoint_t dst, const uint8_t *data,
                    size_t len);
/* For hooks: a busy neighbour of `host` on its LAN opens n new mappings on
 * the NAT in front of it now (one datagram to each of n public endpoints). */
void simnet_cross_traffic(simnet_t *sim, unsigned host, unsigned n);
const uint8_t *simnet_captured_probe(const simnet_t *sim, addr_endpoint_t *src,
                                      addr_endpoint_t *dst, size_t *len);
