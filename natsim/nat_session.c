#include "nat_session.h"
#include "nat_table.h"

#include <glib.h>
#include <string.h>

#define NAT_SESSIONS_MIN_BUCKETS 64u

static inline uint32_t session_hash(uint32_t mapping, uint32_t ip, uint16_t port)
{
    return nat_hash_mix64(((uint64_t)mapping << 32) ^ ((uint64_t)ip << 16) ^ port ^
                          ((uint64_t)port << 48));
}

static uint32_t *nil_array(uint32_t n)
{
    uint32_t *a = g_new(uint32_t, n);
    memset(a, 0xff, n * sizeof *a);
    return a;
}

void nat_sessions_init(nat_sessions_t *s)
{
    memset(s, 0, sizeof *s);
    s->free_head = NAT_SESSION_NIL;
}

void nat_sessions_destroy(nat_sessions_t *s)
{
    g_free(s->slab);
    g_free(s->buckets);
    g_free(s->heads);
    nat_sessions_init(s);
}

static void buckets_grow(nat_sessions_t *s)
{
    uint32_t n = s->buckets ? (s->mask + 1) * 2 : NAT_SESSIONS_MIN_BUCKETS;
    g_free(s->buckets);
    s->buckets = nil_array(n);
    s->mask = n - 1;
    for (uint32_t i = 0; i < s->slab_used; i++) {
        nat_session_t *e = &s->slab[i];
        if (!e->in_use)
            continue;
        uint32_t h = session_hash(e->mapping, e->rem_ip, e->rem_port) & s->mask;
        e->next_hash = s->buckets[h];
        s->buckets[h] = i;
    }
}

static void heads_reserve(nat_sessions_t *s, uint32_t mapping)
{
    if (mapping < s->heads_cap)
        return;
    uint32_t n = MAX(64u, s->heads_cap);
    while (n <= mapping)
        n *= 2;
    s->heads = g_renew(uint32_t, s->heads, n);
    memset(s->heads + s->heads_cap, 0xff, (n - s->heads_cap) * sizeof *s->heads);
    s->heads_cap = n;
}

uint32_t nat_sessions_find(const nat_sessions_t *s, uint32_t mapping, uint32_t rem_ip,
                           uint16_t rem_port)
{
    if (!s->buckets)
        return NAT_SESSION_NIL;
    uint32_t i = s->buckets[session_hash(mapping, rem_ip, rem_port) & s->mask];
    for (; i != NAT_SESSION_NIL; i = s->slab[i].next_hash) {
        const nat_session_t *e = &s->slab[i];
        if (e->mapping == mapping && e->rem_ip == rem_ip && e->rem_port == rem_port)
            return i;
    }
    return NAT_SESSION_NIL;
}

uint32_t nat_sessions_add(nat_sessions_t *s, uint32_t mapping, uint32_t rem_ip, uint16_t rem_port,
                          nat_session_state_t state, usec_t expires_at)
{
    if (!s->buckets || s->count + 1 > s->mask + 1)
        buckets_grow(s);
    heads_reserve(s, mapping);
    uint32_t idx = s->free_head;
    if (idx != NAT_SESSION_NIL) {
        s->free_head = s->slab[idx].next_hash;
    } else {
        if (s->slab_used == s->slab_cap) {
            s->slab_cap = MAX(64u, s->slab_cap * 2);
            s->slab = g_renew(nat_session_t, s->slab, s->slab_cap);
        }
        idx = s->slab_used++;
    }
    uint32_t h = session_hash(mapping, rem_ip, rem_port) & s->mask;
    s->slab[idx] = (nat_session_t){
        .mapping = mapping, .rem_ip = rem_ip, .rem_port = rem_port, .state = (uint8_t)state,
        .in_use = 1, .next_hash = s->buckets[h], .next_in_mapping = s->heads[mapping],
        .expires_at = expires_at,
    };
    s->buckets[h] = idx;
    s->heads[mapping] = idx;
    s->count++;
    return idx;
}

static void unlink_hash(nat_sessions_t *s, uint32_t idx)
{
    nat_session_t *e = &s->slab[idx];
    uint32_t *link = &s->buckets[session_hash(e->mapping, e->rem_ip, e->rem_port) & s->mask];
    while (*link != idx)
        link = &s->slab[*link].next_hash;
    *link = e->next_hash;
}

static void release(nat_sessions_t *s, uint32_t idx)
{
    nat_session_t *e = &s->slab[idx];
    e->in_use = 0;
    e->next_hash = s->free_head;
    s->free_head = idx;
    s->count--;
}

void nat_sessions_remove(nat_sessions_t *s, uint32_t idx)
{
    nat_session_t *e = &s->slab[idx];
    unlink_hash(s, idx);
    uint32_t *link = &s->heads[e->mapping];
    while (*link != idx)
        link = &s->slab[*link].next_in_mapping;
    *link = e->next_in_mapping;
    release(s, idx);
}

void nat_sessions_remove_mapping(nat_sessions_t *s, uint32_t mapping)
{
    if (mapping >= s->heads_cap)
        return;
    uint32_t i = s->heads[mapping];
    while (i != NAT_SESSION_NIL) {
        uint32_t next = s->slab[i].next_in_mapping;
        unlink_hash(s, i);
        release(s, i);
        i = next;
    }
    s->heads[mapping] = NAT_SESSION_NIL;
}

usec_t nat_sessions_sweep(nat_sessions_t *s, uint32_t mapping, usec_t now)
{
    usec_t latest = 0;
    if (mapping >= s->heads_cap)
        return 0;
    uint32_t *link = &s->heads[mapping];
    while (*link != NAT_SESSION_NIL) {
        uint32_t i = *link;
        nat_session_t *e = &s->slab[i];
        if (now >= e->expires_at) {
            *link = e->next_in_mapping;
            unlink_hash(s, i);
            release(s, i);
            continue;
        }
        latest = MAX(latest, e->expires_at);
        link = &e->next_in_mapping;
    }
    return latest;
}

uint32_t nat_sessions_first(const nat_sessions_t *s, uint32_t mapping)
{
    return mapping < s->heads_cap ? s->heads[mapping] : NAT_SESSION_NIL;
}
