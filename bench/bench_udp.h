/* UDP load and latency probes for `natlab bench forward` (shell). Each runs
 * in a child process that has entered a network namespace; results come
 * back through a pipe. */
#pragma once
#include "bench/bench_job.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/addr.h"

typedef struct bench_udp_result {
    uint64_t packets, bytes;
    double seconds;
    double rtt_p50_us, rtt_p90_us, rtt_min_us; /* echo client only */
} bench_udp_result_t;

typedef enum bench_udp_role {
    BENCH_UDP_SINK,   /* count what arrives at `local` until the deadline */
    BENCH_UDP_BLAST,  /* send `payload` bytes from `local` to `remote` as fast as possible */
    BENCH_UDP_ECHO,   /* answer every datagram at `local` */
    BENCH_UDP_PINGER, /* `count` round trips to `remote`, one at a time */
} bench_udp_role_t;

typedef struct bench_udp_job {
    bench_udp_role_t role;
    const char *netns; /* path of the namespace file, /run/netns/NAME */
    addr_endpoint_t local, remote;
    size_t payload;
    double seconds;
    unsigned count;
} bench_udp_job_t;

/* Forks a child that enters the namespace, binds, writes one byte to say
 * it is ready and later its result. Returns the pid; *result_fd is the read
 * end. Waits for readiness before returning (no sleeps). -errno on failure. */
pid_t bench_udp_start(const bench_udp_job_t *job, int *result_fd);
/* Reads the child's result and reaps it; false on failure. */
bool bench_udp_finish(pid_t pid, int result_fd, bench_udp_result_t *out);
/* A child that runs until killed (SINK with seconds 0, ECHO) stops with
 * bench_job_stop. */
