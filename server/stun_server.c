#include "stun_server.h"

#include <glib.h>
#include <string.h>

/* Socket index bits: bit 0 = the alternate port, bit 1 = the alternate
 * address, so CHANGE-REQUEST flips bits and Ca:Cp is `socket ^ 3`. */
#define SOCKET_BIT_PORT 1u
#define SOCKET_BIT_IP 2u

struct stun_server {
    addr_endpoint_t sockets[STUN_SOCKET_COUNT];
    unsigned n_sockets;
    char *software;
    stun_server_stats_t stats;
};

stun_server_t *stun_server_new(const stun_server_config_t *config)
{
    if (!config || config->address == 0 || config->port == 0 || config->alt_port == 0 ||
        config->port == config->alt_port || config->alt_address == config->address)
        return NULL;
    stun_server_t *s = g_new0(stun_server_t, 1);
    s->n_sockets = config->alt_address ? STUN_SOCKET_COUNT : 2;
    for (unsigned i = 0; i < s->n_sockets; i++)
        s->sockets[i] = addr_endpoint(i & SOCKET_BIT_IP ? config->alt_address : config->address,
                                      i & SOCKET_BIT_PORT ? config->alt_port : config->port);
    if (config->software && config->software[0])
        s->software = g_strdup(config->software);
    return s;
}

void stun_server_free(stun_server_t *server)
{
    if (!server)
        return;
    g_free(server->software);
    g_free(server);
}

addr_endpoint_t stun_server_socket_endpoint(const stun_server_t *server, unsigned socket)
{
    return socket < server->n_sockets ? server->sockets[socket] : addr_endpoint(0, 0);
}

unsigned stun_server_socket_count(const stun_server_t *server)
{
    return server->n_sockets;
}

const stun_server_stats_t *stun_server_stats(const stun_server_t *server)
{
    return &server->stats;
}

static bool two_addresses(const stun_server_t *s)
{
    return s->n_sockets == STUN_SOCKET_COUNT;
}

static void set_error(stun_message_t *resp, uint16_t code, const char *reason)
{
    resp->msg_class = STUN_CLASS_ERROR;
    resp->error_code = code;
    g_strlcpy(resp->error_reason, reason, sizeof resp->error_reason);
    resp->has |= STUN_HAS_ERROR;
}

/* Which error, if any, the request earns (RFC 8489 section 6.3.1, RFC 5780
 * section 6.1); fills the error parts of resp. */
static bool check_request(const stun_server_t *s, const stun_message_t *req, stun_message_t *resp)
{
    if (req->n_unknown > 0) {
        set_error(resp, 420, "Unknown Attribute");
        memcpy(resp->unknown, req->unknown, sizeof resp->unknown);
        resp->n_unknown = req->n_unknown;
        resp->has |= STUN_HAS_UNKNOWN;
        return false;
    }
    if ((req->has & STUN_HAS_CHANGE_REQUEST) && req->change_request && !two_addresses(s)) {
        set_error(resp, 420, "Unknown Attribute");
        resp->unknown[0] = STUN_ATTR_CHANGE_REQUEST;
        resp->n_unknown = 1;
        resp->has |= STUN_HAS_UNKNOWN;
        return false;
    }
    if ((req->has & STUN_HAS_RESPONSE_PORT) &&
        ((req->has & STUN_HAS_PADDING) || req->response_port == 0)) {
        set_error(resp, 400, "Bad Request");
        return false;
    }
    return true;
}

stun_server_reply_t stun_server_handle(stun_server_t *server, unsigned arrived_on,
                                       addr_endpoint_t from, const uint8_t *req_bytes, size_t len,
                                       uint8_t *out, size_t cap)
{
    stun_server_reply_t reply = { 0 };
    if (!server || arrived_on >= server->n_sockets || !out)
        return reply;
    stun_message_t req;
    stun_error_t e = stun_read(req_bytes, len, &req);
    if (e != STUN_OK) {
        server->stats.dropped[e]++;
        return reply;
    }
    if (req.msg_class != STUN_CLASS_REQUEST || req.method != STUN_METHOD_BINDING) {
        server->stats.dropped_not_request++;
        return reply;
    }
    server->stats.requests++;
    if (req.classic)
        server->stats.classic_requests++;

    stun_message_t resp = { .method = STUN_METHOD_BINDING, .classic = req.classic };
    memcpy(resp.transaction_id, req.transaction_id, sizeof resp.transaction_id);
    unsigned sock = arrived_on;
    addr_endpoint_t to = from;
    bool pad = false;
    if (check_request(server, &req, &resp)) {
        resp.msg_class = STUN_CLASS_SUCCESS;
        if (req.has & STUN_HAS_CHANGE_REQUEST) {
            if (req.change_request & STUN_CHANGE_IP)
                sock ^= SOCKET_BIT_IP;
            if (req.change_request & STUN_CHANGE_PORT)
                sock ^= SOCKET_BIT_PORT;
        }
        if (req.has & STUN_HAS_RESPONSE_PORT)
            to.port = req.response_port;
        addr_endpoint_t origin = server->sockets[sock];
        addr_endpoint_t other = server->sockets[arrived_on ^ (SOCKET_BIT_IP | SOCKET_BIT_PORT)];
        resp.mapped = from;
        resp.has |= STUN_HAS_MAPPED;
        if (req.classic) {
            /* RFC 3489 section 11.1: nothing its clients do not know. */
            resp.source = origin;
            resp.has |= STUN_HAS_SOURCE;
            if (two_addresses(server)) {
                resp.changed = other;
                resp.has |= STUN_HAS_CHANGED;
            }
        } else {
            resp.xor_mapped = from;
            resp.response_origin = origin;
            resp.has |= STUN_HAS_XOR_MAPPED | STUN_HAS_RESPONSE_ORIGIN;
            if (two_addresses(server)) {
                resp.other_address = other;
                resp.has |= STUN_HAS_OTHER_ADDRESS;
            }
            pad = req.has & STUN_HAS_PADDING;
        }
    }
    if (server->software) {
        g_strlcpy(resp.software, server->software, sizeof resp.software);
        resp.has |= STUN_HAS_SOFTWARE;
    }

    /* The budget (see STUN_SERVER_REPLY_FLOOR); PADDING fills the answer up
     * to STUN_MAX_MESSAGE, the size RFC 5780 section 7.6 suggests (the MTU). */
    size_t pad_to = MIN(cap, (size_t)STUN_MAX_MESSAGE) & ~(size_t)3;
    size_t budget = MAX(len, (size_t)STUN_SERVER_REPLY_FLOOR);
    if (pad)
        budget = MAX(budget, pad_to);
    bool fingerprint = !resp.classic;
    size_t n;
    for (;;) {
        n = stun_write(&resp, fingerprint, out, cap);
        if (n > 0 && n <= budget)
            break;
        if (resp.has & STUN_HAS_SOFTWARE)
            resp.has &= ~(uint32_t)STUN_HAS_SOFTWARE;
        else if (resp.n_unknown > 1)
            resp.n_unknown--;
        else if (fingerprint)
            fingerprint = false;
        else
            return reply; /* cap too small for any answer */
    }
    if (pad && n + 4 <= pad_to) {
        resp.padding_len = (uint16_t)(pad_to - n - 4);
        resp.has |= STUN_HAS_PADDING;
        n = stun_write(&resp, fingerprint, out, cap); /* fits: pad_to <= cap */
    }
    reply.len = n;
    reply.socket = sock;
    reply.to = to;
    server->stats.responses++;
    if (resp.msg_class == STUN_CLASS_ERROR)
        server->stats.errors_sent++;
    return reply;
}
