#define _GNU_SOURCE
#include "run_attempt.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/addr.h"
#include "netns/netns.h"
#include "netns/proc.h"
#include "run_kind_file.h"

#define CONTROL_TIMEOUT_MS 2000
/* After the connecting agent is done, how long the listener may take to see
 * its session end and exit by itself before it is stopped. */
#define LISTENER_GRACE (500 * USEC_PER_MSEC)
#define STOP_GRACE (1 * USEC_PER_SEC)
/* How long another kind's connecting peer may linger after its result. */
#define RESULT_EXIT_GRACE (2 * USEC_PER_SEC)

typedef struct child {
    const char *role;
    pid_t pid;
    int pidfd;
    int fd[2];     /* stdout, stderr; -1 once closed */
    GString *buf[2];
    bool exited;
    int status;
} child_t;

typedef struct attempt {
    const run_attempt_env_t *env;
    FILE *log;
    usec_t t0;     /* when the current phase's clock started (log times) */
    child_t listener, connector;
    bool registered;
    result_t *result;
    run_events_t events; /* the connector's */
    const run_kind_t *kind; /* NULL: natlab's agent */
} attempt_t;

static usec_t now_us(void)
{
    return g_get_monotonic_time();
}

static void log_line(attempt_t *a, const char *who, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void log_line(attempt_t *a, const char *who, const char *fmt, ...)
{
    if (!a->log)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(a->log, "%9.3f %-8s ", (double)(now_us() - a->t0) / USEC_PER_SEC, who);
    vfprintf(a->log, fmt, ap);
    fputc('\n', a->log);
    va_end(ap);
}

static void child_init(child_t *c, const char *role)
{
    *c = (child_t){ .role = role, .pid = -1, .pidfd = -1, .fd = { -1, -1 } };
    c->buf[0] = g_string_new(NULL);
    c->buf[1] = g_string_new(NULL);
}

static void child_close(child_t *c)
{
    for (int i = 0; i < 2; i++) {
        if (c->fd[i] >= 0)
            close(c->fd[i]);
        c->fd[i] = -1;
        g_string_free(c->buf[i], TRUE);
        c->buf[i] = NULL;
    }
    if (c->pidfd >= 0)
        close(c->pidfd);
    c->pidfd = -1;
}

static bool child_running(const child_t *c)
{
    return c->pid > 0 && !c->exited;
}

static bool child_output_open(const child_t *c)
{
    return c->fd[0] >= 0 || c->fd[1] >= 0;
}

static char **agent_env(const attempt_t *a, const char *host, const char *role, unsigned attempt)
{
    char **env = g_get_environ();
    env = g_environ_setenv(env, "NATLAB_SCENARIO", a->env->spec->scenario->name, TRUE);
    env = g_environ_setenv(env, "NATLAB_HOST", host, TRUE);
    env = g_environ_setenv(env, "NATLAB_ROLE", role, TRUE);
    g_autofree char *n = g_strdup_printf("%u", attempt);
    return g_environ_setenv(env, "NATLAB_ATTEMPT", n, TRUE);
}

/* argv[0] names the program as the log shows it; `path` is what runs. */
static bool child_start(attempt_t *a, child_t *c, int host, const char *path, char **argv,
                        char **envp, const char *cwd, char **error)
{
    const plan_host_t *h = plan_host(a->env->plan, (unsigned)host);
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) < 0) {
        *error = g_strdup_printf("pipe: %s", g_strerror(errno));
        return false;
    }
    if (pipe2(err, O_CLOEXEC) < 0) {
        *error = g_strdup_printf("pipe: %s", g_strerror(errno));
        close(out[0]);
        close(out[1]);
        return false;
    }
    netns_spawn_t spec = {
        .ns = h->ns,
        .argv = argv,
        .envp = envp,
        .path = path,
        .cwd = cwd,
        .stdin_fd = -1,
        .stdout_fd = out[1],
        .stderr_fd = err[1],
        .new_session = true,
    };
    g_autofree char *cmdline = g_strjoinv(" ", argv);
    log_line(a, c->role, "$ %s (on %s)", cmdline, h->name);
    pid_t pid = netns_spawn(&spec);
    close(out[1]);
    close(err[1]);
    c->fd[0] = out[0];
    c->fd[1] = err[0];
    if (pid < 0) {
        *error = g_strdup_printf("cannot start the %sing %s %s on %s: %s", c->role,
                                 a->kind ? "peer" : "agent", path, h->name, g_strerror((int)-pid));
        return false;
    }
    c->pid = pid;
    c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    return true;
}

static bool agent_start(attempt_t *a, child_t *c, int host, char **argv, unsigned attempt,
                        char **error)
{
    const plan_host_t *h = plan_host(a->env->plan, (unsigned)host);
    g_auto(GStrv) env = agent_env(a, h->name, c->role, attempt);
    GPtrArray *full = g_ptr_array_new();
    g_ptr_array_add(full, (gpointer) "natlab");
    for (int i = 0; argv[i]; i++)
        g_ptr_array_add(full, argv[i]);
    g_ptr_array_add(full, NULL);
    bool ok = child_start(a, c, host, a->env->agent_exe, (char **)full->pdata, env, NULL, error);
    g_ptr_array_free(full, TRUE);
    return ok;
}

static void child_reap(child_t *c, bool block)
{
    if (!child_running(c))
        return;
    int status;
    pid_t r;
    do
        r = waitpid(c->pid, &status, block ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == c->pid) {
        c->exited = true;
        c->status = status;
    }
}

static void child_kill(child_t *c, int sig)
{
    if (child_running(c))
        kill(-c->pid, sig); /* its session's group: whatever it started too */
}

static void on_line(attempt_t *a, child_t *c, int stream, const char *line)
{
    log_line(a, c->role, "%s%s", stream ? "! " : "", line);
    if (stream != 0)
        return;
    if (a->kind) {
        if (c == &a->connector)
            run_result_feed_kind(a->result, &a->events, line);
    } else if (c == &a->listener) {
        if (!a->registered && run_result_listener_registered(line))
            a->registered = true;
    } else {
        run_result_feed(a->result, &a->events, line);
    }
}

static void child_read(attempt_t *a, child_t *c, int stream)
{
    char buf[4096];
    ssize_t n = read(c->fd[stream], buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        if (c->buf[stream]->len)
            on_line(a, c, stream, c->buf[stream]->str);
        g_string_truncate(c->buf[stream], 0);
        close(c->fd[stream]);
        c->fd[stream] = -1;
        return;
    }
    g_string_append_len(c->buf[stream], buf, n);
    char *nl;
    while ((nl = memchr(c->buf[stream]->str, '\n', c->buf[stream]->len))) {
        *nl = '\0';
        on_line(a, c, stream, c->buf[stream]->str);
        g_string_erase(c->buf[stream], 0, nl - c->buf[stream]->str + 1);
    }
}

/* Waits for output or exits until `until` (or a signal); handles them. */
static void pump(attempt_t *a, usec_t until)
{
    struct pollfd fds[6];
    child_t *owner[6];
    int what[6]; /* 0, 1: stream; 2: pidfd */
    nfds_t n = 0;
    child_t *kids[2] = { &a->listener, &a->connector };
    for (int k = 0; k < 2; k++) {
        for (int s = 0; s < 2; s++)
            if (kids[k]->fd[s] >= 0) {
                fds[n] = (struct pollfd){ .fd = kids[k]->fd[s], .events = POLLIN };
                owner[n] = kids[k];
                what[n++] = s;
            }
        if (child_running(kids[k]) && kids[k]->pidfd >= 0) {
            fds[n] = (struct pollfd){ .fd = kids[k]->pidfd, .events = POLLIN };
            owner[n] = kids[k];
            what[n++] = 2;
        }
    }
    usec_t left = until - now_us();
    int timeout = left <= 0 ? 0 : (int)MIN(left / USEC_PER_MSEC + 1, 1000);
    int r = poll(fds, n, timeout);
    if (r <= 0)
        return;
    for (nfds_t i = 0; i < n; i++) {
        if (!fds[i].revents)
            continue;
        if (what[i] == 2)
            child_reap(owner[i], false);
        else if (owner[i]->fd[what[i]] == fds[i].fd)
            child_read(a, owner[i], what[i]);
    }
}

/* Stops a child: SIGTERM to its group, SIGKILL after a grace; reaps it and
 * reads what it still printed. */
static void child_stop(attempt_t *a, child_t *c, int first_signal)
{
    if (child_running(c)) {
        child_kill(c, first_signal);
        usec_t until = now_us() + (first_signal == SIGKILL ? STOP_GRACE * 5 : STOP_GRACE);
        while (child_running(c) && now_us() < until)
            pump(a, until);
        if (child_running(c)) {
            child_kill(c, SIGKILL);
            child_reap(c, true);
        }
    }
    usec_t until = now_us() + 200 * USEC_PER_MSEC;
    while (child_output_open(c) && now_us() < until)
        pump(a, until);
}

bool run_control(const char *path, const char *line, char **reply, GError **error)
{
    *reply = NULL;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (fd < 0 || strlen(path) >= sizeof sa.sun_path) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "control socket %s: %s", path,
                    fd < 0 ? g_strerror(errno) : "path too long");
        if (fd >= 0)
            close(fd);
        return false;
    }
    strcpy(sa.sun_path, path);
    g_autofree char *text = g_strdup_printf("%s\n", line);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "control socket %s: %s", path,
                    g_strerror(errno));
        close(fd);
        return false;
    }
    GString *got = g_string_new(NULL);
    usec_t until = now_us() + CONTROL_TIMEOUT_MS * USEC_PER_MSEC;
    while (!strchr(got->str, '\n') && now_us() < until) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, CONTROL_TIMEOUT_MS) <= 0)
            continue;
        char buf[512];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        g_string_append_len(got, buf, n);
    }
    close(fd);
    if (!strchr(got->str, '\n')) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "control socket %s: no reply to '%s'",
                    path, line);
        g_string_free(got, TRUE);
        return false;
    }
    *strchr(got->str, '\n') = '\0';
    *reply = g_string_free(got, FALSE);
    return true;
}

/* Fires one event; an error in the reply is the attempt's error. */
static char *fire(attempt_t *a, const run_event_t *e)
{
    const plan_nat_t *nat = plan_nat(a->env->plan, (unsigned)e->nat);
    g_autofree char *path = plan_control_path(a->env->state_dir, nat);
    g_autofree char *reply = NULL;
    g_autoptr(GError) error = NULL;
    bool ok = run_control(path, e->command, &reply, &error);
    log_line(a, "runner", "event %s: nat %s: %s -> %s", e->name, nat->name, e->command,
             ok ? reply : error->message);
    if (!ok)
        return g_strdup_printf("event %s (%s on %s) failed: %s", e->name, e->command, nat->name,
                               error->message);
    if (g_str_has_prefix(reply, "error:"))
        return g_strdup_printf("event %s (%s on %s): the NAT answered %s", e->name, e->command,
                               nat->name, reply);
    return NULL;
}

static char *iso_now(void)
{
    g_autoptr(GDateTime) t = g_date_time_new_now_utc();
    return g_date_time_format(t, "%Y-%m-%dT%H:%M:%SZ");
}

/* ---- another agent kind (docs/agents.md) ---------------------------------- */

static char **kind_env(const attempt_t *a, int host, const char *role, const char *name,
                       const char *peer, unsigned attempt, uint64_t seed, const char *signal_dir,
                       const char *shared_dir)
{
    const run_spec_t *spec = a->env->spec;
    const plan_t *plan = a->env->plan;
    const run_kind_t *k = a->kind;
    const plan_host_t *h = plan_host(plan, (unsigned)host);
    const plan_host_t *srv = plan_host(plan, (unsigned)spec->server);
    char ip[ADDR_IP_STRLEN], sip[ADDR_IP_STRLEN], sip2[ADDR_IP_STRLEN];
    addr_ip_format(h->addrs[0], ip);
    addr_ip_format(srv->addrs[0], sip);
    addr_ip_format(srv->addrs[srv->n_addrs > 1 ? 1 : 0], sip2);
    char **env = run_kind_environ(k);
    struct {
        const char *name;
        char *value;
    } vars[] = {
        { "NATLAB_SCENARIO", g_strdup(spec->scenario->name) },
        { "NATLAB_HOST", g_strdup(h->name) },
        { "NATLAB_ROLE", g_strdup(role) },
        { "NATLAB_ATTEMPT", g_strdup_printf("%u", attempt) },
        { "NATLAB_NAME", g_strdup(name) },
        { "NATLAB_PEER", g_strdup(peer) },
        { "NATLAB_LOCAL_IP", g_strdup(ip) },
        { "NATLAB_SEED", g_strdup_printf("%" G_GUINT64_FORMAT, seed) },
        { "NATLAB_DEADLINE_MS", g_strdup_printf("%" G_GINT64_FORMAT, spec->deadline / USEC_PER_MSEC) },
        { "NATLAB_SEND", g_strdup_printf("%u", spec->send) },
        { "NATLAB_INTERVAL_MS", g_strdup_printf("%" G_GINT64_FORMAT, spec->interval / USEC_PER_MSEC) },
        { "NATLAB_SERVER_IP", g_strdup(sip) },
        { "NATLAB_SERVER_IP2", g_strdup(sip2) },
        { "NATLAB_SIGNAL_DIR", g_strdup(signal_dir) },
        { "NATLAB_SHARED_DIR", g_strdup(shared_dir) },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(vars); i++) {
        env = g_environ_setenv(env, vars[i].name, vars[i].value, TRUE);
        g_free(vars[i].value);
    }
    g_autofree char *stun = g_strdup_printf("%s:%d", sip, RUN_SERVER_PORT);
    if (k->servers & (RUN_KIND_SERVER_NATLAB | RUN_KIND_SERVER_TURN))
        env = g_environ_setenv(env, "NATLAB_STUN", stun, TRUE);
    if (k->servers & RUN_KIND_SERVER_NATLAB)
        env = g_environ_setenv(env, "NATLAB_NATLAB_SERVER", stun, TRUE);
    if (k->servers & RUN_KIND_SERVER_TURN) {
        env = g_environ_setenv(env, "NATLAB_TURN", stun, TRUE);
        env = g_environ_setenv(env, "NATLAB_TURN_USER", RUN_TURN_USER, TRUE);
        env = g_environ_setenv(env, "NATLAB_TURN_PASSWORD", a->env->turn_password, TRUE);
        env = g_environ_setenv(env, "NATLAB_TURN_REALM", RUN_TURN_REALM, TRUE);
    }
    return env;
}

static bool kind_start(attempt_t *a, child_t *c, int host, const char *command, char **env,
                       char **error)
{
    char *argv[] = { "/bin/sh", "-c", (char *)command, NULL };
    return child_start(a, c, host, "/bin/sh", argv, env, a->kind->dir, error);
}

static int pid_cmp(gconstpointer x, gconstpointer y)
{
    pid_t a = *(const pid_t *)x, b = *(const pid_t *)y;
    return (a > b) - (a < b);
}

/* Whatever runs in the namespace now and did not before the attempt: what a
 * peer left behind, a detached daemon included. */
static unsigned sweep(attempt_t *a, const char *ns, GArray *before)
{
    g_autoptr(GArray) now = netns_pids(ns);
    g_autoptr(GArray) left = g_array_new(FALSE, FALSE, sizeof(proc_ref_t));
    for (guint i = 0; i < now->len; i++) {
        pid_t pid = g_array_index(now, pid_t, i);
        /* An empty array has no data pointer to search (UBSan: bsearch of NULL). */
        if (before->len == 0 || !bsearch(&pid, before->data, before->len, sizeof(pid_t), pid_cmp)) {
            proc_ref_t ref = proc_ref_of(pid, false);
            g_array_append_val(left, ref);
        }
    }
    if (left->len == 0)
        return 0;
    log_line(a, "runner", "%u process%s left in %s after the peers: stopping them", left->len,
             left->len == 1 ? "" : "es", ns);
    proc_terminate((proc_ref_t *)(void *)left->data, left->len, STOP_GRACE);
    return left->len;
}

static GArray *pids_sorted(const char *ns)
{
    GArray *pids = netns_pids(ns);
    g_array_sort(pids, pid_cmp);
    return pids;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static result_t *attempt_kind(attempt_t *a, unsigned attempt, uint64_t seed)
{
    const run_attempt_env_t *env = a->env;
    const run_spec_t *spec = env->spec;
    const plan_t *plan = env->plan;
    const char *lhost = plan_host(plan, (unsigned)spec->listen)->id;
    const char *chost = plan_host(plan, (unsigned)spec->connect)->id;
    g_autofree char *lname = g_strdup_printf("%s-%u", lhost, attempt);
    g_autofree char *cname = g_strdup_printf("%s-%u", chost, attempt);
    g_autofree char *signal_dir = g_strdup_printf("%s/signal/attempt-%u", env->state_dir, attempt);
    g_autofree char *shared_dir = g_strdup_printf("%s/shared", env->state_dir);
    const char *lns = plan_host(plan, (unsigned)spec->listen)->ns;
    const char *cns = plan_host(plan, (unsigned)spec->connect)->ns;
    g_autoptr(GArray) lbefore = pids_sorted(lns);
    g_autoptr(GArray) cbefore = pids_sorted(cns);
    usec_t start = now_us(), deadline = start + spec->deadline;
    g_autofree char *runner_error = NULL;
    bool stopped_after_result = false;
    usec_t t_connect = 0, linger_until = 0;
    unsigned next_event = 0;
    g_auto(GStrv) lenv = NULL; /* before any goto: cleaned up on every path */
    g_auto(GStrv) cenv = NULL;
    log_line(a, "runner", "attempt %u, kind %s, seed %" G_GUINT64_FORMAT ", deadline %.1f s",
             attempt, a->kind->name, seed, (double)spec->deadline / USEC_PER_SEC);
    nftw(signal_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (g_mkdir_with_parents(signal_dir, 0755) < 0) {
        runner_error = g_strdup_printf("cannot create %s: %s", signal_dir, g_strerror(errno));
        goto finish;
    }
    lenv = kind_env(a, spec->listen, "listen", lname, cname, attempt,
                                  run_spec_attempt_seed(seed, 1), signal_dir, shared_dir);
    cenv = kind_env(a, spec->connect, "connect", cname, lname, attempt,
                                  run_spec_attempt_seed(seed, 2), signal_dir, shared_dir);
    if (!kind_start(a, &a->listener, spec->listen, a->kind->listen, lenv, &runner_error) ||
        !kind_start(a, &a->connector, spec->connect, a->kind->connect, cenv, &runner_error))
        goto finish;
    t_connect = now_us();
    while ((child_running(&a->connector) || child_output_open(&a->connector)) &&
           !*env->interrupted) {
        usec_t now = now_us();
        while (next_event < spec->events->len &&
               t_connect + run_spec_event(spec, next_event)->at <= now) {
            char *why = fire(a, run_spec_event(spec, next_event++));
            if (why && !runner_error)
                runner_error = why;
            else
                g_free(why);
        }
        if (a->events.reported && !linger_until)
            linger_until = now + RESULT_EXIT_GRACE;
        if (linger_until && now >= linger_until && child_running(&a->connector)) {
            log_line(a, "runner", "the connecting peer is still running %.0f s after its result: "
                                  "stopping it",
                     (double)RESULT_EXIT_GRACE / USEC_PER_SEC);
            stopped_after_result = true;
            child_stop(a, &a->connector, SIGTERM);
            break;
        }
        if (now >= deadline) {
            g_free(runner_error);
            runner_error = g_strdup_printf("deadline %.0f s passed: stopped the peers",
                                           (double)spec->deadline / USEC_PER_SEC);
            child_stop(a, &a->connector, SIGTERM);
            break;
        }
        usec_t until = linger_until ? MIN(deadline, linger_until) : deadline;
        if (next_event < spec->events->len)
            until = MIN(until, t_connect + run_spec_event(spec, next_event)->at);
        pump(a, until);
    }
finish:
    child_stop(a, &a->connector, SIGTERM);
    child_stop(a, &a->listener, SIGTERM);
    sweep(a, cns, cbefore);
    sweep(a, lns, lbefore);
    nftw(signal_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (*env->interrupted) {
        log_line(a, "runner", "interrupted");
        return NULL;
    }
    run_result_finish_kind(a->result, &a->events, a->connector.status, runner_error,
                           stopped_after_result);
    a->result->duration_ms = (double)(now_us() - start) / USEC_PER_MSEC;
    log_line(a, "runner", "outcome %s%s%s", result_outcome_name(a->result->outcome),
             a->result->error ? ": " : "", a->result->error ? a->result->error : "");
    return g_steal_pointer(&a->result);
}

/* [agent] turn: coturn's address on the server host, and its password in a
 * file of the state directory (the agents take --turn-password-file). */
static bool turn_credentials(const run_attempt_env_t *env, char *ip, char **password_file,
                             char **error)
{
    const plan_host_t *srv = plan_host(env->plan, (unsigned)env->spec->server);
    addr_ip_format(srv->addrs[env->spec->turn_address - 1], ip);
    *password_file = g_strdup_printf("%s/turn-password", env->state_dir);
    g_autoptr(GError) e = NULL;
    if (!g_file_set_contents_full(*password_file, env->turn_password, -1,
                                  G_FILE_SET_CONTENTS_CONSISTENT, 0600, &e)) {
        *error = g_strdup_printf("writing the TURN password file: %s", e->message);
        return false;
    }
    return true;
}

/* Every way out: descriptors and the log closed, what was not returned freed. */
static result_t *attempt_end(attempt_t *a, result_t *r)
{
    child_close(&a->listener);
    child_close(&a->connector);
    if (a->log)
        fclose(a->log);
    result_free(a->result);
    run_events_clear(&a->events);
    return r;
}

result_t *run_attempt(const run_attempt_env_t *env, unsigned attempt, uint64_t seed)
{
    const run_spec_t *spec = env->spec;
    const plan_t *plan = env->plan;
    attempt_t a = { .env = env, .t0 = now_us() };
    a.log = fopen(env->log_path, "we");
    if (a.log)
        setvbuf(a.log, NULL, _IOLBF, 0); /* `tail -f` and tests see each line as it comes */
    a.result = result_new();
    a.result->attempt = attempt;
    a.result->seed = seed;
    a.result->started = iso_now();
    child_init(&a.listener, "listen");
    child_init(&a.connector, "connect");
    a.kind = spec->kind;
    if (a.kind) {
        result_t *r = attempt_kind(&a, attempt, seed);
        return attempt_end(&a, r);
    }
    /* Agent names have at most AGENTMSG_NAME_MAX characters: the hosts' short names. */
    const char *lhost = plan_host(plan, (unsigned)spec->listen)->id;
    const char *chost = plan_host(plan, (unsigned)spec->connect)->id;
    g_autofree char *lname = g_strdup_printf("%s-%u", lhost, attempt);
    g_autofree char *cname = g_strdup_printf("%s-%u", chost, attempt);
    usec_t start = now_us(), deadline = start + spec->deadline;
    g_autofree char *runner_error = NULL;
    g_auto(GStrv) cargv = NULL; /* before any goto: cleaned up on every path */
    g_auto(GStrv) largv = NULL;
    g_autofree char *turn_password_file = NULL;
    char turn_ip[ADDR_IP_STRLEN] = "";
    log_line(&a, "runner", "attempt %u, seed %" G_GUINT64_FORMAT ", deadline %.1f s", attempt,
             seed, (double)spec->deadline / USEC_PER_SEC);
    if (spec->turn != RUN_TURN_NONE &&
        !turn_credentials(env, turn_ip, &turn_password_file, &runner_error))
        goto finish;

    largv = run_spec_agent_argv(spec, false, env->server, lname, NULL,
                                run_spec_attempt_seed(seed, 1), turn_ip, turn_password_file);
    if (!agent_start(&a, &a.listener, spec->listen, largv, attempt, &runner_error))
        goto finish;
    /* Readiness, not a sleep: the listener says `registered` once the server has it. */
    while (!a.registered && child_running(&a.listener) && !*env->interrupted && now_us() < deadline)
        pump(&a, deadline);
    if (!a.registered) {
        if (*env->interrupted)
            goto finish;
        child_reap(&a.listener, false);
        runner_error = now_us() >= deadline
                           ? g_strdup_printf("deadline %.0f s passed before the listening agent "
                                             "registered",
                                             (double)spec->deadline / USEC_PER_SEC)
                           : g_strdup_printf("the listening agent exited (status %d) before it "
                                             "registered",
                                             a.listener.exited ? WEXITSTATUS(a.listener.status) : -1);
        goto finish;
    }
    cargv = run_spec_agent_argv(spec, true, env->server, cname, lname,
                                run_spec_attempt_seed(seed, 2), turn_ip, turn_password_file);
    if (!agent_start(&a, &a.connector, spec->connect, cargv, attempt, &runner_error))
        goto finish;
    usec_t t_connect = now_us();
    unsigned next_event = 0;
    while ((child_running(&a.connector) || child_output_open(&a.connector)) && !*env->interrupted) {
        usec_t now = now_us();
        while (next_event < spec->events->len &&
               t_connect + run_spec_event(spec, next_event)->at <= now) {
            char *why = fire(&a, run_spec_event(spec, next_event++));
            if (why && !runner_error)
                runner_error = why;
            else
                g_free(why);
        }
        if (now >= deadline) {
            g_free(runner_error);
            runner_error = g_strdup_printf("deadline %.0f s passed: stopped the agents (last "
                                           "event: %s)",
                                           (double)spec->deadline / USEC_PER_SEC,
                                           a.events.last_event ? a.events.last_event : "none");
            child_stop(&a, &a.connector, SIGKILL);
            break;
        }
        usec_t until = deadline;
        if (next_event < spec->events->len)
            until = MIN(until, t_connect + run_spec_event(spec, next_event)->at);
        pump(&a, until);
    }
finish:
    if (*env->interrupted) {
        child_stop(&a, &a.connector, SIGTERM);
        child_stop(&a, &a.listener, SIGTERM);
        log_line(&a, "runner", "interrupted");
        return attempt_end(&a, NULL);
    }
    /* The listener's session ends with the connector's; give it a moment. */
    usec_t grace = now_us() + LISTENER_GRACE;
    while (child_running(&a.listener) && now_us() < grace && !*env->interrupted)
        pump(&a, grace);
    child_stop(&a, &a.listener, SIGTERM);
    child_stop(&a, &a.connector, SIGKILL);
    run_result_finish(a.result, &a.events, a.connector.status, runner_error);
    a.result->duration_ms = (double)(now_us() - start) / USEC_PER_MSEC;
    log_line(&a, "runner", "outcome %s%s%s", result_outcome_name(a.result->outcome),
             a.result->error ? ": " : "", a.result->error ? a.result->error : "");
    return attempt_end(&a, g_steal_pointer(&a.result));
}
