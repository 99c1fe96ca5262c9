/* Fuzzes the TURN side of the agent: the message codec (common/turnmsg:
 * STUN with TURN attributes, MESSAGE-INTEGRITY, ChannelData, the TCP
 * framing) and the client core (agent/turn) fed what a server might send,
 * before and after an allocation, over UDP datagrams and a TCP stream split
 * where the first byte says. Nothing may crash, leak or loop.
 * Input: [flags:1][split:1][bytes] (flags bit 0: TCP, bit 1: allocate first) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/turn.h"
#include "common/turnmsg.h"

static uint8_t key[TURN_KEY_SIZE];

/* Answers the client's pending request as a server would (challenge, then
 * success), so the fuzzed bytes meet a ready client. */
static void answer(turn_t *t, uint16_t cls, bool challenge)
{
    uint8_t buf[2048];
    size_t n;
    turnmsg_t req, r = { 0 };
    const char *why;
    while (turn_pop_output(t, buf, sizeof buf, &n))
        if (turnmsg_read(buf, n, NULL, &req, &why) && req.msg_class == STUN_CLASS_REQUEST)
            break;
    r.method = req.method;
    r.msg_class = cls;
    memcpy(r.transaction_id, req.transaction_id, sizeof r.transaction_id);
    if (challenge) {
        r.has = TURNMSG_HAS_ERROR | TURNMSG_HAS_REALM | TURNMSG_HAS_NONCE;
        r.error_code = 401;
        strcpy(r.realm, "natlab");
        strcpy(r.nonce, "nonce");
    } else {
        r.has = TURNMSG_HAS_RELAYED | TURNMSG_HAS_LIFETIME;
        r.relayed = addr_endpoint(ADDR_IP(198, 18, 0, 10), 49152);
        r.lifetime_s = 600;
    }
    n = turnmsg_write(&r, challenge ? NULL : key, buf, sizeof buf);
    turn_receive(t, buf, n, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bool tcp = data[0] & 1, allocate = data[0] & 2;
    size_t split = data[1];
    data += 2;
    size -= 2;
    turnmsg_key("natlab", "natlab", "secret", key);
    turnmsg_t m;
    const char *why;
    turnmsg_read(data, size, NULL, &m, &why);
    turnmsg_read(data, size, key, &m, &why);
    uint16_t ch;
    const uint8_t *p;
    size_t plen;
    turnmsg_read_channel_data(data, size, &ch, &p, &plen);
    turnmsg_frame_length(data, size, 1600);

    turn_config_t c = { .server = addr_endpoint(ADDR_IP(198, 18, 0, 10), 3478),
                        .username = "natlab", .password = "secret", .tcp = tcp, .seed = 1 };
    turn_t *t = turn_new(&c, 0);
    if (allocate) {
        answer(t, STUN_CLASS_ERROR, true);
        answer(t, STUN_CLASS_SUCCESS, false);
        turn_send(t, addr_endpoint(ADDR_IP(198, 18, 2, 1), 5000), (const uint8_t *)"x", 1, 1);
    }
    if (tcp && split < size) {
        turn_receive(t, data, split, 2);
        turn_receive(t, data + split, size - split, 3);
    } else {
        turn_receive(t, data, size, 2);
    }
    for (usec_t now = 0; now < 700 * USEC_PER_SEC; now += 60 * USEC_PER_SEC)
        turn_bookkeeping(t, now);
    uint8_t buf[2048];
    size_t n;
    addr_endpoint_t from;
    while (turn_pop_output(t, buf, sizeof buf, &n))
        ;
    while (turn_pop_data(t, &from, buf, sizeof buf, &n))
        ;
    turn_free(t);
    return 0;
}
