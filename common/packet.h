/* IPv4, UDP, TCP and ICMP as the NAT daemon sees them: parse a raw datagram from
 * NFQUEUE, rewrite addresses and ports in place with incremental checksum
 * updates (RFC 1624), and build the few datagrams natlab sends itself.
 *
 * Addresses and ports in the API are host order; the buffer keeps network
 * order. Checksums are updated on the 16-bit words in network order (see
 * kernel-notes.md). Nothing here allocates, reads a clock or crashes on
 * arbitrary input: every length is checked before the bytes are read. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* RFC 791 section 3.1, Internet Header Format:
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |Version|  IHL  |Type of Service|          Total Length         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |         Identification        |Flags|      Fragment Offset    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Time to Live |    Protocol   |         Header Checksum       |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                       Source Address                          |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Destination Address                        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Options                    |    Padding    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Flags: bit 0 reserved, bit 1 DF, bit 2 MF. Fragment Offset counts 8-byte units. */
#define PACKET_IPV4_HEADER_MIN 20  /* IHL 5 */
#define PACKET_IPV4_HEADER_MAX 60  /* IHL 15 */
#define PACKET_IPV4_TOTAL_MAX 65535
#define PACKET_IPV4_OFF_TOTAL_LENGTH 2
#define PACKET_IPV4_OFF_FRAGMENT 6
#define PACKET_IPV4_OFF_TTL 8
#define PACKET_IPV4_OFF_PROTOCOL 9
#define PACKET_IPV4_OFF_CHECKSUM 10
#define PACKET_IPV4_OFF_SRC 12
#define PACKET_IPV4_OFF_DST 16
#define PACKET_IPV4_FLAG_DF 0x4000
#define PACKET_IPV4_FLAG_MF 0x2000
#define PACKET_IPV4_FRAG_OFFSET_MASK 0x1fff
#define PACKET_IPV4_DEFAULT_TTL 64 /* RFC 1700 */

#define PACKET_IPPROTO_ICMP 1
#define PACKET_IPPROTO_TCP 6
#define PACKET_IPPROTO_UDP 17

/* RFC 768, User Datagram Header Format:
 *
 *   0      7 8     15 16    23 24    31
 *  +--------+--------+--------+--------+
 *  |     Source      |   Destination   |
 *  |      Port       |      Port       |
 *  +--------+--------+--------+--------+
 *  |                 |                 |
 *  |     Length      |    Checksum     |
 *  +--------+--------+--------+--------+
 *
 * The checksum covers this pseudo-header, the UDP header and the data:
 *
 *  +--------+--------+--------+--------+
 *  |          source address           |
 *  +--------+--------+--------+--------+
 *  |        destination address        |
 *  +--------+--------+--------+--------+
 *  |  zero  |protocol|   UDP length    |
 *  +--------+--------+--------+--------+
 *
 * "If the computed checksum is zero, it is transmitted as all ones. An all
 * zero transmitted checksum value means that the transmitter generated no
 * checksum." */
#define PACKET_UDP_HEADER 8
#define PACKET_UDP_OFF_CHECKSUM 6

/* RFC 793 section 3.1, TCP Header Format (RFC 9293 section 3.1):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |          Source Port          |       Destination Port        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                        Sequence Number                        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Acknowledgment Number                      |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Data |           |U|A|P|R|S|F|                               |
 *  | Offset| Reserved  |R|C|S|S|Y|I|            Window             |
 *  |       |           |G|K|H|T|N|N|                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |           Checksum            |         Urgent Pointer        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Options                    |    Padding    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                             data                              |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Data Offset counts 32-bit words (5..15). The checksum covers the same
 * pseudo-header as UDP's (protocol 6, the TCP length: header + data) and is
 * mandatory: 0 is an ordinary value, not "no checksum". */
#define PACKET_TCP_HEADER_MIN 20
#define PACKET_TCP_OFF_SEQ 4
#define PACKET_TCP_OFF_ACK 8
#define PACKET_TCP_OFF_DATA_OFFSET 12 /* high nibble */
#define PACKET_TCP_OFF_FLAGS 13
#define PACKET_TCP_OFF_WINDOW 14
#define PACKET_TCP_OFF_CHECKSUM 16
#define PACKET_TCP_FIN 0x01
#define PACKET_TCP_SYN 0x02
#define PACKET_TCP_RST 0x04
#define PACKET_TCP_PSH 0x08
#define PACKET_TCP_ACK 0x10
#define PACKET_TCP_URG 0x20

/* RFC 792, the ICMP error messages natlab translates (Destination
 * Unreachable, Time Exceeded, Parameter Problem):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Type      |     Code      |          Checksum             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |        unused (or Pointer, or Next-Hop MTU, RFC 1191)         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |      Internet Header + 64 bits of Original Data Datagram      |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The checksum covers the whole ICMP message, without a pseudo-header.
 * RFC 1812 section 4.3.2.3 lets routers quote more, up to 576 bytes in all. */
#define PACKET_ICMP_HEADER 8
#define PACKET_ICMP_OFF_CHECKSUM 2
#define PACKET_ICMP_DEST_UNREACH 3
#define PACKET_ICMP_TIME_EXCEEDED 11
#define PACKET_ICMP_PARAM_PROBLEM 12
#define PACKET_ICMP_CODE_NET_UNREACH 0
#define PACKET_ICMP_CODE_HOST_UNREACH 1
#define PACKET_ICMP_CODE_PORT_UNREACH 3
#define PACKET_ICMP_CODE_FRAG_NEEDED 4  /* rest of header: next-hop MTU, RFC 1191 */
#define PACKET_ICMP_CODE_ADMIN_PROHIBITED 13 /* RFC 1812 section 5.2.7.1 */
#define PACKET_ICMP_QUOTE_MAX 576 /* RFC 1812 4.3.2.3: the error, IP header included */

/* RFC 792, Echo or Echo Reply Message: the second word of the header holds
 * an identifier and a sequence number; the NAT translates the identifier
 * (RFC 5508 section 3.1: it plays the role of a port).
 *
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Type      |     Code      |          Checksum             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |           Identifier          |        Sequence Number        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Data ...
 */
#define PACKET_ICMP_ECHO_REPLY 0
#define PACKET_ICMP_ECHO_REQUEST 8
#define PACKET_ICMP_OFF_ID 4

typedef enum packet_error {
    PACKET_OK,
    PACKET_ERR_TOO_SHORT,         /* fewer bytes than a minimal IPv4 header */
    PACKET_ERR_BAD_VERSION,       /* not IPv4 */
    PACKET_ERR_BAD_IHL,           /* IHL below 5 */
    PACKET_ERR_BAD_TOTAL_LENGTH,  /* total length below IHL, or beyond the bytes given */
    PACKET_ERR_BAD_IP_CHECKSUM,
    PACKET_ERR_TRUNCATED_UDP,     /* fewer than 8 bytes for the UDP header */
    PACKET_ERR_BAD_UDP_LENGTH,    /* UDP length below 8 or beyond the IP payload */
    PACKET_ERR_TRUNCATED_ICMP,    /* fewer than 8 bytes for the ICMP header */
    PACKET_ERR_BAD_ICMP_CHECKSUM,
    PACKET_ERR_TRUNCATED_INNER,   /* an ICMP error quoting less than a whole IPv4 header */
    PACKET_ERR_BAD_INNER_HEADER,  /* the quoted header is not IPv4 or its IHL is below 5 */
    PACKET_ERR_TRUNCATED_TCP,     /* fewer than 20 bytes for the TCP header */
    PACKET_ERR_BAD_TCP_OFFSET,    /* data offset below 5 words or beyond the segment */
    PACKET_ERR_BAD_TCP_CHECKSUM,
    PACKET_ERROR_COUNT
} packet_error_t;

/* A short stable name ("bad-ip-checksum") for counters and logs. */
const char *packet_error_name(packet_error_t error);

typedef enum packet_kind {
    PACKET_KIND_UDP,
    PACKET_KIND_ICMP_ERROR, /* ICMP type 3, 11 or 12: `inner` is filled */
    PACKET_KIND_ICMP,       /* any other ICMP message (echo, ...) */
    PACKET_KIND_FRAGMENT,   /* MF set or offset > 0, whatever the protocol */
    PACKET_KIND_OTHER,      /* another protocol (SCTP, ...); only the IP header was checked */
    PACKET_KIND_TCP,        /* an unfragmented TCP segment, its checksum verified */
} packet_kind_t;

const char *packet_kind_name(packet_kind_t kind);

/* The datagram quoted inside an ICMP error: the packet that caused it. Its
 * total length and checksums describe the original datagram, of which only
 * the first `l4_len` bytes after its header are here. */
typedef struct packet_inner {
    size_t off;       /* of the quoted IPv4 header, from the start of the packet */
    uint8_t ihl;      /* bytes */
    uint8_t protocol;
    uint32_t src, dst;
    size_t l4_len;    /* bytes quoted after the inner header */
    bool is_fragment; /* the quoted datagram was a non-first fragment (no ports) */
    bool has_ports;   /* UDP or TCP, not a non-first fragment, at least 4 bytes quoted */
    bool has_udp_checksum_field; /* UDP: the whole 8-byte UDP header is quoted */
    bool has_tcp_checksum_field; /* TCP: at least 18 bytes of its header are quoted */
    uint16_t sport, dport;
    bool has_icmp_id; /* an echo request or reply, its 8-byte header quoted */
    uint16_t icmp_id;
} packet_inner_t;

typedef struct packet {
    uint8_t *data;     /* the buffer parsed; rewrites change it in place */
    size_t len;        /* the IPv4 total length; bytes past it in the buffer are ignored */
    packet_error_t error;
    packet_kind_t kind;
    uint8_t ihl;       /* header length in bytes, 20..60 */
    uint8_t protocol;
    uint8_t ttl;
    uint32_t src, dst; /* host order */
    bool dont_fragment, more_fragments;
    uint16_t frag_offset; /* in bytes */
    /* UDP datagrams, and the first fragment of a UDP datagram (whose UDP
     * length then describes the whole datagram, not this fragment). */
    bool has_udp;
    bool has_tcp;      /* PACKET_KIND_TCP only (a fragmented segment is not translated) */
    uint16_t sport, dport; /* UDP or TCP */
    uint8_t tcp_flags; /* PACKET_TCP_FIN ... PACKET_TCP_URG (and the ECN bits above) */
    uint32_t tcp_seq, tcp_ack;
    uint8_t tcp_header_len; /* bytes, 20..60 */
    /* UDP: the UDP payload. TCP: the data after the TCP header and options.
     * ICMP: the bytes after the 8-byte ICMP header. Fragments and other
     * protocols: the IP payload. */
    size_t payload_off, payload_len;
    uint8_t icmp_type, icmp_code; /* PACKET_KIND_ICMP and PACKET_KIND_ICMP_ERROR */
    bool has_icmp_id;             /* an echo request or reply, or the first fragment of one */
    uint16_t icmp_id;
    packet_inner_t inner;         /* PACKET_KIND_ICMP_ERROR only */
} packet_t;

/* Parses an IPv4 datagram of `len` bytes. On success every field of `out`
 * is set and out->error is PACKET_OK; on failure out->error says why and
 * the other fields must not be used. The IP header checksum is verified, and
 * the ICMP checksum of unfragmented ICMP messages (they are small and rare;
 * a forged error must not reach a mapping) and the TCP checksum of TCP
 * segments (a corrupt or forged SYN, FIN or RST must not create or end a
 * session; nfqueue hands over complete checksums). UDP checksums are not
 * verified: the incremental rewrites keep a bad one bad, so the receiver
 * still drops it. */
bool packet_parse(uint8_t *data, size_t len, packet_t *out);

/* Rewrites the source (destination) address and, when the packet has a UDP
 * or TCP header, the port; the IP header checksum, a non-zero UDP checksum
 * and the TCP checksum (always: it is mandatory) are updated incrementally,
 * the addresses being part of their pseudo-header. For ICMP, fragments
 * without a UDP header and other protocols only the address changes (`port`
 * is ignored): the ICMP checksum has no pseudo-header. */
void packet_set_src(packet_t *pkt, uint32_t ip, uint16_t port);
void packet_set_dst(packet_t *pkt, uint32_t ip, uint16_t port);

/* Rewrites an echo's identifier with an incremental update of the ICMP
 * checksum (RFC 1624), which has no pseudo-header: an address change does
 * not touch it. False, changing nothing, unless pkt->has_icmp_id. */
bool packet_set_icmp_id(packet_t *pkt, uint16_t id);

typedef enum packet_side { PACKET_SIDE_SRC, PACKET_SIDE_DST } packet_side_t;

/* Translates an ICMP error the way a NAT must (RFC 5508 section 4.2 / RFC
 * 4787 REQ-1): rewrites the quoted datagram's `side` address and port to
 * ip:port, and the outer header's opposite side to `ip`, since the error
 * travels back towards the quoted datagram's source.
 *   inbound error about an outbound packet:  side SRC, ip:port = internal
 *       (inner src and outer dst become the internal host);
 *   outbound error about an inbound packet:  side DST, ip:port = external
 *       (inner dst and outer src become the public address).
 * Updates the inner IP checksum, the inner UDP checksum when its field is
 * quoted whole and non-zero (half of one, in a 7-byte quote, stays as it
 * is: the carries of its missing byte are unknown), the inner TCP checksum
 * when its field is quoted whole (inner.has_tcp_checksum_field, 18 bytes or
 * more; RFC 792's 8 bytes hold only ports and sequence number), the ICMP
 * checksum and the outer IP checksum. The port (UDP or TCP) is only written
 * when the quote holds both (inner.has_ports). A quoted echo (inner.has_icmp_id) has its identifier
 * rewritten to `port` instead, and its ICMP checksum with it. Returns false,
 * changing nothing, unless pkt is a parsed PACKET_KIND_ICMP_ERROR. */
bool packet_icmp_rewrite_inner(packet_t *pkt, packet_side_t side, uint32_t ip, uint16_t port);

/* Decrements the TTL with an incremental checksum update. Returns false and
 * changes nothing when the TTL is 0 or 1: a router drops such a packet and
 * answers Time Exceeded (RFC 1812 section 5.3.1). */
bool packet_decrement_ttl(packet_t *pkt);

/* RFC 1071 Internet checksum of `len` bytes (an odd last byte is padded with
 * zero), as the value to store big-endian. A region containing a correct
 * checksum of itself yields 0. */
uint16_t packet_checksum(const uint8_t *data, size_t len);
/* The header checksum the IPv4 header at `hdr` (of `ihl` bytes) should carry;
 * the checksum field itself is treated as zero. */
uint16_t packet_ipv4_checksum(const uint8_t *hdr, size_t ihl);
/* The checksum a UDP datagram (header + data, `udp_len` bytes) between src
 * and dst (host order) should carry; the field itself is treated as zero and
 * a computed 0 comes back as 0xFFFF (RFC 768). */
uint16_t packet_udp_checksum(uint32_t src, uint32_t dst, const uint8_t *udp, size_t udp_len);
/* The checksum a TCP segment (header + data, `tcp_len` bytes) between src and
 * dst (host order) should carry; the field itself is treated as zero. Unlike
 * UDP's, a computed 0 stays 0. Returns 0 when tcp_len is below 20. */
uint16_t packet_tcp_checksum(uint32_t src, uint32_t dst, const uint8_t *tcp, size_t tcp_len);
/* Recomputes every checksum the packet carries in full and compares: IP
 * header, the UDP checksum unless it is 0 (none) or the packet is a
 * fragment, the TCP checksum, the ICMP checksum. For tests and debugging,
 * not the fast path. */
bool packet_verify_checksums(const packet_t *pkt);

/* Builds an IPv4/UDP datagram (DF set, ID 0 as RFC 6864 allows for atomic
 * datagrams, full UDP checksum) into buf. Returns its length, or 0 when it
 * does not fit in `cap` or in an IPv4 datagram. */
size_t packet_build_udp(uint8_t *buf, size_t cap, addr_endpoint_t src, addr_endpoint_t dst,
                        const void *payload, size_t len, uint8_t ttl);

/* Builds an IPv4/TCP segment (DF set, ID 0, a 20-byte TCP header without
 * options, urgent pointer 0, full TCP checksum). `ack` is written as given,
 * whether or not `flags` has PACKET_TCP_ACK. Returns its length, or 0 when
 * it does not fit in `cap` or in an IPv4 datagram. */
size_t packet_build_tcp(uint8_t *buf, size_t cap, addr_endpoint_t src, addr_endpoint_t dst,
                        uint32_t seq, uint32_t ack, uint8_t flags, uint16_t window,
                        const void *payload, size_t len, uint8_t ttl);

/* Builds the reset a host sends in answer to the parsed segment `orig` (RFC
 * 793 section 3.4 "Reset Generation", RFC 9293 section 3.10.7.1), from orig's
 * destination endpoint to its source endpoint, window 0, no data:
 *   orig has ACK:  <SEQ=SEG.ACK><CTL=RST>
 *   otherwise:     <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
 * where SEG.LEN counts the data plus one for SYN and one for FIN. Returns
 * its length, or 0 when orig is not a parsed PACKET_KIND_TCP, is itself a
 * reset ("a reset is never sent in response to a reset"), comes from a
 * source that is not unicast or goes to a broadcast or multicast address
 * (RFC 1122 section 4.2.3.10), or the reset does not fit in `cap`. */
size_t packet_build_tcp_reset(uint8_t *buf, size_t cap, const packet_t *orig, uint8_t ttl);

/* Builds an ICMP echo request or reply (`type`) with identifier and sequence
 * number and a full ICMP checksum, in the header packet_build_udp writes.
 * Returns its length, or 0 when it does not fit. */
size_t packet_build_icmp_echo(uint8_t *buf, size_t cap, uint32_t src, uint32_t dst, uint8_t type,
                              uint16_t id, uint16_t seq, const void *payload, size_t len,
                              uint8_t ttl);

/* May an ICMP error be sent about this packet? Not about an ICMP error, a
 * non-first fragment, or a packet from a broadcast, multicast, loopback or
 * zero source (RFC 1812 section 4.3.2.7). */
bool packet_may_send_icmp_error(const packet_t *orig);

/* Builds an ICMP error from `src` to the source of the original datagram
 * `orig` (raw bytes, at least its IPv4 header). `rest` fills the second
 * ICMP word (next-hop MTU for code 4 in its low 16 bits, the pointer of a
 * Parameter Problem in its top byte, else 0). The quote is `quote` bytes of
 * the original: 0 means its header + 8 bytes (RFC 792); more is capped at
 * what `orig` holds and at PACKET_ICMP_QUOTE_MAX in all (RFC 1812). Returns
 * the length, or 0 when orig has no valid IPv4 header, quote is shorter than
 * that header, or the message does not fit in `cap`. */
size_t packet_build_icmp_error(uint8_t *buf, size_t cap, uint32_t src, uint8_t type, uint8_t code,
                               uint32_t rest, const uint8_t *orig, size_t orig_len, size_t quote,
                               uint8_t ttl);
