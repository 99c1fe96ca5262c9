/* TCP punching's core (agent/tcppunch) between two instances on a virtual
 * clock: the mapping from two looks at the server, OFFER/ANSWER/SYNC through
 * a relay with a known delay, the SYNs' timing, three attempts with the
 * lead alternating, the decision not to try, accepted connections and
 * their framing. The network is the test's: it answers the server
 * connections with the mappings a case sets and decides each peer connect. */
#include <CUnit/Basic.h>
#include <glib.h>
#include <string.h>

#include "agent/tcppunch.h"
#include "common/agentframe.h"
#include "common/agentmsg.h"
#include "common/stun.h"
#include "testutil.h"

#define SERVER ADDR_IP(198, 19, 1, 1)
#define SERVER_OTHER ADDR_IP(198, 19, 1, 2)
#define RELAY_DELAY (10 * USEC_PER_MSEC) /* one way, side to side through the relay */
#define C 0
#define D 1

typedef enum server_says { SERVER_ANSWERS, SERVER_SILENT, SERVER_REFUSES } server_says_t;

typedef struct side {
    tcppunch_t *t;
    addr_endpoint_t first, second; /* what the server sees from the two looks */
    server_says_t primary, other;  /* per address */
    unsigned conn_to_server[4];    /* ids of connections to the server */
    addr_endpoint_t conn_to[TCPPUNCH_CONNS_MAX + 1];
    unsigned peer_connects;
    usec_t peer_connect_at[8];
    unsigned attempts_seen, ended;
    char end_reason[256];
    unsigned up, frames, closes;
} side_t;

typedef struct pending {
    usec_t at;
    unsigned to;
    agentmsg_t m;
} pending_t;

typedef struct world {
    side_t s[2];
    usec_t now;
    GArray *pending; /* pending_t */
    bool peer_connects_succeed;
} world_t;

static void stun_answer(world_t *w, unsigned side, unsigned id, const uint8_t *req, size_t len)
{
    side_t *s = &w->s[side];
    stun_message_t m, r = { 0 };
    CU_ASSERT_FATAL(stun_read(req, len, &m) == STUN_OK);
    bool other = s->conn_to[id].ip == SERVER_OTHER;
    r.method = STUN_METHOD_BINDING;
    r.msg_class = STUN_CLASS_SUCCESS;
    memcpy(r.transaction_id, m.transaction_id, sizeof r.transaction_id);
    r.xor_mapped = other ? s->second : s->first;
    r.other_address = addr_endpoint(SERVER_OTHER, 3479);
    r.has = STUN_HAS_XOR_MAPPED | STUN_HAS_OTHER_ADDRESS;
    uint8_t buf[512];
    size_t n = stun_write(&r, true, buf, sizeof buf);
    /* One byte at a time: the core must not care how the stream is cut. */
    for (size_t i = 0; i < n; i++)
        tcppunch_receive(s->t, id, buf + i, 1, w->now);
}

static void drain(world_t *w, unsigned side)
{
    side_t *s = &w->s[side];
    tcppunch_output_t o;
    while (tcppunch_pop_output(s->t, &o)) {
        switch (o.kind) {
        case TCPPUNCH_OUT_CONNECT:
            CU_ASSERT_FATAL(o.id >= 1 && o.id <= TCPPUNCH_CONNS_MAX);
            s->conn_to[o.id] = o.to;
            if (o.to.ip == SERVER || o.to.ip == SERVER_OTHER) {
                server_says_t says = o.to.ip == SERVER ? s->primary : s->other;
                if (says == SERVER_ANSWERS)
                    tcppunch_connected(s->t, o.id, w->now);
                else if (says == SERVER_REFUSES)
                    tcppunch_broken(s->t, o.id, "Connection refused", w->now);
            } else {
                CU_ASSERT(addr_endpoint_equal(o.to, w->s[!side].first));
                if (s->peer_connects < G_N_ELEMENTS(s->peer_connect_at))
                    s->peer_connect_at[s->peer_connects] = w->now;
                s->peer_connects++;
                if (w->peer_connects_succeed)
                    tcppunch_connected(s->t, o.id, w->now);
                else
                    tcppunch_broken(s->t, o.id, "Connection refused", w->now);
            }
            break;
        case TCPPUNCH_OUT_SEND:
            if (s->conn_to[o.id].ip == SERVER || s->conn_to[o.id].ip == SERVER_OTHER)
                stun_answer(w, side, o.id, o.data, o.len);
            break;
        case TCPPUNCH_OUT_CLOSE:
            s->closes++;
            s->conn_to[o.id] = addr_endpoint(0, 0); /* ids are reused */
            break;
        case TCPPUNCH_OUT_MESSAGE: {
            pending_t p = { w->now + RELAY_DELAY, !side, o.message };
            g_array_append_val(w->pending, p);
            break;
        }
        case TCPPUNCH_OUT_UP:
            s->up++;
            s->conn_to[o.id] = o.to;
            break;
        case TCPPUNCH_OUT_FRAME:
            s->frames++;
            break;
        case TCPPUNCH_OUT_DOWN:
            break;
        case TCPPUNCH_OUT_EVENT:
            CU_ASSERT_PTR_NOT_NULL_FATAL(o.text);
            if (o.done) {
                s->ended++;
                g_strlcpy(s->end_reason, o.text, sizeof s->end_reason);
            } else if (side == C && strstr(o.text, " of ")) {
                s->attempts_seen++;
            }
            break;
        }
    }
}

static void world_init(world_t *w)
{
    memset(w, 0, sizeof *w);
    w->now = 1000 * USEC_PER_SEC;
    w->pending = g_array_new(FALSE, FALSE, sizeof(pending_t));
    for (unsigned i = 0; i < 2; i++) {
        side_t *s = &w->s[i];
        tcppunch_config_t c = { .controlling = i == C, .local_port = (uint16_t)(40000 + i),
                                .local_ip = ADDR_IP(10, i + 1, 0, 2), .server_ip = SERVER,
                                .server_ports = { 3478, 443 }, .n_server_ports = 2, .seed = i + 1 };
        s->t = tcppunch_new(&c);
        /* endpoint-independent by default: both looks see one mapping */
        s->first = s->second = addr_endpoint(ADDR_IP(198, 18, i + 1, 1), (uint16_t)(50000 + i));
        s->primary = s->other = SERVER_ANSWERS;
    }
}

static void world_free(world_t *w)
{
    for (unsigned i = 0; i < 2; i++)
        tcppunch_free(w->s[i].t);
    g_array_free(w->pending, TRUE);
}

/* Runs the clock to `until`: messages arrive, bookkeeping runs. */
static void world_run(world_t *w, usec_t until)
{
    drain(w, C);
    drain(w, D);
    while (w->now < until) {
        usec_t next = until;
        for (unsigned i = 0; i < 2; i++) {
            usec_t b = tcppunch_bookkeeping(w->s[i].t, w->now);
            drain(w, i);
            if (b && b < next)
                next = b;
        }
        for (unsigned i = 0; i < w->pending->len; i++)
            next = MIN(next, g_array_index(w->pending, pending_t, i).at);
        w->now = MAX(next, w->now + 1);
        for (unsigned i = 0; i < w->pending->len;) {
            pending_t p = g_array_index(w->pending, pending_t, i);
            if (p.at > w->now) {
                i++;
                continue;
            }
            g_array_remove_index(w->pending, i);
            tcppunch_message(w->s[p.to].t, &p.m, w->now);
            drain(w, p.to);
        }
    }
}

static void test_timed_to_cross(void)
{
    world_t w;
    world_init(&w);
    w.peer_connects_succeed = true;
    tcppunch_start(w.s[C].t, w.now);
    CU_ASSERT_TRUE(tcppunch_active(w.s[C].t));
    CU_ASSERT_FALSE(tcppunch_active(w.s[D].t)); /* it starts on the offer */
    world_run(&w, w.now + 2 * USEC_PER_SEC);
    /* Both looks, on both sides, and the mapping the server saw. */
    CU_ASSERT(addr_endpoint_equal(tcppunch_mapped(w.s[C].t), w.s[C].first));
    CU_ASSERT(addr_endpoint_equal(tcppunch_mapped(w.s[D].t), w.s[D].first));
    /* One connect each, to the other's mapping, at the same moment: C waits
     * half the measured round trip after its SYNC, which D gets after the
     * relay's one-way delay. */
    CU_ASSERT_EQUAL_FATAL(w.s[C].peer_connects, 1);
    CU_ASSERT_EQUAL_FATAL(w.s[D].peer_connects, 1);
    usec_t dc = w.s[C].peer_connect_at[0], dd = w.s[D].peer_connect_at[0];
    CU_ASSERT(dc >= dd ? dc - dd <= 10 : dd - dc <= 10);
    CU_ASSERT_EQUAL(w.s[C].up, 1);
    CU_ASSERT_EQUAL(w.s[D].up, 1);
    CU_ASSERT_EQUAL(w.s[C].attempts_seen, 1);
    CU_ASSERT_EQUAL(w.s[C].ended, 0);
    CU_ASSERT_TRUE(tcppunch_active(w.s[C].t));
    /* The owner proves a connection and keeps it: punching is over. */
    unsigned id = 0;
    for (unsigned i = 1; i <= TCPPUNCH_CONNS_MAX; i++)
        if (w.s[C].conn_to[i].ip == w.s[D].first.ip)
            id = i;
    CU_ASSERT_FATAL(id != 0);
    tcppunch_chosen(w.s[C].t, id, w.now);
    CU_ASSERT_FALSE(tcppunch_active(w.s[C].t));
    world_run(&w, w.now + 10 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(w.s[C].peer_connects, 1); /* no attempt after the choice */
    CU_ASSERT_EQUAL(w.s[C].ended, 0);
    world_free(&w);
}

static void test_attempts_alternate(void)
{
    world_t w;
    world_init(&w);
    tcppunch_start(w.s[C].t, w.now);
    world_run(&w, w.now + 20 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(w.s[C].attempts_seen, TCPPUNCH_ATTEMPTS_DEFAULT);
    CU_ASSERT_EQUAL_FATAL(w.s[C].peer_connects, 3);
    CU_ASSERT_EQUAL_FATAL(w.s[D].peer_connects, 3);
    /* Attempt 1 crosses, 2 sends ours first, 3 the peer's first, each by
     * the relayed round trip but at least 25 ms (scheduling noise). */
    long lead[3], gap = MAX(2 * RELAY_DELAY, 25 * USEC_PER_MSEC);
    for (unsigned i = 0; i < 3; i++)
        lead[i] = (long)w.s[D].peer_connect_at[i] - (long)w.s[C].peer_connect_at[i];
    CU_ASSERT(labs(lead[0]) <= 10);
    CU_ASSERT(labs(lead[1] - gap) <= 10);
    CU_ASSERT(labs(lead[2] + gap) <= 10);
    /* Then both end: the controlling side tells the other. */
    CU_ASSERT_EQUAL(w.s[C].ended, 1);
    CU_ASSERT_EQUAL(w.s[D].ended, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.s[D].end_reason, "gave TCP punching up"));
    CU_ASSERT_FALSE(tcppunch_active(w.s[C].t));
    CU_ASSERT_FALSE(tcppunch_active(w.s[D].t));
    CU_ASSERT_EQUAL(w.s[C].up + w.s[D].up, 0);
    world_free(&w);
}

static void test_not_punchable(void)
{
    world_t w;
    world_init(&w);
    w.s[D].second.port++; /* a new mapping for the server's other address */
    tcppunch_start(w.s[C].t, w.now);
    world_run(&w, w.now + 10 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(w.s[C].peer_connects + w.s[D].peer_connects, 0);
    CU_ASSERT_EQUAL(w.s[C].ended, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.s[C].end_reason, "maps per destination"));
    CU_ASSERT_EQUAL(w.s[D].ended, 1);
    world_free(&w);
}

/* A side whose mapping is its own address takes any SYN at its listener:
 * worth trying even against a mapping per destination. */
static void test_open_side(void)
{
    world_t w;
    world_init(&w);
    w.s[C].first = w.s[C].second = addr_endpoint(ADDR_IP(10, 1, 0, 2), 40000);
    w.s[D].second.port++;
    w.peer_connects_succeed = true;
    tcppunch_start(w.s[C].t, w.now);
    world_run(&w, w.now + 5 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(w.s[C].peer_connects, 1);
    CU_ASSERT_EQUAL(w.s[D].peer_connects, 1);
    CU_ASSERT_EQUAL(w.s[C].ended, 0);
    world_free(&w);
}

/* The server's first port drops SYNs (a firewall's allow-list): the next
 * port after the connect timeout; the second look cannot get out either:
 * taken as a mapping per destination, so no attempt. */
static void test_mapping_through_a_firewall(void)
{
    world_t w;
    world_init(&w);
    w.s[D].primary = SERVER_SILENT;
    w.s[D].other = SERVER_SILENT;
    tcppunch_start(w.s[C].t, w.now);
    world_run(&w, w.now + 30 * USEC_PER_SEC);
    /* 3478 silent, then 443: also silent here (same address) -> no mapping */
    CU_ASSERT_EQUAL(w.s[D].ended, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.s[D].end_reason, "no TCP connection to the server"));
    CU_ASSERT_EQUAL(w.s[C].ended, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.s[C].end_reason, "no TCP connection"));
    CU_ASSERT_EQUAL(w.s[C].peer_connects + w.s[D].peer_connects, 0);
    world_free(&w);

    world_init(&w);
    w.s[D].other = SERVER_REFUSES;
    tcppunch_start(w.s[C].t, w.now);
    world_run(&w, w.now + 30 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(w.s[C].ended, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.s[C].end_reason, "outbound TCP is restricted"));
    world_free(&w);

    /* Even an open peer cannot take a SYN that never leaves. */
    world_init(&w);
    w.s[C].first = w.s[C].second = addr_endpoint(ADDR_IP(10, 1, 0, 2), 40000);
    w.s[D].other = SERVER_SILENT;
    tcppunch_start(w.s[C].t, w.now);
    world_run(&w, w.now + 30 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(w.s[C].ended, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.s[C].end_reason, "outbound TCP is restricted"));
    CU_ASSERT_EQUAL(w.s[C].peer_connects + w.s[D].peer_connects, 0);
    world_free(&w);
}

/* The peer never answers the offer (no TCP punching there): eight offers a
 * second apart, then the end. */
static void test_silent_peer(void)
{
    world_t w;
    world_init(&w);
    tcppunch_start(w.s[C].t, w.now);
    drain(&w, C);
    usec_t start = w.now;
    g_array_set_size(w.pending, 0);
    while (w.now < start + 10 * USEC_PER_SEC && !w.s[C].ended) {
        usec_t b = tcppunch_bookkeeping(w.s[C].t, w.now);
        g_array_set_size(w.pending, 0); /* the relay loses everything */
        drain(&w, C);
        g_array_set_size(w.pending, 0);
        w.now = b ? b : w.now + USEC_PER_SEC;
    }
    CU_ASSERT_EQUAL(w.s[C].ended, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.s[C].end_reason, "did not answer"));
    CU_ASSERT(w.now - start >= 7 * USEC_PER_SEC && w.now - start <= 9 * USEC_PER_SEC);
    world_free(&w);
}

/* The listener's connections: taken while punching, framed agentmsgs out
 * whole however cut, garbage closes the connection; none taken when idle. */
static void test_accepted(void)
{
    world_t w;
    world_init(&w);
    addr_endpoint_t from = addr_endpoint(ADDR_IP(198, 18, 9, 9), 777);
    CU_ASSERT_EQUAL(tcppunch_accepted(w.s[D].t, from, w.now), 0);
    tcppunch_start(w.s[C].t, w.now);
    world_run(&w, w.now + RELAY_DELAY / 2);
    unsigned id = tcppunch_accepted(w.s[C].t, from, w.now);
    CU_ASSERT_FATAL(id != 0);
    drain(&w, C);
    CU_ASSERT_EQUAL(w.s[C].up, 1);
    agentmsg_t m = { .type = AGENTMSG_BYE, .counter = 1, .session = 9 };
    uint8_t msg[AGENTMSG_MAX_SIZE], frame[AGENTFRAME_MAX_SIZE];
    size_t n = agentmsg_write(&m, (const uint8_t *)"k", 1, msg, sizeof msg);
    size_t f = agentframe_write(msg, n, frame, sizeof frame);
    CU_ASSERT_FATAL(f > 0);
    tcppunch_receive(w.s[C].t, id, frame, 3, w.now);
    drain(&w, C);
    CU_ASSERT_EQUAL(w.s[C].frames, 0);
    tcppunch_receive(w.s[C].t, id, frame + 3, f - 3, w.now);
    drain(&w, C);
    CU_ASSERT_EQUAL(w.s[C].frames, 1);
    CU_ASSERT_TRUE(tcppunch_send(w.s[C].t, id, msg, n));
    unsigned closes = w.s[C].closes;
    static const uint8_t garbage[] = "GET / HTTP/1.1\r\n\r\n";
    tcppunch_receive(w.s[C].t, id, garbage, sizeof garbage - 1, w.now);
    drain(&w, C);
    CU_ASSERT_EQUAL(w.s[C].closes, closes + 1);
    CU_ASSERT_FALSE(tcppunch_send(w.s[C].t, id, msg, n));
    world_free(&w);
}

/* The peer's word is authenticated but never aims a connect at no address,
 * our loopback or a broadcast: such an offer is ignored, such an answer is
 * "no mapping". */
static void test_unusable_endpoints(void)
{
    static const addr_endpoint_t bad[] = {
        { 0, 5000 }, { ADDR_IP(198, 18, 2, 1), 0 }, { ADDR_IP(127, 0, 0, 1), 5000 },
        { ADDR_IP(255, 255, 255, 255), 5000 }, { ADDR_IP(224, 0, 0, 1), 5000 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        world_t w;
        world_init(&w);
        agentmsg_t offer = { .type = AGENTMSG_TCP_PUNCH, .phase = AGENTMSG_TCP_OFFER,
                             .endpoint = bad[i], .timestamp = 1 };
        tcppunch_message(w.s[D].t, &offer, w.now);
        drain(&w, D);
        CU_ASSERT_FALSE(tcppunch_active(w.s[D].t));
        CU_ASSERT_EQUAL(w.pending->len, 0);
        /* The controlling side offered; a bad answer ends it without a connect. */
        tcppunch_start(w.s[C].t, w.now);
        drain(&w, C);
        agentmsg_t answer = { .type = AGENTMSG_TCP_PUNCH, .phase = AGENTMSG_TCP_ANSWER,
                              .endpoint = bad[i], .tcp_mapping = AGENTMSG_TCP_MAPPING_OPEN };
        /* the offer's timestamp, as the peer echoes it */
        CU_ASSERT_EQUAL_FATAL(w.pending->len, 1);
        CU_ASSERT_EQUAL(g_array_index(w.pending, pending_t, 0).m.phase, AGENTMSG_TCP_OFFER);
        answer.echo_timestamp = g_array_index(w.pending, pending_t, 0).m.timestamp;
        tcppunch_message(w.s[C].t, &answer, w.now + 1);
        drain(&w, C);
        CU_ASSERT_EQUAL(w.s[C].ended, 1);
        CU_ASSERT_EQUAL(w.s[C].peer_connects, 0);
        world_free(&w);
    }
}

int main(void)
{
    static const test_case_t tests[] = {
        { "SYNs timed to cross", test_timed_to_cross },
        { "three attempts, the lead alternating", test_attempts_alternate },
        { "a mapping per destination: no attempt", test_not_punchable },
        { "an open side is worth an attempt", test_open_side },
        { "the mapping through a firewall", test_mapping_through_a_firewall },
        { "a silent peer", test_silent_peer },
        { "accepted connections and their framing", test_accepted },
        { "a peer's endpoint that is no address", test_unusable_endpoints },
        { NULL, NULL },
    };
    return test_run_suite("tcppunch", tests);
}
