#define _GNU_SOURCE
#include "run_worker.h"

#include "run_simworker.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "netns/topology.h"
#include "run_attempt.h"

#define SERVER_READY_TIMEOUT (5 * USEC_PER_SEC)

static bool report(const run_worker_env_t *env, JsonNode *msg)
{
    g_autofree char *text = json_to_string(msg, FALSE);
    g_autofree char *line = g_strconcat(text, "\n", NULL);
    size_t len = strlen(line), off = 0;
    while (off < len) {
        ssize_t n = write(env->report_fd, line + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* The parent is gone: nobody gets results, so stop and clean up. */
            *env->interrupted = SIGPIPE;
            return false;
        }
        off += (size_t)n;
    }
    return true;
}

void run_worker_report_error(const run_worker_env_t *env, const char *message)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "error");
    json_builder_set_member_name(b, "message");
    json_builder_add_string_value(b, message);
    json_builder_end_object(b);
    g_autoptr(JsonNode) msg = json_builder_get_root(b);
    report(env, msg);
}

void run_worker_report_row(const run_worker_env_t *env, const result_t *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "row");
    json_builder_set_member_name(b, "row");
    json_builder_add_value(b, result_to_json(r));
    json_builder_end_object(b);
    g_autoptr(JsonNode) msg = json_builder_get_root(b);
    report(env, msg);
}

int run_worker_nat_of(const run_spec_t *spec, int host)
{
    return scenario_host(spec->scenario, (guint)host)->nat_index;
}

static void describe_nat(const run_spec_t *spec, int host, char **name, JsonNode **profile)
{
    int nat = run_worker_nat_of(spec, host);
    *name = NULL;
    *profile = NULL;
    if (nat < 0)
        return;
    const nat_profile_t *p = scenario_nat(spec->scenario, (guint)nat)->profile;
    *name = g_strdup(p->name);
    *profile = nat_profile_to_json_node(p);
}

void run_worker_fill_row(const run_spec_t *spec, result_t *r)
{
    r->scenario = g_strdup(spec->scenario->name);
    describe_nat(spec, spec->connect, &r->nat_a, &r->profile_a);
    describe_nat(spec, spec->listen, &r->nat_b, &r->profile_b);
    r->pair = g_strdup_printf("%s/%s", r->nat_a ? r->nat_a : "public",
                              r->nat_b ? r->nat_b : "public");
    r->expected = g_strdup(run_expect_outcome_name(spec->expect->outcome));
    if (spec->scenario->pcap)
        r->pcap = g_strdup_printf("pcap/%s", spec->scenario->name);
}

/* The server's ready file, polled: readiness, not a guess. */
static bool wait_server(const char *state_dir, const run_worker_env_t *env, char **why)
{
    g_autofree char *ready = g_strdup_printf("%s/server.ready", state_dir);
    usec_t until = g_get_monotonic_time() + SERVER_READY_TIMEOUT;
    while (!g_file_test(ready, G_FILE_TEST_EXISTS)) {
        if (*env->interrupted)
            return false;
        if (g_get_monotonic_time() > until) {
            g_autofree char *log = g_strdup_printf("%s/%s.log", state_dir, RUN_SERVER_HOST);
            g_autofree char *text = NULL;
            g_file_get_contents(log, &text, NULL, NULL);
            *why = g_strdup_printf("the server was not ready within %.0f s; its log: %s",
                                   (double)SERVER_READY_TIMEOUT / USEC_PER_SEC,
                                   text && *text ? g_strstrip(text) : "(empty)");
            return false;
        }
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return true;
}

static void prepare_server(run_spec_t *spec, const run_worker_env_t *env)
{
    if (!spec->start_server)
        return;
    scenario_host_t *h = g_ptr_array_index(spec->scenario->hosts, (guint)spec->server);
    g_autofree char *exe = g_shell_quote(env->natlab_exe);
    g_free(h->run);
    h->run = g_strdup_printf("exec %s server --address \"$NATLAB_ADDRESS_1\"%s "
                             "--ready-file \"$NATLAB_STATE_DIR/server.ready\"",
                             exe, h->addresses >= 2 ? " --alt-address \"$NATLAB_ADDRESS_2\"" : "");
}

typedef struct live {
    topology_t *topology;
    char *prefix;
    char **namespaces;
} live_t;

static void live_down(live_t *l)
{
    if (!l->prefix)
        return;
    bool was_up = false;
    g_autoptr(GError) error = NULL;
    if (!topology_down(l->prefix, l->namespaces, 0, &was_up, &error))
        g_printerr("natlab run: removing %s: %s\n", l->prefix, error->message);
    topology_free(l->topology);
    g_free(l->prefix);
    g_strfreev(l->namespaces);
    *l = (live_t){ 0 };
}

static bool live_up(live_t *l, const run_spec_t *spec, const run_worker_env_t *env,
                    const topology_options_t *o, char **why)
{
    g_autoptr(GError) error = NULL;
    l->topology = topology_up(spec->scenario, o, &error);
    if (!l->topology) {
        if (!*env->interrupted)
            *why = g_strdup_printf("bringing the topology up: %s", error->message);
        return false;
    }
    const plan_t *plan = topology_plan(l->topology);
    l->prefix = g_strdup(plan->prefix);
    l->namespaces = plan_namespaces(plan);
    return !spec->start_server || wait_server(topology_state_dir(l->topology), env, why);
}

static bool flush_nats(const live_t *l, char **why)
{
    const plan_t *plan = topology_plan(l->topology);
    for (guint i = 0; i < plan->nats->len; i++) {
        g_autofree char *path =
            plan_control_path(topology_state_dir(l->topology), plan_nat(plan, i));
        g_autofree char *reply = NULL;
        g_autoptr(GError) error = NULL;
        if (!run_control(path, "flush", &reply, &error) || strcmp(reply, "ok") != 0) {
            *why = g_strdup_printf("flushing NAT %s between attempts: %s", plan_nat(plan, i)->name,
                                   error ? error->message : reply);
            return false;
        }
    }
    return true;
}

int run_worker(run_spec_t *spec, const run_worker_env_t *env)
{
    const scenario_t *s = spec->scenario;
    g_autofree char *logs = g_build_filename(env->out_dir, "logs", s->name, NULL);
    g_autofree char *pcaps = g_build_filename(env->out_dir, "pcap", s->name, NULL);
    if (g_mkdir_with_parents(logs, 0755) < 0) {
        g_autofree char *why = g_strdup_printf("cannot create %s: %s", logs, g_strerror(errno));
        run_worker_report_error(env, why);
        return 1;
    }
    prepare_server(spec, env);
    topology_options_t o = {
        .run_id = env->run_id,
        .pcap_dir = s->pcap ? pcaps : NULL,
        .nat_exe = env->nat_exe,
        .interrupted = env->interrupted,
    };
    live_t live = { 0 };
    g_autofree char *why = NULL;
    int status = 0;
    for (unsigned k = 1; k <= spec->repeat && !*env->interrupted; k++) {
        bool fresh = k == 1 || spec->mutates;
        if (fresh && k > 1)
            live_down(&live);
        if (fresh ? !live_up(&live, spec, env, &o, &why) : !flush_nats(&live, &why)) {
            status = 1;
            break;
        }
        const plan_t *plan = topology_plan(live.topology);
        char ip[ADDR_IP_STRLEN];
        g_autofree char *server = g_strdup_printf(
            "%s:%d", addr_ip_format(plan_host(plan, (unsigned)spec->server)->addrs[0], ip),
            RUN_SERVER_PORT);
        g_autofree char *log = g_strdup_printf("%s/attempt-%u.log", logs, k);
        run_attempt_env_t aenv = {
            .spec = spec,
            .plan = plan,
            .state_dir = topology_state_dir(live.topology),
            .agent_exe = env->agent_exe,
            .server = server,
            .log_path = log,
            .interrupted = env->interrupted,
        };
        g_autoptr(result_t) r = run_attempt(&aenv, k, run_spec_attempt_seed(s->seed, k));
        if (!r)
            break;
        run_worker_fill_row(spec, r);
        run_worker_report_row(env, r);
    }
    live_down(&live);
    if (why)
        run_worker_report_error(env, why);
    return status;
}

int run_worker_sim(const run_spec_t *spec, const run_worker_env_t *env)
{
    g_autofree char *why = run_simworker_check(spec);
    if (why) {
        run_worker_report_error(env, why);
        return 1;
    }
    usec_t clock = 0;
    for (unsigned k = 1; k <= spec->repeat && !*env->interrupted; k++) {
        g_autoptr(result_t) r =
            run_simworker_attempt(spec, k, run_spec_attempt_seed(spec->scenario->seed, k), &clock);
        run_worker_fill_row(spec, r);
        run_worker_report_row(env, r);
    }
    return 0;
}
