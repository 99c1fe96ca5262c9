/* The shell halves that read files: keyfile_load_file and
 * nat_profile_load_file name the file in every error, and read what the
 * cores would read from the same bytes. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "common/keyfile.h"
#include "natsim/nat_profile.h"
#include "keyfile_sample.h"
#include "testutil.h"

static void test_keyfile_load_file(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("natlab-keyfile-XXXXXX", &error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    g_autofree char *path = g_build_filename(dir, "p.ini", NULL);
    CU_ASSERT_TRUE_FATAL(g_file_set_contents(path, sample, -1, NULL));

    keyfile_t *kf = keyfile_load_file(path, &error);
    CU_ASSERT_PTR_NOT_NULL(kf);
    if (kf) {
        CU_ASSERT_STRING_EQUAL(keyfile_origin(kf), path);
        expect_value(kf, "nat", "timeout", "30s");
        GError *value_error = NULL;
        keyfile_set_error(&value_error, kf, "nat", "loss", "5%", "why");
        g_autofree char *want = g_strdup_printf("%s:7: [nat] loss = 5%%: why", path);
        CU_ASSERT_STRING_EQUAL(value_error->message, want);
        g_error_free(value_error);
    }
    keyfile_free(kf);

    CU_ASSERT_TRUE_FATAL(g_file_set_contents(path, "[nat]\nbroken\n", -1, NULL));
    CU_ASSERT_PTR_NULL(keyfile_load_file(path, &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    g_autofree char *want = g_strdup_printf("%s:2: ", path);
    ASSERT_CONTAINS(error->message, want);
    g_clear_error(&error);

    g_unlink(path);
    CU_ASSERT_PTR_NULL(keyfile_load_file(path, &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    ASSERT_CONTAINS(error->message, path); /* a missing file names itself */
    g_clear_error(&error);
    g_rmdir(dir);
}

static void test_nat_profile_load_file(void)
{
    g_autofree char *dir = g_dir_make_tmp("natlab-profile-XXXXXX", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    g_autofree char *path = g_build_filename(dir, "office.ini", NULL);
    GError *error = NULL;

    CU_ASSERT_TRUE_FATAL(g_file_set_contents(path, "[nat]\nfiltering = address-dependent\n", -1, NULL));
    nat_profile_t *p = nat_profile_load_file(path, &error);
    CU_ASSERT_PTR_NOT_NULL(p);
    if (p) {
        CU_ASSERT_STRING_EQUAL(p->name, "office.ini");
        CU_ASSERT_EQUAL(p->filtering, NAT_ADDRESS_DEPENDENT);
    }
    nat_profile_free(p);

    CU_ASSERT_TRUE_FATAL(g_file_set_contents(path, "[nat]\n\nhairpin = maybe\n", -1, NULL));
    CU_ASSERT_PTR_NULL(nat_profile_load_file(path, &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    g_autofree char *want = g_strdup_printf("%s:3: [nat] hairpin = maybe: allowed: off, on, "
                                            "internal-source",
                                            path);
    CU_ASSERT_STRING_EQUAL(error->message, want);
    g_clear_error(&error);

    g_unlink(path);
    CU_ASSERT_PTR_NULL(nat_profile_load_file(path, &error));
    CU_ASSERT_PTR_NOT_NULL_FATAL(error);
    ASSERT_CONTAINS(error->message, path);
    g_clear_error(&error);
    g_rmdir(dir);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "keyfile_load_file", test_keyfile_load_file },
        { "nat_profile_load_file", test_nat_profile_load_file },
        { NULL, NULL },
    };
    return test_run_suite("load_file", cases);
}
