/* One attempt (shell): the listening agent on one host, the connecting one on
 * another, both in their namespaces with their output piped back; the
 * scenario's events fired through the NATs' control sockets at their times;
 * a deadline after which both are killed. Every line both agents print goes
 * to the attempt's log. */
#pragma once
#include <glib.h>
#include <signal.h>
#include <stdbool.h>

#include "netns/plan.h"
#include "run_result.h"
#include "run_spec.h"

typedef struct run_attempt_env {
    const run_spec_t *spec;
    const plan_t *plan;
    const char *state_dir;   /* the topology's: NAT.sock live there */
    const char *agent_exe;   /* runs `AGENT_EXE agent ...` */
    const char *server;      /* "IP:PORT" */
    const char *log_path;    /* this attempt's log */
    const char *turn_password; /* coturn's: kinds with servers = turn, [agent] turn */
    volatile sig_atomic_t *interrupted;
} run_attempt_env_t;

/* The result (outcome, error when failed); NULL when interrupted. Nothing it
 * started is left running either way. With another agent kind (spec->kind)
 * the two peers are its listen and connect commands (docs/agents.md). */
result_t *run_attempt(const run_attempt_env_t *env, unsigned attempt, uint64_t seed);

/* One line to a NAT's control socket, its one-line reply back (2 s at most). */
bool run_control(const char *socket_path, const char *line, char **reply, GError **error);
