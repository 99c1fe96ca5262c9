/* common/pcp: PCP headers, the MAP payload and options against bytes
 * written out by hand from RFC 6887 sections 7.1-7.3 and 11.1, and back. */
#include <glib.h>
#include <string.h>

#include "common/pcp.h"
#include "testutil.h"

static const uint8_t NONCE[PCP_NONCE_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

/* A MAP request for UDP from 10.1.0.2, internal port 5000, suggesting
 * 203.0.113.7:6000, for 3600 s: 24 bytes of header, 36 of MAP payload. */
static const uint8_t MAP_REQUEST[] = {
    2, 1, 0, 0,                         /* version 2, R = 0, MAP, reserved */
    0, 0, 0x0e, 0x10,                   /* requested lifetime 3600 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 0, 2, /* ::ffff:10.1.0.2 */
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, /* mapping nonce */
    17, 0, 0, 0,                        /* protocol UDP, reserved */
    0x13, 0x88, 0x17, 0x70,             /* internal 5000, suggested 6000 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 7, /* ::ffff:203.0.113.7 */
};

static void test_map_request(void)
{
    pcp_request_header_t h = { .version = PCP_VERSION, .opcode = PCP_OP_MAP, .lifetime_s = 3600 };
    pcp_address_put_v4(h.client_ip, 0x0A010002);
    pcp_map_t m = { .protocol = PCP_PROTOCOL_UDP, .internal_port = 5000, .external_port = 6000 };
    memcpy(m.nonce, NONCE, sizeof NONCE);
    pcp_address_put_v4(m.external_ip, 0xCB007107);
    uint8_t buf[PCP_HEADER_SIZE + PCP_MAP_SIZE];
    CU_ASSERT_EQUAL(pcp_write_request_header(&h, buf, sizeof buf), PCP_HEADER_SIZE);
    CU_ASSERT_EQUAL(pcp_write_map(&m, buf + PCP_HEADER_SIZE, PCP_MAP_SIZE), PCP_MAP_SIZE);
    CU_ASSERT_EQUAL(memcmp(buf, MAP_REQUEST, sizeof MAP_REQUEST), 0);

    pcp_request_header_t h2;
    pcp_map_t m2;
    CU_ASSERT_EQUAL(pcp_read_request_header(MAP_REQUEST, sizeof MAP_REQUEST, &h2), PCP_HEADER_SIZE);
    CU_ASSERT_EQUAL(h2.version, PCP_VERSION);
    CU_ASSERT_EQUAL(h2.opcode, PCP_OP_MAP);
    CU_ASSERT_FALSE(h2.response);
    CU_ASSERT_EQUAL(h2.lifetime_s, 3600);
    CU_ASSERT_EQUAL(memcmp(h2.client_ip, h.client_ip, PCP_ADDRESS_SIZE), 0);
    CU_ASSERT_EQUAL(pcp_read_map(MAP_REQUEST + PCP_HEADER_SIZE, PCP_MAP_SIZE, &m2), PCP_MAP_SIZE);
    CU_ASSERT_EQUAL(memcmp(m2.nonce, NONCE, PCP_NONCE_SIZE), 0);
    CU_ASSERT_EQUAL(m2.protocol, PCP_PROTOCOL_UDP);
    CU_ASSERT_EQUAL(m2.internal_port, 5000);
    CU_ASSERT_EQUAL(m2.external_port, 6000);
    uint32_t ip = 0;
    CU_ASSERT_TRUE(pcp_address_to_v4(m2.external_ip, &ip));
    CU_ASSERT_EQUAL(ip, 0xCB007107);
}

static void test_response_header(void)
{
    static const uint8_t bytes[] = {
        2, 0x81, 0, 11,      /* version 2, R = 1, MAP, reserved, CANNOT_PROVIDE_EXTERNAL */
        0, 0, 0, 30,         /* lifetime 30 */
        0, 0, 1, 0,          /* epoch 256 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* reserved */
    };
    pcp_response_header_t h = { .version = PCP_VERSION, .opcode = PCP_OP_MAP, .response = true,
                                .result = PCP_RESULT_CANNOT_PROVIDE_EXTERNAL, .lifetime_s = 30,
                                .epoch = 256 };
    uint8_t buf[PCP_HEADER_SIZE];
    CU_ASSERT_EQUAL(pcp_write_response_header(&h, buf, sizeof buf), PCP_HEADER_SIZE);
    CU_ASSERT_EQUAL(memcmp(buf, bytes, sizeof bytes), 0);
    pcp_response_header_t back;
    CU_ASSERT_EQUAL(pcp_read_response_header(bytes, sizeof bytes, &back), PCP_HEADER_SIZE);
    CU_ASSERT_TRUE(back.response);
    CU_ASSERT_EQUAL(back.opcode, PCP_OP_MAP);
    CU_ASSERT_EQUAL(back.result, PCP_RESULT_CANNOT_PROVIDE_EXTERNAL);
    CU_ASSERT_EQUAL(back.lifetime_s, 30);
    CU_ASSERT_EQUAL(back.epoch, 256);
    CU_ASSERT_EQUAL(pcp_read_response_header(bytes, PCP_HEADER_SIZE - 1, &back), -1);
    CU_ASSERT_EQUAL(pcp_write_response_header(&h, buf, PCP_HEADER_SIZE - 1), 0);
}

/* Section 7.3: code, reserved, 16-bit length of the data, data padded to 4. */
static void test_options(void)
{
    uint8_t buf[16];
    static const uint8_t data[] = { 0xaa, 0xbb, 0xcc, 0xdd, 0xee };
    CU_ASSERT_EQUAL(pcp_write_option(PCP_OPTION_OPTIONAL, data, sizeof data, buf, sizeof buf), 12);
    static const uint8_t want[] = { 128, 0, 0, 5, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0, 0, 0 };
    CU_ASSERT_EQUAL(memcmp(buf, want, sizeof want), 0);
    pcp_option_t o;
    CU_ASSERT_EQUAL(pcp_read_option(want, sizeof want, &o), 12);
    CU_ASSERT_EQUAL(o.code, PCP_OPTION_OPTIONAL);
    CU_ASSERT_EQUAL(o.len, 5);
    CU_ASSERT_PTR_EQUAL(o.data, want + 4);
    CU_ASSERT_EQUAL(pcp_read_option(want, 11, &o), -1); /* the padding is missing */
    CU_ASSERT_EQUAL(pcp_read_option(want, 3, &o), -1);

    CU_ASSERT_EQUAL(pcp_write_option(PCP_OPTION_PREFER_FAILURE, NULL, 0, buf, sizeof buf), 4);
    static const uint8_t prefer[] = { 2, 0, 0, 0 };
    CU_ASSERT_EQUAL(memcmp(buf, prefer, sizeof prefer), 0);
    CU_ASSERT_EQUAL(pcp_write_option(PCP_OPTION_OPTIONAL, data, sizeof data, buf, 11), 0);
}

static void test_addresses(void)
{
    uint8_t a[PCP_ADDRESS_SIZE] = { 0 };
    uint32_t ip = 1;
    CU_ASSERT_TRUE(pcp_address_is_zero(a));
    CU_ASSERT_FALSE(pcp_address_to_v4(a, &ip)); /* :: is no IPv4-mapped address */
    pcp_address_put_v4(a, 0);
    CU_ASSERT_FALSE(pcp_address_is_zero(a));
    CU_ASSERT_TRUE(pcp_address_to_v4(a, &ip));
    CU_ASSERT_EQUAL(ip, 0);
    a[0] = 0x20; /* 2000::ffff:0.0.0.0, native IPv6 */
    CU_ASSERT_FALSE(pcp_address_to_v4(a, &ip));
    pcp_map_t m;
    CU_ASSERT_EQUAL(pcp_read_map(MAP_REQUEST + PCP_HEADER_SIZE, PCP_MAP_SIZE - 1, &m), -1);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "MAP request, both ways", test_map_request },
        { "response header, both ways", test_response_header },
        { "options, padded", test_options },
        { "addresses", test_addresses },
        { NULL, NULL },
    };
    return test_run_suite("pcp", cases);
}
