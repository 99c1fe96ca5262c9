#include "nat_upnp.h"

#include "common/httptext.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nat_pmp.h"
#include "nat_records.h"

#define UPNP_SERVER "Linux UPnP/1.1 natsim/1.0"
#define URN_DEVICE "urn:schemas-upnp-org:device:"
#define URN_SERVICE "urn:schemas-upnp-org:service:"
#define IGD_TYPE URN_DEVICE "InternetGatewayDevice:1"
#define WAN_DEVICE_TYPE URN_DEVICE "WANDevice:1"
#define WAN_CONN_DEVICE_TYPE URN_DEVICE "WANConnectionDevice:1"
#define IPCONN_TYPE URN_SERVICE "WANIPConnection:1"
#define CIF_TYPE URN_SERVICE "WANCommonInterfaceConfig:1"
#define IPCONN_CONTROL "/ctl/IPConn"
#define CIF_CONTROL "/ctl/CmnIfCfg"
#define UPNP_ARG_MAX 256       /* one argument's text, bytes */
/* WANIPConnection:2 section 2.3.18: a lease longer than a week is cut to one. */
#define UPNP_LEASE_MAX_S 604800u

/* The three devices of the tree (UDA 1.1 section 2.3: one UDN each). */
enum { DEV_ROOT, DEV_WAN, DEV_CONN, DEV_COUNT };

struct nat_upnp {
    uint32_t inside_ip;
    uint16_t http_port;
    uint32_t boot_id; /* BOOTID.UPNP.ORG: changes when state is lost */
    char uuid[DEV_COUNT][48];
    /* The description of each mapping UPnP made (stale when the mapping
     * expired, was deleted or renewed by NAT-PMP or PCP). */
    nat_records_t *records; /* data: the description, a string */
    nat_upnp_stats_t stats;
};

static const uint16_t fault_codes[] = {
    NAT_UPNP_INVALID_ACTION, NAT_UPNP_INVALID_ARGS,      NAT_UPNP_ACTION_FAILED,
    NAT_UPNP_NOT_AUTHORIZED, NAT_UPNP_INDEX_INVALID,     NAT_UPNP_NO_SUCH_ENTRY,
    NAT_UPNP_WILDCARD_EXT_PORT, NAT_UPNP_CONFLICT,       NAT_UPNP_REMOTE_HOST_WILDCARD,
    NAT_UPNP_NO_PORT_MAPS,
};
G_STATIC_ASSERT(G_N_ELEMENTS(fault_codes) == G_N_ELEMENTS(((nat_upnp_stats_t *)0)->faults));

/* ---- life ---------------------------------------------------------------- */

static void make_uuids(nat_upnp_t *u)
{
    /* Stable per router (its inside address) and per boot, so that a control
     * point can tell a rebooted gateway from the one it knew. */
    for (int i = 0; i < DEV_COUNT; i++)
        g_snprintf(u->uuid[i], sizeof u->uuid[i], "4e617473-696d-%04x-8%03x-0000%08x",
                   (unsigned)(u->boot_id & 0xffff), (unsigned)i, u->inside_ip);
}

nat_upnp_t *nat_upnp_new(uint32_t inside_ip, uint16_t http_port)
{
    nat_upnp_t *u = g_new0(nat_upnp_t, 1);
    u->inside_ip = inside_ip;
    u->http_port = http_port;
    u->boot_id = 1;
    u->records = nat_records_new(g_free);
    make_uuids(u);
    return u;
}

void nat_upnp_free(nat_upnp_t *u)
{
    if (!u)
        return;
    nat_records_free(u->records);
    g_free(u);
}

void nat_upnp_reset(nat_upnp_t *u)
{
    nat_records_clear(u->records);
    u->boot_id++;
}

const nat_upnp_stats_t *nat_upnp_stats(const nat_upnp_t *u)
{
    return &u->stats;
}

static bool offered(const nat_engine_t *engine)
{
    const nat_profile_t *p = nat_engine_profile(engine);
    return (p->port_mapping & NAT_PORT_MAPPING_UPNP) && p->type == NAT_TYPE_NAT;
}

/* ---- text helpers -------------------------------------------------------- */

/* The text of the first element named `name` (any namespace prefix) in the
 * body; "" for <name/>; NULL if absent, unterminated or too long. */
static char *xml_arg(const char *body, size_t len, const char *name)
{
    size_t n = strlen(name);
    const char *end = body + len;
    for (const char *p = body; p < end; p++) {
        p = memchr(p, '<', (size_t)(end - p));
        if (!p)
            return NULL;
        const char *tag = p + 1;
        const char *colon = NULL;
        for (const char *q = tag; q < end && q < tag + 32 && *q != '>' && *q != ' ' && *q != '/'; q++)
            if (*q == ':')
                colon = q;
        if (colon)
            tag = colon + 1;
        if ((size_t)(end - tag) <= n || memcmp(tag, name, n) != 0)
            continue;
        const char *after = tag + n;
        while (after < end && (*after == ' ' || *after == '\t' || *after == '\r' || *after == '\n'))
            after++;
        if (after + 1 < end && after[0] == '/' && after[1] == '>')
            return g_strdup("");
        if (after >= end || *after != '>')
            continue;
        const char *value = after + 1;
        const char *close = value;
        while (close < end && *close != '<')
            close++;
        if (close >= end || close + 1 >= end || close[1] != '/')
            return NULL;
        if ((size_t)(close - value) > UPNP_ARG_MAX)
            return NULL;
        return httptext_xml_unescape(value, (size_t)(close - value));
    }
    return NULL;
}

/* A decimal number in [min, max], nothing else around it but blanks. */
static bool parse_uint(const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
    if (!text)
        return false;
    while (*text == ' ')
        text++;
    if (!g_ascii_isdigit(*text))
        return false;
    uint64_t v = 0;
    while (g_ascii_isdigit(*text)) {
        v = v * 10 + (uint64_t)(*text++ - '0');
        if (v > UINT32_MAX)
            return false;
    }
    while (*text == ' ')
        text++;
    if (*text || v < min || v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool parse_proto(const char *text, nat_proto_t *out)
{
    if (text && g_ascii_strcasecmp(text, "UDP") == 0)
        *out = NAT_PROTO_UDP;
    else if (text && g_ascii_strcasecmp(text, "TCP") == 0)
        *out = NAT_PROTO_TCP;
    else
        return false;
    return true;
}

static const char *proto_upper(nat_proto_t proto)
{
    return proto == NAT_PROTO_TCP ? "TCP" : "UDP";
}

/* ---- SSDP ---------------------------------------------------------------- */

/* Every (ST, device) pair we announce, in the order ssdp:all lists them
 * (UDA 1.1 section 1.3.3: root device 3 answers, embedded devices 2,
 * services 1). st NULL stands for the device's own uuid. */
static const struct {
    const char *st;
    int device;
} ssdp_targets[] = {
    { "upnp:rootdevice", DEV_ROOT }, { NULL, DEV_ROOT },   { IGD_TYPE, DEV_ROOT },
    { NULL, DEV_WAN },               { WAN_DEVICE_TYPE, DEV_WAN }, { CIF_TYPE, DEV_WAN },
    { NULL, DEV_CONN },              { WAN_CONN_DEVICE_TYPE, DEV_CONN }, { IPCONN_TYPE, DEV_CONN },
};

static char *ssdp_answer(const nat_upnp_t *u, const char *st, int device)
{
    char ip[ADDR_IP_STRLEN];
    g_autofree char *own = g_strdup_printf("uuid:%s", u->uuid[device]);
    g_autofree char *usn = st ? g_strdup_printf("%s::%s", own, st) : g_strdup(own);
    return g_strdup_printf("HTTP/1.1 200 OK\r\n"
                           "CACHE-CONTROL: max-age=%d\r\n"
                           "EXT:\r\n"
                           "LOCATION: http://%s:%u/rootDesc.xml\r\n"
                           "SERVER: " UPNP_SERVER "\r\n"
                           "ST: %s\r\n"
                           "USN: %s\r\n"
                           "BOOTID.UPNP.ORG: %u\r\n"
                           "CONFIGID.UPNP.ORG: 1\r\n"
                           "\r\n",
                           NAT_UPNP_SSDP_MAX_AGE_S, addr_ip_format(u->inside_ip, ip),
                           u->http_port, st ? st : own, usn, u->boot_id);
}

GPtrArray *nat_upnp_ssdp(nat_upnp_t *u, const nat_engine_t *engine, const uint8_t *req,
                         size_t len)
{
    if (!offered(engine) || !req)
        return NULL;
    const char *text = (const char *)req;
    static const char first[] = "M-SEARCH * HTTP/1.1";
    if (len < sizeof first - 1 || memcmp(text, first, sizeof first - 1) != 0) {
        /* NOTIFY, other devices' answers: SSDP traffic that is not ours. */
        bool ssdp = len >= 6 && (memcmp(text, "NOTIFY", 6) == 0 || memcmp(text, "HTTP/1", 6) == 0);
        if (ssdp)
            u->stats.ssdp_ignored++;
        else
            u->stats.ssdp_malformed++;
        return NULL;
    }
    u->stats.ssdp_searches++;
    size_t body = len > NAT_UPNP_SSDP_MAX ? 0 : httptext_head_end(text, len);
    g_autofree char *man = body ? httptext_header_dup(text, text + body, "MAN") : NULL;
    g_autofree char *st = body ? httptext_header_dup(text, text + body, "ST") : NULL;
    if (!man || strcmp(man, "\"ssdp:discover\"") != 0 || !st || !*st) {
        u->stats.ssdp_malformed++;
        return NULL;
    }
    GPtrArray *answers = g_ptr_array_new_with_free_func(g_free);
    bool all = strcmp(st, "ssdp:all") == 0;
    for (size_t i = 0; i < G_N_ELEMENTS(ssdp_targets); i++) {
        const char *t = ssdp_targets[i].st;
        int dev = ssdp_targets[i].device;
        bool match = all || (t && strcmp(st, t) == 0) ||
                     (!t && g_str_has_prefix(st, "uuid:") && strcmp(st + 5, u->uuid[dev]) == 0);
        if (match)
            g_ptr_array_add(answers, ssdp_answer(u, t, dev));
    }
    if (answers->len == 0) {
        u->stats.ssdp_ignored++;
        g_ptr_array_unref(answers);
        return NULL;
    }
    u->stats.ssdp_answered++;
    return answers;
}

/* ---- descriptions -------------------------------------------------------- */

typedef struct upnp_arg {
    const char *name;
    bool out;
    const char *var; /* relatedStateVariable */
} upnp_arg_t;

typedef struct upnp_action {
    const char *name;
    upnp_arg_t args[10]; /* NULL-terminated: one more than the longest list */
} upnp_action_t;

#define IN(n, v) { n, false, v }
#define OUT(n, v) { n, true, v }
#define PM_ARGS_KEY IN("NewRemoteHost", "RemoteHost"), IN("NewExternalPort", "ExternalPort"), \
    IN("NewProtocol", "PortMappingProtocol")
#define PM_ARGS_ADD PM_ARGS_KEY, IN("NewInternalPort", "InternalPort"), \
    IN("NewInternalClient", "InternalClient"), IN("NewEnabled", "PortMappingEnabled"), \
    IN("NewPortMappingDescription", "PortMappingDescription"), \
    IN("NewLeaseDuration", "PortMappingLeaseDuration")

/* WANIPConnection:1 section 2.4, as far as natsim implements it, plus
 * AddAnyPortMapping from :2 (section 2.5.16), which IGD:1 clients ignore. */
static const upnp_action_t ipconn_actions[] = {
    { "GetConnectionTypeInfo", { OUT("NewConnectionType", "ConnectionType"),
                                 OUT("NewPossibleConnectionTypes", "PossibleConnectionTypes") } },
    { "GetStatusInfo", { OUT("NewConnectionStatus", "ConnectionStatus"),
                         OUT("NewLastConnectionError", "LastConnectionError"),
                         OUT("NewUptime", "Uptime") } },
    { "GetNATRSIPStatus", { OUT("NewRSIPAvailable", "RSIPAvailable"),
                            OUT("NewNATEnabled", "NATEnabled") } },
    { "GetGenericPortMappingEntry",
      { IN("NewPortMappingIndex", "PortMappingNumberOfEntries"), OUT("NewRemoteHost", "RemoteHost"),
        OUT("NewExternalPort", "ExternalPort"), OUT("NewProtocol", "PortMappingProtocol"),
        OUT("NewInternalPort", "InternalPort"), OUT("NewInternalClient", "InternalClient"),
        OUT("NewEnabled", "PortMappingEnabled"),
        OUT("NewPortMappingDescription", "PortMappingDescription"),
        OUT("NewLeaseDuration", "PortMappingLeaseDuration") } },
    { "GetSpecificPortMappingEntry",
      { PM_ARGS_KEY, OUT("NewInternalPort", "InternalPort"),
        OUT("NewInternalClient", "InternalClient"), OUT("NewEnabled", "PortMappingEnabled"),
        OUT("NewPortMappingDescription", "PortMappingDescription"),
        OUT("NewLeaseDuration", "PortMappingLeaseDuration") } },
    { "AddPortMapping", { PM_ARGS_ADD } },
    { "AddAnyPortMapping", { PM_ARGS_ADD, OUT("NewReservedPort", "ExternalPort") } },
    { "DeletePortMapping", { PM_ARGS_KEY } },
    { "GetExternalIPAddress", { OUT("NewExternalIPAddress", "ExternalIPAddress") } },
};

static const upnp_action_t cif_actions[] = {
    { "GetCommonLinkProperties",
      { OUT("NewWANAccessType", "WANAccessType"),
        OUT("NewLayer1UpstreamMaxBitRate", "Layer1UpstreamMaxBitRate"),
        OUT("NewLayer1DownstreamMaxBitRate", "Layer1DownstreamMaxBitRate"),
        OUT("NewPhysicalLinkStatus", "PhysicalLinkStatus") } },
    { "GetTotalBytesSent", { OUT("NewTotalBytesSent", "TotalBytesSent") } },
    { "GetTotalBytesReceived", { OUT("NewTotalBytesReceived", "TotalBytesReceived") } },
    { "GetTotalPacketsSent", { OUT("NewTotalPacketsSent", "TotalPacketsSent") } },
    { "GetTotalPacketsReceived", { OUT("NewTotalPacketsReceived", "TotalPacketsReceived") } },
};

/* name, dataType, allowed values ("" none), sendEvents */
static const char *const ipconn_vars[][4] = {
    { "ConnectionType", "string", "", "no" },
    { "PossibleConnectionTypes", "string", "IP_Routed", "yes" },
    { "ConnectionStatus", "string", "Connected", "yes" },
    { "Uptime", "ui4", "", "no" },
    { "LastConnectionError", "string", "ERROR_NONE", "no" },
    { "RSIPAvailable", "boolean", "", "no" },
    { "NATEnabled", "boolean", "", "no" },
    { "ExternalIPAddress", "string", "", "yes" },
    { "PortMappingNumberOfEntries", "ui2", "", "yes" },
    { "PortMappingEnabled", "boolean", "", "no" },
    { "PortMappingLeaseDuration", "ui4", "", "no" },
    { "RemoteHost", "string", "", "no" },
    { "ExternalPort", "ui2", "", "no" },
    { "InternalPort", "ui2", "", "no" },
    { "PortMappingProtocol", "string", "TCP,UDP", "no" },
    { "InternalClient", "string", "", "no" },
    { "PortMappingDescription", "string", "", "no" },
};

static const char *const cif_vars[][4] = {
    { "WANAccessType", "string", "Ethernet", "no" },
    { "Layer1UpstreamMaxBitRate", "ui4", "", "no" },
    { "Layer1DownstreamMaxBitRate", "ui4", "", "no" },
    { "PhysicalLinkStatus", "string", "Up", "yes" },
    { "TotalBytesSent", "ui4", "", "no" },
    { "TotalBytesReceived", "ui4", "", "no" },
    { "TotalPacketsSent", "ui4", "", "no" },
    { "TotalPacketsReceived", "ui4", "", "no" },
};

static void scpd(GString *s, const upnp_action_t *actions, size_t n_actions,
                 const char *const (*vars)[4], size_t n_vars)
{
    g_string_append(s, "<?xml version=\"1.0\"?>\r\n<scpd xmlns=\"urn:schemas-upnp-org:service-1-0\">"
                       "<specVersion><major>1</major><minor>0</minor></specVersion><actionList>");
    for (size_t i = 0; i < n_actions; i++) {
        g_string_append_printf(s, "<action><name>%s</name><argumentList>", actions[i].name);
        for (const upnp_arg_t *a = actions[i].args; a->name; a++)
            g_string_append_printf(s, "<argument><name>%s</name><direction>%s</direction>"
                                      "<relatedStateVariable>%s</relatedStateVariable></argument>",
                                   a->name, a->out ? "out" : "in", a->var);
        g_string_append(s, "</argumentList></action>");
    }
    g_string_append(s, "</actionList><serviceStateTable>");
    for (size_t i = 0; i < n_vars; i++) {
        g_string_append_printf(s, "<stateVariable sendEvents=\"%s\"><name>%s</name><dataType>%s</dataType>",
                               vars[i][3], vars[i][0], vars[i][1]);
        if (*vars[i][2]) {
            g_auto(GStrv) values = g_strsplit(vars[i][2], ",", -1);
            g_string_append(s, "<allowedValueList>");
            for (int k = 0; values[k]; k++)
                g_string_append_printf(s, "<allowedValue>%s</allowedValue>", values[k]);
            g_string_append(s, "</allowedValueList>");
        }
        g_string_append(s, "</stateVariable>");
    }
    g_string_append(s, "</serviceStateTable></scpd>\r\n");
}

/* UDA 1.1 section 2.3 and IGD:1: InternetGatewayDevice -> WANDevice
 * (WANCommonInterfaceConfig) -> WANConnectionDevice (WANIPConnection). */
static void root_description(const nat_upnp_t *u, const nat_engine_t *engine, GString *s)
{
    char ip[ADDR_IP_STRLEN];
    addr_ip_format(u->inside_ip, ip);
    const char *name = nat_engine_profile(engine)->name;
    g_string_append_printf(
        s,
        "<?xml version=\"1.0\"?>\r\n<root xmlns=\"urn:schemas-upnp-org:device-1-0\">"
        "<specVersion><major>1</major><minor>0</minor></specVersion>"
        "<device><deviceType>" IGD_TYPE "</deviceType><friendlyName>natsim NAT (");
    httptext_xml_escape(s, name ? name : "profile");
    g_string_append_printf(
        s,
        ")</friendlyName><manufacturer>natlab</manufacturer><modelDescription>natsim userspace "
        "NAT</modelDescription><modelName>natsim</modelName><modelNumber>1</modelNumber>"
        "<UDN>uuid:%s</UDN><deviceList>"
        "<device><deviceType>" WAN_DEVICE_TYPE "</deviceType><friendlyName>WANDevice</friendlyName>"
        "<manufacturer>natlab</manufacturer><modelName>natsim</modelName><UDN>uuid:%s</UDN>"
        "<serviceList><service><serviceType>" CIF_TYPE "</serviceType>"
        "<serviceId>urn:upnp-org:serviceId:WANCommonIFC1</serviceId>"
        "<SCPDURL>/WANCfg.xml</SCPDURL><controlURL>" CIF_CONTROL "</controlURL>"
        "<eventSubURL>/evt/CmnIfCfg</eventSubURL></service></serviceList><deviceList>"
        "<device><deviceType>" WAN_CONN_DEVICE_TYPE "</deviceType>"
        "<friendlyName>WANConnectionDevice</friendlyName><manufacturer>natlab</manufacturer>"
        "<modelName>natsim</modelName><UDN>uuid:%s</UDN>"
        "<serviceList><service><serviceType>" IPCONN_TYPE "</serviceType>"
        "<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>"
        "<SCPDURL>/WANIPCn.xml</SCPDURL><controlURL>" IPCONN_CONTROL "</controlURL>"
        "<eventSubURL>/evt/IPConn</eventSubURL></service></serviceList>"
        "</device></deviceList></device></deviceList>"
        "<presentationURL>http://%s:%u/</presentationURL></device></root>\r\n",
        u->uuid[DEV_ROOT], u->uuid[DEV_WAN], u->uuid[DEV_CONN], ip, u->http_port);
}

/* ---- HTTP ---------------------------------------------------------------- */

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    default: return "Error";
    }
}

static void http_response(GString *out, int status, const char *type, const char *body,
                          size_t body_len, bool head_only)
{
    g_string_append_printf(out, "HTTP/1.1 %d %s\r\nServer: " UPNP_SERVER "\r\n", status,
                           status_text(status));
    if (type)
        g_string_append_printf(out, "Content-Type: %s\r\n", type);
    if (status == 200 && type && g_str_has_prefix(type, "text/xml"))
        g_string_append(out, "EXT:\r\n");
    g_string_append_printf(out, "Content-Length: %zu\r\nConnection: close\r\n\r\n", body_len);
    if (!head_only)
        g_string_append_len(out, body, (gssize)body_len);
}

static void http_error(GString *out, int status)
{
    g_autofree char *body = g_strdup_printf("<html><body><h1>%d %s</h1></body></html>\r\n", status,
                                            status_text(status));
    http_response(out, status, "text/html", body, strlen(body), false);
}

#define XML_TYPE "text/xml; charset=\"utf-8\""
#define ENVELOPE_OPEN "<?xml version=\"1.0\"?>\r\n<s:Envelope " \
    "xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" " \
    "s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>"
#define ENVELOPE_CLOSE "</s:Body></s:Envelope>\r\n"

static const char *fault_name(int code)
{
    switch (code) {
    case NAT_UPNP_INVALID_ACTION: return "Invalid Action";
    case NAT_UPNP_INVALID_ARGS: return "Invalid Args";
    case NAT_UPNP_ACTION_FAILED: return "Action Failed";
    case NAT_UPNP_NOT_AUTHORIZED: return "Action not authorized";
    case NAT_UPNP_INDEX_INVALID: return "SpecifiedArrayIndexInvalid";
    case NAT_UPNP_NO_SUCH_ENTRY: return "NoSuchEntryInArray";
    case NAT_UPNP_WILDCARD_EXT_PORT: return "WildCardNotPermittedInExtPort";
    case NAT_UPNP_CONFLICT: return "ConflictInMappingEntry";
    case NAT_UPNP_REMOTE_HOST_WILDCARD: return "RemoteHostOnlySupportsWildcard";
    case NAT_UPNP_NO_PORT_MAPS: return "NoPortMapsAvailable";
    default: return "Error";
    }
}

/* UDA 1.1 section 3.2.2: a fault is HTTP 500 with a UPnPError detail. */
static void soap_fault(nat_upnp_t *u, GString *out, int code)
{
    u->stats.soap_faults++;
    for (size_t i = 0; i < G_N_ELEMENTS(fault_codes); i++)
        if (fault_codes[i] == code)
            u->stats.faults[i]++;
    g_autofree char *body = g_strdup_printf(
        ENVELOPE_OPEN "<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>"
                      "<detail><UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>%d"
                      "</errorCode><errorDescription>%s</errorDescription></UPnPError></detail>"
                      "</s:Fault>" ENVELOPE_CLOSE,
        code, fault_name(code));
    http_response(out, 500, XML_TYPE, body, strlen(body), false);
}

/* A control request being answered: its body, and the response arguments
 * gathered so far. */
typedef struct soap_call {
    nat_upnp_t *u;
    nat_engine_t *engine;
    addr_endpoint_t client;
    usec_t now;
    const char *service;
    const char *action;
    const char *body;
    size_t body_len;
    GString *args; /* response arguments, XML */
} soap_call_t;

static void out_arg(soap_call_t *c, const char *name, const char *value)
{
    g_string_append_printf(c->args, "<%s>", name);
    httptext_xml_escape(c->args, value);
    g_string_append_printf(c->args, "</%s>", name);
}

static void out_uint(soap_call_t *c, const char *name, uint64_t value)
{
    g_string_append_printf(c->args, "<%s>%" G_GUINT64_FORMAT "</%s>", name, value, name);
}

static char *in_arg(const soap_call_t *c, const char *name)
{
    return xml_arg(c->body, c->body_len, name);
}

/* One explicit mapping as UPnP presents it. */
typedef struct upnp_entry {
    nat_proto_t proto;
    addr_endpoint_t internal, external;
    usec_t expires_at;
} upnp_entry_t;

static void collect(const nat_mapping_info_t *m, void *ctx)
{
    if (m->is_explicit && (m->proto == NAT_PROTO_UDP || m->proto == NAT_PROTO_TCP))
        g_array_append_val((GArray *)ctx, ((upnp_entry_t){ m->proto, m->internal, m->external,
                                                           m->expires_at }));
}

static int entry_cmp(gconstpointer a, gconstpointer b)
{
    const upnp_entry_t *x = a, *y = b;
    if (x->proto != y->proto)
        return x->proto == NAT_PROTO_TCP ? -1 : 1; /* TCP first, as miniupnpd lists */
    if (x->external.port != y->external.port)
        return x->external.port < y->external.port ? -1 : 1;
    if (x->external.ip != y->external.ip)
        return x->external.ip < y->external.ip ? -1 : 1;
    return 0;
}

/* Every explicit mapping, in a stable order. O(mappings) per call: control
 * requests are rare next to packets, and the engine is the one truth. */
static GArray *entries(const nat_engine_t *engine, usec_t now)
{
    GArray *a = g_array_new(FALSE, FALSE, sizeof(upnp_entry_t));
    nat_engine_foreach(engine, collect, a);
    g_array_sort(a, entry_cmp);
    for (guint i = 0; i < a->len;) {
        if (g_array_index(a, upnp_entry_t, i).expires_at <= now)
            g_array_remove_index(a, i);
        else
            i++;
    }
    return a;
}

/* The mapping of (external port, protocol): UPnP's key has no address, so
 * with several public addresses the client's own one is preferred. */
static bool entry_find(soap_call_t *c, nat_proto_t proto, uint16_t port, upnp_entry_t *out)
{
    g_autoptr(GArray) a = entries(c->engine, c->now);
    uint32_t own = nat_engine_external_ip_for(c->engine, c->client.ip, c->now);
    bool found = false;
    for (guint i = 0; i < a->len; i++) {
        upnp_entry_t *e = &g_array_index(a, upnp_entry_t, i);
        if (e->proto != proto || e->external.port != port)
            continue;
        if (!found || e->external.ip == own)
            *out = *e;
        found = true;
    }
    return found;
}

static void out_entry(soap_call_t *c, const upnp_entry_t *e, bool with_key)
{
    char ip[ADDR_IP_STRLEN];
    nat_record_t *r = nat_records_find(c->u->records, c->engine, e->proto, e->internal, c->now);
    if (with_key) {
        out_arg(c, "NewRemoteHost", "");
        out_uint(c, "NewExternalPort", e->external.port);
        out_arg(c, "NewProtocol", proto_upper(e->proto));
    }
    out_uint(c, "NewInternalPort", e->internal.port);
    out_arg(c, "NewInternalClient", addr_ip_format(e->internal.ip, ip));
    out_uint(c, "NewEnabled", 1);
    out_arg(c, "NewPortMappingDescription", r && r->data ? r->data : "");
    /* The lease left, rounded up: a live mapping never reads as 0, which
     * would mean "permanent". */
    out_uint(c, "NewLeaseDuration", (uint64_t)((e->expires_at - c->now + USEC_PER_SEC - 1) / USEC_PER_SEC));
}

/* NewRemoteHost, NewExternalPort and NewProtocol; 0 when they are fine. */
static int read_key(soap_call_t *c, uint16_t *port, nat_proto_t *proto, bool port_zero_ok)
{
    g_autofree char *remote = in_arg(c, "NewRemoteHost");
    g_autofree char *ext = in_arg(c, "NewExternalPort");
    g_autofree char *pr = in_arg(c, "NewProtocol");
    uint32_t v;
    if (!remote || !parse_uint(ext, 0, 65535, &v) || !parse_proto(pr, proto))
        return NAT_UPNP_INVALID_ARGS;
    g_strstrip(remote);
    if (*remote && strcmp(remote, "*") != 0)
        return NAT_UPNP_REMOTE_HOST_WILDCARD;
    if (v == 0 && !port_zero_ok)
        return NAT_UPNP_WILDCARD_EXT_PORT;
    *port = (uint16_t)v;
    return 0;
}

static int map_error(nat_map_result_t r)
{
    switch (r) {
    case NAT_MAP_CANNOT_PROVIDE:
        return NAT_UPNP_CONFLICT;
    case NAT_MAP_NO_RESOURCES:
    case NAT_MAP_QUOTA:
        return NAT_UPNP_NO_PORT_MAPS;
    default:
        return NAT_UPNP_ACTION_FAILED;
    }
}

/* AddPortMapping (any = false: the external port asked for, or 718) and
 * AddAnyPortMapping (any = true: that port if free, else another). */
static int add_mapping(soap_call_t *c, bool any)
{
    uint16_t ext_port = 0;
    nat_proto_t proto;
    int err = read_key(c, &ext_port, &proto, any);
    if (err)
        return err;
    g_autofree char *iport = in_arg(c, "NewInternalPort");
    g_autofree char *iclient = in_arg(c, "NewInternalClient");
    g_autofree char *enabled = in_arg(c, "NewEnabled");
    g_autofree char *desc = in_arg(c, "NewPortMappingDescription");
    g_autofree char *lease = in_arg(c, "NewLeaseDuration");
    uint32_t int_port, lease_s, on, client_ip;
    if (!parse_uint(iport, 1, 65535, &int_port) || !iclient ||
        !addr_ip_parse(g_strstrip(iclient), &client_ip) || !parse_uint(enabled, 0, 1, &on) ||
        !desc || !parse_uint(lease, 0, UINT32_MAX, &lease_s))
        return NAT_UPNP_INVALID_ARGS;
    /* IGD:2 section 2.5.16, and miniupnpd's secure mode: only for oneself. */
    if (client_ip != c->client.ip)
        return NAT_UPNP_NOT_AUTHORIZED;
    /* A disabled mapping would exist without forwarding: not modelled. */
    if (!on)
        return NAT_UPNP_ACTION_FAILED;
    addr_endpoint_t internal = addr_endpoint(client_ip, (uint16_t)int_port);
    const nat_profile_t *p = nat_engine_profile(c->engine);
    usec_t lifetime = lease_s == 0 ? p->port_mapping_lifetime_max
                                   : (usec_t)MIN(lease_s, UPNP_LEASE_MAX_S) * USEC_PER_SEC;

    /* (protocol, external port) held by another internal endpoint: 718,
     * unless AddAnyPortMapping may take another port. */
    upnp_entry_t held;
    if (ext_port && entry_find(c, proto, ext_port, &held) &&
        !addr_endpoint_equal(held.internal, internal) && !any)
        return NAT_UPNP_CONFLICT;
    /* The internal endpoint already has an external port (explicit, or
     * dynamic under EIM, which the engine would adopt): natsim keeps one. */
    nat_mapping_info_t info;
    if (nat_engine_lookup_internal(c->engine, proto, internal, addr_endpoint(0, 0), c->now, &info) &&
        (info.is_explicit || p->mapping == NAT_ENDPOINT_INDEPENDENT) &&
        info.external.port != ext_port && !any)
        return NAT_UPNP_CONFLICT;

    nat_map_request_t rq = { .proto = proto, .internal = internal, .suggested_port = ext_port,
                             .lifetime = lifetime, .prefer_failure = !any };
    addr_endpoint_t external = { 0 };
    usec_t granted = 0;
    nat_map_result_t r = nat_engine_map(c->engine, &rq, c->now, &external, &granted);
    if (r != NAT_MAP_OK)
        return map_error(r);
    nat_records_set(c->u->records, c->engine, proto, internal, external, c->now + granted,
                    g_strdup(desc), c->now);
    c->u->stats.mappings_added++;
    if (any)
        out_uint(c, "NewReservedPort", external.port);
    return 0;
}

static int delete_mapping(soap_call_t *c)
{
    uint16_t port = 0;
    nat_proto_t proto;
    int err = read_key(c, &port, &proto, false);
    if (err)
        return err == NAT_UPNP_WILDCARD_EXT_PORT ? NAT_UPNP_NO_SUCH_ENTRY : err;
    upnp_entry_t e;
    if (!entry_find(c, proto, port, &e))
        return NAT_UPNP_NO_SUCH_ENTRY;
    if (e.internal.ip != c->client.ip)
        return NAT_UPNP_NOT_AUTHORIZED;
    nat_records_remove(c->u->records, proto, e.internal);
    nat_engine_unmap(c->engine, proto, e.internal, c->now);
    c->u->stats.mappings_deleted++;
    return 0;
}

static int ipconn_action(soap_call_t *c)
{
    const char *a = c->action;
    char ip[ADDR_IP_STRLEN];
    if (strcmp(a, "GetExternalIPAddress") == 0) {
        out_arg(c, "NewExternalIPAddress",
                addr_ip_format(nat_engine_external_ip_for(c->engine, c->client.ip, c->now), ip));
        return 0;
    }
    if (strcmp(a, "GetStatusInfo") == 0) {
        out_arg(c, "NewConnectionStatus", "Connected");
        out_arg(c, "NewLastConnectionError", "ERROR_NONE");
        out_uint(c, "NewUptime", nat_pmp_epoch(c->engine, c->now));
        return 0;
    }
    if (strcmp(a, "GetConnectionTypeInfo") == 0) {
        out_arg(c, "NewConnectionType", "IP_Routed");
        out_arg(c, "NewPossibleConnectionTypes", "IP_Routed");
        return 0;
    }
    if (strcmp(a, "GetNATRSIPStatus") == 0) {
        out_uint(c, "NewRSIPAvailable", 0);
        out_uint(c, "NewNATEnabled", 1);
        return 0;
    }
    if (strcmp(a, "AddPortMapping") == 0)
        return add_mapping(c, false);
    if (strcmp(a, "AddAnyPortMapping") == 0)
        return add_mapping(c, true);
    if (strcmp(a, "DeletePortMapping") == 0)
        return delete_mapping(c);
    if (strcmp(a, "GetSpecificPortMappingEntry") == 0) {
        uint16_t port = 0;
        nat_proto_t proto;
        int err = read_key(c, &port, &proto, false);
        if (err)
            return err == NAT_UPNP_WILDCARD_EXT_PORT ? NAT_UPNP_NO_SUCH_ENTRY : err;
        upnp_entry_t e;
        if (!entry_find(c, proto, port, &e))
            return NAT_UPNP_NO_SUCH_ENTRY;
        out_entry(c, &e, false);
        return 0;
    }
    if (strcmp(a, "GetGenericPortMappingEntry") == 0) {
        g_autofree char *index = in_arg(c, "NewPortMappingIndex");
        uint32_t i;
        if (!parse_uint(index, 0, UINT32_MAX, &i))
            return NAT_UPNP_INVALID_ARGS;
        g_autoptr(GArray) all = entries(c->engine, c->now);
        if (i >= all->len)
            return NAT_UPNP_INDEX_INVALID;
        out_entry(c, &g_array_index(all, upnp_entry_t, i), true);
        return 0;
    }
    return NAT_UPNP_INVALID_ACTION;
}

static int cif_action(soap_call_t *c)
{
    const char *a = c->action;
    if (strcmp(a, "GetCommonLinkProperties") == 0) {
        out_arg(c, "NewWANAccessType", "Ethernet");
        out_uint(c, "NewLayer1UpstreamMaxBitRate", 1000000000);
        out_uint(c, "NewLayer1DownstreamMaxBitRate", 1000000000);
        out_arg(c, "NewPhysicalLinkStatus", "Up");
        return 0;
    }
    /* The counters are not kept per gateway: zero, as "unknown" is not a ui4. */
    static const char *const totals[] = { "TotalBytesSent", "TotalBytesReceived",
                                          "TotalPacketsSent", "TotalPacketsReceived" };
    for (size_t i = 0; i < G_N_ELEMENTS(totals); i++) {
        if (g_str_has_prefix(a, "Get") && strcmp(a + 3, totals[i]) == 0) {
            g_autofree char *name = g_strdup_printf("New%s", totals[i]);
            out_uint(c, name, 0);
            return 0;
        }
    }
    return NAT_UPNP_INVALID_ACTION;
}

/* UDA 1.1 section 3.2.1: SOAPAction: "urn:...:service:TYPE:V#Action". The
 * version may be 1 or 2: WANIPConnection:2 clients use the same actions. */
static void soap_control(nat_upnp_t *u, nat_engine_t *engine, addr_endpoint_t client,
                         const char *path, const char *soap_action, const char *body,
                         size_t body_len, usec_t now, GString *out)
{
    u->stats.soap_actions++;
    bool ipconn = strcmp(path, IPCONN_CONTROL) == 0;
    const char *want = ipconn ? URN_SERVICE "WANIPConnection:" : URN_SERVICE "WANCommonInterfaceConfig:";
    g_autofree char *sa = soap_action ? g_strdup(soap_action) : NULL;
    char *action = NULL;
    if (sa) {
        g_strstrip(sa);
        size_t n = strlen(sa);
        if (n >= 2 && sa[0] == '"' && sa[n - 1] == '"') {
            sa[n - 1] = '\0';
            memmove(sa, sa + 1, n - 1);
        }
        char *hash = strchr(sa, '#');
        if (hash && g_str_has_prefix(sa, want) && (hash[-1] == '1' || hash[-1] == '2') &&
            hash - sa == (ptrdiff_t)strlen(want) + 1) {
            *hash = '\0';
            action = hash + 1;
        }
    }
    if (!action || !*action) {
        soap_fault(u, out, NAT_UPNP_INVALID_ACTION);
        return;
    }
    soap_call_t c = { .u = u, .engine = engine, .client = client, .now = now, .service = sa,
                      .action = action, .body = body, .body_len = body_len,
                      .args = g_string_new(NULL) };
    /* The body must carry the action element the header names. */
    g_autofree char *element = xml_arg(body, body_len, action);
    int err = 0;
    if (!element && !strstr(body, action))
        err = NAT_UPNP_INVALID_ACTION;
    else
        err = ipconn ? ipconn_action(&c) : cif_action(&c);
    if (err) {
        soap_fault(u, out, err);
    } else {
        g_autofree char *resp = g_strdup_printf(ENVELOPE_OPEN "<u:%sResponse xmlns:u=\"%s\">%s"
                                                              "</u:%sResponse>" ENVELOPE_CLOSE,
                                                action, sa, c.args->str, action);
        http_response(out, 200, XML_TYPE, resp, strlen(resp), false);
    }
    g_string_free(c.args, TRUE);
}

static nat_upnp_http_result_t bad(nat_upnp_t *u, GString *out, int status)
{
    if (status == 400)
        u->stats.http_bad++;
    else if (status == 413)
        u->stats.http_too_large++;
    else if (status == 404)
        u->stats.http_not_found++;
    else
        u->stats.http_unsupported++;
    http_error(out, status);
    return NAT_UPNP_HTTP_RESPOND;
}

nat_upnp_http_result_t nat_upnp_http(nat_upnp_t *u, nat_engine_t *engine, addr_endpoint_t client,
                                     const uint8_t *req, size_t len, bool eof, usec_t now,
                                     GString *out)
{
    const char *text = (const char *)req;
    size_t body_at = httptext_head_end(text, MIN(len, (size_t)NAT_UPNP_HTTP_MAX));
    if (!body_at) {
        if (len > NAT_UPNP_HTTP_MAX) {
            u->stats.http_requests++;
            return bad(u, out, 413);
        }
        if (!eof)
            return NAT_UPNP_HTTP_MORE;
        u->stats.http_requests++;
        return bad(u, out, 400);
    }
    /* Request line: METHOD SP PATH SP HTTP/1.x */
    const char *eol = memchr(text, '\n', body_at);
    g_autofree char *line = g_strndup(text, (gsize)(eol - text));
    g_strchomp(line);
    g_auto(GStrv) parts = g_strsplit(line, " ", -1);
    const char *head_end_p = text + body_at;
    g_autofree char *clen = httptext_header_dup(eol + 1, head_end_p, "Content-Length");
    g_autofree char *chunked = httptext_header_dup(eol + 1, head_end_p, "Transfer-Encoding");
    uint32_t body_len = 0;
    bool has_len = clen != NULL;
    bool valid = g_strv_length(parts) == 3 && g_str_has_prefix(parts[2], "HTTP/1.") &&
                 parts[1][0] == '/' && (!clen || parse_uint(clen, 0, UINT32_MAX, &body_len));
    if (!valid) {
        u->stats.http_requests++;
        return bad(u, out, 400);
    }
    if (has_len && body_at + (size_t)body_len > NAT_UPNP_HTTP_MAX) {
        u->stats.http_requests++;
        return bad(u, out, 413);
    }
    bool post = strcmp(parts[0], "POST") == 0;
    if (post && !has_len) {
        /* A body without length ends at EOF (HTTP/1.0 style); chunked
         * requests are not something IGD clients send. */
        if (chunked) {
            u->stats.http_requests++;
            return bad(u, out, 411);
        }
        if (!eof && len <= NAT_UPNP_HTTP_MAX)
            return NAT_UPNP_HTTP_MORE;
        if (!eof) {
            u->stats.http_requests++;
            return bad(u, out, 413);
        }
        body_len = (uint32_t)(len - body_at);
    }
    if (len < body_at + body_len) {
        if (!eof)
            return NAT_UPNP_HTTP_MORE;
        u->stats.http_requests++;
        return bad(u, out, 400); /* truncated */
    }
    u->stats.http_requests++;
    if (!offered(engine))
        return bad(u, out, 404);
    /* The path without a query or an absolute-URI prefix is enough here. */
    char *path = parts[1];
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    bool get = strcmp(parts[0], "GET") == 0, head = strcmp(parts[0], "HEAD") == 0;
    if (get || head) {
        g_autoptr(GString) body = g_string_new(NULL);
        if (strcmp(path, "/rootDesc.xml") == 0)
            root_description(u, engine, body);
        else if (strcmp(path, "/WANIPCn.xml") == 0)
            scpd(body, ipconn_actions, G_N_ELEMENTS(ipconn_actions), ipconn_vars,
                 G_N_ELEMENTS(ipconn_vars));
        else if (strcmp(path, "/WANCfg.xml") == 0)
            scpd(body, cif_actions, G_N_ELEMENTS(cif_actions), cif_vars, G_N_ELEMENTS(cif_vars));
        else
            return bad(u, out, 404);
        http_response(out, 200, XML_TYPE, body->str, body->len, head);
        return NAT_UPNP_HTTP_RESPOND;
    }
    if (post) {
        if (strcmp(path, IPCONN_CONTROL) != 0 && strcmp(path, CIF_CONTROL) != 0)
            return bad(u, out, 404);
        g_autofree char *soap_action = httptext_header_dup(eol + 1, head_end_p, "SOAPAction");
        g_autofree char *body = g_strndup(text + body_at, body_len);
        soap_control(u, engine, client, path, soap_action, body, body_len, now, out);
        return NAT_UPNP_HTTP_RESPOND;
    }
    /* GENA eventing (SUBSCRIBE, UNSUBSCRIBE) is not offered. */
    if (strcmp(parts[0], "SUBSCRIBE") == 0 || strcmp(parts[0], "UNSUBSCRIBE") == 0)
        return bad(u, out, 501);
    return bad(u, out, 405);
}

char *nat_upnp_stats_json(const nat_upnp_t *u)
{
    const nat_upnp_stats_t *s = &u->stats;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
#define MEMBER(name, value)                                                                        \
    do {                                                                                           \
        json_builder_set_member_name(b, name);                                                     \
        json_builder_add_int_value(b, (gint64)(value));                                            \
    } while (0)
    json_builder_set_member_name(b, "ssdp");
    json_builder_begin_object(b);
    MEMBER("searches", s->ssdp_searches);
    MEMBER("answered", s->ssdp_answered);
    MEMBER("ignored", s->ssdp_ignored);
    MEMBER("malformed", s->ssdp_malformed);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "http");
    json_builder_begin_object(b);
    MEMBER("requests", s->http_requests);
    MEMBER("bad-request", s->http_bad);
    MEMBER("too-large", s->http_too_large);
    MEMBER("not-found", s->http_not_found);
    MEMBER("unsupported", s->http_unsupported);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "soap");
    json_builder_begin_object(b);
    MEMBER("actions", s->soap_actions);
    MEMBER("faults", s->soap_faults);
    json_builder_set_member_name(b, "faults-by-code");
    json_builder_begin_object(b);
    for (size_t i = 0; i < G_N_ELEMENTS(fault_codes); i++) {
        char code[8];
        g_snprintf(code, sizeof code, "%u", fault_codes[i]);
        MEMBER(code, s->faults[i]);
    }
    json_builder_end_object(b);
    MEMBER("mappings-added", s->mappings_added);
    MEMBER("mappings-deleted", s->mappings_deleted);
    json_builder_end_object(b);
#undef MEMBER
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    return json_to_string(root, FALSE);
}
