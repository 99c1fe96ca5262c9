/* NAT-PMP (RFC 6886) on the wire: sizes, opcodes, result codes, and the
 * encoding of requests and responses. A pure codec, shared by natsim's
 * server (natsim/nat_pmp.c) and the agent's client (agent/portmap.c). */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Section 3.1: requests go to the gateway's port 5351; section 3.2.1:
 * announcements go to 224.0.0.1 port 5350. PCP shares both ports. */
#define PMP_SERVER_PORT 5351
#define PMP_CLIENT_PORT 5350
#define PMP_VERSION 0

enum pmp_opcode {
    PMP_OP_EXTERNAL_ADDRESS = 0, /* section 3.2 */
    PMP_OP_MAP_UDP = 1,          /* section 3.3 */
    PMP_OP_MAP_TCP = 2,
    PMP_OP_RESPONSE = 128, /* responses carry 128 + the request's opcode */
};

/* Section 3.5 */
enum pmp_result {
    PMP_RESULT_SUCCESS = 0,
    PMP_RESULT_UNSUPP_VERSION = 1,
    PMP_RESULT_NOT_AUTHORIZED = 2, /* "Not Authorized/Refused" */
    PMP_RESULT_NETWORK_FAILURE = 3,
    PMP_RESULT_OUT_OF_RESOURCES = 4,
    PMP_RESULT_UNSUPP_OPCODE = 5,
};

#define PMP_EXTERNAL_REQUEST_SIZE 2
#define PMP_EXTERNAL_RESPONSE_SIZE 12
#define PMP_MAP_REQUEST_SIZE 12
#define PMP_MAP_RESPONSE_SIZE 16
#define PMP_RESPONSE_HEADER_SIZE 8 /* also the whole "Unsupported Version" answer */

typedef struct pmp_request {
    uint8_t version, opcode;
    uint16_t internal_port, suggested_port; /* map opcodes only */
    uint32_t lifetime_s;                    /* map opcodes only; 0 deletes */
} pmp_request_t;

typedef struct pmp_response {
    uint8_t opcode; /* without PMP_OP_RESPONSE */
    uint16_t result;
    uint32_t epoch;                        /* seconds since start of epoch */
    uint32_t external_ip;                  /* PMP_OP_EXTERNAL_ADDRESS */
    uint16_t internal_port, external_port; /* map opcodes */
    uint32_t lifetime_s;                   /* map opcodes */
} pmp_response_t;

/* Writes a request of version 0: 2 bytes for the external address, 12 for
 * a map opcode. Returns its size, 0 if out_size is too small. */
size_t pmp_write_request(const pmp_request_t *request, uint8_t *out, size_t out_size);
/* Reads version and opcode, and the map fields when the version is 0 and
 * the opcode a map; returns the bytes read, or -1 when there are fewer than
 * 2 or a version-0 map request is shorter than its 12 bytes (the version and
 * opcode are filled in even then). */
int pmp_read_request(const uint8_t *data, size_t len, pmp_request_t *out);
/* Writes a response of PMP_RESPONSE_HEADER_SIZE bytes for result
 * UNSUPP_VERSION, else the opcode's full size (failures included). Returns
 * its size, 0 if out_size is too small. */
size_t pmp_write_response(const pmp_response_t *response, uint8_t *out, size_t out_size);
/* Reads a version-0 response: its header, plus the opcode's fields if they
 * are all there. Returns the bytes read (8, 12 or 16), or -1 for anything
 * else (too short, another version, a request). */
int pmp_read_response(const uint8_t *data, size_t len, pmp_response_t *out);
