/* The router namespace's kernel set-up for natsim: the rules of
 * nat_rules.h applied, and the sysctls a userspace NAT needs. */
#pragma once
#include <glib.h>
#include <stdbool.h>

/* Runs iptables-restore --noflush with that text. */
bool nat_kernel_apply_rules(const char *text, GError **error);
/* ip_forward, rp_filter off, accept_local on INSIDE (hairpinned packets carry
 * our own address as source), no ICMP redirects on INSIDE. */
bool nat_kernel_sysctls(const char *inside, const char *outside, GError **error);
