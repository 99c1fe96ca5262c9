/* natlab nat: the emulator daemon in a router namespace (normally started by
 * `natlab up` / the runner, one per NAT). */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "common/addr.h"
#include "natsim/nat_daemon.h"
#include "natsim/nat_profile.h"

static int usage(FILE *out, int status)
{
    fprintf(out,
            "usage: natlab nat (--profile FILE | --preset NAME) [--set KEY=VALUE]...\n"
            "                  --inside IFACE --outside IFACE --public-ip IP [--public-ip IP]...\n"
            "                  [--spare-ip IP]...\n"
            "                  [--inside-ip IP] [--queue N] [--queue-maxlen N] [--seed N]\n"
            "                  [--control PATH] [--pcap DIR] [--stats-out FILE]\n"
            "                  [--ready-file FILE] [--no-rules]\n"
            "Run inside the router namespace. Translates UDP between IFACEs through NFQUEUE\n"
            "queues N..N+2 (default 0), installing its iptables rules (unless --no-rules) and\n"
            "removing them on exit (SIGINT, SIGTERM, SIGHUP). --spare-ip: an address on the\n"
            "outside interface that the control command change-ip moves the NAT to.\n");
    return status;
}

static bool parse_u64(const char *text, guint64 max, guint64 *out)
{
    return g_ascii_string_to_unsigned(text, 10, 0, max, out, NULL);
}

int cmd_nat_main(int argc, char **argv)
{
    const char *profile_path = NULL, *preset = NULL;
    g_autoptr(GPtrArray) sets = g_ptr_array_new();
    g_autoptr(GArray) ips = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    g_autoptr(GArray) spares = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    nat_daemon_options_t o = { .queue_maxlen = 8192, .install_rules = true };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0)
            return usage(stdout, 0);
        if (strcmp(a, "--no-rules") == 0) {
            o.install_rules = false;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "natlab nat: %s needs a value\n", a);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
        const char *v = argv[++i];
        guint64 n;
        uint32_t ip;
        if (strcmp(a, "--profile") == 0)
            profile_path = v;
        else if (strcmp(a, "--preset") == 0)
            preset = v;
        else if (strcmp(a, "--set") == 0)
            g_ptr_array_add(sets, (gpointer)v);
        else if (strcmp(a, "--inside") == 0)
            o.inside = v;
        else if (strcmp(a, "--outside") == 0)
            o.outside = v;
        else if (strcmp(a, "--public-ip") == 0 && addr_ip_parse(v, &ip))
            g_array_append_val(ips, ip);
        else if (strcmp(a, "--spare-ip") == 0 && addr_ip_parse(v, &ip))
            g_array_append_val(spares, ip);
        else if (strcmp(a, "--inside-ip") == 0 && addr_ip_parse(v, &ip))
            o.inside_ip = ip;
        else if (strcmp(a, "--queue") == 0 && parse_u64(v, 65533, &n))
            o.queue = (uint16_t)n;
        else if (strcmp(a, "--queue-maxlen") == 0 && parse_u64(v, 1u << 20, &n) && n > 0)
            o.queue_maxlen = (uint32_t)n;
        else if (strcmp(a, "--seed") == 0 && parse_u64(v, G_MAXUINT64, &n))
            o.seed = n;
        else if (strcmp(a, "--control") == 0)
            o.control_path = v;
        else if (strcmp(a, "--pcap") == 0)
            o.pcap_dir = v;
        else if (strcmp(a, "--stats-out") == 0)
            o.stats_out = v;
        else if (strcmp(a, "--ready-file") == 0)
            o.ready_file = v;
        else {
            fprintf(stderr, "natlab nat: bad argument %s %s\n", a, v);
            return usage(stderr, NATLAB_EXIT_USAGE);
        }
    }
    if (!!profile_path == !!preset || !o.inside || !o.outside) {
        fprintf(stderr, "natlab nat: needs one of --profile/--preset, and --inside and --outside\n");
        return usage(stderr, NATLAB_EXIT_USAGE);
    }
    g_autoptr(GError) error = NULL;
    g_autoptr(nat_profile_t) profile = profile_path ? nat_profile_load_file(profile_path, &error)
                                                    : nat_profile_new_preset(preset, &error);
    for (guint i = 0; profile && i < sets->len; i++) {
        const char *kv = sets->pdata[i];
        const char *eq = strchr(kv, '=');
        g_autofree char *key = eq ? g_strndup(kv, (gsize)(eq - kv)) : g_strdup(kv);
        if (!eq || !nat_profile_set(profile, g_strstrip(key), eq + 1, &error)) {
            if (!error)
                g_set_error(&error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "--set %s: use KEY=VALUE", kv);
            g_clear_pointer(&profile, nat_profile_free);
        }
    }
    if (!profile) {
        fprintf(stderr, "natlab nat: %s\n", error->message);
        return 1;
    }
    o.profile = profile;
    o.public_ips = (const uint32_t *)ips->data;
    o.n_public_ips = ips->len;
    o.spare_ips = (const uint32_t *)spares->data;
    o.n_spare_ips = spares->len;
    int status = nat_daemon_run(&o, &error);
    if (error) {
        fprintf(stderr, "natlab nat: %s\n", error->message);
        return status ? status : 1;
    }
    return status;
}
