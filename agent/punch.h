/* The punching agent's core: registration with the server, one session
 * with a peer, and every way to a direct path (simultaneous punching with
 * peer-reflexive learning, port prediction, birthday probing, NAT-PMP/PCP/UPnP
 * port mappings, LAN candidates and broadcast discovery, hairpin), the relay
 * as the first and the last resort, keepalives, reliable data. Pure:
 * datagrams and `now` in (punch_receive, punch_bookkeeping), datagrams to
 * send, sockets to open and events out (punch_pop_output); randomness from
 * the seed in the config.
 *
 * Sockets are numbered: 0 the primary (server, probes, data, broadcasts
 * sent), 1 the discovery socket (LAN broadcasts received), 2.. the extra
 * sockets of birthday probing, which the core asks for with
 * PUNCH_OUT_OPEN_SOCKETS.
 *
 * TURN (optional, RFC 8656): with `turn_server` set the core owns a TURN
 * client (agent/turn) on a connection of its own that the shell keeps
 * (PUNCH_OUT_TURN out, punch_turn_receive in; UDP or a TCP stream), tells
 * the server its relayed address as a RELAY candidate, and when the peer
 * did too, the relay path runs from our allocation to the peer's instead of
 * through the natlab server's RELAY. Without an allocation (failed, or the
 * peer has none) the relay is natlab's, as without TURN.
 *
 * natlab server over TCP (issue 13): when the server's Binding gets no
 * answer over UDP, the core asks the shell for a TCP stream to the server
 * (PUNCH_OUT_STREAM_CONNECT, the server's port then 443; connected or
 * broken come back through punch_stream_connected / punch_stream_broken,
 * bytes through punch_stream_receive, out as PUNCH_OUT_STREAM_SEND,
 * common/agentframe framing), registers and relays over it and punches
 * nothing. A Binding over UDP every 5 s looks for UDP coming back; when one
 * is answered the agent registers over UDP, closes the stream and punches.
 *
 * Lazy traversal: data goes through the relay as soon as the session
 * exists; punching runs beside it; data moves to a direct path once a probe
 * and its answer crossed on it (both directions proven), and back to the
 * relay when it goes silent. Every DATA is acknowledged and retransmitted
 * until it is, over whatever path is current, so a switch loses nothing. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/agentmsg.h"
#include "common/duration.h"

#define PUNCH_SOCKET_PRIMARY 0
#define PUNCH_SOCKET_DISCOVERY 1
#define PUNCH_SOCKET_BIRTHDAY 2
#define PUNCH_DISCOVERY_PORT 41823     /* LAN broadcasts (ANNOUNCE), as ZeroTier's 9993 */
#define PUNCH_PORTMAP_PORT 5351        /* RFC 6886 / RFC 6887 */
#define PUNCH_KEEPALIVE_DEFAULT (25 * USEC_PER_SEC) /* under RFC 4787 REQ-5's 2 min; ICE Tr >= 15 s */
#define PUNCH_BIRTHDAY_RANGE 64512u    /* ports 1024-65535: what a random allocator draws from */
#define PUNCH_TCP_PORTS_MAX 4
#define PUNCH_TCP_FALLBACK_PORT 443    /* what a corporate firewall lets out (docs/server.md) */

typedef struct punch_config {
    const char *name;
    const char *peer;                 /* NULL: listen (accept sessions, echo data) */
    addr_endpoint_t server;           /* the server's primary socket */
    const uint8_t *secret;            /* the server's shared secret; NULL: none */
    size_t secret_len;
    uint64_t seed;
    uint64_t counter_base;            /* first message counter - 1; the shell passes the wall
                                         clock in µs so a restarted agent's counters keep
                                         rising for the server's replay window */
    usec_t keepalive;                 /* default PUNCH_KEEPALIVE_DEFAULT */
    usec_t probe_interval;            /* between probes to one candidate; default 200 ms */
    usec_t punch_timeout;             /* give up punching after; default 10 s */
    unsigned predict_window;          /* predicted ports per sequential peer; default 16, 0 off */
    unsigned birthday_sockets;        /* default 256, 0 off */
    unsigned birthday_probes;         /* distinct random ports per round; default 1024, 0 off */
    unsigned birthday_rate;           /* probes and socket openings per second; default 1000 */
    bool share_local;                 /* LAN candidates to the server */
    bool broadcast;                   /* LAN discovery by authenticated broadcast */
    bool portmap;                     /* ask the gateway for a NAT-PMP, PCP or UPnP IGD mapping */
    uint32_t gateway;                 /* with portmap; 0: none known */
    uint32_t broadcast_address;       /* where ANNOUNCE goes; 0: 255.255.255.255 */
    addr_endpoint_t local;            /* the primary socket's own address (host candidate) */
    /* TURN: the relay path through a standard TURN server (port 0: none). */
    addr_endpoint_t turn_server;
    bool turn_tcp;                    /* a TCP stream to it (RFC 8656 3.1), else UDP */
    const char *turn_user, *turn_password;
    /* natlab server over TCP when UDP does not reach it: the ports to try
     * in order (n 0: the server's port, then PUNCH_TCP_FALLBACK_PORT). */
    uint16_t server_tcp_ports[PUNCH_TCP_PORTS_MAX];
    unsigned n_server_tcp_ports;
    /* TCP punching (agent/tcppunch): the port of the shell's TCP listener,
     * which every TCP connect binds too (SO_REUSEADDR, SO_REUSEPORT); 0:
     * none, the agent answers offers with "no mapping". */
    uint16_t tcp_punch_port;
    bool tcp_punch;                   /* the shell opens that listener (default on) */
} punch_config_t;

/* Every knob at its default (the values above), the rest zero. */
void punch_config_init(punch_config_t *config);

enum punch_path_kind { PUNCH_PATH_NONE, PUNCH_PATH_RELAY, PUNCH_PATH_DIRECT, PUNCH_PATH_LAN };

enum punch_event_kind {
    PUNCH_EVENT_REGISTERED,
    PUNCH_EVENT_SESSION,
    PUNCH_EVENT_FIRST_BYTE,
    PUNCH_EVENT_DIRECT,
    PUNCH_EVENT_PATH_CHANGED,
    PUNCH_EVENT_RELAY_FALLBACK,
    PUNCH_EVENT_BIRTHDAY,
    PUNCH_EVENT_PORT_MAPPING,
    PUNCH_EVENT_KEEPALIVE,  /* the keepalive interval changed (a mapping outlived by it) */
    PUNCH_EVENT_PUNCH_GAVE_UP,
    PUNCH_EVENT_FAILED,
    PUNCH_EVENT_TURN_ALLOCATED, /* local: mapped, remote: relayed */
    PUNCH_EVENT_TURN_FAILED,    /* reason; the relay is natlab's from now on */
    PUNCH_EVENT_TRANSPORT,      /* the server is reached over `tcp` (remote: its endpoint) or
                                   UDP again; reason */
    PUNCH_EVENT_TCP_PUNCH,      /* attempt (0: the end, `failed`), remote: the peer's TCP
                                   mapping, lead: our SYN after the SYNC, reason */
};

typedef struct punch_event {
    enum punch_event_kind kind;
    usec_t at;
    enum punch_path_kind path, from;  /* FIRST_BYTE, DIRECT, PATH_CHANGED */
    uint8_t technique;                /* DIRECT, PATH_CHANGED */
    addr_endpoint_t local, remote;    /* REGISTERED: mapped; DIRECT: the path; PORT_MAPPING: external */
    usec_t rtt;
    const char *reason;               /* PATH_CHANGED, RELAY_FALLBACK, FAILED: static text */
    const char *peer;                 /* SESSION */
    bool controlling;                 /* SESSION */
    agentmsg_nat_t nat;               /* REGISTERED */
    unsigned n_candidates;            /* SESSION: the peer's */
    agentmsg_candidate_t candidates[AGENTMSG_CANDIDATES_MAX + 1];
    unsigned sockets, probes;         /* BIRTHDAY */
    double expected_p;                /* BIRTHDAY */
    uint32_t lifetime_s, epoch;       /* PORT_MAPPING */
    bool pcp, upnp;                   /* PORT_MAPPING: the protocol (neither: NAT-PMP) */
    usec_t keepalive;                 /* KEEPALIVE */
    bool turn;                        /* FIRST_BYTE, PATH_CHANGED: the relay is TURN's */
    bool tcp;                         /* REGISTERED, TRANSPORT: over the TCP stream;
                                         DIRECT, PATH_CHANGED: a TCP-punched connection */
    unsigned attempt;                 /* TCP_PUNCH */
    usec_t lead;                      /* TCP_PUNCH */
    bool failed;                      /* TCP_PUNCH: it ended without a connection */
} punch_event_t;

enum punch_output_kind {
    PUNCH_OUT_SEND,         /* socket, to, data */
    PUNCH_OUT_OPEN_SOCKETS, /* count: sockets PUNCH_SOCKET_BIRTHDAY .. + count - 1 */
    PUNCH_OUT_EVENT,        /* event */
    PUNCH_OUT_DELIVER,      /* data: a message from the peer, delivered once */
    PUNCH_OUT_HTTP,         /* id, to, data: a UPnP request over TCP to the gateway; the whole
                               response (read until the server closes) goes to
                               punch_http_response */
    PUNCH_OUT_TURN,         /* data: bytes for the TURN server (a datagram over UDP, the
                               stream's next bytes over TCP); its bytes go to
                               punch_turn_receive, its loss to punch_turn_broken */
    PUNCH_OUT_STREAM_CONNECT, /* to: open a TCP stream to natlab server (the one stream: a
                               previous one is closed first); punch_stream_connected when up,
                               punch_stream_broken when refused, reset or closed (the core
                               times the connect itself) */
    PUNCH_OUT_STREAM_SEND,  /* data: the stream's next bytes (whole frames) */
    PUNCH_OUT_STREAM_CLOSE, /* close the stream */
    PUNCH_OUT_TCP_CONNECT,  /* id, to: a TCP connect bound to tcp_punch_port; then
                               punch_tcp_connected / punch_tcp_broken / punch_tcp_receive */
    PUNCH_OUT_TCP_SEND,     /* id, data: connection id's next bytes */
    PUNCH_OUT_TCP_CLOSE,    /* id: close it (it may be still connecting) */
};

/* The largest PUNCH_OUT_* data: a TURN message carrying a peer message. */
#define PUNCH_OUTPUT_MAX 1600

typedef struct punch_output {
    enum punch_output_kind kind;
    unsigned socket, count;
    unsigned id;            /* HTTP, TCP_* */
    addr_endpoint_t to;
    size_t len;
    uint8_t data[PUNCH_OUTPUT_MAX];
    bool echo;              /* DELIVER: an echo of our own data */
    punch_event_t event;
} punch_output_t;

enum punch_drop {
    PUNCH_DROP_MALFORMED,   /* not ours, or a body that does not parse */
    PUNCH_DROP_AUTH,        /* wrong tag: spoofed or another session's */
    PUNCH_DROP_REPLAY,      /* a counter seen before */
    PUNCH_DROP_UNEXPECTED,  /* right key, wrong moment (no session, wrong type) */
    PUNCH_DROP_COUNT,
};

typedef struct punch_stats {
    uint64_t probes_sent, probes_received, acks_received;
    uint64_t data_sent, data_retransmitted, delivered, echoed, relayed_sent;
    uint64_t path_changes, fallbacks, registrations;
    uint64_t turn_sent, turn_received;  /* peer messages through our TURN allocation */
    uint64_t dropped[PUNCH_DROP_COUNT];
} punch_stats_t;

typedef struct punch punch_t;

punch_t *punch_new(const punch_config_t *config, usec_t now);
void punch_free(punch_t *p);

/* A datagram on `socket` from `from`. */
void punch_receive(punch_t *p, unsigned socket, addr_endpoint_t from, const uint8_t *data,
                   size_t len, usec_t now);
/* The response to PUNCH_OUT_HTTP `id`, whole; len 0: the exchange failed. */
void punch_http_response(punch_t *p, unsigned id, const uint8_t *data, size_t len, usec_t now);
/* Bytes from the TURN server (a datagram over UDP, the stream's next bytes
 * over TCP). */
void punch_turn_receive(punch_t *p, const uint8_t *data, size_t len, usec_t now);
/* The connection to the TURN server is gone (refused, closed, reset):
 * `reason` (copied) goes into the turn-failed event. */
void punch_turn_broken(punch_t *p, const char *reason, usec_t now);

/* An ICMP unreachable (port, or administratively prohibited) for a
 * datagram of ours to `to`: for the server's Binding before any answer, UDP
 * is refused and the TCP stream is tried at once. */
void punch_unreachable(punch_t *p, addr_endpoint_t to, usec_t now);

/* natlab server's TCP stream (PUNCH_OUT_STREAM_CONNECT): the handshake
 * completed; bytes from it, however the network cut them; it failed or
 * closed (`reason` copied into the failure text). */
void punch_stream_connected(punch_t *p, usec_t now);
void punch_stream_receive(punch_t *p, const uint8_t *data, size_t len, usec_t now);
void punch_stream_broken(punch_t *p, const char *reason, usec_t now);

/* TCP punching's connections (PUNCH_OUT_TCP_CONNECT, or the listener's):
 * up, broken (reason copied), bytes; an accepted connection gets its id
 * here, 0: close it. */
void punch_tcp_connected(punch_t *p, unsigned id, usec_t now);
void punch_tcp_broken(punch_t *p, unsigned id, const char *reason, usec_t now);
void punch_tcp_receive(punch_t *p, unsigned id, const uint8_t *data, size_t len, usec_t now);
unsigned punch_tcp_accepted(punch_t *p, addr_endpoint_t from, usec_t now);

/* Retransmissions, probes, keepalives, timeouts; returns the next deadline. */
usec_t punch_bookkeeping(punch_t *p, usec_t now);
bool punch_pop_output(punch_t *p, punch_output_t *out);

/* Queue application data for the peer (reliable, in any order); false when
 * there is no session yet or the payload is too large. */
bool punch_send(punch_t *p, const uint8_t *data, size_t len, usec_t now);

/* Tell the peer the session ends (BYE over the current path and the relay). */
void punch_close(punch_t *p, usec_t now);
/* The peer said BYE. */
bool punch_peer_left(const punch_t *p);

const punch_stats_t *punch_stats(const punch_t *p);
bool punch_has_session(const punch_t *p);
/* Every message sent so far was acknowledged. */
bool punch_all_delivered(const punch_t *p);
/* A direct path is up, or punching gave up and the relay carries the session. */
bool punch_settled(const punch_t *p);
bool punch_failed(const punch_t *p);
enum punch_path_kind punch_path(const punch_t *p);
/* The TURN server the connection goes to now: the URI's, or over TCP
 * PUNCH_TCP_FALLBACK_PORT when the URI's port did not answer within 3 s or
 * refused. `connection` (may be NULL) changes whenever the core wants a new
 * connection (that other port, or allocating again after losing one). */
addr_endpoint_t punch_turn_server(const punch_t *p, unsigned *connection);
/* TURN is configured; the relay path (now) runs through it. */
bool punch_turn_configured(const punch_t *p);
bool punch_relay_is_turn(const punch_t *p);
/* natlab server is reached over the TCP stream now. */
bool punch_over_tcp(const punch_t *p);
uint8_t punch_technique(const punch_t *p);
/* Times from punch_new (0: not yet). */
usec_t punch_time_to_first_byte(const punch_t *p);
usec_t punch_time_to_direct(const punch_t *p);

const char *punch_path_name(enum punch_path_kind path);
const char *punch_event_name(enum punch_event_kind kind);
const char *punch_drop_name(enum punch_drop drop);
