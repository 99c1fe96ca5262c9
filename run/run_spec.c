#include "run_spec.h"

#include <string.h>

#include "common/keyfile.h"

typedef enum arg_kind { ARG_DURATION, ARG_COUNT, ARG_OFF_FLAG, ARG_ON_FLAG } arg_kind_t;

/* [agent] keys that become agent flags (docs/agent.md). ARG_OFF_FLAG: `off`
 * adds the flag (--no-predict); ARG_ON_FLAG: `on` adds it (--share-local). */
static const struct {
    const char *key;
    arg_kind_t kind;
    const char *flag;
    bool connect_only;
} agent_keys[] = {
    { "keepalive", ARG_DURATION, "--keepalive", false },
    { "punch-timeout", ARG_DURATION, "--punch-timeout", false },
    { "predict", ARG_OFF_FLAG, "--no-predict", false },
    { "predict-window", ARG_COUNT, "--predict-window", false },
    { "birthday", ARG_OFF_FLAG, "--no-birthday", false },
    { "birthday-sockets", ARG_COUNT, "--birthday-sockets", false },
    { "birthday-probes", ARG_COUNT, "--birthday-probes", false },
    { "birthday-rate", ARG_COUNT, "--birthday-rate", false },
    { "portmap", ARG_OFF_FLAG, "--no-portmap", false },
    { "broadcast", ARG_OFF_FLAG, "--no-broadcast", false },
    { "tcp-punch", ARG_OFF_FLAG, "--no-tcp-punch", false },
    { "share-local", ARG_ON_FLAG, "--share-local", false },
    { "send", ARG_COUNT, "--send", true },
    { "interval", ARG_DURATION, "--interval", true },
};
static const char *const runner_agent_keys[] = { "connect", "listen", "server", "hold", "kind",
                                                 "turn", NULL };
/* What every kind's peers take (docs/agents.md: NATLAB_SEND, NATLAB_INTERVAL_MS). */
static const char *const all_kinds_keys[] = { "send", "interval", NULL };

typedef struct parse {
    const keyfile_t *kf;
    run_spec_t *spec;
    /* For `natlab up` and friends: check what the file says, but choose no
     * server or agents of the runner's own and reserve no spare addresses. */
    bool topology_only;
} parse_t;

static bool host_find(const scenario_t *s, const char *name, int *out)
{
    for (guint i = 0; i < s->hosts->len; i++)
        if (strcmp(scenario_host(s, i)->name, name) == 0) {
            *out = (int)i;
            return true;
        }
    return false;
}

static char *host_names(const scenario_t *s, bool public_only)
{
    GString *list = g_string_new(NULL);
    for (guint i = 0; i < s->hosts->len; i++) {
        const scenario_host_t *h = scenario_host(s, i);
        if (!public_only || h->nat_index < 0)
            g_string_append_printf(list, "%s%s", list->len ? ", " : "", h->name);
    }
    if (list->len == 0)
        g_string_append(list, "(none)");
    return g_string_free(list, FALSE);
}

static bool parse_duration_value(const parse_t *ps, const char *group, const char *key,
                                 usec_t *out, GError **error)
{
    g_autofree char *v = keyfile_get(ps->kf, group, key);
    if (!v)
        return true;
    if (!duration_parse(v, out)) {
        keyfile_set_error(error, ps->kf, group, key, v, "allowed: a duration (%s), e.g. 30s",
                          DURATION_UNITS);
        return false;
    }
    return true;
}

static bool parse_scenario_keys(parse_t *ps, GError **error)
{
    run_spec_t *spec = ps->spec;
    g_autofree char *repeat = keyfile_get(ps->kf, "scenario", "repeat");
    if (repeat) {
        guint64 v;
        if (!g_ascii_string_to_unsigned(repeat, 10, 1, RUN_REPEAT_MAX, &v, NULL)) {
            keyfile_set_error(error, ps->kf, "scenario", "repeat", repeat,
                              "allowed: 1 to %d attempts", RUN_REPEAT_MAX);
            return false;
        }
        spec->repeat = (unsigned)v;
    }
    spec->deadline = 0;
    if (!parse_duration_value(ps, "scenario", "deadline", &spec->deadline, error))
        return false;
    g_autofree char *d = keyfile_get(ps->kf, "scenario", "deadline");
    if (d && spec->deadline == 0) {
        keyfile_set_error(error, ps->kf, "scenario", "deadline", d,
                          "allowed: a duration above 0, e.g. 30s");
        return false;
    }
    return true;
}

static bool agent_host(parse_t *ps, const char *key, int *out, GError **error)
{
    g_autofree char *v = keyfile_get(ps->kf, "agent", key);
    if (!v)
        return true;
    const scenario_t *s = ps->spec->scenario;
    if (!host_find(s, v, out)) {
        g_autofree char *list = host_names(s, false);
        keyfile_set_error(error, ps->kf, "agent", key, v, "no such host; allowed: %s", list);
        return false;
    }
    return true;
}

static bool parse_kind(parse_t *ps, GError **error)
{
    run_spec_t *spec = ps->spec;
    g_autofree char *v = keyfile_get(ps->kf, "agent", "kind");
    if (!v || strcmp(v, RUN_KIND_NATLAB) == 0)
        return true;
    if (!run_kind_ref_is_path(v) && !run_kind_name_valid(v)) {
        keyfile_set_error(error, ps->kf, "agent", "kind", v,
                          "allowed: a kind's name (natlab, or kinds/NAME.kind) or the path of a "
                          "kind file (docs/agents.md)");
        return false;
    }
    spec->kind_ref = g_steal_pointer(&v);
    spec->kind_line = keyfile_line(ps->kf, "agent", "kind");
    return true;
}

bool run_turn_parse(const char *text, run_turn_t *out)
{
    static const char *const names[] = { "off", "udp", "tcp" };
    for (unsigned i = 0; i < G_N_ELEMENTS(names); i++)
        if (text && strcmp(text, names[i]) == 0) {
            *out = (run_turn_t)i;
            return true;
        }
    return false;
}

const char *run_turn_name(run_turn_t turn)
{
    return turn == RUN_TURN_UDP ? "udp" : turn == RUN_TURN_TCP ? "tcp" : NULL;
}

/* One key, the transport: the runner starts the TURN server itself, so
 * the transport is the only choice left (and none can contradict another). */
static bool parse_turn(parse_t *ps, GError **error)
{
    run_spec_t *spec = ps->spec;
    g_autofree char *v = keyfile_get(ps->kf, "agent", "turn");
    if (!v)
        return true;
    if (!run_turn_parse(v, &spec->turn)) {
        keyfile_set_error(error, ps->kf, "agent", "turn", v,
                          "allowed: %s (natlab's agent relays through coturn on the server "
                          "host over UDP or TCP)",
                          RUN_TURN_ALLOWED);
        return false;
    }
    if (spec->turn != RUN_TURN_NONE && spec->kind_ref) {
        keyfile_set_error(error, ps->kf, "agent", "turn", v,
                          "a flag of natlab's own agent; kind %s gets coturn from its kind "
                          "file (servers = turn)",
                          spec->kind_ref);
        return false;
    }
    spec->turn_line = keyfile_line(ps->kf, "agent", "turn");
    return true;
}

static bool parse_agent_flags(parse_t *ps, GError **error)
{
    run_spec_t *spec = ps->spec;
    gsize n = 0;
    g_auto(GStrv) keys = keyfile_keys(ps->kf, "agent", &n);
    if (!parse_kind(ps, error) || !parse_turn(ps, error))
        return false;
    for (gsize i = 0; i < n; i++) {
        const char *key = keys[i];
        g_autofree char *v = keyfile_get(ps->kf, "agent", key);
        if (g_strv_contains(runner_agent_keys, key))
            continue;
        unsigned k = 0;
        while (k < G_N_ELEMENTS(agent_keys) && strcmp(agent_keys[k].key, key) != 0)
            k++;
        if (k == G_N_ELEMENTS(agent_keys)) {
            GString *list = g_string_new("connect, listen, server, hold, kind, turn");
            for (unsigned j = 0; j < G_N_ELEMENTS(agent_keys); j++)
                g_string_append_printf(list, ", %s", agent_keys[j].key);
            keyfile_set_error(error, ps->kf, "agent", key, v, "unknown key; allowed keys: %s",
                              list->str);
            g_string_free(list, TRUE);
            return false;
        }
        if (spec->kind_ref && !g_strv_contains(all_kinds_keys, key)) {
            keyfile_set_error(error, ps->kf, "agent", key, v,
                              "a flag of natlab's own agent; kind %s takes send, interval and "
                              "hold",
                              spec->kind_ref);
            return false;
        }
        GPtrArray *args = agent_keys[k].connect_only ? spec->connect_args : spec->agent_args;
        usec_t us;
        guint64 count;
        switch (agent_keys[k].kind) {
        case ARG_DURATION:
            if (!duration_parse(v, &us) || us == 0) {
                keyfile_set_error(error, ps->kf, "agent", key, v,
                                  "allowed: a duration above 0 (%s), e.g. 25s", DURATION_UNITS);
                return false;
            }
            g_ptr_array_add(args, g_strdup(agent_keys[k].flag));
            g_ptr_array_add(args, g_strdup(v));
            if (strcmp(key, "interval") == 0)
                spec->interval = us;
            break;
        case ARG_COUNT:
            if (!g_ascii_string_to_unsigned(v, 10, 1, 1000000, &count, NULL)) {
                keyfile_set_error(error, ps->kf, "agent", key, v, "allowed: 1 to 1000000");
                return false;
            }
            g_ptr_array_add(args, g_strdup(agent_keys[k].flag));
            g_ptr_array_add(args, g_strdup(v));
            if (strcmp(key, "send") == 0)
                spec->send = (unsigned)count;
            break;
        case ARG_OFF_FLAG:
        case ARG_ON_FLAG:
            if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
                keyfile_set_error(error, ps->kf, "agent", key, v, "allowed: on, off");
                return false;
            }
            if ((strcmp(v, "on") == 0) == (agent_keys[k].kind == ARG_ON_FLAG))
                g_ptr_array_add(args, g_strdup(agent_keys[k].flag));
            break;
        }
    }
    return parse_duration_value(ps, "agent", "hold", &spec->hold, error);
}

/* With turn, coturn runs beside natlab server on the server host, on an
 * address of its own after natlab server's (which holds UDP and TCP 3478 on
 * both of its addresses). */
static bool add_turn_address(parse_t *ps, scenario_host_t *h, GError **error)
{
    run_spec_t *spec = ps->spec;
    if (spec->turn == RUN_TURN_NONE || ps->topology_only)
        return true;
    g_autofree char *v = keyfile_get(ps->kf, "agent", "turn");
    if (!spec->start_server) {
        keyfile_set_error(error, ps->kf, "agent", "turn", v,
                          "the runner starts coturn beside natlab server, but server host %s "
                          "runs a program of its own (run =); allowed: no run key there, or no "
                          "turn key",
                          h->name);
        return false;
    }
    if (h->addresses >= SCENARIO_ADDRESSES_MAX) {
        keyfile_set_error(error, ps->kf, "agent", "turn", v,
                          "coturn needs an address of its own on server host %s, which has "
                          "%u already; allowed: at most %d addresses = there with turn",
                          h->name, h->addresses, SCENARIO_ADDRESSES_MAX - 1);
        return false;
    }
    spec->turn_address = ++h->addresses;
    return true;
}

/* The server: [agent] server = HOST (a public host), else a host named
 * RUN_SERVER_HOST, else one the runner adds with two addresses. */
static bool choose_server(parse_t *ps, GError **error)
{
    run_spec_t *spec = ps->spec;
    scenario_t *s = spec->scenario;
    g_autofree char *v = keyfile_get(ps->kf, "agent", "server");
    if (ps->topology_only && !v)
        return true;
    if (v || host_find(s, RUN_SERVER_HOST, &spec->server)) {
        if (v && !agent_host(ps, "server", &spec->server, error))
            return false;
        const scenario_host_t *h = scenario_host(s, (guint)spec->server);
        if (h->nat_index >= 0) {
            g_autofree char *list = host_names(s, true);
            keyfile_set_error(error, ps->kf, "agent", "server", h->name,
                              "the server must be a public host (no nat key); allowed: %s", list);
            return false;
        }
        spec->start_server = h->run == NULL;
        return add_turn_address(ps, g_ptr_array_index(s->hosts, (guint)spec->server), error);
    }
    for (guint i = 0; i < s->nats->len; i++)
        if (strcmp(scenario_nat(s, i)->name, RUN_SERVER_HOST) == 0) {
            g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_VALUE,
                        "%s:%d: [nat %s]: the runner adds a public host '%s' for the server; "
                        "rename the NAT or name a server host: [agent] server = HOST",
                        s->path, scenario_nat(s, i)->line, RUN_SERVER_HOST, RUN_SERVER_HOST);
            return false;
        }
    scenario_host_t *h = g_new0(scenario_host_t, 1);
    h->name = g_strdup(RUN_SERVER_HOST);
    h->nat_index = -1;
    h->addresses = 2;
    g_ptr_array_add(s->hosts, h);
    spec->server = (int)s->hosts->len - 1;
    spec->server_added = true;
    spec->start_server = true;
    return add_turn_address(ps, h, error);
}

/* connect and listen default to the first two hosts that are not the server. */
static bool choose_agents(parse_t *ps, GError **error)
{
    run_spec_t *spec = ps->spec;
    const scenario_t *s = spec->scenario;
    spec->connect = spec->listen = -1;
    if (!agent_host(ps, "connect", &spec->connect, error) ||
        !agent_host(ps, "listen", &spec->listen, error))
        return false;
    /* Only both given can be equal: the defaults below skip the hosts taken. */
    if (spec->connect >= 0 && spec->connect == spec->listen) {
        g_autofree char *v = keyfile_get(ps->kf, "agent", "listen");
        keyfile_set_error(error, ps->kf, "agent", "listen", v ? v : "",
                          "the listening host must differ from the connecting one");
        return false;
    }
    if (ps->topology_only)
        return true;
    for (guint i = 0; i < s->hosts->len && (spec->connect < 0 || spec->listen < 0); i++) {
        if ((int)i == spec->server || (int)i == spec->connect || (int)i == spec->listen)
            continue;
        if (spec->connect < 0)
            spec->connect = (int)i;
        else
            spec->listen = (int)i;
    }
    if (spec->connect < 0 || spec->listen < 0) {
        g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_VALUE,
                    "%s: the runner needs two hosts besides the server for its agents; add "
                    "[host NAME] groups or set [agent] connect = HOST and listen = HOST",
                    s->path);
        return false;
    }
    return true;
}

static bool parse_expect(parse_t *ps, GError **error)
{
    gsize n = 0;
    g_auto(GStrv) keys = keyfile_keys(ps->kf, "expect", &n);
    for (gsize i = 0; i < n; i++) {
        g_autofree char *v = keyfile_get(ps->kf, "expect", keys[i]);
        g_autofree char *why = NULL;
        if (!run_expectations_add(ps->spec->expect, keys[i], v, &why)) {
            g_autofree char *line = run_expect_line(keys[i], v);
            g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_VALUE, "%s:%d: [expect] %s: %s",
                        keyfile_origin(ps->kf), keyfile_line(ps->kf, "expect", keys[i]), line,
                        why);
            return false;
        }
    }
    return true;
}

static void event_free(run_event_t *e)
{
    g_free(e->name);
    g_free(e->command);
    g_free(e);
}

static int event_compare(gconstpointer a, gconstpointer b)
{
    const run_event_t *x = *(run_event_t *const *)a, *y = *(run_event_t *const *)b;
    return x->at < y->at ? -1 : x->at > y->at;
}

static bool require(const parse_t *ps, const char *group, const char *key, char **out,
                    const char *what, GError **error)
{
    *out = keyfile_get(ps->kf, group, key);
    if (*out)
        return true;
    g_set_error(error, KEYFILE_ERROR, KEYFILE_ERROR_VALUE, "%s: [%s]: %s is missing; %s",
                keyfile_origin(ps->kf), group, key, what);
    return false;
}

static bool parse_event(parse_t *ps, const char *group, GError **error)
{
    static const char *const keys[] = { "at", "nat", "action", NULL };
    scenario_t *s = ps->spec->scenario;
    gsize n = 0;
    g_auto(GStrv) present = keyfile_keys(ps->kf, group, &n);
    for (gsize i = 0; i < n; i++)
        if (!g_strv_contains(keys, present[i])) {
            g_autofree char *v = keyfile_get(ps->kf, group, present[i]);
            keyfile_set_error(error, ps->kf, group, present[i], v,
                              "unknown key; allowed keys: at, nat, action");
            return false;
        }
    g_autofree char *at = NULL, *nat = NULL, *action = NULL;
    if (!require(ps, group, "at", &at, "allowed: at = DURATION after the connecting agent starts",
                 error) ||
        !require(ps, group, "nat", &nat, "allowed: nat = the NAT it acts on", error) ||
        !require(ps, group, "action", &action,
                 "allowed: action = reboot, flush, change-ip or set KEY VALUE", error))
        return false;
    run_event_t *e = g_new0(run_event_t, 1);
    g_ptr_array_add(ps->spec->events, e);
    e->name = g_strdup(group + strlen("event "));
    if (!duration_parse(at, &e->at)) {
        keyfile_set_error(error, ps->kf, group, "at", at, "allowed: a duration (%s), e.g. 10s",
                          DURATION_UNITS);
        return false;
    }
    e->nat = -1;
    for (guint i = 0; i < s->nats->len; i++)
        if (strcmp(scenario_nat(s, i)->name, nat) == 0)
            e->nat = (int)i;
    if (e->nat < 0) {
        GString *list = g_string_new(NULL);
        for (guint i = 0; i < s->nats->len; i++)
            g_string_append_printf(list, "%s%s", i ? ", " : "", scenario_nat(s, i)->name);
        keyfile_set_error(error, ps->kf, group, "nat", nat, "no such NAT; allowed: %s",
                          list->len ? list->str : "(none: add a [nat NAME] group)");
        g_string_free(list, TRUE);
        return false;
    }
    scenario_nat_t *sn = g_ptr_array_index(s->nats, (guint)e->nat);
    g_auto(GStrv) words = g_strsplit_set(action, " \t", 3);
    if (strcmp(action, "reboot") == 0 || strcmp(action, "flush") == 0) {
        e->command = g_strdup(action);
    } else if (strcmp(action, "change-ip") == 0) {
        if (sn->profile->type != NAT_TYPE_NAT) {
            keyfile_set_error(error, ps->kf, group, "action", action,
                              "NAT %s does not translate (type %s), so it has no public "
                              "address to change; allowed: reboot, flush, set KEY VALUE",
                              sn->name, nat_type_name(sn->profile->type));
            return false;
        }
        if (!ps->topology_only)
            sn->spare_ips = 1;
        ps->spec->mutates = true;
        e->command = g_strdup(action);
    } else if (strcmp(words[0], "set") == 0 && words[1] && words[2]) {
        g_autoptr(nat_profile_t) copy = nat_profile_copy(sn->profile);
        GError *local = NULL;
        g_strstrip(words[2]);
        if (!nat_profile_set(copy, words[1], words[2], &local) ||
            !nat_profile_validate(copy, &local)) {
            keyfile_set_error(error, ps->kf, group, "action", action, "%s", local->message);
            g_error_free(local);
            return false;
        }
        ps->spec->mutates = true;
        e->command = g_strdup_printf("set %s %s", words[1], words[2]);
    } else {
        keyfile_set_error(error, ps->kf, group, "action", action,
                          "allowed: reboot, flush, change-ip, set KEY VALUE (a profile key)");
        return false;
    }
    return true;
}

static bool parse_events(parse_t *ps, GError **error)
{
    gsize n = 0;
    g_auto(GStrv) groups = keyfile_groups(ps->kf, &n);
    for (gsize i = 0; i < n; i++)
        if (g_str_has_prefix(groups[i], "event ") && !parse_event(ps, groups[i], error))
            return false;
    g_ptr_array_sort(ps->spec->events, event_compare);
    run_spec_t *spec = ps->spec;
    if (spec->events->len == 0)
        return true;
    usec_t last = run_spec_event(spec, spec->events->len - 1)->at;
    if (spec->hold == 0) {
        spec->hold = last + RUN_HOLD_AFTER_EVENTS;
    } else if (spec->hold <= last) {
        g_autofree char *v = keyfile_get(ps->kf, "agent", "hold");
        keyfile_set_error(error, ps->kf, "agent", "hold", v,
                          "the session ends before the last event (at %.1f s); allowed: a "
                          "longer hold, or no hold key (then: last event + 5 s)",
                          (double)last / USEC_PER_SEC);
        return false;
    }
    return true;
}

static run_spec_t *load(const char *data, size_t len, const char *origin, keyfile_read_fn *read,
                        bool topology_only, GError **error)
{
    g_autoptr(scenario_t) scenario = scenario_load(data, len, origin, read, error);
    if (!scenario)
        return NULL;
    g_autoptr(keyfile_t) kf = keyfile_load_data(data, len, origin, error);
    if (!kf)
        return NULL;
    run_spec_t *spec = g_new0(run_spec_t, 1);
    spec->scenario = g_steal_pointer(&scenario);
    spec->repeat = 1;
    spec->send = RUN_SEND_DEFAULT;
    spec->interval = RUN_INTERVAL_DEFAULT;
    spec->agent_args = g_ptr_array_new_with_free_func(g_free);
    spec->connect_args = g_ptr_array_new_with_free_func(g_free);
    spec->expect = run_expectations_new();
    spec->events = g_ptr_array_new_with_free_func((GDestroyNotify)event_free);
    parse_t ps = { kf, spec, topology_only };
    if (!parse_scenario_keys(&ps, error) || !parse_agent_flags(&ps, error) ||
        !choose_server(&ps, error) || !choose_agents(&ps, error) || !parse_expect(&ps, error) ||
        !parse_events(&ps, error)) {
        run_spec_free(spec);
        return NULL;
    }
    if (spec->deadline == 0)
        spec->deadline = spec->hold + RUN_DEADLINE_DEFAULT;
    return spec;
}

run_spec_t *run_spec_load(const char *data, size_t len, const char *origin, keyfile_read_fn *read,
                          GError **error)
{
    return load(data, len, origin, read, false, error);
}

run_spec_t *run_spec_load_data(const char *data, size_t len, const char *origin, GError **error)
{
    return load(data, len, origin, NULL, false, error);
}

scenario_t *run_spec_load_scenario(const char *data, size_t len, const char *origin,
                                   keyfile_read_fn *read, GError **error)
{
    run_spec_t *spec = load(data, len, origin, read, true, error);
    if (!spec)
        return NULL;
    scenario_t *s = g_steal_pointer(&spec->scenario);
    run_spec_free(spec);
    return s;
}

void run_spec_free(run_spec_t *spec)
{
    if (!spec)
        return;
    scenario_free(spec->scenario);
    g_free(spec->kind_ref);
    run_kind_free(spec->kind);
    if (spec->agent_args)
        g_ptr_array_free(spec->agent_args, TRUE);
    if (spec->connect_args)
        g_ptr_array_free(spec->connect_args, TRUE);
    run_expectations_free(spec->expect);
    if (spec->events)
        g_ptr_array_free(spec->events, TRUE);
    g_free(spec);
}

uint64_t run_spec_attempt_seed(uint64_t seed, unsigned attempt)
{
    /* splitmix64 of (seed, attempt): neighbouring attempts get unrelated seeds. */
    uint64_t z = seed + (uint64_t)attempt * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (z ^ (z >> 31)) >> 1;
}

unsigned run_spec_server_addresses(const run_spec_t *spec)
{
    const scenario_host_t *h = scenario_host(spec->scenario, (guint)spec->server);
    return spec->turn_address ? h->addresses - 1 : h->addresses;
}

char **run_spec_agent_argv(const run_spec_t *spec, bool connector, const char *server,
                           const char *name, const char *peer, uint64_t seed,
                           const char *turn_ip, const char *turn_password_file)
{
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, g_strdup("agent"));
    g_ptr_array_add(argv, g_strdup("--server"));
    g_ptr_array_add(argv, g_strdup(server));
    g_ptr_array_add(argv, g_strdup("--name"));
    g_ptr_array_add(argv, g_strdup(name));
    g_ptr_array_add(argv, g_strdup("--seed"));
    g_ptr_array_add(argv, g_strdup_printf("%" G_GUINT64_FORMAT, seed));
    g_ptr_array_add(argv, g_strdup("--json"));
    for (guint i = 0; i < spec->agent_args->len; i++)
        g_ptr_array_add(argv, g_strdup(g_ptr_array_index(spec->agent_args, i)));
    if (spec->turn != RUN_TURN_NONE) {
        g_ptr_array_add(argv, g_strdup("--turn"));
        g_ptr_array_add(argv, g_strdup_printf("turn:%s:%d?transport=%s", turn_ip, RUN_TURN_PORT,
                                              run_turn_name(spec->turn)));
        g_ptr_array_add(argv, g_strdup("--turn-user"));
        g_ptr_array_add(argv, g_strdup(RUN_TURN_USER));
        g_ptr_array_add(argv, g_strdup("--turn-password-file"));
        g_ptr_array_add(argv, g_strdup(turn_password_file));
    }
    if (connector) {
        g_ptr_array_add(argv, g_strdup("connect"));
        g_ptr_array_add(argv, g_strdup(peer));
        for (guint i = 0; i < spec->connect_args->len; i++)
            g_ptr_array_add(argv, g_strdup(g_ptr_array_index(spec->connect_args, i)));
        if (spec->hold > 0) {
            char buf[32];
            duration_format(spec->hold, buf, sizeof buf);
            g_ptr_array_add(argv, g_strdup("--hold"));
            g_ptr_array_add(argv, g_strdup(buf));
        }
    } else {
        g_ptr_array_add(argv, g_strdup("listen"));
        g_ptr_array_add(argv, g_strdup("--once"));
    }
    g_ptr_array_add(argv, NULL);
    return (char **)g_ptr_array_free(argv, FALSE);
}
