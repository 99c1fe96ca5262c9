#include "stun.h"
#include "wire.h"

#include <string.h>

/* RFC 8489 section 14.7: FINGERPRINT = CRC-32 (ISO 3309, the one zlib,
 * Ethernet and PNG use) of the message up to the attribute, XOR this. */
#define STUN_FINGERPRINT_XOR 0x5354554Eu
#define ATTR_HEADER 4
#define ADDRESS_V4_LEN 8   /* reserved, family, port, 4-byte address */
#define ADDRESS_V6_LEN 20
#define FAMILY_IPV4 0x01
#define FAMILY_IPV6 0x02
/* RFC 8489 section 14.6; like USERNAME and MESSAGE-INTEGRITY, known and
 * read past: unauthenticated Binding needs none of them. */
#define ATTR_MESSAGE_INTEGRITY_SHA256 0x001C

static const char *const error_names[STUN_ERROR_COUNT] = {
    [STUN_OK] = "ok",
    [STUN_ERR_TOO_SHORT] = "too-short",
    [STUN_ERR_NOT_STUN] = "not-stun",
    [STUN_ERR_BAD_LENGTH] = "bad-length",
    [STUN_ERR_BAD_ATTRIBUTE] = "bad-attribute",
    [STUN_ERR_BAD_FINGERPRINT] = "bad-fingerprint",
};

static const char *const connect_names[STUN_CONNECT_COUNT] = {
    [STUN_CONNECT_NONE] = "none",       [STUN_CONNECT_CONNECTED] = "connected",
    [STUN_CONNECT_RESET] = "reset",     [STUN_CONNECT_ICMP] = "icmp",
    [STUN_CONNECT_TIMEOUT] = "timeout", [STUN_CONNECT_FAILED] = "failed",
};

const char *stun_connect_outcome_name(stun_connect_outcome_t outcome)
{
    return (unsigned)outcome < STUN_CONNECT_COUNT ? connect_names[outcome] : "unknown";
}

long stun_frame_length(const uint8_t *data, size_t len, size_t max)
{
    /* Judged as soon as the bytes are there: a peer that sends 3 bytes of
     * garbage must not hold a connection open waiting for 17 more. */
    if (len >= 1 && (data[0] & 0xC0) != 0)
        return -1;
    if (len < 4)
        return 0;
    size_t body = wire_get16(data + 2);
    if (body % 4 != 0 || STUN_HEADER_SIZE + body > max)
        return -1;
    return len < STUN_HEADER_SIZE ? 0 : (long)(STUN_HEADER_SIZE + body);
}

const char *stun_error_name(stun_error_t error)
{
    return (unsigned)error < STUN_ERROR_COUNT ? error_names[error] : "unknown";
}

/* --- CRC-32, reflected polynomial 0xEDB88320, half a byte per lookup ----- */

static const uint32_t crc_nibble[16] = {
    0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC, 0x76DC4190, 0x6B6B51F4, 0x4DB26158, 0x5005713C,
    0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C, 0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C,
};

uint32_t stun_crc32(const uint8_t *data, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        c ^= data[i];
        c = crc_nibble[c & 0x0f] ^ (c >> 4);
        c = crc_nibble[c & 0x0f] ^ (c >> 4);
    }
    return c ^ 0xFFFFFFFFu;
}

uint32_t stun_fingerprint(const uint8_t *msg, size_t len)
{
    return stun_crc32(msg, len) ^ STUN_FINGERPRINT_XOR;
}

/* --- message type (RFC 8489 section 5) -------------------------------------
 *
 *   0                 1
 *   2  3  4 5 6 7 8 9 0 1 2 3 4 5
 *  +--+--+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |M |M |M|M|M|C|M|M|M|C|M|M|M|M|
 *  |11|10|9|8|7|1|6|5|4|0|3|2|1|0|
 *  +--+--+-+-+-+-+-+-+-+-+-+-+-+-+
 */

static uint16_t type_method(uint16_t type)
{
    return (uint16_t)((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
}

static uint16_t type_encode(uint16_t method, uint16_t msg_class)
{
    return (uint16_t)(((method & 0x0F80) << 2) | ((method & 0x0070) << 1) | (method & 0x000F) |
                      (msg_class & 0x0110));
}

/* --- reading ----------------------------------------------------------------- */

/* MAPPED-ADDRESS layout (RFC 8489 section 14.1), shared by XOR-MAPPED-ADDRESS,
 * RESPONSE-ORIGIN, OTHER-ADDRESS and RFC 3489's SOURCE/CHANGED-ADDRESS:
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |0 0 0 0 0 0 0 0|    Family     |           Port                |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                 Address (32 bits or 128 bits)                 |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Returns false when malformed; *is_v4 says whether *out was filled (an
 * IPv6 address is valid but natlab is IPv4-only: parsed and ignored). */
static bool read_address(const uint8_t *v, size_t len, bool xor, addr_endpoint_t *out, bool *is_v4)
{
    *is_v4 = false;
    if (len < 4)
        return false;
    if (v[1] == FAMILY_IPV6)
        return len == ADDRESS_V6_LEN;
    if (v[1] != FAMILY_IPV4 || len != ADDRESS_V4_LEN)
        return false;
    uint16_t port = wire_get16(v + 2);
    uint32_t ip = wire_get32(v + 4);
    if (xor) {
        port ^= (uint16_t)(STUN_MAGIC_COOKIE >> 16);
        ip ^= STUN_MAGIC_COOKIE;
    }
    *out = addr_endpoint(ip, port);
    *is_v4 = true;
    return true;
}

static void copy_text(char *dst, size_t cap, const uint8_t *v, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static void add_unknown(stun_message_t *m, uint16_t type)
{
    for (unsigned i = 0; i < m->n_unknown; i++)
        if (m->unknown[i] == type)
            return;
    if (m->n_unknown < STUN_MAX_UNKNOWN)
        m->unknown[m->n_unknown++] = type;
}

/* One attribute whose bounds are already checked. Only the first instance
 * of a type counts (RFC 8489 section 14); later ones are read past. */
static stun_error_t read_attribute(stun_message_t *m, uint16_t type, const uint8_t *v, size_t len)
{
    addr_endpoint_t *ep = NULL;
    uint32_t bit = 0;
    bool xor = false;
    switch (type) {
    case STUN_ATTR_MAPPED_ADDRESS: ep = &m->mapped, bit = STUN_HAS_MAPPED; break;
    case STUN_ATTR_XOR_MAPPED_ADDRESS: ep = &m->xor_mapped, bit = STUN_HAS_XOR_MAPPED, xor = true; break;
    case STUN_ATTR_SOURCE_ADDRESS: ep = &m->source, bit = STUN_HAS_SOURCE; break;
    case STUN_ATTR_CHANGED_ADDRESS: ep = &m->changed, bit = STUN_HAS_CHANGED; break;
    case STUN_ATTR_RESPONSE_ORIGIN: ep = &m->response_origin, bit = STUN_HAS_RESPONSE_ORIGIN; break;
    case STUN_ATTR_OTHER_ADDRESS: ep = &m->other_address, bit = STUN_HAS_OTHER_ADDRESS; break;
    default: break;
    }
    if (ep) {
        addr_endpoint_t a;
        bool v4;
        if (!read_address(v, len, xor, &a, &v4))
            return STUN_ERR_BAD_ATTRIBUTE;
        if (v4 && !(m->has & bit)) {
            *ep = a;
            m->has |= bit;
        }
        return STUN_OK;
    }
    switch (type) {
    case STUN_ATTR_CHANGE_REQUEST: /* RFC 5780 section 7.2: 32 bits, flags A and B */
        if (len != 4)
            return STUN_ERR_BAD_ATTRIBUTE;
        if (!(m->has & STUN_HAS_CHANGE_REQUEST)) {
            m->change_request = wire_get32(v) & (STUN_CHANGE_IP | STUN_CHANGE_PORT);
            m->has |= STUN_HAS_CHANGE_REQUEST;
        }
        return STUN_OK;
    case STUN_ATTR_RESPONSE_PORT: /* RFC 5780 section 7.5: port, 2 bytes padding */
        if (len != 4)
            return STUN_ERR_BAD_ATTRIBUTE;
        if (!(m->has & STUN_HAS_RESPONSE_PORT)) {
            m->response_port = wire_get16(v);
            m->has |= STUN_HAS_RESPONSE_PORT;
        }
        return STUN_OK;
    case STUN_ATTR_PADDING: /* RFC 5780 section 7.6: any content */
        if (!(m->has & STUN_HAS_PADDING)) {
            m->padding_len = (uint16_t)len;
            m->has |= STUN_HAS_PADDING;
        }
        return STUN_OK;
    case STUN_ATTR_ERROR_CODE: { /* RFC 8489 section 14.8 */
        if (len < 4)
            return STUN_ERR_BAD_ATTRIBUTE;
        unsigned cls = v[2] & 0x07, number = v[3];
        if (cls < 3 || cls > 6 || number > 99)
            return STUN_ERR_BAD_ATTRIBUTE;
        if (!(m->has & STUN_HAS_ERROR)) {
            m->error_code = (uint16_t)(cls * 100 + number);
            copy_text(m->error_reason, sizeof m->error_reason, v + 4, len - 4);
            m->has |= STUN_HAS_ERROR;
        }
        return STUN_OK;
    }
    case STUN_ATTR_UNKNOWN_ATTRIBUTES: /* RFC 8489 section 14.9: 16-bit types */
        if (len % 2)
            return STUN_ERR_BAD_ATTRIBUTE;
        /* Meaningful only in an error response; anywhere else it is read past,
         * so a request's unknown[] only ever holds what this codec lacks. */
        if (m->msg_class == STUN_CLASS_ERROR && !(m->has & STUN_HAS_UNKNOWN)) {
            for (size_t i = 0; i + 2 <= len; i += 2)
                add_unknown(m, wire_get16(v + i));
            m->has |= STUN_HAS_UNKNOWN;
        }
        return STUN_OK;
    case STUN_ATTR_SOFTWARE:
        if (!(m->has & STUN_HAS_SOFTWARE)) {
            copy_text(m->software, sizeof m->software, v, len);
            m->has |= STUN_HAS_SOFTWARE;
        }
        return STUN_OK;
    case STUN_ATTR_NATLAB_CONNECT_BACK: { /* stun.h */
        addr_endpoint_t a;
        bool v4;
        if (len != ADDRESS_V4_LEN + 4 || !read_address(v, ADDRESS_V4_LEN, true, &a, &v4) || !v4)
            return STUN_ERR_BAD_ATTRIBUTE;
        if (!(m->has & STUN_HAS_CONNECT_BACK)) {
            m->connect_back = a;
            m->connect_back_flags = wire_get32(v + ADDRESS_V4_LEN) & STUN_CHANGE_IP;
            m->has |= STUN_HAS_CONNECT_BACK;
        }
        return STUN_OK;
    }
    case STUN_ATTR_NATLAB_CONNECT_RESULT: { /* stun.h */
        addr_endpoint_t a;
        bool v4;
        if (len != 8 + ADDRESS_V4_LEN || !read_address(v + 8, ADDRESS_V4_LEN, true, &a, &v4) || !v4 ||
            v[0] == STUN_CONNECT_NONE || v[0] >= STUN_CONNECT_COUNT)
            return STUN_ERR_BAD_ATTRIBUTE;
        if (!(m->has & STUN_HAS_CONNECT_RESULT)) {
            m->connect_result = (stun_connect_result_t){
                .outcome = v[0], .icmp_type = v[1], .icmp_code = v[2],
                .elapsed_ms = wire_get32(v + 4), .source = a,
            };
            m->has |= STUN_HAS_CONNECT_RESULT;
        }
        return STUN_OK;
    }
    case STUN_ATTR_MESSAGE_INTEGRITY: /* HMAC-SHA1; unauthenticated Binding ignores it */
        return len == 20 ? STUN_OK : STUN_ERR_BAD_ATTRIBUTE;
    case STUN_ATTR_USERNAME:
    case ATTR_MESSAGE_INTEGRITY_SHA256:
        return STUN_OK;
    default:
        /* 0x0000-0x7FFF: comprehension-required (RFC 8489 section 14). */
        if (type < 0x8000)
            add_unknown(m, type);
        return STUN_OK;
    }
}

stun_error_t stun_read(const uint8_t *data, size_t len, stun_message_t *out)
{
    memset(out, 0, sizeof *out);
    if (!data || len < STUN_HEADER_SIZE)
        return STUN_ERR_TOO_SHORT;
    uint16_t type = wire_get16(data);
    size_t body = wire_get16(data + 2);
    if ((data[0] & 0xC0) != 0 || body % 4 != 0)
        return STUN_ERR_NOT_STUN;
    out->method = type_method(type);
    out->msg_class = type & 0x0110;
    if (wire_get32(data + 4) != STUN_MAGIC_COOKIE) {
        /* RFC 3489 section 11.1: a 128-bit transaction ID where the cookie
         * would be. Only Binding is accepted in that form. */
        if (out->method != STUN_METHOD_BINDING)
            return STUN_ERR_NOT_STUN;
        out->classic = true;
        memcpy(out->transaction_id, data + 4, 16);
    } else {
        memcpy(out->transaction_id, data + 8, STUN_TRANSACTION_ID_SIZE);
    }
    if (STUN_HEADER_SIZE + body != len)
        return STUN_ERR_BAD_LENGTH;

    size_t off = STUN_HEADER_SIZE;
    bool after_integrity = false;
    while (off < len) {
        /* off and len are multiples of 4, so a header always fits here. */
        uint16_t atype = wire_get16(data + off);
        size_t alen = wire_get16(data + off + 2);
        if (alen > len - off - ATTR_HEADER)
            return STUN_ERR_BAD_ATTRIBUTE;
        const uint8_t *v = data + off + ATTR_HEADER;
        size_t next = off + ATTR_HEADER + ((alen + 3) & ~(size_t)3);
        if (atype == STUN_ATTR_FINGERPRINT) {
            /* RFC 8489 section 14.7: the last attribute, over everything before it. */
            if (alen != 4 || next != len)
                return STUN_ERR_BAD_ATTRIBUTE;
            if (wire_get32(v) != stun_fingerprint(data, off))
                return STUN_ERR_BAD_FINGERPRINT;
            out->has |= STUN_HAS_FINGERPRINT;
        } else if (!after_integrity) {
            /* Section 14.5: attributes after MESSAGE-INTEGRITY are ignored
             * (but FINGERPRINT). */
            stun_error_t e = read_attribute(out, atype, v, alen);
            if (e != STUN_OK)
                return e;
            after_integrity = atype == STUN_ATTR_MESSAGE_INTEGRITY;
        }
        off = next;
    }
    return STUN_OK;
}

/* --- writing ----------------------------------------------------------------- */

typedef struct writer {
    uint8_t *buf;
    size_t cap, off;
    bool ok;
} writer_t;

/* Reserves an attribute of `len` value bytes, zero-padded to 4; NULL when
 * it does not fit (the message length field is 16 bits, too). */
static uint8_t *put_attr(writer_t *w, uint16_t type, size_t len)
{
    size_t total = ATTR_HEADER + ((len + 3) & ~(size_t)3);
    if (!w->ok || len > 0xFFFF || total > w->cap - w->off ||
        w->off + total - STUN_HEADER_SIZE > 0xFFFF) {
        w->ok = false;
        return NULL;
    }
    uint8_t *p = w->buf + w->off;
    wire_put16(p, type);
    wire_put16(p + 2, (uint16_t)len);
    memset(p + ATTR_HEADER, 0, total - ATTR_HEADER);
    w->off += total;
    return p + ATTR_HEADER;
}

static void put_address_value(uint8_t *v, addr_endpoint_t ep, bool xor)
{
    v[1] = FAMILY_IPV4;
    wire_put16(v + 2, xor ? (uint16_t)(ep.port ^ (STUN_MAGIC_COOKIE >> 16)) : ep.port);
    wire_put32(v + 4, xor ? ep.ip ^ STUN_MAGIC_COOKIE : ep.ip);
}

static void put_address(writer_t *w, uint16_t type, addr_endpoint_t ep, bool xor)
{
    uint8_t *v = put_attr(w, type, ADDRESS_V4_LEN);
    if (v)
        put_address_value(v, ep, xor);
}

static void put_text(writer_t *w, uint16_t type, const char *text)
{
    size_t n = strnlen(text, 127);
    uint8_t *v = put_attr(w, type, n);
    if (v)
        memcpy(v, text, n);
}

size_t stun_write(const stun_message_t *msg, bool fingerprint, uint8_t *buf, size_t cap)
{
    writer_t w = { .buf = buf, .cap = cap, .off = STUN_HEADER_SIZE, .ok = buf && cap >= STUN_HEADER_SIZE };
    if (!w.ok)
        return 0;
    bool classic = msg->classic;
    uint32_t has = msg->has;
    /* RFC 3489 knows only these; its clients reject unknown types below 0x8000. */
    if (classic)
        has &= STUN_HAS_MAPPED | STUN_HAS_SOURCE | STUN_HAS_CHANGED | STUN_HAS_CHANGE_REQUEST |
               STUN_HAS_ERROR | STUN_HAS_UNKNOWN;
    wire_put16(buf, type_encode(msg->method, msg->msg_class));
    if (classic) {
        memcpy(buf + 4, msg->transaction_id, 16);
    } else {
        wire_put32(buf + 4, STUN_MAGIC_COOKIE);
        memcpy(buf + 8, msg->transaction_id, STUN_TRANSACTION_ID_SIZE);
    }

    if (has & STUN_HAS_XOR_MAPPED)
        put_address(&w, STUN_ATTR_XOR_MAPPED_ADDRESS, msg->xor_mapped, true);
    if (has & STUN_HAS_MAPPED)
        put_address(&w, STUN_ATTR_MAPPED_ADDRESS, msg->mapped, false);
    if (has & STUN_HAS_SOURCE)
        put_address(&w, STUN_ATTR_SOURCE_ADDRESS, msg->source, false);
    if (has & STUN_HAS_CHANGED)
        put_address(&w, STUN_ATTR_CHANGED_ADDRESS, msg->changed, false);
    if (has & STUN_HAS_RESPONSE_ORIGIN)
        put_address(&w, STUN_ATTR_RESPONSE_ORIGIN, msg->response_origin, false);
    if (has & STUN_HAS_OTHER_ADDRESS)
        put_address(&w, STUN_ATTR_OTHER_ADDRESS, msg->other_address, false);
    if (has & STUN_HAS_CHANGE_REQUEST) {
        uint8_t *v = put_attr(&w, STUN_ATTR_CHANGE_REQUEST, 4);
        if (v)
            wire_put32(v, msg->change_request & (STUN_CHANGE_IP | STUN_CHANGE_PORT));
    }
    if (has & STUN_HAS_RESPONSE_PORT) {
        uint8_t *v = put_attr(&w, STUN_ATTR_RESPONSE_PORT, 4);
        if (v)
            wire_put16(v, msg->response_port);
    }
    if (has & STUN_HAS_ERROR) {
        /* RFC 8489 section 14.8: class in 3 bits, number 0-99, then the
         * reason. RFC 3489 section 11.2.9 wants the reason a multiple of 4
         * bytes: padded with spaces there. */
        char reason[sizeof msg->error_reason];
        copy_text(reason, sizeof reason, (const uint8_t *)msg->error_reason,
                  strnlen(msg->error_reason, sizeof msg->error_reason));
        size_t n = strlen(reason);
        size_t len = classic ? (n + 3) & ~(size_t)3 : n;
        uint8_t *v = put_attr(&w, STUN_ATTR_ERROR_CODE, 4 + len);
        if (v) {
            v[2] = (uint8_t)((msg->error_code / 100) & 0x07);
            v[3] = (uint8_t)(msg->error_code % 100);
            memcpy(v + 4, reason, n);
            memset(v + 4 + n, ' ', len - n);
        }
    }
    if (has & STUN_HAS_UNKNOWN) {
        /* RFC 3489 section 11.2.10: an odd count repeats one type, so the
         * value stays a multiple of 4; RFC 8489 pads with zeros instead. */
        unsigned n = msg->n_unknown < STUN_MAX_UNKNOWN ? msg->n_unknown : STUN_MAX_UNKNOWN;
        unsigned slots = classic && n % 2 ? n + 1 : n;
        uint8_t *v = put_attr(&w, STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * (size_t)slots);
        for (unsigned i = 0; v && i < slots; i++)
            wire_put16(v + 2 * i, msg->unknown[i < n ? i : 0]);
    }
    if (has & STUN_HAS_CONNECT_BACK) {
        uint8_t *v = put_attr(&w, STUN_ATTR_NATLAB_CONNECT_BACK, ADDRESS_V4_LEN + 4);
        if (v) {
            put_address_value(v, msg->connect_back, true);
            wire_put32(v + ADDRESS_V4_LEN, msg->connect_back_flags & STUN_CHANGE_IP);
        }
    }
    if (has & STUN_HAS_CONNECT_RESULT) {
        const stun_connect_result_t *r = &msg->connect_result;
        uint8_t *v = put_attr(&w, STUN_ATTR_NATLAB_CONNECT_RESULT, 8 + ADDRESS_V4_LEN);
        if (v) {
            v[0] = r->outcome;
            v[1] = r->icmp_type;
            v[2] = r->icmp_code;
            wire_put32(v + 4, r->elapsed_ms);
            put_address_value(v + 8, r->source, true);
        }
    }
    if (has & STUN_HAS_SOFTWARE)
        put_text(&w, STUN_ATTR_SOFTWARE, msg->software);
    if (has & STUN_HAS_PADDING)
        put_attr(&w, STUN_ATTR_PADDING, msg->padding_len);
    if (fingerprint && !classic) {
        uint8_t *v = put_attr(&w, STUN_ATTR_FINGERPRINT, 4);
        if (v) {
            /* The length field covers FINGERPRINT before the CRC is taken. */
            wire_put16(buf + 2, (uint16_t)(w.off - STUN_HEADER_SIZE));
            wire_put32(v, stun_fingerprint(buf, w.off - ATTR_HEADER - 4));
        }
    }
    if (!w.ok)
        return 0;
    wire_put16(buf + 2, (uint16_t)(w.off - STUN_HEADER_SIZE));
    return w.off;
}

void stun_binding_request(stun_message_t *msg, const uint8_t id[STUN_TRANSACTION_ID_SIZE],
                          uint32_t change, uint16_t response_port, uint16_t padding)
{
    memset(msg, 0, sizeof *msg);
    msg->method = STUN_METHOD_BINDING;
    msg->msg_class = STUN_CLASS_REQUEST;
    memcpy(msg->transaction_id, id, STUN_TRANSACTION_ID_SIZE);
    if (change) {
        msg->change_request = change & (STUN_CHANGE_IP | STUN_CHANGE_PORT);
        msg->has |= STUN_HAS_CHANGE_REQUEST;
    }
    if (response_port) {
        msg->response_port = response_port;
        msg->has |= STUN_HAS_RESPONSE_PORT;
    }
    if (padding) {
        msg->padding_len = padding;
        msg->has |= STUN_HAS_PADDING;
    }
}

bool stun_transaction_equal(const stun_message_t *a, const stun_message_t *b)
{
    if (a->classic != b->classic)
        return false;
    return memcmp(a->transaction_id, b->transaction_id,
                  a->classic ? 16 : STUN_TRANSACTION_ID_SIZE) == 0;
}
