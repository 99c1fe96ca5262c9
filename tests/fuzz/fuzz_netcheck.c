/* Fuzzes the netcheck core with an adversarial network: every datagram it
 * sends meets one input byte that drops it, has the STUN server core answer
 * it (as if through a NAT at 198.18.0.1), answers with corrupted bytes, from
 * the wrong source or to the wrong socket, reports it unreachable, sends it
 * back to a socket of ours, or injects raw input bytes. The core must not
 * crash, must finish, and its three reports must be producible.
 * Input: byte 0 picks the lifetime bound; the rest drives the network. */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netcheck/netcheck.h"
#include "netcheck/netcheck_report.h"
#include "server/stun_server.h"
#include "natsim/nat_profile.h"

#define SERVER ADDR_IP(198, 18, 0, 10)
#define SERVER_ALT ADDR_IP(198, 18, 0, 11)
#define PUBLIC ADDR_IP(198, 18, 0, 1)
#define HOST ADDR_IP(10, 0, 0, 2)
#define GATEWAY ADDR_IP(10, 0, 0, 1)

typedef struct input {
    const uint8_t *data;
    size_t size, off;
} input_t;

static uint8_t next(input_t *in)
{
    return in->off < in->size ? in->data[in->off++] : 0;
}

static stun_server_t *server;

static unsigned socket_of(netcheck_t *nc, uint16_t port)
{
    unsigned n = netcheck_socket_count(nc);
    for (unsigned i = 0; i < n; i++)
        if ((uint16_t)(40000 + i) == port)
            return i;
    return n; /* none */
}

static void answer(netcheck_t *nc, input_t *in, const netcheck_send_t *s, usec_t now, uint8_t how)
{
    unsigned n = netcheck_socket_count(nc);
    addr_endpoint_t ext = addr_endpoint(PUBLIC, (uint16_t)(40000 + s->socket + (how & 0x10 ? 7 : 0)));
    for (unsigned i = 0; i < stun_server_socket_count(server); i++) {
        if (!addr_endpoint_equal(stun_server_socket_endpoint(server, i), s->to))
            continue;
        uint8_t out[STUN_MAX_MESSAGE];
        stun_server_reply_t r = stun_server_handle(server, i, ext, s->data, s->len, out, sizeof out);
        if (r.len == 0)
            return;
        if ((how & 7) == 4) /* corrupt a few bytes */
            for (int k = 0; k < 4 && r.len; k++)
                out[next(in) % r.len] ^= next(in);
        addr_endpoint_t from = stun_server_socket_endpoint(server, r.socket);
        if ((how & 7) == 5)
            from.port ^= 1;
        unsigned to = socket_of(nc, r.to.port);
        if ((how & 7) == 6 || to >= n)
            to = next(in) % n;
        netcheck_receive(nc, to, from, out, r.len, now);
        return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!server) {
        stun_server_config_t c = { .address = SERVER, .alt_address = SERVER_ALT, .port = 3478,
                                   .alt_port = 3479 };
        server = stun_server_new(&c);
    }
    input_t in = { data, size, 0 };
    uint8_t mode = next(&in);
    netcheck_config_t cfg = { .server = addr_endpoint(SERVER, 3478),
                              .gateway = mode & 1 ? GATEWAY : 0,
                              .lifetime_max = mode & 2 ? 4 * USEC_PER_SEC : 0,
                              .seed = 1 };
    usec_t now = 1000 * USEC_PER_SEC;
    netcheck_t *nc = netcheck_new(&cfg, now);
    unsigned n = netcheck_socket_count(nc);
    for (unsigned i = 0; i < n; i++)
        netcheck_set_local(nc, i, addr_endpoint(HOST, (uint16_t)(40000 + i)));

    for (int round = 0; round < 20000 && !netcheck_done(nc); round++) {
        usec_t deadline = netcheck_bookkeeping(nc, now);
        netcheck_send_t s;
        while (netcheck_pop_send(nc, &s)) {
            if (s.socket >= n || s.len == 0 || s.len > sizeof s.data)
                abort();
            uint8_t how = next(&in);
            switch (how & 7) {
            case 0:
                break; /* lost */
            case 1:
            case 2:
            case 3:
            case 4:
            case 5:
            case 6:
                answer(nc, &in, &s, now, how);
                break;
            case 7:
                if (how & 0x80) {
                    netcheck_unreachable(nc, s.socket, s.to, now);
                } else if (how & 0x40) {
                    /* The request itself arrives on one of our sockets (a hairpin). */
                    netcheck_receive(nc, next(&in) % n, addr_endpoint(PUBLIC, 1), s.data, s.len, now);
                } else {
                    uint8_t junk[64];
                    size_t len = next(&in) % sizeof junk;
                    for (size_t k = 0; k < len; k++)
                        junk[k] = next(&in);
                    netcheck_receive(nc, next(&in) % n, addr_endpoint(GATEWAY, 5351), junk, len, now);
                }
                break;
            }
        }
        if (netcheck_done(nc))
            break;
        if (deadline == NETCHECK_NEVER)
            abort(); /* not done, nothing to wait for: stuck */
        now = deadline > now ? deadline : now + 1;
    }
    if (!netcheck_done(nc))
        abort();
    const netcheck_result_t *r = netcheck_result(nc);
    char *text = netcheck_report_text(r);
    char *profile = netcheck_report_profile(r, NULL);
    JsonNode *json = netcheck_report_json(r);
    /* Whatever was measured, the profile written must load. */
    if (r->known & NETCHECK_KNOWN_TYPE) {
        nat_profile_t *p = nat_profile_load_data(profile, strlen(profile), "fuzz", NULL);
        if (!p)
            abort();
        nat_profile_free(p);
    }
    g_free(text);
    g_free(profile);
    json_node_unref(json);
    netcheck_free(nc);
    return 0;
}
