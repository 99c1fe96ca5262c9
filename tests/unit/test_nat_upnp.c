/* UPnP IGD server logic: SSDP searches and SOAP requests written as
 * miniupnpc 2.2.4 sends them (minissdpc.c, minisoap.c, upnpcommands.c),
 * every field of the answers checked, time driven through `now`. */
#include <CUnit/Basic.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "natsim/nat_engine.h"
#include "natsim/nat_upnp.h"
#include "natsim/nat_profile.h"
#include "portmap_fixture.h"
#include "testutil.h"

#define GW_IP ADDR_IP(192, 168, 1, 1)
#define IPCONN "urn:schemas-upnp-org:service:WANIPConnection:1"

typedef struct lab {
    nat_engine_t *engine;
    nat_upnp_t *upnp;
} lab_t;

static lab_t lab_with(const char *preset, unsigned flags, void (*tweak)(nat_profile_t *))
{
    GError *err = NULL;
    nat_profile_t *p = nat_profile_new_preset(preset, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    p->port_mapping = flags;
    if (tweak)
        tweak(p);
    uint32_t ip = PUBLIC_IP;
    lab_t lab = { nat_engine_new(p, &ip, 1, 42, T0, &err), nat_upnp_new(GW_IP, 5000) };
    if (!lab.engine) {
        fprintf(stderr, "nat_engine_new: %s\n", err->message);
        g_error_free(err);
    }
    nat_profile_free(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lab.engine);
    return lab;
}

static lab_t lab_new(void)
{
    return lab_with("home-router", NAT_PORT_MAPPING_UPNP, NULL);
}

static void lab_free(lab_t *lab)
{
    nat_upnp_free(lab->upnp);
    nat_engine_free(lab->engine);
}

/* ---- requests as miniupnpc writes them ---------------------------------- */

static char *msearch(const char *st)
{
    return g_strdup_printf("M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: %s\r\n"
                           "MAN: \"ssdp:discover\"\r\nMX: 2\r\n\r\n", st);
}

static GPtrArray *search(lab_t *lab, const char *st)
{
    g_autofree char *req = msearch(st);
    return nat_upnp_ssdp(lab->upnp, lab->engine, (const uint8_t *)req, strlen(req));
}

/* One HTTP exchange; the status code, the whole response in out. */
static int http(lab_t *lab, uint32_t client, const char *req, usec_t now, GString *out)
{
    g_string_truncate(out, 0);
    nat_upnp_http_result_t r = nat_upnp_http(lab->upnp, lab->engine, addr_endpoint(client, 40000),
                                             (const uint8_t *)req, strlen(req), true, now, out);
    CU_ASSERT_EQUAL(r, NAT_UPNP_HTTP_RESPOND);
    int status = 0;
    if (sscanf(out->str, "HTTP/1.1 %d", &status) != 1)
        return -1;
    /* Content-Length is the body's length. */
    const char *body = strstr(out->str, "\r\n\r\n");
    const char *cl = strstr(out->str, "Content-Length: ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cl);
    CU_ASSERT_EQUAL((size_t)strtoul(cl + 16, NULL, 10), strlen(body + 4));
    CU_ASSERT_PTR_NOT_NULL(strstr(out->str, "\r\nConnection: close\r\n"));
    return status;
}

static char *soap_request_to(const char *path, const char *action, const char *args,
                             const char *service)
{
    g_autofree char *body = g_strdup_printf(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "
        "s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><u:%s xmlns:u=\"%s\">"
        "%s</u:%s></s:Body></s:Envelope>\r\n",
        action, service, args, action);
    return g_strdup_printf("POST %s HTTP/1.1\r\nHost: 192.168.1.1:5000\r\n"
                           "User-Agent: Debian/12, UPnP/1.1, MiniUPnPc/2.2.4\r\n"
                           "Content-Length: %zu\r\nContent-Type: text/xml\r\n"
                           "SOAPAction: \"%s#%s\"\r\nConnection: Close\r\n"
                           "Cache-Control: no-cache\r\nPragma: no-cache\r\n\r\n%s",
                           path, strlen(body), service, action, body);
}

static char *soap_request(const char *action, const char *args, const char *service)
{
    return soap_request_to("/ctl/IPConn", action, args, service);
}

static int soap(lab_t *lab, uint32_t client, const char *action, const char *args, usec_t now,
                GString *out)
{
    g_autofree char *req = soap_request(action, args, IPCONN);
    return http(lab, client, req, now, out);
}

/* The text of <name>...</name> in a response; "" if absent. */
static char *arg(const GString *out, const char *name)
{
    g_autofree char *open = g_strdup_printf("<%s>", name);
    g_autofree char *close = g_strdup_printf("</%s>", name);
    const char *a = strstr(out->str, open);
    const char *b = a ? strstr(a, close) : NULL;
    return a && b ? g_strndup(a + strlen(open), (gsize)(b - a - strlen(open))) : g_strdup("");
}

static int fault_code(const GString *out)
{
    g_autofree char *code = arg(out, "errorCode");
    return atoi(code);
}

static char *add_args(const char *ext, const char *proto, const char *iport, const char *client,
                      const char *desc, const char *lease)
{
    return g_strdup_printf("<NewRemoteHost></NewRemoteHost><NewExternalPort>%s</NewExternalPort>"
                           "<NewProtocol>%s</NewProtocol><NewInternalPort>%s</NewInternalPort>"
                           "<NewInternalClient>%s</NewInternalClient><NewEnabled>1</NewEnabled>"
                           "<NewPortMappingDescription>%s</NewPortMappingDescription>"
                           "<NewLeaseDuration>%s</NewLeaseDuration>",
                           ext, proto, iport, client, desc, lease);
}

static int add(lab_t *lab, uint32_t client, const char *action, const char *ext, const char *proto,
               const char *iport, const char *internal_client, const char *lease, usec_t now,
               GString *out)
{
    g_autofree char *args = add_args(ext, proto, iport, internal_client, "natlab test", lease);
    return soap(lab, client, action, args, now, out);
}

static char *key_args(const char *ext, const char *proto)
{
    return g_strdup_printf("<NewRemoteHost></NewRemoteHost><NewExternalPort>%s</NewExternalPort>"
                           "<NewProtocol>%s</NewProtocol>", ext, proto);
}

static int get_specific(lab_t *lab, const char *ext, const char *proto, usec_t now, GString *out)
{
    g_autofree char *args = key_args(ext, proto);
    return soap(lab, HOST_A, "GetSpecificPortMappingEntry", args, now, out);
}

static int get_generic(lab_t *lab, unsigned index, usec_t now, GString *out)
{
    g_autofree char *args = g_strdup_printf("<NewPortMappingIndex>%u</NewPortMappingIndex>", index);
    return soap(lab, HOST_A, "GetGenericPortMappingEntry", args, now, out);
}

#define CHECK_ARG(out, name, want)                                                                 \
    do {                                                                                           \
        g_autofree char *v_ = arg(out, name);                                                      \
        CU_ASSERT_STRING_EQUAL(v_, want);                                                          \
    } while (0)

/* ---- SSDP ----------------------------------------------------------------- */

static void test_ssdp_igd(void)
{
    lab_t lab = lab_new();
    g_autoptr(GPtrArray) a = search(&lab, "urn:schemas-upnp-org:device:InternetGatewayDevice:1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(a->len, 1);
    const char *r = a->pdata[0];
    CU_ASSERT_TRUE(g_str_has_prefix(r, "HTTP/1.1 200 OK\r\n"));
    CU_ASSERT_TRUE(g_str_has_suffix(r, "\r\n\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "\r\nCACHE-CONTROL: max-age=1800\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "\r\nEXT:\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "\r\nSERVER: Linux UPnP/1.1 natsim/1.0\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "\r\nUSN: uuid:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r, "\r\nBOOTID.UPNP.ORG: 1\r\n"));
    CU_ASSERT_EQUAL(nat_upnp_stats(lab.upnp)->ssdp_answered, 1);
    lab_free(&lab);
}

static void test_ssdp_targets(void)
{
    lab_t lab = lab_new();
    static const struct {
        const char *st;
        unsigned answers;
    } cases[] = {
        { "ssdp:all", 9 },
        { "upnp:rootdevice", 1 },
        { "urn:schemas-upnp-org:service:WANIPConnection:1", 1 },
        { "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1", 1 },
        { "urn:schemas-upnp-org:device:WANDevice:1", 1 },
        { "urn:schemas-upnp-org:device:WANConnectionDevice:1", 1 },
        { "urn:schemas-upnp-org:device:InternetGatewayDevice:2", 0 },
        { "urn:schemas-upnp-org:service:WANPPPConnection:1", 0 },
        { "urn:dial-multiscreen-org:service:dial:1", 0 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GPtrArray) a = search(&lab, cases[i].st);
        CU_ASSERT_EQUAL(a ? a->len : 0, cases[i].answers);
        for (guint k = 0; a && cases[i].answers == 1 && k < a->len; k++) {
            g_autofree char *st = g_strdup_printf("\r\nST: %s\r\n", cases[i].st);
            g_autofree char *usn = g_strdup_printf("::%s\r\n", cases[i].st);
            CU_ASSERT_PTR_NOT_NULL(strstr(a->pdata[k], st));
            CU_ASSERT_PTR_NOT_NULL(strstr(a->pdata[k], usn));
        }
    }
    /* A search for the root device's own uuid: USN is the uuid alone. */
    g_autoptr(GPtrArray) root = search(&lab, "upnp:rootdevice");
    const char *usn = strstr(root->pdata[0], "USN: uuid:");
    g_autofree char *uuid = g_strndup(usn + 5, (gsize)(strstr(usn, "::") - usn - 5));
    g_autoptr(GPtrArray) own = search(&lab, uuid);
    CU_ASSERT_EQUAL_FATAL(own ? own->len : 0, 1);
    g_autofree char *want = g_strdup_printf("\r\nUSN: %s\r\n", uuid);
    CU_ASSERT_PTR_NOT_NULL(strstr(own->pdata[0], want));
    CU_ASSERT_EQUAL(nat_upnp_stats(lab.upnp)->ssdp_ignored, 3);
    lab_free(&lab);
}

static void test_ssdp_dropped(void)
{
    lab_t lab = lab_new();
    static const char *const bad[] = {
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: ssdp:all\r\nMX: 2\r\n\r\n", /* no MAN */
        "M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\n\r\n",                      /* no ST */
        "M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\nMAN: \"ssdp:discover\"\r\n",                    /* unterminated */
        "\x01\x02garbage",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        CU_ASSERT_PTR_NULL(nat_upnp_ssdp(lab.upnp, lab.engine, (const uint8_t *)bad[i], strlen(bad[i])));
    CU_ASSERT_EQUAL(nat_upnp_stats(lab.upnp)->ssdp_malformed, 4);
    /* Other devices' announcements and answers are not answered. */
    const char *notify = "NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n\r\n";
    const char *answer = "HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\n\r\n";
    CU_ASSERT_PTR_NULL(nat_upnp_ssdp(lab.upnp, lab.engine, (const uint8_t *)notify, strlen(notify)));
    CU_ASSERT_PTR_NULL(nat_upnp_ssdp(lab.upnp, lab.engine, (const uint8_t *)answer, strlen(answer)));
    CU_ASSERT_EQUAL(nat_upnp_stats(lab.upnp)->ssdp_ignored, 2);
    lab_free(&lab);
    /* A NAT that does not offer UPnP is silent. */
    lab = lab_with("home-router", NAT_PORT_MAPPING_NATPMP | NAT_PORT_MAPPING_PCP, NULL);
    CU_ASSERT_PTR_NULL(search(&lab, "ssdp:all"));
    lab_free(&lab);
}

/* ---- descriptions --------------------------------------------------------- */

static void test_descriptions(void)
{
    lab_t lab = lab_new();
    g_autoptr(GString) out = g_string_new(NULL);
    CU_ASSERT_EQUAL(http(&lab, HOST_A, "GET /rootDesc.xml HTTP/1.1\r\nHost: 192.168.1.1:5000\r\n"
                                       "Connection: Close\r\n\r\n", SEC(1), out), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(out->str, "Content-Type: text/xml"));
    static const char *const want[] = {
        "<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>",
        "<deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>",
        "<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>",
        "<serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType>",
        "<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>",
        "<SCPDURL>/WANIPCn.xml</SCPDURL><controlURL>/ctl/IPConn</controlURL>"
        "<eventSubURL>/evt/IPConn</eventSubURL>",
        "<friendlyName>natsim NAT (home-router)</friendlyName>",
        "<presentationURL>http://192.168.1.1:5000/</presentationURL>",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(want); i++)
        CU_ASSERT_PTR_NOT_NULL(strstr(out->str, want[i]));
    CU_ASSERT_EQUAL(http(&lab, HOST_A, "GET /WANIPCn.xml HTTP/1.0\r\n\r\n", SEC(1), out), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(out->str, "<action><name>AddPortMapping</name>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out->str, "<action><name>AddAnyPortMapping</name>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out->str, "<allowedValue>TCP</allowedValue><allowedValue>UDP</allowedValue>"));
    CU_ASSERT_EQUAL(http(&lab, HOST_A, "GET /WANCfg.xml HTTP/1.0\r\n\r\n", SEC(1), out), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(out->str, "<name>GetCommonLinkProperties</name>"));
    CU_ASSERT_EQUAL(http(&lab, HOST_A, "GET /etc/passwd HTTP/1.0\r\n\r\n", SEC(1), out), 404);
    CU_ASSERT_EQUAL(http(&lab, HOST_A, "SUBSCRIBE /evt/IPConn HTTP/1.1\r\n\r\n", SEC(1), out), 501);
    CU_ASSERT_EQUAL(http(&lab, HOST_A, "DELETE /rootDesc.xml HTTP/1.1\r\n\r\n", SEC(1), out), 405);
    CU_ASSERT_EQUAL(nat_upnp_stats(lab.upnp)->http_not_found, 1);
    CU_ASSERT_EQUAL(nat_upnp_stats(lab.upnp)->http_unsupported, 2);
    lab_free(&lab);
}

/* ---- SOAP ----------------------------------------------------------------- */

static void test_status_actions(void)
{
    lab_t lab = lab_new();
    g_autoptr(GString) out = g_string_new(NULL);
    CU_ASSERT_EQUAL(soap(&lab, HOST_A, "GetExternalIPAddress", "", SEC(3), out), 200);
    CHECK_ARG(out, "NewExternalIPAddress", "203.0.113.7");
    CU_ASSERT_PTR_NOT_NULL(strstr(out->str, "<u:GetExternalIPAddressResponse xmlns:u=\"" IPCONN "\">"));
    CU_ASSERT_EQUAL(soap(&lab, HOST_A, "GetStatusInfo", "", SEC(3), out), 200);
    CHECK_ARG(out, "NewConnectionStatus", "Connected");
    CHECK_ARG(out, "NewLastConnectionError", "ERROR_NONE");
    CHECK_ARG(out, "NewUptime", "3");
    CU_ASSERT_EQUAL(soap(&lab, HOST_A, "GetConnectionTypeInfo", "", SEC(3), out), 200);
    CHECK_ARG(out, "NewConnectionType", "IP_Routed");
    /* The common interface service, at its own control URL. */
    g_autofree char *cif = soap_request_to("/ctl/CmnIfCfg", "GetCommonLinkProperties", "",
                                           "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1");
    CU_ASSERT_EQUAL(http(&lab, HOST_A, cif, SEC(3), out), 200);
    CHECK_ARG(out, "NewPhysicalLinkStatus", "Up");
    lab_free(&lab);
}

static void test_add_get_delete(void)
{
    lab_t lab = lab_new();
    g_autoptr(GString) out = g_string_new(NULL);
    CU_ASSERT_EQUAL(add(&lab, HOST_A, "AddPortMapping", "6001", "UDP", "5001", "192.168.1.10", "60",
                        SEC(10), out), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(out->str, "<u:AddPortMappingResponse xmlns:u=\"" IPCONN "\"></u:AddPortMappingResponse>"));
    nat_mapping_info_t info;
    CU_ASSERT_TRUE_FATAL(nat_engine_find_explicit(lab.engine, NAT_PROTO_UDP,
                                                  addr_endpoint(HOST_A, 5001), SEC(10), &info));
    CU_ASSERT_TRUE(addr_endpoint_equal(info.external, addr_endpoint(PUBLIC_IP, 6001)));
    CU_ASSERT_EQUAL(info.expires_at, SEC(70));

    CU_ASSERT_EQUAL(get_specific(&lab, "6001", "UDP", SEC(20), out), 200);
    CHECK_ARG(out, "NewInternalPort", "5001");
    CHECK_ARG(out, "NewInternalClient", "192.168.1.10");
    CHECK_ARG(out, "NewEnabled", "1");
    CHECK_ARG(out, "NewPortMappingDescription", "natlab test");
    CHECK_ARG(out, "NewLeaseDuration", "50");
    CU_ASSERT_EQUAL(get_specific(&lab, "6001", "TCP", SEC(20), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_NO_SUCH_ENTRY);
    CU_ASSERT_PTR_NOT_NULL(strstr(out->str, "<errorDescription>NoSuchEntryInArray</errorDescription>"));

    CU_ASSERT_EQUAL(get_generic(&lab, 0, SEC(20), out), 200);
    CHECK_ARG(out, "NewRemoteHost", "");
    CHECK_ARG(out, "NewExternalPort", "6001");
    CHECK_ARG(out, "NewProtocol", "UDP");
    CHECK_ARG(out, "NewInternalPort", "5001");
    CHECK_ARG(out, "NewInternalClient", "192.168.1.10");
    CHECK_ARG(out, "NewPortMappingDescription", "natlab test");
    CU_ASSERT_EQUAL(get_generic(&lab, 1, SEC(20), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_INDEX_INVALID);

    /* Renewal by the owner: same port, new lease, new description kept. */
    g_autofree char *renew = add_args("6001", "udp", "5001", "192.168.1.10", "renewed &amp; kept", "120");
    CU_ASSERT_EQUAL(soap(&lab, HOST_A, "AddPortMapping", renew, SEC(30), out), 200);
    CU_ASSERT_EQUAL(get_specific(&lab, "6001", "UDP", SEC(30), out), 200);
    CHECK_ARG(out, "NewLeaseDuration", "120");
    CHECK_ARG(out, "NewPortMappingDescription", "renewed &amp; kept");

    g_autofree char *key = key_args("6001", "UDP");
    CU_ASSERT_EQUAL(soap(&lab, HOST_A, "DeletePortMapping", key, SEC(40), out), 200);
    CU_ASSERT_FALSE(nat_engine_find_explicit(lab.engine, NAT_PROTO_UDP, addr_endpoint(HOST_A, 5001),
                                             SEC(40), &info));
    CU_ASSERT_EQUAL(soap(&lab, HOST_A, "DeletePortMapping", key, SEC(40), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_NO_SUCH_ENTRY);
    CU_ASSERT_EQUAL(nat_upnp_stats(lab.upnp)->mappings_added, 2);
    CU_ASSERT_EQUAL(nat_upnp_stats(lab.upnp)->mappings_deleted, 1);
    lab_free(&lab);
}

static void test_tcp_beside_udp(void)
{
    lab_t lab = lab_new();
    g_autoptr(GString) out = g_string_new(NULL);
    CU_ASSERT_EQUAL(add(&lab, HOST_A, "AddPortMapping", "6001", "UDP", "5001", "192.168.1.10", "60", SEC(1), out), 200);
    CU_ASSERT_EQUAL(add(&lab, HOST_A, "AddPortMapping", "6001", "TCP", "5001", "192.168.1.10", "60", SEC(1), out), 200);
    nat_mapping_info_t info;
    CU_ASSERT_TRUE(nat_engine_find_explicit(lab.engine, NAT_PROTO_TCP, addr_endpoint(HOST_A, 5001), SEC(1), &info));
    CU_ASSERT_EQUAL(info.external.port, 6001);
    /* Listed TCP first, then UDP. */
    CU_ASSERT_EQUAL(get_generic(&lab, 0, SEC(2), out), 200);
    CHECK_ARG(out, "NewProtocol", "TCP");
    CU_ASSERT_EQUAL(get_generic(&lab, 1, SEC(2), out), 200);
    CHECK_ARG(out, "NewProtocol", "UDP");
    /* Deleting TCP leaves UDP. */
    g_autofree char *key = key_args("6001", "TCP");
    CU_ASSERT_EQUAL(soap(&lab, HOST_A, "DeletePortMapping", key, SEC(3), out), 200);
    CU_ASSERT_EQUAL(get_specific(&lab, "6001", "UDP", SEC(3), out), 200);
    CU_ASSERT_EQUAL(get_specific(&lab, "6001", "TCP", SEC(3), out), 500);
    lab_free(&lab);
}

static void test_conflicts_and_owners(void)
{
    lab_t lab = lab_new();
    g_autoptr(GString) out = g_string_new(NULL);
    CU_ASSERT_EQUAL(add(&lab, HOST_A, "AddPortMapping", "6001", "UDP", "5001", "192.168.1.10", "60", SEC(1), out), 200);
    /* Another host wants the same external port: 718. */
    CU_ASSERT_EQUAL(add(&lab, HOST_B, "AddPortMapping", "6001", "UDP", "5001", "192.168.1.11", "60", SEC(2), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_CONFLICT);
    /* A host maps only for itself: 606. */
    CU_ASSERT_EQUAL(add(&lab, HOST_B, "AddPortMapping", "6002", "UDP", "5002", "192.168.1.10", "60", SEC(2), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_NOT_AUTHORIZED);
    g_autofree char *key = key_args("6001", "UDP");
    CU_ASSERT_EQUAL(soap(&lab, HOST_B, "DeletePortMapping", key, SEC(2), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_NOT_AUTHORIZED);
    /* AddAnyPortMapping moves the other host elsewhere. */
    CU_ASSERT_EQUAL(add(&lab, HOST_B, "AddAnyPortMapping", "6001", "UDP", "5001", "192.168.1.11", "60", SEC(3), out), 200);
    g_autofree char *reserved = arg(out, "NewReservedPort");
    CU_ASSERT_TRUE(atoi(reserved) > 0 && atoi(reserved) != 6001);
    nat_mapping_info_t info;
    CU_ASSERT_TRUE(nat_engine_find_explicit(lab.engine, NAT_PROTO_UDP, addr_endpoint(HOST_B, 5001), SEC(3), &info));
    CU_ASSERT_EQUAL(info.external.port, atoi(reserved));
    /* One external port per internal endpoint: a second one conflicts. */
    CU_ASSERT_EQUAL(add(&lab, HOST_A, "AddPortMapping", "6003", "UDP", "5001", "192.168.1.10", "60", SEC(4), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_CONFLICT);
    /* A port held by a dynamic mapping of another host conflicts too. */
    nat_verdict_t v = nat_engine_outbound(lab.engine, NAT_PROTO_UDP, addr_endpoint(HOST_B, 7000),
                                          REMOTE_1, SEC(5));
    CU_ASSERT_EQUAL_FATAL(v.action, NAT_ACTION_FORWARD);
    g_autofree char *taken = g_strdup_printf("%u", v.src.port);
    CU_ASSERT_EQUAL(add(&lab, HOST_A, "AddPortMapping", taken, "UDP", "5009", "192.168.1.10", "60", SEC(5), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_CONFLICT);
    CU_ASSERT_EQUAL(nat_upnp_stats(lab.upnp)->faults[7], 3); /* 718 */
    lab_free(&lab);
}

static void lifetime_1h(nat_profile_t *p)
{
    p->port_mapping_lifetime_max = USEC_PER_HOUR;
}

static void test_lease(void)
{
    lab_t lab = lab_with("home-router", NAT_PORT_MAPPING_UPNP, lifetime_1h);
    g_autoptr(GString) out = g_string_new(NULL);
    /* Lease 0: as long as possible, that is port-mapping-lifetime-max. */
    CU_ASSERT_EQUAL(add(&lab, HOST_A, "AddPortMapping", "6001", "UDP", "5001", "192.168.1.10", "0", SEC(1), out), 200);
    CU_ASSERT_EQUAL(get_specific(&lab, "6001", "UDP", SEC(1), out), 200);
    CHECK_ARG(out, "NewLeaseDuration", "3600");
    /* A lease longer than the maximum is cut to it. */
    CU_ASSERT_EQUAL(add(&lab, HOST_A, "AddPortMapping", "6002", "UDP", "5002", "192.168.1.10", "999999", SEC(1), out), 200);
    CU_ASSERT_EQUAL(get_specific(&lab, "6002", "UDP", SEC(1), out), 200);
    CHECK_ARG(out, "NewLeaseDuration", "3600");
    /* A 60 s lease is gone after 60 s. */
    CU_ASSERT_EQUAL(add(&lab, HOST_A, "AddPortMapping", "6003", "UDP", "5003", "192.168.1.10", "60", SEC(1), out), 200);
    CU_ASSERT_EQUAL(get_specific(&lab, "6003", "UDP", SEC(60), out), 200);
    CHECK_ARG(out, "NewLeaseDuration", "1");
    CU_ASSERT_EQUAL(get_specific(&lab, "6003", "UDP", SEC(61), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_NO_SUCH_ENTRY);
    CU_ASSERT_EQUAL(get_generic(&lab, 2, SEC(61), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_INDEX_INVALID);
    /* Its port is free again for another host. */
    CU_ASSERT_EQUAL(add(&lab, HOST_B, "AddPortMapping", "6003", "UDP", "5003", "192.168.1.11", "60", SEC(62), out), 200);
    lab_free(&lab);
}

static void quota_1(nat_profile_t *p)
{
    p->port_quota = 1;
}

static void test_quota(void)
{
    lab_t lab = lab_with("home-router", NAT_PORT_MAPPING_UPNP, quota_1);
    g_autoptr(GString) out = g_string_new(NULL);
    CU_ASSERT_EQUAL(add(&lab, HOST_A, "AddPortMapping", "6001", "UDP", "5001", "192.168.1.10", "60", SEC(1), out), 200);
    CU_ASSERT_EQUAL(add(&lab, HOST_A, "AddPortMapping", "6002", "UDP", "5002", "192.168.1.10", "60", SEC(1), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_NO_PORT_MAPS);
    CU_ASSERT_PTR_NOT_NULL(strstr(out->str, "NoPortMapsAvailable"));
    CU_ASSERT_EQUAL(add(&lab, HOST_A, "AddAnyPortMapping", "6002", "UDP", "5002", "192.168.1.10", "60", SEC(1), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_NO_PORT_MAPS);
    lab_free(&lab);
}

static void test_reboot(void)
{
    lab_t lab = lab_new();
    g_autoptr(GString) out = g_string_new(NULL);
    CU_ASSERT_EQUAL(add(&lab, HOST_A, "AddPortMapping", "6001", "UDP", "5001", "192.168.1.10", "600", SEC(1), out), 200);
    nat_engine_reboot(lab.engine, SEC(100));
    nat_upnp_reset(lab.upnp);
    CU_ASSERT_EQUAL(get_generic(&lab, 0, SEC(101), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_INDEX_INVALID);
    CU_ASSERT_EQUAL(soap(&lab, HOST_A, "GetStatusInfo", "", SEC(101), out), 200);
    CHECK_ARG(out, "NewUptime", "1");
    /* A new boot: new BOOTID and device UUIDs, so control points notice. */
    g_autoptr(GPtrArray) a = search(&lab, "upnp:rootdevice");
    CU_ASSERT_PTR_NOT_NULL(strstr(a->pdata[0], "BOOTID.UPNP.ORG: 2\r\n"));
    lab_free(&lab);
}

static void test_invalid_args(void)
{
    lab_t lab = lab_new();
    g_autoptr(GString) out = g_string_new(NULL);
    static const struct {
        const char *ext, *proto, *iport, *client, *lease;
        int code;
    } cases[] = {
        { "6001", "SCTP", "5001", "192.168.1.10", "60", NAT_UPNP_INVALID_ARGS },
        { "70000", "UDP", "5001", "192.168.1.10", "60", NAT_UPNP_INVALID_ARGS },
        { "6001", "UDP", "0", "192.168.1.10", "60", NAT_UPNP_INVALID_ARGS },
        { "6001", "UDP", "5001", "not-an-ip", "60", NAT_UPNP_INVALID_ARGS },
        { "6001", "UDP", "5001", "192.168.1.10", "-1", NAT_UPNP_INVALID_ARGS },
        { "6x01", "UDP", "5001", "192.168.1.10", "60", NAT_UPNP_INVALID_ARGS },
        { "0", "UDP", "5001", "192.168.1.10", "60", NAT_UPNP_WILDCARD_EXT_PORT },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        CU_ASSERT_EQUAL(add(&lab, HOST_A, "AddPortMapping", cases[i].ext, cases[i].proto, cases[i].iport,
                            cases[i].client, cases[i].lease, SEC(1), out), 500);
        CU_ASSERT_EQUAL(fault_code(out), cases[i].code);
    }
    /* A remote host other than the wildcard: 726. */
    const char *remote = "<NewRemoteHost>198.51.100.1</NewRemoteHost><NewExternalPort>6001</NewExternalPort>"
                         "<NewProtocol>UDP</NewProtocol><NewInternalPort>5001</NewInternalPort>"
                         "<NewInternalClient>192.168.1.10</NewInternalClient><NewEnabled>1</NewEnabled>"
                         "<NewPortMappingDescription/><NewLeaseDuration>0</NewLeaseDuration>";
    CU_ASSERT_EQUAL(soap(&lab, HOST_A, "AddPortMapping", remote, SEC(1), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_REMOTE_HOST_WILDCARD);
    /* A missing argument: 402. */
    CU_ASSERT_EQUAL(soap(&lab, HOST_A, "AddPortMapping", "<NewExternalPort>6001</NewExternalPort>", SEC(1), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_INVALID_ARGS);
    /* An action natsim does not have, or a SOAPAction of another service: 401. */
    CU_ASSERT_EQUAL(soap(&lab, HOST_A, "ForceTermination", "", SEC(1), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_INVALID_ACTION);
    g_autofree char *other = soap_request("GetExternalIPAddress", "", "urn:schemas-upnp-org:service:Layer3Forwarding:1");
    CU_ASSERT_EQUAL(http(&lab, HOST_A, other, SEC(1), out), 500);
    CU_ASSERT_EQUAL(fault_code(out), NAT_UPNP_INVALID_ACTION);
    CU_ASSERT_EQUAL(nat_engine_stats(lab.engine)->explicit_created, 0);
    lab_free(&lab);
}

/* ---- malformed HTTP ------------------------------------------------------- */

static void test_http_framing(void)
{
    lab_t lab = lab_new();
    g_autoptr(GString) out = g_string_new(NULL);
    g_autofree char *req = soap_request("GetExternalIPAddress", "", IPCONN);
    addr_endpoint_t client = addr_endpoint(HOST_A, 40000);
    /* Every prefix of a request is "more", the whole one an answer. */
    for (size_t n = 0; n < strlen(req); n++) {
        g_string_truncate(out, 0);
        CU_ASSERT_EQUAL(nat_upnp_http(lab.upnp, lab.engine, client, (const uint8_t *)req, n, false, SEC(1), out),
                        NAT_UPNP_HTTP_MORE);
        CU_ASSERT_EQUAL(out->len, 0);
    }
    CU_ASSERT_EQUAL(nat_upnp_http(lab.upnp, lab.engine, client, (const uint8_t *)req, strlen(req), false, SEC(1), out),
                    NAT_UPNP_HTTP_RESPOND);
    CU_ASSERT_TRUE(g_str_has_prefix(out->str, "HTTP/1.1 200 OK\r\n"));
    /* Truncated at EOF: 400. */
    g_string_truncate(out, 0);
    CU_ASSERT_EQUAL(nat_upnp_http(lab.upnp, lab.engine, client, (const uint8_t *)req, strlen(req) - 5, true, SEC(1), out),
                    NAT_UPNP_HTTP_RESPOND);
    CU_ASSERT_TRUE(g_str_has_prefix(out->str, "HTTP/1.1 400 Bad Request\r\n"));
    static const char *const bad[] = {
        "garbage\r\n\r\n",
        "GET\r\n\r\n",
        "GET rootDesc.xml HTTP/1.1\r\n\r\n",
        "GET /rootDesc.xml SMTP/1.0\r\n\r\n",
        "POST /ctl/IPConn HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n",
        "",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        CU_ASSERT_EQUAL(http(&lab, HOST_A, bad[i], SEC(1), out), 400);
    CU_ASSERT_EQUAL(nat_upnp_stats(lab.upnp)->http_bad, 1 + G_N_ELEMENTS(bad));
    /* Too large: 413, from the headers alone or from Content-Length. */
    g_autoptr(GString) big = g_string_new("GET /rootDesc.xml HTTP/1.1\r\nX: ");
    while (big->len <= NAT_UPNP_HTTP_MAX)
        g_string_append_c(big, 'a');
    g_string_truncate(out, 0);
    CU_ASSERT_EQUAL(nat_upnp_http(lab.upnp, lab.engine, client, (const uint8_t *)big->str, big->len, false, SEC(1), out),
                    NAT_UPNP_HTTP_RESPOND);
    CU_ASSERT_TRUE(g_str_has_prefix(out->str, "HTTP/1.1 413 "));
    CU_ASSERT_EQUAL(http(&lab, HOST_A, "POST /ctl/IPConn HTTP/1.1\r\nContent-Length: 99999\r\n\r\n", SEC(1), out), 413);
    CU_ASSERT_EQUAL(nat_upnp_stats(lab.upnp)->http_too_large, 2);
    lab_free(&lab);
}

static void test_garbage(void)
{
    lab_t lab = lab_new();
    g_autoptr(GString) out = g_string_new(NULL);
    GRand *rand = g_rand_new_with_seed(7);
    uint8_t buf[600];
    const char *seed = "POST /ctl/IPConn HTTP/1.1\r\nContent-Length: 40\r\nSOAPAction: \"" IPCONN
                       "#AddPortMapping\"\r\n\r\n<NewExternalPort>1</NewExternalPort><u:AddPortMapping>";
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)g_rand_int_range(rand, 0, sizeof buf);
        if (i % 2) {
            /* A real request with some bytes flipped. */
            len = MIN(strlen(seed), len);
            memcpy(buf, seed, len);
            for (int k = 0; k < 4 && len; k++)
                buf[g_rand_int_range(rand, 0, (gint32)len)] = (uint8_t)g_rand_int(rand);
        } else {
            for (size_t k = 0; k < len; k++)
                buf[k] = (uint8_t)g_rand_int(rand);
        }
        g_string_truncate(out, 0);
        nat_upnp_http(lab.upnp, lab.engine, addr_endpoint(HOST_A, 1), buf, len, true, SEC(1), out);
        CU_ASSERT_TRUE(g_str_has_prefix(out->str, "HTTP/1.1 "));
        g_autoptr(GPtrArray) a = nat_upnp_ssdp(lab.upnp, lab.engine, buf, len);
    }
    g_rand_free(rand);
    g_autofree char *json = nat_upnp_stats_json(lab.upnp);
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"faults-by-code\":{\"401\":"));
    lab_free(&lab);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "SSDP: IGD search answered field by field", test_ssdp_igd },
        { "SSDP: search targets", test_ssdp_targets },
        { "SSDP: malformed, foreign, not offered", test_ssdp_dropped },
        { "descriptions and HTTP errors", test_descriptions },
        { "status actions", test_status_actions },
        { "add, get, renew, delete", test_add_get_delete },
        { "TCP beside UDP", test_tcp_beside_udp },
        { "conflicts (718) and owners (606)", test_conflicts_and_owners },
        { "lease: 0, capped, expiry", test_lease },
        { "quota: 728", test_quota },
        { "reboot", test_reboot },
        { "invalid args: 402, 716, 726, 401", test_invalid_args },
        { "HTTP framing: more, 400, 413", test_http_framing },
        { "garbage", test_garbage },
        { NULL, NULL },
    };
    return test_run_suite("nat_upnp", cases);
}
