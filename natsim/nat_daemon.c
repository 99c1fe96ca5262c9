#include "nat_daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "nat_control.h"
#include "nat_engine.h"
#include "nat_nfq.h"
#include "nat_pcap.h"
#include "nat_pcp.h"
#include "nat_pmp.h"
#include "nat_upnp.h"
#include "nat_router.h"
#include "nat_kernel.h"
#include "nat_rules.h"
#include "common/clock.h"
#include "common/sockaddr.h"

#define RECEIVE_BUDGET 256
#define PORT_MAPPING_BUFFER 1100 /* RFC 6887: PCP messages are at most 1100 bytes */
#define UPNP_CONNECTIONS_MAX 32  /* HTTP connections at once; more are closed at once */
#define UPNP_CONNECTION_TIMEOUT (10 * USEC_PER_SEC) /* a request must be in by then */

/* A packet held for impairment: nfqueue keeps it until our verdict. */
typedef struct held_packet {
    uint16_t queue;
    uint32_t id;
    nat_router_path_t path;
    size_t len;
    uint8_t data[];
} held_packet_t;

typedef struct daemon {
    const nat_daemon_options_t *opt;
    GMainLoop *loop;
    nat_engine_t *engine;
    nat_router_t *router;
    nat_pcp_t *pcp;
    nat_nfq_t *nfq;
    nat_pcap_t *pcap;
    int timer_fd;
    int port_mapping_fd;
    nat_upnp_t *upnp; /* UPnP IGD: NULL unless the profile offers it */
    int ssdp_fd, upnp_http_fd;
    GList *upnp_conns;
    guint upnp_tick;
    int raw_fd;        /* for ICMP errors natsim itself sends */
    uint32_t inside_ip;
    GSocketService *control;
    uint32_t *spare_ips; /* change-ip swaps entries with the engine's */
    GArray *rule_ips;    /* public and spare: either may be ours, for hairpin */
    bool rules_installed;
    usec_t armed_for;
    int exit_status;
} daemon_t;

/* ---- packets ---------------------------------------------------------- */

static void deliver(daemon_t *d, uint16_t queue, uint32_t id, const nat_router_decision_t *dec,
                    const uint8_t *data, size_t len)
{
    if (dec->action == NAT_ROUTER_ACCEPT) {
        nat_pcap_write(d->pcap, dec->to_inside ? NAT_PCAP_INSIDE : NAT_PCAP_OUTSIDE, data, len);
        nat_nfq_verdict(d->nfq, queue, id, true, dec->rewritten ? data : NULL, len);
    } else {
        nat_nfq_verdict(d->nfq, queue, id, false, NULL, 0);
    }
}

static void send_unreachable(daemon_t *d, const uint8_t *orig, size_t len)
{
    uint8_t icmp[PACKET_ICMP_QUOTE_MAX];
    size_t n = nat_router_icmp_unreachable(d->router, orig, len, d->inside_ip, icmp, sizeof icmp);
    if (n == 0)
        return;
    struct sockaddr_in to = { .sin_family = AF_INET };
    memcpy(&to.sin_addr, orig + 12, 4); /* back to the sender */
    sendto(d->raw_fd, icmp, n, 0, (struct sockaddr *)&to, sizeof to);
}

/* A built IPv4 datagram out through the raw socket, routed by its destination. */
static void send_raw(daemon_t *d, const uint8_t *data, size_t n, bool outside)
{
    if (n < PACKET_IPV4_HEADER_MIN || d->raw_fd < 0)
        return;
    struct sockaddr_in to = { .sin_family = AF_INET };
    memcpy(&to.sin_addr, data + PACKET_IPV4_OFF_DST, 4);
    nat_pcap_write(d->pcap, outside ? NAT_PCAP_OUTSIDE : NAT_PCAP_INSIDE, data, n);
    if (sendto(d->raw_fd, data, n, 0, (struct sockaddr *)&to, sizeof to) < 0)
        g_debug("reply: %s", g_strerror(errno));
}

static void send_held_due(daemon_t *d, usec_t now)
{
    uint8_t out[PACKET_ICMP_QUOTE_MAX];
    size_t n;
    while ((n = nat_router_held_due(d->router, now, out, sizeof out)) > 0)
        send_raw(d, out, n, true);
}

static void on_packet(const nat_nfq_packet_t *pkt, void *ctx)
{
    daemon_t *d = ctx;
    int role = pkt->queue - d->opt->queue;
    if (role < 0 || role >= NAT_RULES_QUEUE_COUNT || !pkt->data) {
        nat_nfq_verdict(d->nfq, pkt->queue, pkt->id, false, NULL, 0);
        return;
    }
    nat_router_path_t path = role == NAT_RULES_QUEUE_INBOUND    ? NAT_ROUTER_INBOUND
                             : role == NAT_RULES_QUEUE_OUTBOUND ? NAT_ROUTER_OUTBOUND
                                                                : NAT_ROUTER_HAIRPIN;
    nat_pcap_write(d->pcap, path == NAT_ROUTER_INBOUND ? NAT_PCAP_OUTSIDE : NAT_PCAP_INSIDE,
                   pkt->data, pkt->len);
    usec_t now = clock_now_usec();
    nat_router_decision_t dec = nat_router_process(d->router, path, pkt->data, pkt->len, now);
    if (dec.icmp_unreachable && d->raw_fd >= 0 && d->inside_ip)
        send_unreachable(d, pkt->data, pkt->len);
    if (dec.reply != NAT_REPLY_NONE) {
        uint8_t out[PACKET_ICMP_QUOTE_MAX];
        send_raw(d, out, nat_router_build_reply(d->router, &dec, pkt->data, pkt->len, d->inside_ip,
                                                out, sizeof out, now), dec.came_inbound);
    }
    if (dec.action != NAT_ROUTER_HOLD) {
        deliver(d, pkt->queue, pkt->id, &dec, pkt->data, pkt->len);
        return;
    }
    held_packet_t *h = g_malloc(sizeof *h + pkt->len);
    *h = (held_packet_t){ .queue = pkt->queue, .id = pkt->id, .path = path, .len = pkt->len };
    memcpy(h->data, pkt->data, pkt->len);
    if (!nat_impair_push(nat_router_impairment(d->router, path == NAT_ROUTER_INBOUND), dec.release_at, h)) {
        nat_nfq_verdict(d->nfq, pkt->queue, pkt->id, false, NULL, 0);
        g_free(h);
    }
}

static void arm_timer(daemon_t *d)
{
    usec_t next = MIN(nat_impair_next_deadline(nat_router_impairment(d->router, true)),
                      nat_impair_next_deadline(nat_router_impairment(d->router, false)));
    next = MIN(next, nat_router_next_due(d->router));
    if (next == d->armed_for)
        return;
    d->armed_for = next;
    struct itimerspec its = { 0 };
    if (next != NAT_IMPAIR_NEVER) {
        next = MAX(next, 1);
        its.it_value.tv_sec = next / USEC_PER_SEC;
        its.it_value.tv_nsec = (next % USEC_PER_SEC) * 1000;
    }
    timerfd_settime(d->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void release_due(daemon_t *d, usec_t now)
{
    for (int inbound = 0; inbound < 2; inbound++) {
        void *handle;
        while (nat_impair_pop_due(nat_router_impairment(d->router, inbound), now, &handle)) {
            held_packet_t *h = handle;
            nat_router_decision_t dec = nat_router_release(d->router, h->path, h->data, h->len, now);
            dec.to_inside = dec.to_inside || h->path == NAT_ROUTER_INBOUND;
            deliver(d, h->queue, h->id, &dec, h->data, h->len);
            g_free(h);
        }
    }
}

static gboolean on_nfq(gint fd, GIOCondition cond, gpointer ctx)
{
    daemon_t *d = ctx;
    int rc = nat_nfq_receive(d->nfq, RECEIVE_BUDGET, on_packet, d);
    if (rc < 0)
        g_warning("nfqueue receive: %s", g_strerror(-rc));
    nat_pcap_flush(d->pcap);
    arm_timer(d);
    return G_SOURCE_CONTINUE;
}

static gboolean on_timer(gint fd, GIOCondition cond, gpointer ctx)
{
    daemon_t *d = ctx;
    uint64_t expirations;
    if (read(fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
        g_warning("timerfd: %s", g_strerror(errno));
    d->armed_for = NAT_IMPAIR_NEVER;
    usec_t now = clock_now_usec();
    release_due(d, now);
    send_held_due(d, now);
    nat_nfq_flush(d->nfq);
    nat_pcap_flush(d->pcap);
    arm_timer(d);
    return G_SOURCE_CONTINUE;
}

static gboolean on_expire(gpointer ctx)
{
    daemon_t *d = ctx;
    nat_engine_expire(d->engine, clock_now_usec());
    return G_SOURCE_CONTINUE;
}

/* ---- NAT-PMP / PCP on the inside address -------------------------------- */

static gboolean on_port_mapping(gint fd, GIOCondition cond, gpointer ctx)
{
    daemon_t *d = ctx;
    uint8_t req[PORT_MAPPING_BUFFER + 4], resp[PORT_MAPPING_BUFFER + 4];
    struct sockaddr_in from;
    socklen_t from_len = sizeof from;
    ssize_t n = recvfrom(fd, req, sizeof req, MSG_DONTWAIT, (struct sockaddr *)&from, &from_len);
    if (n <= 0)
        return G_SOURCE_CONTINUE;
    addr_endpoint_t client = sockaddr_to_endpoint(&from);
    size_t out = nat_pcp_handle(d->pcp, d->engine, client, req, (size_t)n, clock_now_usec(), resp, sizeof resp);
    if (out > 0)
        sendto(fd, resp, out, 0, (struct sockaddr *)&from, from_len);
    return G_SOURCE_CONTINUE;
}

/* The router's address on the inside: --inside-ip, or the interface's first. */
static uint32_t inside_address(const daemon_t *d)
{
    uint32_t ip = d->opt->inside_ip;
    struct ifaddrs *list = NULL;
    if (ip == 0 && getifaddrs(&list) == 0) {
        for (struct ifaddrs *i = list; i; i = i->ifa_next)
            if (!ip && i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
                strcmp(i->ifa_name, d->opt->inside) == 0)
                ip = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
        freeifaddrs(list);
    }
    return ip;
}

static bool open_port_mapping(daemon_t *d, GError **error)
{
    uint32_t ip = d->inside_ip;
    if (ip == 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "port mapping needs an IPv4 address on %s (or --inside-ip)", d->opt->inside);
        return false;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PMP_SERVER_PORT),
                              .sin_addr.s_addr = htonl(ip) };
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "cannot listen for NAT-PMP/PCP on port %d: %s", PMP_SERVER_PORT,
                    g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    d->port_mapping_fd = fd;
    g_unix_fd_add(fd, G_IO_IN, on_port_mapping, d);
    return true;
}

/* ---- UPnP IGD: SSDP and HTTP on the inside ------------------------------ */

typedef struct upnp_conn {
    daemon_t *d;
    int fd;
    guint source;
    addr_endpoint_t client;
    usec_t started;
    bool eof;
    GByteArray *in;
    GString *out; /* non-NULL once the response is ready */
    size_t sent;
} upnp_conn_t;

static void upnp_conn_close(upnp_conn_t *c)
{
    c->d->upnp_conns = g_list_remove(c->d->upnp_conns, c);
    if (c->source)
        g_source_remove(c->source);
    close(c->fd);
    g_byte_array_unref(c->in);
    if (c->out)
        g_string_free(c->out, TRUE);
    g_free(c);
}

static gboolean on_upnp_writable(gint fd, GIOCondition cond, gpointer ctx)
{
    upnp_conn_t *c = ctx;
    while (c->sent < c->out->len) {
        ssize_t n = send(fd, c->out->str + c->sent, c->out->len - c->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return G_SOURCE_CONTINUE;
        if (n <= 0)
            break;
        c->sent += (size_t)n;
    }
    c->source = 0;
    shutdown(fd, SHUT_WR);
    upnp_conn_close(c);
    return G_SOURCE_REMOVE;
}

static gboolean on_upnp_readable(gint fd, GIOCondition cond, gpointer ctx)
{
    upnp_conn_t *c = ctx;
    uint8_t buf[4096];
    /* Read at most one byte past the limit: enough for the core to say 413. */
    size_t room = NAT_UPNP_HTTP_MAX + 1 - MIN(c->in->len, (guint)NAT_UPNP_HTTP_MAX + 1);
    ssize_t n = room ? recv(fd, buf, MIN(sizeof buf, room), MSG_DONTWAIT) : 0;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n < 0) {
        c->source = 0;
        upnp_conn_close(c);
        return G_SOURCE_REMOVE;
    }
    if (n == 0 && room)
        c->eof = true;
    g_byte_array_append(c->in, buf, (guint)n);
    GString *out = g_string_new(NULL);
    nat_upnp_http_result_t r = nat_upnp_http(c->d->upnp, c->d->engine, c->client, c->in->data,
                                             c->in->len, c->eof || !room, clock_now_usec(), out);
    if (r == NAT_UPNP_HTTP_MORE && !c->eof) {
        g_string_free(out, TRUE);
        return G_SOURCE_CONTINUE;
    }
    c->out = out;
    c->source = g_unix_fd_add(fd, G_IO_OUT, on_upnp_writable, c);
    return G_SOURCE_REMOVE;
}

static gboolean on_upnp_accept(gint fd, GIOCondition cond, gpointer ctx)
{
    daemon_t *d = ctx;
    struct sockaddr_in from;
    socklen_t from_len = sizeof from;
    int cfd = accept(fd, (struct sockaddr *)&from, &from_len);
    if (cfd < 0)
        return G_SOURCE_CONTINUE;
    if (fcntl(cfd, F_SETFL, O_NONBLOCK) < 0 || fcntl(cfd, F_SETFD, FD_CLOEXEC) < 0) {
        close(cfd);
        return G_SOURCE_CONTINUE;
    }
    if (g_list_length(d->upnp_conns) >= UPNP_CONNECTIONS_MAX) {
        close(cfd);
        return G_SOURCE_CONTINUE;
    }
    upnp_conn_t *c = g_new0(upnp_conn_t, 1);
    *c = (upnp_conn_t){ .d = d, .fd = cfd, .client = sockaddr_to_endpoint(&from),
                        .started = clock_now_usec(), .in = g_byte_array_new() };
    c->source = g_unix_fd_add(cfd, G_IO_IN, on_upnp_readable, c);
    d->upnp_conns = g_list_prepend(d->upnp_conns, c);
    return G_SOURCE_CONTINUE;
}

/* A client that never finishes its request loses the connection. */
static gboolean on_upnp_tick(gpointer ctx)
{
    daemon_t *d = ctx;
    usec_t now = clock_now_usec();
    for (GList *l = d->upnp_conns; l;) {
        upnp_conn_t *c = l->data;
        l = l->next;
        if (now - c->started > UPNP_CONNECTION_TIMEOUT)
            upnp_conn_close(c);
    }
    return G_SOURCE_CONTINUE;
}

/* M-SEARCH arrives by multicast (or unicast) on the inside interface; the
 * answers go back unicast to the sender (UDA 1.1 section 1.3.3). */
static gboolean on_ssdp(gint fd, GIOCondition cond, gpointer ctx)
{
    daemon_t *d = ctx;
    uint8_t req[NAT_UPNP_SSDP_MAX + 1];
    char control[CMSG_SPACE(sizeof(struct in_pktinfo))];
    struct sockaddr_in from;
    struct iovec iov = { req, sizeof req };
    struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov,
                          .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
    if (n <= 0)
        return G_SOURCE_CONTINUE;
    unsigned ifindex = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
        if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO)
            ifindex = (unsigned)((struct in_pktinfo *)CMSG_DATA(cm))->ipi_ifindex;
    if (ifindex != if_nametoindex(d->opt->inside))
        return G_SOURCE_CONTINUE; /* the gateway answers its LAN only */
    g_autoptr(GPtrArray) answers = nat_upnp_ssdp(d->upnp, d->engine, req, (size_t)n);
    for (guint i = 0; answers && i < answers->len; i++) {
        const char *a = answers->pdata[i];
        sendto(fd, a, strlen(a), 0, (struct sockaddr *)&from, sizeof from);
    }
    return G_SOURCE_CONTINUE;
}

static bool upnp_fail(GError **error, const char *what, int fd)
{
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "UPnP: cannot %s: %s", what,
                g_strerror(errno));
    if (fd >= 0)
        close(fd);
    return false;
}

static bool open_upnp(daemon_t *d, GError **error)
{
    if (d->inside_ip == 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "UPnP needs an IPv4 address on %s (or --inside-ip)", d->opt->inside);
        return false;
    }
    int one = 1;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(NAT_UPNP_SSDP_PORT) };
    struct ip_mreqn group = { .imr_multiaddr.s_addr = htonl(NAT_UPNP_SSDP_GROUP),
                              .imr_ifindex = (int)if_nametoindex(d->opt->inside) };
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        return upnp_fail(error, "listen for SSDP on port 1900", fd);
    if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &group, sizeof group) < 0)
        return upnp_fail(error, "join the SSDP group 239.255.255.250", fd);
    d->ssdp_fd = fd;
    g_unix_fd_add(fd, G_IO_IN, on_ssdp, d);

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(NAT_UPNP_HTTP_PORT),
                               .sin_addr.s_addr = htonl(d->inside_ip) };
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0)
        return upnp_fail(error, "listen for HTTP on port 5000", fd);
    d->upnp_http_fd = fd;
    g_unix_fd_add(fd, G_IO_IN, on_upnp_accept, d);
    d->upnp_tick = g_timeout_add_seconds(1, on_upnp_tick, d);
    d->upnp = nat_upnp_new(d->inside_ip, NAT_UPNP_HTTP_PORT);
    return true;
}

static void close_upnp(daemon_t *d)
{
    while (d->upnp_conns)
        upnp_conn_close(d->upnp_conns->data);
    if (d->upnp_tick)
        g_source_remove(d->upnp_tick);
    if (d->ssdp_fd >= 0)
        close(d->ssdp_fd);
    if (d->upnp_http_fd >= 0)
        close(d->upnp_http_fd);
    nat_upnp_free(d->upnp);
}

/* ---- control socket --------------------------------------------------- */

static void on_pcp_reboot(void *ctx)
{
    daemon_t *d = ctx;
    nat_pcp_reset(d->pcp);
    if (d->upnp)
        nat_upnp_reset(d->upnp);
}

static char *more_stats(void *ctx)
{
    daemon_t *d = ctx;
    if (!d->upnp)
        return NULL;
    g_autofree char *upnp = nat_upnp_stats_json(d->upnp);
    return g_strdup_printf("{\"upnp\":%s}", upnp);
}

static void on_queue_stats(void *ctx, nat_nfqstat_t *out)
{
    daemon_t *d = ctx;
    nat_nfq_stats(d->nfq, out);
}

static nat_control_target_t control_target(daemon_t *d)
{
    return (nat_control_target_t){ d->engine, d->router, d->spare_ips, d->opt->n_spare_ips,
                                   on_pcp_reboot, d, d->nfq ? on_queue_stats : NULL,
                                   more_stats };
}

static void on_control_line(GObject *source, GAsyncResult *res, gpointer user)
{
    GSocketConnection *conn = user;
    daemon_t *d = g_object_get_data(G_OBJECT(conn), "daemon");
    g_autofree char *line = g_data_input_stream_read_line_finish(G_DATA_INPUT_STREAM(source), res, NULL, NULL);
    if (line) {
        nat_control_target_t target = control_target(d);
        g_autofree char *reply = nat_control_execute(&target, line, clock_now_usec());
        g_autofree char *text = g_strdup_printf("%s\n", reply);
        GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
        g_output_stream_write_all(out, text, strlen(text), NULL, NULL, NULL);
    }
    g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
    g_object_unref(source);
    g_object_unref(conn);
}

static gboolean on_control(GSocketService *service, GSocketConnection *conn, GObject *src, gpointer ctx)
{
    g_object_set_data(G_OBJECT(conn), "daemon", ctx);
    GDataInputStream *in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
    g_data_input_stream_read_line_async(in, G_PRIORITY_DEFAULT, NULL, on_control_line, g_object_ref(conn));
    return TRUE;
}

static bool open_control(daemon_t *d, GError **error)
{
    g_unlink(d->opt->control_path);
    d->control = g_socket_service_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(d->opt->control_path);
    if (!g_socket_listener_add_address(G_SOCKET_LISTENER(d->control), addr, G_SOCKET_TYPE_STREAM,
                                       G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, error)) {
        g_prefix_error(error, "control socket %s: ", d->opt->control_path);
        return false;
    }
    g_signal_connect(d->control, "incoming", G_CALLBACK(on_control), d);
    g_socket_service_start(d->control);
    return true;
}

/* ---- life ------------------------------------------------------------- */

static gboolean on_signal(gpointer ctx)
{
    daemon_t *d = ctx;
    g_main_loop_quit(d->loop);
    return G_SOURCE_CONTINUE;
}

static bool write_file_atomic(const char *path, const char *text, GError **error)
{
    return g_file_set_contents(path, text, -1, error);
}

static void daemon_cleanup(daemon_t *d)
{
    if (d->router && d->nfq) {
        /* Held packets get their verdict: dropped, as a link going down would. */
        for (int inbound = 0; inbound < 2; inbound++) {
            void *handle;
            while (nat_impair_pop_due(nat_router_impairment(d->router, inbound), NAT_IMPAIR_NEVER, &handle)) {
                held_packet_t *h = handle;
                nat_nfq_verdict(d->nfq, h->queue, h->id, false, NULL, 0);
                g_free(h);
            }
        }
        nat_nfq_flush(d->nfq);
    }
    if (d->rules_installed) {
        g_autofree char *text = nat_rules_text(d->opt->inside, d->opt->outside,
                                               (const uint32_t *)d->rule_ips->data,
                                               d->rule_ips->len, d->opt->queue, true);
        g_autoptr(GError) error = NULL;
        if (!nat_kernel_apply_rules(text, &error))
            g_warning("removing rules: %s", error->message);
    }
    if (d->opt->stats_out && d->router) {
        nat_control_target_t target = control_target(d);
        g_autofree char *stats = nat_control_stats_json(&target);
        g_autofree char *text = g_strdup_printf("%s\n", stats);
        g_autoptr(GError) error = NULL;
        if (!write_file_atomic(d->opt->stats_out, text, &error))
            g_warning("stats: %s", error->message);
    }
    if (d->control) {
        g_socket_service_stop(d->control);
        g_socket_listener_close(G_SOCKET_LISTENER(d->control));
        g_object_unref(d->control);
        g_unlink(d->opt->control_path);
    }
    if (d->opt->ready_file)
        g_unlink(d->opt->ready_file);
    if (d->port_mapping_fd >= 0)
        close(d->port_mapping_fd);
    close_upnp(d);
    if (d->timer_fd >= 0)
        close(d->timer_fd);
    if (d->raw_fd >= 0)
        close(d->raw_fd);
    nat_pcap_close(d->pcap);
    nat_nfq_close(d->nfq);
    nat_router_free(d->router);
    nat_pcp_free(d->pcp);
    nat_engine_free(d->engine);
    g_free(d->spare_ips);
    if (d->rule_ips)
        g_array_free(d->rule_ips, TRUE);
    if (d->loop)
        g_main_loop_unref(d->loop);
}

static bool daemon_setup(daemon_t *d, GError **error)
{
    const nat_daemon_options_t *o = d->opt;
    d->spare_ips = g_memdup2(o->spare_ips, o->n_spare_ips * sizeof *o->spare_ips);
    d->rule_ips = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    g_array_append_vals(d->rule_ips, o->public_ips, o->n_public_ips);
    g_array_append_vals(d->rule_ips, o->spare_ips, o->n_spare_ips);
    /* Signals first: a SIGTERM during set-up still ends in the cleanup path. */
    d->loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGINT, on_signal, d);
    g_unix_signal_add(SIGTERM, on_signal, d);
    g_unix_signal_add(SIGHUP, on_signal, d);
    if (!if_nametoindex(o->inside) || !if_nametoindex(o->outside)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "interface %s not found in this network namespace (run natlab nat inside the "
                    "router namespace)", if_nametoindex(o->inside) ? o->outside : o->inside);
        return false;
    }
    d->engine = nat_engine_new(o->profile, o->public_ips, o->n_public_ips, o->seed, clock_now_usec(), error);
    if (!d->engine)
        return false;
    d->router = nat_router_new(d->engine, o->seed);
    /* Held packets stay in the kernel queue: hold at most what it can keep. */
    nat_impair_set_capacity(nat_router_impairment(d->router, true), o->queue_maxlen / 2);
    nat_impair_set_capacity(nat_router_impairment(d->router, false), o->queue_maxlen / 2);
    d->pcp = nat_pcp_new();
    if (!nat_kernel_sysctls(o->inside, o->outside, error))
        return false;
    int err = 0;
    d->nfq = nat_nfq_open(o->queue, NAT_RULES_QUEUE_COUNT, o->queue_maxlen, &err);
    if (!d->nfq) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-err),
                    "cannot bind NFQUEUE %u-%u: %s (is another natsim running in this namespace? "
                    "the kernel needs nfnetlink_queue)", o->queue, o->queue + NAT_RULES_QUEUE_COUNT - 1,
                    g_strerror(-err));
        return false;
    }
    if (o->pcap_dir) {
        d->pcap = nat_pcap_open(o->pcap_dir, &err);
        if (!d->pcap) {
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-err), "cannot write pcap files in %s: %s",
                        o->pcap_dir, g_strerror(-err));
            return false;
        }
    }
    d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (d->timer_fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "timerfd: %s", g_strerror(errno));
        return false;
    }
    d->inside_ip = inside_address(d);
    /* Best effort: without it natsim still drops, it only cannot tell why. */
    d->raw_fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_RAW);
    int mark = NAT_RULES_OWN_MARK; /* its packets skip our outbound queue */
    if (d->raw_fd >= 0)
        setsockopt(d->raw_fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark);
    unsigned udp_mapping = NAT_PORT_MAPPING_NATPMP | NAT_PORT_MAPPING_PCP;
    if (o->profile->type == NAT_TYPE_NAT && (o->profile->port_mapping & udp_mapping) &&
        !open_port_mapping(d, error))
        return false;
    if (o->profile->type == NAT_TYPE_NAT && (o->profile->port_mapping & NAT_PORT_MAPPING_UPNP) &&
        !open_upnp(d, error))
        return false;
    if (o->control_path && !open_control(d, error))
        return false;
    if (o->install_rules) {
        g_autofree char *text = nat_rules_text(o->inside, o->outside,
                                               (const uint32_t *)d->rule_ips->data,
                                               d->rule_ips->len, o->queue, false);
        if (!nat_kernel_apply_rules(text, error))
            return false;
        d->rules_installed = true;
    }
    g_unix_fd_add(nat_nfq_fd(d->nfq), G_IO_IN, on_nfq, d);
    g_unix_fd_add(d->timer_fd, G_IO_IN, on_timer, d);
    g_timeout_add_seconds(1, on_expire, d);
    if (o->ready_file) {
        g_autofree char *pid = g_strdup_printf("%d\n", (int)getpid());
        if (!write_file_atomic(o->ready_file, pid, error))
            return false;
    }
    return true;
}

int nat_daemon_run(const nat_daemon_options_t *options, GError **error)
{
    daemon_t d = { .opt = options, .timer_fd = -1, .port_mapping_fd = -1, .raw_fd = -1,
                   .ssdp_fd = -1, .upnp_http_fd = -1, .armed_for = NAT_IMPAIR_NEVER };
    int status = 1;
    if (daemon_setup(&d, error)) {
        g_main_loop_run(d.loop);
        status = 0;
    }
    daemon_cleanup(&d);
    return status;
}
