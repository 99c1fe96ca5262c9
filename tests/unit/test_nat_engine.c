/* The NAT engine, one behaviour per test: RFC 4787 mapping, filtering, port
 * assignment, timers, hairpinning, pooling, CGN quotas; time is `now`. */
#include "natsim_fixture.h"
#include "testutil.h"

#define S USEC_PER_SEC

/* ---- mapping (RFC 4787 section 4.1) ----------------------------------- */

static void test_eim_reuses_mapping_for_every_destination(void)
{
    nat_engine_t *e = engine_from("preset = port-restricted-cone\n", 1);
    nat_verdict_t a = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    nat_verdict_t b = out(e, ep(HOST_A, 5000), ep(REMOTE_Z, 9999), 1);
    nat_verdict_t c = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3479), 2);
    ASSERT_FORWARD(a);
    CU_ASSERT_TRUE(a.created);
    CU_ASSERT_FALSE(b.created);
    ASSERT_EP(a.src, b.src);
    ASSERT_EP(a.src, c.src);
    ASSERT_EP(a.dst, ep(REMOTE_Y, 3478));
    CU_ASSERT_EQUAL(a.src.ip, PUB1);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 1);
    nat_engine_free(e);
}

static void test_adm_new_mapping_per_remote_address(void)
{
    nat_engine_t *e = engine_from("mapping = address-dependent\nallocation = random\n", 2);
    nat_verdict_t y1 = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    nat_verdict_t y2 = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3479), 1);
    nat_verdict_t z = out(e, ep(HOST_A, 5000), ep(REMOTE_Z, 3478), 2);
    ASSERT_EP(y1.src, y2.src);
    CU_ASSERT_FALSE(y2.created);
    CU_ASSERT_TRUE(z.created);
    CU_ASSERT_NOT_EQUAL(y1.src.port, z.src.port);
    nat_engine_free(e);
}

static void test_apdm_new_mapping_per_remote_endpoint(void)
{
    nat_engine_t *e = engine_from("preset = symmetric\n", 3);
    nat_verdict_t y1 = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    nat_verdict_t y2 = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3479), 1);
    nat_verdict_t again = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 2);
    CU_ASSERT_TRUE(y2.created);
    CU_ASSERT_NOT_EQUAL(y1.src.port, y2.src.port);
    ASSERT_EP(y1.src, again.src);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 2);
    nat_engine_free(e);
}

/* ---- filtering (RFC 4787 section 5) ----------------------------------- */

static void test_eif_admits_anyone_once_mapped(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\n", 4);
    nat_verdict_t o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    nat_verdict_t i = in(e, ep(REMOTE_Z, 1234), o.src, 1);
    ASSERT_FORWARD(i);
    ASSERT_EP(i.dst, ep(HOST_A, 5000));
    ASSERT_EP(i.src, ep(REMOTE_Z, 1234));
    /* ...but there must be a mapping first. */
    ASSERT_DROP(in(e, ep(REMOTE_Z, 1234), ep(PUB1, (uint16_t)(o.src.port + 1)), 2), NAT_DROP_NO_MAPPING);
    nat_engine_free(e);
}

static void test_adf_admits_contacted_address_any_port(void)
{
    nat_engine_t *e = engine_from("preset = restricted-cone\n", 5);
    nat_verdict_t o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    ASSERT_FORWARD(in(e, ep(REMOTE_Y, 3478), o.src, 1));
    ASSERT_FORWARD(in(e, ep(REMOTE_Y, 40000), o.src, 2));
    ASSERT_DROP(in(e, ep(REMOTE_Z, 3478), o.src, 3), NAT_DROP_FILTERED);
    out(e, ep(HOST_A, 5000), ep(REMOTE_Z, 1), 4);
    ASSERT_FORWARD(in(e, ep(REMOTE_Z, 3478), o.src, 5));
    CU_ASSERT_EQUAL(nat_engine_stats(e)->drops[NAT_DROP_FILTERED], 1);
    nat_engine_free(e);
}

static void test_apdf_admits_only_exact_endpoint(void)
{
    nat_engine_t *e = engine_from("preset = port-restricted-cone\n", 6);
    nat_verdict_t o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    ASSERT_FORWARD(in(e, ep(REMOTE_Y, 3478), o.src, 1));
    ASSERT_DROP(in(e, ep(REMOTE_Y, 3479), o.src, 2), NAT_DROP_FILTERED);
    ASSERT_DROP(in(e, ep(REMOTE_Z, 3478), o.src, 3), NAT_DROP_FILTERED);
    /* A second permission on the same mapping (the overflow set). */
    out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3479), 4);
    ASSERT_FORWARD(in(e, ep(REMOTE_Y, 3479), o.src, 5));
    ASSERT_FORWARD(in(e, ep(REMOTE_Y, 3478), o.src, 6));
    nat_engine_free(e);
}

static void test_filtered_packets_neither_create_nor_refresh(void)
{
    nat_engine_t *e = engine_from("preset = port-restricted-cone\ntimeout = 10s\nrefresh = both\n", 7);
    nat_verdict_t o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    /* Filtered inbound at 9 s must not extend the life past 10 s. */
    ASSERT_DROP(in(e, ep(REMOTE_Z, 1), o.src, 9 * S), NAT_DROP_FILTERED);
    ASSERT_DROP(in(e, ep(REMOTE_Y, 3478), o.src, 10 * S), NAT_DROP_NO_MAPPING);
    /* Unsolicited inbound never creates a mapping. */
    ASSERT_DROP(in(e, ep(REMOTE_Y, 3478), ep(PUB1, 7777), 11 * S), NAT_DROP_NO_MAPPING);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 0);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->mappings_created, 1);
    nat_engine_free(e);
}

/* ---- lifetime (RFC 4787 section 4.3) ---------------------------------- */

static void test_timeout_exact_boundary(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\ntimeout = 30s\n", 8);
    nat_verdict_t o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 100);
    ASSERT_FORWARD(in(e, ep(REMOTE_Y, 3478), o.src, 100 + 30 * S - 1));
    ASSERT_DROP(in(e, ep(REMOTE_Y, 3478), o.src, 100 + 30 * S), NAT_DROP_NO_MAPPING);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->mappings_expired, 1);
    nat_engine_free(e);
}

static void test_expire_returns_next_deadline(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\ntimeout = 500ms\n", 9);
    CU_ASSERT_EQUAL(nat_engine_expire(e, 0), NAT_ENGINE_NEVER);
    out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 1000);
    out(e, ep(HOST_B, 5000), ep(REMOTE_Y, 3478), 2000);
    CU_ASSERT_EQUAL(nat_engine_expire(e, 1500), 1000 + 500 * USEC_PER_MSEC);
    CU_ASSERT_EQUAL(nat_engine_expire(e, 1000 + 500 * USEC_PER_MSEC - 1), 1000 + 500 * USEC_PER_MSEC);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 2);
    CU_ASSERT_EQUAL(nat_engine_expire(e, 1000 + 500 * USEC_PER_MSEC), 2000 + 500 * USEC_PER_MSEC);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 1);
    CU_ASSERT_EQUAL(nat_engine_expire(e, 10 * S), NAT_ENGINE_NEVER);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 0);
    nat_engine_free(e);
}

static void test_expire_rearms_refreshed_mapping(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\ntimeout = 10s\n", 10);
    out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 4 * S);
    CU_ASSERT_EQUAL(nat_engine_expire(e, 10 * S), 14 * S);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 1);
    CU_ASSERT_EQUAL(nat_engine_expire(e, 14 * S), NAT_ENGINE_NEVER);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 0);
    nat_engine_free(e);
}

static void test_outbound_refresh_only(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\ntimeout = 10s\nrefresh = outbound\n", 11);
    nat_verdict_t o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    ASSERT_FORWARD(in(e, ep(REMOTE_Y, 3478), o.src, 9 * S));
    ASSERT_DROP(in(e, ep(REMOTE_Y, 3478), o.src, 10 * S), NAT_DROP_NO_MAPPING);
    nat_engine_free(e);

    e = engine_from("preset = full-cone\ntimeout = 10s\nrefresh = outbound\n", 11);
    o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    out(e, ep(HOST_A, 5000), ep(REMOTE_Z, 1), 9 * S);
    ASSERT_FORWARD(in(e, ep(REMOTE_Y, 3478), o.src, 19 * S - 1));
    ASSERT_DROP(in(e, ep(REMOTE_Y, 3478), o.src, 19 * S), NAT_DROP_NO_MAPPING);
    nat_engine_free(e);
}

static void test_inbound_refresh_when_both(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\ntimeout = 10s\nrefresh = both\n", 12);
    nat_verdict_t o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    ASSERT_FORWARD(in(e, ep(REMOTE_Y, 3478), o.src, 9 * S));
    ASSERT_FORWARD(in(e, ep(REMOTE_Y, 3478), o.src, 18 * S));
    ASSERT_FORWARD(in(e, ep(REMOTE_Y, 3478), o.src, 28 * S - 1));
    ASSERT_DROP(in(e, ep(REMOTE_Y, 3478), o.src, 38 * S), NAT_DROP_NO_MAPPING);
    nat_engine_free(e);
}

static void test_unreplied_timeout_until_first_inbound(void)
{
    const char *cgn = "preset = full-cone\ntimeout = 5min\ntimeout-unreplied = 15s\n";
    nat_engine_t *e = engine_from(cgn, 13);
    nat_verdict_t o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    ASSERT_DROP(in(e, ep(REMOTE_Y, 3478), o.src, 15 * S), NAT_DROP_NO_MAPPING);
    nat_engine_free(e);

    e = engine_from(cgn, 13);
    o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    ASSERT_FORWARD(in(e, ep(REMOTE_Y, 3478), o.src, 14 * S));
    /* Replied: the long timeout counts from the last outbound refresh (0 s). */
    ASSERT_FORWARD(in(e, ep(REMOTE_Y, 3478), o.src, 5 * 60 * S - 1));
    ASSERT_DROP(in(e, ep(REMOTE_Y, 3478), o.src, 5 * 60 * S), NAT_DROP_NO_MAPPING);
    nat_engine_free(e);
}

static void test_hold_down_delays_port_reuse(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\ntimeout = 10s\nhold-down = 2min\n", 14);
    nat_verdict_t first = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    CU_ASSERT_EQUAL(first.src.port, 5000);
    /* Expired at 10 s; port 5000 held until 130 s, so preservation must fall back. */
    nat_verdict_t during = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 20 * S);
    CU_ASSERT_TRUE(during.created);
    CU_ASSERT_NOT_EQUAL(during.src.port, 5000);
    nat_verdict_t other = out(e, ep(HOST_B, 5000), ep(REMOTE_Y, 3478), 130 * S - 1);
    CU_ASSERT_NOT_EQUAL(other.src.port, 5000);
    nat_verdict_t after = out(e, ep(HOST_B, 5001), ep(REMOTE_Y, 3478), 130 * S);
    CU_ASSERT_EQUAL(after.src.port, 5001);
    /* The held port answers nothing inbound. */
    ASSERT_DROP(in(e, ep(REMOTE_Y, 3478), ep(PUB1, 5000), 60 * S), NAT_DROP_NO_MAPPING);
    nat_engine_free(e);

    e = engine_from("preset = full-cone\ntimeout = 10s\nhold-down = 2min\n", 14);
    out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    CU_ASSERT_EQUAL(nat_engine_expire(e, 10 * S), 130 * S);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->held, 1);
    CU_ASSERT_EQUAL(out(e, ep(HOST_B, 5000), ep(REMOTE_Y, 3478), 130 * S).src.port, 5000);
    nat_engine_free(e);
}

static void test_no_hold_down_reuses_preserved_port(void)
{
    nat_engine_t *e = engine_from("preset = home-router\ntimeout-unreplied = 0s\ntimeout = 10s\n", 15);
    CU_ASSERT_EQUAL(out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0).src.port, 5000);
    nat_verdict_t again = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 10 * S);
    CU_ASSERT_TRUE(again.created);
    CU_ASSERT_EQUAL(again.src.port, 5000);
    nat_engine_free(e);
}

/* ---- port assignment (RFC 4787 section 4.2) --------------------------- */

static void test_preserve_and_collision_fallbacks(void)
{
    nat_engine_t *e = engine_from("preset = home-router\npreserve-fallback = sequential\nsequential-step = 7\n", 16);
    CU_ASSERT_EQUAL(out(e, ep(HOST_A, 40000), ep(REMOTE_Y, 1), 0).src.port, 40000);
    uint16_t b = out(e, ep(HOST_B, 40000), ep(REMOTE_Y, 1), 0).src.port;
    uint16_t c = out(e, ep(HOST_B + 1, 40000), ep(REMOTE_Y, 1), 0).src.port;
    CU_ASSERT_NOT_EQUAL(b, 40000);
    CU_ASSERT_EQUAL((uint16_t)(c - b), 7);
    nat_engine_free(e);

    e = engine_from("preset = home-router\npreserve-fallback = random\n", 16);
    out(e, ep(HOST_A, 40000), ep(REMOTE_Y, 1), 0);
    uint16_t r = out(e, ep(HOST_B, 40000), ep(REMOTE_Y, 1), 0).src.port;
    CU_ASSERT_NOT_EQUAL(r, 40000);
    CU_ASSERT_TRUE(r >= 1024);
    nat_engine_free(e);
}

static void test_sequential_counter_shared_across_hosts(void)
{
    nat_engine_t *e = engine_from("preset = symmetric-sequential\nsequential-step = 3\n", 17);
    uint16_t a1 = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 0).src.port;
    uint16_t b1 = out(e, ep(HOST_B, 6000), ep(REMOTE_Y, 1), 0).src.port;
    uint16_t a2 = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 2), 0).src.port;
    CU_ASSERT_EQUAL(b1, a1 + 3);
    CU_ASSERT_EQUAL(a2, b1 + 3);
    nat_engine_free(e);
}

static void test_sequential_wraps_inside_range(void)
{
    nat_engine_t *e = engine_from("preset = symmetric-sequential\nport-range = 2000-2009\n", 18);
    bool seen[10] = { false };
    for (int i = 0; i < 10; i++) {
        nat_verdict_t v = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, (uint16_t)(100 + i)), 0);
        ASSERT_FORWARD(v);
        CU_ASSERT_TRUE(v.src.port >= 2000 && v.src.port <= 2009);
        seen[v.src.port - 2000] = true;
    }
    for (int i = 0; i < 10; i++)
        CU_ASSERT_TRUE(seen[i]);
    /* Full: the 11th is dropped and counted; the 10 live ones stay. */
    ASSERT_DROP(out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 99), 0), NAT_DROP_PORTS_EXHAUSTED);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 10);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->drops[NAT_DROP_PORTS_EXHAUSTED], 1);
    nat_engine_free(e);
}

static void test_random_ports_spread_over_range(void)
{
    nat_engine_t *e = engine_from("preset = symmetric\nport-range = 10000-19999\n", 19);
    int sequential_steps = 0;
    uint16_t prev = 0, lo = 65535, hi = 0;
    for (int i = 0; i < 500; i++) {
        uint16_t p = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, (uint16_t)(1000 + i)), 0).src.port;
        CU_ASSERT_TRUE(p >= 10000 && p <= 19999);
        sequential_steps += p == prev + 1;
        lo = MIN(lo, p);
        hi = MAX(hi, p);
        prev = p;
    }
    CU_ASSERT_TRUE(sequential_steps < 5);
    CU_ASSERT_TRUE(lo < 10500 && hi > 19500);
    nat_engine_free(e);
}

static void test_port_parity_preserved(void)
{
    nat_engine_t *e = engine_from("preset = symmetric\nport-parity = preserve\n", 20);
    for (int i = 0; i < 200; i++) {
        uint16_t internal = (uint16_t)(5000 + i);
        uint16_t p = out(e, ep(HOST_A, internal), ep(REMOTE_Y, 1), 0).src.port;
        CU_ASSERT_EQUAL(p & 1, internal & 1);
    }
    nat_engine_free(e);
    e = engine_from("preset = symmetric-sequential\nport-parity = preserve\n", 20);
    for (int i = 0; i < 200; i++) {
        uint16_t internal = (uint16_t)(7001 + 2 * (i % 3));
        uint16_t p = out(e, ep(HOST_A, internal), ep(REMOTE_Z, (uint16_t)(i + 1)), 0).src.port;
        CU_ASSERT_EQUAL(p & 1, 1);
    }
    nat_engine_free(e);
}

/* ---- hairpinning (RFC 4787 section 6) --------------------------------- */

static void test_hairpin_external_source(void)
{
    nat_engine_t *e = engine_from("preset = port-restricted-cone\nhairpin = on\n", 21);
    nat_verdict_t b = out(e, ep(HOST_B, 6000), ep(REMOTE_Y, 3478), 0);
    nat_verdict_t a = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    /* B never sent to A's external endpoint, yet the hairpinned packet is
     * delivered: the filter judges outside traffic only (RFC 5780 4.5). */
    nat_verdict_t h = out(e, ep(HOST_A, 5000), b.src, 1);
    ASSERT_FORWARD(h);
    CU_ASSERT_TRUE(h.hairpin);
    ASSERT_EP(h.src, a.src); /* REQ-9a */
    ASSERT_EP(h.dst, ep(HOST_B, 6000));
    /* A second socket of A reaches the first one through its mapping. */
    nat_verdict_t self = out(e, ep(HOST_A, 5001), a.src, 2);
    ASSERT_FORWARD(self);
    ASSERT_EP(self.dst, ep(HOST_A, 5000));
    CU_ASSERT_EQUAL(nat_engine_stats(e)->hairpinned, 2);
    /* An outside stranger is still filtered. */
    ASSERT_DROP(in(e, ep(REMOTE_Z, 1), b.src, 3), NAT_DROP_FILTERED);
    /* Hairpinning to a port with no mapping finds nothing. */
    ASSERT_DROP(out(e, ep(HOST_A, 5000), ep(PUB1, 1), 4), NAT_DROP_NO_MAPPING);
    nat_engine_free(e);
}

static void test_hairpin_off_and_internal_source(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\nhairpin = off\n", 22);
    nat_verdict_t b = out(e, ep(HOST_B, 6000), ep(REMOTE_Y, 3478), 0);
    ASSERT_DROP(out(e, ep(HOST_A, 5000), b.src, 1), NAT_DROP_HAIRPIN_DISABLED);
    nat_engine_free(e);

    e = engine_from("preset = full-cone\nhairpin = internal-source\n", 22);
    b = out(e, ep(HOST_B, 6000), ep(REMOTE_Y, 3478), 0);
    nat_verdict_t h = out(e, ep(HOST_A, 5000), b.src, 1);
    ASSERT_FORWARD(h);
    ASSERT_EP(h.src, ep(HOST_A, 5000));
    ASSERT_EP(h.dst, ep(HOST_B, 6000));
    nat_engine_free(e);
}

/* ---- addresses, pooling, CGN ------------------------------------------ */

static void test_paired_pooling_keeps_one_address_per_host(void)
{
    nat_engine_t *e = engine_from("preset = symmetric\npublic-ips = 4\npooling = paired\n", 23);
    uint32_t ip_of[8] = { 0 };
    bool used[4] = { false };
    for (int i = 0; i < 400; i++) {
        int h = i % 8;
        nat_verdict_t v = out(e, ep(HOST_A + (uint32_t)h, 5000), ep(REMOTE_Y, (uint16_t)(i + 1)), 0);
        if (!ip_of[h])
            ip_of[h] = v.src.ip;
        CU_ASSERT_EQUAL(v.src.ip, ip_of[h]);
        used[v.src.ip - PUB1] = true;
    }
    for (int i = 0; i < 4; i++)
        CU_ASSERT_TRUE(used[i]);
    nat_engine_free(e);
}

static void test_arbitrary_pooling_spreads_one_host(void)
{
    nat_engine_t *e = engine_from("preset = symmetric\npublic-ips = 4\npooling = arbitrary\n", 24);
    bool used[4] = { false };
    for (int i = 0; i < 100; i++)
        used[out(e, ep(HOST_A, 5000), ep(REMOTE_Y, (uint16_t)(i + 1)), 0).src.ip - PUB1] = true;
    CU_ASSERT_TRUE(used[0] && used[1] && used[2] && used[3]);
    nat_engine_free(e);
}

static void test_explicit_public_ips_from_profile(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\npublic-ips = 203.0.113.9\n", 25);
    CU_ASSERT_EQUAL(out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 0).src.ip, ADDR_IP(203, 0, 113, 9));
    CU_ASSERT_TRUE(nat_engine_is_public(e, ADDR_IP(203, 0, 113, 9)));
    CU_ASSERT_FALSE(nat_engine_is_public(e, PUB1));
    ASSERT_DROP(in(e, ep(REMOTE_Y, 1), ep(PUB1, 5000), 1), NAT_DROP_NOT_OURS);
    nat_engine_free(e);
}

static void test_cgn_blocks_and_quota(void)
{
    nat_engine_t *e = engine_from("preset = cgnat\nport-block = 64\nport-blocks-max = 2\nport-range = 1024-2047\n", 26);
    uint16_t blocks[2] = { 0, 0 };
    int nblocks = 0;
    for (int i = 0; i < 128; i++) {
        nat_verdict_t v = out(e, ep(HOST_A, (uint16_t)(5000 + i)), ep(REMOTE_Y, 1), 0);
        ASSERT_FORWARD(v);
        uint16_t block = (uint16_t)((v.src.port - 1024) / 64);
        bool known = false;
        for (int b = 0; b < nblocks; b++)
            known |= blocks[b] == block;
        if (!known && nblocks < 2)
            blocks[nblocks++] = block;
        else
            CU_ASSERT_TRUE(known);
    }
    CU_ASSERT_EQUAL(nblocks, 2);
    /* 2 blocks of 64 are full: the subscriber's quota, not the NAT's ports. */
    ASSERT_DROP(out(e, ep(HOST_A, 9999), ep(REMOTE_Y, 1), 0), NAT_DROP_QUOTA);
    /* Other subscribers still get ports; the full one keeps its mappings. */
    ASSERT_FORWARD(out(e, ep(HOST_B, 9999), ep(REMOTE_Y, 1), 0));
    ASSERT_FORWARD(out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 0));
    CU_ASSERT_EQUAL(nat_engine_stats(e)->drops[NAT_DROP_QUOTA], 1);
    nat_engine_free(e);
}

static void test_cgn_blocks_exhaust_address(void)
{
    /* 2 public addresses x 2 blocks each; 5 subscribers paired round-robin. */
    nat_engine_t *e = engine_from("preset = cgnat\nport-block = 8\nport-blocks-max = 1\nport-range = 1024-1039\n", 27);
    int forwarded = 0, exhausted = 0;
    for (uint32_t h = 0; h < 5; h++) {
        nat_verdict_t v = out(e, ep(HOST_A + h, 5000), ep(REMOTE_Y, 1), 0);
        forwarded += v.action == NAT_ACTION_FORWARD;
        exhausted += v.reason == NAT_DROP_PORTS_EXHAUSTED;
    }
    CU_ASSERT_EQUAL(forwarded, 4);
    CU_ASSERT_EQUAL(exhausted, 1);
    nat_engine_free(e);
}

static void test_port_quota_without_blocks(void)
{
    nat_engine_t *e = engine_from("preset = symmetric\nport-quota = 3\n", 28);
    for (int i = 0; i < 3; i++)
        ASSERT_FORWARD(out(e, ep(HOST_A, 5000), ep(REMOTE_Y, (uint16_t)(i + 1)), 0));
    ASSERT_DROP(out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 99), 0), NAT_DROP_QUOTA);
    ASSERT_FORWARD(out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 0)); /* existing one still works */
    ASSERT_FORWARD(out(e, ep(HOST_B, 5000), ep(REMOTE_Y, 99), 0));
    nat_engine_free(e);
}

/* ---- types, state loss, runtime changes ------------------------------- */

static void test_firewall_filters_without_translating(void)
{
    nat_engine_t *e = engine_from("preset = firewall\ntimeout = 30s\n", 29);
    nat_verdict_t o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 3478), 0);
    ASSERT_EP(o.src, ep(HOST_A, 5000));
    ASSERT_FORWARD(in(e, ep(REMOTE_Y, 3478), ep(HOST_A, 5000), 1));
    ASSERT_DROP(in(e, ep(REMOTE_Y, 3479), ep(HOST_A, 5000), 2), NAT_DROP_FILTERED);
    ASSERT_DROP(in(e, ep(REMOTE_Y, 3478), ep(HOST_B, 5000), 3), NAT_DROP_NO_MAPPING);
    ASSERT_DROP(in(e, ep(REMOTE_Y, 3478), ep(HOST_A, 5000), 30 * S), NAT_DROP_NO_MAPPING);
    nat_engine_free(e);
}

static void test_open_and_blocked(void)
{
    nat_engine_t *e = engine_from("preset = no-nat\n", 30);
    nat_verdict_t v = in(e, ep(REMOTE_Y, 1), ep(HOST_A, 5000), 0);
    ASSERT_FORWARD(v);
    ASSERT_EP(v.dst, ep(HOST_A, 5000));
    ASSERT_EP(out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 0).src, ep(HOST_A, 5000));
    nat_engine_free(e);
    e = engine_from("preset = udp-blocked\n", 30);
    ASSERT_DROP(out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 0), NAT_DROP_UDP_BLOCKED);
    ASSERT_DROP(in(e, ep(REMOTE_Y, 1), ep(HOST_A, 5000), 0), NAT_DROP_UDP_BLOCKED);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->drops[NAT_DROP_UDP_BLOCKED], 2);
    nat_engine_free(e);
}

static void test_reboot_loses_every_mapping(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\n", 31);
    nat_verdict_t o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 0);
    out(e, ep(HOST_B, 5000), ep(REMOTE_Y, 1), 0);
    CU_ASSERT_EQUAL(nat_engine_epoch_start(e), 0);
    nat_engine_reboot(e, 42 * S);
    CU_ASSERT_EQUAL(nat_engine_epoch_start(e), 42 * S);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 0);
    ASSERT_DROP(in(e, ep(REMOTE_Y, 1), o.src, 42 * S), NAT_DROP_NO_MAPPING);
    CU_ASSERT_EQUAL(nat_engine_expire(e, 43 * S), NAT_ENGINE_NEVER);
    CU_ASSERT_TRUE(out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 43 * S).created);
    nat_engine_flush(e, 43 * S);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 0);
    CU_ASSERT_EQUAL(nat_engine_epoch_start(e), 42 * S);
    nat_engine_free(e);
}

static void test_change_ip_moves_and_forgets(void)
{
    const uint32_t spare = ADDR_IP(198, 18, 0, 9);
    nat_engine_t *e = engine_from("preset = port-restricted-cone\n", 33);
    nat_verdict_t o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 0);
    CU_ASSERT_EQUAL(o.src.ip, PUB1);
    CU_ASSERT_FALSE(nat_engine_change_ip(e, PUB2, spare, 0)); /* not ours */
    CU_ASSERT_FALSE(nat_engine_change_ip(e, PUB1, PUB1, 0));  /* already ours */
    CU_ASSERT_TRUE(nat_engine_change_ip(e, PUB1, spare, 0));
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 0);
    CU_ASSERT_FALSE(nat_engine_is_public(e, PUB1));
    CU_ASSERT_TRUE(nat_engine_is_public(e, spare));
    /* The old mapping is gone, and its address is no longer ours. */
    ASSERT_DROP(in(e, ep(REMOTE_Y, 1), o.src, 1 * S), NAT_DROP_NOT_OURS);
    nat_verdict_t again = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 2 * S);
    CU_ASSERT_TRUE(again.created);
    CU_ASSERT_EQUAL(again.src.ip, spare);
    ASSERT_FORWARD(in(e, ep(REMOTE_Y, 1), again.src, 3 * S));
    /* A later `set` is not refused as an address change. */
    nat_profile_t *p = nat_profile_copy(nat_engine_profile(e));
    p->timeout = 9 * S;
    GError *error = NULL;
    CU_ASSERT_TRUE(nat_engine_set_profile(e, p, 3 * S, &error));
    g_clear_error(&error);
    nat_profile_free(p);
    nat_engine_free(e);
    e = engine_from("preset = firewall\n", 34);
    CU_ASSERT_FALSE(nat_engine_change_ip(e, PUB1, spare, 0));
    nat_engine_free(e);
}

static void test_set_profile_live(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\ntimeout = 5min\n", 32);
    nat_verdict_t o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 0);
    nat_profile_t *p = nat_profile_copy(nat_engine_profile(e));
    GError *error = NULL;
    CU_ASSERT_TRUE(nat_profile_set(p, "timeout", "10s", &error));
    CU_ASSERT_TRUE(nat_engine_set_profile(e, p, 0, &error));
    /* A shorter timeout applies to live mappings too, from the change on. */
    CU_ASSERT_EQUAL(nat_engine_expire(e, 0), 10 * S);
    ASSERT_DROP(in(e, ep(REMOTE_Y, 1), o.src, 10 * S), NAT_DROP_NO_MAPPING);
    /* Filtering changes keep the mappings; mapping changes flush them. */
    o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 11 * S);
    CU_ASSERT_TRUE(nat_profile_set(p, "filtering", "address-and-port-dependent", &error));
    CU_ASSERT_TRUE(nat_engine_set_profile(e, p, 11 * S, &error));
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 1);
    ASSERT_DROP(in(e, ep(REMOTE_Z, 1), o.src, 12 * S), NAT_DROP_FILTERED);
    CU_ASSERT_TRUE(nat_profile_set(p, "mapping", "address-dependent", &error));
    CU_ASSERT_TRUE(nat_engine_set_profile(e, p, 12 * S, &error));
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 0);
    /* The number of public addresses is the topology's; it cannot change live. */
    CU_ASSERT_TRUE(nat_profile_set(p, "public-ips", "3", &error));
    CU_ASSERT_FALSE(nat_engine_set_profile(e, p, 12 * S, &error));
    CU_ASSERT_PTR_NOT_NULL(error);
    g_clear_error(&error);
    nat_profile_free(p);
    nat_engine_free(e);
}

/* The re-armed expiry follows the `now` of the change, not the time of the
 * last packet the engine happened to see (here another host's, at 100 s). */
static void test_set_profile_rearms_from_its_now(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\ntimeout = 5min\n", 35);
    nat_verdict_t o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 0);
    out(e, ep(HOST_B, 5000), ep(REMOTE_Y, 1), 100 * S);
    nat_profile_t *p = nat_profile_copy(nat_engine_profile(e));
    GError *error = NULL;
    CU_ASSERT_TRUE(nat_profile_set(p, "timeout", "10s", &error));
    CU_ASSERT_TRUE(nat_engine_set_profile(e, p, 200 * S, &error));
    CU_ASSERT_EQUAL(nat_engine_expire(e, 200 * S), 210 * S);
    nat_mapping_info_t info;
    CU_ASSERT_TRUE(nat_engine_lookup_external(e, NAT_PROTO_UDP, o.src, 209 * S, &info));
    CU_ASSERT_EQUAL(info.expires_at, 210 * S);
    ASSERT_FORWARD(in(e, ep(REMOTE_Z, 1), o.src, 209 * S));
    ASSERT_DROP(in(e, ep(REMOTE_Z, 1), o.src, 220 * S), NAT_DROP_NO_MAPPING);
    nat_profile_free(p);
    nat_engine_free(e);
}

static void test_engine_needs_addresses(void)
{
    GError *error = NULL;
    nat_profile_t *p = nat_profile_new_preset("cgnat", &error);
    uint32_t one = PUB1;
    CU_ASSERT_PTR_NULL(nat_engine_new(p, &one, 1, 1, 0, &error));
    CU_ASSERT_PTR_NOT_NULL(error);
    CU_ASSERT_PTR_NOT_NULL(strstr(error->message, "2 public addresses"));
    g_clear_error(&error);
    nat_profile_free(p);
    nat_engine_free(NULL);
}

/* ---- ICMP queries (RFC 5508 section 3) ---------------------------------- */

static nat_verdict_t qout(nat_engine_t *e, uint32_t host, uint16_t id, uint32_t remote, usec_t now)
{
    return nat_engine_outbound(e, NAT_PROTO_ICMP, ep(host, id), ep(remote, 0), now);
}

static nat_verdict_t qin(nat_engine_t *e, uint32_t remote, uint16_t id, usec_t now)
{
    return nat_engine_inbound(e, NAT_PROTO_ICMP, ep(remote, 0), ep(PUB1, id), now);
}

/* REQ-1a: a query identifier maps the same towards every host, even on a
 * NAT whose UDP mapping depends on address and port. */
static void test_query_mapping_independent_of_destination(void)
{
    nat_engine_t *e = engine_from("preset = symmetric\n", 31);
    nat_verdict_t y = qout(e, HOST_A, 4000, REMOTE_Y, 0);
    nat_verdict_t z = qout(e, HOST_A, 4000, REMOTE_Z, 1);
    ASSERT_FORWARD(y);
    CU_ASSERT_TRUE(y.created);
    CU_ASSERT_FALSE(z.created);
    ASSERT_EP(y.src, z.src);
    nat_engine_free(e);
}

/* UDP ports and query identifiers are separate spaces: neither takes the
 * other's number, neither finds the other's mapping. */
static void test_query_ids_apart_from_udp_ports(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\n", 32);
    nat_verdict_t u = out(e, ep(HOST_B, 4000), ep(REMOTE_Y, 53), 0);
    nat_verdict_t q = qout(e, HOST_A, 4000, REMOTE_Y, 0);
    CU_ASSERT_EQUAL(u.src.port, 4000);
    CU_ASSERT_EQUAL(q.src.port, 4000); /* preserved although UDP 4000 is taken */
    ASSERT_EP(in(e, ep(REMOTE_Y, 53), ep(PUB1, 4000), 1).dst, ep(HOST_B, 4000));
    ASSERT_EP(qin(e, REMOTE_Y, 4000, 1).dst, ep(HOST_A, 4000));
    ASSERT_DROP(qin(e, REMOTE_Y, 4001, 1), NAT_DROP_NO_MAPPING);
    nat_mapping_info_t info;
    CU_ASSERT_TRUE(nat_engine_lookup_external(e, NAT_PROTO_ICMP, ep(PUB1, 4000), 1, &info));
    CU_ASSERT_EQUAL(info.proto, NAT_PROTO_ICMP);
    CU_ASSERT_EQUAL(info.internal.ip, HOST_A);
    /* A second host with the same identifier gets another one. */
    nat_verdict_t q2 = qout(e, HOST_B, 4000, REMOTE_Y, 2);
    ASSERT_FORWARD(q2);
    CU_ASSERT_NOT_EQUAL(q2.src.port, 4000);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->active, 3);
    nat_engine_free(e);
}

/* REQ-2: icmp-timeout, not the UDP timeout; alive until the last
 * microsecond, gone at it. */
static void test_query_timeout_exact(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\ntimeout = 10min\nicmp-timeout = 60s\n", 33);
    qout(e, HOST_A, 4000, REMOTE_Y, 0);
    ASSERT_FORWARD(qin(e, REMOTE_Y, 4000, 60 * S - 1));
    ASSERT_DROP(qin(e, REMOTE_Y, 4000, 60 * S), NAT_DROP_NO_MAPPING);
    CU_ASSERT_EQUAL(nat_engine_stats(e)->mappings_expired, 1);
    nat_engine_free(e);
}

static void test_stats_json(void)
{
    nat_engine_t *e = engine_from("preset = port-restricted-cone\n", 33);
    nat_verdict_t o = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 0);
    in(e, ep(REMOTE_Z, 1), o.src, 1);
    char *json = nat_engine_stats_json(e);
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"filtered\":1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"outbound\":1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"mappings_active\":1"));
    g_free(json);
    nat_engine_free(e);
}

static void test_same_seed_same_ports(void)
{
    uint16_t first[50], second[50];
    for (int run = 0; run < 2; run++) {
        nat_engine_t *e = engine_from("preset = symmetric\n", 77);
        for (int i = 0; i < 50; i++)
            (run ? second : first)[i] = out(e, ep(HOST_A, 5000), ep(REMOTE_Y, (uint16_t)(i + 1)), 0).src.port;
        nat_engine_free(e);
    }
    CU_ASSERT_EQUAL(memcmp(first, second, sizeof first), 0);
}

static void test_explicit_mapping_suggestions(void)
{
    nat_engine_t *e = engine_from("preset = symmetric\n", 34);
    addr_endpoint_t ext;
    usec_t life;
    nat_map_request_t r = { .internal = ep(HOST_A, 5000), .suggested_ip = PUB1, .lifetime = 60 * S,
                            .prefer_failure = true };
    CU_ASSERT_EQUAL(nat_engine_map(e, &r, 0, &ext, &life), NAT_MAP_OK);
    CU_ASSERT_EQUAL(ext.ip, PUB1);
    CU_ASSERT_EQUAL(life, 60 * S);
    /* Explicit mappings are EIM + EIF, and carry the host's outbound traffic. */
    ASSERT_FORWARD(in(e, ep(REMOTE_Z, 9), ext, 1));
    ASSERT_EP(out(e, ep(HOST_A, 5000), ep(REMOTE_Y, 1), 2).src, ext);
    r = (nat_map_request_t){ .internal = ep(HOST_B, 5000), .suggested_ip = ADDR_IP(203, 0, 113, 1),
                             .lifetime = 60 * S, .prefer_failure = true };
    CU_ASSERT_EQUAL(nat_engine_map(e, &r, 3, &ext, &life), NAT_MAP_CANNOT_PROVIDE);
    r.prefer_failure = false;
    CU_ASSERT_EQUAL(nat_engine_map(e, &r, 3, &ext, &life), NAT_MAP_OK);
    CU_ASSERT_EQUAL(ext.ip, PUB1);
    nat_map_request_t taken = { .internal = ep(HOST_B, 7000), .suggested_port = ext.port,
                                .lifetime = 60 * S, .prefer_failure = true };
    CU_ASSERT_EQUAL(nat_engine_map(e, &taken, 4, &ext, &life), NAT_MAP_CANNOT_PROVIDE);
    taken.prefer_failure = false;
    addr_endpoint_t other;
    CU_ASSERT_EQUAL(nat_engine_map(e, &taken, 4, &other, &life), NAT_MAP_OK);
    CU_ASSERT_NOT_EQUAL(other.port, ext.port);
    /* Lifetime ends it; unmap ends it earlier. */
    ASSERT_DROP(in(e, ep(REMOTE_Z, 9), ep(PUB1, other.port), 4 + 60 * S), NAT_DROP_NO_MAPPING);
    CU_ASSERT_TRUE(nat_engine_unmap(e, NAT_PROTO_UDP, ep(HOST_B, 5000), 5));
    CU_ASSERT_FALSE(nat_engine_unmap(e, NAT_PROTO_UDP, ep(HOST_B, 5000), 6));
    nat_engine_free(e);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "EIM reuses one mapping for every destination", test_eim_reuses_mapping_for_every_destination },
        { "ADM: a new mapping per remote address", test_adm_new_mapping_per_remote_address },
        { "APDM: a new mapping per remote endpoint", test_apdm_new_mapping_per_remote_endpoint },
        { "EIF admits anyone once mapped", test_eif_admits_anyone_once_mapped },
        { "ADF admits contacted addresses on any port", test_adf_admits_contacted_address_any_port },
        { "APDF admits only the exact endpoint", test_apdf_admits_only_exact_endpoint },
        { "filtered packets neither create nor refresh", test_filtered_packets_neither_create_nor_refresh },
        { "timeout: alive at T-1us, gone at T", test_timeout_exact_boundary },
        { "expire returns the next deadline", test_expire_returns_next_deadline },
        { "expire re-arms a refreshed mapping", test_expire_rearms_refreshed_mapping },
        { "refresh = outbound", test_outbound_refresh_only },
        { "refresh = both", test_inbound_refresh_when_both },
        { "timeout-unreplied until the first inbound", test_unreplied_timeout_until_first_inbound },
        { "hold-down delays port reuse", test_hold_down_delays_port_reuse },
        { "without hold-down a preserved port returns", test_no_hold_down_reuses_preserved_port },
        { "preservation and its collision fallbacks", test_preserve_and_collision_fallbacks },
        { "sequential counter shared across hosts", test_sequential_counter_shared_across_hosts },
        { "sequential wraps inside the range; exhaustion drops", test_sequential_wraps_inside_range },
        { "random ports spread over the range", test_random_ports_spread_over_range },
        { "port parity preserved", test_port_parity_preserved },
        { "hairpin with the external source (REQ-9a)", test_hairpin_external_source },
        { "hairpin off, and internal source", test_hairpin_off_and_internal_source },
        { "paired pooling: one address per host", test_paired_pooling_keeps_one_address_per_host },
        { "arbitrary pooling spreads one host", test_arbitrary_pooling_spreads_one_host },
        { "public addresses named in the profile", test_explicit_public_ips_from_profile },
        { "CGN port blocks and block quota", test_cgn_blocks_and_quota },
        { "CGN blocks exhaust an address", test_cgn_blocks_exhaust_address },
        { "port quota without blocks", test_port_quota_without_blocks },
        { "firewall filters without translating", test_firewall_filters_without_translating },
        { "no-nat passes, udp-blocked drops", test_open_and_blocked },
        { "reboot loses every mapping, new epoch", test_reboot_loses_every_mapping },
        { "change-ip moves to the new address and forgets every mapping", test_change_ip_moves_and_forgets },
        { "profile changes while running", test_set_profile_live },
        { "a profile change re-arms timers from its own now", test_set_profile_rearms_from_its_now },
        { "engine needs the addresses the profile asks for", test_engine_needs_addresses },
        { "query mapping independent of the destination (RFC 5508 REQ-1a)",
          test_query_mapping_independent_of_destination },
        { "query identifiers apart from UDP ports", test_query_ids_apart_from_udp_ports },
        { "query timeout exact to the microsecond (REQ-2)", test_query_timeout_exact },
        { "stats as JSON", test_stats_json },
        { "same seed, same ports", test_same_seed_same_ports },
        { "explicit mappings honour or refuse suggestions", test_explicit_mapping_suggestions },
        { NULL, NULL },
    };
    return test_run_suite("nat_engine", cases);
}
