#include "nat_table.h"

#include <glib.h>
#include <string.h>

#define NAT_TABLE_MIN_BUCKETS 64u


/* The protocol goes into bits 48 and up, which the address and port leave
 * zero: UDP (0) hashes exactly as it did before protocols existed. */
static inline uint32_t hash_internal(uint8_t proto, uint32_t int_ip, uint16_t int_port,
                                     uint32_t rem_ip, uint16_t rem_port)
{
    uint64_t a = ((uint64_t)proto << 48) | ((uint64_t)int_ip << 16) | int_port;
    uint64_t b = ((uint64_t)rem_ip << 16) | rem_port;
    return nat_hash_mix64(a ^ (b * 0x9E3779B97F4A7C15ull));
}

static inline uint32_t hash_external(uint8_t proto, uint32_t ext_ip, uint16_t ext_port)
{
    return nat_hash_mix64(((uint64_t)proto << 48) | ((uint64_t)ext_ip << 16) | ext_port);
}

static inline uint32_t hash_perm(uint32_t mapping, uint32_t ip, uint16_t port)
{
    return nat_hash_mix64(((uint64_t)mapping << 32) ^ ((uint64_t)ip << 16) ^ port ^
                 ((uint64_t)port << 48));
}

static inline void scope_mask(nat_key_scope_t scope, uint32_t *rem_ip, uint16_t *rem_port)
{
    if (scope == NAT_KEY_ENDPOINT)
        *rem_ip = 0;
    if (scope != NAT_KEY_ADDRESS_AND_PORT)
        *rem_port = 0;
}

static uint32_t mapping_internal_hash(const nat_table_t *t, const nat_mapping_t *m)
{
    uint32_t rem_ip = m->rem_ip;
    uint16_t rem_port = m->rem_port;
    scope_mask((m->flags & NAT_MAPPING_EXPLICIT) ? NAT_KEY_ENDPOINT : t->scope[m->proto], &rem_ip,
               &rem_port);
    return hash_internal(m->proto, m->int_ip, m->int_port, rem_ip, rem_port);
}

static uint32_t *buckets_new(uint32_t n)
{
    uint32_t *b = g_new(uint32_t, n);
    memset(b, 0xff, n * sizeof *b);
    return b;
}

void nat_table_init(nat_table_t *t, const nat_key_scope_t scope[NAT_PROTO_COUNT])
{
    memset(t, 0, sizeof *t);
    memcpy(t->scope, scope, sizeof t->scope);
    t->free_head = NAT_TABLE_NIL;
    t->perm_free = NAT_TABLE_NIL;
    t->bucket_mask = NAT_TABLE_MIN_BUCKETS - 1;
    t->int_buckets = buckets_new(NAT_TABLE_MIN_BUCKETS);
    t->ext_buckets = buckets_new(NAT_TABLE_MIN_BUCKETS);
    t->perm_mask = NAT_TABLE_MIN_BUCKETS - 1;
    t->perm_buckets = buckets_new(NAT_TABLE_MIN_BUCKETS);
}

void nat_table_destroy(nat_table_t *t)
{
    g_free(t->slab);
    g_free(t->int_buckets);
    g_free(t->ext_buckets);
    g_free(t->perms);
    g_free(t->perm_buckets);
    memset(t, 0, sizeof *t);
}

void nat_table_clear(nat_table_t *t)
{
    nat_key_scope_t scope[NAT_PROTO_COUNT];
    memcpy(scope, t->scope, sizeof scope);
    nat_table_destroy(t);
    nat_table_init(t, scope);
}

/* Both indexes grow together when the table outgrows a load factor of one;
 * walking the slab rebuilds them from each mapping's own link state. */
static void indexes_grow(nat_table_t *t)
{
    uint32_t n = (t->bucket_mask + 1) * 2;
    g_free(t->int_buckets);
    g_free(t->ext_buckets);
    t->int_buckets = buckets_new(n);
    t->ext_buckets = buckets_new(n);
    t->bucket_mask = n - 1;
    for (uint32_t i = 0; i < t->slab_used; i++) {
        nat_mapping_t *m = &t->slab[i];
        if (m->state == NAT_MAPPING_FREE)
            continue;
        uint32_t he = hash_external(m->proto, m->ext_ip, m->ext_port) & t->bucket_mask;
        m->next_ext = t->ext_buckets[he];
        t->ext_buckets[he] = i;
        if (m->state == NAT_MAPPING_ACTIVE) {
            uint32_t hi = mapping_internal_hash(t, m) & t->bucket_mask;
            m->next_int = t->int_buckets[hi];
            t->int_buckets[hi] = i;
        }
    }
}

uint32_t nat_table_alloc(nat_table_t *t)
{
    uint32_t idx;
    if (t->free_head != NAT_TABLE_NIL) {
        idx = t->free_head;
        t->free_head = t->slab[idx].next_int;
    } else {
        if (t->slab_used == t->slab_cap) {
            t->slab_cap = t->slab_cap ? t->slab_cap * 2 : 64;
            t->slab = g_renew(nat_mapping_t, t->slab, t->slab_cap);
        }
        idx = t->slab_used++;
    }
    nat_mapping_t *m = &t->slab[idx];
    memset(m, 0, sizeof *m);
    m->next_int = m->next_ext = m->perms = m->heap_pos = NAT_TABLE_NIL;
    t->count++;
    if (t->count > t->bucket_mask + 1)
        indexes_grow(t);
    return idx;
}

static void chain_remove(uint32_t *head, nat_mapping_t *slab, uint32_t idx, bool internal)
{
    uint32_t *link = head;
    while (*link != NAT_TABLE_NIL) {
        if (*link == idx) {
            *link = internal ? slab[idx].next_int : slab[idx].next_ext;
            return;
        }
        link = internal ? &slab[*link].next_int : &slab[*link].next_ext;
    }
    g_assert_not_reached();
}

void nat_table_link_internal(nat_table_t *t, uint32_t idx)
{
    nat_mapping_t *m = &t->slab[idx];
    uint32_t h = mapping_internal_hash(t, m) & t->bucket_mask;
    m->next_int = t->int_buckets[h];
    t->int_buckets[h] = idx;
    t->int_count++;
}

void nat_table_unlink_internal(nat_table_t *t, uint32_t idx)
{
    nat_mapping_t *m = &t->slab[idx];
    uint32_t h = mapping_internal_hash(t, m) & t->bucket_mask;
    chain_remove(&t->int_buckets[h], t->slab, idx, true);
    m->next_int = NAT_TABLE_NIL;
    t->int_count--;
}

void nat_table_link_external(nat_table_t *t, uint32_t idx)
{
    nat_mapping_t *m = &t->slab[idx];
    uint32_t h = hash_external(m->proto, m->ext_ip, m->ext_port) & t->bucket_mask;
    m->next_ext = t->ext_buckets[h];
    t->ext_buckets[h] = idx;
}

static void perms_drop(nat_table_t *t, uint32_t idx);

void nat_table_release(nat_table_t *t, uint32_t idx)
{
    nat_mapping_t *m = &t->slab[idx];
    if (m->state == NAT_MAPPING_ACTIVE)
        nat_table_unlink_internal(t, idx);
    uint32_t h = hash_external(m->proto, m->ext_ip, m->ext_port) & t->bucket_mask;
    chain_remove(&t->ext_buckets[h], t->slab, idx, false);
    perms_drop(t, idx);
    m->state = NAT_MAPPING_FREE;
    m->next_int = t->free_head;
    t->free_head = idx;
    t->count--;
}

uint32_t nat_table_find_internal(const nat_table_t *t, uint8_t proto, uint32_t int_ip,
                                 uint16_t int_port, uint32_t rem_ip, uint16_t rem_port)
{
    nat_key_scope_t scope = t->scope[proto];
    scope_mask(scope, &rem_ip, &rem_port);
    uint32_t idx =
        t->int_buckets[hash_internal(proto, int_ip, int_port, rem_ip, rem_port) & t->bucket_mask];
    while (idx != NAT_TABLE_NIL) {
        const nat_mapping_t *m = &t->slab[idx];
        if (m->int_ip == int_ip && m->int_port == int_port && m->proto == proto) {
            if (scope == NAT_KEY_ENDPOINT)
                return idx;
            if (!(m->flags & NAT_MAPPING_EXPLICIT) && m->rem_ip == rem_ip &&
                (scope == NAT_KEY_ADDRESS || m->rem_port == rem_port))
                return idx;
        }
        idx = m->next_int;
    }
    return NAT_TABLE_NIL;
}

uint32_t nat_table_find_explicit(const nat_table_t *t, uint8_t proto, uint32_t int_ip,
                                 uint16_t int_port)
{
    uint32_t idx = t->int_buckets[hash_internal(proto, int_ip, int_port, 0, 0) & t->bucket_mask];
    while (idx != NAT_TABLE_NIL) {
        const nat_mapping_t *m = &t->slab[idx];
        if (m->int_ip == int_ip && m->int_port == int_port && m->proto == proto &&
            (m->flags & NAT_MAPPING_EXPLICIT))
            return idx;
        idx = m->next_int;
    }
    return NAT_TABLE_NIL;
}

uint32_t nat_table_find_external(const nat_table_t *t, uint8_t proto, uint32_t ext_ip,
                                 uint16_t ext_port)
{
    uint32_t idx = t->ext_buckets[hash_external(proto, ext_ip, ext_port) & t->bucket_mask];
    while (idx != NAT_TABLE_NIL) {
        const nat_mapping_t *m = &t->slab[idx];
        if (m->ext_ip == ext_ip && m->ext_port == ext_port && m->proto == proto)
            return idx;
        idx = m->next_ext;
    }
    return NAT_TABLE_NIL;
}

/* ---- permissions ------------------------------------------------------ */

static void perms_grow(nat_table_t *t)
{
    uint32_t n = (t->perm_mask + 1) * 2;
    g_free(t->perm_buckets);
    t->perm_buckets = buckets_new(n);
    t->perm_mask = n - 1;
    for (uint32_t i = 0; i < t->perm_used; i++) {
        nat_perm_t *p = &t->perms[i];
        if (p->mapping == NAT_TABLE_NIL)
            continue;
        uint32_t h = hash_perm(p->mapping, p->ip, p->port) & t->perm_mask;
        p->next_bucket = t->perm_buckets[h];
        t->perm_buckets[h] = i;
    }
}

bool nat_table_perm_has(const nat_table_t *t, uint32_t idx, uint32_t ip, uint16_t port)
{
    const nat_mapping_t *m = &t->slab[idx];
    if (m->rem_ip == ip && (port == 0 || m->rem_port == port))
        return true;
    if (m->perms == NAT_TABLE_NIL)
        return false;
    uint32_t p = t->perm_buckets[hash_perm(idx, ip, port) & t->perm_mask];
    while (p != NAT_TABLE_NIL) {
        const nat_perm_t *perm = &t->perms[p];
        if (perm->mapping == idx && perm->ip == ip && perm->port == port)
            return true;
        p = perm->next_bucket;
    }
    return false;
}

void nat_table_perm_add(nat_table_t *t, uint32_t idx, uint32_t ip, uint16_t port)
{
    if (nat_table_perm_has(t, idx, ip, port))
        return;
    uint32_t p;
    if (t->perm_free != NAT_TABLE_NIL) {
        p = t->perm_free;
        t->perm_free = t->perms[p].next_in_mapping;
    } else {
        if (t->perm_used == t->perm_cap) {
            t->perm_cap = t->perm_cap ? t->perm_cap * 2 : 64;
            t->perms = g_renew(nat_perm_t, t->perms, t->perm_cap);
        }
        p = t->perm_used++;
    }
    nat_mapping_t *m = &t->slab[idx];
    nat_perm_t *perm = &t->perms[p];
    perm->mapping = idx;
    perm->ip = ip;
    perm->port = port;
    perm->next_in_mapping = m->perms;
    m->perms = p;
    t->perm_count++;
    if (t->perm_count > t->perm_mask + 1) {
        perms_grow(t);
    } else {
        uint32_t h = hash_perm(idx, ip, port) & t->perm_mask;
        perm->next_bucket = t->perm_buckets[h];
        t->perm_buckets[h] = p;
    }
}

static void perms_drop(nat_table_t *t, uint32_t idx)
{
    nat_mapping_t *m = &t->slab[idx];
    uint32_t p = m->perms;
    while (p != NAT_TABLE_NIL) {
        nat_perm_t *perm = &t->perms[p];
        uint32_t next = perm->next_in_mapping;
        uint32_t *link = &t->perm_buckets[hash_perm(perm->mapping, perm->ip, perm->port) & t->perm_mask];
        while (*link != p)
            link = &t->perms[*link].next_bucket;
        *link = perm->next_bucket;
        perm->mapping = NAT_TABLE_NIL;
        perm->next_in_mapping = t->perm_free;
        t->perm_free = p;
        t->perm_count--;
        p = next;
    }
    m->perms = NAT_TABLE_NIL;
}
