#include "netcheck_upnp.h"

#include <glib.h>
#include <string.h>

#include "agent/upnpc.h"
#include "common/addr.h"
#include "common/httptext.h"

/* The agent's control point already speaks SSDP: one search, one reader. */
size_t netcheck_upnp_search(char *out, size_t size)
{
    return upnpc_search(out, size);
}

bool netcheck_upnp_location(const uint8_t *answer, size_t len, char url[NETCHECK_UPNP_LOCATION_MAX],
                            uint32_t *ip, uint16_t *port, char path[NETCHECK_UPNP_LOCATION_MAX])
{
    upnpc_url_t u;
    if (!upnpc_ssdp_location(answer, len, &u))
        return false;
    const char *t = (const char *)answer, *v, *ve;
    size_t body = httptext_head_end(t, len);
    if (!httptext_header(t, t + (body ? body : len), "LOCATION", &v, &ve) ||
        (size_t)(ve - v) >= NETCHECK_UPNP_LOCATION_MAX || strlen(u.path) >= NETCHECK_UPNP_LOCATION_MAX)
        return false;
    memcpy(url, v, (size_t)(ve - v));
    url[ve - v] = '\0';
    g_strlcpy(path, u.path, NETCHECK_UPNP_LOCATION_MAX);
    *ip = u.ip;
    *port = u.port;
    return true;
}

bool netcheck_upnp_is_igd(const char *response, size_t len)
{
    g_autofree char *text = g_strndup(response, len);
    return g_str_has_prefix(text, "HTTP/1.") && strstr(text, " 200 ") &&
           strstr(text, "urn:schemas-upnp-org:device:InternetGatewayDevice:") &&
           (strstr(text, "urn:schemas-upnp-org:service:WANIPConnection:") ||
            strstr(text, "urn:schemas-upnp-org:service:WANPPPConnection:"));
}
