/* IPv4 endpoints as the cores see them: host byte order, compared as integers. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct addr_endpoint {
    uint32_t ip;
    uint16_t port;
} addr_endpoint_t;

#define ADDR_IP_STRLEN 16
#define ADDR_ENDPOINT_STRLEN 22

bool addr_ip_parse(const char *text, uint32_t *out);
/* "a.b.c.d:port"; the port is required. */
bool addr_endpoint_parse(const char *text, addr_endpoint_t *out);
const char *addr_ip_format(uint32_t ip, char buf[ADDR_IP_STRLEN]);
const char *addr_endpoint_format(addr_endpoint_t ep, char buf[ADDR_ENDPOINT_STRLEN]);

static inline addr_endpoint_t addr_endpoint(uint32_t ip, uint16_t port)
{
    return (addr_endpoint_t){ .ip = ip, .port = port };
}

static inline bool addr_endpoint_equal(addr_endpoint_t a, addr_endpoint_t b)
{
    return a.ip == b.ip && a.port == b.port;
}

#define ADDR_IP(a, b, c, d) \
    (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
