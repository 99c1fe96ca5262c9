#include "nat_control.h"

#include <json-glib/json-glib.h>
#include <string.h>

static void add_mapping(const nat_mapping_info_t *m, void *ctx)
{
    JsonBuilder *b = ctx;
    char buf[ADDR_ENDPOINT_STRLEN];
    json_builder_begin_object(b);
    /* UDP mappings look as they always did; others say what they are, and
     * their "ports" are query identifiers. */
    if (m->proto != NAT_PROTO_UDP) {
        json_builder_set_member_name(b, "protocol");
        json_builder_add_string_value(b, nat_proto_name(m->proto));
    }
    json_builder_set_member_name(b, "internal");
    json_builder_add_string_value(b, addr_endpoint_format(m->internal, buf));
    json_builder_set_member_name(b, "external");
    json_builder_add_string_value(b, addr_endpoint_format(m->external, buf));
    json_builder_set_member_name(b, "remote");
    json_builder_add_string_value(b, addr_endpoint_format(m->remote, buf));
    json_builder_set_member_name(b, "explicit");
    json_builder_add_boolean_value(b, m->is_explicit);
    json_builder_set_member_name(b, "replied");
    json_builder_add_boolean_value(b, m->replied);
    json_builder_end_object(b);
}

static char *mappings_json(nat_engine_t *engine)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    nat_engine_foreach(engine, add_mapping, b);
    json_builder_end_array(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    return json_to_string(root, FALSE);
}

char *nat_control_stats_json(const nat_control_target_t *t)
{
    char *router = nat_router_stats_json(t->router);
    if (!t->queue_stats && !t->more_stats)
        return router;
    g_autoptr(JsonNode) root = json_from_string(router, NULL);
    g_free(router);
    JsonObject *o = json_node_get_object(root);
    if (t->queue_stats) {
        nat_nfqstat_t queue = { 0 };
        t->queue_stats(t->ctx, &queue);
        json_object_set_member(o, "nfqueue", nat_nfqstat_json(&queue));
    }
    g_autofree char *more = t->more_stats ? t->more_stats(t->ctx) : NULL;
    g_autoptr(JsonNode) extra = more ? json_from_string(more, NULL) : NULL;
    if (extra && JSON_NODE_HOLDS_OBJECT(extra)) {
        JsonObject *e = json_node_get_object(extra);
        g_autoptr(GList) names = json_object_get_members(e);
        for (GList *n = names; n; n = n->next)
            json_object_set_member(o, n->data, json_object_dup_member(e, n->data));
    }
    return json_to_string(root, FALSE);
}

static char *set_key(const nat_control_target_t *t, const char *args, usec_t now)
{
    g_auto(GStrv) kv = g_strsplit(args, " ", 2);
    if (!kv[0] || !kv[1] || !*kv[0])
        return g_strdup("error: usage: set KEY VALUE");
    g_autoptr(nat_profile_t) p = nat_profile_copy(nat_engine_profile(t->engine));
    g_autoptr(GError) error = NULL;
    if (!nat_profile_set(p, kv[0], g_strstrip(kv[1]), &error) ||
        !nat_engine_set_profile(t->engine, p, now, &error))
        return g_strdup_printf("error: %s", error->message);
    nat_router_profile_changed(t->router);
    return g_strdup("ok");
}

static char *change_ip(const nat_control_target_t *t, const char *arg, usec_t now)
{
    const uint32_t *ips;
    if (nat_engine_public_ips(t->engine, &ips) == 0 || nat_engine_profile(t->engine)->type != NAT_TYPE_NAT)
        return g_strdup("error: change-ip: this router does not translate");
    if (t->n_spare_ips == 0)
        return g_strdup("error: change-ip: no spare address (the daemon needs --spare-ip)");
    unsigned k = 0;
    if (arg && *arg) {
        uint32_t want;
        if (!addr_ip_parse(arg, &want))
            return g_strdup_printf("error: change-ip: '%s' is no IPv4 address", arg);
        while (k < t->n_spare_ips && t->spare_ips[k] != want)
            k++;
        if (k == t->n_spare_ips)
            return g_strdup_printf("error: change-ip: %s is not a spare address", arg);
    }
    uint32_t old_ip = ips[0], new_ip = t->spare_ips[k];
    if (!nat_engine_change_ip(t->engine, old_ip, new_ip, now))
        return g_strdup("error: change-ip: the engine refused the address");
    t->spare_ips[k] = old_ip;
    char a[ADDR_IP_STRLEN], b[ADDR_IP_STRLEN];
    return g_strdup_printf("{\"from\":\"%s\",\"to\":\"%s\"}", addr_ip_format(old_ip, a),
                           addr_ip_format(new_ip, b));
}

char *nat_control_execute(const nat_control_target_t *t, const char *line, usec_t now)
{
    g_autofree char *cmd = g_strstrip(g_strdup(line));
    char *args = strchr(cmd, ' ');
    if (args)
        *args++ = '\0';
    if (strcmp(cmd, "reboot") == 0) {
        nat_engine_reboot(t->engine, now);
        if (t->rebooted)
            t->rebooted(t->ctx);
        return g_strdup("ok");
    }
    if (strcmp(cmd, "flush") == 0) {
        nat_engine_flush(t->engine, now);
        return g_strdup("ok");
    }
    if (strcmp(cmd, "change-ip") == 0)
        return change_ip(t, args ? g_strstrip(args) : NULL, now);
    if (strcmp(cmd, "set") == 0)
        return set_key(t, args ? g_strstrip(args) : "", now);
    if (strcmp(cmd, "stats") == 0)
        return nat_control_stats_json(t);
    if (strcmp(cmd, "profile") == 0)
        return nat_profile_to_json(nat_engine_profile(t->engine));
    if (strcmp(cmd, "mappings") == 0)
        return mappings_json(t->engine);
    if (strcmp(cmd, "help") == 0)
        return g_strdup("commands: reboot, flush, change-ip [IP], set KEY VALUE, stats, profile, mappings");
    return g_strdup_printf("error: unknown command '%s'; allowed: reboot, flush, change-ip, set, "
                           "stats, profile, mappings, help", cmd);
}
