#include "nat_pmp.h"
#include "common/wire.h"

#include <string.h>


uint32_t nat_pmp_epoch(const nat_engine_t *engine, usec_t now)
{
    usec_t elapsed = now - nat_engine_epoch_start(engine);
    return elapsed > 0 ? (uint32_t)(elapsed / USEC_PER_SEC) : 0;
}

/* Every response starts with version, opcode and a 16-bit result code; all
 * but the unsupported-opcode echo continue with the epoch (section 3.5):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Vers = 0      | OP = 128 + x  | Result Code                   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Seconds Since Start of Epoch                                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The "Unsupported Version" answer is exactly these 8 bytes with OP = 128
 * (OP = 0 in the RFC's figure; verified erratum 3618 sets the top bit). */
static size_t put_header(uint8_t *out, size_t out_size, size_t size, uint8_t op,
                         uint16_t result, uint32_t epoch)
{
    if (out_size < size)
        return 0;
    memset(out, 0, size);
    out[0] = NAT_PMP_VERSION;
    out[1] = (uint8_t)(NAT_PMP_OP_RESPONSE | op);
    wire_put16(out + 2, result);
    wire_put32(out + 4, epoch);
    return size;
}

/* Section 3.2, the external address. Request: Vers = 0, OP = 0 (2 bytes).
 * Response:
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
 */
static size_t external_address(nat_engine_t *engine, addr_endpoint_t client, usec_t now, uint32_t epoch,
                               uint8_t *out, size_t out_size)
{
    size_t n = put_header(out, out_size, NAT_PMP_EXTERNAL_RESPONSE_SIZE,
                          NAT_PMP_OP_EXTERNAL_ADDRESS, NAT_PMP_RESULT_SUCCESS, epoch);
    if (n)
        wire_put32(out + 8, nat_engine_external_ip_for(engine, client.ip, now));
    return n;
}

/* Section 3.3, a mapping. Request:
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
 * Response:
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
 * x = 1 for UDP, 2 for TCP. Failures carry external port 0 and lifetime 0. */
static size_t map_response(uint8_t *out, size_t out_size, uint8_t op, uint16_t result,
                           uint32_t epoch, uint16_t internal_port, uint16_t external_port,
                           uint32_t lifetime)
{
    size_t n = put_header(out, out_size, NAT_PMP_MAP_RESPONSE_SIZE, op, result, epoch);
    if (n) {
        wire_put16(out + 8, internal_port);
        wire_put16(out + 10, external_port);
        wire_put32(out + 12, lifetime);
    }
    return n;
}

static uint16_t map_result(nat_map_result_t r)
{
    switch (r) {
    case NAT_MAP_OK:
        return NAT_PMP_RESULT_SUCCESS;
    case NAT_MAP_NO_RESOURCES:
    case NAT_MAP_QUOTA:
    case NAT_MAP_CANNOT_PROVIDE: /* not asked for: NAT-PMP never prefers failure */
        return NAT_PMP_RESULT_OUT_OF_RESOURCES;
    case NAT_MAP_UNSUPPORTED:
        break;
    }
    return NAT_PMP_RESULT_NETWORK_FAILURE;
}

static size_t map(nat_engine_t *engine, addr_endpoint_t client, const uint8_t *req, size_t len,
                  usec_t now, uint32_t epoch, uint8_t *out, size_t out_size)
{
    if (len < NAT_PMP_MAP_REQUEST_SIZE)
        return 0; /* no internal port to answer about */
    uint8_t op = req[1];
    uint16_t internal_port = wire_get16(req + 4);
    uint16_t suggested_port = wire_get16(req + 6);
    uint32_t lifetime = wire_get32(req + 8);

    /* Section 3.4: lifetime 0 deletes (the suggested port is ignored);
     * internal port 0 as well deletes all of the client's mappings. Deleting
     * what does not exist succeeds, so a retransmission gets the same answer.
     * natsim never creates TCP mappings, so a TCP delete has nothing to do. */
    if (lifetime == 0) {
        if (op == NAT_PMP_OP_MAP_UDP && internal_port == 0)
            nat_engine_unmap_host(engine, client.ip, now);
        else if (op == NAT_PMP_OP_MAP_UDP)
            nat_engine_unmap(engine, addr_endpoint(client.ip, internal_port), now);
        return map_response(out, out_size, op, NAT_PMP_RESULT_SUCCESS, epoch, internal_port, 0,
                            0);
    }
    /* natsim translates UDP only: a TCP mapping is refused outright rather
     * than pretended. Internal port 0 only means "all" when deleting. */
    if (op == NAT_PMP_OP_MAP_TCP || internal_port == 0)
        return map_response(out, out_size, op, NAT_PMP_RESULT_NOT_AUTHORIZED, epoch,
                            internal_port, 0, 0);

    nat_map_request_t request = {
        .internal = addr_endpoint(client.ip, internal_port),
        .suggested_port = suggested_port,
        .lifetime = (usec_t)lifetime * USEC_PER_SEC,
    };
    addr_endpoint_t external = { 0 };
    usec_t granted = 0;
    nat_map_result_t r = nat_engine_map(engine, &request, now, &external, &granted);
    if (r != NAT_MAP_OK)
        return map_response(out, out_size, op, map_result(r), epoch, internal_port, 0, 0);
    /* The engine may shorten the lifetime (port-mapping-lifetime-max); never
     * report a live mapping as lifetime 0, which means "deleted". */
    uint32_t seconds = (uint32_t)MIN(granted / USEC_PER_SEC, (usec_t)UINT32_MAX);
    return map_response(out, out_size, op, NAT_PMP_RESULT_SUCCESS, epoch, internal_port,
                        external.port, seconds ? seconds : 1);
}

/* Section 3.5: an unknown opcode below 128 gets the entire request back with
 * the top bit of the opcode set and result code 5 in bytes 2-3. */
static size_t unsupported_opcode(const uint8_t *req, size_t len, uint8_t *out, size_t out_size)
{
    if (out_size < 4)
        return 0;
    size_t n = MIN(MAX(len, (size_t)4), out_size);
    size_t copied = MIN(len, n);
    memmove(out, req, copied);
    memset(out + copied, 0, n - copied);
    out[1] |= NAT_PMP_OP_RESPONSE;
    wire_put16(out + 2, NAT_PMP_RESULT_UNSUPP_OPCODE);
    return n;
}

size_t nat_pmp_handle(nat_engine_t *engine, addr_endpoint_t client, const uint8_t *req,
                      size_t len, usec_t now, uint8_t *out, size_t out_size)
{
    const nat_profile_t *p = nat_engine_profile(engine);
    /* RFC 6886: a device not currently translating MUST NOT answer. */
    if (!(p->port_mapping & NAT_PORT_MAPPING_NATPMP) || p->type != NAT_TYPE_NAT)
        return 0;
    if (!req || len < NAT_PMP_EXTERNAL_REQUEST_SIZE || !out)
        return 0;
    uint8_t op = req[1];
    /* Section 3.5: opcodes of 128 and up are responses, silently ignored.
     * Checked before the version so that no response of any version (a PCP
     * one has the R bit there) is ever answered: two servers cannot loop. */
    if (op & NAT_PMP_OP_RESPONSE)
        return 0;
    uint32_t epoch = nat_pmp_epoch(engine, now);
    if (req[0] != NAT_PMP_VERSION)
        return put_header(out, out_size, NAT_PMP_UNSUPP_VERSION_SIZE, 0,
                          NAT_PMP_RESULT_UNSUPP_VERSION, epoch);
    switch (op) {
    case NAT_PMP_OP_EXTERNAL_ADDRESS:
        return external_address(engine, client, now, epoch, out, out_size);
    case NAT_PMP_OP_MAP_UDP:
    case NAT_PMP_OP_MAP_TCP:
        return map(engine, client, req, len, now, epoch, out, out_size);
    default:
        return unsupported_opcode(req, len, out, out_size);
    }
}
