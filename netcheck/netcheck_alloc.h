/* The port allocation pattern behind a list of mappings (rfc-digest
 * section 3, "Port allocation"): preservation, sequential with its step, or
 * random; the fallback of a preserving NAT; parity; pooling. Pure, and
 * shared by netcheck's UDP tests and its TCP tests (netcheck_tcp). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "common/addr.h"
#include "natsim/nat_profile.h"

/* One mapping the NAT created, in creation order. */
typedef struct netcheck_sample {
    unsigned socket;
    addr_endpoint_t local, to, mapped;
    bool preserved; /* mapped port == local port */
} netcheck_sample_t;

#define NETCHECK_MAX_SAMPLES 64

enum netcheck_alloc_known {
    NETCHECK_ALLOC_KNOWN_ALLOCATION = 1 << 0,
    NETCHECK_ALLOC_KNOWN_FALLBACK = 1 << 1,
    NETCHECK_ALLOC_KNOWN_PARITY = 1 << 2,
    NETCHECK_ALLOC_KNOWN_POOLING = 1 << 3,
};

typedef struct netcheck_alloc_verdict {
    uint32_t known; /* enum netcheck_alloc_known */
    nat_allocation_t allocation, preserve_fallback;
    uint16_t sequential_step; /* of allocation, or of the fallback */
    nat_parity_t parity;
    unsigned public_ips;
    nat_pooling_t pooling;
} netcheck_alloc_verdict_t;

/* Samples of one socket after its first are the same mapping reused
 * (EIM, ADM) or a new one (APDM toward another server endpoint). */
void netcheck_alloc_classify(const netcheck_sample_t *samples, unsigned n,
                             netcheck_alloc_verdict_t *out);
