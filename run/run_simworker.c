#include "run_simworker.h"

#include <math.h>
#include <string.h>
#include <sys/wait.h>

#include "agent/agent_flags.h"
#include "common/duration.h"

/* The agents' flags (run_spec's [agent] keys) as punch_config_t knobs,
 * through the parser `natlab agent` uses; the values were checked when the
 * scenario was read. --send and --interval belong to the connecting
 * agent's application, not to the core. */
static void apply_flags(const GPtrArray *args, punch_config_t *c, unsigned *send, usec_t *interval)
{
    for (guint i = 0; i < args->len; i++) {
        const char *flag = g_ptr_array_index(args, i);
        const char *v = i + 1 < args->len ? g_ptr_array_index(args, i + 1) : NULL;
        int used = agent_flags_parse(c, flag, v, NULL);
        if (used > 0) {
            i += (guint)used - 1;
            continue;
        }
        usec_t d;
        if (strcmp(flag, "--send") == 0 && v)
            *send = (unsigned)g_ascii_strtoull(v, NULL, 10), i++;
        else if (strcmp(flag, "--interval") == 0 && v && duration_parse(v, &d))
            *interval = d, i++;
    }
}

static const char *origin(const run_spec_t *spec)
{
    return spec->scenario->path ? spec->scenario->path : "scenario";
}

char *run_simworker_check(const run_spec_t *spec)
{
    const scenario_t *s = spec->scenario;
    if (spec->kind_ref)
        return g_strdup_printf("%s:%d: [agent] kind = %s: sim mode runs natlab's own agent's core; "
                               "run other kinds without --sim",
                               origin(spec), spec->kind_line, spec->kind_ref);
    if (spec->turn == RUN_TURN_TCP)
        return g_strdup_printf("%s:%d: [agent] turn = tcp: sim mode's TURN server (sim/simturn) "
                               "speaks UDP only; use turn = udp, or run it without --sim",
                               origin(spec), spec->turn_line);
    if (s->pcap)
        return g_strdup_printf("%s: [scenario] pcap = on: sim mode has no packets to capture; "
                               "run it without --sim, or pcap = off",
                               origin(spec));
    for (guint i = 0; i < s->nats->len; i++) {
        const scenario_nat_t *n = scenario_nat(s, i);
        const nat_profile_t *p = n->profile;
        if (n->behind)
            return g_strdup_printf("%s:%d: [nat %s] behind = %s: sim mode cannot express a NAT "
                                   "behind another NAT; run it without --sim",
                                   origin(spec), n->line, n->name, n->behind);
        const char *impairment = NULL;
        for (int d = 0; d < 2 && !impairment; d++) {
            const nat_impairment_t *m = d ? &p->outbound : &p->inbound;
            impairment = m->latency ? "latency" : m->jitter ? "jitter" : m->loss > 0 ? "loss"
                         : m->reorder > 0 ? "reorder" : NULL;
        }
        if (impairment)
            return g_strdup_printf("%s:%d: [nat %s] %s: sim mode does not model a NAT's "
                                   "impairments (latency, jitter, loss, reorder); run it without "
                                   "--sim",
                                   origin(spec), n->line, n->name, impairment);
    }
    for (guint i = 0; i < s->hosts->len; i++) {
        const scenario_host_t *h = scenario_host(s, i);
        if (h->run)
            return g_strdup_printf("%s:%d: [host %s] run = %s: sim mode runs only the two agents "
                                   "and its own server, no other program; run it without --sim",
                                   origin(spec), h->line, h->name, h->run);
    }
    return NULL;
}

static bool parse_event(const run_event_t *e, simnet_event_t *out, char **key, char **value)
{
    *key = *value = NULL;
    out->at = e->at;
    if (strcmp(e->command, "reboot") == 0)
        out->action = SIMNET_REBOOT;
    else if (strcmp(e->command, "flush") == 0)
        out->action = SIMNET_FLUSH;
    else if (strcmp(e->command, "change-ip") == 0)
        out->action = SIMNET_CHANGE_IP;
    else if (g_str_has_prefix(e->command, "set ")) {
        g_auto(GStrv) w = g_strsplit(e->command + 4, " ", 2);
        if (!w[0] || !w[1])
            return false;
        out->action = SIMNET_SET;
        *key = g_strdup(w[0]);
        *value = g_strdup(w[1]);
    } else {
        return false;
    }
    out->key = *key;
    out->value = *value;
    return true;
}

static char *started_at(usec_t clock)
{
    g_autoptr(GDateTime) epoch = g_date_time_new_from_iso8601(RUN_SIMWORKER_EPOCH, NULL);
    g_autoptr(GDateTime) t = g_date_time_add(epoch, clock);
    return g_date_time_format(t, "%Y-%m-%dT%H:%M:%SZ");
}

void run_simworker_result(const simnet_result_t *sim, const run_spec_t *spec, result_t *r)
{
    /* The agent prints done when it finishes or fails; at the deadline the
     * runner stops it before. */
    run_events_t ev = { .done = sim->done || sim->failed, .agent_failed = sim->failed };
    ev.last_event = g_strdup(ev.done ? "done" : sim->last_event);
    r->sent = sim->sent;
    r->delivered = (int64_t)sim->stats[0].delivered;
    r->probes_sent = (int64_t)sim->stats[0].probes_sent;
    r->path_changes = (int64_t)sim->stats[0].path_changes;
    g_free(r->path);
    r->path = g_strdup(punch_path_name(sim->path));
    g_free(r->technique);
    r->technique = g_strdup(agentmsg_technique_name(sim->technique));
    r->time_to_first_byte_ms = sim->ttfb > 0 ? (double)sim->ttfb / USEC_PER_MSEC : NAN;
    r->time_to_direct_ms = sim->ttd > 0 ? (double)sim->ttd / USEC_PER_MSEC : NAN;
    if (spec->turn != RUN_TURN_NONE) {
        g_free(r->relay);
        r->relay = g_strdup(sim->relay_turn ? "turn" : "natlab");
        r->turn_sent = (int64_t)sim->stats[0].turn_sent;
        r->turn_received = (int64_t)sim->stats[0].turn_received;
    }
    if (sim->failed) {
        g_free(r->error);
        r->error = g_strdup(sim->failure ? sim->failure : "failed");
    }
    g_autofree char *runner_error = NULL;
    if (sim->event_error)
        runner_error = g_strdup_printf("an event failed: %s", sim->event_error);
    else if (!ev.done)
        runner_error = g_strdup_printf("deadline %.0f s passed: stopped the agents (last event: %s)",
                                       (double)spec->deadline / USEC_PER_SEC,
                                       sim->last_event ? sim->last_event : "none");
    int exit_status = sim->failed ? 1 : 0;
    run_result_finish(r, &ev, W_EXITCODE(exit_status, 0), runner_error);
    run_events_clear(&ev);
    r->duration_ms = (double)sim->elapsed / USEC_PER_MSEC;
}

result_t *run_simworker_attempt(const run_spec_t *spec, unsigned attempt, uint64_t seed,
                                    usec_t *clock)
{
    const scenario_t *s = spec->scenario;
    int nat_c = scenario_host(s, (guint)spec->connect)->nat_index;
    int nat_l = scenario_host(s, (guint)spec->listen)->nat_index;
    punch_config_t agent;
    punch_config_init(&agent);
    simnet_options_t o = {
        .nat = { nat_c >= 0 ? scenario_nat(s, (guint)nat_c)->profile : NULL,
                 nat_l >= 0 ? scenario_nat(s, (guint)nat_l)->profile : NULL },
        .same_nat = nat_c >= 0 && nat_c == nat_l,
        .seed = seed,
        .hold = spec->hold,
        .limit = spec->deadline,
        .agent = &agent,
        .turn = spec->turn == RUN_TURN_UDP,
    };
    apply_flags(spec->agent_args, &agent, &o.send, &o.interval);
    apply_flags(spec->connect_args, &agent, &o.send, &o.interval);
    guint n = spec->events->len;
    g_autofree simnet_event_t *events = g_new0(simnet_event_t, n ? n : 1);
    GPtrArray *strings = g_ptr_array_new_with_free_func(g_free);
    unsigned k = 0;
    for (guint i = 0; i < n; i++) {
        const run_event_t *e = run_spec_event(spec, i);
        char *key, *value;
        /* An event on a NAT in front of neither agent changes nothing. */
        if (e->nat != nat_c && e->nat != nat_l)
            continue;
        if (!parse_event(e, &events[k], &key, &value))
            continue;
        events[k].host = e->nat == nat_c ? 0 : 1;
        g_ptr_array_add(strings, key);
        g_ptr_array_add(strings, value);
        k++;
    }
    o.events = events;
    o.n_events = k;
    result_t *r = result_new();
    r->attempt = attempt;
    r->seed = seed;
    r->started = started_at(*clock);
    simnet_result_t sim;
    if (simnet_attempt(&o, &sim)) {
        run_simworker_result(&sim, spec, r);
    } else {
        run_result_finish(r, &(run_events_t){ 0 }, 0,
                          "sim mode could not build this attempt (a NAT profile or an agent "
                          "was refused)");
        r->duration_ms = 0;
    }
    *clock += sim.elapsed;
    g_ptr_array_free(strings, TRUE);
    return r;
}
