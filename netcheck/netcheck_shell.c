#define G_LOG_DOMAIN "netcheck"
#define _GNU_SOURCE
#include "netcheck_shell.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/route.h"
#include "common/sockaddr.h"
#include "common/sockerr.h"
#include "netcheck_upnp.h"

G_DEFINE_QUARK(natlab-netcheck-shell-error-quark, netcheck_shell_error)

/* A run that outlives its own schedule by this much is stuck: give up. */
#define SHELL_SLACK (60 * USEC_PER_SEC)

static int open_socket(uint32_t ip, addr_endpoint_t *local)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
    socklen_t len = sizeof sa;
    /* ICMP errors (port unreachable) come back on the error queue. */
    if (!sockerr_enable(fd) ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    *local = addr_endpoint(ip, ntohs(sa.sin_port));
    return fd;
}

static void read_errors(netcheck_t *nc, int fd, unsigned socket)
{
    sockerr_icmp_t e;
    while (sockerr_next_icmp(fd, &e))
        if (e.type == 3 /* unreachable */)
            netcheck_unreachable(nc, socket, e.to, clock_now_usec());
}

static void read_datagrams(netcheck_t *nc, int fd, unsigned socket)
{
    for (;;) {
        uint8_t buf[2048];
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* EAGAIN, or an ICMP error already read from the queue */
        }
        if (len >= sizeof from && from.sin_family == AF_INET)
            netcheck_receive(nc, socket, sockaddr_to_endpoint(&from), buf, (size_t)n, clock_now_usec());
    }
}

static void flush_sends(netcheck_t *nc, const int *fds)
{
    netcheck_send_t s;
    while (netcheck_pop_send(nc, &s)) {
        struct sockaddr_in sa = sockaddr_from_endpoint(s.to);
        if (sendto(fds[s.socket], s.data, s.len, 0, (struct sockaddr *)&sa, sizeof sa) >= 0)
            continue;
        /* A queued ICMP error surfaces on the next send; no route is the same
         * answer. A full buffer is just loss, which the core copes with. */
        if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH)
            netcheck_unreachable(nc, s.socket, s.to, clock_now_usec());
        else if (errno != EAGAIN && errno != EWOULDBLOCK)
            g_debug("sendto socket %u: %s", s.socket, g_strerror(errno));
    }
}

/* ---- TCP ------------------------------------------------------------------- */

typedef struct tcp_slot {
    int fd;
    bool listening, connecting;
    size_t used;
    uint8_t buf[2048];
} tcp_slot_t;

static netcheck_tcp_fail_t tcp_fail_of(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return NETCHECK_TCP_FAIL_REFUSED;
    case EHOSTUNREACH:
    case ENETUNREACH:
        return NETCHECK_TCP_FAIL_UNREACHABLE;
    default:
        return NETCHECK_TCP_FAIL_TIMEOUT;
    }
}

static int tcp_socket(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* One local port, several connections and a listener: the mapping test
     * reuses the port of the first connection (RFC 5780 section 4.3). */
    int one = 1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static addr_endpoint_t tcp_local(int fd, uint32_t ip)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        return addr_endpoint(0, 0);
    addr_endpoint_t ep = sockaddr_to_endpoint(&sa);
    if (!ep.ip)
        ep.ip = ip;
    return ep;
}

static void tcp_do_ops(netcheck_tcp_t *t, tcp_slot_t *slots, uint32_t local_ip)
{
    netcheck_tcp_op_t op;
    while (netcheck_tcp_pop_op(t, &op)) {
        tcp_slot_t *s = &slots[op.conn];
        uint16_t port = 0;
        if (op.reuse >= 0 && slots[op.reuse].fd >= 0)
            port = tcp_local(slots[op.reuse].fd, local_ip).port;
        switch (op.kind) {
        case NETCHECK_TCP_OPEN: {
            s->fd = tcp_socket(port);
            struct sockaddr_in to = sockaddr_from_endpoint(op.to);
            if (s->fd < 0) {
                netcheck_tcp_opened(t, op.conn, addr_endpoint(0, 0), NETCHECK_TCP_FAIL_TIMEOUT,
                                    clock_now_usec());
            } else if (connect(s->fd, (struct sockaddr *)&to, sizeof to) < 0 && errno != EINPROGRESS) {
                int e = errno;
                close(s->fd);
                s->fd = -1;
                netcheck_tcp_opened(t, op.conn, addr_endpoint(0, 0), tcp_fail_of(e), clock_now_usec());
            } else {
                s->connecting = true;
            }
            break;
        }
        case NETCHECK_TCP_LISTEN:
            s->fd = tcp_socket(port);
            if (s->fd >= 0 && listen(s->fd, 8) == 0) {
                s->listening = true;
                netcheck_tcp_listening(t, op.conn, tcp_local(s->fd, local_ip), clock_now_usec());
            } else {
                netcheck_tcp_listening(t, op.conn, addr_endpoint(0, 0), clock_now_usec());
            }
            break;
        case NETCHECK_TCP_SEND:
            if (s->fd < 0 || send(s->fd, op.data, op.len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)op.len)
                netcheck_tcp_closed(t, op.conn, clock_now_usec());
            break;
        }
    }
}

static void tcp_slot_close(tcp_slot_t *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->connecting = s->listening = false;
}

static void tcp_on_event(netcheck_tcp_t *t, tcp_slot_t *slots, unsigned i, short revents)
{
    tcp_slot_t *s = &slots[i];
    if (s->listening) {
        /* A connect-back that got in: its arrival is the server's to report. */
        int c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0)
            close(c);
        return;
    }
    if (s->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        s->connecting = false;
        if (err) {
            tcp_slot_close(s);
            netcheck_tcp_opened(t, i, addr_endpoint(0, 0), tcp_fail_of(err), clock_now_usec());
        } else {
            netcheck_tcp_opened(t, i, tcp_local(s->fd, 0), NETCHECK_TCP_FAIL_NONE, clock_now_usec());
        }
        return;
    }
    ssize_t n = recv(s->fd, s->buf + s->used, sizeof s->buf - s->used, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        tcp_slot_close(s);
        netcheck_tcp_closed(t, i, clock_now_usec());
        return;
    }
    s->used += (size_t)n;
    size_t off = 0;
    for (;;) {
        long frame = stun_frame_length(s->buf + off, s->used - off, sizeof s->buf);
        if (frame < 0) {
            tcp_slot_close(s);
            netcheck_tcp_closed(t, i, clock_now_usec());
            return;
        }
        if (frame == 0 || (size_t)frame > s->used - off)
            break;
        netcheck_tcp_message(t, i, s->buf + off, (size_t)frame, clock_now_usec());
        off += (size_t)frame;
    }
    memmove(s->buf, s->buf + off, s->used - off);
    s->used -= off;
}

/* The TCP tests, after the UDP ones: every wait is the core's, bounded. */
static void run_tcp(const netcheck_shell_options_t *o, uint32_t local_ip, netcheck_result_t *result)
{
    netcheck_tcp_config_t cfg = {
        .server = o->server,
        .udp_works = result->known & NETCHECK_KNOWN_TYPE && !result->udp_blocked,
        .seed = o->seed,
    };
    usec_t start = clock_now_usec();
    netcheck_tcp_t *t = netcheck_tcp_new(&cfg, start);
    tcp_slot_t *slots = g_new0(tcp_slot_t, NETCHECK_TCP_MAX_CONNS);
    for (unsigned i = 0; i < NETCHECK_TCP_MAX_CONNS; i++)
        slots[i].fd = -1;
    struct pollfd pfds[NETCHECK_TCP_MAX_CONNS];
    unsigned idx[NETCHECK_TCP_MAX_CONNS];
    for (;;) {
        usec_t now = clock_now_usec();
        usec_t deadline = netcheck_tcp_bookkeeping(t, now);
        tcp_do_ops(t, slots, local_ip);
        if (netcheck_tcp_done(t) || now - start > SHELL_SLACK)
            break;
        unsigned n = 0;
        for (unsigned i = 0; i < NETCHECK_TCP_MAX_CONNS; i++) {
            if (slots[i].fd < 0)
                continue;
            pfds[n] = (struct pollfd){ .fd = slots[i].fd, .events = slots[i].connecting ? POLLOUT : POLLIN };
            idx[n++] = i;
        }
        usec_t wait = deadline == INT64_MAX ? USEC_PER_SEC : deadline - clock_now_usec();
        int timeout = (int)CLAMP((wait + 999) / 1000, 0, 1000);
        if (poll(pfds, n, timeout) < 0 && errno != EINTR)
            break;
        for (unsigned k = 0; k < n; k++)
            if (pfds[k].revents && slots[idx[k]].fd >= 0)
                tcp_on_event(t, slots, idx[k], pfds[k].revents);
        tcp_do_ops(t, slots, local_ip);
    }
    result->tcp = *netcheck_tcp_result(t);
    for (unsigned i = 0; i < NETCHECK_TCP_MAX_CONNS; i++)
        tcp_slot_close(&slots[i]);
    g_free(slots);
    netcheck_tcp_free(t);
}

/* ---- UPnP IGD: SSDP beside the other probes, then the description ------ */

#define UPNP_SEARCH_WAIT (2 * USEC_PER_SEC) /* two searches, 1 s apart */
#define UPNP_HTTP_TIMEOUT_MS 2000
#define UPNP_HTTP_MAX 65536

typedef struct upnp_probe {
    int fd;
    uint32_t gateway;
    usec_t start, next_search;
    uint32_t http_ip;
    uint16_t http_port;
    char path[NETCHECK_UPNP_LOCATION_MAX];
} upnp_probe_t;

static int upnp_open(upnp_probe_t *u, uint32_t local_ip, uint32_t gateway, usec_t now)
{
    *u = (upnp_probe_t){ .fd = -1, .gateway = gateway, .start = now, .next_search = now };
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct in_addr ifaddr = { htonl(local_ip) };
    int ttl = 2;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(local_ip) };
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifaddr, sizeof ifaddr) < 0 ||
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) < 0) {
        g_debug("UPnP probe socket: %s", g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    u->fd = fd;
    return fd;
}

static void upnp_search(upnp_probe_t *u, netcheck_result_t *r, usec_t now)
{
    if (u->fd < 0 || r->upnp.answered || r->upnp.sent >= 2 || now < u->next_search)
        return;
    char msg[256];
    size_t n = netcheck_upnp_search(msg, sizeof msg);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(NETCHECK_UPNP_PORT),
                              .sin_addr.s_addr = htonl(NETCHECK_UPNP_GROUP) };
    if (sendto(u->fd, msg, n, 0, (struct sockaddr *)&to, sizeof to) >= 0 && r->upnp.sent++ == 0)
        r->upnp.first_sent = now - u->start;
    u->next_search = now + USEC_PER_SEC;
}

/* Only the gateway's answer counts: an IGD elsewhere on the LAN maps nothing. */
static void upnp_receive(upnp_probe_t *u, netcheck_result_t *r, usec_t now)
{
    uint8_t buf[1500];
    struct sockaddr_in from;
    socklen_t from_len = sizeof from;
    ssize_t n;
    while ((n = recvfrom(u->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &from_len)) > 0) {
        uint32_t ip;
        uint16_t port;
        char url[NETCHECK_UPNP_LOCATION_MAX], path[NETCHECK_UPNP_LOCATION_MAX];
        if (r->upnp.answered || ntohl(from.sin_addr.s_addr) != u->gateway ||
            !netcheck_upnp_location(buf, (size_t)n, url, &ip, &port, path))
            continue;
        r->upnp.answered++;
        r->upnp.answered_at = now - u->start;
        r->upnp.answer_from = sockaddr_to_endpoint(&from);
        g_strlcpy(r->upnp_location, url, sizeof r->upnp_location);
        u->http_ip = ip;
        u->http_port = port;
        g_strlcpy(u->path, path, sizeof u->path);
        from_len = sizeof from;
    }
}

/* GET of the description, bounded in time and size. */
static bool upnp_fetch_igd(const upnp_probe_t *u)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct timeval tv = { UPNP_HTTP_TIMEOUT_MS / 1000, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(u->http_port),
                              .sin_addr.s_addr = htonl(u->http_ip) };
    char ip[ADDR_IP_STRLEN];
    g_autofree char *req = g_strdup_printf("GET %s HTTP/1.1\r\nHost: %s:%u\r\nConnection: close\r\n\r\n",
                                           u->path, addr_ip_format(u->http_ip, ip), u->http_port);
    g_autoptr(GString) resp = g_string_new(NULL);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req)) {
        char buf[4096];
        ssize_t n;
        while (resp->len < UPNP_HTTP_MAX && (n = recv(fd, buf, sizeof buf, 0)) > 0)
            g_string_append_len(resp, buf, n);
    }
    close(fd);
    return netcheck_upnp_is_igd(resp->str, resp->len);
}

/* After the other probes: wait out the searches if no answer came yet,
 * then confirm the answer by its description. */
static void upnp_finish(upnp_probe_t *u, netcheck_result_t *r)
{
    if (u->fd < 0)
        return;
    r->upnp.answered_at = r->upnp.answered ? r->upnp.answered_at : -1;
    for (;;) {
        usec_t now = clock_now_usec();
        upnp_search(u, r, now);
        if (r->upnp.answered || now >= u->start + UPNP_SEARCH_WAIT)
            break;
        struct pollfd p = { .fd = u->fd, .events = POLLIN };
        int timeout = (int)CLAMP((MIN(u->next_search, u->start + UPNP_SEARCH_WAIT) - now + 999) / 1000, 1, 1000);
        if (poll(&p, 1, timeout) > 0)
            upnp_receive(u, r, clock_now_usec());
    }
    if (r->upnp.answered && upnp_fetch_igd(u)) {
        r->upnp_igd = true;
        r->port_mapping |= NAT_PORT_MAPPING_UPNP;
    }
    close(u->fd);
    u->fd = -1;
}

bool netcheck_shell_run(const netcheck_shell_options_t *o, netcheck_result_t *result, GError **error)
{
    bool ok = false;
    netcheck_t *nc = NULL;
    int fds[NETCHECK_MAX_SOCKETS];
    struct pollfd pfds[NETCHECK_MAX_SOCKETS + 1]; /* + the UPnP probe's */
    unsigned n = 0;
    upnp_probe_t upnp = { .fd = -1 };
    netcheck_result_t upnp_seen = { 0 };

    uint32_t local_ip = 0;
    int rc = route_source_toward(o->server, &local_ip);
    if (rc < 0) {
        char buf[ADDR_ENDPOINT_STRLEN];
        g_set_error(error, NETCHECK_SHELL_ERROR, NETCHECK_SHELL_ERROR_SOCKET,
                    "no route to %s: %s", addr_endpoint_format(o->server, buf), g_strerror(-rc));
        goto cleanup;
    }
    netcheck_config_t cfg = {
        .server = o->server,
        .lifetime_max = o->lifetime_max,
        .seed = o->seed ? o->seed : ((uint64_t)g_random_int() << 32 | g_random_int()),
    };
    if (o->ask_gateway)
        cfg.gateway = o->gateway ? o->gateway : route_default_gateway("/proc/net/route");
    usec_t start = clock_now_usec();
    nc = netcheck_new(&cfg, start);
    unsigned want = netcheck_socket_count(nc);
    for (; n < want; n++) {
        addr_endpoint_t local;
        int fd = open_socket(local_ip, &local);
        if (fd < 0) {
            g_set_error(error, NETCHECK_SHELL_ERROR, NETCHECK_SHELL_ERROR_SOCKET,
                        "cannot open UDP socket %u of %u: %s", n + 1, want, g_strerror(-fd));
            goto cleanup;
        }
        fds[n] = fd;
        pfds[n] = (struct pollfd){ .fd = fd, .events = POLLIN };
        netcheck_set_local(nc, n, local);
    }

    if (cfg.gateway && upnp_open(&upnp, local_ip, cfg.gateway, start) >= 0)
        pfds[n] = (struct pollfd){ .fd = upnp.fd, .events = POLLIN };
    unsigned npoll = n + (upnp.fd >= 0);

    usec_t give_up = start + 2 * o->lifetime_max + SHELL_SLACK;
    for (;;) {
        usec_t now = clock_now_usec();
        usec_t deadline = netcheck_bookkeeping(nc, now);
        flush_sends(nc, fds);
        upnp_search(&upnp, &upnp_seen, now);
        if (netcheck_done(nc))
            break;
        if (now > give_up) {
            g_set_error(error, NETCHECK_SHELL_ERROR, NETCHECK_SHELL_ERROR_SOCKET,
                        "netcheck did not finish in time (internal error)");
            goto cleanup;
        }
        usec_t wait = deadline == NETCHECK_NEVER ? USEC_PER_SEC : deadline - clock_now_usec();
        int timeout = (int)CLAMP((wait + 999) / 1000, 0, 1000);
        if (poll(pfds, npoll, timeout) < 0 && errno != EINTR) {
            g_set_error(error, NETCHECK_SHELL_ERROR, NETCHECK_SHELL_ERROR_SOCKET, "poll: %s",
                        g_strerror(errno));
            goto cleanup;
        }
        for (unsigned i = 0; i < n; i++) {
            if (pfds[i].revents & POLLERR)
                read_errors(nc, fds[i], i);
            if (pfds[i].revents & POLLIN)
                read_datagrams(nc, fds[i], i);
        }
        if (npoll > n && (pfds[n].revents & POLLIN))
            upnp_receive(&upnp, &upnp_seen, clock_now_usec());
    }
    *result = *netcheck_result(nc);
    result->upnp = upnp_seen.upnp;
    g_strlcpy(result->upnp_location, upnp_seen.upnp_location, sizeof result->upnp_location);
    upnp_finish(&upnp, result);
    if (!o->no_tcp)
        run_tcp(o, local_ip, result);
    ok = true;
cleanup:
    if (upnp.fd >= 0)
        close(upnp.fd);
    for (unsigned i = 0; i < n; i++)
        close(fds[i]);
    netcheck_free(nc);
    return ok;
}
