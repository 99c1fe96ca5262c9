/* The pcap tap (shell): what crossed the inside and the outside interface,
 * before and after translation, as two LINKTYPE_RAW (IPv4) pcap files that
 * tshark and Wireshark open. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nat_pcap nat_pcap_t;

typedef enum nat_pcap_side { NAT_PCAP_INSIDE, NAT_PCAP_OUTSIDE } nat_pcap_side_t;

/* Creates DIR (if needed) with inside.pcap and outside.pcap; NULL + -errno. */
nat_pcap_t *nat_pcap_open(const char *dir, int *err);
void nat_pcap_close(nat_pcap_t *pcap);
/* Records one packet with the wall-clock time (pcap timestamps are UTC). */
void nat_pcap_write(nat_pcap_t *pcap, nat_pcap_side_t side, const uint8_t *data, size_t len);
void nat_pcap_flush(nat_pcap_t *pcap);
