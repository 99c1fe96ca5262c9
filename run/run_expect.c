#include "run_expect.h"

#include <math.h>
#include <string.h>

#include "common/duration.h"
#include "run_stats.h"

typedef enum expect_kind { KIND_OUTCOME, KIND_RATE, KIND_TECHNIQUE, KIND_METRIC } expect_kind_t;
typedef enum expect_op { OP_EQ, OP_LE, OP_GE } expect_op_t;
typedef enum metric {
    METRIC_TIME_TO_DIRECT,
    METRIC_TIME_TO_FIRST_BYTE,
    METRIC_DURATION,
    METRIC_PROBES_SENT,
    METRIC_PATH_CHANGES,
} metric_t;

#define STAT_EVERY (-1.0) /* no suffix: every attempt */
#define STAT_MEAN (-2.0)
#define STAT_MIN (-3.0)

struct run_expect {
    expect_kind_t kind;
    expect_op_t op;
    metric_t metric;
    double stat;  /* percentile 0..100, or STAT_* */
    double value; /* a rate 0..1, milliseconds, or a count */
    char **techniques;
    char *text;
};

static const struct {
    const char *name;
    bool is_time;
} metrics[] = {
    [METRIC_TIME_TO_DIRECT] = { "time-to-direct", true },
    [METRIC_TIME_TO_FIRST_BYTE] = { "time-to-first-byte", true },
    [METRIC_DURATION] = { "duration", true },
    [METRIC_PROBES_SENT] = { "probes-sent", false },
    [METRIC_PATH_CHANGES] = { "path-changes", false },
};

static const struct {
    const char *suffix;
    double stat;
} stats[] = {
    { "-p50", 50 }, { "-p90", 90 }, { "-p95", 95 },         { "-p99", 99 },
    { "-max", 100 }, { "-min", STAT_MIN }, { "-mean", STAT_MEAN },
};

static const char *const outcome_names[] = { "direct", "relayed", "failed", "any", NULL };
static const char *const techniques[] = { "punch", "predicted", "birthday", "port-mapped",
                                          "lan",   "hairpin",   "tcp-punch", NULL };

#define ALLOWED_KEYS                                                                          \
    "outcome = direct|relayed|failed|any, success-rate >= RATE, technique = NAME[, NAME], "  \
    "time-to-direct[-STAT] <= DURATION, time-to-first-byte[-STAT], duration[-STAT], "         \
    "probes-sent[-STAT], path-changes[-STAT] (STAT: p50 p90 p95 p99 min mean max)"

run_expectations_t *run_expectations_new(void)
{
    run_expectations_t *set = g_new0(run_expectations_t, 1);
    set->outcome = RUN_EXPECT_ANY;
    set->items = g_ptr_array_new();
    return set;
}

static void expect_free(run_expect_t *e)
{
    g_strfreev(e->techniques);
    g_free(e->text);
    g_free(e);
}

void run_expectations_free(run_expectations_t *set)
{
    if (!set)
        return;
    for (guint i = 0; set->items && i < set->items->len; i++)
        expect_free(g_ptr_array_index(set->items, i));
    if (set->items)
        g_ptr_array_free(set->items, TRUE);
    g_free(set);
}

const char *run_expect_outcome_name(run_expect_outcome_t o)
{
    return outcome_names[o];
}

bool run_expect_outcome_matches(run_expect_outcome_t expected, result_outcome_t outcome)
{
    switch (expected) {
    case RUN_EXPECT_DIRECT:
        return outcome == RESULT_DIRECT;
    case RUN_EXPECT_RELAYED:
        return outcome == RESULT_RELAYED;
    case RUN_EXPECT_FAILED:
        return outcome == RESULT_FAILED;
    case RUN_EXPECT_ANY:
        break;
    }
    return outcome != RESULT_FAILED;
}

/* "success-rate >" + "0.95" -> name "success-rate", op >=, value "0.95". */
static char *split_key(const char *key, const char *value, expect_op_t *op, const char **rest)
{
    g_autofree char *k = g_strstrip(g_strdup(key));
    size_t n = strlen(k);
    *op = OP_EQ;
    *rest = value;
    if (n > 0 && (k[n - 1] == '>' || k[n - 1] == '<')) {
        *op = k[n - 1] == '>' ? OP_GE : OP_LE;
        k[n - 1] = '\0';
    } else if (g_str_has_prefix(value, ">=") || g_str_has_prefix(value, "<=")) {
        *op = value[0] == '>' ? OP_GE : OP_LE;
        *rest = value + 2;
    }
    while (g_ascii_isspace(**rest))
        (*rest)++;
    return g_strstrip(g_steal_pointer(&k));
}

char *run_expect_line(const char *key, const char *value)
{
    expect_op_t op;
    const char *rest;
    g_autofree char *name = split_key(key, value, &op, &rest);
    return g_strdup_printf("%s %s %s", name, op == OP_GE ? ">=" : op == OP_LE ? "<=" : "=", rest);
}

static bool parse_rate(const char *text, double *out)
{
    char *end = NULL;
    double v = g_ascii_strtod(text, &end);
    if (end == text)
        return false;
    if (*end == '%') {
        v /= 100;
        end++;
    }
    if (*end != '\0' || !(v >= 0 && v <= 1))
        return false;
    *out = v;
    return true;
}

static bool parse_metric(const char *name, run_expect_t *e)
{
    for (unsigned m = 0; m < G_N_ELEMENTS(metrics); m++) {
        size_t len = strlen(metrics[m].name);
        if (strncmp(name, metrics[m].name, len) != 0)
            continue;
        const char *suffix = name + len;
        if (*suffix == '\0') {
            e->metric = (metric_t)m;
            e->stat = STAT_EVERY;
            return true;
        }
        for (unsigned s = 0; s < G_N_ELEMENTS(stats); s++)
            if (strcmp(suffix, stats[s].suffix) == 0) {
                e->metric = (metric_t)m;
                e->stat = stats[s].stat;
                return true;
            }
    }
    return false;
}

bool run_expectations_add(run_expectations_t *set, const char *key, const char *value, char **why)
{
    expect_op_t op;
    const char *rest;
    g_autofree char *name = split_key(key, value, &op, &rest);
    run_expect_t *e = g_new0(run_expect_t, 1);
    e->op = op;
    e->text = run_expect_line(key, value);
    if (strcmp(name, "outcome") == 0) {
        e->kind = KIND_OUTCOME;
        int i = 0;
        while (outcome_names[i] && strcmp(outcome_names[i], rest) != 0)
            i++;
        if (op != OP_EQ || !outcome_names[i]) {
            *why = g_strdup("allowed: outcome = direct, relayed, failed or any (direct or relayed)");
            goto fail;
        }
        set->outcome = (run_expect_outcome_t)i;
    } else if (strcmp(name, "success-rate") == 0) {
        e->kind = KIND_RATE;
        if (op == OP_EQ || !parse_rate(rest, &e->value)) {
            *why = g_strdup("allowed: success-rate >= RATE or <= RATE, RATE from 0 to 1 or a "
                            "percentage (0.95, 95%)");
            goto fail;
        }
    } else if (strcmp(name, "technique") == 0) {
        e->kind = KIND_TECHNIQUE;
        e->techniques = g_strsplit(rest, ",", -1);
        bool ok = op == OP_EQ && e->techniques[0];
        for (int i = 0; ok && e->techniques[i]; i++) {
            g_strstrip(e->techniques[i]);
            ok = g_strv_contains(techniques, e->techniques[i]);
        }
        if (!ok) {
            g_autofree char *list = g_strjoinv(", ", (char **)techniques);
            *why = g_strdup_printf("allowed: technique = NAME[, NAME...], NAME one of %s", list);
            goto fail;
        }
    } else if (parse_metric(name, e)) {
        e->kind = KIND_METRIC;
        bool ok = op != OP_EQ;
        if (ok && metrics[e->metric].is_time) {
            usec_t us;
            ok = duration_parse(rest, &us);
            e->value = (double)us / USEC_PER_MSEC;
        } else if (ok) {
            guint64 v;
            ok = g_ascii_string_to_unsigned(rest, 10, 0, G_MAXINT32, &v, NULL);
            e->value = (double)v;
        }
        if (!ok) {
            *why = metrics[e->metric].is_time
                       ? g_strdup_printf("allowed: %s <= DURATION or >= DURATION (%s)", name,
                                         DURATION_UNITS)
                       : g_strdup_printf("allowed: %s <= COUNT or >= COUNT", name);
            goto fail;
        }
    } else {
        *why = g_strdup("unknown expectation; allowed: " ALLOWED_KEYS);
        goto fail;
    }
    g_ptr_array_add(set->items, e);
    return true;
fail:
    expect_free(e);
    return false;
}

/* ---- judging ---------------------------------------------------------------- */

static char *format_value(metric_t m, double v)
{
    if (!metrics[m].is_time)
        return g_strdup_printf("%.0f", v);
    if (v < 1000)
        return g_strdup_printf("%.0f ms", v);
    return g_strdup_printf("%.2f s", v / 1000);
}

/* " (#2 relayed, #4 failed: why)" for the attempts that did not match. */
static char *misses(const run_expectations_t *set, result_t *const *results, size_t n)
{
    GString *s = g_string_new(NULL);
    unsigned shown = 0;
    for (size_t i = 0; i < n; i++) {
        const result_t *r = results[i];
        if (run_expect_outcome_matches(set->outcome, r->outcome))
            continue;
        if (shown++ == 3) {
            g_string_append(s, ", ...");
            break;
        }
        g_string_append_printf(s, "%s#%u %s", shown > 1 ? ", " : ": ", r->attempt,
                               result_outcome_name(r->outcome));
        if (r->error)
            g_string_append_printf(s, " (%s)", r->error);
    }
    return g_string_free(s, FALSE);
}

static unsigned matching(const run_expectations_t *set, result_t *const *results, size_t n)
{
    unsigned k = 0;
    for (size_t i = 0; i < n; i++)
        k += run_expect_outcome_matches(set->outcome, results[i]->outcome);
    return k;
}

static const char *outcome_words(run_expect_outcome_t o)
{
    return o == RUN_EXPECT_ANY ? "delivered their data (direct or relayed)"
                               : o == RUN_EXPECT_DIRECT ? "went direct"
                               : o == RUN_EXPECT_RELAYED ? "were relayed"
                                                         : "failed";
}

static run_verdict_t *verdict(bool ok, char *line)
{
    run_verdict_t *v = g_new0(run_verdict_t, 1);
    v->ok = ok;
    v->line = line;
    return v;
}

static run_verdict_t *judge_outcome(const run_expectations_t *set, result_t *const *results,
                                    size_t n)
{
    unsigned k = matching(set, results, n);
    g_autofree char *miss = misses(set, results, n);
    return verdict(n > 0 && k == n,
                   g_strdup_printf("outcome = %s: %u of %zu attempts %s%s",
                                   run_expect_outcome_name(set->outcome), k, n,
                                   outcome_words(set->outcome), miss));
}

static run_verdict_t *judge_rate(const run_expectations_t *set, const run_expect_t *e,
                                 result_t *const *results, size_t n)
{
    unsigned k = matching(set, results, n);
    double rate = n ? (double)k / (double)n : 0;
    /* Compare counts, not floats: 19 of 20 meets 0.95 exactly. */
    bool ok = n > 0 && (e->op == OP_GE ? (double)k >= e->value * (double)n - 1e-9
                                       : (double)k <= e->value * (double)n + 1e-9);
    g_autofree char *miss = ok ? g_strdup("") : misses(set, results, n);
    return verdict(ok, g_strdup_printf("%s: %u of %zu attempts (%.0f%%) %s%s", e->text, k, n,
                                       rate * 100, outcome_words(set->outcome), miss));
}

static run_verdict_t *judge_technique(const run_expect_t *e, result_t *const *results, size_t n)
{
    unsigned direct = 0;
    for (size_t i = 0; i < n; i++) {
        const result_t *r = results[i];
        if (r->outcome != RESULT_DIRECT)
            continue;
        direct++;
        if (!g_strv_contains((const char *const *)e->techniques, r->technique))
            return verdict(false, g_strdup_printf("%s: attempt %u went direct by %s", e->text,
                                                  r->attempt, r->technique));
    }
    if (direct == 0)
        return verdict(false, g_strdup_printf("%s: no attempt went direct", e->text));
    return verdict(true, g_strdup_printf("%s: all %u direct attempts", e->text, direct));
}

static bool metric_value(const result_t *r, metric_t m, double *out)
{
    switch (m) {
    case METRIC_TIME_TO_DIRECT:
        *out = r->outcome == RESULT_DIRECT ? r->time_to_direct_ms : NAN;
        break;
    case METRIC_TIME_TO_FIRST_BYTE:
        *out = r->outcome != RESULT_FAILED ? r->time_to_first_byte_ms : NAN;
        break;
    case METRIC_DURATION:
        *out = r->duration_ms;
        break;
    case METRIC_PROBES_SENT:
        *out = (double)r->probes_sent;
        break;
    case METRIC_PATH_CHANGES:
        *out = (double)r->path_changes;
        break;
    }
    return !isnan(*out);
}

static run_verdict_t *judge_metric(const run_expect_t *e, result_t *const *results, size_t n)
{
    g_autofree double *values = g_new0(double, n ? n : 1);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (metric_value(results[i], e->metric, &values[m]))
            m++;
    if (m == 0) {
        const char *none = e->metric == METRIC_TIME_TO_DIRECT       ? "no attempt went direct"
                           : e->metric == METRIC_TIME_TO_FIRST_BYTE ? "no attempt delivered data"
                                                                    : "no attempts";
        return verdict(false, g_strdup_printf("%s: %s", e->text, none));
    }
    double stat = e->stat;
    if (stat == STAT_EVERY)
        stat = e->op == OP_LE ? 100 : STAT_MIN;
    double v = stat == STAT_MEAN  ? run_stats_mean(values, m)
               : stat == STAT_MIN ? run_stats_min(values, m)
                                  : run_stats_percentile(values, m, stat);
    bool ok = e->op == OP_LE ? v <= e->value : v >= e->value;
    g_autofree char *shown = format_value(e->metric, v);
    const char *what = stat == STAT_MEAN ? "mean" : stat == STAT_MIN ? "min" : stat == 100 ? "max" : "p";
    g_autofree char *label = stat >= 0 && stat < 100 ? g_strdup_printf("p%.0f", stat)
                                                     : g_strdup(what);
    return verdict(ok, g_strdup_printf("%s: %s %s over %zu attempt%s", e->text, label, shown, m,
                                       m == 1 ? "" : "s"));
}

GPtrArray *run_expectations_judge(const run_expectations_t *set, result_t *const *results,
                                  size_t n)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)run_verdict_free);
    bool has_rate = false;
    for (guint i = 0; i < set->items->len; i++)
        has_rate |= ((run_expect_t *)g_ptr_array_index(set->items, i))->kind == KIND_RATE;
    if (!has_rate)
        g_ptr_array_add(out, judge_outcome(set, results, n));
    for (guint i = 0; i < set->items->len; i++) {
        const run_expect_t *e = g_ptr_array_index(set->items, i);
        switch (e->kind) {
        case KIND_OUTCOME:
            break; /* judged above, or through success-rate */
        case KIND_RATE:
            g_ptr_array_add(out, judge_rate(set, e, results, n));
            break;
        case KIND_TECHNIQUE:
            g_ptr_array_add(out, judge_technique(e, results, n));
            break;
        case KIND_METRIC:
            g_ptr_array_add(out, judge_metric(e, results, n));
            break;
        }
    }
    return out;
}

void run_verdict_free(run_verdict_t *v)
{
    if (!v)
        return;
    g_free(v->line);
    g_free(v);
}
