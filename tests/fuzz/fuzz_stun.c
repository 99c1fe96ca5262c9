/* Fuzzes the STUN codec and the STUN server core with one datagram: what
 * parses must write and parse again to the same fields, and the server's
 * answer must parse, stay within its buffer and obey the amplification
 * bound. Input: the datagram itself (the arrival socket is its length % 4). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/stun_server.h"
#include "common/stun.h"

static stun_server_t *two, *one;

static void check_codec(const uint8_t *data, size_t size)
{
    stun_message_t m, back;
    if (stun_read(data, size, &m) != STUN_OK)
        return;
    if (m.n_unknown > STUN_MAX_UNKNOWN || strlen(m.software) >= sizeof m.software ||
        strlen(m.error_reason) >= sizeof m.error_reason)
        abort();
    static uint8_t buf[70000];
    size_t n = stun_write(&m, true, buf, sizeof buf);
    if (n == 0)
        return; /* too big to write again: the 16-bit length */
    if (n % 4 || stun_read(buf, n, &back) != STUN_OK)
        abort();
    if (back.classic != m.classic || back.method != m.method || back.msg_class != m.msg_class ||
        !stun_transaction_equal(&m, &back))
        abort();
    uint32_t same = STUN_HAS_MAPPED | STUN_HAS_SOURCE | STUN_HAS_CHANGED | STUN_HAS_CHANGE_REQUEST;
    if ((back.has & same) != (m.has & same) ||
        ((m.has & STUN_HAS_MAPPED) && !addr_endpoint_equal(m.mapped, back.mapped)) ||
        ((m.has & STUN_HAS_CHANGE_REQUEST) && m.change_request != back.change_request))
        abort();
    if (!m.classic && (m.has & STUN_HAS_XOR_MAPPED) &&
        (!(back.has & STUN_HAS_XOR_MAPPED) || !addr_endpoint_equal(m.xor_mapped, back.xor_mapped)))
        abort();
}

static void check_server(stun_server_t *s, const uint8_t *data, size_t size)
{
    uint8_t out[STUN_MAX_MESSAGE];
    addr_endpoint_t from = addr_endpoint(0xC6120001, 40000);
    stun_server_reply_t r = stun_server_handle(s, (unsigned)(size % 4), from, data, size, out, sizeof out);
    if (r.len == 0)
        return;
    stun_message_t req, resp;
    if (r.len > sizeof out || stun_read(data, size, &req) != STUN_OK || stun_read(out, r.len, &resp) != STUN_OK)
        abort();
    size_t limit = (req.has & STUN_HAS_PADDING) ? STUN_MAX_MESSAGE
                   : size > STUN_SERVER_REPLY_FLOOR ? size
                                                    : STUN_SERVER_REPLY_FLOOR;
    if (r.len > limit || r.socket >= stun_server_socket_count(s) || r.to.ip != from.ip ||
        !stun_transaction_equal(&req, &resp) || resp.msg_class == STUN_CLASS_REQUEST)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!two) {
        stun_server_config_t c2 = { .address = 0xC6130101, .alt_address = 0xC6130102, .port = 3478,
                                    .alt_port = 3479, .software = "natlab fuzz" };
        stun_server_config_t c1 = { .address = 0xC6130101, .port = 3478, .alt_port = 3479 };
        two = stun_server_new(&c2);
        one = stun_server_new(&c1);
    }
    /* An exact-size copy, so a read past the end is caught. */
    uint8_t *copy = malloc(size ? size : 1);
    if (size)
        memcpy(copy, data, size);
    check_codec(copy, size);
    check_server(two, copy, size);
    check_server(one, copy, size);
    free(copy);
    return 0;
}
