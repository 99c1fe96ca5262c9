/* The agent's UPnP IGD control point (UDA 1.1, InternetGatewayDevice:1 and
 * :2 with WANIPConnection or WANPPPConnection): one UDP port mapping for
 * the agent's primary socket, beside NAT-PMP and PCP (agent/portmap.h).
 * Pure: SSDP datagrams and HTTP responses come in as bytes with `now`; the
 * SSDP searches and the HTTP requests to make go out (upnpc_pop_output),
 * and the shell (or the sim) carries them. No socket, clock or random
 * source.
 *
 * The steps: M-SEARCH for an IGD (to the group and to the gateway), GET the
 * description at its LOCATION, GetExternalIPAddress, AddAnyPortMapping with
 * a lease (IGD:2; AddPortMapping when the gateway does not know it, as
 * IGD:1 devices), GetSpecificPortMappingEntry to learn the lease the
 * gateway granted (miniupnpd and natsim cap it). Before half the lease is
 * over, GetSpecificPortMappingEntry again: our entry still there is renewed
 * with AddPortMapping; an entry gone (714) means the gateway lost its state
 * (a reboot) and the mapping is re-created on the same external port if it
 * is free, on another one if not. A gateway that stops answering HTTP is
 * searched for again (miniupnpd may come back on another port). */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/duration.h"

#define UPNPC_SSDP_GROUP 0xeffffffau /* 239.255.255.250 (UDA 1.1 section 1.1.2) */
#define UPNPC_SSDP_PORT 1900
#define UPNPC_PATH_MAX 160
#define UPNPC_TYPE_MAX 96
#define UPNPC_REQUEST_MAX 1400       /* any request we make fits one punch output */
#define UPNPC_RESPONSE_MAX 65536     /* a response larger than this is not an IGD's */

/* UPnP error codes a control point acts on (UDA 1.1 section 3.2.2,
 * WANIPConnection:2 section 2.5). */
enum upnpc_error {
    UPNPC_INVALID_ACTION = 401,
    UPNPC_INVALID_ARGS = 402,
    UPNPC_NO_SUCH_ENTRY = 714,
    UPNPC_CONFLICT = 718,
    UPNPC_ONLY_PERMANENT_LEASES = 725,
};

/* ---- the wire, parsed and written -------------------------------------- */

typedef struct upnpc_url {
    uint32_t ip;
    uint16_t port;
    char path[UPNPC_PATH_MAX];
} upnpc_url_t;

/* http://a.b.c.d[:port][/path]; an absolute path alone ("/ctl") when base
 * is given resolves against it. */
bool upnpc_url_parse(const char *text, size_t len, const upnpc_url_t *base, upnpc_url_t *out);

/* The M-SEARCH for an InternetGatewayDevice (UDA 1.1 section 1.3.2), MX 1;
 * its length, 0 if it does not fit. */
size_t upnpc_search(char *out, size_t size);
/* A search answer: HTTP/1.1 200 with a usable LOCATION. */
bool upnpc_ssdp_location(const uint8_t *answer, size_t len, upnpc_url_t *location);

/* An HTTP/1.x response read to the end of the connection: its status, and
 * its body (Content-Length or chunked or to the end) appended to body.
 * -1 when it is not one, or truncated. */
int upnpc_http_read(const uint8_t *data, size_t len, GString *body);

typedef struct upnpc_service {
    char type[UPNPC_TYPE_MAX];   /* urn:schemas-upnp-org:service:WANIPConnection:2 ... */
    unsigned version;
    upnpc_url_t control;
} upnpc_service_t;

/* The WAN connection service of an IGD description: WANIPConnection
 * before WANPPPConnection, the highest version first; controlURL resolved
 * against URLBase or the description's own location. */
bool upnpc_description_read(const char *xml, size_t len, const upnpc_url_t *location,
                            upnpc_service_t *out);

typedef struct upnpc_arg {
    const char *name, *value;
} upnpc_arg_t;

/* A SOAP action as an HTTP POST (UDA 1.1 section 3.2.1); its length, 0 if
 * it does not fit. Values are escaped. */
size_t upnpc_soap_request(char *out, size_t size, const upnpc_service_t *svc, const char *action,
                          const upnpc_arg_t *args, unsigned n_args);
/* An argument of a SOAP response, unescaped; false when absent or longer
 * than size - 1. */
bool upnpc_soap_arg(const char *body, size_t len, const char *name, char *out, size_t size);
/* The errorCode of a UPnPError fault; -1 when there is none. */
int upnpc_soap_fault(const char *body, size_t len);

/* ---- the control point ------------------------------------------------- */

typedef struct upnpc_config {
    uint32_t gateway;            /* SSDP answers are taken from it only */
    addr_endpoint_t internal;    /* the endpoint to map (UDP) */
    uint32_t lease_s;            /* asked for; renewed before half of what is granted */
    const char *description;     /* NewPortMappingDescription */
} upnpc_config_t;

enum upnpc_output_kind {
    UPNPC_OUT_DATAGRAM, /* to, data: an SSDP search */
    UPNPC_OUT_HTTP,     /* id, to, data: a request; its response goes to upnpc_http */
    UPNPC_OUT_MAPPED,   /* external, lease_s, recreated, reason: the mapping (new or renewed) */
    UPNPC_OUT_FAILED,   /* reason: no mapping, and none will come without upnpc_start */
};

typedef struct upnpc_output {
    enum upnpc_output_kind kind;
    unsigned id;
    addr_endpoint_t to, external;
    uint32_t lease_s;            /* granted; 0: permanent */
    bool recreated;              /* the gateway had lost it */
    const char *reason;          /* static text */
    size_t len;
    uint8_t data[UPNPC_REQUEST_MAX];
} upnpc_output_t;

typedef struct upnpc_stats {
    uint64_t searches, answers, requests, responses, faults, timeouts, malformed;
    uint64_t mapped, renewed, recreated;
} upnpc_stats_t;

typedef struct upnpc upnpc_t;

upnpc_t *upnpc_new(const upnpc_config_t *config);
void upnpc_free(upnpc_t *u);
/* Map (searching first if no gateway is known), or, when mapped, check the
 * mapping now and renew or re-create it. Does nothing while busy. */
void upnpc_start(upnpc_t *u, usec_t now);
/* Another protocol won: forget the work under way (late answers are
 * ignored); a mapping held is kept until upnpc_release. */
void upnpc_stop(upnpc_t *u);
/* Delete the mapping held (one DeletePortMapping, not waited for). */
void upnpc_release(upnpc_t *u, usec_t now);
/* A datagram from the SSDP port. */
void upnpc_ssdp(upnpc_t *u, addr_endpoint_t from, const uint8_t *data, size_t len, usec_t now);
/* The whole response of request `id` as read until the server closed;
 * len 0: the exchange failed (refused, reset, timed out). */
void upnpc_http(upnpc_t *u, unsigned id, const uint8_t *data, size_t len, usec_t now);
/* Retries, timeouts, renewals; returns the next deadline (0: none). */
usec_t upnpc_bookkeeping(upnpc_t *u, usec_t now);
bool upnpc_pop_output(upnpc_t *u, upnpc_output_t *out);
bool upnpc_mapped(const upnpc_t *u, addr_endpoint_t *external);
const upnpc_stats_t *upnpc_stats(const upnpc_t *u);
