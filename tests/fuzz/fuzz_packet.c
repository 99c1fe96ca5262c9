/* Fuzzes common/packet on its own, the parser every datagram from the wire
 * meets first: whatever parses must describe bytes inside the buffer; every
 * rewrite must keep valid checksums valid (UDP, TCP, ICMP, the quoted
 * datagram of an ICMP error); a reset is built only for a TCP segment that
 * is not a reset, and parses with valid checksums.
 * Input: [src ip:4 port:2][dst ip:4 port:2][op:1][the datagram] */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/packet.h"

#define PARAMS 13

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void check_sane(const packet_t *p, size_t len)
{
    if (p->len > len || p->ihl < PACKET_IPV4_HEADER_MIN || p->ihl > p->len ||
        p->payload_off + p->payload_len > p->len)
        abort();
    if (p->kind == PACKET_KIND_TCP &&
        (!p->has_tcp || p->tcp_header_len < PACKET_TCP_HEADER_MIN ||
         p->payload_off != p->ihl + p->tcp_header_len))
        abort();
    if (p->kind == PACKET_KIND_ICMP_ERROR &&
        (p->inner.off + p->inner.ihl + p->inner.l4_len > p->len ||
         (p->inner.has_tcp_checksum_field && p->inner.l4_len < PACKET_TCP_OFF_CHECKSUM + 2)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < PARAMS)
        return 0;
    uint32_t ip1 = get32(data), ip2 = get32(data + 6);
    uint16_t port1 = get16(data + 4), port2 = get16(data + 10);
    uint8_t op = data[12];
    size_t len = size - PARAMS;
    uint8_t *buf = malloc(len ? len : 1); /* exactly len: ASan sees any overrun */
    memcpy(buf, data + PARAMS, len);

    packet_t p;
    if (!packet_parse(buf, len, &p)) {
        if (p.error <= PACKET_OK || p.error >= PACKET_ERROR_COUNT)
            abort();
        free(buf);
        return 0;
    }
    check_sane(&p, len);
    bool valid = packet_verify_checksums(&p);

    static uint8_t out[2048];
    size_t n = packet_build_tcp_reset(out, sizeof out, &p, 64);
    if (n) {
        packet_t r;
        if (p.kind != PACKET_KIND_TCP || (p.tcp_flags & PACKET_TCP_RST) || n != 40 ||
            !packet_parse(out, n, &r) || !packet_verify_checksums(&r) || r.kind != PACKET_KIND_TCP ||
            !(r.tcp_flags & PACKET_TCP_RST) || r.src != p.dst || r.dst != p.src ||
            r.sport != p.dport || r.dport != p.sport)
            abort();
    }
    if (packet_may_send_icmp_error(&p)) {
        n = packet_build_icmp_error(out, sizeof out, ip1, PACKET_ICMP_DEST_UNREACH, op & 15, 0, buf,
                                    p.len, op & 0x80 ? p.len : 0, 64);
        packet_t e;
        if (n && (!packet_parse(out, n, &e) || e.kind != PACKET_KIND_ICMP_ERROR ||
                  !packet_verify_checksums(&e)))
            abort();
    }

    if (op & 1)
        packet_set_src(&p, ip1, port1);
    if (op & 2)
        packet_set_dst(&p, ip2, port2);
    if (op & 4)
        packet_decrement_ttl(&p);
    if ((op & 8) && packet_icmp_rewrite_inner(&p, op & 16 ? PACKET_SIDE_SRC : PACKET_SIDE_DST, ip2,
                                              port2) != (p.kind == PACKET_KIND_ICMP_ERROR))
        abort();
    if (op & 32)
        packet_set_icmp_id(&p, port1);
    if (valid && !packet_verify_checksums(&p))
        abort();
    /* The rewritten packet parses again to what the rewrites said. */
    packet_t again;
    if (valid && (!packet_parse(buf, len, &again) || again.kind != p.kind || again.src != p.src ||
                  again.dst != p.dst || again.sport != p.sport || again.dport != p.dport ||
                  again.inner.sport != p.inner.sport || again.inner.dport != p.inner.dport ||
                  again.inner.src != p.inner.src || again.inner.dst != p.inner.dst))
        abort();
    free(buf);
    return 0;
}
