#include "run_result.h"

#include "common/jsontidy.h"

#include <math.h>
#include <string.h>
#include <sys/wait.h>

static const char *const outcome_names[] = { "direct", "relayed", "failed" };

const char *run_outcome_name(run_outcome_t o)
{
    return outcome_names[o];
}

bool run_outcome_parse(const char *text, run_outcome_t *out)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(outcome_names); i++)
        if (text && strcmp(text, outcome_names[i]) == 0) {
            *out = (run_outcome_t)i;
            return true;
        }
    return false;
}

run_result_t *run_result_new(void)
{
    run_result_t *r = g_new0(run_result_t, 1);
    r->outcome = RUN_OUTCOME_FAILED;
    r->time_to_first_byte_ms = NAN;
    r->time_to_direct_ms = NAN;
    r->duration_ms = NAN;
    r->path = g_strdup("none");
    r->technique = g_strdup("none");
    return r;
}

void run_result_free(run_result_t *r)
{
    if (!r)
        return;
    g_free(r->scenario);
    g_free(r->pair);
    g_free(r->nat_a);
    g_free(r->nat_b);
    if (r->profile_a)
        json_node_unref(r->profile_a);
    if (r->profile_b)
        json_node_unref(r->profile_b);
    g_free(r->expected);
    g_free(r->path);
    g_free(r->technique);
    g_free(r->started);
    g_free(r->pcap);
    g_free(r->error);
    g_free(r->last_event);
    g_free(r);
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

bool run_result_feed(run_result_t *r, const char *line)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *o = parse_event(parser, line);
    if (!o)
        return false;
    const char *ev = member_str(o, "event");
    double t = member_double(o, "t_ms", NAN);
    set_str(&r->last_event, ev);
    if (strcmp(ev, "registered") == 0) {
        r->registered = true;
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
        r->agent_failed = true;
        set_str(&r->error, member_str(o, "reason") ? member_str(o, "reason") : "failed");
    } else if (strcmp(ev, "done") == 0) {
        r->done = true;
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

void run_result_finish(run_result_t *r, int status, const char *runner_error)
{
    r->outcome = RUN_OUTCOME_FAILED;
    g_autofree char *why = NULL;
    const char *last = r->last_event ? r->last_event : "none";
    if (runner_error)
        why = g_strdup(runner_error);
    else if (WIFSIGNALED(status))
        why = g_strdup_printf("the connecting agent was killed by signal %d (%s); last event: %s",
                              WTERMSIG(status), g_strsignal(WTERMSIG(status)), last);
    else if (!r->done)
        why = g_strdup_printf("the connecting agent exited with status %d before its done event; "
                              "last event: %s",
                              WEXITSTATUS(status), last);
    else if (r->agent_failed)
        why = g_strdup_printf("the agent failed: %s", r->error);
    else if (WEXITSTATUS(status) != 0 || r->delivered < r->sent)
        why = g_strdup_printf("%" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
                              " messages delivered (exit status %d)",
                              r->delivered, r->sent, WEXITSTATUS(status));
    else if (strcmp(r->path, "direct") == 0 || strcmp(r->path, "lan") == 0)
        r->outcome = RUN_OUTCOME_DIRECT;
    else if (strcmp(r->path, "relay") == 0)
        r->outcome = RUN_OUTCOME_RELAYED;
    else
        why = g_strdup_printf("data delivered, but the final path is '%s'", r->path);
    g_free(r->error);
    r->error = g_steal_pointer(&why);
    if (r->outcome != RUN_OUTCOME_DIRECT)
        set_str(&r->technique, "none");
}

/* ---- rows ----------------------------------------------------------------- */

static void add_str(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static void add_ms(JsonBuilder *b, const char *name, double value)
{
    json_builder_set_member_name(b, name);
    if (isnan(value))
        json_builder_add_null_value(b);
    else
        json_builder_add_double_value(b, round(value * 1000) / 1000); /* µs */
}

static void add_int(JsonBuilder *b, const char *name, int64_t value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

static void add_node(JsonBuilder *b, const char *name, JsonNode *value)
{
    json_builder_set_member_name(b, name);
    if (value)
        json_builder_add_value(b, json_node_copy(value));
    else
        json_builder_add_null_value(b);
}

JsonNode *run_result_to_json(const run_result_t *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    add_str(b, "scenario", r->scenario);
    add_int(b, "attempt", r->attempt);
    /* Seeds stay below 2^63 (scenario.c), so they fit JSON integers. */
    add_int(b, "seed", (int64_t)r->seed);
    add_str(b, "pair", r->pair);
    add_str(b, "nat_a", r->nat_a);
    add_str(b, "nat_b", r->nat_b);
    add_node(b, "profile_a", r->profile_a);
    add_node(b, "profile_b", r->profile_b);
    add_str(b, "outcome", run_outcome_name(r->outcome));
    add_str(b, "path", r->path);
    add_str(b, "technique", r->technique);
    add_ms(b, "time_to_first_byte_ms", r->time_to_first_byte_ms);
    add_ms(b, "time_to_direct_ms", r->time_to_direct_ms);
    add_int(b, "probes_sent", r->probes_sent);
    add_int(b, "path_changes", r->path_changes);
    add_int(b, "sent", r->sent);
    add_int(b, "delivered", r->delivered);
    add_str(b, "expected", r->expected);
    add_str(b, "started", r->started);
    add_ms(b, "duration_ms", r->duration_ms);
    add_str(b, "pcap", r->pcap);
    add_str(b, "error", r->error);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

char *run_result_to_line(const run_result_t *r)
{
    g_autoptr(JsonNode) root = run_result_to_json(r);
    g_autofree char *text = json_to_string(root, FALSE);
    return jsontidy_numbers(text);
}

static JsonNode *member_object(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);
    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_copy(n) : NULL;
}

run_result_t *run_result_from_json(JsonNode *row, GError **error)
{
    JsonObject *o = row && JSON_NODE_HOLDS_OBJECT(row) ? json_node_get_object(row) : NULL;
    run_outcome_t outcome;
    if (!o || !member_str(o, "scenario") || !run_outcome_parse(member_str(o, "outcome"), &outcome)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "not a results row: needs \"scenario\" and \"outcome\" (direct, relayed, failed)");
        return NULL;
    }
    run_result_t *r = run_result_new();
    r->outcome = outcome;
    set_str(&r->scenario, member_str(o, "scenario"));
    r->attempt = (unsigned)member_int(o, "attempt", 0);
    r->seed = (uint64_t)member_int(o, "seed", 0);
    set_str(&r->pair, member_str(o, "pair"));
    set_str(&r->nat_a, member_str(o, "nat_a"));
    set_str(&r->nat_b, member_str(o, "nat_b"));
    r->profile_a = member_object(o, "profile_a");
    r->profile_b = member_object(o, "profile_b");
    set_str(&r->path, member_str(o, "path"));
    set_str(&r->technique, member_str(o, "technique"));
    r->time_to_first_byte_ms = member_double(o, "time_to_first_byte_ms", NAN);
    r->time_to_direct_ms = member_double(o, "time_to_direct_ms", NAN);
    r->probes_sent = member_int(o, "probes_sent", 0);
    r->path_changes = member_int(o, "path_changes", 0);
    r->sent = member_int(o, "sent", 0);
    r->delivered = member_int(o, "delivered", 0);
    set_str(&r->expected, member_str(o, "expected"));
    set_str(&r->started, member_str(o, "started"));
    r->duration_ms = member_double(o, "duration_ms", NAN);
    set_str(&r->pcap, member_str(o, "pcap"));
    set_str(&r->error, member_str(o, "error"));
    return r;
}
