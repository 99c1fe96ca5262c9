#include "nat_portalloc.h"

#define RANDOM_DRAWS 32

static inline bool parity_ok(const nat_portalloc_policy_t *policy, uint16_t internal, uint32_t port)
{
    return !policy->parity || ((port ^ internal) & 1) == 0;
}

bool nat_portalloc_try_preserve(const nat_portalloc_policy_t *policy,
                                const nat_portalloc_request_t *req)
{
    (void)policy;
    uint16_t x = req->internal_port;
    return x >= req->lo && x <= req->hi && !req->taken(req->ctx, req->ip, x);
}

static bool pick_sequential(const nat_portalloc_policy_t *policy, const nat_portalloc_request_t *req,
                            uint16_t *out)
{
    uint32_t lo = req->lo, range = (uint32_t)req->hi - lo + 1;
    uint32_t step = policy->step % range;
    if (step == 0)
        step = 1;
    uint32_t offset = (*req->counter >= lo && *req->counter <= req->hi) ? *req->counter - lo : range - step;
    for (uint32_t tries = 0; tries < range; tries++) {
        offset = (offset + step) % range;
        uint32_t port = lo + offset;
        if (!parity_ok(policy, req->internal_port, port)) {
            offset = (offset + 1) % range;
            port = lo + offset;
        }
        if (!req->taken(req->ctx, req->ip, (uint16_t)port)) {
            *req->counter = (uint16_t)port;
            *out = (uint16_t)port;
            return true;
        }
    }
    /* A step that shares a factor with the range cycles early: finish by scanning. */
    for (uint32_t i = 0; i < range; i++) {
        uint32_t port = lo + (offset + i) % range;
        if (parity_ok(policy, req->internal_port, port) && !req->taken(req->ctx, req->ip, (uint16_t)port)) {
            *req->counter = (uint16_t)port;
            *out = (uint16_t)port;
            return true;
        }
    }
    return false;
}

static bool pick_random(const nat_portalloc_policy_t *policy, rng_t *rng,
                        const nat_portalloc_request_t *req, uint16_t *out)
{
    uint32_t lo = req->lo, range = (uint32_t)req->hi - lo + 1;
    for (int i = 0; i < RANDOM_DRAWS; i++) {
        uint32_t port = lo + rng_below(rng, range);
        if (!parity_ok(policy, req->internal_port, port))
            port = port == req->hi ? port - 1 : port + 1;
        if (port >= lo && port <= req->hi && !req->taken(req->ctx, req->ip, (uint16_t)port)) {
            *out = (uint16_t)port;
            return true;
        }
    }
    /* Nearly full: a full scan from a random start still finds the last ports. */
    uint32_t start = rng_below(rng, range);
    for (uint32_t i = 0; i < range; i++) {
        uint32_t port = lo + (start + i) % range;
        if (parity_ok(policy, req->internal_port, port) && !req->taken(req->ctx, req->ip, (uint16_t)port)) {
            *out = (uint16_t)port;
            return true;
        }
    }
    return false;
}

bool nat_portalloc_pick(const nat_portalloc_policy_t *policy, rng_t *rng,
                        const nat_portalloc_request_t *req, uint16_t *out)
{
    nat_allocation_t mode = policy->allocation;
    if (mode == NAT_ALLOC_PRESERVE) {
        if (nat_portalloc_try_preserve(policy, req)) {
            *out = req->internal_port;
            return true;
        }
        mode = policy->preserve_fallback;
    }
    if (mode == NAT_ALLOC_SEQUENTIAL)
        return pick_sequential(policy, req, out);
    return pick_random(policy, rng, req, out);
}
