#include "nat_pcp.h"

#include <string.h>

#include "nat_pmp.h"
#include "nat_records.h"

struct nat_pcp {
    /* Who made a mapping through PCP: the nonce that controls it (a record
     * goes stale when the mapping expired, was deleted or renewed by NAT-PMP). */
    nat_records_t *owners; /* data: the nonce (PCP_NONCE_SIZE bytes) */
};

/* A request as far as it has been understood. */
typedef struct pcp_request {
    const uint8_t *data;
    size_t len;
    uint8_t opcode;
    uint32_t lifetime; /* requested, seconds */
    uint32_t epoch;
    size_t payload;      /* the opcode's payload size, echoed in errors */
    bool parsed;         /* header understood (section 7.2: reserved field) */
    bool prefer_failure; /* section 13.2 */
} pcp_request_t;

/* ---- nonce records ------------------------------------------------------- */

nat_pcp_t *nat_pcp_new(void)
{
    nat_pcp_t *pcp = g_new0(nat_pcp_t, 1);
    pcp->owners = nat_records_new(g_free);
    return pcp;
}

void nat_pcp_free(nat_pcp_t *pcp)
{
    if (!pcp)
        return;
    nat_records_free(pcp->owners);
    g_free(pcp);
}

void nat_pcp_reset(nat_pcp_t *pcp)
{
    nat_records_clear(pcp->owners);
}


/* ---- responses ----------------------------------------------------------- */

/* Section 7.2 (common/pcp.h): the 96 reserved bits of the response header
 * are zero, except in the answer to a request that could not be parsed:
 * then they repeat the last 96 bits of the request's client address field,
 * so the client can still match the answer. */
static void put_header(uint8_t *out, const pcp_request_t *rq, uint8_t result, uint32_t lifetime)
{
    pcp_response_header_t h = { .version = PCP_VERSION, .opcode = rq->opcode, .response = true,
                                .result = result, .lifetime_s = lifetime, .epoch = rq->epoch };
    pcp_write_response_header(&h, out, PCP_HEADER_SIZE);
    for (size_t i = 12; !rq->parsed && i < PCP_HEADER_SIZE && i < rq->len; i++)
        out[i] = rq->data[i];
}

/* How much of the opcode payload an answer echoes: all of it, if the
 * request holds all of it. */
static size_t echoed_payload(const pcp_request_t *rq)
{
    return rq->len >= PCP_HEADER_SIZE + rq->payload ? rq->payload : 0;
}

/* The request's opcode payload after the header, as it came. */
static size_t put_payload(uint8_t *out, const pcp_request_t *rq)
{
    size_t n = echoed_payload(rq);
    memcpy(out, rq->data + PCP_HEADER_SIZE, n);
    return n;
}

/* The request's MAP payload, with the assigned endpoint if there is one. */
static void put_map(uint8_t *out, const pcp_request_t *rq, const addr_endpoint_t *assigned)
{
    pcp_map_t m;
    pcp_read_map(rq->data + PCP_HEADER_SIZE, rq->len - PCP_HEADER_SIZE, &m);
    if (assigned) {
        m.external_port = assigned->port;
        pcp_address_put_v4(m.external_ip, assigned->ip);
    }
    pcp_write_map(&m, out, PCP_MAP_SIZE);
}

/* Section 8.3: an error response has the layout of a success response,
 * with what came from the request copied back; for MAP (section 11.1) that
 * includes the suggested external port and address in the assigned fields. */
static size_t error_response(const pcp_request_t *rq, uint8_t result, uint8_t *out,
                             size_t out_size)
{
    size_t n = PCP_HEADER_SIZE + echoed_payload(rq);
    if (out_size < n)
        return 0;
    put_header(out, rq, result, NAT_PCP_ERROR_LIFETIME_S);
    if (rq->opcode == PCP_OP_MAP && n == PCP_HEADER_SIZE + PCP_MAP_SIZE)
        put_map(out + PCP_HEADER_SIZE, rq, NULL); /* MAP's reserved bits go back as zero */
    else
        put_payload(out + PCP_HEADER_SIZE, rq);
    return n;
}

/* A MAP answer (section 11.1): the request's payload, with the assigned
 * endpoint when there is one, and PREFER_FAILURE echoed if the request
 * carried it (allowed in responses by section 13.2). */
static size_t map_response(const pcp_request_t *rq, uint32_t lifetime,
                           const addr_endpoint_t *assigned, uint8_t *out, size_t out_size)
{
    size_t n = PCP_HEADER_SIZE + PCP_MAP_SIZE + (rq->prefer_failure ? PCP_OPTION_HEADER_SIZE : 0);
    if (out_size < n)
        return 0;
    put_header(out, rq, PCP_RESULT_SUCCESS, lifetime);
    put_map(out + PCP_HEADER_SIZE, rq, assigned);
    if (rq->prefer_failure)
        pcp_write_option(PCP_OPTION_PREFER_FAILURE, NULL, 0, out + PCP_HEADER_SIZE + PCP_MAP_SIZE,
                         PCP_OPTION_HEADER_SIZE);
    return n;
}

/* ---- requests ------------------------------------------------------------ */

/* Section 7.3: returns the result code, SUCCESS when every option is
 * understood. Codes below 128 must be understood; natsim knows
 * PREFER_FAILURE (MAP only, no data, at most once) and supports neither
 * THIRD_PARTY nor FILTER. */
static uint8_t parse_options(pcp_request_t *rq)
{
    const uint8_t *p = rq->data + PCP_HEADER_SIZE + rq->payload;
    size_t left = rq->len - PCP_HEADER_SIZE - rq->payload;
    while (left > 0) {
        pcp_option_t o;
        int n = pcp_read_option(p, left, &o);
        if (n < 0)
            return PCP_RESULT_MALFORMED_OPTION;
        if (o.code == PCP_OPTION_PREFER_FAILURE) {
            if (rq->opcode != PCP_OP_MAP || o.len != 0 || rq->prefer_failure)
                return PCP_RESULT_MALFORMED_OPTION;
            rq->prefer_failure = true;
        } else if (o.code < PCP_OPTION_OPTIONAL) {
            return PCP_RESULT_UNSUPP_OPTION;
        }
        p += n;
        left -= (size_t)n;
    }
    return PCP_RESULT_SUCCESS;
}

static uint8_t map_result(nat_map_result_t r)
{
    switch (r) {
    case NAT_MAP_OK:
        return PCP_RESULT_SUCCESS;
    case NAT_MAP_NO_RESOURCES:
        return PCP_RESULT_NO_RESOURCES;
    case NAT_MAP_QUOTA:
        return PCP_RESULT_USER_EX_QUOTA;
    case NAT_MAP_CANNOT_PROVIDE:
        return PCP_RESULT_CANNOT_PROVIDE_EXTERNAL;
    case NAT_MAP_UNSUPPORTED:
        break;
    }
    return PCP_RESULT_NETWORK_FAILURE;
}

/* Section 15: lifetime 0 deletes; deleting what does not exist succeeds. A
 * mapping whose nonce is another's stays. */
static uint8_t delete_one(nat_pcp_t *pcp, nat_engine_t *engine, nat_proto_t proto,
                          addr_endpoint_t internal, const uint8_t *nonce, usec_t now)
{
    nat_record_t *o = nat_records_find(pcp->owners, engine, proto, internal, now);
    if (o && memcmp(o->data, nonce, PCP_NONCE_SIZE) != 0)
        return PCP_RESULT_NOT_AUTHORIZED;
    if (o)
        nat_records_remove(pcp->owners, proto, internal);
    nat_engine_unmap(engine, proto, internal, now);
    return PCP_RESULT_SUCCESS;
}

/* Internal port 0: every mapping of the client of that protocol (all
 * protocols for protocol 0) that PCP made under this nonce. Mappings
 * without a nonce are left alone. */
typedef struct delete_all_ctx {
    nat_engine_t *engine;
    uint32_t client_ip;
    bool any_proto;
    nat_proto_t proto;
    const uint8_t *nonce;
    usec_t now;
} delete_all_ctx_t;

static bool delete_if_ours(nat_record_t *o, void *ctx)
{
    delete_all_ctx_t *c = ctx;
    if (o->internal.ip != c->client_ip || (!c->any_proto && o->proto != c->proto))
        return false;
    bool live = nat_records_live(c->engine, o, c->now);
    if (live && memcmp(o->data, c->nonce, PCP_NONCE_SIZE) != 0)
        return false;
    if (live)
        nat_engine_unmap(c->engine, o->proto, o->internal, c->now);
    return true;
}

static void delete_all(nat_pcp_t *pcp, nat_engine_t *engine, uint32_t client_ip, bool any_proto,
                       nat_proto_t proto, const uint8_t *nonce, usec_t now)
{
    delete_all_ctx_t ctx = { engine, client_ip, any_proto, proto, nonce, now };
    nat_records_filter(pcp->owners, delete_if_ours, &ctx);
}

/* Section 11.3, processing a MAP request. */
static size_t map(nat_pcp_t *pcp, nat_engine_t *engine, addr_endpoint_t client,
                  const pcp_request_t *rq, usec_t now, uint8_t *out, size_t out_size)
{
    pcp_map_t m;
    pcp_read_map(rq->data + PCP_HEADER_SIZE, rq->len - PCP_HEADER_SIZE, &m);
    const uint8_t *nonce = m.nonce;
    uint8_t protocol = m.protocol;
    addr_endpoint_t internal = addr_endpoint(client.ip, m.internal_port);

    /* natsim maps UDP and TCP. */
    if (protocol != PCP_PROTOCOL_UDP && protocol != PCP_PROTOCOL_TCP && protocol != PCP_PROTOCOL_ALL)
        return error_response(rq, PCP_RESULT_UNSUPP_PROTOCOL, out, out_size);
    nat_proto_t proto = protocol == PCP_PROTOCOL_TCP ? NAT_PROTO_TCP : NAT_PROTO_UDP;
    if (rq->lifetime == 0) {
        /* With protocol 0 the internal port is ignored (section 11.1). */
        if (protocol == PCP_PROTOCOL_ALL || internal.port == 0) {
            delete_all(pcp, engine, client.ip, protocol == PCP_PROTOCOL_ALL, proto, nonce, now);
        } else {
            uint8_t result = delete_one(pcp, engine, proto, internal, nonce, now);
            if (result != PCP_RESULT_SUCCESS)
                return error_response(rq, result, out, out_size);
        }
        return map_response(rq, 0, NULL, out, out_size);
    }
    if (protocol == PCP_PROTOCOL_ALL)
        return error_response(rq, PCP_RESULT_UNSUPP_PROTOCOL, out, out_size);
    /* "All ports" of a host is not something the lab hands out. */
    if (internal.port == 0)
        return error_response(rq, PCP_RESULT_NOT_AUTHORIZED, out, out_size);

    /* All zeros (:: or ::ffff:0.0.0.0) means no preference. A native IPv6
     * suggestion cannot be met by an IPv4 NAT. */
    uint32_t suggested_ip = 0;
    if (!pcp_address_to_v4(m.external_ip, &suggested_ip)) {
        if (!pcp_address_is_zero(m.external_ip) && rq->prefer_failure)
            return error_response(rq, PCP_RESULT_CANNOT_PROVIDE_EXTERNAL, out, out_size);
        suggested_ip = 0;
    }

    nat_record_t *o = nat_records_find(pcp->owners, engine, proto, internal, now);
    if (o && memcmp(o->data, nonce, PCP_NONCE_SIZE) != 0)
        return error_response(rq, PCP_RESULT_NOT_AUTHORIZED, out, out_size);

    nat_map_request_t request = {
        .proto = proto,
        .internal = internal,
        .suggested_port = m.external_port,
        .suggested_ip = suggested_ip,
        .lifetime = (usec_t)MAX(rq->lifetime, (uint32_t)NAT_PCP_MIN_LIFETIME_S) * USEC_PER_SEC,
        .prefer_failure = rq->prefer_failure,
    };
    addr_endpoint_t external = { 0 };
    usec_t granted = 0;
    nat_map_result_t r = nat_engine_map(engine, &request, now, &external, &granted);
    if (r != NAT_MAP_OK)
        return error_response(rq, map_result(r), out, out_size);
    nat_records_set(pcp->owners, engine, proto, internal, external, now + granted,
                    g_memdup2(nonce, PCP_NONCE_SIZE), now);
    uint32_t seconds = (uint32_t)MIN(granted / USEC_PER_SEC, (usec_t)UINT32_MAX);
    return map_response(rq, seconds ? seconds : 1, &external, out, out_size);
}

static size_t payload_size(uint8_t opcode)
{
    switch (opcode) {
    case PCP_OP_MAP:
        return PCP_MAP_SIZE;
    case PCP_OP_PEER:
        return PCP_PEER_SIZE;
    default:
        return 0;
    }
}

/* Section 7.1, the request header (common/pcp.h). Checks run in this
 * order: size, R bit, version, length, opcode, payload, options, then the
 * client address against the packet's source. */
size_t nat_pcp_handle(nat_pcp_t *pcp, nat_engine_t *engine, addr_endpoint_t client,
                      const uint8_t *req, size_t len, usec_t now, uint8_t *out, size_t out_size)
{
    const nat_profile_t *p = nat_engine_profile(engine);
    if (!(p->port_mapping & NAT_PORT_MAPPING_PCP))
        return nat_pmp_handle(engine, client, req, len, now, out, out_size);
    if (!req || len < 2 || !out)
        return 0;
    if (req[0] == PMP_VERSION && (p->port_mapping & NAT_PORT_MAPPING_NATPMP))
        return nat_pmp_handle(engine, client, req, len, now, out, out_size);
    if (req[1] & PCP_R_BIT)
        return 0;

    pcp_request_t rq = {
        .data = req,
        .len = len,
        .opcode = req[1] & (uint8_t)~PCP_R_BIT,
        .epoch = nat_pmp_epoch(engine, now),
    };
    /* Section 9: the answer names the version we speak. A NAT-PMP client
     * reads bytes 2-3 as its result code 1, "unsupported version", too. */
    if (req[0] != PCP_VERSION)
        return error_response(&rq, PCP_RESULT_UNSUPP_VERSION, out, out_size);
    rq.payload = payload_size(rq.opcode);
    if (len < PCP_HEADER_SIZE || len > NAT_PCP_MAX_SIZE || len % 4 != 0)
        return error_response(&rq, PCP_RESULT_MALFORMED_REQUEST, out, out_size);
    pcp_request_header_t h;
    pcp_read_request_header(req, len, &h);
    rq.lifetime = h.lifetime_s;
    if (rq.opcode != PCP_OP_MAP && rq.opcode != PCP_OP_ANNOUNCE) {
        rq.parsed = true;
        return error_response(&rq, PCP_RESULT_UNSUPP_OPCODE, out, out_size);
    }
    if (len < PCP_HEADER_SIZE + rq.payload)
        return error_response(&rq, PCP_RESULT_MALFORMED_REQUEST, out, out_size);
    rq.parsed = true;
    uint8_t result = parse_options(&rq);
    if (result != PCP_RESULT_SUCCESS)
        return error_response(&rq, result, out, out_size);
    /* Section 8.3: without THIRD_PARTY the client address field must be the
     * packet's source, else a NAT we do not control sits in between. */
    uint32_t client_ip = 0;
    if (!pcp_address_to_v4(h.client_ip, &client_ip) || client_ip != client.ip)
        return error_response(&rq, PCP_RESULT_ADDRESS_MISMATCH, out, out_size);

    if (rq.opcode == PCP_OP_ANNOUNCE) {
        /* Section 14.1: no payload; answered so clients learn the epoch. */
        if (out_size < PCP_HEADER_SIZE)
            return 0;
        put_header(out, &rq, PCP_RESULT_SUCCESS, 0);
        return PCP_HEADER_SIZE;
    }
    return map(pcp, engine, client, &rq, now, out, out_size);
}
