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

/* rq is written as `bytes`, and `bytes` read back as rq. */
static void round_trip_request(const pmp_request_t *rq, const uint8_t *bytes, size_t len)
{
    uint8_t buf[32];
    pmp_request_t back;
    CU_ASSERT_EQUAL(pmp_write_request(rq, buf, sizeof buf), len);
    CU_ASSERT_EQUAL(memcmp(buf, bytes, len), 0);
    CU_ASSERT_EQUAL(pmp_read_request(bytes, len, &back), (int)len);
    CU_ASSERT_EQUAL(back.version, PMP_VERSION);
    CU_ASSERT_EQUAL(back.opcode, rq->opcode);
    CU_ASSERT_EQUAL(back.internal_port, rq->internal_port);
    CU_ASSERT_EQUAL(back.suggested_port, rq->suggested_port);
    CU_ASSERT_EQUAL(back.lifetime_s, rq->lifetime_s);
}

static void round_trip_response(const pmp_response_t *rs, const uint8_t *bytes, size_t len)
{
    uint8_t buf[32];
    pmp_response_t back;
    CU_ASSERT_EQUAL(pmp_write_response(rs, buf, sizeof buf), len);
    CU_ASSERT_EQUAL(memcmp(buf, bytes, len), 0);
    CU_ASSERT_EQUAL(pmp_read_response(bytes, len, &back), (int)len);
    assert_response_equal(&back, rs);
}

static void test_external_address(void)
{
    static const uint8_t request[] = { 0, 0 }; /* version 0, opcode 0 */
    static const uint8_t response[] = {
        0, 128, 0, 0,       /* version, opcode 128 + 0, result 0 */
        0, 0, 0x0e, 0x10,   /* 3600 s since start of epoch */
        203, 0, 113, 7,     /* external address */
    };
    pmp_request_t rq = { .opcode = PMP_OP_EXTERNAL_ADDRESS };
    round_trip_request(&rq, request, sizeof request);
    pmp_response_t rs = { .opcode = PMP_OP_EXTERNAL_ADDRESS, .epoch = 3600,
                          .external_ip = 0xCB007107 };
    round_trip_response(&rs, response, sizeof response);
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
    pmp_request_t rq = { .opcode = PMP_OP_MAP_UDP, .internal_port = 5000,
                         .suggested_port = 10000, .lifetime_s = 7200 };
    round_trip_request(&rq, request, sizeof request);
    pmp_response_t rs = { .opcode = PMP_OP_MAP_UDP, .epoch = 42, .internal_port = 5000,
                          .external_port = 10001, .lifetime_s = 3600 };
    round_trip_response(&rs, response, sizeof response);
}

/* A failed map keeps the 16-byte layout; "unsupported version" is 8 bytes
 * with OP = 128 (erratum 3618). */
static void test_errors(void)
{
    pmp_response_t fail = { .opcode = PMP_OP_MAP_TCP, .result = PMP_RESULT_NOT_AUTHORIZED,
                            .epoch = 7, .internal_port = 80 };
    static const uint8_t fail_bytes[] = { 0, 130, 0, 2, 0, 0, 0, 7, 0, 80, 0, 0, 0, 0, 0, 0 };
    round_trip_response(&fail, fail_bytes, sizeof fail_bytes);
    pmp_response_t version = { .result = PMP_RESULT_UNSUPP_VERSION, .epoch = 9 };
    static const uint8_t version_bytes[] = { 0, 128, 0, 1, 0, 0, 0, 9 };
    round_trip_response(&version, version_bytes, sizeof version_bytes);
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
