/* Fuzzes the TCP stream splitter (common/agentframe): the stream after the
 * first byte is fed in chunks whose sizes come from that byte, and what
 * comes out must be what agentframe_parse finds walking the whole stream at
 * once: the same messages, in order, and the same end (more, or the same
 * error). Every message must be within its kind's bounds.
 * Input: one byte seeding the chunk sizes, then the stream. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/agentframe.h"

static void check_bounds(const agentframe_t *f)
{
    if (f->kind == AGENTFRAME_AGENTMSG &&
        (f->len < AGENTFRAME_MIN_LEN || f->len > AGENTMSG_MAX_SIZE || f->msg[0] != AGENTMSG_MAGIC ||
         f->consumed != f->len + AGENTFRAME_HEADER_SIZE))
        abort();
    if (f->kind == AGENTFRAME_STUN &&
        (f->len < 20 || f->len % 4 || f->len > AGENTFRAME_STUN_MAX || f->msg[0] > 1 ||
         f->consumed != f->len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint32_t seed = data[0] * 2654435761u + 1;
    const uint8_t *stream = data + 1;
    size_t len = size - 1;
    static agentframe_splitter_t sp;
    agentframe_splitter_init(&sp);
    size_t ref = 0, at = 0;
    enum agentframe_kind ref_end = AGENTFRAME_MORE;
    for (;;) {
        agentframe_t want;
        ref_end = agentframe_parse(stream + ref, len - ref, &want);
        if (ref_end != AGENTFRAME_AGENTMSG && ref_end != AGENTFRAME_STUN)
            break;
        check_bounds(&want);
        /* The splitter must yield it: push chunks until it does. */
        agentframe_t got;
        enum agentframe_kind k;
        while ((k = agentframe_splitter_next(&sp, &got)) == AGENTFRAME_MORE) {
            if (at >= len)
                abort(); /* the reference found a whole message in these bytes */
            seed = seed * 1103515245u + 12345u;
            size_t chunk = 1 + (seed >> 16) % 97;
            if (chunk > len - at)
                chunk = len - at;
            size_t took = agentframe_splitter_push(&sp, stream + at, chunk);
            if (took == 0)
                abort();
            at += took;
        }
        if (k != want.kind || got.len != want.len || memcmp(got.msg, want.msg, want.len) != 0)
            abort();
        ref += want.consumed;
    }
    /* The rest: the splitter must end the same way. */
    agentframe_t got;
    enum agentframe_kind k;
    while ((k = agentframe_splitter_next(&sp, &got)) == AGENTFRAME_MORE && at < len) {
        size_t took = agentframe_splitter_push(&sp, stream + at, len - at);
        if (took == 0)
            abort(); /* a message in progress always fits */
        at += took;
    }
    if (k != ref_end)
        abort();
    if (k == AGENTFRAME_MORE && agentframe_splitter_pending(&sp) != len - ref)
        abort();
    return 0;
}
