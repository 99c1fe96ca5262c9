#include "plan.h"

#include <string.h>

#include "common/addr.h"
#include "common/keyfile.h"
#include "netns/shortname.h"

#define PUBLIC_HOSTS_NET 0xC6130000u /* 198.19.0.0: public host j has 198.19.j.0/24 */
#define PRIVATE_NET 0x0A000000u      /* 10.0.0.0: LAN i is 10.i.0.0/24 */

/* Where the next address of a LAN comes from, and where it ends. */
typedef struct lan_alloc {
    uint32_t next, last;
} lan_alloc_t;

char *plan_prefix(const char *scenario, const char *run_id)
{
    g_autofree char *part = shortname_derive(scenario, PLAN_SCENARIO_PART_MAX, 0);
    return run_id ? g_strdup_printf("natlab-%s-%s", part, run_id)
                  : g_strdup_printf("natlab-%s", part);
}

char *plan_control_path(const char *state_dir, const plan_nat_t *nat)
{
    return g_strdup_printf("%s/%s.sock", state_dir, nat->id);
}

/* One short name per NAT and host (they share one set), "inet" excluded. */
static char **object_ids(const scenario_t *s)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    for (guint i = 0; i < s->nats->len; i++)
        g_ptr_array_add(names, scenario_nat(s, i)->name);
    for (guint i = 0; i < s->hosts->len; i++)
        g_ptr_array_add(names, scenario_host(s, i)->name);
    static const char *const reserved[] = { "inet", NULL };
    return shortname_assign((const char *const *)names->pdata, names->len, PLAN_ID_MAX,
                            reserved);
}

uint64_t plan_nat_seed(uint64_t seed, unsigned number)
{
    /* splitmix64 of the seed moved by the NAT's number; 63 bits, so the seed
     * stays a non-negative JSON integer. */
    uint64_t z = seed + (uint64_t)number * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (z ^ (z >> 31)) >> 1;
}

static void G_GNUC_PRINTF(4, 5)
    plan_error(GError **error, const scenario_t *s, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (line > 0)
        g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_VALUE, "%s:%d: %s", s->path, line, why);
    else
        g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_VALUE, "%s: %s", s->path, why);
}

static bool lan_take(lan_alloc_t *lan, uint32_t *out)
{
    if (lan->next > lan->last)
        return false;
    *out = lan->next++;
    return true;
}

static void route_add(GArray *routes, uint32_t dst, unsigned len, uint32_t via)
{
    plan_route_t r = { dst, len, via };
    g_array_append_val(routes, r);
}

/* Is there a translating NAT above NAT i? Then its LAN lives in private space. */
static bool behind_translation(const plan_t *p, int i)
{
    for (int at = plan_nat(p, (unsigned)i)->parent; at >= 0; at = plan_nat(p, (unsigned)at)->parent)
        if (plan_nat(p, (unsigned)at)->translating)
            return true;
    return false;
}

/* The LAN of a router that does not translate must be reachable from the
 * realm outside it: walk up, adding a route at every hop, until a NAT
 * translates (its LAN is the realm) or the internet is reached (every
 * namespace on br0 but the path's own router needs the route). */
static void add_routes_towards(plan_t *p, unsigned i)
{
    plan_nat_t *nat = plan_nat(p, i);
    int child = (int)i;
    uint32_t via = nat->wan[0];
    int up = nat->parent;
    for (;;) {
        if (up < 0) {
            for (unsigned k = 0; k < p->nats->len; k++)
                if (plan_nat(p, k)->parent < 0 && (int)k != child)
                    route_add(plan_nat(p, k)->routes, nat->lan_net, nat->lan_len, via);
            for (unsigned k = 0; k < p->hosts->len; k++)
                if (plan_host(p, k)->nat < 0)
                    route_add(plan_host(p, k)->routes, nat->lan_net, nat->lan_len, via);
            return;
        }
        plan_nat_t *parent = plan_nat(p, (unsigned)up);
        route_add(parent->routes, nat->lan_net, nat->lan_len, via);
        if (parent->translating)
            return;
        via = parent->wan[0];
        child = up;
        up = parent->parent;
    }
}

static bool plan_build(plan_t *p, const scenario_t *s, GError **error)
{
    guint nn = s->nats->len;
    if (nn > PLAN_MAX_NATS) {
        plan_error(error, s, scenario_nat(s, PLAN_MAX_NATS)->line,
                   "too many NATs (%u); allowed: at most %d", nn, PLAN_MAX_NATS);
        return false;
    }
    g_autofree lan_alloc_t *lans = g_new0(lan_alloc_t, nn ? nn : 1);
    g_auto(GStrv) ids = object_ids(s);
    for (guint i = 0; i < nn; i++) {
        const scenario_nat_t *sn = scenario_nat(s, i);
        plan_nat_t *nat = g_new0(plan_nat_t, 1);
        g_ptr_array_add(p->nats, nat);
        nat->name = g_strdup(sn->name);
        nat->id = g_strdup(ids[i]);
        nat->ns = g_strdup_printf("%s-%s", p->prefix, nat->id);
        nat->number = i + 1;
        nat->parent = sn->parent;
        nat->profile = nat_profile_copy(sn->profile);
        nat->translating = sn->profile->type == NAT_TYPE_NAT;
        nat->n_spare = nat->translating ? sn->spare_ips : 0;
        nat->n_wan = (nat->translating ? sn->profile->public_ip_count : 1) + nat->n_spare;
        nat->routes = g_array_new(FALSE, FALSE, sizeof(plan_route_t));
        nat->seed = plan_nat_seed(p->seed, nat->number);
    }
    /* LANs first (a nested NAT takes its wan addresses from its parent's LAN). */
    for (guint i = 0; i < nn; i++) {
        plan_nat_t *nat = plan_nat(p, i);
        if (nat->translating || behind_translation(p, (int)i)) {
            nat->lan_net = PRIVATE_NET | nat->number << 16;
            nat->lan_len = 24;
            lans[i] = (lan_alloc_t){ nat->lan_net + 2, nat->lan_net + 254 };
        } else {
            nat->lan_net = PLAN_INET_NET | nat->number << 8 | 128;
            nat->lan_len = 25;
            lans[i] = (lan_alloc_t){ nat->lan_net + 2, nat->lan_net + 126 };
        }
        nat->lan_addr = nat->lan_net + 1;
    }
    unsigned public_hosts = 0;
    for (guint k = 0; k < s->hosts->len; k++) {
        const scenario_host_t *sh = scenario_host(s, k);
        plan_host_t *host = g_new0(plan_host_t, 1);
        g_ptr_array_add(p->hosts, host);
        host->name = g_strdup(sh->name);
        host->id = g_strdup(ids[nn + k]);
        host->ns = g_strdup_printf("%s-%s", p->prefix, host->id);
        host->nat = sh->nat_index;
        host->run = g_strdup(sh->run);
        host->routes = g_array_new(FALSE, FALSE, sizeof(plan_route_t));
        host->n_addrs = sh->addresses;
        if (host->nat < 0) {
            if (++public_hosts > PLAN_MAX_PUBLIC_HOSTS) {
                plan_error(error, s, sh->line, "too many public hosts; allowed: at most %d",
                           PLAN_MAX_PUBLIC_HOSTS);
                return false;
            }
            for (unsigned a = 0; a < host->n_addrs; a++)
                host->addrs[a] = PUBLIC_HOSTS_NET | public_hosts << 8 | (a + 1);
            host->len = PLAN_INET_LEN;
            continue;
        }
        plan_nat_t *nat = plan_nat(p, (unsigned)host->nat);
        for (unsigned a = 0; a < host->n_addrs; a++) {
            if (!lan_take(&lans[host->nat], &host->addrs[a])) {
                plan_error(error, s, sh->line,
                           "[host %s]: the LAN of NAT %s (/%u) has no address left; allowed: "
                           "at most %u addresses on it",
                           sh->name, nat->name, nat->lan_len, (1u << (32 - nat->lan_len)) - 3);
                return false;
            }
        }
        host->len = nat->lan_len;
        host->gateway = nat->lan_addr;
    }
    for (guint i = 0; i < nn; i++) {
        plan_nat_t *nat = plan_nat(p, i);
        if (nat->parent < 0) {
            if (nat->n_wan > 254) {
                plan_error(error, s, scenario_nat(s, i)->line,
                           "[nat %s]: public-ips = %u; allowed: at most 254 for a NAT on the "
                           "internet",
                           nat->name, nat->n_wan);
                return false;
            }
            for (unsigned a = 0; a < nat->n_wan; a++)
                nat->wan[a] = PLAN_INET_NET | nat->number << 8 | (a + 1);
            nat->wan_len = PLAN_INET_LEN;
            continue;
        }
        plan_nat_t *parent = plan_nat(p, (unsigned)nat->parent);
        for (unsigned a = 0; a < nat->n_wan; a++) {
            if (!lan_take(&lans[nat->parent], &nat->wan[a])) {
                plan_error(error, s, scenario_nat(s, i)->line,
                           "[nat %s]: the LAN of NAT %s (/%u) has no address left for its "
                           "public addresses; allowed: at most %u addresses on it",
                           nat->name, parent->name, parent->lan_len,
                           (1u << (32 - parent->lan_len)) - 3);
                return false;
            }
        }
        nat->wan_len = parent->lan_len;
        nat->gateway = parent->lan_addr;
    }
    for (guint i = 0; i < nn; i++) {
        plan_nat_t *nat = plan_nat(p, i);
        if (nat->translating) {
            memcpy(nat->profile->public_ips, nat->wan,
                   (nat->n_wan - nat->n_spare) * sizeof nat->wan[0]);
            nat->profile->public_ip_count = nat->n_wan - nat->n_spare;
        } else {
            add_routes_towards(p, i);
        }
    }
    return true;
}

plan_t *plan_new(const scenario_t *s, const char *run_id, uint64_t seed, GError **error)
{
    if (run_id && !(strlen(run_id) <= PLAN_RUN_ID_MAX && scenario_name_valid(run_id))) {
        g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_VALUE,
                    "run id '%s': allowed: 1 to %d of a-z, 0-9 and '-' (not first)", run_id,
                    PLAN_RUN_ID_MAX);
        return NULL;
    }
    plan_t *p = g_new0(plan_t, 1);
    p->scenario = g_strdup(s->name);
    p->run_id = g_strdup(run_id);
    p->prefix = plan_prefix(s->name, run_id);
    p->inet_ns = g_strdup_printf("%s-inet", p->prefix);
    p->file = g_strdup(s->path);
    p->dir = g_strdup(s->dir);
    p->seed = seed;
    p->pcap = s->pcap;
    p->nats = g_ptr_array_new();
    p->hosts = g_ptr_array_new();
    if (!plan_build(p, s, error)) {
        plan_free(p);
        return NULL;
    }
    return p;
}

void plan_free(plan_t *p)
{
    if (!p)
        return;
    for (guint i = 0; p->nats && i < p->nats->len; i++) {
        plan_nat_t *nat = plan_nat(p, i);
        g_free(nat->name);
        g_free(nat->id);
        g_free(nat->ns);
        nat_profile_free(nat->profile);
        if (nat->routes)
            g_array_free(nat->routes, TRUE);
        g_free(nat);
    }
    for (guint i = 0; p->hosts && i < p->hosts->len; i++) {
        plan_host_t *host = plan_host(p, i);
        g_free(host->name);
        g_free(host->id);
        g_free(host->ns);
        g_free(host->run);
        if (host->routes)
            g_array_free(host->routes, TRUE);
        g_free(host);
    }
    if (p->nats)
        g_ptr_array_free(p->nats, TRUE);
    if (p->hosts)
        g_ptr_array_free(p->hosts, TRUE);
    g_free(p->scenario);
    g_free(p->run_id);
    g_free(p->prefix);
    g_free(p->inet_ns);
    g_free(p->file);
    g_free(p->dir);
    g_free(p);
}

char **plan_namespaces(const plan_t *p)
{
    GPtrArray *list = g_ptr_array_new();
    g_ptr_array_add(list, g_strdup(p->inet_ns));
    for (guint i = 0; i < p->nats->len; i++)
        g_ptr_array_add(list, g_strdup(plan_nat(p, i)->ns));
    for (guint i = 0; i < p->hosts->len; i++)
        g_ptr_array_add(list, g_strdup(plan_host(p, i)->ns));
    g_ptr_array_add(list, NULL);
    return (char **)g_ptr_array_free(list, FALSE);
}

static const char *upstream_ns(const plan_t *p, int nat)
{
    return nat < 0 ? p->inet_ns : plan_nat(p, (unsigned)nat)->ns;
}

char *plan_batch_links(const plan_t *p)
{
    GString *b = g_string_new(NULL);
    for (guint i = 0; i < p->nats->len; i++) {
        const plan_nat_t *nat = plan_nat(p, i);
        g_string_append_printf(b, "link add name wan netns %s type veth peer name v-%s netns %s\n",
                               nat->ns, nat->id, upstream_ns(p, nat->parent));
    }
    for (guint i = 0; i < p->hosts->len; i++) {
        const plan_host_t *host = plan_host(p, i);
        g_string_append_printf(b, "link add name eth0 netns %s type veth peer name v-%s netns %s\n",
                               host->ns, host->id, upstream_ns(p, host->nat));
    }
    return g_string_free(b, FALSE);
}

static void batch_addr(GString *b, uint32_t ip, unsigned len, const char *dev)
{
    char buf[ADDR_IP_STRLEN];
    g_string_append_printf(b, "addr add %s/%u dev %s\n", addr_ip_format(ip, buf), len, dev);
}

static void batch_routes(GString *b, uint32_t gateway, const GArray *routes)
{
    char a[ADDR_IP_STRLEN], v[ADDR_IP_STRLEN];
    if (gateway)
        g_string_append_printf(b, "route add default via %s\n", addr_ip_format(gateway, a));
    for (guint r = 0; r < routes->len; r++) {
        const plan_route_t *rt = &g_array_index(routes, plan_route_t, r);
        g_string_append_printf(b, "route add %s/%u via %s\n", addr_ip_format(rt->dst, a),
                               rt->len, addr_ip_format(rt->via, v));
    }
}

/* A bridge and, as its ports, the upstream ends of everything hanging below `nat`. */
static void batch_bridge(GString *b, const plan_t *p, const char *bridge, int nat)
{
    g_string_append_printf(b, "link add name %s type bridge\nlink set %s up\n", bridge, bridge);
    for (guint i = 0; i < p->hosts->len; i++)
        if (plan_host(p, i)->nat == nat)
            g_string_append_printf(b, "link set v-%s master %s\nlink set v-%s up\n",
                                   plan_host(p, i)->id, bridge, plan_host(p, i)->id);
    for (guint i = 0; i < p->nats->len; i++)
        if (plan_nat(p, i)->parent == nat)
            g_string_append_printf(b, "link set v-%s master %s\nlink set v-%s up\n",
                                   plan_nat(p, i)->id, bridge, plan_nat(p, i)->id);
}

char *plan_batch_namespace(const plan_t *p, const char *ns)
{
    GString *b = g_string_new("link set lo up\n");
    if (strcmp(ns, p->inet_ns) == 0) {
        batch_bridge(b, p, "br0", -1);
        return g_string_free(b, FALSE);
    }
    for (guint i = 0; i < p->nats->len; i++) {
        const plan_nat_t *nat = plan_nat(p, i);
        if (strcmp(ns, nat->ns) != 0)
            continue;
        g_string_append(b, "link set wan up\n");
        for (unsigned a = 0; a < nat->n_wan; a++)
            batch_addr(b, nat->wan[a], nat->wan_len, "wan");
        batch_bridge(b, p, "lan", (int)i);
        batch_addr(b, nat->lan_addr, nat->lan_len, "lan");
        batch_routes(b, nat->gateway, nat->routes);
        return g_string_free(b, FALSE);
    }
    for (guint i = 0; i < p->hosts->len; i++) {
        const plan_host_t *host = plan_host(p, i);
        if (strcmp(ns, host->ns) != 0)
            continue;
        g_string_append(b, "link set eth0 up\n");
        for (unsigned a = 0; a < host->n_addrs; a++)
            batch_addr(b, host->addrs[a], host->len, "eth0");
        batch_routes(b, host->gateway, host->routes);
        return g_string_free(b, FALSE);
    }
    g_string_free(b, TRUE);
    return NULL;
}

static void json_ip(JsonBuilder *j, uint32_t ip)
{
    char buf[ADDR_IP_STRLEN];
    json_builder_add_string_value(j, addr_ip_format(ip, buf));
}

static void json_member_ip(JsonBuilder *j, const char *member, uint32_t ip)
{
    json_builder_set_member_name(j, member);
    if (ip)
        json_ip(j, ip);
    else
        json_builder_add_null_value(j);
}

static void json_member_net(JsonBuilder *j, const char *member, uint32_t net, unsigned len)
{
    char buf[ADDR_IP_STRLEN];
    g_autofree char *text = g_strdup_printf("%s/%u", addr_ip_format(net, buf), len);
    json_builder_set_member_name(j, member);
    json_builder_add_string_value(j, text);
}

static void json_routes(JsonBuilder *j, const GArray *routes)
{
    json_builder_set_member_name(j, "routes");
    json_builder_begin_array(j);
    for (guint r = 0; r < routes->len; r++) {
        const plan_route_t *rt = &g_array_index(routes, plan_route_t, r);
        char a[ADDR_IP_STRLEN], v[ADDR_IP_STRLEN];
        g_autofree char *text = g_strdup_printf("%s/%u via %s", addr_ip_format(rt->dst, a),
                                                rt->len, addr_ip_format(rt->via, v));
        json_builder_add_string_value(j, text);
    }
    json_builder_end_array(j);
}

static void json_member_string(JsonBuilder *j, const char *member, const char *value)
{
    json_builder_set_member_name(j, member);
    if (value)
        json_builder_add_string_value(j, value);
    else
        json_builder_add_null_value(j);
}

JsonNode *plan_to_json(const plan_t *p)
{
    g_autoptr(JsonBuilder) j = json_builder_new();
    json_builder_begin_object(j);
    json_member_string(j, "scenario", p->scenario);
    json_member_string(j, "run_id", p->run_id);
    json_member_string(j, "prefix", p->prefix);
    json_member_string(j, "file", p->file);
    json_builder_set_member_name(j, "seed");
    json_builder_add_int_value(j, (gint64)p->seed);
    json_builder_set_member_name(j, "pcap");
    json_builder_add_boolean_value(j, p->pcap);
    json_builder_set_member_name(j, "namespaces");
    json_builder_begin_array(j);
    g_auto(GStrv) all = plan_namespaces(p);
    for (int i = 0; all[i]; i++)
        json_builder_add_string_value(j, all[i]);
    json_builder_end_array(j);
    json_builder_set_member_name(j, "inet");
    json_builder_begin_object(j);
    json_member_string(j, "namespace", p->inet_ns);
    json_member_string(j, "bridge", "br0");
    json_member_net(j, "subnet", PLAN_INET_NET, PLAN_INET_LEN);
    json_builder_end_object(j);

    json_builder_set_member_name(j, "nats");
    json_builder_begin_array(j);
    for (guint i = 0; i < p->nats->len; i++) {
        const plan_nat_t *nat = plan_nat(p, i);
        json_builder_begin_object(j);
        json_member_string(j, "name", nat->name);
        json_member_string(j, "namespace", nat->ns);
        json_member_string(j, "type", nat_type_name(nat->profile->type));
        json_member_string(j, "profile_name", nat->profile->name);
        json_member_string(j, "behind", nat->parent < 0 ? NULL : plan_nat(p, (unsigned)nat->parent)->name);
        json_member_string(j, "outside", "wan");
        json_member_string(j, "inside", "lan");
        json_builder_set_member_name(j, "public_addresses");
        json_builder_begin_array(j);
        for (unsigned a = 0; a < nat->n_wan - nat->n_spare; a++)
            json_ip(j, nat->wan[a]);
        json_builder_end_array(j);
        json_builder_set_member_name(j, "spare_addresses");
        json_builder_begin_array(j);
        for (unsigned a = nat->n_wan - nat->n_spare; a < nat->n_wan; a++)
            json_ip(j, nat->wan[a]);
        json_builder_end_array(j);
        json_builder_set_member_name(j, "outside_prefix");
        json_builder_add_int_value(j, nat->wan_len);
        json_member_ip(j, "gateway", nat->gateway);
        json_member_net(j, "lan", nat->lan_net, nat->lan_len);
        json_member_ip(j, "lan_address", nat->lan_addr);
        json_routes(j, nat->routes);
        json_builder_set_member_name(j, "seed");
        json_builder_add_int_value(j, (gint64)nat->seed);
        json_builder_set_member_name(j, "profile");
        json_builder_add_value(j, nat_profile_to_json_node(nat->profile));
        json_builder_end_object(j);
    }
    json_builder_end_array(j);

    json_builder_set_member_name(j, "hosts");
    json_builder_begin_array(j);
    for (guint i = 0; i < p->hosts->len; i++) {
        const plan_host_t *host = plan_host(p, i);
        json_builder_begin_object(j);
        json_member_string(j, "name", host->name);
        json_member_string(j, "namespace", host->ns);
        json_member_string(j, "nat", host->nat < 0 ? NULL : plan_nat(p, (unsigned)host->nat)->name);
        json_member_string(j, "interface", "eth0");
        json_builder_set_member_name(j, "addresses");
        json_builder_begin_array(j);
        for (unsigned a = 0; a < host->n_addrs; a++)
            json_ip(j, host->addrs[a]);
        json_builder_end_array(j);
        json_builder_set_member_name(j, "prefix");
        json_builder_add_int_value(j, host->len);
        json_member_ip(j, "gateway", host->gateway);
        json_routes(j, host->routes);
        json_member_string(j, "run", host->run);
        json_builder_end_object(j);
    }
    json_builder_end_array(j);
    json_builder_end_object(j);
    return json_builder_get_root(j);
}
