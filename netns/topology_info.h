/* What topology.json says, typed: the one reader of the state that
 * netns/topology.c writes (natlab exec and control, up's table, the
 * benchmark, the reaper). Pure: JSON text or a tree in, a struct out. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

typedef struct topology_info_node {
    char *name;       /* the user's name, as in the scenario */
    char *ns;         /* its namespace */
    bool is_nat;
    char **addresses; /* a host's addresses, a NAT's public ones; NULL-terminated */
    char *control;    /* a NAT daemon's control socket; NULL: no daemon */
    int pid;          /* the NAT daemon or the host's run command; 0: none */
} topology_info_node_t;

typedef struct topology_info {
    char *scenario;
    char *prefix;     /* natlab-SCENARIO[-RUNID] */
    char *state_dir;  /* NULL in a plan that was never brought up */
    char **namespaces;
    GPtrArray *nats;  /* topology_info_node_t *, in file order */
    GPtrArray *hosts; /* topology_info_node_t *, in file order */
} topology_info_t;

/* NULL with an error naming `origin` when a member is missing or mistyped. */
topology_info_t *topology_info_from_json(JsonNode *root, const char *origin, GError **error);
topology_info_t *topology_info_parse(const char *data, size_t len, const char *origin,
                                     GError **error);
void topology_info_free(topology_info_t *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(topology_info_t, topology_info_free)

static inline const topology_info_node_t *topology_info_nat(const topology_info_t *t, unsigned i)
{
    return g_ptr_array_index(t->nats, i);
}
static inline const topology_info_node_t *topology_info_host(const topology_info_t *t,
                                                             unsigned i)
{
    return g_ptr_array_index(t->hosts, i);
}

/* The host, else the NAT, of that name; NULL if none. */
const topology_info_node_t *topology_info_find(const topology_info_t *info, const char *name);
/* "a, b, c": the hosts' names then the NATs', either list optional (errors). */
char *topology_info_names(const topology_info_t *info, bool hosts, bool nats);
