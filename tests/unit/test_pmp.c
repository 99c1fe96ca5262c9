/* common/pmp: NAT-PMP requests and responses against bytes written out by
 * hand from RFC 6886 sections 3.2, 3.3 and 3.5, and back again. */
#include <glib.h>
#include <string.h>

#include "common/pmp.h"
#include "testutil.h"

/* Field by field: the structs have padding that memcmp would compare. */
static void assert_response_equal(const pmp_response_t *a, const pmp_response_t *b)
{
    CU_ASSERT_EQUAL(a->opcode, b->opcode);
    CU_ASSERT_EQUAL(a->result, b->result);
    CU_ASSERT_EQUAL(a->epoch, b->epoch);
    CU_ASSERT_EQUAL(a->external_ip, b->external_ip);
    CU_ASSERT_EQUAL(a->internal_port, b->internal_port);
    CU_ASSERT_EQUAL(a->external_port, b->external_port);
    CU_ASSERT_EQUAL(a->lifetime_s, b->lifetime_s);
}

static void test_external_address(void)
{
    static const uint8_t request[] = { 0, 0 }; /* version 0, opcode 0 */
    static const uint8_t response[] = {
        0, 128, 0, 0,       /* version, opcode 128 + 0, result 0 */
        0, 0, 0x0e, 0x10,   /* 3600 s since start of epoch */
        203, 0, 113, 7,     /* external address */
    };
    uint8_t buf[32];
    pmp_request_t rq = { .opcode = PMP_OP_EXTERNAL_ADDRESS };
    CU_ASSERT_EQUAL(pmp_write_request(&rq, buf, sizeof buf), sizeof request);
    CU_ASSERT_EQUAL(memcmp(buf, request, sizeof request), 0);
    pmp_request_t back;
    CU_ASSERT_EQUAL(pmp_read_request(request, sizeof request, &back), 2);
    CU_ASSERT_EQUAL(back.version, 0);
    CU_ASSERT_EQUAL(back.opcode, PMP_OP_EXTERNAL_ADDRESS);

    pmp_response_t rs = { .opcode = PMP_OP_EXTERNAL_ADDRESS, .epoch = 3600,
                          .external_ip = 0xCB007107 };
    CU_ASSERT_EQUAL(pmp_write_response(&rs, buf, sizeof buf), sizeof response);
    CU_ASSERT_EQUAL(memcmp(buf, response, sizeof response), 0);
    pmp_response_t got;
    CU_ASSERT_EQUAL(pmp_read_response(response, sizeof response, &got), 12);
    assert_response_equal(&got, &rs);
}

static void test_map(void)
{
    static const uint8_t request[] = {
        0, 1, 0, 0,         /* version, opcode 1 (UDP), reserved */
        0x13, 0x88, 0x27, 0x10, /* internal port 5000, suggested 10000 */
        0, 0, 0x1c, 0x20,   /* 7200 s */
    };
    static const uint8_t response[] = {
        0, 129, 0, 0,       /* opcode 128 + 1, result 0 */
        0, 0, 0, 42,        /* epoch */
        0x13, 0x88, 0x27, 0x11, /* internal 5000, mapped 10001 */
        0, 0, 0x0e, 0x10,   /* granted 3600 s */
    };
    uint8_t buf[32];
    pmp_request_t rq = { .opcode = PMP_OP_MAP_UDP, .internal_port = 5000,
                         .suggested_port = 10000, .lifetime_s = 7200 };
    CU_ASSERT_EQUAL(pmp_write_request(&rq, buf, sizeof buf), sizeof request);
    CU_ASSERT_EQUAL(memcmp(buf, request, sizeof request), 0);
    pmp_request_t back;
    CU_ASSERT_EQUAL(pmp_read_request(request, sizeof request, &back), 12);
    CU_ASSERT_EQUAL(back.opcode, rq.opcode);
    CU_ASSERT_EQUAL(back.internal_port, rq.internal_port);
    CU_ASSERT_EQUAL(back.suggested_port, rq.suggested_port);
    CU_ASSERT_EQUAL(back.lifetime_s, rq.lifetime_s);

    pmp_response_t rs = { .opcode = PMP_OP_MAP_UDP, .epoch = 42, .internal_port = 5000,
                          .external_port = 10001, .lifetime_s = 3600 };
    CU_ASSERT_EQUAL(pmp_write_response(&rs, buf, sizeof buf), sizeof response);
    CU_ASSERT_EQUAL(memcmp(buf, response, sizeof response), 0);
    pmp_response_t got;
    CU_ASSERT_EQUAL(pmp_read_response(response, sizeof response, &got), 16);
    assert_response_equal(&got, &rs);
}

/* A failed map keeps the 16-byte layout; "unsupported version" is 8 bytes
 * with OP = 128 (erratum 3618). */
static void test_errors(void)
{
    uint8_t buf[32];
    pmp_response_t fail = { .opcode = PMP_OP_MAP_TCP, .result = PMP_RESULT_NOT_AUTHORIZED,
                            .epoch = 7, .internal_port = 80 };
    CU_ASSERT_EQUAL(pmp_write_response(&fail, buf, sizeof buf), PMP_MAP_RESPONSE_SIZE);
    static const uint8_t fail_bytes[] = { 0, 130, 0, 2, 0, 0, 0, 7, 0, 80, 0, 0, 0, 0, 0, 0 };
    CU_ASSERT_EQUAL(memcmp(buf, fail_bytes, sizeof fail_bytes), 0);

    pmp_response_t version = { .result = PMP_RESULT_UNSUPP_VERSION, .epoch = 9 };
    CU_ASSERT_EQUAL(pmp_write_response(&version, buf, sizeof buf), PMP_RESPONSE_HEADER_SIZE);
    static const uint8_t version_bytes[] = { 0, 128, 0, 1, 0, 0, 0, 9 };
    CU_ASSERT_EQUAL(memcmp(buf, version_bytes, sizeof version_bytes), 0);
    pmp_response_t got;
    CU_ASSERT_EQUAL(pmp_read_response(version_bytes, sizeof version_bytes, &got), 8);
    CU_ASSERT_EQUAL(got.result, PMP_RESULT_UNSUPP_VERSION);
}

static void test_lengths_checked(void)
{
    uint8_t buf[16] = { 0 };
    pmp_request_t rq = { .opcode = PMP_OP_MAP_UDP };
    CU_ASSERT_EQUAL(pmp_write_request(&rq, buf, 11), 0);
    pmp_response_t rs = { .opcode = PMP_OP_EXTERNAL_ADDRESS };
    CU_ASSERT_EQUAL(pmp_write_response(&rs, buf, 11), 0);

    pmp_request_t back;
    CU_ASSERT_EQUAL(pmp_read_request(buf, 1, &back), -1);
    static const uint8_t short_map[] = { 0, 1, 0, 0, 0, 1 };
    CU_ASSERT_EQUAL(pmp_read_request(short_map, sizeof short_map, &back), -1);
    CU_ASSERT_EQUAL(back.opcode, PMP_OP_MAP_UDP); /* still says what it was */
    static const uint8_t pcp_map[] = { 2, 1, 0, 0 };
    CU_ASSERT_EQUAL(pmp_read_request(pcp_map, sizeof pcp_map, &back), 2);
    CU_ASSERT_EQUAL(back.version, 2);

    pmp_response_t got;
    static const uint8_t request[] = { 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    CU_ASSERT_EQUAL(pmp_read_response(request, sizeof request, &got), -1); /* no response bit */
    static const uint8_t seven[] = { 0, 128, 0, 0, 0, 0, 0 };
    CU_ASSERT_EQUAL(pmp_read_response(seven, sizeof seven, &got), -1);
    static const uint8_t short_map_answer[] = { 0, 129, 0, 4, 0, 0, 0, 1, 0, 80 };
    CU_ASSERT_EQUAL(pmp_read_response(short_map_answer, sizeof short_map_answer, &got), 8);
    CU_ASSERT_EQUAL(got.result, PMP_RESULT_OUT_OF_RESOURCES);
    CU_ASSERT_EQUAL(got.internal_port, 0);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "external address, both ways", test_external_address },
        { "map, both ways", test_map },
        { "error answers", test_errors },
        { "lengths checked", test_lengths_checked },
        { NULL, NULL },
    };
    return test_run_suite("pmp", cases);
}
