/* NAT-PMP server logic (RFC 6886): a pure core on top of the NAT engine.
 * Datagrams come in as bytes with the client's endpoint and `now`; the answer
 * goes out as bytes. No socket, clock or random source.
 *
 * Dispatch: when the profile enables PCP, the daemon hands every datagram on
 * port 5351 to nat_pcp_handle(), which passes version-0 packets on to
 * nat_pmp_handle() when NAT-PMP is enabled too (RFC 6887 appendix A). When
 * only NAT-PMP is enabled, the daemon may call nat_pmp_handle() directly
 * (nat_pcp_handle() does the same). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/duration.h"
#include "common/pmp.h"
#include "nat_engine.h"

/* Handles one request datagram that arrived from `client` (host order) on
 * the NAT's inside address; writes the response into out (capacity
 * out_size) and returns its length, or 0 when the request must be silently
 * dropped: NAT-PMP not enabled or the profile does not translate (RFC 6886
 * forbids answering then), a response packet (opcode >= 128), fewer than 2
 * bytes, a map request shorter than its 12 bytes, or no room in out.
 * An unsupported opcode is answered by echoing the whole request (section
 * 3.5), so out needs len bytes for that; every other answer fits in
 * PMP_MAP_RESPONSE_SIZE. */
size_t nat_pmp_handle(nat_engine_t *engine, addr_endpoint_t client, const uint8_t *req,
                      size_t len, usec_t now, uint8_t *out, size_t out_size);

/* Seconds since the engine's port-mapping epoch began (creation or the last
 * nat_engine_reboot), as NAT-PMP and PCP report it (RFC 6886 section 3.6,
 * RFC 6887 section 8.5); wraps at 2^32 like the wire field. */
uint32_t nat_pmp_epoch(const nat_engine_t *engine, usec_t now);
