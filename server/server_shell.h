/* The shell of `natlab server`: the UDP sockets of RFC 5780 (A1:P1, A1:P2,
 * A2:P1, A2:P2; two with one address), TCP on the same endpoints and on
 * the primary address at the extra ports (server_tcp.h: STUN and framed
 * agentmsgs, each connection a socket index of its own for the rendezvous
 * core), the GLib main loop, and the cores
 * that answer on them, chosen per datagram by the shell's protocol table
 * (server_shell.c): the rendezvous and relay core (rendezvous.h) takes its
 * own protocol's datagrams (agentmsg_claims), the STUN core (stun_server.h)
 * the rest. Every core answers through one send path, so each may reply from
 * any of the sockets; the rendezvous core answers from the socket a request
 * arrived on, and reaches a member by the socket it registered on. Its rng
 * is seeded from the kernel (getrandom); its memory is swept once a second.
 *
 * Runs until SIGINT, SIGTERM or SIGHUP; then closes the sockets, prints the
 * counters on stderr, writes them as JSON to `stats_out` and removes the
 * ready file. */
#pragma once
#include <glib.h>

#include "rendezvous.h"
#include "server_tcp.h"
#include "stun_server.h"

typedef struct server_shell_options {
    stun_server_config_t stun;
    rendezvous_config_t rendezvous; /* zeros: the defaults, no secret */
    uint16_t tcp_ports[SERVER_TCP_MAX_EXTRA_PORTS]; /* TCP on the primary address besides the STUN endpoints */
    unsigned n_tcp_ports;
    const char *ready_file; /* our pid, written once every socket is bound */
    const char *stats_out;  /* JSON counters, written on exit */
} server_shell_options_t;

/* 0 after a signal; 1 with *error set when the server cannot start. */
int server_shell_run(const server_shell_options_t *options, GError **error);
