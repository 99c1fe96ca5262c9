/* nfqueue's counters, reported with the daemon's stats: what natsim counts
 * on its netlink socket, and the kernel's per-queue drops. A packet the
 * kernel drops at the queue never reaches natsim, so no other counter sees
 * it. Pure: nat_nfq.c (the shell) reads /proc and fills these in. */
#pragma once
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct nat_nfqstat {
    uint64_t received, verdicts, sends;
    /* ENOBUFS on the socket: a verdict batch lost. (nat_nfq sets
     * NETLINK_NO_ENOBUFS, so a receive overrun counts as user_dropped.) */
    uint64_t enobufs;
    uint64_t queue_dropped; /* the kernel's: the queue held queue-maxlen packets already */
    uint64_t user_dropped;  /* the kernel's: it could not hand the packet to our socket */
    bool kernel;            /* queue_dropped and user_dropped were read */
} nat_nfqstat_t;

/* Adds the drop counters of queues first..first+count-1 bound by netlink
 * port `portid`, from the text of /proc/net/netfilter/nfnetlink_queue (one
 * line per queue: number, port id, waiting, copy mode, copy range, queue
 * dropped, user dropped, last id, 1) and sets `kernel`. False, with stats
 * untouched, when no line is ours or one of ours is malformed. */
bool nat_nfqstat_parse_proc(nat_nfqstat_t *stats, const char *text, uint16_t first,
                            uint16_t count, uint32_t portid);
/* Every packet nfqueue lost: ENOBUFS and, when read, the kernel's drops. */
uint64_t nat_nfqstat_drops(const nat_nfqstat_t *stats);
/* {"received", "verdicts", "sends", "enobufs", ["queue_dropped",
 * "user_dropped",] "drops"}; the kernel's two only when read. */
JsonNode *nat_nfqstat_json(const nat_nfqstat_t *stats);
