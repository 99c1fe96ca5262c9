/* Fuzzes the agentmsg codec: any bytes read without a crash; what reads
 * writes back to the same bytes and reads again to the same fields. A tag
 * cannot be guessed, so each input is also read after re-tagging it with
 * the key, which takes the fuzzer into the body parser. The input also
 * drives the replay window against a model (a list of every counter seen).
 * With FUZZ_AGENTMSG_STRICT set, an input that does not read as it is (the
 * seeds) aborts: the seed generator is a second implementation of the
 * format, and this checks the two agree. */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/agentmsg.h"

static const uint8_t key[] = "fuzz key";
#define KEY_LEN (sizeof key - 1)


static enum agentmsg_read_result check(const uint8_t *data, size_t size, const uint8_t *k, size_t k_len)
{
    static const agentmsg_t zero;
    agentmsg_t m, back;
    enum agentmsg_read_result r = agentmsg_read(data, size, k, k_len, &m);
    if (r >= AGENTMSG_ERR_COUNT)
        abort();
    if (r != AGENTMSG_OK) {
        if (memcmp(&m, &zero, sizeof m) != 0) /* nothing left behind */
            abort();
        return r;
    }
    if (size > AGENTMSG_MAX_SIZE || strlen(m.name) > AGENTMSG_NAME_MAX ||
        m.n_candidates > AGENTMSG_CANDIDATES_MAX ||
        (m.payload && (m.payload < data || m.payload + m.payload_len > data + size)))
        abort();
    uint8_t type;
    uint64_t session;
    if (!agentmsg_claims(data, size) || !agentmsg_peek(data, size, &type, &session) ||
        type != m.type || session != m.session)
        abort();
    /* Canonical: the same bytes back, in a buffer of exactly the maximum. */
    uint8_t out[AGENTMSG_MAX_SIZE];
    size_t n = agentmsg_write(&m, k, k_len, out, sizeof out);
    if (n != size || memcmp(out, data, size) != 0)
        abort();
    if (agentmsg_read(out, n, k, k_len, &back) != AGENTMSG_OK)
        abort();
    if (m.payload_len != back.payload_len ||
        (m.payload_len && memcmp(m.payload, back.payload, m.payload_len) != 0))
        abort();
    m.payload = back.payload = NULL;
    if (memcmp(&m, &back, sizeof m) != 0) /* read zeroes the whole struct, padding too */
        abort();
    return r;
}

/* The replay window against a model: a counter is new when it is not 0,
 * was never accepted, and is less than 64 behind the newest. */
static void check_replay(const uint8_t *data, size_t size)
{
    enum { STEPS = 256 };
    uint64_t seen[STEPS], newest = 0, counter = 1000;
    size_t n_seen = 0;
    agentmsg_replay_t w = { 0 };
    for (size_t i = 0; i < size && i < STEPS; i++) {
        counter += (uint64_t)(int64_t)(int8_t)data[i];
        if (data[i] == 0x80)
            counter = 0;
        bool before = false;
        for (size_t j = 0; j < n_seen; j++)
            before |= seen[j] == counter;
        bool want = counter != 0 && !before && (counter > newest || newest - counter < 64);
        if (agentmsg_replay_accept(&w, counter) != want)
            abort();
        if (want) {
            seen[n_seen++] = counter;
            newest = MAX(newest, counter);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int strict = -1;
    if (strict < 0)
        strict = getenv("FUZZ_AGENTMSG_STRICT") != NULL;
    /* An exact-size copy, so a read past the end is caught. */
    uint8_t *copy = malloc(size ? size : 1);
    if (size)
        memcpy(copy, data, size);
    enum agentmsg_read_result with_key = check(copy, size, key, KEY_LEN);
    enum agentmsg_read_result without = check(copy, size, NULL, 0);
    if (strict && size > 0 && with_key != AGENTMSG_OK && without != AGENTMSG_OK)
        abort();
    if (size >= AGENTMSG_HEADER_SIZE + AGENTMSG_TAG_SIZE) {
        agentmsg_retag(copy, size, key, KEY_LEN);
        if (check(copy, size, key, KEY_LEN) == AGENTMSG_ERR_AUTH)
            abort();
    }
    check_replay(copy, size);
    free(copy);
    return 0;
}
