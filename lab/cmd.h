/* The natlab subcommands: one *_main of glue each (wireguard-tools style). */
#pragma once
#include <stddef.h>

int cmd_presets_main(int argc, char **argv);
int cmd_profile_main(int argc, char **argv);
int cmd_bench_main(int argc, char **argv);
int cmd_nat_main(int argc, char **argv);
int cmd_control_main(int argc, char **argv);
int cmd_up_main(int argc, char **argv);
int cmd_exec_main(int argc, char **argv);
int cmd_down_main(int argc, char **argv);
int cmd_server_main(int argc, char **argv);
int cmd_netcheck_main(int argc, char **argv);
int cmd_run_main(int argc, char **argv);
int cmd_matrix_main(int argc, char **argv);
int cmd_agent_main(int argc, char **argv);
int cmd_report_main(int argc, char **argv);
int cmd_kinds_main(int argc, char **argv);
int cmd_turn_main(int argc, char **argv);

/* Prints a JSON document, indented, with a final newline. */
typedef struct _JsonNode JsonNode;
void cmd_print_json(JsonNode *root);

/* The bytes of a --secret FILE (agent and server must agree on them), one
 * trailing newline (LF or CRLF) stripped; NULL with *error when the file is
 * missing, unreadable or empty. g_free() the result. */
typedef struct _GError GError;
char *cmd_read_secret(const char *path, size_t *len, GError **error);

/* Exit status for a command-line mistake (as BSD sysexits' EX_USAGE). */
#define NATLAB_EXIT_USAGE 64

/* What natlab run and natlab matrix share (lab/cmd_run.c). */
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "run/run_shard.h"

typedef struct cmd_run_options {
    const char *out_dir;
    const char *junit;
    unsigned jobs;   /* 0: twice the CPUs */
    run_shard_t shard;
    unsigned repeat; /* 0: the scenarios' own */
    uint64_t seed;
    bool seed_set;
    bool sim;        /* --sim: every attempt in memory on a virtual clock (run_simworker) */
} cmd_run_options_t;

/* --out, --junit, -j, --shard, --repeat, --seed, --sim at argv[*i] (its value
 * consumed); false if it is none of them. *ok: the value was valid. */
bool cmd_run_common_option(int argc, char **argv, int *i, cmd_run_options_t *options, bool *ok);
/* Seeds, shard, the pool; the exit status. `specs` owns the run_spec_t. */
int cmd_run_specs(GPtrArray *specs, const char *suite, const cmd_run_options_t *options);
