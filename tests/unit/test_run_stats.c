/* run_stats: nearest-rank percentiles and the binomial floor behind the
 * matrix's success rates. */
#include <math.h>

#include "run/run_stats.h"
#include "testutil.h"

static void test_percentile_nearest_rank(void)
{
    double v[] = { 5, 1, 4, 2, 3, 10, 9, 8, 7, 6 };
    CU_ASSERT_DOUBLE_EQUAL(run_stats_percentile(v, 10, 50), 5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(run_stats_percentile(v, 10, 95), 10, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(run_stats_percentile(v, 10, 90), 9, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(run_stats_percentile(v, 10, 0), 1, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(run_stats_percentile(v, 10, 100), 10, 1e-9);
    double one[] = { 42 };
    CU_ASSERT_DOUBLE_EQUAL(run_stats_percentile(one, 1, 95), 42, 1e-9);
    CU_ASSERT_TRUE(isnan(run_stats_percentile(one, 0, 50)));
    /* 20 values: p95 is the 19th, not the maximum. */
    double twenty[20];
    for (int i = 0; i < 20; i++)
        twenty[i] = i + 1;
    CU_ASSERT_DOUBLE_EQUAL(run_stats_percentile(twenty, 20, 95), 19, 1e-9);
    /* 70% of 10 is the 7th value, though 0.7 * 10 is 7.000000000000001. */
    CU_ASSERT_DOUBLE_EQUAL(run_stats_percentile(v, 10, 70), 7, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(run_stats_mean(twenty, 20), 10.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(run_stats_min(v, 10), 1, 1e-9);
}

static void test_binomial_floor(void)
{
    /* Certain success: every attempt. */
    CU_ASSERT_EQUAL(run_stats_binomial_floor(5, 1.0, 0.05), 5);
    CU_ASSERT_EQUAL(run_stats_binomial_floor(5, 0.0, 0.05), 0);
    /* p = 0.983, n = 5: P(5) = 0.918, P(<= 4) = 0.082 > 5%, P(<= 3) = 0.003:
     * asking for 4 of 5 fails by chance 0.3% of the time, 5 of 5 8%. */
    CU_ASSERT_EQUAL(run_stats_binomial_floor(5, 0.983, 0.05), 4);
    /* p = 0.9, n = 100: mean 90, sd 3; the 5% floor is 85. */
    CU_ASSERT_EQUAL(run_stats_binomial_floor(100, 0.9, 0.05), 85);
    CU_ASSERT_EQUAL(run_stats_binomial_floor(1, 0.5, 0.05), 0);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "percentiles: nearest rank", test_percentile_nearest_rank },
        { "binomial floor", test_binomial_floor },
        { NULL, NULL },
    };
    return test_run_suite("run_stats", cases);
}
