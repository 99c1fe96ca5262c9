#define G_LOG_DOMAIN "netcheck"
#include "netcheck_shell.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
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

G_DEFINE_QUARK(natlab-netcheck-shell-error-quark, netcheck_shell_error)

/* A run that outlives its own schedule by this much is stuck: give up. */
#define SHELL_SLACK (60 * USEC_PER_SEC)

static int open_socket(uint32_t ip, addr_endpoint_t *local)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
    socklen_t len = sizeof sa;
    /* ICMP errors (port unreachable) come back on the error queue. */
    if (setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one) < 0 ||
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
    for (;;) {
        uint8_t data[64], control[512];
        struct sockaddr_in to;
        struct iovec iov = { data, sizeof data };
        struct msghdr msg = { .msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov,
                              .msg_iovlen = 1, .msg_control = control,
                              .msg_controllen = sizeof control };
        if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            return;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_RECVERR)
                continue;
            struct sock_extended_err ee;
            memcpy(&ee, CMSG_DATA(c), sizeof ee);
            /* msg_name is where the datagram that failed was going. */
            if (ee.ee_origin == SO_EE_ORIGIN_ICMP && ee.ee_type == 3 /* unreachable */)
                netcheck_unreachable(nc, socket, sockaddr_to_endpoint(&to), clock_now_usec());
        }
    }
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

bool netcheck_shell_run(const netcheck_shell_options_t *o, netcheck_result_t *result, GError **error)
{
    bool ok = false;
    netcheck_t *nc = NULL;
    int fds[NETCHECK_MAX_SOCKETS];
    struct pollfd pfds[NETCHECK_MAX_SOCKETS];
    unsigned n = 0;

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

    usec_t give_up = start + 2 * o->lifetime_max + SHELL_SLACK;
    for (;;) {
        usec_t now = clock_now_usec();
        usec_t deadline = netcheck_bookkeeping(nc, now);
        flush_sends(nc, fds);
        if (netcheck_done(nc))
            break;
        if (now > give_up) {
            g_set_error(error, NETCHECK_SHELL_ERROR, NETCHECK_SHELL_ERROR_SOCKET,
                        "netcheck did not finish in time (internal error)");
            goto cleanup;
        }
        usec_t wait = deadline == NETCHECK_NEVER ? USEC_PER_SEC : deadline - clock_now_usec();
        int timeout = (int)CLAMP((wait + 999) / 1000, 0, 1000);
        if (poll(pfds, n, timeout) < 0 && errno != EINTR) {
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
    }
    *result = *netcheck_result(nc);
    ok = true;
cleanup:
    for (unsigned i = 0; i < n; i++)
        close(fds[i]);
    netcheck_free(nc);
    return ok;
}
