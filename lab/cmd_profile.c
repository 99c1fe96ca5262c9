/* natlab profile check FILE [--json]: validate and print the normalised profile. */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "natsim/nat_profile.h"

static int usage(FILE *out, int status)
{
    fprintf(out, "usage: natlab profile check FILE [--json]\n"
                 "  FILE is a key file with a [nat] group; 'preset = NAME' starts from a preset\n"
                 "  (see 'natlab presets') and any other key overrides it.\n");
    return status;
}

int cmd_profile_main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--help") == 0)
        return usage(stdout, 0);
    if (argc < 3 || strcmp(argv[1], "check") != 0)
        return usage(stderr, NATLAB_EXIT_USAGE);
    const char *path = NULL;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (!path)
            path = argv[i];
        else
            return usage(stderr, NATLAB_EXIT_USAGE);
    }
    if (!path)
        return usage(stderr, NATLAB_EXIT_USAGE);
    g_autoptr(GError) error = NULL;
    g_autoptr(nat_profile_t) profile = nat_profile_load_file(path, &error);
    if (!profile) {
        fprintf(stderr, "natlab profile: %s\n", error->message);
        return 1;
    }
    g_autofree char *text = json ? nat_profile_to_json(profile) : nat_profile_to_keyfile(profile);
    printf("%s%s", text, json ? "\n" : "");
    return 0;
}
