#include "nat_engine.h"

#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "nat_portalloc.h"
#include "nat_session.h"
#include "nat_table.h"
#include "nat_timer.h"

static const char *const drop_reason_names[NAT_DROP_REASON_COUNT] = {
    [NAT_DROP_NONE] = "none",
    [NAT_DROP_UDP_BLOCKED] = "udp-blocked",
    [NAT_DROP_NO_MAPPING] = "no-mapping",
    [NAT_DROP_FILTERED] = "filtered",
    [NAT_DROP_NOT_OURS] = "not-our-address",
    [NAT_DROP_HAIRPIN_DISABLED] = "hairpin-disabled",
    [NAT_DROP_PORTS_EXHAUSTED] = "ports-exhausted",
    [NAT_DROP_QUOTA] = "quota-exceeded",
    [NAT_DROP_TCP_NO_SESSION] = "tcp-no-session",
    [NAT_DROP_REFUSED] = "refused",
    [NAT_DROP_TCP_INVALID] = "tcp-invalid",
};

const char *nat_drop_reason_name(nat_drop_reason_t reason)
{
    return reason < NAT_DROP_REASON_COUNT ? drop_reason_names[reason] : "unknown";
}

/* A subscriber is an internal host as a CGN sees it (RFC 6888): it owns a
 * paired external address, a count of mappings for its quota, and its port
 * blocks. Tracked only when one of those matters. */
typedef struct nat_subscriber {
    uint32_t int_ip;
    uint32_t ext_ip;
    uint32_t mappings; /* active + held */
    uint32_t per_proto[NAT_PROTO_COUNT]; /* the quota counts each protocol apart */
    uint16_t block_count;
    uint16_t counter[NAT_PROTO_COUNT]; /* sequential counters inside its blocks */
    uint16_t *blocks; /* block numbers on ext_ip */
} nat_subscriber_t;

struct nat_engine {
    nat_profile_t *profile;
    nat_profile_t *tcp_view; /* the profile with the tcp-* overrides applied */
    uint32_t *ips; /* public addresses, in the order given */
    unsigned n_ips;
    uint32_t *ips_sorted;
    uint8_t **block_used; /* per address: which CGN blocks are owned */
    uint32_t blocks_per_ip;
    rng_t rng;
    nat_table_t table;
    nat_sessions_t sessions; /* TCP */
    /* (internal, remote) -> mapping, for TCP connections admitted inbound on
     * a mapping whose key does not name that remote (APDM or ADM behind a
     * laxer filter): their replies find their session here. Validated on use. */
    GHashTable *reverse;
    nat_timer_t timer;
    GHashTable *subscribers; /* int_ip -> nat_subscriber_t */
    bool track_subscribers;
    unsigned next_ip; /* round-robin for paired pooling */
    uint16_t counter[NAT_PROTO_COUNT]; /* the NAT-wide sequential counters */
    uint32_t explicit_count;
    usec_t epoch_start;
    usec_t now;    /* of the mutating call in progress, for the port-taken callback */
    uint8_t proto; /* likewise: whose id space the port search looks in */
    nat_portalloc_policy_t policy[2]; /* [0] UDP and ICMP, [1] TCP */
    nat_engine_stats_t stats;
};

typedef struct reverse_key {
    uint32_t int_ip, rem_ip;
    uint16_t int_port, rem_port;
} reverse_key_t;

static guint reverse_hash(gconstpointer p)
{
    const reverse_key_t *k = p;
    return k->int_ip * 2654435761u ^ k->rem_ip * 40503u ^ ((guint)k->int_port << 16 | k->rem_port);
}

static gboolean reverse_equal(gconstpointer a, gconstpointer b)
{
    const reverse_key_t *x = a, *y = b;
    return x->int_ip == y->int_ip && x->rem_ip == y->rem_ip && x->int_port == y->int_port &&
           x->rem_port == y->rem_port;
}

/* The profile of the protocol of the call in progress. */
static inline const nat_profile_t *pp(const nat_engine_t *e)
{
    return e->proto == NAT_PROTO_TCP ? e->tcp_view : e->profile;
}

static inline const nat_portalloc_policy_t *policy(const nat_engine_t *e)
{
    return &e->policy[e->proto == NAT_PROTO_TCP];
}

/* Whose ports and sequential counter a protocol uses: TCP shares UDP's
 * when the profile says `tcp-ports = shared`. */
static inline uint8_t id_space(const nat_engine_t *e, uint8_t proto)
{
    return proto == NAT_PROTO_TCP && e->profile->tcp_ports == NAT_PORT_SPACE_SHARED ? NAT_PROTO_UDP
                                                                                   : proto;
}

/* ---- setup ------------------------------------------------------------ */

static int ip_compare(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void subscriber_free(gpointer p)
{
    nat_subscriber_t *s = p;
    g_free(s->blocks);
    g_free(s);
}

static nat_key_scope_t mapping_scope(const nat_profile_t *p)
{
    if (p->type != NAT_TYPE_NAT)
        return NAT_KEY_ENDPOINT;
    switch (p->mapping) {
    case NAT_ADDRESS_DEPENDENT:
        return NAT_KEY_ADDRESS;
    case NAT_ADDRESS_AND_PORT_DEPENDENT:
        return NAT_KEY_ADDRESS_AND_PORT;
    case NAT_ENDPOINT_INDEPENDENT:
        break;
    }
    return NAT_KEY_ENDPOINT;
}

/* RFC 5508 REQ-1a: query identifiers SHOULD map independently of the
 * external host, whatever the NAT does to UDP. */
static void table_reset(nat_engine_t *e)
{
    const nat_key_scope_t scope[NAT_PROTO_COUNT] = {
        [NAT_PROTO_UDP] = mapping_scope(e->profile),
        [NAT_PROTO_ICMP] = NAT_KEY_ENDPOINT,
        [NAT_PROTO_TCP] = mapping_scope(e->tcp_view),
    };
    nat_table_destroy(&e->table);
    nat_table_init(&e->table, scope);
    nat_sessions_destroy(&e->sessions);
    g_hash_table_remove_all(e->reverse);
}

static void state_reset(nat_engine_t *e)
{
    const nat_profile_t *p = e->profile;
    table_reset(e);
    nat_timer_clear(&e->timer);
    g_hash_table_remove_all(e->subscribers);
    for (unsigned i = 0; i < e->n_ips && e->block_used; i++)
        memset(e->block_used[i], 0, e->blocks_per_ip);
    e->explicit_count = 0;
    e->next_ip = 0;
    /* Real sequential NATs start wherever they start; the seed decides. */
    uint32_t range = (uint32_t)p->port_max - p->port_min + 1;
    e->counter[NAT_PROTO_UDP] = (uint16_t)(p->port_min + rng_below(&e->rng, range));
    /* One draw for all: a new protocol must not shift UDP's random stream. */
    for (int proto = 1; proto < NAT_PROTO_COUNT; proto++)
        e->counter[proto] = e->counter[NAT_PROTO_UDP];
    e->stats.active = e->stats.held = 0;
}

static void engine_configure(nat_engine_t *e)
{
    const nat_profile_t *p = e->profile;
    if (!e->tcp_view)
        e->tcp_view = g_new0(nat_profile_t, 1);
    nat_profile_tcp_view(p, e->tcp_view);
    e->tcp_view->name = NULL; /* borrowed from the profile: never freed through the view */
    const nat_profile_t *views[2] = { p, e->tcp_view };
    for (int i = 0; i < 2; i++)
        e->policy[i] = (nat_portalloc_policy_t){
            .allocation = views[i]->allocation,
            .preserve_fallback = views[i]->preserve_fallback,
            .step = views[i]->sequential_step,
            .parity = views[i]->port_parity == NAT_PARITY_PRESERVE,
        };
    e->track_subscribers = p->type == NAT_TYPE_NAT &&
                           ((e->n_ips > 1 && p->pooling == NAT_POOLING_PAIRED) || p->port_block > 0 ||
                            p->port_quota > 0 || e->tcp_view->port_quota > 0);
    if (e->block_used) {
        for (unsigned i = 0; i < e->n_ips; i++)
            g_free(e->block_used[i]);
        g_free(e->block_used);
        e->block_used = NULL;
    }
    e->blocks_per_ip = 0;
    if (p->type == NAT_TYPE_NAT && p->port_block > 0) {
        e->blocks_per_ip = ((uint32_t)p->port_max - p->port_min + 1) / p->port_block;
        e->block_used = g_new0(uint8_t *, e->n_ips);
        for (unsigned i = 0; i < e->n_ips; i++)
            e->block_used[i] = g_new0(uint8_t, e->blocks_per_ip);
    }
}

static bool engine_set_addresses(nat_engine_t *e, const uint32_t *given, unsigned n_given,
                                 GError **error)
{
    const nat_profile_t *p = e->profile;
    const uint32_t *ips = p->public_ips[0] ? p->public_ips : given;
    unsigned n = p->public_ips[0] ? p->public_ip_count : n_given;
    if (p->type == NAT_TYPE_NAT && n == 0) {
        g_set_error(error, NAT_PROFILE_ERROR, NAT_PROFILE_ERROR_INVALID,
                    "a translating NAT needs at least one public address");
        return false;
    }
    if (p->type == NAT_TYPE_NAT && !p->public_ips[0] && n_given < p->public_ip_count) {
        g_set_error(error, NAT_PROFILE_ERROR, NAT_PROFILE_ERROR_INVALID,
                    "the profile asks for %u public addresses but %u were given",
                    p->public_ip_count, n_given);
        return false;
    }
    if (!p->public_ips[0] && p->type == NAT_TYPE_NAT)
        n = p->public_ip_count;
    g_free(e->ips);
    g_free(e->ips_sorted);
    e->n_ips = n;
    e->ips = g_memdup2(ips, n * sizeof *ips);
    e->ips_sorted = g_memdup2(ips, n * sizeof *ips);
    qsort(e->ips_sorted, n, sizeof *ips, ip_compare);
    return true;
}

nat_engine_t *nat_engine_new(const nat_profile_t *profile, const uint32_t *public_ips,
                             unsigned n_public_ips, uint64_t seed, usec_t now, GError **error)
{
    if (!nat_profile_validate(profile, error))
        return NULL;
    nat_engine_t *e = g_new0(nat_engine_t, 1);
    e->profile = nat_profile_copy(profile);
    e->subscribers = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, subscriber_free);
    nat_sessions_init(&e->sessions);
    e->reverse = g_hash_table_new_full(reverse_hash, reverse_equal, g_free, NULL);
    rng_seed(&e->rng, seed);
    nat_timer_init(&e->timer);
    if (!engine_set_addresses(e, public_ips, n_public_ips, error)) {
        nat_engine_free(e);
        return NULL;
    }
    engine_configure(e);
    state_reset(e);
    e->epoch_start = now;
    return e;
}

void nat_engine_free(nat_engine_t *e)
{
    if (!e)
        return;
    nat_table_destroy(&e->table);
    nat_sessions_destroy(&e->sessions);
    if (e->reverse)
        g_hash_table_destroy(e->reverse);
    nat_timer_destroy(&e->timer);
    g_free(e->tcp_view);
    if (e->subscribers)
        g_hash_table_destroy(e->subscribers);
    if (e->block_used) {
        for (unsigned i = 0; i < e->n_ips; i++)
            g_free(e->block_used[i]);
        g_free(e->block_used);
    }
    g_free(e->ips);
    g_free(e->ips_sorted);
    nat_profile_free(e->profile);
    g_free(e);
}

const nat_profile_t *nat_engine_profile(const nat_engine_t *e)
{
    return e->profile;
}

bool nat_engine_is_public(const nat_engine_t *e, uint32_t ip)
{
    if (e->profile->type != NAT_TYPE_NAT)
        return false;
    return bsearch(&ip, e->ips_sorted, e->n_ips, sizeof ip, ip_compare) != NULL;
}

unsigned nat_engine_public_ips(const nat_engine_t *e, const uint32_t **ips)
{
    *ips = e->ips;
    return e->n_ips;
}

static unsigned ip_index(const nat_engine_t *e, uint32_t ip)
{
    for (unsigned i = 0; i < e->n_ips; i++)
        if (e->ips[i] == ip)
            return i;
    return 0;
}

/* ---- subscribers and blocks -------------------------------------------- */

static nat_subscriber_t *subscriber_find(nat_engine_t *e, uint32_t int_ip)
{
    return g_hash_table_lookup(e->subscribers, GUINT_TO_POINTER(int_ip));
}

/* RFC 4787 REQ-2 / RFC 6888 REQ-2: paired pooling by default; a new
 * subscriber gets the next address round-robin. */
static nat_subscriber_t *subscriber_get(nat_engine_t *e, uint32_t int_ip)
{
    nat_subscriber_t *s = subscriber_find(e, int_ip);
    if (s)
        return s;
    s = g_new0(nat_subscriber_t, 1);
    s->int_ip = int_ip;
    s->ext_ip = e->ips[e->next_ip];
    e->next_ip = (e->next_ip + 1) % e->n_ips;
    g_hash_table_insert(e->subscribers, GUINT_TO_POINTER(int_ip), s);
    return s;
}

static void subscriber_release(nat_engine_t *e, nat_subscriber_t *s)
{
    if (s->mappings > 0)
        return;
    if (e->block_used) {
        unsigned i = ip_index(e, s->ext_ip);
        for (uint16_t b = 0; b < s->block_count; b++)
            e->block_used[i][s->blocks[b]] = 0;
    }
    g_hash_table_remove(e->subscribers, GUINT_TO_POINTER(s->int_ip));
}

static void subscriber_unref(nat_engine_t *e, uint32_t int_ip, uint8_t proto)
{
    if (!e->track_subscribers)
        return;
    nat_subscriber_t *s = subscriber_find(e, int_ip);
    if (!s)
        return;
    s->mappings--;
    s->per_proto[proto]--;
    subscriber_release(e, s);
}

/* Counts a mapping of `proto` against the subscriber's quota: false if
 * none is left (RFC 6888 REQ-4). */
static bool subscriber_take(nat_engine_t *e, nat_subscriber_t *s, uint8_t proto)
{
    uint32_t quota = proto == NAT_PROTO_TCP ? e->tcp_view->port_quota : e->profile->port_quota;
    if (quota && s->per_proto[proto] >= quota) {
        subscriber_release(e, s);
        return false;
    }
    s->mappings++;
    s->per_proto[proto]++;
    return true;
}

static void subscriber_untake(nat_engine_t *e, nat_subscriber_t *s, uint8_t proto)
{
    s->mappings--;
    s->per_proto[proto]--;
    subscriber_release(e, s);
}

/* ---- mapping life ------------------------------------------------------ */

static inline usec_t session_timeout(const nat_profile_t *p, uint8_t state)
{
    switch ((nat_session_state_t)state) {
    case NAT_SESSION_ESTABLISHED:
    case NAT_SESSION_FIN_OUT:
    case NAT_SESSION_FIN_IN:
        return p->tcp_established_timeout;
    default:
        return p->tcp_transitory_timeout;
    }
}

static inline usec_t idle_timeout(const nat_engine_t *e, const nat_mapping_t *m)
{
    const nat_profile_t *p = e->profile;
    if (m->proto == NAT_PROTO_ICMP)
        return p->icmp_timeout;
    if (m->proto == NAT_PROTO_TCP)
        return p->tcp_transitory_timeout; /* its sessions decide; this bounds a mapping without */
    if (p->timeout_unreplied && !(m->flags & NAT_MAPPING_REPLIED))
        return p->timeout_unreplied;
    return p->timeout;
}

static void mapping_free(nat_engine_t *e, uint32_t idx)
{
    nat_mapping_t *m = nat_table_get(&e->table, idx);
    uint32_t int_ip = m->int_ip;
    uint8_t proto = m->proto;
    if (m->state == NAT_MAPPING_ACTIVE)
        e->stats.active--;
    else
        e->stats.held--;
    if ((m->flags & NAT_MAPPING_EXPLICIT) && m->state == NAT_MAPPING_ACTIVE)
        e->explicit_count--;
    nat_timer_cancel(&e->timer, &e->table, idx);
    if (proto == NAT_PROTO_TCP)
        nat_sessions_remove_mapping(&e->sessions, idx);
    nat_table_release(&e->table, idx);
    subscriber_unref(e, int_ip, proto);
}

/* An active mapping whose time has come: into hold-down or gone. The hold
 * starts at the moment the mapping expired, whenever we notice it. */
static void mapping_expire(nat_engine_t *e, uint32_t idx, usec_t now)
{
    nat_mapping_t *m = nat_table_get(&e->table, idx);
    e->stats.mappings_expired++;
    usec_t hold_until = m->expires_at + e->profile->hold_down;
    if (e->profile->type != NAT_TYPE_NAT || e->profile->hold_down == 0 || now >= hold_until) {
        mapping_free(e, idx);
        return;
    }
    if (m->proto == NAT_PROTO_TCP)
        nat_sessions_remove_mapping(&e->sessions, idx);
    if (m->flags & NAT_MAPPING_EXPLICIT)
        e->explicit_count--;
    nat_table_unlink_internal(&e->table, idx);
    m->state = NAT_MAPPING_HELD;
    m->expires_at = hold_until;
    e->stats.active--;
    e->stats.held++;
    nat_timer_set(&e->timer, &e->table, idx, hold_until);
}

/* Lazily settles a mapping found by a lookup: true if it is still active. */
static bool mapping_settle(nat_engine_t *e, uint32_t idx, usec_t now)
{
    nat_mapping_t *m = nat_table_get(&e->table, idx);
    if (m->state == NAT_MAPPING_ACTIVE) {
        if (now < m->expires_at)
            return true;
        mapping_expire(e, idx, now);
        return false;
    }
    if (m->state == NAT_MAPPING_HELD && now >= m->expires_at)
        mapping_free(e, idx);
    return false;
}

static bool port_taken_in(nat_engine_t *e, uint8_t proto, uint32_t ip, uint16_t port)
{
    uint32_t idx = nat_table_find_external(&e->table, proto, ip, port);
    if (idx == NAT_TABLE_NIL)
        return false;
    mapping_settle(e, idx, e->now);
    return nat_table_find_external(&e->table, proto, ip, port) != NAT_TABLE_NIL;
}

static bool port_taken(void *ctx, uint32_t ip, uint16_t port)
{
    nat_engine_t *e = ctx;
    if (port_taken_in(e, e->proto, ip, port))
        return true;
    /* One pool for UDP and TCP: a port either holds is taken for both. */
    if (e->profile->tcp_ports == NAT_PORT_SPACE_SHARED &&
        (e->proto == NAT_PROTO_UDP || e->proto == NAT_PROTO_TCP))
        return port_taken_in(e, e->proto == NAT_PROTO_UDP ? NAT_PROTO_TCP : NAT_PROTO_UDP, ip, port);
    return false;
}

static uint32_t mapping_insert(nat_engine_t *e, uint8_t proto, addr_endpoint_t internal,
                               addr_endpoint_t external, addr_endpoint_t remote, uint8_t flags,
                               usec_t expires_at)
{
    uint32_t idx = nat_table_alloc(&e->table);
    nat_mapping_t *m = nat_table_get(&e->table, idx);
    m->proto = proto;
    m->int_ip = internal.ip;
    m->int_port = internal.port;
    m->ext_ip = external.ip;
    m->ext_port = external.port;
    m->rem_ip = remote.ip;
    m->rem_port = remote.port;
    m->state = NAT_MAPPING_ACTIVE;
    m->flags = flags;
    m->expires_at = expires_at;
    nat_table_link_internal(&e->table, idx);
    nat_table_link_external(&e->table, idx);
    nat_timer_set(&e->timer, &e->table, idx, expires_at);
    e->stats.active++;
    e->stats.mappings_created++;
    if (flags & NAT_MAPPING_EXPLICIT) {
        e->explicit_count++;
        e->stats.explicit_created++;
    }
    return idx;
}

/* ---- external endpoint choice ----------------------------------------- */

static nat_portalloc_request_t port_request(nat_engine_t *e, uint32_t ip, uint16_t internal_port,
                                            uint16_t lo, uint16_t hi, uint16_t *counter)
{
    return (nat_portalloc_request_t){
        .ip = ip, .internal_port = internal_port, .lo = lo, .hi = hi,
        .counter = counter + id_space(e, e->proto), .taken = port_taken, .ctx = e,
    };
}

/* RFC 6888 REQ-4: a subscriber's ports come from its blocks; a new block is
 * taken only when the ones it has are full, up to the quota of blocks. */
static nat_drop_reason_t choose_in_blocks(nat_engine_t *e, nat_subscriber_t *s,
                                          uint16_t internal_port, addr_endpoint_t *out)
{
    const nat_profile_t *p = pp(e);
    unsigned ipi = ip_index(e, s->ext_ip);
    for (uint16_t b = 0; b <= s->block_count; b++) {
        if (b == s->block_count) {
            if (s->block_count >= p->port_blocks_max)
                return NAT_DROP_QUOTA;
            uint32_t free_blocks = 0;
            for (uint32_t i = 0; i < e->blocks_per_ip; i++)
                free_blocks += !e->block_used[ipi][i];
            if (free_blocks == 0)
                return NAT_DROP_PORTS_EXHAUSTED;
            /* RFC 6888 REQ-15: which block a subscriber gets is not guessable. */
            uint32_t pick = rng_below(&e->rng, free_blocks);
            for (uint32_t i = 0; i < e->blocks_per_ip; i++) {
                if (!e->block_used[ipi][i] && pick-- == 0) {
                    e->block_used[ipi][i] = 1;
                    s->blocks = g_renew(uint16_t, s->blocks, s->block_count + 1);
                    s->blocks[s->block_count++] = (uint16_t)i;
                    break;
                }
            }
        }
        uint16_t lo = (uint16_t)(p->port_min + s->blocks[b] * p->port_block);
        uint16_t hi = (uint16_t)(lo + p->port_block - 1);
        nat_portalloc_request_t req = port_request(e, s->ext_ip, internal_port, lo, hi, s->counter);
        if (nat_portalloc_pick(policy(e), &e->rng, &req, &out->port)) {
            out->ip = s->ext_ip;
            return NAT_DROP_NONE;
        }
    }
    return NAT_DROP_QUOTA;
}

static nat_drop_reason_t choose_external(nat_engine_t *e, nat_subscriber_t *s, uint16_t internal_port,
                                         addr_endpoint_t *out)
{
    const nat_profile_t *p = pp(e);
    if (p->port_block > 0)
        return choose_in_blocks(e, s, internal_port, out);
    if (p->pooling == NAT_POOLING_PAIRED || e->n_ips == 1) {
        uint32_t ip = s ? s->ext_ip : e->ips[0];
        nat_portalloc_request_t req = port_request(e, ip, internal_port, p->port_min, p->port_max, e->counter);
        if (!nat_portalloc_pick(policy(e), &e->rng, &req, &out->port))
            return NAT_DROP_PORTS_EXHAUSTED;
        out->ip = ip;
        return NAT_DROP_NONE;
    }
    /* Arbitrary pooling: any address per mapping; a preserving NAT prefers
     * another address with the port free over another port (rfc-digest 1). */
    unsigned start = rng_below(&e->rng, e->n_ips);
    if (p->allocation == NAT_ALLOC_PRESERVE) {
        for (unsigned i = 0; i < e->n_ips; i++) {
            uint32_t ip = e->ips[(start + i) % e->n_ips];
            nat_portalloc_request_t req = port_request(e, ip, internal_port, p->port_min, p->port_max, e->counter);
            if (nat_portalloc_try_preserve(policy(e), &req)) {
                *out = addr_endpoint(ip, internal_port);
                return NAT_DROP_NONE;
            }
        }
    }
    for (unsigned i = 0; i < e->n_ips; i++) {
        uint32_t ip = e->ips[(start + i) % e->n_ips];
        nat_portalloc_request_t req = port_request(e, ip, internal_port, p->port_min, p->port_max, e->counter);
        if (nat_portalloc_pick(policy(e), &e->rng, &req, &out->port)) {
            out->ip = ip;
            return NAT_DROP_NONE;
        }
    }
    return NAT_DROP_PORTS_EXHAUSTED;
}

/* Reserves a slot in the subscriber (so that lazy expiry during the port
 * search cannot free it), then finds the external endpoint. */
static nat_drop_reason_t reserve_external(nat_engine_t *e, uint32_t int_ip, uint16_t internal_port,
                                          addr_endpoint_t *out)
{
    nat_subscriber_t *s = NULL;
    if (e->track_subscribers) {
        s = subscriber_get(e, int_ip);
        if (!subscriber_take(e, s, e->proto))
            return NAT_DROP_QUOTA;
    }
    nat_drop_reason_t reason = choose_external(e, s, internal_port, out);
    if (reason != NAT_DROP_NONE && s)
        subscriber_untake(e, s, e->proto);
    return reason;
}

/* ---- translation ------------------------------------------------------ */

static inline nat_verdict_t drop(nat_drop_reason_t reason)
{
    return (nat_verdict_t){ .action = NAT_ACTION_DROP, .reason = reason };
}

static inline void add_permission(nat_engine_t *e, uint32_t idx, addr_endpoint_t remote)
{
    switch (pp(e)->filtering) {
    case NAT_ENDPOINT_INDEPENDENT:
        return;
    case NAT_ADDRESS_DEPENDENT:
        nat_table_perm_add(&e->table, idx, remote.ip, 0);
        return;
    case NAT_ADDRESS_AND_PORT_DEPENDENT:
        nat_table_perm_add(&e->table, idx, remote.ip, remote.port);
        return;
    }
}

static uint32_t find_outbound_mapping(nat_engine_t *e, addr_endpoint_t internal,
                                      addr_endpoint_t remote, usec_t now)
{
    uint32_t idx;
    if (e->explicit_count > 0 && e->table.scope[e->proto] != NAT_KEY_ENDPOINT) {
        idx = nat_table_find_explicit(&e->table, e->proto, internal.ip, internal.port);
        if (idx != NAT_TABLE_NIL && mapping_settle(e, idx, now))
            return idx;
    }
    idx = nat_table_find_internal(&e->table, e->proto, internal.ip, internal.port, remote.ip,
                                  remote.port);
    if (idx != NAT_TABLE_NIL && !mapping_settle(e, idx, now))
        idx = NAT_TABLE_NIL;
    return idx;
}

/* ---- TCP sessions (RFC 5382, RFC 7857; RFC 6146 section 3.5.2) -------- */

static inline bool is_opening(uint8_t flags)
{
    return (flags & (NAT_TCP_SYN | NAT_TCP_ACK | NAT_TCP_RST)) == NAT_TCP_SYN;
}

/* A live session of the mapping with this remote, or NIL (an expired one is
 * removed on the way). */
static uint32_t session_find(nat_engine_t *e, uint32_t idx, addr_endpoint_t remote, usec_t now)
{
    uint32_t si = nat_sessions_find(&e->sessions, idx, remote.ip, remote.port);
    if (si != NAT_SESSION_NIL && now >= nat_sessions_get(&e->sessions, si)->expires_at) {
        nat_sessions_remove(&e->sessions, si);
        si = NAT_SESSION_NIL;
    }
    return si;
}

/* The mapping idx still holds a live session of internal with remote. */
static bool reverse_valid(nat_engine_t *e, uint32_t idx, addr_endpoint_t internal,
                          addr_endpoint_t remote, usec_t now, uint32_t *si)
{
    if (idx >= e->table.slab_used)
        return false;
    const nat_mapping_t *m = nat_table_get(&e->table, idx);
    if (m->state != NAT_MAPPING_ACTIVE || m->proto != NAT_PROTO_TCP || m->int_ip != internal.ip ||
        m->int_port != internal.port || now >= m->expires_at)
        return false;
    *si = session_find(e, idx, remote, now);
    return *si != NAT_SESSION_NIL;
}

static uint32_t reverse_find(nat_engine_t *e, addr_endpoint_t internal, addr_endpoint_t remote,
                             usec_t now, uint32_t *si)
{
    reverse_key_t key = { internal.ip, remote.ip, internal.port, remote.port };
    gpointer value;
    if (!g_hash_table_lookup_extended(e->reverse, &key, NULL, &value))
        return NAT_TABLE_NIL;
    uint32_t idx = GPOINTER_TO_UINT(value);
    if (reverse_valid(e, idx, internal, remote, now, si))
        return idx;
    g_hash_table_remove(e->reverse, &key);
    return NAT_TABLE_NIL;
}

/* Entries are dropped when found stale; before the index outgrows the live
 * sessions, a sweep drops every stale one (amortised O(1) per insert). */
static void reverse_add(nat_engine_t *e, uint32_t idx, addr_endpoint_t internal,
                        addr_endpoint_t remote, usec_t now)
{
    if (g_hash_table_size(e->reverse) >= 2 * e->sessions.count + 64) {
        GHashTableIter it;
        gpointer k, v;
        g_hash_table_iter_init(&it, e->reverse);
        while (g_hash_table_iter_next(&it, &k, &v)) {
            const reverse_key_t *rk = k;
            uint32_t si;
            if (!reverse_valid(e, GPOINTER_TO_UINT(v), addr_endpoint(rk->int_ip, rk->int_port),
                               addr_endpoint(rk->rem_ip, rk->rem_port), now, &si))
                g_hash_table_iter_remove(&it);
        }
    }
    reverse_key_t *key = g_new(reverse_key_t, 1);
    *key = (reverse_key_t){ internal.ip, remote.ip, internal.port, remote.port };
    g_hash_table_replace(e->reverse, key, GUINT_TO_POINTER(idx));
}

/* One segment moves its session along the RFC 6146 state machine. An RST
 * leaves the session for the transitory time and never extends it (RFC
 * 7857 section 2.2: a reset, even one an inside host sends in reply to an
 * unsolicited packet, must not keep a mapping alive); FINs seen both ways
 * leave it for the transitory time with no further refresh; any other
 * segment refreshes it to its state's timeout. */
static void session_step(const nat_profile_t *p, nat_session_t *ss, bool out, uint8_t flags,
                         usec_t now)
{
    if (flags & NAT_TCP_RST) {
        ss->state = NAT_SESSION_TRANS;
        ss->expires_at = MIN(ss->expires_at, now + p->tcp_transitory_timeout);
        return;
    }
    switch ((nat_session_state_t)ss->state) {
    case NAT_SESSION_SYN_OUT:
        if (!out && (flags & NAT_TCP_SYN))
            ss->state = NAT_SESSION_ESTABLISHED; /* a SYN-ACK, or a simultaneous open's SYN */
        break;
    case NAT_SESSION_SYN_IN:
        if (out && (flags & NAT_TCP_SYN))
            ss->state = NAT_SESSION_ESTABLISHED;
        break;
    case NAT_SESSION_ESTABLISHED:
        if (flags & NAT_TCP_FIN)
            ss->state = out ? NAT_SESSION_FIN_OUT : NAT_SESSION_FIN_IN;
        break;
    case NAT_SESSION_FIN_OUT:
    case NAT_SESSION_FIN_IN:
        if ((flags & NAT_TCP_FIN) && out == (ss->state == NAT_SESSION_FIN_IN))
            ss->state = NAT_SESSION_CLOSING;
        else
            break;
        ss->expires_at = now + p->tcp_transitory_timeout;
        return;
    case NAT_SESSION_CLOSING:
    case NAT_SESSION_TRANS:
        /* A new connection on the same endpoints starts over; other traffic
         * after an RST means the connection lives on. */
        if (is_opening(flags))
            ss->state = out ? NAT_SESSION_SYN_OUT : NAT_SESSION_SYN_IN;
        else if (ss->state == NAT_SESSION_CLOSING)
            return;
        else
            ss->state = NAT_SESSION_ESTABLISHED;
        break;
    case NAT_SESSION_STATE_COUNT:
        break;
    }
    ss->expires_at = now + session_timeout(p, ss->state);
}

/* A dynamic TCP mapping lives as long as its longest-lived session. */
static void mapping_follow_session(nat_engine_t *e, uint32_t idx, usec_t session_was,
                                   usec_t session_now, usec_t now)
{
    nat_mapping_t *m = nat_table_get(&e->table, idx);
    if (m->flags & NAT_MAPPING_EXPLICIT)
        return; /* its lease decides */
    if (session_now >= m->expires_at) {
        m->expires_at = session_now;
        return;
    }
    if (session_was < m->expires_at)
        return; /* another session holds the mapping longer anyway */
    usec_t latest = nat_sessions_sweep(&e->sessions, idx, now);
    m->expires_at = MAX(latest, now); /* none left: the mapping ends now */
    nat_timer_set(&e->timer, &e->table, idx, m->expires_at);
}

static void session_add(nat_engine_t *e, uint32_t idx, addr_endpoint_t remote,
                        nat_session_state_t state, usec_t now)
{
    usec_t expires = now + session_timeout(pp(e), state);
    nat_sessions_sweep(&e->sessions, idx, now); /* expired sessions do not pile up */
    nat_sessions_add(&e->sessions, idx, remote.ip, remote.port, state, expires);
    mapping_follow_session(e, idx, 0, expires, now);
}

/* A segment on an existing session; `out`: from the inside host. */
static void session_segment(nat_engine_t *e, uint32_t idx, uint32_t si, bool out, uint8_t flags,
                            usec_t now)
{
    nat_session_t *ss = nat_sessions_get(&e->sessions, si);
    usec_t was = ss->expires_at;
    session_step(pp(e), ss, out, flags, now);
    mapping_follow_session(e, idx, was, ss->expires_at, now);
}

static nat_reply_t unsolicited_reply(const nat_engine_t *e, uint8_t flags)
{
    if (flags & NAT_TCP_RST)
        return NAT_REPLY_NONE; /* never answer a reset */
    switch (pp(e)->tcp_unsolicited_syn) {
    case NAT_TCP_UNSOLICITED_HOLD:
        return is_opening(flags) ? NAT_REPLY_HOLD_SYN : NAT_REPLY_NONE;
    case NAT_TCP_UNSOLICITED_DROP:
        return NAT_REPLY_NONE;
    case NAT_TCP_UNSOLICITED_RST:
        return NAT_REPLY_TCP_RST;
    case NAT_TCP_UNSOLICITED_ICMP:
        return NAT_REPLY_ICMP_PORT_UNREACHABLE;
    }
    return NAT_REPLY_NONE;
}

static inline nat_verdict_t drop_reply(nat_drop_reason_t reason, nat_reply_t reply)
{
    nat_verdict_t v = drop(reason);
    v.reply = reply;
    return v;
}

/* ---- the two halves ----------------------------------------------------- */

/* The outbound half: find or create the mapping, refresh it (REQ-6: outbound
 * always refreshes), and open the filter towards the remote. TCP segments
 * (`tcp`: their flags) go by session instead: a SYN opens one, other
 * segments need one (or `tcp-no-session` says what happens). */
static nat_verdict_t translate_outbound(nat_engine_t *e, addr_endpoint_t internal,
                                        addr_endpoint_t remote, uint8_t tcp, usec_t now)
{
    const nat_profile_t *p = pp(e);
    bool created = false;
    bool is_tcp = e->proto == NAT_PROTO_TCP;
    uint32_t idx = find_outbound_mapping(e, internal, remote, now);
    uint32_t si = NAT_SESSION_NIL;
    nat_session_state_t opened = NAT_SESSION_SYN_OUT;
    if (is_tcp) {
        if (idx != NAT_TABLE_NIL)
            si = session_find(e, idx, remote, now);
        /* A reply on a connection admitted inbound by a laxer filter. */
        if (si == NAT_SESSION_NIL && g_hash_table_size(e->reverse) > 0) {
            uint32_t rsi, ridx = reverse_find(e, internal, remote, now, &rsi);
            if (ridx != NAT_TABLE_NIL) {
                idx = ridx;
                si = rsi;
            }
        }
        if (si == NAT_SESSION_NIL && !is_opening(tcp)) {
            if ((tcp & NAT_TCP_RST) || p->tcp_no_session == NAT_TCP_NO_SESSION_DROP)
                return drop(NAT_DROP_TCP_NO_SESSION);
            if (p->tcp_no_session == NAT_TCP_NO_SESSION_RST)
                return drop_reply(NAT_DROP_TCP_NO_SESSION, NAT_REPLY_TCP_RST);
            opened = NAT_SESSION_ESTABLISHED; /* picked up mid-stream */
        }
    }
    if (idx == NAT_TABLE_NIL) {
        addr_endpoint_t external = internal;
        if (p->type == NAT_TYPE_NAT) {
            nat_drop_reason_t reason = reserve_external(e, internal.ip, internal.port, &external);
            if (reason != NAT_DROP_NONE)
                return drop(reason);
        }
        usec_t timeout = e->proto == NAT_PROTO_ICMP ? p->icmp_timeout
                         : is_tcp                   ? 0 /* the session sets it */
                         : p->timeout_unreplied     ? p->timeout_unreplied
                                                    : p->timeout;
        idx = mapping_insert(e, e->proto, internal, external, remote, 0, now + timeout);
        created = true;
    } else {
        nat_mapping_t *m = nat_table_get(&e->table, idx);
        if (!(m->flags & NAT_MAPPING_EXPLICIT) && !is_tcp)
            m->expires_at = now + idle_timeout(e, m);
        add_permission(e, idx, remote);
    }
    if (is_tcp) {
        if (si == NAT_SESSION_NIL)
            session_add(e, idx, remote, opened, now);
        else
            session_segment(e, idx, si, true, tcp, now);
    }
    const nat_mapping_t *m = nat_table_get(&e->table, idx);
    return (nat_verdict_t){
        .action = NAT_ACTION_FORWARD,
        .src = addr_endpoint(m->ext_ip, m->ext_port),
        .dst = remote,
        .created = created,
    };
}

static nat_verdict_t translate_inbound(nat_engine_t *e, addr_endpoint_t remote,
                                       addr_endpoint_t external, uint8_t tcp, bool filter,
                                       usec_t now)
{
    const nat_profile_t *p = pp(e);
    bool is_tcp = e->proto == NAT_PROTO_TCP;
    uint32_t idx = nat_table_find_external(&e->table, e->proto, external.ip, external.port);
    if (idx == NAT_TABLE_NIL || !mapping_settle(e, idx, now))
        return is_tcp ? drop_reply(NAT_DROP_NO_MAPPING, unsolicited_reply(e, tcp))
                      : drop(NAT_DROP_NO_MAPPING);
    nat_mapping_t *m = nat_table_get(&e->table, idx);
    bool explicit_mapping = m->flags & NAT_MAPPING_EXPLICIT;
    if (is_tcp) {
        /* A session is its own permission; only a new connection meets the filter. */
        uint32_t si = session_find(e, idx, remote, now);
        if (si != NAT_SESSION_NIL && is_opening(tcp) &&
            nat_sessions_get(&e->sessions, si)->state == NAT_SESSION_TRANS &&
            p->tcp_reset_session == NAT_TCP_RESET_INVALID)
            /* Linux conntrack: the entry is CLOSE, the reply-direction SYN
             * invalid; it is not translated and meets the WAN's answer. */
            return drop_reply(NAT_DROP_TCP_INVALID, unsolicited_reply(e, tcp));
        if (si != NAT_SESSION_NIL) {
            session_segment(e, idx, si, false, tcp, now);
            m->flags |= NAT_MAPPING_REPLIED;
            goto forward;
        }
        if (!is_opening(tcp))
            return drop_reply(NAT_DROP_TCP_NO_SESSION,
                              unsolicited_reply(e, tcp) == NAT_REPLY_TCP_RST ? NAT_REPLY_TCP_RST
                                                                             : NAT_REPLY_NONE);
    }
    if (!explicit_mapping) {
        /* RFC 4787 section 5; filtered packets create and refresh nothing. */
        bool admitted =
            !filter || p->filtering == NAT_ENDPOINT_INDEPENDENT ||
            (p->filtering == NAT_ADDRESS_DEPENDENT && nat_table_perm_has(&e->table, idx, remote.ip, 0)) ||
            (p->filtering == NAT_ADDRESS_AND_PORT_DEPENDENT &&
             nat_table_perm_has(&e->table, idx, remote.ip, remote.port));
        if (!admitted)
            return is_tcp ? drop_reply(NAT_DROP_FILTERED, unsolicited_reply(e, tcp))
                          : drop(NAT_DROP_FILTERED);
        if (!(m->flags & NAT_MAPPING_REPLIED)) {
            m->flags |= NAT_MAPPING_REPLIED;
            /* The longer established timeout now counts from the last refresh. */
            if (p->timeout_unreplied && m->proto == NAT_PROTO_UDP)
                m->expires_at += p->timeout - p->timeout_unreplied;
        }
        /* REQ-6: inbound refresh is a MAY, a profile switch. */
        if (p->refresh == NAT_REFRESH_BOTH && !is_tcp)
            m->expires_at = now + idle_timeout(e, m);
    }
    if (is_tcp) {
        session_add(e, idx, remote, NAT_SESSION_SYN_IN, now);
        nat_key_scope_t scope = e->table.scope[NAT_PROTO_TCP];
        bool keyed = explicit_mapping || scope == NAT_KEY_ENDPOINT ||
                     (remote.ip == m->rem_ip && (scope == NAT_KEY_ADDRESS || remote.port == m->rem_port));
        if (!keyed)
            reverse_add(e, idx, addr_endpoint(m->int_ip, m->int_port), remote, now);
    }
forward:
    return (nat_verdict_t){
        .action = NAT_ACTION_FORWARD,
        .src = remote,
        .dst = addr_endpoint(m->int_ip, m->int_port),
    };
}

/* RFC 4787 REQ-9: translate out as towards any remote, then in as if the
 * packet had arrived from outside, with the sender's external endpoint as
 * its source (REQ-9a). RFC 4787 leaves open whether the receiver's filter
 * applies; natsim lets hairpinned packets through it, as RFC 5780's hairpin
 * test (a second socket of the same host sends to the first one's mapping)
 * and the clients that implement it expect of a NAT that hairpins. */
static nat_verdict_t hairpin(nat_engine_t *e, addr_endpoint_t internal, addr_endpoint_t remote,
                             uint8_t tcp, usec_t now)
{
    if (pp(e)->hairpin == NAT_HAIRPIN_OFF)
        return drop(NAT_DROP_HAIRPIN_DISABLED);
    nat_verdict_t out = translate_outbound(e, internal, remote, tcp, now);
    if (out.action == NAT_ACTION_DROP)
        return out;
    /* A query carries one identifier, now the sender's external one: it
     * names the mapping the packet turns back into (the sender's own). */
    if (e->proto == NAT_PROTO_ICMP)
        remote.port = out.src.port;
    nat_verdict_t in = translate_inbound(e, out.src, remote, tcp, false, now);
    if (in.action == NAT_ACTION_DROP)
        return in;
    in.hairpin = true;
    in.created = out.created;
    if (pp(e)->hairpin == NAT_HAIRPIN_INTERNAL_SOURCE)
        in.src = internal;
    return in;
}

static nat_verdict_t count(nat_engine_t *e, nat_verdict_t v, uint64_t *forwarded)
{
    if (v.action == NAT_ACTION_DROP) {
        e->stats.drops[v.reason]++;
    } else if (v.hairpin) {
        e->stats.hairpinned++;
    } else {
        (*forwarded)++;
        e->stats.forwarded[e->proto][forwarded == &e->stats.inbound]++;
    }
    return v;
}

/* An allow-list is a firewall's: it is checked before any state is made,
 * so refused traffic creates and refreshes nothing. */
static bool refused(const nat_engine_t *e, nat_proto_t proto, uint16_t port)
{
    const nat_profile_t *p = e->profile;
    if (proto == NAT_PROTO_UDP)
        return !nat_allow_has(&p->allow_out_udp, port);
    if (proto == NAT_PROTO_TCP)
        return !nat_allow_has(&p->allow_out_tcp, port);
    return false;
}

static nat_verdict_t outbound(nat_engine_t *e, nat_proto_t proto, addr_endpoint_t internal,
                              addr_endpoint_t remote, uint8_t tcp, usec_t now)
{
    e->now = now;
    e->proto = (uint8_t)proto;
    nat_type_t type = e->profile->type;
    if (type == NAT_TYPE_BLOCKED && proto != NAT_PROTO_UDP)
        type = NAT_TYPE_OPEN; /* `blocked` blocks UDP only */
    if (type != NAT_TYPE_BLOCKED && refused(e, proto, remote.port)) {
        nat_reply_t reply = NAT_REPLY_NONE;
        if (e->profile->refused == NAT_REFUSED_REJECT)
            reply = proto == NAT_PROTO_TCP ? (tcp & NAT_TCP_RST ? NAT_REPLY_NONE : NAT_REPLY_TCP_RST)
                                           : NAT_REPLY_ICMP_ADMIN_PROHIBITED;
        return count(e, drop_reply(NAT_DROP_REFUSED, reply), NULL);
    }
    switch (type) {
    case NAT_TYPE_BLOCKED:
        return count(e, drop(NAT_DROP_UDP_BLOCKED), NULL);
    case NAT_TYPE_OPEN:
        e->stats.outbound++;
        e->stats.forwarded[proto][0]++;
        return (nat_verdict_t){ .action = NAT_ACTION_FORWARD, .src = internal, .dst = remote };
    case NAT_TYPE_FIREWALL:
        return count(e, translate_outbound(e, internal, remote, tcp, now), &e->stats.outbound);
    case NAT_TYPE_NAT:
        break;
    }
    if (nat_engine_is_public(e, remote.ip))
        return count(e, hairpin(e, internal, remote, tcp, now), &e->stats.outbound);
    return count(e, translate_outbound(e, internal, remote, tcp, now), &e->stats.outbound);
}

static nat_verdict_t inbound(nat_engine_t *e, nat_proto_t proto, addr_endpoint_t remote,
                             addr_endpoint_t external, uint8_t tcp, usec_t now)
{
    e->now = now;
    e->proto = (uint8_t)proto;
    nat_type_t type = e->profile->type;
    if (type == NAT_TYPE_BLOCKED && proto != NAT_PROTO_UDP)
        type = NAT_TYPE_OPEN;
    switch (type) {
    case NAT_TYPE_BLOCKED:
        return count(e, drop(NAT_DROP_UDP_BLOCKED), NULL);
    case NAT_TYPE_OPEN:
        e->stats.inbound++;
        e->stats.forwarded[proto][1]++;
        return (nat_verdict_t){ .action = NAT_ACTION_FORWARD, .src = remote, .dst = external };
    case NAT_TYPE_FIREWALL:
        break;
    case NAT_TYPE_NAT:
        if (!nat_engine_is_public(e, external.ip))
            return count(e, drop(NAT_DROP_NOT_OURS), NULL);
        break;
    }
    return count(e, translate_inbound(e, remote, external, tcp, true, now), &e->stats.inbound);
}

nat_verdict_t nat_engine_outbound(nat_engine_t *e, nat_proto_t proto, addr_endpoint_t internal,
                                  addr_endpoint_t remote, usec_t now)
{
    return outbound(e, proto, internal, remote, 0, now);
}

nat_verdict_t nat_engine_inbound(nat_engine_t *e, nat_proto_t proto, addr_endpoint_t remote,
                                 addr_endpoint_t external, usec_t now)
{
    return inbound(e, proto, remote, external, 0, now);
}

nat_verdict_t nat_engine_outbound_tcp(nat_engine_t *e, addr_endpoint_t internal,
                                      addr_endpoint_t remote, uint8_t flags, usec_t now)
{
    return outbound(e, NAT_PROTO_TCP, internal, remote, flags, now);
}

nat_verdict_t nat_engine_inbound_tcp(nat_engine_t *e, addr_endpoint_t remote,
                                     addr_endpoint_t external, uint8_t flags, usec_t now)
{
    return inbound(e, NAT_PROTO_TCP, remote, external, flags, now);
}

/* ---- time ------------------------------------------------------------- */

usec_t nat_engine_expire(nat_engine_t *e, usec_t now)
{
    e->now = now;
    while (nat_timer_next(&e->timer) <= now) {
        uint32_t idx = nat_timer_top(&e->timer);
        nat_mapping_t *m = nat_table_get(&e->table, idx);
        if (now < m->expires_at)
            nat_timer_set(&e->timer, &e->table, idx, m->expires_at); /* refreshed since armed */
        else if (m->state == NAT_MAPPING_ACTIVE)
            mapping_expire(e, idx, now);
        else
            mapping_free(e, idx);
    }
    usec_t next = nat_timer_next(&e->timer);
    return next == NAT_TIMER_NEVER ? NAT_ENGINE_NEVER : next;
}

void nat_engine_flush(nat_engine_t *e, usec_t now)
{
    e->now = now;
    state_reset(e);
}

bool nat_engine_change_ip(nat_engine_t *e, uint32_t old_ip, uint32_t new_ip, usec_t now)
{
    e->now = now;
    if (e->profile->type != NAT_TYPE_NAT || !nat_engine_is_public(e, old_ip) ||
        nat_engine_is_public(e, new_ip) || new_ip == 0)
        return false;
    unsigned i = ip_index(e, old_ip);
    e->ips[i] = new_ip;
    memcpy(e->ips_sorted, e->ips, e->n_ips * sizeof *e->ips);
    qsort(e->ips_sorted, e->n_ips, sizeof *e->ips, ip_compare);
    /* A profile that names its addresses must keep naming the live ones, or
     * the next `set` would be refused as an address change. */
    for (unsigned k = 0; k < e->profile->public_ip_count; k++)
        if (e->profile->public_ips[k] == old_ip)
            e->profile->public_ips[k] = new_ip;
    state_reset(e);
    return true;
}

void nat_engine_reboot(nat_engine_t *e, usec_t now)
{
    e->now = now;
    state_reset(e);
    e->epoch_start = now;
}

static bool same_structure(const nat_profile_t *a, const nat_profile_t *b)
{
    return a->type == b->type && a->mapping == b->mapping && a->port_min == b->port_min &&
           a->port_max == b->port_max && a->port_block == b->port_block &&
           a->port_blocks_max == b->port_blocks_max && a->pooling == b->pooling &&
           a->port_quota == b->port_quota && a->public_ip_count == b->public_ip_count &&
           memcmp(a->public_ips, b->public_ips, sizeof a->public_ips) == 0;
}

bool nat_engine_set_profile(nat_engine_t *e, const nat_profile_t *profile, usec_t now,
                            GError **error)
{
    e->now = now;
    if (!nat_profile_validate(profile, error))
        return false;
    if (profile->public_ips[0] && profile->type == NAT_TYPE_NAT &&
        memcmp(profile->public_ips, e->profile->public_ips, sizeof profile->public_ips) != 0) {
        g_set_error(error, NAT_PROFILE_ERROR, NAT_PROFILE_ERROR_INVALID,
                    "public-ips cannot change while the NAT runs");
        return false;
    }
    if (!profile->public_ips[0] && profile->type == NAT_TYPE_NAT &&
        profile->public_ip_count != e->n_ips) {
        g_set_error(error, NAT_PROFILE_ERROR, NAT_PROFILE_ERROR_INVALID,
                    "public-ips cannot change while the NAT runs (it has %u)", e->n_ips);
        return false;
    }
    nat_profile_t old_tcp = *e->tcp_view, new_tcp;
    nat_profile_tcp_view(profile, &new_tcp);
    bool structural = !same_structure(profile, e->profile) || !same_structure(&new_tcp, &old_tcp) ||
                      profile->tcp_ports != e->profile->tcp_ports;
    nat_profile_free(e->profile);
    e->profile = nat_profile_copy(profile);
    engine_configure(e);
    if (structural) {
        state_reset(e);
        return true;
    }
    /* A shorter timeout must not leave timers armed past the new expiry. */
    for (uint32_t i = 0; i < e->table.slab_used; i++) {
        nat_mapping_t *m = nat_table_get(&e->table, i);
        if (m->state != NAT_MAPPING_ACTIVE || (m->flags & NAT_MAPPING_EXPLICIT))
            continue;
        if (m->proto == NAT_PROTO_TCP) {
            usec_t latest = 0;
            for (uint32_t si = nat_sessions_first(&e->sessions, i); si != NAT_SESSION_NIL;
                 si = nat_sessions_next(&e->sessions, si)) {
                nat_session_t *ss = nat_sessions_get(&e->sessions, si);
                ss->expires_at = MIN(ss->expires_at, now + session_timeout(e->tcp_view, ss->state));
                latest = MAX(latest, ss->expires_at);
            }
            m->expires_at = MIN(m->expires_at, MAX(latest, now));
        } else {
            usec_t limit = now + idle_timeout(e, m);
            if (m->expires_at > limit)
                m->expires_at = limit;
        }
        nat_timer_set(&e->timer, &e->table, i, m->expires_at);
    }
    return true;
}

/* ---- introspection ---------------------------------------------------- */

const nat_engine_stats_t *nat_engine_stats(const nat_engine_t *e)
{
    return &e->stats;
}

uint32_t nat_engine_sessions(const nat_engine_t *e)
{
    return e->sessions.count;
}

char *nat_engine_stats_json(const nat_engine_t *e)
{
    const nat_engine_stats_t *s = &e->stats;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
#define MEMBER(name, value)                  \
    json_builder_set_member_name(b, name);   \
    json_builder_add_int_value(b, (gint64)(value))
    MEMBER("outbound", s->outbound);
    MEMBER("inbound", s->inbound);
    MEMBER("hairpinned", s->hairpinned);
    MEMBER("mappings_active", s->active);
    MEMBER("mappings_held", s->held);
    MEMBER("mappings_created", s->mappings_created);
    MEMBER("mappings_expired", s->mappings_expired);
    MEMBER("explicit_created", s->explicit_created);
    /* Only protocols other than UDP: the UDP numbers are the totals above
     * minus these, and UDP-only readers see the object they always saw. */
    for (int proto = NAT_PROTO_UDP + 1; proto < NAT_PROTO_COUNT; proto++) {
        json_builder_set_member_name(b, nat_proto_name((nat_proto_t)proto));
        json_builder_begin_object(b);
        MEMBER("outbound", s->forwarded[proto][0]);
        MEMBER("inbound", s->forwarded[proto][1]);
        if (proto == NAT_PROTO_TCP) {
            MEMBER("sessions", e->sessions.count);
        }
        json_builder_end_object(b);
    }
    json_builder_set_member_name(b, "drops");
    json_builder_begin_object(b);
    for (int r = 1; r < NAT_DROP_REASON_COUNT; r++) {
        MEMBER(drop_reason_names[r], s->drops[r]);
    }
    json_builder_end_object(b);
#undef MEMBER
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    return json_to_string(root, FALSE);
}

static void mapping_info(const nat_mapping_t *m, nat_mapping_info_t *info)
{
    info->proto = (nat_proto_t)m->proto;
    info->internal = addr_endpoint(m->int_ip, m->int_port);
    info->external = addr_endpoint(m->ext_ip, m->ext_port);
    info->remote = addr_endpoint(m->rem_ip, m->rem_port);
    info->is_explicit = m->flags & NAT_MAPPING_EXPLICIT;
    info->replied = m->flags & NAT_MAPPING_REPLIED;
    info->expires_at = m->expires_at;
}

void nat_engine_foreach(const nat_engine_t *e, void (*visit)(const nat_mapping_info_t *, void *),
                        void *ctx)
{
    for (uint32_t i = 0; i < e->table.slab_used; i++) {
        const nat_mapping_t *m = nat_table_get(&e->table, i);
        if (m->state != NAT_MAPPING_ACTIVE)
            continue;
        nat_mapping_info_t info;
        mapping_info(m, &info);
        visit(&info, ctx);
    }
}

/* Fills `info` if idx names a mapping that is active at `now`. */
static bool live_info(const nat_engine_t *e, uint32_t idx, usec_t now, nat_mapping_info_t *info)
{
    if (idx == NAT_TABLE_NIL)
        return false;
    const nat_mapping_t *m = nat_table_get(&e->table, idx);
    if (m->state != NAT_MAPPING_ACTIVE || now >= m->expires_at)
        return false;
    mapping_info(m, info);
    return true;
}

bool nat_engine_lookup_external(const nat_engine_t *e, nat_proto_t proto, addr_endpoint_t external,
                                usec_t now, nat_mapping_info_t *info)
{
    return live_info(e, nat_table_find_external(&e->table, proto, external.ip, external.port), now,
                     info);
}

bool nat_engine_lookup_internal(const nat_engine_t *e, nat_proto_t proto, addr_endpoint_t internal,
                                addr_endpoint_t remote, usec_t now, nat_mapping_info_t *info)
{
    uint32_t idx = NAT_TABLE_NIL;
    if (e->explicit_count > 0)
        idx = nat_table_find_explicit(&e->table, proto, internal.ip, internal.port);
    if (idx == NAT_TABLE_NIL || now >= nat_table_get(&e->table, idx)->expires_at)
        idx = nat_table_find_internal(&e->table, proto, internal.ip, internal.port, remote.ip,
                                      remote.port);
    return live_info(e, idx, now, info);
}

/* ---- explicit mappings (NAT-PMP, PCP) ---------------------------------- */

bool nat_engine_find_explicit(const nat_engine_t *e, nat_proto_t proto, addr_endpoint_t internal,
                              usec_t now, nat_mapping_info_t *info)
{
    return live_info(e, nat_table_find_explicit(&e->table, proto, internal.ip, internal.port), now, info);
}

static nat_map_result_t map_result(nat_drop_reason_t reason)
{
    return reason == NAT_DROP_QUOTA ? NAT_MAP_QUOTA : NAT_MAP_NO_RESOURCES;
}

/* The suggested endpoint, if the NAT may hand it out to this host. */
static bool suggestion_usable(nat_engine_t *e, const nat_map_request_t *r, uint32_t ip)
{
    const nat_profile_t *p = pp(e);
    uint16_t port = r->suggested_port;
    if (port < p->port_min || port > p->port_max || port_taken(e, ip, port))
        return false;
    if (p->port_parity == NAT_PARITY_PRESERVE && ((port ^ r->internal.port) & 1))
        return false;
    if (p->port_block > 0) {
        nat_subscriber_t *s = subscriber_find(e, r->internal.ip);
        uint16_t block = (uint16_t)((port - p->port_min) / p->port_block);
        for (uint16_t b = 0; s && b < s->block_count; b++)
            if (s->blocks[b] == block)
                return true;
        return false;
    }
    return true;
}

nat_map_result_t nat_engine_map(nat_engine_t *e, const nat_map_request_t *r, usec_t now,
                                addr_endpoint_t *external, usec_t *lifetime)
{
    e->now = now;
    nat_proto_t proto = r->proto;
    e->proto = (uint8_t)proto;
    const nat_profile_t *p = pp(e);
    if (p->type != NAT_TYPE_NAT || (proto != NAT_PROTO_UDP && proto != NAT_PROTO_TCP))
        return NAT_MAP_UNSUPPORTED;
    usec_t granted = MIN(r->lifetime, p->port_mapping_lifetime_max);
    *lifetime = granted;

    uint32_t idx = nat_table_find_explicit(&e->table, proto, r->internal.ip, r->internal.port);
    if (idx != NAT_TABLE_NIL && !mapping_settle(e, idx, now))
        idx = NAT_TABLE_NIL;
    if (idx == NAT_TABLE_NIL && e->table.scope[proto] == NAT_KEY_ENDPOINT) {
        /* Under EIM a dynamic mapping of the same endpoint becomes explicit. */
        idx = nat_table_find_internal(&e->table, proto, r->internal.ip, r->internal.port,
                                      0, 0);
        if (idx != NAT_TABLE_NIL && mapping_settle(e, idx, now)) {
            nat_mapping_t *m = nat_table_get(&e->table, idx);
            m->flags |= NAT_MAPPING_EXPLICIT;
            e->explicit_count++;
            e->stats.explicit_created++;
        } else {
            idx = NAT_TABLE_NIL;
        }
    }
    if (idx != NAT_TABLE_NIL) {
        nat_mapping_t *m = nat_table_get(&e->table, idx);
        m->expires_at = now + granted;
        nat_timer_set(&e->timer, &e->table, idx, m->expires_at);
        *external = addr_endpoint(m->ext_ip, m->ext_port);
        return NAT_MAP_OK;
    }

    nat_subscriber_t *s = NULL;
    if (e->track_subscribers) {
        s = subscriber_get(e, r->internal.ip);
        if (!subscriber_take(e, s, proto))
            return NAT_MAP_QUOTA;
    }
    uint32_t ip = s ? s->ext_ip : e->ips[0];
    /* RFC 6887 section 11.3: honour the suggestion if possible; otherwise
     * another endpoint, unless PREFER_FAILURE asks for the suggestion or nothing. */
    bool ip_usable = r->suggested_ip && nat_engine_is_public(e, r->suggested_ip) &&
                     (!s || p->pooling == NAT_POOLING_ARBITRARY || r->suggested_ip == ip);
    if (ip_usable)
        ip = r->suggested_ip;
    bool ip_refused = r->suggested_ip && !ip_usable;
    addr_endpoint_t chosen;
    nat_drop_reason_t reason = NAT_DROP_NONE;
    if (r->suggested_port && !ip_refused && suggestion_usable(e, r, ip)) {
        chosen = addr_endpoint(ip, r->suggested_port);
    } else if (r->prefer_failure && (r->suggested_port || ip_refused)) {
        reason = NAT_DROP_NOT_OURS; /* stands for "cannot provide" below */
    } else if (p->port_block > 0) {
        reason = choose_in_blocks(e, s, r->internal.port, &chosen);
    } else {
        nat_portalloc_request_t req = port_request(e, ip, r->internal.port, p->port_min, p->port_max, e->counter);
        if (nat_portalloc_pick(policy(e), &e->rng, &req, &chosen.port))
            chosen.ip = ip;
        else
            reason = NAT_DROP_PORTS_EXHAUSTED;
    }
    if (reason != NAT_DROP_NONE) {
        if (s)
            subscriber_untake(e, s, proto);
        return reason == NAT_DROP_NOT_OURS ? NAT_MAP_CANNOT_PROVIDE : map_result(reason);
    }
    mapping_insert(e, proto, r->internal, chosen, addr_endpoint(0, 0), NAT_MAPPING_EXPLICIT, now + granted);
    *external = chosen;
    return NAT_MAP_OK;
}

bool nat_engine_unmap(nat_engine_t *e, nat_proto_t proto, addr_endpoint_t internal, usec_t now)
{
    e->now = now;
    uint32_t idx = nat_table_find_explicit(&e->table, proto, internal.ip, internal.port);
    if (idx == NAT_TABLE_NIL)
        return false;
    bool live = mapping_settle(e, idx, now);
    if (live)
        mapping_free(e, idx);
    return live;
}

unsigned nat_engine_unmap_host(nat_engine_t *e, nat_proto_t proto, uint32_t internal_ip, usec_t now)
{
    e->now = now;
    unsigned n = 0;
    for (uint32_t i = 0; i < e->table.slab_used; i++) {
        nat_mapping_t *m = nat_table_get(&e->table, i);
        if (m->state == NAT_MAPPING_ACTIVE && (m->flags & NAT_MAPPING_EXPLICIT) &&
            m->proto == proto && m->int_ip == internal_ip) {
            mapping_free(e, i);
            n++;
        }
    }
    return n;
}

uint32_t nat_engine_external_ip_for(nat_engine_t *e, uint32_t internal_ip, usec_t now)
{
    e->now = now;
    if (e->profile->type != NAT_TYPE_NAT)
        return internal_ip;
    /* Paired pooling: the host's address is fixed from now on, so the address
     * NAT-PMP announces is the one its mappings will use. */
    if (e->track_subscribers)
        return subscriber_get(e, internal_ip)->ext_ip;
    return e->ips[0];
}

usec_t nat_engine_epoch_start(const nat_engine_t *e)
{
    return e->epoch_start;
}
