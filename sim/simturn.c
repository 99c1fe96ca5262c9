#include "sim/simturn.h"

#include <string.h>

#include "common/turnmsg.h"

#define ALLOCATIONS_MAX 16
#define PERMISSIONS_MAX 8
#define CHANNELS_MAX 8
#define NONCE "simturn-nonce"

typedef struct allocation {
    addr_endpoint_t client, relayed;
    bool live;
    uint32_t permissions[PERMISSIONS_MAX];
    unsigned n_permissions;
    struct { uint16_t number; addr_endpoint_t peer; } channels[CHANNELS_MAX];
    unsigned n_channels;
} allocation_t;

struct simturn {
    simturn_config_t cfg;
    char *username, *realm;
    uint8_t key[TURN_KEY_SIZE];
    allocation_t alloc[ALLOCATIONS_MAX];
    unsigned n_alloc;
    simturn_stats_t stats;
};

simturn_t *simturn_new(const simturn_config_t *c)
{
    simturn_t *t = g_new0(simturn_t, 1);
    t->cfg = *c;
    t->username = g_strdup(c->username);
    t->realm = g_strdup(c->realm);
    t->cfg.username = t->username;
    t->cfg.realm = t->realm;
    t->cfg.password = NULL;
    turnmsg_key(c->username, c->realm, c->password, t->key);
    return t;
}

void simturn_free(simturn_t *t)
{
    if (!t)
        return;
    g_free(t->username);
    g_free(t->realm);
    g_free(t);
}

bool simturn_owns(const simturn_t *t, uint32_t ip)
{
    return ip == t->cfg.server.ip;
}

const simturn_stats_t *simturn_stats(const simturn_t *t)
{
    return &t->stats;
}

static void push(GArray *out, addr_endpoint_t src, addr_endpoint_t dst, const uint8_t *data,
                 size_t len)
{
    simturn_out_t o = { .src = src, .dst = dst, .len = len };
    if (!len || len > sizeof o.data)
        return;
    memcpy(o.data, data, len);
    g_array_append_val(out, o);
}

static allocation_t *by_client(simturn_t *t, addr_endpoint_t client)
{
    for (unsigned i = 0; i < t->n_alloc; i++)
        if (t->alloc[i].live && addr_endpoint_equal(t->alloc[i].client, client))
            return &t->alloc[i];
    return NULL;
}

static allocation_t *by_relayed(simturn_t *t, addr_endpoint_t relayed)
{
    for (unsigned i = 0; i < t->n_alloc; i++)
        if (t->alloc[i].live && addr_endpoint_equal(t->alloc[i].relayed, relayed))
            return &t->alloc[i];
    return NULL;
}

static bool permitted(const allocation_t *a, uint32_t ip)
{
    for (unsigned i = 0; i < a->n_permissions; i++)
        if (a->permissions[i] == ip)
            return true;
    return false;
}

static void permit(allocation_t *a, uint32_t ip)
{
    if (!permitted(a, ip) && a->n_permissions < PERMISSIONS_MAX)
        a->permissions[a->n_permissions++] = ip;
}

static void respond(simturn_t *t, const turnmsg_t *req, turnmsg_t *resp, bool sign,
                    addr_endpoint_t to, GArray *out)
{
    uint8_t buf[1600];
    resp->method = req->method;
    memcpy(resp->transaction_id, req->transaction_id, sizeof resp->transaction_id);
    size_t n = turnmsg_write(resp, sign ? t->key : NULL, buf, sizeof buf);
    push(out, t->cfg.server, to, buf, n);
}

static void error(simturn_t *t, const turnmsg_t *req, uint16_t code, addr_endpoint_t to, GArray *out)
{
    turnmsg_t r = { .msg_class = STUN_CLASS_ERROR, .has = TURNMSG_HAS_ERROR, .error_code = code };
    if (code == 401) {
        r.has |= TURNMSG_HAS_REALM | TURNMSG_HAS_NONCE;
        g_strlcpy(r.realm, t->realm, sizeof r.realm);
        g_strlcpy(r.nonce, NONCE, sizeof r.nonce);
        g_strlcpy(r.error_reason, "Unauthorized", sizeof r.error_reason);
    }
    respond(t, req, &r, false, to, out);
}

static void request(simturn_t *t, addr_endpoint_t from, const turnmsg_t *m, GArray *out)
{
    if (!(m->has & TURNMSG_HAS_INTEGRITY) || !m->integrity_ok || strcmp(m->username, t->username)) {
        if (m->has & TURNMSG_HAS_INTEGRITY)
            t->stats.refused++;
        error(t, m, 401, from, out);
        return;
    }
    allocation_t *a = by_client(t, from);
    turnmsg_t ok = { .msg_class = STUN_CLASS_SUCCESS };
    switch (m->method) {
    case TURN_METHOD_ALLOCATE:
        if (!a) {
            if (t->n_alloc >= ALLOCATIONS_MAX) {
                error(t, m, 486, from, out);
                return;
            }
            a = &t->alloc[t->n_alloc];
            *a = (allocation_t){ .client = from, .live = true,
                                 .relayed = addr_endpoint(t->cfg.server.ip,
                                                          (uint16_t)(SIMTURN_RELAY_PORT_MIN + t->n_alloc)) };
            t->n_alloc++;
            t->stats.allocations++;
        }
        ok.has = TURNMSG_HAS_RELAYED | TURNMSG_HAS_MAPPED | TURNMSG_HAS_LIFETIME;
        ok.relayed = a->relayed;
        ok.mapped = from;
        ok.lifetime_s = m->has & TURNMSG_HAS_LIFETIME ? m->lifetime_s : 600;
        break;
    case TURN_METHOD_REFRESH:
        if (!a) {
            error(t, m, 437, from, out);
            return;
        }
        ok.has = TURNMSG_HAS_LIFETIME;
        ok.lifetime_s = m->lifetime_s;
        if (m->has & TURNMSG_HAS_LIFETIME && m->lifetime_s == 0)
            a->live = false;
        break;
    case TURN_METHOD_CREATE_PERMISSION:
    case TURN_METHOD_CHANNEL_BIND:
        if (!a || !(m->has & TURNMSG_HAS_PEER)) {
            error(t, m, a ? 400 : 437, from, out);
            return;
        }
        permit(a, m->peer.ip);
        if (m->method == TURN_METHOD_CHANNEL_BIND && a->n_channels < CHANNELS_MAX) {
            a->channels[a->n_channels].number = m->channel;
            a->channels[a->n_channels].peer = m->peer;
            a->n_channels++;
        }
        break;
    default:
        error(t, m, 400, from, out);
        return;
    }
    respond(t, m, &ok, true, from, out);
}

/* From a client to a peer, through its allocation. */
static void relay_out(simturn_t *t, allocation_t *a, addr_endpoint_t peer, const uint8_t *data,
                      size_t len, GArray *out)
{
    if (!permitted(a, peer.ip)) {
        t->stats.denied++;
        return;
    }
    t->stats.relayed_out++;
    push(out, a->relayed, peer, data, len);
}

void simturn_handle(simturn_t *t, addr_endpoint_t from, addr_endpoint_t to, const uint8_t *data,
                    size_t len, usec_t now, GArray *out)
{
    (void)now;
    if (!addr_endpoint_equal(to, t->cfg.server)) {
        /* A peer's datagram to a relayed address: to its client, if permitted. */
        allocation_t *a = by_relayed(t, to);
        if (!a || !permitted(a, from.ip)) {
            t->stats.denied++;
            return;
        }
        uint8_t buf[1600];
        size_t n = 0;
        for (unsigned i = 0; i < a->n_channels && !n; i++)
            if (addr_endpoint_equal(a->channels[i].peer, from))
                n = turnmsg_channel_data(a->channels[i].number, data, len, false, buf, sizeof buf);
        if (!n) {
            turnmsg_t m = { .method = TURN_METHOD_DATA, .msg_class = STUN_CLASS_INDICATION,
                            .has = TURNMSG_HAS_PEER | TURNMSG_HAS_DATA, .peer = from, .data = data,
                            .data_len = len };
            n = turnmsg_write(&m, NULL, buf, sizeof buf);
        }
        t->stats.relayed_in++;
        push(out, t->cfg.server, a->client, buf, n);
        return;
    }
    allocation_t *a = by_client(t, from);
    uint16_t number;
    const uint8_t *payload;
    size_t plen;
    if (len >= 4 && (data[0] & 0xC0) == 0x40) {
        if (!a || !turnmsg_read_channel_data(data, len, &number, &payload, &plen))
            return;
        for (unsigned i = 0; i < a->n_channels; i++)
            if (a->channels[i].number == number)
                relay_out(t, a, a->channels[i].peer, payload, plen, out);
        return;
    }
    turnmsg_t m;
    const char *why;
    if (!turnmsg_read(data, len, t->key, &m, &why))
        return;
    if (m.msg_class == STUN_CLASS_INDICATION) {
        if (m.method == TURN_METHOD_SEND && a && (m.has & TURNMSG_HAS_PEER) && (m.has & TURNMSG_HAS_DATA))
            relay_out(t, a, m.peer, m.data, m.data_len, out);
        return;
    }
    if (m.msg_class == STUN_CLASS_REQUEST)
        request(t, from, &m, out);
}
