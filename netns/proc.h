/* Processes natlab started and must stop later, possibly from another
 * natlab process: a pid plus its start time (so a recycled pid is never
 * signalled), written to and read from pid files. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/duration.h"

typedef struct proc_ref {
    pid_t pid;
    uint64_t start_time; /* /proc/PID/stat field 22; 0: unknown, trust the pid */
    bool group;          /* it leads a process group: signal the whole group */
} proc_ref_t;

/* The start time of a live process; 0 if it is gone or a zombie. */
uint64_t proc_start_time(pid_t pid);
/* Alive, and the same process the reference was taken from. */
bool proc_ref_alive(const proc_ref_t *ref);
proc_ref_t proc_ref_of(pid_t pid, bool group);

/* "PID START_TIME\n". */
bool proc_ref_write(const char *path, const proc_ref_t *ref, GError **error);
bool proc_ref_read(const char *path, proc_ref_t *out);

/* SIGTERM to each (its group when it leads one), up to `grace` for all to
 * exit, then SIGKILL and up to one more second. Children of ours are reaped.
 * Returns how many were still alive at the end. */
unsigned proc_terminate(const proc_ref_t *procs, size_t n, usec_t grace);
