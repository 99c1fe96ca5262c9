#include "nat_kernel.h"

#include <errno.h>
#include <gio/gio.h>
#include <stdio.h>

bool nat_kernel_apply_rules(const char *text, GError **error)
{
    const char *argv[] = { "iptables-restore", "--noflush", "-w", NULL };
    g_autoptr(GSubprocess) proc = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                                               G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                               G_SUBPROCESS_FLAGS_STDERR_PIPE,
                                                    error);
    if (!proc) {
        g_prefix_error(error, "cannot run iptables-restore (install the iptables package): ");
        return false;
    }
    g_autofree char *err_text = NULL;
    if (!g_subprocess_communicate_utf8(proc, text, NULL, NULL, &err_text, error))
        return false;
    if (!g_subprocess_get_successful(proc)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "iptables-restore failed (the kernel needs nfnetlink_queue and the "
                    "xtables NFQUEUE and CT targets): %s", err_text ? g_strstrip(err_text) : "");
        return false;
    }
    return true;
}

static bool write_sysctl(const char *path, const char *value, bool optional, GError **error)
{
    g_autofree char *full = g_strdup_printf("/proc/sys/%s", path);
    FILE *f = fopen(full, "w");
    if (!f) {
        if (optional && errno == ENOENT)
            return true;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot set %s: %s", full,
                    g_strerror(errno));
        return false;
    }
    bool ok = fputs(value, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok)
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot set %s", full);
    return ok;
}

bool nat_kernel_sysctls(const char *inside, const char *outside, GError **error)
{
    g_autofree char *in_rp = g_strdup_printf("net/ipv4/conf/%s/rp_filter", inside);
    g_autofree char *out_rp = g_strdup_printf("net/ipv4/conf/%s/rp_filter", outside);
    g_autofree char *in_local = g_strdup_printf("net/ipv4/conf/%s/accept_local", inside);
    g_autofree char *in_redirects = g_strdup_printf("net/ipv4/conf/%s/send_redirects", inside);
    return write_sysctl("net/ipv4/ip_forward", "1", false, error) &&
           write_sysctl("net/ipv4/conf/all/rp_filter", "0", false, error) &&
           write_sysctl(in_rp, "0", false, error) && write_sysctl(out_rp, "0", false, error) &&
           write_sysctl(in_local, "1", false, error) &&
           write_sysctl("net/ipv4/conf/all/send_redirects", "0", false, error) &&
           write_sysctl(in_redirects, "0", false, error) &&
           /* Built-in br_netfilter would run bridged LAN traffic through iptables. */
           write_sysctl("net/bridge/bridge-nf-call-iptables", "0", true, error);
}
