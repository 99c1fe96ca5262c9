#include "nat_profile.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"

G_DEFINE_QUARK(natlab-profile-error-quark, nat_profile_error)

/* RFC 4787 REQ-5: at least 2 min; 5 min recommended as the default. */
#define NAT_DEFAULT_TIMEOUT (5 * USEC_PER_MIN)
#define NAT_DEFAULT_ICMP_TIMEOUT (60 * USEC_PER_SEC) /* RFC 5508 REQ-2: not less than 60 s */
#define NAT_DEFAULT_TCP_ESTABLISHED ((2 * 60 + 4) * USEC_PER_MIN) /* RFC 5382 REQ-5 */
#define NAT_DEFAULT_TCP_TRANSITORY (4 * USEC_PER_MIN)              /* RFC 5382 REQ-5, RFC 7857 2.2 */
/* RFC 6886 section 3.3: the recommended lifetime is two hours. */
#define NAT_DEFAULT_PORT_MAPPING_LIFETIME_MAX (24 * USEC_PER_HOUR)

static const char *const type_names[] = { "nat", "firewall", "open", "blocked", NULL };
static const char *const dependence_names[] = { "endpoint-independent", "address-dependent",
                                                "address-and-port-dependent", NULL };
static const char *const allocation_names[] = { "preserve", "sequential", "random", NULL };
static const char *const fallback_names[] = { "sequential", "random", NULL };
static const char *const parity_names[] = { "ignore", "preserve", NULL };
static const char *const refresh_names[] = { "outbound", "both", NULL };
static const char *const pooling_names[] = { "paired", "arbitrary", NULL };
static const char *const hairpin_names[] = { "off", "on", "internal-source", NULL };
static const char *const unsolicited_names[] = { "hold", "drop", "rst", "icmp", NULL };
static const char *const no_session_names[] = { "drop", "rst", "pickup", NULL };
static const char *const reset_session_names[] = { "reopen", "invalid", NULL };
static const char *const port_space_names[] = { "separate", "shared", NULL };
static const char *const refused_names[] = { "drop", "reject", NULL };

const char *nat_type_name(nat_type_t v) { return type_names[v]; }
const char *nat_dependence_name(nat_dependence_t v) { return dependence_names[v]; }
const char *nat_allocation_name(nat_allocation_t v) { return allocation_names[v]; }
const char *nat_hairpin_name(nat_hairpin_t v) { return hairpin_names[v]; }
const char *nat_pooling_name(nat_pooling_t v) { return pooling_names[v]; }
const char *nat_refresh_name(nat_refresh_t v) { return refresh_names[v]; }
const char *nat_parity_name(nat_parity_t v) { return parity_names[v]; }
const char *nat_tcp_unsolicited_name(nat_tcp_unsolicited_t v) { return unsolicited_names[v]; }
const char *nat_tcp_no_session_name(nat_tcp_no_session_t v) { return no_session_names[v]; }
const char *nat_tcp_reset_session_name(nat_tcp_reset_session_t v) { return reset_session_names[v]; }

bool nat_allow_has(const nat_allow_t *allow, uint16_t port)
{
    if (allow->all)
        return true;
    for (unsigned i = 0; i < allow->n; i++)
        if (port >= allow->lo[i] && port <= allow->hi[i])
            return true;
    return false;
}

static void profile_defaults(nat_profile_t *p)
{
    memset(p, 0, sizeof *p);
    p->type = NAT_TYPE_NAT;
    p->mapping = NAT_ENDPOINT_INDEPENDENT;
    p->filtering = NAT_ADDRESS_AND_PORT_DEPENDENT;
    p->allocation = NAT_ALLOC_PRESERVE;
    p->preserve_fallback = NAT_ALLOC_RANDOM;
    p->sequential_step = 1;
    /* RFC 4787 REQ-3a keeps 0-1023 apart; dynamic mappings live above. */
    p->port_min = 1024;
    p->port_max = 65535;
    p->port_parity = NAT_PARITY_IGNORE;
    p->timeout = NAT_DEFAULT_TIMEOUT;
    p->icmp_timeout = NAT_DEFAULT_ICMP_TIMEOUT;
    p->refresh = NAT_REFRESH_OUTBOUND;
    p->hairpin = NAT_HAIRPIN_ON;
    p->public_ip_count = 1;
    p->pooling = NAT_POOLING_PAIRED;
    p->port_blocks_max = 1;
    p->port_mapping_lifetime_max = NAT_DEFAULT_PORT_MAPPING_LIFETIME_MAX;
    p->tcp_established_timeout = NAT_DEFAULT_TCP_ESTABLISHED;
    p->tcp_transitory_timeout = NAT_DEFAULT_TCP_TRANSITORY;
    p->allow_out_udp.all = p->allow_out_tcp.all = true;
}

void nat_profile_tcp_view(const nat_profile_t *p, nat_profile_t *v)
{
    *v = *p;
    const nat_tcp_overrides_t *t = &p->tcp;
    if (t->set & NAT_TCP_SET_MAPPING)
        v->mapping = (nat_dependence_t)t->mapping;
    if (t->set & NAT_TCP_SET_FILTERING)
        v->filtering = (nat_dependence_t)t->filtering;
    if (t->set & NAT_TCP_SET_ALLOCATION)
        v->allocation = (nat_allocation_t)t->allocation;
    if (t->set & NAT_TCP_SET_PRESERVE_FALLBACK)
        v->preserve_fallback = (nat_allocation_t)t->preserve_fallback;
    if (t->set & NAT_TCP_SET_SEQUENTIAL_STEP)
        v->sequential_step = t->sequential_step;
    if (t->set & NAT_TCP_SET_PORT_RANGE) {
        v->port_min = t->port_min;
        v->port_max = t->port_max;
    }
    if (t->set & NAT_TCP_SET_PORT_PARITY)
        v->port_parity = (nat_parity_t)t->port_parity;
    if (t->set & NAT_TCP_SET_HAIRPIN)
        v->hairpin = (nat_hairpin_t)t->hairpin;
    if (t->set & NAT_TCP_SET_PORT_QUOTA)
        v->port_quota = t->port_quota;
}

/* ---- presets ---------------------------------------------------------- */

typedef struct nat_preset {
    const char *name;
    const char *description;
    const char *keys; /* key file text applied on top of the defaults */
} nat_preset_t;

static const nat_preset_t presets[] = {
    { "full-cone", "EIM + EIF (RFC 3489 full cone): anyone may send to a mapping once it exists",
      "mapping = endpoint-independent\nfiltering = endpoint-independent\n"
      "allocation = preserve\nhairpin = on\n" },
    { "restricted-cone", "EIM + ADF: inbound only from addresses the host has sent to",
      "mapping = endpoint-independent\nfiltering = address-dependent\n"
      "allocation = preserve\nhairpin = on\n" },
    { "port-restricted-cone", "EIM + APDF: inbound only from exact address:port the host has sent to",
      "mapping = endpoint-independent\nfiltering = address-and-port-dependent\n"
      "allocation = preserve\nhairpin = on\n" },
    { "symmetric", "APDM + APDF, random ports: a new mapping for every destination",
      "mapping = address-and-port-dependent\nfiltering = address-and-port-dependent\n"
      "allocation = random\nhairpin = off\n" },
    { "symmetric-sequential", "APDM + APDF, ports counted up by 1 across the whole NAT",
      "mapping = address-and-port-dependent\nfiltering = address-and-port-dependent\n"
      "allocation = sequential\nsequential-step = 1\nhairpin = off\n" },
    { "home-router", "EIM + APDF with port preservation, like a Linux/OpenWrt router "
                     "(UDP: 30 s until the first reply, 3 min after; TCP: a reset for "
                     "unsolicited segments, 5 days established, mid-stream pickup, a SYN "
                     "after a reset invalid)",
      "mapping = endpoint-independent\nfiltering = address-and-port-dependent\n"
      "allocation = preserve\npreserve-fallback = random\nhairpin = on\n"
      "timeout = 180s\ntimeout-unreplied = 30s\n"
      /* OpenWrt's wan zone REJECTs (tcp-reset); nf_conntrack_tcp_timeout_established
       * is 432000 s, time_wait and fin_wait 120 s; nf_conntrack_tcp_loose = 1; a
       * reply-direction SYN on a CLOSE entry is INVALID (tcp_conntracks[1][SYN][sCL]). */
      "tcp-unsolicited-syn = rst\ntcp-established-timeout = 120h\n"
      "tcp-transitory-timeout = 120s\ntcp-no-session = pickup\ntcp-reset-session = invalid\n" },
    { "openwrt", "home-router's NAT with miniupnpd, as OpenWrt ships it: "
                 "UPnP IGD, NAT-PMP and PCP answer on the inside address",
      "mapping = endpoint-independent\nfiltering = address-and-port-dependent\n"
      "allocation = preserve\npreserve-fallback = random\nhairpin = on\n"
      "timeout = 180s\ntimeout-unreplied = 30s\nport-mapping = nat-pmp,pcp,upnp\n"
      "tcp-unsolicited-syn = rst\ntcp-established-timeout = 120h\n"
      "tcp-transitory-timeout = 120s\ntcp-no-session = pickup\ntcp-reset-session = invalid\n" },
    { "cgnat", "carrier-grade NAT (RFC 6888): EIM + EIF, two paired public addresses, "
               "random ports in per-subscriber blocks of 512 (at most 4), 2 min hold-down",
      "mapping = endpoint-independent\nfiltering = endpoint-independent\n"
      "allocation = random\nhairpin = on\npublic-ips = 2\npooling = paired\n"
      "port-block = 512\nport-blocks-max = 4\ntimeout = 5min\ntimeout-unreplied = 15s\n"
      "hold-down = 2min\n" },
    { "no-nat", "the open internet: no translation, no filtering", "type = open\n" },
    { "firewall", "no translation, APDF stateful filtering (symmetric UDP firewall)",
      "type = firewall\nfiltering = address-and-port-dependent\n" },
    { "udp-blocked", "drops every UDP packet; TCP and ICMP pass untouched", "type = blocked\n" },
    { "corporate", "a corporate firewall NAT: APDM + APDF with random ports, only TCP 80 and "
                   "443 and UDP 53 (DNS) out, the rest dropped, unsolicited SYNs dropped",
      "mapping = address-and-port-dependent\nfiltering = address-and-port-dependent\n"
      "allocation = random\nhairpin = off\nallow-out-tcp = 80,443\nallow-out-udp = 53\n"
      "refused = drop\ntcp-unsolicited-syn = drop\n" },
};

#define PRESET_COUNT (sizeof presets / sizeof presets[0])

const nat_preset_info_t *nat_profile_presets(size_t *count)
{
    static nat_preset_info_t infos[PRESET_COUNT];
    for (size_t i = 0; i < PRESET_COUNT; i++)
        infos[i] = (nat_preset_info_t){ presets[i].name, presets[i].description };
    *count = PRESET_COUNT;
    return infos;
}

static char *preset_list(void)
{
    GString *s = g_string_new(NULL);
    for (size_t i = 0; i < PRESET_COUNT; i++)
        g_string_append_printf(s, "%s%s", i ? ", " : "", presets[i].name);
    return g_string_free(s, FALSE);
}

static const nat_preset_t *preset_find(const char *name)
{
    for (size_t i = 0; i < PRESET_COUNT; i++)
        if (strcmp(presets[i].name, name) == 0)
            return &presets[i];
    return NULL;
}

static bool apply_keys(nat_profile_t *p, const keyfile_t *kf, const char *group,
                       const char *const *foreign_keys, bool allow_preset, GError **error);

static bool preset_load(nat_profile_t *p, const char *name, GError **error)
{
    const nat_preset_t *preset = preset_find(name);
    if (!preset) {
        g_autofree char *list = preset_list();
        g_set_error(error, NAT_PROFILE_ERROR, NAT_PROFILE_ERROR_UNKNOWN_PRESET,
                    "unknown preset '%s'; allowed: %s", name, list);
        return false;
    }
    g_autofree char *text = g_strdup_printf("[nat]\n%s", preset->keys);
    g_autoptr(keyfile_t) kf = keyfile_load_data(text, strlen(text), preset->name, NULL);
    g_free(p->name); /* before profile_defaults() wipes the pointer */
    profile_defaults(p);
    p->name = g_strdup(preset->name);
    bool ok = kf && apply_keys(p, kf, "nat", NULL, false, error);
    g_assert(ok); /* presets are ours; a broken one is a programming error */
    return ok;
}

nat_profile_t *nat_profile_new_preset(const char *name, GError **error)
{
    nat_profile_t *p = g_new0(nat_profile_t, 1);
    if (!preset_load(p, name, error)) {
        nat_profile_free(p);
        return NULL;
    }
    return p;
}

void nat_profile_free(nat_profile_t *profile)
{
    if (!profile)
        return;
    g_free(profile->name);
    g_free(profile);
}

nat_profile_t *nat_profile_copy(const nat_profile_t *profile)
{
    nat_profile_t *copy = g_memdup2(profile, sizeof *profile);
    copy->name = g_strdup(profile->name);
    return copy;
}

/* ---- value parsers ---------------------------------------------------- */

/* Each parser returns false with `why` filled when the value is not allowed. */
typedef bool (*key_parse_fn)(nat_profile_t *p, const char *value, size_t offset, GString *why);

static bool parse_uint(const char *value, unsigned long min, unsigned long max, unsigned long *out,
                       GString *why)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(value, &end, 10);
    if (*value == '\0' || *value == '-' || *end != '\0' || errno || v < min || v > max) {
        g_string_append_printf(why, "allowed: an integer from %lu to %lu", min, max);
        return false;
    }
    *out = v;
    return true;
}

#define FIELD(p, offset, type) ((type *)((char *)(p) + (offset)))

static bool parse_step(nat_profile_t *p, const char *v, size_t off, GString *why)
{
    unsigned long x;
    if (!parse_uint(v, 1, 32767, &x, why))
        return false;
    *FIELD(p, off, uint16_t) = (uint16_t)x;
    return true;
}

static bool parse_u16_size(nat_profile_t *p, const char *v, size_t off, GString *why)
{
    unsigned long x;
    if (!parse_uint(v, 0, 65535, &x, why))
        return false;
    *FIELD(p, off, uint16_t) = (uint16_t)x;
    return true;
}

static bool parse_blocks_max(nat_profile_t *p, const char *v, size_t off, GString *why)
{
    unsigned long x;
    if (!parse_uint(v, 1, 65535, &x, why))
        return false;
    *FIELD(p, off, uint16_t) = (uint16_t)x;
    return true;
}

static bool parse_quota(nat_profile_t *p, const char *v, size_t off, GString *why)
{
    unsigned long x;
    if (!parse_uint(v, 0, 65535, &x, why))
        return false;
    *FIELD(p, off, uint32_t) = (uint32_t)x;
    return true;
}

/* `off` names a pair of uint16_t: LOW then HIGH. */
static bool parse_port_range(nat_profile_t *p, const char *v, size_t off, GString *why)
{
    unsigned long lo, hi;
    g_auto(GStrv) parts = g_strsplit(v, "-", 3);
    GString *ignored = g_string_new(NULL);
    bool ok = g_strv_length(parts) == 2 && parse_uint(g_strstrip(parts[0]), 1, 65535, &lo, ignored) &&
              parse_uint(g_strstrip(parts[1]), 1, 65535, &hi, ignored) && lo <= hi;
    g_string_free(ignored, TRUE);
    if (!ok) {
        g_string_append(why, "allowed: LOW-HIGH with 1 <= LOW <= HIGH <= 65535");
        return false;
    }
    FIELD(p, off, uint16_t)[0] = (uint16_t)lo;
    FIELD(p, off, uint16_t)[1] = (uint16_t)hi;
    return true;
}

/* all | none | PORT or LOW-HIGH items separated by commas. */
static bool parse_allow(nat_profile_t *p, const char *v, size_t off, GString *why)
{
    nat_allow_t allow = { 0 };
    if (strcmp(v, "all") == 0) {
        allow.all = true;
    } else if (strcmp(v, "none") != 0) {
        g_auto(GStrv) parts = g_strsplit_set(v, ", ", -1);
        GString *ignored = g_string_new(NULL);
        bool ok = true;
        for (int i = 0; ok && parts[i]; i++) {
            if (parts[i][0] == '\0')
                continue;
            g_auto(GStrv) ends = g_strsplit(parts[i], "-", 3);
            unsigned long lo = 0, hi = 0;
            guint n = g_strv_length(ends);
            ok = allow.n < NAT_ALLOW_MAX_RANGES && (n == 1 || n == 2) &&
                 parse_uint(ends[0], 1, 65535, &lo, ignored) &&
                 (n == 1 ? (hi = lo, true) : parse_uint(ends[1], 1, 65535, &hi, ignored)) && lo <= hi;
            if (ok) {
                allow.lo[allow.n] = (uint16_t)lo;
                allow.hi[allow.n++] = (uint16_t)hi;
            }
        }
        g_string_free(ignored, TRUE);
        if (!ok || allow.n == 0) {
            g_string_append_printf(why, "allowed: all, none, or up to %d ports or LOW-HIGH ranges "
                                        "(1-65535) separated by commas, such as 80,443",
                                   NAT_ALLOW_MAX_RANGES);
            return false;
        }
    }
    *FIELD(p, off, nat_allow_t) = allow;
    return true;
}

static bool parse_duration_key(nat_profile_t *p, const char *v, size_t off, GString *why)
{
    usec_t d;
    if (!duration_parse(v, &d)) {
        g_string_append(why, "allowed: a duration such as 500ms, 30s, 2min (units " DURATION_UNITS ")");
        return false;
    }
    *FIELD(p, off, usec_t) = d;
    return true;
}

static bool parse_positive_duration(nat_profile_t *p, const char *v, size_t off, GString *why)
{
    usec_t d;
    if (!duration_parse(v, &d) || d == 0) {
        g_string_append(why, "allowed: a positive duration such as 500ms, 30s, 2min (units "
                             DURATION_UNITS ")");
        return false;
    }
    *FIELD(p, off, usec_t) = d;
    return true;
}

static bool parse_probability(nat_profile_t *p, const char *v, size_t off, GString *why)
{
    char *end;
    errno = 0;
    double x = g_ascii_strtod(v, &end);
    bool digits = end != v; /* a lone "%" is not 0% */
    bool percent = *end == '%';
    if (percent)
        end++;
    if (!digits || *end != '\0' || errno || x != x) {
        g_string_append(why, "allowed: a probability such as 0.05 or 5%");
        return false;
    }
    if (percent)
        x /= 100.0;
    if (x == 0.0)
        x = 0.0; /* "-0" would print as "loss = -0" */
    if (x < 0.0 || x > 1.0) {
        g_string_append(why, "allowed: a probability from 0 to 1 (or 0% to 100%)");
        return false;
    }
    *FIELD(p, off, double) = x;
    return true;
}

/* "latency = 50ms" sets both directions; the -inbound/-outbound keys one. */
static bool parse_both_duration(nat_profile_t *p, const char *v, size_t off, GString *why)
{
    if (!parse_duration_key(p, v, offsetof(nat_profile_t, inbound) + off, why))
        return false;
    return parse_duration_key(p, v, offsetof(nat_profile_t, outbound) + off, why);
}

static bool parse_both_probability(nat_profile_t *p, const char *v, size_t off, GString *why)
{
    if (!parse_probability(p, v, offsetof(nat_profile_t, inbound) + off, why))
        return false;
    return parse_probability(p, v, offsetof(nat_profile_t, outbound) + off, why);
}

static bool parse_public_ips(nat_profile_t *p, const char *v, size_t off, GString *why)
{
    (void)off;
    unsigned long count;
    GString *ignored = g_string_new(NULL);
    bool is_count = parse_uint(v, 1, NAT_PROFILE_MAX_PUBLIC_IPS, &count, ignored);
    g_string_free(ignored, TRUE);
    if (is_count) {
        p->public_ip_count = (unsigned)count;
        memset(p->public_ips, 0, sizeof p->public_ips);
        return true;
    }
    g_auto(GStrv) parts = g_strsplit_set(v, ",; ", -1);
    uint32_t ips[NAT_PROFILE_MAX_PUBLIC_IPS];
    unsigned n = 0;
    for (int i = 0; parts[i]; i++) {
        if (parts[i][0] == '\0')
            continue;
        if (n == NAT_PROFILE_MAX_PUBLIC_IPS || !addr_ip_parse(parts[i], &ips[n]) || ips[n] == 0)
            goto bad;
        for (unsigned j = 0; j < n; j++)
            if (ips[j] == ips[n])
                goto bad;
        n++;
    }
    if (n == 0)
        goto bad;
    p->public_ip_count = n;
    memset(p->public_ips, 0, sizeof p->public_ips);
    memcpy(p->public_ips, ips, n * sizeof ips[0]);
    return true;
bad:
    g_string_append_printf(why, "allowed: a count from 1 to %d, or up to %d distinct IPv4 "
                                "addresses separated by commas",
                           NAT_PROFILE_MAX_PUBLIC_IPS, NAT_PROFILE_MAX_PUBLIC_IPS);
    return false;
}

static bool parse_port_mapping(nat_profile_t *p, const char *v, size_t off, GString *why)
{
    (void)off;
    unsigned flags = 0;
    if (strcmp(v, "none") != 0) {
        g_auto(GStrv) parts = g_strsplit_set(v, ", ", -1);
        for (int i = 0; parts[i]; i++) {
            if (parts[i][0] == '\0')
                continue;
            if (strcmp(parts[i], "nat-pmp") == 0)
                flags |= NAT_PORT_MAPPING_NATPMP;
            else if (strcmp(parts[i], "pcp") == 0)
                flags |= NAT_PORT_MAPPING_PCP;
            else if (strcmp(parts[i], "upnp") == 0)
                flags |= NAT_PORT_MAPPING_UPNP;
            else
                flags = ~0u;
        }
        if (flags == 0 || flags == ~0u) {
            g_string_append(why, "allowed: none, or a comma list of nat-pmp, pcp, upnp "
                                 "(e.g. nat-pmp,pcp,upnp)");
            return false;
        }
    }
    p->port_mapping = flags;
    return true;
}

static bool parse_tcp_quota(nat_profile_t *p, const char *v, size_t off, GString *why)
{
    return parse_quota(p, v, off, why);
}

char *nat_profile_port_mapping_text(unsigned flags)
{
    static const struct { unsigned flag; const char *name; } names[] = {
        { NAT_PORT_MAPPING_NATPMP, "nat-pmp" },
        { NAT_PORT_MAPPING_PCP, "pcp" },
        { NAT_PORT_MAPPING_UPNP, "upnp" },
    };
    GString *s = g_string_new(NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
        if (flags & names[i].flag)
            g_string_append_printf(s, "%s%s", s->len ? "," : "", names[i].name);
    if (s->len == 0)
        g_string_append(s, "none");
    return g_string_free(s, FALSE);
}

/* ---- the key table ---------------------------------------------------- */

enum key_scope {
    SCOPE_ALL,         /* meaningful for every type */
    SCOPE_STATEFUL,    /* nat and firewall keep state */
    SCOPE_TRANSLATING, /* only a translating NAT */
};

/* An enum key has `names` and no parser: its value is the position of the
 * name in the list, or values[position] where the two differ. */
typedef struct profile_key {
    const char *name;
    key_parse_fn parse;
    size_t offset;
    enum key_scope scope;
    const char *const *names;
    const int *values;
    unsigned tcp_set; /* a tcp-* override: the bit it sets in profile->tcp.set */
} profile_key_t;

/* parse_enum stores every enum key as an int. */
_Static_assert(sizeof(nat_type_t) == sizeof(int) && sizeof(nat_dependence_t) == sizeof(int) &&
                   sizeof(nat_allocation_t) == sizeof(int) && sizeof(nat_parity_t) == sizeof(int) &&
                   sizeof(nat_refresh_t) == sizeof(int) && sizeof(nat_pooling_t) == sizeof(int) &&
                   sizeof(nat_hairpin_t) == sizeof(int) &&
                   sizeof(nat_tcp_unsolicited_t) == sizeof(int) &&
                   sizeof(nat_tcp_no_session_t) == sizeof(int) &&
                   sizeof(nat_tcp_reset_session_t) == sizeof(int) &&
                   sizeof(nat_port_space_t) == sizeof(int) && sizeof(nat_refused_t) == sizeof(int),
               "profile enums are int-sized");

static const int fallback_values[] = { NAT_ALLOC_SEQUENTIAL, NAT_ALLOC_RANDOM };

static bool parse_enum(nat_profile_t *p, const char *v, const profile_key_t *key, GString *why)
{
    for (int i = 0; key->names[i]; i++) {
        if (strcmp(key->names[i], v) == 0) {
            *FIELD(p, key->offset, int) = key->values ? key->values[i] : i;
            return true;
        }
    }
    g_string_append(why, "allowed: ");
    for (int i = 0; key->names[i]; i++)
        g_string_append_printf(why, "%s%s", i ? ", " : "", key->names[i]);
    return false;
}

static bool key_parse(const profile_key_t *key, nat_profile_t *p, const char *v, GString *why)
{
    bool ok = key->names ? parse_enum(p, v, key, why) : key->parse(p, v, key->offset, why);
    if (ok)
        p->tcp.set |= key->tcp_set;
    return ok;
}

#define OFF(field) offsetof(nat_profile_t, field)
#define IMP(field) offsetof(nat_impairment_t, field)

#define KEY(name, parse, offset, scope) { name, parse, offset, scope, NULL, NULL, 0 }
#define ENUM_KEY(name, field, scope, names, values) { name, NULL, OFF(field), scope, names, values, 0 }
#define TCP_KEY(name, parse, field, scope, bit) { name, parse, OFF(tcp.field), scope, NULL, NULL, bit }
#define TCP_ENUM_KEY(name, field, scope, names, values, bit) \
    { name, NULL, OFF(tcp.field), scope, names, values, bit }

static const profile_key_t profile_keys[] = {
    ENUM_KEY("type", type, SCOPE_ALL, type_names, NULL),
    ENUM_KEY("mapping", mapping, SCOPE_TRANSLATING, dependence_names, NULL),
    ENUM_KEY("filtering", filtering, SCOPE_STATEFUL, dependence_names, NULL),
    ENUM_KEY("allocation", allocation, SCOPE_TRANSLATING, allocation_names, NULL),
    ENUM_KEY("preserve-fallback", preserve_fallback, SCOPE_TRANSLATING, fallback_names,
             fallback_values),
    KEY("sequential-step", parse_step, OFF(sequential_step), SCOPE_TRANSLATING),
    KEY("port-range", parse_port_range, OFF(port_min), SCOPE_TRANSLATING),
    ENUM_KEY("port-parity", port_parity, SCOPE_TRANSLATING, parity_names, NULL),
    KEY("timeout", parse_positive_duration, OFF(timeout), SCOPE_STATEFUL),
    KEY("timeout-unreplied", parse_duration_key, OFF(timeout_unreplied), SCOPE_STATEFUL),
    KEY("icmp-timeout", parse_positive_duration, OFF(icmp_timeout), SCOPE_STATEFUL),
    KEY("hold-down", parse_duration_key, OFF(hold_down), SCOPE_TRANSLATING),
    ENUM_KEY("refresh", refresh, SCOPE_STATEFUL, refresh_names, NULL),
    ENUM_KEY("hairpin", hairpin, SCOPE_TRANSLATING, hairpin_names, NULL),
    KEY("public-ips", parse_public_ips, 0, SCOPE_TRANSLATING),
    ENUM_KEY("pooling", pooling, SCOPE_TRANSLATING, pooling_names, NULL),
    KEY("port-block", parse_u16_size, OFF(port_block), SCOPE_TRANSLATING),
    KEY("port-blocks-max", parse_blocks_max, OFF(port_blocks_max), SCOPE_TRANSLATING),
    KEY("port-quota", parse_quota, OFF(port_quota), SCOPE_TRANSLATING),
    KEY("port-mapping", parse_port_mapping, 0, SCOPE_TRANSLATING),
    KEY("port-mapping-lifetime-max", parse_positive_duration, OFF(port_mapping_lifetime_max),
        SCOPE_TRANSLATING),
    KEY("latency", parse_both_duration, IMP(latency), SCOPE_ALL),
    KEY("jitter", parse_both_duration, IMP(jitter), SCOPE_ALL),
    KEY("loss", parse_both_probability, IMP(loss), SCOPE_ALL),
    KEY("reorder", parse_both_probability, IMP(reorder), SCOPE_ALL),
    KEY("latency-inbound", parse_duration_key, OFF(inbound) + IMP(latency), SCOPE_ALL),
    KEY("latency-outbound", parse_duration_key, OFF(outbound) + IMP(latency), SCOPE_ALL),
    KEY("jitter-inbound", parse_duration_key, OFF(inbound) + IMP(jitter), SCOPE_ALL),
    KEY("jitter-outbound", parse_duration_key, OFF(outbound) + IMP(jitter), SCOPE_ALL),
    KEY("loss-inbound", parse_probability, OFF(inbound) + IMP(loss), SCOPE_ALL),
    KEY("loss-outbound", parse_probability, OFF(outbound) + IMP(loss), SCOPE_ALL),
    KEY("reorder-inbound", parse_probability, OFF(inbound) + IMP(reorder), SCOPE_ALL),
    KEY("reorder-outbound", parse_probability, OFF(outbound) + IMP(reorder), SCOPE_ALL),
    TCP_ENUM_KEY("tcp-mapping", mapping, SCOPE_TRANSLATING, dependence_names, NULL, NAT_TCP_SET_MAPPING),
    TCP_ENUM_KEY("tcp-filtering", filtering, SCOPE_STATEFUL, dependence_names, NULL,
                 NAT_TCP_SET_FILTERING),
    TCP_ENUM_KEY("tcp-allocation", allocation, SCOPE_TRANSLATING, allocation_names, NULL,
                 NAT_TCP_SET_ALLOCATION),
    TCP_ENUM_KEY("tcp-preserve-fallback", preserve_fallback, SCOPE_TRANSLATING, fallback_names,
                 fallback_values, NAT_TCP_SET_PRESERVE_FALLBACK),
    TCP_KEY("tcp-sequential-step", parse_step, sequential_step, SCOPE_TRANSLATING,
            NAT_TCP_SET_SEQUENTIAL_STEP),
    TCP_KEY("tcp-port-range", parse_port_range, port_min, SCOPE_TRANSLATING, NAT_TCP_SET_PORT_RANGE),
    TCP_ENUM_KEY("tcp-port-parity", port_parity, SCOPE_TRANSLATING, parity_names, NULL,
                 NAT_TCP_SET_PORT_PARITY),
    TCP_ENUM_KEY("tcp-hairpin", hairpin, SCOPE_TRANSLATING, hairpin_names, NULL, NAT_TCP_SET_HAIRPIN),
    TCP_KEY("tcp-port-quota", parse_tcp_quota, port_quota, SCOPE_TRANSLATING, NAT_TCP_SET_PORT_QUOTA),
    KEY("tcp-established-timeout", parse_positive_duration, OFF(tcp_established_timeout),
        SCOPE_STATEFUL),
    KEY("tcp-transitory-timeout", parse_positive_duration, OFF(tcp_transitory_timeout),
        SCOPE_STATEFUL),
    ENUM_KEY("tcp-unsolicited-syn", tcp_unsolicited_syn, SCOPE_STATEFUL, unsolicited_names, NULL),
    ENUM_KEY("tcp-no-session", tcp_no_session, SCOPE_STATEFUL, no_session_names, NULL),
    ENUM_KEY("tcp-reset-session", tcp_reset_session, SCOPE_STATEFUL, reset_session_names, NULL),
    ENUM_KEY("tcp-ports", tcp_ports, SCOPE_TRANSLATING, port_space_names, NULL),
    KEY("allow-out-udp", parse_allow, OFF(allow_out_udp), SCOPE_STATEFUL),
    KEY("allow-out-tcp", parse_allow, OFF(allow_out_tcp), SCOPE_STATEFUL),
    ENUM_KEY("refused", refused, SCOPE_STATEFUL, refused_names, NULL),
};

#define KEY_COUNT (sizeof profile_keys / sizeof profile_keys[0])

const char *const *nat_profile_keys(void)
{
    static const char *names[KEY_COUNT + 2];
    if (!names[0]) {
        names[0] = "preset";
        for (size_t i = 0; i < KEY_COUNT; i++)
            names[i + 1] = profile_keys[i].name;
    }
    return names;
}

static const profile_key_t *key_find(const char *name)
{
    for (size_t i = 0; i < KEY_COUNT; i++)
        if (strcmp(profile_keys[i].name, name) == 0)
            return &profile_keys[i];
    return NULL;
}

static char *known_key_list(void)
{
    GString *s = g_string_new("preset");
    for (size_t i = 0; i < KEY_COUNT; i++)
        g_string_append_printf(s, ", %s", profile_keys[i].name);
    return g_string_free(s, FALSE);
}

static bool key_in(const char *key, const char *const *list)
{
    for (; list && *list; list++)
        if (strcmp(*list, key) == 0)
            return true;
    return false;
}

static bool scope_allows(enum key_scope scope, nat_type_t type)
{
    switch (scope) {
    case SCOPE_ALL:
        return true;
    case SCOPE_STATEFUL:
        return type == NAT_TYPE_NAT || type == NAT_TYPE_FIREWALL;
    case SCOPE_TRANSLATING:
        return type == NAT_TYPE_NAT;
    }
    return false;
}

static bool apply_keys(nat_profile_t *p, const keyfile_t *kf, const char *group,
                       const char *const *foreign_keys, bool allow_preset, GError **error)
{
    gsize n = 0;
    g_auto(GStrv) keys = keyfile_keys(kf, group, &n);
    if (!keys)
        return true;

    if (allow_preset) {
        g_autofree char *preset = keyfile_get(kf, group, "preset");
        if (preset) {
            GError *local = NULL;
            if (!preset_load(p, preset, &local)) {
                keyfile_set_error(error, kf, group, "preset", preset, "%s", local->message);
                g_error_free(local);
                return false;
            }
        }
    }

    for (gsize i = 0; i < n; i++) {
        if (strcmp(keys[i], "preset") == 0 || key_in(keys[i], foreign_keys))
            continue;
        g_autofree char *value = keyfile_get(kf, group, keys[i]);
        const profile_key_t *key = key_find(keys[i]);
        if (!key) {
            g_autofree char *list = known_key_list();
            keyfile_set_error(error, kf, group, keys[i], value, "unknown key; allowed keys: %s",
                              list);
            return false;
        }
        g_autoptr(GString) why = g_string_new(NULL);
        if (!key_parse(key, p, value, why)) {
            keyfile_set_error(error, kf, group, keys[i], value, "%s", why->str);
            return false;
        }
    }
    /* A key that means nothing for this type is a mistake worth telling about. */
    for (gsize i = 0; i < n; i++) {
        const profile_key_t *key = key_find(keys[i]);
        if (key && !scope_allows(key->scope, p->type)) {
            g_autofree char *value = keyfile_get(kf, group, keys[i]);
            keyfile_set_error(error, kf, group, keys[i], value,
                              "has no meaning when type = %s (only for type = %s)",
                              nat_type_name(p->type),
                              key->scope == SCOPE_TRANSLATING ? "nat" : "nat or firewall");
            return false;
        }
    }
    return true;
}

bool nat_profile_validate(const nat_profile_t *p, GError **error)
{
#define FAIL(...)                                                                      \
    do {                                                                               \
        g_set_error(error, NAT_PROFILE_ERROR, NAT_PROFILE_ERROR_INVALID, __VA_ARGS__); \
        return false;                                                                  \
    } while (0)
    if (p->type == NAT_TYPE_OPEN || p->type == NAT_TYPE_BLOCKED)
        return true;
    if (p->timeout_unreplied > p->timeout)
        FAIL("timeout-unreplied (%" G_GINT64_FORMAT "us) must not exceed timeout (%" G_GINT64_FORMAT
             "us)",
             p->timeout_unreplied, p->timeout);
    if (p->type == NAT_TYPE_FIREWALL)
        return true;
    unsigned range = (unsigned)p->port_max - p->port_min + 1;
    if (p->port_parity == NAT_PARITY_PRESERVE && range < 2)
        FAIL("port-range %u-%u holds only one parity but port-parity = preserve needs both",
             p->port_min, p->port_max);
    if (p->port_block > 0) {
        if (p->port_block > range)
            FAIL("port-block %u is larger than port-range %u-%u (%u ports)", p->port_block,
                 p->port_min, p->port_max, range);
        if (p->port_parity == NAT_PARITY_PRESERVE && p->port_block < 2)
            FAIL("port-block %u holds only one parity but port-parity = preserve needs both",
                 p->port_block);
    }
    if (p->sequential_step >= range && p->allocation == NAT_ALLOC_SEQUENTIAL && range > 1)
        FAIL("sequential-step %u must be smaller than the port-range size %u", p->sequential_step,
             range);
    if (p->tcp.set) {
        if (p->port_block > 0 && (p->tcp.set & NAT_TCP_SET_PORT_RANGE))
            FAIL("tcp-port-range cannot differ from port-range when port-block is set: "
                 "a subscriber's blocks hold every protocol's ports");
        nat_profile_t view;
        nat_profile_tcp_view(p, &view);
        view.tcp.set = 0;
        GError *local = NULL;
        if (!nat_profile_validate(&view, &local)) {
            g_set_error(error, NAT_PROFILE_ERROR, NAT_PROFILE_ERROR_INVALID, "for TCP: %s",
                        local->message);
            g_error_free(local);
            return false;
        }
    }
    return true;
#undef FAIL
}

bool nat_profile_apply_group(nat_profile_t *profile, const keyfile_t *kf, const char *group,
                             const char *const *foreign_keys, GError **error)
{
    if (!apply_keys(profile, kf, group, foreign_keys, true, error))
        return false;
    GError *local = NULL;
    if (!nat_profile_validate(profile, &local)) {
        keyfile_set_error(error, kf, group, NULL, NULL, "%s", local->message);
        g_error_free(local);
        return false;
    }
    return true;
}

static nat_profile_t *profile_from_keyfile(keyfile_t *kf, GError **error)
{
    if (!keyfile_has_group(kf, "nat")) {
        g_set_error(error, NAT_PROFILE_ERROR, NAT_PROFILE_ERROR_INVALID,
                    "%s: no [nat] group; a profile is a key file with a [nat] group",
                    keyfile_origin(kf));
        return NULL;
    }
    gsize ngroups = 0;
    g_auto(GStrv) groups = keyfile_groups(kf, &ngroups);
    for (gsize i = 0; i < ngroups; i++) {
        if (strcmp(groups[i], "nat") != 0) {
            keyfile_set_error(error, kf, groups[i], NULL, NULL,
                              "unknown group; a profile has only [nat]");
            return NULL;
        }
    }
    nat_profile_t *p = g_new0(nat_profile_t, 1);
    profile_defaults(p);
    p->name = g_path_get_basename(keyfile_origin(kf));
    if (!nat_profile_apply_group(p, kf, "nat", NULL, error)) {
        nat_profile_free(p);
        return NULL;
    }
    return p;
}

nat_profile_t *nat_profile_load_data(const char *data, size_t len, const char *origin,
                                     GError **error)
{
    g_autoptr(keyfile_t) kf = keyfile_load_data(data, len, origin, error);
    return kf ? profile_from_keyfile(kf, error) : NULL;
}

bool nat_profile_set(nat_profile_t *profile, const char *key, const char *value, GError **error)
{
    g_autofree char *text = g_strdup_printf("[nat]\n%s = %s\n", key, value);
    g_autoptr(keyfile_t) kf = keyfile_load_data(text, strlen(text), "set", error);
    if (!kf)
        return false;
    nat_profile_t *candidate = nat_profile_copy(profile);
    GError *local = NULL;
    bool ok = nat_profile_apply_group(candidate, kf, "nat", NULL, &local);
    if (!ok) {
        /* The one-line text above has no file or line worth naming. */
        const char *msg = local->message, *group = strstr(msg, "[nat] ");
        g_set_error(error, NAT_PROFILE_ERROR, NAT_PROFILE_ERROR_INVALID, "%s",
                    group ? group + strlen("[nat] ") : msg);
        g_error_free(local);
    }
    if (ok) {
        g_free(profile->name);
        *profile = *candidate;
        g_free(candidate);
    } else {
        nat_profile_free(candidate);
    }
    return ok;
}

/* ---- output ----------------------------------------------------------- */

typedef enum emit_kind { EMIT_STRING, EMIT_INT, EMIT_DOUBLE } emit_kind_t;
typedef void (*emit_fn)(void *ctx, const char *key, const char *value, emit_kind_t kind);

static void emit_duration(emit_fn emit, void *ctx, const char *key, usec_t v)
{
    char buf[32];
    duration_format(v, buf, sizeof buf);
    emit(ctx, key, buf, EMIT_STRING);
}

static void emit_probability(emit_fn emit, void *ctx, const char *key, double v)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    g_ascii_formatd(buf, sizeof buf, "%.6g", v);
    emit(ctx, key, buf, EMIT_DOUBLE);
}

static void emit_uint(emit_fn emit, void *ctx, const char *key, unsigned long v)
{
    char buf[24];
    g_snprintf(buf, sizeof buf, "%lu", v);
    emit(ctx, key, buf, EMIT_INT);
}

static void emit_impairments(const nat_profile_t *p, emit_fn emit, void *ctx)
{
    const nat_impairment_t *in = &p->inbound, *out = &p->outbound;
    if (in->latency == out->latency && in->jitter == out->jitter && in->loss == out->loss &&
        in->reorder == out->reorder) {
        emit_duration(emit, ctx, "latency", in->latency);
        emit_duration(emit, ctx, "jitter", in->jitter);
        emit_probability(emit, ctx, "loss", in->loss);
        emit_probability(emit, ctx, "reorder", in->reorder);
        return;
    }
    emit_duration(emit, ctx, "latency-inbound", in->latency);
    emit_duration(emit, ctx, "latency-outbound", out->latency);
    emit_duration(emit, ctx, "jitter-inbound", in->jitter);
    emit_duration(emit, ctx, "jitter-outbound", out->jitter);
    emit_probability(emit, ctx, "loss-inbound", in->loss);
    emit_probability(emit, ctx, "loss-outbound", out->loss);
    emit_probability(emit, ctx, "reorder-inbound", in->reorder);
    emit_probability(emit, ctx, "reorder-outbound", out->reorder);
}

static void emit_json(void *ctx, const char *key, const char *value, emit_kind_t kind);

static char *allow_format(const nat_allow_t *a)
{
    if (a->all)
        return g_strdup("all");
    if (a->n == 0)
        return g_strdup("none");
    GString *s = g_string_new(NULL);
    for (unsigned i = 0; i < a->n; i++) {
        g_string_append_printf(s, "%s%u", i ? "," : "", a->lo[i]);
        if (a->hi[i] != a->lo[i])
            g_string_append_printf(s, "-%u", a->hi[i]);
    }
    return g_string_free(s, FALSE);
}

/* The TCP keys and the allow-lists. `only_changed`: the JSON form carries
 * only what differs from the defaults, so results rows of profiles that
 * leave TCP alone read as they did before natsim translated TCP. The
 * overrides appear only where given. */
static void emit_tcp(const nat_profile_t *p, emit_fn emit, void *ctx, bool only_changed)
{
    const nat_tcp_overrides_t *t = &p->tcp;
    bool nat = p->type == NAT_TYPE_NAT;
    if (nat && (t->set & NAT_TCP_SET_MAPPING))
        emit(ctx, "tcp-mapping", nat_dependence_name(t->mapping), EMIT_STRING);
    if (t->set & NAT_TCP_SET_FILTERING)
        emit(ctx, "tcp-filtering", nat_dependence_name(t->filtering), EMIT_STRING);
    if (nat && (t->set & NAT_TCP_SET_ALLOCATION))
        emit(ctx, "tcp-allocation", nat_allocation_name(t->allocation), EMIT_STRING);
    if (nat && (t->set & NAT_TCP_SET_PRESERVE_FALLBACK))
        emit(ctx, "tcp-preserve-fallback", nat_allocation_name(t->preserve_fallback), EMIT_STRING);
    if (nat && (t->set & NAT_TCP_SET_SEQUENTIAL_STEP))
        emit_uint(emit, ctx, "tcp-sequential-step", t->sequential_step);
    if (nat && (t->set & NAT_TCP_SET_PORT_RANGE)) {
        char range[16];
        g_snprintf(range, sizeof range, "%u-%u", t->port_min, t->port_max);
        emit(ctx, "tcp-port-range", range, EMIT_STRING);
    }
    if (nat && (t->set & NAT_TCP_SET_PORT_PARITY))
        emit(ctx, "tcp-port-parity", nat_parity_name(t->port_parity), EMIT_STRING);
    if (nat && (t->set & NAT_TCP_SET_HAIRPIN))
        emit(ctx, "tcp-hairpin", nat_hairpin_name(t->hairpin), EMIT_STRING);
    if (nat && (t->set & NAT_TCP_SET_PORT_QUOTA))
        emit_uint(emit, ctx, "tcp-port-quota", t->port_quota);
    if (!only_changed || p->tcp_established_timeout != NAT_DEFAULT_TCP_ESTABLISHED)
        emit_duration(emit, ctx, "tcp-established-timeout", p->tcp_established_timeout);
    if (!only_changed || p->tcp_transitory_timeout != NAT_DEFAULT_TCP_TRANSITORY)
        emit_duration(emit, ctx, "tcp-transitory-timeout", p->tcp_transitory_timeout);
    if (!only_changed || p->tcp_unsolicited_syn != NAT_TCP_UNSOLICITED_HOLD)
        emit(ctx, "tcp-unsolicited-syn", nat_tcp_unsolicited_name(p->tcp_unsolicited_syn), EMIT_STRING);
    if (!only_changed || p->tcp_no_session != NAT_TCP_NO_SESSION_DROP)
        emit(ctx, "tcp-no-session", nat_tcp_no_session_name(p->tcp_no_session), EMIT_STRING);
    if (!only_changed || p->tcp_reset_session != NAT_TCP_RESET_REOPEN)
        emit(ctx, "tcp-reset-session", nat_tcp_reset_session_name(p->tcp_reset_session), EMIT_STRING);
    if (nat && (!only_changed || p->tcp_ports != NAT_PORT_SPACE_SEPARATE))
        emit(ctx, "tcp-ports", port_space_names[p->tcp_ports], EMIT_STRING);
    bool all = p->allow_out_udp.all && p->allow_out_tcp.all;
    if (!only_changed || !p->allow_out_udp.all) {
        g_autofree char *v = allow_format(&p->allow_out_udp);
        emit(ctx, "allow-out-udp", v, EMIT_STRING);
    }
    if (!only_changed || !p->allow_out_tcp.all) {
        g_autofree char *v = allow_format(&p->allow_out_tcp);
        emit(ctx, "allow-out-tcp", v, EMIT_STRING);
    }
    if (!only_changed || !all || p->refused != NAT_REFUSED_DROP)
        emit(ctx, "refused", refused_names[p->refused], EMIT_STRING);
}

static void profile_emit(const nat_profile_t *p, emit_fn emit, void *ctx)
{
    emit(ctx, "type", nat_type_name(p->type), EMIT_STRING);
    if (p->type == NAT_TYPE_NAT) {
        emit(ctx, "mapping", nat_dependence_name(p->mapping), EMIT_STRING);
        emit(ctx, "filtering", nat_dependence_name(p->filtering), EMIT_STRING);
        emit(ctx, "allocation", nat_allocation_name(p->allocation), EMIT_STRING);
        if (p->allocation == NAT_ALLOC_PRESERVE)
            emit(ctx, "preserve-fallback", nat_allocation_name(p->preserve_fallback), EMIT_STRING);
        if (p->allocation == NAT_ALLOC_SEQUENTIAL ||
            (p->allocation == NAT_ALLOC_PRESERVE && p->preserve_fallback == NAT_ALLOC_SEQUENTIAL))
            emit_uint(emit, ctx, "sequential-step", p->sequential_step);
        char range[16];
        g_snprintf(range, sizeof range, "%u-%u", p->port_min, p->port_max);
        emit(ctx, "port-range", range, EMIT_STRING);
        emit(ctx, "port-parity", nat_parity_name(p->port_parity), EMIT_STRING);
    } else if (p->type == NAT_TYPE_FIREWALL) {
        emit(ctx, "filtering", nat_dependence_name(p->filtering), EMIT_STRING);
    }
    if (p->type == NAT_TYPE_NAT || p->type == NAT_TYPE_FIREWALL) {
        emit_duration(emit, ctx, "timeout", p->timeout);
        emit_duration(emit, ctx, "timeout-unreplied", p->timeout_unreplied);
        /* results.jsonl rows carry the JSON form: at its default the key
         * stays out of it, so rows still compare byte for byte with those
         * written before natsim translated ICMP queries. */
        if (emit != emit_json || p->icmp_timeout != NAT_DEFAULT_ICMP_TIMEOUT)
            emit_duration(emit, ctx, "icmp-timeout", p->icmp_timeout);
        emit(ctx, "refresh", nat_refresh_name(p->refresh), EMIT_STRING);
    }
    if (p->type == NAT_TYPE_NAT) {
        emit_duration(emit, ctx, "hold-down", p->hold_down);
        emit(ctx, "hairpin", nat_hairpin_name(p->hairpin), EMIT_STRING);
        if (p->public_ips[0]) {
            GString *ips = g_string_new(NULL);
            for (unsigned i = 0; i < p->public_ip_count; i++) {
                char buf[ADDR_IP_STRLEN];
                g_string_append_printf(ips, "%s%s", i ? "," : "", addr_ip_format(p->public_ips[i], buf));
            }
            emit(ctx, "public-ips", ips->str, EMIT_STRING);
            g_string_free(ips, TRUE);
        } else {
            emit_uint(emit, ctx, "public-ips", p->public_ip_count);
        }
        emit(ctx, "pooling", nat_pooling_name(p->pooling), EMIT_STRING);
        emit_uint(emit, ctx, "port-block", p->port_block);
        if (p->port_block)
            emit_uint(emit, ctx, "port-blocks-max", p->port_blocks_max);
        emit_uint(emit, ctx, "port-quota", p->port_quota);
        g_autofree char *pm = nat_profile_port_mapping_text(p->port_mapping);
        emit(ctx, "port-mapping", pm, EMIT_STRING);
        if (p->port_mapping)
            emit_duration(emit, ctx, "port-mapping-lifetime-max", p->port_mapping_lifetime_max);
    }
    if (p->type == NAT_TYPE_NAT || p->type == NAT_TYPE_FIREWALL)
        emit_tcp(p, emit, ctx, emit == emit_json);
    if (p->type != NAT_TYPE_BLOCKED)
        emit_impairments(p, emit, ctx);
}

static void emit_keyfile(void *ctx, const char *key, const char *value, emit_kind_t kind)
{
    (void)kind;
    g_string_append_printf(ctx, "%s = %s\n", key, value);
}

char *nat_profile_to_keyfile(const nat_profile_t *profile)
{
    GString *s = g_string_new("[nat]\n");
    profile_emit(profile, emit_keyfile, s);
    return g_string_free(s, FALSE);
}

static void emit_json(void *ctx, const char *key, const char *value, emit_kind_t kind)
{
    JsonBuilder *b = ctx;
    json_builder_set_member_name(b, key);
    if (kind == EMIT_INT)
        json_builder_add_int_value(b, g_ascii_strtoll(value, NULL, 10));
    else if (kind == EMIT_DOUBLE)
        json_builder_add_double_value(b, g_ascii_strtod(value, NULL));
    else
        json_builder_add_string_value(b, value);
}

JsonNode *nat_profile_to_json_node(const nat_profile_t *profile)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    profile_emit(profile, emit_json, b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

char *nat_profile_to_json(const nat_profile_t *profile)
{
    g_autoptr(JsonNode) root = nat_profile_to_json_node(profile);
    return json_to_string(root, FALSE);
}

char *nat_profile_summary(const nat_profile_t *p)
{
    static const char *const abbrev[] = { "EI", "AD", "APD" };
    switch (p->type) {
    case NAT_TYPE_OPEN:
        return g_strdup("no NAT, no filter");
    case NAT_TYPE_BLOCKED:
        return g_strdup("UDP blocked");
    case NAT_TYPE_FIREWALL:
        return g_strdup_printf("no NAT, %sF firewall", abbrev[p->filtering]);
    case NAT_TYPE_NAT:
        break;
    }
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "%sM/%sF %s", abbrev[p->mapping], abbrev[p->filtering],
                           nat_allocation_name(p->allocation));
    if (p->allocation == NAT_ALLOC_SEQUENTIAL)
        g_string_append_printf(s, "(+%u)", p->sequential_step);
    char t[32];
    duration_format(p->timeout, t, sizeof t);
    g_string_append_printf(s, ", timeout %s", t);
    if (p->timeout_unreplied) {
        duration_format(p->timeout_unreplied, t, sizeof t);
        g_string_append_printf(s, " (%s unreplied)", t);
    }
    duration_format(p->icmp_timeout, t, sizeof t);
    g_string_append_printf(s, ", icmp %s", t);
    g_string_append_printf(s, ", hairpin %s", nat_hairpin_name(p->hairpin));
    if (p->public_ip_count > 1)
        g_string_append_printf(s, ", %u IPs %s", p->public_ip_count, nat_pooling_name(p->pooling));
    if (p->port_block)
        g_string_append_printf(s, ", blocks %ux%u", p->port_block, p->port_blocks_max);
    if (p->port_mapping) {
        g_autofree char *pm = nat_profile_port_mapping_text(p->port_mapping);
        g_string_append_printf(s, ", port mapping %s", pm);
    }
    duration_format(p->tcp_established_timeout, t, sizeof t);
    g_string_append_printf(s, ", tcp %s %s SYN", t, nat_tcp_unsolicited_name(p->tcp_unsolicited_syn));
    if (p->tcp.set)
        g_string_append(s, " (own behaviour)");
    for (int k = 0; k < 2; k++) {
        const nat_allow_t *a = k ? &p->allow_out_udp : &p->allow_out_tcp;
        if (a->all)
            continue;
        g_autofree char *v = allow_format(a);
        g_string_append_printf(s, ", %s out: %s", k ? "udp" : "tcp", v);
    }
    return g_string_free(s, FALSE);
}
