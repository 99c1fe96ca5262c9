/* natsim as a daemon (shell): the GLib main loop that feeds NFQUEUE packets
 * to the router core, releases held packets on time, answers NAT-PMP/PCP on
 * the inside address, serves the control socket and writes pcap and stats. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "nat_profile.h"

typedef struct nat_daemon_options {
    const nat_profile_t *profile;
    const char *inside, *outside; /* interface names */
    const uint32_t *public_ips;
    unsigned n_public_ips;
    const uint32_t *spare_ips; /* on the outside interface, for `change-ip` */
    unsigned n_spare_ips;
    uint32_t inside_ip; /* for NAT-PMP/PCP; 0 = the inside interface's first address */
    uint16_t queue;     /* first of three queue numbers */
    uint32_t queue_maxlen;
    uint64_t seed;
    const char *control_path; /* NULL: no control socket */
    const char *pcap_dir;     /* NULL: no capture */
    const char *stats_out;    /* NULL: stats only on the control socket */
    const char *ready_file;   /* written (with our pid) once packets flow */
    bool install_rules;
} nat_daemon_options_t;

/* Runs until SIGINT/SIGTERM/SIGHUP; every exit path removes the rules, the
 * control socket and the ready file, and writes the stats. Returns the exit
 * status; setup errors come back in `error`. */
int nat_daemon_run(const nat_daemon_options_t *options, GError **error);
