/* A netcheck result as people and programs read it: a summary, JSON in the
 * profile's own key names plus the evidence (schema: docs/netcheck.md), and
 * a natsim profile ([nat] key file) that replays the NAT measured. The JSON
 * and the profile carry the same keys with the same values; a dimension
 * that was not measured is left out of both (and named in "not-measured"),
 * so loading the profile gives natsim's default for it. */
#pragma once
#include <json-glib/json-glib.h>

#include "netcheck.h"

char *netcheck_report_text(const netcheck_result_t *result);
JsonNode *netcheck_report_json(const netcheck_result_t *result);
/* Key file text; `comment` (may be NULL) becomes a "# " line on top. */
char *netcheck_report_profile(const netcheck_result_t *result, const char *comment);
/* The RFC 3489 name of the measured behaviour (rfc-digest section 2). */
const char *netcheck_report_classic_name(const netcheck_result_t *result);
