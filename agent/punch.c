#include "punch.h"

#include <glib.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "common/agentframe.h"
#include "common/rng.h"
#include "common/stun.h"
#include "portmap.h"
#include "tcppunch.h"
#include "turn.h"
#include "upnpc.h"

#define SERVER_RETRY (250 * USEC_PER_MSEC)
#define SERVER_TRIES 20                       /* 5 s without an answer: no UDP path */
#define CONNECT_RETRY (500 * USEC_PER_MSEC)
#define CONNECT_PATIENCE (15 * USEC_PER_SEC)  /* the peer may register after us */
#define PORTMAP_RETRY (250 * USEC_PER_MSEC)
#define PORTMAP_TRIES 4
#define PORTMAP_LIFETIME_S 120                /* renewed at half (RFC 6886 section 3.3) */
#define SEQUENTIAL_STEP_MAX 64                /* a larger step between two new mappings: random */
#define BIRTHDAY_DELAY (300 * USEC_PER_MSEC)  /* plain punching settles cone pairs before this */
#define BIRTHDAY_ROUNDS 2                     /* the second round finds mappings made late */
#define BIRTHDAY_SOCKET_REPEAT USEC_PER_SEC
#define ANNOUNCE_INTERVAL (500 * USEC_PER_MSEC)
#define NOMINATION_WINDOW USEC_PER_SEC        /* keep checking other pairs this long after the first */
#define SWITCH_RATIO 0.7                      /* hysteresis: a new path must be 30% faster */
#define SWITCH_SAMPLES 3
#define SUSPECT_DATA_AGE USEC_PER_SEC         /* unacknowledged data this old on a direct path */
#define SUSPECT_PROBE_INTERVAL USEC_PER_SEC
#define KEEPALIVE_MIN USEC_PER_SEC
#define DATA_RTO_MIN (100 * USEC_PER_MSEC)
#define DATA_RTO_MAX USEC_PER_SEC
#define DATA_GIVE_UP (30 * USEC_PER_SEC)      /* no acknowledgement at all this long: failed */
#define PEER_SILENCE (2 * USEC_PER_SEC)  /* nothing from the peer: its PEER may have been lost */
#define TURN_SILENCE (2 * USEC_PER_SEC)  /* data unanswered through TURN: natlab's relay */
#define TURN_REALLOCS_MAX 8               /* allocations made again after one was lost */
#define TURN_CONNECT_TIMEOUT (3 * USEC_PER_SEC) /* TCP: no answer on the URI's port: 443 */
#define STREAM_CONNECT_TIMEOUT (3 * USEC_PER_SEC) /* a dropped SYN: the next port */
#define UDP_PROBE_INTERVAL (5 * USEC_PER_SEC)     /* over TCP: one Binding over UDP this often */
#define UDP_LOST_TRIES 12  /* 3 s of REGISTERs unanswered over UDP once registered: UDP stopped */
#define PROBE_RING 4096
#define SOCKET_TCP 0x10000u /* pairs over TCP-punched connections: + the connection's id */
#define SOCKET_GONE (UINT_MAX - 1) /* a pair whose TCP connection closed */
#define TCP_TEXTS 16
#define PAIRS_MAX 512

typedef enum reg_state { REG_BINDING, REG_REGISTERING, REG_REGISTERED, REG_FAILED } reg_state_t;

typedef struct binding {
    addr_endpoint_t to;
    uint8_t id[STUN_TRANSACTION_ID_SIZE];
    unsigned tries;
    usec_t next;
    bool active, answered;
    addr_endpoint_t mapped, other;
} binding_t;

typedef struct pair {
    unsigned socket;
    addr_endpoint_t remote;
    uint8_t local_technique, remote_technique;
    bool aimed;          /* we probe it on a schedule (a candidate), not only answer it */
    bool valid;
    usec_t next_probe, last_rx, last_triggered, srtt;
    unsigned rtt_samples;
} pair_t;

/* A probe we sent: an answer counts only if it echoes one of these, and
 * its round trip is measured from our own clock, not from the peer's word. */
typedef struct sent_probe {
    uint64_t counter;
    unsigned socket;    /* RELAYED: through the relay */
    uint8_t technique;
    usec_t sent_at;
} sent_probe_t;

#define RELAYED UINT_MAX

typedef struct outgoing {
    uint32_t seq;
    bool echo;
    usec_t first_sent, last_sent;
    size_t len;
    uint8_t data[AGENTMSG_PAYLOAD_MAX];
} outgoing_t;

typedef struct portmap_state {
    bool active, mapped;
    unsigned tries;
    usec_t next;
    uint8_t nonce[PORTMAP_NONCE_SIZE];
    bool pcp;
    uint32_t epoch;
    usec_t epoch_at;
    addr_endpoint_t external;
    uint32_t natpmp_address;
    upnpc_t *upnpc;     /* UPnP IGD, raced against NAT-PMP and PCP; NULL: no gateway */
    bool upnp;          /* the mapping held is UPnP's (renewed by upnpc, not by pm.next) */
} portmap_state_t;

G_STATIC_ASSERT(UPNPC_REQUEST_MAX <= AGENTMSG_MAX_SIZE);

struct punch {
    punch_config_t cfg;
    char *name, *peer;
    uint8_t *secret;
    rng_t rng;
    uint64_t counter;
    GArray *out;
    punch_stats_t stats;
    bool failed;

    /* registration */
    reg_state_t reg;
    binding_t bind[3];
    agentmsg_nat_t nat;
    addr_endpoint_t mapped;
    bool registered_once;
    unsigned reg_tries;
    usec_t reg_next, reg_refresh;
    usec_t keepalive;
    agentmsg_replay_t server_replay;
    usec_t connect_next, connect_deadline;
    bool connecting;

    portmap_state_t pm;

    /* the session */
    bool session;
    uint64_t session_id;
    uint8_t key[AGENTMSG_KEY_SIZE];
    bool controlling;
    char peer_name[AGENTMSG_NAME_MAX + 1];
    agentmsg_nat_t peer_nat;
    addr_endpoint_t peer_mapped;
    unsigned n_peer_candidates;
    agentmsg_candidate_t peer_candidates[AGENTMSG_CANDIDATES_MAX];
    agentmsg_replay_t peer_replay;
    usec_t session_started;

    GArray *pairs;          /* pair_t */
    int current;            /* index in pairs; -1: the relay */
    bool punching;
    usec_t punch_started, first_valid;
    bool gave_up;
    usec_t next_announce;
    unsigned announces;
    usec_t relay_srtt;
    unsigned relay_samples;
    usec_t path_since;

    /* birthday probing */
    bool bday_hard, bday_easy, bday_announced;
    unsigned bday_sockets_open, bday_next_socket;
    usec_t bday_next;
    uint16_t *bday_ports;
    unsigned bday_sent, bday_round;

    /* Our own sequential NAT's counter: the last port seen allocated, and
     * the new destinations we sent to since (each took the next port). */
    uint16_t seq_last;
    unsigned seq_allocs;
    unsigned fresh_base;    /* seq_allocs once the fresh binding had gone out */
    GHashTable *destinations; /* uint64 ip << 16 | port -> the same, from the primary socket */
    /* sequential against sequential: a fresh look at our own counter just
     * before punching, told to the peer through the relay */
    binding_t fresh;        /* to the server's fourth address:port (once: then mapped) */
    bool fresh_used;
    bool predict_waiting;   /* the pairs wait for both words */
    usec_t predict_wait_until;
    bool peer_word;         /* the peer's word came */
    bool told, tell_acked;  /* our word went out; the peer acknowledged it */
    uint16_t told_port;     /* what it said, fixed: our probes may go out after it */
    usec_t next_tell;

    sent_probe_t ring[PROBE_RING];

    /* data */
    uint32_t next_seq;
    GPtrArray *unacked;     /* outgoing_t */
    GHashTable *received;   /* seq -> 1 */
    usec_t last_ack;
    usec_t first_byte, direct_at;
    uint8_t technique;
    bool peer_left;
    bool peer_heard;        /* anything from the peer in this session, by any path */
    usec_t reconnect_next;
    usec_t server_rtt;      /* the first Binding's round trip */

    /* TURN (NULL: not configured) */
    turn_t *turn;
    char *turn_user, *turn_password, *turn_reason;
    bool turn_told;         /* turn-allocated went out */
    bool turn_down;         /* failed or its connection broke: natlab's relay from now on */
    addr_endpoint_t peer_relayed; /* the peer's RELAY candidate; port 0: none */
    bool peer_relay_dead;   /* data to it went unanswered */
    usec_t turn_heard;      /* the last peer message through TURN (or the session's start) */
    bool rx_turn;           /* the peer message being handled came through TURN */
    unsigned turn_allocs;   /* allocations made again after one was lost */
    bool turn_again;        /* allocating again: REGISTERs do not wait for it */
    char *turn_again_reason; /* why, for its turn-allocated event */
    addr_endpoint_t turn_to; /* the TURN server's endpoint now (443 after the URI's port) */
    unsigned turn_conn;     /* the connection the shell keeps to it: a new number, a new one */
    bool turn_answered;     /* bytes came over this connection */
    usec_t turn_deadline;   /* TCP: the first answer's, before trying 443 */
    GString *turn_errors;   /* "TCP 3478: ..., " when 443 was tried after it */
    usec_t now;             /* of the public call running: TURN requests are timed by it */

    /* natlab server over TCP */
    enum { STREAM_NONE, STREAM_CONNECTING, STREAM_UP } stream;
    uint16_t tcp_ports[PUNCH_TCP_PORTS_MAX];
    unsigned n_tcp_ports, tcp_try;  /* tcp_try: the index being tried */
    usec_t stream_deadline;         /* of the connect */
    GString *tcp_errors;            /* "TCP 3478: ...; TCP 443: ..." for the failure */
    bool via_tcp;                   /* send_server uses the stream */
    bool transport_changed;         /* the next REGISTERED is on a new transport, no NAT move */
    bool udp_back;                  /* UDP answered again: classifying before a REGISTER over it */
    binding_t udp_probe;
    usec_t udp_probe_next;
    char *fail_reason;
    bool udp_refused;               /* an ICMP error said so, not silence */
    bool tcp_used;                  /* we registered over TCP and have not moved back */
    bool udp_lost;                  /* on TCP because UDP stopped after we registered over it */
    bool server_check;              /* a REGISTER went out early: relayed data waits unanswered */
    usec_t server_heard;            /* the last message from the server over UDP */
    agentframe_splitter_t splitter;

    /* TCP punching (NULL: no listener, or no session yet) */
    tcppunch_t *tcpp;
    char tcp_texts[TCP_TEXTS][256]; /* its event texts, until the shell has read them */
    unsigned tcp_text_next;
};

/* ---- output ---- */

static punch_output_t *out_push(punch_t *p, enum punch_output_kind kind)
{
    g_array_set_size(p->out, p->out->len + 1);
    punch_output_t *o = &g_array_index(p->out, punch_output_t, p->out->len - 1);
    memset(o, 0, offsetof(punch_output_t, data));
    o->kind = kind;
    o->echo = false;
    memset(&o->event, 0, sizeof o->event);
    return o;
}

static punch_event_t *event_push(punch_t *p, enum punch_event_kind kind, usec_t now)
{
    punch_output_t *o = out_push(p, PUNCH_OUT_EVENT);
    o->event.kind = kind;
    o->event.at = now;
    return &o->event;
}

/* Each new destination of the primary socket takes the next port of a
 * sequential NAT that maps per destination (RFC 4787 section 4.1: APDM); the
 * gateway, broadcasts and our own LAN do not cross it. */
static void count_destination(punch_t *p, addr_endpoint_t to)
{
    bool classifying = p->reg == REG_BINDING || p->udp_back;
    if (!classifying && p->nat.mapping != AGENTMSG_MAPPING_SEQUENTIAL)
        return;
    if (to.ip == p->cfg.gateway || to.ip == 0xffffffffu || to.ip == p->cfg.broadcast_address ||
        (p->cfg.local.ip && (to.ip >> 8) == (p->cfg.local.ip >> 8)))
        return;
    uint64_t key = (uint64_t)to.ip << 16 | to.port;
    if (g_hash_table_contains(p->destinations, &key))
        return;
    if (g_hash_table_size(p->destinations) >= PAIRS_MAX * 8)
        g_hash_table_remove_all(p->destinations); /* a long listener's: those mappings timed out */
    g_hash_table_add(p->destinations, g_memdup2(&key, sizeof key));
    if (!classifying)
        p->seq_allocs++;
}

/* Where our NAT's counter stands: the port its last new mapping got. */
static uint16_t seq_now(const punch_t *p)
{
    long port = (long)p->seq_last + (long)p->seq_allocs * p->nat.step;
    return port > 0 && port <= 65535 ? (uint16_t)port : p->seq_last;
}

static void tcp_drain(punch_t *p, usec_t now);

static void send_raw(punch_t *p, unsigned socket, addr_endpoint_t to, const uint8_t *data,
                     size_t len)
{
    if (!len)
        return;
    if (socket >= SOCKET_TCP) {
        if (p->tcpp && tcppunch_send(p->tcpp, socket - SOCKET_TCP, data, len))
            tcp_drain(p, p->now);
        return;
    }
    if (socket == PUNCH_SOCKET_PRIMARY)
        count_destination(p, to);
    punch_output_t *o = out_push(p, PUNCH_OUT_SEND);
    o->socket = socket;
    o->to = to;
    o->len = len;
    memcpy(o->data, data, len);
}

static void send_server(punch_t *p, agentmsg_t *m)
{
    uint8_t buf[AGENTMSG_MAX_SIZE];
    m->counter = ++p->counter;
    size_t n = agentmsg_write(m, p->secret, p->cfg.secret_len, buf, sizeof buf);
    if (!p->via_tcp) {
        send_raw(p, PUNCH_SOCKET_PRIMARY, p->cfg.server, buf, n);
        return;
    }
    if (p->stream != STREAM_UP || !n)
        return; /* lost, as a datagram would be: the sender retries */
    punch_output_t *o = out_push(p, PUNCH_OUT_STREAM_SEND);
    o->len = agentframe_write(buf, n, o->data, sizeof o->data);
}

/* Our TURN allocation in `state`, and not given up. */
static bool turn_in(const punch_t *p, turn_state_t state)
{
    return p->turn && !p->turn_down && turn_state(p->turn) == state;
}

/* The relay path runs through TURN: both sides have an allocation, and it
 * has not gone silent on us. */
static bool relay_is_turn(const punch_t *p)
{
    return turn_in(p, TURN_READY) && p->peer_relayed.port && !p->peer_relay_dead;
}

static void turn_output(punch_t *p);
static void turn_drain(punch_t *p, usec_t now);

/* A peer message over a pair (pair >= 0) or the relay (pair < 0). */
static void send_peer(punch_t *p, int pair, agentmsg_t *m)
{
    uint8_t inner[AGENTMSG_MAX_SIZE];
    m->counter = ++p->counter;
    m->session = p->session_id;
    size_t n = agentmsg_write(m, p->key, sizeof p->key, inner, sizeof inner);
    if (!n)
        return;
    if (pair >= 0) {
        const pair_t *pr = &g_array_index(p->pairs, pair_t, pair);
        send_raw(p, pr->socket, pr->remote, inner, n);
        return;
    }
    p->stats.relayed_sent++;
    if (relay_is_turn(p)) {
        /* From our allocation to the peer's: each side permits the other's
         * relayed address, so no NAT filter stands between (RFC 8656 9). */
        if (turn_send(p->turn, p->peer_relayed, inner, n, p->now))
            p->stats.turn_sent++;
        turn_output(p);
        return;
    }
    agentmsg_t relay = { .type = AGENTMSG_RELAY, .session = p->session_id, .payload = inner,
                         .payload_len = n };
    send_server(p, &relay);
}

static void send_probe_to(punch_t *p, unsigned socket, addr_endpoint_t to, uint8_t technique,
                          bool keepalive, usec_t now)
{
    agentmsg_t m = { .type = AGENTMSG_PROBE, .technique = technique, .socket = (uint16_t)socket,
                     .endpoint = to, .timestamp = (uint64_t)now,
                     .flags = keepalive ? AGENTMSG_FLAG_KEEPALIVE : 0 };
    uint8_t buf[AGENTMSG_MAX_SIZE];
    m.counter = ++p->counter;
    m.session = p->session_id;
    size_t n = agentmsg_write(&m, p->key, sizeof p->key, buf, sizeof buf);
    sent_probe_t *slot = &p->ring[m.counter % PROBE_RING];
    *slot = (sent_probe_t){ .counter = m.counter, .socket = socket, .technique = technique,
                            .sent_at = now };
    send_raw(p, socket, to, buf, n);
    p->stats.probes_sent++;
}

/* ---- registration ---- */

static void binding_send(punch_t *p, binding_t *b, usec_t now)
{
    stun_message_t m;
    stun_binding_request(&m, b->id, 0, 0, 0);
    uint8_t buf[STUN_MAX_MESSAGE];
    size_t n = stun_write(&m, true, buf, sizeof buf);
    send_raw(p, PUNCH_SOCKET_PRIMARY, b->to, buf, n);
    b->tries++;
    b->next = now + SERVER_RETRY;
}

static void binding_start(punch_t *p, binding_t *b, addr_endpoint_t to, usec_t now)
{
    b->to = to;
    b->active = true;
    b->answered = false;
    b->tries = 0;
    for (unsigned i = 0; i < STUN_TRANSACTION_ID_SIZE; i++)
        b->id[i] = (uint8_t)rng_next(&p->rng);
    binding_send(p, b, now);
}

static void candidates_fill(const punch_t *p, agentmsg_t *m)
{
    if (p->cfg.share_local && p->cfg.local.ip)
        m->candidates[m->n_candidates++] =
            (agentmsg_candidate_t){ AGENTMSG_CANDIDATE_HOST, p->cfg.local };
    if (p->pm.mapped)
        m->candidates[m->n_candidates++] =
            (agentmsg_candidate_t){ AGENTMSG_CANDIDATE_PORTMAP, p->pm.external };
    if (turn_in(p, TURN_READY))
        m->candidates[m->n_candidates++] =
            (agentmsg_candidate_t){ AGENTMSG_CANDIDATE_RELAY, turn_relayed(p->turn) };
}

/* The first REGISTER waits for the allocation (or its failure): the server
 * hands a peer the candidates of the REGISTER before the session only. */
static bool turn_pending(const punch_t *p)
{
    return turn_in(p, TURN_ALLOCATING) && !p->turn_again;
}

static void register_send(punch_t *p, usec_t now)
{
    if (turn_pending(p)) {
        p->reg_next = now + SERVER_RETRY; /* no try counted: turn_drain sends it when settled */
        return;
    }
    agentmsg_t m = { .type = AGENTMSG_REGISTER, .nat = p->nat };
    if (p->nat.mapping == AGENTMSG_MAPPING_SEQUENTIAL)
        m.nat.last_port = seq_now(p); /* for the peers of later sessions */
    g_strlcpy(m.name, p->name, sizeof m.name);
    candidates_fill(p, &m);
    send_server(p, &m);
    p->reg_tries++;
    p->reg_next = now + SERVER_RETRY;
}

static void register_again(punch_t *p, usec_t now)
{
    if (p->reg == REG_FAILED || p->reg == REG_BINDING)
        return;
    p->reg = REG_REGISTERING;
    p->reg_tries = 0;
    register_send(p, now);
}

/* RFC 5780 section 4.3: the mapping toward the primary address against the
 * ones toward the alternate address and port. Three new mappings in a row
 * also show the allocation: a constant small step is sequential. */
static void classify_nat(punch_t *p)
{
    const binding_t *b = p->bind;
    p->nat = (agentmsg_nat_t){ .mapping = AGENTMSG_MAPPING_UNKNOWN, .last_port = b[0].mapped.port };
    if (!b[1].answered)
        return;
    if (addr_endpoint_equal(b[0].mapped, b[1].mapped) &&
        (!b[2].answered || addr_endpoint_equal(b[0].mapped, b[2].mapped))) {
        p->nat.mapping = AGENTMSG_MAPPING_INDEPENDENT;
        return;
    }
    int d1 = (int)b[1].mapped.port - (int)b[0].mapped.port;
    int d2 = b[2].answered ? (int)b[2].mapped.port - (int)b[1].mapped.port : d1;
    bool address_dependent = b[2].answered && addr_endpoint_equal(b[0].mapped, b[2].mapped);
    if (address_dependent)
        d2 = d1;
    if (d1 != 0 && d1 == d2 && abs(d1) <= SEQUENTIAL_STEP_MAX) {
        p->nat.mapping = AGENTMSG_MAPPING_SEQUENTIAL;
        p->nat.step = (int16_t)d1;
        p->nat.last_port = address_dependent || !b[2].answered ? b[1].mapped.port : b[2].mapped.port;
    } else {
        p->nat.mapping = AGENTMSG_MAPPING_RANDOM;
        p->nat.last_port = b[2].answered ? b[2].mapped.port : b[1].mapped.port;
    }
}

static void keepalive_shorten(punch_t *p, usec_t to, usec_t now)
{
    to = MAX(to, KEEPALIVE_MIN);
    if (to >= p->keepalive)
        return;
    p->keepalive = to;
    p->reg_refresh = MIN(p->reg_refresh, now + to);
    event_push(p, PUNCH_EVENT_KEEPALIVE, now)->keepalive = to;
}

static void fail(punch_t *p, const char *reason, usec_t now)
{
    if (p->failed)
        return;
    p->failed = true;
    p->reg = p->reg == REG_BINDING ? REG_FAILED : p->reg;
    event_push(p, PUNCH_EVENT_FAILED, now)->reason = reason;
}

/* UDP reaches the server again (a Binding while on TCP was answered, and
 * the NAT classified): register over UDP; the stream closes once the
 * server confirms. */
static void udp_register(punch_t *p, usec_t now)
{
    p->udp_back = false;
    p->via_tcp = false;
    p->transport_changed = true;
    p->reg = REG_REGISTERING;
    p->reg_tries = 0;
    register_send(p, now);
}

static void bindings_progress(punch_t *p, usec_t now)
{
    binding_t *b = p->bind;
    if (b[0].answered && !b[1].active && b[0].other.ip) {
        binding_start(p, &b[1], b[0].other, now);
        binding_start(p, &b[2], addr_endpoint(p->cfg.server.ip, b[0].other.port), now);
    }
    bool pending = false;
    for (unsigned i = 0; i < 3; i++)
        pending |= b[i].active && !b[i].answered;
    if (!b[0].answered || pending)
        return;
    classify_nat(p);
    p->seq_last = p->nat.last_port;
    p->seq_allocs = 0;
    if (p->udp_back) {
        udp_register(p, now);
        return;
    }
    p->reg = REG_REGISTERING;
    p->reg_tries = 0;
    register_send(p, now);
}

/* ---- pairs ---- */

/* The technique a path is credited to: the more specific aim of the two
 * sides (a predicted port beats the plain punch that met it). */
static uint8_t technique_combine(uint8_t a, uint8_t b)
{
    static const uint8_t rank[AGENTMSG_TECHNIQUE_COUNT] = {
        [AGENTMSG_TECHNIQUE_NONE] = 0,     [AGENTMSG_TECHNIQUE_PEER_REFLEXIVE] = 1,
        [AGENTMSG_TECHNIQUE_PUNCH] = 2,    [AGENTMSG_TECHNIQUE_HAIRPIN] = 3,
        [AGENTMSG_TECHNIQUE_PREDICTED] = 4, [AGENTMSG_TECHNIQUE_BIRTHDAY] = 5,
        [AGENTMSG_TECHNIQUE_PORTMAP] = 6,  [AGENTMSG_TECHNIQUE_LAN] = 7,
        [AGENTMSG_TECHNIQUE_TCP_PUNCH] = 8,
    };
    a = a < AGENTMSG_TECHNIQUE_COUNT ? a : 0;
    b = b < AGENTMSG_TECHNIQUE_COUNT ? b : 0;
    return rank[a] >= rank[b] ? a : b;
}

static int pair_find(const punch_t *p, unsigned socket, addr_endpoint_t remote)
{
    for (unsigned i = 0; i < p->pairs->len; i++) {
        const pair_t *pr = &g_array_index(p->pairs, pair_t, i);
        if (pr->socket == socket && addr_endpoint_equal(pr->remote, remote))
            return (int)i;
    }
    return -1;
}

static int pair_add(punch_t *p, unsigned socket, addr_endpoint_t remote, uint8_t technique,
                    bool aimed, usec_t now)
{
    int i = pair_find(p, socket, remote);
    if (i >= 0) {
        pair_t *pr = &g_array_index(p->pairs, pair_t, i);
        if (aimed && !pr->aimed) {
            pr->aimed = true;
            pr->next_probe = now;
        }
        /* One endpoint, two reasons to aim at it (a port mapping that is
         * also what the server saw): credit the more specific one. */
        if (aimed)
            pr->local_technique = technique_combine(pr->local_technique, technique);
        return i;
    }
    if (p->pairs->len >= PAIRS_MAX || !remote.ip || !remote.port)
        return -1;
    pair_t pr = { .socket = socket, .remote = remote, .local_technique = technique,
                  .aimed = aimed, .next_probe = now };
    g_array_append_val(p->pairs, pr);
    return (int)p->pairs->len - 1;
}

static pair_t *pair_at(punch_t *p, int i)
{
    return i >= 0 ? &g_array_index(p->pairs, pair_t, i) : NULL;
}

static enum punch_path_kind pair_kind(const pair_t *pr)
{
    return technique_combine(pr->local_technique, pr->remote_technique) == AGENTMSG_TECHNIQUE_LAN
               ? PUNCH_PATH_LAN
               : PUNCH_PATH_DIRECT;
}

static void set_path(punch_t *p, int next, const char *reason, usec_t now)
{
    if (next == p->current)
        return;
    enum punch_path_kind from = p->current < 0 ? PUNCH_PATH_RELAY : pair_kind(pair_at(p, p->current));
    p->current = next;
    p->path_since = now;
    if (next < 0)
        p->turn_heard = now; /* TURN's silence counts from its return */
    pair_t *pr = pair_at(p, next);
    enum punch_path_kind to = pr ? pair_kind(pr) : PUNCH_PATH_RELAY;
    p->technique = pr ? technique_combine(pr->local_technique, pr->remote_technique)
                      : AGENTMSG_TECHNIQUE_NONE;
    p->stats.path_changes++;
    bool tcp = pr && pr->socket >= SOCKET_TCP;
    if (tcp && p->tcpp)
        tcppunch_chosen(p->tcpp, pr->socket - SOCKET_TCP, now);
    if (pr && !p->direct_at) {
        p->direct_at = now;
        punch_event_t *e = event_push(p, PUNCH_EVENT_DIRECT, now);
        e->path = to;
        e->technique = p->technique;
        e->local = addr_endpoint(0, tcp ? p->cfg.tcp_punch_port : (uint16_t)pr->socket);
        e->remote = pr->remote;
        e->rtt = pr->srtt;
        e->tcp = tcp;
    }
    punch_event_t *e = event_push(p, PUNCH_EVENT_PATH_CHANGED, now);
    e->from = from;
    e->path = to;
    e->technique = p->technique;
    e->remote = pr ? pr->remote : relay_is_turn(p) ? p->peer_relayed : p->cfg.server;
    e->rtt = pr ? pr->srtt : p->relay_srtt;
    e->reason = reason;
    e->turn = relay_is_turn(p);
    e->tcp = tcp;
    if (tcp)
        tcp_drain(p, now);
}

/* The structure of a path, before its round trip: a LAN path (one hop, no
 * NAT state to time out or lose in a reboot) beats a path through a NAT
 * (hairpin, punched, predicted, birthday, mapped), which beats the relay
 * (the server's cost). Tailscale's path scoring gives private addresses a
 * bonus for the same reason. Round trips decide only within a rank: two
 * sub-millisecond paths on one LAN differ by noise, not by design. */
static int path_rank(enum punch_path_kind kind)
{
    switch (kind) {
    case PUNCH_PATH_LAN: return 3;
    case PUNCH_PATH_DIRECT: return 2;
    case PUNCH_PATH_RELAY: return 1;
    default: return 0;
    }
}

/* Among valid pairs: the best rank, then the lowest smoothed round trip,
 * with hysteresis against the current path of the same rank. */
static void choose_path(punch_t *p, usec_t now)
{
    int best = -1;
    for (unsigned i = 0; i < p->pairs->len; i++) {
        const pair_t *pr = &g_array_index(p->pairs, pair_t, i);
        if (!pr->valid)
            continue;
        const pair_t *b = pair_at(p, best);
        int rank = path_rank(pair_kind(pr)), best_rank = b ? path_rank(pair_kind(b)) : 0;
        if (!b || rank > best_rank || (rank == best_rank && pr->srtt < b->srtt))
            best = (int)i;
    }
    if (best < 0 || best == p->current)
        return;
    if (p->current < 0) {
        set_path(p, best, "direct path proven both ways", now);
        return;
    }
    const pair_t *cur = pair_at(p, p->current), *cand = pair_at(p, best);
    int cur_rank = path_rank(pair_kind(cur)), cand_rank = path_rank(pair_kind(cand));
    if (!cur->valid)
        set_path(p, best, "previous path lost", now);
    else if (cand_rank > cur_rank)
        set_path(p, best, "LAN path (no NAT between)", now);
    else if (cand_rank == cur_rank && cand->rtt_samples >= SWITCH_SAMPLES &&
             (double)cand->srtt < SWITCH_RATIO * (double)cur->srtt)
        set_path(p, best, "lower round trip", now);
}

/* ---- the session's punching ---- */

static void punching_stop_birthday(punch_t *p)
{
    g_clear_pointer(&p->bday_ports, g_free);
    p->bday_easy = false;
}

static void birthday_prepare(punch_t *p, usec_t now)
{
    const punch_config_t *c = &p->cfg;
    bool enabled = c->birthday_sockets && c->birthday_probes && c->birthday_rate;
    p->bday_hard = enabled && p->nat.mapping == AGENTMSG_MAPPING_RANDOM &&
                   p->peer_nat.mapping == AGENTMSG_MAPPING_INDEPENDENT;
    p->bday_easy = enabled && p->nat.mapping == AGENTMSG_MAPPING_INDEPENDENT &&
                   p->peer_nat.mapping == AGENTMSG_MAPPING_RANDOM;
    p->bday_next = now + BIRTHDAY_DELAY;
    p->bday_next_socket = 0;
    p->bday_sent = 0;
    p->bday_round = 0;
    g_clear_pointer(&p->bday_ports, g_free);
    if (p->bday_easy) {
        /* m distinct ports: a partial Fisher-Yates shuffle of the range. */
        unsigned m = MIN(c->birthday_probes, PUNCH_BIRTHDAY_RANGE);
        uint16_t *all = g_new(uint16_t, PUNCH_BIRTHDAY_RANGE);
        for (unsigned i = 0; i < PUNCH_BIRTHDAY_RANGE; i++)
            all[i] = (uint16_t)(1024 + i);
        for (unsigned i = 0; i < m; i++) {
            unsigned j = i + rng_below(&p->rng, PUNCH_BIRTHDAY_RANGE - i);
            uint16_t t = all[i];
            all[i] = all[j];
            all[j] = t;
        }
        p->bday_ports = all;
    }
}

/* Both NATs allocate a new port per destination, in sequence (rfc-digest
 * section 4, "SYM-seq prediction"): our j-th new mapping will be
 * q + j*dq and the peer's p + j*dp, q and p the last ports the server saw.
 * If each side's j-th new destination is the other's j-th predicted port,
 * A's mapping q+j*dq points at B's p+j*dp and B's p+j*dp at A's q+j*dq:
 * both filters hold the exact permission. So the predicted probes must be
 * the first new destinations either side sends to after its classification:
 * any other new destination before them (the peer's server-facing endpoint,
 * a LAN candidate) takes a port of our own sequence and shifts every pair. */
static bool sequential_pair(const punch_t *p)
{
    return p->cfg.predict_window && p->nat.mapping == AGENTMSG_MAPPING_SEQUENTIAL &&
           p->peer_nat.mapping == AGENTMSG_MAPPING_SEQUENTIAL;
}

/* Other hosts' new mappings between a side's look at its counter and its
 * probes (cA on the controlling side's NAT, cB on the other's) shift its
 * sequence. The controlling side's k-th probe (port X+cA+k) aims at
 * Y+(k+s_k)d, the other's k'-th (port Y+cB+k') at X+k'; they meet when
 * k' = k + s_k - cB and s_k = cA + cB. With s_k = k - 1 some k matches
 * every cA + cB up to the window - 1 (while k' = 2cA + cB + 1 fits in it
 * too), and without cross-traffic the first probes meet, as before. */
static void add_predicted(punch_t *p, usec_t now)
{
    /* rfc-digest section 4: the next port of a sequential symmetric NAT is
     * p_S + k*d for small k, p_S the last one the server saw. */
    if (p->peer_nat.mapping != AGENTMSG_MAPPING_SEQUENTIAL || !p->cfg.predict_window)
        return;
    bool shift = sequential_pair(p) && p->controlling;
    for (unsigned k = 1; k <= p->cfg.predict_window; k++) {
        long port = (long)p->peer_nat.last_port + (long)(shift ? 2 * k - 1 : k) * p->peer_nat.step;
        if (port > 0 && port <= 65535)
            pair_add(p, PUNCH_SOCKET_PRIMARY, addr_endpoint(p->peer_mapped.ip, (uint16_t)port),
                     AGENTMSG_TECHNIQUE_PREDICTED, true, now);
    }
}

/* The peer's counter moves with its other hosts' traffic while it waits
 * for us (a listener may have registered hours ago), so the last port the
 * server saw at registration goes stale: both sides look again just before
 * punching, with a binding to the one server address:port they have not
 * used (RFC 5780 servers answer on all four), and tell each other the port
 * it got through the relay (rfc-digest section 4: "do the S probe
 * immediately before punching"). Nothing new goes out meanwhile: every
 * other destination would take a port of our own sequence. */
#define FRESH_WAIT USEC_PER_SEC       /* then predict from the registration's ports */
#define FRESH_TRIES 4

static void pairs_add_all(punch_t *p, usec_t now);

/* Our word: a relayed probe marked PREDICTED whose endpoint is our public
 * address and the port our NAT's last new mapping got before our first
 * predicted probe. Said once per round, repeated as it was. */
static void tell_send(punch_t *p, usec_t now)
{
    if (!p->told) {
        p->told = true;
        p->told_port = seq_now(p);
    }
    agentmsg_t m = { .type = AGENTMSG_PROBE, .technique = AGENTMSG_TECHNIQUE_PREDICTED,
                     .endpoint = addr_endpoint(p->mapped.ip, p->told_port),
                     .timestamp = (uint64_t)now };
    send_peer(p, -1, &m);
    p->ring[m.counter % PROBE_RING] = (sent_probe_t){ .counter = m.counter, .socket = RELAYED,
                                                      .technique = AGENTMSG_TECHNIQUE_PREDICTED,
                                                      .sent_at = now };
    p->next_tell = now + p->cfg.probe_interval;
}

/* The first probes leave once we told our port and heard the peer's. */
static void predict_go(punch_t *p, bool anyway, usec_t now)
{
    if (!p->predict_waiting || (!anyway && !(p->told && p->peer_word)))
        return;
    if (!p->told)
        tell_send(p, now); /* late, but the peer may still be waiting */
    p->predict_waiting = false;
    pairs_add_all(p, now);
}

/* Both sequential: look at our counter afresh once (a later session counts
 * from it), tell the peer, and wait for its word before the first probe. */
static void predict_begin(punch_t *p, usec_t now)
{
    p->predict_waiting = true;
    p->predict_wait_until = now + FRESH_WAIT;
    p->peer_word = p->told = p->tell_acked = false;
    addr_endpoint_t other = p->bind[0].other;
    if (!p->fresh_used && other.ip && other.ip != p->cfg.server.ip) {
        p->fresh_used = true;
        binding_start(p, &p->fresh, addr_endpoint(other.ip, p->cfg.server.port), now);
        p->fresh_base = p->seq_allocs;
        return; /* the word goes out with its answer */
    }
    tell_send(p, now);
}

static void fresh_answered(punch_t *p, addr_endpoint_t mapped, usec_t now)
{
    if (!mapped.port || p->nat.mapping != AGENTMSG_MAPPING_SEQUENTIAL)
        return;
    p->seq_last = mapped.port;
    p->seq_allocs -= MIN(p->seq_allocs, p->fresh_base);
    if (p->session && p->predict_waiting && !p->told) {
        tell_send(p, now);
        predict_go(p, false, now);
    }
}

static void peer_told(punch_t *p, addr_endpoint_t said, usec_t now)
{
    if (!said.port || p->peer_nat.mapping != AGENTMSG_MAPPING_SEQUENTIAL || !p->predict_waiting)
        return; /* the pairs went out already: new ones would take ports of our sequence */
    p->peer_nat.last_port = said.port;
    p->peer_word = true;
    predict_go(p, false, now);
}

/* UDP found no direct path: the controlling side tries TCP (agent/tcppunch). */
static void tcp_punch_begin(punch_t *p, usec_t now)
{
    if (p->tcpp && p->controlling && p->current < 0) {
        tcppunch_start(p->tcpp, now);
        tcp_drain(p, now);
    }
}

static void punching_start(punch_t *p, usec_t now)
{
    if (p->via_tcp || p->peer_nat.mapping == AGENTMSG_MAPPING_NO_UDP) {
        /* A side without UDP to the server has none to the peer either
         * (udp-blocked, a firewall's allow-list): no probe can work, and
         * each side knows it from its own state and the peer's word. */
        p->punching = false;
        p->predict_waiting = p->told = false;
        punching_stop_birthday(p);
        p->gave_up = true;
        event_push(p, PUNCH_EVENT_PUNCH_GAVE_UP, now)->reason =
            p->via_tcp ? "no UDP path: natlab server over TCP, relayed through it"
                       : "the peer has no UDP path (natlab server over TCP): relayed";
        tcp_punch_begin(p, now);
        return;
    }
    p->punching = true;
    p->gave_up = false;
    p->punch_started = now;
    p->first_valid = 0;
    p->next_announce = now;
    p->announces = 0;
    birthday_prepare(p, now);
    if (sequential_pair(p)) {
        predict_begin(p, now);
        return;
    }
    p->predict_waiting = false;
    p->told = false;
    pairs_add_all(p, now);
}

static void pairs_add_all(punch_t *p, usec_t now)
{
    /* Pairs are probed first in the order they are added. */
    bool sequential = sequential_pair(p);
    if (sequential)
        add_predicted(p, now);
    bool same_nat = p->mapped.ip && p->mapped.ip == p->peer_mapped.ip;
    pair_add(p, PUNCH_SOCKET_PRIMARY, p->peer_mapped,
             same_nat ? AGENTMSG_TECHNIQUE_HAIRPIN : AGENTMSG_TECHNIQUE_PUNCH, true, now);
    for (unsigned i = 0; i < p->n_peer_candidates; i++) {
        const agentmsg_candidate_t *c = &p->peer_candidates[i];
        if (c->type == AGENTMSG_CANDIDATE_RELAY)
            continue; /* the peer's allocation admits only the relays it permitted */
        uint8_t t = c->type == AGENTMSG_CANDIDATE_HOST    ? AGENTMSG_TECHNIQUE_LAN
                    : c->type == AGENTMSG_CANDIDATE_PORTMAP ? AGENTMSG_TECHNIQUE_PORTMAP
                                                            : AGENTMSG_TECHNIQUE_PUNCH;
        pair_add(p, PUNCH_SOCKET_PRIMARY, c->endpoint, t, true, now);
    }
    if (!sequential)
        add_predicted(p, now);
}

/* Why no technique has a real chance, from both classifications, or NULL.
 * Two mappings per destination meet only where both sides' mappings point
 * at each other; R = PUNCH_BIRTHDAY_RANGE ports. */
static const char *hopeless(const punch_t *p)
{
    uint8_t a = p->nat.mapping, b = p->peer_nat.mapping;
    if (a == AGENTMSG_MAPPING_UNKNOWN || b == AGENTMSG_MAPPING_UNKNOWN ||
        a == AGENTMSG_MAPPING_INDEPENDENT || b == AGENTMSG_MAPPING_INDEPENDENT)
        return NULL;
    if (p->mapped.ip && p->mapped.ip == p->peer_mapped.ip)
        return NULL; /* one NAT: hairpin and LAN candidates */
    if (p->pm.mapped || p->pm.active)
        return NULL;
    for (unsigned i = 0; i < p->n_peer_candidates; i++)
        if (p->peer_candidates[i].type == AGENTMSG_CANDIDATE_PORTMAP)
            return NULL;
    if (a == AGENTMSG_MAPPING_RANDOM && b == AGENTMSG_MAPPING_RANDOM)
        /* n random mappings a side, each pair of them a match with
         * probability 1/R^2: 1 - exp(-n^2/R^2) = 1/2 at n = R sqrt(ln 2). */
        return "both NATs map per destination at random ports: a pair needs each side's mapping "
               "to point at the other's, P = 1 - exp(-n^2/R^2) for n probes a side, so a 50% "
               "chance takes n = R sqrt(ln 2) = 53,710 probes a side (R = 64,512): relayed";
    if (a == AGENTMSG_MAPPING_RANDOM || b == AGENTMSG_MAPPING_RANDOM)
        /* Each port of the sequential side points at one remote port, so
         * each random-side mapping aimed at it matches with probability 1/R,
         * however the probes are spread: no birthday product n*m. */
        return "one NAT maps per destination at random ports, the other in sequence: each "
               "sequential port admits one remote port, so n random-side probes find a pair "
               "with P = 1 - exp(-n/R), and a 50% chance takes n = R ln 2 = 44,716 probes "
               "(R = 64,512): relayed";
    if (!p->cfg.predict_window)
        return "both NATs map per destination in sequence, and prediction is off: relayed";
    return NULL;
}

/* Punching ends early when the classifications leave no chance (after a
 * grace that lets an unclassified filter, EIF, show itself), or when both
 * sides predicted in sequence and no pair answered: then something else took
 * ports of a sequence. A relayed pair costs seconds, not the punch timeout. */
#define HOPELESS_GRACE (2 * USEC_PER_SEC)
#define SEQUENTIAL_GRACE (3 * USEC_PER_SEC)

static usec_t punch_deadline(const punch_t *p, const char **reason)
{
    usec_t timeout = p->cfg.punch_timeout;
    const char *why = "no direct path within the punch timeout";
    usec_t rtts = 8 * p->relay_srtt; /* slow links get as many probe rounds */
    const char *h = hopeless(p);
    if (h && MAX(HOPELESS_GRACE, rtts) < timeout) {
        timeout = MAX(HOPELESS_GRACE, rtts);
        why = h;
    } else if (sequential_pair(p) && MAX(SEQUENTIAL_GRACE, rtts) < timeout) {
        timeout = MAX(SEQUENTIAL_GRACE, rtts);
        why = "both NATs map per destination in sequence and no predicted pair answered: "
              "other traffic through a NAT took ports of its sequence between the server's "
              "observation and the probes (cross-traffic): relayed";
    }
    if (reason)
        *reason = why;
    return p->punch_started + timeout;
}

static void punching_give_up(punch_t *p, usec_t now)
{
    const char *reason;
    punch_deadline(p, &reason);
    p->punching = false;
    p->gave_up = true;
    punching_stop_birthday(p);
    event_push(p, PUNCH_EVENT_PUNCH_GAVE_UP, now)->reason = reason;
    tcp_punch_begin(p, now);
}

static void pairs_reset(punch_t *p)
{
    g_array_set_size(p->pairs, 0);
    p->current = -1;
}

static void portmap_start(punch_t *p, usec_t now);

static void fall_back(punch_t *p, const char *reason, usec_t now)
{
    p->stats.fallbacks++;
    event_push(p, PUNCH_EVENT_RELAY_FALLBACK, now)->reason = reason;
    set_path(p, -1, reason, now);
    pairs_reset(p);
    if (p->tcpp) {
        tcppunch_reset(p->tcpp);
        tcp_drain(p, now);
    }
    register_again(p, now);
    if (p->pm.mapped || p->pm.active)
        portmap_start(p, now);
    punching_start(p, now);
}

/* A relayed round trip to the peer crosses both sides' paths to the server:
 * wait for several before calling the peer silent. */
static usec_t peer_silence(const punch_t *p)
{
    return MAX(PEER_SILENCE, 8 * p->server_rtt);
}

/* A session's TCP punching, with the server's TCP port that works first. */
static void tcp_punch_new(punch_t *p, usec_t now)
{
    if (p->tcpp) {
        tcppunch_reset(p->tcpp);
        tcp_drain(p, now);
        g_clear_pointer(&p->tcpp, tcppunch_free);
    }
    if (!p->cfg.tcp_punch_port)
        return;
    tcppunch_config_t c = { .controlling = p->controlling, .local_port = p->cfg.tcp_punch_port,
                            .local_ip = p->cfg.local.ip, .server_ip = p->cfg.server.ip,
                            .seed = rng_next(&p->rng) };
    if (p->stream == STREAM_UP)
        c.server_ports[c.n_server_ports++] = p->tcp_ports[p->tcp_try];
    for (unsigned i = 0; i < p->n_tcp_ports && c.n_server_ports < TCPPUNCH_PORTS_MAX; i++)
        if (!c.n_server_ports || p->tcp_ports[i] != c.server_ports[0])
            c.server_ports[c.n_server_ports++] = p->tcp_ports[i];
    p->tcpp = tcppunch_new(&c);
}

static void session_begin(punch_t *p, const agentmsg_t *m, usec_t now)
{
    bool same = p->session && p->session_id == m->session;
    bool peer_moved = same && (!addr_endpoint_equal(p->peer_mapped, m->endpoint) ||
                               p->n_peer_candidates != m->n_candidates ||
                               memcmp(p->peer_candidates, m->candidates,
                                      m->n_candidates * sizeof m->candidates[0]));
    if (same && !peer_moved)
        return;
    p->peer_mapped = m->endpoint;
    p->peer_nat = m->nat;
    p->n_peer_candidates = m->n_candidates;
    memcpy(p->peer_candidates, m->candidates, sizeof p->peer_candidates);
    p->peer_relayed = addr_endpoint(0, 0);
    for (unsigned i = 0; i < m->n_candidates; i++)
        if (m->candidates[i].type == AGENTMSG_CANDIDATE_RELAY)
            p->peer_relayed = m->candidates[i].endpoint;
    p->peer_relay_dead = false;
    p->turn_heard = now;
    if (p->turn && p->peer_relayed.port) {
        /* Its data reaches our relayed address only with a permission. */
        turn_permit(p->turn, p->peer_relayed.ip, now);
        turn_output(p);
    }
    if (same) {
        /* The peer re-registered from elsewhere (its NAT rebooted or moved):
         * what pointed at its old endpoints is dead. */
        const pair_t *cur = pair_at(p, p->current);
        if (cur && !addr_endpoint_equal(cur->remote, m->endpoint))
            fall_back(p, "the peer's endpoint changed", now);
        else
            punching_start(p, now);
        return;
    }
    bool had_session = p->session;
    p->session = true;
    p->session_id = m->session;
    p->controlling = m->role == 1;
    g_strlcpy(p->peer_name, m->name, sizeof p->peer_name);
    if (m->flags & AGENTMSG_FLAG_KEY_DERIVED)
        agentmsg_session_key(p->secret, p->cfg.secret_len, m->session, p->key);
    else
        memcpy(p->key, m->key, sizeof p->key);
    p->peer_replay = (agentmsg_replay_t){ 0 };
    p->session_started = now;
    p->connecting = false;
    /* A connector whose peer never answered the old session (its PEER was
     * lost) keeps its data for the new one: none of it arrived. */
    bool keep_data = p->cfg.peer && had_session && !p->peer_heard;
    p->peer_left = false;
    p->peer_heard = false;
    p->reconnect_next = now + peer_silence(p);
    /* A new peer counts its messages from 1 again: forget the old session's
     * data (a listener serves one session after another). */
    g_hash_table_remove_all(p->received);
    if (!keep_data) {
        g_ptr_array_set_size(p->unacked, 0);
        p->next_seq = 0;
    }
    for (unsigned i = 0; i < p->unacked->len; i++)
        ((outgoing_t *)g_ptr_array_index(p->unacked, i))->last_sent = 0; /* due at once */
    p->last_ack = now;
    p->first_byte = p->direct_at = 0;
    p->technique = AGENTMSG_TECHNIQUE_NONE;
    p->relay_samples = 0;
    pairs_reset(p);
    tcp_punch_new(p, now);
    punch_event_t *e = event_push(p, PUNCH_EVENT_SESSION, now);
    e->peer = p->peer_name;
    e->controlling = p->controlling;
    e->candidates[0] = (agentmsg_candidate_t){ AGENTMSG_CANDIDATE_SRFLX, m->endpoint };
    e->n_candidates = 1;
    for (unsigned i = 0; i < m->n_candidates; i++)
        e->candidates[e->n_candidates++] = m->candidates[i];
    punching_start(p, now);
    /* Lazy traversal: the relay carries data at once; a relayed probe
     * measures its round trip. */
    agentmsg_t probe = { .type = AGENTMSG_PROBE, .timestamp = (uint64_t)now };
    send_peer(p, -1, &probe);
    p->ring[probe.counter % PROBE_RING] =
        (sent_probe_t){ .counter = probe.counter, .socket = RELAYED, .sent_at = now };
}

/* ---- data ---- */

static void data_transmit(punch_t *p, outgoing_t *o, usec_t now)
{
    agentmsg_t m = { .type = AGENTMSG_DATA, .seq = o->seq, .payload = o->data,
                     .payload_len = o->len, .flags = o->echo ? AGENTMSG_FLAG_ECHO : 0 };
    if (o->last_sent)
        p->stats.data_retransmitted++;
    else
        o->first_sent = now;
    o->last_sent = now;
    send_peer(p, p->current, &m);
}

static usec_t data_rto(const punch_t *p)
{
    const pair_t *cur = pair_at((punch_t *)p, p->current);
    usec_t srtt = cur ? cur->srtt : p->relay_srtt;
    return CLAMP(3 * srtt, DATA_RTO_MIN, DATA_RTO_MAX);
}

static bool queue_data(punch_t *p, const uint8_t *data, size_t len, bool echo, usec_t now)
{
    if (!p->session || len > AGENTMSG_PAYLOAD_MAX)
        return false;
    outgoing_t *o = g_new0(outgoing_t, 1);
    o->seq = ++p->next_seq;
    o->echo = echo;
    o->len = len;
    memcpy(o->data, data, len);
    if (!p->unacked->len)
        p->last_ack = now; /* the give-up clock runs while something waits */
    g_ptr_array_add(p->unacked, o);
    p->stats.data_sent++;
    data_transmit(p, o, now);
    return true;
}

bool punch_send(punch_t *p, const uint8_t *data, size_t len, usec_t now)
{
    p->now = now;
    return queue_data(p, data, len, false, now);
}

static void data_received(punch_t *p, int pair, const agentmsg_t *m, usec_t now)
{
    agentmsg_t ack = { .type = AGENTMSG_DATA_ACK, .seq = m->seq };
    send_peer(p, pair, &ack);
    if (g_hash_table_contains(p->received, GUINT_TO_POINTER(m->seq)))
        return;
    g_hash_table_add(p->received, GUINT_TO_POINTER(m->seq));
    bool echo = m->flags & AGENTMSG_FLAG_ECHO;
    if (!p->first_byte) {
        p->first_byte = now;
        punch_event_t *e = event_push(p, PUNCH_EVENT_FIRST_BYTE, now);
        e->path = pair < 0 ? PUNCH_PATH_RELAY : pair_kind(pair_at(p, pair));
        e->rtt = pair < 0 ? p->relay_srtt : pair_at(p, pair)->srtt;
        e->turn = pair < 0 && p->rx_turn;
    }
    punch_output_t *o = out_push(p, PUNCH_OUT_DELIVER);
    o->len = MIN(m->payload_len, sizeof o->data);
    memcpy(o->data, m->payload, o->len);
    o->echo = echo;
    if (echo)
        p->stats.echoed++;
    else if (!p->cfg.peer) /* a listener echoes what it receives */
        queue_data(p, m->payload, m->payload_len, true, now);
}

static void data_acked(punch_t *p, uint32_t seq, usec_t now)
{
    for (unsigned i = 0; i < p->unacked->len; i++) {
        outgoing_t *o = g_ptr_array_index(p->unacked, i);
        if (o->seq == seq) {
            g_ptr_array_remove_index(p->unacked, i); /* frees o */
            p->stats.delivered++;
            p->last_ack = now;
            return;
        }
    }
}

/* ---- receiving ---- */

static void rtt_sample(usec_t *srtt, unsigned *samples, usec_t sample)
{
    if (sample < 0)
        return;
    /* RFC 6298 section 2: SRTT <- 7/8 SRTT + 1/8 R' (the first sample as is). */
    *srtt = *samples ? (*srtt * 7 + sample) / 8 : sample;
    (*samples)++;
}

static void peer_message(punch_t *p, unsigned socket, addr_endpoint_t from, const agentmsg_t *m,
                         bool relayed, usec_t now)
{
    int pair = -1;
    p->peer_heard = true;
    if (!relayed && m->type != AGENTMSG_ANNOUNCE) {
        pair = pair_find(p, socket, from);
        if (pair < 0) /* RFC 8445 section 7.3.1.3: a source we did not aim at: peer-reflexive */
            pair = pair_add(p, socket, from, AGENTMSG_TECHNIQUE_PEER_REFLEXIVE, false, now);
        if (pair < 0)
            return;
        pair_at(p, pair)->last_rx = now;
    }
    switch (m->type) {
    case AGENTMSG_PROBE: {
        p->stats.probes_received++;
        if (relayed && m->technique == AGENTMSG_TECHNIQUE_PREDICTED)
            peer_told(p, m->endpoint, now);
        agentmsg_t ack = { .type = AGENTMSG_PROBE_ACK, .echo_counter = m->counter,
                           .timestamp = m->timestamp, .endpoint = from };
        pair_t *pr = pair_at(p, pair);
        if (pr) {
            pr->remote_technique = technique_combine(pr->remote_technique, m->technique);
            ack.technique = pr->local_technique;
        }
        send_peer(p, pair, &ack);
        /* RFC 8445 section 7.3.1.4: a triggered check answers a check at once. */
        if (pr && !pr->valid && now - pr->last_triggered >= p->cfg.probe_interval / 4) {
            pr->last_triggered = now;
            send_probe_to(p, pr->socket, pr->remote, pr->local_technique, false, now);
        }
        break;
    }
    case AGENTMSG_PROBE_ACK: {
        const sent_probe_t *s = &p->ring[m->echo_counter % PROBE_RING];
        if (s->counter != m->echo_counter || s->socket != (relayed ? RELAYED : socket) ||
            !m->echo_counter) {
            p->stats.dropped[PUNCH_DROP_UNEXPECTED]++; /* no probe of ours: proves nothing */
            break;
        }
        p->stats.acks_received++;
        if (relayed) {
            if (s->technique == AGENTMSG_TECHNIQUE_PREDICTED)
                p->tell_acked = true;
            rtt_sample(&p->relay_srtt, &p->relay_samples, now - s->sent_at);
            break;
        }
        pair_t *pr = pair_at(p, pair);
        pr->local_technique = technique_combine(pr->local_technique, s->technique);
        pr->remote_technique = technique_combine(pr->remote_technique, m->technique);
        rtt_sample(&pr->srtt, &pr->rtt_samples, now - s->sent_at);
        if (!pr->valid) {
            pr->valid = true;
            if (!p->first_valid)
                p->first_valid = now;
        }
        choose_path(p, now);
        break;
    }
    case AGENTMSG_DATA:
        data_received(p, pair, m, now);
        break;
    case AGENTMSG_DATA_ACK:
        data_acked(p, m->seq, now);
        break;
    case AGENTMSG_ANNOUNCE:
        /* Our own broadcast comes back to the discovery socket too. */
        if (!addr_endpoint_equal(m->endpoint, p->cfg.local) && m->endpoint.ip == from.ip) {
            bool known = pair_find(p, PUNCH_SOCKET_PRIMARY, m->endpoint) >= 0;
            pair_add(p, PUNCH_SOCKET_PRIMARY, m->endpoint, AGENTMSG_TECHNIQUE_LAN, true, now);
            if (!known && p->cfg.broadcast)
                p->next_announce = now; /* answer at once: the peer may have missed ours */
        }
        break;
    case AGENTMSG_BYE:
        p->peer_left = true;
        break;
    case AGENTMSG_TCP_PUNCH:
        if (p->tcpp) {
            tcppunch_message(p->tcpp, m, now);
            tcp_drain(p, now);
        } else if (m->phase == AGENTMSG_TCP_OFFER) {
            /* No listener here: say so at once rather than let the offer time out. */
            agentmsg_t no = { .type = AGENTMSG_TCP_PUNCH, .phase = AGENTMSG_TCP_ANSWER,
                              .echo_timestamp = m->timestamp, .timestamp = (uint64_t)now };
            send_peer(p, -1, &no);
        }
        break;
    default:
        p->stats.dropped[PUNCH_DROP_UNEXPECTED]++;
    }
}

static bool peer_read(punch_t *p, const uint8_t *data, size_t len, agentmsg_t *m)
{
    uint8_t type;
    uint64_t session;
    if (!agentmsg_peek(data, len, &type, &session)) {
        p->stats.dropped[PUNCH_DROP_MALFORMED]++;
        return false;
    }
    if (!p->session || session != p->session_id || type < AGENTMSG_PROBE) {
        p->stats.dropped[PUNCH_DROP_UNEXPECTED]++;
        return false;
    }
    enum agentmsg_read_result r = agentmsg_read(data, len, p->key, sizeof p->key, m);
    if (r != AGENTMSG_OK) {
        p->stats.dropped[r == AGENTMSG_ERR_AUTH ? PUNCH_DROP_AUTH : PUNCH_DROP_MALFORMED]++;
        return false;
    }
    return true;
}

static void peer_accept(punch_t *p, unsigned socket, addr_endpoint_t from, const agentmsg_t *m,
                        bool relayed, usec_t now)
{
    if (m->type == AGENTMSG_ANNOUNCE && addr_endpoint_equal(m->endpoint, p->cfg.local))
        return; /* our own broadcast: its counter is ours, not the peer's */
    if (!agentmsg_replay_accept(&p->peer_replay, m->counter)) {
        p->stats.dropped[PUNCH_DROP_REPLAY]++;
        return;
    }
    peer_message(p, socket, from, m, relayed, now);
}

/* The server confirmed us over UDP: the stream has done its work. */
static void transport_to_udp(punch_t *p, usec_t now)
{
    if (p->stream != STREAM_NONE)
        out_push(p, PUNCH_OUT_STREAM_CLOSE);
    p->stream = STREAM_NONE;
    p->tcp_used = p->udp_lost = false;
    punch_event_t *e = event_push(p, PUNCH_EVENT_TRANSPORT, now);
    e->remote = p->cfg.server;
    e->reason = "the server answers over UDP again";
    if (p->session) {
        pairs_reset(p);
        punching_start(p, now);
    }
}

static void server_message(punch_t *p, const agentmsg_t *m, bool via_stream, usec_t now)
{
    switch (m->type) {
    case AGENTMSG_REGISTERED: {
        if (p->reg != REG_REGISTERING || via_stream != p->via_tcp)
            return; /* a late answer on the transport we left */
        p->reg = REG_REGISTERED;
        p->stats.registrations++;
        /* Our port mapping now carries the primary socket's traffic to the
         * server too (a symmetric NAT's explicit mapping is used toward every
         * destination): a move, but no sign of a NAT forgetting us. */
        bool to_mapping = p->pm.mapped && addr_endpoint_equal(m->endpoint, p->pm.external);
        bool moved = p->registered_once && !addr_endpoint_equal(p->mapped, m->endpoint) && !to_mapping &&
                     !p->transport_changed; /* another transport or connection: another endpoint */
        if (p->transport_changed && p->udp_lost)
            for (unsigned i = 0; i < p->unacked->len; i++) /* the relay works again: at once */
                ((outgoing_t *)g_ptr_array_index(p->unacked, i))->last_sent = 0;
        p->transport_changed = false;
        p->mapped = m->endpoint;
        p->reg_refresh = now + p->keepalive;
        if (!p->registered_once) {
            p->registered_once = true;
            punch_event_t *e = event_push(p, PUNCH_EVENT_REGISTERED, now);
            e->local = m->endpoint;
            e->nat = p->nat;
            e->tcp = via_stream;
            if (p->cfg.peer) {
                p->connecting = true;
                p->connect_next = now;
                p->connect_deadline = now + CONNECT_PATIENCE;
            }
        } else if (moved) {
            /* Our mapping toward the server changed between two refreshes:
             * the NAT forgot it (a timeout shorter than our keepalive, or a
             * reboot). Keep mappings alive more often; the server tells the
             * peer our new endpoint and both sides punch again. */
            keepalive_shorten(p, p->keepalive / 2, now);
            p->reg_refresh = now + p->keepalive;
            if (turn_in(p, TURN_READY)) { /* the TURN socket's mapping may be gone too */
                turn_refresh(p->turn, now);
                turn_output(p);
            }
            if (p->session)
                fall_back(p, "our public endpoint changed", now);
        }
        if (!via_stream && p->tcp_used)
            transport_to_udp(p, now);
        break;
    }
    case AGENTMSG_PEER:
        session_begin(p, m, now);
        break;
    case AGENTMSG_ERROR:
        if (m->code == AGENTMSG_ERROR_NOT_REGISTERED)
            register_again(p, now);
        if (m->code == AGENTMSG_ERROR_NO_SESSION && p->session && m->session == p->session_id) {
            p->peer_left = true;
            if (p->cfg.peer) /* a connector's session (and its --hold) is over */
                fail(p, "the peer left the session", now);
        }
        /* UNKNOWN_PEER: CONNECT retries until CONNECT_PATIENCE runs out. */
        break;
    case AGENTMSG_RELAY: {
        agentmsg_t inner;
        if (peer_read(p, m->payload, m->payload_len, &inner))
            peer_accept(p, PUNCH_SOCKET_PRIMARY, p->cfg.server, &inner, true, now);
        break;
    }
    default:
        p->stats.dropped[PUNCH_DROP_UNEXPECTED]++;
    }
}

static void stun_answer(punch_t *p, const uint8_t *data, size_t len, usec_t now)
{
    stun_message_t m;
    if (stun_read(data, len, &m) != STUN_OK || m.msg_class != STUN_CLASS_SUCCESS) {
        p->stats.dropped[PUNCH_DROP_MALFORMED]++;
        return;
    }
    binding_t *u = &p->udp_probe;
    if (u->active && !u->answered && !memcmp(u->id, m.transaction_id, sizeof u->id)) {
        u->answered = true;
        if (p->via_tcp && !p->udp_back) {
            /* UDP is back: classify our NAT again from this answer on. */
            p->udp_back = true;
            memset(&p->bind[1], 0, sizeof p->bind[1]);
            memset(&p->bind[2], 0, sizeof p->bind[2]);
            p->bind[0] = *u;
            p->bind[0].mapped = m.has & STUN_HAS_XOR_MAPPED ? m.xor_mapped : m.mapped;
            p->bind[0].other = m.has & STUN_HAS_OTHER_ADDRESS ? m.other_address : addr_endpoint(0, 0);
            bindings_progress(p, now);
        }
        return;
    }
    binding_t *f = &p->fresh;
    if (f->active && !f->answered && !memcmp(f->id, m.transaction_id, sizeof f->id)) {
        f->answered = true;
        fresh_answered(p, m.has & STUN_HAS_XOR_MAPPED ? m.xor_mapped : m.mapped, now);
        return;
    }
    for (unsigned i = 0; i < 3; i++) {
        binding_t *b = &p->bind[i];
        if (!b->active || b->answered || memcmp(b->id, m.transaction_id, sizeof b->id))
            continue;
        b->answered = true;
        if (i == 0 && b->tries == 1)
            p->server_rtt = now - (b->next - SERVER_RETRY);
        b->mapped = m.has & STUN_HAS_XOR_MAPPED ? m.xor_mapped : m.mapped;
        if (m.has & STUN_HAS_OTHER_ADDRESS)
            b->other = m.other_address;
        if (p->reg == REG_BINDING || p->udp_back)
            bindings_progress(p, now);
        return;
    }
}

static void portmap_answer(punch_t *p, const uint8_t *data, size_t len, usec_t now)
{
    portmap_answer_t a;
    if (!portmap_read_answer(data, len, &a) || !p->pm.active) {
        p->stats.dropped[PUNCH_DROP_MALFORMED]++;
        return;
    }
    if (a.result != 0 || (a.opcode == 1 && a.internal_port != p->cfg.local.port) || p->pm.upnp)
        return;
    if (a.pcp && (a.opcode != 1 || memcmp(a.nonce, p->pm.nonce, sizeof a.nonce)))
        return;
    if (!a.pcp && a.opcode == 0) {
        p->pm.natpmp_address = a.external_ip;
        if (!p->pm.external.port)
            return;
    } else {
        p->pm.external = addr_endpoint(a.pcp ? a.external_ip : p->pm.natpmp_address, a.external_port);
        p->pm.pcp = a.pcp;
        if (!p->pm.external.ip)
            return; /* NAT-PMP: the address answer is still on its way */
    }
    /* RFC 6886 section 3.6 / RFC 6887 section 8.5: an epoch that went back
     * means the gateway lost its mappings; ours is re-created by this very
     * request, and the peer hears of it through the server. */
    usec_t elapsed = p->pm.epoch_at ? (now - p->pm.epoch_at) / USEC_PER_SEC : 0;
    bool rebooted = p->pm.mapped && a.epoch + 2 < p->pm.epoch + (uint32_t)elapsed * 7 / 8;
    bool changed = !p->pm.mapped || rebooted;
    p->pm.epoch = a.epoch;
    p->pm.epoch_at = now;
    p->pm.mapped = true;
    if (p->pm.upnpc)
        upnpc_stop(p->pm.upnpc); /* the gateway answered NAT-PMP or PCP first */
    p->pm.active = false;
    p->pm.next = now + (usec_t)(a.lifetime_s ? a.lifetime_s : PORTMAP_LIFETIME_S) * USEC_PER_SEC / 2;
    if (changed) {
        punch_event_t *e = event_push(p, PUNCH_EVENT_PORT_MAPPING, now);
        e->pcp = a.pcp;
        e->remote = p->pm.external;
        e->lifetime_s = a.lifetime_s;
        e->epoch = a.epoch;
        e->reason = rebooted ? "the gateway rebooted (epoch went back)" : NULL;
    }
    if (p->reg == REG_REGISTERED || p->reg == REG_REGISTERING)
        register_again(p, now);
}

static void portmap_send(punch_t *p, usec_t now)
{
    uint8_t buf[PORTMAP_REQUEST_MAX];
    addr_endpoint_t gw = addr_endpoint(p->cfg.gateway, PUNCH_PORTMAP_PORT);
    uint16_t suggest = p->pm.external.port ? p->pm.external.port : p->cfg.local.port;
    send_raw(p, PUNCH_SOCKET_PRIMARY, gw, buf,
             portmap_pcp_map_request(buf, p->pm.nonce, p->cfg.local.ip, p->cfg.local.port, suggest,
                                     PORTMAP_LIFETIME_S));
    send_raw(p, PUNCH_SOCKET_PRIMARY, gw, buf, portmap_natpmp_address_request(buf));
    send_raw(p, PUNCH_SOCKET_PRIMARY, gw, buf,
             portmap_natpmp_map_request(buf, p->cfg.local.port, suggest, PORTMAP_LIFETIME_S));
    p->pm.tries++;
    p->pm.next = now + PORTMAP_RETRY;
}

static void upnp_drain(punch_t *p, usec_t now);

static void portmap_start(punch_t *p, usec_t now)
{
    if (!p->cfg.portmap || !p->cfg.gateway || !p->cfg.local.port)
        return;
    if (p->pm.upnpc && (!p->pm.mapped || p->pm.upnp)) {
        upnpc_start(p->pm.upnpc, now); /* checks (and re-creates) a UPnP mapping held */
        upnp_drain(p, now);
        if (p->pm.upnp)
            return;
    }
    p->pm.active = true;
    p->pm.tries = 0;
    if (!p->pm.nonce[0] && !p->pm.nonce[1])
        for (unsigned i = 0; i < PORTMAP_NONCE_SIZE; i++)
            p->pm.nonce[i] = (uint8_t)(rng_next(&p->rng) | 1);
    portmap_send(p, now);
}

/* What upnpc wants sent, and what it got: a UPnP mapping is a candidate as
 * a NAT-PMP or PCP one; the first protocol to map wins the race. */
static void upnp_drain(punch_t *p, usec_t now)
{
    upnpc_output_t *o = g_new(upnpc_output_t, 1); /* large: not on the stack */
    while (upnpc_pop_output(p->pm.upnpc, o)) {
        switch (o->kind) {
        case UPNPC_OUT_DATAGRAM:
            send_raw(p, PUNCH_SOCKET_PRIMARY, o->to, o->data, o->len);
            break;
        case UPNPC_OUT_HTTP: {
            punch_output_t *h = out_push(p, PUNCH_OUT_HTTP);
            h->id = o->id;
            h->to = o->to;
            h->len = o->len;
            memcpy(h->data, o->data, o->len);
            break;
        }
        case UPNPC_OUT_MAPPED: {
            if (p->pm.mapped && !p->pm.upnp)
                break; /* NAT-PMP or PCP got there first */
            bool changed = !p->pm.mapped || o->recreated || !addr_endpoint_equal(p->pm.external, o->external);
            p->pm.external = o->external;
            p->pm.mapped = p->pm.upnp = true;
            p->pm.active = false; /* NAT-PMP and PCP lost the race */
            p->pm.pcp = false;
            if (!changed)
                break;
            punch_event_t *e = event_push(p, PUNCH_EVENT_PORT_MAPPING, now);
            e->upnp = true;
            e->remote = o->external;
            e->lifetime_s = o->lease_s;
            e->reason = o->reason;
            if (p->reg == REG_REGISTERED || p->reg == REG_REGISTERING)
                register_again(p, now);
            break;
        }
        case UPNPC_OUT_FAILED:
            if (p->pm.upnp) { /* the mapping is gone and could not be made again */
                p->pm.mapped = p->pm.upnp = false;
                if (p->reg == REG_REGISTERED || p->reg == REG_REGISTERING)
                    register_again(p, now);
            }
            break;
        }
    }
    g_free(o);
}

void punch_http_response(punch_t *p, unsigned id, const uint8_t *data, size_t len, usec_t now)
{
    p->now = now;
    if (!p->pm.upnpc)
        return;
    upnpc_http(p->pm.upnpc, id, data, len, now);
    upnp_drain(p, now);
}

/* A message from the server, over UDP or the stream. */
static void server_datagram(punch_t *p, const uint8_t *data, size_t len, bool via_stream, usec_t now)
{
    agentmsg_t m;
    enum agentmsg_read_result r = agentmsg_read(data, len, p->secret, p->cfg.secret_len, &m);
    if (r != AGENTMSG_OK) {
        p->stats.dropped[r == AGENTMSG_ERR_AUTH ? PUNCH_DROP_AUTH : PUNCH_DROP_MALFORMED]++;
        return;
    }
    if (!agentmsg_replay_accept(&p->server_replay, m.counter)) {
        p->stats.dropped[PUNCH_DROP_REPLAY]++;
        return;
    }
    if (!via_stream) {
        p->server_heard = now;
        p->server_check = false;
    }
    server_message(p, &m, via_stream, now);
}

void punch_receive(punch_t *p, unsigned socket, addr_endpoint_t from, const uint8_t *data,
                   size_t len, usec_t now)
{
    p->now = now;
    if (socket == PUNCH_SOCKET_PRIMARY && from.port == PUNCH_PORTMAP_PORT &&
        from.ip == p->cfg.gateway && p->cfg.gateway) {
        portmap_answer(p, data, len, now);
        return;
    }
    if (socket == PUNCH_SOCKET_PRIMARY && from.port == UPNPC_SSDP_PORT && p->pm.upnpc) {
        upnpc_ssdp(p->pm.upnpc, from, data, len, now);
        upnp_drain(p, now);
        return;
    }
    if (len >= STUN_HEADER_SIZE && data[0] < 4 && socket == PUNCH_SOCKET_PRIMARY) {
        stun_answer(p, data, len, now);
        return;
    }
    agentmsg_t m;
    if (socket == PUNCH_SOCKET_PRIMARY && addr_endpoint_equal(from, p->cfg.server)) {
        server_datagram(p, data, len, false, now);
        return;
    }
    if (peer_read(p, data, len, &m)) {
        if (socket == PUNCH_SOCKET_DISCOVERY && m.type != AGENTMSG_ANNOUNCE) {
            p->stats.dropped[PUNCH_DROP_UNEXPECTED]++;
            return;
        }
        peer_accept(p, socket, from, &m, false, now);
    }
}

/* ---- natlab server over TCP ---- */

static void stream_try(punch_t *p, usec_t now)
{
    if (p->tcp_try >= p->n_tcp_ports) {
        char buf[ADDR_ENDPOINT_STRLEN];
        p->stream = STREAM_NONE;
        p->via_tcp = false;
        if (p->udp_lost) {
            /* Registered once: a direct path may still carry the session,
             * so keep asking over UDP (and TCP again after it). */
            p->udp_lost = false;
            p->reg = REG_REGISTERING;
            p->reg_tries = 0;
            return;
        }
        g_free(p->fail_reason);
        p->fail_reason = g_strdup_printf("no path to the server: UDP %s %s, %s",
                                         addr_endpoint_format(p->cfg.server, buf),
                                         p->udp_refused ? "refused (ICMP unreachable)" : "does not answer",
                                         p->tcp_errors->str);
        fail(p, p->fail_reason, now);
        return;
    }
    punch_output_t *o = out_push(p, PUNCH_OUT_STREAM_CONNECT);
    o->to = addr_endpoint(p->cfg.server.ip, p->tcp_ports[p->tcp_try]);
    p->stream = STREAM_CONNECTING;
    p->stream_deadline = now + STREAM_CONNECT_TIMEOUT;
    agentframe_splitter_init(&p->splitter);
}

/* UDP does not reach the server (or the stream we used broke): the TCP
 * ports in order. */
static void tcp_start(punch_t *p, usec_t now)
{
    g_string_truncate(p->tcp_errors, 0);
    p->tcp_try = 0;
    stream_try(p, now);
}

static void stream_failed(punch_t *p, const char *reason, usec_t now)
{
    g_string_append_printf(p->tcp_errors, "%sTCP %u: %s", p->tcp_errors->len ? ", " : "",
                           p->tcp_ports[p->tcp_try], reason);
    out_push(p, PUNCH_OUT_STREAM_CLOSE);
    p->stream = STREAM_NONE;
    p->tcp_try++;
    stream_try(p, now);
}

void punch_stream_connected(punch_t *p, usec_t now)
{
    p->now = now;
    if (p->failed || p->stream != STREAM_CONNECTING)
        return;
    p->stream = STREAM_UP;
    p->via_tcp = p->tcp_used = true;
    p->udp_back = false;
    p->transport_changed = true;
    p->nat = (agentmsg_nat_t){ .mapping = AGENTMSG_MAPPING_NO_UDP };
    punch_event_t *e = event_push(p, PUNCH_EVENT_TRANSPORT, now);
    e->tcp = true;
    e->remote = addr_endpoint(p->cfg.server.ip, p->tcp_ports[p->tcp_try]);
    e->reason = p->udp_lost ? "the server stopped answering over UDP"
                            : "the server does not answer over UDP";
    p->udp_probe_next = now + UDP_PROBE_INTERVAL;
    p->reg = REG_REGISTERING;
    p->reg_tries = 0;
    register_send(p, now);
    if (p->udp_lost && p->session && p->current < 0) {
        /* Relayed over UDP until now: punching over UDP is over too. A
         * direct path still alive stays until it goes silent (fall_back). */
        pairs_reset(p);
        punching_start(p, now);
    }
}

void punch_stream_broken(punch_t *p, const char *reason, usec_t now)
{
    p->now = now;
    if (p->failed)
        return;
    if (p->stream == STREAM_CONNECTING) {
        stream_failed(p, reason ? reason : "failed", now);
        return;
    }
    if (p->stream != STREAM_UP)
        return;
    p->stream = STREAM_NONE;
    if (p->via_tcp)
        tcp_start(p, now); /* the server went away or dropped us: connect again */
}

void punch_stream_receive(punch_t *p, const uint8_t *data, size_t len, usec_t now)
{
    p->now = now;
    while (len && p->stream == STREAM_UP && !p->failed) {
        size_t n = agentframe_splitter_push(&p->splitter, data, len);
        data += n;
        len -= n;
        agentframe_t f;
        enum agentframe_kind k;
        while (p->stream == STREAM_UP && (k = agentframe_splitter_next(&p->splitter, &f)) != AGENTFRAME_MORE) {
            if (k == AGENTFRAME_AGENTMSG) {
                server_datagram(p, f.msg, f.len, true, now);
            } else if (k == AGENTFRAME_STUN) {
                p->stats.dropped[PUNCH_DROP_UNEXPECTED]++; /* we send no STUN on it */
            } else {
                p->stats.dropped[PUNCH_DROP_MALFORMED]++;
                out_push(p, PUNCH_OUT_STREAM_CLOSE);
                punch_stream_broken(p, "the server's stream lost its framing", now);
                return;
            }
        }
    }
}

/* The connect's timeout (a firewall that drops SYNs answers nothing), and
 * over TCP a Binding over UDP every UDP_PROBE_INTERVAL. */
static usec_t stream_bookkeeping(punch_t *p, usec_t now)
{
    if (p->stream == STREAM_CONNECTING && now >= p->stream_deadline)
        stream_failed(p, "no answer within 3 s", now);
    if (p->stream == STREAM_CONNECTING)
        return p->stream_deadline;
    if (p->via_tcp && p->stream == STREAM_UP && !p->udp_back) {
        if (now >= p->udp_probe_next) {
            binding_start(p, &p->udp_probe, p->cfg.server, now);
            p->udp_probe_next = now + UDP_PROBE_INTERVAL;
        }
        return p->udp_probe_next;
    }
    return 0;
}

void punch_unreachable(punch_t *p, addr_endpoint_t to, usec_t now)
{
    p->now = now;
    binding_t *b = &p->bind[0];
    if (p->failed || p->reg != REG_BINDING || !b->active || b->answered ||
        !addr_endpoint_equal(to, p->cfg.server))
        return;
    b->active = false;
    p->udp_refused = true;
    tcp_start(p, now);
}

bool punch_over_tcp(const punch_t *p)
{
    return p->via_tcp;
}

/* ---- TCP punching ---- */

static const char *tcp_text(punch_t *p, const char *text)
{
    char *slot = p->tcp_texts[p->tcp_text_next++ % TCP_TEXTS];
    g_strlcpy(slot, text ? text : "", sizeof p->tcp_texts[0]);
    return slot;
}

static int tcp_pair(const punch_t *p, unsigned id)
{
    for (unsigned i = 0; i < p->pairs->len; i++)
        if (g_array_index(p->pairs, pair_t, i).socket == SOCKET_TCP + id)
            return (int)i;
    return -1;
}

/* What TCP punching asked for: connections to the shell, its messages
 * through the relay, connections up to be proven by a probe and its
 * answer (a connection is only a candidate until then), their messages. */
static void tcp_drain(punch_t *p, usec_t now)
{
    tcppunch_output_t o;
    while (p->tcpp && tcppunch_pop_output(p->tcpp, &o)) {
        switch (o.kind) {
        case TCPPUNCH_OUT_CONNECT: {
            punch_output_t *out = out_push(p, PUNCH_OUT_TCP_CONNECT);
            out->id = o.id;
            out->to = o.to;
            break;
        }
        case TCPPUNCH_OUT_SEND: {
            punch_output_t *out = out_push(p, PUNCH_OUT_TCP_SEND);
            out->id = o.id;
            out->len = MIN(o.len, sizeof out->data);
            memcpy(out->data, o.data, out->len);
            break;
        }
        case TCPPUNCH_OUT_CLOSE:
            out_push(p, PUNCH_OUT_TCP_CLOSE)->id = o.id;
            break;
        case TCPPUNCH_OUT_MESSAGE:
            send_peer(p, -1, &o.message);
            break;
        case TCPPUNCH_OUT_UP: {
            int i = pair_add(p, SOCKET_TCP + o.id, o.to, AGENTMSG_TECHNIQUE_TCP_PUNCH, false, now);
            if (i >= 0)
                send_probe_to(p, SOCKET_TCP + o.id, o.to, AGENTMSG_TECHNIQUE_TCP_PUNCH, false, now);
            break;
        }
        case TCPPUNCH_OUT_FRAME: {
            agentmsg_t m;
            if (peer_read(p, o.data, o.len, &m))
                peer_accept(p, SOCKET_TCP + o.id, o.to, &m, false, now);
            break;
        }
        case TCPPUNCH_OUT_DOWN: {
            int i = tcp_pair(p, o.id);
            if (i >= 0 && i == p->current) {
                fall_back(p, "the TCP connection closed", now);
            } else if (i >= 0) {
                pair_t *pr = pair_at(p, i);
                pr->valid = pr->aimed = false;
                pr->socket = SOCKET_GONE; /* its id may be reused by a new connection */
            }
            break;
        }
        case TCPPUNCH_OUT_EVENT: {
            punch_event_t *e = event_push(p, PUNCH_EVENT_TCP_PUNCH, now);
            e->attempt = o.attempt;
            e->lead = o.lead;
            e->failed = o.done;
            e->remote = o.to;
            e->reason = tcp_text(p, o.text);
            break;
        }
        }
    }
}

void punch_tcp_connected(punch_t *p, unsigned id, usec_t now)
{
    p->now = now;
    if (p->failed || !p->tcpp)
        return;
    tcppunch_connected(p->tcpp, id, now);
    tcp_drain(p, now);
}

void punch_tcp_broken(punch_t *p, unsigned id, const char *reason, usec_t now)
{
    p->now = now;
    if (p->failed || !p->tcpp)
        return;
    tcppunch_broken(p->tcpp, id, reason, now);
    tcp_drain(p, now);
}

void punch_tcp_receive(punch_t *p, unsigned id, const uint8_t *data, size_t len, usec_t now)
{
    p->now = now;
    if (p->failed || !p->tcpp)
        return;
    tcppunch_receive(p->tcpp, id, data, len, now);
    tcp_drain(p, now);
}

unsigned punch_tcp_accepted(punch_t *p, addr_endpoint_t from, usec_t now)
{
    p->now = now;
    if (p->failed || !p->tcpp)
        return 0;
    unsigned id = tcppunch_accepted(p->tcpp, from, now);
    tcp_drain(p, now);
    return id;
}

/* ---- TURN ---- */

static void turn_lost(punch_t *p, const char *reason, usec_t now)
{
    if (p->turn_down)
        return;
    p->turn_down = true;
    event_push(p, PUNCH_EVENT_TURN_FAILED, now)->reason = reason;
    /* Without the RELAY candidate now; the first REGISTER was waiting. */
    if (p->reg == REG_REGISTERED || p->reg == REG_REGISTERING)
        register_again(p, now);
}

/* A TURN client, allocating; a fresh seed for each allocation made again
 * (the first's own: the punching's random draws stay as without TURN). */
static void turn_start(punch_t *p, usec_t now)
{
    p->turn_conn++;
    p->turn_answered = false;
    p->turn_deadline = p->cfg.turn_tcp ? now + TURN_CONNECT_TIMEOUT : 0;
    turn_config_t tc = { .server = p->turn_to, .username = p->turn_user,
                         .password = p->turn_password, .tcp = p->cfg.turn_tcp,
                         .seed = p->cfg.seed ^ 0x7475726e7475726eull ^ p->turn_allocs };
    turn_free(p->turn);
    p->turn = turn_new(&tc, now);
}

/* Our allocation was lost after it worked (a NAT that rebooted or remapped
 * our TURN socket: the server sees another 5-tuple, RFC 8656 7.2 answers
 * 437): allocate again, natlab's relay meanwhile; the new relayed address
 * goes to the peer in a REGISTER once it is there. */
static void turn_reallocate(punch_t *p, const char *why, usec_t now)
{
    g_free(p->turn_again_reason);
    p->turn_again_reason = g_strdup_printf("the previous allocation was lost (%s)", why ? why : "?");
    p->turn_allocs++;
    p->turn_told = false;
    p->turn_again = true;
    turn_start(p, now);
}

/* Over TCP, the URI's port refused or did not answer: 443, what a
 * corporate firewall lets out (as natlab server's --server-tcp-ports). */
static bool turn_next_port(punch_t *p, const char *why, usec_t now)
{
    if (!p->cfg.turn_tcp || p->turn_told || p->turn_allocs || p->turn_down ||
        p->turn_to.port == PUNCH_TCP_FALLBACK_PORT)
        return false;
    g_string_append_printf(p->turn_errors, "TCP %u: %s, ", p->turn_to.port, why);
    p->turn_to.port = PUNCH_TCP_FALLBACK_PORT;
    turn_start(p, now);
    turn_output(p);
    return true;
}

/* Given up: the reason names every port tried. */
static void turn_give_up(punch_t *p, const char *why, usec_t now)
{
    if (p->turn_errors->len) {
        char *reason = g_strdup_printf("%sTCP %u: %s", p->turn_errors->str, p->turn_to.port, why);
        g_free(p->turn_reason);
        p->turn_reason = reason;
        why = reason;
    }
    turn_lost(p, why, now);
}

/* What the TURN client wants sent. */
static void turn_output(punch_t *p)
{
    uint8_t buf[PUNCH_OUTPUT_MAX];
    size_t n;
    while (turn_pop_output(p->turn, buf, sizeof buf, &n)) {
        if (!n)
            continue; /* larger than any message we make */
        punch_output_t *o = out_push(p, PUNCH_OUT_TURN);
        o->len = n;
        memcpy(o->data, buf, n);
    }
}

/* What the TURN client wants sent, what became of the allocation, and what
 * peers sent us through it. */
static void turn_drain(punch_t *p, usec_t now)
{
    if (!p->turn)
        return;
    turn_output(p);
    uint8_t buf[PUNCH_OUTPUT_MAX];
    size_t n;
    turn_state_t st = turn_state(p->turn);
    if (st == TURN_READY && !p->turn_told && !p->turn_down) {
        p->turn_told = true;
        punch_event_t *e = event_push(p, PUNCH_EVENT_TURN_ALLOCATED, now);
        e->local = turn_mapped(p->turn);
        e->remote = turn_relayed(p->turn);
        e->reason = p->turn_again ? p->turn_again_reason : NULL;
        if (p->turn_again && p->session && p->peer_relayed.port) {
            /* The peer's allocation admits the server's relay address
             * already; ours admits nobody yet. TURN's silence counts anew. */
            turn_permit(p->turn, p->peer_relayed.ip, now);
            p->peer_relay_dead = false;
            p->turn_heard = now;
        }
        p->turn_again = false;
        /* A peer on the same TURN server sends from that server's relay
         * address: permitting it now, before any session, means its first
         * messages are not dropped while our permission is on its way. */
        turn_permit(p->turn, turn_relayed(p->turn).ip, now);
        turn_output(p);
        if (p->reg == REG_REGISTERED || p->reg == REG_REGISTERING)
            register_again(p, now); /* with the RELAY candidate */
    } else if (st == TURN_FAILED && p->turn_told && !p->turn_down &&
               p->turn_allocs < TURN_REALLOCS_MAX) {
        turn_reallocate(p, turn_error(p->turn), now);
        turn_output(p);
    } else if (st == TURN_FAILED && !turn_next_port(p, turn_error(p->turn), now)) {
        turn_give_up(p, turn_error(p->turn), now);
    }
    addr_endpoint_t from;
    while (turn_pop_data(p->turn, &from, buf, sizeof buf, &n)) {
        agentmsg_t m;
        if (!peer_read(p, buf, n, &m))
            continue;
        p->stats.turn_received++;
        p->turn_heard = now;
        p->rx_turn = true;
        uint64_t replays = p->stats.dropped[PUNCH_DROP_REPLAY];
        peer_accept(p, PUNCH_SOCKET_PRIMARY, from, &m, true, now);
        p->rx_turn = false;
        if (replays == p->stats.dropped[PUNCH_DROP_REPLAY] && p->peer_relayed.port &&
            !addr_endpoint_equal(from, p->peer_relayed)) {
            /* The session's key from another relayed address: the peer
             * allocated again (the server passes on a new endpoint, not new
             * candidates). Answer there, as ICE learns a peer-reflexive one. */
            p->peer_relayed = from;
            p->peer_relay_dead = false;
        }
    }
}

void punch_turn_receive(punch_t *p, const uint8_t *data, size_t len, usec_t now)
{
    p->now = now;
    if (!p->turn || p->turn_down)
        return;
    p->turn_answered = true;
    turn_receive(p->turn, data, len, now);
    turn_drain(p, now);
}

void punch_turn_broken(punch_t *p, const char *reason, usec_t now)
{
    p->now = now;
    if (!p->turn || p->turn_down)
        return;
    g_autofree char *why = g_strdup(reason ? reason : "broken");
    if (turn_next_port(p, why, now))
        return;
    if (p->turn_told && p->turn_allocs < TURN_REALLOCS_MAX) { /* it worked: a new connection */
        turn_reallocate(p, why, now);
        turn_drain(p, now);
        return;
    }
    g_free(p->turn_reason);
    p->turn_reason = g_strdup(why);
    turn_give_up(p, p->turn_reason, now);
}

addr_endpoint_t punch_turn_server(const punch_t *p, unsigned *connection)
{
    if (connection)
        *connection = p->turn_conn;
    return p->turn_to;
}

/* Data unanswered through TURN while nothing came back through it: the
 * peer's allocation or its permission for ours is gone. natlab's relay
 * carries the session from then on. */
static void turn_check_relay(punch_t *p, usec_t now)
{
    if (!relay_is_turn(p) || p->current >= 0 || !p->unacked->len)
        return;
    outgoing_t *oldest = g_ptr_array_index(p->unacked, 0);
    if (now - oldest->first_sent < TURN_SILENCE || now - p->turn_heard < TURN_SILENCE)
        return;
    p->peer_relay_dead = true;
    turn_refresh(p->turn, now); /* ours, or the peer's? a 437 says ours */
    turn_output(p);
    event_push(p, PUNCH_EVENT_TURN_FAILED, now)->reason =
        "no answer through TURN for 2 s (the peer's allocation or its permission is gone): "
        "natlab's relay";
    for (unsigned i = 0; i < p->unacked->len; i++)
        ((outgoing_t *)g_ptr_array_index(p->unacked, i))->last_sent = 0; /* due at once */
}

/* ---- time ---- */

static usec_t soonest(usec_t a, usec_t b)
{
    return !a ? b : !b ? a : MIN(a, b);
}

static usec_t bindings_bookkeeping(punch_t *p, usec_t now)
{
    usec_t next = 0;
    for (unsigned i = 0; i < 3; i++) {
        binding_t *b = &p->bind[i];
        if (!b->active || b->answered)
            continue;
        if (now >= b->next) {
            if (b->tries >= (i == 0 ? SERVER_TRIES : 8)) {
                if (i == 0) {
                    b->active = false; /* no UDP path: natlab server over TCP */
                    tcp_start(p, now);
                    return 0;
                }
                b->active = false; /* the alternate address is unreachable: mapping unknown */
                bindings_progress(p, now);
                continue;
            }
            binding_send(p, b, now);
        }
        next = soonest(next, b->next);
    }
    return next;
}

/* Data waits unacknowledged on natlab's relay over UDP, and the server
 * said nothing for as long, in a session whose peer we heard: is UDP to the
 * server gone? A REGISTER now asks, rather than at the next refresh. */
static bool relay_silent(punch_t *p, usec_t now)
{
    if (p->server_check || p->via_tcp || !p->session || !p->peer_heard || p->current >= 0 ||
        relay_is_turn(p) || !p->unacked->len || now - p->last_ack < SUSPECT_DATA_AGE ||
        now - p->server_heard < SUSPECT_DATA_AGE)
        return false;
    p->server_check = true;
    return true;
}

static usec_t registration_bookkeeping(punch_t *p, usec_t now)
{
    usec_t next = 0;
    if (p->reg == REG_BINDING)
        return bindings_bookkeeping(p, now);
    if (p->udp_back)
        next = bindings_bookkeeping(p, now);
    if (p->reg == REG_REGISTERING) {
        if (now >= p->reg_next) {
            if (p->reg_tries >= SERVER_TRIES && !p->via_tcp && p->stream == STREAM_UP) {
                /* UDP answered a Binding but not our REGISTER: stay on TCP. */
                p->via_tcp = p->transport_changed = true;
                p->nat = (agentmsg_nat_t){ .mapping = AGENTMSG_MAPPING_NO_UDP };
                p->reg_tries = 0;
            }
            if (p->registered_once && !p->via_tcp && p->stream == STREAM_NONE && !p->udp_back &&
                p->reg_tries >= UDP_LOST_TRIES) {
                /* issue 13: registered over UDP, and the server stopped
                 * answering it (a firewall that drops UDP from now on):
                 * natlab server over TCP, the session kept. */
                p->udp_lost = true;
                tcp_start(p, now);
                return soonest(next, p->stream_deadline);
            }
            if (p->reg_tries >= SERVER_TRIES) {
                if (!p->registered_once) {
                    fail(p, p->via_tcp ? "the server accepts our TCP connection but not our "
                                         "registration (a wrong or missing --secret?)"
                                       : "the server answers STUN but not our registration "
                                         "(a wrong or missing --secret?)", now);
                    return 0;
                }
                p->reg_tries = 0; /* the server may be back later: keep trying */
            }
            register_send(p, now);
        }
        next = soonest(next, p->reg_next);
    } else if (p->reg == REG_REGISTERED) {
        if (now >= p->reg_refresh || relay_silent(p, now))
            register_again(p, now);
        next = soonest(next, p->reg == REG_REGISTERED ? p->reg_refresh : p->reg_next);
    }
    if (p->connecting && p->reg != REG_BINDING) {
        if (now >= p->connect_deadline) {
            p->connecting = false;
            fail(p, "the peer is not registered with the server", now);
            return next;
        }
        if (now >= p->connect_next) {
            agentmsg_t m = { .type = AGENTMSG_CONNECT };
            g_strlcpy(m.name, p->peer, sizeof m.name);
            send_server(p, &m);
            p->connect_next = now + CONNECT_RETRY;
        }
        next = soonest(next, p->connect_next);
    }
    if (p->pm.active) {
        if (now >= p->pm.next) {
            if (p->pm.tries >= PORTMAP_TRIES)
                p->pm.active = false; /* no NAT-PMP or PCP on the gateway */
            else
                portmap_send(p, now);
        }
        if (p->pm.active)
            next = soonest(next, p->pm.next);
    } else if (p->pm.mapped && !p->pm.upnp) {
        if (now >= p->pm.next)
            portmap_start(p, now);
        next = soonest(next, p->pm.next);
    }
    if (p->pm.upnpc) {
        usec_t u = upnpc_bookkeeping(p->pm.upnpc, now);
        upnp_drain(p, now);
        next = soonest(next, u);
    }
    return next;
}

static usec_t birthday_bookkeeping(punch_t *p, usec_t now)
{
    const punch_config_t *c = &p->cfg;
    if (!p->punching || (!p->bday_hard && !p->bday_easy) || p->current >= 0)
        return 0;
    if (now < p->bday_next)
        return p->bday_next;
    usec_t gap = USEC_PER_SEC / c->birthday_rate;
    unsigned m = MIN(c->birthday_probes, PUNCH_BIRTHDAY_RANGE);
    if (!p->bday_announced) {
        p->bday_announced = true;
        punch_event_t *e = event_push(p, PUNCH_EVENT_BIRTHDAY, now);
        e->sockets = c->birthday_sockets;
        e->probes = m;
        /* rfc-digest section 4: P(success) ~ 1 - exp(-n m / R). */
        e->expected_p = 1.0 - exp(-(double)c->birthday_sockets * m / PUNCH_BIRTHDAY_RANGE);
    }
    /* Catch up on the sends due since the last call, within the rate. */
    unsigned budget = (unsigned)MIN((now - p->bday_next) / gap + 1, 64);
    while (budget--) {
        if (p->bday_hard) {
            if (p->bday_sockets_open < c->birthday_sockets) {
                punch_output_t *o = out_push(p, PUNCH_OUT_OPEN_SOCKETS);
                o->count = c->birthday_sockets;
                p->bday_sockets_open = c->birthday_sockets;
            }
            unsigned s = p->bday_next_socket++ % c->birthday_sockets;
            send_probe_to(p, PUNCH_SOCKET_BIRTHDAY + s, p->peer_mapped,
                          AGENTMSG_TECHNIQUE_BIRTHDAY, false, now);
            if (p->bday_next_socket % c->birthday_sockets == 0) {
                p->bday_next = now + BIRTHDAY_SOCKET_REPEAT;
                return p->bday_next;
            }
        } else {
            if (p->bday_round >= BIRTHDAY_ROUNDS)
                return 0;
            addr_endpoint_t to = addr_endpoint(p->peer_mapped.ip, p->bday_ports[p->bday_sent]);
            send_probe_to(p, PUNCH_SOCKET_PRIMARY, to, AGENTMSG_TECHNIQUE_BIRTHDAY, false, now);
            if (++p->bday_sent == m) {
                p->bday_sent = 0;
                p->bday_round++;
            }
        }
    }
    p->bday_next = now + gap;
    return p->bday_next;
}

/* The fresh binding's retries, our word until the peer acknowledges it,
 * and the wait for both. */
static usec_t predict_bookkeeping(punch_t *p, usec_t now)
{
    usec_t next = 0;
    binding_t *f = &p->fresh;
    if (f->active && !f->answered) {
        if (now >= f->next) {
            if (f->tries >= FRESH_TRIES) {
                f->active = false; /* no answer: tell the counted port */
                if (p->predict_waiting && !p->told) {
                    tell_send(p, now);
                    predict_go(p, false, now);
                }
            } else {
                binding_send(p, f, now);
            }
        }
        if (f->active && !f->answered)
            next = soonest(next, f->next);
    }
    if (p->predict_waiting) {
        /* An older peer, or its word was lost: predict from what the server
         * said. Not while the peer said nothing at all: it may not know of
         * the session yet (its PEER lost), and probes now would leave
         * mappings on our NAT that the next session's ports would reuse. */
        if (now >= p->predict_wait_until && !p->peer_heard)
            p->predict_wait_until = now + p->cfg.probe_interval;
        if (now >= p->predict_wait_until)
            predict_go(p, true, now);
        else
            next = soonest(next, p->predict_wait_until);
    }
    if (p->told && !p->tell_acked && now - p->punch_started < p->cfg.punch_timeout) {
        if (now >= p->next_tell)
            tell_send(p, now);
        next = soonest(next, p->next_tell);
    }
    return next;
}

static usec_t session_bookkeeping(punch_t *p, usec_t now)
{
    usec_t next = 0;
    if (!p->session)
        return 0;
    if (p->tcpp) {
        next = tcppunch_bookkeeping(p->tcpp, now);
        tcp_drain(p, now);
        if (p->failed)
            return 0;
    }
    if (p->cfg.peer && !p->peer_heard && !p->peer_left) {
        /* The server tells both members once; when the peer's PEER is lost,
         * it never joins and the relay forwards into nothing. A CONNECT
         * again makes a new session and tells both. */
        if (now >= p->reconnect_next) {
            agentmsg_t m = { .type = AGENTMSG_CONNECT };
            g_strlcpy(m.name, p->peer, sizeof m.name);
            send_server(p, &m);
            p->reconnect_next = now + peer_silence(p);
        }
        next = soonest(next, p->reconnect_next);
    }
    if (p->punching && p->current >= 0 && !p->first_valid)
        p->first_valid = now; /* punching again beside a working path (new candidates) */
    if (p->punching && now >= punch_deadline(p, NULL) && p->current < 0)
        punching_give_up(p, now);
    next = soonest(next, predict_bookkeeping(p, now));
    if (p->punching && p->first_valid && now - p->first_valid >= NOMINATION_WINDOW) {
        p->punching = false; /* the chosen path keeps its keepalives */
        punching_stop_birthday(p);
    }
    if (p->punching) {
        for (unsigned i = 0; i < p->pairs->len; i++) {
            pair_t *pr = &g_array_index(p->pairs, pair_t, i);
            if (!(pr->aimed || pr->valid) || (int)i == p->current)
                continue;
            if (now >= pr->next_probe) {
                send_probe_to(p, pr->socket, pr->remote, pr->local_technique, false, now);
                /* A working alternative is sampled faster: its round trip
                 * decides whether it replaces the current path. */
                pr->next_probe = now + (pr->valid ? p->cfg.probe_interval / 4 : p->cfg.probe_interval);
            }
            next = soonest(next, pr->next_probe);
        }
        if (p->cfg.broadcast && now >= p->next_announce) {
            agentmsg_t m = { .type = AGENTMSG_ANNOUNCE, .endpoint = p->cfg.local };
            uint8_t buf[AGENTMSG_MAX_SIZE];
            m.counter = ++p->counter;
            m.session = p->session_id;
            size_t n = agentmsg_write(&m, p->key, sizeof p->key, buf, sizeof buf);
            uint32_t bcast = p->cfg.broadcast_address ? p->cfg.broadcast_address : 0xffffffffu;
            send_raw(p, PUNCH_SOCKET_PRIMARY, addr_endpoint(bcast, PUNCH_DISCOVERY_PORT), buf, n);
            p->next_announce = now + (p->announces++ < 2 ? ANNOUNCE_INTERVAL / 5 : ANNOUNCE_INTERVAL);
        }
        if (p->cfg.broadcast)
            next = soonest(next, p->next_announce);
        next = soonest(next, punch_deadline(p, NULL));
        if (p->first_valid)
            next = soonest(next, p->first_valid + NOMINATION_WINDOW);
        next = soonest(next, birthday_bookkeeping(p, now));
    }
    pair_t *cur = pair_at(p, p->current);
    if (cur) {
        /* Keepalives hold the NAT mappings; silence for three of them, or
         * data unacknowledged for a second, means the path died. */
        usec_t silent = now - cur->last_rx;
        outgoing_t *oldest = p->unacked->len ? g_ptr_array_index(p->unacked, 0) : NULL;
        if (silent >= 3 * p->keepalive) {
            fall_back(p, "direct path silent for 3 keepalive intervals", now);
            return now;
        }
        if (oldest && now - oldest->first_sent >= SUSPECT_DATA_AGE &&
            now - p->path_since >= SUSPECT_DATA_AGE && silent >= SUSPECT_DATA_AGE) {
            /* The path worked until an idle gap: something on it (a NAT's
             * mapping or filter) forgot us within that gap, so keepalives
             * must come more often than the gap (RFC 4787 REQ-5 allows
             * timeouts down to 2 min, real NATs go lower). */
            usec_t idle = oldest->first_sent - cur->last_rx;
            if (idle >= 2 * KEEPALIVE_MIN && idle <= p->keepalive)
                keepalive_shorten(p, idle / 2, now);
            fall_back(p, "data unacknowledged on the direct path", now);
            return now;
        }
        usec_t due = cur->next_probe;
        if (now >= due) {
            send_probe_to(p, cur->socket, cur->remote, cur->local_technique, true, now);
            cur->next_probe = now + (silent > p->keepalive ? SUSPECT_PROBE_INTERVAL : p->keepalive);
        }
        next = soonest(next, cur->next_probe);
        next = soonest(next, cur->last_rx + 3 * p->keepalive);
    }
    /* Retransmit unacknowledged data over the current path. */
    usec_t rto = data_rto(p);
    for (unsigned i = 0; i < p->unacked->len; i++) {
        outgoing_t *o = g_ptr_array_index(p->unacked, i);
        if (now - o->last_sent >= rto)
            data_transmit(p, o, now);
        next = soonest(next, o->last_sent + rto);
    }
    if (p->unacked->len && now - p->last_ack >= DATA_GIVE_UP) {
        fail(p, "data not acknowledged for 30 s over any path", now);
        return 0;
    }
    return next;
}

usec_t punch_bookkeeping(punch_t *p, usec_t now)
{
    p->now = now;
    if (p->failed)
        return 0;
    usec_t next = 0;
    if (p->turn && !p->turn_down && p->turn_deadline && !p->turn_answered) {
        if (now >= p->turn_deadline && !turn_next_port(p, "no answer within 3 s", now))
            p->turn_deadline = 0; /* the last port: TURN's own timeout decides */
        next = p->turn_deadline;
    }
    if (p->turn && !p->turn_down) {
        next = soonest(next, turn_bookkeeping(p->turn, now));
        turn_drain(p, now);
        if (p->session)
            turn_check_relay(p, now);
        if (relay_is_turn(p) && p->current < 0 && p->unacked->len) {
            const outgoing_t *oldest = g_ptr_array_index(p->unacked, 0);
            next = soonest(next, MAX(p->turn_heard, oldest->first_sent) + TURN_SILENCE);
        }
    }
    next = soonest(next, registration_bookkeeping(p, now));
    if (p->failed)
        return 0;
    next = soonest(next, stream_bookkeeping(p, now)); /* after: the UDP Bindings may start it */
    if (p->failed)
        return 0;
    next = soonest(next, session_bookkeeping(p, now));
    return p->failed ? 0 : next;
}

/* ---- life ---- */

void punch_config_init(punch_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->keepalive = PUNCH_KEEPALIVE_DEFAULT;
    c->tcp_punch = true;
    c->probe_interval = 200 * USEC_PER_MSEC;
    c->punch_timeout = 10 * USEC_PER_SEC;
    c->predict_window = 16;
    c->birthday_sockets = 256;
    c->birthday_probes = 1024;
    c->birthday_rate = 1000;
    c->broadcast = true;
    c->portmap = true;
}

punch_t *punch_new(const punch_config_t *config, usec_t now)
{
    if (!config->name || !*config->name || strlen(config->name) > AGENTMSG_NAME_MAX ||
        (config->peer && strlen(config->peer) > AGENTMSG_NAME_MAX) || !config->server.port)
        return NULL;
    punch_t *p = g_new0(punch_t, 1);
    p->cfg = *config;
    p->name = g_strdup(config->name);
    p->peer = g_strdup(config->peer);
    p->cfg.name = p->name;
    p->cfg.peer = p->peer;
    p->secret = config->secret_len ? g_memdup2(config->secret, config->secret_len) : NULL;
    p->cfg.secret = p->secret;
    if (!p->cfg.keepalive)
        p->cfg.keepalive = PUNCH_KEEPALIVE_DEFAULT;
    if (!p->cfg.probe_interval)
        p->cfg.probe_interval = 200 * USEC_PER_MSEC;
    if (!p->cfg.punch_timeout)
        p->cfg.punch_timeout = 10 * USEC_PER_SEC;
    p->keepalive = p->cfg.keepalive;
    rng_seed(&p->rng, config->seed);
    p->counter = config->counter_base;
    p->out = g_array_new(FALSE, FALSE, sizeof(punch_output_t));
    p->pairs = g_array_new(FALSE, TRUE, sizeof(pair_t));
    p->current = -1;
    p->unacked = g_ptr_array_new_with_free_func(g_free);
    p->received = g_hash_table_new(g_direct_hash, g_direct_equal);
    p->destinations = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    p->now = now;
    if (config->turn_server.port) {
        p->turn_user = g_strdup(config->turn_user ? config->turn_user : "");
        p->turn_password = g_strdup(config->turn_password ? config->turn_password : "");
        p->cfg.turn_user = p->turn_user;
        p->cfg.turn_password = p->turn_password;
        p->turn_to = config->turn_server;
        p->turn_errors = g_string_new(NULL);
        turn_start(p, now);
        turn_drain(p, now);
    }
    unsigned n_tcp = MIN(config->n_server_tcp_ports, PUNCH_TCP_PORTS_MAX);
    for (unsigned i = 0; i < n_tcp; i++)
        if (config->server_tcp_ports[i])
            p->tcp_ports[p->n_tcp_ports++] = config->server_tcp_ports[i];
    if (!p->n_tcp_ports) {
        p->tcp_ports[p->n_tcp_ports++] = config->server.port;
        if (config->server.port != PUNCH_TCP_FALLBACK_PORT)
            p->tcp_ports[p->n_tcp_ports++] = PUNCH_TCP_FALLBACK_PORT;
    }
    p->tcp_errors = g_string_new(NULL);
    p->reg = REG_BINDING;
    binding_start(p, &p->bind[0], config->server, now);
    if (p->cfg.portmap && p->cfg.gateway && p->cfg.local.port) {
        g_autofree char *desc = g_strdup_printf("natlab agent %s", p->name);
        upnpc_config_t uc = { .gateway = p->cfg.gateway, .internal = p->cfg.local,
                              .lease_s = PORTMAP_LIFETIME_S, .description = desc };
        p->pm.upnpc = upnpc_new(&uc);
    }
    portmap_start(p, now);
    return p;
}

void punch_free(punch_t *p)
{
    if (!p)
        return;
    g_array_free(p->out, TRUE);
    g_array_free(p->pairs, TRUE);
    g_ptr_array_free(p->unacked, TRUE);
    g_hash_table_destroy(p->received);
    g_hash_table_destroy(p->destinations);
    g_free(p->bday_ports);
    upnpc_free(p->pm.upnpc);
    turn_free(p->turn);
    tcppunch_free(p->tcpp);
    g_free(p->turn_user);
    g_free(p->turn_password);
    g_free(p->turn_reason);
    g_free(p->turn_again_reason);
    if (p->turn_errors)
        g_string_free(p->turn_errors, TRUE);
    g_string_free(p->tcp_errors, TRUE);
    g_free(p->fail_reason);
    g_free(p->name);
    g_free(p->peer);
    g_free(p->secret);
    g_free(p);
}

bool punch_pop_output(punch_t *p, punch_output_t *out)
{
    if (!p->out->len)
        return false;
    punch_output_t *o = &g_array_index(p->out, punch_output_t, 0);
    memcpy(out, o, offsetof(punch_output_t, data) + o->len);
    out->echo = o->echo;
    out->event = o->event;
    g_array_remove_index(p->out, 0);
    return true;
}

void punch_close(punch_t *p, usec_t now)
{
    p->now = now;
    if (p->session) {
        agentmsg_t bye = { .type = AGENTMSG_BYE };
        if (p->current >= 0)
            send_peer(p, p->current, &bye);
        bye = (agentmsg_t){ .type = AGENTMSG_BYE };
        bool turn_relay = relay_is_turn(p);
        send_peer(p, -1, &bye);
        if (turn_relay) { /* and through natlab's relay, in case TURN's is what failed */
            p->turn_down = true;
            bye = (agentmsg_t){ .type = AGENTMSG_BYE };
            send_peer(p, -1, &bye);
            p->turn_down = false;
        }
    }
    if (p->turn && turn_state(p->turn) == TURN_READY) {
        turn_close(p->turn, now); /* deallocate: a Refresh with lifetime 0 */
        turn_drain(p, now);
    }
    if (p->pm.upnpc && p->pm.upnp) {
        upnpc_release(p->pm.upnpc, now); /* a UPnP lease would outlive us */
        upnp_drain(p, now);
    }
    /* The server ends our sessions and forgets our name now, so nobody
     * connects to an agent that is gone. */
    if (p->registered_once) {
        agentmsg_t leave = { .type = AGENTMSG_REGISTER, .flags = AGENTMSG_FLAG_LEAVING, .nat = p->nat };
        g_strlcpy(leave.name, p->name, sizeof leave.name);
        send_server(p, &leave);
    }
}

bool punch_peer_left(const punch_t *p)
{
    return p->peer_left;
}

const punch_stats_t *punch_stats(const punch_t *p)
{
    return &p->stats;
}

bool punch_has_session(const punch_t *p)
{
    return p->session;
}

bool punch_all_delivered(const punch_t *p)
{
    return p->unacked->len == 0;
}

bool punch_settled(const punch_t *p)
{
    /* Direct, and the other candidates had their nomination window to be
     * faster; or punching gave up and the relay carries the session. */
    return p->session && !p->punching && (p->current >= 0 || p->gave_up) &&
           !(p->tcpp && tcppunch_active(p->tcpp));
}

bool punch_failed(const punch_t *p)
{
    return p->failed;
}

enum punch_path_kind punch_path(const punch_t *p)
{
    if (!p->session)
        return PUNCH_PATH_NONE;
    return p->current < 0 ? PUNCH_PATH_RELAY : pair_kind(&g_array_index(p->pairs, pair_t, p->current));
}

bool punch_turn_configured(const punch_t *p)
{
    return p->turn != NULL;
}

bool punch_relay_is_turn(const punch_t *p)
{
    return relay_is_turn(p);
}

uint8_t punch_technique(const punch_t *p)
{
    return p->technique;
}

usec_t punch_time_to_first_byte(const punch_t *p)
{
    return p->first_byte ? p->first_byte - p->session_started : 0;
}

usec_t punch_time_to_direct(const punch_t *p)
{
    return p->direct_at ? p->direct_at - p->session_started : 0;
}

const char *punch_path_name(enum punch_path_kind path)
{
    switch (path) {
    case PUNCH_PATH_RELAY: return "relay";
    case PUNCH_PATH_DIRECT: return "direct";
    case PUNCH_PATH_LAN: return "lan";
    default: return "none";
    }
}

const char *punch_event_name(enum punch_event_kind kind)
{
    static const char *const names[] = {
        [PUNCH_EVENT_REGISTERED] = "registered",
        [PUNCH_EVENT_SESSION] = "session",
        [PUNCH_EVENT_FIRST_BYTE] = "first-byte",
        [PUNCH_EVENT_DIRECT] = "direct",
        [PUNCH_EVENT_PATH_CHANGED] = "path-changed",
        [PUNCH_EVENT_RELAY_FALLBACK] = "relay-fallback",
        [PUNCH_EVENT_BIRTHDAY] = "birthday",
        [PUNCH_EVENT_PORT_MAPPING] = "port-mapping",
        [PUNCH_EVENT_KEEPALIVE] = "keepalive",
        [PUNCH_EVENT_PUNCH_GAVE_UP] = "punch-gave-up",
        [PUNCH_EVENT_FAILED] = "failed",
        [PUNCH_EVENT_TURN_ALLOCATED] = "turn-allocated",
        [PUNCH_EVENT_TURN_FAILED] = "turn-failed",
        [PUNCH_EVENT_TRANSPORT] = "transport",
        [PUNCH_EVENT_TCP_PUNCH] = "tcp-punch",
    };
    return (unsigned)kind < G_N_ELEMENTS(names) ? names[kind] : "?";
}

const char *punch_drop_name(enum punch_drop drop)
{
    static const char *const names[PUNCH_DROP_COUNT] = { "malformed", "auth", "replay",
                                                         "unexpected" };
    return (unsigned)drop < PUNCH_DROP_COUNT ? names[drop] : "?";
}
