#include "pmp.h"

#include <stdbool.h>
#include <string.h>

#include "wire.h"

static bool is_map(uint8_t opcode)
{
    return opcode == PMP_OP_MAP_UDP || opcode == PMP_OP_MAP_TCP;
}

/* Both map messages end in the same 8 bytes: internal port, an external
 * port (suggested or mapped) and a lifetime. */
static void put_ports(uint8_t *p, uint16_t internal, uint16_t external, uint32_t lifetime_s)
{
    wire_put16(p, internal);
    wire_put16(p + 2, external);
    wire_put32(p + 4, lifetime_s);
}

static void get_ports(const uint8_t *p, uint16_t *internal, uint16_t *external,
                      uint32_t *lifetime_s)
{
    *internal = wire_get16(p);
    *external = wire_get16(p + 2);
    *lifetime_s = wire_get32(p + 4);
}

/* n zeroed bytes of out that start with version 0 and `op`; false if out
 * has not room for them. */
static bool start(uint8_t *out, size_t out_size, size_t n, uint8_t op)
{
    if (out_size < n)
        return false;
    memset(out, 0, n);
    out[0] = PMP_VERSION;
    out[1] = op;
    return true;
}

/* Section 3.2, the external address request: Vers = 0, OP = 0 (2 bytes).
 * Section 3.3, a mapping request:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Vers = 0      | OP = x        | Reserved                      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Internal Port                 | Suggested External Port       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Requested Port Mapping Lifetime in Seconds                    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * x = 1 for UDP, 2 for TCP. */
size_t pmp_write_request(const pmp_request_t *r, uint8_t *out, size_t out_size)
{
    size_t n = is_map(r->opcode) ? PMP_MAP_REQUEST_SIZE : PMP_EXTERNAL_REQUEST_SIZE;
    if (!start(out, out_size, n, r->opcode))
        return 0;
    if (is_map(r->opcode))
        put_ports(out + 4, r->internal_port, r->suggested_port, r->lifetime_s);
    return n;
}

int pmp_read_request(const uint8_t *data, size_t len, pmp_request_t *out)
{
    memset(out, 0, sizeof *out);
    if (len < 2)
        return -1;
    out->version = data[0];
    out->opcode = data[1];
    if (out->version != PMP_VERSION || !is_map(out->opcode))
        return 2;
    if (len < PMP_MAP_REQUEST_SIZE)
        return -1;
    get_ports(data + 4, &out->internal_port, &out->suggested_port, &out->lifetime_s);
    return PMP_MAP_REQUEST_SIZE;
}

/* Every response starts with version, opcode and a 16-bit result code, then
 * the epoch (section 3.5); the "Unsupported Version" answer is these 8 bytes
 * alone, with OP = 128 (OP = 0 in the RFC's figure; verified erratum 3618
 * sets the top bit). Section 3.2 adds the external address:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Vers = 0      | OP = 128 + 0  | Result Code (net byte order)  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Seconds Since Start of Epoch (in network byte order)          |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | External IPv4 Address (a.b.c.d)                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * and section 3.3 the mapping:
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Vers = 0      | OP = 128 + x  | Result Code                   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Seconds Since Start of Epoch                                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Internal Port                 | Mapped External Port          |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Port Mapping Lifetime in Seconds                              |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Failures keep the layout, with external port 0 and lifetime 0. */
size_t pmp_write_response(const pmp_response_t *r, uint8_t *out, size_t out_size)
{
    size_t n = PMP_RESPONSE_HEADER_SIZE;
    if (r->result != PMP_RESULT_UNSUPP_VERSION && r->opcode == PMP_OP_EXTERNAL_ADDRESS)
        n = PMP_EXTERNAL_RESPONSE_SIZE;
    else if (r->result != PMP_RESULT_UNSUPP_VERSION && is_map(r->opcode))
        n = PMP_MAP_RESPONSE_SIZE;
    if (!start(out, out_size, n, (uint8_t)(PMP_OP_RESPONSE | r->opcode)))
        return 0;
    wire_put16(out + 2, r->result);
    wire_put32(out + 4, r->epoch);
    if (n == PMP_EXTERNAL_RESPONSE_SIZE)
        wire_put32(out + 8, r->external_ip);
    else if (n == PMP_MAP_RESPONSE_SIZE)
        put_ports(out + 8, r->internal_port, r->external_port, r->lifetime_s);
    return n;
}

int pmp_read_response(const uint8_t *data, size_t len, pmp_response_t *out)
{
    memset(out, 0, sizeof *out);
    if (len < PMP_RESPONSE_HEADER_SIZE || data[0] != PMP_VERSION || !(data[1] & PMP_OP_RESPONSE))
        return -1;
    out->opcode = data[1] & (uint8_t)~PMP_OP_RESPONSE;
    out->result = wire_get16(data + 2);
    out->epoch = wire_get32(data + 4);
    if (out->opcode == PMP_OP_EXTERNAL_ADDRESS && len >= PMP_EXTERNAL_RESPONSE_SIZE) {
        out->external_ip = wire_get32(data + 8);
        return PMP_EXTERNAL_RESPONSE_SIZE;
    }
    if (is_map(out->opcode) && len >= PMP_MAP_RESPONSE_SIZE) {
        get_ports(data + 8, &out->internal_port, &out->external_port, &out->lifetime_s);
        return PMP_MAP_RESPONSE_SIZE;
    }
    return PMP_RESPONSE_HEADER_SIZE;
}
