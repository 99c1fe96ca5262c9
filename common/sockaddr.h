/* The shells' bridge between addr_endpoint_t (host order) and the socket
 * API: struct sockaddr_in both ways, and "HOST[:PORT]" resolved to IPv4. */
#pragma once
#include <glib.h>
#include <netinet/in.h>
#include <stdbool.h>

#include "common/addr.h"

#define SOCKADDR_ERROR (sockaddr_error_quark())
GQuark sockaddr_error_quark(void);
enum { SOCKADDR_ERROR_SYNTAX, SOCKADDR_ERROR_RESOLVE };

struct sockaddr_in sockaddr_from_endpoint(addr_endpoint_t ep);
addr_endpoint_t sockaddr_to_endpoint(const struct sockaddr_in *sa);

/* "HOST[:PORT]" (an IPv4 literal or a name with an IPv4 address); the port
 * defaults to default_port. SOCKADDR_ERROR_SYNTAX for a malformed text,
 * SOCKADDR_ERROR_RESOLVE for a name without an address. */
bool sockaddr_resolve(const char *text, uint16_t default_port, addr_endpoint_t *out,
                      GError **error);
