#define G_LOG_DOMAIN "netcheck"
#include "netcheck.h"

#include <glib.h>
#include <string.h>

#include "common/rng.h"
#include "common/wire.h"

/* ---- constants ---------------------------------------------------------- */

/* A fire-and-forget datagram (keepalive, PCP delete) is sent this often. */
#define FIRE_SPACING (20 * USEC_PER_MSEC)
/* Lifetime: the refresh socket decides "inbound refreshes" once it is
 * still alive this far past the first dead check. */
#define REFRESH_MARGIN 1.25
/* RFC 6887 section 15: 120 s is the shortest lifetime worth asking for. */
#define PCP_MAP_LIFETIME_S 120

/* ---- types -------------------------------------------------------------- */

typedef enum netcheck_state {
    NC_INIT,    /* waiting for the first bookkeeping */
    NC_PRIMARY, /* test I from MAIN: does UDP work, is there a NAT */
    NC_CHAIN,   /* the serial chain of flows that may create mappings */
    NC_PROBING, /* decisive probes and the lifetime search */
    NC_DONE,
} netcheck_state_t;

static const char *const state_names[] = { "init", "primary", "chain", "probing", "done" };

typedef enum purpose {
    P_PRIMARY,
    P_MAP2,         /* test II: OTHER-ADDRESS IP, primary port */
    P_MAP3,         /* test III: OTHER-ADDRESS */
    P_FILTER1,      /* filtering test I: fresh socket, no flags */
    P_FILTER2,      /* change IP and port */
    P_FILTER3,      /* change port */
    P_ALLOC,        /* allocation socket k to A1:P1 */
    P_ALLOC2,       /* allocation socket k to A2:P1 (dependent mapping only) */
    P_HAIRPIN_PREP, /* the hairpin sender learns its own mapping */
    P_MAIN_REFRESH, /* MAIN's mapping, fresh for the hairpin test */
    P_HAIRPIN,      /* the hairpin sender to MAIN's mapped address */
    P_UNSOLICITED,  /* no NAT: RESPONSE-PORT to a socket that never sent */
    P_NATPMP,       /* RFC 6886 external address request */
    P_PCP,          /* RFC 6887 ANNOUNCE */
    P_PCP_MAP,      /* RFC 6887 MAP, for PCP's external address */
    P_PCP_UNMAP,    /* the same with lifetime 0 */
    P_LIFE_PRIME,   /* a lifetime socket's mapping */
    P_LIFE_CHECK,   /* RESPONSE-PORT toward a lifetime socket's mapping */
    P_HELPER_PRIME, /* a lifetime helper learns its own mapping */
    P_KEEPALIVE,    /* keeps a lifetime helper's own mapping alive */
} purpose_t;

typedef enum probe_mode {
    MODE_TRANSACTION, /* retransmitted with a doubling RTO until answered */
    MODE_DECISIVE,    /* NETCHECK_DECISIVE_ATTEMPTS sends RTO apart; silence is an answer */
    MODE_FIRE,        /* a few copies; no answer expected */
} probe_mode_t;

typedef enum probe_state { PROBE_WAITING, PROBE_ACTIVE, PROBE_ANSWERED, PROBE_SILENT } probe_state_t;

#define MAX_ATTEMPTS 8

typedef struct probe {
    purpose_t purpose;
    probe_mode_t mode;
    probe_state_t state;
    unsigned socket; /* sends from */
    unsigned expect; /* the answer arrives here */
    addr_endpoint_t to;
    uint32_t change;
    uint16_t response_port;
    unsigned arg; /* allocation socket or lifetime slot */
    unsigned index;
    uint8_t id[STUN_TRANSACTION_ID_SIZE]; /* byte 10 carries the attempt */
    uint8_t nonce[12];                    /* PCP MAP */
    unsigned attempts, max_attempts;
    usec_t start_at, next_at;
    usec_t sent_at[MAX_ATTEMPTS];
    usec_t answered_at;
    unsigned answered_attempt;
    bool misrouted;   /* the answer arrived on another socket than expected */
    bool error_reply; /* a STUN error response */
    uint16_t error_code;
    addr_endpoint_t from; /* the answer's source */
    addr_endpoint_t mapped, xor_mapped, origin, other;
    uint32_t has;
    uint8_t pm_result;   /* NAT-PMP / PCP result code */
    uint8_t pm_version;  /* the version the gateway answered with */
    uint32_t pm_epoch, pm_external;
} probe_t;

/* A lifetime slot: one socket, primed once, checked once (or, for the
 * refresh socket, at every grid time). */
typedef struct life_slot {
    unsigned socket;
    usec_t after;   /* check this long after the prime */
    usec_t primed_at;
    addr_endpoint_t mapped;
    bool primed, failed, done, alive;
    bool pruned;     /* not checked: past a death (undone if that death was loss) */
    probe_t *check;  /* its check, once scheduled */
    unsigned helper; /* socket that sends the RESPONSE-PORT checks */
} life_slot_t;

struct netcheck {
    netcheck_config_t cfg;
    netcheck_state_t state;
    rng_t rng;
    uint8_t run_id[8];
    usec_t start, now;

    unsigned n_sockets, n_alloc;
    unsigned sock_main, sock_filter, sock_alloc0, sock_hairpin, sock_unsolicited;
    unsigned sock_pmp, sock_pcp, sock_refresh, sock_life0, n_life;
    addr_endpoint_t local[NETCHECK_MAX_SOCKETS];
    usec_t last_sent[NETCHECK_MAX_SOCKETS];

    GPtrArray *probes; /* every probe; the index travels in the transaction id */
    GPtrArray *live;   /* waiting or active ones */
    GQueue sends;

    bool have_rtt;
    usec_t srtt, rttvar;

    /* Chain cursor. */
    unsigned chain_pos;
    bool chain_done;

    /* Findings as they come in. */
    bool have_other;
    addr_endpoint_t other; /* A2:P2 */
    addr_endpoint_t m1;
    bool no_nat;
    probe_t *filter2, *filter3, *hairpin, *unsolicited, *natpmp, *pcp, *pcp_map;
    probe_t *primary, *map2, *map3, *filter1, *hairpin_prep, *main_refresh;
    addr_endpoint_t hairpin_target; /* MAIN's mapping toward A1:P1 */
    bool hairpin_started, pcp_map_started;
    bool alg_seen, alg_known, origin_mismatch;

    /* Lifetime search. */
    double ratio; /* between check times */
    bool life_started, life_done;
    life_slot_t *life; /* n_life slots; the refresh slot is separate */
    life_slot_t refresh;
    unsigned refresh_grid;  /* next grid index for the refresh socket */
    probe_t *refresh_probe; /* its check in progress or waiting */
    bool refresh_decided, refresh_known;
    unsigned refresh_silent; /* consecutive silent checks */
    nat_refresh_t refresh_value;
    unsigned helpers[NETCHECK_ALLOC_SOCKETS]; /* one per external address seen */
    uint32_t helper_ips[NETCHECK_ALLOC_SOCKETS];
    unsigned n_helpers;
    usec_t life_alive_max; /* the longest proven lifetime so far */
    usec_t life_dead_min;  /* the shortest proven death (0: none) */

    netcheck_result_t result;
};

/* ---- small helpers ------------------------------------------------------ */

static void state_set(netcheck_t *nc, netcheck_state_t state)
{
    if (nc->state == state)
        return;
    g_debug("%s -> %s at %.3f s", state_names[nc->state], state_names[state],
            (double)(nc->now - nc->start) / USEC_PER_SEC);
    nc->state = state;
}

static void note_error(netcheck_t *nc, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void note_error(netcheck_t *nc, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    g_vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *e = nc->result.error;
    size_t used = strlen(e);
    if (strstr(e, msg))
        return;
    g_snprintf(e + used, sizeof nc->result.error - used, "%s%s", used ? "; " : "", msg);
}

static usec_t rto(const netcheck_t *nc)
{
    if (!nc->have_rtt)
        return NETCHECK_RTO_INITIAL;
    return CLAMP(nc->srtt + 4 * nc->rttvar, NETCHECK_RTO_MIN, NETCHECK_RTO_MAX);
}

/* RFC 6298 section 2; every attempt has its own id, so no Karn ambiguity. */
static void rtt_sample(netcheck_t *nc, usec_t r)
{
    if (r < 0)
        return;
    if (!nc->have_rtt) {
        nc->srtt = r;
        nc->rttvar = r / 2;
        nc->have_rtt = true;
        return;
    }
    usec_t diff = nc->srtt > r ? nc->srtt - r : r - nc->srtt;
    nc->rttvar = (3 * nc->rttvar + diff) / 4;
    nc->srtt = (7 * nc->srtt + r) / 8;
}

static addr_endpoint_t server_endpoint(const netcheck_t *nc, bool alt_ip, bool alt_port)
{
    return addr_endpoint(alt_ip ? nc->other.ip : nc->cfg.server.ip,
                         alt_port ? nc->other.port : nc->cfg.server.port);
}

/* ---- probes ------------------------------------------------------------- */

static probe_t *probe_new(netcheck_t *nc, purpose_t purpose, probe_mode_t mode, unsigned socket,
                          addr_endpoint_t to)
{
    probe_t *p = g_new0(probe_t, 1);
    p->purpose = purpose;
    p->mode = mode;
    p->state = PROBE_WAITING;
    p->socket = socket;
    p->expect = socket;
    p->to = to;
    p->index = nc->probes->len;
    p->start_at = nc->now;
    p->answered_at = -1;
    p->max_attempts = mode == MODE_TRANSACTION ? NETCHECK_ATTEMPTS
                      : mode == MODE_DECISIVE  ? NETCHECK_DECISIVE_ATTEMPTS
                                               : 2;
    memcpy(p->id, nc->run_id, 8);
    wire_put16(p->id + 8, (uint16_t)p->index);
    p->id[10] = 0;
    p->id[11] = (uint8_t)rng_next(&nc->rng);
    for (size_t i = 0; i < sizeof p->nonce; i++)
        p->nonce[i] = (uint8_t)rng_next(&nc->rng);
    g_ptr_array_add(nc->probes, p);
    g_ptr_array_add(nc->live, p);
    return p;
}

static void queue_send(netcheck_t *nc, unsigned socket, addr_endpoint_t to, const uint8_t *data,
                       size_t len)
{
    if (len == 0 || len > STUN_MAX_MESSAGE)
        return;
    netcheck_send_t *s = g_new(netcheck_send_t, 1);
    s->socket = socket;
    s->to = to;
    s->len = len;
    memcpy(s->data, data, len);
    g_queue_push_tail(&nc->sends, s);
    nc->last_sent[socket] = nc->now;
    nc->result.probes_sent++;
}

/* RFC 6887 section 7.1 common request header: version, opcode, reserved,
 * requested lifetime, client address (IPv4-mapped IPv6). */
static size_t pcp_header(uint8_t *b, uint8_t opcode, uint32_t lifetime, uint32_t client_ip)
{
    memset(b, 0, 24);
    b[0] = 2;
    b[1] = opcode;
    wire_put32(b + 4, lifetime);
    b[18] = 0xff;
    b[19] = 0xff;
    wire_put32(b + 20, client_ip);
    return 24;
}

/* Section 11.1 MAP payload: nonce, protocol, reserved, internal port,
 * suggested external port, suggested external address. */
static size_t pcp_map_request(uint8_t *b, const probe_t *p, uint32_t lifetime, addr_endpoint_t local)
{
    size_t n = pcp_header(b, 1, lifetime, local.ip);
    uint8_t *m = b + n;
    memset(m, 0, 36);
    memcpy(m, p->nonce, 12);
    m[12] = 17; /* UDP */
    wire_put16(m + 16, local.port);
    m[30] = 0xff; /* suggested address ::ffff:0.0.0.0: no preference (IPv4) */
    m[31] = 0xff;
    return n + 36;
}

static void probe_transmit(netcheck_t *nc, probe_t *p)
{
    uint8_t buf[STUN_MAX_MESSAGE];
    size_t len = 0;
    unsigned attempt = p->attempts;
    switch (p->purpose) {
    case P_NATPMP:
        buf[0] = 0; /* RFC 6886 section 3.2: version 0, opcode 0 */
        buf[1] = 0;
        len = 2;
        break;
    case P_PCP:
        len = pcp_header(buf, 0, 0, nc->local[p->socket].ip);
        break;
    case P_PCP_MAP:
        len = pcp_map_request(buf, p, PCP_MAP_LIFETIME_S, nc->local[p->socket]);
        break;
    case P_PCP_UNMAP:
        len = pcp_map_request(buf, p, 0, nc->local[p->socket]);
        break;
    default: {
        stun_message_t m;
        uint8_t id[STUN_TRANSACTION_ID_SIZE];
        memcpy(id, p->id, sizeof id);
        id[10] = (uint8_t)attempt;
        stun_binding_request(&m, id, p->change, p->response_port, 0);
        len = stun_write(&m, false, buf, sizeof buf);
        break;
    }
    }
    p->sent_at[attempt] = nc->now;
    p->attempts++;
    queue_send(nc, p->socket, p->to, buf, len);

    usec_t r = rto(nc);
    bool last = p->attempts >= p->max_attempts;
    switch (p->mode) {
    case MODE_TRANSACTION:
        /* RFC 8489 6.2.1 doubles the RTO; capped (see NETCHECK_RTO_CAP), and
         * the final wait is the cap rather than Rm x RTO. */
        p->next_at = nc->now + (last ? NETCHECK_RTO_CAP
                                     : MIN(r << MIN(attempt, 10u), NETCHECK_RTO_CAP));
        break;
    case MODE_DECISIVE:
        p->next_at = nc->now + (last ? 2 * r : r);
        break;
    case MODE_FIRE:
        p->next_at = nc->now + (last ? 0 : FIRE_SPACING);
        break;
    }
}

static void on_done(netcheck_t *nc, probe_t *p);

static void probe_finish(netcheck_t *nc, probe_t *p, probe_state_t state)
{
    if (p->state == PROBE_ANSWERED || p->state == PROBE_SILENT)
        return;
    p->state = state;
    g_ptr_array_remove_fast(nc->live, p);
    on_done(nc, p);
}

/* Drops a probe that has not started (a lifetime check no longer needed). */
static void probe_cancel(netcheck_t *nc, probe_t *p)
{
    if (p->state != PROBE_WAITING)
        return;
    p->state = PROBE_SILENT;
    g_ptr_array_remove_fast(nc->live, p);
}

static probe_t *probe_by_id(netcheck_t *nc, const uint8_t *id)
{
    if (memcmp(id, nc->run_id, 8) != 0)
        return NULL;
    unsigned index = wire_get16(id + 8);
    if (index >= nc->probes->len)
        return NULL;
    probe_t *p = g_ptr_array_index(nc->probes, index);
    if (p->id[11] != id[11] || id[10] >= p->attempts)
        return NULL;
    return p;
}

static void tally(const netcheck_t *nc, const probe_t *p, netcheck_tally_t *t)
{
    if (!p)
        return;
    t->sent = p->attempts;
    t->answered = p->state == PROBE_ANSWERED && !p->misrouted;
    t->first_sent = p->attempts ? p->sent_at[0] - nc->start : -1;
    t->answered_at = p->answered_at >= 0 ? p->answered_at - nc->start : -1;
    t->answer_from = p->from;
}

/* ---- the serial chain --------------------------------------------------- */

static void add_sample(netcheck_t *nc, const probe_t *p)
{
    netcheck_result_t *r = &nc->result;
    addr_endpoint_t m = p->xor_mapped.port ? p->xor_mapped : p->mapped;
    if (!m.port)
        return;
    /* A mapping the socket had already is no new allocation (EIM, ADM). */
    for (unsigned i = 0; i < r->n_samples; i++)
        if (r->samples[i].socket == p->socket && addr_endpoint_equal(r->samples[i].mapped, m))
            return;
    if (r->n_samples == NETCHECK_MAX_SAMPLES)
        return;
    r->samples[r->n_samples++] = (netcheck_sample_t){
        .socket = p->socket,
        .local = nc->local[p->socket],
        .to = p->to,
        .mapped = m,
        .preserved = m.port == nc->local[p->socket].port,
    };
}

static bool mapping_is_eim(const netcheck_t *nc)
{
    if (!nc->map2 || nc->map2->state != PROBE_ANSWERED)
        return true; /* unknown: do not spend the extra flows */
    return addr_endpoint_equal(nc->map2->xor_mapped, nc->m1);
}

/* Starts the next flow of the chain; none left -> chain_done. Positions:
 * 0 test II, 1 test III, 2 filtering test I, then two per allocation
 * socket (A1:P1, and A2:P1 when mapping depends on the destination), then
 * the hairpin sender. */
static void chain_next(netcheck_t *nc)
{
    unsigned alloc_end = 3 + 2 * nc->n_alloc;
    while (!nc->chain_done) {
        unsigned pos = nc->chain_pos++;
        if (pos == 0 && nc->have_other) {
            nc->map2 = probe_new(nc, P_MAP2, MODE_TRANSACTION, nc->sock_main,
                                 server_endpoint(nc, true, false));
            return;
        }
        if (pos == 1 && nc->have_other) {
            nc->map3 = probe_new(nc, P_MAP3, MODE_TRANSACTION, nc->sock_main,
                                 server_endpoint(nc, true, true));
            return;
        }
        if (pos == 2) {
            nc->filter1 = probe_new(nc, P_FILTER1, MODE_TRANSACTION, nc->sock_filter, nc->cfg.server);
            return;
        }
        if (pos >= 3 && pos < alloc_end) {
            unsigned k = (pos - 3) / 2;
            bool second = (pos - 3) % 2;
            if (!second) {
                probe_t *p = probe_new(nc, P_ALLOC, MODE_TRANSACTION, nc->sock_alloc0 + k,
                                       nc->cfg.server);
                p->arg = k;
                return;
            }
            if (nc->have_other && !nc->no_nat && !mapping_is_eim(nc)) {
                probe_t *p = probe_new(nc, P_ALLOC2, MODE_TRANSACTION, nc->sock_alloc0 + k,
                                       server_endpoint(nc, true, false));
                p->arg = k;
                return;
            }
            continue;
        }
        if (pos == alloc_end) {
            nc->hairpin_prep = probe_new(nc, P_HAIRPIN_PREP, MODE_TRANSACTION, nc->sock_hairpin,
                                         nc->cfg.server);
            return;
        }
        if (pos == alloc_end + 1) {
            /* A long chain (loss, short timeouts) may have let MAIN's mapping
             * expire: refresh it, and aim the hairpin at what it is now. */
            nc->main_refresh = probe_new(nc, P_MAIN_REFRESH, MODE_TRANSACTION, nc->sock_main,
                                         nc->cfg.server);
            return;
        }
        if (pos > alloc_end + 1) {
            nc->chain_done = true;
            state_set(nc, NC_PROBING);
        }
    }
}

/* ---- lifetime search ---------------------------------------------------- */

static bool answered(const probe_t *p);

/* The helper whose own A1:P1 mapping shares the slot's external address:
 * RESPONSE-PORT answers go to the requester's address (RFC 5780 7.5). */
static bool life_helper(netcheck_t *nc, life_slot_t *s)
{
    for (unsigned i = 0; i < nc->n_helpers; i++) {
        if (nc->helper_ips[i] == s->mapped.ip) {
            s->helper = nc->helpers[i];
            return true;
        }
    }
    return false;
}

static usec_t grid_time(const netcheck_t *nc, unsigned k)
{
    double t = (double)NETCHECK_LIFETIME_FIRST;
    while (k--)
        t *= nc->ratio;
    return (usec_t)t;
}

/* NETCHECK_LIFETIME_RATIO, or the smallest ratio whose grid reaches the
 * bound in NETCHECK_LIFETIME_MAX_CHECKS steps (bisection: no libm). */
static double grid_ratio(usec_t bound)
{
    double want = (double)bound / (double)NETCHECK_LIFETIME_FIRST;
    double lo = NETCHECK_LIFETIME_RATIO, hi = 2.0;
    for (int round = 0; round < 60; round++) {
        double r = round == 0 ? lo : (lo + hi) / 2, t = 1;
        for (int k = 1; k < NETCHECK_LIFETIME_MAX_CHECKS; k++)
            t *= r;
        if (round == 0) {
            if (t >= want)
                return lo;
            continue;
        }
        if (t >= want)
            hi = r;
        else
            lo = r;
    }
    return hi;
}

/* `at` is when the answer should reach the NAT; the request leaves about a
 * round trip earlier (see life_on_check). */
static probe_t *life_check_start(netcheck_t *nc, life_slot_t *s, unsigned slot, usec_t at)
{
    probe_t *p = probe_new(nc, P_LIFE_CHECK, MODE_DECISIVE, s->helper, nc->cfg.server);
    p->response_port = s->mapped.port;
    p->expect = s->socket;
    p->arg = slot;
    p->start_at = MAX(at - nc->srtt, nc->now);
    return p;
}

static void refresh_next(netcheck_t *nc)
{
    life_slot_t *s = &nc->refresh;
    if (nc->refresh_decided || nc->refresh_probe || !s->primed || s->failed)
        return;
    usec_t limit = nc->cfg.lifetime_max + nc->cfg.lifetime_max / 2;
    for (;; nc->refresh_grid++) {
        usec_t after = grid_time(nc, nc->refresh_grid);
        if (after > limit) {
            nc->refresh_decided = true; /* undecided; finalize says unknown */
            return;
        }
        if (s->primed_at + after >= nc->now) {
            nc->refresh_grid++;
            nc->refresh_probe = life_check_start(nc, s, UINT_MAX, s->primed_at + after);
            return;
        }
    }
}

/* First the helpers (the allocation sockets) learn their mappings as they
 * are now (the chain may have outlived a short timeout), then every
 * lifetime socket is primed at once. */
static void life_start(netcheck_t *nc)
{
    nc->life_started = true;
    for (unsigned k = 0; k < nc->n_alloc; k++)
        probe_new(nc, P_HELPER_PRIME, MODE_TRANSACTION, nc->sock_alloc0 + k, nc->cfg.server);
}

static void life_on_helper(netcheck_t *nc, probe_t *p)
{
    if (answered(p) && p->xor_mapped.port) {
        bool seen = false;
        for (unsigned i = 0; i < nc->n_helpers; i++)
            seen |= nc->helper_ips[i] == p->xor_mapped.ip;
        if (!seen) {
            nc->helper_ips[nc->n_helpers] = p->xor_mapped.ip;
            nc->helpers[nc->n_helpers++] = p->socket;
        }
    }
    for (guint i = 0; i < nc->live->len; i++)
        if (((probe_t *)g_ptr_array_index(nc->live, i))->purpose == P_HELPER_PRIME)
            return;
    if (nc->n_helpers == 0) {
        note_error(nc, "lifetime not measured: no helper socket got an answer");
        nc->life_done = true;
        return;
    }
    for (unsigned i = 0; i <= nc->n_life; i++) {
        life_slot_t *s = i < nc->n_life ? &nc->life[i] : &nc->refresh;
        probe_t *prime = probe_new(nc, P_LIFE_PRIME, MODE_TRANSACTION, s->socket, nc->cfg.server);
        prime->arg = i < nc->n_life ? i : UINT_MAX;
    }
}

static bool life_checks_settled(const netcheck_t *nc)
{
    for (unsigned i = 0; i < nc->n_life; i++)
        if (!nc->life[i].done)
            return false;
    return true;
}

static void life_update_done(netcheck_t *nc)
{
    if (nc->life_done || !nc->life_started)
        return;
    if (!life_checks_settled(nc))
        return;
    /* No death seen: whether inbound refreshes cannot be told. */
    if (nc->life_dead_min == 0 || nc->refresh.failed)
        nc->refresh_decided = true;
    if (nc->refresh_decided && nc->refresh_probe && nc->refresh_probe->state == PROBE_WAITING) {
        probe_cancel(nc, nc->refresh_probe);
        nc->refresh_probe = NULL;
    }
    if (nc->refresh_decided && !nc->refresh_probe)
        nc->life_done = true;
}

/* A death at slot k: checks two grid steps later are not needed. */
/* Checks two grid steps past the first death are not needed: they wait,
 * pruned, in case a later check shows that death was loss. */
static void life_prune(netcheck_t *nc)
{
    usec_t beyond = (usec_t)((double)nc->life_dead_min * nc->ratio * nc->ratio);
    for (unsigned i = 0; i < nc->n_life; i++) {
        life_slot_t *s = &nc->life[i];
        if (s->done || s->after <= beyond)
            continue;
        if (s->check && s->check->state != PROBE_WAITING)
            continue; /* under way: let it finish */
        if (s->check)
            probe_cancel(nc, s->check);
        s->check = NULL;
        s->pruned = s->done = true;
    }
}

static void life_unprune(netcheck_t *nc)
{
    for (unsigned i = 0; i < nc->n_life; i++) {
        life_slot_t *s = &nc->life[i];
        if (!s->pruned)
            continue;
        s->pruned = false;
        s->done = s->failed;
        if (s->primed && !s->failed) {
            if (s->primed_at + s->after - nc->srtt > nc->now)
                s->check = life_check_start(nc, s, i, s->primed_at + s->after);
            else
                s->done = true; /* its moment has passed */
        }
    }
}

/* The shortest death longer than every proven life; 0 if none. */
static usec_t life_first_death(const netcheck_t *nc)
{
    usec_t best = 0;
    const netcheck_result_t *r = &nc->result;
    for (unsigned i = 0; i < r->n_life; i++) {
        const netcheck_life_point_t *pt = &r->life[i];
        if (!pt->refresh_socket && !pt->alive && pt->after > nc->life_alive_max &&
            (best == 0 || pt->after < best))
            best = pt->after;
    }
    return best;
}

static void life_on_prime(netcheck_t *nc, probe_t *p)
{
    life_slot_t *s = p->arg == UINT_MAX ? &nc->refresh : &nc->life[p->arg];
    if (p->state != PROBE_ANSWERED || !p->xor_mapped.port) {
        s->failed = s->done = true;
        return;
    }
    /* The mapping was last refreshed when the answered request went out. */
    s->primed_at = p->sent_at[p->answered_attempt];
    s->mapped = p->xor_mapped;
    s->primed = true;
    if (!life_helper(nc, s)) {
        s->failed = s->done = true;
        return;
    }
    if (s == &nc->refresh) {
        refresh_next(nc);
        return;
    }
    if (nc->life_dead_min && s->after > (usec_t)((double)nc->life_dead_min * nc->ratio * nc->ratio)) {
        s->pruned = s->done = true;
        return;
    }
    s->check = life_check_start(nc, s, p->arg, s->primed_at + s->after);
}

static void life_on_check(netcheck_t *nc, probe_t *p)
{
    bool refresh = p->arg == UINT_MAX;
    life_slot_t *s = refresh ? &nc->refresh : &nc->life[p->arg];
    netcheck_result_t *r = &nc->result;
    if (p->misrouted) {
        note_error(nc, "the server does not honour RESPONSE-PORT: lifetime not measured");
        s->failed = s->done = true;
        if (refresh) {
            nc->refresh_probe = NULL;
            nc->refresh_decided = true;
        }
        return;
    }
    /* The answer crossed the NAT about a round trip after the request left;
     * the prime refreshed the mapping as it went out. */
    bool alive = p->state == PROBE_ANSWERED;
    usec_t at = (alive ? p->sent_at[p->answered_attempt] : p->sent_at[0]) + nc->srtt;
    usec_t after = at - s->primed_at;
    if (r->n_life < NETCHECK_MAX_LIFE_POINTS)
        r->life[r->n_life++] = (netcheck_life_point_t){ after, alive, refresh };
    if (refresh) {
        nc->refresh_probe = NULL;
        if (nc->refresh_decided)
            return;
        nc->refresh_silent = alive ? 0 : nc->refresh_silent + 1;
        /* Two silent checks in a row: one alone could be loss. */
        if (nc->refresh_silent >= 2) {
            nc->refresh_value = NAT_REFRESH_OUTBOUND;
            nc->refresh_decided = nc->refresh_known = true;
        } else if (!alive) {
            /* wait for the next check */
        } else if (nc->life_dead_min && life_checks_settled(nc) &&
                   after > (usec_t)(REFRESH_MARGIN * (double)nc->life_dead_min)) {
            /* Settled: a death the other checks did not contradict. */
            nc->refresh_value = NAT_REFRESH_BOTH;
            nc->refresh_decided = nc->refresh_known = true;
        }
        refresh_next(nc);
        return;
    }
    s->done = true;
    s->alive = alive;
    s->check = NULL;
    if (alive) {
        nc->life_alive_max = MAX(nc->life_alive_max, after);
        if (nc->life_dead_min && after >= nc->life_dead_min) {
            /* Alive past a death: that death was seven losses in a row. */
            nc->life_dead_min = life_first_death(nc);
            life_unprune(nc);
            if (nc->life_dead_min)
                life_prune(nc);
        }
    } else if (after > nc->life_alive_max) {
        /* A death below a proven life would be loss; only later ones count. */
        if (nc->life_dead_min == 0 || after < nc->life_dead_min)
            nc->life_dead_min = after;
        life_prune(nc);
    }
}

/* Every helper keeps its own mapping alive while the search runs: at a
 * third of the longest lifetime proven so far, at least every second. */
static usec_t life_keepalive(netcheck_t *nc)
{
    if (!nc->life_started || nc->life_done)
        return NETCHECK_NEVER;
    usec_t interval = CLAMP(nc->life_alive_max / 3, USEC_PER_SEC, 60 * USEC_PER_SEC);
    usec_t next = NETCHECK_NEVER;
    for (unsigned i = 0; i < nc->n_helpers; i++) {
        unsigned sock = nc->helpers[i];
        usec_t due = nc->last_sent[sock] + interval;
        if (due <= nc->now) {
            probe_new(nc, P_KEEPALIVE, MODE_FIRE, sock, nc->cfg.server)->max_attempts = 1;
            due = nc->now + interval;
        }
        next = MIN(next, due);
    }
    return next;
}

/* ---- verdicts ----------------------------------------------------------- */

static bool answered(const probe_t *p)
{
    return p && p->state == PROBE_ANSWERED && !p->misrouted && !p->error_reply;
}

static void classify_allocation(netcheck_t *nc)
{
    netcheck_result_t *r = &nc->result;
    netcheck_alloc_verdict_t v;
    netcheck_alloc_classify(r->samples, r->n_samples, &v);
    if (v.known & NETCHECK_ALLOC_KNOWN_POOLING) {
        r->public_ips = v.public_ips;
        r->pooling = v.pooling;
        r->known |= NETCHECK_KNOWN_POOLING;
    }
    if (v.known & NETCHECK_ALLOC_KNOWN_PARITY) {
        r->parity = v.parity;
        r->known |= NETCHECK_KNOWN_PARITY;
    }
    if (v.known & NETCHECK_ALLOC_KNOWN_ALLOCATION) {
        r->allocation = v.allocation;
        r->sequential_step = v.sequential_step;
        r->known |= NETCHECK_KNOWN_ALLOCATION;
    }
    if (v.known & NETCHECK_ALLOC_KNOWN_FALLBACK) {
        r->preserve_fallback = v.preserve_fallback;
        r->known |= NETCHECK_KNOWN_FALLBACK;
    }
}

static void classify_lifetime(netcheck_t *nc)
{
    netcheck_result_t *r = &nc->result;
    if (!nc->life_started || nc->n_life == 0)
        return;
    bool any = false;
    for (unsigned i = 0; i < r->n_life; i++)
        any |= !r->life[i].refresh_socket;
    if (!any)
        return;
    r->timeout_alive = nc->life_alive_max;
    r->timeout_dead = nc->life_dead_min;
    if (nc->life_dead_min == 0)
        return; /* alive up to the bound: at least that long */
    usec_t est = (nc->life_alive_max + nc->life_dead_min) / 2;
    usec_t unit = est >= 10 * USEC_PER_SEC ? USEC_PER_SEC : 100 * USEC_PER_MSEC;
    est = (est + unit / 2) / unit * unit;
    r->timeout = MAX(est, unit);
    r->known |= NETCHECK_KNOWN_TIMEOUT;
    if (nc->refresh_known) {
        r->refresh = nc->refresh_value;
        r->known |= NETCHECK_KNOWN_REFRESH;
    }
}

static void finalize(netcheck_t *nc)
{
    netcheck_result_t *r = &nc->result;
    r->duration = nc->now - nc->start;
    r->rtt = nc->srtt;
    r->server = nc->cfg.server;
    r->local_ip = nc->local[nc->sock_main].ip;
    r->gateway = nc->cfg.gateway;
    if (nc->have_other)
        r->other_address = nc->other;
    tally(nc, nc->filter1, &r->filter[0]);
    tally(nc, nc->filter2, &r->filter[1]);
    tally(nc, nc->filter3, &r->filter[2]);
    tally(nc, nc->hairpin, &r->hairpin_probe);
    tally(nc, nc->unsolicited, &r->unsolicited);
    tally(nc, nc->natpmp, &r->natpmp);
    tally(nc, nc->pcp, &r->pcp);
    r->alg = nc->alg_seen;
    if (nc->alg_known)
        r->known |= NETCHECK_KNOWN_ALG;
    r->origin_mismatch = nc->origin_mismatch;

    if (!answered(nc->primary)) {
        if (nc->primary && nc->primary->state == PROBE_SILENT && !r->error[0]) {
            r->udp_blocked = true;
            r->type = NAT_TYPE_BLOCKED;
            r->known |= NETCHECK_KNOWN_TYPE;
            char buf[ADDR_ENDPOINT_STRLEN];
            note_error(nc, "no answer from %s over UDP: UDP is blocked on this path, or the "
                           "server is down",
                       addr_endpoint_format(nc->cfg.server, buf));
        }
        return;
    }

    /* Mapping (RFC 5780 4.3). */
    r->mapped[0] = nc->m1;
    r->mapped_count = 1;
    if (answered(nc->map2)) {
        r->mapped[r->mapped_count++] = nc->map2->xor_mapped;
        if (answered(nc->map3))
            r->mapped[r->mapped_count++] = nc->map3->xor_mapped;
        if (addr_endpoint_equal(nc->map2->xor_mapped, nc->m1)) {
            r->mapping = NAT_ENDPOINT_INDEPENDENT;
            r->known |= NETCHECK_KNOWN_MAPPING;
        } else if (answered(nc->map3)) {
            r->mapping = addr_endpoint_equal(nc->map3->xor_mapped, nc->map2->xor_mapped)
                             ? NAT_ADDRESS_DEPENDENT
                             : NAT_ADDRESS_AND_PORT_DEPENDENT;
            r->known |= NETCHECK_KNOWN_MAPPING;
        }
    }
    if (!nc->have_other)
        note_error(nc, "the server sent no OTHER-ADDRESS (one address only, or not RFC 5780): "
                       "mapping and filtering not measured");

    /* Filtering (RFC 5780 4.4): the answer must come from where it was asked. */
    if (answered(nc->filter1) && nc->filter2 && nc->filter3) {
        addr_endpoint_t want2 = server_endpoint(nc, true, true);
        addr_endpoint_t want3 = server_endpoint(nc, false, true);
        bool f2 = answered(nc->filter2), f3 = answered(nc->filter3);
        if ((f2 && !addr_endpoint_equal(nc->filter2->from, want2)) ||
            (f3 && !addr_endpoint_equal(nc->filter3->from, want3))) {
            note_error(nc, "the server answered CHANGE-REQUEST from the wrong address: "
                           "filtering not measured");
        } else if (nc->filter2->error_reply || nc->filter3->error_reply) {
            note_error(nc, "the server refused CHANGE-REQUEST (error %u): filtering not measured",
                       nc->filter2->error_reply ? nc->filter2->error_code : nc->filter3->error_code);
        } else {
            r->filtering = f2 ? NAT_ENDPOINT_INDEPENDENT
                           : f3 ? NAT_ADDRESS_DEPENDENT
                                : NAT_ADDRESS_AND_PORT_DEPENDENT;
            r->known |= NETCHECK_KNOWN_FILTERING;
        }
    }

    /* Type: no translation when the server saw our own endpoint. */
    if (nc->no_nat) {
        r->type = NAT_TYPE_FIREWALL;
        if ((r->known & NETCHECK_KNOWN_FILTERING) && r->filtering == NAT_ENDPOINT_INDEPENDENT) {
            /* An open path and an EIF firewall differ only for a port that
             * never sent: does an unsolicited packet get in? */
            if (nc->unsolicited && nc->unsolicited->misrouted)
                note_error(nc, "the server does not honour RESPONSE-PORT: open or EIF firewall "
                               "cannot be told apart (assumed open)");
            r->unsolicited_ok = answered(nc->unsolicited);
            if (r->unsolicited_ok || !nc->unsolicited || nc->unsolicited->misrouted)
                r->type = NAT_TYPE_OPEN;
        }
        r->known |= NETCHECK_KNOWN_TYPE;
        r->known &= ~(uint32_t)NETCHECK_KNOWN_MAPPING;
        if (r->type == NAT_TYPE_FIREWALL)
            classify_lifetime(nc);
        return;
    }
    r->type = NAT_TYPE_NAT;
    r->known |= NETCHECK_KNOWN_TYPE;

    classify_allocation(nc);

    /* Hairpin (RFC 5780 4.5): did MAIN get the request, and from whom? */
    if (nc->hairpin) {
        r->hairpin_sender_local = nc->local[nc->sock_hairpin];
        if (answered(nc->hairpin_prep))
            r->hairpin_sender_mapped = nc->hairpin_prep->xor_mapped;
        if (answered(nc->hairpin)) {
            r->hairpin_source = nc->hairpin->from;
            r->hairpin = addr_endpoint_equal(nc->hairpin->from, r->hairpin_sender_local)
                             ? NAT_HAIRPIN_INTERNAL_SOURCE
                             : NAT_HAIRPIN_ON;
        } else {
            r->hairpin = NAT_HAIRPIN_OFF;
        }
        r->known |= NETCHECK_KNOWN_HAIRPIN;
    }

    /* NAT-PMP and PCP on the gateway. */
    if (nc->natpmp && nc->pcp) {
        if (answered(nc->natpmp) && nc->natpmp->pm_version == 0) {
            r->port_mapping |= NAT_PORT_MAPPING_NATPMP;
            r->natpmp_epoch = nc->natpmp->pm_epoch;
            if (nc->natpmp->pm_result == 0)
                r->natpmp_external = nc->natpmp->pm_external;
        }
        if (answered(nc->pcp) && nc->pcp->pm_version == 2 && nc->pcp->pm_result == 0) {
            r->port_mapping |= NAT_PORT_MAPPING_PCP;
            r->pcp_epoch = nc->pcp->pm_epoch;
        }
        if (answered(nc->pcp_map) && nc->pcp_map->pm_result == 0)
            r->pcp_external = nc->pcp_map->pm_external;
        r->known |= NETCHECK_KNOWN_PORT_MAPPING;
        /* Another NAT outside the gateway: the gateway's external address
         * is none of those the server saw (any of a pool counts). */
        uint32_t ext = r->natpmp_external ? r->natpmp_external : r->pcp_external;
        bool seen = ext == nc->m1.ip;
        for (unsigned i = 0; i < r->n_samples; i++)
            seen |= r->samples[i].mapped.ip == ext;
        r->double_nat = ext && !seen;
    }

    classify_lifetime(nc);
}

/* ---- phase logic -------------------------------------------------------- */

static void finish_all(netcheck_t *nc)
{
    while (nc->live->len) {
        probe_t *p = g_ptr_array_index(nc->live, nc->live->len - 1);
        p->state = PROBE_SILENT;
        g_ptr_array_remove_index_fast(nc->live, nc->live->len - 1);
    }
    finalize(nc);
    state_set(nc, NC_DONE);
}

static void on_answer_common(netcheck_t *nc, probe_t *p)
{
    if ((p->has & STUN_HAS_MAPPED) && (p->has & STUN_HAS_XOR_MAPPED)) {
        nc->alg_known = true;
        if (!addr_endpoint_equal(p->mapped, p->xor_mapped))
            nc->alg_seen = true;
    }
    if ((p->has & STUN_HAS_RESPONSE_ORIGIN) && p->change == 0 && !p->response_port &&
        !addr_endpoint_equal(p->origin, p->to))
        nc->origin_mismatch = true;
    /* A server that sends MAPPED-ADDRESS only (RFC 3489 style) still counts. */
    if (!(p->has & STUN_HAS_XOR_MAPPED) && (p->has & STUN_HAS_MAPPED))
        p->xor_mapped = p->mapped;
}

static void on_done(netcheck_t *nc, probe_t *p)
{
    bool ok = answered(p);
    switch (p->purpose) {
    case P_PRIMARY:
        if (!ok) {
            if (p->error_reply)
                note_error(nc, "the server answered Binding with error %u", p->error_code);
            finish_all(nc);
            return;
        }
        nc->m1 = nc->hairpin_target = p->xor_mapped;
        nc->no_nat = addr_endpoint_equal(nc->m1, nc->local[nc->sock_main]);
        if ((p->has & STUN_HAS_OTHER_ADDRESS) && p->other.ip && p->other.ip != nc->cfg.server.ip &&
            p->other.port && p->other.port != nc->cfg.server.port) {
            nc->have_other = true;
            nc->other = p->other;
        }
        add_sample(nc, p);
        /* NAT-PMP and PCP once the RTO is known: the gateway is nearer than
         * the server, and neither creates a mapping to disturb the chain. */
        if (nc->cfg.gateway) {
            addr_endpoint_t gw = addr_endpoint(nc->cfg.gateway, NETCHECK_PORT_MAPPING_PORT);
            nc->natpmp = probe_new(nc, P_NATPMP, MODE_DECISIVE, nc->sock_pmp, gw);
            nc->pcp = probe_new(nc, P_PCP, MODE_DECISIVE, nc->sock_pcp, gw);
        }
        state_set(nc, NC_CHAIN);
        chain_next(nc);
        return;
    case P_MAP2:
    case P_MAP3:
    case P_ALLOC:
    case P_ALLOC2:
    case P_HAIRPIN_PREP:
    case P_MAIN_REFRESH:
    case P_FILTER1:
        if (ok)
            add_sample(nc, p);
        if (p->purpose == P_MAIN_REFRESH && ok)
            nc->hairpin_target = p->xor_mapped;
        if (p->purpose == P_FILTER1 && ok && nc->have_other) {
            nc->filter2 = probe_new(nc, P_FILTER2, MODE_DECISIVE, nc->sock_filter, nc->cfg.server);
            nc->filter2->change = STUN_CHANGE_IP | STUN_CHANGE_PORT;
            nc->filter3 = probe_new(nc, P_FILTER3, MODE_DECISIVE, nc->sock_filter, nc->cfg.server);
            nc->filter3->change = STUN_CHANGE_PORT;
            if (nc->no_nat) {
                nc->unsolicited = probe_new(nc, P_UNSOLICITED, MODE_DECISIVE, nc->sock_filter,
                                            nc->cfg.server);
                nc->unsolicited->response_port = nc->local[nc->sock_unsolicited].port;
                nc->unsolicited->expect = nc->sock_unsolicited;
            }
        }
        chain_next(nc);
        return;
    case P_HELPER_PRIME:
        life_on_helper(nc, p);
        return;
    case P_LIFE_PRIME:
        life_on_prime(nc, p);
        return;
    case P_LIFE_CHECK:
        life_on_check(nc, p);
        return;
    default:
        return;
    }
}

/* Work that waits for a condition rather than a probe: the hairpin test and
 * PCP's external address after the chain, then the lifetime search. */
static void advance(netcheck_t *nc)
{
    if (nc->state != NC_PROBING)
        return;
    if (!nc->hairpin_started) {
        nc->hairpin_started = true;
        if (!nc->no_nat) {
            nc->hairpin = probe_new(nc, P_HAIRPIN, MODE_DECISIVE, nc->sock_hairpin,
                                    nc->hairpin_target);
            nc->hairpin->expect = nc->sock_main;
        }
    }
    if (!nc->pcp_map_started && nc->natpmp && nc->pcp && nc->natpmp->state >= PROBE_ANSWERED &&
        nc->pcp->state >= PROBE_ANSWERED) {
        nc->pcp_map_started = true;
        bool pmp_address = answered(nc->natpmp) && nc->natpmp->pm_version == 0 &&
                           nc->natpmp->pm_result == 0;
        bool pcp_ok = answered(nc->pcp) && nc->pcp->pm_version == 2 && nc->pcp->pm_result == 0;
        if (pcp_ok && !pmp_address && !nc->no_nat)
            nc->pcp_map = probe_new(nc, P_PCP_MAP, MODE_TRANSACTION, nc->sock_pcp, nc->pcp->to);
    }
    if (nc->pcp_map && nc->pcp_map->state == PROBE_ANSWERED && nc->pcp_map->pm_result == 0 &&
        nc->pcp_map->arg == 0) {
        nc->pcp_map->arg = 1; /* delete it again: leave the gateway as found */
        probe_t *u = probe_new(nc, P_PCP_UNMAP, MODE_FIRE, nc->sock_pcp, nc->pcp_map->to);
        memcpy(u->nonce, nc->pcp_map->nonce, sizeof u->nonce);
    }
    if (!nc->life_started && nc->n_life) {
        /* Without a NAT the lifetime search waits for the filtering verdict:
         * an open path keeps no state to time. */
        bool ready = !nc->no_nat;
        if (nc->no_nat) {
            bool filters_done = (!nc->filter2 || nc->filter2->state >= PROBE_ANSWERED) &&
                                (!nc->filter3 || nc->filter3->state >= PROBE_ANSWERED) &&
                                (!nc->unsolicited || nc->unsolicited->state >= PROBE_ANSWERED);
            if (filters_done) {
                bool open = nc->filter2 && answered(nc->filter2) &&
                            (!nc->unsolicited || answered(nc->unsolicited) ||
                             nc->unsolicited->misrouted);
                if (open || !nc->filter2) {
                    nc->life_started = nc->life_done = true;
                } else {
                    ready = true;
                }
            }
        }
        if (ready)
            life_start(nc);
    }
    life_update_done(nc);
    if (nc->live->len == 0 && (nc->n_life == 0 || nc->life_done))
        finish_all(nc);
}

/* ---- API ---------------------------------------------------------------- */

netcheck_t *netcheck_new(const netcheck_config_t *config, usec_t now)
{
    if (!config || !config->server.ip || !config->server.port)
        return NULL;
    netcheck_t *nc = g_new0(netcheck_t, 1);
    nc->cfg = *config;
    nc->start = nc->now = now;
    rng_seed(&nc->rng, config->seed);
    uint64_t run = rng_next(&nc->rng);
    for (int i = 0; i < 8; i++)
        nc->run_id[i] = (uint8_t)(run >> (8 * i));
    nc->probes = g_ptr_array_new_with_free_func(g_free);
    nc->live = g_ptr_array_new();
    g_queue_init(&nc->sends);

    nc->n_alloc = NETCHECK_ALLOC_SOCKETS;
    nc->sock_main = 0;
    nc->sock_filter = 1;
    nc->sock_alloc0 = 2;
    nc->sock_hairpin = nc->sock_alloc0 + nc->n_alloc;
    nc->sock_unsolicited = nc->sock_hairpin + 1;
    nc->sock_pmp = nc->sock_unsolicited + 1;
    nc->sock_pcp = nc->sock_pmp + 1;
    nc->n_sockets = nc->sock_pcp + 1;
    if (config->lifetime_max > 0) {
        nc->ratio = grid_ratio(config->lifetime_max);
        unsigned n = 1;
        while (n < NETCHECK_LIFETIME_MAX_CHECKS && grid_time(nc, n - 1) < config->lifetime_max)
            n++;
        nc->n_life = n;
        nc->sock_refresh = nc->n_sockets;
        nc->sock_life0 = nc->sock_refresh + 1;
        nc->n_sockets = nc->sock_life0 + n;
        nc->life = g_new0(life_slot_t, n);
        for (unsigned i = 0; i < n; i++) {
            nc->life[i].socket = nc->sock_life0 + i;
            nc->life[i].after = MIN(grid_time(nc, i), config->lifetime_max);
        }
        nc->refresh.socket = nc->sock_refresh;
    }
    g_assert(nc->n_sockets <= NETCHECK_MAX_SOCKETS);
    return nc;
}

void netcheck_free(netcheck_t *nc)
{
    if (!nc)
        return;
    g_ptr_array_free(nc->live, TRUE);
    g_ptr_array_free(nc->probes, TRUE);
    g_queue_clear_full(&nc->sends, g_free);
    g_free(nc->life);
    g_free(nc);
}

unsigned netcheck_socket_count(const netcheck_t *nc)
{
    return nc->n_sockets;
}

void netcheck_set_local(netcheck_t *nc, unsigned socket, addr_endpoint_t local)
{
    if (socket < nc->n_sockets)
        nc->local[socket] = local;
}

bool netcheck_pop_send(netcheck_t *nc, netcheck_send_t *out)
{
    netcheck_send_t *s = g_queue_pop_head(&nc->sends);
    if (!s)
        return false;
    *out = *s;
    g_free(s);
    return true;
}

bool netcheck_done(const netcheck_t *nc)
{
    return nc->state == NC_DONE;
}

const netcheck_result_t *netcheck_result(const netcheck_t *nc)
{
    return &nc->result;
}

static void start(netcheck_t *nc)
{
    nc->primary = probe_new(nc, P_PRIMARY, MODE_TRANSACTION, nc->sock_main, nc->cfg.server);
    state_set(nc, NC_PRIMARY);
}

usec_t netcheck_bookkeeping(netcheck_t *nc, usec_t now)
{
    nc->now = MAX(now, nc->now);
    if (nc->state == NC_INIT)
        start(nc);
    if (nc->state == NC_DONE)
        return NETCHECK_NEVER;
    usec_t next;
    bool again;
    do {
        again = false;
        next = NETCHECK_NEVER;
        /* Callbacks may add probes (appended) or finish others (moved). */
        for (guint i = 0; i < nc->live->len;) {
            probe_t *p = g_ptr_array_index(nc->live, i);
            usec_t due = p->state == PROBE_WAITING ? p->start_at : p->next_at;
            if (due > nc->now) {
                next = MIN(next, due);
                i++;
                continue;
            }
            if (p->state == PROBE_WAITING)
                p->state = PROBE_ACTIVE;
            if (p->attempts < p->max_attempts) {
                probe_transmit(nc, p);
                i++;
                next = MIN(next, p->next_at);
                continue;
            }
            probe_finish(nc, p, PROBE_SILENT);
            again = true;
            break;
        }
        if (nc->state == NC_DONE)
            return NETCHECK_NEVER;
        advance(nc);
        if (nc->state == NC_DONE)
            return NETCHECK_NEVER;
        usec_t ka = life_keepalive(nc);
        next = MIN(next, ka);
        /* New probes start now: run the loop once more for them. */
        for (guint i = 0; i < nc->live->len && !again; i++) {
            probe_t *p = g_ptr_array_index(nc->live, i);
            if (p->state == PROBE_WAITING && p->start_at <= nc->now)
                again = true;
        }
    } while (again);
    return next;
}

static void receive_port_mapping(netcheck_t *nc, unsigned socket, const uint8_t *d, size_t len)
{
    probe_t *p = NULL;
    if (socket == nc->sock_pmp)
        p = nc->natpmp;
    else if (nc->pcp_map && nc->pcp_map->state == PROBE_ACTIVE)
        p = nc->pcp_map;
    else
        p = nc->pcp;
    if (!p || p->state != PROBE_ACTIVE || len < 4)
        return;
    uint8_t version = d[0];
    if (version == 0) {
        /* RFC 6886 3.2 / 3.5: version, 128 + op, result (16 bits), epoch. */
        if (d[1] < 128 || len < 8)
            return;
        p->pm_version = 0;
        p->pm_result = (uint8_t)MIN(wire_get16(d + 2), 255);
        p->pm_epoch = wire_get32(d + 4);
        if (p->purpose == P_NATPMP && d[1] == 128 && len >= 12)
            p->pm_external = wire_get32(d + 8);
    } else if (version == 2) {
        /* RFC 6887 7.2: version, R|opcode, reserved, result, lifetime, epoch. */
        if (!(d[1] & 0x80) || len < 24)
            return;
        p->pm_version = 2;
        p->pm_result = d[3];
        p->pm_epoch = wire_get32(d + 8);
        if (p->purpose == P_PCP_MAP) {
            /* Section 11.1: the payload echoes the nonce; the assigned
             * address is IPv4-mapped (::ffff:a.b.c.d). */
            if ((d[1] & 0x7f) != 1)
                return;
            if (len >= 60 && memcmp(d + 24, p->nonce, 12) != 0)
                return;
            if (len >= 60 && d[3] == 0 && d[24 + 30] == 0xff && d[24 + 31] == 0xff)
                p->pm_external = wire_get32(d + 24 + 32);
        }
    } else {
        return;
    }
    p->answered_at = nc->now;
    p->answered_attempt = p->attempts - 1;
    nc->result.probes_answered++;
    probe_finish(nc, p, PROBE_ANSWERED);
}

void netcheck_receive(netcheck_t *nc, unsigned socket, addr_endpoint_t from, const uint8_t *data,
                      size_t len, usec_t now)
{
    nc->now = MAX(now, nc->now);
    if (nc->state == NC_DONE || socket >= nc->n_sockets)
        return;
    if (nc->cfg.gateway && (socket == nc->sock_pmp || socket == nc->sock_pcp)) {
        if (from.ip == nc->cfg.gateway && from.port == NETCHECK_PORT_MAPPING_PORT)
            receive_port_mapping(nc, socket, data, len);
        return;
    }
    stun_message_t m;
    if (stun_read(data, len, &m) != STUN_OK || m.classic || m.method != STUN_METHOD_BINDING)
        return;
    probe_t *p = probe_by_id(nc, m.transaction_id);
    if (!p || p->state != PROBE_ACTIVE)
        return;
    if (m.msg_class == STUN_CLASS_REQUEST) {
        /* Only the hairpin test sends a request to one of our own sockets. */
        if (p->purpose != P_HAIRPIN || socket != p->expect)
            return;
    } else if (m.msg_class != STUN_CLASS_SUCCESS && m.msg_class != STUN_CLASS_ERROR) {
        return;
    } else if (p->purpose == P_HAIRPIN) {
        return;
    }
    unsigned attempt = m.transaction_id[10];
    p->answered_at = nc->now;
    p->answered_attempt = attempt;
    p->from = from;
    p->misrouted = socket != p->expect;
    nc->result.probes_answered++;
    if (m.msg_class == STUN_CLASS_ERROR) {
        p->error_reply = true;
        p->error_code = m.error_code;
    } else if (m.msg_class == STUN_CLASS_SUCCESS) {
        p->has = m.has;
        p->mapped = m.mapped;
        p->xor_mapped = m.xor_mapped;
        p->origin = m.response_origin;
        p->other = m.other_address;
        on_answer_common(nc, p);
        /* Only a direct answer from the server is a round trip to it. */
        if (!p->response_port && p->change == 0 && !p->misrouted)
            rtt_sample(nc, nc->now - p->sent_at[attempt]);
    }
    probe_finish(nc, p, PROBE_ANSWERED);
}

void netcheck_unreachable(netcheck_t *nc, unsigned socket, addr_endpoint_t to, usec_t now)
{
    nc->now = MAX(now, nc->now);
    if (nc->state == NC_DONE)
        return;
    if (socket == nc->sock_main && nc->primary && nc->primary->state == PROBE_ACTIVE &&
        addr_endpoint_equal(to, nc->cfg.server)) {
        char buf[ADDR_ENDPOINT_STRLEN];
        note_error(nc, "%s is unreachable (ICMP): no STUN server listens there",
                   addr_endpoint_format(to, buf));
        finish_all(nc);
        return;
    }
    /* No NAT-PMP/PCP listener on the gateway: that protocol is absent. */
    probe_t *p = socket == nc->sock_pmp ? nc->natpmp : socket == nc->sock_pcp ? nc->pcp : NULL;
    if (p && p->state == PROBE_ACTIVE && nc->cfg.gateway && to.ip == nc->cfg.gateway)
        probe_finish(nc, p, PROBE_SILENT);
}
