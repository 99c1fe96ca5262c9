/* natlab-nice: one peer of the libnice agent kind (kinds/libnice.kind).
 *
 * A NiceAgent (RFC 5245 compatibility, UDP only) gathers host, server
 * reflexive (NATLAB_STUN) and relayed (NATLAB_TURN) candidates, writes its
 * SDP to $NATLAB_SIGNAL_DIR/ROLE.sdp, reads the peer's when it appears
 * (inotify) and runs ICE checks; the connect role is the controlling
 * agent. From the first selected pair on, the connecting peer sends
 * NATLAB_SEND messages and the listener echoes each back; once all came back
 * and the component is READY, the connecting peer prints the one result line
 * of docs/agents.md: direct or relayed as libnice's selected candidate pair
 * says. Everything else goes to stderr. */
#define G_LOG_DOMAIN "natlab-nice"

#include <errno.h>
#include <glib-unix.h>
#include <gio/gio.h>
#include <nice/agent.h>
#include <nice/nice-version.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define NICE_PEER_COMPONENT 1
#define NICE_PEER_STREAM_NAME "application"
/* A message whose echo has not come back after this long is sent again:
 * datagrams sent while the peer's side of the pair is not yet selected are
 * lost, and ICE gives no delivery guarantee. */
#define NICE_PEER_RESEND_MS 500
/* The connecting peer reports this long before the runner's deadline. */
#define NICE_PEER_REPORT_MARGIN_MS 1500
#define NICE_PEER_CLOSE_MS 500
#define NICE_PEER_MSG_PREFIX "natlab "
#define NICE_PEER_BYE "natlab bye"

typedef struct {
    GMainLoop *loop;
    NiceAgent *agent;
    guint stream;
    gboolean connect; /* the connect role, ICE's controlling agent */
    gboolean regular; /* regular nomination (else aggressive) */
    const char *role;
    gint64 start_us;
    char *local_path;  /* our SDP */
    char *remote_path; /* the peer's */
    int inotify;   /* on NATLAB_SIGNAL_DIR, -1 when closed */
    guint inotify_source;
    gboolean gathered, remote_parsed, reported;
    NiceComponentState state;
    guint send_total, interval_ms, deadline_ms;
    guint sent, delivered;
    gint64 *sent_at; /* per message: last sent, 0 once echoed */
    double ttfb_ms, ttd_ms; /* < 0: never */
    guint send_timer, deadline_timer;
    int status;
} NicePeer;

static double nice_peer_ms(const NicePeer *p)
{
    return (double)(g_get_monotonic_time() - p->start_us) / 1000.0;
}

static void G_GNUC_PRINTF(2, 3) nice_peer_log(const NicePeer *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "natlab-nice %s +%.1fms: %s\n", p->role, nice_peer_ms(p), msg);
}

static const char *nice_peer_cand_str(const NiceCandidate *c, char *buf, size_t size)
{
    char ip[NICE_ADDRESS_STRING_LEN];
    nice_address_to_string(&c->addr, ip);
    snprintf(buf, size, "%s %s:%u", nice_candidate_type_to_string(c->type), ip,
             nice_address_get_port(&c->addr));
    return buf;
}

static void nice_peer_json_string(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            g_string_append_printf(out, "\\%c", ch);
        else if (ch < 0x20)
            g_string_append_printf(out, "\\u%04x", ch);
        else
            g_string_append_c(out, (char)ch);
    }
    g_string_append_c(out, '"');
}

static void nice_peer_json_ms(GString *out, const char *key, double ms)
{
    if (ms < 0)
        g_string_append_printf(out, ",\"%s\":null", key);
    else
        g_string_append_printf(out, ",\"%s\":%.1f", key, ms);
}

/* The one result line (docs/agents.md), then the main loop ends. */
static void nice_peer_report(NicePeer *p, const char *outcome, const char *path,
                             const char *technique, const char *reason)
{
    if (p->reported)
        return;
    p->reported = TRUE;
    g_autoptr(GString) out = g_string_new("{\"outcome\":");
    nice_peer_json_string(out, outcome);
    g_string_append(out, ",\"path\":");
    nice_peer_json_string(out, path);
    g_string_append(out, ",\"technique\":");
    nice_peer_json_string(out, technique);
    nice_peer_json_ms(out, "time_to_first_byte_ms", p->ttfb_ms);
    nice_peer_json_ms(out, "time_to_direct_ms", p->ttd_ms);
    g_string_append_printf(out, ",\"sent\":%u,\"delivered\":%u", p->sent, p->delivered);
    if (reason) {
        g_string_append(out, ",\"reason\":");
        nice_peer_json_string(out, reason);
    }
    g_string_append(out, "}\n");
    fputs(out->str, stdout);
    fflush(stdout);
    g_main_loop_quit(p->loop);
}

/* The selected pair as libnice holds it; FALSE when there is none. */
static gboolean nice_peer_pair(NicePeer *p, NiceCandidate **local, NiceCandidate **remote)
{
    return nice_agent_get_selected_pair(p->agent, p->stream, NICE_PEER_COMPONENT, local,
                                        remote);
}

static gboolean nice_peer_pair_relayed(const NiceCandidate *local, const NiceCandidate *remote)
{
    return local->type == NICE_CANDIDATE_TYPE_RELAYED ||
           remote->type == NICE_CANDIDATE_TYPE_RELAYED;
}

/* Direct or relayed from the selected pair. The technique of a direct path is
 * the type of the remote candidate the pair won on, in libnice's words:
 * srflx (the peer's STUN-learned mapping was reachable: both NATs map
 * endpoint-independently, or a filter let the first checks through), prflx
 * (the peer reached us from a mapping STUN never saw, e.g. a NAT that maps
 * per destination) or host (the peer's own address: same LAN or no NAT). */
static void nice_peer_report_pair(NicePeer *p, const char *reason)
{
    NiceCandidate *local = NULL, *remote = NULL;
    if (!nice_peer_pair(p, &local, &remote)) {
        nice_peer_report(p, "failed", "none", "none", reason ? reason : "no selected pair");
        return;
    }
    if (nice_peer_pair_relayed(local, remote))
        nice_peer_report(p, "relayed", "relay", "none", reason);
    else
        nice_peer_report(p, "direct", "direct", nice_candidate_type_to_string(remote->type),
                         reason);
}

static void nice_peer_send_msg(NicePeer *p, guint i)
{
    char buf[64];
    int len = snprintf(buf, sizeof buf, NICE_PEER_MSG_PREFIX "%u", i);
    if (nice_agent_send(p->agent, p->stream, NICE_PEER_COMPONENT, (guint)len, buf) < 0)
        nice_peer_log(p, "send of message %u failed", i);
    p->sent_at[i] = g_get_monotonic_time();
}

static void nice_peer_finish(NicePeer *p)
{
    /* Best effort: the listener ends on it, else the runner stops it. */
    nice_agent_send(p->agent, p->stream, NICE_PEER_COMPONENT, strlen(NICE_PEER_BYE),
                    NICE_PEER_BYE);
    nice_peer_report_pair(p, NULL);
}

static gboolean nice_peer_send_tick(gpointer data)
{
    NicePeer *p = data;
    gint64 now = g_get_monotonic_time();
    for (guint i = 0; i < p->sent; i++)
        if (p->sent_at[i] && now - p->sent_at[i] >= NICE_PEER_RESEND_MS * 1000)
            nice_peer_send_msg(p, i);
    if (p->sent < p->send_total)
        nice_peer_send_msg(p, p->sent++);
    return G_SOURCE_CONTINUE;
}

static void nice_peer_recv(NiceAgent *agent, guint stream, guint component, guint len,
                           gchar *buf, gpointer data)
{
    NicePeer *p = data;
    g_autofree char *msg = g_strndup(buf, len);
    if (!p->connect) {
        if (strcmp(msg, NICE_PEER_BYE) == 0) {
            nice_peer_log(p, "the connecting peer is done");
            g_main_loop_quit(p->loop);
        } else if (g_str_has_prefix(msg, NICE_PEER_MSG_PREFIX) &&
                   nice_agent_send(agent, stream, component, len, buf) < 0) {
            nice_peer_log(p, "echo failed (no selected pair yet)");
        }
        return;
    }
    guint64 i;
    if (!g_str_has_prefix(msg, NICE_PEER_MSG_PREFIX) ||
        !g_ascii_string_to_unsigned(msg + strlen(NICE_PEER_MSG_PREFIX), 10, 0, G_MAXUINT, &i,
                                    NULL) ||
        i >= p->sent || p->sent_at[i] == 0)
        return; /* unknown or a duplicate echo */
    p->sent_at[i] = 0;
    p->delivered++;
    if (p->ttfb_ms < 0)
        p->ttfb_ms = nice_peer_ms(p);
    if (p->delivered == p->send_total && p->state == NICE_COMPONENT_STATE_READY)
        nice_peer_finish(p);
}

/* Data flows from the first selected pair on, as an application's would;
 * the outcome waits for READY, when libnice has concluded. */
static void nice_peer_start_sending(NicePeer *p)
{
    if (!p->connect || p->send_timer || p->reported)
        return;
    nice_peer_send_tick(p);
    p->send_timer = g_timeout_add(p->interval_ms, nice_peer_send_tick, p);
}

static void nice_peer_note_direct(NicePeer *p)
{
    NiceCandidate *local = NULL, *remote = NULL;
    if (p->ttd_ms < 0 && p->state == NICE_COMPONENT_STATE_READY &&
        nice_peer_pair(p, &local, &remote) && !nice_peer_pair_relayed(local, remote))
        p->ttd_ms = nice_peer_ms(p);
}

static void nice_peer_pair_changed(NiceAgent *agent, guint stream, guint component,
                                   NiceCandidate *local, NiceCandidate *remote, gpointer data)
{
    NicePeer *p = data;
    char l[96], r[96];
    nice_peer_log(p, "selected pair: %s -> %s", nice_peer_cand_str(local, l, sizeof l),
                  nice_peer_cand_str(remote, r, sizeof r));
    nice_peer_note_direct(p);
    nice_peer_start_sending(p);
}

static void nice_peer_state_changed(NiceAgent *agent, guint stream, guint component,
                                    guint state, gpointer data)
{
    NicePeer *p = data;
    p->state = state;
    nice_peer_log(p, "component state %s", nice_component_state_to_string(state));
    if (state == NICE_COMPONENT_STATE_READY) {
        nice_peer_note_direct(p);
        if (p->connect && p->delivered == p->send_total)
            nice_peer_finish(p);
        else
            nice_peer_start_sending(p);
    } else if (state == NICE_COMPONENT_STATE_FAILED && p->connect) {
        GSList *remote = nice_agent_get_remote_candidates(agent, stream, component);
        g_autofree char *reason = g_strdup_printf(
            "ICE failed: no candidate pair succeeded (%u remote candidates)",
            g_slist_length(remote));
        g_slist_free_full(remote, (GDestroyNotify)nice_candidate_free);
        nice_peer_report(p, "failed", "none", "none", reason);
    }
}

static void nice_peer_fail(NicePeer *p, const char *reason)
{
    nice_peer_log(p, "%s", reason);
    if (p->connect) {
        nice_peer_report(p, "failed", "none", "none", reason);
    } else {
        p->status = 1;
        g_main_loop_quit(p->loop);
    }
}

/* The peer's SDP, once both it exists and our own gathering is done. */
static void nice_peer_try_remote(NicePeer *p)
{
    if (!p->gathered || p->remote_parsed)
        return;
    g_autofree char *sdp = NULL;
    g_autoptr(GError) err = NULL;
    if (!g_file_get_contents(p->remote_path, &sdp, NULL, &err)) {
        if (!g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            g_autofree char *reason = g_strdup_printf("%s: %s", p->remote_path, err->message);
            nice_peer_fail(p, reason);
        }
        return;
    }
    p->remote_parsed = TRUE;
    int n = nice_agent_parse_remote_sdp(p->agent, sdp);
    if (n <= 0) {
        g_autofree char *reason = g_strdup_printf(
            "%s: libnice could not parse the peer's SDP (%d candidates)", p->remote_path, n);
        nice_peer_fail(p, reason);
        return;
    }
    nice_peer_log(p, "peer's SDP: %d candidates", n);
}

/* Any event in the signal directory: drain them, then look for the file.
 * Plain inotify rather than GFileMonitor: GLib's inotify backend, busy with
 * our own SDP's write and rename a moment before, held the peer's rename for
 * 100 ms, and that head start let the peer's relayed checks win (README). */
static gboolean nice_peer_dir_changed(gint fd, GIOCondition cond, gpointer data)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (read(fd, buf, sizeof buf) > 0)
        ;
    nice_peer_try_remote(data);
    return G_SOURCE_CONTINUE;
}

static void nice_peer_gathered(NiceAgent *agent, guint stream, gpointer data)
{
    NicePeer *p = data;
    GSList *cands = nice_agent_get_local_candidates(agent, stream, NICE_PEER_COMPONENT);
    for (GSList *c = cands; c; c = c->next) {
        char buf[96];
        nice_peer_log(p, "local candidate %s", nice_peer_cand_str(c->data, buf, sizeof buf));
    }
    g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);

    g_autofree char *sdp = nice_agent_generate_local_sdp(agent);
    g_autoptr(GError) err = NULL;
    /* g_file_set_contents writes a temporary file and renames it. */
    if (!g_file_set_contents(p->local_path, sdp, -1, &err)) {
        nice_peer_fail(p, err->message);
        return;
    }
    p->gathered = TRUE;
    nice_peer_try_remote(p);
}

static gboolean nice_peer_deadline(gpointer data)
{
    NicePeer *p = data;
    p->deadline_timer = 0;
    if (!p->connect) {
        nice_peer_log(p, "deadline");
        g_main_loop_quit(p->loop);
    } else if (p->state == NICE_COMPONENT_STATE_READY) {
        g_autofree char *reason =
            g_strdup_printf("%u of %u messages echoed by the deadline", p->delivered, p->sent);
        nice_peer_report_pair(p, reason);
    } else {
        g_autofree char *reason = g_strdup_printf(
            "no ICE result by the deadline (component %s, %s)",
            nice_component_state_to_string(p->state),
            !p->gathered ? "still gathering"
            : !p->remote_parsed ? "no SDP from the peer"
                                : "checks running");
        nice_peer_report(p, "failed", "none", "none", reason);
    }
    return G_SOURCE_REMOVE;
}

/* TURN allocations are released (Refresh, lifetime 0) before the agent goes;
 * at most NICE_PEER_CLOSE_MS, since the runner allows 2 s after the result. */
static void nice_peer_closed(GObject *agent, GAsyncResult *res, gpointer data)
{
    g_main_loop_quit(data);
}

static gboolean nice_peer_close_timeout(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

static void nice_peer_close(NicePeer *p)
{
    if (!p->agent)
        return;
    nice_agent_close_async(p->agent, nice_peer_closed, p->loop);
    guint t = g_timeout_add(NICE_PEER_CLOSE_MS, nice_peer_close_timeout, p->loop);
    g_main_loop_run(p->loop);
    if (g_main_context_find_source_by_id(NULL, t))
        g_source_remove(t);
}

static gboolean nice_peer_signal(gpointer data)
{
    NicePeer *p = data;
    nice_peer_log(p, "signal: stopping");
    g_main_loop_quit(p->loop);
    return G_SOURCE_CONTINUE;
}

/* ---- the environment ------------------------------------------------------ */

static const char *nice_peer_env(const char *name, gboolean required, GError **err)
{
    const char *v = g_getenv(name);
    if ((v == NULL || *v == '\0') && required) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "%s is not set (docs/agents.md lists what the runner gives each peer)", name);
        return NULL;
    }
    return v && *v ? v : NULL;
}

static gboolean nice_peer_env_uint(const char *name, guint min, guint max, guint def, guint *out,
                                   GError **err)
{
    const char *v = g_getenv(name);
    guint64 n;
    if (v == NULL || *v == '\0') {
        *out = def;
        return TRUE;
    }
    if (!g_ascii_string_to_unsigned(v, 10, min, max, &n, NULL)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "%s = %s: expected a whole number from %u to %u", name, v, min, max);
        return FALSE;
    }
    *out = (guint)n;
    return TRUE;
}

/* IP:PORT, an IPv4 address or a bracketed IPv6 one. */
static gboolean nice_peer_env_endpoint(const char *name, char **ip, guint *port, GError **err)
{
    const char *v = nice_peer_env(name, TRUE, err);
    if (!v)
        return FALSE;
    const char *colon = strrchr(v, ':');
    guint64 n;
    NiceAddress addr;
    g_autofree char *host = colon ? g_strndup(v, (gsize)(colon - v)) : NULL;
    if (host && host[0] == '[' && g_str_has_suffix(host, "]")) {
        char *inner = g_strndup(host + 1, strlen(host) - 2);
        g_free(host);
        host = inner;
    }
    if (!host || !nice_address_set_from_string(&addr, host) ||
        !g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &n, NULL)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "%s = %s: expected IP:PORT (an IP address, a port from 1 to 65535)", name, v);
        return FALSE;
    }
    *ip = g_steal_pointer(&host);
    *port = (guint)n;
    return TRUE;
}

static gboolean nice_peer_setup(NicePeer *p, GError **err)
{
    const char *role = nice_peer_env("NATLAB_ROLE", TRUE, err);
    if (!role)
        return FALSE;
    if (strcmp(role, "listen") != 0 && strcmp(role, "connect") != 0) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "NATLAB_ROLE = %s: expected listen or connect", role);
        return FALSE;
    }
    p->connect = strcmp(role, "connect") == 0;
    p->role = p->connect ? "connect" : "listen";
    const char *dir = nice_peer_env("NATLAB_SIGNAL_DIR", TRUE, err);
    if (!dir)
        return FALSE;
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY,
                    "NATLAB_SIGNAL_DIR = %s: not a directory", dir);
        return FALSE;
    }
    if (!nice_peer_env_uint("NATLAB_SEND", 0, 100000, 10, &p->send_total, err) ||
        !nice_peer_env_uint("NATLAB_INTERVAL_MS", 1, 3600000, 100, &p->interval_ms, err) ||
        !nice_peer_env_uint("NATLAB_DEADLINE_MS", 1, G_MAXINT, 60000, &p->deadline_ms, err))
        return FALSE;
    g_autofree char *stun_ip = NULL, *turn_ip = NULL;
    guint stun_port = 0, turn_port = 0;
    const char *user = NULL, *pass = NULL;
    if (!nice_peer_env_endpoint("NATLAB_STUN", &stun_ip, &stun_port, err))
        return FALSE;
    /* Without NATLAB_TURN (a kind file with servers = natlab): no relay. */
    if (nice_peer_env("NATLAB_TURN", FALSE, NULL) &&
        (!nice_peer_env_endpoint("NATLAB_TURN", &turn_ip, &turn_port, err) ||
         !(user = nice_peer_env("NATLAB_TURN_USER", TRUE, err)) ||
         !(pass = nice_peer_env("NATLAB_TURN_PASSWORD", TRUE, err))))
        return FALSE;

    p->local_path = g_strdup_printf("%s/%s.sdp", dir, p->role);
    p->remote_path = g_strdup_printf("%s/%s.sdp", dir, p->connect ? "listen" : "connect");

    p->agent = nice_agent_new_full(NULL, NICE_COMPATIBILITY_RFC5245,
                                   p->regular ? NICE_AGENT_OPTION_REGULAR_NOMINATION
                                              : NICE_AGENT_OPTION_NONE);
    /* The natsim presets of the default matrix offer no UPnP IGD; ICE-TCP
     * stays off: the matrix predicts UDP traversal. Nomination: libnice's
     * default, aggressive; regular stops at two valid pairs, before the
     * retransmission a punch through a restricted cone needs (README.md). */
    g_object_set(p->agent, "controlling-mode", p->connect, "upnp", FALSE, "ice-tcp", FALSE,
                 NULL);
    /* With TURN, the server reflexive candidate comes from the Allocate
     * response's XOR-MAPPED-ADDRESS (same socket, same server: the same
     * mapping). libnice 0.1.21 also sends its srflx Binding in RFC 3489 form
     * and, with a TURN discovery on the same socket, drops the answer (the
     * TURN discovery's RFC 5389 agent rejects it first), so gathering would
     * wait for that Binding to time out (2 s). Fixed in libnice 0.1.23. */
    if (!turn_ip)
        g_object_set(p->agent, "stun-server", stun_ip, "stun-server-port", stun_port, NULL);
    const char *local_ip = nice_peer_env("NATLAB_LOCAL_IP", FALSE, NULL);
    if (local_ip) {
        NiceAddress addr;
        if (!nice_address_set_from_string(&addr, local_ip)) {
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        "NATLAB_LOCAL_IP = %s: not an IP address", local_ip);
            return FALSE;
        }
        nice_agent_add_local_address(p->agent, &addr);
    }
    g_signal_connect(p->agent, "candidate-gathering-done", G_CALLBACK(nice_peer_gathered), p);
    g_signal_connect(p->agent, "component-state-changed", G_CALLBACK(nice_peer_state_changed),
                     p);
    g_signal_connect(p->agent, "new-selected-pair-full", G_CALLBACK(nice_peer_pair_changed), p);

    p->stream = nice_agent_add_stream(p->agent, 1);
    if (p->stream == 0) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED, "nice_agent_add_stream failed");
        return FALSE;
    }
    nice_agent_set_stream_name(p->agent, p->stream, NICE_PEER_STREAM_NAME);
    if (turn_ip &&
        !nice_agent_set_relay_info(p->agent, p->stream, NICE_PEER_COMPONENT, turn_ip, turn_port,
                                   user, pass, NICE_RELAY_TYPE_TURN_UDP)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "NATLAB_TURN = %s:%u: libnice refused the TURN server", turn_ip, turn_port);
        return FALSE;
    }
    nice_agent_attach_recv(p->agent, p->stream, NICE_PEER_COMPONENT, NULL, nice_peer_recv, p);

    p->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (p->inotify < 0 ||
        inotify_add_watch(p->inotify, dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(errno),
                    "NATLAB_SIGNAL_DIR = %s: inotify: %s", dir, g_strerror(errno));
        return FALSE;
    }
    p->inotify_source = g_unix_fd_add(p->inotify, G_IO_IN, nice_peer_dir_changed, p);

    p->sent_at = g_new0(gint64, p->send_total ? p->send_total : 1);
    guint report_ms = p->deadline_ms;
    if (p->connect)
        report_ms = p->deadline_ms > 2 * NICE_PEER_REPORT_MARGIN_MS
                        ? p->deadline_ms - NICE_PEER_REPORT_MARGIN_MS
                        : p->deadline_ms / 2;
    p->deadline_timer = g_timeout_add(report_ms, nice_peer_deadline, p);

    if (!nice_agent_gather_candidates(p->agent, p->stream)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "nice_agent_gather_candidates failed (no usable local address?)");
        return FALSE;
    }
    return TRUE;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("natlab-nice (libnice %d.%d.%d)\n", NICE_VERSION_MAJOR, NICE_VERSION_MINOR,
               NICE_VERSION_MICRO);
        return 0;
    }
    gboolean regular = FALSE;
    if (argc == 3 && strcmp(argv[1], "--nomination") == 0 &&
        (strcmp(argv[2], "regular") == 0 || strcmp(argv[2], "aggressive") == 0)) {
        regular = strcmp(argv[2], "regular") == 0;
    } else if (argc != 1) {
        fprintf(stderr, "usage: natlab-nice [--version] [--nomination regular|aggressive]\n"
                        "  one peer of the libnice agent kind; everything else comes from the\n"
                        "  NATLAB_* environment of docs/agents.md\n");
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 64;
    }

    NicePeer p = {.regular = regular, .inotify = -1, .start_us = g_get_monotonic_time(), .role = "?", .ttfb_ms = -1, .ttd_ms = -1,
                  .state = NICE_COMPONENT_STATE_DISCONNECTED};
    p.loop = g_main_loop_new(NULL, FALSE);
    guint sigterm = g_unix_signal_add(SIGTERM, nice_peer_signal, &p);
    guint sigint = g_unix_signal_add(SIGINT, nice_peer_signal, &p);
    g_autoptr(GError) err = NULL;
    if (nice_peer_setup(&p, &err)) {
        nice_peer_log(&p, "libnice %d.%d.%d, %s, %s nomination", NICE_VERSION_MAJOR,
                      NICE_VERSION_MINOR, NICE_VERSION_MICRO,
                      p.connect ? "controlling" : "controlled",
                      p.regular ? "regular" : "aggressive");
        g_main_loop_run(p.loop);
    } else {
        fprintf(stderr, "natlab-nice: %s\n", err->message);
        if (p.connect && p.loop) {
            nice_peer_report(&p, "failed", "none", "none", err->message);
        } else {
            p.status = 1;
        }
    }

    g_source_remove(sigterm);
    g_source_remove(sigint);
    if (p.send_timer)
        g_source_remove(p.send_timer);
    if (p.deadline_timer)
        g_source_remove(p.deadline_timer);
    if (p.inotify_source)
        g_source_remove(p.inotify_source);
    if (p.inotify >= 0)
        close(p.inotify);
    nice_peer_close(&p);
    g_clear_object(&p.agent);
    g_main_loop_unref(p.loop);
    g_free(p.sent_at);
    g_free(p.local_path);
    g_free(p.remote_path);
    return p.status;
}
