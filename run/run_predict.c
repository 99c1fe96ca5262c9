#include "run_predict.h"

#include <math.h>

#include "run_stats.h"

/* How often an expectation may fail by chance alone. */
#define FALSE_ALARM_RATE 0.05

/* A side whose advertised endpoint (what the server saw) is also what its
 * peer's packets reach: endpoint-independent mapping, or no translation. */
static bool stable_endpoint(const nat_profile_t *p)
{
    if (!p || p->type != NAT_TYPE_NAT)
        return true;
    /* APDM/ADM with port preservation keeps x' = x while no other host uses
     * the port: it punches like a cone (digest 4, "APDM with port
     * preservation"). */
    return p->mapping == NAT_ENDPOINT_INDEPENDENT || p->allocation == NAT_ALLOC_PRESERVE;
}

static nat_dependence_t filtering(const nat_profile_t *p)
{
    if (!p || p->type == NAT_TYPE_OPEN)
        return NAT_ENDPOINT_INDEPENDENT;
    return p->filtering;
}

/* A new mapping of this NAT may come from another public address than the
 * one the server saw (arbitrary pooling over several addresses). */
static bool may_change_address(const nat_profile_t *p)
{
    return p && p->type == NAT_TYPE_NAT && p->pooling == NAT_POOLING_ARBITRARY &&
           p->public_ip_count > 1;
}

/* No UDP to the server's STUN port (udp-blocked, or an allow-list such as
 * corporate's); the relay may still be reached over TCP, at the server's
 * port or 443 (docs/agent.md). */
#define SERVER_PORT 3478
#define SERVER_TCP_FALLBACK 443

static bool blocks_udp(const nat_profile_t *p)
{
    return p && (p->type == NAT_TYPE_BLOCKED || !nat_allow_has(&p->allow_out_udp, SERVER_PORT));
}

static bool tcp_leaves(const nat_profile_t *p)
{
    return !p || nat_allow_has(&p->allow_out_tcp, SERVER_PORT) ||
           nat_allow_has(&p->allow_out_tcp, SERVER_TCP_FALLBACK);
}

/* TCP punching (agent/tcppunch.h): what each side's agent learns of its
 * TCP mapping from the server, and what a SYN from the peer meets. */
#define SERVER_OTHER_PORT 3479 /* the second look goes to the server's other address:port */

typedef enum tcp_side {
    TCP_SIDE_NONE,      /* no TCP to the server: no mapping to offer */
    TCP_SIDE_OPEN,      /* no translation and no filter: any SYN reaches the listener */
    TCP_SIDE_STABLE,    /* one external endpoint (EIM, or a firewall that does not translate) */
    TCP_SIDE_MOVING,    /* a new mapping per destination, or no second look allowed */
} tcp_side_t;

static tcp_side_t tcp_side(const nat_profile_t *p)
{
    if (!p || p->type == NAT_TYPE_OPEN || p->type == NAT_TYPE_BLOCKED)
        return TCP_SIDE_OPEN; /* udp-blocked drops UDP only */
    if (!tcp_leaves(p))
        return TCP_SIDE_NONE;
    /* A random peer port must be allowed out, and the agent tells its
     * mapping apart only with a second connection to the server's other
     * port: an allow-list (corporate's 80, 443) stops both. */
    if (!p->allow_out_tcp.all)
        return TCP_SIDE_MOVING;
    if (p->type == NAT_TYPE_FIREWALL)
        return TCP_SIDE_STABLE;
    nat_profile_t view;
    nat_profile_tcp_view(p, &view);
    return view.mapping == NAT_ENDPOINT_INDEPENDENT ? TCP_SIDE_STABLE : TCP_SIDE_MOVING;
}

/* Whether the agents' SYNs meet (docs/agent.md, TCP punching). Open: the
 * peer's SYN reaches the listener from whatever port its NAT picked.
 * Stable on both sides: each SYN leaves from the mapping the other aims
 * at, so each side's own SYN is the filter's permission for the other's;
 * a first SYN that arrives before the permission is dropped, held (RFC
 * 5382 REQ-4) or reset, and the later SYN completes the connection (after
 * a reset the first sender's session is transitory, where RFC 6146 lets a
 * new SYN open it again and the listener takes it) unless the first
 * sender's NAT holds that SYN invalid (below). */
static bool tcp_punch_meets(const nat_profile_t *a, const nat_profile_t *b)
{
    tcp_side_t sa = tcp_side(a), sb = tcp_side(b);
    if (sa == TCP_SIDE_NONE || sb == TCP_SIDE_NONE)
        return false;
    /* A SYN to the open side's random port must be allowed out. */
    bool a_out = !a || a->allow_out_tcp.all, b_out = !b || b->allow_out_tcp.all;
    if ((sa == TCP_SIDE_OPEN && b_out) || (sb == TCP_SIDE_OPEN && a_out))
        return true;
    return sa == TCP_SIDE_STABLE && sb == TCP_SIDE_STABLE;
}

/* A SYN that comes before its host's own is answered with a reset (a
 * filter in the way, tcp-unsolicited-syn = rst). */
static bool resets_early_syn(const nat_profile_t *p)
{
    if (!p || p->type == NAT_TYPE_OPEN || p->type == NAT_TYPE_BLOCKED)
        return false;
    nat_profile_t view;
    nat_profile_tcp_view(p, &view);
    return view.filtering != NAT_ENDPOINT_INDEPENDENT &&
           p->tcp_unsolicited_syn == NAT_TCP_UNSOLICITED_RST;
}

/* The attempts put either side's SYN first (docs/agent.md); the side that
 * goes first into a reset has a closed session, which its NAT may then
 * hold the peer's SYN invalid on (tcp-reset-session, Linux conntrack).
 * When that is so whichever goes first, only SYNs that cross exactly meet. */
static bool tcp_order_defeats(const nat_profile_t *a, const nat_profile_t *b)
{
    bool a_invalid = a && a->tcp_reset_session == NAT_TCP_RESET_INVALID;
    bool b_invalid = b && b->tcp_reset_session == NAT_TCP_RESET_INVALID;
    return resets_early_syn(b) && a_invalid && resets_early_syn(a) && b_invalid &&
           tcp_side(a) == TCP_SIDE_STABLE && tcp_side(b) == TCP_SIDE_STABLE;
}

static run_prediction_t make(run_expect_outcome_t o, const char *technique, double p,
                             const char *reason)
{
    return (run_prediction_t){ o, technique, p, reason };
}

/* s: the stable side, m: the side with a new mapping per destination. */
static run_prediction_t stable_vs_moving(const nat_profile_t *s, const nat_profile_t *m,
                                         const run_predict_agent_t *agent)
{
    switch (filtering(s)) {
    case NAT_ENDPOINT_INDEPENDENT:
        /* FC x any: m's packets reach s' exactly, and EIF admits whatever
         * new port m's NAT chose; s answers the source it saw. */
        return make(RUN_EXPECT_DIRECT, "punch", 1,
                    "one side maps and filters endpoint-independently: its endpoint is exact "
                    "and admits the other's new port");
    case NAT_ADDRESS_DEPENDENT:
        /* RC x SYM: s already sent to m's address, so ADF admits m's new
         * port, unless m's NAT picks another address (arbitrary pooling). */
        if (may_change_address(m))
            return make(RUN_EXPECT_RELAYED, NULL, 0,
                        "address-dependent filter, and the other NAT may send from another "
                        "public address (arbitrary pooling)");
        return make(RUN_EXPECT_DIRECT, "punch", 1,
                    "address-dependent filter: the peer's address is known, its new port is "
                    "admitted");
    case NAT_ADDRESS_AND_PORT_DEPENDENT:
        break;
    }
    /* PRC x SYM: m reaches s' correctly, but its new port p* differs from
     * what the server saw, so s's filter drops m until s itself sends to p*. */
    if (m->allocation == NAT_ALLOC_SEQUENTIAL) {
        /* p* ~ p_S + k*d for small k: the agent sends to a window of them. */
        if (agent->predict)
            return make(RUN_EXPECT_DIRECT, "predicted", 1,
                        "port-dependent filter vs sequential allocation: the peer's next port is "
                        "predicted");
        /* Without prediction, birthday probing finds a sequential NAT's new
         * ports as it finds a random one's (hyperdht does just that). */
        if (!agent->birthday)
            return make(RUN_EXPECT_RELAYED, NULL, 0,
                        "port-dependent filter vs sequential allocation, prediction and birthday "
                        "probing off");
    }
    if (!agent->birthday)
        return make(RUN_EXPECT_RELAYED, NULL, 0,
                    "port-dependent filter vs random allocation, birthday probing off");
    /* Birthday: m opens n sockets towards s'; s tries m random ports of m's
     * range R. P(hit) = 1 - exp(-n m / R) (digest 4). */
    double range = (double)m->port_max - m->port_min + 1;
    double p = 1 - exp(-(double)agent->birthday_sockets * agent->birthday_probes / range);
    return make(RUN_EXPECT_DIRECT, "birthday", p,
                "port-dependent filter vs random allocation: birthday probing, "
                "P = 1 - exp(-n m / R)");
}

static run_prediction_t predict_paths(const nat_profile_t *a, const nat_profile_t *b,
                                      const run_predict_agent_t *agent)
{
    if (blocks_udp(a) || blocks_udp(b)) {
        if (agent->relay && agent->relay_tcp && tcp_leaves(a) && tcp_leaves(b))
            return make(RUN_EXPECT_RELAYED, NULL, 0,
                        "UDP does not leave one side: the server is reached over TCP and relays");
        return make(RUN_EXPECT_FAILED, NULL, 0,
                    "UDP is blocked: neither the server nor the peer can be reached");
    }
    bool sa = stable_endpoint(a), sb = stable_endpoint(b);
    if (sa && sb)
        /* Both advertised endpoints are exact; once both sides have sent,
         * every filter holds the exact permission (PRC x PRC). */
        return make(RUN_EXPECT_DIRECT, "punch", 1,
                    "both sides keep one endpoint for every destination: simultaneous punching");
    if (sa)
        return stable_vs_moving(a, b, agent);
    if (sb)
        return stable_vs_moving(b, a, agent);
    /* SYM x SYM: each side's port depends on the port it targets, so
     * neither can aim at the other. With EIF on both sides the packets sent
     * to the server-facing mappings are admitted all the same. */
    if (filtering(a) == NAT_ENDPOINT_INDEPENDENT && filtering(b) == NAT_ENDPOINT_INDEPENDENT)
        return make(RUN_EXPECT_DIRECT, "punch", 1,
                    "both map per destination but filter endpoint-independently");
    bool seq_a = a->allocation == NAT_ALLOC_SEQUENTIAL, seq_b = b->allocation == NAT_ALLOC_SEQUENTIAL;
    if (seq_a && seq_b) {
        /* Each side's j-th new mapping is q + j*d: when each side's first
         * new destinations are the other's predicted ports in order, the
         * j-th mappings point at each other. Other traffic through either
         * NAT in between shifts one sequence: the relay then (a scenario,
         * not the matrix, shows it). */
        if (agent->predict)
            return make(RUN_EXPECT_DIRECT, "predicted", 1,
                        "both sequential: each side probes the other's next ports in the order "
                        "its own NAT allocates, so the j-th mappings point at each other");
        return make(RUN_EXPECT_RELAYED, NULL, 0,
                    "both map per destination in sequence, prediction off");
    }
    if (seq_a || seq_b)
        /* A port of the sequential side admits the one remote port it was
         * opened toward, so each random-side mapping aimed at it matches with
         * probability 1/R: P = 1 - exp(-n/R) for n probes, no birthday
         * product; 50% takes n = R ln 2. */
        return make(RUN_EXPECT_RELAYED, NULL, 0,
                    "both map per destination, one at random: each sequential port admits one "
                    "remote port, so n probes find a pair with P = 1 - exp(-n/R); 50% takes "
                    "n = R ln 2 (44,716 for R = 64,512)");
    /* Each pair of random mappings matches with probability 1/R^2. */
    return make(RUN_EXPECT_RELAYED, NULL, 0,
                "both map per destination at random: n probes a side find a pair with "
                "P = 1 - exp(-n^2/R^2); 50% takes n = R sqrt(ln 2) (53,710 for R = 64,512)");
}

run_prediction_t run_predict(const nat_profile_t *a, const nat_profile_t *b,
                             const run_predict_agent_t *agent)
{
    run_prediction_t p = predict_paths(a, b, agent);
    if (p.outcome == RUN_EXPECT_FAILED)
        return p;
    bool tcp = p.outcome == RUN_EXPECT_RELAYED && agent->tcp_punch && agent->relay &&
               (agent->relay_tcp || (!blocks_udp(a) && !blocks_udp(b))) && tcp_punch_meets(a, b);
    if (tcp && tcp_order_defeats(a, b))
        return make(RUN_EXPECT_ANY, NULL, 0,
                    "TCP: both NATs reset a SYN that comes before their host's own and then hold "
                    "the reply-direction SYN invalid (Linux conntrack): whichever SYN goes first "
                    "is lost, so direct only when the two cross exactly, else relayed");
    if (tcp)
        /* The offer and its timing go through the relay. */
        return make(RUN_EXPECT_DIRECT, "tcp-punch", 1,
                    blocks_udp(a) || blocks_udp(b)
                        ? "UDP does not leave one side, TCP does: the SYNs of a simultaneous open "
                          "meet (one side takes any, or both keep one TCP mapping)"
                        : "no direct UDP path, and both keep one TCP mapping (or one takes any "
                          "SYN): a simultaneous open, timed through the relay");
    if (!agent->punch)
        p = make(RUN_EXPECT_RELAYED, NULL, 0, "the stack does not punch: the relay carries it");
    if (!agent->relay && p.outcome == RUN_EXPECT_RELAYED)
        return make(RUN_EXPECT_FAILED, NULL, 0,
                    agent->punch ? "no direct path by the stack's techniques, and it has no relay"
                                 : "the stack neither punches nor relays");
    return p;
}

double run_predict_min_rate(const run_prediction_t *p, unsigned attempts)
{
    if (attempts == 0)
        return 0;
    if (p->outcome == RUN_EXPECT_ANY || p->p_direct >= 1 || p->outcome != RUN_EXPECT_DIRECT)
        return 1;
    return (double)run_stats_binomial_floor(attempts, p->p_direct, FALSE_ALARM_RATE) / attempts;
}
