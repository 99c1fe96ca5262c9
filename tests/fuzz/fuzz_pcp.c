/* Fuzzes the NAT-PMP and PCP wire codecs of common/ (PCP shares NAT-PMP's
 * port and answers its version): every reader on the same bytes, and what
 * it read written back and read again must come out the same.
 * Input: one datagram. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/pcp.h"
#include "common/pmp.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) \
            abort(); \
    } while (0)

static void pmp(const uint8_t *data, size_t size)
{
    uint8_t out[PMP_MAP_RESPONSE_SIZE];
    pmp_request_t rq, rq2;
    if (pmp_read_request(data, size, &rq) >= 0 && rq.version == PMP_VERSION) {
        size_t n = pmp_write_request(&rq, out, sizeof out);
        CHECK(n > 0 && pmp_read_request(out, n, &rq2) == (int)n);
        CHECK(rq2.opcode == rq.opcode && rq2.internal_port == rq.internal_port &&
              rq2.suggested_port == rq.suggested_port && rq2.lifetime_s == rq.lifetime_s);
    }
    pmp_response_t rs, rs2;
    int read = pmp_read_response(data, size, &rs);
    if (read < 0)
        return;
    size_t n = pmp_write_response(&rs, out, sizeof out);
    CHECK(n >= PMP_RESPONSE_HEADER_SIZE && pmp_read_response(out, n, &rs2) == (int)n);
    CHECK(rs2.opcode == rs.opcode && rs2.result == rs.result && rs2.epoch == rs.epoch);
    if (n == (size_t)read)
        CHECK(rs2.external_ip == rs.external_ip && rs2.internal_port == rs.internal_port &&
              rs2.external_port == rs.external_port && rs2.lifetime_s == rs.lifetime_s);
}

static void pcp(const uint8_t *data, size_t size)
{
    uint8_t out[PCP_HEADER_SIZE + PCP_MAP_SIZE];
    pcp_request_header_t h, h2;
    if (pcp_read_request_header(data, size, &h) >= 0) {
        CHECK(pcp_write_request_header(&h, out, sizeof out) == PCP_HEADER_SIZE);
        CHECK(pcp_read_request_header(out, PCP_HEADER_SIZE, &h2) == PCP_HEADER_SIZE);
        CHECK(h2.version == h.version && h2.opcode == h.opcode && h2.response == h.response &&
              h2.lifetime_s == h.lifetime_s &&
              memcmp(h2.client_ip, h.client_ip, PCP_ADDRESS_SIZE) == 0);
    }
    pcp_response_header_t r, r2;
    if (pcp_read_response_header(data, size, &r) >= 0) {
        CHECK(pcp_write_response_header(&r, out, sizeof out) == PCP_HEADER_SIZE);
        CHECK(pcp_read_response_header(out, PCP_HEADER_SIZE, &r2) == PCP_HEADER_SIZE);
        CHECK(r2.version == r.version && r2.opcode == r.opcode && r2.response == r.response &&
              r2.result == r.result && r2.lifetime_s == r.lifetime_s && r2.epoch == r.epoch);
    }
    if (size < PCP_HEADER_SIZE)
        return;
    const uint8_t *p = data + PCP_HEADER_SIZE;
    size_t left = size - PCP_HEADER_SIZE;
    pcp_map_t m, m2;
    if (pcp_read_map(p, left, &m) >= 0) {
        CHECK(pcp_write_map(&m, out, sizeof out) == PCP_MAP_SIZE);
        CHECK(pcp_read_map(out, PCP_MAP_SIZE, &m2) == PCP_MAP_SIZE);
        CHECK(memcmp(m2.nonce, m.nonce, PCP_NONCE_SIZE) == 0 && m2.protocol == m.protocol &&
              m2.internal_port == m.internal_port && m2.external_port == m.external_port &&
              memcmp(m2.external_ip, m.external_ip, PCP_ADDRESS_SIZE) == 0);
        p += PCP_MAP_SIZE;
        left -= PCP_MAP_SIZE;
    }
    pcp_option_t o;
    int n;
    while (left > 0 && (n = pcp_read_option(p, left, &o)) > 0) {
        CHECK((size_t)n <= left && o.data + o.len <= p + n);
        uint8_t buf[PCP_OPTION_HEADER_SIZE + 0x10000];
        CHECK(pcp_write_option(o.code, o.data, o.len, buf, sizeof buf) == (size_t)n);
        CHECK(buf[0] == o.code && memcmp(buf + PCP_OPTION_HEADER_SIZE, o.data, o.len) == 0);
        p += n;
        left -= (size_t)n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pmp(data, size);
    pcp(data, size);
    return 0;
}
