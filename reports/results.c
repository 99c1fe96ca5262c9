#include "results.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

G_DEFINE_QUARK(natlab-results-error-quark, results_error)

static const char *const outcome_names[RESULT_N_OUTCOMES] = { "direct", "relayed", "failed" };

const char *result_outcome_name(result_outcome_t o)
{
    return o < RESULT_N_OUTCOMES ? outcome_names[o] : "?";
}

static void attempt_free(gpointer p)
{
    result_attempt_t *a = p;
    if (!a)
        return;
    g_free(a->scenario);
    g_free(a->pair);
    g_free(a->nat_a);
    g_free(a->nat_b);
    g_free(a->technique);
    g_free(a->pcap);
    g_free(a->error);
    g_free(a->pcap_href);
    g_free(a);
}

results_t *results_new(void)
{
    results_t *r = g_new0(results_t, 1);
    r->attempts = g_ptr_array_new_with_free_func(attempt_free);
    r->origins = g_ptr_array_new_with_free_func(g_free);
    r->dirs = g_ptr_array_new_with_free_func(g_free);
    r->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return r;
}

void results_free(results_t *r)
{
    if (!r)
        return;
    if (r->attempts)
        g_ptr_array_free(r->attempts, TRUE);
    if (r->origins)
        g_ptr_array_free(r->origins, TRUE);
    if (r->dirs)
        g_ptr_array_free(r->dirs, TRUE);
    if (r->seen)
        g_hash_table_destroy(r->seen);
    g_free(r);
}

bool results_profile_is_easy(const char *type, const char *mapping, bool *easy, const char **why)
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

/* One line's checks, in the order a reader would make them. */
typedef struct line_ctx {
    const char *origin;
    int line;
    GError **error;
} line_ctx_t;

static bool fail(line_ctx_t *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static bool fail(line_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(c->error, RESULTS_ERROR, RESULTS_ERROR_PARSE, "%s:%d: %s", c->origin, c->line, why);
    return false;
}

static const char *node_kind(JsonNode *n)
{
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return "null";
    if (JSON_NODE_HOLDS_OBJECT(n))
        return "an object";
    if (JSON_NODE_HOLDS_ARRAY(n))
        return "an array";
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_STRING)
        return "a string";
    if (t == G_TYPE_BOOLEAN)
        return "a boolean";
    return "a number";
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
static bool get_string(line_ctx_t *c, JsonObject *o, const char *key, bool required,
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
        return fail(c, "\"%s\" is %s, want a string%s", key, node_kind(n),
                    nullable ? " or null" : "");
    *out = json_node_get_string(n);
    return true;
}

/* A number member >= 0, or null/absent (NAN). */
static bool get_ms(line_ctx_t *c, JsonObject *o, const char *key, double *out)
{
    *out = NAN;
    JsonNode *n = json_object_get_member(o, key);
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return true;
    if (!is_number(n))
        return fail(c, "\"%s\" is %s, want milliseconds (a number) or null", key, node_kind(n));
    double v = json_node_get_double(n);
    if (!isfinite(v) || v < 0)
        return fail(c, "\"%s\" is %g, want a time >= 0 ms", key, v);
    *out = v;
    return true;
}

static bool get_int(line_ctx_t *c, JsonObject *o, const char *key, int64_t *out)
{
    *out = -1;
    JsonNode *n = json_object_get_member(o, key);
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return true;
    if (!is_number(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return fail(c, "\"%s\" is %s, want an integer", key, node_kind(n));
    *out = json_node_get_int(n);
    return true;
}

static bool get_side(line_ctx_t *c, JsonObject *o, const char *nat_key, const char *profile_key,
                     char **nat, bool *easy)
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
        return fail(c, "\"%s\" is %s, want a profile object or null", profile_key, node_kind(p));
    } else {
        JsonObject *po = json_node_get_object(p);
        const char *type, *mapping, *why = NULL;
        if (!get_string(c, po, "type", false, false, &type) ||
            !get_string(c, po, "mapping", false, false, &mapping))
            return false;
        if (!results_profile_is_easy(type, mapping, easy, &why))
            return fail(c, "\"%s\" %s", profile_key, why);
    }
    *nat = g_strdup(name ? name : "public");
    return true;
}

static bool parse_outcome(line_ctx_t *c, const char *s, result_outcome_t *out)
{
    for (int i = 0; i < RESULT_N_OUTCOMES; i++) {
        if (strcmp(s, outcome_names[i]) == 0) {
            *out = (result_outcome_t)i;
            return true;
        }
    }
    return fail(c, "\"outcome\" is \"%s\", want direct, relayed or failed", s);
}

static bool parse_attempt(line_ctx_t *c, JsonObject *o, result_attempt_t *a)
{
    const char *scenario, *pair, *outcome, *technique, *pcap, *error;
    if (!get_string(c, o, "scenario", true, false, &scenario) ||
        !get_string(c, o, "outcome", true, false, &outcome) ||
        !parse_outcome(c, outcome, &a->outcome) ||
        !get_side(c, o, "nat_a", "profile_a", &a->nat_a, &a->easy_a) ||
        !get_side(c, o, "nat_b", "profile_b", &a->nat_b, &a->easy_b) ||
        !get_string(c, o, "pair", false, false, &pair) ||
        !get_string(c, o, "technique", a->outcome == RESULT_DIRECT, true, &technique) ||
        !get_ms(c, o, "time_to_direct_ms", &a->time_to_direct_ms) ||
        !get_ms(c, o, "time_to_first_byte_ms", &a->time_to_first_byte_ms) ||
        !get_int(c, o, "attempt", &a->attempt) || !get_int(c, o, "seed", &a->seed) ||
        !get_string(c, o, "pcap", false, true, &pcap) ||
        !get_string(c, o, "error", false, true, &error))
        return false;
    if (!*scenario)
        return fail(c, "\"scenario\" is empty");
    if (a->outcome == RESULT_DIRECT) {
        if (!technique || !*technique || strcmp(technique, "none") == 0)
            return fail(c, "outcome is direct but \"technique\" is %s%s%s",
                        technique ? "\"" : "", technique ? technique : "null",
                        technique ? "\"" : "");
        if (isnan(a->time_to_direct_ms))
            return fail(c, "outcome is direct but \"time_to_direct_ms\" is null or absent");
    }
    if (pcap && (!*pcap || g_path_is_absolute(pcap)))
        return fail(c, "\"pcap\" is \"%s\", want a path relative to the results file's directory",
                    pcap);
    a->scenario = g_strdup(scenario);
    a->pair = pair ? g_strdup(pair) : g_strdup_printf("%s/%s", a->nat_a, a->nat_b);
    a->technique = g_strdup(a->outcome == RESULT_DIRECT ? technique : "none");
    a->pcap = g_strdup(pcap);
    a->error = g_strdup(error);
    return true;
}

/* The same record twice (a shard passed twice, or copied into two
 * directories) would count twice; only records that say which attempt they
 * are can be told apart, so only those are checked. */
static char *attempt_identity(JsonObject *o, const result_attempt_t *a)
{
    if (a->attempt < 0)
        return NULL;
    const char *started = NULL;
    JsonNode *n = json_object_get_member(o, "started");
    if (is_string(n))
        started = json_node_get_string(n);
    return g_strdup_printf("%s\x1f%s\x1f%" G_GINT64_FORMAT "\x1f%" G_GINT64_FORMAT "\x1f%s",
                           a->scenario, a->pair, a->attempt, a->seed, started ? started : "");
}

bool results_add_data(results_t *r, const char *data, size_t len, const char *origin,
                      const char *dir, GError **error)
{
    char *kept_origin = g_strdup(origin);
    char *kept_dir = g_strdup(dir ? dir : ".");
    g_ptr_array_add(r->origins, kept_origin);
    g_ptr_array_add(r->dirs, kept_dir);
    guint first_new = r->attempts->len;
    g_autoptr(GPtrArray) new_keys = g_ptr_array_new();
    g_autoptr(JsonParser) parser = json_parser_new();
    line_ctx_t c = { kept_origin, 0, error };
    bool ok = true;

    for (size_t pos = 0; pos < len && ok;) {
        const char *start = data + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl ? 1 : 0);
        c.line++;
        if (n > 0 && start[n - 1] == '\r')
            n--;
        if (n == 0) {
            ok = fail(&c, "empty line; want one JSON object per line");
            break;
        }
        if (memchr(start, '\0', n) || !g_utf8_validate(start, (gssize)n, NULL)) {
            ok = fail(&c, "not UTF-8 text");
            break;
        }
        g_autoptr(GError) jerr = NULL;
        if (!json_parser_load_from_data(parser, start, (gssize)n, &jerr)) {
            /* json-glib says "<data>:1:COL: Parse error: ..."; keep what follows. */
            const char *msg = strstr(jerr->message, ": ");
            msg = msg ? strstr(msg + 2, ": ") : NULL;
            ok = fail(&c, "not valid JSON: %s%s", msg ? msg + 2 : jerr->message,
                      nl ? "" : " (the last line; was the file cut short?)");
            break;
        }
        JsonNode *root = json_parser_get_root(parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
            ok = fail(&c, "%s, want one JSON object per line", node_kind(root));
            break;
        }
        JsonObject *o = json_node_get_object(root);
        result_attempt_t *a = g_new0(result_attempt_t, 1);
        a->origin = kept_origin;
        a->dir = kept_dir;
        a->line = c.line;
        if (!parse_attempt(&c, o, a)) {
            attempt_free(a);
            ok = false;
            break;
        }
        char *id = attempt_identity(o, a);
        if (id) {
            const char *where = g_hash_table_lookup(r->seen, id);
            if (where) {
                g_set_error(error, RESULTS_ERROR, RESULTS_ERROR_DUPLICATE,
                            "%s:%d: the same attempt as %s (scenario %s, pair %s, attempt %"
                            G_GINT64_FORMAT "); is a shard given twice?",
                            kept_origin, c.line, where, a->scenario, a->pair, a->attempt);
                g_free(id);
                attempt_free(a);
                ok = false;
                break;
            }
            g_hash_table_insert(r->seen, id, g_strdup_printf("%s:%d", kept_origin, c.line));
            g_ptr_array_add(new_keys, id);
        }
        g_ptr_array_add(r->attempts, a);
    }
    if (!ok) {
        for (guint i = 0; i < new_keys->len; i++)
            g_hash_table_remove(r->seen, new_keys->pdata[i]);
        g_ptr_array_remove_range(r->attempts, first_new, r->attempts->len - first_new);
        g_ptr_array_remove_index(r->origins, r->origins->len - 1);
        g_ptr_array_remove_index(r->dirs, r->dirs->len - 1);
    }
    return ok;
}

bool results_add_path(results_t *r, const char *path, GError **error)
{
    g_autofree char *file = NULL;
    g_autofree char *dir = NULL;
    if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
        file = g_build_filename(path, "results.jsonl", NULL);
        dir = g_strdup(path);
    } else {
        file = g_strdup(path);
        dir = g_path_get_dirname(path);
    }
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) ferr = NULL;
    if (!g_file_get_contents(file, &data, &len, &ferr)) {
        g_set_error(error, RESULTS_ERROR, RESULTS_ERROR_READ, "%s", ferr->message);
        return false;
    }
    return results_add_data(r, data, len, file, dir, error);
}
