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
