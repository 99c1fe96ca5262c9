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
    unsigned connect_back_pending;
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
static bool check_request(const stun_server_t *s, const stun_message_t *req, bool stream,
                          addr_endpoint_t from, stun_message_t *resp)
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
    if (!stream)
        return true;
    if (((req->has & STUN_HAS_CHANGE_REQUEST) && req->change_request) ||
        (req->has & (STUN_HAS_RESPONSE_PORT | STUN_HAS_PADDING))) {
        set_error(resp, 400, "Bad Request: UDP only");
        return false;
    }
    if (req->has & STUN_HAS_CONNECT_BACK) {
        if (req->connect_back.ip != from.ip || req->connect_back.port == 0) {
            set_error(resp, 403, "Forbidden: connect back to yourself only");
            return false;
        }
        if ((req->connect_back_flags & STUN_CHANGE_IP) && !two_addresses(s)) {
            set_error(resp, 400, "Bad Request: one address only");
            return false;
        }
        if (s->connect_back_pending >= STUN_SERVER_CONNECT_BACK_MAX) {
            set_error(resp, 508, "Insufficient Capacity");
            return false;
        }
    }
    return true;
}

/* Fills resp with the success answer (RFC 5780 section 6.1). */
static void fill_success(const stun_server_t *server, const stun_message_t *req, unsigned arrived_on,
                         unsigned sock, addr_endpoint_t from, stun_message_t *resp)
{
    resp->msg_class = STUN_CLASS_SUCCESS;
    addr_endpoint_t origin = server->sockets[sock];
    addr_endpoint_t other = server->sockets[arrived_on ^ (SOCKET_BIT_IP | SOCKET_BIT_PORT)];
    resp->mapped = from;
    resp->has |= STUN_HAS_MAPPED;
    if (req->classic) {
        /* RFC 3489 section 11.1: nothing its clients do not know. */
        resp->source = origin;
        resp->has |= STUN_HAS_SOURCE;
        if (two_addresses(server)) {
            resp->changed = other;
            resp->has |= STUN_HAS_CHANGED;
        }
    } else {
        resp->xor_mapped = from;
        resp->response_origin = origin;
        resp->has |= STUN_HAS_XOR_MAPPED | STUN_HAS_RESPONSE_ORIGIN;
        if (two_addresses(server)) {
            resp->other_address = other;
            resp->has |= STUN_HAS_OTHER_ADDRESS;
        }
    }
}

/* Parses and counts; false when the message earns no answer at all. */
static bool accept_request(stun_server_t *server, const uint8_t *req_bytes, size_t len, stun_message_t *req)
{
    stun_error_t e = stun_read(req_bytes, len, req);
    if (e != STUN_OK) {
        server->stats.dropped[e]++;
        return false;
    }
    if (req->msg_class != STUN_CLASS_REQUEST || req->method != STUN_METHOD_BINDING) {
        server->stats.dropped_not_request++;
        return false;
    }
    server->stats.requests++;
    if (req->classic)
        server->stats.classic_requests++;
    return true;
}

static size_t write_answer(stun_server_t *server, stun_message_t *resp, size_t budget, bool pad,
                           uint8_t *out, size_t cap);

stun_server_reply_t stun_server_handle(stun_server_t *server, unsigned arrived_on,
                                       addr_endpoint_t from, const uint8_t *req_bytes, size_t len,
                                       uint8_t *out, size_t cap)
{
    stun_server_reply_t reply = { 0 };
    if (!server || arrived_on >= server->n_sockets || !out)
        return reply;
    stun_message_t req;
    if (!accept_request(server, req_bytes, len, &req))
        return reply;

    stun_message_t resp = { .method = STUN_METHOD_BINDING, .classic = req.classic };
    memcpy(resp.transaction_id, req.transaction_id, sizeof resp.transaction_id);
    unsigned sock = arrived_on;
    addr_endpoint_t to = from;
    bool pad = false;
    if (check_request(server, &req, false, from, &resp)) {
        if (req.has & STUN_HAS_CHANGE_REQUEST) {
            if (req.change_request & STUN_CHANGE_IP)
                sock ^= SOCKET_BIT_IP;
            if (req.change_request & STUN_CHANGE_PORT)
                sock ^= SOCKET_BIT_PORT;
        }
        if (req.has & STUN_HAS_RESPONSE_PORT)
            to.port = req.response_port;
        fill_success(server, &req, arrived_on, sock, from, &resp);
        pad = !req.classic && (req.has & STUN_HAS_PADDING);
    }
    /* The budget (see STUN_SERVER_REPLY_FLOOR); PADDING lifts it. */
    size_t n = write_answer(server, &resp, MAX(len, (size_t)STUN_SERVER_REPLY_FLOOR), pad, out, cap);
    if (n == 0)
        return reply;
    reply.len = n;
    reply.socket = sock;
    reply.to = to;
    return reply;
}

stun_server_reply_t stun_server_handle_stream(stun_server_t *server, unsigned arrived_on,
                                              addr_endpoint_t from, const uint8_t *req_bytes, size_t len,
                                              uint8_t *out, size_t cap,
                                              stun_server_connect_back_t *cb, bool *pending)
{
    stun_server_reply_t reply = { 0 };
    *pending = false;
    if (!server || arrived_on >= server->n_sockets || !out || !cb)
        return reply;
    stun_message_t req;
    if (!accept_request(server, req_bytes, len, &req))
        return reply;
    server->stats.stream_requests++;
    stun_message_t resp = { .method = STUN_METHOD_BINDING, .classic = req.classic };
    memcpy(resp.transaction_id, req.transaction_id, sizeof resp.transaction_id);
    if (check_request(server, &req, true, from, &resp)) {
        if (!req.classic && (req.has & STUN_HAS_CONNECT_BACK)) {
            *cb = (stun_server_connect_back_t){
                .to = req.connect_back,
                .from_ip = server->sockets[(req.connect_back_flags & STUN_CHANGE_IP) ? SOCKET_BIT_IP : 0].ip,
                .arrived_on = arrived_on,
                .client = from,
            };
            memcpy(cb->transaction_id, req.transaction_id, sizeof cb->transaction_id);
            server->connect_back_pending++;
            server->stats.connect_backs++;
            *pending = true;
            return reply;
        }
        fill_success(server, &req, arrived_on, arrived_on, from, &resp);
    } else if (req.has & STUN_HAS_CONNECT_BACK) {
        server->stats.connect_back_refused++;
    }
    reply.len = write_answer(server, &resp, cap, false, out, cap);
    reply.socket = arrived_on;
    reply.to = from;
    return reply;
}

size_t stun_server_connect_back_answer(stun_server_t *server, const stun_server_connect_back_t *cb,
                                       const stun_connect_result_t *result, uint8_t *out, size_t cap)
{
    if (!server || !cb || !result || !out)
        return 0;
    if (server->connect_back_pending > 0)
        server->connect_back_pending--;
    if (result->outcome < STUN_CONNECT_COUNT)
        server->stats.connect_back_outcomes[result->outcome]++;
    stun_message_t req = { 0 };
    stun_message_t resp = { .method = STUN_METHOD_BINDING };
    memcpy(resp.transaction_id, cb->transaction_id, sizeof cb->transaction_id);
    fill_success(server, &req, cb->arrived_on, cb->arrived_on, cb->client, &resp);
    resp.connect_result = *result;
    resp.has |= STUN_HAS_CONNECT_RESULT;
    return write_answer(server, &resp, cap, false, out, cap);
}

unsigned stun_server_connect_back_pending(const stun_server_t *server)
{
    return server->connect_back_pending;
}

static size_t write_answer(stun_server_t *server, stun_message_t *resp, size_t budget, bool pad,
                           uint8_t *out, size_t cap)
{
    if (server->software) {
        g_strlcpy(resp->software, server->software, sizeof resp->software);
        resp->has |= STUN_HAS_SOFTWARE;
    }

    /* PADDING fills the answer up to STUN_MAX_MESSAGE, the size RFC 5780
     * section 7.6 suggests (the MTU). */
    size_t pad_to = MIN(cap, (size_t)STUN_MAX_MESSAGE) & ~(size_t)3;
    if (pad)
        budget = MAX(budget, pad_to);
    bool fingerprint = !resp->classic;
    size_t n;
    for (;;) {
        n = stun_write(resp, fingerprint, out, cap);
        if (n > 0 && n <= budget)
            break;
        if (resp->has & STUN_HAS_SOFTWARE)
            resp->has &= ~(uint32_t)STUN_HAS_SOFTWARE;
        else if (resp->n_unknown > 1)
            resp->n_unknown--;
        else if (fingerprint)
            fingerprint = false;
        else
            return 0; /* cap too small for any answer */
    }
    if (pad && n + 4 <= pad_to) {
        resp->padding_len = (uint16_t)(pad_to - n - 4);
        resp->has |= STUN_HAS_PADDING;
        n = stun_write(resp, fingerprint, out, cap); /* fits: pad_to <= cap */
    }
    server->stats.responses++;
    if (resp->msg_class == STUN_CLASS_ERROR)
        server->stats.errors_sent++;
    return n;
}
