/* The one percentile natlab prints, the runner and the reports alike. Pure. */
#pragma once
#include <stddef.h>

/* Nearest rank (docs/report.md): the smallest of n sorted values with at
 * least p% of the values at or below it, always a measured value. p <= 0 is
 * the minimum, 100 the maximum; NAN when n is 0. The rank is ceil(p n / 100)
 * as a person would work it out: 70% of 10 is the 7th value, even though
 * 0.7 * 10 is 7.000000000000001 in doubles. */
double percentile_nearest_rank(const double *sorted, size_t n, double p);
