/* natlab server: STUN (RFC 8489 + RFC 5780, answering RFC 3489 clients too)
 * on two addresses and two ports, and the agents' rendezvous and relay on
 * the same sockets, over UDP and TCP (and TCP at --tcp-ports). */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "server/server_shell.h"
#include "cmd.h"
#include "common/addr.h"

static int usage(FILE *out, int status)
{
    fprintf(out,
            "usage: natlab server --address IP1 [--alt-address IP2] [--port 3478] [--alt-port 3479]\n"
            "                     [--software TEXT] [--secret FILE] [--ready-file FILE]\n"
            "                     [--stats-out FILE] [--tcp-ports LIST]\n"
            "Answers STUN Binding requests (RFC 8489) on IP1 and IP2, each on both ports, with\n"
            "the RFC 5780 attributes (CHANGE-REQUEST, RESPONSE-ORIGIN, OTHER-ADDRESS,\n"
            "RESPONSE-PORT, PADDING) and the way RFC 3489 clients expect. Without --alt-address\n"
            "it serves IP1 on both ports and refuses CHANGE-REQUEST (420).\n"
            "On the same sockets, `natlab agent`s register, ask for each other by name and\n"
            "relay through the server when no direct path opens (docs/agent.md).\n"
            "TCP: STUN (RFC 8489 section 6.2.2) and the agents' messages, framed\n"
            "(docs/server.md), on the same endpoints and on IP1 at --tcp-ports, for hosts\n"
            "whose UDP is blocked (default " SERVER_TCP_DEFAULT_PORTS "; LIST: up to 8 comma-separated\n"
            "ports, or none).\n"
            "--secret: the agents' shared secret (the file's bytes, one trailing newline\n"
            "stripped); messages are authenticated with it and session keys derived from it.\n"
            "Without it anyone may register (a closed lab only).\n"
            "--ready-file gets the pid once every socket is bound; --stats-out gets the counters\n"
            "(JSON) on exit. Runs until SIGINT, SIGTERM or SIGHUP.\n");
    return status;
}

/* --tcp-ports: "none", or up to SERVER_TCP_MAX_EXTRA_PORTS distinct ports. */
static bool parse_tcp_ports(const char *text, server_shell_options_t *o)
{
    o->n_tcp_ports = 0;
    if (strcmp(text, "none") == 0)
        return true;
    g_auto(GStrv) parts = g_strsplit(text, ",", -1);
    for (char **p = parts; *p; p++) {
        guint64 n;
        if (o->n_tcp_ports == SERVER_TCP_MAX_EXTRA_PORTS ||
            !g_ascii_string_to_unsigned(*p, 10, 1, 65535, &n, NULL))
            return false;
        for (unsigned i = 0; i < o->n_tcp_ports; i++)
            if (o->tcp_ports[i] == n)
                return false;
        o->tcp_ports[o->n_tcp_ports++] = (uint16_t)n;
    }
    return o->n_tcp_ports > 0;
}

static bool parse_port(const char *text, uint16_t *out)
{
    guint64 n;
    if (!g_ascii_string_to_unsigned(text, 10, 1, 65535, &n, NULL))
        return false;
    *out = (uint16_t)n;
    return true;
}

int cmd_server_main(int argc, char **argv)
{
    server_shell_options_t o = { .stun = { .port = STUN_DEFAULT_PORT, .alt_port = STUN_DEFAULT_PORT + 1 } };
    const char *secret_file = NULL;
    if (!parse_tcp_ports(SERVER_TCP_DEFAULT_PORTS, &o))
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return usage(stdout, 0);
        if (i + 1 >= argc) {
            fprintf(stderr, "natlab server: %s needs a value\n", a);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
        const char *v = argv[++i];
        bool ok;
        if (strcmp(a, "--address") == 0)
            ok = addr_ip_parse(v, &o.stun.address) && o.stun.address != 0;
        else if (strcmp(a, "--alt-address") == 0)
            ok = addr_ip_parse(v, &o.stun.alt_address) && o.stun.alt_address != 0;
        else if (strcmp(a, "--port") == 0)
            ok = parse_port(v, &o.stun.port);
        else if (strcmp(a, "--alt-port") == 0)
            ok = parse_port(v, &o.stun.alt_port);
        else if (strcmp(a, "--software") == 0)
            ok = (o.stun.software = v) != NULL && strlen(v) < 128;
        else if (strcmp(a, "--secret") == 0)
            ok = (secret_file = v)[0] != '\0';
        else if (strcmp(a, "--ready-file") == 0)
            ok = (o.ready_file = v) != NULL;
        else if (strcmp(a, "--stats-out") == 0)
            ok = (o.stats_out = v) != NULL;
        else if (strcmp(a, "--tcp-ports") == 0) {
            if (!parse_tcp_ports(v, &o)) {
                fprintf(stderr,
                        "natlab server: bad value for --tcp-ports: '%s' (allowed: up to %d distinct "
                        "ports 1-65535, comma-separated, e.g. " SERVER_TCP_DEFAULT_PORTS ", or none)\n",
                        v, SERVER_TCP_MAX_EXTRA_PORTS);
                return usage(stderr, NATLAB_EXIT_USAGE);
            }
            ok = true;
        } else {
            fprintf(stderr, "natlab server: unknown option %s\n", a);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
        if (!ok) {
            fprintf(stderr, "natlab server: bad value for %s: '%s'\n", a, v);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
    }
    if (!o.stun.address) {
        fprintf(stderr, "natlab server: --address is required\n");
        return usage(stderr, NATLAB_EXIT_USAGE);
    }
    if (o.stun.alt_address == o.stun.address || o.stun.alt_port == o.stun.port) {
        fprintf(stderr, "natlab server: the alternate address and port must differ from the primary ones\n");
        return usage(stderr, NATLAB_EXIT_USAGE);
    }
    g_autoptr(GError) error = NULL;
    g_autofree char *secret = NULL;
    if (secret_file) {
        secret = cmd_read_secret(secret_file, &o.rendezvous.secret_len, &error);
        if (!secret) {
            fprintf(stderr, "natlab server: %s\n", error->message);
            return NATLAB_EXIT_USAGE;
        }
        o.rendezvous.secret = (const uint8_t *)secret;
    }
    int status = server_shell_run(&o, &error);
    if (error)
        fprintf(stderr, "natlab server: %s\n", error->message);
    return status;
}
