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
    /* Over TCP: requests (counted in `requests` too), connect-backs started,
     * their outcomes, and those refused (403, 508). */
    uint64_t stream_requests, connect_backs, connect_back_refused;
    uint64_t connect_back_outcomes[STUN_CONNECT_COUNT];
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

/* STUN over TCP (RFC 8489 section 6.2.2) on the same four endpoints: the
 * shell frames the stream (stun_frame_length) and hands in one whole
 * message at a time; the answer goes back on the same connection, so
 * `reply.socket` and `reply.to` mean nothing here. The same answers as over
 * UDP, with these differences: CHANGE-REQUEST with a flag set,
 * RESPONSE-PORT and PADDING get 400 (they are defined for UDP: an answer
 * on a connection cannot come from another address or go to another port;
 * coturn answers the same); no amplification bound (TCP's handshake proves
 * the source); and NATLAB-CONNECT-BACK (stun.h) is honoured: the answer
 * waits while the shell tries to connect, and *pending says so.
 * A connect-back is refused with 403 unless it aims at the requester's own
 * address (any port: no scanning of third parties), with 400 when it asks
 * for the other address of a one-address server, and with 508 while
 * STUN_SERVER_CONNECT_BACK_MAX are under way. Over UDP the attribute is
 * ignored: a datagram's source can be forged. */
#define STUN_SERVER_CONNECT_BACK_MAX 32
/* RFC 5382 REQ-4 lets a NAT hold an unsolicited SYN 6 s before its ICMP:
 * the connect-back must outwait that to tell "hold" from "drop". */
#define STUN_SERVER_CONNECT_BACK_TIMEOUT_MS 9000

typedef struct stun_server_connect_back {
    addr_endpoint_t to;       /* connect to this */
    uint32_t from_ip;         /* from this address of ours, an ephemeral port */
    unsigned arrived_on;      /* for the answer */
    addr_endpoint_t client;
    uint8_t transaction_id[STUN_TRANSACTION_ID_SIZE];
} stun_server_connect_back_t;

stun_server_reply_t stun_server_handle_stream(stun_server_t *server, unsigned arrived_on,
                                              addr_endpoint_t from, const uint8_t *req, size_t len,
                                              uint8_t *out, size_t cap,
                                              stun_server_connect_back_t *connect_back, bool *pending);
/* The answer to a connect-back once the shell knows how it went (every
 * started one must end here, even when its client has gone: it frees the
 * slot). Returns the length written to out, 0 if it does not fit. */
size_t stun_server_connect_back_answer(stun_server_t *server, const stun_server_connect_back_t *connect_back,
                                       const stun_connect_result_t *result, uint8_t *out, size_t cap);
unsigned stun_server_connect_back_pending(const stun_server_t *server);
