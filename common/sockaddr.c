#include "sockaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

G_DEFINE_QUARK(natlab-sockaddr-error-quark, sockaddr_error)

struct sockaddr_in sockaddr_from_endpoint(addr_endpoint_t ep)
{
    return (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(ep.port),
                                 .sin_addr.s_addr = htonl(ep.ip) };
}

addr_endpoint_t sockaddr_to_endpoint(const struct sockaddr_in *sa)
{
    return addr_endpoint(ntohl(sa->sin_addr.s_addr), ntohs(sa->sin_port));
}

bool sockaddr_resolve(const char *text, uint16_t default_port, addr_endpoint_t *out,
                      GError **error)
{
    g_autofree char *host = g_strdup(text);
    unsigned long port = default_port;
    char *colon = strrchr(host, ':');
    if (colon) {
        char *end;
        *colon = '\0';
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        if (colon[1] == '\0' || *end != '\0' || errno || port == 0 || port > 65535) {
            g_set_error(error, SOCKADDR_ERROR, SOCKADDR_ERROR_SYNTAX,
                        "'%s': the port must be a number from 1 to 65535", text);
            return false;
        }
    }
    if (host[0] == '\0') {
        g_set_error(error, SOCKADDR_ERROR, SOCKADDR_ERROR_SYNTAX, "'%s': no host name or address",
                    text);
        return false;
    }
    uint32_t ip;
    if (addr_ip_parse(host, &ip)) {
        *out = addr_endpoint(ip, (uint16_t)port);
        return true;
    }
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM }, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        g_set_error(error, SOCKADDR_ERROR, SOCKADDR_ERROR_RESOLVE,
                    "cannot resolve '%s' to an IPv4 address: %s", host,
                    rc ? gai_strerror(rc) : "no address");
        return false;
    }
    *out = sockaddr_to_endpoint((const struct sockaddr_in *)res->ai_addr);
    out->port = (uint16_t)port;
    freeaddrinfo(res);
    return true;
}
