#define _GNU_SOURCE
/* natlab bench forward: natsim against the kernel's own NAT in one run.
 * One topology (inside host -> router -> public sink); the router first runs
 * natsim, then the kernel's MASQUERADE, then plain routing (the baseline for
 * added latency). Same hosts, same tools, same minutes: the ratios mean
 * something even on a shared machine. UDP (packet rate, bulk, round trip),
 * then TCP (one bulk stream; connection setups, each a full open and close).
 * Prints JSON; asserts nothing. */
#include <errno.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_tcp.h"
#include "bench/bench_udp.h"
#include "bench_forward.h"
#include "netns/netns.h"
#include "netns/topology.h"

#define SINK_PORT 9000
#define ECHO_PORT 9001
#define SOURCE_PORT 40000
#define TCP_SINK_PORT 9002
#define TCP_ACCEPT_PORT 9003
/* Connections in flight during the setup loop: enough to keep the path busy
 * rather than measure one round trip at a time. */
#define TCP_IN_FLIGHT 32

static const char bench_scenario[] =
    "[scenario]\nname = benchfwd\nseed = 1\n\n"
    "[nat gw]\npreset = port-restricted-cone\n\n"
    "[host inside]\nnat = gw\n\n"
    "[host sink]\naddresses = 1\n";

static const char updown_scenario[] =
    "[scenario]\nname = benchupdown\nseed = 1\n\n"
    "[nat home]\npreset = port-restricted-cone\n\n"
    "[nat isp]\npreset = cgnat\n\n"
    "[nat flat]\npreset = home-router\nbehind = isp\n\n"
    "[host alice]\nnat = home\n\n[host bob]\nnat = flat\n\n[host srv]\naddresses = 2\n";

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

/* Runs a command in a namespace and waits for it. */
static bool run_in(const char *ns, const char *const *argv)
{
    netns_spawn_t spec = { .ns = ns, .argv = (char *const *)argv, .stdin_fd = -1,
                           .stdout_fd = -1, .stderr_fd = 2 };
    pid_t pid = netns_spawn(&spec);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

typedef struct bench_setup {
    char *inside_ns, *sink_ns, *router_ns;
    addr_endpoint_t inside, sink, echo;
    uint32_t router_wan, lan_net;
    unsigned lan_len;
    pid_t daemon;
} bench_setup_t;

static char *ns_path(const char *ns)
{
    return g_strdup_printf("/run/netns/%s", ns);
}

typedef struct mode_figures {
    double pps_64[8], mbps_1400[8];
    double rtt_p50, rtt_p90, rtt_min;
    double tcp_mbps[8], tcp_setups[8];
    uint64_t tcp_errors;
    bool tcp_ok; /* every TCP run moved data; else its figures are left out */
} mode_figures_t;

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof *v, bench_compare_double);
    return n ? v[n / 2] : 0;
}

/* One blast: the sink counts what arrives between its first and last packet. */
static bool blast(const bench_setup_t *s, size_t payload, double seconds, double *pps, double *mbps)
{
    g_autofree char *sink_path = ns_path(s->sink_ns), *inside_path = ns_path(s->inside_ns);
    bench_udp_job_t sink = { .role = BENCH_UDP_SINK, .netns = sink_path, .local = s->sink,
                             .seconds = seconds + 1.0 };
    bench_udp_job_t src = { .role = BENCH_UDP_BLAST, .netns = inside_path, .local = s->inside,
                            .remote = s->sink, .payload = payload, .seconds = seconds };
    int sink_fd, src_fd;
    pid_t sink_pid = bench_udp_start(&sink, &sink_fd);
    if (sink_pid < 0)
        return false;
    pid_t src_pid = bench_udp_start(&src, &src_fd);
    if (src_pid < 0) {
        bench_job_stop(sink_pid, sink_fd);
        return false;
    }
    bench_udp_result_t sent, got;
    bool sent_ok = bench_udp_finish(src_pid, src_fd, &sent);
    bool got_ok = bench_udp_finish(sink_pid, sink_fd, &got); /* reap both, whatever happened */
    if (!sent_ok || !got_ok || got.seconds <= 0)
        return false;
    *pps = (double)got.packets / got.seconds;
    *mbps = (double)got.bytes * 8 / got.seconds / 1e6;
    return true;
}

static bool latency(const bench_setup_t *s, unsigned count, mode_figures_t *f)
{
    g_autofree char *sink_path = ns_path(s->sink_ns), *inside_path = ns_path(s->inside_ns);
    bench_udp_job_t echo = { .role = BENCH_UDP_ECHO, .netns = sink_path, .local = s->echo };
    bench_udp_job_t ping = { .role = BENCH_UDP_PINGER, .netns = inside_path,
                             .local = addr_endpoint(s->inside.ip, SOURCE_PORT + 1), .remote = s->echo,
                             .count = count };
    int echo_fd, ping_fd;
    pid_t echo_pid = bench_udp_start(&echo, &echo_fd);
    if (echo_pid < 0)
        return false;
    pid_t ping_pid = bench_udp_start(&ping, &ping_fd);
    bench_udp_result_t r = { 0 };
    bool ok = ping_pid > 0 && bench_udp_finish(ping_pid, ping_fd, &r) && r.packets > count / 2;
    bench_job_stop(echo_pid, echo_fd);
    f->rtt_p50 = r.rtt_p50_us;
    f->rtt_p90 = r.rtt_p90_us;
    f->rtt_min = r.rtt_min_us;
    return ok;
}

/* One bulk TCP stream; the sink's bytes between its first and last read. */
static bool tcp_bulk(const bench_setup_t *s, double seconds, double *mbps, uint64_t *errors)
{
    g_autofree char *sink_path = ns_path(s->sink_ns), *inside_path = ns_path(s->inside_ns);
    bench_tcp_job_t sink = { .role = BENCH_TCP_SINK, .netns = sink_path,
                             .local = addr_endpoint(s->sink.ip, TCP_SINK_PORT), .seconds = seconds + 3.0 };
    bench_tcp_job_t bulk = { .role = BENCH_TCP_BULK, .netns = inside_path,
                             .remote = sink.local, .seconds = seconds };
    int sink_fd, bulk_fd;
    pid_t sink_pid = bench_tcp_start(&sink, &sink_fd);
    if (sink_pid < 0)
        return false;
    pid_t bulk_pid = bench_tcp_start(&bulk, &bulk_fd);
    if (bulk_pid < 0) {
        bench_job_stop(sink_pid, sink_fd);
        return false;
    }
    bench_tcp_result_t sent = { 0 }, got = { 0 };
    bool sent_ok = bench_tcp_finish(bulk_pid, bulk_fd, &sent);
    bool got_ok = bench_tcp_finish(sink_pid, sink_fd, &got);
    *errors += sent.errors;
    if (!sent_ok || !got_ok || got.seconds <= 0)
        return false;
    *mbps = (double)got.bytes * 8 / got.seconds / 1e6;
    return true;
}

/* Connection setups per second: TCP_IN_FLIGHT at a time, each a connect, the
 * server's accept and close, the client's close on the FIN. */
static bool tcp_setups(const bench_setup_t *s, double seconds, double *rate, uint64_t *errors)
{
    g_autofree char *sink_path = ns_path(s->sink_ns), *inside_path = ns_path(s->inside_ns);
    bench_tcp_job_t acceptor = { .role = BENCH_TCP_ACCEPTOR, .netns = sink_path,
                                 .local = addr_endpoint(s->sink.ip, TCP_ACCEPT_PORT) };
    bench_tcp_job_t client = { .role = BENCH_TCP_CONNECT, .netns = inside_path, .remote = acceptor.local,
                               .seconds = seconds, .count = TCP_IN_FLIGHT };
    int acc_fd, cli_fd;
    pid_t acc_pid = bench_tcp_start(&acceptor, &acc_fd);
    if (acc_pid < 0)
        return false;
    pid_t cli_pid = bench_tcp_start(&client, &cli_fd);
    bench_tcp_result_t r = { 0 };
    bool ok = cli_pid > 0 && bench_tcp_finish(cli_pid, cli_fd, &r);
    bench_job_stop(acc_pid, acc_fd);
    *errors += r.errors;
    if (!ok || r.connections == 0 || r.seconds <= 0)
        return false;
    *rate = (double)r.connections / r.seconds;
    return true;
}

static void measure_tcp(const bench_setup_t *s, unsigned repeat, double seconds, mode_figures_t *f)
{
    f->tcp_ok = true;
    for (unsigned i = 0; i < repeat && f->tcp_ok && !interrupted; i++)
        f->tcp_ok = tcp_bulk(s, seconds, &f->tcp_mbps[i], &f->tcp_errors) &&
                    tcp_setups(s, seconds, &f->tcp_setups[i], &f->tcp_errors);
}

static bool measure(const bench_setup_t *s, unsigned repeat, double seconds, unsigned pings,
                    mode_figures_t *f)
{
    for (unsigned i = 0; i < repeat && !interrupted; i++) {
        double ignored;
        if (!blast(s, 64, seconds, &f->pps_64[i], &ignored) ||
            !blast(s, 1400, seconds, &ignored, &f->mbps_1400[i])) {
            fprintf(stderr, "natlab bench forward: no packets reached the sink\n");
            return false;
        }
    }
    if (!interrupted && !latency(s, pings, f)) {
        fprintf(stderr, "natlab bench forward: the round-trip probe got no answers\n");
        return false;
    }
    /* A path without TCP (natsim before TCP translation) leaves its TCP
     * figures out; the UDP ones stand. */
    if (!interrupted)
        measure_tcp(s, repeat, seconds, f);
    if (!interrupted && !f->tcp_ok)
        fprintf(stderr, "natlab bench forward: TCP failed on this path (%llu connection errors)\n",
                (unsigned long long)f->tcp_errors);
    return !interrupted;
}

static void add_mode(JsonBuilder *b, const char *name, mode_figures_t *f, unsigned repeat)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "pps_64");
    json_builder_add_double_value(b, median(f->pps_64, repeat));
    json_builder_set_member_name(b, "mbps_1400");
    json_builder_add_double_value(b, median(f->mbps_1400, repeat));
    json_builder_set_member_name(b, "rtt_p50_us");
    json_builder_add_double_value(b, f->rtt_p50);
    json_builder_set_member_name(b, "rtt_p90_us");
    json_builder_add_double_value(b, f->rtt_p90);
    json_builder_set_member_name(b, "rtt_min_us");
    json_builder_add_double_value(b, f->rtt_min);
    json_builder_set_member_name(b, "tcp_mbps");
    if (f->tcp_ok)
        json_builder_add_double_value(b, median(f->tcp_mbps, repeat));
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "tcp_setups_per_s");
    if (f->tcp_ok)
        json_builder_add_double_value(b, median(f->tcp_setups, repeat));
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "tcp_errors");
    json_builder_add_int_value(b, (gint64)f->tcp_errors);
    json_builder_end_object(b);
}

static bool stop_daemon(pid_t pid)
{
    /* It is not our child: a pidfd tells when it is gone (it removes its
     * rules on the way out). */
    int fd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    if (fd < 0 || kill(pid, SIGTERM) < 0) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    struct pollfd p = { fd, POLLIN, 0 };
    bool gone = poll(&p, 1, 5000) == 1;
    close(fd);
    return gone;
}

static bool setup_from(topology_t *t, bench_setup_t *s)
{
    const plan_t *plan = topology_plan(t);
    for (unsigned i = 0; i < plan->hosts->len; i++) {
        const plan_host_t *h = plan_host(plan, i);
        if (strcmp(h->name, "inside") == 0) {
            s->inside_ns = g_strdup(h->ns);
            s->inside = addr_endpoint(h->addrs[0], SOURCE_PORT);
        } else {
            s->sink_ns = g_strdup(h->ns);
            s->sink = addr_endpoint(h->addrs[0], SINK_PORT);
            s->echo = addr_endpoint(h->addrs[0], ECHO_PORT);
        }
    }
    const plan_nat_t *gw = plan_nat(plan, 0);
    s->router_ns = g_strdup(gw->ns);
    s->router_wan = gw->wan[0];
    s->lan_net = gw->lan_net;
    s->lan_len = gw->lan_len;
    g_autoptr(topology_info_t) info = topology_info(t);
    s->daemon = (pid_t)topology_info_nat(info, 0)->pid;
    return s->inside_ns && s->sink_ns;
}

static double time_updown(unsigned repeat, double *down_ms)
{
    double up[16], down[16];
    g_autoptr(GError) error = NULL;
    g_autoptr(scenario_t) sc = scenario_load_data(updown_scenario, strlen(updown_scenario), "bench", &error);
    unsigned n = 0;
    for (unsigned i = 0; sc && i < repeat && !interrupted; i++) {
        topology_options_t o = { .interrupted = &interrupted };
        double t0 = bench_mono_seconds();
        topology_t *t = topology_up(sc, &o, &error);
        double t1 = bench_mono_seconds();
        if (!t)
            break;
        bool was_up;
        g_autofree char *prefix = g_strdup(topology_plan(t)->prefix);
        topology_free(t);
        double t2 = bench_mono_seconds();
        topology_down(prefix, NULL, 0, &was_up, NULL);
        double t3 = bench_mono_seconds();
        up[n] = (t1 - t0) * 1e3;
        down[n++] = (t3 - t2) * 1e3;
    }
    if (error)
        fprintf(stderr, "natlab bench: up/down: %s\n", error->message);
    *down_ms = median(down, n);
    return n ? median(up, n) : -1;
}

JsonNode *bench_forward_run(double seconds, unsigned repeat, GError **error)
{
    const unsigned pings = 2000;
    g_autofree char *why = netns_preflight();
    if (why) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, "%s", why);
        return NULL;
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    g_autoptr(scenario_t) sc = scenario_load_data(bench_scenario, strlen(bench_scenario), "bench", error);
    topology_options_t o = { .run_id = "fwd", .interrupted = &interrupted };
    topology_reap(0);
    topology_t *t = sc ? topology_up(sc, &o, error) : NULL;
    if (!t)
        return NULL;
    g_autofree char *prefix = g_strdup(topology_plan(t)->prefix);
    bench_setup_t s = { 0 };
    mode_figures_t natsim = { 0 }, kernel = { 0 }, routed = { 0 };
    bool ok = setup_from(t, &s) && measure(&s, repeat, seconds, pings, &natsim) && stop_daemon(s.daemon);
    char wan[ADDR_IP_STRLEN], lan[ADDR_IP_STRLEN + 4];
    addr_ip_format(s.router_wan, wan);
    char lan_ip[ADDR_IP_STRLEN];
    g_snprintf(lan, sizeof lan, "%s/%u", addr_ip_format(s.lan_net, lan_ip), s.lan_len);
    if (ok) {
        /* The reference: the kernel's own NAT in the same router namespace. */
        const char *masq[] = { "iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-o", "wan",
                               "-j", "MASQUERADE", NULL };
        ok = run_in(s.router_ns, masq) && measure(&s, repeat, seconds, pings, &kernel);
    }
    if (ok) {
        /* The baseline: plain routing, the sink routes the LAN back. */
        const char *flush[] = { "iptables", "-w", "-t", "nat", "-F", NULL };
        const char *route[] = { "ip", "route", "add", lan, "via", wan, NULL };
        ok = run_in(s.router_ns, flush) && run_in(s.sink_ns, route) &&
             measure(&s, repeat, seconds, pings, &routed);
    }
    topology_free(t);
    bool was_up;
    topology_down(prefix, NULL, 0, &was_up, NULL);
    if (!ok) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "a measurement failed%s",
                    interrupted ? " (interrupted)" : "");
        g_free(s.inside_ns);
        g_free(s.sink_ns);
        g_free(s.router_ns);
        return NULL;
    }
    double down_ms = 0, up_ms = time_updown(5, &down_ms);

    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    add_mode(b, "natsim", &natsim, repeat);
    add_mode(b, "kernel_masquerade", &kernel, repeat);
    add_mode(b, "routed", &routed, repeat);
    double natsim_pps = median(natsim.pps_64, repeat), kernel_pps = median(kernel.pps_64, repeat);
    const struct { const char *k; double v; } top[] = {
        { "natsim_pps", natsim_pps },
        { "kernel_pps", kernel_pps },
        { "pps_ratio", kernel_pps > 0 ? natsim_pps / kernel_pps : 0 },
        { "mbps_ratio_1400", median(kernel.mbps_1400, repeat) > 0
                                 ? median(natsim.mbps_1400, repeat) / median(kernel.mbps_1400, repeat) : 0 },
        { "tcp_mbps_ratio", natsim.tcp_ok && kernel.tcp_ok && median(kernel.tcp_mbps, repeat) > 0
                                ? median(natsim.tcp_mbps, repeat) / median(kernel.tcp_mbps, repeat) : 0 },
        { "tcp_setups_ratio", natsim.tcp_ok && kernel.tcp_ok && median(kernel.tcp_setups, repeat) > 0
                                  ? median(natsim.tcp_setups, repeat) / median(kernel.tcp_setups, repeat) : 0 },
        { "natsim_added_rtt_p50_us", natsim.rtt_p50 - routed.rtt_p50 },
        { "kernel_added_rtt_p50_us", kernel.rtt_p50 - routed.rtt_p50 },
        { "up_two_nat_ms", up_ms },
        { "down_two_nat_ms", down_ms },
        { "seconds_per_run", seconds },
        { "repeat", (double)repeat },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(top); i++) {
        json_builder_set_member_name(b, top[i].k);
        json_builder_add_double_value(b, top[i].v);
    }
    json_builder_end_object(b);
    g_free(s.inside_ns);
    g_free(s.sink_ns);
    g_free(s.router_ns);
    return json_builder_get_root(b);
}
