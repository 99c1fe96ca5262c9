/* STUN over TCP for `natlab server` (RFC 8489 section 6.2.2): a listening
 * socket on each of the STUN core's endpoints, connections on the GLib main
 * loop, the stream framed here (stun_frame_length) and each whole message
 * handed to the STUN core (stun_server_handle_stream); and the
 * connect-backs the core asks for (NATLAB-CONNECT-BACK, stun.h).
 *
 * Bounds: SERVER_TCP_MAX_CONNECTIONS open at once (more are accepted and
 * closed at once, counted), a message of at most SERVER_TCP_MAX_MESSAGE
 * bytes, SERVER_TCP_IDLE_S without a byte (and no connect-back waiting)
 * closes a connection. A stream whose head is no STUN header, or announces
 * a longer message, is closed and counted: its framing is lost.
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
#define SERVER_TCP_MAX_MESSAGE 2048
#define SERVER_TCP_IDLE_S 30

typedef struct server_tcp_stats {
    uint64_t accepted, refused_full, messages, sent, send_errors;
    uint64_t closed_by_peer, closed_idle, closed_malformed, closed_oversized;
    unsigned open;
} server_tcp_stats_t;

typedef struct server_tcp server_tcp_t;

/* Listens on every endpoint of `stun` (which outlives it); NULL and
 * *error when one cannot be bound. */
server_tcp_t *server_tcp_new(stun_server_t *stun, GError **error);
void server_tcp_free(server_tcp_t *tcp);
const server_tcp_stats_t *server_tcp_stats(const server_tcp_t *tcp);
