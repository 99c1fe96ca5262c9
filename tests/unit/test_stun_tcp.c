/* STUN over TCP: the stream framing (common/stun stun_frame_length), the
 * NATLAB-CONNECT-BACK / -RESULT codec, and the server core's answers on a
 * stream (server/stun_server stun_server_handle_stream), connect-backs
 * included. */
#include <glib.h>
#include <string.h>

#include "server/stun_server.h"
#include "common/wire.h"
#include "testutil.h"

#define A1 ADDR_IP(198, 19, 1, 1)
#define A2 ADDR_IP(198, 19, 1, 2)
#define CLIENT addr_endpoint(ADDR_IP(198, 18, 1, 1), 40000)

static const uint8_t id12[STUN_TRANSACTION_ID_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

static stun_server_t *server(bool two)
{
    stun_server_config_t c = { .address = A1, .alt_address = two ? A2 : 0, .port = 3478, .alt_port = 3479 };
    return stun_server_new(&c);
}

static void test_frame_length(void)
{
    uint8_t m[64] = { 0x00, 0x01, 0x00, 0x08 };
    wire_put32(m + 4, STUN_MAGIC_COOKIE);
    CU_ASSERT_EQUAL(stun_frame_length(m, 0, 2048), 0);
    CU_ASSERT_EQUAL(stun_frame_length(m, 3, 2048), 0);   /* a length is not there yet */
    CU_ASSERT_EQUAL(stun_frame_length(m, 19, 2048), 0);  /* header incomplete */
    CU_ASSERT_EQUAL(stun_frame_length(m, 20, 2048), 28); /* 20 + 8, body still to come */
    CU_ASSERT_EQUAL(stun_frame_length(m, 64, 2048), 28); /* the next message follows */
    CU_ASSERT_EQUAL(stun_frame_length(m, 20, 27), -1);   /* longer than the buffer takes */
    m[3] = 0x06;
    CU_ASSERT_EQUAL(stun_frame_length(m, 4, 2048), -1);  /* not a multiple of 4 */
    const uint8_t http[] = "GET";
    CU_ASSERT_EQUAL(stun_frame_length(http, 1, 2048), -1); /* top bits: judged at once */
    const uint8_t rtp[] = { 0x80 };
    CU_ASSERT_EQUAL(stun_frame_length(rtp, 1, 2048), -1);
}

static void test_connect_codec(void)
{
    stun_message_t m, back;
    uint8_t buf[256];
    stun_binding_request(&m, id12, 0, 0, 0);
    m.connect_back = addr_endpoint(ADDR_IP(192, 0, 2, 1), 32853);
    m.connect_back_flags = STUN_CHANGE_IP | STUN_CHANGE_PORT; /* only change-IP travels */
    m.has |= STUN_HAS_CONNECT_BACK;
    size_t n = stun_write(&m, true, buf, sizeof buf);
    CU_ASSERT_EQUAL_FATAL(n, 20 + 16 + 8);
    /* RFC 5769's XOR of 192.0.2.1:32853: X-Port 0xA147, X-Address 0xE112A643. */
    CU_ASSERT_EQUAL(wire_get16(buf + 20), STUN_ATTR_NATLAB_CONNECT_BACK);
    CU_ASSERT_EQUAL(wire_get16(buf + 22), 12);
    CU_ASSERT_EQUAL(wire_get16(buf + 26), 0xA147);
    CU_ASSERT_EQUAL(wire_get32(buf + 28), 0xE112A643);
    CU_ASSERT_EQUAL(wire_get32(buf + 32), STUN_CHANGE_IP);
    CU_ASSERT_EQUAL_FATAL(stun_read(buf, n, &back), STUN_OK);
    CU_ASSERT_TRUE(back.has & STUN_HAS_CONNECT_BACK);
    CU_ASSERT_TRUE(addr_endpoint_equal(back.connect_back, m.connect_back));
    CU_ASSERT_EQUAL(back.connect_back_flags, STUN_CHANGE_IP);
    CU_ASSERT_EQUAL(back.n_unknown, 0);

    stun_message_t r = { .method = STUN_METHOD_BINDING, .msg_class = STUN_CLASS_SUCCESS };
    memcpy(r.transaction_id, id12, sizeof id12);
    r.connect_result = (stun_connect_result_t){ .outcome = STUN_CONNECT_ICMP, .icmp_type = 3,
                                                .icmp_code = 3, .elapsed_ms = 6004,
                                                .source = addr_endpoint(A2, 45000) };
    r.has = STUN_HAS_CONNECT_RESULT;
    n = stun_write(&r, false, buf, sizeof buf);
    CU_ASSERT_EQUAL_FATAL(n, 20 + 20);
    CU_ASSERT_EQUAL_FATAL(stun_read(buf, n, &back), STUN_OK);
    CU_ASSERT_EQUAL(back.connect_result.outcome, STUN_CONNECT_ICMP);
    CU_ASSERT_EQUAL(back.connect_result.icmp_code, 3);
    CU_ASSERT_EQUAL(back.connect_result.elapsed_ms, 6004);
    CU_ASSERT_TRUE(addr_endpoint_equal(back.connect_result.source, addr_endpoint(A2, 45000)));
    buf[24] = 9; /* an outcome that does not exist */
    CU_ASSERT_EQUAL(stun_read(buf, n, &back), STUN_ERR_BAD_ATTRIBUTE);
    buf[24] = STUN_CONNECT_ICMP;
    wire_put16(buf + 22, 12); /* wrong length */
    CU_ASSERT_EQUAL(stun_read(buf, n, &back), STUN_ERR_BAD_ATTRIBUTE);
    CU_ASSERT_STRING_EQUAL(stun_connect_outcome_name(STUN_CONNECT_RESET), "reset");
}

typedef struct stream_x {
    stun_server_reply_t reply;
    stun_server_connect_back_t cb;
    bool pending;
    stun_message_t resp;
    uint8_t out[STUN_MAX_MESSAGE];
} stream_x_t;

static void ask(stun_server_t *s, const stun_message_t *req, stream_x_t *x)
{
    uint8_t buf[512];
    size_t n = stun_write(req, false, buf, sizeof buf);
    CU_ASSERT_FATAL(n > 0);
    memset(x, 0, sizeof *x);
    x->reply = stun_server_handle_stream(s, STUN_SOCKET_PRIMARY, CLIENT, buf, n, x->out, sizeof x->out,
                                         &x->cb, &x->pending);
    if (x->reply.len)
        CU_ASSERT_EQUAL(stun_read(x->out, x->reply.len, &x->resp), STUN_OK);
}

static void test_stream_answers(void)
{
    stun_server_t *s = server(true);
    stun_message_t req;
    stream_x_t x;
    stun_binding_request(&req, id12, 0, 0, 0);
    ask(s, &req, &x);
    CU_ASSERT_FALSE(x.pending);
    CU_ASSERT_EQUAL(x.resp.msg_class, STUN_CLASS_SUCCESS);
    CU_ASSERT_TRUE(addr_endpoint_equal(x.resp.xor_mapped, CLIENT));
    CU_ASSERT_TRUE(addr_endpoint_equal(x.resp.response_origin, addr_endpoint(A1, 3478)));
    CU_ASSERT_TRUE(addr_endpoint_equal(x.resp.other_address, addr_endpoint(A2, 3479)));
    /* UDP-only attributes: 400 on a stream. */
    uint32_t changes[] = { STUN_CHANGE_IP, STUN_CHANGE_PORT };
    for (unsigned i = 0; i < 2; i++) {
        stun_binding_request(&req, id12, changes[i], 0, 0);
        ask(s, &req, &x);
        CU_ASSERT_EQUAL(x.resp.error_code, 400);
    }
    stun_binding_request(&req, id12, 0, 0, 0); /* a zero CHANGE-REQUEST is fine */
    req.has |= STUN_HAS_CHANGE_REQUEST;
    ask(s, &req, &x);
    CU_ASSERT_EQUAL(x.resp.msg_class, STUN_CLASS_SUCCESS);
    stun_binding_request(&req, id12, 0, 5000, 0);
    ask(s, &req, &x);
    CU_ASSERT_EQUAL(x.resp.error_code, 400);
    stun_binding_request(&req, id12, 0, 0, 100);
    ask(s, &req, &x);
    CU_ASSERT_EQUAL(x.resp.error_code, 400);
    CU_ASSERT_EQUAL(stun_server_stats(s)->stream_requests, 6);
    stun_server_free(s);
}

static void test_connect_back(void)
{
    stun_server_t *s = server(true);
    stun_message_t req;
    stream_x_t x;
    stun_binding_request(&req, id12, 0, 0, 0);
    req.connect_back = addr_endpoint(CLIENT.ip, 51000);
    req.connect_back_flags = STUN_CHANGE_IP;
    req.has |= STUN_HAS_CONNECT_BACK;
    ask(s, &req, &x);
    CU_ASSERT_TRUE_FATAL(x.pending);
    CU_ASSERT_EQUAL(x.reply.len, 0);
    CU_ASSERT_EQUAL(x.cb.from_ip, A2);
    CU_ASSERT_TRUE(addr_endpoint_equal(x.cb.to, req.connect_back));
    CU_ASSERT_EQUAL(stun_server_connect_back_pending(s), 1);
    stun_connect_result_t res = { .outcome = STUN_CONNECT_TIMEOUT, .elapsed_ms = 9000,
                                  .source = addr_endpoint(A2, 40001) };
    uint8_t out[STUN_MAX_MESSAGE];
    size_t n = stun_server_connect_back_answer(s, &x.cb, &res, out, sizeof out);
    CU_ASSERT_FATAL(n > 0);
    stun_message_t resp;
    CU_ASSERT_EQUAL_FATAL(stun_read(out, n, &resp), STUN_OK);
    CU_ASSERT_EQUAL(memcmp(resp.transaction_id, id12, sizeof id12), 0);
    CU_ASSERT_TRUE(resp.has & STUN_HAS_CONNECT_RESULT);
    CU_ASSERT_EQUAL(resp.connect_result.outcome, STUN_CONNECT_TIMEOUT);
    CU_ASSERT_TRUE(addr_endpoint_equal(resp.xor_mapped, CLIENT));
    CU_ASSERT_EQUAL(stun_server_connect_back_pending(s), 0);
    CU_ASSERT_EQUAL(stun_server_stats(s)->connect_back_outcomes[STUN_CONNECT_TIMEOUT], 1);

    /* From the primary address. */
    req.connect_back_flags = 0;
    ask(s, &req, &x);
    CU_ASSERT_TRUE(x.pending);
    CU_ASSERT_EQUAL(x.cb.from_ip, A1);
    stun_server_connect_back_answer(s, &x.cb, &res, out, sizeof out);

    /* Never to a third party. */
    req.connect_back = addr_endpoint(ADDR_IP(203, 0, 113, 9), 80);
    ask(s, &req, &x);
    CU_ASSERT_FALSE(x.pending);
    CU_ASSERT_EQUAL(x.resp.error_code, 403);

    /* A bounded number at once. */
    req.connect_back = addr_endpoint(CLIENT.ip, 51000);
    stun_server_connect_back_t held[STUN_SERVER_CONNECT_BACK_MAX];
    for (unsigned i = 0; i < STUN_SERVER_CONNECT_BACK_MAX; i++) {
        ask(s, &req, &x);
        CU_ASSERT_TRUE(x.pending);
        held[i] = x.cb;
    }
    ask(s, &req, &x);
    CU_ASSERT_FALSE(x.pending);
    CU_ASSERT_EQUAL(x.resp.error_code, 508);
    for (unsigned i = 0; i < STUN_SERVER_CONNECT_BACK_MAX; i++)
        stun_server_connect_back_answer(s, &held[i], &res, out, sizeof out);
    ask(s, &req, &x);
    CU_ASSERT_TRUE(x.pending);
    stun_server_connect_back_answer(s, &x.cb, &res, out, sizeof out);
    CU_ASSERT_EQUAL(stun_server_stats(s)->connect_back_refused, 2);

    /* Over UDP the attribute is ignored: a datagram's source can be forged. */
    uint8_t buf[128];
    n = stun_write(&req, false, buf, sizeof buf);
    stun_server_reply_t r = stun_server_handle(s, STUN_SOCKET_PRIMARY, CLIENT, buf, n, out, sizeof out);
    CU_ASSERT_TRUE(r.len > 0);
    CU_ASSERT_EQUAL(stun_server_connect_back_pending(s), 0);
    stun_server_free(s);

    /* One address: no "from the other address". */
    s = server(false);
    req.connect_back_flags = STUN_CHANGE_IP;
    ask(s, &req, &x);
    CU_ASSERT_FALSE(x.pending);
    CU_ASSERT_EQUAL(x.resp.error_code, 400);
    stun_server_free(s);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "stream framing", test_frame_length },
        { "NATLAB-CONNECT-BACK and -RESULT codec", test_connect_codec },
        { "answers on a stream; UDP-only attributes 400", test_stream_answers },
        { "connect-back: pending, answer, 403, 508, UDP ignores it", test_connect_back },
        { NULL, NULL },
    };
    return test_run_suite("stun_tcp", cases);
}
