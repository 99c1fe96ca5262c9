/* One row of results.jsonl (docs/agent.md): one attempt, as the runner
 * writes it and as the reports read it back. The one model of a row, its
 * outcome and its JSON both ways. Pure: a struct in, a line out; a parsed
 * line in, a struct or an error naming FILE:LINE, the field and what it
 * allows. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum result_outcome {
    RESULT_DIRECT,  /* data delivered, the final path direct or LAN */
    RESULT_RELAYED, /* data delivered, the final path the relay */
    RESULT_FAILED,  /* data not delivered, the agent failed, or the runner gave up */
    RESULT_N_OUTCOMES
} result_outcome_t;

const char *result_outcome_name(result_outcome_t outcome);
bool result_outcome_parse(const char *text, result_outcome_t *out);

/* Optional members a row read back had (result_t.has). */
enum { RESULT_HAS_ATTEMPT = 1 << 0, RESULT_HAS_SEED = 1 << 1 };

typedef struct result {
    char *scenario;
    char *kind;             /* the agent kind (docs/agents.md); NULL: natlab's own agent */
    char *kind_version;     /* the stack's version as its kind reports it; NULL: none */
    unsigned attempt; /* 1-based */
    uint64_t seed;
    unsigned has;           /* RESULT_HAS_*; the runner's rows have all */
    char *pair;             /* "NAT_A/NAT_B" */
    char *nat_a, *nat_b;    /* preset or profile name; NULL: a public host */
    JsonNode *profile_a, *profile_b; /* NULL: a public host */
    bool easy_a, easy_b;    /* read back: see result_profile_is_easy */
    char *expected;         /* the scenario's outcome expectation */
    result_outcome_t outcome;
    char *path;             /* direct, lan, relay or none */
    char *technique;        /* as in the direct event; "none" unless direct */
    double time_to_first_byte_ms, time_to_direct_ms; /* NAN: never */
    int64_t probes_sent, path_changes, sent, delivered;
    /* With [agent] turn (docs/run.md); a row without it has none of these. */
    char *turn;             /* the transport to the TURN server, udp or tcp; NULL: no TURN */
    char *relay;            /* the relay path at the end: turn or natlab (done's relay); NULL: unknown */
    int64_t turn_sent, turn_received; /* peer messages through the connector's allocation */
    char *started;          /* ISO 8601, UTC */
    double duration_ms;
    char *pcap;             /* relative to the results file; NULL */
    char *error;            /* why it failed; NULL */
} result_t;

result_t *result_new(void);
void result_free(result_t *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(result_t, result_free)

/* The kind as shown: "natlab" for rows without one. */
const char *result_kind_name(const result_t *result);

/* nat_a or nat_b as shown: "public" for a host without a NAT. */
const char *result_nat_name(const char *nat);

JsonNode *result_to_json(const result_t *result);
char *result_to_line(const result_t *result);

/* A row read back. Every malformed member is an error "ORIGIN:LINE: why"
 * in RESULT_ERROR_PARSE; nothing is guessed. A missing "pair" becomes
 * "NAT_A/NAT_B" (public for no NAT). */
#define RESULT_ERROR (result_error_quark())
GQuark result_error_quark(void);
enum { RESULT_ERROR_PARSE };
result_t *result_from_json(JsonNode *row, const char *origin, int line, GError **error);
/* The same from one line's text (its line end taken off): an empty line, one
 * that is not UTF-8 or not JSON are errors too. `last`: no newline followed
 * it, so a parse error may mean the file was cut short. */
result_t *result_from_line(JsonParser *parser, const char *text, size_t len, bool last,
                           const char *origin, int line, GError **error);

/* "easy" side of a pair: no profile (public host), no translation (open,
 * firewall), or endpoint-independent mapping. Sets *easy; false with *why
 * (static text) when the profile says neither. */
bool result_profile_is_easy(const char *type, const char *mapping, bool *easy, const char **why);
