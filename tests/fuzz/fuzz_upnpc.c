/* Fuzzes the agent's UPnP IGD control point (agent/upnpc): every parser on
 * the raw input, then the state machine fed the input's pieces (split at
 * "\n--\n") as the SSDP answer and the HTTP responses to its requests in
 * turn, with time moving on. Requests must stay within their bound and
 * name the gateway's service; nothing may crash, leak or loop.
 * Input: piece [\n--\n piece]... */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/upnpc.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) \
            abort(); \
    } while (0)

#define GW ADDR_IP(192, 168, 1, 1)

static void parsers(const uint8_t *data, size_t size)
{
    upnpc_url_t url, base = { GW, 5000, "/rootDesc.xml" };
    if (upnpc_url_parse((const char *)data, size, &base, &url))
        CHECK(url.ip && url.port && url.path[0] && strlen(url.path) < UPNPC_PATH_MAX);
    upnpc_ssdp_location(data, size, &url);
    GString *body = g_string_new(NULL);
    int status = upnpc_http_read(data, size, body);
    CHECK(status == -1 || (status >= 100 && status <= 599));
    CHECK(body->len <= size);
    g_string_free(body, TRUE);
    upnpc_service_t svc;
    if (upnpc_description_read((const char *)data, size, &base, &svc))
        CHECK(svc.version > 0 && strlen(svc.type) < UPNPC_TYPE_MAX);
    char arg[64];
    if (upnpc_soap_arg((const char *)data, size, "NewExternalIPAddress", arg, sizeof arg))
        CHECK(strlen(arg) < sizeof arg);
    upnpc_soap_fault((const char *)data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parsers(data, size);

    upnpc_config_t c = { .gateway = GW, .internal = addr_endpoint(ADDR_IP(192, 168, 1, 10), 40000),
                         .lease_s = 120, .description = "fuzz" };
    upnpc_t *u = upnpc_new(&c);
    usec_t now = USEC_PER_SEC;
    upnpc_start(u, now);
    const uint8_t *p = data, *end = data + size;
    unsigned pieces = 0;
    upnpc_output_t o;
    while (pieces < 64) {
        const uint8_t *cut = p;
        while (cut + 4 <= end && memcmp(cut, "\n--\n", 4) != 0)
            cut++;
        if (cut + 4 > end)
            cut = end;
        size_t len = (size_t)(cut - p);
        bool fed = false;
        while (upnpc_pop_output(u, &o)) {
            CHECK(o.len <= UPNPC_REQUEST_MAX);
            if (o.kind == UPNPC_OUT_DATAGRAM && !fed) {
                upnpc_ssdp(u, addr_endpoint(GW, 1900), p, len, now);
                fed = true;
            } else if (o.kind == UPNPC_OUT_HTTP && !fed) {
                CHECK(o.len > 0 && (memcmp(o.data, "GET ", 4) == 0 || memcmp(o.data, "POST ", 5) == 0));
                upnpc_http(u, o.id, p, len, now);
                fed = true;
            }
        }
        pieces++;
        now += 100 * USEC_PER_MSEC * (pieces % 7);
        upnpc_bookkeeping(u, now);
        if (pieces % 5 == 0)
            upnpc_start(u, now);
        if (cut >= end)
            break;
        p = cut + 4;
    }
    upnpc_release(u, now);
    while (upnpc_pop_output(u, &o))
        ;
    upnpc_free(u);
    return 0;
}
