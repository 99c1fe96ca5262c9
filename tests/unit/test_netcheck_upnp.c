/* netcheck's UPnP probe, the pure part: the search it sends, the LOCATION
 * it reads, the description it accepts. */
#include <CUnit/Basic.h>
#include <glib.h>
#include <string.h>

#include "common/addr.h"
#include "netcheck/netcheck_upnp.h"
#include "testutil.h"

static void test_search(void)
{
    char out[256];
    size_t n = netcheck_upnp_search(out, sizeof out);
    CU_ASSERT_EQUAL(n, strlen(out));
    CU_ASSERT_TRUE(g_str_has_prefix(out, "M-SEARCH * HTTP/1.1\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\r\nMAN: \"ssdp:discover\"\r\n"));
    CU_ASSERT_TRUE(g_str_has_suffix(out, "\r\n\r\n"));
    CU_ASSERT_EQUAL(netcheck_upnp_search(out, 10), 0);
}

static void test_location(void)
{
    char url[NETCHECK_UPNP_LOCATION_MAX], path[NETCHECK_UPNP_LOCATION_MAX];
    uint32_t ip = 0;
    uint16_t port = 0;
    const char *ok = "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\n"
                     "location:  http://10.1.0.1:5000/rootDesc.xml\r\nST: upnp:rootdevice\r\n\r\n";
    CU_ASSERT_TRUE_FATAL(netcheck_upnp_location((const uint8_t *)ok, strlen(ok), url, &ip, &port, path));
    CU_ASSERT_STRING_EQUAL(url, "http://10.1.0.1:5000/rootDesc.xml");
    CU_ASSERT_EQUAL(ip, ADDR_IP(10, 1, 0, 1));
    CU_ASSERT_EQUAL(port, 5000);
    CU_ASSERT_STRING_EQUAL(path, "/rootDesc.xml");
    const char *no_port = "HTTP/1.1 200 OK\r\nLOCATION: http://192.168.0.1\r\n\r\n";
    CU_ASSERT_TRUE(netcheck_upnp_location((const uint8_t *)no_port, strlen(no_port), url, &ip, &port, path));
    CU_ASSERT_EQUAL(port, 80);
    CU_ASSERT_STRING_EQUAL(path, "/");
    static const char *const bad[] = {
        "NOTIFY * HTTP/1.1\r\nLOCATION: http://10.1.0.1:5000/x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\n\r\n",
        "HTTP/1.1 200 OK\r\nLOCATION: https://10.1.0.1/x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nLOCATION: http://router.lan:5000/x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nLOCATION: http://10.1.0.1:99999/x\r\n\r\n",
        "",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        CU_ASSERT_FALSE(netcheck_upnp_location((const uint8_t *)bad[i], strlen(bad[i]), url, &ip, &port, path));
}

static void test_is_igd(void)
{
    const char *igd = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n<root><deviceType>urn:schemas-upnp-org:"
                      "device:InternetGatewayDevice:1</deviceType><serviceType>urn:schemas-upnp-org:"
                      "service:WANIPConnection:1</serviceType></root>";
    CU_ASSERT_TRUE(netcheck_upnp_is_igd(igd, strlen(igd)));
    const char *tv = "HTTP/1.1 200 OK\r\n\r\n<root><deviceType>urn:schemas-upnp-org:device:MediaRenderer:1"
                     "</deviceType></root>";
    CU_ASSERT_FALSE(netcheck_upnp_is_igd(tv, strlen(tv)));
    const char *missing = "HTTP/1.1 404 Not Found\r\n\r\n";
    CU_ASSERT_FALSE(netcheck_upnp_is_igd(missing, strlen(missing)));
    CU_ASSERT_FALSE(netcheck_upnp_is_igd("", 0));
}

int main(void)
{
    static const test_case_t cases[] = {
        { "M-SEARCH for an IGD", test_search },
        { "LOCATION of an answer", test_location },
        { "an IGD description", test_is_igd },
        { NULL, NULL },
    };
    return test_run_suite("netcheck_upnp", cases);
}
