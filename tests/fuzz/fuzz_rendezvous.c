/* Fuzzes the rendezvous core with a conversation: a sequence of datagrams
 * from four endpoints (two ports of one agent host, a second host, a
 * stranger) into one core, with time passing between them. Tags and
 * session ids cannot be guessed, so a record may ask the harness to patch
 * in the next counter (one for all senders, as if each agent's counter
 * rose), the session of the last PEER the sender received,
 * and a correct tag. Every answer must parse, go to one of the four, leave
 * by a socket that exists, and never be larger than allowed (a RELAY never
 * larger than what came in); the server's counter only grows. Sockets 2
 * and 3 are TCP connections (first_stream_socket 2), each its own
 * transport: a sender on one is not the same client as on UDP; an empty
 * record from the stranger on one of them closes it.
 *
 * Record: op (bits 0-1 sender, 2-3 socket, 4 patch counter, 5 patch
 * session, 6 run rendezvous_expire first, 7 re-tag), dt (time advances by
 * dt^2 * 10 ms), a 16-bit length, the datagram. */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/rendezvous.h"
#include "common/wire.h"

#define SENDERS 4
#define OP_PATCH_COUNTER 0x10
#define OP_PATCH_SESSION 0x20
#define OP_EXPIRE 0x40
#define OP_RETAG 0x80
#define FIRST_STREAM 2

static const uint8_t secret[] = "fuzz secret";
#define SECRET_LEN (sizeof secret - 1)

static const addr_endpoint_t senders[SENDERS] = {
    { ADDR_IP(198, 18, 0, 1), 1000 }, { ADDR_IP(198, 18, 0, 1), 1001 },
    { ADDR_IP(198, 18, 0, 2), 1000 }, { ADDR_IP(203, 0, 113, 9), 7 },
};


static unsigned transport(unsigned socket)
{
    return socket >= FIRST_STREAM ? socket : 0;
}

static void put64(uint8_t *p, uint64_t v)
{
    wire_put32(p, (uint32_t)(v >> 32));
    wire_put32(p + 4, (uint32_t)v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rendezvous_config_t c = { .secret = secret, .secret_len = SECRET_LEN,
                              .registration_lifetime = 90 * USEC_PER_SEC,
                              .session_idle = 120 * USEC_PER_SEC, .relay_packets_per_s = 10,
                              .relay_bytes_per_s = 4000, .max_registrations = 3,
                              .first_stream_socket = FIRST_STREAM };
    rendezvous_t *r = rendezvous_new(&c, 1);
    static rendezvous_out_t out[RENDEZVOUS_OUT_MAX];
    uint64_t next_counter = 0, last_session[SENDERS] = { 0 }, server_counter = 0;
    usec_t now = 0;
    size_t off = 0;
    while (off + 4 <= size) {
        uint8_t op = data[off], dt = data[off + 1];
        size_t len = wire_get16(data + off + 2);
        off += 4;
        len = MIN(len, size - off);
        unsigned who = op & 3, socket = op >> 2 & 3;
        now += (usec_t)dt * dt * 10 * USEC_PER_MSEC;
        /* An exact-size copy, so a read past the end is caught. */
        uint8_t *dgram = malloc(len ? len : 1);
        if (len)
            memcpy(dgram, data + off, len);
        off += len;
        if (len >= AGENTMSG_HEADER_SIZE + AGENTMSG_TAG_SIZE) {
            if (op & OP_PATCH_COUNTER)
                put64(dgram + 4, ++next_counter);
            if (op & OP_PATCH_SESSION)
                put64(dgram + 12, last_session[who]);
            if (op & OP_RETAG)
                agentmsg_retag(dgram, len, secret, SECRET_LEN);
        }
        if ((op & OP_EXPIRE) && rendezvous_expire(r, now) <= now)
            abort();
        if (who == 3 && len == 0 && socket >= FIRST_STREAM)
            rendezvous_socket_closed(r, socket);
        agentmsg_t in;
        bool in_ok = agentmsg_read(dgram, len, secret, SECRET_LEN, &in) == AGENTMSG_OK;
        unsigned n = rendezvous_handle(r, socket, senders[who], dgram, len, now, out);
        if (n > RENDEZVOUS_OUT_MAX || (n && !in_ok))
            abort();
        for (unsigned i = 0; i < n; i++) {
            agentmsg_t m;
            if (out[i].len == 0 || out[i].len > AGENTMSG_MAX_SIZE || out[i].socket >= 4 ||
                agentmsg_read(out[i].data, out[i].len, secret, SECRET_LEN, &m) != AGENTMSG_OK ||
                m.counter <= server_counter)
                abort();
            server_counter = m.counter;
            unsigned to = SENDERS;
            for (unsigned k = 0; k < SENDERS; k++)
                if (addr_endpoint_equal(out[i].to, senders[k]))
                    to = k;
            if (to == SENDERS)
                abort();
            switch (m.type) {
            case AGENTMSG_REGISTERED:
                if (to != who || out[i].socket != socket || out[i].len > len ||
                    in.type != AGENTMSG_REGISTER)
                    abort();
                break;
            case AGENTMSG_ERROR: {
                /* To the sender; or, when an agent leaves, "no session" to
                 * the other member of each of its sessions. */
                bool leave_notice = in.type == AGENTMSG_REGISTER &&
                                    (in.flags & AGENTMSG_FLAG_LEAVING) &&
                                    m.code == AGENTMSG_ERROR_NO_SESSION && m.session != 0;
                if ((to != who && !leave_notice) ||
                    out[i].len > MAX(len, (size_t)RENDEZVOUS_ERROR_FLOOR))
                    abort();
                break;
            }
            case AGENTMSG_RELAY:
                if ((to == who && transport(out[i].socket) == transport(socket)) ||
                    out[i].len > len || in.type != AGENTMSG_RELAY ||
                    m.session != in.session || m.payload_len != in.payload_len)
                    abort();
                break;
            case AGENTMSG_PEER:
                if (m.session == 0 || !(m.flags & AGENTMSG_FLAG_KEY_DERIVED))
                    abort();
                last_session[to] = m.session;
                break;
            default:
                abort();
            }
        }
        free(dgram);
    }
    const rendezvous_stats_t *st = rendezvous_stats(r);
    if (rendezvous_registration_count(r) > c.max_registrations ||
        st->relayed_packets > st->sessions * 1000000)
        abort();
    rendezvous_free(r);
    return 0;
}
