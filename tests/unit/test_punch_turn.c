/* The punch core with TURN (sim/simnet with sim/simturn): the relay path
 * runs from one allocation to the other when punching cannot work, data
 * starts there and moves direct when it can, a wrong password or a TURN
 * server that goes away leaves the session on natlab's relay, and every
 * message arrives in each case. */
#include <CUnit/Basic.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "agent/punch.h"
#include "natsim/nat_profile.h"
#include "sim/simnet.h"
#include "natsim_fixture.h"
#include "testutil.h"

/* What the events said, per host. */
typedef struct record {
    unsigned allocated[SIMNET_HOSTS], turn_failed[SIMNET_HOSTS];
    char turn_reason[SIMNET_HOSTS][256]; /* the last; a copy: the text dies with the core */
    bool first_byte_seen[SIMNET_HOSTS], first_byte_turn[SIMNET_HOSTS];
    enum punch_path_kind first_byte_path[SIMNET_HOSTS];
    bool relay_candidate[SIMNET_HOSTS]; /* the peer's RELAY candidate came with the session */
    addr_endpoint_t relayed[SIMNET_HOSTS];
    unsigned to_turn[SIMNET_HOSTS], to_natlab[SIMNET_HOSTS]; /* path-changed to the relay */
    addr_endpoint_t first_relayed[SIMNET_HOSTS];
    char allocated_reason[SIMNET_HOSTS][256]; /* the last turn-allocated's */
    usec_t allocated_at[SIMNET_HOSTS];
    unsigned sessions[SIMNET_HOSTS];
    addr_endpoint_t peer_relay[SIMNET_HOSTS]; /* the last session event's RELAY candidate */
} record_t;

static void on_event(unsigned host, usec_t t, const punch_event_t *e, void *ctx)
{
    record_t *r = ctx;
    if (g_getenv("PUNCH_TRACE"))
        fprintf(stderr, "  [%u %.3f] %s %s\n", host, (double)t / 1e6, punch_event_name(e->kind),
                e->reason ? e->reason : "");
    switch (e->kind) {
    case PUNCH_EVENT_TURN_ALLOCATED:
        if (!r->allocated[host]++)
            r->first_relayed[host] = e->remote;
        r->relayed[host] = e->remote;
        r->allocated_at[host] = t;
        g_strlcpy(r->allocated_reason[host], e->reason ? e->reason : "", sizeof r->allocated_reason[host]);
        break;
    case PUNCH_EVENT_TURN_FAILED:
        r->turn_failed[host]++;
        g_strlcpy(r->turn_reason[host], e->reason ? e->reason : "", sizeof r->turn_reason[host]);
        break;
    case PUNCH_EVENT_FIRST_BYTE:
        r->first_byte_seen[host] = true;
        r->first_byte_path[host] = e->path;
        r->first_byte_turn[host] = e->turn;
        break;
    case PUNCH_EVENT_PATH_CHANGED:
        if (e->path == PUNCH_PATH_RELAY) {
            r->to_turn[host] += e->turn;
            r->to_natlab[host] += !e->turn;
        }
        break;
    case PUNCH_EVENT_SESSION:
        r->sessions[host]++;
        for (unsigned i = 0; i < e->n_candidates; i++)
            if (e->candidates[i].type == AGENTMSG_CANDIDATE_RELAY) {
                r->relay_candidate[host] = true;
                r->peer_relay[host] = e->candidates[i].endpoint;
            }
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
    o.turn = true;
    memset(rec, 0, sizeof *rec);
    o.trace = on_event;
    o.trace_ctx = rec;
    simnet_result_t r;
    g_assert(simnet_attempt(&o, &r));
    nat_profile_free(pa);
    nat_profile_free(pb);
    return r;
}

/* Two symmetric NATs: no direct path; every message goes from one
 * allocation to the other, none through natlab server's RELAY. */
static void test_symmetric_pair(void)
{
    for (uint64_t seed = 1; seed <= 4; seed++) {
        record_t ev;
        simnet_options_t o = { .seed = seed };
        simnet_result_t r = run(o, "symmetric", "symmetric", &ev);
        CU_ASSERT(r.done);
        CU_ASSERT_FALSE(r.failed);
        CU_ASSERT_EQUAL(r.path, PUNCH_PATH_RELAY);
        CU_ASSERT_EQUAL(r.stats[0].delivered, r.stats[0].data_sent);
        CU_ASSERT(r.stats[0].data_sent >= SIMNET_SEND_DEFAULT);
        for (unsigned h = 0; h < SIMNET_HOSTS; h++) {
            CU_ASSERT_EQUAL(ev.allocated[h], 1);
            CU_ASSERT_EQUAL(ev.turn_failed[h], 0);
            CU_ASSERT(ev.relay_candidate[h]);
            CU_ASSERT(r.stats[h].turn_sent > 0 && r.stats[h].turn_received > 0);
            CU_ASSERT(ev.first_byte_seen[h] && ev.first_byte_path[h] == PUNCH_PATH_RELAY &&
                      ev.first_byte_turn[h]);
        }
        CU_ASSERT_EQUAL(ev.relayed[0].ip, ADDR_IP(198, 19, 3, 1));
        CU_ASSERT_EQUAL(r.server_relayed, 0);
        CU_ASSERT(r.turn.relayed_out > 0 && r.turn.relayed_in > 0);
        CU_ASSERT_EQUAL(r.turn.allocations, 2);
        CU_ASSERT_EQUAL(r.turn.refused, 0);
    }
}

/* A cone pair: TURN carries the session's start, punching moves it direct
 * as without TURN. */
static void test_cone_pair_goes_direct(void)
{
    record_t ev;
    simnet_options_t o = { .seed = 5 };
    simnet_result_t r = run(o, "full-cone", "port-restricted-cone", &ev);
    CU_ASSERT(r.done);
    CU_ASSERT_EQUAL(r.path, PUNCH_PATH_DIRECT);
    CU_ASSERT_EQUAL(r.technique, AGENTMSG_TECHNIQUE_PUNCH);
    CU_ASSERT(r.stats[0].turn_sent > 0);
    CU_ASSERT(r.turn.relayed_out > 0);
    CU_ASSERT_EQUAL(r.server_relayed, 0);
    CU_ASSERT(r.ttd > 0 && r.ttd < USEC_PER_SEC);
}

/* A NAT reboot kills the direct path: relay-fallback goes back to the
 * TURN relay (path-changed says so), not to natlab's, and punching finds
 * the direct path again. (The reboot cut the TURN socket's mapping too,
 * so TURN itself carries nothing here: the allocation is not re-made
 * after a 5-tuple change yet.) */
static void test_fallback_to_turn(void)
{
    record_t ev;
    punch_config_t agent;
    punch_config_init(&agent);
    agent.keepalive = 2 * USEC_PER_SEC;
    simnet_event_t reboot = { .at = 5 * USEC_PER_SEC, .host = 0, .action = SIMNET_REBOOT };
    simnet_options_t o = { .seed = 40, .hold = 20 * USEC_PER_SEC, .events = &reboot, .n_events = 1,
                           .agent = &agent };
    simnet_result_t r = run(o, "cgnat", "home-router", &ev);
    CU_ASSERT(r.done);
    CU_ASSERT_EQUAL(r.path, PUNCH_PATH_DIRECT);
    CU_ASSERT_EQUAL(r.stats[0].delivered, r.stats[0].data_sent);
    CU_ASSERT(r.stats[0].fallbacks + r.stats[1].fallbacks >= 1);
    CU_ASSERT(ev.to_turn[0] + ev.to_turn[1] >= 1);
    CU_ASSERT_EQUAL(ev.to_natlab[0] + ev.to_natlab[1], 0);
    CU_ASSERT_EQUAL(r.server_relayed, 0);
}

/* Host 0's NAT reboots 5 s into a session relayed through TURN (two
 * symmetric NATs): its TURN socket's mapping is gone, so the server sees
 * another 5-tuple and answers the Refresh that the silence prompts with
 * 437. The agent allocates again (a new relayed address, turn-allocated
 * with the reason), re-registers with it, the peer moves its data there,
 * and the session ends through TURN with every message delivered. */
static void test_reallocate_after_reboot(void)
{
    for (uint64_t seed = 50; seed < 53; seed++) {
        record_t ev;
        simnet_event_t reboot = { .at = 5 * USEC_PER_SEC, .host = 0, .action = SIMNET_REBOOT };
        simnet_options_t o = { .seed = seed, .hold = 20 * USEC_PER_SEC, .events = &reboot,
                               .n_events = 1, .interval = 200 * USEC_PER_MSEC };
        simnet_result_t r = run(o, "symmetric", "symmetric", &ev);
        CU_ASSERT_PTR_NULL(r.event_error);
        CU_ASSERT(r.done);
        CU_ASSERT(r.sent >= 90);
        CU_ASSERT_EQUAL(r.stats[0].delivered, r.stats[0].data_sent);
        CU_ASSERT_EQUAL(r.stats[0].echoed, r.sent);
        CU_ASSERT_EQUAL(ev.allocated[0], 2);
        CU_ASSERT_EQUAL(ev.allocated[1], 1);
        CU_ASSERT_FALSE(addr_endpoint_equal(ev.first_relayed[0], ev.relayed[0]));
        ASSERT_CONTAINS(ev.allocated_reason[0], "437");
        CU_ASSERT(ev.allocated_at[0] > 5 * USEC_PER_SEC && ev.allocated_at[0] < 10 * USEC_PER_SEC);
        CU_ASSERT_EQUAL(r.turn.allocations, 3);
        CU_ASSERT_TRUE(r.relay_turn);
        CU_ASSERT_EQUAL(r.path, PUNCH_PATH_RELAY);
    }
}

/* 5% loss on every internet hop, TURN's requests and relayed data too:
 * retransmissions (TURN's and the data's) deliver everything. */
static void test_loss(void)
{
    unsigned done = 0, runs = 8;
    for (unsigned k = 0; k < runs; k++) {
        record_t ev;
        simnet_options_t o = { .seed = 300 + k, .loss = 0.05, .send = 30 };
        simnet_result_t r = run(o, "symmetric", "home-router", &ev);
        done += r.done && r.stats[0].delivered == r.stats[0].data_sent;
        CU_ASSERT(ev.allocated[0] == 1 && ev.allocated[1] == 1);
    }
    CU_ASSERT_EQUAL(done, runs);
}

/* A wrong password: the reason in turn-failed, no RELAY candidate, and
 * natlab's relay carries the session. */
static void test_wrong_password(void)
{
    record_t ev;
    simnet_options_t o = { .seed = 7, .turn_password = "not-the-password" };
    simnet_result_t r = run(o, "symmetric", "symmetric", &ev);
    CU_ASSERT(r.done);
    CU_ASSERT_EQUAL(r.path, PUNCH_PATH_RELAY);
    CU_ASSERT_EQUAL(ev.turn_failed[0], 1);
    CU_ASSERT_EQUAL(ev.allocated[0], 0);
    ASSERT_CONTAINS(ev.turn_reason[0], "wrong username or password");
    CU_ASSERT_FALSE(ev.relay_candidate[0]);
    CU_ASSERT(ev.first_byte_seen[0] && !ev.first_byte_turn[0]);
    CU_ASSERT_EQUAL(r.stats[0].turn_sent, 0);
    CU_ASSERT(r.server_relayed > 0);
    CU_ASSERT(r.turn.refused > 0);
}

/* The TURN server goes silent mid-session: data unanswered through TURN
 * for 2 s moves to natlab's relay, and nothing is lost. */
static void test_turn_server_dies(void)
{
    record_t ev;
    simnet_options_t o = { .seed = 11, .send = 40, .interval = 200 * USEC_PER_MSEC,
                           .turn_down_at = 3 * USEC_PER_SEC };
    simnet_result_t r = run(o, "symmetric", "symmetric", &ev);
    CU_ASSERT(r.done);
    CU_ASSERT_EQUAL(r.stats[0].delivered, r.stats[0].data_sent);
    CU_ASSERT(ev.turn_failed[0] >= 1);
    ASSERT_CONTAINS(ev.turn_reason[0], "no answer through TURN");
    CU_ASSERT(r.stats[0].turn_sent > 0);
    CU_ASSERT(r.server_relayed > 0);
}

/* A TURN server that never answers: after TURN's retries (15.5 s) both
 * agents register without a RELAY candidate and natlab's relay carries
 * the session. */
static void test_no_turn_answer(void)
{
    record_t ev;
    nat_profile_t *pa = profile_of("symmetric"), *pb = profile_of("symmetric");
    punch_config_t agent;
    punch_config_init(&agent);
    simnet_options_t o = { .seed = 13, .agent = &agent, .turn = false };
    /* No TURN server in the sim: the agents' TURN bytes go nowhere. */
    agent.turn_server = addr_endpoint(ADDR_IP(198, 19, 3, 1), 3478);
    agent.turn_user = "natlab";
    agent.turn_password = "x";
    o.nat[0] = pa;
    o.nat[1] = pb;
    memset(&ev, 0, sizeof ev);
    o.trace = on_event;
    o.trace_ctx = &ev;
    simnet_result_t r;
    g_assert(simnet_attempt(&o, &r));
    nat_profile_free(pa);
    nat_profile_free(pb);
    CU_ASSERT(r.done);
    CU_ASSERT_EQUAL(ev.turn_failed[0], 1);
    ASSERT_CONTAINS(ev.turn_reason[0], "no answer from the TURN server");
    CU_ASSERT(r.server_relayed > 0);
}

/* TURN over TCP to a port that does not answer: 443 after 3 s (what a
 * corporate firewall lets out), on a new connection; refused there too, the
 * reason names both ports. A refusal moves on at once. */
static bool turn_bytes_out(punch_t *p, punch_output_t *o, char *failed, size_t cap)
{
    bool out = false;
    while (punch_pop_output(p, o)) {
        out |= o->kind == PUNCH_OUT_TURN && o->len >= 20 && o->data[0] == 0x00 && o->data[1] == 0x03;
        if (o->kind == PUNCH_OUT_EVENT && o->event.kind == PUNCH_EVENT_TURN_FAILED)
            g_strlcpy(failed, o->event.reason, cap);
    }
    return out;
}

static void test_tcp_port_443(void)
{
    punch_config_t c;
    punch_config_init(&c);
    c.name = "alice";
    c.server = addr_endpoint(ADDR_IP(198, 19, 1, 1), 3478);
    c.portmap = c.broadcast = false;
    c.turn_server = addr_endpoint(ADDR_IP(198, 19, 1, 3), 3478);
    c.turn_tcp = true;
    c.turn_user = "natlab";
    c.turn_password = "pw";
    usec_t now = 1000 * USEC_PER_SEC;
    punch_t *p = punch_new(&c, now);
    punch_output_t *o = g_new(punch_output_t, 1);
    char failed[256] = "";
    unsigned conn1, conn2, conn3;
    CU_ASSERT_EQUAL(punch_turn_server(p, &conn1).port, 3478);
    CU_ASSERT_TRUE(turn_bytes_out(p, o, failed, sizeof failed)); /* the Allocate */
    /* the SYN dropped: nothing for 3 s */
    usec_t next = punch_bookkeeping(p, now + 2 * USEC_PER_SEC);
    CU_ASSERT(next <= now + 3 * USEC_PER_SEC);
    turn_bytes_out(p, o, failed, sizeof failed);
    CU_ASSERT_EQUAL(punch_turn_server(p, NULL).port, 3478);
    punch_bookkeeping(p, now + 3 * USEC_PER_SEC);
    addr_endpoint_t to = punch_turn_server(p, &conn2);
    CU_ASSERT_TRUE(addr_endpoint_equal(to, addr_endpoint(c.turn_server.ip, 443)));
    CU_ASSERT_NOT_EQUAL(conn1, conn2);
    CU_ASSERT_TRUE(turn_bytes_out(p, o, failed, sizeof failed)); /* the Allocate again, for 443 */
    CU_ASSERT_STRING_EQUAL(failed, "");
    /* refused on 443: given up, both ports in the reason, natlab's relay */
    punch_turn_broken(p, "the TCP connection to the TURN server: connect: Connection refused",
                      now + 3 * USEC_PER_SEC + 100);
    punch_turn_server(p, &conn3);
    CU_ASSERT_EQUAL(conn3, conn2);
    turn_bytes_out(p, o, failed, sizeof failed);
    CU_ASSERT_STRING_EQUAL(failed, "TCP 3478: no answer within 3 s, TCP 443: the TCP connection to "
                                   "the TURN server: connect: Connection refused");
    punch_free(p);
    /* a refusal on the URI's port: 443 at once */
    p = punch_new(&c, now);
    turn_bytes_out(p, o, failed, sizeof failed);
    punch_turn_broken(p, "refused", now + 10);
    CU_ASSERT_EQUAL(punch_turn_server(p, NULL).port, 443);
    CU_ASSERT_TRUE(turn_bytes_out(p, o, failed, sizeof failed));
    /* over UDP, or a URI at 443 already: no other port */
    punch_free(p);
    c.turn_server.port = 443;
    p = punch_new(&c, now);
    punch_bookkeeping(p, now + 4 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(punch_turn_server(p, NULL).port, 443);
    punch_free(p);
    g_free(o);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "symmetric pair relayed through TURN", test_symmetric_pair },
        { "cone pair: TURN first, then direct", test_cone_pair_goes_direct },
        { "5% loss with TURN", test_loss },
        { "a NAT reboot: the allocation is made again", test_reallocate_after_reboot },
        { "relay-fallback goes back to TURN", test_fallback_to_turn },
        { "wrong TURN password: natlab's relay", test_wrong_password },
        { "TURN server dies mid-session", test_turn_server_dies },
        { "no TURN server answers", test_no_turn_answer },
        { "TURN over TCP: 443 after the URI's port", test_tcp_port_443 },
        { NULL, NULL },
    };
    return test_run_suite("punch_turn", cases);
}
