/* The NAT engine: a pure core. Packets come in as endpoints, time as `now`
 * (monotonic microseconds), chance from the seeded RNG it was built with;
 * verdicts go out. It never reads a clock, a socket or a random source.
 * Every call that changes the engine takes `now`: no result depends on the
 * time of an earlier, unrelated call. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/duration.h"
#include "nat_profile.h"
#include "nat_proto.h"

#define NAT_ENGINE_NEVER INT64_MAX

typedef enum nat_drop_reason {
    NAT_DROP_NONE,
    NAT_DROP_UDP_BLOCKED,       /* the profile blocks UDP */
    NAT_DROP_NO_MAPPING,        /* inbound to an external endpoint with no live mapping */
    NAT_DROP_FILTERED,          /* inbound refused by the filter (RFC 4787 section 5) */
    NAT_DROP_NOT_OURS,          /* inbound to an address that is not a public address */
    NAT_DROP_HAIRPIN_DISABLED,  /* to our own public address with hairpinning off */
    NAT_DROP_PORTS_EXHAUSTED,   /* no free port on the address (RFC 6888 REQ-11: drop) */
    NAT_DROP_QUOTA,             /* the subscriber's port quota is used up (RFC 6888 REQ-4) */
    NAT_DROP_TCP_NO_SESSION,    /* a TCP segment that opens nothing and belongs to no session */
    NAT_DROP_REFUSED,           /* outbound to a port the allow-list does not name */
    NAT_DROP_TCP_INVALID,       /* a SYN from the remote of a session a reset closed
                                   (tcp-reset-session = invalid) */
    NAT_DROP_REASON_COUNT
} nat_drop_reason_t;

const char *nat_drop_reason_name(nat_drop_reason_t reason);

typedef enum nat_action {
    NAT_ACTION_DROP,
    NAT_ACTION_FORWARD, /* send with the rewritten src/dst */
} nat_action_t;

/* What the NAT sends back about a packet it drops; the router builds it. */
typedef enum nat_reply {
    NAT_REPLY_NONE,
    NAT_REPLY_TCP_RST,               /* a reset to the segment's sender, as if from its destination */
    NAT_REPLY_ICMP_PORT_UNREACHABLE, /* 3/3 to the sender */
    NAT_REPLY_ICMP_ADMIN_PROHIBITED, /* 3/13 to the sender (RFC 1812 5.2.7.1): refused by policy */
    NAT_REPLY_HOLD_SYN, /* RFC 5382 REQ-4: hold it 6 s; an outbound SYN of the pair drops it, else 3/3 */
} nat_reply_t;

typedef struct nat_verdict {
    nat_action_t action;
    nat_drop_reason_t reason;
    addr_endpoint_t src, dst; /* the packet's source and destination after translation */
    bool hairpin;             /* outbound that turned back inside */
    bool created;             /* this packet created the mapping it used */
    nat_reply_t reply;        /* with DROP: what to answer */
} nat_verdict_t;

typedef struct nat_engine_stats {
    uint64_t outbound, inbound, hairpinned;
    uint64_t mappings_created, mappings_expired, explicit_created;
    uint64_t drops[NAT_DROP_REASON_COUNT];
    uint32_t active, held; /* current gauges */
    uint64_t forwarded[NAT_PROTO_COUNT][2]; /* per protocol: [0] outbound, [1] inbound */
} nat_engine_stats_t;

typedef struct nat_mapping_info {
    nat_proto_t proto;
    addr_endpoint_t internal, external, remote; /* remote: the first one contacted */
    bool is_explicit, replied;
    usec_t expires_at;
} nat_mapping_info_t;

typedef struct nat_engine nat_engine_t;

/* public_ips: the addresses the topology gave this NAT (host order), used
 * when the profile names none. Validates the profile. */
nat_engine_t *nat_engine_new(const nat_profile_t *profile, const uint32_t *public_ips,
                             unsigned n_public_ips, uint64_t seed, usec_t now, GError **error);
void nat_engine_free(nat_engine_t *engine);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(nat_engine_t, nat_engine_free)

const nat_profile_t *nat_engine_profile(const nat_engine_t *engine);

/* A packet from inside: internal -> remote. Each protocol has its own
 * mappings and id space. ICMP queries pass the query identifier as the
 * internal and external "port" and 0 as the remote port; their mappings are
 * endpoint-independent whatever the profile's `mapping` (RFC 5508 REQ-1a),
 * time out after `icmp-timeout` (REQ-2), and are filtered by the profile's
 * `filtering` on the remote address (no port, so APDF acts as ADF). */
nat_verdict_t nat_engine_outbound(nat_engine_t *engine, nat_proto_t proto, addr_endpoint_t internal,
                                  addr_endpoint_t remote, usec_t now);
/* A packet from outside: remote -> external. */
nat_verdict_t nat_engine_inbound(nat_engine_t *engine, nat_proto_t proto, addr_endpoint_t remote,
                                 addr_endpoint_t external, usec_t now);

/* TCP segments, with their flags (NAT_TCP_*). Mappings, filtering and
 * allocation follow the profile as TCP sees it (the tcp-* overrides); each
 * connection (mapping, remote) is a session with the RFC 6146 states, timed
 * out after tcp-established-timeout or tcp-transitory-timeout, and a
 * dynamic mapping lives while one of its sessions does. A SYN opens a
 * session (inbound only if the filter admits it, RFC 5382 REQ-3); other
 * segments need one. Drops carry the reply the profile asks for
 * (tcp-unsolicited-syn, tcp-no-session, refused). */
nat_verdict_t nat_engine_outbound_tcp(nat_engine_t *engine, addr_endpoint_t internal,
                                      addr_endpoint_t remote, uint8_t flags, usec_t now);
nat_verdict_t nat_engine_inbound_tcp(nat_engine_t *engine, addr_endpoint_t remote,
                                     addr_endpoint_t external, uint8_t flags, usec_t now);
/* Expires what is due; returns the next deadline (NAT_ENGINE_NEVER if none). */
usec_t nat_engine_expire(nat_engine_t *engine, usec_t now);
/* Every mapping lost, a new port-mapping epoch starts at `now`. */
void nat_engine_reboot(nat_engine_t *engine, usec_t now);
/* The public address old_ip becomes new_ip (an ISP renumbering the line,
 * a DHCP lease lost): every mapping is lost, the epoch goes on. False when
 * old_ip is not one of ours, new_ip already is, or the NAT does not translate. */
bool nat_engine_change_ip(nat_engine_t *engine, uint32_t old_ip, uint32_t new_ip, usec_t now);
/* Every mapping lost; the epoch goes on. */
void nat_engine_flush(nat_engine_t *engine, usec_t now);
/* Replaces the profile at `now`. Changes to type, mapping, addresses, ranges
 * or blocks flush the mappings first; otherwise no mapping outlives
 * now + its new idle timeout, and filters apply from the next packet on. */
bool nat_engine_set_profile(nat_engine_t *engine, const nat_profile_t *profile, usec_t now,
                            GError **error);

const nat_engine_stats_t *nat_engine_stats(const nat_engine_t *engine);
/* TCP sessions held now. */
uint32_t nat_engine_sessions(const nat_engine_t *engine);
char *nat_engine_stats_json(const nat_engine_t *engine);
bool nat_engine_is_public(const nat_engine_t *engine, uint32_t ip);
unsigned nat_engine_public_ips(const nat_engine_t *engine, const uint32_t **ips);
/* Visits every active mapping (held ones are not mappings any more). */
void nat_engine_foreach(const nat_engine_t *engine,
                        void (*visit)(const nat_mapping_info_t *info, void *ctx), void *ctx);
/* Read-only lookups (no refresh, no creation), for ICMP errors (RFC 5508:
 * errors never refresh a mapping). By external endpoint, or by the internal
 * endpoint and the remote it talks to (the key the mapping behaviour uses). */
bool nat_engine_lookup_external(const nat_engine_t *engine, nat_proto_t proto,
                                addr_endpoint_t external, usec_t now, nat_mapping_info_t *info);
bool nat_engine_lookup_internal(const nat_engine_t *engine, nat_proto_t proto,
                                addr_endpoint_t internal, addr_endpoint_t remote, usec_t now,
                                nat_mapping_info_t *info);

/* Explicit mappings for NAT-PMP, PCP and UPnP IGD (RFC 6886, RFC 6887 MAP),
 * per protocol: EIM, and EIF since no FILTER option is supported. Outbound
 * packets from the internal endpoint use the explicit mapping while it lives. */
typedef enum nat_map_result {
    NAT_MAP_OK,
    NAT_MAP_NO_RESOURCES,    /* no free port */
    NAT_MAP_QUOTA,           /* subscriber quota */
    NAT_MAP_CANNOT_PROVIDE,  /* the suggested endpoint is taken and failure was preferred */
    NAT_MAP_UNSUPPORTED,     /* the profile does not translate */
} nat_map_result_t;

typedef struct nat_map_request {
    nat_proto_t proto; /* UDP (0) or TCP */
    addr_endpoint_t internal;
    uint16_t suggested_port; /* 0: any */
    uint32_t suggested_ip;   /* 0: any */
    usec_t lifetime;         /* > 0; clamped to port-mapping-lifetime-max */
    bool prefer_failure;     /* PCP PREFER_FAILURE: the suggestion or nothing */
} nat_map_request_t;

nat_map_result_t nat_engine_map(nat_engine_t *engine, const nat_map_request_t *request,
                                usec_t now, addr_endpoint_t *external, usec_t *lifetime);
/* Deletes the explicit mapping of an internal endpoint; false if none. */
bool nat_engine_unmap(nat_engine_t *engine, nat_proto_t proto, addr_endpoint_t internal, usec_t now);
/* Deletes every explicit mapping of `proto` of an internal host; returns how many. */
unsigned nat_engine_unmap_host(nat_engine_t *engine, nat_proto_t proto, uint32_t internal_ip,
                               usec_t now);
bool nat_engine_find_explicit(const nat_engine_t *engine, nat_proto_t proto,
                              addr_endpoint_t internal, usec_t now, nat_mapping_info_t *info);
/* The external address a host's mappings use (paired pooling), for NAT-PMP's
 * "external address" answer. */
uint32_t nat_engine_external_ip_for(nat_engine_t *engine, uint32_t internal_ip, usec_t now);
/* When the current port-mapping epoch began (creation or last reboot). */
usec_t nat_engine_epoch_start(const nat_engine_t *engine);
