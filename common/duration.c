#include "duration.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *suffix;
    usec_t scale;
} duration_units[] = {
    { "h", USEC_PER_HOUR }, { "min", USEC_PER_MIN }, { "s", USEC_PER_SEC },
    { "ms", USEC_PER_MSEC }, { "us", 1 },
};

bool duration_parse(const char *text, usec_t *out)
{
    if (!text)
        return false;
    while (isspace((unsigned char)*text))
        text++;
    if (!isdigit((unsigned char)*text))
        return false;
    errno = 0;
    char *end;
    unsigned long long number = strtoull(text, &end, 10);
    if (errno == ERANGE)
        return false;
    size_t len = strlen(end);
    while (len > 0 && isspace((unsigned char)end[len - 1]))
        len--;
    if (len == 0)
        return number == 0 ? (*out = 0, true) : false;
    for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++) {
        if (strlen(duration_units[i].suffix) == len &&
            strncmp(end, duration_units[i].suffix, len) == 0) {
            if (number > (unsigned long long)(INT64_MAX / duration_units[i].scale))
                return false;
            *out = (usec_t)number * duration_units[i].scale;
            return true;
        }
    }
    return false;
}

void duration_format(usec_t value, char *buf, size_t size)
{
    if (value == 0) {
        snprintf(buf, size, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++) {
        if (value % duration_units[i].scale == 0) {
            snprintf(buf, size, "%" PRId64 "%s", value / duration_units[i].scale,
                     duration_units[i].suffix);
            return;
        }
    }
}
