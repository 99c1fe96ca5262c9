/* The natlab subcommands: one *_main of glue each (wireguard-tools style). */
#pragma once

int cmd_presets_main(int argc, char **argv);
int cmd_profile_main(int argc, char **argv);
int cmd_bench_main(int argc, char **argv);
int cmd_nat_main(int argc, char **argv);
int cmd_control_main(int argc, char **argv);
int bench_forward_main(int argc, char **argv);
int cmd_up_main(int argc, char **argv);
int cmd_exec_main(int argc, char **argv);
int cmd_down_main(int argc, char **argv);
int cmd_server_main(int argc, char **argv);
int cmd_netcheck_main(int argc, char **argv);
int cmd_agent_main(int argc, char **argv);
int cmd_report_main(int argc, char **argv);

/* Prints a JSON document, indented, with a final newline. */
typedef struct _JsonNode JsonNode;
void cmd_print_json(JsonNode *root);

/* Exit status for a command-line mistake (as BSD sysexits' EX_USAGE). */
#define NATLAB_EXIT_USAGE 64
