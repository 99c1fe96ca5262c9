/* The host's routing table as the shells need it. */
#pragma once
#include <stdint.h>

/* The gateway (host order) of the IPv4 default route in a /proc/net/route
 * style file; 0 if there is none or the file cannot be read. */
uint32_t route_default_gateway(const char *route_file);
