#include "netcheck_report.h"

#include <glib.h>
#include <string.h>

/* ---- the measured keys, shared by the profile and the JSON --------------- */

typedef enum emit_kind { EMIT_STRING, EMIT_INT } emit_kind_t;
typedef void (*emit_fn)(void *ctx, const char *key, const char *value, emit_kind_t kind);
typedef void (*skip_fn)(void *ctx, const char *key, const char *why);

static bool known(const netcheck_result_t *r, uint32_t what)
{
    return (r->known & what) == what;
}

static bool tcp_known(const netcheck_tcp_result_t *t, uint32_t what)
{
    return (t->known & what) == what;
}

/* The TCP keys (netcheck_tcp.h); none when the TCP tests did not run. */
static void tcp_emit(const netcheck_result_t *r, emit_fn emit, skip_fn skip, void *ctx)
{
    const netcheck_tcp_result_t *t = &r->tcp;
    if (!t->ran)
        return;
    bool nat = r->type == NAT_TYPE_NAT, filters = nat || r->type == NAT_TYPE_FIREWALL;
    /* open and blocked have no other key (natsim refuses allow-out-tcp
     * there); the text and the evidence still say what TCP did. */
    if (!filters)
        return;
    bool tcp_ok = tcp_known(t, NETCHECK_TCP_KNOWN_ALLOWED) && t->allowed;
    if (nat && tcp_ok) {
        if (tcp_known(t, NETCHECK_TCP_KNOWN_MAPPING))
            emit(ctx, "tcp-mapping", nat_dependence_name(t->mapping), EMIT_STRING);
        else
            skip(ctx, "tcp-mapping", "the server gave no usable OTHER-ADDRESS over TCP");
    }
    if (filters && tcp_ok) {
        if (tcp_known(t, NETCHECK_TCP_KNOWN_FILTERING))
            emit(ctx, "tcp-filtering", nat_dependence_name(t->filtering), EMIT_STRING);
        else
            skip(ctx, "tcp-filtering", "the server did not connect back");
    }
    if (nat && tcp_ok) {
        if (tcp_known(t, NETCHECK_TCP_KNOWN_ALLOCATION))
            emit(ctx, "tcp-allocation", nat_allocation_name(t->allocation), EMIT_STRING);
        else
            skip(ctx, "tcp-allocation", "too few TCP mappings answered");
    }
    if (filters && tcp_ok) {
        if (tcp_known(t, NETCHECK_TCP_KNOWN_UNSOLICITED))
            emit(ctx, "tcp-unsolicited-syn", netcheck_tcp_syn_name(t->unsolicited), EMIT_STRING);
        else
            skip(ctx, "tcp-unsolicited-syn", "the server did not connect back, or the SYN got in");
    }
    if (tcp_known(t, NETCHECK_TCP_KNOWN_ALLOWED))
        emit(ctx, "allow-out-tcp", t->allowed ? "all" : "none", EMIT_STRING);
    else
        skip(ctx, "allow-out-tcp", "no answer over TCP, and none over UDP to compare");
}

/* Every key in the order nat_profile_to_keyfile() writes them; `skip`
 * hears about each key that means something for the type but was not
 * measured. */
static void result_emit(const netcheck_result_t *r, emit_fn emit, skip_fn skip, void *ctx)
{
    char buf[32];
    if (!known(r, NETCHECK_KNOWN_TYPE))
        return;
    emit(ctx, "type", nat_type_name(r->type), EMIT_STRING);
    if (r->type == NAT_TYPE_NAT) {
        if (known(r, NETCHECK_KNOWN_MAPPING))
            emit(ctx, "mapping", nat_dependence_name(r->mapping), EMIT_STRING);
        else
            skip(ctx, "mapping", "the server gave no usable OTHER-ADDRESS");
    }
    if (r->type == NAT_TYPE_NAT || r->type == NAT_TYPE_FIREWALL) {
        if (known(r, NETCHECK_KNOWN_FILTERING))
            emit(ctx, "filtering", nat_dependence_name(r->filtering), EMIT_STRING);
        else
            skip(ctx, "filtering", "the server could not answer from its other address and port");
    }
    if (r->type == NAT_TYPE_NAT) {
        if (known(r, NETCHECK_KNOWN_ALLOCATION)) {
            emit(ctx, "allocation", nat_allocation_name(r->allocation), EMIT_STRING);
        } else {
            skip(ctx, "allocation", "too few mappings answered");
        }
        bool preserve = known(r, NETCHECK_KNOWN_ALLOCATION) && r->allocation == NAT_ALLOC_PRESERVE;
        if (preserve && known(r, NETCHECK_KNOWN_FALLBACK))
            emit(ctx, "preserve-fallback", nat_allocation_name(r->preserve_fallback), EMIT_STRING);
        else if (preserve)
            skip(ctx, "preserve-fallback", "no port collision happened (endpoint-independent mapping)");
        if ((known(r, NETCHECK_KNOWN_ALLOCATION) && r->allocation == NAT_ALLOC_SEQUENTIAL) ||
            (preserve && known(r, NETCHECK_KNOWN_FALLBACK) &&
             r->preserve_fallback == NAT_ALLOC_SEQUENTIAL)) {
            g_snprintf(buf, sizeof buf, "%u", r->sequential_step);
            emit(ctx, "sequential-step", buf, EMIT_INT);
        }
        if (known(r, NETCHECK_KNOWN_PARITY))
            emit(ctx, "port-parity", nat_parity_name(r->parity), EMIT_STRING);
        else
            skip(ctx, "port-parity", "too few ports chosen by the allocator (preserved ports say nothing)");
    }
    if (r->type == NAT_TYPE_NAT || r->type == NAT_TYPE_FIREWALL) {
        if (known(r, NETCHECK_KNOWN_TIMEOUT)) {
            duration_format(r->timeout, buf, sizeof buf);
            emit(ctx, "timeout", buf, EMIT_STRING);
        } else if (r->timeout_alive > 0 && r->timeout_dead == 0) {
            skip(ctx, "timeout", "alive for the whole --lifetime-max");
        } else {
            skip(ctx, "timeout", "not searched (run with --lifetime-max)");
        }
        if (known(r, NETCHECK_KNOWN_REFRESH))
            emit(ctx, "refresh", nat_refresh_name(r->refresh), EMIT_STRING);
        else
            skip(ctx, "refresh", "needs the lifetime search to see a mapping die");
    }
    if (r->type == NAT_TYPE_NAT) {
        if (known(r, NETCHECK_KNOWN_HAIRPIN))
            emit(ctx, "hairpin", nat_hairpin_name(r->hairpin), EMIT_STRING);
        else
            skip(ctx, "hairpin", "the test did not run");
        if (known(r, NETCHECK_KNOWN_POOLING)) {
            g_snprintf(buf, sizeof buf, "%u", r->public_ips);
            emit(ctx, "public-ips", buf, EMIT_INT);
            emit(ctx, "pooling", nat_pooling_name(r->pooling), EMIT_STRING);
        } else {
            skip(ctx, "pooling", "too few mappings answered");
        }
        g_autofree char *pm = nat_profile_port_mapping_text(r->port_mapping);
        if (known(r, NETCHECK_KNOWN_PORT_MAPPING))
            emit(ctx, "port-mapping", pm, EMIT_STRING);
        else
            skip(ctx, "port-mapping", "no default gateway to ask");
    }
    tcp_emit(r, emit, skip, ctx);
}

/* ---- profile ------------------------------------------------------------ */

static void profile_emit(void *ctx, const char *key, const char *value, emit_kind_t kind)
{
    (void)kind;
    g_string_append_printf(ctx, "%s = %s\n", key, value);
}

static void profile_skip(void *ctx, const char *key, const char *why)
{
    g_string_append_printf(ctx, "# %s: not measured: %s\n", key, why);
}

char *netcheck_report_profile(const netcheck_result_t *r, const char *comment)
{
    GString *s = g_string_new(NULL);
    if (comment)
        g_string_append_printf(s, "# %s\n", comment);
    g_string_append(s, "[nat]\n");
    result_emit(r, profile_emit, profile_skip, s);
    return g_string_free(s, FALSE);
}

/* ---- JSON --------------------------------------------------------------- */

typedef struct json_ctx {
    JsonBuilder *b;
    GPtrArray *skipped;
} json_ctx_t;

static void json_emit(void *ctx, const char *key, const char *value, emit_kind_t kind)
{
    JsonBuilder *b = ((json_ctx_t *)ctx)->b;
    json_builder_set_member_name(b, key);
    if (kind == EMIT_INT)
        json_builder_add_int_value(b, g_ascii_strtoll(value, NULL, 10));
    else
        json_builder_add_string_value(b, value);
}

static void json_skip(void *ctx, const char *key, const char *why)
{
    g_ptr_array_add(((json_ctx_t *)ctx)->skipped, g_strdup_printf("%s: %s", key, why));
}

static void add_endpoint(JsonBuilder *b, const char *name, addr_endpoint_t ep)
{
    char buf[ADDR_ENDPOINT_STRLEN];
    json_builder_set_member_name(b, name);
    if (ep.ip || ep.port)
        json_builder_add_string_value(b, addr_endpoint_format(ep, buf));
    else
        json_builder_add_null_value(b);
}

static void add_ip(JsonBuilder *b, const char *name, uint32_t ip)
{
    char buf[ADDR_IP_STRLEN];
    json_builder_set_member_name(b, name);
    if (ip)
        json_builder_add_string_value(b, addr_ip_format(ip, buf));
    else
        json_builder_add_null_value(b);
}

/* Times as integer microseconds: exact, and no float noise in the text. */
static void add_us(JsonBuilder *b, const char *name, usec_t v)
{
    json_builder_set_member_name(b, name);
    if (v < 0)
        json_builder_add_null_value(b);
    else
        json_builder_add_int_value(b, v);
}

static void add_tally(JsonBuilder *b, const char *name, const netcheck_tally_t *t)
{
    json_builder_set_member_name(b, name);
    if (t->sent == 0) {
        json_builder_add_null_value(b);
        return;
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "sent");
    json_builder_add_int_value(b, t->sent);
    json_builder_set_member_name(b, "answered");
    json_builder_add_boolean_value(b, t->answered);
    add_us(b, "first-sent-us", t->first_sent);
    add_us(b, "answered-us", t->answered ? t->answered_at : -1);
    add_endpoint(b, "answer-from", t->answered ? t->answer_from : addr_endpoint(0, 0));
    json_builder_end_object(b);
}

static const char *const tcp_fail_names[] = { "none", "refused", "unreachable", "timeout", "closed" };
static const char *const cb_names[] = { "from-other-address", "from-primary-address", "unsolicited" };

static void add_tcp_evidence(JsonBuilder *b, const netcheck_tcp_result_t *t)
{
    json_builder_set_member_name(b, "tcp");
    if (!t->ran) {
        json_builder_add_null_value(b);
        return;
    }
    json_builder_begin_object(b);
    add_endpoint(b, "local", t->local);
    add_endpoint(b, "other-address", t->other_address);
    json_builder_set_member_name(b, "first-connection");
    json_builder_add_string_value(b, t->mapped_count ? "answered" : tcp_fail_names[t->fail]);
    json_builder_set_member_name(b, "mapping-tests");
    json_builder_begin_array(b);
    for (unsigned i = 0; i < t->mapped_count; i++) {
        char ep[ADDR_ENDPOINT_STRLEN];
        json_builder_add_string_value(b, addr_endpoint_format(t->mapped[i], ep));
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "allocation-samples");
    json_builder_begin_array(b);
    for (unsigned i = 0; i < t->n_samples; i++) {
        json_builder_begin_object(b);
        add_endpoint(b, "local", t->samples[i].local);
        add_endpoint(b, "to", t->samples[i].to);
        add_endpoint(b, "mapped", t->samples[i].mapped);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "connect-backs");
    json_builder_begin_object(b);
    for (int i = 0; i < NETCHECK_TCP_CB_COUNT; i++) {
        const netcheck_tcp_cb_t *cb = &t->cb[i];
        json_builder_set_member_name(b, cb_names[i]);
        if (!cb->sent) {
            json_builder_add_null_value(b);
            continue;
        }
        json_builder_begin_object(b);
        add_endpoint(b, "to", cb->to);
        json_builder_set_member_name(b, "outcome");
        json_builder_add_string_value(b, cb->answered ? stun_connect_outcome_name(cb->result.outcome)
                                                      : "no-answer");
        if (cb->result.outcome == STUN_CONNECT_ICMP) {
            json_builder_set_member_name(b, "icmp");
            char text[16];
            g_snprintf(text, sizeof text, "%u/%u", cb->result.icmp_type, cb->result.icmp_code);
            json_builder_add_string_value(b, text);
        }
        json_builder_set_member_name(b, "elapsed-ms");
        json_builder_add_int_value(b, cb->result.elapsed_ms);
        add_endpoint(b, "from", cb->result.source);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    json_builder_set_member_name(b, "connections");
    json_builder_add_int_value(b, t->connections);
    add_us(b, "duration-us", t->duration);
    json_builder_set_member_name(b, "error");
    if (t->error[0])
        json_builder_add_string_value(b, t->error);
    else
        json_builder_add_null_value(b);
    json_builder_end_object(b);
}

static void add_evidence(JsonBuilder *b, const netcheck_result_t *r)
{
    char buf[32];
    json_builder_set_member_name(b, "evidence");
    json_builder_begin_object(b);
    add_ip(b, "local-address", r->local_ip);
    add_endpoint(b, "server", r->server);
    add_endpoint(b, "other-address", r->other_address);
    add_us(b, "rtt-us", r->rtt);
    add_us(b, "duration-us", r->duration);
    json_builder_set_member_name(b, "probes-sent");
    json_builder_add_int_value(b, r->probes_sent);
    json_builder_set_member_name(b, "answers-received");
    json_builder_add_int_value(b, r->probes_answered);

    json_builder_set_member_name(b, "mapping-tests");
    json_builder_begin_array(b);
    for (unsigned i = 0; i < r->mapped_count; i++) {
        char ep[ADDR_ENDPOINT_STRLEN];
        json_builder_add_string_value(b, addr_endpoint_format(r->mapped[i], ep));
    }
    json_builder_end_array(b);

    json_builder_set_member_name(b, "filtering-tests");
    json_builder_begin_object(b);
    add_tally(b, "I", &r->filter[0]);
    add_tally(b, "II-change-ip-and-port", &r->filter[1]);
    add_tally(b, "III-change-port", &r->filter[2]);
    json_builder_end_object(b);
    add_tally(b, "unsolicited", &r->unsolicited);

    json_builder_set_member_name(b, "allocation-samples");
    json_builder_begin_array(b);
    for (unsigned i = 0; i < r->n_samples; i++) {
        const netcheck_sample_t *s = &r->samples[i];
        json_builder_begin_object(b);
        add_endpoint(b, "local", s->local);
        add_endpoint(b, "to", s->to);
        add_endpoint(b, "mapped", s->mapped);
        json_builder_set_member_name(b, "preserved");
        json_builder_add_boolean_value(b, s->preserved);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);

    json_builder_set_member_name(b, "hairpin-test");
    json_builder_begin_object(b);
    add_endpoint(b, "sender-local", r->hairpin_sender_local);
    add_endpoint(b, "sender-mapped", r->hairpin_sender_mapped);
    add_endpoint(b, "received-from", r->hairpin_probe.answered ? r->hairpin_source : addr_endpoint(0, 0));
    add_tally(b, "probe", &r->hairpin_probe);
    json_builder_end_object(b);

    json_builder_set_member_name(b, "lifetime");
    if (r->n_life == 0) {
        json_builder_add_null_value(b);
    } else {
        json_builder_begin_object(b);
        duration_format(r->timeout_alive, buf, sizeof buf);
        json_builder_set_member_name(b, "alive-after");
        json_builder_add_string_value(b, buf);
        json_builder_set_member_name(b, "dead-after");
        if (r->timeout_dead) {
            duration_format(r->timeout_dead, buf, sizeof buf);
            json_builder_add_string_value(b, buf);
        } else {
            json_builder_add_null_value(b);
        }
        json_builder_set_member_name(b, "checks");
        json_builder_begin_array(b);
        for (unsigned i = 0; i < r->n_life; i++) {
            json_builder_begin_object(b);
            add_us(b, "after-us", r->life[i].after);
            json_builder_set_member_name(b, "alive");
            json_builder_add_boolean_value(b, r->life[i].alive);
            json_builder_set_member_name(b, "inbound-refreshed");
            json_builder_add_boolean_value(b, r->life[i].refresh_socket);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
    }

    add_tcp_evidence(b, &r->tcp);

    json_builder_set_member_name(b, "port-mapping");
    json_builder_begin_object(b);
    add_ip(b, "gateway", r->gateway);
    add_tally(b, "nat-pmp", &r->natpmp);
    add_ip(b, "nat-pmp-external-address", r->natpmp_external);
    json_builder_set_member_name(b, "nat-pmp-epoch");
    json_builder_add_int_value(b, r->natpmp_epoch);
    add_tally(b, "pcp", &r->pcp);
    add_ip(b, "pcp-external-address", r->pcp_external);
    json_builder_set_member_name(b, "pcp-epoch");
    json_builder_add_int_value(b, r->pcp_epoch);
    add_tally(b, "upnp", &r->upnp);
    json_builder_set_member_name(b, "upnp-location");
    if (r->upnp_location[0])
        json_builder_add_string_value(b, r->upnp_location);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "upnp-igd");
    json_builder_add_boolean_value(b, r->upnp_igd);
    json_builder_end_object(b);
    json_builder_end_object(b);
}

JsonNode *netcheck_report_json(const netcheck_result_t *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) skipped = g_ptr_array_new_with_free_func(g_free);
    json_ctx_t ctx = { b, skipped };
    json_builder_begin_object(b);
    result_emit(r, json_emit, json_skip, &ctx);
    json_builder_set_member_name(b, "not-measured");
    json_builder_begin_array(b);
    for (guint i = 0; i < skipped->len; i++)
        json_builder_add_string_value(b, g_ptr_array_index(skipped, i));
    json_builder_end_array(b);
    json_builder_set_member_name(b, "classic-name");
    json_builder_add_string_value(b, netcheck_report_classic_name(r));
    json_builder_set_member_name(b, "udp-blocked");
    json_builder_add_boolean_value(b, r->udp_blocked);
    json_builder_set_member_name(b, "alg");
    if (known(r, NETCHECK_KNOWN_ALG))
        json_builder_add_boolean_value(b, r->alg);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "double-nat-hint");
    json_builder_add_boolean_value(b, r->double_nat);
    json_builder_set_member_name(b, "response-origin-mismatch");
    json_builder_add_boolean_value(b, r->origin_mismatch);
    json_builder_set_member_name(b, "error");
    if (r->error[0])
        json_builder_add_string_value(b, r->error);
    else
        json_builder_add_null_value(b);
    add_evidence(b, r);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* ---- summary ------------------------------------------------------------ */

const char *netcheck_report_classic_name(const netcheck_result_t *r)
{
    if (!known(r, NETCHECK_KNOWN_TYPE))
        return "unknown";
    switch (r->type) {
    case NAT_TYPE_BLOCKED:
        return "UDP blocked";
    case NAT_TYPE_OPEN:
        return "open internet";
    case NAT_TYPE_FIREWALL:
        return "symmetric UDP firewall";
    case NAT_TYPE_NAT:
        break;
    }
    if (!known(r, NETCHECK_KNOWN_MAPPING | NETCHECK_KNOWN_FILTERING))
        return "unknown";
    /* RFC 3489's flow tries change-IP-and-port first: any EIF is "full cone". */
    if (r->filtering == NAT_ENDPOINT_INDEPENDENT)
        return "full cone";
    if (r->mapping != NAT_ENDPOINT_INDEPENDENT)
        return "symmetric";
    return r->filtering == NAT_ADDRESS_DEPENDENT ? "restricted cone" : "port-restricted cone";
}

static void tally_text(GString *s, const netcheck_tally_t *t)
{
    if (t->sent == 0)
        g_string_append(s, "not sent");
    else if (t->answered)
        g_string_append_printf(s, "answered after %u sent", t->sent);
    else
        g_string_append_printf(s, "silent, %u sent", t->sent);
}

#define LINE(s, label) g_string_append_printf(s, "  %-14s", label)

static void tcp_text(GString *s, const netcheck_result_t *r)
{
    const netcheck_tcp_result_t *t = &r->tcp;
    char a[ADDR_ENDPOINT_STRLEN];
    if (!t->ran)
        return;
    LINE(s, "TCP:");
    if (!tcp_known(t, NETCHECK_TCP_KNOWN_ALLOWED)) {
        g_string_append_printf(s, "not measured (%s)\n", t->error[0] ? t->error : "no answer");
        return;
    }
    if (!t->allowed) {
        g_string_append_printf(s, "blocked (%s)\n", t->error);
        return;
    }
    if (t->no_nat)
        g_string_append(s, "works, not translated\n");
    else
        g_string_append_printf(s, "works, mapped address %s\n", addr_endpoint_format(t->mapped[0], a));
    if (!t->no_nat) {
        LINE(s, "TCP mapping:");
        g_string_append_printf(s, "%s\n", tcp_known(t, NETCHECK_TCP_KNOWN_MAPPING)
                                               ? nat_dependence_name(t->mapping) : "not measured");
        LINE(s, "TCP alloc.:");
        if (tcp_known(t, NETCHECK_TCP_KNOWN_ALLOCATION) && t->allocation == NAT_ALLOC_SEQUENTIAL)
            g_string_append_printf(s, "sequential, step %u\n", t->sequential_step);
        else
            g_string_append_printf(s, "%s\n", tcp_known(t, NETCHECK_TCP_KNOWN_ALLOCATION)
                                                   ? nat_allocation_name(t->allocation) : "not measured");
    }
    LINE(s, "TCP filter:");
    g_string_append_printf(s, "%s\n", tcp_known(t, NETCHECK_TCP_KNOWN_FILTERING)
                                           ? nat_dependence_name(t->filtering) : "not measured");
    LINE(s, "TCP SYN in:");
    const stun_connect_result_t *u = &t->cb[NETCHECK_TCP_CB_UNSOLICITED].result;
    if (tcp_known(t, NETCHECK_TCP_KNOWN_UNSOLICITED))
        g_string_append_printf(s, "%s (the server's SYN to a port that never sent: %s after %u ms)\n",
                               netcheck_tcp_syn_name(t->unsolicited), stun_connect_outcome_name(u->outcome),
                               u->elapsed_ms);
    else if (t->unsolicited_ok)
        g_string_append(s, "admitted (a SYN to a port that never sent got in)\n");
    else
        g_string_append(s, "not measured\n");
    if (t->error[0])
        g_string_append_printf(s, "  TCP note:     %s\n", t->error);
}

char *netcheck_report_text(const netcheck_result_t *r)
{
    GString *s = g_string_new(NULL);
    char a[ADDR_ENDPOINT_STRLEN], b[ADDR_ENDPOINT_STRLEN], ip[ADDR_IP_STRLEN], d[32];
    g_string_append_printf(s, "netcheck against %s", addr_endpoint_format(r->server, a));
    if (r->other_address.ip)
        g_string_append_printf(s, " (other address %s)", addr_endpoint_format(r->other_address, b));
    g_string_append_printf(s, " from %s: %.1f s, RTT %.1f ms, %u datagrams sent, %u answers\n",
                           addr_ip_format(r->local_ip, ip), (double)r->duration / USEC_PER_SEC,
                           (double)r->rtt / USEC_PER_MSEC, r->probes_sent, r->probes_answered);
    if (!known(r, NETCHECK_KNOWN_TYPE)) {
        g_string_append_printf(s, "  nothing measured: %s\n", r->error[0] ? r->error : "no answer");
        return g_string_free(s, FALSE);
    }
    LINE(s, "UDP:");
    g_string_append(s, r->udp_blocked ? "blocked (no answer at all)\n" : "works\n");
    if (r->udp_blocked) {
        g_string_append_printf(s, "  note:         %s\n", r->error);
        return g_string_free(s, FALSE);
    }
    LINE(s, "NAT:");
    if (r->type == NAT_TYPE_NAT)
        g_string_append_printf(s, "yes, mapped address %s\n", addr_endpoint_format(r->mapped[0], a));
    else if (r->type == NAT_TYPE_OPEN)
        g_string_append(s, "none, and no filtering: open internet\n");
    else
        g_string_append(s, "none, but a stateful firewall filters inbound UDP\n");

    if (r->type == NAT_TYPE_NAT) {
        LINE(s, "mapping:");
        if (known(r, NETCHECK_KNOWN_MAPPING)) {
            g_string_append_printf(s, "%s (tests I-III: ", nat_dependence_name(r->mapping));
            for (unsigned i = 0; i < r->mapped_count; i++)
                g_string_append_printf(s, "%s%s", i ? ", " : "", addr_endpoint_format(r->mapped[i], a));
            g_string_append(s, ")\n");
        } else {
            g_string_append(s, "not measured\n");
        }
    }
    LINE(s, "filtering:");
    if (known(r, NETCHECK_KNOWN_FILTERING)) {
        g_string_append_printf(s, "%s (change IP+port: ", nat_dependence_name(r->filtering));
        tally_text(s, &r->filter[1]);
        g_string_append(s, "; change port: ");
        tally_text(s, &r->filter[2]);
        g_string_append(s, ")\n");
    } else {
        g_string_append(s, "not measured\n");
    }
    if (r->type == NAT_TYPE_NAT) {
        unsigned kept = 0;
        for (unsigned i = 0; i < r->n_samples; i++)
            kept += r->samples[i].preserved;
        LINE(s, "allocation:");
        if (known(r, NETCHECK_KNOWN_ALLOCATION)) {
            g_string_append(s, nat_allocation_name(r->allocation));
            if (r->allocation == NAT_ALLOC_SEQUENTIAL)
                g_string_append_printf(s, ", step %u", r->sequential_step);
            if (r->allocation == NAT_ALLOC_PRESERVE && known(r, NETCHECK_KNOWN_FALLBACK)) {
                g_string_append_printf(s, ", else %s", nat_allocation_name(r->preserve_fallback));
                if (r->preserve_fallback == NAT_ALLOC_SEQUENTIAL)
                    g_string_append_printf(s, " step %u", r->sequential_step);
            }
            g_string_append_printf(s, " (%u of %u new mappings kept their port)\n", kept, r->n_samples);
        } else {
            g_string_append(s, "not measured\n");
        }
        LINE(s, "port parity:");
        g_string_append_printf(s, "%s\n", known(r, NETCHECK_KNOWN_PARITY) ? nat_parity_name(r->parity)
                                                                         : "not observable");
        LINE(s, "pooling:");
        if (known(r, NETCHECK_KNOWN_POOLING))
            g_string_append_printf(s, "%s, %u public address%s seen\n", nat_pooling_name(r->pooling),
                                   r->public_ips, r->public_ips == 1 ? "" : "es");
        else
            g_string_append(s, "not measured\n");
        LINE(s, "hairpin:");
        if (!known(r, NETCHECK_KNOWN_HAIRPIN))
            g_string_append(s, "not measured\n");
        else if (r->hairpin == NAT_HAIRPIN_OFF)
            g_string_append(s, "off\n");
        else
            g_string_append_printf(s, "%s (arrived from %s)\n",
                                   r->hairpin == NAT_HAIRPIN_ON ? "on, external source"
                                                                : "on, internal source (leaks the private address)",
                                   addr_endpoint_format(r->hairpin_source, a));
    }
    if (r->type == NAT_TYPE_NAT || r->type == NAT_TYPE_FIREWALL) {
        LINE(s, "timeout:");
        if (known(r, NETCHECK_KNOWN_TIMEOUT)) {
            duration_format(r->timeout, d, sizeof d);
            g_string_append_printf(s, "%s (alive after %.1f s, gone after %.1f s)\n", d,
                                   (double)r->timeout_alive / USEC_PER_SEC,
                                   (double)r->timeout_dead / USEC_PER_SEC);
        } else if (r->timeout_alive > 0 && r->timeout_dead == 0) {
            g_string_append_printf(s, "longer than %.0f s (the --lifetime-max)\n",
                                   (double)r->timeout_alive / USEC_PER_SEC);
        } else {
            g_string_append(s, "not measured (run with --lifetime-max)\n");
        }
        LINE(s, "refresh:");
        g_string_append_printf(s, "%s\n",
                               !known(r, NETCHECK_KNOWN_REFRESH)      ? "not measured"
                               : r->refresh == NAT_REFRESH_BOTH ? "outbound and inbound traffic"
                                                                : "outbound traffic only");
    }
    if (r->type == NAT_TYPE_NAT) {
        LINE(s, "port mapping:");
        if (!known(r, NETCHECK_KNOWN_PORT_MAPPING)) {
            g_string_append(s, "not asked (no default gateway)\n");
        } else {
            g_autofree char *pm = nat_profile_port_mapping_text(r->port_mapping);
            g_string_append_printf(s, "%s", pm);
            if (r->natpmp_external)
                g_string_append_printf(s, ", NAT-PMP external %s epoch %u",
                                       addr_ip_format(r->natpmp_external, ip), r->natpmp_epoch);
            if (r->pcp_external)
                g_string_append_printf(s, ", PCP external %s epoch %u",
                                       addr_ip_format(r->pcp_external, ip), r->pcp_epoch);
            if (r->upnp_igd)
                g_string_append_printf(s, ", UPnP IGD at %s", r->upnp_location);
            else if (r->upnp_location[0])
                g_string_append_printf(s, ", UPnP answer without an IGD at %s", r->upnp_location);
            g_string_append(s, "\n");
            if (r->double_nat)
                g_string_append(s, "  double NAT:   likely: the gateway's external address is not "
                                   "the one the server sees\n");
        }
        LINE(s, "ALG:");
        g_string_append(s, !known(r, NETCHECK_KNOWN_ALG) ? "not measured\n"
                           : r->alg ? "yes: MAPPED-ADDRESS was rewritten\n"
                                    : "none seen\n");
    }
    tcp_text(s, r);
    if (r->origin_mismatch)
        g_string_append(s, "  note:         RESPONSE-ORIGIN differs from the address asked: a "
                           "middlebox near the server\n");
    LINE(s, "RFC 3489:");
    g_string_append_printf(s, "%s\n", netcheck_report_classic_name(r));
    if (r->error[0])
        g_string_append_printf(s, "  note:         %s\n", r->error);
    return g_string_free(s, FALSE);
}
