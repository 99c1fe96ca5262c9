/* Fuzzes the router core, the surface that meets every packet from the
 * wire: a sequence of packets, each on one of the three paths, through a
 * NAT chosen by the first byte. Malformed packets must be dropped and
 * counted, never crash; an accepted valid packet must still parse with
 * valid checksums after its rewrite. The first byte's high bits set a short
 * icmp-timeout, so echo mappings expire within one input.
 * Input: [preset][path:1 len:2 bytes:len]... */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/packet.h"
#include "natsim/nat_router.h"

static const char *const presets[] = { "full-cone", "port-restricted-cone", "symmetric",
                                       "home-router", "cgnat", "firewall", "no-nat" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    nat_profile_t *profile = nat_profile_new_preset(presets[data[0] % 7], NULL);
    profile->hairpin = NAT_HAIRPIN_ON;
    profile->icmp_timeout = (usec_t)(1 + (data[0] >> 3)) * 1000;
    uint32_t ips[2] = { 0xC6120001, 0xC6120002 }; /* 198.18.0.1, .2 */
    nat_engine_t *engine = nat_engine_new(profile, ips, 2, 1, 0, NULL);
    nat_router_t *router = nat_router_new(engine, 1);
    usec_t now = 0;
    size_t off = 1;
    uint8_t buf[65536];
    while (off + 3 <= size) {
        nat_router_path_t path = (nat_router_path_t)(data[off] % NAT_ROUTER_PATH_COUNT);
        size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
        off += 3;
        if (len > size - off)
            len = size - off;
        memcpy(buf, data + off, len);
        off += len;
        now += 1000;
        /* UDP checksums are not verified on the way in (a bad one stays bad
         * through the incremental update), so only a valid packet must stay valid. */
        packet_t before;
        bool was_valid = packet_parse(buf, len, &before) && packet_verify_checksums(&before);
        nat_router_decision_t d = nat_router_process(router, path, buf, len, now);
        if (d.action == NAT_ROUTER_HOLD)
            d = nat_router_release(router, path, buf, len, d.release_at);
        if (was_valid && d.action == NAT_ROUTER_ACCEPT && d.rewritten) {
            packet_t pkt;
            /* A packet we accepted and rewrote must be a valid packet still. */
            if (!packet_parse(buf, len, &pkt) || !packet_verify_checksums(&pkt))
                abort();
        }
    }
    nat_engine_expire(engine, now + 3600 * USEC_PER_SEC);
    nat_router_free(router);
    nat_engine_free(engine);
    nat_profile_free(profile);
    return 0;
}
