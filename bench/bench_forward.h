/* natlab bench forward: natsim against the kernel's MASQUERADE and plain
 * routing in one topology (root): packets/s at 64 bytes, Mbit/s at 1400,
 * added round trip; TCP Mbit/s of one stream and connection setups/s; and
 * the time of up and down of a two-NAT scenario. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>

/* `repeat` runs of `seconds` each per mode; the figures as a JSON object,
 * NULL with *error when the topology or a measurement fails. */
JsonNode *bench_forward_run(double seconds, unsigned repeat, GError **error);
