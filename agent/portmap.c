#include "portmap.h"

#include <string.h>

#include "common/wire.h"

size_t portmap_natpmp_address_request(uint8_t *out)
{
    out[0] = 0;
    out[1] = 0;
    return 2;
}

size_t portmap_natpmp_map_request(uint8_t *out, uint16_t internal_port, uint16_t suggested_port,
                                  uint32_t lifetime_s)
{
    memset(out, 0, 12);
    out[1] = 1; /* map UDP */
    wire_put16(out + 4, internal_port);
    wire_put16(out + 6, suggested_port);
    wire_put32(out + 8, lifetime_s);
    return 12;
}

size_t portmap_pcp_map_request(uint8_t *out, const uint8_t nonce[PORTMAP_NONCE_SIZE],
                               uint32_t client_ip, uint16_t internal_port,
                               uint16_t suggested_port, uint32_t lifetime_s)
{
    memset(out, 0, 60);
    out[0] = 2;
    out[1] = 1; /* MAP, request */
    wire_put32(out + 4, lifetime_s);
    out[18] = out[19] = 0xff; /* IPv4-mapped IPv6 client address */
    wire_put32(out + 20, client_ip);
    uint8_t *m = out + 24;
    memcpy(m, nonce, PORTMAP_NONCE_SIZE);
    m[12] = 17; /* UDP */
    wire_put16(m + 16, internal_port);
    wire_put16(m + 18, suggested_port);
    m[30] = m[31] = 0xff; /* suggested external address ::ffff:0.0.0.0: no preference */
    return 60;
}

bool portmap_read_answer(const uint8_t *d, size_t len, portmap_answer_t *a)
{
    memset(a, 0, sizeof *a);
    if (len < 2)
        return false;
    if (d[0] == 0) { /* NAT-PMP: op 128 + n */
        if (!(d[1] & 0x80) || len < 8)
            return false;
        a->opcode = d[1] & 0x7f;
        a->result = wire_get16(d + 2);
        a->epoch = wire_get32(d + 4);
        if (a->opcode == 0 && len >= 12) {
            a->external_ip = wire_get32(d + 8);
            return true;
        }
        if (a->opcode == 1 && len >= 16) {
            a->internal_port = wire_get16(d + 8);
            a->external_port = wire_get16(d + 10);
            a->lifetime_s = wire_get32(d + 12);
            return true;
        }
        return a->result != 0; /* an error answer may be short */
    }
    if (d[0] == 2) {
        if (len < 24 || !(d[1] & 0x80))
            return false;
        a->pcp = true;
        a->opcode = d[1] & 0x7f;
        a->result = d[3];
        a->lifetime_s = wire_get32(d + 4);
        a->epoch = wire_get32(d + 8);
        if (a->opcode != 1)
            return true;
        if (len < 60)
            return a->result != 0;
        const uint8_t *m = d + 24;
        memcpy(a->nonce, m, PORTMAP_NONCE_SIZE);
        a->internal_port = wire_get16(m + 16);
        a->external_port = wire_get16(m + 18);
        a->external_ip = wire_get32(m + 32);
        return true;
    }
    return false;
}
