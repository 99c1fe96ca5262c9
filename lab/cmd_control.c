/* natlab control SCENARIO NAT COMMAND...: talk to a running NAT's control
 * socket (reboot, flush, set KEY VALUE, stats, profile, mappings). */
#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "netns/plan.h"
#include "netns/scenario.h"
#include "netns/topology.h"
#include "run/run_spec.h"

static int usage(FILE *out, int status)
{
    fprintf(out, "usage: natlab control SCENARIO NAT COMMAND [ARGS...]\n"
                 "  commands: reboot, flush, set KEY VALUE, stats, profile, mappings, help\n"
                 "  prints the NAT's one-line reply; exits 1 when it is an error\n");
    return status;
}

int cmd_control_main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--help") == 0)
        return usage(stdout, 0);
    if (argc < 4)
        return usage(stderr, NATLAB_EXIT_USAGE);
    g_autoptr(GError) error = NULL;
    g_autoptr(scenario_t) scenario = NULL;
    g_autofree char *name =
        scenario_resolve(argv[1], run_spec_load_scenario_file, &scenario, &error);
    if (!name) {
        fprintf(stderr, "natlab control: %s\n", error->message);
        return 1;
    }
    g_autofree char *prefix = plan_prefix(name, NULL);
    g_autoptr(topology_info_t) info = topology_load(prefix, &error);
    if (!info) {
        fprintf(stderr, "natlab control: %s; bring it up first: natlab up SCENARIO\n", error->message);
        return 1;
    }
    const topology_info_node_t *nat = topology_info_find(info, argv[2]);
    const char *path = nat && nat->is_nat ? nat->control : NULL;
    if (!path) {
        g_autofree char *names = topology_info_names(info, false, true);
        fprintf(stderr, "natlab control: %s has no NAT '%s' with a control socket; NATs: %s\n", name,
                argv[2], names);
        return 1;
    }
    g_autofree char *line = g_strjoinv(" ", argv + 3);
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    g_autoptr(GSocketConnection) conn =
        g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, &error);
    if (!conn) {
        fprintf(stderr, "natlab control: %s: %s\n", path, error->message);
        return 1;
    }
    g_autofree char *request = g_strdup_printf("%s\n", line);
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
    g_autoptr(GDataInputStream) in =
        g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
    if (!g_output_stream_write_all(out, request, strlen(request), NULL, NULL, &error)) {
        fprintf(stderr, "natlab control: %s\n", error->message);
        return 1;
    }
    g_autofree char *reply = g_data_input_stream_read_line_utf8(in, NULL, NULL, &error);
    if (!reply) {
        fprintf(stderr, "natlab control: no reply%s%s\n", error ? ": " : "", error ? error->message : "");
        return 1;
    }
    printf("%s\n", reply);
    return g_str_has_prefix(reply, "error:") ? 1 : 0;
}
