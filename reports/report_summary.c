#include "report_summary.h"

#include <math.h>
#include <string.h>

/* A small JSON writer: objects and arrays, two-space indent. */
typedef struct jw {
    GString *out;
    int depth;
    bool first; /* no member yet at this depth */
} jw_t;

static void jw_newline(jw_t *w)
{
    g_string_append_c(w->out, '\n');
    for (int i = 0; i < w->depth; i++)
        g_string_append(w->out, "  ");
}

static void jw_string(jw_t *w, const char *s)
{
    g_string_append_c(w->out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': g_string_append(w->out, "\\\""); break;
        case '\\': g_string_append(w->out, "\\\\"); break;
        case '\n': g_string_append(w->out, "\\n"); break;
        case '\t': g_string_append(w->out, "\\t"); break;
        case '\r': g_string_append(w->out, "\\r"); break;
        default:
            if (*p < 0x20)
                g_string_append_printf(w->out, "\\u%04x", *p);
            else
                g_string_append_c(w->out, (char)*p);
        }
    }
    g_string_append_c(w->out, '"');
}

/* Starts a member (key != NULL) or an array element. */
static void jw_item(jw_t *w, const char *key)
{
    if (!w->first)
        g_string_append_c(w->out, ',');
    w->first = false;
    jw_newline(w);
    if (key) {
        jw_string(w, key);
        g_string_append(w->out, ": ");
    }
}

static void jw_open(jw_t *w, const char *key, char bracket)
{
    if (w->depth > 0 || key)
        jw_item(w, key);
    g_string_append_c(w->out, bracket);
    w->depth++;
    w->first = true;
}

static void jw_close(jw_t *w, char bracket)
{
    w->depth--;
    if (!w->first)
        jw_newline(w);
    g_string_append_c(w->out, bracket);
    w->first = false;
}

static void jw_str(jw_t *w, const char *key, const char *v)
{
    jw_item(w, key);
    if (v)
        jw_string(w, v);
    else
        g_string_append(w->out, "null");
}

static void jw_size(jw_t *w, const char *key, size_t v)
{
    jw_item(w, key);
    g_string_append_printf(w->out, "%zu", v);
}

/* Shares to 4 decimals and milliseconds to 3: more would be noise. */
static void jw_num(jw_t *w, const char *key, const char *format, double v)
{
    jw_item(w, key);
    if (!isfinite(v)) {
        g_string_append(w->out, "null");
        return;
    }
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    report_stats_fmt(buf, sizeof buf, format, v);
    /* Trailing zeros say nothing: 0.5000 -> 0.5, 2.000 -> 2. */
    if (strchr(buf, '.')) {
        size_t n = strlen(buf);
        while (n > 0 && buf[n - 1] == '0')
            buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '.')
            buf[--n] = '\0';
    }
    if (strcmp(buf, "-0") == 0)
        strcpy(buf, "0");
    g_string_append(w->out, buf);
}

#define SHARE "%.4f"
#define MS "%.3f"

static void jw_agg(jw_t *w, const report_agg_t *a)
{
    jw_size(w, "attempts", a->attempts);
    jw_size(w, "direct", a->outcomes[RESULT_DIRECT]);
    jw_size(w, "relayed", a->outcomes[RESULT_RELAYED]);
    jw_size(w, "failed", a->outcomes[RESULT_FAILED]);
    jw_num(w, "direct_rate", SHARE, report_agg_rate(a, RESULT_DIRECT));
    jw_num(w, "relayed_rate", SHARE, report_agg_rate(a, RESULT_RELAYED));
    jw_num(w, "failed_rate", SHARE, report_agg_rate(a, RESULT_FAILED));
    jw_num(w, "time_to_direct_p50_ms", MS, a->p50);
    jw_num(w, "time_to_direct_p95_ms", MS, a->p95);
}

static void jw_pairs(jw_t *w, const GPtrArray *pairs)
{
    jw_open(w, "pairs", '[');
    for (guint i = 0; i < pairs->len; i++) {
        const report_pair_t *p = pairs->pdata[i];
        jw_open(w, NULL, '{');
        jw_str(w, "pair", p->pair);
        jw_str(w, "nat_a", p->nat_a);
        jw_str(w, "nat_b", p->nat_b);
        jw_str(w, "class", report_stats_class_name(p->cls));
        jw_agg(w, &p->agg);
        jw_close(w, '}');
    }
    jw_close(w, ']');
}

char *report_summary_json(const report_stats_t *s, const results_t *r, const population_t *p,
                          const population_estimate_t *e)
{
    jw_t w = { g_string_new(NULL), 0, true };
    jw_open(&w, NULL, '{');
    jw_str(&w, "generator", "natlab report " NATLAB_VERSION);
    jw_open(&w, "sources", '[');
    for (guint i = 0; i < r->origins->len; i++)
        jw_str(&w, NULL, r->origins->pdata[i]);
    jw_close(&w, ']');

    jw_open(&w, "total", '{');
    jw_agg(&w, &s->total);
    jw_close(&w, '}');

    jw_open(&w, "classes", '[');
    for (int c = 0; c < PAIR_N_CLASSES; c++) {
        jw_open(&w, NULL, '{');
        jw_str(&w, "class", report_stats_class_name((pair_class_t)c));
        jw_agg(&w, &s->classes[c]);
        jw_close(&w, '}');
    }
    jw_close(&w, ']');

    jw_pairs(&w, s->pairs);

    jw_open(&w, "techniques", '{');
    for (guint i = 0; i < s->techniques->len; i++) {
        const report_count_t *c = &g_array_index(s->techniques, report_count_t, i);
        jw_size(&w, c->name, c->count);
    }
    jw_close(&w, '}');

    jw_open(&w, "scenarios", '[');
    for (guint i = 0; i < s->scenarios->len; i++) {
        const report_scenario_t *sc = s->scenarios->pdata[i];
        jw_open(&w, NULL, '{');
        jw_str(&w, "scenario", sc->name);
        jw_agg(&w, &sc->agg);
        jw_pairs(&w, sc->pairs);
        jw_close(&w, '}');
    }
    jw_close(&w, ']');

    jw_open(&w, "population", '{');
    jw_str(&w, "model", p->name);
    jw_str(&w, "file", p->origin);
    jw_open(&w, "weights", '{');
    for (guint i = 0; i < p->nats->len; i++)
        jw_num(&w, p->nats->pdata[i], SHARE, g_array_index(p->weights, double, i));
    jw_close(&w, '}');
    jw_num(&w, "expected_direct_rate", SHARE, e->direct);
    jw_num(&w, "expected_direct_rate_se", SHARE, e->direct_se);
    jw_num(&w, "expected_relayed_rate", SHARE, e->relayed);
    jw_num(&w, "expected_failed_rate", SHARE, e->failed);
    jw_num(&w, "coverage", SHARE, e->coverage);
    jw_size(&w, "pairs_used", e->cells);
    jw_close(&w, '}');

    size_t n;
    const population_published_t *pub = population_published(&n);
    jw_open(&w, "published", '[');
    for (size_t i = 0; i < n; i++) {
        jw_open(&w, NULL, '{');
        jw_str(&w, "source", pub[i].who);
        jw_str(&w, "measured", pub[i].what);
        jw_str(&w, "figure", pub[i].shown);
        jw_num(&w, "direct_low", SHARE, pub[i].low);
        jw_num(&w, "direct_high", SHARE, pub[i].high);
        jw_str(&w, "url", pub[i].url);
        jw_close(&w, '}');
    }
    jw_close(&w, ']');
    jw_close(&w, '}');
    g_string_append_c(w.out, '\n');
    return g_string_free(w.out, FALSE);
}
