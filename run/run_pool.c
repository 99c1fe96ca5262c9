#define _GNU_SOURCE
#include "run_pool.h"


#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netns/plan.h"
#include "netns/topology.h"
#include "run_junit.h"
#include "run_progress.h"
#include "run_simworker.h"
#include "run_worker.h"

typedef enum job_state { JOB_PENDING, JOB_RUNNING, JOB_DONE } job_state_t;

typedef struct job {
    run_spec_t *spec;
    job_state_t state;
    pid_t pid;
    int fd;
    GString *buf;
    char *run_id;
    GPtrArray *results;  /* result_t * */
    GPtrArray *lines;    /* char *: its results.jsonl rows, held back in sim mode */
    char *error;
    GPtrArray *verdicts; /* run_verdict_t * */
    usec_t started;
    double seconds;
} job_t;

typedef struct pool {
    const run_pool_options_t *o;
    job_t *jobs;
    size_t n;
    FILE *results;
    size_t written;      /* sim mode: jobs whose rows are in the file */
    run_progress_t progress;
    usec_t start;
    bool bar_shown;
} pool_t;

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t worker_stop;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void on_worker_signal(int sig)
{
    worker_stop = sig;
}

static usec_t now_us(void)
{
    return g_get_monotonic_time();
}

static void set_handlers(void (*handler)(int))
{
    struct sigaction sa = { .sa_handler = handler };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Lines above the bar: clear it, print, draw it again later. */
static void say(pool_t *p, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void say(pool_t *p, const char *fmt, ...)
{
    if (p->bar_shown)
        fputs("\r\033[K", stdout);
    p->bar_shown = false;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static void draw_bar(pool_t *p)
{
    if (!p->o->tty)
        return;
    p->progress.elapsed_s = (double)(now_us() - p->start) / USEC_PER_SEC;
    g_autofree char *bar = run_progress_bar(&p->progress, 24);
    printf("\r\033[K%s", bar);
    fflush(stdout);
    p->bar_shown = true;
}

static bool start_job(pool_t *p, job_t *j, unsigned index)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        j->error = g_strdup_printf("pipe: %s", g_strerror(errno));
        j->state = JOB_DONE;
        return false;
    }
    j->run_id = g_strdup_printf("r%u-%u", (unsigned)getpid() % 100000, index);
    j->started = now_us();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        set_handlers(on_worker_signal);
        /* The parent's end is our end: stop (and clean up) when it dies. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (stop_signal || getppid() == 1)
            _exit(1);
        run_worker_env_t env = {
            .natlab_exe = p->o->natlab_exe,
            .agent_exe = p->o->agent_exe,
            .nat_exe = p->o->nat_exe,
            .out_dir = p->o->out_dir,
            .run_id = j->run_id,
            .report_fd = fds[1],
            .interrupted = &worker_stop,
        };
        int status = p->o->sim ? run_worker_sim(j->spec, &env) : run_worker(j->spec, &env);
        fflush(NULL);
        _exit(worker_stop ? 128 + worker_stop : status);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        j->error = g_strdup_printf("fork: %s", g_strerror(errno));
        j->state = JOB_DONE;
        return false;
    }
    j->pid = pid;
    j->fd = fds[0];
    j->state = JOB_RUNNING;
    p->progress.running++;
    return true;
}

static void on_row(pool_t *p, job_t *j, JsonNode *row)
{
    g_autoptr(GError) error = NULL;
    /* The reports read what the runner writes; a row they would refuse is
     * the scenario's error now, not a surprise in `natlab report` later. */
    result_t *r =
        result_from_json(row, j->spec->scenario->name, (int)j->results->len + 1, &error);
    if (!r) {
        if (!j->error)
            j->error = g_strdup_printf("a row the reports cannot read: %s", error->message);
        return;
    }
    char *text = result_to_line(r);
    if (p->o->sim) {
        g_ptr_array_add(j->lines, text);
    } else {
        fprintf(p->results, "%s\n", text);
        fflush(p->results);
        g_free(text);
    }
    g_ptr_array_add(j->results, r);
    p->progress.attempts_done++;
    p->progress.direct += r->outcome == RESULT_DIRECT;
    p->progress.relayed += r->outcome == RESULT_RELAYED;
    p->progress.failed += r->outcome == RESULT_FAILED;
    if (!p->o->tty) {
        g_autofree char *line = run_progress_attempt_line(r, j->spec->repeat);
        say(p, "%s\n", line);
    }
}

static void on_message(pool_t *p, job_t *j, const char *line)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    if (!json_parser_load_from_data(parser, line, -1, NULL))
        return;
    JsonNode *root = json_parser_get_root(parser);
    if (!JSON_NODE_HOLDS_OBJECT(root))
        return;
    JsonObject *o = json_node_get_object(root);
    const char *type = json_object_get_string_member_with_default(o, "type", "");
    if (strcmp(type, "row") == 0 && json_object_has_member(o, "row"))
        on_row(p, j, json_object_get_member(o, "row"));
    else if (strcmp(type, "error") == 0 && !j->error)
        j->error = g_strdup(json_object_get_string_member_with_default(o, "message", "?"));
}

static void finish_job(pool_t *p, job_t *j)
{
    int status = 0;
    while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
        ;
    close(j->fd);
    j->fd = -1;
    j->state = JOB_DONE;
    j->seconds = (double)(now_us() - j->started) / USEC_PER_SEC;
    p->progress.running--;
    p->progress.scenarios_done++;
    const char *name = j->spec->scenario->name;
    if (!p->o->sim && (WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
                                               !j->error && WEXITSTATUS(status) < 128))) {
        /* It could not clean up after itself: do it here. */
        g_autofree char *prefix = plan_prefix(name, j->run_id);
        bool was_up;
        topology_down(prefix, NULL, 0, &was_up, NULL);
        if (!j->error)
            j->error = WIFSIGNALED(status)
                           ? g_strdup_printf("the worker was killed by signal %d", WTERMSIG(status))
                           : g_strdup_printf("the worker exited with status %d", WEXITSTATUS(status));
    }
    bool stopped = stop_signal && j->results->len < j->spec->repeat;
    if (!j->error && !stopped)
        j->verdicts = run_expectations_judge(j->spec->expect, (result_t *const *)j->results->pdata,
                                             j->results->len);
    if (j->error) {
        say(p, "ERROR %s: %s\n", name, j->error);
        return;
    }
    if (stopped) {
        say(p, "STOPPED %s after %u of %u attempts\n", name, j->results->len, j->spec->repeat);
        return;
    }
    bool ok = true;
    for (guint v = 0; v < j->verdicts->len; v++)
        ok &= ((run_verdict_t *)g_ptr_array_index(j->verdicts, v))->ok;
    say(p, "%s %s (%u attempts, %.1f s)\n", ok ? "PASS" : "FAIL", name, j->results->len, j->seconds);
    for (guint v = 0; v < j->verdicts->len; v++) {
        const run_verdict_t *vd = g_ptr_array_index(j->verdicts, v);
        if (!vd->ok)
            say(p, "  FAIL %s: %s\n", name, vd->line);
    }
}

/* Sim mode: rows in scenario order whatever order the workers end in, so
 * the same seed gives the same file. `all`: also those of jobs not done. */
static void write_in_order(pool_t *p, bool all)
{
    for (; p->written < p->n && (all || p->jobs[p->written].state == JOB_DONE); p->written++) {
        GPtrArray *lines = p->jobs[p->written].lines;
        for (guint i = 0; i < lines->len; i++)
            fprintf(p->results, "%s\n", (char *)g_ptr_array_index(lines, i));
    }
    fflush(p->results);
}

static void read_job(pool_t *p, job_t *j)
{
    char buf[8192];
    ssize_t n = read(j->fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
        return;
    if (n <= 0) {
        finish_job(p, j);
        if (p->o->sim)
            write_in_order(p, false);
        return;
    }
    g_string_append_len(j->buf, buf, n);
    char *nl;
    while ((nl = memchr(j->buf->str, '\n', j->buf->len))) {
        *nl = '\0';
        on_message(p, j, j->buf->str);
        g_string_erase(j->buf, 0, nl - j->buf->str + 1);
    }
}

static const char *job_verdict(const job_t *j)
{
    if (j->error)
        return "ERROR";
    if (!j->verdicts)
        return j->state == JOB_PENDING ? "NOT RUN" : "STOPPED";
    for (guint v = 0; v < j->verdicts->len; v++)
        if (!((run_verdict_t *)g_ptr_array_index(j->verdicts, v))->ok)
            return "FAIL";
    return "PASS";
}

static void write_junit(pool_t *p, double seconds)
{
    g_autofree run_junit_case_t *cases = g_new0(run_junit_case_t, p->n);
    GPtrArray *summaries = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < p->n; i++) {
        job_t *j = &p->jobs[i];
        unsigned c[3] = { 0 };
        for (guint k = 0; k < j->results->len; k++)
            c[((result_t *)g_ptr_array_index(j->results, k))->outcome]++;
        char *summary = g_strdup_printf("%u attempts: %u direct, %u relayed, %u failed; seed %" G_GUINT64_FORMAT,
                                        j->results->len, c[0], c[1], c[2], j->spec->scenario->seed);
        g_ptr_array_add(summaries, summary);
        cases[i] = (run_junit_case_t){
            .name = j->spec->scenario->name,
            .seconds = j->seconds,
            .error = j->error ? j->error : !j->verdicts ? "not run: interrupted" : NULL,
            .verdicts = j->verdicts,
            .summary = summary,
        };
    }
    g_autofree char *xml = run_junit_text(p->o->suite, cases, p->n, seconds);
    g_autoptr(GError) error = NULL;
    if (!g_file_set_contents(p->o->junit, xml, -1, &error))
        fprintf(stderr, "natlab %s: %s\n", p->o->suite, error->message);
    g_ptr_array_free(summaries, TRUE);
}

int run_pool(GPtrArray *specs, const run_pool_options_t *o)
{
    pool_t p = { .o = o, .n = specs->len, .start = now_us() };
    if (g_mkdir_with_parents(o->out_dir, 0755) < 0) {
        fprintf(stderr, "natlab %s: cannot create %s: %s\n", o->suite, o->out_dir, g_strerror(errno));
        return 1;
    }
    g_autofree char *results_path = g_build_filename(o->out_dir, "results.jsonl", NULL);
    p.results = fopen(results_path, "we");
    if (!p.results) {
        fprintf(stderr, "natlab %s: cannot write %s: %s\n", o->suite, results_path, g_strerror(errno));
        return 1;
    }
    p.jobs = g_new0(job_t, p.n);
    for (size_t i = 0; i < p.n; i++) {
        p.jobs[i] = (job_t){ .spec = g_ptr_array_index(specs, i), .fd = -1, .buf = g_string_new(NULL),
                             .results = g_ptr_array_new_with_free_func((GDestroyNotify)result_free),
                             .lines = g_ptr_array_new_with_free_func(g_free) };
        p.progress.attempts_total += p.jobs[i].spec->repeat;
    }
    p.progress.scenarios_total = (unsigned)p.n;
    say(&p, "natlab %s: %zu scenario%s, %u attempts, %u at a time%s; results in %s\n", o->suite, p.n,
        p.n == 1 ? "" : "s", p.progress.attempts_total, o->jobs,
        o->sim ? ", in memory on a virtual clock (--sim)" : "", results_path);
    stop_signal = 0;
    set_handlers(on_signal);
    size_t next = 0;
    bool told_workers = false;
    for (;;) {
        while (!stop_signal && next < p.n && p.progress.running < o->jobs) {
            job_t *j = &p.jobs[next++];
            if (!o->tty)
                say(&p, "%s: seed %" G_GUINT64_FORMAT "\n", j->spec->scenario->name,
                    j->spec->scenario->seed);
            start_job(&p, j, (unsigned)next);
        }
        if (stop_signal && !told_workers) {
            for (size_t i = 0; i < p.n; i++)
                if (p.jobs[i].state == JOB_RUNNING)
                    kill(p.jobs[i].pid, SIGTERM);
            told_workers = true;
        }
        if (p.progress.running == 0 && (stop_signal || next == p.n))
            break;
        draw_bar(&p);
        g_autofree struct pollfd *fds = g_new0(struct pollfd, p.n);
        g_autofree job_t **who = g_new0(job_t *, p.n);
        nfds_t nf = 0;
        for (size_t i = 0; i < p.n; i++)
            if (p.jobs[i].state == JOB_RUNNING) {
                fds[nf] = (struct pollfd){ .fd = p.jobs[i].fd, .events = POLLIN };
                who[nf++] = &p.jobs[i];
            }
        if (poll(fds, nf, o->tty ? 250 : 1000) <= 0)
            continue;
        for (nfds_t i = 0; i < nf; i++)
            if (fds[i].revents)
                read_job(&p, who[i]);
    }
    if (o->sim)
        write_in_order(&p, true);
    fclose(p.results);
    double seconds = (double)(now_us() - p.start) / USEC_PER_SEC;
    g_autofree run_summary_row_t *rows = g_new0(run_summary_row_t, p.n);
    bool all_ok = true;
    for (size_t i = 0; i < p.n; i++) {
        job_t *j = &p.jobs[i];
        rows[i] = (run_summary_row_t){
            .scenario = j->spec->scenario->name,
            .expected = run_expect_outcome_name(j->spec->expect->outcome),
            .results = (result_t *const *)j->results->pdata,
            .n = j->results->len,
            .verdict = job_verdict(j),
        };
        all_ok &= strcmp(rows[i].verdict, "PASS") == 0;
    }
    g_autofree char *table = run_progress_summary(rows, p.n);
    g_autofree char *clock = run_progress_clock(seconds);
    say(&p, "\n%s\n%u attempts in %s (%.1f s, %.1f attempts/min): %u direct, %u relayed, %u failed\n",
        table, p.progress.attempts_done, clock, seconds,
        seconds > 0 ? p.progress.attempts_done * 60.0 / seconds : 0.0, p.progress.direct,
        p.progress.relayed, p.progress.failed);
    if (o->junit)
        write_junit(&p, seconds);
    int status = stop_signal ? 128 + stop_signal : all_ok ? 0 : 1;
    if (stop_signal)
        say(&p, "natlab %s: interrupted by %s; every topology removed\n", o->suite, strsignal(stop_signal));
    for (size_t i = 0; i < p.n; i++) {
        job_t *j = &p.jobs[i];
        g_string_free(j->buf, TRUE);
        g_free(j->run_id);
        g_ptr_array_free(j->results, TRUE);
        g_ptr_array_free(j->lines, TRUE);
        g_free(j->error);
        if (j->verdicts)
            g_ptr_array_free(j->verdicts, TRUE);
    }
    g_free(p.jobs);
    return status;
}
