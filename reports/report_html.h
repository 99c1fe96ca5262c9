/* report.html: one page, no outside resources (the figures are files beside
 * it, referenced relatively), readable offline. A small script on the page
 * marks every <img> as loaded or broken (data-loaded="yes"/"no") and the
 * body as ready, so a headless browser can check the page. Pure text. */
#pragma once

#include "reports/population.h"
#include "reports/report_kinds.h"
#include "reports/report_stats.h"
#include "reports/results.h"

/* & < > " ' as entities; the rest as is (the input is UTF-8). */
char *report_html_escape(const char *s);

/* Attempts' pcap_href/pcap_present must be set (report.c does). */
char *report_html_page(const report_stats_t *s, const results_t *r, const population_t *p,
                       const population_estimate_t *e);
/* The same; with rows of kinds other than natlab (k->by_kind) a section
 * Agent kinds (each kind's totals, the pairs by kind, where kinds differ),
 * one heatmap per kind, and the field estimate per kind. k NULL or one kind
 * of natlab's own rows: report_html_page's page, byte for byte. */
char *report_html_page_kinds(const report_stats_t *s, const report_kinds_t *k,
                             const results_t *r, const population_t *p,
                             const population_estimate_t *e);
