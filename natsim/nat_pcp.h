/* PCP server logic (RFC 6887): a pure core on top of the NAT engine. MAP
 * creates, renews and deletes explicit UDP mappings; ANNOUNCE is answered;
 * PEER and every other opcode get UNSUPP_OPCODE.
 *
 * Dispatch: nat_pcp_handle() is the single entry point for port 5351. It
 * hands version-0 datagrams to nat_pmp_handle() when the profile enables
 * NAT-PMP (RFC 6887 appendix A), and everything to nat_pmp_handle() when
 * the profile enables NAT-PMP but not PCP; with neither it drops.
 *
 * nat_pcp_t remembers the mapping nonce of each mapping PCP created (RFC
 * 6887 section 11: a request for an internal endpoint whose mapping has
 * another nonce gets NOT_AUTHORIZED). A mapping made by NAT-PMP, or a
 * dynamic one, has no nonce: the first PCP request for it adopts it. */
#pragma once
#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/duration.h"
#include "nat_engine.h"

#define NAT_PCP_VERSION 2
#define NAT_PCP_HEADER_SIZE 24   /* RFC 6887 sections 7.1, 7.2 */
#define NAT_PCP_MAX_SIZE 1100    /* section 7: requests and responses */
#define NAT_PCP_MAP_SIZE 36      /* section 11.1: MAP opcode payload */
#define NAT_PCP_PEER_SIZE 56     /* section 12.1: PEER opcode payload */
#define NAT_PCP_NONCE_SIZE 12
/* How long a client should expect the same error again (section 7.2). */
#define NAT_PCP_ERROR_LIFETIME_S 30
/* Section 15: the minimum lifetime SHOULD be 120 s; the maximum is the
 * profile's port-mapping-lifetime-max, applied by the engine. */
#define NAT_PCP_MIN_LIFETIME_S 120

enum nat_pcp_opcode {
    NAT_PCP_OP_ANNOUNCE = 0,
    NAT_PCP_OP_MAP = 1,
    NAT_PCP_OP_PEER = 2,
    NAT_PCP_R_BIT = 0x80, /* set in responses, in the opcode byte */
};

/* Section 7.4 */
enum nat_pcp_result {
    NAT_PCP_SUCCESS = 0,
    NAT_PCP_UNSUPP_VERSION = 1,
    NAT_PCP_NOT_AUTHORIZED = 2,
    NAT_PCP_MALFORMED_REQUEST = 3,
    NAT_PCP_UNSUPP_OPCODE = 4,
    NAT_PCP_UNSUPP_OPTION = 5,
    NAT_PCP_MALFORMED_OPTION = 6,
    NAT_PCP_NETWORK_FAILURE = 7,
    NAT_PCP_NO_RESOURCES = 8,
    NAT_PCP_UNSUPP_PROTOCOL = 9,
    NAT_PCP_USER_EX_QUOTA = 10,
    NAT_PCP_CANNOT_PROVIDE_EXTERNAL = 11,
    NAT_PCP_ADDRESS_MISMATCH = 12,
    NAT_PCP_EXCESSIVE_REMOTE_PEERS = 13,
};

/* Section 13; codes 0-127 must be understood, 128-255 may be ignored. */
enum nat_pcp_option {
    NAT_PCP_OPTION_THIRD_PARTY = 1,
    NAT_PCP_OPTION_PREFER_FAILURE = 2,
    NAT_PCP_OPTION_FILTER = 3,
    NAT_PCP_OPTION_OPTIONAL = 128,
};

typedef struct nat_pcp nat_pcp_t;

nat_pcp_t *nat_pcp_new(void);
void nat_pcp_free(nat_pcp_t *pcp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(nat_pcp_t, nat_pcp_free)
/* Forgets every nonce; call it with nat_engine_reboot (state loss). */
void nat_pcp_reset(nat_pcp_t *pcp);

/* Handles one request datagram that arrived from `client` (host order) on
 * the NAT's inside address; writes the response into out (capacity
 * out_size) and returns its length, or 0 when the request must be silently
 * dropped: neither protocol enabled, fewer than 2 bytes, the R bit set (a
 * response), or no room in out. An out of NAT_PCP_MAX_SIZE bytes always
 * suffices for PCP; NAT-PMP's unsupported-opcode echo needs len bytes.
 * out must not overlap req. */
size_t nat_pcp_handle(nat_pcp_t *pcp, nat_engine_t *engine, addr_endpoint_t client,
                      const uint8_t *req, size_t len, usec_t now, uint8_t *out, size_t out_size);
