/* A scenario as the runner sees it: the topology (netns/scenario) plus the
 * groups the runner owns: [scenario] repeat and deadline, [agent] (who
 * connects, who listens, where the server is, flags for both agents),
 * [expect] (run_expect) and [event NAME] (control commands at set times).
 * Errors name FILE:LINE: [group] key = value: what is allowed. Pure: the
 * bytes come in, profile files through the caller's reader; run_spec_file.c
 * is the shell half that reads files. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/duration.h"
#include "netns/scenario.h"
#include "run_expect.h"
#include "run_kind.h"

#define RUN_SERVER_HOST "server"         /* the public host the runner adds */
#define RUN_SERVER_PORT 3478
#define RUN_REPEAT_MAX 100000
#define RUN_DEADLINE_DEFAULT (60 * USEC_PER_SEC) /* after the hold, if any */
#define RUN_HOLD_AFTER_EVENTS (5 * USEC_PER_SEC) /* default hold: last event + this */
/* The coturn the runner starts (for [agent] turn, and for kinds with
 * servers = turn): its port, the one user and realm. */
#define RUN_TURN_PORT 3478
#define RUN_TURN_USER "natlab"
#define RUN_TURN_REALM "natlab"

/* [agent] turn: natlab's agent relays through coturn on the server host. */
typedef enum run_turn { RUN_TURN_NONE, RUN_TURN_UDP, RUN_TURN_TCP } run_turn_t;
#define RUN_TURN_ALLOWED "udp, tcp, off"

/* "udp", "tcp" or "off" (RUN_TURN_NONE); false for anything else. */
bool run_turn_parse(const char *text, run_turn_t *out);
/* "udp", "tcp"; NULL for RUN_TURN_NONE. */
const char *run_turn_name(run_turn_t turn);

typedef struct run_event {
    char *name;
    usec_t at;     /* after the connecting agent starts */
    int nat;       /* index in scenario->nats */
    char *command; /* the control line: reboot, flush, change-ip, set KEY VALUE */
} run_event_t;

typedef struct run_spec {
    scenario_t *scenario;
    unsigned repeat;
    usec_t deadline;      /* per attempt */
    int connect, listen;  /* host indexes */
    int server;           /* host index */
    bool server_added;    /* the runner added the host (named RUN_SERVER_HOST) */
    bool start_server;    /* the runner starts `natlab server` there (no run = of its own) */
    GPtrArray *agent_args;   /* char *: flags for both agents, before the subcommand */
    GPtrArray *connect_args; /* char *: after `connect PEER` */
    usec_t hold;             /* 0: none */
    run_expectations_t *expect;
    GPtrArray *events;       /* run_event_t *, by time */
    bool mutates;            /* set or change-ip events: a fresh topology per attempt */
    char *kind_ref;          /* [agent] kind as written; NULL: natlab's own agent */
    int kind_line;           /* its line, for errors */
    run_kind_t *kind;        /* the kind it names, once run_spec_attach_kind found it */
    unsigned send;           /* messages the connecting peer sends (default 10) */
    usec_t interval;         /* their spacing (default 100 ms) */
    run_turn_t turn;         /* [agent] turn */
    int turn_line;           /* its line, for errors */
    /* With turn: the server host's address coturn listens on, 1-based
     * (NATLAB_ADDRESS_N): one the runner adds after natlab server's, so the
     * two never share a port. 0: none. */
    unsigned turn_address;
} run_spec_t;

#define RUN_SEND_DEFAULT 10
#define RUN_INTERVAL_DEFAULT (100 * USEC_PER_MSEC)

/* `read`: as for scenario_load (profile = FILE); NULL: no profile files. */
run_spec_t *run_spec_load(const char *data, size_t len, const char *origin, keyfile_read_fn *read,
                          GError **error);
run_spec_t *run_spec_load_data(const char *data, size_t len, const char *origin, GError **error);
/* The whole file checked as `natlab run` checks it (topology and runner
 * groups alike, the same FILE:LINE errors), and its topology as written:
 * no server host or agents chosen, no spare addresses. For `natlab up`,
 * exec, down and control. */
scenario_t *run_spec_load_scenario(const char *data, size_t len, const char *origin,
                                   keyfile_read_fn *read, GError **error);

/* Shell (run_spec_file.c): the same, from a file and the profiles it names. */
run_spec_t *run_spec_load_file(const char *path, GError **error);
scenario_t *run_spec_load_scenario_file(const char *path, GError **error);
void run_spec_free(run_spec_t *spec);
/* Shell (run_kind_file.c): finds and reads the kind [agent] kind names: a
 * built-in name (kinds/NAME.kind) or a path relative to the scenario file's
 * directory (`origin`'s). Errors name ORIGIN:LINE. Nothing to do for natlab. */
bool run_spec_attach_kind(run_spec_t *spec, const char *origin, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(run_spec_t, run_spec_free)

static inline const run_event_t *run_spec_event(const run_spec_t *spec, unsigned i)
{
    return g_ptr_array_index(spec->events, i);
}

/* The seed of attempt k (1-based), derived from the scenario's seed: the
 * same scenario seed gives the same attempt seeds. Below 2^63. */
uint64_t run_spec_attempt_seed(uint64_t scenario_seed, unsigned attempt);

/* The addresses natlab server takes on the server host (the TURN address
 * is not one of them). */
unsigned run_spec_server_addresses(const run_spec_t *spec);

/* The agent's command line (after the program): `agent FLAGS... listen
 * --once` or `agent FLAGS... connect PEER CONNECT_FLAGS...`, FLAGS with --json.
 * With spec->turn, FLAGS include --turn turn:TURN_IP:RUN_TURN_PORT?transport=T
 * --turn-user RUN_TURN_USER --turn-password-file PASSWORD_FILE (both
 * ignored without it). NULL-terminated; free with g_strfreev. */
char **run_spec_agent_argv(const run_spec_t *spec, bool connector, const char *server,
                           const char *name, const char *peer, uint64_t seed,
                           const char *turn_ip, const char *turn_password_file);
