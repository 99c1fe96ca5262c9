#include "packet.h"
#include "wire.h"

#include <string.h>

static const char *const error_names[PACKET_ERROR_COUNT] = {
    [PACKET_OK] = "ok",
    [PACKET_ERR_TOO_SHORT] = "too-short",
    [PACKET_ERR_BAD_VERSION] = "bad-version",
    [PACKET_ERR_BAD_IHL] = "bad-ihl",
    [PACKET_ERR_BAD_TOTAL_LENGTH] = "bad-total-length",
    [PACKET_ERR_BAD_IP_CHECKSUM] = "bad-ip-checksum",
    [PACKET_ERR_TRUNCATED_UDP] = "truncated-udp",
    [PACKET_ERR_BAD_UDP_LENGTH] = "bad-udp-length",
    [PACKET_ERR_TRUNCATED_ICMP] = "truncated-icmp",
    [PACKET_ERR_BAD_ICMP_CHECKSUM] = "bad-icmp-checksum",
    [PACKET_ERR_TRUNCATED_INNER] = "truncated-inner",
    [PACKET_ERR_BAD_INNER_HEADER] = "bad-inner-header",
    [PACKET_ERR_TRUNCATED_TCP] = "truncated-tcp",
    [PACKET_ERR_BAD_TCP_OFFSET] = "bad-tcp-offset",
    [PACKET_ERR_BAD_TCP_CHECKSUM] = "bad-tcp-checksum",
};

const char *packet_error_name(packet_error_t error)
{
    return (unsigned)error < PACKET_ERROR_COUNT ? error_names[error] : "unknown";
}

const char *packet_kind_name(packet_kind_t kind)
{
    switch (kind) {
    case PACKET_KIND_UDP: return "udp";
    case PACKET_KIND_ICMP_ERROR: return "icmp-error";
    case PACKET_KIND_ICMP: return "icmp";
    case PACKET_KIND_FRAGMENT: return "fragment";
    case PACKET_KIND_OTHER: return "other";
    case PACKET_KIND_TCP: return "tcp";
    }
    return "unknown";
}


/* --- checksums (RFC 1071, RFC 1624) --------------------------------------- */

/* Adds the 16-bit big-endian words of p to sum (an odd last byte is the
 * high half of a word padded with zero). RFC 1071 section 2 (B, C): the
 * sum may be taken 8 bytes a step in the host's byte order, folded, then
 * swapped; this runs over every byte of every TCP segment (64 KB with GSO). */
static uint64_t sum_words(const uint8_t *p, size_t len, uint64_t sum)
{
    uint64_t host = 0;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        host += w & 0xffffffffu; /* two 32-bit halves: no carry is lost */
        host += w >> 32;
    }
    for (; len >= 2; p += 2, len -= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        host += w;
    }
    if (len) {
        uint8_t last[2] = { p[0], 0 };
        uint16_t w;
        memcpy(&w, last, 2);
        host += w;
    }
    while (host >> 16)
        host = (host & 0xffff) + (host >> 16);
    return sum + wire_get16((const uint8_t *)&(uint16_t){ (uint16_t)host });
}

static uint16_t fold(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

uint16_t packet_checksum(const uint8_t *data, size_t len)
{
    return (uint16_t)~fold(sum_words(data, len, 0));
}

uint16_t packet_ipv4_checksum(const uint8_t *hdr, size_t ihl)
{
    if (ihl < PACKET_IPV4_HEADER_MIN)
        return 0;
    uint64_t sum = sum_words(hdr, PACKET_IPV4_OFF_CHECKSUM, 0);
    sum = sum_words(hdr + PACKET_IPV4_OFF_CHECKSUM + 2, ihl - PACKET_IPV4_OFF_CHECKSUM - 2, sum);
    return (uint16_t)~fold(sum);
}

uint16_t packet_udp_checksum(uint32_t src, uint32_t dst, const uint8_t *udp, size_t udp_len)
{
    if (udp_len < PACKET_UDP_HEADER)
        return 0;
    uint64_t sum = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) +
                   PACKET_IPPROTO_UDP + (udp_len & 0xffff);
    sum = sum_words(udp, PACKET_UDP_OFF_CHECKSUM, sum);
    sum = sum_words(udp + PACKET_UDP_HEADER, udp_len - PACKET_UDP_HEADER, sum);
    uint16_t c = (uint16_t)~fold(sum);
    return c ? c : 0xffff;
}

static uint64_t pseudo_header_sum(uint32_t src, uint32_t dst, uint8_t protocol, size_t len)
{
    return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + protocol + (len & 0xffff);
}

uint16_t packet_tcp_checksum(uint32_t src, uint32_t dst, const uint8_t *tcp, size_t tcp_len)
{
    if (tcp_len < PACKET_TCP_HEADER_MIN)
        return 0;
    uint64_t sum = pseudo_header_sum(src, dst, PACKET_IPPROTO_TCP, tcp_len);
    sum = sum_words(tcp, PACKET_TCP_OFF_CHECKSUM, sum);
    sum = sum_words(tcp + PACKET_TCP_OFF_CHECKSUM + 2, tcp_len - PACKET_TCP_OFF_CHECKSUM - 2, sum);
    return (uint16_t)~fold(sum);
}

/* True when the segment, its checksum field included, sums to all ones. */
static bool tcp_checksum_ok(uint32_t src, uint32_t dst, const uint8_t *tcp, size_t tcp_len)
{
    uint64_t sum = sum_words(tcp, tcp_len, pseudo_header_sum(src, dst, PACKET_IPPROTO_TCP, tcp_len));
    return fold(sum) == 0xffff;
}

/* RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), spread over two steps: a delta
 * collects ~m + m' for every 16-bit word that changes (values as they sit in
 * the buffer, i.e. network order), then applies to one checksum field. One
 * delta can feed several checksums that cover the same words. */
typedef struct csum_delta {
    uint64_t sum;
} csum_delta_t;

static inline void delta16(csum_delta_t *d, uint16_t old, uint16_t new)
{
    d->sum += (uint16_t)~old;
    d->sum += new;
}

static inline void delta32(csum_delta_t *d, uint32_t old, uint32_t new)
{
    delta16(d, (uint16_t)(old >> 16), (uint16_t)(new >> 16));
    delta16(d, (uint16_t)old, (uint16_t)new);
}

/* Applies the delta to the checksum at `field`; returns old and new values
 * through the pointers so a covering checksum can account for the change. */
static void delta_apply(const csum_delta_t *d, uint8_t *field, bool udp, uint16_t *old_out,
                        uint16_t *new_out)
{
    uint16_t old = wire_get16(field);
    uint16_t new = (uint16_t)~fold((uint16_t)~old + d->sum);
    if (udp && new == 0)
        new = 0xffff; /* RFC 768: a computed zero is sent as all ones */
    wire_put16(field, new);
    if (old_out)
        *old_out = old;
    if (new_out)
        *new_out = new;
}

/* --- parsing --------------------------------------------------------------- */

static bool fail(packet_t *out, packet_error_t error)
{
    out->error = error;
    return false;
}

static bool is_icmp_error_type(uint8_t type)
{
    return type == PACKET_ICMP_DEST_UNREACH || type == PACKET_ICMP_TIME_EXCEEDED ||
           type == PACKET_ICMP_PARAM_PROBLEM;
}

static bool parse_inner(packet_t *out)
{
    packet_inner_t *in = &out->inner;
    const uint8_t *q = out->data + out->payload_off;
    size_t quoted = out->payload_len;
    if (quoted < PACKET_IPV4_HEADER_MIN)
        return fail(out, PACKET_ERR_TRUNCATED_INNER);
    if (q[0] >> 4 != 4 || (q[0] & 0x0f) < 5)
        return fail(out, PACKET_ERR_BAD_INNER_HEADER);
    size_t ihl = (size_t)(q[0] & 0x0f) * 4;
    if (ihl > quoted)
        return fail(out, PACKET_ERR_TRUNCATED_INNER);
    in->off = out->payload_off;
    in->ihl = (uint8_t)ihl;
    in->protocol = q[PACKET_IPV4_OFF_PROTOCOL];
    in->src = wire_get32(q + PACKET_IPV4_OFF_SRC);
    in->dst = wire_get32(q + PACKET_IPV4_OFF_DST);
    in->l4_len = quoted - ihl;
    in->is_fragment = (wire_get16(q + PACKET_IPV4_OFF_FRAGMENT) & PACKET_IPV4_FRAG_OFFSET_MASK) != 0;
    bool udp = in->protocol == PACKET_IPPROTO_UDP, tcp = in->protocol == PACKET_IPPROTO_TCP;
    in->has_ports = (udp || tcp) && !in->is_fragment && in->l4_len >= 4;
    in->has_udp_checksum_field = udp && in->has_ports && in->l4_len >= PACKET_UDP_HEADER;
    in->has_tcp_checksum_field = tcp && in->has_ports && in->l4_len >= PACKET_TCP_OFF_CHECKSUM + 2;
    if (in->has_ports) {
        in->sport = wire_get16(q + ihl);
        in->dport = wire_get16(q + ihl + 2);
    }
    if (in->protocol == PACKET_IPPROTO_ICMP && !in->is_fragment && in->l4_len >= PACKET_ICMP_HEADER &&
        (q[ihl] == PACKET_ICMP_ECHO_REQUEST || q[ihl] == PACKET_ICMP_ECHO_REPLY)) {
        in->has_icmp_id = true;
        in->icmp_id = wire_get16(q + ihl + PACKET_ICMP_OFF_ID);
    }
    return true;
}

bool packet_parse(uint8_t *data, size_t len, packet_t *out)
{
    memset(out, 0, sizeof(*out));
    out->data = data;
    if (!data || len < PACKET_IPV4_HEADER_MIN)
        return fail(out, PACKET_ERR_TOO_SHORT);
    if (data[0] >> 4 != 4)
        return fail(out, PACKET_ERR_BAD_VERSION);
    size_t ihl = (size_t)(data[0] & 0x0f) * 4;
    if (ihl < PACKET_IPV4_HEADER_MIN)
        return fail(out, PACKET_ERR_BAD_IHL);
    size_t total = wire_get16(data + PACKET_IPV4_OFF_TOTAL_LENGTH);
    if (total < ihl || total > len)
        return fail(out, PACKET_ERR_BAD_TOTAL_LENGTH);
    if (packet_checksum(data, ihl) != 0)
        return fail(out, PACKET_ERR_BAD_IP_CHECKSUM);

    out->len = total;
    out->ihl = (uint8_t)ihl;
    out->ttl = data[PACKET_IPV4_OFF_TTL];
    out->protocol = data[PACKET_IPV4_OFF_PROTOCOL];
    out->src = wire_get32(data + PACKET_IPV4_OFF_SRC);
    out->dst = wire_get32(data + PACKET_IPV4_OFF_DST);
    uint16_t frag = wire_get16(data + PACKET_IPV4_OFF_FRAGMENT);
    out->dont_fragment = frag & PACKET_IPV4_FLAG_DF;
    out->more_fragments = frag & PACKET_IPV4_FLAG_MF;
    out->frag_offset = (uint16_t)((frag & PACKET_IPV4_FRAG_OFFSET_MASK) * 8);
    out->payload_off = ihl;
    out->payload_len = total - ihl;
    const uint8_t *l4 = data + ihl;
    size_t l4_len = total - ihl;

    if (out->more_fragments || out->frag_offset) {
        /* Only the first fragment carries the UDP header, and its length
         * field describes the reassembled datagram, so it is not checked
         * against this fragment. */
        out->kind = PACKET_KIND_FRAGMENT;
        if (out->frag_offset == 0 && out->protocol == PACKET_IPPROTO_UDP &&
            l4_len >= PACKET_UDP_HEADER) {
            out->has_udp = true;
            out->sport = wire_get16(l4);
            out->dport = wire_get16(l4 + 2);
        }
        /* The first fragment of an echo carries its identifier; its checksum
         * covers the whole datagram, so it cannot be verified here. */
        if (out->frag_offset == 0 && out->protocol == PACKET_IPPROTO_ICMP &&
            l4_len >= PACKET_ICMP_HEADER &&
            (l4[0] == PACKET_ICMP_ECHO_REQUEST || l4[0] == PACKET_ICMP_ECHO_REPLY)) {
            out->icmp_type = l4[0];
            out->icmp_code = l4[1];
            out->has_icmp_id = true;
            out->icmp_id = wire_get16(l4 + PACKET_ICMP_OFF_ID);
        }
        return true;
    }

    switch (out->protocol) {
    case PACKET_IPPROTO_UDP: {
        if (l4_len < PACKET_UDP_HEADER)
            return fail(out, PACKET_ERR_TRUNCATED_UDP);
        size_t udp_len = wire_get16(l4 + 4);
        if (udp_len < PACKET_UDP_HEADER || udp_len > l4_len)
            return fail(out, PACKET_ERR_BAD_UDP_LENGTH);
        out->kind = PACKET_KIND_UDP;
        out->has_udp = true;
        out->sport = wire_get16(l4);
        out->dport = wire_get16(l4 + 2);
        out->payload_off = ihl + PACKET_UDP_HEADER;
        out->payload_len = udp_len - PACKET_UDP_HEADER;
        return true;
    }
    case PACKET_IPPROTO_TCP: {
        if (l4_len < PACKET_TCP_HEADER_MIN)
            return fail(out, PACKET_ERR_TRUNCATED_TCP);
        size_t hlen = (size_t)(l4[PACKET_TCP_OFF_DATA_OFFSET] >> 4) * 4;
        if (hlen < PACKET_TCP_HEADER_MIN || hlen > l4_len)
            return fail(out, PACKET_ERR_BAD_TCP_OFFSET);
        if (!tcp_checksum_ok(out->src, out->dst, l4, l4_len))
            return fail(out, PACKET_ERR_BAD_TCP_CHECKSUM);
        out->kind = PACKET_KIND_TCP;
        out->has_tcp = true;
        out->sport = wire_get16(l4);
        out->dport = wire_get16(l4 + 2);
        out->tcp_seq = wire_get32(l4 + PACKET_TCP_OFF_SEQ);
        out->tcp_ack = wire_get32(l4 + PACKET_TCP_OFF_ACK);
        out->tcp_flags = l4[PACKET_TCP_OFF_FLAGS];
        out->tcp_header_len = (uint8_t)hlen;
        out->payload_off = ihl + hlen;
        out->payload_len = l4_len - hlen;
        return true;
    }
    case PACKET_IPPROTO_ICMP:
        if (l4_len < PACKET_ICMP_HEADER)
            return fail(out, PACKET_ERR_TRUNCATED_ICMP);
        if (packet_checksum(l4, l4_len) != 0)
            return fail(out, PACKET_ERR_BAD_ICMP_CHECKSUM);
        out->icmp_type = l4[0];
        out->icmp_code = l4[1];
        out->payload_off = ihl + PACKET_ICMP_HEADER;
        out->payload_len = l4_len - PACKET_ICMP_HEADER;
        if (!is_icmp_error_type(out->icmp_type)) {
            out->kind = PACKET_KIND_ICMP;
            if (out->icmp_type == PACKET_ICMP_ECHO_REQUEST || out->icmp_type == PACKET_ICMP_ECHO_REPLY) {
                out->has_icmp_id = true;
                out->icmp_id = wire_get16(l4 + PACKET_ICMP_OFF_ID);
            }
            return true;
        }
        out->kind = PACKET_KIND_ICMP_ERROR;
        return parse_inner(out);
    default:
        out->kind = PACKET_KIND_OTHER;
        return true;
    }
}

/* --- rewriting ------------------------------------------------------------- */

static void set_endpoint(packet_t *pkt, packet_side_t side, uint32_t ip, uint16_t port)
{
    if (pkt->error != PACKET_OK || !pkt->data)
        return;
    uint8_t *d = pkt->data;
    size_t ip_off = side == PACKET_SIDE_SRC ? PACKET_IPV4_OFF_SRC : PACKET_IPV4_OFF_DST;
    uint32_t *cur_ip = side == PACKET_SIDE_SRC ? &pkt->src : &pkt->dst;
    csum_delta_t ipd = { 0 };
    delta32(&ipd, wire_get32(d + ip_off), ip);
    wire_put32(d + ip_off, ip);
    delta_apply(&ipd, d + PACKET_IPV4_OFF_CHECKSUM, false, NULL, NULL);
    *cur_ip = ip;
    if (!pkt->has_udp && !pkt->has_tcp)
        return;

    /* The pseudo-header makes the address part of the UDP or TCP checksum too. */
    uint8_t *l4 = d + pkt->ihl;
    size_t port_off = side == PACKET_SIDE_SRC ? 0 : 2;
    csum_delta_t l4d = ipd;
    delta16(&l4d, wire_get16(l4 + port_off), port);
    wire_put16(l4 + port_off, port);
    if (side == PACKET_SIDE_SRC)
        pkt->sport = port;
    else
        pkt->dport = port;
    if (pkt->has_tcp)
        delta_apply(&l4d, l4 + PACKET_TCP_OFF_CHECKSUM, false, NULL, NULL);
    else if (wire_get16(l4 + PACKET_UDP_OFF_CHECKSUM) != 0)
        delta_apply(&l4d, l4 + PACKET_UDP_OFF_CHECKSUM, true, NULL, NULL);
}

void packet_set_src(packet_t *pkt, uint32_t ip, uint16_t port)
{
    set_endpoint(pkt, PACKET_SIDE_SRC, ip, port);
}

void packet_set_dst(packet_t *pkt, uint32_t ip, uint16_t port)
{
    set_endpoint(pkt, PACKET_SIDE_DST, ip, port);
}

bool packet_set_icmp_id(packet_t *pkt, uint16_t id)
{
    if (pkt->error != PACKET_OK || !pkt->has_icmp_id)
        return false;
    uint8_t *icmp = pkt->data + pkt->ihl;
    csum_delta_t d = { 0 };
    delta16(&d, wire_get16(icmp + PACKET_ICMP_OFF_ID), id);
    wire_put16(icmp + PACKET_ICMP_OFF_ID, id);
    delta_apply(&d, icmp + PACKET_ICMP_OFF_CHECKSUM, false, NULL, NULL);
    /* RFC 1624 eqn. 3 yields 0x0000 where only 0xFFFF is right when every
     * other word is zero (an empty echo reply with id and sequence 0), the
     * one case ones' complement arithmetic cannot tell apart: recompute. */
    if (wire_get16(icmp + PACKET_ICMP_OFF_CHECKSUM) == 0 && pkt->kind == PACKET_KIND_ICMP) {
        size_t icmp_len = pkt->len - pkt->ihl;
        wire_put16(icmp + PACKET_ICMP_OFF_CHECKSUM, 0);
        wire_put16(icmp + PACKET_ICMP_OFF_CHECKSUM, packet_checksum(icmp, icmp_len));
    }
    pkt->icmp_id = id;
    return true;
}

bool packet_icmp_rewrite_inner(packet_t *pkt, packet_side_t side, uint32_t ip, uint16_t port)
{
    if (pkt->error != PACKET_OK || pkt->kind != PACKET_KIND_ICMP_ERROR)
        return false;
    packet_inner_t *in = &pkt->inner;
    uint8_t *q = pkt->data + in->off;
    csum_delta_t icmpd = { 0 }; /* every word that changes inside the ICMP message */

    size_t ip_off = side == PACKET_SIDE_SRC ? PACKET_IPV4_OFF_SRC : PACKET_IPV4_OFF_DST;
    csum_delta_t addrd = { 0 };
    delta32(&addrd, wire_get32(q + ip_off), ip);
    wire_put32(q + ip_off, ip);
    icmpd.sum += addrd.sum;
    uint16_t old_c, new_c;
    delta_apply(&addrd, q + PACKET_IPV4_OFF_CHECKSUM, false, &old_c, &new_c);
    delta16(&icmpd, old_c, new_c);
    if (side == PACKET_SIDE_SRC)
        in->src = ip;
    else
        in->dst = ip;

    if (in->has_ports) {
        uint8_t *l4 = q + in->ihl;
        size_t port_off = side == PACKET_SIDE_SRC ? 0 : 2;
        csum_delta_t l4d = addrd; /* the quoted UDP or TCP pseudo-header */
        delta16(&l4d, wire_get16(l4 + port_off), port);
        delta16(&icmpd, wire_get16(l4 + port_off), port);
        wire_put16(l4 + port_off, port);
        if (side == PACKET_SIDE_SRC)
            in->sport = port;
        else
            in->dport = port;
        if (in->has_udp_checksum_field && wire_get16(l4 + PACKET_UDP_OFF_CHECKSUM) != 0) {
            delta_apply(&l4d, l4 + PACKET_UDP_OFF_CHECKSUM, true, &old_c, &new_c);
            delta16(&icmpd, old_c, new_c);
        } else if (in->has_tcp_checksum_field) {
            delta_apply(&l4d, l4 + PACKET_TCP_OFF_CHECKSUM, false, &old_c, &new_c);
            delta16(&icmpd, old_c, new_c);
        }
    } else if (in->has_icmp_id) {
        /* The quoted echo's checksum has no pseudo-header: only the id counts. */
        uint8_t *echo = q + in->ihl;
        csum_delta_t idd = { 0 };
        delta16(&idd, wire_get16(echo + PACKET_ICMP_OFF_ID), port);
        icmpd.sum += idd.sum;
        wire_put16(echo + PACKET_ICMP_OFF_ID, port);
        in->icmp_id = port;
        delta_apply(&idd, echo + PACKET_ICMP_OFF_CHECKSUM, false, &old_c, &new_c);
        delta16(&icmpd, old_c, new_c);
    }
    delta_apply(&icmpd, pkt->data + pkt->ihl + PACKET_ICMP_OFF_CHECKSUM, false, NULL, NULL);

    /* The error goes back to the quoted datagram's source. */
    set_endpoint(pkt, side == PACKET_SIDE_SRC ? PACKET_SIDE_DST : PACKET_SIDE_SRC, ip, 0);
    return true;
}

bool packet_decrement_ttl(packet_t *pkt)
{
    uint8_t *d = pkt->data;
    if (pkt->error != PACKET_OK || !d || d[PACKET_IPV4_OFF_TTL] <= 1)
        return false;
    uint16_t old = wire_get16(d + PACKET_IPV4_OFF_TTL); /* TTL and protocol share a word */
    d[PACKET_IPV4_OFF_TTL]--;
    csum_delta_t dd = { 0 };
    delta16(&dd, old, wire_get16(d + PACKET_IPV4_OFF_TTL));
    delta_apply(&dd, d + PACKET_IPV4_OFF_CHECKSUM, false, NULL, NULL);
    pkt->ttl = d[PACKET_IPV4_OFF_TTL];
    return true;
}

bool packet_verify_checksums(const packet_t *pkt)
{
    const uint8_t *d = pkt->data;
    if (pkt->error != PACKET_OK)
        return false;
    if (packet_checksum(d, pkt->ihl) != 0)
        return false;
    const uint8_t *l4 = d + pkt->ihl;
    switch (pkt->kind) {
    case PACKET_KIND_UDP: {
        uint16_t stored = wire_get16(l4 + PACKET_UDP_OFF_CHECKSUM);
        size_t udp_len = wire_get16(l4 + 4);
        return stored == 0 || stored == packet_udp_checksum(pkt->src, pkt->dst, l4, udp_len);
    }
    case PACKET_KIND_TCP:
        return tcp_checksum_ok(pkt->src, pkt->dst, l4, pkt->len - pkt->ihl);
    case PACKET_KIND_ICMP:
    case PACKET_KIND_ICMP_ERROR:
        return packet_checksum(l4, pkt->len - pkt->ihl) == 0;
    default:
        return true;
    }
}

/* --- building -------------------------------------------------------------- */

static void write_ipv4_header(uint8_t *buf, size_t total, uint8_t protocol, uint8_t ttl,
                              uint32_t src, uint32_t dst)
{
    memset(buf, 0, PACKET_IPV4_HEADER_MIN);
    buf[0] = 0x45;
    wire_put16(buf + PACKET_IPV4_OFF_TOTAL_LENGTH, (uint16_t)total);
    wire_put16(buf + PACKET_IPV4_OFF_FRAGMENT, PACKET_IPV4_FLAG_DF);
    buf[PACKET_IPV4_OFF_TTL] = ttl;
    buf[PACKET_IPV4_OFF_PROTOCOL] = protocol;
    wire_put32(buf + PACKET_IPV4_OFF_SRC, src);
    wire_put32(buf + PACKET_IPV4_OFF_DST, dst);
    wire_put16(buf + PACKET_IPV4_OFF_CHECKSUM, packet_ipv4_checksum(buf, PACKET_IPV4_HEADER_MIN));
}

size_t packet_build_udp(uint8_t *buf, size_t cap, addr_endpoint_t src, addr_endpoint_t dst,
                        const void *payload, size_t len, uint8_t ttl)
{
    size_t total = PACKET_IPV4_HEADER_MIN + PACKET_UDP_HEADER + len;
    if (len > PACKET_IPV4_TOTAL_MAX - PACKET_IPV4_HEADER_MIN - PACKET_UDP_HEADER || total > cap ||
        (len && !payload))
        return 0;
    uint8_t *udp = buf + PACKET_IPV4_HEADER_MIN;
    if (len) /* first, in case the payload already sits in buf */
        memmove(udp + PACKET_UDP_HEADER, payload, len);
    write_ipv4_header(buf, total, PACKET_IPPROTO_UDP, ttl, src.ip, dst.ip);
    wire_put16(udp, src.port);
    wire_put16(udp + 2, dst.port);
    wire_put16(udp + 4, (uint16_t)(PACKET_UDP_HEADER + len));
    wire_put16(udp + PACKET_UDP_OFF_CHECKSUM, 0);
    wire_put16(udp + PACKET_UDP_OFF_CHECKSUM,
          packet_udp_checksum(src.ip, dst.ip, udp, PACKET_UDP_HEADER + len));
    return total;
}

size_t packet_build_tcp(uint8_t *buf, size_t cap, addr_endpoint_t src, addr_endpoint_t dst,
                        uint32_t seq, uint32_t ack, uint8_t flags, uint16_t window,
                        const void *payload, size_t len, uint8_t ttl)
{
    size_t total = PACKET_IPV4_HEADER_MIN + PACKET_TCP_HEADER_MIN + len;
    if (len > PACKET_IPV4_TOTAL_MAX - PACKET_IPV4_HEADER_MIN - PACKET_TCP_HEADER_MIN ||
        total > cap || (len && !payload))
        return 0;
    uint8_t *tcp = buf + PACKET_IPV4_HEADER_MIN;
    if (len) /* first, in case the payload already sits in buf */
        memmove(tcp + PACKET_TCP_HEADER_MIN, payload, len);
    write_ipv4_header(buf, total, PACKET_IPPROTO_TCP, ttl, src.ip, dst.ip);
    memset(tcp, 0, PACKET_TCP_HEADER_MIN);
    wire_put16(tcp, src.port);
    wire_put16(tcp + 2, dst.port);
    wire_put32(tcp + PACKET_TCP_OFF_SEQ, seq);
    wire_put32(tcp + PACKET_TCP_OFF_ACK, ack);
    tcp[PACKET_TCP_OFF_DATA_OFFSET] = (PACKET_TCP_HEADER_MIN / 4) << 4;
    tcp[PACKET_TCP_OFF_FLAGS] = flags;
    wire_put16(tcp + PACKET_TCP_OFF_WINDOW, window);
    wire_put16(tcp + PACKET_TCP_OFF_CHECKSUM,
               packet_tcp_checksum(src.ip, dst.ip, tcp, PACKET_TCP_HEADER_MIN + len));
    return total;
}

size_t packet_build_icmp_echo(uint8_t *buf, size_t cap, uint32_t src, uint32_t dst, uint8_t type,
                              uint16_t id, uint16_t seq, const void *payload, size_t len,
                              uint8_t ttl)
{
    size_t total = PACKET_IPV4_HEADER_MIN + PACKET_ICMP_HEADER + len;
    if (len > PACKET_IPV4_TOTAL_MAX - PACKET_IPV4_HEADER_MIN - PACKET_ICMP_HEADER || total > cap ||
        (len && !payload))
        return 0;
    uint8_t *icmp = buf + PACKET_IPV4_HEADER_MIN;
    if (len)
        memmove(icmp + PACKET_ICMP_HEADER, payload, len);
    write_ipv4_header(buf, total, PACKET_IPPROTO_ICMP, ttl, src, dst);
    icmp[0] = type;
    icmp[1] = 0;
    wire_put16(icmp + PACKET_ICMP_OFF_CHECKSUM, 0);
    wire_put16(icmp + PACKET_ICMP_OFF_ID, id);
    wire_put16(icmp + PACKET_ICMP_OFF_ID + 2, seq);
    wire_put16(icmp + PACKET_ICMP_OFF_CHECKSUM, packet_checksum(icmp, PACKET_ICMP_HEADER + len));
    return total;
}

static bool ip_is_unicast_source(uint32_t ip)
{
    uint8_t first = (uint8_t)(ip >> 24);
    return ip != 0 && ip != 0xffffffffu && first != 127 && first < 224;
}

bool packet_may_send_icmp_error(const packet_t *orig)
{
    if (orig->error != PACKET_OK || orig->frag_offset != 0)
        return false;
    if (orig->kind == PACKET_KIND_ICMP_ERROR)
        return false;
    /* A fragment of an ICMP message might be an error: stay silent. */
    if (orig->kind == PACKET_KIND_FRAGMENT && orig->protocol == PACKET_IPPROTO_ICMP)
        return false;
    return ip_is_unicast_source(orig->src) && orig->dst != 0xffffffffu &&
           (orig->dst >> 28) != 0xe;
}

size_t packet_build_tcp_reset(uint8_t *buf, size_t cap, const packet_t *orig, uint8_t ttl)
{
    if (orig->error != PACKET_OK || orig->kind != PACKET_KIND_TCP || !orig->has_tcp)
        return 0;
    if (orig->tcp_flags & PACKET_TCP_RST)
        return 0; /* RFC 793: a reset is never sent in response to a reset */
    if (!ip_is_unicast_source(orig->src) || orig->dst == 0xffffffffu || (orig->dst >> 28) == 0xe)
        return 0;
    addr_endpoint_t from = addr_endpoint(orig->dst, orig->dport);
    addr_endpoint_t to = addr_endpoint(orig->src, orig->sport);
    if (orig->tcp_flags & PACKET_TCP_ACK)
        return packet_build_tcp(buf, cap, from, to, orig->tcp_ack, 0, PACKET_TCP_RST, 0, NULL, 0,
                                ttl);
    /* SEG.LEN: SYN and FIN each occupy one sequence number. */
    uint32_t seg_len = (uint32_t)orig->payload_len + !!(orig->tcp_flags & PACKET_TCP_SYN) +
                       !!(orig->tcp_flags & PACKET_TCP_FIN);
    return packet_build_tcp(buf, cap, from, to, 0, orig->tcp_seq + seg_len,
                            PACKET_TCP_RST | PACKET_TCP_ACK, 0, NULL, 0, ttl);
}

size_t packet_build_icmp_error(uint8_t *buf, size_t cap, uint32_t src, uint8_t type, uint8_t code,
                               uint32_t rest, const uint8_t *orig, size_t orig_len, size_t quote,
                               uint8_t ttl)
{
    if (!orig || orig_len < PACKET_IPV4_HEADER_MIN || orig[0] >> 4 != 4)
        return 0;
    size_t orig_ihl = (size_t)(orig[0] & 0x0f) * 4;
    if (orig_ihl < PACKET_IPV4_HEADER_MIN || orig_ihl > orig_len)
        return 0;
    if (quote == 0)
        quote = orig_ihl + 8;
    if (quote < orig_ihl)
        return 0;
    if (quote > orig_len)
        quote = orig_len;
    if (quote > PACKET_ICMP_QUOTE_MAX - PACKET_IPV4_HEADER_MIN - PACKET_ICMP_HEADER)
        quote = PACKET_ICMP_QUOTE_MAX - PACKET_IPV4_HEADER_MIN - PACKET_ICMP_HEADER;
    size_t total = PACKET_IPV4_HEADER_MIN + PACKET_ICMP_HEADER + quote;
    if (total > cap)
        return 0;
    uint32_t dst = wire_get32(orig + PACKET_IPV4_OFF_SRC);
    uint8_t *icmp = buf + PACKET_IPV4_HEADER_MIN;
    memmove(icmp + PACKET_ICMP_HEADER, orig, quote); /* first: orig may sit in buf */
    write_ipv4_header(buf, total, PACKET_IPPROTO_ICMP, ttl, src, dst);
    icmp[0] = type;
    icmp[1] = code;
    wire_put16(icmp + PACKET_ICMP_OFF_CHECKSUM, 0);
    wire_put32(icmp + 4, rest);
    wire_put16(icmp + PACKET_ICMP_OFF_CHECKSUM, packet_checksum(icmp, PACKET_ICMP_HEADER + quote));
    return total;
}
