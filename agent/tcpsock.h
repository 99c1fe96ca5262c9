/* The sockets of TCP punching (agent/tcppunch): one listener and the
 * connections the core numbers, all on the listener's port
 * (SO_REUSEADDR + SO_REUSEPORT, so a connect from it to the peer and the
 * peer's SYN to it are one connection: RFC 793's simultaneous open). A
 * shell: GLib sources, callbacks into the owner. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"

typedef struct tcpsock_callbacks {
    void (*connected)(void *ctx, unsigned id);
    void (*received)(void *ctx, unsigned id, const uint8_t *data, size_t len);
    void (*broken)(void *ctx, unsigned id, const char *reason);
    unsigned (*accepted)(void *ctx, addr_endpoint_t from); /* 0: close it */
    void (*after)(void *ctx); /* after any of the above from the main loop */
} tcpsock_callbacks_t;

typedef struct tcpsock tcpsock_t;

/* A listener on a port the kernel picks (*port). */
tcpsock_t *tcpsock_new(const tcpsock_callbacks_t *callbacks, void *ctx, uint16_t *port,
                       GError **error);
void tcpsock_free(tcpsock_t *t);

/* Connect id (1..TCPPUNCH_CONNS_MAX) to `to` from the listener's port;
 * failures come back through `broken`, never from inside this call. */
void tcpsock_connect(tcpsock_t *t, unsigned id, addr_endpoint_t to);
void tcpsock_send(tcpsock_t *t, unsigned id, const uint8_t *data, size_t len);
void tcpsock_close(tcpsock_t *t, unsigned id);
/* Tell `broken` what failed inside the calls above; true when it did. */
bool tcpsock_report(tcpsock_t *t);
