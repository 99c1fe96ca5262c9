/* natlab agent: the punching agent (docs/agent.md). */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent_flags.h"
#include "agent/agent_shell.h"
#include "cmd.h"
#include "common/duration.h"
#include "common/sockaddr.h"
#include "common/stun.h"

static int usage(FILE *out, int status)
{
    fprintf(out,
            "usage: natlab agent --server HOST[:PORT] --name NAME [OPTIONS] listen [--once]\n"
            "       natlab agent --server HOST[:PORT] --name NAME [OPTIONS] connect PEER\n"
            "                    [--send N] [--interval 100ms] [--hold D]\n"
            "Registers with a natlab server, then (connect) asks it for PEER and sends N messages\n"
            "that the peer echoes: through the relay at once, over a direct path as soon as one\n"
            "is proven both ways. One event per line (--json: JSON), the last one 'done'.\n"
            "options:\n"
            "  --secret FILE          the server's shared secret (authenticates agents and\n"
            "                         derives session keys)\n"
            "  --share-local          offer LAN addresses to the peer through the server\n"
            "  --turn URI             relay through a TURN server (RFC 8656) instead of natlab's:\n"
            "                         " AGENT_TURN_URI_FORM " (port 3478 if absent;\n"
            "                         over TCP, 443 when that port does not connect)\n"
            "  --turn-user U          TURN long-term credentials: the username\n"
            "  --turn-password-file F ... and a file holding the password (one line)\n"
            "  --keepalive D          keepalive interval (default 25s)\n"
            "  --probe-interval D     between probes to one candidate (default 200ms)\n"
            "  --punch-timeout D      give up punching after D and stay relayed (default 10s)\n"
            "  --predict-window N     predicted ports of a sequential symmetric NAT (default 16)\n"
            "  --no-predict           no port prediction\n"
            "  --birthday-sockets N   sockets on the random-symmetric side (default 256)\n"
            "  --birthday-probes N    random ports probed per round by the other side (default 1024)\n"
            "  --birthday-rate N      birthday probes per second (default 1000)\n"
            "  --no-birthday          no birthday probing\n"
            "  --no-portmap           no NAT-PMP, PCP or UPnP mapping from the gateway\n"
            "  --no-broadcast         no LAN discovery by broadcast\n"
            "  --no-tcp-punch         no TCP hole punching when UDP finds no direct path\n"
            "  --server-tcp-ports L   when UDP does not reach the server, TCP to these ports in\n"
            "                         order (default: the server's port, then 443)\n"
            "  --seed S               seed of the agent's random choices\n"
            "  --timeout D            give up after D (connect default: 60s + hold)\n"
            "  --json                 events as JSON lines\n"
            "Exit status: 0 all messages delivered (connect) or a clean stop (listen), 1 failed,\n"
            "64 usage.\n");
    return status;
}

static bool parse_count(const char *v, unsigned max, unsigned *out)
{
    guint64 n;
    if (!g_ascii_string_to_unsigned(v, 10, 0, max, &n, NULL))
        return false;
    *out = (unsigned)n;
    return true;
}

static bool parse_time(const char *v, usec_t *out)
{
    return duration_parse(v, out) && *out > 0;
}

int cmd_agent_main(int argc, char **argv)
{
    agent_shell_options_t o = {
        .send = 10,
        .interval = 100 * USEC_PER_MSEC,
    };
    punch_config_init(&o.punch);
    const char *server = NULL, *secret_file = NULL, *mode = NULL;
    const char *turn_uri = NULL, *turn_password_file = NULL;
    g_autofree char *secret = NULL, *turn_host = NULL, *turn_password = NULL;
    bool timeout_set = false;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return usage(stdout, 0);
        if (strcmp(a, "listen") == 0 || strcmp(a, "connect") == 0) {
            mode = a;
            break;
        }
        bool ok = true;
        g_autoptr(GError) flag_error = NULL;
        int used = agent_flags_parse(&o.punch, a, i + 1 < argc ? argv[i + 1] : NULL, &flag_error);
        if (used < 0) {
            fprintf(stderr, "natlab agent: %s\n", flag_error->message);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
        if (used > 0) {
            i += used - 1;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            o.json = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "natlab agent: %s needs a value\n", a);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
        const char *v = argv[++i];
        guint64 seed;
        if (strcmp(a, "--server") == 0)
            server = v;
        else if (strcmp(a, "--name") == 0)
            ok = (o.punch.name = v)[0] && strlen(v) <= AGENTMSG_NAME_MAX;
        else if (strcmp(a, "--secret") == 0)
            secret_file = v;
        else if (strcmp(a, "--turn") == 0)
            turn_uri = v;
        else if (strcmp(a, "--turn-user") == 0)
            o.punch.turn_user = v;
        else if (strcmp(a, "--turn-password-file") == 0)
            turn_password_file = v;
        else if (strcmp(a, "--seed") == 0)
            ok = g_ascii_string_to_unsigned(v, 10, 0, G_MAXUINT64, &seed, NULL) &&
                 ((o.punch.seed = seed), true);
        else if (strcmp(a, "--timeout") == 0)
            ok = (timeout_set = parse_time(v, &o.timeout));
        else {
            fprintf(stderr, "natlab agent: unknown option %s\n", a);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
        if (!ok) {
            fprintf(stderr, "natlab agent: bad value for %s: '%s'\n", a, v);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
    }
    if (!mode) {
        fprintf(stderr, "natlab agent: say 'listen' or 'connect PEER'\n");
        return usage(stderr, NATLAB_EXIT_USAGE);
    }
    if (strcmp(mode, "connect") == 0) {
        if (++i >= argc || argv[i][0] == '-' || strlen(argv[i]) > AGENTMSG_NAME_MAX) {
            fprintf(stderr, "natlab agent: connect needs the PEER's name (at most %d characters)\n",
                    AGENTMSG_NAME_MAX);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
        o.punch.peer = argv[i];
    }
    for (i++; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (!o.punch.peer && strcmp(a, "--once") == 0) {
            o.once = true;
            continue;
        }
        if (!o.punch.peer || i + 1 >= argc) {
            fprintf(stderr, "natlab agent: unexpected '%s' after %s\n", a, mode);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
        const char *v = argv[++i];
        if (strcmp(a, "--send") == 0)
            ok = parse_count(v, 1000000, &o.send) && o.send > 0;
        else if (strcmp(a, "--interval") == 0)
            ok = parse_time(v, &o.interval);
        else if (strcmp(a, "--hold") == 0)
            ok = parse_time(v, &o.hold);
        else {
            fprintf(stderr, "natlab agent: unknown option %s after connect\n", a);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
        if (!ok) {
            fprintf(stderr, "natlab agent: bad value for %s: '%s'\n", a, v);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
    }
    if (!server || !o.punch.name) {
        fprintf(stderr, "natlab agent: --server and --name are required\n");
        return usage(stderr, NATLAB_EXIT_USAGE);
    }
    g_autoptr(GError) error = NULL;
    if (!sockaddr_resolve(server, STUN_DEFAULT_PORT, &o.punch.server, &error)) {
        fprintf(stderr, "natlab agent: --server %s\n", error->message);
        return NATLAB_EXIT_USAGE;
    }
    if (secret_file) {
        size_t len = 0;
        secret = cmd_read_secret(secret_file, &len, &error);
        if (!secret) {
            fprintf(stderr, "natlab agent: %s\n", error->message);
            return NATLAB_EXIT_USAGE;
        }
        o.punch.secret = (const uint8_t *)secret;
        o.punch.secret_len = len;
    }
    if (turn_uri || o.punch.turn_user || turn_password_file) {
        if (!turn_uri || !o.punch.turn_user || !turn_password_file) {
            fprintf(stderr, "natlab agent: --turn, --turn-user and --turn-password-file go together\n");
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
        uint16_t port;
        if (!agent_flags_turn_uri(turn_uri, &turn_host, &port, &o.punch.turn_tcp, &error)) {
            fprintf(stderr, "natlab agent: %s\n", error->message);
            return NATLAB_EXIT_USAGE;
        }
        if (!sockaddr_resolve(turn_host, port, &o.punch.turn_server, &error)) {
            fprintf(stderr, "natlab agent: --turn %s: %s\n", turn_uri, error->message);
            return NATLAB_EXIT_USAGE;
        }
        o.punch.turn_server.port = port;
        if (!g_file_get_contents(turn_password_file, &turn_password, NULL, &error)) {
            fprintf(stderr, "natlab agent: --turn-password-file %s: %s\n", turn_password_file,
                    error->message);
            return NATLAB_EXIT_USAGE;
        }
        g_strchomp(turn_password);
        if (!*turn_password) {
            fprintf(stderr, "natlab agent: --turn-password-file %s: empty (one line: the password)\n",
                    turn_password_file);
            return NATLAB_EXIT_USAGE;
        }
        o.punch.turn_password = turn_password;
    }
    if (!o.punch.seed)
        o.punch.seed = g_random_int() | (uint64_t)g_random_int() << 32;
    if (o.punch.peer && !timeout_set)
        o.timeout = 60 * USEC_PER_SEC + o.hold;
    int status = agent_shell_run(&o, &error);
    if (status < 0) {
        fprintf(stderr, "natlab agent: %s\n", error->message);
        return 1;
    }
    return status;
}
