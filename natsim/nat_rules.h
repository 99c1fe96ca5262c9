/* The iptables rules that hand packets to NFQUEUE (kernel-notes.md):
 *   raw PREROUTING   CT --notrack for everything (conntrack stays out),
 *                    -i OUTSIDE          -> queue Q     (inbound)
 *                    -i INSIDE -d PUBLIC -> queue Q+2   (hairpin)
 *   raw OUTPUT       CT --notrack
 *   mangle POSTROUTING -o OUTSIDE        -> queue Q+1   (outbound, after routing,
 *                    so rewriting the source to our own address is no martian),
 *                    except what natsim sends itself (marked NAT_RULES_OWN_MARK:
 *                    resets and ICMP errors from our public address)
 * All in chains of our own (NATLAB-*), so removal takes exactly what we added.
 * No --queue-bypass: without natsim listening, packets are dropped, never leaked. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define NAT_RULES_QUEUE_INBOUND 0
#define NAT_RULES_QUEUE_OUTBOUND 1
#define NAT_RULES_QUEUE_HAIRPIN 2
#define NAT_RULES_QUEUE_COUNT 3
#define NAT_RULES_OWN_MARK 0x4e41 /* "NA": SO_MARK of natsim's own raw socket */

/* The iptables-restore text that adds (or removes) the rules. */
char *nat_rules_text(const char *inside, const char *outside, const uint32_t *public_ips,
                     unsigned n_public_ips, uint16_t first_queue, bool remove);
