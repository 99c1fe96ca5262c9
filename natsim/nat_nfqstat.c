#include "nat_nfqstat.h"

#include <glib.h>

enum { COL_QUEUE, COL_PORTID, COL_QUEUE_DROPPED = 5, COL_USER_DROPPED, COL_NEEDED };

/* The first columns of one line of nfnetlink_queue's seq file as numbers;
 * columns after them (two in Linux 6.x) are not needed. */
static bool parse_line(const char *line, uint64_t col[COL_NEEDED])
{
    g_auto(GStrv) fields = g_strsplit_set(line, " \t", -1);
    int n = 0;
    for (int i = 0; fields[i] && n < COL_NEEDED; i++) {
        if (!*fields[i])
            continue;
        char *end;
        gint64 v = g_ascii_strtoll(fields[i], &end, 10);
        if (*end || end == fields[i] || v < 0)
            return false;
        col[n++] = (uint64_t)v;
    }
    return n == COL_NEEDED;
}

bool nat_nfqstat_parse_proc(nat_nfqstat_t *stats, const char *text, uint16_t first,
                            uint16_t count, uint32_t portid)
{
    g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);
    uint64_t queue_dropped = 0, user_dropped = 0;
    bool found = false;
    for (int i = 0; lines[i]; i++) {
        if (!*g_strstrip(lines[i]))
            continue;
        uint64_t col[COL_NEEDED];
        bool parsed = parse_line(lines[i], col);
        if (parsed && (col[COL_QUEUE] < first || col[COL_QUEUE] >= (uint64_t)first + count ||
                       col[COL_PORTID] != portid))
            continue;
        if (!parsed) /* a malformed line might have been ours: trust none of it */
            return false;
        queue_dropped += col[COL_QUEUE_DROPPED];
        user_dropped += col[COL_USER_DROPPED];
        found = true;
    }
    if (!found)
        return false;
    stats->queue_dropped = queue_dropped;
    stats->user_dropped = user_dropped;
    stats->kernel = true;
    return true;
}

uint64_t nat_nfqstat_drops(const nat_nfqstat_t *s)
{
    return s->enobufs + (s->kernel ? s->queue_dropped + s->user_dropped : 0);
}

JsonNode *nat_nfqstat_json(const nat_nfqstat_t *s)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
#define MEMBER(name, value)                \
    json_builder_set_member_name(b, name); \
    json_builder_add_int_value(b, (gint64)(value))
    MEMBER("received", s->received);
    MEMBER("verdicts", s->verdicts);
    MEMBER("sends", s->sends);
    MEMBER("enobufs", s->enobufs);
    if (s->kernel) {
        MEMBER("queue_dropped", s->queue_dropped);
        MEMBER("user_dropped", s->user_dropped);
    }
    MEMBER("drops", nat_nfqstat_drops(s));
#undef MEMBER
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
