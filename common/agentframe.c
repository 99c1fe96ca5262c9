#include "agentframe.h"

#include <string.h>

#include "common/wire.h"

#define STUN_HEADER 20

const char *agentframe_kind_name(enum agentframe_kind kind)
{
    switch (kind) {
    case AGENTFRAME_MORE: return "more";
    case AGENTFRAME_AGENTMSG: return "agentmsg";
    case AGENTFRAME_STUN: return "stun";
    case AGENTFRAME_ERR_GARBAGE: return "garbage";
    case AGENTFRAME_ERR_OVERSIZED: return "oversized";
    }
    return "?";
}

static enum agentframe_kind whole(agentframe_t *out, enum agentframe_kind kind, const uint8_t *msg,
                                  size_t len, size_t consumed)
{
    *out = (agentframe_t){ kind, msg, len, consumed };
    return kind;
}

static enum agentframe_kind parse_frame(const uint8_t *data, size_t len, agentframe_t *out)
{
    if (len >= 2 && data[1] != 0x00)
        return whole(out, AGENTFRAME_ERR_GARBAGE, NULL, 0, 0);
    if (len < AGENTFRAME_HEADER_SIZE)
        return whole(out, AGENTFRAME_MORE, NULL, 0, 0);
    size_t body = wire_get16(data + 2);
    if (body > AGENTMSG_MAX_SIZE)
        return whole(out, AGENTFRAME_ERR_OVERSIZED, NULL, 0, 0);
    if (body < AGENTFRAME_MIN_LEN ||
        (len > AGENTFRAME_HEADER_SIZE && data[AGENTFRAME_HEADER_SIZE] != AGENTMSG_MAGIC))
        return whole(out, AGENTFRAME_ERR_GARBAGE, NULL, 0, 0);
    if (len < AGENTFRAME_HEADER_SIZE + body)
        return whole(out, AGENTFRAME_MORE, NULL, 0, 0);
    return whole(out, AGENTFRAME_AGENTMSG, data + AGENTFRAME_HEADER_SIZE, body,
                 AGENTFRAME_HEADER_SIZE + body);
}

/* RFC 8489 section 6.2.2: the length in the header says where it ends. */
static enum agentframe_kind parse_stun(const uint8_t *data, size_t len, agentframe_t *out)
{
    if (len < 4)
        return whole(out, AGENTFRAME_MORE, NULL, 0, 0);
    size_t body = wire_get16(data + 2);
    if (body % 4 != 0)
        return whole(out, AGENTFRAME_ERR_GARBAGE, NULL, 0, 0);
    if (STUN_HEADER + body > AGENTFRAME_STUN_MAX)
        return whole(out, AGENTFRAME_ERR_OVERSIZED, NULL, 0, 0);
    if (len < STUN_HEADER + body)
        return whole(out, AGENTFRAME_MORE, NULL, 0, 0);
    return whole(out, AGENTFRAME_STUN, data, STUN_HEADER + body, STUN_HEADER + body);
}

enum agentframe_kind agentframe_parse(const uint8_t *data, size_t len, agentframe_t *out)
{
    if (len == 0)
        return whole(out, AGENTFRAME_MORE, NULL, 0, 0);
    if (data[0] == AGENTFRAME_MAGIC)
        return parse_frame(data, len, out);
    if (data[0] == 0x00 || data[0] == 0x01)
        return parse_stun(data, len, out);
    return whole(out, AGENTFRAME_ERR_GARBAGE, NULL, 0, 0);
}

size_t agentframe_write(const uint8_t *msg, size_t len, uint8_t *out, size_t cap)
{
    if (len < AGENTFRAME_MIN_LEN || len > AGENTMSG_MAX_SIZE || AGENTFRAME_HEADER_SIZE + len > cap)
        return 0;
    out[0] = AGENTFRAME_MAGIC;
    out[1] = 0x00;
    wire_put16(out + 2, (uint16_t)len);
    memmove(out + AGENTFRAME_HEADER_SIZE, msg, len);
    return AGENTFRAME_HEADER_SIZE + len;
}

void agentframe_splitter_init(agentframe_splitter_t *s)
{
    s->start = s->used = 0;
    s->error = AGENTFRAME_MORE;
}

size_t agentframe_splitter_push(agentframe_splitter_t *s, const uint8_t *data, size_t len)
{
    if (s->error != AGENTFRAME_MORE)
        return 0;
    if (s->start > 0 && len > sizeof s->buf - s->used) {
        memmove(s->buf, s->buf + s->start, s->used - s->start);
        s->used -= s->start;
        s->start = 0;
    }
    size_t n = len < sizeof s->buf - s->used ? len : sizeof s->buf - s->used;
    memcpy(s->buf + s->used, data, n);
    s->used += n;
    return n;
}

enum agentframe_kind agentframe_splitter_next(agentframe_splitter_t *s, agentframe_t *out)
{
    if (s->error != AGENTFRAME_MORE)
        return whole(out, s->error, NULL, 0, 0);
    enum agentframe_kind k = agentframe_parse(s->buf + s->start, s->used - s->start, out);
    if (k == AGENTFRAME_AGENTMSG || k == AGENTFRAME_STUN)
        s->start += out->consumed;
    else if (k != AGENTFRAME_MORE)
        s->error = k;
    if (s->start == s->used)
        s->start = s->used = 0; /* out->msg stays valid: nothing is moved until a push */
    return k;
}

size_t agentframe_splitter_pending(const agentframe_splitter_t *s)
{
    return s->used - s->start;
}
