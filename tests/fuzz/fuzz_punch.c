/* Fuzzes the agent's core with a conversation: datagrams from the server,
 * two peer endpoints and the gateway into one connecting agent, with time
 * passing and the application sending between them. Transaction ids, tags
 * and session ids cannot be guessed, so a record may ask the harness to
 * patch them in: a STUN answer gets the id of the agent's last Binding
 * request, an agentmsg the next counter, the session of the last PEER the
 * harness let through, and a correct tag (the server's empty key, or that
 * session's key). Every output must be sane: a datagram to a socket that
 * exists, never larger than AGENTMSG_MAX_SIZE, to a real endpoint.
 *
 * Record: op (bits 0-1 sender: server, peer X, gateway, peer Y; bit 2 on
 * the discovery socket; 3 patch counter; 4 patch session; 5 re-tag; 6 run
 * bookkeeping first; 7 the application sends a message), dt (time advances
 * by dt^2 ms), a 16-bit length, the datagram.
 *
 * TCP punching: bit 2 with sender peer Y is instead bytes on a TCP
 * connection (the listener's first accept, or the last connect the core
 * asked for once it is up), an agentmsg framed as agent/tcppunch frames
 * it; with peer X the last connect completes, with the gateway it breaks. */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/punch.h"
#include "common/agentframe.h"
#include "common/stun.h"
#include "common/wire.h"

#define OP_DISCOVERY 0x04
#define OP_PATCH_COUNTER 0x08
#define OP_PATCH_SESSION 0x10
#define OP_RETAG 0x20
#define OP_BOOKKEEPING 0x40
#define OP_SEND 0x80

#define SERVER ADDR_IP(198, 19, 1, 1)
#define GATEWAY ADDR_IP(10, 0, 0, 1)

static const addr_endpoint_t senders[4] = {
    { SERVER, 3478 },
    { ADDR_IP(198, 18, 2, 1), 5000 },
    { GATEWAY, PUNCH_PORTMAP_PORT },
    { ADDR_IP(10, 0, 0, 3), 40001 },
};

typedef struct harness {
    uint8_t stun_id[STUN_TRANSACTION_ID_SIZE];
    uint64_t session;
    uint8_t key[AGENTMSG_KEY_SIZE];
    unsigned sockets;
    unsigned tcp_pending, tcp_id; /* the last TCP connect asked for; the connection fed */
} harness_t;

static void put64(uint8_t *p, uint64_t v)
{
    wire_put32(p, (uint32_t)(v >> 32));
    wire_put32(p + 4, (uint32_t)v);
}


static void drain(punch_t *p, harness_t *h)
{
    static punch_output_t o;
    while (punch_pop_output(p, &o)) {
        switch (o.kind) {
        case PUNCH_OUT_SEND:
            if (o.socket >= h->sockets || o.len == 0 || o.len > AGENTMSG_MAX_SIZE || !o.to.port)
                abort();
            if (o.len >= STUN_HEADER_SIZE && o.data[0] < 4)
                memcpy(h->stun_id, o.data + 8, STUN_TRANSACTION_ID_SIZE);
            break;
        case PUNCH_OUT_OPEN_SOCKETS:
            h->sockets = MAX(h->sockets, PUNCH_SOCKET_BIRTHDAY + o.count);
            break;
        case PUNCH_OUT_DELIVER:
            if (o.len > AGENTMSG_PAYLOAD_MAX)
                abort();
            break;
        case PUNCH_OUT_HTTP: /* a UPnP request to the gateway: fuzz_upnpc covers its answers */
            if (o.len == 0)
                abort();
            break;
        case PUNCH_OUT_TURN: /* TURN is off here: fuzz_turn covers the client */
            abort();
        case PUNCH_OUT_STREAM_CONNECT: /* natlab server over TCP: fuzz_agentframe covers frames */
            if (!o.to.port)
                abort();
            break;
        case PUNCH_OUT_STREAM_SEND:
            if (o.len == 0)
                abort();
            break;
        case PUNCH_OUT_STREAM_CLOSE:
            break;
        case PUNCH_OUT_TCP_CONNECT:
            if (!o.id || !o.to.port)
                abort();
            h->tcp_pending = o.id;
            break;
        case PUNCH_OUT_TCP_SEND:
            if (o.len == 0 || o.len > AGENTFRAME_MAX_SIZE || !o.id)
                abort();
            break;
        case PUNCH_OUT_TCP_CLOSE:
            if (o.id == h->tcp_id)
                h->tcp_id = 0;
            break;
        case PUNCH_OUT_EVENT:
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    punch_config_t c;
    punch_config_init(&c);
    c.name = "alice";
    c.peer = "bob";
    c.server = senders[0];
    c.gateway = GATEWAY;
    c.local = addr_endpoint(ADDR_IP(10, 0, 0, 2), 40000);
    c.broadcast_address = ADDR_IP(10, 0, 0, 255);
    c.birthday_sockets = 8;
    c.birthday_probes = 16;
    c.seed = 1;
    c.tcp_punch_port = 40500;
    usec_t now = 1000 * USEC_PER_SEC;
    punch_t *p = punch_new(&c, now);
    harness_t h = { .sockets = PUNCH_SOCKET_BIRTHDAY };
    uint64_t counter = 0;
    drain(p, &h);
    size_t off = 0;
    while (off + 4 <= size) {
        uint8_t op = data[off], dt = data[off + 1];
        size_t len = MIN(wire_get16(data + off + 2), size - off - 4);
        off += 4;
        now += (usec_t)dt * dt * USEC_PER_MSEC;
        /* An exact-size copy, so a read past the end is caught. */
        uint8_t *dgram = malloc(len ? len : 1);
        if (len)
            memcpy(dgram, data + off, len);
        off += len;
        addr_endpoint_t from = senders[op & 3];
        if (len >= STUN_HEADER_SIZE && dgram[0] < 4)
            memcpy(dgram + 8, h.stun_id, STUN_TRANSACTION_ID_SIZE);
        if (len >= AGENTMSG_HEADER_SIZE + AGENTMSG_TAG_SIZE && dgram[0] == AGENTMSG_MAGIC) {
            if (op & OP_PATCH_COUNTER)
                put64(dgram + 4, ++counter);
            if (op & OP_PATCH_SESSION)
                put64(dgram + 12, h.session);
            if (op & OP_RETAG) {
                bool to_server_key = (op & 3) == 0 && dgram[2] < AGENTMSG_PROBE;
                agentmsg_retag(dgram, len, to_server_key ? NULL : h.key, to_server_key ? 0 : sizeof h.key);
            }
            agentmsg_t m;
            if ((op & 3) == 0 && agentmsg_read(dgram, len, NULL, 0, &m) == AGENTMSG_OK &&
                m.type == AGENTMSG_PEER) {
                h.session = m.session;
                if (m.flags & AGENTMSG_FLAG_KEY_DERIVED)
                    agentmsg_session_key(NULL, 0, m.session, h.key);
                else
                    memcpy(h.key, m.key, sizeof h.key);
            }
        }
        if (op & OP_BOOKKEEPING) {
            punch_bookkeeping(p, now);
            drain(p, &h);
        }
        if ((op & OP_DISCOVERY) && (op & 3) == 3) {
            if (!h.tcp_id)
                h.tcp_id = punch_tcp_accepted(p, from, now);
            drain(p, &h);
            if (h.tcp_id) {
                uint8_t frame[AGENTFRAME_MAX_SIZE];
                size_t n = dgram[0] == AGENTMSG_MAGIC ? agentframe_write(dgram, len, frame, sizeof frame) : 0;
                if (n)
                    punch_tcp_receive(p, h.tcp_id, frame, n, now);
                else
                    punch_tcp_receive(p, h.tcp_id, dgram, len, now);
            }
        } else if ((op & OP_DISCOVERY) && (op & 3) != 0 && h.tcp_pending) {
            unsigned id = h.tcp_pending;
            h.tcp_pending = 0;
            if ((op & 3) == 1) {
                punch_tcp_connected(p, id, now);
                h.tcp_id = id;
            } else {
                punch_tcp_broken(p, id, "fuzz", now);
            }
        } else {
            unsigned socket = op & OP_DISCOVERY ? PUNCH_SOCKET_DISCOVERY : PUNCH_SOCKET_PRIMARY;
            punch_receive(p, socket, from, dgram, len, now);
        }
        drain(p, &h);
        if (op & OP_SEND) {
            static const uint8_t msg[] = "fuzz";
            punch_send(p, msg, sizeof msg, now);
            drain(p, &h);
        }
        free(dgram);
    }
    punch_bookkeeping(p, now + 60 * USEC_PER_SEC);
    drain(p, &h);
    punch_free(p);
    return 0;
}
