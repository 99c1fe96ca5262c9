/* The shell of `natlab agent`: the UDP sockets the punch core asks for (the
 * primary one, the LAN discovery one, the birthday ones) on the GLib main
 * loop, the monotonic clock, the default gateway and broadcast address of
 * the host, the application (send N messages and wait for their echoes, or
 * listen and echo), and one JSON event per line on stdout. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#include "punch.h"

typedef struct agent_shell_options {
    punch_config_t punch;    /* name, peer, server, secret, knobs; sockets and addresses filled here */
    bool json;               /* events as JSON lines; else one readable line each */
    bool once;               /* listen: exit after the first session ends */
    unsigned send;           /* connect: messages to send (default 10) */
    usec_t interval;         /* connect: between messages (default 100 ms) */
    usec_t hold;             /* connect: stay at least this long after the start */
    usec_t timeout;          /* give up after (default 60 s + hold); 0: never (listen) */
} agent_shell_options_t;

/* 0: every message delivered (connect) or a clean stop (listen); 1: failed,
 * with the reason printed as an event; -1 with *error when it cannot start. */
int agent_shell_run(const agent_shell_options_t *options, GError **error);
