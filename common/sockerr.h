/* The socket error queue (IP_RECVERR): the ICMP errors the kernel matched
 * to a socket, one at a time. The shell of netcheck reads it for its UDP
 * probes, the server's connect-back to tell an ICMP error from a reset. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

typedef struct sockerr_icmp {
    uint8_t type, code;
    addr_endpoint_t to; /* where the datagram that failed was going (0 if unknown) */
} sockerr_icmp_t;

/* Turns on IP_RECVERR for fd; false on failure. */
bool sockerr_enable(int fd);
/* The next ICMP error on fd's queue (other queued errors are skipped);
 * false when the queue is empty. Never blocks. */
bool sockerr_next_icmp(int fd, sockerr_icmp_t *out);
