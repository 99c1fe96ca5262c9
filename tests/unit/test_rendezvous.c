/* server/rendezvous: registration, sessions, keys, the relay's rules (members
 * only, token bucket, never larger), NAT reboots, expiry by `now`, replays
 * and bad tags, limits. Time is made up: no sleeps. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "server/rendezvous.h"
#include "testutil.h"

#define S (USEC_PER_SEC)
#define MS (USEC_PER_MSEC)
#define SEED 0x5eed

static const uint8_t secret[] = "lab secret";
#define SECRET_LEN (sizeof secret - 1)

typedef struct agent {
    const char *name;
    addr_endpoint_t ep;
    unsigned socket;
    uint64_t counter;
    const uint8_t *key; /* the server's secret as this agent knows it */
    size_t key_len;
} agent_t;

static agent_t agent(const char *name, uint8_t host, uint16_t port, bool with_secret)
{
    return (agent_t){ .name = name, .ep = addr_endpoint(ADDR_IP(198, 18, 0, host), port),
                      .key = with_secret ? secret : NULL, .key_len = with_secret ? SECRET_LEN : 0 };
}

static rendezvous_t *core(const rendezvous_config_t *extra, bool with_secret)
{
    rendezvous_config_t c = extra ? *extra : (rendezvous_config_t){ 0 };
    if (with_secret) {
        c.secret = secret;
        c.secret_len = SECRET_LEN;
    }
    rendezvous_t *r = rendezvous_new(&c, SEED);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    return r;
}

typedef struct result {
    unsigned n;
    size_t in_len;
    rendezvous_out_t out[RENDEZVOUS_OUT_MAX];
    agentmsg_t msg[RENDEZVOUS_OUT_MAX];
} result_t;

/* Hands raw bytes to the core (an exact-size copy, for ASan) and parses
 * what comes out with `key`; every output must parse. */
static void deliver(rendezvous_t *r, unsigned socket, addr_endpoint_t from, const uint8_t *data,
                    size_t len, usec_t now, const uint8_t *key, size_t key_len, result_t *res)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (len)
        memcpy(copy, data, len);
    memset(res, 0, sizeof *res);
    res->in_len = len;
    res->n = rendezvous_handle(r, socket, from, copy, len, now, res->out);
    free(copy);
    CU_ASSERT_FATAL(res->n <= RENDEZVOUS_OUT_MAX);
    for (unsigned i = 0; i < res->n; i++)
        CU_ASSERT_EQUAL_FATAL(agentmsg_read(res->out[i].data, res->out[i].len, key, key_len, &res->msg[i]),
                              AGENTMSG_OK);
}

/* Sends `m` from agent `a` (its next counter unless m->counter is set). */
static void send_from(rendezvous_t *r, agent_t *a, agentmsg_t *m, usec_t now, result_t *res)
{
    if (!m->counter)
        m->counter = ++a->counter;
    uint8_t buf[AGENTMSG_MAX_SIZE];
    size_t n = agentmsg_write(m, a->key, a->key_len, buf, sizeof buf);
    CU_ASSERT_FATAL(n > 0);
    deliver(r, a->socket, a->ep, buf, n, now, a->key, a->key_len, res);
}

static void do_register(rendezvous_t *r, agent_t *a, usec_t now, result_t *res)
{
    agentmsg_t m = { .type = AGENTMSG_REGISTER,
                     .nat = { AGENTMSG_MAPPING_SEQUENTIAL, 1, a->ep.port },
                     .n_candidates = 1,
                     .candidates = { { AGENTMSG_CANDIDATE_HOST, { ADDR_IP(10, 0, 0, 2), a->ep.port } } } };
    g_strlcpy(m.name, a->name, sizeof m.name);
    send_from(r, a, &m, now, res);
}

static void do_connect(rendezvous_t *r, agent_t *a, const char *peer, usec_t now, result_t *res)
{
    agentmsg_t m = { .type = AGENTMSG_CONNECT };
    g_strlcpy(m.name, peer, sizeof m.name);
    send_from(r, a, &m, now, res);
}

static void do_relay(rendezvous_t *r, agent_t *a, uint64_t session, size_t payload_len, usec_t now,
                     result_t *res)
{
    static uint8_t payload[AGENTMSG_RELAY_PAYLOAD_MAX];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7 + 1);
    agentmsg_t m = { .type = AGENTMSG_RELAY, .session = session, .payload = payload,
                     .payload_len = payload_len };
    send_from(r, a, &m, now, res);
}

static uint64_t dropped(rendezvous_t *r, enum rendezvous_drop d)
{
    return rendezvous_stats(r)->dropped[d];
}

static void register_ok(rendezvous_t *r, agent_t *a, usec_t now)
{
    result_t res;
    do_register(r, a, now, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_EQUAL(res.msg[0].type, AGENTMSG_REGISTERED);
}

/* Registers a and b and connects a to b; returns the session id. */
static uint64_t pair(rendezvous_t *r, agent_t *a, agent_t *b, usec_t now)
{
    register_ok(r, a, now);
    register_ok(r, b, now);
    result_t res;
    do_connect(r, a, b->name, now, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 2);
    CU_ASSERT_EQUAL_FATAL(res.msg[0].type, AGENTMSG_PEER);
    return res.msg[0].session;
}

/* ---- registration -------------------------------------------------------------- */

static void test_register(void)
{
    rendezvous_t *r = core(NULL, true);
    agent_t a = agent("alice", 1, 40000, true);
    a.socket = 2;
    result_t res;
    do_register(r, &a, 0, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_EQUAL(res.msg[0].type, AGENTMSG_REGISTERED);
    CU_ASSERT_TRUE(addr_endpoint_equal(res.msg[0].endpoint, a.ep));
    CU_ASSERT_TRUE(addr_endpoint_equal(res.out[0].to, a.ep));
    CU_ASSERT_EQUAL(res.out[0].socket, 2); /* out of the socket it came in on */
    CU_ASSERT_EQUAL(res.msg[0].lifetime_s, RENDEZVOUS_DEFAULT_LIFETIME / S);
    CU_ASSERT_TRUE(res.out[0].len <= res.in_len); /* no amplification */
    uint64_t first_counter = res.msg[0].counter;
    CU_ASSERT_TRUE(first_counter > 0);
    do_register(r, &a, 1 * S, &res); /* a refresh */
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_TRUE(res.msg[0].counter > first_counter); /* the server's own counter */
    CU_ASSERT_EQUAL(rendezvous_registration_count(r), 1);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->registrations, 2);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->endpoint_changes, 0);
    rendezvous_free(r);
    rendezvous_free(NULL);
    CU_ASSERT_PTR_NULL(rendezvous_new(NULL, 1));
}

static void test_registration_expiry(void)
{
    rendezvous_t *r = core(NULL, false);
    agent_t a = agent("alice", 1, 40000, false), b = agent("bob", 2, 40000, false);
    register_ok(r, &a, 0);
    register_ok(r, &b, 0);
    register_ok(r, &b, 60 * S); /* bob refreshes, alice does not */
    CU_ASSERT_EQUAL(rendezvous_expire(r, 1 * S), RENDEZVOUS_DEFAULT_LIFETIME);
    result_t res;
    do_connect(r, &b, "alice", RENDEZVOUS_DEFAULT_LIFETIME - 1, &res);
    CU_ASSERT_EQUAL(res.n, 2); /* 1 µs before the deadline: still there */
    /* At the deadline alice is gone, without rendezvous_expire() running. */
    do_connect(r, &b, "alice", RENDEZVOUS_DEFAULT_LIFETIME, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_EQUAL(res.msg[0].type, AGENTMSG_ERROR);
    CU_ASSERT_EQUAL(res.msg[0].code, AGENTMSG_ERROR_UNKNOWN_PEER);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->expired_registrations, 1);
    CU_ASSERT_EQUAL(rendezvous_session_count(r), 0); /* alice's session went with her */
    /* Alice's endpoint no longer counts as registered. */
    do_connect(r, &a, "bob", RENDEZVOUS_DEFAULT_LIFETIME, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_EQUAL(res.msg[0].code, AGENTMSG_ERROR_NOT_REGISTERED);
    /* The sweep: bob's deadline is next, then nothing. */
    CU_ASSERT_EQUAL(rendezvous_expire(r, 100 * S), 60 * S + RENDEZVOUS_DEFAULT_LIFETIME);
    CU_ASSERT_EQUAL(rendezvous_registration_count(r), 1);
    CU_ASSERT_EQUAL(rendezvous_expire(r, 60 * S + RENDEZVOUS_DEFAULT_LIFETIME), RENDEZVOUS_NEVER);
    CU_ASSERT_EQUAL(rendezvous_registration_count(r), 0);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->expired_registrations, 2);
    rendezvous_free(r);
}

static void test_full(void)
{
    rendezvous_config_t c = { .max_registrations = 2 };
    rendezvous_t *r = core(&c, false);
    agent_t a = agent("a", 1, 1, false), b = agent("b", 2, 1, false), d = agent("d", 3, 1, false);
    register_ok(r, &a, 0);
    register_ok(r, &b, 10 * S);
    result_t res;
    do_register(r, &d, 10 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_EQUAL(res.msg[0].type, AGENTMSG_ERROR);
    CU_ASSERT_EQUAL(res.msg[0].code, AGENTMSG_ERROR_FULL);
    CU_ASSERT_TRUE(res.out[0].len <= MAX(res.in_len, (size_t)RENDEZVOUS_ERROR_FLOOR));
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_FULL), 1);
    register_ok(r, &a, 20 * S); /* a refresh needs no room */
    register_ok(r, &d, 10 * S + RENDEZVOUS_DEFAULT_LIFETIME); /* b expired: room again */
    CU_ASSERT_EQUAL(rendezvous_registration_count(r), 2);
    rendezvous_free(r);
}

/* ---- sessions --------------------------------------------------------------------- */

static void check_peer(const result_t *res, unsigned i, const agent_t *to, const agent_t *about,
                       uint8_t role)
{
    const agentmsg_t *m = &res->msg[i];
    CU_ASSERT_EQUAL(m->type, AGENTMSG_PEER);
    CU_ASSERT_TRUE(addr_endpoint_equal(res->out[i].to, to->ep));
    CU_ASSERT_EQUAL(res->out[i].socket, to->socket);
    CU_ASSERT_STRING_EQUAL(m->name, about->name);
    CU_ASSERT_EQUAL(m->role, role);
    CU_ASSERT_TRUE(addr_endpoint_equal(m->endpoint, about->ep));
    CU_ASSERT_EQUAL(m->nat.mapping, AGENTMSG_MAPPING_SEQUENTIAL);
    CU_ASSERT_EQUAL(m->nat.last_port, about->ep.port);
    CU_ASSERT_EQUAL(m->n_candidates, 1);
    CU_ASSERT_EQUAL(m->candidates[0].endpoint.port, about->ep.port);
    CU_ASSERT_NOT_EQUAL(m->session, 0);
}

/* The key both sides end up with: from PEER, or derived from the secret. */
static void session_key_of(const agentmsg_t *peer, const uint8_t *key, size_t key_len,
                           uint8_t out[AGENTMSG_KEY_SIZE])
{
    if (peer->flags & AGENTMSG_FLAG_KEY_DERIVED)
        agentmsg_session_key(key, key_len, peer->session, out);
    else
        memcpy(out, peer->key, AGENTMSG_KEY_SIZE);
}

static void connect_and_check_keys(bool with_secret)
{
    rendezvous_t *r = core(NULL, with_secret);
    agent_t a = agent("alice", 1, 40000, with_secret), b = agent("bob", 2, 50000, with_secret);
    a.socket = 1;
    b.socket = 3;
    register_ok(r, &a, 0);
    register_ok(r, &b, 0);
    result_t res;
    do_connect(r, &a, "bob", 1 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 2);
    check_peer(&res, 0, &a, &b, 1); /* the connecting side controls */
    check_peer(&res, 1, &b, &a, 0);
    CU_ASSERT_EQUAL(res.msg[0].session, res.msg[1].session);
    CU_ASSERT_EQUAL(res.msg[0].flags, res.msg[1].flags);
    static const uint8_t zero[AGENTMSG_KEY_SIZE];
    if (with_secret) {
        CU_ASSERT_EQUAL(res.msg[0].flags, AGENTMSG_FLAG_KEY_DERIVED);
        CU_ASSERT_EQUAL(memcmp(res.msg[0].key, zero, sizeof zero), 0); /* never on the wire */
    } else {
        CU_ASSERT_EQUAL(res.msg[0].flags, 0);
        CU_ASSERT_NOT_EQUAL(memcmp(res.msg[0].key, zero, sizeof zero), 0);
    }
    uint8_t ka[AGENTMSG_KEY_SIZE], kb[AGENTMSG_KEY_SIZE];
    session_key_of(&res.msg[0], a.key, a.key_len, ka);
    session_key_of(&res.msg[1], b.key, b.key_len, kb);
    CU_ASSERT_EQUAL(memcmp(ka, kb, sizeof ka), 0); /* both sides agree */
    /* A second session (re-CONNECT) gets another id and another key, and
     * replaces the first. */
    uint64_t first = res.msg[0].session;
    do_connect(r, &b, "alice", 2 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 2);
    check_peer(&res, 0, &b, &a, 1);
    check_peer(&res, 1, &a, &b, 0);
    CU_ASSERT_NOT_EQUAL(res.msg[0].session, first);
    uint8_t k2[AGENTMSG_KEY_SIZE];
    session_key_of(&res.msg[0], b.key, b.key_len, k2);
    CU_ASSERT_NOT_EQUAL(memcmp(ka, k2, sizeof ka), 0);
    CU_ASSERT_EQUAL(rendezvous_session_count(r), 1);
    do_relay(r, &a, first, 10, 3 * S, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_NO_SESSION), 1);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->connects, 2);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->sessions, 2);
    rendezvous_free(r);
}

static void test_connect_without_secret(void)
{
    connect_and_check_keys(false);
}

static void test_connect_with_secret(void)
{
    connect_and_check_keys(true);
}

static void test_connect_errors(void)
{
    rendezvous_t *r = core(NULL, true);
    agent_t a = agent("alice", 1, 40000, true), stranger = agent("eve", 9, 9999, true);
    register_ok(r, &a, 0);
    result_t res;
    do_connect(r, &a, "carol", 0, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_EQUAL(res.msg[0].type, AGENTMSG_ERROR);
    CU_ASSERT_EQUAL(res.msg[0].code, AGENTMSG_ERROR_UNKNOWN_PEER);
    CU_ASSERT_TRUE(g_strstr_len((const char *)res.msg[0].payload, (gssize)res.msg[0].payload_len, "carol") != NULL);
    CU_ASSERT_TRUE(addr_endpoint_equal(res.out[0].to, a.ep));
    do_connect(r, &a, "alice", 0, &res); /* itself */
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_EQUAL(res.msg[0].code, AGENTMSG_ERROR_UNKNOWN_PEER);
    do_connect(r, &stranger, "alice", 0, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_EQUAL(res.msg[0].code, AGENTMSG_ERROR_NOT_REGISTERED);
    CU_ASSERT_TRUE(addr_endpoint_equal(res.out[0].to, stranger.ep));
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_NOT_REGISTERED), 1);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->errors_sent, 3);
    CU_ASSERT_EQUAL(rendezvous_session_count(r), 0);
    /* A long name: the ERROR is cut to the request's size or the floor. */
    char longname[AGENTMSG_NAME_MAX + 1];
    memset(longname, 'z', AGENTMSG_NAME_MAX);
    longname[AGENTMSG_NAME_MAX] = '\0';
    do_connect(r, &a, longname, 0, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_TRUE(res.out[0].len <= MAX(res.in_len, (size_t)RENDEZVOUS_ERROR_FLOOR));
    rendezvous_free(r);
}

/* A listener connected to by more agents than it may hold sessions keeps
 * the most recent ones. */
static void test_sessions_per_agent(void)
{
    rendezvous_t *r = core(NULL, false);
    agent_t l = agent("listener", 1, 1000, false);
    register_ok(r, &l, 0);
    agent_t c[RENDEZVOUS_SESSIONS_PER_AGENT + 1];
    char names[RENDEZVOUS_SESSIONS_PER_AGENT + 1][16];
    uint64_t ids[RENDEZVOUS_SESSIONS_PER_AGENT + 1];
    result_t res;
    for (unsigned i = 0; i <= RENDEZVOUS_SESSIONS_PER_AGENT; i++) {
        g_snprintf(names[i], sizeof names[i], "c%u", i);
        c[i] = agent(names[i], (uint8_t)(10 + i), 2000, false);
        register_ok(r, &c[i], (usec_t)i * S);
        do_connect(r, &c[i], "listener", (usec_t)i * S, &res);
        CU_ASSERT_EQUAL_FATAL(res.n, 2);
        ids[i] = res.msg[0].session;
    }
    CU_ASSERT_EQUAL(rendezvous_session_count(r), RENDEZVOUS_SESSIONS_PER_AGENT);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->evicted_sessions, 1);
    do_relay(r, &c[0], ids[0], 10, 20 * S, &res); /* the oldest went */
    CU_ASSERT_EQUAL(res.n, 0);
    do_relay(r, &c[1], ids[1], 10, 20 * S, &res);
    CU_ASSERT_EQUAL(res.n, 1);
    /* The listener moves: one REGISTERED and a PEER to each of its 8 peers. */
    l.ep.port = 1001;
    do_register(r, &l, 21 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, RENDEZVOUS_OUT_MAX);
    CU_ASSERT_EQUAL(res.msg[0].type, AGENTMSG_REGISTERED);
    for (unsigned i = 1; i < res.n; i++) {
        CU_ASSERT_EQUAL(res.msg[i].type, AGENTMSG_PEER);
        CU_ASSERT_TRUE(addr_endpoint_equal(res.msg[i].endpoint, l.ep));
    }
    CU_ASSERT_EQUAL(rendezvous_stats(r)->peer_updates, RENDEZVOUS_SESSIONS_PER_AGENT);
    rendezvous_free(r);
}

/* ---- relay ------------------------------------------------------------------------- */

static void test_relay_forwarded(void)
{
    rendezvous_t *r = core(NULL, true);
    agent_t a = agent("alice", 1, 40000, true), b = agent("bob", 2, 50000, true);
    b.socket = 3;
    uint64_t id = pair(r, &a, &b, 0);
    result_t res;
    for (size_t len = 0; len <= AGENTMSG_RELAY_PAYLOAD_MAX; len += 227) {
        a.counter += 5; /* the agent's counter also counts what it sends its peer */
        do_relay(r, &a, id, len, 1 * S, &res);
        CU_ASSERT_EQUAL_FATAL(res.n, 1);
        CU_ASSERT_TRUE(addr_endpoint_equal(res.out[0].to, b.ep));
        CU_ASSERT_EQUAL(res.out[0].socket, 3); /* where bob registered */
        CU_ASSERT_EQUAL(res.msg[0].type, AGENTMSG_RELAY);
        CU_ASSERT_EQUAL(res.msg[0].session, id);
        CU_ASSERT_NOT_EQUAL(res.msg[0].counter, a.counter); /* re-counted and re-tagged */
        CU_ASSERT_EQUAL(res.msg[0].payload_len, len);
        CU_ASSERT_TRUE(res.out[0].len <= res.in_len); /* never larger */
    }
    do_relay(r, &b, id, 100, 1 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_TRUE(addr_endpoint_equal(res.out[0].to, a.ep));
    CU_ASSERT_EQUAL(res.out[0].socket, 0);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->relayed_packets, 8);
    rendezvous_free(r);
}

static void do_leave(rendezvous_t *r, agent_t *a, usec_t now, result_t *res)
{
    agentmsg_t m = { .type = AGENTMSG_REGISTER, .flags = AGENTMSG_FLAG_LEAVING };
    g_strlcpy(m.name, a->name, sizeof m.name);
    send_from(r, a, &m, now, res);
}

/* An agent that leaves: the other member hears its session is over, the
 * name is gone (a CONNECT to it is refused, a RELAY dropped); nobody but
 * the name's own endpoint can make it leave. */
static void test_leave(void)
{
    rendezvous_t *r = core(NULL, true);
    agent_t a = agent("alice", 1, 40000, true), b = agent("bob", 2, 50000, true);
    uint64_t id = pair(r, &a, &b, 0);
    result_t res;
    agent_t spoof = b;
    spoof.ep.port = 50001; /* bob's name, someone else's endpoint */
    do_leave(r, &spoof, 1 * S, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_NOT_REGISTERED), 1);
    CU_ASSERT_EQUAL(rendezvous_registration_count(r), 2);

    b.counter = spoof.counter;
    do_leave(r, &b, 1 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_TRUE(addr_endpoint_equal(res.out[0].to, a.ep));
    CU_ASSERT_EQUAL(res.msg[0].type, AGENTMSG_ERROR);
    CU_ASSERT_EQUAL(res.msg[0].code, AGENTMSG_ERROR_NO_SESSION);
    CU_ASSERT_EQUAL(res.msg[0].session, id);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->leaves, 1);
    CU_ASSERT_EQUAL(rendezvous_registration_count(r), 1);
    CU_ASSERT_EQUAL(rendezvous_session_count(r), 0);

    do_relay(r, &a, id, 10, 2 * S, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    do_connect(r, &a, "bob", 2 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_EQUAL(res.msg[0].code, AGENTMSG_ERROR_UNKNOWN_PEER);
    /* Leaving twice: the name is gone already. */
    do_leave(r, &b, 3 * S, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    rendezvous_free(r);
}

/* No open relay: only the registered endpoints of a session's members. */
static void test_relay_members_only(void)
{
    rendezvous_t *r = core(NULL, true);
    agent_t a = agent("alice", 1, 40000, true), b = agent("bob", 2, 50000, true),
            c = agent("carol", 3, 40000, true);
    uint64_t id = pair(r, &a, &b, 0);
    register_ok(r, &c, 0);
    result_t res;
    do_relay(r, &c, id, 50, 1 * S, &res); /* registered, not a member */
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_NO_SESSION), 1);
    agent_t spoof = a;
    spoof.ep.port = 40001; /* alice's name and key, another source */
    do_relay(r, &spoof, id, 50, 1 * S, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_NOT_REGISTERED), 1);
    do_relay(r, &a, id ^ 1, 50, 1 * S, &res); /* no such session */
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_NO_SESSION), 2);
    do_relay(r, &a, 0, 50, 1 * S, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_NO_SESSION), 3);
    do_relay(r, &a, id, 50, 1 * S, &res); /* and the member itself gets through */
    CU_ASSERT_EQUAL(res.n, 1);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->relayed_packets, 1);
    rendezvous_free(r);
}

static void test_relay_rate_limit(void)
{
    rendezvous_config_t c = { .relay_packets_per_s = 10, .relay_bytes_per_s = 100000 };
    rendezvous_t *r = core(&c, false);
    agent_t a = agent("alice", 1, 40000, false), b = agent("bob", 2, 50000, false);
    uint64_t id = pair(r, &a, &b, 0);
    result_t res;
    unsigned passed = 0;
    for (int i = 0; i < 15; i++) { /* a burst: one second's worth passes */
        do_relay(r, i % 2 ? &a : &b, id, 10, 1 * S, &res);
        passed += res.n;
    }
    CU_ASSERT_EQUAL(passed, 10);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_RATE), 5);
    passed = 0;
    for (int i = 0; i < 10; i++) { /* half a second later: half the budget */
        do_relay(r, &a, id, 10, 1 * S + 500 * MS, &res);
        passed += res.n;
    }
    CU_ASSERT_EQUAL(passed, 5);
    passed = 0;
    for (int i = 0; i < 20; i++) { /* a long pause saves up no more than a second */
        do_relay(r, &a, id, 10, 60 * S, &res);
        passed += res.n;
    }
    CU_ASSERT_EQUAL(passed, 10);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_RATE), 20);
    rendezvous_free(r);

    /* Bytes: 1000 B/s, 200-byte datagrams. */
    c = (rendezvous_config_t){ .relay_packets_per_s = 1000, .relay_bytes_per_s = 1000 };
    r = core(&c, false);
    a.counter = b.counter = 0;
    id = pair(r, &a, &b, 0);
    passed = 0;
    size_t payload = 200 - (AGENTMSG_HEADER_SIZE + 2 + AGENTMSG_TAG_SIZE);
    for (int i = 0; i < 10; i++) {
        do_relay(r, &a, id, payload, 1 * S, &res);
        passed += res.n;
    }
    CU_ASSERT_EQUAL(passed, 5);
    do_relay(r, &a, id, payload, 1 * S + 199 * MS, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    do_relay(r, &a, id, payload, 1 * S + 200 * MS, &res);
    CU_ASSERT_EQUAL(res.n, 1);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->relayed_bytes, 6 * 200);
    rendezvous_free(r);
}

static void test_session_idle(void)
{
    rendezvous_config_t c = { .session_idle = 10 * S };
    rendezvous_t *r = core(&c, false);
    agent_t a = agent("alice", 1, 40000, false), b = agent("bob", 2, 50000, false);
    uint64_t id = pair(r, &a, &b, 0);
    result_t res;
    do_relay(r, &a, id, 10, 9 * S, &res); /* relayed traffic keeps it alive */
    CU_ASSERT_EQUAL(res.n, 1);
    CU_ASSERT_EQUAL(rendezvous_expire(r, 9 * S), 19 * S);
    do_relay(r, &b, id, 10, 19 * S - 1, &res);
    CU_ASSERT_EQUAL(res.n, 1);
    register_ok(r, &a, 20 * S); /* a REGISTER is no traffic of the session */
    do_relay(r, &a, id, 10, 29 * S - 1, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_NO_SESSION), 1);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->expired_sessions, 1);
    CU_ASSERT_EQUAL(rendezvous_session_count(r), 0);
    /* The sweep reclaims an idle session too. */
    id = pair(r, &a, &b, 30 * S);
    CU_ASSERT_EQUAL(rendezvous_session_count(r), 1);
    rendezvous_expire(r, 40 * S);
    CU_ASSERT_EQUAL(rendezvous_session_count(r), 0);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->expired_sessions, 2);
    rendezvous_free(r);
}

/* ---- NAT reboots ------------------------------------------------------------------ */

static void test_reregister_new_endpoint(void)
{
    rendezvous_t *r = core(NULL, true);
    agent_t a = agent("alice", 1, 40000, true), b = agent("bob", 2, 50000, true);
    b.socket = 1;
    register_ok(r, &a, 0);
    register_ok(r, &b, 0);
    result_t res;
    do_connect(r, &b, "alice", 0, &res); /* bob controls, alice is controlled */
    CU_ASSERT_EQUAL_FATAL(res.n, 2);
    agentmsg_t first_to_bob = res.msg[0];
    uint64_t id = first_to_bob.session;

    agent_t old_a = a;
    a.ep = addr_endpoint(ADDR_IP(198, 18, 0, 1), 40777); /* alice's NAT rebooted */
    a.socket = 2;
    do_register(r, &a, 5 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 2);
    CU_ASSERT_EQUAL(res.msg[0].type, AGENTMSG_REGISTERED);
    CU_ASSERT_TRUE(addr_endpoint_equal(res.msg[0].endpoint, a.ep));
    CU_ASSERT_EQUAL(res.out[0].socket, 2);
    /* Bob hears where alice is now: same session, key and role. */
    CU_ASSERT_EQUAL(res.msg[1].type, AGENTMSG_PEER);
    CU_ASSERT_TRUE(addr_endpoint_equal(res.out[1].to, b.ep));
    CU_ASSERT_EQUAL(res.out[1].socket, 1);
    CU_ASSERT_EQUAL(res.msg[1].session, id);
    CU_ASSERT_EQUAL(res.msg[1].role, first_to_bob.role);
    CU_ASSERT_EQUAL(res.msg[1].flags, first_to_bob.flags);
    CU_ASSERT_EQUAL(memcmp(res.msg[1].key, first_to_bob.key, AGENTMSG_KEY_SIZE), 0);
    CU_ASSERT_TRUE(addr_endpoint_equal(res.msg[1].endpoint, a.ep));
    CU_ASSERT_EQUAL(res.msg[1].candidates[0].endpoint.port, a.ep.port);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->endpoint_changes, 1);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->peer_updates, 1);
    /* The relay follows alice; her old endpoint is nobody. */
    do_relay(r, &b, id, 10, 6 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_TRUE(addr_endpoint_equal(res.out[0].to, a.ep));
    CU_ASSERT_EQUAL(res.out[0].socket, 2);
    old_a.counter = a.counter + 100;
    do_relay(r, &old_a, id, 10, 6 * S, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_NOT_REGISTERED), 1);
    /* Once alice has relayed in the session (she has its PEER), a refresh
     * from the same endpoint sends nobody anything more. */
    do_relay(r, &a, id, 10, 6 * S, &res);
    CU_ASSERT_EQUAL(res.n, 1);
    do_register(r, &a, 7 * S, &res);
    CU_ASSERT_EQUAL(res.n, 1);
    rendezvous_free(r);
}

/* A NAT that reused alice's old port for carol: carol takes the endpoint;
 * alice keeps her session but gets nothing until she registers again. */
static void test_endpoint_taken(void)
{
    rendezvous_t *r = core(NULL, false);
    agent_t a = agent("alice", 1, 40000, false), b = agent("bob", 2, 50000, false),
            c = agent("carol", 1, 40000, false);
    uint64_t id = pair(r, &a, &b, 0);
    register_ok(r, &c, 1 * S);
    CU_ASSERT_EQUAL(rendezvous_registration_count(r), 3);
    result_t res;
    do_relay(r, &b, id, 10, 2 * S, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_PEER_AWAY), 1);
    do_relay(r, &c, id, 10, 2 * S, &res); /* carol is no member */
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_NO_SESSION), 1);
    do_connect(r, &b, "alice", 2 * S, &res); /* alice cannot be reached */
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_EQUAL(res.msg[0].code, AGENTMSG_ERROR_UNKNOWN_PEER);
    CU_ASSERT_EQUAL(rendezvous_session_count(r), 1);
    a.ep.port = 40001;
    do_register(r, &a, 3 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 2); /* REGISTERED + PEER to bob */
    CU_ASSERT_TRUE(addr_endpoint_equal(res.out[1].to, b.ep));
    CU_ASSERT_TRUE(addr_endpoint_equal(res.msg[1].endpoint, a.ep));
    do_relay(r, &b, id, 10, 4 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_TRUE(addr_endpoint_equal(res.out[0].to, a.ep));
    rendezvous_free(r);
}

/* ---- what is refused ---------------------------------------------------------------- */

static void test_replay(void)
{
    rendezvous_t *r = core(NULL, true);
    agent_t a = agent("alice", 1, 40000, true), b = agent("bob", 2, 50000, true);
    agentmsg_t m = { .type = AGENTMSG_REGISTER, .counter = 5 };
    g_strlcpy(m.name, "alice", sizeof m.name);
    uint8_t buf[AGENTMSG_MAX_SIZE];
    size_t n = agentmsg_write(&m, secret, SECRET_LEN, buf, sizeof buf);
    result_t res;
    deliver(r, 0, a.ep, buf, n, 0, secret, SECRET_LEN, &res);
    CU_ASSERT_EQUAL(res.n, 1);
    deliver(r, 0, a.ep, buf, n, 1 * S, secret, SECRET_LEN, &res); /* the same bytes again */
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_REPLAY), 1);
    /* Replayed from elsewhere: a hijack of alice's name. Refused, alice stays. */
    addr_endpoint_t thief = addr_endpoint(ADDR_IP(203, 0, 113, 5), 666);
    deliver(r, 0, thief, buf, n, 1 * S, secret, SECRET_LEN, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_REPLAY), 2);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->endpoint_changes, 0);
    a.counter = 5;
    register_ok(r, &b, 1 * S);
    do_connect(r, &b, "alice", 1 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 2);
    CU_ASSERT_TRUE(addr_endpoint_equal(res.out[1].to, a.ep));
    uint64_t id = res.msg[0].session;
    /* A replayed RELAY is not forwarded twice. */
    agentmsg_t relay = { .type = AGENTMSG_RELAY, .counter = 6, .session = id,
                         .payload = (const uint8_t *)"x", .payload_len = 1 };
    n = agentmsg_write(&relay, secret, SECRET_LEN, buf, sizeof buf);
    deliver(r, 0, a.ep, buf, n, 2 * S, secret, SECRET_LEN, &res);
    CU_ASSERT_EQUAL(res.n, 1);
    deliver(r, 0, a.ep, buf, n, 2 * S, secret, SECRET_LEN, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_REPLAY), 3);
    /* Counter 0 is never valid, not even for a new name. */
    agentmsg_t zero = { .type = AGENTMSG_REGISTER, .counter = 0 };
    g_strlcpy(zero.name, "dave", sizeof zero.name);
    n = agentmsg_write(&zero, secret, SECRET_LEN, buf, sizeof buf);
    deliver(r, 0, addr_endpoint(ADDR_IP(198, 18, 0, 4), 1), buf, n, 2 * S, secret, SECRET_LEN, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_REPLAY), 4);
    CU_ASSERT_EQUAL(rendezvous_registration_count(r), 2);
    rendezvous_free(r);
}

static void test_secret_mismatch(void)
{
    rendezvous_t *r = core(NULL, true);
    agent_t wrong = agent("alice", 1, 40000, false); /* no secret: tagged with the empty key */
    result_t res;
    do_register(r, &wrong, 0, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    static const uint8_t other[] = "not the secret";
    wrong.key = other;
    wrong.key_len = sizeof other - 1;
    do_register(r, &wrong, 0, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_AUTH), 2);
    CU_ASSERT_EQUAL(rendezvous_registration_count(r), 0);
    rendezvous_free(r);

    /* A server without a secret refuses agents that have one. */
    r = core(NULL, false);
    agent_t keyed = agent("alice", 1, 40000, true);
    do_register(r, &keyed, 0, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_AUTH), 1);
    rendezvous_free(r);
}

static void test_malformed_and_unexpected(void)
{
    rendezvous_t *r = core(NULL, true);
    agent_t a = agent("alice", 1, 40000, true);
    result_t res;
    uint8_t junk[64];
    memset(junk, 0xE4, sizeof junk); /* our magic, nothing else right */
    for (size_t len = 0; len <= sizeof junk; len++)
        deliver(r, 0, a.ep, junk, len, 0, secret, SECRET_LEN, &res);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_MALFORMED), sizeof junk + 1);
    /* Empty name. */
    agentmsg_t m = { .type = AGENTMSG_REGISTER };
    send_from(r, &a, &m, 0, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_MALFORMED), sizeof junk + 2);
    /* Types the server does not take, well formed and well tagged. */
    static const uint8_t others[] = { AGENTMSG_REGISTERED, AGENTMSG_PEER, AGENTMSG_ERROR,
                                       AGENTMSG_PROBE, AGENTMSG_DATA, AGENTMSG_BYE };
    for (size_t i = 0; i < sizeof others; i++) {
        m = (agentmsg_t){ .type = others[i] };
        send_from(r, &a, &m, 0, &res);
        CU_ASSERT_EQUAL(res.n, 0);
    }
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_UNEXPECTED), sizeof others);
    CU_ASSERT_EQUAL(rendezvous_registration_count(r), 0);
    for (int d = 0; d < RENDEZVOUS_DROP_COUNT; d++)
        CU_ASSERT_STRING_NOT_EQUAL(rendezvous_drop_name(d), "?");
    CU_ASSERT_STRING_EQUAL(rendezvous_drop_name(RENDEZVOUS_DROP_COUNT), "?");
    rendezvous_free(r);
}

/* Seeded random traffic, valid and not, from a few endpoints: every answer
 * parses, goes to one of them, and a RELAY never grows. */
static void test_random_traffic(void)
{
    rendezvous_config_t c = { .registration_lifetime = 5 * S, .session_idle = 3 * S,
                              .relay_packets_per_s = 2, .max_registrations = 3 };
    rendezvous_t *r = core(&c, true);
    static const char *const names[] = { "a", "b", "c", "d" };
    agent_t ag[8];
    uint64_t last_session[8] = { 0 };
    for (unsigned i = 0; i < 8; i++)
        ag[i] = agent(names[i % 4], (uint8_t)(1 + i), (uint16_t)(1000 + i), true);
    rng_t rng;
    rng_seed(&rng, 99);
    usec_t now = 0;
    unsigned bad = 0, relayed = 0;
    for (int step = 0; step < 20000; step++) {
        now += rng_below(&rng, 200) * MS;
        unsigned who = rng_below(&rng, 8);
        agent_t *a = &ag[who];
        result_t res;
        switch (rng_below(&rng, 5)) {
        case 0: do_register(r, a, now, &res); break;
        case 1: do_connect(r, a, names[rng_below(&rng, 4)], now, &res); break;
        case 2:
        case 3: do_relay(r, a, last_session[who], rng_below(&rng, 300), now, &res); break;
        default: {
            uint8_t junk[80];
            for (size_t i = 0; i < sizeof junk; i++)
                junk[i] = (uint8_t)rng_next(&rng);
            junk[0] = AGENTMSG_MAGIC;
            deliver(r, 0, a->ep, junk, rng_below(&rng, sizeof junk), now, secret, SECRET_LEN, &res);
        }
        }
        for (unsigned i = 0; i < res.n; i++) {
            bool known = false;
            for (unsigned k = 0; k < 8; k++) {
                if (addr_endpoint_equal(res.out[i].to, ag[k].ep)) {
                    known = true;
                    if (res.msg[i].type == AGENTMSG_PEER)
                        last_session[k] = res.msg[i].session;
                }
            }
            if (!known || (res.msg[i].type == AGENTMSG_RELAY && res.out[i].len > res.in_len))
                bad++;
            relayed += res.msg[i].type == AGENTMSG_RELAY;
        }
        if (step % 100 == 0)
            CU_ASSERT_TRUE(rendezvous_expire(r, now) > now);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_TRUE(relayed > 100);
    CU_ASSERT_TRUE(rendezvous_stats(r)->dropped[RENDEZVOUS_DROP_RATE] > 0);
    CU_ASSERT_TRUE(rendezvous_stats(r)->endpoint_changes > 0);
    rendezvous_free(r);
}

/* ---- TCP connections as sockets of their own ------------------------------------ */

#define STREAM0 4 /* first_stream_socket, as the server sets it */

static rendezvous_t *stream_core(void)
{
    rendezvous_config_t c = { .first_stream_socket = STREAM0 };
    return core(&c, true);
}

/* A UDP client and a TCP client with the same address and port are two
 * clients: neither takes the other's registration, and everything to each
 * leaves by its own transport. */
static void test_transport_in_the_key(void)
{
    rendezvous_t *r = stream_core();
    agent_t u = agent("udp", 5, 40000, true), t = agent("tcp", 5, 40000, true);
    t.socket = STREAM0 + 1;
    uint64_t id = pair(r, &u, &t, 0);
    CU_ASSERT_EQUAL(rendezvous_registration_count(r), 2);
    CU_ASSERT_EQUAL(rendezvous_stream_client_count(r), 1);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->stream_registrations, 1);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->endpoint_changes, 0);
    result_t res;
    do_relay(r, &u, id, 50, 1 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_EQUAL(res.out[0].socket, STREAM0 + 1); /* UDP in, TCP out */
    do_relay(r, &t, id, 50, 1 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_EQUAL(res.out[0].socket, 0); /* TCP in, UDP out */
    CU_ASSERT_TRUE(addr_endpoint_equal(res.out[0].to, u.ep));
    /* UDP is one transport: another UDP socket is the same client. */
    u.socket = 2;
    do_relay(r, &u, id, 50, 2 * S, &res);
    CU_ASSERT_EQUAL(res.n, 1);
    /* Another connection from the same endpoint is nobody. */
    agent_t other = t;
    other.socket = STREAM0 + 2;
    other.counter += 100;
    do_relay(r, &other, id, 50, 2 * S, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_NOT_REGISTERED), 1);
    /* The same name over UDP: a move (the other member hears of it). */
    agent_t t_udp = t;
    t_udp.socket = 1;
    t_udp.ep.port = 40001;
    do_register(r, &t_udp, 3 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 2);
    CU_ASSERT_EQUAL(res.msg[1].type, AGENTMSG_PEER);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->endpoint_changes, 1);
    CU_ASSERT_EQUAL(rendezvous_stream_client_count(r), 0);
    CU_ASSERT_EQUAL(rendezvous_registration_count(r), 2);
    /* Without first_stream_socket every socket is UDP, as before. */
    rendezvous_t *plain = core(NULL, true);
    agent_t p1 = agent("p1", 5, 40000, true), p2 = agent("p2", 5, 40000, true);
    p2.socket = STREAM0 + 1;
    register_ok(plain, &p1, 0);
    register_ok(plain, &p2, 0);
    CU_ASSERT_EQUAL(rendezvous_stream_client_count(plain), 0);
    do_connect(plain, &p1, "p2", 0, &res);
    CU_ASSERT_EQUAL(res.n, 1); /* p2 took the endpoint: p1 is not registered */
    CU_ASSERT_EQUAL(res.msg[0].type, AGENTMSG_ERROR);
    rendezvous_free(plain);
    rendezvous_free(r);
}

/* A closed connection detaches its registration: nothing goes to it, its
 * session stays; a reconnect that re-REGISTERs is a move; a new client on
 * the reused index is nobody; unrefreshed, it expires as UDP ones do. */
static void test_stream_closed(void)
{
    rendezvous_t *r = stream_core();
    agent_t u = agent("udp", 1, 40000, true), t = agent("tcp", 2, 41000, true);
    t.socket = STREAM0;
    uint64_t id = pair(r, &u, &t, 0);
    rendezvous_socket_closed(r, 0); /* not a stream: nothing happens */
    rendezvous_socket_closed(r, STREAM0 + 9);
    CU_ASSERT_EQUAL(rendezvous_stream_client_count(r), 1);
    rendezvous_socket_closed(r, STREAM0);
    CU_ASSERT_EQUAL(rendezvous_stream_client_count(r), 0);
    CU_ASSERT_EQUAL(rendezvous_stats(r)->streams_closed, 1);
    CU_ASSERT_EQUAL(rendezvous_registration_count(r), 2);
    result_t res;
    do_relay(r, &u, id, 20, 1 * S, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_PEER_AWAY), 1);
    /* Another client reuses the index, from the old endpoint: not "tcp". */
    agent_t stranger = agent("stranger", 2, 41000, true);
    stranger.socket = STREAM0;
    do_connect(r, &stranger, "udp", 2 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_EQUAL(res.msg[0].code, AGENTMSG_ERROR_NOT_REGISTERED);
    CU_ASSERT_EQUAL(res.out[0].socket, STREAM0);
    /* "tcp" reconnects (a new connection, a new port): same session. */
    t.socket = STREAM0 + 3;
    t.ep.port = 41001;
    do_register(r, &t, 3 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 2);
    CU_ASSERT_EQUAL(res.out[0].socket, STREAM0 + 3);
    CU_ASSERT_EQUAL(res.msg[1].type, AGENTMSG_PEER);
    CU_ASSERT_EQUAL(res.msg[1].session, id);
    CU_ASSERT_TRUE(addr_endpoint_equal(res.out[1].to, u.ep));
    do_relay(r, &u, id, 20, 4 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_EQUAL(res.out[0].socket, STREAM0 + 3);
    /* Closed and never back: gone when its lifetime runs out. */
    rendezvous_socket_closed(r, STREAM0 + 3);
    rendezvous_expire(r, 3 * S + RENDEZVOUS_DEFAULT_LIFETIME - 1);
    CU_ASSERT_EQUAL(rendezvous_registration_count(r), 1); /* u's (from 0 s) ran out */
    rendezvous_expire(r, 3 * S + RENDEZVOUS_DEFAULT_LIFETIME);
    CU_ASSERT_EQUAL(rendezvous_registration_count(r), 0);
    CU_ASSERT_EQUAL(rendezvous_session_count(r), 0);
    /* An index past what the key can hold is refused. */
    agent_t far = agent("far", 3, 1, true);
    far.socket = STREAM0 + RENDEZVOUS_STREAM_SOCKETS_MAX;
    do_register(r, &far, 0, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_EQUAL(dropped(r, RENDEZVOUS_DROP_BAD_SOCKET), 1);
    rendezvous_free(r);
}

/* The PEER to the member asked for, lost: its next keepalives bring it
 * again (at most peer_repeats times), until it relays in the session. */
static void test_peer_repeated(void)
{
    rendezvous_t *r = core(NULL, true);
    agent_t a = agent("alice", 1, 40000, true), b = agent("bob", 2, 50000, true);
    b.socket = 1;
    register_ok(r, &a, 0);
    register_ok(r, &b, 0);
    result_t res;
    do_connect(r, &b, "alice", 0, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 2);
    agentmsg_t lost = res.msg[1]; /* to alice */
    CU_ASSERT_TRUE(addr_endpoint_equal(res.out[1].to, a.ep));
    for (int k = 1; k <= RENDEZVOUS_DEFAULT_PEER_REPEATS + 1; k++) {
        do_register(r, &a, k * 25 * S, &res);
        if (k <= RENDEZVOUS_DEFAULT_PEER_REPEATS) {
            CU_ASSERT_EQUAL_FATAL(res.n, 2);
            CU_ASSERT_EQUAL(res.msg[1].type, AGENTMSG_PEER);
            CU_ASSERT_EQUAL(res.msg[1].session, lost.session);
            CU_ASSERT_EQUAL(res.msg[1].role, 0);
            CU_ASSERT_EQUAL(res.msg[1].flags, lost.flags);
            CU_ASSERT_TRUE(addr_endpoint_equal(res.msg[1].endpoint, b.ep));
            CU_ASSERT_TRUE(addr_endpoint_equal(res.out[1].to, a.ep));
        } else {
            CU_ASSERT_EQUAL(res.n, 1);
        }
        do_register(r, &b, k * 25 * S, &res); /* the connector asked: it gets none */
        CU_ASSERT_EQUAL(res.n, 1);
    }
    CU_ASSERT_EQUAL(rendezvous_stats(r)->peer_repeats, RENDEZVOUS_DEFAULT_PEER_REPEATS);
    /* Two sessions unknown to alice: only the newest is repeated. */
    agent_t c = agent("carol", 3, 60000, true);
    register_ok(r, &c, 101 * S);
    do_connect(r, &c, "alice", 101 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 2);
    do_connect(r, &b, "alice", 102 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 2);
    uint64_t newest = res.msg[1].session;
    do_register(r, &a, 103 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 2);
    CU_ASSERT_EQUAL(res.msg[1].session, newest);
    CU_ASSERT_STRING_EQUAL(res.msg[1].name, "bob");
    /* A new session; alice relays in it: she has its PEER, none again. */
    do_connect(r, &b, "alice", 110 * S, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 2);
    do_relay(r, &a, res.msg[1].session, 10, 111 * S, &res);
    CU_ASSERT_EQUAL(res.n, 1);
    do_register(r, &a, 112 * S, &res);
    CU_ASSERT_EQUAL(res.n, 1);
    rendezvous_free(r);
    /* peer_repeats < 0: never. */
    rendezvous_config_t none = { .peer_repeats = -1 };
    r = core(&none, true);
    a.counter = b.counter = 0;
    pair(r, &b, &a, 0);
    do_register(r, &a, 25 * S, &res);
    CU_ASSERT_EQUAL(res.n, 1);
    rendezvous_free(r);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "REGISTER -> REGISTERED, from the arrival socket", test_register },
        { "registrations expire by now", test_registration_expiry },
        { "max registrations -> ERROR FULL", test_full },
        { "CONNECT without a secret: random key, both sides agree", test_connect_without_secret },
        { "CONNECT with a secret: derived key, both sides agree", test_connect_with_secret },
        { "CONNECT errors: unknown peer, itself, not registered", test_connect_errors },
        { "sessions per agent: the oldest is evicted", test_sessions_per_agent },
        { "an agent leaves", test_leave },
        { "RELAY forwarded, re-tagged, never larger", test_relay_forwarded },
        { "RELAY from non-members dropped and counted", test_relay_members_only },
        { "RELAY rate limit drops the excess and recovers", test_relay_rate_limit },
        { "sessions expire when idle", test_session_idle },
        { "re-REGISTER from a new endpoint -> PEER update", test_reregister_new_endpoint },
        { "a new name on a taken endpoint", test_endpoint_taken },
        { "replayed REGISTER and RELAY", test_replay },
        { "secret mismatch -> AUTH", test_secret_mismatch },
        { "malformed and unexpected datagrams", test_malformed_and_unexpected },
        { "random traffic: answers parse and never grow", test_random_traffic },
        { "TCP and UDP clients on one address and port are two clients", test_transport_in_the_key },
        { "a closed TCP connection detaches; reconnect moves; expiry", test_stream_closed },
        { "a lost PEER repeated on the listener's keepalives", test_peer_repeated },
        { NULL, NULL },
    };
    return test_run_suite("rendezvous", cases);
}
