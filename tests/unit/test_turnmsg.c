/* TURN messages (common/turnmsg): the RFC 5769 long-term vector, round
 * trips of every attribute the client uses, ChannelData and TCP framing. */
#include <glib.h>
#include <string.h>

#include "common/turnmsg.h"
#include "testutil.h"

/* RFC 5769 section 2.4: a request with long-term authentication. */
static const uint8_t rfc5769_long_term[] = {
    0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72,
    0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x06, 0x00, 0x12, 0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88,
    0xe3, 0x83, 0xaa, 0xe3, 0x83, 0x83, 0xe3, 0x82, 0xaf, 0xe3, 0x82, 0xb9, 0x00, 0x00, 0x00,
    0x15, 0x00, 0x1c, 0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36,
    0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79, 0x36, 0x34, 0x73,
    0x41, 0x00, 0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72,
    0x67, 0x00, 0x00, 0x08, 0x00, 0x14, 0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e, 0x02,
    0xb8, 0xe0, 0x71, 0x2e, 0x85, 0xc9, 0xa2, 0x8c, 0xa8, 0x96, 0x66,
};
/* "マトリックス" in UTF-8, and the password after SASLprep, as the RFC gives them. */
static const char username[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";

static void test_rfc5769_long_term(void)
{
    uint8_t key[TURN_KEY_SIZE];
    turnmsg_key(username, "example.org", "TheMatrIX", key);
    turnmsg_t m;
    const char *why = NULL;
    CU_ASSERT_TRUE_FATAL(turnmsg_read(rfc5769_long_term, sizeof rfc5769_long_term, key, &m, &why));
    CU_ASSERT_TRUE(m.integrity_ok);
    CU_ASSERT_EQUAL(m.method, STUN_METHOD_BINDING);
    CU_ASSERT_EQUAL(m.msg_class, STUN_CLASS_REQUEST);
    CU_ASSERT_STRING_EQUAL(m.realm, "example.org");
    CU_ASSERT_STRING_EQUAL(m.nonce, "f//499k954d6OL34oL9FSTvy64sA");
    CU_ASSERT_STRING_EQUAL(m.username, username);
    turnmsg_key(username, "example.org", "TheMatrix", key);
    CU_ASSERT_TRUE(turnmsg_read(rfc5769_long_term, sizeof rfc5769_long_term, key, &m, &why));
    CU_ASSERT_FALSE(m.integrity_ok);
}

static void test_round_trip(void)
{
    uint8_t key[TURN_KEY_SIZE], buf[512];
    turnmsg_key("natlab", "natlab", "secret", key);
    const uint8_t payload[] = "hello through the relay";
    turnmsg_t m = {
        .method = TURN_METHOD_CHANNEL_BIND,
        .msg_class = STUN_CLASS_REQUEST,
        .transaction_id = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 },
        .has = TURNMSG_HAS_CHANNEL | TURNMSG_HAS_PEER | TURNMSG_HAS_LIFETIME | TURNMSG_HAS_DATA |
               TURNMSG_HAS_USERNAME | TURNMSG_HAS_REALM | TURNMSG_HAS_NONCE | TURNMSG_HAS_TRANSPORT,
        .channel = 0x4001,
        .peer = addr_endpoint(ADDR_IP(198, 18, 2, 1), 40000),
        .lifetime_s = 600,
        .data = payload,
        .data_len = sizeof payload,
    };
    strcpy(m.username, "natlab");
    strcpy(m.realm, "natlab");
    strcpy(m.nonce, "abc123");
    size_t n = turnmsg_write(&m, key, buf, sizeof buf);
    CU_ASSERT_TRUE_FATAL(n > 0 && n % 4 == 0);
    turnmsg_t back;
    const char *why = NULL;
    CU_ASSERT_TRUE_FATAL(turnmsg_read(buf, n, key, &back, &why));
    CU_ASSERT_TRUE(back.integrity_ok);
    CU_ASSERT_EQUAL(back.method, TURN_METHOD_CHANNEL_BIND);
    CU_ASSERT_EQUAL(back.msg_class, STUN_CLASS_REQUEST);
    CU_ASSERT_EQUAL(back.channel, 0x4001);
    CU_ASSERT_EQUAL(back.peer.ip, m.peer.ip);
    CU_ASSERT_EQUAL(back.peer.port, 40000);
    CU_ASSERT_EQUAL(back.lifetime_s, 600);
    CU_ASSERT_EQUAL(back.data_len, sizeof payload);
    CU_ASSERT_EQUAL(memcmp(back.data, payload, sizeof payload), 0);
    CU_ASSERT_STRING_EQUAL(back.nonce, "abc123");
    CU_ASSERT_EQUAL(memcmp(back.transaction_id, m.transaction_id, 12), 0);
    /* The common STUN reader takes it too: FINGERPRINT is right. */
    stun_message_t s;
    CU_ASSERT_EQUAL(stun_read(buf, n, &s), STUN_OK);
    /* One bit flipped in a signed attribute: integrity fails. */
    buf[30] ^= 1;
    turnmsg_read(buf, n, key, &back, &why);
    CU_ASSERT_FALSE(back.integrity_ok);
    /* Too small a buffer: nothing written. */
    CU_ASSERT_EQUAL(turnmsg_write(&m, key, buf, 40), 0);
}

static void test_error_and_relayed(void)
{
    uint8_t buf[256];
    turnmsg_t m = { .method = TURN_METHOD_ALLOCATE, .msg_class = STUN_CLASS_ERROR,
                    .has = TURNMSG_HAS_ERROR | TURNMSG_HAS_REALM | TURNMSG_HAS_NONCE,
                    .error_code = 438 };
    strcpy(m.error_reason, "Stale Nonce");
    strcpy(m.realm, "natlab");
    strcpy(m.nonce, "n2");
    size_t n = turnmsg_write(&m, NULL, buf, sizeof buf);
    turnmsg_t back;
    const char *why = NULL;
    CU_ASSERT_TRUE_FATAL(turnmsg_read(buf, n, NULL, &back, &why));
    CU_ASSERT_EQUAL(back.error_code, 438);
    CU_ASSERT_STRING_EQUAL(back.error_reason, "Stale Nonce");
    CU_ASSERT_FALSE(back.has & TURNMSG_HAS_INTEGRITY);
    m = (turnmsg_t){ .method = TURN_METHOD_ALLOCATE, .msg_class = STUN_CLASS_SUCCESS,
                     .has = TURNMSG_HAS_RELAYED | TURNMSG_HAS_MAPPED | TURNMSG_HAS_LIFETIME,
                     .relayed = addr_endpoint(ADDR_IP(198, 18, 0, 10), 49152),
                     .mapped = addr_endpoint(ADDR_IP(198, 18, 1, 1), 1024),
                     .lifetime_s = 600 };
    n = turnmsg_write(&m, NULL, buf, sizeof buf);
    CU_ASSERT_TRUE_FATAL(turnmsg_read(buf, n, NULL, &back, &why));
    CU_ASSERT_EQUAL(back.relayed.port, 49152);
    CU_ASSERT_EQUAL(back.mapped.ip, ADDR_IP(198, 18, 1, 1));
}

static void test_malformed(void)
{
    uint8_t buf[128];
    turnmsg_t m = { .method = TURN_METHOD_REFRESH, .msg_class = STUN_CLASS_REQUEST,
                    .has = TURNMSG_HAS_LIFETIME, .lifetime_s = 0 };
    size_t n = turnmsg_write(&m, NULL, buf, sizeof buf);
    turnmsg_t back;
    const char *why = NULL;
    CU_ASSERT_FALSE(turnmsg_read(buf, 10, NULL, &back, &why));
    CU_ASSERT_FALSE(turnmsg_read(buf, n - 4, NULL, &back, &why));
    ASSERT_CONTAINS(why, "length");
    buf[22] = 0x01; /* LIFETIME says 260 bytes */
    CU_ASSERT_FALSE(turnmsg_read(buf, n, NULL, &back, &why));
    ASSERT_CONTAINS(why, "runs past the end");
}

static void test_channel_data(void)
{
    uint8_t buf[64];
    const uint8_t data[] = { 1, 2, 3, 4, 5 };
    size_t n = turnmsg_channel_data(0x4000, data, 5, false, buf, sizeof buf);
    CU_ASSERT_EQUAL(n, 9);
    uint16_t ch;
    const uint8_t *p;
    size_t plen;
    CU_ASSERT_TRUE(turnmsg_read_channel_data(buf, n, &ch, &p, &plen));
    CU_ASSERT(ch == 0x4000 && plen == 5 && memcmp(p, data, 5) == 0);
    CU_ASSERT_FALSE(turnmsg_read_channel_data(buf, 8, &ch, &p, &plen));
    n = turnmsg_channel_data(0x4000, data, 5, true, buf, sizeof buf);
    CU_ASSERT_EQUAL(n, 12);
    CU_ASSERT_EQUAL(turnmsg_frame_length(buf, 2, 1500), 0);
    CU_ASSERT_EQUAL(turnmsg_frame_length(buf, n, 1500), 12);
    buf[0] = 0x60; /* reserved 0x5000-0x7FFF */
    CU_ASSERT_EQUAL(turnmsg_frame_length(buf, n, 1500), -1);
    turnmsg_t m = { .method = TURN_METHOD_REFRESH, .msg_class = STUN_CLASS_REQUEST };
    n = turnmsg_write(&m, NULL, buf, sizeof buf);
    CU_ASSERT_EQUAL(turnmsg_frame_length(buf, n, 1500), (long)n);
    CU_ASSERT_EQUAL(turnmsg_frame_length(buf, 3, 1500), 0);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "RFC 5769 2.4: long-term MESSAGE-INTEGRITY", test_rfc5769_long_term },
        { "every client attribute, written and read back", test_round_trip },
        { "errors, XOR-RELAYED-ADDRESS", test_error_and_relayed },
        { "malformed messages", test_malformed },
        { "ChannelData and TCP framing", test_channel_data },
        { NULL, NULL },
    };
    return test_run_suite("turnmsg", cases);
}
