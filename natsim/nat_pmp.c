#include "nat_pmp.h"

#include <string.h>

#include "common/wire.h"

uint32_t nat_pmp_epoch(const nat_engine_t *engine, usec_t now)
{
    usec_t elapsed = now - nat_engine_epoch_start(engine);
    return elapsed > 0 ? (uint32_t)(elapsed / USEC_PER_SEC) : 0;
}

static uint16_t map_result(nat_map_result_t r)
{
    switch (r) {
    case NAT_MAP_OK:
        return PMP_RESULT_SUCCESS;
    case NAT_MAP_NO_RESOURCES:
    case NAT_MAP_QUOTA:
    case NAT_MAP_CANNOT_PROVIDE: /* not asked for: NAT-PMP never prefers failure */
        return PMP_RESULT_OUT_OF_RESOURCES;
    case NAT_MAP_UNSUPPORTED:
        break;
    }
    return PMP_RESULT_NETWORK_FAILURE;
}

/* Section 3.3; `answer` comes with the opcode, epoch and internal port set.
 * Failures carry external port 0 and lifetime 0. */
static uint16_t map(nat_engine_t *engine, addr_endpoint_t client, const pmp_request_t *rq,
                    usec_t now, pmp_response_t *answer)
{
    /* Section 3.4: lifetime 0 deletes (the suggested port is ignored);
     * internal port 0 as well deletes all of the client's mappings of the
     * opcode's protocol. Deleting what does not exist succeeds, so a
     * retransmission gets the same answer. */
    nat_proto_t proto = rq->opcode == PMP_OP_MAP_TCP ? NAT_PROTO_TCP : NAT_PROTO_UDP;
    if (rq->lifetime_s == 0) {
        if (rq->internal_port == 0)
            nat_engine_unmap_host(engine, proto, client.ip, now);
        else
            nat_engine_unmap(engine, proto, addr_endpoint(client.ip, rq->internal_port), now);
        return PMP_RESULT_SUCCESS;
    }
    /* Internal port 0 only means "all" when deleting. */
    if (rq->internal_port == 0)
        return PMP_RESULT_NOT_AUTHORIZED;

    nat_map_request_t request = {
        .proto = proto,
        .internal = addr_endpoint(client.ip, rq->internal_port),
        .suggested_port = rq->suggested_port,
        .lifetime = (usec_t)rq->lifetime_s * USEC_PER_SEC,
    };
    addr_endpoint_t external = { 0 };
    usec_t granted = 0;
    nat_map_result_t r = nat_engine_map(engine, &request, now, &external, &granted);
    if (r != NAT_MAP_OK)
        return map_result(r);
    /* The engine may shorten the lifetime (port-mapping-lifetime-max); never
     * report a live mapping as lifetime 0, which means "deleted". */
    uint32_t seconds = (uint32_t)MIN(granted / USEC_PER_SEC, (usec_t)UINT32_MAX);
    answer->external_port = external.port;
    answer->lifetime_s = seconds ? seconds : 1;
    return PMP_RESULT_SUCCESS;
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
    out[1] |= PMP_OP_RESPONSE;
    wire_put16(out + 2, PMP_RESULT_UNSUPP_OPCODE);
    return n;
}

size_t nat_pmp_handle(nat_engine_t *engine, addr_endpoint_t client, const uint8_t *req,
                      size_t len, usec_t now, uint8_t *out, size_t out_size)
{
    const nat_profile_t *p = nat_engine_profile(engine);
    /* RFC 6886: a device not currently translating MUST NOT answer. */
    if (!(p->port_mapping & NAT_PORT_MAPPING_NATPMP) || p->type != NAT_TYPE_NAT)
        return 0;
    if (!req || !out)
        return 0;
    pmp_request_t rq;
    int read = pmp_read_request(req, len, &rq);
    /* Section 3.5: opcodes of 128 and up are responses, silently ignored.
     * Checked before the version so that no response of any version (a PCP
     * one has the R bit there) is ever answered: two servers cannot loop. */
    if (len < PMP_EXTERNAL_REQUEST_SIZE || (rq.opcode & PMP_OP_RESPONSE))
        return 0;
    pmp_response_t answer = { .opcode = rq.opcode, .epoch = nat_pmp_epoch(engine, now) };
    if (rq.version != PMP_VERSION) {
        answer.opcode = PMP_OP_EXTERNAL_ADDRESS;
        answer.result = PMP_RESULT_UNSUPP_VERSION;
        return pmp_write_response(&answer, out, out_size);
    }
    switch (rq.opcode) {
    case PMP_OP_EXTERNAL_ADDRESS:
        if (out_size < PMP_EXTERNAL_RESPONSE_SIZE)
            return 0; /* before the engine picks the host's address */
        answer.external_ip = nat_engine_external_ip_for(engine, client.ip, now);
        return pmp_write_response(&answer, out, out_size);
    case PMP_OP_MAP_UDP:
    case PMP_OP_MAP_TCP:
        if (read < 0)
            return 0; /* no internal port to answer about */
        answer.internal_port = rq.internal_port;
        answer.result = map(engine, client, &rq, now, &answer);
        return pmp_write_response(&answer, out, out_size);
    default:
        return unsupported_opcode(req, len, out, out_size);
    }
}
