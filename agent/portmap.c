#include "portmap.h"

#include <string.h>

#include "common/pmp.h"
#include "common/wire.h"

size_t portmap_natpmp_address_request(uint8_t *out)
{
    pmp_request_t r = { .opcode = PMP_OP_EXTERNAL_ADDRESS };
    return pmp_write_request(&r, out, PMP_EXTERNAL_REQUEST_SIZE);
}

size_t portmap_natpmp_map_request(uint8_t *out, uint16_t internal_port, uint16_t suggested_port,
                                  uint32_t lifetime_s)
{
    pmp_request_t r = { .opcode = PMP_OP_MAP_UDP, .internal_port = internal_port,
                        .suggested_port = suggested_port, .lifetime_s = lifetime_s };
    return pmp_write_request(&r, out, PMP_MAP_REQUEST_SIZE);
}

size_t portmap_pcp_map_request(uint8_t *out, const uint8_t nonce[PORTMAP_NONCE_SIZE],
                               uint32_t client_ip, uint16_t internal_port,
                               uint16_t suggested_port, uint32_t lifetime_s)
{
    pcp_request_header_t h = { .version = PCP_VERSION, .opcode = PCP_OP_MAP,
                               .lifetime_s = lifetime_s };
    pcp_address_put_v4(h.client_ip, client_ip);
    pcp_map_t m = { .protocol = PCP_PROTOCOL_UDP, .internal_port = internal_port,
                    .external_port = suggested_port };
    memcpy(m.nonce, nonce, PCP_NONCE_SIZE);
    pcp_address_put_v4(m.external_ip, 0); /* ::ffff:0.0.0.0: no preference */
    size_t n = pcp_write_request_header(&h, out, PCP_HEADER_SIZE);
    return n + pcp_write_map(&m, out + n, PCP_MAP_SIZE);
}

static bool read_natpmp(const uint8_t *d, size_t len, portmap_answer_t *a)
{
    pmp_response_t r;
    int n = pmp_read_response(d, len, &r);
    if (n < 0)
        return false;
    a->opcode = r.opcode;
    a->result = r.result;
    a->epoch = r.epoch;
    if (r.opcode == PMP_OP_EXTERNAL_ADDRESS && n == PMP_EXTERNAL_RESPONSE_SIZE) {
        a->external_ip = r.external_ip;
        return true;
    }
    if (r.opcode == PMP_OP_MAP_UDP && n == PMP_MAP_RESPONSE_SIZE) {
        a->internal_port = r.internal_port;
        a->external_port = r.external_port;
        a->lifetime_s = r.lifetime_s;
        return true;
    }
    return a->result != PMP_RESULT_SUCCESS; /* an error answer may be short */
}

static bool read_pcp(const uint8_t *d, size_t len, portmap_answer_t *a)
{
    pcp_response_header_t h;
    if (pcp_read_response_header(d, len, &h) < 0 || !h.response)
        return false;
    a->pcp = true;
    a->opcode = h.opcode;
    a->result = h.result;
    a->lifetime_s = h.lifetime_s;
    a->epoch = h.epoch;
    if (h.opcode != PCP_OP_MAP)
        return true;
    pcp_map_t m;
    if (pcp_read_map(d + PCP_HEADER_SIZE, len - PCP_HEADER_SIZE, &m) < 0)
        return a->result != PCP_RESULT_SUCCESS;
    memcpy(a->nonce, m.nonce, PCP_NONCE_SIZE);
    a->internal_port = m.internal_port;
    a->external_port = m.external_port;
    a->external_ip = wire_get32(m.external_ip + 12);
    return true;
}

bool portmap_read_answer(const uint8_t *d, size_t len, portmap_answer_t *a)
{
    memset(a, 0, sizeof *a);
    if (len < 2)
        return false;
    if (d[0] == PMP_VERSION)
        return read_natpmp(d, len, a);
    if (d[0] == PCP_VERSION)
        return read_pcp(d, len, a);
    return false;
}
