/* A scenario's topology, live (shell): namespaces, links, addresses and
 * routes from the plan, one natsim daemon per NAT, the hosts' `run`
 * commands, and a state directory that lets any later natlab process stop
 * and remove exactly what was made.
 *
 * State: /run/natlab/PREFIX/ (PREFIX = natlab-SCENARIO[-RUNID])
 *   owner          "PID START_TIME" of the natlab process that brings it up
 *   topology.json  the plan, written before the first namespace exists
 *   up             marker: written once everything is up
 *   NAT.profile NAT.sock NAT.ready NAT.stats.json NAT.log NAT.pid pcap/NAT/
 *   HOST.log HOST.pid
 * A directory without the marker whose owner is dead, or a natlab-*
 * namespace that no state directory claims, is a leftover of a killed run:
 * topology_reap removes it (and only that). */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <stdbool.h>

#include "common/duration.h"
#include "netns/plan.h"
#include "netns/scenario.h"
#include "netns/topology_info.h"

#define TOPOLOGY_RUN_DIR "/run/natlab"
#define TOPOLOGY_READY_TIMEOUT (5 * USEC_PER_SEC)
#define TOPOLOGY_STOP_GRACE (3 * USEC_PER_SEC)

#define TOPOLOGY_ERROR (topology_error_quark())
GQuark topology_error_quark(void);
enum {
    TOPOLOGY_ERROR_FAILED,
    TOPOLOGY_ERROR_SETUP,       /* not root, kernel feature or tool missing */
    TOPOLOGY_ERROR_EXISTS,      /* already up, or being brought up */
    TOPOLOGY_ERROR_NOT_UP,
    TOPOLOGY_ERROR_INTERRUPTED,
};

typedef struct topology_options {
    const char *run_id;      /* NULL: natlab-SCENARIO (natlab up) */
    bool pcap;               /* capture even if the scenario does not ask */
    const char *pcap_dir;    /* captures go to PCAP_DIR/NAT/ and outlive `down`;
                                NULL: STATE/pcap/NAT/, removed with the state */
    bool no_nat_daemons;     /* routers without natsim (tests of the topology alone) */
    const char *nat_exe;     /* the natlab binary for `natlab nat`; NULL: /proc/self/exe */
    usec_t ready_timeout;    /* for each daemon's ready file; 0: TOPOLOGY_READY_TIMEOUT */
    usec_t stop_grace;       /* SIGTERM -> SIGKILL; 0: TOPOLOGY_STOP_GRACE */
    volatile sig_atomic_t *interrupted; /* set by the caller's signal handler: give up */
} topology_options_t;

typedef struct topology topology_t;

/* Brings the whole topology up, or nothing: on any error or interruption
 * everything made so far is removed before returning NULL. */
topology_t *topology_up(const scenario_t *scenario, const topology_options_t *options,
                        GError **error);
/* Frees the description only; the topology stays up. */
void topology_free(topology_t *topology);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(topology_t, topology_free)

const plan_t *topology_plan(const topology_t *topology);
const char *topology_state_dir(const topology_t *topology);
/* How many leftovers of killed runs topology_up removed before it began. */
unsigned topology_reaped(const topology_t *topology);
/* The plan plus state paths and pids (what topology.json holds). */
JsonNode *topology_to_json(const topology_t *topology);
/* The same, typed: what a reader of topology.json would get. */
topology_info_t *topology_info(const topology_t *topology);

typedef enum topology_state {
    TOPOLOGY_ABSENT,
    TOPOLOGY_UP,       /* the marker is there */
    TOPOLOGY_STARTING, /* no marker, its owner is alive */
    TOPOLOGY_STALE,    /* no marker, its owner is gone: a killed run */
} topology_state_t;

char *topology_state_path(const char *prefix);
topology_state_t topology_state(const char *prefix, pid_t *owner);
/* topology.json of a topology that is up; NULL with TOPOLOGY_ERROR_NOT_UP. */
topology_info_t *topology_load(const char *prefix, GError **error);

/* Stops the processes, deletes the namespaces, removes the state. When
 * there is no state, the namespaces in `fallback` (may be NULL) that exist
 * are removed; *was_up tells whether anything was there. */
bool topology_down(const char *prefix, char *const *fallback, usec_t grace, bool *was_up,
                   GError **error);
/* Removes leftovers of killed runs (see above); returns how many. */
unsigned topology_reap(usec_t grace);
/* Every natlab topology and namespace, whatever its state. Returns how many. */
unsigned topology_down_all(usec_t grace);
