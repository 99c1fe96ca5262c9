#include "agent/tcppunch.h"

#include <glib.h>
#include <string.h>

#include "common/agentframe.h"
#include "common/rng.h"
#include "common/stun.h"

#define CONNECT_TIMEOUT (3 * USEC_PER_SEC)  /* the server's port: a dropped SYN, the next */
#define OTHER_TIMEOUT (1500 * USEC_PER_MSEC) /* the second look: a dropped SYN says enough */
#define OFFER_RETRY USEC_PER_SEC            /* the relay is UDP: an offer may be lost */
#define OFFER_TRIES 8 /* the peer's mapping may take 3 s + 3 s + 1.5 s (two ports, a second look) */
/* An attempt's window: Linux retransmits a SYN after 1 s, so a SYN that a
 * filter dropped before the peer's went out gets its second chance within. */
#define ATTEMPT_WINDOW (2500 * USEC_PER_MSEC)
#define ANSWERED_PATIENCE (20 * USEC_PER_SEC) /* the controlled side: no SYNC, no ABANDON */
#define LEAD_MIN (2 * USEC_PER_MSEC)
/* When one SYN is to go first, by more than any one-way delay and the
 * scheduling noise of two hosts: the relayed round trip, at least this. */
#define ORDER_GAP (25 * USEC_PER_MSEC)
#define SYNC_WAIT_MAX USEC_PER_SEC

typedef enum conn_role { CONN_FREE, CONN_MAPPING, CONN_PEER } conn_role_t;

typedef struct conn {
    conn_role_t role;
    bool up, accepted;
    unsigned attempt;
    addr_endpoint_t to;
    agentframe_splitter_t splitter;
} conn_t;

typedef enum state {
    ST_IDLE,
    ST_MAPPING,  /* our mapping from the server */
    ST_OFFERED,  /* controlling: waiting for the answer */
    ST_WAITING,  /* controlled: mapping known (or not), waiting for the offer or SYNC */
    ST_TRYING,   /* controlling: attempts under way */
    ST_CHOSEN,
    ST_ENDED,
} state_t;

struct tcppunch {
    tcppunch_config_t cfg;
    rng_t rng;
    GArray *out;
    state_t state;
    conn_t conns[TCPPUNCH_CONNS_MAX + 1]; /* by id; 0 unused */
    char text[256];

    /* the mapping */
    unsigned map_id, map_port_index;
    unsigned map_step;          /* 1: the server's primary address, 2: its other one */
    unsigned hold_id;           /* step 1's connection, kept while step 2 runs */
    usec_t map_deadline;
    uint8_t map_txid[STUN_TRANSACTION_ID_SIZE];
    addr_endpoint_t mapped, other;
    uint8_t tcp_mapping;        /* enum agentmsg_tcp_mapping */
    bool mapping_done; /* found, or every port failed */

    /* the exchange */
    addr_endpoint_t peer;
    bool offer_seen;
    uint64_t offer_timestamp;
    usec_t offer_received, offer_next;
    unsigned offer_tries;
    usec_t rtt;
    unsigned attempt;
    usec_t attempt_deadline, connect_at;
    usec_t sync_wait;          /* the peer waits this long after our SYNC before its SYN */
    bool proving;              /* a connection is up: the owner has a window to prove it */
    usec_t patience;
};

static tcppunch_output_t *out_push(tcppunch_t *t, enum tcppunch_output_kind kind, unsigned id)
{
    g_array_set_size(t->out, t->out->len + 1);
    tcppunch_output_t *o = &g_array_index(t->out, tcppunch_output_t, t->out->len - 1);
    memset(o, 0, offsetof(tcppunch_output_t, data));
    o->kind = kind;
    o->id = id;
    return o;
}

static void event(tcppunch_t *t, unsigned attempt, usec_t lead, bool done, const char *fmt, ...)
    G_GNUC_PRINTF(5, 6);
static void event(tcppunch_t *t, unsigned attempt, usec_t lead, bool done, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_vsnprintf(t->text, sizeof t->text, fmt, ap);
    va_end(ap);
    tcppunch_output_t *o = out_push(t, TCPPUNCH_OUT_EVENT, 0);
    o->attempt = attempt;
    o->lead = lead;
    o->done = done;
    o->to = t->peer;
    o->text = t->text;
}

static unsigned conn_new(tcppunch_t *t, conn_role_t role, addr_endpoint_t to)
{
    for (unsigned id = 1; id <= TCPPUNCH_CONNS_MAX; id++) {
        conn_t *c = &t->conns[id];
        if (c->role != CONN_FREE)
            continue;
        *c = (conn_t){ .role = role, .to = to, .attempt = t->attempt };
        agentframe_splitter_init(&c->splitter);
        return id;
    }
    return 0;
}

static conn_t *conn_at(tcppunch_t *t, unsigned id)
{
    return id && id <= TCPPUNCH_CONNS_MAX && t->conns[id].role != CONN_FREE ? &t->conns[id] : NULL;
}

static void conn_close(tcppunch_t *t, unsigned id)
{
    conn_t *c = conn_at(t, id);
    if (!c)
        return;
    c->role = CONN_FREE;
    out_push(t, TCPPUNCH_OUT_CLOSE, id);
    if (id == t->map_id)
        t->map_id = 0;
}

static unsigned connect_to(tcppunch_t *t, conn_role_t role, addr_endpoint_t to)
{
    unsigned id = conn_new(t, role, to);
    if (id)
        out_push(t, TCPPUNCH_OUT_CONNECT, id)->to = to;
    return id;
}

static void send_message(tcppunch_t *t, uint8_t phase, usec_t now)
{
    tcppunch_output_t *o = out_push(t, TCPPUNCH_OUT_MESSAGE, 0);
    o->message = (agentmsg_t){ .type = AGENTMSG_TCP_PUNCH, .phase = phase,
                               .timestamp = (uint64_t)now };
    agentmsg_t *m = &o->message;
    switch (phase) {
    case AGENTMSG_TCP_OFFER:
        m->endpoint = t->mapped;
        m->tcp_mapping = t->tcp_mapping;
        t->offer_timestamp = (uint64_t)now;
        break;
    case AGENTMSG_TCP_ANSWER:
        m->endpoint = t->mapped;
        m->tcp_mapping = t->tcp_mapping;
        m->echo_timestamp = t->offer_timestamp;
        m->hold_us = (uint32_t)MIN(now - t->offer_received, (usec_t)UINT32_MAX);
        break;
    case AGENTMSG_TCP_SYNC:
        m->attempt = (uint8_t)t->attempt;
        m->hold_us = (uint32_t)t->sync_wait;
        break;
    default:
        break;
    }
}

static void close_peer_conns(tcppunch_t *t, bool even_up)
{
    for (unsigned id = 1; id <= TCPPUNCH_CONNS_MAX; id++) {
        conn_t *c = &t->conns[id];
        if (c->role == CONN_PEER && (even_up || !c->up))
            conn_close(t, id);
    }
}

static bool up_peer_conns(const tcppunch_t *t)
{
    for (unsigned id = 1; id <= TCPPUNCH_CONNS_MAX; id++)
        if (t->conns[id].role == CONN_PEER && t->conns[id].up)
            return true;
    return false;
}

static void end(tcppunch_t *t, bool tell_peer, const char *why, usec_t now)
{
    close_peer_conns(t, true);
    conn_close(t, t->map_id);
    conn_close(t, t->hold_id);
    t->hold_id = 0;
    if (tell_peer)
        send_message(t, AGENTMSG_TCP_ABANDON, now);
    t->state = ST_ENDED;
    t->connect_at = 0;
    event(t, 0, 0, true, "%s", why);
}

/* ---- the mapping ---- */

/* The peer's word is authenticated, not sane, and the server's word is
 * neither: never connect to no address, our own loopback, or a multicast
 * or broadcast one. */
static bool endpoint_usable(addr_endpoint_t ep)
{
    return ep.port && ep.ip && (ep.ip >> 24) != 127 && (ep.ip >> 24) < 224;
}


static void map_connect(tcppunch_t *t, addr_endpoint_t to, usec_t timeout, usec_t now)
{
    for (unsigned i = 0; i < STUN_TRANSACTION_ID_SIZE; i++)
        t->map_txid[i] = (uint8_t)rng_next(&t->rng);
    t->map_id = connect_to(t, CONN_MAPPING, to);
    t->map_deadline = now + timeout;
    if (!t->map_id)
        t->mapping_done = true;
}

static void map_try(tcppunch_t *t, usec_t now)
{
    if (t->map_port_index >= t->cfg.n_server_ports) {
        t->mapping_done = true;
        return;
    }
    map_connect(t, addr_endpoint(t->cfg.server_ip, t->cfg.server_ports[t->map_port_index]),
                CONNECT_TIMEOUT, now);
}

static void mapping_known(tcppunch_t *t, usec_t now);

/* The step's connection failed (refused, reset, no answer in time). */
static void map_failed(tcppunch_t *t, usec_t now)
{
    conn_close(t, t->map_id);
    if (t->map_step == 2) {
        /* A network that lets no SYN through to the server's other port
         * lets none through to a peer's port either (a firewall's
         * allow-list), and the mapping may be per destination. */
        t->tcp_mapping = AGENTMSG_TCP_MAPPING_RESTRICTED;
        t->map_id = t->hold_id;
        t->hold_id = 0;
        t->mapping_done = true;
    } else {
        t->map_port_index++;
        map_try(t, now);
    }
    if (t->mapping_done)
        mapping_known(t, now);
}

static void map_answer(tcppunch_t *t, const uint8_t *data, size_t len, usec_t now)
{
    stun_message_t m;
    if (stun_read(data, len, &m) != STUN_OK || m.msg_class != STUN_CLASS_SUCCESS ||
        memcmp(m.transaction_id, t->map_txid, sizeof t->map_txid) ||
        !(m.has & (STUN_HAS_XOR_MAPPED | STUN_HAS_MAPPED)))
        return;
    addr_endpoint_t mapped = m.has & STUN_HAS_XOR_MAPPED ? m.xor_mapped : m.mapped;
    if (t->map_step == 2) {
        t->tcp_mapping = addr_endpoint_equal(mapped, t->mapped) ? AGENTMSG_TCP_MAPPING_INDEPENDENT
                                                                 : AGENTMSG_TCP_MAPPING_DEPENDENT;
        conn_close(t, t->map_id);
        t->map_id = t->hold_id;
        t->hold_id = 0;
    } else {
        t->mapped = mapped;
        t->other = m.has & STUN_HAS_OTHER_ADDRESS && endpoint_usable(m.other_address)
                       ? m.other_address
                       : addr_endpoint(0, 0);
        if (mapped.ip == t->cfg.local_ip && mapped.port == t->cfg.local_port) {
            t->tcp_mapping = AGENTMSG_TCP_MAPPING_OPEN;
        } else if (t->other.port) {
            /* Step 1's connection stays: it holds our NAT's mapping while
             * the attempts run (RFC 5382 REQ-5 keeps it for hours). */
            t->hold_id = t->map_id;
            t->map_step = 2;
            map_connect(t, t->other, OTHER_TIMEOUT, now);
            if (!t->mapping_done)
                return;
        }
    }
    t->mapping_done = true;
    mapping_known(t, now);
}

/* ---- the exchange ---- */

static void attempt_begin(tcppunch_t *t, usec_t now)
{
    t->attempt++;
    close_peer_conns(t, false);
    /* The SYNC reaches the peer half a round trip from now: waiting that
     * long, our SYN leaves with the peer's. To go first or second, one side
     * waits a gap longer. */
    usec_t half = MAX(t->rtt / 2, LEAD_MIN), gap = MAX(t->rtt, ORDER_GAP);
    unsigned order = t->attempt % 3; /* 1: cross, 2: ours first, 0: the peer's first */
    t->sync_wait = order == 2 ? gap : 0;
    usec_t lead = order == 0 ? half + gap : half;
    send_message(t, AGENTMSG_TCP_SYNC, now);
    t->connect_at = now + lead;
    t->attempt_deadline = now + lead + ATTEMPT_WINDOW;
    const char *how = order == 1 ? "SYNs timed to cross"
                      : order == 2 ? "our SYN first"
                                   : "the peer's SYN first";
    event(t, t->attempt, lead, false, "attempt %u of %u: %s (relayed RTT %.1f ms)", t->attempt,
          t->cfg.attempts, how, (double)t->rtt / USEC_PER_MSEC);
}

/* A SYN reaches its peer when the peer takes any (no NAT in front) and
 * may be sent at all, or when both sides' SYNs leave from the mappings they
 * told each other. */
static bool punchable(uint8_t ours, uint8_t theirs)
{
    if ((ours == AGENTMSG_TCP_MAPPING_OPEN && theirs != AGENTMSG_TCP_MAPPING_RESTRICTED) ||
        (theirs == AGENTMSG_TCP_MAPPING_OPEN && ours != AGENTMSG_TCP_MAPPING_RESTRICTED))
        return true;
    return (ours == AGENTMSG_TCP_MAPPING_INDEPENDENT || ours == AGENTMSG_TCP_MAPPING_UNKNOWN) &&
           (theirs == AGENTMSG_TCP_MAPPING_INDEPENDENT || theirs == AGENTMSG_TCP_MAPPING_UNKNOWN);
}

static void answer(tcppunch_t *t, usec_t now)
{
    send_message(t, AGENTMSG_TCP_ANSWER, now);
    t->patience = now + ANSWERED_PATIENCE;
    if (!t->mapped.port)
        end(t, false, "no TCP connection to the server: no mapping to answer with", now);
}

static void mapping_known(tcppunch_t *t, usec_t now)
{
    if (t->state != ST_MAPPING)
        return;
    if (t->cfg.controlling) {
        if (!t->mapped.port) {
            end(t, true, "no TCP connection to the server: no mapping to offer", now);
            return;
        }
        t->state = ST_OFFERED;
        t->offer_tries = 1;
        t->offer_next = now + OFFER_RETRY;
        send_message(t, AGENTMSG_TCP_OFFER, now);
        return;
    }
    t->state = ST_WAITING;
    t->patience = now + ANSWERED_PATIENCE;
    if (t->offer_seen)
        answer(t, now);
}

void tcppunch_start(tcppunch_t *t, usec_t now)
{
    if (t->state != ST_IDLE)
        return;
    t->state = ST_MAPPING;
    t->map_port_index = 0;
    t->map_step = 1;
    t->tcp_mapping = AGENTMSG_TCP_MAPPING_UNKNOWN;
    map_try(t, now);
    if (t->mapping_done)
        mapping_known(t, now);
}

void tcppunch_message(tcppunch_t *t, const agentmsg_t *m, usec_t now)
{
    if (m->type != AGENTMSG_TCP_PUNCH)
        return;
    agentmsg_t checked = *m;
    if (!endpoint_usable(checked.endpoint))
        checked.endpoint = addr_endpoint(0, 0); /* as no mapping */
    m = &checked;
    switch (m->phase) {
    case AGENTMSG_TCP_OFFER:
        if (t->cfg.controlling || t->state == ST_CHOSEN || t->state == ST_ENDED ||
            !m->endpoint.port)
            return;
        t->peer = m->endpoint;
        t->offer_seen = true;
        t->offer_timestamp = m->timestamp;
        t->offer_received = now;
        if (t->state == ST_IDLE)
            tcppunch_start(t, now);
        else if (t->state == ST_WAITING)
            answer(t, now); /* again: ours may have been lost */
        break;
    case AGENTMSG_TCP_ANSWER:
        if (!t->cfg.controlling || t->state != ST_OFFERED || m->echo_timestamp != t->offer_timestamp)
            return;
        if (!m->endpoint.port) {
            end(t, false, "the peer has no TCP connection to the server: no mapping", now);
            return;
        }
        t->peer = m->endpoint;
        if (!punchable(t->tcp_mapping, m->tcp_mapping)) {
            end(t, true,
                m->tcp_mapping == AGENTMSG_TCP_MAPPING_RESTRICTED ||
                        t->tcp_mapping == AGENTMSG_TCP_MAPPING_RESTRICTED
                    ? "TCP: one side's outbound TCP is restricted (the server's other port "
                      "is out of reach), so its SYN cannot reach the peer's port"
                    : "TCP: a NAT maps per destination and neither side takes unsolicited SYNs: "
                      "no SYN can reach the port its peer aimed at",
                now);
            return;
        }
        usec_t rtt = now - (usec_t)m->echo_timestamp;
        t->rtt = rtt > m->hold_us ? rtt - m->hold_us : 0;
        t->state = ST_TRYING;
        attempt_begin(t, now);
        break;
    case AGENTMSG_TCP_SYNC:
        if (t->cfg.controlling || t->state != ST_WAITING || !t->peer.port || !t->mapped.port)
            return;
        t->attempt = m->attempt;
        close_peer_conns(t, false);
        t->connect_at = now + MIN((usec_t)m->hold_us, SYNC_WAIT_MAX);
        event(t, t->attempt, t->connect_at - now, false, "attempt %u: SYNC came, connecting%s",
              t->attempt, m->hold_us ? " after the wait it asks for" : "");
        if (t->connect_at == now) {
            t->connect_at = 0;
            connect_to(t, CONN_PEER, t->peer);
        }
        t->patience = now + ANSWERED_PATIENCE;
        break;
    case AGENTMSG_TCP_ABANDON:
        if (!t->cfg.controlling && t->state != ST_CHOSEN && t->state != ST_ENDED &&
            t->state != ST_IDLE)
            end(t, false, "the peer gave TCP punching up", now);
        break;
    }
}

/* ---- connections ---- */

void tcppunch_connected(tcppunch_t *t, unsigned id, usec_t now)
{
    conn_t *c = conn_at(t, id);
    if (!c || c->up)
        return;
    c->up = true;
    if (c->role == CONN_MAPPING) {
        stun_message_t m;
        stun_binding_request(&m, t->map_txid, 0, 0, 0);
        tcppunch_output_t *o = out_push(t, TCPPUNCH_OUT_SEND, id);
        o->len = stun_write(&m, true, o->data, sizeof o->data);
        return;
    }
    out_push(t, TCPPUNCH_OUT_UP, id)->to = c->to;
    (void)now;
}

void tcppunch_broken(tcppunch_t *t, unsigned id, const char *reason, usec_t now)
{
    conn_t *c = conn_at(t, id);
    if (!c)
        return;
    if (c->role == CONN_MAPPING) {
        if (t->state == ST_MAPPING && !t->mapping_done && id == t->map_id) {
            map_failed(t, now);
        } else {
            conn_close(t, id); /* the held one, or after the mapping: nothing lost */
            if (id == t->hold_id)
                t->hold_id = 0;
        }
        return;
    }
    bool was_up = c->up;
    c->role = CONN_FREE;
    out_push(t, TCPPUNCH_OUT_CLOSE, id);
    if (was_up)
        out_push(t, TCPPUNCH_OUT_DOWN, id);
    else if (t->state == ST_TRYING || t->state == ST_WAITING)
        event(t, c->attempt, 0, false, "attempt %u: %s", c->attempt, reason ? reason : "failed");
}

void tcppunch_receive(tcppunch_t *t, unsigned id, const uint8_t *data, size_t len, usec_t now)
{
    conn_t *c = conn_at(t, id);
    while (c && c->up && len) {
        size_t n = agentframe_splitter_push(&c->splitter, data, len);
        data += n;
        len -= n;
        agentframe_t f;
        enum agentframe_kind k;
        while ((k = agentframe_splitter_next(&c->splitter, &f)) != AGENTFRAME_MORE) {
            if (k == AGENTFRAME_STUN && c->role == CONN_MAPPING) {
                map_answer(t, f.msg, f.len, now);
                if (c->role == CONN_FREE)
                    return; /* the second look's connection, closed once answered */
            } else if (k == AGENTFRAME_AGENTMSG && c->role == CONN_PEER) {
                tcppunch_output_t *o = out_push(t, TCPPUNCH_OUT_FRAME, id);
                o->to = c->to;
                o->len = MIN(f.len, sizeof o->data);
                memcpy(o->data, f.msg, o->len);
            } else {
                /* Garbage or the wrong kind: this is no peer of ours. */
                tcppunch_broken(t, id, "the stream lost its framing", now);
                return;
            }
        }
        if (!n)
            break;
    }
}

unsigned tcppunch_accepted(tcppunch_t *t, addr_endpoint_t from, usec_t now)
{
    (void)now;
    if (t->state == ST_IDLE || t->state == ST_ENDED)
        return 0;
    unsigned id = conn_new(t, CONN_PEER, from);
    if (!id)
        return 0;
    t->conns[id].up = t->conns[id].accepted = true;
    out_push(t, TCPPUNCH_OUT_UP, id)->to = from;
    return id;
}

bool tcppunch_send(tcppunch_t *t, unsigned id, const uint8_t *msg, size_t len)
{
    conn_t *c = conn_at(t, id);
    if (!c || !c->up || c->role != CONN_PEER)
        return false;
    tcppunch_output_t *o = out_push(t, TCPPUNCH_OUT_SEND, id);
    o->len = agentframe_write(msg, len, o->data, sizeof o->data);
    return o->len > 0;
}

void tcppunch_chosen(tcppunch_t *t, unsigned id, usec_t now)
{
    (void)now;
    if (!conn_at(t, id))
        return;
    t->state = ST_CHOSEN;
    /* Connections already up stay: the peer may have proven another one
     * first and uses it. */
    close_peer_conns(t, false);
    conn_close(t, t->map_id);
    conn_close(t, t->hold_id);
    t->hold_id = 0;
}

void tcppunch_reset(tcppunch_t *t)
{
    for (unsigned id = 1; id <= TCPPUNCH_CONNS_MAX; id++)
        conn_close(t, id);
    t->state = ST_IDLE;
    t->mapped = t->peer = t->other = addr_endpoint(0, 0);
    t->mapping_done = t->offer_seen = false;
    t->attempt = 0;
    t->proving = false;
    t->connect_at = t->sync_wait = 0; /* a connect still waiting belongs to the old exchange */
    t->map_id = t->hold_id = 0;
    t->tcp_mapping = AGENTMSG_TCP_MAPPING_UNKNOWN;
}

usec_t tcppunch_bookkeeping(tcppunch_t *t, usec_t now)
{
    usec_t next = 0;
#define SOONEST(x) (next = next && next < (x) ? next : (x))
    if (t->state == ST_MAPPING && t->map_id && !t->mapping_done) {
        if (now >= t->map_deadline)
            map_failed(t, now);
        if (t->state == ST_MAPPING && t->map_id)
            SOONEST(t->map_deadline);
    }
    if (t->state == ST_OFFERED) {
        if (now >= t->offer_next) {
            if (t->offer_tries >= OFFER_TRIES) {
                end(t, true, "the peer did not answer the TCP offer", now);
                return 0;
            }
            t->offer_tries++;
            t->offer_next = now + OFFER_RETRY;
            send_message(t, AGENTMSG_TCP_OFFER, now);
        }
        SOONEST(t->offer_next);
    }
    if (t->state == ST_TRYING) {
        if (t->connect_at && now >= t->connect_at) {
            t->connect_at = 0;
            connect_to(t, CONN_PEER, t->peer);
        }
        if (now >= t->attempt_deadline && !t->proving && up_peer_conns(t)) {
            t->proving = true;
            t->attempt_deadline = now + ATTEMPT_WINDOW;
        } else if (now >= t->attempt_deadline && t->proving) {
            end(t, true, "connections came up but none proved to be the peer", now);
            return 0;
        }
        if (now >= t->attempt_deadline) {
            if (t->attempt >= t->cfg.attempts) {
                end(t, true, "no TCP connection came up", now);
                return 0;
            }
            attempt_begin(t, now);
        }
        if (t->connect_at)
            SOONEST(t->connect_at);
        SOONEST(t->attempt_deadline);
    }
    if (t->state == ST_WAITING) {
        if (t->connect_at && now >= t->connect_at) {
            t->connect_at = 0;
            connect_to(t, CONN_PEER, t->peer);
        }
        if (t->connect_at)
            SOONEST(t->connect_at);
        if (now >= t->patience) {
            end(t, false, "the peer's attempts stopped", now);
            return 0;
        }
        SOONEST(t->patience);
    }
#undef SOONEST
    return next;
}

bool tcppunch_pop_output(tcppunch_t *t, tcppunch_output_t *out)
{
    if (!t->out->len)
        return false;
    *out = g_array_index(t->out, tcppunch_output_t, 0);
    g_array_remove_index(t->out, 0);
    return true;
}

bool tcppunch_active(const tcppunch_t *t)
{
    return t->state != ST_IDLE && t->state != ST_CHOSEN && t->state != ST_ENDED;
}

addr_endpoint_t tcppunch_mapped(const tcppunch_t *t)
{
    return t->mapped;
}

tcppunch_t *tcppunch_new(const tcppunch_config_t *config)
{
    tcppunch_t *t = g_new0(tcppunch_t, 1);
    t->cfg = *config;
    if (!t->cfg.attempts)
        t->cfg.attempts = TCPPUNCH_ATTEMPTS_DEFAULT;
    t->cfg.n_server_ports = MIN(t->cfg.n_server_ports, TCPPUNCH_PORTS_MAX);
    rng_seed(&t->rng, config->seed);
    t->out = g_array_new(FALSE, FALSE, sizeof(tcppunch_output_t));
    return t;
}

void tcppunch_free(tcppunch_t *t)
{
    if (!t)
        return;
    g_array_free(t->out, TRUE);
    g_free(t);
}
