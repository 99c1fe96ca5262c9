/* natlab turn --server HOST[:PORT] --user U --password-file F [--tcp]
 * [--realm R] [--peer IP:PORT [--send N]] [--timeout D] [--json]: one TURN
 * allocation (RFC 8656) on a standard server, data through it to an echoing
 * peer, and the reason when it does not work. */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "agent/turn_probe.h"
#include "cmd.h"
#include "common/sockaddr.h"

static int usage(FILE *out, int status)
{
    fprintf(out,
            "usage: natlab turn --server HOST[:PORT] --user USER --password-file FILE [--tcp]\n"
            "                   [--realm REALM] [--peer IP:PORT] [--send N] [--timeout 20s] [--json]\n"
            "Allocates a relayed address on a TURN server (RFC 8656; coturn and others) with\n"
            "long-term credentials, over UDP or --tcp, and with --peer sends N messages (default\n"
            "5) through the relay to a peer that echoes them. Prints the relayed and mapped\n"
            "addresses, the time to allocate and the round trips, or why it failed.\n"
            "Exit status: 0 allocated (and every message echoed); 1 failed; 64 bad arguments.\n"
            "The PORT defaults to 3478.\n");
    return status;
}

int cmd_turn_main(int argc, char **argv)
{
    turn_probe_options_t o = { .send = 5, .timeout = 20 * USEC_PER_SEC };
    const char *server = NULL, *password_file = NULL, *peer = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return usage(stdout, 0);
        if (strcmp(a, "--tcp") == 0)
            o.tcp = true;
        else if (strcmp(a, "--json") == 0)
            o.json = true;
        else if (strcmp(a, "--server") == 0 && has_value)
            server = argv[++i];
        else if (strcmp(a, "--user") == 0 && has_value)
            o.username = argv[++i];
        else if (strcmp(a, "--password-file") == 0 && has_value)
            password_file = argv[++i];
        else if (strcmp(a, "--realm") == 0 && has_value)
            o.realm = argv[++i];
        else if (strcmp(a, "--peer") == 0 && has_value)
            peer = argv[++i];
        else if (strcmp(a, "--send") == 0 && has_value) {
            guint64 n;
            if (!g_ascii_string_to_unsigned(argv[++i], 10, 1, 10000, &n, NULL)) {
                fprintf(stderr, "natlab turn: --send %s: allowed: 1 to 10000\n", argv[i]);
                return NATLAB_EXIT_USAGE;
            }
            o.send = (unsigned)n;
        } else if (strcmp(a, "--timeout") == 0 && has_value) {
            if (!duration_parse(argv[++i], &o.timeout) || o.timeout == 0) {
                fprintf(stderr, "natlab turn: --timeout %s: allowed: a duration above 0 (%s)\n",
                        argv[i], DURATION_UNITS);
                return NATLAB_EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "natlab turn: unknown option %s\n", a);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
    }
    if (!server || !o.username || !password_file) {
        fprintf(stderr, "natlab turn: --server, --user and --password-file are required\n");
        return usage(stderr, NATLAB_EXIT_USAGE);
    }
    g_autoptr(GError) error = NULL;
    if (!sockaddr_resolve(server, 3478, &o.server, &error)) {
        fprintf(stderr, "natlab turn: --server %s: %s\n", server, error->message);
        return NATLAB_EXIT_USAGE;
    }
    if (peer && !addr_endpoint_parse(peer, &o.peer)) {
        fprintf(stderr, "natlab turn: --peer %s: allowed: IP:PORT\n", peer);
        return NATLAB_EXIT_USAGE;
    }
    if (!peer)
        o.send = 0;
    g_autofree char *password = NULL;
    if (!g_file_get_contents(password_file, &password, NULL, &error)) {
        fprintf(stderr, "natlab turn: --password-file %s: %s\n", password_file, error->message);
        return NATLAB_EXIT_USAGE;
    }
    g_strchomp(password);
    o.password = password;
    return turn_probe_run(&o);
}
