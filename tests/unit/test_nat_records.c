/* The records port-mapping protocols keep beside the engine's explicit
 * mappings: valid while the mapping is as granted, stale otherwise, swept
 * before they pile up. */
#include "natsim/nat_records.h"
#include "natsim_fixture.h"
#include "testutil.h"

#define S USEC_PER_SEC

static addr_endpoint_t grant(nat_engine_t *e, nat_records_t *records, uint16_t port, usec_t life,
                             const char *note, usec_t now)
{
    nat_map_request_t r = { .proto = NAT_PROTO_TCP, .internal = ep(HOST_A, port), .lifetime = life };
    addr_endpoint_t ext;
    usec_t granted;
    CU_ASSERT_EQUAL_FATAL(nat_engine_map(e, &r, now, &ext, &granted), NAT_MAP_OK);
    nat_records_set(records, e, NAT_PROTO_TCP, r.internal, ext, now + granted, g_strdup(note), now);
    return ext;
}

static void test_live_until_the_mapping_changes(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\n", 1);
    nat_records_t *records = nat_records_new(g_free);
    grant(e, records, 8080, 60 * S, "web", 0);
    nat_record_t *r = nat_records_find(records, e, NAT_PROTO_TCP, ep(HOST_A, 8080), 1 * S);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_STRING_EQUAL(r->data, "web");
    /* another protocol's key is another record */
    CU_ASSERT_PTR_NULL(nat_records_find(records, e, NAT_PROTO_UDP, ep(HOST_A, 8080), 1 * S));
    /* renewed by someone else (another lifetime): stale */
    nat_map_request_t again = { .proto = NAT_PROTO_TCP, .internal = ep(HOST_A, 8080), .lifetime = 90 * S };
    addr_endpoint_t ext;
    usec_t granted;
    CU_ASSERT_EQUAL(nat_engine_map(e, &again, 2 * S, &ext, &granted), NAT_MAP_OK);
    CU_ASSERT_PTR_NULL(nat_records_find(records, e, NAT_PROTO_TCP, ep(HOST_A, 8080), 3 * S));
    /* expired: stale */
    grant(e, records, 9090, 10 * S, "game", 0);
    CU_ASSERT_PTR_NOT_NULL(nat_records_find(records, e, NAT_PROTO_TCP, ep(HOST_A, 9090), 10 * S - 1));
    CU_ASSERT_PTR_NULL(nat_records_find(records, e, NAT_PROTO_TCP, ep(HOST_A, 9090), 10 * S));
    nat_records_free(records);
    nat_engine_free(e);
}

static bool is_odd_port(nat_record_t *r, void *ctx)
{
    (void)ctx;
    return r->internal.port & 1;
}

static void test_filter_and_sweep(void)
{
    nat_engine_t *e = engine_from("preset = full-cone\n", 2);
    nat_records_t *records = nat_records_new(g_free);
    for (uint16_t p = 1000; p < 1010; p++)
        grant(e, records, p, 60 * S, "x", 0);
    nat_records_filter(records, is_odd_port, NULL);
    CU_ASSERT_PTR_NULL(nat_records_find(records, e, NAT_PROTO_TCP, ep(HOST_A, 1001), 1));
    CU_ASSERT_PTR_NOT_NULL(nat_records_find(records, e, NAT_PROTO_TCP, ep(HOST_A, 1002), 1));
    nat_records_remove(records, NAT_PROTO_TCP, ep(HOST_A, 1002));
    CU_ASSERT_PTR_NULL(nat_records_find(records, e, NAT_PROTO_TCP, ep(HOST_A, 1002), 1));
    /* thousands of short leases, never looked up again: swept, so the
     * table stays near what is live (ASan would see a leak of the rest) */
    guint most = 0;
    for (unsigned i = 0; i < 5000; i++) {
        usec_t now = (usec_t)i * 10 * S;
        grant(e, records, (uint16_t)(20000 + i), 5 * S, "short", now);
        most = MAX(most, nat_records_count(records));
    }
    CU_ASSERT_TRUE(most <= 2 * 64 + 2); /* never beyond twice the first sweep's size */
    unsigned live = 0;
    for (uint16_t p = 20000; p < 25000; p++)
        live += nat_records_find(records, e, NAT_PROTO_TCP, ep(HOST_A, p), 4999 * 10 * S + 1) != NULL;
    CU_ASSERT_EQUAL(live, 1);
    nat_records_clear(records);
    CU_ASSERT_PTR_NULL(nat_records_find(records, e, NAT_PROTO_TCP, ep(HOST_A, 1004), 1));
    nat_records_free(records);
    nat_engine_free(e);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "live until the mapping changes", test_live_until_the_mapping_changes },
        { "filter, remove, sweep, clear", test_filter_and_sweep },
        { NULL, NULL },
    };
    return test_run_suite("nat_records", cases);
}
