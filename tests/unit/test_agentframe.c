/* common/agentframe: agentmsg frames and STUN messages on one TCP stream,
 * split however the network cut the bytes; garbage at any boundary (and
 * in any header byte) breaks the stream as soon as its byte arrives. */
#include <glib.h>
#include <string.h>

#include "common/agentframe.h"
#include "common/rng.h"
#include "common/wire.h"
#include "testutil.h"

static const uint8_t key[] = "frame key";

typedef struct expect {
    enum agentframe_kind kind;
    size_t offset, len; /* of the message (not its frame header) in the stream */
} expect_t;

typedef struct stream {
    uint8_t bytes[4 * AGENTFRAME_STUN_MAX];
    size_t len;
    expect_t msg[8];
    unsigned n;
} stream_t;

static void add_stun(stream_t *s, size_t attr_bytes)
{
    uint8_t *p = s->bytes + s->len;
    wire_put16(p, 0x0001);
    wire_put16(p + 2, (uint16_t)attr_bytes);
    wire_put32(p + 4, 0x2112A442);
    for (size_t i = 8; i < 20 + attr_bytes; i++)
        p[i] = (uint8_t)(i * 13);
    s->msg[s->n++] = (expect_t){ AGENTFRAME_STUN, s->len, 20 + attr_bytes };
    s->len += 20 + attr_bytes;
}

static void add_agentmsg(stream_t *s, size_t payload)
{
    static uint8_t data[AGENTMSG_RELAY_PAYLOAD_MAX];
    memset(data, 0x5a, sizeof data);
    agentmsg_t m = { .type = AGENTMSG_RELAY, .counter = s->n + 1, .session = 77, .payload = data,
                     .payload_len = payload };
    uint8_t msg[AGENTMSG_MAX_SIZE];
    size_t n = agentmsg_write(&m, key, sizeof key - 1, msg, sizeof msg);
    CU_ASSERT_FATAL(n > 0);
    size_t w = agentframe_write(msg, n, s->bytes + s->len, sizeof s->bytes - s->len);
    CU_ASSERT_EQUAL_FATAL(w, n + AGENTFRAME_HEADER_SIZE);
    s->msg[s->n++] = (expect_t){ AGENTFRAME_AGENTMSG, s->len + AGENTFRAME_HEADER_SIZE, n };
    s->len += w;
}

/* STUN, a small frame, the largest frame, the largest STUN message, a
 * small frame: every kind and size beside each other. */
static void sample(stream_t *s)
{
    memset(s, 0, sizeof *s);
    add_stun(s, 0);
    add_agentmsg(s, 10);
    add_agentmsg(s, AGENTMSG_RELAY_PAYLOAD_MAX);
    add_stun(s, AGENTFRAME_STUN_MAX - 20);
    add_agentmsg(s, 0);
    add_stun(s, 8);
}

/* Feeds the stream in chunks cut at `cuts` (ascending); checks every message
 * comes out whole and in order; returns how many came out before an error
 * (or all), *error what ended it. */
static unsigned feed(const stream_t *s, const size_t *cuts, unsigned n_cuts,
                     enum agentframe_kind *error)
{
    static agentframe_splitter_t sp;
    agentframe_splitter_init(&sp);
    unsigned got = 0;
    size_t at = 0;
    *error = AGENTFRAME_MORE;
    for (unsigned c = 0; c <= n_cuts && *error == AGENTFRAME_MORE; c++) {
        size_t end = c < n_cuts ? cuts[c] : s->len;
        while (at < end) {
            size_t took = agentframe_splitter_push(&sp, s->bytes + at, end - at);
            at += took;
            agentframe_t f;
            enum agentframe_kind k;
            while ((k = agentframe_splitter_next(&sp, &f)) == AGENTFRAME_AGENTMSG ||
                   k == AGENTFRAME_STUN) {
                CU_ASSERT_FATAL(got < s->n);
                const expect_t *e = &s->msg[got++];
                CU_ASSERT_EQUAL(k, e->kind);
                CU_ASSERT_EQUAL(f.len, e->len);
                CU_ASSERT(memcmp(f.msg, s->bytes + e->offset, e->len) == 0);
            }
            if (k != AGENTFRAME_MORE) {
                *error = k;
                CU_ASSERT_EQUAL(agentframe_splitter_push(&sp, s->bytes, 1), 0); /* stays broken */
                CU_ASSERT_EQUAL(agentframe_splitter_next(&sp, &f), k);
                break;
            }
            CU_ASSERT_FATAL(took > 0); /* a message in progress always fits */
        }
    }
    if (*error == AGENTFRAME_MORE)
        CU_ASSERT_EQUAL(agentframe_splitter_pending(&sp), 0);
    return got;
}

static void test_write_and_parse(void)
{
    uint8_t msg[AGENTMSG_MAX_SIZE + 1], out[AGENTFRAME_MAX_SIZE + 8];
    memset(msg, AGENTMSG_MAGIC, sizeof msg);
    size_t n = agentframe_write(msg, 40, out, sizeof out);
    CU_ASSERT_EQUAL(n, 44);
    const uint8_t head[] = { 0xE4, 0x00, 0x00, 40 };
    CU_ASSERT(memcmp(out, head, 4) == 0);
    agentframe_t f;
    CU_ASSERT_EQUAL(agentframe_parse(out, n, &f), AGENTFRAME_AGENTMSG);
    CU_ASSERT_EQUAL(f.len, 40);
    CU_ASSERT_EQUAL(f.consumed, 44);
    CU_ASSERT_PTR_EQUAL(f.msg, out + 4);
    CU_ASSERT_EQUAL(agentframe_parse(out, n - 1, &f), AGENTFRAME_MORE);
    CU_ASSERT_EQUAL(agentframe_write(msg, AGENTMSG_MAX_SIZE, out, sizeof out), AGENTFRAME_MAX_SIZE);
    CU_ASSERT_EQUAL(out[2] << 8 | out[3], AGENTMSG_MAX_SIZE);
    /* Lengths no receiver would take, and a buffer too small. */
    CU_ASSERT_EQUAL(agentframe_write(msg, AGENTMSG_MAX_SIZE + 1, out, sizeof out), 0);
    CU_ASSERT_EQUAL(agentframe_write(msg, AGENTFRAME_MIN_LEN - 1, out, sizeof out), 0);
    CU_ASSERT_EQUAL(agentframe_write(msg, 40, out, 43), 0);
    CU_ASSERT_EQUAL(agentframe_parse(out, 0, &f), AGENTFRAME_MORE);
    CU_ASSERT_STRING_EQUAL(agentframe_kind_name(AGENTFRAME_ERR_OVERSIZED), "oversized");
}

static void test_joined(void)
{
    stream_t s;
    sample(&s);
    enum agentframe_kind err;
    CU_ASSERT_EQUAL(feed(&s, NULL, 0, &err), s.n);
    CU_ASSERT_EQUAL(err, AGENTFRAME_MORE);
}

static void test_any_split(void)
{
    stream_t s;
    sample(&s);
    enum agentframe_kind err;
    for (size_t cut = 1; cut < s.len; cut++) {
        CU_ASSERT_EQUAL(feed(&s, &cut, 1, &err), s.n);
        CU_ASSERT_EQUAL(err, AGENTFRAME_MORE);
    }
    /* A byte at a time. */
    static size_t every[4 * AGENTFRAME_STUN_MAX];
    for (size_t i = 0; i + 1 < s.len; i++)
        every[i] = i + 1;
    CU_ASSERT_EQUAL(feed(&s, every, (unsigned)s.len - 1, &err), s.n);
    CU_ASSERT_EQUAL(err, AGENTFRAME_MORE);
    /* Random cuts, seeded. */
    rng_t rng;
    rng_seed(&rng, 13);
    for (int round = 0; round < 300; round++) {
        size_t cuts[16];
        unsigned n = 0;
        size_t at = 0;
        while (n < G_N_ELEMENTS(cuts)) {
            at += 1 + rng_next(&rng) % 700;
            if (at >= s.len)
                break;
            cuts[n++] = at;
        }
        CU_ASSERT_EQUAL(feed(&s, cuts, n, &err), s.n);
        CU_ASSERT_EQUAL(err, AGENTFRAME_MORE);
    }
}

/* Garbage in place of message k: the k before it come out, then the error,
 * whichever way the bytes were cut. */
static void test_garbage_at_each_boundary(void)
{
    static const char http[] = "GET / HTTP/1.1\r\n\r\n";
    const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x00, 0x10 };
    stream_t clean;
    sample(&clean);
    for (unsigned k = 0; k <= clean.n; k++) {
        for (int which = 0; which < 2; which++) {
            stream_t s = clean;
            size_t at = k < clean.n ? clean.msg[k].offset : clean.len;
            if (k < clean.n && clean.msg[k].kind == AGENTFRAME_AGENTMSG)
                at -= AGENTFRAME_HEADER_SIZE;
            const uint8_t *junk = which ? tls : (const uint8_t *)http;
            size_t jlen = which ? sizeof tls : sizeof http - 1;
            memcpy(s.bytes + at, junk, jlen);
            if (at + jlen > s.len)
                s.len = at + jlen;
            enum agentframe_kind err;
            size_t cut = at + 1;
            CU_ASSERT_EQUAL(feed(&s, NULL, 0, &err), k);
            CU_ASSERT_EQUAL(err, AGENTFRAME_ERR_GARBAGE);
            CU_ASSERT_EQUAL(feed(&s, &cut, 1, &err), k); /* judged from its first byte */
            CU_ASSERT_EQUAL(err, AGENTFRAME_ERR_GARBAGE);
        }
    }
}

/* One bad header byte: judged the moment that byte is there. */
static void test_bad_headers(void)
{
    static const struct {
        const char *what;
        uint8_t head[6];
        size_t judged_at; /* bytes needed to judge */
        enum agentframe_kind want;
    } cases[] = {
        { "first byte 0x02", { 0x02, 0x01, 0x00, 0x00 }, 1, AGENTFRAME_ERR_GARBAGE },
        { "first byte 0x40 (TURN channel)", { 0x40, 0x00, 0x00, 0x08 }, 1, AGENTFRAME_ERR_GARBAGE },
        { "frame, second byte 1 (an agentmsg without a frame)", { 0xE4, 0x01, 0x06, 0x00 }, 2,
          AGENTFRAME_ERR_GARBAGE },
        { "frame, LEN beyond AGENTMSG_MAX_SIZE", { 0xE4, 0x00, 0x05, 0x79 }, 4, AGENTFRAME_ERR_OVERSIZED },
        { "frame, LEN 0xFFFF", { 0xE4, 0x00, 0xFF, 0xFF }, 4, AGENTFRAME_ERR_OVERSIZED },
        { "frame, LEN shorter than any agentmsg", { 0xE4, 0x00, 0x00, 0x23 }, 4, AGENTFRAME_ERR_GARBAGE },
        { "frame, LEN 0", { 0xE4, 0x00, 0x00, 0x00 }, 4, AGENTFRAME_ERR_GARBAGE },
        { "frame, content without the agentmsg magic", { 0xE4, 0x00, 0x00, 0x40, 0x00, 0x01 }, 5,
          AGENTFRAME_ERR_GARBAGE },
        { "STUN, length not a multiple of 4", { 0x00, 0x01, 0x00, 0x05 }, 4, AGENTFRAME_ERR_GARBAGE },
        { "STUN, longer than AGENTFRAME_STUN_MAX", { 0x01, 0x01, 0x07, 0xF0 }, 4,
          AGENTFRAME_ERR_OVERSIZED },
    };
    for (size_t c = 0; c < G_N_ELEMENTS(cases); c++) {
        agentframe_splitter_t *sp = g_new(agentframe_splitter_t, 1);
        agentframe_splitter_init(sp);
        agentframe_t f;
        for (size_t i = 0; i < sizeof cases[c].head; i++) {
            CU_ASSERT_EQUAL(agentframe_splitter_push(sp, &cases[c].head[i], 1), 1);
            enum agentframe_kind k = agentframe_splitter_next(sp, &f);
            enum agentframe_kind want = i + 1 < cases[c].judged_at ? AGENTFRAME_MORE : cases[c].want;
            if (k != want)
                fprintf(stderr, "%s: byte %zu: %s, wanted %s\n", cases[c].what, i + 1,
                        agentframe_kind_name(k), agentframe_kind_name(want));
            CU_ASSERT_EQUAL(k, want);
            if (k != AGENTFRAME_MORE)
                break;
        }
        g_free(sp);
    }
}

/* The largest STUN message arriving after part of another: the splitter
 * moves what it holds to make room. */
static void test_room_after_partial(void)
{
    stream_t s;
    memset(&s, 0, sizeof s);
    add_agentmsg(&s, 100);
    add_stun(&s, AGENTFRAME_STUN_MAX - 20);
    add_stun(&s, AGENTFRAME_STUN_MAX - 20);
    enum agentframe_kind err;
    size_t cuts[] = { s.msg[0].offset + s.msg[0].len + 3, s.msg[1].offset + 2000 };
    CU_ASSERT_EQUAL(feed(&s, cuts, 2, &err), 3);
    CU_ASSERT_EQUAL(err, AGENTFRAME_MORE);
}

int main(void)
{
    static const test_case_t cases[] = {
        { "write and parse one frame; lengths out of range refused", test_write_and_parse },
        { "joined messages in one push", test_joined },
        { "any split: one cut anywhere, a byte at a time, random cuts", test_any_split },
        { "garbage at each message boundary", test_garbage_at_each_boundary },
        { "bad header bytes judged as soon as they arrive", test_bad_headers },
        { "room for the largest message after a partial one", test_room_after_partial },
        { NULL, NULL },
    };
    return test_run_suite("agentframe", cases);
}
