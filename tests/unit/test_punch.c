/* The punch core in sim mode: two agents behind natsim engines, the STUN
 * and rendezvous cores as the server, NAT-PMP/PCP on the gateways, seeded
 * loss, a virtual clock. Every pair of presets must deliver all its data
 * and end on the path first principles predict (rfc-digest section 4);
 * reboots, short mapping timeouts, loss, one shared NAT, port mapping,
 * spoofed and replayed probes, and UDP blocked are each a test. */
#include <CUnit/Basic.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agent/punch.h"
#include "agent/rendezvous.h"
#include "agent/stun_server.h"
#include "common/rng.h"
#include "natsim/nat_engine.h"
#include "natsim/nat_pcp.h"
#include "natsim/nat_profile.h"
#include "testutil.h"

#define SERVER_IP ADDR_IP(198, 19, 1, 1)
#define SERVER_ALT_IP ADDR_IP(198, 19, 1, 2)
#define NAT_PUBLIC(i) ADDR_IP(198, 18, (i) + 1, 1)
#define LAN_IP(nat, host) ADDR_IP(10, (nat) + 1, 0, (host) + 2)
#define PUBLIC_HOST_IP(h) ADDR_IP(198, 19, 2, (h) + 1)
#define GATEWAY_IP(nat) ADDR_IP(10, (nat) + 1, 0, 1)
#define BROADCAST_IP(nat) ADDR_IP(10, (nat) + 1, 0, 255)
#define LAN_DELAY (500)                 /* µs, each way */
#define WAN_DELAY (5 * USEC_PER_MSEC)   /* µs, each way */
#define T0 ((usec_t)1000 * USEC_PER_SEC)
#define HOSTS 2
#define NATS 2

typedef enum hop { HOP_OUT, HOP_WAN, HOP_HOST, HOP_GATEWAY } hop_t;

typedef struct packet {
    usec_t at;
    uint64_t seq;
    hop_t hop;
    int nat;   /* HOP_GATEWAY: which; HOP_HOST: the LAN (-1: public) */
    addr_endpoint_t src, dst;
    size_t len;
    uint8_t data[AGENTMSG_MAX_SIZE];
} packet_t;

typedef struct sim_host {
    int nat;          /* -1: public */
    uint32_t ip;
    punch_t *core;
    unsigned open_sockets;
    bool connector;
    unsigned sent, to_send;
    usec_t last_send, finished_at;
    bool done;
} sim_host_t;

typedef struct sim {
    nat_engine_t *nat[NATS];
    nat_pcp_t *pcp[NATS];
    unsigned n_nat;
    stun_server_t *stun;
    rendezvous_t *rdv;
    sim_host_t host[HOSTS];
    rng_t rng;
    double loss;
    usec_t now;
    uint64_t seq;
    GQueue queue;
    uint64_t wan_packets;
    /* the last PROBE seen on the wire between the hosts, for replay tests */
    uint8_t captured[AGENTMSG_MAX_SIZE];
    size_t captured_len;
    addr_endpoint_t captured_src, captured_dst;
    unsigned keepalive_events[HOSTS], fallbacks_seen[HOSTS];
    usec_t last_keepalive[HOSTS];
} sim_t;

static gint packet_cmp(gconstpointer a, gconstpointer b, gpointer unused)
{
    const packet_t *x = a, *y = b;
    (void)unused;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void emit(sim_t *s, hop_t hop, int nat, usec_t delay, addr_endpoint_t src,
                 addr_endpoint_t dst, const uint8_t *data, size_t len, bool lossy)
{
    if (lossy && s->loss > 0 && rng_unit(&s->rng) < s->loss)
        return;
    packet_t *p = g_new(packet_t, 1);
    p->at = s->now + delay;
    p->seq = s->seq++;
    p->hop = hop;
    p->nat = nat;
    p->src = src;
    p->dst = dst;
    p->len = len;
    memcpy(p->data, data, len);
    g_queue_insert_sorted(&s->queue, p, packet_cmp, NULL);
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

static int nat_by_public(const sim_t *s, uint32_t ip)
{
    for (unsigned i = 0; i < s->n_nat; i++)
        if (nat_engine_is_public(s->nat[i], ip))
            return (int)i;
    return -1;
}

static void deliver(sim_t *s, int lan, addr_endpoint_t src, addr_endpoint_t dst, const uint8_t *d,
                    size_t len)
{
    emit(s, HOP_HOST, lan, LAN_DELAY, src, dst, d, len, false);
}

/* A packet on the emulated internet reaches dst. */
static void wan_arrive(sim_t *s, const packet_t *p)
{
    if (p->dst.ip == SERVER_IP || p->dst.ip == SERVER_ALT_IP) {
        if (agentmsg_claims(p->data, p->len)) {
            rendezvous_out_t out[RENDEZVOUS_OUT_MAX];
            unsigned n = rendezvous_handle(s->rdv, 0, p->src, p->data, p->len, s->now, out);
            for (unsigned i = 0; i < n; i++)
                emit(s, HOP_WAN, -1, WAN_DELAY, p->dst, out[i].to, out[i].data, out[i].len, true);
            return;
        }
        for (unsigned i = 0; i < stun_server_socket_count(s->stun); i++) {
            if (!addr_endpoint_equal(stun_server_socket_endpoint(s->stun, i), p->dst))
                continue;
            uint8_t out[STUN_MAX_MESSAGE];
            stun_server_reply_t r = stun_server_handle(s->stun, i, p->src, p->data, p->len, out,
                                                       sizeof out);
            if (r.len)
                emit(s, HOP_WAN, -1, WAN_DELAY, stun_server_socket_endpoint(s->stun, r.socket), r.to,
                     out, r.len, true);
        }
        return;
    }
    int nat = nat_by_public(s, p->dst.ip);
    if (nat >= 0) {
        nat_verdict_t v = nat_engine_inbound(s->nat[nat], p->src, p->dst, s->now);
        if (v.action == NAT_ACTION_FORWARD)
            deliver(s, nat, v.src, v.dst, p->data, p->len);
        return;
    }
    for (unsigned h = 0; h < HOSTS; h++)
        if (s->host[h].nat < 0 && s->host[h].ip == p->dst.ip)
            deliver(s, -1, p->src, p->dst, p->data, p->len);
}

/* A datagram a host sends. */
static void host_send(sim_t *s, unsigned h, unsigned socket, addr_endpoint_t to,
                      const uint8_t *d, size_t len)
{
    sim_host_t *host = &s->host[h];
    addr_endpoint_t src = addr_endpoint(host->ip, socket_port(socket));
    if (host->nat < 0) {
        emit(s, HOP_WAN, -1, WAN_DELAY, src, to, d, len, true);
        return;
    }
    int nat = host->nat;
    if (to.ip == BROADCAST_IP(nat) || to.ip == 0xffffffffu) {
        emit(s, HOP_HOST, nat, LAN_DELAY, src, to, d, len, false);
        return;
    }
    if (to.ip == GATEWAY_IP(nat)) {
        emit(s, HOP_GATEWAY, nat, LAN_DELAY, src, to, d, len, false);
        return;
    }
    if ((to.ip & 0xffffff00u) == (GATEWAY_IP(nat) & 0xffffff00u)) {
        emit(s, HOP_HOST, nat, LAN_DELAY, src, to, d, len, false);
        return;
    }
    emit(s, HOP_OUT, nat, LAN_DELAY, src, to, d, len, false);
}

static void process(sim_t *s, packet_t *p)
{
    switch (p->hop) {
    case HOP_OUT: {
        nat_verdict_t v = nat_engine_outbound(s->nat[p->nat], p->src, p->dst, s->now);
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
        emit(s, HOP_WAN, -1, WAN_DELAY, v.src, v.dst, p->data, p->len, true);
        break;
    }
    case HOP_WAN:
        wan_arrive(s, p);
        break;
    case HOP_GATEWAY: {
        uint8_t out[NAT_PCP_MAX_SIZE + 64];
        size_t n = nat_pcp_handle(s->pcp[p->nat], s->nat[p->nat], p->src, p->data, p->len, s->now,
                                  out, sizeof out);
        if (n)
            emit(s, HOP_HOST, p->nat, LAN_DELAY, addr_endpoint(GATEWAY_IP(p->nat), PUNCH_PORTMAP_PORT),
                 p->src, out, n, false);
        break;
    }
    case HOP_HOST:
        for (unsigned h = 0; h < HOSTS; h++) {
            sim_host_t *host = &s->host[h];
            if (!host->core || host->nat != p->nat)
                continue;
            bool bcast = p->dst.ip == 0xffffffffu || (p->nat >= 0 && p->dst.ip == BROADCAST_IP(p->nat));
            if (!bcast && host->ip != p->dst.ip)
                continue;
            int sock = socket_of(host, p->dst.port);
            if (sock >= 0)
                punch_receive(host->core, (unsigned)sock, p->src, p->data, p->len, s->now);
        }
        break;
    }
}

static void take_outputs(sim_t *s, unsigned h)
{
    sim_host_t *host = &s->host[h];
    punch_output_t *o = g_new(punch_output_t, 1);
    while (punch_pop_output(host->core, o)) {
        if (o->kind == PUNCH_OUT_SEND)
            host_send(s, h, o->socket, o->to, o->data, o->len);
        else if (o->kind == PUNCH_OUT_OPEN_SOCKETS)
            host->open_sockets = MAX(host->open_sockets, PUNCH_SOCKET_BIRTHDAY + o->count);
        if (o->kind == PUNCH_OUT_EVENT && o->event.kind == PUNCH_EVENT_KEEPALIVE) {
            s->keepalive_events[h]++;
            s->last_keepalive[h] = o->event.keepalive;
        }
        if (o->kind == PUNCH_OUT_EVENT && g_getenv("PUNCH_TRACE"))
            fprintf(stderr, "  [%u %.3f] %s %s %s\n", h, (double)(s->now - T0) / 1e6,
                    punch_event_name(o->event.kind), agentmsg_technique_name(o->event.technique),
                    o->event.reason ? o->event.reason : "");
    }
    g_free(o);
}

/* ---- scenarios ---- */

typedef struct sim_options {
    const char *nat[NATS];   /* presets or profile text ("[nat]\n..."); NULL: no NAT */
    int host_nat[HOSTS];     /* which NAT each host is behind (-1 public) */
    double loss;
    uint64_t seed;
    unsigned send;           /* messages the connector sends (default 10) */
    usec_t interval;         /* between them (default 100 ms) */
    usec_t hold;             /* run at least this long */
    usec_t limit;            /* give up (default 60 s) */
    punch_config_t agent;    /* knobs for both agents (with custom_agent) */
    bool custom_agent;       /* else punch_config_init's defaults */
    void (*during)(sim_t *s, void *ctx); /* called once at `during_at` */
    usec_t during_at;
    void *ctx;
    const uint8_t *secret;   /* the server's */
    size_t secret_len;
} sim_options_t;

typedef struct sim_result {
    bool delivered, failed;
    enum punch_path_kind path;
    uint8_t technique;
    usec_t ttfb, ttd, elapsed;
    punch_stats_t stats[HOSTS];
    uint64_t wan_packets;
    unsigned keepalive_events[HOSTS];
    usec_t last_keepalive[HOSTS];
} sim_result_t;

static nat_profile_t *profile_of(const char *spec)
{
    GError *err = NULL;
    nat_profile_t *p = strncmp(spec, "[nat]", 5) == 0
                           ? nat_profile_load_data(spec, strlen(spec), "test", &err)
                           : nat_profile_new_preset(spec, &err);
    if (!p)
        fprintf(stderr, "profile %s: %s\n", spec, err->message);
    g_assert(p);
    return p;
}

static void sim_setup(sim_t *s, const sim_options_t *o)
{
    memset(s, 0, sizeof *s);
    rng_seed(&s->rng, o->seed ^ 0xabcdef);
    s->loss = o->loss;
    s->now = T0;
    g_queue_init(&s->queue);
    for (unsigned i = 0; i < NATS && o->nat[i]; i++) {
        nat_profile_t *prof = profile_of(o->nat[i]);
        uint32_t ips[4] = { NAT_PUBLIC(i), NAT_PUBLIC(i) + 1, NAT_PUBLIC(i) + 2, NAT_PUBLIC(i) + 3 };
        GError *err = NULL;
        s->nat[i] = nat_engine_new(prof, ips, MIN(prof->public_ip_count, 4), o->seed + i, T0, &err);
        g_assert(s->nat[i]);
        s->pcp[i] = nat_pcp_new();
        nat_profile_free(prof);
        s->n_nat++;
    }
    stun_server_config_t sc = { .address = SERVER_IP, .alt_address = SERVER_ALT_IP, .port = 3478,
                                .alt_port = 3479 };
    s->stun = stun_server_new(&sc);
    rendezvous_config_t rc = { .secret = o->secret, .secret_len = o->secret_len };
    s->rdv = rendezvous_new(&rc, o->seed * 3 + 1);
    for (unsigned h = 0; h < HOSTS; h++) {
        sim_host_t *host = &s->host[h];
        host->nat = o->host_nat[h];
        host->ip = host->nat >= 0 ? LAN_IP(host->nat, h) : PUBLIC_HOST_IP(h);
        host->open_sockets = PUNCH_SOCKET_BIRTHDAY;
        host->connector = h == 0;
        host->to_send = o->send ? o->send : 10;
        punch_config_t c = o->agent;
        if (!o->custom_agent)
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
        host->core = punch_new(&c, s->now);
        g_assert(host->core);
    }
}

static void sim_teardown(sim_t *s)
{
    g_queue_clear_full(&s->queue, g_free);
    for (unsigned h = 0; h < HOSTS; h++)
        punch_free(s->host[h].core);
    for (unsigned i = 0; i < s->n_nat; i++) {
        nat_engine_free(s->nat[i]);
        nat_pcp_free(s->pcp[i]);
    }
    stun_server_free(s->stun);
    rendezvous_free(s->rdv);
}

/* The connector's application: N messages, one per interval, each echoed. */
static usec_t application(sim_t *s, const sim_options_t *o, usec_t start)
{
    sim_host_t *a = &s->host[0];
    usec_t interval = o->interval ? o->interval : 100 * USEC_PER_MSEC;
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

static sim_result_t sim_run(const sim_options_t *o)
{
    sim_t s;
    sim_setup(&s, o);
    usec_t start = s.now, limit = start + (o->limit ? o->limit : 60 * USEC_PER_SEC);
    bool during_done = !o->during;
    uint64_t steps = 0;
    while (++steps && !s.host[0].done && s.now < limit && !punch_failed(s.host[0].core)) {
        if (!during_done && s.now >= start + o->during_at) {
            during_done = true;
            o->during(&s, o->ctx);
        }
        usec_t next = limit;
        for (unsigned h = 0; h < HOSTS; h++) {
            usec_t d = punch_bookkeeping(s.host[h].core, s.now);
            take_outputs(&s, h);
            if (d && d < next)
                next = d;
        }
        if (punch_failed(s.host[0].core))
            break;
        usec_t app = application(&s, o, start);
        take_outputs(&s, 0);
        if (s.host[0].done)
            break;
        if (app && app < next)
            next = app;
        if (!during_done && start + o->during_at < next)
            next = start + o->during_at;
        for (unsigned i = 0; i < s.n_nat; i++) {
            usec_t e = nat_engine_expire(s.nat[i], s.now);
            if (e < next)
                next = e;
        }
        packet_t *head = g_queue_peek_head(&s.queue);
        if (head && head->at < next)
            next = head->at;
        s.now = MAX(s.now + 1, next);
        while ((head = g_queue_peek_head(&s.queue)) && head->at <= s.now) {
            g_queue_pop_head(&s.queue);
            process(&s, head);
            g_free(head);
            for (unsigned h = 0; h < HOSTS; h++)
                take_outputs(&s, h);
        }
    }
    if (g_getenv("PUNCH_STEPS"))
        fprintf(stderr, "  %llu steps, %llu packets, %.3f s virtual\n", (unsigned long long)steps,
                (unsigned long long)s.seq, (double)(s.now - start) / 1e6);
    sim_result_t r = { 0 };
    punch_t *a = s.host[0].core;
    r.delivered = s.host[0].done;
    r.failed = punch_failed(a);
    r.path = punch_path(a);
    r.technique = punch_technique(a);
    r.ttfb = punch_time_to_first_byte(a);
    r.ttd = punch_time_to_direct(a);
    r.elapsed = s.now - start;
    for (unsigned h = 0; h < HOSTS; h++)
        r.stats[h] = *punch_stats(s.host[h].core);
    r.wan_packets = s.wan_packets;
    for (unsigned h = 0; h < HOSTS; h++) {
        r.keepalive_events[h] = s.keepalive_events[h];
        r.last_keepalive[h] = s.last_keepalive[h];
    }
    sim_teardown(&s);
    return r;
}

/* ---- the matrix ---- */

/* rfc-digest section 4 with this agent's techniques: a direct path needs
 * one endpoint-independent mapping (birthday probing covers APDF against
 * random ports, prediction sequential ports); two endpoint-dependent
 * mappings relay, except sequential against sequential, which may go
 * either way. */
typedef enum expectation { EXPECT_DIRECT, EXPECT_RELAYED, EXPECT_ANY } expectation_t;

static bool eim(const char *preset)
{
    if (strcmp(preset, "public") == 0)
        return true;
    nat_profile_t *p = profile_of(preset);
    bool r = p->mapping == NAT_ENDPOINT_INDEPENDENT || p->type != NAT_TYPE_NAT;
    nat_profile_free(p);
    return r;
}

static expectation_t predict(const char *a, const char *b)
{
    if (eim(a) || eim(b))
        return EXPECT_DIRECT;
    if (strcmp(a, "symmetric-sequential") == 0 && strcmp(b, "symmetric-sequential") == 0)
        return EXPECT_ANY;
    return EXPECT_RELAYED;
}

/* "public": a host on the emulated internet itself (no-nat). */
static const char *const translating[] = { "full-cone", "restricted-cone", "port-restricted-cone",
                                           "symmetric", "symmetric-sequential", "home-router",
                                           "cgnat", "public", NULL };

static void test_matrix(void)
{
    unsigned attempts = g_getenv("PUNCH_ATTEMPTS") ? (unsigned)atoi(g_getenv("PUNCH_ATTEMPTS")) : 4;
    unsigned pairs = 0, total = 0, wrong = 0;
    for (unsigned i = 0; translating[i]; i++) {
        for (unsigned j = 0; translating[j]; j++) {
            const char *a = translating[i], *b = translating[j];
            expectation_t want = predict(a, b);
            unsigned direct = 0, delivered = 0, birthday = 0, predicted = 0;
            usec_t worst_ttd = 0;
            for (unsigned k = 0; k < attempts; k++) {
                sim_options_t o = { .host_nat = { -1, -1 }, .seed = 1000 * i + 100 * j + k + 1 };
                unsigned n = 0;
                if (strcmp(a, "public") != 0) {
                    o.nat[n] = a;
                    o.host_nat[0] = (int)n++;
                }
                if (strcmp(b, "public") != 0) {
                    o.nat[n] = b;
                    o.host_nat[1] = (int)n++;
                }
                sim_result_t r = sim_run(&o);
                delivered += r.delivered;
                bool is_direct = r.path == PUNCH_PATH_DIRECT;
                direct += is_direct;
                birthday += r.technique == AGENTMSG_TECHNIQUE_BIRTHDAY;
                predicted += r.technique == AGENTMSG_TECHNIQUE_PREDICTED;
                if (is_direct && r.ttd > worst_ttd && r.technique != AGENTMSG_TECHNIQUE_BIRTHDAY)
                    worst_ttd = r.ttd;
                total++;
                bool ok = r.delivered && !r.failed &&
                          (want == EXPECT_ANY || (want == EXPECT_DIRECT) == is_direct);
                if (!ok) {
                    wrong++;
                    fprintf(stderr, "  %s -> %s seed %llu: %s, %s via %s\n", a, b,
                            (unsigned long long)o.seed, r.delivered ? "delivered" : "NOT delivered",
                            punch_path_name(r.path), agentmsg_technique_name(r.technique));
                }
            }
            pairs++;
            printf("  %-21s -> %-21s %u/%u delivered, %u direct (%u birthday, %u predicted), "
                   "worst time to direct %.0f ms\n",
                   a, b, delivered, attempts, direct, birthday, predicted, worst_ttd / 1000.0);
            /* Cone pairs go direct within a second on a clean path. */
            if (want == EXPECT_DIRECT && eim(a) && eim(b))
                CU_ASSERT(worst_ttd < USEC_PER_SEC);
        }
    }
    printf("  %u pairs, %u attempts, %u not as predicted\n", pairs, total, wrong);
    CU_ASSERT_EQUAL(wrong, 0);
}

/* The acceptance figure: port-restricted-cone against random symmetric goes
 * direct by birthday probing in at least 90% of attempts at the default
 * budget (expected 1 - exp(-256 * 1024 / 64512) = 98%). */
static void test_birthday_rate(void)
{
    unsigned attempts = 40, direct = 0, birthday = 0;
    for (unsigned k = 0; k < attempts; k++) {
        sim_options_t o = { .nat = { "port-restricted-cone", "symmetric" }, .host_nat = { 0, 1 },
                            .seed = 7000 + k };
        sim_result_t r = sim_run(&o);
        CU_ASSERT(r.delivered);
        direct += r.path == PUNCH_PATH_DIRECT;
        birthday += r.technique == AGENTMSG_TECHNIQUE_BIRTHDAY;
    }
    printf("  port-restricted-cone -> symmetric: %u/%u direct, %u by birthday\n", direct, attempts,
           birthday);
    CU_ASSERT(direct * 10 >= attempts * 9);
    CU_ASSERT_EQUAL(birthday, direct);
}


static bool expect_outcome(const char *what, const sim_result_t *r, bool delivered,
                           enum punch_path_kind path, uint8_t technique)
{
    bool ok = r->delivered == delivered && r->path == path &&
              (technique == AGENTMSG_TECHNIQUE_NONE || r->technique == technique);
    if (!ok)
        fprintf(stderr, "  %s: %s, %s via %s (expected %s via %s)\n", what,
                r->delivered ? "delivered" : "not delivered", punch_path_name(r->path),
                agentmsg_technique_name(r->technique), punch_path_name(path),
                agentmsg_technique_name(technique));
    return ok;
}

/* Behind udp-blocked nothing reaches the server: the agent says so and
 * stops, within the registration's retries, instead of hanging. */
static void test_udp_blocked(void)
{
    sim_options_t o = { .nat = { "udp-blocked", "full-cone" }, .host_nat = { 0, 1 }, .seed = 3 };
    sim_result_t r = sim_run(&o);
    CU_ASSERT(r.failed);
    CU_ASSERT(!r.delivered);
    CU_ASSERT(r.elapsed <= 6 * USEC_PER_SEC);
    if (r.elapsed > 6 * USEC_PER_SEC)
        fprintf(stderr, "  failed after %.3f s\n", r.elapsed / 1e6);
    CU_ASSERT_EQUAL(r.path, PUNCH_PATH_NONE);
}

/* 5% loss on every internet hop: every message still arrives (retransmitted
 * over whichever path is current) and the path is the predicted one. */
static void test_loss(void)
{
    static const struct { const char *a, *b; enum punch_path_kind path; } cases[] = {
        { "full-cone", "port-restricted-cone", PUNCH_PATH_DIRECT },
        { "port-restricted-cone", "port-restricted-cone", PUNCH_PATH_DIRECT },
        { "symmetric-sequential", "home-router", PUNCH_PATH_DIRECT },
        { "port-restricted-cone", "symmetric", PUNCH_PATH_DIRECT },
        { "symmetric", "symmetric", PUNCH_PATH_RELAY },
    };
    unsigned wrong = 0, runs = 0, retransmitted = 0;
    for (unsigned c = 0; c < G_N_ELEMENTS(cases); c++) {
        for (unsigned k = 0; k < 8; k++) {
            sim_options_t o = { .nat = { cases[c].a, cases[c].b }, .host_nat = { 0, 1 },
                                .loss = 0.05, .seed = 500 + 10 * c + k, .send = 40 };
            sim_result_t r = sim_run(&o);
            runs++;
            retransmitted += (unsigned)r.stats[0].data_retransmitted;
            /* Birthday probing is a chance of about 98% per attempt. */
            bool lucky = strcmp(cases[c].b, "symmetric") == 0 && cases[c].path == PUNCH_PATH_DIRECT &&
                         r.delivered && r.path == PUNCH_PATH_RELAY;
            if (!lucky && !expect_outcome(cases[c].a, &r, true, cases[c].path, AGENTMSG_TECHNIQUE_NONE))
                wrong++;
            CU_ASSERT(r.delivered);
        }
    }
    printf("  %u runs at 5%% loss, %u not as predicted, %u retransmissions\n", runs, wrong, retransmitted);
    CU_ASSERT(retransmitted > 0); /* the loss was real */
    CU_ASSERT(wrong <= 1);
}

/* Time to first byte is one relay round trip: the first echo comes back
 * over the relay before any direct path could be proven. */
static void test_first_byte(void)
{
    sim_options_t o = { .nat = { "port-restricted-cone", "port-restricted-cone" },
                        .host_nat = { 0, 1 }, .seed = 9 };
    sim_result_t r = sim_run(&o);
    usec_t relay_rtt = 4 * (LAN_DELAY + WAN_DELAY);
    CU_ASSERT(r.delivered);
    CU_ASSERT(r.ttfb >= relay_rtt);
    CU_ASSERT(r.ttfb <= relay_rtt + 2 * USEC_PER_MSEC);
    CU_ASSERT(r.ttd > 0 && r.ttd < USEC_PER_SEC);
}

typedef struct reboot_ctx {
    int nat;
} reboot_ctx_t;

static void reboot_nat(sim_t *s, void *ctx)
{
    const reboot_ctx_t *c = ctx;
    nat_engine_reboot(s->nat[c->nat], s->now);
    nat_pcp_reset(s->pcp[c->nat]);
}

/* A NAT reboot mid-session: the direct path dies, the session falls back
 * to the relay (no message lost), re-registers and punches again. */
static void test_reboot(void)
{
    /* moves: a reboot gives that NAT's host another external port (random
     * allocation); port preservation gives the same one back, and the path
     * may survive without a fallback. */
    static const struct { const char *a, *b; uint8_t technique; bool moves[2]; } cases[] = {
        { "cgnat", "home-router", AGENTMSG_TECHNIQUE_PUNCH, { true, false } },
        { "[nat]\npreset = symmetric\nport-mapping = pcp\n", "port-restricted-cone",
          AGENTMSG_TECHNIQUE_PORTMAP, { true, false } },
        { "[nat]\npreset = symmetric\nport-mapping = nat-pmp\n", "symmetric",
          AGENTMSG_TECHNIQUE_PORTMAP, { true, true } },
    };
    for (unsigned c = 0; c < G_N_ELEMENTS(cases); c++) {
        for (int which = 0; which < 2; which++) {
            reboot_ctx_t ctx = { which };
            punch_config_t agent;
            punch_config_init(&agent);
            agent.keepalive = 2 * USEC_PER_SEC;
            sim_options_t o = { .nat = { cases[c].a, cases[c].b }, .host_nat = { 0, 1 },
                                .seed = 40 + c, .send = 10, .hold = 20 * USEC_PER_SEC,
                                .during = reboot_nat, .during_at = 5 * USEC_PER_SEC, .ctx = &ctx,
                                .agent = agent, .custom_agent = true };
            sim_result_t r = sim_run(&o);
            char what[64];
            g_snprintf(what, sizeof what, "reboot of NAT %d, case %u", which, c);
            CU_ASSERT(expect_outcome(what, &r, true, PUNCH_PATH_DIRECT, cases[c].technique));
            if (cases[c].moves[which])
                CU_ASSERT(r.stats[0].fallbacks + r.stats[1].fallbacks >= 1);
            CU_ASSERT_EQUAL(r.stats[0].delivered, r.stats[0].data_sent);
        }
    }
}

static void change_ip(sim_t *s, void *ctx)
{
    (void)ctx;
    g_assert(nat_engine_change_ip(s->nat[0], NAT_PUBLIC(0), NAT_PUBLIC(0) + 7));
}

/* The NAT's public address changes mid-session (every mapping lost, a new
 * address): the agent sees its endpoint move, falls back, and goes direct
 * again from the new address. */
static void test_address_change(void)
{
    punch_config_t agent;
    punch_config_init(&agent);
    agent.keepalive = 2 * USEC_PER_SEC;
    sim_options_t o = { .nat = { "port-restricted-cone", "home-router" }, .host_nat = { 0, 1 },
                        .seed = 21, .hold = 15 * USEC_PER_SEC, .during = change_ip,
                        .during_at = 4 * USEC_PER_SEC, .agent = agent, .custom_agent = true };
    sim_result_t r = sim_run(&o);
    CU_ASSERT(expect_outcome("address change", &r, true, PUNCH_PATH_DIRECT, AGENTMSG_TECHNIQUE_NONE));
    CU_ASSERT(r.stats[0].fallbacks >= 1);
    CU_ASSERT_EQUAL(r.stats[0].delivered, r.stats[0].data_sent);
}

/* A mapping timeout (5 s) shorter than the keepalive (25 s) with sparse
 * data: the path dies between messages; the agent notices (its mapping
 * moved), shortens its keepalive below the timeout and stays direct. */
static void test_short_timeout(void)
{
    sim_options_t o = { .nat = { "[nat]\npreset = port-restricted-cone\ntimeout = 5s\n",
                                 "[nat]\npreset = home-router\ntimeout = 5s\ntimeout-unreplied = 5s\n" },
                        .host_nat = { 0, 1 }, .seed = 77, .send = 12,
                        .interval = 8 * USEC_PER_SEC, .limit = 300 * USEC_PER_SEC };
    sim_result_t r = sim_run(&o);
    CU_ASSERT(expect_outcome("short timeout", &r, true, PUNCH_PATH_DIRECT, AGENTMSG_TECHNIQUE_NONE));
    CU_ASSERT(r.keepalive_events[0] >= 1);
    CU_ASSERT(r.last_keepalive[0] > 0 && r.last_keepalive[0] < 5 * USEC_PER_SEC);
    printf("  keepalive came down to %.2f s / %.2f s after %u / %u changes\n",
           r.last_keepalive[0] / 1e6, r.last_keepalive[1] / 1e6, r.keepalive_events[0],
           r.keepalive_events[1]);
}

/* Two hosts behind one NAT: LAN by broadcast discovery, LAN by shared host
 * candidates, hairpin when neither, relay when the NAT does not hairpin. */
static void test_same_nat(void)
{
    static const struct {
        const char *nat;
        bool broadcast, share;
        enum punch_path_kind path;
        uint8_t technique;
    } cases[] = {
        { "home-router", true, false, PUNCH_PATH_LAN, AGENTMSG_TECHNIQUE_LAN },
        { "home-router", false, true, PUNCH_PATH_LAN, AGENTMSG_TECHNIQUE_LAN },
        { "home-router", false, false, PUNCH_PATH_DIRECT, AGENTMSG_TECHNIQUE_HAIRPIN },
        { "symmetric", false, false, PUNCH_PATH_RELAY, AGENTMSG_TECHNIQUE_NONE },
        { "symmetric", true, false, PUNCH_PATH_LAN, AGENTMSG_TECHNIQUE_LAN },
    };
    for (unsigned c = 0; c < G_N_ELEMENTS(cases); c++) {
        punch_config_t agent;
        punch_config_init(&agent);
        agent.broadcast = cases[c].broadcast;
        agent.share_local = cases[c].share;
        sim_options_t o = { .nat = { cases[c].nat }, .host_nat = { 0, 0 }, .seed = 60 + c,
                            .agent = agent, .custom_agent = true };
        sim_result_t r = sim_run(&o);
        char what[80];
        g_snprintf(what, sizeof what, "same NAT %s broadcast %d share %d", cases[c].nat,
                   cases[c].broadcast, cases[c].share);
        CU_ASSERT(expect_outcome(what, &r, true, cases[c].path, cases[c].technique));
    }
}

/* A symmetric NAT that offers PCP or NAT-PMP goes direct through the
 * mapping, even against another symmetric NAT. */
static void test_port_mapping(void)
{
    static const char *const with[] = { "[nat]\npreset = symmetric\nport-mapping = pcp\n",
                                         "[nat]\npreset = symmetric\nport-mapping = nat-pmp\n" };
    for (unsigned c = 0; c < 2; c++) {
        for (int side = 0; side < 2; side++) {
            sim_options_t o = { .host_nat = { 0, 1 }, .seed = 90 + c };
            o.nat[side] = with[c];
            o.nat[!side] = "symmetric";
            sim_result_t r = sim_run(&o);
            CU_ASSERT(expect_outcome(with[c], &r, true, PUNCH_PATH_DIRECT, AGENTMSG_TECHNIQUE_PORTMAP));
        }
    }
    /* Switched off, the same pair relays. */
    punch_config_t agent;
    punch_config_init(&agent);
    agent.portmap = false;
    sim_options_t o = { .nat = { with[0], "symmetric" }, .host_nat = { 0, 1 }, .seed = 95,
                        .agent = agent, .custom_agent = true };
    sim_result_t r = sim_run(&o);
    CU_ASSERT(expect_outcome("no port mapping", &r, true, PUNCH_PATH_RELAY, AGENTMSG_TECHNIQUE_NONE));
}

/* Replayed, forged and malformed datagrams aimed at an agent are dropped and
 * counted, and the session goes on. */
static void inject(sim_t *s, void *ctx)
{
    (void)ctx;
    g_assert(s->captured_len > 0);
    /* the same probe again: a replay */
    emit(s, HOP_WAN, -1, 0, s->captured_src, s->captured_dst, s->captured, s->captured_len, false);
    /* a forged tag */
    uint8_t forged[AGENTMSG_MAX_SIZE];
    memcpy(forged, s->captured, s->captured_len);
    forged[s->captured_len - 1] ^= 0x5a;
    forged[8] ^= 0x01; /* a new counter, so only the tag can catch it */
    emit(s, HOP_WAN, -1, 0, s->captured_src, s->captured_dst, forged, s->captured_len, false);
    /* junk */
    static const uint8_t junk[] = { AGENTMSG_MAGIC, 1, 16, 0, 1, 2, 3 };
    emit(s, HOP_WAN, -1, 0, s->captured_src, s->captured_dst, junk, sizeof junk, false);
}

static void test_spoofed_and_replayed(void)
{
    sim_options_t o = { .nat = { "port-restricted-cone", "port-restricted-cone" }, .host_nat = { 0, 1 },
                        .seed = 31, .hold = 3 * USEC_PER_SEC, .during = inject,
                        .during_at = 2 * USEC_PER_SEC };
    sim_result_t r = sim_run(&o);
    CU_ASSERT(expect_outcome("after injection", &r, true, PUNCH_PATH_DIRECT, AGENTMSG_TECHNIQUE_NONE));
    uint64_t replay = 0, auth = 0, malformed = 0;
    for (unsigned h = 0; h < HOSTS; h++) {
        replay += r.stats[h].dropped[PUNCH_DROP_REPLAY];
        auth += r.stats[h].dropped[PUNCH_DROP_AUTH];
        malformed += r.stats[h].dropped[PUNCH_DROP_MALFORMED];
    }
    CU_ASSERT_EQUAL(replay, 1);
    CU_ASSERT_EQUAL(auth, 1);
    CU_ASSERT_EQUAL(malformed, 1);
}

/* With the server's secret, both sides derive the session key; an agent
 * with another secret is never registered. */
static void test_secret(void)
{
    static const uint8_t secret[] = "lab secret";
    punch_config_t agent;
    punch_config_init(&agent);
    agent.secret = secret;
    agent.secret_len = sizeof secret - 1;
    sim_options_t o = { .nat = { "full-cone", "port-restricted-cone" }, .host_nat = { 0, 1 },
                        .seed = 12, .agent = agent, .custom_agent = true, .secret = secret,
                        .secret_len = sizeof secret - 1 };
    sim_result_t r = sim_run(&o);
    CU_ASSERT(expect_outcome("with a secret", &r, true, PUNCH_PATH_DIRECT, AGENTMSG_TECHNIQUE_NONE));
    static const uint8_t other[] = "another secret";
    agent.secret = other;
    agent.secret_len = sizeof other - 1;
    o.agent = agent;
    r = sim_run(&o);
    CU_ASSERT(r.failed);
    CU_ASSERT(r.stats[0].registrations == 0);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "matrix of presets", test_matrix },
        { "birthday probing rate", test_birthday_rate },
        { "UDP blocked", test_udp_blocked },
        { "5% loss", test_loss },
        { "time to first byte", test_first_byte },
        { "NAT reboot mid-session", test_reboot },
        { "public address change mid-session", test_address_change },
        { "mapping timeout shorter than the keepalive", test_short_timeout },
        { "two hosts behind one NAT", test_same_nat },
        { "NAT-PMP and PCP mappings", test_port_mapping },
        { "spoofed, replayed and malformed", test_spoofed_and_replayed },
        { "shared secret", test_secret },
        { NULL, NULL },
    };
    return test_run_suite("punch", cases);
}
