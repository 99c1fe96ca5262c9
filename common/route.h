/* The host's routing table as the shells need it. */
#pragma once
#include <stdint.h>

#include "common/addr.h"

/* The gateway (host order) of the IPv4 default route in a /proc/net/route
 * style file; 0 if there is none or the file cannot be read. */
uint32_t route_default_gateway(const char *route_file);
/* The local address the kernel would send from toward `to` (connect() on a
 * UDP socket only looks the route up); 0 or -errno. */
int route_source_toward(addr_endpoint_t to, uint32_t *ip);
