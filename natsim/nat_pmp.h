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
#include "nat_engine.h"

/* RFC 6886 sections 3.1 and 3.2.1: the gateway listens on 5351; its
 * announcements go to 224.0.0.1 port 5350. PCP shares both ports. */
#define NAT_PMP_SERVER_PORT 5351
#define NAT_PMP_CLIENT_PORT 5350
#define NAT_PMP_VERSION 0

enum nat_pmp_opcode {
    NAT_PMP_OP_EXTERNAL_ADDRESS = 0, /* section 3.2 */
    NAT_PMP_OP_MAP_UDP = 1,          /* section 3.3 */
    NAT_PMP_OP_MAP_TCP = 2,
    NAT_PMP_OP_RESPONSE = 128, /* responses carry 128 + the request's opcode */
};

/* RFC 6886 section 3.5 */
enum nat_pmp_result {
    NAT_PMP_RESULT_SUCCESS = 0,
    NAT_PMP_RESULT_UNSUPP_VERSION = 1,
    NAT_PMP_RESULT_NOT_AUTHORIZED = 2, /* "Not Authorized/Refused" */
    NAT_PMP_RESULT_NETWORK_FAILURE = 3,
    NAT_PMP_RESULT_OUT_OF_RESOURCES = 4,
    NAT_PMP_RESULT_UNSUPP_OPCODE = 5,
};

#define NAT_PMP_EXTERNAL_REQUEST_SIZE 2
#define NAT_PMP_EXTERNAL_RESPONSE_SIZE 12
#define NAT_PMP_MAP_REQUEST_SIZE 12
#define NAT_PMP_MAP_RESPONSE_SIZE 16
#define NAT_PMP_UNSUPP_VERSION_SIZE 8

/* Handles one request datagram that arrived from `client` (host order) on
 * the NAT's inside address; writes the response into out (capacity
 * out_size) and returns its length, or 0 when the request must be silently
 * dropped: NAT-PMP not enabled or the profile does not translate (RFC 6886
 * forbids answering then), a response packet (opcode >= 128), fewer than 2
 * bytes, a map request shorter than its 12 bytes, or no room in out.
 * An unsupported opcode is answered by echoing the whole request (section
 * 3.5), so out needs len bytes for that; every other answer fits in
 * NAT_PMP_MAP_RESPONSE_SIZE. */
size_t nat_pmp_handle(nat_engine_t *engine, addr_endpoint_t client, const uint8_t *req,
                      size_t len, usec_t now, uint8_t *out, size_t out_size);

/* Seconds since the engine's port-mapping epoch began (creation or the last
 * nat_engine_reboot), as NAT-PMP and PCP report it (RFC 6886 section 3.6,
 * RFC 6887 section 8.5); wraps at 2^32 like the wire field. */
uint32_t nat_pmp_epoch(const nat_engine_t *engine, usec_t now);
