/* PCP (RFC 6887) on the wire: sizes, opcodes, result codes, options, and
 * the encoding of the common headers, the MAP payload and options. A pure
 * codec, shared by natsim's server (natsim/nat_pcp.c) and the agent's client
 * (agent/portmap.c). Addresses travel as 16 bytes; IPv4 as ::ffff:a.b.c.d. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCP_SERVER_PORT 5351 /* section 19.1, shared with NAT-PMP */
#define PCP_VERSION 2
#define PCP_HEADER_SIZE 24 /* sections 7.1, 7.2 */
#define PCP_MAX_SIZE 1100  /* section 7: requests and responses */
#define PCP_MAP_SIZE 36    /* section 11.1: MAP opcode payload */
#define PCP_PEER_SIZE 56   /* section 12.1: PEER opcode payload */
#define PCP_NONCE_SIZE 12
#define PCP_OPTION_HEADER_SIZE 4 /* section 7.3 */
#define PCP_ADDRESS_SIZE 16

/* Section 11.1: IANA protocol numbers; 0 means all protocols. */
#define PCP_PROTOCOL_ALL 0
#define PCP_PROTOCOL_TCP 6
#define PCP_PROTOCOL_UDP 17

enum pcp_opcode {
    PCP_OP_ANNOUNCE = 0,
    PCP_OP_MAP = 1,
    PCP_OP_PEER = 2,
    PCP_R_BIT = 0x80, /* set in responses, in the opcode byte */
};

/* Section 7.4 */
enum pcp_result {
    PCP_RESULT_SUCCESS = 0,
    PCP_RESULT_UNSUPP_VERSION = 1,
    PCP_RESULT_NOT_AUTHORIZED = 2,
    PCP_RESULT_MALFORMED_REQUEST = 3,
    PCP_RESULT_UNSUPP_OPCODE = 4,
    PCP_RESULT_UNSUPP_OPTION = 5,
    PCP_RESULT_MALFORMED_OPTION = 6,
    PCP_RESULT_NETWORK_FAILURE = 7,
    PCP_RESULT_NO_RESOURCES = 8,
    PCP_RESULT_UNSUPP_PROTOCOL = 9,
    PCP_RESULT_USER_EX_QUOTA = 10,
    PCP_RESULT_CANNOT_PROVIDE_EXTERNAL = 11,
    PCP_RESULT_ADDRESS_MISMATCH = 12,
    PCP_RESULT_EXCESSIVE_REMOTE_PEERS = 13,
};

/* Section 13; codes 0-127 must be understood, 128-255 may be ignored. */
enum pcp_option_code {
    PCP_OPTION_THIRD_PARTY = 1,
    PCP_OPTION_PREFER_FAILURE = 2,
    PCP_OPTION_FILTER = 3,
    PCP_OPTION_OPTIONAL = 128,
};

typedef struct pcp_request_header {
    uint8_t version, opcode; /* opcode without the R bit */
    bool response;           /* the R bit: a response, not a request */
    uint32_t lifetime_s;     /* requested */
    uint8_t client_ip[PCP_ADDRESS_SIZE];
} pcp_request_header_t;

typedef struct pcp_response_header {
    uint8_t version, opcode;
    bool response;
    uint8_t result;
    uint32_t lifetime_s, epoch;
} pcp_response_header_t;

/* The MAP payload of request (Suggested) and response (Assigned). */
typedef struct pcp_map {
    uint8_t nonce[PCP_NONCE_SIZE];
    uint8_t protocol;
    uint16_t internal_port, external_port;
    uint8_t external_ip[PCP_ADDRESS_SIZE];
} pcp_map_t;

typedef struct pcp_option {
    uint8_t code;
    const uint8_t *data; /* into the message; len bytes, not the padding */
    size_t len;
} pcp_option_t;

/* Section 5: ::ffff:a.b.c.d. */
void pcp_address_put_v4(uint8_t address[PCP_ADDRESS_SIZE], uint32_t ip);
/* False when the address is no IPv4-mapped one. */
bool pcp_address_to_v4(const uint8_t address[PCP_ADDRESS_SIZE], uint32_t *ip);
bool pcp_address_is_zero(const uint8_t address[PCP_ADDRESS_SIZE]);

/* Writers return the bytes written (PCP_HEADER_SIZE, PCP_MAP_SIZE, or 4 +
 * the padded data), 0 if out_size is too small. Readers check the length
 * first and return the bytes read, or -1. Reserved fields are written as
 * zero and ignored on reading; the version is what the struct says. */
size_t pcp_write_request_header(const pcp_request_header_t *header, uint8_t *out,
                                size_t out_size);
int pcp_read_request_header(const uint8_t *data, size_t len, pcp_request_header_t *out);
size_t pcp_write_response_header(const pcp_response_header_t *header, uint8_t *out,
                                 size_t out_size);
int pcp_read_response_header(const uint8_t *data, size_t len, pcp_response_header_t *out);
size_t pcp_write_map(const pcp_map_t *map, uint8_t *out, size_t out_size);
int pcp_read_map(const uint8_t *data, size_t len, pcp_map_t *out);
size_t pcp_write_option(uint8_t code, const uint8_t *data, size_t len, uint8_t *out,
                        size_t out_size);
/* One option at data; -1 when its header or its padded data do not fit. */
int pcp_read_option(const uint8_t *data, size_t len, pcp_option_t *out);
