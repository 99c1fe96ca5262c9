/* The punch core reaching natlab server over TCP (issue 13): behind
 * udp-blocked and a corporate firewall every message goes through the
 * server over the stream; a refused port moves on to 443; with neither the
 * failure names both transports; when UDP comes back the session moves to
 * it. The stream's bytes reach the core cut anywhere: sim/simnet cuts every
 * frame at a random point, and one test feeds a fake server's answers one
 * byte at a time. */
#include <CUnit/Basic.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "agent/punch.h"
#include "common/agentframe.h"
#include "natsim/nat_profile.h"
#include "server/rendezvous.h"
#include "sim/simnet.h"
#include "natsim_fixture.h"
#include "testutil.h"

#define CORPORATE_REJECT "[nat]\npreset = corporate\nrefused = reject\n"
#define NO_WAY_OUT "[nat]\npreset = corporate\nallow-out-tcp = 80\nallow-out-udp = none\n"

typedef struct record {
    unsigned to_tcp[SIMNET_HOSTS], to_udp[SIMNET_HOSTS];
    usec_t tcp_at[SIMNET_HOSTS], udp_at[SIMNET_HOSTS];
    addr_endpoint_t tcp_server[SIMNET_HOSTS];
    bool registered_tcp[SIMNET_HOSTS];
    char gave_up[SIMNET_HOSTS][160];
    char failed[SIMNET_HOSTS][256];
    char transport_reason[SIMNET_HOSTS][96];
    unsigned fallbacks[SIMNET_HOSTS];
    unsigned direct[SIMNET_HOSTS];
} record_t;

static void on_event(unsigned host, usec_t t, const punch_event_t *e, void *ctx)
{
    record_t *r = ctx;
    if (g_getenv("PUNCH_TRACE"))
        fprintf(stderr, "  [%u %.3f] %s %s\n", host, (double)t / 1e6, punch_event_name(e->kind),
                e->reason ? e->reason : "");
    switch (e->kind) {
    case PUNCH_EVENT_TRANSPORT:
        if (e->tcp) {
            r->to_tcp[host]++;
            r->tcp_at[host] = t;
            r->tcp_server[host] = e->remote;
            g_strlcpy(r->transport_reason[host], e->reason, sizeof r->transport_reason[host]);
        } else {
            r->to_udp[host]++;
            r->udp_at[host] = t;
        }
        break;
    case PUNCH_EVENT_REGISTERED:
        r->registered_tcp[host] = e->tcp;
        break;
    case PUNCH_EVENT_PUNCH_GAVE_UP:
        g_strlcpy(r->gave_up[host], e->reason, sizeof r->gave_up[host]);
        break;
    case PUNCH_EVENT_FAILED:
        g_strlcpy(r->failed[host], e->reason, sizeof r->failed[host]);
        break;
    case PUNCH_EVENT_DIRECT:
        r->direct[host]++;
        break;
    case PUNCH_EVENT_RELAY_FALLBACK:
        r->fallbacks[host]++;
        break;
    default:
        break;
    }
}

static simnet_result_t run(simnet_options_t o, const char *a, const char *b, record_t *rec)
{
    nat_profile_t *pa = profile_of(a), *pb = profile_of(b);
    o.nat[0] = pa;
    o.nat[1] = pb;
    memset(rec, 0, sizeof *rec);
    o.trace = on_event;
    o.trace_ctx = rec;
    simnet_result_t r;
    g_assert(simnet_attempt(&o, &r));
    nat_profile_free(pa);
    nat_profile_free(pb);
    return r;
}

static void assert_all_delivered(const simnet_result_t *r)
{
    CU_ASSERT_TRUE(r->done);
    CU_ASSERT_FALSE(r->failed);
    CU_ASSERT(r->sent > 0);
    CU_ASSERT_EQUAL(r->stats[0].delivered, r->sent);
    CU_ASSERT_EQUAL(r->stats[0].echoed, r->sent);
}

/* udp-blocked against a port-restricted cone: over TCP at the server's own
 * port (udp-blocked passes TCP), relayed, nobody punches. */
static void test_udp_blocked(void)
{
    record_t rec;
    simnet_options_t o = { .seed = 3 };
    simnet_result_t r = run(o, "udp-blocked", "port-restricted-cone", &rec);
    assert_all_delivered(&r);
    CU_ASSERT_EQUAL(r.path, PUNCH_PATH_RELAY);
    CU_ASSERT_EQUAL(rec.to_tcp[0], 1);
    CU_ASSERT_EQUAL(rec.tcp_server[0].port, 3478);
    CU_ASSERT_TRUE(rec.registered_tcp[0]);
    CU_ASSERT_FALSE(rec.registered_tcp[1]);
    CU_ASSERT_EQUAL(rec.to_tcp[1], 0);
    ASSERT_CONTAINS(rec.gave_up[0], "natlab server over TCP");
    ASSERT_CONTAINS(rec.gave_up[1], "the peer has no UDP path");
    CU_ASSERT_EQUAL(r.stats[0].probes_sent, 0);
    CU_ASSERT_EQUAL(r.stats[1].probes_sent, 0);
    CU_ASSERT(r.server_relayed >= 2 * r.sent);
    CU_ASSERT(r.ttfb > 0 && r.ttfb < USEC_PER_SEC);
    /* no punch timeout waited for: done within a second or so of the session */
    CU_ASSERT(r.elapsed < 8 * USEC_PER_SEC);
}

/* Both sides over TCP, each with frames cut at random: several seeds. */
static void test_both_blocked(void)
{
    for (uint64_t seed = 1; seed <= 5; seed++) {
        record_t rec;
        simnet_options_t o = { .seed = seed, .send = 30, .interval = 20 * USEC_PER_MSEC };
        simnet_result_t r = run(o, "udp-blocked", "udp-blocked", &rec);
        assert_all_delivered(&r);
        CU_ASSERT_EQUAL(r.path, PUNCH_PATH_RELAY);
        CU_ASSERT_TRUE(rec.registered_tcp[0] && rec.registered_tcp[1]);
        CU_ASSERT_EQUAL(r.stats[0].dropped[PUNCH_DROP_MALFORMED], 0);
    }
}

/* A corporate firewall that drops what it refuses: 3478 gets no answer for
 * 3 s, then 443 works. */
static void test_corporate_drop(void)
{
    record_t rec;
    simnet_options_t o = { .seed = 4 };
    simnet_result_t r = run(o, "corporate", "full-cone", &rec);
    assert_all_delivered(&r);
    CU_ASSERT_EQUAL(rec.tcp_server[0].port, 443);
    /* 5 s of Bindings, 3 s for the dropped SYN to 3478 */
    CU_ASSERT(rec.tcp_at[0] >= 8 * USEC_PER_SEC && rec.tcp_at[0] < 9 * USEC_PER_SEC);
}

/* One that resets: 3478 refused at once, then 443. */
static void test_corporate_reject(void)
{
    record_t rec;
    simnet_options_t o = { .seed = 5 };
    simnet_result_t r = run(o, CORPORATE_REJECT, "symmetric", &rec);
    assert_all_delivered(&r);
    CU_ASSERT_EQUAL(rec.tcp_server[0].port, 443);
    CU_ASSERT(rec.tcp_at[0] >= 5 * USEC_PER_SEC && rec.tcp_at[0] < 6 * USEC_PER_SEC);
}

/* Neither UDP nor TCP 3478 or 443 leave: the reason names every try. */
static void test_no_way_out(void)
{
    record_t rec;
    simnet_options_t o = { .seed = 6 };
    simnet_result_t r = run(o, NO_WAY_OUT, "full-cone", &rec);
    CU_ASSERT_TRUE(r.failed);
    ASSERT_CONTAINS(rec.failed[0], "UDP 198.19.1.1:3478 does not answer");
    ASSERT_CONTAINS(rec.failed[0], "TCP 3478: no answer within 3 s");
    ASSERT_CONTAINS(rec.failed[0], "TCP 443: no answer within 3 s");
    CU_ASSERT(r.elapsed >= 11 * USEC_PER_SEC && r.elapsed < 12 * USEC_PER_SEC);
    /* with resets, the errno text of each */
    r = run(o, "[nat]\npreset = corporate\nallow-out-tcp = 80\nrefused = reject\n", "full-cone", &rec);
    CU_ASSERT_TRUE(r.failed);
    ASSERT_CONTAINS(rec.failed[0], "TCP 3478: Connection refused, TCP 443: Connection refused");
}

/* The firewall opens UDP 20 s in: within one probe interval the agent
 * registers over UDP, closes the stream, and the session goes on (and may
 * go direct: a cone on the other side). */
static void test_udp_comes_back(void)
{
    record_t rec;
    simnet_event_t ev = { .at = 20 * USEC_PER_SEC, .host = 0, .action = SIMNET_SET,
                          .key = "allow-out-udp", .value = "all" };
    simnet_options_t o = { .seed = 7, .hold = 40 * USEC_PER_SEC, .events = &ev, .n_events = 1,
                           .interval = 200 * USEC_PER_MSEC };
    simnet_result_t r = run(o, "corporate", "full-cone", &rec);
    CU_ASSERT_PTR_NULL(r.event_error);
    assert_all_delivered(&r);
    CU_ASSERT_EQUAL(rec.to_tcp[0], 1);
    CU_ASSERT_EQUAL(rec.to_udp[0], 1);
    CU_ASSERT(rec.udp_at[0] > 20 * USEC_PER_SEC && rec.udp_at[0] < 26 * USEC_PER_SEC);
    /* corporate maps per destination at random, the peer is a full cone:
     * the peer's probes reach us once we punch. */
    CU_ASSERT_EQUAL(r.path, PUNCH_PATH_DIRECT);
    CU_ASSERT(r.stats[0].probes_sent > 0);
}

/* UDP stops 10 s into a direct session between two cones (the NAT drops
 * UDP out from then on): the direct path dies and falls back as ever, the
 * REGISTER over UDP goes unanswered, and within seconds the agent is on
 * the TCP stream, registered again, relayed through the server; no message
 * is lost, and nobody punches for nothing. */
static void test_udp_stops_direct(void)
{
    record_t rec;
    simnet_event_t ev = { .at = 10 * USEC_PER_SEC, .host = 0, .action = SIMNET_SET,
                          .key = "allow-out-udp", .value = "none" };
    simnet_options_t o = { .seed = 8, .hold = 30 * USEC_PER_SEC, .events = &ev, .n_events = 1,
                           .interval = 200 * USEC_PER_MSEC };
    simnet_result_t r = run(o, "port-restricted-cone", "full-cone", &rec);
    CU_ASSERT_PTR_NULL(r.event_error);
    assert_all_delivered(&r);
    CU_ASSERT(r.sent >= 100); /* 30 s at 200 ms: data flowed across the change */
    CU_ASSERT(rec.direct[0] >= 1);
    CU_ASSERT_EQUAL(rec.fallbacks[0], 1);
    CU_ASSERT_EQUAL(rec.to_tcp[0], 1);
    CU_ASSERT_EQUAL(rec.to_udp[0], 0);
    CU_ASSERT_EQUAL(rec.tcp_server[0].port, 3478);
    ASSERT_CONTAINS(rec.transport_reason[0], "stopped answering over UDP");
    CU_ASSERT(rec.tcp_at[0] > 10 * USEC_PER_SEC && rec.tcp_at[0] < 16 * USEC_PER_SEC);
    CU_ASSERT_FALSE(rec.registered_tcp[0]); /* one registered event: the first, over UDP */
    ASSERT_CONTAINS(rec.gave_up[0], "natlab server over TCP");
    ASSERT_CONTAINS(rec.gave_up[1], "the peer has no UDP path");
    CU_ASSERT_EQUAL(r.path, PUNCH_PATH_RELAY);
    CU_ASSERT(r.server_relayed > 0);
}

/* A relayed session (random against random) whose UDP stops at 10 s and
 * comes back at 25 s: relayed data unanswered for a second asks the server
 * at once, TCP carries the session, and it moves back to UDP. */
static void test_udp_stops_relayed(void)
{
    record_t rec;
    simnet_event_t ev[2] = {
        { .at = 10 * USEC_PER_SEC, .host = 0, .action = SIMNET_SET, .key = "allow-out-udp",
          .value = "none" },
        { .at = 25 * USEC_PER_SEC, .host = 0, .action = SIMNET_SET, .key = "allow-out-udp",
          .value = "all" },
    };
    simnet_options_t o = { .seed = 9, .hold = 40 * USEC_PER_SEC, .events = ev, .n_events = 2,
                           .interval = 200 * USEC_PER_MSEC };
    simnet_result_t r = run(o, "symmetric", "symmetric", &rec);
    CU_ASSERT_PTR_NULL(r.event_error);
    assert_all_delivered(&r);
    CU_ASSERT_EQUAL(rec.direct[0], 0);
    CU_ASSERT_EQUAL(rec.to_tcp[0], 1);
    /* a second of unacknowledged data, 3 s of REGISTERs */
    CU_ASSERT(rec.tcp_at[0] > 10 * USEC_PER_SEC && rec.tcp_at[0] < 15 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(rec.to_udp[0], 1);
    CU_ASSERT(rec.udp_at[0] > 25 * USEC_PER_SEC && rec.udp_at[0] < 31 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(rec.to_tcp[1], 0);
    CU_ASSERT_EQUAL(r.path, PUNCH_PATH_RELAY);
}

/* ---- one core against a fake server, the stream's bytes one at a time ---- */

static bool pop_kind(punch_t *p, enum punch_output_kind kind, punch_output_t *out)
{
    while (punch_pop_output(p, out))
        if (out->kind == kind)
            return true;
    return false;
}

static void test_byte_by_byte(void)
{
    punch_config_t c;
    punch_config_init(&c);
    c.name = "alice";
    c.server = addr_endpoint(ADDR_IP(198, 19, 1, 1), 3478);
    c.portmap = c.broadcast = false;
    c.server_tcp_ports[0] = 8443;
    c.n_server_tcp_ports = 1;
    usec_t now = 1000 * USEC_PER_SEC;
    punch_t *p = punch_new(&c, now);
    punch_output_t *o = g_new(punch_output_t, 1);
    /* UDP unanswered for 5 s */
    usec_t next = now;
    while (next && next < now + 6 * USEC_PER_SEC && !punch_failed(p)) {
        now = next;
        next = punch_bookkeeping(p, now);
        if (pop_kind(p, PUNCH_OUT_STREAM_CONNECT, o))
            break;
    }
    CU_ASSERT_EQUAL(o->kind, PUNCH_OUT_STREAM_CONNECT);
    CU_ASSERT_TRUE(addr_endpoint_equal(o->to, addr_endpoint(c.server.ip, 8443)));
    CU_ASSERT(now >= 1005 * USEC_PER_SEC);
    punch_stream_connected(p, now);
    CU_ASSERT_TRUE(punch_over_tcp(p));
    CU_ASSERT_TRUE(pop_kind(p, PUNCH_OUT_STREAM_SEND, o));
    /* the server's side: a frame around a REGISTER */
    agentframe_t f;
    CU_ASSERT_EQUAL(agentframe_parse(o->data, o->len, &f), AGENTFRAME_AGENTMSG);
    CU_ASSERT_EQUAL(f.consumed, o->len);
    rendezvous_config_t rc = { .first_stream_socket = 16 };
    rendezvous_t *rdv = rendezvous_new(&rc, 1);
    rendezvous_out_t out[RENDEZVOUS_OUT_MAX];
    addr_endpoint_t seen = addr_endpoint(ADDR_IP(198, 18, 1, 1), 40123);
    unsigned n = rendezvous_handle(rdv, 16, seen, f.msg, f.len, now, out);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(out[0].socket, 16);
    uint8_t frame[AGENTFRAME_MAX_SIZE];
    size_t len = agentframe_write(out[0].data, out[0].len, frame, sizeof frame);
    bool registered = false;
    for (size_t i = 0; i < len; i++) {
        punch_stream_receive(p, frame + i, 1, now);
        while (punch_pop_output(p, o))
            if (o->kind == PUNCH_OUT_EVENT && o->event.kind == PUNCH_EVENT_REGISTERED) {
                registered = true;
                CU_ASSERT_EQUAL(i, len - 1); /* not before its last byte */
                CU_ASSERT_TRUE(o->event.tcp);
                CU_ASSERT_TRUE(addr_endpoint_equal(o->event.local, seen));
                CU_ASSERT_EQUAL(o->event.nat.mapping, AGENTMSG_MAPPING_NO_UDP);
            }
    }
    CU_ASSERT_TRUE(registered);
    /* a Binding over UDP goes out every 5 s while on TCP */
    next = punch_bookkeeping(p, now);
    now += 5 * USEC_PER_SEC;
    punch_bookkeeping(p, now);
    bool binding = false;
    while (punch_pop_output(p, o))
        binding |= o->kind == PUNCH_OUT_SEND && o->data[0] == 0x00 && o->data[1] == 0x01 &&
                   addr_endpoint_equal(o->to, c.server);
    CU_ASSERT_TRUE(binding);
    /* garbage at a message boundary: the stream is dropped, and the core
     * connects again */
    punch_stream_receive(p, (const uint8_t *)"\x7fjunk", 5, now);
    CU_ASSERT_EQUAL(punch_stats(p)->dropped[PUNCH_DROP_MALFORMED], 1);
    bool closed = false, again = false;
    while (punch_pop_output(p, o)) {
        closed |= o->kind == PUNCH_OUT_STREAM_CLOSE;
        again |= closed && o->kind == PUNCH_OUT_STREAM_CONNECT && o->to.port == 8443;
    }
    CU_ASSERT_TRUE(closed && again);
    CU_ASSERT_FALSE(punch_failed(p));
    /* refused this time: no other port, so the agent fails and says why */
    punch_stream_broken(p, "Connection refused", now);
    CU_ASSERT_TRUE(punch_failed(p));
    bool failed = false;
    while (punch_pop_output(p, o))
        if (o->kind == PUNCH_OUT_EVENT && o->event.kind == PUNCH_EVENT_FAILED) {
            failed = true;
            ASSERT_CONTAINS(o->event.reason, "TCP 8443: Connection refused");
        }
    CU_ASSERT_TRUE(failed);
    rendezvous_free(rdv);
    g_free(o);
    punch_free(p);
}

/* An ICMP refusal of the server's Binding: TCP at once, not after 5 s;
 * one for another destination changes nothing. */
static void test_icmp_refusal(void)
{
    punch_config_t c;
    punch_config_init(&c);
    c.name = "alice";
    c.server = addr_endpoint(ADDR_IP(198, 19, 1, 1), 3478);
    c.portmap = c.broadcast = false;
    usec_t now = 1000 * USEC_PER_SEC;
    punch_t *p = punch_new(&c, now);
    punch_output_t *o = g_new(punch_output_t, 1);
    while (punch_pop_output(p, o))
        ;
    punch_unreachable(p, addr_endpoint(ADDR_IP(198, 19, 1, 9), 3478), now + 10);
    CU_ASSERT_FALSE(pop_kind(p, PUNCH_OUT_STREAM_CONNECT, o));
    punch_unreachable(p, c.server, now + 20);
    CU_ASSERT_TRUE(pop_kind(p, PUNCH_OUT_STREAM_CONNECT, o));
    CU_ASSERT_TRUE(addr_endpoint_equal(o->to, c.server));
    punch_stream_broken(p, "Connection refused", now + 30);
    CU_ASSERT_TRUE(pop_kind(p, PUNCH_OUT_STREAM_CONNECT, o));
    CU_ASSERT_EQUAL(o->to.port, PUNCH_TCP_FALLBACK_PORT);
    punch_bookkeeping(p, now + 3 * USEC_PER_SEC + 30); /* 443 silent for 3 s */
    CU_ASSERT_TRUE(punch_failed(p));
    bool failed = false;
    while (punch_pop_output(p, o))
        if (o->kind == PUNCH_OUT_EVENT && o->event.kind == PUNCH_EVENT_FAILED) {
            failed = true;
            ASSERT_CONTAINS(o->event.reason, "UDP 198.19.1.1:3478 refused (ICMP unreachable), "
                                             "TCP 3478: Connection refused, TCP 443: no answer within 3 s");
        }
    CU_ASSERT_TRUE(failed);
    g_free(o);
    punch_free(p);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "udp-blocked: registered and relayed over TCP", test_udp_blocked },
        { "both udp-blocked, frames cut anywhere", test_both_blocked },
        { "corporate (drop): 3478 times out, 443 works", test_corporate_drop },
        { "corporate (reject): 3478 refused, 443 works", test_corporate_reject },
        { "no UDP, no TCP: the reason names both", test_no_way_out },
        { "UDP comes back: the session moves to it", test_udp_comes_back },
        { "UDP stops under a direct session: TCP", test_udp_stops_direct },
        { "UDP stops under a relayed session: TCP, and back", test_udp_stops_relayed },
        { "a fake server's stream, one byte at a time", test_byte_by_byte },
        { "an ICMP refusal: TCP at once", test_icmp_refusal },
        { NULL, NULL },
    };
    return test_run_suite("punch_tcp", cases);
}
