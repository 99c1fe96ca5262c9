#define G_LOG_DOMAIN "agent"
#define _GNU_SOURCE /* accept4 */
#include "agent/tcpsock.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/tcppunch.h"
#include "common/sockaddr.h"

#define IDS (TCPPUNCH_CONNS_MAX + 1)
#define BACKLOG_MAX (256 * 1024) /* bytes the peer has not taken: it stopped reading */

typedef struct conn {
    tcpsock_t *t;
    unsigned id;
    int fd;
    guint in, out;
    bool connected;
    GByteArray *backlog;
    char *broken; /* to report */
} conn_t;

struct tcpsock {
    tcpsock_callbacks_t cb;
    void *ctx;
    int listen_fd;
    guint listen_src;
    uint16_t port;
    conn_t conns[IDS];
};

static void conn_drop(conn_t *c)
{
    if (c->in)
        g_source_remove(c->in);
    if (c->out)
        g_source_remove(c->out);
    c->in = c->out = 0;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->connected = false;
    g_byte_array_set_size(c->backlog, 0);
}

static void conn_fail(conn_t *c, const char *what, int err)
{
    if (c->broken || c->fd < 0)
        return;
    c->broken = err ? g_strdup_printf("%s: %s", what, g_strerror(err)) : g_strdup(what);
    conn_drop(c);
}

bool tcpsock_report(tcpsock_t *t)
{
    bool any = false;
    for (unsigned id = 1; id < IDS; id++) {
        conn_t *c = &t->conns[id];
        if (!c->broken)
            continue;
        g_autofree char *why = g_steal_pointer(&c->broken);
        t->cb.broken(t->ctx, id, why);
        any = true;
    }
    return any;
}

static gboolean on_writable(int fd, GIOCondition cond, gpointer data);

static void push(conn_t *c)
{
    GByteArray *q = c->backlog;
    while (q->len && c->connected) {
        ssize_t n = send(c->fd, q->data, q->len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0) {
            conn_fail(c, "send", errno);
            return;
        }
        g_byte_array_remove_range(q, 0, (guint)n);
    }
    if ((q->len || !c->connected) && !c->out)
        c->out = g_unix_fd_add(c->fd, G_IO_OUT, on_writable, c);
}

static gboolean on_writable(int fd, GIOCondition cond, gpointer data)
{
    conn_t *c = data;
    tcpsock_t *t = c->t;
    c->out = 0;
    if (!c->connected) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
            conn_fail(c, "connect", err ? err : errno);
        } else {
            c->connected = true;
            t->cb.connected(t->ctx, c->id);
        }
    }
    if (c->fd >= 0 && c->connected)
        push(c);
    tcpsock_report(t);
    t->cb.after(t->ctx);
    return G_SOURCE_REMOVE; /* push adds it again while bytes wait */
}

static gboolean on_readable(int fd, GIOCondition cond, gpointer data)
{
    conn_t *c = data;
    tcpsock_t *t = c->t;
    uint8_t buf[16384];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR || errno == ENOTCONN))
        return G_SOURCE_CONTINUE; /* ENOTCONN: still connecting */
    if (n <= 0) {
        c->in = 0; /* conn_fail removes sources: this one by returning REMOVE */
        conn_fail(c, n == 0 ? "closed by the peer" : "recv", n == 0 ? 0 : errno);
        tcpsock_report(t);
        t->cb.after(t->ctx);
        return G_SOURCE_REMOVE;
    }
    t->cb.received(t->ctx, c->id, buf, (size_t)n);
    tcpsock_report(t);
    t->cb.after(t->ctx);
    return G_SOURCE_CONTINUE;
}

static int stream_socket(uint16_t port, int *err)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* small frames, each wanted now */
    struct sockaddr_in sa = sockaddr_from_endpoint(addr_endpoint(0, port));
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        *err = errno;
        close(fd);
        return -1;
    }
    return fd;
}

static void conn_watch(conn_t *c, int fd)
{
    c->fd = fd;
    c->in = g_unix_fd_add(fd, G_IO_IN, on_readable, c);
}

void tcpsock_connect(tcpsock_t *t, unsigned id, addr_endpoint_t to)
{
    if (!id || id >= IDS)
        return;
    conn_t *c = &t->conns[id];
    conn_drop(c);
    g_clear_pointer(&c->broken, g_free);
    int err = 0;
    int fd = stream_socket(t->port, &err);
    if (fd < 0) {
        c->broken = g_strdup_printf("bind to port %u: %s", t->port, g_strerror(err));
        return;
    }
    struct sockaddr_in sa = sockaddr_from_endpoint(to);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        c->broken = g_strdup_printf("connect: %s", g_strerror(errno));
        close(fd);
        return;
    }
    conn_watch(c, fd);
    c->out = g_unix_fd_add(fd, G_IO_OUT, on_writable, c);
}

void tcpsock_send(tcpsock_t *t, unsigned id, const uint8_t *data, size_t len)
{
    if (!id || id >= IDS || t->conns[id].fd < 0)
        return;
    conn_t *c = &t->conns[id];
    if (c->backlog->len + len > BACKLOG_MAX) {
        conn_fail(c, "the peer stopped reading (backlog full)", 0);
        return;
    }
    g_byte_array_append(c->backlog, data, (guint)len);
    push(c);
}

void tcpsock_close(tcpsock_t *t, unsigned id)
{
    if (!id || id >= IDS)
        return;
    conn_t *c = &t->conns[id];
    if (c->fd >= 0 && c->connected && c->backlog->len)
        (void)!send(c->fd, c->backlog->data, c->backlog->len, MSG_NOSIGNAL | MSG_DONTWAIT);
    conn_drop(c);
    g_clear_pointer(&c->broken, g_free); /* the core closed it: it wants no word */
}

static gboolean on_accept(int fd, GIOCondition cond, gpointer data)
{
    tcpsock_t *t = data;
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int cfd = accept4(fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0)
        return G_SOURCE_CONTINUE;
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    unsigned id = t->cb.accepted(t->ctx, sockaddr_to_endpoint(&sa));
    if (!id || id >= IDS) {
        close(cfd);
    } else {
        conn_t *c = &t->conns[id];
        conn_drop(c);
        conn_watch(c, cfd);
        c->connected = true;
    }
    tcpsock_report(t);
    t->cb.after(t->ctx);
    return G_SOURCE_CONTINUE;
}

tcpsock_t *tcpsock_new(const tcpsock_callbacks_t *callbacks, void *ctx, uint16_t *port,
                       GError **error)
{
    int err = 0;
    int fd = stream_socket(0, &err);
    if (fd < 0 || listen(fd, 16) < 0) {
        if (fd >= 0) {
            err = errno;
            close(fd);
        }
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "TCP listener: %s",
                    g_strerror(err));
        return NULL;
    }
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    tcpsock_t *t = g_new0(tcpsock_t, 1);
    t->cb = *callbacks;
    t->ctx = ctx;
    t->listen_fd = fd;
    t->port = ntohs(sa.sin_port);
    for (unsigned id = 0; id < IDS; id++)
        t->conns[id] = (conn_t){ .t = t, .id = id, .fd = -1, .backlog = g_byte_array_new() };
    t->listen_src = g_unix_fd_add(fd, G_IO_IN, on_accept, t);
    *port = t->port;
    return t;
}

void tcpsock_free(tcpsock_t *t)
{
    if (!t)
        return;
    for (unsigned id = 0; id < IDS; id++) {
        tcpsock_close(t, id);
        g_byte_array_unref(t->conns[id].backlog);
    }
    g_source_remove(t->listen_src);
    close(t->listen_fd);
    g_free(t);
}
