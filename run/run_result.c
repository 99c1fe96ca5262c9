#include "run_result.h"

#include <math.h>
#include <string.h>
#include <sys/wait.h>

void run_events_clear(run_events_t *e)
{
    g_clear_pointer(&e->last_event, g_free);
    e->registered = e->done = e->agent_failed = false;
}

static void set_str(char **field, const char *value)
{
    if (!value)
        return;
    g_free(*field);
    *field = g_strdup(value);
}

static double member_double(JsonObject *o, const char *name, double fallback)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return n ? NAN : fallback;
    if (json_node_get_value_type(n) != G_TYPE_DOUBLE && json_node_get_value_type(n) != G_TYPE_INT64)
        return fallback;
    return json_node_get_double(n);
}

static int64_t member_int(JsonObject *o, const char *name, int64_t fallback)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n || !JSON_NODE_HOLDS_VALUE(n))
        return fallback;
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_INT64)
        return json_node_get_int(n);
    if (t == G_TYPE_DOUBLE)
        return (int64_t)json_node_get_double(n);
    return fallback;
}

static const char *member_str(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(n);
}

static JsonObject *parse_event(JsonParser *parser, const char *line)
{
    if (!line || !json_parser_load_from_data(parser, line, -1, NULL))
        return NULL;
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root))
        return NULL;
    JsonObject *o = json_node_get_object(root);
    return member_str(o, "event") ? o : NULL;
}

bool run_result_listener_registered(const char *line)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *o = parse_event(parser, line);
    return o && strcmp(member_str(o, "event"), "registered") == 0;
}

bool run_result_feed(result_t *r, run_events_t *e, const char *line)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *o = parse_event(parser, line);
    if (!o)
        return false;
    const char *ev = member_str(o, "event");
    double t = member_double(o, "t_ms", NAN);
    set_str(&e->last_event, ev);
    if (strcmp(ev, "registered") == 0) {
        e->registered = true;
    } else if (strcmp(ev, "first-byte") == 0) {
        if (isnan(r->time_to_first_byte_ms))
            r->time_to_first_byte_ms = t;
    } else if (strcmp(ev, "direct") == 0) {
        set_str(&r->path, member_str(o, "path"));
        set_str(&r->technique, member_str(o, "technique"));
        if (isnan(r->time_to_direct_ms))
            r->time_to_direct_ms = t;
    } else if (strcmp(ev, "path-changed") == 0) {
        set_str(&r->path, member_str(o, "to"));
        r->path_changes++;
    } else if (strcmp(ev, "relay-fallback") == 0) {
        set_str(&r->path, "relay");
    } else if (strcmp(ev, "failed") == 0) {
        e->agent_failed = true;
        set_str(&r->error, member_str(o, "reason") ? member_str(o, "reason") : "failed");
    } else if (strcmp(ev, "done") == 0) {
        e->done = true;
        r->sent = member_int(o, "sent", r->sent);
        r->delivered = member_int(o, "delivered", r->delivered);
        r->probes_sent = member_int(o, "probes_sent", r->probes_sent);
        r->path_changes = member_int(o, "path_changes", r->path_changes);
        set_str(&r->path, member_str(o, "path"));
        set_str(&r->technique, member_str(o, "technique"));
        r->time_to_first_byte_ms = member_double(o, "time_to_first_byte_ms", r->time_to_first_byte_ms);
        r->time_to_direct_ms = member_double(o, "time_to_direct_ms", r->time_to_direct_ms);
    } else {
        return false;
    }
    return true;
}

void run_result_finish(result_t *r, const run_events_t *e, int status, const char *runner_error)
{
    r->outcome = RESULT_FAILED;
    g_autofree char *why = NULL;
    const char *last = e->last_event ? e->last_event : "none";
    if (runner_error)
        why = g_strdup(runner_error);
    else if (WIFSIGNALED(status))
        why = g_strdup_printf("the connecting agent was killed by signal %d (%s); last event: %s",
                              WTERMSIG(status), g_strsignal(WTERMSIG(status)), last);
    else if (!e->done)
        why = g_strdup_printf("the connecting agent exited with status %d before its done event; "
                              "last event: %s",
                              WEXITSTATUS(status), last);
    else if (e->agent_failed)
        why = g_strdup_printf("the agent failed: %s", r->error);
    else if (WEXITSTATUS(status) != 0 || r->delivered < r->sent)
        why = g_strdup_printf("%" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
                              " messages delivered (exit status %d)",
                              r->delivered, r->sent, WEXITSTATUS(status));
    else if (strcmp(r->path, "direct") == 0 || strcmp(r->path, "lan") == 0)
        r->outcome = RESULT_DIRECT;
    else if (strcmp(r->path, "relay") == 0)
        r->outcome = RESULT_RELAYED;
    else
        why = g_strdup_printf("data delivered, but the final path is '%s'", r->path);
    g_free(r->error);
    r->error = g_steal_pointer(&why);
    if (r->outcome != RESULT_DIRECT)
        set_str(&r->technique, "none");
}
