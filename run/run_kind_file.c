#include "run_kind_file.h"

#include <string.h>
#include <sys/wait.h>

#include "common/keyfile.h"
#include "run_spec.h"

#define CHECK_OUTPUT_MAX 200

const char *run_kind_dir(void)
{
    const char *env = g_getenv("NATLAB_KINDS_DIR");
    return env && *env ? env : NATLAB_KINDS_DIR_DEFAULT;
}

char *run_kind_bin_dir(void)
{
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    return self ? g_path_get_dirname(self) : g_get_current_dir();
}

static int name_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *run_kind_builtin_names(void)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GDir) dir = g_dir_open(run_kind_dir(), 0, NULL);
    const char *f;
    while (dir && (f = g_dir_read_name(dir)))
        if (g_str_has_suffix(f, ".kind"))
            g_ptr_array_add(names, g_strndup(f, strlen(f) - 5));
    g_ptr_array_sort(names, name_cmp);
    GString *s = g_string_new(RUN_KIND_NATLAB);
    for (guint i = 0; i < names->len; i++) {
        const char *n = g_ptr_array_index(names, i);
        g_string_append_printf(s, ", %s", n);
    }
    return g_string_free(s, FALSE);
}

run_kind_t *run_kind_find(const char *ref, const char *base_dir, GError **error)
{
    if (!ref || strcmp(ref, RUN_KIND_NATLAB) == 0)
        return NULL;
    g_autofree char *path = NULL;
    if (run_kind_ref_is_path(ref))
        path = g_path_is_absolute(ref) ? g_strdup(ref) : g_build_filename(base_dir, ref, NULL);
    else
        path = g_strdup_printf("%s/%s.kind", run_kind_dir(), ref);
    g_autofree char *data = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &data, &len, NULL)) {
        g_autofree char *names = run_kind_builtin_names();
        if (run_kind_ref_is_path(ref))
            g_set_error(error, RUN_KIND_ERROR, RUN_KIND_ERROR_MISSING,
                        "kind file %s cannot be read; built-in kinds: %s", path, names);
        else
            g_set_error(error, RUN_KIND_ERROR, RUN_KIND_ERROR_MISSING,
                        "no agent kind '%s'; built in: %s; or the path of a kind file", ref,
                        names);
        return NULL;
    }
    g_autofree char *abs = g_canonicalize_filename(path, NULL);
    g_autofree char *dir = g_path_get_dirname(abs);
    return run_kind_load(data, len, abs, dir, error);
}

bool run_spec_attach_kind(run_spec_t *spec, const char *origin, GError **error)
{
    if (!spec->kind_ref || spec->kind)
        return true;
    g_autofree char *base = origin && g_file_test(origin, G_FILE_TEST_IS_REGULAR)
                                ? g_path_get_dirname(origin)
                                : g_get_current_dir();
    g_autoptr(GError) e = NULL;
    spec->kind = run_kind_find(spec->kind_ref, base, &e);
    if (!spec->kind) {
        g_set_error(error, RUN_KIND_ERROR, e->code, "%s:%d: [agent] kind = %s: %s", origin,
                    spec->kind_line, spec->kind_ref, e->message);
        return false;
    }
    return true;
}

char **run_kind_environ(const run_kind_t *k)
{
    char **env = g_get_environ();
    g_autofree char *bin = run_kind_bin_dir();
    env = g_environ_setenv(env, "NATLAB_BIN_DIR", bin, TRUE);
    if (k) {
        env = g_environ_setenv(env, "NATLAB_KIND", k->name, TRUE);
        env = g_environ_setenv(env, "NATLAB_KIND_DIR", k->dir, TRUE);
    }
    return env;
}

/* sh -c COMMAND in the kind's directory: exit status and what it printed. */
static bool run_command(const run_kind_t *k, const char *command, int *status, char **output)
{
    char *argv[] = { "/bin/sh", "-c", (char *)command, NULL };
    g_auto(GStrv) env = run_kind_environ(k);
    g_autofree char *out = NULL, *err = NULL;
    if (!g_spawn_sync(k->dir, argv, env, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, status, NULL))
        return false;
    *output = g_strstrip(g_strconcat(out ? out : "", err ? err : "", NULL));
    return true;
}

bool run_kind_installed(const run_kind_t *k, char **why)
{
    if (!k)
        return true;
    const char *check = k->check ? k->check : k->version;
    if (!check)
        return true;
    int status = 0;
    g_autofree char *output = NULL;
    bool ran = run_command(k, check, &status, &output);
    if (ran && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return true;
    if (output && strlen(output) > CHECK_OUTPUT_MAX)
        strcpy(output + CHECK_OUTPUT_MAX - 3, "...");
    g_autofree char *how = !ran ? g_strdup("could not start /bin/sh")
                           : WIFEXITED(status)
                               ? g_strdup_printf("exit status %d", WEXITSTATUS(status))
                               : g_strdup_printf("signal %d", WTERMSIG(status));
    *why = g_strdup_printf("agent kind %s is not installed (`%s` failed: %s%s%s): install with: %s",
                           k->name, check, how, output && *output ? ": " : "",
                           output ? output : "", k->install ? k->install : "(the kind file "
                                                                           "does not say)");
    return false;
}

char *run_kind_version(const run_kind_t *k)
{
    if (!k || !k->version)
        return NULL;
    int status = 0;
    g_autofree char *output = NULL;
    if (!run_command(k, k->version, &status, &output) || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0 || !*output)
        return NULL;
    char *nl = strchr(output, '\n');
    return nl ? g_strndup(output, (gsize)(nl - output)) : g_steal_pointer(&output);
}
