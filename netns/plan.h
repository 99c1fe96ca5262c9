/* The address plan of a topology, and the `ip -batch` text that builds it.
 * Pure: a scenario in, names, addresses, routes and command text out, so
 * the whole plan is unit-tested without root.
 *
 * Namespaces: PREFIX-inet (the emulated internet: bridge br0), PREFIX-NAT
 * (a router: outside veth `wan`, inside bridge `lan`), PREFIX-HOST (veth
 * `eth0`). PREFIX is natlab-SCENARIO, or natlab-SCENARIO-RUNID. The upstream
 * end of every veth is `v-NAME`, a port of br0 or of the upstream `lan`.
 * In all of these, a SCENARIO longer than 20 characters and a NAME longer
 * than 13 are shortened (netns/shortname: their beginning and a hash): an
 * interface name has 15 characters, a unix socket path 107.
 *
 * Addresses (i = NAT number, j = public host number, both 1-based in file
 * order; the emulated internet is 198.18.0.0/15, on-link on br0):
 *   NAT i on the internet        wan 198.18.i.1 .. 198.18.i.N /15 (N = public-ips,
 *                                then the spare addresses a change-ip event moves to)
 *   NAT i behind NAT p           wan: N addresses from p's LAN, default via p's lan
 *   NAT i's LAN, translating     10.i.0.0/24, lan = 10.i.0.1
 *   NAT i's LAN, not translating (type open, firewall, blocked): its hosts need
 *                                addresses of the realm outside it: 198.18.i.128/25
 *                                (lan = .129) when no translating NAT is above it,
 *                                else 10.i.0.0/24; either way routed via i's wan
 *                                address by every namespace upstream that needs it
 *   public host j                eth0 198.19.j.1 .. 198.19.j.N /15
 *   hosts and NATs on a LAN      .2 upward (.130 upward in a /25): hosts first in
 *                                file order, then the NATs behind it
 * Top-level routers need no default route: the whole /15 is on-link on wan. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "netns/scenario.h"

#define PLAN_INET_NET 0xC6120000u /* 198.18.0.0 */
#define PLAN_INET_LEN 15
#define PLAN_MAX_NATS 254
#define PLAN_MAX_PUBLIC_HOSTS 254
#define PLAN_RUN_ID_MAX 16
#define PLAN_SCENARIO_PART_MAX 20 /* of the scenario's name in PREFIX */
#define PLAN_ID_MAX 13            /* an object's short name: "v-ID" fits IFNAMSIZ */

typedef struct plan_route {
    uint32_t dst;
    unsigned len;
    uint32_t via;
} plan_route_t;

typedef struct plan_nat {
    char *name;
    char *id;  /* the name, or its short form: in ns, its veth v-ID, its socket */
    char *ns;
    unsigned number;  /* 1-based, file order */
    int parent;       /* index in plan->nats; -1 on the internet */
    bool translating; /* profile type nat */
    nat_profile_t *profile; /* a copy; public_ips filled in when translating */
    uint32_t wan[NAT_PROFILE_MAX_PUBLIC_IPS];
    unsigned n_wan, wan_len; /* every address on wan: the public ones, then n_spare spares */
    unsigned n_spare;
    uint32_t gateway; /* 0: none */
    uint32_t lan_net, lan_addr;
    unsigned lan_len;
    GArray *routes;   /* plan_route_t: LANs of non-translating routers below */
    uint64_t seed;
} plan_nat_t;

typedef struct plan_host {
    char *name;
    char *id;
    char *ns;
    int nat; /* index in plan->nats; -1 public */
    uint32_t addrs[SCENARIO_ADDRESSES_MAX];
    unsigned n_addrs, len;
    uint32_t gateway; /* 0: none (public) */
    GArray *routes;
    char *run;
} plan_host_t;

typedef struct plan {
    char *scenario;
    char *run_id; /* NULL for `natlab up` */
    char *prefix; /* natlab-SCENARIO[-RUNID] */
    char *inet_ns;
    char *file;   /* the scenario file */
    char *dir;    /* its directory: run commands start there */
    uint64_t seed;
    bool pcap;
    GPtrArray *nats;  /* plan_nat_t * */
    GPtrArray *hosts; /* plan_host_t * */
} plan_t;

/* NULL with an error if the scenario does not fit the plan (too many NATs,
 * hosts or addresses on one LAN) or the run id is not [a-z0-9-]{1,16}. */
plan_t *plan_new(const scenario_t *scenario, const char *run_id, uint64_t seed, GError **error);
void plan_free(plan_t *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(plan_t, plan_free)

static inline plan_nat_t *plan_nat(const plan_t *p, unsigned i)
{
    return g_ptr_array_index(p->nats, i);
}
static inline plan_host_t *plan_host(const plan_t *p, unsigned i)
{
    return g_ptr_array_index(p->hosts, i);
}

/* natlab-SCENARIO or natlab-SCENARIO-RUNID (SCENARIO shortened past 20). */
char *plan_prefix(const char *scenario, const char *run_id);
/* STATE_DIR/ID.sock: a NAT daemon's control socket (sun_path has 108 bytes). */
char *plan_control_path(const char *state_dir, const plan_nat_t *nat);
/* Every namespace of the plan: inet, the NATs, the hosts (NULL-terminated). */
char **plan_namespaces(const plan_t *plan);
/* The seed of NAT number `number`, derived from the scenario seed so that
 * NATs do not share a random sequence. */
uint64_t plan_nat_seed(uint64_t seed, unsigned number);

/* The veth pairs, each created directly inside its two namespaces (nothing
 * in the initial namespace), as `ip -batch` lines. netns_build carries them
 * out over rtnetlink; `ip -batch` would do the same. */
char *plan_batch_links(const plan_t *plan);
/* Bridges, ports, addresses and routes of one namespace, as `ip -n NS -batch`
 * lines; NULL if NS is not one of the plan's. */
char *plan_batch_namespace(const plan_t *plan, const char *ns);

/* The plan as JSON (hosts, NATs, addresses, namespaces); paths come later. */
JsonNode *plan_to_json(const plan_t *plan);
