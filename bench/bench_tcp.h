/* TCP load probes for `natlab bench forward` (shell): one bulk stream and
 * a connection-setup loop. Each runs in a child process that has entered a
 * network namespace; results come back through a pipe (as bench_udp). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/addr.h"

typedef struct bench_tcp_result {
    uint64_t bytes;       /* SINK: received; BULK: written */
    uint64_t connections; /* CONNECT: completed (connect, the server's FIN, close) */
    uint64_t errors;      /* CONNECT: refused, reset or timed out */
    double seconds;       /* SINK: first to last byte; others: the loop's time */
} bench_tcp_result_t;

typedef enum bench_tcp_role {
    BENCH_TCP_SINK,     /* accept one connection at `local`, read it to EOF or the deadline */
    BENCH_TCP_BULK,     /* connect to `remote`, write for `seconds` */
    BENCH_TCP_ACCEPTOR, /* accept at `local` and close at once, until killed */
    BENCH_TCP_CONNECT,  /* `count` connections in flight to `remote`, each closed after the server's FIN */
} bench_tcp_role_t;

typedef struct bench_tcp_job {
    bench_tcp_role_t role;
    const char *netns; /* /run/netns/NAME */
    addr_endpoint_t local, remote;
    double seconds;
    unsigned count;
} bench_tcp_job_t;

/* Forks the child (it says when it listens or is about to start); its pid,
 * *result_fd the pipe's read end; -errno on failure. */
pid_t bench_tcp_start(const bench_tcp_job_t *job, int *result_fd);
/* Reads the child's result and reaps it; false on failure. */
bool bench_tcp_finish(pid_t pid, int result_fd, bench_tcp_result_t *out);
/* A child that runs until killed (ACCEPTOR) stops with bench_job_stop. */
