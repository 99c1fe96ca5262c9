/* The agent's tuning flags (`--keepalive 25s`, `--no-birthday`, ...) as
 * punch_config_t knobs: one parser for `natlab agent` and for the runner's
 * sim mode, which is handed the same words the real agents get. */
#pragma once
#include <glib.h>

#include "punch.h"

/* Words consumed: 1 (a switch) or 2 (a flag and its value); 0 when `flag`
 * is not a tuning flag; -1 with *error when its value is missing or bad
 * (the message names the flag, the value and what is allowed). */
int agent_flags_parse(punch_config_t *config, const char *flag, const char *value,
                      GError **error);

#define AGENT_TURN_URI_FORM "turn:HOST:PORT[?transport=udp|tcp]"

/* `--turn` (RFC 7065's URI without TLS): the host (allocated; to be
 * resolved by the caller), the port (3478 when absent) and the transport.
 * False with *error naming the flag, the value and AGENT_TURN_URI_FORM. */
bool agent_flags_turn_uri(const char *uri, char **host, uint16_t *port, bool *tcp, GError **error);
