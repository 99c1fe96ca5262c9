/* The protocol dimension of a mapping: each protocol has its own space of
 * external "ports" (RFC 7857 section 5: per-protocol mappings by default),
 * so a UDP port and an ICMP query identifier of the same value never meet.
 * UDP is 0, so zeroed structs mean UDP. */
#pragma once

typedef enum nat_proto {
    NAT_PROTO_UDP,
    NAT_PROTO_ICMP, /* ICMP queries (echo): the identifier plays the port (RFC 5508 section 3.1) */
    NAT_PROTO_TCP,
    NAT_PROTO_COUNT
} nat_proto_t;

/* TCP header flags as the engine needs them (RFC 793 bit values). */
enum nat_tcp_flags {
    NAT_TCP_FIN = 0x01,
    NAT_TCP_SYN = 0x02,
    NAT_TCP_RST = 0x04,
    NAT_TCP_ACK = 0x10,
};

static inline const char *nat_proto_name(nat_proto_t proto)
{
    switch (proto) {
    case NAT_PROTO_UDP:
        return "udp";
    case NAT_PROTO_ICMP:
        return "icmp";
    case NAT_PROTO_TCP:
        return "tcp";
    case NAT_PROTO_COUNT:
        break;
    }
    return "unknown";
}
