/* Fuzzes TCP punching's core (agent/tcppunch) with what the network and
 * the peer can say: offers, answers, SYNCs and ABANDONs with any fields,
 * connections that come up, break or are accepted in any order, any bytes
 * on any connection (a STUN answer gets the transaction id of the core's
 * last request patched in, so the mapping is reached), choices, resets and
 * time passing. Every output must be sane: connection ids in range, a
 * connect to a real endpoint, bytes within the output's room, event text.
 *
 * Record: op (bits 0-2 what: start, message, connected, broken, bytes,
 * accepted, chosen, reset), dt (time advances by dt^2 ms), a 16-bit length,
 * the data (message fields, or the connection id and then its bytes). */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tcppunch.h"
#include "common/stun.h"
#include "common/wire.h"

static uint8_t stun_id[STUN_TRANSACTION_ID_SIZE];

static void drain(tcppunch_t *t)
{
    static tcppunch_output_t o;
    while (tcppunch_pop_output(t, &o)) {
        switch (o.kind) {
        case TCPPUNCH_OUT_CONNECT:
            if (!o.id || o.id > TCPPUNCH_CONNS_MAX || !o.to.port || !o.to.ip)
                abort();
            break;
        case TCPPUNCH_OUT_SEND:
            if (!o.id || o.id > TCPPUNCH_CONNS_MAX || !o.len || o.len > sizeof o.data)
                abort();
            if (o.len >= STUN_HEADER_SIZE && o.data[0] < 4)
                memcpy(stun_id, o.data + 8, sizeof stun_id);
            break;
        case TCPPUNCH_OUT_CLOSE:
        case TCPPUNCH_OUT_UP:
        case TCPPUNCH_OUT_DOWN:
            if (!o.id || o.id > TCPPUNCH_CONNS_MAX)
                abort();
            break;
        case TCPPUNCH_OUT_FRAME:
            if (!o.id || o.len > sizeof o.data)
                abort();
            break;
        case TCPPUNCH_OUT_MESSAGE: {
            uint8_t buf[AGENTMSG_MAX_SIZE];
            if (!agentmsg_write(&o.message, (const uint8_t *)"k", 1, buf, sizeof buf))
                abort(); /* a message the codec refuses would never leave */
            break;
        }
        case TCPPUNCH_OUT_EVENT:
            if (!o.text || !o.text[0])
                abort();
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    tcppunch_config_t c = { .controlling = data[0] & 1, .local_port = 40000,
                            .local_ip = ADDR_IP(10, 0, 0, 2), .server_ip = ADDR_IP(198, 19, 1, 1),
                            .server_ports = { 3478, 443 }, .n_server_ports = 2, .seed = 1 };
    tcppunch_t *t = tcppunch_new(&c);
    usec_t now = 1000 * USEC_PER_SEC;
    size_t off = 1;
    while (off + 4 <= size) {
        uint8_t op = data[off], dt = data[off + 1];
        size_t len = MIN(wire_get16(data + off + 2), size - off - 4);
        off += 4;
        uint8_t *d = malloc(len ? len : 1); /* exact size: a read past the end is caught */
        if (len)
            memcpy(d, data + off, len);
        off += len;
        now += (usec_t)dt * dt * USEC_PER_MSEC;
        unsigned id = len ? d[0] % (TCPPUNCH_CONNS_MAX + 2) : 0;
        switch (op & 7) {
        case 0:
            tcppunch_start(t, now);
            break;
        case 1:
            if (len >= 16) {
                agentmsg_t m = { .type = AGENTMSG_TCP_PUNCH, .phase = d[0] % 6, .attempt = d[1],
                                 .tcp_mapping = d[2] % 6,
                                 .endpoint = addr_endpoint(wire_get32(d + 3), wire_get16(d + 7)),
                                 .timestamp = wire_get32(d + 9), .hold_us = wire_get32(d + 12) };
                m.echo_timestamp = d[15] & 1 ? 0 : m.timestamp;
                tcppunch_message(t, &m, now);
            }
            break;
        case 2:
            tcppunch_connected(t, id, now);
            break;
        case 3:
            tcppunch_broken(t, id, "fuzz", now);
            break;
        case 4:
            if (len > 1) {
                if (len >= 1 + STUN_HEADER_SIZE && d[1] < 4)
                    memcpy(d + 1 + 8, stun_id, sizeof stun_id);
                tcppunch_receive(t, id, d + 1, len - 1, now);
            }
            break;
        case 5:
            tcppunch_accepted(t, addr_endpoint(ADDR_IP(198, 18, 2, 1), (uint16_t)(op << 8 | dt)), now);
            break;
        case 6:
            tcppunch_chosen(t, id, now);
            break;
        case 7:
            tcppunch_reset(t);
            break;
        }
        drain(t);
        if (op & 0x80) {
            tcppunch_bookkeeping(t, now);
            drain(t);
        }
        free(d);
    }
    tcppunch_bookkeeping(t, now + 60 * USEC_PER_SEC);
    drain(t);
    tcppunch_free(t);
    return 0;
}
