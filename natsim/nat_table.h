/* The mapping table: a slab of mappings indexed twice, by internal key (for
 * outbound packets) and by external address:port (for inbound packets and for
 * "is this port taken"), plus the filter permissions each mapping has earned.
 * Indexes are chained hash tables of 32-bit slab indices, so a mapping costs
 * its slab entry plus two bucket words: the engine benchmark measures it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/duration.h"
#include "nat_proto.h"

#define NAT_TABLE_NIL UINT32_MAX

/* The 64-bit finaliser of MurmurHash3: every bit of the key moves every bit
 * of the hash, so masked low bits index the buckets well. */
static inline uint32_t nat_hash_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (uint32_t)x;
}

typedef enum nat_mapping_state {
    NAT_MAPPING_FREE,
    NAT_MAPPING_ACTIVE,
    NAT_MAPPING_HELD, /* expired, its external port in hold-down (RFC 6888 REQ-8) */
} nat_mapping_state_t;

enum nat_mapping_flags {
    NAT_MAPPING_EXPLICIT = 1 << 0, /* created by NAT-PMP/PCP */
    NAT_MAPPING_REPLIED = 1 << 1,  /* an inbound packet was admitted */
};

typedef struct nat_mapping {
    uint32_t int_ip, ext_ip, rem_ip; /* rem: the first remote; the ADM/APDM key part */
    uint16_t int_port, ext_port, rem_port;
    uint8_t state, flags;
    uint32_t next_int, next_ext; /* hash chains */
    uint32_t perms;              /* overflow permissions beyond the first remote */
    uint32_t heap_pos;           /* this mapping's slot in the timer heap */
    uint8_t proto;               /* nat_proto_t; sits in what was padding */
    usec_t expires_at;           /* active: idle expiry; held: end of hold-down */
} nat_mapping_t;

/* The protocol took padding, not room: bytes per mapping is a benchmark figure. */
_Static_assert(sizeof(nat_mapping_t) == 48, "nat_mapping_t grew");

/* How much of the remote endpoint is part of the internal key (RFC 4787 4.1). */
typedef enum nat_key_scope {
    NAT_KEY_ENDPOINT, /* EIM, and explicit mappings */
    NAT_KEY_ADDRESS,  /* ADM */
    NAT_KEY_ADDRESS_AND_PORT,
} nat_key_scope_t;

typedef struct nat_perm {
    uint32_t mapping, ip;
    uint16_t port;
    uint32_t next_bucket, next_in_mapping;
} nat_perm_t;

typedef struct nat_table {
    nat_mapping_t *slab;
    uint32_t slab_cap, slab_used, free_head; /* free slots chain through next_int */
    uint32_t count;                          /* active + held */
    uint32_t *int_buckets, *ext_buckets;
    uint32_t int_count, bucket_mask; /* both indexes share one size */
    nat_key_scope_t scope[NAT_PROTO_COUNT];
    nat_perm_t *perms;
    uint32_t perm_cap, perm_used, perm_free, perm_count;
    uint32_t *perm_buckets;
    uint32_t perm_mask;
} nat_table_t;

/* scope: how much of the remote each protocol's internal key holds. */
void nat_table_init(nat_table_t *t, const nat_key_scope_t scope[NAT_PROTO_COUNT]);
void nat_table_clear(nat_table_t *t);
void nat_table_destroy(nat_table_t *t);

static inline nat_mapping_t *nat_table_get(const nat_table_t *t, uint32_t idx)
{
    return &t->slab[idx];
}

/* A fresh slot; the caller fills the fields and then links it. */
uint32_t nat_table_alloc(nat_table_t *t);
void nat_table_link_internal(nat_table_t *t, uint32_t idx);
void nat_table_unlink_internal(nat_table_t *t, uint32_t idx);
void nat_table_link_external(nat_table_t *t, uint32_t idx);
/* Unlinks from both indexes (as linked), drops permissions, frees the slot. */
void nat_table_release(nat_table_t *t, uint32_t idx);

/* Dynamic lookup with the protocol's key scope; explicit mappings answer
 * only when the scope is endpoint-wide. Every key includes the protocol. */
uint32_t nat_table_find_internal(const nat_table_t *t, uint8_t proto, uint32_t int_ip,
                                 uint16_t int_port, uint32_t rem_ip, uint16_t rem_port);
uint32_t nat_table_find_explicit(const nat_table_t *t, uint8_t proto, uint32_t int_ip,
                                 uint16_t int_port);
uint32_t nat_table_find_external(const nat_table_t *t, uint8_t proto, uint32_t ext_ip,
                                 uint16_t ext_port);

/* Filter permissions (RFC 4787 section 5): the first remote lives inline in
 * the mapping, further ones in a shared hash set. port 0 = any port (ADF). */
bool nat_table_perm_has(const nat_table_t *t, uint32_t idx, uint32_t ip, uint16_t port);
void nat_table_perm_add(nat_table_t *t, uint32_t idx, uint32_t ip, uint16_t port);
