/* The control protocol of a running NAT: one command line in, one reply
 * line out. Pure dispatch; the daemon owns the socket.
 *   reboot            every mapping lost, new NAT-PMP/PCP epoch
 *   flush             every mapping lost, same epoch
 *   change-ip [IP]    the first public address is swapped for a spare one
 *                     (IP, or the first spare), every mapping lost; the old
 *                     address becomes a spare, so a second change-ip goes back
 *   set KEY VALUE     change one profile key (as in a profile file)
 *   stats             JSON counters by reason (router, engine, impairments,
 *                     and nfqueue's when the target has queue_stats)
 *   profile           the current profile as JSON
 *   mappings          the live mappings as JSON
 *   help
 * Replies: "ok", a JSON object ({"from": OLD, "to": NEW} for change-ip), or "error: ..." — always one line. */
#pragma once
#include <stdbool.h>

#include "common/duration.h"
#include "nat_nfqstat.h"
#include "nat_router.h"

typedef struct nat_control_target {
    nat_engine_t *engine;
    nat_router_t *router;
    uint32_t *spare_ips;         /* addresses the NAT may move to (change-ip); updated */
    unsigned n_spare_ips;
    void (*rebooted)(void *ctx); /* e.g. reset PCP nonces */
    void *ctx;
    void (*queue_stats)(void *ctx, nat_nfqstat_t *out); /* NULL: no packet queue */
    /* NULL, or more members for `stats` (e.g. "upnp"): a JSON object text
     * whose members are added to the answer. */
    char *(*more_stats)(void *ctx);
} nat_control_target_t;

/* What `stats` answers: the router's counters, with "nfqueue" added. */
char *nat_control_stats_json(const nat_control_target_t *target);

char *nat_control_execute(const nat_control_target_t *target, const char *line, usec_t now);
