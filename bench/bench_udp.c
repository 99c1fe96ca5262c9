#define _GNU_SOURCE
#include "bench/bench_udp.h"


#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "common/sockaddr.h"

#define BATCH 64
#define MAX_PAYLOAD 1472

static int open_socket(const bench_udp_job_t *job)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int size = 8 * 1024 * 1024, one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in local = sockaddr_from_endpoint(job->local);
    if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0)
        return -errno;
    if (job->role == BENCH_UDP_BLAST || job->role == BENCH_UDP_PINGER) {
        struct sockaddr_in remote = sockaddr_from_endpoint(job->remote);
        if (connect(fd, (struct sockaddr *)&remote, sizeof remote) < 0)
            return -errno;
    }
    return fd;
}

static void run_sink(int fd, const bench_udp_job_t *job, bench_udp_result_t *r)
{
    static uint8_t bufs[BATCH][2048];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i] = (struct iovec){ bufs[i], sizeof bufs[i] };
        msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
    }
    double first = 0, last = 0, deadline = bench_mono_seconds() + job->seconds;
    while (bench_mono_seconds() < deadline) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 50) <= 0)
            continue;
        int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            continue;
        last = bench_mono_seconds();
        if (r->packets == 0)
            first = last;
        r->packets += (uint64_t)n;
        for (int i = 0; i < n; i++)
            r->bytes += msgs[i].msg_len;
    }
    r->seconds = last - first;
}

static void run_blast(int fd, const bench_udp_job_t *job, bench_udp_result_t *r)
{
    static uint8_t payload[MAX_PAYLOAD];
    struct mmsghdr msgs[BATCH];
    struct iovec iov = { payload, MIN(job->payload, sizeof payload) };
    for (int i = 0; i < BATCH; i++)
        msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };
    double start = bench_mono_seconds(), deadline = start + job->seconds;
    while (bench_mono_seconds() < deadline) {
        int n = sendmmsg(fd, msgs, BATCH, 0);
        if (n > 0) {
            r->packets += (uint64_t)n;
            r->bytes += (uint64_t)n * iov.iov_len;
        }
    }
    r->seconds = bench_mono_seconds() - start;
}

static void run_echo(int fd)
{
    uint8_t buf[2048];
    for (;;) {
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n > 0)
            sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
    }
}

static void run_pinger(int fd, const bench_udp_job_t *job, bench_udp_result_t *r)
{
    double *samples = g_new(double, job->count);
    uint8_t buf[64] = { 0 };
    unsigned n = 0;
    for (unsigned i = 0; i < job->count; i++) {
        memcpy(buf, &i, sizeof i);
        double t0 = bench_mono_seconds();
        if (send(fd, buf, 32, 0) < 0)
            continue;
        struct pollfd p = { fd, POLLIN, 0 };
        while (poll(&p, 1, 200) > 0) {
            unsigned seq;
            if (recv(fd, buf, sizeof buf, 0) >= (ssize_t)sizeof seq && (memcpy(&seq, buf, sizeof seq), seq == i)) {
                samples[n++] = (bench_mono_seconds() - t0) * 1e6;
                break;
            }
        }
    }
    qsort(samples, n, sizeof *samples, bench_compare_double);
    r->packets = n;
    if (n) {
        r->rtt_min_us = samples[0];
        r->rtt_p50_us = samples[n / 2];
        r->rtt_p90_us = samples[n * 9 / 10];
    }
    g_free(samples);
}

static void run_role(int fd, const void *job_, void *result)
{
    const bench_udp_job_t *job = job_;
    bench_udp_result_t *r = result;
    switch (job->role) {
    case BENCH_UDP_SINK: run_sink(fd, job, r); break;
    case BENCH_UDP_BLAST: run_blast(fd, job, r); break;
    case BENCH_UDP_ECHO: run_echo(fd); break;
    case BENCH_UDP_PINGER: run_pinger(fd, job, r); break;
    }
}

static int setup_role(const void *job)
{
    return open_socket(job);
}

pid_t bench_udp_start(const bench_udp_job_t *job, int *result_fd)
{
    return bench_job_start(job->netns, setup_role, run_role, job, sizeof(bench_udp_result_t),
                           result_fd);
}

bool bench_udp_finish(pid_t pid, int fd, bench_udp_result_t *out)
{
    return bench_job_finish(pid, fd, out, sizeof *out);
}
