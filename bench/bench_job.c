#define _GNU_SOURCE
#include "bench/bench_job.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double bench_mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int bench_compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int bench_netns_enter(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

pid_t bench_job_start(const char *netns, bench_job_setup_fn setup, bench_job_run_fn run,
                      const void *job, size_t result_size, int *result_fd)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        close(pipefd[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        void *result = calloc(1, result_size);
        int fd = bench_netns_enter(netns);
        if (fd == 0)
            fd = setup(job);
        if (fd < 0 || !result)
            _exit(2);
        if (write(pipefd[1], "R", 1) != 1)
            _exit(2);
        run(fd, job, result);
        _exit(write(pipefd[1], result, result_size) == (ssize_t)result_size ? 0 : 2);
    }
    close(pipefd[1]);
    char ready;
    if (read(pipefd[0], &ready, 1) != 1) {
        close(pipefd[0]);
        waitpid(pid, NULL, 0);
        return -EIO;
    }
    *result_fd = pipefd[0];
    return pid;
}

bool bench_job_finish(pid_t pid, int fd, void *out, size_t result_size)
{
    ssize_t n = read(fd, out, result_size);
    close(fd);
    int status = 0;
    waitpid(pid, &status, 0);
    return n == (ssize_t)result_size && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void bench_job_stop(pid_t pid, int fd)
{
    kill(pid, SIGKILL);
    close(fd);
    waitpid(pid, NULL, 0);
}
