#include "agent_flags.h"

#include <string.h>

#include "common/duration.h"

G_DEFINE_QUARK(natlab-agent-flags-error-quark, agent_flags_error)

typedef enum kind { SWITCH, DURATION, COUNT, PORTS } kind_t;

typedef struct flag {
    const char *name;
    kind_t kind;
    size_t offset;   /* of the usec_t or unsigned in punch_config_t; SWITCH: unused */
    uint64_t min, max; /* COUNT: allowed range; DURATION: microseconds */
} flag_t;

#define AT(field) offsetof(punch_config_t, field)

static const flag_t flags[] = {
    { "--share-local", SWITCH, 0, 0, 0 },
    { "--no-predict", SWITCH, 0, 0, 0 },
    { "--no-birthday", SWITCH, 0, 0, 0 },
    { "--no-portmap", SWITCH, 0, 0, 0 },
    { "--no-broadcast", SWITCH, 0, 0, 0 },
    { "--no-tcp-punch", SWITCH, 0, 0, 0 },
    /* Below a second a keepalive is a flood, not a keepalive. */
    { "--keepalive", DURATION, AT(keepalive), USEC_PER_SEC, 24 * USEC_PER_HOUR },
    { "--probe-interval", DURATION, AT(probe_interval), USEC_PER_MSEC, USEC_PER_MIN },
    { "--punch-timeout", DURATION, AT(punch_timeout), USEC_PER_MSEC, USEC_PER_HOUR },
    { "--predict-window", COUNT, AT(predict_window), 0, 1024 },
    { "--birthday-sockets", COUNT, AT(birthday_sockets), 0, 1024 },
    { "--birthday-probes", COUNT, AT(birthday_probes), 0, PUNCH_BIRTHDAY_RANGE },
    { "--birthday-rate", COUNT, AT(birthday_rate), 1, 100000 },
    { "--server-tcp-ports", PORTS, 0, 1, 65535 },
};

/* "3478,443": up to PUNCH_TCP_PORTS_MAX distinct ports, in the order to try. */
static bool parse_ports(punch_config_t *c, const char *value)
{
    g_auto(GStrv) parts = g_strsplit(value, ",", -1);
    unsigned n = 0;
    uint16_t ports[PUNCH_TCP_PORTS_MAX];
    for (unsigned i = 0; parts[i]; i++) {
        guint64 port;
        if (n == PUNCH_TCP_PORTS_MAX || !g_ascii_string_to_unsigned(parts[i], 10, 1, 65535, &port, NULL))
            return false;
        for (unsigned k = 0; k < n; k++)
            if (ports[k] == port)
                return false;
        ports[n++] = (uint16_t)port;
    }
    if (!n)
        return false;
    memcpy(c->server_tcp_ports, ports, sizeof ports);
    c->n_server_tcp_ports = n;
    return true;
}

static void apply_switch(punch_config_t *c, const char *name)
{
    if (strcmp(name, "--share-local") == 0)
        c->share_local = true;
    else if (strcmp(name, "--no-predict") == 0)
        c->predict_window = 0;
    else if (strcmp(name, "--no-birthday") == 0)
        c->birthday_sockets = 0;
    else if (strcmp(name, "--no-portmap") == 0)
        c->portmap = false;
    else if (strcmp(name, "--no-broadcast") == 0)
        c->broadcast = false;
    else if (strcmp(name, "--no-tcp-punch") == 0)
        c->tcp_punch = false;
}

int agent_flags_parse(punch_config_t *c, const char *flag, const char *value, GError **error)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(flags); i++) {
        const flag_t *f = &flags[i];
        if (strcmp(flag, f->name) != 0)
            continue;
        if (f->kind == SWITCH) {
            apply_switch(c, f->name);
            return 1;
        }
        if (!value) {
            g_set_error(error, agent_flags_error_quark(), 0, "%s needs a value", flag);
            return -1;
        }
        if (f->kind == DURATION) {
            usec_t d;
            if (!duration_parse(value, &d) || d < (usec_t)f->min || d > (usec_t)f->max) {
                char lo[32], hi[32];
                duration_format((usec_t)f->min, lo, sizeof lo);
                duration_format((usec_t)f->max, hi, sizeof hi);
                g_set_error(error, agent_flags_error_quark(), 0,
                            "%s '%s': a duration from %s to %s (%s)", flag, value, lo, hi,
                            DURATION_UNITS);
                return -1;
            }
            *(usec_t *)((char *)c + f->offset) = d;
            return 2;
        }
        if (f->kind == PORTS) {
            if (!parse_ports(c, value)) {
                g_set_error(error, agent_flags_error_quark(), 0,
                            "%s '%s': up to %d distinct ports 1-65535, comma-separated, in the "
                            "order to try (e.g. 3478,443)", flag, value, PUNCH_TCP_PORTS_MAX);
                return -1;
            }
            return 2;
        }
        guint64 n;
        if (!g_ascii_string_to_unsigned(value, 10, f->min, f->max, &n, NULL)) {
            g_set_error(error, agent_flags_error_quark(), 0,
                        "%s '%s': a whole number from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT,
                        flag, value, f->min, f->max);
            return -1;
        }
        *(unsigned *)((char *)c + f->offset) = (unsigned)n;
        return 2;
    }
    return 0;
}

bool agent_flags_turn_uri(const char *uri, char **host, uint16_t *port, bool *tcp, GError **error)
{
    const char *why = NULL;
    g_autofree char *rest = NULL;
    *tcp = false;
    *port = 3478; /* RFC 8656 3.1: the default port of turn: URIs */
    if (!g_str_has_prefix(uri, "turn:")) {
        why = g_str_has_prefix(uri, "turns:") ? "TURN over TLS (turns:) is not supported"
                                              : "it does not start with 'turn:'";
        goto bad;
    }
    rest = g_strdup(uri + 5);
    char *query = strchr(rest, '?');
    if (query) {
        *query++ = '\0';
        if (strcmp(query, "transport=tcp") == 0)
            *tcp = true;
        else if (strcmp(query, "transport=udp") != 0) {
            why = "the only query is transport=udp or transport=tcp";
            goto bad;
        }
    }
    char *colon = strrchr(rest, ':');
    if (colon) {
        *colon++ = '\0';
        guint64 n;
        if (!g_ascii_string_to_unsigned(colon, 10, 1, 65535, &n, NULL)) {
            why = "the port is not a number from 1 to 65535";
            goto bad;
        }
        *port = (uint16_t)n;
    }
    if (!*rest || strchr(rest, '/') || strchr(rest, '@') || strchr(rest, '[')) {
        why = "no host (an IPv4 address or a name)";
        goto bad;
    }
    *host = g_steal_pointer(&rest);
    return true;
bad:
    g_set_error(error, agent_flags_error_quark(), 0, "--turn '%s': %s; expected %s", uri, why,
                AGENT_TURN_URI_FORM);
    return false;
}
