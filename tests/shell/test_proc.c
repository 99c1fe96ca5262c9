/* proc + netns_spawn without a namespace: pid files, start times, starting
 * a program (and knowing at once when it cannot start), and stopping
 * process groups with SIGTERM then SIGKILL. No root needed. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netns/netns.h"
#include "netns/proc.h"
#include "testutil.h"

static pid_t spawn_sh(const char *script, bool session)
{
    char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };
    netns_spawn_t spec = { .argv = argv, .path = "/bin/sh", .stdin_fd = -1, .stdout_fd = -1,
                           .stderr_fd = -1, .new_session = session };
    return netns_spawn(&spec);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_start_time(void)
{
    CU_ASSERT_NOT_EQUAL(proc_start_time(getpid()), 0);
    proc_ref_t me = proc_ref_of(getpid(), false);
    CU_ASSERT_TRUE(proc_ref_alive(&me));
    proc_ref_t other = me;
    other.start_time++; /* the same pid, another process: not ours to signal */
    CU_ASSERT_FALSE(proc_ref_alive(&other));
    pid_t pid = spawn_sh("exit 0", false);
    CU_ASSERT_TRUE_FATAL(pid > 0);
    /* A zombie counts as gone. */
    siginfo_t info;
    waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT);
    CU_ASSERT_EQUAL(proc_start_time(pid), 0);
    waitpid(pid, NULL, 0);
    CU_ASSERT_EQUAL(proc_start_time(pid), 0);
}

static void test_pid_file(void)
{
    g_autofree char *dir = g_dir_make_tmp("natlab-proc-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "x.pid", NULL);
    proc_ref_t ref = { .pid = 1234, .start_time = 987654321, .group = true }, back;
    CU_ASSERT_TRUE(proc_ref_write(path, &ref, NULL));
    CU_ASSERT_TRUE(proc_ref_read(path, &back));
    CU_ASSERT_EQUAL(back.pid, 1234);
    CU_ASSERT_EQUAL(back.start_time, 987654321);
    CU_ASSERT_TRUE(back.group);
    CU_ASSERT_TRUE(g_file_set_contents(path, "garbage\n", -1, NULL));
    CU_ASSERT_FALSE(proc_ref_read(path, &back));
    g_unlink(path);
    CU_ASSERT_FALSE(proc_ref_read(path, &back));
    g_rmdir(dir);
}

static void test_spawn(void)
{
    pid_t pid = spawn_sh("exit 3", false);
    CU_ASSERT_TRUE_FATAL(pid > 0);
    int status = 0;
    waitpid(pid, &status, 0);
    CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3);

    char *missing[] = { "natlab-no-such-program", NULL };
    netns_spawn_t spec = { .argv = missing, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };
    CU_ASSERT_EQUAL(netns_spawn(&spec), -ENOENT);
    char *sh[] = { "/bin/sh", "-c", "true", NULL };
    netns_spawn_t nodir = { .argv = sh, .cwd = "/natlab/no/such/dir", .stdin_fd = -1,
                            .stdout_fd = -1, .stderr_fd = -1 };
    CU_ASSERT_EQUAL(netns_spawn(&nodir), -ENOENT);
    netns_spawn_t nons = { .ns = "natlab-test-no-such-namespace", .argv = sh, .stdin_fd = -1,
                           .stdout_fd = -1, .stderr_fd = -1 };
    CU_ASSERT_EQUAL(netns_spawn(&nons), -ENOENT);
}

static void test_terminate(void)
{
    pid_t pid = spawn_sh("sleep 100 & wait", true);
    CU_ASSERT_TRUE_FATAL(pid > 0);
    proc_ref_t ref = proc_ref_of(pid, true);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(proc_terminate(&ref, 1, 5 * USEC_PER_SEC), 0);
    CU_ASSERT_TRUE(seconds_since(&t0) < 2.0); /* SIGTERM was enough */
    CU_ASSERT_EQUAL(proc_start_time(pid), 0);
    CU_ASSERT_EQUAL(waitpid(pid, NULL, WNOHANG), -1); /* and it was reaped */
}

static void test_terminate_stubborn(void)
{
    pid_t pid = spawn_sh("trap '' TERM; sleep 100", true);
    CU_ASSERT_TRUE_FATAL(pid > 0);
    /* Let the shell install its trap before the test signals it. */
    for (int i = 0; i < 2000; i++) {
        g_autofree char *status = NULL;
        g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
        if (g_file_get_contents(path, &status, NULL, NULL) && strstr(status, "SigIgn:")) {
            guint64 ign = g_ascii_strtoull(strstr(status, "SigIgn:") + 7, NULL, 16);
            if (ign & (1ull << (SIGTERM - 1)))
                break;
        }
        g_usleep(1000);
    }
    proc_ref_t ref = proc_ref_of(pid, true);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(proc_terminate(&ref, 1, 200 * USEC_PER_MSEC), 0);
    double took = seconds_since(&t0);
    CU_ASSERT_TRUE(took >= 0.19 && took < 2.0); /* the grace, then SIGKILL */
    CU_ASSERT_EQUAL(proc_start_time(pid), 0);
}

static void test_terminate_recycled(void)
{
    pid_t pid = spawn_sh("sleep 100", true);
    CU_ASSERT_TRUE_FATAL(pid > 0);
    proc_ref_t stale = proc_ref_of(pid, true);
    stale.start_time += 1; /* as if the pid had been given to another process */
    CU_ASSERT_EQUAL(proc_terminate(&stale, 1, 0), 0);
    CU_ASSERT_NOT_EQUAL(proc_start_time(pid), 0); /* untouched */
    proc_ref_t real = proc_ref_of(pid, true);
    CU_ASSERT_EQUAL(proc_terminate(&real, 1, USEC_PER_SEC), 0);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "start time", test_start_time },
        { "pid file", test_pid_file },
        { "spawn", test_spawn },
        { "terminate", test_terminate },
        { "terminate: SIGKILL after the grace", test_terminate_stubborn },
        { "terminate: recycled pid", test_terminate_recycled },
        { NULL, NULL },
    };
    return test_run_suite("proc", cases);
}
