/* TCP for `natlab server`: a listening socket on each of the STUN core's
 * endpoints and on the primary address at each extra port (--tcp-ports:
 * 3478 and 443 by default, for networks that let only TCP 80/443 out),
 * connections on the GLib main loop. Each stream carries STUN (RFC 8489
 * section 6.2.2) and framed agentmsgs (common/agentframe.h), split by
 * agentframe_splitter: STUN goes to the STUN core
 * (stun_server_handle_stream), with the connect-backs it asks for
 * (NATLAB-CONNECT-BACK, stun.h); agentmsgs go to the caller's `agent`
 * hooks (the rendezvous core), each connection being one socket index
 * from SERVER_TCP_FIRST_SOCKET up, and server_tcp_send() frames the
 * answers onto the connection. STUN on an extra port is answered as on
 * A1:P1 (its RESPONSE-ORIGIN and OTHER-ADDRESS are A1:P1's; the mapped
 * address, what a client behind a firewall wants, is exact).
 *
 * Bounds: SERVER_TCP_MAX_CONNECTIONS open at once (more are accepted and
 * closed at once, counted), a message of at most AGENTFRAME_STUN_MAX
 * bytes, SERVER_TCP_IDLE_S without a byte (and no connect-back waiting)
 * closes a connection, SERVER_TCP_AGENT_IDLE_S once it has carried an
 * agentmsg. A stream whose head is neither kind of message, or announces a
 * longer one, is closed and counted: its framing is lost. What does not go
 * out at once waits in a per-connection queue of at most
 * SERVER_TCP_MAX_BACKLOG bytes; a message that does not fit is dropped
 * whole (counted), as UDP would lose it, so frames never break.
 *
 * A connect-back: a non-blocking connect() from the address the core names
 * (ephemeral port) with IP_RECVERR set, so that when it fails the error
 * queue tells an ICMP destination unreachable (with its type and code:
 * ee_origin SO_EE_ORIGIN_ICMP) from a TCP RST (ECONNREFUSED and nothing
 * queued): Linux reports ECONNREFUSED for both on a SYN_SENT socket. No
 * raw socket needed. STUN_SERVER_CONNECT_BACK_TIMEOUT_MS without either is
 * a timeout. */
#pragma once
#include <glib.h>

#include "stun_server.h"

#define SERVER_TCP_MAX_CONNECTIONS 256
#define SERVER_TCP_IDLE_S 30
#define SERVER_TCP_AGENT_IDLE_S 90 /* the registration lifetime: keepalives come every 25 s */
#define SERVER_TCP_MAX_BACKLOG 65536
#define SERVER_TCP_MAX_EXTRA_PORTS 8
#define SERVER_TCP_DEFAULT_PORTS "3478,443"
/* Connection socket indices: from here, below here + SERVER_TCP_MAX_CONNECTIONS. */
#define SERVER_TCP_FIRST_SOCKET STUN_SOCKET_COUNT

typedef struct server_tcp_stats {
    uint64_t accepted, refused_full, messages, sent, send_errors;
    uint64_t agent_messages, agent_sent, dropped_backlog;
    uint64_t closed_by_peer, closed_idle, closed_malformed, closed_oversized, closed_error;
    unsigned open, agent_connections; /* open now; of them, those that carried an agentmsg */
} server_tcp_stats_t;

/* Where agentmsgs go: `message` gets each one that arrived on connection
 * `socket` from `from`; `closed` hears that a connection is gone (its
 * index may be reused after). Either may call server_tcp_send(). */
typedef struct server_tcp_agent {
    void (*message)(void *user, unsigned socket, addr_endpoint_t from, const uint8_t *msg,
                    size_t len);
    void (*closed)(void *user, unsigned socket);
    void *user;
} server_tcp_agent_t;

typedef struct server_tcp server_tcp_t;

/* Listens on every endpoint of `stun` (which outlives it) and on its
 * primary address at each of `ports` not already one of them; NULL and
 * *error when one cannot be bound. */
server_tcp_t *server_tcp_new(stun_server_t *stun, const uint16_t *ports, unsigned n_ports,
                             const server_tcp_agent_t *agent, GError **error);
/* Frames `msg` onto connection `socket` if it is open and its peer is `to`;
 * false when it is not, or the message was dropped (counted). */
bool server_tcp_send(server_tcp_t *tcp, unsigned socket, addr_endpoint_t to, const uint8_t *msg,
                     size_t len);
/* The endpoints listened on, in order (the STUN endpoints first). */
unsigned server_tcp_listeners(const server_tcp_t *tcp, addr_endpoint_t *out, unsigned cap);
void server_tcp_free(server_tcp_t *tcp);
const server_tcp_stats_t *server_tcp_stats(const server_tcp_t *tcp);
