#include "run_kind.h"

#include <string.h>

#include "common/keyfile.h"

G_DEFINE_QUARK(run-kind-error-quark, run_kind_error)

static const struct {
    const char *name;
    unsigned bit;
} techniques[] = {
    { "punch", RUN_KIND_PUNCH },
    { "predict", RUN_KIND_PREDICT },
    { "birthday", RUN_KIND_BIRTHDAY },
    { "port-mapping", RUN_KIND_PORT_MAPPING },
    { "relay", RUN_KIND_RELAY },
    { "relay-tcp", RUN_KIND_RELAY_TCP },
    { "tcp-punch", RUN_KIND_TCP_PUNCH },
}, servers[] = {
    { "natlab", RUN_KIND_SERVER_NATLAB },
    { "turn", RUN_KIND_SERVER_TURN },
};

static const char *const known_keys[] = {
    "name", "description", "techniques", "servers", "server", "server-ready", "listen",
    "connect", "version", "check", "install", NULL,
};

bool run_kind_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > RUN_KIND_NAME_MAX || name[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!g_ascii_islower(name[i]) && !g_ascii_isdigit(name[i]) && name[i] != '-')
            return false;
    return true;
}

bool run_kind_ref_is_path(const char *ref)
{
    return strchr(ref, '/') || g_str_has_suffix(ref, ".kind");
}

char *run_kind_techniques_text(unsigned set)
{
    GString *s = g_string_new(NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(techniques); i++)
        if (set & techniques[i].bit)
            g_string_append_printf(s, "%s%s", s->len ? ", " : "", techniques[i].name);
    if (s->len == 0)
        g_string_append(s, "none");
    return g_string_free(s, FALSE);
}

/* "a, b, c" against a table: each word known, none twice. */
static bool parse_set(const keyfile_t *kf, const char *key, const char *value,
                      const void *table, size_t n, unsigned *out, GError **error)
{
    const struct {
        const char *name;
        unsigned bit;
    } *t = table;
    *out = 0;
    g_auto(GStrv) words = g_strsplit(value, ",", -1);
    for (int i = 0; words[i]; i++) {
        const char *w = g_strstrip(words[i]);
        if (!*w && !words[i + 1] && i == 0)
            break; /* an empty value: the empty set */
        size_t k = 0;
        while (k < n && strcmp(t[k].name, w) != 0)
            k++;
        if (k == n || (*out & t[k].bit)) {
            GString *list = g_string_new(NULL);
            for (size_t j = 0; j < n; j++)
                g_string_append_printf(list, "%s%s", j ? ", " : "", t[j].name);
            keyfile_set_error(error, kf, "kind", key, value, "%s '%s'; allowed: %s",
                              k == n ? "unknown" : "repeated", w, list->str);
            g_string_free(list, TRUE);
            return false;
        }
        *out |= t[k].bit;
    }
    return true;
}

static bool parse_ready(const keyfile_t *kf, const char *value, GArray *out, GError **error)
{
    g_auto(GStrv) words = g_strsplit(value, ",", -1);
    for (int i = 0; words[i]; i++) {
        const char *w = g_strstrip(words[i]);
        run_kind_socket_t s = { 0 };
        const char *port = NULL;
        if (g_str_has_prefix(w, "udp:"))
            port = w + 4;
        else if (g_str_has_prefix(w, "tcp:"))
            port = w + 4, s.tcp = true;
        guint64 p = 0;
        if (!port || !g_ascii_string_to_unsigned(port, 10, 1, 65535, &p, NULL)) {
            keyfile_set_error(error, kf, "kind", "server-ready", value,
                              "'%s'; allowed: udp:PORT or tcp:PORT (1 to 65535), "
                              "separated by commas",
                              w);
            return false;
        }
        s.port = (uint16_t)p;
        g_array_append_val(out, s);
    }
    return true;
}

static char *get(const keyfile_t *kf, const char *key)
{
    char *v = keyfile_get(kf, "kind", key);
    if (v && !*v)
        g_clear_pointer(&v, g_free);
    return v;
}

run_kind_t *run_kind_load(const char *data, size_t len, const char *origin, const char *dir,
                          GError **error)
{
    g_autoptr(keyfile_t) kf = keyfile_load_data(data, len, origin, error);
    if (!kf)
        return NULL;
    if (!keyfile_has_group(kf, "kind")) {
        g_set_error(error, RUN_KIND_ERROR, RUN_KIND_ERROR_INVALID,
                    "%s: no [kind] group; a kind file has one (docs/agents.md)", origin);
        return NULL;
    }
    gsize ngroups = 0;
    g_auto(GStrv) groups = keyfile_groups(kf, &ngroups);
    for (gsize i = 0; i < ngroups; i++)
        if (strcmp(groups[i], "kind") != 0) {
            g_set_error(error, RUN_KIND_ERROR, RUN_KIND_ERROR_INVALID,
                        "%s: [%s]: unknown group; a kind file has only [kind]", origin, groups[i]);
            return NULL;
        }
    gsize nkeys = 0;
    g_auto(GStrv) keys = keyfile_keys(kf, "kind", &nkeys);
    for (gsize i = 0; i < nkeys; i++)
        if (!g_strv_contains(known_keys, keys[i])) {
            g_autofree char *v = keyfile_get(kf, "kind", keys[i]);
            g_autofree char *list = g_strjoinv(", ", (char **)known_keys);
            keyfile_set_error(error, kf, "kind", keys[i], v, "unknown key; allowed keys: %s",
                              list);
            return NULL;
        }
    g_autoptr(run_kind_t) k = g_new0(run_kind_t, 1);
    k->server_ready = g_array_new(FALSE, FALSE, sizeof(run_kind_socket_t));
    k->dir = g_strdup(dir);
    k->name = get(kf, "name");
    k->description = get(kf, "description");
    k->server = get(kf, "server");
    k->listen = get(kf, "listen");
    k->connect = get(kf, "connect");
    k->version = get(kf, "version");
    k->check = get(kf, "check");
    k->install = get(kf, "install");
    const char *required[] = { "name", "listen", "connect", "techniques" };
    for (size_t i = 0; i < G_N_ELEMENTS(required); i++) {
        g_autofree char *v = get(kf, required[i]);
        if (!v) {
            g_set_error(error, RUN_KIND_ERROR, RUN_KIND_ERROR_INVALID,
                        "%s: [kind] has no %s; required: name, techniques, listen, connect",
                        origin, required[i]);
            return NULL;
        }
    }
    if (!run_kind_name_valid(k->name) || strcmp(k->name, RUN_KIND_NATLAB) == 0) {
        keyfile_set_error(error, kf, "kind", "name", k->name,
                          "%s", strcmp(k->name, RUN_KIND_NATLAB) == 0
                                    ? "natlab is the built-in kind; choose another name"
                                    : "allowed: 1 to 32 characters a-z, 0-9 and '-', not "
                                      "starting with '-'");
        return NULL;
    }
    g_autofree char *tech = get(kf, "techniques");
    g_autofree char *srv = get(kf, "servers");
    g_autofree char *ready = get(kf, "server-ready");
    if (!parse_set(kf, "techniques", tech, techniques, G_N_ELEMENTS(techniques), &k->techniques,
                   error) ||
        (srv && !parse_set(kf, "servers", srv, servers, G_N_ELEMENTS(servers), &k->servers,
                           error)) ||
        (ready && !parse_ready(kf, ready, k->server_ready, error)))
        return NULL;
    if ((k->servers & RUN_KIND_SERVER_NATLAB) && (k->servers & RUN_KIND_SERVER_TURN)) {
        keyfile_set_error(error, kf, "kind", "servers", srv,
                          "natlab and turn both listen on port 3478; choose one");
        return NULL;
    }
    if (ready && !k->server) {
        keyfile_set_error(error, kf, "kind", "server-ready", ready,
                          "without a server command there is nothing to wait for; add "
                          "server = COMMAND");
        return NULL;
    }
    return g_steal_pointer(&k);
}

void run_kind_free(run_kind_t *k)
{
    if (!k)
        return;
    g_free(k->name);
    g_free(k->description);
    g_free(k->dir);
    g_free(k->server);
    if (k->server_ready)
        g_array_free(k->server_ready, TRUE);
    g_free(k->listen);
    g_free(k->connect);
    g_free(k->version);
    g_free(k->check);
    g_free(k->install);
    g_free(k);
}

run_predict_agent_t run_kind_predict_agent(const run_kind_t *k)
{
    run_predict_agent_t a = RUN_PREDICT_AGENT_DEFAULTS;
    if (!k)
        return a;
    a.punch = k->techniques & RUN_KIND_PUNCH;
    a.predict = k->techniques & RUN_KIND_PREDICT;
    a.birthday = k->techniques & RUN_KIND_BIRTHDAY;
    a.relay = k->techniques & RUN_KIND_RELAY;
    a.relay_tcp = k->techniques & RUN_KIND_RELAY_TCP;
    a.tcp_punch = k->techniques & RUN_KIND_TCP_PUNCH;
    return a;
}
