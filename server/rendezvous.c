#include "rendezvous.h"

#include <glib.h>
#include <string.h>

#include "common/wire.h"

typedef struct session session_t;

typedef struct reg {
    char name[AGENTMSG_NAME_MAX + 1];
    addr_endpoint_t endpoint;
    gint64 endpoint_key; /* endpoint and transport: the key in by_endpoint while attached */
    bool attached;       /* false: another name took the endpoint; waits for a REGISTER */
    unsigned socket;     /* the server socket it registered on: everything to it leaves there */
    agentmsg_nat_t nat;
    uint8_t n_candidates;
    agentmsg_candidate_t candidates[AGENTMSG_CANDIDATES_MAX];
    agentmsg_replay_t replay; /* over everything it sends the server */
    usec_t deadline;
    session_t *sessions[RENDEZVOUS_SESSIONS_PER_AGENT];
    unsigned n_sessions;
} reg_t;

struct session {
    uint64_t id;
    uint64_t serial; /* creation order */
    reg_t *member[2]; /* 0: the connecting side (controlling), 1: the one asked for */
    uint8_t flags;    /* of its PEERs: AGENTMSG_FLAG_KEY_DERIVED with a secret */
    uint8_t key[AGENTMSG_KEY_SIZE];
    usec_t last_active;
    bool peer_known[2];      /* the member relayed in it: it has its PEER */
    unsigned peer_repeats[2]; /* PEERs sent again to the member */
    /* Token buckets, in units of 1/USEC_PER_SEC packet or byte, so a refill
     * of `elapsed` µs adds exactly elapsed * rate. */
    uint64_t packet_tokens, byte_tokens;
    usec_t refilled;
};

struct rendezvous {
    rendezvous_config_t cfg;
    uint8_t *secret;
    rng_t rng;
    uint64_t counter; /* ours, on everything we send */
    uint64_t sessions_created;
    GHashTable *by_name;     /* name -> reg_t (owned) */
    GHashTable *by_endpoint; /* &endpoint_key -> reg_t, attached registrations only */
    GHashTable *sessions;    /* &id -> session_t (owned) */
    rendezvous_stats_t stats;
};

static bool is_stream(const rendezvous_t *r, unsigned socket)
{
    return r->cfg.first_stream_socket && socket >= r->cfg.first_stream_socket;
}

/* A client is its endpoint on its transport: UDP (every datagram socket,
 * 0), or one TCP connection (1 + its index past first_stream_socket). */
static gint64 endpoint_key(const rendezvous_t *r, addr_endpoint_t ep, unsigned socket)
{
    uint64_t transport = is_stream(r, socket) ? socket - r->cfg.first_stream_socket + 1 : 0;
    return (gint64)(transport << 48 | (uint64_t)ep.ip << 16 | ep.port);
}

rendezvous_t *rendezvous_new(const rendezvous_config_t *config, uint64_t seed)
{
    if (!config)
        return NULL;
    rendezvous_t *r = g_new0(rendezvous_t, 1);
    r->cfg = *config;
    if (config->secret_len) {
        r->secret = g_memdup2(config->secret, config->secret_len);
        r->cfg.secret = r->secret;
    } else {
        r->cfg.secret = NULL;
    }
    if (!r->cfg.registration_lifetime)
        r->cfg.registration_lifetime = RENDEZVOUS_DEFAULT_LIFETIME;
    if (!r->cfg.session_idle)
        r->cfg.session_idle = RENDEZVOUS_DEFAULT_SESSION_IDLE;
    if (!r->cfg.relay_packets_per_s)
        r->cfg.relay_packets_per_s = RENDEZVOUS_DEFAULT_PACKETS_PER_S;
    if (!r->cfg.relay_bytes_per_s)
        r->cfg.relay_bytes_per_s = RENDEZVOUS_DEFAULT_BYTES_PER_S;
    if (!r->cfg.max_registrations)
        r->cfg.max_registrations = RENDEZVOUS_DEFAULT_MAX_REGISTRATIONS;
    if (!r->cfg.peer_repeats)
        r->cfg.peer_repeats = RENDEZVOUS_DEFAULT_PEER_REPEATS;
    rng_seed(&r->rng, seed);
    r->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    r->by_endpoint = g_hash_table_new(g_int64_hash, g_int64_equal);
    r->sessions = g_hash_table_new(g_int64_hash, g_int64_equal);
    return r;
}

void rendezvous_free(rendezvous_t *r)
{
    if (!r)
        return;
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, r->sessions);
    while (g_hash_table_iter_next(&it, NULL, &value))
        g_free(value);
    g_hash_table_iter_init(&it, r->by_name);
    while (g_hash_table_iter_next(&it, NULL, &value))
        g_free(value);
    g_hash_table_destroy(r->sessions);
    g_hash_table_destroy(r->by_endpoint);
    g_hash_table_destroy(r->by_name);
    if (r->secret)
        memset(r->secret, 0, r->cfg.secret_len);
    g_free(r->secret);
    g_free(r);
}

const rendezvous_stats_t *rendezvous_stats(const rendezvous_t *r)
{
    return &r->stats;
}

unsigned rendezvous_registration_count(const rendezvous_t *r)
{
    return g_hash_table_size(r->by_name);
}

unsigned rendezvous_session_count(const rendezvous_t *r)
{
    return g_hash_table_size(r->sessions);
}

unsigned rendezvous_stream_client_count(const rendezvous_t *r)
{
    unsigned n = 0;
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, r->by_name);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        const reg_t *reg = value;
        n += reg->attached && is_stream(r, reg->socket);
    }
    return n;
}

const char *rendezvous_drop_name(enum rendezvous_drop d)
{
    static const char *const names[RENDEZVOUS_DROP_COUNT] = {
        [RENDEZVOUS_DROP_MALFORMED] = "malformed",
        [RENDEZVOUS_DROP_AUTH] = "auth",
        [RENDEZVOUS_DROP_REPLAY] = "replay",
        [RENDEZVOUS_DROP_UNEXPECTED] = "unexpected",
        [RENDEZVOUS_DROP_NOT_REGISTERED] = "not_registered",
        [RENDEZVOUS_DROP_NO_SESSION] = "no_session",
        [RENDEZVOUS_DROP_PEER_AWAY] = "peer_away",
        [RENDEZVOUS_DROP_RATE] = "rate",
        [RENDEZVOUS_DROP_FULL] = "full",
        [RENDEZVOUS_DROP_BAD_SOCKET] = "bad_socket",
    };
    return (unsigned)d < RENDEZVOUS_DROP_COUNT ? names[d] : "?";
}

/* ---- registrations and sessions ------------------------------------------ */

static void session_remove(rendezvous_t *r, session_t *s)
{
    for (unsigned m = 0; m < 2; m++) {
        reg_t *reg = s->member[m];
        for (unsigned i = 0; i < reg->n_sessions; i++) {
            if (reg->sessions[i] == s) {
                reg->sessions[i] = reg->sessions[--reg->n_sessions];
                break;
            }
        }
    }
    g_hash_table_remove(r->sessions, &s->id);
    g_free(s);
}

static void reg_detach(rendezvous_t *r, reg_t *reg)
{
    if (reg->attached)
        g_hash_table_remove(r->by_endpoint, &reg->endpoint_key);
    reg->attached = false;
}

static void reg_remove(rendezvous_t *r, reg_t *reg)
{
    while (reg->n_sessions)
        session_remove(r, reg->sessions[0]);
    reg_detach(r, reg);
    g_hash_table_remove(r->by_name, reg->name);
    g_free(reg);
}

static bool reg_expired(const reg_t *reg, usec_t now)
{
    return now >= reg->deadline;
}

static usec_t session_deadline(const rendezvous_t *r, const session_t *s)
{
    return s->last_active + r->cfg.session_idle;
}

/* Lookups that forget what has expired by `now`: expiry is exact however
 * late rendezvous_expire() runs. */
static reg_t *reg_live(rendezvous_t *r, reg_t *reg, usec_t now)
{
    if (reg && reg_expired(reg, now)) {
        reg_remove(r, reg);
        r->stats.expired_registrations++;
        return NULL;
    }
    return reg;
}

static reg_t *reg_by_name(rendezvous_t *r, const char *name, usec_t now)
{
    return reg_live(r, g_hash_table_lookup(r->by_name, name), now);
}

static reg_t *reg_by_endpoint(rendezvous_t *r, addr_endpoint_t ep, unsigned socket, usec_t now)
{
    gint64 key = endpoint_key(r, ep, socket);
    return reg_live(r, g_hash_table_lookup(r->by_endpoint, &key), now);
}

static session_t *session_by_id(rendezvous_t *r, uint64_t id, usec_t now)
{
    gint64 key = (gint64)id;
    session_t *s = g_hash_table_lookup(r->sessions, &key);
    if (s && now >= session_deadline(r, s)) {
        session_remove(r, s);
        r->stats.expired_sessions++;
        return NULL;
    }
    return s;
}

/* Makes room for one more session of `reg`: ends its least recently active. */
static void reg_make_room(rendezvous_t *r, reg_t *reg)
{
    if (reg->n_sessions < RENDEZVOUS_SESSIONS_PER_AGENT)
        return;
    session_t *oldest = reg->sessions[0];
    for (unsigned i = 1; i < reg->n_sessions; i++)
        if (reg->sessions[i]->last_active < oldest->last_active)
            oldest = reg->sessions[i];
    session_remove(r, oldest);
    r->stats.evicted_sessions++;
}

/* The token buckets of a session: at most one second's budget saved up. */
static bool session_budget_take(const rendezvous_t *r, session_t *s, size_t bytes, usec_t now)
{
    usec_t elapsed = now - s->refilled;
    elapsed = CLAMP(elapsed, 0, USEC_PER_SEC);
    s->refilled = now;
    uint64_t pps = r->cfg.relay_packets_per_s, bps = r->cfg.relay_bytes_per_s;
    s->packet_tokens = MIN(pps * USEC_PER_SEC, s->packet_tokens + (uint64_t)elapsed * pps);
    s->byte_tokens = MIN(bps * USEC_PER_SEC, s->byte_tokens + (uint64_t)elapsed * bps);
    uint64_t need_packets = USEC_PER_SEC, need_bytes = (uint64_t)bytes * USEC_PER_SEC;
    if (s->packet_tokens < need_packets || s->byte_tokens < need_bytes)
        return false;
    s->packet_tokens -= need_packets;
    s->byte_tokens -= need_bytes;
    return true;
}

/* ---- output ---------------------------------------------------------------- */

typedef struct outbox {
    rendezvous_out_t *out;
    unsigned n;
} outbox_t;

static void emit(rendezvous_t *r, outbox_t *box, unsigned socket, addr_endpoint_t to, agentmsg_t *m)
{
    if (box->n >= RENDEZVOUS_OUT_MAX)
        return;
    rendezvous_out_t *o = &box->out[box->n];
    m->counter = ++r->counter;
    o->len = agentmsg_write(m, r->cfg.secret, r->cfg.secret_len, o->data, sizeof o->data);
    if (o->len == 0)
        return;
    o->socket = socket;
    o->to = to;
    box->n++;
}

/* No amplification: an ERROR is cut to the request's size or the floor. */
static void emit_error(rendezvous_t *r, outbox_t *box, unsigned socket, addr_endpoint_t to,
                       uint8_t code, const char *text, size_t request_len)
{
    size_t framing = AGENTMSG_HEADER_SIZE + 1 + 2 + AGENTMSG_TAG_SIZE;
    size_t limit = MAX(request_len, (size_t)RENDEZVOUS_ERROR_FLOOR) - framing;
    agentmsg_t m = { .type = AGENTMSG_ERROR, .code = code, .payload = (const uint8_t *)text,
                     .payload_len = MIN(strlen(text), MIN(limit, (size_t)255)) };
    emit(r, box, socket, to, &m);
    r->stats.errors_sent++;
}

/* The PEER that tells member `to` (0 or 1) about the other one. */
static void emit_peer(rendezvous_t *r, outbox_t *box, const session_t *s, unsigned to)
{
    const reg_t *self = s->member[to], *other = s->member[!to];
    agentmsg_t m = { .type = AGENTMSG_PEER, .flags = s->flags, .session = s->id,
                     .role = to == 0, .nat = other->nat, .endpoint = other->endpoint,
                     .n_candidates = other->n_candidates };
    memcpy(m.name, other->name, sizeof m.name);
    memcpy(m.candidates, other->candidates, sizeof m.candidates);
    memcpy(m.key, s->key, sizeof m.key);
    emit(r, box, self->socket, self->endpoint, &m);
}

/* ---- the three requests ------------------------------------------------------ */

static void drop(rendezvous_t *r, enum rendezvous_drop why)
{
    r->stats.dropped[why]++;
}

/* An agent going away: only from the endpoint the name holds (nobody else
 * can end its sessions); each other member hears at once that its session
 * is over, instead of relaying into nothing until the registration expires. */
static void on_leave(rendezvous_t *r, outbox_t *box, reg_t *reg, gint64 from_key,
                     const agentmsg_t *m)
{
    if (!reg || !reg->attached || reg->endpoint_key != from_key) {
        drop(r, RENDEZVOUS_DROP_NOT_REGISTERED);
        return;
    }
    if (!agentmsg_replay_accept(&reg->replay, m->counter)) {
        drop(r, RENDEZVOUS_DROP_REPLAY);
        return;
    }
    static const char text[] = "the peer left";
    for (unsigned i = 0; i < reg->n_sessions; i++) {
        const session_t *s = reg->sessions[i];
        const reg_t *other = s->member[s->member[0] == reg ? 1 : 0];
        if (!other->attached)
            continue;
        agentmsg_t e = { .type = AGENTMSG_ERROR, .code = AGENTMSG_ERROR_NO_SESSION,
                         .session = s->id, .payload = (const uint8_t *)text,
                         .payload_len = sizeof text - 1 };
        emit(r, box, other->socket, other->endpoint, &e);
        r->stats.errors_sent++;
    }
    reg_remove(r, reg);
    r->stats.leaves++;
}

/* A keepalive from a member that has not shown it knows its newest
 * session: that PEER may have been lost on the way (UDP), so it goes again.
 * Only the newest: an agent with one session at a time has moved on from
 * the older ones, and their PEER would take it back. */
static void repeat_peers(rendezvous_t *r, outbox_t *box, reg_t *reg, usec_t now)
{
    session_t *s = NULL;
    for (unsigned i = 0; i < reg->n_sessions; i++)
        if (!s || reg->sessions[i]->serial > s->serial)
            s = reg->sessions[i];
    if (!s)
        return;
    unsigned self = s->member[0] == reg ? 0 : 1, other = !self;
    if (s->peer_known[self] || s->peer_repeats[self] >= (unsigned)MAX(r->cfg.peer_repeats, 0) ||
        !s->member[other]->attached || reg_expired(s->member[other], now))
        return;
    s->peer_repeats[self]++;
    emit_peer(r, box, s, self);
    r->stats.peer_repeats++;
}

static void on_register(rendezvous_t *r, outbox_t *box, unsigned socket, addr_endpoint_t from,
                        const agentmsg_t *m, size_t len, usec_t now)
{
    if (!m->name[0]) {
        drop(r, RENDEZVOUS_DROP_MALFORMED);
        return;
    }
    reg_t *reg = reg_by_name(r, m->name, now);
    bool moved = false;
    gint64 from_key = endpoint_key(r, from, socket);
    if (m->flags & AGENTMSG_FLAG_LEAVING) {
        on_leave(r, box, reg, from_key, m);
        return;
    }
    if (reg) {
        if (!agentmsg_replay_accept(&reg->replay, m->counter)) {
            drop(r, RENDEZVOUS_DROP_REPLAY);
            return;
        }
        moved = !reg->attached || reg->endpoint_key != from_key;
    } else {
        agentmsg_replay_t fresh = { 0 };
        if (!agentmsg_replay_accept(&fresh, m->counter)) { /* counter 0 */
            drop(r, RENDEZVOUS_DROP_REPLAY);
            return;
        }
        if (g_hash_table_size(r->by_name) >= r->cfg.max_registrations)
            rendezvous_expire(r, now); /* the count includes the expired not yet reclaimed */
        if (g_hash_table_size(r->by_name) >= r->cfg.max_registrations) {
            drop(r, RENDEZVOUS_DROP_FULL);
            emit_error(r, box, socket, from, AGENTMSG_ERROR_FULL, "server full", len);
            return;
        }
        reg = g_new0(reg_t, 1);
        memcpy(reg->name, m->name, sizeof reg->name);
        reg->replay = fresh;
        g_hash_table_insert(r->by_name, reg->name, reg);
    }
    reg_t *holder = reg_by_endpoint(r, from, socket, now);
    if (holder && holder != reg)
        reg_detach(r, holder);
    if (!reg->attached || moved) {
        reg_detach(r, reg);
        reg->endpoint = from;
        reg->endpoint_key = from_key;
        reg->attached = true;
        g_hash_table_insert(r->by_endpoint, &reg->endpoint_key, reg);
    }
    reg->socket = socket;
    reg->nat = m->nat;
    reg->n_candidates = m->n_candidates;
    memcpy(reg->candidates, m->candidates, sizeof reg->candidates);
    reg->deadline = now + r->cfg.registration_lifetime;
    r->stats.registrations++;
    if (is_stream(r, socket))
        r->stats.stream_registrations++;

    agentmsg_t ok = { .type = AGENTMSG_REGISTERED, .endpoint = from,
                      .lifetime_s = (uint16_t)MIN(r->cfg.registration_lifetime / USEC_PER_SEC, 65535) };
    emit(r, box, socket, from, &ok);
    if (!moved) {
        repeat_peers(r, box, reg, now);
        return;
    }
    /* Its NAT gave it a new mapping: the other members must punch again. */
    r->stats.endpoint_changes++;
    for (unsigned i = 0; i < reg->n_sessions; i++) {
        session_t *s = reg->sessions[i];
        unsigned other = s->member[0] == reg ? 1 : 0;
        if (s->member[other]->attached && !reg_expired(s->member[other], now)) {
            emit_peer(r, box, s, other);
            r->stats.peer_updates++;
        }
    }
}

static session_t *session_of_pair(reg_t *a, reg_t *b)
{
    for (unsigned i = 0; i < a->n_sessions; i++) {
        session_t *s = a->sessions[i];
        if (s->member[0] == b || s->member[1] == b)
            return s;
    }
    return NULL;
}

static void on_connect(rendezvous_t *r, outbox_t *box, unsigned socket, addr_endpoint_t from,
                       const agentmsg_t *m, size_t len, usec_t now)
{
    reg_t *a = reg_by_endpoint(r, from, socket, now);
    if (!a) {
        drop(r, RENDEZVOUS_DROP_NOT_REGISTERED);
        emit_error(r, box, socket, from, AGENTMSG_ERROR_NOT_REGISTERED, "REGISTER first", len);
        return;
    }
    if (!agentmsg_replay_accept(&a->replay, m->counter)) {
        drop(r, RENDEZVOUS_DROP_REPLAY);
        return;
    }
    r->stats.connects++;
    reg_t *b = reg_by_name(r, m->name, now);
    if (!b || b == a || !b->attached) {
        char text[64];
        g_snprintf(text, sizeof text, "no agent '%s'", m->name);
        emit_error(r, box, socket, from, AGENTMSG_ERROR_UNKNOWN_PEER, text, len);
        return;
    }
    session_t *old = session_of_pair(a, b);
    if (old)
        session_remove(r, old);
    reg_make_room(r, a);
    reg_make_room(r, b);

    session_t *s = g_new0(session_t, 1);
    do
        s->id = rng_next(&r->rng);
    while (s->id == 0 || g_hash_table_contains(r->sessions, &s->id));
    if (r->cfg.secret) {
        s->flags = AGENTMSG_FLAG_KEY_DERIVED; /* both sides derive it; it never travels */
    } else {
        for (unsigned i = 0; i < AGENTMSG_KEY_SIZE; i += 8) {
            uint64_t v = rng_next(&r->rng);
            wire_put32(s->key + i, (uint32_t)(v >> 32));
            wire_put32(s->key + i + 4, (uint32_t)v);
        }
    }
    s->serial = ++r->sessions_created;
    s->member[0] = a;
    s->member[1] = b;
    s->last_active = s->refilled = now;
    s->packet_tokens = (uint64_t)r->cfg.relay_packets_per_s * USEC_PER_SEC;
    s->byte_tokens = (uint64_t)r->cfg.relay_bytes_per_s * USEC_PER_SEC;
    a->sessions[a->n_sessions++] = s;
    b->sessions[b->n_sessions++] = s;
    g_hash_table_insert(r->sessions, &s->id, s);
    r->stats.sessions++;
    s->peer_known[0] = true; /* it asked: a lost PEER makes it CONNECT again */
    a->socket = socket; /* the reply leaves by the socket the CONNECT came in on */
    emit_peer(r, box, s, 0);
    emit_peer(r, box, s, 1);
}

static void on_relay(rendezvous_t *r, outbox_t *box, unsigned socket, addr_endpoint_t from,
                     const agentmsg_t *m, size_t len, usec_t now)
{
    reg_t *sender = reg_by_endpoint(r, from, socket, now);
    if (!sender) {
        drop(r, RENDEZVOUS_DROP_NOT_REGISTERED);
        return;
    }
    session_t *s = session_by_id(r, m->session, now);
    if (!s || (s->member[0] != sender && s->member[1] != sender)) {
        drop(r, RENDEZVOUS_DROP_NO_SESSION);
        return;
    }
    if (!agentmsg_replay_accept(&sender->replay, m->counter)) {
        drop(r, RENDEZVOUS_DROP_REPLAY);
        return;
    }
    s->peer_known[s->member[0] == sender ? 0 : 1] = true;
    reg_t *other = s->member[s->member[0] == sender ? 1 : 0];
    if (!reg_live(r, other, now)) { /* took the session with it */
        drop(r, RENDEZVOUS_DROP_NO_SESSION);
        return;
    }
    if (!other->attached) {
        drop(r, RENDEZVOUS_DROP_PEER_AWAY);
        return;
    }
    if (!session_budget_take(r, s, len, now)) {
        drop(r, RENDEZVOUS_DROP_RATE);
        return;
    }
    agentmsg_t fwd = { .type = AGENTMSG_RELAY, .session = s->id, .payload = m->payload,
                       .payload_len = m->payload_len };
    unsigned before = box->n;
    emit(r, box, other->socket, other->endpoint, &fwd);
    /* Same framing, same payload: never larger than what came in. */
    if (box->n == before || box->out[before].len > len) {
        box->n = before;
        drop(r, RENDEZVOUS_DROP_MALFORMED);
        return;
    }
    s->last_active = now;
    r->stats.relayed_packets++;
    r->stats.relayed_bytes += box->out[before].len;
}

unsigned rendezvous_handle(rendezvous_t *r, unsigned socket, addr_endpoint_t from,
                           const uint8_t *data, size_t len, usec_t now,
                           rendezvous_out_t out[RENDEZVOUS_OUT_MAX])
{
    outbox_t box = { .out = out };
    if (is_stream(r, socket) && socket - r->cfg.first_stream_socket >= RENDEZVOUS_STREAM_SOCKETS_MAX) {
        drop(r, RENDEZVOUS_DROP_BAD_SOCKET);
        return 0;
    }
    agentmsg_t m;
    enum agentmsg_read_result res = agentmsg_read(data, len, r->cfg.secret, r->cfg.secret_len, &m);
    if (res != AGENTMSG_OK) {
        drop(r, res == AGENTMSG_ERR_AUTH ? RENDEZVOUS_DROP_AUTH : RENDEZVOUS_DROP_MALFORMED);
        return 0;
    }
    switch (m.type) {
    case AGENTMSG_REGISTER:
        on_register(r, &box, socket, from, &m, len, now);
        break;
    case AGENTMSG_CONNECT:
        on_connect(r, &box, socket, from, &m, len, now);
        break;
    case AGENTMSG_RELAY:
        on_relay(r, &box, socket, from, &m, len, now);
        break;
    default:
        drop(r, RENDEZVOUS_DROP_UNEXPECTED);
        break;
    }
    return box.n;
}

void rendezvous_socket_closed(rendezvous_t *r, unsigned socket)
{
    if (!is_stream(r, socket))
        return;
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, r->by_name);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        reg_t *reg = value;
        if (reg->attached && reg->socket == socket) {
            reg_detach(r, reg);
            r->stats.streams_closed++;
        }
    }
}

/* O(registrations + sessions): a sweep once a second over a lab's few
 * thousand entries costs less than keeping a deadline heap in step. */
usec_t rendezvous_expire(rendezvous_t *r, usec_t now)
{
    GPtrArray *due = g_ptr_array_new();
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, r->by_name);
    while (g_hash_table_iter_next(&it, NULL, &value))
        if (reg_expired(value, now))
            g_ptr_array_add(due, value);
    for (unsigned i = 0; i < due->len; i++)
        reg_remove(r, due->pdata[i]);
    r->stats.expired_registrations += due->len;
    g_ptr_array_set_size(due, 0);

    g_hash_table_iter_init(&it, r->sessions);
    while (g_hash_table_iter_next(&it, NULL, &value))
        if (now >= session_deadline(r, value))
            g_ptr_array_add(due, value);
    for (unsigned i = 0; i < due->len; i++)
        session_remove(r, due->pdata[i]);
    r->stats.expired_sessions += due->len;
    g_ptr_array_free(due, TRUE);

    usec_t next = RENDEZVOUS_NEVER;
    g_hash_table_iter_init(&it, r->by_name);
    while (g_hash_table_iter_next(&it, NULL, &value))
        next = MIN(next, ((reg_t *)value)->deadline);
    g_hash_table_iter_init(&it, r->sessions);
    while (g_hash_table_iter_next(&it, NULL, &value))
        next = MIN(next, session_deadline(r, value));
    return next;
}
