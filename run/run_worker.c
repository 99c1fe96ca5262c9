#define _GNU_SOURCE
#include "run_worker.h"

#include "run_simworker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "netns/netns.h"
#include "netns/topology.h"
#include "run_attempt.h"
#include "run_kind_file.h"

#define SERVER_READY_TIMEOUT (5 * USEC_PER_SEC)
#define RUN_TURN_ALT_PORT 443 /* coturn's second instance: plain TURN over TCP for `corporate` */

static bool report(const run_worker_env_t *env, JsonNode *msg)
{
    g_autofree char *text = json_to_string(msg, FALSE);
    g_autofree char *line = g_strconcat(text, "\n", NULL);
    size_t len = strlen(line), off = 0;
    while (off < len) {
        ssize_t n = write(env->report_fd, line + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* The parent is gone: nobody gets results, so stop and clean up. */
            *env->interrupted = SIGPIPE;
            return false;
        }
        off += (size_t)n;
    }
    return true;
}

void run_worker_report_error(const run_worker_env_t *env, const char *message)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "error");
    json_builder_set_member_name(b, "message");
    json_builder_add_string_value(b, message);
    json_builder_end_object(b);
    g_autoptr(JsonNode) msg = json_builder_get_root(b);
    report(env, msg);
}

void run_worker_report_row(const run_worker_env_t *env, const result_t *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "row");
    json_builder_set_member_name(b, "row");
    json_builder_add_value(b, result_to_json(r));
    json_builder_end_object(b);
    g_autoptr(JsonNode) msg = json_builder_get_root(b);
    report(env, msg);
}

int run_worker_nat_of(const run_spec_t *spec, int host)
{
    return scenario_host(spec->scenario, (guint)host)->nat_index;
}

static void describe_nat(const run_spec_t *spec, int host, char **name, JsonNode **profile)
{
    int nat = run_worker_nat_of(spec, host);
    *name = NULL;
    *profile = NULL;
    if (nat < 0)
        return;
    const nat_profile_t *p = scenario_nat(spec->scenario, (guint)nat)->profile;
    *name = g_strdup(p->name);
    *profile = nat_profile_to_json_node(p);
}

void run_worker_fill_row(const run_spec_t *spec, result_t *r)
{
    r->scenario = g_strdup(spec->scenario->name);
    if (spec->kind)
        r->kind = g_strdup(spec->kind->name);
    describe_nat(spec, spec->connect, &r->nat_a, &r->profile_a);
    describe_nat(spec, spec->listen, &r->nat_b, &r->profile_b);
    r->pair = g_strdup_printf("%s/%s", r->nat_a ? r->nat_a : "public",
                              r->nat_b ? r->nat_b : "public");
    r->expected = g_strdup(run_expect_outcome_name(spec->expect->outcome));
    r->turn = g_strdup(run_turn_name(spec->turn));
    if (spec->scenario->pcap)
        r->pcap = g_strdup_printf("pcap/%s", spec->scenario->name);
}

/* A socket bound in the namespace of `pid`: UDP bound, TCP listening, on
 * IPv4 or IPv6 (a dual-stack socket shows only in udp6/tcp6); on `ip` only
 * (host order, IPv4) when it is not 0. */
static bool socket_bound(pid_t pid, const run_kind_socket_t *sock, uint32_t ip)
{
    char want[16];
    /* /proc/net prints the address as the in-memory 32-bit word, in hex. */
    g_snprintf(want, sizeof want, "%08X", (unsigned)htonl(ip));
    for (int v6 = 0; v6 < 2 && !(v6 && ip); v6++) {
        g_autofree char *path = g_strdup_printf("/proc/%d/net/%s%s", (int)pid,
                                                sock->tcp ? "tcp" : "udp", v6 ? "6" : "");
        g_autofree char *text = NULL;
        if (!g_file_get_contents(path, &text, NULL, NULL))
            continue;
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        for (int i = 1; lines[i]; i++) {
            unsigned port = 0, state = 0;
            char local[64];
            if (sscanf(lines[i], " %*u: %63[0-9A-Fa-f]:%x %*s %x", local, &port, &state) == 3 &&
                port == sock->port && (!sock->tcp || state == 0x0A) &&
                (!ip || g_ascii_strcasecmp(local, want) == 0))
                return true;
        }
    }
    return false;
}

/* The servers the public host runs: a kind's (its servers key), or natlab
 * server, and coturn with [agent] turn. */
static unsigned servers_of(const run_spec_t *spec)
{
    if (spec->kind)
        return spec->kind->servers;
    return RUN_KIND_SERVER_NATLAB | (spec->turn != RUN_TURN_NONE ? RUN_KIND_SERVER_TURN : 0);
}

/* What the servers of this scenario must have done before the first
 * attempt: natlab server's ready file, coturn's and the kind's sockets. */
static bool servers_ready(const run_spec_t *spec, const plan_t *plan, const char *state_dir)
{
    const run_kind_t *k = spec->kind;
    unsigned servers = servers_of(spec);
    if (servers & RUN_KIND_SERVER_NATLAB) {
        g_autofree char *ready = g_strdup_printf("%s/server.ready", state_dir);
        if (!g_file_test(ready, G_FILE_TEST_EXISTS))
            return false;
    }
    if (!(servers & RUN_KIND_SERVER_TURN) && (!k || k->server_ready->len == 0))
        return true;
    const plan_host_t *host = plan_host(plan, (unsigned)spec->server);
    g_autoptr(GArray) pids = netns_pids(host->ns);
    if (pids->len == 0)
        return false;
    pid_t pid = g_array_index(pids, pid_t, 0);
    if (servers & RUN_KIND_SERVER_TURN) {
        /* Beside natlab server (which has 3478 too), coturn's own address. */
        uint32_t ip = spec->turn_address ? host->addrs[spec->turn_address - 1] : 0;
        run_kind_socket_t udp = { .tcp = false, .port = RUN_TURN_PORT };
        run_kind_socket_t tcp = { .tcp = true, .port = RUN_TURN_PORT };
        run_kind_socket_t alt = { .tcp = true, .port = RUN_TURN_ALT_PORT };
        if (!socket_bound(pid, &udp, ip) || (spec->turn == RUN_TURN_TCP && !socket_bound(pid, &tcp, ip)))
            return false;
        if (spec->turn == RUN_TURN_TCP && spec->turn_address && !socket_bound(pid, &alt, ip))
            return false;
    }
    for (guint i = 0; k && i < k->server_ready->len; i++)
        if (!socket_bound(pid, &g_array_index(k->server_ready, run_kind_socket_t, i), 0))
            return false;
    return true;
}

/* The servers' readiness, polled: readiness, not a guess. */
static bool wait_server(const run_spec_t *spec, const plan_t *plan, const char *state_dir,
                        const run_worker_env_t *env, char **why)
{
    usec_t until = g_get_monotonic_time() + SERVER_READY_TIMEOUT;
    while (!servers_ready(spec, plan, state_dir)) {
        if (*env->interrupted)
            return false;
        if (g_get_monotonic_time() > until) {
            g_autofree char *log = g_strdup_printf("%s/%s.log", state_dir, RUN_SERVER_HOST);
            g_autofree char *text = NULL;
            g_file_get_contents(log, &text, NULL, NULL);
            *why = g_strdup_printf("the server%s not ready within %.0f s; its log: %s",
                                   servers_of(spec) != RUN_KIND_SERVER_NATLAB
                                       ? "s of the public host were"
                                       : " was",
                                   (double)SERVER_READY_TIMEOUT / USEC_PER_SEC,
                                   text && *text ? g_strstrip(text) : "(empty)");
            return false;
        }
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return true;
}

/* coturn in the background, for a kind with servers = turn and for natlab's
 * agent with [agent] turn: listening on `listen` (shell words, one or two
 * -L ADDRESS), relaying from `relay`.
 * An empty config file: Debian's /etc/turnserver.conf turns RFC 5780 off.
 * Peers only on the lab's internet (198.18.0.0/15), as a deployed
 * coturn denies private ones: coturn closes a whole allocation when
 * one send fails, and ICE stacks pair their relay with the peer's
 * 10.x host candidate, which the public host cannot route to. */
/* `ports`: "-p 3478" and what else the instance needs; `pidfile`: its
 * name in the state directory. */
static void append_turnserver_at(GString *s, const char *listen, const char *relay,
                                 const char *qpass, const char *ports, const char *pidfile)
{
    g_string_append_printf(
        s,
        ": > \"$NATLAB_STATE_DIR/turnserver.conf\"; "
        "turnserver -c \"$NATLAB_STATE_DIR/turnserver.conf\" %s "
        "--relay-ip %s %s -a -u %s:%s -r %s --no-cli --no-tls "
        "--no-dtls --denied-peer-ip=0.0.0.0-255.255.255.255 "
        "--allowed-peer-ip=198.18.0.0-198.19.255.255 --log-file stdout --simple-log "
        "--pidfile \"$NATLAB_STATE_DIR/%s\" & ",
        listen, relay, ports, RUN_TURN_USER, qpass, RUN_TURN_REALM, pidfile);
}

static void append_turnserver(GString *s, const char *listen, const char *relay,
                              const char *qpass)
{
    g_autofree char *ports = g_strdup_printf("-p %d", RUN_TURN_PORT);
    append_turnserver_at(s, listen, relay, qpass, ports, "turnserver.pid");
}

/* The public host of another kind: what the kind asks for, started by one
 * shell whose process group the topology stops (docs/agents.md). */
static char *kind_server_script(const run_spec_t *spec, const char *natlab_cmd,
                                const char *turn_password, bool two_addresses)
{
    const run_kind_t *k = spec->kind;
    g_autofree char *bin = run_kind_bin_dir();
    g_autofree char *qkind = g_shell_quote(k->name), *qdir = g_shell_quote(k->dir),
                    *qbin = g_shell_quote(bin), *qpass = g_shell_quote(turn_password);
    const char *ip2 = two_addresses ? "$NATLAB_ADDRESS_2" : "$NATLAB_ADDRESS_1";
    GString *s = g_string_new(NULL);
    g_string_append_printf(s,
                           "export NATLAB_KIND=%s NATLAB_KIND_DIR=%s NATLAB_BIN_DIR=%s "
                           "NATLAB_SERVER_IP=\"$NATLAB_ADDRESS_1\" NATLAB_SERVER_IP2=\"%s\" "
                           "NATLAB_SHARED_DIR=\"$NATLAB_STATE_DIR/shared\"; "
                           "mkdir -p \"$NATLAB_SHARED_DIR\" && cd %s || exit 1; ",
                           qkind, qdir, qbin, ip2, qdir);
    if (k->servers & RUN_KIND_SERVER_NATLAB)
        g_string_append_printf(s, "export NATLAB_STUN=\"$NATLAB_ADDRESS_1:%d\" "
                                  "NATLAB_NATLAB_SERVER=\"$NATLAB_ADDRESS_1:%d\"; %s & ",
                               RUN_SERVER_PORT, RUN_SERVER_PORT, natlab_cmd);
    if (k->servers & RUN_KIND_SERVER_TURN) {
        g_string_append_printf(
            s,
            "export NATLAB_STUN=\"$NATLAB_ADDRESS_1:%d\" NATLAB_TURN=\"$NATLAB_ADDRESS_1:%d\" "
            "NATLAB_TURN_USER=%s NATLAB_TURN_PASSWORD=%s NATLAB_TURN_REALM=%s; ",
            RUN_TURN_PORT, RUN_TURN_PORT, RUN_TURN_USER, qpass, RUN_TURN_REALM);
        append_turnserver(s,
                          two_addresses ? "-L \"$NATLAB_ADDRESS_1\" -L \"$NATLAB_ADDRESS_2\""
                                        : "-L \"$NATLAB_ADDRESS_1\"",
                          "\"$NATLAB_ADDRESS_1\"", qpass);
    }
    if (k->server) {
        g_autofree char *q = g_shell_quote(k->server);
        g_string_append_printf(s, "/bin/sh -c %s & ", q);
    }
    g_string_append(s, "wait");
    return g_string_free(s, FALSE);
}

/* natlab's agent with [agent] turn: natlab server on its addresses, coturn
 * on the one after them (spec->turn_address), one address each. */
static char *turn_server_script(const run_spec_t *spec, const char *natlab_cmd,
                                const char *turn_password)
{
    g_autofree char *qpass = g_shell_quote(turn_password);
    g_autofree char *ip = g_strdup_printf("\"$NATLAB_ADDRESS_%u\"", spec->turn_address);
    g_autofree char *listen = g_strdup_printf("-L %s", ip);
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "%s & ", natlab_cmd);
    /* Two coturns on their own address: 3478 (UDP and TCP), and plain TCP
     * on 443 for hosts that may only reach 80 and 443 (`corporate`); the
     * agent tries 443 when TCP 3478 does not connect (docs/agent.md).
     * coturn listens on a second port only for RFC 5780 (two addresses) or
     * TLS (a certificate): a second instance is the plain way. Each relays
     * from its own half of the ports. */
    g_autofree char *main_ports = g_strdup_printf("-p %d --min-port 49152 --max-port 57343", RUN_TURN_PORT);
    g_autofree char *alt_ports = g_strdup_printf("-p %d --no-udp --min-port 57344 --max-port 65535",
                                                 RUN_TURN_ALT_PORT);
    append_turnserver_at(s, listen, ip, qpass, main_ports, "turnserver.pid");
    append_turnserver_at(s, listen, ip, qpass, alt_ports, "turnserver-443.pid");
    g_string_append(s, "wait");
    return g_string_free(s, FALSE);
}

static void prepare_server(run_spec_t *spec, const run_worker_env_t *env,
                           const char *turn_password)
{
    if (!spec->start_server)
        return;
    scenario_host_t *h = g_ptr_array_index(spec->scenario->hosts, (guint)spec->server);
    unsigned addresses = run_spec_server_addresses(spec);
    g_autofree char *exe = g_shell_quote(env->natlab_exe);
    g_autofree char *natlab = g_strdup_printf(
        "%s server --address \"$NATLAB_ADDRESS_1\"%s "
        "--ready-file \"$NATLAB_STATE_DIR/server.ready\"",
        exe, addresses >= 2 ? " --alt-address \"$NATLAB_ADDRESS_2\"" : "");
    g_free(h->run);
    h->run = spec->kind                          ? kind_server_script(spec, natlab, turn_password,
                                                                      addresses >= 2)
             : spec->turn != RUN_TURN_NONE ? turn_server_script(spec, natlab, turn_password)
                                           : g_strdup_printf("exec %s", natlab);
}

typedef struct live {
    topology_t *topology;
    char *prefix;
    char **namespaces;
} live_t;

/* What the hosts' `run` programs printed (the servers: natlab server,
 * coturn, a kind's own) lives in the topology's state directory, which goes
 * with it: keep it beside the attempt logs, appended per topology. */
static void keep_host_logs(const live_t *l, const char *logs_dir)
{
    const char *state = topology_state_dir(l->topology);
    g_autoptr(GDir) dir = g_dir_open(state, 0, NULL);
    const char *f;
    while (dir && (f = g_dir_read_name(dir))) {
        if (!g_str_has_suffix(f, ".log"))
            continue;
        g_autofree char *from = g_build_filename(state, f, NULL);
        g_autofree char *to = g_build_filename(logs_dir, f, NULL);
        g_autofree char *text = NULL;
        gsize len = 0;
        if (!g_file_get_contents(from, &text, &len, NULL) || len == 0)
            continue;
        FILE *out = fopen(to, "ae");
        if (out) {
            fwrite(text, 1, len, out);
            fclose(out);
        }
    }
}

static void live_down(live_t *l, const char *logs_dir)
{
    if (!l->prefix)
        return;
    if (logs_dir && l->topology)
        keep_host_logs(l, logs_dir);
    bool was_up = false;
    g_autoptr(GError) error = NULL;
    if (!topology_down(l->prefix, l->namespaces, 0, &was_up, &error))
        g_printerr("natlab run: removing %s: %s\n", l->prefix, error->message);
    topology_free(l->topology);
    g_free(l->prefix);
    g_strfreev(l->namespaces);
    *l = (live_t){ 0 };
}

static bool live_up(live_t *l, const run_spec_t *spec, const run_worker_env_t *env,
                    const topology_options_t *o, char **why)
{
    g_autoptr(GError) error = NULL;
    l->topology = topology_up(spec->scenario, o, &error);
    if (!l->topology) {
        if (!*env->interrupted)
            *why = g_strdup_printf("bringing the topology up: %s", error->message);
        return false;
    }
    const plan_t *plan = topology_plan(l->topology);
    l->prefix = g_strdup(plan->prefix);
    l->namespaces = plan_namespaces(plan);
    return !spec->start_server ||
           wait_server(spec, plan, topology_state_dir(l->topology), env, why);
}

static bool flush_nats(const live_t *l, char **why)
{
    const plan_t *plan = topology_plan(l->topology);
    for (guint i = 0; i < plan->nats->len; i++) {
        g_autofree char *path =
            plan_control_path(topology_state_dir(l->topology), plan_nat(plan, i));
        g_autofree char *reply = NULL;
        g_autoptr(GError) error = NULL;
        if (!run_control(path, "flush", &reply, &error) || strcmp(reply, "ok") != 0) {
            *why = g_strdup_printf("flushing NAT %s between attempts: %s", plan_nat(plan, i)->name,
                                   error ? error->message : reply);
            return false;
        }
    }
    return true;
}

int run_worker(run_spec_t *spec, const run_worker_env_t *env)
{
    const scenario_t *s = spec->scenario;
    g_autofree char *logs = g_build_filename(env->out_dir, "logs", s->name, NULL);
    g_autofree char *pcaps = g_build_filename(env->out_dir, "pcap", s->name, NULL);
    if (g_mkdir_with_parents(logs, 0755) < 0) {
        g_autofree char *why = g_strdup_printf("cannot create %s: %s", logs, g_strerror(errno));
        run_worker_report_error(env, why);
        return 1;
    }
    g_autofree char *kind_version = NULL;
    /* Per scenario, from its seed: a rerun gives the same TURN password. */
    g_autofree char *turn_password =
        g_strdup_printf("%016" G_GINT64_MODIFIER "x", run_spec_attempt_seed(s->seed, 0));
    if (spec->kind) {
        g_autofree char *missing = NULL;
        if (!run_kind_installed(spec->kind, &missing)) {
            run_worker_report_error(env, missing);
            return 1;
        }
        kind_version = run_kind_version(spec->kind);
    }
    prepare_server(spec, env, turn_password);
    topology_options_t o = {
        .run_id = env->run_id,
        .pcap_dir = s->pcap ? pcaps : NULL,
        .nat_exe = env->nat_exe,
        .interrupted = env->interrupted,
    };
    live_t live = { 0 };
    g_autofree char *why = NULL;
    int status = 0;
    for (unsigned k = 1; k <= spec->repeat && !*env->interrupted; k++) {
        bool fresh = k == 1 || spec->mutates;
        if (fresh && k > 1)
            live_down(&live, logs);
        if (fresh ? !live_up(&live, spec, env, &o, &why) : !flush_nats(&live, &why)) {
            status = 1;
            break;
        }
        const plan_t *plan = topology_plan(live.topology);
        char ip[ADDR_IP_STRLEN];
        g_autofree char *server = g_strdup_printf(
            "%s:%d", addr_ip_format(plan_host(plan, (unsigned)spec->server)->addrs[0], ip),
            RUN_SERVER_PORT);
        g_autofree char *log = g_strdup_printf("%s/attempt-%u.log", logs, k);
        run_attempt_env_t aenv = {
            .spec = spec,
            .plan = plan,
            .state_dir = topology_state_dir(live.topology),
            .agent_exe = env->agent_exe,
            .server = server,
            .log_path = log,
            .interrupted = env->interrupted,
            .turn_password = turn_password,
        };
        g_autoptr(result_t) r = run_attempt(&aenv, k, run_spec_attempt_seed(s->seed, k));
        if (!r)
            break;
        run_worker_fill_row(spec, r);
        if (kind_version)
            r->kind_version = g_strdup(kind_version);
        run_worker_report_row(env, r);
    }
    live_down(&live, logs);
    if (why)
        run_worker_report_error(env, why);
    return status;
}

int run_worker_sim(const run_spec_t *spec, const run_worker_env_t *env)
{
    g_autofree char *why = run_simworker_check(spec);
    if (why) {
        run_worker_report_error(env, why);
        return 1;
    }
    usec_t clock = 0;
    for (unsigned k = 1; k <= spec->repeat && !*env->interrupted; k++) {
        g_autoptr(result_t) r =
            run_simworker_attempt(spec, k, run_spec_attempt_seed(spec->scenario->seed, k), &clock);
        run_worker_fill_row(spec, r);
        run_worker_report_row(env, r);
    }
    return 0;
}
