#include "run_stats.h"

#include "common/percentile.h"

#include <math.h>
#include <stdlib.h>

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double run_stats_percentile(double *values, size_t n, double p)
{
    if (n == 0)
        return NAN;
    qsort(values, n, sizeof *values, compare_double);
    return percentile_nearest_rank(values, n, p);
}

double run_stats_mean(const double *values, size_t n)
{
    if (n == 0)
        return NAN;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += values[i];
    return sum / (double)n;
}

double run_stats_min(const double *values, size_t n)
{
    if (n == 0)
        return NAN;
    double m = values[0];
    for (size_t i = 1; i < n; i++)
        m = values[i] < m ? values[i] : m;
    return m;
}

/* log of n choose k, through lgamma: exact enough for n in the thousands. */
static double log_choose(unsigned n, unsigned k)
{
    return lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0);
}

unsigned run_stats_binomial_floor(unsigned n, double p, double alpha)
{
    if (p >= 1.0)
        return n;
    if (p <= 0.0)
        return 0;
    /* P(X < k) grows with k; take the largest k with P(X < k) <= alpha. */
    double below = 0;
    unsigned k = 0;
    while (k < n) {
        double pk = exp(log_choose(n, k) + k * log(p) + (n - k) * log1p(-p));
        if (below + pk > alpha)
            break;
        below += pk;
        k++;
    }
    return k;
}
