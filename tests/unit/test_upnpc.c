/* The agent's UPnP IGD control point (agent/upnpc): its parsers against
 * the texts gateways send (natsim's, a miniupnpd-style IGD:2 description,
 * chunked bodies, faults, garbage), and its state machine against natsim's
 * own IGD core (natsim/nat_upnp) on made-up time: discovery, mapping,
 * the lease, renewal, re-creation after a reboot, conflicts, an IGD:1
 * gateway without AddAnyPortMapping, silence, and release. */
#include <CUnit/Basic.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "agent/upnpc.h"
#include "natsim/nat_engine.h"
#include "natsim/nat_profile.h"
#include "natsim/nat_upnp.h"
#include "testutil.h"

#define GW ADDR_IP(192, 168, 1, 1)
#define HOST ADDR_IP(192, 168, 1, 10)
#define OTHER ADDR_IP(192, 168, 1, 11)
#define PUBLIC ADDR_IP(203, 0, 113, 7)
#define T0 (5 * USEC_PER_SEC)
#define SEC(s) (T0 + (usec_t)(s) * USEC_PER_SEC)

/* ---- parsers ------------------------------------------------------------ */

static void test_url(void)
{
    upnpc_url_t u, base = { ADDR_IP(10, 0, 0, 1), 5000, "/desc/root.xml" };
    CU_ASSERT(upnpc_url_parse(" http://10.1.0.1:5000/rootDesc.xml\r", 35, NULL, &u));
    CU_ASSERT_EQUAL(u.ip, ADDR_IP(10, 1, 0, 1));
    CU_ASSERT_EQUAL(u.port, 5000);
    CU_ASSERT_STRING_EQUAL(u.path, "/rootDesc.xml");
    CU_ASSERT(upnpc_url_parse("HTTP://10.1.0.1", 15, NULL, &u));
    CU_ASSERT_EQUAL(u.port, 80);
    CU_ASSERT_STRING_EQUAL(u.path, "/");
    CU_ASSERT(upnpc_url_parse("/ctl/IPConn", 11, &base, &u));
    CU_ASSERT_EQUAL(u.ip, base.ip);
    CU_ASSERT_STRING_EQUAL(u.path, "/ctl/IPConn");
    CU_ASSERT(upnpc_url_parse("ctl", 3, &base, &u));
    CU_ASSERT_STRING_EQUAL(u.path, "/desc/ctl");
    upnpc_url_t root = { ADDR_IP(10, 0, 0, 1), 5000, "/rootDesc.xml" };
    CU_ASSERT(upnpc_url_parse("ctl/IPConn", 10, &root, &u));
    CU_ASSERT_STRING_EQUAL(u.path, "/ctl/IPConn");
    static const char *const bad[] = {
        "http://router.lan/", "http://10.0.0.1:0/", "http://10.0.0.1:65536/", "https://10.0.0.1/",
        "http://10.0.0.1/a b", "http://10.0.0.1/a\r\nX: y", "ftp://10.0.0.1/", "http://:80/",
        "http://0.0.0.0/", "",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        bool ok = upnpc_url_parse(bad[i], strlen(bad[i]), NULL, &u);
        if (ok)
            fprintf(stderr, "accepted %s\n", bad[i]);
        CU_ASSERT(!ok);
    }
    CU_ASSERT(!upnpc_url_parse("ctl", 3, NULL, &u)); /* nothing to resolve against */
}

static void test_ssdp(void)
{
    char buf[256];
    size_t n = upnpc_search(buf, sizeof buf);
    CU_ASSERT(n > 0);
    ASSERT_CONTAINS(buf, "MAN: \"ssdp:discover\"\r\n");
    ASSERT_CONTAINS(buf, "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n");
    CU_ASSERT_EQUAL(upnpc_search(buf, 20), 0);

    static const char ok[] = "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\n"
                             "location: http://192.168.1.1:46531/rootDesc.xml\r\nST: x\r\n\r\n";
    upnpc_url_t u;
    CU_ASSERT(upnpc_ssdp_location((const uint8_t *)ok, strlen(ok), &u));
    CU_ASSERT_EQUAL(u.port, 46531);
    static const char *const bad[] = {
        "HTTP/1.1 404 Not Found\r\nLOCATION: http://192.168.1.1/\r\n\r\n",
        "HTTP/1.1 200 OK\r\nST: x\r\n\r\n",
        "NOTIFY * HTTP/1.1\r\nLOCATION: http://192.168.1.1/\r\n\r\n",
        "HTTP/1.1 200 OK\r\nLOCATION: http://gateway/\r\n\r\n",
        "HTTP/1.1",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        CU_ASSERT(!upnpc_ssdp_location((const uint8_t *)bad[i], strlen(bad[i]), &u));
}

static int read_http(const char *text, GString *body)
{
    g_string_truncate(body, 0);
    return upnpc_http_read((const uint8_t *)text, strlen(text), body);
}

static void test_http(void)
{
    g_autoptr(GString) b = g_string_new(NULL);
    CU_ASSERT_EQUAL(read_http("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", b), 200);
    CU_ASSERT_STRING_EQUAL(b->str, "hello");
    CU_ASSERT_EQUAL(read_http("HTTP/1.0 500 Internal Server Error\n\nto the end", b), 500);
    CU_ASSERT_STRING_EQUAL(b->str, "to the end");
    CU_ASSERT_EQUAL(read_http("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n\r\n", b), 200);
    CU_ASSERT_STRING_EQUAL(b->str, "Wikipedia in \r\n\r\nchunks.");
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort",      /* truncated */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", /* chunk cut */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", /* no last chunk */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\n",                                      /* no end of headers */
        "SIP/2.0 200 OK\r\n\r\n",
        "HTTP/1.1 099 X\r\n\r\n",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        int s = read_http(bad[i], b);
        if (s >= 0)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CU_ASSERT_EQUAL(s, -1);
    }
}

/* As miniupnpd writes it for IGD:2 with a PPP and an IP connection, with a
 * URLBase that differs from where the description came from. */
static const char igd2[] =
    "<?xml version=\"1.0\"?><root xmlns=\"urn:schemas-upnp-org:device-1-0\" configId=\"1337\">"
    "<specVersion><major>1</major><minor>1</minor></specVersion>"
    "<URLBase>http://192.168.1.1:1780/</URLBase><device>"
    "<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType><serviceList>"
    "<service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType>"
    "<controlURL>/ctl/L3F</controlURL></service></serviceList><deviceList><device><deviceList><device>"
    "<serviceList><service>\n  <serviceType> urn:schemas-upnp-org:service:WANPPPConnection:1 </serviceType>"
    "<serviceId>urn:upnp-org:serviceId:WANPPPConn1</serviceId><controlURL>/ctl/PPP</controlURL></service>"
    "<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType>"
    "<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><SCPDURL>/WANIPCn.xml</SCPDURL>"
    "<controlURL>ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL></service>"
    "<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>"
    "<controlURL>/ctl/Old</controlURL></service>"
    "</serviceList></device></deviceList></device></deviceList></device></root>";

static void test_description(void)
{
    upnpc_url_t loc = { GW, 5000, "/rootDesc.xml" };
    upnpc_service_t s;
    CU_ASSERT(upnpc_description_read(igd2, strlen(igd2), &loc, &s));
    CU_ASSERT_STRING_EQUAL(s.type, "urn:schemas-upnp-org:service:WANIPConnection:2");
    CU_ASSERT_EQUAL(s.version, 2);
    CU_ASSERT_EQUAL(s.control.port, 1780); /* URLBase, not the location */
    CU_ASSERT_STRING_EQUAL(s.control.path, "/ctl/IPConn");

    /* A PPP connection alone is taken too. */
    static const char ppp[] = "<root><service><serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1"
                              "</serviceType><controlURL>/ppp</controlURL></service></root>";
    CU_ASSERT(upnpc_description_read(ppp, strlen(ppp), &loc, &s));
    CU_ASSERT_STRING_EQUAL(s.control.path, "/ppp");
    CU_ASSERT_EQUAL(s.control.port, 5000);
    static const char *const none[] = {
        "<root><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType>"
        "<controlURL>/x</controlURL></service></root>",
        "<root><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>"
        "</service></root>",
        "<root><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>"
        "<controlURL>/x",
        "<root><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:x</serviceType>"
        "<controlURL>/x</controlURL></service></root>",
        "",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(none); i++)
        CU_ASSERT(!upnpc_description_read(none[i], strlen(none[i]), &loc, &s));
}

static void test_soap(void)
{
    upnpc_service_t s = { "urn:schemas-upnp-org:service:WANIPConnection:1", 1,
                          { GW, 5000, "/ctl/IPConn" } };
    const upnpc_arg_t args[] = { { "NewPortMappingDescription", "a<b & \"c\"" } };
    char buf[UPNPC_REQUEST_MAX];
    size_t n = upnpc_soap_request(buf, sizeof buf, &s, "AddPortMapping", args, 1);
    CU_ASSERT(n > 0 && n == strlen(buf));
    ASSERT_CONTAINS(buf, "POST /ctl/IPConn HTTP/1.1\r\nHOST: 192.168.1.1:5000\r\n");
    ASSERT_CONTAINS(buf, "SOAPACTION: \"urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping\"\r\n");
    ASSERT_CONTAINS(buf, "<NewPortMappingDescription>a&lt;b &amp; &quot;c&quot;</NewPortMappingDescription>");
    const char *body = strstr(buf, "\r\n\r\n") + 4;
    char len[16];
    g_snprintf(len, sizeof len, "%zu\r\n", strlen(body));
    ASSERT_CONTAINS(buf, len);
    CU_ASSERT_EQUAL(upnpc_soap_request(buf, 200, &s, "AddPortMapping", args, 1), 0);

    static const char resp[] = "<s:Envelope><s:Body><u:GetExternalIPAddressResponse xmlns:u=\"x\">"
                               "<NewExternalIPAddress> 203.0.113.7 </NewExternalIPAddress>"
                               "<m:NewX>&lt;&amp;&gt;</m:NewX><NewEmpty/></u:GetExternalIPAddressResponse>"
                               "</s:Body></s:Envelope>";
    char v[32];
    CU_ASSERT(upnpc_soap_arg(resp, strlen(resp), "NewExternalIPAddress", v, sizeof v));
    CU_ASSERT_STRING_EQUAL(v, "203.0.113.7");
    CU_ASSERT(upnpc_soap_arg(resp, strlen(resp), "NewX", v, sizeof v));
    CU_ASSERT_STRING_EQUAL(v, "<&>");
    CU_ASSERT(upnpc_soap_arg(resp, strlen(resp), "NewEmpty", v, sizeof v));
    CU_ASSERT_STRING_EQUAL(v, "");
    CU_ASSERT(!upnpc_soap_arg(resp, strlen(resp), "NewExternalIPAddress", v, 5)); /* too long */
    CU_ASSERT(!upnpc_soap_arg(resp, strlen(resp), "NewExternal", v, sizeof v));
    CU_ASSERT_EQUAL(upnpc_soap_fault(resp, strlen(resp)), -1);
    static const char fault[] = "<s:Fault><detail><UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\">"
                                "<errorCode>718</errorCode></UPnPError></detail></s:Fault>";
    CU_ASSERT_EQUAL(upnpc_soap_fault(fault, strlen(fault)), 718);
}

/* ---- the control point against natsim's IGD ------------------------------ */

typedef struct lab {
    nat_engine_t *engine;
    nat_upnp_t *upnp;
    upnpc_t *client;
    usec_t now;
    bool igd1;            /* answer AddAnyPortMapping with 401, as an IGD:1 gateway */
    bool silent_http;     /* never answer HTTP */
    bool chunked;         /* send responses chunked */
    unsigned http_requests, any_requests, add_requests, delete_requests;
    unsigned mapped, failed, recreated;
    addr_endpoint_t external;
    uint32_t lease_s;
    const char *reason;
} lab_t;

static void lab_init(lab_t *lab, const char *profile_text)
{
    memset(lab, 0, sizeof *lab);
    GError *err = NULL;
    nat_profile_t *p = nat_profile_load_data(profile_text, strlen(profile_text), "test", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    uint32_t ip = PUBLIC;
    lab->engine = nat_engine_new(p, &ip, 1, 7, T0, NULL);
    nat_profile_free(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lab->engine);
    lab->upnp = nat_upnp_new(GW, 5000);
    upnpc_config_t c = { .gateway = GW, .internal = addr_endpoint(HOST, 40000), .lease_s = 120,
                         .description = "natlab agent test" };
    lab->client = upnpc_new(&c);
    lab->now = T0;
}

static void lab_free(lab_t *lab)
{
    upnpc_free(lab->client);
    nat_upnp_free(lab->upnp);
    nat_engine_free(lab->engine);
}

static void chunk(GString *s)
{
    const char *body = strstr(s->str, "\r\n\r\n");
    g_autoptr(GString) c = g_string_new(NULL);
    /* Headers without Content-Length, the body in chunks of 100. */
    g_autofree char *head = g_strndup(s->str, (gsize)(body - s->str));
    g_auto(GStrv) lines = g_strsplit(head, "\r\n", -1);
    for (int i = 0; lines[i]; i++)
        if (g_ascii_strncasecmp(lines[i], "Content-Length", 14) != 0)
            g_string_append_printf(c, "%s\r\n", lines[i]);
    g_string_append(c, "Transfer-Encoding: chunked\r\n\r\n");
    for (const char *p = body + 4; *p;) {
        size_t n = MIN(strlen(p), 100);
        g_string_append_printf(c, "%zx\r\n", n);
        g_string_append_len(c, p, (gssize)n);
        g_string_append(c, "\r\n");
        p += n;
    }
    g_string_append(c, "0\r\n\r\n");
    g_string_assign(s, c->str);
}

/* Carry every output to natsim's IGD and back (answers at once). */
static void pump(lab_t *lab)
{
    upnpc_output_t o;
    while (upnpc_pop_output(lab->client, &o)) {
        switch (o.kind) {
        case UPNPC_OUT_DATAGRAM: {
            g_autoptr(GPtrArray) a = nat_upnp_ssdp(lab->upnp, lab->engine, o.data, o.len);
            if (a && a->len && o.to.ip == UPNPC_SSDP_GROUP) /* one answer is enough */
                upnpc_ssdp(lab->client, addr_endpoint(GW, 1900), (const uint8_t *)a->pdata[0],
                           strlen(a->pdata[0]), lab->now);
            break;
        }
        case UPNPC_OUT_HTTP: {
            lab->http_requests++;
            CU_ASSERT_EQUAL(o.to.ip, GW);
            CU_ASSERT_EQUAL(o.to.port, 5000);
            g_autofree char *req = g_strndup((const char *)o.data, o.len);
            lab->any_requests += strstr(req, "#AddAnyPortMapping\"") != NULL;
            lab->add_requests += strstr(req, "#AddPortMapping\"") != NULL;
            lab->delete_requests += strstr(req, "#DeletePortMapping\"") != NULL;
            if (lab->silent_http)
                break;
            g_autoptr(GString) out = g_string_new(NULL);
            if (lab->igd1 && strstr(req, "#AddAnyPortMapping\"")) {
                static const char fault[] = "<s:Fault><detail><UPnPError><errorCode>401</errorCode>"
                                            "</UPnPError></detail></s:Fault>";
                g_string_printf(out, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: %zu\r\n\r\n%s",
                                strlen(fault), fault);
            } else
                nat_upnp_http(lab->upnp, lab->engine, addr_endpoint(HOST, 50000), o.data, o.len, true,
                              lab->now, out);
            if (lab->chunked)
                chunk(out);
            upnpc_http(lab->client, o.id, (const uint8_t *)out->str, out->len, lab->now);
            break;
        }
        case UPNPC_OUT_MAPPED:
            lab->mapped++;
            lab->recreated += o.recreated;
            lab->external = o.external;
            lab->lease_s = o.lease_s;
            lab->reason = o.reason;
            break;
        case UPNPC_OUT_FAILED:
            lab->failed++;
            lab->reason = o.reason;
            break;
        }
    }
}

/* Run the clock to `until`, stepping through every deadline. */
static void run_until(lab_t *lab, usec_t until)
{
    for (unsigned guard = 0; guard < 10000; guard++) {
        pump(lab);
        usec_t next = upnpc_bookkeeping(lab->client, lab->now);
        pump(lab);
        if (!next || next > until)
            break;
        lab->now = MAX(next, lab->now);
    }
    lab->now = until;
    upnpc_bookkeeping(lab->client, lab->now);
    pump(lab);
}

static bool engine_has(lab_t *lab, uint16_t port, nat_mapping_info_t *info)
{
    return nat_engine_find_explicit(lab->engine, NAT_PROTO_UDP, addr_endpoint(HOST, 40000), lab->now,
                                    info) && info->external.port == port;
}

#define SYM_UPNP "[nat]\npreset = symmetric\nport-mapping = upnp\nport-mapping-lifetime-max = 60s\n"

static void test_map_and_renew(void)
{
    lab_t lab;
    lab_init(&lab, SYM_UPNP);
    lab.chunked = true;
    upnpc_start(lab.client, lab.now);
    run_until(&lab, SEC(1));
    CU_ASSERT_EQUAL(lab.mapped, 1);
    CU_ASSERT_EQUAL(lab.failed, 0);
    CU_ASSERT_EQUAL(lab.any_requests, 1);
    CU_ASSERT_EQUAL(lab.add_requests, 0);
    CU_ASSERT_EQUAL(lab.external.ip, PUBLIC);
    CU_ASSERT_EQUAL(lab.lease_s, 60); /* asked 120, capped by the profile */
    nat_mapping_info_t info;
    CU_ASSERT_FATAL(engine_has(&lab, lab.external.port, &info));
    CU_ASSERT_EQUAL(info.expires_at, T0 + 60 * USEC_PER_SEC);
    /* Renewed before half the lease: at 30 s, again at 60 s, ... */
    unsigned before = lab.http_requests;
    run_until(&lab, SEC(29));
    CU_ASSERT_EQUAL(lab.http_requests, before);
    run_until(&lab, SEC(31));
    CU_ASSERT_EQUAL(lab.http_requests, before + 3); /* check, renew, read the lease */
    CU_ASSERT(engine_has(&lab, lab.external.port, &info));
    CU_ASSERT_EQUAL(info.expires_at, SEC(30) + 60 * USEC_PER_SEC);
    run_until(&lab, SEC(300));
    CU_ASSERT(engine_has(&lab, lab.external.port, &info));
    /* Every renewal reports the mapping again, unchanged, not re-created. */
    CU_ASSERT_EQUAL(lab.mapped, 11);
    CU_ASSERT_EQUAL(lab.recreated, 0);
    CU_ASSERT_EQUAL(upnpc_stats(lab.client)->renewed, 10);
    CU_ASSERT_EQUAL(upnpc_stats(lab.client)->mapped, 1);
    /* Release: DeletePortMapping, and the engine forgets the mapping. */
    upnpc_release(lab.client, lab.now);
    pump(&lab);
    CU_ASSERT_EQUAL(lab.delete_requests, 1);
    CU_ASSERT(!nat_engine_find_explicit(lab.engine, NAT_PROTO_UDP, addr_endpoint(HOST, 40000), lab.now, &info));
    CU_ASSERT(!upnpc_mapped(lab.client, NULL));
    lab_free(&lab);
}

/* A reboot loses the mapping: the next check (here asked for at once, as
 * the agent does when its direct path dies) finds it gone and re-creates
 * it on the same port; if another host took that port meanwhile, on
 * another one. */
static void test_reboot(void)
{
    lab_t lab;
    lab_init(&lab, SYM_UPNP);
    upnpc_start(lab.client, lab.now);
    run_until(&lab, SEC(1));
    CU_ASSERT_EQUAL_FATAL(lab.mapped, 1);
    uint16_t port = lab.external.port;
    nat_engine_reboot(lab.engine, SEC(5));
    nat_upnp_reset(lab.upnp);
    lab.now = SEC(5);
    upnpc_start(lab.client, lab.now);
    pump(&lab);
    CU_ASSERT_EQUAL(lab.mapped, 2);
    CU_ASSERT_EQUAL(lab.recreated, 1);
    CU_ASSERT_PTR_NOT_NULL(lab.reason);
    CU_ASSERT_EQUAL(lab.external.port, port);
    nat_mapping_info_t info;
    CU_ASSERT(engine_has(&lab, port, &info));

    /* Reboot again, and another host maps our port before we look. */
    nat_engine_reboot(lab.engine, SEC(10));
    nat_upnp_reset(lab.upnp);
    nat_map_request_t rq = { .proto = NAT_PROTO_UDP, .internal = addr_endpoint(OTHER, 1234),
                             .suggested_port = port, .lifetime = 60 * USEC_PER_SEC, .prefer_failure = true };
    addr_endpoint_t ext;
    usec_t granted;
    CU_ASSERT_EQUAL_FATAL(nat_engine_map(lab.engine, &rq, SEC(10), &ext, &granted), NAT_MAP_OK);
    CU_ASSERT_EQUAL_FATAL(ext.port, port);
    lab.now = SEC(10);
    upnpc_start(lab.client, lab.now);
    pump(&lab);
    CU_ASSERT_EQUAL(lab.mapped, 3);
    CU_ASSERT_EQUAL(lab.recreated, 2);
    CU_ASSERT_NOT_EQUAL(lab.external.port, port);
    CU_ASSERT(engine_has(&lab, lab.external.port, &info));
    lab_free(&lab);
}

/* An IGD:1 gateway (AddAnyPortMapping unknown: 401) gets AddPortMapping
 * for the internal port. */
static void test_igd1(void)
{
    lab_t lab;
    lab_init(&lab, SYM_UPNP);
    lab.igd1 = true;
    upnpc_start(lab.client, lab.now);
    run_until(&lab, SEC(1));
    CU_ASSERT_EQUAL(lab.mapped, 1);
    CU_ASSERT_EQUAL(lab.any_requests, 1);
    CU_ASSERT_EQUAL(lab.add_requests, 1);
    CU_ASSERT_EQUAL(lab.lease_s, 60);
    CU_ASSERT_EQUAL(lab.external.port, 40000);
    nat_mapping_info_t info;
    CU_ASSERT(engine_has(&lab, 40000, &info));
    /* Its port taken after a reboot: AddPortMapping on other ports (718). */
    nat_engine_reboot(lab.engine, SEC(5));
    nat_upnp_reset(lab.upnp);
    nat_map_request_t rq = { .proto = NAT_PROTO_UDP, .internal = addr_endpoint(OTHER, 1234),
                             .suggested_port = 40000, .lifetime = 60 * USEC_PER_SEC, .prefer_failure = true };
    addr_endpoint_t ext;
    usec_t granted;
    CU_ASSERT_EQUAL_FATAL(nat_engine_map(lab.engine, &rq, SEC(5), &ext, &granted), NAT_MAP_OK);
    lab.now = SEC(5);
    upnpc_start(lab.client, lab.now);
    pump(&lab);
    CU_ASSERT_EQUAL(lab.mapped, 2);
    CU_ASSERT_EQUAL(lab.any_requests, 1); /* never asked again */
    CU_ASSERT_NOT_EQUAL(lab.external.port, 40000);
    CU_ASSERT(engine_has(&lab, lab.external.port, &info));
    lab_free(&lab);
}

/* No IGD: the searches (4, to the group and to the gateway) go unanswered
 * and the client says so within 2 s; a gateway whose HTTP never answers
 * is searched for again, then given up. */
static void test_silence(void)
{
    lab_t lab;
    lab_init(&lab, "[nat]\npreset = symmetric\nport-mapping = pcp\n");
    upnpc_start(lab.client, lab.now);
    run_until(&lab, SEC(3));
    CU_ASSERT_EQUAL(lab.failed, 1);
    CU_ASSERT_EQUAL(upnpc_stats(lab.client)->searches, 4);
    CU_ASSERT_EQUAL(lab.http_requests, 0);
    CU_ASSERT_EQUAL(upnpc_bookkeeping(lab.client, lab.now), 0); /* nothing more on its own */
    lab_free(&lab);

    lab_init(&lab, SYM_UPNP);
    lab.silent_http = true;
    upnpc_start(lab.client, lab.now);
    run_until(&lab, SEC(30));
    CU_ASSERT_EQUAL(lab.mapped, 0);
    CU_ASSERT_EQUAL(lab.failed, 1);
    /* Three tries of the description, three searches. */
    CU_ASSERT_EQUAL(upnpc_stats(lab.client)->timeouts, 9);
    CU_ASSERT_EQUAL(upnpc_stats(lab.client)->searches, 3);
    /* A late answer to a request given up is ignored. */
    upnpc_http(lab.client, 1, (const uint8_t *)"HTTP/1.1 200 OK\r\n\r\n", 19, lab.now);
    pump(&lab);
    CU_ASSERT_EQUAL(lab.mapped, 0);
    lab_free(&lab);
}

/* Garbage where answers should be: counted, never a crash, and the
 * mapping still made when good answers follow. */
static void test_garbage(void)
{
    lab_t lab;
    lab_init(&lab, SYM_UPNP);
    upnpc_start(lab.client, lab.now);
    upnpc_output_t o;
    while (upnpc_pop_output(lab.client, &o))
        ;
    static const char *const junk[] = { "", "HTTP/1.1 200 OK\r\n\r\n", "\x01\x02", "NOTIFY * HTTP/1.1\r\n\r\n" };
    for (size_t i = 0; i < G_N_ELEMENTS(junk); i++)
        upnpc_ssdp(lab.client, addr_endpoint(GW, 1900), (const uint8_t *)junk[i], strlen(junk[i]), lab.now);
    CU_ASSERT_EQUAL(upnpc_stats(lab.client)->malformed, 4);
    /* An answer from another host is not taken. */
    static const char other[] = "HTTP/1.1 200 OK\r\nLOCATION: http://192.168.1.11:80/evil.xml\r\n\r\n";
    upnpc_ssdp(lab.client, addr_endpoint(OTHER, 1900), (const uint8_t *)other, strlen(other), lab.now);
    CU_ASSERT_FALSE(upnpc_pop_output(lab.client, &o));
    run_until(&lab, SEC(2));
    CU_ASSERT_EQUAL(lab.mapped, 1);
    lab_free(&lab);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "URLs", test_url },
        { "SSDP", test_ssdp },
        { "HTTP responses", test_http },
        { "descriptions", test_description },
        { "SOAP", test_soap },
        { "map, renew, release", test_map_and_renew },
        { "reboot: re-created", test_reboot },
        { "IGD:1 gateway", test_igd1 },
        { "silence", test_silence },
        { "garbage", test_garbage },
        { NULL, NULL },
    };
    return test_run_suite("upnpc", cases);
}
