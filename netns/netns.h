/* Network namespaces, low level (shell): the named namespaces of
 * `ip netns` (/run/netns/NAME): creating and configuring them over
 * rtnetlink, deleting them, listing them and their processes, and starting
 * a program inside one. This process
 * itself never changes namespace (except netns_enter, for exec): the work
 * happens in forked children that setns() and check that they arrived.
 * OS-facing: 0 or -errno, or bool with a GError at the boundary. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

#define NETNS_RUN_DIR "/run/netns"

#define NETNS_ERROR (netns_error_quark())
GQuark netns_error_quark(void);
enum { NETNS_ERROR_FAILED, NETNS_ERROR_MISSING };

/* An open descriptor of the named namespace, or -errno. */
int netns_open(const char *name);
bool netns_exists(const char *name);
/* Names in /run/netns that start with `prefix`, sorted (NULL-terminated). */
char **netns_list(const char *prefix);
/* The pids whose network namespace is `name` (empty if it does not exist). */
GArray *netns_pids(const char *name);

/* Creates the namespaces (each with `sysctls` written before anything
 * else: "path=value" under /proc/sys, a leading '?' when the file may not
 * exist), then carries out `links` and each namespace's batch: text in the
 * form plan.c writes (`ip -batch` lines), done over rtnetlink from one forked
 * child. On failure what was made stays; the caller removes it: *created
 * tells how many of the namespaces (from the first) were made, -1 if unknown. */
typedef struct netns_build {
    char *const *namespaces;
    const char *const *sysctls;
    const char *links;
    char *const *batches; /* one per namespace, in the same order; NULL entries skip */
} netns_build_t;
bool netns_build(const netns_build_t *build, int *created, GError **error);
/* As `ip netns del`: the namespaces go once their last process has. */
bool netns_delete(char *const *names, GError **error);

typedef struct netns_spawn {
    const char *ns;          /* NULL: stay in this namespace */
    char *const *argv;
    char *const *envp;       /* NULL: this environment */
    const char *path;        /* what to execute; NULL: argv[0] searched in PATH */
    const char *cwd;         /* NULL: this one */
    int stdin_fd, stdout_fd, stderr_fd; /* -1: /dev/null */
    bool new_session;        /* setsid(): its own session and process group */
    bool own_sysfs;          /* a private mount namespace with this namespace's /sys,
                                like `ip netns exec` */
} netns_spawn_t;

/* The child's pid, or -errno when the namespace could not be entered, the
 * directory changed or the program executed (known before returning). */
pid_t netns_spawn(const netns_spawn_t *spec);

/* Moves this process into the namespace (and a private mount namespace with
 * its /sys, best effort), for an exec that follows. 0 or -errno. */
int netns_enter(const char *name);

/* A readable one-line hint when namespaces cannot be made at all; NULL if
 * they can. Checks root and the kernel's netns support. */
char *netns_preflight(void);
