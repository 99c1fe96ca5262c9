#include "nat_rules.h"

#include <string.h>

#include "common/addr.h"

char *nat_rules_text(const char *inside, const char *outside, const uint32_t *ips, unsigned n_ips,
                     uint16_t q, bool remove)
{
    GString *s = g_string_new("*raw\n");
    if (remove) {
        g_string_append(s, "-D PREROUTING -j NATLAB-PRE\n-D OUTPUT -j NATLAB-OUT\n"
                           "-F NATLAB-PRE\n-X NATLAB-PRE\n-F NATLAB-OUT\n-X NATLAB-OUT\nCOMMIT\n"
                           "*mangle\n-D POSTROUTING -j NATLAB-POST\n-F NATLAB-POST\n-X NATLAB-POST\n"
                           "COMMIT\n");
        return g_string_free(s, FALSE);
    }
    g_string_append(s, ":NATLAB-PRE - [0:0]\n:NATLAB-OUT - [0:0]\n"
                       "-I PREROUTING 1 -j NATLAB-PRE\n-I OUTPUT 1 -j NATLAB-OUT\n"
                       "-A NATLAB-PRE -j CT --notrack\n-A NATLAB-OUT -j CT --notrack\n");
    g_string_append_printf(s, "-A NATLAB-PRE -i %s -j NFQUEUE --queue-num %u\n", outside,
                           q + NAT_RULES_QUEUE_INBOUND);
    for (unsigned i = 0; i < n_ips; i++) {
        char ip[ADDR_IP_STRLEN];
        g_string_append_printf(s, "-A NATLAB-PRE -i %s -d %s/32 -j NFQUEUE --queue-num %u\n", inside,
                               addr_ip_format(ips[i], ip), q + NAT_RULES_QUEUE_HAIRPIN);
    }
    g_string_append_printf(s, "COMMIT\n*mangle\n:NATLAB-POST - [0:0]\n-I POSTROUTING 1 -j NATLAB-POST\n"
                              "-A NATLAB-POST -m mark --mark 0x%x -j RETURN\n"
                              "-A NATLAB-POST -o %s -j NFQUEUE --queue-num %u\nCOMMIT\n",
                           NAT_RULES_OWN_MARK, outside, q + NAT_RULES_QUEUE_OUTBOUND);
    return g_string_free(s, FALSE);
}
