#include "server_shell.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/duration.h"
#include "common/sockaddr.h"

#define RECEIVE_BUDGET 64        /* datagrams per wake-up, so no socket starves the others */
#define RECEIVE_BUFFER 65536     /* any UDP payload fits: nothing arrives truncated */
#define EXPIRE_PERIOD_S 1        /* reclaiming only: the core's expiry is exact without it */

typedef struct server_shell server_shell_t;

typedef struct socket_ctx {
    server_shell_t *sh;
    unsigned index;
} socket_ctx_t;

/* A protocol served on the shared sockets. `claims` picks the datagrams it
 * answers (NULL: all that are left); `handle` answers through shell_send().
 * Rendezvous and relay go before STUN, claiming the first byte of their own
 * protocol (agentmsg.h, RFC 7983's 192..255); STUN takes the rest and counts
 * what it cannot parse. */
typedef struct shell_protocol {
    const char *name;
    bool (*claims)(const uint8_t *data, size_t len);
    void (*handle)(server_shell_t *sh, unsigned socket, addr_endpoint_t from, const uint8_t *data,
                   size_t len, usec_t now);
} shell_protocol_t;

struct server_shell {
    const server_shell_options_t *opt;
    GMainLoop *loop;
    stun_server_t *stun;
    server_tcp_t *tcp; /* STUN and agentmsgs over TCP: connections are sockets from SERVER_TCP_FIRST_SOCKET */
    rendezvous_t *rendezvous;
    rendezvous_out_t *rendezvous_out; /* RENDEZVOUS_OUT_MAX, on the heap: 12 KB */
    guint expire_source;
    int fds[STUN_SOCKET_COUNT];
    guint sources[STUN_SOCKET_COUNT];
    socket_ctx_t ctx[STUN_SOCKET_COUNT];
    unsigned n_fds;
    guint signals[3];
    bool ran;
    uint8_t *in;
    uint64_t received, sent, send_errors;
};

/* The one send path of every core: a UDP socket, or a TCP connection
 * (framed there; server_tcp counts its own sends). */
static void shell_send(server_shell_t *sh, unsigned socket, addr_endpoint_t to, const uint8_t *data,
                       size_t len)
{
    if (socket >= SERVER_TCP_FIRST_SOCKET && len) {
        server_tcp_send(sh->tcp, socket, to, data, len);
        return;
    }
    if (socket >= sh->n_fds || len == 0)
        return;
    struct sockaddr_in sa = sockaddr_from_endpoint(to);
    if (sendto(sh->fds[socket], data, len, 0, (struct sockaddr *)&sa, sizeof sa) < 0)
        sh->send_errors++; /* a full queue or an ICMP error noted on the socket: UDP may lose it */
    else
        sh->sent++;
}

static void stun_handle(server_shell_t *sh, unsigned socket, addr_endpoint_t from,
                        const uint8_t *data, size_t len, usec_t now)
{
    uint8_t out[STUN_MAX_MESSAGE];
    stun_server_reply_t r = stun_server_handle(sh->stun, socket, from, data, len, out, sizeof out);
    shell_send(sh, r.socket, r.to, out, r.len);
}

static void rendezvous_shell_handle(server_shell_t *sh, unsigned socket, addr_endpoint_t from,
                                    const uint8_t *data, size_t len, usec_t now)
{
    unsigned n = rendezvous_handle(sh->rendezvous, socket, from, data, len, now, sh->rendezvous_out);
    for (unsigned i = 0; i < n; i++) {
        const rendezvous_out_t *o = &sh->rendezvous_out[i];
        shell_send(sh, o->socket, o->to, o->data, o->len);
    }
}

/* The agentmsgs of TCP connections: the same core, the connection's index
 * for a socket. */
static void tcp_agent_message(void *user, unsigned socket, addr_endpoint_t from, const uint8_t *msg,
                              size_t len)
{
    rendezvous_shell_handle(user, socket, from, msg, len, g_get_monotonic_time());
}

static void tcp_closed(void *user, unsigned socket)
{
    server_shell_t *sh = user;
    rendezvous_socket_closed(sh->rendezvous, socket);
}

static const shell_protocol_t protocols[] = {
    { "rendezvous", agentmsg_claims, rendezvous_shell_handle },
    { "stun", NULL, stun_handle },
};

static gboolean on_expire(gpointer user)
{
    server_shell_t *sh = user;
    rendezvous_expire(sh->rendezvous, g_get_monotonic_time());
    return G_SOURCE_CONTINUE;
}

static gboolean on_readable(gint fd, GIOCondition cond, gpointer user)
{
    socket_ctx_t *ctx = user;
    server_shell_t *sh = ctx->sh;
    for (int i = 0; i < RECEIVE_BUDGET; i++) {
        struct sockaddr_in sa;
        socklen_t sa_len = sizeof sa;
        ssize_t n = recvfrom(fd, sh->in, RECEIVE_BUFFER, MSG_DONTWAIT, (struct sockaddr *)&sa, &sa_len);
        if (n < 0) {
            /* EAGAIN: drained. ECONNREFUSED and friends: an ICMP error for an
             * earlier answer; the next datagram may be waiting. */
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            continue;
        }
        if (sa.sin_family != AF_INET)
            continue;
        sh->received++;
        addr_endpoint_t from = sockaddr_to_endpoint(&sa);
        usec_t now = g_get_monotonic_time();
        for (size_t p = 0; p < G_N_ELEMENTS(protocols); p++) {
            if (!protocols[p].claims || protocols[p].claims(sh->in, (size_t)n)) {
                protocols[p].handle(sh, ctx->index, from, sh->in, (size_t)n, now);
                break;
            }
        }
    }
    return G_SOURCE_CONTINUE;
}

static bool open_socket(server_shell_t *sh, unsigned index, GError **error)
{
    addr_endpoint_t ep = stun_server_socket_endpoint(sh->stun, index);
    char text[ADDR_ENDPOINT_STRLEN];
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "socket: %s", g_strerror(errno));
        return false;
    }
    /* No DF: a PADDING answer larger than the MTU is meant to travel in
     * fragments (RFC 5780 section 7.6). */
    int pmtu = IP_PMTUDISC_DONT;
    setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
    struct sockaddr_in sa = sockaddr_from_endpoint(ep);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int err = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                    "cannot listen on %s: %s%s", addr_endpoint_format(ep, text), g_strerror(err),
                    err == EADDRNOTAVAIL ? " (the address is not on this host)"
                    : err == EADDRINUSE  ? " (another server holds the port)"
                                         : "");
        close(fd);
        return false;
    }
    sh->fds[index] = fd;
    sh->n_fds = index + 1;
    sh->ctx[index] = (socket_ctx_t){ sh, index };
    sh->sources[index] = g_unix_fd_add(fd, G_IO_IN, on_readable, &sh->ctx[index]);
    return true;
}

static gboolean on_signal(gpointer user)
{
    server_shell_t *sh = user;
    g_main_loop_quit(sh->loop);
    return G_SOURCE_CONTINUE;
}

static void rendezvous_stats_json(GString *s, const rendezvous_t *r)
{
    const rendezvous_stats_t *st = rendezvous_stats(r);
    g_string_append_printf(s,
                           "  \"rendezvous\": {\n"
                           "    \"registrations\": %" G_GUINT64_FORMAT ",\n"
                           "    \"endpoint_changes\": %" G_GUINT64_FORMAT ",\n"
                           "    \"peer_updates\": %" G_GUINT64_FORMAT ",\n"
                           "    \"leaves\": %" G_GUINT64_FORMAT ",\n"
                           "    \"connects\": %" G_GUINT64_FORMAT ",\n"
                           "    \"sessions\": %" G_GUINT64_FORMAT ",\n"
                           "    \"relayed_packets\": %" G_GUINT64_FORMAT ",\n"
                           "    \"relayed_bytes\": %" G_GUINT64_FORMAT ",\n"
                           "    \"errors_sent\": %" G_GUINT64_FORMAT ",\n"
                           "    \"expired_registrations\": %" G_GUINT64_FORMAT ",\n"
                           "    \"expired_sessions\": %" G_GUINT64_FORMAT ",\n"
                           "    \"evicted_sessions\": %" G_GUINT64_FORMAT ",\n"
                           "    \"tcp_registrations\": %" G_GUINT64_FORMAT ",\n"
                           "    \"tcp_closed_detached\": %" G_GUINT64_FORMAT ",\n"
                           "    \"peer_repeats\": %" G_GUINT64_FORMAT ",\n"
                           "    \"active_registrations\": %u,\n"
                           "    \"active_tcp_clients\": %u,\n"
                           "    \"active_sessions\": %u,\n"
                           "    \"dropped\": {",
                           st->registrations, st->endpoint_changes, st->peer_updates, st->leaves, st->connects,
                           st->sessions, st->relayed_packets, st->relayed_bytes, st->errors_sent,
                           st->expired_registrations, st->expired_sessions, st->evicted_sessions,
                           st->stream_registrations, st->streams_closed, st->peer_repeats,
                           rendezvous_registration_count(r), rendezvous_stream_client_count(r),
                           rendezvous_session_count(r));
    for (int d = 0; d < RENDEZVOUS_DROP_COUNT; d++)
        g_string_append_printf(s, "%s\"%s\": %" G_GUINT64_FORMAT, d ? ", " : " ",
                               rendezvous_drop_name(d), st->dropped[d]);
    g_string_append(s, " }\n  },\n");
}

static char *stats_json(const server_shell_t *sh)
{
    const stun_server_stats_t *st = stun_server_stats(sh->stun);
    GString *s = g_string_new("{\n");
    rendezvous_stats_json(s, sh->rendezvous);
    g_string_append(s, "  \"stun\": {\n");
    g_string_append_printf(s,
                           "    \"requests\": %" G_GUINT64_FORMAT ",\n"
                           "    \"classic_requests\": %" G_GUINT64_FORMAT ",\n"
                           "    \"responses\": %" G_GUINT64_FORMAT ",\n"
                           "    \"errors_sent\": %" G_GUINT64_FORMAT ",\n"
                           "    \"dropped_not_request\": %" G_GUINT64_FORMAT ",\n"
                           "    \"dropped\": {",
                           st->requests, st->classic_requests, st->responses, st->errors_sent,
                           st->dropped_not_request);
    for (int e = STUN_OK + 1; e < STUN_ERROR_COUNT; e++)
        g_string_append_printf(s, "%s\"%s\": %" G_GUINT64_FORMAT, e > STUN_OK + 1 ? ", " : " ",
                               stun_error_name(e), st->dropped[e]);
    g_string_append_printf(s,
                           " },\n"
                           "    \"stream_requests\": %" G_GUINT64_FORMAT ",\n"
                           "    \"connect_backs\": %" G_GUINT64_FORMAT ",\n"
                           "    \"connect_back_refused\": %" G_GUINT64_FORMAT ",\n"
                           "    \"connect_back_outcomes\": {",
                           st->stream_requests, st->connect_backs, st->connect_back_refused);
    for (int o = STUN_CONNECT_NONE + 1; o < STUN_CONNECT_COUNT; o++)
        g_string_append_printf(s, "%s\"%s\": %" G_GUINT64_FORMAT, o > STUN_CONNECT_NONE + 1 ? ", " : " ",
                               stun_connect_outcome_name(o), st->connect_back_outcomes[o]);
    const server_tcp_stats_t *ts = server_tcp_stats(sh->tcp);
    g_string_append_printf(s,
                           " }\n  },\n"
                           "  \"tcp\": {\n"
                           "    \"accepted\": %" G_GUINT64_FORMAT ",\n"
                           "    \"refused_full\": %" G_GUINT64_FORMAT ",\n"
                           "    \"messages\": %" G_GUINT64_FORMAT ",\n"
                           "    \"sent\": %" G_GUINT64_FORMAT ",\n"
                           "    \"send_errors\": %" G_GUINT64_FORMAT ",\n"
                           "    \"closed_by_peer\": %" G_GUINT64_FORMAT ",\n"
                           "    \"closed_idle\": %" G_GUINT64_FORMAT ",\n"
                           "    \"closed_malformed\": %" G_GUINT64_FORMAT ",\n"
                           "    \"closed_oversized\": %" G_GUINT64_FORMAT ",\n"
                           "    \"closed_error\": %" G_GUINT64_FORMAT ",\n"
                           "    \"agent_messages\": %" G_GUINT64_FORMAT ",\n"
                           "    \"agent_sent\": %" G_GUINT64_FORMAT ",\n"
                           "    \"dropped_backlog\": %" G_GUINT64_FORMAT ",\n"
                           "    \"open\": %u,\n"
                           "    \"agent_connections\": %u,\n"
                           "    \"listeners\": [",
                           ts->accepted, ts->refused_full, ts->messages, ts->sent, ts->send_errors,
                           ts->closed_by_peer, ts->closed_idle, ts->closed_malformed,
                           ts->closed_oversized, ts->closed_error, ts->agent_messages, ts->agent_sent,
                           ts->dropped_backlog, ts->open, ts->agent_connections);
    addr_endpoint_t listeners[STUN_SOCKET_COUNT + SERVER_TCP_MAX_EXTRA_PORTS];
    unsigned n_listeners = server_tcp_listeners(sh->tcp, listeners, G_N_ELEMENTS(listeners));
    for (unsigned i = 0; i < n_listeners; i++) {
        char text[ADDR_ENDPOINT_STRLEN];
        g_string_append_printf(s, "%s\"%s\"", i ? ", " : "", addr_endpoint_format(listeners[i], text));
    }
    g_string_append(s, "]\n  },\n");
    g_string_append_printf(s,
                           "  \"datagrams_received\": %" G_GUINT64_FORMAT ",\n"
                           "  \"datagrams_sent\": %" G_GUINT64_FORMAT ",\n"
                           "  \"send_errors\": %" G_GUINT64_FORMAT "\n}\n",
                           sh->received, sh->sent, sh->send_errors);
    return g_string_free(s, FALSE);
}

static void print_summary(const server_shell_t *sh)
{
    const stun_server_stats_t *st = stun_server_stats(sh->stun);
    uint64_t malformed = 0;
    for (int e = STUN_OK + 1; e < STUN_ERROR_COUNT; e++)
        malformed += st->dropped[e];
    fprintf(stderr,
            "natlab server: %" G_GUINT64_FORMAT " datagrams, %" G_GUINT64_FORMAT
            " Binding requests (%" G_GUINT64_FORMAT " RFC 3489), %" G_GUINT64_FORMAT
            " answers (%" G_GUINT64_FORMAT " errors), dropped %" G_GUINT64_FORMAT
            " malformed and %" G_GUINT64_FORMAT " not requests, %" G_GUINT64_FORMAT " send errors\n",
            sh->received, st->requests, st->classic_requests, st->responses, st->errors_sent,
            malformed, st->dropped_not_request, sh->send_errors);
    const rendezvous_stats_t *rs = rendezvous_stats(sh->rendezvous);
    GString *drops = g_string_new(NULL);
    for (int d = 0; d < RENDEZVOUS_DROP_COUNT; d++)
        if (rs->dropped[d])
            g_string_append_printf(drops, " %s %" G_GUINT64_FORMAT, rendezvous_drop_name(d), rs->dropped[d]);
    fprintf(stderr,
            "natlab server: rendezvous: %" G_GUINT64_FORMAT " registrations (%" G_GUINT64_FORMAT
            " moved), %" G_GUINT64_FORMAT " sessions, %" G_GUINT64_FORMAT " relayed (%" G_GUINT64_FORMAT
            " bytes), %" G_GUINT64_FORMAT " errors sent, dropped:%s\n",
            rs->registrations, rs->endpoint_changes, rs->sessions, rs->relayed_packets,
            rs->relayed_bytes, rs->errors_sent, drops->len ? drops->str : " none");
    g_string_free(drops, TRUE);
    const server_tcp_stats_t *ts = server_tcp_stats(sh->tcp);
    fprintf(stderr,
            "natlab server: tcp: %" G_GUINT64_FORMAT " connections (%" G_GUINT64_FORMAT
            " refused: full), %" G_GUINT64_FORMAT " messages, %" G_GUINT64_FORMAT
            " connect-backs (%" G_GUINT64_FORMAT " refused), %" G_GUINT64_FORMAT " agent messages in, %"
            G_GUINT64_FORMAT " out (%" G_GUINT64_FORMAT " dropped: backlog), closed: %" G_GUINT64_FORMAT
            " malformed, %" G_GUINT64_FORMAT " oversized, %" G_GUINT64_FORMAT " idle\n",
            ts->accepted, ts->refused_full, ts->messages, st->connect_backs,
            st->connect_back_refused, ts->agent_messages, ts->agent_sent, ts->dropped_backlog,
            ts->closed_malformed, ts->closed_oversized, ts->closed_idle);
}

static void shell_cleanup(server_shell_t *sh)
{
    /* The counters, then the ready file gone (the sign that they are
     * written), while our signal sources still catch SIGTERM: removing the
     * last one restores SIG_DFL, and `natlab down` signals twice (the
     * group, then the pidfd), so under load a second SIGTERM used to kill
     * the server between the two, before it wrote its stats. From here on
     * the signals wait, blocked, until the exit. g_file_set_contents
     * writes a temporary file and renames it: readers see all or nothing. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    if (sh->ran && sh->tcp) {
        print_summary(sh);
        if (sh->opt->stats_out) {
            g_autofree char *text = stats_json(sh);
            g_autoptr(GError) error = NULL;
            if (!g_file_set_contents(sh->opt->stats_out, text, -1, &error))
                g_warning("stats: %s", error->message);
        }
    }
    if (sh->opt->ready_file)
        g_unlink(sh->opt->ready_file);
    for (unsigned i = 0; i < sh->n_fds; i++) {
        if (sh->sources[i])
            g_source_remove(sh->sources[i]);
        close(sh->fds[i]);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(sh->signals); i++)
        if (sh->signals[i])
            g_source_remove(sh->signals[i]);
    if (sh->expire_source)
        g_source_remove(sh->expire_source);
    server_tcp_free(sh->tcp);
    stun_server_free(sh->stun);
    rendezvous_free(sh->rendezvous);
    g_free(sh->rendezvous_out);
    g_free(sh->in);
    if (sh->loop)
        g_main_loop_unref(sh->loop);
}

static bool shell_setup(server_shell_t *sh, GError **error)
{
    const server_shell_options_t *o = sh->opt;
    sh->stun = stun_server_new(&o->stun);
    if (!sh->stun) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "the two addresses and the two ports must differ, and none may be 0");
        return false;
    }
    /* Session ids and keys must not be guessable: seed from the kernel. */
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = (uint64_t)g_random_int() << 32 | g_random_int(); /* GLib reads /dev/urandom too */
    rendezvous_config_t rc = o->rendezvous;
    rc.first_stream_socket = SERVER_TCP_FIRST_SOCKET;
    sh->rendezvous = rendezvous_new(&rc, seed);
    sh->rendezvous_out = g_new(rendezvous_out_t, RENDEZVOUS_OUT_MAX);
    /* Signals first: a SIGTERM during set-up still ends in the cleanup path. */
    sh->loop = g_main_loop_new(NULL, FALSE);
    sh->signals[0] = g_unix_signal_add(SIGINT, on_signal, sh);
    sh->signals[1] = g_unix_signal_add(SIGTERM, on_signal, sh);
    sh->signals[2] = g_unix_signal_add(SIGHUP, on_signal, sh);
    sh->in = g_malloc(RECEIVE_BUFFER);
    GString *where = g_string_new(NULL);
    for (unsigned i = 0; i < stun_server_socket_count(sh->stun); i++) {
        if (!open_socket(sh, i, error)) {
            g_string_free(where, TRUE);
            return false;
        }
        char text[ADDR_ENDPOINT_STRLEN];
        g_string_append_printf(where, " %s", addr_endpoint_format(stun_server_socket_endpoint(sh->stun, i), text));
    }
    server_tcp_agent_t hooks = { tcp_agent_message, tcp_closed, sh };
    sh->tcp = server_tcp_new(sh->stun, o->tcp_ports, o->n_tcp_ports, &hooks, error);
    if (!sh->tcp) {
        g_string_free(where, TRUE);
        return false;
    }
    addr_endpoint_t listeners[STUN_SOCKET_COUNT + SERVER_TCP_MAX_EXTRA_PORTS];
    unsigned n_listeners = server_tcp_listeners(sh->tcp, listeners, G_N_ELEMENTS(listeners));
    g_string_append(where, "; TCP");
    for (unsigned i = 0; i < n_listeners; i++) {
        char text[ADDR_ENDPOINT_STRLEN];
        g_string_append_printf(where, " %s", addr_endpoint_format(listeners[i], text));
    }
    fprintf(stderr, "natlab server: STUN (RFC 8489 over UDP and TCP, RFC 5780, RFC 3489 clients), rendezvous and relay (%s) on%s\n",
            o->rendezvous.secret_len ? "with a secret" : "no secret", where->str);
    sh->expire_source = g_timeout_add_seconds(EXPIRE_PERIOD_S, on_expire, sh);
    g_string_free(where, TRUE);
    if (o->ready_file) {
        g_autofree char *pid = g_strdup_printf("%d\n", (int)getpid());
        if (!g_file_set_contents(o->ready_file, pid, -1, error))
            return false;
    }
    return true;
}

int server_shell_run(const server_shell_options_t *options, GError **error)
{
    server_shell_t sh = { .opt = options };
    int status = 1;
    if (shell_setup(&sh, error)) {
        g_main_loop_run(sh.loop);
        sh.ran = true;
        status = 0;
    }
    shell_cleanup(&sh);
    return status;
}
