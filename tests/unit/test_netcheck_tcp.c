/* netcheck/netcheck_tcp: the TCP verdicts from made-up evidence, and one
 * run of the core driven against the STUN server core in memory. */
#include <glib.h>
#include <string.h>

#include "netcheck/netcheck_tcp.h"
#include "server/stun_server.h"
#include "testutil.h"

#define LOCAL addr_endpoint(ADDR_IP(10, 0, 0, 2), 40000)
#define PUB(port) addr_endpoint(ADDR_IP(198, 18, 1, 1), port)

/* Evidence of a NAT: test I-III mapped addresses, preserved allocation
 * samples, and the three connect-back outcomes. */
static netcheck_tcp_result_t nat_evidence(addr_endpoint_t m2, addr_endpoint_t m3, uint8_t other,
                                          uint8_t primary, uint8_t unsol, uint32_t unsol_ms)
{
    netcheck_tcp_result_t r = { .ran = true, .local = LOCAL };
    r.mapped[0] = PUB(40000);
    r.mapped[1] = m2;
    r.mapped[2] = m3;
    r.mapped_count = 3;
    for (unsigned i = 0; i < 8; i++) {
        addr_endpoint_t l = addr_endpoint(LOCAL.ip, (uint16_t)(41000 + 7 * i));
        r.samples[r.n_samples++] = (netcheck_sample_t){ .socket = 3 + i, .local = l,
                                                        .mapped = PUB(l.port), .preserved = true };
    }
    uint8_t outcomes[3] = { other, primary, unsol };
    for (int i = 0; i < NETCHECK_TCP_CB_COUNT; i++) {
        r.cb[i].sent = r.cb[i].answered = true;
        r.cb[i].result.outcome = outcomes[i];
        r.cb[i].result.elapsed_ms = i == NETCHECK_TCP_CB_UNSOLICITED ? unsol_ms : 1;
    }
    return r;
}

static void test_classify_nat(void)
{
    netcheck_tcp_result_t r = nat_evidence(PUB(40000), PUB(40000), STUN_CONNECT_RESET,
                                           STUN_CONNECT_RESET, STUN_CONNECT_RESET, 1);
    netcheck_tcp_classify(&r, true);
    CU_ASSERT_TRUE(r.allowed);
    CU_ASSERT_FALSE(r.no_nat);
    CU_ASSERT_EQUAL(r.mapping, NAT_ENDPOINT_INDEPENDENT);
    CU_ASSERT_EQUAL(r.filtering, NAT_ADDRESS_AND_PORT_DEPENDENT);
    CU_ASSERT_EQUAL(r.allocation, NAT_ALLOC_PRESERVE);
    CU_ASSERT_EQUAL(r.unsolicited, NETCHECK_TCP_SYN_RST);
    CU_ASSERT_EQUAL(r.known, NETCHECK_TCP_KNOWN_ALLOWED | NETCHECK_TCP_KNOWN_MAPPING |
                                 NETCHECK_TCP_KNOWN_FILTERING | NETCHECK_TCP_KNOWN_ALLOCATION |
                                 NETCHECK_TCP_KNOWN_UNSOLICITED);

    r = nat_evidence(PUB(50001), PUB(50001), STUN_CONNECT_TIMEOUT, STUN_CONNECT_CONNECTED,
                     STUN_CONNECT_TIMEOUT, 9000);
    netcheck_tcp_classify(&r, true);
    CU_ASSERT_EQUAL(r.mapping, NAT_ADDRESS_DEPENDENT);
    CU_ASSERT_EQUAL(r.filtering, NAT_ADDRESS_DEPENDENT);
    CU_ASSERT_EQUAL(r.unsolicited, NETCHECK_TCP_SYN_DROP);

    r = nat_evidence(PUB(50001), PUB(50002), STUN_CONNECT_CONNECTED, STUN_CONNECT_CONNECTED,
                     STUN_CONNECT_ICMP, 40);
    netcheck_tcp_classify(&r, true);
    CU_ASSERT_EQUAL(r.mapping, NAT_ADDRESS_AND_PORT_DEPENDENT);
    CU_ASSERT_EQUAL(r.filtering, NAT_ENDPOINT_INDEPENDENT);
    CU_ASSERT_EQUAL(r.unsolicited, NETCHECK_TCP_SYN_ICMP);

    /* RFC 5382 REQ-4: an ICMP about 6 s after the SYN is a NAT that held it. */
    r = nat_evidence(PUB(40000), PUB(40000), STUN_CONNECT_ICMP, STUN_CONNECT_ICMP, STUN_CONNECT_ICMP, 6004);
    netcheck_tcp_classify(&r, true);
    CU_ASSERT_EQUAL(r.unsolicited, NETCHECK_TCP_SYN_HOLD);
    r = nat_evidence(PUB(40000), PUB(40000), STUN_CONNECT_ICMP, STUN_CONNECT_ICMP, STUN_CONNECT_ICMP,
                     NETCHECK_TCP_HOLD_MIN_MS - 1);
    netcheck_tcp_classify(&r, true);
    CU_ASSERT_EQUAL(r.unsolicited, NETCHECK_TCP_SYN_ICMP);

    /* A port forward lets the unsolicited SYN in: nothing to say about SYNs. */
    r = nat_evidence(PUB(40000), PUB(40000), STUN_CONNECT_CONNECTED, STUN_CONNECT_CONNECTED,
                     STUN_CONNECT_CONNECTED, 1);
    netcheck_tcp_classify(&r, true);
    CU_ASSERT_FALSE(r.known & NETCHECK_TCP_KNOWN_UNSOLICITED);
    CU_ASSERT_FALSE(r.unsolicited_ok);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.error, "port forward"));
}

static void test_classify_partial(void)
{
    /* A server that ignores NATLAB-CONNECT-BACK (coturn): plain answers. */
    netcheck_tcp_result_t r = nat_evidence(PUB(40000), PUB(40000), STUN_CONNECT_NONE,
                                           STUN_CONNECT_NONE, STUN_CONNECT_NONE, 0);
    netcheck_tcp_classify(&r, true);
    CU_ASSERT_TRUE(r.known & NETCHECK_TCP_KNOWN_MAPPING);
    CU_ASSERT_FALSE(r.known & (NETCHECK_TCP_KNOWN_FILTERING | NETCHECK_TCP_KNOWN_UNSOLICITED));
    CU_ASSERT_FALSE(r.connect_back);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.error, "does not connect back"));
    /* The server could not try: no verdict from that attempt. */
    r = nat_evidence(PUB(40000), PUB(40000), STUN_CONNECT_FAILED, STUN_CONNECT_RESET,
                     STUN_CONNECT_FAILED, 0);
    netcheck_tcp_classify(&r, true);
    CU_ASSERT_FALSE(r.known & (NETCHECK_TCP_KNOWN_FILTERING | NETCHECK_TCP_KNOWN_UNSOLICITED));

    /* No answer over TCP while UDP works: TCP is blocked (allow-out-tcp = none). */
    netcheck_tcp_result_t b = { .ran = true, .fail = NETCHECK_TCP_FAIL_TIMEOUT };
    netcheck_tcp_classify(&b, true);
    CU_ASSERT_EQUAL(b.known, NETCHECK_TCP_KNOWN_ALLOWED);
    CU_ASSERT_FALSE(b.allowed);
    /* ... and with UDP silent too, nothing can be said. */
    b = (netcheck_tcp_result_t){ .ran = true, .fail = NETCHECK_TCP_FAIL_TIMEOUT };
    netcheck_tcp_classify(&b, false);
    CU_ASSERT_EQUAL(b.known, 0);

    /* No NAT: mapping and allocation mean nothing; an open path lets the SYN in. */
    netcheck_tcp_result_t o = nat_evidence(LOCAL, LOCAL, STUN_CONNECT_CONNECTED, STUN_CONNECT_CONNECTED,
                                           STUN_CONNECT_CONNECTED, 1);
    o.mapped[0] = LOCAL;
    netcheck_tcp_classify(&o, true);
    CU_ASSERT_TRUE(o.no_nat);
    CU_ASSERT_TRUE(o.unsolicited_ok);
    CU_ASSERT_EQUAL(o.known, NETCHECK_TCP_KNOWN_ALLOWED | NETCHECK_TCP_KNOWN_FILTERING);
    CU_ASSERT_EQUAL(o.filtering, NAT_ENDPOINT_INDEPENDENT);
}

/* The core against the server core, no NAT: every OPEN connects from the
 * next port, every SEND is answered, connect-backs reach a listener. */
static void test_driven_no_nat(void)
{
    stun_server_config_t sc = { .address = ADDR_IP(198, 19, 1, 1), .alt_address = ADDR_IP(198, 19, 1, 2),
                                .port = 3478, .alt_port = 3479 };
    stun_server_t *srv = stun_server_new(&sc);
    netcheck_tcp_config_t cfg = { .server = addr_endpoint(sc.address, 3478), .udp_works = true, .seed = 5 };
    usec_t now = 1000000;
    netcheck_tcp_t *t = netcheck_tcp_new(&cfg, now);
    addr_endpoint_t local[NETCHECK_TCP_MAX_CONNS] = { { 0 } };
    bool listening[65536] = { false };
    uint16_t next_port = 30000;
    unsigned rounds = 0;
    while (!netcheck_tcp_done(t) && rounds++ < 1000) {
        netcheck_tcp_bookkeeping(t, now);
        netcheck_tcp_op_t op;
        while (netcheck_tcp_pop_op(t, &op)) {
            uint16_t port = op.reuse >= 0 ? local[op.reuse].port : next_port++;
            if (op.kind == NETCHECK_TCP_OPEN) {
                local[op.conn] = addr_endpoint(LOCAL.ip, port);
                netcheck_tcp_opened(t, op.conn, local[op.conn], NETCHECK_TCP_FAIL_NONE, now);
            } else if (op.kind == NETCHECK_TCP_LISTEN) {
                local[op.conn] = addr_endpoint(LOCAL.ip, port);
                listening[port] = true;
                netcheck_tcp_listening(t, op.conn, local[op.conn], now);
            } else {
                uint8_t out[STUN_MAX_MESSAGE];
                stun_server_connect_back_t cb;
                bool pending;
                stun_server_reply_t r = stun_server_handle_stream(srv, STUN_SOCKET_PRIMARY, local[op.conn],
                                                                  op.data, op.len, out, sizeof out, &cb, &pending);
                size_t n = r.len;
                if (pending) {
                    stun_connect_result_t res = { .outcome = listening[cb.to.port] ? STUN_CONNECT_CONNECTED
                                                                                   : STUN_CONNECT_RESET };
                    n = stun_server_connect_back_answer(srv, &cb, &res, out, sizeof out);
                }
                netcheck_tcp_message(t, op.conn, out, n, now);
            }
        }
        now += 1000;
    }
    CU_ASSERT_TRUE_FATAL(netcheck_tcp_done(t));
    const netcheck_tcp_result_t *r = netcheck_tcp_result(t);
    CU_ASSERT_TRUE(r->allowed);
    CU_ASSERT_TRUE(r->no_nat);
    CU_ASSERT_TRUE(r->unsolicited_ok);
    CU_ASSERT_EQUAL(r->filtering, NAT_ENDPOINT_INDEPENDENT);
    CU_ASSERT_EQUAL(r->mapped_count, 3);
    CU_ASSERT_TRUE(addr_endpoint_equal(r->other_address, addr_endpoint(sc.alt_address, 3479)));
    CU_ASSERT_EQUAL(stun_server_connect_back_pending(srv), 0);
    netcheck_tcp_free(t);
    stun_server_free(srv);
}

/* The core against the server core behind a modelled NAT: endpoint-
 * independent mapping that keeps the port, the given filtering, a reset for
 * what the filter refuses. Under endpoint-independent mapping the first
 * connection's mapping has talked to A2 (tests II and III), so an
 * address-dependent filter admits A2 there: the filtering test must use a
 * mapping that only talked to A1:P1. */
static void driven_nat(nat_dependence_t filtering)
{
    stun_server_config_t sc = { .address = ADDR_IP(198, 19, 1, 1), .alt_address = ADDR_IP(198, 19, 1, 2),
                                .port = 3478, .alt_port = 3479 };
    stun_server_t *srv = stun_server_new(&sc);
    netcheck_tcp_config_t cfg = { .server = addr_endpoint(sc.address, 3478), .udp_works = true, .seed = 9 };
    usec_t now = 1000000;
    netcheck_tcp_t *t = netcheck_tcp_new(&cfg, now);
    addr_endpoint_t local[NETCHECK_TCP_MAX_CONNS] = { { 0 } };
    static bool listening[65536], sent[65536];
    static addr_endpoint_t perm[65536][4]; /* remotes each port has connected to */
    memset(listening, 0, sizeof listening);
    memset(sent, 0, sizeof sent);
    memset(perm, 0, sizeof perm);
    uint16_t next_port = 30000;
    unsigned rounds = 0;
    while (!netcheck_tcp_done(t) && rounds++ < 1000) {
        netcheck_tcp_bookkeeping(t, now);
        netcheck_tcp_op_t op;
        while (netcheck_tcp_pop_op(t, &op)) {
            uint16_t port = op.reuse >= 0 ? local[op.reuse].port : next_port++;
            if (op.kind == NETCHECK_TCP_OPEN) {
                local[op.conn] = addr_endpoint(LOCAL.ip, port);
                sent[port] = true;
                for (unsigned i = 0; i < 4; i++) {
                    if (!perm[port][i].ip) {
                        perm[port][i] = op.to;
                        break;
                    }
                }
                netcheck_tcp_opened(t, op.conn, local[op.conn], NETCHECK_TCP_FAIL_NONE, now);
            } else if (op.kind == NETCHECK_TCP_LISTEN) {
                local[op.conn] = addr_endpoint(LOCAL.ip, port);
                listening[port] = true;
                netcheck_tcp_listening(t, op.conn, local[op.conn], now);
            } else {
                uint8_t out[STUN_MAX_MESSAGE];
                stun_server_connect_back_t cb;
                bool pending;
                stun_server_reply_t r = stun_server_handle_stream(srv, STUN_SOCKET_PRIMARY,
                                                                  PUB(local[op.conn].port), op.data, op.len,
                                                                  out, sizeof out, &cb, &pending);
                size_t n = r.len;
                if (pending) {
                    uint16_t p = cb.to.port;
                    bool admitted = filtering == NAT_ENDPOINT_INDEPENDENT;
                    for (unsigned i = 0; i < 4 && filtering == NAT_ADDRESS_DEPENDENT; i++)
                        admitted |= perm[p][i].ip == cb.from_ip;
                    stun_connect_result_t res = {
                        .outcome = sent[p] && listening[p] && admitted ? STUN_CONNECT_CONNECTED
                                                                       : STUN_CONNECT_RESET
                    };
                    n = stun_server_connect_back_answer(srv, &cb, &res, out, sizeof out);
                }
                netcheck_tcp_message(t, op.conn, out, n, now);
            }
        }
        now += 1000;
    }
    CU_ASSERT_TRUE_FATAL(netcheck_tcp_done(t));
    const netcheck_tcp_result_t *r = netcheck_tcp_result(t);
    CU_ASSERT_FALSE(r->no_nat);
    CU_ASSERT_EQUAL(r->known, NETCHECK_TCP_KNOWN_ALLOWED | NETCHECK_TCP_KNOWN_MAPPING |
                                  NETCHECK_TCP_KNOWN_FILTERING | NETCHECK_TCP_KNOWN_ALLOCATION |
                                  NETCHECK_TCP_KNOWN_UNSOLICITED);
    CU_ASSERT_EQUAL(r->mapping, NAT_ENDPOINT_INDEPENDENT);
    CU_ASSERT_EQUAL(r->filtering, filtering);
    CU_ASSERT_EQUAL(r->allocation, NAT_ALLOC_PRESERVE);
    CU_ASSERT_EQUAL(r->unsolicited, NETCHECK_TCP_SYN_RST);
    CU_ASSERT_FALSE(addr_endpoint_equal(r->cb[NETCHECK_TCP_CB_FROM_OTHER].to, r->mapped[0]));
    netcheck_tcp_free(t);
    stun_server_free(srv);
}

static void test_driven_nat(void)
{
    driven_nat(NAT_ENDPOINT_INDEPENDENT);
    driven_nat(NAT_ADDRESS_DEPENDENT);
    driven_nat(NAT_ADDRESS_AND_PORT_DEPENDENT);
}

/* A server that never answers: the first connection times out, bounded. */
static void test_driven_silent(void)
{
    netcheck_tcp_config_t cfg = { .server = addr_endpoint(ADDR_IP(198, 19, 1, 1), 3478), .udp_works = true };
    netcheck_tcp_t *t = netcheck_tcp_new(&cfg, 0);
    usec_t now = 0, next = netcheck_tcp_bookkeeping(t, now);
    CU_ASSERT_EQUAL(next, NETCHECK_TCP_STEP_TIMEOUT);
    netcheck_tcp_op_t op;
    CU_ASSERT_TRUE(netcheck_tcp_pop_op(t, &op));
    CU_ASSERT_EQUAL(op.kind, NETCHECK_TCP_OPEN);
    CU_ASSERT_FALSE(netcheck_tcp_pop_op(t, &op));
    netcheck_tcp_bookkeeping(t, next - 1);
    CU_ASSERT_FALSE(netcheck_tcp_done(t));
    netcheck_tcp_bookkeeping(t, next);
    CU_ASSERT_TRUE(netcheck_tcp_done(t));
    CU_ASSERT_FALSE(netcheck_tcp_result(t)->allowed);
    CU_ASSERT_EQUAL(netcheck_tcp_result(t)->fail, NETCHECK_TCP_FAIL_TIMEOUT);
    netcheck_tcp_free(t);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "verdicts behind a NAT", test_classify_nat },
        { "partial evidence, blocked TCP, no NAT", test_classify_partial },
        { "driven against the server core, no NAT", test_driven_no_nat },
        { "driven behind a modelled NAT: EIF, ADF, APDF", test_driven_nat },
        { "a silent server: bounded", test_driven_silent },
        { NULL, NULL },
    };
    return test_run_suite("netcheck_tcp", cases);
}
