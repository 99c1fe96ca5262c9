/* libFuzzer harness for the NAT profile parser (key file, durations, every
 * value parser, cross-key checks). Invariant: whatever loads must print a
 * normalised key file that loads again and prints the very same text. */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natsim/nat_profile.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* A GLib critical or warning on any input is a bug worth a crash report. */
    g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GError *error = NULL;
    nat_profile_t *p = nat_profile_load_data((const char *)data, size, "fuzz", &error);
    if (!p) {
        if (!error || !error->message || !*error->message)
            abort(); /* every failure must say why */
        g_error_free(error);
        return 0;
    }
    char *text = nat_profile_to_keyfile(p);
    char *json = nat_profile_to_json(p);
    char *summary = nat_profile_summary(p);
    nat_profile_t *again = nat_profile_load_data(text, strlen(text), "normalised", &error);
    if (!again) {
        fprintf(stderr, "normalised profile does not load: %s\n--- text\n%s", error->message,
                text);
        abort();
    }
    char *text2 = nat_profile_to_keyfile(again);
    if (strcmp(text, text2) != 0) {
        fprintf(stderr, "round trip differs\n--- first\n%s--- second\n%s", text, text2);
        abort();
    }
    if (!nat_profile_validate(again, NULL))
        abort();
    g_free(text2);
    nat_profile_free(again);
    g_free(summary);
    g_free(json);
    g_free(text);
    nat_profile_free(p);
    return 0;
}
