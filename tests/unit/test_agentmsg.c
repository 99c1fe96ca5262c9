/* common/agentmsg: every type round-trips to the same fields and the same
 * bytes, every truncation and every flipped bit is refused, the tag binds
 * the key, the replay window (RFC 4303 section 3.4.3), the session key, and
 * RELAY carrying a message keyed differently. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "common/agentmsg.h"
#include "common/wire.h"
#include "testutil.h"

static const uint8_t key[] = "server secret";
#define KEY_LEN (sizeof key - 1)
static const uint8_t data_payload[] = "hello through the relay";

/* One message of each type with every field it carries set (nonzero). */
static agentmsg_t sample(uint8_t type)
{
    agentmsg_t m = { .type = type, .flags = 0x5a, .counter = 0x0102030405060708ull,
                     .session = 0x1112131415161718ull };
    switch (type) {
    case AGENTMSG_REGISTER:
    case AGENTMSG_PEER:
        g_strlcpy(m.name, "alice", sizeof m.name);
        m.nat = (agentmsg_nat_t){ AGENTMSG_MAPPING_SEQUENTIAL, -2, 40123 };
        m.n_candidates = 3;
        m.candidates[0] = (agentmsg_candidate_t){ AGENTMSG_CANDIDATE_HOST, { ADDR_IP(10, 0, 0, 2), 5000 } };
        m.candidates[1] = (agentmsg_candidate_t){ AGENTMSG_CANDIDATE_SRFLX, { ADDR_IP(198, 18, 0, 1), 6000 } };
        m.candidates[2] = (agentmsg_candidate_t){ AGENTMSG_CANDIDATE_PORTMAP, { ADDR_IP(198, 18, 0, 1), 7000 } };
        if (type == AGENTMSG_PEER) {
            m.role = 1;
            m.endpoint = addr_endpoint(ADDR_IP(198, 18, 0, 1), 6001);
            for (unsigned i = 0; i < AGENTMSG_KEY_SIZE; i++)
                m.key[i] = (uint8_t)(0xa0 + i);
        }
        break;
    case AGENTMSG_REGISTERED:
        m.endpoint = addr_endpoint(ADDR_IP(198, 18, 0, 1), 6001);
        m.lifetime_s = 90;
        break;
    case AGENTMSG_CONNECT:
        g_strlcpy(m.name, "bob", sizeof m.name);
        break;
    case AGENTMSG_ERROR:
        m.code = AGENTMSG_ERROR_UNKNOWN_PEER;
        m.payload = (const uint8_t *)"no agent 'carol'";
        m.payload_len = 16;
        break;
    case AGENTMSG_RELAY:
    case AGENTMSG_DATA:
        m.seq = type == AGENTMSG_DATA ? 77 : 0;
        m.payload = data_payload;
        m.payload_len = sizeof data_payload - 1;
        break;
    case AGENTMSG_PROBE:
        m.technique = AGENTMSG_TECHNIQUE_PREDICTED;
        m.socket = 17;
        m.endpoint = addr_endpoint(ADDR_IP(198, 18, 0, 2), 40002);
        m.timestamp = 123456789;
        break;
    case AGENTMSG_PROBE_ACK:
        m.technique = AGENTMSG_TECHNIQUE_BIRTHDAY;
        m.echo_counter = 99;
        m.timestamp = 123456789;
        m.endpoint = addr_endpoint(ADDR_IP(198, 18, 0, 3), 40003);
        break;
    case AGENTMSG_DATA_ACK:
        m.seq = 78;
        break;
    case AGENTMSG_ANNOUNCE:
        m.endpoint = addr_endpoint(ADDR_IP(10, 0, 0, 2), 5000);
        break;
    case AGENTMSG_BYE:
        break;
    case AGENTMSG_TCP_PUNCH:
        m.phase = AGENTMSG_TCP_ANSWER;
        m.attempt = 2;
        m.tcp_mapping = AGENTMSG_TCP_MAPPING_INDEPENDENT;
        m.endpoint = addr_endpoint(ADDR_IP(198, 18, 0, 4), 40004);
        m.timestamp = 123456789;
        m.echo_timestamp = 987654321;
        m.hold_us = 250000;
        break;
    }
    return m;
}

static const uint8_t types[] = {
    AGENTMSG_REGISTER, AGENTMSG_REGISTERED, AGENTMSG_CONNECT, AGENTMSG_PEER,     AGENTMSG_ERROR,
    AGENTMSG_RELAY,    AGENTMSG_PROBE,      AGENTMSG_PROBE_ACK, AGENTMSG_DATA,   AGENTMSG_DATA_ACK,
    AGENTMSG_ANNOUNCE, AGENTMSG_BYE,      AGENTMSG_TCP_PUNCH,
};

/* Reads from an exact-size copy, so ASan sees any read past the end. */
static enum agentmsg_read_result read_exact(const uint8_t *data, size_t len, const uint8_t *k,
                                            size_t k_len, agentmsg_t *out)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (len)
        memcpy(copy, data, len);
    enum agentmsg_read_result r = agentmsg_read(copy, len, k, k_len, out);
    /* payload points into the copy: keep the test's view valid */
    if (r == AGENTMSG_OK && out->payload)
        out->payload = data + (out->payload - copy);
    free(copy);
    return r;
}


static bool same_fields(const agentmsg_t *a, const agentmsg_t *b)
{
    return a->type == b->type && a->flags == b->flags && a->counter == b->counter &&
           a->session == b->session && strcmp(a->name, b->name) == 0 &&
           memcmp(&a->nat, &b->nat, sizeof a->nat) == 0 &&
           addr_endpoint_equal(a->endpoint, b->endpoint) && a->n_candidates == b->n_candidates &&
           memcmp(a->candidates, b->candidates, a->n_candidates * sizeof a->candidates[0]) == 0 &&
           memcmp(a->key, b->key, sizeof a->key) == 0 && a->role == b->role &&
           a->lifetime_s == b->lifetime_s && a->code == b->code && a->technique == b->technique &&
           a->socket == b->socket && a->echo_counter == b->echo_counter &&
           a->timestamp == b->timestamp && a->echo_timestamp == b->echo_timestamp &&
           a->hold_us == b->hold_us && a->phase == b->phase && a->attempt == b->attempt &&
           a->tcp_mapping == b->tcp_mapping &&
           a->seq == b->seq && a->payload_len == b->payload_len &&
           (a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0);
}

static void test_round_trip(void)
{
    for (size_t t = 0; t < sizeof types; t++) {
        agentmsg_t m = sample(types[t]), back;
        uint8_t buf[AGENTMSG_MAX_SIZE], again[AGENTMSG_MAX_SIZE];
        size_t n = agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf);
        CU_ASSERT_FATAL(n >= AGENTMSG_HEADER_SIZE + AGENTMSG_TAG_SIZE);
        CU_ASSERT_EQUAL(buf[0], AGENTMSG_MAGIC);
        CU_ASSERT_TRUE(agentmsg_claims(buf, n));
        CU_ASSERT_EQUAL_FATAL(read_exact(buf, n, key, KEY_LEN, &back), AGENTMSG_OK);
        /* Fields a type does not carry are dropped by the write. */
        if (types[t] != AGENTMSG_DATA && types[t] != AGENTMSG_DATA_ACK)
            CU_ASSERT_EQUAL(back.seq, 0);
        if (!same_fields(&m, &back))
            CU_FAIL("fields differ after a round trip");
        /* The encoding is canonical: what was read writes the same bytes. */
        size_t n2 = agentmsg_write(&back, key, KEY_LEN, again, sizeof again);
        CU_ASSERT_EQUAL(n2, n);
        CU_ASSERT_EQUAL(memcmp(buf, again, n), 0);
        uint8_t type;
        uint64_t session;
        CU_ASSERT_TRUE(agentmsg_peek(buf, n, &type, &session));
        CU_ASSERT_EQUAL(type, types[t]);
        CU_ASSERT_EQUAL(session, m.session);
        /* Too small a buffer: nothing written. */
        CU_ASSERT_EQUAL(agentmsg_write(&m, key, KEY_LEN, again, n - 1), 0);
    }
}

/* The bytes of the header, byte by byte, against the diagram in agentmsg.h. */
static void test_header_layout(void)
{
    agentmsg_t m = sample(AGENTMSG_BYE);
    uint8_t buf[64];
    size_t n = agentmsg_write(&m, NULL, 0, buf, sizeof buf);
    static const uint8_t want[AGENTMSG_HEADER_SIZE] = {
        0xE4, 0x01, 21, 0x5a,                           /* magic, version, BYE, flags */
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* counter */
        0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, /* session id */
    };
    CU_ASSERT_EQUAL_FATAL(n, AGENTMSG_HEADER_SIZE + AGENTMSG_TAG_SIZE);
    CU_ASSERT_EQUAL(memcmp(buf, want, sizeof want), 0);
}

/* Every prefix, and every single bit flipped anywhere, is refused: by the
 * body checks or by the tag. Never a crash (ASan: exact-size copies). */
static void test_truncated_and_flipped(void)
{
    for (size_t t = 0; t < sizeof types; t++) {
        agentmsg_t m = sample(types[t]), out;
        uint8_t buf[AGENTMSG_MAX_SIZE];
        size_t n = agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf);
        CU_ASSERT_FATAL(n > 0);
        unsigned accepted = 0;
        for (size_t len = 0; len < n; len++)
            if (read_exact(buf, len, key, KEY_LEN, &out) == AGENTMSG_OK)
                accepted++;
        for (size_t i = 0; i < n; i++) {
            for (unsigned bit = 0; bit < 8; bit++) {
                buf[i] ^= (uint8_t)(1u << bit);
                enum agentmsg_read_result r = read_exact(buf, n, key, KEY_LEN, &out);
                if (r == AGENTMSG_OK)
                    accepted++;
                /* A refused message leaves nothing behind. */
                if (r != AGENTMSG_OK && (out.type || out.payload || out.counter))
                    accepted++;
                buf[i] ^= (uint8_t)(1u << bit);
            }
        }
        CU_ASSERT_EQUAL(accepted, 0);
        /* Extra bytes after the tag are refused too. */
        uint8_t longer[AGENTMSG_MAX_SIZE + 1];
        memcpy(longer, buf, n);
        longer[n] = 0;
        CU_ASSERT_NOT_EQUAL(read_exact(longer, n + 1, key, KEY_LEN, &out), AGENTMSG_OK);
    }
    agentmsg_t out;
    CU_ASSERT_EQUAL(read_exact(NULL, 0, key, KEY_LEN, &out), AGENTMSG_ERR_SHORT);
    CU_ASSERT_FALSE(agentmsg_claims(NULL, 0));
}

static void test_errors_by_reason(void)
{
    agentmsg_t m = sample(AGENTMSG_CONNECT), out;
    uint8_t buf[128];
    size_t n = agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf);
    CU_ASSERT_EQUAL(read_exact(buf, AGENTMSG_HEADER_SIZE + AGENTMSG_TAG_SIZE - 1, key, KEY_LEN, &out),
                    AGENTMSG_ERR_SHORT);
    buf[0] ^= 1;
    CU_ASSERT_EQUAL(read_exact(buf, n, key, KEY_LEN, &out), AGENTMSG_ERR_MAGIC);
    buf[0] ^= 1;
    buf[1] = 2;
    CU_ASSERT_EQUAL(read_exact(buf, n, key, KEY_LEN, &out), AGENTMSG_ERR_VERSION);
    buf[1] = AGENTMSG_VERSION;
    buf[2] = 7;
    CU_ASSERT_EQUAL(read_exact(buf, n, key, KEY_LEN, &out), AGENTMSG_ERR_TYPE);
    buf[2] = AGENTMSG_CONNECT;
    buf[AGENTMSG_HEADER_SIZE] = 4; /* name length 3 -> 4: runs into the tag's space */
    CU_ASSERT_EQUAL(read_exact(buf, n, key, KEY_LEN, &out), AGENTMSG_ERR_BODY);
    buf[AGENTMSG_HEADER_SIZE] = 3;
    buf[n - 1] ^= 0x80;
    CU_ASSERT_EQUAL(read_exact(buf, n, key, KEY_LEN, &out), AGENTMSG_ERR_AUTH);
    CU_ASSERT_STRING_EQUAL(agentmsg_read_result_name(AGENTMSG_ERR_AUTH), "auth");
    CU_ASSERT_STRING_EQUAL(agentmsg_read_result_name(AGENTMSG_ERR_COUNT), "?");
}

/* What a reader would refuse, a writer does not produce. */
static void test_write_refuses(void)
{
    uint8_t buf[AGENTMSG_MAX_SIZE * 2];
    agentmsg_t m = sample(AGENTMSG_REGISTER);
    memset(m.name, 'x', AGENTMSG_NAME_MAX);
    m.name[AGENTMSG_NAME_MAX] = '\0';
    CU_ASSERT_TRUE(agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf) > 0);
    m = sample(AGENTMSG_REGISTER);
    m.n_candidates = AGENTMSG_CANDIDATES_MAX + 1;
    CU_ASSERT_EQUAL(agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf), 0);
    m = sample(AGENTMSG_REGISTER);
    m.nat.mapping = AGENTMSG_MAPPING_NO_UDP;
    CU_ASSERT_TRUE(agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf) > 0);
    m.nat.mapping = AGENTMSG_MAPPING_NO_UDP + 1;
    CU_ASSERT_EQUAL(agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf), 0);
    m = sample(AGENTMSG_PROBE);
    m.technique = AGENTMSG_TECHNIQUE_COUNT;
    CU_ASSERT_EQUAL(agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf), 0);
    m = sample(AGENTMSG_DATA);
    m.technique = AGENTMSG_TECHNIQUE_COUNT; /* not a DATA field: ignored */
    CU_ASSERT_TRUE(agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf) > 0);
    static uint8_t big[AGENTMSG_MAX_SIZE];
    m = sample(AGENTMSG_DATA);
    m.payload = big;
    m.payload_len = AGENTMSG_PAYLOAD_MAX;
    CU_ASSERT_TRUE(agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf) > 0);
    m.payload_len = AGENTMSG_PAYLOAD_MAX + 1;
    CU_ASSERT_EQUAL(agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf), 0);
    m = sample(AGENTMSG_RELAY);
    m.payload = big;
    m.payload_len = AGENTMSG_RELAY_PAYLOAD_MAX;
    CU_ASSERT_EQUAL(agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf), AGENTMSG_MAX_SIZE);
    m.payload_len = AGENTMSG_RELAY_PAYLOAD_MAX + 1;
    CU_ASSERT_EQUAL(agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf), 0);
    m = sample(AGENTMSG_TCP_PUNCH);
    m.phase = 0;
    CU_ASSERT_EQUAL(agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf), 0);
    m.phase = AGENTMSG_TCP_ABANDON + 1;
    CU_ASSERT_EQUAL(agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf), 0);
    m.phase = AGENTMSG_TCP_ABANDON;
    m.tcp_mapping = AGENTMSG_TCP_MAPPING_RESTRICTED + 1;
    CU_ASSERT_EQUAL(agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf), 0);
    m.tcp_mapping = AGENTMSG_TCP_MAPPING_RESTRICTED;
    size_t n = agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf);
    CU_ASSERT_TRUE_FATAL(n > 0);
    buf[AGENTMSG_HEADER_SIZE] = AGENTMSG_TCP_ABANDON + 1; /* a phase no sender writes */
    agentmsg_retag(buf, n, key, KEY_LEN);
    agentmsg_t back;
    CU_ASSERT_EQUAL(agentmsg_read(buf, n, key, KEY_LEN, &back), AGENTMSG_ERR_BODY);
    m = sample(AGENTMSG_ERROR);
    m.payload = big;
    m.payload_len = 256;
    CU_ASSERT_EQUAL(agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf), 0);
    m.type = 0;
    CU_ASSERT_EQUAL(agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf), 0);
}

/* A RELAY one byte longer than the largest writable one is refused on read
 * as well (read and write agree on the limit). */
static void test_relay_limit_on_read(void)
{
    static uint8_t big[AGENTMSG_MAX_SIZE];
    uint8_t buf[AGENTMSG_MAX_SIZE + 1];
    agentmsg_t m = sample(AGENTMSG_RELAY), out;
    m.payload = big;
    m.payload_len = AGENTMSG_RELAY_PAYLOAD_MAX;
    size_t n = agentmsg_write(&m, NULL, 0, buf, sizeof buf);
    CU_ASSERT_EQUAL_FATAL(n, AGENTMSG_MAX_SIZE);
    CU_ASSERT_EQUAL(read_exact(buf, n, NULL, 0, &out), AGENTMSG_OK);
    /* Grow the payload by one byte and tag it properly: still refused. */
    wire_put16(buf + AGENTMSG_HEADER_SIZE, AGENTMSG_RELAY_PAYLOAD_MAX + 1);
    buf[n - AGENTMSG_TAG_SIZE] = 0;
    agentmsg_retag(buf, n + 1, NULL, 0);
    CU_ASSERT_EQUAL(read_exact(buf, n + 1, NULL, 0, &out), AGENTMSG_ERR_BODY);
    /* The same check with a correct tag passes: only the length was wrong. */
    wire_put16(buf + AGENTMSG_HEADER_SIZE, AGENTMSG_RELAY_PAYLOAD_MAX);
    agentmsg_retag(buf, n, NULL, 0);
    CU_ASSERT_EQUAL(read_exact(buf, n, NULL, 0, &out), AGENTMSG_OK);
}

static void test_wrong_key(void)
{
    static const uint8_t other[] = "another secret";
    for (size_t t = 0; t < sizeof types; t++) {
        agentmsg_t m = sample(types[t]), out;
        uint8_t buf[AGENTMSG_MAX_SIZE];
        size_t n = agentmsg_write(&m, key, KEY_LEN, buf, sizeof buf);
        CU_ASSERT_EQUAL(read_exact(buf, n, other, sizeof other - 1, &out), AGENTMSG_ERR_AUTH);
        CU_ASSERT_EQUAL(read_exact(buf, n, NULL, 0, &out), AGENTMSG_ERR_AUTH);
        CU_ASSERT_EQUAL(read_exact(buf, n, key, KEY_LEN - 1, &out), AGENTMSG_ERR_AUTH);
        n = agentmsg_write(&m, NULL, 0, buf, sizeof buf);
        CU_ASSERT_EQUAL(read_exact(buf, n, NULL, 0, &out), AGENTMSG_OK);
        CU_ASSERT_EQUAL(read_exact(buf, n, key, KEY_LEN, &out), AGENTMSG_ERR_AUTH);
    }
}

static void test_replay_window(void)
{
    agentmsg_replay_t w = { 0 };
    CU_ASSERT_FALSE(agentmsg_replay_accept(&w, 0)); /* counters start at 1 */
    for (uint64_t c = 1; c <= 10; c++)
        CU_ASSERT_TRUE(agentmsg_replay_accept(&w, c)); /* in order */
    CU_ASSERT_FALSE(agentmsg_replay_accept(&w, 10)); /* duplicates */
    CU_ASSERT_FALSE(agentmsg_replay_accept(&w, 3));
    CU_ASSERT_TRUE(agentmsg_replay_accept(&w, 20)); /* a gap ... */
    CU_ASSERT_TRUE(agentmsg_replay_accept(&w, 15)); /* ... filled out of order */
    CU_ASSERT_FALSE(agentmsg_replay_accept(&w, 15));
    CU_ASSERT_TRUE(agentmsg_replay_accept(&w, 11));
    CU_ASSERT_FALSE(agentmsg_replay_accept(&w, 0));

    /* The window's edge: 63 behind the newest is inside, 64 is too old. */
    agentmsg_replay_t e = { 0 };
    CU_ASSERT_TRUE(agentmsg_replay_accept(&e, 100));
    CU_ASSERT_TRUE(agentmsg_replay_accept(&e, 37));
    CU_ASSERT_FALSE(agentmsg_replay_accept(&e, 36));
    CU_ASSERT_FALSE(agentmsg_replay_accept(&e, 37));
    /* A jump further than the window forgets everything before it. */
    CU_ASSERT_TRUE(agentmsg_replay_accept(&e, 1000));
    CU_ASSERT_FALSE(agentmsg_replay_accept(&e, 100));
    CU_ASSERT_TRUE(agentmsg_replay_accept(&e, 999));
    CU_ASSERT_TRUE(agentmsg_replay_accept(&e, UINT64_MAX));
    CU_ASSERT_FALSE(agentmsg_replay_accept(&e, UINT64_MAX));
    CU_ASSERT_TRUE(agentmsg_replay_accept(&e, UINT64_MAX - 63));
    CU_ASSERT_FALSE(agentmsg_replay_accept(&e, UINT64_MAX - 64));

    /* Every counter of a shuffled run of 64 is new exactly once. */
    agentmsg_replay_t s = { 0 };
    unsigned accepted = 0;
    for (unsigned i = 0; i < 64; i++) {
        uint64_t c = 1 + (i * 37) % 64; /* 37 is prime to 64: a permutation */
        accepted += agentmsg_replay_accept(&s, c);
        accepted += agentmsg_replay_accept(&s, c);
    }
    CU_ASSERT_EQUAL(accepted, 64);
}

static void test_session_key(void)
{
    static const uint8_t s1[] = "secret one", s2[] = "secret two";
    uint8_t a[AGENTMSG_KEY_SIZE], b[AGENTMSG_KEY_SIZE], c[AGENTMSG_KEY_SIZE], d[AGENTMSG_KEY_SIZE],
        e[AGENTMSG_KEY_SIZE];
    agentmsg_session_key(s1, sizeof s1 - 1, 42, a);
    agentmsg_session_key(s1, sizeof s1 - 1, 42, b);
    agentmsg_session_key(s1, sizeof s1 - 1, 43, c);
    agentmsg_session_key(s2, sizeof s2 - 1, 42, d);
    agentmsg_session_key(NULL, 0, 42, e);
    CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a, c, sizeof a), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a, d, sizeof a), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a, e, sizeof a), 0);
    /* HMAC-SHA256(secret, "natlab-session" || id as 8 big-endian bytes). */
    uint8_t label[22] = "natlab-session";
    label[21] = 42;
    GHmac *h = g_hmac_new(G_CHECKSUM_SHA256, s1, sizeof s1 - 1);
    g_hmac_update(h, label, sizeof label);
    uint8_t want[32];
    gsize want_len = sizeof want;
    g_hmac_get_digest(h, want, &want_len);
    g_hmac_unref(h);
    CU_ASSERT_EQUAL(memcmp(a, want, sizeof a), 0);
}

/* A peer message keyed with the session key inside a RELAY keyed with the
 * server's secret: each layer reads only with its own key. */
static void test_relay_nesting(void)
{
    uint8_t session_key[AGENTMSG_KEY_SIZE];
    agentmsg_session_key(key, KEY_LEN, 7, session_key);
    agentmsg_t inner = sample(AGENTMSG_DATA);
    inner.session = 7;
    uint8_t inner_buf[AGENTMSG_MAX_SIZE], outer_buf[AGENTMSG_MAX_SIZE];
    size_t inner_n = agentmsg_write(&inner, session_key, sizeof session_key, inner_buf, sizeof inner_buf);
    CU_ASSERT_FATAL(inner_n > 0);
    agentmsg_t outer = { .type = AGENTMSG_RELAY, .counter = 5, .session = 7, .payload = inner_buf,
                         .payload_len = inner_n };
    size_t outer_n = agentmsg_write(&outer, key, KEY_LEN, outer_buf, sizeof outer_buf);
    CU_ASSERT_EQUAL_FATAL(outer_n, AGENTMSG_HEADER_SIZE + 2 + inner_n + AGENTMSG_TAG_SIZE);

    agentmsg_t got_outer, got_inner;
    CU_ASSERT_EQUAL(read_exact(outer_buf, outer_n, session_key, sizeof session_key, &got_outer),
                    AGENTMSG_ERR_AUTH);
    CU_ASSERT_EQUAL_FATAL(read_exact(outer_buf, outer_n, key, KEY_LEN, &got_outer), AGENTMSG_OK);
    CU_ASSERT_EQUAL(got_outer.session, 7);
    CU_ASSERT_EQUAL_FATAL(got_outer.payload_len, inner_n);
    CU_ASSERT_TRUE(agentmsg_claims(got_outer.payload, got_outer.payload_len));
    CU_ASSERT_EQUAL(read_exact(got_outer.payload, got_outer.payload_len, key, KEY_LEN, &got_inner),
                    AGENTMSG_ERR_AUTH);
    CU_ASSERT_EQUAL_FATAL(read_exact(got_outer.payload, got_outer.payload_len, session_key,
                                     sizeof session_key, &got_inner),
                          AGENTMSG_OK);
    CU_ASSERT_TRUE(same_fields(&inner, &got_inner));

    /* A RELAY of a RELAY is a well-formed message too; the server never
     * unwraps more than one layer. */
    agentmsg_t twice = { .type = AGENTMSG_RELAY, .counter = 6, .session = 7, .payload = outer_buf,
                         .payload_len = outer_n };
    uint8_t twice_buf[AGENTMSG_MAX_SIZE];
    size_t twice_n = agentmsg_write(&twice, key, KEY_LEN, twice_buf, sizeof twice_buf);
    CU_ASSERT_EQUAL_FATAL(twice_n, outer_n + AGENTMSG_HEADER_SIZE + 2 + AGENTMSG_TAG_SIZE);
    agentmsg_t got;
    CU_ASSERT_EQUAL(read_exact(twice_buf, twice_n, key, KEY_LEN, &got), AGENTMSG_OK);
    CU_ASSERT_EQUAL(read_exact(got.payload, got.payload_len, key, KEY_LEN, &got_outer), AGENTMSG_OK);
    CU_ASSERT_EQUAL(got_outer.counter, 5);
}

static void test_names(void)
{
    CU_ASSERT_STRING_EQUAL(agentmsg_technique_name(AGENTMSG_TECHNIQUE_BIRTHDAY), "birthday");
    CU_ASSERT_STRING_EQUAL(agentmsg_technique_name(AGENTMSG_TECHNIQUE_COUNT), "?");
    CU_ASSERT_STRING_EQUAL(agentmsg_mapping_name(AGENTMSG_MAPPING_INDEPENDENT), "endpoint-independent");
    CU_ASSERT_STRING_EQUAL(agentmsg_mapping_name(200), "unknown");
    for (unsigned t = 0; t < AGENTMSG_TECHNIQUE_COUNT; t++)
        CU_ASSERT_STRING_NOT_EQUAL(agentmsg_technique_name((uint8_t)t), "?");
}

int main(void)
{
    static const test_case_t cases[] = {
        { "every type round-trips to the same fields and bytes", test_round_trip },
        { "header layout byte by byte", test_header_layout },
        { "every truncation and every flipped bit refused", test_truncated_and_flipped },
        { "errors by reason", test_errors_by_reason },
        { "write refuses what read would refuse", test_write_refuses },
        { "RELAY payload limit on read", test_relay_limit_on_read },
        { "wrong key -> AUTH", test_wrong_key },
        { "replay window", test_replay_window },
        { "session key", test_session_key },
        { "RELAY nesting", test_relay_nesting },
        { "names", test_names },
        { NULL, NULL },
    };
    return test_run_suite("agentmsg", cases);
}
