/* server/stun_server: RFC 5780 section 6.1 server behaviour, RFC 3489
 * clients, errors, and the amplification bound, one behaviour per test. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/stun_server.h"
#include "common/rng.h"
#include "common/wire.h"
#include "testutil.h"

#define IP(a, b, c, d) ADDR_IP(a, b, c, d)
#define A1 IP(198, 19, 1, 1)
#define A2 IP(198, 19, 1, 2)
#define P1 3478
#define P2 3479
#define CLIENT addr_endpoint(IP(198, 18, 1, 1), 40000)

static const uint8_t id12[STUN_TRANSACTION_ID_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

static stun_server_t *server_two(const char *software)
{
    stun_server_config_t c = { .address = A1, .alt_address = A2, .port = P1, .alt_port = P2,
                               .software = software };
    return stun_server_new(&c);
}

static stun_server_t *server_one(void)
{
    stun_server_config_t c = { .address = A1, .port = P1, .alt_port = P2 };
    return stun_server_new(&c);
}

typedef struct exchange {
    stun_server_reply_t reply;
    stun_message_t resp;
    stun_error_t parsed;
    uint8_t out[STUN_MAX_MESSAGE];
} exchange_t;

/* Hands `req` (bytes) to the server; parses what comes back. */
static void exchange(stun_server_t *s, unsigned socket, addr_endpoint_t from, const uint8_t *req, size_t len,
                     exchange_t *x)
{
    uint8_t *copy = malloc(len ? len : 1); /* exact size, for ASan */
    if (len)
        memcpy(copy, req, len);
    x->reply = stun_server_handle(s, socket, from, copy, len, x->out, sizeof x->out);
    free(copy);
    x->parsed = x->reply.len ? stun_read(x->out, x->reply.len, &x->resp) : STUN_ERR_TOO_SHORT;
}

static size_t request_bytes(const stun_message_t *m, bool fingerprint, uint8_t *buf, size_t cap)
{
    size_t n = stun_write(m, fingerprint, buf, cap);
    CU_ASSERT_FATAL(n > 0);
    return n;
}

/* Appends one raw attribute to a message in buf (no FINGERPRINT yet). */
static size_t append_attr(uint8_t *buf, size_t n, uint16_t type, const void *value, uint16_t len)
{
    wire_put16(buf + n, type);
    wire_put16(buf + n + 2, len);
    memset(buf + n + 4, 0, (len + 3u) & ~3u);
    if (len)
        memcpy(buf + n + 4, value, len);
    n += 4 + ((len + 3u) & ~3u);
    wire_put16(buf + 2, (uint16_t)(n - STUN_HEADER_SIZE));
    return n;
}

/* --- configuration ------------------------------------------------------------- */

static void test_config(void)
{
    stun_server_config_t bad[] = {
        { .address = 0, .port = P1, .alt_port = P2 },
        { .address = A1, .port = 0, .alt_port = P2 },
        { .address = A1, .port = P1, .alt_port = 0 },
        { .address = A1, .port = P1, .alt_port = P1 },
        { .address = A1, .alt_address = A1, .port = P1, .alt_port = P2 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        CU_ASSERT_PTR_NULL(stun_server_new(&bad[i]));
    CU_ASSERT_PTR_NULL(stun_server_new(NULL));
    stun_server_free(NULL);

    stun_server_t *s = server_two(NULL);
    CU_ASSERT_EQUAL(stun_server_socket_count(s), 4);
    CU_ASSERT_TRUE(addr_endpoint_equal(stun_server_socket_endpoint(s, STUN_SOCKET_PRIMARY), addr_endpoint(A1, P1)));
    CU_ASSERT_TRUE(addr_endpoint_equal(stun_server_socket_endpoint(s, STUN_SOCKET_CHANGE_PORT), addr_endpoint(A1, P2)));
    CU_ASSERT_TRUE(addr_endpoint_equal(stun_server_socket_endpoint(s, STUN_SOCKET_CHANGE_IP), addr_endpoint(A2, P1)));
    CU_ASSERT_TRUE(addr_endpoint_equal(stun_server_socket_endpoint(s, STUN_SOCKET_CHANGE_BOTH), addr_endpoint(A2, P2)));
    CU_ASSERT_EQUAL(stun_server_socket_endpoint(s, 4).ip, 0);
    stun_server_free(s);
    s = server_one();
    CU_ASSERT_EQUAL(stun_server_socket_count(s), 2);
    CU_ASSERT_TRUE(addr_endpoint_equal(stun_server_socket_endpoint(s, 1), addr_endpoint(A1, P2)));
    CU_ASSERT_EQUAL(stun_server_socket_endpoint(s, 2).ip, 0);
    stun_server_free(s);
}

/* --- RFC 5780 section 6.1 -------------------------------------------------------- */

/* Every arrival socket x every CHANGE-REQUEST: the table of rfc-digest
 * section 3 (response source Da:Dp / Ca:Dp / Da:Cp / Ca:Cp, OTHER-ADDRESS
 * Ca:Cp), with both mapped forms and a valid FINGERPRINT. */
static void test_change_request_table(void)
{
    stun_server_t *s = server_two(NULL);
    for (unsigned arrived = 0; arrived < 4; arrived++) {
        for (unsigned flags = 0; flags < 4; flags++) {
            uint32_t change = (flags & 1 ? STUN_CHANGE_IP : 0) | (flags & 2 ? STUN_CHANGE_PORT : 0);
            stun_message_t req;
            stun_binding_request(&req, id12, change, 0, 0);
            uint8_t buf[64];
            size_t n = request_bytes(&req, false, buf, sizeof buf);
            exchange_t x;
            exchange(s, arrived, CLIENT, buf, n, &x);
            CU_ASSERT_EQUAL_FATAL(x.parsed, STUN_OK);
            unsigned want = arrived ^ (flags & 1 ? 2u : 0u) ^ (flags & 2 ? 1u : 0u);
            CU_ASSERT_EQUAL(x.reply.socket, want);
            CU_ASSERT_TRUE(addr_endpoint_equal(x.reply.to, CLIENT));
            const stun_message_t *r = &x.resp;
            CU_ASSERT_EQUAL(r->msg_class, STUN_CLASS_SUCCESS);
            CU_ASSERT_EQUAL(r->method, STUN_METHOD_BINDING);
            CU_ASSERT_FALSE(r->classic);
            CU_ASSERT_TRUE(stun_transaction_equal(r, &req));
            CU_ASSERT_EQUAL(r->has, STUN_HAS_XOR_MAPPED | STUN_HAS_MAPPED | STUN_HAS_RESPONSE_ORIGIN |
                                        STUN_HAS_OTHER_ADDRESS | STUN_HAS_FINGERPRINT);
            CU_ASSERT_TRUE(addr_endpoint_equal(r->xor_mapped, CLIENT));
            CU_ASSERT_TRUE(addr_endpoint_equal(r->mapped, CLIENT));
            CU_ASSERT_TRUE(addr_endpoint_equal(r->response_origin, stun_server_socket_endpoint(s, want)));
            CU_ASSERT_TRUE(addr_endpoint_equal(r->other_address, stun_server_socket_endpoint(s, arrived ^ 3)));
        }
    }
    CU_ASSERT_EQUAL(stun_server_stats(s)->requests, 16);
    CU_ASSERT_EQUAL(stun_server_stats(s)->responses, 16);
    CU_ASSERT_EQUAL(stun_server_stats(s)->errors_sent, 0);
    stun_server_free(s);
}

/* RESPONSE-PORT: the answer goes to the source IP on that port, still from
 * the socket CHANGE-REQUEST picks, and still names the real source. */
static void test_response_port(void)
{
    stun_server_t *s = server_two(NULL);
    stun_message_t req;
    stun_binding_request(&req, id12, STUN_CHANGE_PORT, 50001, 0);
    uint8_t buf[64];
    size_t n = request_bytes(&req, true, buf, sizeof buf);
    exchange_t x;
    exchange(s, STUN_SOCKET_PRIMARY, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL_FATAL(x.parsed, STUN_OK);
    CU_ASSERT_TRUE(addr_endpoint_equal(x.reply.to, addr_endpoint(CLIENT.ip, 50001)));
    CU_ASSERT_EQUAL(x.reply.socket, STUN_SOCKET_CHANGE_PORT);
    CU_ASSERT_TRUE(addr_endpoint_equal(x.resp.xor_mapped, CLIENT));
    /* RESPONSE-PORT 0: no port to send to. */
    stun_binding_request(&req, id12, 0, 0, 0);
    n = request_bytes(&req, false, buf, sizeof buf);
    n = append_attr(buf, n, STUN_ATTR_RESPONSE_PORT, "\x00\x00\x00\x00", 4);
    exchange(s, STUN_SOCKET_PRIMARY, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL_FATAL(x.parsed, STUN_OK);
    CU_ASSERT_EQUAL(x.resp.msg_class, STUN_CLASS_ERROR);
    CU_ASSERT_EQUAL(x.resp.error_code, 400);
    CU_ASSERT_TRUE(addr_endpoint_equal(x.reply.to, CLIENT));
    stun_server_free(s);
}

/* PADDING: the answer carries PADDING and is STUN_MAX_MESSAGE bytes, even
 * to a smaller request; with RESPONSE-PORT it is 400 Bad Request. */
static void test_padding(void)
{
    stun_server_t *s = server_two("natlab test");
    stun_message_t req;
    stun_binding_request(&req, id12, 0, 0, 100);
    uint8_t buf[STUN_MAX_MESSAGE];
    size_t n = request_bytes(&req, true, buf, sizeof buf);
    exchange_t x;
    exchange(s, STUN_SOCKET_CHANGE_IP, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL_FATAL(x.parsed, STUN_OK);
    CU_ASSERT_EQUAL(x.reply.len, STUN_MAX_MESSAGE);
    CU_ASSERT_TRUE(x.resp.has & STUN_HAS_PADDING);
    CU_ASSERT_TRUE(x.resp.has & STUN_HAS_SOFTWARE);
    CU_ASSERT_TRUE(x.resp.has & STUN_HAS_FINGERPRINT);
    CU_ASSERT_EQUAL(x.resp.padding_len % 4, 0);
    /* A smaller buffer: padded to what fits, never past it. */
    uint8_t small[600];
    stun_server_reply_t r = stun_server_handle(s, 0, CLIENT, buf, n, small, sizeof small);
    CU_ASSERT_EQUAL(r.len, 600);

    stun_binding_request(&req, id12, 0, 40000, 100);
    n = request_bytes(&req, false, buf, sizeof buf);
    exchange(s, STUN_SOCKET_PRIMARY, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL_FATAL(x.parsed, STUN_OK);
    CU_ASSERT_EQUAL(x.resp.msg_class, STUN_CLASS_ERROR);
    CU_ASSERT_EQUAL(x.resp.error_code, 400);
    CU_ASSERT_FALSE(x.resp.has & STUN_HAS_PADDING);
    CU_ASSERT_TRUE(addr_endpoint_equal(x.reply.to, CLIENT)); /* not to port 40000 */
    CU_ASSERT_EQUAL(x.reply.socket, STUN_SOCKET_PRIMARY);
    stun_server_free(s);
}

/* Unknown comprehension-required attributes: 420 listing them; unknown
 * optional ones are ignored. */
static void test_unknown_attributes(void)
{
    stun_server_t *s = server_two(NULL);
    stun_message_t req;
    stun_binding_request(&req, id12, STUN_CHANGE_IP, 0, 0);
    uint8_t buf[256];
    size_t n = request_bytes(&req, false, buf, sizeof buf);
    n = append_attr(buf, n, 0x0024, "\x6e\x00\x01\xff", 4); /* ICE PRIORITY */
    n = append_attr(buf, n, 0xc057, "\x00\x01\x00\x0a", 4); /* optional: ignored */
    n = append_attr(buf, n, 0x0777, "", 0);
    exchange_t x;
    exchange(s, STUN_SOCKET_CHANGE_PORT, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL_FATAL(x.parsed, STUN_OK);
    CU_ASSERT_EQUAL(x.resp.msg_class, STUN_CLASS_ERROR);
    CU_ASSERT_EQUAL(x.resp.error_code, 420);
    CU_ASSERT_TRUE(x.resp.has & STUN_HAS_UNKNOWN);
    CU_ASSERT_EQUAL(x.resp.n_unknown, 2);
    CU_ASSERT_EQUAL(x.resp.unknown[0], 0x0024);
    CU_ASSERT_EQUAL(x.resp.unknown[1], 0x0777);
    /* Errors go back the way the request came, CHANGE-REQUEST or not. */
    CU_ASSERT_EQUAL(x.reply.socket, STUN_SOCKET_CHANGE_PORT);
    CU_ASSERT_TRUE(addr_endpoint_equal(x.reply.to, CLIENT));
    CU_ASSERT_TRUE(stun_transaction_equal(&x.resp, &req));
    CU_ASSERT_EQUAL(stun_server_stats(s)->errors_sent, 1);

    /* Only optional unknowns: a normal answer. */
    n = request_bytes(&req, false, buf, sizeof buf);
    n = append_attr(buf, n, 0xc057, "\x00\x01\x00\x0a", 4);
    exchange(s, STUN_SOCKET_PRIMARY, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL_FATAL(x.parsed, STUN_OK);
    CU_ASSERT_EQUAL(x.resp.msg_class, STUN_CLASS_SUCCESS);
    stun_server_free(s);
}

/* A one-address server: CHANGE-REQUEST with a flag -> 420 listing it; a
 * zero CHANGE-REQUEST is answered; no OTHER-ADDRESS, no CHANGED-ADDRESS. */
static void test_one_address(void)
{
    stun_server_t *s = server_one();
    stun_message_t req;
    uint8_t buf[64];
    exchange_t x;
    for (uint32_t change = STUN_CHANGE_PORT; change <= (STUN_CHANGE_IP | STUN_CHANGE_PORT); change += 2) {
        stun_binding_request(&req, id12, change, 0, 0);
        size_t n = request_bytes(&req, false, buf, sizeof buf);
        exchange(s, STUN_SOCKET_PRIMARY, CLIENT, buf, n, &x);
        CU_ASSERT_EQUAL_FATAL(x.parsed, STUN_OK);
        CU_ASSERT_EQUAL(x.resp.error_code, 420);
        CU_ASSERT_EQUAL(x.resp.n_unknown, 1);
        CU_ASSERT_EQUAL(x.resp.unknown[0], STUN_ATTR_CHANGE_REQUEST);
        CU_ASSERT_EQUAL(x.reply.socket, STUN_SOCKET_PRIMARY);
    }
    stun_binding_request(&req, id12, 0, 0, 0);
    size_t n = request_bytes(&req, false, buf, sizeof buf);
    n = append_attr(buf, n, STUN_ATTR_CHANGE_REQUEST, "\x00\x00\x00\x00", 4);
    exchange(s, STUN_SOCKET_CHANGE_PORT, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL_FATAL(x.parsed, STUN_OK);
    CU_ASSERT_EQUAL(x.resp.msg_class, STUN_CLASS_SUCCESS);
    CU_ASSERT_EQUAL(x.reply.socket, STUN_SOCKET_CHANGE_PORT);
    CU_ASSERT_FALSE(x.resp.has & STUN_HAS_OTHER_ADDRESS);
    CU_ASSERT_TRUE(addr_endpoint_equal(x.resp.response_origin, addr_endpoint(A1, P2)));
    /* Sockets it does not have. */
    exchange(s, STUN_SOCKET_CHANGE_IP, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL(x.reply.len, 0);
    stun_server_free(s);
}

/* --- RFC 3489 clients ----------------------------------------------------------------- */

/* The classic stun client's test I and II requests: 28 bytes, CHANGE-REQUEST
 * always present, a 16-byte id with the test number in byte 0. */
static size_t classic_request(uint8_t *buf, uint8_t test, uint32_t change)
{
    static const uint8_t rest[15] = { 0x3d, 0x42, 0x50, 0xb0, 0x4e, 0xae, 0x7f, 0x62,
                                      0x93, 0x17, 0x46, 0xc8, 0xd0, 0xb8, 0x1a };
    wire_put16(buf, 0x0001);
    wire_put16(buf + 2, 8);
    buf[4] = test;
    memcpy(buf + 5, rest, sizeof rest);
    wire_put16(buf + 20, STUN_ATTR_CHANGE_REQUEST);
    wire_put16(buf + 22, 4);
    wire_put32(buf + 24, change);
    return 28;
}

static void test_classic_client(void)
{
    stun_server_t *s = server_two("natlab");
    uint8_t buf[28];
    exchange_t x;
    /* Test I: from A1:P1; MAPPED, SOURCE, CHANGED and nothing else. */
    size_t n = classic_request(buf, 1, 0);
    exchange(s, STUN_SOCKET_PRIMARY, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL_FATAL(x.parsed, STUN_OK);
    CU_ASSERT_TRUE(x.resp.classic);
    CU_ASSERT_EQUAL(x.reply.len, 56);
    CU_ASSERT_EQUAL(memcmp(x.out + 4, buf + 4, 16), 0); /* all 16 id bytes */
    CU_ASSERT_EQUAL(wire_get16(x.out), 0x0101);
    CU_ASSERT_EQUAL(wire_get16(x.out + 2) + 20u, x.reply.len);
    CU_ASSERT_EQUAL(x.resp.has, STUN_HAS_MAPPED | STUN_HAS_SOURCE | STUN_HAS_CHANGED);
    CU_ASSERT_TRUE(addr_endpoint_equal(x.resp.mapped, CLIENT));
    CU_ASSERT_TRUE(addr_endpoint_equal(x.resp.source, addr_endpoint(A1, P1)));
    CU_ASSERT_TRUE(addr_endpoint_equal(x.resp.changed, addr_endpoint(A2, P2)));
    for (size_t off = 20; off < x.reply.len; off += 12) /* types it knows, never 0x0020 */
        CU_ASSERT_TRUE(wire_get16(x.out + off) <= STUN_ATTR_CHANGED_ADDRESS);
    /* Test II is change-IP only: the answer leaves from A2:P1. */
    n = classic_request(buf, 2, STUN_CHANGE_IP);
    exchange(s, STUN_SOCKET_PRIMARY, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL_FATAL(x.parsed, STUN_OK);
    CU_ASSERT_EQUAL(x.reply.socket, STUN_SOCKET_CHANGE_IP);
    CU_ASSERT_TRUE(addr_endpoint_equal(x.resp.source, addr_endpoint(A2, P1)));
    /* Test III, change port. */
    n = classic_request(buf, 3, STUN_CHANGE_PORT);
    exchange(s, STUN_SOCKET_PRIMARY, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL(x.reply.socket, STUN_SOCKET_CHANGE_PORT);
    /* Test I again at CHANGED-ADDRESS (A2:P2): CHANGED is then A1:P1. */
    n = classic_request(buf, 10, 0);
    exchange(s, STUN_SOCKET_CHANGE_BOTH, CLIENT, buf, n, &x);
    CU_ASSERT_TRUE(addr_endpoint_equal(x.resp.changed, addr_endpoint(A1, P1)));
    CU_ASSERT_EQUAL(stun_server_stats(s)->classic_requests, 4);
    stun_server_free(s);

    /* One address: no CHANGED-ADDRESS either. */
    s = server_one();
    n = classic_request(buf, 1, 0);
    exchange(s, STUN_SOCKET_PRIMARY, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL_FATAL(x.parsed, STUN_OK);
    CU_ASSERT_EQUAL(x.resp.has, STUN_HAS_MAPPED | STUN_HAS_SOURCE);
    stun_server_free(s);
}

/* --- what is dropped -------------------------------------------------------------------- */

static void test_dropped_and_counted(void)
{
    stun_server_t *s = server_two(NULL);
    exchange_t x;
    uint8_t buf[64] = { 0 };
    exchange(s, 0, CLIENT, (const uint8_t *)"hello", 5, &x);
    CU_ASSERT_EQUAL(x.reply.len, 0);
    memcpy(buf, "\xff\xff\x00\x00", 4);
    exchange(s, 0, CLIENT, buf, 20, &x);
    CU_ASSERT_EQUAL(x.reply.len, 0);
    stun_message_t m;
    stun_binding_request(&m, id12, 0, 0, 0);
    size_t n = request_bytes(&m, false, buf, sizeof buf);
    exchange(s, 0, CLIENT, buf, n + 4, &x); /* trailing bytes */
    CU_ASSERT_EQUAL(x.reply.len, 0);
    n = request_bytes(&m, true, buf, sizeof buf);
    buf[n - 1] ^= 1;
    exchange(s, 0, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL(x.reply.len, 0);
    n = append_attr(buf, 20, 0x0001, "\x00\x01\x00", 3); /* MAPPED-ADDRESS of 3 bytes */
    wire_put16(buf + 2, (uint16_t)(n - 20));
    exchange(s, 0, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL(x.reply.len, 0);
    /* Responses, indications, other methods. */
    uint16_t classes[] = { STUN_CLASS_SUCCESS, STUN_CLASS_ERROR, STUN_CLASS_INDICATION };
    for (size_t i = 0; i < G_N_ELEMENTS(classes); i++) {
        stun_binding_request(&m, id12, 0, 0, 0);
        m.msg_class = classes[i];
        n = request_bytes(&m, false, buf, sizeof buf);
        exchange(s, 0, CLIENT, buf, n, &x);
        CU_ASSERT_EQUAL(x.reply.len, 0);
    }
    stun_binding_request(&m, id12, 0, 0, 0);
    m.method = 0x003; /* TURN Allocate */
    n = request_bytes(&m, false, buf, sizeof buf);
    exchange(s, 0, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL(x.reply.len, 0);

    const stun_server_stats_t *st = stun_server_stats(s);
    CU_ASSERT_EQUAL(st->dropped[STUN_ERR_TOO_SHORT], 1);
    CU_ASSERT_EQUAL(st->dropped[STUN_ERR_NOT_STUN], 1);
    CU_ASSERT_EQUAL(st->dropped[STUN_ERR_BAD_LENGTH], 1);
    CU_ASSERT_EQUAL(st->dropped[STUN_ERR_BAD_FINGERPRINT], 1);
    CU_ASSERT_EQUAL(st->dropped[STUN_ERR_BAD_ATTRIBUTE], 1);
    CU_ASSERT_EQUAL(st->dropped_not_request, 4);
    CU_ASSERT_EQUAL(st->requests, 0);
    CU_ASSERT_EQUAL(st->responses, 0);
    /* A socket the server does not have, or no output buffer. */
    stun_binding_request(&m, id12, 0, 0, 0);
    n = request_bytes(&m, false, buf, sizeof buf);
    exchange(s, 4, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL(x.reply.len, 0);
    CU_ASSERT_EQUAL(stun_server_handle(s, 0, CLIENT, buf, n, NULL, 0).len, 0);
    stun_server_free(s);
}

/* --- amplification ------------------------------------------------------------------------ */

/* What the two third-party clients send: 20 bytes (natdiscovery), 28
 * (classic): each answer within the floor, FINGERPRINT kept, SOFTWARE left
 * out until a request is big enough to pay for it. */
static void test_amplification_floor(void)
{
    stun_server_t *s = server_two("natlab 0.1.0");
    stun_message_t req;
    stun_binding_request(&req, id12, 0, 0, 0);
    uint8_t buf[256];
    size_t n = request_bytes(&req, false, buf, sizeof buf);
    CU_ASSERT_EQUAL(n, 20);
    exchange_t x;
    exchange(s, 0, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL_FATAL(x.parsed, STUN_OK);
    CU_ASSERT_EQUAL(x.reply.len, STUN_SERVER_REPLY_FLOOR);
    CU_ASSERT_TRUE(x.resp.has & STUN_HAS_FINGERPRINT);
    CU_ASSERT_FALSE(x.resp.has & STUN_HAS_SOFTWARE);
    /* A request with its own SOFTWARE is big enough to get ours. */
    strcpy(req.software, "a client whose request is big enough to pay for our SOFTWARE.");
    req.has |= STUN_HAS_SOFTWARE;
    n = request_bytes(&req, true, buf, sizeof buf);
    exchange(s, 0, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL_FATAL(x.parsed, STUN_OK);
    CU_ASSERT_TRUE(x.resp.has & STUN_HAS_SOFTWARE);
    CU_ASSERT_STRING_EQUAL(x.resp.software, "natlab 0.1.0");
    CU_ASSERT_TRUE(x.reply.len <= n);
    /* Sixteen unknown attributes of no length: the 420 lists what fits. */
    stun_binding_request(&req, id12, 0, 0, 0);
    n = request_bytes(&req, false, buf, sizeof buf);
    for (uint16_t t = 0x0040; t < 0x0050; t++)
        n = append_attr(buf, n, t, "", 0);
    exchange(s, 0, CLIENT, buf, n, &x);
    CU_ASSERT_EQUAL_FATAL(x.parsed, STUN_OK);
    CU_ASSERT_EQUAL(x.resp.error_code, 420);
    CU_ASSERT_TRUE(x.reply.len <= MAX(n, (size_t)STUN_SERVER_REPLY_FLOOR));
    CU_ASSERT_TRUE(x.resp.n_unknown >= 1);
    stun_server_free(s);
}

/* Random requests (valid, mutated, junk) on random sockets: the answer is
 * never bigger than the request or the floor, unless PADDING asked, and
 * then never bigger than STUN_MAX_MESSAGE; every answer parses. */
static void test_amplification_property(void)
{
    stun_server_t *two = server_two("a rather long SOFTWARE value for natlab's server, to be trimmed");
    stun_server_t *one = server_one();
    rng_t r;
    rng_seed(&r, 5780);
    uint8_t buf[2048];
    int bad = 0;
    for (int iter = 0; iter < 20000 && bad < 5; iter++) {
        stun_server_t *s = rng_below(&r, 3) ? two : one;
        stun_message_t req;
        uint8_t id[STUN_TRANSACTION_ID_SIZE];
        for (int i = 0; i < STUN_TRANSACTION_ID_SIZE; i++)
            id[i] = (uint8_t)rng_next(&r);
        stun_binding_request(&req, id, rng_below(&r, 8), rng_below(&r, 4) ? 0 : (uint16_t)rng_next(&r),
                             rng_below(&r, 4) ? 0 : (uint16_t)rng_below(&r, 1200));
        size_t n = stun_write(&req, rng_below(&r, 2), buf, sizeof buf);
        if (rng_below(&r, 3) == 0) {
            /* classic framing, or unknown attributes */
            if (rng_below(&r, 2)) {
                wire_put32(buf + 4, (uint32_t)rng_next(&r));
            } else {
                n = append_attr(buf, n, (uint16_t)rng_below(&r, 0x10000), "xyz", (uint16_t)rng_below(&r, 4));
            }
        }
        if (rng_below(&r, 5) == 0)
            buf[rng_below(&r, (uint32_t)n)] ^= (uint8_t)(1u << rng_below(&r, 8));
        exchange_t x;
        unsigned sock = rng_below(&r, 4);
        exchange(s, sock, CLIENT, buf, n, &x);
        if (x.reply.len == 0)
            continue;
        stun_message_t parsed_req;
        bool padded = stun_read(buf, n, &parsed_req) == STUN_OK && (parsed_req.has & STUN_HAS_PADDING);
        size_t limit = padded ? STUN_MAX_MESSAGE : MAX(n, (size_t)STUN_SERVER_REPLY_FLOOR);
        bool ok = x.parsed == STUN_OK && x.reply.len <= limit && x.reply.socket < stun_server_socket_count(s) &&
                  x.reply.to.ip == CLIENT.ip && stun_transaction_equal(&x.resp, &parsed_req);
        if (!ok) {
            bad++;
            fprintf(stderr, "iteration %d: %zu-byte request, %zu-byte answer (%s), socket %u\n", iter, n,
                    x.reply.len, stun_error_name(x.parsed), x.reply.socket);
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    const stun_server_stats_t *st = stun_server_stats(two);
    CU_ASSERT_TRUE(st->requests > 1000);
    CU_ASSERT_TRUE(st->classic_requests > 100);
    CU_ASSERT_TRUE(st->errors_sent > 100);
    stun_server_free(two);
    stun_server_free(one);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "configuration and sockets", test_config },
        { "CHANGE-REQUEST table, every socket", test_change_request_table },
        { "RESPONSE-PORT", test_response_port },
        { "PADDING, and PADDING with RESPONSE-PORT", test_padding },
        { "unknown attributes -> 420", test_unknown_attributes },
        { "one-address server", test_one_address },
        { "RFC 3489 client tests I, II, III", test_classic_client },
        { "malformed and non-requests dropped and counted", test_dropped_and_counted },
        { "amplification floor for real clients", test_amplification_floor },
        { "no amplification (property)", test_amplification_property },
        { NULL, NULL },
    };
    return test_run_suite("stun_server", cases);
}
