/* STUN messages (RFC 8489, RFC 5780 attributes, RFC 3489 compatibility):
 * a pure codec. `stun_read` parses and validates a datagram into a plain
 * struct; `stun_write` serialises one. No sockets, no clock, no allocation.
 *
 * RFC 8489 section 5, the header:
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |0 0|     STUN Message Type     |         Message Length        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                         Magic Cookie                          |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                     Transaction ID (96 bits)                  |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define STUN_HEADER_SIZE 20
#define STUN_MAGIC_COOKIE 0x2112A442u
#define STUN_TRANSACTION_ID_SIZE 12
#define STUN_DEFAULT_PORT 3478
#define STUN_MAX_UNKNOWN 16
#define STUN_MAX_MESSAGE 1500 /* what natlab sends; PADDING fills up to it */

/* RFC 8489 section 5: class bits C1 (0x0100) and C0 (0x0010) around the method. */
enum stun_class {
    STUN_CLASS_REQUEST = 0x0000,
    STUN_CLASS_INDICATION = 0x0010,
    STUN_CLASS_SUCCESS = 0x0100,
    STUN_CLASS_ERROR = 0x0110,
};
#define STUN_METHOD_BINDING 0x0001

enum stun_attr_type {
    STUN_ATTR_MAPPED_ADDRESS = 0x0001,
    STUN_ATTR_CHANGE_REQUEST = 0x0003,   /* RFC 5780 */
    STUN_ATTR_SOURCE_ADDRESS = 0x0004,   /* RFC 3489 only */
    STUN_ATTR_CHANGED_ADDRESS = 0x0005,  /* RFC 3489 only */
    STUN_ATTR_USERNAME = 0x0006,
    STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
    STUN_ATTR_ERROR_CODE = 0x0009,
    STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
    STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
    STUN_ATTR_PADDING = 0x0026,          /* RFC 5780 */
    STUN_ATTR_RESPONSE_PORT = 0x0027,    /* RFC 5780 */
    STUN_ATTR_SOFTWARE = 0x8022,
    STUN_ATTR_FINGERPRINT = 0x8028,
    STUN_ATTR_RESPONSE_ORIGIN = 0x802B,  /* RFC 5780 */
    STUN_ATTR_OTHER_ADDRESS = 0x802C,    /* RFC 5780 */
    /* natlab's own, comprehension-optional (RFC 8489 section 14: a server
     * that does not know them answers the Binding without them), so a
     * client tells "no connect-back here" from a plain success. */
    STUN_ATTR_NATLAB_CONNECT_BACK = 0xC4A0,
    STUN_ATTR_NATLAB_CONNECT_RESULT = 0xC4A1,
};

/* NATLAB-CONNECT-BACK (request, over TCP): "open a TCP connection to this
 * endpoint from your primary address (flags 0) or your other address
 * (STUN_CHANGE_IP), and tell me what happened". The endpoint is XORed like
 * XOR-MAPPED-ADDRESS so that no ALG rewrites it.
 *   0                   1                   2                   3
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |0 0 0 0 0 0 0 0|    Family     |         X-Port                |
 *  |                X-Address (32 bits, IPv4 only)                 |
 *  |                 Flags (STUN_CHANGE_IP or 0)                   |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * NATLAB-CONNECT-RESULT (success response): the outcome, and for ICMP the
 * type and code; the time from the first SYN to the outcome; the source
 * endpoint the server connected from (XORed).
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |    Outcome    |   ICMP type   |   ICMP code   |   Reserved    |
 *  |                     Elapsed (milliseconds)                    |
 *  |0 0 0 0 0 0 0 0|    Family     |         X-Port                |
 *  |                X-Address (32 bits)                            |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ */
typedef enum stun_connect_outcome {
    STUN_CONNECT_NONE = 0,
    STUN_CONNECT_CONNECTED = 1, /* the handshake completed */
    STUN_CONNECT_RESET = 2,     /* a TCP RST answered the SYN */
    STUN_CONNECT_ICMP = 3,      /* an ICMP destination unreachable did */
    STUN_CONNECT_TIMEOUT = 4,   /* nothing within the server's bound */
    STUN_CONNECT_FAILED = 5,    /* the server could not try (local error) */
    STUN_CONNECT_COUNT
} stun_connect_outcome_t;

const char *stun_connect_outcome_name(stun_connect_outcome_t outcome);

typedef struct stun_connect_result {
    uint8_t outcome; /* stun_connect_outcome_t */
    uint8_t icmp_type, icmp_code;
    uint32_t elapsed_ms;
    addr_endpoint_t source;
} stun_connect_result_t;

/* RFC 5780 section 7.2 CHANGE-REQUEST flags. */
#define STUN_CHANGE_IP 0x4u
#define STUN_CHANGE_PORT 0x2u

/* Which optional parts of a message are present (a bitmask). */
enum stun_has {
    STUN_HAS_MAPPED = 1 << 0,
    STUN_HAS_XOR_MAPPED = 1 << 1,
    STUN_HAS_CHANGE_REQUEST = 1 << 2,
    STUN_HAS_SOURCE = 1 << 3,
    STUN_HAS_CHANGED = 1 << 4,
    STUN_HAS_RESPONSE_ORIGIN = 1 << 5,
    STUN_HAS_OTHER_ADDRESS = 1 << 6,
    STUN_HAS_RESPONSE_PORT = 1 << 7,
    STUN_HAS_PADDING = 1 << 8,
    STUN_HAS_ERROR = 1 << 9,
    STUN_HAS_UNKNOWN = 1 << 10, /* UNKNOWN-ATTRIBUTES (in an error response) */
    STUN_HAS_FINGERPRINT = 1 << 11,
    STUN_HAS_SOFTWARE = 1 << 12,
    STUN_HAS_CONNECT_BACK = 1 << 13,
    STUN_HAS_CONNECT_RESULT = 1 << 14,
};

typedef struct stun_message {
    uint16_t method;     /* STUN_METHOD_BINDING, ... */
    uint16_t msg_class;  /* enum stun_class */
    bool classic;        /* RFC 3489: no magic cookie; the 16 bytes after the length are the id */
    uint8_t transaction_id[16]; /* 12 bytes (RFC 8489) or 16 (classic, cookie position included) */
    uint32_t has;        /* enum stun_has */
    addr_endpoint_t mapped, xor_mapped, source, changed, response_origin, other_address;
    uint32_t change_request;   /* STUN_CHANGE_IP | STUN_CHANGE_PORT */
    uint16_t response_port;
    uint16_t padding_len;      /* bytes of PADDING value */
    uint16_t error_code;       /* 300..699 */
    char error_reason[128];
    char software[128];
    addr_endpoint_t connect_back;   /* NATLAB-CONNECT-BACK */
    uint32_t connect_back_flags;
    stun_connect_result_t connect_result;
    /* Comprehension-required attributes this codec does not know (0x0000-0x7FFF):
     * a server answers a request carrying any with 420 listing them. */
    uint16_t unknown[STUN_MAX_UNKNOWN];
    unsigned n_unknown;
} stun_message_t;

/* Why a datagram is not a STUN message we accept; for counters. */
typedef enum stun_error {
    STUN_OK,
    STUN_ERR_TOO_SHORT,
    STUN_ERR_NOT_STUN,        /* top bits, or length not a multiple of 4 */
    STUN_ERR_BAD_LENGTH,      /* header length and datagram size disagree */
    STUN_ERR_BAD_ATTRIBUTE,   /* an attribute runs past the end, or a known one is malformed */
    STUN_ERR_BAD_FINGERPRINT,
    STUN_ERROR_COUNT
} stun_error_t;

const char *stun_error_name(stun_error_t error);

/* Parses a datagram. Accepts RFC 8489 messages and, for Binding, RFC 3489
 * messages (wrong cookie -> classic = true). FINGERPRINT, when present, is
 * verified and must be last. Every length is checked before it is read.
 * Only the first instance of an attribute counts; attributes after
 * MESSAGE-INTEGRITY (but FINGERPRINT) are ignored; USERNAME and
 * MESSAGE-INTEGRITY(-SHA256) are read past, not verified (unauthenticated
 * Binding). IPv6 addresses are valid but ignored (no `has` bit).
 * UNKNOWN-ATTRIBUTES is read only in an error response (into unknown[],
 * with STUN_HAS_UNKNOWN), so in a request unknown[] lists exactly the
 * comprehension-required types this codec does not know.
 * Returns STUN_OK and fills *out, or the reason for rejecting. */
stun_error_t stun_read(const uint8_t *data, size_t len, stun_message_t *out);

/* Serialises `msg` into buf. Attributes are written for every `has` bit, in
 * a fixed order; a classic message gets only the RFC 3489 attributes (never
 * XOR-MAPPED-ADDRESS: stund rejects unknown comprehension-required types).
 * `fingerprint` appends FINGERPRINT (RFC 8489 only). Returns the length,
 * or 0 when it does not fit. */
size_t stun_write(const stun_message_t *msg, bool fingerprint, uint8_t *buf, size_t cap);

/* A Binding request with the given id (12 bytes) and optional CHANGE-REQUEST
 * (0 = none) and RESPONSE-PORT (0 = none), PADDING of `padding` bytes. */
void stun_binding_request(stun_message_t *msg, const uint8_t id[STUN_TRANSACTION_ID_SIZE],
                          uint32_t change, uint16_t response_port, uint16_t padding);
/* Same generation (classic or not) and the same 12 (or 16 classic) id bytes. */
bool stun_transaction_equal(const stun_message_t *a, const stun_message_t *b);

/* RFC 8489 section 6.2.2: over TCP, STUN messages follow each other with
 * no framing of their own; each is as long as its header says. Given the
 * first `len` bytes of a stream: the length of the message at its head
 * (20 + the header's length), 0 when more bytes are needed, or -1 as soon
 * as the head cannot be a STUN header (top bits set, a length that is not a
 * multiple of 4, or a message longer than `max`): the stream is lost. */
long stun_frame_length(const uint8_t *data, size_t len, size_t max);

/* CRC-32 as zlib computes it, and the FINGERPRINT value of the first `len`
 * bytes of a message (RFC 8489 section 14.7: the CRC XOR 0x5354554E; the
 * header's length must already count the FINGERPRINT attribute). */
uint32_t stun_crc32(const uint8_t *data, size_t len);
uint32_t stun_fingerprint(const uint8_t *msg, size_t len);
