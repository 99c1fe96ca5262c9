/* Statistics over attempts: percentiles and rates. Pure. */
#pragma once
#include <stddef.h>

/* percentile_nearest_rank (common/percentile.h) of n values in any order:
 * sorts `values` in place. */
double run_stats_percentile(double *values, size_t n, double p);
double run_stats_mean(const double *values, size_t n);
double run_stats_min(const double *values, size_t n);

/* The smallest success count k such that k or more successes out of n
 * attempts happen with probability >= 1 - alpha when each succeeds with
 * probability p (the one-sided binomial lower bound). An expectation
 * "at least k of n" then fails by chance at most alpha of the time. */
unsigned run_stats_binomial_floor(unsigned n, double p, double alpha);
