#define _GNU_SOURCE
#include "netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/addr.h"
#include "netns/rtnl.h"

#define CAP_NET_ADMIN_BIT 12
#define CAP_SYS_ADMIN_BIT 21

G_DEFINE_QUARK(natlab-netns-error-quark, netns_error)

static bool name_safe(const char *name)
{
    return name && name[0] && name[0] != '.' && !strchr(name, '/');
}

int netns_open(const char *name)
{
    if (!name_safe(name))
        return -EINVAL;
    char path[512];
    snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

bool netns_exists(const char *name)
{
    int fd = netns_open(name);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **netns_list(const char *prefix)
{
    GPtrArray *names = g_ptr_array_new();
    DIR *dir = opendir(NETNS_RUN_DIR);
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir)))
            if (name_safe(e->d_name) && g_str_has_prefix(e->d_name, prefix))
                g_ptr_array_add(names, g_strdup(e->d_name));
        closedir(dir);
    }
    if (names->len > 1)
        qsort(names->pdata, names->len, sizeof(char *), compare_strings);
    g_ptr_array_add(names, NULL);
    return (char **)g_ptr_array_free(names, FALSE);
}

GArray *netns_pids(const char *name)
{
    GArray *pids = g_array_new(FALSE, FALSE, sizeof(pid_t));
    int fd = netns_open(name);
    struct stat ns;
    if (fd < 0)
        return pids;
    bool ok = fstat(fd, &ns) == 0;
    close(fd);
    DIR *proc = ok ? opendir("/proc") : NULL;
    if (!proc)
        return pids;
    struct dirent *e;
    while ((e = readdir(proc))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        char path[64];
        struct stat st;
        snprintf(path, sizeof path, "/proc/%ld/ns/net", pid);
        if (stat(path, &st) == 0 && st.st_dev == ns.st_dev && st.st_ino == ns.st_ino) {
            pid_t p = (pid_t)pid;
            g_array_append_val(pids, p);
        }
    }
    closedir(proc);
    return pids;
}

/* ---- children ----------------------------------------------------------- */

/* What a child reports through its close-on-exec pipe when it fails before
 * exec; end of file on the pipe means exec succeeded. */
typedef struct child_failure {
    int step;
    int err;
} child_failure_t;

enum { STEP_SETNS = 1, STEP_CWD, STEP_EXEC, STEP_STDIO };

static void child_fail(int report, int step, int err)
{
    child_failure_t f = { step, err };
    ssize_t n = write(report, &f, sizeof f);
    (void)n;
    _exit(127);
}

/* Enters the namespace behind `fd` and proves it: /proc/self/ns/net must be
 * the same inode afterwards. Refusing to go on in the wrong namespace is what
 * keeps every later address off the host. */
static int enter_fd(int fd)
{
    struct stat want, got;
    if (fstat(fd, &want) < 0)
        return -errno;
    if (setns(fd, CLONE_NEWNET) < 0)
        return -errno;
    if (stat("/proc/self/ns/net", &got) < 0)
        return -errno;
    if (got.st_dev != want.st_dev || got.st_ino != want.st_ino)
        return -EBADFD;
    return 0;
}

/* As `ip netns exec`: a mount namespace of our own whose /sys shows this
 * network namespace's interfaces. Best effort: programs rarely need it. */
static void own_sysfs(const char *name)
{
    if (unshare(CLONE_NEWNS) < 0)
        return;
    if (mount("", "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        return;
    if (umount2("/sys", MNT_DETACH) < 0)
        return;
    mount(name, "/sys", "sysfs", 0, NULL);
}

static void reset_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
}

static int dup_or_null(int fd, int target, int null_flags)
{
    if (fd < 0) {
        fd = open("/dev/null", null_flags | O_CLOEXEC);
        if (fd < 0)
            return -1;
    }
    if (fd == target)
        return fcntl(fd, F_SETFD, 0);
    return dup2(fd, target) < 0 ? -1 : 0;
}

pid_t netns_spawn(const netns_spawn_t *spec)
{
    int nsfd = -1;
    if (spec->ns) {
        nsfd = netns_open(spec->ns);
        if (nsfd < 0)
            return nsfd;
    }
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) {
        int err = -errno;
        if (nsfd >= 0)
            close(nsfd);
        return err;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(report[0]);
        reset_signals();
        if (spec->new_session)
            setsid();
        if (nsfd >= 0) {
            int err = enter_fd(nsfd);
            if (err < 0)
                child_fail(report[1], STEP_SETNS, -err);
            if (spec->own_sysfs)
                own_sysfs(spec->ns);
        }
        if (dup_or_null(spec->stdin_fd, 0, O_RDONLY) < 0 ||
            dup_or_null(spec->stdout_fd, 1, O_WRONLY) < 0 ||
            dup_or_null(spec->stderr_fd, 2, O_WRONLY) < 0)
            child_fail(report[1], STEP_STDIO, errno);
        if (spec->cwd && chdir(spec->cwd) < 0)
            child_fail(report[1], STEP_CWD, errno);
        close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
        char *const *envp = spec->envp ? spec->envp : environ;
        if (spec->path)
            execve(spec->path, spec->argv, envp);
        else
            execvpe(spec->argv[0], spec->argv, envp);
        child_fail(report[1], STEP_EXEC, errno);
    }
    int err = pid < 0 ? -errno : 0;
    close(report[1]);
    if (nsfd >= 0)
        close(nsfd);
    if (pid < 0) {
        close(report[0]);
        return err;
    }
    child_failure_t f;
    ssize_t n;
    do
        n = read(report[0], &f, sizeof f);
    while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof f) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return -f.err;
    }
    return pid;
}

int netns_enter(const char *name)
{
    int fd = netns_open(name);
    if (fd < 0)
        return fd;
    int err = enter_fd(fd);
    close(fd);
    if (err == 0)
        own_sysfs(name);
    return err;
}

/* ---- building: namespaces, sysctls, links, addresses, routes ---------------- */

/* The batch lines plan.c writes, carried out over rtnetlink (the same text
 * works with `ip -n NS -batch -`, which is how to replay it by hand). */
static int apply_line(rtnl_t *r, char **w, int n, GString *err)
{
    uint32_t a, g;
    char *slash;
    if (n == 4 && !strcmp(w[0], "link") && !strcmp(w[1], "set") && !strcmp(w[3], "up"))
        return rtnl_link_up(r, w[2]);
    if (n == 5 && !strcmp(w[0], "link") && !strcmp(w[1], "set") && !strcmp(w[3], "master"))
        return rtnl_link_master(r, w[2], w[4]);
    if (n == 6 && !strcmp(w[0], "link") && !strcmp(w[1], "add") && !strcmp(w[5], "bridge")) {
        int e = rtnl_bridge_add(r, w[3]);
        if (e == -EOPNOTSUPP)
            g_string_append(err, "this kernel has no bridge support (CONFIG_BRIDGE); natlab "
                                 "needs veth and bridge: ");
        return e;
    }
    if (n == 13 && !strcmp(w[0], "link") && !strcmp(w[1], "add") && !strcmp(w[7], "veth")) {
        int fa = netns_open(w[5]), fb = netns_open(w[12]);
        int e = fa < 0 ? fa : fb < 0 ? fb : rtnl_veth_add(r, w[3], fa, w[10], fb);
        if (fa >= 0)
            close(fa);
        if (fb >= 0)
            close(fb);
        if (e == -EOPNOTSUPP)
            g_string_append(err, "this kernel has no veth support (CONFIG_VETH); natlab needs "
                                 "veth and bridge: ");
        return e;
    }
    if (n == 5 && !strcmp(w[0], "addr") && !strcmp(w[1], "add") && (slash = strchr(w[2], '/'))) {
        *slash = '\0';
        if (addr_ip_parse(w[2], &a))
            return rtnl_addr_add(r, w[4], a, (unsigned)atoi(slash + 1));
    }
    if (n == 5 && !strcmp(w[0], "route") && !strcmp(w[1], "add") && !strcmp(w[3], "via") &&
        addr_ip_parse(w[4], &g)) {
        if (!strcmp(w[2], "default"))
            return rtnl_route_add(r, 0, 0, g);
        if ((slash = strchr(w[2], '/'))) {
            *slash = '\0';
            if (addr_ip_parse(w[2], &a))
                return rtnl_route_add(r, a, (unsigned)atoi(slash + 1), g);
        }
    }
    return -EINVAL; /* a line plan.c does not write */
}

static bool apply_batch(const char *where, const char *batch, GString *err)
{
    rtnl_t *r = rtnl_open();
    if (!r) {
        g_string_append_printf(err, "%s: rtnetlink: %s", where, strerror(errno));
        return false;
    }
    g_auto(GStrv) lines = g_strsplit(batch, "\n", -1);
    bool ok = true;
    for (int i = 0; ok && lines[i]; i++) {
        if (!lines[i][0])
            continue;
        g_auto(GStrv) words = g_strsplit(lines[i], " ", -1);
        GString *hint = g_string_new(NULL);
        int e = apply_line(r, words, (int)g_strv_length(words), hint);
        if (e < 0) {
            const char *kernel = rtnl_last_message(r);
            g_string_append_printf(err, "%s%s: %s: %s%s%s", hint->str, where, lines[i],
                                   strerror(-e), kernel[0] ? ": " : "", kernel);
            ok = false;
        }
        g_string_free(hint, TRUE);
    }
    rtnl_close(r);
    return ok;
}

static void write_sysctls(const char *ns, const char *const *settings, GString *err)
{
    for (int i = 0; settings && settings[i] && !err->len; i++) {
        const char *s = settings[i];
        bool optional = s[0] == '?';
        s += optional;
        const char *eq = strchr(s, '=');
        char path[256];
        snprintf(path, sizeof path, "/proc/sys/%.*s", (int)(eq - s), s);
        int f = open(path, O_WRONLY | O_CLOEXEC);
        if (f < 0 && optional && errno == ENOENT)
            continue;
        size_t len = strlen(eq + 1);
        if (f < 0 || write(f, eq + 1, len) != (ssize_t)len)
            g_string_append_printf(err, "%s in namespace %s: %s", path, ns, strerror(errno));
        if (f >= 0)
            close(f);
    }
}

/* As `ip netns add`: /run/netns a shared mount (so the namespace files
 * propagate to other mount namespaces), an empty file, a new namespace
 * bind-mounted on it. This process stays in the new namespace. */
static int create_namespace(const char *name)
{
    static bool shared;
    if (!shared) {
        if (mkdir(NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST)
            return -errno;
        if (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) {
            if (errno != EINVAL ||
                mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0 ||
                mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
                return -errno;
        }
        shared = true;
    }
    char path[512];
    snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", name);
    int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    close(fd);
    if (unshare(CLONE_NEWNET) < 0 || mount("/proc/self/ns/net", path, "none", MS_BIND, NULL) < 0) {
        int err = -errno;
        unlink(path);
        return err;
    }
    return 0;
}

static int build_child(const netns_build_t *b, GString *err)
{
    int created = 0;
    for (int i = 0; b->namespaces[i] && !err->len; i++) {
        int e = create_namespace(b->namespaces[i]);
        if (e < 0)
            g_string_append_printf(err, "cannot create namespace %s: %s%s", b->namespaces[i],
                                   strerror(-e),
                                   e == -EEXIST ? " (a namespace of that name exists)" : "");
        else {
            created++;
            write_sysctls(b->namespaces[i], b->sysctls, err);
        }
    }
    if (!err->len && b->links)
        apply_batch("links", b->links, err);
    for (int i = 0; b->namespaces[i] && !err->len; i++) {
        int fd = netns_open(b->namespaces[i]);
        int e = fd < 0 ? fd : enter_fd(fd);
        if (fd >= 0)
            close(fd);
        if (e < 0)
            g_string_append_printf(err, "cannot enter namespace %s: %s", b->namespaces[i],
                                   strerror(-e));
        else if (b->batches && b->batches[i])
            apply_batch(b->namespaces[i], b->batches[i], err);
    }
    return created;
}

bool netns_build(const netns_build_t *b, int *created, GError **error)
{
    *created = 0;
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) {
        g_set_error(error, NETNS_ERROR, NETNS_ERROR_FAILED, "pipe: %s", g_strerror(errno));
        return false;
    }
    /* A child does it all, so this process never leaves its namespace. */
    pid_t pid = fork();
    if (pid == 0) {
        close(report[0]);
        GString *err = g_string_new(NULL);
        /* The report: how many namespaces exist now, then what went wrong. */
        int n = build_child(b, err);
        ssize_t w = write(report[1], &n, sizeof n);
        if (err->len)
            w = write(report[1], err->str, err->len);
        (void)w;
        _exit(err->len ? 1 : 0);
    }
    close(report[1]);
    if (pid < 0) {
        close(report[0]);
        g_set_error(error, NETNS_ERROR, NETNS_ERROR_FAILED, "fork: %s", g_strerror(errno));
        return false;
    }
    GString *text = g_string_new(NULL);
    char buf[1024];
    ssize_t n;
    while ((n = read(report[0], buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        g_string_append_len(text, buf, n);
    }
    close(report[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && text->len >= sizeof(int);
    if (text->len >= sizeof(int)) {
        memcpy(created, text->str, sizeof(int));
        g_string_erase(text, 0, sizeof(int));
    } else {
        *created = -1; /* unknown */
    }
    if (!ok)
        g_set_error(error, NETNS_ERROR, NETNS_ERROR_FAILED, "%s",
                    text->len ? text->str : "building the namespaces failed");
    g_string_free(text, TRUE);
    return ok;
}

bool netns_delete(char *const *names, GError **error)
{
    bool ok = true;
    for (int i = 0; names && names[i]; i++) {
        if (!name_safe(names[i]))
            continue;
        char path[512];
        snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", names[i]);
        umount2(path, MNT_DETACH);
        if (unlink(path) < 0 && errno != ENOENT && ok) {
            g_set_error(error, NETNS_ERROR, NETNS_ERROR_FAILED, "cannot delete namespace %s: %s",
                        names[i], g_strerror(errno));
            ok = false;
        }
    }
    return ok;
}

/* ---- preflight ----------------------------------------------------------- */

static bool has_capability(int bit)
{
    g_autofree char *status = NULL;
    if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
        return geteuid() == 0;
    const char *line = strstr(status, "\nCapEff:");
    if (!line)
        return geteuid() == 0;
    guint64 caps = g_ascii_strtoull(line + strlen("\nCapEff:"), NULL, 16);
    return (caps >> bit) & 1;
}

char *netns_preflight(void)
{
    if (!has_capability(CAP_SYS_ADMIN_BIT) || !has_capability(CAP_NET_ADMIN_BIT))
        return g_strdup("needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) for network namespaces; "
                        "run it with sudo");
    if (access("/proc/self/ns/net", F_OK) < 0)
        return g_strdup("this kernel has no network namespaces (CONFIG_NET_NS); natlab up "
                        "needs a kernel built with them");
    return NULL;
}
