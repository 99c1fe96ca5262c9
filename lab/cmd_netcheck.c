/* natlab netcheck: classify the NAT in front of this host against an RFC 5780
 * STUN server (natlab server, coturn, ...); print a summary or JSON, and
 * write what was measured as a natsim profile. */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "netcheck/netcheck_report.h"
#include "netcheck/netcheck_shell.h"
#include "cmd.h"
#include "common/addr.h"
#include "common/sockaddr.h"
#include "common/stun.h"

/* Exit statuses beyond 0 and NATLAB_EXIT_USAGE (docs/netcheck.md). */
#define EXIT_ERROR 1      /* nothing measured: resolution, sockets, ICMP unreachable */
#define EXIT_NO_ANSWER 2  /* not one answer: UDP blocked, or the server is down */
#define EXIT_INCOMPLETE 3 /* measured, but mapping or filtering is unknown */

static int usage(FILE *out, int status)
{
    fprintf(out,
            "usage: natlab netcheck --server HOST[:PORT] [--json] [--profile-out FILE]\n"
            "                       [--lifetime-max DURATION] [--gateway IP|none] [--seed N]\n"
            "Classifies the NAT between this host and an RFC 5780 STUN server with two\n"
            "addresses (natlab server, coturn): mapping and filtering (RFC 4787), port\n"
            "allocation (preserved, sequential with its step, random), parity, pooling,\n"
            "hairpinning, NAT-PMP/PCP on the default gateway, ALG rewriting, and with\n"
            "--lifetime-max the mapping timeout (searched up to DURATION, e.g. 10min) and\n"
            "whether inbound packets refresh it. Retransmits so that 5%% loss does not change\n"
            "a verdict; without the lifetime search it takes about a second.\n"
            "  --json              the result as JSON (profile keys + evidence) on stdout\n"
            "  --profile-out FILE  write the result as a natsim profile ([nat] key file)\n"
            "  --gateway IP|none   ask this gateway for NAT-PMP/PCP (default: the default route's)\n"
            "  --no-tcp            skip the TCP tests (STUN over TCP and the server's connect-back)\n"
            "Exit status: 0 measured; 1 error; 2 no answer at all (UDP blocked or server down;\n"
            "the outputs still say type = blocked); 3 mapping or filtering not measurable with\n"
            "this server; 64 bad arguments. The PORT defaults to 3478.\n");
    return status;
}

static bool write_file(const char *path, const char *text, GError **error)
{
    return g_file_set_contents(path, text, -1, error);
}

int cmd_netcheck_main(int argc, char **argv)
{
    const char *server = NULL, *profile_out = NULL;
    bool json = false;
    netcheck_shell_options_t o = { .ask_gateway = true };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return usage(stdout, 0);
        if (strcmp(a, "--json") == 0) {
            json = true;
            continue;
        }
        if (strcmp(a, "--no-tcp") == 0) {
            o.no_tcp = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "natlab netcheck: %s needs a value\n", a);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
        const char *v = argv[++i];
        bool ok = true;
        guint64 n;
        if (strcmp(a, "--server") == 0) {
            server = v;
        } else if (strcmp(a, "--profile-out") == 0) {
            profile_out = v;
        } else if (strcmp(a, "--lifetime-max") == 0) {
            ok = duration_parse(v, &o.lifetime_max) && o.lifetime_max >= 2 * USEC_PER_SEC &&
                 o.lifetime_max <= 24 * USEC_PER_HOUR;
            if (!ok) {
                fprintf(stderr, "natlab netcheck: bad value for --lifetime-max: '%s' (a duration "
                                "from 2s to 24h, units " DURATION_UNITS ")\n", v);
                return usage(stderr, NATLAB_EXIT_USAGE);
            }
        } else if (strcmp(a, "--gateway") == 0) {
            if (strcmp(v, "none") == 0)
                o.ask_gateway = false;
            else
                ok = addr_ip_parse(v, &o.gateway) && o.gateway != 0;
        } else if (strcmp(a, "--seed") == 0) {
            ok = g_ascii_string_to_unsigned(v, 10, 1, G_MAXUINT64, &n, NULL);
            o.seed = n;
        } else {
            fprintf(stderr, "natlab netcheck: unknown option %s\n", a);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
        if (!ok) {
            fprintf(stderr, "natlab netcheck: bad value for %s: '%s'\n", a, v);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
    }
    if (!server) {
        fprintf(stderr, "natlab netcheck: --server is required\n");
        return usage(stderr, NATLAB_EXIT_USAGE);
    }
    g_autoptr(GError) error = NULL;
    if (!sockaddr_resolve(server, STUN_DEFAULT_PORT, &o.server, &error)) {
        fprintf(stderr, "natlab netcheck: %s\n", error->message);
        return error->code == SOCKADDR_ERROR_SYNTAX ? NATLAB_EXIT_USAGE : EXIT_ERROR;
    }

    netcheck_result_t *r = g_new0(netcheck_result_t, 1);
    int status = EXIT_ERROR;
    if (!netcheck_shell_run(&o, r, &error)) {
        fprintf(stderr, "natlab netcheck: %s\n", error->message);
        goto cleanup;
    }
    if (!(r->known & NETCHECK_KNOWN_TYPE)) {
        fprintf(stderr, "natlab netcheck: %s\n", r->error[0] ? r->error : "nothing measured");
        goto cleanup;
    }
    if (json) {
        JsonNode *root = netcheck_report_json(r);
        cmd_print_json(root);
        json_node_unref(root);
    } else {
        g_autofree char *text = netcheck_report_text(r);
        fputs(text, stdout);
    }
    if (profile_out) {
        char ep[ADDR_ENDPOINT_STRLEN];
        g_autofree char *comment = g_strdup_printf("natlab netcheck against %s",
                                                   addr_endpoint_format(o.server, ep));
        g_autofree char *text = netcheck_report_profile(r, comment);
        if (!write_file(profile_out, text, &error)) {
            fprintf(stderr, "natlab netcheck: %s\n", error->message);
            goto cleanup;
        }
    }
    if (r->udp_blocked) {
        fprintf(stderr, "natlab netcheck: %s\n", r->error);
        status = EXIT_NO_ANSWER;
    } else if ((r->type == NAT_TYPE_NAT && !(r->known & NETCHECK_KNOWN_MAPPING)) ||
               ((r->type == NAT_TYPE_NAT || r->type == NAT_TYPE_FIREWALL) &&
                !(r->known & NETCHECK_KNOWN_FILTERING))) {
        fprintf(stderr, "natlab netcheck: incomplete: %s\n", r->error);
        status = EXIT_INCOMPLETE;
    } else {
        if (r->error[0])
            fprintf(stderr, "natlab netcheck: note: %s\n", r->error);
        status = 0;
    }
cleanup:
    g_free(r);
    return status;
}
