/* A scenario file: the topology part (which NATs, nested how, which hosts
 * behind which NAT, what runs where). A GLib key file read through
 * common/keyfile, so every error names FILE:LINE, the key, the value and
 * what is allowed. Groups that belong to the runner ([agent], [expect],
 * [event NAME]) are accepted and left alone; anything else unknown is an
 * error. Pure: the bytes come in, and a `profile = FILE` comes through the
 * caller's reader; scenario_file.c is the shell half that reads files. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/keyfile.h"
#include "natsim/nat_profile.h"

/* Names as users give them; namespaces and interfaces get short forms where
 * these do not fit (netns/plan.h, netns/shortname.h). */
#define SCENARIO_NAME_MAX 63   /* [scenario] name */
#define SCENARIO_OBJECT_MAX 63 /* NAT and host names */
#define SCENARIO_ADDRESSES_MAX 8
#define SCENARIO_NAME_CHARS "a-z, 0-9 and '-' (not first)" /* for errors */

typedef struct scenario_nat {
    char *name;
    int line;      /* of the [nat NAME] header */
    char *behind;  /* NULL: on the emulated internet */
    int parent;    /* index of `behind` in scenario->nats; -1 when top level */
    nat_profile_t *profile;
    unsigned spare_ips; /* set by the runner: extra wan addresses for change-ip */
} scenario_nat_t;

typedef struct scenario_host {
    char *name;
    int line;
    char *nat;      /* NULL: a public host on the emulated internet */
    int nat_index;  /* index in scenario->nats; -1 when public */
    unsigned addresses;
    char *run;      /* NULL: nothing to start */
} scenario_host_t;

typedef struct scenario {
    char *path;     /* the origin, as given */
    char *dir;      /* where relative paths (profile = FILE, run) are taken from */
    char *name;
    char *description;
    uint64_t seed;
    bool seed_set;
    bool pcap;
    GPtrArray *nats;  /* scenario_nat_t *, in file order */
    GPtrArray *hosts; /* scenario_host_t *, in file order */
} scenario_t;

/* `read` gets the bytes of a `profile = FILE` (its path relative to the
 * origin's directory); NULL: such a profile is an error. */
scenario_t *scenario_load(const char *data, size_t len, const char *origin, keyfile_read_fn *read,
                          GError **error);
/* scenario_load without a reader: for scenarios made in memory. */
scenario_t *scenario_load_data(const char *data, size_t len, const char *origin, GError **error);
void scenario_free(scenario_t *scenario);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(scenario_t, scenario_free)

static inline const scenario_nat_t *scenario_nat(const scenario_t *s, unsigned i)
{
    return g_ptr_array_index(s->nats, i);
}
static inline const scenario_host_t *scenario_host(const scenario_t *s, unsigned i)
{
    return g_ptr_array_index(s->hosts, i);
}

/* Shell (scenario_file.c): a scenario file and the profiles it names. */
scenario_t *scenario_load_file(const char *path, GError **error);
/* How a command loads a scenario file: scenario_load_file, or one that also
 * checks the runner's groups (run_spec_load_scenario_file). */
typedef scenario_t *scenario_load_file_fn(const char *path, GError **error);
/* Shell: a command line's SCENARIO: an existing file (loaded by `load`, NULL:
 * scenario_load_file, into *scenario) or a scenario name. Returns the name;
 * NULL with an error if it is neither. */
char *scenario_resolve(const char *arg, scenario_load_file_fn *load, scenario_t **scenario,
                       GError **error);

/* [a-z0-9-], not starting with '-', 1..SCENARIO_NAME_MAX characters. */
bool scenario_name_valid(const char *name);
/* The same alphabet, 1..SCENARIO_OBJECT_MAX characters, and not "inet". */
bool scenario_object_name_valid(const char *name);
