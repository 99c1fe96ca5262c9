#include "turn_probe.h"

#include <errno.h>
#include <limits.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/sockaddr.h"
#include "common/jsontidy.h"
#include "turn.h"

#define PROBE_RETRY (500 * USEC_PER_MSEC) /* a message not echoed is sent again */

typedef struct probe {
    const turn_probe_options_t *o;
    turn_t *turn;
    int fd;
    usec_t start, allocated_at;
    unsigned sent, echoed, next;
    usec_t sent_at, rtt_sum;
    char *error;
} probe_t;

static void flush(probe_t *p)
{
    uint8_t buf[2048];
    size_t n;
    while (turn_pop_output(p->turn, buf, sizeof buf, &n)) {
        if (n && send(p->fd, buf, n, MSG_NOSIGNAL) < 0 && !p->error)
            p->error = g_strdup_printf("sending to the TURN server: %s", g_strerror(errno));
    }
}

static void send_next(probe_t *p, usec_t now)
{
    char text[32];
    int n = snprintf(text, sizeof text, "natlab-turn %u", p->next);
    turn_send(p->turn, p->o->peer, (const uint8_t *)text, (size_t)n, now);
    p->sent_at = now;
    if (p->next == p->sent)
        p->sent++;
}

static void on_data(probe_t *p, usec_t now)
{
    uint8_t buf[2048];
    size_t n;
    addr_endpoint_t from;
    while (turn_pop_data(p->turn, &from, buf, sizeof buf - 1, &n)) {
        buf[n] = '\0';
        unsigned k;
        if (from.ip == p->o->peer.ip && from.port == p->o->peer.port &&
            sscanf((char *)buf, "natlab-turn %u", &k) == 1 && k == p->next) {
            p->echoed++;
            p->rtt_sum += now - p->sent_at;
            p->next++;
            if (p->next < p->o->send)
                send_next(p, now);
        }
    }
}

static int finish(probe_t *p)
{
    char relayed[ADDR_ENDPOINT_STRLEN], mapped[ADDR_ENDPOINT_STRLEN], server[ADDR_ENDPOINT_STRLEN];
    const char *why = p->error ? p->error : turn_error(p->turn);
    bool ok = !why && turn_state(p->turn) == TURN_READY && p->echoed == p->o->send;
    if (!why && !ok)
        why = turn_state(p->turn) == TURN_READY ? "not every message came back before the timeout"
                                                : "no allocation before the timeout";
    addr_endpoint_format(p->o->server, server);
    addr_endpoint_format(turn_relayed(p->turn), relayed);
    addr_endpoint_format(turn_mapped(p->turn), mapped);
    double alloc_ms = p->allocated_at ? (double)(p->allocated_at - p->start) / USEC_PER_MSEC : -1;
    if (p->o->json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        jsontidy_add_string(b, "server", server);
        jsontidy_add_string(b, "transport", p->o->tcp ? "tcp" : "udp");
        jsontidy_add_string(b, "outcome", ok ? "ok" : "failed");
        jsontidy_add_string(b, "relayed", p->allocated_at ? relayed : NULL);
        jsontidy_add_string(b, "mapped", p->allocated_at ? mapped : NULL);
        jsontidy_add_string(b, "realm", p->allocated_at ? turn_realm(p->turn) : NULL);
        json_builder_set_member_name(b, "allocate_ms");
        if (alloc_ms >= 0)
            json_builder_add_double_value(b, alloc_ms);
        else
            json_builder_add_null_value(b);
        jsontidy_add_int(b, "sent", p->sent);
        jsontidy_add_int(b, "echoed", p->echoed);
        json_builder_set_member_name(b, "rtt_ms");
        if (p->echoed)
            json_builder_add_double_value(b, (double)p->rtt_sum / p->echoed / USEC_PER_MSEC);
        else
            json_builder_add_null_value(b);
        jsontidy_add_string(b, "error", ok ? NULL : why);
        json_builder_end_object(b);
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        g_autofree char *line = jsontidy_line(root, NULL);
        puts(line);
    } else if (ok) {
        printf("TURN %s over %s: relayed %s, mapped %s, realm %s, allocated in %.1f ms",
               server, p->o->tcp ? "TCP" : "UDP", relayed, mapped, turn_realm(p->turn), alloc_ms);
        if (p->o->send)
            printf("; %u of %u messages echoed through the relay, mean round trip %.1f ms",
                   p->echoed, p->sent, (double)p->rtt_sum / p->echoed / USEC_PER_MSEC);
        putchar('\n');
    } else {
        fprintf(stderr, "natlab turn: %s over %s: %s\n", server, p->o->tcp ? "TCP" : "UDP", why);
    }
    return ok ? 0 : 1;
}

int turn_probe_run(const turn_probe_options_t *o)
{
    probe_t p = { .o = o, .fd = -1, .start = clock_now_usec() };
    struct sockaddr_in sa = sockaddr_from_endpoint(o->server);
    /* Non-blocking, so --timeout holds while a firewall drops the SYNs
     * (a blocking connect() waits out the kernel's 2 min of retries). */
    p.fd = socket(AF_INET, (o->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    const char *why = p.fd < 0 ? g_strerror(errno) : NULL;
    if (!why && connect(p.fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (errno != EINPROGRESS) {
            why = g_strerror(errno);
        } else {
            struct pollfd pfd = { .fd = p.fd, .events = POLLOUT };
            int err = 0;
            socklen_t elen = sizeof err;
            int ms = (int)MIN(o->timeout / USEC_PER_MSEC, INT_MAX);
            if (poll(&pfd, 1, ms) <= 0)
                why = "no answer to the TCP connection (SYN) within the timeout";
            else if (getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err)
                why = g_strerror(err ? err : errno);
        }
    }
    if (why) {
        char server[ADDR_ENDPOINT_STRLEN];
        fprintf(stderr, "natlab turn: %s over %s: %s\n", addr_endpoint_format(o->server, server),
                o->tcp ? "TCP" : "UDP", why);
        if (p.fd >= 0)
            close(p.fd);
        return 1;
    }
    turn_config_t c = { .server = o->server, .username = o->username, .password = o->password,
                        .realm = o->realm, .tcp = o->tcp, .seed = (uint64_t)p.start };
    p.turn = turn_new(&c, p.start);
    usec_t deadline = p.start + o->timeout;
    for (;;) {
        usec_t now = clock_now_usec();
        usec_t next = turn_bookkeeping(p.turn, now);
        if (turn_state(p.turn) == TURN_READY && !p.allocated_at) {
            p.allocated_at = now;
            if (o->send)
                send_next(&p, now);
        }
        if (p.allocated_at && o->send && p.next < o->send && now - p.sent_at >= PROBE_RETRY)
            send_next(&p, now); /* lost on the way: again */
        flush(&p);
        bool done = turn_state(p.turn) == TURN_FAILED || p.error ||
                    (p.allocated_at && p.echoed == o->send);
        if (done || now >= deadline)
            break;
        if (next == 0 || next > deadline)
            next = deadline;
        if (p.allocated_at && o->send)
            next = MIN(next, p.sent_at + PROBE_RETRY);
        struct pollfd pfd = { .fd = p.fd, .events = POLLIN };
        int ms = next > now ? (int)((next - now + 999) / 1000) : 0;
        if (poll(&pfd, 1, ms) < 0 && errno != EINTR)
            break;
        if (!(pfd.revents & (POLLIN | POLLERR | POLLHUP)))
            continue;
        uint8_t buf[4096];
        ssize_t n = recv(p.fd, buf, sizeof buf, 0);
        now = clock_now_usec();
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n > 0) {
            turn_receive(p.turn, buf, (size_t)n, now);
            on_data(&p, now);
        } else if (o->tcp || errno != ECONNREFUSED) {
            p.error = g_strdup_printf("the connection to the TURN server %s",
                                      n == 0 ? "was closed" : g_strerror(errno));
        } else if (n < 0 && errno == ECONNREFUSED) {
            p.error = g_strdup("the TURN server's port is closed (ICMP port unreachable)");
        }
    }
    if (turn_state(p.turn) == TURN_READY) {
        turn_close(p.turn, clock_now_usec());
        flush(&p);
    }
    int status = finish(&p);
    turn_free(p.turn);
    g_free(p.error);
    close(p.fd);
    return status;
}
