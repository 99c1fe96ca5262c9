/* report.html: one page, no outside resources (the figures are files beside
 * it, referenced relatively), readable offline. A small script on the page
 * marks every <img> as loaded or broken (data-loaded="yes"/"no") and the
 * body as ready, so a headless browser can check the page. Pure text. */
#pragma once

#include "reports/population.h"
#include "reports/report_stats.h"
#include "reports/results.h"

/* & < > " ' as entities; the rest as is (the input is UTF-8). */
char *report_html_escape(const char *s);

/* Attempts' pcap_href/pcap_present must be set (report.c does). */
char *report_html_page(const report_stats_t *s, const results_t *r, const population_t *p,
                       const population_estimate_t *e);
