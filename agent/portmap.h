/* The client side of NAT-PMP (RFC 6886) and PCP (RFC 6887) MAP for UDP: the
 * requests an agent sends to its gateway's port 5351 and the answers it
 * reads, on top of the wire codecs in common/pmp.h and common/pcp.h. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pcp.h"

#define PORTMAP_NONCE_SIZE PCP_NONCE_SIZE
#define PORTMAP_REQUEST_MAX (PCP_HEADER_SIZE + PCP_MAP_SIZE)

typedef struct portmap_answer {
    bool pcp;              /* PCP (version 2) or NAT-PMP (version 0) */
    uint8_t opcode;        /* without the response bit: NAT-PMP 0 address, 1 UDP map; PCP 1 MAP */
    uint16_t result;       /* 0 success */
    uint32_t epoch;        /* seconds since the gateway's state began (both protocols) */
    uint32_t lifetime_s;
    uint16_t internal_port, external_port;
    uint32_t external_ip;  /* NAT-PMP opcode 0, PCP MAP; 0 otherwise */
    uint8_t nonce[PORTMAP_NONCE_SIZE];
} portmap_answer_t;

/* RFC 6886 section 3.2: ask for the external address (2 bytes). */
size_t portmap_natpmp_address_request(uint8_t *out);
/* RFC 6886 section 3.3: map a UDP port (12 bytes); lifetime 0 deletes. */
size_t portmap_natpmp_map_request(uint8_t *out, uint16_t internal_port, uint16_t suggested_port,
                                  uint32_t lifetime_s);
/* RFC 6887 sections 7.1 and 11.1: MAP for UDP from client_ip (60 bytes). */
size_t portmap_pcp_map_request(uint8_t *out, const uint8_t nonce[PORTMAP_NONCE_SIZE],
                               uint32_t client_ip, uint16_t internal_port,
                               uint16_t suggested_port, uint32_t lifetime_s);
/* An answer of either protocol; false for anything else (too short, a
 * request, an unknown version or opcode). */
bool portmap_read_answer(const uint8_t *data, size_t len, portmap_answer_t *out);
