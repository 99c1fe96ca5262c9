/* One side of a forwarding benchmark in a child process inside a network
 * namespace: the child enters the namespace, runs `setup` (its socket, or 0
 * when it makes its own later; negative: failure), writes one byte to say
 * it is ready, runs `run` and sends back `result_size` bytes of result
 * through a pipe. The parent waits for readiness, never for a fixed time. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef int (*bench_job_setup_fn)(const void *job);
typedef void (*bench_job_run_fn)(int fd, const void *job, void *result);

/* The child's pid, *result_fd the pipe's read end; -errno on failure. */
pid_t bench_job_start(const char *netns, bench_job_setup_fn setup, bench_job_run_fn run,
                      const void *job, size_t result_size, int *result_fd);
/* Reads the child's result and reaps it; false on failure. */
bool bench_job_finish(pid_t pid, int result_fd, void *out, size_t result_size);
/* Stops a child that runs until killed. */
void bench_job_stop(pid_t pid, int result_fd);

/* CLOCK_MONOTONIC in seconds, and a qsort comparator for doubles. */
double bench_mono_seconds(void);
int bench_compare_double(const void *a, const void *b);
/* Enters a network namespace by path (for the caller's own children). */
int bench_netns_enter(const char *path);
