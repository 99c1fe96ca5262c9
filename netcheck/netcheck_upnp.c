#include "netcheck_upnp.h"

#include <glib.h>
#include <string.h>

#include "common/addr.h"

size_t netcheck_upnp_search(char *out, size_t size)
{
    int n = g_snprintf(out, size,
                       "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
                       "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
                       "MAN: \"ssdp:discover\"\r\nMX: 1\r\n\r\n");
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

bool netcheck_upnp_location(const uint8_t *answer, size_t len, char url[NETCHECK_UPNP_LOCATION_MAX],
                            uint32_t *ip, uint16_t *port, char path[NETCHECK_UPNP_LOCATION_MAX])
{
    g_autofree char *text = g_strndup((const char *)answer, len);
    if (!g_str_has_prefix(text, "HTTP/1.1 200"))
        return false;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        char *l = g_strstrip(lines[i]);
        if (g_ascii_strncasecmp(l, "LOCATION:", 9) != 0)
            continue;
        char *v = g_strstrip(l + 9);
        if (strlen(v) >= NETCHECK_UPNP_LOCATION_MAX || !g_str_has_prefix(v, "http://"))
            return false;
        g_strlcpy(url, v, NETCHECK_UPNP_LOCATION_MAX);
        char *host = v + 7;
        char *slash = strchr(host, '/');
        g_strlcpy(path, slash ? slash : "/", NETCHECK_UPNP_LOCATION_MAX);
        if (slash)
            *slash = '\0';
        char *colon = strchr(host, ':');
        unsigned long p = 80;
        if (colon) {
            *colon = '\0';
            char *end = NULL;
            p = strtoul(colon + 1, &end, 10);
            if (!end || *end || p == 0 || p > 65535)
                return false;
        }
        *port = (uint16_t)p;
        return addr_ip_parse(host, ip);
    }
    return false;
}

bool netcheck_upnp_is_igd(const char *response, size_t len)
{
    g_autofree char *text = g_strndup(response, len);
    return g_str_has_prefix(text, "HTTP/1.") && strstr(text, " 200 ") &&
           strstr(text, "urn:schemas-upnp-org:device:InternetGatewayDevice:") &&
           (strstr(text, "urn:schemas-upnp-org:service:WANIPConnection:") ||
            strstr(text, "urn:schemas-upnp-org:service:WANPPPConnection:"));
}
