/* The shell of `natlab server`: the UDP sockets of RFC 5780 (A1:P1, A1:P2,
 * A2:P1, A2:P2; two with one address), the GLib main loop, and the cores
 * that answer on them. Today that is the STUN core (stun_server); the
 * rendezvous and relay cores of the agent issue join the same sockets as
 * further entries of the shell's protocol table (server_shell.c), chosen by
 * message type before the STUN core sees a datagram. Every core answers
 * through one send path, so each may reply from any of the sockets.
 *
 * Runs until SIGINT, SIGTERM or SIGHUP; then closes the sockets, prints the
 * counters on stderr, writes them as JSON to `stats_out` and removes the
 * ready file. */
#pragma once
#include <glib.h>

#include "stun_server.h"

typedef struct server_shell_options {
    stun_server_config_t stun;
    const char *ready_file; /* our pid, written once every socket is bound */
    const char *stats_out;  /* JSON counters, written on exit */
} server_shell_options_t;

/* 0 after a signal; 1 with *error set when the server cannot start. */
int server_shell_run(const server_shell_options_t *options, GError **error);
