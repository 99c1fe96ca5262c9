/* scenario + plan: the topology part of a scenario file, its errors
 * (FILE:LINE: [group] key = value: allowed ...), and the address plan and
 * `ip -batch` text computed from it. No root needed: nothing is built. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "common/addr.h"
#include "netns/plan.h"
#include "netns/scenario.h"
#include "netns/shortname.h"
#include "netns/topology_info.h"
#include "testutil.h"

#define ASSERT_NOT_CONTAINS(haystack, needle)                                       \
    do {                                                                            \
        if (strstr((haystack), (needle)))                                           \
            fprintf(stderr, "'%s' contains '%s'\n", (haystack), (needle));          \
        CU_ASSERT_PTR_NULL(strstr((haystack), (needle)));                           \
    } while (0)

/* The scenario of issue 3; line numbers below refer to it. */
static const char example[] = "# an example\n"                     /* 1 */
                              "[scenario]\n"                       /* 2 */
                              "name = example\n"                   /* 3 */
                              "seed = 7\n"                         /* 4 */
                              "\n"                                 /* 5 */
                              "[nat home]\n"                       /* 6 */
                              "preset = port-restricted-cone\n"    /* 7 */
                              "timeout = 30s   # overrides\n"      /* 8 */
                              "[nat isp]\n"                        /* 9 */
                              "preset = cgnat\n"                   /* 10 */
                              "[nat flat]\n"                       /* 11 */
                              "preset = home-router\n"             /* 12 */
                              "behind = isp\n"                     /* 13 */
                              "[host alice]\n"                     /* 14 */
                              "nat = home\n"                       /* 15 */
                              "[host bob]\n"                       /* 16 */
                              "nat = flat\n"                       /* 17 */
                              "[host stun]\n"                      /* 18 */
                              "addresses = 2\n"                    /* 19 */
                              "run = turnserver -L $NATLAB_ADDRESS_1\n" /* 20 */
                              "[agent]\n"                          /* 21 */
                              "whatever = the runner's\n"          /* 22 */
                              "[expect]\n"                         /* 23 */
                              "direct = 2s\n"                      /* 24 */
                              "[event reboot]\n"                   /* 25 */
                              "at = 5s\n";                         /* 26 */

static scenario_t *load_ok(const char *text, const char *origin)
{
    GError *error = NULL;
    scenario_t *s = scenario_load_data(text, strlen(text), origin, &error);
    if (!s)
        fprintf(stderr, "unexpected error: %s\n", error->message);
    g_clear_error(&error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    return s;
}

/* Loads `text` expecting failure (profile files through `read`); returns the message. */
static char *load_error_read(const char *text, const char *origin, keyfile_read_fn *read)
{
    GError *error = NULL;
    scenario_t *s = scenario_load(text, strlen(text), origin, read, &error);
    CU_ASSERT_PTR_NULL(s);
    scenario_free(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    char *msg = g_strdup(error->message);
    g_error_free(error);
    return msg;
}

static char *load_error(const char *text, const char *origin)
{
    return load_error_read(text, origin, NULL);
}

static const char *ip(uint32_t v, char buf[ADDR_IP_STRLEN])
{
    return addr_ip_format(v, buf);
}

#define ASSERT_IP(value, text)                                                     \
    do {                                                                           \
        char b_[ADDR_IP_STRLEN];                                                   \
        if (strcmp(ip((value), b_), (text)) != 0)                                  \
            fprintf(stderr, "%s is %s, want %s\n", #value, b_, (text));            \
        CU_ASSERT_STRING_EQUAL(b_, (text));                                        \
    } while (0)

/* ---- parsing ------------------------------------------------------------- */

static void test_example(void)
{
    g_autoptr(scenario_t) s = load_ok(example, "example.scn");
    CU_ASSERT_STRING_EQUAL(s->name, "example");
    CU_ASSERT_TRUE(s->seed_set);
    CU_ASSERT_EQUAL(s->seed, 7);
    CU_ASSERT_FALSE(s->pcap);
    CU_ASSERT_EQUAL_FATAL(s->nats->len, 3);
    CU_ASSERT_EQUAL_FATAL(s->hosts->len, 3);
    const scenario_nat_t *home = scenario_nat(s, 0), *isp = scenario_nat(s, 1),
                         *flat = scenario_nat(s, 2);
    CU_ASSERT_STRING_EQUAL(home->name, "home");
    CU_ASSERT_EQUAL(home->line, 6);
    CU_ASSERT_EQUAL(home->parent, -1);
    CU_ASSERT_EQUAL(home->profile->timeout, 30 * USEC_PER_SEC);
    CU_ASSERT_EQUAL(home->profile->filtering, NAT_ADDRESS_AND_PORT_DEPENDENT);
    CU_ASSERT_EQUAL(isp->profile->public_ip_count, 2);
    CU_ASSERT_STRING_EQUAL(flat->behind, "isp");
    CU_ASSERT_EQUAL(flat->parent, 1);
    const scenario_host_t *alice = scenario_host(s, 0), *stun = scenario_host(s, 2);
    CU_ASSERT_EQUAL(alice->nat_index, 0);
    CU_ASSERT_EQUAL(alice->addresses, 1);
    CU_ASSERT_PTR_NULL(alice->run);
    CU_ASSERT_EQUAL(stun->nat_index, -1);
    CU_ASSERT_EQUAL(stun->addresses, 2);
    CU_ASSERT_STRING_EQUAL(stun->run, "turnserver -L $NATLAB_ADDRESS_1");
}

static void test_name_from_file(void)
{
    const char *text = "[host a]\n";
    g_autoptr(scenario_t) s = load_ok(text, "/some/dir/double-nat.scn");
    CU_ASSERT_STRING_EQUAL(s->name, "double-nat");
    CU_ASSERT_STRING_EQUAL(s->dir, "/some/dir");
    CU_ASSERT_FALSE(s->seed_set);
    g_autofree char *msg = load_error(text, "/x/Double_NAT.scn");
    ASSERT_CONTAINS(msg, "/x/Double_NAT.scn: the file name 'Double_NAT' is no scenario name");
    ASSERT_CONTAINS(msg, "set [scenario] name = NAME");
}

static void test_scenario_group_errors(void)
{
    g_autofree char *a = load_error("[scenario]\nname = Big_Name\n[host a]\n", "f.scn");
    ASSERT_CONTAINS(a, "f.scn:2: [scenario] name = Big_Name: allowed: 1 to 63 of a-z, 0-9");
    /* 64 characters: one too many (namespaces use a short form, users see this one). */
    g_autofree char *b = load_error("[scenario]\nname = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefghijklmno\n[host a]\n", "f.scn");
    ASSERT_CONTAINS(b, "f.scn:2: [scenario] name = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefghijklmno: allowed");
    g_autofree char *c = load_error("[scenario]\n\nseed = -1\n[host a]\n", "f.scn");
    ASSERT_CONTAINS(c, "f.scn:3: [scenario] seed = -1: allowed: an integer from 0 to");
    g_autofree char *d = load_error("[scenario]\npcap = yes\n[host a]\n", "f.scn");
    ASSERT_CONTAINS(d, "f.scn:2: [scenario] pcap = yes: allowed: on, off");
    g_autofree char *e = load_error("[scenario]\nrepet = 3\n[host a]\n", "f.scn");
    ASSERT_CONTAINS(e, "f.scn:2: [scenario] repet = 3: unknown key; allowed keys: name, seed, "
                       "pcap, description, repeat, deadline");
    g_autoptr(scenario_t) s = load_ok("[scenario]\npcap = on\ndescription = x\n[host a]\n", "f.scn");
    CU_ASSERT_TRUE(s->pcap);
    CU_ASSERT_STRING_EQUAL(s->description, "x");
}

static void test_groups(void)
{
    g_autofree char *a = load_error("[host a]\n\n[links]\nx = 1\n", "g.scn");
    ASSERT_CONTAINS(a, "g.scn:3: [links]: unknown group; allowed: [scenario], [nat NAME], "
                       "[host NAME], [agent], [expect], [event NAME]");
    g_autofree char *b = load_error("[host a]\n[event]\nat = 1s\n", "g.scn");
    ASSERT_CONTAINS(b, "g.scn:2: [event]: unknown group");
    g_autofree char *c = load_error("[host a]\nnat = n\n[nat n]\n[host a]\nrun = x\n", "g.scn");
    ASSERT_CONTAINS(c, "g.scn:4: [host a]: group given twice (first on line 1)");
    g_autofree char *d = load_error("[scenario]\nseed = 1\n", "g.scn");
    ASSERT_CONTAINS(d, "g.scn: no [host NAME] group");
    g_autofree char *e = load_error("[host a]\nnat = n\n[nat n\n", "g.scn");
    ASSERT_CONTAINS(e, "g.scn:3:");
    /* Runner groups are left alone, whatever their keys. */
    g_autoptr(scenario_t) s = load_ok(example, "example.scn");
    CU_ASSERT_PTR_NOT_NULL(s);
}

static void test_names(void)
{
    g_autofree char *a = load_error("[host Alice]\n", "n.scn");
    ASSERT_CONTAINS(a, "n.scn:1: [host Alice]: invalid host name 'Alice'; allowed: 1 to 63 of "
                       "a-z, 0-9 and '-' (not first), and not 'inet'");
    g_autofree char *b = load_error("[host a]\n[nat inet]\n", "n.scn");
    ASSERT_CONTAINS(b, "n.scn:2: [nat inet]: invalid NAT name 'inet'");
    g_autofree char *c = load_error("[host aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefghijklmno]\n", "n.scn");
    ASSERT_CONTAINS(c, "invalid host name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefghijklmno'");
    g_autofree char *d = load_error("[nat x]\n[host y]\n[host x]\nnat = x\n", "n.scn");
    ASSERT_CONTAINS(d, "n.scn:3: [host x]: the name 'x' is already taken by [nat x] on line 1");
    g_autoptr(scenario_t) s = load_ok("[scenario]\nname = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefghijklmn\n[host aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefghijklmn]\n[host 0-a]\n", "n.scn");
    CU_ASSERT_STRING_EQUAL(s->name, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefghijklmn");
    CU_ASSERT_STRING_EQUAL(scenario_host(s, 0)->name, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefghijklmn");
}

static void test_host_errors(void)
{
    g_autofree char *a = load_error("[nat home]\n[host a]\nnat = hme\n", "h.scn");
    ASSERT_CONTAINS(a, "h.scn:3: [host a] nat = hme: no such NAT; allowed: home");
    g_autofree char *b = load_error("[host a]\nnat = home\n", "h.scn");
    ASSERT_CONTAINS(b, "h.scn:2: [host a] nat = home: no such NAT; allowed: (none: add a [nat "
                       "NAME] group)");
    g_autofree char *c = load_error("[host a]\naddresses = 9\n", "h.scn");
    ASSERT_CONTAINS(c, "h.scn:2: [host a] addresses = 9: allowed: 1 to 8");
    g_autofree char *d = load_error("[host a]\naddresses = 0\n", "h.scn");
    ASSERT_CONTAINS(d, "h.scn:2: [host a] addresses = 0: allowed: 1 to 8");
    g_autofree char *e = load_error("[host a]\n\naddress = 2\n", "h.scn");
    ASSERT_CONTAINS(e, "h.scn:3: [host a] address = 2: unknown key; allowed keys: nat, "
                       "addresses, run");
    g_autofree char *f = load_error("[host a]\nrun =\n", "h.scn");
    ASSERT_CONTAINS(f, "h.scn:2: [host a] run = : allowed: a shell command");
}

static void test_nat_errors(void)
{
    g_autofree char *a = load_error("[host h]\n[nat n]\npreset = full_cone\n", "n.scn");
    ASSERT_CONTAINS(a, "n.scn:3: [nat n] preset = full_cone: unknown preset 'full_cone'; "
                       "allowed: full-cone");
    g_autofree char *b = load_error("[host h]\n[nat n]\nmapping = weird\n", "n.scn");
    ASSERT_CONTAINS(b, "n.scn:3: [nat n] mapping = weird:");
    ASSERT_CONTAINS(b, "endpoint-independent");
    g_autofree char *c = load_error("[host h]\n[nat n]\nnat = x\n", "n.scn");
    ASSERT_CONTAINS(c, "n.scn:3: [nat n] nat = x: unknown key; allowed keys:");
    g_autofree char *d = load_error("[host h]\n[nat n]\npublic-ips = 198.18.9.9\n", "n.scn");
    ASSERT_CONTAINS(d, "n.scn:3: [nat n] public-ips = 198.18.9.9: the topology assigns the "
                       "addresses");
    ASSERT_CONTAINS(d, "allowed: a count");
    g_autoptr(scenario_t) s = load_ok("[host h]\n[nat n]\npublic-ips = 3\n", "n.scn");
    CU_ASSERT_EQUAL(scenario_nat(s, 0)->profile->public_ip_count, 3);
    CU_ASSERT_EQUAL(scenario_nat(s, 0)->profile->type, NAT_TYPE_NAT);
}

static void test_behind_errors(void)
{
    g_autofree char *a = load_error("[host h]\n[nat a]\nbehind = b\n[nat c]\n", "b.scn");
    ASSERT_CONTAINS(a, "b.scn:3: [nat a] behind = b: no such NAT; allowed: c");
    g_autofree char *b = load_error("[host h]\n[nat a]\nbehind = a\n", "b.scn");
    ASSERT_CONTAINS(b, "b.scn:3: [nat a] behind = a: a NAT cannot sit behind itself");
    g_autofree char *c = load_error("[host h]\n[nat top]\n[nat a]\nbehind = b\n[nat b]\n"
                                    "behind = c\n[nat c]\nbehind = a\n[nat d]\nbehind = a\n",
                                    "b.scn");
    ASSERT_CONTAINS(c, "b.scn:4: [nat a] behind = b: NATs behind each other in a cycle (a -> b "
                       "-> c -> a)");
}

/* The reader a shell would pass: files from a table, not from disk. */
static const char *const test_files[][2] = {
    { "/lab/field.profile",
      "[nat]\nmapping = address-dependent\npublic-ips = 203.0.113.5,203.0.113.6\n" },
};

static bool test_read(const char *path, char **data, gsize *len, GError **error)
{
    for (size_t i = 0; i < G_N_ELEMENTS(test_files); i++)
        if (strcmp(path, test_files[i][0]) == 0) {
            *data = g_strdup(test_files[i][1]);
            *len = strlen(*data);
            return true;
        }
    g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_PARSE, "%s: no such file", path);
    return false;
}

static void test_profile_file(void)
{
    const char *text = "[host h]\nnat = field\n[nat field]\nprofile = field.profile\n"
                       "hairpin = off\n";
    GError *error = NULL;
    scenario_t *s = scenario_load(text, strlen(text), "/lab/field.scn", test_read, &error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    const nat_profile_t *p = scenario_nat(s, 0)->profile;
    CU_ASSERT_EQUAL(p->mapping, NAT_ADDRESS_DEPENDENT);
    CU_ASSERT_EQUAL(p->hairpin, NAT_HAIRPIN_OFF);
    CU_ASSERT_EQUAL(p->public_ip_count, 2); /* the count stays, the field's addresses go */
    CU_ASSERT_EQUAL(p->public_ips[0], 0);
    scenario_free(s);

    const char *both = "[host h]\n[nat f]\nprofile = field.profile\npreset = full-cone\n";
    g_autofree char *msg = load_error_read(both, "/lab/field.scn", test_read);
    ASSERT_CONTAINS(msg, "field.scn:4: [nat f] preset = full-cone: give either preset or "
                         "profile (line 3), not both");
    const char *missing = "[host h]\n[nat f]\nprofile = nope.profile\n";
    g_autofree char *msg2 = load_error_read(missing, "/lab/field.scn", test_read);
    ASSERT_CONTAINS(msg2, "field.scn:3: [nat f] profile = nope.profile: /lab/nope.profile");
    /* Without a reader (scenarios made in memory) a profile file is an error, not a read. */
    g_autofree char *msg3 = load_error(text, "/lab/field.scn");
    ASSERT_CONTAINS(msg3, "field.scn:4: [nat field] profile = field.profile: ");
}

/* ---- the plan ---------------------------------------------------------------- */

static plan_t *plan_ok(const char *text, const char *run_id)
{
    g_autoptr(scenario_t) s = load_ok(text, "plan.scn");
    GError *error = NULL;
    plan_t *p = plan_new(s, run_id, 7, &error);
    if (!p)
        fprintf(stderr, "unexpected error: %s\n", error->message);
    g_clear_error(&error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

static char *plan_error(const char *text)
{
    g_autoptr(scenario_t) s = load_ok(text, "plan.scn");
    GError *error = NULL;
    plan_t *p = plan_new(s, NULL, 7, &error);
    CU_ASSERT_PTR_NULL(p);
    plan_free(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    char *msg = g_strdup(error->message);
    g_error_free(error);
    return msg;
}

static void test_plan_example(void)
{
    g_autoptr(plan_t) p = plan_ok(example, NULL);
    CU_ASSERT_STRING_EQUAL(p->prefix, "natlab-example");
    CU_ASSERT_STRING_EQUAL(p->inet_ns, "natlab-example-inet");
    const plan_nat_t *home = plan_nat(p, 0), *isp = plan_nat(p, 1), *flat = plan_nat(p, 2);
    CU_ASSERT_STRING_EQUAL(home->ns, "natlab-example-home");
    CU_ASSERT_EQUAL(home->n_wan, 1);
    ASSERT_IP(home->wan[0], "198.18.1.1");
    CU_ASSERT_EQUAL(home->wan_len, 15);
    CU_ASSERT_EQUAL(home->gateway, 0);
    ASSERT_IP(home->lan_net, "10.1.0.0");
    ASSERT_IP(home->lan_addr, "10.1.0.1");
    CU_ASSERT_EQUAL(home->lan_len, 24);
    CU_ASSERT_EQUAL(isp->n_wan, 2);
    ASSERT_IP(isp->wan[0], "198.18.2.1");
    ASSERT_IP(isp->wan[1], "198.18.2.2");
    /* The profile the daemon gets names the addresses the topology chose. */
    ASSERT_IP(isp->profile->public_ips[1], "198.18.2.2");
    CU_ASSERT_EQUAL(flat->n_wan, 1);
    ASSERT_IP(flat->wan[0], "10.2.0.2");
    CU_ASSERT_EQUAL(flat->wan_len, 24);
    ASSERT_IP(flat->gateway, "10.2.0.1");
    ASSERT_IP(flat->lan_net, "10.3.0.0");
    const plan_host_t *alice = plan_host(p, 0), *bob = plan_host(p, 1), *stun = plan_host(p, 2);
    ASSERT_IP(alice->addrs[0], "10.1.0.2");
    ASSERT_IP(alice->gateway, "10.1.0.1");
    CU_ASSERT_EQUAL(alice->len, 24);
    ASSERT_IP(bob->addrs[0], "10.3.0.2");
    CU_ASSERT_EQUAL(stun->n_addrs, 2);
    ASSERT_IP(stun->addrs[0], "198.19.1.1");
    ASSERT_IP(stun->addrs[1], "198.19.1.2");
    CU_ASSERT_EQUAL(stun->len, 15);
    CU_ASSERT_EQUAL(stun->gateway, 0);
    CU_ASSERT_EQUAL(stun->routes->len, 0);
    /* Seeds: reproducible, and one per NAT. */
    CU_ASSERT_EQUAL(home->seed, plan_nat_seed(7, 1));
    CU_ASSERT_NOT_EQUAL(home->seed, isp->seed);
    CU_ASSERT_TRUE(home->seed <= (uint64_t)G_MAXINT64);

    g_auto(GStrv) all = plan_namespaces(p);
    CU_ASSERT_EQUAL(g_strv_length(all), 7);
    CU_ASSERT_STRING_EQUAL(all[0], "natlab-example-inet");
    CU_ASSERT_STRING_EQUAL(all[6], "natlab-example-stun");
}

static void test_plan_batches(void)
{
    g_autoptr(plan_t) p = plan_ok(example, NULL);
    g_autofree char *links = plan_batch_links(p);
    ASSERT_CONTAINS(links, "link add name wan netns natlab-example-home type veth peer name "
                           "v-home netns natlab-example-inet\n");
    ASSERT_CONTAINS(links, "link add name wan netns natlab-example-flat type veth peer name "
                           "v-flat netns natlab-example-isp\n");
    ASSERT_CONTAINS(links, "link add name eth0 netns natlab-example-bob type veth peer name "
                           "v-bob netns natlab-example-flat\n");
    g_autofree char *inet = plan_batch_namespace(p, "natlab-example-inet");
    ASSERT_CONTAINS(inet, "link set lo up\nlink add name br0 type bridge\nlink set br0 up\n");
    ASSERT_CONTAINS(inet, "link set v-stun master br0\nlink set v-stun up\n");
    ASSERT_CONTAINS(inet, "link set v-isp master br0\n");
    ASSERT_NOT_CONTAINS(inet, "v-flat");
    g_autofree char *isp = plan_batch_namespace(p, "natlab-example-isp");
    ASSERT_CONTAINS(isp, "addr add 198.18.2.1/15 dev wan\naddr add 198.18.2.2/15 dev wan\n");
    ASSERT_CONTAINS(isp, "link add name lan type bridge\n");
    ASSERT_CONTAINS(isp, "link set v-flat master lan\n");
    ASSERT_CONTAINS(isp, "addr add 10.2.0.1/24 dev lan\n");
    ASSERT_NOT_CONTAINS(isp, "route add default");
    g_autofree char *flat = plan_batch_namespace(p, "natlab-example-flat");
    ASSERT_CONTAINS(flat, "addr add 10.2.0.2/24 dev wan\n");
    ASSERT_CONTAINS(flat, "route add default via 10.2.0.1\n");
    g_autofree char *bob = plan_batch_namespace(p, "natlab-example-bob");
    CU_ASSERT_STRING_EQUAL(bob, "link set lo up\nlink set eth0 up\naddr add 10.3.0.2/24 dev eth0\n"
                                "route add default via 10.3.0.1\n");
    g_autofree char *stun = plan_batch_namespace(p, "natlab-example-stun");
    CU_ASSERT_STRING_EQUAL(stun, "link set lo up\nlink set eth0 up\n"
                                 "addr add 198.19.1.1/15 dev eth0\naddr add 198.19.1.2/15 dev eth0\n");
    CU_ASSERT_PTR_NULL(plan_batch_namespace(p, "natlab-example-nobody"));
}

static void test_plan_lan_order(void)
{
    /* Hosts take a LAN's addresses first (file order), then the NATs behind it. */
    const char *text = "[nat cgn]\n[nat home]\nbehind = cgn\npublic-ips = 2\n"
                       "[host dave]\nnat = cgn\naddresses = 2\n[host alice]\nnat = home\n"
                       "[host carol]\nnat = home\n[host erin]\nnat = cgn\n";
    g_autoptr(plan_t) p = plan_ok(text, NULL);
    ASSERT_IP(plan_host(p, 0)->addrs[0], "10.1.0.2");
    ASSERT_IP(plan_host(p, 0)->addrs[1], "10.1.0.3");
    ASSERT_IP(plan_host(p, 3)->addrs[0], "10.1.0.4");
    ASSERT_IP(plan_nat(p, 1)->wan[0], "10.1.0.5");
    ASSERT_IP(plan_nat(p, 1)->wan[1], "10.1.0.6");
    ASSERT_IP(plan_nat(p, 1)->profile->public_ips[1], "10.1.0.6");
    ASSERT_IP(plan_host(p, 1)->addrs[0], "10.2.0.2");
    ASSERT_IP(plan_host(p, 2)->addrs[0], "10.2.0.3");
}

static void assert_route(const GArray *routes, const char *dst, unsigned len, const char *via)
{
    for (guint i = 0; i < routes->len; i++) {
        const plan_route_t *r = &g_array_index(routes, plan_route_t, i);
        char a[ADDR_IP_STRLEN], b[ADDR_IP_STRLEN];
        if (strcmp(ip(r->dst, a), dst) == 0 && r->len == len && strcmp(ip(r->via, b), via) == 0)
            return;
    }
    fprintf(stderr, "no route %s/%u via %s\n", dst, len, via);
    CU_FAIL("route missing");
}

static void test_plan_not_translating(void)
{
    /* no-nat and firewall routers forward without translating: their hosts
     * get public addresses, routed through the router by everyone upstream. */
    const char *text = "[nat open]\npreset = no-nat\n[nat home]\n[nat fw]\npreset = firewall\n"
                       "behind = open\n[nat inner]\npreset = firewall\nbehind = home\n"
                       "[host a]\nnat = open\n[host b]\nnat = fw\n[host c]\nnat = inner\n"
                       "[host pub]\n";
    g_autoptr(plan_t) p = plan_ok(text, NULL);
    const plan_nat_t *open = plan_nat(p, 0), *home = plan_nat(p, 1), *fw = plan_nat(p, 2),
                     *inner = plan_nat(p, 3);
    CU_ASSERT_FALSE(open->translating);
    ASSERT_IP(open->wan[0], "198.18.1.1");
    ASSERT_IP(open->lan_net, "198.18.1.128");
    CU_ASSERT_EQUAL(open->lan_len, 25);
    ASSERT_IP(open->lan_addr, "198.18.1.129");
    ASSERT_IP(plan_host(p, 0)->addrs[0], "198.18.1.130");
    CU_ASSERT_EQUAL(plan_host(p, 0)->len, 25);
    ASSERT_IP(plan_host(p, 0)->gateway, "198.18.1.129");
    /* fw sits on open's LAN and its LAN is public too. */
    ASSERT_IP(fw->wan[0], "198.18.1.131");
    ASSERT_IP(fw->gateway, "198.18.1.129");
    ASSERT_IP(fw->lan_net, "198.18.3.128");
    ASSERT_IP(plan_host(p, 1)->addrs[0], "198.18.3.130");
    /* inner sits behind a translating NAT: a private LAN, routed by home. */
    ASSERT_IP(inner->lan_net, "10.4.0.0");
    ASSERT_IP(inner->wan[0], "10.2.0.2");
    assert_route(home->routes, "10.4.0.0", 24, "10.2.0.2");
    CU_ASSERT_EQUAL(home->routes->len, 3); /* and the two public LANs on the internet */
    /* Routes towards open's and fw's LANs, everywhere on the internet but open. */
    assert_route(home->routes, "198.18.1.128", 25, "198.18.1.1");
    assert_route(home->routes, "198.18.3.128", 25, "198.18.1.1");
    assert_route(plan_host(p, 3)->routes, "198.18.1.128", 25, "198.18.1.1");
    assert_route(plan_host(p, 3)->routes, "198.18.3.128", 25, "198.18.1.1");
    assert_route(open->routes, "198.18.3.128", 25, "198.18.1.131");
    CU_ASSERT_EQUAL(open->routes->len, 1);
    CU_ASSERT_EQUAL(fw->routes->len, 0);
    g_autofree char *pub = plan_batch_namespace(p, "natlab-plan-pub");
    ASSERT_CONTAINS(pub, "route add 198.18.1.128/25 via 198.18.1.1\n");
}

static void test_plan_run_id_and_limits(void)
{
    g_autoptr(plan_t) p = plan_ok("[host a]\n", "r7");
    CU_ASSERT_STRING_EQUAL(p->prefix, "natlab-plan-r7");
    CU_ASSERT_STRING_EQUAL(plan_host(p, 0)->ns, "natlab-plan-r7-a");
    g_autoptr(scenario_t) s = load_ok("[host a]\n", "plan.scn");
    GError *error = NULL;
    CU_ASSERT_PTR_NULL(plan_new(s, "R7", 1, &error));
    ASSERT_CONTAINS(error->message, "run id 'R7': allowed");
    g_clear_error(&error);

    /* 32 hosts of 8 addresses do not fit a /24. */
    GString *text = g_string_new("[nat n]\n");
    for (int i = 0; i < 32; i++)
        g_string_append_printf(text, "[host h%d]\nnat = n\naddresses = 8\n", i);
    g_autofree char *msg = plan_error(text->str);
    ASSERT_CONTAINS(msg, "plan.scn:");
    ASSERT_CONTAINS(msg, "[host h31]: the LAN of NAT n (/24) has no address left; allowed: at "
                         "most 253 addresses on it");
    g_string_free(text, TRUE);
}

static void test_plan_json(void)
{
    g_autoptr(plan_t) p = plan_ok(example, NULL);
    g_autoptr(JsonNode) root = plan_to_json(p);
    g_autofree char *text = json_to_string(root, FALSE);
    ASSERT_CONTAINS(text, "\"prefix\":\"natlab-example\"");
    ASSERT_CONTAINS(text, "\"public_addresses\":[\"198.18.2.1\",\"198.18.2.2\"]");
    ASSERT_CONTAINS(text, "\"lan\":\"10.3.0.0/24\"");
    ASSERT_CONTAINS(text, "\"behind\":\"isp\"");
    ASSERT_CONTAINS(text, "\"addresses\":[\"198.19.1.1\",\"198.19.1.2\"]");
    ASSERT_CONTAINS(text, "\"nat\":null");
    ASSERT_CONTAINS(text, "\"namespaces\":[\"natlab-example-inet\"");
}

/* topology.json's one reader gets back what the plan wrote. */
static void test_topology_info(void)
{
    g_autoptr(plan_t) p = plan_ok(example, NULL);
    g_autoptr(JsonNode) root = plan_to_json(p);
    g_autofree char *text = json_to_string(root, TRUE);
    GError *error = NULL;
    g_autoptr(topology_info_t) t = topology_info_parse(text, strlen(text), "t.json", &error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_STRING_EQUAL(t->scenario, "example");
    CU_ASSERT_STRING_EQUAL(t->prefix, "natlab-example");
    CU_ASSERT_PTR_NULL(t->state_dir);
    CU_ASSERT_EQUAL(g_strv_length(t->namespaces), 7);
    CU_ASSERT_EQUAL(t->nats->len, 3);
    CU_ASSERT_EQUAL(t->hosts->len, 3);
    const topology_info_node_t *stun = topology_info_find(t, "stun");
    CU_ASSERT_PTR_NOT_NULL_FATAL(stun);
    CU_ASSERT_FALSE(stun->is_nat);
    CU_ASSERT_STRING_EQUAL(stun->ns, "natlab-example-stun");
    CU_ASSERT_EQUAL(g_strv_length(stun->addresses), 2);
    CU_ASSERT_STRING_EQUAL(stun->addresses[1], "198.19.1.2");
    CU_ASSERT_EQUAL(stun->pid, 0);
    const topology_info_node_t *isp = topology_info_find(t, "isp");
    CU_ASSERT_PTR_NOT_NULL_FATAL(isp);
    CU_ASSERT_TRUE(isp->is_nat);
    CU_ASSERT_STRING_EQUAL(isp->addresses[0], "198.18.2.1");
    CU_ASSERT_PTR_NULL(isp->control); /* a plan has no daemons yet */
    CU_ASSERT_PTR_NULL(topology_info_find(t, "carol"));
    g_autofree char *all = topology_info_names(t, true, true);
    CU_ASSERT_STRING_EQUAL(all, "alice, bob, stun, home, isp, flat");
    g_autofree char *nats = topology_info_names(t, false, true);
    CU_ASSERT_STRING_EQUAL(nats, "home, isp, flat");

    const char *pids = "{\"prefix\":\"natlab-x\",\"namespaces\":[],\"nats\":[{\"name\":\"n\","
                       "\"namespace\":\"natlab-x-n\",\"control\":\"/run/x/n.sock\",\"pid\":42}],"
                       "\"hosts\":[{\"name\":\"h\",\"namespace\":\"natlab-x-h\",\"pid\":null}]}";
    g_autoptr(topology_info_t) u = topology_info_parse(pids, strlen(pids), "u.json", &error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(u);
    CU_ASSERT_EQUAL(topology_info_nat(u, 0)->pid, 42);
    CU_ASSERT_STRING_EQUAL(topology_info_nat(u, 0)->control, "/run/x/n.sock");
    CU_ASSERT_EQUAL(topology_info_host(u, 0)->pid, 0);
    CU_ASSERT_PTR_NOT_NULL(topology_info_host(u, 0)->addresses);

    CU_ASSERT_PTR_NULL(topology_info_parse("[1]", 3, "v.json", &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    ASSERT_CONTAINS(error->message, "v.json: not a natlab topology");
    g_clear_error(&error);
    const char *nameless = "{\"prefix\":\"natlab-x\",\"hosts\":[{\"namespace\":\"ns\"}]}";
    CU_ASSERT_PTR_NULL(topology_info_parse(nameless, strlen(nameless), "w.json", &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    ASSERT_CONTAINS(error->message, "w.json: hosts[0] has no name or namespace");
    g_clear_error(&error);
    CU_ASSERT_PTR_NULL(topology_info_parse("{", 1, "x.json", &error));
    CU_ASSERT_PTR_NOT_NULL(error);
    g_clear_error(&error);
}

/* Long names: namespaces, veths and sockets get short forms, users keep theirs. */
static void test_shortname(void)
{
    g_autofree char *fits = shortname_derive("alice", 13, 0);
    CU_ASSERT_STRING_EQUAL(fits, "alice");
    g_autofree char *edge = shortname_derive("abcdefghijklm", 13, 0);
    CU_ASSERT_STRING_EQUAL(edge, "abcdefghijklm");
    const char *scn = "port-restricted-vs-symmetric-reboot";
    g_autofree char *a = shortname_derive(scn, 20, 0);
    g_autofree char *b = shortname_derive(scn, 20, 0);
    g_autofree char *c = shortname_derive(scn, 20, 1);
    CU_ASSERT_STRING_EQUAL(a, b); /* the same name, the same namespaces */
    CU_ASSERT_EQUAL(strlen(a), 20);
    /* Pinned: a later natlab must find the namespaces an earlier one made (docs/topology.md). */
    CU_ASSERT_STRING_EQUAL(a, "port-restrict-d3c7b0");
    g_autofree char *laptop = shortname_derive("a-laptop-behind-the-home-router", 13, 0);
    CU_ASSERT_STRING_EQUAL(laptop, "a-lapt-dc289a");
    CU_ASSERT_STRING_NOT_EQUAL(a, c);
    g_autofree char *d = shortname_derive("port-restricted-vs-symmetric-rebooT", 20, 0);
    CU_ASSERT_STRING_NOT_EQUAL(a, d); /* the hash covers all of it */
    g_autofree char *e = shortname_derive("home-router-of-alice", 13, 0);
    CU_ASSERT_EQUAL(strlen(e), 13);
    CU_ASSERT_TRUE(g_str_has_prefix(e, "home-r-"));

    /* A name that fits keeps itself, even when it is what a long one would
     * become: the long one takes the next salt. */
    const char *names[] = { "home-router-of-alice", e, "home-router-of-bob", "inet-gateway-01" };
    g_auto(GStrv) ids = shortname_assign(names, 4, 13, (const char *const[]){ "inet", NULL });
    CU_ASSERT_STRING_EQUAL(ids[1], e);
    g_autofree char *salted = shortname_derive("home-router-of-alice", 13, 1);
    CU_ASSERT_STRING_EQUAL(ids[0], salted);
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            CU_ASSERT_STRING_NOT_EQUAL(ids[i], ids[j]);
    g_auto(GStrv) again = shortname_assign(names, 4, 13, (const char *const[]){ "inet", NULL });
    for (int i = 0; i < 4; i++)
        CU_ASSERT_STRING_EQUAL(ids[i], again[i]);
}

#define LONG_NAT "port-restricted-cone-nat-at-home-behind-the-carrier-grade-nat-a"
#define LONG_HOST "a-laptop-on-the-home-network-running-the-connecting-agent-alice"
static const char long_names[] =
    "[scenario]\nname = port-restricted-vs-symmetric-reboot-with-a-rather-long-name-063\n"
    "[nat " LONG_NAT "]\npreset = port-restricted-cone\n"
    "[nat port-restricted-cone-nat-at-home-behind-the-carrier-grade-nat-b]\npreset = symmetric\n"
    "behind = " LONG_NAT "\n"
    "[host " LONG_HOST "]\nnat = " LONG_NAT "\n"
    "[host a-laptop-on-the-home-network-running-the-connecting-agent-bob]\n"
    "nat = port-restricted-cone-nat-at-home-behind-the-carrier-grade-nat-b\n"
    "[host short]\n";

static void test_plan_long_names(void)
{
    CU_ASSERT_EQUAL(strlen(LONG_NAT), 63);
    CU_ASSERT_EQUAL(strlen(LONG_HOST), 63);
    g_autoptr(plan_t) p = plan_ok(long_names, "r-0123456789abcd");
    CU_ASSERT_EQUAL(strlen(p->scenario), 63);
    CU_ASSERT_TRUE(g_str_has_prefix(p->prefix, "natlab-port-restrict"));
    CU_ASSERT_TRUE(g_str_has_suffix(p->prefix, "-r-0123456789abcd"));
    g_autofree char *prefix = plan_prefix(p->scenario, "r-0123456789abcd");
    CU_ASSERT_STRING_EQUAL(prefix, p->prefix);
    CU_ASSERT_STRING_EQUAL(plan_nat(p, 0)->name, LONG_NAT);
    CU_ASSERT_STRING_EQUAL(plan_host(p, 0)->name, LONG_HOST);
    CU_ASSERT_STRING_EQUAL(plan_host(p, 2)->id, "short");
    g_auto(GStrv) all = plan_namespaces(p);
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    for (int i = 0; all[i]; i++) {
        CU_ASSERT_TRUE(strlen(all[i]) <= 7 + 20 + 1 + 16 + 1 + 13);
        CU_ASSERT_FALSE(g_hash_table_contains(seen, all[i]));
        g_hash_table_add(seen, all[i]);
    }
    for (guint i = 0; i < p->nats->len; i++)
        CU_ASSERT_TRUE(strlen(plan_nat(p, i)->id) <= 13); /* v-ID fits IFNAMSIZ */
    for (guint i = 0; i < p->hosts->len; i++)
        CU_ASSERT_TRUE(strlen(plan_host(p, i)->id) <= 13);
    CU_ASSERT_STRING_NOT_EQUAL(plan_nat(p, 0)->id, plan_nat(p, 1)->id);
    CU_ASSERT_STRING_NOT_EQUAL(plan_host(p, 0)->id, plan_host(p, 1)->id);
    g_autofree char *dir = g_strdup_printf("/run/natlab/%s", p->prefix);
    g_autofree char *sock = plan_control_path(dir, plan_nat(p, 0));
    CU_ASSERT_TRUE(strlen(sock) < 108); /* sizeof sun_path */

    g_autofree char *links = plan_batch_links(p);
    g_autofree char *veth = g_strdup_printf("peer name v-%s netns %s-inet\n", plan_nat(p, 0)->id,
                                            p->prefix);
    ASSERT_CONTAINS(links, veth);
    ASSERT_NOT_CONTAINS(links, LONG_NAT);
    g_autoptr(JsonNode) root = plan_to_json(p);
    g_autofree char *text = json_to_string(root, FALSE);
    ASSERT_CONTAINS(text, "\"name\":\"" LONG_HOST "\"");
    ASSERT_CONTAINS(text, "\"behind\":\"" LONG_NAT "\"");
    g_autoptr(plan_t) again = plan_ok(long_names, "r-0123456789abcd");
    g_auto(GStrv) all2 = plan_namespaces(again);
    for (int i = 0; all[i]; i++)
        CU_ASSERT_STRING_EQUAL(all[i], all2[i]);
}

/* change-ip events: the runner asks for a spare address on the NAT's wan;
 * it is on the interface but not in the profile the daemon translates with. */
static void test_plan_spare_addresses(void)
{
    g_autoptr(scenario_t) s = load_ok(example, "plan.scn");
    ((scenario_nat_t *)scenario_nat(s, 0))->spare_ips = 1;
    ((scenario_nat_t *)scenario_nat(s, 2))->spare_ips = 1;
    GError *error = NULL;
    g_autoptr(plan_t) p = plan_new(s, NULL, 7, &error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    const plan_nat_t *home = plan_nat(p, 0), *flat = plan_nat(p, 2);
    CU_ASSERT_EQUAL(home->n_wan, 2);
    CU_ASSERT_EQUAL(home->n_spare, 1);
    ASSERT_IP(home->wan[1], "198.18.1.2");
    CU_ASSERT_EQUAL(home->profile->public_ip_count, 1);
    CU_ASSERT_EQUAL(home->profile->public_ips[1], 0);
    /* Behind another NAT the spare comes from the upstream LAN too. */
    ASSERT_IP(flat->wan[0], "10.2.0.2");
    ASSERT_IP(flat->wan[1], "10.2.0.3");
    CU_ASSERT_EQUAL(flat->profile->public_ip_count, 1);
    g_autofree char *batch = plan_batch_namespace(p, home->ns);
    ASSERT_CONTAINS(batch, "198.18.1.2/15");
    g_autoptr(JsonNode) root = plan_to_json(p);
    g_autofree char *text = json_to_string(root, FALSE);
    ASSERT_CONTAINS(text, "\"public_addresses\":[\"198.18.1.1\"],\"spare_addresses\":[\"198.18.1.2\"]");
}

static void test_runner_keys_accepted(void)
{
    g_autoptr(scenario_t) s = load_ok("[scenario]\nrepeat = 3\ndeadline = 20s\n[host a]\n", "r.scn");
    CU_ASSERT_STRING_EQUAL(s->name, "r");
}

int main(void)
{
    static const test_case_t cases[] = {
        { "example", test_example },
        { "name from file", test_name_from_file },
        { "[scenario] errors", test_scenario_group_errors },
        { "groups", test_groups },
        { "names", test_names },
        { "[host] errors", test_host_errors },
        { "[nat] errors", test_nat_errors },
        { "behind errors", test_behind_errors },
        { "profile = FILE", test_profile_file },
        { "plan: example", test_plan_example },
        { "plan: ip batches", test_plan_batches },
        { "plan: LAN order", test_plan_lan_order },
        { "plan: not translating", test_plan_not_translating },
        { "plan: run id, limits", test_plan_run_id_and_limits },
        { "plan: json", test_plan_json },
        { "shortname: derivation and collisions", test_shortname },
        { "plan: 63-character names", test_plan_long_names },
        { "topology_info: the plan's JSON read back", test_topology_info },
        { "plan: spare addresses for change-ip", test_plan_spare_addresses },
        { "[scenario] repeat and deadline are the runner's", test_runner_keys_accepted },
        { NULL, NULL },
    };
    return test_run_suite("scenario", cases);
}
