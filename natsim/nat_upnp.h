/* UPnP IGD server logic (UPnP Device Architecture 1.1, InternetGatewayDevice:1
 * with WANIPConnection:1 and WANCommonInterfaceConfig:1): a pure core on top
 * of the NAT engine. SSDP datagrams and HTTP requests come in as bytes with
 * the client's address and `now`; answers go out as text. No socket, clock
 * or random source.
 *
 * Port mappings are the engine's explicit mappings (nat_engine_map), so they
 * live beside those of NAT-PMP and PCP: UPnP lists every explicit UDP/TCP
 * mapping, and remembers the description of those it made. natsim holds
 * one explicit mapping per internal endpoint (EIM), so a second external
 * port for the same internal endpoint is a conflict (718).
 *
 * Policy (as miniupnpd's secure mode and IGD:2): a client maps and deletes
 * only for its own address (606); the remote host must be the wildcard
 * (726); AddPortMapping gets exactly the external port it asks for or 718;
 * lease 0 means as long as the profile allows (port-mapping-lifetime-max). */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/duration.h"
#include "nat_engine.h"

#define NAT_UPNP_SSDP_GROUP 0xeffffffau /* 239.255.255.250 (UDA 1.1 section 1.1.2) */
#define NAT_UPNP_SSDP_PORT 1900
#define NAT_UPNP_HTTP_PORT 5000
#define NAT_UPNP_HTTP_MAX 16384       /* a request's headers and body, bytes */
#define NAT_UPNP_SSDP_MAX 1500        /* an M-SEARCH datagram, bytes */
#define NAT_UPNP_SSDP_MAX_AGE_S 1800  /* CACHE-CONTROL: UDA asks for at least 1800 s */

/* UPnP error codes (WANIPConnection:1 and :2, UDA 1.1 section 3.2.2). */
enum nat_upnp_error {
    NAT_UPNP_INVALID_ACTION = 401,
    NAT_UPNP_INVALID_ARGS = 402,
    NAT_UPNP_ACTION_FAILED = 501,
    NAT_UPNP_NOT_AUTHORIZED = 606,
    NAT_UPNP_INDEX_INVALID = 713,         /* SpecifiedArrayIndexInvalid */
    NAT_UPNP_NO_SUCH_ENTRY = 714,         /* NoSuchEntryInArray */
    NAT_UPNP_WILDCARD_EXT_PORT = 716,     /* WildCardNotPermittedInExtPort */
    NAT_UPNP_CONFLICT = 718,              /* ConflictInMappingEntry */
    NAT_UPNP_REMOTE_HOST_WILDCARD = 726,  /* RemoteHostOnlySupportsWildcard */
    NAT_UPNP_NO_PORT_MAPS = 728,          /* NoPortMapsAvailable */
};

typedef struct nat_upnp_stats {
    uint64_t ssdp_searches;   /* M-SEARCH datagrams */
    uint64_t ssdp_answered;   /* of those, answered */
    uint64_t ssdp_ignored;    /* other SSDP traffic (NOTIFY, answers), or a search for nothing we are */
    uint64_t ssdp_malformed;  /* M-SEARCH without MAN "ssdp:discover" or ST, garbage */
    uint64_t http_requests;   /* complete or given up */
    uint64_t http_bad;        /* 400: unparsable request */
    uint64_t http_too_large;  /* 413 */
    uint64_t http_not_found;  /* 404 */
    uint64_t http_unsupported; /* 405/501: methods and eventing natsim does not do */
    uint64_t soap_actions;    /* control requests */
    uint64_t soap_faults;     /* of those, answered with a UPnP error */
    uint64_t faults[10];      /* by code: see nat_upnp_stats_json */
    uint64_t mappings_added, mappings_deleted;
} nat_upnp_stats_t;

typedef struct nat_upnp nat_upnp_t;

/* inside_ip (host order) and http_port make the URLs the answers give. */
nat_upnp_t *nat_upnp_new(uint32_t inside_ip, uint16_t http_port);
void nat_upnp_free(nat_upnp_t *upnp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(nat_upnp_t, nat_upnp_free)
/* Forgets every description and starts a new BOOTID; call it with
 * nat_engine_reboot (state loss). */
void nat_upnp_reset(nat_upnp_t *upnp);

/* Answers one SSDP datagram (UDA 1.1 section 1.3.2): an M-SEARCH whose ST
 * names ssdp:all, upnp:rootdevice, one of our UUIDs, device or service types
 * gets one unicast answer per match, returned as strings (NULL: no answer;
 * free with g_ptr_array_unref). Nothing is answered when the profile does
 * not offer UPnP or does not translate. */
GPtrArray *nat_upnp_ssdp(nat_upnp_t *upnp, const nat_engine_t *engine, const uint8_t *req,
                         size_t len);

typedef enum nat_upnp_http_result {
    NAT_UPNP_HTTP_MORE,    /* the request is incomplete: call again with more bytes */
    NAT_UPNP_HTTP_RESPOND, /* `out` holds the whole response; close after sending it */
} nat_upnp_http_result_t;

/* One HTTP request on a connection from `client` (host order): the bytes
 * received so far (all of them, from the first), and whether the peer has
 * shut down its side. GET of the descriptions, POST of SOAP control; the
 * response (with Connection: close) is appended to out. A request larger
 * than NAT_UPNP_HTTP_MAX gets 413, a malformed or truncated one 400. */
nat_upnp_http_result_t nat_upnp_http(nat_upnp_t *upnp, nat_engine_t *engine,
                                     addr_endpoint_t client, const uint8_t *req, size_t len,
                                     bool eof, usec_t now, GString *out);

const nat_upnp_stats_t *nat_upnp_stats(const nat_upnp_t *upnp);
/* The counters as a JSON object text, faults by code. */
char *nat_upnp_stats_json(const nat_upnp_t *upnp);
