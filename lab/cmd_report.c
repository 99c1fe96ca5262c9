/* natlab report DIR... [--out DIR] [--population FILE]: the report from
 * results.jsonl files (several shards merge into one). */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "reports/population.h"
#include "reports/report.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: natlab report DIR... [--out DIR] [--population FILE]\n"
            "       natlab report --print-population\n\n"
            "Rebuilds report.html, heatmap, ttd-cdf and techniques (.png, .svg) and\n"
            "summary.json from DIR/results.jsonl; several DIRs (shards of one run made\n"
            "on other machines) merge into one report.\n\n"
            "  --out DIR          where the report goes (default: the first DIR)\n"
            "  --population FILE  the NAT population model for the field estimate\n"
            "                     (default: built in; see --print-population)\n"
            "  --print-population print the built-in model, to copy and edit\n");
}

int cmd_report_main(int argc, char **argv)
{
    const char *out = NULL, *population = NULL;
    g_autoptr(GPtrArray) dirs = g_ptr_array_new();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--print-population") == 0) {
            fputs(population_default_text(), stdout);
            return 0;
        } else if (strcmp(argv[i], "--out") == 0 || strcmp(argv[i], "--population") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "natlab report: %s needs a value\n", argv[i]);
                return NATLAB_EXIT_USAGE;
            }
            *(strcmp(argv[i], "--out") == 0 ? &out : &population) = argv[i + 1];
            i++;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "natlab report: unknown option '%s'; allowed: --out DIR, "
                            "--population FILE, --print-population\n", argv[i]);
            return NATLAB_EXIT_USAGE;
        } else {
            g_ptr_array_add(dirs, argv[i]);
        }
    }
    if (dirs->len == 0) {
        usage(stderr);
        return NATLAB_EXIT_USAGE;
    }
    g_autoptr(GError) error = NULL;
    if (report_build((const char *const *)dirs->pdata, dirs->len, out, population, &error) != 0) {
        fprintf(stderr, "natlab report: %s\n", error->message);
        return 1;
    }
    const char *first = dirs->pdata[0];
    g_autofree char *dir = out                                        ? g_strdup(out)
                           : g_file_test(first, G_FILE_TEST_IS_DIR) ? g_strdup(first)
                                                                    : g_path_get_dirname(first);
    g_autofree char *where = g_build_filename(dir, "report.html", NULL);
    printf("%s\n", where);
    return 0;
}
