/* run_batch: what natlab run and matrix do to their scenarios before the
 * pool runs them: distinct names, --repeat and --seed, seeds for scenarios
 * without one, shards, and the sim's refusals. */
#include <string.h>

#include "run/run_batch.h"
#include "run/run_spec.h"
#include "testutil.h"

static run_spec_t *spec(const char *name, const char *extra)
{
    g_autofree char *text = g_strdup_printf("[scenario]\nname = %s\n%s[nat home]\npreset = "
                                            "home-router\n[host alice]\nnat = home\n[host bob]\n",
                                            name, extra);
    g_autofree char *origin = g_strdup_printf("%s.scn", name);
    GError *error = NULL;
    run_spec_t *s = run_spec_load_data(text, strlen(text), origin, &error);
    if (error)
        fprintf(stderr, "%s\n", error->message);
    CU_ASSERT_PTR_NULL(error);
    g_clear_error(&error);
    return s;
}

static GPtrArray *specs(void)
{
    GPtrArray *all = g_ptr_array_new_with_free_func((GDestroyNotify)run_spec_free);
    g_ptr_array_add(all, spec("one", "seed = 7\nrepeat = 3\n"));
    g_ptr_array_add(all, spec("two", ""));
    g_ptr_array_add(all, spec("three", "repeat = 2\n"));
    return all;
}

static run_spec_t *at(GPtrArray *a, guint i)
{
    return g_ptr_array_index(a, i);
}

static void test_defaults_keep_the_files(void)
{
    g_autoptr(GPtrArray) all = specs();
    rng_t seeds;
    rng_seed(&seeds, 1);
    const run_batch_options_t o = { .shard = RUN_SHARD_ALL };
    g_autoptr(GPtrArray) chosen = run_batch_select(all, &o, &seeds, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(chosen);
    CU_ASSERT_EQUAL(chosen->len, 3);
    CU_ASSERT_EQUAL(at(all, 0)->scenario->seed, 7);
    CU_ASSERT_EQUAL(at(all, 0)->repeat, 3);
    CU_ASSERT_EQUAL(at(all, 2)->repeat, 2);
    /* A scenario without a seed gets one from the shell's source, as a file's seed could be. */
    CU_ASSERT_TRUE(at(all, 1)->scenario->seed_set);
    CU_ASSERT_TRUE(at(all, 1)->scenario->seed < (UINT64_C(1) << 63));
    rng_t again;
    rng_seed(&again, 1);
    CU_ASSERT_EQUAL(at(all, 1)->scenario->seed, rng_next(&again) >> 1);
}

static void test_options_override(void)
{
    g_autoptr(GPtrArray) all = specs();
    rng_t seeds;
    rng_seed(&seeds, 1);
    const run_batch_options_t o = { .repeat = 5, .seed = 42, .seed_set = true,
                                    .shard = RUN_SHARD_ALL };
    g_autoptr(GPtrArray) chosen = run_batch_select(all, &o, &seeds, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(chosen);
    for (guint i = 0; i < all->len; i++) {
        CU_ASSERT_EQUAL(at(all, i)->repeat, 5);
        CU_ASSERT_EQUAL(at(all, i)->scenario->seed, 42);
    }
}

static void test_shard_takes_its_share(void)
{
    g_autoptr(GPtrArray) all = specs();
    rng_t seeds;
    rng_seed(&seeds, 1);
    const run_batch_options_t o = { .shard = { 2, 2 } };
    g_autoptr(GPtrArray) chosen = run_batch_select(all, &o, &seeds, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(chosen);
    CU_ASSERT_EQUAL(chosen->len, 1);
    CU_ASSERT_PTR_EQUAL(at(chosen, 0), at(all, 1));
    /* Every scenario is seeded, taken or not, so the shards agree on seeds. */
    CU_ASSERT_TRUE(at(all, 2)->scenario->seed_set);
}

static void test_same_name_refused(void)
{
    g_autoptr(GPtrArray) all = specs();
    g_ptr_array_add(all, spec("two", ""));
    rng_t seeds;
    rng_seed(&seeds, 1);
    const run_batch_options_t o = { .shard = RUN_SHARD_ALL };
    g_autoptr(GError) error = NULL;
    CU_ASSERT_PTR_NULL(run_batch_select(all, &o, &seeds, &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    CU_ASSERT_EQUAL(error->code, RUN_BATCH_ERROR_NAME);
    ASSERT_CONTAINS(error->message, "two scenarios are named 'two' (two.scn and two.scn)");
}

static void test_sim_refuses_what_it_cannot_express(void)
{
    g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func((GDestroyNotify)run_spec_free);
    g_ptr_array_add(all, spec("plain", ""));
    run_spec_t *s = at(all, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    rng_t seeds;
    rng_seed(&seeds, 1);
    const run_batch_options_t sim = { .shard = RUN_SHARD_ALL, .sim = true };
    g_autoptr(GPtrArray) ok = run_batch_select(all, &sim, &seeds, NULL);
    CU_ASSERT_PTR_NOT_NULL(ok);

    g_autoptr(GPtrArray) bad = g_ptr_array_new_with_free_func((GDestroyNotify)run_spec_free);
    const char *text = "[scenario]\nname = lossy\n[nat home]\npreset = home-router\n"
                       "latency = 20ms\n[host alice]\nnat = home\n[host bob]\n";
    g_ptr_array_add(bad, run_spec_load_data(text, strlen(text), "lossy.scn", NULL));
    CU_ASSERT_PTR_NOT_NULL_FATAL(at(bad, 0));
    g_autoptr(GError) error = NULL;
    CU_ASSERT_PTR_NULL(run_batch_select(bad, &sim, &seeds, &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    CU_ASSERT_EQUAL(error->code, RUN_BATCH_ERROR_SIM);
    ASSERT_CONTAINS(error->message, "lossy.scn:3: [nat home] latency: sim mode does not model");
}

int main(void)
{
    static const test_case_t cases[] = {
        { "defaults keep the files", test_defaults_keep_the_files },
        { "options override", test_options_override },
        { "shard takes its share", test_shard_takes_its_share },
        { "same name refused", test_same_name_refused },
        { "sim refuses what it cannot express", test_sim_refuses_what_it_cannot_express },
        { NULL, NULL },
    };
    return test_run_suite("run_batch", cases);
}
