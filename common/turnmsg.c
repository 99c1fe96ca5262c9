#include "turnmsg.h"

#include <glib.h>
#include <string.h>

#include "wire.h"

#define ATTR_CHANNEL_NUMBER 0x000C
#define ATTR_LIFETIME 0x000D
#define ATTR_XOR_PEER_ADDRESS 0x0012
#define ATTR_DATA 0x0013
#define ATTR_REALM 0x0014
#define ATTR_NONCE 0x0015
#define ATTR_XOR_RELAYED_ADDRESS 0x0016
#define ATTR_REQUESTED_TRANSPORT 0x0019

void turnmsg_key(const char *username, const char *realm, const char *password,
                 uint8_t key[TURN_KEY_SIZE])
{
    g_autoptr(GChecksum) md5 = g_checksum_new(G_CHECKSUM_MD5);
    g_autofree char *text = g_strdup_printf("%s:%s:%s", username, realm, password);
    g_checksum_update(md5, (const guchar *)text, (gssize)strlen(text));
    gsize n = TURN_KEY_SIZE;
    g_checksum_get_digest(md5, key, &n);
}

/* HMAC-SHA1 of msg[0..len) with the header's length field set to `length`
 * (RFC 8489 14.5: up to and including MESSAGE-INTEGRITY). */
static void integrity(const uint8_t *msg, size_t len, uint16_t length, const uint8_t *key,
                      uint8_t out[TURN_INTEGRITY_SIZE])
{
    g_autoptr(GHmac) h = g_hmac_new(G_CHECKSUM_SHA1, key, TURN_KEY_SIZE);
    uint8_t head[4];
    memcpy(head, msg, 2);
    wire_put16(head + 2, length);
    g_hmac_update(h, head, 4);
    g_hmac_update(h, msg + 4, (gssize)(len - 4));
    gsize n = TURN_INTEGRITY_SIZE;
    g_hmac_get_digest(h, out, &n);
}

typedef struct writer {
    uint8_t *buf;
    size_t cap, len;
    bool full;
} writer_t;

static uint8_t *put_attr(writer_t *w, uint16_t type, size_t vlen)
{
    size_t padded = (vlen + 3) & ~(size_t)3;
    if (w->full || w->len + 4 + padded > w->cap || vlen > 0xFFFF) {
        w->full = true;
        return NULL;
    }
    uint8_t *a = w->buf + w->len;
    wire_put16(a, type);
    wire_put16(a + 2, (uint16_t)vlen);
    memset(a + 4, 0, padded);
    w->len += 4 + padded;
    return a + 4;
}

static void put_xor_address(writer_t *w, uint16_t type, addr_endpoint_t ep)
{
    uint8_t *v = put_attr(w, type, 8);
    if (!v)
        return;
    v[1] = 0x01; /* IPv4 */
    wire_put16(v + 2, (uint16_t)(ep.port ^ (STUN_MAGIC_COOKIE >> 16)));
    wire_put32(v + 4, ep.ip ^ STUN_MAGIC_COOKIE);
}

static void put_text(writer_t *w, uint16_t type, const char *s)
{
    uint8_t *v = put_attr(w, type, strlen(s));
    if (v)
        memcpy(v, s, strlen(s));
}

static void put_u32(writer_t *w, uint16_t type, uint32_t x)
{
    uint8_t *v = put_attr(w, type, 4);
    if (v)
        wire_put32(v, x);
}

size_t turnmsg_write(const turnmsg_t *m, const uint8_t *key, uint8_t *buf, size_t cap)
{
    writer_t w = { buf, cap, STUN_HEADER_SIZE, cap < STUN_HEADER_SIZE };
    if (w.full)
        return 0;
    uint16_t type = (uint16_t)((m->method & 0x000F) | ((m->method & 0x0070) << 1) |
                               ((m->method & 0x0F80) << 2) | m->msg_class);
    wire_put16(buf, type);
    wire_put32(buf + 4, STUN_MAGIC_COOKIE);
    memcpy(buf + 8, m->transaction_id, STUN_TRANSACTION_ID_SIZE);
    if (m->has & TURNMSG_HAS_TRANSPORT)
        put_u32(&w, ATTR_REQUESTED_TRANSPORT, (uint32_t)TURN_TRANSPORT_UDP << 24);
    if (m->has & TURNMSG_HAS_CHANNEL)
        put_u32(&w, ATTR_CHANNEL_NUMBER, (uint32_t)m->channel << 16);
    if (m->has & TURNMSG_HAS_LIFETIME)
        put_u32(&w, ATTR_LIFETIME, m->lifetime_s);
    if (m->has & TURNMSG_HAS_PEER)
        put_xor_address(&w, ATTR_XOR_PEER_ADDRESS, m->peer);
    if (m->has & TURNMSG_HAS_RELAYED)
        put_xor_address(&w, ATTR_XOR_RELAYED_ADDRESS, m->relayed);
    if (m->has & TURNMSG_HAS_MAPPED)
        put_xor_address(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, m->mapped);
    if (m->has & TURNMSG_HAS_DATA) {
        uint8_t *v = put_attr(&w, ATTR_DATA, m->data_len);
        if (v && m->data_len)
            memcpy(v, m->data, m->data_len);
    }
    if (m->has & TURNMSG_HAS_ERROR) {
        size_t n = strlen(m->error_reason);
        uint8_t *v = put_attr(&w, STUN_ATTR_ERROR_CODE, 4 + n);
        if (v) {
            v[2] = (uint8_t)(m->error_code / 100);
            v[3] = (uint8_t)(m->error_code % 100);
            memcpy(v + 4, m->error_reason, n);
        }
    }
    if (m->has & TURNMSG_HAS_USERNAME)
        put_text(&w, STUN_ATTR_USERNAME, m->username);
    if (m->has & TURNMSG_HAS_REALM)
        put_text(&w, ATTR_REALM, m->realm);
    if (m->has & TURNMSG_HAS_NONCE)
        put_text(&w, ATTR_NONCE, m->nonce);
    if (key) {
        size_t at = w.len;
        uint8_t *v = put_attr(&w, STUN_ATTR_MESSAGE_INTEGRITY, TURN_INTEGRITY_SIZE);
        if (v)
            integrity(buf, at, (uint16_t)(w.len - STUN_HEADER_SIZE), key, v);
    }
    uint8_t *fp = put_attr(&w, STUN_ATTR_FINGERPRINT, 4);
    if (w.full)
        return 0;
    wire_put16(buf + 2, (uint16_t)(w.len - STUN_HEADER_SIZE));
    wire_put32(fp, stun_fingerprint(buf, w.len - 8));
    return w.len;
}

static bool read_xor_address(const uint8_t *v, size_t len, addr_endpoint_t *out)
{
    if (len < 8 || v[1] != 0x01)
        return false; /* IPv6 and others are not ours */
    out->port = (uint16_t)(wire_get16(v + 2) ^ (STUN_MAGIC_COOKIE >> 16));
    out->ip = wire_get32(v + 4) ^ STUN_MAGIC_COOKIE;
    return true;
}

static bool read_text(const uint8_t *v, size_t len, char *out, size_t cap)
{
    if (len >= cap || memchr(v, '\0', len))
        return false;
    memcpy(out, v, len);
    out[len] = '\0';
    return true;
}

#define FAIL(text)                                                                                 \
    do {                                                                                           \
        *why = (text);                                                                             \
        return false;                                                                              \
    } while (0)

bool turnmsg_read(const uint8_t *d, size_t len, const uint8_t *key, turnmsg_t *m,
                  const char **why)
{
    memset(m, 0, sizeof *m);
    if (len < STUN_HEADER_SIZE)
        FAIL("shorter than a STUN header");
    uint16_t type = wire_get16(d), length = wire_get16(d + 2);
    if ((type & 0xC000) || wire_get32(d + 4) != STUN_MAGIC_COOKIE || (length & 3))
        FAIL("not a STUN message");
    if ((size_t)length + STUN_HEADER_SIZE != len)
        FAIL("the header's length disagrees with the message's");
    m->msg_class = type & 0x0110;
    m->method = (uint16_t)((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
    memcpy(m->transaction_id, d + 8, STUN_TRANSACTION_ID_SIZE);
    size_t off = STUN_HEADER_SIZE;
    bool after_integrity = false;
    while (off < len) {
        if (off + 4 > len)
            FAIL("an attribute header runs past the end");
        uint16_t at = wire_get16(d + off), alen = wire_get16(d + off + 2);
        size_t padded = ((size_t)alen + 3) & ~(size_t)3;
        if (off + 4 + padded > len)
            FAIL("an attribute runs past the end");
        const uint8_t *v = d + off + 4;
        if (at == STUN_ATTR_FINGERPRINT) {
            if (alen != 4 || off + 8 != len || wire_get32(v) != stun_fingerprint(d, off))
                FAIL("a bad FINGERPRINT");
        } else if (!after_integrity) {
            switch (at) {
            case STUN_ATTR_MESSAGE_INTEGRITY:
                if (alen != TURN_INTEGRITY_SIZE)
                    FAIL("MESSAGE-INTEGRITY is not 20 bytes");
                m->has |= TURNMSG_HAS_INTEGRITY;
                after_integrity = true;
                if (key) {
                    uint8_t mac[TURN_INTEGRITY_SIZE];
                    integrity(d, off, (uint16_t)(off + 4 + TURN_INTEGRITY_SIZE - STUN_HEADER_SIZE),
                              key, mac);
                    m->integrity_ok = memcmp(mac, v, TURN_INTEGRITY_SIZE) == 0;
                }
                break;
            case ATTR_LIFETIME:
                if (alen != 4)
                    FAIL("LIFETIME is not 4 bytes");
                m->lifetime_s = wire_get32(v);
                m->has |= TURNMSG_HAS_LIFETIME;
                break;
            case ATTR_REQUESTED_TRANSPORT:
                if (alen != 4)
                    FAIL("REQUESTED-TRANSPORT is not 4 bytes");
                if (v[0] == TURN_TRANSPORT_UDP)
                    m->has |= TURNMSG_HAS_TRANSPORT;
                break;
            case ATTR_CHANNEL_NUMBER:
                if (alen != 4)
                    FAIL("CHANNEL-NUMBER is not 4 bytes");
                m->channel = wire_get16(v);
                m->has |= TURNMSG_HAS_CHANNEL;
                break;
            case ATTR_XOR_PEER_ADDRESS:
                if (read_xor_address(v, alen, &m->peer))
                    m->has |= TURNMSG_HAS_PEER;
                break;
            case ATTR_XOR_RELAYED_ADDRESS:
                if (read_xor_address(v, alen, &m->relayed))
                    m->has |= TURNMSG_HAS_RELAYED;
                break;
            case STUN_ATTR_XOR_MAPPED_ADDRESS:
                if (read_xor_address(v, alen, &m->mapped))
                    m->has |= TURNMSG_HAS_MAPPED;
                break;
            case ATTR_DATA:
                m->data = v;
                m->data_len = alen;
                m->has |= TURNMSG_HAS_DATA;
                break;
            case ATTR_REALM:
                if (!read_text(v, alen, m->realm, sizeof m->realm))
                    FAIL("REALM too long or not text");
                m->has |= TURNMSG_HAS_REALM;
                break;
            case ATTR_NONCE:
                if (!read_text(v, alen, m->nonce, sizeof m->nonce))
                    FAIL("NONCE too long or not text");
                m->has |= TURNMSG_HAS_NONCE;
                break;
            case STUN_ATTR_USERNAME:
                if (!read_text(v, alen, m->username, sizeof m->username))
                    FAIL("USERNAME too long or not text");
                m->has |= TURNMSG_HAS_USERNAME;
                break;
            case STUN_ATTR_ERROR_CODE:
                if (alen < 4 || v[2] < 3 || v[2] > 6 || v[3] > 99)
                    FAIL("a malformed ERROR-CODE");
                m->error_code = (uint16_t)(v[2] * 100 + v[3]);
                size_t n = MIN((size_t)alen - 4, sizeof m->error_reason - 1);
                memcpy(m->error_reason, v + 4, n);
                m->error_reason[n] = '\0';
                for (size_t i = 0; i < n; i++)
                    if ((unsigned char)m->error_reason[i] < 0x20)
                        m->error_reason[i] = '?';
                m->has |= TURNMSG_HAS_ERROR;
                break;
            default:
                break;
            }
        }
        off += 4 + padded;
    }
    return true;
}

size_t turnmsg_channel_data(uint16_t channel, const uint8_t *data, size_t len, bool pad,
                            uint8_t *buf, size_t cap)
{
    size_t total = 4 + len;
    if (pad)
        total = (total + 3) & ~(size_t)3;
    if (len > 0xFFFF || total > cap)
        return 0;
    wire_put16(buf, channel);
    wire_put16(buf + 2, (uint16_t)len);
    if (len)
        memcpy(buf + 4, data, len);
    memset(buf + 4 + len, 0, total - 4 - len);
    return total;
}

bool turnmsg_read_channel_data(const uint8_t *data, size_t len, uint16_t *channel,
                               const uint8_t **payload, size_t *payload_len)
{
    if (len < 4)
        return false;
    uint16_t ch = wire_get16(data), n = wire_get16(data + 2);
    if (ch < TURN_CHANNEL_MIN || ch > TURN_CHANNEL_MAX || (size_t)n + 4 > len)
        return false;
    *channel = ch;
    *payload = data + 4;
    *payload_len = n;
    return true;
}

long turnmsg_frame_length(const uint8_t *data, size_t len, size_t max)
{
    if (len < 1)
        return 0;
    if ((data[0] & 0xC0) == 0x40) { /* ChannelData: channels 0x4000-0x4FFF */
        if (data[0] > 0x4F)
            return -1;
        if (len < 4)
            return 0;
        size_t total = (4 + (size_t)wire_get16(data + 2) + 3) & ~(size_t)3;
        return total > max ? -1 : (long)total;
    }
    return stun_frame_length(data, len, max);
}
