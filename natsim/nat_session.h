/* TCP sessions: one per connection (mapping, remote endpoint), the unit
 * RFC 5382 and RFC 7857 time out, where a mapping is the unit that holds an
 * external port. A mapping lives as long as its longest-lived session.
 * A slab of 32-byte entries, a chained hash by (mapping, remote) and a chain
 * per mapping (whose heads sit in an array indexed by mapping, allocated on
 * the first TCP session, so UDP-only tables pay nothing). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "common/duration.h"

#define NAT_SESSION_NIL UINT32_MAX

/* The RFC 6146 section 3.5.2 state machine, seen from a NAT44: "out" is a
 * segment from the inside host, "in" one from the remote. */
typedef enum nat_session_state {
    NAT_SESSION_SYN_OUT,     /* V6 INIT: the inside host sent a SYN */
    NAT_SESSION_SYN_IN,      /* V4 INIT: an admitted SYN came from outside */
    NAT_SESSION_ESTABLISHED, /* SYNs seen both ways */
    NAT_SESSION_FIN_OUT,     /* the inside host sent a FIN */
    NAT_SESSION_FIN_IN,      /* the remote sent a FIN */
    NAT_SESSION_CLOSING,     /* FINs seen both ways: transitory, no refresh */
    NAT_SESSION_TRANS,       /* after an RST: transitory until other traffic (RFC 7857 2.2) */
    NAT_SESSION_STATE_COUNT
} nat_session_state_t;


typedef struct nat_session {
    uint32_t mapping, rem_ip;
    uint16_t rem_port;
    uint8_t state, in_use;
    uint32_t next_hash, next_in_mapping; /* free slots chain through next_hash */
    usec_t expires_at;
} nat_session_t;

_Static_assert(sizeof(nat_session_t) == 32, "nat_session_t is a benchmark figure");

typedef struct nat_sessions {
    nat_session_t *slab;
    uint32_t slab_cap, slab_used, free_head, count;
    uint32_t *buckets;
    uint32_t mask;
    uint32_t *heads; /* per mapping index */
    uint32_t heads_cap;
} nat_sessions_t;

void nat_sessions_init(nat_sessions_t *s);
void nat_sessions_destroy(nat_sessions_t *s);

static inline nat_session_t *nat_sessions_get(const nat_sessions_t *s, uint32_t idx)
{
    return &s->slab[idx];
}

uint32_t nat_sessions_find(const nat_sessions_t *s, uint32_t mapping, uint32_t rem_ip,
                           uint16_t rem_port);
uint32_t nat_sessions_add(nat_sessions_t *s, uint32_t mapping, uint32_t rem_ip, uint16_t rem_port,
                          nat_session_state_t state, usec_t expires_at);
void nat_sessions_remove(nat_sessions_t *s, uint32_t idx);
/* Removes every session of a mapping (it is being freed). */
void nat_sessions_remove_mapping(nat_sessions_t *s, uint32_t mapping);
/* Removes the mapping's sessions expired at `now`; returns the latest
 * expiry of those left (0 if none). */
usec_t nat_sessions_sweep(nat_sessions_t *s, uint32_t mapping, usec_t now);
/* The first session of a mapping and the next one: for iteration. */
uint32_t nat_sessions_first(const nat_sessions_t *s, uint32_t mapping);
static inline uint32_t nat_sessions_next(const nat_sessions_t *s, uint32_t idx)
{
    return s->slab[idx].next_in_mapping;
}
