#define _GNU_SOURCE
#include "topology.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "netns/netns.h"
#include "netns/proc.h"
#include "common/clock.h"

G_DEFINE_QUARK(natlab-topology-error-quark, topology_error)

#define NS_PREFIX "natlab-"
#define LOG_TAIL_LINES 12

struct topology {
    plan_t *plan;
    char *state_dir;
    char *exe;      /* argv[0] of the daemons: the natlab binary's path */
    char *exe_path; /* what is executed: /proc/self/exe unless told otherwise */
    char *run_dir; /* where run commands start: the scenario's directory */
    bool pcap;
    char *pcap_base; /* captures: PCAP_BASE/NAT/ */
    bool daemons;
    GArray *nat_procs;  /* proc_ref_t per NAT; pid 0: none */
    GArray *host_procs; /* proc_ref_t per host */
    int owned_namespaces; /* how many of the plan's namespaces are ours; -1: all */
    unsigned reaped;      /* leftovers of killed runs removed first */
};

/* Every namespace natlab makes: no reverse-path filter (asymmetric paths are
 * the point of a NAT lab), no ICMP redirects (routers sit on shared LANs), no
 * IPv6 (natlab is IPv4; no DAD or router solicitations in captures), and
 * bridged frames kept away from iptables (br_netfilter is built in here and
 * would hand LAN-internal frames to the NAT's rules). */
static const char *const namespace_sysctls[] = {
    "net/ipv4/conf/all/rp_filter=0",
    "net/ipv4/conf/default/rp_filter=0",
    "net/ipv4/conf/all/send_redirects=0",
    "net/ipv4/conf/default/send_redirects=0",
    "?net/ipv6/conf/all/disable_ipv6=1",
    "?net/ipv6/conf/default/disable_ipv6=1",
    "?net/bridge/bridge-nf-call-iptables=0",
    "?net/bridge/bridge-nf-call-ip6tables=0",
    "?net/bridge/bridge-nf-call-arptables=0",
    NULL,
};

/* NATLAB_TIMING=1: how long each step of up and down takes, on stderr. */
static void timing(const char *step, usec_t *since)
{
    static int on = -1;
    if (on < 0)
        on = g_getenv("NATLAB_TIMING") != NULL;
    usec_t now = clock_now_usec();
    if (on && step)
        fprintf(stderr, "natlab: timing: %-12s %6.1f ms\n", step, (double)(now - *since) / 1000.0);
    *since = now;
}

char *topology_state_path(const char *prefix)
{
    return g_build_filename(TOPOLOGY_RUN_DIR, prefix, NULL);
}

static char *state_file(const topology_t *t, const char *name, const char *suffix)
{
    return g_strdup_printf("%s/%s%s", t->state_dir, name, suffix);
}

/* ---- removing state ------------------------------------------------------ */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* Only ever under /run/natlab, only natlab-* and .natlab-* directories. */
static void rm_state_tree(const char *path)
{
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *parent = g_path_get_dirname(path);
    if (strcmp(parent, TOPOLOGY_RUN_DIR) != 0 ||
        !(g_str_has_prefix(base, NS_PREFIX) || g_str_has_prefix(base, "." NS_PREFIX)))
        return;
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* ---- the namespaces a state directory claims ------------------------------ */

static topology_info_t *load_info(const char *dir, GError **error)
{
    g_autofree char *path = g_build_filename(dir, "topology.json", NULL);
    g_autofree char *data = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &data, &len, error))
        return NULL;
    return topology_info_parse(data, len, path, error);
}

static char **claimed_namespaces(const char *dir)
{
    GPtrArray *list = g_ptr_array_new();
    g_autoptr(topology_info_t) info = load_info(dir, NULL);
    for (int i = 0; info && info->namespaces[i]; i++) {
        const char *ns = info->namespaces[i];
        /* Never trust a file to name someone else's namespace. */
        if (g_str_has_prefix(ns, NS_PREFIX) && !strchr(ns, '/'))
            g_ptr_array_add(list, g_strdup(ns));
    }
    g_ptr_array_add(list, NULL);
    return (char **)g_ptr_array_free(list, FALSE);
}

/* ---- stopping processes, deleting namespaces ------------------------------ */

static void add_proc(GArray *procs, proc_ref_t ref)
{
    if (ref.pid <= 0 || ref.pid == getpid())
        return;
    for (guint i = 0; i < procs->len; i++)
        if (g_array_index(procs, proc_ref_t, i).pid == ref.pid)
            return;
    g_array_append_val(procs, ref);
}

static void add_namespace_procs(GArray *procs, char *const *namespaces)
{
    for (int i = 0; namespaces && namespaces[i]; i++) {
        GArray *pids = netns_pids(namespaces[i]);
        for (guint k = 0; k < pids->len; k++)
            add_proc(procs, proc_ref_of(g_array_index(pids, pid_t, k), false));
        g_array_free(pids, TRUE);
    }
}

/* The pid files of a state directory (NAT daemons, run commands). */
static void add_pidfile_procs(GArray *procs, const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        if (!g_str_has_suffix(name, ".pid"))
            continue;
        g_autofree char *path = g_build_filename(dir, name, NULL);
        proc_ref_t ref;
        if (proc_ref_read(path, &ref))
            add_proc(procs, ref);
    }
    if (d)
        g_dir_close(d);
}

static bool delete_namespaces(char *const *namespaces, GError **error)
{
    GPtrArray *ours = g_ptr_array_new();
    for (int i = 0; namespaces && namespaces[i]; i++)
        if (g_str_has_prefix(namespaces[i], NS_PREFIX))
            g_ptr_array_add(ours, namespaces[i]);
    g_ptr_array_add(ours, NULL);
    bool ok = netns_delete((char **)ours->pdata, error);
    g_ptr_array_free(ours, TRUE);
    return ok;
}

/* Processes first (a NAT daemon writes its stats on SIGTERM), then anything
 * else still inside the namespaces, then the namespaces. */
static bool teardown(const char *dir, char *const *namespaces, usec_t grace, GError **error)
{
    usec_t since = 0;
    timing(NULL, &since);
    GArray *procs = g_array_new(FALSE, FALSE, sizeof(proc_ref_t));
    if (dir)
        add_pidfile_procs(procs, dir);
    add_namespace_procs(procs, namespaces);
    timing("find procs", &since);
    proc_terminate((proc_ref_t *)procs->data, procs->len, grace);
    timing("stop procs", &since);
    /* Whatever forked while we waited. */
    g_array_set_size(procs, 0);
    add_namespace_procs(procs, namespaces);
    proc_terminate((proc_ref_t *)procs->data, procs->len, 0);
    g_array_free(procs, TRUE);
    timing("stragglers", &since);
    bool ok = delete_namespaces(namespaces, error);
    timing("delete netns", &since);
    if (dir)
        rm_state_tree(dir);
    timing("state", &since);
    return ok;
}

static bool teardown_dir(const char *dir, usec_t grace, GError **error)
{
    g_auto(GStrv) namespaces = claimed_namespaces(dir);
    return teardown(dir, namespaces, grace, error);
}

/* ---- state ---------------------------------------------------------------- */

topology_state_t topology_state(const char *prefix, pid_t *owner)
{
    g_autofree char *dir = topology_state_path(prefix);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
        return TOPOLOGY_ABSENT;
    g_autofree char *marker = g_build_filename(dir, "up", NULL);
    if (g_file_test(marker, G_FILE_TEST_EXISTS))
        return TOPOLOGY_UP;
    g_autofree char *owner_path = g_build_filename(dir, "owner", NULL);
    proc_ref_t ref;
    if (proc_ref_read(owner_path, &ref) && proc_ref_alive(&ref)) {
        if (owner)
            *owner = ref.pid;
        return TOPOLOGY_STARTING;
    }
    return TOPOLOGY_STALE;
}

topology_info_t *topology_load(const char *prefix, GError **error)
{
    topology_state_t state = topology_state(prefix, NULL);
    if (state != TOPOLOGY_UP) {
        g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_NOT_UP, "%s is not up%s", prefix,
                    state == TOPOLOGY_STARTING ? " (still coming up)" : "");
        return NULL;
    }
    g_autofree char *dir = topology_state_path(prefix);
    return load_info(dir, error);
}

bool topology_down(const char *prefix, char *const *fallback, usec_t grace, bool *was_up,
                   GError **error)
{
    pid_t owner = 0;
    topology_state_t state = topology_state(prefix, &owner);
    *was_up = false;
    if (state == TOPOLOGY_STARTING) {
        g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_EXISTS,
                    "%s is being brought up by pid %d; interrupt it (it removes what it made) "
                    "or wait for it",
                    prefix, (int)owner);
        return false;
    }
    if (state == TOPOLOGY_ABSENT) {
        for (int i = 0; fallback && fallback[i]; i++)
            *was_up |= netns_exists(fallback[i]);
        return !*was_up || teardown(NULL, fallback, grace, error);
    }
    *was_up = true;
    g_autofree char *dir = topology_state_path(prefix);
    return teardown_dir(dir, grace, error);
}

/* Calls fn for every natlab entry of /run/natlab. */
static void for_each_state(void (*fn)(const char *dir, const char *name, void *data), void *data)
{
    GDir *d = g_dir_open(TOPOLOGY_RUN_DIR, 0, NULL);
    if (!d)
        return;
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while ((name = g_dir_read_name(d)))
        if (g_str_has_prefix(name, NS_PREFIX) || g_str_has_prefix(name, "." NS_PREFIX))
            g_ptr_array_add(names, g_strdup(name));
    g_dir_close(d);
    for (guint i = 0; i < names->len; i++) {
        const char *n = g_ptr_array_index(names, i);
        g_autofree char *dir = g_build_filename(TOPOLOGY_RUN_DIR, n, NULL);
        fn(dir, n, data);
    }
    g_ptr_array_free(names, TRUE);
}

typedef struct reap {
    usec_t grace;
    unsigned count;
    GHashTable *claimed;
    bool all;
} reap_t;

static bool owner_alive(const char *dir, proc_ref_t *ref)
{
    g_autofree char *path = g_build_filename(dir, "owner", NULL);
    return proc_ref_read(path, ref) && proc_ref_alive(ref) && ref->pid != getpid();
}

static void reap_one(const char *dir, const char *name, void *data)
{
    reap_t *r = data;
    proc_ref_t owner;
    if (name[0] == '.') {
        /* Being created: it owns no namespace yet. Its name ends in its
         * creator's pid, which counts before the owner file is written:
         * parallel runs (natlab run -j) reap while others create. */
        const char *dot = strrchr(name, '.');
        guint64 creator = 0;
        if (!r->all && dot && g_ascii_string_to_unsigned(dot + 1, 10, 1, G_MAXINT, &creator, NULL) &&
            (pid_t)creator != getpid() && kill((pid_t)creator, 0) == 0)
            return;
        if (owner_alive(dir, &owner)) {
            if (!r->all)
                return;
            proc_terminate(&owner, 1, r->grace);
        }
        rm_state_tree(dir);
        return;
    }
    topology_state_t state = topology_state(name, NULL);
    if (r->all && state == TOPOLOGY_STARTING && owner_alive(dir, &owner)) {
        /* Its owner removes what it made when told to stop. */
        proc_terminate(&owner, 1, r->grace);
        state = TOPOLOGY_STALE;
    }
    if (state == TOPOLOGY_STALE || (r->all && state != TOPOLOGY_ABSENT)) {
        teardown_dir(dir, r->grace, NULL);
        r->count++;
        return;
    }
    g_auto(GStrv) namespaces = claimed_namespaces(dir);
    for (int i = 0; namespaces[i]; i++)
        g_hash_table_add(r->claimed, g_strdup(namespaces[i]));
}

static unsigned reap(usec_t grace, bool all)
{
    /* Namespaces are listed before the state directories: a namespace that
     * exists now had its state directory before, so it cannot be taken for
     * a stray while a concurrent `up` is creating it. */
    g_auto(GStrv) namespaces = netns_list(NS_PREFIX);
    reap_t r = { .grace = grace, .all = all,
                 .claimed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL) };
    for_each_state(reap_one, &r);
    GPtrArray *strays = g_ptr_array_new();
    for (int i = 0; namespaces[i]; i++)
        if (!g_hash_table_contains(r.claimed, namespaces[i]) && netns_exists(namespaces[i]))
            g_ptr_array_add(strays, namespaces[i]);
    g_ptr_array_add(strays, NULL);
    if (strays->len > 1) {
        teardown(NULL, (char **)strays->pdata, grace, NULL);
        r.count += strays->len - 1;
    }
    g_ptr_array_free(strays, TRUE);
    g_hash_table_destroy(r.claimed);
    return r.count;
}

unsigned topology_reap(usec_t grace)
{
    return reap(grace, false);
}

unsigned topology_down_all(usec_t grace)
{
    return reap(grace, true);
}

/* ---- the description -------------------------------------------------------- */

const plan_t *topology_plan(const topology_t *t)
{
    return t->plan;
}

const char *topology_state_dir(const topology_t *t)
{
    return t->state_dir;
}

unsigned topology_reaped(const topology_t *t)
{
    return t->reaped;
}

void topology_free(topology_t *t)
{
    if (!t)
        return;
    plan_free(t->plan);
    g_free(t->state_dir);
    g_free(t->exe);
    g_free(t->exe_path);
    g_free(t->run_dir);
    g_free(t->pcap_base);
    if (t->nat_procs)
        g_array_free(t->nat_procs, TRUE);
    if (t->host_procs)
        g_array_free(t->host_procs, TRUE);
    g_free(t);
}

static void set_path(JsonObject *o, const char *member, char *path)
{
    if (path)
        json_object_set_string_member(o, member, path);
    else
        json_object_set_null_member(o, member);
    g_free(path);
}

static void set_pid(JsonObject *o, const proc_ref_t *ref)
{
    if (ref->pid > 0)
        json_object_set_int_member(o, "pid", ref->pid);
    else
        json_object_set_null_member(o, "pid");
}

JsonNode *topology_to_json(const topology_t *t)
{
    JsonNode *root = plan_to_json(t->plan);
    JsonObject *o = json_node_get_object(root);
    json_object_set_string_member(o, "state_dir", t->state_dir);
    if (t->owned_namespaces >= 0) {
        JsonArray *all = json_object_get_array_member(o, "namespaces");
        while (json_array_get_length(all) > (guint)t->owned_namespaces)
            json_array_remove_element(all, json_array_get_length(all) - 1);
    }
    json_object_set_boolean_member(o, "pcap", t->pcap);
    json_object_set_boolean_member(o, "nat_daemons", t->daemons);
    JsonArray *nats = json_object_get_array_member(o, "nats");
    for (guint i = 0; i < t->plan->nats->len; i++) {
        const char *name = plan_nat(t->plan, i)->name;
        JsonObject *n = json_array_get_object_element(nats, i);
        set_path(n, "profile_file", state_file(t, name, ".profile"));
        set_path(n, "control",
                 t->daemons ? plan_control_path(t->state_dir, plan_nat(t->plan, i)) : NULL);
        set_path(n, "ready_file", t->daemons ? state_file(t, name, ".ready") : NULL);
        set_path(n, "stats", t->daemons ? state_file(t, name, ".stats.json") : NULL);
        set_path(n, "log", t->daemons ? state_file(t, name, ".log") : NULL);
        set_path(n, "pcap_dir",
                 t->daemons && t->pcap ? g_strdup_printf("%s/%s", t->pcap_base, name) : NULL);
        set_pid(n, &g_array_index(t->nat_procs, proc_ref_t, i));
    }
    JsonArray *hosts = json_object_get_array_member(o, "hosts");
    for (guint i = 0; i < t->plan->hosts->len; i++) {
        const plan_host_t *host = plan_host(t->plan, i);
        JsonObject *h = json_array_get_object_element(hosts, i);
        set_path(h, "log", host->run ? state_file(t, host->name, ".log") : NULL);
        set_pid(h, &g_array_index(t->host_procs, proc_ref_t, i));
    }
    return root;
}

topology_info_t *topology_info(const topology_t *t)
{
    g_autoptr(JsonNode) root = topology_to_json(t);
    topology_info_t *info = topology_info_from_json(root, "topology", NULL);
    g_assert(info); /* topology_to_json wrote it */
    return info;
}

static bool write_json(const topology_t *t, const char *dir, GError **error)
{
    g_autoptr(JsonNode) root = topology_to_json(t);
    g_autofree char *text = json_to_string(root, TRUE);
    g_autofree char *path = g_build_filename(dir, "topology.json", NULL);
    g_autofree char *with_newline = g_strconcat(text, "\n", NULL);
    return g_file_set_contents(path, with_newline, -1, error);
}

/* ---- bringing it up ----------------------------------------------------------- */

static bool interrupted(const topology_options_t *o, GError **error)
{
    if (!o->interrupted || !*o->interrupted)
        return false;
    g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_INTERRUPTED, "interrupted");
    return true;
}

/* The state directory appears whole (owner and topology.json inside) by a
 * rename, which also decides atomically who owns PREFIX. */
static bool state_create(topology_t *t, usec_t grace, GError **error)
{
    if (g_mkdir_with_parents(TOPOLOGY_RUN_DIR, 0755) < 0) {
        g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_SETUP, "cannot create %s: %s",
                    TOPOLOGY_RUN_DIR, g_strerror(errno));
        return false;
    }
    g_autofree char *tmp = g_strdup_printf("%s/.%s.%d", TOPOLOGY_RUN_DIR, t->plan->prefix,
                                           (int)getpid());
    rm_state_tree(tmp);
    if (mkdir(tmp, 0755) < 0) {
        g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_SETUP, "cannot create %s: %s", tmp,
                    g_strerror(errno));
        return false;
    }
    proc_ref_t me = proc_ref_of(getpid(), false);
    g_autofree char *owner = g_build_filename(tmp, "owner", NULL);
    bool ok = proc_ref_write(owner, &me, error) && write_json(t, tmp, error);
    for (int attempt = 0; ok; attempt++) {
        if (rename(tmp, t->state_dir) == 0)
            return true;
        if ((errno != EEXIST && errno != ENOTEMPTY) || attempt > 0) {
            g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_FAILED, "cannot create %s: %s",
                        t->state_dir, g_strerror(errno));
            break;
        }
        pid_t by = 0;
        topology_state_t state = topology_state(t->plan->prefix, &by);
        if (state == TOPOLOGY_UP) {
            g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_EXISTS,
                        "%s is already up (state in %s); 'natlab down %s' first",
                        t->plan->prefix, t->state_dir, t->plan->scenario);
            break;
        }
        if (state == TOPOLOGY_STARTING) {
            g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_EXISTS,
                        "%s is being brought up by pid %d", t->plan->prefix, (int)by);
            break;
        }
        teardown_dir(t->state_dir, grace, NULL); /* stale since the reap: gone now */
    }
    rm_state_tree(tmp);
    return false;
}

static bool write_json(const topology_t *t, const char *dir, GError **error);

static bool create_links(topology_t *t, GError **error)
{
    usec_t since = 0;
    timing(NULL, &since);
    g_auto(GStrv) namespaces = plan_namespaces(t->plan);
    guint n = g_strv_length(namespaces);
    char **batches = g_new0(char *, n + 1);
    for (guint i = 0; i < n; i++)
        batches[i] = plan_batch_namespace(t->plan, namespaces[i]);
    g_autofree char *links = plan_batch_links(t->plan);
    netns_build_t build = {
        .namespaces = namespaces,
        .sysctls = namespace_sysctls,
        .links = links,
        .batches = batches,
    };
    int created = 0;
    bool ok = netns_build(&build, &created, error);
    g_strfreev(batches);
    timing("namespaces", &since);
    if (!ok && created >= 0 && (guint)created < n) {
        /* The namespaces after the last one made are not ours: forget them,
         * so the teardown cannot touch a namespace of that name made by another. */
        t->owned_namespaces = created;
        write_json(t, t->state_dir, NULL);
    }
    return ok;
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static char *log_tail(const char *path)
{
    g_autofree char *text = NULL;
    if (!path || !g_file_get_contents(path, &text, NULL, NULL) || !text[0])
        return g_strdup("  (its log is empty)");
    g_strchomp(text);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    guint n = g_strv_length(lines);
    GString *tail = g_string_new(NULL);
    for (guint i = n > LOG_TAIL_LINES ? n - LOG_TAIL_LINES : 0; i < n; i++)
        g_string_append_printf(tail, "%s  | %s", tail->len ? "\n" : "", lines[i]);
    return g_string_free(tail, FALSE);
}

static char *status_text(int status)
{
    if (WIFEXITED(status))
        return g_strdup_printf("exited with status %d", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return g_strdup_printf("was killed by signal %d", WTERMSIG(status));
    return g_strdup("stopped");
}

static bool start_daemon(topology_t *t, unsigned i, GError **error)
{
    const plan_nat_t *nat = plan_nat(t->plan, i);
    g_autofree char *profile = state_file(t, nat->name, ".profile");
    g_autofree char *control = plan_control_path(t->state_dir, nat);
    g_autofree char *ready = state_file(t, nat->name, ".ready");
    g_autofree char *stats = state_file(t, nat->name, ".stats.json");
    g_autofree char *log = state_file(t, nat->name, ".log");
    g_autofree char *pidfile = state_file(t, nat->name, ".pid");
    g_autofree char *pcap = g_strdup_printf("%s/%s", t->pcap_base, nat->name);
    g_autofree char *seed = g_strdup_printf("%" G_GUINT64_FORMAT, nat->seed);

    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    const char *fixed[] = { t->exe, "nat", "--profile", profile, "--inside", "lan", "--outside",
                            "wan" };
    for (size_t k = 0; k < G_N_ELEMENTS(fixed); k++)
        g_ptr_array_add(argv, g_strdup(fixed[k]));
    for (unsigned a = 0; a < nat->n_wan; a++) {
        char buf[16];
        g_ptr_array_add(argv, g_strdup(a < nat->n_wan - nat->n_spare ? "--public-ip" : "--spare-ip"));
        g_ptr_array_add(argv, g_strdup(addr_ip_format(nat->wan[a], buf)));
    }
    const char *more[] = { "--seed", seed, "--control", control };
    for (size_t k = 0; k < G_N_ELEMENTS(more); k++)
        g_ptr_array_add(argv, g_strdup(more[k]));
    if (t->pcap) {
        g_ptr_array_add(argv, g_strdup("--pcap"));
        g_ptr_array_add(argv, g_strdup(pcap));
        if (g_mkdir_with_parents(pcap, 0755) < 0) {
            g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_FAILED, "cannot create %s: %s", pcap,
                        g_strerror(errno));
            g_ptr_array_free(argv, TRUE);
            return false;
        }
    }
    const char *tail[] = { "--ready-file", ready, "--stats-out", stats };
    for (size_t k = 0; k < G_N_ELEMENTS(tail); k++)
        g_ptr_array_add(argv, g_strdup(tail[k]));
    g_ptr_array_add(argv, NULL);

    int logfd = open_log(log);
    netns_spawn_t spec = {
        .ns = nat->ns,
        .argv = (char **)argv->pdata,
        .path = t->exe_path,
        .cwd = t->state_dir,
        .stdin_fd = -1,
        .stdout_fd = logfd,
        .stderr_fd = logfd,
        .new_session = true,
        .own_sysfs = true,
    };
    pid_t pid = logfd < 0 ? -errno : netns_spawn(&spec);
    if (logfd >= 0)
        close(logfd);
    g_ptr_array_free(argv, TRUE);
    if (pid < 0) {
        g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_FAILED,
                    "cannot start the NAT daemon of %s (%s nat): %s", nat->name, t->exe,
                    g_strerror((int)-pid));
        return false;
    }
    proc_ref_t ref = proc_ref_of(pid, true);
    g_array_index(t->nat_procs, proc_ref_t, i) = ref;
    return proc_ref_write(pidfile, &ref, error);
}

static int pidfd_of(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Every daemon writes its ready file once packets flow. Wait for the files
 * (inotify on the state directory) and for early exits (pidfds), up to the
 * deadline: no sleeping on a guess. */
static bool wait_ready(topology_t *t, const topology_options_t *o, GError **error)
{
    guint n = t->plan->nats->len;
    if (n == 0)
        return true;
    usec_t deadline = clock_now_usec() + (o->ready_timeout ? o->ready_timeout : TOPOLOGY_READY_TIMEOUT);
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (in >= 0)
        inotify_add_watch(in, t->state_dir, IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE);
    struct pollfd *pfd = g_new0(struct pollfd, n + 1);
    char **ready = g_new0(char *, n + 1);
    bool *done = g_new0(bool, n);
    for (guint i = 0; i < n; i++) {
        ready[i] = state_file(t, plan_nat(t->plan, i)->name, ".ready");
        pfd[i] = (struct pollfd){ .fd = pidfd_of(g_array_index(t->nat_procs, proc_ref_t, i).pid),
                                  .events = POLLIN };
    }
    pfd[n] = (struct pollfd){ .fd = in, .events = POLLIN };
    bool ok = false;
    for (;;) {
        guint waiting = 0;
        for (guint i = 0; i < n; i++) {
            if (done[i])
                continue;
            if (access(ready[i], F_OK) == 0) {
                done[i] = true;
                if (pfd[i].fd >= 0)
                    close(pfd[i].fd);
                pfd[i].fd = -1;
                continue;
            }
            waiting++;
            if (pfd[i].fd >= 0 && (pfd[i].revents & POLLIN)) {
                const plan_nat_t *nat = plan_nat(t->plan, i);
                int status = 0;
                waitpid(g_array_index(t->nat_procs, proc_ref_t, i).pid, &status, 0);
                g_array_index(t->nat_procs, proc_ref_t, i).pid = 0;
                g_autofree char *log = state_file(t, nat->name, ".log");
                g_autofree char *tail = log_tail(log);
                g_autofree char *how = status_text(status);
                g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_FAILED,
                            "the NAT daemon of %s %s before it was ready; %s:\n%s", nat->name, how,
                            log, tail);
                goto out;
            }
        }
        if (waiting == 0) {
            ok = true;
            break;
        }
        if (interrupted(o, error))
            break;
        usec_t left = deadline - clock_now_usec();
        if (left <= 0) {
            GString *which = g_string_new(NULL);
            g_autofree char *first_log = NULL;
            for (guint i = 0; i < n; i++) {
                if (done[i])
                    continue;
                g_string_append_printf(which, "%s%s", which->len ? ", " : "",
                                       plan_nat(t->plan, i)->name);
                if (!first_log)
                    first_log = state_file(t, plan_nat(t->plan, i)->name, ".log");
            }
            g_autofree char *tail = log_tail(first_log);
            g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_FAILED,
                        "the NAT daemon of %s was not ready within %" G_GINT64_FORMAT
                        " ms; %s:\n%s",
                        which->str,
                        (o->ready_timeout ? o->ready_timeout : TOPOLOGY_READY_TIMEOUT) /
                            USEC_PER_MSEC,
                        first_log, tail);
            g_string_free(which, TRUE);
            break;
        }
        for (guint i = 0; i <= n; i++)
            pfd[i].revents = 0;
        poll(pfd, n + 1, (int)((left + 999) / 1000));
        if (in >= 0 && (pfd[n].revents & POLLIN)) {
            char buf[4096];
            while (read(in, buf, sizeof buf) > 0)
                ;
        }
    }
out:
    for (guint i = 0; i < n; i++)
        if (pfd[i].fd >= 0)
            close(pfd[i].fd);
    if (in >= 0)
        close(in);
    g_free(pfd);
    g_free(done);
    g_strfreev(ready);
    return ok;
}

static bool start_daemons(topology_t *t, const topology_options_t *o, GError **error)
{
    for (guint i = 0; i < t->plan->nats->len; i++) {
        const plan_nat_t *nat = plan_nat(t->plan, i);
        g_autofree char *path = state_file(t, nat->name, ".profile");
        g_autofree char *text = nat_profile_to_keyfile(nat->profile);
        if (!g_file_set_contents(path, text, -1, error))
            return false;
    }
    if (!t->daemons)
        return true;
    for (guint i = 0; i < t->plan->nats->len; i++)
        if (!start_daemon(t, i, error))
            return false;
    return wait_ready(t, o, error);
}

static bool start_runs(topology_t *t, GError **error)
{
    for (guint i = 0; i < t->plan->hosts->len; i++) {
        const plan_host_t *host = plan_host(t->plan, i);
        if (!host->run)
            continue;
        g_auto(GStrv) env = g_get_environ();
        env = g_environ_setenv(env, "NATLAB_SCENARIO", t->plan->scenario, TRUE);
        env = g_environ_setenv(env, "NATLAB_HOST", host->name, TRUE);
        env = g_environ_setenv(env, "NATLAB_NAMESPACE", host->ns, TRUE);
        env = g_environ_setenv(env, "NATLAB_STATE_DIR", t->state_dir, TRUE);
        for (unsigned a = 0; a < host->n_addrs; a++) {
            char var[32], buf[16];
            snprintf(var, sizeof var, "NATLAB_ADDRESS_%u", a + 1);
            env = g_environ_setenv(env, var, addr_ip_format(host->addrs[a], buf), TRUE);
        }
        g_autofree char *log = state_file(t, host->name, ".log");
        g_autofree char *pidfile = state_file(t, host->name, ".pid");
        char *argv[] = { "/bin/sh", "-c", host->run, NULL };
        int logfd = open_log(log);
        netns_spawn_t spec = {
            .ns = host->ns, .argv = argv, .envp = env, .path = "/bin/sh", .cwd = t->run_dir,
            .stdin_fd = -1, .stdout_fd = logfd, .stderr_fd = logfd, .new_session = true,
            .own_sysfs = true,
        };
        pid_t pid = logfd < 0 ? -errno : netns_spawn(&spec);
        if (logfd >= 0)
            close(logfd);
        if (pid < 0) {
            g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_FAILED,
                        "cannot start 'run' of host %s: %s", host->name, g_strerror((int)-pid));
            return false;
        }
        proc_ref_t ref = proc_ref_of(pid, true);
        g_array_index(t->host_procs, proc_ref_t, i) = ref;
        if (!proc_ref_write(pidfile, &ref, error))
            return false;
    }
    return true;
}

static bool build(topology_t *t, const topology_options_t *o, GError **error)
{
    if (interrupted(o, error) || !create_links(t, error))
        return false;
    usec_t since = 0;
    timing(NULL, &since);
    if (interrupted(o, error) || !start_daemons(t, o, error))
        return false;
    timing("daemons", &since);
    if (interrupted(o, error) || !start_runs(t, error))
        return false;
    timing("runs", &since);
    if (interrupted(o, error) || !write_json(t, t->state_dir, error))
        return false;
    g_autofree char *marker = g_build_filename(t->state_dir, "up", NULL);
    return g_file_set_contents(marker, "", 0, error);
}

topology_t *topology_up(const scenario_t *s, const topology_options_t *o, GError **error)
{
    g_autofree char *missing = netns_preflight();
    if (missing) {
        g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_SETUP, "%s", missing);
        return NULL;
    }
    uint64_t seed = s->seed_set ? s->seed
                                : (((uint64_t)g_random_int() << 32) | g_random_int()) >> 1;
    plan_t *plan = plan_new(s, o->run_id, seed, error);
    if (!plan)
        return NULL;
    usec_t grace = o->stop_grace ? o->stop_grace : TOPOLOGY_STOP_GRACE;
    topology_t *t = g_new0(topology_t, 1);
    t->plan = plan;
    t->state_dir = topology_state_path(plan->prefix);
    t->exe = o->nat_exe ? g_strdup(o->nat_exe) : g_file_read_link("/proc/self/exe", NULL);
    t->exe_path = g_strdup(o->nat_exe ? o->nat_exe : "/proc/self/exe");
    t->run_dir = g_canonicalize_filename(plan->dir, NULL);
    char *file = g_canonicalize_filename(plan->file, NULL); /* for whoever reads topology.json */
    g_free(plan->file);
    plan->file = file;
    t->pcap = o->pcap || o->pcap_dir || plan->pcap;
    t->pcap_base = o->pcap_dir ? g_canonicalize_filename(o->pcap_dir, NULL)
                               : g_strdup_printf("%s/pcap", t->state_dir);
    t->daemons = !o->no_nat_daemons;
    t->owned_namespaces = -1;
    t->nat_procs = g_array_new(FALSE, TRUE, sizeof(proc_ref_t));
    g_array_set_size(t->nat_procs, plan->nats->len);
    t->host_procs = g_array_new(FALSE, TRUE, sizeof(proc_ref_t));
    g_array_set_size(t->host_procs, plan->hosts->len);
    if (!t->exe) {
        g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_SETUP,
                    "cannot find the natlab binary (/proc/self/exe)");
        topology_free(t);
        return NULL;
    }

    usec_t since = 0;
    timing(NULL, &since);
    t->reaped = topology_reap(grace);
    timing("reap", &since);
    g_auto(GStrv) namespaces = plan_namespaces(plan);
    for (int i = 0; namespaces[i]; i++) {
        /* Left after the reap: another topology's (names like a-b + c and
         * a + b-c meet). Nothing is made, so nothing of theirs is touched. */
        if (netns_exists(namespaces[i]) && topology_state(plan->prefix, NULL) == TOPOLOGY_ABSENT) {
            g_set_error(error, TOPOLOGY_ERROR, TOPOLOGY_ERROR_EXISTS,
                        "namespace %s exists already and belongs to another topology; rename "
                        "the scenario or the host/NAT",
                        namespaces[i]);
            topology_free(t);
            return NULL;
        }
    }
    if (!state_create(t, grace, error)) {
        topology_free(t);
        return NULL;
    }
    if (!build(t, o, error)) {
        teardown_dir(t->state_dir, grace, NULL);
        topology_free(t);
        return NULL;
    }
    return t;
}
