/* natlab's agent protocol on a TCP stream (issue 13: relay over TCP, for
 * hosts where UDP does not leave). A stream carries two kinds of message,
 * told apart by their first byte:
 *
 * - an agentmsg (agentmsg.h) behind a 4-byte frame header:
 *
 *   0               1               2               3
 *  +---------------+---------------+---------------+---------------+
 *  |  0xE4         |  0x00         |  LEN (bytes of the agentmsg)  |
 *  +---------------+---------------+---------------+---------------+
 *  |  the agentmsg: LEN bytes, its own magic 0xE4 first ...        |
 *  +---------------------------------------------------------------+
 *
 *   AGENTFRAME_MIN_LEN <= LEN <= AGENTMSG_MAX_SIZE, big endian;
 *
 * - a STUN message as RFC 8489 section 6.2.2 puts it on TCP: no framing of
 *   its own, first byte 0x00 or 0x01 (the message types in use), as long as
 *   20 + the length in its header (a multiple of 4), at most
 *   AGENTFRAME_STUN_MAX bytes.
 *
 * Anything else at a message boundary (another first byte, a second byte
 * other than 0x00, a LEN out of range, a frame whose content does not start
 * with the agentmsg magic) means the framing is lost: the receiver closes
 * the connection. Each is judged as soon as its byte has arrived, so three
 * bytes of garbage do not hold a connection open. Pure: bytes in, messages
 * out. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/agentmsg.h"

#define AGENTFRAME_MAGIC 0xE4
#define AGENTFRAME_HEADER_SIZE 4
/* Nothing shorter can be an agentmsg. */
#define AGENTFRAME_MIN_LEN (AGENTMSG_HEADER_SIZE + AGENTMSG_TAG_SIZE)
#define AGENTFRAME_STUN_MAX 2048
/* The longest message either kind may be: what a splitter holds. */
#define AGENTFRAME_BUFFER_SIZE AGENTFRAME_STUN_MAX
/* Header + the longest agentmsg: the most agentframe_write writes. */
#define AGENTFRAME_MAX_SIZE (AGENTFRAME_HEADER_SIZE + AGENTMSG_MAX_SIZE)

enum agentframe_kind {
    AGENTFRAME_MORE = 0,      /* nothing whole yet: more bytes needed */
    AGENTFRAME_AGENTMSG,      /* `msg`: the agentmsg, frame header stripped */
    AGENTFRAME_STUN,          /* `msg`: the whole STUN message */
    AGENTFRAME_ERR_GARBAGE,   /* not a message boundary: close */
    AGENTFRAME_ERR_OVERSIZED, /* a length beyond the maximum: close */
};

typedef struct agentframe {
    enum agentframe_kind kind;
    const uint8_t *msg;
    size_t len;
    size_t consumed; /* bytes of the stream the message took (with the frame header) */
} agentframe_t;

const char *agentframe_kind_name(enum agentframe_kind kind);

/* The message at the head of `data` (the first `len` bytes of what is left
 * of a stream); out->msg points into `data`. */
enum agentframe_kind agentframe_parse(const uint8_t *data, size_t len, agentframe_t *out);

/* Header + msg into out; bytes written, 0 when `len` is out of range or
 * it does not fit `cap`. */
size_t agentframe_write(const uint8_t *msg, size_t len, uint8_t *out, size_t cap);

/* A stream splitter: bytes go in however the network cut them, whole
 * messages come out. Once it has seen garbage it stays broken. */
typedef struct agentframe_splitter {
    size_t start, used; /* buf[start, used) not yet handed out */
    enum agentframe_kind error; /* AGENTFRAME_MORE while healthy */
    uint8_t buf[AGENTFRAME_BUFFER_SIZE];
} agentframe_splitter_t;

void agentframe_splitter_init(agentframe_splitter_t *s);
/* Copies as much of data as fits; returns how much (0 once broken). Call
 * agentframe_splitter_next() until it says MORE, then push the rest: a
 * message in progress always fits. */
size_t agentframe_splitter_push(agentframe_splitter_t *s, const uint8_t *data, size_t len);
/* The next whole message; out->msg is valid until the next push. */
enum agentframe_kind agentframe_splitter_next(agentframe_splitter_t *s, agentframe_t *out);
/* Bytes held that are not yet a whole message. */
size_t agentframe_splitter_pending(const agentframe_splitter_t *s);
