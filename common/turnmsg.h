/* TURN messages (RFC 8656) and the long-term credential mechanism (RFC 8489
 * sections 9.2 and 14.5): a pure codec for the client side. STUN methods
 * Allocate, Refresh, CreatePermission, ChannelBind, Send and Data, their
 * attributes, MESSAGE-INTEGRITY computed and verified, and ChannelData
 * framing (RFC 8656 section 12.4), also over TCP. No sockets, no clock. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "stun.h"

#define TURN_METHOD_ALLOCATE 0x0003
#define TURN_METHOD_REFRESH 0x0004
#define TURN_METHOD_SEND 0x0006
#define TURN_METHOD_DATA 0x0007
#define TURN_METHOD_CREATE_PERMISSION 0x0008
#define TURN_METHOD_CHANNEL_BIND 0x0009

#define TURN_KEY_SIZE 16       /* MD5(username ":" realm ":" password) */
#define TURN_INTEGRITY_SIZE 20 /* HMAC-SHA1 */
#define TURN_TEXT_MAX 256      /* REALM and NONCE are < 128 characters (RFC 8489 14.9, 14.10) */
#define TURN_CHANNEL_MIN 0x4000
#define TURN_CHANNEL_MAX 0x4FFF
#define TURN_TRANSPORT_UDP 17  /* REQUESTED-TRANSPORT: the relay to peers is UDP */

enum turnmsg_has {
    TURNMSG_HAS_LIFETIME = 1 << 0,
    TURNMSG_HAS_PEER = 1 << 1,
    TURNMSG_HAS_RELAYED = 1 << 2,
    TURNMSG_HAS_MAPPED = 1 << 3,
    TURNMSG_HAS_DATA = 1 << 4,
    TURNMSG_HAS_REALM = 1 << 5,
    TURNMSG_HAS_NONCE = 1 << 6,
    TURNMSG_HAS_USERNAME = 1 << 7,
    TURNMSG_HAS_CHANNEL = 1 << 8,
    TURNMSG_HAS_ERROR = 1 << 9,
    TURNMSG_HAS_TRANSPORT = 1 << 10,
    TURNMSG_HAS_INTEGRITY = 1 << 11, /* present (turnmsg_read says whether it verified) */
};

typedef struct turnmsg {
    uint16_t method, msg_class; /* enum stun_class */
    uint8_t transaction_id[STUN_TRANSACTION_ID_SIZE];
    uint32_t has;               /* enum turnmsg_has */
    uint32_t lifetime_s;
    uint16_t channel;
    addr_endpoint_t peer, relayed, mapped;
    const uint8_t *data;        /* DATA: into the buffer read (not copied) */
    size_t data_len;
    char realm[TURN_TEXT_MAX], nonce[TURN_TEXT_MAX], username[TURN_TEXT_MAX];
    uint16_t error_code;        /* 300..699 */
    char error_reason[128];
    bool integrity_ok;          /* MESSAGE-INTEGRITY verified with the key given */
} turnmsg_t;

/* The long-term key: MD5 of "username:realm:password" (RFC 8489 9.2.2; the
 * strings as given: natlab does not apply OpaqueString to ASCII). */
void turnmsg_key(const char *username, const char *realm, const char *password,
                 uint8_t key[TURN_KEY_SIZE]);

/* Serialises `m` (attributes for every `has` bit but INTEGRITY); with a key,
 * MESSAGE-INTEGRITY last, then FINGERPRINT. The length, or 0 if it does not
 * fit. */
size_t turnmsg_write(const turnmsg_t *m, const uint8_t *key, uint8_t *buf, size_t cap);

/* Parses a STUN message carrying TURN attributes. With `key`, a present
 * MESSAGE-INTEGRITY is verified (integrity_ok). Every length is checked;
 * false with *why (static text) for anything malformed. */
bool turnmsg_read(const uint8_t *data, size_t len, const uint8_t *key, turnmsg_t *out,
                  const char **why);

/* ChannelData (RFC 8656 12.4): 4-byte header and the data; `pad` rounds the
 * total up to 4 bytes, as over TCP (12.5). The length, or 0. */
size_t turnmsg_channel_data(uint16_t channel, const uint8_t *data, size_t len, bool pad,
                            uint8_t *buf, size_t cap);
/* A ChannelData message: its channel and data; false if it is not one or
 * its length field runs past `len`. */
bool turnmsg_read_channel_data(const uint8_t *data, size_t len, uint16_t *channel,
                               const uint8_t **payload, size_t *payload_len);

/* Over TCP, STUN messages and ChannelData messages follow each other
 * (RFC 8656 12.5): the length of the one at the head of the stream, 0 when
 * more bytes are needed, -1 when the head is neither (the stream is lost). */
long turnmsg_frame_length(const uint8_t *data, size_t len, size_t max);
