#include "addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool addr_ip_parse(const char *text, uint32_t *out)
{
    struct in_addr in;
    if (!text || inet_pton(AF_INET, text, &in) != 1)
        return false;
    *out = ntohl(in.s_addr);
    return true;
}

bool addr_endpoint_parse(const char *text, addr_endpoint_t *out)
{
    const char *colon = text ? strrchr(text, ':') : NULL;
    if (!colon || colon - text >= ADDR_IP_STRLEN)
        return false;
    char ip[ADDR_IP_STRLEN];
    memcpy(ip, text, (size_t)(colon - text));
    ip[colon - text] = '\0';
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || port > 65535)
        return false;
    if (!addr_ip_parse(ip, &out->ip))
        return false;
    out->port = (uint16_t)port;
    return true;
}

const char *addr_ip_format(uint32_t ip, char buf[ADDR_IP_STRLEN])
{
    snprintf(buf, ADDR_IP_STRLEN, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff,
             (ip >> 8) & 0xff, ip & 0xff);
    return buf;
}

const char *addr_endpoint_format(addr_endpoint_t ep, char buf[ADDR_ENDPOINT_STRLEN])
{
    char ip[ADDR_IP_STRLEN];
    snprintf(buf, ADDR_ENDPOINT_STRLEN, "%s:%u", addr_ip_format(ep.ip, ip), ep.port);
    return buf;
}
