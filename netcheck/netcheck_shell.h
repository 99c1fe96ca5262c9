/* The shell of `natlab netcheck`: as many UDP sockets as the core asks for,
 * a poll loop that feeds it datagrams, ICMP errors (IP_RECVERR) and the
 * monotonic clock; then the TCP tests (netcheck_tcp.h): the connections and
 * listeners that core asks for, their streams framed into STUN messages. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#include "netcheck.h"

typedef struct netcheck_shell_options {
    addr_endpoint_t server;
    usec_t lifetime_max; /* 0: no lifetime search */
    bool ask_gateway;    /* NAT-PMP and PCP on the default gateway */
    uint32_t gateway;    /* with ask_gateway: 0 = read /proc/net/route */
    uint64_t seed;       /* 0: a random one */
    bool no_tcp;         /* skip the TCP tests (netcheck_tcp.h) */
} netcheck_shell_options_t;

#define NETCHECK_SHELL_ERROR (netcheck_shell_error_quark())
GQuark netcheck_shell_error_quark(void);
enum { NETCHECK_SHELL_ERROR_SOCKET };

/* Runs netcheck over real sockets until it is done; copies the result. */
bool netcheck_shell_run(const netcheck_shell_options_t *options, netcheck_result_t *result,
                        GError **error);
