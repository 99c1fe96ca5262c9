/* Fuzzes the parsers that came with natsim's TCP: the UPnP IGD core (an SSDP
 * datagram, then the same bytes as an HTTP request, GET or SOAP POST, fed
 * whole and split at every point a first byte picks) against a NAT that
 * offers UPnP, and the STUN-over-TCP framing. Every answer must be a
 * complete HTTP response; nothing may crash or leak.
 * Input: [split:1][request bytes] */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/stun.h"
#include "natsim/nat_upnp.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) \
            abort(); \
    } while (0)

static nat_engine_t *engine(void)
{
    static const char text[] = "[nat]\npreset = openwrt\n";
    nat_profile_t *p = nat_profile_load_data(text, strlen(text), "fuzz", NULL);
    uint32_t ip = ADDR_IP(198, 18, 0, 1);
    nat_engine_t *e = nat_engine_new(p, &ip, 1, 1, 0, NULL);
    nat_profile_free(p);
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t split = data[0];
    data++;
    size--;
    nat_engine_t *e = engine();
    nat_upnp_t *u = nat_upnp_new(ADDR_IP(10, 1, 0, 1), 5000);
    GPtrArray *answers = nat_upnp_ssdp(u, e, data, size);
    if (answers)
        g_ptr_array_unref(answers);

    addr_endpoint_t client = addr_endpoint(ADDR_IP(10, 1, 0, 2), 40000);
    GString *out = g_string_new(NULL);
    /* First only the bytes up to `split` (a request arriving in parts). */
    if (split < size &&
        nat_upnp_http(u, e, client, data, split, false, 1, out) == NAT_UPNP_HTTP_RESPOND)
        CHECK(g_str_has_prefix(out->str, "HTTP/1.1 "));
    g_string_truncate(out, 0);
    nat_upnp_http_result_t r = nat_upnp_http(u, e, client, data, size, true, 2, out);
    CHECK(r == NAT_UPNP_HTTP_RESPOND); /* at end of stream there is always an answer */
    CHECK(g_str_has_prefix(out->str, "HTTP/1.1 "));
    CHECK(strstr(out->str, "\r\n\r\n") != NULL);
    g_string_free(out, TRUE);

    long frame = stun_frame_length(data, size, 2048);
    CHECK(frame <= 2048);
    nat_upnp_free(u);
    nat_engine_free(e);
    return 0;
}
