/* A minimal rtnetlink client (libmnl) for what a topology needs: veth pairs
 * across namespaces, bridges, link up/master, IPv4 addresses and routes.
 * A socket acts in the network namespace it was opened in. One request at a
 * time, each acknowledged; 0 or -errno, with the kernel's extended-ack text
 * (e.g. "Unknown device type") kept for the error message. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

typedef struct rtnl rtnl_t;

rtnl_t *rtnl_open(void);
void rtnl_close(rtnl_t *rtnl);
/* The kernel's text about the last failure, or "". */
const char *rtnl_last_message(const rtnl_t *rtnl);

/* NAME in the namespace ns_fd, PEER in peer_ns_fd: created directly there. */
int rtnl_veth_add(rtnl_t *rtnl, const char *name, int ns_fd, const char *peer, int peer_ns_fd);
int rtnl_bridge_add(rtnl_t *rtnl, const char *name);
int rtnl_link_up(rtnl_t *rtnl, const char *name);
int rtnl_link_master(rtnl_t *rtnl, const char *name, const char *master);
/* Addresses in host byte order. */
int rtnl_addr_add(rtnl_t *rtnl, const char *dev, uint32_t addr, unsigned prefix_len);
/* dst_len 0: the default route. */
int rtnl_route_add(rtnl_t *rtnl, uint32_t dst, unsigned dst_len, uint32_t gateway);
