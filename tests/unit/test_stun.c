/* common/stun: the RFC 5769 test vectors byte by byte, RFC 3489 framing,
 * malformed input, and write -> read round trips over random messages.
 *
 * MESSAGE-INTEGRITY is not checked: natlab's Binding is unauthenticated, so
 * the codec reads past it (and past USERNAME); the vectors' integrity bytes
 * stay covered by FINGERPRINT, which is verified. The vectors pad SOFTWARE
 * and USERNAME with spaces (RFC 5769 allows any padding), so their bytes are
 * compared field by field where our zero padding would differ. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/stun.h"
#include "common/wire.h"
#include "testutil.h"

#define IP(a, b, c, d) ADDR_IP(a, b, c, d)

/* RFC 5769 section 2.1, Sample Request (software "STUN test client",
 * username "evtj:h6vY", password "VOkJxbRl1RmTxUk/WvJxBt"). */
static const uint8_t rfc5769_request[108] = {
    0x00, 0x01, 0x00, 0x58, /* Request type and message length */
    0x21, 0x12, 0xa4, 0x42, /* Magic cookie */
    0xb7, 0xe7, 0xa7, 0x01, /* } */
    0xbc, 0x34, 0xd6, 0x86, /* }  Transaction ID */
    0xfa, 0x87, 0xdf, 0xae, /* } */
    0x80, 0x22, 0x00, 0x10, /* SOFTWARE attribute header */
    0x53, 0x54, 0x55, 0x4e, /* } */
    0x20, 0x74, 0x65, 0x73, /* }  User-agent... */
    0x74, 0x20, 0x63, 0x6c, /* }  ...name */
    0x69, 0x65, 0x6e, 0x74, /* } */
    0x00, 0x24, 0x00, 0x04, /* PRIORITY attribute header */
    0x6e, 0x00, 0x01, 0xff, /* ICE priority value */
    0x80, 0x29, 0x00, 0x08, /* ICE-CONTROLLED attribute header */
    0x93, 0x2f, 0xf9, 0xb1, /* }  Pseudo-random tie breaker... */
    0x51, 0x26, 0x3b, 0x36, /* }   ...for ICE control */
    0x00, 0x06, 0x00, 0x09, /* USERNAME attribute header */
    0x65, 0x76, 0x74, 0x6a, /* } */
    0x3a, 0x68, 0x36, 0x76, /* }  Username (9 bytes) and padding (3 bytes) */
    0x59, 0x20, 0x20, 0x20, /* } */
    0x00, 0x08, 0x00, 0x14, /* MESSAGE-INTEGRITY attribute header */
    0x9a, 0xea, 0xa7, 0x0c, /* } */
    0xbf, 0xd8, 0xcb, 0x56, /* } */
    0x78, 0x1e, 0xf2, 0xb5, /* }  HMAC-SHA1 fingerprint */
    0xb2, 0xd3, 0xf2, 0x49, /* } */
    0xc1, 0xb5, 0x71, 0xa2, /* } */
    0x80, 0x28, 0x00, 0x04, /* FINGERPRINT attribute header */
    0xe5, 0x7a, 0x3b, 0xcf, /* CRC32 fingerprint */
};

/* RFC 5769 section 2.2, Sample IPv4 Response: 192.0.2.1 port 32853. */
static const uint8_t rfc5769_ipv4_response[80] = {
    0x01, 0x01, 0x00, 0x3c, /* Response type and message length */
    0x21, 0x12, 0xa4, 0x42, /* Magic cookie */
    0xb7, 0xe7, 0xa7, 0x01, /* } */
    0xbc, 0x34, 0xd6, 0x86, /* }  Transaction ID */
    0xfa, 0x87, 0xdf, 0xae, /* } */
    0x80, 0x22, 0x00, 0x0b, /* SOFTWARE attribute header */
    0x74, 0x65, 0x73, 0x74, /* } */
    0x20, 0x76, 0x65, 0x63, /* }  UTF-8 server name */
    0x74, 0x6f, 0x72, 0x20, /* } */
    0x00, 0x20, 0x00, 0x08, /* XOR-MAPPED-ADDRESS attribute header */
    0x00, 0x01, 0xa1, 0x47, /* Address family (IPv4) and xor'd mapped port number */
    0xe1, 0x12, 0xa6, 0x43, /* Xor'd mapped IPv4 address */
    0x00, 0x08, 0x00, 0x14, /* MESSAGE-INTEGRITY attribute header */
    0x2b, 0x91, 0xf5, 0x99, /* } */
    0xfd, 0x9e, 0x90, 0xc3, /* } */
    0x8c, 0x74, 0x89, 0xf9, /* }  HMAC-SHA1 fingerprint */
    0x2a, 0xf9, 0xba, 0x53, /* } */
    0xf0, 0x6b, 0xe7, 0xd7, /* } */
    0x80, 0x28, 0x00, 0x04, /* FINGERPRINT attribute header */
    0xc0, 0x7d, 0x4c, 0x96, /* CRC32 fingerprint */
};

/* RFC 5769 section 2.3, Sample IPv6 Response: 2001:db8:1234:5678:11:2233:4455:6677 port 32853. */
static const uint8_t rfc5769_ipv6_response[92] = {
    0x01, 0x01, 0x00, 0x48, /* Response type and message length */
    0x21, 0x12, 0xa4, 0x42, /* Magic cookie */
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, /* Transaction ID */
    0x80, 0x22, 0x00, 0x0b, /* SOFTWARE attribute header */
    0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x14, /* XOR-MAPPED-ADDRESS attribute header */
    0x00, 0x02, 0xa1, 0x47, /* Address family (IPv6) and xor'd mapped port number */
    0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, /* } Xor'd mapped IPv6 address */
    0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, /* } */
    0x00, 0x08, 0x00, 0x14, /* MESSAGE-INTEGRITY attribute header */
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84,
    0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41,
    0x80, 0x28, 0x00, 0x04, /* FINGERPRINT attribute header */
    0xc8, 0xfb, 0x0b, 0x4c, /* CRC32 fingerprint */
};

static const uint8_t vector_id[STUN_TRANSACTION_ID_SIZE] = {
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
};

/* Heap copies of exactly n bytes, so ASan sees any read past the end. */
static stun_error_t read_exact(const uint8_t *bytes, size_t len, stun_message_t *m)
{
    uint8_t *d = malloc(len ? len : 1);
    if (len)
        memcpy(d, bytes, len);
    stun_error_t e = stun_read(d, len, m);
    free(d);
    return e;
}

/* --- RFC 5769 ---------------------------------------------------------------- */

static void test_crc32_check_value(void)
{
    /* The CRC-32 catalogue's check value, and zlib's crc32(0, "", 0) = 0. */
    CU_ASSERT_EQUAL(stun_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
    CU_ASSERT_EQUAL(stun_crc32((const uint8_t *)"", 0), 0);
}

static void test_vector_ipv4_response(void)
{
    stun_message_t m;
    CU_ASSERT_EQUAL_FATAL(read_exact(rfc5769_ipv4_response, sizeof rfc5769_ipv4_response, &m), STUN_OK);
    CU_ASSERT_EQUAL(m.method, STUN_METHOD_BINDING);
    CU_ASSERT_EQUAL(m.msg_class, STUN_CLASS_SUCCESS);
    CU_ASSERT_FALSE(m.classic);
    CU_ASSERT_EQUAL(memcmp(m.transaction_id, vector_id, sizeof vector_id), 0);
    CU_ASSERT_TRUE(m.has & STUN_HAS_XOR_MAPPED);
    CU_ASSERT_TRUE(addr_endpoint_equal(m.xor_mapped, addr_endpoint(IP(192, 0, 2, 1), 32853)));
    CU_ASSERT_TRUE(m.has & STUN_HAS_SOFTWARE);
    CU_ASSERT_STRING_EQUAL(m.software, "test vector");
    CU_ASSERT_TRUE(m.has & STUN_HAS_FINGERPRINT);
    CU_ASSERT_EQUAL(m.n_unknown, 0);
    /* Its FINGERPRINT, recomputed over the 72 bytes before the attribute. */
    CU_ASSERT_EQUAL(stun_fingerprint(rfc5769_ipv4_response, 72), 0xc07d4c96u);
}

static void test_vector_ipv4_response_bytes(void)
{
    /* What we write for the same mapping and id, compared byte by byte with
     * the vector's header fields and XOR-MAPPED-ADDRESS attribute. */
    stun_message_t m = { .method = STUN_METHOD_BINDING, .msg_class = STUN_CLASS_SUCCESS };
    memcpy(m.transaction_id, vector_id, sizeof vector_id);
    m.xor_mapped = addr_endpoint(IP(192, 0, 2, 1), 32853);
    m.has = STUN_HAS_XOR_MAPPED;
    uint8_t buf[64];
    size_t n = stun_write(&m, false, buf, sizeof buf);
    CU_ASSERT_EQUAL_FATAL(n, 32);
    CU_ASSERT_EQUAL(memcmp(buf, rfc5769_ipv4_response, 2), 0);       /* type 0x0101 */
    CU_ASSERT_EQUAL(memcmp(buf + 4, rfc5769_ipv4_response + 4, 16), 0); /* cookie, id */
    CU_ASSERT_EQUAL(memcmp(buf + 20, rfc5769_ipv4_response + 36, 12), 0); /* 00 20 00 08 00 01 a1 47 e1 12 a6 43 */
    CU_ASSERT_EQUAL(buf[26], 0xa1); /* X-Port 0xA147 */
    CU_ASSERT_EQUAL(buf[27], 0x47);
    CU_ASSERT_EQUAL(wire_get32(buf + 28), 0xE112A643u);

    /* Rebuilt whole: our SOFTWARE then the vector's XOR-MAPPED-ADDRESS and
     * MESSAGE-INTEGRITY bytes, with the vector's space padding: the same 80
     * bytes, FINGERPRINT included, as the RFC prints. */
    uint8_t whole[80];
    memcpy(whole, rfc5769_ipv4_response, 20);
    stun_message_t sw = { .method = STUN_METHOD_BINDING, .msg_class = STUN_CLASS_SUCCESS,
                          .has = STUN_HAS_SOFTWARE };
    memcpy(sw.transaction_id, vector_id, sizeof vector_id);
    strcpy(sw.software, "test vector");
    uint8_t swbuf[64];
    CU_ASSERT_EQUAL_FATAL(stun_write(&sw, false, swbuf, sizeof swbuf), 36);
    memcpy(whole + 20, swbuf + 20, 16);
    CU_ASSERT_EQUAL(whole[35], 0x00); /* ours pads with zero (RFC 8489 section 14) */
    whole[35] = 0x20;                 /* the vector with a space */
    memcpy(whole + 36, buf + 20, 12);
    memcpy(whole + 48, rfc5769_ipv4_response + 48, 24);
    wire_put16(whole + 72, STUN_ATTR_FINGERPRINT);
    wire_put16(whole + 74, 4);
    wire_put32(whole + 76, stun_fingerprint(whole, 72));
    CU_ASSERT_EQUAL(memcmp(whole, rfc5769_ipv4_response, sizeof whole), 0);
}

static void test_vector_request(void)
{
    stun_message_t m;
    CU_ASSERT_EQUAL_FATAL(read_exact(rfc5769_request, sizeof rfc5769_request, &m), STUN_OK);
    CU_ASSERT_EQUAL(m.method, STUN_METHOD_BINDING);
    CU_ASSERT_EQUAL(m.msg_class, STUN_CLASS_REQUEST);
    CU_ASSERT_EQUAL(memcmp(m.transaction_id, vector_id, sizeof vector_id), 0);
    CU_ASSERT_STRING_EQUAL(m.software, "STUN test client");
    CU_ASSERT_TRUE(m.has & STUN_HAS_FINGERPRINT);
    /* PRIORITY (0x0024, ICE) is comprehension-required and unknown here: a
     * Binding server answers 420. ICE-CONTROLLED (0x8029) is optional. */
    CU_ASSERT_EQUAL(m.n_unknown, 1);
    CU_ASSERT_EQUAL(m.unknown[0], 0x0024);
    CU_ASSERT_EQUAL(stun_fingerprint(rfc5769_request, 100), 0xe57a3bcfu);
}

static void test_vector_ipv6_response(void)
{
    stun_message_t m;
    CU_ASSERT_EQUAL_FATAL(read_exact(rfc5769_ipv6_response, sizeof rfc5769_ipv6_response, &m), STUN_OK);
    CU_ASSERT_TRUE(m.has & STUN_HAS_FINGERPRINT);
    CU_ASSERT_FALSE(m.has & STUN_HAS_XOR_MAPPED); /* IPv6: valid, ignored */
    CU_ASSERT_EQUAL(stun_fingerprint(rfc5769_ipv6_response, 84), 0xc8fb0b4cu);
}

static void test_vector_corruptions(void)
{
    uint8_t d[sizeof rfc5769_ipv4_response];
    stun_message_t m;
    /* Any flipped bit in the covered bytes breaks the fingerprint. */
    for (size_t i = 20; i < 72; i++) {
        memcpy(d, rfc5769_ipv4_response, sizeof d);
        d[i] ^= 0x10;
        stun_error_t e = read_exact(d, sizeof d, &m);
        CU_ASSERT_NOT_EQUAL(e, STUN_OK);
    }
    memcpy(d, rfc5769_ipv4_response, sizeof d);
    d[79] ^= 1;
    CU_ASSERT_EQUAL(read_exact(d, sizeof d, &m), STUN_ERR_BAD_FINGERPRINT);
    /* FINGERPRINT must be the last attribute. */
    uint8_t longer[sizeof rfc5769_ipv4_response + 8];
    memcpy(longer, rfc5769_ipv4_response, sizeof rfc5769_ipv4_response);
    wire_put16(longer + 2, (uint16_t)(sizeof longer - 20));
    memcpy(longer + 80, "\x80\x22\x00\x04nat!", 8);
    CU_ASSERT_EQUAL(read_exact(longer, sizeof longer, &m), STUN_ERR_BAD_ATTRIBUTE);
}

/* --- RFC 3489 framing ---------------------------------------------------------- */

static void test_classic_read(void)
{
    /* What the classic stun client sends in its test II: test number in id
     * byte 0, a 16-byte id, CHANGE-REQUEST change-IP. */
    static const uint8_t req[28] = {
        0x00, 0x01, 0x00, 0x08,                         /* Binding request, length 8 */
        0x02, 0x5f, 0x70, 0x53, 0xc6, 0x17, 0xbd, 0x0d, /* 128-bit id, no cookie */
        0x90, 0x4e, 0xe9, 0x60, 0x13, 0x5b, 0x0e, 0x13,
        0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x04, /* CHANGE-REQUEST: change IP */
    };
    stun_message_t m;
    CU_ASSERT_EQUAL_FATAL(read_exact(req, sizeof req, &m), STUN_OK);
    CU_ASSERT_TRUE(m.classic);
    CU_ASSERT_EQUAL(m.msg_class, STUN_CLASS_REQUEST);
    CU_ASSERT_EQUAL(memcmp(m.transaction_id, req + 4, 16), 0);
    CU_ASSERT_TRUE(m.has & STUN_HAS_CHANGE_REQUEST);
    CU_ASSERT_EQUAL(m.change_request, STUN_CHANGE_IP);
    /* Without the cookie only Binding is STUN (RFC 3489's Shared Secret is not). */
    uint8_t other[sizeof req];
    memcpy(other, req, sizeof req);
    other[1] = 0x02;
    CU_ASSERT_EQUAL(read_exact(other, sizeof other, &m), STUN_ERR_NOT_STUN);
}

/* Checks what the classic client's parser demands of a message: only types
 * it knows below 0x8000, every value a multiple of 4, length + 20 = size. */
static void assert_classic_shape(const uint8_t *buf, size_t n)
{
    CU_ASSERT_EQUAL(wire_get16(buf + 2) + 20u, n);
    for (size_t off = STUN_HEADER_SIZE; off < n;) {
        uint16_t type = wire_get16(buf + off), len = wire_get16(buf + off + 2);
        CU_ASSERT_TRUE(type <= 0x000B || type >= 0x8000);
        CU_ASSERT_EQUAL(len % 4, 0);
        off += 4 + len;
        CU_ASSERT_TRUE_FATAL(off <= n);
    }
}

static void test_classic_write(void)
{
    stun_message_t m = { .method = STUN_METHOD_BINDING, .msg_class = STUN_CLASS_SUCCESS, .classic = true };
    for (int i = 0; i < 16; i++)
        m.transaction_id[i] = (uint8_t)(0xa0 + i);
    m.has = STUN_HAS_MAPPED | STUN_HAS_XOR_MAPPED | STUN_HAS_SOURCE | STUN_HAS_CHANGED |
            STUN_HAS_RESPONSE_ORIGIN | STUN_HAS_OTHER_ADDRESS | STUN_HAS_SOFTWARE | STUN_HAS_PADDING;
    m.mapped = m.xor_mapped = addr_endpoint(IP(198, 18, 1, 1), 40000);
    m.source = addr_endpoint(IP(198, 19, 1, 2), 3478);
    m.changed = addr_endpoint(IP(198, 19, 1, 3), 3479);
    m.padding_len = 100;
    strcpy(m.software, "natlab");
    uint8_t buf[256];
    size_t n = stun_write(&m, true, buf, sizeof buf);
    /* Header, MAPPED, SOURCE, CHANGED: nothing else, no FINGERPRINT. */
    CU_ASSERT_EQUAL_FATAL(n, 20 + 3 * 12);
    CU_ASSERT_EQUAL(memcmp(buf + 4, m.transaction_id, 16), 0);
    CU_ASSERT_EQUAL(wire_get16(buf + 20), STUN_ATTR_MAPPED_ADDRESS);
    CU_ASSERT_EQUAL(wire_get16(buf + 32), STUN_ATTR_SOURCE_ADDRESS);
    CU_ASSERT_EQUAL(wire_get16(buf + 44), STUN_ATTR_CHANGED_ADDRESS);
    assert_classic_shape(buf, n);
    stun_message_t back;
    CU_ASSERT_EQUAL_FATAL(read_exact(buf, n, &back), STUN_OK);
    CU_ASSERT_TRUE(back.classic);
    CU_ASSERT_TRUE(stun_transaction_equal(&m, &back));
    CU_ASSERT_EQUAL(back.has, STUN_HAS_MAPPED | STUN_HAS_SOURCE | STUN_HAS_CHANGED);
    CU_ASSERT_TRUE(addr_endpoint_equal(back.changed, m.changed));

    /* A classic 420: the reason and the type list padded to 4 bytes, the
     * odd list by repeating a type (RFC 3489 sections 11.2.9, 11.2.10). */
    stun_message_t e = { .method = STUN_METHOD_BINDING, .msg_class = STUN_CLASS_ERROR, .classic = true };
    e.has = STUN_HAS_ERROR | STUN_HAS_UNKNOWN;
    e.error_code = 420;
    strcpy(e.error_reason, "Unknown Attribute");
    e.unknown[0] = 0x0027;
    e.unknown[1] = 0x0040;
    e.unknown[2] = 0x0041;
    e.n_unknown = 3;
    n = stun_write(&e, false, buf, sizeof buf);
    CU_ASSERT_EQUAL_FATAL(n, 20 + 4 + 4 + 20 + 4 + 8);
    assert_classic_shape(buf, n);
    CU_ASSERT_EQUAL(buf[26], 4);
    CU_ASSERT_EQUAL(buf[27], 20);
    CU_ASSERT_EQUAL(memcmp(buf + 28, "Unknown Attribute   ", 20), 0);
    CU_ASSERT_EQUAL(wire_get16(buf + 56), 0x0041);
    CU_ASSERT_EQUAL(wire_get16(buf + 58), 0x0027); /* repeated */
    /* Read back as an error response: the types once each. */
    CU_ASSERT_EQUAL_FATAL(read_exact(buf, n, &back), STUN_OK);
    CU_ASSERT_EQUAL(back.error_code, 420);
    CU_ASSERT_EQUAL(back.n_unknown, 3);
}

/* --- details of reading ------------------------------------------------------- */

/* A request whose attributes are the given raw bytes (a multiple of 4). */
static size_t raw_request(uint8_t *buf, const void *attrs, size_t len)
{
    static const uint8_t hdr[20] = { 0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
    memcpy(buf, hdr, 20);
    wire_put16(buf + 2, (uint16_t)len);
    memcpy(buf + 20, attrs, len);
    return 20 + len;
}

static void test_read_details(void)
{
    uint8_t buf[128];
    stun_message_t m;
    /* Only the first instance of an attribute counts. */
    size_t n = raw_request(buf, "\x00\x27\x00\x04\x12\x34\x00\x00"
                                "\x00\x27\x00\x04\x56\x78\x00\x00", 16);
    CU_ASSERT_EQUAL_FATAL(read_exact(buf, n, &m), STUN_OK);
    CU_ASSERT_EQUAL(m.response_port, 0x1234);
    /* Attributes after MESSAGE-INTEGRITY are ignored, unknown ones too. */
    uint8_t attrs[36] = { 0x00, 0x08, 0x00, 0x14 };
    memcpy(attrs + 24, "\x00\x40\x00\x00\x00\x27\x00\x04\x00\x50\x00\x00", 12);
    n = raw_request(buf, attrs, sizeof attrs);
    CU_ASSERT_EQUAL_FATAL(read_exact(buf, n, &m), STUN_OK);
    CU_ASSERT_EQUAL(m.n_unknown, 0);
    CU_ASSERT_FALSE(m.has & STUN_HAS_RESPONSE_PORT);
    /* Unknown comprehension-required types, each once; optional ones ignored. */
    n = raw_request(buf, "\x00\x40\x00\x00\x7f\xff\x00\x01\x01\x00\x00\x00"
                         "\x00\x40\x00\x00\xc0\x57\x00\x04\x00\x01\x00\x0a", 24);
    CU_ASSERT_EQUAL_FATAL(read_exact(buf, n, &m), STUN_OK);
    CU_ASSERT_EQUAL(m.n_unknown, 2);
    CU_ASSERT_EQUAL(m.unknown[0], 0x0040);
    CU_ASSERT_EQUAL(m.unknown[1], 0x7fff);
    /* UNKNOWN-ATTRIBUTES in a request is read past: unknown[] stays empty. */
    n = raw_request(buf, "\x00\x0a\x00\x02\x00\x40\x00\x00", 8);
    CU_ASSERT_EQUAL_FATAL(read_exact(buf, n, &m), STUN_OK);
    CU_ASSERT_EQUAL(m.n_unknown, 0);
    CU_ASSERT_FALSE(m.has & STUN_HAS_UNKNOWN);
    /* CHANGE-REQUEST keeps only its two flags. */
    n = raw_request(buf, "\x00\x03\x00\x04\xff\xff\xff\xff", 8);
    CU_ASSERT_EQUAL_FATAL(read_exact(buf, n, &m), STUN_OK);
    CU_ASSERT_EQUAL(m.change_request, STUN_CHANGE_IP | STUN_CHANGE_PORT);
    /* Padding bytes of any value are ignored (RFC 8489 section 14). */
    n = raw_request(buf, "\x80\x22\x00\x03" "abc\xff", 8);
    CU_ASSERT_EQUAL_FATAL(read_exact(buf, n, &m), STUN_OK);
    CU_ASSERT_STRING_EQUAL(m.software, "abc");
    /* An over-long SOFTWARE is cut to the buffer, NUL-terminated. */
    uint8_t big[4 + 200];
    memcpy(big, "\x80\x22\x00\xc8", 4);
    memset(big + 4, 'x', 200);
    n = raw_request(buf, big, 0); /* header only */
    uint8_t msg[20 + sizeof big];
    memcpy(msg, buf, 20);
    wire_put16(msg + 2, sizeof big);
    memcpy(msg + 20, big, sizeof big);
    CU_ASSERT_EQUAL_FATAL(read_exact(msg, sizeof msg, &m), STUN_OK);
    CU_ASSERT_EQUAL(strlen(m.software), sizeof m.software - 1);
    /* An IPv6 MAPPED-ADDRESS is valid and ignored. */
    uint8_t v6[24] = { 0x00, 0x01, 0x00, 0x14, 0x00, 0x02, 0x12, 0x34 };
    n = raw_request(buf, v6, sizeof v6);
    CU_ASSERT_EQUAL_FATAL(read_exact(buf, n, &m), STUN_OK);
    CU_ASSERT_FALSE(m.has & STUN_HAS_MAPPED);
}

static void test_malformed(void)
{
    uint8_t buf[128];
    stun_message_t m;
    static const struct {
        const char *what;
        const char *attrs;
        size_t len;
        stun_error_t error;
    } cases[] = {
        { "attribute runs past the end", "\x80\x22\x00\x08" "abcd", 8, STUN_ERR_BAD_ATTRIBUTE },
        { "MAPPED-ADDRESS too short", "\x00\x01\x00\x04\x00\x01\x00\x50", 8, STUN_ERR_BAD_ATTRIBUTE },
        { "MAPPED-ADDRESS family 3", "\x00\x01\x00\x08\x00\x03\x00\x50\x01\x02\x03\x04", 12, STUN_ERR_BAD_ATTRIBUTE },
        { "IPv4 with IPv6 length", "\x00\x20\x00\x14\x00\x01\x00\x50" "0123456789abcdef", 24, STUN_ERR_BAD_ATTRIBUTE },
        { "CHANGE-REQUEST of 2 bytes", "\x00\x03\x00\x02\x00\x04\x00\x00", 8, STUN_ERR_BAD_ATTRIBUTE },
        { "RESPONSE-PORT of 8 bytes", "\x00\x27\x00\x08\x00\x04\x00\x00\x00\x00\x00\x00", 12, STUN_ERR_BAD_ATTRIBUTE },
        { "ERROR-CODE class 7", "\x00\x09\x00\x04\x00\x00\x07\x00", 8, STUN_ERR_BAD_ATTRIBUTE },
        { "ERROR-CODE number 100", "\x00\x09\x00\x04\x00\x00\x04\x64", 8, STUN_ERR_BAD_ATTRIBUTE },
        { "ERROR-CODE of 2 bytes", "\x00\x09\x00\x02\x00\x00\x00\x00", 8, STUN_ERR_BAD_ATTRIBUTE },
        { "UNKNOWN-ATTRIBUTES odd", "\x00\x0a\x00\x03\x00\x01\x02\x00", 8, STUN_ERR_BAD_ATTRIBUTE },
        { "MESSAGE-INTEGRITY of 4 bytes", "\x00\x08\x00\x04\x00\x00\x00\x00", 8, STUN_ERR_BAD_ATTRIBUTE },
        { "FINGERPRINT of 8 bytes", "\x80\x28\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00", 12, STUN_ERR_BAD_ATTRIBUTE },
        { "FINGERPRINT wrong", "\x80\x28\x00\x04\x00\x00\x00\x00", 8, STUN_ERR_BAD_FINGERPRINT },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        size_t n = raw_request(buf, cases[i].attrs, cases[i].len);
        stun_error_t e = read_exact(buf, n, &m);
        if (e != cases[i].error)
            fprintf(stderr, "%s: %s\n", cases[i].what, stun_error_name(e));
        CU_ASSERT_EQUAL(e, cases[i].error);
    }
    /* The header. */
    size_t n = raw_request(buf, "", 0);
    CU_ASSERT_EQUAL(read_exact(buf, 19, &m), STUN_ERR_TOO_SHORT);
    CU_ASSERT_EQUAL(read_exact(buf, 0, &m), STUN_ERR_TOO_SHORT);
    CU_ASSERT_EQUAL(stun_read(NULL, 20, &m), STUN_ERR_TOO_SHORT);
    buf[0] = 0x40;
    CU_ASSERT_EQUAL(read_exact(buf, n, &m), STUN_ERR_NOT_STUN);
    buf[0] = 0;
    buf[3] = 2; /* length not a multiple of 4 */
    CU_ASSERT_EQUAL(read_exact(buf, n, &m), STUN_ERR_NOT_STUN);
    buf[3] = 4; /* length says more than there is */
    CU_ASSERT_EQUAL(read_exact(buf, n, &m), STUN_ERR_BAD_LENGTH);
    buf[3] = 0; /* less: trailing bytes */
    memset(buf + 20, 0, 4);
    CU_ASSERT_EQUAL(read_exact(buf, n + 4, &m), STUN_ERR_BAD_LENGTH);
    CU_ASSERT_EQUAL(read_exact(buf, n, &m), STUN_OK);
}

static void test_error_names(void)
{
    CU_ASSERT_STRING_EQUAL(stun_error_name(STUN_OK), "ok");
    CU_ASSERT_STRING_EQUAL(stun_error_name(STUN_ERR_BAD_FINGERPRINT), "bad-fingerprint");
    CU_ASSERT_STRING_EQUAL(stun_error_name(STUN_ERROR_COUNT), "unknown");
    for (int e = 0; e < STUN_ERROR_COUNT; e++)
        CU_ASSERT_PTR_NOT_NULL(stun_error_name(e));
}

/* --- writing --------------------------------------------------------------------- */

static void test_binding_request(void)
{
    uint8_t id[STUN_TRANSACTION_ID_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
    stun_message_t m, back;
    stun_binding_request(&m, id, STUN_CHANGE_IP | STUN_CHANGE_PORT, 0, 0);
    uint8_t buf[2048];
    size_t n = stun_write(&m, false, buf, sizeof buf);
    /* 00 01 00 08 | 21 12 a4 42 | id | 00 03 00 04 00 00 00 06 */
    static const uint8_t want[28] = { 0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6,
                                      7,    8,    9,    10,   11,   12,   0x00, 0x03, 0x00, 0x04, 0, 0, 0, 6 };
    CU_ASSERT_EQUAL_FATAL(n, sizeof want);
    CU_ASSERT_EQUAL(memcmp(buf, want, n), 0);
    /* A plain request is the 20-byte header; with FINGERPRINT 28. */
    stun_binding_request(&m, id, 0, 0, 0);
    CU_ASSERT_EQUAL(stun_write(&m, false, buf, sizeof buf), 20);
    n = stun_write(&m, true, buf, sizeof buf);
    CU_ASSERT_EQUAL_FATAL(n, 28);
    CU_ASSERT_EQUAL(wire_get16(buf + 2), 8);
    CU_ASSERT_EQUAL(wire_get32(buf + 24), stun_fingerprint(buf, 20));
    CU_ASSERT_EQUAL_FATAL(read_exact(buf, n, &back), STUN_OK);
    CU_ASSERT_TRUE(stun_transaction_equal(&m, &back));
    CU_ASSERT_TRUE(back.has & STUN_HAS_FINGERPRINT);
    /* RESPONSE-PORT and PADDING. */
    stun_binding_request(&m, id, 0, 40001, 1001);
    n = stun_write(&m, true, buf, sizeof buf);
    CU_ASSERT_EQUAL_FATAL(n, 20 + 8 + 4 + 1004 + 8);
    CU_ASSERT_EQUAL_FATAL(read_exact(buf, n, &back), STUN_OK);
    CU_ASSERT_EQUAL(back.response_port, 40001);
    CU_ASSERT_EQUAL(back.padding_len, 1001);
    CU_ASSERT_FALSE(back.has & STUN_HAS_CHANGE_REQUEST);
    /* Another id, or another generation, is another transaction. */
    back.transaction_id[11] ^= 1;
    CU_ASSERT_FALSE(stun_transaction_equal(&m, &back));
    back.transaction_id[11] ^= 1;
    back.classic = true;
    CU_ASSERT_FALSE(stun_transaction_equal(&m, &back));
}

static void test_write_capacity(void)
{
    uint8_t id[STUN_TRANSACTION_ID_SIZE] = { 0 };
    stun_message_t m;
    stun_binding_request(&m, id, STUN_CHANGE_PORT, 9, 40);
    uint8_t buf[256];
    size_t need = stun_write(&m, true, buf, sizeof buf);
    CU_ASSERT_EQUAL_FATAL(need, 20 + 8 + 8 + 44 + 8);
    for (size_t cap = 0; cap < need; cap++) {
        uint8_t *tight = malloc(cap ? cap : 1);
        CU_ASSERT_EQUAL(stun_write(&m, true, cap ? tight : NULL, cap), 0);
        free(tight);
    }
    uint8_t *exact = malloc(need);
    CU_ASSERT_EQUAL(stun_write(&m, true, exact, need), need);
    CU_ASSERT_EQUAL(memcmp(exact, buf, need), 0);
    free(exact);
    /* The 16-bit length: a PADDING too big for any message. */
    stun_binding_request(&m, id, 0, 0, 65535);
    uint8_t *huge = malloc(70000);
    CU_ASSERT_EQUAL(stun_write(&m, false, huge, 70000), 0);
    stun_binding_request(&m, id, 0, 0, 65500);
    CU_ASSERT_EQUAL(stun_write(&m, false, huge, 70000), 20 + 4 + 65500);
    free(huge);
}

/* --- round trips ------------------------------------------------------------------- */

static addr_endpoint_t random_endpoint(rng_t *r)
{
    return addr_endpoint((uint32_t)rng_next(r), (uint16_t)rng_next(r));
}

static void random_text(rng_t *r, char *dst, size_t cap)
{
    size_t n = rng_below(r, (uint32_t)cap);
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)(' ' + rng_below(r, 95));
    dst[n] = '\0';
}

static void random_message(rng_t *r, stun_message_t *m)
{
    memset(m, 0, sizeof *m);
    m->classic = rng_below(r, 4) == 0;
    m->method = m->classic ? STUN_METHOD_BINDING : (uint16_t)rng_below(r, 0x1000);
    static const uint16_t classes[] = { STUN_CLASS_REQUEST, STUN_CLASS_INDICATION, STUN_CLASS_SUCCESS,
                                        STUN_CLASS_ERROR };
    m->msg_class = classes[rng_below(r, 4)];
    for (int i = 0; i < 16; i++)
        m->transaction_id[i] = (uint8_t)rng_next(r);
    if (!m->classic)
        memset(m->transaction_id + 12, 0, 4);
    /* A classic id whose bytes 0-3 equal the cookie would read as modern. */
    if (m->classic && wire_get32(m->transaction_id) == STUN_MAGIC_COOKIE)
        m->transaction_id[0] ^= 1;
    m->has = (uint32_t)rng_next(r) & 0x1fff & ~(uint32_t)STUN_HAS_FINGERPRINT;
    if (m->msg_class != STUN_CLASS_ERROR)
        m->has &= ~(uint32_t)STUN_HAS_UNKNOWN;
    m->mapped = random_endpoint(r);
    m->xor_mapped = random_endpoint(r);
    m->source = random_endpoint(r);
    m->changed = random_endpoint(r);
    m->response_origin = random_endpoint(r);
    m->other_address = random_endpoint(r);
    m->change_request = (uint32_t)rng_next(r) & (STUN_CHANGE_IP | STUN_CHANGE_PORT);
    m->response_port = (uint16_t)rng_next(r);
    m->padding_len = (uint16_t)rng_below(r, 1600);
    m->error_code = (uint16_t)(300 + rng_below(r, 400));
    random_text(r, m->error_reason, sizeof m->error_reason);
    random_text(r, m->software, sizeof m->software);
    m->n_unknown = m->has & STUN_HAS_UNKNOWN ? 1 + rng_below(r, STUN_MAX_UNKNOWN) : 0;
    for (unsigned i = 0; i < m->n_unknown; i++) /* distinct types */
        m->unknown[i] = (uint16_t)(i * 0x0800 + rng_below(r, 0x0800));
}

static void strip_spaces(char *s)
{
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        s[--n] = '\0';
}

static void test_round_trip_property(void)
{
    rng_t r;
    rng_seed(&r, 5769);
    uint8_t buf[2048];
    int failures = 0;
    for (int iter = 0; iter < 20000 && failures < 5; iter++) {
        stun_message_t m, back;
        random_message(&r, &m);
        bool fp = rng_below(&r, 2);
        size_t n = stun_write(&m, fp, buf, sizeof buf);
        bool ok = n > 0 && n % 4 == 0 && read_exact(buf, n, &back) == STUN_OK;
        uint32_t written = m.has;
        if (m.classic)
            written &= STUN_HAS_MAPPED | STUN_HAS_SOURCE | STUN_HAS_CHANGED | STUN_HAS_CHANGE_REQUEST |
                       STUN_HAS_ERROR | STUN_HAS_UNKNOWN;
        if (fp && !m.classic)
            written |= STUN_HAS_FINGERPRINT;
        ok = ok && back.has == written && back.classic == m.classic && back.method == m.method &&
             back.msg_class == m.msg_class && stun_transaction_equal(&m, &back);
#define SAME_EP(bit, f) (!(written & (bit)) || addr_endpoint_equal(m.f, back.f))
        ok = ok && SAME_EP(STUN_HAS_MAPPED, mapped) && SAME_EP(STUN_HAS_XOR_MAPPED, xor_mapped) &&
             SAME_EP(STUN_HAS_SOURCE, source) && SAME_EP(STUN_HAS_CHANGED, changed) &&
             SAME_EP(STUN_HAS_RESPONSE_ORIGIN, response_origin) &&
             SAME_EP(STUN_HAS_OTHER_ADDRESS, other_address);
#undef SAME_EP
        ok = ok && (!(written & STUN_HAS_CHANGE_REQUEST) || m.change_request == back.change_request);
        ok = ok && (!(written & STUN_HAS_RESPONSE_PORT) || m.response_port == back.response_port);
        ok = ok && (!(written & STUN_HAS_PADDING) || m.padding_len == back.padding_len);
        ok = ok && (!(written & STUN_HAS_SOFTWARE) || strcmp(m.software, back.software) == 0);
        if (ok && (written & STUN_HAS_ERROR)) {
            /* Classic reasons come back with their space padding. */
            char want[sizeof m.error_reason], got[sizeof m.error_reason];
            strcpy(want, m.error_reason);
            strcpy(got, back.error_reason);
            if (m.classic) {
                strip_spaces(want);
                strip_spaces(got);
            }
            ok = m.error_code == back.error_code && strcmp(want, got) == 0;
        }
        if (ok && (written & STUN_HAS_UNKNOWN))
            ok = back.n_unknown == m.n_unknown &&
                 memcmp(back.unknown, m.unknown, m.n_unknown * sizeof m.unknown[0]) == 0;
        else if (ok)
            ok = back.n_unknown == 0;
        /* Written again, the message is the same bytes. */
        uint8_t again[2048];
        if (ok && !m.classic)
            ok = stun_write(&back, fp, again, sizeof again) == n && memcmp(again, buf, n) == 0;
        if (!ok) {
            failures++;
            fprintf(stderr, "round trip failed at iteration %d (has 0x%x classic %d, %zu bytes)\n", iter,
                    m.has, m.classic, n);
        }
    }
    CU_ASSERT_EQUAL(failures, 0);
}

/* Random bytes, and truncations and bit flips of valid messages: never a
 * crash or an out-of-bounds read (ASan), and whatever parses writes again. */
static void test_fuzz(void)
{
    rng_t r;
    rng_seed(&r, 8489);
    uint8_t buf[2048], out[4096];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n;
        if (iter % 2) {
            n = rng_below(&r, 200);
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)rng_next(&r);
            if (n >= 20 && rng_below(&r, 2)) { /* mostly-valid header */
                buf[0] &= 0x3f;
                wire_put16(buf + 2, (uint16_t)((n - 20) & ~3u));
                wire_put32(buf + 4, STUN_MAGIC_COOKIE);
                n = 20 + ((n - 20) & ~3u);
            }
        } else {
            stun_message_t m;
            random_message(&r, &m);
            m.padding_len = (uint16_t)rng_below(&r, 64);
            n = stun_write(&m, rng_below(&r, 2), buf, sizeof buf);
            if (n == 0)
                continue;
            if (rng_below(&r, 2))
                n = rng_below(&r, (uint32_t)n + 1);
            else
                buf[rng_below(&r, (uint32_t)n)] ^= (uint8_t)(1u << rng_below(&r, 8));
        }
        stun_message_t m;
        if (read_exact(buf, n, &m) == STUN_OK) {
            CU_ASSERT_TRUE(m.n_unknown <= STUN_MAX_UNKNOWN);
            CU_ASSERT_TRUE(strlen(m.software) < sizeof m.software);
            CU_ASSERT_TRUE(strlen(m.error_reason) < sizeof m.error_reason);
            size_t w = stun_write(&m, true, out, sizeof out);
            CU_ASSERT_TRUE(w == 0 || w % 4 == 0);
        }
    }
}

int main(void)
{
    static const test_case_t cases[] = {
        { "CRC-32 check value", test_crc32_check_value },
        { "RFC 5769 2.2 IPv4 response parses", test_vector_ipv4_response },
        { "RFC 5769 2.2 IPv4 response byte by byte", test_vector_ipv4_response_bytes },
        { "RFC 5769 2.1 request and its fingerprint", test_vector_request },
        { "RFC 5769 2.3 IPv6 response", test_vector_ipv6_response },
        { "corrupted vectors are rejected", test_vector_corruptions },
        { "RFC 3489 request", test_classic_read },
        { "RFC 3489 writing", test_classic_write },
        { "reading: first instance, after integrity, unknowns", test_read_details },
        { "malformed messages give their error", test_malformed },
        { "error names", test_error_names },
        { "binding requests", test_binding_request },
        { "write never overflows its buffer", test_write_capacity },
        { "write -> read round trip (property)", test_round_trip_property },
        { "fuzz random bytes, truncations, flips", test_fuzz },
        { NULL, NULL },
    };
    return test_run_suite("stun", cases);
}
