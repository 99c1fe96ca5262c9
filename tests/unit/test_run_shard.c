/* run_shard: K/N parsing and round-robin selection of whole scenarios. */
#include "run/run_shard.h"
#include "testutil.h"

static void test_parse(void)
{
    run_shard_t s;
    CU_ASSERT_TRUE(run_shard_parse("2/3", &s));
    CU_ASSERT_EQUAL(s.k, 2);
    CU_ASSERT_EQUAL(s.n, 3);
    CU_ASSERT_TRUE(run_shard_parse("1/1", &s));
    CU_ASSERT_FALSE(run_shard_parse("0/3", &s));
    CU_ASSERT_FALSE(run_shard_parse("4/3", &s));
    CU_ASSERT_FALSE(run_shard_parse("3", &s));
    CU_ASSERT_FALSE(run_shard_parse("1/2/3", &s));
    CU_ASSERT_FALSE(run_shard_parse("a/b", &s));
    CU_ASSERT_FALSE(run_shard_parse("1/0", &s));
    CU_ASSERT_FALSE(run_shard_parse(NULL, &s));
}

static void test_every_scenario_in_exactly_one_shard(void)
{
    for (unsigned n = 1; n <= 5; n++)
        for (unsigned i = 0; i < 28; i++) {
            unsigned owners = 0;
            for (unsigned k = 1; k <= n; k++)
                owners += run_shard_takes((run_shard_t){ k, n }, i);
            CU_ASSERT_EQUAL(owners, 1);
        }
    CU_ASSERT_TRUE(run_shard_takes((run_shard_t){ 2, 3 }, 1));
    CU_ASSERT_TRUE(run_shard_takes((run_shard_t){ 2, 3 }, 4));
    CU_ASSERT_FALSE(run_shard_takes((run_shard_t){ 2, 3 }, 2));
}

int main(void)
{
    static const test_case_t cases[] = {
        { "K/N parsing", test_parse },
        { "every scenario in exactly one shard", test_every_scenario_in_exactly_one_shard },
        { NULL, NULL },
    };
    return test_run_suite("run_shard", cases);
}
