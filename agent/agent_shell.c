#define G_LOG_DOMAIN "agent"
#include "agent_shell.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <ifaddrs.h>
#include <json-glib/json-glib.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netcheck_shell.h"

#define SOCKETS_MAX (PUNCH_SOCKET_BIRTHDAY + 1024)
#define RECEIVE_BUDGET 64

typedef struct agent_shell agent_shell_t;

typedef struct socket_ctx {
    agent_shell_t *sh;
    unsigned index;
} socket_ctx_t;

struct agent_shell {
    const agent_shell_options_t *opt;
    punch_t *core;
    GMainLoop *loop;
    GSource *timer;
    int fds[SOCKETS_MAX];
    guint sources[SOCKETS_MAX];
    socket_ctx_t ctx[SOCKETS_MAX];
    unsigned n_fds;
    guint signals[3];
    usec_t started, last_send, deadline;
    unsigned sent;
    bool session_seen, closing, finished;
    int status;
    const char *failure;
    uint64_t send_errors;
};

static usec_t now_usec(void)
{
    return g_get_monotonic_time();
}

static struct sockaddr_in to_sockaddr(addr_endpoint_t ep)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_addr.s_addr = htonl(ep.ip);
    sa.sin_port = htons(ep.port);
    return sa;
}

static char *endpoint_text(addr_endpoint_t ep)
{
    char buf[ADDR_ENDPOINT_STRLEN];
    return g_strdup(addr_endpoint_format(ep, buf));
}

/* ---- events ---- */

static void emit(agent_shell_t *sh, JsonBuilder *b)
{
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_root(gen, root);
    g_autofree char *text = json_generator_to_data(gen, NULL);
    if (sh->opt->json) {
        printf("%s\n", text);
    } else {
        /* A readable line: the same fields, without the braces. */
        JsonObject *o = json_node_get_object(root);
        GString *line = g_string_new(NULL);
        g_autoptr(GList) members = json_object_get_members(o);
        for (GList *m = members; m; m = m->next) {
            JsonNode *v = json_object_get_member(o, m->data);
            if (JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_STRING)
                g_string_append_printf(line, "%s%s=%s", line->len ? " " : "", (char *)m->data,
                                       json_node_get_string(v));
            else {
                g_autoptr(JsonGenerator) g = json_generator_new();
                json_generator_set_root(g, v);
                g_autofree char *t = json_generator_to_data(g, NULL);
                g_string_append_printf(line, "%s%s=%s", line->len ? " " : "", (char *)m->data, t);
            }
        }
        printf("%s\n", line->str);
        g_string_free(line, TRUE);
    }
    fflush(stdout);
}

static JsonBuilder *event_begin(agent_shell_t *sh, const char *name, usec_t at)
{
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "t_ms");
    json_builder_add_double_value(b, (double)(at - sh->started) / 1000.0);
    json_builder_set_member_name(b, "event");
    json_builder_add_string_value(b, name);
    return b;
}

static void add_string(JsonBuilder *b, const char *key, const char *value)
{
    json_builder_set_member_name(b, key);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static void add_endpoint(JsonBuilder *b, const char *key, addr_endpoint_t ep)
{
    g_autofree char *t = endpoint_text(ep);
    add_string(b, key, t);
}

static void add_ms(JsonBuilder *b, const char *key, usec_t us, bool present)
{
    json_builder_set_member_name(b, key);
    if (present)
        json_builder_add_double_value(b, (double)us / 1000.0);
    else
        json_builder_add_null_value(b);
}

static void add_int(JsonBuilder *b, const char *key, int64_t v)
{
    json_builder_set_member_name(b, key);
    json_builder_add_int_value(b, v);
}

static const char *allocation_name(uint8_t mapping)
{
    switch (mapping) {
    case AGENTMSG_MAPPING_INDEPENDENT: return "preserve-or-any";
    case AGENTMSG_MAPPING_SEQUENTIAL: return "sequential";
    case AGENTMSG_MAPPING_RANDOM: return "random";
    default: return "unknown";
    }
}

static void emit_event(agent_shell_t *sh, const punch_event_t *e)
{
    g_autoptr(JsonBuilder) b = event_begin(sh, punch_event_name(e->kind), e->at);
    switch (e->kind) {
    case PUNCH_EVENT_REGISTERED:
        add_string(b, "name", sh->opt->punch.name);
        add_endpoint(b, "mapped", e->local);
        add_string(b, "mapping",
                   e->nat.mapping == AGENTMSG_MAPPING_INDEPENDENT ? "endpoint-independent"
                   : e->nat.mapping == AGENTMSG_MAPPING_UNKNOWN   ? "unknown"
                                                                  : "endpoint-dependent");
        add_string(b, "allocation", allocation_name(e->nat.mapping));
        add_int(b, "step", e->nat.step);
        break;
    case PUNCH_EVENT_SESSION:
        add_string(b, "peer", e->peer);
        add_string(b, "role", e->controlling ? "controlling" : "controlled");
        json_builder_set_member_name(b, "candidates");
        json_builder_begin_array(b);
        for (unsigned i = 0; i < e->n_candidates; i++) {
            const agentmsg_candidate_t *c = &e->candidates[i];
            json_builder_begin_object(b);
            add_string(b, "type", c->type == AGENTMSG_CANDIDATE_HOST      ? "host"
                                  : c->type == AGENTMSG_CANDIDATE_PORTMAP ? "port-mapped"
                                                                          : "srflx");
            add_endpoint(b, "address", c->endpoint);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        break;
    case PUNCH_EVENT_FIRST_BYTE:
        add_string(b, "path", punch_path_name(e->path));
        add_ms(b, "rtt_ms", e->rtt, true);
        break;
    case PUNCH_EVENT_DIRECT:
        add_string(b, "path", punch_path_name(e->path));
        add_string(b, "technique", agentmsg_technique_name(e->technique));
        add_int(b, "socket", e->local.port);
        add_endpoint(b, "remote", e->remote);
        add_ms(b, "rtt_ms", e->rtt, true);
        break;
    case PUNCH_EVENT_PATH_CHANGED:
        add_string(b, "from", punch_path_name(e->from));
        add_string(b, "to", punch_path_name(e->path));
        add_string(b, "technique", agentmsg_technique_name(e->technique));
        add_endpoint(b, "remote", e->remote);
        add_string(b, "reason", e->reason);
        break;
    case PUNCH_EVENT_RELAY_FALLBACK:
    case PUNCH_EVENT_PUNCH_GAVE_UP:
    case PUNCH_EVENT_FAILED:
        add_string(b, "reason", e->reason);
        break;
    case PUNCH_EVENT_BIRTHDAY:
        add_int(b, "sockets", e->sockets);
        add_int(b, "probes", e->probes);
        add_int(b, "range", PUNCH_BIRTHDAY_RANGE);
        json_builder_set_member_name(b, "expected_p");
        json_builder_add_double_value(b, e->expected_p);
        break;
    case PUNCH_EVENT_PORT_MAPPING:
        add_string(b, "protocol", e->pcp ? "pcp" : "nat-pmp");
        add_endpoint(b, "external", e->remote);
        add_int(b, "lifetime_s", e->lifetime_s);
        add_int(b, "epoch", e->epoch);
        if (e->reason)
            add_string(b, "reason", e->reason);
        break;
    case PUNCH_EVENT_KEEPALIVE:
        add_ms(b, "keepalive_ms", e->keepalive, true);
        add_string(b, "reason", "our mapping changed between two refreshes");
        break;
    }
    emit(sh, b);
}

static void emit_done(agent_shell_t *sh, usec_t now)
{
    const punch_stats_t *st = punch_stats(sh->core);
    g_autoptr(JsonBuilder) b = event_begin(sh, "done", now);
    add_int(b, "sent", sh->sent);
    add_int(b, "delivered", (int64_t)st->delivered);
    add_int(b, "echoed", (int64_t)st->echoed);
    add_int(b, "probes_sent", (int64_t)st->probes_sent);
    add_int(b, "path_changes", (int64_t)st->path_changes);
    add_int(b, "fallbacks", (int64_t)st->fallbacks);
    add_string(b, "path", punch_path_name(punch_path(sh->core)));
    add_string(b, "technique", agentmsg_technique_name(punch_technique(sh->core)));
    usec_t ttfb = punch_time_to_first_byte(sh->core), ttd = punch_time_to_direct(sh->core);
    add_ms(b, "time_to_first_byte_ms", ttfb, ttfb > 0);
    add_ms(b, "time_to_direct_ms", ttd, ttd > 0);
    json_builder_set_member_name(b, "dropped");
    json_builder_begin_object(b);
    for (unsigned i = 0; i < PUNCH_DROP_COUNT; i++)
        add_int(b, punch_drop_name(i), (int64_t)st->dropped[i]);
    json_builder_end_object(b);
    add_int(b, "send_errors", (int64_t)sh->send_errors);
    if (sh->failure)
        add_string(b, "failure", sh->failure);
    emit(sh, b);
}

/* ---- sockets ---- */

static gboolean on_readable(int fd, GIOCondition cond, gpointer data);
static void run_core(agent_shell_t *sh, usec_t now);

static int socket_open(agent_shell_t *sh, uint16_t port, bool reuse, GError **error)
{
    if (sh->n_fds >= SOCKETS_MAX) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES, "too many sockets");
        return -1;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "socket: %s", g_strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
    if (reuse)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = to_sockaddr(addr_endpoint(0, port));
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "bind to port %u: %s", port,
                    g_strerror(errno));
        close(fd);
        return -1;
    }
    unsigned i = sh->n_fds++;
    sh->fds[i] = fd;
    sh->ctx[i] = (socket_ctx_t){ sh, i };
    sh->sources[i] = g_unix_fd_add(fd, G_IO_IN, on_readable, &sh->ctx[i]);
    return (int)i;
}

static void flush_outputs(agent_shell_t *sh, usec_t now)
{
    punch_output_t *o = g_new(punch_output_t, 1);
    while (punch_pop_output(sh->core, o)) {
        switch (o->kind) {
        case PUNCH_OUT_SEND: {
            if (o->socket >= sh->n_fds || sh->fds[o->socket] < 0)
                break;
            struct sockaddr_in sa = to_sockaddr(o->to);
            if (sendto(sh->fds[o->socket], o->data, o->len, 0, (struct sockaddr *)&sa, sizeof sa) < 0)
                sh->send_errors++; /* a full queue or a remembered ICMP error: UDP may lose it */
            break;
        }
        case PUNCH_OUT_OPEN_SOCKETS:
            while (sh->n_fds < PUNCH_SOCKET_BIRTHDAY + o->count) {
                g_autoptr(GError) err = NULL;
                if (socket_open(sh, 0, false, &err) < 0) {
                    g_warning("birthday socket: %s", err->message);
                    break;
                }
            }
            break;
        case PUNCH_OUT_EVENT:
            emit_event(sh, &o->event);
            if (o->event.kind == PUNCH_EVENT_FAILED)
                sh->failure = o->event.reason;
            break;
        case PUNCH_OUT_DELIVER:
            break;
        }
    }
    g_free(o);
    (void)now;
}

/* ---- the application ---- */

static void finish(agent_shell_t *sh, int status, usec_t now)
{
    if (sh->finished)
        return;
    sh->finished = true;
    sh->status = status;
    punch_close(sh->core, now);
    flush_outputs(sh, now);
    emit_done(sh, now);
    g_main_loop_quit(sh->loop);
}

static void application(agent_shell_t *sh, usec_t now)
{
    const agent_shell_options_t *o = sh->opt;
    if (punch_failed(sh->core)) {
        finish(sh, 1, now);
        return;
    }
    if (sh->deadline && now >= sh->deadline) {
        sh->failure = "timed out";
        g_autoptr(JsonBuilder) b = event_begin(sh, "failed", now);
        add_string(b, "reason", punch_has_session(sh->core) ? "timed out before every message was delivered"
                                                            : "timed out without a session");
        emit(sh, b);
        finish(sh, 1, now);
        return;
    }
    if (!punch_has_session(sh->core))
        return;
    if (!o->punch.peer) {
        if (o->once && punch_peer_left(sh->core))
            finish(sh, 0, now);
        return;
    }
    while (sh->sent < o->send && (sh->sent == 0 || now - sh->last_send >= o->interval)) {
        char msg[64];
        int n = g_snprintf(msg, sizeof msg, "natlab %s #%u", o->punch.name, sh->sent + 1);
        if (!punch_send(sh->core, (const uint8_t *)msg, (size_t)n, now))
            break;
        sh->sent++;
        sh->last_send = sh->sent == 1 ? now : sh->last_send + o->interval;
    }
    /* Within --hold, keep data flowing so a path that dies is noticed. */
    if (sh->sent >= o->send && o->hold && now - sh->started < o->hold &&
        now - sh->last_send >= o->interval) {
        char msg[64];
        int n = g_snprintf(msg, sizeof msg, "natlab %s #%u", o->punch.name, sh->sent + 1);
        if (punch_send(sh->core, (const uint8_t *)msg, (size_t)n, now)) {
            sh->sent++;
            sh->last_send = now;
        }
    }
    const punch_stats_t *st = punch_stats(sh->core);
    if (sh->sent >= o->send && punch_all_delivered(sh->core) && st->echoed >= sh->sent &&
        punch_settled(sh->core) && now - sh->started >= o->hold)
        finish(sh, 0, now);
}

static usec_t app_deadline(agent_shell_t *sh, usec_t now)
{
    const agent_shell_options_t *o = sh->opt;
    usec_t next = sh->deadline;
    if (o->punch.peer && punch_has_session(sh->core)) {
        usec_t t = sh->sent < o->send || (o->hold && now - sh->started < o->hold)
                       ? sh->last_send + o->interval
                       : 0;
        if (o->hold && now - sh->started < o->hold)
            t = t ? MIN(t, sh->started + o->hold) : sh->started + o->hold;
        if (t)
            next = next ? MIN(next, t) : t;
    }
    return next;
}

static void run_core(agent_shell_t *sh, usec_t now)
{
    usec_t next = punch_bookkeeping(sh->core, now);
    flush_outputs(sh, now);
    application(sh, now);
    flush_outputs(sh, now);
    if (sh->finished)
        return;
    /* Bookkeeping may have queued what the application needs next. */
    usec_t app = app_deadline(sh, now);
    if (app)
        next = next ? MIN(next, app) : app;
    if (!next)
        next = now + USEC_PER_SEC;
    g_source_set_ready_time(sh->timer, MAX(next, now + 1));
}

static gboolean on_readable(int fd, GIOCondition cond, gpointer data)
{
    socket_ctx_t *ctx = data;
    agent_shell_t *sh = ctx->sh;
    uint8_t buf[65536];
    for (unsigned i = 0; i < RECEIVE_BUDGET; i++) {
        struct sockaddr_in sa;
        socklen_t sl = sizeof sa;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&sa, &sl);
        if (n < 0)
            break; /* EAGAIN, or an ICMP error reported on the socket: nothing to read */
        addr_endpoint_t from = addr_endpoint(ntohl(sa.sin_addr.s_addr), ntohs(sa.sin_port));
        punch_receive(sh->core, ctx->index, from, buf, (size_t)n, now_usec());
    }
    if (!sh->finished)
        run_core(sh, now_usec());
    return G_SOURCE_CONTINUE;
}

static gboolean timer_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    agent_shell_t *sh = data;
    g_source_set_ready_time(source, -1);
    if (!sh->finished)
        run_core(sh, now_usec());
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs timer_funcs = { .dispatch = timer_dispatch };

static gboolean on_signal(gpointer data)
{
    agent_shell_t *sh = data;
    finish(sh, sh->opt->punch.peer ? 1 : 0, now_usec());
    return G_SOURCE_CONTINUE;
}

/* The address the kernel would send to `to` from, and that interface's
 * broadcast address: connect() on a UDP socket only looks the route up. */
static bool local_route(addr_endpoint_t to, uint32_t *local, uint32_t *broadcast)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = to_sockaddr(to);
    socklen_t sl = sizeof sa;
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
              getsockname(fd, (struct sockaddr *)&sa, &sl) == 0;
    close(fd);
    if (!ok)
        return false;
    *local = ntohl(sa.sin_addr.s_addr);
    *broadcast = 0;
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) == 0) {
        for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_BROADCAST) ||
                !i->ifa_broadaddr)
                continue;
            if (ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr) == *local)
                *broadcast = ntohl(((struct sockaddr_in *)i->ifa_broadaddr)->sin_addr.s_addr);
        }
        freeifaddrs(ifs);
    }
    return true;
}

int agent_shell_run(const agent_shell_options_t *options, GError **error)
{
    agent_shell_t *sh = g_new0(agent_shell_t, 1);
    sh->opt = options;
    for (unsigned i = 0; i < SOCKETS_MAX; i++)
        sh->fds[i] = -1;
    int ret = -1;
    punch_config_t cfg = options->punch;
    uint32_t local = 0, bcast = 0;
    if (!local_route(cfg.server, &local, &bcast)) {
        char buf[ADDR_ENDPOINT_STRLEN];
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE,
                    "no route to the server %s", addr_endpoint_format(cfg.server, buf));
        goto out;
    }
    if (socket_open(sh, 0, false, error) != PUNCH_SOCKET_PRIMARY)
        goto out;
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(sh->fds[0], (struct sockaddr *)&sa, &sl);
    cfg.local = addr_endpoint(local, ntohs(sa.sin_port));
    if (cfg.broadcast) {
        g_autoptr(GError) err = NULL;
        if (socket_open(sh, PUNCH_DISCOVERY_PORT, true, &err) != PUNCH_SOCKET_DISCOVERY) {
            g_warning("LAN discovery off: %s", err->message);
            cfg.broadcast = false;
        }
        cfg.broadcast_address = bcast;
    }
    if (sh->n_fds == PUNCH_SOCKET_DISCOVERY) { /* keep the numbering: a closed placeholder */
        sh->fds[sh->n_fds++] = -1;
    }
    if (cfg.portmap && !cfg.gateway)
        cfg.gateway = netcheck_shell_default_gateway("/proc/net/route");
    sh->loop = g_main_loop_new(NULL, FALSE);
    sh->timer = g_source_new(&timer_funcs, sizeof(GSource));
    g_source_set_callback(sh->timer, NULL, sh, NULL);
    g_source_attach(sh->timer, NULL);
    sh->signals[0] = g_unix_signal_add(SIGINT, on_signal, sh);
    sh->signals[1] = g_unix_signal_add(SIGTERM, on_signal, sh);
    sh->signals[2] = g_unix_signal_add(SIGHUP, on_signal, sh);
    sh->started = now_usec();
    if (options->timeout)
        sh->deadline = sh->started + options->timeout;
    sh->core = punch_new(&cfg, sh->started);
    if (!sh->core) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "bad agent configuration");
        goto out;
    }
    run_core(sh, sh->started);
    if (!sh->finished)
        g_main_loop_run(sh->loop);
    ret = sh->status;
out:
    for (unsigned i = 0; i < sh->n_fds; i++) {
        if (sh->sources[i])
            g_source_remove(sh->sources[i]);
        if (sh->fds[i] >= 0)
            close(sh->fds[i]);
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(sh->signals); i++)
        if (sh->signals[i])
            g_source_remove(sh->signals[i]);
    if (sh->timer) {
        g_source_destroy(sh->timer);
        g_source_unref(sh->timer);
    }
    if (sh->loop)
        g_main_loop_unref(sh->loop);
    punch_free(sh->core);
    g_free(sh);
    return ret;
}
