/* The shell halves of scenario and run_spec: scenario files and the
 * profile files they name read from disk, and a command line's SCENARIO.
 * What the bytes mean is test_scenario's and test_run_spec's business. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "netns/scenario.h"
#include "run/run_spec.h"
#include "testutil.h"

static void test_profile_file(void)
{
    g_autofree char *dir = g_dir_make_tmp("natlab-test-XXXXXX", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    g_autofree char *profile = g_build_filename(dir, "field.profile", NULL);
    g_autofree char *scn = g_build_filename(dir, "field.scn", NULL);
    CU_ASSERT_TRUE(g_file_set_contents(profile, "[nat]\nmapping = address-dependent\n", -1, NULL));
    /* Relative to the scenario file's directory, not to the working directory. */
    const char *text = "[host h]\nnat = field\n[nat field]\nprofile = field.profile\n";
    CU_ASSERT_TRUE(g_file_set_contents(scn, text, -1, NULL));
    GError *error = NULL;
    g_autoptr(scenario_t) s = scenario_load_file(scn, &error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(scenario_nat(s, 0)->profile->mapping, NAT_ADDRESS_DEPENDENT);
    g_autoptr(run_spec_t) spec = run_spec_load_file(scn, &error);
    CU_ASSERT_PTR_NULL(spec); /* one host: no run, but the profile was read */
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    ASSERT_CONTAINS(error->message, "the runner needs two hosts");
    g_clear_error(&error);
    g_autoptr(scenario_t) up = run_spec_load_scenario_file(scn, &error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(up);
    CU_ASSERT_EQUAL(scenario_nat(up, 0)->profile->mapping, NAT_ADDRESS_DEPENDENT);

    CU_ASSERT_TRUE(g_file_set_contents(scn, "[host h]\n[nat f]\nprofile = nope.profile\n", -1,
                                       NULL));
    CU_ASSERT_PTR_NULL(scenario_load_file(scn, &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    g_autofree char *want = g_strdup_printf("%s:3: [nat f] profile = nope.profile: ", scn);
    ASSERT_CONTAINS(error->message, want);
    ASSERT_CONTAINS(error->message, "nope.profile");
    g_clear_error(&error);
    g_autofree char *none = g_build_filename(dir, "none.scn", NULL);
    CU_ASSERT_PTR_NULL(scenario_load_file(none, &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    ASSERT_CONTAINS(error->message, "none.scn");
    g_clear_error(&error);
    g_unlink(profile);
    g_unlink(scn);
    g_rmdir(dir);
}

static void test_resolve(void)
{
    GError *error = NULL;
    scenario_t *s = NULL;
    g_autofree char *a = scenario_resolve("example", NULL, &s, &error);
    CU_ASSERT_STRING_EQUAL(a, "example");
    CU_ASSERT_PTR_NULL(s);
    g_autofree char *b = scenario_resolve("no/such/file.scn", NULL, &s, &error);
    CU_ASSERT_PTR_NULL(b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    ASSERT_CONTAINS(error->message, "no such scenario file, and not a scenario name");
    g_clear_error(&error);

    /* A file goes through the caller's loader: exec, down and control check
     * the runner's groups as up and run do. */
    g_autofree char *dir = g_dir_make_tmp("natlab-test-XXXXXX", NULL);
    g_autofree char *scn = g_build_filename(dir, "r.scn", NULL);
    CU_ASSERT_TRUE(g_file_set_contents(scn, "[scenario]\nrepeat = -3\n[host h]\n", -1, NULL));
    g_autofree char *plain = scenario_resolve(scn, NULL, &s, &error);
    CU_ASSERT_STRING_EQUAL(plain, "r");
    scenario_free(s);
    g_autofree char *checked = scenario_resolve(scn, run_spec_load_scenario_file, &s, &error);
    CU_ASSERT_PTR_NULL(checked);
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    ASSERT_CONTAINS(error->message, "r.scn:2: [scenario] repeat = -3: allowed: 1 to");
    g_clear_error(&error);
    g_unlink(scn);
    g_rmdir(dir);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "profile = FILE, from disk", test_profile_file },
        { "resolve", test_resolve },
        { NULL, NULL },
    };
    return test_run_suite("scenario_file", cases);
}
