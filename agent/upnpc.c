#include "upnpc.h"

#include "common/httptext.h"

#include <string.h>

#define SEARCH_RETRY (250 * USEC_PER_MSEC)
#define SEARCH_TRIES 4
#define SEARCH_WAIT USEC_PER_SEC              /* after the last search: MX is 1 s */
#define HTTP_TIMEOUT (2 * USEC_PER_SEC)
#define HTTP_TRIES 3                          /* per step, then search again */
#define PORT_TRIES 4                          /* AddPortMapping on ports of our own choice */
#define PERMANENT_CHECK (60 * USEC_PER_SEC)   /* a permanent lease is still checked for reboots */
#define RENEW_MIN USEC_PER_SEC
#define RETRY_LATER (10 * USEC_PER_SEC)       /* a mapping lost and not re-created: search again */
#define RESEARCH_MAX 2                        /* searches after failed exchanges, then give up */
#define URN_SERVICE "urn:schemas-upnp-org:service:"

/* ---- text helpers ------------------------------------------------------- */

static const char *find_ci(const char *hay, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; p + n <= end; p++)
        if (g_ascii_strncasecmp(p, needle, n) == 0)
            return p;
    return NULL;
}

static void trim(const char **a, const char **b)
{
    while (*a < *b && g_ascii_isspace(**a))
        (*a)++;
    while (*b > *a && g_ascii_isspace((*b)[-1]))
        (*b)--;
}

/* A decimal number of at most 10 digits in [lo, hi], nothing else. */
static bool parse_uint(const char *a, const char *b, uint32_t lo, uint32_t hi, uint32_t *out)
{
    trim(&a, &b);
    if (a == b || b - a > 10)
        return false;
    uint64_t v = 0;
    for (const char *p = a; p < b; p++) {
        if (!g_ascii_isdigit(*p))
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* The first element `name` in [p, end), with any namespace prefix and
 * attributes: its text in [*in, *in_end), and where it ends. "<name/>" is
 * empty. False when absent or not closed. */
static bool xml_element(const char *p, const char *end, const char *name, const char **in,
                        const char **in_end, const char **after)
{
    size_t n = strlen(name);
    while (p < end && (p = memchr(p, '<', (size_t)(end - p)))) {
        const char *tag = ++p;
        const char *q = tag;
        while (q < end && q < tag + 32 && (g_ascii_isalnum(*q) || *q == '_' || *q == '-' || *q == '.'))
            q++;
        if (q < end && *q == ':')
            tag = q + 1;
        if ((size_t)(end - tag) <= n || memcmp(tag, name, n) != 0)
            continue;
        const char *t = tag + n;
        if (*t != '>' && *t != '/' && !g_ascii_isspace(*t))
            continue;
        const char *gt = memchr(t, '>', (size_t)(end - t));
        if (!gt)
            return false;
        if (gt[-1] == '/') {
            *in = *in_end = gt;
            if (after)
                *after = gt + 1;
            return true;
        }
        /* The closing tag: "</" prefix? name ">" */
        for (const char *c = gt + 1; c < end && (c = memchr(c, '<', (size_t)(end - c))); c++) {
            if (c + 1 >= end || c[1] != '/')
                continue;
            const char *ct = c + 2, *cq = ct;
            while (cq < end && cq < ct + 32 && (g_ascii_isalnum(*cq) || *cq == '_' || *cq == '-' || *cq == '.'))
                cq++;
            if (cq < end && *cq == ':')
                ct = cq + 1;
            if ((size_t)(end - ct) > n && memcmp(ct, name, n) == 0 && ct[n] == '>') {
                *in = gt + 1;
                *in_end = c;
                if (after)
                    *after = ct + n + 1;
                return true;
            }
        }
        return false;
    }
    return false;
}

/* ---- URLs, SSDP, HTTP --------------------------------------------------- */

static bool path_ok(const char *a, const char *b)
{
    for (const char *p = a; p < b; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return false; /* it goes into a request line */
    return true;
}

bool upnpc_url_parse(const char *text, size_t len, const upnpc_url_t *base, upnpc_url_t *out)
{
    const char *a = text, *b = text + len;
    trim(&a, &b);
    if (!path_ok(a, b))
        return false;
    if ((size_t)(b - a) >= 7 && g_ascii_strncasecmp(a, "http://", 7) == 0) {
        const char *host = a + 7;
        const char *slash = memchr(host, '/', (size_t)(b - host));
        const char *host_end = slash ? slash : b;
        const char *colon = memchr(host, ':', (size_t)(host_end - host));
        uint32_t port = 80;
        if (colon && !parse_uint(colon + 1, host_end, 1, 65535, &port))
            return false;
        const char *ip_end = colon ? colon : host_end;
        char ip[ADDR_IP_STRLEN];
        if (ip_end - host <= 0 || (size_t)(ip_end - host) >= sizeof ip)
            return false;
        memcpy(ip, host, (size_t)(ip_end - host));
        ip[ip_end - host] = '\0';
        if (!addr_ip_parse(ip, &out->ip) || out->ip == 0)
            return false;
        out->port = (uint16_t)port;
        const char *path = slash ? slash : "/";
        size_t plen = slash ? (size_t)(b - slash) : 1;
        if (plen >= UPNPC_PATH_MAX)
            return false;
        memcpy(out->path, path, plen);
        out->path[plen] = '\0';
        return true;
    }
    if (!base || a == b || memchr(a, ':', (size_t)(b - a)))
        return false; /* another scheme, or nothing to resolve against */
    upnpc_url_t u = { .ip = base->ip, .port = base->port, .path = "/" };
    size_t dir = 0;
    if (*a != '/') { /* relative to the base's directory */
        const char *last = base->path[0] == '/' ? strrchr(base->path, '/') : NULL;
        dir = last ? (size_t)(last - base->path) + 1 : 1;
        if (last)
            memcpy(u.path, base->path, dir);
    }
    if (dir + (size_t)(b - a) >= UPNPC_PATH_MAX)
        return false;
    memcpy(u.path + dir, a, (size_t)(b - a));
    u.path[dir + (size_t)(b - a)] = '\0';
    *out = u;
    return true;
}

size_t upnpc_search(char *out, size_t size)
{
    int n = g_snprintf(out, size,
                       "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
                       "MAN: \"ssdp:discover\"\r\nMX: 1\r\n"
                       "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n");
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

bool upnpc_ssdp_location(const uint8_t *answer, size_t len, upnpc_url_t *location)
{
    const char *t = (const char *)answer;
    if (len < 12 || (memcmp(t, "HTTP/1.1 200", 12) != 0 && memcmp(t, "HTTP/1.0 200", 12) != 0))
        return false;
    size_t body = httptext_head_end(t, len);
    const char *v, *ve;
    if (!httptext_header(t, t + (body ? body : len), "LOCATION", &v, &ve))
        return false;
    return upnpc_url_parse(v, (size_t)(ve - v), NULL, location);
}

static bool chunked_read(const char *p, const char *end, GString *body)
{
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            return false;
        uint64_t n = 0;
        const char *q = p;
        for (; q < eol && g_ascii_isxdigit(*q) && q - p < 8; q++)
            n = n * 16 + (uint64_t)g_ascii_xdigit_value(*q);
        if (q == p || (q < eol && *q != ';' && *q != '\r' && *q != ' '))
            return false;
        p = eol + 1;
        if (n == 0)
            return true; /* trailers, if any, are of no use here */
        if (n > (uint64_t)(end - p) || body->len + n > UPNPC_RESPONSE_MAX)
            return false;
        g_string_append_len(body, p, (gssize)n);
        p += n;
        if (p < end && *p == '\r')
            p++;
        if (p >= end || *p != '\n')
            return false;
        p++;
    }
    return false; /* the last chunk never came */
}

int upnpc_http_read(const uint8_t *data, size_t len, GString *body)
{
    const char *t = (const char *)data;
    if (len > UPNPC_RESPONSE_MAX || len < 12 || memcmp(t, "HTTP/1.", 7) != 0 || t[8] != ' ')
        return -1;
    uint32_t status;
    if (!parse_uint(t + 9, t + 12, 100, 599, &status) || (len > 12 && t[12] != ' ' && t[12] != '\r' && t[12] != '\n'))
        return -1;
    size_t at = httptext_head_end(t, len);
    if (!at)
        return -1;
    const char *v, *ve;
    if (httptext_header(t, t + at, "Transfer-Encoding", &v, &ve) && find_ci(v, ve, "chunked"))
        return chunked_read(t + at, t + len, body) ? (int)status : -1;
    uint32_t clen;
    if (httptext_header(t, t + at, "Content-Length", &v, &ve)) {
        if (!parse_uint(v, ve, 0, UPNPC_RESPONSE_MAX, &clen) || at + clen > len)
            return -1;
    } else {
        clen = (uint32_t)(len - at);
    }
    g_string_append_len(body, t + at, (gssize)clen);
    return (int)status;
}

bool upnpc_description_read(const char *xml, size_t len, const upnpc_url_t *location,
                            upnpc_service_t *out)
{
    const char *end = xml + len, *a, *b;
    upnpc_url_t base = *location;
    if (xml_element(xml, end, "URLBase", &a, &b, NULL)) {
        upnpc_url_t u;
        if (upnpc_url_parse(a, (size_t)(b - a), NULL, &u))
            base = u;
    }
    bool found = false;
    unsigned best = 0;
    const char *p = xml, *after;
    while (xml_element(p, end, "service", &a, &b, &after)) {
        p = after;
        const char *ta, *tb, *ca, *cb;
        if (!xml_element(a, b, "serviceType", &ta, &tb, NULL) ||
            !xml_element(a, b, "controlURL", &ca, &cb, NULL))
            continue;
        trim(&ta, &tb);
        static const char *const kinds[] = { URN_SERVICE "WANPPPConnection:", URN_SERVICE "WANIPConnection:" };
        for (unsigned k = 0; k < 2; k++) {
            size_t kl = strlen(kinds[k]);
            uint32_t version;
            if ((size_t)(tb - ta) <= kl || (size_t)(tb - ta) >= UPNPC_TYPE_MAX ||
                memcmp(ta, kinds[k], kl) != 0 || !parse_uint(ta + kl, tb, 1, 99, &version))
                continue;
            unsigned score = k * 100 + version;
            upnpc_service_t s = { .version = version };
            if (score <= best || !upnpc_url_parse(ca, (size_t)(cb - ca), &base, &s.control))
                continue;
            memcpy(s.type, ta, (size_t)(tb - ta));
            s.type[tb - ta] = '\0';
            *out = s;
            best = score;
            found = true;
        }
    }
    return found;
}

size_t upnpc_soap_request(char *out, size_t size, const upnpc_service_t *svc, const char *action,
                          const upnpc_arg_t *args, unsigned n_args)
{
    g_autoptr(GString) body = g_string_new(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "
        "s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>");
    g_string_append_printf(body, "<u:%s xmlns:u=\"%s\">", action, svc->type);
    for (unsigned i = 0; i < n_args; i++) {
        g_string_append_printf(body, "<%s>", args[i].name);
        httptext_xml_escape(body, args[i].value);
        g_string_append_printf(body, "</%s>", args[i].name);
    }
    g_string_append_printf(body, "</u:%s></s:Body></s:Envelope>\r\n", action);
    char ip[ADDR_IP_STRLEN];
    int n = g_snprintf(out, size,
                       "POST %s HTTP/1.1\r\nHOST: %s:%u\r\n"
                       "CONTENT-TYPE: text/xml; charset=\"utf-8\"\r\nCONTENT-LENGTH: %zu\r\n"
                       "SOAPACTION: \"%s#%s\"\r\nCONNECTION: close\r\n\r\n%s",
                       svc->control.path, addr_ip_format(svc->control.ip, ip), svc->control.port,
                       body->len, svc->type, action, body->str);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

bool upnpc_soap_arg(const char *body, size_t len, const char *name, char *out, size_t size)
{
    const char *a, *b;
    if (!xml_element(body, body + len, name, &a, &b, NULL))
        return false;
    trim(&a, &b);
    g_autofree char *text = httptext_xml_unescape(a, (size_t)(b - a));
    if (strlen(text) >= size)
        return false;
    strcpy(out, text);
    return true;
}

int upnpc_soap_fault(const char *body, size_t len)
{
    const char *a, *b;
    uint32_t code;
    if (!xml_element(body, body + len, "UPnPError", &a, &b, NULL) ||
        !xml_element(a, b, "errorCode", &a, &b, NULL) || !parse_uint(a, b, 1, 9999, &code))
        return -1;
    return (int)code;
}

/* ---- the control point -------------------------------------------------- */

typedef enum state {
    S_IDLE,
    S_SEARCHING,
    S_DESCRIBING,
    S_EXTERNAL_IP,
    S_ADDING_ANY,
    S_ADDING,
    S_VERIFYING,
    S_MAPPED,
    S_CHECKING,
    S_RENEWING,
    S_FAILED,
} state_t;

struct upnpc {
    upnpc_config_t cfg;
    char *description;
    state_t state;
    GArray *out;
    upnpc_stats_t stats;
    unsigned tries;           /* searches, or requests of the current step */
    usec_t next;              /* the search's next try; FAILED: when to search again (0: never) */
    bool have_service;
    upnpc_url_t location;
    upnpc_service_t svc;
    unsigned id;              /* of the request in flight */
    bool waiting;
    usec_t deadline;
    uint32_t external_ip;
    uint16_t port;            /* the external port held, or the one to ask for */
    uint32_t lease_s, granted_s;
    bool mapped, any_unsupported, recreate, renewing;
    unsigned port_tries;
    unsigned researches;      /* searches since the last mapping made */
    usec_t renew_at;
};

upnpc_t *upnpc_new(const upnpc_config_t *config)
{
    if (!config->gateway || !config->internal.ip || !config->internal.port)
        return NULL;
    upnpc_t *u = g_new0(upnpc_t, 1);
    u->cfg = *config;
    u->description = g_strdup(config->description ? config->description : "natlab");
    u->cfg.description = u->description;
    u->lease_s = config->lease_s;
    u->out = g_array_new(FALSE, FALSE, sizeof(upnpc_output_t));
    return u;
}

void upnpc_free(upnpc_t *u)
{
    if (!u)
        return;
    g_array_free(u->out, TRUE);
    g_free(u->description);
    g_free(u);
}

const upnpc_stats_t *upnpc_stats(const upnpc_t *u)
{
    return &u->stats;
}

bool upnpc_mapped(const upnpc_t *u, addr_endpoint_t *external)
{
    if (u->mapped && external)
        *external = addr_endpoint(u->external_ip, u->port);
    return u->mapped;
}

bool upnpc_pop_output(upnpc_t *u, upnpc_output_t *out)
{
    if (u->out->len == 0)
        return false;
    *out = g_array_index(u->out, upnpc_output_t, 0);
    g_array_remove_index(u->out, 0);
    return true;
}

static upnpc_output_t *out_push(upnpc_t *u, enum upnpc_output_kind kind)
{
    g_array_set_size(u->out, u->out->len + 1);
    upnpc_output_t *o = &g_array_index(u->out, upnpc_output_t, u->out->len - 1);
    memset(o, 0, offsetof(upnpc_output_t, data));
    o->kind = kind;
    return o;
}

static bool busy(const upnpc_t *u)
{
    return u->state != S_IDLE && u->state != S_MAPPED && u->state != S_FAILED;
}

static void fail(upnpc_t *u, const char *reason, usec_t now)
{
    bool had = u->mapped || u->recreate;
    u->state = S_FAILED;
    u->waiting = false;
    u->mapped = false;
    u->recreate = false;
    u->next = had ? now + RETRY_LATER : 0;
    out_push(u, UPNPC_OUT_FAILED)->reason = reason;
}

static void search_send(upnpc_t *u, usec_t now)
{
    char msg[256];
    size_t n = upnpc_search(msg, sizeof msg);
    const uint32_t to[] = { UPNPC_SSDP_GROUP, u->cfg.gateway };
    for (unsigned i = 0; i < G_N_ELEMENTS(to); i++) {
        upnpc_output_t *o = out_push(u, UPNPC_OUT_DATAGRAM);
        o->to = addr_endpoint(to[i], UPNPC_SSDP_PORT);
        o->len = n;
        memcpy(o->data, msg, n);
    }
    u->stats.searches++;
    u->tries++;
    u->next = now + (u->tries < SEARCH_TRIES ? SEARCH_RETRY : SEARCH_WAIT);
}

static void search(upnpc_t *u, usec_t now)
{
    u->have_service = false;
    u->state = S_SEARCHING;
    u->tries = 0;
    u->waiting = false;
    search_send(u, now);
}

static void request(upnpc_t *u, addr_endpoint_t to, const char *data, size_t len, usec_t now)
{
    if (!len) {
        fail(u, "a UPnP request did not fit (control URL too long)", now);
        return;
    }
    upnpc_output_t *o = out_push(u, UPNPC_OUT_HTTP);
    o->id = ++u->id;
    o->to = to;
    o->len = len;
    memcpy(o->data, data, len);
    u->waiting = true;
    u->deadline = now + HTTP_TIMEOUT;
    u->stats.requests++;
}

static void soap(upnpc_t *u, const char *action, const upnpc_arg_t *args, unsigned n, usec_t now)
{
    char buf[UPNPC_REQUEST_MAX];
    size_t len = upnpc_soap_request(buf, sizeof buf, &u->svc, action, args, n);
    request(u, addr_endpoint(u->svc.control.ip, u->svc.control.port), buf, len, now);
}

/* The request of the current step (again, on a retry). */
static void step(upnpc_t *u, usec_t now)
{
    char port[8], iport[8], lease[12], client[ADDR_IP_STRLEN];
    g_snprintf(port, sizeof port, "%u", u->port);
    g_snprintf(iport, sizeof iport, "%u", u->cfg.internal.port);
    g_snprintf(lease, sizeof lease, "%u", u->lease_s);
    addr_ip_format(u->cfg.internal.ip, client);
    const upnpc_arg_t key[] = { { "NewRemoteHost", "" }, { "NewExternalPort", port },
                                { "NewProtocol", "UDP" } };
    const upnpc_arg_t add[] = {
        { "NewRemoteHost", "" },          { "NewExternalPort", port },
        { "NewProtocol", "UDP" },         { "NewInternalPort", iport },
        { "NewInternalClient", client },  { "NewEnabled", "1" },
        { "NewPortMappingDescription", u->description }, { "NewLeaseDuration", lease },
    };
    switch (u->state) {
    case S_DESCRIBING: {
        char buf[UPNPC_REQUEST_MAX], ip[ADDR_IP_STRLEN];
        int n = g_snprintf(buf, sizeof buf, "GET %s HTTP/1.1\r\nHOST: %s:%u\r\nCONNECTION: close\r\n\r\n",
                           u->location.path, addr_ip_format(u->location.ip, ip), u->location.port);
        request(u, addr_endpoint(u->location.ip, u->location.port), buf,
                n > 0 && (size_t)n < sizeof buf ? (size_t)n : 0, now);
        break;
    }
    case S_EXTERNAL_IP:
        soap(u, "GetExternalIPAddress", NULL, 0, now);
        break;
    case S_ADDING_ANY:
        soap(u, "AddAnyPortMapping", add, G_N_ELEMENTS(add), now);
        break;
    case S_ADDING:
    case S_RENEWING:
        soap(u, "AddPortMapping", add, G_N_ELEMENTS(add), now);
        break;
    case S_VERIFYING:
    case S_CHECKING:
        soap(u, "GetSpecificPortMappingEntry", key, G_N_ELEMENTS(key), now);
        break;
    default:
        break;
    }
}

static void go(upnpc_t *u, state_t s, usec_t now)
{
    u->state = s;
    u->tries = 1;
    step(u, now);
}

void upnpc_start(upnpc_t *u, usec_t now)
{
    if (busy(u))
        return;
    u->researches = 0;
    if (u->state == S_MAPPED) {
        go(u, S_CHECKING, now);
        return;
    }
    if (u->have_service)
        go(u, S_EXTERNAL_IP, now);
    else
        search(u, now);
}

void upnpc_stop(upnpc_t *u)
{
    u->waiting = false;
    u->recreate = false;
    u->state = u->mapped ? S_MAPPED : S_IDLE;
}

void upnpc_release(upnpc_t *u, usec_t now)
{
    if (u->mapped && u->have_service) {
        char port[8];
        g_snprintf(port, sizeof port, "%u", u->port);
        const upnpc_arg_t key[] = { { "NewRemoteHost", "" }, { "NewExternalPort", port },
                                    { "NewProtocol", "UDP" } };
        soap(u, "DeletePortMapping", key, G_N_ELEMENTS(key), now);
    }
    u->mapped = false;
    u->waiting = false; /* its answer is not waited for */
    u->state = S_IDLE;
}

void upnpc_ssdp(upnpc_t *u, addr_endpoint_t from, const uint8_t *data, size_t len, usec_t now)
{
    upnpc_url_t loc;
    if (!upnpc_ssdp_location(data, len, &loc)) {
        u->stats.malformed++;
        return;
    }
    if (u->state != S_SEARCHING || from.ip != u->cfg.gateway)
        return; /* a second answer, or another device's */
    u->stats.answers++;
    u->location = loc;
    go(u, S_DESCRIBING, now);
}

/* The exchange failed (no answer, refused, garbage): the same step again,
 * then a new search (the gateway may listen elsewhere after a restart). */
static void http_failed(upnpc_t *u, usec_t now)
{
    u->waiting = false;
    if (u->tries < HTTP_TRIES) {
        u->tries++;
        step(u, now);
        return;
    }
    if (u->mapped)
        u->recreate = true;
    u->mapped = false;
    if (++u->researches > RESEARCH_MAX) {
        fail(u, "the UPnP gateway does not answer its control requests", now);
        return;
    }
    search(u, now);
}

static uint32_t arg_uint(const GString *body, const char *name, uint32_t lo, uint32_t hi, bool *ok)
{
    char v[16];
    uint32_t n = 0;
    *ok = upnpc_soap_arg(body->str, body->len, name, v, sizeof v) && parse_uint(v, v + strlen(v), lo, hi, &n);
    return n;
}

static void mapped(upnpc_t *u, uint32_t granted_s, usec_t now)
{
    bool recreated = u->recreate;
    u->researches = 0;
    u->mapped = true;
    u->recreate = false;
    u->granted_s = granted_s;
    u->state = S_MAPPED;
    uint32_t lease = granted_s && u->lease_s ? MIN(granted_s, u->lease_s) : MAX(granted_s, u->lease_s);
    usec_t every = lease ? (usec_t)lease * USEC_PER_SEC / 2 : PERMANENT_CHECK;
    u->renew_at = now + MAX(every, RENEW_MIN);
    if (u->renewing) {
        u->stats.renewed++;
    } else {
        u->stats.mapped++;
        u->stats.recreated += recreated;
    }
    upnpc_output_t *o = out_push(u, UPNPC_OUT_MAPPED);
    o->external = addr_endpoint(u->external_ip, u->port);
    o->lease_s = granted_s;
    o->recreated = recreated;
    o->reason = recreated ? "the gateway lost the mapping (rebooted?): re-created" : NULL;
    u->renewing = false;
}

/* Our port is taken, or the gateway does not like it: another port. */
static void conflict(upnpc_t *u, usec_t now)
{
    u->renewing = false;
    if (!u->any_unsupported && u->state != S_ADDING_ANY) {
        go(u, S_ADDING_ANY, now);
        return;
    }
    if (++u->port_tries >= PORT_TRIES) {
        fail(u, "the gateway refused every port we asked for", now);
        return;
    }
    u->port = (uint16_t)(1024 + (u->cfg.internal.port + 7919u * u->port_tries) % 64512u);
    go(u, S_ADDING, now);
}

static void lost(upnpc_t *u, usec_t now)
{
    u->mapped = false;
    u->recreate = true;
    u->renewing = false;
    u->port_tries = 0;
    go(u, S_EXTERNAL_IP, now); /* the address may have changed with the state */
}

static void answer(upnpc_t *u, int status, const GString *body, usec_t now)
{
    int fault = status == 200 ? 0 : upnpc_soap_fault(body->str, body->len);
    if (fault > 0)
        u->stats.faults++;
    if (status != 200 && fault < 0 && u->state != S_ADDING_ANY) {
        http_failed(u, now); /* an HTTP error, not a UPnP one */
        return;
    }
    bool ok = false;
    switch (u->state) {
    case S_DESCRIBING:
        if (!upnpc_description_read(body->str, body->len, &u->location, &u->svc)) {
            fail(u, "the gateway's UPnP description has no WAN connection service", now);
            return;
        }
        u->have_service = true;
        go(u, S_EXTERNAL_IP, now);
        return;
    case S_EXTERNAL_IP: {
        char ip[64];
        if (fault || !upnpc_soap_arg(body->str, body->len, "NewExternalIPAddress", ip, sizeof ip) ||
            !addr_ip_parse(g_strstrip(ip), &u->external_ip) || !u->external_ip) {
            fail(u, "the gateway has no external address for UPnP", now);
            return;
        }
        if (!u->port)
            u->port = u->cfg.internal.port;
        /* A mapping being re-created asks for its old port first, so the
         * peer's candidate stays true. */
        go(u, u->any_unsupported || u->recreate ? S_ADDING : S_ADDING_ANY, now);
        return;
    }
    case S_ADDING_ANY:
        if (status == 200) {
            uint32_t port = arg_uint(body, "NewReservedPort", 1, 65535, &ok);
            if (!ok) {
                fail(u, "AddAnyPortMapping answered without a port", now);
                return;
            }
            u->port = (uint16_t)port;
            go(u, S_VERIFYING, now);
        } else if (fault == UPNPC_ONLY_PERMANENT_LEASES && u->lease_s) {
            u->lease_s = 0;
            go(u, S_ADDING_ANY, now);
        } else if (fault == UPNPC_CONFLICT || fault == 728) {
            fail(u, "the gateway has no port left for us", now);
        } else if (fault == 606) {
            fail(u, "the gateway does not let us map (UPnP error 606)", now);
        } else { /* 401, 402, 404, 500: an IGD:1 gateway */
            u->any_unsupported = true;
            u->port_tries = 0;
            go(u, S_ADDING, now);
        }
        return;
    case S_ADDING:
    case S_RENEWING:
        if (status == 200)
            go(u, S_VERIFYING, now);
        else if (fault == UPNPC_ONLY_PERMANENT_LEASES && u->lease_s) {
            u->lease_s = 0;
            step(u, now);
        } else if (fault == UPNPC_CONFLICT && u->state == S_RENEWING)
            lost(u, now);
        else if (fault == UPNPC_CONFLICT || fault == UPNPC_INVALID_ARGS)
            conflict(u, now);
        else
            fail(u, "the gateway refused the UPnP mapping", now);
        return;
    case S_VERIFYING:
    case S_CHECKING: {
        char client[64];
        uint32_t client_ip = 0;
        bool ours = status == 200 &&
                    (!upnpc_soap_arg(body->str, body->len, "NewInternalClient", client, sizeof client) ||
                     (addr_ip_parse(g_strstrip(client), &client_ip) && client_ip == u->cfg.internal.ip));
        uint32_t iport = status == 200 ? arg_uint(body, "NewInternalPort", 1, 65535, &ok) : 0;
        ours = ours && (!ok || iport == u->cfg.internal.port);
        if (u->state == S_CHECKING) {
            if (ours || fault == UPNPC_INVALID_ACTION) {
                u->renewing = true;
                go(u, S_RENEWING, now);
            } else {
                lost(u, now);
            }
            return;
        }
        if (fault == UPNPC_INVALID_ACTION) { /* cannot look: take the add's word */
            mapped(u, u->lease_s, now);
        } else if (ours) {
            uint32_t lease = arg_uint(body, "NewLeaseDuration", 0, UINT32_MAX, &ok);
            mapped(u, ok ? lease : u->lease_s, now);
        } else if (status == 200) {
            conflict(u, now);
        } else {
            fail(u, "the gateway forgot the UPnP mapping it had just made", now);
        }
        return;
    }
    default:
        return;
    }
}

void upnpc_http(upnpc_t *u, unsigned id, const uint8_t *data, size_t len, usec_t now)
{
    if (!u->waiting || id != u->id)
        return; /* late, or of work given up */
    u->waiting = false;
    g_autoptr(GString) body = g_string_new(NULL);
    int status = len ? upnpc_http_read(data, len, body) : -1;
    if (status < 0) {
        if (len)
            u->stats.malformed++;
        http_failed(u, now);
        return;
    }
    u->stats.responses++;
    answer(u, status, body, now);
}

usec_t upnpc_bookkeeping(upnpc_t *u, usec_t now)
{
    switch (u->state) {
    case S_SEARCHING:
        if (now >= u->next) {
            if (u->tries >= SEARCH_TRIES) {
                fail(u, u->recreate ? "the UPnP gateway is gone" : "no UPnP IGD answered the search", now);
                return u->next;
            }
            search_send(u, now);
        }
        return u->next;
    case S_MAPPED:
        if (now >= u->renew_at)
            go(u, S_CHECKING, now);
        else
            return u->renew_at;
        break;
    case S_FAILED:
        if (u->next && now >= u->next) {
            u->recreate = true;
            search(u, now);
            return u->next;
        }
        return u->next;
    case S_IDLE:
        return 0;
    default:
        break;
    }
    if (u->waiting && now >= u->deadline) {
        u->stats.timeouts++;
        http_failed(u, now);
    }
    return u->state == S_SEARCHING ? u->next : u->waiting ? u->deadline : 0;
}
