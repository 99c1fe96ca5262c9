#include "report_html.h"

#include <math.h>
#include <string.h>

#include "reports/report_plot.h"

char *report_html_escape(const char *s)
{
    GString *out = g_string_sized_new(strlen(s) + 16);
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '&': g_string_append(out, "&amp;"); break;
        case '<': g_string_append(out, "&lt;"); break;
        case '>': g_string_append(out, "&gt;"); break;
        case '"': g_string_append(out, "&quot;"); break;
        case '\'': g_string_append(out, "&#39;"); break;
        default: g_string_append_c(out, *p);
        }
    }
    return g_string_free(out, FALSE);
}

static void text(GString *out, const char *s)
{
    g_autofree char *e = report_html_escape(s);
    g_string_append(out, e);
}

static void percent(GString *out, double share)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    if (!isfinite(share))
        g_string_append(out, "&ndash;");
    else
        g_string_append_printf(out, "%s%%", report_stats_fmt(buf, sizeof buf, "%.1f", share * 100));
}

static void ms(GString *out, double v)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    if (!isfinite(v))
        g_string_append(out, "&ndash;");
    else
        g_string_append_printf(out, "%s ms", report_stats_fmt(buf, sizeof buf, "%.1f", v));
}

static const char style[] =
    "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:2em auto;max-width:1100px;"
    "padding:0 1em;color:#222;line-height:1.45}\n"
    "h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}\n"
    "table{border-collapse:collapse;margin:.8em 0}th,td{border:1px solid #ccc;padding:.25em .6em;"
    "text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}\n"
    "figure{margin:1.5em 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}\n"
    "figcaption{font-size:.92em;color:#444;max-width:960px}\n"
    ".bar{position:relative;width:320px;height:14px;background:#eee;border:1px solid #bbb}\n"
    ".bar span{position:absolute;top:0;bottom:0;background:#4e79a7;min-width:3px}\n"
    ".bar span.ours{background:#1a9850}.bar span.ci{background:#1a9850;opacity:.35}\n"
    ".direct{color:#1a7a40}.relayed{color:#b35900}.failed{color:#c62828}\n"
    "nav a{margin-right:1em}.note{font-size:.92em;color:#555}\n";

/* Marks each figure as it loads or fails, and the page as checked, for
 * people (a red outline) and for the headless-browser test. */
static const char script[] =
    "(function(){\n"
    "  function mark(img, ok){img.setAttribute('data-loaded', ok ? 'yes' : 'no');\n"
    "    if(!ok) img.style.outline = '3px solid red';}\n"
    "  window.addEventListener('error', function(e){\n"
    "    var t = e.target;\n"
    "    if (t && t !== window && t.tagName)\n"
    "      document.body.setAttribute('data-broken', t.tagName + ' ' + (t.src || t.href || ''));\n"
    "    else document.body.setAttribute('data-script-error', String(e.message || e));\n"
    "  }, true);\n"
    "  window.addEventListener('load', function(){\n"
    "    var imgs = document.querySelectorAll('img'), ok = 0;\n"
    "    for (var i = 0; i < imgs.length; i++){\n"
    "      var good = imgs[i].complete && imgs[i].naturalWidth > 0;\n"
    "      mark(imgs[i], good); if (good) ok++;}\n"
    "    document.body.setAttribute('data-images', String(imgs.length));\n"
    "    document.body.setAttribute('data-images-loaded', String(ok));\n"
    "    document.body.setAttribute('data-ready', 'yes');\n"
    "  });\n"
    "})();\n";

static void agg_cells(GString *o, const report_agg_t *a)
{
    g_string_append_printf(o, "<td>%zu</td><td class=\"direct\">", a->attempts);
    percent(o, report_agg_rate(a, RESULT_DIRECT));
    g_string_append_printf(o, " (%zu)</td><td class=\"relayed\">", a->outcomes[RESULT_DIRECT]);
    percent(o, report_agg_rate(a, RESULT_RELAYED));
    g_string_append_printf(o, " (%zu)</td><td class=\"failed\">", a->outcomes[RESULT_RELAYED]);
    percent(o, report_agg_rate(a, RESULT_FAILED));
    g_string_append_printf(o, " (%zu)</td><td>", a->outcomes[RESULT_FAILED]);
    ms(o, a->p50);
    g_string_append(o, "</td><td>");
    ms(o, a->p95);
    g_string_append(o, "</td>");
}

static const char agg_head[] = "<th>attempts</th><th>direct</th><th>relayed</th><th>failed</th>"
                               "<th>p50 to direct</th><th>p95 to direct</th>";

static void pairs_table(GString *o, const GPtrArray *pairs)
{
    g_string_append_printf(o, "<table>\n<tr><th class=\"l\">pair (A/B)</th><th class=\"l\">class"
                              "</th>%s</tr>\n", agg_head);
    for (guint i = 0; i < pairs->len; i++) {
        const report_pair_t *p = pairs->pdata[i];
        g_string_append(o, "<tr><td class=\"l\">");
        text(o, p->pair);
        g_string_append_printf(o, "</td><td class=\"l\">%s</td>", report_stats_class_name(p->cls));
        agg_cells(o, &p->agg);
        g_string_append(o, "</tr>\n");
    }
    g_string_append(o, "</table>\n");
}

static void bar(GString *o, double low, double high, const char *cls)
{
    char a[G_ASCII_DTOSTR_BUF_SIZE], b[G_ASCII_DTOSTR_BUF_SIZE];
    double width = fmax(high - low, 0) * 100;
    g_string_append_printf(o, "<span class=\"%s\" style=\"left:%s%%;width:%s%%\"></span>", cls,
                           report_stats_fmt(a, sizeof a, "%.2f", fmin(fmax(low, 0), 1) * 100),
                           report_stats_fmt(b, sizeof b, "%.2f", width));
}

static void comparison_tail(GString *o, const report_stats_t *s, const population_t *p);

/* The section's heading and the model's name: one text for one kind or several. */
static void comparison_intro(GString *o, const population_t *p)
{
    g_string_append(o, "<section id=\"comparison\">\n<h2>Expected in the field, next to "
                       "published figures</h2>\n<p>The population model <b>");
    text(o, p->name);
    g_string_append(o, "</b> (");
    text(o, p->origin);
    g_string_append(o, ") gives the share of peers behind each NAT type. Drawing both peers of a "
                       "connection from it, ");
}

static void comparison(GString *o, const report_stats_t *s, const population_t *p,
                       const population_estimate_t *e)
{
    comparison_intro(o, p);
    g_string_append(o, "the pairs measured here predict ");
    if (isfinite(e->direct)) {
        g_string_append(o, "<b class=\"direct\">");
        percent(o, e->direct);
        g_string_append(o, "</b> direct (95% interval ");
        percent(o, fmax(e->direct - 1.96 * e->direct_se, 0));
        g_string_append(o, " to ");
        percent(o, fmin(e->direct + 1.96 * e->direct_se, 1));
        g_string_append(o, " from the number of attempts), ");
        percent(o, e->relayed);
        g_string_append(o, " relayed and ");
        percent(o, e->failed);
        g_string_append(o, " failed. The matrix covers ");
        percent(o, e->coverage);
        g_string_append_printf(o, " of the model's peer pairs (%zu pairs of NATs); the rest is "
                                  "left out, not guessed.</p>\n", e->cells);
    } else {
        g_string_append(o, "nothing: no pair measured here involves a NAT the model gives a "
                           "share. Name the NATs of this matrix in a population file "
                           "(<code>--population FILE</code>).</p>\n");
    }
    g_string_append(o, "<table>\n<tr><th class=\"l\">source</th><th class=\"l\">figure</th>"
                       "<th class=\"l\">direct share, 0 to 100%</th><th class=\"l\">what was "
                       "measured</th></tr>\n<tr><td class=\"l\"><b>this lab</b> under the "
                       "model</td><td class=\"l\">");
    percent(o, e->direct);
    g_string_append(o, "</td><td class=\"l\"><div class=\"bar\">");
    if (isfinite(e->direct)) {
        bar(o, e->direct - 1.96 * e->direct_se, fmin(e->direct + 1.96 * e->direct_se, 1), "ci");
        bar(o, e->direct - 0.004, e->direct + 0.004, "ours");
    }
    g_string_append(o, "</div></td><td class=\"l\">attempts in this report, weighted by the "
                       "population model</td></tr>\n");
    g_string_append(o, "<tr><td class=\"l\">this lab, unweighted</td><td class=\"l\">");
    percent(o, report_agg_rate(&s->total, RESULT_DIRECT));
    g_string_append(o, "</td><td class=\"l\"><div class=\"bar\">");
    double raw = report_agg_rate(&s->total, RESULT_DIRECT);
    if (isfinite(raw))
        bar(o, raw - 0.004, raw + 0.004, "ours");
    g_string_append(o, "</div></td><td class=\"l\">every attempt in this report counted "
                       "once</td></tr>\n");
    comparison_tail(o, s, p);
}

/* The published figures, the note and the weights: the same for every kind. */
static void comparison_tail(GString *o, const report_stats_t *s, const population_t *p)
{
    size_t n;
    const population_published_t *pub = population_published(&n);
    for (size_t i = 0; i < n; i++) {
        g_string_append(o, "<tr><td class=\"l\"><a href=\"");
        text(o, pub[i].url);
        g_string_append(o, "\">");
        text(o, pub[i].who);
        g_string_append(o, "</a></td><td class=\"l\">");
        text(o, pub[i].shown);
        g_string_append(o, "</td><td class=\"l\"><div class=\"bar\">");
        bar(o, pub[i].low, fmax(pub[i].high, pub[i].low + 0.008), "pub");
        g_string_append(o, "</div></td><td class=\"l\">");
        text(o, pub[i].what);
        g_string_append(o, "</td></tr>\n");
    }
    g_string_append(o, "</table>\n<p class=\"note\">The published figures measure different "
                       "things (NATs, attempts, connections, traffic) in different "
                       "populations; they bound what is plausible, they are not the same "
                       "quantity.</p>\n<p class=\"note\">A pair with a peer on a network that "
                       "lets no UDP out (<code>udp-blocked</code>, <code>corporate</code>) "
                       "counts as relayed when the agent reaches the relay over TCP, as deployed systems do (Tailscale's DERP over HTTPS, TURN over TCP "
                       "or TLS): in the relayed share, here as in the published figures, not "
                       "among the failures.</p>\n<details><summary>Population weights</summary>\n"
                       "<table>\n<tr><th class=\"l\">NAT</th><th>share</th><th>pairs measured "
                       "here</th></tr>\n");
    for (guint i = 0; i < p->nats->len; i++) {
        const char *nat = p->nats->pdata[i];
        size_t measured = 0;
        for (guint k = 0; k < s->pairs->len; k++) {
            const report_pair_t *rp = s->pairs->pdata[k];
            measured += strcmp(rp->nat_a, nat) == 0 || strcmp(rp->nat_b, nat) == 0;
        }
        g_string_append(o, "<tr><td class=\"l\">");
        text(o, nat);
        g_string_append(o, "</td><td>");
        percent(o, g_array_index(p->weights, double, i));
        g_string_append_printf(o, "</td><td>%zu</td></tr>\n", measured);
    }
    g_string_append(o, "</table>\n");
    if (p->description) {
        g_string_append(o, "<p class=\"note\">");
        text(o, p->description);
        g_string_append(o, "</p>\n");
    }
    if (p->sources) {
        g_string_append(o, "<p class=\"note\">Sources: ");
        text(o, p->sources);
        g_string_append(o, "</p>\n");
    }
    g_string_append(o, "</details>\n</section>\n");
}

static const struct {
    const char *title;
    const char *caption;
} figure_text[REPORT_PLOT_N] = {
    { "Success-rate heatmap",
      "Each cell is one pair of NATs: peer A behind the row's NAT, peer B behind the column's. "
      "Its colour and number are the share of attempts that ended on a direct path; n is the "
      "number of attempts. Grey cells were not run." },
    { "Time to direct, by pair class",
      "For each pair class (both sides endpoint-independent = easy-easy, one = easy-hard, none "
      "= hard-hard), the share of the class's attempts that were direct by a given time. A "
      "curve ends at its class's direct rate: the gap above it is relayed or failed "
      "attempts." },
    { "Technique breakdown and relay share",
      "How every attempt ended: the technique that made the direct path (hole punch, "
      "predicted port, birthday probes, port mapping, LAN, hairpin), or relayed, or failed. "
      "Labels give the count and the share of all attempts." },
};

static void figure(GString *o, const char *name, const char *title, const char *caption)
{
    g_autofree char *t = report_html_escape(title);
    g_autofree char *n = report_html_escape(name);
    g_string_append_printf(o, "<figure id=\"fig-%s\">\n<h3>%s</h3>\n<img src=\"%s.svg\" "
                              "width=\"960\" height=\"760\" alt=\"%s\" "
                              "onerror=\"this.setAttribute('data-loaded','no')\">\n"
                              "<figcaption>%s (<a href=\"%s.png\">PNG</a>, <a href=\"%s.svg\">"
                              "SVG</a>)</figcaption>\n</figure>\n",
                           n, t, n, t, caption, n, n);
}

static const char kinds_note[] = " Every agent kind together: each kind's own numbers are in "
                                 "the section Agent kinds.";

/* One heatmap per kind, then the figures of every row. */
static void figures_kinds(GString *o, const report_kinds_t *k)
{
    g_string_append(o, "<section id=\"figures\">\n<h2>Figures</h2>\n");
    for (guint i = 0; i < k->kinds->len; i++) {
        const report_kind_t *kind = k->kinds->pdata[i];
        g_autofree char *title = g_strdup_printf("Success-rate heatmap: %s", kind->title);
        g_autofree char *esc = report_html_escape(kind->title);
        g_autofree char *caption = g_strdup_printf(
            "%s Only the attempts of the agent kind <b>%s</b>; every kind's heatmap has the same "
            "axes.", figure_text[0].caption, esc);
        figure(o, kind->figure, title, caption);
    }
    for (int f = 1; f < REPORT_PLOT_N; f++) {
        g_autofree char *caption = g_strconcat(figure_text[f].caption, kinds_note, NULL);
        figure(o, report_plot_names[f], figure_text[f].title, caption);
    }
    g_string_append(o, "</section>\n");
}

static void figures(GString *o)
{
    g_string_append(o, "<section id=\"figures\">\n<h2>Figures</h2>\n");
    for (int f = 0; f < REPORT_PLOT_N; f++) {
        const char *name = report_plot_names[f];
        g_string_append_printf(o, "<figure id=\"fig-%s\">\n<h3>%s</h3>\n<img src=\"%s.svg\" "
                                  "width=\"960\" height=\"760\" alt=\"%s\" "
                                  "onerror=\"this.setAttribute('data-loaded','no')\">\n"
                                  "<figcaption>%s (<a href=\"%s.png\">PNG</a>, <a href=\"%s.svg\">"
                                  "SVG</a>)</figcaption>\n</figure>\n",
                               name, figure_text[f].title, name, figure_text[f].title,
                               figure_text[f].caption, name, name);
    }
    g_string_append(o, "</section>\n");
}

static void attempts_table(GString *o, const GPtrArray *attempts)
{
    g_string_append(o, "<table>\n<tr><th class=\"l\">pair</th><th>attempt</th><th>seed</th>"
                       "<th class=\"l\">outcome</th><th class=\"l\">technique</th><th>first "
                       "byte</th><th>to direct</th><th class=\"l\">pcap</th><th class=\"l\">"
                       "error</th><th class=\"l\">from</th></tr>\n");
    for (guint i = 0; i < attempts->len; i++) {
        const result_attempt_t *a = attempts->pdata[i];
        const result_t *row = a->row;
        const char *outcome = result_outcome_name(row->outcome);
        g_string_append(o, "<tr><td class=\"l\">");
        text(o, row->pair);
        g_string_append(o, "</td><td>");
        if (row->has & RESULT_HAS_ATTEMPT)
            g_string_append_printf(o, "%u", row->attempt);
        g_string_append(o, "</td><td>");
        if (row->has & RESULT_HAS_SEED)
            g_string_append_printf(o, "%" G_GINT64_FORMAT, (int64_t)row->seed);
        g_string_append_printf(o, "</td><td class=\"l %s\">%s</td><td class=\"l\">", outcome,
                               outcome);
        text(o, row->technique);
        g_string_append(o, "</td><td>");
        ms(o, row->time_to_first_byte_ms);
        g_string_append(o, "</td><td>");
        ms(o, row->time_to_direct_ms);
        g_string_append(o, "</td><td class=\"l\">");
        if (row->pcap && a->pcap_present && a->pcap_href) {
            g_string_append(o, "<a href=\"");
            text(o, a->pcap_href);
            g_string_append(o, "\">");
            text(o, row->pcap);
            g_string_append(o, "</a>");
        } else if (row->pcap) {
            text(o, row->pcap);
            g_string_append(o, " (missing)");
        }
        g_string_append(o, "</td><td class=\"l\">");
        if (row->error)
            text(o, row->error);
        g_string_append(o, "</td><td class=\"l\">");
        text(o, a->origin);
        g_string_append_printf(o, ":%d</td></tr>\n", a->line);
    }
    g_string_append(o, "</table>\n");
}

static void comparison_kinds(GString *o, const report_stats_t *s, const report_kinds_t *k,
                             const population_t *p)
{
    comparison_intro(o, p);
    g_string_append(o, "each agent kind's pairs predict the direct share "
                       "below. Kinds are estimated apart, never pooled: each is one stack "
                       "deployed in that population, over the pairs it ran (its coverage); a "
                       "pair a kind did not run is left out, not guessed.</p>\n");
    g_string_append(o, "<table>\n<tr><th class=\"l\">source</th><th class=\"l\">figure</th>"
                       "<th class=\"l\">direct share, 0 to 100%</th><th class=\"l\">what was "
                       "measured</th></tr>\n");
    for (guint i = 0; i < k->kinds->len; i++) {
        const report_kind_t *kind = k->kinds->pdata[i];
        const population_estimate_t *e = &kind->est;
        g_string_append(o, "<tr><td class=\"l\"><b>");
        text(o, kind->title);
        g_string_append(o, "</b> under the model</td><td class=\"l\">");
        percent(o, e->direct);
        if (isfinite(e->direct)) {
            g_string_append(o, " (");
            percent(o, fmax(e->direct - 1.96 * e->direct_se, 0));
            g_string_append(o, " to ");
            percent(o, fmin(e->direct + 1.96 * e->direct_se, 1));
            g_string_append(o, ")");
        }
        g_string_append(o, "</td><td class=\"l\"><div class=\"bar\">");
        if (isfinite(e->direct)) {
            bar(o, e->direct - 1.96 * e->direct_se, fmin(e->direct + 1.96 * e->direct_se, 1),
                "ci");
            bar(o, e->direct - 0.004, e->direct + 0.004, "ours");
        }
        g_string_append(o, "</div></td><td class=\"l\">");
        if (isfinite(e->direct)) {
            g_string_append_printf(o, "its %zu attempts, weighted by the population model; "
                                      "covers ",
                                   kind->stats->total.attempts);
            percent(o, e->coverage);
            g_string_append_printf(o, " of the model's peer pairs (%zu pairs of NATs)", e->cells);
        } else {
            g_string_append(o, "no pair it ran involves a NAT the model gives a share");
        }
        g_string_append(o, "</td></tr>\n");
    }
    comparison_tail(o, s, p);
}

static void kind_cells(GString *o, const report_kind_t *kind, const report_pair_t *p)
{
    g_autofree char *name = report_html_escape(kind->name);
    if (!p) {
        g_string_append_printf(o, "<td colspan=\"2\" class=\"note\" data-kind=\"%s\">not "
                                  "run</td>", name);
        return;
    }
    /* Two cells a kind, so that six kinds still fit: the direct rate is its heatmap's. */
    const report_agg_t *a = &p->agg;
    g_string_append_printf(o, "<td class=\"nw\" data-kind=\"%s\"><span class=\"direct\">%zu"
                              "</span> / <span class=\"relayed\">%zu</span> / <span class=\""
                              "failed\">%zu</span></td><td class=\"nw\">",
                           name, a->outcomes[RESULT_DIRECT], a->outcomes[RESULT_RELAYED],
                           a->outcomes[RESULT_FAILED]);
    ms(o, a->p50);
    g_string_append(o, "</td>");
}

static const report_kind_pair_t *differ_of(const report_kinds_t *k, const char *pair)
{
    for (guint i = 0; i < k->differ->len; i++) {
        const report_kind_pair_t *kp = k->differ->pdata[i];
        if (strcmp(kp->pair->pair, pair) == 0)
            return kp;
    }
    return NULL;
}

static void diff_text(GString *o, const report_kinds_t *k, const report_kind_pair_t *kp,
                      const report_kind_diff_t *d)
{
    const report_kind_t *ka = k->kinds->pdata[d->a], *kb = k->kinds->pdata[d->b];
    const report_pair_t *pa = report_kind_pair(ka, kp->pair->pair);
    const report_pair_t *pb = report_kind_pair(kb, kp->pair->pair);
    text(o, ka->name);
    g_string_append(o, " and ");
    text(o, kb->name);
    g_string_append(o, ": ");
    if (d->by_outcome)
        g_string_append_printf(o, "mostly %s against mostly %s",
                               report_kinds_dominant_name(report_kinds_dominant(&pa->agg)),
                               report_kinds_dominant_name(report_kinds_dominant(&pb->agg)));
    if (d->by_outcome && d->by_rate)
        g_string_append(o, "; ");
    if (d->by_rate) {
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        g_string_append(o, "direct ");
        percent(o, report_agg_rate(&pa->agg, RESULT_DIRECT));
        g_string_append(o, " against ");
        percent(o, report_agg_rate(&pb->agg, RESULT_DIRECT));
        g_string_append_printf(o, ", beyond noise (z = %s)",
                               report_stats_fmt(buf, sizeof buf, "%.2f", d->z));
    }
}

static void kinds_section(GString *o, const report_stats_t *s, const report_kinds_t *k)
{
    g_string_append_printf(o, "<section id=\"kinds\">\n<h2>Agent kinds</h2>\n<p>The same "
                              "pairs of NATs, run by %u agent kinds (docs/agents.md): natlab's "
                              "own agent and third-party stacks. Each kind counted on its "
                              "own.</p>\n<table>\n<tr><th class=\"l\">kind</th><th class=\"l\">"
                              "version</th>%s<th class=\"l\">heatmap</th></tr>\n",
                           k->kinds->len, agg_head);
    for (guint i = 0; i < k->kinds->len; i++) {
        const report_kind_t *kind = k->kinds->pdata[i];
        g_string_append(o, "<tr><td class=\"l\">");
        text(o, kind->name);
        g_string_append(o, "</td><td class=\"l\">");
        if (kind->version)
            text(o, kind->version);
        else
            g_string_append(o, "&ndash;");
        g_string_append(o, "</td>");
        agg_cells(o, &kind->stats->total);
        g_string_append(o, "<td class=\"l\"><a href=\"#fig-");
        text(o, kind->figure);
        g_string_append(o, "\">");
        text(o, kind->figure);
        g_string_append(o, "</a></td></tr>\n");
    }
    g_string_append(o, "</table>\n");

    g_string_append(o, "<h3 id=\"pairs-by-kind\">Pairs by kind</h3>\n<p>Each kind's attempts "
                       "on each pair: how they ended (direct / relayed / failed) and the median "
                       "time to direct (p50) of the direct ones. Each kind's direct rates are "
                       "its heatmap.</p>\n<div class=\"wide\">\n<table>\n<tr><th "
                       "class=\"l\" rowspan=\"2\">pair (A/B)</th><th class=\"l\" rowspan="
                       "\"2\">class</th>");
    for (guint i = 0; i < k->kinds->len; i++) {
        g_string_append(o, "<th colspan=\"2\">");
        text(o, ((const report_kind_t *)k->kinds->pdata[i])->title);
        g_string_append(o, "</th>");
    }
    g_string_append(o, "<th class=\"l\" rowspan=\"2\">kinds differ</th></tr>\n<tr>");
    for (guint i = 0; i < k->kinds->len; i++)
        g_string_append(o, "<th>direct / relayed / failed</th><th>p50</th>");
    g_string_append(o, "</tr>\n");
    for (guint i = 0; i < s->pairs->len; i++) {
        const report_pair_t *p = s->pairs->pdata[i];
        g_string_append(o, "<tr data-pair=\"");
        text(o, p->pair);
        g_string_append(o, "\"><td class=\"l\">");
        text(o, p->pair);
        g_string_append_printf(o, "</td><td class=\"l\">%s</td>",
                               report_stats_class_name(p->cls));
        for (guint j = 0; j < k->kinds->len; j++) {
            const report_kind_t *kind = k->kinds->pdata[j];
            kind_cells(o, kind, report_kind_pair(kind, p->pair));
        }
        g_string_append(o, "<td class=\"l\">");
        if (differ_of(k, p->pair))
            g_string_append(o, "<a href=\"#kinds-differ\" class=\"failed\">yes</a>");
        g_string_append(o, "</td></tr>\n");
    }
    g_string_append(o, "</table>\n</div>\n");

    size_t compared = 0;
    for (guint i = 0; i < s->pairs->len; i++) {
        const report_pair_t *p = s->pairs->pdata[i];
        guint ran = 0;
        for (guint j = 0; j < k->kinds->len; j++)
            ran += report_kind_pair(k->kinds->pdata[j], p->pair) != NULL;
        compared += ran >= 2;
    }
    g_string_append_printf(
        o, "<h3 id=\"kinds-differ\">Where the kinds differ</h3>\n<p>Two kinds differ on a pair "
           "when both ran it and (1) each has a dominant outcome (direct, relayed or failed: the "
           "one most of its attempts had, no tie) and these differ, or (2) their direct rates "
           "differ beyond noise: a two-proportion z-test with the pooled rate, |z| &gt; %.2f "
           "(5%%, two-sided). With few attempts (1) can flag chance, so the counts are shown. "
           "%u of %zu pairs that two or more kinds ran differ.</p>\n",
        REPORT_KINDS_Z, k->differ->len, compared);
    if (k->differ->len) {
        g_string_append(o, "<table>\n<tr><th class=\"l\">pair (A/B)</th><th class=\"l\">"
                           "each kind: direct / relayed / failed</th><th class=\"l\">how they "
                           "differ</th></tr>\n");
        for (guint i = 0; i < k->differ->len; i++) {
            const report_kind_pair_t *kp = k->differ->pdata[i];
            g_string_append(o, "<tr data-differ=\"");
            text(o, kp->pair->pair);
            g_string_append(o, "\"><td class=\"l\">");
            text(o, kp->pair->pair);
            g_string_append(o, "</td><td class=\"l\">");
            bool first = true;
            for (guint j = 0; j < k->kinds->len; j++) {
                const report_kind_t *kind = k->kinds->pdata[j];
                const report_pair_t *p = report_kind_pair(kind, kp->pair->pair);
                if (!p)
                    continue;
                g_string_append(o, first ? "" : "<br>");
                first = false;
                text(o, kind->name);
                g_string_append_printf(o, " %zu / %zu / %zu", p->agg.outcomes[RESULT_DIRECT],
                                       p->agg.outcomes[RESULT_RELAYED],
                                       p->agg.outcomes[RESULT_FAILED]);
            }
            g_string_append(o, "</td><td class=\"l\">");
            for (guint j = 0; j < kp->diffs->len; j++) {
                g_string_append(o, j ? "<br>" : "");
                diff_text(o, k, kp, &g_array_index(kp->diffs, report_kind_diff_t, j));
            }
            g_string_append(o, "</td></tr>\n");
        }
        g_string_append(o, "</table>\n");
    }
    g_string_append(o, "</section>\n");
}

char *report_html_page(const report_stats_t *s, const results_t *r, const population_t *p,
                       const population_estimate_t *e)
{
    return report_html_page_kinds(s, NULL, r, p, e);
}

char *report_html_page_kinds(const report_stats_t *s, const report_kinds_t *k,
                             const results_t *r, const population_t *p,
                             const population_estimate_t *e)
{
    bool by_kind = k && k->by_kind;
    GString *o = g_string_new(NULL);
    g_string_append_printf(o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8"
                              "\">\n<meta name=\"viewport\" content=\"width=device-width\">\n"
                              "<meta name=\"generator\" content=\"natlab report %s\">\n"
                              "<title>natlab report</title>\n<style>\n%s</style>\n</head>\n"
                              "<body>\n<header>\n<h1>natlab report</h1>\n<p>",
                           NATLAB_VERSION, style);
    if (by_kind) /* the page of natlab's rows alone keeps its bytes */
        g_string_insert(o, strstr(o->str, "</head>") - o->str,
                        "<style>\n.wide{overflow-x:auto}.nw{white-space:nowrap}\n</style>\n");
    g_string_append_printf(o, "%zu attempts, %u NAT pairs, %u scenarios, from %u results "
                              "file%s:</p>\n<ul>\n",
                           s->total.attempts, s->pairs->len, s->scenarios->len, r->origins->len,
                           r->origins->len == 1 ? "" : "s");
    for (guint i = 0; i < r->origins->len; i++) {
        g_string_append(o, "<li><code>");
        text(o, r->origins->pdata[i]);
        g_string_append(o, "</code></li>\n");
    }
    g_string_append(o, "</ul>\n");
    if (by_kind) {
        g_string_append(o, "<p>Agent kinds: ");
        for (guint i = 0; i < k->kinds->len; i++) {
            g_string_append(o, i ? ", " : "");
            g_string_append(o, "<b>");
            text(o, ((const report_kind_t *)k->kinds->pdata[i])->title);
            g_string_append(o, "</b>");
        }
        g_string_append(o, ".</p>\n<nav><a href=\"#overview\">overview</a><a href=\"#kinds\">"
                           "kinds</a>");
    } else {
        g_string_append(o, "<nav><a href=\"#overview\">overview</a>");
    }
    g_string_append(o, "<a href=\"#comparison\">"
                       "field estimate</a><a href=\"#figures\">figures</a><a href=\"#pairs\">"
                       "pairs</a><a href=\"#scenarios\">scenarios</a><a href=\"summary.json\">"
                       "summary.json</a></nav>\n</header>\n");

    g_string_append_printf(o, "<section id=\"overview\">\n<h2>Overview</h2>\n<table>\n<tr><th "
                              "class=\"l\">pair class</th>%s</tr>\n<tr><td class=\"l\">all</td>",
                           agg_head);
    agg_cells(o, &s->total);
    g_string_append(o, "</tr>\n");
    for (int c = 0; c < PAIR_N_CLASSES; c++) {
        g_string_append_printf(o, "<tr><td class=\"l\">%s</td>",
                               report_stats_class_name((pair_class_t)c));
        agg_cells(o, &s->classes[c]);
        g_string_append(o, "</tr>\n");
    }
    g_string_append(o, "</table>\n<p>Relay share: ");
    percent(o, report_agg_rate(&s->total, RESULT_RELAYED));
    g_string_append(o, " of all attempts ended on the relay; ");
    size_t delivered = s->total.outcomes[RESULT_DIRECT] + s->total.outcomes[RESULT_RELAYED];
    percent(o, delivered ? (double)s->total.outcomes[RESULT_RELAYED] / (double)delivered : NAN);
    g_string_append(o, " of those that delivered their data. Pair classes: a side is easy when "
                       "its NAT maps endpoint-independently or translates nothing (public "
                       "host, firewall), hard otherwise (docs/report.md).</p>\n<table>\n<tr><th "
                       "class=\"l\">technique</th><th>direct attempts</th><th>share of all "
                       "attempts</th></tr>\n");
    for (guint i = 0; i < s->techniques->len; i++) {
        const report_count_t *c = &g_array_index(s->techniques, report_count_t, i);
        g_string_append(o, "<tr><td class=\"l\">");
        text(o, c->name);
        g_string_append_printf(o, "</td><td>%zu</td><td>", c->count);
        percent(o, (double)c->count / (double)s->total.attempts);
        g_string_append(o, "</td></tr>\n");
    }
    g_string_append(o, "</table>\n");
    if (by_kind)
        g_string_append_printf(o, "<p class=\"note\">%s</p>\n", kinds_note + 1);
    g_string_append(o, "</section>\n");

    if (by_kind) {
        kinds_section(o, s, k);
        comparison_kinds(o, s, k, p);
        figures_kinds(o, k);
    } else {
        comparison(o, s, p, e);
        figures(o);
    }

    g_string_append_printf(o, "<section id=\"pairs\">\n<h2>Every pair, all scenarios%s</h2>\n",
                           by_kind ? ", every kind together" : "");
    pairs_table(o, s->pairs);
    g_string_append(o, "</section>\n<section id=\"scenarios\">\n<h2>Scenarios</h2>\n");
    for (guint i = 0; i < s->scenarios->len; i++) {
        const report_scenario_t *sc = s->scenarios->pdata[i];
        g_autofree char *id = g_strdup_printf("scenario-%u", i);
        g_string_append_printf(o, "<h3 id=\"%s\">", id);
        text(o, sc->name);
        if (by_kind) {
            g_string_append(o, " <span class=\"note\">(");
            text(o, sc->kind);
            g_string_append(o, ")</span>");
        }
        g_string_append_printf(o, "</h3>\n<table>\n<tr>%s</tr>\n<tr>", agg_head);
        agg_cells(o, &sc->agg);
        g_string_append(o, "</tr>\n</table>\n");
        pairs_table(o, sc->pairs);
        g_string_append_printf(o, "<details><summary>%u attempts, with their captures"
                                  "</summary>\n",
                               sc->attempts->len);
        attempts_table(o, sc->attempts);
        g_string_append(o, "</details>\n");
    }
    g_string_append(o, "</section>\n<footer><p class=\"note\">Made by <code>natlab report</code> "
                       "from the results files above; run it again to rebuild every figure and "
                       "number on this page.</p></footer>\n<script>\n");
    g_string_append(o, script);
    g_string_append(o, "</script>\n</body>\n</html>\n");
    return g_string_free(o, FALSE);
}
