/* The protocol dimension of a mapping: each protocol has its own space of
 * external "ports" (RFC 7857 section 5: per-protocol mappings by default),
 * so a UDP port and an ICMP query identifier of the same value never meet.
 * UDP is 0, so zeroed structs mean UDP; TCP will join as another value. */
#pragma once

typedef enum nat_proto {
    NAT_PROTO_UDP,
    NAT_PROTO_ICMP, /* ICMP queries (echo): the identifier plays the port (RFC 5508 section 3.1) */
    NAT_PROTO_COUNT
} nat_proto_t;

static inline const char *nat_proto_name(nat_proto_t proto)
{
    return proto == NAT_PROTO_UDP ? "udp" : proto == NAT_PROTO_ICMP ? "icmp" : "unknown";
}
