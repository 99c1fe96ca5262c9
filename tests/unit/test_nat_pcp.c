/* PCP server logic (RFC 6887): requests built byte by byte, every field of
 * every answer checked, time driven through `now`. */
#include <CUnit/Basic.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "natsim/nat_engine.h"
#include "natsim/nat_pcp.h"
#include "natsim/nat_pmp.h"
#include "natsim/nat_profile.h"
#include "portmap_fixture.h"
#include "testutil.h"

#define CLIENT_PORT 40123
#define UDP 17
#define TCP 6
#define BOTH (NAT_PORT_MAPPING_PCP | NAT_PORT_MAPPING_NATPMP)

static const uint8_t N1[12] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
static const uint8_t N2[12] = { 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2 };

/* ---- fixtures ----------------------------------------------------------- */

typedef struct lab {
    nat_engine_t *engine;
    nat_pcp_t *pcp;
} lab_t;

static lab_t lab_with(const char *preset, unsigned flags, void (*tweak)(nat_profile_t *))
{
    GError *err = NULL;
    nat_profile_t *p = nat_profile_new_preset(preset, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    p->port_mapping = flags;
    if (tweak)
        tweak(p);
    uint32_t ip = PUBLIC_IP;
    lab_t lab = { nat_engine_new(p, &ip, 1, 42, T0, &err), nat_pcp_new() };
    if (!lab.engine) {
        fprintf(stderr, "nat_engine_new: %s\n", err->message);
        g_error_free(err);
    }
    nat_profile_free(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lab.engine);
    return lab;
}

static lab_t lab_new(void)
{
    return lab_with("port-restricted-cone", NAT_PORT_MAPPING_PCP, NULL);
}

static void lab_free(lab_t *lab)
{
    nat_pcp_free(lab->pcp);
    nat_engine_free(lab->engine);
}

/* ---- requests, byte by byte --------------------------------------------- */

typedef struct pkt {
    uint8_t b[1200];
    size_t len;
} pkt_t;

/* Section 7.1 header: version 2, R = 0 and the opcode, reserved(2),
 * requested lifetime, client address as ::ffff:a.b.c.d. */
static void header(pkt_t *p, uint8_t opcode, uint32_t lifetime, uint32_t client_ip)
{
    memset(p, 0, sizeof *p);
    p->b[0] = 2;
    p->b[1] = opcode;
    wire_put32(p->b + 4, lifetime);
    p->b[18] = 0xff; /* bytes 8-17 zero, 18-19 ffff */
    p->b[19] = 0xff;
    wire_put32(p->b + 20, client_ip);
    p->len = 24;
}

/* Section 11.1 MAP payload at byte 24: nonce(12), protocol, reserved(3),
 * internal port, suggested external port, suggested address (16). */
static void map_req(pkt_t *p, const uint8_t nonce[12], uint8_t protocol, uint16_t internal,
                    uint16_t suggested_port, uint32_t suggested_ip, uint32_t lifetime,
                    uint32_t client_ip)
{
    header(p, PCP_OP_MAP, lifetime, client_ip);
    memcpy(p->b + 24, nonce, 12);
    p->b[36] = protocol;
    wire_put16(p->b + 40, internal);
    wire_put16(p->b + 42, suggested_port);
    if (suggested_ip) {
        p->b[54] = 0xff;
        p->b[55] = 0xff;
        wire_put32(p->b + 56, suggested_ip);
    }
    p->len = 60;
}

/* Section 7.3: code, reserved, length, data padded to 4 bytes. */
static void option(pkt_t *p, uint8_t code, uint16_t data_len)
{
    p->b[p->len] = code;
    p->b[p->len + 1] = 0;
    wire_put16(p->b + p->len + 2, data_len);
    p->len += 4 + ((data_len + 3u) & ~3u);
}

static size_t ask(lab_t *lab, uint32_t host, const pkt_t *p, usec_t now, uint8_t *out)
{
    return nat_pcp_handle(lab->pcp, lab->engine, addr_endpoint(host, CLIENT_PORT), p->b, p->len,
                          now, out, NAT_PCP_MAX_SIZE);
}

/* ---- response checks --------------------------------------------------- */

/* Section 7.2: version 2, R = 1 with the opcode, reserved 0, result,
 * lifetime, epoch, 96 reserved bits of zero. */
static void check_header(const uint8_t *r, uint8_t opcode, uint8_t result, uint32_t lifetime,
                         uint32_t epoch)
{
    CU_ASSERT_EQUAL(r[0], 2);
    CU_ASSERT_EQUAL(r[1], 0x80 | opcode);
    CU_ASSERT_EQUAL(r[2], 0);
    CU_ASSERT_EQUAL(r[3], result);
    CU_ASSERT_EQUAL(wire_get32(r + 4), lifetime);
    CU_ASSERT_EQUAL(wire_get32(r + 8), epoch);
    for (int i = 12; i < 24; i++)
        CU_ASSERT_EQUAL(r[i], 0);
}

/* Section 11.1 response payload. */
static void check_map(const uint8_t *r, const uint8_t nonce[12], uint8_t protocol,
                      uint16_t internal, uint16_t external_port, uint32_t external_ip)
{
    CU_ASSERT_EQUAL(memcmp(r + 24, nonce, 12), 0);
    CU_ASSERT_EQUAL(r[36], protocol);
    CU_ASSERT_EQUAL(r[37], 0);
    CU_ASSERT_EQUAL(r[38], 0);
    CU_ASSERT_EQUAL(r[39], 0);
    CU_ASSERT_EQUAL(wire_get16(r + 40), internal);
    CU_ASSERT_EQUAL(wire_get16(r + 42), external_port);
    for (int i = 44; i < 54; i++)
        CU_ASSERT_EQUAL(r[i], 0);
    if (external_ip) {
        CU_ASSERT_EQUAL(r[54], 0xff);
        CU_ASSERT_EQUAL(r[55], 0xff);
    } else {
        CU_ASSERT_EQUAL(r[54], 0);
        CU_ASSERT_EQUAL(r[55], 0);
    }
    CU_ASSERT_EQUAL(wire_get32(r + 56), external_ip);
}

/* Maps host:internal with `nonce` and expects success; returns the port. */
static uint16_t map_ok(lab_t *lab, uint32_t host, const uint8_t nonce[12], uint16_t internal,
                       uint16_t suggested, uint32_t lifetime, usec_t now)
{
    pkt_t p;
    uint8_t out[NAT_PCP_MAX_SIZE];
    map_req(&p, nonce, UDP, internal, suggested, 0, lifetime, host);
    size_t n = ask(lab, host, &p, now, out);
    CU_ASSERT_EQUAL_FATAL(n, 60);
    CU_ASSERT_EQUAL_FATAL(out[3], PCP_RESULT_SUCCESS);
    return wire_get16(out + 42);
}

/* Sends `p` and expects the error `result` with the request's payload
 * echoed (`payload` bytes of it), lifetime NAT_PCP_ERROR_LIFETIME_S. */
static void expect_error(lab_t *lab, uint32_t host, const pkt_t *p, usec_t now, uint8_t result,
                         size_t payload)
{
    uint8_t out[NAT_PCP_MAX_SIZE];
    size_t n = ask(lab, host, p, now, out);
    CU_ASSERT_EQUAL_FATAL(n, 24 + payload);
    check_header(out, p->b[1], result, NAT_PCP_ERROR_LIFETIME_S, nat_pmp_epoch(lab->engine, now));
    if (payload == PCP_MAP_SIZE) {
        /* Everything copied, the suggestion in the assigned fields; the
         * reserved bits zero. */
        CU_ASSERT_EQUAL(memcmp(out + 24, p->b + 24, 13), 0);
        CU_ASSERT_EQUAL(out[37] | out[38] | out[39], 0);
        CU_ASSERT_EQUAL(memcmp(out + 40, p->b + 40, 20), 0);
    } else if (payload) {
        CU_ASSERT_EQUAL(memcmp(out + 24, p->b + 24, payload), 0);
    }
}

static bool has_mapping(lab_t *lab, uint32_t host, uint16_t port, usec_t now)
{
    nat_mapping_info_t info;
    return nat_engine_find_explicit(lab->engine, NAT_PROTO_UDP, addr_endpoint(host, port), now, &info);
}

/* ---- tests ------------------------------------------------------------- */

static void test_map_success(void)
{
    lab_t lab = lab_new();
    pkt_t p;
    uint8_t out[NAT_PCP_MAX_SIZE];
    map_req(&p, N1, UDP, 5000, 0, 0, 3600, HOST_A);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(7), out), 60);
    check_header(out, PCP_OP_MAP, PCP_RESULT_SUCCESS, 3600, 7);
    check_map(out, N1, UDP, 5000, 5000, PUBLIC_IP); /* preserved */
    nat_mapping_info_t info;
    CU_ASSERT_TRUE_FATAL(
        nat_engine_find_explicit(lab.engine, NAT_PROTO_UDP, addr_endpoint(HOST_A, 5000), SEC(7), &info));
    CU_ASSERT_TRUE(addr_endpoint_equal(info.external, addr_endpoint(PUBLIC_IP, 5000)));
    CU_ASSERT_EQUAL(info.expires_at, SEC(7 + 3600));
    /* An all-zero IPv6 suggestion (::) means no preference too; reserved
     * bits are ignored on receipt and sent as zero. */
    map_req(&p, N1, UDP, 5001, 0, 0, 3600, HOST_A);
    p.b[2] = p.b[3] = 0xaa;
    p.b[37] = p.b[38] = p.b[39] = 0xaa;
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(8), out), 60);
    check_header(out, PCP_OP_MAP, PCP_RESULT_SUCCESS, 3600, 8);
    check_map(out, N1, UDP, 5001, 5001, PUBLIC_IP);
    /* Errors too. */
    map_req(&p, N1, 132, 5001, 0, 0, 3600, HOST_A); /* SCTP */
    p.b[37] = p.b[38] = p.b[39] = 0xaa;
    expect_error(&lab, HOST_A, &p, SEC(8), PCP_RESULT_UNSUPP_PROTOCOL, PCP_MAP_SIZE);
    lab_free(&lab);
}

static void test_renew_and_delete(void)
{
    lab_t lab = lab_new();
    CU_ASSERT_EQUAL(map_ok(&lab, HOST_A, N1, 5000, 0, 600, SEC(1)), 5000);
    /* Renewal with the same nonce: same port, new expiry. */
    CU_ASSERT_EQUAL(map_ok(&lab, HOST_A, N1, 5000, 5000, 600, SEC(300)), 5000);
    nat_mapping_info_t info;
    CU_ASSERT_TRUE(nat_engine_find_explicit(lab.engine, NAT_PROTO_UDP, addr_endpoint(HOST_A, 5000), SEC(300), &info));
    CU_ASSERT_EQUAL(info.expires_at, SEC(300 + 600));

    /* Lifetime 0 deletes; the answer echoes the request, lifetime 0. */
    pkt_t p;
    uint8_t out[NAT_PCP_MAX_SIZE];
    map_req(&p, N1, UDP, 5000, 5000, PUBLIC_IP, 0, HOST_A);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(400), out), 60);
    check_header(out, PCP_OP_MAP, PCP_RESULT_SUCCESS, 0, 400);
    check_map(out, N1, UDP, 5000, 5000, PUBLIC_IP);
    CU_ASSERT_FALSE(has_mapping(&lab, HOST_A, 5000, SEC(400)));
    /* Deleting again, or what never existed, succeeds the same way. */
    uint8_t again[NAT_PCP_MAX_SIZE];
    CU_ASSERT_EQUAL(ask(&lab, HOST_A, &p, SEC(400), again), 60);
    CU_ASSERT_EQUAL(memcmp(out, again, 60), 0);
    lab_free(&lab);
}

static void test_nonce_mismatch(void)
{
    lab_t lab = lab_new();
    map_ok(&lab, HOST_A, N1, 5000, 0, 3600, SEC(1));
    /* Section 11.3: the mapping belongs to N1's owner. */
    pkt_t p;
    map_req(&p, N2, UDP, 5000, 0, 0, 3600, HOST_A);
    expect_error(&lab, HOST_A, &p, SEC(2), PCP_RESULT_NOT_AUTHORIZED, PCP_MAP_SIZE);
    map_req(&p, N2, UDP, 5000, 0, 0, 0, HOST_A); /* nor may N2 delete it */
    expect_error(&lab, HOST_A, &p, SEC(3), PCP_RESULT_NOT_AUTHORIZED, PCP_MAP_SIZE);
    CU_ASSERT_TRUE(has_mapping(&lab, HOST_A, 5000, SEC(3)));
    map_req(&p, N1, UDP, 5000, 0, 0, 0, HOST_A);
    uint8_t out[NAT_PCP_MAX_SIZE];
    CU_ASSERT_EQUAL(ask(&lab, HOST_A, &p, SEC(4), out), 60);
    CU_ASSERT_EQUAL(out[3], PCP_RESULT_SUCCESS);
    CU_ASSERT_FALSE(has_mapping(&lab, HOST_A, 5000, SEC(4)));
    /* Free again: any nonce may have it now. */
    CU_ASSERT_EQUAL(map_ok(&lab, HOST_A, N2, 5000, 0, 3600, SEC(5)), 5000);
    lab_free(&lab);
}

static void test_nonce_forgotten_when_mapping_expires(void)
{
    lab_t lab = lab_new();
    map_ok(&lab, HOST_A, N1, 5000, 0, 120, SEC(10));
    pkt_t p;
    map_req(&p, N2, UDP, 5000, 0, 0, 120, HOST_A);
    expect_error(&lab, HOST_A, &p, SEC(129), PCP_RESULT_NOT_AUTHORIZED, PCP_MAP_SIZE);
    nat_engine_expire(lab.engine, SEC(130));
    CU_ASSERT_EQUAL(map_ok(&lab, HOST_A, N2, 5000, 0, 120, SEC(131)), 5000);
    /* Many short-lived mappings: stale records are swept, never in the way. */
    for (int round = 0; round < 3; round++) {
        usec_t t = SEC(1000 + round * 1000);
        for (uint16_t port = 10000; port < 10300; port++)
            map_ok(&lab, HOST_B, round % 2 ? N1 : N2, port, 0, 120, t);
        nat_engine_expire(lab.engine, t + 121 * USEC_PER_SEC);
    }
    lab_free(&lab);
}

static void test_adopts_mapping_without_nonce(void)
{
    lab_t lab = lab_with("port-restricted-cone", BOTH, NULL);
    /* A NAT-PMP mapping (version 0 through the same entry point). */
    const uint8_t pmp[12] = { 0, 1, 0, 0, 0x13, 0x88, 0, 0, 0, 0, 0x0e, 0x10 };
    uint8_t out[NAT_PCP_MAX_SIZE];
    CU_ASSERT_EQUAL_FATAL(nat_pcp_handle(lab.pcp, lab.engine, addr_endpoint(HOST_A, 1), pmp,
                                         sizeof pmp, SEC(1), out, sizeof out),
                          16);
    CU_ASSERT_EQUAL(wire_get16(out + 10), 5000);
    /* PCP adopts it under N1; from then on N1 owns it. */
    CU_ASSERT_EQUAL(map_ok(&lab, HOST_A, N1, 5000, 0, 3600, SEC(2)), 5000);
    pkt_t p;
    map_req(&p, N2, UDP, 5000, 0, 0, 3600, HOST_A);
    expect_error(&lab, HOST_A, &p, SEC(3), PCP_RESULT_NOT_AUTHORIZED, PCP_MAP_SIZE);
    /* NAT-PMP has no nonce; renewing through it hands the mapping back to
     * whoever asks next. */
    CU_ASSERT_EQUAL(nat_pcp_handle(lab.pcp, lab.engine, addr_endpoint(HOST_A, 1), pmp,
                                   sizeof pmp, SEC(4), out, sizeof out),
                    16);
    CU_ASSERT_EQUAL(map_ok(&lab, HOST_A, N2, 5000, 0, 3600, SEC(5)), 5000);
    lab_free(&lab);
}

static void test_delete_all_with_nonce(void)
{
    lab_t lab = lab_new();
    map_ok(&lab, HOST_A, N1, 5000, 0, 3600, SEC(1));
    map_ok(&lab, HOST_A, N1, 5001, 0, 3600, SEC(1));
    map_ok(&lab, HOST_A, N2, 5002, 0, 3600, SEC(1));
    map_ok(&lab, HOST_B, N1, 5003, 0, 3600, SEC(1));
    /* Internal port 0, lifetime 0: everything this client made under N1. */
    pkt_t p;
    uint8_t out[NAT_PCP_MAX_SIZE];
    map_req(&p, N1, UDP, 0, 0, 0, 0, HOST_A);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(2), out), 60);
    check_header(out, PCP_OP_MAP, PCP_RESULT_SUCCESS, 0, 2);
    check_map(out, N1, UDP, 0, 0, 0);
    CU_ASSERT_FALSE(has_mapping(&lab, HOST_A, 5000, SEC(2)));
    CU_ASSERT_FALSE(has_mapping(&lab, HOST_A, 5001, SEC(2)));
    CU_ASSERT_TRUE(has_mapping(&lab, HOST_A, 5002, SEC(2)));
    CU_ASSERT_TRUE(has_mapping(&lab, HOST_B, 5003, SEC(2)));
    /* Protocol 0 ("all") with lifetime 0 does the same for N2; its internal
     * port is ignored (section 11.1). */
    map_req(&p, N2, 0, 7777, 0, 0, 0, HOST_A);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(3), out), 60);
    CU_ASSERT_EQUAL(out[3], PCP_RESULT_SUCCESS);
    CU_ASSERT_FALSE(has_mapping(&lab, HOST_A, 5002, SEC(3)));
    CU_ASSERT_TRUE(has_mapping(&lab, HOST_B, 5003, SEC(3)));
    lab_free(&lab);
}

static void test_address_mismatch(void)
{
    lab_t lab = lab_new();
    pkt_t p;
    /* The client field says .99, the packet came from .10: a NAT between. */
    map_req(&p, N1, UDP, 5000, 0, 0, 3600, ADDR_IP(192, 168, 1, 99));
    expect_error(&lab, HOST_A, &p, SEC(1), PCP_RESULT_ADDRESS_MISMATCH, PCP_MAP_SIZE);
    /* A native IPv6 client address (2001:db8::1) cannot be our IPv4 source. */
    map_req(&p, N1, UDP, 5000, 0, 0, 3600, HOST_A);
    memset(p.b + 8, 0, 16);
    p.b[8] = 0x20;
    p.b[9] = 0x01;
    p.b[10] = 0x0d;
    p.b[11] = 0xb8;
    p.b[23] = 1;
    expect_error(&lab, HOST_A, &p, SEC(1), PCP_RESULT_ADDRESS_MISMATCH, PCP_MAP_SIZE);
    /* ::192.168.1.10 (IPv4-compatible, not IPv4-mapped) is not it either. */
    map_req(&p, N1, UDP, 5000, 0, 0, 3600, HOST_A);
    p.b[18] = p.b[19] = 0;
    expect_error(&lab, HOST_A, &p, SEC(1), PCP_RESULT_ADDRESS_MISMATCH, PCP_MAP_SIZE);
    /* ANNOUNCE is checked the same way. */
    header(&p, PCP_OP_ANNOUNCE, 0, ADDR_IP(10, 0, 0, 1));
    expect_error(&lab, HOST_A, &p, SEC(1), PCP_RESULT_ADDRESS_MISMATCH, 0);
    CU_ASSERT_FALSE(has_mapping(&lab, HOST_A, 5000, SEC(1)));
    lab_free(&lab);
}

static void test_prefer_failure(void)
{
    lab_t lab = lab_new();
    /* B holds external port 41000. */
    CU_ASSERT_EQUAL(map_ok(&lab, HOST_B, N2, 41000, 0, 3600, SEC(1)), 41000);
    pkt_t p;
    uint8_t out[NAT_PCP_MAX_SIZE];
    /* Section 13.2: the suggestion or nothing. */
    map_req(&p, N1, UDP, 5000, 41000, PUBLIC_IP, 3600, HOST_A);
    option(&p, PCP_OPTION_PREFER_FAILURE, 0);
    expect_error(&lab, HOST_A, &p, SEC(2), PCP_RESULT_CANNOT_PROVIDE_EXTERNAL, PCP_MAP_SIZE);
    CU_ASSERT_FALSE(has_mapping(&lab, HOST_A, 5000, SEC(2)));
    /* Without the option another port is handed out. */
    map_req(&p, N1, UDP, 5000, 41000, PUBLIC_IP, 3600, HOST_A);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(3), out), 60);
    CU_ASSERT_EQUAL(out[3], PCP_RESULT_SUCCESS);
    CU_ASSERT_NOT_EQUAL(wire_get16(out + 42), 41000);
    /* A free suggestion with the option: granted, and the option echoed. */
    map_req(&p, N1, UDP, 5001, 42000, PUBLIC_IP, 3600, HOST_A);
    option(&p, PCP_OPTION_PREFER_FAILURE, 0);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(4), out), 64);
    check_header(out, PCP_OP_MAP, PCP_RESULT_SUCCESS, 3600, 4);
    check_map(out, N1, UDP, 5001, 42000, PUBLIC_IP);
    const uint8_t echoed[4] = { PCP_OPTION_PREFER_FAILURE, 0, 0, 0 };
    CU_ASSERT_EQUAL(memcmp(out + 60, echoed, 4), 0);
    /* A suggested address that is not ours cannot be provided. */
    map_req(&p, N1, UDP, 5002, 43000, ADDR_IP(198, 51, 100, 9), 3600, HOST_A);
    option(&p, PCP_OPTION_PREFER_FAILURE, 0);
    expect_error(&lab, HOST_A, &p, SEC(5), PCP_RESULT_CANNOT_PROVIDE_EXTERNAL, PCP_MAP_SIZE);
    /* Nor a native IPv6 one (2001:db8::9). */
    map_req(&p, N1, UDP, 5002, 43000, 0, 3600, HOST_A);
    p.b[44] = 0x20;
    p.b[45] = 0x01;
    p.b[46] = 0x0d;
    p.b[47] = 0xb8;
    p.b[59] = 9;
    option(&p, PCP_OPTION_PREFER_FAILURE, 0);
    expect_error(&lab, HOST_A, &p, SEC(5), PCP_RESULT_CANNOT_PROVIDE_EXTERNAL, PCP_MAP_SIZE);
    /* Without PREFER_FAILURE a foreign suggestion is simply not followed. */
    map_req(&p, N1, UDP, 5002, 43000, ADDR_IP(198, 51, 100, 9), 3600, HOST_A);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(6), out), 60);
    check_header(out, PCP_OP_MAP, PCP_RESULT_SUCCESS, 3600, 6);
    CU_ASSERT_EQUAL(wire_get32(out + 56), PUBLIC_IP);
    lab_free(&lab);
}

static void test_options(void)
{
    lab_t lab = lab_new();
    pkt_t p;
    uint8_t out[NAT_PCP_MAX_SIZE];
    /* FILTER (section 13.3) and THIRD_PARTY (13.1) are not supported. */
    map_req(&p, N1, UDP, 5000, 0, 0, 3600, HOST_A);
    option(&p, PCP_OPTION_FILTER, 20);
    expect_error(&lab, HOST_A, &p, SEC(1), PCP_RESULT_UNSUPP_OPTION, PCP_MAP_SIZE);
    map_req(&p, N1, UDP, 5000, 0, 0, 3600, HOST_A);
    option(&p, PCP_OPTION_THIRD_PARTY, 16);
    expect_error(&lab, HOST_A, &p, SEC(1), PCP_RESULT_UNSUPP_OPTION, PCP_MAP_SIZE);
    /* Any unknown code below 128 must be understood, so it fails. */
    map_req(&p, N1, UDP, 5000, 0, 0, 3600, HOST_A);
    option(&p, 50, 0);
    expect_error(&lab, HOST_A, &p, SEC(1), PCP_RESULT_UNSUPP_OPTION, PCP_MAP_SIZE);
    map_req(&p, N1, UDP, 5000, 0, 0, 3600, HOST_A);
    option(&p, 127, 4);
    expect_error(&lab, HOST_A, &p, SEC(1), PCP_RESULT_UNSUPP_OPTION, PCP_MAP_SIZE);
    CU_ASSERT_FALSE(has_mapping(&lab, HOST_A, 5000, SEC(1)));
    /* 128 and up may be ignored (3 data bytes, padded to 4). */
    map_req(&p, N1, UDP, 5000, 0, 0, 3600, HOST_A);
    option(&p, 200, 3);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(1), out), 60);
    CU_ASSERT_EQUAL(out[3], PCP_RESULT_SUCCESS);
    /* PREFER_FAILURE carries no data and appears once. */
    map_req(&p, N1, UDP, 5001, 0, 0, 3600, HOST_A);
    option(&p, PCP_OPTION_PREFER_FAILURE, 4);
    expect_error(&lab, HOST_A, &p, SEC(2), PCP_RESULT_MALFORMED_OPTION, PCP_MAP_SIZE);
    map_req(&p, N1, UDP, 5001, 0, 0, 3600, HOST_A);
    option(&p, PCP_OPTION_PREFER_FAILURE, 0);
    option(&p, PCP_OPTION_PREFER_FAILURE, 0);
    expect_error(&lab, HOST_A, &p, SEC(2), PCP_RESULT_MALFORMED_OPTION, PCP_MAP_SIZE);
    /* An option longer than the packet. */
    map_req(&p, N1, UDP, 5001, 0, 0, 3600, HOST_A);
    option(&p, 200, 0);
    wire_put16(p.b + 62, 100);
    expect_error(&lab, HOST_A, &p, SEC(2), PCP_RESULT_MALFORMED_OPTION, PCP_MAP_SIZE);
    /* PREFER_FAILURE belongs to MAP only. */
    header(&p, PCP_OP_ANNOUNCE, 0, HOST_A);
    option(&p, PCP_OPTION_PREFER_FAILURE, 0);
    expect_error(&lab, HOST_A, &p, SEC(2), PCP_RESULT_MALFORMED_OPTION, 0);
    CU_ASSERT_FALSE(has_mapping(&lab, HOST_A, 5001, SEC(2)));
    lab_free(&lab);
}

static void quota_one(nat_profile_t *p)
{
    p->port_quota = 1;
}

static void test_quota(void)
{
    lab_t lab = lab_with("port-restricted-cone", NAT_PORT_MAPPING_PCP, quota_one);
    map_ok(&lab, HOST_A, N1, 5000, 0, 3600, SEC(1));
    pkt_t p;
    map_req(&p, N1, UDP, 5001, 0, 0, 3600, HOST_A);
    expect_error(&lab, HOST_A, &p, SEC(2), PCP_RESULT_USER_EX_QUOTA, PCP_MAP_SIZE);
    CU_ASSERT_EQUAL(map_ok(&lab, HOST_B, N1, 5001, 0, 3600, SEC(3)), 5001);
    lab_free(&lab);
}

static void one_port(nat_profile_t *p)
{
    p->port_min = p->port_max = 40000;
}

static void test_no_resources(void)
{
    lab_t lab = lab_with("port-restricted-cone", NAT_PORT_MAPPING_PCP, one_port);
    CU_ASSERT_EQUAL(map_ok(&lab, HOST_A, N1, 5000, 0, 3600, SEC(1)), 40000);
    pkt_t p;
    map_req(&p, N1, UDP, 5000, 0, 0, 3600, HOST_B);
    expect_error(&lab, HOST_B, &p, SEC(2), PCP_RESULT_NO_RESOURCES, PCP_MAP_SIZE);
    lab_free(&lab);
}

static void max_one_hour(nat_profile_t *p)
{
    p->port_mapping_lifetime_max = USEC_PER_HOUR;
}

static void test_lifetime_bounds(void)
{
    lab_t lab = lab_with("port-restricted-cone", NAT_PORT_MAPPING_PCP, max_one_hour);
    pkt_t p;
    uint8_t out[NAT_PCP_MAX_SIZE];
    /* Section 15: at least 120 s, at most the configured maximum. */
    map_req(&p, N1, UDP, 5000, 0, 0, 10, HOST_A);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(1), out), 60);
    check_header(out, PCP_OP_MAP, PCP_RESULT_SUCCESS, 120, 1);
    map_req(&p, N1, UDP, 5001, 0, 0, 1000000, HOST_A);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(1), out), 60);
    check_header(out, PCP_OP_MAP, PCP_RESULT_SUCCESS, 3600, 1);
    map_req(&p, N1, UDP, 5002, 0, 0, UINT32_MAX, HOST_A);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(1), out), 60);
    check_header(out, PCP_OP_MAP, PCP_RESULT_SUCCESS, 3600, 1);
    CU_ASSERT_TRUE(has_mapping(&lab, HOST_A, 5000, SEC(120)));
    CU_ASSERT_FALSE(has_mapping(&lab, HOST_A, 5000, SEC(121)));
    lab_free(&lab);
}

static void test_versions(void)
{
    lab_t lab = lab_new();
    pkt_t p;
    uint8_t out[NAT_PCP_MAX_SIZE];
    /* Section 9: an unknown version gets UNSUPP_VERSION in version 2; the
     * request could not be parsed, so the reserved bits repeat the last 96
     * bits of its client address field. */
    for (uint8_t version = 1; version != 0; version = version == 1 ? 3 : version == 3 ? 255 : 0) {
        map_req(&p, N1, UDP, 5000, 0, 0, 3600, HOST_A);
        p.b[0] = version;
        CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(11), out), 24);
        const uint8_t want[24] = {
            2, 0x81, 0, PCP_RESULT_UNSUPP_VERSION,
            0, 0, 0, NAT_PCP_ERROR_LIFETIME_S,
            0, 0, 0, 11,                              /* epoch */
            0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 10, /* client field, last 96 bits */
        };
        CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
    }
    /* NAT-PMP off: a version-0 request gets PCP's UNSUPP_VERSION, which a
     * NAT-PMP client reads as its own result code 1 in bytes 2-3. */
    const uint8_t pmp_external[2] = { 0, 0 };
    CU_ASSERT_EQUAL_FATAL(nat_pcp_handle(lab.pcp, lab.engine, addr_endpoint(HOST_A, 1),
                                         pmp_external, 2, SEC(11), out, sizeof out),
                          24);
    const uint8_t want0[24] = { 2, 0x80, 0, 1, 0, 0, 0, 30, 0, 0, 0, 11 };
    CU_ASSERT_EQUAL(memcmp(out, want0, sizeof want0), 0);
    CU_ASSERT_EQUAL(wire_get16(out + 2), PMP_RESULT_UNSUPP_VERSION);
    lab_free(&lab);

    /* Both on: version 0 is NAT-PMP's. */
    lab = lab_with("port-restricted-cone", BOTH, NULL);
    CU_ASSERT_EQUAL_FATAL(nat_pcp_handle(lab.pcp, lab.engine, addr_endpoint(HOST_A, 1),
                                         pmp_external, 2, SEC(12), out, sizeof out),
                          12);
    const uint8_t external[12] = { 0, 128, 0, 0, 0, 0, 0, 12, 203, 0, 113, 7 };
    CU_ASSERT_EQUAL(memcmp(out, external, sizeof external), 0);
    map_req(&p, N1, UDP, 5000, 0, 0, 3600, HOST_A);
    CU_ASSERT_EQUAL(ask(&lab, HOST_A, &p, SEC(12), out), 60);
    lab_free(&lab);

    /* PCP off, NAT-PMP on: NAT-PMP answers everything, PCP included. */
    lab = lab_with("port-restricted-cone", NAT_PORT_MAPPING_NATPMP, NULL);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(13), out), 8);
    const uint8_t pmp_unsupp[8] = { 0, 128, 0, 1, 0, 0, 0, 13 };
    CU_ASSERT_EQUAL(memcmp(out, pmp_unsupp, sizeof pmp_unsupp), 0);
    CU_ASSERT_FALSE(has_mapping(&lab, HOST_A, 5000, SEC(13)));
    lab_free(&lab);

    /* Neither: silence. */
    lab = lab_with("port-restricted-cone", 0, NULL);
    CU_ASSERT_EQUAL(ask(&lab, HOST_A, &p, SEC(14), out), 0);
    CU_ASSERT_EQUAL(nat_pcp_handle(lab.pcp, lab.engine, addr_endpoint(HOST_A, 1), pmp_external,
                                   2, SEC(14), out, sizeof out),
                    0);
    lab_free(&lab);
}

static void test_dropped(void)
{
    lab_t lab = lab_new();
    pkt_t p;
    uint8_t out[NAT_PCP_MAX_SIZE];
    /* Section 8.3: the R bit means a response; never answered. */
    map_req(&p, N1, UDP, 5000, 0, 0, 3600, HOST_A);
    p.b[1] |= 0x80;
    CU_ASSERT_EQUAL(ask(&lab, HOST_A, &p, SEC(1), out), 0);
    p.b[0] = 1; /* whatever its version */
    CU_ASSERT_EQUAL(ask(&lab, HOST_A, &p, SEC(1), out), 0);
    /* Shorter than 2 bytes. */
    CU_ASSERT_EQUAL(nat_pcp_handle(lab.pcp, lab.engine, addr_endpoint(HOST_A, 1), NULL, 0,
                                   SEC(1), out, sizeof out),
                    0);
    const uint8_t one[1] = { 2 };
    CU_ASSERT_EQUAL(nat_pcp_handle(lab.pcp, lab.engine, addr_endpoint(HOST_A, 1), one, 1,
                                   SEC(1), out, sizeof out),
                    0);
    /* No room for the answer: dropped, but the mapping is there for the
     * retransmission. */
    map_req(&p, N1, UDP, 5000, 0, 0, 3600, HOST_A);
    CU_ASSERT_EQUAL(nat_pcp_handle(lab.pcp, lab.engine, addr_endpoint(HOST_A, 1), p.b, p.len,
                                   SEC(1), out, 59),
                    0);
    CU_ASSERT_EQUAL(map_ok(&lab, HOST_A, N1, 5000, 0, 3600, SEC(2)), 5000);
    CU_ASSERT_EQUAL(nat_pcp_handle(lab.pcp, lab.engine, addr_endpoint(HOST_A, 1), p.b, 20,
                                   SEC(1), out, 23),
                    0);
    lab_free(&lab);
}

static void test_malformed(void)
{
    lab_t lab = lab_new();
    pkt_t p;
    uint8_t out[NAT_PCP_MAX_SIZE];
    /* Shorter than the 24-byte header: MALFORMED_REQUEST, header only, the
     * client field's tail as far as it came. */
    map_req(&p, N1, UDP, 5000, 0, 0, 3600, HOST_A);
    p.len = 20;
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(1), out), 24);
    CU_ASSERT_EQUAL(out[3], PCP_RESULT_MALFORMED_REQUEST);
    CU_ASSERT_EQUAL(memcmp(out + 12, p.b + 12, 8), 0);
    CU_ASSERT_EQUAL(out[20] | out[21] | out[22] | out[23], 0);
    /* Not a multiple of 4. */
    p.len = 62;
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(1), out), 60);
    CU_ASSERT_EQUAL(out[3], PCP_RESULT_MALFORMED_REQUEST);
    CU_ASSERT_EQUAL(wire_get32(out + 4), NAT_PCP_ERROR_LIFETIME_S);
    CU_ASSERT_EQUAL(memcmp(out + 12, p.b + 12, 12), 0);
    CU_ASSERT_EQUAL(memcmp(out + 24, p.b + 24, 12), 0); /* the nonce, still */
    /* Longer than 1100 bytes. */
    p.len = 1104;
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(1), out), 60);
    CU_ASSERT_EQUAL(out[3], PCP_RESULT_MALFORMED_REQUEST);
    /* A MAP without (all of) its payload. */
    p.len = 24;
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(1), out), 24);
    CU_ASSERT_EQUAL(out[1], 0x81);
    CU_ASSERT_EQUAL(out[3], PCP_RESULT_MALFORMED_REQUEST);
    p.len = 56;
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(1), out), 24);
    CU_ASSERT_EQUAL(out[3], PCP_RESULT_MALFORMED_REQUEST);
    CU_ASSERT_FALSE(has_mapping(&lab, HOST_A, 5000, SEC(1)));
    /* Exactly 1100 bytes is fine (options of code 200 fill it). */
    map_req(&p, N1, UDP, 5000, 0, 0, 3600, HOST_A);
    option(&p, 200, (uint16_t)(NAT_PCP_MAX_SIZE - 60 - 4));
    CU_ASSERT_EQUAL(p.len, NAT_PCP_MAX_SIZE);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(1), out), 60);
    CU_ASSERT_EQUAL(out[3], PCP_RESULT_SUCCESS);
    lab_free(&lab);
}

static void test_opcodes(void)
{
    lab_t lab = lab_new();
    pkt_t p;
    uint8_t out[NAT_PCP_MAX_SIZE];
    /* Section 14.1: ANNOUNCE is answered, no payload, lifetime 0. */
    header(&p, PCP_OP_ANNOUNCE, 0, HOST_A);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(33), out), 24);
    check_header(out, PCP_OP_ANNOUNCE, PCP_RESULT_SUCCESS, 0, 33);
    /* PEER is not offered: UNSUPP_OPCODE with its 56-byte payload back. */
    header(&p, PCP_OP_PEER, 3600, HOST_A);
    for (int i = 24; i < 80; i++)
        p.b[i] = (uint8_t)i;
    p.len = 80;
    expect_error(&lab, HOST_A, &p, SEC(33), PCP_RESULT_UNSUPP_OPCODE, PCP_PEER_SIZE);
    p.len = 40; /* a truncated PEER: just the header back */
    expect_error(&lab, HOST_A, &p, SEC(33), PCP_RESULT_UNSUPP_OPCODE, 0);
    /* Nor is any other opcode. */
    header(&p, 9, 3600, HOST_A);
    p.len = 64;
    expect_error(&lab, HOST_A, &p, SEC(33), PCP_RESULT_UNSUPP_OPCODE, 0);
    header(&p, 127, 3600, HOST_A);
    expect_error(&lab, HOST_A, &p, SEC(33), PCP_RESULT_UNSUPP_OPCODE, 0);
    lab_free(&lab);
}

static void test_protocols(void)
{
    lab_t lab = lab_new();
    pkt_t p;
    /* TCP maps in its own space: the same internal port as UDP, apart. */
    map_req(&p, N1, TCP, 5080, 0, 0, 3600, HOST_A);
    uint8_t out[NAT_PCP_MAX_SIZE];
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(1), out), 60);
    check_header(out, PCP_OP_MAP, PCP_RESULT_SUCCESS, 3600, 1);
    check_map(out, N1, TCP, 5080, 5080, PUBLIC_IP);
    nat_mapping_info_t info;
    CU_ASSERT_TRUE(nat_engine_find_explicit(lab.engine, NAT_PROTO_TCP, addr_endpoint(HOST_A, 5080), SEC(1), &info));
    CU_ASSERT_FALSE(nat_engine_find_explicit(lab.engine, NAT_PROTO_UDP, addr_endpoint(HOST_A, 5080), SEC(1), &info));
    map_req(&p, N1, UDP, 5080, 0, 0, 3600, HOST_A);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(1), out), 60);
    check_map(out, N1, UDP, 5080, 5080, PUBLIC_IP);
    /* The TCP mapping's nonce guards it alone. */
    map_req(&p, N2, TCP, 5080, 0, 0, 3600, HOST_A);
    expect_error(&lab, HOST_A, &p, SEC(2), PCP_RESULT_NOT_AUTHORIZED, PCP_MAP_SIZE);
    /* Deleting TCP 5080 leaves UDP 5080. */
    map_req(&p, N1, TCP, 5080, 0, 0, 0, HOST_A);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(3), out), 60);
    CU_ASSERT_EQUAL(out[3], PCP_RESULT_SUCCESS);
    CU_ASSERT_FALSE(nat_engine_find_explicit(lab.engine, NAT_PROTO_TCP, addr_endpoint(HOST_A, 5080), SEC(3), &info));
    CU_ASSERT_TRUE(nat_engine_find_explicit(lab.engine, NAT_PROTO_UDP, addr_endpoint(HOST_A, 5080), SEC(3), &info));
    /* Protocol 0 with lifetime 0 deletes both protocols under the nonce. */
    map_req(&p, N1, TCP, 5081, 0, 0, 3600, HOST_A);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(4), out), 60);
    map_req(&p, N1, 0, 0, 0, 0, 0, HOST_A);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(5), out), 60);
    CU_ASSERT_EQUAL(out[3], PCP_RESULT_SUCCESS);
    CU_ASSERT_FALSE(nat_engine_find_explicit(lab.engine, NAT_PROTO_TCP, addr_endpoint(HOST_A, 5081), SEC(5), &info));
    CU_ASSERT_FALSE(nat_engine_find_explicit(lab.engine, NAT_PROTO_UDP, addr_endpoint(HOST_A, 5080), SEC(5), &info));
    /* Other protocols stay unsupported; protocol 0 cannot create. */
    map_req(&p, N1, 132, 80, 0, 0, 3600, HOST_A); /* SCTP */
    expect_error(&lab, HOST_A, &p, SEC(6), PCP_RESULT_UNSUPP_PROTOCOL, PCP_MAP_SIZE);
    map_req(&p, N1, 0, 0, 0, 0, 3600, HOST_A); /* all protocols */
    expect_error(&lab, HOST_A, &p, SEC(6), PCP_RESULT_UNSUPP_PROTOCOL, PCP_MAP_SIZE);
    /* All ports of the host. */
    map_req(&p, N1, UDP, 0, 0, 0, 3600, HOST_A);
    expect_error(&lab, HOST_A, &p, SEC(1), PCP_RESULT_NOT_AUTHORIZED, PCP_MAP_SIZE);
    lab_free(&lab);
}

static void not_translating(nat_profile_t *p)
{
    p->type = NAT_TYPE_FIREWALL;
}

static void test_network_failure(void)
{
    /* A profile that does not translate cannot map: NETWORK_FAILURE. */
    lab_t lab = lab_with("port-restricted-cone", NAT_PORT_MAPPING_PCP, not_translating);
    pkt_t p;
    map_req(&p, N1, UDP, 5000, 0, 0, 3600, HOST_A);
    expect_error(&lab, HOST_A, &p, SEC(1), PCP_RESULT_NETWORK_FAILURE, PCP_MAP_SIZE);
    lab_free(&lab);
}

static void test_epoch_and_reboot(void)
{
    lab_t lab = lab_new();
    map_ok(&lab, HOST_A, N1, 5000, 0, 3600, SEC(100));
    pkt_t p;
    uint8_t out[NAT_PCP_MAX_SIZE];
    header(&p, PCP_OP_ANNOUNCE, 0, HOST_A);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(150), out), 24);
    CU_ASSERT_EQUAL(wire_get32(out + 8), 150);
    /* Section 8.5: state lost, the epoch starts again. */
    nat_engine_reboot(lab.engine, SEC(200));
    nat_pcp_reset(lab.pcp);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(205), out), 24);
    CU_ASSERT_EQUAL(wire_get32(out + 8), 5);
    CU_ASSERT_FALSE(has_mapping(&lab, HOST_A, 5000, SEC(205)));
    /* The old nonce bound nothing any more. */
    CU_ASSERT_EQUAL(map_ok(&lab, HOST_A, N2, 5000, 5000, 3600, SEC(206)), 5000);
    lab_free(&lab);
}

static void test_reachable_from_any_remote(void)
{
    lab_t lab = lab_with("symmetric", NAT_PORT_MAPPING_PCP, NULL);
    uint16_t port = map_ok(&lab, HOST_A, N1, 5000, 0, 3600, SEC(1));
    addr_endpoint_t external = addr_endpoint(PUBLIC_IP, port);
    nat_verdict_t v = nat_engine_inbound(lab.engine, NAT_PROTO_UDP, REMOTE_1, external, SEC(2));
    CU_ASSERT_EQUAL(v.action, NAT_ACTION_FORWARD);
    CU_ASSERT_TRUE(addr_endpoint_equal(v.dst, addr_endpoint(HOST_A, 5000)));
    v = nat_engine_inbound(lab.engine, NAT_PROTO_UDP, REMOTE_2, external, SEC(2));
    CU_ASSERT_EQUAL(v.action, NAT_ACTION_FORWARD);
    v = nat_engine_outbound(lab.engine, NAT_PROTO_UDP, addr_endpoint(HOST_A, 5000), REMOTE_3, SEC(3));
    CU_ASSERT_EQUAL(v.action, NAT_ACTION_FORWARD);
    CU_ASSERT_TRUE(addr_endpoint_equal(v.src, external));
    /* Once deleted, strangers are filtered again. */
    pkt_t p;
    uint8_t out[NAT_PCP_MAX_SIZE];
    map_req(&p, N1, UDP, 5000, 0, 0, 0, HOST_A);
    CU_ASSERT_EQUAL(ask(&lab, HOST_A, &p, SEC(4), out), 60);
    v = nat_engine_inbound(lab.engine, NAT_PROTO_UDP, REMOTE_1, external, SEC(5));
    CU_ASSERT_EQUAL(v.action, NAT_ACTION_DROP);
    lab_free(&lab);
}

static void test_suggested_endpoint(void)
{
    lab_t lab = lab_with("symmetric", NAT_PORT_MAPPING_PCP, NULL);
    pkt_t p;
    uint8_t out[NAT_PCP_MAX_SIZE];
    map_req(&p, N1, UDP, 5000, 43000, PUBLIC_IP, 3600, HOST_A);
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(1), out), 60);
    check_header(out, PCP_OP_MAP, PCP_RESULT_SUCCESS, 3600, 1);
    check_map(out, N1, UDP, 5000, 43000, PUBLIC_IP);
    /* ::ffff:0.0.0.0 is "no preference" as well as ::. */
    map_req(&p, N1, UDP, 5001, 43001, 0, 3600, HOST_A);
    p.b[54] = p.b[55] = 0xff;
    CU_ASSERT_EQUAL_FATAL(ask(&lab, HOST_A, &p, SEC(1), out), 60);
    check_map(out, N1, UDP, 5001, 43001, PUBLIC_IP);
    lab_free(&lab);
}

/* Random bytes and mutated valid requests: never a crash (run it under
 * ASan), and every answer is a well-formed PCP response. */
static void test_garbage(void)
{
    lab_t lab = lab_new();
    g_autoptr(GRand) rand = g_rand_new_with_seed(6887);
    pkt_t p;
    uint8_t out[NAT_PCP_MAX_SIZE];
    unsigned answered = 0, successes = 0;
    for (int i = 0; i < 20000; i++) {
        uint32_t host = HOST_A + (uint32_t)g_rand_int_range(rand, 0, 3);
        if (g_rand_boolean(rand)) {
            /* A valid MAP, then a few bytes flipped and the length nudged. */
            uint8_t nonce[12] = { (uint8_t)g_rand_int_range(rand, 0, 3) };
            map_req(&p, nonce, UDP, (uint16_t)g_rand_int_range(rand, 0, 8) + 5000,
                    (uint16_t)g_rand_int_range(rand, 0, 65536), 0,
                    (uint32_t)g_rand_int_range(rand, 0, 3) * 100, host);
            if (g_rand_boolean(rand))
                option(&p, (uint8_t)g_rand_int_range(rand, 0, 256),
                       (uint16_t)g_rand_int_range(rand, 0, 9));
            int flips = g_rand_int_range(rand, 0, 3);
            for (int f = 0; f < flips; f++)
                p.b[g_rand_int_range(rand, 0, (gint32)p.len)] ^=
                    (uint8_t)(1u << g_rand_int_range(rand, 0, 8));
            p.len = (size_t)CLAMP((int)p.len + g_rand_int_range(rand, -8, 9), 0,
                                  (int)sizeof p.b);
        } else {
            p.len = (size_t)g_rand_int_range(rand, 0, 120);
            for (size_t j = 0; j < p.len; j++)
                p.b[j] = (uint8_t)g_rand_int(rand);
            if (p.len > 0)
                p.b[0] = (uint8_t)g_rand_int_range(rand, 0, 4);
        }
        usec_t now = SEC(i);
        size_t n = nat_pcp_handle(lab.pcp, lab.engine, addr_endpoint(host, CLIENT_PORT), p.b,
                                  p.len, now, out, sizeof out);
        if (n == 0)
            continue;
        answered++;
        CU_ASSERT_TRUE(n >= 24 && n <= NAT_PCP_MAX_SIZE && n % 4 == 0);
        CU_ASSERT_EQUAL(out[0], 2);
        CU_ASSERT_EQUAL(out[1], 0x80 | (p.b[1] & 0x7f));
        CU_ASSERT_EQUAL(out[2], 0);
        CU_ASSERT_TRUE(out[3] <= PCP_RESULT_ADDRESS_MISMATCH);
        CU_ASSERT_EQUAL(wire_get32(out + 8), (uint32_t)i);
        successes += out[3] == PCP_RESULT_SUCCESS;
        nat_engine_expire(lab.engine, now);
    }
    CU_ASSERT_TRUE(answered > 1000);
    CU_ASSERT_TRUE(successes > 100);
    lab_free(&lab);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "MAP: every field of the answer", test_map_success },
        { "MAP: renew and delete", test_renew_and_delete },
        { "nonce mismatch: NOT_AUTHORIZED", test_nonce_mismatch },
        { "nonce forgotten when the mapping expires", test_nonce_forgotten_when_mapping_expires },
        { "a mapping without nonce is adopted", test_adopts_mapping_without_nonce },
        { "delete all under one nonce", test_delete_all_with_nonce },
        { "ADDRESS_MISMATCH", test_address_mismatch },
        { "PREFER_FAILURE", test_prefer_failure },
        { "options", test_options },
        { "quota: USER_EX_QUOTA", test_quota },
        { "port range exhausted: NO_RESOURCES", test_no_resources },
        { "lifetime bounds", test_lifetime_bounds },
        { "versions and dispatch to NAT-PMP", test_versions },
        { "responses and short datagrams dropped", test_dropped },
        { "MALFORMED_REQUEST", test_malformed },
        { "ANNOUNCE answered, PEER and others refused", test_opcodes },
        { "UDP and TCP, each on its own", test_protocols },
        { "not translating: NETWORK_FAILURE", test_network_failure },
        { "epoch from creation, back after reboot", test_epoch_and_reboot },
        { "mapping reachable from any remote", test_reachable_from_any_remote },
        { "suggested external endpoint", test_suggested_endpoint },
        { "garbage", test_garbage },
        { NULL, NULL },
    };
    return test_run_suite("nat_pcp", cases);
}
