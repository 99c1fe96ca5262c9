/* The router core: one raw IPv4 packet in, a decision out. It parses the
 * packet, asks the engine, rewrites addresses, ports and checksums in place,
 * and applies the link impairments. Pure: the shell brings `now` and the
 * bytes (from NFQUEUE, or from sim mode), and carries out the decision. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/packet.h"
#include "nat_engine.h"
#include "nat_impair.h"

/* Where a packet was caught; the shell knows it from the queue it came on. */
typedef enum nat_router_path {
    NAT_ROUTER_OUTBOUND, /* leaving through the outside interface */
    NAT_ROUTER_INBOUND,  /* arriving on the outside interface */
    NAT_ROUTER_HAIRPIN,  /* from inside, addressed to one of our public addresses */
    NAT_ROUTER_PATH_COUNT
} nat_router_path_t;

typedef enum nat_router_action {
    NAT_ROUTER_ACCEPT, /* forward the (possibly rewritten) bytes now */
    NAT_ROUTER_DROP,
    NAT_ROUTER_HOLD, /* keep a copy of the bytes; call nat_router_release at release_at */
} nat_router_action_t;

/* Drop reasons of the router itself; the engine's come on top of these. */
typedef enum nat_router_drop {
    NAT_ROUTER_DROP_NONE,
    NAT_ROUTER_DROP_MALFORMED,    /* see the per-packet_error counters */
    NAT_ROUTER_DROP_FRAGMENT,     /* IPv4 fragments are not reassembled */
    NAT_ROUTER_DROP_NOT_UDP,      /* other protocols, fragmented TCP and ICMP */
    NAT_ROUTER_DROP_ICMP_UNKNOWN, /* an ICMP error about no live mapping */
    NAT_ROUTER_DROP_ENGINE,       /* the engine said no: see its reason */
    NAT_ROUTER_DROP_LOSS,         /* impairment: lost */
    NAT_ROUTER_DROP_ICMP_UNSUPPORTED, /* an ICMP message neither an echo nor an error */
    NAT_ROUTER_DROP_REASON_COUNT
} nat_router_drop_t;

typedef struct nat_router_decision {
    nat_router_action_t action;
    nat_router_drop_t drop;
    nat_drop_reason_t engine_reason; /* when drop == NAT_ROUTER_DROP_ENGINE */
    packet_error_t parse_error;      /* when drop == NAT_ROUTER_DROP_MALFORMED */
    usec_t release_at;               /* HOLD */
    bool rewritten;                  /* the bytes changed: the verdict must carry them */
    bool to_inside;                  /* the packet now travels towards the inside */
    bool icmp_unreachable;           /* tell the sender: nat_router_icmp_unreachable */
    nat_reply_t reply;               /* answer the sender: nat_router_build_reply */
    bool came_inbound;               /* the packet arrived on the outside interface */
} nat_router_decision_t;

typedef struct nat_router_stats {
    uint64_t packets[NAT_ROUTER_PATH_COUNT];
    uint64_t drops[NAT_ROUTER_DROP_REASON_COUNT];
    uint64_t malformed[PACKET_ERROR_COUNT];
    uint64_t icmp_translated; /* errors */
    uint64_t echo_translated; /* echo requests and replies (RFC 5508 section 3) */
    uint64_t icmp_sent; /* host unreachable on port exhaustion or quota */
    uint64_t tcp_translated;
    uint64_t replies[NAT_REPLY_HOLD_SYN]; /* built, by nat_reply_t (index 0 unused) */
    uint64_t syn_held, syn_held_superseded, syn_held_answered, syn_held_overflow;
} nat_router_stats_t;

typedef struct nat_router nat_router_t;

/* The router borrows the engine; impairments follow the engine's profile. */
nat_router_t *nat_router_new(nat_engine_t *engine, uint64_t seed);
void nat_router_free(nat_router_t *router);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(nat_router_t, nat_router_free)

/* Re-reads the impairment settings after the engine's profile changed. */
void nat_router_profile_changed(nat_router_t *router);

/* Decides about one packet; rewrites `data` in place (len stays the same). */
nat_router_decision_t nat_router_process(nat_router_t *router, nat_router_path_t path,
                                         uint8_t *data, size_t len, usec_t now);
/* A held packet's time has come: inbound packets are translated now (the
 * link delays them before the NAT sees them), outbound ones were already. */
nat_router_decision_t nat_router_release(nat_router_t *router, nat_router_path_t path,
                                         uint8_t *data, size_t len, usec_t now);

/* RFC 6888 REQ-11 / RFC 5508 REQ-8: a packet dropped because no port was
 * left (or the subscriber's quota) is answered with ICMP 3/1 from the
 * router's inside address `from`, at most NAT_ROUTER_ICMP_PER_SEC a second.
 * Builds it into out; returns its length (0: nothing to send). */
#define NAT_ROUTER_ICMP_PER_SEC 100
size_t nat_router_icmp_unreachable(nat_router_t *router, const uint8_t *orig, size_t len,
                                   uint32_t from, uint8_t *out, size_t cap);

/* The answer the profile asks for to a dropped packet (decision.reply):
 * a TCP reset as if from the packet's destination, or an ICMP error from
 * `from_outside` (our public address, for packets that came from outside)
 * or `from_inside` (the router's inside address, for packets from inside).
 * `orig` is the packet as it came (drops are never rewritten). At most
 * NAT_ROUTER_ICMP_PER_SEC answers of all kinds a second. Returns the
 * length built into out (0: nothing to send). */
size_t nat_router_build_reply(nat_router_t *router, const nat_router_decision_t *decision,
                              const uint8_t *orig, size_t len, uint32_t from_inside, uint8_t *out,
                              size_t cap, usec_t now);

/* RFC 5382 REQ-4 (tcp-unsolicited-syn = hold): unsolicited SYNs the router
 * keeps. An outbound SYN of the same endpoint pair drops one silently; one
 * still held NAT_ROUTER_SYN_HOLD after it came is answered with ICMP port
 * unreachable: nat_router_held_due builds that answer (one per call, 0 when
 * none is due) and nat_router_next_due says when the next one is. */
#define NAT_ROUTER_SYN_HOLD (6 * USEC_PER_SEC)
#define NAT_ROUTER_SYN_HOLD_MAX 1024
usec_t nat_router_next_due(const nat_router_t *router);
size_t nat_router_held_due(nat_router_t *router, usec_t now, uint8_t *out, size_t cap);

nat_impair_t *nat_router_impairment(nat_router_t *router, bool inbound);
const nat_router_stats_t *nat_router_stats(const nat_router_t *router);
const char *nat_router_drop_name(nat_router_drop_t drop);
const char *nat_router_path_name(nat_router_path_t path);
/* Router, engine and impairment counters in one JSON object. */
char *nat_router_stats_json(const nat_router_t *router);
