#include "sim/simnet.h"

#include <glib.h>
#include <string.h>

#include "common/agentframe.h"
#include "server/rendezvous.h"
#include "server/stun_server.h"
#include "common/rng.h"
#include "sim/simqueue.h"
#include "natsim/nat_engine.h"
#include "natsim/nat_pcp.h"
#include "natsim/nat_upnp.h"

#define SERVER_IP ADDR_IP(198, 19, 1, 1)
#define SERVER_ALT_IP ADDR_IP(198, 19, 1, 2)
#define NAT_PUBLIC(i) ADDR_IP(198, 18, (i) + 1, 1)
#define NAT_SPARE(i) (NAT_PUBLIC(i) + 7)
#define LAN_IP(nat, host) ADDR_IP(10, (nat) + 1, 0, (host) + 2)
#define PUBLIC_HOST_IP(h) ADDR_IP(198, 19, 2, (h) + 1)
#define TURN_SERVER addr_endpoint(ADDR_IP(198, 19, 3, 1), 3478)
#define TURN_PORT 39999      /* each agent's TURN socket */
#define TURN_PASSWORD "sim-turn-password"
#define GATEWAY_IP(nat) ADDR_IP(10, (nat) + 1, 0, 1)
#define BROADCAST_IP(nat) ADDR_IP(10, (nat) + 1, 0, 255)
#define T0 ((usec_t)1000 * USEC_PER_SEC)
#define HOSTS SIMNET_HOSTS
#define NATS 2
#define PUBLIC_IPS_MAX 4
#define STREAM_SOCKET 16     /* the rendezvous core's socket index of host h's stream: + h */
#define STREAM_RTT (2 * (SIMNET_LAN_DELAY + SIMNET_WAN_DELAY))

/* HOP_HTTP: a UPnP request reaching the gateway ([id:4][request]);
 * HOP_HTTP_BACK: its response reaching the host ([id:4][index in http]). */
/* HOP_STREAM_*: natlab server over TCP, modelled as a reliable byte pipe
 * (`nat` = host | generation << 8): the handshake's outcome reaching the
 * host (data[0] 1: accepted), bytes reaching the server, bytes reaching the
 * host. */
typedef enum hop { HOP_OUT, HOP_WAN, HOP_HOST, HOP_GATEWAY, HOP_HTTP, HOP_HTTP_BACK,
                   HOP_STREAM_ACCEPT, HOP_STREAM_UP, HOP_STREAM_DOWN } hop_t;

/* A simqueue packet's `nat`: HOP_GATEWAY: which; HOP_HOST: the LAN (-1: public). */
typedef simqueue_packet_t packet_t;

typedef struct sim_host {
    int nat;          /* -1: public */
    uint32_t ip;
    punch_t *core;
    unsigned open_sockets;
    unsigned sent, to_send;
    usec_t last_send;
    bool done;
    /* the stream to the server (PUNCH_OUT_STREAM_CONNECT) */
    unsigned stream_gen;      /* packets of an older stream are ignored */
    bool stream_up;
    addr_endpoint_t stream_src; /* the TCP endpoint the server sees */
    agentframe_splitter_t server_side; /* the server's splitter of this host's bytes */
} sim_host_t;

struct simnet {
    const simnet_options_t *o;
    nat_engine_t *nat[NATS];
    nat_pcp_t *pcp[NATS];
    nat_upnp_t *upnp[NATS];
    GPtrArray *http;  /* GString: HTTP responses on their way back */
    uint32_t spare_ip[NATS];
    unsigned n_nat;
    stun_server_t *stun;
    rendezvous_t *rdv;
    simturn_t *turn;        /* NULL: none */
    GArray *turn_out;       /* simturn_out_t */
    sim_host_t host[HOSTS];
    rng_t rng;
    usec_t now;
    simqueue_t queue;
    uint64_t wan_packets;
    /* the last PROBE seen on the wire between the hosts, for replay tests */
    uint8_t captured[AGENTMSG_MAX_SIZE];
    size_t captured_len;
    addr_endpoint_t captured_src, captured_dst;
    unsigned keepalive_events[HOSTS];
    usec_t last_keepalive[HOSTS];
    const char *last_event, *failure, *event_error;
    rng_t stream_rng;       /* where the stream's bytes are cut: its own, the loss draws stay */
};

static void string_free(gpointer string)
{
    if (string)
        g_string_free(string, TRUE);
}

static void emit(simnet_t *s, hop_t hop, int nat, usec_t delay, addr_endpoint_t src,
                 addr_endpoint_t dst, const uint8_t *data, size_t len, bool lossy)
{
    if (lossy && s->o->loss > 0 && rng_unit(&s->rng) < s->o->loss)
        return;
    simqueue_push(&s->queue, s->now + delay, hop, nat, src, dst, data, len);
}

static uint16_t socket_port(unsigned socket)
{
    return socket == PUNCH_SOCKET_DISCOVERY ? PUNCH_DISCOVERY_PORT : (uint16_t)(40000 + socket);
}

static int socket_of(const sim_host_t *h, uint16_t port)
{
    if (port == PUNCH_DISCOVERY_PORT)
        return PUNCH_SOCKET_DISCOVERY;
    unsigned i = (unsigned)port - 40000;
    if (port < 40000 || i == PUNCH_SOCKET_DISCOVERY || i >= h->open_sockets)
        return -1;
    return (int)i;
}

static int nat_by_public(const simnet_t *s, uint32_t ip)
{
    for (unsigned i = 0; i < s->n_nat; i++)
        if (nat_engine_is_public(s->nat[i], ip))
            return (int)i;
    return -1;
}

static void deliver(simnet_t *s, int lan, addr_endpoint_t src, addr_endpoint_t dst,
                    const uint8_t *d, size_t len)
{
    emit(s, HOP_HOST, lan, SIMNET_LAN_DELAY, src, dst, d, len, false);
}

static void stream_emit(simnet_t *s, unsigned h, hop_t hop, const uint8_t *data, size_t len)
{
    emit(s, hop, (int)(h | s->host[h].stream_gen << 8), SIMNET_LAN_DELAY + SIMNET_WAN_DELAY,
         addr_endpoint(0, 0), addr_endpoint(0, 0), data, len, false);
}

/* What the rendezvous core sends: datagrams from `from`, or frames on a
 * host's stream, cut at random points (the client must not care). */
static void server_send(simnet_t *s, addr_endpoint_t from, const rendezvous_out_t *out, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (out[i].socket < STREAM_SOCKET) {
            emit(s, HOP_WAN, -1, SIMNET_WAN_DELAY, from, out[i].to, out[i].data, out[i].len, true);
            continue;
        }
        unsigned h = out[i].socket - STREAM_SOCKET;
        uint8_t frame[AGENTFRAME_MAX_SIZE];
        size_t len = agentframe_write(out[i].data, out[i].len, frame, sizeof frame);
        if (h >= HOSTS || !s->host[h].stream_up || !len)
            continue;
        size_t cut = 1 + rng_below(&s->stream_rng, (uint32_t)len);
        stream_emit(s, h, HOP_STREAM_DOWN, frame, cut);
        if (cut < len)
            stream_emit(s, h, HOP_STREAM_DOWN, frame + cut, len - cut);
    }
}

/* A connect from host h: the NAT's allow-list first (a refusal is a reset
 * with `refused = reject`, silence otherwise), then the server listens on
 * 3478 and 443. */
static void stream_connect(simnet_t *s, unsigned h, addr_endpoint_t to)
{
    sim_host_t *host = &s->host[h];
    host->stream_gen++;
    host->stream_up = false;
    agentframe_splitter_init(&host->server_side);
    if (host->nat >= 0) {
        const nat_profile_t *prof = nat_engine_profile(s->nat[host->nat]);
        if (prof->type != NAT_TYPE_BLOCKED && !nat_allow_has(&prof->allow_out_tcp, to.port)) {
            if (prof->refused == NAT_REFUSED_REJECT)
                emit(s, HOP_STREAM_ACCEPT, (int)(h | host->stream_gen << 8), 2 * SIMNET_LAN_DELAY,
                     to, to, (const uint8_t *)"\0", 1, false);
            return;
        }
    }
    uint8_t ok = to.ip == SERVER_IP && (to.port == 3478 || to.port == 443);
    stream_emit(s, h, HOP_STREAM_ACCEPT, &ok, 1);
    host->stream_src = host->nat >= 0 ? addr_endpoint(NAT_PUBLIC(host->nat), (uint16_t)(20000 + host->stream_gen))
                                      : addr_endpoint(host->ip, (uint16_t)(20000 + host->stream_gen));
}

static void stream_close(simnet_t *s, unsigned h)
{
    sim_host_t *host = &s->host[h];
    if (host->stream_up)
        rendezvous_socket_closed(s->rdv, STREAM_SOCKET + h);
    host->stream_gen++;
    host->stream_up = false;
}

static void stream_arrive(simnet_t *s, const packet_t *p)
{
    unsigned h = (unsigned)p->nat & 0xff, gen = (unsigned)p->nat >> 8;
    if (h >= HOSTS || gen != s->host[h].stream_gen)
        return; /* an older stream's */
    sim_host_t *host = &s->host[h];
    if (p->hop == HOP_STREAM_ACCEPT) {
        host->stream_up = p->data[0] == 1;
        if (host->stream_up)
            punch_stream_connected(host->core, s->now);
        else
            punch_stream_broken(host->core, "Connection refused", s->now);
    } else if (p->hop == HOP_STREAM_DOWN) {
        punch_stream_receive(host->core, p->data, p->len, s->now);
    } else {
        /* at the server: whole frames to the rendezvous core */
        agentframe_splitter_push(&host->server_side, p->data, p->len);
        agentframe_t f;
        while (agentframe_splitter_next(&host->server_side, &f) == AGENTFRAME_AGENTMSG) {
            rendezvous_out_t out[RENDEZVOUS_OUT_MAX];
            unsigned n = rendezvous_handle(s->rdv, STREAM_SOCKET + h, host->stream_src, f.msg, f.len,
                                           s->now, out);
            server_send(s, addr_endpoint(SERVER_IP, 3478), out, n);
        }
    }
}

/* A packet on the emulated internet reaches dst. */
static void wan_arrive(simnet_t *s, const packet_t *p)
{
    if (s->turn && simturn_owns(s->turn, p->dst.ip)) {
        if (s->o->turn_down_at && s->now >= T0 + s->o->turn_down_at)
            return;
        g_array_set_size(s->turn_out, 0);
        simturn_handle(s->turn, p->src, p->dst, p->data, p->len, s->now, s->turn_out);
        for (guint i = 0; i < s->turn_out->len; i++) {
            const simturn_out_t *o = &g_array_index(s->turn_out, simturn_out_t, i);
            emit(s, HOP_WAN, -1, SIMNET_WAN_DELAY, o->src, o->dst, o->data, o->len, true);
        }
        return;
    }
    if (p->dst.ip == SERVER_IP || p->dst.ip == SERVER_ALT_IP) {
        if (agentmsg_claims(p->data, p->len)) {
            rendezvous_out_t out[RENDEZVOUS_OUT_MAX];
            unsigned n = rendezvous_handle(s->rdv, 0, p->src, p->data, p->len, s->now, out);
            server_send(s, p->dst, out, n);
            return;
        }
        for (unsigned i = 0; i < stun_server_socket_count(s->stun); i++) {
            if (!addr_endpoint_equal(stun_server_socket_endpoint(s->stun, i), p->dst))
                continue;
            uint8_t out[STUN_MAX_MESSAGE];
            stun_server_reply_t r = stun_server_handle(s->stun, i, p->src, p->data, p->len, out,
                                                       sizeof out);
            if (r.len)
                emit(s, HOP_WAN, -1, SIMNET_WAN_DELAY, stun_server_socket_endpoint(s->stun, r.socket),
                     r.to, out, r.len, true);
        }
        return;
    }
    int nat = nat_by_public(s, p->dst.ip);
    if (nat >= 0) {
        nat_verdict_t v = nat_engine_inbound(s->nat[nat], NAT_PROTO_UDP, p->src, p->dst, s->now);
        if (v.action == NAT_ACTION_FORWARD)
            deliver(s, nat, v.src, v.dst, p->data, p->len);
        return;
    }
    /* A router that does not translate (firewall, no-nat) routes its LAN. */
    for (unsigned i = 0; i < s->n_nat; i++) {
        if (nat_engine_profile(s->nat[i])->type == NAT_TYPE_NAT ||
            (p->dst.ip & 0xffffff00u) != (GATEWAY_IP(i) & 0xffffff00u))
            continue;
        nat_verdict_t v = nat_engine_inbound(s->nat[i], NAT_PROTO_UDP, p->src, p->dst, s->now);
        if (v.action == NAT_ACTION_FORWARD)
            deliver(s, (int)i, v.src, v.dst, p->data, p->len);
        return;
    }
    for (unsigned h = 0; h < HOSTS; h++)
        if (s->host[h].nat < 0 && s->host[h].ip == p->dst.ip)
            deliver(s, -1, p->src, p->dst, p->data, p->len);
}

/* A datagram a host sends from its port. */
static void host_send_from(simnet_t *s, unsigned h, uint16_t port, addr_endpoint_t to,
                           const uint8_t *d, size_t len)
{
    sim_host_t *host = &s->host[h];
    addr_endpoint_t src = addr_endpoint(host->ip, port);
    if (host->nat < 0) {
        emit(s, HOP_WAN, -1, SIMNET_WAN_DELAY, src, to, d, len, true);
        return;
    }
    int nat = host->nat;
    hop_t hop = HOP_OUT;
    if (to.ip == BROADCAST_IP(nat) || to.ip == 0xffffffffu)
        hop = HOP_HOST;
    else if (to.ip == GATEWAY_IP(nat) || to.ip == NAT_UPNP_SSDP_GROUP)
        hop = HOP_GATEWAY;
    else if ((to.ip & 0xffffff00u) == (GATEWAY_IP(nat) & 0xffffff00u))
        hop = HOP_HOST;
    usec_t delay = hop == HOP_HOST && s->o->neighbour_delay ? s->o->neighbour_delay : SIMNET_LAN_DELAY;
    emit(s, hop, nat, delay, src, to, d, len, false);
}

static void host_send(simnet_t *s, unsigned h, unsigned socket, addr_endpoint_t to,
                      const uint8_t *d, size_t len)
{
    host_send_from(s, h, socket_port(socket), to, d, len);
}

/* UPnP over TCP, modelled as one exchange: the handshake and the request
 * take three LAN crossings, the response one more. A request to anything
 * but the gateway's HTTP port is refused (an empty response). */
static void http_request(simnet_t *s, unsigned h, const punch_output_t *o)
{
    const sim_host_t *host = &s->host[h];
    uint8_t buf[SIMQUEUE_DATAGRAM_MAX];
    memcpy(buf, &o->id, 4);
    addr_endpoint_t src = addr_endpoint(host->ip, 50000);
    if (host->nat < 0 || o->to.ip != GATEWAY_IP(host->nat) || o->to.port != NAT_UPNP_HTTP_PORT ||
        o->len > sizeof buf - 4) {
        uint32_t none = UINT32_MAX;
        memcpy(buf + 4, &none, 4);
        emit(s, HOP_HTTP_BACK, host->nat, 2 * SIMNET_LAN_DELAY, o->to, src, buf, 8, false);
        return;
    }
    memcpy(buf + 4, o->data, o->len);
    emit(s, HOP_HTTP, host->nat, 3 * SIMNET_LAN_DELAY, src, o->to, buf, o->len + 4, false);
}

static void http_serve(simnet_t *s, const packet_t *p)
{
    GString *out = g_string_new(NULL);
    nat_upnp_http(s->upnp[p->nat], s->nat[p->nat], p->src, p->data + 4, p->len - 4, true, s->now, out);
    uint8_t buf[8];
    uint32_t index = s->http->len;
    g_ptr_array_add(s->http, out);
    memcpy(buf, p->data, 4);
    memcpy(buf + 4, &index, 4);
    emit(s, HOP_HTTP_BACK, p->nat, SIMNET_LAN_DELAY, p->dst, p->src, buf, sizeof buf, false);
}

static void http_deliver(simnet_t *s, const packet_t *p)
{
    unsigned id;
    uint32_t index;
    memcpy(&id, p->data, 4);
    memcpy(&index, p->data + 4, 4);
    GString *resp = index < s->http->len ? s->http->pdata[index] : NULL;
    for (unsigned h = 0; h < HOSTS; h++) {
        sim_host_t *host = &s->host[h];
        if (host->core && host->nat == p->nat && host->ip == p->dst.ip)
            punch_http_response(host->core, id, resp ? (const uint8_t *)resp->str : NULL,
                                resp ? resp->len : 0, s->now);
    }
    if (resp) {
        g_string_free(resp, TRUE);
        s->http->pdata[index] = NULL;
    }
}

static void process(simnet_t *s, packet_t *p)
{
    switch (p->hop) {
    case HOP_OUT: {
        nat_verdict_t v = nat_engine_outbound(s->nat[p->nat], NAT_PROTO_UDP, p->src, p->dst, s->now);
        if (v.action != NAT_ACTION_FORWARD)
            return;
        if (v.hairpin) {
            deliver(s, p->nat, v.src, v.dst, p->data, p->len);
            return;
        }
        s->wan_packets++;
        uint8_t type;
        uint64_t session;
        if (agentmsg_peek(p->data, p->len, &type, &session) && type == AGENTMSG_PROBE &&
            p->dst.ip != SERVER_IP) {
            memcpy(s->captured, p->data, p->len);
            s->captured_len = p->len;
            s->captured_src = v.src;
            s->captured_dst = v.dst;
        }
        emit(s, HOP_WAN, -1, SIMNET_WAN_DELAY, v.src, v.dst, p->data, p->len, true);
        break;
    }
    case HOP_WAN:
        wan_arrive(s, p);
        break;
    case HOP_GATEWAY: {
        if (p->dst.port == NAT_UPNP_SSDP_PORT) {
            g_autoptr(GPtrArray) answers = nat_upnp_ssdp(s->upnp[p->nat], s->nat[p->nat], p->data, p->len);
            for (guint i = 0; answers && i < answers->len; i++)
                emit(s, HOP_HOST, p->nat, SIMNET_LAN_DELAY,
                     addr_endpoint(GATEWAY_IP(p->nat), NAT_UPNP_SSDP_PORT), p->src,
                     answers->pdata[i], strlen(answers->pdata[i]), false);
            break;
        }
        if (p->dst.port != PUNCH_PORTMAP_PORT)
            break;
        uint8_t out[NAT_PCP_MAX_SIZE + 64];
        size_t n = nat_pcp_handle(s->pcp[p->nat], s->nat[p->nat], p->src, p->data, p->len, s->now,
                                  out, sizeof out);
        if (n)
            emit(s, HOP_HOST, p->nat, SIMNET_LAN_DELAY,
                 addr_endpoint(GATEWAY_IP(p->nat), PUNCH_PORTMAP_PORT), p->src, out, n, false);
        break;
    }
    case HOP_HTTP:
        http_serve(s, p);
        break;
    case HOP_HTTP_BACK:
        http_deliver(s, p);
        break;
    case HOP_STREAM_ACCEPT:
    case HOP_STREAM_UP:
    case HOP_STREAM_DOWN:
        stream_arrive(s, p);
        break;
    case HOP_HOST:
        for (unsigned h = 0; h < HOSTS; h++) {
            sim_host_t *host = &s->host[h];
            if (!host->core || host->nat != p->nat)
                continue;
            bool bcast = p->dst.ip == 0xffffffffu || (p->nat >= 0 && p->dst.ip == BROADCAST_IP(p->nat));
            if (!bcast && host->ip != p->dst.ip)
                continue;
            if (s->turn && p->dst.port == TURN_PORT && !bcast) {
                punch_turn_receive(host->core, p->data, p->len, s->now);
                continue;
            }
            int sock = socket_of(host, p->dst.port);
            if (sock >= 0)
                punch_receive(host->core, (unsigned)sock, p->src, p->data, p->len, s->now);
        }
        break;
    }
}

static void take_outputs(simnet_t *s, unsigned h, punch_output_t *o)
{
    sim_host_t *host = &s->host[h];
    while (punch_pop_output(host->core, o)) {
        if (o->kind == PUNCH_OUT_SEND)
            host_send(s, h, o->socket, o->to, o->data, o->len);
        else if (o->kind == PUNCH_OUT_HTTP)
            http_request(s, h, o);
        else if (o->kind == PUNCH_OUT_TURN)
            host_send_from(s, h, TURN_PORT, TURN_SERVER, o->data, o->len);
        else if (o->kind == PUNCH_OUT_STREAM_CONNECT)
            stream_connect(s, h, o->to);
        else if (o->kind == PUNCH_OUT_STREAM_SEND && host->stream_up)
            stream_emit(s, h, HOP_STREAM_UP, o->data, o->len);
        else if (o->kind == PUNCH_OUT_STREAM_CLOSE)
            stream_close(s, h);
        else if (o->kind == PUNCH_OUT_OPEN_SOCKETS)
            host->open_sockets = MAX(host->open_sockets, PUNCH_SOCKET_BIRTHDAY + o->count);
        if (o->kind != PUNCH_OUT_EVENT)
            continue;
        if (o->event.kind == PUNCH_EVENT_KEEPALIVE) {
            s->keepalive_events[h]++;
            s->last_keepalive[h] = o->event.keepalive;
        }
        if (h == 0) {
            s->last_event = punch_event_name(o->event.kind);
            if (o->event.kind == PUNCH_EVENT_FAILED) /* interned: some reasons die with the core */
                s->failure = g_intern_string(o->event.reason);
        }
        if (s->o->trace)
            s->o->trace(h, s->now - T0, &o->event, s->o->trace_ctx);
    }
}

static void take_all_outputs(simnet_t *s, punch_output_t *o)
{
    for (unsigned h = 0; h < HOSTS; h++)
        take_outputs(s, h, o);
}

static void fire(simnet_t *s, const simnet_event_t *e)
{
    int nat = e->host < HOSTS ? s->host[e->host].nat : -1;
    if (nat < 0)
        return;
    nat_engine_t *engine = s->nat[nat];
    switch (e->action) {
    case SIMNET_REBOOT:
        nat_engine_reboot(engine, s->now);
        nat_pcp_reset(s->pcp[nat]);
        nat_upnp_reset(s->upnp[nat]);
        break;
    case SIMNET_FLUSH:
        nat_engine_flush(engine, s->now);
        break;
    case SIMNET_CHANGE_IP: {
        const uint32_t *ips;
        if (nat_engine_public_ips(engine, &ips) == 0 ||
            !nat_engine_change_ip(engine, ips[0], s->spare_ip[nat], s->now)) {
            s->event_error = "change-ip: the NAT refused the address (it does not translate)";
            break;
        }
        break;
    }
    case SIMNET_SET: {
        nat_profile_t *p = nat_profile_copy(nat_engine_profile(engine));
        GError *error = NULL;
        if (!p || !e->key || !e->value || !nat_profile_set(p, e->key, e->value, &error) ||
            !nat_engine_set_profile(engine, p, s->now, &error))
            s->event_error = "set: the NAT refused the profile key";
        g_clear_error(&error);
        nat_profile_free(p);
        break;
    }
    }
}

static void teardown(simnet_t *s)
{
    simqueue_clear(&s->queue);
    for (unsigned h = 0; h < HOSTS; h++)
        punch_free(s->host[h].core);
    for (unsigned i = 0; i < s->n_nat; i++) {
        nat_engine_free(s->nat[i]);
        nat_pcp_free(s->pcp[i]);
        nat_upnp_free(s->upnp[i]);
    }
    if (s->http)
        g_ptr_array_unref(s->http);
    stun_server_free(s->stun);
    rendezvous_free(s->rdv);
    simturn_free(s->turn);
    if (s->turn_out)
        g_array_unref(s->turn_out);
}

static bool setup(simnet_t *s, const simnet_options_t *o)
{
    memset(s, 0, sizeof *s);
    s->o = o;
    rng_seed(&s->rng, o->seed ^ 0xabcdef);
    s->now = T0;
    simqueue_init(&s->queue);
    s->http = g_ptr_array_new_with_free_func(string_free);
    int host_nat[HOSTS] = { -1, -1 };
    for (unsigned h = 0; h < HOSTS; h++) {
        const nat_profile_t *prof = o->same_nat ? o->nat[0] : o->nat[h];
        if (!prof)
            continue;
        if (o->same_nat && h > 0) {
            host_nat[h] = host_nat[0];
            continue;
        }
        unsigned i = s->n_nat;
        uint32_t ips[PUBLIC_IPS_MAX];
        for (unsigned k = 0; k < PUBLIC_IPS_MAX; k++)
            ips[k] = NAT_PUBLIC(i) + k;
        s->nat[i] = nat_engine_new(prof, ips, MIN(prof->public_ip_count, PUBLIC_IPS_MAX),
                                   o->seed + i, T0, NULL);
        if (!s->nat[i])
            return false;
        s->pcp[i] = nat_pcp_new();
        s->upnp[i] = nat_upnp_new(GATEWAY_IP(i), NAT_UPNP_HTTP_PORT);
        s->spare_ip[i] = NAT_SPARE(i);
        host_nat[h] = (int)i;
        s->n_nat++;
    }
    stun_server_config_t sc = { .address = SERVER_IP, .alt_address = SERVER_ALT_IP, .port = 3478,
                                .alt_port = 3479 };
    s->stun = stun_server_new(&sc);
    rendezvous_config_t rc = { .secret = o->secret, .secret_len = o->secret_len,
                               .first_stream_socket = STREAM_SOCKET };
    rng_seed(&s->stream_rng, o->seed ^ 0x73747265616dull);
    s->rdv = rendezvous_new(&rc, o->seed * 3 + 1);
    if (!s->stun || !s->rdv)
        return false;
    if (o->turn) {
        simturn_config_t tc = { .server = TURN_SERVER, .username = "natlab", .password = TURN_PASSWORD,
                                .realm = "natlab" };
        s->turn = simturn_new(&tc);
        s->turn_out = g_array_new(FALSE, FALSE, sizeof(simturn_out_t));
    }
    for (unsigned h = 0; h < HOSTS; h++) {
        sim_host_t *host = &s->host[h];
        host->nat = host_nat[h];
        host->ip = host->nat >= 0 ? LAN_IP(host->nat, h) : PUBLIC_HOST_IP(h);
        host->open_sockets = PUNCH_SOCKET_BIRTHDAY;
        host->to_send = o->send ? o->send : SIMNET_SEND_DEFAULT;
        punch_config_t c;
        if (o->agent)
            c = *o->agent;
        else
            punch_config_init(&c);
        c.name = h == 0 ? "alice" : "bob";
        c.peer = h == 0 ? "bob" : NULL;
        c.server = addr_endpoint(SERVER_IP, 3478);
        c.seed = o->seed * 11 + h;
        c.local = addr_endpoint(host->ip, socket_port(PUNCH_SOCKET_PRIMARY));
        if (host->nat >= 0) {
            c.gateway = GATEWAY_IP(host->nat);
            c.broadcast_address = BROADCAST_IP(host->nat);
        }
        if (o->turn) {
            c.turn_server = TURN_SERVER;
            c.turn_user = "natlab";
            c.turn_password = o->turn_password ? o->turn_password : TURN_PASSWORD;
        }
        host->core = punch_new(&c, s->now);
        if (!host->core)
            return false;
    }
    return true;
}

/* The connector's application, as the agent's `connect`: N messages, one
 * per interval (more during the hold), each echoed. Returns when it next
 * wants to run (0: not on its own). */
static usec_t application(simnet_t *s, usec_t start)
{
    const simnet_options_t *o = s->o;
    sim_host_t *a = &s->host[0];
    usec_t interval = o->interval ? o->interval : SIMNET_INTERVAL_DEFAULT;
    if (!punch_has_session(a->core))
        return 0;
    bool holding = s->now - start < o->hold;
    if ((a->sent < a->to_send || holding) && (a->sent == 0 || s->now - a->last_send >= interval)) {
        char msg[32];
        int n = g_snprintf(msg, sizeof msg, "message %u", a->sent + 1);
        if (punch_send(a->core, (const uint8_t *)msg, (size_t)n, s->now)) {
            a->sent++;
            a->last_send = s->now;
        }
    }
    const punch_stats_t *st = punch_stats(a->core);
    if (a->sent >= a->to_send && !holding && punch_all_delivered(a->core) && st->echoed >= a->sent &&
        punch_settled(a->core))
        a->done = true;
    return a->sent < a->to_send || holding ? a->last_send + interval : 0;
}

static void run(simnet_t *s, simnet_result_t *r, punch_output_t *out)
{
    const simnet_options_t *o = s->o;
    usec_t start = s->now, limit = start + (o->limit ? o->limit : SIMNET_LIMIT_DEFAULT);
    unsigned next_event = 0;
    bool hook_done = !o->hook;
    uint64_t steps = 0;
    while (++steps && !s->host[0].done && s->now < limit && !punch_failed(s->host[0].core)) {
        while (next_event < o->n_events && s->now >= start + o->events[next_event].at)
            fire(s, &o->events[next_event++]);
        if (!hook_done && s->now >= start + o->hook_at) {
            hook_done = true;
            o->hook(s, o->hook_ctx);
        }
        usec_t next = limit;
        for (unsigned h = 0; h < HOSTS; h++) {
            usec_t d = punch_bookkeeping(s->host[h].core, s->now);
            take_outputs(s, h, out);
            if (d && d < next)
                next = d;
        }
        if (punch_failed(s->host[0].core))
            break;
        usec_t app = application(s, start);
        take_outputs(s, 0, out);
        if (s->host[0].done)
            break;
        if (app && app < next)
            next = app;
        if (next_event < o->n_events && start + o->events[next_event].at < next)
            next = start + o->events[next_event].at;
        if (!hook_done && start + o->hook_at < next)
            next = start + o->hook_at;
        for (unsigned i = 0; i < s->n_nat; i++) {
            usec_t e = nat_engine_expire(s->nat[i], s->now);
            if (e < next)
                next = e;
        }
        usec_t arrival;
        if (simqueue_next(&s->queue, &arrival) && arrival < next)
            next = arrival;
        s->now = MAX(s->now + 1, next);
        packet_t *head;
        while ((head = simqueue_pop_due(&s->queue, s->now))) {
            process(s, head);
            g_free(head);
            take_all_outputs(s, out);
        }
    }
    punch_t *a = s->host[0].core;
    r->done = s->host[0].done;
    r->failed = punch_failed(a);
    r->failure = s->failure;
    r->last_event = s->last_event;
    r->event_error = s->event_error;
    r->path = punch_path(a);
    r->relay_turn = punch_relay_is_turn(a);
    r->technique = punch_technique(a);
    r->ttfb = punch_time_to_first_byte(a);
    r->ttd = punch_time_to_direct(a);
    r->elapsed = s->now - start;
    r->sent = s->host[0].sent;
    for (unsigned h = 0; h < HOSTS; h++) {
        r->stats[h] = *punch_stats(s->host[h].core);
        r->keepalive_events[h] = s->keepalive_events[h];
        r->last_keepalive[h] = s->last_keepalive[h];
    }
    r->wan_packets = s->wan_packets;
    r->server_relayed = rendezvous_stats(s->rdv)->relayed_packets;
    if (s->turn)
        r->turn = *simturn_stats(s->turn);
    r->packets = s->queue.sent;
    r->steps = steps;
}

bool simnet_attempt(const simnet_options_t *o, simnet_result_t *r)
{
    memset(r, 0, sizeof *r);
    simnet_t *s = g_new(simnet_t, 1);
    punch_output_t *out = g_new(punch_output_t, 1); /* large: not on the stack */
    bool ok = setup(s, o);
    if (ok)
        run(s, r, out);
    teardown(s);
    g_free(out);
    g_free(s);
    return ok;
}

void simnet_inject(simnet_t *s, addr_endpoint_t src, addr_endpoint_t dst, const uint8_t *data,
                    size_t len)
{
    emit(s, HOP_WAN, -1, 0, src, dst, data, len, false);
}

const uint8_t *simnet_captured_probe(const simnet_t *s, addr_endpoint_t *src,
                                      addr_endpoint_t *dst, size_t *len)
{
    if (s->captured_len == 0)
        return NULL;
    *src = s->captured_src;
    *dst = s->captured_dst;
    *len = s->captured_len;
    return s->captured;
}

void simnet_cross_traffic(simnet_t *s, unsigned host, unsigned n)
{
    int nat = host < HOSTS ? s->host[host].nat : -1;
    if (nat < 0)
        return;
    /* A neighbour on the same LAN (host index 200) sends one datagram each
     * to n public endpoints nobody answers from: n new mappings. */
    addr_endpoint_t src = addr_endpoint(LAN_IP(nat, 200), 40000);
    for (unsigned i = 0; i < n; i++)
        nat_engine_outbound(s->nat[nat], NAT_PROTO_UDP, src,
                            addr_endpoint(PUBLIC_HOST_IP(200), (uint16_t)(20000 + i)), s->now);
}
