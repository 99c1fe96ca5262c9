/* PCP server logic (RFC 6887): a pure core on top of the NAT engine. MAP
 * creates, renews and deletes explicit UDP and TCP mappings; ANNOUNCE is answered;
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
#include "common/pcp.h"
#include "nat_engine.h"

/* Room enough for any PCP answer nat_pcp_handle() writes. */
#define NAT_PCP_MAX_SIZE PCP_MAX_SIZE
/* How long a client should expect the same error again (section 7.2). */
#define NAT_PCP_ERROR_LIFETIME_S 30
/* Section 15: the minimum lifetime SHOULD be 120 s; the maximum is the
 * profile's port-mapping-lifetime-max, applied by the engine. */
#define NAT_PCP_MIN_LIFETIME_S 120

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
