/* Shared set-up of the NAT-PMP and PCP suites: times, addresses, and
 * big-endian access to the answers (common/wire.h). */
#pragma once
#include "common/wire.h"
#include "natsim/nat_engine.h"

#define T0 (5 * USEC_PER_SEC) /* the engine is created at 5 s; epochs count from here */
#define SEC(s) (T0 + (usec_t)(s) * USEC_PER_SEC)
#define PUBLIC_IP ADDR_IP(203, 0, 113, 7)
#define HOST_A ADDR_IP(192, 168, 1, 10)
#define HOST_B ADDR_IP(192, 168, 1, 11)
#define REMOTE_1 addr_endpoint(ADDR_IP(198, 51, 100, 1), 1111)
#define REMOTE_2 addr_endpoint(ADDR_IP(198, 51, 100, 2), 2222)
#define REMOTE_3 addr_endpoint(ADDR_IP(198, 51, 100, 3), 3333)
