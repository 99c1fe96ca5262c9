#include "bench_engine.h"

#include <gio/gio.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_udp.h"
#include "natsim/nat_engine.h"

#define BENCH_PORTS_PER_HOST 64

/* Bytes the process holds: glibc's own count, or (under sanitizers, whose
 * allocators glibc cannot see) the resident set. */
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    if (mi.uordblks + mi.hblkhd > 0)
        return mi.uordblks + mi.hblkhd;
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static addr_endpoint_t bench_internal(uint32_t i)
{
    return addr_endpoint(ADDR_IP(10, 0, 0, 0) + i / BENCH_PORTS_PER_HOST,
                         (uint16_t)(20000 + i % BENCH_PORTS_PER_HOST));
}

static addr_endpoint_t bench_remote(uint32_t i)
{
    return addr_endpoint(ADDR_IP(198, 19, 0, 1) + i % 251, 3478);
}

/* The i-th key of the random lookup order (a cheap stateless mix). */
static uint32_t order_ref(uint32_t i, uint32_t n, uint64_t seed)
{
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return (uint32_t)(x % n);
}

static nat_engine_t *bench_engine(const nat_profile_t *profile, uint64_t seed)
{
    uint32_t ips[BENCH_PUBLIC_IPS];
    for (int i = 0; i < BENCH_PUBLIC_IPS; i++)
        ips[i] = ADDR_IP(198, 18, 0, 1) + (uint32_t)i;
    return nat_engine_new(profile, ips, BENCH_PUBLIC_IPS, seed, 0, NULL);
}

/* Mapping i is created at time i µs, so they fall due one per microsecond. */
static bool bench_fill(nat_engine_t *e, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        nat_verdict_t v = nat_engine_outbound(e, NAT_PROTO_UDP, bench_internal(i), bench_remote(i), (usec_t)i);
        if (v.action != NAT_ACTION_FORWARD || !v.created) {
            fprintf(stderr, "natlab bench: mapping %u not created (%s)\n", i,
                    nat_drop_reason_name(v.reason));
            return false;
        }
    }
    return true;
}

static void add_double(JsonBuilder *b, const char *name, double v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_double_value(b, v);
}

static void add_int(JsonBuilder *b, const char *name, gint64 v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, v);
}

/* TCP: n established connections (handshake through the engine), each a
 * mapping and a session; memory per connection, and lookups of a data
 * segment on a random connection (mapping, then session, then its state). */
static bool bench_tcp(JsonBuilder *b, const nat_profile_t *profile, uint32_t n, uint32_t lookups,
                      uint64_t seed, GError **error)
{
    size_t before = heap_in_use();
    nat_engine_t *e = bench_engine(profile, seed);
    double t0 = bench_mono_seconds();
    for (uint32_t i = 0; i < n; i++) {
        usec_t now = (usec_t)i;
        nat_verdict_t syn = nat_engine_outbound_tcp(e, bench_internal(i), bench_remote(i), NAT_TCP_SYN, now);
        nat_verdict_t back = nat_engine_inbound_tcp(e, bench_remote(i), syn.src,
                                                    NAT_TCP_SYN | NAT_TCP_ACK, now);
        nat_verdict_t ack = nat_engine_outbound_tcp(e, bench_internal(i), bench_remote(i), NAT_TCP_ACK, now);
        if (!syn.created || back.action != NAT_ACTION_FORWARD || ack.action != NAT_ACTION_FORWARD) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "TCP connection %u did not form", i);
            nat_engine_free(e);
            return false;
        }
    }
    double t1 = bench_mono_seconds();
    size_t after = heap_in_use();
    add_double(b, "tcp_connections_per_s", n / (t1 - t0));
    add_double(b, "tcp_bytes_per_connection", (double)(after - before) / n);
    add_int(b, "tcp_sessions", nat_engine_sessions(e));
    usec_t now = n;
    uint64_t forwarded = 0;
    t0 = bench_mono_seconds();
    for (uint32_t i = 0; i < lookups; i++) {
        uint32_t k = order_ref(i, n, seed);
        nat_verdict_t v = nat_engine_outbound_tcp(e, bench_internal(k), bench_remote(k), NAT_TCP_ACK, now);
        forwarded += v.action == NAT_ACTION_FORWARD && !v.created;
    }
    t1 = bench_mono_seconds();
    nat_engine_free(e);
    if (forwarded != lookups) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%" G_GUINT64_FORMAT " of %u TCP lookups hit",
                    forwarded, lookups);
        return false;
    }
    add_double(b, "tcp_lookups_per_s", lookups / (t1 - t0));
    return true;
}

JsonNode *bench_engine_run(uint32_t n, uint32_t lookups, uint64_t seed, GError **error)
{
    g_autoptr(nat_profile_t) profile = nat_profile_new_preset("port-restricted-cone", error);
    if (!profile)
        return NULL;
    profile->public_ip_count = BENCH_PUBLIC_IPS;
    profile->timeout = 300 * USEC_PER_SEC;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "profile");
    g_autofree char *summary = nat_profile_summary(profile);
    json_builder_add_string_value(b, summary);
    add_int(b, "mappings", n);

    /* Inserts and memory: the heap grows by exactly what the engine holds. */
    size_t before = heap_in_use();
    nat_engine_t *e = bench_engine(profile, seed);
    double t0 = bench_mono_seconds();
    if (!bench_fill(e, n)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the engine refused a mapping");
        nat_engine_free(e);
        return NULL;
    }
    double t1 = bench_mono_seconds();
    size_t after = heap_in_use();
    add_double(b, "inserts_per_s", n / (t1 - t0));
    add_double(b, "bytes_per_mapping", (double)(after - before) / n);

    /* Lookups of existing mappings in random order (the cache-unfriendly case). */
    uint32_t *order = g_new(uint32_t, lookups);
    for (uint32_t i = 0; i < lookups; i++)
        order[i] = order_ref(i, n, seed);
    usec_t now = n;
    uint64_t forwarded = 0;
    t0 = bench_mono_seconds();
    for (uint32_t i = 0; i < lookups; i++) {
        nat_verdict_t v = nat_engine_outbound(e, NAT_PROTO_UDP, bench_internal(order[i]), bench_remote(order[i]), now);
        forwarded += v.action == NAT_ACTION_FORWARD && !v.created;
    }
    t1 = bench_mono_seconds();
    g_free(order);
    if (forwarded != lookups) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%" G_GUINT64_FORMAT " of %u lookups hit",
                    forwarded, lookups);
        nat_engine_free(e);
        return NULL;
    }
    add_int(b, "lookups", lookups);
    double lookups_per_s = lookups / (t1 - t0);
    add_double(b, "lookups_per_s", lookups_per_s);
    nat_engine_free(e);

    /* Reference in the same run: GLib's hash table holding the same keys
     * (internal endpoint -> external), looked up in the same order. */
    GHashTable *ref = g_hash_table_new(g_int64_hash, g_int64_equal);
    gint64 *keys = g_new(gint64, n);
    for (uint32_t i = 0; i < n; i++) {
        addr_endpoint_t in_ep = bench_internal(i);
        keys[i] = ((gint64)in_ep.ip << 16) | in_ep.port;
        g_hash_table_insert(ref, &keys[i], GUINT_TO_POINTER(i + 1));
    }
    uint64_t hits = 0;
    t0 = bench_mono_seconds();
    for (uint32_t i = 0; i < lookups; i++) {
        addr_endpoint_t in_ep = bench_internal(order_ref(i, n, seed));
        gint64 key = ((gint64)in_ep.ip << 16) | in_ep.port;
        hits += g_hash_table_lookup(ref, &key) != NULL;
    }
    t1 = bench_mono_seconds();
    g_hash_table_destroy(ref);
    g_free(keys);
    add_double(b, "reference_ghashtable_lookups_per_s", hits / (t1 - t0));
    add_double(b, "lookups_ratio_to_reference", lookups_per_s / (hits / (t1 - t0)));

    /* Expiry: batches of growing size on a fresh table; equal ns per expired
     * mapping across batches means the cost follows what expires. */
    e = bench_engine(profile, seed);
    if (!bench_fill(e, n)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the engine refused a mapping");
        nat_engine_free(e);
        return NULL;
    }
    usec_t base = profile->timeout;
    t0 = bench_mono_seconds();
    int noop_calls = 100000;
    for (int i = 0; i < noop_calls; i++)
        nat_engine_expire(e, base - 1);
    t1 = bench_mono_seconds();
    add_double(b, "expire_nothing_due_ns", (t1 - t0) * 1e9 / noop_calls);
    json_builder_set_member_name(b, "expire_batches");
    json_builder_begin_array(b);
    uint32_t done = 0;
    const uint32_t batches[] = { n / 100, n / 10, n };
    for (size_t k = 0; k < G_N_ELEMENTS(batches); k++) {
        uint32_t upto = batches[k];
        if (upto <= done)
            continue;
        uint32_t active_before = nat_engine_stats(e)->active;
        t0 = bench_mono_seconds();
        nat_engine_expire(e, base + upto - 1);
        t1 = bench_mono_seconds();
        uint32_t expired = active_before - nat_engine_stats(e)->active;
        json_builder_begin_object(b);
        add_int(b, "expired", expired);
        add_double(b, "seconds", t1 - t0);
        add_double(b, "ns_per_mapping", expired ? (t1 - t0) * 1e9 / expired : 0);
        json_builder_end_object(b);
        done = upto;
    }
    json_builder_end_array(b);
    add_int(b, "left_active", nat_engine_stats(e)->active);
    nat_engine_free(e);

    if (!bench_tcp(b, profile, n, lookups, seed, error))
        return NULL;
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

