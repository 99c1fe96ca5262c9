#include "percentile.h"

#include <math.h>

double percentile_nearest_rank(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return NAN;
    double rank = ceil(p * (double)n / 100.0 - 1e-9);
    size_t r = rank < 1 ? 1 : (size_t)rank;
    return sorted[(r > n ? n : r) - 1];
}
