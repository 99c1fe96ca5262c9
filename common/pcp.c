#include "pcp.h"

#include <string.h>

#include "wire.h"

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

void pcp_address_put_v4(uint8_t a[PCP_ADDRESS_SIZE], uint32_t ip)
{
    memcpy(a, v4_mapped_prefix, sizeof v4_mapped_prefix);
    wire_put32(a + 12, ip);
}

bool pcp_address_to_v4(const uint8_t a[PCP_ADDRESS_SIZE], uint32_t *ip)
{
    if (memcmp(a, v4_mapped_prefix, sizeof v4_mapped_prefix) != 0)
        return false;
    *ip = wire_get32(a + 12);
    return true;
}

bool pcp_address_is_zero(const uint8_t a[PCP_ADDRESS_SIZE])
{
    for (int i = 0; i < PCP_ADDRESS_SIZE; i++)
        if (a[i])
            return false;
    return true;
}

/* Version, R and opcode, and the lifetime: where both headers agree. */
static void put_common(uint8_t *out, uint8_t version, bool response, uint8_t opcode,
                       uint32_t lifetime_s)
{
    memset(out, 0, PCP_HEADER_SIZE);
    out[0] = version;
    out[1] = (uint8_t)((response ? PCP_R_BIT : 0) | opcode);
    wire_put32(out + 4, lifetime_s);
}

static void get_common(const uint8_t *data, uint8_t *version, bool *response, uint8_t *opcode,
                       uint32_t *lifetime_s)
{
    *version = data[0];
    *response = data[1] & PCP_R_BIT;
    *opcode = data[1] & (uint8_t)~PCP_R_BIT;
    *lifetime_s = wire_get32(data + 4);
}

/* Section 7.1, the request header:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Version = 2  |R|   Opcode    |         Reserved              |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                 Requested Lifetime (32 bits)                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                                                               |
 *   |            PCP Client's IP Address (128 bits)                 |
 *   |                                                               |
 *   |                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   :             (optional) Opcode-specific information            :
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   :             (optional) PCP Options                            :
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
size_t pcp_write_request_header(const pcp_request_header_t *h, uint8_t *out, size_t out_size)
{
    if (out_size < PCP_HEADER_SIZE)
        return 0;
    put_common(out, h->version, h->response, h->opcode, h->lifetime_s);
    memcpy(out + 8, h->client_ip, PCP_ADDRESS_SIZE);
    return PCP_HEADER_SIZE;
}

int pcp_read_request_header(const uint8_t *data, size_t len, pcp_request_header_t *out)
{
    memset(out, 0, sizeof *out);
    if (len < PCP_HEADER_SIZE)
        return -1;
    get_common(data, &out->version, &out->response, &out->opcode, &out->lifetime_s);
    memcpy(out->client_ip, data + 8, PCP_ADDRESS_SIZE);
    return PCP_HEADER_SIZE;
}

/* Section 7.2, the response header:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Version = 2  |R|   Opcode    |   Reserved    |  Result Code  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                      Lifetime (32 bits)                       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                     Epoch Time (32 bits)                      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                                                               |
 *   |                      Reserved (96 bits)                       |
 *   |                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   :             (optional) Opcode-specific response data          :
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   :             (optional) Options                                :
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
size_t pcp_write_response_header(const pcp_response_header_t *h, uint8_t *out, size_t out_size)
{
    if (out_size < PCP_HEADER_SIZE)
        return 0;
    put_common(out, h->version, h->response, h->opcode, h->lifetime_s);
    out[3] = h->result;
    wire_put32(out + 8, h->epoch);
    return PCP_HEADER_SIZE;
}

int pcp_read_response_header(const uint8_t *data, size_t len, pcp_response_header_t *out)
{
    memset(out, 0, sizeof *out);
    if (len < PCP_HEADER_SIZE)
        return -1;
    get_common(data, &out->version, &out->response, &out->opcode, &out->lifetime_s);
    out->result = data[3];
    out->epoch = wire_get32(data + 8);
    return PCP_HEADER_SIZE;
}

/* Section 11.1, the MAP payload of request and response:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                                                               |
 *   |                 Mapping Nonce (96 bits)                       |
 *   |                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |   Protocol    |          Reserved (24 bits)                   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |        Internal Port          |    Suggested External Port    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                                                               |
 *   |           Suggested External IP Address (128 bits)            |
 *   |                                                               |
 *   |                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The response has the same layout with "Assigned" for "Suggested". */
enum {
    MAP_NONCE = 0,
    MAP_PROTOCOL = 12,
    MAP_INTERNAL_PORT = 16,
    MAP_EXTERNAL_PORT = 18,
    MAP_EXTERNAL_IP = 20,
};

size_t pcp_write_map(const pcp_map_t *m, uint8_t *out, size_t out_size)
{
    if (out_size < PCP_MAP_SIZE)
        return 0;
    memset(out, 0, PCP_MAP_SIZE);
    memcpy(out + MAP_NONCE, m->nonce, PCP_NONCE_SIZE);
    out[MAP_PROTOCOL] = m->protocol;
    wire_put16(out + MAP_INTERNAL_PORT, m->internal_port);
    wire_put16(out + MAP_EXTERNAL_PORT, m->external_port);
    memcpy(out + MAP_EXTERNAL_IP, m->external_ip, PCP_ADDRESS_SIZE);
    return PCP_MAP_SIZE;
}

int pcp_read_map(const uint8_t *data, size_t len, pcp_map_t *out)
{
    memset(out, 0, sizeof *out);
    if (len < PCP_MAP_SIZE)
        return -1;
    memcpy(out->nonce, data + MAP_NONCE, PCP_NONCE_SIZE);
    out->protocol = data[MAP_PROTOCOL];
    out->internal_port = wire_get16(data + MAP_INTERNAL_PORT);
    out->external_port = wire_get16(data + MAP_EXTERNAL_PORT);
    memcpy(out->external_ip, data + MAP_EXTERNAL_IP, PCP_ADDRESS_SIZE);
    return PCP_MAP_SIZE;
}

/* Section 7.3, options after the opcode payload, each padded to 4 bytes:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Option Code  |  Reserved     |       Option Length           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   :                       (optional) Data                         :
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
static size_t padded(size_t len)
{
    return (len + 3) & ~(size_t)3;
}

size_t pcp_write_option(uint8_t code, const uint8_t *data, size_t len, uint8_t *out,
                        size_t out_size)
{
    size_t n = PCP_OPTION_HEADER_SIZE + padded(len);
    if (len > UINT16_MAX || out_size < n)
        return 0;
    memset(out, 0, n);
    out[0] = code;
    wire_put16(out + 2, (uint16_t)len);
    if (len)
        memcpy(out + PCP_OPTION_HEADER_SIZE, data, len);
    return n;
}

int pcp_read_option(const uint8_t *data, size_t len, pcp_option_t *out)
{
    memset(out, 0, sizeof *out);
    if (len < PCP_OPTION_HEADER_SIZE)
        return -1;
    size_t data_len = wire_get16(data + 2);
    if (padded(data_len) > len - PCP_OPTION_HEADER_SIZE)
        return -1;
    out->code = data[0];
    out->data = data + PCP_OPTION_HEADER_SIZE;
    out->len = data_len;
    return (int)(PCP_OPTION_HEADER_SIZE + padded(data_len));
}
