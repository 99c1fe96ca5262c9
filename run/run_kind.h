/* Agent kinds (docs/agents.md): how the runner starts a stack's two peers,
 * which servers the public host runs for it, and which traversal techniques
 * it has (what the matrix predicts from). `natlab`, natlab's own agent, is
 * built in; every other kind is a key file. Pure: the bytes come in, a kind
 * or an error naming FILE:LINE goes out; run_kind_file.c finds and reads the
 * files and runs the kind's `check` and `version` commands. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "run_predict.h"

#define RUN_KIND_NATLAB "natlab"
#define RUN_KIND_NAME_MAX 32

typedef enum run_kind_technique {
    RUN_KIND_PUNCH = 1 << 0,
    RUN_KIND_PREDICT = 1 << 1,
    RUN_KIND_BIRTHDAY = 1 << 2,
    RUN_KIND_PORT_MAPPING = 1 << 3,
    RUN_KIND_RELAY = 1 << 4,
    RUN_KIND_RELAY_TCP = 1 << 5, /* its server reached over TCP when UDP does not leave */
    RUN_KIND_TCP_PUNCH = 1 << 6, /* a direct TCP connection by simultaneous open */
} run_kind_technique_t;

/* Servers the runner itself starts on the public host. */
typedef enum run_kind_server {
    RUN_KIND_SERVER_NATLAB = 1 << 0, /* natlab server: STUN (RFC 5780), rendezvous, relay */
    RUN_KIND_SERVER_TURN = 1 << 1,   /* coturn: STUN and TURN on port 3478 */
} run_kind_server_t;

typedef struct run_kind_socket {
    bool tcp;
    uint16_t port;
} run_kind_socket_t;

typedef struct run_kind {
    char *name;
    char *description;
    char *dir;          /* the kind file's directory; commands run there */
    unsigned techniques; /* run_kind_technique_t */
    unsigned servers;    /* run_kind_server_t */
    char *server;        /* own server command on the public host; NULL: none */
    GArray *server_ready; /* run_kind_socket_t */
    char *listen, *connect;
    char *version, *check, *install;
} run_kind_t;

#define RUN_KIND_ERROR (run_kind_error_quark())
GQuark run_kind_error_quark(void);
enum { RUN_KIND_ERROR_INVALID, RUN_KIND_ERROR_MISSING };

/* A kind file's bytes; `dir` is where its commands run. Errors:
 * "ORIGIN:LINE: [kind] key = value: what is allowed". */
run_kind_t *run_kind_load(const char *data, size_t len, const char *origin, const char *dir,
                          GError **error);
void run_kind_free(run_kind_t *kind);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(run_kind_t, run_kind_free)

/* "punch, relay" style text of a technique set. */
char *run_kind_techniques_text(unsigned techniques);

/* What the prediction may count on for this kind (NULL: natlab's agent with
 * its defaults). */
run_predict_agent_t run_kind_predict_agent(const run_kind_t *kind);

/* A kind name as written in a scenario or on the command line: a name
 * ([a-z0-9-]) or a path to a kind file (contains '/' or ends in .kind). */
bool run_kind_ref_is_path(const char *ref);
bool run_kind_name_valid(const char *name);
