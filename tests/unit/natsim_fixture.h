/* Shared helpers for the engine suites: engines from profile text, and
 * endpoints with short names. Header-only so each suite stays one program. */
#pragma once
#include <CUnit/CUnit.h>
#include <string.h>

#include "natsim/nat_engine.h"

#define PUB1 ADDR_IP(198, 18, 0, 1)
#define PUB2 ADDR_IP(198, 18, 0, 2)
#define HOST_A ADDR_IP(192, 168, 1, 10)
#define HOST_B ADDR_IP(192, 168, 1, 11)
#define REMOTE_Y ADDR_IP(198, 19, 0, 7)
#define REMOTE_Z ADDR_IP(198, 19, 0, 8)

/* A preset by name, or profile text ("[nat]\n..."). */
static inline nat_profile_t *profile_of(const char *spec)
{
    GError *err = NULL;
    nat_profile_t *p = strncmp(spec, "[nat]", 5) == 0
                           ? nat_profile_load_data(spec, strlen(spec), "test", &err)
                           : nat_profile_new_preset(spec, &err);
    if (!p)
        fprintf(stderr, "profile %s: %s\n", spec, err->message);
    g_assert(p);
    return p;
}

static inline addr_endpoint_t ep(uint32_t ip, uint16_t port)
{
    return addr_endpoint(ip, port);
}

/* "[nat]" is added in front of `keys`; public addresses 198.18.0.1, .2, ... */
static inline nat_engine_t *engine_from(const char *keys, uint64_t seed)
{
    char text[2048];
    snprintf(text, sizeof text, "[nat]\n%s", keys);
    GError *error = NULL;
    nat_profile_t *p = nat_profile_load_data(text, strlen(text), "test", &error);
    if (!p) {
        fprintf(stderr, "profile: %s\n", error->message);
        g_error_free(error);
        CU_FAIL_FATAL("profile did not load");
        return NULL;
    }
    uint32_t ips[NAT_PROFILE_MAX_PUBLIC_IPS];
    for (unsigned i = 0; i < NAT_PROFILE_MAX_PUBLIC_IPS; i++)
        ips[i] = PUB1 + i;
    nat_engine_t *e = nat_engine_new(p, ips, p->public_ip_count, seed, 0, &error);
    if (!e) {
        fprintf(stderr, "engine: %s\n", error->message);
        g_error_free(error);
    }
    nat_profile_free(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    return e;
}

static inline nat_verdict_t out(nat_engine_t *e, addr_endpoint_t from, addr_endpoint_t to, usec_t now)
{
    return nat_engine_outbound(e, NAT_PROTO_UDP, from, to, now);
}

static inline nat_verdict_t in(nat_engine_t *e, addr_endpoint_t from, addr_endpoint_t to, usec_t now)
{
    return nat_engine_inbound(e, NAT_PROTO_UDP, from, to, now);
}

#define ASSERT_FORWARD(v) CU_ASSERT_EQUAL((v).action, NAT_ACTION_FORWARD)
#define ASSERT_DROP(v, why)                              \
    do {                                                 \
        nat_verdict_t verdict_ = (v);                    \
        CU_ASSERT_EQUAL(verdict_.action, NAT_ACTION_DROP); \
        CU_ASSERT_EQUAL(verdict_.reason, (why));         \
    } while (0)
#define ASSERT_EP(a, b) CU_ASSERT_TRUE(addr_endpoint_equal((a), (b)))
