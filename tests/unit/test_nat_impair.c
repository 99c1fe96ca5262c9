/* natsim/nat_impair: loss, latency, jitter, reordering, and the held queue. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "natsim/nat_impair.h"
#include "testutil.h"

#define MS USEC_PER_MSEC
#define T0 ((usec_t)1000 * USEC_PER_SEC) /* an arbitrary monotonic start */

static nat_impairment_t cfg(usec_t latency, usec_t jitter, double loss, double reorder)
{
    return (nat_impairment_t){ .latency = latency, .jitter = jitter, .loss = loss,
                               .reorder = reorder };
}

static void test_zero_config_passes(void)
{
    g_autoptr(nat_impair_t) a = nat_impair_new(NULL, 1);
    nat_impairment_t zero = cfg(0, 0, 0, 0);
    g_autoptr(nat_impair_t) b = nat_impair_new(&zero, 1);
    for (int i = 0; i < 10000; i++) {
        usec_t now = T0 + i, at = -1;
        CU_ASSERT_EQUAL(nat_impair_decide(a, now, &at), NAT_IMPAIR_PASS_NOW);
        CU_ASSERT_EQUAL(at, now);
        CU_ASSERT_EQUAL(nat_impair_decide(b, now, &at), NAT_IMPAIR_PASS_NOW);
    }
    /* Several packets in the same microsecond. */
    usec_t at;
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(nat_impair_decide(a, T0 + 20000, &at), NAT_IMPAIR_PASS_NOW);
    const nat_impair_stats_t *s = nat_impair_stats(a);
    CU_ASSERT_EQUAL(s->passed, 10010);
    CU_ASSERT_EQUAL(s->held + s->dropped_loss + s->reordered + s->dropped_overflow, 0);
    CU_ASSERT_EQUAL(nat_impair_next_deadline(a), NAT_IMPAIR_NEVER);
    CU_ASSERT_EQUAL(nat_impair_count(a), 0);
}

static void test_loss_rate(void)
{
    nat_impairment_t c = cfg(0, 0, 0.05, 0);
    g_autoptr(nat_impair_t) imp = nat_impair_new(&c, 42);
    const int n = 100000;
    int drops = 0;
    for (int i = 0; i < n; i++) {
        usec_t at;
        nat_impair_verdict_t v = nat_impair_decide(imp, T0 + i, &at);
        CU_ASSERT_NOT_EQUAL(v, NAT_IMPAIR_HOLD);
        drops += v == NAT_IMPAIR_DROP;
    }
    /* Binomial(100000, 0.05): sd ~69, so 4600..5400 is about +-5.8 sd. */
    CU_ASSERT_TRUE(drops >= 4600 && drops <= 5400);
    const nat_impair_stats_t *s = nat_impair_stats(imp);
    CU_ASSERT_EQUAL(s->dropped_loss, (uint64_t)drops);
    CU_ASSERT_EQUAL(s->passed, (uint64_t)(n - drops));
    /* Other seeds land in the band too. */
    for (uint64_t seed = 100; seed < 110; seed++) {
        g_autoptr(nat_impair_t) other = nat_impair_new(&c, seed);
        int d = 0;
        for (int i = 0; i < n; i++) {
            usec_t at;
            d += nat_impair_decide(other, T0 + i, &at) == NAT_IMPAIR_DROP;
        }
        CU_ASSERT_TRUE(d >= 4600 && d <= 5400);
    }
}

static void test_loss_all_and_clamps(void)
{
    nat_impairment_t c = cfg(0, 0, 1.0, 0);
    g_autoptr(nat_impair_t) imp = nat_impair_new(&c, 7);
    for (int i = 0; i < 10000; i++) {
        usec_t at = -1;
        CU_ASSERT_EQUAL(nat_impair_decide(imp, T0 + i, &at), NAT_IMPAIR_DROP);
        CU_ASSERT_EQUAL(at, T0 + i);
    }
    CU_ASSERT_EQUAL(nat_impair_stats(imp)->dropped_loss, 10000);

    /* Out-of-range settings are clamped. */
    c = cfg(-5, -3, 7.0, NAN);
    nat_impair_set(imp, &c);
    const nat_impairment_t *got = nat_impair_config(imp);
    CU_ASSERT_EQUAL(got->latency, 0);
    CU_ASSERT_EQUAL(got->jitter, 0);
    CU_ASSERT_EQUAL(got->loss, 1.0);
    CU_ASSERT_EQUAL(got->reorder, 0.0);
    c = cfg(100 * USEC_PER_HOUR, 0, -1, 0);
    nat_impair_set(imp, &c);
    CU_ASSERT_EQUAL(nat_impair_config(imp)->latency, NAT_IMPAIR_DELAY_MAX);
    CU_ASSERT_EQUAL(nat_impair_config(imp)->loss, 0.0);
    usec_t at;
    CU_ASSERT_EQUAL(nat_impair_decide(imp, INT64_MAX - 10, &at), NAT_IMPAIR_HOLD);
    CU_ASSERT_TRUE(at > INT64_MAX - 10 && at < NAT_IMPAIR_NEVER);
}

static void test_latency_exact(void)
{
    nat_impairment_t c = cfg(20 * MS, 0, 0, 0);
    g_autoptr(nat_impair_t) imp = nat_impair_new(&c, 3);
    for (int i = 0; i < 1000; i++) {
        usec_t now = T0 + (usec_t)i * 137, at;
        CU_ASSERT_EQUAL(nat_impair_decide(imp, now, &at), NAT_IMPAIR_HOLD);
        CU_ASSERT_EQUAL(at, now + 20 * MS);
    }
    CU_ASSERT_EQUAL(nat_impair_stats(imp)->held, 1000);
    CU_ASSERT_EQUAL(nat_impair_stats(imp)->passed, 0);

    /* A change applies from the next packet on; FIFO still holds: the first
     * packet after lowering the latency waits for the last one before. */
    c.latency = 5 * MS;
    nat_impair_set(imp, &c);
    usec_t now = T0 + 999 * 137, at;
    CU_ASSERT_EQUAL(nat_impair_decide(imp, now, &at), NAT_IMPAIR_HOLD);
    CU_ASSERT_EQUAL(at, now + 20 * MS);
    now += 100 * MS;
    CU_ASSERT_EQUAL(nat_impair_decide(imp, now, &at), NAT_IMPAIR_HOLD);
    CU_ASSERT_EQUAL(at, now + 5 * MS);
}

static void test_jitter_bounds_and_mean(void)
{
    nat_impairment_t c = cfg(10 * MS, 5 * MS, 0, 0);
    g_autoptr(nat_impair_t) imp = nat_impair_new(&c, 11);
    const int n = 100000;
    usec_t lo = INT64_MAX, hi = INT64_MIN;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        /* A second apart, so arrival order never stretches a delay. */
        usec_t now = T0 + (usec_t)i * USEC_PER_SEC, at;
        CU_ASSERT_EQUAL(nat_impair_decide(imp, now, &at), NAT_IMPAIR_HOLD);
        usec_t d = at - now;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        sum += (double)d;
    }
    CU_ASSERT_TRUE(lo >= 5 * MS && lo < 5 * MS + 50);
    CU_ASSERT_TRUE(hi <= 15 * MS && hi > 15 * MS - 50);
    /* Uniform over 10001 values: sd 2887 us, of the mean ~9 us. */
    double mean = sum / n;
    CU_ASSERT_TRUE(fabs(mean - 10 * MS) < 60);

    /* Jitter larger than latency: delays clamp at zero (pass at once). */
    c = cfg(1 * MS, 5 * MS, 0, 0);
    nat_impair_set(imp, &c);
    int now_count = 0;
    for (int i = 0; i < n; i++) {
        usec_t now = T0 + (usec_t)(n + i) * USEC_PER_SEC, at;
        nat_impair_verdict_t v = nat_impair_decide(imp, now, &at);
        CU_ASSERT_TRUE(at >= now && at <= now + 6 * MS);
        if (v == NAT_IMPAIR_PASS_NOW) {
            CU_ASSERT_EQUAL(at, now);
            now_count++;
        }
    }
    /* P(delay <= 0) = 4001 / 10001. */
    CU_ASSERT_TRUE(fabs((double)now_count / n - 0.4) < 0.01);
}

static void test_fifo_without_reorder(void)
{
    nat_impairment_t c = cfg(10 * MS, 9 * MS, 0.01, 0);
    g_autoptr(nat_impair_t) imp = nat_impair_new(&c, 5);
    usec_t prev = INT64_MIN;
    int stretched = 0;
    for (int i = 0; i < 100000; i++) {
        usec_t now = T0 + (usec_t)i * 100, at;
        nat_impair_verdict_t v = nat_impair_decide(imp, now, &at);
        if (v == NAT_IMPAIR_DROP)
            continue;
        CU_ASSERT_EQUAL(v, NAT_IMPAIR_HOLD);
        CU_ASSERT_TRUE(at >= prev);
        CU_ASSERT_TRUE(at >= now + 1 * MS && at <= now + 19 * MS);
        stretched += at == prev;
        prev = at;
    }
    /* Arrivals 100 us apart with 18 ms of jitter: the floor matters often. */
    CU_ASSERT_TRUE(stretched > 1000);
    CU_ASSERT_EQUAL(nat_impair_stats(imp)->reordered, 0);
}

/* Pushes every packet with its arrival index, releases what is due as time
 * goes on, and counts the packets that left after a later arrival. After n
 * packets, a tail of 2000 more arrive without reordering, so that the last
 * reordered ones have something to overtake them too. */
static int count_late(nat_impair_t *imp, int n, usec_t spacing)
{
    const int total = n + 2000;
    int late = 0, max_seen = -1, out = 0;
    nat_impair_set_capacity(imp, (size_t)total);
    for (int i = 0; i <= total; i++) {
        usec_t now = T0 + (usec_t)i * spacing;
        void *h;
        while (nat_impair_pop_due(imp, now, &h)) {
            int id = (int)(intptr_t)h;
            late += id < max_seen;
            max_seen = id > max_seen ? id : max_seen;
            out++;
        }
        if (i == total)
            break;
        if (i == n) {
            nat_impairment_t tail = *nat_impair_config(imp);
            tail.reorder = 0;
            nat_impair_set(imp, &tail);
        }
        usec_t at;
        switch (nat_impair_decide(imp, now, &at)) {
        case NAT_IMPAIR_PASS_NOW:
            late += i < max_seen;
            max_seen = i > max_seen ? i : max_seen;
            out++;
            break;
        case NAT_IMPAIR_HOLD: CU_ASSERT_TRUE(nat_impair_push(imp, at, (void *)(intptr_t)i)); break;
        case NAT_IMPAIR_DROP: break;
        }
    }
    void *h;
    while (nat_impair_pop_due(imp, NAT_IMPAIR_NEVER, &h)) {
        int id = (int)(intptr_t)h;
        late += id < max_seen;
        max_seen = id > max_seen ? id : max_seen;
        out++;
    }
    CU_ASSERT_EQUAL(out, total - (int)nat_impair_stats(imp)->dropped_loss);
    return late;
}

static void test_reorder_rate(void)
{
    const int n = 100000;
    /* No latency: a reordered packet waits 1 ms, ten arrivals overtake it. */
    nat_impairment_t c = cfg(0, 0, 0, 0.1);
    g_autoptr(nat_impair_t) imp = nat_impair_new(&c, 9);
    int late = count_late(imp, n, 100);
    uint64_t reordered = nat_impair_stats(imp)->reordered;
    /* Binomial(100000, 0.1): sd ~95. */
    CU_ASSERT_TRUE(reordered >= 9500 && reordered <= 10500);
    /* Every reordered packet is overtaken, and no other packet is. */
    CU_ASSERT_EQUAL((uint64_t)late, reordered);

    /* With latency and jitter. */
    c = cfg(20 * MS, 5 * MS, 0.02, 0.01);
    g_autoptr(nat_impair_t) imp2 = nat_impair_new(&c, 10);
    late = count_late(imp2, n, 100);
    reordered = nat_impair_stats(imp2)->reordered;
    CU_ASSERT_TRUE(reordered >= 850 && reordered <= 1150);
    CU_ASSERT_EQUAL((uint64_t)late, reordered);

    /* Without reorder nothing is ever late, jitter or not. */
    c = cfg(20 * MS, 15 * MS, 0.02, 0);
    g_autoptr(nat_impair_t) imp3 = nat_impair_new(&c, 11);
    CU_ASSERT_EQUAL(count_late(imp3, n, 50), 0);
}

static void run_sequence(uint64_t seed, usec_t *out, int n)
{
    nat_impairment_t c = cfg(15 * MS, 10 * MS, 0.1, 0.05);
    g_autoptr(nat_impair_t) imp = nat_impair_new(&c, seed);
    for (int i = 0; i < n; i++) {
        usec_t at;
        nat_impair_verdict_t v = nat_impair_decide(imp, T0 + (usec_t)i * 250, &at);
        out[i] = v == NAT_IMPAIR_DROP ? -1 : at;
    }
}

static void test_reproducible(void)
{
    enum { N = 20000 };
    static usec_t a[N], b[N], c[N];
    run_sequence(1234, a, N);
    run_sequence(1234, b, N);
    run_sequence(1235, c, N);
    CU_ASSERT_EQUAL(memcmp(a, b, sizeof(a)), 0);
    int differ = 0;
    for (int i = 0; i < N; i++)
        differ += a[i] != c[i];
    CU_ASSERT_TRUE(differ > N / 2);
}

static void test_queue_order(void)
{
    g_autoptr(nat_impair_t) imp = nat_impair_new(NULL, 1);
    CU_ASSERT_EQUAL(nat_impair_next_deadline(imp), NAT_IMPAIR_NEVER);
    void *h = (void *)1;
    CU_ASSERT_FALSE(nat_impair_pop_due(imp, NAT_IMPAIR_NEVER, &h));
    CU_ASSERT_EQUAL(h, (void *)1); /* untouched */

    /* Random release times, many equal ones. */
    rng_t rng;
    rng_seed(&rng, 77);
    enum { N = 1000 };
    static usec_t when[N];
    for (int i = 0; i < N; i++) {
        when[i] = T0 + rng_below(&rng, 200);
        CU_ASSERT_TRUE(nat_impair_push(imp, when[i], (void *)(intptr_t)i));
    }
    CU_ASSERT_EQUAL(nat_impair_count(imp), N);
    int popped = 0, prev = -1;
    usec_t prev_at = INT64_MIN;
    for (usec_t now = T0 - 1; now < T0 + 210; now += 7) {
        usec_t deadline = nat_impair_next_deadline(imp);
        while (nat_impair_pop_due(imp, now, &h)) {
            int id = (int)(intptr_t)h;
            CU_ASSERT_TRUE(when[id] <= now);
            CU_ASSERT_EQUAL(when[id], deadline);
            CU_ASSERT_TRUE(when[id] >= prev_at);
            if (when[id] == prev_at)
                CU_ASSERT_TRUE(id > prev); /* equal times in push order */
            prev_at = when[id];
            prev = id;
            popped++;
            deadline = nat_impair_next_deadline(imp);
        }
        CU_ASSERT_TRUE(deadline > now);
    }
    CU_ASSERT_EQUAL(popped, N);
    CU_ASSERT_EQUAL(nat_impair_count(imp), 0);
    CU_ASSERT_EQUAL(nat_impair_stats(imp)->released, N);

    /* NULL is a handle like any other. */
    CU_ASSERT_TRUE(nat_impair_push(imp, T0, NULL));
    CU_ASSERT_EQUAL(nat_impair_next_deadline(imp), T0);
    h = (void *)1;
    CU_ASSERT_TRUE(nat_impair_pop_due(imp, T0, &h));
    CU_ASSERT_PTR_NULL(h);
}

static void test_queue_capacity(void)
{
    g_autoptr(nat_impair_t) imp = nat_impair_new(NULL, 1);
    CU_ASSERT_EQUAL(nat_impair_capacity(imp), NAT_IMPAIR_DEFAULT_CAPACITY);
    for (int i = 0; i < NAT_IMPAIR_DEFAULT_CAPACITY; i++)
        CU_ASSERT_TRUE(nat_impair_push(imp, T0 + i, NULL));
    CU_ASSERT_FALSE(nat_impair_push(imp, T0, NULL));
    CU_ASSERT_EQUAL(nat_impair_stats(imp)->dropped_overflow, 1);

    nat_impair_set_capacity(imp, 3);
    void *h;
    while (nat_impair_count(imp) > 2)
        CU_ASSERT_TRUE(nat_impair_pop_due(imp, NAT_IMPAIR_NEVER, &h));
    CU_ASSERT_TRUE(nat_impair_push(imp, T0, (void *)7));
    for (int i = 0; i < 5; i++)
        CU_ASSERT_FALSE(nat_impair_push(imp, T0, NULL));
    CU_ASSERT_EQUAL(nat_impair_count(imp), 3);
    CU_ASSERT_EQUAL(nat_impair_stats(imp)->dropped_overflow, 6);
    /* The refused ones are not in the queue; the accepted early one is first. */
    CU_ASSERT_EQUAL(nat_impair_next_deadline(imp), T0);
    CU_ASSERT_TRUE(nat_impair_pop_due(imp, T0, &h));
    CU_ASSERT_EQUAL(h, (void *)7);

    nat_impair_set_capacity(imp, 0);
    CU_ASSERT_FALSE(nat_impair_push(imp, T0, NULL));
    CU_ASSERT_EQUAL(nat_impair_stats(imp)->dropped_overflow, 7);
    nat_impair_free(NULL);
}

static void test_verdict_names(void)
{
    CU_ASSERT_STRING_EQUAL(nat_impair_verdict_name(NAT_IMPAIR_DROP), "drop");
    CU_ASSERT_STRING_EQUAL(nat_impair_verdict_name(NAT_IMPAIR_PASS_NOW), "pass");
    CU_ASSERT_STRING_EQUAL(nat_impair_verdict_name(NAT_IMPAIR_HOLD), "hold");
    CU_ASSERT_STRING_EQUAL(nat_impair_verdict_name((nat_impair_verdict_t)42), "unknown");
}

int main(void)
{
    static const test_case_t cases[] = {
        { "zero config passes at once", test_zero_config_passes },
        { "loss 0.05 within binomial bounds", test_loss_rate },
        { "loss 1.0 drops all; clamps", test_loss_all_and_clamps },
        { "latency exact", test_latency_exact },
        { "jitter bounds and mean", test_jitter_bounds_and_mean },
        { "arrival order without reorder", test_fifo_without_reorder },
        { "reorder at the configured rate", test_reorder_rate },
        { "same seed, same decisions", test_reproducible },
        { "queue pops in release order", test_queue_order },
        { "queue capacity and overflow", test_queue_capacity },
        { "verdict names", test_verdict_names },
        { NULL, NULL },
    };
    return test_run_suite("nat_impair", cases);
}
