/* The control protocol of a running NAT: one command line in, one reply
 * line out. Pure dispatch; the daemon owns the socket.
 *   reboot            every mapping lost, new NAT-PMP/PCP epoch
 *   flush             every mapping lost, same epoch
 *   set KEY VALUE     change one profile key (as in a profile file)
 *   stats             JSON counters by reason (router, engine, impairments)
 *   profile           the current profile as JSON
 *   mappings          the live mappings as JSON
 *   help
 * Replies: "ok", a JSON object, or "error: ..." — always one line. */
#pragma once
#include <stdbool.h>

#include "common/duration.h"
#include "nat_router.h"

typedef struct nat_control_target {
    nat_engine_t *engine;
    nat_router_t *router;
    void (*rebooted)(void *ctx); /* e.g. reset PCP nonces */
    void *ctx;
} nat_control_target_t;

char *nat_control_execute(const nat_control_target_t *target, const char *line, usec_t now);
