/* The TURN client core (agent/turn) against a scripted server: the
 * challenge, refreshes to the microsecond, permissions, channels and data
 * both ways, TCP framing split anyhow, and every way a server can lie. */
#include <glib.h>
#include <string.h>

#include "agent/turn.h"
#include "common/turnmsg.h"
#include "testutil.h"

#define SERVER addr_endpoint(ADDR_IP(198, 18, 0, 10), 3478)
#define RELAYED addr_endpoint(ADDR_IP(198, 18, 0, 10), 49152)
#define MAPPED addr_endpoint(ADDR_IP(198, 18, 1, 1), 40000)
#define PEER addr_endpoint(ADDR_IP(198, 18, 2, 1), 50000)

static uint8_t key[TURN_KEY_SIZE];

static turn_t *client(bool tcp, const char *realm, usec_t now)
{
    turn_config_t c = { .server = SERVER, .username = "natlab", .password = "secret",
                        .realm = realm, .tcp = tcp, .seed = 7 };
    turnmsg_key("natlab", "natlab", "secret", key);
    return turn_new(&c, now);
}

/* The next request the client sent, parsed (and checked with the key when
 * it carries one); the raw bytes in *raw. Keepalives (Binding indications)
 * are skipped. */
static bool next_request(turn_t *t, turnmsg_t *m, GBytes **raw)
{
    static uint8_t buf[2048];
    size_t n;
    const char *why;
    do {
        if (!turn_pop_output(t, buf, sizeof buf, &n))
            return false;
        CU_ASSERT_TRUE_FATAL(turnmsg_read(buf, n, key, m, &why));
    } while (m->method == STUN_METHOD_BINDING && m->msg_class == STUN_CLASS_INDICATION);
    if (raw)
        *raw = g_bytes_new(buf, n);
    if (m->has & TURNMSG_HAS_INTEGRITY)
        CU_ASSERT_TRUE(m->integrity_ok);
    return true;
}

static void answer(turn_t *t, const turnmsg_t *req, uint16_t cls, turnmsg_t *resp, bool sign,
                   usec_t now)
{
    uint8_t buf[2048];
    resp->method = req->method;
    resp->msg_class = cls;
    memcpy(resp->transaction_id, req->transaction_id, sizeof resp->transaction_id);
    size_t n = turnmsg_write(resp, sign ? key : NULL, buf, sizeof buf);
    CU_ASSERT_FATAL(n > 0);
    turn_receive(t, buf, n, now);
}

static void challenge(turn_t *t, const turnmsg_t *req, uint16_t code, const char *realm,
                      const char *nonce, usec_t now)
{
    turnmsg_t r = { .has = TURNMSG_HAS_ERROR | TURNMSG_HAS_NONCE | (realm ? TURNMSG_HAS_REALM : 0),
                    .error_code = code };
    strcpy(r.error_reason, code == 401 ? "Unauthorized" : "Stale Nonce");
    if (realm)
        strcpy(r.realm, realm);
    strcpy(r.nonce, nonce);
    answer(t, req, STUN_CLASS_ERROR, &r, false, now);
}

static void allocated(turn_t *t, const turnmsg_t *req, usec_t now)
{
    turnmsg_t r = { .has = TURNMSG_HAS_RELAYED | TURNMSG_HAS_MAPPED | TURNMSG_HAS_LIFETIME,
                    .relayed = RELAYED, .mapped = MAPPED, .lifetime_s = 600 };
    answer(t, req, STUN_CLASS_SUCCESS, &r, true, now);
}

/* Through the 401 challenge to an allocation. */
static turn_t *ready(bool tcp, usec_t now)
{
    turn_t *t = client(tcp, NULL, now);
    turnmsg_t m;
    CU_ASSERT_TRUE_FATAL(next_request(t, &m, NULL));
    challenge(t, &m, 401, "natlab", "n1", now);
    CU_ASSERT_TRUE_FATAL(next_request(t, &m, NULL));
    allocated(t, &m, now);
    CU_ASSERT_EQUAL_FATAL(turn_state(t), TURN_READY);
    return t;
}

static void test_allocate_with_challenge(void)
{
    turn_t *t = client(false, NULL, 0);
    turnmsg_t m;
    CU_ASSERT_TRUE_FATAL(next_request(t, &m, NULL));
    CU_ASSERT_EQUAL(m.method, TURN_METHOD_ALLOCATE);
    CU_ASSERT_TRUE(m.has & TURNMSG_HAS_TRANSPORT);
    CU_ASSERT_FALSE(m.has & (TURNMSG_HAS_USERNAME | TURNMSG_HAS_INTEGRITY));
    challenge(t, &m, 401, "natlab", "n1", 1000);
    CU_ASSERT_TRUE_FATAL(next_request(t, &m, NULL));
    CU_ASSERT_STRING_EQUAL(m.username, "natlab");
    CU_ASSERT_STRING_EQUAL(m.realm, "natlab");
    CU_ASSERT_STRING_EQUAL(m.nonce, "n1");
    CU_ASSERT_TRUE(m.has & TURNMSG_HAS_INTEGRITY);
    CU_ASSERT_TRUE(m.integrity_ok);
    /* A forged success (not signed with our key) changes nothing. */
    turnmsg_t forged = { .has = TURNMSG_HAS_RELAYED, .relayed = RELAYED };
    answer(t, &m, STUN_CLASS_SUCCESS, &forged, false, 2000);
    CU_ASSERT_EQUAL(turn_state(t), TURN_ALLOCATING);
    CU_ASSERT_EQUAL(turn_dropped(t), 1);
    allocated(t, &m, 2000);
    CU_ASSERT_EQUAL(turn_state(t), TURN_READY);
    CU_ASSERT_EQUAL(turn_relayed(t).port, RELAYED.port);
    CU_ASSERT_EQUAL(turn_mapped(t).ip, MAPPED.ip);
    CU_ASSERT_STRING_EQUAL(turn_realm(t), "natlab");
    turn_free(t);
}

/* Refresh at half the lifetime, to the microsecond; then close. */
static void test_refresh_and_close(void)
{
    usec_t t0 = 5 * USEC_PER_SEC;
    turn_t *t = ready(false, t0);
    turnmsg_t m;
    usec_t due = t0 + 300 * USEC_PER_SEC;
    CU_ASSERT_EQUAL(turn_bookkeeping(t, due - 1), due);
    CU_ASSERT_FALSE(next_request(t, &m, NULL));
    turn_bookkeeping(t, due);
    CU_ASSERT_TRUE_FATAL(next_request(t, &m, NULL));
    CU_ASSERT_EQUAL(m.method, TURN_METHOD_REFRESH);
    CU_ASSERT_EQUAL(m.lifetime_s, 600);
    turnmsg_t ok = { .has = TURNMSG_HAS_LIFETIME, .lifetime_s = 120 };
    answer(t, &m, STUN_CLASS_SUCCESS, &ok, true, due);
    turn_bookkeeping(t, due + 60 * USEC_PER_SEC - 1);
    CU_ASSERT_FALSE(next_request(t, &m, NULL));
    turn_bookkeeping(t, due + 60 * USEC_PER_SEC);
    CU_ASSERT_TRUE_FATAL(next_request(t, &m, NULL));
    CU_ASSERT_EQUAL(m.method, TURN_METHOD_REFRESH);
    turn_close(t, due + 61 * USEC_PER_SEC);
    CU_ASSERT_TRUE_FATAL(next_request(t, &m, NULL));
    CU_ASSERT_EQUAL(m.lifetime_s, 0);
    turnmsg_t bye = { 0 };
    answer(t, &m, STUN_CLASS_SUCCESS, &bye, true, due + 61 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(turn_state(t), TURN_CLOSED);
    turn_free(t);
}

/* Over UDP, 15 s without sending anything: a Binding indication keeps the
 * NAT's mapping toward the server (RFC 8656 3.7); data resets the clock;
 * over TCP none. */
static void test_keepalive(void)
{
    for (int tcp = 0; tcp <= 1; tcp++) {
        turn_t *t = ready(tcp, 0);
        uint8_t buf[256];
        size_t n;
        turnmsg_t m;
        const char *why;
        usec_t next = turn_bookkeeping(t, TURN_KEEPALIVE - 1);
        CU_ASSERT_FALSE(turn_pop_output(t, buf, sizeof buf, &n));
        if (tcp) {
            CU_ASSERT(next > TURN_KEEPALIVE);
            turn_bookkeeping(t, 2 * TURN_KEEPALIVE);
            CU_ASSERT_FALSE(turn_pop_output(t, buf, sizeof buf, &n));
            turn_free(t);
            continue;
        }
        CU_ASSERT_EQUAL(next, TURN_KEEPALIVE);
        turn_bookkeeping(t, TURN_KEEPALIVE);
        CU_ASSERT_TRUE_FATAL(turn_pop_output(t, buf, sizeof buf, &n));
        CU_ASSERT_TRUE_FATAL(turnmsg_read(buf, n, NULL, &m, &why));
        CU_ASSERT(m.method == STUN_METHOD_BINDING && m.msg_class == STUN_CLASS_INDICATION);
        CU_ASSERT_FALSE(turn_pop_output(t, buf, sizeof buf, &n));
        /* Data at 20 s: the next keepalive is due 15 s after it. */
        usec_t at = 20 * USEC_PER_SEC;
        turn_send(t, PEER, (const uint8_t *)"x", 1, at);
        turnmsg_t perm, bind, ok = { 0 };
        CU_ASSERT_TRUE_FATAL(next_request(t, &perm, NULL));
        CU_ASSERT_TRUE_FATAL(next_request(t, &bind, NULL));
        answer(t, &perm, STUN_CLASS_SUCCESS, &ok, true, at);
        answer(t, &bind, STUN_CLASS_SUCCESS, &ok, true, at);
        while (turn_pop_output(t, buf, sizeof buf, &n))
            ;
        CU_ASSERT_EQUAL(turn_bookkeeping(t, 21 * USEC_PER_SEC), 20 * USEC_PER_SEC + TURN_KEEPALIVE);
        turn_free(t);
    }
}

static void test_permission_channel_data(void)
{
    turn_t *t = ready(false, 0);
    const uint8_t hello[] = "hello", again[] = "again";
    CU_ASSERT_TRUE(turn_send(t, PEER, hello, 5, 10));
    turnmsg_t perm, bind, m;
    CU_ASSERT_TRUE_FATAL(next_request(t, &perm, NULL));
    CU_ASSERT_EQUAL(perm.method, TURN_METHOD_CREATE_PERMISSION);
    CU_ASSERT_EQUAL(perm.peer.ip, PEER.ip);
    CU_ASSERT_TRUE_FATAL(next_request(t, &bind, NULL));
    CU_ASSERT_EQUAL(bind.method, TURN_METHOD_CHANNEL_BIND);
    CU_ASSERT_EQUAL(bind.channel, TURN_CHANNEL_MIN);
    CU_ASSERT_EQUAL(bind.peer.port, PEER.port);
    /* The data waits for the permission. */
    CU_ASSERT_FALSE(next_request(t, &m, NULL));
    turnmsg_t ok = { 0 };
    answer(t, &perm, STUN_CLASS_SUCCESS, &ok, true, 20);
    CU_ASSERT_TRUE_FATAL(next_request(t, &m, NULL));
    CU_ASSERT_EQUAL(m.method, TURN_METHOD_SEND);
    CU_ASSERT_EQUAL(m.msg_class, STUN_CLASS_INDICATION);
    CU_ASSERT(m.data_len == 5 && memcmp(m.data, hello, 5) == 0);
    answer(t, &bind, STUN_CLASS_SUCCESS, &ok, true, 30);
    CU_ASSERT_TRUE(turn_send(t, PEER, again, 5, 40));
    uint8_t buf[64];
    size_t n;
    CU_ASSERT_TRUE_FATAL(turn_pop_output(t, buf, sizeof buf, &n));
    CU_ASSERT_EQUAL(n, 9); /* ChannelData, unpadded over UDP */
    CU_ASSERT(buf[0] == 0x40 && buf[1] == 0x00 && memcmp(buf + 4, again, 5) == 0);
    /* From the peer: a Data indication, then ChannelData. */
    turnmsg_t data = { .method = TURN_METHOD_DATA, .msg_class = STUN_CLASS_INDICATION,
                       .has = TURNMSG_HAS_PEER | TURNMSG_HAS_DATA, .peer = PEER,
                       .data = (const uint8_t *)"pong", .data_len = 4 };
    n = turnmsg_write(&data, NULL, buf, sizeof buf);
    turn_receive(t, buf, n, 50);
    n = turnmsg_channel_data(TURN_CHANNEL_MIN, (const uint8_t *)"pang", 4, false, buf, sizeof buf);
    turn_receive(t, buf, n, 60);
    n = turnmsg_channel_data(TURN_CHANNEL_MIN + 9, (const uint8_t *)"nope", 4, false, buf, sizeof buf);
    turn_receive(t, buf, n, 60);
    addr_endpoint_t from;
    CU_ASSERT_TRUE_FATAL(turn_pop_data(t, &from, buf, sizeof buf, &n));
    CU_ASSERT(from.ip == PEER.ip && from.port == PEER.port && n == 4 && memcmp(buf, "pong", 4) == 0);
    CU_ASSERT_TRUE_FATAL(turn_pop_data(t, &from, buf, sizeof buf, &n));
    CU_ASSERT(n == 4 && memcmp(buf, "pang", 4) == 0);
    CU_ASSERT_FALSE(turn_pop_data(t, &from, buf, sizeof buf, &n));
    CU_ASSERT_EQUAL(turn_dropped(t), 1); /* the unbound channel */
    /* An empty DATA (fuzz_turn found it copied from NULL) is an empty datagram. */
    data.data_len = 0;
    n = turnmsg_write(&data, NULL, buf, sizeof buf);
    turn_receive(t, buf, n, 70);
    CU_ASSERT_TRUE(turn_pop_data(t, &from, buf, sizeof buf, &n));
    CU_ASSERT_EQUAL(n, 0);
    /* Permissions every 240 s, bindings every 540 s. */
    turn_bookkeeping(t, 20 + TURN_PERMISSION_REFRESH);
    CU_ASSERT_TRUE_FATAL(next_request(t, &m, NULL));
    CU_ASSERT_EQUAL(m.method, TURN_METHOD_CREATE_PERMISSION);
    turn_free(t);
}

static void expect_failed(turn_t *t, const char *why)
{
    CU_ASSERT_EQUAL(turn_state(t), TURN_FAILED);
    ASSERT_CONTAINS(turn_error(t), why);
    CU_ASSERT_FALSE(turn_send(t, PEER, (const uint8_t *)"x", 1, 0));
}

static void test_stale_nonce(void)
{
    turn_t *t = client(false, NULL, 0);
    turnmsg_t m;
    next_request(t, &m, NULL);
    challenge(t, &m, 401, "natlab", "n1", 0);
    next_request(t, &m, NULL);
    challenge(t, &m, 438, NULL, "n2", 0);
    CU_ASSERT_TRUE_FATAL(next_request(t, &m, NULL));
    CU_ASSERT_STRING_EQUAL(m.nonce, "n2");
    CU_ASSERT_TRUE(m.integrity_ok);
    challenge(t, &m, 438, NULL, "n3", 0);
    next_request(t, &m, NULL);
    challenge(t, &m, 438, NULL, "n4", 0);
    next_request(t, &m, NULL);
    CU_ASSERT_EQUAL(turn_state(t), TURN_ALLOCATING);
    challenge(t, &m, 438, NULL, "n5", 0);
    expect_failed(t, "438 4 times in a row (stale nonce loop)");
    turn_free(t);
}

static void test_lying_servers(void)
{
    turnmsg_t m;
    /* Wrong password: a 401 to the authenticated request. */
    turn_t *t = client(false, NULL, 0);
    next_request(t, &m, NULL);
    challenge(t, &m, 401, "natlab", "n1", 0);
    next_request(t, &m, NULL);
    challenge(t, &m, 401, "natlab", "n2", 0);
    expect_failed(t, "refused our credentials (401 Unauthorized after authenticating as 'natlab' "
                     "in realm 'natlab'): wrong username or password");
    CU_ASSERT_FALSE(next_request(t, &m, NULL));
    turn_free(t);
    /* Another realm than configured. */
    t = client(false, "corp.example", 0);
    next_request(t, &m, NULL);
    challenge(t, &m, 401, "natlab", "n1", 0);
    expect_failed(t, "the TURN server's realm is 'natlab', not the configured 'corp.example'");
    turn_free(t);
    /* A 401 without a nonce. */
    t = client(false, NULL, 0);
    next_request(t, &m, NULL);
    turnmsg_t r = { .has = TURNMSG_HAS_ERROR | TURNMSG_HAS_REALM, .error_code = 401 };
    strcpy(r.realm, "natlab");
    answer(t, &m, STUN_CLASS_ERROR, &r, false, 0);
    expect_failed(t, "answered Allocate with 401 but no NONCE");
    turn_free(t);
    /* Success without a relayed address, and with a zero one. */
    for (int zero = 0; zero < 2; zero++) {
        t = client(false, NULL, 0);
        next_request(t, &m, NULL);
        challenge(t, &m, 401, "natlab", "n1", 0);
        next_request(t, &m, NULL);
        turnmsg_t bad = { .has = zero ? TURNMSG_HAS_RELAYED : TURNMSG_HAS_MAPPED,
                          .relayed = addr_endpoint(0, 0), .mapped = MAPPED };
        answer(t, &m, STUN_CLASS_SUCCESS, &bad, true, 0);
        expect_failed(t, "no usable XOR-RELAYED-ADDRESS");
        turn_free(t);
    }
    /* A refusal: 486 Allocation Quota Reached. */
    t = client(false, NULL, 0);
    next_request(t, &m, NULL);
    r = (turnmsg_t){ .has = TURNMSG_HAS_ERROR, .error_code = 486 };
    strcpy(r.error_reason, "Allocation Quota Reached");
    answer(t, &m, STUN_CLASS_ERROR, &r, false, 0);
    expect_failed(t, "refused Allocate: 486 Allocation Quota Reached");
    turn_free(t);
}

/* Over UDP: the same request at 0.5, 1.5, 3.5, 7.5 s, then it gives up. */
static void test_no_answer(void)
{
    turn_t *t = client(false, NULL, 0);
    turnmsg_t first, m;
    next_request(t, &first, NULL);
    usec_t at[] = { 500, 1500, 3500, 7500 };
    for (size_t i = 0; i < G_N_ELEMENTS(at); i++) {
        usec_t when = at[i] * USEC_PER_MSEC;
        CU_ASSERT_EQUAL(turn_bookkeeping(t, when - 1), when);
        turn_bookkeeping(t, when);
        CU_ASSERT_TRUE_FATAL(next_request(t, &m, NULL));
        CU_ASSERT_EQUAL(memcmp(m.transaction_id, first.transaction_id, 12), 0);
    }
    CU_ASSERT_EQUAL(turn_state(t), TURN_ALLOCATING);
    turn_bookkeeping(t, 15500 * USEC_PER_MSEC);
    expect_failed(t, "no answer from the TURN server over UDP to Allocate after 5 tries");
    turn_free(t);
    /* Over TCP: no retransmissions, a timeout. */
    t = client(true, NULL, 0);
    next_request(t, &first, NULL);
    CU_ASSERT_EQUAL(turn_bookkeeping(t, 1), TURN_TCP_TIMEOUT);
    CU_ASSERT_FALSE(next_request(t, &m, NULL));
    turn_bookkeeping(t, TURN_TCP_TIMEOUT);
    expect_failed(t, "no answer from the TURN server to Allocate over TCP within 10 s");
    turn_free(t);
}

/* Over TCP the server's bytes arrive in any pieces: one at a time here, a
 * ChannelData padded, and garbage ends it. */
static void test_tcp_stream(void)
{
    turn_t *t = client(true, NULL, 0);
    turnmsg_t m;
    next_request(t, &m, NULL);
    uint8_t stream[4096];
    size_t len = 0;
    turnmsg_t r = { .method = m.method, .msg_class = STUN_CLASS_ERROR,
                    .has = TURNMSG_HAS_ERROR | TURNMSG_HAS_NONCE | TURNMSG_HAS_REALM,
                    .error_code = 401 };
    memcpy(r.transaction_id, m.transaction_id, 12);
    strcpy(r.realm, "natlab");
    strcpy(r.nonce, "n1");
    len += turnmsg_write(&r, NULL, stream + len, sizeof stream - len);
    for (size_t i = 0; i < len; i++)
        turn_receive(t, stream + i, 1, 0);
    CU_ASSERT_TRUE_FATAL(next_request(t, &m, NULL));
    CU_ASSERT_STRING_EQUAL(m.nonce, "n1");
    turnmsg_t ok = { .method = m.method, .msg_class = STUN_CLASS_SUCCESS,
                     .has = TURNMSG_HAS_RELAYED | TURNMSG_HAS_LIFETIME, .relayed = RELAYED,
                     .lifetime_s = 600 };
    memcpy(ok.transaction_id, m.transaction_id, 12);
    len = turnmsg_write(&ok, key, stream, sizeof stream);
    turn_receive(t, stream, 7, 0);
    turn_receive(t, stream + 7, len - 7, 0);
    CU_ASSERT_EQUAL_FATAL(turn_state(t), TURN_READY);
    turn_send(t, PEER, (const uint8_t *)"abc", 3, 0);
    turnmsg_t perm, bind;
    next_request(t, &perm, NULL);
    next_request(t, &bind, NULL);
    /* Both answers and a padded ChannelData in one read. */
    len = 0;
    turnmsg_t a = { .method = perm.method, .msg_class = STUN_CLASS_SUCCESS };
    memcpy(a.transaction_id, perm.transaction_id, 12);
    len += turnmsg_write(&a, key, stream + len, sizeof stream - len);
    a.method = bind.method;
    memcpy(a.transaction_id, bind.transaction_id, 12);
    len += turnmsg_write(&a, key, stream + len, sizeof stream - len);
    len += turnmsg_channel_data(TURN_CHANNEL_MIN, (const uint8_t *)"xyzzy", 5, true, stream + len,
                                sizeof stream - len);
    turn_receive(t, stream, len, 0);
    uint8_t buf[64];
    size_t n;
    addr_endpoint_t from;
    CU_ASSERT_TRUE_FATAL(turn_pop_data(t, &from, buf, sizeof buf, &n));
    CU_ASSERT(n == 5 && memcmp(buf, "xyzzy", 5) == 0);
    /* The queued data went out as a Send indication; now ChannelData, padded. */
    next_request(t, &m, NULL);
    CU_ASSERT_EQUAL(m.method, TURN_METHOD_SEND);
    turn_send(t, PEER, (const uint8_t *)"abc", 3, 0);
    CU_ASSERT_TRUE(turn_pop_output(t, buf, sizeof buf, &n));
    CU_ASSERT_EQUAL(n, 8);
    turn_receive(t, (const uint8_t *)"\xff\xff\xff\xff", 4, 0);
    expect_failed(t, "TCP stream is garbled");
    turn_free(t);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "Allocate through the 401 challenge; a forged answer dropped", test_allocate_with_challenge },
        { "Refresh at half the lifetime; close", test_refresh_and_close },
        { "UDP keepalives after 15 s of silence", test_keepalive },
        { "permission, channel, data both ways", test_permission_channel_data },
        { "438 stale nonces, then a loop", test_stale_nonce },
        { "servers that lie", test_lying_servers },
        { "no answer: retransmissions, then failed", test_no_answer },
        { "TCP: any split, padding, garbage", test_tcp_stream },
        { NULL, NULL },
    };
    return test_run_suite("turn", cases);
}
