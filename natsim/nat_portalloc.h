/* External port choice (RFC 4787 section 4.2), written as netfilter's
 * nf_nat_core does it: numbered steps, each one a policy switch so that
 * badly behaved NATs can be modelled as well as good ones. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "common/rng.h"
#include "nat_profile.h"

typedef bool (*nat_port_taken_fn)(void *ctx, uint32_t ip, uint16_t port);

typedef struct nat_portalloc_policy {
    nat_allocation_t allocation;
    nat_allocation_t preserve_fallback; /* sequential or random */
    uint16_t step;
    bool parity;
} nat_portalloc_policy_t;

typedef struct nat_portalloc_request {
    uint32_t ip;            /* the external address the port is for */
    uint16_t internal_port; /* what preservation and parity follow */
    uint16_t lo, hi;        /* search range: the NAT's range or a CGN block */
    uint16_t *counter;      /* the sequential counter this range shares */
    nat_port_taken_fn taken;
    void *ctx;
} nat_portalloc_request_t;

/* Steps: 1. keep the internal port if allowed and free (preserve);
 *        2. sequential: counter + step, on and on while taken;
 *        3. random: a few uniform draws, then a scan from a random start.
 * Parity (REQ-4) restricts every step to ports of the internal port's parity.
 * Returns false when every port of the range is taken. */
bool nat_portalloc_pick(const nat_portalloc_policy_t *policy, rng_t *rng,
                        const nat_portalloc_request_t *req, uint16_t *out);
/* Only step 1: is the preserved port available on this address? */
bool nat_portalloc_try_preserve(const nat_portalloc_policy_t *policy,
                                const nat_portalloc_request_t *req);
