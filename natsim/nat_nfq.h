/* NFQUEUE packet I/O (shell): one netlink socket bound to a few queues,
 * packets read in batches, verdicts (with rewritten payloads) collected and
 * sent many per sendmsg through libnetfilter_queue's libmnl-based API. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nat_nfqstat.h"

typedef struct nat_nfq nat_nfq_t;

/* One packet as received. `data` stays valid only during the callback. */
typedef struct nat_nfq_packet {
    uint16_t queue;
    uint32_t id;
    uint8_t *data;
    size_t len;
} nat_nfq_packet_t;

typedef void (*nat_nfq_handler_fn)(const nat_nfq_packet_t *packet, void *ctx);

/* Binds queues first..first+count-1 (queue numbers are per namespace).
 * Never fail-open (kernel-notes: packets would leak untranslated). Returns
 * NULL with -errno in *err. */
nat_nfq_t *nat_nfq_open(uint16_t first, uint16_t count, uint32_t queue_maxlen, int *err);
void nat_nfq_close(nat_nfq_t *nfq);
int nat_nfq_fd(const nat_nfq_t *nfq);

/* Reads what is waiting (up to `budget` packets), calling `handler` for
 * each; returns the number handled, or -errno. Verdicts issued from the
 * handler are batched; nat_nfq_flush sends them (also done here). */
int nat_nfq_receive(nat_nfq_t *nfq, int budget, nat_nfq_handler_fn handler, void *ctx);

/* Queues a verdict; with `payload` the packet is replaced by those bytes. */
int nat_nfq_verdict(nat_nfq_t *nfq, uint16_t queue, uint32_t id, bool accept,
                    const uint8_t *payload, size_t len);
int nat_nfq_flush(nat_nfq_t *nfq);

/* The socket's counters and, when /proc/net/netfilter/nfnetlink_queue (of
 * the caller's network namespace) can be read, the kernel's drops on our
 * queues. */
void nat_nfq_stats(const nat_nfq_t *nfq, nat_nfqstat_t *out);
