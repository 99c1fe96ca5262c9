#include "nat_control.h"

#include <json-glib/json-glib.h>
#include <string.h>

static void add_mapping(const nat_mapping_info_t *m, void *ctx)
{
    JsonBuilder *b = ctx;
    char buf[ADDR_ENDPOINT_STRLEN];
    json_builder_begin_object(b);
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

static char *set_key(const nat_control_target_t *t, const char *args)
{
    g_auto(GStrv) kv = g_strsplit(args, " ", 2);
    if (!kv[0] || !kv[1] || !*kv[0])
        return g_strdup("error: usage: set KEY VALUE");
    g_autoptr(nat_profile_t) p = nat_profile_copy(nat_engine_profile(t->engine));
    g_autoptr(GError) error = NULL;
    if (!nat_profile_set(p, kv[0], g_strstrip(kv[1]), &error) ||
        !nat_engine_set_profile(t->engine, p, &error))
        return g_strdup_printf("error: %s", error->message);
    nat_router_profile_changed(t->router);
    return g_strdup("ok");
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
        nat_engine_flush(t->engine);
        return g_strdup("ok");
    }
    if (strcmp(cmd, "set") == 0)
        return set_key(t, args ? g_strstrip(args) : "");
    if (strcmp(cmd, "stats") == 0)
        return nat_router_stats_json(t->router);
    if (strcmp(cmd, "profile") == 0)
        return nat_profile_to_json(nat_engine_profile(t->engine));
    if (strcmp(cmd, "mappings") == 0)
        return mappings_json(t->engine);
    if (strcmp(cmd, "help") == 0)
        return g_strdup("commands: reboot, flush, set KEY VALUE, stats, profile, mappings");
    return g_strdup_printf("error: unknown command '%s'; allowed: reboot, flush, set, stats, "
                           "profile, mappings, help", cmd);
}
