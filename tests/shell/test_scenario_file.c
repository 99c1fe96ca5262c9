/* The shell halves of scenario and run_spec: scenario files and the
 * profile files they name, read from disk; a command line's SCENARIO. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "netns/scenario.h"
#include "run/run_spec.h"
#include "testutil.h"

static char *load_error(const char *text, const char *path)
{
    CU_ASSERT_TRUE_FATAL(g_file_set_contents(path, text, -1, NULL));
    GError *error = NULL;
    scenario_t *s = scenario_load_file(path, &error);
    CU_ASSERT_PTR_NULL(s);
    scenario_free(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    char *msg = g_strdup(error->message);
    g_error_free(error);
    return msg;
}

static void test_profile_file(void)
{
    g_autofree char *dir = g_dir_make_tmp("natlab-test-XXXXXX", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    g_autofree char *profile = g_build_filename(dir, "field.profile", NULL);
    g_autofree char *scn = g_build_filename(dir, "field.scn", NULL);
    const char *ptext = "[nat]\nmapping = address-dependent\npublic-ips = 203.0.113.5,203.0.113.6\n";
    CU_ASSERT_TRUE(g_file_set_contents(profile, ptext, -1, NULL));
    const char *text = "[host h]\nnat = field\n[nat field]\nprofile = field.profile\n"
                       "hairpin = off\n";
    CU_ASSERT_TRUE(g_file_set_contents(scn, text, -1, NULL));
    GError *error = NULL;
    scenario_t *s = scenario_load_file(scn, &error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    const nat_profile_t *p = scenario_nat(s, 0)->profile;
    CU_ASSERT_EQUAL(p->mapping, NAT_ADDRESS_DEPENDENT);
    CU_ASSERT_EQUAL(p->hairpin, NAT_HAIRPIN_OFF);
    CU_ASSERT_EQUAL(p->public_ip_count, 2); /* the count stays, the field's addresses go */
    CU_ASSERT_EQUAL(p->public_ips[0], 0);
    scenario_free(s);

    const char *both = "[host h]\n[nat f]\nprofile = field.profile\npreset = full-cone\n";
    g_autofree char *msg = load_error(both, scn);
    ASSERT_CONTAINS(msg, "field.scn:4: [nat f] preset = full-cone: give either preset or "
                         "profile (line 3), not both");
    const char *missing = "[host h]\n[nat f]\nprofile = nope.profile\n";
    g_autofree char *msg2 = load_error(missing, scn);
    ASSERT_CONTAINS(msg2, "field.scn:3: [nat f] profile = nope.profile:");
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
}

int main(void)
{
    static const test_case_t cases[] = {
        { "profile = FILE", test_profile_file },
        { "resolve", test_resolve },
        { NULL, NULL },
    };
    return test_run_suite("scenario_file", cases);
}
