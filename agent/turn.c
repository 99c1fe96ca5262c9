#include "turn.h"

#include <glib.h>
#include <string.h>

#include "common/rng.h"
#include "common/turnmsg.h"

#define MSG_MAX 1600
#define PENDING_DATA_MAX 64
#define QUEUE_MAX 256

typedef struct transaction {
    uint8_t id[STUN_TRANSACTION_ID_SIZE];
    turnmsg_t request;     /* what to send again, with a new nonce if need be */
    usec_t next, deadline; /* next retransmission (UDP), when to give up */
    usec_t rto;
    unsigned tries, stale;
    bool live;
    bool with_credentials; /* sent with USERNAME and MESSAGE-INTEGRITY */
} transaction_t;

typedef struct permission {
    uint32_t ip;
    bool granted;
    usec_t refresh_at;
} permission_t;

typedef struct channel {
    addr_endpoint_t peer;
    uint16_t number;
    bool bound;
    usec_t refresh_at;
} channel_t;

typedef struct datagram {
    addr_endpoint_t peer;
    GBytes *bytes;
} datagram_t;

struct turn {
    turn_config_t cfg;
    char *username, *password, *expected_realm;
    rng_t rng;
    turn_state_t state;
    char *error;
    bool authenticated; /* requests carry credentials (after the first 401) */
    char realm[TURN_TEXT_MAX], nonce[TURN_TEXT_MAX];
    uint8_t key[TURN_KEY_SIZE];
    addr_endpoint_t relayed, mapped;
    uint32_t lifetime_s;
    usec_t refresh_at;
    usec_t last_emit;     /* UDP: keepalives when nothing else went out */
    GArray *transactions; /* transaction_t */
    GArray *permissions;  /* permission_t */
    GArray *channels;     /* channel_t */
    GQueue out, in, waiting; /* GBytes *; datagram_t * (in: from peers, waiting: for a permission) */
    GByteArray *stream;   /* TCP: bytes not yet a whole message */
    unsigned dropped;
};

static void datagram_free(gpointer p)
{
    datagram_t *d = p;
    g_bytes_unref(d->bytes);
    g_free(d);
}

static void fail(turn_t *t, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void fail(turn_t *t, const char *fmt, ...)
{
    if (t->state == TURN_FAILED)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_free(t->error);
    t->error = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    t->state = TURN_FAILED;
    g_array_set_size(t->transactions, 0);
    g_queue_clear_full(&t->waiting, datagram_free);
}

static void emit(turn_t *t, const uint8_t *data, size_t len, usec_t now)
{
    t->last_emit = now;
    if (g_queue_get_length(&t->out) < QUEUE_MAX)
        g_queue_push_tail(&t->out, g_bytes_new(data, len));
}

static const char *method_name(uint16_t method)
{
    switch (method) {
    case TURN_METHOD_ALLOCATE: return "Allocate";
    case TURN_METHOD_REFRESH: return "Refresh";
    case TURN_METHOD_CREATE_PERMISSION: return "CreatePermission";
    case TURN_METHOD_CHANNEL_BIND: return "ChannelBind";
    default: return "request";
    }
}

/* (Re)writes and sends a request under a new transaction id, with the
 * credentials as they now are. */
static void transmit(turn_t *t, transaction_t *x, usec_t now)
{
    for (int i = 0; i < STUN_TRANSACTION_ID_SIZE; i++)
        x->id[i] = (uint8_t)rng_next(&t->rng);
    memcpy(x->request.transaction_id, x->id, sizeof x->id);
    turnmsg_t *m = &x->request;
    m->has &= ~(uint32_t)(TURNMSG_HAS_USERNAME | TURNMSG_HAS_REALM | TURNMSG_HAS_NONCE);
    if (t->authenticated) {
        m->has |= TURNMSG_HAS_USERNAME | TURNMSG_HAS_REALM | TURNMSG_HAS_NONCE;
        g_strlcpy(m->username, t->username, sizeof m->username);
        g_strlcpy(m->realm, t->realm, sizeof m->realm);
        g_strlcpy(m->nonce, t->nonce, sizeof m->nonce);
    }
    uint8_t buf[MSG_MAX];
    size_t n = turnmsg_write(m, t->authenticated ? t->key : NULL, buf, sizeof buf);
    if (n)
        emit(t, buf, n, now);
    x->with_credentials = t->authenticated;
    x->tries = 1;
    x->rto = TURN_RTO;
    x->next = t->cfg.tcp ? 0 : now + x->rto;
    x->deadline = t->cfg.tcp ? now + TURN_TCP_TIMEOUT : 0;
    x->live = true;
}

static void request(turn_t *t, const turnmsg_t *m, usec_t now)
{
    transaction_t x = { .request = *m };
    x.request.msg_class = STUN_CLASS_REQUEST;
    g_array_append_val(t->transactions, x);
    transmit(t, &g_array_index(t->transactions, transaction_t, t->transactions->len - 1), now);
}

static void allocate(turn_t *t, usec_t now)
{
    turnmsg_t m = { .method = TURN_METHOD_ALLOCATE,
                    .has = TURNMSG_HAS_TRANSPORT | TURNMSG_HAS_LIFETIME,
                    .lifetime_s = t->lifetime_s };
    request(t, &m, now);
}

turn_t *turn_new(const turn_config_t *c, usec_t now)
{
    turn_t *t = g_new0(turn_t, 1);
    t->cfg = *c;
    t->username = g_strdup(c->username ? c->username : "");
    t->password = g_strdup(c->password ? c->password : "");
    t->expected_realm = g_strdup(c->realm);
    t->cfg.username = t->username;
    t->cfg.password = t->password;
    t->cfg.realm = t->expected_realm;
    t->lifetime_s = c->lifetime_s ? c->lifetime_s : TURN_LIFETIME_DEFAULT;
    rng_seed(&t->rng, c->seed);
    t->transactions = g_array_new(FALSE, FALSE, sizeof(transaction_t));
    t->permissions = g_array_new(FALSE, FALSE, sizeof(permission_t));
    t->channels = g_array_new(FALSE, FALSE, sizeof(channel_t));
    t->stream = g_byte_array_new();
    g_queue_init(&t->out);
    g_queue_init(&t->in);
    g_queue_init(&t->waiting);
    t->state = TURN_ALLOCATING;
    allocate(t, now);
    return t;
}

void turn_free(turn_t *t)
{
    if (!t)
        return;
    g_free(t->username);
    g_free(t->password);
    g_free(t->expected_realm);
    g_free(t->error);
    g_array_free(t->transactions, TRUE);
    g_array_free(t->permissions, TRUE);
    g_array_free(t->channels, TRUE);
    g_byte_array_free(t->stream, TRUE);
    g_queue_clear_full(&t->out, (GDestroyNotify)g_bytes_unref);
    g_queue_clear_full(&t->in, datagram_free);
    g_queue_clear_full(&t->waiting, datagram_free);
    g_free(t);
}

static permission_t *permission_find(turn_t *t, uint32_t ip)
{
    for (guint i = 0; i < t->permissions->len; i++)
        if (g_array_index(t->permissions, permission_t, i).ip == ip)
            return &g_array_index(t->permissions, permission_t, i);
    return NULL;
}

static channel_t *channel_by_peer(turn_t *t, addr_endpoint_t peer)
{
    for (guint i = 0; i < t->channels->len; i++) {
        channel_t *c = &g_array_index(t->channels, channel_t, i);
        if (c->peer.ip == peer.ip && c->peer.port == peer.port)
            return c;
    }
    return NULL;
}

static channel_t *channel_by_number(turn_t *t, uint16_t number)
{
    for (guint i = 0; i < t->channels->len; i++)
        if (g_array_index(t->channels, channel_t, i).number == number)
            return &g_array_index(t->channels, channel_t, i);
    return NULL;
}

static void create_permission(turn_t *t, uint32_t ip, usec_t now)
{
    turnmsg_t m = { .method = TURN_METHOD_CREATE_PERMISSION, .has = TURNMSG_HAS_PEER,
                    .peer = addr_endpoint(ip, 0) };
    request(t, &m, now);
}

static void channel_bind(turn_t *t, const channel_t *c, usec_t now)
{
    turnmsg_t m = { .method = TURN_METHOD_CHANNEL_BIND, .has = TURNMSG_HAS_PEER | TURNMSG_HAS_CHANNEL,
                    .peer = c->peer, .channel = c->number };
    request(t, &m, now);
}

void turn_permit(turn_t *t, uint32_t ip, usec_t now)
{
    if (t->state == TURN_FAILED || t->state == TURN_CLOSED || permission_find(t, ip))
        return;
    permission_t p = { .ip = ip };
    g_array_append_val(t->permissions, p);
    if (t->state == TURN_READY)
        create_permission(t, ip, now);
}

static void send_now(turn_t *t, addr_endpoint_t peer, const uint8_t *data, size_t len, usec_t now)
{
    uint8_t buf[MSG_MAX];
    size_t n;
    const channel_t *c = channel_by_peer(t, peer);
    if (c && c->bound) {
        n = turnmsg_channel_data(c->number, data, len, t->cfg.tcp, buf, sizeof buf);
    } else {
        turnmsg_t m = { .method = TURN_METHOD_SEND, .msg_class = STUN_CLASS_INDICATION,
                        .has = TURNMSG_HAS_PEER | TURNMSG_HAS_DATA, .peer = peer, .data = data,
                        .data_len = len };
        for (int i = 0; i < STUN_TRANSACTION_ID_SIZE; i++)
            m.transaction_id[i] = (uint8_t)rng_next(&t->rng);
        n = turnmsg_write(&m, NULL, buf, sizeof buf); /* indications are not authenticated */
    }
    if (n)
        emit(t, buf, n, now);
}

bool turn_send(turn_t *t, addr_endpoint_t peer, const uint8_t *data, size_t len, usec_t now)
{
    if (t->state == TURN_FAILED || t->state == TURN_CLOSED || len > MSG_MAX - 64)
        return false;
    turn_permit(t, peer.ip, now);
    if (!channel_by_peer(t, peer) && t->channels->len < TURN_CHANNEL_MAX - TURN_CHANNEL_MIN) {
        channel_t c = { .peer = peer, .number = (uint16_t)(TURN_CHANNEL_MIN + t->channels->len) };
        g_array_append_val(t->channels, c);
        if (t->state == TURN_READY)
            channel_bind(t, &c, now);
    }
    const permission_t *p = permission_find(t, peer.ip);
    if (t->state == TURN_READY && p && p->granted) {
        send_now(t, peer, data, len, now);
        return true;
    }
    if (g_queue_get_length(&t->waiting) >= PENDING_DATA_MAX)
        return false;
    datagram_t *d = g_new(datagram_t, 1);
    *d = (datagram_t){ peer, g_bytes_new(data, len) };
    g_queue_push_tail(&t->waiting, d);
    return true;
}

/* What waited for a permission that is now there goes out. */
static void flush_waiting(turn_t *t, usec_t now)
{
    for (GList *l = t->waiting.head; l;) {
        GList *next = l->next;
        datagram_t *d = l->data;
        const permission_t *p = permission_find(t, d->peer.ip);
        if (p && p->granted) {
            gsize n;
            const uint8_t *b = g_bytes_get_data(d->bytes, &n);
            send_now(t, d->peer, b, n, now);
            g_queue_delete_link(&t->waiting, l);
            datagram_free(d);
        }
        l = next;
    }
}

static void on_ready(turn_t *t, usec_t now)
{
    t->state = TURN_READY;
    for (guint i = 0; i < t->permissions->len; i++)
        create_permission(t, g_array_index(t->permissions, permission_t, i).ip, now);
    for (guint i = 0; i < t->channels->len; i++)
        channel_bind(t, &g_array_index(t->channels, channel_t, i), now);
}

/* A success response to x. */
static void on_success(turn_t *t, transaction_t *x, const turnmsg_t *m, usec_t now)
{
    const turnmsg_t *r = &x->request;
    switch (r->method) {
    case TURN_METHOD_ALLOCATE:
        if (!(m->has & TURNMSG_HAS_RELAYED) || m->relayed.ip == 0 || m->relayed.port == 0) {
            fail(t, "the TURN server's Allocate success has no usable XOR-RELAYED-ADDRESS "
                    "(an IPv4 address and port)");
            return;
        }
        t->relayed = m->relayed;
        t->mapped = m->mapped;
        if (m->has & TURNMSG_HAS_LIFETIME && m->lifetime_s > 0)
            t->lifetime_s = m->lifetime_s;
        t->refresh_at = now + (usec_t)t->lifetime_s * USEC_PER_SEC / 2;
        on_ready(t, now);
        break;
    case TURN_METHOD_REFRESH:
        if (r->lifetime_s == 0) {
            t->state = TURN_CLOSED;
            return;
        }
        if (m->has & TURNMSG_HAS_LIFETIME && m->lifetime_s > 0)
            t->lifetime_s = m->lifetime_s;
        t->refresh_at = now + (usec_t)t->lifetime_s * USEC_PER_SEC / 2;
        break;
    case TURN_METHOD_CREATE_PERMISSION: {
        permission_t *p = permission_find(t, r->peer.ip);
        if (p) {
            p->granted = true;
            p->refresh_at = now + TURN_PERMISSION_REFRESH;
        }
        flush_waiting(t, now);
        break;
    }
    case TURN_METHOD_CHANNEL_BIND: {
        channel_t *c = channel_by_number(t, r->channel);
        if (c) {
            c->bound = true;
            c->refresh_at = now + TURN_CHANNEL_REFRESH;
        }
        /* A binding installs the permission too (RFC 8656 12.2). */
        permission_t *p = permission_find(t, r->peer.ip);
        if (p && !p->granted) {
            p->granted = true;
            p->refresh_at = now + TURN_PERMISSION_REFRESH;
        }
        flush_waiting(t, now);
        break;
    }
    }
}

/* An error response to x: challenges answered, the rest fatal for the
 * allocation (Allocate, Refresh) or logged and dropped (permissions). */
static bool on_error(turn_t *t, transaction_t *x, const turnmsg_t *m, usec_t now)
{
    uint16_t code = m->has & TURNMSG_HAS_ERROR ? m->error_code : 0;
    const char *what = method_name(x->request.method);
    if (code == 401 || code == 438) {
        if (!(m->has & TURNMSG_HAS_NONCE) || (code == 401 && !(m->has & TURNMSG_HAS_REALM))) {
            fail(t, "the TURN server answered %s with %u but no %s", what, code,
                 m->has & TURNMSG_HAS_NONCE ? "REALM" : "NONCE");
            return false;
        }
        if (code == 401 && x->with_credentials) {
            fail(t, "the TURN server refused our credentials (401 %s after authenticating as "
                    "'%s' in realm '%s'): wrong username or password",
                 m->error_reason, t->username, t->realm);
            return false;
        }
        if (code == 438 && ++x->stale > TURN_STALE_NONCE_MAX) {
            fail(t, "the TURN server answered %s with %u %u times in a row (stale nonce loop)",
                 what, code, x->stale);
            return false;
        }
        if (m->has & TURNMSG_HAS_REALM) {
            if (t->expected_realm && strcmp(m->realm, t->expected_realm) != 0) {
                fail(t, "the TURN server's realm is '%s', not the configured '%s'", m->realm,
                     t->expected_realm);
                return false;
            }
            if (t->authenticated && strcmp(m->realm, t->realm) != 0) {
                fail(t, "the TURN server changed its realm from '%s' to '%s'", t->realm, m->realm);
                return false;
            }
            g_strlcpy(t->realm, m->realm, sizeof t->realm);
        }
        g_strlcpy(t->nonce, m->nonce, sizeof t->nonce);
        turnmsg_key(t->username, t->realm, t->password, t->key);
        t->authenticated = true;
        unsigned stale = x->stale;
        transmit(t, x, now);
        x->stale = stale;
        return true; /* the same transaction goes on */
    }
    switch (x->request.method) {
    case TURN_METHOD_ALLOCATE:
    case TURN_METHOD_REFRESH:
        if (x->request.method == TURN_METHOD_REFRESH && x->request.lifetime_s == 0) {
            t->state = TURN_CLOSED;
            return false;
        }
        fail(t, "the TURN server refused %s: %u %s", what, code, m->error_reason);
        return false;
    default:
        /* A permission or binding refused (403 for a forbidden peer, say):
         * that peer stays unreachable through the relay, others do not. */
        return false;
    }
}

static transaction_t *transaction_find(turn_t *t, const uint8_t *id)
{
    for (guint i = 0; i < t->transactions->len; i++) {
        transaction_t *x = &g_array_index(t->transactions, transaction_t, i);
        if (x->live && memcmp(x->id, id, STUN_TRANSACTION_ID_SIZE) == 0)
            return x;
    }
    return NULL;
}

static void sweep_transactions(turn_t *t)
{
    for (guint i = 0; i < t->transactions->len;)
        if (!g_array_index(t->transactions, transaction_t, i).live)
            g_array_remove_index_fast(t->transactions, i);
        else
            i++;
}

static void on_message(turn_t *t, const uint8_t *data, size_t len, usec_t now)
{
    uint16_t number;
    const uint8_t *payload;
    size_t plen;
    if (len >= 1 && (data[0] & 0xC0) == 0x40) {
        const channel_t *c;
        if (turnmsg_read_channel_data(data, len, &number, &payload, &plen) &&
            (c = channel_by_number(t, number)) && c->bound) {
            datagram_t *d = g_new(datagram_t, 1);
            *d = (datagram_t){ c->peer, g_bytes_new(payload, plen) };
            if (g_queue_get_length(&t->in) < QUEUE_MAX)
                g_queue_push_tail(&t->in, d);
            else
                datagram_free(d);
        } else {
            t->dropped++;
        }
        return;
    }
    turnmsg_t m;
    const char *why;
    if (!turnmsg_read(data, len, t->authenticated ? t->key : NULL, &m, &why)) {
        t->dropped++;
        return;
    }
    if (m.msg_class == STUN_CLASS_INDICATION && m.method == TURN_METHOD_DATA) {
        if ((m.has & TURNMSG_HAS_PEER) && (m.has & TURNMSG_HAS_DATA) &&
            g_queue_get_length(&t->in) < QUEUE_MAX) {
            datagram_t *d = g_new(datagram_t, 1);
            *d = (datagram_t){ m.peer, g_bytes_new(m.data, m.data_len) };
            g_queue_push_tail(&t->in, d);
        } else {
            t->dropped++;
        }
        return;
    }
    transaction_t *x = transaction_find(t, m.transaction_id);
    if (!x || (m.msg_class != STUN_CLASS_SUCCESS && m.msg_class != STUN_CLASS_ERROR) ||
        m.method != x->request.method) {
        t->dropped++;
        return;
    }
    /* RFC 8489 9.2.5: once we authenticate, a success must carry a valid
     * MESSAGE-INTEGRITY; anything else is someone else's answer. */
    if (t->authenticated && m.msg_class == STUN_CLASS_SUCCESS &&
        (!(m.has & TURNMSG_HAS_INTEGRITY) || !m.integrity_ok)) {
        t->dropped++;
        return;
    }
    x->live = false;
    if (m.msg_class == STUN_CLASS_SUCCESS)
        on_success(t, x, &m, now);
    else if (on_error(t, x, &m, now))
        x->live = true;
    sweep_transactions(t);
}

void turn_receive(turn_t *t, const uint8_t *data, size_t len, usec_t now)
{
    if (t->state == TURN_FAILED)
        return;
    if (!t->cfg.tcp) {
        on_message(t, data, len, now);
        return;
    }
    g_byte_array_append(t->stream, data, (guint)len);
    while (t->stream->len && t->state != TURN_FAILED) {
        long n = turnmsg_frame_length(t->stream->data, t->stream->len, MSG_MAX);
        if (n < 0) {
            fail(t, "the TURN server's TCP stream is garbled (neither STUN nor ChannelData)");
            return;
        }
        if (n == 0 || (size_t)n > t->stream->len)
            return;
        /* ChannelData over TCP is padded; its own length field says what counts. */
        on_message(t, t->stream->data, (size_t)n, now);
        g_byte_array_remove_range(t->stream, 0, (guint)n);
    }
}

void turn_refresh(turn_t *t, usec_t now)
{
    if (t->state != TURN_READY)
        return;
    for (guint i = 0; i < t->transactions->len; i++) {
        const transaction_t *x = &g_array_index(t->transactions, transaction_t, i);
        if (x->live && x->request.method == TURN_METHOD_REFRESH)
            return; /* one on its way asks the same */
    }
    turnmsg_t m = { .method = TURN_METHOD_REFRESH, .has = TURNMSG_HAS_LIFETIME,
                    .lifetime_s = t->lifetime_s };
    request(t, &m, now);
    t->refresh_at = now + (usec_t)t->lifetime_s * USEC_PER_SEC / 2;
}

void turn_close(turn_t *t, usec_t now)
{
    if (t->state != TURN_READY)
        return;
    turnmsg_t m = { .method = TURN_METHOD_REFRESH, .has = TURNMSG_HAS_LIFETIME, .lifetime_s = 0 };
    request(t, &m, now);
}

bool turn_pop_output(turn_t *t, uint8_t *buf, size_t cap, size_t *len)
{
    GBytes *b = g_queue_peek_head(&t->out);
    if (!b)
        return false;
    gsize n;
    const uint8_t *d = g_bytes_get_data(b, &n);
    g_queue_pop_head(&t->out);
    if (n <= cap)
        memcpy(buf, d, n);
    *len = n <= cap ? n : 0;
    g_bytes_unref(b);
    return true;
}

bool turn_pop_data(turn_t *t, addr_endpoint_t *peer, uint8_t *buf, size_t cap, size_t *len)
{
    datagram_t *d = g_queue_pop_head(&t->in);
    if (!d)
        return false;
    gsize n;
    const uint8_t *b = g_bytes_get_data(d->bytes, &n);
    *peer = d->peer;
    *len = MIN(n, cap);
    if (*len) /* an empty DATA is a datagram too, with no bytes to copy */
        memcpy(buf, b, *len);
    datagram_free(d);
    return true;
}

static usec_t soonest(usec_t a, usec_t b)
{
    return a == 0 ? b : b == 0 ? a : MIN(a, b);
}

usec_t turn_bookkeeping(turn_t *t, usec_t now)
{
    usec_t next = 0;
    for (guint i = 0; i < t->transactions->len && t->state != TURN_FAILED; i++) {
        transaction_t *x = &g_array_index(t->transactions, transaction_t, i);
        if (!x->live)
            continue;
        if (t->cfg.tcp) {
            if (now >= x->deadline) {
                fail(t, "no answer from the TURN server to %s over TCP within %.0f s",
                     method_name(x->request.method), (double)TURN_TCP_TIMEOUT / USEC_PER_SEC);
                break;
            }
            next = soonest(next, x->deadline);
            continue;
        }
        if (now >= x->next) {
            if (x->tries >= TURN_UDP_TRIES) {
                fail(t, "no answer from the TURN server %s to %s after %u tries",
                     "over UDP", method_name(x->request.method), x->tries);
                break;
            }
            /* The same bytes again (RFC 8489 6.2.1): the id must not change. */
            uint8_t buf[MSG_MAX];
            size_t n = turnmsg_write(&x->request, t->authenticated ? t->key : NULL, buf,
                                     sizeof buf);
            if (n)
                emit(t, buf, n, now);
            x->tries++;
            x->rto *= 2;
            x->next = now + x->rto;
        }
        next = soonest(next, x->next);
    }
    if (t->state != TURN_READY)
        return next;
    if (now >= t->refresh_at) {
        turnmsg_t m = { .method = TURN_METHOD_REFRESH, .has = TURNMSG_HAS_LIFETIME,
                        .lifetime_s = t->lifetime_s };
        request(t, &m, now);
        t->refresh_at = now + (usec_t)t->lifetime_s * USEC_PER_SEC / 2;
    }
    next = soonest(next, t->refresh_at);
    if (!t->cfg.tcp) {
        /* RFC 8656 3.7: a Binding indication keeps the NAT's UDP mapping
         * toward the server while no data flows (a listener waiting for a
         * session); without it the allocation's 5-tuple dies with it. */
        if (now - t->last_emit >= TURN_KEEPALIVE) {
            turnmsg_t m = { .method = STUN_METHOD_BINDING, .msg_class = STUN_CLASS_INDICATION };
            for (int i = 0; i < STUN_TRANSACTION_ID_SIZE; i++)
                m.transaction_id[i] = (uint8_t)rng_next(&t->rng);
            uint8_t buf[64];
            size_t n = turnmsg_write(&m, NULL, buf, sizeof buf);
            if (n)
                emit(t, buf, n, now);
        }
        next = soonest(next, t->last_emit + TURN_KEEPALIVE);
    }
    for (guint i = 0; i < t->permissions->len; i++) {
        permission_t *p = &g_array_index(t->permissions, permission_t, i);
        if (!p->granted)
            continue;
        if (now >= p->refresh_at) {
            create_permission(t, p->ip, now);
            p->refresh_at = now + TURN_PERMISSION_REFRESH;
        }
        next = soonest(next, p->refresh_at);
    }
    for (guint i = 0; i < t->channels->len; i++) {
        channel_t *c = &g_array_index(t->channels, channel_t, i);
        if (!c->bound)
            continue;
        if (now >= c->refresh_at) {
            channel_bind(t, c, now);
            c->refresh_at = now + TURN_CHANNEL_REFRESH;
        }
        next = soonest(next, c->refresh_at);
    }
    return next;
}

turn_state_t turn_state(const turn_t *t)
{
    return t->state;
}

const char *turn_error(const turn_t *t)
{
    return t->state == TURN_FAILED ? t->error : NULL;
}

addr_endpoint_t turn_relayed(const turn_t *t)
{
    return t->relayed;
}

addr_endpoint_t turn_mapped(const turn_t *t)
{
    return t->mapped;
}

const char *turn_realm(const turn_t *t)
{
    return t->realm;
}

unsigned turn_dropped(const turn_t *t)
{
    return t->dropped;
}
