/* The key file both keyfile suites read (line numbers in the comments), and
 * the check of one value. */
#pragma once
#include <CUnit/Basic.h>
#include <glib.h>
#include <stdio.h>

#include "common/keyfile.h"

static const char sample[] = "# a profile\n"             /* 1 */
                             "[nat]\n"                   /* 2 */
                             "timeout = 30s   # why\n"   /* 3 */
                             "\n"                        /* 4 */
                             "name = a#b\n"              /* 5 */
                             "  loss-inbound = 1%\n"     /* 6 */
                             "loss = 5% # lossy\n"       /* 7 */
                             "tabbed\t=\tx\t# tab\n"     /* 8 */
                             "only =    # nothing\n"     /* 9 */
                             "spaced =   padded   \n"    /* 10 */
                             "[other]\n"                 /* 11 */
                             "timeout = 1min\n"          /* 12 */
                             "hash = #start\n";          /* 13 */

static inline void expect_value(const keyfile_t *kf, const char *group, const char *key,
                         const char *want)
{
    g_autofree char *got = keyfile_get(kf, group, key);
    if (g_strcmp0(got, want) != 0)
        fprintf(stderr, "[%s] %s: '%s', want '%s'\n", group, key, got ? got : "(null)",
                want ? want : "(null)");
    CU_ASSERT_STRING_EQUAL(got ? got : "(null)", want ? want : "(null)");
}
