#define G_LOG_DOMAIN "agent"
#include "agent_shell.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <ifaddrs.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "common/clock.h"
#include "common/jsontidy.h"
#include "common/route.h"
#include "common/sockaddr.h"
#include "common/sockerr.h"
#include "tcpsock.h"


#define SOCKETS_MAX (PUNCH_SOCKET_BIRTHDAY + 1024)
#define RECEIVE_BUDGET 64
#define HTTP_TIMEOUT (3 * USEC_PER_SEC)      /* the core gives up after 2 s; this frees the socket */
#define HTTP_RESPONSE_MAX 65536
#define HTTP_LAST_WORD_MS 300                /* DeletePortMapping on the way out */
#define TURN_BACKLOG_MAX (256 * 1024)        /* TCP bytes the TURN server has not taken yet */

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
    GList *http;          /* http_t: UPnP exchanges with the gateway */
    int status;
    const char *failure;
    uint64_t send_errors;
    /* TURN: a connected UDP socket or a TCP stream of its own (not the
     * primary socket: a sequential NAT's ports and the punching's
     * classification stay as without TURN); -1: none */
    int turn_fd;
    guint turn_in, turn_out;
    bool turn_connected;  /* TCP: the handshake completed */
    GByteArray *turn_backlog; /* TCP: bytes not yet taken by the kernel */
    char *turn_broken;    /* why the connection is gone, for the core (after the flush) */
    unsigned turn_conn;   /* the core's number for this connection (0: not yet known) */
    /* natlab server over TCP, when the core asks (PUNCH_OUT_STREAM_CONNECT); -1: none */
    int srv_fd;
    guint srv_in, srv_out;
    bool srv_connected;
    GByteArray *srv_backlog;  /* bytes not yet taken by the kernel */
    char *srv_broken;         /* why it failed, for the core (after the flush) */
    tcpsock_t *tcp;           /* TCP punching's listener and connections; NULL: off */
};

/* ---- events ---- */

/* One event line: JSON (common/jsontidy.h; times with 3 decimals, as the
 * agent has always printed them) or "event key=value ...". */
typedef struct line {
    GString *text;     /* the readable line; NULL for JSON */
    JsonBuilder *json; /* NULL for the readable line */
} line_t;

static const jsontidy_fixed_t event_decimals[] = {
    { "t_ms", 3 },
    { "rtt_ms", 3 },
    { "keepalive_ms", 3 },
    { "time_to_first_byte_ms", 3 },
    { "time_to_direct_ms", 3 },
    { "expected_p", 4 },
    { NULL, 0 },
};

static void line_key(line_t *l, const char *key)
{
    g_string_append_printf(l->text, " %s=", key);
}

static void add_string(line_t *l, const char *key, const char *value)
{
    if (l->json) {
        jsontidy_add_string(l->json, key, value);
        return;
    }
    line_key(l, key);
    g_string_append(l->text, value ? value : "null");
}

static void add_int(line_t *l, const char *key, int64_t v)
{
    if (l->json) {
        jsontidy_add_int(l->json, key, v);
        return;
    }
    line_key(l, key);
    g_string_append_printf(l->text, "%" G_GINT64_FORMAT, v);
}

/* A number; in JSON with event_decimals' digits for its key. */
static void add_fixed(line_t *l, const char *key, const char *format, double v)
{
    if (l->json) {
        jsontidy_add_double(l->json, key, v);
        return;
    }
    line_key(l, key);
    g_string_append_printf(l->text, format, v);
}

static void add_ms(line_t *l, const char *key, usec_t us, bool present)
{
    if (present)
        add_fixed(l, key, "%.3f", (double)us / 1000.0);
    else if (l->json)
        jsontidy_add_double(l->json, key, NAN);
    else
        add_string(l, key, NULL);
}

static void add_endpoint(line_t *l, const char *key, addr_endpoint_t ep)
{
    char buf[ADDR_ENDPOINT_STRLEN];
    add_string(l, key, addr_endpoint_format(ep, buf));
}

static line_t event_begin(agent_shell_t *sh, const char *name, usec_t at)
{
    line_t l = { NULL, NULL };
    double t_ms = (double)(at - sh->started) / 1000.0;
    if (sh->opt->json) {
        l.json = json_builder_new();
        json_builder_begin_object(l.json);
        jsontidy_add_double(l.json, "t_ms", t_ms);
        jsontidy_add_string(l.json, "event", name);
    } else {
        l.text = g_string_new(NULL);
        g_string_append_printf(l.text, "%10.3f %s", t_ms, name);
    }
    return l;
}

static void emit(line_t *l)
{
    if (l->json) {
        json_builder_end_object(l->json);
        g_autoptr(JsonNode) root = json_builder_get_root(l->json);
        g_autofree char *text = jsontidy_line(root, event_decimals);
        printf("%s\n", text);
        g_object_unref(l->json);
    } else {
        printf("%s\n", l->text->str);
        g_string_free(l->text, TRUE);
    }
    fflush(stdout);
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
    line_t l = event_begin(sh, punch_event_name(e->kind), e->at);
    line_t *b = &l;
    switch (e->kind) {
    case PUNCH_EVENT_REGISTERED:
        add_string(b, "name", sh->opt->punch.name);
        add_endpoint(b, "mapped", e->local);
        add_string(b, "mapping",
                   e->nat.mapping == AGENTMSG_MAPPING_INDEPENDENT ? "endpoint-independent"
                   : e->nat.mapping == AGENTMSG_MAPPING_UNKNOWN ||
                           e->nat.mapping == AGENTMSG_MAPPING_NO_UDP ? "unknown"
                                                                  : "endpoint-dependent");
        add_string(b, "allocation", allocation_name(e->nat.mapping));
        add_int(b, "step", e->nat.step);
        if (e->tcp)
            add_string(b, "transport", "tcp");
        break;
    case PUNCH_EVENT_TRANSPORT:
        add_string(b, "transport", e->tcp ? "tcp" : "udp");
        add_endpoint(b, "server", e->remote);
        add_string(b, "reason", e->reason);
        break;
    case PUNCH_EVENT_SESSION:
        add_string(b, "peer", e->peer);
        add_string(b, "role", e->controlling ? "controlling" : "controlled");
        if (b->json) {
            json_builder_set_member_name(b->json, "candidates");
            json_builder_begin_array(b->json);
        } else {
            line_key(b, "candidates");
        }
        for (unsigned i = 0; i < e->n_candidates; i++) {
            const agentmsg_candidate_t *c = &e->candidates[i];
            const char *type = c->type == AGENTMSG_CANDIDATE_HOST      ? "host"
                               : c->type == AGENTMSG_CANDIDATE_PORTMAP ? "port-mapped"
                               : c->type == AGENTMSG_CANDIDATE_RELAY   ? "relay"
                                                                       : "srflx";
            char buf[ADDR_ENDPOINT_STRLEN];
            addr_endpoint_format(c->endpoint, buf);
            if (b->json) {
                json_builder_begin_object(b->json);
                jsontidy_add_string(b->json, "type", type);
                jsontidy_add_string(b->json, "address", buf);
                json_builder_end_object(b->json);
            } else {
                g_string_append_printf(b->text, "%s%s:%s", i ? "," : "", type, buf);
            }
        }
        if (b->json)
            json_builder_end_array(b->json);
        break;
    case PUNCH_EVENT_FIRST_BYTE:
        add_string(b, "path", punch_path_name(e->path));
        add_ms(b, "rtt_ms", e->rtt, true);
        if (punch_turn_configured(sh->core) && e->path == PUNCH_PATH_RELAY)
            add_string(b, "relay", e->turn ? "turn" : "natlab");
        break;
    case PUNCH_EVENT_DIRECT:
        add_string(b, "path", punch_path_name(e->path));
        add_string(b, "technique", agentmsg_technique_name(e->technique));
        add_int(b, "socket", e->local.port);
        if (e->tcp)
            add_string(b, "transport", "tcp"); /* socket: the TCP port */
        add_endpoint(b, "remote", e->remote);
        add_ms(b, "rtt_ms", e->rtt, true);
        break;
    case PUNCH_EVENT_PATH_CHANGED:
        add_string(b, "from", punch_path_name(e->from));
        add_string(b, "to", punch_path_name(e->path));
        add_string(b, "technique", agentmsg_technique_name(e->technique));
        add_endpoint(b, "remote", e->remote);
        add_string(b, "reason", e->reason);
        if (punch_turn_configured(sh->core) &&
            (e->path == PUNCH_PATH_RELAY || e->from == PUNCH_PATH_RELAY))
            add_string(b, "relay", e->turn ? "turn" : "natlab");
        break;
    case PUNCH_EVENT_TURN_ALLOCATED:
        add_string(b, "transport", sh->opt->punch.turn_tcp ? "tcp" : "udp");
        add_endpoint(b, "server", punch_turn_server(sh->core, NULL));
        add_endpoint(b, "relayed", e->remote);
        add_endpoint(b, "mapped", e->local);
        if (e->reason) /* allocated again */
            add_string(b, "reason", e->reason);
        break;
    case PUNCH_EVENT_TURN_FAILED:
        add_string(b, "transport", sh->opt->punch.turn_tcp ? "tcp" : "udp");
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
        add_fixed(b, "expected_p", "%.4f", e->expected_p);
        break;
    case PUNCH_EVENT_PORT_MAPPING:
        add_string(b, "protocol", e->upnp ? "upnp" : e->pcp ? "pcp" : "nat-pmp");
        add_endpoint(b, "external", e->remote);
        add_int(b, "lifetime_s", e->lifetime_s);
        if (!e->upnp)
            add_int(b, "epoch", e->epoch); /* UPnP has none */
        if (e->reason)
            add_string(b, "reason", e->reason);
        break;
    case PUNCH_EVENT_KEEPALIVE:
        add_ms(b, "keepalive_ms", e->keepalive, true);
        add_string(b, "reason", "our mapping changed between two refreshes");
        break;
    case PUNCH_EVENT_TCP_PUNCH:
        if (e->attempt)
            add_int(b, "attempt", e->attempt);
        else
            add_string(b, "result", "failed");
        if (e->remote.port)
            add_endpoint(b, "remote", e->remote);
        if (e->attempt && e->lead)
            add_ms(b, "lead_ms", e->lead, true);
        add_string(b, "reason", e->reason);
        break;
    }
    emit(b);
}

static void emit_done(agent_shell_t *sh, usec_t now)
{
    const punch_stats_t *st = punch_stats(sh->core);
    line_t l = event_begin(sh, "done", now);
    line_t *b = &l;
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
    if (b->json) {
        json_builder_set_member_name(b->json, "dropped");
        json_builder_begin_object(b->json);
    } else {
        line_key(b, "dropped");
    }
    for (unsigned i = 0; i < PUNCH_DROP_COUNT; i++) {
        if (b->json)
            jsontidy_add_int(b->json, punch_drop_name(i), (int64_t)st->dropped[i]);
        else
            g_string_append_printf(b->text, "%s%s:%" G_GUINT64_FORMAT, i ? "," : "",
                                   punch_drop_name(i), st->dropped[i]);
    }
    if (b->json)
        json_builder_end_object(b->json);
    add_int(b, "send_errors", (int64_t)sh->send_errors);
    if (punch_turn_configured(sh->core)) {
        add_string(b, "relay", punch_relay_is_turn(sh->core) ? "turn" : "natlab");
        add_int(b, "turn_sent", (int64_t)st->turn_sent);
        add_int(b, "turn_received", (int64_t)st->turn_received);
    }
    if (sh->failure)
        add_string(b, "failure", sh->failure);
    emit(b);
}

/* ---- UPnP over TCP: one connection per request, read until it closes ---- */

typedef struct http {
    agent_shell_t *sh;
    unsigned id;
    int fd;
    guint source, timeout;
    bool sent_all;
    size_t sent;
    GByteArray *req, *resp;
} http_t;

static void run_core(agent_shell_t *sh, usec_t now);

static void http_end(http_t *h, bool ok)
{
    agent_shell_t *sh = h->sh;
    sh->http = g_list_remove(sh->http, h);
    if (h->source)
        g_source_remove(h->source);
    if (h->timeout)
        g_source_remove(h->timeout);
    close(h->fd);
    if (!sh->finished) {
        usec_t now = clock_now_usec();
        punch_http_response(sh->core, h->id, h->resp->data, ok ? h->resp->len : 0, now);
        run_core(sh, now);
    }
    g_byte_array_unref(h->req);
    g_byte_array_unref(h->resp);
    g_free(h);
}

static gboolean on_http(int fd, GIOCondition cond, gpointer data)
{
    http_t *h = data;
    if (!h->sent_all) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
            h->source = 0;
            http_end(h, false); /* refused, unreachable */
            return G_SOURCE_REMOVE;
        }
        ssize_t n = send(fd, h->req->data + h->sent, h->req->len - h->sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return G_SOURCE_CONTINUE;
        if (n < 0) {
            h->source = 0;
            http_end(h, false);
            return G_SOURCE_REMOVE;
        }
        h->sent += (size_t)n;
        if (h->sent < h->req->len)
            return G_SOURCE_CONTINUE;
        h->sent_all = true;
        h->source = g_unix_fd_add(fd, G_IO_IN, on_http, h);
        return G_SOURCE_REMOVE;
    }
    uint8_t buf[8192];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n > 0 && h->resp->len + (size_t)n <= HTTP_RESPONSE_MAX) {
        g_byte_array_append(h->resp, buf, (guint)n);
        return G_SOURCE_CONTINUE;
    }
    h->source = 0;
    http_end(h, n == 0); /* the server closed: the response is whole */
    return G_SOURCE_REMOVE;
}

static gboolean on_http_timeout(gpointer data)
{
    http_t *h = data;
    h->timeout = 0;
    http_end(h, false);
    return G_SOURCE_REMOVE;
}

static int http_connect(addr_endpoint_t to)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = sockaddr_from_endpoint(to);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static void http_start(agent_shell_t *sh, const punch_output_t *o)
{
    int fd = http_connect(o->to);
    if (fd < 0) {
        punch_http_response(sh->core, o->id, NULL, 0, clock_now_usec());
        return; /* the caller flushes what the core says next */
    }
    http_t *h = g_new0(http_t, 1);
    *h = (http_t){ .sh = sh, .id = o->id, .fd = fd, .req = g_byte_array_new(), .resp = g_byte_array_new() };
    g_byte_array_append(h->req, o->data, (guint)o->len);
    h->source = g_unix_fd_add(fd, G_IO_OUT, on_http, h);
    h->timeout = g_timeout_add((guint)(HTTP_TIMEOUT / 1000), on_http_timeout, h);
    sh->http = g_list_prepend(sh->http, h);
}

/* On the way out the loop no longer runs: the request (a DeletePortMapping)
 * goes out within a short bound, its answer is not waited for. */
static void http_last_word(const punch_output_t *o)
{
    int fd = http_connect(o->to);
    if (fd < 0)
        return;
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    if (poll(&pfd, 1, HTTP_LAST_WORD_MS) == 1 && send(fd, o->data, o->len, MSG_NOSIGNAL) == (ssize_t)o->len) {
        shutdown(fd, SHUT_WR);
        pfd.events = POLLIN;
        poll(&pfd, 1, HTTP_LAST_WORD_MS); /* the server acts before it answers */
    }
    close(fd);
}

/* ---- TURN: the connection to the TURN server ---- */

static void turn_disconnect(agent_shell_t *sh)
{
    if (sh->turn_in)
        g_source_remove(sh->turn_in);
    if (sh->turn_out)
        g_source_remove(sh->turn_out);
    sh->turn_in = sh->turn_out = 0;
    if (sh->turn_fd >= 0)
        close(sh->turn_fd);
    sh->turn_fd = -1;
    if (sh->turn_backlog)
        g_byte_array_set_size(sh->turn_backlog, 0);
}

/* Told to the core after the current flush (not from inside it). */
static void turn_fail(agent_shell_t *sh, const char *what, int err)
{
    if (sh->turn_broken || sh->turn_fd < 0)
        return;
    const char *transport = sh->opt->punch.turn_tcp ? "TCP" : "UDP";
    if (err == ECONNREFUSED && !sh->opt->punch.turn_tcp)
        sh->turn_broken = g_strdup("the TURN server's port is closed (ICMP port unreachable)");
    else
        sh->turn_broken = g_strdup_printf("the %s connection to the TURN server: %s%s%s", transport,
                                          what, err ? ": " : "", err ? g_strerror(err) : "");
    turn_disconnect(sh);
}

static gboolean on_turn_writable(int fd, GIOCondition cond, gpointer data);

static void turn_push(agent_shell_t *sh)
{
    GByteArray *q = sh->turn_backlog;
    while (q->len && sh->turn_connected) {
        ssize_t n = send(sh->turn_fd, q->data, q->len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0) {
            turn_fail(sh, "send", errno);
            return;
        }
        g_byte_array_remove_range(q, 0, (guint)n);
    }
    if ((q->len || !sh->turn_connected) && !sh->turn_out)
        sh->turn_out = g_unix_fd_add(sh->turn_fd, G_IO_OUT, on_turn_writable, sh);
}

static bool turn_connect(agent_shell_t *sh, addr_endpoint_t to, GError **error);

static void turn_write(agent_shell_t *sh, const uint8_t *data, size_t len)
{
    unsigned conn;
    addr_endpoint_t to = punch_turn_server(sh->core, &conn);
    if (!sh->turn_conn)
        sh->turn_conn = conn;
    if (conn != sh->turn_conn) {
        /* The core wants a new connection: 443 after the URI's port, or
         * allocating again after the last one was lost. */
        turn_disconnect(sh);
        g_clear_pointer(&sh->turn_broken, g_free); /* about the old one */
        sh->turn_conn = conn;
        g_autoptr(GError) err = NULL;
        if (!turn_connect(sh, to, &err)) {
            sh->turn_broken = g_strdup(err->message);
            return;
        }
    }
    if (sh->turn_fd < 0)
        return;
    if (!sh->opt->punch.turn_tcp) {
        if (send(sh->turn_fd, data, len, 0) < 0) {
            if (errno == ECONNREFUSED)
                turn_fail(sh, "send", errno);
            else
                sh->send_errors++;
        }
        return;
    }
    if (sh->turn_backlog->len + len > TURN_BACKLOG_MAX) {
        turn_fail(sh, "the server stopped reading (backlog full)", 0);
        return;
    }
    g_byte_array_append(sh->turn_backlog, data, (guint)len);
    turn_push(sh);
}

static void tell_turn_broken(agent_shell_t *sh)
{
    g_autofree char *why = g_steal_pointer(&sh->turn_broken);
    punch_turn_broken(sh->core, why, clock_now_usec());
}

static gboolean on_turn_writable(int fd, GIOCondition cond, gpointer data)
{
    agent_shell_t *sh = data;
    if (!sh->turn_connected) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
            sh->turn_out = 0;
            turn_fail(sh, "connect", err ? err : errno);
            tell_turn_broken(sh);
            if (!sh->finished)
                run_core(sh, clock_now_usec());
            return G_SOURCE_REMOVE;
        }
        sh->turn_connected = true;
    }
    sh->turn_out = 0;
    turn_push(sh);
    if (sh->turn_broken) {
        tell_turn_broken(sh);
        if (!sh->finished)
            run_core(sh, clock_now_usec());
    }
    return G_SOURCE_REMOVE; /* turn_push adds it again while bytes wait */
}

static gboolean on_turn_readable(int fd, GIOCondition cond, gpointer data)
{
    agent_shell_t *sh = data;
    uint8_t buf[65536];
    for (unsigned i = 0; i < RECEIVE_BUDGET; i++) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n < 0 && errno == ENOTCONN)
            break; /* TCP: still connecting */
        if (n <= 0) {
            sh->turn_in = 0; /* turn_fail removes the source: this callback returns REMOVE */
            turn_fail(sh, n == 0 ? "closed by the server" : "recv", n == 0 ? 0 : errno);
            tell_turn_broken(sh);
            if (!sh->finished)
                run_core(sh, clock_now_usec());
            return G_SOURCE_REMOVE;
        }
        punch_turn_receive(sh->core, buf, (size_t)n, clock_now_usec());
        if (sh->opt->punch.turn_tcp)
            break; /* the next bytes on the next wakeup: fair to the other sockets */
    }
    if (!sh->finished)
        run_core(sh, clock_now_usec());
    return G_SOURCE_CONTINUE;
}

/* A connected UDP socket (ICMP errors come back on it) or a non-blocking
 * TCP connect; bytes for the server wait in the backlog until it is up. */
static bool turn_connect(agent_shell_t *sh, addr_endpoint_t to, GError **error)
{
    const punch_config_t *c = &sh->opt->punch;
    int fd = socket(AF_INET, (c->turn_tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "TURN socket: %s", g_strerror(errno));
        return false;
    }
    struct sockaddr_in sa = sockaddr_from_endpoint(to);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        char buf[ADDR_ENDPOINT_STRLEN];
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "TURN server %s: %s",
                    addr_endpoint_format(to, buf), g_strerror(errno));
        close(fd);
        return false;
    }
    sh->turn_fd = fd;
    sh->turn_connected = !c->turn_tcp;
    if (!sh->turn_backlog)
        sh->turn_backlog = g_byte_array_new();
    sh->turn_in = g_unix_fd_add(fd, G_IO_IN, on_turn_readable, sh);
    if (c->turn_tcp)
        sh->turn_out = g_unix_fd_add(fd, G_IO_OUT, on_turn_writable, sh);
    return true;
}

/* ---- natlab server over TCP: one stream, connected when the core asks ---- */

static void srv_close(agent_shell_t *sh)
{
    if (sh->srv_in)
        g_source_remove(sh->srv_in);
    if (sh->srv_out)
        g_source_remove(sh->srv_out);
    sh->srv_in = sh->srv_out = 0;
    if (sh->srv_fd >= 0)
        close(sh->srv_fd);
    sh->srv_fd = -1;
    sh->srv_connected = false;
    g_byte_array_set_size(sh->srv_backlog, 0);
}

/* Told to the core after the current flush (not from inside it). */
static void srv_fail(agent_shell_t *sh, const char *what, int err)
{
    if (sh->srv_broken || sh->srv_fd < 0)
        return;
    sh->srv_broken = err ? g_strdup(g_strerror(err)) : g_strdup(what);
    srv_close(sh);
}

static void tell_srv_broken(agent_shell_t *sh)
{
    g_autofree char *why = g_steal_pointer(&sh->srv_broken);
    punch_stream_broken(sh->core, why, clock_now_usec());
}

static gboolean on_srv_writable(int fd, GIOCondition cond, gpointer data);

static void srv_push(agent_shell_t *sh)
{
    GByteArray *q = sh->srv_backlog;
    while (q->len && sh->srv_connected) {
        ssize_t n = send(sh->srv_fd, q->data, q->len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0) {
            srv_fail(sh, "send", errno);
            return;
        }
        g_byte_array_remove_range(q, 0, (guint)n);
    }
    if ((q->len || !sh->srv_connected) && !sh->srv_out)
        sh->srv_out = g_unix_fd_add(sh->srv_fd, G_IO_OUT, on_srv_writable, sh);
}

static gboolean on_srv_writable(int fd, GIOCondition cond, gpointer data)
{
    agent_shell_t *sh = data;
    sh->srv_out = 0;
    if (!sh->srv_connected) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
            srv_fail(sh, "connect", err ? err : errno);
            tell_srv_broken(sh);
        } else {
            sh->srv_connected = true;
            punch_stream_connected(sh->core, clock_now_usec());
        }
    }
    if (sh->srv_fd >= 0)
        srv_push(sh);
    if (sh->srv_broken)
        tell_srv_broken(sh);
    if (!sh->finished)
        run_core(sh, clock_now_usec());
    return G_SOURCE_REMOVE; /* srv_push adds it again while bytes wait */
}

static gboolean on_srv_readable(int fd, GIOCondition cond, gpointer data)
{
    agent_shell_t *sh = data;
    uint8_t buf[16384];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR || errno == ENOTCONN))
        return G_SOURCE_CONTINUE; /* ENOTCONN: still connecting */
    if (n <= 0) {
        sh->srv_in = 0; /* srv_fail removes the source: this callback returns REMOVE */
        srv_fail(sh, "closed by the server", n == 0 ? 0 : errno);
        tell_srv_broken(sh);
        if (!sh->finished)
            run_core(sh, clock_now_usec());
        return G_SOURCE_REMOVE;
    }
    punch_stream_receive(sh->core, buf, (size_t)n, clock_now_usec());
    if (!sh->finished)
        run_core(sh, clock_now_usec());
    return G_SOURCE_CONTINUE;
}

/* A non-blocking connect; the core times it and says when to give up. */
static void srv_connect(agent_shell_t *sh, addr_endpoint_t to)
{
    srv_close(sh);
    g_clear_pointer(&sh->srv_broken, g_free);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        sh->srv_broken = g_strdup(g_strerror(errno));
        return;
    }
    int one = 1; /* small frames, each wanted now: no Nagle wait behind a delayed ACK */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = sockaddr_from_endpoint(to);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        sh->srv_broken = g_strdup(g_strerror(errno));
        close(fd);
        return;
    }
    sh->srv_fd = fd;
    sh->srv_in = g_unix_fd_add(fd, G_IO_IN, on_srv_readable, sh);
    sh->srv_out = g_unix_fd_add(fd, G_IO_OUT, on_srv_writable, sh);
}

static void srv_write(agent_shell_t *sh, const uint8_t *data, size_t len)
{
    if (sh->srv_fd < 0)
        return;
    if (sh->srv_backlog->len + len > TURN_BACKLOG_MAX) {
        srv_fail(sh, "the server stopped reading (backlog full)", 0);
        return;
    }
    g_byte_array_append(sh->srv_backlog, data, (guint)len);
    srv_push(sh);
}

/* ---- TCP punching's sockets (agent/tcpsock) ---- */

static void tcp_connected(void *ctx, unsigned id)
{
    agent_shell_t *sh = ctx;
    punch_tcp_connected(sh->core, id, clock_now_usec());
}

static void tcp_received(void *ctx, unsigned id, const uint8_t *data, size_t len)
{
    agent_shell_t *sh = ctx;
    punch_tcp_receive(sh->core, id, data, len, clock_now_usec());
}

static void tcp_broken(void *ctx, unsigned id, const char *reason)
{
    agent_shell_t *sh = ctx;
    punch_tcp_broken(sh->core, id, reason, clock_now_usec());
}

static unsigned tcp_accepted(void *ctx, addr_endpoint_t from)
{
    agent_shell_t *sh = ctx;
    return sh->finished ? 0 : punch_tcp_accepted(sh->core, from, clock_now_usec());
}

static void tcp_after(void *ctx)
{
    agent_shell_t *sh = ctx;
    if (!sh->finished)
        run_core(sh, clock_now_usec());
}

static const tcpsock_callbacks_t tcp_callbacks = { tcp_connected, tcp_received, tcp_broken,
                                                   tcp_accepted, tcp_after };

/* ---- sockets ---- */

static gboolean on_readable(int fd, GIOCondition cond, gpointer data);

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
    struct sockaddr_in sa = sockaddr_from_endpoint(addr_endpoint(0, port));
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

static void flush_outputs(agent_shell_t *sh)
{
    punch_output_t *o = g_new(punch_output_t, 1);
again:
    while (punch_pop_output(sh->core, o)) {
        switch (o->kind) {
        case PUNCH_OUT_SEND: {
            if (o->socket >= sh->n_fds || sh->fds[o->socket] < 0)
                break;
            struct sockaddr_in sa = sockaddr_from_endpoint(o->to);
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
        case PUNCH_OUT_HTTP:
            if (sh->finished)
                http_last_word(o);
            else
                http_start(sh, o);
            break;
        case PUNCH_OUT_TURN:
            turn_write(sh, o->data, o->len);
            break;
        case PUNCH_OUT_STREAM_CONNECT:
            if (!sh->finished)
                srv_connect(sh, o->to);
            break;
        case PUNCH_OUT_STREAM_SEND:
            srv_write(sh, o->data, o->len);
            break;
        case PUNCH_OUT_STREAM_CLOSE:
            srv_close(sh);
            break;
        case PUNCH_OUT_TCP_CONNECT:
            if (sh->tcp && !sh->finished)
                tcpsock_connect(sh->tcp, o->id, o->to);
            break;
        case PUNCH_OUT_TCP_SEND:
            if (sh->tcp)
                tcpsock_send(sh->tcp, o->id, o->data, o->len);
            break;
        case PUNCH_OUT_TCP_CLOSE:
            if (sh->tcp)
                tcpsock_close(sh->tcp, o->id);
            break;
        }
    }
    if (sh->tcp && !sh->finished && tcpsock_report(sh->tcp))
        goto again;
    if (sh->turn_broken && !sh->finished) {
        tell_turn_broken(sh);
        goto again;
    }
    if (sh->srv_broken && !sh->finished) {
        tell_srv_broken(sh);
        goto again;
    }
    g_free(o);
}

/* ---- the application ---- */

static void finish(agent_shell_t *sh, int status, usec_t now)
{
    if (sh->finished)
        return;
    sh->finished = true;
    sh->status = status;
    punch_close(sh->core, now);
    flush_outputs(sh);
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
        line_t b = event_begin(sh, "failed", now);
        add_string(&b, "reason", punch_has_session(sh->core) ? "timed out before every message was delivered"
                                                            : "timed out without a session");
        emit(&b);
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
    /* N messages one per interval, then, within --hold, more at the same
     * pace so a path that dies is noticed. */
    bool holding = o->hold && now - sh->started < o->hold;
    while ((sh->sent < o->send || holding) &&
           (sh->sent == 0 || now - sh->last_send >= o->interval)) {
        char msg[64];
        int n = g_snprintf(msg, sizeof msg, "natlab %s #%u", o->punch.name, sh->sent + 1);
        if (!punch_send(sh->core, (const uint8_t *)msg, (size_t)n, now))
            break;
        sh->sent++;
        sh->last_send = sh->sent == 1 ? now : sh->last_send + o->interval;
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
    flush_outputs(sh);
    application(sh, now);
    flush_outputs(sh);
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
        addr_endpoint_t from = sockaddr_to_endpoint(&sa);
        punch_receive(sh->core, ctx->index, from, buf, (size_t)n, clock_now_usec());
    }
    sockerr_icmp_t e; /* the primary socket's error queue (IP_RECVERR): drained, or it polls forever */
    while (ctx->index == PUNCH_SOCKET_PRIMARY && sockerr_next_icmp(fd, &e))
        if (e.type == 3 /* unreachable */)
            punch_unreachable(sh->core, e.to, clock_now_usec());
    if (!sh->finished)
        run_core(sh, clock_now_usec());
    return G_SOURCE_CONTINUE;
}

static gboolean timer_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    agent_shell_t *sh = data;
    g_source_set_ready_time(source, -1);
    if (!sh->finished)
        run_core(sh, clock_now_usec());
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs timer_funcs = { .dispatch = timer_dispatch };

static gboolean on_signal(gpointer data)
{
    agent_shell_t *sh = data;
    finish(sh, sh->opt->punch.peer ? 1 : 0, clock_now_usec());
    return G_SOURCE_CONTINUE;
}

/* The address the kernel would send to `to` from, and that interface's
 * broadcast address: connect() on a UDP socket only looks the route up. */
static bool local_route(addr_endpoint_t to, uint32_t *local, uint32_t *broadcast)
{
    if (route_source_toward(to, local) < 0)
        return false;
    *broadcast = 0;
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) == 0) {
        for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_BROADCAST) ||
                !i->ifa_netmask)
                continue;
            /* The directed broadcast from the prefix: an address added
             * without "brd" reports itself as its broadcast address. */
            uint32_t mask = ntohl(((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr);
            if (ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr) == *local && ~mask > 1)
                *broadcast = *local | ~mask;
        }
        freeifaddrs(ifs);
    }
    return true;
}

int agent_shell_run(const agent_shell_options_t *options, GError **error)
{
    agent_shell_t *sh = g_new0(agent_shell_t, 1);
    sh->opt = options;
    sh->turn_fd = -1;
    sh->srv_fd = -1;
    sh->srv_backlog = g_byte_array_new();
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
    sockerr_enable(sh->fds[0]); /* an ICMP refusal of the server's Binding: TCP at once */
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
    if (cfg.turn_server.port && !turn_connect(sh, cfg.turn_server, error))
        goto out;
    if (cfg.tcp_punch) {
        g_autoptr(GError) err = NULL;
        sh->tcp = tcpsock_new(&tcp_callbacks, sh, &cfg.tcp_punch_port, &err);
        if (!sh->tcp)
            g_warning("TCP punching off: %s", err->message);
    }
    if (cfg.portmap && !cfg.gateway)
        cfg.gateway = route_default_gateway("/proc/net/route");
    sh->loop = g_main_loop_new(NULL, FALSE);
    sh->timer = g_source_new(&timer_funcs, sizeof(GSource));
    g_source_set_callback(sh->timer, NULL, sh, NULL);
    g_source_attach(sh->timer, NULL);
    sh->signals[0] = g_unix_signal_add(SIGINT, on_signal, sh);
    sh->signals[1] = g_unix_signal_add(SIGTERM, on_signal, sh);
    sh->signals[2] = g_unix_signal_add(SIGHUP, on_signal, sh);
    sh->started = clock_now_usec();
    if (options->timeout)
        sh->deadline = sh->started + options->timeout;
    cfg.counter_base = (uint64_t)g_get_real_time();
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
    while (sh->http)
        http_end(sh->http->data, false);
    if (sh->turn_fd >= 0 && sh->opt->punch.turn_tcp && sh->turn_connected && sh->turn_backlog->len)
        (void)!send(sh->turn_fd, sh->turn_backlog->data, sh->turn_backlog->len,
                    MSG_NOSIGNAL | MSG_DONTWAIT); /* the deallocation, if the kernel takes it */
    turn_disconnect(sh);
    if (sh->srv_fd >= 0 && sh->srv_connected && sh->srv_backlog->len)
        (void)!send(sh->srv_fd, sh->srv_backlog->data, sh->srv_backlog->len,
                    MSG_NOSIGNAL | MSG_DONTWAIT); /* the BYE and LEAVING, if the kernel takes them */
    srv_close(sh);
    tcpsock_free(sh->tcp);
    g_byte_array_unref(sh->srv_backlog);
    g_free(sh->srv_broken);
    if (sh->turn_backlog)
        g_byte_array_unref(sh->turn_backlog);
    g_free(sh->turn_broken);
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
