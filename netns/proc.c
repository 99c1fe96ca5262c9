#include "proc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "common/clock.h"

uint64_t proc_start_time(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    g_autofree char *stat = NULL;
    if (pid <= 0 || !g_file_get_contents(path, &stat, NULL, NULL))
        return 0;
    /* "PID (COMM) STATE ..." where COMM may hold spaces and parentheses. */
    const char *p = strrchr(stat, ')');
    if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
        return 0;
    p += 2;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p ? g_ascii_strtoull(p, NULL, 10) : 0;
}

bool proc_ref_alive(const proc_ref_t *ref)
{
    uint64_t start = proc_start_time(ref->pid);
    return start != 0 && (ref->start_time == 0 || start == ref->start_time);
}

proc_ref_t proc_ref_of(pid_t pid, bool group)
{
    return (proc_ref_t){ .pid = pid, .start_time = proc_start_time(pid), .group = group };
}

bool proc_ref_write(const char *path, const proc_ref_t *ref, GError **error)
{
    g_autofree char *text = g_strdup_printf("%d %" G_GUINT64_FORMAT "%s\n", (int)ref->pid,
                                            ref->start_time, ref->group ? " group" : "");
    return g_file_set_contents(path, text, -1, error);
}

bool proc_ref_read(const char *path, proc_ref_t *out)
{
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return false;
    char *end;
    long pid = strtol(text, &end, 10);
    if (end == text || pid <= 0 || pid > INT32_MAX)
        return false;
    *out = (proc_ref_t){ .pid = (pid_t)pid };
    out->start_time = g_ascii_strtoull(end, &end, 10);
    out->group = strstr(end, "group") != NULL;
    return true;
}

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_signal(int fd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
}

static void send(const proc_ref_t *ref, int fd, int sig)
{
    /* The group first: the leader may have gone while its children stay. */
    if (ref->group)
        kill(-ref->pid, sig);
    pidfd_signal(fd, sig);
}

/* Waits until every pidfd is readable (its process exited) or the deadline;
 * returns how many are still running. Closed slots are -1. */
static unsigned wait_exits(int *fds, const proc_ref_t *procs, size_t n, usec_t deadline)
{
    struct pollfd *pfd = g_new0(struct pollfd, n);
    unsigned alive = 0;
    for (;;) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (fds[i] < 0)
                continue;
            pfd[m++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
        }
        alive = (unsigned)m;
        usec_t left = deadline - clock_now_usec();
        if (m == 0 || left <= 0)
            break;
        int r = poll(pfd, m, (int)((left + 999) / 1000));
        if (r < 0 && errno != EINTR)
            break;
        for (size_t k = 0; k < m; k++) {
            if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            for (size_t i = 0; i < n; i++) {
                if (fds[i] == pfd[k].fd) {
                    waitpid(procs[i].pid, NULL, WNOHANG); /* ours: no zombie left */
                    close(fds[i]);
                    fds[i] = -1;
                }
            }
        }
    }
    g_free(pfd);
    return alive;
}

unsigned proc_terminate(const proc_ref_t *procs, size_t n, usec_t grace)
{
    if (n == 0)
        return 0;
    int *fds = g_new(int, n);
    for (size_t i = 0; i < n; i++) {
        fds[i] = -1;
        if (procs[i].pid <= 0)
            continue;
        int fd = pidfd_open_(procs[i].pid);
        /* Checked after the pidfd pins the process: a pid reused before that
         * fails the start-time check, one reused after cannot be signalled. */
        if (fd >= 0 && !proc_ref_alive(&procs[i])) {
            waitpid(procs[i].pid, NULL, WNOHANG); /* a zombie child of ours */
            close(fd);
            fd = -1;
        }
        fds[i] = fd;
        if (fd >= 0)
            send(&procs[i], fd, SIGTERM);
    }
    unsigned alive = wait_exits(fds, procs, n, clock_now_usec() + grace);
    if (alive > 0) {
        for (size_t i = 0; i < n; i++)
            if (fds[i] >= 0)
                send(&procs[i], fds[i], SIGKILL);
        alive = wait_exits(fds, procs, n, clock_now_usec() + USEC_PER_SEC);
    }
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    g_free(fds);
    return alive;
}
