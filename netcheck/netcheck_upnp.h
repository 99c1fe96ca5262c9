/* netcheck's UPnP IGD probe, the pure part: the SSDP search it sends, the
 * LOCATION of an answer, and whether a device description is an IGD with
 * a WAN connection service (what a control point such as miniupnpc needs).
 * The shell sends the search to 239.255.255.250:1900 beside the NAT-PMP/PCP
 * probes and fetches the description over HTTP. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NETCHECK_UPNP_GROUP 0xeffffffau /* 239.255.255.250 */
#define NETCHECK_UPNP_PORT 1900
#define NETCHECK_UPNP_LOCATION_MAX 160

/* The M-SEARCH for an InternetGatewayDevice:1 (UDA 1.1 section 1.3.2);
 * returns its length, 0 if it does not fit. */
size_t netcheck_upnp_search(char *out, size_t size);
/* A search answer (HTTP/1.1 200 with a LOCATION of the form
 * http://a.b.c.d[:port]/path): the URL, its address, port and path. */
bool netcheck_upnp_location(const uint8_t *answer, size_t len, char url[NETCHECK_UPNP_LOCATION_MAX],
                            uint32_t *ip, uint16_t *port, char path[NETCHECK_UPNP_LOCATION_MAX]);
/* An HTTP response carrying an IGD description with a WANIPConnection or
 * WANPPPConnection service. */
bool netcheck_upnp_is_igd(const char *response, size_t len);
