#include "netcheck_alloc.h"

#include <string.h>

/* Preservation: at least this share of first mappings keep their port (a
 * port our own earlier mapping took is the one excuse). */
#define PRESERVE_SHARE 0.8
/* Sequential: the step must explain this share of consecutive pairs. */
#define SEQUENTIAL_SHARE (2.0 / 3.0)
/* Samples below these counts leave a dimension unmeasured. */
#define MIN_PATTERN_SAMPLES 4
#define MIN_PARITY_SAMPLES 6
/* RFC 4787 REQ-3a: dynamic ports live in 1024-65535 (natsim's default
 * port-range); a sequential counter wraps inside it. */
#define PORT_LO 1024u
#define PORT_RANGE (65536u - PORT_LO)

/* Does `step` explain the move from one non-preserved sample to the next?
 * natsim and Linux count from the last port: next = last + step, plus one
 * if parity is kept and the parity is wrong (nat_portalloc.c). */
static unsigned sequential_fits(const netcheck_sample_t *s, unsigned n, unsigned step, bool parity)
{
    unsigned fits = 0;
    for (unsigned i = 1; i < n; i++) {
        uint32_t q = PORT_LO + (s[i - 1].mapped.port - PORT_LO + step) % PORT_RANGE;
        if (parity && ((q ^ s[i].local.port) & 1))
            q = PORT_LO + (q - PORT_LO + 1) % PORT_RANGE;
        fits += q == s[i].mapped.port;
    }
    return fits;
}

/* Classifies the ports the allocator chose (non-preserved samples, in
 * creation order): sequential with a step, or random; and parity. */
static void classify_pattern(netcheck_alloc_verdict_t *r, const netcheck_sample_t *s, unsigned n,
                             bool *have_pattern, nat_allocation_t *alloc, uint16_t *step)
{
    *have_pattern = false;
    if (n >= MIN_PARITY_SAMPLES) {
        bool kept = true;
        for (unsigned i = 0; i < n; i++)
            kept &= ((s[i].mapped.port ^ s[i].local.port) & 1) == 0;
        r->parity = kept ? NAT_PARITY_PRESERVE : NAT_PARITY_IGNORE;
        r->known |= NETCHECK_ALLOC_KNOWN_PARITY;
    }
    if (n < MIN_PATTERN_SAMPLES)
        return;
    bool parity = r->parity == NAT_PARITY_PRESERVE;
    unsigned best = 0, best_step = 1;
    for (unsigned i = 1; i < n; i++) {
        int d = (int)s[i].mapped.port - (int)s[i - 1].mapped.port;
        if (d <= 0)
            d += PORT_RANGE;
        for (int c = d; c >= d - 1 && c >= 1; c--) {
            if (c > 32767)
                continue;
            unsigned f = sequential_fits(s, n, (unsigned)c, parity);
            if (f > best || (f == best && (unsigned)c < best_step && f > 0)) {
                best = f;
                best_step = (unsigned)c;
            }
        }
    }
    *have_pattern = true;
    if ((double)best >= SEQUENTIAL_SHARE * (double)(n - 1)) {
        *alloc = NAT_ALLOC_SEQUENTIAL;
        *step = (uint16_t)best_step;
    } else {
        *alloc = NAT_ALLOC_RANDOM;
        *step = 1;
    }
}

void netcheck_alloc_classify(const netcheck_sample_t *samples, unsigned n_samples,
                             netcheck_alloc_verdict_t *r)
{
    memset(r, 0, sizeof *r);
    if (n_samples == 0)
        return;
    unsigned firsts = 0, firsts_kept = 0;
    netcheck_sample_t moved[NETCHECK_MAX_SAMPLES];
    unsigned n_moved = 0;
    uint32_t ips[NETCHECK_MAX_SAMPLES];
    unsigned n_ips = 0;
    for (unsigned i = 0; i < n_samples; i++) {
        const netcheck_sample_t *s = &samples[i];
        bool first = true;
        for (unsigned j = 0; j < i; j++)
            first &= samples[j].socket != s->socket;
        if (first) {
            firsts++;
            firsts_kept += s->preserved;
        }
        if (!s->preserved)
            moved[n_moved++] = *s;
        bool seen = false;
        for (unsigned j = 0; j < n_ips; j++)
            seen |= ips[j] == s->mapped.ip;
        if (!seen)
            ips[n_ips++] = s->mapped.ip;
    }
    if (n_samples >= MIN_PATTERN_SAMPLES) {
        r->public_ips = n_ips;
        r->pooling = n_ips > 1 ? NAT_POOLING_ARBITRARY : NAT_POOLING_PAIRED;
        r->known |= NETCHECK_ALLOC_KNOWN_POOLING;
    }
    if (firsts < 3)
        return;
    bool have;
    nat_allocation_t pattern = NAT_ALLOC_RANDOM;
    uint16_t step = 1;
    classify_pattern(r, moved, n_moved, &have, &pattern, &step);
    if ((double)firsts_kept >= PRESERVE_SHARE * (double)firsts) {
        r->allocation = NAT_ALLOC_PRESERVE;
        r->known |= NETCHECK_ALLOC_KNOWN_ALLOCATION;
        if (have) {
            r->preserve_fallback = pattern;
            r->sequential_step = step;
            r->known |= NETCHECK_ALLOC_KNOWN_FALLBACK;
        }
    } else if (have) {
        r->allocation = pattern;
        r->sequential_step = step;
        r->known |= NETCHECK_ALLOC_KNOWN_ALLOCATION;
    }
}
