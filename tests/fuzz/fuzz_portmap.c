/* Fuzzes the NAT-PMP/PCP server on port 5351: a sequence of request
 * datagrams from inside hosts against one NAT with both protocols enabled.
 * Input: [len:1 client:1 bytes:len]... (client picks one of 4 inside hosts). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "natsim/nat_pcp.h"
#include "natsim/nat_pmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nat_profile_t *profile = nat_profile_new_preset("cgnat", NULL);
    profile->port_mapping = NAT_PORT_MAPPING_NATPMP | NAT_PORT_MAPPING_PCP;
    profile->port_block = 16;
    profile->port_blocks_max = 2;
    uint32_t ips[2] = { 0xC6120001, 0xC6120002 };
    nat_engine_t *engine = nat_engine_new(profile, ips, 2, 1, 0, NULL);
    nat_pcp_t *pcp = nat_pcp_new();
    uint8_t out[2048];
    usec_t now = 0;
    size_t off = 0;
    while (off + 2 <= size) {
        size_t len = data[off];
        uint32_t host = 0x0A010002 + (data[off + 1] & 3); /* 10.1.0.2-5 */
        off += 2;
        if (len > size - off)
            len = size - off;
        now += 7 * USEC_PER_SEC;
        size_t n = nat_pcp_handle(pcp, engine, addr_endpoint(host, 5350), data + off, len, now, out,
                                  sizeof out);
        if (n > sizeof out)
            abort();
        /* A request ending in 0xAA also reboots the NAT after its answer. */
        bool reboot = len > 0 && data[off + len - 1] == 0xAA;
        off += len;
        if (reboot) {
            nat_engine_reboot(engine, now);
            nat_pcp_reset(pcp);
        }
    }
    nat_engine_expire(engine, now + 48 * USEC_PER_HOUR);
    nat_pcp_free(pcp);
    nat_engine_free(engine);
    nat_profile_free(profile);
    return 0;
}
