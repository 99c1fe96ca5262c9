#include "route.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/sockaddr.h"

uint32_t route_default_gateway(const char *route_file)
{
    FILE *f = fopen(route_file, "r");
    if (!f)
        return 0;
    char line[512];
    uint32_t gateway = 0;
    /* Iface Destination Gateway Flags RefCnt Use Metric Mask ...: the
     * addresses are the raw network-order words, printed as hex. */
    while (!gateway && fgets(line, sizeof line, f)) {
        char iface[64];
        unsigned dest, gw, flags, refcnt, use, metric, mask;
        if (sscanf(line, "%63s %x %x %x %u %u %u %x", iface, &dest, &gw, &flags, &refcnt, &use,
                   &metric, &mask) != 8)
            continue;
        if (dest == 0 && mask == 0 && (flags & 0x2 /* RTF_GATEWAY */) && (flags & 0x1 /* RTF_UP */))
            gateway = ntohl(gw);
    }
    fclose(f);
    return gateway;
}

int route_source_toward(addr_endpoint_t to, uint32_t *ip)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in sa = sockaddr_from_endpoint(to), me;
    socklen_t len = sizeof me;
    int rc = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(fd, (struct sockaddr *)&me, &len) < 0)
        rc = -errno;
    else
        *ip = ntohl(me.sin_addr.s_addr);
    close(fd);
    return rc;
}
