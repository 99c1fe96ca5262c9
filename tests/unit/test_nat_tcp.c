/* The engine's TCP: sessions per connection with the RFC 6146 states, the
 * RFC 5382 timeouts, simultaneous open through every filter, the answers to
 * unsolicited and stray segments, tcp-* overrides, port spaces and the
 * outbound allow-lists. Time is `now`; nothing sleeps. */
#include "natsim_fixture.h"
#include "testutil.h"

#define S USEC_PER_SEC
#define MIN_ (60 * S)
#define SYN NAT_TCP_SYN
#define ACK NAT_TCP_ACK
#define FIN NAT_TCP_FIN
#define RST NAT_TCP_RST

static nat_verdict_t tout(nat_engine_t *e, addr_endpoint_t from, addr_endpoint_t to, uint8_t flags,
                          usec_t now)
{
    return nat_engine_outbound_tcp(e, from, to, flags, now);
}

static nat_verdict_t tin(nat_engine_t *e, addr_endpoint_t from, addr_endpoint_t to, uint8_t flags,
                         usec_t now)
{
    return nat_engine_inbound_tcp(e, from, to, flags, now);
}

/* The three-way handshake from inside; returns the external endpoint. */
static addr_endpoint_t handshake(nat_engine_t *e, addr_endpoint_t host, addr_endpoint_t remote,
                                 usec_t now)
{
    nat_verdict_t syn = tout(e, host, remote, SYN, now);
    ASSERT_FORWARD(syn);
    ASSERT_FORWARD(tin(e, remote, syn.src, SYN | ACK, now));
    ASSERT_FORWARD(tout(e, host, remote, ACK, now));
    return syn.src;
}

static void test_connection_forms_and_carries_data(void)
{
    nat_engine_t *e = engine_from("preset = port-restricted-cone\n", 1);
    addr_endpoint_t ext = handshake(e, ep(HOST_A, 40000), ep(REMOTE_Y, 443), 0);
    CU_ASSERT_EQUAL(ext.ip, PUB1);
    CU_ASSERT_EQUAL(ext.port, 40000); /* preserved */
    nat_verdict_t data = tin(e, ep(REMOTE_Y, 443), ext, ACK, 1 * S);
    ASSERT_FORWARD(data);
    ASSERT_EP(data.dst, ep(HOST_A, 40000));
    CU_ASSERT_EQUAL(nat_engine_sessions(e), 1);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->forwarded[NAT_PROTO_TCP][0], 2);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->forwarded[NAT_PROTO_TCP][1], 2);
    nat_engine_free(e);
}

/* RFC 5382 REQ-5: an established connection lives 2 h 4 min idle, to the
 * microsecond; a half-open one only the transitory 4 min. */
static void test_established_and_transitory_timeouts(void)
{
    nat_engine_t *e = engine_from("preset = port-restricted-cone\n", 2);
    addr_endpoint_t ext = handshake(e, ep(HOST_A, 40000), ep(REMOTE_Y, 443), 0);
    usec_t est = (2 * 60 + 4) * MIN_;
    ASSERT_FORWARD(tin(e, ep(REMOTE_Y, 443), ext, ACK, est - 1));
    ASSERT_FORWARD(tin(e, ep(REMOTE_Y, 443), ext, ACK, 2 * est - 2)); /* inbound refreshed it */
    ASSERT_DROP(tin(e, ep(REMOTE_Y, 443), ext, ACK, 3 * est - 2), NAT_DROP_NO_MAPPING);

    nat_verdict_t half = tout(e, ep(HOST_B, 40001), ep(REMOTE_Y, 443), SYN, 0);
    CU_ASSERT_EQUAL(nat_engine_expire(e, 1), 4 * MIN_);
    nat_engine_expire(e, 4 * MIN_);
    ASSERT_DROP(tin(e, ep(REMOTE_Y, 443), half.src, SYN | ACK, 4 * MIN_), NAT_DROP_NO_MAPPING);
    nat_engine_free(e);
}

static void test_timeouts_are_profile_keys(void)
{
    nat_engine_t *e = engine_from("tcp-established-timeout = 3s\ntcp-transitory-timeout = 1s\n", 3);
    addr_endpoint_t ext = handshake(e, ep(HOST_A, 40000), ep(REMOTE_Y, 22), 0);
    ASSERT_FORWARD(tout(e, ep(HOST_A, 40000), ep(REMOTE_Y, 22), ACK, 3 * S - 1));
    ASSERT_DROP(tin(e, ep(REMOTE_Y, 22), ext, ACK, 6 * S), NAT_DROP_NO_MAPPING);
    nat_engine_free(e);
}

/* RFC 7857 section 2.2: after a reset the session stays for the transitory
 * time, and a reset never extends it. */
static void test_rst_leaves_session_transitory(void)
{
    nat_engine_t *e = engine_from("preset = port-restricted-cone\ntcp-transitory-timeout = 10s\n", 4);
    addr_endpoint_t ext = handshake(e, ep(HOST_A, 40000), ep(REMOTE_Y, 80), 0);
    ASSERT_FORWARD(tin(e, ep(REMOTE_Y, 80), ext, RST, 1 * S));
    /* a late segment of the connection still passes within the transitory time */
    ASSERT_FORWARD(tin(e, ep(REMOTE_Y, 80), ext, RST | ACK, 5 * S));
    CU_ASSERT_EQUAL(nat_engine_expire(e, 5 * S), 11 * S); /* the second RST did not refresh */
    nat_engine_expire(e, 11 * S);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 0);
    CU_ASSERT_EQUAL(nat_engine_sessions(e), 0);
    ASSERT_DROP(tin(e, ep(REMOTE_Y, 80), ext, ACK, 11 * S), NAT_DROP_NO_MAPPING);
    nat_engine_free(e);
}

/* Outbound RSTs sent in reply to inbound packets do not refresh (RFC 7857). */
static void test_outbound_rst_does_not_refresh(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\ntcp-transitory-timeout = 10s\n", 5);
    addr_endpoint_t ext = handshake(e, ep(HOST_A, 40000), ep(REMOTE_Y, 80), 0);
    /* an unsolicited SYN from Z is admitted by EIF, the host resets it */
    ASSERT_FORWARD(tin(e, ep(REMOTE_Z, 5555), ext, SYN, 1 * S));
    usec_t before = (2 * 60 + 4) * MIN_;
    ASSERT_FORWARD(tout(e, ep(HOST_A, 40000), ep(REMOTE_Z, 5555), RST | ACK, 2 * S));
    /* Z's session ends when its SYN left it, 10 s after 1 s, not 10 s after the RST */
    ASSERT_FORWARD(tin(e, ep(REMOTE_Z, 5555), ext, RST, 11 * S - 1));
    ASSERT_DROP(tin(e, ep(REMOTE_Z, 5555), ext, ACK, 11 * S), NAT_DROP_TCP_NO_SESSION);
    /* Y's connection holds the mapping as long as it was going to */
    CU_ASSERT_EQUAL(nat_engine_expire(e, 11 * S), before);
    nat_engine_free(e);
}

static void test_fin_both_ways_is_transitory(void)
{
    nat_engine_t *e = engine_from("tcp-transitory-timeout = 20s\n", 6);
    addr_endpoint_t ext = handshake(e, ep(HOST_A, 40000), ep(REMOTE_Y, 80), 0);
    ASSERT_FORWARD(tout(e, ep(HOST_A, 40000), ep(REMOTE_Y, 80), FIN | ACK, 1 * S));
    /* one FIN: still established time */
    CU_ASSERT_TRUE(nat_engine_expire(e, 1 * S) > 60 * MIN_);
    ASSERT_FORWARD(tin(e, ep(REMOTE_Y, 80), ext, FIN | ACK, 2 * S));
    ASSERT_FORWARD(tout(e, ep(HOST_A, 40000), ep(REMOTE_Y, 80), ACK, 3 * S)); /* no refresh */
    CU_ASSERT_EQUAL(nat_engine_expire(e, 3 * S), 22 * S);
    nat_engine_free(e);
}

/* RFC 5382 REQ-2: simultaneous open through every filtering mode. Each side
 * SYNs the other's mapped endpoint; the first SYN is refused by the far NAT,
 * the second finds a session and forms the connection. */
static void test_simultaneous_open_every_filter(void)
{
    static const char *const filters[] = { "endpoint-independent", "address-dependent",
                                           "address-and-port-dependent" };
    for (size_t i = 0; i < G_N_ELEMENTS(filters); i++) {
        char keys[256];
        snprintf(keys, sizeof keys, "filtering = %s\ntcp-unsolicited-syn = drop\n", filters[i]);
        nat_engine_t *na = engine_from(keys, 10 + i);
        char keys_b[300];
        snprintf(keys_b, sizeof keys_b, "%spublic-ips = 198.18.0.101\n", keys);
        nat_engine_t *nb = engine_from(keys_b, 20 + i);
        addr_endpoint_t a = ep(HOST_A, 7000), b = ep(HOST_B, 7000);
        addr_endpoint_t a_ext = ep(PUB1, 7000), b_ext = ep(ADDR_IP(198, 18, 0, 101), 7000);
        nat_verdict_t a_syn = tout(na, a, b_ext, SYN, 0);
        ASSERT_FORWARD(a_syn);
        ASSERT_EP(a_syn.src, a_ext);
        /* nb has no mapping for 7000 yet (b has not sent): dropped silently */
        nat_verdict_t early = tin(nb, a_ext, b_ext, SYN, 1);
        CU_ASSERT_EQUAL(early.action, NAT_ACTION_DROP);
        CU_ASSERT_EQUAL(early.reply, NAT_REPLY_NONE);
        nat_verdict_t b_syn = tout(nb, b, a_ext, SYN, 2);
        ASSERT_FORWARD(b_syn);
        ASSERT_EP(b_syn.src, b_ext); /* preserved: the endpoint a aimed at */
        /* b's SYN reaches a through na: a session exists for exactly this pair */
        nat_verdict_t at_a = tin(na, b_syn.src, a_ext, SYN, 3);
        ASSERT_FORWARD(at_a);
        ASSERT_EP(at_a.dst, a);
        /* a answers SYN-ACK; nb's session admits it whatever its filter */
        nat_verdict_t a_synack = tout(na, a, b_syn.src, SYN | ACK, 4);
        ASSERT_FORWARD(a_synack);
        nat_verdict_t at_b = tin(nb, a_synack.src, b_syn.src, SYN | ACK, 5);
        ASSERT_FORWARD(at_b);
        ASSERT_EP(at_b.dst, b);
        ASSERT_FORWARD(tout(nb, b, a_ext, ACK, 6));
        ASSERT_FORWARD(tin(na, b_syn.src, a_ext, ACK, 7));
        CU_ASSERT_TRUE(nat_engine_expire(na, 8) > 60 * MIN_); /* established on both */
        CU_ASSERT_TRUE(nat_engine_expire(nb, 8) > 60 * MIN_);
        nat_engine_free(na);
        nat_engine_free(nb);
    }
}

/* A simultaneous open where a's SYN comes first and b's NAT resets it: the
 * reset closes a's session. Under RFC 6146 (reopen) b's SYN then opens it
 * again and reaches a (its listener); under Linux conntrack (invalid,
 * home-router's) it is invalid and meets the unsolicited-SYN answer, so
 * only a's own new SYN (original direction) opens the pair again. */
static void test_syn_after_reset(void)
{
    static const char *const modes[] = { "reopen", "invalid" };
    for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
        char keys[256];
        snprintf(keys, sizeof keys,
                 "preset = port-restricted-cone\ntcp-unsolicited-syn = rst\ntcp-reset-session = %s\n",
                 modes[i]);
        nat_engine_t *na = engine_from(keys, 30 + i);
        addr_endpoint_t a = ep(HOST_A, 7000), remote = ep(REMOTE_Y, 7001);
        nat_verdict_t a_syn = tout(na, a, remote, SYN, 0);
        ASSERT_FORWARD(a_syn);
        /* b's NAT answered it with a reset */
        ASSERT_FORWARD(tin(na, remote, a_syn.src, RST | ACK, 1));
        nat_verdict_t b_syn = tin(na, remote, a_syn.src, SYN, 2);
        if (i == 0) {
            ASSERT_FORWARD(b_syn);
            ASSERT_EP(b_syn.dst, a);
        } else {
            ASSERT_DROP(b_syn, NAT_DROP_TCP_INVALID);
            CU_ASSERT_EQUAL(b_syn.reply, NAT_REPLY_TCP_RST);
            CU_ASSERT_EQUAL(nat_engine_stats(na)->drops[NAT_DROP_TCP_INVALID], 1);
            /* a's own new SYN opens the pair again; then b's passes */
            ASSERT_FORWARD(tout(na, a, remote, SYN, 3));
            ASSERT_FORWARD(tin(na, remote, a_syn.src, SYN, 4));
        }
        nat_engine_free(na);
    }
}

/* The answer to an unsolicited SYN is the profile's; a reset is never answered. */
static void test_unsolicited_syn_answers(void)
{
    static const struct {
        const char *value;
        nat_reply_t reply;
    } cases[] = {
        { "hold", NAT_REPLY_HOLD_SYN },
        { "drop", NAT_REPLY_NONE },
        { "rst", NAT_REPLY_TCP_RST },
        { "icmp", NAT_REPLY_ICMP_PORT_UNREACHABLE },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char keys[128];
        snprintf(keys, sizeof keys, "preset = port-restricted-cone\ntcp-unsolicited-syn = %s\n",
                 cases[i].value);
        nat_engine_t *e = engine_from(keys, 30 + i);
        addr_endpoint_t ext = handshake(e, ep(HOST_A, 40000), ep(REMOTE_Y, 443), 0);
        nat_verdict_t filtered = tin(e, ep(REMOTE_Z, 1234), ext, SYN, 1);
        ASSERT_DROP(filtered, NAT_DROP_FILTERED);
        CU_ASSERT_EQUAL(filtered.reply, cases[i].reply);
        nat_verdict_t unmapped = tin(e, ep(REMOTE_Z, 1234), ep(PUB1, 999), SYN, 2);
        ASSERT_DROP(unmapped, NAT_DROP_NO_MAPPING);
        CU_ASSERT_EQUAL(unmapped.reply, cases[i].reply);
        CU_ASSERT_EQUAL(tin(e, ep(REMOTE_Z, 1234), ext, RST, 3).reply, NAT_REPLY_NONE);
        /* a stray non-SYN is dropped; only `rst` answers it */
        nat_verdict_t stray = tin(e, ep(REMOTE_Z, 1234), ext, ACK, 4);
        ASSERT_DROP(stray, NAT_DROP_TCP_NO_SESSION);
        CU_ASSERT_EQUAL(stray.reply, cases[i].reply == NAT_REPLY_TCP_RST ? NAT_REPLY_TCP_RST
                                                                          : NAT_REPLY_NONE);
        /* filtered SYNs made no session */
        CU_ASSERT_EQUAL(nat_engine_sessions(e), 1);
        nat_engine_free(e);
    }
}

/* EIF admits a new inbound connection to a mapping (RFC 5382 REQ-3 allows it). */
static void test_eif_admits_inbound_connection(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\n", 40);
    addr_endpoint_t ext = handshake(e, ep(HOST_A, 40000), ep(REMOTE_Y, 443), 0);
    nat_verdict_t syn = tin(e, ep(REMOTE_Z, 5000), ext, SYN, 1);
    ASSERT_FORWARD(syn);
    ASSERT_EP(syn.dst, ep(HOST_A, 40000));
    ASSERT_FORWARD(tout(e, ep(HOST_A, 40000), ep(REMOTE_Z, 5000), SYN | ACK, 2));
    CU_ASSERT_EQUAL(nat_engine_sessions(e), 2);
    nat_engine_free(e);
}

/* What happens to a segment from inside that belongs to no session. */
static void test_no_session_policies(void)
{
    nat_engine_t *d = engine_from("tcp-no-session = drop\n", 50);
    nat_verdict_t v = tout(d, ep(HOST_A, 40000), ep(REMOTE_Y, 22), ACK, 0);
    ASSERT_DROP(v, NAT_DROP_TCP_NO_SESSION);
    CU_ASSERT_EQUAL(v.reply, NAT_REPLY_NONE);
    CU_ASSERT_EQUAL(nat_engine_stats(d)->active, 0); /* created nothing */
    nat_engine_free(d);

    nat_engine_t *r = engine_from("tcp-no-session = rst\n", 51);
    v = tout(r, ep(HOST_A, 40000), ep(REMOTE_Y, 22), ACK, 0);
    ASSERT_DROP(v, NAT_DROP_TCP_NO_SESSION);
    CU_ASSERT_EQUAL(v.reply, NAT_REPLY_TCP_RST);
    CU_ASSERT_EQUAL(tout(r, ep(HOST_A, 40000), ep(REMOTE_Y, 22), RST, 0).reply, NAT_REPLY_NONE);
    nat_engine_free(r);

    /* Linux's tcp_loose: taken up as established, replies pass */
    nat_engine_t *p = engine_from("tcp-no-session = pickup\n", 52);
    v = tout(p, ep(HOST_A, 40000), ep(REMOTE_Y, 22), ACK, 0);
    ASSERT_FORWARD(v);
    ASSERT_FORWARD(tin(p, ep(REMOTE_Y, 22), v.src, ACK, 1));
    CU_ASSERT_TRUE(nat_engine_expire(p, 2) > 60 * MIN_);
    nat_engine_free(p);
}

/* After the session timed out, the next segment is a stray: this is how an
 * idle ssh dies behind a NAT. */
static void test_idle_connection_dies(void)
{
    nat_engine_t *e = engine_from("tcp-established-timeout = 5s\ntcp-no-session = rst\n", 53);
    handshake(e, ep(HOST_A, 40000), ep(REMOTE_Y, 22), 0);
    ASSERT_FORWARD(tout(e, ep(HOST_A, 40000), ep(REMOTE_Y, 22), ACK, 4 * S));
    nat_verdict_t late = tout(e, ep(HOST_A, 40000), ep(REMOTE_Y, 22), ACK, 10 * S);
    ASSERT_DROP(late, NAT_DROP_TCP_NO_SESSION);
    CU_ASSERT_EQUAL(late.reply, NAT_REPLY_TCP_RST);
    nat_engine_free(e);
}

/* TCP alone may map differently (tcp-mapping), and has its own ports. */
static void test_tcp_overrides_and_port_spaces(void)
{
    nat_engine_t *e = engine_from("mapping = endpoint-independent\n"
                                  "tcp-mapping = address-and-port-dependent\n"
                                  "tcp-allocation = sequential\n",
                                  60);
    nat_verdict_t u1 = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 0);
    nat_verdict_t u2 = out(e, ep(HOST_A, 5000), ep(REMOTE_Z, 1), 0);
    ASSERT_EP(u1.src, u2.src);
    nat_verdict_t t1 = tout(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), SYN, 0);
    nat_verdict_t t2 = tout(e, ep(HOST_A, 5000), ep(REMOTE_Z, 1), SYN, 0);
    CU_ASSERT_NOT_EQUAL(t1.src.port, t2.src.port); /* APDM for TCP */
    CU_ASSERT_EQUAL((uint16_t)(t2.src.port - t1.src.port), 1); /* sequential for TCP */
    nat_engine_free(e);

    /* Separate spaces: the same preserved port for UDP and TCP of two hosts. */
    nat_engine_t *sep = engine_from("preset = port-restricted-cone\n", 61);
    nat_verdict_t u = out(sep, ep(HOST_A, 6000), ep(REMOTE_Y, 1), 0);
    nat_verdict_t t = tout(sep, ep(HOST_B, 6000), ep(REMOTE_Y, 1), SYN, 0);
    CU_ASSERT_EQUAL(u.src.port, 6000);
    CU_ASSERT_EQUAL(t.src.port, 6000);
    nat_engine_free(sep);
    /* Shared: B's TCP cannot have the port A's UDP holds. */
    nat_engine_t *sh = engine_from("preset = port-restricted-cone\ntcp-ports = shared\n", 62);
    u = out(sh, ep(HOST_A, 6000), ep(REMOTE_Y, 1), 0);
    t = tout(sh, ep(HOST_B, 6000), ep(REMOTE_Y, 1), SYN, 0);
    CU_ASSERT_EQUAL(u.src.port, 6000);
    CU_ASSERT_NOT_EQUAL(t.src.port, 6000);
    nat_verdict_t u_b = out(sh, ep(HOST_B, 6001), ep(REMOTE_Y, 1), 0);
    CU_ASSERT_NOT_EQUAL(u_b.src.port, t.src.port);
    nat_engine_free(sh);
}

/* REQ-8 hairpinning: the receiver sees the sender's external endpoint. */
static void test_tcp_hairpin(void)
{
    nat_engine_t *e = engine_from("preset = port-restricted-cone\n", 63);
    nat_verdict_t b_syn = tout(e, ep(HOST_B, 8000), ep(REMOTE_Y, 1), SYN, 0);
    /* B listens behind its mapping; make it reachable from A's external
     * endpoint: hairpinned packets pass the filter */
    nat_verdict_t a_syn = tout(e, ep(HOST_A, 9000), b_syn.src, SYN, 1);
    ASSERT_FORWARD(a_syn);
    CU_ASSERT_TRUE(a_syn.hairpin);
    ASSERT_EP(a_syn.src, ep(PUB1, 9000));
    ASSERT_EP(a_syn.dst, ep(HOST_B, 8000));
    nat_verdict_t b_ack = tout(e, ep(HOST_B, 8000), ep(PUB1, 9000), SYN | ACK, 2);
    ASSERT_FORWARD(b_ack);
    CU_ASSERT_TRUE(b_ack.hairpin);
    ASSERT_EP(b_ack.dst, ep(HOST_A, 9000));
    ASSERT_EP(b_ack.src, b_syn.src);
    nat_engine_free(e);

    nat_engine_t *off = engine_from("preset = port-restricted-cone\ntcp-hairpin = off\n", 64);
    b_syn = tout(off, ep(HOST_B, 8000), ep(REMOTE_Y, 1), SYN, 0);
    ASSERT_FORWARD(out(off, ep(HOST_B, 8000), ep(REMOTE_Y, 1), 0));
    ASSERT_DROP(tout(off, ep(HOST_A, 9000), b_syn.src, SYN, 1), NAT_DROP_HAIRPIN_DISABLED);
    ASSERT_FORWARD(out(off, ep(HOST_A, 9000), b_syn.src, 2)); /* UDP still hairpins */
    nat_engine_free(off);
}

static void test_tcp_quota(void)
{
    nat_engine_t *e = engine_from("tcp-port-quota = 2\n", 65);
    ASSERT_FORWARD(tout(e, ep(HOST_A, 1), ep(REMOTE_Y, 80), SYN, 0));
    ASSERT_FORWARD(tout(e, ep(HOST_A, 2), ep(REMOTE_Y, 80), SYN, 0));
    ASSERT_DROP(tout(e, ep(HOST_A, 3), ep(REMOTE_Y, 80), SYN, 0), NAT_DROP_QUOTA);
    ASSERT_FORWARD(out(e, ep(HOST_A, 3), ep(REMOTE_Y, 80), 0)); /* UDP has no quota */
    nat_engine_free(e);
}

/* Outbound allow-lists: refused traffic makes no state; `reject` answers. */
static void test_allow_lists(void)
{
    nat_engine_t *e = engine_from("preset = corporate\n", 70);
    ASSERT_FORWARD(tout(e, ep(HOST_A, 40000), ep(REMOTE_Y, 443), SYN, 0));
    ASSERT_FORWARD(out(e, ep(HOST_A, 40001), ep(REMOTE_Y, 53), 0));
    nat_verdict_t ssh = tout(e, ep(HOST_A, 40002), ep(REMOTE_Y, 22), SYN, 0);
    ASSERT_DROP(ssh, NAT_DROP_REFUSED);
    CU_ASSERT_EQUAL(ssh.reply, NAT_REPLY_NONE);
    nat_verdict_t stun = out(e, ep(HOST_A, 40003), ep(REMOTE_Y, 3478), 0);
    ASSERT_DROP(stun, NAT_DROP_REFUSED);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 2);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->drops[NAT_DROP_REFUSED], 2);
    nat_engine_free(e);

    nat_engine_t *r = engine_from("allow-out-tcp = 80\nallow-out-udp = none\nrefused = reject\n", 71);
    CU_ASSERT_EQUAL(tout(r, ep(HOST_A, 1), ep(REMOTE_Y, 81), SYN, 0).reply, NAT_REPLY_TCP_RST);
    CU_ASSERT_EQUAL(out(r, ep(HOST_A, 1), ep(REMOTE_Y, 53), 0).reply,
                    NAT_REPLY_ICMP_ADMIN_PROHIBITED);
    nat_engine_free(r);
}

/* udp-blocked blocks UDP only. */
static void test_blocked_passes_tcp(void)
{
    nat_engine_t *e = engine_from("preset = udp-blocked\n", 72);
    ASSERT_DROP(out(e, ep(HOST_A, 1), ep(REMOTE_Y, 53), 0), NAT_DROP_UDP_BLOCKED);
    nat_verdict_t t = tout(e, ep(HOST_A, 1), ep(REMOTE_Y, 443), SYN, 0);
    ASSERT_FORWARD(t);
    ASSERT_EP(t.src, ep(HOST_A, 1));
    nat_engine_free(e);
}

/* PCP/NAT-PMP/UPnP map TCP too; an explicit mapping admits inbound SYNs. */
static void test_explicit_tcp_mapping(void)
{
    nat_engine_t *e = engine_from("preset = symmetric\n", 73);
    nat_map_request_t r = { .proto = NAT_PROTO_TCP, .internal = ep(HOST_A, 8080),
                            .suggested_port = 30080, .lifetime = 60 * S };
    addr_endpoint_t ext;
    usec_t life;
    CU_ASSERT_EQUAL_FATAL(nat_engine_map(e, &r, 0, &ext, &life), NAT_MAP_OK);
    CU_ASSERT_EQUAL(ext.port, 30080);
    nat_verdict_t syn = tin(e, ep(REMOTE_Z, 5555), ext, SYN, 1);
    ASSERT_FORWARD(syn);
    ASSERT_EP(syn.dst, ep(HOST_A, 8080));
    ASSERT_FORWARD(tout(e, ep(HOST_A, 8080), ep(REMOTE_Z, 5555), SYN | ACK, 2));
    /* UDP on the same port has no mapping */
    ASSERT_DROP(in(e, ep(REMOTE_Z, 5555), ext, 3), NAT_DROP_NO_MAPPING);
    /* the lease, not the sessions, decides */
    ASSERT_DROP(tin(e, ep(REMOTE_Z, 5555), ext, ACK, 60 * S), NAT_DROP_NO_MAPPING);
    CU_ASSERT_TRUE(nat_engine_unmap(e, NAT_PROTO_TCP, ep(HOST_A, 8080), 60 * S) == false);
    nat_engine_free(e);
}

/* A shorter established timeout set live applies to live sessions. */
static void test_set_profile_clamps_sessions(void)
{
    nat_engine_t *e = engine_from("preset = port-restricted-cone\n", 74);
    addr_endpoint_t ext = handshake(e, ep(HOST_A, 40000), ep(REMOTE_Y, 22), 0);
    g_autoptr(nat_profile_t) p = nat_profile_copy(nat_engine_profile(e));
    CU_ASSERT_TRUE_FATAL(nat_profile_set(p, "tcp-established-timeout", "10s", NULL));
    CU_ASSERT_TRUE_FATAL(nat_engine_set_profile(e, p, 5 * S, NULL));
    CU_ASSERT_EQUAL(nat_engine_expire(e, 5 * S), 15 * S);
    ASSERT_DROP(tin(e, ep(REMOTE_Y, 22), ext, ACK, 15 * S), NAT_DROP_NO_MAPPING);
    nat_engine_free(e);
}

/* Many remotes on one EIM mapping: expired sessions do not pile up. */
static void test_sessions_swept(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\ntcp-transitory-timeout = 1s\n", 75);
    handshake(e, ep(HOST_A, 40000), ep(REMOTE_Y, 443), 0);
    for (unsigned i = 0; i < 1000; i++)
        tout(e, ep(HOST_A, 40000), ep(REMOTE_Z, (uint16_t)(1000 + i)), SYN, (usec_t)i * S);
    CU_ASSERT_TRUE(nat_engine_sessions(e) <= 3);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 1);
    nat_engine_free(e);
}

/* A mapping stricter than the filter (APDM or ADM behind EIF or ADF): the
 * filter admits a connection from a remote the mapping's key does not name,
 * and the inside host's replies leave through that same mapping, as a
 * connection-tracking NAT translates them (found by netcheck's TCP filter test). */
static void test_reply_to_admitted_connection(void)
{
    static const char *const profiles[] = {
        "mapping = address-and-port-dependent\nfiltering = endpoint-independent\n",
        "mapping = address-and-port-dependent\nfiltering = address-dependent\n",
        "mapping = address-dependent\nfiltering = endpoint-independent\n",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(profiles); i++) {
        nat_engine_t *e = engine_from(profiles[i], 80 + i);
        addr_endpoint_t ext = handshake(e, ep(HOST_A, 40000), ep(REMOTE_Y, 3478), 0);
        addr_endpoint_t from = i == 1 ? ep(REMOTE_Y, 50000) : ep(REMOTE_Z, 50000);
        ASSERT_FORWARD(tin(e, from, ext, SYN, 1 * S));
        nat_verdict_t v = tout(e, ep(HOST_A, 40000), from, SYN | ACK, 1 * S);
        ASSERT_FORWARD(v);
        ASSERT_EP(v.src, ext);
        ASSERT_FORWARD(tin(e, from, ext, ACK, 2 * S));
        nat_verdict_t data = tout(e, ep(HOST_A, 40000), from, ACK, 3 * S);
        ASSERT_EP(data.src, ext);
        CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 1);
        /* once the connection is gone, a new SYN to that remote gets its own mapping */
        ASSERT_FORWARD(tout(e, ep(HOST_A, 40000), from, RST | ACK, 4 * S));
        nat_engine_expire(e, 4 * S + 4 * MIN_);
        nat_verdict_t fresh = tout(e, ep(HOST_A, 40000), from, SYN, 5 * S + 4 * MIN_);
        ASSERT_FORWARD(fresh);
        CU_ASSERT_TRUE(fresh.created);
        nat_engine_free(e);
    }
}

int main(void)
{
    static const test_case_t cases[] = {
        { "a connection forms and carries data", test_connection_forms_and_carries_data },
        { "established 2h4min, transitory 4min (REQ-5)", test_established_and_transitory_timeouts },
        { "timeouts are profile keys", test_timeouts_are_profile_keys },
        { "an RST leaves the session transitory (RFC 7857 2.2)", test_rst_leaves_session_transitory },
        { "a SYN after a reset: reopen (RFC 6146) or invalid (conntrack)", test_syn_after_reset },
        { "outbound RSTs in reply do not refresh", test_outbound_rst_does_not_refresh },
        { "FINs both ways: transitory, no refresh", test_fin_both_ways_is_transitory },
        { "simultaneous open through every filter (REQ-2)", test_simultaneous_open_every_filter },
        { "unsolicited SYN: hold, drop, rst, icmp (REQ-4)", test_unsolicited_syn_answers },
        { "EIF admits an inbound connection", test_eif_admits_inbound_connection },
        { "no-session: drop, rst, pickup", test_no_session_policies },
        { "an idle connection dies", test_idle_connection_dies },
        { "tcp-* overrides and port spaces", test_tcp_overrides_and_port_spaces },
        { "TCP hairpin (REQ-8) and tcp-hairpin", test_tcp_hairpin },
        { "tcp-port-quota", test_tcp_quota },
        { "outbound allow-lists", test_allow_lists },
        { "udp-blocked passes TCP", test_blocked_passes_tcp },
        { "explicit TCP mappings", test_explicit_tcp_mapping },
        { "set-profile clamps live sessions", test_set_profile_clamps_sessions },
        { "expired sessions are swept", test_sessions_swept },
        { "replies to a connection a laxer filter admitted", test_reply_to_admitted_connection },
        { NULL, NULL },
    };
    return test_run_suite("nat_tcp", cases);
}
