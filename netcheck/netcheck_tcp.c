#define G_LOG_DOMAIN "netcheck"
#include "netcheck_tcp.h"

#include <glib.h>
#include <string.h>

#include "common/rng.h"
#include "common/wire.h"

#define CONN_MAIN 0u
#define CONN_MAP2 1u
#define CONN_MAP3 2u
#define CONN_ALLOC0 3u
#define CONN_ALLOC2_0 (CONN_ALLOC0 + NETCHECK_TCP_ALLOC_CONNS)
#define CONN_LISTEN_FILTER (CONN_ALLOC2_0 + NETCHECK_TCP_ALLOC_CONNS)
#define CONN_LISTEN_FRESH (CONN_LISTEN_FILTER + 1)
/* The filtering test's mapping: the first allocation connection's, which
 * only ever talked to A1:P1. MAIN's will not do: under endpoint-independent
 * mapping its tests II and III left permissions for A2 in it, which an
 * address-dependent filter then honours. */
#define CONN_FILTER CONN_ALLOC0
#define MAX_REQUESTS (NETCHECK_TCP_MAX_CONNS + NETCHECK_TCP_CB_COUNT)

typedef enum phase { PH_INIT, PH_CHAIN, PH_LISTEN, PH_CONNECT_BACK, PH_DONE } phase_t;

typedef enum conn_state { C_IDLE, C_OPENING, C_WAITING, C_DONE } conn_state_t;

typedef struct request {
    unsigned conn;
    int cb; /* connect-back index, or -1 */
    uint8_t id[STUN_TRANSACTION_ID_SIZE];
    bool answered;
} request_t;

struct netcheck_tcp {
    netcheck_tcp_config_t cfg;
    phase_t phase;
    rng_t rng;
    uint8_t run_id[8];
    usec_t start, now, deadline;
    unsigned chain_pos;
    conn_state_t conn[NETCHECK_TCP_MAX_CONNS];
    addr_endpoint_t local[NETCHECK_TCP_MAX_CONNS], to[NETCHECK_TCP_MAX_CONNS];
    addr_endpoint_t mapped[NETCHECK_TCP_MAX_CONNS]; /* 0:0 until answered */
    request_t req[MAX_REQUESTS];
    unsigned n_req;
    unsigned listening;
    bool have_other;
    GQueue ops;
    netcheck_tcp_result_t r;
};

static const char *const syn_names[] = { "hold", "drop", "rst", "icmp" };

const char *netcheck_tcp_syn_name(netcheck_tcp_syn_t syn)
{
    return (unsigned)syn < G_N_ELEMENTS(syn_names) ? syn_names[syn] : "unknown";
}

static void note(netcheck_tcp_result_t *r, const char *msg)
{
    size_t used = strlen(r->error);
    if (!strstr(r->error, msg))
        g_snprintf(r->error + used, sizeof r->error - used, "%s%s", used ? "; " : "", msg);
}

static netcheck_tcp_op_t *op_new(netcheck_tcp_t *t, netcheck_tcp_op_kind_t kind, unsigned conn)
{
    netcheck_tcp_op_t *op = g_new0(netcheck_tcp_op_t, 1);
    op->kind = kind;
    op->conn = conn;
    op->reuse = -1;
    g_queue_push_tail(&t->ops, op);
    return op;
}

/* A Binding request on `conn`; with a connect-back when cb >= 0. */
static void send_request(netcheck_tcp_t *t, unsigned conn, int cb, addr_endpoint_t target, bool other)
{
    if (t->n_req == MAX_REQUESTS)
        return;
    request_t *q = &t->req[t->n_req];
    *q = (request_t){ .conn = conn, .cb = cb };
    memcpy(q->id, t->run_id, 8);
    wire_put16(q->id + 8, (uint16_t)t->n_req);
    wire_put16(q->id + 10, (uint16_t)rng_next(&t->rng));
    t->n_req++;
    stun_message_t m;
    stun_binding_request(&m, q->id, 0, 0, 0);
    if (cb >= 0) {
        m.connect_back = target;
        m.connect_back_flags = other ? STUN_CHANGE_IP : 0;
        m.has |= STUN_HAS_CONNECT_BACK;
    }
    netcheck_tcp_op_t *op = op_new(t, NETCHECK_TCP_SEND, conn);
    op->len = stun_write(&m, true, op->data, sizeof op->data);
}

static void open_conn(netcheck_tcp_t *t, unsigned conn, int reuse, addr_endpoint_t to)
{
    netcheck_tcp_op_t *op = op_new(t, NETCHECK_TCP_OPEN, conn);
    op->reuse = reuse;
    op->to = to;
    t->conn[conn] = C_OPENING;
    t->to[conn] = to;
    t->r.connections++;
    t->deadline = t->now + NETCHECK_TCP_STEP_TIMEOUT;
}

static void finish(netcheck_tcp_t *t)
{
    t->phase = PH_DONE;
    t->r.duration = t->now - t->start;
    netcheck_tcp_classify(&t->r, t->cfg.udp_works);
}

static bool mapping_eim(const netcheck_tcp_t *t)
{
    return t->r.mapped_count < 2 || addr_endpoint_equal(t->r.mapped[0], t->r.mapped[1]);
}

static void start_connect_backs(netcheck_tcp_t *t)
{
    netcheck_tcp_result_t *r = &t->r;
    t->phase = PH_CONNECT_BACK;
    t->deadline = t->now + NETCHECK_TCP_CONNECT_BACK_WAIT;
    addr_endpoint_t m = t->mapped[CONN_FILTER];
    bool filter = m.port != 0;
    if (!filter)
        note(r, "the filtering connection got no answer: TCP filtering not measured");
    /* The unsolicited target: the fresh listener's port on the public
     * address. It never sent, so no NAT has a mapping for it, unless the
     * allocator gave that port to one of ours: then one port along. */
    uint16_t port = t->local[CONN_LISTEN_FRESH].port;
    for (bool clash = true; clash;) {
        clash = port == m.port || port == r->mapped[0].port;
        for (unsigned i = 0; i < r->n_samples; i++)
            clash |= r->samples[i].mapped.port == port;
        if (clash)
            port = port == 65535 ? 1024 : port + 1;
    }
    r->cb[NETCHECK_TCP_CB_FROM_OTHER].to = m;
    r->cb[NETCHECK_TCP_CB_FROM_PRIMARY].to = m;
    r->cb[NETCHECK_TCP_CB_UNSOLICITED].to = addr_endpoint(r->mapped[0].ip, port);
    for (int i = 0; i < NETCHECK_TCP_CB_COUNT; i++) {
        bool other = i != NETCHECK_TCP_CB_FROM_PRIMARY;
        if ((other && !t->have_other) || (i != NETCHECK_TCP_CB_UNSOLICITED && !filter))
            continue;
        r->cb[i].sent = true;
        send_request(t, CONN_MAIN, i, r->cb[i].to, other);
    }
}

/* The next step of the serial chain: mapping tests II and III, then the
 * allocation connections, then the listeners. */
static void chain_next(netcheck_tcp_t *t)
{
    netcheck_tcp_result_t *r = &t->r;
    while (t->phase == PH_CHAIN) {
        unsigned pos = t->chain_pos++;
        if (pos == 0 && t->have_other) {
            open_conn(t, CONN_MAP2, CONN_MAIN, addr_endpoint(r->other_address.ip, r->server.port));
            return;
        }
        if (pos == 1 && t->have_other) {
            open_conn(t, CONN_MAP3, CONN_MAIN, r->other_address);
            return;
        }
        if (pos >= 2 && pos < 2 + 2 * NETCHECK_TCP_ALLOC_CONNS) {
            unsigned k = (pos - 2) / 2;
            /* Without a NAT, only the filtering test's connection. */
            if (r->no_nat && CONN_ALLOC0 + k != CONN_FILTER)
                continue;
            if ((pos - 2) % 2 == 0) {
                open_conn(t, CONN_ALLOC0 + k, -1, r->server);
                return;
            }
            if (t->have_other && !r->no_nat && !mapping_eim(t) && t->conn[CONN_ALLOC0 + k] == C_DONE) {
                open_conn(t, CONN_ALLOC2_0 + k, (int)(CONN_ALLOC0 + k),
                          addr_endpoint(r->other_address.ip, r->server.port));
                return;
            }
            continue;
        }
        if (pos >= 2 + 2 * NETCHECK_TCP_ALLOC_CONNS) {
            t->phase = PH_LISTEN;
            t->deadline = t->now + NETCHECK_TCP_STEP_TIMEOUT;
            op_new(t, NETCHECK_TCP_LISTEN, CONN_LISTEN_FILTER)->reuse =
                t->mapped[CONN_FILTER].port ? CONN_FILTER : CONN_MAIN;
            op_new(t, NETCHECK_TCP_LISTEN, CONN_LISTEN_FRESH);
            return;
        }
    }
}

static void add_sample(netcheck_tcp_t *t, unsigned conn, addr_endpoint_t mapped)
{
    netcheck_tcp_result_t *r = &t->r;
    unsigned sock = conn >= CONN_ALLOC2_0 ? conn - NETCHECK_TCP_ALLOC_CONNS : conn;
    if (conn == CONN_MAP2 || conn == CONN_MAP3)
        sock = CONN_MAIN;
    for (unsigned i = 0; i < r->n_samples; i++)
        if (r->samples[i].socket == sock && addr_endpoint_equal(r->samples[i].mapped, mapped))
            return;
    if (r->n_samples == NETCHECK_MAX_SAMPLES)
        return;
    r->samples[r->n_samples++] = (netcheck_sample_t){
        .socket = sock, .local = t->local[conn], .to = t->to[conn], .mapped = mapped,
        .preserved = mapped.port == t->local[conn].port,
    };
}

/* A step of the chain ended (answered or not). */
static void step_done(netcheck_tcp_t *t, unsigned conn, bool ok, netcheck_tcp_fail_t fail)
{
    t->conn[conn] = C_DONE;
    if (conn == CONN_MAIN) {
        if (!ok) {
            t->r.fail = fail;
            finish(t);
            return;
        }
        t->phase = PH_CHAIN;
    }
    chain_next(t);
}

/* ---- API -------------------------------------------------------------------- */

netcheck_tcp_t *netcheck_tcp_new(const netcheck_tcp_config_t *config, usec_t now)
{
    if (!config || !config->server.ip || !config->server.port)
        return NULL;
    netcheck_tcp_t *t = g_new0(netcheck_tcp_t, 1);
    t->cfg = *config;
    t->start = t->now = now;
    rng_seed(&t->rng, config->seed ^ 0x7463703a6e63ull);
    uint64_t run = rng_next(&t->rng);
    for (int i = 0; i < 8; i++)
        t->run_id[i] = (uint8_t)(run >> (8 * i));
    g_queue_init(&t->ops);
    t->r.ran = true;
    t->r.server = config->server;
    return t;
}

void netcheck_tcp_free(netcheck_tcp_t *t)
{
    if (!t)
        return;
    g_queue_clear_full(&t->ops, g_free);
    g_free(t);
}

bool netcheck_tcp_pop_op(netcheck_tcp_t *t, netcheck_tcp_op_t *op)
{
    netcheck_tcp_op_t *o = g_queue_pop_head(&t->ops);
    if (!o)
        return false;
    *op = *o;
    g_free(o);
    return true;
}

usec_t netcheck_tcp_bookkeeping(netcheck_tcp_t *t, usec_t now)
{
    t->now = MAX(t->now, now);
    if (t->phase == PH_INIT && t->conn[CONN_MAIN] == C_IDLE) {
        /* The first connection is not part of the chain: without it, none. */
        open_conn(t, CONN_MAIN, -1, t->cfg.server);
        return t->deadline;
    }
    if (t->phase == PH_DONE)
        return INT64_MAX;
    if (t->now < t->deadline)
        return t->deadline;
    /* A deadline passed: whatever was under way is lost. */
    switch (t->phase) {
    case PH_INIT:
        step_done(t, CONN_MAIN, false, NETCHECK_TCP_FAIL_TIMEOUT);
        break;
    case PH_CHAIN:
        for (unsigned c = 0; c < CONN_LISTEN_FILTER; c++) {
            if (t->conn[c] == C_OPENING || t->conn[c] == C_WAITING) {
                step_done(t, c, false, NETCHECK_TCP_FAIL_TIMEOUT);
                break;
            }
        }
        break;
    case PH_LISTEN:
        note(&t->r, "could not listen for the connect-back");
        finish(t);
        break;
    case PH_CONNECT_BACK:
        finish(t);
        break;
    case PH_DONE:
        break;
    }
    return t->phase == PH_DONE ? INT64_MAX : t->deadline;
}

void netcheck_tcp_opened(netcheck_tcp_t *t, unsigned conn, addr_endpoint_t local,
                         netcheck_tcp_fail_t fail, usec_t now)
{
    t->now = MAX(t->now, now);
    if (conn >= NETCHECK_TCP_MAX_CONNS || t->conn[conn] != C_OPENING || t->phase == PH_DONE)
        return;
    if (fail != NETCHECK_TCP_FAIL_NONE) {
        step_done(t, conn, false, fail);
        return;
    }
    t->local[conn] = local;
    if (conn == CONN_MAIN)
        t->r.local = local;
    t->conn[conn] = C_WAITING;
    send_request(t, conn, -1, addr_endpoint(0, 0), false);
}

void netcheck_tcp_listening(netcheck_tcp_t *t, unsigned conn, addr_endpoint_t local, usec_t now)
{
    t->now = MAX(t->now, now);
    if (t->phase != PH_LISTEN || (conn != CONN_LISTEN_FILTER && conn != CONN_LISTEN_FRESH))
        return;
    if (!local.port) {
        note(&t->r, "could not listen for the connect-back");
        finish(t);
        return;
    }
    t->local[conn] = local;
    if (++t->listening == 2)
        start_connect_backs(t);
}

void netcheck_tcp_message(netcheck_tcp_t *t, unsigned conn, const uint8_t *data, size_t len,
                          usec_t now)
{
    t->now = MAX(t->now, now);
    netcheck_tcp_result_t *r = &t->r;
    stun_message_t m;
    if (t->phase == PH_DONE || stun_read(data, len, &m) != STUN_OK || m.classic ||
        m.method != STUN_METHOD_BINDING ||
        (m.msg_class != STUN_CLASS_SUCCESS && m.msg_class != STUN_CLASS_ERROR) ||
        memcmp(m.transaction_id, t->run_id, 8) != 0)
        return;
    unsigned index = wire_get16(m.transaction_id + 8);
    if (index >= t->n_req || memcmp(t->req[index].id, m.transaction_id, STUN_TRANSACTION_ID_SIZE) ||
        t->req[index].conn != conn || t->req[index].answered)
        return;
    request_t *q = &t->req[index];
    q->answered = true;
    r->answers++;
    addr_endpoint_t mapped = (m.has & STUN_HAS_XOR_MAPPED) ? m.xor_mapped : m.mapped;
    bool ok = m.msg_class == STUN_CLASS_SUCCESS && mapped.port;
    if (q->cb >= 0) {
        netcheck_tcp_cb_t *cb = &r->cb[q->cb];
        cb->answered = true;
        if (ok && (m.has & STUN_HAS_CONNECT_RESULT))
            cb->result = m.connect_result;
        bool all = true;
        for (int i = 0; i < NETCHECK_TCP_CB_COUNT; i++)
            all &= !r->cb[i].sent || r->cb[i].answered;
        if (all)
            finish(t);
        return;
    }
    if (!ok) {
        step_done(t, conn, false, NETCHECK_TCP_FAIL_CLOSED);
        return;
    }
    t->mapped[conn] = mapped;
    if (conn == CONN_MAIN) {
        r->mapped[0] = mapped;
        r->mapped_count = 1;
        r->no_nat = addr_endpoint_equal(mapped, t->local[CONN_MAIN]);
        if ((m.has & STUN_HAS_OTHER_ADDRESS) && m.other_address.ip &&
            m.other_address.ip != r->server.ip && m.other_address.port &&
            m.other_address.port != r->server.port) {
            r->other_address = m.other_address;
            t->have_other = true;
        }
    } else if (conn == CONN_MAP2 || conn == CONN_MAP3) {
        unsigned slot = conn == CONN_MAP2 ? 1 : 2;
        if (r->mapped_count == slot) {
            r->mapped[slot] = mapped;
            r->mapped_count = slot + 1;
        }
    }
    if (!r->no_nat)
        add_sample(t, conn, mapped);
    step_done(t, conn, true, NETCHECK_TCP_FAIL_NONE);
}

void netcheck_tcp_closed(netcheck_tcp_t *t, unsigned conn, usec_t now)
{
    t->now = MAX(t->now, now);
    if (conn >= NETCHECK_TCP_MAX_CONNS || t->phase == PH_DONE)
        return;
    if (t->conn[conn] == C_OPENING || t->conn[conn] == C_WAITING)
        step_done(t, conn, false, NETCHECK_TCP_FAIL_CLOSED);
    else if (conn == CONN_MAIN && t->phase == PH_CONNECT_BACK) {
        note(&t->r, "the server closed the connection before the connect-backs were answered");
        finish(t);
    }
}

bool netcheck_tcp_done(const netcheck_tcp_t *t)
{
    return t->phase == PH_DONE;
}

const netcheck_tcp_result_t *netcheck_tcp_result(const netcheck_tcp_t *t)
{
    return &t->r;
}

/* ---- verdicts ---------------------------------------------------------------- */

static bool cb_answered(const netcheck_tcp_cb_t *cb)
{
    return cb->answered && cb->result.outcome != STUN_CONNECT_NONE &&
           cb->result.outcome != STUN_CONNECT_FAILED;
}

void netcheck_tcp_classify(netcheck_tcp_result_t *r, bool udp_works)
{
    r->known = 0;
    if (!r->ran)
        return;
    if (r->mapped_count == 0) {
        if (udp_works) {
            /* RFC 5780's server listens on TCP too (natlab server, coturn):
             * UDP answered and TCP did not, so TCP is what is blocked. */
            r->allowed = false;
            r->known |= NETCHECK_TCP_KNOWN_ALLOWED;
            note(r, r->fail == NETCHECK_TCP_FAIL_REFUSED ? "TCP to the server was refused (RST)"
                    : r->fail == NETCHECK_TCP_FAIL_UNREACHABLE ? "TCP to the server: ICMP unreachable"
                    : r->fail == NETCHECK_TCP_FAIL_CLOSED ? "the server closed TCP without an answer"
                                                          : "no answer over TCP");
        }
        return;
    }
    r->allowed = true;
    r->known |= NETCHECK_TCP_KNOWN_ALLOWED;
    r->no_nat = addr_endpoint_equal(r->mapped[0], r->local);

    if (!r->no_nat && r->mapped_count >= 2) {
        if (addr_endpoint_equal(r->mapped[1], r->mapped[0])) {
            r->mapping = NAT_ENDPOINT_INDEPENDENT;
            r->known |= NETCHECK_TCP_KNOWN_MAPPING;
        } else if (r->mapped_count == 3) {
            r->mapping = addr_endpoint_equal(r->mapped[2], r->mapped[1]) ? NAT_ADDRESS_DEPENDENT
                                                                         : NAT_ADDRESS_AND_PORT_DEPENDENT;
            r->known |= NETCHECK_TCP_KNOWN_MAPPING;
        }
    }
    if (!r->no_nat) {
        netcheck_alloc_verdict_t v;
        netcheck_alloc_classify(r->samples, r->n_samples, &v);
        if (v.known & NETCHECK_ALLOC_KNOWN_ALLOCATION) {
            r->allocation = v.allocation;
            r->sequential_step = v.sequential_step;
            r->known |= NETCHECK_TCP_KNOWN_ALLOCATION;
        }
    }

    const netcheck_tcp_cb_t *other = &r->cb[NETCHECK_TCP_CB_FROM_OTHER];
    const netcheck_tcp_cb_t *primary = &r->cb[NETCHECK_TCP_CB_FROM_PRIMARY];
    const netcheck_tcp_cb_t *unsol = &r->cb[NETCHECK_TCP_CB_UNSOLICITED];
    r->connect_back = false;
    for (int i = 0; i < NETCHECK_TCP_CB_COUNT; i++)
        r->connect_back |= r->cb[i].answered && r->cb[i].result.outcome != STUN_CONNECT_NONE;
    bool any_sent = other->sent || primary->sent || unsol->sent;
    if (any_sent && !r->connect_back)
        note(r, "the server does not connect back (no NATLAB-CONNECT-RESULT): TCP filtering "
                "and unsolicited SYNs not measured");
    if (cb_answered(other) && cb_answered(primary)) {
        r->filtering = other->result.outcome == STUN_CONNECT_CONNECTED     ? NAT_ENDPOINT_INDEPENDENT
                       : primary->result.outcome == STUN_CONNECT_CONNECTED ? NAT_ADDRESS_DEPENDENT
                                                                           : NAT_ADDRESS_AND_PORT_DEPENDENT;
        r->known |= NETCHECK_TCP_KNOWN_FILTERING;
    }
    if (cb_answered(unsol)) {
        const stun_connect_result_t *u = &unsol->result;
        switch (u->outcome) {
        case STUN_CONNECT_CONNECTED:
            if (r->no_nat)
                r->unsolicited_ok = true;
            else
                note(r, "an unsolicited SYN to a port that never sent got through (a port forward?)");
            break;
        case STUN_CONNECT_RESET:
            r->unsolicited = NETCHECK_TCP_SYN_RST;
            r->known |= NETCHECK_TCP_KNOWN_UNSOLICITED;
            break;
        case STUN_CONNECT_ICMP:
            r->unsolicited = u->elapsed_ms >= NETCHECK_TCP_HOLD_MIN_MS ? NETCHECK_TCP_SYN_HOLD
                                                                       : NETCHECK_TCP_SYN_ICMP;
            r->known |= NETCHECK_TCP_KNOWN_UNSOLICITED;
            break;
        case STUN_CONNECT_TIMEOUT:
            r->unsolicited = NETCHECK_TCP_SYN_DROP;
            r->known |= NETCHECK_TCP_KNOWN_UNSOLICITED;
            break;
        default:
            break;
        }
    }
}
