#include "nat_router.h"

#include <json-glib/json-glib.h>

#include "common/wire.h"

/* RFC 4787 REQ-13/14: a NAT must pass fragmented UDP. Only the first fragment
 * carries the ports, so the translation decided for it is remembered for the
 * datagram (by source, destination, protocol and IP ID) and applied to the
 * fragments that follow. Fragments that arrive before their first one are
 * dropped and counted: in-order delivery is what the lab's links produce. */
#define FRAG_LIFETIME (5 * USEC_PER_SEC)
#define FRAG_TABLE_MAX 4096

typedef struct frag_key {
    uint32_t src, dst;
    uint16_t id;
    uint8_t protocol, path;
} frag_key_t;

/* An unsolicited SYN held for RFC 5382 REQ-4, by its endpoint pair. All are
 * held equally long, so arrival order is due order: a FIFO of entries, with
 * a hash to find one when an outbound SYN supersedes it. */
typedef struct syn_key {
    uint32_t remote_ip, external_ip;
    uint16_t remote_port, external_port;
} syn_key_t;

typedef struct held_syn {
    syn_key_t key;
    usec_t due;
    bool superseded;
    size_t len;
    uint8_t data[PACKET_ICMP_QUOTE_MAX];
} held_syn_t;

typedef struct frag_entry {
    frag_key_t key;
    uint32_t new_src, new_dst;
    usec_t expires_at;
} frag_entry_t;

struct nat_router {
    nat_engine_t *engine;
    nat_impair_t *inbound, *outbound;
    GHashTable *frags; /* frag_key_t -> frag_entry_t */
    usec_t frag_sweep_at;
    usec_t icmp_window; /* the second the ICMP budget belongs to */
    unsigned icmp_budget;
    GHashTable *held_by_pair; /* syn_key_t -> held_syn_t (owned by the queue) */
    GQueue held;              /* held_syn_t, oldest first */
    nat_router_stats_t stats;
};

static guint frag_hash(gconstpointer p)
{
    const frag_key_t *k = p;
    return k->src * 2654435761u ^ k->dst * 40503u ^ ((guint)k->id << 8 | k->protocol) ^ k->path;
}

static gboolean frag_equal(gconstpointer a, gconstpointer b)
{
    const frag_key_t *x = a, *y = b;
    return x->src == y->src && x->dst == y->dst && x->id == y->id && x->protocol == y->protocol &&
           x->path == y->path;
}

static frag_key_t frag_key_of(const packet_t *pkt, nat_router_path_t path)
{
    return (frag_key_t){ .src = pkt->src, .dst = pkt->dst, .id = wire_get16(pkt->data + 4),
                         .protocol = pkt->protocol, .path = (uint8_t)path };
}

static guint syn_hash(gconstpointer p)
{
    const syn_key_t *k = p;
    return k->remote_ip * 2654435761u ^ k->external_ip * 40503u ^
           ((guint)k->remote_port << 16 | k->external_port);
}

static gboolean syn_equal(gconstpointer a, gconstpointer b)
{
    return memcmp(a, b, sizeof(syn_key_t)) == 0;
}

static const char *const drop_names[NAT_ROUTER_DROP_REASON_COUNT] = {
    [NAT_ROUTER_DROP_NONE] = "none",
    [NAT_ROUTER_DROP_MALFORMED] = "malformed",
    [NAT_ROUTER_DROP_FRAGMENT] = "fragment-without-first",
    [NAT_ROUTER_DROP_NOT_UDP] = "not-udp",
    [NAT_ROUTER_DROP_ICMP_UNKNOWN] = "icmp-no-mapping",
    [NAT_ROUTER_DROP_ENGINE] = "engine",
    [NAT_ROUTER_DROP_LOSS] = "impairment-loss",
    [NAT_ROUTER_DROP_ICMP_UNSUPPORTED] = "icmp-unsupported",
};

static const char *const path_names[NAT_ROUTER_PATH_COUNT] = {
    [NAT_ROUTER_OUTBOUND] = "outbound",
    [NAT_ROUTER_INBOUND] = "inbound",
    [NAT_ROUTER_HAIRPIN] = "hairpin",
};

const char *nat_router_drop_name(nat_router_drop_t drop)
{
    return drop < NAT_ROUTER_DROP_REASON_COUNT ? drop_names[drop] : "unknown";
}

const char *nat_router_path_name(nat_router_path_t path)
{
    return path < NAT_ROUTER_PATH_COUNT ? path_names[path] : "unknown";
}

nat_router_t *nat_router_new(nat_engine_t *engine, uint64_t seed)
{
    nat_router_t *r = g_new0(nat_router_t, 1);
    r->engine = engine;
    const nat_profile_t *p = nat_engine_profile(engine);
    /* Distinct streams per direction, both derived from the run's seed. */
    r->inbound = nat_impair_new(&p->inbound, seed ^ 0x1b873593u);
    r->outbound = nat_impair_new(&p->outbound, seed ^ 0xcc9e2d51u);
    r->frags = g_hash_table_new_full(frag_hash, frag_equal, NULL, g_free);
    r->held_by_pair = g_hash_table_new(syn_hash, syn_equal);
    g_queue_init(&r->held);
    r->icmp_window = -1;
    return r;
}

void nat_router_free(nat_router_t *r)
{
    if (!r)
        return;
    nat_impair_free(r->inbound);
    nat_impair_free(r->outbound);
    if (r->frags)
        g_hash_table_destroy(r->frags);
    if (r->held_by_pair)
        g_hash_table_destroy(r->held_by_pair);
    g_queue_clear_full(&r->held, g_free);
    g_free(r);
}

void nat_router_profile_changed(nat_router_t *r)
{
    const nat_profile_t *p = nat_engine_profile(r->engine);
    nat_impair_set(r->inbound, &p->inbound);
    nat_impair_set(r->outbound, &p->outbound);
}

/* One budget for every message natsim makes up itself. */
static bool reply_budget(nat_router_t *r, usec_t now)
{
    if (now / USEC_PER_SEC != r->icmp_window) {
        r->icmp_window = now / USEC_PER_SEC;
        r->icmp_budget = NAT_ROUTER_ICMP_PER_SEC;
    }
    if (r->icmp_budget == 0)
        return false;
    r->icmp_budget--;
    return true;
}

size_t nat_router_build_reply(nat_router_t *r, const nat_router_decision_t *d, const uint8_t *orig,
                              size_t len, uint32_t from_inside, uint8_t *out, size_t cap, usec_t now)
{
    if (d->reply == NAT_REPLY_NONE || d->reply == NAT_REPLY_HOLD_SYN || len < PACKET_IPV4_HEADER_MIN)
        return 0;
    uint8_t small[2048];
    uint8_t *copy = len <= sizeof small ? small : g_malloc(len);
    memcpy(copy, orig, len);
    packet_t pkt;
    size_t n = 0;
    if (packet_parse(copy, len, &pkt) && packet_may_send_icmp_error(&pkt) && reply_budget(r, now)) {
        uint32_t from = d->came_inbound ? pkt.dst : from_inside;
        switch (d->reply) {
        case NAT_REPLY_TCP_RST:
            n = packet_build_tcp_reset(out, cap, &pkt, PACKET_IPV4_DEFAULT_TTL);
            break;
        case NAT_REPLY_ICMP_PORT_UNREACHABLE:
            n = packet_build_icmp_error(out, cap, from, PACKET_ICMP_DEST_UNREACH,
                                        PACKET_ICMP_CODE_PORT_UNREACH, 0, orig, len, 0,
                                        PACKET_IPV4_DEFAULT_TTL);
            break;
        case NAT_REPLY_ICMP_ADMIN_PROHIBITED:
            n = packet_build_icmp_error(out, cap, from, PACKET_ICMP_DEST_UNREACH,
                                        PACKET_ICMP_CODE_ADMIN_PROHIBITED, 0, orig, len, 0,
                                        PACKET_IPV4_DEFAULT_TTL);
            break;
        case NAT_REPLY_NONE:
        case NAT_REPLY_HOLD_SYN:
            break;
        }
        r->stats.replies[d->reply] += n > 0;
    }
    if (copy != small)
        g_free(copy);
    return n;
}

static void syn_hold(nat_router_t *r, const packet_t *pkt, usec_t now)
{
    syn_key_t key = { .remote_ip = pkt->src, .external_ip = pkt->dst, .remote_port = pkt->sport,
                      .external_port = pkt->dport };
    if (g_hash_table_contains(r->held_by_pair, &key))
        return; /* a retransmission: the first one's clock runs */
    if (g_queue_get_length(&r->held) >= NAT_ROUTER_SYN_HOLD_MAX) {
        r->stats.syn_held_overflow++;
        return;
    }
    held_syn_t *h = g_new(held_syn_t, 1);
    h->key = key;
    h->due = now + NAT_ROUTER_SYN_HOLD;
    h->superseded = false;
    h->len = MIN(pkt->len, sizeof h->data);
    memcpy(h->data, pkt->data, h->len);
    g_queue_push_tail(&r->held, h);
    g_hash_table_insert(r->held_by_pair, &h->key, h);
    r->stats.syn_held++;
}

/* REQ-4: "If during this interval the NAT receives and translates an
 * outbound SYN for the connection the NAT MUST silently drop the original
 * unsolicited inbound SYN packet." */
static void syn_supersede(nat_router_t *r, addr_endpoint_t external, addr_endpoint_t remote)
{
    syn_key_t key = { .remote_ip = remote.ip, .external_ip = external.ip,
                      .remote_port = remote.port, .external_port = external.port };
    held_syn_t *h = g_hash_table_lookup(r->held_by_pair, &key);
    if (!h)
        return;
    h->superseded = true;
    g_hash_table_remove(r->held_by_pair, &key);
    r->stats.syn_held_superseded++;
}

usec_t nat_router_next_due(const nat_router_t *r)
{
    const held_syn_t *h = g_queue_peek_head((GQueue *)&r->held);
    return h ? h->due : NAT_IMPAIR_NEVER;
}

size_t nat_router_held_due(nat_router_t *r, usec_t now, uint8_t *out, size_t cap)
{
    held_syn_t *h;
    while ((h = g_queue_peek_head(&r->held)) && h->due <= now) {
        g_queue_pop_head(&r->held);
        size_t n = 0;
        if (!h->superseded) {
            g_hash_table_remove(r->held_by_pair, &h->key);
            /* "Otherwise, the NAT SHOULD send an ICMP Port Unreachable error
             * (Type 3, Code 3) for the original SYN" */
            if (reply_budget(r, now))
                n = packet_build_icmp_error(out, cap, h->key.external_ip, PACKET_ICMP_DEST_UNREACH,
                                            PACKET_ICMP_CODE_PORT_UNREACH, 0, h->data, h->len, 0,
                                            PACKET_IPV4_DEFAULT_TTL);
            r->stats.syn_held_answered += n > 0;
        }
        g_free(h);
        if (n > 0)
            return n;
    }
    return 0;
}

size_t nat_router_icmp_unreachable(nat_router_t *r, const uint8_t *orig, size_t len, uint32_t from,
                                   uint8_t *out, size_t cap)
{
    size_t n = packet_build_icmp_error(out, cap, from, PACKET_ICMP_DEST_UNREACH,
                                       PACKET_ICMP_CODE_HOST_UNREACH, 0, orig, len, 0,
                                       PACKET_IPV4_DEFAULT_TTL);
    r->stats.icmp_sent += n > 0;
    return n;
}

nat_impair_t *nat_router_impairment(nat_router_t *r, bool inbound)
{
    return inbound ? r->inbound : r->outbound;
}

const nat_router_stats_t *nat_router_stats(const nat_router_t *r)
{
    return &r->stats;
}

static nat_router_decision_t dropped(nat_router_t *r, nat_router_drop_t why)
{
    r->stats.drops[why]++;
    return (nat_router_decision_t){ .action = NAT_ROUTER_DROP, .drop = why };
}

static nat_router_decision_t engine_dropped(nat_router_t *r, nat_drop_reason_t reason)
{
    nat_router_decision_t d = dropped(r, NAT_ROUTER_DROP_ENGINE);
    d.engine_reason = reason;
    return d;
}

static bool translating(const nat_router_t *r)
{
    return nat_engine_profile(r->engine)->type == NAT_TYPE_NAT;
}

/* RFC 4787 REQ-12 / RFC 5508 REQ-3: an ICMP error about a mapped UDP flow
 * or echo is translated like it (an echo's identifier stands for both
 * ports); errors never refresh the mapping. */
static nat_router_decision_t icmp_error(nat_router_t *r, packet_t *pkt, nat_router_path_t path,
                                        usec_t now)
{
    bool inbound = path == NAT_ROUTER_INBOUND;
    const packet_inner_t *inner = &pkt->inner;
    nat_proto_t proto = NAT_PROTO_UDP;
    uint16_t sport = inner->sport, dport = inner->dport;
    if (inner->has_icmp_id) {
        proto = NAT_PROTO_ICMP;
        sport = dport = inner->icmp_id;
    } else if (inner->protocol == PACKET_IPPROTO_TCP && inner->has_ports) {
        proto = NAT_PROTO_TCP;
    } else if (inner->protocol != PACKET_IPPROTO_UDP || !inner->has_ports) {
        return dropped(r, NAT_ROUTER_DROP_NOT_UDP);
    }
    if (!translating(r)) {
        if (nat_engine_profile(r->engine)->type == NAT_TYPE_BLOCKED)
            return engine_dropped(r, NAT_DROP_UDP_BLOCKED);
        return (nat_router_decision_t){ .action = NAT_ROUTER_ACCEPT, .to_inside = inbound };
    }
    nat_mapping_info_t m;
    if (inbound) {
        /* The quoted packet is one we sent: its source is our external endpoint. */
        if (!nat_engine_lookup_external(r->engine, proto, addr_endpoint(inner->src, sport), now, &m))
            return dropped(r, NAT_ROUTER_DROP_ICMP_UNKNOWN);
        packet_icmp_rewrite_inner(pkt, PACKET_SIDE_SRC, m.internal.ip, m.internal.port);
    } else {
        /* A host inside complains about a packet it received through us. */
        if (!nat_engine_lookup_internal(r->engine, proto, addr_endpoint(inner->dst, dport),
                                        addr_endpoint(inner->src, proto == NAT_PROTO_ICMP ? 0 : sport),
                                        now, &m))
            return dropped(r, NAT_ROUTER_DROP_ICMP_UNKNOWN);
        addr_endpoint_t quoted_src = addr_endpoint(inner->src, sport);
        packet_icmp_rewrite_inner(pkt, PACKET_SIDE_DST, m.external.ip, m.external.port);
        /* RFC 5508 section 7 (hairpinning): an error about a hairpinned
         * packet, now from our public address, turns back in towards the
         * host whose external endpoint sent the quoted packet. */
        if (path == NAT_ROUTER_HAIRPIN) {
            nat_mapping_info_t back;
            if (!nat_engine_lookup_external(r->engine, proto, quoted_src, now, &back))
                return dropped(r, NAT_ROUTER_DROP_ICMP_UNKNOWN);
            packet_icmp_rewrite_inner(pkt, PACKET_SIDE_SRC, back.internal.ip, back.internal.port);
            inbound = true;
        }
    }
    r->stats.icmp_translated++;
    return (nat_router_decision_t){ .action = NAT_ROUTER_ACCEPT, .rewritten = true, .to_inside = inbound };
}

/* Parses and classifies; fills `d` and returns false when the packet stops here. */
static bool admit(nat_router_t *r, uint8_t *data, size_t len, packet_t *pkt, nat_router_decision_t *d)
{
    if (!packet_parse(data, len, pkt)) {
        *d = dropped(r, NAT_ROUTER_DROP_MALFORMED);
        d->parse_error = pkt->error;
        r->stats.malformed[pkt->error]++;
        return false;
    }
    switch (pkt->kind) {
    case PACKET_KIND_UDP:
    case PACKET_KIND_TCP:
    case PACKET_KIND_ICMP_ERROR:
        return true;
    case PACKET_KIND_FRAGMENT:
        /* UDP (RFC 4787 REQ-14) and echo queries (ping -s 3000) */
        if (pkt->protocol == PACKET_IPPROTO_UDP || pkt->protocol == PACKET_IPPROTO_ICMP)
            return true;
        break;
    case PACKET_KIND_ICMP:
        if (pkt->has_icmp_id)
            return true;
        *d = dropped(r, NAT_ROUTER_DROP_ICMP_UNSUPPORTED);
        return false;
    case PACKET_KIND_OTHER:
        break;
    }
    *d = dropped(r, NAT_ROUTER_DROP_NOT_UDP);
    return false;
}

static void frag_sweep(nat_router_t *r, usec_t now)
{
    if (now < r->frag_sweep_at && g_hash_table_size(r->frags) < FRAG_TABLE_MAX)
        return;
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, r->frags);
    while (g_hash_table_iter_next(&it, NULL, &value))
        if (((frag_entry_t *)value)->expires_at <= now)
            g_hash_table_iter_remove(&it);
    r->frag_sweep_at = now + FRAG_LIFETIME;
}

/* The first fragment was translated from `key`: its followers go the same way. */
static void frag_remember(nat_router_t *r, const frag_key_t *key, const packet_t *after, usec_t now)
{
    frag_sweep(r, now);
    if (g_hash_table_size(r->frags) >= FRAG_TABLE_MAX)
        return;
    frag_entry_t *e = g_new(frag_entry_t, 1);
    *e = (frag_entry_t){ .key = *key, .new_src = after->src, .new_dst = after->dst,
                         .expires_at = now + FRAG_LIFETIME };
    g_hash_table_replace(r->frags, &e->key, e);
}

/* A fragment without the UDP header: rewrite the addresses as for its first. */
static nat_router_decision_t frag_follow(nat_router_t *r, nat_router_path_t path, packet_t *pkt,
                                         usec_t now)
{
    frag_key_t key = frag_key_of(pkt, path);
    frag_entry_t *e = g_hash_table_lookup(r->frags, &key);
    if (!e || e->expires_at <= now)
        return dropped(r, NAT_ROUTER_DROP_FRAGMENT);
    bool rewrite = e->new_src != pkt->src || e->new_dst != pkt->dst;
    if (e->new_src != pkt->src)
        packet_set_src(pkt, e->new_src, 0);
    if (e->new_dst != pkt->dst)
        packet_set_dst(pkt, e->new_dst, 0);
    return (nat_router_decision_t){ .action = NAT_ROUTER_ACCEPT, .rewritten = rewrite,
                                    .to_inside = path != NAT_ROUTER_OUTBOUND };
}

static inline bool is_follower(const packet_t *pkt)
{
    return pkt->kind == PACKET_KIND_FRAGMENT && !pkt->has_udp && !pkt->has_icmp_id;
}

static inline bool is_first_fragment(const packet_t *pkt)
{
    return pkt->kind == PACKET_KIND_FRAGMENT && (pkt->has_udp || pkt->has_icmp_id);
}

/* An echo request or reply (RFC 5508 section 3): the engine maps its
 * identifier as a port of its own protocol; the remote has no port. */
static nat_router_decision_t echo(nat_router_t *r, nat_router_path_t path, packet_t *pkt, usec_t now)
{
    frag_key_t key = frag_key_of(pkt, path);
    nat_verdict_t v;
    if (path == NAT_ROUTER_INBOUND)
        v = nat_engine_inbound(r->engine, NAT_PROTO_ICMP, addr_endpoint(pkt->src, 0),
                               addr_endpoint(pkt->dst, pkt->icmp_id), now);
    else
        v = nat_engine_outbound(r->engine, NAT_PROTO_ICMP, addr_endpoint(pkt->src, pkt->icmp_id),
                                addr_endpoint(pkt->dst, 0), now);
    if (v.action == NAT_ACTION_DROP)
        return engine_dropped(r, v.reason);
    /* Inbound the identifier comes from dst, outbound (and hairpinned, whose
     * verdict names the receiver) from whichever side was translated. */
    uint16_t id = path == NAT_ROUTER_INBOUND || v.hairpin ? v.dst.port : v.src.port;
    bool rewrite = v.src.ip != pkt->src || v.dst.ip != pkt->dst || id != pkt->icmp_id;
    if (v.src.ip != pkt->src)
        packet_set_src(pkt, v.src.ip, 0);
    if (v.dst.ip != pkt->dst)
        packet_set_dst(pkt, v.dst.ip, 0);
    if (id != pkt->icmp_id)
        packet_set_icmp_id(pkt, id);
    if (is_first_fragment(pkt))
        frag_remember(r, &key, pkt, now);
    r->stats.echo_translated++;
    return (nat_router_decision_t){ .action = NAT_ROUTER_ACCEPT, .rewritten = rewrite,
                                    .to_inside = path == NAT_ROUTER_INBOUND || v.hairpin };
}

/* Writes the verdict's source and destination into the packet; true if
 * anything changed. */
static bool rewrite_endpoints(packet_t *pkt, const nat_verdict_t *v)
{
    bool rewrite = false;
    if (v->src.ip != pkt->src || v->src.port != pkt->sport) {
        packet_set_src(pkt, v->src.ip, v->src.port);
        rewrite = true;
    }
    if (v->dst.ip != pkt->dst || v->dst.port != pkt->dport) {
        packet_set_dst(pkt, v->dst.ip, v->dst.port);
        rewrite = true;
    }
    return rewrite;
}

/* A TCP segment (RFC 5382): the engine keeps the sessions, the router
 * rewrites and, for tcp-unsolicited-syn = hold, keeps the SYN. */
static nat_router_decision_t tcp(nat_router_t *r, nat_router_path_t path, packet_t *pkt, usec_t now)
{
    uint8_t flags = pkt->tcp_flags & (NAT_TCP_FIN | NAT_TCP_SYN | NAT_TCP_RST | NAT_TCP_ACK);
    addr_endpoint_t src = addr_endpoint(pkt->src, pkt->sport), dst = addr_endpoint(pkt->dst, pkt->dport);
    bool inbound = path == NAT_ROUTER_INBOUND;
    nat_verdict_t v = inbound ? nat_engine_inbound_tcp(r->engine, src, dst, flags, now)
                              : nat_engine_outbound_tcp(r->engine, src, dst, flags, now);
    if (v.action == NAT_ACTION_DROP) {
        nat_router_decision_t d = engine_dropped(r, v.reason);
        if (v.reply == NAT_REPLY_HOLD_SYN)
            syn_hold(r, pkt, now);
        else
            d.reply = v.reply;
        return d;
    }
    if (!inbound && !v.hairpin && (flags & NAT_TCP_SYN))
        syn_supersede(r, v.src, v.dst);
    bool rewrite = rewrite_endpoints(pkt, &v);
    r->stats.tcp_translated++;
    return (nat_router_decision_t){ .action = NAT_ROUTER_ACCEPT, .rewritten = rewrite,
                                    .to_inside = inbound || v.hairpin };
}

static nat_router_decision_t translate_inbound(nat_router_t *r, packet_t *pkt, usec_t now)
{
    if (pkt->kind == PACKET_KIND_TCP)
        return tcp(r, NAT_ROUTER_INBOUND, pkt, now);
    if (pkt->kind == PACKET_KIND_ICMP_ERROR)
        return icmp_error(r, pkt, NAT_ROUTER_INBOUND, now);
    if (pkt->has_icmp_id)
        return echo(r, NAT_ROUTER_INBOUND, pkt, now);
    if (is_follower(pkt))
        return frag_follow(r, NAT_ROUTER_INBOUND, pkt, now);
    frag_key_t key = frag_key_of(pkt, NAT_ROUTER_INBOUND);
    nat_verdict_t v = nat_engine_inbound(r->engine, NAT_PROTO_UDP, addr_endpoint(pkt->src, pkt->sport),
                                         addr_endpoint(pkt->dst, pkt->dport), now);
    if (v.action == NAT_ACTION_DROP)
        return engine_dropped(r, v.reason);
    bool rewrite = v.dst.ip != pkt->dst || v.dst.port != pkt->dport;
    if (rewrite)
        packet_set_dst(pkt, v.dst.ip, v.dst.port);
    if (is_first_fragment(pkt))
        frag_remember(r, &key, pkt, now);
    return (nat_router_decision_t){ .action = NAT_ROUTER_ACCEPT, .rewritten = rewrite, .to_inside = true };
}

static nat_router_decision_t translate_outbound(nat_router_t *r, nat_router_path_t path,
                                                packet_t *pkt, usec_t now)
{
    if (pkt->kind == PACKET_KIND_ICMP_ERROR)
        return icmp_error(r, pkt, path, now);
    if (pkt->has_icmp_id)
        return echo(r, path, pkt, now);
    if (pkt->kind == PACKET_KIND_TCP)
        return tcp(r, path, pkt, now);
    if (is_follower(pkt))
        return frag_follow(r, path, pkt, now);
    frag_key_t key = frag_key_of(pkt, path);
    nat_verdict_t v = nat_engine_outbound(r->engine, NAT_PROTO_UDP, addr_endpoint(pkt->src, pkt->sport),
                                          addr_endpoint(pkt->dst, pkt->dport), now);
    if (v.action == NAT_ACTION_DROP) {
        nat_router_decision_t d = engine_dropped(r, v.reason);
        d.reply = v.reply;
        bool no_port = v.reason == NAT_DROP_PORTS_EXHAUSTED || v.reason == NAT_DROP_QUOTA;
        if (no_port && packet_may_send_icmp_error(pkt) && reply_budget(r, now))
            d.icmp_unreachable = true;
        return d;
    }
    bool rewrite = rewrite_endpoints(pkt, &v);
    if (is_first_fragment(pkt))
        frag_remember(r, &key, pkt, now);
    return (nat_router_decision_t){ .action = NAT_ROUTER_ACCEPT, .rewritten = rewrite, .to_inside = v.hairpin };
}

/* The link's verdict on a packet the NAT would forward (or, inbound, is
 * about to see). Loss drops it, delay holds it. */
static void impair(nat_router_t *r, nat_impair_t *imp, nat_router_decision_t *d, usec_t now)
{
    usec_t release_at;
    switch (nat_impair_decide(imp, now, &release_at)) {
    case NAT_IMPAIR_DROP:
        *d = dropped(r, NAT_ROUTER_DROP_LOSS);
        return;
    case NAT_IMPAIR_HOLD:
        d->action = NAT_ROUTER_HOLD;
        d->release_at = release_at;
        return;
    case NAT_IMPAIR_PASS_NOW:
        return;
    }
}

nat_router_decision_t nat_router_process(nat_router_t *r, nat_router_path_t path, uint8_t *data,
                                         size_t len, usec_t now)
{
    r->stats.packets[path]++;
    packet_t pkt;
    nat_router_decision_t d;
    if (!admit(r, data, len, &pkt, &d))
        return d;
    if (path == NAT_ROUTER_INBOUND) {
        /* The link comes before the NAT: a delayed packet meets the NAT late. */
        d = (nat_router_decision_t){ .action = NAT_ROUTER_ACCEPT, .to_inside = true };
        impair(r, r->inbound, &d, now);
        if (d.action != NAT_ROUTER_ACCEPT)
            return d;
        d = translate_inbound(r, &pkt, now);
        d.came_inbound = true;
        return d;
    }
    d = translate_outbound(r, path, &pkt, now);
    /* A hairpinned packet never crosses the outside link. */
    if (d.action == NAT_ROUTER_ACCEPT && !d.to_inside)
        impair(r, r->outbound, &d, now);
    return d;
}

nat_router_decision_t nat_router_release(nat_router_t *r, nat_router_path_t path, uint8_t *data,
                                         size_t len, usec_t now)
{
    if (path != NAT_ROUTER_INBOUND)
        return (nat_router_decision_t){ .action = NAT_ROUTER_ACCEPT, .rewritten = true };
    packet_t pkt;
    nat_router_decision_t d;
    if (!admit(r, data, len, &pkt, &d))
        return d;
    d = translate_inbound(r, &pkt, now);
    d.came_inbound = true;
    return d;
}

static void add_counters(JsonBuilder *b, const char *name, const uint64_t *values,
                         const char *(*label)(int), int count, int first)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_object(b);
    for (int i = first; i < count; i++) {
        json_builder_set_member_name(b, label(i));
        json_builder_add_int_value(b, (gint64)values[i]);
    }
    json_builder_end_object(b);
}

static const char *drop_label(int i) { return nat_router_drop_name((nat_router_drop_t)i); }
static const char *path_label(int i) { return nat_router_path_name((nat_router_path_t)i); }
static const char *error_label(int i) { return packet_error_name((packet_error_t)i); }

static void add_impair(JsonBuilder *b, const char *name, const nat_impair_t *imp)
{
    const nat_impair_stats_t *s = nat_impair_stats(imp);
    json_builder_set_member_name(b, name);
    json_builder_begin_object(b);
    const struct { const char *k; uint64_t v; } fields[] = {
        { "passed", s->passed }, { "lost", s->dropped_loss }, { "held", s->held },
        { "reordered", s->reordered }, { "overflow", s->dropped_overflow },
        { "released", s->released },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(fields); i++) {
        json_builder_set_member_name(b, fields[i].k);
        json_builder_add_int_value(b, (gint64)fields[i].v);
    }
    json_builder_end_object(b);
}

char *nat_router_stats_json(const nat_router_t *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    add_counters(b, "packets", r->stats.packets, path_label, NAT_ROUTER_PATH_COUNT, 0);
    add_counters(b, "drops", r->stats.drops, drop_label, NAT_ROUTER_DROP_REASON_COUNT, 1);
    add_counters(b, "malformed", r->stats.malformed, error_label, PACKET_ERROR_COUNT, 1);
    json_builder_set_member_name(b, "icmp_translated");
    json_builder_add_int_value(b, (gint64)r->stats.icmp_translated);
    json_builder_set_member_name(b, "echo_translated");
    json_builder_add_int_value(b, (gint64)r->stats.echo_translated);
    json_builder_set_member_name(b, "icmp_sent");
    json_builder_add_int_value(b, (gint64)r->stats.icmp_sent);
    const struct { const char *k; uint64_t v; } tcp_fields[] = {
        { "tcp_translated", r->stats.tcp_translated },
        { "tcp_rst_sent", r->stats.replies[NAT_REPLY_TCP_RST] },
        { "port_unreachable_sent", r->stats.replies[NAT_REPLY_ICMP_PORT_UNREACHABLE] },
        { "admin_prohibited_sent", r->stats.replies[NAT_REPLY_ICMP_ADMIN_PROHIBITED] },
        { "syn_held", r->stats.syn_held },
        { "syn_held_superseded", r->stats.syn_held_superseded },
        { "syn_held_answered", r->stats.syn_held_answered },
        { "syn_held_overflow", r->stats.syn_held_overflow },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(tcp_fields); i++) {
        json_builder_set_member_name(b, tcp_fields[i].k);
        json_builder_add_int_value(b, (gint64)tcp_fields[i].v);
    }
    add_impair(b, "impair_inbound", r->inbound);
    add_impair(b, "impair_outbound", r->outbound);
    json_builder_set_member_name(b, "engine");
    g_autofree char *engine = nat_engine_stats_json(r->engine);
    json_builder_add_value(b, json_from_string(engine, NULL));
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    return json_to_string(root, FALSE);
}
