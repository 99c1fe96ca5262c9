#include "route.h"

#include <arpa/inet.h>
#include <stdio.h>

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
