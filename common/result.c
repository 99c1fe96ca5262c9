#include "result.h"

#include "common/jsontidy.h"

#include <math.h>
#include <string.h>

G_DEFINE_QUARK(natlab-result-error-quark, result_error)

static const char *const outcome_names[RESULT_N_OUTCOMES] = { "direct", "relayed", "failed" };

const char *result_outcome_name(result_outcome_t o)
{
    return o < RESULT_N_OUTCOMES ? outcome_names[o] : "?";
}

bool result_outcome_parse(const char *text, result_outcome_t *out)
{
    for (unsigned i = 0; i < RESULT_N_OUTCOMES; i++)
        if (text && strcmp(text, outcome_names[i]) == 0) {
            *out = (result_outcome_t)i;
            return true;
        }
    return false;
}

const char *result_nat_name(const char *nat)
{
    return nat ? nat : "public";
}

const char *result_kind_name(const result_t *r)
{
    return r->kind ? r->kind : "natlab";
}

result_t *result_new(void)
{
    result_t *r = g_new0(result_t, 1);
    r->outcome = RESULT_FAILED;
    r->time_to_first_byte_ms = NAN;
    r->time_to_direct_ms = NAN;
    r->duration_ms = NAN;
    r->path = g_strdup("none");
    r->technique = g_strdup("none");
    return r;
}

void result_free(result_t *r)
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
    g_free(r->kind);
    g_free(r->kind_version);
    g_free(r->turn);
    g_free(r->relay);
    g_free(r->pcap);
    g_free(r->error);
    g_free(r);
}

/* ---- writing -------------------------------------------------------------- */

static void add_ms(JsonBuilder *b, const char *name, double value)
{
    jsontidy_add_double(b, name, isnan(value) ? NAN : round(value * 1000) / 1000); /* µs */
}

static void add_node(JsonBuilder *b, const char *name, JsonNode *value)
{
    json_builder_set_member_name(b, name);
    if (value)
        json_builder_add_value(b, json_node_copy(value));
    else
        json_builder_add_null_value(b);
}

JsonNode *result_to_json(const result_t *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    jsontidy_add_string(b, "scenario", r->scenario);
    /* natlab's own rows leave the kind out: they read as they always did. */
    if (r->kind) {
        jsontidy_add_string(b, "kind", r->kind);
        jsontidy_add_string(b, "kind_version", r->kind_version);
    }
    jsontidy_add_int(b, "attempt", r->attempt);
    /* Seeds stay below 2^63 (scenario.c), so they fit JSON integers. */
    jsontidy_add_int(b, "seed", (int64_t)r->seed);
    jsontidy_add_string(b, "pair", r->pair);
    jsontidy_add_string(b, "nat_a", r->nat_a);
    jsontidy_add_string(b, "nat_b", r->nat_b);
    add_node(b, "profile_a", r->profile_a);
    add_node(b, "profile_b", r->profile_b);
    jsontidy_add_string(b, "outcome", result_outcome_name(r->outcome));
    jsontidy_add_string(b, "path", r->path);
    jsontidy_add_string(b, "technique", r->technique);
    add_ms(b, "time_to_first_byte_ms", r->time_to_first_byte_ms);
    add_ms(b, "time_to_direct_ms", r->time_to_direct_ms);
    jsontidy_add_int(b, "probes_sent", r->probes_sent);
    jsontidy_add_int(b, "path_changes", r->path_changes);
    jsontidy_add_int(b, "sent", r->sent);
    jsontidy_add_int(b, "delivered", r->delivered);
    /* Rows of runs without TURN read as they always did. */
    if (r->turn) {
        jsontidy_add_string(b, "turn", r->turn);
        jsontidy_add_string(b, "relay", r->relay);
        jsontidy_add_int(b, "turn_sent", r->turn_sent);
        jsontidy_add_int(b, "turn_received", r->turn_received);
    }
    jsontidy_add_string(b, "expected", r->expected);
    jsontidy_add_string(b, "started", r->started);
    add_ms(b, "duration_ms", r->duration_ms);
    jsontidy_add_string(b, "pcap", r->pcap);
    jsontidy_add_string(b, "error", r->error);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

char *result_to_line(const result_t *r)
{
    g_autoptr(JsonNode) root = result_to_json(r);
    return jsontidy_line(root, NULL);
}

/* ---- reading -------------------------------------------------------------- */

bool result_profile_is_easy(const char *type, const char *mapping, bool *easy, const char **why)
{
    if (mapping) {
        if (strcmp(mapping, "endpoint-independent") == 0)
            *easy = true;
        else if (strcmp(mapping, "address-dependent") == 0 ||
                 strcmp(mapping, "address-and-port-dependent") == 0)
            *easy = false;
        else {
            *why = "\"mapping\" is none of endpoint-independent, address-dependent, "
                   "address-and-port-dependent";
            return false;
        }
        return true;
    }
    /* Without a mapping key the profile must say why: nothing is translated
     * (the host's own address is its mapped one) or no UDP passes at all. */
    if (type && (strcmp(type, "open") == 0 || strcmp(type, "firewall") == 0)) {
        *easy = true;
        return true;
    }
    if (type && strcmp(type, "blocked") == 0) {
        *easy = false;
        return true;
    }
    *why = "has no \"mapping\" and its \"type\" is not open, firewall or blocked";
    return false;
}

/* One row's checks, in the order a reader would make them. */
typedef struct row_ctx {
    const char *origin;
    int line;
    GError **error;
} row_ctx_t;

static bool fail(row_ctx_t *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static bool fail(row_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(c->error, RESULT_ERROR, RESULT_ERROR_PARSE, "%s:%d: %s", c->origin, c->line, why);
    return false;
}

static bool is_number(JsonNode *n)
{
    if (!n || !JSON_NODE_HOLDS_VALUE(n))
        return false;
    GType t = json_node_get_value_type(n);
    return t == G_TYPE_INT64 || t == G_TYPE_DOUBLE;
}

static bool is_string(JsonNode *n)
{
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING;
}

/* A string member: required or not, null allowed or not. *out NULL when null/absent. */
static bool get_string(row_ctx_t *c, JsonObject *o, const char *key, bool required,
                       bool nullable, const char **out)
{
    *out = NULL;
    JsonNode *n = json_object_get_member(o, key);
    if (!n) {
        if (required)
            return fail(c, "no \"%s\"", key);
        return true;
    }
    if (JSON_NODE_HOLDS_NULL(n)) {
        if (!nullable)
            return fail(c, "\"%s\" is null, want a string", key);
        return true;
    }
    if (!is_string(n))
        return fail(c, "\"%s\" is %s, want a string%s", key, jsontidy_node_kind(n),
                    nullable ? " or null" : "");
    *out = json_node_get_string(n);
    return true;
}

/* A number member >= 0, or null/absent (NAN). */
static bool get_ms(row_ctx_t *c, JsonObject *o, const char *key, double *out)
{
    *out = NAN;
    JsonNode *n = json_object_get_member(o, key);
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return true;
    if (!is_number(n))
        return fail(c, "\"%s\" is %s, want milliseconds (a number) or null", key,
                    jsontidy_node_kind(n));
    double v = json_node_get_double(n);
    if (!isfinite(v) || v < 0)
        return fail(c, "\"%s\" is %g, want a time >= 0 ms", key, v);
    *out = v;
    return true;
}

/* An integer member; *present false (and *out untouched) when null/absent. */
static bool get_int(row_ctx_t *c, JsonObject *o, const char *key, int64_t *out, bool *present)
{
    JsonNode *n = json_object_get_member(o, key);
    if (present)
        *present = false;
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return true;
    if (!is_number(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return fail(c, "\"%s\" is %s, want an integer", key, jsontidy_node_kind(n));
    *out = json_node_get_int(n);
    if (present)
        *present = true;
    return true;
}

/* Members that say how an attempt went but count for no figure: read as
 * they come, a value of another type as none (reports never refused them). */
static void loose_string(JsonObject *o, const char *key, char **field)
{
    JsonNode *n = json_object_get_member(o, key);
    if (is_string(n)) {
        g_free(*field);
        *field = g_strdup(json_node_get_string(n));
    }
}

static int64_t loose_int(JsonObject *o, const char *key)
{
    JsonNode *n = json_object_get_member(o, key);
    if (!is_number(n))
        return 0;
    return json_node_get_value_type(n) == G_TYPE_INT64 ? json_node_get_int(n)
                                                       : (int64_t)json_node_get_double(n);
}

static double loose_double(JsonObject *o, const char *key)
{
    JsonNode *n = json_object_get_member(o, key);
    return is_number(n) ? json_node_get_double(n) : NAN;
}

static bool get_side(row_ctx_t *c, JsonObject *o, const char *nat_key, const char *profile_key,
                     char **nat, JsonNode **profile, bool *easy)
{
    const char *name;
    if (!get_string(c, o, nat_key, true, true, &name))
        return false;
    if (name && !*name)
        return fail(c, "\"%s\" is empty", nat_key);
    JsonNode *p = json_object_get_member(o, profile_key);
    if (!p)
        return fail(c, "no \"%s\" (a profile object, or null for a public host)", profile_key);
    if (JSON_NODE_HOLDS_NULL(p)) {
        *easy = true;
    } else if (!JSON_NODE_HOLDS_OBJECT(p)) {
        return fail(c, "\"%s\" is %s, want a profile object or null", profile_key,
                    jsontidy_node_kind(p));
    } else {
        JsonObject *po = json_node_get_object(p);
        const char *type, *mapping, *why = NULL;
        if (!get_string(c, po, "type", false, false, &type) ||
            !get_string(c, po, "mapping", false, false, &mapping))
            return false;
        if (!result_profile_is_easy(type, mapping, easy, &why))
            return fail(c, "\"%s\" %s", profile_key, why);
        *profile = json_node_copy(p);
    }
    *nat = g_strdup(name);
    return true;
}

static bool parse_outcome(row_ctx_t *c, const char *s, result_outcome_t *out)
{
    if (result_outcome_parse(s, out))
        return true;
    return fail(c, "\"outcome\" is \"%s\", want direct, relayed or failed", s);
}

static bool parse_row(row_ctx_t *c, JsonObject *o, result_t *r)
{
    const char *scenario, *pair, *outcome, *technique, *pcap, *error, *kind, *kind_version;
    int64_t attempt = 0, seed = 0;
    bool has_attempt, has_seed;
    if (!get_string(c, o, "scenario", true, false, &scenario) ||
        !get_string(c, o, "outcome", true, false, &outcome) ||
        !parse_outcome(c, outcome, &r->outcome) ||
        !get_side(c, o, "nat_a", "profile_a", &r->nat_a, &r->profile_a, &r->easy_a) ||
        !get_side(c, o, "nat_b", "profile_b", &r->nat_b, &r->profile_b, &r->easy_b) ||
        !get_string(c, o, "pair", false, false, &pair) ||
        !get_string(c, o, "technique", r->outcome == RESULT_DIRECT, true, &technique) ||
        !get_ms(c, o, "time_to_direct_ms", &r->time_to_direct_ms) ||
        !get_ms(c, o, "time_to_first_byte_ms", &r->time_to_first_byte_ms) ||
        !get_int(c, o, "attempt", &attempt, &has_attempt) ||
        !get_int(c, o, "seed", &seed, &has_seed) ||
        !get_string(c, o, "pcap", false, true, &pcap) ||
        !get_string(c, o, "error", false, true, &error) ||
        !get_string(c, o, "kind", false, true, &kind) ||
        !get_string(c, o, "kind_version", false, true, &kind_version))
        return false;
    if (kind && !*kind)
        return fail(c, "\"kind\" is empty; want an agent kind's name, or no \"kind\" for natlab");
    loose_string(o, "path", &r->path);
    loose_string(o, "expected", &r->expected);
    loose_string(o, "started", &r->started);
    r->probes_sent = loose_int(o, "probes_sent");
    r->path_changes = loose_int(o, "path_changes");
    r->sent = loose_int(o, "sent");
    r->delivered = loose_int(o, "delivered");
    loose_string(o, "turn", &r->turn);
    loose_string(o, "relay", &r->relay);
    r->turn_sent = loose_int(o, "turn_sent");
    r->turn_received = loose_int(o, "turn_received");
    r->duration_ms = loose_double(o, "duration_ms");
    if (!*scenario)
        return fail(c, "\"scenario\" is empty");
    if (r->outcome == RESULT_DIRECT) {
        if (!technique || !*technique || strcmp(technique, "none") == 0)
            return fail(c, "outcome is direct but \"technique\" is %s%s%s",
                        technique ? "\"" : "", technique ? technique : "null",
                        technique ? "\"" : "");
        if (isnan(r->time_to_direct_ms))
            return fail(c, "outcome is direct but \"time_to_direct_ms\" is null or absent");
    }
    if (pcap && (!*pcap || g_path_is_absolute(pcap)))
        return fail(c, "\"pcap\" is \"%s\", want a path relative to the results file's directory",
                    pcap);
    r->attempt = (unsigned)attempt;
    r->seed = (uint64_t)seed;
    /* A negative attempt or seed says as little as none. */
    r->has = (has_attempt && attempt >= 0 ? RESULT_HAS_ATTEMPT : 0) |
             (has_seed && seed >= 0 ? RESULT_HAS_SEED : 0);
    r->scenario = g_strdup(scenario);
    r->pair = pair ? g_strdup(pair)
                   : g_strdup_printf("%s/%s", result_nat_name(r->nat_a), result_nat_name(r->nat_b));
    g_free(r->technique);
    r->technique = g_strdup(r->outcome == RESULT_DIRECT ? technique : "none");
    r->pcap = g_strdup(pcap);
    r->error = g_strdup(error);
    /* "natlab" said out loud is the same as saying nothing. */
    r->kind = kind && strcmp(kind, "natlab") != 0 ? g_strdup(kind) : NULL;
    r->kind_version = g_strdup(kind_version);
    return true;
}

result_t *result_from_line(JsonParser *parser, const char *text, size_t len, bool last,
                           const char *origin, int line, GError **error)
{
    row_ctx_t c = { origin, line, error };
    if (len == 0) {
        fail(&c, "empty line; want one JSON object per line");
        return NULL;
    }
    if (memchr(text, '\0', len) || !g_utf8_validate(text, (gssize)len, NULL)) {
        fail(&c, "not UTF-8 text");
        return NULL;
    }
    g_autoptr(GError) jerr = NULL;
    if (!json_parser_load_from_data(parser, text, (gssize)len, &jerr)) {
        /* json-glib says "<data>:1:COL: Parse error: ..."; keep what follows. */
        const char *msg = strstr(jerr->message, ": ");
        msg = msg ? strstr(msg + 2, ": ") : NULL;
        fail(&c, "not valid JSON: %s%s", msg ? msg + 2 : jerr->message,
             last ? " (the last line; was the file cut short?)" : "");
        return NULL;
    }
    return result_from_json(json_parser_get_root(parser), origin, line, error);
}

result_t *result_from_json(JsonNode *row, const char *origin, int line, GError **error)
{
    row_ctx_t c = { origin, line, error };
    if (!row || !JSON_NODE_HOLDS_OBJECT(row)) {
        fail(&c, "%s, want one JSON object per line", jsontidy_node_kind(row));
        return NULL;
    }
    result_t *r = result_new();
    if (!parse_row(&c, json_node_get_object(row), r)) {
        result_free(r);
        return NULL;
    }
    return r;
}
