/* NAT-PMP server logic (RFC 6886): requests built byte by byte, every field
 * of every answer checked, time driven through `now`. */
#include <CUnit/Basic.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "natsim/nat_engine.h"
#include "natsim/nat_pmp.h"
#include "natsim/nat_profile.h"
#include "portmap_fixture.h"
#include "testutil.h"

#define CLIENT_PORT 5350

static nat_engine_t *engine_with(const char *preset, unsigned flags,
                                 void (*tweak)(nat_profile_t *))
{
    GError *err = NULL;
    nat_profile_t *p = nat_profile_new_preset(preset, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    p->port_mapping = flags;
    if (tweak)
        tweak(p);
    uint32_t ip = PUBLIC_IP;
    nat_engine_t *e = nat_engine_new(p, &ip, 1, 42, T0, &err);
    if (!e) {
        fprintf(stderr, "nat_engine_new: %s\n", err->message);
        g_error_free(err);
    }
    nat_profile_free(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    return e;
}

static nat_engine_t *engine_new(unsigned flags)
{
    return engine_with("port-restricted-cone", flags, NULL);
}

/* Section 3.3 request: version, opcode, reserved(2), internal port,
 * suggested external port, requested lifetime. */
static void map_request(uint8_t req[12], uint8_t op, uint16_t internal, uint16_t suggested,
                        uint32_t lifetime)
{
    req[0] = 0;  /* version */
    req[1] = op; /* 1 = UDP, 2 = TCP */
    req[2] = 0;  /* reserved */
    req[3] = 0;
    req[4] = (uint8_t)(internal >> 8);
    req[5] = (uint8_t)internal;
    req[6] = (uint8_t)(suggested >> 8);
    req[7] = (uint8_t)suggested;
    req[8] = (uint8_t)(lifetime >> 24);
    req[9] = (uint8_t)(lifetime >> 16);
    req[10] = (uint8_t)(lifetime >> 8);
    req[11] = (uint8_t)lifetime;
}

static size_t ask(nat_engine_t *e, uint32_t host, const uint8_t *req, size_t len, usec_t now,
                  uint8_t *out)
{
    return nat_pmp_handle(e, addr_endpoint(host, CLIENT_PORT), req, len, now, out, 1500);
}

/* Sends a UDP map request and checks the header of the 16-byte answer;
 * returns the mapped external port. */
static uint16_t map_udp(nat_engine_t *e, uint32_t host, uint16_t internal, uint16_t suggested,
                        uint32_t lifetime, usec_t now, uint16_t want_result,
                        uint32_t want_lifetime)
{
    uint8_t req[12], out[1500];
    map_request(req, PMP_OP_MAP_UDP, internal, suggested, lifetime);
    size_t n = ask(e, host, req, sizeof req, now, out);
    CU_ASSERT_EQUAL_FATAL(n, 16);
    CU_ASSERT_EQUAL(out[0], 0);   /* version */
    CU_ASSERT_EQUAL(out[1], 129); /* 128 + 1 */
    CU_ASSERT_EQUAL(wire_get16(out + 2), want_result);
    CU_ASSERT_EQUAL(wire_get32(out + 4), nat_pmp_epoch(e, now));
    CU_ASSERT_EQUAL(wire_get16(out + 8), internal);
    CU_ASSERT_EQUAL(wire_get32(out + 12), want_lifetime);
    if (want_result != PMP_RESULT_SUCCESS)
        CU_ASSERT_EQUAL(wire_get16(out + 10), 0);
    return wire_get16(out + 10);
}

static bool has_mapping(nat_engine_t *e, uint32_t host, uint16_t port, usec_t now)
{
    nat_mapping_info_t info;
    return nat_engine_find_explicit(e, NAT_PROTO_UDP, addr_endpoint(host, port), now, &info);
}

/* ---- tests ------------------------------------------------------------ */

static void test_external_address(void)
{
    g_autoptr(nat_engine_t) e = engine_new(NAT_PORT_MAPPING_NATPMP);
    const uint8_t req[2] = { 0, 0 }; /* version 0, opcode 0 */
    uint8_t out[1500];
    size_t n = ask(e, HOST_A, req, sizeof req, SEC(42) + 900 * USEC_PER_MSEC, out);
    const uint8_t want[12] = {
        0, 128, 0, 0,     /* version, 128 + 0, result 0 */
        0, 0, 0, 42,      /* 42.9 s since the epoch began */
        203, 0, 113, 7,   /* the external address */
    };
    CU_ASSERT_EQUAL(n, 12);
    CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
    /* Trailing bytes are tolerated. */
    const uint8_t longer[4] = { 0, 0, 0xde, 0xad };
    CU_ASSERT_EQUAL(ask(e, HOST_A, longer, sizeof longer, SEC(42), out), 12);
}

static void test_disabled(void)
{
    const uint8_t req[2] = { 0, 0 };
    uint8_t out[1500];
    nat_engine_t *e = engine_new(0);
    CU_ASSERT_EQUAL(ask(e, HOST_A, req, sizeof req, SEC(1), out), 0);
    nat_engine_free(e);
    e = engine_new(NAT_PORT_MAPPING_PCP);
    CU_ASSERT_EQUAL(ask(e, HOST_A, req, sizeof req, SEC(1), out), 0);
    nat_engine_free(e);
    /* RFC 6886: a device that does not translate must not answer. */
    e = engine_with("firewall", NAT_PORT_MAPPING_NATPMP, NULL);
    CU_ASSERT_EQUAL(ask(e, HOST_A, req, sizeof req, SEC(1), out), 0);
    nat_engine_free(e);
}

static void test_map_renew_delete(void)
{
    g_autoptr(nat_engine_t) e = engine_new(NAT_PORT_MAPPING_NATPMP);
    uint8_t req[12], out[1500];
    map_request(req, PMP_OP_MAP_UDP, 5000, 0, 3600);
    CU_ASSERT_EQUAL_FATAL(ask(e, HOST_A, req, sizeof req, SEC(1), out), 16);
    const uint8_t want[16] = {
        0, 129, 0, 0,          /* version, 128 + 1, result 0 */
        0, 0, 0, 1,            /* epoch: 1 s */
        0x13, 0x88, 0x13, 0x88, /* internal 5000, external 5000 (preserved) */
        0, 0, 0x0e, 0x10,      /* lifetime 3600 */
    };
    CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
    nat_mapping_info_t info;
    CU_ASSERT_TRUE_FATAL(nat_engine_find_explicit(e, NAT_PROTO_UDP, addr_endpoint(HOST_A, 5000), SEC(1), &info));
    CU_ASSERT_TRUE(addr_endpoint_equal(info.external, addr_endpoint(PUBLIC_IP, 5000)));
    CU_ASSERT_TRUE(info.is_explicit);
    CU_ASSERT_EQUAL(info.expires_at, SEC(1 + 3600));

    /* Renewal: same external port, the timer starts again. */
    CU_ASSERT_EQUAL(map_udp(e, HOST_A, 5000, 5000, 3600, SEC(100), 0, 3600), 5000);
    CU_ASSERT_TRUE(nat_engine_find_explicit(e, NAT_PROTO_UDP, addr_endpoint(HOST_A, 5000), SEC(100), &info));
    CU_ASSERT_EQUAL(info.expires_at, SEC(100 + 3600));

    /* Section 3.4: lifetime 0 deletes; the answer has external port 0 and
     * lifetime 0; the suggested port is ignored. */
    map_request(req, PMP_OP_MAP_UDP, 5000, 1234, 0);
    CU_ASSERT_EQUAL_FATAL(ask(e, HOST_A, req, sizeof req, SEC(200), out), 16);
    const uint8_t deleted[16] = {
        0, 129, 0, 0,     /* result 0 */
        0, 0, 0, 200,     /* epoch */
        0x13, 0x88, 0, 0, /* internal 5000, external 0 */
        0, 0, 0, 0,       /* lifetime 0 */
    };
    CU_ASSERT_EQUAL(memcmp(out, deleted, sizeof deleted), 0);
    CU_ASSERT_FALSE(has_mapping(e, HOST_A, 5000, SEC(200)));
    /* A retransmitted delete gets the same answer. */
    uint8_t again[1500];
    CU_ASSERT_EQUAL(ask(e, HOST_A, req, sizeof req, SEC(200), again), 16);
    CU_ASSERT_EQUAL(memcmp(again, deleted, sizeof deleted), 0);
}

static void test_delete_all(void)
{
    g_autoptr(nat_engine_t) e = engine_new(NAT_PORT_MAPPING_NATPMP);
    map_udp(e, HOST_A, 5000, 0, 3600, SEC(1), 0, 3600);
    map_udp(e, HOST_A, 5001, 0, 3600, SEC(1), 0, 3600);
    map_udp(e, HOST_A, 5002, 0, 3600, SEC(1), 0, 3600);
    map_udp(e, HOST_B, 6000, 0, 3600, SEC(1), 0, 3600);
    /* Internal port 0 and lifetime 0: all of the client's UDP mappings. */
    uint8_t req[12], out[1500];
    map_request(req, PMP_OP_MAP_UDP, 0, 0, 0);
    CU_ASSERT_EQUAL_FATAL(ask(e, HOST_A, req, sizeof req, SEC(2), out), 16);
    const uint8_t want[16] = { 0, 129, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0 };
    CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
    CU_ASSERT_FALSE(has_mapping(e, HOST_A, 5000, SEC(2)));
    CU_ASSERT_FALSE(has_mapping(e, HOST_A, 5001, SEC(2)));
    CU_ASSERT_FALSE(has_mapping(e, HOST_A, 5002, SEC(2)));
    CU_ASSERT_TRUE(has_mapping(e, HOST_B, 6000, SEC(2)));
}

static void max_one_hour(nat_profile_t *p)
{
    p->port_mapping_lifetime_max = USEC_PER_HOUR;
}

static void test_lifetime_clamp(void)
{
    g_autoptr(nat_engine_t) e = engine_with("port-restricted-cone", NAT_PORT_MAPPING_NATPMP,
                                            max_one_hour);
    /* RFC 6886 section 3.3 recommends 7200 s; the gateway may grant less. */
    map_udp(e, HOST_A, 5000, 0, 7200, SEC(1), 0, 3600);
    map_udp(e, HOST_A, 5001, 0, UINT32_MAX, SEC(1), 0, 3600);
    map_udp(e, HOST_A, 5002, 0, 30, SEC(1), 0, 30);
    nat_mapping_info_t info;
    CU_ASSERT_TRUE(nat_engine_find_explicit(e, NAT_PROTO_UDP, addr_endpoint(HOST_A, 5001), SEC(1), &info));
    CU_ASSERT_EQUAL(info.expires_at, SEC(1 + 3600));
    /* The mapping lives exactly as long as granted. */
    CU_ASSERT_TRUE(has_mapping(e, HOST_A, 5002, SEC(30)));
    CU_ASSERT_FALSE(has_mapping(e, HOST_A, 5002, SEC(31)));
}

static void test_epoch_and_reboot(void)
{
    g_autoptr(nat_engine_t) e = engine_new(NAT_PORT_MAPPING_NATPMP);
    const uint8_t req[2] = { 0, 0 };
    uint8_t out[1500];
    CU_ASSERT_EQUAL(ask(e, HOST_A, req, sizeof req, T0, out), 12);
    CU_ASSERT_EQUAL(wire_get32(out + 4), 0); /* counts from engine creation */
    map_udp(e, HOST_A, 5000, 0, 7200, SEC(10), 0, 7200);
    CU_ASSERT_EQUAL(ask(e, HOST_A, req, sizeof req, SEC(1000), out), 12);
    CU_ASSERT_EQUAL(wire_get32(out + 4), 1000);

    /* Section 3.6: state lost, the epoch starts again; a client sees it go
     * back and knows to re-create its mappings. */
    nat_engine_reboot(e, SEC(1500));
    CU_ASSERT_EQUAL(ask(e, HOST_A, req, sizeof req, SEC(1510), out), 12);
    CU_ASSERT_EQUAL(wire_get32(out + 4), 10);
    CU_ASSERT_TRUE(wire_get32(out + 4) < 1000);
    CU_ASSERT_FALSE(has_mapping(e, HOST_A, 5000, SEC(1510)));
    map_udp(e, HOST_A, 5000, 5000, 7200, SEC(1511), 0, 7200);
    CU_ASSERT_TRUE(has_mapping(e, HOST_A, 5000, SEC(1511)));
}

static void test_reachable_from_any_remote(void)
{
    /* "symmetric": APDM + APDF with random ports. An explicit mapping is EIM
     * and EIF whatever the preset says (RFC 6887 section 11, by analogy). */
    g_autoptr(nat_engine_t) e = engine_with("symmetric", NAT_PORT_MAPPING_NATPMP, NULL);
    uint16_t port = map_udp(e, HOST_A, 5000, 0, 3600, SEC(1), 0, 3600);
    CU_ASSERT_NOT_EQUAL(port, 0);
    addr_endpoint_t external = addr_endpoint(PUBLIC_IP, port);

    nat_verdict_t v = nat_engine_inbound(e, NAT_PROTO_UDP, REMOTE_1, external, SEC(2));
    CU_ASSERT_EQUAL(v.action, NAT_ACTION_FORWARD);
    CU_ASSERT_TRUE(addr_endpoint_equal(v.dst, addr_endpoint(HOST_A, 5000)));
    CU_ASSERT_TRUE(addr_endpoint_equal(v.src, REMOTE_1));
    v = nat_engine_inbound(e, NAT_PROTO_UDP, REMOTE_2, external, SEC(3));
    CU_ASSERT_EQUAL(v.action, NAT_ACTION_FORWARD);
    CU_ASSERT_TRUE(addr_endpoint_equal(v.dst, addr_endpoint(HOST_A, 5000)));

    /* Outbound from the mapped endpoint uses the mapped port, to anyone. */
    v = nat_engine_outbound(e, NAT_PROTO_UDP, addr_endpoint(HOST_A, 5000), REMOTE_3, SEC(4));
    CU_ASSERT_EQUAL(v.action, NAT_ACTION_FORWARD);
    CU_ASSERT_TRUE(addr_endpoint_equal(v.src, external));
    v = nat_engine_outbound(e, NAT_PROTO_UDP, addr_endpoint(HOST_A, 5000), REMOTE_1, SEC(4));
    CU_ASSERT_TRUE(addr_endpoint_equal(v.src, external));

    /* Contrast: a dynamic mapping on the same NAT filters strangers. */
    v = nat_engine_outbound(e, NAT_PROTO_UDP, addr_endpoint(HOST_B, 6000), REMOTE_1, SEC(5));
    CU_ASSERT_EQUAL_FATAL(v.action, NAT_ACTION_FORWARD);
    nat_verdict_t in = nat_engine_inbound(e, NAT_PROTO_UDP, REMOTE_2, v.src, SEC(5));
    CU_ASSERT_EQUAL(in.action, NAT_ACTION_DROP);
    CU_ASSERT_EQUAL(in.reason, NAT_DROP_FILTERED);
}

static void test_suggested_port(void)
{
    g_autoptr(nat_engine_t) e = engine_with("symmetric", NAT_PORT_MAPPING_NATPMP, NULL);
    CU_ASSERT_EQUAL(map_udp(e, HOST_A, 5000, 41000, 3600, SEC(1), 0, 3600), 41000);
    /* Taken: NAT-PMP has no PREFER_FAILURE, another port is handed out. */
    uint16_t other = map_udp(e, HOST_B, 5000, 41000, 3600, SEC(1), 0, 3600);
    CU_ASSERT_NOT_EQUAL(other, 41000);
    CU_ASSERT_NOT_EQUAL(other, 0);
}

static void quota_one(nat_profile_t *p)
{
    p->port_quota = 1;
}

static void test_quota(void)
{
    g_autoptr(nat_engine_t) e = engine_with("port-restricted-cone", NAT_PORT_MAPPING_NATPMP,
                                            quota_one);
    CU_ASSERT_EQUAL(map_udp(e, HOST_A, 5000, 0, 3600, SEC(1), 0, 3600), 5000);
    /* Result 4, "Out of resources"; external port and lifetime 0. */
    map_udp(e, HOST_A, 5001, 0, 3600, SEC(2), PMP_RESULT_OUT_OF_RESOURCES, 0);
    CU_ASSERT_FALSE(has_mapping(e, HOST_A, 5001, SEC(2)));
    /* Renewing the one it has is not a new mapping. */
    CU_ASSERT_EQUAL(map_udp(e, HOST_A, 5000, 0, 3600, SEC(3), 0, 3600), 5000);
    /* The quota is per subscriber. */
    CU_ASSERT_EQUAL(map_udp(e, HOST_B, 5001, 0, 3600, SEC(4), 0, 3600), 5001);
}

static void one_port(nat_profile_t *p)
{
    p->port_min = p->port_max = 40000;
}

static void test_no_resources(void)
{
    g_autoptr(nat_engine_t) e = engine_with("port-restricted-cone", NAT_PORT_MAPPING_NATPMP,
                                            one_port);
    CU_ASSERT_EQUAL(map_udp(e, HOST_A, 5000, 0, 3600, SEC(1), 0, 3600), 40000);
    map_udp(e, HOST_B, 5000, 0, 3600, SEC(1), PMP_RESULT_OUT_OF_RESOURCES, 0);
}

static bool has_tcp_mapping(nat_engine_t *e, uint32_t host, uint16_t port, usec_t now)
{
    nat_mapping_info_t info;
    return nat_engine_find_explicit(e, NAT_PROTO_TCP, addr_endpoint(host, port), now, &info);
}

static void test_tcp(void)
{
    g_autoptr(nat_engine_t) e = engine_new(NAT_PORT_MAPPING_NATPMP);
    uint8_t req[12], out[1500];
    map_request(req, PMP_OP_MAP_TCP, 80, 8080, 3600);
    CU_ASSERT_EQUAL_FATAL(ask(e, HOST_A, req, sizeof req, SEC(7), out), 16);
    const uint8_t mapped[16] = {
        0, 130, 0, 0,        /* 128 + 2 (TCP), result 0 */
        0, 0, 0, 7,          /* epoch */
        0, 80, 0x1f, 0x90,   /* internal 80, external 8080 (the suggestion) */
        0, 0, 0x0e, 0x10,    /* lifetime 3600 */
    };
    CU_ASSERT_EQUAL(memcmp(out, mapped, sizeof mapped), 0);
    nat_mapping_info_t info;
    CU_ASSERT_TRUE_FATAL(nat_engine_find_explicit(e, NAT_PROTO_TCP, addr_endpoint(HOST_A, 80), SEC(7), &info));
    CU_ASSERT_EQUAL(info.proto, NAT_PROTO_TCP);
    CU_ASSERT_TRUE(addr_endpoint_equal(info.external, addr_endpoint(PUBLIC_IP, 8080)));
    /* The TCP mapping is not a UDP one, and UDP port 80 maps on its own. */
    CU_ASSERT_FALSE(has_mapping(e, HOST_A, 80, SEC(7)));
    map_udp(e, HOST_A, 80, 8080, 3600, SEC(7), 0, 3600);
    CU_ASSERT_TRUE(has_mapping(e, HOST_A, 80, SEC(7)));
    /* Deleting TCP 80 (section 3.4) leaves UDP 80 alone. */
    map_request(req, PMP_OP_MAP_TCP, 80, 0, 0);
    CU_ASSERT_EQUAL_FATAL(ask(e, HOST_A, req, sizeof req, SEC(8), out), 16);
    const uint8_t deleted[16] = { 0, 130, 0, 0, 0, 0, 0, 8, 0, 80, 0, 0, 0, 0, 0, 0 };
    CU_ASSERT_EQUAL(memcmp(out, deleted, sizeof deleted), 0);
    CU_ASSERT_FALSE(has_tcp_mapping(e, HOST_A, 80, SEC(8)));
    CU_ASSERT_TRUE(has_mapping(e, HOST_A, 80, SEC(8)));
    /* Internal port 0 with lifetime 0: every TCP mapping of the host, no UDP one. */
    map_request(req, PMP_OP_MAP_TCP, 81, 0, 3600);
    CU_ASSERT_EQUAL_FATAL(ask(e, HOST_A, req, sizeof req, SEC(9), out), 16);
    CU_ASSERT_TRUE(has_tcp_mapping(e, HOST_A, 81, SEC(9)));
    map_request(req, PMP_OP_MAP_TCP, 0, 0, 0);
    CU_ASSERT_EQUAL(ask(e, HOST_A, req, sizeof req, SEC(9), out), 16);
    CU_ASSERT_FALSE(has_tcp_mapping(e, HOST_A, 81, SEC(9)));
    CU_ASSERT_TRUE(has_mapping(e, HOST_A, 80, SEC(9)));
    /* Internal port 0 means "all" only when deleting. */
    map_udp(e, HOST_A, 0, 0, 3600, SEC(10), PMP_RESULT_NOT_AUTHORIZED, 0);
    map_request(req, PMP_OP_MAP_TCP, 0, 0, 3600);
    CU_ASSERT_EQUAL_FATAL(ask(e, HOST_A, req, sizeof req, SEC(10), out), 16);
    CU_ASSERT_EQUAL(out[3], PMP_RESULT_NOT_AUTHORIZED);
}

static void test_unsupported_version(void)
{
    g_autoptr(nat_engine_t) e = engine_new(NAT_PORT_MAPPING_NATPMP);
    uint8_t out[1500];
    const uint8_t v1[2] = { 1, 0 };
    /* Section 3.5 with erratum 3618: version 0, opcode 128, result 1, epoch. */
    const uint8_t want[8] = { 0, 128, 0, 1, 0, 0, 0, 9 };
    CU_ASSERT_EQUAL(ask(e, HOST_A, v1, sizeof v1, SEC(9), out), 8);
    CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
    /* A PCP request (version 2) reaching a NAT-PMP-only server. */
    uint8_t pcp[24] = { 2, 1 };
    CU_ASSERT_EQUAL(ask(e, HOST_A, pcp, sizeof pcp, SEC(9), out), 8);
    CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
}

static void test_responses_dropped(void)
{
    g_autoptr(nat_engine_t) e = engine_new(NAT_PORT_MAPPING_NATPMP);
    uint8_t out[1500];
    const uint8_t ext_response[12] = { 0, 128, 0, 0, 0, 0, 0, 1, 203, 0, 113, 7 };
    CU_ASSERT_EQUAL(ask(e, HOST_A, ext_response, sizeof ext_response, SEC(1), out), 0);
    uint8_t map_response[16] = { 0, 129 };
    CU_ASSERT_EQUAL(ask(e, HOST_A, map_response, sizeof map_response, SEC(1), out), 0);
    /* Nor a response of another version (a PCP one): no loops. */
    uint8_t pcp_response[24] = { 2, 0x81 };
    CU_ASSERT_EQUAL(ask(e, HOST_A, pcp_response, sizeof pcp_response, SEC(1), out), 0);
}

static void test_unsupported_opcode(void)
{
    g_autoptr(nat_engine_t) e = engine_new(NAT_PORT_MAPPING_NATPMP);
    uint8_t out[1500];
    /* Section 3.5: the whole request back, top bit set, result 5. */
    const uint8_t req[9] = { 0, 3, 0xaa, 0xbb, 1, 2, 3, 4, 5 };
    const uint8_t want[9] = { 0, 131, 0, 5, 1, 2, 3, 4, 5 };
    CU_ASSERT_EQUAL(ask(e, HOST_A, req, sizeof req, SEC(1), out), 9);
    CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
    /* Too short to hold a result code: padded to 4 bytes. */
    const uint8_t tiny[2] = { 0, 127 };
    const uint8_t tiny_want[4] = { 0, 255, 0, 5 };
    CU_ASSERT_EQUAL(ask(e, HOST_A, tiny, sizeof tiny, SEC(1), out), 4);
    CU_ASSERT_EQUAL(memcmp(out, tiny_want, sizeof tiny_want), 0);
    /* The echo is cut to the room there is. */
    uint8_t big[100] = { 0, 9 };
    CU_ASSERT_EQUAL(nat_pmp_handle(e, addr_endpoint(HOST_A, 1), big, sizeof big, SEC(1), out, 40),
                    40);
    CU_ASSERT_EQUAL(nat_pmp_handle(e, addr_endpoint(HOST_A, 1), big, sizeof big, SEC(1), out, 3),
                    0);
}

static void test_truncated(void)
{
    g_autoptr(nat_engine_t) e = engine_new(NAT_PORT_MAPPING_NATPMP);
    uint8_t req[12], out[1500];
    CU_ASSERT_EQUAL(ask(e, HOST_A, NULL, 0, SEC(1), out), 0);
    const uint8_t one[1] = { 0 };
    CU_ASSERT_EQUAL(ask(e, HOST_A, one, 1, SEC(1), out), 0);
    /* A map request without all 12 bytes has no internal port to answer. */
    map_request(req, PMP_OP_MAP_UDP, 5000, 0, 3600);
    for (size_t len = 2; len < sizeof req; len++)
        CU_ASSERT_EQUAL(ask(e, HOST_A, req, len, SEC(1), out), 0);
    CU_ASSERT_FALSE(has_mapping(e, HOST_A, 5000, SEC(1)));
    /* No room for the answer: nothing is written, nothing is mapped twice. */
    CU_ASSERT_EQUAL(nat_pmp_handle(e, addr_endpoint(HOST_A, 1), req, 12, SEC(1), out, 15), 0);
    const uint8_t ext[2] = { 0, 0 };
    CU_ASSERT_EQUAL(nat_pmp_handle(e, addr_endpoint(HOST_A, 1), ext, 2, SEC(1), out, 11), 0);
    CU_ASSERT_EQUAL(nat_pmp_handle(e, addr_endpoint(HOST_A, 1), ext, 2, SEC(1), NULL, 0), 0);
    const uint8_t v1[2] = { 1, 0 };
    CU_ASSERT_EQUAL(nat_pmp_handle(e, addr_endpoint(HOST_A, 1), v1, 2, SEC(1), out, 7), 0);
}

/* Random and half-valid datagrams: never a crash (run under ASan), and
 * every answer has one of the documented shapes. */
static void test_garbage(void)
{
    g_autoptr(nat_engine_t) e = engine_new(NAT_PORT_MAPPING_NATPMP);
    g_autoptr(GRand) rand = g_rand_new_with_seed(6886);
    uint8_t req[64], out[64];
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)g_rand_int_range(rand, 0, sizeof req + 1);
        for (size_t j = 0; j < len; j++)
            req[j] = (uint8_t)g_rand_int(rand);
        if (len > 0 && g_rand_boolean(rand))
            req[0] = 0;
        if (len > 1 && g_rand_boolean(rand))
            req[1] = (uint8_t)g_rand_int_range(rand, 0, 4);
        usec_t now = SEC(i);
        uint32_t host = HOST_A + (uint32_t)g_rand_int_range(rand, 0, 4);
        size_t n = nat_pmp_handle(e, addr_endpoint(host, 5350), req, len, now, out, sizeof out);
        if (n == 0)
            continue;
        CU_ASSERT_TRUE(n <= sizeof out);
        CU_ASSERT_EQUAL(out[0], 0);
        CU_ASSERT_TRUE(out[1] & 0x80);
        uint16_t result = wire_get16(out + 2);
        if (req[0] != 0) {
            CU_ASSERT_EQUAL(n, 8);
            CU_ASSERT_EQUAL(result, PMP_RESULT_UNSUPP_VERSION);
        } else if (req[1] == 0) {
            CU_ASSERT_EQUAL(n, 12);
        } else if (req[1] <= 2) {
            CU_ASSERT_EQUAL(n, 16);
            CU_ASSERT_TRUE(result <= PMP_RESULT_OUT_OF_RESOURCES);
        } else {
            CU_ASSERT_EQUAL(n, MAX(len, (size_t)4));
            CU_ASSERT_EQUAL(result, PMP_RESULT_UNSUPP_OPCODE);
        }
        if (n >= 8 && req[0] == 0 && req[1] <= 2)
            CU_ASSERT_EQUAL(wire_get32(out + 4), (uint32_t)i);
        nat_engine_expire(e, now);
    }
    CU_ASSERT_TRUE(nat_engine_stats(e)->explicit_created > 100); /* the map path ran */
}

int main(void)
{
    static const test_case_t cases[] = {
        { "external address", test_external_address },
        { "disabled or not translating: silent", test_disabled },
        { "map, renew, delete", test_map_renew_delete },
        { "delete all of a client's mappings", test_delete_all },
        { "lifetime clamp", test_lifetime_clamp },
        { "epoch from creation, back after reboot", test_epoch_and_reboot },
        { "mapping reachable from any remote", test_reachable_from_any_remote },
        { "suggested port", test_suggested_port },
        { "quota: out of resources", test_quota },
        { "port range exhausted", test_no_resources },
        { "TCP mapped on its own, internal port 0 refused", test_tcp },
        { "unsupported version", test_unsupported_version },
        { "responses dropped", test_responses_dropped },
        { "unsupported opcode echoed", test_unsupported_opcode },
        { "truncated requests, small buffers", test_truncated },
        { "garbage", test_garbage },
        { NULL, NULL },
    };
    return test_run_suite("nat_pmp", cases);
}
