#include "topology_info.h"

#include <string.h>

#define TOPOLOGY_INFO_ERROR (topology_info_error_quark())
G_DEFINE_QUARK(natlab-topology-info-error, topology_info_error)

/* A string member, or NULL when it is absent or null. */
static const char *string_member(JsonObject *o, const char *member)
{
    return json_object_get_string_member_with_default(o, member, NULL);
}

static JsonArray *array_member(JsonObject *o, const char *member)
{
    JsonNode *n = json_object_get_member(o, member);
    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

/* The strings of an array member (non-strings skipped), NULL-terminated. */
static char **strings_member(JsonObject *o, const char *member)
{
    JsonArray *a = array_member(o, member);
    GPtrArray *list = g_ptr_array_new();
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        const char *v = json_array_get_string_element(a, i);
        if (v)
            g_ptr_array_add(list, g_strdup(v));
    }
    g_ptr_array_add(list, NULL);
    return (char **)g_ptr_array_free(list, FALSE);
}

static void node_free(topology_info_node_t *n)
{
    g_free(n->name);
    g_free(n->ns);
    g_strfreev(n->addresses);
    g_free(n->control);
    g_free(n);
}

static bool read_nodes(JsonObject *root, const char *member, bool is_nat, GPtrArray *out,
                       const char *origin, GError **error)
{
    JsonArray *a = array_member(root, member);
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        const char *name = o ? string_member(o, "name") : NULL;
        const char *ns = o ? string_member(o, "namespace") : NULL;
        if (!name || !ns) {
            g_set_error(error, TOPOLOGY_INFO_ERROR, 0,
                        "%s: %s[%u] has no name or namespace; not a natlab topology", origin,
                        member, i);
            return false;
        }
        topology_info_node_t *n = g_new0(topology_info_node_t, 1);
        n->name = g_strdup(name);
        n->ns = g_strdup(ns);
        n->is_nat = is_nat;
        n->addresses = strings_member(o, is_nat ? "public_addresses" : "addresses");
        n->control = g_strdup(string_member(o, "control"));
        n->pid = (int)json_object_get_int_member_with_default(o, "pid", 0);
        g_ptr_array_add(out, n);
    }
    return true;
}

topology_info_t *topology_info_from_json(JsonNode *root, const char *origin, GError **error)
{
    JsonObject *o = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    const char *prefix = o ? string_member(o, "prefix") : NULL;
    if (!prefix) {
        g_set_error(error, TOPOLOGY_INFO_ERROR, 0, "%s: not a natlab topology (no prefix)",
                    origin);
        return NULL;
    }
    topology_info_t *t = g_new0(topology_info_t, 1);
    t->scenario = g_strdup(string_member(o, "scenario"));
    t->prefix = g_strdup(prefix);
    t->state_dir = g_strdup(string_member(o, "state_dir"));
    t->namespaces = strings_member(o, "namespaces");
    t->nats = g_ptr_array_new_with_free_func((GDestroyNotify)node_free);
    t->hosts = g_ptr_array_new_with_free_func((GDestroyNotify)node_free);
    if (!read_nodes(o, "nats", true, t->nats, origin, error) ||
        !read_nodes(o, "hosts", false, t->hosts, origin, error)) {
        topology_info_free(t);
        return NULL;
    }
    return t;
}

topology_info_t *topology_info_parse(const char *data, size_t len, const char *origin,
                                     GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    GError *local = NULL;
    if (!json_parser_load_from_data(parser, data, (gssize)len, &local)) {
        g_set_error(error, TOPOLOGY_INFO_ERROR, 0, "%s: %s", origin, local->message);
        g_error_free(local);
        return NULL;
    }
    return topology_info_from_json(json_parser_get_root(parser), origin, error);
}

void topology_info_free(topology_info_t *t)
{
    if (!t)
        return;
    g_free(t->scenario);
    g_free(t->prefix);
    g_free(t->state_dir);
    g_strfreev(t->namespaces);
    if (t->nats)
        g_ptr_array_free(t->nats, TRUE);
    if (t->hosts)
        g_ptr_array_free(t->hosts, TRUE);
    g_free(t);
}

const topology_info_node_t *topology_info_find(const topology_info_t *t, const char *name)
{
    for (guint i = 0; i < t->hosts->len; i++)
        if (strcmp(topology_info_host(t, i)->name, name) == 0)
            return topology_info_host(t, i);
    for (guint i = 0; i < t->nats->len; i++)
        if (strcmp(topology_info_nat(t, i)->name, name) == 0)
            return topology_info_nat(t, i);
    return NULL;
}

char *topology_info_names(const topology_info_t *t, bool hosts, bool nats)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; hosts && i < t->hosts->len; i++)
        g_string_append_printf(s, "%s%s", s->len ? ", " : "", topology_info_host(t, i)->name);
    for (guint i = 0; nats && i < t->nats->len; i++)
        g_string_append_printf(s, "%s%s", s->len ? ", " : "", topology_info_nat(t, i)->name);
    return g_string_free(s, FALSE);
}
