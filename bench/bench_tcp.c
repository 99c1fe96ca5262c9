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

static void run_role(int fd, const void *job_, void *result)
{
    const bench_tcp_job_t *job = job_;
    bench_tcp_result_t *r = result;
    switch (job->role) {
    case BENCH_TCP_SINK: run_sink(fd, job, r); break;
    case BENCH_TCP_BULK: run_bulk(job, r); break;
    case BENCH_TCP_ACCEPTOR: run_acceptor(fd); break;
    case BENCH_TCP_CONNECT: run_connect(job, r); break;
    }
}

/* The listening roles bind first; the others make their sockets as they go. */
static int setup_role(const void *job_)
{
    const bench_tcp_job_t *job = job_;
    bool listens = job->role == BENCH_TCP_SINK || job->role == BENCH_TCP_ACCEPTOR;
    return listens ? listener(job->local) : 0;
}

pid_t bench_tcp_start(const bench_tcp_job_t *job, int *result_fd)
{
    return bench_job_start(job->netns, setup_role, run_role, job, sizeof(bench_tcp_result_t),
                           result_fd);
}

bool bench_tcp_finish(pid_t pid, int fd, bench_tcp_result_t *out)
{
    return bench_job_finish(pid, fd, out, sizeof *out);
}
