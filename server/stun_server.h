/* The RFC 5780 STUN server core: one request in (which of the four sockets
 * it arrived on, from whom, the bytes), at most one response out (the bytes,
 * which socket sends it, to whom). Pure: the shell owns the sockets.
 *
 * Sockets (RFC 5780 section 3): A1:P1, A1:P2, A2:P1, A2:P2. A request that
 * arrived on Da:Dp is answered from Da:Dp, or with CHANGE-REQUEST from the
 * other address (change-IP) and/or the other port (change-port). With one
 * address only (no alternate), CHANGE-REQUEST gets 420 and OTHER-ADDRESS is
 * omitted. The rendezvous and relay functions of the agent issue sit beside
 * this core in the same server (their own message types, same sockets). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/stun.h"

enum stun_server_socket {
    STUN_SOCKET_PRIMARY = 0,      /* A1:P1 */
    STUN_SOCKET_CHANGE_PORT = 1,  /* A1:P2 */
    STUN_SOCKET_CHANGE_IP = 2,    /* A2:P1 */
    STUN_SOCKET_CHANGE_BOTH = 3,  /* A2:P2 */
    STUN_SOCKET_COUNT = 4,
};

typedef struct stun_server_config {
    uint32_t address, alt_address; /* alt 0: a one-address server */
    uint16_t port, alt_port;
    const char *software;          /* SOFTWARE attribute; NULL: none */
} stun_server_config_t;

/* No amplification: an answer is never larger than the request or than
 * this floor, whichever is larger; only PADDING lifts the bound (to
 * STUN_MAX_MESSAGE). The floor is the smallest complete RFC 5780 answer:
 * header 20 + XOR-MAPPED-ADDRESS 12 + MAPPED-ADDRESS 12 + RESPONSE-ORIGIN 12
 * + OTHER-ADDRESS 12 + FINGERPRINT 8. A strict "never more than received"
 * would answer nobody: coturn's natdiscovery sends 20-byte requests and the
 * classic stun client 28-byte ones (a classic answer is 56 bytes). SOFTWARE,
 * then the tail of an UNKNOWN-ATTRIBUTES list, then FINGERPRINT are left out
 * of an answer that would not fit. */
#define STUN_SERVER_REPLY_FLOOR 76

typedef struct stun_server_stats {
    /* requests: Binding requests accepted (classic_requests of them RFC 3489);
     * responses: answers produced, success and error (errors_sent of them errors). */
    uint64_t requests, responses, classic_requests, errors_sent;
    uint64_t dropped[STUN_ERROR_COUNT]; /* by parse failure */
    uint64_t dropped_not_request;       /* responses, indications, other methods */
} stun_server_stats_t;

typedef struct stun_server stun_server_t;

/* NULL when the config cannot work: no address or port, the alternate
 * address equal to the primary one, or equal ports. */
stun_server_t *stun_server_new(const stun_server_config_t *config);
void stun_server_free(stun_server_t *server);

/* The local endpoint of each socket. */
addr_endpoint_t stun_server_socket_endpoint(const stun_server_t *server, unsigned socket);
unsigned stun_server_socket_count(const stun_server_t *server); /* 4, or 2 with one address */

typedef struct stun_server_reply {
    size_t len;           /* 0: send nothing */
    unsigned socket;      /* send from this socket */
    addr_endpoint_t to;
} stun_server_reply_t;

/* Answers one datagram that arrived on socket `arrived_on` from `from`.
 * Success (RFC 5780 section 6.1): modern requests get XOR-MAPPED-ADDRESS,
 * MAPPED-ADDRESS, RESPONSE-ORIGIN, OTHER-ADDRESS (two addresses only),
 * SOFTWARE and FINGERPRINT; classic (RFC 3489) requests get MAPPED-, SOURCE-
 * and CHANGED-ADDRESS (two addresses only) and their 16-byte id back.
 * CHANGE-REQUEST picks the sending socket; RESPONSE-PORT sends to the
 * source IP on that port; PADDING pads the answer to STUN_MAX_MESSAGE.
 * Errors, sent back where the request came from: 420 + UNKNOWN-ATTRIBUTES
 * for unknown comprehension-required attributes, and for a CHANGE-REQUEST
 * with a flag set on a one-address server (a zero CHANGE-REQUEST, as the
 * classic client sends in its test I, is answered); 400 for PADDING with
 * RESPONSE-PORT, or RESPONSE-PORT 0. Malformed datagrams are dropped and
 * counted by reason; responses, indications and other methods are dropped.
 * No amplification: see STUN_SERVER_REPLY_FLOOR. */
stun_server_reply_t stun_server_handle(stun_server_t *server, unsigned arrived_on,
                                       addr_endpoint_t from, const uint8_t *req, size_t len,
                                       uint8_t *out, size_t cap);
const stun_server_stats_t *stun_server_stats(const stun_server_t *server);
