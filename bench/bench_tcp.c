#define _GNU_SOURCE
#include "bench/bench_tcp.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_udp.h"
#include "common/sockaddr.h"

#define CHUNK (128 * 1024)
#define MAX_IN_FLIGHT 256
#define CONNECT_TIMEOUT_S 3.0

static int listener(addr_endpoint_t local)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = sockaddr_from_endpoint(local);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

static void run_sink(int lfd, const bench_tcp_job_t *job, bench_tcp_result_t *r)
{
    double deadline = bench_mono_seconds() + job->seconds;
    struct pollfd p = { lfd, POLLIN, 0 };
    if (poll(&p, 1, (int)(job->seconds * 1000)) != 1)
        return;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    static uint8_t buf[4 * CHUNK];
    double first = 0, last = 0;
    while (bench_mono_seconds() < deadline) {
        p = (struct pollfd){ fd, POLLIN, 0 };
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            break;
        if (n < 0)
            continue;
        last = bench_mono_seconds();
        if (r->bytes == 0)
            first = last;
        r->bytes += (uint64_t)n;
    }
    r->seconds = last - first;
    close(fd);
}

static int connect_to(addr_endpoint_t remote, bool nonblocking)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in sa = sockaddr_from_endpoint(remote);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

static void run_bulk(const bench_tcp_job_t *job, bench_tcp_result_t *r)
{
    struct timeval tv = { .tv_sec = (time_t)CONNECT_TIMEOUT_S };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = sockaddr_from_endpoint(job->remote);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        r->errors = 1;
        return;
    }
    static uint8_t buf[CHUNK];
    double start = bench_mono_seconds(), deadline = start + job->seconds;
    while (bench_mono_seconds() < deadline) {
        ssize_t n = send(fd, buf, sizeof buf, MSG_NOSIGNAL);
        if (n < 0 && errno != EINTR && errno != EAGAIN) {
            r->errors = 1;
            break;
        }
        if (n > 0)
            r->bytes += (uint64_t)n;
    }
    r->seconds = bench_mono_seconds() - start;
    shutdown(fd, SHUT_WR);
    close(fd);
}

static void run_acceptor(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            close(fd); /* the server closes first: its side keeps the TIME_WAIT */
    }
}

/* A slot's connection: connecting (wants POLLOUT), then waiting for the
 * server's FIN (POLLIN, read 0). */
typedef struct slot {
    int fd;
    bool connected;
    double started;
} slot_t;

static void slot_open(slot_t *s, addr_endpoint_t remote, bench_tcp_result_t *r)
{
    s->fd = connect_to(remote, true);
    s->connected = false;
    s->started = bench_mono_seconds();
    if (s->fd < 0)
        r->errors++;
}

static void run_connect(const bench_tcp_job_t *job, bench_tcp_result_t *r)
{
    unsigned n = MIN(MAX(job->count, 1u), MAX_IN_FLIGHT);
    slot_t slots[MAX_IN_FLIGHT];
    struct pollfd p[MAX_IN_FLIGHT];
    double start = bench_mono_seconds(), deadline = start + job->seconds;
    for (unsigned i = 0; i < n; i++)
        slot_open(&slots[i], job->remote, r);
    for (double now = start; now < deadline; now = bench_mono_seconds()) {
        for (unsigned i = 0; i < n; i++) {
            if (slots[i].fd < 0)
                slot_open(&slots[i], job->remote, r);
            p[i] = (struct pollfd){ slots[i].fd, slots[i].connected ? POLLIN : POLLOUT, 0 };
        }
        if (poll(p, n, 50) < 0)
            continue;
        now = bench_mono_seconds();
        for (unsigned i = 0; i < n; i++) {
            slot_t *s = &slots[i];
            bool done = false, failed = false;
            if (!s->connected && (p[i].revents & (POLLOUT | POLLERR | POLLHUP))) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                failed = err != 0;
                s->connected = !failed;
            } else if (s->connected && (p[i].revents & (POLLIN | POLLERR | POLLHUP))) {
                char c;
                ssize_t got = recv(s->fd, &c, 1, MSG_DONTWAIT);
                done = got == 0;
                failed = got < 0 && errno != EAGAIN;
            } else if (now - s->started > CONNECT_TIMEOUT_S) {
                failed = true;
            }
            if (done || failed) {
                close(s->fd);
                s->fd = -1;
                r->connections += done;
                r->errors += failed;
            }
        }
    }
    for (unsigned i = 0; i < n; i++)
        if (slots[i].fd >= 0)
            close(slots[i].fd);
    r->seconds = bench_mono_seconds() - start;
}

pid_t bench_tcp_start(const bench_tcp_job_t *job, int *result_fd)
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
        bench_tcp_result_t r = { 0 };
        int fd = bench_netns_enter(job->netns);
        bool listens = job->role == BENCH_TCP_SINK || job->role == BENCH_TCP_ACCEPTOR;
        if (fd == 0 && listens)
            fd = listener(job->local);
        if (fd < 0)
            _exit(2);
        if (write(pipefd[1], "R", 1) != 1)
            _exit(2);
        switch (job->role) {
        case BENCH_TCP_SINK: run_sink(fd, job, &r); break;
        case BENCH_TCP_BULK: run_bulk(job, &r); break;
        case BENCH_TCP_ACCEPTOR: run_acceptor(fd); break;
        case BENCH_TCP_CONNECT: run_connect(job, &r); break;
        }
        _exit(write(pipefd[1], &r, sizeof r) == sizeof r ? 0 : 2);
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

bool bench_tcp_finish(pid_t pid, int fd, bench_tcp_result_t *out)
{
    ssize_t n = read(fd, out, sizeof *out);
    close(fd);
    int status = 0;
    waitpid(pid, &status, 0);
    return n == sizeof *out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void bench_tcp_stop(pid_t pid, int fd)
{
    kill(pid, SIGKILL);
    close(fd);
    waitpid(pid, NULL, 0);
}
