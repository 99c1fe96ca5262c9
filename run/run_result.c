#include "run_result.h"

#include <math.h>
#include <string.h>
#include <sys/wait.h>

void run_events_clear(run_events_t *e)
{
    g_clear_pointer(&e->last_event, g_free);
    g_clear_pointer(&e->malformed, g_free);
    e->registered = e->done = e->agent_failed = e->reported = false;
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
        /* With --turn only: which relay the relay path is, and what went through TURN. */
        set_str(&r->relay, member_str(o, "relay"));
        r->turn_sent = member_int(o, "turn_sent", r->turn_sent);
        r->turn_received = member_int(o, "turn_received", r->turn_received);
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

/* ---- other kinds' result lines (docs/agents.md) --------------------------- */

#define RESULT_LINE_SHOWN 160

/* A member that must be a number >= 0 (or null/absent: NAN, or `fallback`). */
static const char *kind_number(JsonObject *o, const char *name, double *out)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return NULL;
    GType t = JSON_NODE_HOLDS_VALUE(n) ? json_node_get_value_type(n) : G_TYPE_INVALID;
    if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64)
        return "is not a number";
    double v = json_node_get_double(n);
    if (!(v >= 0) || isinf(v))
        return "is negative";
    *out = v;
    return NULL;
}

static const char *kind_string(JsonObject *o, const char *name, const char **out)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return NULL;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return "is not a string";
    *out = json_node_get_string(n);
    return NULL;
}

static char *kind_check(JsonObject *o, result_t *r)
{
    const char *outcome = NULL, *path = NULL, *technique = NULL, *reason = NULL;
    double ttfb = NAN, ttd = NAN, sent = NAN, delivered = NAN;
    static const char *const strings[] = { "outcome", "path", "technique", "reason" };
    const char **svals[] = { &outcome, &path, &technique, &reason };
    for (unsigned i = 0; i < G_N_ELEMENTS(strings); i++) {
        const char *bad = kind_string(o, strings[i], svals[i]);
        if (bad)
            return g_strdup_printf("\"%s\" %s", strings[i], bad);
    }
    static const char *const numbers[] = { "time_to_first_byte_ms", "time_to_direct_ms", "sent",
                                           "delivered" };
    double *nvals[] = { &ttfb, &ttd, &sent, &delivered };
    for (unsigned i = 0; i < G_N_ELEMENTS(numbers); i++) {
        const char *bad = kind_number(o, numbers[i], nvals[i]);
        if (bad)
            return g_strdup_printf("\"%s\" %s", numbers[i], bad);
    }
    result_outcome_t oc;
    if (!outcome || !result_outcome_parse(outcome, &oc))
        return g_strdup_printf("\"outcome\" is %s%s%s; allowed: direct, relayed, failed",
                               outcome ? "\"" : "", outcome ? outcome : "null",
                               outcome ? "\"" : "");
    static const char *const paths[] = { "direct", "lan", "relay", "none", NULL };
    if (path && !g_strv_contains(paths, path))
        return g_strdup_printf("\"path\" is \"%s\"; allowed: direct, lan, relay, none", path);
    const char *want = oc == RESULT_DIRECT ? "direct" : oc == RESULT_RELAYED ? "relay" : "none";
    if (!path)
        path = want;
    bool fits = strcmp(path, want) == 0 || (oc == RESULT_DIRECT && strcmp(path, "lan") == 0) ||
                (oc == RESULT_FAILED);
    if (!fits)
        return g_strdup_printf("\"path\" \"%s\" does not go with outcome %s", path, outcome);
    if (!isnan(sent) && (sent != floor(sent) || (!isnan(delivered) && delivered != floor(delivered))))
        return g_strdup("\"sent\" and \"delivered\" count messages: whole numbers");
    if (!isnan(delivered) && delivered > (isnan(sent) ? 0 : sent))
        return g_strdup_printf("\"delivered\" (%.0f) is more than \"sent\" (%.0f)", delivered,
                               isnan(sent) ? 0 : sent);
    if (oc == RESULT_DIRECT && (!technique || !*technique || strcmp(technique, "none") == 0))
        return g_strdup("outcome direct needs \"technique\": how the direct path was made");
    if (oc == RESULT_DIRECT && isnan(ttd))
        return g_strdup("outcome direct needs \"time_to_direct_ms\"");
    r->outcome = oc;
    set_str(&r->path, path);
    set_str(&r->technique, technique);
    r->time_to_first_byte_ms = ttfb;
    r->time_to_direct_ms = ttd;
    r->sent = isnan(sent) ? 0 : (int64_t)sent;
    r->delivered = isnan(delivered) ? 0 : (int64_t)delivered;
    if (oc == RESULT_FAILED)
        set_str(&r->error, reason ? reason : "the stack said failed without a reason");
    return NULL;
}

bool run_result_feed_kind(result_t *r, run_events_t *e, const char *line)
{
    if (e->reported || !line)
        return false;
    g_autoptr(JsonParser) parser = json_parser_new();
    if (!json_parser_load_from_data(parser, line, -1, NULL))
        return false;
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root) ||
        !json_object_has_member(json_node_get_object(root), "outcome"))
        return false;
    e->reported = true;
    g_autofree char *why = kind_check(json_node_get_object(root), r);
    if (why) {
        size_t n = strlen(line);
        e->malformed = g_strdup_printf("%s: %.*s%s", why, (int)MIN(n, RESULT_LINE_SHOWN), line,
                                       n > RESULT_LINE_SHOWN ? "..." : "");
        r->outcome = RESULT_FAILED;
    }
    return true;
}

void run_result_finish_kind(result_t *r, const run_events_t *e, int status,
                            const char *runner_error, bool stopped_after_result)
{
    g_autofree char *why = NULL;
    if (e->malformed)
        why = g_strdup_printf("malformed result from the connecting peer: %s", e->malformed);
    else if (!e->reported && runner_error)
        why = g_strdup_printf("no result: %s", runner_error);
    else if (!e->reported && WIFSIGNALED(status))
        why = g_strdup_printf("no result: the connecting peer was killed by signal %d (%s)",
                              WTERMSIG(status), g_strsignal(WTERMSIG(status)));
    else if (!e->reported)
        why = g_strdup_printf("no result: the connecting peer exited with status %d without one",
                              WEXITSTATUS(status));
    else if (r->outcome == RESULT_FAILED)
        why = g_strdup_printf("the stack failed: %s", r->error);
    else if (!stopped_after_result && WIFSIGNALED(status))
        why = g_strdup_printf("the connecting peer was killed by signal %d (%s) after reporting %s",
                              WTERMSIG(status), g_strsignal(WTERMSIG(status)),
                              result_outcome_name(r->outcome));
    else if (!stopped_after_result && WEXITSTATUS(status) != 0)
        why = g_strdup_printf("the connecting peer exited with status %d after reporting %s",
                              WEXITSTATUS(status), result_outcome_name(r->outcome));
    else if (r->delivered < r->sent)
        why = g_strdup_printf("%" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " messages delivered",
                              r->delivered, r->sent);
    g_free(r->error);
    r->error = g_steal_pointer(&why);
    if (r->error)
        r->outcome = RESULT_FAILED;
    if (r->outcome != RESULT_DIRECT)
        set_str(&r->technique, "none");
    if (r->outcome == RESULT_FAILED)
        set_str(&r->path, "none");
}
