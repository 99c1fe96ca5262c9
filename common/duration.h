/* Durations as the profile and scenario files write them: "500ms", "30s",
 * "2min", "1h", "250us". Everything inside natlab counts in microseconds. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int64_t usec_t;

#define USEC_PER_MSEC ((usec_t)1000)
#define USEC_PER_SEC ((usec_t)1000000)
#define USEC_PER_MIN (60 * USEC_PER_SEC)
#define USEC_PER_HOUR (60 * USEC_PER_MIN)

#define DURATION_UNITS "us, ms, s, min, h"

/* Parses a non-negative number followed by a unit; a bare "0" is allowed. */
bool duration_parse(const char *text, usec_t *out);
/* Shortest exact form: 1500000 -> "1500ms", 120000000 -> "2min". */
void duration_format(usec_t value, char *buf, size_t size);
