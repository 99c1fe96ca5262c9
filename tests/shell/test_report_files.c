/* The reports' shell halves that read files: results_add_path (a directory
 * holding results.jsonl, or the file) and population_load_file read what
 * the cores read from the same bytes, and name the file in errors. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "report_fixture.h"
#include "reports/population.h"
#include "reports/results.h"
#include "testutil.h"

/* One pair is enough here: test_report_results reads the lines themselves. */
static const fx_pair_t pairs[] = {
    { NULL, "full-cone", FX_EIM, "symmetric", FX_APDM, 7, 2, 1, 100, 10 },
};

static void test_add_path(void)
{
    g_autofree char *dir = g_dir_make_tmp("natlab-test-XXXXXX", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    g_autoptr(results_t) r = results_new();
    g_autoptr(GError) error = NULL;
    CU_ASSERT_FALSE(results_add_path(r, dir, &error)); /* no results.jsonl yet */
    CU_ASSERT_TRUE(error && strstr(error->message, "results.jsonl"));
    g_clear_error(&error);
    g_autoptr(GPtrArray) lines = fx_lines(pairs, G_N_ELEMENTS(pairs), 6);
    g_autofree char *text = fx_shard(lines, 0, 1);
    g_autofree char *file = g_build_filename(dir, "results.jsonl", NULL);
    CU_ASSERT_TRUE_FATAL(g_file_set_contents(file, text, -1, NULL));
    CU_ASSERT_TRUE(results_add_path(r, dir, &error));
    CU_ASSERT_EQUAL(r->attempts->len, 7 + 2 + 1);
    CU_ASSERT_STRING_EQUAL(r->origins->pdata[0], file);
    CU_ASSERT_STRING_EQUAL(r->dirs->pdata[0], dir);
    /* The file itself works too; the same lines again are refused. */
    CU_ASSERT_FALSE(results_add_path(r, file, &error));
    CU_ASSERT_TRUE(error && strstr(error->message, "the same attempt as"));
    g_unlink(file);
    g_rmdir(dir);
}

static void test_population_load_file(void)
{
    g_autofree char *dir = g_dir_make_tmp("natlab-test-XXXXXX", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    g_autofree char *file = g_build_filename(dir, "my.pop", NULL);
    g_autoptr(GError) error = NULL;
    CU_ASSERT_PTR_NULL(population_load_file(file, &error)); /* not there yet */
    CU_ASSERT_TRUE(error && strstr(error->message, "my.pop"));
    g_clear_error(&error);
    static const char text[] = "[weights]\nfull-cone = 3\nsymmetric = 1\n";
    CU_ASSERT_TRUE_FATAL(g_file_set_contents(file, text, -1, NULL));
    g_autoptr(population_t) p = population_load_file(file, &error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    g_autoptr(population_t) same = population_load_data(text, strlen(text), file, &error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(same);
    CU_ASSERT_STRING_EQUAL(p->origin, same->origin);
    CU_ASSERT_DOUBLE_EQUAL(population_weight(p, "full-cone"), population_weight(same, "full-cone"),
                           1e-12);
    CU_ASSERT_DOUBLE_EQUAL(population_weight(p, "symmetric"), population_weight(same, "symmetric"),
                           1e-12);
    g_unlink(file);
    g_rmdir(dir);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "a directory holding results.jsonl", test_add_path },
        { "a population file", test_population_load_file },
        { NULL, NULL },
    };
    return test_run_suite("report_files", cases);
}
