#define _GNU_SOURCE
#define G_LOG_DOMAIN "server"
#include "server_tcp.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/agentframe.h"
#include "common/duration.h"
#include "common/sockaddr.h"
#include "common/sockerr.h"

#define LISTEN_BACKLOG 128
#define SWEEP_PERIOD_S 1
#define READ_CHUNK 4096
#define MAX_LISTENERS (STUN_SOCKET_COUNT + SERVER_TCP_MAX_EXTRA_PORTS)

typedef struct tcp_listener {
    server_tcp_t *tcp;
    unsigned socket; /* the STUN core's socket its STUN is answered as */
    addr_endpoint_t local;
    int fd;
    guint source;
} tcp_listener_t;

typedef struct tcp_conn {
    server_tcp_t *tcp;
    int fd;
    guint source, out_source;
    unsigned socket;  /* the STUN core's, of its listener */
    unsigned index;   /* its own socket index for the agent hooks */
    addr_endpoint_t peer;
    usec_t last_active;
    unsigned pending; /* connect-backs under way for it */
    bool agent;       /* it carried an agentmsg */
    bool dead;        /* a send failed: closed by the next read or sweep, never mid-callback */
    GByteArray *out;  /* what the kernel has not taken yet */
    agentframe_splitter_t in;
} tcp_conn_t;

typedef struct connect_back {
    server_tcp_t *tcp;
    tcp_conn_t *conn; /* NULL once its client has gone */
    stun_server_connect_back_t req;
    int fd;
    guint io_source, timer_source;
    usec_t started;
} connect_back_t;

struct server_tcp {
    stun_server_t *stun;
    server_tcp_agent_t agent;
    tcp_listener_t listeners[MAX_LISTENERS];
    unsigned n_listeners;
    GList *conns;          /* tcp_conn_t */
    tcp_conn_t *slots[SERVER_TCP_MAX_CONNECTIONS]; /* by index - SERVER_TCP_FIRST_SOCKET */
    GList *connect_backs;  /* connect_back_t */
    guint sweep_source;
    server_tcp_stats_t stats;
};

/* Also from c's own callback: removing a source while it dispatches is
 * allowed, and the callback then returns G_SOURCE_REMOVE. */
static void conn_close(tcp_conn_t *c)
{
    server_tcp_t *t = c->tcp;
    for (GList *l = t->connect_backs; l; l = l->next) {
        connect_back_t *cb = l->data;
        if (cb->conn == c)
            cb->conn = NULL;
    }
    t->conns = g_list_remove(t->conns, c);
    t->slots[c->index - SERVER_TCP_FIRST_SOCKET] = NULL;
    g_source_remove(c->source);
    if (c->out_source)
        g_source_remove(c->out_source);
    close(c->fd);
    t->stats.open--;
    if (c->agent)
        t->stats.agent_connections--;
    g_byte_array_unref(c->out);
    unsigned index = c->index;
    g_free(c);
    /* After it is gone: the hook may reuse nothing of it. */
    if (t->agent.closed)
        t->agent.closed(t->agent.user, index);
}

static gboolean on_conn_writable(gint fd, GIOCondition cond, gpointer user)
{
    tcp_conn_t *c = user;
    ssize_t n = send(fd, c->out->data, c->out->len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n < 0) {
        c->tcp->stats.closed_error++;
        c->out_source = 0;
        conn_close(c);
        return G_SOURCE_REMOVE;
    }
    g_byte_array_remove_range(c->out, 0, (guint)n);
    if (c->out->len)
        return G_SOURCE_CONTINUE;
    c->out_source = 0;
    return G_SOURCE_REMOVE;
}

/* One whole message onto the stream, or none of it: what the kernel does
 * not take now waits in c->out, behind anything already waiting. */
static bool conn_write(tcp_conn_t *c, const uint8_t *data, size_t len)
{
    server_tcp_t *t = c->tcp;
    if (c->dead)
        return false;
    if (c->out->len) {
        if (c->out->len + len > SERVER_TCP_MAX_BACKLOG) {
            t->stats.dropped_backlog++; /* a client that does not read */
            return false;
        }
        g_byte_array_append(c->out, data, (guint)len);
        return true;
    }
    ssize_t n = send(c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == (ssize_t)len)
        return true;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        c->dead = true;
        return false;
    }
    n = MAX(n, 0);
    g_byte_array_append(c->out, data + n, (guint)(len - (size_t)n));
    c->out_source = g_unix_fd_add(c->fd, G_IO_OUT, on_conn_writable, c);
    return true;
}

static void conn_send(tcp_conn_t *c, const uint8_t *data, size_t len)
{
    if (len == 0)
        return;
    if (conn_write(c, data, len))
        c->tcp->stats.sent++;
    else
        c->tcp->stats.send_errors++;
}

bool server_tcp_send(server_tcp_t *t, unsigned socket, addr_endpoint_t to, const uint8_t *msg,
                     size_t len)
{
    if (socket < SERVER_TCP_FIRST_SOCKET || socket - SERVER_TCP_FIRST_SOCKET >= SERVER_TCP_MAX_CONNECTIONS)
        return false;
    tcp_conn_t *c = t->slots[socket - SERVER_TCP_FIRST_SOCKET];
    uint8_t frame[AGENTFRAME_MAX_SIZE];
    size_t n = agentframe_write(msg, len, frame, sizeof frame);
    if (!c || !addr_endpoint_equal(c->peer, to) || n == 0 || !conn_write(c, frame, n)) {
        t->stats.send_errors++;
        return false;
    }
    t->stats.agent_sent++;
    return true;
}

/* ---- connect-back ---------------------------------------------------------- */

static void connect_back_finish(connect_back_t *cb, stun_connect_result_t *result)
{
    server_tcp_t *t = cb->tcp;
    result->elapsed_ms = (uint32_t)((g_get_monotonic_time() - cb->started) / USEC_PER_MSEC);
    uint8_t out[STUN_MAX_MESSAGE];
    size_t n = stun_server_connect_back_answer(t->stun, &cb->req, result, out, sizeof out);
    if (cb->conn) {
        cb->conn->pending--;
        cb->conn->last_active = g_get_monotonic_time();
        conn_send(cb->conn, out, n);
    }
    if (cb->io_source)
        g_source_remove(cb->io_source);
    if (cb->timer_source)
        g_source_remove(cb->timer_source);
    if (cb->fd >= 0)
        close(cb->fd);
    t->connect_backs = g_list_remove(t->connect_backs, cb);
    g_free(cb);
}

/* After a failed connect: an ICMP error on the queue, or else a RST. */
static void classify_failure(int fd, int err, stun_connect_result_t *r)
{
    r->outcome = err == ECONNREFUSED ? STUN_CONNECT_RESET : STUN_CONNECT_FAILED;
    sockerr_icmp_t e;
    while (sockerr_next_icmp(fd, &e)) {
        r->outcome = STUN_CONNECT_ICMP;
        r->icmp_type = e.type;
        r->icmp_code = e.code;
    }
}

static gboolean on_connect_event(gint fd, GIOCondition cond, gpointer user)
{
    connect_back_t *cb = user;
    cb->io_source = 0;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    stun_connect_result_t r = { .outcome = STUN_CONNECT_CONNECTED };
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        r.source = sockaddr_to_endpoint(&sa);
    if (err)
        classify_failure(fd, err, &r);
    connect_back_finish(cb, &r);
    return G_SOURCE_REMOVE;
}

static gboolean on_connect_timeout(gpointer user)
{
    connect_back_t *cb = user;
    cb->timer_source = 0;
    stun_connect_result_t r = { .outcome = STUN_CONNECT_TIMEOUT };
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    if (getsockname(cb->fd, (struct sockaddr *)&sa, &sl) == 0)
        r.source = sockaddr_to_endpoint(&sa);
    connect_back_finish(cb, &r);
    return G_SOURCE_REMOVE;
}

static void connect_back_start(tcp_conn_t *c, const stun_server_connect_back_t *req)
{
    server_tcp_t *t = c->tcp;
    connect_back_t *cb = g_new0(connect_back_t, 1);
    cb->tcp = t;
    cb->conn = c;
    cb->req = *req;
    cb->started = g_get_monotonic_time();
    c->pending++;
    t->connect_backs = g_list_prepend(t->connect_backs, cb);
    struct sockaddr_in from = sockaddr_from_endpoint(addr_endpoint(req->from_ip, 0));
    struct sockaddr_in to = sockaddr_from_endpoint(req->to);
    cb->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (cb->fd < 0 || !sockerr_enable(cb->fd) ||
        bind(cb->fd, (struct sockaddr *)&from, sizeof from) < 0 ||
        (connect(cb->fd, (struct sockaddr *)&to, sizeof to) < 0 && errno != EINPROGRESS)) {
        stun_connect_result_t r = { .outcome = STUN_CONNECT_FAILED };
        if (cb->fd >= 0 && (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH))
            classify_failure(cb->fd, errno, &r);
        connect_back_finish(cb, &r);
        return;
    }
    cb->io_source = g_unix_fd_add(cb->fd, G_IO_OUT | G_IO_ERR | G_IO_HUP, on_connect_event, cb);
    cb->timer_source = g_timeout_add(STUN_SERVER_CONNECT_BACK_TIMEOUT_MS, on_connect_timeout, cb);
}

/* ---- connections ------------------------------------------------------------ */

static void conn_message(tcp_conn_t *c, const uint8_t *msg, size_t len)
{
    server_tcp_t *t = c->tcp;
    t->stats.messages++;
    uint8_t out[STUN_MAX_MESSAGE];
    stun_server_connect_back_t req;
    bool pending;
    stun_server_reply_t r = stun_server_handle_stream(t->stun, c->socket, c->peer, msg, len, out,
                                                      sizeof out, &req, &pending);
    if (pending)
        connect_back_start(c, &req);
    else
        conn_send(c, out, r.len);
}

static gboolean on_conn_readable(gint fd, GIOCondition cond, gpointer user)
{
    tcp_conn_t *c = user;
    server_tcp_t *t = c->tcp;
    uint8_t chunk[READ_CHUNK];
    ssize_t n = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        t->stats.closed_by_peer++;
        conn_close(c);
        return G_SOURCE_REMOVE;
    }
    c->last_active = g_get_monotonic_time();
    size_t at = 0;
    for (;;) {
        at += agentframe_splitter_push(&c->in, chunk + at, (size_t)n - at);
        agentframe_t f;
        enum agentframe_kind k = AGENTFRAME_MORE;
        while (!c->dead && ((k = agentframe_splitter_next(&c->in, &f)) == AGENTFRAME_STUN ||
                            k == AGENTFRAME_AGENTMSG)) {
            if (k == AGENTFRAME_STUN) {
                conn_message(c, f.msg, f.len);
                continue;
            }
            t->stats.agent_messages++;
            if (!c->agent) {
                c->agent = true;
                t->stats.agent_connections++;
            }
            if (t->agent.message)
                t->agent.message(t->agent.user, c->index, c->peer, f.msg, f.len);
        }
        if (c->dead) {
            t->stats.closed_error++;
            conn_close(c);
            return G_SOURCE_REMOVE;
        }
        if (k != AGENTFRAME_MORE) {
            /* Neither kind of message, or longer than we take: the framing is lost. */
            if (k == AGENTFRAME_ERR_OVERSIZED)
                t->stats.closed_oversized++;
            else
                t->stats.closed_malformed++;
            conn_close(c);
            return G_SOURCE_REMOVE;
        }
        if (at == (size_t)n)
            return G_SOURCE_CONTINUE;
    }
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer user)
{
    tcp_listener_t *l = user;
    server_tcp_t *t = l->tcp;
    for (int i = 0; i < 16; i++) {
        unsigned slot = 0;
        struct sockaddr_in sa;
        socklen_t len = sizeof sa;
        int cfd = accept4(fd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            break;
        while (slot < SERVER_TCP_MAX_CONNECTIONS && t->slots[slot])
            slot++;
        if (slot == SERVER_TCP_MAX_CONNECTIONS || sa.sin_family != AF_INET) {
            t->stats.refused_full++;
            close(cfd);
            continue;
        }
        int one = 1; /* small frames (PEER, relayed data), each wanted now: no Nagle */
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        tcp_conn_t *c = g_new0(tcp_conn_t, 1);
        c->tcp = t;
        c->fd = cfd;
        c->socket = l->socket;
        c->index = SERVER_TCP_FIRST_SOCKET + slot;
        c->out = g_byte_array_new();
        agentframe_splitter_init(&c->in);
        t->slots[slot] = c;
        c->peer = sockaddr_to_endpoint(&sa);
        c->last_active = g_get_monotonic_time();
        c->source = g_unix_fd_add(cfd, G_IO_IN, on_conn_readable, c);
        t->conns = g_list_prepend(t->conns, c);
        t->stats.accepted++;
        t->stats.open++;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean on_sweep(gpointer user)
{
    server_tcp_t *t = user;
    usec_t now = g_get_monotonic_time();
    for (GList *l = t->conns; l;) {
        tcp_conn_t *c = l->data;
        l = l->next;
        usec_t idle = (c->agent ? SERVER_TCP_AGENT_IDLE_S : SERVER_TCP_IDLE_S) * USEC_PER_SEC;
        if (c->dead) {
            t->stats.closed_error++;
            conn_close(c);
        } else if (c->pending == 0 && now - c->last_active > idle) {
            t->stats.closed_idle++;
            conn_close(c);
        }
    }
    return G_SOURCE_CONTINUE;
}

static bool listen_on(server_tcp_t *t, unsigned stun_socket, addr_endpoint_t ep, GError **error)
{
    char text[ADDR_ENDPOINT_STRLEN];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sa = sockaddr_from_endpoint(ep);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        int err = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "cannot listen on TCP %s: %s",
                    addr_endpoint_format(ep, text), g_strerror(err));
        if (fd >= 0)
            close(fd);
        return false;
    }
    tcp_listener_t *l = &t->listeners[t->n_listeners++];
    *l = (tcp_listener_t){ t, stun_socket, ep, fd, 0 };
    l->source = g_unix_fd_add(fd, G_IO_IN, on_accept, l);
    return true;
}

static bool listening(const server_tcp_t *t, addr_endpoint_t ep)
{
    for (unsigned i = 0; i < t->n_listeners; i++)
        if (addr_endpoint_equal(t->listeners[i].local, ep))
            return true;
    return false;
}

server_tcp_t *server_tcp_new(stun_server_t *stun, const uint16_t *ports, unsigned n_ports,
                             const server_tcp_agent_t *agent, GError **error)
{
    server_tcp_t *t = g_new0(server_tcp_t, 1);
    t->stun = stun;
    if (agent)
        t->agent = *agent;
    for (unsigned i = 0; i < stun_server_socket_count(stun); i++) {
        if (!listen_on(t, i, stun_server_socket_endpoint(stun, i), error)) {
            server_tcp_free(t);
            return NULL;
        }
    }
    addr_endpoint_t primary = stun_server_socket_endpoint(stun, 0);
    for (unsigned i = 0; i < MIN(n_ports, SERVER_TCP_MAX_EXTRA_PORTS); i++) {
        addr_endpoint_t ep = addr_endpoint(primary.ip, ports[i]);
        if (!listening(t, ep) && !listen_on(t, 0, ep, error)) {
            server_tcp_free(t);
            return NULL;
        }
    }
    t->sweep_source = g_timeout_add_seconds(SWEEP_PERIOD_S, on_sweep, t);
    return t;
}

void server_tcp_free(server_tcp_t *t)
{
    if (!t)
        return;
    while (t->connect_backs) {
        connect_back_t *cb = t->connect_backs->data;
        cb->conn = NULL;
        stun_connect_result_t r = { .outcome = STUN_CONNECT_FAILED };
        connect_back_finish(cb, &r);
    }
    while (t->conns)
        conn_close(t->conns->data);
    for (unsigned i = 0; i < t->n_listeners; i++) {
        g_source_remove(t->listeners[i].source);
        close(t->listeners[i].fd);
    }
    if (t->sweep_source)
        g_source_remove(t->sweep_source);
    g_free(t);
}

const server_tcp_stats_t *server_tcp_stats(const server_tcp_t *t)
{
    return &t->stats;
}

unsigned server_tcp_listeners(const server_tcp_t *t, addr_endpoint_t *out, unsigned cap)
{
    unsigned n = MIN(cap, t->n_listeners);
    for (unsigned i = 0; i < n; i++)
        out[i] = t->listeners[i].local;
    return n;
}
