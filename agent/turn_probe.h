/* `natlab turn` (shell): one TURN allocation on a standard server (coturn,
 * ...) from this host, over UDP or TCP, and optionally data through it to
 * an echoing peer: does the relay work from behind this NAT, and what does
 * it cost. The sockets and the poll loop around agent/turn. */
#pragma once
#include <stdbool.h>

#include "common/addr.h"
#include "common/duration.h"

typedef struct turn_probe_options {
    addr_endpoint_t server;
    bool tcp;
    const char *username, *password, *realm;
    addr_endpoint_t peer; /* port 0: no data, the allocation only */
    unsigned send;        /* messages to the peer, each echoed back */
    usec_t timeout;       /* for the whole probe */
    bool json;
} turn_probe_options_t;

/* 0: allocated (and every message echoed); 1: failed, the reason printed. */
int turn_probe_run(const turn_probe_options_t *options);
