#include "scenario.h"

#include <stdarg.h>
#include <string.h>

#include "common/keyfile.h"

/* Groups the runner owns (later issues): accepted here, read elsewhere. */
static const char *const runner_groups[] = { "agent", "expect", NULL };
static const char *const runner_group_prefixes[] = { "event ", NULL };

/* repeat and deadline belong to the runner (run/run_spec.c). */
static const char *const scenario_keys[] = { "name",   "seed",     "pcap", "description",
                                             "repeat", "deadline", NULL };
static const char *const host_keys[] = { "nat", "addresses", "run", NULL };
static const char *const nat_foreign_keys[] = { "behind", "profile", NULL };

#define ALLOWED_GROUPS "[scenario], [nat NAME], [host NAME], [agent], [expect], [event NAME]"

typedef struct parse {
    const keyfile_t *kf;
    keyfile_read_fn *read;
    char **lines;
    scenario_t *s;
    GHashTable *names; /* object name -> group (both owned by the scenario / keyfile) */
} parse_t;

static bool name_chars_valid(const char *name, size_t max)
{
    size_t n = strlen(name);
    if (n == 0 || n > max || name[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(g_ascii_islower(name[i]) || g_ascii_isdigit(name[i]) || name[i] == '-'))
            return false;
    return true;
}

bool scenario_name_valid(const char *name)
{
    return name && name_chars_valid(name, SCENARIO_NAME_MAX);
}

bool scenario_object_name_valid(const char *name)
{
    return name && name_chars_valid(name, SCENARIO_OBJECT_MAX) && strcmp(name, "inet") != 0;
}

/* The line of the nth (1-based) "[group]" header; 0 if none. keyfile only
 * knows key lines, and GLib silently merges a group given twice. */
static int group_line(const parse_t *ps, const char *group, int nth)
{
    size_t glen = strlen(group);
    for (int i = 0; ps->lines[i]; i++) {
        const char *l = ps->lines[i];
        while (g_ascii_isspace(*l))
            l++;
        size_t n = strlen(l);
        while (n > 0 && g_ascii_isspace(l[n - 1]))
            n--;
        if (n == glen + 2 && l[0] == '[' && l[n - 1] == ']' && strncmp(l + 1, group, glen) == 0 &&
            --nth == 0)
            return i + 1;
    }
    return 0;
}

static void G_GNUC_PRINTF(4, 5)
    group_error(GError **error, const parse_t *ps, const char *group, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    int line = group ? group_line(ps, group, 1) : 0;
    g_autoptr(GString) where = g_string_new(keyfile_origin(ps->kf));
    if (line > 0)
        g_string_append_printf(where, ":%d", line);
    if (group)
        g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_VALUE, "%s: [%s]: %s", where->str, group,
                    why);
    else
        g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_VALUE, "%s: %s", where->str, why);
}

static char *join(const char *const *list)
{
    return g_strjoinv(", ", (char **)list);
}

/* Every key of the group must be in `allowed`. */
static bool check_keys(const parse_t *ps, const char *group, const char *const *allowed,
                       GError **error)
{
    gsize n = 0;
    g_auto(GStrv) keys = keyfile_keys(ps->kf, group, &n);
    for (gsize i = 0; i < n; i++) {
        if (g_strv_contains(allowed, keys[i]))
            continue;
        g_autofree char *value = keyfile_get(ps->kf, group, keys[i]);
        g_autofree char *list = join(allowed);
        keyfile_set_error(error, ps->kf, group, keys[i], value, "unknown key; allowed keys: %s",
                          list);
        return false;
    }
    return true;
}

static bool parse_on_off(const parse_t *ps, const char *group, const char *key, bool *out,
                         GError **error)
{
    g_autofree char *v = keyfile_get(ps->kf, group, key);
    if (!v)
        return true;
    if (strcmp(v, "on") == 0)
        *out = true;
    else if (strcmp(v, "off") == 0)
        *out = false;
    else {
        keyfile_set_error(error, ps->kf, group, key, v, "allowed: on, off");
        return false;
    }
    return true;
}

static bool parse_scenario_group(parse_t *ps, GError **error)
{
    const char *g = "scenario";
    if (!check_keys(ps, g, scenario_keys, error))
        return false;
    g_autofree char *name = keyfile_get(ps->kf, g, "name");
    if (name) {
        if (!scenario_name_valid(name)) {
            keyfile_set_error(error, ps->kf, g, "name", name,
                              "allowed: 1 to %d of " SCENARIO_NAME_CHARS, SCENARIO_NAME_MAX);
            return false;
        }
        ps->s->name = g_steal_pointer(&name);
    }
    g_autofree char *seed = keyfile_get(ps->kf, g, "seed");
    if (seed) {
        guint64 v;
        if (!g_ascii_string_to_unsigned(seed, 10, 0, G_MAXINT64, &v, NULL)) {
            keyfile_set_error(error, ps->kf, g, "seed", seed,
                              "allowed: an integer from 0 to %" G_GINT64_FORMAT, G_MAXINT64);
            return false;
        }
        ps->s->seed = v;
        ps->s->seed_set = true;
    }
    ps->s->description = keyfile_get(ps->kf, g, "description");
    return parse_on_off(ps, g, "pcap", &ps->s->pcap, error);
}

/* Hosts and NATs share one set of names: each names a namespace. */
static bool claim_name(parse_t *ps, const char *group, const char *kind, const char *name,
                       GError **error)
{
    if (!scenario_object_name_valid(name)) {
        group_error(error, ps, group,
                    "invalid %s name '%s'; allowed: 1 to %d of " SCENARIO_NAME_CHARS
                    ", and not 'inet'",
                    kind, name, SCENARIO_OBJECT_MAX);
        return false;
    }
    const char *other = g_hash_table_lookup(ps->names, name);
    if (other) {
        group_error(error, ps, group,
                    "the name '%s' is already taken by [%s] on line %d; hosts and NATs need "
                    "distinct names",
                    name, other, group_line(ps, other, 1));
        return false;
    }
    g_hash_table_insert(ps->names, (gpointer)name, (gpointer)group);
    return true;
}

static nat_profile_t *load_nat_profile(parse_t *ps, const char *group, GError **error)
{
    g_autofree char *file = keyfile_get(ps->kf, group, "profile");
    if (!file)
        return nat_profile_load_data("[nat]\n", 6, "custom", error);
    g_autofree char *preset = keyfile_get(ps->kf, group, "preset");
    if (preset) {
        keyfile_set_error(error, ps->kf, group, "preset", preset,
                          "give either preset or profile (line %d), not both",
                          keyfile_line(ps->kf, group, "profile"));
        return NULL;
    }
    g_autofree char *path = g_path_is_absolute(file) ? g_strdup(file)
                                                     : g_build_filename(ps->s->dir, file, NULL);
    GError *local = NULL;
    g_autofree char *data = NULL;
    gsize len = 0;
    if (!ps->read)
        g_set_error(&local, KEYFILE_ERROR, KEYFILE_ERROR_PARSE,
                    "%s: profile files are not read here (only from a scenario file)", path);
    nat_profile_t *p = ps->read && ps->read(path, &data, &len, &local)
                           ? nat_profile_load_data(data, len, path, &local)
                           : NULL;
    if (!p) {
        keyfile_set_error(error, ps->kf, group, "profile", file, "%s", local->message);
        g_error_free(local);
        return NULL;
    }
    /* A field profile names the real NAT's addresses; here the topology
     * assigns its own from 198.18.0.0/15, so only the count is kept. */
    memset(p->public_ips, 0, sizeof p->public_ips);
    return p;
}

static bool parse_nat_group(parse_t *ps, const char *group, GError **error)
{
    scenario_nat_t *nat = g_new0(scenario_nat_t, 1);
    g_ptr_array_add(ps->s->nats, nat);
    nat->name = g_strdup(group + strlen("nat "));
    nat->line = group_line(ps, group, 1);
    nat->parent = -1;
    if (!claim_name(ps, group, "NAT", nat->name, error))
        return false;
    nat->profile = load_nat_profile(ps, group, error);
    if (!nat->profile)
        return false;
    if (!nat_profile_apply_group(nat->profile, ps->kf, group, nat_foreign_keys, error))
        return false;
    g_autofree char *ips = keyfile_get(ps->kf, group, "public-ips");
    if (ips && nat->profile->public_ips[0] != 0) {
        keyfile_set_error(error, ps->kf, group, "public-ips", ips,
                          "the topology assigns the addresses (198.18.0.0/15, or the upstream "
                          "LAN when behind another NAT); allowed: a count, e.g. public-ips = 2");
        return false;
    }
    nat->behind = keyfile_get(ps->kf, group, "behind");
    return true;
}

static bool parse_host_group(parse_t *ps, const char *group, GError **error)
{
    scenario_host_t *host = g_new0(scenario_host_t, 1);
    g_ptr_array_add(ps->s->hosts, host);
    host->name = g_strdup(group + strlen("host "));
    host->line = group_line(ps, group, 1);
    host->nat_index = -1;
    host->addresses = 1;
    if (!claim_name(ps, group, "host", host->name, error))
        return false;
    if (!check_keys(ps, group, host_keys, error))
        return false;
    host->nat = keyfile_get(ps->kf, group, "nat");
    g_autofree char *addresses = keyfile_get(ps->kf, group, "addresses");
    if (addresses) {
        guint64 v;
        if (!g_ascii_string_to_unsigned(addresses, 10, 1, SCENARIO_ADDRESSES_MAX, &v, NULL)) {
            keyfile_set_error(error, ps->kf, group, "addresses", addresses,
                              "allowed: 1 to %d", SCENARIO_ADDRESSES_MAX);
            return false;
        }
        host->addresses = (unsigned)v;
    }
    host->run = keyfile_get(ps->kf, group, "run");
    if (host->run && host->run[0] == '\0') {
        keyfile_set_error(error, ps->kf, group, "run", "",
                          "allowed: a shell command (run by /bin/sh -c in the host's namespace)");
        return false;
    }
    return true;
}

static int nat_find(const scenario_t *s, const char *name)
{
    for (guint i = 0; i < s->nats->len; i++)
        if (strcmp(scenario_nat(s, i)->name, name) == 0)
            return (int)i;
    return -1;
}

static char *nat_names_except(const scenario_t *s, int except)
{
    GString *list = g_string_new(NULL);
    for (guint i = 0; i < s->nats->len; i++)
        if ((int)i != except)
            g_string_append_printf(list, "%s%s", list->len ? ", " : "", scenario_nat(s, i)->name);
    if (list->len == 0)
        g_string_append(list, "(none: add a [nat NAME] group)");
    return g_string_free(list, FALSE);
}

/* Checks that need every group: names referred to, and cycles. */
static bool resolve(parse_t *ps, GError **error)
{
    scenario_t *s = ps->s;
    for (guint i = 0; i < s->nats->len; i++) {
        scenario_nat_t *nat = g_ptr_array_index(s->nats, i);
        if (!nat->behind)
            continue;
        g_autofree char *group = g_strconcat("nat ", nat->name, NULL);
        if (strcmp(nat->behind, nat->name) == 0) {
            keyfile_set_error(error, ps->kf, group, "behind", nat->behind,
                              "a NAT cannot sit behind itself");
            return false;
        }
        nat->parent = nat_find(s, nat->behind);
        if (nat->parent < 0) {
            g_autofree char *list = nat_names_except(s, (int)i);
            keyfile_set_error(error, ps->kf, group, "behind", nat->behind,
                              "no such NAT; allowed: %s", list);
            return false;
        }
    }
    for (guint i = 0; i < s->nats->len; i++) {
        /* Following `behind` from any NAT must end at the internet within n steps. */
        int at = (int)i;
        for (guint steps = 0; at >= 0 && steps <= s->nats->len; steps++)
            at = scenario_nat(s, (guint)at)->parent;
        if (at < 0)
            continue;
        g_autoptr(GString) cycle = g_string_new(scenario_nat(s, i)->name);
        at = scenario_nat(s, i)->parent;
        while (at >= 0 && at != (int)i) {
            g_string_append_printf(cycle, " -> %s", scenario_nat(s, (guint)at)->name);
            at = scenario_nat(s, (guint)at)->parent;
        }
        if (at != (int)i)
            continue; /* leads into a cycle elsewhere; that one reports it */
        g_string_append_printf(cycle, " -> %s", scenario_nat(s, i)->name);
        g_autofree char *group = g_strconcat("nat ", scenario_nat(s, i)->name, NULL);
        keyfile_set_error(error, ps->kf, group, "behind", scenario_nat(s, i)->behind,
                          "NATs behind each other in a cycle (%s); one of them must sit on the "
                          "internet (no behind key)",
                          cycle->str);
        return false;
    }
    for (guint i = 0; i < s->hosts->len; i++) {
        scenario_host_t *host = g_ptr_array_index(s->hosts, i);
        if (!host->nat)
            continue;
        host->nat_index = nat_find(s, host->nat);
        if (host->nat_index < 0) {
            g_autofree char *group = g_strconcat("host ", host->name, NULL);
            g_autofree char *list = nat_names_except(s, -1);
            keyfile_set_error(error, ps->kf, group, "nat", host->nat,
                              "no such NAT; allowed: %s (or no nat key for a public host)", list);
            return false;
        }
    }
    if (s->hosts->len == 0) {
        group_error(error, ps, NULL, "no [host NAME] group; a scenario needs at least one host");
        return false;
    }
    return true;
}

static bool default_name(parse_t *ps, GError **error)
{
    if (ps->s->name)
        return true;
    g_autofree char *base = g_path_get_basename(ps->s->path);
    char *dot = strrchr(base, '.');
    if (dot && dot != base)
        *dot = '\0';
    if (!scenario_name_valid(base)) {
        group_error(error, ps, NULL,
                    "the file name '%s' is no scenario name; set [scenario] name = NAME "
                    "(1 to %d of " SCENARIO_NAME_CHARS ")",
                    base, SCENARIO_NAME_MAX);
        return false;
    }
    ps->s->name = g_steal_pointer(&base);
    return true;
}

static bool parse_groups(parse_t *ps, GError **error)
{
    gsize n = 0;
    g_auto(GStrv) groups = keyfile_groups(ps->kf, &n);
    for (gsize i = 0; i < n; i++) {
        const char *g = groups[i];
        int again = group_line(ps, g, 2);
        if (again > 0) {
            g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_VALUE,
                        "%s:%d: [%s]: group given twice (first on line %d); give each group once",
                        keyfile_origin(ps->kf), again, g, group_line(ps, g, 1));
            return false;
        }
        bool ok = true;
        if (strcmp(g, "scenario") == 0)
            ok = parse_scenario_group(ps, error);
        else if (g_str_has_prefix(g, "nat "))
            ok = parse_nat_group(ps, g, error);
        else if (g_str_has_prefix(g, "host "))
            ok = parse_host_group(ps, g, error);
        else {
            bool runner = g_strv_contains(runner_groups, g);
            for (int p = 0; !runner && runner_group_prefixes[p]; p++)
                runner = g_str_has_prefix(g, runner_group_prefixes[p]) &&
                         g[strlen(runner_group_prefixes[p])] != '\0';
            if (!runner) {
                group_error(error, ps, g, "unknown group; allowed: " ALLOWED_GROUPS);
                return false;
            }
        }
        if (!ok)
            return false;
    }
    return true;
}

scenario_t *scenario_load_data(const char *data, size_t len, const char *origin, GError **error)
{
    return scenario_load(data, len, origin, NULL, error);
}

scenario_t *scenario_load(const char *data, size_t len, const char *origin, keyfile_read_fn *read,
                          GError **error)
{
    g_autoptr(keyfile_t) kf = keyfile_load_data(data, len, origin, error);
    if (!kf)
        return NULL;
    scenario_t *s = g_new0(scenario_t, 1);
    s->path = g_strdup(keyfile_origin(kf));
    s->dir = g_path_get_dirname(s->path);
    s->nats = g_ptr_array_new();
    s->hosts = g_ptr_array_new();
    g_autofree char *text = g_strndup(data, len);
    parse_t ps = {
        .kf = kf,
        .read = read,
        .lines = g_strsplit(text, "\n", -1),
        .s = s,
        .names = g_hash_table_new(g_str_hash, g_str_equal),
    };
    bool ok = parse_groups(&ps, error) && resolve(&ps, error) && default_name(&ps, error);
    g_strfreev(ps.lines);
    g_hash_table_destroy(ps.names);
    if (!ok) {
        scenario_free(s);
        return NULL;
    }
    return s;
}

void scenario_free(scenario_t *s)
{
    if (!s)
        return;
    for (guint i = 0; s->nats && i < s->nats->len; i++) {
        scenario_nat_t *nat = g_ptr_array_index(s->nats, i);
        g_free(nat->name);
        g_free(nat->behind);
        nat_profile_free(nat->profile);
        g_free(nat);
    }
    for (guint i = 0; s->hosts && i < s->hosts->len; i++) {
        scenario_host_t *host = g_ptr_array_index(s->hosts, i);
        g_free(host->name);
        g_free(host->nat);
        g_free(host->run);
        g_free(host);
    }
    if (s->nats)
        g_ptr_array_free(s->nats, TRUE);
    if (s->hosts)
        g_ptr_array_free(s->hosts, TRUE);
    g_free(s->path);
    g_free(s->dir);
    g_free(s->name);
    g_free(s->description);
    g_free(s);
}
