/* What hole punching should achieve between two NATs, from first principles
 * (docs: /work/shared/rfc-digest.md section 4; RFC 4787; the agent's
 * techniques in docs/agent.md). Pure: two profiles in, a prediction out; the
 * matrix turns it into each pair's [expect]. */
#pragma once
#include <stdbool.h>

#include "natsim/nat_profile.h"
#include "run_expect.h"

/* What the agents may use: their defaults unless the scenario says. */
typedef struct run_predict_agent {
    bool predict;               /* sequential port prediction */
    bool birthday;              /* birthday probing */
    unsigned birthday_sockets;  /* n: sockets the symmetric side opens */
    unsigned birthday_probes;   /* m: ports the other side tries */
    bool punch;                 /* simultaneous punching to the endpoints the server saw */
    bool relay;                 /* a relay when no direct path opens */
    bool relay_tcp;             /* ... reached over TCP when UDP does not leave a side */
    bool tcp_punch;             /* TCP simultaneous open when UDP finds no direct path */
} run_predict_agent_t;

#define RUN_PREDICT_AGENT_DEFAULTS                                                                 \
    { .predict = true, .birthday = true, .birthday_sockets = 256, .birthday_probes = 1024,        \
      .punch = true, .relay = true, .relay_tcp = true, .tcp_punch = true }

typedef struct run_prediction {
    run_expect_outcome_t outcome; /* direct, relayed or failed (any: none of the presets) */
    const char *technique;        /* the one expected to win; NULL: none or not known */
    double p_direct;              /* chance of a direct path per attempt (1 unless probabilistic) */
    const char *reason;           /* one line, static */
} run_prediction_t;

/* a, b: the NATs in front of the two agents; NULL for a host on the open
 * internet. Symmetric in a and b. */
run_prediction_t run_predict(const nat_profile_t *a, const nat_profile_t *b,
                             const run_predict_agent_t *agent);

/* The success-rate an expectation should ask for over n attempts: p_direct
 * less what chance allows (at most 5% false alarms, one-sided binomial). */
double run_predict_min_rate(const run_prediction_t *prediction, unsigned attempts);
