/* The router core: raw IPv4 packets through the engine, rewritten with valid
 * checksums; ICMP errors translated both ways; junk dropped and counted;
 * impairments hold and release. No sockets: bytes in, decisions out. */
#include "common/packet.h"
#include "natsim/nat_control.h"
#include "natsim/nat_router.h"
#include "natsim/nat_rules.h"
#include "natsim_fixture.h"
#include "testutil.h"

typedef struct frame {
    uint8_t data[4096];
    size_t len;
} frame_t;

static frame_t udp(addr_endpoint_t src, addr_endpoint_t dst, const char *payload)
{
    frame_t f;
    f.len = packet_build_udp(f.data, sizeof f.data, src, dst, payload, strlen(payload), 64);
    CU_ASSERT_TRUE_FATAL(f.len > 0);
    return f;
}

#define GATEWAY_TEST_IP ADDR_IP(192, 168, 1, 1)

static packet_t parsed(frame_t *f)
{
    packet_t p;
    CU_ASSERT_TRUE_FATAL(packet_parse(f->data, f->len, &p));
    CU_ASSERT_TRUE(packet_verify_checksums(&p));
    return p;
}

static void test_outbound_inbound_rewrite(void)
{
    nat_engine_t *e = engine_from("preset = port-restricted-cone\n", 1);
    nat_router_t *r = nat_router_new(e, 1);
    frame_t f = udp(ep(HOST_A, 5000), ep(REMOTE_Y, 3478), "hello");
    nat_router_decision_t d = nat_router_process(r, NAT_ROUTER_OUTBOUND, f.data, f.len, 0);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
    CU_ASSERT_TRUE(d.rewritten);
    CU_ASSERT_FALSE(d.to_inside);
    packet_t p = parsed(&f);
    CU_ASSERT_EQUAL(p.src, PUB1);
    CU_ASSERT_EQUAL(p.sport, 5000);
    CU_ASSERT_EQUAL(p.dst, REMOTE_Y);

    frame_t back = udp(ep(REMOTE_Y, 3478), ep(PUB1, 5000), "answer");
    d = nat_router_process(r, NAT_ROUTER_INBOUND, back.data, back.len, 1);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
    CU_ASSERT_TRUE(d.to_inside);
    p = parsed(&back);
    CU_ASSERT_EQUAL(p.dst, HOST_A);
    CU_ASSERT_EQUAL(p.dport, 5000);

    frame_t stranger = udp(ep(REMOTE_Z, 1), ep(PUB1, 5000), "x");
    d = nat_router_process(r, NAT_ROUTER_INBOUND, stranger.data, stranger.len, 2);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_DROP);
    CU_ASSERT_EQUAL(d.drop, NAT_ROUTER_DROP_ENGINE);
    CU_ASSERT_EQUAL(d.engine_reason, NAT_DROP_FILTERED);
    nat_router_free(r);
    nat_engine_free(e);
}

static void test_icmp_errors_translated(void)
{
    nat_engine_t *e = engine_from("preset = symmetric\n", 2);
    nat_router_t *r = nat_router_new(e, 2);
    frame_t f = udp(ep(HOST_A, 5000), ep(REMOTE_Y, 3478), "probe");
    nat_router_process(r, NAT_ROUTER_OUTBOUND, f.data, f.len, 0);
    packet_t sent = parsed(&f);

    /* A router on the way answers "port unreachable" about what we sent. */
    frame_t err;
    err.len = packet_build_icmp_error(err.data, sizeof err.data, REMOTE_Z, PACKET_ICMP_DEST_UNREACH,
                                      PACKET_ICMP_CODE_PORT_UNREACH, 0, f.data, f.len, 0, 64);
    CU_ASSERT_TRUE_FATAL(err.len > 0);
    nat_router_decision_t d = nat_router_process(r, NAT_ROUTER_INBOUND, err.data, err.len, 1);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
    packet_t p = parsed(&err);
    CU_ASSERT_EQUAL(p.dst, HOST_A);
    CU_ASSERT_EQUAL(p.inner.src, HOST_A);
    CU_ASSERT_EQUAL(p.inner.sport, 5000);
    CU_ASSERT_EQUAL(nat_router_stats(r)->icmp_translated, 1);

    /* The host inside refuses an inbound packet: the error goes out translated. */
    frame_t in_pkt = udp(ep(REMOTE_Y, 3478), ep(PUB1, sent.sport), "data");
    nat_router_process(r, NAT_ROUTER_INBOUND, in_pkt.data, in_pkt.len, 2);
    frame_t out_err;
    out_err.len = packet_build_icmp_error(out_err.data, sizeof out_err.data, HOST_A, PACKET_ICMP_DEST_UNREACH,
                                          PACKET_ICMP_CODE_PORT_UNREACH, 0, in_pkt.data, in_pkt.len, 0, 64);
    d = nat_router_process(r, NAT_ROUTER_OUTBOUND, out_err.data, out_err.len, 3);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
    p = parsed(&out_err);
    CU_ASSERT_EQUAL(p.src, PUB1);
    CU_ASSERT_EQUAL(p.inner.dst, PUB1);
    CU_ASSERT_EQUAL(p.inner.dport, sent.sport);

    /* An error about a flow we never carried is dropped. */
    frame_t other = udp(ep(PUB1, 9), ep(REMOTE_Y, 9), "?");
    frame_t bogus;
    bogus.len = packet_build_icmp_error(bogus.data, sizeof bogus.data, REMOTE_Z, PACKET_ICMP_DEST_UNREACH,
                                        PACKET_ICMP_CODE_PORT_UNREACH, 0, other.data, other.len, 0, 64);
    d = nat_router_process(r, NAT_ROUTER_INBOUND, bogus.data, bogus.len, 4);
    CU_ASSERT_EQUAL(d.drop, NAT_ROUTER_DROP_ICMP_UNKNOWN);
    /* ...and errors do not refresh: the mapping still dies on time. */
    CU_ASSERT_EQUAL(nat_engine_expire(e, 0), 5 * 60 * USEC_PER_SEC);
    nat_router_free(r);
    nat_engine_free(e);
}

static unsigned fragment(const frame_t *whole, size_t mtu, frame_t *parts, unsigned max)
{
    size_t payload = whole->len - 20, chunk = (mtu - 20) & ~(size_t)7, off = 0;
    unsigned n = 0;
    while (off < payload && n < max) {
        size_t len = MIN(chunk, payload - off);
        frame_t *f = &parts[n++];
        memcpy(f->data, whole->data, 20);
        memcpy(f->data + 20, whole->data + 20 + off, len);
        f->len = 20 + len;
        uint16_t frag = (uint16_t)((off / 8) | (off + len < payload ? 0x2000 : 0));
        f->data[2] = (uint8_t)(f->len >> 8);
        f->data[3] = (uint8_t)f->len;
        f->data[4] = 0x12; /* an IP ID of its own */
        f->data[5] = 0x34;
        f->data[6] = (uint8_t)(frag >> 8);
        f->data[7] = (uint8_t)frag;
        f->data[10] = f->data[11] = 0;
        uint16_t sum = packet_ipv4_checksum(f->data, 20);
        f->data[10] = (uint8_t)(sum >> 8);
        f->data[11] = (uint8_t)sum;
        off += len;
    }
    return n;
}

/* A 3000-byte ping crosses in fragments: the first carries the identifier,
 * the others follow its translation; reassembled, the ICMP checksum holds. */
static void test_fragmented_echo(void)
{
    nat_engine_t *e = engine_from("preset = symmetric\n", 34);
    nat_router_t *r = nat_router_new(e, 34);
    uint8_t big[3000];
    memset(big, 'p', sizeof big);
    frame_t whole;
    whole.len = packet_build_icmp_echo(whole.data, sizeof whole.data, HOST_A, REMOTE_Y,
                                       PACKET_ICMP_ECHO_REQUEST, 0x4242, 1, big, sizeof big, 64);
    frame_t parts[4];
    unsigned n = fragment(&whole, 1500, parts, 4);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    uint8_t icmp[3008];
    size_t off = 0;
    for (unsigned i = 0; i < n; i++) {
        nat_router_decision_t d = nat_router_process(r, NAT_ROUTER_OUTBOUND, parts[i].data, parts[i].len, i);
        CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
        packet_t p = parsed(&parts[i]);
        CU_ASSERT_EQUAL(p.src, PUB1);
        memcpy(icmp + off, parts[i].data + 20, parts[i].len - 20);
        off += parts[i].len - 20;
    }
    CU_ASSERT_EQUAL(off, 8 + sizeof big);
    CU_ASSERT_EQUAL(packet_checksum(icmp, off), 0);
    uint16_t ext_id = (uint16_t)(icmp[4] << 8 | icmp[5]);
    CU_ASSERT_NOT_EQUAL(ext_id, 0x4242); /* symmetric: a random identifier */

    frame_t reply;
    reply.len = packet_build_icmp_echo(reply.data, sizeof reply.data, REMOTE_Y, PUB1,
                                       PACKET_ICMP_ECHO_REPLY, ext_id, 1, big, sizeof big, 64);
    n = fragment(&reply, 1500, parts, 4);
    off = 0;
    for (unsigned i = 0; i < n; i++) {
        nat_router_decision_t d = nat_router_process(r, NAT_ROUTER_INBOUND, parts[i].data, parts[i].len, 10 + i);
        CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
        CU_ASSERT_EQUAL(parsed(&parts[i]).dst, HOST_A);
        memcpy(icmp + off, parts[i].data + 20, parts[i].len - 20);
        off += parts[i].len - 20;
    }
    CU_ASSERT_EQUAL(packet_checksum(icmp, off), 0);
    CU_ASSERT_EQUAL(icmp[4] << 8 | icmp[5], 0x4242);
    nat_router_free(r);
    nat_engine_free(e);
}

/* ---- TCP ---------------------------------------------------------------- */

static frame_t tcp_seg(addr_endpoint_t src, addr_endpoint_t dst, uint32_t seq, uint32_t ack,
                       uint8_t flags)
{
    frame_t f;
    f.len = packet_build_tcp(f.data, sizeof f.data, src, dst, seq, ack, flags, 1024, "", 0, 64);
    CU_ASSERT_TRUE_FATAL(f.len > 0);
    return f;
}

static void test_tcp_rewritten_both_ways(void)
{
    nat_engine_t *e = engine_from("preset = symmetric\n", 30);
    nat_router_t *r = nat_router_new(e, 30);
    frame_t syn = tcp_seg(ep(HOST_A, 40000), ep(REMOTE_Y, 443), 100, 0, PACKET_TCP_SYN);
    nat_router_decision_t d = nat_router_process(r, NAT_ROUTER_OUTBOUND, syn.data, syn.len, 0);
    CU_ASSERT_EQUAL_FATAL(d.action, NAT_ROUTER_ACCEPT);
    CU_ASSERT_TRUE(d.rewritten);
    packet_t p = parsed(&syn); /* checksums verified after the rewrite */
    CU_ASSERT_EQUAL(p.src, PUB1);
    CU_ASSERT_NOT_EQUAL(p.sport, 40000); /* random allocation */
    uint16_t ext = p.sport;
    frame_t synack = tcp_seg(ep(REMOTE_Y, 443), ep(PUB1, ext), 900, 101, PACKET_TCP_SYN | PACKET_TCP_ACK);
    d = nat_router_process(r, NAT_ROUTER_INBOUND, synack.data, synack.len, 1);
    CU_ASSERT_EQUAL_FATAL(d.action, NAT_ROUTER_ACCEPT);
    CU_ASSERT_TRUE(d.to_inside);
    p = parsed(&synack);
    CU_ASSERT_EQUAL(p.dst, HOST_A);
    CU_ASSERT_EQUAL(p.dport, 40000);
    CU_ASSERT_EQUAL(nat_router_stats(r)->tcp_translated, 2);

    /* An ICMP error about the connection comes back translated (RFC 5508 4.2). */
    frame_t sent = tcp_seg(ep(PUB1, ext), ep(REMOTE_Y, 443), 101, 901, PACKET_TCP_ACK);
    frame_t err;
    err.len = packet_build_icmp_error(err.data, sizeof err.data, REMOTE_Z, PACKET_ICMP_DEST_UNREACH,
                                      PACKET_ICMP_CODE_FRAG_NEEDED, 1400, sent.data, sent.len, 28, 64);
    d = nat_router_process(r, NAT_ROUTER_INBOUND, err.data, err.len, 2);
    CU_ASSERT_EQUAL_FATAL(d.action, NAT_ROUTER_ACCEPT);
    p = parsed(&err);
    CU_ASSERT_EQUAL(p.dst, HOST_A);
    CU_ASSERT_EQUAL(p.inner.src, HOST_A);
    CU_ASSERT_EQUAL(p.inner.sport, 40000);
    nat_router_free(r);
    nat_engine_free(e);
}

/* An unsolicited SYN answered as configured; the answer is a real segment
 * or ICMP message from our public address. */
static void test_tcp_unsolicited_answers(void)
{
    nat_engine_t *e = engine_from("preset = port-restricted-cone\ntcp-unsolicited-syn = rst\n", 31);
    nat_router_t *r = nat_router_new(e, 31);
    frame_t syn = tcp_seg(ep(REMOTE_Z, 5555), ep(PUB1, 7000), 77, 0, PACKET_TCP_SYN);
    frame_t orig = syn;
    nat_router_decision_t d = nat_router_process(r, NAT_ROUTER_INBOUND, syn.data, syn.len, 0);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_DROP);
    CU_ASSERT_EQUAL(d.reply, NAT_REPLY_TCP_RST);
    CU_ASSERT_EQUAL(memcmp(syn.data, orig.data, syn.len), 0); /* a drop leaves the bytes */
    frame_t rst;
    rst.len = nat_router_build_reply(r, &d, syn.data, syn.len, GATEWAY_TEST_IP, rst.data,
                                     sizeof rst.data, 0);
    CU_ASSERT_TRUE_FATAL(rst.len > 0);
    packet_t p = parsed(&rst);
    CU_ASSERT_EQUAL(p.src, PUB1);
    CU_ASSERT_EQUAL(p.sport, 7000);
    CU_ASSERT_EQUAL(p.dst, REMOTE_Z);
    CU_ASSERT_EQUAL(p.tcp_flags, PACKET_TCP_RST | PACKET_TCP_ACK);
    CU_ASSERT_EQUAL(p.tcp_ack, 78);

    nat_profile_t *icmp = nat_profile_copy(nat_engine_profile(e));
    CU_ASSERT_TRUE_FATAL(nat_profile_set(icmp, "tcp-unsolicited-syn", "icmp", NULL));
    CU_ASSERT_TRUE_FATAL(nat_engine_set_profile(e, icmp, 1, NULL));
    nat_profile_free(icmp);
    d = nat_router_process(r, NAT_ROUTER_INBOUND, syn.data, syn.len, 1);
    CU_ASSERT_EQUAL(d.reply, NAT_REPLY_ICMP_PORT_UNREACHABLE);
    frame_t un;
    un.len = nat_router_build_reply(r, &d, syn.data, syn.len, GATEWAY_TEST_IP, un.data, sizeof un.data, 1);
    p = parsed(&un);
    CU_ASSERT_EQUAL(p.kind, PACKET_KIND_ICMP_ERROR);
    CU_ASSERT_EQUAL(p.icmp_code, PACKET_ICMP_CODE_PORT_UNREACH);
    CU_ASSERT_EQUAL(p.src, PUB1);
    CU_ASSERT_EQUAL(p.dst, REMOTE_Z);
    CU_ASSERT_EQUAL(p.inner.sport, 5555);
    CU_ASSERT_EQUAL(nat_router_stats(r)->replies[NAT_REPLY_TCP_RST], 1);
    CU_ASSERT_EQUAL(nat_router_stats(r)->replies[NAT_REPLY_ICMP_PORT_UNREACHABLE], 1);
    nat_router_free(r);
    nat_engine_free(e);
}

/* RFC 5382 REQ-4: held 6 s; an outbound SYN of the pair drops it silently,
 * otherwise ICMP port unreachable when the time is up. */
static void test_tcp_hold(void)
{
    nat_engine_t *e = engine_from("preset = port-restricted-cone\n", 32);
    nat_router_t *r = nat_router_new(e, 32);
    frame_t early = tcp_seg(ep(REMOTE_Z, 5555), ep(PUB1, 7000), 1, 0, PACKET_TCP_SYN);
    nat_router_decision_t d = nat_router_process(r, NAT_ROUTER_INBOUND, early.data, early.len, 0);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_DROP);
    CU_ASSERT_EQUAL(d.reply, NAT_REPLY_NONE); /* nothing for the shell to send now */
    CU_ASSERT_EQUAL(nat_router_next_due(r), NAT_ROUTER_SYN_HOLD);
    frame_t other = tcp_seg(ep(REMOTE_Y, 6666), ep(PUB1, 7001), 1, 0, PACKET_TCP_SYN);
    nat_router_process(r, NAT_ROUTER_INBOUND, other.data, other.len, 1);
    uint8_t out[600];
    CU_ASSERT_EQUAL(nat_router_held_due(r, NAT_ROUTER_SYN_HOLD - 1, out, sizeof out), 0);

    /* The inside host connects to Z from 7000 within the 6 s: Z's SYN goes
     * silently, and Z's retransmitted SYN now meets a session. */
    frame_t mine = tcp_seg(ep(HOST_A, 7000), ep(REMOTE_Z, 5555), 9, 0, PACKET_TCP_SYN);
    d = nat_router_process(r, NAT_ROUTER_OUTBOUND, mine.data, mine.len, 2 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
    CU_ASSERT_EQUAL(nat_router_stats(r)->syn_held_superseded, 1);
    frame_t again = tcp_seg(ep(REMOTE_Z, 5555), ep(PUB1, 7000), 1, 0, PACKET_TCP_SYN);
    d = nat_router_process(r, NAT_ROUTER_INBOUND, again.data, again.len, 3 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);

    /* The first due is superseded (nothing to send); Y's gets its 3/3. */
    size_t n = nat_router_held_due(r, NAT_ROUTER_SYN_HOLD + 1, out, sizeof out);
    CU_ASSERT_TRUE_FATAL(n > 0);
    packet_t p;
    CU_ASSERT_TRUE_FATAL(packet_parse(out, n, &p));
    CU_ASSERT_EQUAL(p.kind, PACKET_KIND_ICMP_ERROR);
    CU_ASSERT_EQUAL(p.icmp_code, PACKET_ICMP_CODE_PORT_UNREACH);
    CU_ASSERT_EQUAL(p.dst, REMOTE_Y);
    CU_ASSERT_EQUAL(p.src, PUB1);
    CU_ASSERT_EQUAL(p.inner.dport, 7001);
    CU_ASSERT_EQUAL(nat_router_held_due(r, NAT_ROUTER_SYN_HOLD + 1, out, sizeof out), 0);
    CU_ASSERT_EQUAL(nat_router_next_due(r), NAT_IMPAIR_NEVER);
    CU_ASSERT_EQUAL(nat_router_stats(r)->syn_held, 2);
    CU_ASSERT_EQUAL(nat_router_stats(r)->syn_held_answered, 1);
    nat_router_free(r);
    nat_engine_free(e);
}

/* Refused by the allow-list with `refused = reject`: a reset as if from the
 * remote for TCP, ICMP 3/13 from the router for UDP. */
static void test_refused_rejected(void)
{
    nat_engine_t *e = engine_from("allow-out-tcp = 443\nallow-out-udp = 53\nrefused = reject\n", 33);
    nat_router_t *r = nat_router_new(e, 33);
    frame_t ssh = tcp_seg(ep(HOST_A, 40000), ep(REMOTE_Y, 22), 5, 0, PACKET_TCP_SYN);
    nat_router_decision_t d = nat_router_process(r, NAT_ROUTER_OUTBOUND, ssh.data, ssh.len, 0);
    CU_ASSERT_EQUAL(d.engine_reason, NAT_DROP_REFUSED);
    frame_t rst;
    rst.len = nat_router_build_reply(r, &d, ssh.data, ssh.len, GATEWAY_TEST_IP, rst.data, sizeof rst.data, 0);
    packet_t p = parsed(&rst);
    CU_ASSERT_EQUAL(p.src, REMOTE_Y);
    CU_ASSERT_EQUAL(p.sport, 22);
    CU_ASSERT_EQUAL(p.dst, HOST_A);
    CU_ASSERT_TRUE(p.tcp_flags & PACKET_TCP_RST);
    frame_t stun = udp(ep(HOST_A, 40001), ep(REMOTE_Y, 3478), "x");
    d = nat_router_process(r, NAT_ROUTER_OUTBOUND, stun.data, stun.len, 0);
    CU_ASSERT_EQUAL(d.reply, NAT_REPLY_ICMP_ADMIN_PROHIBITED);
    frame_t un;
    un.len = nat_router_build_reply(r, &d, stun.data, stun.len, GATEWAY_TEST_IP, un.data, sizeof un.data, 0);
    p = parsed(&un);
    CU_ASSERT_EQUAL(p.src, GATEWAY_TEST_IP);
    CU_ASSERT_EQUAL(p.dst, HOST_A);
    CU_ASSERT_EQUAL(p.icmp_code, PACKET_ICMP_CODE_ADMIN_PROHIBITED);
    frame_t dns = udp(ep(HOST_A, 40002), ep(REMOTE_Y, 53), "q");
    CU_ASSERT_EQUAL(nat_router_process(r, NAT_ROUTER_OUTBOUND, dns.data, dns.len, 0).action,
                    NAT_ROUTER_ACCEPT);
    nat_router_free(r);
    nat_engine_free(e);
}

static void test_junk_dropped_and_counted(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\n", 3);
    nat_router_t *r = nat_router_new(e, 3);
    uint8_t junk[64] = { 0x45, 0 };
    nat_router_decision_t d = nat_router_process(r, NAT_ROUTER_OUTBOUND, junk, 10, 0);
    CU_ASSERT_EQUAL(d.drop, NAT_ROUTER_DROP_MALFORMED);
    CU_ASSERT_EQUAL(d.parse_error, PACKET_ERR_TOO_SHORT);
    frame_t f = udp(ep(HOST_A, 5000), ep(REMOTE_Y, 1), "abc"); /* made SCTP: not translated */
    f.data[PACKET_IPV4_OFF_PROTOCOL] = 132;
    f.data[PACKET_IPV4_OFF_CHECKSUM] = f.data[PACKET_IPV4_OFF_CHECKSUM + 1] = 0;
    uint16_t sum = packet_ipv4_checksum(f.data, 20);
    f.data[PACKET_IPV4_OFF_CHECKSUM] = (uint8_t)(sum >> 8);
    f.data[PACKET_IPV4_OFF_CHECKSUM + 1] = (uint8_t)sum;
    d = nat_router_process(r, NAT_ROUTER_OUTBOUND, f.data, f.len, 0);
    CU_ASSERT_EQUAL(d.drop, NAT_ROUTER_DROP_NOT_UDP);
    frame_t g = udp(ep(HOST_A, 5000), ep(REMOTE_Y, 1), "abc");
    g.data[15] ^= 0xff; /* corrupt the source address: bad header checksum */
    d = nat_router_process(r, NAT_ROUTER_OUTBOUND, g.data, g.len, 0);
    CU_ASSERT_EQUAL(d.parse_error, PACKET_ERR_BAD_IP_CHECKSUM);
    const nat_router_stats_t *s = nat_router_stats(r);
    CU_ASSERT_EQUAL(s->drops[NAT_ROUTER_DROP_MALFORMED], 2);
    CU_ASSERT_EQUAL(s->drops[NAT_ROUTER_DROP_NOT_UDP], 1);
    CU_ASSERT_EQUAL(s->malformed[PACKET_ERR_BAD_IP_CHECKSUM], 1);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 0);
    nat_router_free(r);
    nat_engine_free(e);
}

static void test_hairpin_path(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\n", 4);
    nat_router_t *r = nat_router_new(e, 4);
    frame_t b = udp(ep(HOST_B, 6000), ep(REMOTE_Y, 1), "b");
    nat_router_process(r, NAT_ROUTER_OUTBOUND, b.data, b.len, 0);
    frame_t h = udp(ep(HOST_A, 5000), ep(PUB1, 6000), "to b");
    nat_router_decision_t d = nat_router_process(r, NAT_ROUTER_HAIRPIN, h.data, h.len, 1);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
    CU_ASSERT_TRUE(d.to_inside);
    packet_t p = parsed(&h);
    CU_ASSERT_EQUAL(p.src, PUB1);
    CU_ASSERT_EQUAL(p.sport, 5000);
    CU_ASSERT_EQUAL(p.dst, HOST_B);
    CU_ASSERT_EQUAL(p.dport, 6000);

    /* B answers the hairpinned datagram with port unreachable: the error,
     * sent to A's external address, turns back in to A with the quoted
     * datagram as A sent it (RFC 5508 section 7). */
    frame_t err;
    err.len = packet_build_icmp_error(err.data, sizeof err.data, HOST_B, PACKET_ICMP_DEST_UNREACH,
                                      PACKET_ICMP_CODE_PORT_UNREACH, 0, h.data, h.len, 0, 64);
    d = nat_router_process(r, NAT_ROUTER_HAIRPIN, err.data, err.len, 2);
    CU_ASSERT_EQUAL_FATAL(d.action, NAT_ROUTER_ACCEPT);
    CU_ASSERT_TRUE(d.to_inside);
    p = parsed(&err);
    CU_ASSERT_EQUAL(p.src, PUB1);      /* from B's external address */
    CU_ASSERT_EQUAL(p.dst, HOST_A);
    CU_ASSERT_EQUAL(p.inner.src, HOST_A);
    CU_ASSERT_EQUAL(p.inner.sport, 5000);
    CU_ASSERT_EQUAL(p.inner.dst, PUB1);
    CU_ASSERT_EQUAL(p.inner.dport, 6000);
    nat_router_free(r);
    nat_engine_free(e);
}

static frame_t echo_frame(uint32_t src, uint32_t dst, uint8_t type, uint16_t id)
{
    frame_t f;
    f.len = packet_build_icmp_echo(f.data, sizeof f.data, src, dst, type, id, 1, "ping", 4, 64);
    CU_ASSERT_TRUE_FATAL(f.len > 0);
    return f;
}

/* A NAT from profile keys and its router, for the echo tests. */
typedef struct echo_lab {
    nat_engine_t *e;
    nat_router_t *r;
} echo_lab_t;

static echo_lab_t echo_lab(const char *keys, uint64_t seed)
{
    nat_engine_t *e = engine_from(keys, seed);
    return (echo_lab_t){ e, nat_router_new(e, seed) };
}

static void echo_lab_free(echo_lab_t *lab)
{
    nat_router_free(lab->r);
    nat_engine_free(lab->e);
}

/* An echo of `type` src -> dst through the router on `path`; *f keeps the
 * bytes as the router left them. */
static nat_router_decision_t echo_send(echo_lab_t *lab, nat_router_path_t path, frame_t *f,
                                       uint32_t src, uint32_t dst, uint8_t type, uint16_t id,
                                       usec_t now)
{
    *f = echo_frame(src, dst, type, id);
    return nat_router_process(lab->r, path, f->data, f->len, now);
}

#define REQUEST PACKET_ICMP_ECHO_REQUEST
#define REPLY PACKET_ICMP_ECHO_REPLY

/* RFC 5508 section 3: an echo request goes out with the mapping's identifier
 * and its reply comes back to the host's own; checksums are recomputed in
 * full (parsed) and the ICMP one by hand. */
static void test_echo_out_and_back(void)
{
    echo_lab_t lab = echo_lab("preset = port-restricted-cone\n", 11);
    frame_t f;
    nat_router_decision_t d = echo_send(&lab, NAT_ROUTER_OUTBOUND, &f, HOST_A, REMOTE_Y, REQUEST, 0x1234, 0);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
    CU_ASSERT_TRUE(d.rewritten);
    CU_ASSERT_FALSE(d.to_inside);
    packet_t p = parsed(&f);
    CU_ASSERT_EQUAL(p.src, PUB1);
    CU_ASSERT_EQUAL(p.dst, REMOTE_Y);
    CU_ASSERT_EQUAL(p.icmp_id, 0x1234); /* preserved */
    CU_ASSERT_EQUAL(packet_checksum(f.data + 20, f.len - 20), 0);

    d = echo_send(&lab, NAT_ROUTER_INBOUND, &f, REMOTE_Y, PUB1, REPLY, 0x1234, 1);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
    CU_ASSERT_TRUE(d.to_inside);
    p = parsed(&f);
    CU_ASSERT_EQUAL(p.src, REMOTE_Y);
    CU_ASSERT_EQUAL(p.dst, HOST_A);
    CU_ASSERT_EQUAL(p.icmp_id, 0x1234);

    const nat_router_stats_t *s = nat_router_stats(lab.r);
    CU_ASSERT_EQUAL(s->echo_translated, 2);
    CU_ASSERT_EQUAL(s->drops[NAT_ROUTER_DROP_NOT_UDP], 0);
    CU_ASSERT_EQUAL(nat_engine_stats(lab.e)->forwarded[NAT_PROTO_ICMP][0], 1);
    CU_ASSERT_EQUAL(nat_engine_stats(lab.e)->forwarded[NAT_PROTO_ICMP][1], 1);
    g_autofree char *json = nat_router_stats_json(lab.r);
    ASSERT_CONTAINS(json, "\"echo_translated\":2");
    nat_control_target_t t = { .engine = lab.e, .router = lab.r };
    g_autofree char *maps = nat_control_execute(&t, "mappings", 2);
    ASSERT_CONTAINS(maps, "\"protocol\":\"icmp\",\"internal\":\"192.168.1.10:4660\"");
    ASSERT_CONTAINS(json, "\"icmp\":{\"outbound\":1,\"inbound\":1}");
    echo_lab_free(&lab);
}

/* Identifiers come from the profile's port-range like ports, so 7000
 * is preserved where 7 would not be. Two hosts with the same identifier:
 * the second gets another one, and each reply finds its own host. */
static void test_echo_id_collision(void)
{
    echo_lab_t lab = echo_lab("preset = port-restricted-cone\n", 12);
    frame_t a, b;
    echo_send(&lab, NAT_ROUTER_OUTBOUND, &a, HOST_A, REMOTE_Y, REQUEST, 7000, 0);
    echo_send(&lab, NAT_ROUTER_OUTBOUND, &b, HOST_B, REMOTE_Y, REQUEST, 7000, 0);
    uint16_t id_a = parsed(&a).icmp_id, id_b = parsed(&b).icmp_id;
    CU_ASSERT_EQUAL(id_a, 7000);
    CU_ASSERT_NOT_EQUAL(id_b, 7000);
    nat_router_decision_t d = echo_send(&lab, NAT_ROUTER_INBOUND, &b, REMOTE_Y, PUB1, REPLY, id_b, 1);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
    packet_t p = parsed(&b);
    CU_ASSERT_EQUAL(p.dst, HOST_B);
    CU_ASSERT_EQUAL(p.icmp_id, 7000);
    echo_lab_free(&lab);
}

/* A reply from a host nobody pinged: the profile's filter decides on the
 * address (queries have no port). */
static void test_echo_reply_filtered(void)
{
    const char *profiles[] = { "preset = port-restricted-cone\n", "preset = full-cone\n" };
    for (int i = 0; i < 2; i++) {
        echo_lab_t lab = echo_lab(profiles[i], 13);
        frame_t f;
        echo_send(&lab, NAT_ROUTER_OUTBOUND, &f, HOST_A, REMOTE_Y, REQUEST, 9900, 0);
        nat_router_decision_t d = echo_send(&lab, NAT_ROUTER_INBOUND, &f, REMOTE_Z, PUB1, REPLY, 9900, 1);
        if (i == 0) {
            CU_ASSERT_EQUAL(d.action, NAT_ROUTER_DROP);
            CU_ASSERT_EQUAL(d.engine_reason, NAT_DROP_FILTERED);
        } else {
            CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
            CU_ASSERT_EQUAL(parsed(&f).dst, HOST_A);
        }
        /* An identifier nobody uses is no mapping at all. */
        d = echo_send(&lab, NAT_ROUTER_INBOUND, &f, REMOTE_Y, PUB1, REPLY, 9901, 1);
        CU_ASSERT_EQUAL(d.engine_reason, NAT_DROP_NO_MAPPING);
        echo_lab_free(&lab);
    }
}

/* RFC 5508: errors never refresh a query mapping (nor does an inbound
 * reply, with refresh = outbound). One about our echo arrives just before
 * the timeout and is translated back (REQ-3: the quoted echo gets the
 * host's address and identifier, every checksum recomputed in full);
 * the reply at the timeout finds nothing. */
static void test_echo_not_refreshed_by_errors(void)
{
    echo_lab_t lab = echo_lab("preset = full-cone\nicmp-timeout = 60s\n", 14);
    frame_t f, g;
    echo_send(&lab, NAT_ROUTER_OUTBOUND, &f, HOST_A, REMOTE_Y, REQUEST, 50, 0);
    uint16_t ext = parsed(&f).icmp_id; /* 50 is below port-range: not preserved */
    CU_ASSERT_NOT_EQUAL(ext, 50);
    nat_router_decision_t d =
        echo_send(&lab, NAT_ROUTER_INBOUND, &g, REMOTE_Y, PUB1, REPLY, ext, 60 * USEC_PER_SEC - 20);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
    frame_t err;
    err.len = packet_build_icmp_error(err.data, sizeof err.data, REMOTE_Z,
                                      PACKET_ICMP_TIME_EXCEEDED, 0, 0, f.data, f.len, f.len, 64);
    d = nat_router_process(lab.r, NAT_ROUTER_INBOUND, err.data, err.len, 60 * USEC_PER_SEC - 10);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
    packet_t p = parsed(&err);
    CU_ASSERT_EQUAL(p.dst, HOST_A);
    CU_ASSERT_EQUAL(p.inner.src, HOST_A);
    CU_ASSERT_EQUAL(p.inner.icmp_id, 50);
    CU_ASSERT_EQUAL(packet_checksum(err.data + p.inner.off + 20, p.inner.l4_len), 0);
    CU_ASSERT_EQUAL(nat_router_stats(lab.r)->icmp_translated, 1);
    d = echo_send(&lab, NAT_ROUTER_INBOUND, &g, REMOTE_Y, PUB1, REPLY, ext, 60 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_DROP);
    CU_ASSERT_EQUAL(d.engine_reason, NAT_DROP_NO_MAPPING);
    echo_lab_free(&lab);
}

static void fix_checksum(uint8_t *field, const uint8_t *data, size_t len)
{
    field[0] = field[1] = 0;
    uint16_t sum = packet_checksum(data, len);
    field[0] = (uint8_t)(sum >> 8);
    field[1] = (uint8_t)sum;
}

/* Truncated, corrupted and untranslated ICMP: dropped under a name. */
static void test_echo_malformed(void)
{
    echo_lab_t lab = echo_lab("preset = full-cone\n", 15);
    frame_t f = echo_frame(HOST_A, REMOTE_Y, REQUEST, 5);
    f.data[3] = 26; /* 6 bytes of ICMP: the header is cut */
    fix_checksum(f.data + 10, f.data, 20);
    nat_router_decision_t d = nat_router_process(lab.r, NAT_ROUTER_OUTBOUND, f.data, 26, 0);
    CU_ASSERT_EQUAL(d.drop, NAT_ROUTER_DROP_MALFORMED);
    CU_ASSERT_EQUAL(d.parse_error, PACKET_ERR_TRUNCATED_ICMP);

    f = echo_frame(HOST_A, REMOTE_Y, REQUEST, 5);
    f.data[f.len - 1] ^= 0x40; /* payload changed, checksum not */
    d = nat_router_process(lab.r, NAT_ROUTER_OUTBOUND, f.data, f.len, 0);
    CU_ASSERT_EQUAL(d.parse_error, PACKET_ERR_BAD_ICMP_CHECKSUM);

    f = echo_frame(HOST_A, REMOTE_Y, 13 /* timestamp */, 5);
    fix_checksum(f.data + 22, f.data + 20, f.len - 20);
    d = nat_router_process(lab.r, NAT_ROUTER_OUTBOUND, f.data, f.len, 0);
    CU_ASSERT_EQUAL(d.drop, NAT_ROUTER_DROP_ICMP_UNSUPPORTED);
    CU_ASSERT_STRING_EQUAL(nat_router_drop_name(d.drop), "icmp-unsupported");
    CU_ASSERT_EQUAL(nat_engine_stats(lab.e)->active, 0);
    echo_lab_free(&lab);
}

/* A host pinging the NAT's public address: the echo carries one identifier,
 * which after translation names the sender's own mapping, so it turns back
 * to the sender from the public address (REQ-9a), and so does its answer. */
static void test_echo_hairpin(void)
{
    echo_lab_t lab = echo_lab("preset = full-cone\n", 16);
    frame_t f;
    nat_router_decision_t d = echo_send(&lab, NAT_ROUTER_HAIRPIN, &f, HOST_A, PUB1, REQUEST, 42, 0);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
    CU_ASSERT_TRUE(d.to_inside);
    packet_t p = parsed(&f);
    CU_ASSERT_EQUAL(p.src, PUB1);
    CU_ASSERT_EQUAL(p.dst, HOST_A);
    CU_ASSERT_EQUAL(p.icmp_id, 42);
    d = echo_send(&lab, NAT_ROUTER_HAIRPIN, &f, HOST_A, PUB1, REPLY, 42, 1);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
    CU_ASSERT_EQUAL(parsed(&f).dst, HOST_A);
    echo_lab_free(&lab);

    lab = echo_lab("preset = full-cone\nhairpin = off\n", 16);
    d = echo_send(&lab, NAT_ROUTER_HAIRPIN, &f, HOST_A, PUB1, REQUEST, 42, 0);
    CU_ASSERT_EQUAL(d.engine_reason, NAT_DROP_HAIRPIN_DISABLED);
    echo_lab_free(&lab);
}

static void test_impairments_hold_and_release(void)
{
    nat_engine_t *e = engine_from("preset = port-restricted-cone\nlatency = 50ms\n", 5);
    nat_router_t *r = nat_router_new(e, 5);
    frame_t f = udp(ep(HOST_A, 5000), ep(REMOTE_Y, 1), "x");
    nat_router_decision_t d = nat_router_process(r, NAT_ROUTER_OUTBOUND, f.data, f.len, 1000);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_HOLD);
    CU_ASSERT_EQUAL(d.release_at, 1000 + 50 * USEC_PER_MSEC);
    CU_ASSERT_EQUAL(parsed(&f).src, PUB1); /* translated before the link */
    /* Inbound is held raw and meets the NAT only when released. */
    frame_t back = udp(ep(REMOTE_Y, 1), ep(PUB1, 5000), "y");
    d = nat_router_process(r, NAT_ROUTER_INBOUND, back.data, back.len, 2000);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_HOLD);
    CU_ASSERT_EQUAL(parsed(&back).dst, PUB1);
    d = nat_router_release(r, NAT_ROUTER_INBOUND, back.data, back.len, d.release_at);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
    CU_ASSERT_EQUAL(parsed(&back).dst, HOST_A);
    nat_router_free(r);
    nat_engine_free(e);

    e = engine_from("preset = full-cone\nloss-outbound = 100%\n", 6);
    r = nat_router_new(e, 6);
    f = udp(ep(HOST_A, 5000), ep(REMOTE_Y, 1), "x");
    d = nat_router_process(r, NAT_ROUTER_OUTBOUND, f.data, f.len, 0);
    CU_ASSERT_EQUAL(d.drop, NAT_ROUTER_DROP_LOSS);
    frame_t in_pkt = udp(ep(REMOTE_Y, 1), ep(PUB1, 5000), "x");
    CU_ASSERT_EQUAL(nat_router_process(r, NAT_ROUTER_INBOUND, in_pkt.data, in_pkt.len, 1).action, NAT_ROUTER_ACCEPT);
    nat_router_free(r);
    nat_engine_free(e);
}

/* Splits a built UDP datagram into IPv4 fragments of at most `mtu` bytes. */

static void test_fragments_follow_their_first(void)
{
    nat_engine_t *e = engine_from("preset = port-restricted-cone\n", 8);
    nat_router_t *r = nat_router_new(e, 8);
    char big[3001];
    memset(big, 'x', 3000);
    big[3000] = '\0';
    frame_t whole = udp(ep(HOST_A, 5000), ep(REMOTE_Y, 3478), big);
    frame_t parts[4];
    unsigned n = fragment(&whole, 1500, parts, 4);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    for (unsigned i = 0; i < n; i++) {
        nat_router_decision_t d = nat_router_process(r, NAT_ROUTER_OUTBOUND, parts[i].data, parts[i].len, i);
        CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
        packet_t p = parsed(&parts[i]);
        CU_ASSERT_EQUAL(p.src, PUB1);
    }
    /* Reassembled, the datagram's UDP checksum holds for the new source. */
    uint8_t udp_bytes[3008];
    size_t off = 0;
    for (unsigned i = 0; i < n; i++) {
        memcpy(udp_bytes + off, parts[i].data + 20, parts[i].len - 20);
        off += parts[i].len - 20;
    }
    CU_ASSERT_EQUAL(packet_udp_checksum(PUB1, REMOTE_Y, udp_bytes, off),
                    (uint16_t)(udp_bytes[6] << 8 | udp_bytes[7]));
    CU_ASSERT_EQUAL(udp_bytes[0] << 8 | udp_bytes[1], 5000);

    /* Inbound, the answer's fragments reach the host; a stray follower does not. */
    frame_t answer = udp(ep(REMOTE_Y, 3478), ep(PUB1, 5000), big);
    n = fragment(&answer, 1500, parts, 4);
    for (unsigned i = 0; i < n; i++) {
        nat_router_decision_t d = nat_router_process(r, NAT_ROUTER_INBOUND, parts[i].data, parts[i].len, 10 + i);
        CU_ASSERT_EQUAL(d.action, NAT_ROUTER_ACCEPT);
        CU_ASSERT_EQUAL(parsed(&parts[i]).dst, HOST_A);
    }
    frame_t stray[4];
    n = fragment(&answer, 1500, stray, 4);
    stray[1].data[4] = 0x99; /* another datagram whose first fragment never came */
    stray[1].data[10] = stray[1].data[11] = 0;
    uint16_t sum = packet_ipv4_checksum(stray[1].data, 20);
    stray[1].data[10] = (uint8_t)(sum >> 8);
    stray[1].data[11] = (uint8_t)sum;
    nat_router_decision_t d = nat_router_process(r, NAT_ROUTER_INBOUND, stray[1].data, stray[1].len, 20);
    CU_ASSERT_EQUAL(d.drop, NAT_ROUTER_DROP_FRAGMENT);
    /* After the datagram's lifetime the followers are not recognised either. */
    d = nat_router_process(r, NAT_ROUTER_INBOUND, parts[2].data, parts[2].len, 10 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(d.action, NAT_ROUTER_DROP);
    nat_router_free(r);
    nat_engine_free(e);
}

static void test_exhaustion_answers_icmp(void)
{
    nat_engine_t *e = engine_from("preset = symmetric\nport-range = 2000-2001\n", 9);
    nat_router_t *r = nat_router_new(e, 9);
    for (int i = 0; i < 2; i++) {
        frame_t f = udp(ep(HOST_A, 5000), ep(REMOTE_Y, (uint16_t)(1 + i)), "x");
        CU_ASSERT_EQUAL(nat_router_process(r, NAT_ROUTER_OUTBOUND, f.data, f.len, 0).action, NAT_ROUTER_ACCEPT);
    }
    int told = 0;
    for (int i = 0; i < NAT_ROUTER_ICMP_PER_SEC + 20; i++) {
        frame_t f = udp(ep(HOST_A, 5000), ep(REMOTE_Z, (uint16_t)(1 + i)), "x");
        nat_router_decision_t d = nat_router_process(r, NAT_ROUTER_OUTBOUND, f.data, f.len, 1);
        CU_ASSERT_EQUAL(d.engine_reason, NAT_DROP_PORTS_EXHAUSTED);
        told += d.icmp_unreachable;
        if (i == 0) {
            frame_t icmp;
            icmp.len = nat_router_icmp_unreachable(r, f.data, f.len, ADDR_IP(192, 168, 1, 1), icmp.data, sizeof icmp.data);
            packet_t p = parsed(&icmp);
            CU_ASSERT_EQUAL(p.kind, PACKET_KIND_ICMP_ERROR);
            CU_ASSERT_EQUAL(p.icmp_type, 3);
            CU_ASSERT_EQUAL(p.icmp_code, 1);
            CU_ASSERT_EQUAL(p.dst, HOST_A);
            CU_ASSERT_EQUAL(p.inner.sport, 5000);
        }
    }
    CU_ASSERT_EQUAL(told, NAT_ROUTER_ICMP_PER_SEC); /* rate-limited */
    frame_t f = udp(ep(HOST_A, 5000), ep(REMOTE_Z, 999), "x");
    CU_ASSERT_TRUE(nat_router_process(r, NAT_ROUTER_OUTBOUND, f.data, f.len, 2 * USEC_PER_SEC).icmp_unreachable);
    nat_router_free(r);
    nat_engine_free(e);
}

static void test_control_commands(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\n", 7);
    nat_router_t *r = nat_router_new(e, 7);
    uint32_t spare[1] = { ADDR_IP(198, 18, 0, 9) };
    nat_control_target_t t = { e, r, spare, 1, NULL, NULL, NULL, NULL };
    nat_engine_outbound(e, NAT_PROTO_UDP, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 0);
    char *reply = nat_control_execute(&t, "mappings", 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(reply, "\"internal\":\"192.168.1.10:5000\""));
    g_free(reply);
    reply = nat_control_execute(&t, "set filtering address-dependent\n", 1);
    CU_ASSERT_STRING_EQUAL(reply, "ok");
    g_free(reply);
    CU_ASSERT_EQUAL(nat_engine_profile(e)->filtering, NAT_ADDRESS_DEPENDENT);
    reply = nat_control_execute(&t, "set filtering sideways", 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(reply, "error: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(reply, "allowed: endpoint-independent"));
    g_free(reply);
    reply = nat_control_execute(&t, "set loss 100%", 1);
    CU_ASSERT_STRING_EQUAL(reply, "ok");
    g_free(reply);
    CU_ASSERT_EQUAL(nat_impair_config(nat_router_impairment(r, true))->loss, 1.0);
    reply = nat_control_execute(&t, "reboot", 5 * USEC_PER_SEC);
    CU_ASSERT_STRING_EQUAL(reply, "ok");
    g_free(reply);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 0);
    CU_ASSERT_EQUAL(nat_engine_epoch_start(e), 5 * USEC_PER_SEC);
    reply = nat_control_execute(&t, "stats", 6);
    CU_ASSERT_PTR_NOT_NULL(strstr(reply, "\"engine\":{"));
    g_free(reply);
    reply = nat_control_execute(&t, "change-ip 10.0.0.1", 6);
    CU_ASSERT_STRING_EQUAL(reply, "error: change-ip: 10.0.0.1 is not a spare address");
    g_free(reply);
    reply = nat_control_execute(&t, "change-ip", 6);
    CU_ASSERT_STRING_EQUAL(reply, "{\"from\":\"198.18.0.1\",\"to\":\"198.18.0.9\"}");
    g_free(reply);
    CU_ASSERT_EQUAL(spare[0], PUB1); /* the old address is the spare now */
    CU_ASSERT_TRUE(nat_engine_is_public(e, ADDR_IP(198, 18, 0, 9)));
    reply = nat_control_execute(&t, "change-ip 198.18.0.1", 7);
    CU_ASSERT_STRING_EQUAL(reply, "{\"from\":\"198.18.0.9\",\"to\":\"198.18.0.1\"}");
    g_free(reply);
    t.n_spare_ips = 0;
    reply = nat_control_execute(&t, "change-ip", 8);
    CU_ASSERT_PTR_NOT_NULL(strstr(reply, "error: change-ip: no spare address"));
    g_free(reply);
    reply = nat_control_execute(&t, "dance", 6);
    CU_ASSERT_PTR_NOT_NULL(strstr(reply, "error: unknown command 'dance'"));
    g_free(reply);
    nat_router_free(r);
    nat_engine_free(e);
}

static void test_rules_text(void)
{
    uint32_t ips[2] = { PUB1, PUB2 };
    char *add = nat_rules_text("lan", "wan", ips, 2, 10, false);
    CU_ASSERT_PTR_NOT_NULL(strstr(add, "-A NATLAB-PRE -j CT --notrack"));
    CU_ASSERT_PTR_NOT_NULL(strstr(add, "-A NATLAB-PRE -i wan -j NFQUEUE --queue-num 10\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(add, "-A NATLAB-PRE -i lan -d 198.18.0.2/32 -j NFQUEUE --queue-num 12\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(add, "-A NATLAB-POST -o wan -j NFQUEUE --queue-num 11\n"));
    /* natsim's own resets and errors are not caught again on their way out */
    const char *own = strstr(add, "-A NATLAB-POST -m mark --mark 0x4e41 -j RETURN\n");
    CU_ASSERT_PTR_NOT_NULL(own);
    CU_ASSERT_TRUE(own && own < strstr(add, "-A NATLAB-POST -o wan -j NFQUEUE"));
    CU_ASSERT_PTR_NULL(strstr(add, "queue-bypass")); /* never fail open */
    char *del = nat_rules_text("lan", "wan", ips, 2, 10, true);
    CU_ASSERT_PTR_NOT_NULL(strstr(del, "-X NATLAB-POST"));
    g_free(add);
    g_free(del);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "outbound and inbound rewrites keep checksums valid", test_outbound_inbound_rewrite },
        { "ICMP errors translated both ways (REQ-12)", test_icmp_errors_translated },
        { "junk dropped and counted by reason", test_junk_dropped_and_counted },
        { "hairpin path", test_hairpin_path },
        { "echo out and back, id preserved (RFC 5508)", test_echo_out_and_back },
        { "echo id collision: another id, replies to their hosts", test_echo_id_collision },
        { "echo reply from an unrelated host: as the filter says", test_echo_reply_filtered },
        { "echo mapping not refreshed by errors", test_echo_not_refreshed_by_errors },
        { "malformed and unsupported ICMP dropped by name", test_echo_malformed },
        { "echo to our public address hairpins", test_echo_hairpin },
        { "impairments hold and release", test_impairments_hold_and_release },
        { "fragments follow their first fragment (REQ-13/14)", test_fragments_follow_their_first },
        { "port exhaustion answered with ICMP 3/1, rate-limited", test_exhaustion_answers_icmp },
        { "a fragmented echo crosses both ways", test_fragmented_echo },
        { "TCP rewritten both ways, its ICMP errors too", test_tcp_rewritten_both_ways },
        { "unsolicited SYN answered with RST or ICMP", test_tcp_unsolicited_answers },
        { "unsolicited SYN held 6 s (RFC 5382 REQ-4)", test_tcp_hold },
        { "refused traffic rejected", test_refused_rejected },
        { "control commands", test_control_commands },
        { "iptables rules text", test_rules_text },
        { NULL, NULL },
    };
    return test_run_suite("nat_router", cases);
}
