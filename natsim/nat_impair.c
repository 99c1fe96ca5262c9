#include "nat_impair.h"

#include <math.h>

#include "common/rng.h"

/* Held packets in a binary min-heap on (release_at, seq): O(log n) per
 * packet. Without reordering the releases arrive sorted and a ring would do,
 * but reordered packets go in behind later ones. */
typedef struct held {
    usec_t release_at;
    uint64_t seq; /* push order, so equal release times stay FIFO */
    void *handle;
} held_t;

struct nat_impair {
    nat_impairment_t cfg;
    rng_t rng;
    usec_t floor; /* release time of the last ordinary (not reordered) packet */
    held_t *heap;
    size_t len, alloc, capacity;
    uint64_t next_seq;
    nat_impair_stats_t stats;
};

const char *nat_impair_verdict_name(nat_impair_verdict_t verdict)
{
    switch (verdict) {
    case NAT_IMPAIR_DROP: return "drop";
    case NAT_IMPAIR_PASS_NOW: return "pass";
    case NAT_IMPAIR_HOLD: return "hold";
    }
    return "unknown";
}

static double clamp_probability(double p)
{
    if (isnan(p) || p <= 0.0)
        return 0.0;
    return p >= 1.0 ? 1.0 : p;
}

void nat_impair_set(nat_impair_t *imp, const nat_impairment_t *cfg)
{
    nat_impairment_t c = cfg ? *cfg : (nat_impairment_t){ 0 };
    c.latency = CLAMP(c.latency, 0, NAT_IMPAIR_DELAY_MAX);
    c.jitter = CLAMP(c.jitter, 0, NAT_IMPAIR_DELAY_MAX);
    c.loss = clamp_probability(c.loss);
    c.reorder = clamp_probability(c.reorder);
    imp->cfg = c;
}

nat_impair_t *nat_impair_new(const nat_impairment_t *cfg, uint64_t seed)
{
    nat_impair_t *imp = g_new0(nat_impair_t, 1);
    nat_impair_set(imp, cfg);
    rng_seed(&imp->rng, seed);
    imp->floor = INT64_MIN;
    imp->capacity = NAT_IMPAIR_DEFAULT_CAPACITY;
    return imp;
}

void nat_impair_free(nat_impair_t *imp)
{
    if (!imp)
        return;
    g_free(imp->heap);
    g_free(imp);
}

const nat_impairment_t *nat_impair_config(const nat_impair_t *imp)
{
    return &imp->cfg;
}

/* a + b for b >= 0, saturating short of NAT_IMPAIR_NEVER. */
static usec_t sat_add(usec_t a, usec_t b)
{
    return a > NAT_IMPAIR_NEVER - b ? NAT_IMPAIR_NEVER - 1 : a + b;
}

/* Uniform integer in [-jitter, +jitter]. */
static usec_t draw_jitter(rng_t *rng, usec_t jitter)
{
    uint64_t span = 2 * (uint64_t)jitter + 1;
    uint64_t r = span <= UINT32_MAX ? rng_below(rng, (uint32_t)span)
                                    : (uint64_t)(rng_unit(rng) * (double)span);
    if (r >= span)
        r = span - 1;
    return (usec_t)r - jitter;
}

nat_impair_verdict_t nat_impair_decide(nat_impair_t *imp, usec_t now, usec_t *release_at)
{
    const nat_impairment_t *c = &imp->cfg;
    *release_at = now;
    if (c->loss > 0.0 && rng_unit(&imp->rng) < c->loss) {
        imp->stats.dropped_loss++;
        return NAT_IMPAIR_DROP;
    }
    usec_t delay = c->latency; /* both bounded by NAT_IMPAIR_DELAY_MAX: no overflow */
    if (c->jitter > 0) {
        delay += draw_jitter(&imp->rng, c->jitter);
        if (delay < 0)
            delay = 0;
    }
    usec_t release = sat_add(now, delay);
    if (c->reorder > 0.0 && rng_unit(&imp->rng) < c->reorder) {
        /* Later than any ordinary packet arriving now can leave, so the
         * next ones overtake it; it leaves the floor where it was. */
        *release_at = sat_add(release, c->latency + c->jitter + NAT_IMPAIR_REORDER_GAP);
        imp->stats.held++;
        imp->stats.reordered++;
        return NAT_IMPAIR_HOLD;
    }
    if (release < imp->floor)
        release = imp->floor; /* arrival order: never before the previous one */
    imp->floor = release;
    if (release <= now) {
        imp->stats.passed++;
        return NAT_IMPAIR_PASS_NOW;
    }
    *release_at = release;
    imp->stats.held++;
    return NAT_IMPAIR_HOLD;
}

static bool held_before(const held_t *a, const held_t *b)
{
    return a->release_at < b->release_at || (a->release_at == b->release_at && a->seq < b->seq);
}

bool nat_impair_push(nat_impair_t *imp, usec_t release_at, void *handle)
{
    if (imp->len >= imp->capacity) {
        imp->stats.dropped_overflow++;
        return false;
    }
    if (imp->len == imp->alloc) {
        imp->alloc = imp->alloc ? imp->alloc * 2 : 64;
        imp->heap = g_renew(held_t, imp->heap, imp->alloc);
    }
    held_t e = { release_at, imp->next_seq++, handle };
    size_t pos = imp->len++;
    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (!held_before(&e, &imp->heap[parent]))
            break;
        imp->heap[pos] = imp->heap[parent];
        pos = parent;
    }
    imp->heap[pos] = e;
    return true;
}

bool nat_impair_pop_due(nat_impair_t *imp, usec_t now, void **handle)
{
    if (imp->len == 0 || imp->heap[0].release_at > now)
        return false;
    *handle = imp->heap[0].handle;
    held_t e = imp->heap[--imp->len];
    size_t pos = 0;
    for (;;) {
        size_t child = 2 * pos + 1;
        if (child >= imp->len)
            break;
        if (child + 1 < imp->len && held_before(&imp->heap[child + 1], &imp->heap[child]))
            child++;
        if (!held_before(&imp->heap[child], &e))
            break;
        imp->heap[pos] = imp->heap[child];
        pos = child;
    }
    if (imp->len)
        imp->heap[pos] = e;
    imp->stats.released++;
    return true;
}

usec_t nat_impair_next_deadline(const nat_impair_t *imp)
{
    return imp->len ? imp->heap[0].release_at : NAT_IMPAIR_NEVER;
}

size_t nat_impair_count(const nat_impair_t *imp)
{
    return imp->len;
}

void nat_impair_set_capacity(nat_impair_t *imp, size_t capacity)
{
    imp->capacity = capacity;
}

size_t nat_impair_capacity(const nat_impair_t *imp)
{
    return imp->capacity;
}

const nat_impair_stats_t *nat_impair_stats(const nat_impair_t *imp)
{
    return &imp->stats;
}
