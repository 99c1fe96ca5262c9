#include "agentmsg.h"

#include <glib.h>
#include <string.h>

#include "common/wire.h"

typedef struct writer {
    uint8_t *p;
    size_t cap, len;
    bool overflow;
} writer_t;

typedef struct reader {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
} reader_t;

static uint8_t *writer_take(writer_t *w, size_t n)
{
    if (w->overflow || w->cap - w->len < n) {
        w->overflow = true;
        return NULL;
    }
    uint8_t *at = w->p + w->len;
    w->len += n;
    return at;
}

static void put8(writer_t *w, uint8_t v)
{
    uint8_t *p = writer_take(w, 1);
    if (p)
        p[0] = v;
}

static void put16(writer_t *w, uint16_t v)
{
    uint8_t *p = writer_take(w, 2);
    if (p)
        wire_put16(p, v);
}

static void put32(writer_t *w, uint32_t v)
{
    uint8_t *p = writer_take(w, 4);
    if (p)
        wire_put32(p, v);
}

static void put64(writer_t *w, uint64_t v)
{
    put32(w, (uint32_t)(v >> 32));
    put32(w, (uint32_t)v);
}

static void put_bytes(writer_t *w, const void *data, size_t n)
{
    uint8_t *p = writer_take(w, n);
    if (p && n)
        memcpy(p, data, n);
}

static void put_endpoint(writer_t *w, addr_endpoint_t ep)
{
    put32(w, ep.ip);
    put16(w, ep.port);
}

static void put_name(writer_t *w, const char *name)
{
    size_t n = strnlen(name, AGENTMSG_NAME_MAX + 1);
    if (n > AGENTMSG_NAME_MAX) {
        w->overflow = true;
        return;
    }
    put8(w, (uint8_t)n);
    put_bytes(w, name, n);
}

static void put_nat(writer_t *w, const agentmsg_nat_t *nat)
{
    if (nat->mapping > AGENTMSG_MAPPING_NO_UDP)
        w->overflow = true;
    put8(w, nat->mapping);
    put16(w, (uint16_t)nat->step);
    put16(w, nat->last_port);
}

static void put_candidates(writer_t *w, const agentmsg_t *m)
{
    if (m->n_candidates > AGENTMSG_CANDIDATES_MAX) {
        w->overflow = true;
        return;
    }
    put8(w, m->n_candidates);
    for (unsigned i = 0; i < m->n_candidates; i++) {
        put8(w, m->candidates[i].type);
        put_endpoint(w, m->candidates[i].endpoint);
    }
}

static void put_payload(writer_t *w, const agentmsg_t *m, size_t max)
{
    if (m->payload_len > max) {
        w->overflow = true;
        return;
    }
    put16(w, (uint16_t)m->payload_len);
    put_bytes(w, m->payload, m->payload_len);
}

static const uint8_t *reader_take(reader_t *r, size_t n)
{
    if (r->bad || r->len - r->pos < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *at = r->p + r->pos;
    r->pos += n;
    return at;
}

static uint8_t get8(reader_t *r)
{
    const uint8_t *p = reader_take(r, 1);
    return p ? p[0] : 0;
}

static uint16_t get16(reader_t *r)
{
    const uint8_t *p = reader_take(r, 2);
    return p ? wire_get16(p) : 0;
}

static uint32_t get32(reader_t *r)
{
    const uint8_t *p = reader_take(r, 4);
    return p ? wire_get32(p) : 0;
}

static uint64_t get64(reader_t *r)
{
    uint64_t hi = get32(r);
    return hi << 32 | get32(r);
}

static addr_endpoint_t get_endpoint(reader_t *r)
{
    addr_endpoint_t ep;
    ep.ip = get32(r);
    ep.port = get16(r);
    return ep;
}

static void get_name(reader_t *r, char out[AGENTMSG_NAME_MAX + 1])
{
    uint8_t n = get8(r);
    const uint8_t *p = n <= AGENTMSG_NAME_MAX ? reader_take(r, n) : NULL;
    if (!p) {
        r->bad = true;
        return;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    if (strlen(out) != n) /* an embedded NUL */
        r->bad = true;
}

static void get_nat(reader_t *r, agentmsg_nat_t *nat)
{
    nat->mapping = get8(r);
    nat->step = (int16_t)get16(r);
    nat->last_port = get16(r);
    if (nat->mapping > AGENTMSG_MAPPING_NO_UDP)
        r->bad = true;
}

static void get_candidates(reader_t *r, agentmsg_t *m)
{
    m->n_candidates = get8(r);
    if (m->n_candidates > AGENTMSG_CANDIDATES_MAX) {
        r->bad = true;
        return;
    }
    for (unsigned i = 0; i < m->n_candidates; i++) {
        m->candidates[i].type = get8(r);
        m->candidates[i].endpoint = get_endpoint(r);
    }
}

static void get_payload(reader_t *r, agentmsg_t *m, size_t max)
{
    uint16_t n = get16(r);
    if (n > max) {
        r->bad = true;
        return;
    }
    m->payload = reader_take(r, n);
    m->payload_len = m->payload ? n : 0;
}

/* HMAC-SHA256 of data under key (GHmac wants a key pointer even when empty). */
static void hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
                        uint8_t digest[32])
{
    static const uint8_t empty = 0;
    GHmac *hmac = g_hmac_new(G_CHECKSUM_SHA256, key_len ? key : &empty, key_len);
    g_hmac_update(hmac, data, (gssize)len);
    gsize digest_len = 32;
    g_hmac_get_digest(hmac, digest, &digest_len);
    g_hmac_unref(hmac);
}

static void tag_compute(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
                        uint8_t out[AGENTMSG_TAG_SIZE])
{
    uint8_t digest[32];
    hmac_sha256(key, key_len, data, len, digest);
    memcpy(out, digest, AGENTMSG_TAG_SIZE);
}

void agentmsg_retag(uint8_t *msg, size_t len, const uint8_t *key, size_t key_len)
{
    if (len >= AGENTMSG_TAG_SIZE)
        tag_compute(key, key_len, msg, len - AGENTMSG_TAG_SIZE, msg + len - AGENTMSG_TAG_SIZE);
}

static bool type_known(uint8_t type)
{
    return (type >= AGENTMSG_REGISTER && type <= AGENTMSG_RELAY) ||
           (type >= AGENTMSG_PROBE && type <= AGENTMSG_TCP_PUNCH);
}

size_t agentmsg_write(const agentmsg_t *m, const uint8_t *key, size_t key_len, uint8_t *out,
                      size_t cap)
{
    if (!type_known(m->type))
        return 0;
    if ((m->type == AGENTMSG_PROBE || m->type == AGENTMSG_PROBE_ACK) &&
        m->technique >= AGENTMSG_TECHNIQUE_COUNT)
        return 0;
    if (m->type == AGENTMSG_TCP_PUNCH &&
        (m->phase < AGENTMSG_TCP_OFFER || m->phase > AGENTMSG_TCP_ABANDON ||
         m->tcp_mapping > AGENTMSG_TCP_MAPPING_RESTRICTED))
        return 0;
    writer_t w = { .p = out, .cap = cap };
    put8(&w, AGENTMSG_MAGIC);
    put8(&w, AGENTMSG_VERSION);
    put8(&w, m->type);
    put8(&w, m->flags);
    put64(&w, m->counter);
    put64(&w, m->session);
    switch (m->type) {
    case AGENTMSG_REGISTER:
        put_name(&w, m->name);
        put_nat(&w, &m->nat);
        put_candidates(&w, m);
        break;
    case AGENTMSG_REGISTERED:
        put_endpoint(&w, m->endpoint);
        put16(&w, m->lifetime_s);
        break;
    case AGENTMSG_CONNECT:
        put_name(&w, m->name);
        break;
    case AGENTMSG_PEER:
        put_name(&w, m->name);
        put8(&w, m->role);
        put_nat(&w, &m->nat);
        put_endpoint(&w, m->endpoint);
        put_candidates(&w, m);
        put_bytes(&w, m->key, AGENTMSG_KEY_SIZE);
        break;
    case AGENTMSG_ERROR:
        put8(&w, m->code);
        put_payload(&w, m, 255);
        break;
    case AGENTMSG_RELAY:
        put_payload(&w, m, AGENTMSG_RELAY_PAYLOAD_MAX);
        break;
    case AGENTMSG_PROBE:
        put8(&w, m->technique);
        put16(&w, m->socket);
        put_endpoint(&w, m->endpoint);
        put64(&w, m->timestamp);
        break;
    case AGENTMSG_PROBE_ACK:
        put8(&w, m->technique);
        put64(&w, m->echo_counter);
        put64(&w, m->timestamp);
        put_endpoint(&w, m->endpoint);
        break;
    case AGENTMSG_DATA:
        put32(&w, m->seq);
        put_payload(&w, m, AGENTMSG_PAYLOAD_MAX);
        break;
    case AGENTMSG_DATA_ACK:
        put32(&w, m->seq);
        break;
    case AGENTMSG_ANNOUNCE:
        put_endpoint(&w, m->endpoint);
        break;
    case AGENTMSG_BYE:
        break;
    case AGENTMSG_TCP_PUNCH:
        put8(&w, m->phase);
        put8(&w, m->attempt);
        put8(&w, m->tcp_mapping);
        put_endpoint(&w, m->endpoint);
        put64(&w, m->timestamp);
        put64(&w, m->echo_timestamp);
        put32(&w, m->hold_us);
        break;
    }
    uint8_t *tag = writer_take(&w, AGENTMSG_TAG_SIZE);
    if (w.overflow || !tag)
        return 0;
    tag_compute(key, key_len, out, w.len - AGENTMSG_TAG_SIZE, tag);
    return w.len;
}

bool agentmsg_claims(const uint8_t *data, size_t len)
{
    return len > 0 && data[0] == AGENTMSG_MAGIC;
}

bool agentmsg_peek(const uint8_t *data, size_t len, uint8_t *type, uint64_t *session)
{
    if (len < AGENTMSG_HEADER_SIZE + AGENTMSG_TAG_SIZE || data[0] != AGENTMSG_MAGIC ||
        data[1] != AGENTMSG_VERSION)
        return false;
    *type = data[2];
    *session = (uint64_t)wire_get32(data + 12) << 32 | wire_get32(data + 16);
    return true;
}

enum agentmsg_read_result agentmsg_read(const uint8_t *data, size_t len, const uint8_t *key,
                                        size_t key_len, agentmsg_t *m)
{
    memset(m, 0, sizeof *m);
    if (len < AGENTMSG_HEADER_SIZE + AGENTMSG_TAG_SIZE)
        return AGENTMSG_ERR_SHORT;
    if (data[0] != AGENTMSG_MAGIC)
        return AGENTMSG_ERR_MAGIC;
    if (data[1] != AGENTMSG_VERSION)
        return AGENTMSG_ERR_VERSION;
    if (!type_known(data[2]))
        return AGENTMSG_ERR_TYPE;
    size_t body_end = len - AGENTMSG_TAG_SIZE;
    reader_t r = { .p = data, .len = body_end, .pos = 4 };
    m->type = data[2];
    m->flags = data[3];
    m->counter = get64(&r);
    m->session = get64(&r);
    switch (m->type) {
    case AGENTMSG_REGISTER:
        get_name(&r, m->name);
        get_nat(&r, &m->nat);
        get_candidates(&r, m);
        break;
    case AGENTMSG_REGISTERED:
        m->endpoint = get_endpoint(&r);
        m->lifetime_s = get16(&r);
        break;
    case AGENTMSG_CONNECT:
        get_name(&r, m->name);
        break;
    case AGENTMSG_PEER: {
        get_name(&r, m->name);
        m->role = get8(&r);
        get_nat(&r, &m->nat);
        m->endpoint = get_endpoint(&r);
        get_candidates(&r, m);
        const uint8_t *k = reader_take(&r, AGENTMSG_KEY_SIZE);
        if (k)
            memcpy(m->key, k, AGENTMSG_KEY_SIZE);
        break;
    }
    case AGENTMSG_ERROR:
        m->code = get8(&r);
        get_payload(&r, m, 255);
        break;
    case AGENTMSG_RELAY:
        get_payload(&r, m, AGENTMSG_RELAY_PAYLOAD_MAX);
        break;
    case AGENTMSG_PROBE:
        m->technique = get8(&r);
        m->socket = get16(&r);
        m->endpoint = get_endpoint(&r);
        m->timestamp = get64(&r);
        break;
    case AGENTMSG_PROBE_ACK:
        m->technique = get8(&r);
        m->echo_counter = get64(&r);
        m->timestamp = get64(&r);
        m->endpoint = get_endpoint(&r);
        break;
    case AGENTMSG_DATA:
        m->seq = get32(&r);
        get_payload(&r, m, AGENTMSG_PAYLOAD_MAX);
        break;
    case AGENTMSG_DATA_ACK:
        m->seq = get32(&r);
        break;
    case AGENTMSG_ANNOUNCE:
        m->endpoint = get_endpoint(&r);
        break;
    case AGENTMSG_TCP_PUNCH:
        m->phase = get8(&r);
        m->attempt = get8(&r);
        m->tcp_mapping = get8(&r);
        m->endpoint = get_endpoint(&r);
        m->timestamp = get64(&r);
        m->echo_timestamp = get64(&r);
        m->hold_us = get32(&r);
        if (m->phase < AGENTMSG_TCP_OFFER || m->phase > AGENTMSG_TCP_ABANDON ||
            m->tcp_mapping > AGENTMSG_TCP_MAPPING_RESTRICTED)
            r.bad = true;
        break;
    }
    if (m->technique >= AGENTMSG_TECHNIQUE_COUNT)
        r.bad = true;
    if (r.bad || r.pos != body_end) {
        memset(m, 0, sizeof *m);
        return AGENTMSG_ERR_BODY;
    }
    uint8_t tag[AGENTMSG_TAG_SIZE];
    tag_compute(key, key_len, data, body_end, tag);
    uint8_t diff = 0;
    for (unsigned i = 0; i < AGENTMSG_TAG_SIZE; i++)
        diff |= (uint8_t)(tag[i] ^ data[body_end + i]);
    if (diff) {
        memset(m, 0, sizeof *m);
        return AGENTMSG_ERR_AUTH;
    }
    return AGENTMSG_OK;
}

void agentmsg_session_key(const uint8_t *secret, size_t secret_len, uint64_t session,
                          uint8_t out[AGENTMSG_KEY_SIZE])
{
    uint8_t label[22] = "natlab-session";
    for (unsigned i = 0; i < 8; i++)
        label[14 + i] = (uint8_t)(session >> (56 - 8 * i));
    hmac_sha256(secret, secret_len, label, sizeof label, out);
}

bool agentmsg_replay_accept(agentmsg_replay_t *w, uint64_t counter)
{
    if (counter == 0)
        return false;
    if (counter > w->newest) {
        uint64_t shift = counter - w->newest;
        w->seen = shift >= 64 ? 0 : w->seen << shift;
        w->seen |= 1;
        w->newest = counter;
        return true;
    }
    uint64_t behind = w->newest - counter;
    if (behind >= 64 || (w->seen >> behind & 1))
        return false;
    w->seen |= UINT64_C(1) << behind;
    return true;
}

const char *agentmsg_read_result_name(enum agentmsg_read_result r)
{
    static const char *const names[AGENTMSG_ERR_COUNT] = {
        [AGENTMSG_OK] = "ok",           [AGENTMSG_ERR_SHORT] = "short",
        [AGENTMSG_ERR_MAGIC] = "magic", [AGENTMSG_ERR_VERSION] = "version",
        [AGENTMSG_ERR_TYPE] = "type",   [AGENTMSG_ERR_BODY] = "body",
        [AGENTMSG_ERR_AUTH] = "auth",
    };
    return (unsigned)r < AGENTMSG_ERR_COUNT ? names[r] : "?";
}

const char *agentmsg_technique_name(uint8_t t)
{
    static const char *const names[AGENTMSG_TECHNIQUE_COUNT] = {
        "none", "punch", "predicted", "birthday", "port-mapped", "lan", "hairpin", "peer-reflexive",
        "tcp-punch",
    };
    return t < AGENTMSG_TECHNIQUE_COUNT ? names[t] : "?";
}

const char *agentmsg_mapping_name(uint8_t mapping)
{
    switch (mapping) {
    case AGENTMSG_MAPPING_INDEPENDENT: return "endpoint-independent";
    case AGENTMSG_MAPPING_SEQUENTIAL: return "endpoint-dependent-sequential";
    case AGENTMSG_MAPPING_RANDOM: return "endpoint-dependent-random";
    case AGENTMSG_MAPPING_NO_UDP: return "no-udp";
    default: return "unknown";
    }
}
